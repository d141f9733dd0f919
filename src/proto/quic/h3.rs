//! Minimal HTTP/3 (RFC 9114) framing and QPACK (RFC 9204) field sections that use the
//! static table only: enough for `GET /bytes/N` and its `200` response.
//!
//! - Frames (RFC 9114 §7.1): `type (varint) | length (varint) | payload`.
//! - HEADERS (type 0x01, §7.2.2) carries a QPACK field section; DATA (type 0x00, §7.2.1)
//!   carries body bytes; SETTINGS (type 0x04, §7.2.4) opens the control stream (§6.2.1).
//! - QPACK field sections (RFC 9204 §4.5): a prefix of Required Insert Count = 0 and
//!   Delta Base = 0 (no dynamic table, so streams never block, §2.1.2), then field lines
//!   that are indexed static entries (§4.5.2) or literals with a static name reference
//!   (§4.5.4), never Huffman-coded. The decoder also takes literal names (§4.5.6) but no
//!   dynamic-table references and no Huffman strings.

/// HTTP/3 frame type DATA (RFC 9114 §7.2.1).
pub const FRAME_DATA: u64 = 0x00;
/// HTTP/3 frame type HEADERS (RFC 9114 §7.2.2).
pub const FRAME_HEADERS: u64 = 0x01;
/// HTTP/3 frame type SETTINGS (RFC 9114 §7.2.4).
pub const FRAME_SETTINGS: u64 = 0x04;
/// Unidirectional stream type of the control stream (RFC 9114 §6.2.1).
pub const STREAM_TYPE_CONTROL: u64 = 0x00;
/// SETTINGS_QPACK_MAX_TABLE_CAPACITY (RFC 9204 §5).
pub const SETTINGS_QPACK_MAX_TABLE_CAPACITY: u64 = 0x01;
/// SETTINGS_QPACK_BLOCKED_STREAMS (RFC 9204 §5).
pub const SETTINGS_QPACK_BLOCKED_STREAMS: u64 = 0x07;

/// The QPACK static table (RFC 9204 Appendix A).
pub const STATIC_TABLE: [(&str, &str); 99] = [
    (":authority", ""),
    (":path", "/"),
    ("age", "0"),
    ("content-disposition", ""),
    ("content-length", "0"),
    ("cookie", ""),
    ("date", ""),
    ("etag", ""),
    ("if-modified-since", ""),
    ("if-none-match", ""),
    ("last-modified", ""),
    ("link", ""),
    ("location", ""),
    ("referer", ""),
    ("set-cookie", ""),
    (":method", "CONNECT"),
    (":method", "DELETE"),
    (":method", "GET"),
    (":method", "HEAD"),
    (":method", "OPTIONS"),
    (":method", "POST"),
    (":method", "PUT"),
    (":scheme", "http"),
    (":scheme", "https"),
    (":status", "103"),
    (":status", "200"),
    (":status", "304"),
    (":status", "404"),
    (":status", "503"),
    ("accept", "*/*"),
    ("accept", "application/dns-message"),
    ("accept-encoding", "gzip, deflate, br"),
    ("accept-ranges", "bytes"),
    ("access-control-allow-headers", "cache-control"),
    ("access-control-allow-headers", "content-type"),
    ("access-control-allow-origin", "*"),
    ("cache-control", "max-age=0"),
    ("cache-control", "max-age=2592000"),
    ("cache-control", "max-age=604800"),
    ("cache-control", "no-cache"),
    ("cache-control", "no-store"),
    ("cache-control", "public, max-age=31536000"),
    ("content-encoding", "br"),
    ("content-encoding", "gzip"),
    ("content-type", "application/dns-message"),
    ("content-type", "application/javascript"),
    ("content-type", "application/json"),
    ("content-type", "application/x-www-form-urlencoded"),
    ("content-type", "image/gif"),
    ("content-type", "image/jpeg"),
    ("content-type", "image/png"),
    ("content-type", "text/css"),
    ("content-type", "text/html; charset=utf-8"),
    ("content-type", "text/plain"),
    ("content-type", "text/plain;charset=utf-8"),
    ("range", "bytes=0-"),
    ("strict-transport-security", "max-age=31536000"),
    ("strict-transport-security", "max-age=31536000; includesubdomains"),
    ("strict-transport-security", "max-age=31536000; includesubdomains; preload"),
    ("vary", "accept-encoding"),
    ("vary", "origin"),
    ("x-content-type-options", "nosniff"),
    ("x-xss-protection", "1; mode=block"),
    (":status", "100"),
    (":status", "204"),
    (":status", "206"),
    (":status", "302"),
    (":status", "400"),
    (":status", "403"),
    (":status", "421"),
    (":status", "425"),
    (":status", "500"),
    ("accept-language", ""),
    ("access-control-allow-credentials", "FALSE"),
    ("access-control-allow-credentials", "TRUE"),
    ("access-control-allow-headers", "*"),
    ("access-control-allow-methods", "get"),
    ("access-control-allow-methods", "get, post, options"),
    ("access-control-allow-methods", "options"),
    ("access-control-expose-headers", "content-length"),
    ("access-control-request-headers", "content-type"),
    ("access-control-request-method", "get"),
    ("access-control-request-method", "post"),
    ("alt-svc", "clear"),
    ("authorization", ""),
    ("content-security-policy", "script-src 'none'; object-src 'none'; base-uri 'none'"),
    ("early-data", "1"),
    ("expect-ct", ""),
    ("forwarded", ""),
    ("if-range", ""),
    ("origin", ""),
    ("purpose", "prefetch"),
    ("server", ""),
    ("timing-allow-origin", "*"),
    ("upgrade-insecure-requests", "1"),
    ("user-agent", ""),
    ("x-forwarded-for", ""),
    ("x-frame-options", "deny"),
    ("x-frame-options", "sameorigin"),
];

// Static-table indices this module emits.
const IDX_AUTHORITY: u64 = 0;
const IDX_PATH: u64 = 1;
const IDX_CONTENT_LENGTH: u64 = 4;
const IDX_METHOD_GET: u64 = 17;
const IDX_SCHEME_HTTPS: u64 = 23;
const IDX_STATUS_200: u64 = 25;
const IDX_STATUS_103: u64 = 24;

/// Appends a QUIC variable-length integer (RFC 9000 §16).
pub fn put_varint(out: &mut Vec<u8>, v: u64) {
    if v < 1 << 6 {
        out.push(v as u8);
    } else if v < 1 << 14 {
        out.extend_from_slice(&((v as u16) | 0x4000).to_be_bytes());
    } else if v < 1 << 30 {
        out.extend_from_slice(&((v as u32) | 0x8000_0000).to_be_bytes());
    } else {
        assert!(v < 1 << 62, "varint out of range");
        out.extend_from_slice(&(v | 0xc000_0000_0000_0000).to_be_bytes());
    }
}

/// Reads a QUIC variable-length integer (RFC 9000 §16): `(value, bytes used)`, or `None`
/// if `buf` is too short.
pub fn get_varint(buf: &[u8]) -> Option<(u64, usize)> {
    let first = *buf.first()?;
    let len = 1usize << (first >> 6);
    if buf.len() < len {
        return None;
    }
    let mut v = u64::from(first & 0x3f);
    for &b in &buf[1..len] {
        v = (v << 8) | u64::from(b);
    }
    Some((v, len))
}

/// Appends one HTTP/3 frame (RFC 9114 §7.1).
pub fn put_frame(out: &mut Vec<u8>, frame_type: u64, payload: &[u8]) {
    put_frame_header(out, frame_type, payload.len() as u64);
    out.extend_from_slice(payload);
}

/// Appends the type and length of an HTTP/3 frame whose payload follows separately.
pub fn put_frame_header(out: &mut Vec<u8>, frame_type: u64, len: u64) {
    put_varint(out, frame_type);
    put_varint(out, len);
}

/// A frame header parsed from the front of a buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    pub frame_type: u64,
    pub len: u64,
    /// Bytes the type and length took.
    pub header_len: usize,
}

/// Parses a frame header (RFC 9114 §7.1) at the start of `buf`; `None` if incomplete.
pub fn parse_frame_header(buf: &[u8]) -> Option<FrameHeader> {
    let (frame_type, a) = get_varint(buf)?;
    let (len, b) = get_varint(&buf[a..])?;
    Some(FrameHeader { frame_type, len, header_len: a + b })
}

/// The bytes that open a control stream (RFC 9114 §6.2.1): stream type 0x00, then a
/// SETTINGS frame (§7.2.4) announcing no QPACK dynamic table (RFC 9204 §5).
pub fn control_stream_preamble() -> Vec<u8> {
    let mut settings = Vec::new();
    put_varint(&mut settings, SETTINGS_QPACK_MAX_TABLE_CAPACITY);
    put_varint(&mut settings, 0);
    put_varint(&mut settings, SETTINGS_QPACK_BLOCKED_STREAMS);
    put_varint(&mut settings, 0);
    let mut out = Vec::new();
    put_varint(&mut out, STREAM_TYPE_CONTROL);
    put_frame(&mut out, FRAME_SETTINGS, &settings);
    out
}

/// Appends a QPACK/HPACK prefixed integer (RFC 9204 §4.1.1, RFC 7541 §5.1): `flags`
/// holds the bits above the `prefix_bits`-bit prefix.
fn put_prefixed_int(out: &mut Vec<u8>, flags: u8, prefix_bits: u32, mut v: u64) {
    let max = (1u64 << prefix_bits) - 1;
    if v < max {
        out.push(flags | v as u8);
        return;
    }
    out.push(flags | max as u8);
    v -= max;
    while v >= 128 {
        out.push((v % 128) as u8 | 0x80);
        v /= 128;
    }
    out.push(v as u8);
}

/// Reads a prefixed integer from `buf[*pos..]`, advancing `pos`.
fn get_prefixed_int(buf: &[u8], pos: &mut usize, prefix_bits: u32) -> Result<u64, String> {
    let max = (1u64 << prefix_bits) - 1;
    let first = *buf.get(*pos).ok_or("QPACK: truncated integer")?;
    *pos += 1;
    let mut v = u64::from(first) & max;
    if v < max {
        return Ok(v);
    }
    let mut shift = 0;
    loop {
        let b = *buf.get(*pos).ok_or("QPACK: truncated integer")?;
        *pos += 1;
        if shift > 56 {
            return Err("QPACK: integer overflow".into());
        }
        v += u64::from(b & 0x7f) << shift;
        shift += 7;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
}

/// Appends a string literal (RFC 9204 §4.1.2) with `prefix_bits`-bit length, H = 0.
fn put_string(out: &mut Vec<u8>, flags: u8, prefix_bits: u32, s: &str) {
    put_prefixed_int(out, flags, prefix_bits, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// Reads a string literal whose H bit is `1 << prefix_bits` in the first byte.
fn get_string(buf: &[u8], pos: &mut usize, prefix_bits: u32) -> Result<String, String> {
    let first = *buf.get(*pos).ok_or("QPACK: truncated string")?;
    if first & (1 << prefix_bits) != 0 {
        return Err("QPACK: Huffman-coded strings are not supported".into());
    }
    let len = get_prefixed_int(buf, pos, prefix_bits)? as usize;
    let end = pos.checked_add(len).filter(|&e| e <= buf.len()).ok_or("QPACK: truncated string")?;
    let s = String::from_utf8(buf[*pos..end].to_vec()).map_err(|_| "QPACK: string is not UTF-8")?;
    *pos = end;
    Ok(s)
}

/// Indexed field line, static table (RFC 9204 §4.5.2): `1 T=1 index(6)`.
fn put_indexed_static(out: &mut Vec<u8>, index: u64) {
    put_prefixed_int(out, 0xc0, 6, index);
}

/// Literal field line with a static name reference (RFC 9204 §4.5.4):
/// `0 1 N=0 T=1 index(4)`, then the value with H = 0.
fn put_literal_static_name(out: &mut Vec<u8>, index: u64, value: &str) {
    put_prefixed_int(out, 0x50, 4, index);
    put_string(out, 0x00, 7, value);
}

/// The encoded field section prefix (RFC 9204 §4.5.1): Required Insert Count 0, Base 0.
const SECTION_PREFIX: [u8; 2] = [0x00, 0x00];

/// QPACK field section of a GET request (RFC 9114 §4.3.1 pseudo-headers).
pub fn encode_request_fields(authority: &str, path: &str) -> Vec<u8> {
    let mut out = SECTION_PREFIX.to_vec();
    put_indexed_static(&mut out, IDX_METHOD_GET);
    put_indexed_static(&mut out, IDX_SCHEME_HTTPS);
    put_literal_static_name(&mut out, IDX_AUTHORITY, authority);
    put_literal_static_name(&mut out, IDX_PATH, path);
    out
}

/// QPACK field section of a response (RFC 9114 §4.3.2) with a content-length.
pub fn encode_response_fields(status: u16, content_length: u64) -> Vec<u8> {
    let mut out = SECTION_PREFIX.to_vec();
    match STATIC_TABLE.iter().position(|&(n, v)| n == ":status" && v == status.to_string()) {
        Some(i) => put_indexed_static(&mut out, i as u64),
        None => put_literal_static_name(&mut out, IDX_STATUS_103, &status.to_string()),
    }
    if status == 200 {
        debug_assert_eq!(STATIC_TABLE[IDX_STATUS_200 as usize], (":status", "200"));
    }
    put_literal_static_name(&mut out, IDX_CONTENT_LENGTH, &content_length.to_string());
    out
}

/// A complete request stream payload: HEADERS frame (RFC 9114 §7.2.2) of a GET.
pub fn request(authority: &str, path: &str) -> Vec<u8> {
    let mut out = Vec::new();
    put_frame(&mut out, FRAME_HEADERS, &encode_request_fields(authority, path));
    out
}

/// Decodes a QPACK field section (RFC 9204 §4.5) that uses no dynamic table.
pub fn decode_fields(buf: &[u8]) -> Result<Vec<(String, String)>, String> {
    let mut pos = 0;
    let required_insert_count = get_prefixed_int(buf, &mut pos, 8)?;
    let _delta_base = get_prefixed_int(buf, &mut pos, 7)?;
    if required_insert_count != 0 {
        return Err("QPACK: dynamic table references are not supported".into());
    }
    let mut fields = Vec::new();
    while pos < buf.len() {
        let b = buf[pos];
        let static_entry = |i: u64| {
            STATIC_TABLE.get(i as usize).copied().ok_or_else(|| format!("QPACK: static index {i} out of range"))
        };
        if b & 0x80 != 0 {
            // Indexed field line (§4.5.2): 1 T index(6).
            if b & 0x40 == 0 {
                return Err("QPACK: dynamic table references are not supported".into());
            }
            let (n, v) = static_entry(get_prefixed_int(buf, &mut pos, 6)?)?;
            fields.push((n.to_string(), v.to_string()));
        } else if b & 0x40 != 0 {
            // Literal with name reference (§4.5.4): 0 1 N T index(4).
            if b & 0x10 == 0 {
                return Err("QPACK: dynamic table references are not supported".into());
            }
            let (n, _) = static_entry(get_prefixed_int(buf, &mut pos, 4)?)?;
            let v = get_string(buf, &mut pos, 7)?;
            fields.push((n.to_string(), v));
        } else if b & 0x20 != 0 {
            // Literal with literal name (§4.5.6): 0 0 1 N H namelen(3).
            let n = get_string(buf, &mut pos, 3)?;
            let v = get_string(buf, &mut pos, 7)?;
            fields.push((n, v));
        } else {
            return Err("QPACK: post-base references are not supported".into());
        }
    }
    Ok(fields)
}

/// The value of field `name` in a decoded section.
pub fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

/// In-order parser of a response stream (RFC 9114 §4.1): HEADERS, then DATA frames.
/// Unknown and reserved frame types are skipped (§9).
#[derive(Debug, Default)]
pub struct ResponseParser {
    buf: Vec<u8>,
    /// Payload bytes of the DATA frame being read that are still to come.
    data_left: u64,
    /// Payload bytes of an ignored frame still to skip.
    skip_left: u64,
    /// `:status`, once the HEADERS frame is parsed.
    pub status: Option<u16>,
    /// Body bytes (DATA payload) so far.
    pub body: u64,
    /// content-length from the HEADERS, if any.
    pub content_length: Option<u64>,
}

impl ResponseParser {
    /// Feeds in-order stream bytes; returns `Some(status)` when this call parsed the
    /// HEADERS frame.
    pub fn feed(&mut self, data: &[u8]) -> Result<Option<u16>, String> {
        self.buf.extend_from_slice(data);
        let mut parsed = None;
        let mut pos = 0;
        let result = loop {
            let avail = (self.buf.len() - pos) as u64;
            if self.data_left > 0 {
                if avail == 0 {
                    break Ok(parsed);
                }
                let n = avail.min(self.data_left);
                self.data_left -= n;
                self.body += n;
                pos += n as usize;
                continue;
            }
            if self.skip_left > 0 {
                if avail == 0 {
                    break Ok(parsed);
                }
                let n = avail.min(self.skip_left);
                self.skip_left -= n;
                pos += n as usize;
                continue;
            }
            let Some(h) = parse_frame_header(&self.buf[pos..]) else { break Ok(parsed) };
            match h.frame_type {
                FRAME_DATA => {
                    if self.status.is_none() {
                        break Err("HTTP/3: DATA before HEADERS".into());
                    }
                    pos += h.header_len;
                    self.data_left = h.len;
                }
                FRAME_HEADERS => {
                    let end = pos + h.header_len + h.len as usize;
                    if self.buf.len() < end {
                        break Ok(parsed);
                    }
                    let fields = match decode_fields(&self.buf[pos + h.header_len..end]) {
                        Ok(f) => f,
                        Err(e) => break Err(e),
                    };
                    // Trailers (a later HEADERS) keep the first status.
                    if self.status.is_none() {
                        let Some(status) = field(&fields, ":status").and_then(|s| s.parse().ok()) else {
                            break Err("HTTP/3: response without a valid :status".into());
                        };
                        self.status = Some(status);
                        self.content_length = field(&fields, "content-length").and_then(|s| s.parse().ok());
                        parsed = Some(status);
                    }
                    pos = end;
                }
                _ => {
                    pos += h.header_len;
                    self.skip_left = h.len;
                }
            }
        };
        self.buf.drain(..pos);
        result
    }
}

/// Parses a complete request stream (everything up to FIN): `(authority, path)` from
/// its HEADERS frame.
pub fn parse_request(buf: &[u8]) -> Result<(String, String), String> {
    let mut rest = buf;
    while let Some(h) = parse_frame_header(rest) {
        let end = h.header_len + h.len as usize;
        if rest.len() < end {
            break;
        }
        if h.frame_type == FRAME_HEADERS {
            let fields = decode_fields(&rest[h.header_len..end])?;
            if field(&fields, ":method") != Some("GET") {
                return Err("HTTP/3: only GET is served".into());
            }
            let authority = field(&fields, ":authority").unwrap_or("").to_string();
            let path = field(&fields, ":path").ok_or("HTTP/3: request without :path")?.to_string();
            return Ok((authority, path));
        }
        rest = &rest[end..];
    }
    Err("HTTP/3: request stream ended without a complete HEADERS frame".into())
}

/// The response stream payload header for a body of `len` bytes: HEADERS (`:status 200`,
/// `content-length`) and the header of one DATA frame; the body bytes follow.
pub fn response_head(len: u64) -> Vec<u8> {
    response_head_status(200, len)
}

/// [`response_head`] with any `status` (RFC 9114 §4.3.2); no DATA frame when `len` is 0.
pub fn response_head_status(status: u16, len: u64) -> Vec<u8> {
    let mut out = Vec::new();
    put_frame(&mut out, FRAME_HEADERS, &encode_response_fields(status, len));
    if len > 0 || status == 200 {
        put_frame_header(&mut out, FRAME_DATA, len);
    }
    out
}
