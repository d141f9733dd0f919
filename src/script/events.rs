//! Events on a schedule: `[[scenario.event]]` tables, resolved for one scenario.
//!
//! ```toml
//! [[scenario.event]]                      # a host goes down: silently, or rejecting
//! at = "30s"
//! host = "primary"
//! state = "down"                          # or "up"
//! mode = "blackhole"                      # or "reject" (down only; default blackhole)
//!
//! [[scenario.event]]                      # a path is cut, or restored
//! at = "10s"
//! path = ["client", "server"]
//! state = "down"                          # or "up"
//!
//! [[scenario.event]]                      # a path's settings change (both directions, or
//! at = "20s"                              # `up` / `down` for one): the words apply on top of
//! path = ["client", "server"]             # the path as the lab file sets it, so a later
//! netem = "delay 100ms loss 5%"           # event with `netem = ""` restores it
//!
//! [[scenario.event]]                      # the authority moves a name (health-checked DNS)
//! at = "30s"
//! dns = "api.example.lab"
//! to = "standby"                          # a host, or a list of hosts (several A records)
//! ```
//!
//! `at` is virtual time since the scenario's time 0 (when its first step starts, after the
//! warm-up), or with `after = N` since its N-th step started, and may use parameters (`at =
//! "${fail_at}"`). An optional `name` labels the event in the timeline and the captures; by
//! default the label says what happens.

use std::time::Duration;

use super::fields::Params;
use super::params::{self, Field, Kind};
use super::plan::{DnsPlan, HostPlan};
use super::raw::Scalar;
use super::InputError;
use crate::link::LinkConfig;
use crate::sim::fault::HostFault;

/// What an event does.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// The host goes down: it sends nothing, and what arrives for it is dropped or refused.
    HostDown {
        host: usize,
        fault: HostFault,
    },
    /// The host is reachable again.
    HostUp {
        host: usize,
    },
    /// Both directions between the two hosts drop everything.
    PathDown {
        a: usize,
        b: usize,
    },
    PathUp {
        a: usize,
        b: usize,
    },
    /// The path's settings from now on: `forward` from `a` to `b`, `back` from `b` to `a`.
    PathChange {
        a: usize,
        b: usize,
        forward: Box<LinkConfig>,
        back: Box<LinkConfig>,
    },
    /// The authority answers `name` with these hosts' addresses from now on.
    DnsRecord {
        name: String,
        hosts: Vec<usize>,
    },
}

/// One scheduled event of a scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct EventPlan {
    /// Since the scenario's time 0, or since the start of step `after`.
    pub at: Duration,
    /// The step (an index into the warm-up and the steps, in order) whose start `at` counts
    /// from, when the event says `after = N` (the scenario's N-th step).
    pub after: Option<usize>,
    pub action: Action,
    /// What the timeline and the captures call it.
    pub label: String,
}

/// The keys of an event table, with what they mean (for errors and `show`).
pub const EVENT_FIELDS: [Field; 11] = [
    Field::new("at", Kind::Duration(params::SPAN), "when, since the scenario's time 0 (or since step `after` started)"),
    Field::new(
        "after",
        Kind::Int(params::IntRange::new(1, 10_000)),
        "count `at` from the start of the scenario's N-th step",
    ),
    Field::new("host", Kind::Text, "the host that goes down or comes up"),
    Field::new("path", Kind::Text, "the two hosts whose path is cut or restored"),
    Field::new("state", Kind::Choice(STATES), "down or up"),
    Field::new("mode", Kind::Choice(MODES), "how a down host treats packets: blackhole (silent) or reject (RST, ICMP)"),
    Field::new("netem", Kind::Text, "a path's new settings, both ways, on top of the path as the lab sets it"),
    Field::new("up", Kind::Text, "a path's new settings from its first host to its second"),
    Field::new("down", Kind::Text, "a path's new settings from its second host to its first"),
    Field::new("dns", Kind::Text, "the DNS name the authority moves"),
    Field::new("to", Kind::Text, "the host (or list of hosts) the name points at from then on"),
];
const STATES: &[&str] = &["down", "up"];
const MODES: &[&str] = &["blackhole", "reject"];

/// What resolving events needs from the scenario's plan.
pub struct Context<'a> {
    pub hosts: &'a [HostPlan],
    pub dns: Option<&'a DnsPlan>,
    pub params: &'a Params,
    /// (warm-up steps, steps), for `after`.
    pub steps: (usize, usize),
    /// A direction's settings as the lab file sets them, `(from, to)`.
    pub link: &'a dyn Fn(usize, usize) -> LinkConfig,
    /// Netem words on top of a config (trace files read next to the lab), `field` for errors.
    pub words: &'a dyn Fn(LinkConfig, &str, &str) -> Result<LinkConfig, InputError>,
}

/// Resolves the scenario's `[[scenario.event]]` tables, in time order (ties in file order).
pub fn resolve(tables: &[toml::Table], cx: &Context<'_>, at: &str) -> Result<Vec<EventPlan>, InputError> {
    let mut events = Vec::with_capacity(tables.len());
    for (i, table) in tables.iter().enumerate() {
        events.push(event(table, cx, &format!("{at}.event[{}]", i + 1))?);
    }
    events.sort_by_key(|e| (e.after.is_some(), e.at));
    Ok(events)
}

/// One event table.
fn event(table: &toml::Table, cx: &Context<'_>, at: &str) -> Result<EventPlan, InputError> {
    let (hosts, dns, params, steps) = (cx.hosts, cx.dns, cx.params, cx.steps);
    let allowed: Vec<&str> = EVENT_FIELDS.iter().map(|f| f.key).chain(["name"]).collect();
    if let Some(key) = table.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(InputError::new(format!("{at}: unknown key `{key}` (allowed: {})", allowed.join(", "))));
    }
    let value = |key: &str| -> Result<Option<super::fields::Value>, InputError> {
        match table.get(key) {
            None => Ok(None),
            Some(toml::Value::String(s)) => params.resolve(&format!("{at}.{key}"), &Scalar::Str(s.clone())).map(Some),
            Some(toml::Value::Integer(n)) => params.resolve(&format!("{at}.{key}"), &Scalar::Int(*n)).map(Some),
            Some(other) => Err(InputError::new(format!("{at}.{key}: `{other}` is not a value"))),
        }
    };
    let names = |key: &str| -> Result<Option<Vec<String>>, InputError> {
        match table.get(key) {
            Some(toml::Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    toml::Value::String(s) => Ok(s.clone()),
                    other => Err(InputError::new(format!("{at}.{key}: `{other}` is not a host name"))),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            _ => Ok(value(key)?.map(|v| v.string()).transpose()?.map(|s| vec![s])),
        }
    };
    let host = |name: &str, key: &str| -> Result<usize, InputError> {
        hosts.iter().position(|h| h.name == name).ok_or_else(|| {
            let all: Vec<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
            InputError::new(format!("{at}.{key}: unknown host `{name}` (hosts: {})", all.join(", ")))
        })
    };
    let when = value("at")?
        .ok_or_else(|| {
            InputError::new(format!("{at}: an event needs `at` (a time since the scenario's start, e.g. \"30s\")"))
        })?
        .duration_in(params::SPAN)?;
    let after = match value("after")?.map(|v| v.int(params::IntRange::new(1, 10_000))).transpose()? {
        Some(n) if n as usize > steps.1 => {
            return Err(InputError::new(format!(
                "{at}.after: step {n}, but the scenario has {} step{} (allowed: 1 to {})",
                steps.1,
                if steps.1 == 1 { "" } else { "s" },
                steps.1
            )))
        }
        Some(n) => Some(steps.0 + n as usize - 1),
        None => None,
    };
    let state = value("state")?.map(|v| v.choice(STATES)).transpose()?;
    let mode = value("mode")?.map(|v| v.choice(MODES)).transpose()?;
    let targets = [
        ("host", table.contains_key("host")),
        ("path", table.contains_key("path")),
        ("dns", table.contains_key("dns")),
    ];
    let given: Vec<&str> = targets.iter().filter(|(_, g)| *g).map(|(k, _)| *k).collect();
    if given.len() != 1 {
        return Err(InputError::new(format!(
            "{at}: an event names one of `host`, `path` or `dns` (found {})",
            if given.is_empty() { "none".to_string() } else { given.join(" and ") }
        )));
    }
    if mode.is_some() && !(given[0] == "host" && state.as_deref() == Some("down")) {
        return Err(InputError::new(format!("{at}.mode: only a host that goes down (state = \"down\") has a mode")));
    }
    let need_state = || {
        state.clone().ok_or_else(|| InputError::new(format!("{at}: a `{}` event needs `state` (down or up)", given[0])))
    };
    let (action, label) = match given[0] {
        "host" => {
            let name = value("host")?.map(|v| v.string()).transpose()?.unwrap_or_default();
            let h = host(&name, "host")?;
            match need_state()?.as_str() {
                "down" => {
                    let fault = match mode.as_deref() {
                        Some("reject") => HostFault::Reject,
                        _ => HostFault::Blackhole,
                    };
                    let how = match fault {
                        HostFault::Blackhole => "black-holes what it is sent",
                        HostFault::Reject => "rejects what it is sent",
                    };
                    (Action::HostDown { host: h, fault }, format!("{name} goes down ({how})"))
                }
                _ => (Action::HostUp { host: h }, format!("{name} comes back up")),
            }
        }
        "path" if ["netem", "up", "down"].iter().any(|k| table.contains_key(*k)) => {
            if state.is_some() {
                return Err(InputError::new(format!(
                    "{at}: a path event either changes the path's settings (`netem`, `up`, `down`) or sets its `state`, not both"
                )));
            }
            let ends = names("path")?.unwrap_or_default();
            let [a, b] = ends.as_slice() else {
                return Err(InputError::new(format!(
                    "{at}.path: expected two host names, e.g. path = [\"client\", \"server\"]"
                )));
            };
            let (ha, hb) = (host(a, "path")?, host(b, "path")?);
            // Empty words are allowed: the path as the lab file sets it.
            let text = |key: &str| match table.get(key) {
                Some(toml::Value::String(w)) if w.trim().is_empty() => Ok(Some(String::new())),
                _ => value(key).and_then(|v| v.map(|v| v.string()).transpose()),
            };
            let (both, up, down) = (text("netem")?, text("up")?, text("down")?);
            let apply = |from: usize, to: usize, side: &Option<String>, key: &str| {
                let mut cfg = (cx.link)(from, to);
                if let Some(w) = &both {
                    cfg = (cx.words)(cfg, w, &format!("{at}.netem"))?;
                }
                if let Some(w) = side {
                    cfg = (cx.words)(cfg, w, &format!("{at}.{key}"))?;
                }
                cfg.validate().map_err(|e| InputError::new(format!("{at}: {e}")))?;
                Ok::<_, InputError>(cfg)
            };
            let forward = Box::new(apply(ha, hb, &up, "up")?);
            let back = Box::new(apply(hb, ha, &down, "down")?);
            let words: Vec<String> = [("", &both), ("up: ", &up), ("down: ", &down)]
                .iter()
                .filter_map(|(p, w)| {
                    w.as_ref().map(|w| format!("{p}{}", if w.trim().is_empty() { "as set" } else { w }))
                })
                .collect();
            (
                Action::PathChange { a: ha, b: hb, forward, back },
                format!("the path {a}–{b} changes: {}", words.join("; ")),
            )
        }
        "path" => {
            let ends = names("path")?.unwrap_or_default();
            let [a, b] = ends.as_slice() else {
                return Err(InputError::new(format!(
                    "{at}.path: expected two host names, e.g. path = [\"client\", \"server\"]"
                )));
            };
            let (ha, hb) = (host(a, "path")?, host(b, "path")?);
            if ha == hb {
                return Err(InputError::new(format!("{at}.path: `{a}` twice; a path joins two hosts")));
            }
            match need_state()?.as_str() {
                "down" => (Action::PathDown { a: ha, b: hb }, format!("the path {a}–{b} is cut")),
                _ => (Action::PathUp { a: ha, b: hb }, format!("the path {a}–{b} is restored")),
            }
        }
        _ => {
            if state.is_some() {
                return Err(InputError::new(format!("{at}.state: a `dns` event moves a name; it has no state")));
            }
            let name = value("dns")?.map(|v| v.string()).transpose()?.unwrap_or_default();
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            let Some(zone) = dns else {
                return Err(InputError::new(format!("{at}.dns: the lab has no [dns] section")));
            };
            if !zone.names.contains_key(&name) {
                let known: Vec<&str> = zone.names.keys().map(String::as_str).collect();
                return Err(InputError::new(format!(
                    "{at}.dns: `{name}` is not a name in [dns].names (names: {})",
                    known.join(", ")
                )));
            }
            let to = names("to")?.ok_or_else(|| {
                InputError::new(format!("{at}: a `dns` event needs `to`, the host (or hosts) the name points at"))
            })?;
            if to.is_empty() {
                return Err(InputError::new(format!("{at}.to: empty; name at least one host")));
            }
            let hosts_to = to.iter().map(|n| host(n, "to")).collect::<Result<Vec<_>, _>>()?;
            (
                Action::DnsRecord { name: name.clone(), hosts: hosts_to },
                format!("{name} now points at {}", to.join(", ")),
            )
        }
    };
    let label = match value("name")? {
        Some(v) => v.string()?,
        None => label,
    };
    Ok(EventPlan { at: when, after, action, label })
}

/// Refuses events that could never happen: at or after the end of the scenario's steps that
/// have a duration of their own (`scripted`), or of its `time_limit`.
pub fn check_times(events: &[EventPlan], scripted: Duration, time_limit: Duration, at: &str) -> Result<(), InputError> {
    let fmt = crate::units::format_duration;
    let (end, what) =
        if scripted.is_zero() { (time_limit, "params.time_limit") } else { (scripted, "the scenario's steps") };
    // An event counted from a step is checked against the time limit only.
    let late = |e: &&EventPlan| if e.after.is_some() { e.at >= time_limit } else { e.at >= end };
    match events.iter().find(late) {
        Some(e) => Err(InputError::new(format!(
            "{at}: event `{}` at {} is not before the end of {what} ({}), so it would never happen (allowed: at < {})",
            e.label,
            fmt(e.at),
            fmt(end),
            fmt(end)
        ))),
        None => Ok(()),
    }
}
