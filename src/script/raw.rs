//! The lab file as written: TOML, deserialised with unknown keys rejected.
//!
//! Values that may refer to parameters (`"${rtt}"`) are kept as [`Scalar`]s and resolved
//! per scenario in [`super::plan`].

use std::collections::BTreeMap;

use serde::Deserialize;

/// A string, number or boolean from the lab file.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum Scalar {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
}

impl std::fmt::Display for Scalar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scalar::Bool(b) => write!(f, "{b}"),
            Scalar::Int(i) => write!(f, "{i}"),
            Scalar::Float(x) => write!(f, "{x}"),
            Scalar::Str(s) => f.write_str(s),
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLab {
    pub name: String,
    pub title: Option<String>,
    pub description: Option<String>,
    #[serde(default)]
    pub params: BTreeMap<String, Scalar>,
    /// Make each slow-start round of a response a phase of the timeline.
    #[serde(default)]
    pub rounds: bool,
    /// Extra runs of two scenarios over a range of response sizes (the 14 KB rule).
    pub size_sweep: Option<RawSizeSweep>,
    /// Extra runs of scenarios over loss rates and seeds (the head-of-line lab's comparison).
    pub loss_table: Option<RawLossTable>,
    #[serde(default)]
    pub link: RawLink,
    #[serde(default, rename = "path")]
    pub paths: Vec<RawLink>,
    #[serde(rename = "host")]
    pub hosts: Vec<RawHost>,
    pub dns: Option<RawDns>,
    #[serde(rename = "scenario")]
    pub scenarios: Vec<RawScenario>,
    #[serde(default, rename = "expect")]
    pub expects: Vec<RawExpect>,
    #[serde(default, rename = "theory")]
    pub theory: Vec<RawTheory>,
}

/// A figure from the teaching text, shown next to what the lab measured.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTheory {
    /// What the text says, in a few words.
    pub claim: String,
    pub scenario: String,
    /// What to read from the scenario: `<phase>.<field>` or `metrics.<name>`.
    pub measure: String,
    /// The text's figure, in the same unit as `measure`; with a `model`, its input (see
    /// `cli::output::theory_rows`).
    #[serde(default)]
    pub expected: f64,
    /// How the figure follows from the parameters that ran: `fixed` (default: `expected` as
    /// is), `rtts_in_ms` (`expected` RTTs of the scenario's path, in ms), `slow_start` (RTTs
    /// from first to last response byte with IW x MSS doubling), `fresh` (TCP + TLS + request +
    /// slow start, in RTTs), `fresh_cold_dns` (the same plus the cold lookup), `iw_bytes` (the
    /// first flight, IW x MSS), `budget_rtts` (a workload's request: each hop's round trips x
    /// its path's RTT, in ms), `budget_hop_share` (its largest hop over the budget),
    /// `fresh_over_pooled` (its largest fresh hop's round trips over a warm connection's).
    #[serde(default)]
    pub model: Option<String>,
    /// The text's own worked example, quoted where the settings give another figure.
    #[serde(default)]
    pub text: Option<String>,
    /// Why the measurement differs, if it does.
    #[serde(default)]
    pub note: String,
}

/// Impairments of a path: the lab's default `[link]`, a `[[path]]` with `between`, or a flow
/// rule (`[[path.flow]]`, `[[link.flow]]`) with `match`. See `script::paths`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLink {
    pub between: Option<Vec<String>>,
    /// A flow rule's packets: `udp port 443` ([`crate::link::flow`]).
    #[serde(rename = "match")]
    pub matches: Option<String>,
    pub rtt: Option<Scalar>,
    pub delay: Option<Scalar>,
    pub jitter: Option<Scalar>,
    pub loss: Option<Scalar>,
    pub duplicate: Option<Scalar>,
    pub reorder: Option<Scalar>,
    pub rate: Option<Scalar>,
    pub limit: Option<Scalar>,
    pub mtu: Option<Scalar>,
    pub netem: Option<Scalar>,
    /// netem words for one direction, on top of the keys above: a `[[path]]`'s first host to
    /// its second (`[link]`: the client to any host).
    pub up: Option<Scalar>,
    /// netem words for the other direction.
    pub down: Option<Scalar>,
    /// Flow rules: packets that match one take a link of their own.
    #[serde(default, rename = "flow")]
    pub flows: Vec<RawLink>,
}

impl RawLink {
    /// The impairment keys and their values, in file-format order (not `between`, `match`
    /// or the flows).
    pub fn fields(&self) -> [(&'static str, Option<&Scalar>); 12] {
        [
            ("rtt", self.rtt.as_ref()),
            ("delay", self.delay.as_ref()),
            ("jitter", self.jitter.as_ref()),
            ("loss", self.loss.as_ref()),
            ("duplicate", self.duplicate.as_ref()),
            ("reorder", self.reorder.as_ref()),
            ("rate", self.rate.as_ref()),
            ("limit", self.limit.as_ref()),
            ("mtu", self.mtu.as_ref()),
            ("netem", self.netem.as_ref()),
            ("up", self.up.as_ref()),
            ("down", self.down.as_ref()),
        ]
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHost {
    pub name: String,
    pub addr: String,
    /// `client`, `server`, `resolver`, `authority`, or `host` (the default): a host that runs
    /// only the services it lists.
    #[serde(default)]
    pub role: Option<String>,
    /// Copies of the host, named `name-1`, `name-2`, ... at consecutive addresses from `addr`
    /// (replicas of a service; an upstream naming `name` means all of them).
    pub replicas: Option<u32>,
    /// `[[host.service]]`: what the host serves.
    #[serde(default, rename = "service")]
    pub services: Vec<toml::Table>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDns {
    /// DNS name → host name, or a list of host names (several A records, in that order).
    pub names: BTreeMap<String, RawHosts>,
    pub ttl: Option<Scalar>,
    /// The resolver's defaults: `unbound` (the default), `bind` or `serve-stale`.
    pub resolver: Option<Scalar>,
    /// The resolver raises smaller TTLs to this (`cache-min-ttl`).
    pub min_ttl: Option<Scalar>,
    /// The resolver lowers larger TTLs to this (`cache-max-ttl`).
    pub max_ttl: Option<Scalar>,
    /// The resolver answers from expired records when the authority is silent (RFC 8767).
    pub serve_stale: Option<Scalar>,
}

/// One host name, or several.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum RawHosts {
    One(String),
    Many(Vec<String>),
}

impl RawHosts {
    pub fn names(&self) -> Vec<&str> {
        match self {
            RawHosts::One(n) => vec![n.as_str()],
            RawHosts::Many(v) => v.iter().map(String::as_str).collect(),
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScenario {
    pub name: String,
    pub title: Option<String>,
    /// Why the scenario behaves as it does, printed under its table.
    pub note: Option<String>,
    /// Parameter values for this scenario only.
    #[serde(default)]
    pub params: BTreeMap<String, Scalar>,
    /// Steps run before the scenario's time 0 (a pooled connection's first use, a ticket).
    #[serde(default)]
    pub warmup: Vec<toml::Table>,
    pub steps: Vec<toml::Table>,
    #[serde(default, rename = "drop")]
    pub drops: Vec<RawDrop>,
    /// `[[scenario.event]]`: what happens at a time (a host down, a path cut, a DNS change).
    #[serde(default, rename = "event")]
    pub events: Vec<toml::Table>,
    /// Hosts that are the Linux kernel in a network namespace (real-time backend only).
    #[serde(default)]
    pub kernel: Vec<String>,
}

/// `[size_sweep]`: run `fresh` and `warm` again for each size (parameter `response_size`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSizeSweep {
    pub sizes: Vec<String>,
    pub fresh: String,
    pub warm: String,
}

/// `[loss_table]`: run `scenarios` with parameter `loss` at each of `losses`, seeds 1..=`seeds`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLossTable {
    pub losses: Vec<String>,
    pub seeds: u64,
    pub scenarios: Vec<String>,
    /// What to read in the table, printed under it.
    #[serde(default)]
    pub note: String,
}

/// A scripted drop: the `nth` packet of kind `packet` sent from `from` to `to`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDrop {
    pub from: String,
    pub to: String,
    pub packet: String,
    pub nth: Scalar,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExpect {
    /// Scenarios the check applies to (default: all).
    #[serde(default)]
    pub scenarios: Vec<String>,
    pub check: String,
    /// `check = "metrics.rounds == theory"`: the figure this model gives for the settings
    /// that ran (see `runner::theory`).
    #[serde(default)]
    pub model: Option<String>,
    /// The settings the check holds for: `lossless` (no random loss on any path), or a
    /// comparison of durations or sizes, `"${rtt} >= 15ms"`. Elsewhere it is skipped, saying why.
    #[serde(default)]
    pub holds_when: Option<String>,
}
