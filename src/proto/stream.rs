//! A byte stream over a smoltcp TCP socket, with or without TLS.
//!
//! [`Stream::pump`] moves bytes in both directions: socket → rustls → plaintext inbox, and
//! plaintext → rustls → ciphertext outbox → socket, the outbox gated by the sender's
//! congestion window ([`SenderWindow`]). It never blocks and never reads a clock.

use std::io::{Read, Write};

use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::tcp;

use crate::proto::cwnd::{SenderWindow, TcpConfig};

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
            tagged: Vec::new(),
            tls_in: Vec::new(),
            inbox: Vec::new(),
            received: 0,
            error: None,
            tls_failed: false,
        }
    }

    /// Plaintext to send (encrypted first when TLS is on).
    pub fn write(&mut self, data: &[u8]) {
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
        self.drain_tls();
        let start = self.out_total();
        self.write(data);
        self.drain_tls();
        self.tagged.push(TaggedRange { start, end: self.out_total(), tag });
    }

    /// Bytes ever put into the outbox.
    fn out_total(&self) -> u64 {
        self.out_base + self.outbox.len() as u64
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

    /// Bytes waiting to be handed to TCP.
    pub fn unsent(&self) -> usize {
        self.outbox.len() - self.sent
    }

    /// The sender's congestion window, where the lab's model applies.
    pub fn cwnd(&self) -> Option<u64> {
        self.window.cwnd()
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
        if self.sent == self.outbox.len() || !socket.may_send() {
            return;
        }
        let allowance = self.window.allowance(socket.send_queue());
        let end = self.outbox.len().min(self.sent.saturating_add(allowance));
        if let Ok(n) = socket.send_slice(&self.outbox[self.sent..end]) {
            self.sent += n;
            self.window.on_written(n);
        }
        if self.sent == self.outbox.len() {
            self.out_base += self.outbox.len() as u64;
            self.outbox.clear();
            self.sent = 0;
        }
    }
}

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
