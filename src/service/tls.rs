//! TLS for services: one **lab-only** TLS world ([`LabTls`]) per host that serves HTTPS.
//!
//! Each such host has its own certificate, issued for the host's name, and its own seeded
//! provider (`rng::derive(seed, "tls:<host>")`), so a capture is the same bytes for the same
//! seed. A caller of that host (a gateway's upstream pool, a workload) takes its client
//! config from the same world ([`ServiceTls::client`]): it trusts exactly that certificate,
//! and has a session cache of its own, so its later connections may resume the sessions it
//! set up (RFC 8446 §2.2), never those of another caller. Both ends log their secrets to the
//! world's key log, and [`ServiceTls::key_log`] gathers every world's, so the scenario's
//! capture decrypts every TLS leg.
//!
//! A relay that passes TLS through has no world of its own: its callers take their setup
//! from the world of what answers behind it ([`ServiceTls::client_for`]), ask for that name,
//! and verify that certificate, end to end. Replicas behind a relay all answer to their
//! `[[host]]` name, so each one's certificate names it too ([`ServiceTls::with_names`]), and
//! the caller trusts every replica's (it cannot know which one the relay picks).
//!
//! A fresh TLS 1.3 connection costs the caller one round trip for the handshake (RFC 8446
//! §2: ClientHello, then the server's flight up to its Finished), after TCP's one: the
//! request goes with the client's Finished. TLS 1.2 without False Start costs two (RFC 5246
//! §7.3).

use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::ServerConfig;

use super::Replica;
use crate::proto::http_client::TlsSetup;
use crate::proto::tls::{LabTls, TlsClock, TlsVersion};

/// The TLS worlds of a scenario's HTTPS services, by host, and each world's server configs
/// for TLS 1.2 only and TLS 1.3 only (a service speaks the one version it is set to).
#[derive(Debug, Default)]
pub struct ServiceTls {
    worlds: Vec<(usize, LabTls)>,
    servers: Vec<(usize, TlsVersion, Arc<ServerConfig>)>,
}

impl ServiceTls {
    /// A world for each of `hosts` (index, name), seeded from `seed` and the name, on `clock`.
    pub fn new<'a>(
        seed: u64,
        hosts: impl IntoIterator<Item = (usize, &'a str)>,
        clock: &TlsClock,
    ) -> anyhow::Result<ServiceTls> {
        Self::with_names(seed, hosts.into_iter().map(|(h, name)| (h, vec![name])), clock)
    }

    /// [`new`](Self::new), each host's certificate naming every name in its list (the first,
    /// its host name, seeds its world and is what its own callers ask for).
    pub fn with_names<'a>(
        seed: u64,
        hosts: impl IntoIterator<Item = (usize, Vec<&'a str>)>,
        clock: &TlsClock,
    ) -> anyhow::Result<ServiceTls> {
        let (mut worlds, mut servers) = (Vec::new(), Vec::new());
        for (host, names) in hosts {
            let Some(&name) = names.first() else { continue };
            let seed = crate::rng::derive(seed, &format!("tls:{name}"));
            let world = LabTls::for_names(seed, &names, clock.clone())?;
            for version in [TlsVersion::Tls12, TlsVersion::Tls13] {
                servers.push((host, version, world.server_only(version)?));
            }
            worlds.push((host, world));
        }
        Ok(ServiceTls { worlds, servers })
    }

    fn world(&self, host: usize) -> Option<&LabTls> {
        self.worlds.iter().find(|(h, _)| *h == host).map(|(_, w)| w)
    }

    /// The server config of `host` for TLS `version`, if the host serves TLS.
    pub fn server(&self, host: usize, version: TlsVersion) -> Option<Arc<ServerConfig>> {
        self.servers.iter().find(|(h, v, _)| *h == host && *v == version).map(|(_, _, c)| c.clone())
    }

    /// How a caller starts TLS `version` to `host` (its name, trusting its certificate), if
    /// `host` serves TLS: each call gives a new session cache, shared by the clones of what
    /// it returns (one caller's connections).
    pub fn client(&self, host: usize, version: TlsVersion) -> Option<TlsSetup> {
        self.world(host).map(|w| TlsSetup::with_own_sessions(w, version))
    }

    /// How a caller starts TLS `version` to `replica`: to its host, or, when it is a relay that
    /// passes TLS through, to what answers behind it ([`super::Passthrough`]): the name those hosts
    /// share, trusting each one's certificate. `None` when no host there serves TLS.
    pub fn client_for(&self, replica: &Replica, version: TlsVersion) -> Option<TlsSetup> {
        let Some(through) = &replica.through else { return self.client(replica.host, version) };
        let first = self.world(*through.hosts.first()?)?;
        let one = through.hosts.len() == 1;
        if one && ServerName::try_from(through.name.as_str()).is_ok_and(|n| n == first.server_name()) {
            // One host, asked for by its own name: the same setup as a direct caller's.
            return Some(TlsSetup::with_own_sessions(first, version));
        }
        let others: Option<Vec<_>> =
            through.hosts.iter().skip(1).map(|&h| self.world(h).map(|w| w.certificate().clone())).collect();
        TlsSetup::for_name(first, version, &through.name, &others?).ok()
    }

    /// What an HTTP/3 service on `host` runs QUIC with (RFC 9001): the host's TLS 1.3-only
    /// server config offering ALPN `h3` alone (RFC 9114 §3.1), and its world's clock. The
    /// config logs to the world's key log, so the QUIC packets decrypt in the captures like
    /// the TCP legs' TLS. `None` when the host serves no TLS.
    pub fn quic_server(&self, host: usize) -> Option<(Arc<ServerConfig>, TlsClock)> {
        let mut config = (*self.server(host, TlsVersion::Tls13)?).clone();
        config.alpn_protocols = vec![b"h3".to_vec()];
        Some((Arc::new(config), self.world(host)?.clock().clone()))
    }

    /// Every world's key log, in host order (SSLKEYLOGFILE format), each secret once: a caller
    /// that reaches replicas behind a relay logs its secrets in the first replica's world,
    /// and the replica that answered logs them in its own.
    pub fn key_log(&self) -> String {
        let mut seen = std::collections::HashSet::new();
        let mut out = String::new();
        for (_, w) in &self.worlds {
            for line in w.key_log().lines() {
                if seen.insert(line.to_string()) {
                    out.push_str(line);
                    out.push('\n');
                }
            }
        }
        out
    }
}
