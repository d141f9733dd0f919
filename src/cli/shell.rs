//! `wirelab shell`: a real program on the kernel's own TCP, across the emulated link.
//!
//! wirelab creates a network namespace whose only route is a TUN device, relays that device's
//! packets through the same link model the virtual clock uses, and answers them with in-process
//! servers (mahimahi-style): HTTP on port 80 and HTTPS on 443 (`GET /bytes/N` returns N bytes;
//! the certificate is the lab's self-signed one, so use `curl -k`), and DNS for `server.lab`.
//! The command (default: your shell) runs inside the namespace; when it exits, the capture
//! (`shell-N.pcapng`, N the first free number, with the TLS keys of the lab's server) and a summary are written, and the
//! namespace is deleted.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use crate::backend::realtime::{self, netns};
use crate::capture::DEFAULT_EPOCH_UNIX_MICROS;
use crate::host::{Host, DEFAULT_MTU};
use crate::link::{netem, LinkConfig};
use crate::proto::cwnd::TcpConfig;
use crate::proto::dns::{Answer, DnsServer, Role};
use crate::proto::tls::{LabTls, TlsClock};
use crate::rng;
use crate::runner::servers::HttpServer;
use crate::script::InputError;
use crate::sim::app::Application;
use crate::sim::network::Network;
use crate::time::Instant;

use super::Failure;

const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const DNS: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 53);
/// The name the namespace's resolver answers for the server.
pub const SERVER_NAME: &str = "server.lab";

pub const SHELL_HELP: &str = "\
Runs CMD (default: $SHELL) in a fresh network namespace whose only route
crosses the emulated link to wirelab's own servers. Inside, these answer:
  http://server.lab/bytes/N, https://server.lab/bytes/N   N bytes (units
      allowed: 200KB); the certificate is self-signed, so curl -k
  server.lab = 10.0.0.2 (also answers ping); the resolver is 10.0.0.53
Nothing else is reachable. With --serve, server.lab is instead a second
namespace on the kernel's TCP, running the command you give. At exit: the
capture (TLS keys embedded) and the phases of the first connection, read
off the packets. Needs root or CAP_NET_ADMIN (sudo, or setcap
cap_net_admin,cap_sys_admin+ep on the binary).

Examples:
  sudo wirelab shell --link \"delay 20ms\" \\
      -- curl -sk https://server.lab/bytes/100000 -o /dev/null
  # an interactive shell behind the link
  sudo wirelab shell --link \"delay 50ms loss 1%\"
  sudo wirelab shell --link \"delay 25ms\" --serve \"exec iperf3 -s -1\" \\
      --snaplen 96 -- iperf3 -c 10.0.0.2";

#[derive(clap::Args, Debug)]
pub struct ShellArgs {
    /// --rtt, --loss and --link set the path between the namespace and server.lab (default: no
    /// delay, no loss); --link's words come last.
    #[command(flatten)]
    path: super::PathArgs,
    /// Seed for the link's randomness (loss, jitter) and the server's TLS.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = super::parse_seed)]
    seed: u64,
    /// Directory for the capture and key log: shell-N.pcapng and shell-N.keys, N the first
    /// number not taken, so a second run does not overwrite the first.
    #[arg(long, value_name = "DIR", default_value = "captures")]
    out: PathBuf,
    /// Make server.lab (10.0.0.2) the Linux kernel in a second namespace, running CMD there
    /// (e.g. "iperf3 -s"), instead of wirelab's in-process servers. Both ends are then real TCP.
    #[arg(long, value_name = "CMD")]
    serve: Option<String>,
    /// Keep only the first BYTES of each packet in the capture (0: whole packets), for long
    /// high-rate runs (iperf3 at gigabits per second) whose capture would not fit in memory.
    #[arg(long, value_name = "BYTES", default_value_t = 0)]
    snaplen: usize,
    /// The command to run inside the namespace, after `--`.
    #[arg(last = true, value_name = "CMD")]
    command: Vec<String>,
}

/// The in-process servers.
struct Servers {
    http: HttpServer,
    dns: DnsServer,
    dns_host: usize,
    tls: LabTls,
}

impl Application for Servers {
    fn poll(&mut self, now: Instant, net: &mut Network) {
        self.tls.clock().set_unix_micros(DEFAULT_EPOCH_UNIX_MICROS + now.micros());
        self.dns.poll(now, &mut net.hosts[self.dns_host].sockets);
        // A protocol error on one connection ends that connection, not the shell.
        let _ = self.http.poll(now, net, &self.tls);
    }
    fn next_timer(&self, now: Instant) -> Option<Instant> {
        self.http.next_timer().filter(|&t| t > now)
    }
    fn finished(&self) -> bool {
        false
    }
}

/// The path's settings: no delay or loss, then --rtt, --loss and --link's words, in that order.
fn path_config(path: &super::PathArgs) -> Result<LinkConfig, InputError> {
    let mut link = LinkConfig::default();
    if let Some(rtt) = path.rtt {
        link.delay = rtt / 2;
    }
    if let Some(p) = path.loss {
        link.loss = if p > 0.0 { crate::link::LossModel::Bernoulli { p } } else { crate::link::LossModel::None };
    }
    if let Some(words) = &path.link {
        link = netem::apply(link, words).map_err(|e| InputError::new(e.to_string()))?;
    }
    Ok(link)
}

/// `shell-N`, N the first number with no `shell-N.pcapng` in `dir`.
fn free_name(dir: &std::path::Path) -> String {
    (1u32..)
        .map(|n| format!("shell-{n}"))
        .find(|base| !dir.join(format!("{base}.pcapng")).exists())
        .unwrap_or_else(|| "shell".to_string())
}

pub fn run(args: ShellArgs) -> Result<i32, Failure> {
    if let Some(why) = netns::missing_access("shell") {
        return Err(InputError::new(why).into());
    }
    let link = path_config(&args.path)?;
    let link_words = super::super::runner::netem_words(&link);
    super::output::prepare_dir(&args.out)?;
    for name in netns::remove_stale() {
        eprintln!("wirelab: removed namespace {name} left by a run that did not finish");
    }
    realtime::install_signal_handlers();

    let seed = args.seed;
    let mut client = Host::new("client", CLIENT, DEFAULT_MTU, seed, Instant::ZERO);
    client.external = true;
    let hosts = vec![
        client,
        Host::new("server", SERVER, DEFAULT_MTU, seed, Instant::ZERO),
        Host::new("dns", DNS, DEFAULT_MTU, seed, Instant::ZERO),
    ];
    let mut net = Network::new(
        hosts,
        |from, to| {
            let config = if from == 0 || to == 0 { link.clone() } else { LinkConfig::default() };
            (config, Vec::new(), rng::stream(seed, &format!("link:{from}->{to}")))
        },
        0,
    );
    net.label = "shell".into();
    net.tap.annotator = Some(Default::default());
    net.tap.capture = std::mem::take(&mut net.tap.capture).with_snaplen(args.snaplen);
    let tls = LabTls::new(seed, SERVER_NAME, TlsClock::at_unix_micros(DEFAULT_EPOCH_UNIX_MICROS))
        .map_err(Failure::Run)?
        .with_server_alpn(&[b"http/1.1"]);
    let zone = [(SERVER_NAME.to_string(), Answer::one(SERVER, 60))].into_iter().collect();
    let dns = DnsServer::new(&mut net.hosts[2].sockets, Role::Authority { zone }, rng::stream(seed, "dns"));
    let http = HttpServer::new(&mut net, 1, TcpConfig::default(), None);
    let mut servers = Servers { http, dns, dns_host: 2, tls };

    let mut ns = netns::Namespace::create("", CLIENT, DNS).map_err(|e| Failure::Run(e.into()))?;
    let mut peer = match &args.serve {
        Some(cmd) => {
            net.hosts[1].external = true;
            Some(Peer::start(cmd).map_err(|e| Failure::Run(anyhow::anyhow!("--serve {cmd}: {e}")))?)
        }
        None => None,
    };
    let (program, rest) = match args.command.split_first() {
        Some((p, r)) => (p.clone(), r.to_vec()),
        None => (std::env::var("SHELL").unwrap_or_else(|_| "/bin/sh".into()), Vec::new()),
    };
    let mut child = ns.command(&program, &rest).spawn().map_err(|e| Failure::Run(anyhow::anyhow!("{program}: {e}")))?;
    let mut exit = None;
    let mut ports = vec![realtime::Port { host: 0, tun: &mut ns.tun }];
    if let Some(p) = peer.as_mut() {
        ports.push(realtime::Port { host: 1, tun: &mut p.ns.tun });
    }
    let outcome = realtime::run(&mut net, &mut servers, &mut ports, &mut |_, _| {}, |_| match child.try_wait() {
        Ok(Some(status)) => {
            exit = Some(status);
            false
        }
        Ok(None) => true,
        Err(_) => false,
    });
    if exit.is_none() {
        let _ = child.kill();
        exit = child.wait().ok();
    }
    drop(peer); // stops the peer's command, deletes its namespace
    drop(ns); // deletes the namespace and its TUN device
    let end = outcome.map_err(|e| Failure::Run(e.into()))?;

    let keys = servers.tls.key_log();
    net.finish_captures(&keys);
    let pcap = net.tap.capture.to_pcapng(Some(&keys), DEFAULT_EPOCH_UNIX_MICROS);
    let base = free_name(&args.out);
    let capture_path = args.out.join(format!("{base}.pcapng"));
    std::fs::write(&capture_path, &pcap).map_err(|e| Failure::Run(e.into()))?;
    if !keys.is_empty() {
        std::fs::write(args.out.join(format!("{base}.keys")), keys).map_err(|e| Failure::Run(e.into()))?;
    }
    let frames = net.tap.capture.frames();
    eprintln!(
        "wirelab shell: {:.1} s, {frames} packets through the link ({}), {} lost; capture in {}",
        end.millis_f64() / 1000.0,
        link_words,
        net.dropped(),
        capture_path.display()
    );
    let rtt_ms = link.delay.as_secs_f64() * 2000.0;
    let phases = crate::timeline::from_capture::phases(&net.tap.capture, CLIENT, rtt_ms);
    if !phases.is_empty() {
        eprintln!("   the first connection, read off the packets (1 RTT = {rtt_ms} ms):");
        for p in &phases {
            let rtts = p.rtts.map_or("-".to_string(), |r| format!("{r:.2}"));
            eprintln!("   {:<15} {:>9.3} ms {:>6} RTTs   {}", p.id, p.duration_ms().unwrap_or(f64::NAN), rtts, p.label);
        }
    }
    Ok(exit.and_then(|s| s.code()).unwrap_or(1))
}

/// The kernel peer of `--serve`: namespace `wl<pid>-s` at the server's address, running the
/// user's command. Dropping it stops the command (SIGTERM, so it can finish its report, then
/// SIGKILL after 2 s), and then deletes the namespace.
struct Peer {
    // Field order is drop order: the job stops before its namespace goes.
    job: netns::Job,
    ns: netns::Namespace,
}

impl Peer {
    fn start(cmd: &str) -> std::io::Result<Peer> {
        let ns = netns::Namespace::create("s", SERVER, DNS)?;
        // The peer's output goes to stderr, so that CMD's stdout stays CMD's alone.
        let to_stderr = std::os::fd::AsFd::as_fd(&std::io::stderr()).try_clone_to_owned()?;
        let job = netns::Job::start(&ns.name, cmd, to_stderr.into(), std::time::Duration::from_secs(2))?;
        let mut peer = Peer { job, ns };
        // Give the server a moment to listen (up to 3 s): a client that connects first would
        // be refused.
        let started = std::time::Instant::now();
        while started.elapsed() < std::time::Duration::from_secs(3) {
            if let Some(status) = peer.job.try_wait()? {
                return Err(std::io::Error::other(format!("the command exited at once ({status})")));
            }
            let listening = peer.ns.command("ss", &["-Hltnu".to_string()]).output()?;
            if !listening.stdout.is_empty() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        Ok(peer)
    }
}
