use super::*;
use rand_core::SeedableRng;

fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// Moves bytes both ways until neither side has anything to send.
fn pump(a: &mut WsEndpoint, b: &mut WsEndpoint) {
    loop {
        let (ab, ba) = (a.take_output(), b.take_output());
        if ab.is_empty() && ba.is_empty() {
            break;
        }
        b.receive(&ab);
        a.receive(&ba);
    }
}

fn connected(seed: u64) -> (WsEndpoint, WsEndpoint) {
    let (mut c, mut s) = (WsEndpoint::client("example.test", "/ws", rng(seed)), WsEndpoint::server());
    pump(&mut c, &mut s);
    assert_eq!(c.poll_events(), vec![WsEvent::Open]);
    assert_eq!(s.poll_events(), vec![WsEvent::Open]);
    assert!(c.is_open() && s.is_open());
    (c, s)
}

#[test]
fn handshake_headers() {
    let mut c = WsEndpoint::client("example.test", "/ws", rng(1));
    let req = String::from_utf8(c.take_output()).unwrap();
    assert!(req.starts_with("GET /ws HTTP/1.1\r\nHost: example.test\r\n"), "{req}");
    assert!(req.contains("Sec-WebSocket-Version: 13\r\n") && req.ends_with("\r\n\r\n"));
    let key = req.lines().find_map(|l| l.strip_prefix("Sec-WebSocket-Key: ")).unwrap();
    assert_eq!(key.len(), 24);
    assert!(key.ends_with("=="));
    let mut s = WsEndpoint::server();
    s.receive(req.as_bytes());
    let resp = String::from_utf8(s.take_output()).unwrap();
    assert!(resp.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
    assert!(resp.contains(&format!("Sec-WebSocket-Accept: {}\r\n", derive_accept_key(key.as_bytes()))));
    // RFC 6455 §1.3 worked example.
    assert_eq!(derive_accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert_eq!(base64(b"the sample nonce"), "dGhlIHNhbXBsZSBub25jZQ==");
}

#[test]
fn messages_both_ways() {
    let (mut c, mut s) = connected(2);
    c.send_text("hello server");
    c.send_binary(&[0, 1, 2, 255]);
    s.send_text("héllo client");
    s.send_binary(&[9; 300]);
    pump(&mut c, &mut s);
    assert_eq!(s.poll_events(), vec![WsEvent::Text("hello server".into()), WsEvent::Binary(vec![0, 1, 2, 255])]);
    assert_eq!(c.poll_events(), vec![WsEvent::Text("héllo client".into()), WsEvent::Binary(vec![9; 300])]);
}

#[test]
fn ping_pong_wire_sizes_and_control_bytes() {
    let (mut c, mut s) = connected(3);
    c.send_ping(b"abcd");
    let ping = c.take_output();
    assert_eq!(ping.len(), 2 + 4 + 4);
    assert_eq!(ping[0], 0x89); // FIN | Ping
    assert_eq!(ping[1], 0x80 | 4); // masked, length 4
    s.receive(&ping);
    assert_eq!(s.poll_events(), vec![WsEvent::Ping(b"abcd".to_vec())]);
    let pong = s.take_output();
    assert_eq!(pong, [0x8a, 4, b'a', b'b', b'c', b'd']); // FIN | Pong, unmasked
    c.receive(&pong);
    assert_eq!(c.poll_events(), vec![WsEvent::Pong(b"abcd".to_vec())]);
    assert_eq!(c.control_bytes(), 16);
    assert_eq!(s.control_bytes(), 16);
    c.send_text("not control");
    pump(&mut c, &mut s);
    assert_eq!(c.control_bytes(), 16);
}

#[test]
fn client_frames_masked_server_frames_not() {
    let (mut c, mut s) = connected(4);
    c.send_text("abc");
    let cf = c.take_output();
    assert_eq!(cf[1] & 0x80, 0x80);
    assert_eq!(cf.len(), 2 + 4 + 3);
    let mask = &cf[2..6];
    let unmasked: Vec<u8> = cf[6..].iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m).collect();
    assert_eq!(unmasked, b"abc");
    s.send_text("abc");
    let sf = s.take_output();
    assert_eq!(sf, [0x81, 3, b'a', b'b', b'c']);
    // A server must reject unmasked client frames (§5.1) with 1002.
    s.receive(&sf);
    assert_eq!(s.poll_events(), vec![WsEvent::Closed]);
    assert_eq!(s.take_output(), [0x88, 2, 0x03, 0xea]);
    assert!(!s.is_open());
}

#[test]
fn byte_at_a_time() {
    let (mut c, mut s) = (WsEndpoint::client("h", "/", rng(5)), WsEndpoint::server());
    let feed = |to: &mut WsEndpoint, bytes: Vec<u8>| bytes.iter().for_each(|b| to.receive(&[*b]));
    feed(&mut s, c.take_output());
    feed(&mut c, s.take_output());
    assert_eq!((c.poll_events(), s.poll_events()), (vec![WsEvent::Open], vec![WsEvent::Open]));
    let big: Vec<u8> = (0..70_000u32).map(|i| i as u8).collect(); // 64-bit length form
    c.send_text("one");
    c.send_ping(b"p");
    c.send_binary(&big);
    feed(&mut s, c.take_output());
    let expected = vec![WsEvent::Text("one".into()), WsEvent::Ping(b"p".to_vec()), WsEvent::Binary(big.clone())];
    assert!(s.poll_events() == expected, "byte-at-a-time delivery to the server");
    s.send_binary(&big[..1000]); // 16-bit length form
    feed(&mut c, s.take_output());
    assert_eq!(c.poll_events(), vec![WsEvent::Pong(b"p".to_vec()), WsEvent::Binary(big[..1000].to_vec())]);
}

#[test]
fn fragments_reassemble_and_large_messages() {
    let (mut c, mut s) = connected(6);
    let mut wire = Vec::new();
    let _ = Frame::message(b"frag".to_vec(), OpCode::Data(Data::Text), false).format(&mut wire);
    let _ = Frame::ping(b"mid".to_vec()).format(&mut wire); // control frames may interleave (§5.4)
    let _ = Frame::message(b"mented".to_vec(), OpCode::Data(Data::Continue), true).format(&mut wire);
    c.receive(&wire);
    assert_eq!(c.poll_events(), vec![WsEvent::Ping(b"mid".to_vec()), WsEvent::Text("fragmented".into())]);
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    c.send_binary(&big);
    let wire = c.take_output();
    assert_eq!(wire[..2], [0x8a, 0x83]); // the automatic masked Pong for "mid" comes first
    for chunk in wire.chunks(4096) {
        s.receive(chunk);
    }
    let events = s.poll_events();
    assert_eq!(events[0], WsEvent::Pong(b"mid".to_vec()));
    assert!(events.len() == 2 && events[1] == WsEvent::Binary(big), "3 MB message not reassembled intact");
}

#[test]
fn deterministic_per_seed() {
    let run = |seed| {
        let (mut c, mut s) = (WsEndpoint::client("h", "/x", rng(seed)), WsEndpoint::server());
        let mut out = c.take_output();
        s.receive(&out);
        c.receive(&s.take_output());
        c.send_ping(b"keep");
        c.send_text("request");
        c.send_binary(&[1, 2, 3]);
        c.close();
        out.extend(c.take_output());
        out
    };
    assert_eq!(run(7), run(7));
    assert_ne!(run(7), run(8));
}

#[test]
fn close_handshake() {
    let (mut c, mut s) = connected(9);
    c.close();
    assert!(!c.is_open());
    c.send_text("dropped");
    pump(&mut c, &mut s);
    assert_eq!(s.poll_events(), vec![WsEvent::Closed]);
    assert_eq!(c.poll_events(), vec![WsEvent::Closed]);
    assert!(!s.is_open());
}

#[test]
fn garbage_closes_without_panic() {
    let mut s = WsEndpoint::server();
    s.receive(b"POST / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(s.poll_events(), vec![WsEvent::Closed]);
    assert!(s.take_output().starts_with(b"HTTP/1.1 400 "));
    let mut s = WsEndpoint::server();
    s.receive(&[0xff; 64]);
    assert_eq!(s.poll_events(), vec![WsEvent::Closed]);
    let mut c = WsEndpoint::client("h", "/", rng(10));
    c.receive(b"HTTP/1.1 200 OK\r\n\r\n");
    assert_eq!(c.poll_events(), vec![WsEvent::Closed]);
    // Frame-level garbage after the handshake: reserved opcodes, huge lengths, bad UTF-8, bad control frames.
    let cases: [&[u8]; 5] =
        [&[0x83, 0], &[0x82, 0x7f, 0xff, 0, 0, 0, 0, 0, 0, 0], &[0x81, 2, 0xc3, 0x28], &[0x09, 0], &[0x80, 0]];
    for case in cases {
        let (mut c, _s) = connected(11);
        c.receive(case);
        assert_eq!(c.poll_events(), vec![WsEvent::Closed], "{case:?}");
        assert_eq!(c.take_output()[0], 0x88, "close frame queued for {case:?}");
    }
    // Pseudo-random noise into every state.
    let mut r = rng(12);
    for _ in 0..200 {
        let (mut c, mut s) = connected(13);
        let mut noise = vec![0u8; (r.next_u32() % 64) as usize];
        r.fill_bytes(&mut noise);
        c.receive(&noise);
        s.receive(&noise);
        WsEndpoint::server().receive(&noise);
    }
}
