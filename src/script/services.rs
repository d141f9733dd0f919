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
//! policy = "hedged"            # sequential | parallel | hedged | tied
//! hedge_after = "p95"          # a percentile of recent calls, or a duration
//! ```
//!
//! A service with `tls = "1.3"` (or "1.2"; "1.3" by default on port 443) serves HTTPS in that
//! version, with its host's own certificate; a gateway calls HTTPS upstreams with
//! `upstream_tls`, the same version (default: TLS 1.3 on `upstream_port`
//! 443). `upstream = ["replica-db", "primary-db"]` names several upstreams, called in turn
//! (call k goes to the k-th, modulo their number; `calls` defaults to how many are named).
//! `handler = "relay"` is a TCP relay that passes TLS through, read by [`super::relay`]; a
//! caller of a relay (a gateway, a workload) is checked against what answers behind it.

use std::net::SocketAddrV4;
use std::time::Duration;

use super::fields::{Params, Value};
use super::params::{self, Field, IntRange, Kind};
use super::plan::HostPlan;
use super::raw::Scalar;
use super::steps::PORT;
pub use super::upstreams::{served, serving, tls_name};
use super::InputError;
use crate::dist::ServiceTime;
use crate::proto::tls::TlsVersion;
use crate::service::{DnsHandler, GatewaySpec, Handler, HedgeAfter, HttpVersion, Policy, Replica, ServiceSpec};

pub const HANDLERS: &[&str] = &["bytes", "service", "gateway", "relay", "resolver", "authority"];
/// Shapes a service time can be given in by its p50 and p99 (`dist`, `p50`, `p99`).
pub const DISTS: &[&str] = &["lognormal", "pareto"];
pub const POLICIES: &[&str] = &["sequential", "parallel", "hedged", "tied"];
/// `tls` and `upstream_tls`: a TLS version, or plain HTTP.
pub const TLS_CHOICES: &[&str] = &["1.2", "1.3", "none"];
/// `http`: the HTTP version a service speaks.
pub const HTTP_CHOICES: &[&str] = &["1.1", "2", "3"];
/// The port HTTPS is on by default (a service there serves TLS 1.3 unless `tls` says otherwise).
pub const HTTPS_PORT: u16 = 443;
/// Calls a gateway makes per request.
pub const CALLS: IntRange = IntRange::new(1, 10_000);
/// Requests a service serves at once (0: no limit).
pub const CONCURRENCY: IntRange = IntRange::new(0, 100_000);
/// Warm connections per upstream replica (0: a fresh connection per call).
pub const POOL: IntRange = IntRange::new(0, 1000);
/// Retries per call.
pub const RETRIES: IntRange = IntRange::new(0, 10);

/// The keys of `[[host.service]]`, and which handler each belongs to (`None`: all).
pub const FIELDS: [(Field, Option<&str>); 24] = [
    (Field::new("port", Kind::Int(PORT), "TCP port it listens on (default 80)"), None),
    (
        Field::new(
            "http",
            Kind::Choice(HTTP_CHOICES),
            "HTTP version: 1.1 (one request at a time per connection, the default), 2 (every request a stream on one connection; callers speak it too) or 3 (HTTP/3 over QUIC on UDP; needs tls = \"1.3\")",
        ),
        None,
    ),
    (
        Field::new(
            "tls",
            Kind::Choice(TLS_CHOICES),
            "serve HTTPS in TLS 1.2 or 1.3, or none (default: 1.3 on port 443)",
        ),
        None,
    ),
    (Field::new("handler", Kind::Choice(HANDLERS), "what it does with a request"), None),
    (
        Field::new("concurrency", Kind::Int(CONCURRENCY), "requests served at once, the rest queue FIFO (0: no limit)"),
        None,
    ),
    (
        Field::new(
            "time",
            Kind::Distribution,
            "service time, e.g. \"lognormal p50=10ms p99=50ms\" (or dist, p50, p99)",
        ),
        Some("service"),
    ),
    (
        Field::new("dist", Kind::Choice(DISTS), "service time's shape, given by its p50 and p99 (instead of time)"),
        Some("service"),
    ),
    (Field::new("p50", Kind::Duration(params::SPAN), "service time's median (with dist)"), Some("service")),
    (Field::new("p99", Kind::Duration(params::SPAN), "service time's 99th percentile (with dist)"), Some("service")),
    (
        Field::new("slow_fraction", Kind::Percent, "with dist: the share of requests that hit a hiccup (0%: none)"),
        Some("service"),
    ),
    (Field::new("slow_time", Kind::Duration(params::SPAN), "with dist: how long a hiccup takes"), Some("service")),
    (Field::new("response", Kind::Size(params::BODY), "body bytes of each answer (default 1000)"), None),
    (
        Field::new("upstream", Kind::Text, "the host it calls (all replicas of it), or a list of hosts called in turn"),
        Some("gateway"),
    ),
    (Field::new("upstream_port", Kind::Int(PORT), "the upstream's port (default 80)"), Some("gateway")),
    (
        Field::new(
            "upstream_tls",
            Kind::Choice(TLS_CHOICES),
            "TLS to the upstream: 1.2, 1.3 or none (default: 1.3 on upstream_port 443, else none)",
        ),
        Some("gateway"),
    ),
    (
        Field::new("calls", Kind::Int(CALLS), "calls per request (default 1, or one per upstream named)"),
        Some("gateway"),
    ),
    (Field::new("policy", Kind::Choice(POLICIES), "how the calls are made (default sequential)"), Some("gateway")),
    (
        Field::new(
            "wait_for",
            Kind::Int(CALLS),
            "parallel: answer after this many calls (default all; other policies ignore it)",
        ),
        Some("gateway"),
    ),
    (
        Field::new(
            "hedge_after",
            Kind::HedgeAfter,
            "hedged: a percentile of recent calls (\"p95\") or a delay (\"10ms\"; other policies ignore it)",
        ),
        Some("gateway"),
    ),
    (
        Field::new(
            "tie_delay",
            Kind::Duration(params::SPAN),
            "tied: the second copy goes this long after the first (default 0ms; other policies ignore it)",
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
        let server = hosts.iter().any(|p| p.raw == i && p.role == super::plan::Role::Server);
        if let Some(s) = specs.iter().find(|s| server && crate::service::LabServer::PORTS.contains(&s.port)) {
            return Err(InputError::new(format!(
                "[[host]] {} ({}).service: port {} is the server role's own (HTTP on port 80, HTTPS on 443); give this service another port",
                i + 1,
                h.name,
                s.port
            )));
        }
        for host in hosts.iter_mut().filter(|p| p.raw == i) {
            host.services = specs.clone();
        }
    }
    for (i, h) in raw.iter().enumerate() {
        let Some(plan) = hosts.iter().position(|p| p.raw == i) else { continue };
        for (j, spec) in hosts[plan].services.iter().enumerate() {
            let at = format!("[[host]] {} ({}).service[{}]", i + 1, h.name, j + 1);
            super::relay::check(hosts, plan, spec, &at)?;
        }
    }
    for (i, h) in raw.iter().enumerate() {
        let Some(plan) = hosts.iter().position(|p| p.raw == i) else { continue };
        for j in 0..hosts[plan].services.len() {
            let Handler::Gateway(g) = &hosts[plan].services[j].handler else { continue };
            let at = format!("[[host]] {} ({}).service[{}]", i + 1, h.name, j + 1);
            let versions = super::upstreams::check_upstreams(g, hosts, &at)?;
            // Every copy of this host (its replicas) calls the same upstreams the same way.
            for host in hosts.iter_mut().filter(|p| p.raw == i) {
                if let Handler::Gateway(g) = &mut host.services[j].handler {
                    for (r, (http, through)) in g.replicas.iter_mut().zip(&versions) {
                        r.http = *http;
                        r.through = through.clone();
                    }
                }
            }
        }
    }
    Ok(())
}

/// `tls` / `upstream_tls`: a version, or none.
fn tls_choice(v: Option<Value>, default: Option<TlsVersion>) -> Result<Option<TlsVersion>, InputError> {
    Ok(match v.map(|v| v.choice(TLS_CHOICES)).transpose()?.as_deref() {
        Some("1.2") => Some(TlsVersion::Tls12),
        Some("1.3") => Some(TlsVersion::Tls13),
        Some(_) => None,
        None => default,
    })
}

fn service(table: &toml::Table, at: &str, hosts: &[HostPlan], params: &Params) -> Result<ServiceSpec, InputError> {
    let handler_name = match table.get("handler") {
        Some(toml::Value::String(s)) => s.clone(),
        _ => return Err(InputError::new(format!("{at}: needs `handler` ({})", HANDLERS.join(", ")))),
    };
    if handler_name == "relay" {
        let known: Vec<&str> = FIELDS.iter().map(|(f, _)| f.key).collect();
        super::relay::check_keys(table, at, &known)?;
    }
    for key in table.keys().filter(|_| handler_name != "relay") {
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
    if handler_name == "resolver" || handler_name == "authority" {
        if let Some(key) = table.keys().find(|k| !["handler", "port"].contains(&k.as_str())) {
            return Err(InputError::new(format!(
                "{at}.{key}: a `{handler_name}` (DNS) service takes only `port` (53); its names come from [dns]"
            )));
        }
        let port = int("port", PORT, 53)? as u16;
        if port != crate::proto::dns::PORT {
            return Err(InputError::new(format!(
                "{at}.port: {port}, but DNS services answer on port 53 (allowed: 53)"
            )));
        }
        let which = if handler_name == "resolver" { DnsHandler::Resolver } else { DnsHandler::Authority };
        return Ok(ServiceSpec {
            port,
            handler: Handler::Dns(which),
            concurrency: None,
            tls: None,
            http: HttpVersion::Http1,
        });
    }
    if handler_name == "relay" {
        return super::relay::service(table, at, hosts, params, &int);
    }
    let port = int("port", PORT, 80)? as u16;
    let tls = tls_choice(get("tls")?, (port == HTTPS_PORT).then_some(TlsVersion::Tls13))?;
    let handler_name = get("handler")?.map(|v| v.choice(HANDLERS)).transpose()?.unwrap_or_default();
    let concurrency = Some(int("concurrency", CONCURRENCY, 0)? as u32).filter(|&c| c > 0);
    let response = get("response")?.map(|v| v.size_in(params::BODY)).transpose()?.unwrap_or(1000);
    let handler = match handler_name.as_str() {
        "relay" => {
            // Named through a parameter: its keys were not checked as a relay's yet.
            let known: Vec<&str> = FIELDS.iter().map(|(f, _)| f.key).collect();
            super::relay::check_keys(table, at, &known)?;
            return super::relay::service(table, at, hosts, params, &int);
        }
        "bytes" => Handler::Bytes,
        "service" => Handler::Service { time: service_time(at, &get)?, response },
        _ => Handler::Gateway(gateway(at, table, params, &get, &int, &span, hosts, response)?),
    };
    let http = match get("http")?.map(|v| v.choice(HTTP_CHOICES)).transpose()?.as_deref() {
        Some("2") => HttpVersion::Http2,
        Some("3") => HttpVersion::Http3,
        _ => HttpVersion::Http1,
    };
    if http == HttpVersion::Http3 && tls != Some(TlsVersion::Tls13) {
        // RFC 9001 §4: QUIC's handshake is TLS 1.3's, carried in QUIC's own packets; there
        // is no QUIC with TLS 1.2 or without TLS.
        return Err(InputError::new(format!(
            "{at}.tls: {}, but http = \"3\" runs over QUIC, which carries TLS 1.3 only (RFC 9001 §4) (allowed with http = \"3\": 1.3)",
            tls_name(tls)
        )));
    }
    Ok(ServiceSpec { port, handler, concurrency, tls, http })
}

type Get<'a> = dyn Fn(&str) -> Result<Option<Value>, InputError> + 'a;
type Int<'a> = dyn Fn(&str, IntRange, u64) -> Result<u64, InputError> + 'a;
type Span<'a> = dyn Fn(&str) -> Result<Option<Duration>, InputError> + 'a;

/// The hosts `upstream` names: one (a string), or several in turn (a list of strings), each
/// possibly `${param}`.
fn upstream_names(table: &toml::Table, params: &Params, at: &str) -> Result<Vec<String>, InputError> {
    let field = format!("{at}.upstream");
    let one = |v: &toml::Value| -> Result<String, InputError> {
        match v {
            toml::Value::String(s) => params.resolve(&field, &Scalar::Str(s.clone()))?.string(),
            other => Err(InputError::new(format!("{field}: `{other}` is not a host name"))),
        }
    };
    let names = match table.get("upstream") {
        None => return Err(InputError::new(format!("{at}: a `gateway` handler needs `upstream`"))),
        Some(toml::Value::Array(list)) => list.iter().map(one).collect::<Result<Vec<_>, _>>()?,
        Some(v) => vec![one(v)?],
    };
    if names.is_empty() || names.len() > CALLS.max as usize {
        return Err(InputError::new(format!("{field}: a list of {} hosts (allowed: 1 to {})", names.len(), CALLS.max)));
    }
    Ok(names)
}

#[allow(clippy::too_many_arguments)]
fn gateway(
    at: &str,
    table: &toml::Table,
    params: &Params,
    get: &Get<'_>,
    int: &Int<'_>,
    span: &Span<'_>,
    hosts: &[HostPlan],
    response: u64,
) -> Result<GatewaySpec, InputError> {
    let names = upstream_names(table, params, at)?;
    let port = int("upstream_port", PORT, 80)? as u16;
    let mut replicas: Vec<Replica> = Vec::new();
    let mut groups = Vec::new();
    for upstream in &names {
        let start = replicas.len();
        replicas.extend(hosts.iter().enumerate().filter(|(_, h)| h.group == *upstream || h.name == *upstream).map(
            |(i, h)| Replica {
                host: i,
                addr: SocketAddrV4::new(h.addr, port),
                name: h.name.clone(),
                // Set from the replica's service once every host's services are read.
                http: HttpVersion::Http1,
                through: None,
            },
        ));
        if replicas.len() == start {
            let names: Vec<&str> = hosts.iter().map(|h| h.group.as_str()).collect();
            return Err(InputError::new(format!("{at}.upstream: no host `{upstream}` (hosts: {})", names.join(", "))));
        }
        groups.push(start..replicas.len());
    }
    let upstream = names.join(", ");
    let tls = tls_choice(get("upstream_tls")?, (port == HTTPS_PORT).then_some(TlsVersion::Tls13))?;
    let calls = int("calls", CALLS, names.len() as u64)? as u32;
    // `wait_for` and `hedge_after` are checked whatever the policy (a lab may set all three
    // from parameters), and used by the policy they belong to.
    let wait_for = get("wait_for")?.map(|v| v.int(CALLS)).transpose()?.map(|k| k as u32);
    let hedge_text = get("hedge_after")?.map(|v| v.string()).transpose()?.unwrap_or_else(|| "p95".into());
    let after = hedge_after(&hedge_text, &format!("{at}.hedge_after"))?;
    let tie_delay = get("tie_delay")?.map(|v| v.duration_in(params::SPAN)).transpose()?.unwrap_or_default();
    let policy = match get("policy")?.map(|v| v.choice(POLICIES)).transpose()?.as_deref() {
        Some("parallel") => {
            if let Some(k) = wait_for.filter(|&k| k > calls) {
                return Err(InputError::new(format!(
                    "{at}.wait_for: {k}, more than the {calls} calls (allowed: 1 to calls)"
                )));
            }
            Policy::Parallel { wait_for }
        }
        Some(p @ ("hedged" | "tied")) => {
            if groups.iter().any(|g| g.len() < 2) {
                return Err(InputError::new(format!(
                    "{at}.policy: {p} needs at least two replicas of `{upstream}` (give it replicas = 2 or more)"
                )));
            }
            match p {
                "tied" => Policy::Tied { delay: tie_delay },
                _ => Policy::Hedged { after },
            }
        }
        _ => Policy::Sequential,
    };
    Ok(GatewaySpec {
        replicas,
        groups: if names.len() > 1 { groups } else { Vec::new() },
        calls,
        policy,
        pool: int("pool", POOL, 4)? as u32,
        tls,
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

/// A service's time: `time` as text, or `dist` with `p50` and `p99` (and, optionally, a share
/// `slow_fraction` of hiccups lasting `slow_time`: the bimodal of Dean & Barroso's fan-out).
fn service_time(at: &str, get: &Get<'_>) -> Result<ServiceTime, InputError> {
    let parse = |text: &str, key: &str| {
        ServiceTime::parse(text).map_err(|e| InputError::new(format!("{at}.{key}: \"{text}\": {e}")))
    };
    let shaped = ["dist", "p50", "p99", "slow_fraction", "slow_time"];
    if let Some(v) = get("time")? {
        if let Some(k) = shaped.iter().find(|k| matches!(get(k), Ok(Some(_)))) {
            return Err(InputError::new(format!("{at}.{k}: give `time` or `dist` with `p50` and `p99`, not both")));
        }
        return parse(&v.string()?, "time");
    }
    let need = |key: &str| {
        get(key)?.ok_or_else(|| {
            InputError::new(format!(
                "{at}: a `service` handler needs `time`, or `dist` with `p50` and `p99` (missing `{key}`)"
            ))
        })
    };
    let dist = need("dist")?.choice(DISTS)?;
    let ms = |d: Duration| format!("{}us", d.as_micros());
    let p50 = need("p50")?.duration_in(params::SPAN)?;
    let p99 = need("p99")?.duration_in(params::SPAN)?;
    let base = parse(&format!("{dist} p50={} p99={}", ms(p50), ms(p99)), "p99")?;
    let slow = get("slow_fraction")?.map(|v| v.percent()).transpose()?.unwrap_or(0.0);
    if slow <= 0.0 {
        return Ok(base);
    }
    let slow_time = need("slow_time")?.duration_in(params::SPAN)?;
    Ok(ServiceTime::Bimodal { p_slow: slow, slow: Box::new(ServiceTime::Fixed(slow_time)), fast: Box::new(base) })
}
