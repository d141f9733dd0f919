//! A service's answers: the responses that are due, written connection by connection in the
//! order the connections were accepted. An HTTP/1.1 answer is its head (RFC 9112 §6), in a
//! write of its own, then its body; the answers due at once on one HTTP/2 connection are
//! handed to it together (RFC 9113 §5.3: it shares the windows among their streams).

use std::net::SocketAddrV4;

use smoltcp::socket::tcp;
use smoltcp::wire::{IpAddress, IpEndpoint};

use super::{h2_stream, HttpService, Job, Runtime};
use crate::proto::http1;
use crate::service::{RequestId, Served};
use crate::sim::network::{Expect, Network};
use crate::time::Instant;

impl HttpService {
    /// Writes the responses that are due (saying, in the captures, which request each answers,
    /// except at the lab's server, whose client says it).
    pub(super) fn answer(&mut self, now: Instant, net: &mut Network) {
        let mut due: Vec<(u64, u64, u16, u64)> = Vec::new();
        for r in &self.requests {
            let answer = match (&mut self.runtime, r.job) {
                (Runtime::Bytes, Job::Serving { until, .. }) if until <= now => {
                    Some((200, http1::requested_size(&r.path)))
                }
                (Runtime::Service { response, .. }, Job::Serving { until, .. }) if until <= now => {
                    Some((200, *response))
                }
                (Runtime::Gateway(g), Job::Calling { .. }) => g.take_answer(r.key),
                _ => None,
            };
            if let Some((status, len)) = answer {
                due.push((r.conn, r.key, status, len));
            }
        }
        // Stable: a connection's requests stay in the order they arrived.
        due.sort_by_key(|d| d.0);
        let tag = self.lab.is_some();
        let mut h2_answers: Vec<(u32, u16, u64)> = Vec::new();
        for (i, &(conn, key, status, len)) in due.iter().enumerate() {
            if let Some(at) = self.requests.iter().position(|r| r.key == key) {
                let r = self.requests.remove(at);
                let (arrived, started) = match r.job {
                    Job::Serving { arrived, started, .. } | Job::Calling { arrived, started } => (arrived, started),
                    Job::Queued { arrived } => (arrived, now),
                };
                self.active = self.active.saturating_sub(1);
                let answered = match &mut self.h3 {
                    Some(h3) => {
                        h3.respond(conn as usize, r.stream, status, len);
                        true
                    }
                    None => match self.conns.iter_mut().find(|c| c.id == conn) {
                        Some(c) => {
                            c.busy = false;
                            let remote =
                                net.hosts[self.host].sockets.get::<tcp::Socket>(c.stream.handle).remote_endpoint();
                            if let (None, Some(IpEndpoint { addr: IpAddress::Ipv4(ip), port })) = (&self.lab, remote) {
                                if net.captured_between(self.host, ip) {
                                    let ms = (now - arrived).as_secs_f64() * 1e3;
                                    let on =
                                        if c.h2.is_some() { format!(" (stream {})", r.stream) } else { String::new() };
                                    let host = &net.hosts[self.host].name;
                                    let why = format!("answers GET {}{on} after {ms:.1} ms at {host}", r.path);
                                    net.explain_next(
                                        self.host,
                                        c.port,
                                        SocketAddrV4::new(ip, port),
                                        Expect::Data,
                                        || why,
                                    );
                                }
                            }
                            match &c.h2 {
                                Some(_) => h2_answers.push((h2_stream(r.stream), status, len)),
                                None => match http1::requested_object(&r.path).filter(|_| tag) {
                                    // An object of a page: which TCP bytes carry it (head-of-line lab).
                                    Some(object) => {
                                        c.stream.write_tagged(&http1::response_head_status(status, len), object);
                                        c.stream.write_body_tagged(len, object);
                                    }
                                    None => {
                                        c.stream.write(&http1::response_head_status(status, len));
                                        c.stream.write_body(len);
                                    }
                                },
                            }
                            true
                        }
                        None => false,
                    },
                };
                if answered {
                    self.log.answered += 1;
                    self.log.service_us.push((now - arrived).as_micros() as u64);
                    let id = RequestId::parse(&r.path);
                    self.log.served.push(Served { from: r.peer, id, arrived, started, answered: now });
                }
            }
            // The connection's last answer due: send them.
            if due.get(i + 1).is_some_and(|d| d.0 == conn) {
                continue;
            }
            let Some(c) = self.conns.iter_mut().find(|c| c.id == conn && self.h3.is_none()) else { continue };
            if let Some(h2) = c.h2.as_mut().filter(|_| !h2_answers.is_empty()) {
                h2.respond_all(&std::mem::take(&mut h2_answers));
                c.write_h2(tag);
            }
            c.stream.pump(&mut net.hosts[self.host].sockets);
        }
    }
}
