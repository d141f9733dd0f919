//! Whether a scenario's steps fit its hosts: each step names a host or DNS name that exists,
//! TLS and plain requests go to the ports that speak them, and a kernel host (real time) is
//! given only what the kernel can play. Called by [`super::plan::plan`] while it resolves a
//! scenario; every error names the scenario, the step and what would fix it.

use super::plan::{DnsPlan, HostPlan, Role};
use super::steps::Step;
use super::InputError;
use crate::service::DnsHandler;

/// What a kernel host can be: the server, answering plain HTTP on port 80 (wirelab runs that
/// server on the kernel's sockets inside the host's namespace), or the client, whose steps are
/// real commands (`exec`) run inside its namespace.
pub(super) fn check_kernel_host<'s>(
    host: &HostPlan,
    steps: impl Iterator<Item = &'s Step>,
    at: &str,
) -> Result<(), InputError> {
    if !matches!(host.role, Role::Server | Role::Client) {
        return Err(InputError::new(format!(
            "{at}.kernel: host `{}` has role {:?}; only the client or the server can be a kernel host",
            host.name, host.role
        )));
    }
    for step in steps {
        let ok = match (host.role, step) {
            (Role::Server, Step::Connect { port, .. }) => *port == 80,
            (Role::Server, Step::Request { .. } | Step::Idle { .. } | Step::Close | Step::Exec { .. }) => true,
            (Role::Client, Step::Exec { .. } | Step::Idle { .. }) => true,
            _ => false,
        };
        if !ok {
            let what = match host.role {
                Role::Server => "serves plain HTTP on port 80 only (steps: connect to port 80, request, idle, close)",
                _ => "runs real commands only (steps: exec, idle)",
            };
            return Err(InputError::new(format!(
                "{at}.kernel: the kernel {} `{}` {what}; this scenario has a `{}` step",
                if host.role == Role::Server { "server" } else { "client" },
                host.name,
                step.kind()
            )));
        }
    }
    Ok(())
}

pub(super) fn check_step(step: &Step, hosts: &[HostPlan], dns: Option<&DnsPlan>, at: &str) -> Result<(), InputError> {
    match step {
        Step::Dns { name } => {
            let Some(dns) = dns else {
                return Err(InputError::new(format!("{at}: a `dns` step needs a [dns] section with names")));
            };
            if !dns.names.contains_key(&name.to_ascii_lowercase()) {
                let names: Vec<&str> = dns.names.keys().map(String::as_str).collect();
                return Err(InputError::new(format!(
                    "{at}: `dns` step for `{name}`, which [dns].names does not define ({})",
                    names.join(", ")
                )));
            }
            if !hosts.iter().any(|h| h.serves_dns(DnsHandler::Resolver))
                || !hosts.iter().any(|h| h.serves_dns(DnsHandler::Authority))
            {
                return Err(InputError::new(format!(
                    "{at}: a `dns` step needs a resolver and an authority (role = \"resolver\" and \"authority\", or services with handler = \"resolver\" and \"authority\")"
                )));
            }
        }
        Step::Clients(c) => {
            let names = dns.map(|d| d.names.keys().map(String::as_str).collect::<Vec<_>>()).unwrap_or_default();
            if !names.contains(&c.name.as_str()) {
                return Err(InputError::new(format!(
                    "{at}.to: `{}` is not a name in [dns].names (names: {}); the clients look it up",
                    c.name,
                    if names.is_empty() { "none".to_string() } else { names.join(", ") }
                )));
            }
            if !hosts.iter().any(|h| h.serves_dns(DnsHandler::Resolver))
                || !hosts.iter().any(|h| h.serves_dns(DnsHandler::Authority))
            {
                return Err(InputError::new(format!(
                    "{at}: a `clients` step needs a resolver and an authority (role = \"resolver\" and \"authority\", or services with handler = \"resolver\" and \"authority\")"
                )));
            }
        }
        Step::Workload(w) => {
            // What answers there: the service, or the one behind a relay.
            let service = hosts
                .iter()
                .enumerate()
                .filter(|(_, h)| h.name == w.to || h.group == w.to)
                .find_map(|(i, _)| super::relay::end_of(hosts, i, w.port));
            let Some((service, through)) = service else {
                return Err(InputError::new(format!(
                    "{at}: `workload` to `{}` port {}, where no host serves (give it a [[host.service]] with port = {})",
                    w.to, w.port, w.port
                )));
            };
            if service.tls != w.tls {
                use super::services::{serving, tls_name};
                return Err(InputError::new(format!(
                    "{at}.tls: {}, but {} (allowed here: {})",
                    tls_name(w.tls),
                    serving(&w.to, w.port, service, through.as_ref()),
                    tls_name(service.tls)
                )));
            }
        }
        Step::Connect { to, .. } => {
            let known = hosts.iter().any(|h| h.name == *to)
                || dns.is_some_and(|d| d.names.contains_key(&to.to_ascii_lowercase()));
            if !known {
                return Err(InputError::new(format!(
                    "{at}: `connect` to `{to}`, which is neither a host nor a name in [dns].names"
                )));
            }
        }
        _ => {}
    }
    Ok(())
}

/// Steps that need a connection come after a `connect`; TLS only where the server speaks it
/// (port 443; port 80 serves plain HTTP) and a plain request only where it does not.
pub(super) fn check_sequence<'a>(steps: impl Iterator<Item = &'a Step>, at: &str) -> Result<(), InputError> {
    // (port, TLS started) of the open connection.
    let mut conn: Option<(u16, bool)> = None;
    for (i, step) in steps.enumerate() {
        let here = format!("{at}: step {} ({})", i + 1, step.kind());
        match step {
            Step::Connect { port, .. } => conn = Some((*port, false)),
            Step::Close => conn = None,
            Step::Tls { .. } => match conn {
                None => return Err(InputError::new(format!("{here}: TLS needs a `connect` step before it"))),
                Some((80, _)) => {
                    return Err(InputError::new(format!(
                        "{here}: the connection is to port 80, which serves plain HTTP (HTTPS is on port 443)"
                    )))
                }
                Some((_, true)) => return Err(InputError::new(format!("{here}: TLS has already been set up on this connection"))),
                Some((port, false)) => conn = Some((port, true)),
            },
            Step::Request { .. } => match conn {
                None => return Err(InputError::new(format!("{here}: a request needs a `connect` step before it"))),
                Some((443, false)) => {
                    return Err(InputError::new(format!(
                        "{here}: the connection is to port 443, which serves HTTPS: add a `tls` step before the request (or connect to port 80)"
                    )))
                }
                Some(_) => {}
            },
            // The pool's connections follow the same rule: HTTPS on 443, plain HTTP on 80.
            Step::Bursts(b) => match (b.port, b.tls) {
                (80, Some(_)) => {
                    return Err(InputError::new(format!(
                        "{here}: port 80 serves plain HTTP, and bursts use TLS unless they say otherwise: add tls = \"none\" (or use port 443)"
                    )))
                }
                (443, None) => {
                    return Err(InputError::new(format!(
                        "{here}: port 443 serves HTTPS: tls = \"1.3\" or \"1.2\" (or use port 80 for plain HTTP)"
                    )))
                }
                _ => {}
            },
            _ => {}
        }
    }
    Ok(())
}
