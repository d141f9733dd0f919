//! `{ step = "clients", ... }`: a fleet of client programs calling a DNS name on a schedule
//! (`service::fleet`), as the dns-failover lab runs them.

use std::time::Duration;

use super::fields::Value;
use super::params::{self, Field, IntRange, Kind};
use super::InputError;
use crate::proto::dns::{ClientCache, CLIENT_CACHES};
use crate::service::fleet::FleetSpec;

/// `clients`: programs in the fleet.
pub const CLIENTS: IntRange = IntRange::new(1, 1000);
/// `interval`: between one program's requests.
pub const INTERVAL: params::DurationRange =
    params::DurationRange::new(Duration::from_millis(1), Duration::from_secs(24 * 3600));
/// `connect_timeout`.
pub const CONNECT_TIMEOUT: params::DurationRange =
    params::DurationRange::new(Duration::from_millis(1), Duration::from_secs(3600));
/// The most requests a fleet sends in all.
pub const MAX_REQUESTS: u128 = 2_000_000;
/// The cache presets' names.
pub const CACHE_NAMES: &[&str] = &["none", "ttl", "java", "chromium", "curl"];

/// The keys of a `clients` step.
pub const FIELDS: &[Field] = &[
    Field::new("to", Kind::Text, "the DNS name every request goes to (in [dns].names)"),
    Field::new("port", Kind::Int(IntRange::new(1, 65535)), "the service's port (default 80)"),
    Field::new("clients", Kind::Int(CLIENTS), "client programs, each with its own DNS cache"),
    Field::new("interval", Kind::Duration(INTERVAL), "time between one program's requests"),
    Field::new("duration", Kind::Duration(params::SPAN), "how long the programs send requests"),
    Field::new(
        "cache",
        Kind::Choice(CACHE_NAMES),
        "each program's DNS cache: none, ttl, java (30 s), chromium (at least 60 s), curl (60 s)",
    ),
    Field::new(
        "connect_timeout",
        Kind::Duration(CONNECT_TIMEOUT),
        "give up a connection attempt after this (default: the kernel's 127 s of SYN retries)",
    ),
    Field::new("fallback", Kind::Bool, "after a failed attempt, try the answer's next address"),
    Field::new("pool", Kind::Bool, "keep one connection per program and re-resolve only when it breaks"),
];

/// Parses a `clients` step; `get` reads a key (resolved), `at` names the step in errors.
pub fn parse(get: &dyn Fn(&str) -> Result<Option<Value>, InputError>, at: &str) -> Result<FleetSpec, InputError> {
    let required =
        |key: &str| get(key)?.ok_or_else(|| InputError::new(format!("{at}: a `clients` step needs `{key}`")));
    let clients = required("clients")?.int(CLIENTS)? as u32;
    let interval = required("interval")?.duration_in(INTERVAL)?;
    let duration = required("duration")?.duration_in(params::SPAN)?;
    let requests = u128::from(clients) * duration.as_micros().div_ceil(interval.as_micros());
    if requests > MAX_REQUESTS {
        return Err(InputError::new(format!(
            "{at}: clients {clients} x duration {} / interval {} = {requests} requests, more than {MAX_REQUESTS} (allowed: at most {MAX_REQUESTS})",
            crate::units::format_duration(duration),
            crate::units::format_duration(interval)
        )));
    }
    let cache = match get("cache")? {
        Some(v) => ClientCache::named(&v.choice(CACHE_NAMES)?).unwrap_or(ClientCache::Ttl),
        None => ClientCache::Ttl,
    };
    debug_assert!(CACHE_NAMES.iter().all(|n| CLIENT_CACHES.iter().any(|(c, _, _)| c == n)));
    Ok(FleetSpec {
        name: required("to")?.string()?.trim_end_matches('.').to_ascii_lowercase(),
        port: get("port")?.map(|v| v.int(IntRange::new(1, 65535))).transpose()?.unwrap_or(80) as u16,
        clients,
        interval,
        duration,
        cache,
        connect_timeout: get("connect_timeout")?.map(|v| v.duration_in(CONNECT_TIMEOUT)).transpose()?,
        fallback: get("fallback")?.map(|v| v.bool()).transpose()?.unwrap_or(false),
        pool: get("pool")?.map(|v| v.bool()).transpose()?.unwrap_or(false),
    })
}
