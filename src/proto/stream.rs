//! A byte stream over a smoltcp TCP socket, with or without TLS.
//!
//! [`Stream::pump`] moves bytes in both directions: socket → rustls → plaintext inbox, and
//! plaintext → rustls → ciphertext outbox → socket, the outbox gated by the sender's
//! congestion window ([`SenderWindow`]). It never blocks and never reads a clock.

use std::collections::VecDeque;
use std::io::{Read, Write};

use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::tcp;

use crate::proto::cwnd::{SenderWindow, TcpConfig};
use crate::proto::http1;

/// A new TCP socket configured by `config`.
pub fn tcp_socket(config: &TcpConfig) -> tcp::Socket<'static> {
    let mut socket = tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0; config.buffer]),
        tcp::SocketBuffer::new(vec![0; config.buffer]),
    );
    config.configure(&mut socket);
    socket
}

/// Bytes `[start, end)` of a connection's outgoing TCP stream, written for `tag`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaggedRange {
    pub start: u64,
    pub end: u64,
    pub tag: u64,
}

/// One end of a TCP connection and what runs over it.
pub struct Stream {
    pub handle: SocketHandle,
    pub tls: Option<rustls::Connection>,
    window: SenderWindow,
    /// Bytes for the socket (ciphertext when TLS is on), and how many of them have gone.
    outbox: Vec<u8>,
    sent: usize,
    /// Bytes of the outbox already handed to TCP and dropped from it.
    out_base: u64,
    /// What comes after the outbox, made into it as the outbox empties: a large response body
    /// is generated as it is sent ([`Stream::write_body`]), never held whole.
    pending: VecDeque<Pending>,
    /// Plaintext bytes in `pending`.
    pending_len: u64,
    /// Byte ranges of the outgoing TCP stream written with [`Stream::write_tagged`].
    pub tagged: Vec<TaggedRange>,
    /// Received ciphertext rustls has not taken yet.
    tls_in: Vec<u8>,
    /// Received plaintext the application has not taken yet.
    pub inbox: Vec<u8>,
    /// Total plaintext received.
    pub received: u64,
    /// Set when a protocol error ended the stream.
    pub error: Option<String>,
    /// rustls reported an error (and queued its fatal alert): it is not fed again, even after
    /// the application has taken [`Stream::error`] (a bad record would make it send another).
    tls_failed: bool,
    /// The buffer a body piece is made in, reused.
    piece: Vec<u8>,
}

impl Stream {
    pub fn new(handle: SocketHandle, config: &TcpConfig) -> Self {
        Stream {
            handle,
            tls: None,
            window: SenderWindow::new(config.congestion, config.mss),
            outbox: Vec::new(),
            sent: 0,
            out_base: 0,
            pending: VecDeque::new(),
            pending_len: 0,
            tagged: Vec::new(),
            tls_in: Vec::new(),
            inbox: Vec::new(),
            received: 0,
            error: None,
            tls_failed: false,
            piece: Vec::new(),
        }
    }

    /// Plaintext to send (encrypted first when TLS is on).
    pub fn write(&mut self, data: &[u8]) {
        if !self.pending.is_empty() {
            // After the body still being generated.
            self.pending_len += data.len() as u64;
            self.pending.push_back(Pending::Bytes(data.to_vec()));
            return;
        }
        self.write_now(data);
    }

    /// `len` bytes of the lab's response body ([`http1::body`]), made as the socket takes them
    /// (a piece of [`BODY_PIECE`] bytes at a time), so that a 1 GB response costs no 1 GB of
    /// memory. The bytes on the wire are the same as `write(&http1::body(len))`: TCP is handed
    /// the same stream, and TLS gets whole records' worth of plaintext per piece.
    ///
    /// A TLS stream still in its handshake (a 0.5-RTT answer to 0-RTT data) gets the body at
    /// once, as before: rustls sends its session tickets when the handshake ends, after what
    /// it was given by then.
    pub fn write_body(&mut self, len: u64) {
        if len == 0 {
            return;
        }
        if self.handshaking() {
            self.write(&http1::body(len));
            return;
        }
        self.pending_len += len;
        self.pending.push_back(Pending::Body { done: 0, len });
    }

    /// [`Stream::write_body`], remembering which bytes of the outgoing TCP stream carry it, as
    /// [`Stream::write_tagged`] does. With TLS the records' sizes are known only once
    /// encrypted, so the body is made at once there.
    pub fn write_body_tagged(&mut self, len: u64, tag: u64) {
        if self.tls.is_some() {
            self.write_tagged(&http1::body(len), tag);
            return;
        }
        let start = self.out_total();
        self.write_body(len);
        self.tagged.push(TaggedRange { start, end: self.out_total(), tag });
    }

    /// Moves what is pending into the outbox (plaintext through TLS) until the outbox holds
    /// at least `want` bytes not yet sent or nothing is pending.
    fn refill(&mut self, want: usize) {
        if self.pending.is_empty() || self.outbox.len() - self.sent >= want {
            return;
        }
        // What TCP has taken goes: the outbox holds about a piece, not the whole body.
        self.out_base += self.sent as u64;
        self.outbox.drain(..self.sent);
        self.sent = 0;
        while self.outbox.len() < want {
            let Some(front) = self.pending.front_mut() else { return };
            match front {
                Pending::Bytes(_) => {
                    let Some(Pending::Bytes(data)) = self.pending.pop_front() else { unreachable!() };
                    self.pending_len -= data.len() as u64;
                    self.write_now(&data);
                }
                Pending::Body { done, len } => {
                    let n = (*len - *done).min(BODY_PIECE as u64);
                    let from = *done;
                    *done += n;
                    if *done == *len {
                        self.pending.pop_front();
                    }
                    self.pending_len -= n;
                    let mut piece = std::mem::take(&mut self.piece);
                    piece.clear();
                    http1::body_into(&mut piece, from, n as usize);
                    self.write_now(&piece);
                    self.piece = piece;
                }
            }
            self.drain_tls();
        }
    }

    fn write_now(&mut self, data: &[u8]) {
        match &mut self.tls {
            Some(tls) => {
                tls.set_buffer_limit(None);
                if let Err(e) = tls.writer().write_all(data) {
                    self.error = Some(format!("TLS write failed: {e}"));
                }
            }
            None => self.outbox.extend_from_slice(data),
        }
    }

    /// Writes `data` and remembers which bytes of the outgoing TCP stream carry it (offsets
    /// from the first byte after the SYN; with TLS, the records that carry `data`). The lab
    /// uses this to say which response, or which HTTP/2 stream, a TCP segment belonged to.
    pub fn write_tagged(&mut self, data: &[u8], tag: u64) {
        if self.tls.is_some() {
            // Ciphertext offsets: what is pending must be encrypted first.
            self.refill(usize::MAX);
        }
        self.drain_tls();
        let start = self.out_total();
        self.write(data);
        self.drain_tls();
        self.tagged.push(TaggedRange { start, end: self.out_total(), tag });
    }

    /// Bytes ever put into the outbox, and those pending (plain streams: the same bytes).
    fn out_total(&self) -> u64 {
        self.out_base + self.outbox.len() as u64 + self.pending_len
    }

    /// Moves whatever rustls has encrypted into the outbox.
    fn drain_tls(&mut self) {
        if let Some(tls) = &mut self.tls {
            while tls.wants_write() {
                match tls.write_tls(&mut self.outbox) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        }
    }

    /// True while TLS is on and its handshake has not finished at this end.
    pub fn handshaking(&self) -> bool {
        self.tls.as_ref().is_some_and(|t| t.is_handshaking())
    }

    /// Bytes waiting to be handed to TCP (those of a body not made yet too).
    pub fn unsent(&self) -> usize {
        self.outbox.len() - self.sent + usize::try_from(self.pending_len).unwrap_or(usize::MAX)
    }

    /// The sender's congestion window, where the lab's model applies.
    pub fn cwnd(&self) -> Option<u64> {
        self.window.cwnd()
    }

    /// Hands TCP what the window allows of what was written, and reads nothing: for a program
    /// that takes the socket's bytes itself (a relay, which reads only what it can hold).
    pub fn send(&mut self, sockets: &mut SocketSet<'static>) {
        let socket = sockets.get_mut::<tcp::Socket>(self.handle);
        self.flush(socket);
    }

    /// Bytes of the outgoing stream handed to TCP so far (ciphertext, when TLS is on).
    pub fn handed(&self) -> u64 {
        self.out_base + self.sent as u64
    }

    /// Moves bytes between the socket, TLS and the application buffers.
    pub fn pump(&mut self, sockets: &mut SocketSet<'static>) {
        let socket = sockets.get_mut::<tcp::Socket>(self.handle);
        // Straight from the socket's ring buffer (no bounce buffer to zero on every call).
        let into = if self.tls.is_some() { &mut self.tls_in } else { &mut self.inbox };
        while socket.can_recv() {
            let taken = socket.recv(|data| {
                into.extend_from_slice(data);
                (data.len(), data.len())
            });
            match taken {
                Ok(0) | Err(_) => break,
                Ok(n) if self.tls.is_none() => self.received += n as u64,
                Ok(_) => {}
            }
        }
        if self.tls.is_some() {
            self.pump_tls();
        }
        self.flush(socket);
    }

    fn pump_tls(&mut self) {
        let Some(tls) = &mut self.tls else { return };
        if self.tls_failed {
            // A dead connection: what arrives now is never read, but the alert rustls
            // queued still goes out.
            self.tls_in.clear();
            self.drain_tls();
            return;
        }
        let mut input = &self.tls_in[..];
        while !input.is_empty() && self.error.is_none() {
            match tls.read_tls(&mut input) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => self.error = Some(format!("TLS read failed: {e}")),
            }
            if let Err(e) = tls.process_new_packets() {
                self.error = Some(format!("TLS error: {e}"));
                self.tls_failed = true;
            }
            self.received += drain_plaintext(tls, &mut self.inbox);
        }
        let consumed = self.tls_in.len() - input.len();
        self.tls_in.drain(..consumed);
        // 0-RTT data on the server is read through its own API until the handshake ends.
        if let rustls::Connection::Server(server) = tls {
            if let Some(mut early) = server.early_data() {
                let before = self.inbox.len();
                let _ = early.read_to_end(&mut self.inbox);
                self.received += (self.inbox.len() - before) as u64;
            }
        }
        self.drain_tls();
    }

    fn flush(&mut self, socket: &mut tcp::Socket<'static>) {
        if !socket.may_send() {
            return;
        }
        // Hands TCP what the window allows, a piece of a pending body at a time: the same
        // bytes as one call with the whole body would (send_slice only copies into the ring).
        loop {
            self.refill(BODY_PIECE);
            if self.sent == self.outbox.len() {
                return;
            }
            let allowance = self.window.allowance(socket.send_queue());
            let end = self.outbox.len().min(self.sent.saturating_add(allowance));
            if let Ok(n) = socket.send_slice(&self.outbox[self.sent..end]) {
                self.sent += n;
                self.window.on_written(n);
            }
            if self.sent != self.outbox.len() {
                return;
            }
            self.out_base += self.outbox.len() as u64;
            self.outbox.clear();
            self.sent = 0;
            if self.pending.is_empty() {
                return;
            }
        }
    }
}

/// What a stream will send after its outbox.
enum Pending {
    /// Bytes written while a body was still being made.
    Bytes(Vec<u8>),
    /// A response body of `len` bytes, `done` of them made.
    Body { done: u64, len: u64 },
}

/// Bytes of a pending body made at a time: a multiple of TLS's largest record (16 KiB), so
/// that the records are those of one write of the whole body.
pub const BODY_PIECE: usize = 64 * 1024;

/// Reads all plaintext rustls has decrypted into `inbox`; returns how many bytes.
fn drain_plaintext(tls: &mut rustls::Connection, inbox: &mut Vec<u8>) -> u64 {
    let before = inbox.len();
    let mut buf = [0u8; 16 * 1024];
    loop {
        match tls.reader().read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => inbox.extend_from_slice(&buf[..n]),
        }
    }
    (inbox.len() - before) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::tls::{LabTls, TlsClock, TlsVersion};

    /// Seen while reading a `network` fuzz target crash: the client took the stream's error and
    /// pumped again, feeding rustls after its fatal alert (a debug assertion in rustls; in
    /// release, a second alert).
    #[test]
    fn rustls_is_not_fed_after_an_error() {
        let config = crate::proto::cwnd::TcpConfig::default();
        let mut sockets = SocketSet::new(Vec::new());
        let handle = sockets.add(tcp_socket(&config));
        let lab = LabTls::new(1, "www.example.lab", TlsClock::at_unix_micros(0)).unwrap();
        let client = rustls::ClientConnection::new(lab.client(TlsVersion::Tls13), lab.server_name()).unwrap();
        let mut stream = Stream::new(handle, &config);
        stream.tls = Some(client.into());
        let garbage = [22, 3, 3, 0, 5, 0xff, 0xff, 0xff, 0xff, 0xff];
        stream.tls_in.extend_from_slice(&garbage);
        stream.pump(&mut sockets);
        assert!(stream.error.take().is_some_and(|e| e.contains("TLS error")));
        stream.tls_in.extend_from_slice(&[0xee; 10]);
        stream.pump(&mut sockets);
        assert_eq!(stream.error, None, "no second error");
        assert!(stream.tls_in.is_empty());
    }
}
