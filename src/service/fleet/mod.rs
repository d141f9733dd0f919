//! A fleet of client programs on one host, each sending a request to a DNS name every
//! `interval`: what a service's clients do while its backend fails over (the dns-failover lab).
//!
//! Each of the `clients` programs has its own DNS cache ([`ClientCache`]: none, the TTL, a
//! fixed 30 s as Java's, ...), and its first request at a seeded phase within the first
//! interval, so their caches expire at different times, as real clients' do. For each request
//! a program:
//! 1. looks the name up: from its own cache while that holds the name, else by a query to the
//!    lab's resolver (one query at a time per program; requests due meanwhile wait for it);
//! 2. connects to the first address of the answer. A connection not up within
//!    `connect_timeout` is abandoned; without one the kernel's default applies: Linux sends
//!    the SYN again after 1, 2, 4, 8, 16 and 32 s and gives up 64 s after the last, 127 s in
//!    all (`tcp_syn_retries` = 6; smoltcp's retransmission timer doubles from 1 s the same
//!    way). A refused connection (a reset) fails at once. With `fallback`, a failed or timed
//!    out attempt moves on to the answer's next address (RFC 8305's 250 ms between attempts
//!    is what a Happy Eyeballs client waits; here attempts do not overlap);
//! 3. sends `GET /` and reads the response, on a fresh connection closed after it; or, with
//!    `pool`, on the program's one kept-alive connection, which it opened at the address it
//!    resolved then and never re-resolves until the connection breaks (as .NET's default
//!    `PooledConnectionLifetime`, infinite, does). Requests wait for that connection in turn.
//!
//! After `duration` no new request starts; those still open get until `connect_timeout` plus
//! [`DRAIN_EXTRA`] to finish, then fail as unanswered. Every request is kept as a
//! [`FleetRecord`]: when it was due, which addresses it tried, how it ended.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

mod conn;
mod spec;

use conn::{advance, Conn, Moved};
pub use spec::{Failure, FleetRecord, FleetSpec, DRAIN_EXTRA, KERNEL_CONNECT_TIMEOUT};

use rand_chacha::ChaCha8Rng;
use rand_core::RngCore;
use smoltcp::socket::tcp::State;

use crate::proto::cwnd::TcpConfig;
use crate::proto::dns::{ClientCache, Lookups};
use crate::proto::http1;
use crate::proto::http_client::{take_port, HttpConn};
use crate::sim::network::{Expect, Network};
use crate::time::Instant;

/// One client program.
struct Program {
    /// Its cached answer and when it expires.
    cache: Option<(Vec<Ipv4Addr>, Instant)>,
    next_due: Instant,
    /// A query of its own is on the wire; these requests wait for it.
    waiting: Vec<usize>,
    lookup: bool,
    /// Its pooled connection, and the requests waiting for it (pool mode).
    pooled: Option<Conn>,
    queue: VecDeque<usize>,
}

/// The fleet. See the [module docs](self).
pub struct Fleet {
    host: usize,
    spec: FleetSpec,
    tcp: TcpConfig,
    lookups: Lookups,
    programs: Vec<Program>,
    /// Fresh connections (one request each), and those closing.
    conns: Vec<Conn>,
    closing: Vec<HttpConn>,
    next_port: u16,
    start: Option<Instant>,
    pub records: Vec<FleetRecord>,
    open: usize,
    rng: ChaCha8Rng,
}

impl Fleet {
    /// The fleet on `host`, asking the resolver at `resolver` through `lookups`.
    pub fn new(host: usize, spec: FleetSpec, tcp: TcpConfig, lookups: Lookups, mut rng: ChaCha8Rng) -> Fleet {
        let interval = spec.interval.as_micros().max(1) as u64;
        let programs = (0..spec.clients)
            .map(|_| Program {
                cache: None,
                // A seeded phase in [0, interval), set when the fleet starts.
                next_due: Instant::ZERO + Duration::from_micros(rng.next_u64() % interval),
                waiting: Vec::new(),
                lookup: false,
                pooled: None,
                queue: VecDeque::new(),
            })
            .collect();
        let next_port = 49152 + (rng.next_u32() % 8192) as u16;
        Fleet {
            host,
            spec,
            tcp,
            lookups,
            programs,
            conns: Vec::new(),
            closing: Vec::new(),
            next_port,
            start: None,
            records: Vec::new(),
            open: 0,
            rng,
        }
    }

    pub fn spec(&self) -> &FleetSpec {
        &self.spec
    }

    /// Queries sent to the resolver, retries included.
    pub fn dns_queries(&self) -> u64 {
        self.lookups.sent
    }

    /// Starts the programs at `now`, each at its phase. A cache whose lifetime does not follow
    /// the TTL starts as it would be in a fleet that has run for a while: holding `initial`,
    /// the name's answer (with `ttl`), fetched at a seeded time within one lifetime before
    /// `now`, so the programs refresh at times spread over the lifetime, not all at once.
    /// (A TTL-honouring cache starts empty: it follows the resolver's copy, whatever its age.)
    pub fn start(&mut self, now: Instant, initial: Option<(Vec<Ipv4Addr>, u32)>) {
        self.start = Some(now);
        let fixed = matches!(self.spec.cache, ClientCache::Fixed(_) | ClientCache::AtLeast(_));
        for p in &mut self.programs {
            p.next_due = now + p.next_due.saturating_since(Instant::ZERO);
            let Some((addrs, ttl)) = initial.as_ref().filter(|_| fixed) else { continue };
            let Some(life) = self.spec.cache.lifetime(*ttl) else { continue };
            // Expires within (now, now + life]: fetched within the last lifetime.
            let left = 1 + self.rng.next_u64() % (life.as_micros() as u64).max(1);
            p.cache = Some((addrs.clone(), now + Duration::from_micros(left)));
        }
    }

    /// When the requests still open are given up.
    fn drain_end(&self) -> Option<Instant> {
        Some(self.start? + self.spec.duration + self.spec.connect_timeout() + DRAIN_EXTRA)
    }

    pub fn finished(&self) -> bool {
        let Some(start) = self.start else { return false };
        let all_due = self.programs.iter().all(|p| p.next_due >= start + self.spec.duration);
        all_due && self.open == 0
    }

    pub fn next_timer(&self) -> Option<Instant> {
        let start = self.start?;
        let end = start + self.spec.duration;
        let due = self.programs.iter().map(|p| p.next_due).filter(|&t| t < end).min();
        let timeout = self.spec.connect_timeout();
        let connects = self.conns.iter().chain(self.programs.iter().filter_map(|p| p.pooled.as_ref()));
        let connect = connects.filter(|c| !c.up).map(|c| c.since + timeout).min();
        let drain = (self.open > 0).then(|| self.drain_end()).flatten();
        [due, connect, self.lookups.next_timer(), drain].into_iter().flatten().min()
    }

    /// Starts what is due, moves every request along, and ends what is over.
    pub fn poll(&mut self, now: Instant, net: &mut Network) -> Result<(), String> {
        if self.start.is_none() {
            return Ok(());
        }
        for answer in self.lookups.poll(now, &mut net.hosts[self.host].sockets) {
            self.answered(answer.token as usize, answer.answer.map(|a| (a.addrs, a.ttl)), now, net)?;
        }
        self.start_due(now, net)?;
        self.move_fresh(now, net)?;
        for p in 0..self.programs.len() {
            self.move_pooled(p, now, net)?;
        }
        let sockets = &mut net.hosts[self.host].sockets;
        self.closing.retain(|c| {
            let gone = c.gone(sockets);
            if gone {
                c.remove(sockets);
            }
            !gone
        });
        if self.drain_end().is_some_and(|end| now >= end) && self.open > 0 {
            self.give_up(now, net);
        }
        Ok(())
    }

    /// Creates the requests due by `now`, and sends each on its way.
    fn start_due(&mut self, now: Instant, net: &mut Network) -> Result<(), String> {
        let Some(start) = self.start else { return Ok(()) };
        let end = start + self.spec.duration;
        for p in 0..self.programs.len() {
            while self.programs[p].next_due <= now && self.programs[p].next_due < end {
                let due = self.programs[p].next_due;
                self.programs[p].next_due = due + self.spec.interval;
                let r = self.records.len();
                self.records.push(FleetRecord {
                    client: p as u32,
                    due,
                    done: None,
                    status: 0,
                    failure: None,
                    addrs: Vec::new(),
                    queried: false,
                });
                self.open += 1;
                let program = &mut self.programs[p];
                if let Some(c) = program.pooled.as_ref().filter(|_| self.spec.pool) {
                    let addr = c.addrs[c.at];
                    program.queue.push_back(r);
                    self.note_addr(r, addr);
                    continue;
                }
                if let Some((addrs, _)) = program.cache.as_ref().filter(|(_, expires)| now < *expires) {
                    let addrs = addrs.clone();
                    self.connect(p, r, addrs, now, net)?;
                    continue;
                }
                self.await_lookup(p, r, now, net);
            }
        }
        Ok(())
    }

    /// Request `r` waits for program `p`'s lookup, which starts now unless one is running.
    fn await_lookup(&mut self, p: usize, r: usize, now: Instant, net: &mut Network) {
        self.records[r].queried = true;
        let program = &mut self.programs[p];
        program.waiting.push(r);
        if !program.lookup {
            program.lookup = true;
            self.lookups.start(now, &self.spec.name, p as u64, &mut net.hosts[self.host].sockets);
        }
    }

    /// Program `p`'s query was answered (`None`: the name does not exist).
    fn answered(
        &mut self,
        p: usize,
        answer: Option<(Vec<Ipv4Addr>, u32)>,
        now: Instant,
        net: &mut Network,
    ) -> Result<(), String> {
        let Some(program) = self.programs.get_mut(p) else { return Ok(()) };
        program.lookup = false;
        let waiting = std::mem::take(&mut program.waiting);
        match answer {
            None => {
                for r in waiting {
                    self.fail(r, Failure::NotFound, now);
                }
            }
            Some((addrs, ttl)) => {
                if let Some(lifetime) = self.spec.cache.lifetime(ttl) {
                    program.cache = Some((addrs.clone(), now + lifetime));
                }
                for r in waiting {
                    self.connect(p, r, addrs.clone(), now, net)?;
                }
            }
        }
        Ok(())
    }

    /// Sends request `r` of program `p` to `addrs`: on a fresh connection, or on the pooled
    /// one it opens (the request goes first in the program's queue).
    fn connect(
        &mut self,
        p: usize,
        r: usize,
        addrs: Vec<Ipv4Addr>,
        now: Instant,
        net: &mut Network,
    ) -> Result<(), String> {
        let mut conn = self.open_conn(addrs, 0, now, net)?;
        self.note_addr(r, conn.addrs[0]);
        if self.spec.pool {
            let program = &mut self.programs[p];
            program.queue.push_front(r);
            program.pooled = Some(conn);
        } else {
            conn.request = Some(r);
            self.conns.push(conn);
        }
        Ok(())
    }

    /// Request `r` is bound for `addr` (an attempt, or the pooled connection it waits for).
    fn note_addr(&mut self, r: usize, addr: Ipv4Addr) {
        let addrs = &mut self.records[r].addrs;
        if addrs.last() != Some(&addr) {
            addrs.push(addr);
        }
    }

    fn open_conn(&mut self, addrs: Vec<Ipv4Addr>, at: usize, now: Instant, net: &mut Network) -> Result<Conn, String> {
        let to = SocketAddrV4::new(addrs[at], self.spec.port);
        let port = take_port(&mut self.next_port);
        let conn = HttpConn::connect(&mut net.hosts[self.host], &self.tcp, to, port, None, now)?;
        Ok(Conn { conn, addrs, at, since: now, up: false, request: None })
    }

    /// Fresh connections: connect (with the timeout and fallback), send, read, close.
    fn move_fresh(&mut self, now: Instant, net: &mut Network) -> Result<(), String> {
        let mut kept = Vec::with_capacity(self.conns.len());
        for c in std::mem::take(&mut self.conns) {
            if let Some(c) = self.handle(c, None, now, net)? {
                kept.push(c);
            }
        }
        kept.append(&mut self.conns);
        self.conns = kept;
        Ok(())
    }

    /// Program `p`'s pooled connection: opens, carries its queue one request at a time, and
    /// when it breaks fails its request; the rest start again from a lookup.
    fn move_pooled(&mut self, p: usize, now: Instant, net: &mut Network) -> Result<(), String> {
        let Some(mut c) = self.programs[p].pooled.take() else { return Ok(()) };
        if c.up && c.request.is_none() {
            if let Some(r) = self.programs[p].queue.pop_front() {
                self.note_addr(r, c.addrs[c.at]);
                self.send(&mut c, r, now, net);
            }
        }
        let kept = self.handle(c, Some(p), now, net)?;
        if kept.is_some() {
            self.programs[p].pooled = kept;
        }
        Ok(())
    }

    /// Moves connection `c` along; returns it while it goes on.
    fn handle(
        &mut self,
        mut c: Conn,
        pooled: Option<usize>,
        now: Instant,
        net: &mut Network,
    ) -> Result<Option<Conn>, String> {
        let timeout = self.spec.connect_timeout();
        match advance(&mut c, now, &mut net.hosts[self.host].sockets, timeout)? {
            Moved::Going => Ok(Some(c)),
            Moved::Up => {
                if let (Some(r), None) = (c.request, pooled) {
                    self.send(&mut c, r, now, net);
                }
                Ok(Some(c))
            }
            Moved::AttemptFailed(failure) => {
                let next = c.at + 1;
                // The request this attempt was for: a fresh connection's, or the first waiting.
                let r = c.request.or_else(|| pooled.and_then(|p| self.programs[p].queue.pop_front()));
                self.retire(c.conn, false, net);
                if self.spec.fallback && next < c.addrs.len() {
                    let mut n = self.open_conn(c.addrs, next, now, net)?;
                    match pooled {
                        None => n.request = r,
                        Some(p) => {
                            if let Some(r) = r {
                                self.programs[p].queue.push_front(r);
                            }
                        }
                    }
                    if let Some(r) = r {
                        self.note_addr(r, n.addrs[n.at]);
                    }
                    return Ok(Some(n));
                }
                if let Some(r) = r {
                    self.fail(r, failure, now);
                }
                if let Some(p) = pooled {
                    self.requeue(p, now, net)?;
                }
                Ok(None)
            }
            Moved::Ended(result) => {
                let r = c.request.take();
                if let Some(r) = r {
                    self.end(r, result, now);
                }
                let up = c.conn.tcp_state(&net.hosts[self.host].sockets) == State::Established;
                match pooled {
                    Some(_) if result.is_ok() && up => Ok(Some(c)),
                    Some(p) => {
                        self.retire(c.conn, false, net);
                        self.requeue(p, now, net)?;
                        Ok(None)
                    }
                    None => {
                        self.retire(c.conn, result.is_ok(), net);
                        Ok(None)
                    }
                }
            }
        }
    }

    /// Program `p` lost its pooled connection: the requests waiting for it start again from
    /// the program's cache or a new lookup.
    fn requeue(&mut self, p: usize, now: Instant, net: &mut Network) -> Result<(), String> {
        let queued: Vec<usize> = self.programs[p].queue.drain(..).collect();
        for r in queued {
            let cached = self.programs[p].cache.as_ref().filter(|(_, e)| now < *e).map(|(a, _)| a.clone());
            match cached {
                Some(addrs) if self.programs[p].pooled.is_none() => self.connect(p, r, addrs, now, net)?,
                Some(_) => {
                    let addr = self.programs[p].pooled.as_ref().map(|c| c.addrs[c.at]);
                    self.programs[p].queue.push_back(r);
                    if let Some(a) = addr {
                        self.note_addr(r, a);
                    }
                }
                None => self.await_lookup(p, r, now, net),
            }
        }
        Ok(())
    }

    /// Sends request `r`'s `GET /` on `c`.
    fn send(&mut self, c: &mut Conn, r: usize, now: Instant, net: &mut Network) {
        let to = SocketAddrV4::new(c.addrs[c.at], self.spec.port);
        let rec = &self.records[r];
        let what = || format!("client {}, request due at {}", rec.client + 1, rec.due);
        net.explain_next(self.host, c.conn.port(), to, Expect::Data, what);
        c.conn.send_request(&http1::get(&self.spec.name, "/"), r as u64, now);
        c.conn.pump(&mut net.hosts[self.host].sockets);
        c.request = Some(r);
    }

    fn end(&mut self, r: usize, result: Result<u16, Failure>, now: Instant) {
        match result {
            Ok(status) => {
                let rec = &mut self.records[r];
                rec.status = status;
                rec.done = Some(now);
                self.open -= 1;
            }
            Err(f) => self.fail(r, f, now),
        }
    }

    fn fail(&mut self, r: usize, failure: Failure, now: Instant) {
        let rec = &mut self.records[r];
        if rec.done.is_none() {
            rec.failure = Some(failure);
            rec.done = Some(now);
            self.open -= 1;
        }
    }

    /// Closes a finished connection (or resets a broken one) and keeps it until it is gone.
    fn retire(&mut self, mut conn: HttpConn, clean: bool, net: &mut Network) {
        let sockets = &mut net.hosts[self.host].sockets;
        if clean {
            conn.close(sockets);
        } else {
            conn.abort(sockets);
        }
        self.closing.push(conn);
    }

    /// The run is over: whatever is still open fails as unanswered.
    fn give_up(&mut self, now: Instant, net: &mut Network) {
        for c in std::mem::take(&mut self.conns) {
            if let Some(r) = c.request {
                self.fail(r, Failure::Unanswered, now);
            }
            self.retire(c.conn, false, net);
        }
        for p in 0..self.programs.len() {
            if let Some(c) = self.programs[p].pooled.take() {
                self.retire(c.conn, false, net);
            }
        }
        for r in 0..self.records.len() {
            self.fail(r, Failure::Unanswered, now);
        }
        for p in &mut self.programs {
            p.queue.clear();
            p.waiting.clear();
        }
    }
}
