//! The client's side of DNS: one stub resolver for a scripted client, and [`Lookups`] for
//! many client programs on one host.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use hickory_proto::op::{Message, MessageType};
use rand_chacha::ChaCha8Rng;
use rand_core::RngCore;
use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::udp;
use smoltcp::wire::{IpAddress, IpEndpoint};

use super::cache::Cache;
use super::{a_records, encode_query, udp_socket, Answer, PORT, RETRY_AFTER};
use crate::time::Instant;

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
            return match a_records(&msg) {
                Some(answer) => {
                    self.cache.put_ttl(name, answer.clone(), now);
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

/// What became of one of [`Lookups`]' queries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LookupResult {
    /// The caller's token for the lookup.
    pub token: u64,
    pub name: String,
    /// The A records, or `None` for a name that does not exist (or has no A record).
    pub answer: Option<Answer>,
}

/// A query on the wire.
struct Query {
    name: String,
    token: u64,
    sent: Instant,
}

/// Recursive queries of many client programs on one host, through one UDP socket: each
/// lookup is a query of its own (its own id), asked again with the same id after
/// [`RETRY_AFTER`] until answered or cancelled. What a program caches is the program's business ([`super::ClientCache`]).
pub struct Lookups {
    handle: SocketHandle,
    server: Ipv4Addr,
    pending: BTreeMap<u16, Query>,
    rng: ChaCha8Rng,
    /// Queries sent, retries included.
    pub sent: u64,
}

impl Lookups {
    /// Queries from UDP `port` of the host whose `sockets` these are, to resolver `server`.
    pub fn new(sockets: &mut SocketSet<'static>, port: u16, server: Ipv4Addr, rng: ChaCha8Rng) -> Self {
        let handle = udp_socket(sockets, port);
        Lookups { handle, server, pending: BTreeMap::new(), rng, sent: 0 }
    }

    /// Sends a query for `name` under the caller's `token`.
    pub fn start(&mut self, now: Instant, name: &str, token: u64, sockets: &mut SocketSet<'static>) {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        let mut id = self.rng.next_u32() as u16;
        while self.pending.contains_key(&id) {
            id = id.wrapping_add(1);
        }
        self.send(now, id, Query { name, token, sent: now }, sockets);
    }

    /// Sends (or sends again: the same id, as glibc's resolver does, so a late answer to the
    /// first try still counts) the query `id`.
    fn send(&mut self, now: Instant, id: u16, mut query: Query, sockets: &mut SocketSet<'static>) {
        if let Some(bytes) = encode_query(id, &query.name) {
            let to = IpEndpoint::new(IpAddress::Ipv4(self.server), PORT);
            let _ = sockets.get_mut::<udp::Socket>(self.handle).send_slice(&bytes, to);
            self.sent += 1;
        }
        query.sent = now;
        self.pending.insert(id, query);
    }

    /// Stops asking for `token`'s lookup.
    pub fn cancel(&mut self, token: u64) {
        self.pending.retain(|_, q| q.token != token);
    }

    /// The lookups answered by `now`; asks again for those unanswered for [`RETRY_AFTER`].
    pub fn poll(&mut self, now: Instant, sockets: &mut SocketSet<'static>) -> Vec<LookupResult> {
        let mut done = Vec::new();
        let socket = sockets.get_mut::<udp::Socket>(self.handle);
        while let Ok((bytes, _)) = socket.recv() {
            let Ok(msg) = Message::from_vec(bytes) else { continue };
            if msg.message_type() != MessageType::Response {
                continue;
            }
            if let Some(q) = self.pending.remove(&msg.id()) {
                done.push(LookupResult { token: q.token, name: q.name, answer: a_records(&msg) });
            }
        }
        let late: Vec<u16> =
            self.pending.iter().filter(|(_, q)| now >= q.sent + RETRY_AFTER).map(|(id, _)| *id).collect();
        for id in late {
            if let Some(q) = self.pending.remove(&id) {
                self.send(now, id, q, sockets);
            }
        }
        done
    }

    /// When the oldest unanswered query is asked again.
    pub fn next_timer(&self) -> Option<Instant> {
        self.pending.values().map(|q| q.sent + RETRY_AFTER).min()
    }
}
