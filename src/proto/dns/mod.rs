//! DNS over UDP (RFC 1035 §4), with messages built and parsed by hickory-proto.
//!
//! Three roles make a lookup cost what it costs on the Internet, and cache as real programs do:
//! - [`StubResolver`] on the client: sends a recursive query, caches the answer for its TTL
//!   (a cached lookup sends nothing and costs 0); [`Lookups`] is the same for many client
//!   programs on one host at once, each with its own cache policy ([`ClientCache`]);
//! - [`DnsServer`] as a *resolver*: answers from its cache, or forwards the query upstream
//!   and caches the reply (RFC 1035 §7), its TTL clamped to a minimum and a maximum, and
//!   optionally serving stale answers when the authority is silent (RFC 8767);
//! - [`DnsServer`] as an *authority*: answers A queries for its zone, one or several A
//!   records per name, which a scheduled event may change.

mod cache;
mod server;
mod stub;

use std::net::Ipv4Addr;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::udp;

pub use cache::{ClientCache, ResolverPolicy, CLIENT_CACHES, RESOLVER_PRESETS};
pub use server::{DnsServer, Role};
pub use stub::{Lookup, LookupResult, Lookups, StubResolver};

/// The DNS port.
pub const PORT: u16 = 53;
/// How long the stub waits for an answer before it asks again (glibc waits 5 s; labs want less).
pub const RETRY_AFTER: Duration = Duration::from_secs(1);

/// The A records of a name, with their TTL in seconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// In the order the authority lists them (never empty in an answer).
    pub addrs: Vec<Ipv4Addr>,
    pub ttl: u32,
}

impl Answer {
    /// One A record.
    pub fn one(addr: Ipv4Addr, ttl: u32) -> Answer {
        Answer { addrs: vec![addr], ttl }
    }

    /// The first address (what a client that tries one address uses).
    pub fn addr(&self) -> Ipv4Addr {
        self.addrs.first().copied().unwrap_or(Ipv4Addr::UNSPECIFIED)
    }
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
            for addr in &a.addrs {
                msg.add_answer(Record::from_rdata(q.name().clone(), a.ttl, RData::A(A(*addr))));
            }
        }
        Some((_, false)) => {}
        None => {
            msg.set_response_code(ResponseCode::NXDomain);
        }
    }
    msg.add_query(q);
    msg.to_vec().ok()
}

/// The A records of a response, if any (their TTL: the smallest, RFC 2181 §5.2 wants them equal).
fn a_records(msg: &Message) -> Option<Answer> {
    let mut addrs = Vec::new();
    let mut ttl = u32::MAX;
    for r in msg.answers() {
        if let RData::A(a) = r.data() {
            addrs.push(a.0);
            ttl = ttl.min(r.ttl());
        }
    }
    (!addrs.is_empty()).then_some(Answer { addrs, ttl })
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
