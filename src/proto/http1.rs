//! HTTP/1.1 messages (RFC 9112), parsed with httparse.
//!
//! The client asks for `/bytes/N`; the lab's server answers with N bytes of body and a
//! `Content-Length` (RFC 9112 §6.3), so the client knows where the response ends.

/// The request line and headers for `GET /bytes/{size}`.
pub fn request(host: &str, size: u64) -> Vec<u8> {
    get(host, &format!("/bytes/{size}"))
}

/// The request line and headers for `GET {path}`.
pub fn get(host: &str, path: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: wirelab/{}\r\nAccept: */*\r\n\r\n",
        env!("CARGO_PKG_VERSION")
    )
    .into_bytes()
}

/// A request the server has read in full.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub path: String,
    /// Bytes of `buf` the request head occupied.
    pub head_len: usize,
}

/// Parses a request head from `buf`: `Ok(None)` while incomplete.
pub fn parse_request(buf: &[u8]) -> Result<Option<Request>, httparse::Error> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf)? {
        httparse::Status::Partial => Ok(None),
        httparse::Status::Complete(head_len) => {
            Ok(Some(Request { path: req.path.unwrap_or("/").to_string(), head_len }))
        }
    }
}

/// The body size a request path asks for: `/bytes/N` (a query such as `?object=3` may
/// follow), otherwise 0.
/// At most [`MAX_BODY`].
pub fn requested_size(path: &str) -> u64 {
    // Digits, or a size with a unit as lab files write it (`/bytes/200KB`).
    let Some(rest) = path.strip_prefix("/bytes/") else { return 0 };
    let size = rest.split(['?', '/']).next().unwrap_or("");
    crate::units::parse_size(size).ok().or_else(|| path_number(path, "/bytes/")).unwrap_or(0).min(MAX_BODY)
}

/// The largest body the lab's servers send (a request for more gets this much): 4 GiB. The
/// HTTP/1.1 servers make a body as TCP takes it ([`crate::proto::stream::Stream::write_body`])
/// and captures spill to disk, so memory does not bound it; HTTP/2, QUIC and WebSocket
/// servers still build each body in memory.
pub const MAX_BODY: u64 = 4 << 30;

/// The object a request path names: `?object=K`.
pub fn requested_object(path: &str) -> Option<u64> {
    let query = path.split_once('?')?.1;
    query.split('&').find_map(|kv| path_number(kv, "object="))
}

fn path_number(s: &str, prefix: &str) -> Option<u64> {
    let digits: String = s.strip_prefix(prefix)?.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// The request line and headers for object `object` of a page: `GET /bytes/{size}?object={object}`.
pub fn object_request(host: &str, size: u64, object: u64) -> Vec<u8> {
    get(host, &format!("/bytes/{size}?object={object}"))
}

/// The response head for a body of `len` bytes.
pub fn response_head(len: u64) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nServer: wirelab\r\nContent-Type: application/octet-stream\r\nContent-Length: {len}\r\n\r\n"
    )
    .into_bytes()
}

/// The response head for status `status` (200, 503, 504: RFC 9110 §15) and a body of `len` bytes.
pub fn response_head_status(status: u16, len: u64) -> Vec<u8> {
    let reason = match status {
        200 => "OK",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    };
    format!(
        "HTTP/1.1 {status} {reason}\r\nServer: wirelab\r\nContent-Type: application/octet-stream\r\nContent-Length: {len}\r\n\r\n"
    )
    .into_bytes()
}

/// The answer to a request that cannot be parsed (RFC 9112 §3: 400 Bad Request), after which
/// the server closes the connection (RFC 9112 §9.6: `Connection: close`).
pub fn bad_request() -> Vec<u8> {
    b"HTTP/1.1 400 Bad Request\r\nServer: wirelab\r\nConnection: close\r\nContent-Length: 0\r\n\r\n".to_vec()
}

/// The body's repeating pattern.
const PATTERN: &[u8] = b"wirelab response body; ";

/// `len` bytes of body: a repeating, readable pattern (handy in Wireshark's byte view).
pub fn body(len: u64) -> Vec<u8> {
    let mut body = Vec::with_capacity(len as usize);
    body_into(&mut body, 0, len as usize);
    body
}

/// Appends bytes `from..from + n` of a body to `out` (what `body(from + n)[from..]` holds).
pub fn body_into(out: &mut Vec<u8>, from: u64, n: usize) {
    out.reserve(n);
    let mut at = (from % PATTERN.len() as u64) as usize;
    let mut left = n;
    while left > 0 {
        let k = left.min(PATTERN.len() - at);
        out.extend_from_slice(&PATTERN[at..at + k]);
        left -= k;
        at = 0;
    }
}

/// A response being received.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResponseReader {
    head: Vec<u8>,
    /// Content-Length, once the head is complete.
    pub content_length: Option<u64>,
    pub body_received: u64,
    pub status: Option<u16>,
}

impl ResponseReader {
    /// Feeds received bytes; returns true once the whole response has arrived.
    pub fn feed(&mut self, mut data: &[u8]) -> Result<bool, String> {
        if self.content_length.is_none() {
            self.head.extend_from_slice(data);
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut resp = httparse::Response::new(&mut headers);
            match resp.parse(&self.head).map_err(|e| format!("bad HTTP response: {e}"))? {
                httparse::Status::Partial => return Ok(false),
                httparse::Status::Complete(n) => {
                    self.status = resp.code;
                    let len = resp
                        .headers
                        .iter()
                        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                        .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse().ok())
                        .ok_or("HTTP response without a Content-Length")?;
                    self.content_length = Some(len);
                    let head = std::mem::take(&mut self.head);
                    self.body_received = (head.len() - n) as u64;
                    data = &[];
                }
            }
        }
        self.body_received += data.len() as u64;
        Ok(self.done())
    }

    pub fn done(&self) -> bool {
        self.content_length.is_some_and(|n| self.body_received >= n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_made_in_pieces_is_the_whole_body() {
        let whole = body(100_000);
        for piece in [1, 23, 1000, 65_536] {
            let mut made = Vec::new();
            let mut from = 0;
            while from < whole.len() {
                let n = piece.min(whole.len() - from);
                body_into(&mut made, from as u64, n);
                from += n;
            }
            assert_eq!(made, whole, "pieces of {piece}");
        }
    }

    #[test]
    fn request_round_trips_through_httparse() {
        let req = request("server.lab", 200_000);
        let parsed = parse_request(&req).unwrap().unwrap();
        assert_eq!(parsed.head_len, req.len());
        assert_eq!(requested_size(&parsed.path), 200_000);
        assert_eq!(parse_request(&req[..10]).unwrap(), None);
    }

    #[test]
    fn object_requests_carry_size_and_object() {
        let req = object_request("server", 1000, 3);
        let parsed = parse_request(&req).unwrap().unwrap();
        assert_eq!(parsed.path, "/bytes/1000?object=3");
        assert_eq!(requested_size(&parsed.path), 1000);
        assert_eq!(requested_size("/bytes/200KB"), 200_000);
        assert_eq!(requested_size("/bytes/14KB?object=2"), 14_000);
        assert_eq!(requested_size("/bytes/100GB"), MAX_BODY);
        assert_eq!(requested_size("/bytes/lots"), 0);
        assert_eq!(requested_object(&parsed.path), Some(3));
        assert_eq!(requested_object("/bytes/5"), None);
    }

    #[test]
    fn response_reader_counts_body_across_chunks() {
        let mut all = response_head(50);
        all.extend(body(50));
        let mut r = ResponseReader::default();
        assert!(!r.feed(&all[..20]).unwrap());
        assert!(!r.feed(&all[20..100]).unwrap());
        assert!(r.feed(&all[100..]).unwrap());
        assert_eq!(r.status, Some(200));
        assert_eq!(r.body_received, 50);
    }
}
