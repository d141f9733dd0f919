//! QUIC (RFC 9000) from **quinn-proto**, sans-IO, on the lab's virtual clock, with a
//! minimal HTTP/3 (RFC 9114) client and server on top ([`h3`]).
//!
//! The lab moves the UDP payloads: [`QuicClient::poll_transmit`] / [`QuicServer::poll_transmit`]
//! hand out datagrams, `handle_datagram` takes them in, `poll_timeout` / `handle_timeout`
//! drive the timers. Nothing here reads a clock or the OS random generator.
//!
//! # What the client reports
//! Response streams are read **unordered** (quinn's `RecvStream::read(false)`), so every
//! chunk is reported as [`QuicEvent::Chunk`] with its stream offset and the virtual time of
//! the `handle_datagram` that delivered it. A chunk whose offset lies beyond the stream's
//! contiguous frontier arrived behind a gap (RFC 9000 §2.2: streams are ordered, but
//! independent of each other — a lost packet only stalls the streams whose frames it
//! carried). The client also reassembles each stream in order internally to parse the
//! HTTP/3 frames and reports [`QuicEvent::Response`] and [`QuicEvent::Finished`].
//!
//! # Transport settings ([`transport_config`]), both sides
//! - NewReno (RFC 9002 §7) with the caller's initial window (bytes), at least
//!   [`MIN_WINDOW`] (two full datagrams).
//! - UDP payload 1472 bytes (`initial_mtu` = `min_mtu` = 1472, MTU discovery off): a full
//!   packet is a 1500-byte IPv4 packet, like a TCP segment with a 1460-byte MSS.
//! - 16 MiB stream and connection receive windows and send window; 256 concurrent
//!   bidirectional and 16 unidirectional streams; 60 s idle timeout; no keep-alive; no
//!   segmentation offload (one datagram per `poll_transmit`).
//! - Server: no Retry, no NEW_TOKEN (`validation_token.sent = 0`), no migration.
//!
//! # What cannot be matched with TCP
//! - **Pacing**: quinn paces every flight over the smoothed RTT (its pacer is not
//!   configurable), so a window is not sent as a burst the way smoltcp sends it; the
//!   pacing timer shows up in [`QuicClient::poll_timeout`].
//! - **Loss detection** is RFC 9002's (packet threshold 3, time threshold 9/8 RTT, PTO with
//!   ACK-based recovery), not RFC 6298's RTO with its 1 s minimum (smoltcp): QUIC repairs a
//!   tail loss in about one RTT where TCP waits for the RTO. Packet numbers are never
//!   reused, so there is no retransmission ambiguity, and ACK frames carry up to 256
//!   ranges (like unlimited SACK).
//! - **ACKs**: quinn ACKs every second ack-eliciting packet or after `max_ack_delay` (25 ms).
//! - **Handshake**: QUIC carries TLS 1.3 in its own packets: 1 RTT before the first request
//!   (TCP + TLS 1.3 costs 2), and the client's Initial is padded to at least 1200 bytes
//!   (RFC 9000 §14.1).
//! - The server may send at most 3x what it received before the client's address is
//!   validated (RFC 9000 §8.1).
//!
//! # Determinism
//! Same seeds, same calls, same datagrams at the same virtual times → byte-identical
//! datagrams. Every random input of quinn-proto 0.11 is replaced by a seeded one
//! ([`crate::rng::stream`] with labels `quic.<role>.*`):
//! - `EndpointConfig::rng_seed` (the endpoint RNG; it seeds every connection's RNG, which
//!   draws packet-number skips, key-update phases, spin-bit choice and transport-parameter
//!   GREASE);
//! - the local connection-id generator (quinn's `RandomConnectionIdGenerator` uses the
//!   thread RNG) and the client's initial destination CID provider (same);
//! - the stateless-reset HMAC key (`EndpointConfig::default()` uses the thread RNG) and the
//!   server's handshake-token key (`ServerConfig::with_crypto` uses the thread RNG): both
//!   are built here from the seed with the lab provider's HMAC-SHA256 and QUIC AEAD;
//! - the server's `TimeSource` (token issue times; `SystemTime::now()` by default) reads
//!   the lab's [`TlsClock`];
//! - TLS randomness comes from the [`LabTls`](crate::proto::tls::LabTls) provider.
//!
//! quinn-proto takes `std::time::Instant`; each endpoint maps virtual time to a base
//! `std::time::Instant` taken once at construction plus the virtual offset. The base is an
//! opaque anchor: only differences from it reach the protocol. Timers are rounded **up**
//! to whole microseconds ([`crate::time::ceil_micros`]) so that handling a timeout at
//! the returned instant always fires it.
//!
//! # Wireshark
//! The TLS 1.3 secrets (CLIENT_HANDSHAKE_TRAFFIC_SECRET, SERVER_HANDSHAKE_TRAFFIC_SECRET,
//! CLIENT_TRAFFIC_SECRET_0, SERVER_TRAFFIC_SECRET_0) land in
//! [`LabTls::key_log`](crate::proto::tls::LabTls::key_log); that is all Wireshark needs to
//! decrypt QUIC. Both sides open an HTTP/3 control stream with SETTINGS (RFC 9114 §6.2.1) so
//! the session dissects as HTTP/3.

mod client;
pub mod h3;
mod server;
#[cfg(test)]
mod tests;

pub use client::QuicClient;
pub use server::{H3Request, QuicServer, Withdrawn};

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use quinn_proto::congestion::NewRenoConfig;
use quinn_proto::crypto::{AeadKey, CryptoError, HandshakeTokenKey, HmacKey};
use quinn_proto::{
    Connection, ConnectionHandle, ConnectionId, ConnectionIdGenerator, DatagramEvent, Dir, Endpoint, EndpointConfig,
    IdleTimeout, ServerConfig, StreamId, TimeSource, TransportConfig, VarInt,
};
use rand_chacha::ChaCha8Rng;
use rand_core::RngCore;
use rustls::crypto::tls13::{Hkdf, OkmBlock};
use rustls::crypto::CryptoProvider;
use rustls::{CipherSuite, SupportedCipherSuite, Tls13CipherSuite};

use crate::proto::tls::TlsClock;
use crate::rng::stream;
use crate::time::Instant;

/// UDP payload of a full-size QUIC packet: 1500-byte IPv4 packet - 20 (IP) - 8 (UDP).
pub const UDP_PAYLOAD_SIZE: u16 = 1472;
/// Stream and connection flow-control windows, and the send window, in bytes.
pub const FLOW_WINDOW: u32 = 16 << 20;
/// Concurrent bidirectional streams each side allows its peer.
pub const MAX_BIDI_STREAMS: u32 = 256;
/// Idle timeout (RFC 9000 §10.1).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// The smallest congestion window QUIC allows: two full-size datagrams (RFC 9002 §7.2,
/// kMinimumWindow = 2 * max_datagram_size).
///
/// quinn-proto 0.11 accepts a smaller initial window, and then both ends can deadlock: with
/// room for less than one more full datagram, a sender that has stream data queued is
/// "blocked by congestion control" and sends no ACK-only packet either (quinn skips the whole
/// application-data space), so each end waits for the other's ACK. The server's PTO would
/// break the tie, but quinn stops that timer when it drops its Handshake keys while still
/// in the Handshake state and does not arm it again for the 1-RTT packet it sent in its
/// first flight. Below about 9 ms RTT the client's Finished reaches the server before that
/// packet is acknowledged, and the connection never completes. The lab refuses such windows.
pub const MIN_WINDOW: u64 = 2 * UDP_PAYLOAD_SIZE as u64;
/// Length of the connection ids this module issues (RFC 9000 §5.1).
const CID_LEN: usize = 8;

/// The transport configuration both lab endpoints use (see the module docs). Fails for an
/// initial window below [`MIN_WINDOW`].
pub fn transport_config(initial_window: u64) -> Result<TransportConfig, String> {
    if initial_window < MIN_WINDOW {
        return Err(format!(
            "QUIC initial window {initial_window} bytes is below the minimum of {MIN_WINDOW} (two {UDP_PAYLOAD_SIZE}-byte datagrams, RFC 9002 §7.2)"
        ));
    }
    let mut cc = NewRenoConfig::default();
    cc.initial_window(initial_window);
    let mut t = TransportConfig::default();
    t.congestion_controller_factory(Arc::new(cc))
        .initial_mtu(UDP_PAYLOAD_SIZE)
        .min_mtu(UDP_PAYLOAD_SIZE)
        .mtu_discovery_config(None)
        .stream_receive_window(VarInt::from_u32(FLOW_WINDOW))
        .receive_window(VarInt::from_u32(FLOW_WINDOW))
        .send_window(u64::from(FLOW_WINDOW))
        .max_concurrent_bidi_streams(VarInt::from_u32(MAX_BIDI_STREAMS))
        .max_concurrent_uni_streams(VarInt::from_u32(16))
        .max_idle_timeout(Some(IdleTimeout::from(VarInt::from_u32(IDLE_TIMEOUT.as_millis() as u32))))
        .keep_alive_interval(None)
        .enable_segmentation_offload(false);
    Ok(t)
}

/// What the client reports ([`QuicClient::poll_events`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QuicEvent {
    /// The handshake completed (RFC 9001 §4.1.1).
    Connected,
    /// Stream bytes `[offset, offset + len)` arrived (unordered), at `at`.
    Chunk { stream: u64, offset: u64, len: usize, at: Instant },
    /// HTTP/3 response headers parsed.
    Response { stream: u64, status: u16 },
    /// The whole response (headers + body) arrived; `body` bytes.
    Finished { stream: u64, body: u64 },
    /// The connection or a stream failed.
    Error(String),
}

// ---------------------------------------------------------------------------------------
// Seeded replacements for quinn-proto's OS randomness.

/// Connection ids from a seeded stream (quinn's default generator uses the thread RNG).
struct LabCidGenerator(ChaCha8Rng);

impl ConnectionIdGenerator for LabCidGenerator {
    fn generate_cid(&mut self) -> ConnectionId {
        let mut b = [0u8; CID_LEN];
        self.0.fill_bytes(&mut b);
        ConnectionId::new(&b)
    }
    fn cid_len(&self) -> usize {
        CID_LEN
    }
    fn cid_lifetime(&self) -> Option<Duration> {
        None
    }
}

/// The lab provider's TLS_AES_128_GCM_SHA256 suite (QUIC's initial suite, RFC 9001 §5.2).
fn aes128_suite(provider: &CryptoProvider) -> Result<&'static Tls13CipherSuite, String> {
    provider
        .cipher_suites
        .iter()
        .find_map(|s| match s {
            SupportedCipherSuite::Tls13(t) if t.common.suite == CipherSuite::TLS13_AES_128_GCM_SHA256 => Some(*t),
            _ => None,
        })
        .ok_or_else(|| "the lab TLS provider has no TLS13_AES_128_GCM_SHA256".to_string())
}

/// HMAC-SHA256 with a seeded key (stateless-reset tokens, RFC 9000 §10.3).
struct LabHmacKey {
    hkdf: &'static dyn Hkdf,
    key: [u8; 32],
}

impl LabHmacKey {
    fn tag(&self, data: &[u8]) -> Vec<u8> {
        self.hkdf.hmac_sign(&OkmBlock::new(&self.key), data).as_ref().to_vec()
    }
}

impl HmacKey for LabHmacKey {
    fn sign(&self, data: &[u8], signature_out: &mut [u8]) {
        let tag = self.tag(data);
        signature_out.copy_from_slice(&tag[..signature_out.len()]);
    }
    fn signature_len(&self) -> usize {
        32
    }
    fn verify(&self, data: &[u8], signature: &[u8]) -> Result<(), CryptoError> {
        let tag = self.tag(data);
        // Constant time does not matter in the lab.
        if tag.len() == signature.len() && tag == signature {
            Ok(())
        } else {
            Err(CryptoError)
        }
    }
}

/// Seeded key for Retry / NEW_TOKEN tokens (RFC 9000 §8.1.3): per-token AEAD keys are
/// QUIC packet-protection keys (AES-128-GCM) derived from HMAC(master, token nonce).
struct LabTokenKey {
    mac: LabHmacKey,
    quic: rustls::quic::Suite,
}

struct LabAead(Box<dyn rustls::quic::PacketKey>);

impl HandshakeTokenKey for LabTokenKey {
    fn aead_from_hkdf(&self, random_bytes: &[u8]) -> Box<dyn AeadKey> {
        let secret = self.mac.tag(random_bytes);
        let keys = self.quic.keys(&secret, rustls::Side::Server, rustls::quic::Version::V1);
        Box::new(LabAead(keys.local.packet))
    }
}

impl AeadKey for LabAead {
    fn seal(&self, data: &mut Vec<u8>, additional_data: &[u8]) -> Result<(), CryptoError> {
        let tag = self.0.encrypt_in_place(0, additional_data, data).map_err(|_| CryptoError)?;
        data.extend_from_slice(tag.as_ref());
        Ok(())
    }
    fn open<'a>(&self, data: &'a mut [u8], additional_data: &[u8]) -> Result<&'a mut [u8], CryptoError> {
        let len = self.0.decrypt_in_place(0, additional_data, data).map_err(|_| CryptoError)?.len();
        Ok(&mut data[..len])
    }
}

/// The server's wall clock for token issue/expiry times: the lab's virtual [`TlsClock`].
struct LabTimeSource(TlsClock);

impl TimeSource for LabTimeSource {
    fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_micros(self.0.unix_micros())
    }
}

fn seed32(seed: u64, label: &str) -> [u8; 32] {
    let mut s = [0u8; 32];
    stream(seed, label).fill_bytes(&mut s);
    s
}

/// An endpoint config whose every random input comes from `seed` under `role`.
fn endpoint_config(provider: &CryptoProvider, seed: u64, role: &str) -> Result<EndpointConfig, String> {
    let suite = aes128_suite(provider)?;
    let reset_key = LabHmacKey { hkdf: suite.hkdf_provider, key: seed32(seed, &format!("quic.{role}.reset_key")) };
    let mut config = EndpointConfig::new(Arc::new(reset_key));
    config.rng_seed(Some(seed32(seed, &format!("quic.{role}.endpoint"))));
    let calls = Arc::new(AtomicU64::new(0));
    let role = role.to_string();
    config.cid_generator(move || {
        let n = calls.fetch_add(1, Ordering::SeqCst);
        Box::new(LabCidGenerator(stream(seed, &format!("quic.{role}.cid.{n}"))))
    });
    Ok(config)
}

// ---------------------------------------------------------------------------------------
// Shared endpoint machinery.

/// Maps virtual time to the `std::time::Instant`s quinn-proto takes.
#[derive(Clone, Copy, Debug)]
struct Clock {
    base: std::time::Instant,
}

impl Clock {
    fn new() -> Self {
        // The only clock read: an opaque anchor. quinn-proto only ever subtracts instants.
        Self { base: std::time::Instant::now() }
    }
    fn to_std(self, t: Instant) -> std::time::Instant {
        self.base + Duration::from_micros(t.micros())
    }
    /// Rounded up to the microsecond, so a timer handled at the result has expired.
    fn to_virtual(self, t: std::time::Instant) -> Instant {
        Instant::ZERO + t.saturating_duration_since(self.base)
    }
}

/// Bytes still to write on a send stream, then maybe FIN.
#[derive(Debug, Default)]
struct Outgoing {
    data: Bytes,
    fin: bool,
}

/// One quinn connection plus the streams this module writes.
struct Conn {
    conn: Connection,
    outgoing: BTreeMap<StreamId, Outgoing>,
    control_opened: bool,
}

impl Conn {
    fn new(conn: Connection) -> Self {
        Self { conn, outgoing: BTreeMap::new(), control_opened: false }
    }

    /// Queues `data` (then FIN if `fin`) on `id` and writes what flow control allows.
    fn send(&mut self, id: StreamId, data: Vec<u8>, fin: bool) {
        self.outgoing.insert(id, Outgoing { data: Bytes::from(data), fin });
        self.flush();
    }

    /// Writes queued stream data; finishes streams whose data is all written.
    fn flush(&mut self) {
        let mut done = Vec::new();
        for (&id, out) in self.outgoing.iter_mut() {
            let mut s = self.conn.send_stream(id);
            while !out.data.is_empty() {
                match s.write(&out.data) {
                    Ok(n) => {
                        let _ = out.data.split_to(n);
                    }
                    Err(_) => break,
                }
            }
            if out.data.is_empty() {
                if out.fin {
                    let _ = s.finish();
                }
                done.push(id);
            }
        }
        for id in done {
            self.outgoing.remove(&id);
        }
    }

    /// Opens the HTTP/3 control stream with SETTINGS (RFC 9114 §6.2.1), once.
    fn open_control(&mut self) {
        if self.control_opened {
            return;
        }
        if let Some(id) = self.conn.streams().open(Dir::Uni) {
            self.control_opened = true;
            // The control stream stays open for the connection's lifetime (§6.2.1).
            self.send(id, h3::control_stream_preamble(), false);
        }
    }

    /// Reads and discards a peer's unidirectional stream (control / QPACK streams).
    fn drain_uni(&mut self, id: StreamId) {
        if let Ok(mut chunks) = self.conn.recv_stream(id).read(false) {
            while let Ok(Some(_)) = chunks.next(usize::MAX) {}
            let _ = chunks.finalize();
        }
    }

    /// Accepts every new stream the peer opened in `dir`.
    fn accept_all(&mut self, dir: Dir) -> Vec<StreamId> {
        let mut ids = Vec::new();
        while let Some(id) = self.conn.streams().accept(dir) {
            ids.push(id);
        }
        ids
    }
}

/// A quinn endpoint, its connections and the datagrams it answered directly.
struct Core {
    endpoint: Endpoint,
    clock: Clock,
    local: SocketAddr,
    conns: BTreeMap<usize, Conn>,
    responses: VecDeque<(SocketAddr, Vec<u8>)>,
    buf: Vec<u8>,
}

impl Core {
    fn new(config: EndpointConfig, server: Option<Arc<ServerConfig>>, local: SocketAddr) -> Self {
        Self {
            endpoint: Endpoint::new(Arc::new(config), server, false, None),
            clock: Clock::new(),
            local,
            conns: BTreeMap::new(),
            responses: VecDeque::new(),
            buf: Vec::new(),
        }
    }

    /// Feeds one datagram to the endpoint; returns an error text for a refused connection.
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, data: &[u8], accept: bool) -> Option<String> {
        let t = self.clock.to_std(now);
        self.buf.clear();
        let event = self.endpoint.handle(t, from, Some(self.local.ip()), None, BytesMut::from(data), &mut self.buf);
        let mut error = None;
        match event {
            Some(DatagramEvent::ConnectionEvent(ch, ev)) => {
                if let Some(c) = self.conns.get_mut(&ch.0) {
                    c.conn.handle_event(ev);
                }
            }
            Some(DatagramEvent::NewConnection(incoming)) => {
                if accept {
                    self.buf.clear();
                    match self.endpoint.accept(incoming, t, &mut self.buf, None) {
                        Ok((ch, conn)) => {
                            self.conns.insert(ch.0, Conn::new(conn));
                        }
                        Err(e) => {
                            if let Some(tx) = e.response {
                                self.responses.push_back((tx.destination, self.buf[..tx.size].to_vec()));
                            }
                            error = Some(format!("QUIC: connection refused: {}", e.cause));
                        }
                    }
                } else {
                    self.endpoint.ignore(incoming);
                }
            }
            Some(DatagramEvent::Response(tx)) => {
                self.responses.push_back((tx.destination, self.buf[..tx.size].to_vec()));
            }
            None => {}
        }
        self.pump();
        error
    }

    /// Exchanges endpoint events between the connections and the endpoint; forgets
    /// drained connections.
    fn pump(&mut self) {
        let mut drained = Vec::new();
        for (&h, c) in self.conns.iter_mut() {
            while let Some(ev) = c.conn.poll_endpoint_events() {
                let is_drained = ev.is_drained();
                if let Some(back) = self.endpoint.handle_event(ConnectionHandle(h), ev) {
                    c.conn.handle_event(back);
                }
                if is_drained {
                    drained.push(h);
                }
            }
        }
        for h in drained {
            self.conns.remove(&h);
        }
    }

    fn poll_transmit(&mut self, now: Instant) -> Option<(SocketAddr, Vec<u8>)> {
        if let Some(r) = self.responses.pop_front() {
            return Some(r);
        }
        let t = self.clock.to_std(now);
        let mut out = None;
        for c in self.conns.values_mut() {
            self.buf.clear();
            if let Some(tx) = c.conn.poll_transmit(t, 1, &mut self.buf) {
                out = Some((tx.destination, self.buf[..tx.size].to_vec()));
                break;
            }
        }
        self.pump();
        out
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        let clock = self.clock;
        self.conns.values_mut().filter_map(|c| c.conn.poll_timeout()).map(|t| clock.to_virtual(t)).min()
    }

    fn handle_timeout(&mut self, now: Instant) {
        let t = self.clock.to_std(now);
        for c in self.conns.values_mut() {
            if c.conn.poll_timeout().is_some_and(|d| d <= t) {
                c.conn.handle_timeout(t);
            }
        }
        self.pump();
    }
}
