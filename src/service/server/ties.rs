//! Tied copies at the service ([`crate::service::tie`]): the twins' cancellations, read from
//! the service's UDP port.

use std::net::SocketAddrV4;

use smoltcp::socket::tcp;
use smoltcp::socket::udp;
use smoltcp::wire::{IpAddress, IpEndpoint};

use super::{h2_stream, HttpService, Request, TIE_MEMORY};
use crate::service::RequestId;
use crate::sim::network::{Expect, Network};
use crate::time::Instant;

impl HttpService {
    /// Reads the twins' cancellations: a copy still queued is dropped and its connection (or
    /// HTTP/2 stream) reset; one already started runs on (the work is done twice: see
    /// [`super::tied_both_ran`]); one not here yet is dropped when it arrives (within
    /// [`TIE_MEMORY`]).
    pub(super) fn drop_cancelled_ties(&mut self, now: Instant, net: &mut Network) {
        let udp = net.hosts[self.host].sockets.get_mut::<udp::Socket>(self.ties);
        while let Ok((bytes, _)) = udp.recv() {
            if let Some((req, k)) = crate::service::tie::parse_cancel(bytes) {
                self.early_cancels.push_back((req, k, now));
            }
        }
        while self.early_cancels.front().is_some_and(|(_, _, at)| *at + TIE_MEMORY < now) {
            self.early_cancels.pop_front();
        }
        let mut i = 0;
        while i < self.early_cancels.len() {
            let (req, k, _) = self.early_cancels[i];
            let same_call = |r: &Request| {
                RequestId::parse(&r.path).is_some_and(|id| id.req == req && id.call.is_some_and(|(kk, _)| kk == k))
            };
            let Some(at) = self.requests.iter().position(same_call) else {
                i += 1;
                continue;
            };
            self.early_cancels.remove(i);
            if self.requests[at].job.admitted() {
                // Started already: both copies run (the services' logs tell).
                continue;
            }
            let r = self.requests.remove(at);
            self.queue.retain(|&q| q != r.key);
            self.log.tie_dropped += 1;
            if let Some(h3) = &mut self.h3 {
                h3.cancel(r.conn as usize, r.stream);
                continue;
            }
            let Some(c) = self.conns.iter_mut().find(|c| c.id == r.conn) else { continue };
            let sockets = &mut net.hosts[self.host].sockets;
            let remote = sockets.get::<tcp::Socket>(c.stream.handle).remote_endpoint();
            if let Some(IpEndpoint { addr: IpAddress::Ipv4(ip), port }) = remote {
                let (what, expect) = match c.h2 {
                    Some(_) => ("RST_STREAM", Expect::Data),
                    None => ("reset", Expect::Reset),
                };
                let why = || format!("{what}: drops its queued copy of {}: the tied copy started first", r.path);
                net.explain_next(self.host, self.port, SocketAddrV4::new(ip, port), expect, why);
            }
            let sockets = &mut net.hosts[self.host].sockets;
            match &mut c.h2 {
                Some(h2) => {
                    h2.cancel(h2_stream(r.stream));
                    c.stream.write(&h2.take_bytes());
                    c.stream.pump(sockets);
                }
                None => sockets.get_mut::<tcp::Socket>(c.stream.handle).abort(),
            }
        }
    }
}
