//! The HTTP/2 server side (RFC 9113 §3.4, §8): a connection that hands each request to the
//! application, which answers it later ([`H2Server::for_app`], the services' server, the lab's
//! among them: a request waits for its service time, or for a gateway's upstream calls, while
//! other streams go on). Answers given together ([`H2Server::respond_all`]) are all queued
//! before any is written, so their DATA frames share the windows round-robin.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use bytes::Bytes;
use h2::server::{self, Handshake, SendResponse};
use http::{Response, StatusCode};

use super::io::PipeIo;
use super::{noop_cx, split_frames, FRAME_DATA, WINDOW};
use crate::proto::http1;

/// A request the application has to answer ([`H2Server::for_app`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServedStream {
    /// The stream it came on (RFC 9113 §5.1.1: odd, chosen by the client).
    pub stream: u32,
    pub method: String,
    pub path: String,
}

/// One piece of server output: `stream` is Some(id) when the bytes are (part of) a DATA frame of
/// that stream, None for other frames.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutChunk {
    pub stream: Option<u32>,
    pub bytes: Vec<u8>,
}

enum ServerState {
    Handshaking(Handshake<PipeIo, Bytes>),
    Open(server::Connection<PipeIo, Bytes>),
    Closed,
}

/// An HTTP/2 server connection.
pub struct H2Server {
    io: PipeIo,
    state: ServerState,
    error: Option<String>,
    /// The requests the application has not answered yet, by stream, with what answers them.
    app: BTreeMap<u32, SendResponse<Bytes>>,
    /// Requests accepted for the application since it last asked.
    arrived: Vec<ServedStream>,
}

impl H2Server {
    /// A server that hands every request to the application ([`H2Server::take_requests`]),
    /// which answers it with [`H2Server::respond`]. Queues the server's SETTINGS (RFC 9113
    /// §3.4) and awaits the client preface.
    pub fn for_app() -> Self {
        let io = PipeIo::default();
        let mut builder = server::Builder::new();
        builder.initial_window_size(WINDOW).initial_connection_window_size(WINDOW);
        let handshake = builder.handshake::<_, Bytes>(io.clone());
        let mut s = H2Server {
            io,
            state: ServerState::Handshaking(handshake),
            error: None,
            app: BTreeMap::new(),
            arrived: Vec::new(),
        };
        s.poll();
        s
    }

    /// The requests accepted since the last call, in the order they arrived.
    pub fn take_requests(&mut self) -> Vec<ServedStream> {
        std::mem::take(&mut self.arrived)
    }

    /// Answers the request on `stream` with `status` and `len` body bytes (the lab's pattern),
    /// in DATA frames as flow control allows (RFC 9113 §6.1, §5.2). Nothing if the stream is
    /// not waiting for an answer (answered, or reset by the client).
    pub fn respond(&mut self, stream: u32, status: u16, len: u64) {
        let Some(respond) = self.app.remove(&stream) else { return };
        send_answer(respond, status, len, &mut self.error);
        self.poll();
    }

    /// Answers several requests at once, as [`H2Server::respond`] does each: every answer is
    /// queued before the connection writes any, so their DATA frames share the windows
    /// round-robin (RFC 9113 §5.3 leaves the order to the server; see the module docs of
    /// [`crate::proto::h2`]) instead of one body after another.
    pub fn respond_all(&mut self, answers: &[(u32, u16, u64)]) {
        for &(stream, status, len) in answers {
            if let Some(respond) = self.app.remove(&stream) {
                send_answer(respond, status, len, &mut self.error);
            }
        }
        self.poll();
    }

    /// Streams the client reset (RST_STREAM, RFC 9113 §6.4: a cancelled call) before they were
    /// answered; each is reported once and forgotten.
    pub fn take_resets(&mut self) -> Vec<u32> {
        let mut cx = noop_cx();
        let reset: Vec<u32> =
            self.app.iter_mut().filter_map(|(&id, r)| r.poll_reset(&mut cx).is_ready().then_some(id)).collect();
        for id in &reset {
            self.app.remove(id);
        }
        reset
    }

    /// Withdraws the request on `stream` without answering it: RST_STREAM with CANCEL (RFC
    /// 9113 §6.4, §8.7), as a server does with work it will not do.
    pub fn cancel(&mut self, stream: u32) {
        if let Some(mut respond) = self.app.remove(&stream) {
            respond.send_reset(h2::Reason::CANCEL);
            self.poll();
        }
    }

    /// Requests accepted and not answered yet.
    pub fn waiting(&self) -> usize {
        self.app.len()
    }

    /// The whole output as bytes, frames in order.
    pub fn take_bytes(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.io.lock().outbound)
    }

    /// Plaintext received from the peer.
    pub fn receive(&mut self, data: &[u8]) {
        self.io.lock().inbound.extend(data);
    }

    /// The connection error, if the connection failed (RFC 9113 §5.4.1; h2 has sent GOAWAY).
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// Drives the connection: reads what has been received, accepts every request that has
    /// arrived for the application ([`H2Server::take_requests`]), and writes what is queued
    /// (answers' DATA frames, RFC 9113 §6.1, as flow control, §5.2, allows).
    pub fn poll(&mut self) {
        let mut cx = noop_cx();
        loop {
            let before = {
                let p = self.io.lock();
                (p.consumed, p.outbound.len())
            };
            let mut progressed = false;

            if let ServerState::Handshaking(hs) = &mut self.state {
                match Pin::new(hs).poll(&mut cx) {
                    Poll::Pending => {}
                    Poll::Ready(Ok(conn)) => {
                        self.state = ServerState::Open(conn);
                        progressed = true;
                    }
                    Poll::Ready(Err(e)) => {
                        self.error = Some(format!("handshake: {e}"));
                        self.state = ServerState::Closed;
                    }
                }
            }

            if let ServerState::Open(conn) = &mut self.state {
                let mut accepted = Vec::new();
                let mut closed = false;
                loop {
                    match conn.poll_accept(&mut cx) {
                        Poll::Pending => break,
                        Poll::Ready(Some(Ok(pair))) => accepted.push(pair),
                        Poll::Ready(Some(Err(e))) => {
                            // poll_accept only reports connection errors (h2 has sent GOAWAY).
                            self.error = Some(format!("connection: {e}"));
                            closed = true;
                            break;
                        }
                        Poll::Ready(None) => {
                            closed = true;
                            break;
                        }
                    }
                }
                progressed |= !accepted.is_empty();
                for (req, respond) in accepted {
                    let stream = u32::from(respond.stream_id());
                    // The request has no body (END_STREAM on its HEADERS): only its head.
                    let path = req.uri().path_and_query().map_or("/", |p| p.as_str()).to_string();
                    self.arrived.push(ServedStream { stream, method: req.method().to_string(), path });
                    self.app.insert(stream, respond);
                }
                if closed {
                    self.state = ServerState::Closed;
                    progressed = true;
                }
            }

            let after = {
                let p = self.io.lock();
                (p.consumed, p.outbound.len())
            };
            if !progressed && after == before {
                break;
            }
        }
    }

    /// Output split at HTTP/2 frame boundaries (RFC 9113 §4.1), each chunk tagged with its stream
    /// when it is a DATA frame (§6.1). An incomplete trailing frame (never produced by h2 over
    /// the in-memory pipe, which accepts every write in full) would stay for the next call.
    pub fn take_output(&mut self) -> Vec<OutChunk> {
        let mut p = self.io.lock();
        split_frames(&mut p.outbound)
            .into_iter()
            .map(|(h, bytes)| OutChunk { stream: (h.kind == FRAME_DATA).then_some(h.stream), bytes })
            .collect()
    }
}

/// Sends a response head with `status` and content-length `len`, then `len` body bytes; h2
/// buffers the body and cuts it into DATA frames of at most SETTINGS_MAX_FRAME_SIZE as the
/// stream and connection windows allow. A failure is kept in `error` (the first one).
fn send_answer(mut respond: SendResponse<Bytes>, status: u16, len: u64, error: &mut Option<String>) {
    let resp = Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("server", "wirelab")
        .header("content-type", "application/octet-stream")
        .header("content-length", len)
        .body(())
        .expect("static response head");
    match respond.send_response(resp, len == 0) {
        Ok(mut body) if len > 0 => {
            if let Err(e) = body.send_data(Bytes::from(http1::body(len)), true) {
                error.get_or_insert(format!("send body: {e}"));
            }
        }
        Ok(_) => {}
        Err(e) => {
            error.get_or_insert(format!("send response: {e}"));
        }
    }
}
