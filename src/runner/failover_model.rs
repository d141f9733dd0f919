//! The theory of the dns-failover lab, from the parameters that ran: how long clients can keep
//! calling a dead backend (the TTL, and what caches add to it), what a connect to a black hole
//! costs, and how many DNS queries a TTL brings.

use std::time::Duration;

use crate::proto::dns::ClientCache;
use crate::script::events::Action;
use crate::script::plan::ScenarioPlan;
use crate::script::steps::Step;
use crate::service::fleet::{FleetSpec, KERNEL_CONNECT_TIMEOUT};
use crate::sim::fault::HostFault;

/// Linux gives up on an established connection whose data is never acknowledged after
/// `tcp_retries2` = 15 retransmissions, backing off from a 200 ms RTO to at most 120 s:
/// about 924.6 s (tcp(7)).
pub const KERNEL_DATA_GIVEUP: Duration = Duration::from_millis(924_600);

/// The figure `model` gives for `plan` (in the unit its row measures), with how it was reached,
/// or why the model does not apply.
pub fn figure(model: &str, plan: &ScenarioPlan) -> Result<(f64, String), String> {
    let fleet = plan
        .steps
        .iter()
        .find_map(|s| match s {
            Step::Clients(f) => Some(f),
            _ => None,
        })
        .ok_or("the scenario has no clients step")?;
    let dns = plan.dns.as_ref().ok_or("the lab has no [dns]")?;
    let ttl = dns.resolver.clamp(dns.ttl);
    let clamped = if ttl == dns.ttl { String::new() } else { format!(" (the resolver's clamp of {} s)", dns.ttl) };
    let secs = |d: Duration| crate::units::format_duration(d);
    match model {
        "failover_bound" => {
            let (host, down_at, fault) = plan
                .events
                .iter()
                .find_map(|e| match e.action {
                    Action::HostDown { host, fault } => Some((host, e.at, fault)),
                    _ => None,
                })
                .ok_or("no event takes a host down")?;
            let moved = plan
                .events
                .iter()
                .find(|e| {
                    matches!(&e.action, Action::DnsRecord { name, hosts } if *name == fleet.name && !hosts.contains(&host))
                        && e.at >= down_at
                })
                .ok_or("the name never moves away from the dead host")?;
            let late = moved.at - down_at;
            let late_words =
                if late.is_zero() { String::new() } else { format!("the name moves {} later, + ", secs(late)) };
            if fleet.pool && fault == HostFault::Blackhole {
                return Ok((
                    ms(KERNEL_DATA_GIVEUP),
                    "a pooled connection to a black hole breaks only when TCP gives up: Linux retransmits \
                     15 times (tcp_retries2), about 924.6 s"
                        .to_string(),
                ));
            }
            let extra = fleet.cache.beyond_ttl();
            let cache_words = match fleet.cache {
                ClientCache::None | ClientCache::Ttl => String::new(),
                c => format!(" + the clients' {} cache, {} beyond the TTL", c.name(), secs(extra)),
            };
            let bound = late + Duration::from_secs(u64::from(ttl)) + extra;
            Ok((
                ms(bound),
                format!(
                    "at most {late_words}the TTL, {ttl} s{clamped}{cache_words}: the last client to fetch the old answer \
                     got it just before the resolver's copy expired"
                ),
            ))
        }
        "connect_giveup" => Ok(match fleet.connect_timeout {
            Some(t) => (ms(t), format!("the clients' connect timeout, {}", secs(t))),
            None => (
                ms(KERNEL_CONNECT_TIMEOUT),
                "no connect timeout: the SYN is sent again after 1, 2, 4, 8, 16 and 32 s (the timer doubles from 1 s, \
                 RFC 6298), and Linux gives up 64 s after the last (tcp_syn_retries = 6): 127 s"
                    .to_string(),
            ),
        }),
        "dns_queries" => dns_queries(fleet, ttl),
        other => Err(format!("unknown model `{other}`")),
    }
}

/// About how many queries the clients send: one per request without a cache, one per cache
/// lifetime (at least one request interval) with one.
fn dns_queries(f: &FleetSpec, ttl: u32) -> Result<(f64, String), String> {
    let span = f.duration.as_secs_f64();
    let per = match f.cache.lifetime(ttl) {
        None => f.interval,
        Some(life) => life.max(f.interval),
    };
    if f.pool {
        return Err("pooled clients look the name up only when a connection breaks".into());
    }
    let n = (f64::from(f.clients) * (span / per.as_secs_f64()).ceil()).round();
    Ok((
        n,
        format!(
            "about {} clients x {} / {}: one query per {}",
            f.clients,
            crate::units::format_duration(f.duration),
            crate::units::format_duration(per),
            if f.cache.lifetime(ttl).is_none() { "request (no cache)" } else { "cache lifetime" }
        ),
    ))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
