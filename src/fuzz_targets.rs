//! Fuzz targets: each is a plain function of `&[u8]` that must not panic on any input, and
//! asserts what can be checked cheaply about the result (a round trip, a re-join, a file that
//! reads back). `fuzz/` holds a cargo-fuzz crate with one thin `fuzz_targets/<name>.rs` per
//! entry of [`TARGETS`]; `tests/fuzz_corpora.rs` replays every file of `fuzz/corpus/<name>/`
//! through the same function on stable, so every input that once crashed stays checked.
//!
//! A new target is one function here, one line in [`TARGETS`], one file in `fuzz/fuzz_targets/`
//! and a seed corpus in `fuzz/corpus/<name>/`.

use std::net::Ipv4Addr;
use std::sync::OnceLock;
use std::time::Duration;

use crate::backend::realtime::offload;
use crate::capture::annotate::Annotator;
use crate::capture::{Capture, Note};
use crate::link::{netem, LossModel};
use crate::packet::{self, Transport};
use crate::script::plan::{self, Overrides, ScenarioPlan};
use crate::script::Lab;
use crate::sim::network::Packet;
use crate::time::Instant;
use crate::units;
use crate::wire::{quic, tls};

mod flow;
pub use flow::{h2_frames, tcp_flow};

/// A target's body.
pub type Target = fn(&[u8]);

/// Every target, by the name of its corpus directory and its cargo-fuzz binary.
pub const TARGETS: &[(&str, Target)] = &[
    ("netem_words", netem_words),
    ("durations_and_sizes", durations_and_sizes),
    ("lab_toml", lab_toml),
    ("offload_segmenter", offload_segmenter),
    ("tls_records", tls_records),
    ("quic_header", quic_header),
    ("ipv4_packet", ipv4_packet),
    ("network", network),
    ("wire_frame", wire_frame),
    ("capture_file", capture_file),
    ("tcp_flow", tcp_flow),
    ("h2_frames", h2_frames),
];

/// Relative closeness of two floats that went through a decimal form and back.
fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1e-12)
}

fn close_duration(a: Duration, b: Duration) -> bool {
    let (a, b) = (a.as_nanos() as f64, b.as_nanos() as f64);
    (a - b).abs() <= 1.0 + 1e-12 * a.max(b)
}

/// tc-netem words (`--link`, `netem = "..."`): [`netem::parse`] and [`netem::apply`] on the
/// input as text. Words that parse give a config that passes [`crate::link::LinkConfig::validate`], and
/// their display form ([`crate::runner::netem_words`], shown in every timeline) parses back to
/// the same link (jitter correlation, which it does not show, aside; floats to 1e-9).
pub fn netem_words(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let Ok(c) = netem::parse(&text) else { return };
    if let Err(e) = c.validate() {
        panic!("{text:?} parsed to an invalid link: {e}");
    }
    let shown = crate::runner::netem_words(&c);
    let back = netem::parse(&shown).unwrap_or_else(|e| panic!("{text:?} shows as {shown:?}, which fails: {e}"));
    let same = close_duration(c.delay, back.delay)
        && close_duration(c.jitter, back.jitter)
        && close(c.duplicate, back.duplicate)
        && close(c.reorder, back.reorder)
        && c.rate_bps == back.rate_bps
        && (c.rate_bps.is_none() || c.limit == back.limit)
        && c.mtu == back.mtu
        && match (&c.loss, &back.loss) {
            (LossModel::None, LossModel::None) => true,
            (LossModel::Bernoulli { p }, LossModel::Bernoulli { p: q }) => close(*p, *q),
            (LossModel::GilbertElliott { p, r, h, k }, LossModel::GilbertElliott { p: p2, r: r2, h: h2, k: k2 }) => {
                close(*p, *p2) && close(*r, *r2) && close(*h, *h2) && close(*k, *k2)
            }
            _ => false,
        };
    assert!(same, "{text:?} shows as {shown:?}, which parses to another link:\n{c:?}\n{back:?}");
    // Refining a config with its own words changes nothing.
    let again = netem::apply(c.clone(), &text).expect("words that parse also apply");
    assert_eq!(again, c, "{text:?} applied twice");
}

/// Durations, percentages, rates and sizes as users type them ([`crate::units`]). A duration
/// that parses prints ([`units::format_duration`]) as text that parses back to exactly it; a
/// percentage is a fraction in 0..=1; a rate is at least 1 bit/s; a size prints as a number that
/// parses back; [`units::format_bytes`] takes any size.
pub fn durations_and_sizes(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(d) = units::parse_duration(&text) {
        let shown = units::format_duration(d);
        assert_eq!(units::parse_duration(&shown), Ok(d), "{text:?} shows as {shown:?}");
    }
    if let Ok(p) = units::parse_percent(&text) {
        assert!((0.0..=1.0).contains(&p), "{text:?} is {p}");
    }
    if let Ok(r) = units::parse_rate(&text) {
        assert!(r >= 1, "{text:?} is {r} bit/s");
    }
    if let Ok(n) = units::parse_size(&text) {
        assert_eq!(units::parse_size(&n.to_string()), Ok(n), "{text:?}");
        let _ = units::format_bytes(n);
    }
}

/// A lab file (TOML) to plans, as `wirelab run` and `wirelab show` load one: [`Lab::parse`]
/// (which checks the file and resolves every scenario), then each scenario's plan with
/// pictures on, with `--rtt`, and with `--link` words. Every link of a plan that resolves
/// passes [`crate::link::LinkConfig::validate`], and a plan's client and server are hosts of the lab.
pub fn lab_toml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(lab) = Lab::parse(text, "fuzz") else { return };
    let variants = [
        Overrides::default(),
        Overrides { pictures: true, taps: vec!["all".into()], ..Default::default() },
        Overrides {
            rtt: Some(Duration::from_millis(20)),
            link: Some("loss 1% rate 1mbit".into()),
            ..Default::default()
        },
    ];
    for i in 0..lab.raw.scenarios.len() {
        for o in &variants {
            let Ok(p) = plan::plan(&lab, i, o) else { continue };
            assert!(p.client < p.hosts.len() && p.server < p.hosts.len(), "{}: client or server out of range", p.name);
            assert_eq!(p.links.len(), p.hosts.len() * p.hosts.len());
            for (link, _) in &p.links {
                if let Err(e) = link.validate() {
                    panic!("scenario {}: an invalid link: {e}", p.name);
                }
            }
            let _ = p.rtt();
        }
    }
}

/// The TUN offload segmenter ([`offload::split`], [`offload::coalesce`]). The input is a
/// sequence of frames (virtio-net header and packet), each preceded by its length (u16 BE).
/// Each frame splits into packets of at least an IPv4 header; a TCPv4 GSO frame into segments
/// of at most `gso_size` payload bytes whose payloads re-join to the frame's payload, with
/// sequence numbers advancing by the bytes before them and valid IPv4 and TCP checksums.
/// Coalescing all the packets and splitting the frames again gives the same packets' payloads,
/// sequence numbers and IPv4 header fields (but length, ID and checksum), in order.
pub fn offload_segmenter(data: &[u8]) {
    let mut packets: Vec<Vec<u8>> = Vec::new();
    for frame in length_prefixed(data) {
        let mut out = Vec::new();
        offload::split(frame, |p| out.push(p));
        for p in &out {
            assert!(p.len() >= 20, "a packet of {} bytes", p.len());
        }
        check_gso_split(frame, &out);
        packets.extend(out);
    }
    let mut again = Vec::new();
    offload::coalesce(&packets, |frame| offload::split(frame, |p| again.push(p)));
    assert_eq!(again.len(), packets.len(), "coalesce then split changed the number of packets");
    // Well-formed packets (a length field that fits: what smoltcp and the kernel send) keep
    // their payloads and sequence numbers.
    for (a, b) in packets.iter().zip(&again) {
        let Some(sa) = packet::summarize(a) else { continue };
        let sb = packet::summarize(b).expect("a well-formed packet stays well formed");
        assert_eq!(sa.payload(a), sb.payload(b), "payload changed by coalesce and split");
        // IPv4 header fields other than the length, ID and checksum are kept.
        assert_eq!((&a[..2], &a[6..10], &a[12..20]), (&b[..2], &b[6..10], &b[12..20]), "IPv4 header changed");
        if let (Transport::Tcp { seq: x, .. }, Transport::Tcp { seq: y, .. }) = (sa.transport, sb.transport) {
            assert_eq!(x, y, "sequence number changed by coalesce and split");
        }
    }
}

/// The checks on one frame's split that hold for a well-formed TCPv4 GSO frame.
fn check_gso_split(frame: &[u8], out: &[Vec<u8>]) {
    let Some(hdr) = frame.get(..offload::VNET_HDR_LEN) else { return };
    let body = &frame[offload::VNET_HDR_LEN..];
    let gso_size = usize::from(u16::from_le_bytes([hdr[4], hdr[5]]));
    if hdr[1] & 0x7f != 1 || gso_size == 0 || out.is_empty() {
        return;
    }
    let total = usize::from(u16::from_be_bytes([body[2], body[3]])).clamp(20, body.len());
    let body = &body[..total];
    let ihl = usize::from(body[0] & 0x0f) * 4;
    let thl = usize::from(body[ihl + 12] >> 4) * 4;
    let payload = &body[ihl + thl..];
    let seq = u32::from_be_bytes([body[ihl + 4], body[ihl + 5], body[ihl + 6], body[ihl + 7]]);
    let mut joined = Vec::with_capacity(payload.len());
    for p in out {
        assert_eq!(p.len() - ihl - thl, p[ihl + thl..].len());
        assert!(p.len() - ihl - thl <= gso_size, "a segment longer than gso_size");
        let s = u32::from_be_bytes([p[ihl + 4], p[ihl + 5], p[ihl + 6], p[ihl + 7]]);
        assert_eq!(s, seq.wrapping_add(joined.len() as u32), "sequence number of a segment");
        assert_eq!(usize::from(u16::from_be_bytes([p[2], p[3]])), p.len(), "IPv4 total length of a segment");
        assert_eq!(ones_sum(&p[..ihl], 0), 0xffff, "IPv4 header checksum of a segment");
        let pseudo = pseudo_sum(p, 6, p.len() - ihl);
        assert_eq!(ones_sum(&p[ihl..], pseudo), 0xffff, "TCP checksum of a segment");
        joined.extend_from_slice(&p[ihl + thl..]);
    }
    assert_eq!(joined, payload, "segments do not re-join to the frame's payload");
}

/// The one's-complement sum of `data` (RFC 1071), folded to 16 bits, added to `initial`.
fn ones_sum(data: &[u8], initial: u32) -> u32 {
    let mut acc = u64::from(initial);
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u64::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u64::from(*last) << 8;
    }
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u32
}

/// The TCP/UDP pseudo-header sum of an IPv4 packet for `len` transport bytes.
fn pseudo_sum(p: &[u8], protocol: u8, len: usize) -> u32 {
    let mut h = [0u8; 12];
    h[..8].copy_from_slice(&p[12..20]);
    h[9] = protocol;
    h[10..12].copy_from_slice(&(len as u16).to_be_bytes());
    ones_sum(&h, 0)
}

/// Rewrites the IPv4 header checksum and the TCP or UDP checksum of `p`, where its headers
/// allow, so that a corrupted packet passes smoltcp's checks and reaches the protocols.
fn fix_checksums(p: &mut [u8]) {
    if p.len() < 20 || p[0] >> 4 != 4 {
        return;
    }
    let ihl = usize::from(p[0] & 0x0f) * 4;
    if ihl < 20 || ihl > p.len() {
        return;
    }
    p[10..12].fill(0);
    let c = !(ones_sum(&p[..ihl], 0) as u16);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    let total = usize::from(u16::from_be_bytes([p[2], p[3]])).clamp(ihl, p.len());
    let at = match p[9] {
        6 => 16,
        17 => 6,
        _ => return,
    };
    if total - ihl < at + 2 {
        return;
    }
    p[ihl + at..ihl + at + 2].fill(0);
    let c = !(ones_sum(&p[ihl..total], pseudo_sum(p, p[9], total - ihl)) as u16);
    let c = if c == 0 && p[9] == 17 { 0xffff } else { c };
    p[ihl + at..ihl + at + 2].copy_from_slice(&c.to_be_bytes());
}

/// Splits `data` into chunks each preceded by its length (u16 BE); a short last chunk is
/// taken as it is.
fn length_prefixed(mut data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while let Some((len, rest)) = data.split_first_chunk::<2>() {
        let len = usize::from(u16::from_be_bytes(*len)).min(rest.len());
        out.push(&rest[..len]);
        data = &rest[len..];
    }
    out
}

/// A key log with one TLS 1.3 connection (client random all `0x11`) whose every secret is
/// derived from its label, for the targets that need records that decrypt.
const FUZZ_RANDOM: [u8; 32] = [0x11; 32];

fn fuzz_key_log() -> String {
    let random = "11".repeat(32);
    let mut log = String::new();
    for label in tls::secret_labels(true).iter().chain(tls::secret_labels(false)) {
        let secret: String = label.bytes().cycle().take(32).map(|b| format!("{b:02x}")).collect();
        log.push_str(&format!("{label} {random} {secret}\n"));
    }
    log
}

/// TLS records as [`tls::RecordReader`] reads one direction's stream (RFC 8446 §5), plaintext
/// and TLS 1.3-protected. Input: a header byte (bit 0: the client's direction; bits 1-2: the
/// cipher suite; bit 3: TLS 1.2, opaque), then chunks (u16 BE length) whose first byte says
/// what to do with the rest: odd, pass it to the reader as it is (records cut at their
/// declared length); even, seal it under the direction's next key in turn as a record of
/// content type `first >> 1`, so the decrypting path reads fuzzer-chosen plaintext: sealed
/// alerts and handshake records must open (be named as such), sealed application data is
/// named so; no record gets more names than it has bytes.
/// The hello parsers ([`tls::client_hello_random`], [`tls::server_hello_suite`],
/// [`tls::client_hello_server_name`]) and
/// [`tls::KeyLog::parse`] take the raw input too.
pub fn tls_records(data: &[u8]) {
    let _ = tls::client_hello_random(data);
    let _ = tls::server_hello_suite(data);
    let _ = tls::client_hello_server_name(data);
    let _ = tls::KeyLog::parse(&String::from_utf8_lossy(data));
    let Some((&head, rest)) = data.split_first() else { return };
    let from_client = head & 1 != 0;
    let code = [0x1301, 0x1302, 0x1303, 0x1304][usize::from(head >> 1 & 3)];
    let suite = tls::Suite::from_code(code);
    let log = if head & 8 != 0 { tls::KeyLog::default() } else { tls::KeyLog::parse(&fuzz_key_log()) };
    let protection = tls::Protection::for_direction(&log, &FUZZ_RANDOM, suite, from_client);
    // The sealing side: the same secrets, derived independently of the reader.
    let sealers: Vec<tls::TrafficKey> = match suite {
        Some(suite) if head & 8 == 0 => tls::secret_labels(from_client)
            .iter()
            .filter_map(|l| {
                let secret: Vec<u8> = l.bytes().cycle().take(32).collect();
                tls::TrafficKey::new(suite, &secret)
            })
            .collect(),
        _ => Vec::new(),
    };
    let mut reader = tls::RecordReader::new(protection);
    let mut seqs = vec![0u64; sealers.len()];
    for (i, chunk) in length_prefixed(rest).into_iter().enumerate() {
        let Some((&op, body)) = chunk.split_first() else { continue };
        if op & 1 == 1 {
            let mut stream = body;
            while let Some(len) = tls::RecordReader::record_len(stream) {
                assert!(len >= 5);
                let record = &stream[..len.min(stream.len())];
                let names = reader.read(record);
                assert!(names.names.len() <= record.len(), "more names than bytes");
                stream = &stream[record.len()..];
            }
            let _ = reader.read(stream);
        } else if !sealers.is_empty() {
            // Seal under the keys in turn: a reader may move on to a later key, never back.
            let k = (i / 4).min(sealers.len() - 1);
            if let Some(record) = sealers[k].seal(seqs[k], op >> 1, body) {
                seqs[k] += 1;
                let names = reader.read(&record).names;
                match op >> 1 {
                    23 => assert_eq!(names, ["Application Data"], "sealed application data"),
                    // What does not open is "Application Data": these opened.
                    21 => assert!(names.len() == 1 && names[0].starts_with("Alert"), "sealed alert: {names:?}"),
                    22 => assert!(!names.contains(&"Application Data"), "sealed handshake: {names:?}"),
                    _ => {}
                }
            }
        }
    }
}

/// QUIC header types ([`quic::packet_type`], RFC 9000 §17): a short header (high bit clear)
/// is always 1-RTT; a long header is named only for versions 0 and 1 and needs 5 bytes.
pub fn quic_header(data: &[u8]) {
    let t = quic::packet_type(data);
    match data {
        [] => assert_eq!(t, None),
        [first, ..] if first & 0x80 == 0 => assert_eq!(t, Some("1-RTT")),
        [_, 0, 0, 0, 0 | 1, ..] => assert!(t.is_some_and(|t| t != "1-RTT")),
        _ => assert_eq!(t, None),
    }
}

/// Raw IPv4 packets through everything that reads packets and captures: the input is a
/// sequence of records (time step in ms: u8; flags: u8, bit 0 "lost after leaving", bit 1 a
/// note; length: u16 BE; the packet's bytes). Each packet is summarised
/// ([`packet::summarize`]; its payload lies inside the packet, no longer than on the wire), described, labelled for a
/// ladder, classified for scripted drops and named by the [`Annotator`] (the TCP flow
/// tracker); all are recorded into a capture whose TLS records are then named from the
/// streams (decrypting with a key log), whose comments are rendered, which is written as
/// pcapng and read back by pcap-file (every packet, in order, byte for byte), and which
/// every capture analysis reads: phases of a real program's run, slow-start rounds and
/// retransmissions, head-of-line reassembly, keepalive bytes.
pub fn ipv4_packet(data: &[u8]) {
    let client = Ipv4Addr::new(10, 0, 0, 1);
    let server = Ipv4Addr::new(10, 0, 0, 2);
    let names = vec![(client, "client".to_string()), (server, "server".to_string())];
    let mut capture = Capture::new("client", names).describing();
    let mut annotator = Annotator::default();
    let mut rest = data;
    let mut at = 0u64;
    let mut sent: Vec<&[u8]> = Vec::new();
    while let Some((&[dt, flags, hi, lo], tail)) = rest.split_first_chunk::<4>() {
        let len = usize::from(u16::from_be_bytes([hi, lo])).min(tail.len());
        let (bytes, tail) = tail.split_at(len);
        rest = tail;
        at += u64::from(dt) * 1000;
        let event = packet::summarize(bytes).and_then(|s| {
            let payload = s.payload(bytes);
            // A packet cut short keeps what it kept; never more than it had on the wire.
            assert_eq!(payload.len(), s.payload_kept, "a payload outside the packet");
            if let Transport::Tcp { payload_len, .. } | Transport::Udp { payload_len, .. } = s.transport {
                assert!(payload.len() <= payload_len, "more payload than on the wire");
            }
            let _ = s.kind();
            let _ = s.describe(bytes);
            let _ = s.describe_as(bytes, Some("TLS Finished"));
            let _ = s.short(bytes, None);
            let _ = s.short(bytes, Some(&["ServerHello", "Application Data"]));
            let _ = packet::tcp_window_scale(bytes);
            annotator.observe_packet(&s, bytes)
        });
        let frame = capture.record_in(Instant::from_micros(at), bytes, event.unwrap_or("fuzz"), Some(0));
        if flags & 1 != 0 {
            capture.mark_last_lost("fuzz");
        }
        if flags & 2 != 0 {
            capture.add_note(frame, Note::After(" [note]".into()));
            capture.relabel(frame.saturating_sub(1), "relabelled", None);
        }
        sent.push(bytes);
    }
    capture.name_tls(&fuzz_key_log());
    for f in capture.packets() {
        let _ = f.comment();
        let _ = f.what();
    }
    let file = capture.to_pcapng(Some(&fuzz_key_log()), crate::capture::DEFAULT_EPOCH_UNIX_MICROS);
    let mut reader = pcap_file::pcapng::PcapNgReader::new(&file[..]).expect("our pcapng has a section header");
    let mut read_back = 0;
    while let Some(block) = reader.next_block() {
        let block = block.expect("our pcapng reads back");
        if let Some(epb) = block.0.as_enhanced_packet() {
            assert_eq!(Some(&&epb.data[..]), sent.get(read_back), "packet {} read back differently", read_back + 1);
            read_back += 1;
        }
    }
    assert_eq!(read_back, sent.len(), "packets read back");
    let _ = capture.phase_frames();
    let _ = crate::timeline::from_capture::phases(&capture, client, 100.0);
    let end = Instant::from_micros(at);
    let window = Some(crate::timeline::theory::Window { initial_window: 14_600, max_window: 1 << 20 });
    let _ = crate::timeline::rounds::measure(
        &capture,
        server,
        client,
        Instant::ZERO,
        end,
        Duration::from_millis(100),
        window,
    );
    let _ = crate::timeline::rounds::measure(&capture, server, client, Instant::ZERO, end, Duration::ZERO, None);
    let _ = crate::timeline::rounds::retransmitted_segments(&capture, server, client);
    let _ = crate::timeline::hol::tcp_deliveries_with_frames(&capture, client, server);
    let spans: Vec<_> = sent
        .iter()
        .filter_map(|b| packet::summarize(b))
        .filter_map(|s| match s.transport {
            Transport::Tcp { src_port, .. } => Some(src_port),
            _ => None,
        })
        .take(4)
        .map(|port| crate::timeline::keepalive::IdleSpan { port, from: Instant::ZERO, to: Some(end) })
        .collect();
    let _ = crate::timeline::keepalive::measure(&capture, client, server, &spans);
}

/// The scenarios the whole-network target runs, with small sizes and a 20 s cap on virtual
/// time, pictures on: built once.
fn network_plans() -> &'static [ScenarioPlan] {
    static PLANS: OnceLock<Vec<ScenarioPlan>> = OnceLock::new();
    PLANS.get_or_init(|| {
        let set = |pairs: &[(&str, &str)]| Overrides {
            set: pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            pictures: true,
            ..Default::default()
        };
        let small = [("response_size", "12KB"), ("time_limit", "20s")];
        let page = [("objects", "3"), ("size", "6KB"), ("lost_packet", "3"), ("time_limit", "20s")];
        type Params<'a> = &'a [(&'a str, &'a str)];
        let wanted: [(&str, &str, Params); 5] = [
            ("handshake", "fresh-tls13", &small),
            ("handshake", "fresh-tls12", &small),
            ("handshake", "zero-rtt", &small),
            ("hol", "one-loss-h2", &page),
            ("hol", "one-loss-h3", &page),
        ];
        wanted
            .iter()
            .map(|(lab, scenario, params)| {
                let lab = Lab::load(lab).expect("a built-in lab");
                let i = lab.scenario_names().iter().position(|n| n == scenario).expect("a scenario of the lab");
                plan::plan(&lab, i, &set(params)).expect("the fuzz target's plan")
            })
            .collect()
    })
}

/// The whole network, in the manner of smoltcp's `iface` fuzz target: a real scenario on the
/// virtual clock (TLS 1.3, TLS 1.2, 0-RTT resumption, HTTP/2, HTTP/3 over QUIC; DNS in the
/// handshake lab) with packets corrupted in flight, then everything `wirelab run` makes of
/// it: the timeline, its table and JSON (which reads back), the capture (which reads back),
/// the ladder, the plots and the report.
///
/// Input: byte 0 chooses the scenario; byte 1 bit 0 rewrites the IPv4 and TCP/UDP checksums
/// after corrupting (so that corrupted packets pass smoltcp's checks and reach TLS, HTTP and
/// QUIC), bit 1 truncates the packet at the offset instead of flipping it; then up to 64
/// mutations of 5 bytes: the index of the delivered packet (u16 LE, counted over the whole
/// network), an offset into it (u16 LE, modulo its length) and a byte to XOR there.
/// Virtual time is capped at 20 s per scenario; running out is an error in the timeline,
/// not a failure of the target.
pub fn network(data: &[u8]) {
    let plans = network_plans();
    let Some((&choice, rest)) = data.split_first() else { return };
    let plan = &plans[usize::from(choice) % plans.len()];
    let (flags, rest) = rest.split_first().map_or((0, &[][..]), |(f, r)| (*f, r));
    let mutations: Vec<(u64, usize, u8)> = rest
        .chunks_exact(5)
        .take(64)
        .map(|m| (u64::from(u16::from_le_bytes([m[0], m[1]])), usize::from(u16::from_le_bytes([m[2], m[3]])), m[4]))
        .collect();
    let mut delivered = 0u64;
    let mutator = Box::new(move |p: &mut Packet| {
        let mut touched = false;
        for &(_, offset, x) in mutations.iter().filter(|m| m.0 == delivered) {
            if p.bytes.is_empty() {
                break;
            }
            let at = offset % p.bytes.len();
            if flags & 2 != 0 {
                p.bytes.truncate(at.max(1));
            } else {
                p.bytes[at] ^= x;
            }
            touched = true;
        }
        if touched && flags & 1 != 0 {
            fix_checksums(&mut p.bytes);
        }
        delivered += 1;
    });
    let Ok(out) = crate::runner::run_scenario_mutated(plan, 1, mutator) else { return };
    let t = &out.timeline;
    let frames = t.metrics.get("frames").copied().unwrap_or(0.0) as u64;
    for p in &t.phases {
        if let (Some(first), Some(last)) = (p.first_frame, p.last_frame) {
            assert!(
                1 <= first && first <= last && last <= frames,
                "phase {}: frames {first}..{last} of {frames}",
                p.id
            );
        }
    }
    let _ = crate::timeline::table::scenario(t);
    let lab = crate::timeline::LabTimeline {
        schema: 1,
        lab: plan.lab.clone(),
        title: String::new(),
        description: String::new(),
        seed: 1,
        backend: "virtual".into(),
        rtt_ms: plan.rtt().as_secs_f64() * 1000.0,
        params: plan.params.clone(),
        scenarios: vec![t.clone()],
        size_sweep: Vec::new(),
        loss_table: Vec::new(),
        theory: Vec::new(),
    };
    let json = lab.to_json();
    if let Err(e) = serde_json::from_str::<crate::timeline::LabTimeline>(&json) {
        panic!("the timeline JSON does not read back ({e}):\n{json}");
    }
    let _ = crate::timeline::table::lab(&lab);
    let mut extras = crate::picture::report::Extras::default();
    if let Some(l) = &out.ladder {
        extras.ladders.insert(t.name.clone(), crate::picture::ladder::render(l));
    }
    if let Some(ts) = &out.time_seq {
        let _ = crate::picture::plot::time_sequence(ts);
    }
    if !t.rounds.is_empty() {
        let _ = crate::picture::plot::rounds("fuzz", &t.rounds);
    }
    let _ = crate::picture::report::render(&lab, &extras);
    let pcapng = out.pcapng();
    let mut reader = pcap_file::pcapng::PcapNgReader::new(&pcapng[..]).expect("the capture has a section header");
    let mut packets = 0u64;
    while let Some(block) = reader.next_block() {
        packets += u64::from(block.expect("the capture reads back").0.as_enhanced_packet().is_some());
    }
    assert_eq!(packets, frames, "packets in the capture");
}

/// One frame in any link type through the one packet parser ([`crate::wire::ip::parse`]).
/// Input: a byte choosing the link type, then the frame. What it finds lies inside the frame; a
/// TCP or UDP payload holds no more bytes than it had on the wire; and on raw IP the strict
/// fast path ([`crate::wire::ip::summarize`]) gives exactly what the lax slices give.
pub fn wire_frame(data: &[u8]) {
    use crate::wire::ip::{self, LinkType};
    const LINKS: [LinkType; 8] = [
        LinkType::Raw,
        LinkType::Ipv4,
        LinkType::Ipv6,
        LinkType::Ethernet,
        LinkType::LinuxSll,
        LinkType::LinuxSll2,
        LinkType::Null,
        LinkType::Loop,
    ];
    let Some((&pick, frame)) = data.split_first() else { return };
    let link = LINKS[usize::from(pick) % LINKS.len()];
    let Ok(s) = ip::parse(link, frame) else { return };
    assert!(s.payload_offset + s.payload_kept <= frame.len(), "{link:?}: {s:?} past the frame");
    assert_eq!(s.payload(frame).len(), s.payload_kept);
    if matches!(s.transport, Transport::Tcp { .. } | Transport::Udp { .. }) {
        assert!(s.payload_kept <= s.payload_len(), "{link:?}: more kept than on the wire: {s:?}");
    }
    let _ = s.describe(frame);
    if link == LinkType::Raw {
        assert_eq!(ip::summarize(frame), Some(s), "the fast path and the lax slices disagree");
    }
}

/// A whole capture file, pcap or pcapng in any link type, through `wirelab annotate`
/// ([`crate::timeline::from_capture::annotate_file::annotate`]): an unreadable file is an error,
/// never a panic; a readable one gives a pcapng that pcap-file reads back with one packet per
/// frame, every packet commented, and a timeline whose phases end no earlier than they begin.
pub fn capture_file(data: &[u8]) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir();
    let input = dir.join(format!("wirelab-fuzz-{}-{n}.in", std::process::id()));
    let output = dir.join(format!("wirelab-fuzz-{}-{n}.pcapng", std::process::id()));
    std::fs::write(&input, data).expect("writing the input");
    let result = crate::timeline::from_capture::annotate_file::annotate(&input, &output, Some("CLIENT_RANDOM 00 00\n"));
    if let Ok(a) = &result {
        let file = std::fs::read(&output).expect("annotate wrote its output");
        let mut reader = pcap_file::pcapng::PcapNgReader::new(&file[..]).expect("a section header");
        let mut packets = 0u64;
        while let Some(block) = reader.next_block() {
            if let Some(p) = block.expect("the output reads back").0.as_enhanced_packet() {
                packets += 1;
                assert!(p.options.iter().any(|o| matches!(
                    o,
                    pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketOption::Common(
                        pcap_file::pcapng::blocks::opt_common::CommonOption::Comment(_)
                    )
                )));
            }
        }
        assert_eq!(packets, a.frames, "one packet per frame read");
        for c in &a.connections {
            for p in &c.phases {
                assert!(p.end_ms.is_none_or(|e| e >= p.start_ms), "{p:?}");
            }
        }
    }
    let _ = std::fs::remove_file(&input);
    let _ = std::fs::remove_file(&output);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Without mutations every scenario of the whole-network target runs to its end, so the
    /// target exercises the protocols and analyses rather than an early error.
    #[test]
    fn the_network_scenarios_finish_unmutated() {
        for plan in network_plans() {
            let out = crate::runner::run_scenario_mutated(plan, 1, Box::new(|_| {})).expect("runs");
            assert_eq!(out.timeline.error, None, "{}", plan.name);
            assert!(out.ladder.is_some(), "{}: pictures", plan.name);
        }
    }

    #[test]
    fn fixed_checksums_verify() {
        let mut p = crate::packet::testing::segment(true, 7, 1, "PA", b"hello");
        let good = p.clone();
        p[30] ^= 0x55;
        fix_checksums(&mut p);
        p[30] ^= 0x55;
        fix_checksums(&mut p);
        assert_eq!(p, good);
    }

    #[test]
    fn sealed_records_open() {
        let mut data = vec![0x01];
        for (op, body) in [(23u8 << 1, &b"GET /"[..]), (22 << 1, &[20, 0, 0, 1, 9][..]), (21 << 1, &[1, 0][..])] {
            let mut chunk = vec![op];
            chunk.extend_from_slice(body);
            data.extend_from_slice(&(chunk.len() as u16).to_be_bytes());
            data.extend_from_slice(&chunk);
        }
        tls_records(&data);
    }
}
