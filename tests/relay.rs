//! Relays anywhere in a lab: a chain of two in front of a gateway that terminates TLS, and that
//! gateway calling three replicas through a third relay, TLS end to end on each leg (the
//! gateway asks for `backend`, the name the replicas share behind the relay, and each replica's
//! certificate names it). And what a lab file with relays may not say.

mod common;

use common::{lab_timeline, run_lab, scenario, tshark, tshark_lines};

const LAB: &str = r#"
name = "relay-chain"
title = "Relays in a chain, and a gateway calling replicas through one"
description = "A test lab."

[link]
rtt = "4ms"

[[host]]
name = "client"
addr = "10.0.0.1"
role = "client"

[[host]]
name = "front"
addr = "10.0.0.2"
[[host.service]]
handler = "relay"
port = 443
upstream = "middle"

[[host]]
name = "middle"
addr = "10.0.0.3"
[[host.service]]
handler = "relay"
port = 443
upstream = "gw"

[[host]]
name = "gw"
addr = "10.0.0.4"
[[host.service]]
handler = "gateway"
port = 443
upstream = "lb"
upstream_port = 8443
upstream_tls = "1.3"
pool = 0
response = "2KB"

[[host]]
name = "lb"
addr = "10.0.0.5"
[[host.service]]
handler = "relay"
port = 8443
upstream = "backend"
upstream_port = 443

[[host]]
name = "backend"
addr = "10.0.1.1"
replicas = 3
[[host.service]]
handler = "service"
port = 443
time = "fixed 1ms"
response = "300KB"

[[scenario]]
name = "chain"
title = "client -> front -> middle -> gw (TLS ends) -> lb -> backend replicas"
steps = [{ step = "workload", to = "front", port = 443, pool = 0, requests = 6, concurrency = 1, budget = "200ms" }]
"#;

/// Every request answered through two relays and a gateway, whose calls reach all three
/// replicas through the third; every TLS leg decrypts in the relays' captures, each request
/// naming the service that answers it (`gw` behind the first relays, `backend` behind the last).
#[test]
fn a_chain_of_relays_and_a_gateway_calling_replicas_through_one() {
    let dir = tempfile::tempdir().unwrap();
    let lab = dir.path().join("chain.toml");
    std::fs::write(&lab, LAB).unwrap();
    let out = dir.path().join("out");
    run_lab(lab.to_str().unwrap(), &out, &["--tap", "all"]);
    let t = lab_timeline(&out, "relay-chain");
    let s = scenario(&t, "chain");
    assert_eq!(s["metrics"]["requests"], 6.0);
    assert_eq!(s["metrics"]["failed_requests"], 0.0);
    let hops: Vec<String> = s["hops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| format!("{} -> {}", h["from"].as_str().unwrap(), h["to"].as_str().unwrap()))
        .collect();
    let want = ["client -> front", "front -> middle", "middle -> gw", "gw -> lb"];
    assert_eq!(hops[..4], want, "{hops:?}");
    assert_eq!(hops[4..], ["lb -> backend-1", "lb -> backend-2", "lb -> backend-3"], "round-robin");
    // Each replica took two of the six requests; weighted so, the hops and the services' own
    // time (the backends' fixed 1 ms) add up to the mean latency.
    let (total, services) = (s["metrics"]["total_ms"].as_f64().unwrap(), s["metrics"]["services_ms"].as_f64().unwrap());
    let weighted: f64 = s["hops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["ms"].as_f64().unwrap() * h["requests"].as_f64().unwrap() / 6.0)
        .sum();
    assert!((weighted + services - total).abs() < 0.01, "hops {weighted} + services {services} vs total {total}");
    assert!((services - 1.0).abs() < 0.01, "the backends' 1 ms is the services' time: {services}");
    let took: Vec<f64> = s["hops"].as_array().unwrap().iter().map(|h| h["requests"].as_f64().unwrap()).collect();
    assert_eq!(took, [6.0, 6.0, 6.0, 6.0, 2.0, 2.0, 2.0]);
    let Some(tshark) = tshark() else { return };
    for (host, name) in [("front", "gw"), ("middle", "gw"), ("lb", "backend")] {
        let f = out.join(format!("relay-chain-chain@{host}.pcapng"));
        let errors = tshark_lines(&tshark, &f, &["-Y", "_ws.malformed || _ws.expert.severity == error"]);
        assert!(errors.is_empty(), "{host}: {errors:?}");
        let asked = tshark_lines(&tshark, &f, &["-Y", "http.request", "-T", "fields", "-e", "http.host"]);
        assert_eq!(asked, vec![name; 12], "{host}: both legs of 6 requests, decrypted");
    }
}

/// Runs `wirelab run` on `LAB` with `from` replaced by `to`: exit 2, one line on stderr.
fn refused(from: &str, to: &str) -> String {
    assert!(LAB.contains(from), "{from:?}");
    let dir = tempfile::tempdir().unwrap();
    let lab = dir.path().join("bad.toml");
    std::fs::write(&lab, LAB.replacen(from, to, 1)).unwrap();
    common::refused_file(&lab)
}

#[test]
fn a_loop_of_relays_and_callers_that_do_not_match_are_refused() {
    let m = refused("upstream = \"gw\"", "upstream = \"front\"");
    assert!(
        m.contains("(front).service[1].upstream: the relays never reach a service (front:443 → middle:443 → front:443"),
        "{m}"
    );
    let m = refused("upstream_tls = \"1.3\"", "upstream_tls = \"none\"");
    assert!(
        m.contains(
            "upstream_tls: none, but `lb` passes port 8443 through to `backend`, which serves HTTPS in TLS 1.3 only"
        ),
        "{m}"
    );
    let m = refused("upstream = \"backend\"", "upstream = [\"backend\", \"gw\"]");
    assert!(
        m.contains(
            "(lb).service[1].upstream: `[\"backend\", \"gw\"]`, but a relay passes each connection to one upstream"
        ),
        "{m}"
    );
    let m = refused("port = 8443\nupstream = \"backend\"", "port = 8443\nupstream = \"nowhere\"");
    assert!(m.contains("(lb).service[1].upstream: no host `nowhere`"), "{m}");
    let m = refused(
        "handler = \"relay\"\nport = 443\nupstream = \"middle\"",
        "handler = \"relay\"\nport = 443\nupstream = \"middle\"\nconcurrency = 4",
    );
    assert!(m.contains("(front).service[1].concurrency: 4, but a relay cannot see requests"), "{m}");
}
