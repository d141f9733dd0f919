//! TLS from rustls with a seeded, **lab-only** crypto provider.
//!
//! # ⚠ Lab only: predictable keys, never use for real traffic
//!
//! A [`LabTls`] makes every random choice of a TLS handshake (randoms, session ids,
//! ticket ids and nonces, ephemeral X25519 keys) from the lab seed, and its server
//! identity is an Ed25519 key derived from the same seed. The same seed therefore gives
//! byte-identical handshakes and captures, and anyone who knows the seed can decrypt or
//! impersonate everything. That is what a teaching lab wants and what real traffic must
//! never have.
//!
//! # Pieces
//! - [`provider::lab_provider`]: ring's suites and verification, seeded randomness and
//!   X25519 (`stream(seed, "tls.random")`).
//! - [`identity::LabIdentity`]: self-signed Ed25519 certificate (`stream(seed, "tls.identity")`).
//! - [`keylog::KeyLogCollector`]: the SSLKEYLOGFILE text for the capture's DSB and `.keys`.
//! - [`TlsClock`]: the virtual wall clock rustls reads (ticket ages, certificate validity).
//!
//! # Driving these configs over a socket (facts about rustls 0.23)
//! - **Drain after every `process_new_packets`.** Read `reader()` (and, on the server,
//!   `early_data()`) until `WouldBlock` before the next `read_tls`, or `read_tls` fails
//!   once 64 KiB of plaintext is pending.
//! - **Flush after every `process_new_packets` and every write.** rustls only queues
//!   records; call `write_tls` while `wants_write()` and hand the bytes to TCP in the same
//!   instant. The TLS 1.3 client Finished is queued by the `process_new_packets` that
//!   consumed the server's Finished: `is_handshaking()` is already false then, but the
//!   Finished (and any request written earlier with `writer()`, which rustls buffers
//!   until the handshake allows it and appends right after the Finished) only leave when
//!   you call `write_tls`.
//! - **TLS 1.3 is 1 RTT, TLS 1.2 is 2 RTTs** at the client (no False Start). A resumed
//!   TLS 1.2 session (session id; this server does no TLS 1.2 tickets) is 1 RTT.
//! - **NewSessionTicket comes late.** The server sends its two TLS 1.3 tickets only when it
//!   has processed the client's Finished, i.e. in the flight that carries the response to
//!   the first request (tickets first, then the data). The client stores them when it
//!   processes that flight; a second connection opened before then, or after the first
//!   was torn down unread, does a full handshake. Each ticket is single-use; every
//!   connection (resumed ones too) brings two fresh ones.
//! - **0-RTT**: on a [`TlsVersion::Tls13`] client whose cache holds a ticket, right after
//!   `ClientConnection::new`, `early_data()` is `Some` (up to 16384 bytes). Write the
//!   request there *before* the first `write_tls`: ClientHello and the 0-RTT record then
//!   leave together. The server reads it from `ServerConnection::early_data()`
//!   (not `reader()`) in the same `process_new_packets` that handled the ClientHello.
//!   If `is_early_data_accepted()` is false after the handshake, rustls does *not* resend:
//!   the application must write the request again with `writer()`.
//! - **Half-RTT**: the server config has `send_half_rtt_data`, so after the
//!   `process_new_packets` that handled the ClientHello, `writer()` on the server encrypts
//!   at once; its `write_tls` yields ServerHello..Finished followed by the response. The
//!   client decrypts the response in the same `process_new_packets` that finishes its
//!   handshake; its EndOfEarlyData + Finished still have to be flushed.
//! - **Time**: rustls reads the [`TlsClock`] in whole seconds. Stateful tickets live
//!   86 400 s; a ticket older than that is not offered.
//! - **Determinism**: client and server of a lab draw from one seeded stream, in the order
//!   rustls asks; keep the order of `ClientConnection::new` / `process_new_packets` calls
//!   a function of the seed (the virtual driver does). Stateless tickets (`ticketer`) are
//!   off on purpose: ring's ticketer keys itself from the system RNG.

mod clock;
pub mod identity;
pub mod keylog;
pub mod provider;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use anyhow::Context as _;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::server::ServerSessionMemoryCache;
use rustls::{ClientConfig, RootCertStore, ServerConfig, SupportedProtocolVersion};

pub use clock::TlsClock;
use identity::LabIdentity;
use keylog::KeyLogCollector;

/// A TLS protocol version a lab client speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsVersion {
    /// TLS 1.2 (RFC 5246): 2 RTTs for a full handshake.
    Tls12,
    /// TLS 1.3 (RFC 8446): 1 RTT, PSK resumption, 0-RTT.
    Tls13,
}

impl TlsVersion {
    /// The rustls version object.
    pub fn rustls(self) -> &'static SupportedProtocolVersion {
        match self {
            TlsVersion::Tls12 => &rustls::version::TLS12,
            TlsVersion::Tls13 => &rustls::version::TLS13,
        }
    }
}

/// Early data the server accepts per connection, in bytes.
pub const MAX_EARLY_DATA: u32 = 16 * 1024;

/// Sessions each side's in-memory cache holds.
const SESSION_CACHE_SIZE: usize = 256;

/// One **lab-only** TLS world per scenario run: seeded provider, lab certificate, key-log
/// collector, virtual clock, and the client and server configs built from them.
///
/// Never use it for real traffic: every key it makes is predictable from the seed.
#[derive(Debug)]
pub struct LabTls {
    provider: Arc<CryptoProvider>,
    identity: LabIdentity,
    key_log: Arc<KeyLogCollector>,
    clock: TlsClock,
    server_name: ServerName<'static>,
    client12: Arc<ClientConfig>,
    client13: Arc<ClientConfig>,
    server: Arc<ServerConfig>,
}

impl LabTls {
    /// One TLS world per scenario run: a seeded provider ([`provider::lab_provider`];
    /// leaks two small objects, see there), a self-signed Ed25519 certificate for
    /// `server_name` (a DNS name or IP address) derived from the seed, a key-log collector
    /// and the clock. Both ends of the lab use the same `LabTls`.
    pub fn new(seed: u64, server_name: &str, clock: TlsClock) -> anyhow::Result<Self> {
        Self::for_names(seed, &[server_name], clock)
    }

    /// [`new`](Self::new) for a server that answers to several names (its certificate names
    /// them all, [`LabIdentity::for_names`]); clients ask for the first.
    pub fn for_names(seed: u64, names: &[&str], clock: TlsClock) -> anyhow::Result<Self> {
        let server_name = *names.first().context("a TLS world needs a server name")?;
        let provider = Arc::new(provider::lab_provider(seed));
        let identity = LabIdentity::for_names(seed, names)?;
        let key_log = Arc::new(KeyLogCollector::new());
        let server_name = ServerName::try_from(server_name.to_string())
            .with_context(|| format!("invalid TLS server name {server_name:?}"))?;
        let alpn = vec![b"http/1.1".to_vec()];
        let roots = [identity.cert.clone()];
        let client = |version| build_client(&provider, &clock, &roots, &key_log, version, &alpn).map(Arc::new);
        let client12 = client(TlsVersion::Tls12)?;
        let client13 = client(TlsVersion::Tls13)?;
        let both = [&rustls::version::TLS13, &rustls::version::TLS12];
        let server = Arc::new(build_server(&provider, &clock, &identity, &key_log, &alpn, &both)?);
        Ok(Self { provider, identity, key_log, clock, server_name, client12, client13, server })
    }

    /// Replaces the ALPN protocols offered by the clients and accepted by the server
    /// (most preferred first; default `["http/1.1"]`). Call before the first
    /// [`client`](Self::client) / [`server`](Self::server): configs handed out earlier
    /// keep the old list.
    pub fn with_alpn(mut self, protocols: &[&[u8]]) -> Self {
        let alpn: Vec<Vec<u8>> = protocols.iter().map(|p| p.to_vec()).collect();
        Arc::make_mut(&mut self.client12).alpn_protocols = alpn.clone();
        Arc::make_mut(&mut self.client13).alpn_protocols = alpn.clone();
        Arc::make_mut(&mut self.server).alpn_protocols = alpn;
        self
    }

    /// Replaces the ALPN protocols the server accepts (most preferred first), leaving the
    /// clients' offers as they are: a server that speaks `h2` and `http/1.1` picks what each
    /// client offers.
    pub fn with_server_alpn(mut self, protocols: &[&[u8]]) -> Self {
        Arc::make_mut(&mut self.server).alpn_protocols = protocols.iter().map(|p| p.to_vec()).collect();
        self
    }

    /// Client config for `version` only. Returns the same `Arc` for the same version on
    /// every call, so its session cache persists and a later connection resumes (TLS 1.3
    /// PSK ticket / TLS 1.2 session id). Trusts exactly the lab certificate. The TLS 1.3
    /// config has `enable_early_data`. Key log on.
    pub fn client(&self, version: TlsVersion) -> Arc<ClientConfig> {
        match version {
            TlsVersion::Tls12 => self.client12.clone(),
            TlsVersion::Tls13 => self.client13.clone(),
        }
    }

    /// A client config for `version` like [`client`](Self::client), but a new one (its own
    /// session cache) that trusts the certificates in `also` as well as this world's: a caller
    /// that may reach any of several servers answering to one name (the replicas behind a
    /// relay that passes TLS through). It logs its secrets to this world's key log.
    pub fn client_trusting(
        &self,
        version: TlsVersion,
        also: &[CertificateDer<'static>],
    ) -> anyhow::Result<ClientConfig> {
        let roots: Vec<CertificateDer<'static>> = std::iter::once(&self.identity.cert).chain(also).cloned().collect();
        let alpn = self.client(version).alpn_protocols.clone();
        build_client(&self.provider, &self.clock, &roots, &self.key_log, version, &alpn)
    }

    /// The server config (always the same `Arc`): TLS 1.3 and 1.2, stateful session cache
    /// (TLS 1.3 tickets are cache ids, TLS 1.2 resumes by session id), 2 tickets per
    /// connection, `max_early_data_size` = [`MAX_EARLY_DATA`], `send_half_rtt_data`, key
    /// log on.
    pub fn server(&self) -> Arc<ServerConfig> {
        self.server.clone()
    }

    /// A server config like [`server`](Self::server) that speaks `version` only (a TLS 1.3-only
    /// server, or one that stops at TLS 1.2), with a session cache of its own.
    pub fn server_only(&self, version: TlsVersion) -> anyhow::Result<Arc<ServerConfig>> {
        let alpn = self.server.alpn_protocols.clone();
        let versions = [version.rustls()];
        build_server(&self.provider, &self.clock, &self.identity, &self.key_log, &alpn, &versions).map(Arc::new)
    }

    /// Everything logged so far in SSLKEYLOGFILE format (one `'\n'`-terminated line per
    /// secret, each secret once), in the order logged.
    pub fn key_log(&self) -> String {
        self.key_log.text()
    }

    /// The name the certificate is issued for and clients connect to.
    pub fn server_name(&self) -> ServerName<'static> {
        self.server_name.clone()
    }

    /// The lab certificate (DER).
    pub fn certificate(&self) -> &CertificateDer<'static> {
        &self.identity.cert
    }

    /// The clock rustls reads.
    pub fn clock(&self) -> &TlsClock {
        &self.clock
    }

    /// The seeded provider (lab only).
    pub fn provider(&self) -> &Arc<CryptoProvider> {
        &self.provider
    }
}

fn build_client(
    provider: &Arc<CryptoProvider>,
    clock: &TlsClock,
    trusted: &[CertificateDer<'static>],
    key_log: &Arc<KeyLogCollector>,
    version: TlsVersion,
    alpn: &[Vec<u8>],
) -> anyhow::Result<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for cert in trusted {
        roots.add(cert.clone()).context("trusting the lab certificate")?;
    }
    let mut config = ClientConfig::builder_with_details(provider.clone(), Arc::new(clock.clone()))
        .with_protocol_versions(&[version.rustls()])
        .context("client protocol versions")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.resumption = rustls::client::Resumption::in_memory_sessions(SESSION_CACHE_SIZE);
    config.alpn_protocols = alpn.to_vec();
    config.key_log = key_log.clone();
    config.enable_early_data = version == TlsVersion::Tls13;
    Ok(config)
}

fn build_server(
    provider: &Arc<CryptoProvider>,
    clock: &TlsClock,
    identity: &LabIdentity,
    key_log: &Arc<KeyLogCollector>,
    alpn: &[Vec<u8>],
    versions: &[&'static SupportedProtocolVersion],
) -> anyhow::Result<ServerConfig> {
    let mut config = ServerConfig::builder_with_details(provider.clone(), Arc::new(clock.clone()))
        .with_protocol_versions(versions)
        .context("server protocol versions")?
        .with_no_client_auth()
        .with_single_cert(vec![identity.cert.clone()], identity.private_key())
        .context("loading the lab certificate and key")?;
    // Stateful resumption only: the default ticketer is off, and must stay off (ring's
    // ticketer draws its keys from the system RNG, and rustls refuses 0-RTT with it).
    config.session_storage = ServerSessionMemoryCache::new(SESSION_CACHE_SIZE);
    config.send_tls13_tickets = 2;
    config.max_early_data_size = MAX_EARLY_DATA;
    config.send_half_rtt_data = true;
    config.alpn_protocols = alpn.to_vec();
    config.key_log = key_log.clone();
    Ok(config)
}
