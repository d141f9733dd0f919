//! A DNS server on UDP port 53: an authority for the lab's zone, or a caching resolver.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;

use hickory_proto::op::{Message, MessageType};
use rand_chacha::ChaCha8Rng;
use rand_core::RngCore;
use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::udp;
use smoltcp::wire::{IpAddress, IpEndpoint};

use super::cache::{Cache, ResolverPolicy, STALE_CLIENT_TIMEOUT};
use super::{a_records, encode_query, encode_response, query_name, udp_socket, Answer, PORT};
use crate::time::Instant;

/// What a DNS server does with queries.
#[derive(Clone, Debug)]
pub enum Role {
    /// Answers for these names (lower case, no trailing dot).
    Authority { zone: BTreeMap<String, Answer> },
    /// Caches as `policy` says, and forwards misses to `upstream`.
    Resolver { upstream: Ipv4Addr, policy: ResolverPolicy },
}

/// A query forwarded upstream, and the clients waiting for its answer: a query for a name
/// already being fetched joins that fetch rather than sending another (as resolvers do), unless
/// the fetch is older than [`super::RETRY_AFTER`].
struct Pending {
    name: String,
    sent: Instant,
    waiting: Vec<Waiting>,
}

/// A client's query waiting for the upstream answer.
struct Waiting {
    client: IpEndpoint,
    query: Message,
    /// With serve-stale, when the client gets the stale answer if the authority is still
    /// silent.
    stale_at: Option<Instant>,
    /// The client has had a (stale) answer already.
    answered: bool,
}

/// A DNS server on UDP port 53 of one host.
pub struct DnsServer {
    handle: SocketHandle,
    role: Role,
    cache: Cache,
    /// Upstream query id → the client's query.
    pending: HashMap<u16, Pending>,
    rng: ChaCha8Rng,
    /// Queries answered from the cache, forwarded upstream, and answered stale.
    pub hits: u64,
    pub forwarded: u64,
    pub stale_answers: u64,
    /// A resolver's answers from upstream: the name, when it cached it, and for how long (s).
    pub fetched: Vec<(String, Instant, u32)>,
}

impl DnsServer {
    pub fn new(sockets: &mut SocketSet<'static>, role: Role, rng: ChaCha8Rng) -> Self {
        let handle = udp_socket(sockets, PORT);
        DnsServer {
            handle,
            role,
            cache: Cache::default(),
            pending: HashMap::new(),
            rng,
            hits: 0,
            forwarded: 0,
            stale_answers: 0,
            fetched: Vec::new(),
        }
    }

    /// An authority answers `name` with `addrs` from now on (a health-checked DNS moving a
    /// name). False for a resolver, or a name outside the zone.
    pub fn set_records(&mut self, name: &str, addrs: &[Ipv4Addr]) -> bool {
        match &mut self.role {
            Role::Authority { zone } => match zone.get_mut(name) {
                Some(answer) if !addrs.is_empty() => {
                    answer.addrs = addrs.to_vec();
                    true
                }
                _ => false,
            },
            Role::Resolver { .. } => false,
        }
    }

    /// It is a resolver (not an authority).
    pub fn is_resolver(&self) -> bool {
        matches!(self.role, Role::Resolver { .. })
    }

    /// When a stale answer is next due (serve-stale only).
    pub fn next_timer(&self) -> Option<Instant> {
        self.pending.values().flat_map(|p| p.waiting.iter().filter_map(|w| w.stale_at)).min()
    }

    /// Answers or forwards every datagram that has arrived, and gives the stale answers due.
    pub fn poll(&mut self, now: Instant, sockets: &mut SocketSet<'static>) {
        let socket = sockets.get_mut::<udp::Socket>(self.handle);
        let reply = |socket: &mut udp::Socket, to: IpEndpoint, bytes: Option<Vec<u8>>| {
            if let Some(b) = bytes {
                let _ = socket.send_slice(&b, to);
            }
        };
        while let Ok((bytes, meta)) = socket.recv() {
            let Ok(msg) = Message::from_vec(bytes) else { continue };
            let from = meta.endpoint;
            match (&self.role, msg.message_type()) {
                (Role::Authority { zone }, MessageType::Query) => {
                    let answer = query_name(&msg).and_then(|n| zone.get(&n).cloned());
                    reply(socket, from, encode_response(&msg, answer.as_ref(), false));
                }
                (Role::Resolver { upstream, policy }, MessageType::Query) => {
                    let Some(name) = query_name(&msg) else { continue };
                    if let Some(hit) = self.cache.get(&name, now) {
                        self.hits += 1;
                        reply(socket, from, encode_response(&msg, Some(&hit), true));
                        continue;
                    }
                    let stale = policy.serve_stale && self.cache.get_stale(&name, now).is_some();
                    let stale_at = stale.then(|| now + STALE_CLIENT_TIMEOUT);
                    let waiting = Waiting { client: from, query: msg, stale_at, answered: false };
                    let fetching =
                        self.pending.values_mut().find(|p| p.name == name && now < p.sent + super::RETRY_AFTER);
                    if let Some(p) = fetching {
                        p.waiting.push(waiting);
                        continue;
                    }
                    let mut id = self.rng.next_u32() as u16;
                    while self.pending.contains_key(&id) {
                        id = id.wrapping_add(1);
                    }
                    let upstream = IpEndpoint::new(IpAddress::Ipv4(*upstream), PORT);
                    reply(socket, upstream, encode_query(id, &name));
                    self.forwarded += 1;
                    self.pending.insert(id, Pending { name, sent: now, waiting: vec![waiting] });
                }
                (Role::Resolver { policy, .. }, MessageType::Response) => {
                    let Some(p) = self.pending.remove(&msg.id()) else { continue };
                    let answer = a_records(&msg).map(|a| Answer { ttl: policy.clamp(a.ttl), ..a });
                    if let Some(a) = &answer {
                        self.fetched.push((p.name.clone(), now, a.ttl));
                        self.cache.put_ttl(p.name.clone(), a.clone(), now);
                    }
                    // A client that already had its stale answer gets nothing more.
                    for w in p.waiting.iter().filter(|w| !w.answered) {
                        reply(socket, w.client, encode_response(&w.query, answer.as_ref(), true));
                    }
                }
                _ => {}
            }
        }
        // RFC 8767 §5: the client response timer ran out: answer from the stale record, and
        // keep waiting for the authority (its answer refreshes the cache).
        for p in self.pending.values_mut() {
            for w in p.waiting.iter_mut().filter(|w| w.stale_at.is_some_and(|t| t <= now)) {
                w.stale_at = None;
                w.answered = true;
                if let Some(s) = self.cache.get_stale(&p.name, now) {
                    self.stale_answers += 1;
                    reply(socket, w.client, encode_response(&w.query, Some(&s), true));
                }
            }
        }
    }
}
