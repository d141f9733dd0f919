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
//! A fresh TLS 1.3 connection costs the caller one round trip for the handshake (RFC 8446
//! §2: ClientHello, then the server's flight up to its Finished), after TCP's one: the
//! request goes with the client's Finished. TLS 1.2 without False Start costs two (RFC 5246
//! §7.3).

use std::sync::Arc;

use rustls::ServerConfig;

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
        let (mut worlds, mut servers) = (Vec::new(), Vec::new());
        for (host, name) in hosts {
            let seed = crate::rng::derive(seed, &format!("tls:{name}"));
            let world = LabTls::new(seed, name, clock.clone())?;
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

    /// Every world's key log, in host order (SSLKEYLOGFILE format).
    pub fn key_log(&self) -> String {
        self.worlds.iter().map(|(_, w)| w.key_log()).collect()
    }
}
