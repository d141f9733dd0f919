//! HTTP/3 services (`http = "3"` on a `[[host.service]]`): a workload calling one over QUIC,
//! with exact latencies on a lossless path, byte-identical captures for the same seed that
//! tshark decrypts to HTTP/3 frames; and what a lab file may not say about them (QUIC carries
//! TLS 1.3 only; a relay passes TCP only), each refused at load with one line naming the field.

mod common;

use common::{files_in, lab_timeline, run_lab, scenario, tshark, tshark_lines};

const LAB: &str = r#"
name = "h3-service"
title = "A workload calling an HTTP/3 service"
description = "A test lab."

[link]
rtt = "10ms"

[[host]]
name = "client"
addr = "10.0.0.1"
role = "client"

[[host]]
name = "svc"
addr = "10.0.0.2"
[[host.service]]
handler = "service"
port = 443
http = "3"
tls = "1.3"
time = "fixed 5ms"
response = "2KB"

[[host]]
name = "lb"
addr = "10.0.0.3"
[[host.service]]
handler = "bytes"
port = 80

[[host]]
name = "gw"
addr = "10.0.0.4"
[[host.service]]
handler = "gateway"
port = 80
upstream = "svc"
upstream_port = 443
upstream_tls = "1.3"
pool = 1
calls = 1
response = "1KB"

[[scenario]]
name = "pooled"
title = "one warm QUIC connection"
steps = [{ step = "workload", to = "svc", port = 443, pool = 1, requests = 20, concurrency = 1 }]

[[scenario]]
name = "fresh"
title = "a fresh QUIC connection per request"
steps = [{ step = "workload", to = "svc", port = 443, pool = 0, requests = 5, concurrency = 1, budget = "100ms" }]

[[scenario]]
name = "gateway"
title = "a plain HTTP/1.1 gateway calling the HTTP/3 service over a warm QUIC connection"
steps = [{ step = "workload", to = "gw", port = 80, pool = 1, requests = 10, concurrency = 1 }]
"#;

/// Every request answered, in exactly 1 RTT + the 5 ms service time on the warm connection and
/// 2 RTTs + 5 ms on fresh ones (QUIC's handshake carries TLS 1.3's: 1 RTT, RFC 9001 §4); the
/// same seed gives the same bytes; the captures parse without errors and decrypt (the key log
/// is embedded) to one HTTP/3 HEADERS frame per request and per response.
#[test]
fn a_workload_over_http3_to_a_service() {
    let dir = tempfile::tempdir().unwrap();
    let lab = dir.path().join("h3.toml");
    std::fs::write(&lab, LAB).unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    run_lab(lab.to_str().unwrap(), &a, &["--tap", "all"]);
    run_lab(lab.to_str().unwrap(), &b, &["--tap", "all"]);
    assert_eq!(files_in(&a), files_in(&b), "same seed, same bytes");
    let t = lab_timeline(&a, "h3-service");
    // The gateway: the client's 1 RTT to it, then its call's 1 RTT + 5 ms.
    for (name, requests, ms) in [("pooled", 20.0, 15.0), ("fresh", 5.0, 25.0), ("gateway", 10.0, 25.0)] {
        let s = scenario(&t, name);
        let m = &s["metrics"];
        assert_eq!((m["requests"].as_f64(), m["failed_requests"].as_f64()), (Some(requests), Some(0.0)), "{name}");
        for p in ["latency_p50_ms", "latency_max_ms"] {
            assert_eq!(m[p].as_f64(), Some(ms), "{name} {p}: {m}");
        }
    }
    // The budget's hop: 2 RTTs for each fresh request, 1 of them QUIC's handshake.
    let hop = &scenario(&t, "fresh")["hops"][0];
    assert_eq!((hop["ms"].as_f64(), hop["handshake_rtts"].as_f64()), (Some(20.0), Some(1.0)), "{hop}");
    let Some(tshark) = tshark() else { return };
    for (name, requests) in [("pooled", 20), ("fresh", 5), ("gateway@gw", 10), ("gateway@svc", 10)] {
        let f = a.join(format!("h3-service-{name}.pcapng"));
        let errors = tshark_lines(&tshark, &f, &["-Y", "_ws.malformed || _ws.expert.severity == error"]);
        assert!(errors.is_empty(), "{name}: {errors:?}");
        let heads = tshark_lines(&tshark, &f, &["-Y", "http3.frame_type == 1", "-T", "fields", "-e", "frame.number"]);
        assert_eq!(heads.len(), 2 * requests, "{name}: a HEADERS frame each way per request, decrypted");
    }
}

/// Runs `wirelab run` on `LAB` with `from` replaced by `to`: exit 2, one line on stderr.
fn refused(from: &str, to: &str) -> String {
    refused_all(&[(from, to)])
}

/// [`refused`] with each (from, to) replaced.
fn refused_all(changes: &[(&str, &str)]) -> String {
    let mut text = LAB.to_string();
    for (from, to) in changes {
        assert!(text.contains(from), "{from:?}");
        text = text.replacen(from, to, 1);
    }
    let dir = tempfile::tempdir().unwrap();
    let lab = dir.path().join("bad.toml");
    std::fs::write(&lab, text).unwrap();
    common::refused_file(&lab)
}

#[test]
fn http3_without_tls13_or_behind_a_relay_is_refused() {
    let m = refused("tls = \"1.3\"", "tls = \"1.2\"");
    assert!(
        m.contains("(svc).service[1].tls: 1.2, but http = \"3\" runs over QUIC, which carries TLS 1.3 only (RFC 9001 §4) (allowed with http = \"3\": 1.3)"),
        "{m}"
    );
    let m = refused("tls = \"1.3\"", "tls = \"none\"");
    assert!(m.contains("(svc).service[1].tls: none, but http = \"3\""), "{m}");
    let m = refused("http = \"3\"", "http = \"4\"");
    assert!(m.contains("(svc).service[1].http") && m.contains("1.1, 2, 3"), "{m}");
    let m = refused(
        "handler = \"bytes\"\nport = 80",
        "handler = \"relay\"\nport = 443\nupstream = \"svc\"\nupstream_port = 443",
    );
    assert!(
        m.contains(
            "(lb).service[1].upstream: `svc` serves HTTP/3 (QUIC, on UDP), but a relay passes TCP connections only"
        ),
        "{m}"
    );
    let two = ("addr = \"10.0.0.2\"", "addr = \"10.0.2.1\"\nreplicas = 2");
    let m = refused_all(&[two, ("calls = 1", "calls = 1\npolicy = \"tied\"")]);
    assert!(m.contains("(gw).service[1].policy: tied, but `svc-1` serves HTTP/3 on port 443"), "{m}");
}
