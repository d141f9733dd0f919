//! HTTP/3 services (`http = "3"` on a `[[host.service]]`): what a lab file may not say about
//! them (QUIC carries TLS 1.3 only; a relay passes TCP only), each refused at load with one
//! line naming the field.

mod common;

use common::wirelab;

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

[[scenario]]
name = "pooled"
title = "one warm QUIC connection"
steps = [{ step = "workload", to = "svc", port = 443, pool = 1, requests = 20, concurrency = 1 }]
"#;

/// Runs `wirelab run` on `LAB` with `from` replaced by `to`: exit 2, one line on stderr.
fn refused(from: &str, to: &str) -> String {
    assert!(LAB.contains(from), "{from:?}");
    let dir = tempfile::tempdir().unwrap();
    let lab = dir.path().join("bad.toml");
    std::fs::write(&lab, LAB.replacen(from, to, 1)).unwrap();
    let out = wirelab().arg("run").arg(&lab).arg("--out").arg(dir.path()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    stderr
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
    let m = refused(
        "handler = \"bytes\"\nport = 80",
        "handler = \"gateway\"\nport = 80\nupstream = \"svc\"\nupstream_port = 443\nupstream_tls = \"1.3\"",
    );
    assert!(
        m.contains("(lb).service[1].upstream: `svc` serves HTTP/3 on port 443, but a gateway calls over TCP only"),
        "{m}"
    );
}
