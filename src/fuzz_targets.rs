//! Fuzz targets: each is a plain function of `&[u8]` that must not panic on any input, and
//! asserts what can be checked cheaply about the result (a round trip, a re-join, a file that
//! reads back). `fuzz/` holds a cargo-fuzz crate with one thin `fuzz_targets/<name>.rs` per
//! entry of [`TARGETS`]; `tests/fuzz_corpora.rs` replays every file of `fuzz/corpus/<name>/`
//! through the same function on stable, so every input that once crashed stays checked.
//!
//! The targets on text (netem words, durations and sizes, lab files) are here; the others are
//! in submodules by what they read: `segments` (single packets, the TUN offload segmenter),
//! `records` (TLS records, QUIC headers), `frames` (captured frames and capture files), `flow`
//! (the TCP flow tracker, HTTP/2 frames) and `network` (a whole lab under mutation). A new target
//! is one function, one line in [`TARGETS`], one file in `fuzz/fuzz_targets/` and a seed corpus
//! in `fuzz/corpus/<name>/`.

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
mod frames;
mod network;
mod records;
mod segments;
pub use flow::{h2_frames, tcp_flow};
pub use frames::{capture_file, wire_frame};
pub use network::network;
pub use records::{quic_header, tls_records};
pub use segments::{ipv4_packet, offload_segmenter};

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
