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

    /// Closes what the caller closed; removes closed connections.
    pub(super) fn reap(&mut self, _now: Instant, net: &mut Network) {
        let sockets = &mut net.hosts[self.host].sockets;
        for c in &mut self.conns {
            let state = sockets.get::<tcp::Socket>(c.stream.handle).state();
            if !c.closing && state == State::CloseWait && c.stream.unsent() == 0 {
                if let Some(tls) = &mut c.stream.tls {
                    tls.send_close_notify();
                }
                c.stream.pump(sockets);
                sockets.get_mut::<tcp::Socket>(c.stream.handle).close();
                c.closing = true;
            }
        }
        self.conns.retain(|c| {
            let socket = sockets.get::<tcp::Socket>(c.stream.handle);
            let done = socket.state() == State::Closed && socket.remote_endpoint().is_none();
            if done {
                sockets.remove(c.stream.handle);
            }
            !done
        });
    }
}
