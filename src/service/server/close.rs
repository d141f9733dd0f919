//! How a service's TCP connections end: refused for bytes that are not HTTP, or closed after
//! their caller closed (RFC 9293 §3.6; over TLS with close_notify first, RFC 8446 §6.1).

use smoltcp::iface::SocketSet;
use smoltcp::socket::tcp::{self, State};

use super::{Conn, HttpService};
use crate::service::ServiceLog;
use crate::sim::network::Network;
use crate::time::Instant;

impl HttpService {
    /// A connection whose bytes are not HTTP: `answer` (400, or HTTP/2's GOAWAY), then close;
    /// counted with the parser's `error`, as a real server would log it, and the run goes on.
    pub(super) fn refuse(
        log: &mut ServiceLog,
        c: &mut Conn,
        sockets: &mut SocketSet<'static>,
        answer: &[u8],
        error: String,
    ) {
        log.bad_connections += 1;
        log.first_bad.get_or_insert(error);
        c.stream.inbox.clear();
        c.stream.write(answer);
        if let Some(tls) = &mut c.stream.tls {
            tls.send_close_notify();
        }
        c.stream.pump(sockets);
        sockets.get_mut::<tcp::Socket>(c.stream.handle).close();
        c.closing = true;
    }

    /// Closes what the caller closed (once everything is answered), and, at the lab's server,
    /// what stayed idle past its timeout (an HTTP keep-alive timeout, RFC 9112 §9.5); removes
    /// closed connections. Sockets stay in the set through TIME-WAIT, so the last ACK of the
    /// close still goes out and a late segment is absorbed instead of answered with a reset.
    pub(super) fn reap(&mut self, now: Instant, net: &mut Network) {
        let sockets = &mut net.hosts[self.host].sockets;
        for i in 0..self.conns.len() {
            let idle = self.idle(&self.conns[i], now);
            let c = &mut self.conns[i];
            let state = sockets.get::<tcp::Socket>(c.stream.handle).state();
            let client_closed = state == State::CloseWait && c.stream.unsent() == 0;
            let timed_out = idle && state == State::Established && c.stream.unsent() == 0;
            if !c.closing && (client_closed || timed_out) {
                if let Some(tls) = &mut c.stream.tls {
                    tls.send_close_notify();
                }
                c.stream.pump(sockets);
                sockets.get_mut::<tcp::Socket>(c.stream.handle).close();
                c.closing = true;
                self.log.idle_closes += u64::from(timed_out && !client_closed);
            }
        }
        let mut tagged = self.lab.as_mut().map(|l| &mut l.tagged);
        self.conns.retain(|c| {
            let socket = sockets.get::<tcp::Socket>(c.stream.handle);
            // A connection reset for late data goes at once; others once the reset, or the
            // last ACK, has gone (smoltcp forgets the remote end then).
            let done = socket.state() == State::Closed && (c.dropped || socket.remote_endpoint().is_none());
            if done {
                sockets.remove(c.stream.handle);
                if let Some(tagged) = tagged.as_mut() {
                    tagged.extend(c.stream.tagged.iter().map(|r| (c.peer_port, *r)));
                }
            }
            !done
        });
    }
}
