use super::*;
use crate::proto::http1;

const AUTH: &str = "lab.example";

/// Independent re-parse of one frame (RFC 9113 §4.1): (payload length, type, stream id).
fn frame_header(b: &[u8]) -> (usize, u8, u32) {
    assert!(b.len() >= 9, "short frame: {b:?}");
    let len = (b[0] as usize) << 16 | (b[1] as usize) << 8 | b[2] as usize;
    let id = u32::from_be_bytes([b[5], b[6], b[7], b[8]]) & 0x7fff_ffff;
    (len, b[3], id)
}

/// Polls the server, then answers every request that has arrived through the application API:
/// `GET /bytes/N` with status 200, content-length N and N bytes of the lab's pattern, anything
/// else with 404 and no body. The answers are given together ([`H2Server::respond_all`]), so
/// their bodies share the windows round-robin.
fn serve(s: &mut H2Server) {
    s.poll();
    let answers: Vec<(u32, u16, u64)> = s
        .take_requests()
        .into_iter()
        .map(|r| {
            if r.method == "GET" && r.path.starts_with("/bytes/") {
                (r.stream, 200, http1::requested_size(&r.path))
            } else {
                (r.stream, 404, 0)
            }
        })
        .collect();
    if !answers.is_empty() {
        s.respond_all(&answers);
    }
}

/// Pumps both directions until quiet. Returns the server's chunks and the client's events.
fn pump(c: &mut H2Client, s: &mut H2Server) -> (Vec<OutChunk>, Vec<H2Event>) {
    let mut chunks = Vec::new();
    let mut events = Vec::new();
    for _ in 0..1000 {
        let up = c.take_output();
        s.receive(&up);
        serve(s);
        let down = s.take_output();
        for ch in &down {
            c.receive(&ch.bytes);
        }
        let quiet = up.is_empty() && down.is_empty();
        chunks.extend(down);
        events.extend(c.poll_events());
        if quiet {
            return (chunks, events);
        }
    }
    panic!("no quiescence");
}

fn body_len(events: &[H2Event], stream: u32) -> usize {
    events
        .iter()
        .map(|e| {
            if let H2Event::Data { stream: s, len } = e {
                if *s == stream {
                    *len
                } else {
                    0
                }
            } else {
                0
            }
        })
        .sum()
}

#[test]
fn preface_and_settings_queued_by_new() {
    let mut c = H2Client::new();
    let out = c.take_output();
    assert!(out.starts_with(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), "RFC 9113 §3.4 preface");
    let (len, kind, id) = frame_header(&out[24..]);
    assert_eq!((kind, id), (0x4, 0), "SETTINGS on stream 0");
    // SETTINGS_INITIAL_WINDOW_SIZE (0x4) = 16 MiB is among the settings.
    let settings = &out[33..33 + len];
    assert!(settings.chunks(6).any(|p| p[..2] == [0, 4] && p[2..] == WINDOW.to_be_bytes()));
    // Then a connection-level WINDOW_UPDATE up to 16 MiB.
    let rest = &out[33 + len..];
    let (wlen, wkind, wid) = frame_header(rest);
    assert_eq!((wlen, wkind, wid), (4, 0x8, 0));
    assert_eq!(u32::from_be_bytes(rest[9..13].try_into().unwrap()), WINDOW - 65_535);
}

#[test]
fn single_get() {
    let mut c = H2Client::new();
    let mut s = H2Server::for_app();
    assert_eq!(c.get(AUTH, "/bytes/100000"), Ok(1));
    let (chunks, events) = pump(&mut c, &mut s);
    assert_eq!(events.first(), Some(&H2Event::Response { stream: 1, status: 200 }));
    assert_eq!(events.last(), Some(&H2Event::End { stream: 1 }));
    assert_eq!(body_len(&events, 1), 100_000);
    assert!(events.iter().all(|e| matches!(e, H2Event::Response { .. } | H2Event::Data { .. } | H2Event::End { .. })));
    // 100000 = 6 * 16384 + 1696: seven DATA frames, max frame size 16 KiB.
    let data: Vec<usize> = chunks.iter().filter(|c| c.stream == Some(1)).map(|c| c.bytes.len() - 9).collect();
    assert_eq!(data, [16384, 16384, 16384, 16384, 16384, 16384, 1696]);
    assert!(s.error().is_none());
}

#[test]
fn transfer_beyond_the_window_needs_window_updates() {
    let mut c = H2Client::new();
    let mut s = H2Server::for_app();
    let n = 20_000_000;
    c.get(AUTH, &format!("/bytes/{n}")).unwrap();
    let mut total = 0;
    let mut updates = 0;
    let mut rounds = 0;
    loop {
        rounds += 1;
        let up = c.take_output();
        updates += count_window_updates(&up);
        s.receive(&up);
        serve(&mut s);
        let down = s.take_output();
        for ch in &down {
            c.receive(&ch.bytes);
        }
        total += body_len(&c.poll_events(), 1);
        if up.is_empty() && down.is_empty() {
            break;
        }
    }
    assert_eq!(total, n);
    // 16 MiB windows: the server stalls once, until the client's WINDOW_UPDATEs (sent when half
    // the window is unclaimed) arrive.
    assert!(updates >= 2, "{updates}");
    assert!(rounds >= 3, "{rounds}");
}

fn count_window_updates(mut b: &[u8]) -> usize {
    if b.starts_with(b"PRI * HTTP/2.0") {
        b = &b[24..];
    }
    let mut n = 0;
    while b.len() >= 9 {
        let (len, kind, _) = frame_header(b);
        n += usize::from(kind == 0x8);
        b = &b[9 + len..];
    }
    n
}

#[test]
fn body_bytes_match_http1_pattern() {
    let mut c = H2Client::new();
    let mut s = H2Server::for_app();
    c.get(AUTH, "/bytes/40000").unwrap();
    let (chunks, _) = pump(&mut c, &mut s);
    let body: Vec<u8> = chunks.iter().filter(|c| c.stream == Some(1)).flat_map(|c| c.bytes[9..].to_vec()).collect();
    assert_eq!(body, http1::body(40_000));
}

#[test]
fn other_paths_get_404() {
    let mut c = H2Client::new();
    let mut s = H2Server::for_app();
    c.get(AUTH, "/index.html").unwrap();
    let (_, events) = pump(&mut c, &mut s);
    assert_eq!(events, [H2Event::Response { stream: 1, status: 404 }, H2Event::End { stream: 1 }]);
}

#[test]
fn six_concurrent_gets_interleave() {
    let mut c = H2Client::new();
    let mut s = H2Server::for_app();
    let ids: Vec<u32> = (0..6).map(|_| c.get(AUTH, "/bytes/100000").unwrap()).collect();
    assert_eq!(ids, [1, 3, 5, 7, 9, 11]);
    let (chunks, events) = pump(&mut c, &mut s);
    for &id in &ids {
        assert_eq!(body_len(&events, id), 100_000, "stream {id}");
        assert!(events.contains(&H2Event::Response { stream: id, status: 200 }));
        assert!(events.contains(&H2Event::End { stream: id }));
    }
    let order: Vec<u32> = chunks.iter().filter_map(|c| c.stream).collect();
    assert_eq!(order.len(), 6 * 7);
    // The sequence switches streams before stream 1's last frame.
    let last1 = order.iter().rposition(|&s| s == 1).unwrap();
    let first_other = order.iter().position(|&s| s != 1).unwrap();
    assert!(first_other < last1, "not interleaved: {order:?}");
    // In fact h2 is strictly round-robin, one 16 KiB frame per stream per turn.
    let expected: Vec<u32> = (0..7).flat_map(|_| ids.iter().copied()).collect();
    assert_eq!(order, expected);
    // Client events come out in wire order too (one frame handed to h2 at a time).
    let data_order: Vec<u32> =
        events.iter().filter_map(|e| if let H2Event::Data { stream, .. } = e { Some(*stream) } else { None }).collect();
    assert_eq!(data_order, expected);
}

#[test]
fn late_request_only_interleaves_with_frames_generated_after_it() {
    // The pipe never pushes back, so a response answered in one `serve` is serialised entirely.
    let mut c = H2Client::new();
    let mut s = H2Server::for_app();
    c.get(AUTH, "/bytes/50000").unwrap();
    s.receive(&c.take_output());
    serve(&mut s);
    c.get(AUTH, "/bytes/50000").unwrap();
    s.receive(&c.take_output());
    serve(&mut s);
    let order: Vec<u32> = s.take_output().iter().filter_map(|c| c.stream).collect();
    assert_eq!(order, [1, 1, 1, 1, 3, 3, 3, 3]);
}

#[test]
fn out_chunks_are_exact_frames() {
    let mut c = H2Client::new();
    let mut s = H2Server::for_app();
    for _ in 0..3 {
        c.get(AUTH, "/bytes/50000").unwrap();
    }
    c.ping();
    let (chunks, _) = pump(&mut c, &mut s);
    let mut kinds = Vec::new();
    for ch in &chunks {
        let (len, kind, id) = frame_header(&ch.bytes);
        assert_eq!(ch.bytes.len(), 9 + len, "chunk is exactly one frame");
        if kind == 0x0 {
            assert_eq!(ch.stream, Some(id));
            assert!(id % 2 == 1);
        } else {
            assert_eq!(ch.stream, None);
        }
        kinds.push(kind);
    }
    // SETTINGS, WINDOW_UPDATE, SETTINGS ack, PING ack, HEADERS, DATA all seen.
    for k in [0x4, 0x8, 0x6, 0x1, 0x0] {
        assert!(kinds.contains(&k), "frame type {k} missing: {kinds:?}");
    }
}

#[test]
fn byte_at_a_time() {
    let mut c = H2Client::new();
    let mut s = H2Server::for_app();
    c.get(AUTH, "/bytes/30000").unwrap();
    c.get(AUTH, "/bytes/20000").unwrap();
    c.ping();
    let mut events = Vec::new();
    for _ in 0..100 {
        let up = c.take_output();
        for b in &up {
            s.receive(std::slice::from_ref(b));
            serve(&mut s);
        }
        let down: Vec<u8> = s.take_output().into_iter().flat_map(|c| c.bytes).collect();
        for b in &down {
            c.receive(std::slice::from_ref(b));
        }
        events.extend(c.poll_events());
        if up.is_empty() && down.is_empty() {
            break;
        }
    }
    assert_eq!(body_len(&events, 1), 30_000);
    assert_eq!(body_len(&events, 3), 20_000);
    assert!(events.contains(&H2Event::End { stream: 1 }));
    assert!(events.contains(&H2Event::End { stream: 3 }));
    assert!(events.contains(&H2Event::Pong));
    assert!(!events.iter().any(|e| matches!(e, H2Event::Error(_))));
}

#[test]
fn ping_pong() {
    let mut c = H2Client::new();
    let mut s = H2Server::for_app();
    pump(&mut c, &mut s);
    c.ping();
    c.ping();
    let (chunks, events) = pump(&mut c, &mut s);
    assert_eq!(events, [H2Event::Pong, H2Event::Pong]);
    // Two PING acks (type 6, ACK flag), one after the other.
    let acks = chunks.iter().filter(|c| c.bytes[3] == 0x6 && c.bytes[4] & 1 == 1).count();
    assert_eq!(acks, 2);
}

#[test]
fn deterministic() {
    let run = || {
        let mut c = H2Client::new();
        let mut s = H2Server::for_app();
        let mut trace = Vec::new();
        for n in [1000, 70_000, 5] {
            c.get(AUTH, &format!("/bytes/{n}")).unwrap();
        }
        c.ping();
        for _ in 0..50 {
            let up = c.take_output();
            s.receive(&up);
            serve(&mut s);
            let down = s.take_output();
            for ch in &down {
                c.receive(&ch.bytes);
            }
            trace.push((up, down, c.poll_events()));
        }
        trace
    };
    assert_eq!(run(), run());
}

#[test]
fn garbage_to_client_is_an_error() {
    let mut c = H2Client::new();
    c.get(AUTH, "/bytes/10").unwrap();
    c.take_output();
    c.receive(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    let events = c.poll_events();
    assert!(events.iter().any(|e| matches!(e, H2Event::Error(_))), "{events:?}");
    // Still usable as an object, no panic.
    c.receive(b"more garbage");
    c.ping();
    let _ = c.poll_events();
    assert!(c.get(AUTH, "/").is_err());
}

#[test]
fn garbage_to_server_does_not_panic() {
    let mut s = H2Server::for_app();
    s.take_output();
    s.receive(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    s.poll();
    assert!(s.error().is_some());
    // A valid preface followed by a bogus frame gets a GOAWAY (RFC 9113 §5.4.1).
    let mut s = H2Server::for_app();
    s.receive(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    s.receive(&[0, 0, 0, 0x4, 0, 0, 0, 0, 0]); // empty SETTINGS
    s.receive(&[0, 0, 1, 0x0, 0, 0, 0, 0, 0, 0xff]); // DATA on stream 0: PROTOCOL_ERROR
    s.poll();
    let out = s.take_output();
    assert!(out.iter().any(|c| c.bytes[3] == 0x7), "GOAWAY sent");
    assert!(s.error().is_some());
}
