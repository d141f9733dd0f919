//! What parameters and lab-file fields accept, written once: planning a scenario checks values
//! against these ranges, and `wirelab show` prints them.
//!
//! A lab's `[params]` reach the lab in two ways. The runner reads some by name ([`RUNNER`]:
//! `cc`, `mss`, `time_limit`, ...). Every other parameter is used through `${name}` in a field
//! (a link's `rtt`, a step's `size`, a drop's `nth`), and accepts what that field accepts: the
//! field tables are [`super::plan::LINK_FIELDS`], [`super::plan::DROP_NTH`],
//! [`super::plan::DNS_TTL`] and [`super::steps::KINDS`]. [`lab_params`] puts the two together
//! for one lab.

use std::collections::BTreeMap;
use std::time::Duration;

use super::raw::Scalar;
use super::{plan, steps, Lab};
use crate::units::format_duration;

/// A whole number in `min..=max`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IntRange {
    pub min: u64,
    pub max: u64,
}

impl IntRange {
    pub const fn new(min: u64, max: u64) -> Self {
        IntRange { min, max }
    }

    pub fn contains(&self, n: u64) -> bool {
        (self.min..=self.max).contains(&n)
    }

    /// "a whole number from 1 to 1000", as errors and `wirelab show` say it.
    pub fn describe(&self) -> String {
        format!("a whole number from {} to {}", self.min, self.max)
    }
}

/// A size in bytes in `min..=max`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SizeRange {
    pub min: u64,
    pub max: u64,
}

impl SizeRange {
    /// Any size a lab file can write.
    pub const ANY: SizeRange = SizeRange { min: 0, max: u64::MAX };

    pub const fn new(min: u64, max: u64) -> Self {
        SizeRange { min, max }
    }

    pub fn contains(&self, n: u64) -> bool {
        (self.min..=self.max).contains(&n)
    }

    /// "2944 bytes to 16MiB", as errors and `wirelab show` say it.
    pub fn describe(&self) -> String {
        if *self == SizeRange::ANY {
            "a size, e.g. 200KB, 14600 or 64KiB".to_string()
        } else {
            format!("a size from {} to {}", exact_size(self.min), exact_size(self.max))
        }
    }
}

/// `n` bytes exactly, in the largest binary unit that divides it: `4KiB`, `16MiB`, `2944 bytes`.
fn exact_size(n: u64) -> String {
    for (unit, scale) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
        if n >= scale && n % scale == 0 {
            return format!("{}{unit}", n / scale);
        }
    }
    format!("{n} bytes")
}

/// A duration in `min..=max`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DurationRange {
    pub min: Duration,
    pub max: Duration,
}

impl DurationRange {
    pub const fn new(min: Duration, max: Duration) -> Self {
        DurationRange { min, max }
    }

    pub fn contains(&self, d: Duration) -> bool {
        (self.min..=self.max).contains(&d)
    }

    /// "a duration from 2us to 10s", as errors and `wirelab show` say it.
    pub fn describe(&self) -> String {
        format!("a duration from {} to {}", format_duration(self.min), format_duration(self.max))
    }
}

const HOUR: u64 = 3600;
/// A round trip (`--rtt`, a link's `rtt`): 2 µs (1 µs each way, the clock's resolution) to 10 s.
pub const RTT: DurationRange = DurationRange::new(Duration::from_micros(2), Duration::from_secs(10));
/// A one-way delay or jitter (a link's `delay`, `jitter`).
pub const ONE_WAY: DurationRange = DurationRange::new(Duration::ZERO, Duration::from_secs(5));
/// `time_limit`: how much virtual (or wall-clock) time a scenario may take.
pub const TIME_LIMIT: DurationRange = DurationRange::new(Duration::from_millis(1), Duration::from_secs(168 * HOUR));
/// An idle step, a bursts step's span, the idle timeouts and intervals (0: off, where allowed).
pub const SPAN: DurationRange = DurationRange::new(Duration::ZERO, Duration::from_secs(168 * HOUR));
/// A bursts step's `every`: below a millisecond it is no longer a pool between bursts.
pub const BURST_EVERY: DurationRange = DurationRange::new(Duration::from_millis(1), Duration::from_secs(24 * HOUR));
/// The most bursts one step may send (`duration / every`).
pub const MAX_BURSTS: u64 = 1_000_000;
/// DNS TTLs (RFC 2181 §8: at most 2^31 - 1 seconds).
pub const TTL: DurationRange = DurationRange::new(Duration::ZERO, Duration::from_secs((1 << 31) - 1));
/// A response body: the server builds each one in memory.
pub const BODY: SizeRange = SizeRange::new(0, crate::proto::http1::MAX_BODY);

/// What a parameter or a field accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Int(IntRange),
    Size(SizeRange),
    Duration(DurationRange),
    /// A percentage, 0% to 100%.
    Percent,
    /// A rate in tc's units.
    Rate,
    Bool,
    Choice(&'static [&'static str]),
    /// A string, or text that `${name}` is put into.
    Text,
    /// A service-time distribution (`crate::dist`), e.g. `lognormal p50=10ms p99=50ms`.
    Distribution,
    /// When a hedged call sends its copy: a percentile of recent calls (`p95`) or a delay.
    HedgeAfter,
}

impl Kind {
    /// What the kind allows, in a few words.
    pub fn describe(&self) -> String {
        match self {
            Kind::Int(r) => r.describe(),
            Kind::Size(r) => r.describe(),
            Kind::Duration(r) => r.describe(),
            Kind::Percent => "a percentage from 0% to 100%, e.g. 1% or 0.5%".to_string(),
            Kind::Rate => "a rate, e.g. 10mbit, 1gbit or 500kbps (bytes/s)".to_string(),
            Kind::Bool => "true or false".to_string(),
            Kind::Choice(names) => choices(names),
            Kind::Text => "text".to_string(),
            Kind::Distribution => "a distribution, e.g. lognormal p50=10ms p99=50ms".to_string(),
            Kind::HedgeAfter => "a percentile p50 to p99.99, or a delay to 1h".to_string(),
        }
    }
}

/// "iw or smoltcp", "cubic, reno or bbr".
pub fn choices(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// A key of a lab-file table (a link, a step) and what it accepts.
#[derive(Clone, Copy, Debug)]
pub struct Field {
    pub key: &'static str,
    pub kind: Kind,
    /// What the field does, in a few words.
    pub meaning: &'static str,
}

impl Field {
    pub const fn new(key: &'static str, kind: Kind, meaning: &'static str) -> Self {
        Field { key, kind, meaning }
    }
}

/// `cc`: the TCP congestion control of the in-process hosts.
pub const CC: &[&str] = &["iw", "smoltcp"];
/// `initial_window`, in segments.
pub const INITIAL_WINDOW: IntRange = IntRange::new(1, 1000);
/// `mss`, in bytes.
pub const MSS: IntRange = IntRange::new(536, 9000);
/// `socket_buffer`.
pub const SOCKET_BUFFER: SizeRange = SizeRange::new(4 << 10, 64 << 20);
/// `kernel_cc`: a kernel server's congestion control.
pub const KERNEL_CC: &[&str] = &["cubic", "reno", "bbr"];

/// Parameters the runner reads by name, when a lab declares them (in [`plan::plan`]).
pub const RUNNER: [Field; 8] = [
    Field::new(
        "cc",
        Kind::Choice(CC),
        "TCP congestion control: iw, an initial window of initial_window segments growing by every \
         byte ACKed (a lab model, no loss response); smoltcp, smoltcp's own Reno",
    ),
    Field::new(
        "initial_window",
        Kind::Int(INITIAL_WINDOW),
        "segments in the first flight, for cc = iw; a kernel server's route initcwnd",
    ),
    Field::new("mss", Kind::Int(MSS), "bytes per TCP segment; the hosts' MTU is mss + 40"),
    Field::new(
        "delayed_ack",
        Kind::Bool,
        "smoltcp's delayed ACK (10 ms, at once after two full segments); false: every segment ACKed at once",
    ),
    Field::new(
        "socket_buffer",
        Kind::Size(SOCKET_BUFFER),
        "send and receive buffer of every socket (the largest window a receiver offers)",
    ),
    Field::new("server_idle_timeout", Kind::Duration(SPAN), "the server closes connections idle this long (0: never)"),
    Field::new("kernel_cc", Kind::Choice(KERNEL_CC), "a kernel server's congestion control (real time)"),
    Field::new(
        "time_limit",
        Kind::Duration(TIME_LIMIT),
        "time a scenario may take; one still running then did not finish",
    ),
];

/// Where a lab uses a parameter.
#[derive(Clone, Debug, PartialEq)]
pub struct Use {
    /// The field, as `wirelab show` names it: `[link].rtt`, `page.objects` (a step's key).
    pub at: String,
    /// What the field accepts: [`Kind::Text`] where the value is put into a longer text.
    pub kind: Kind,
    pub meaning: &'static str,
}

/// One of a lab's `[params]`, with what it accepts and what it does.
#[derive(Clone, Debug)]
pub struct ParamInfo {
    pub name: String,
    /// The value in `[params]`, as text.
    pub default: String,
    /// What the value must be: the runner's kind, then every field's that the value is (all of)
    /// (one entry unless fields of different kinds share the parameter).
    pub kinds: Vec<Kind>,
    /// What it does: the comment after it in the lab file, else the runner's or the first
    /// field's meaning.
    pub meaning: String,
    /// The fields it is used in (empty for a parameter only the runner reads).
    pub uses: Vec<Use>,
}

/// The lab's parameters in the order of its file's `[params]`, with their kinds and meanings;
/// `text` is the lab file (for that order and the comments that explain parameters).
pub fn lab_params(lab: &Lab, text: &str) -> Vec<ParamInfo> {
    let lines = param_lines(text);
    let comments: BTreeMap<&str, &str> =
        lines.iter().filter_map(|(k, c)| c.as_deref().map(|c| (k.as_str(), c))).collect();
    let mut params: Vec<(&String, &Scalar)> = lab.raw.params.iter().collect();
    params.sort_by_key(|(name, _)| lines.iter().position(|(k, _)| k == *name).unwrap_or(usize::MAX));
    let all = uses(lab);
    params
        .into_iter()
        .map(|(name, value)| {
            let runner = RUNNER.iter().find(|f| f.key == name);
            let uses: Vec<Use> = all.iter().filter(|(n, _)| n == name).map(|(_, u)| u.clone()).collect();
            let mut kinds: Vec<Kind> = runner.map(|f| f.kind).into_iter().collect();
            for u in uses.iter().filter(|u| u.kind != Kind::Text) {
                if !kinds.contains(&u.kind) {
                    kinds.push(u.kind);
                }
            }
            if kinds.is_empty() {
                kinds.push(Kind::Text);
            }
            let meaning = comments
                .get(name.as_str())
                .map(|c| c.to_string())
                .or_else(|| runner.map(|f| f.meaning.to_string()))
                .or_else(|| uses.first().map(|u| u.meaning.to_string()))
                .unwrap_or_default();
            ParamInfo { name: name.clone(), default: value.to_string(), kinds, meaning, uses }
        })
        .collect()
}

/// Every `${name}` in the lab's fields: (parameter, use), each field once per parameter.
fn uses(lab: &Lab) -> Vec<(String, Use)> {
    let raw = &lab.raw;
    let mut out: Vec<(String, Use)> = Vec::new();
    let mut add = |scalar: &Scalar, at: String, field: Option<&Field>| {
        let Scalar::Str(s) = scalar else { return };
        for name in references(s) {
            let whole = s.trim() == format!("${{{name}}}");
            let (kind, meaning) = match field {
                Some(f) if whole => (f.kind, f.meaning),
                Some(f) => (Kind::Text, f.meaning),
                None => (Kind::Text, ""),
            };
            let at = if whole { at.clone() } else { format!("{at} (inside its text)") };
            let u = Use { at, kind, meaning };
            if !out.iter().any(|(n, o)| *n == name && *o == u) {
                out.push((name, u));
            }
        }
    };
    let link_field = |key: &str| plan::LINK_FIELDS.iter().find(|f| f.key == key);
    for (key, value) in raw.link.fields() {
        if let Some(v) = value {
            add(v, format!("[link].{key}"), link_field(key));
        }
    }
    for (i, flow) in raw.link.flows.iter().enumerate() {
        for (key, value) in flow.fields() {
            if let Some(v) = value {
                add(v, format!("[[link.flow]] {}: {key}", i + 1), link_field(key));
            }
        }
    }
    for path in &raw.paths {
        let between = path.between.as_ref().map(|b| b.join("–")).unwrap_or_default();
        for (key, value) in path.fields() {
            if let Some(v) = value {
                add(v, format!("[[path]] {between}: {key}"), link_field(key));
            }
        }
        for (i, flow) in path.flows.iter().enumerate() {
            for (key, value) in flow.fields() {
                if let Some(v) = value {
                    add(v, format!("[[path]] {between}: flow {}: {key}", i + 1), link_field(key));
                }
            }
        }
    }
    for h in &raw.hosts {
        for table in &h.services {
            for (key, value) in table {
                if let Some(s) = value.as_str() {
                    let field = super::services::FIELDS.iter().find(|(f, _)| f.key == key).map(|(f, _)| f);
                    add(&Scalar::Str(s.to_string()), format!("[[host]] {}: service.{key}", h.name), field);
                }
            }
        }
    }
    if let Some(ttl) = raw.dns.as_ref().and_then(|d| d.ttl.as_ref()) {
        add(ttl, "[dns].ttl".to_string(), Some(&plan::DNS_TTL));
    }
    for sc in &raw.scenarios {
        for step in sc.warmup.iter().chain(&sc.steps) {
            let kind = step.get("step").and_then(|v| v.as_str()).unwrap_or("");
            let fields = steps::KINDS.iter().find(|(k, _)| *k == kind).map(|(_, f)| *f).unwrap_or(&[]);
            for (key, value) in step.iter().filter(|(k, _)| *k != "step") {
                if let Some(s) = value.as_str() {
                    let field = fields.iter().find(|f| f.key == key);
                    add(&Scalar::Str(s.to_string()), format!("{kind}.{key}"), field);
                }
            }
        }
        for d in &sc.drops {
            add(&d.nth, "[[scenario.drop]].nth".to_string(), Some(&plan::DROP_NTH));
        }
        for e in &sc.events {
            for (key, value) in e {
                if let Some(s) = value.as_str() {
                    let field = super::events::EVENT_FIELDS.iter().find(|f| f.key == key);
                    add(&Scalar::Str(s.to_string()), format!("[[scenario.event]].{key}"), field);
                }
            }
        }
    }
    out
}

/// The names referred to as `${name}` in `s`, in order.
fn references(s: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else { break };
        names.push(after[..end].to_string());
        rest = &after[end + 1..];
    }
    names
}

/// The keys of the lab file's `[params]` table in file order, each with the comment after it,
/// joined with the comment-only lines indented under it (a comment that goes on).
pub fn param_lines(text: &str) -> Vec<(String, Option<String>)> {
    let mut lines: Vec<(String, Option<String>)> = Vec::new();
    let mut in_params = false;
    // The comment that indented comment lines continue.
    let mut last: Option<usize> = None;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') {
            in_params = trimmed.split('#').next().is_some_and(|h| h.trim() == "[params]");
            last = None;
            continue;
        }
        if !in_params {
            continue;
        }
        if let Some(more) = trimmed.strip_prefix('#') {
            // Indented under a parameter's comment: the comment goes on.
            match (last, line.starts_with(char::is_whitespace)) {
                (Some(i), true) => {
                    if let Some(c) = &mut lines[i].1 {
                        c.push(' ');
                        c.push_str(more.trim());
                    }
                }
                _ => last = None,
            }
            continue;
        }
        let Some((key, value)) = trimmed.split_once('=') else {
            last = None;
            continue;
        };
        let key = key.trim().trim_matches('"').to_string();
        let comment = trailing_comment(value).filter(|c| !c.is_empty()).map(str::to_string);
        last = comment.is_some().then_some(lines.len());
        lines.push((key, comment));
    }
    lines
}

/// The comment after a TOML value on one line: text after a `#` outside quotes.
fn trailing_comment(value: &str) -> Option<&str> {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in value.char_indices() {
        match quote {
            Some('"') if escaped => escaped = false,
            Some('"') if c == '\\' => escaped = true,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == '#' => return Some(value[i + 1..].trim()),
            None => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_after_values_and_their_continuations() {
        let text = "name = \"x\"\n[params]\na = 1  # one\nb = \"#not\"   # two: late\n              # and more\n\
                    # about c\nc = 3\n[link]\nrtt = 1 # not a parameter\n";
        let lines = param_lines(text);
        let c = |k: &str| lines.iter().find(|(key, _)| key == k).map(|(_, c)| c.as_deref());
        assert_eq!(lines.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), ["a", "b", "c"]);
        assert_eq!(c("a"), Some(Some("one")));
        assert_eq!(c("b"), Some(Some("two: late and more")));
        assert_eq!(c("c"), Some(None));
        assert_eq!(c("rtt"), None);
    }

    #[test]
    fn ranges_in_words() {
        assert_eq!(IntRange::new(1, 1000).describe(), "a whole number from 1 to 1000");
        assert_eq!(SOCKET_BUFFER.describe(), "a size from 4KiB to 64MiB");
        assert_eq!(SizeRange::new(2944, 16 << 20).describe(), "a size from 2944 bytes to 16MiB");
        assert_eq!(choices(KERNEL_CC), "cubic, reno or bbr");
    }

    #[test]
    fn every_link_field_has_an_entry() {
        for (key, _) in super::super::raw::RawLink::default().fields() {
            assert!(plan::LINK_FIELDS.iter().any(|f| f.key == key), "{key}");
        }
    }
}
