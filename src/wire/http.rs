//! HTTP/1.x start lines (RFC 9112 §3 request line, §4 status line): the one place wirelab
//! recognises an HTTP/1 message in a segment's first bytes.

/// The methods of RFC 9110 §9, each with the space that ends it.
const METHODS: [&[u8]; 9] =
    [b"GET ", b"HEAD ", b"POST ", b"PUT ", b"DELETE ", b"OPTIONS ", b"PATCH ", b"CONNECT ", b"TRACE "];

/// The payload starts with a request line's method and space.
pub fn is_request(payload: &[u8]) -> bool {
    METHODS.iter().any(|m| payload.starts_with(m))
}

/// The payload starts with a status line's "HTTP/1.".
pub fn is_response(payload: &[u8]) -> bool {
    payload.starts_with(b"HTTP/1.")
}

/// The request or status line at the start of the payload, if it is one and printable
/// (looked for in the first 200 bytes).
pub fn start_line(payload: &[u8]) -> Option<&str> {
    let head = payload.get(..payload.len().min(200))?;
    if !is_request(head) && !is_response(head) {
        return None;
    }
    let end = head.iter().position(|&b| b == b'\r' || b == b'\n').unwrap_or(head.len());
    let line = std::str::from_utf8(&head[..end]).ok()?;
    line.chars().all(|c| c.is_ascii_graphic() || c == ' ').then_some(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_lines() {
        assert_eq!(start_line(b"GET /bytes/10 HTTP/1.1\r\nHost: x\r\n"), Some("GET /bytes/10 HTTP/1.1"));
        assert_eq!(start_line(b"HTTP/1.1 200 OK\r\n"), Some("HTTP/1.1 200 OK"));
        assert_eq!(start_line(b"GETX / HTTP/1.1"), None);
        assert_eq!(start_line(b"GET /\x01 HTTP/1.1"), None);
        assert!(is_request(b"DELETE /a") && !is_request(b"delete /a") && is_response(b"HTTP/1.0 404"));
    }
}
