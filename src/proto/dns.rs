//! DNS over UDP (RFC 1035 §4), with messages built and parsed by hickory-proto.
//!
//! Three roles make a cold lookup cost what it costs on the Internet:
//! - [`StubResolver`] on the client: sends a recursive query, caches the answer for its TTL
//!   (a cached lookup sends nothing and costs 0);
//! - [`DnsServer`] as a *resolver*: answers from its cache, or forwards the query upstream
//!   and caches the reply (RFC 1035 §7);
//! - [`DnsServer`] as an *authority*: answers A queries for its zone.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use rand_chacha::ChaCha8Rng;
use rand_core::RngCore;
use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::udp;
use smoltcp::wire::{IpAddress, IpEndpoint};

use crate::time::Instant;

/// The DNS port.
pub const PORT: u16 = 53;
/// How long the stub waits for an answer before it asks again (glibc waits 5 s; labs want less).
pub const RETRY_AFTER: Duration = Duration::from_secs(1);

/// A name and the address it resolves to, with its TTL in seconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub addr: Ipv4Addr,
    pub ttl: u32,
}

/// Builds a recursive A query for `name` (RFC 1035 §4.1).
pub fn encode_query(id: u16, name: &str) -> Option<Vec<u8>> {
    let mut msg = Message::new();
    msg.set_id(id)
        .set_message_type(MessageType::Query)
        .set_op_code(OpCode::Query)
        .set_recursion_desired(true)
        .add_query(Query::query(fqdn(name)?, RecordType::A));
    msg.to_vec().ok()
}

fn fqdn(name: &str) -> Option<Name> {
    let mut n = Name::from_ascii(name).ok()?;
    n.set_fqdn(true);
    Some(n)
}

/// Builds the response to `query` carrying `answer` (or NXDOMAIN when `None`). The zone holds
/// A records only: a query for another type of a name that exists gets an empty answer
/// (NOERROR, "no data", RFC 2308 §2.2), not the A record.
fn encode_response(query: &Message, answer: Option<&Answer>, recursion: bool) -> Option<Vec<u8>> {
    let q = query.queries().first()?.clone();
    let answer = answer.map(|a| (a, q.query_type() == RecordType::A));
    let mut msg = Message::new();
    msg.set_id(query.id())
        .set_message_type(MessageType::Response)
        .set_op_code(OpCode::Query)
        .set_recursion_desired(query.recursion_desired())
        .set_recursion_available(recursion)
        .set_authoritative(!recursion);
    match answer {
        Some((a, true)) => {
            msg.add_answer(Record::from_rdata(q.name().clone(), a.ttl, RData::A(A(a.addr))));
        }
        Some((_, false)) => {}
        None => {
            msg.set_response_code(ResponseCode::NXDomain);
        }
    }
    msg.add_query(q);
    msg.to_vec().ok()
}

/// The first A record of a response, if any.
fn first_a(msg: &Message) -> Option<Answer> {
    msg.answers().iter().find_map(|r| match r.data() {
        RData::A(a) => Some(Answer { addr: a.0, ttl: r.ttl() }),
        _ => None,
    })
}

fn query_name(msg: &Message) -> Option<String> {
    let name = msg.queries().first()?.name().to_ascii();
    Some(name.trim_end_matches('.').to_ascii_lowercase())
}

fn udp_socket(sockets: &mut SocketSet<'static>, port: u16) -> SocketHandle {
    let buffer = || udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 64], vec![0; 64 * 1024]);
    let mut socket = udp::Socket::new(buffer(), buffer());
    // A fresh socket set never has the port bound.
    let _ = socket.bind(port);
    sockets.add(socket)
}

/// A cache keyed by name; entries expire after their TTL of virtual time.
#[derive(Debug, Default)]
struct Cache(HashMap<String, (Answer, Instant)>);

impl Cache {
    fn get(&self, name: &str, now: Instant) -> Option<Answer> {
        let (answer, expires) = self.0.get(name)?;
        (now < *expires).then(|| {
            let left = expires.saturating_since(now).as_secs() as u32;
            Answer { addr: answer.addr, ttl: left }
        })
    }

    fn put(&mut self, name: String, answer: Answer, now: Instant) {
        let expires = now + Duration::from_secs(u64::from(answer.ttl));
        self.0.insert(name, (answer, expires));
    }
}

/// What a DNS server does with queries.
#[derive(Clone, Debug)]
pub enum Role {
    /// Answers for these names (lower case, no trailing dot).
    Authority { zone: BTreeMap<String, Answer> },
    /// Caches, and forwards misses to `upstream`.
    Resolver { upstream: Ipv4Addr },
}

/// A DNS server on UDP port 53 of one host.
pub struct DnsServer {
    handle: SocketHandle,
    role: Role,
    cache: Cache,
    /// Upstream query id → (client endpoint, client's query).
    pending: HashMap<u16, (IpEndpoint, Message)>,
    rng: ChaCha8Rng,
}

impl DnsServer {
    pub fn new(sockets: &mut SocketSet<'static>, role: Role, rng: ChaCha8Rng) -> Self {
        let handle = udp_socket(sockets, PORT);
        DnsServer { handle, role, cache: Cache::default(), pending: HashMap::new(), rng }
    }

    /// Answers or forwards every datagram that has arrived.
    pub fn poll(&mut self, now: Instant, sockets: &mut SocketSet<'static>) {
        let socket = sockets.get_mut::<udp::Socket>(self.handle);
        while let Ok((bytes, meta)) = socket.recv() {
            let Ok(msg) = Message::from_vec(bytes) else { continue };
            let from = meta.endpoint;
            let mut reply = |to: IpEndpoint, bytes: Option<Vec<u8>>| {
                if let Some(b) = bytes {
                    let _ = socket.send_slice(&b, to);
                }
            };
            match (&self.role, msg.message_type()) {
                (Role::Authority { zone }, MessageType::Query) => {
                    let answer = query_name(&msg).and_then(|n| zone.get(&n).cloned());
                    reply(from, encode_response(&msg, answer.as_ref(), false));
                }
                (Role::Resolver { upstream }, MessageType::Query) => {
                    let Some(name) = query_name(&msg) else { continue };
                    if let Some(hit) = self.cache.get(&name, now) {
                        reply(from, encode_response(&msg, Some(&hit), true));
                        continue;
                    }
                    let id = self.rng.next_u32() as u16;
                    let upstream = IpEndpoint::new(IpAddress::Ipv4(*upstream), PORT);
                    reply(upstream, encode_query(id, &name));
                    self.pending.insert(id, (from, msg));
                }
                (Role::Resolver { .. }, MessageType::Response) => {
                    let Some((client, query)) = self.pending.remove(&msg.id()) else { continue };
                    let answer = first_a(&msg);
                    if let (Some(a), Some(name)) = (&answer, query_name(&query)) {
                        self.cache.put(name, a.clone(), now);
                    }
                    reply(client, encode_response(&query, answer.as_ref(), true));
                }
                _ => {}
            }
        }
    }
}

/// The outcome of a lookup, as the stub sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// Answered from the stub's own cache: no packet sent.
    Cached(Answer),
    /// A query is on the wire.
    Pending,
    Resolved(Answer),
    NotFound,
}

/// The client's stub resolver (what getaddrinfo and a local cache do).
pub struct StubResolver {
    handle: SocketHandle,
    server: Ipv4Addr,
    cache: Cache,
    /// (id, name, when the latest query was sent).
    pending: Option<(u16, String, Instant)>,
    rng: ChaCha8Rng,
}

impl StubResolver {
    pub fn new(sockets: &mut SocketSet<'static>, server: Ipv4Addr, rng: ChaCha8Rng) -> Self {
        let handle = udp_socket(sockets, 5353);
        StubResolver { handle, server, cache: Cache::default(), pending: None, rng }
    }

    /// Starts a lookup of `name`: answered from cache, or a query is sent.
    pub fn start(&mut self, now: Instant, name: &str, sockets: &mut SocketSet<'static>) -> Lookup {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if let Some(hit) = self.cache.get(&name, now) {
            return Lookup::Cached(hit);
        }
        self.send(now, name, sockets);
        Lookup::Pending
    }

    fn send(&mut self, now: Instant, name: String, sockets: &mut SocketSet<'static>) {
        let id = self.rng.next_u32() as u16;
        if let Some(bytes) = encode_query(id, &name) {
            let to = IpEndpoint::new(IpAddress::Ipv4(self.server), PORT);
            let _ = sockets.get_mut::<udp::Socket>(self.handle).send_slice(&bytes, to);
        }
        self.pending = Some((id, name, now));
    }

    /// Drains answers; returns the outcome once the pending lookup is answered.
    pub fn poll(&mut self, now: Instant, sockets: &mut SocketSet<'static>) -> Lookup {
        let Some((id, name, sent)) = self.pending.clone() else { return Lookup::NotFound };
        let socket = sockets.get_mut::<udp::Socket>(self.handle);
        while let Ok((bytes, _)) = socket.recv() {
            let Ok(msg) = Message::from_vec(bytes) else { continue };
            if msg.id() != id || msg.message_type() != MessageType::Response {
                continue;
            }
            self.pending = None;
            return match first_a(&msg) {
                Some(answer) => {
                    self.cache.put(name, answer.clone(), now);
                    Lookup::Resolved(answer)
                }
                None => Lookup::NotFound,
            };
        }
        if now >= sent + RETRY_AFTER {
            self.send(now, name, sockets);
        }
        Lookup::Pending
    }

    /// When the pending query will be retried.
    pub fn next_timer(&self) -> Option<Instant> {
        self.pending.as_ref().map(|(_, _, sent)| *sent + RETRY_AFTER)
    }
}
