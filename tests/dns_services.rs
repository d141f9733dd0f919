//! The DNS resolver and authority are services like any other: a host with
//! `[[host.service]] handler = "resolver"` (or `"authority"`) is what `role = "resolver"` (or
//! `"authority"`) makes, and a lab written either way runs the same, byte for byte.

mod common;

use common::{files_in, run_lab, wirelab};

const HANDSHAKE: &str = include_str!("../labs/handshake.toml");

/// The handshake lab with its DNS roles written as services.
fn as_services() -> String {
    let text = HANDSHAKE.replacen("role = \"resolver\"\n", "[[host.service]]\nhandler = \"resolver\"\n", 1).replacen(
        "role = \"authority\"\n",
        "[[host.service]]\nhandler = \"authority\"\nport = 53\n",
        1,
    );
    assert!(!text.contains("role = \"resolver\"") && !text.contains("role = \"authority\""));
    text
}

#[test]
fn dns_as_services_runs_as_the_roles_do() {
    let dir = tempfile::tempdir().unwrap();
    let (roles, services) = (dir.path().join("roles"), dir.path().join("services"));
    std::fs::create_dir_all(&roles).unwrap();
    std::fs::create_dir_all(&services).unwrap();
    let (a, b) = (roles.join("handshake.toml"), services.join("handshake.toml"));
    std::fs::write(&a, HANDSHAKE).unwrap();
    std::fs::write(&b, as_services()).unwrap();
    let args = ["--scenario", "fresh-tls13", "--pictures", "none"];
    run_lab(a.to_str().unwrap(), &roles.join("out"), &args);
    run_lab(b.to_str().unwrap(), &services.join("out"), &args);
    let (fa, fb) = (files_in(&roles.join("out")), files_in(&services.join("out")));
    assert!(fa.contains_key("handshake-fresh-tls13.pcapng"));
    assert_eq!(fa.keys().collect::<Vec<_>>(), fb.keys().collect::<Vec<_>>());
    for (name, bytes) in &fa {
        assert!(bytes == &fb[name], "{name} differs between the lab with DNS roles and with DNS services");
    }
}

#[test]
fn a_dns_service_is_refused_where_it_cannot_work() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "handler = \"resolver\"\n",
            "handler = \"resolver\"\nport = 80\n",
            "port: 80, but DNS services answer on port 53",
        ),
        ("handler = \"resolver\"\n", "handler = \"resolver\"\ntls = \"1.3\"\n", "takes only `port`"),
    ];
    for (from, to, expected) in cases {
        let lab = dir.path().join("bad.toml");
        std::fs::write(&lab, as_services().replacen(from, to, 1)).unwrap();
        let out = wirelab().args(["run", lab.to_str().unwrap(), "--out"]).arg(dir.path().join("x")).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{to}: {err}");
        assert!(err.contains(expected) && err.contains("service[1]"), "{to}: {err}");
    }
    // Without a resolver, a dns step says how to give it one.
    let lab = dir.path().join("none.toml");
    std::fs::write(&lab, as_services().replacen("[[host.service]]\nhandler = \"resolver\"\n", "", 1)).unwrap();
    let out = wirelab().args(["run", lab.to_str().unwrap(), "--out"]).arg(dir.path().join("y")).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("handler = \"resolver\""), "{err}");
}
