//! `[[host.service]]` tables, resolved per scenario into [`ServiceSpec`]s.
//!
//! ```toml
//! [[host]]
//! name = "gateway"
//! addr = "10.0.0.2"
//! [[host.service]]
//! handler = "gateway"          # bytes | service | gateway
//! upstream = "backend"         # a host, or all replicas of one
//! calls = 4
//! policy = "hedged"            # sequential | parallel | hedged
//! hedge_after = "p95"          # a percentile of recent calls, or a duration
//! ```

use std::net::SocketAddrV4;
use std::time::Duration;

use super::fields::{Params, Value};
use super::params::{self, Field, IntRange, Kind};
use super::plan::HostPlan;
use super::raw::Scalar;
use super::steps::PORT;
use super::InputError;
use crate::dist::ServiceTime;
use crate::service::{GatewaySpec, Handler, HedgeAfter, Policy, Replica, ServiceSpec};

pub const HANDLERS: &[&str] = &["bytes", "service", "gateway"];
pub const POLICIES: &[&str] = &["sequential", "parallel", "hedged"];
/// Calls a gateway makes per request.
pub const CALLS: IntRange = IntRange::new(1, 10_000);
/// Requests a service serves at once (0: no limit).
pub const CONCURRENCY: IntRange = IntRange::new(0, 100_000);
/// Warm connections per upstream replica (0: a fresh connection per call).
pub const POOL: IntRange = IntRange::new(0, 1000);
/// Retries per call.
pub const RETRIES: IntRange = IntRange::new(0, 10);

/// The keys of `[[host.service]]`, and which handler each belongs to (`None`: all).
pub const FIELDS: [(Field, Option<&str>); 15] = [
    (Field::new("port", Kind::Int(PORT), "TCP port it listens on (default 80)"), None),
    (Field::new("handler", Kind::Choice(HANDLERS), "what it does with a request"), None),
    (
        Field::new("concurrency", Kind::Int(CONCURRENCY), "requests served at once, the rest queue FIFO (0: no limit)"),
        None,
    ),
    (
        Field::new("time", Kind::Text, "service time, e.g. \"lognormal p50=10ms p99=50ms\" (see `wirelab help dist`)"),
        Some("service"),
    ),
    (Field::new("response", Kind::Size(params::BODY), "body bytes of each answer (default 1000)"), None),
    (Field::new("upstream", Kind::Text, "the host it calls (all replicas of it)"), Some("gateway")),
    (Field::new("upstream_port", Kind::Int(PORT), "the upstream's port (default 80)"), Some("gateway")),
    (Field::new("calls", Kind::Int(CALLS), "calls per request (default 1)"), Some("gateway")),
    (Field::new("policy", Kind::Choice(POLICIES), "how the calls are made (default sequential)"), Some("gateway")),
    (Field::new("wait_for", Kind::Int(CALLS), "parallel: answer after this many calls (default all)"), Some("gateway")),
    (
        Field::new(
            "hedge_after",
            Kind::Text,
            "hedged: a percentile of recent calls (\"p95\") or a delay (\"10ms\"); other policies ignore it",
        ),
        Some("gateway"),
    ),
    (
        Field::new("pool", Kind::Int(POOL), "warm connections per replica (0: fresh per call; default 4)"),
        Some("gateway"),
    ),
    (
        Field::new("per_try_timeout", Kind::Duration(params::SPAN), "cancel and retry a try after this (0: never)"),
        Some("gateway"),
    ),
    (
        Field::new("deadline", Kind::Duration(params::SPAN), "answer 504 after this, every try included (0: none)"),
        Some("gateway"),
    ),
    (
        Field::new("retries", Kind::Int(RETRIES), "retries per call, within the retry budget (default 0)"),
        Some("gateway"),
    ),
];

/// The retry budget's deposit per call (Finagle's default `percentCanRetry`, 20%).
pub const RETRY_RATIO: f64 = 0.2;

/// Reads every host's services for a scenario with `params`.
pub fn resolve(raw: &[super::raw::RawHost], hosts: &mut [HostPlan], params: &Params) -> Result<(), InputError> {
    for (i, h) in raw.iter().enumerate() {
        let mut specs = Vec::new();
        for (j, table) in h.services.iter().enumerate() {
            let at = format!("[[host]] {} ({}).service[{}]", i + 1, h.name, j + 1);
            specs.push(service(table, &at, hosts, params)?);
        }
        for s in &specs {
            if specs.iter().filter(|o| o.port == s.port).count() > 1 {
                return Err(InputError::new(format!(
                    "[[host]] {} ({}).service: two services on port {}",
                    i + 1,
                    h.name,
                    s.port
                )));
            }
        }
        for host in hosts.iter_mut().filter(|p| p.raw == i) {
            host.services = specs.clone();
        }
    }
    Ok(())
}

fn service(table: &toml::Table, at: &str, hosts: &[HostPlan], params: &Params) -> Result<ServiceSpec, InputError> {
    let handler_name = match table.get("handler") {
        Some(toml::Value::String(s)) => s.clone(),
        _ => return Err(InputError::new(format!("{at}: needs `handler` ({})", HANDLERS.join(", ")))),
    };
    for key in table.keys() {
        match FIELDS.iter().find(|(f, _)| f.key == key) {
            None => {
                let keys: Vec<&str> = FIELDS.iter().map(|(f, _)| f.key).collect();
                return Err(InputError::new(format!("{at}: unknown key `{key}` (allowed: {})", keys.join(", "))));
            }
            Some((_, Some(only))) if *only != handler_name => {
                return Err(InputError::new(format!(
                    "{at}.{key}: only a `{only}` handler takes it; this one is `{handler_name}`"
                )))
            }
            _ => {}
        }
    }
    let get = |key: &str| -> Result<Option<Value>, InputError> {
        let Some(v) = table.get(key) else { return Ok(None) };
        let scalar = match v {
            toml::Value::String(s) => Scalar::Str(s.clone()),
            toml::Value::Integer(n) => Scalar::Int(*n),
            toml::Value::Float(x) => Scalar::Float(*x),
            toml::Value::Boolean(b) => Scalar::Bool(*b),
            other => return Err(InputError::new(format!("{at}.{key}: `{other}` is not a value"))),
        };
        params.resolve(&format!("{at}.{key}"), &scalar).map(Some)
    };
    let int = |key: &str, range: IntRange, default: u64| -> Result<u64, InputError> {
        get(key)?.map(|v| v.int(range)).transpose().map(|v| v.unwrap_or(default))
    };
    let span = |key: &str| -> Result<Option<Duration>, InputError> {
        Ok(get(key)?.map(|v| v.duration_in(params::SPAN)).transpose()?.filter(|d| !d.is_zero()))
    };
    let port = int("port", PORT, 80)? as u16;
    let handler_name = get("handler")?.map(|v| v.choice(HANDLERS)).transpose()?.unwrap_or_default();
    let concurrency = Some(int("concurrency", CONCURRENCY, 0)? as u32).filter(|&c| c > 0);
    let response = get("response")?.map(|v| v.size_in(params::BODY)).transpose()?.unwrap_or(1000);
    let handler = match handler_name.as_str() {
        "bytes" => Handler::Bytes,
        "service" => {
            let v = get("time")?.ok_or_else(|| InputError::new(format!("{at}: a `service` handler needs `time`")))?;
            let text = v.string()?;
            let time = ServiceTime::parse(&text).map_err(|e| InputError::new(format!("{at}.time: \"{text}\": {e}")))?;
            Handler::Service { time, response }
        }
        _ => Handler::Gateway(gateway(at, &get, &int, &span, hosts, response)?),
    };
    Ok(ServiceSpec { port, handler, concurrency })
}

type Get<'a> = dyn Fn(&str) -> Result<Option<Value>, InputError> + 'a;
type Int<'a> = dyn Fn(&str, IntRange, u64) -> Result<u64, InputError> + 'a;
type Span<'a> = dyn Fn(&str) -> Result<Option<Duration>, InputError> + 'a;

fn gateway(
    at: &str,
    get: &Get<'_>,
    int: &Int<'_>,
    span: &Span<'_>,
    hosts: &[HostPlan],
    response: u64,
) -> Result<GatewaySpec, InputError> {
    let upstream = get("upstream")?
        .ok_or_else(|| InputError::new(format!("{at}: a `gateway` handler needs `upstream`")))?
        .string()?;
    let port = int("upstream_port", PORT, 80)? as u16;
    let replicas: Vec<Replica> = hosts
        .iter()
        .enumerate()
        .filter(|(_, h)| h.group == upstream || h.name == upstream)
        .map(|(i, h)| Replica { host: i, addr: SocketAddrV4::new(h.addr, port), name: h.name.clone() })
        .collect();
    if replicas.is_empty() {
        let names: Vec<&str> = hosts.iter().map(|h| h.group.as_str()).collect();
        return Err(InputError::new(format!("{at}.upstream: no host `{upstream}` (hosts: {})", names.join(", "))));
    }
    let calls = int("calls", CALLS, 1)? as u32;
    let policy = match get("policy")?.map(|v| v.choice(POLICIES)).transpose()?.as_deref() {
        Some("parallel") => {
            let wait_for = get("wait_for")?.map(|v| v.int(CALLS)).transpose()?.map(|k| k as u32);
            if let Some(k) = wait_for.filter(|&k| k > calls) {
                return Err(InputError::new(format!(
                    "{at}.wait_for: {k}, more than the {calls} calls (allowed: 1 to calls)"
                )));
            }
            Policy::Parallel { wait_for }
        }
        Some("hedged") => {
            if replicas.len() < 2 {
                return Err(InputError::new(format!(
                    "{at}.policy: hedged needs at least two replicas of `{upstream}` (give it replicas = 2 or more)"
                )));
            }
            let text = get("hedge_after")?.map(|v| v.string()).transpose()?.unwrap_or_else(|| "p95".into());
            Policy::Hedged { after: hedge_after(&text, &format!("{at}.hedge_after"))? }
        }
        _ => Policy::Sequential,
    };
    if !matches!(policy, Policy::Parallel { .. }) && get("wait_for")?.is_some() {
        return Err(InputError::new(format!("{at}.wait_for: only a parallel policy waits for some of its calls")));
    }
    // `hedge_after` is read by a hedged policy only; others take it and ignore it, so that one
    // gateway in a lab file can serve scenarios with different policies (tail-latency's
    // `policy = "${policy}"`, `hedge_after = "${hedge_after}"`). A bad value is still refused.
    if let (false, Some(v)) = (matches!(policy, Policy::Hedged { .. }), get("hedge_after")?) {
        hedge_after(&v.string()?, &format!("{at}.hedge_after"))?;
    }
    Ok(GatewaySpec {
        replicas,
        calls,
        policy,
        pool: int("pool", POOL, 4)? as u32,
        per_try_timeout: span("per_try_timeout")?,
        deadline: span("deadline")?,
        retries: int("retries", RETRIES, 0)? as u32,
        retry_ratio: RETRY_RATIO,
        response,
    })
}

/// `p95` (a percentile of recent calls, 50 to 99.99) or a duration (`0ms`: at once).
pub fn hedge_after(text: &str, at: &str) -> Result<HedgeAfter, InputError> {
    if let Some(p) = text.strip_prefix('p') {
        return match p.parse::<f64>() {
            Ok(p) if (50.0..=99.99).contains(&p) => Ok(HedgeAfter::Percentile(p)),
            _ => Err(InputError::new(format!(
                "{at}: \"{text}\" (allowed: a percentile from p50 to p99.99, or a duration such as 10ms)"
            ))),
        };
    }
    crate::units::parse_duration(text)
        .ok()
        .filter(|d| *d <= Duration::from_secs(3600))
        .map(HedgeAfter::Delay)
        .ok_or_else(|| {
            InputError::new(format!(
                "{at}: \"{text}\" (allowed: a percentile such as p95, or a duration from 0ms to 1h)"
            ))
        })
}
