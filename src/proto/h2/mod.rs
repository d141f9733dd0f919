//! Sans-IO HTTP/2 (RFC 9113) client and server on the [`h2`] crate.
//!
//! h2 is async. Here each endpoint owns an h2 connection over an in-memory
//! `AsyncRead + AsyncWrite` (`io::PipeIo`): reads return `Pending` when no received bytes
//! are left, writes append to an output buffer. Every call that can make progress polls all of
//! h2's futures with a no-op waker ([`Waker::noop`]) until a whole round makes no progress, so no
//! waker is ever needed: the lab calls `receive` / `take_output` as bytes cross its TLS streams
//! on the virtual clock. No threads, no runtime, no clock, no randomness (h2's own PING payload
//! is a constant), so the same calls give the same bytes.
//!
//! # Settings
//! Both sides advertise a 16 MiB initial stream window (`SETTINGS_INITIAL_WINDOW_SIZE`,
//! RFC 9113 §6.5.2) and raise the connection window to 16 MiB with a WINDOW_UPDATE on stream 0
//! (§6.9, §6.9.2), so that HTTP/2 flow control (§5.2) never limits a lab transfer before TCP
//! does. The client releases flow-control capacity for every byte as soon as it is delivered as
//! an [`H2Event::Data`]; h2 then sends WINDOW_UPDATEs once half of the window is unclaimed.
//! `SETTINGS_MAX_FRAME_SIZE` stays at h2's (and the protocol's) default of 16 KiB (§4.2, §6.5.2).
//! The client disables server push (`SETTINGS_ENABLE_PUSH = 0`, §8.4).
//!
//! # Stream interleaving (what produces head-of-line blocking in the lab)
//! h2 ignores priority signals (RFC 9113 §5.3 deprecates them) and schedules sending streams
//! with one FIFO queue: it pops the first stream, writes **one** DATA frame of at most
//! `SETTINGS_MAX_FRAME_SIZE` (16 KiB) from it, and — once the codec has written that frame —
//! pushes the stream back to the *end* of the queue if it has more data. So streams that all
//! have body buffered get 16 KiB frames strictly round-robin, in the order they became ready to
//! send, and their frames interleave on the one TCP connection. The server hands the
//! application every request that has arrived, and answers given together
//! ([`H2Server::respond_all`]) are all queued before any is written, so requests that arrive
//! together are interleaved from their first DATA frame (answering one at a time would let h2
//! flush the first response completely before the second is even queued).
//!
//! The in-memory transport never pushes back, so each [`H2Server::poll`] serialises every
//! response that has been queued so far completely into the output buffer: a request that
//! arrives later only interleaves with the frames that are generated after it is answered.

mod io;
mod server;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use h2::client::{self, ResponseFuture, SendRequest};
use h2::{Ping, PingPong, RecvStream};
use http::{Method, Request, Version};

pub use io::{split_frames, FrameHeader, FRAME_DATA, FRAME_HEADER_LEN};
use io::{FrameScanner, PipeIo};
pub use server::{H2Server, OutChunk, ServedStream};

/// Initial stream and connection flow-control windows on both sides (RFC 9113 §6.9.2).
pub const WINDOW: u32 = 16 * 1024 * 1024;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum H2Event {
    /// Response headers for a stream (RFC 9113 §8.3.2).
    Response { stream: u32, status: u16 },
    /// `len` bytes of body delivered to the application for `stream` (in order); one event per
    /// DATA frame (RFC 9113 §6.1) with a non-empty payload.
    Data { stream: u32, len: usize },
    /// The stream's body ended (END_STREAM, RFC 9113 §5.1).
    End { stream: u32 },
    /// A PING was acknowledged (RFC 9113 §6.7).
    Pong,
    /// A connection error (RFC 9113 §5.4.1) or a local usage error.
    Error(String),
    /// A stream error (RFC 9113 §5.4.2): the stream ended without a whole response (reset by
    /// the server, or refused).
    StreamError { stream: u32, error: String },
}

fn noop_cx() -> Context<'static> {
    Context::from_waker(Waker::noop())
}

/// An HTTP/2 client connection (RFC 9113 §3.4 preface, §8 requests).
pub struct H2Client {
    io: PipeIo,
    scanner: FrameScanner,
    send: SendRequest<Bytes>,
    conn: Option<client::Connection<PipeIo, Bytes>>,
    ping: Option<PingPong>,
    pings_wanted: usize,
    ping_in_flight: bool,
    /// Requests not yet handed to h2 (h2 not ready, e.g. at MAX_CONCURRENT_STREAMS), with the
    /// stream id we promised.
    queued: VecDeque<(u32, Request<()>)>,
    /// The id the next `get` will get: client streams are odd and increase (RFC 9113 §5.1.1).
    next_id: u32,
    responses: Vec<(u32, ResponseFuture)>,
    bodies: Vec<(u32, RecvStream)>,
    events: Vec<H2Event>,
    /// Something came in or was asked for since the last [`H2Client::pump`]: without it,
    /// polling h2 again could not make progress (it has no timers here), so it is skipped.
    dirty: bool,
}

impl Default for H2Client {
    fn default() -> Self {
        Self::new()
    }
}

impl H2Client {
    /// Queues the connection preface (RFC 9113 §3.4) and SETTINGS (§6.5), plus the
    /// WINDOW_UPDATE that raises the connection window (§6.9).
    pub fn new() -> Self {
        let io = PipeIo::default();
        let mut builder = client::Builder::new();
        builder.initial_window_size(WINDOW).initial_connection_window_size(WINDOW).enable_push(false);
        let mut handshake = std::pin::pin!(builder.handshake::<_, Bytes>(io.clone()));
        // The client handshake only writes the preface, which the pipe always accepts.
        let (send, mut conn) = match handshake.as_mut().poll(&mut noop_cx()) {
            Poll::Ready(Ok(pair)) => pair,
            Poll::Ready(Err(e)) => panic!("h2 client handshake over an in-memory pipe failed: {e}"),
            Poll::Pending => unreachable!("h2 client handshake blocked on an in-memory pipe"),
        };
        let ping = conn.ping_pong();
        let mut c = H2Client {
            io,
            scanner: FrameScanner::default(),
            send,
            conn: Some(conn),
            ping,
            pings_wanted: 0,
            ping_in_flight: false,
            queued: VecDeque::new(),
            next_id: 1,
            responses: Vec::new(),
            bodies: Vec::new(),
            events: Vec::new(),
            dirty: true,
        };
        c.pump();
        c
    }

    /// Plaintext received from the peer.
    pub fn receive(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        self.scanner.feed(data);
        self.io.lock().inbound.extend(data);
        self.dirty = true;
        self.pump();
    }

    /// Plaintext to send to the peer.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.io.lock().outbound)
    }

    /// Opens a stream with `GET https://{authority}{path}` and END_STREAM on its HEADERS
    /// (RFC 9113 §8.3.1). Returns the stream id (1, 3, 5, ...). If h2 cannot open the stream yet
    /// (the server's SETTINGS_MAX_CONCURRENT_STREAMS, §5.1.2), the request is queued and sent,
    /// under the returned id, when a stream slot frees up.
    pub fn get(&mut self, authority: &str, path: &str) -> Result<u32, String> {
        let req = Request::builder()
            .method(Method::GET)
            .uri(format!("https://{authority}{path}"))
            .version(Version::HTTP_2)
            .body(())
            .map_err(|e| format!("bad request: {e}"))?;
        if self.conn.is_none() {
            return Err("connection closed".into());
        }
        let id = self.next_id;
        self.next_id = id.checked_add(2).filter(|&n| n <= 0x7fff_ffff).ok_or("stream ids exhausted")?;
        self.queued.push_back((id, req));
        self.dirty = true;
        self.pump();
        Ok(id)
    }

    /// Cancels stream `stream`: a request not sent yet is dropped; for one sent, h2 sends
    /// RST_STREAM with CANCEL (RFC 9113 §6.4, §8.7) once every handle to it is gone, and
    /// nothing more is reported for it.
    pub fn cancel(&mut self, stream: u32) {
        self.queued.retain(|(id, _)| *id != stream);
        self.responses.retain(|(id, _)| *id != stream);
        self.bodies.retain(|(id, _)| *id != stream);
        self.dirty = true;
        self.pump();
    }

    /// Streams opened (or queued) and not yet ended.
    pub fn open_streams(&self) -> usize {
        self.queued.len() + self.responses.len() + self.bodies.len()
    }

    /// The connection is over (closed, or failed with an [`H2Event::Error`]).
    pub fn is_closed(&self) -> bool {
        self.conn.is_none()
    }

    /// Sends a PING (RFC 9113 §6.7); an [`H2Event::Pong`] follows its acknowledgement. h2 allows
    /// one user PING in flight, so further pings are sent one after another.
    pub fn ping(&mut self) {
        self.pings_wanted += 1;
        self.dirty = true;
        self.pump();
    }

    /// Events since the last call, in order. Flow-control capacity of delivered bytes has
    /// already been released.
    pub fn poll_events(&mut self) -> Vec<H2Event> {
        self.pump();
        std::mem::take(&mut self.events)
    }

    /// Polls everything until a round makes no progress. Received bytes are handed to h2 one
    /// frame per round so that events come out in wire order across streams.
    fn pump(&mut self) {
        if !std::mem::take(&mut self.dirty) {
            return;
        }
        let mut cx = noop_cx();
        loop {
            let before = self.progress_marker();
            let consumed = self.io.lock().consumed;
            let gate = self.scanner.gate(consumed);
            self.io.lock().gate = gate;
            let mut progressed = false;

            if let Some(conn) = self.conn.as_mut() {
                match Pin::new(conn).poll(&mut cx) {
                    Poll::Pending => {}
                    Poll::Ready(Ok(())) => {
                        self.conn = None;
                        progressed = true;
                    }
                    Poll::Ready(Err(e)) => {
                        self.events.push(H2Event::Error(format!("connection: {e}")));
                        self.conn = None;
                        progressed = true;
                    }
                }
            }

            // Hand queued requests to h2 while it accepts new streams.
            while !self.queued.is_empty() && self.conn.is_some() {
                match self.send.poll_ready(&mut cx) {
                    Poll::Pending => break,
                    Poll::Ready(Err(e)) => {
                        let (id, _) = self.queued.pop_front().expect("queue not empty");
                        self.events.push(H2Event::StreamError { stream: id, error: e.to_string() });
                    }
                    Poll::Ready(Ok(())) => {
                        let (id, req) = self.queued.pop_front().expect("queue not empty");
                        match self.send.send_request(req, true) {
                            Ok((resp, _)) => {
                                let actual = u32::from(resp.stream_id());
                                debug_assert_eq!(actual, id, "h2 assigns client stream ids in order");
                                self.responses.push((id, resp));
                            }
                            Err(e) => self.events.push(H2Event::StreamError { stream: id, error: e.to_string() }),
                        }
                    }
                }
                progressed = true;
            }

            let mut i = 0;
            while i < self.responses.len() {
                let (id, fut) = &mut self.responses[i];
                let id = *id;
                match Pin::new(fut).poll(&mut cx) {
                    Poll::Pending => i += 1,
                    Poll::Ready(res) => {
                        drop(self.responses.remove(i));
                        match res {
                            Ok(resp) => {
                                self.events.push(H2Event::Response { stream: id, status: resp.status().as_u16() });
                                self.bodies.push((id, resp.into_body()));
                            }
                            Err(e) => self.events.push(H2Event::StreamError { stream: id, error: e.to_string() }),
                        }
                    }
                }
            }

            let mut i = 0;
            while i < self.bodies.len() {
                let (id, body) = &mut self.bodies[i];
                let id = *id;
                match body.poll_data(&mut cx) {
                    Poll::Pending => i += 1,
                    Poll::Ready(Some(Ok(data))) => {
                        // Release immediately: the application consumed these bytes.
                        let _ = body.flow_control().release_capacity(data.len());
                        if !data.is_empty() {
                            self.events.push(H2Event::Data { stream: id, len: data.len() });
                        }
                        // Poll the same stream again next.
                    }
                    Poll::Ready(Some(Err(e))) => {
                        drop(self.bodies.remove(i));
                        self.events.push(H2Event::StreamError { stream: id, error: e.to_string() });
                    }
                    Poll::Ready(None) => {
                        drop(self.bodies.remove(i));
                        self.events.push(H2Event::End { stream: id });
                    }
                }
            }

            if let Some(pp) = self.ping.as_mut() {
                if self.ping_in_flight {
                    match pp.poll_pong(&mut cx) {
                        Poll::Pending => {}
                        Poll::Ready(Ok(_)) => {
                            self.ping_in_flight = false;
                            self.events.push(H2Event::Pong);
                        }
                        Poll::Ready(Err(e)) => {
                            self.ping = None;
                            self.events.push(H2Event::Error(format!("ping: {e}")));
                        }
                    }
                }
                if !self.ping_in_flight && self.pings_wanted > 0 && self.conn.is_some() {
                    self.pings_wanted -= 1;
                    match self.ping.as_mut().map(|pp| pp.send_ping(Ping::opaque())) {
                        Some(Ok(())) => self.ping_in_flight = true,
                        Some(Err(e)) => self.events.push(H2Event::Error(format!("ping: {e}"))),
                        None => {}
                    }
                    progressed = true;
                }
            }

            if !progressed && self.progress_marker() == before {
                break;
            }
        }
        self.io.lock().gate = None;
    }

    fn progress_marker(&self) -> (u64, usize, usize) {
        let p = self.io.lock();
        (p.consumed, p.outbound.len(), self.events.len())
    }
}
