//! Throughput benchmark: how many packets per wall-clock second wirelab moves.
//!
//! Three measurements of the same bulk transfer (`TRANSFER` bytes, server -> client, one plain
//! TCP connection, no TLS, smoltcp's own Reno via `Congestion::Stack`, 4 MiB socket buffers from
//! `tcp_socket`):
//!
//! 1. `wirelab_pkts_per_s_capture`: through `Network` + the virtual clock driver (`run`), links
//!    with 1 ms delay and no loss, the capture tap at the client (it records every packet of
//!    the transfer), and the pcapng rendered at the end as `wirelab run` renders it
//!    (`Capture::write_pcapng`, a vectored write per batch of about 256 KiB) into a sink that
//!    counts bytes and, like `io::sink()`, takes a vectored write whole, inside the timed
//!    region: every byte of the file is produced, the kernel's file write is left out (it was
//!    before too).
//! 2. `wirelab_pkts_per_s_nocapture`: the same, without capture. `Network` always records at
//!    its vantage host and has no switch to turn that off, so this run adds a third, idle host
//!    and makes *it* the vantage: no packet goes to or from it, so nothing is summarised,
//!    described or recorded. (The idle host costs a little: it is polled every round and adds
//!    four empty links to scan, so this slightly understates the capture-free speed.)
//! 3. `bare_smoltcp_pkts_per_s`: two smoltcp `Interface`s (Medium::Ip) joined by plain
//!    `VecDeque`s, no wirelab link, capture or driver: one loop that takes one packet in at
//!    each end and sends what results (the same per-packet ACK clocking as `Host::ingress_one`),
//!    moves packets across at the same instant, and jumps to the stacks' next timer when idle.
//!
//! Every run uses the same application code (`Stream::pump` at both ends) and checks that the
//! client received exactly the bytes the server sent, pattern included. Packets are counted as
//! they cross the wire in both directions (for wirelab: the sum of every link's `sent`). Each
//! measurement is repeated `REPEATS` times and the best is printed.
//!
//! Output: `name: value` lines on stdout (plus one `#` header line).

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::sync::OnceLock;
use std::time::{Duration, Instant as WallInstant};

use smoltcp::iface::{Config, Interface, PollIngressSingleResult, PollResult, SocketSet};
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr};

use wirelab::backend::virtual_clock::run;
use wirelab::capture::DEFAULT_EPOCH_UNIX_MICROS;
use wirelab::host::{Host, QueueDevice, DEFAULT_MTU};
use wirelab::link::LinkConfig;
use wirelab::proto::cwnd::{Congestion, TcpConfig};
use wirelab::proto::stream::{tcp_socket, Stream};
use wirelab::rng;
use wirelab::sim::app::Application;
use wirelab::sim::network::Network;
use wirelab::time::Instant;

/// Renders the capture as `wirelab run` does; returns the file's length.
fn write_capture(capture: &wirelab::capture::Capture) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += black_box(buf).len();
            Ok(buf.len())
        }
        // As `io::sink()` does, a vectored write is taken whole (a file takes it a `writev`
        // call per 1,024 pieces).
        fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
            let n = black_box(bufs).iter().map(|b| b.len()).sum();
            self.0 += n;
            Ok(n)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut out = Counter(0);
    capture.write_pcapng(&mut out, None, DEFAULT_EPOCH_UNIX_MICROS).expect("rendering the capture");
    out.0
}

/// Bytes the server sends to the client.
const TRANSFER: usize = 20 * 1024 * 1024;
const REPEATS: usize = 9;
const SEED: u64 = 1;
const PORT: u16 = 80;
const CLIENT_PORT: u16 = 49_152;
const MODEL: TcpConfig =
    TcpConfig { congestion: Congestion::Stack, mss: 1460, delayed_ack: true, buffer: 4 * 1024 * 1024 };
const CLIENT: usize = 0;
const SERVER: usize = 1;

fn addr(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 0, 1 + i as u8)
}

/// The bytes of the transfer (a pattern the client checks as it reads), built once, untimed.
fn payload() -> &'static [u8] {
    static DATA: OnceLock<Vec<u8>> = OnceLock::new();
    DATA.get_or_init(|| (0..TRANSFER).map(|i| (i % 251) as u8).collect())
}

/// Checks and discards what the client has received so far; returns the new offset.
fn check_received(inbox: &mut Vec<u8>, offset: usize) -> usize {
    let next = offset + inbox.len();
    assert!(payload().get(offset..next) == Some(&inbox[..]), "bytes {offset}..{next} of the transfer are wrong");
    inbox.clear();
    next
}

/// The two ends of the transfer: a client socket that connects, a server socket that listens
/// and has the whole transfer queued.
struct Ends {
    client: Stream,
    server: Stream,
    checked: usize,
}

impl Ends {
    fn new(
        client_sockets: &mut SocketSet<'static>,
        server_sockets: &mut SocketSet<'static>,
        iface: &mut Interface,
    ) -> Ends {
        let mut listener = tcp_socket(&MODEL);
        listener.listen(PORT).expect("listen");
        let server = Stream::new(server_sockets.add(listener), &MODEL);
        let mut socket = tcp_socket(&MODEL);
        socket.connect(iface.context(), (IpAddress::Ipv4(addr(SERVER)), PORT), CLIENT_PORT).expect("connect");
        let client = Stream::new(client_sockets.add(socket), &MODEL);
        let mut ends = Ends { client, server, checked: 0 };
        ends.server.write(payload());
        ends
    }

    fn pump(&mut self, client_sockets: &mut SocketSet<'static>, server_sockets: &mut SocketSet<'static>) {
        self.client.pump(client_sockets);
        self.checked = check_received(&mut self.client.inbox, self.checked);
        self.server.pump(server_sockets);
    }

    fn done(&self) -> bool {
        self.client.received as usize >= TRANSFER
    }

    fn verify(&self) {
        assert_eq!(self.client.received as usize, TRANSFER, "client received != bytes sent");
        assert_eq!(self.checked, TRANSFER);
        assert_eq!(self.server.unsent(), 0);
        assert!(self.client.error.is_none() && self.server.error.is_none());
    }
}

/// One measured run.
struct Outcome {
    bytes: usize,
    packets: u64,
    wall: Duration,
}

impl Outcome {
    fn pkts_per_s(&self) -> f64 {
        self.packets as f64 / self.wall.as_secs_f64()
    }
}

// ---- wirelab: Network + virtual clock -------------------------------------------------------

struct Transfer(Ends);

impl Application for Transfer {
    fn poll(&mut self, _now: Instant, net: &mut Network) {
        let (a, b) = net.hosts.split_at_mut(SERVER);
        self.0.pump(&mut a[CLIENT].sockets, &mut b[0].sockets);
    }

    fn next_timer(&self, _now: Instant) -> Option<Instant> {
        None
    }

    fn finished(&self) -> bool {
        self.0.done()
    }
}

fn wirelab_run(capture: bool) -> Outcome {
    let start = WallInstant::now();
    let t0 = Instant::ZERO;
    // With capture: two hosts, the tap at the client. Without: a third, idle host is the
    // vantage (see the module docs).
    let (n, vantage) = if capture { (2, CLIENT) } else { (3, 2) };
    let names = ["client", "server", "idle"];
    let mut hosts: Vec<Host> = (0..n).map(|i| Host::new(names[i], addr(i), DEFAULT_MTU, SEED, t0)).collect();
    let ends = {
        let (a, b) = hosts.split_at_mut(SERVER);
        let client = &mut a[CLIENT];
        Ends::new(&mut client.sockets, &mut b[0].sockets, &mut client.iface)
    };
    let link = LinkConfig { delay: Duration::from_millis(1), ..LinkConfig::default() };
    let mut net = Network::new(
        hosts,
        |from, to| (link.clone(), Vec::new(), rng::stream(SEED, &format!("link:{from}->{to}"))),
        vantage,
    );
    let mut app = Transfer(ends);
    let end = run(&mut net, &mut app, t0, Instant::from_micros(600_000_000)).expect("transfer did not finish");
    let pcap_len = if capture { write_capture(&net.tap.capture) } else { 0 };
    let wall = start.elapsed();

    app.0.verify();
    assert_eq!(net.dropped(), 0, "no loss was configured");
    let packets: u64 = (0..n)
        .flat_map(|f| (0..n).map(move |t| (f, t)))
        .filter_map(|(f, t)| net.link(f, t))
        .map(|l| l.stats().sent)
        .sum();
    if capture {
        assert_eq!(net.tap.capture.frames(), packets, "the tap at the client sees every packet");
        assert!(pcap_len > TRANSFER);
    } else {
        assert_eq!(net.tap.capture.frames(), 0);
    }
    black_box(end);
    Outcome { bytes: app.0.client.received as usize, packets, wall }
}

// ---- bare smoltcp: two interfaces and two queues ---------------------------------------------

struct Bare {
    iface: Interface,
    device: QueueDevice,
    sockets: SocketSet<'static>,
}

impl Bare {
    fn new(i: usize, now: smoltcp::time::Instant) -> Bare {
        let mut device = QueueDevice::new(DEFAULT_MTU);
        let mut config = Config::new(HardwareAddress::Ip);
        config.random_seed = rng::derive(SEED, &format!("bare:{i}"));
        let mut iface = Interface::new(config, &mut device, now);
        iface.update_ip_addrs(|a| {
            let _ = a.push(IpCidr::new(IpAddress::Ipv4(addr(i)), 24));
        });
        Bare { iface, device, sockets: SocketSet::new(Vec::new()) }
    }

    /// Takes in at most one packet, then sends everything there is to send.
    fn step(&mut self, now: smoltcp::time::Instant) -> bool {
        let got =
            self.iface.poll_ingress_single(now, &mut self.device, &mut self.sockets) != PollIngressSingleResult::None;
        self.iface.poll_maintenance(now);
        while self.iface.poll_egress(now, &mut self.device, &mut self.sockets) != PollResult::None {}
        got
    }
}

/// Moves everything `from` sent into `to`'s receive queue; returns how many packets.
fn wire(from: &mut Bare, to: &mut Bare) -> u64 {
    let n = from.device.tx.len() as u64;
    to.device.rx.extend(from.device.tx.drain(..));
    n
}

fn bare_run() -> Outcome {
    let start = WallInstant::now();
    let mut now = smoltcp::time::Instant::from_micros(0);
    let mut client = Bare::new(CLIENT, now);
    let mut server = Bare::new(SERVER, now);
    let mut ends = Ends::new(&mut client.sockets, &mut server.sockets, &mut client.iface);
    let mut packets = 0u64;
    while !ends.done() {
        let mut busy = client.step(now);
        packets += wire(&mut client, &mut server);
        busy |= server.step(now);
        packets += wire(&mut server, &mut client);
        ends.pump(&mut client.sockets, &mut server.sockets);
        // What the applications wrote goes out at once.
        client.step(now);
        server.step(now);
        let moved = wire(&mut client, &mut server) + wire(&mut server, &mut client);
        packets += moved;
        busy |= moved > 0 || !client.device.rx.is_empty() || !server.device.rx.is_empty();
        if !busy {
            let next = [client.iface.poll_at(now, &client.sockets), server.iface.poll_at(now, &server.sockets)]
                .into_iter()
                .flatten()
                .min()
                .expect("bare transfer stalled with nothing pending");
            now = next.max(now + smoltcp::time::Duration::from_micros(1));
        }
    }
    let wall = start.elapsed();
    ends.verify();
    Outcome { bytes: ends.client.received as usize, packets, wall }
}

/// Keeps the faster of two outcomes.
fn keep_best(best: &mut Option<Outcome>, o: Outcome) {
    if best.as_ref().is_none_or(|b| o.wall < b.wall) {
        *best = Some(o);
    }
}

fn main() {
    payload();
    // `cargo bench` passes `--bench`; nothing here takes arguments.
    println!("# wirelab throughput: {TRANSFER} bytes server->client, plain TCP (smoltcp Reno), best of {REPEATS}");
    // The three measurements are interleaved, round by round, so that a change in machine load
    // affects them alike. `THROUGHPUT_ONLY=capture|nocapture|bare` runs just one (for profiling).
    let only = std::env::var("THROUGHPUT_ONLY").ok();
    let wanted = |name: &str| only.as_deref().is_none_or(|o| o == name);
    let (mut capture, mut nocapture, mut bare) = (None, None, None);
    for _ in 0..REPEATS {
        if wanted("capture") {
            keep_best(&mut capture, wirelab_run(true));
        }
        if wanted("nocapture") {
            keep_best(&mut nocapture, wirelab_run(false));
        }
        if wanted("bare") {
            keep_best(&mut bare, bare_run());
        }
    }
    if only.is_some() {
        return;
    }
    let (capture, nocapture, bare) = (capture.unwrap(), nocapture.unwrap(), bare.unwrap());
    for (name, o) in [("capture", &capture), ("nocapture", &nocapture), ("bare", &bare)] {
        println!("transfer_bytes_{name}: {}", o.bytes);
        println!("packets_{name}: {}", o.packets);
        println!("wall_ms_{name}: {:.1}", o.wall.as_secs_f64() * 1000.0);
    }
    println!("wirelab_pkts_per_s_capture: {:.0}", capture.pkts_per_s());
    println!("wirelab_pkts_per_s_nocapture: {:.0}", nocapture.pkts_per_s());
    println!("bare_smoltcp_pkts_per_s: {:.0}", bare.pkts_per_s());
    println!("ratio_capture_vs_bare: {:.3}", capture.pkts_per_s() / bare.pkts_per_s());
    println!("ratio_nocapture_vs_bare: {:.3}", nocapture.pkts_per_s() / bare.pkts_per_s());
}
