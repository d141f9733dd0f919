//! What a caller reaches on a host's port, and whether it speaks the right TLS there: the
//! service on that port, or the one a relay passes it through to ([`super::relay::end_of`]).
//! Gateways' upstreams are checked here; a workload's in [`super::step_checks`].

use super::plan::HostPlan;
use super::InputError;
use crate::proto::tls::TlsVersion;
use crate::service::{GatewaySpec, HttpVersion, Passthrough, Policy, ServiceSpec};

/// A TLS setting as the lab file writes it.
pub fn tls_name(v: Option<TlsVersion>) -> &'static str {
    match v {
        Some(TlsVersion::Tls12) => "1.2",
        Some(TlsVersion::Tls13) => "1.3",
        None => "none",
    }
}

/// What a service with TLS setting `v` serves, in words.
pub fn served(v: Option<TlsVersion>) -> &'static str {
    match v {
        Some(TlsVersion::Tls12) => "HTTPS in TLS 1.2 only",
        Some(TlsVersion::Tls13) => "HTTPS in TLS 1.3 only",
        None => "plain HTTP",
    }
}

/// Every upstream of gateway `g` serves on its upstream port (itself, or behind a relay),
/// with TLS where `g` calls with TLS and without where it does not. Returns the HTTP version
/// each replica's service speaks, and what answers behind it when it is a relay.
pub(super) fn check_upstreams(
    g: &GatewaySpec,
    hosts: &[HostPlan],
    at: &str,
) -> Result<Vec<(HttpVersion, Option<Passthrough>)>, InputError> {
    let mut versions = Vec::new();
    for r in &g.replicas {
        let port = r.addr.port();
        let Some((s, through)) = super::relay::end_of(hosts, r.host, port) else {
            return Err(InputError::new(format!(
                "{at}.upstream_port: `{}` serves nothing on port {port} (give it a [[host.service]] with port = {port})",
                r.name
            )));
        };
        if s.tls != g.tls {
            return Err(InputError::new(format!(
                "{at}.upstream_tls: {}, but {} (allowed here: {})",
                tls_name(g.tls),
                serving(&r.name, port, s, through.as_ref()),
                tls_name(s.tls)
            )));
        }
        if s.http == HttpVersion::Http3 && matches!(g.policy, Policy::Tied { .. }) {
            // A tied copy's cancellation goes over UDP to its twin's service port, which QUIC
            // holds on an HTTP/3 service.
            return Err(InputError::new(format!(
                "{at}.policy: tied, but `{}` serves HTTP/3 on port {port}, whose UDP port QUIC holds, so no tied copy could cancel its twin there (allowed with HTTP/3 upstreams: sequential, parallel, hedged)",
                r.name
            )));
        }
        versions.push((s.http, through));
    }
    Ok(versions)
}

/// What `name` serves on `port`, in words: `s` itself, or `s` behind it when it relays.
pub fn serving(name: &str, port: u16, s: &ServiceSpec, through: Option<&Passthrough>) -> String {
    match through {
        Some(t) => format!("`{name}` passes port {port} through to `{}`, which serves {}", t.name, served(s.tls)),
        None => format!("`{name}` serves {} on port {port}", served(s.tls)),
    }
}
