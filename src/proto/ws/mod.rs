//! WebSocket (RFC 6455), sans-IO: the lab pumps an endpoint's bytes over its TLS streams.
//!
//! Framing (RFC 6455 §5.2) uses tungstenite's `Frame`/`FrameHeader`; the opening handshake
//! (§4) is parsed with httparse and the accept key comes from `tungstenite::handshake::derive_accept_key`.
//! tungstenite's `WebSocket` masks with OS randomness, so it is not used: client masks (§5.3)
//! and the Sec-WebSocket-Key (§4.1) come from the caller's seeded `ChaCha8Rng`, keeping
//! captures byte-identical per seed.

use rand_chacha::ChaCha8Rng;
use rand_core::RngCore;
use std::io::{Cursor, Write};
use tungstenite::handshake::derive_accept_key;
use tungstenite::protocol::frame::coding::{CloseCode, Control, Data, OpCode};
use tungstenite::protocol::frame::{CloseFrame, Frame, FrameHeader, Utf8Bytes};

#[cfg(test)]
mod tests;

/// Largest message (reassembled) or frame accepted; above it the connection fails with 1009 (§7.4.1).
pub const MAX_MESSAGE: usize = 16 << 20;
/// Largest opening handshake accepted before giving up (§4.1/§4.2.1 set no limit; this is the lab's).
const MAX_HANDSHAKE: usize = 8 << 10;

/// What the peer did, in order (see [`WsEndpoint::poll_events`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WsEvent {
    /// The opening handshake completed (§4.1 client, §4.2.2 server).
    Open,
    /// A complete text message (§5.6), reassembled from fragments (§5.4).
    Text(String),
    /// A complete binary message (§5.6), reassembled from fragments (§5.4).
    Binary(Vec<u8>),
    /// A Ping was received (§5.5.2); the Pong has already been queued.
    Ping(Vec<u8>),
    /// A Pong was received (§5.5.3).
    Pong(Vec<u8>),
    /// The connection is closed (closing handshake §7.1.2, or failure §7.1.7). Reported once.
    Closed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Handshake,
    Open,
    /// We sent a Close and wait for the peer's (§7.1.2).
    Closing,
    Closed,
}

/// One end of a WebSocket connection. Client or server, see [`WsEndpoint::client`] / [`WsEndpoint::server`].
pub struct WsEndpoint {
    /// `Some` for a client: masks every frame it sends (§5.3).
    rng: Option<ChaCha8Rng>,
    /// Client: the Sec-WebSocket-Accept value expected in the 101 (§4.1, §4.2.2 item 5.4).
    expected_accept: String,
    state: State,
    inbuf: Vec<u8>,
    out: Vec<u8>,
    events: Vec<WsEvent>,
    /// A fragmented message in progress (§5.4): (is_text, bytes so far).
    partial: Option<(bool, Vec<u8>)>,
    control_bytes: u64,
}

impl WsEndpoint {
    /// Client: queues the HTTP/1.1 Upgrade request (§4.1): GET `path`, Host `host`,
    /// a Sec-WebSocket-Key of 16 bytes from `rng` (base64), Sec-WebSocket-Version 13.
    pub fn client(host: &str, path: &str, mut rng: ChaCha8Rng) -> Self {
        let mut nonce = [0u8; 16];
        rng.fill_bytes(&mut nonce);
        let key = base64(&nonce);
        let mut ep = Self::new(Some(rng));
        ep.expected_accept = derive_accept_key(key.as_bytes());
        let _ = write!(
            ep.out,
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        ep
    }

    /// Server: waits for an Upgrade request and answers 101 Switching Protocols with the
    /// derived accept key (§4.2.2); a request that is not a valid Upgrade gets 400 and `Closed` (§4.2.1).
    pub fn server() -> Self {
        Self::new(None)
    }

    fn new(rng: Option<ChaCha8Rng>) -> Self {
        WsEndpoint {
            rng,
            expected_accept: String::new(),
            state: State::Handshake,
            inbuf: Vec::new(),
            out: Vec::new(),
            events: Vec::new(),
            partial: None,
            control_bytes: 0,
        }
    }

    /// Feeds bytes received from the peer, split anywhere. Never panics; a protocol error
    /// fails the connection (§7.1.7): a Close frame is queued where allowed and `Closed` reported.
    pub fn receive(&mut self, data: &[u8]) {
        if self.state == State::Closed {
            return;
        }
        self.inbuf.extend_from_slice(data);
        if self.state == State::Handshake {
            let Some(consumed) = self.handshake() else { return };
            self.inbuf.drain(..consumed);
        }
        let mut pos = 0;
        while matches!(self.state, State::Open | State::Closing) {
            match self.next_frame(pos) {
                Ok(Some(used)) => pos += used,
                Ok(None) => break,
                Err(code) => self.fail(code),
            }
        }
        self.inbuf.drain(..pos.min(self.inbuf.len()));
    }

    /// Parses the opening handshake; `Some(header bytes)` once it has completed successfully.
    fn handshake(&mut self) -> Option<usize> {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let client = self.rng.is_some();
        let (parsed, ok, key) = if client {
            let mut resp = httparse::Response::new(&mut headers);
            let parsed = resp.parse(&self.inbuf);
            // §4.1: status 101, Upgrade/Connection, and the accept key matching ours.
            let ok = resp.code == Some(101)
                && upgrade_headers_ok(resp.headers)
                && header(resp.headers, "sec-websocket-accept") == Some(self.expected_accept.as_bytes());
            (parsed, ok, None)
        } else {
            let mut req = httparse::Request::new(&mut headers);
            let parsed = req.parse(&self.inbuf);
            // §4.2.1: GET, HTTP/1.1, Upgrade/Connection, a 16-byte key (24 base64 chars), version 13.
            let key = header(req.headers, "sec-websocket-key").filter(|k| k.len() == 24);
            let ok = req.method == Some("GET")
                && req.version == Some(1)
                && upgrade_headers_ok(req.headers)
                && header(req.headers, "sec-websocket-version") == Some(b"13".as_slice())
                && key.is_some();
            (parsed, ok, key.map(derive_accept_key))
        };
        match parsed {
            Ok(httparse::Status::Partial) if self.inbuf.len() <= MAX_HANDSHAKE => None,
            Ok(httparse::Status::Complete(n)) if ok => {
                if let Some(accept) = key {
                    let _ = write!(
                        self.out,
                        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                         Sec-WebSocket-Accept: {accept}\r\n\r\n"
                    );
                }
                self.state = State::Open;
                self.events.push(WsEvent::Open);
                Some(n)
            }
            _ => {
                if !client {
                    self.out.extend_from_slice(
                        b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
                    );
                }
                self.set_closed();
                None
            }
        }
    }

    /// Decodes one frame at `inbuf[pos..]` (§5.2): `Ok(Some(frame length))`, `Ok(None)` if
    /// incomplete, `Err(close code)` on a protocol violation.
    fn next_frame(&mut self, pos: usize) -> Result<Option<usize>, u16> {
        let mut cursor = Cursor::new(&self.inbuf[pos..]);
        let (hdr, len) = match FrameHeader::parse(&mut cursor) {
            Ok(Some(h)) => h,
            Ok(None) => return Ok(None),
            Err(_) => return Err(1002), // reserved opcode (§5.2)
        };
        let hlen = cursor.position() as usize;
        // §5.1: clients mask, servers don't. §5.2: RSV bits must be 0 without extensions.
        if hdr.mask.is_some() == self.rng.is_some() || hdr.rsv1 || hdr.rsv2 || hdr.rsv3 {
            return Err(1002);
        }
        let is_control = matches!(hdr.opcode, OpCode::Control(_));
        if is_control && (len > 125 || !hdr.is_final) {
            return Err(1002); // §5.5
        }
        let so_far = self.partial.as_ref().map_or(0, |p| p.1.len()) as u64;
        if len.saturating_add(so_far) > MAX_MESSAGE as u64 {
            return Err(1009);
        }
        let len = len as usize;
        if self.inbuf.len() - pos - hlen < len {
            return Ok(None);
        }
        let mut payload = self.inbuf[pos + hlen..pos + hlen + len].to_vec();
        if let Some(mask) = hdr.mask {
            payload.iter_mut().enumerate().for_each(|(i, b)| *b ^= mask[i & 3]);
        }
        let frame_len = hlen + len;
        match hdr.opcode {
            OpCode::Control(Control::Ping) => {
                self.control_bytes += frame_len as u64;
                if self.state == State::Open {
                    self.send(Frame::pong(payload.clone())); // §5.5.2
                }
                self.events.push(WsEvent::Ping(payload));
            }
            OpCode::Control(Control::Pong) => {
                self.control_bytes += frame_len as u64;
                self.events.push(WsEvent::Pong(payload));
            }
            OpCode::Control(_) => {
                // §5.5.1: a 1-byte body is invalid; otherwise echo the status code, then close.
                if payload.len() == 1 {
                    return Err(1002);
                }
                if self.state == State::Open {
                    let code = payload.get(..2).map(|c| u16::from_be_bytes([c[0], c[1]]));
                    self.send_close(code);
                }
                self.set_closed();
            }
            OpCode::Data(data) => {
                let (is_text, mut buf) = match (data, self.partial.take()) {
                    (Data::Continue, Some(p)) => p,
                    (Data::Text, None) => (true, Vec::new()),
                    (Data::Binary, None) => (false, Vec::new()),
                    _ => return Err(1002), // §5.4: continuation without start, or interleaved message
                };
                buf.extend_from_slice(&payload);
                if !hdr.is_final {
                    self.partial = Some((is_text, buf));
                } else if is_text {
                    let text = String::from_utf8(buf).map_err(|_| 1007u16)?; // §8.1
                    self.events.push(WsEvent::Text(text));
                } else {
                    self.events.push(WsEvent::Binary(buf));
                }
            }
        }
        Ok(Some(frame_len))
    }

    /// Fails the connection (§7.1.7): queue a Close with `code` (§7.4.1) unless one was sent.
    fn fail(&mut self, code: u16) {
        if self.state == State::Open {
            self.send_close(Some(code));
        }
        self.set_closed();
    }

    fn set_closed(&mut self) {
        if self.state != State::Closed {
            self.state = State::Closed;
            self.partial = None;
            self.inbuf = Vec::new();
            self.events.push(WsEvent::Closed);
        }
    }

    /// Encodes `frame`, masked with 4 bytes from the rng on the client (§5.3).
    fn send(&mut self, mut frame: Frame) {
        if let Some(rng) = &mut self.rng {
            let mut mask = [0u8; 4];
            rng.fill_bytes(&mut mask);
            frame.header_mut().mask = Some(mask);
        }
        let before = self.out.len();
        let is_ping_pong = matches!(frame.header().opcode, OpCode::Control(Control::Ping | Control::Pong));
        // Writing into a Vec cannot fail.
        let _ = frame.format(&mut self.out);
        if is_ping_pong {
            self.control_bytes += (self.out.len() - before) as u64;
        }
    }

    fn send_close(&mut self, code: Option<u16>) {
        let msg = code.map(|c| CloseFrame { code: CloseCode::from(c), reason: Utf8Bytes::from_static("") });
        self.send(Frame::close(msg));
    }

    /// Takes the bytes to send to the peer.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    /// Whether the connection is open for sending data (§4: handshake done, no Close sent or received).
    pub fn is_open(&self) -> bool {
        self.state == State::Open
    }

    /// Queues a Ping (§5.5.2); `payload` is cut to 125 bytes (§5.5). Ignored unless open.
    pub fn send_ping(&mut self, payload: &[u8]) {
        if self.is_open() {
            self.send(Frame::ping(payload[..payload.len().min(125)].to_vec()));
        }
    }

    /// Queues a text message as one frame (§5.6). Ignored unless open.
    pub fn send_text(&mut self, text: &str) {
        if self.is_open() {
            self.send(Frame::message(text.as_bytes().to_vec(), OpCode::Data(Data::Text), true));
        }
    }

    /// Queues a binary message as one frame (§5.6). Ignored unless open.
    pub fn send_binary(&mut self, data: &[u8]) {
        if self.is_open() {
            self.send(Frame::message(data.to_vec(), OpCode::Data(Data::Binary), true));
        }
    }

    /// Starts the closing handshake (§7.1.2): queues a Close with code 1000 (§7.4.1).
    /// `Closed` is reported when the peer's Close arrives.
    pub fn close(&mut self) {
        if self.is_open() {
            self.send_close(Some(1000));
            self.state = State::Closing;
        }
    }

    /// Events since the last call, in order. A received Ping is answered with a Pong
    /// automatically (§5.5.2) and reported.
    pub fn poll_events(&mut self) -> Vec<WsEvent> {
        std::mem::take(&mut self.events)
    }

    /// Bytes of Ping and Pong frames (§5.5.2, §5.5.3) sent and received so far: header,
    /// mask and payload, without TLS/TCP.
    pub fn control_bytes(&self) -> u64 {
        self.control_bytes
    }
}

/// `Upgrade: websocket` and a `Connection` header with the `Upgrade` token (§4.1, §4.2.1).
fn upgrade_headers_ok(headers: &[httparse::Header]) -> bool {
    let has = |name: &str, token: &str| {
        headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name))
            .any(|h| h.value.split(|&b| b == b',').any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes())))
    };
    has("upgrade", "websocket") && has("connection", "upgrade")
}

fn header<'a>(headers: &[httparse::Header<'a>], name: &str) -> Option<&'a [u8]> {
    headers.iter().find(|h| h.name.eq_ignore_ascii_case(name)).map(|h| h.value.trim_ascii())
}

/// Standard base64 with padding (RFC 4648 §4), for the Sec-WebSocket-Key nonce.
fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for chunk in data.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, &b)| n | ((b as u32) << (16 - 8 * i)));
        for i in 0..4 {
            let c = if i <= chunk.len() { ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] } else { b'=' };
            s.push(c as char);
        }
    }
    s
}
