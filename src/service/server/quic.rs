//! An HTTP/3 service's requests ([`crate::service::h3`]): each complete request stream joins
//! the service's queue as an HTTP/2 stream does, and a stream or connection its caller gave up
//! withdraws its requests.

use super::{HttpService, Job, Request};
use crate::proto::quic::Withdrawn;
use crate::service::h3::peer_ip;
use crate::sim::network::Network;
use crate::time::Instant;

impl HttpService {
    /// Takes in what QUIC delivered at `now`: new requests are queued (each with a key of its
    /// own; `conn` is the QUIC connection's handle), withdrawn ones are added to `withdrawn`.
    pub(super) fn receive_h3(&mut self, now: Instant, net: &mut Network, withdrawn: &mut Vec<(u64, Option<u64>)>) {
        let Some(h3) = &mut self.h3 else { return };
        let (arrived, gone) = h3.receive(now, net);
        for r in arrived {
            let (key, conn, peer) = (self.next_id, r.conn as u64, peer_ip(r.peer));
            self.next_id += 1;
            let job = Job::Queued { arrived: now };
            self.requests.push(Request { key, conn, stream: r.stream, peer, path: r.path, job });
            self.queue.push_back(key);
            self.log.requests += 1;
        }
        withdrawn.extend(gone.into_iter().map(|w| match w {
            Withdrawn::Stream { conn, stream } => (conn as u64, Some(stream)),
            Withdrawn::Conn(conn) => (conn as u64, None),
        }));
    }
}
