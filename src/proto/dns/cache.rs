//! DNS caches: the resolver's (TTL clamped, optionally serving stale answers) and the clients'
//! own, with the policies real programs follow.

use std::collections::HashMap;
use std::time::Duration;

use super::Answer;
use crate::time::Instant;

/// How a caching resolver treats TTLs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResolverPolicy {
    /// A TTL below this is raised to it (unbound's `cache-min-ttl`, default 0).
    pub min_ttl: u32,
    /// A TTL above this is lowered to it (unbound's `cache-max-ttl`, default 86400 s; BIND's
    /// `max-cache-ttl`, default 7 days).
    pub max_ttl: u32,
    /// RFC 8767: when a record has expired and the authority does not answer within
    /// `STALE_CLIENT_TIMEOUT`, answer from the expired record with TTL `STALE_TTL`.
    pub serve_stale: bool,
}

impl Default for ResolverPolicy {
    fn default() -> Self {
        ResolverPolicy { min_ttl: 0, max_ttl: 86_400, serve_stale: false }
    }
}

/// RFC 8767 §5: the client response timer, 1.8 s, after which a stale answer is given.
pub const STALE_CLIENT_TIMEOUT: Duration = Duration::from_millis(1800);
/// RFC 8767 §4: the TTL of a stale answer, 30 s.
pub const STALE_TTL: u32 = 30;
/// RFC 8767 §5: how long past its expiry a record may still be served stale (1 to 3 days
/// suggested; 1 day here).
pub const MAX_STALE: Duration = Duration::from_secs(86_400);

/// The named resolver presets a lab file may give (`[dns] resolver = "..."`).
pub const RESOLVER_PRESETS: &[(&str, ResolverPolicy, &str)] = &[
    (
        "unbound",
        ResolverPolicy { min_ttl: 0, max_ttl: 86_400, serve_stale: false },
        "Unbound's defaults: cache-min-ttl 0, cache-max-ttl 86400 s, serve-expired no",
    ),
    (
        "bind",
        ResolverPolicy { min_ttl: 0, max_ttl: 604_800, serve_stale: false },
        "BIND 9's defaults: max-cache-ttl 7 days, stale-answer-enable no",
    ),
    (
        "serve-stale",
        ResolverPolicy { min_ttl: 0, max_ttl: 86_400, serve_stale: true },
        "RFC 8767: stale answers (TTL 30 s) when the authority is silent for 1.8 s",
    ),
];

impl ResolverPolicy {
    /// The TTL the resolver caches (and passes on) for an authority's `ttl`.
    pub fn clamp(&self, ttl: u32) -> u32 {
        ttl.max(self.min_ttl).min(self.max_ttl.max(self.min_ttl))
    }
}

/// How a client program caches what it looked up, whatever else is in the path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientCache {
    /// No cache: every lookup asks the resolver (glibc's `getaddrinfo` without nscd).
    None,
    /// Honours the TTL the resolver gave, exactly.
    Ttl,
    /// Keeps every answer this long, whatever its TTL (OpenJDK's
    /// `networkaddress.cache.ttl`, 30 s; curl's `CURLOPT_DNS_CACHE_TIMEOUT`, 60 s).
    Fixed(Duration),
    /// Keeps an answer for its TTL, but at least this long (Chromium: 60 s).
    AtLeast(Duration),
}

/// The named client caches a lab file may give, with where their figures come from.
pub const CLIENT_CACHES: &[(&str, ClientCache, &str)] = &[
    ("none", ClientCache::None, "glibc getaddrinfo: no cache of its own"),
    ("ttl", ClientCache::Ttl, "honours the TTL exactly"),
    ("java", ClientCache::Fixed(Duration::from_secs(30)), "OpenJDK: networkaddress.cache.ttl = 30 s, whatever the TTL"),
    ("chromium", ClientCache::AtLeast(Duration::from_secs(60)), "Chromium: at least 60 s"),
    ("curl", ClientCache::Fixed(Duration::from_secs(60)), "curl: CURLOPT_DNS_CACHE_TIMEOUT = 60 s, TTL ignored"),
];

impl ClientCache {
    /// Parses a preset's name.
    pub fn named(name: &str) -> Option<ClientCache> {
        CLIENT_CACHES.iter().find(|(n, _, _)| *n == name).map(|(_, c, _)| *c)
    }

    /// The preset's name.
    pub fn name(self) -> &'static str {
        CLIENT_CACHES.iter().find(|(_, c, _)| *c == self).map_or("custom", |(n, _, _)| n)
    }

    /// How long an answer with `ttl` seconds left is kept (`None`: not at all).
    pub fn lifetime(self, ttl: u32) -> Option<Duration> {
        let ttl = Duration::from_secs(u64::from(ttl));
        match self {
            ClientCache::None => None,
            ClientCache::Ttl => Some(ttl),
            ClientCache::Fixed(d) => Some(d),
            ClientCache::AtLeast(d) => Some(ttl.max(d)),
        }
    }

    /// The longest it may add to a record's life beyond the TTL it was handed, for the
    /// theory: a fixed cache keeps a record fetched just before it expired at the resolver for
    /// its whole lifetime.
    pub fn beyond_ttl(self) -> Duration {
        match self {
            ClientCache::None | ClientCache::Ttl => Duration::ZERO,
            ClientCache::Fixed(d) | ClientCache::AtLeast(d) => d,
        }
    }
}

/// A cache keyed by name; entries expire after their lifetime of virtual time, and are kept
/// (stale) for up to [`MAX_STALE`] after that when asked to.
#[derive(Debug, Default)]
pub(super) struct Cache(HashMap<String, (Answer, Instant)>);

impl Cache {
    /// The answer with its TTL counted down to what is left (whole seconds), while fresh.
    pub(super) fn get(&self, name: &str, now: Instant) -> Option<Answer> {
        let (answer, expires) = self.0.get(name)?;
        (now < *expires).then(|| {
            let left = expires.saturating_since(now).as_secs() as u32;
            Answer { addrs: answer.addrs.clone(), ttl: left }
        })
    }

    /// An expired answer still within [`MAX_STALE`] of its expiry (RFC 8767).
    pub(super) fn get_stale(&self, name: &str, now: Instant) -> Option<Answer> {
        let (answer, expires) = self.0.get(name)?;
        (now >= *expires && now < *expires + MAX_STALE).then(|| Answer { addrs: answer.addrs.clone(), ttl: STALE_TTL })
    }

    /// Keeps `answer` for `lifetime` from `now`.
    pub(super) fn put(&mut self, name: String, answer: Answer, now: Instant, lifetime: Duration) {
        self.0.insert(name, (answer, now + lifetime));
    }

    /// Keeps `answer` for its own TTL.
    pub(super) fn put_ttl(&mut self, name: String, answer: Answer, now: Instant) {
        let lifetime = Duration::from_secs(u64::from(answer.ttl));
        self.put(name, answer, now, lifetime);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_caches_follow_their_programs() {
        assert_eq!(ClientCache::named("none").unwrap().lifetime(60), None);
        assert_eq!(ClientCache::named("ttl").unwrap().lifetime(5), Some(Duration::from_secs(5)));
        assert_eq!(ClientCache::named("java").unwrap().lifetime(5), Some(Duration::from_secs(30)));
        assert_eq!(ClientCache::named("java").unwrap().lifetime(300), Some(Duration::from_secs(30)));
        assert_eq!(ClientCache::named("chromium").unwrap().lifetime(5), Some(Duration::from_secs(60)));
        assert_eq!(ClientCache::named("chromium").unwrap().lifetime(300), Some(Duration::from_secs(300)));
        assert_eq!(ClientCache::named("curl").unwrap().lifetime(300), Some(Duration::from_secs(60)));
        assert_eq!(ClientCache::named("java").unwrap().name(), "java");
        assert_eq!(ClientCache::named("bogus"), None);
    }

    #[test]
    fn resolver_clamps_ttls() {
        let p = ResolverPolicy { min_ttl: 30, max_ttl: 3600, serve_stale: false };
        assert_eq!((p.clamp(5), p.clamp(60), p.clamp(86_400)), (30, 60, 3600));
        assert_eq!(ResolverPolicy::default().clamp(0), 0);
    }

    #[test]
    fn entries_count_down_then_go_stale() {
        let mut c = Cache::default();
        let t = Instant::ZERO + Duration::from_secs(10);
        c.put_ttl("a".into(), Answer::one([10, 0, 0, 1].into(), 60), t);
        assert_eq!(c.get("a", t + Duration::from_millis(20_500)).unwrap().ttl, 39);
        assert_eq!(c.get("a", t + Duration::from_secs(60)), None);
        assert_eq!(c.get_stale("a", t + Duration::from_secs(59)), None);
        assert_eq!(c.get_stale("a", t + Duration::from_secs(61)).unwrap().ttl, STALE_TTL);
        assert_eq!(c.get_stale("a", t + Duration::from_secs(60) + MAX_STALE), None);
    }
}
