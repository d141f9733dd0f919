//! `role = "server"` is sugar for services: the plan gives the server host `bytes` on port 80
//! (plain) and 443 (TLS), run as the lab's one server, and a server host's own services keep
//! off those two ports.

use wirelab::script::plan::{plan, Overrides};
use wirelab::script::Lab;
use wirelab::service::{Handler, HttpVersion, LabServer};

#[test]
fn the_server_role_plans_bytes_on_80_and_443() {
    let lab = Lab::load("keepalive").unwrap();
    let i = lab.scenario_names().iter().position(|n| *n == "short-timeout").unwrap();
    let overrides = Overrides { set: vec![("server_idle_timeout".into(), "30s".into())], ..Default::default() };
    let p = plan(&lab, i, &overrides).unwrap();
    let server = &p.hosts[p.server];
    let services: Vec<(u16, bool, HttpVersion)> =
        server.services.iter().map(|s| (s.port, s.tls.is_some(), s.http)).collect();
    assert_eq!(services, vec![(80, false, HttpVersion::Http1), (443, true, HttpVersion::Http1)]);
    assert!(server.services.iter().all(|s| s.handler == Handler::Bytes));
    let lab_server = server.lab_server.expect("the server host runs the lab's server");
    assert_eq!(lab_server.idle_timeout, Some(std::time::Duration::from_secs(30)));
    assert_eq!(LabServer::PORTS, [80, 443]);
}

#[test]
fn a_server_hosts_own_service_may_not_take_port_80_or_443() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/labs/hol.toml")).unwrap();
    let server = "role = \"server\"\n";
    assert!(text.contains(server));
    for (port, ok) in [(80, false), (443, false), (8080, true)] {
        let with =
            text.replacen(server, &format!("{server}\n[[host.service]]\nport = {port}\nhandler = \"bytes\"\n"), 1);
        // A lab file is checked whole as it loads (every scenario planned).
        let planned = Lab::parse(&with, "hol.toml").and_then(|lab| plan(&lab, 0, &Overrides::default()));
        match (planned, ok) {
            (Ok(p), true) => assert!(p.hosts[p.server].services.iter().any(|s| s.port == port)),
            (Err(e), false) => assert!(e.to_string().contains("the server role's own"), "{e}"),
            (r, _) => panic!("port {port}: {:?}", r.map(|_| ())),
        }
    }
}
