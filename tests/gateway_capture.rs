//! A gateway's capture (`--tap gateway`) shows both legs, client ↔ gateway and gateway ↔
//! backends, every frame commented with its connection and what it is; a cancelled hedge's
//! reset says so.

mod common;

use std::path::Path;

use tempfile::TempDir;

const CLIENT: &str = "10.0.0.1";
const GATEWAY: &str = "10.0.0.2";
/// The backends' replicas are 10.0.1.1 to 10.0.1.4.
const BACKENDS: &str = "10.0.1.";

/// (src, dst, TCP flags, comment) of every frame of `file`.
fn frames(tshark: &str, file: &Path) -> Vec<(String, String, String, String)> {
    let fields = ["-T", "fields", "-E", "separator=|", "-e", "ip.src", "-e", "ip.dst", "-e", "tcp.flags.str"];
    common::tshark_lines(tshark, file, &[&fields[..], &["-e", "frame.comment"]].concat())
        .into_iter()
        .map(|l| {
            let mut f = l.splitn(4, '|').map(str::to_string);
            let mut next = || f.next().unwrap_or_default();
            (next(), next(), next(), next())
        })
        .collect()
}

fn no_errors(tshark: &str, file: &Path) {
    let errors = common::tshark_lines(tshark, file, &["-Y", "_ws.malformed || _ws.expert.severity == error"]);
    assert!(errors.is_empty(), "{}: Error items: {errors:?}", file.display());
}

#[test]
fn the_gateways_capture_shows_both_legs_every_frame_commented() {
    let Some(tshark) = common::tshark() else { return };
    let dir = TempDir::new().unwrap();
    let args = ["--scenario", "sequential", "--tap", "gateway", "--set", "requests=50", "--pictures", "none"];
    common::run_lab("tail-latency", dir.path(), &args);
    let file = dir.path().join("tail-latency-sequential@gateway.pcapng");
    no_errors(&tshark, &file);
    let frames = frames(&tshark, &file);
    assert!(frames.len() > 200, "50 requests of 4 calls: {} frames", frames.len());
    for (src, dst, _, comment) in &frames {
        assert!(!comment.trim().is_empty(), "{src} > {dst}: a frame without a comment");
        assert!(src == GATEWAY || dst == GATEWAY, "{src} > {dst}: the gateway's capture holds only its own packets");
    }
    let on = |peer: &str, (s, d, _, _): &(String, String, String, String)| {
        (s == GATEWAY && d.starts_with(peer)) || (d == GATEWAY && s.starts_with(peer))
    };
    let leg = |peer: &'static str| frames.iter().filter(move |f| on(peer, f));
    let has = |peer: &'static str, needle: &str| leg(peer).any(|(_, _, _, c)| c.contains(needle));
    // Client leg: the client's connections, its requests, the gateway's answers.
    assert!(leg(CLIENT).count() > 50, "the client leg is in the gateway's capture");
    for needle in
        ["connection client:", "SYN", "GET /r/0 HTTP/1.1 [request 0 (of 50)]", "HTTP/1.1 200 OK [answers GET /r/"]
    {
        assert!(has(CLIENT, needle), "client leg: no frame says {needle:?}");
    }
    // Backend leg: the gateway's pool connections, its calls, the backends' answers.
    assert!(leg(BACKENDS).count() > 4 * 50, "the backend legs are in the gateway's capture");
    for needle in [
        "connection gateway:",
        "→ backend-1:80",
        "→ backend-4:80",
        "SYN",
        "GET /c/0/0/0 HTTP/1.1 [request 0, call 0 (of 4)]",
        "GET /c/49/3/0 HTTP/1.1 [request 49, call 3 (of 4)]",
        "HTTP/1.1 200 OK [answers GET /c/",
    ] {
        assert!(has(BACKENDS, needle), "backend leg: no frame says {needle:?}");
    }
    // Frames between the gateway and a backend are not labelled with the client's phase.
    assert!(
        leg(BACKENDS).all(|(_, _, _, c)| !c.contains("requests to gateway")),
        "a backend frame took the client's phase"
    );
    // The client's own capture is unchanged in kind: its phase, then what the packet is.
    no_errors(&tshark, &dir.path().join("tail-latency-sequential.pcapng"));
}

/// With `hedge_after = 0ms` every call goes to two replicas at once, and the loser's
/// connection is reset: the reset is in the gateway's capture, saying which try it cancels.
#[test]
fn a_cancelled_hedge_is_a_commented_reset_in_the_gateways_capture() {
    let Some(tshark) = common::tshark() else { return };
    let dir = TempDir::new().unwrap();
    let args = ["--scenario", "hedged", "--tap", "gateway", "--set", "requests=50", "--set", "hedge_after=0ms"];
    common::run_lab("tail-latency", dir.path(), &[&args[..], &["--pictures", "none"]].concat());
    let timeline = common::lab_timeline(dir.path(), "tail-latency");
    let metrics = &common::scenario(&timeline, "hedged")["metrics"];
    assert_eq!(metrics["hedges"], metrics["calls"], "hedge_after=0ms hedges every call: {metrics}");
    let file = dir.path().join("tail-latency-hedged@gateway.pcapng");
    no_errors(&tshark, &file);
    let frames = frames(&tshark, &file);
    assert!(frames.iter().all(|(_, _, _, c)| !c.trim().is_empty()), "every frame commented");
    let resets: Vec<_> = frames
        .iter()
        .filter(|(s, d, flags, _)| flags.contains('R') && s == GATEWAY && d.starts_with(BACKENDS))
        .collect();
    let cancels: Vec<_> = resets.iter().filter(|(_, _, _, c)| c.contains("[reset: cancels request ")).collect();
    assert!(!cancels.is_empty(), "no commented reset of a cancelled try among {resets:?}");
    assert!(
        cancels.iter().any(|(_, _, _, c)| c.contains("(a hedge): another try of this call answered first")),
        "no reset cancels a hedge that lost: {cancels:?}"
    );
    assert!(
        cancels.iter().all(|(_, _, _, c)| c.contains("connection gateway:") && c.contains("answered first")),
        "{cancels:?}"
    );
}

/// With `http = 2` a hedge's loser is withdrawn by an RST_STREAM on the pooled connection, not
/// a TCP reset: the gateway's capture names the HTTP/2 frames of both legs (plain text, prior
/// knowledge) and says which try each RST_STREAM cancels.
#[test]
fn http2_names_its_frames_and_cancels_with_rst_stream() {
    let Some(tshark) = common::tshark() else { return };
    let dir = TempDir::new().unwrap();
    let args = ["--scenario", "hedged", "--tap", "gateway", "--set", "requests=40", "--set", "hedge_after=0ms"];
    common::run_lab("tail-latency", dir.path(), &[&args[..], &["--set", "http=2", "--pictures", "none"]].concat());
    let file = dir.path().join("tail-latency-hedged@gateway.pcapng");
    no_errors(&tshark, &file);
    let frames = frames(&tshark, &file);
    assert!(frames.iter().all(|(_, _, _, c)| !c.trim().is_empty()), "every frame commented");
    let to_backends = |(s, d, _, _): &&(String, String, String, String)| s == GATEWAY && d.starts_with(BACKENDS);
    let resets = frames.iter().filter(to_backends).filter(|(_, _, flags, _)| flags.contains('R')).count();
    assert_eq!(resets, 0, "HTTP/2 cancels streams, not connections");
    let rst: Vec<_> =
        frames.iter().filter(to_backends).filter(|(_, _, _, c)| c.contains("HTTP/2 RST_STREAM stream")).collect();
    assert!(!rst.is_empty(), "no RST_STREAM to a backend");
    assert!(
        rst.iter().any(|(_, _, _, c)| c.contains("[RST_STREAM on stream") && c.contains("answered first")),
        "no RST_STREAM says which try it cancels: {rst:?}"
    );
    let has = |needle: &str| frames.iter().any(|(_, _, _, c)| c.contains(needle));
    for needle in
        ["HTTP/2 preface, SETTINGS", "HTTP/2 HEADERS stream 1 (END_STREAM, END_HEADERS) [request 0", "DATA stream"]
    {
        assert!(has(needle), "no frame says {needle:?}");
    }
}
