//! The real-time backend (`wirelab shell`): the kernel's own TCP and curl across the emulated
//! link, in a namespace wirelab creates and removes. These tests need root (or CAP_NET_ADMIN),
//! /dev/net/tun and curl; without them they say so and skip. CI runs as root, so there they run.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Why the real-time tests cannot run here, if they cannot.
fn cannot_run() -> Option<&'static str> {
    let root = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("CapEff:")).map(|c| c.trim().to_string()))
        .and_then(|c| u64::from_str_radix(&c, 16).ok())
        .is_some_and(|caps| caps & (1 << 12) != 0);
    if !root {
        return Some("not root and no CAP_NET_ADMIN");
    }
    if !std::path::Path::new("/dev/net/tun").exists() {
        return Some("no /dev/net/tun");
    }
    if Command::new("curl").arg("--version").output().is_err() {
        return Some("curl is not installed");
    }
    None
}

/// The real-time tests run one at a time: they measure wall-clock delays, and each run spins
/// while it waits for its next deadline.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

macro_rules! need_privileges {
    () => {
        if let Some(why) = cannot_run() {
            println!("skipping real-time test: {why}");
            return;
        }
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    };
}

/// `ip netns list` names.
fn namespaces() -> String {
    String::from_utf8_lossy(&Command::new("ip").args(["netns", "list"]).output().unwrap().stdout).into_owned()
}

/// Frame times (seconds) of the packets a display filter selects.
fn times(tshark: &str, file: &std::path::Path, filter: &str) -> Vec<f64> {
    common::tshark_lines(tshark, file, &["-Y", filter, "-T", "fields", "-e", "frame.time_relative"])
        .iter()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

#[test]
fn kernel_curl_over_https_pays_one_rtt_for_tcp_and_one_for_tls13() {
    need_privileges!();
    let dir = tempfile::TempDir::new().unwrap();
    let out = common::wirelab()
        .args(["shell", "--link", "delay 20ms", "--out"])
        .arg(dir.path())
        .args([
            "--",
            "curl",
            "-sk",
            "--tlsv1.3",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "https://server.lab/bytes/100000",
        ])
        .output()
        .unwrap();
    let pid = out.status.code();
    assert_eq!(pid, Some(0), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "200");
    let Some(tshark) = common::tshark() else { return };
    let file = dir.path().join("shell.pcapng");
    let syn = times(&tshark, &file, "tcp.flags.syn == 1 && tcp.flags.ack == 0");
    let synack = times(&tshark, &file, "tcp.flags.syn == 1 && tcp.flags.ack == 1");
    let hello = times(&tshark, &file, "tls.handshake.type == 1");
    let server_hello = times(&tshark, &file, "tls.handshake.type == 2");
    let rtt = |a: f64, b: f64| (b - a) * 1000.0;
    let tcp = rtt(syn[0], synack[0]);
    let tls = rtt(hello[0], server_hello[0]);
    // 20 ms each way: one round trip is 40 ms, plus the relay's timing error (well under a
    // millisecond on a quiet machine; the margin is for a loaded CI runner). Two RTTs would be 80.
    assert!((40.0..46.0).contains(&tcp), "TCP handshake took {tcp:.3} ms on the wire, expected 1 RTT (40 ms)");
    assert!((40.0..46.0).contains(&tls), "TLS 1.3 ClientHello to ServerHello took {tls:.3} ms, expected 1 RTT (40 ms)");
    let http = common::tshark_lines(&tshark, &file, &["-Y", "http.response.code == 200"]);
    assert_eq!(http.len(), 1, "the HTTPS response is decrypted from the capture");
}

#[test]
fn a_run_leaves_no_namespace_behind_and_stale_ones_are_removed() {
    need_privileges!();
    // A namespace named like wirelab's, for a pid that cannot exist (above pid_max).
    let stale = "wl4194305";
    let _ = Command::new("ip").args(["netns", "add", stale]).status();
    let dir = tempfile::TempDir::new().unwrap();
    let child = common::wirelab().args(["shell", "--out"]).arg(dir.path()).args(["--", "true"]).spawn().unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let list = namespaces();
    assert!(!list.contains(stale), "the stale namespace was not removed: {list}");
    assert!(
        !list.contains(&format!("wl{pid} ")) && !list.lines().any(|l| l.starts_with(&format!("wl{pid}"))),
        "{list}"
    );
    assert!(!std::path::Path::new(&format!("/etc/netns/wl{pid}")).exists());
}

#[test]
fn ctrl_c_leaves_a_readable_capture_and_no_namespace() {
    need_privileges!();
    for _ in 0..3 {
        let dir = tempfile::TempDir::new().unwrap();
        let mut child = common::wirelab()
            .args(["shell", "--link", "delay 5ms", "--out"])
            .arg(dir.path())
            .args(["--", "sh", "-c", "curl -s -o /dev/null http://server.lab/bytes/1000; sleep 30"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id();
        let started = Instant::now();
        while !namespaces().contains(&format!("wl{pid}")) && started.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(500));
        // SAFETY: sending a signal to our own child.
        unsafe { libc::kill(pid as i32, libc::SIGINT) };
        let waited = Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            assert!(waited.elapsed() < Duration::from_secs(10), "wirelab did not stop after Ctrl-C");
            std::thread::sleep(Duration::from_millis(20));
        };
        let _ = status;
        assert!(!namespaces().lines().any(|l| l.starts_with(&format!("wl{pid}"))), "namespace left after Ctrl-C");
        let file = dir.path().join("shell.pcapng");
        assert!(file.exists(), "no capture after Ctrl-C");
        if let Some(tshark) = common::tshark() {
            let http = common::tshark_lines(&tshark, &file, &["-Y", "http"]);
            assert!(!http.is_empty(), "the capture holds the HTTP exchange before Ctrl-C");
        }
    }
}

#[test]
fn real_time_captures_name_retransmissions_from_the_packets() {
    need_privileges!();
    let dir = tempfile::TempDir::new().unwrap();
    let out = common::wirelab()
        .args(["shell", "--link", "delay 5ms loss 5%", "--seed", "3", "--out"])
        .arg(dir.path())
        .args(["--", "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "http://server.lab/bytes/300000"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "200", "{}", String::from_utf8_lossy(&out.stderr));
    let Some(tshark) = common::tshark() else { return };
    let file = dir.path().join("shell.pcapng");
    let named = common::tshark_lines(&tshark, &file, &["-Y", "frame.comment contains \"retransmission:\""]);
    let seen = common::tshark_lines(&tshark, &file, &["-Y", "tcp.analysis.retransmission"]);
    assert!(!named.is_empty() && !seen.is_empty(), "5% loss over 300 KB: some segment was resent");
    let handshake = common::tshark_lines(&tshark, &file, &["-Y", "frame.comment contains \"TCP handshake (SYN)\""]);
    assert_eq!(handshake.len(), 1, "the SYN is named");
}
