//! `[[host.service]]` tables with `handler = "relay"`: a TCP relay ([`crate::service::relay`]).
//!
//! ```toml
//! [[host.service]]
//! handler = "relay"
//! port = 8443
//! upstream = "origin"          # a host: its replicas take the connections in turn
//! upstream_port = 443          # default: the relay's own port
//! ```
//!
//! A relay takes nothing else, and says why when it is given more: it passes TLS through (no
//! `tls`, no `upstream_tls`: its callers' TLS is the upstream's, end to end), reads no HTTP (no
//! `http`, no `response`, no service time), cannot see requests (no call policy, no
//! `concurrency`) and pools nothing (each caller's connection gets its own upstream one). Its
//! upstream must serve something on `upstream_port`. A caller of a relay is checked against
//! what answers at the end of the chain ([`end_of`]).

use std::net::SocketAddrV4;

use super::fields::Params;
use super::params::IntRange;
use super::plan::HostPlan;
use super::raw::Scalar;
use super::steps::PORT;
use super::InputError;
use crate::service::{HttpVersion, Passthrough, RelaySpec, Replica, ServiceSpec};

/// The keys a relay takes.
pub const KEYS: [&str; 4] = ["handler", "port", "upstream", "upstream_port"];

/// Relays passed through one after another, at most: more is a loop in the lab file.
pub const MAX_CHAIN: usize = 8;

/// Why a relay refuses `key`, one of the keys other handlers take.
fn refusal(key: &str) -> &'static str {
    match key {
        "tls" => "a relay passes TLS through: it holds no certificate, the caller's TLS session runs to the upstream (set `tls` on the upstream's service)",
        "upstream_tls" => "a relay passes TLS through: it speaks no TLS to its upstream, its caller does, end to end",
        "http" => "a relay copies bytes without reading HTTP: the upstream's service decides the version",
        "pool" => "a relay passes TLS through: it cannot pool connections, each caller's connection gets its own upstream connection",
        "concurrency" => "a relay cannot see requests (they may be inside TLS): it queues none, it passes every connection on",
        "response" | "time" | "dist" | "p50" | "p99" | "slow_fraction" | "slow_time" => {
            "a relay answers nothing itself: the upstream answers, through it"
        }
        _ => "a relay makes no calls of its own: it cannot see the requests inside its callers' TLS, so it has no call policy",
    }
}

/// Every key of `table` is one a relay takes; `known` are the keys other handlers take.
pub(super) fn check_keys(table: &toml::Table, at: &str, known: &[&str]) -> Result<(), InputError> {
    let allowed = KEYS.join(", ");
    for (key, value) in table {
        if KEYS.contains(&key.as_str()) {
            continue;
        }
        if known.contains(&key.as_str()) {
            return Err(InputError::new(format!(
                "{at}.{key}: {value}, but {} (allowed for a relay: {allowed})",
                refusal(key)
            )));
        }
        return Err(InputError::new(format!("{at}: unknown key `{key}` (allowed for a relay: {allowed})")));
    }
    Ok(())
}

/// The relay of `table` (its keys checked): its port and its upstream's replicas.
pub(super) fn service(
    table: &toml::Table,
    at: &str,
    hosts: &[HostPlan],
    params: &Params,
    int: &dyn Fn(&str, IntRange, u64) -> Result<u64, InputError>,
) -> Result<ServiceSpec, InputError> {
    let port = int("port", PORT, 80)? as u16;
    let field = format!("{at}.upstream");
    let name = match table.get("upstream") {
        None => return Err(InputError::new(format!("{at}: a `relay` handler needs `upstream` (a host)"))),
        Some(toml::Value::String(s)) => params.resolve(&field, &Scalar::Str(s.clone()))?.string()?,
        Some(other) => {
            return Err(InputError::new(format!(
                "{field}: `{other}`, but a relay passes each connection to one upstream (allowed: a host name; its replicas take turns)"
            )))
        }
    };
    let upstream_port = int("upstream_port", PORT, u64::from(port))? as u16;
    let replicas: Vec<Replica> = hosts
        .iter()
        .enumerate()
        .filter(|(_, h)| h.group == name || h.name == name)
        .map(|(i, h)| Replica {
            host: i,
            addr: SocketAddrV4::new(h.addr, upstream_port),
            name: h.name.clone(),
            http: HttpVersion::Http1,
            through: None,
        })
        .collect();
    if replicas.is_empty() {
        let names: Vec<&str> = hosts.iter().map(|h| h.group.as_str()).collect();
        return Err(InputError::new(format!("{field}: no host `{name}` (hosts: {})", names.join(", "))));
    }
    Ok(ServiceSpec {
        port,
        handler: crate::service::Handler::Relay(RelaySpec { replicas }),
        concurrency: None,
        tls: None,
        http: HttpVersion::Http1,
    })
}

/// What answers a caller of `host`'s `port`: the service there, or, when it is a relay, the
/// service at the end of its chain, with who that is ([`Passthrough`]). `None` when nothing
/// serves there over TCP, or the relays loop.
pub fn end_of(hosts: &[HostPlan], host: usize, port: u16) -> Option<(&ServiceSpec, Option<Passthrough>)> {
    let (mut host, mut port) = (host, port);
    let mut through = None;
    for _ in 0..=MAX_CHAIN {
        let spec = hosts.get(host)?.services.iter().find(|s| s.port == port && (s.is_http() || s.relay().is_some()))?;
        let Some(relay) = spec.relay() else { return Some((spec, through)) };
        let first = relay.replicas.first()?;
        let name = hosts.get(first.host)?.group.clone();
        through = Some(Passthrough { hosts: relay.replicas.iter().map(|r| r.host).collect(), name });
        (host, port) = (first.host, first.addr.port());
    }
    None
}

/// Every relay's upstream serves on its port, and no chain of relays loops.
pub(super) fn check(hosts: &[HostPlan], host: usize, spec: &ServiceSpec, at: &str) -> Result<(), InputError> {
    let Some(relay) = spec.relay() else { return Ok(()) };
    for r in &relay.replicas {
        let port = r.addr.port();
        let serves = hosts
            .get(r.host)
            .is_some_and(|h| h.services.iter().any(|s| s.port == port && (s.is_http() || s.relay().is_some())));
        if !serves {
            return Err(InputError::new(format!(
                "{at}.upstream_port: {port}, but `{}` serves nothing over TCP on port {port} (give it a [[host.service]] with port = {port}, or set upstream_port to a port it serves)",
                r.name
            )));
        }
    }
    if let Some((s, through)) = end_of(hosts, host, spec.port) {
        if s.http == HttpVersion::Http3 {
            // A relay copies TCP connections; HTTP/3 is QUIC on UDP (RFC 9114 §3).
            let name = through.map_or_else(String::new, |t| t.name);
            return Err(InputError::new(format!(
                "{at}.upstream: `{name}` serves HTTP/3 (QUIC, on UDP), but a relay passes TCP connections only (allowed behind a relay: a service with http = \"1.1\" or \"2\")"
            )));
        }
    }
    if end_of(hosts, host, spec.port).is_none() {
        // Walk the chain again, to say where it goes.
        let mut hops = vec![format!("{}:{}", hosts[host].name, spec.port)];
        let (mut h, mut port) = (host, spec.port);
        for _ in 0..=MAX_CHAIN {
            let Some(next) = hosts[h].services.iter().find(|s| s.port == port).and_then(|s| s.relay()) else { break };
            let Some(r) = next.replicas.first() else { break };
            (h, port) = (r.host, r.addr.port());
            hops.push(format!("{}:{port}", hosts[h].name));
        }
        return Err(InputError::new(format!(
            "{at}.upstream: the relays never reach a service ({} ...); a chain of relays ends at an HTTP service, at most {MAX_CHAIN} relays on",
            hops.join(" → ")
        )));
    }
    Ok(())
}
