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

/// Waits (up to 10 s) until a namespace whose name starts with `prefix` exists.
fn wait_for_namespace(prefix: &str) {
    let started = Instant::now();
    while !namespaces().lines().any(|l| l.starts_with(prefix)) {
        assert!(started.elapsed() < Duration::from_secs(10), "no namespace {prefix}... appeared");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Sends `signal` to `child` and waits (up to 10 s) for it to exit.
fn stop(child: &mut std::process::Child, signal: libc::c_int) -> std::process::ExitStatus {
    // SAFETY: sending a signal to our own child.
    unsafe { libc::kill(child.id() as i32, signal) };
    let waited = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(waited.elapsed() < Duration::from_secs(10), "wirelab did not stop after signal {signal}");
        std::thread::sleep(Duration::from_millis(10));
    }
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
    let file = dir.path().join("shell-1.pcapng");
    let syn = times(&tshark, &file, "tcp.flags.syn == 1 && tcp.flags.ack == 0");
    let synack = times(&tshark, &file, "tcp.flags.syn == 1 && tcp.flags.ack == 1");
    let hello = times(&tshark, &file, "tls.handshake.type == 1");
    let server_hello = times(&tshark, &file, "tls.handshake.type == 2");
    let rtt = |a: f64, b: f64| (b - a) * 1000.0;
    let tcp = rtt(syn[0], synack[0]);
    let tls = rtt(hello[0], server_hello[0]);
    // 20 ms each way: one round trip is 40 ms, plus the relay's timing error (well under a
    // millisecond on a quiet machine; the margin is for a loaded CI runner). Two RTTs would be 80.
    // The lower bound allows for the float subtraction of two epoch timestamps (~1e-4 ms).
    assert!((39.99..46.0).contains(&tcp), "TCP handshake took {tcp:.3} ms on the wire, expected 1 RTT (40 ms)");
    assert!(
        (39.99..46.0).contains(&tls),
        "TLS 1.3 ClientHello to ServerHello took {tls:.3} ms, expected 1 RTT (40 ms)"
    );
    let http = common::tshark_lines(&tshark, &file, &["-Y", "http.response.code == 200"]);
    assert_eq!(http.len(), 1, "the HTTPS response is decrypted from the capture");
    // The kernel leaves checksums to the device (checksum offload); the relay completes them.
    let check = |status: &str| {
        let filter = format!("ip.src == 10.0.0.1 && tcp.checksum.status == {status}");
        common::tshark_lines(&tshark, &file, &["-o", "tcp.check_checksum:TRUE", "-Y", &filter]).len()
    };
    assert!(check("1") > 0 && check("0") == 0, "curl's segments: {} good, {} bad checksums", check("1"), check("0"));
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
        wait_for_namespace(&format!("wl{pid}"));
        std::thread::sleep(Duration::from_millis(500));
        let status = stop(&mut child, libc::SIGINT);
        assert_eq!(status.code(), Some(130), "a shell stopped by SIGINT exits as a shell reports it: 128 + 2");
        assert!(!namespaces().lines().any(|l| l.starts_with(&format!("wl{pid}"))), "namespace left after Ctrl-C");
        let file = dir.path().join("shell-1.pcapng");
        assert!(file.exists(), "no capture after Ctrl-C");
        if let Some(tshark) = common::tshark() {
            let http = common::tshark_lines(&tshark, &file, &["-Y", "http"]);
            assert!(!http.is_empty(), "the capture holds the HTTP exchange before Ctrl-C");
        }
    }
}

/// `shell` exits with its command's own status, and writes the capture all the same: a script
/// can use `wirelab shell -- CMD` as it would CMD.
#[test]
fn shell_passes_on_the_commands_exit_status() {
    need_privileges!();
    let dir = tempfile::TempDir::new().unwrap();
    let out = common::wirelab()
        .args(["shell", "--rtt", "10ms", "--out"])
        .arg(dir.path())
        .args(["--", "sh", "-c", "curl -s -o /dev/null http://server.lab/bytes/1000 && exit 3"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(!stderr.contains("exited with status"), "the status is passed on, not reported as a failure: {stderr}");
    assert!(stderr.contains("tcp_handshake"), "the phases are read off the packets: {stderr}");
    let Some(tshark) = common::tshark() else { return };
    let http = common::tshark_lines(&tshark, &dir.path().join("shell-1.pcapng"), &["-Y", "http.response.code == 200"]);
    assert_eq!(http.len(), 1, "the capture holds the exchange");
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
    let file = dir.path().join("shell-1.pcapng");
    let named = common::tshark_lines(&tshark, &file, &["-Y", "frame.comment contains \"retransmission:\""]);
    let seen = common::tshark_lines(&tshark, &file, &["-Y", "tcp.analysis.retransmission"]);
    assert!(!named.is_empty() && !seen.is_empty(), "5% loss over 300 KB: some segment was resent");
    // Every SYN the client sent is named, however many it took: when the link drops the
    // SYN/ACK, whether the client's SYN or the server's SYN/ACK is resent first is a race of
    // a fraction of a millisecond on the wall clock (each resends after its 1 s timeout).
    let syn_named = common::tshark_lines(&tshark, &file, &["-Y", "frame.comment contains \"TCP handshake (SYN)\""]);
    let syns = common::tshark_lines(&tshark, &file, &["-Y", "tcp.flags.syn == 1 && tcp.flags.ack == 0"]);
    assert!(!syns.is_empty() && syn_named.len() == syns.len(), "each SYN is named: {syn_named:?} against {syns:?}");
}

/// Whether anything named after `pid` is left: a namespace `wl<pid>...` (`ip netns`) or a
/// device `wl<pid>t...` in this namespace (`ip link`).
fn leftovers(pid: u32) -> Vec<String> {
    let links = String::from_utf8_lossy(&Command::new("ip").args(["-o", "link"]).output().unwrap().stdout).into_owned();
    let owned = |l: &str| {
        let name = l.split_whitespace().next().unwrap_or("").trim_end_matches(':');
        name.strip_prefix(&format!("wl{pid}"))
            .is_some_and(|rest| rest.is_empty() || !rest.as_bytes()[0].is_ascii_digit())
    };
    let mut left: Vec<String> = namespaces().lines().filter(|l| owned(l)).map(str::to_string).collect();
    left.extend(links.lines().filter_map(|l| l.split(": ").nth(1)).filter(|n| owned(n)).map(str::to_string));
    left
}

/// Runs wirelab with `args` (then `--out dir`, then `tail`) to the end, capturing its output;
/// returns its pid (to look for leftovers) and the output.
fn run_wirelab(args: &[&str], dir: &std::path::Path, tail: &[&str]) -> (u32, std::process::Output) {
    let child = common::wirelab()
        .args(args)
        .arg("--out")
        .arg(dir)
        .args(tail)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    (pid, child.wait_with_output().unwrap())
}

fn json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no JSON on stdout ({e}); stderr: {}", String::from_utf8_lossy(&out.stderr)))
}

fn round_segments(scenario: &serde_json::Value) -> Vec<u64> {
    scenario["rounds"].as_array().unwrap().iter().map(|r| r["segments"].as_u64().unwrap()).collect()
}

#[test]
fn linux_first_flight_is_ten_segments_and_initcwnd_changes_it() {
    need_privileges!();
    let dir = tempfile::TempDir::new().unwrap();
    let (pid, out) = run_wirelab(
        &["run", "slow-start", "--backend", "realtime", "--rtt", "40ms", "--json"],
        dir.path(),
        &["--scenario", "linux-fresh", "--scenario", "linux-initcwnd4"],
    );
    assert_eq!(out.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let t = json(&out);
    assert_eq!(t["backend"], "realtime");
    // Linux's CUBIC from initcwnd 10, each ACK of two segments growing the window by two:
    // 10, 20, 40, then the rest of 200 KB and the response head (200,100 bytes: 137 full
    // segments of 1460 bytes and one short one).
    let fresh = round_segments(common::scenario(&t, "linux-fresh"));
    assert_eq!(fresh, [10, 20, 40, 68], "Linux's rounds at 40 ms RTT");
    let four = round_segments(common::scenario(&t, "linux-initcwnd4"));
    assert_eq!(&four[..5], [4, 8, 16, 32, 64], "`ip route ... initcwnd 4`: {four:?}");
    let response = common::scenario(&t, "linux-fresh")["phases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "http_response")
        .unwrap()["rtts"]
        .as_f64()
        .unwrap();
    assert!((2.95..3.2).contains(&response), "first to last byte of 200 KB: 3 RTTs, measured {response}");
    assert!(leftovers(pid).is_empty(), "left behind: {:?}", leftovers(pid));
    if let Some(tshark) = common::tshark() {
        let file = dir.path().join("slow-start-linux-fresh.pcapng");
        let data = common::tshark_lines(&tshark, &file, &["-Y", "ip.src == 10.0.0.2 && tcp.len > 0"]);
        assert_eq!(data.len(), 138, "200,100 bytes in 1460-byte segments, none resent on a clean link");
    }
}

#[test]
fn an_in_process_lab_runs_on_the_wall_clock_without_privileges() {
    // No namespace, no TUN: every host is a smoltcp stack, and only the clock is real.
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::TempDir::new().unwrap();
    let started = Instant::now();
    let out = common::wirelab()
        .args(["run", "handshake", "--backend", "realtime", "--rtt", "100ms", "--json", "--scenario", "fresh-tls13"])
        .arg("--out")
        .arg(dir.path())
        .output()
        .unwrap();
    let took = started.elapsed();
    let t = json(&out);
    assert_eq!(t["backend"], "realtime");
    let s = common::scenario(&t, "fresh-tls13");
    assert_eq!(out.status.code(), Some(0), "stderr: {}\nscenario: {s}", String::from_utf8_lossy(&out.stderr));
    for (id, rtts) in [("tcp_handshake", 1.0), ("tls_handshake", 1.0), ("http_request", 1.0)] {
        let p = s["phases"].as_array().unwrap().iter().find(|p| p["id"] == id).unwrap();
        let m = p["rtts"].as_f64().unwrap();
        assert!((rtts - 0.01..rtts + 0.05).contains(&m), "{id}: {m} RTTs on the wall clock, expected {rtts}");
    }
    // TCP, TLS, request and 3 RTTs of response at 100 ms: at least 600 ms of real time.
    assert!(took >= Duration::from_millis(600), "the run took {took:?}: it did not wait for the wall clock");
}

#[test]
fn twenty_interrupted_runs_leave_nothing_behind() {
    need_privileges!();
    let tshark = common::tshark();
    for i in 0..20 {
        let dir = tempfile::TempDir::new().unwrap();
        // 20 MB at 400 ms RTT takes many seconds: every run is stopped part-way.
        let mut child = common::wirelab()
            .args(["run", "slow-start", "--backend", "realtime", "--rtt", "400ms", "--scenario", "linux-fresh"])
            .args(["--set", "response_size=20MB", "--out"])
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id();
        wait_for_namespace(&format!("wl{pid}-"));
        // Stop it at different moments: during the handshake, the request, the transfer.
        std::thread::sleep(Duration::from_millis(50 + 60 * (i % 10)));
        let signal = if i % 2 == 0 { libc::SIGINT } else { libc::SIGTERM };
        let status = stop(&mut child, signal);
        assert_eq!(status.code(), Some(128 + signal), "run {i}: exit 130 after SIGINT, 143 after SIGTERM");
        assert!(leftovers(pid).is_empty(), "run {i}: left behind: {:?}", leftovers(pid));
        let file = dir.path().join("slow-start-linux-fresh.pcapng");
        assert!(file.exists(), "run {i}: no capture after the signal");
        if let Some(tshark) = &tshark {
            // tshark_lines fails the test if tshark cannot read the file.
            let frames = common::tshark_lines(tshark, &file, &["-Y", "tcp"]);
            assert!(!frames.is_empty(), "run {i}: the capture holds the packets before the signal");
        }
    }
}

#[test]
fn serve_puts_the_kernel_on_both_ends_for_iperf3() {
    need_privileges!();
    if Command::new("iperf3").arg("-v").output().is_err() {
        assert!(std::env::var_os("CI").is_none(), "CI must run this test: scripts/test installs iperf3");
        println!("skipping: iperf3 is not installed (scripts/test installs it)");
        return;
    }
    let dir = tempfile::TempDir::new().unwrap();
    let (pid, out) = run_wirelab(
        &["shell", "--link", "delay 5ms", "--serve", "exec iperf3 -s -1", "--snaplen", "96"],
        dir.path(),
        &["--", "iperf3", "-J", "-c", "10.0.0.2", "-t", "1"],
    );
    assert_eq!(out.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    // stdout is iperf3's report alone (the peer's output goes to stderr).
    let report = json(&out);
    let bits = report["end"]["sum_received"]["bits_per_second"].as_f64().unwrap();
    assert!(bits > 1e6, "iperf3 moved {bits} bit/s through the link");
    assert!(leftovers(pid).is_empty(), "left behind: {:?}", leftovers(pid));
    let Some(tshark) = common::tshark() else { return };
    let file = dir.path().join("shell-1.pcapng");
    // Both SYNs come from Linux: the kernel on each end offers SACK and window scaling.
    let syns = common::tshark_lines(
        &tshark,
        &file,
        &[
            "-Y",
            "tcp.flags.syn == 1 && tcp.options.sack_perm && tcp.options.wscale.shift",
            "-T",
            "fields",
            "-e",
            "ip.src",
        ],
    );
    assert!(syns.iter().any(|s| s == "10.0.0.1") && syns.iter().any(|s| s == "10.0.0.2"), "{syns:?}");
    // The capture keeps 96 bytes a packet and the length on the wire.
    let cut = common::tshark_lines(&tshark, &file, &["-Y", "frame.cap_len == 96 && frame.len > 1000"]);
    assert!(!cut.is_empty(), "full-size segments are cut to the snap length");
    // The kernels hand over 64 KB send bursts (TSO); the link and the capture see them cut
    // into packets that fit the 1500-byte MTU, as on a wire.
    let big = common::tshark_lines(&tshark, &file, &["-Y", "frame.len > 1500"]);
    assert!(big.is_empty(), "{} packets longer than the MTU in the capture", big.len());
}

#[test]
fn kernel_curl_in_a_lab_shows_one_rtt_for_tcp_and_tls13_in_the_timeline() {
    need_privileges!();
    let dir = tempfile::TempDir::new().unwrap();
    // 40 ms each way: the phases are read off curl's own packets.
    let (pid, out) = run_wirelab(
        &["run", "handshake", "--backend", "realtime", "--scenario", "kernel-curl", "--rtt", "80ms", "--json"],
        dir.path(),
        &[],
    );
    let t = json(&out);
    let s = common::scenario(&t, "kernel-curl");
    assert_eq!(out.status.code(), Some(0), "stderr: {}\nscenario: {s}", String::from_utf8_lossy(&out.stderr));
    let rtts = |id: &str| {
        s["phases"].as_array().unwrap().iter().find(|p| p["id"] == id).unwrap_or_else(|| panic!("no {id} in {s}"))
            ["rtts"]
            .as_f64()
            .unwrap()
    };
    assert!((0.99..1.05).contains(&rtts("tcp_handshake")), "TCP: {} RTTs", rtts("tcp_handshake"));
    // OpenSSL's own work on the server's flight is inside the phase (more on a cold start).
    assert!((0.99..1.25).contains(&rtts("tls_handshake")), "TLS 1.3: {} RTTs", rtts("tls_handshake"));
    assert!((0.99..1.05).contains(&rtts("http_request")), "request: {} RTTs", rtts("http_request"));
    assert_eq!(s["metrics"]["exit_code"], 0.0);
    assert!(leftovers(pid).is_empty(), "left behind: {:?}", leftovers(pid));
    let Some(tshark) = common::tshark() else { return };
    let file = dir.path().join("handshake-kernel-curl.pcapng");
    // The annotator names the handshake messages; the key log decrypts curl's request.
    let hello = common::tshark_lines(&tshark, &file, &["-Y", "frame.comment contains \"TLS ClientHello\""]);
    assert_eq!(hello.len(), 1);
    let http = common::tshark_lines(&tshark, &file, &["-Y", "http.response.code == 200"]);
    assert_eq!(http.len(), 1, "the HTTPS response is decrypted from the capture");
}

#[test]
fn a_stopped_job_takes_what_its_shell_started_with_it() {
    need_privileges!();
    use wirelab::backend::realtime::netns::{Job, Namespace};
    let ns = Namespace::create("j", std::net::Ipv4Addr::new(10, 0, 0, 9), std::net::Ipv4Addr::LOCALHOST).unwrap();
    let dir = tempfile::TempDir::new().unwrap();
    let pid_file = dir.path().join("pid");
    // A compound command: the shell stays as the parent of a background sleep.
    let cmd = format!("sleep 30 & echo $! > {}; wait", pid_file.display());
    let job = Job::start(&ns.name, &cmd, Stdio::null(), Duration::from_millis(200)).unwrap();
    let started = Instant::now();
    while std::fs::read_to_string(&pid_file).map_or(true, |s| s.trim().is_empty()) {
        assert!(started.elapsed() < Duration::from_secs(5), "the job never started its sleep");
        std::thread::sleep(Duration::from_millis(10));
    }
    let sleeper: u32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    drop(job);
    let gone = |pid: u32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map_or(true, |s| s.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z')))
    };
    let waited = Instant::now();
    while !gone(sleeper) {
        assert!(waited.elapsed() < Duration::from_secs(5), "the shell's background sleep outlived the job");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// An exec step whose command cannot be started (sh answers 127) makes wirelab exit 127, with a
/// line on stderr that says so.
#[test]
fn an_exec_command_that_cannot_start_exits_127() {
    need_privileges!();
    let dir = tempfile::TempDir::new().unwrap();
    let lab = dir.path().join("missing.toml");
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/labs/handshake.toml")).unwrap();
    let text = text.replace("curl -sSk --tlsv1.3 --http1.1 -o /dev/null", "wirelab-test-no-such-program");
    std::fs::write(&lab, text).unwrap();
    let out = common::wirelab()
        .args(["run"])
        .arg(&lab)
        .args(["--backend", "realtime", "--rtt", "10ms", "--scenario", "kernel-curl", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(127), "stderr: {stderr}");
    assert!(stderr.contains("could not be started"), "{stderr}");
}

/// `shell` takes --rtt and --loss like `run`, and a second run writes a second capture instead
/// of overwriting the first.
#[test]
fn shell_takes_rtt_and_keeps_every_capture() {
    need_privileges!();
    let Some(tshark) = common::tshark() else { return };
    let dir = tempfile::TempDir::new().unwrap();
    for _ in 0..2 {
        let out = common::wirelab()
            .args(["shell", "--rtt", "30ms", "--loss", "0%", "--out"])
            .arg(dir.path())
            .args(["--", "curl", "-s", "-o", "/dev/null", "http://server.lab/bytes/1000"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&out.stderr));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("delay 15ms"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for n in [1, 2] {
        let file = dir.path().join(format!("shell-{n}.pcapng"));
        let syn = times(&tshark, &file, "tcp.flags.syn == 1 && tcp.flags.ack == 0");
        let synack = times(&tshark, &file, "tcp.flags.syn == 1 && tcp.flags.ack == 1");
        let rtt = (synack[0] - syn[0]) * 1000.0;
        assert!((29.0..35.0).contains(&rtt), "shell-{n}: SYN to SYN/ACK {rtt:.2} ms at --rtt 30ms");
    }
}

/// A capture made by tcpdump inside wirelab's namespace (Linux cooked v2 framing from `-i any`,
/// the kernel's own 64 KB offload segments) gives `wirelab annotate` the same phases as the
/// capture wirelab's relay wrote of the same run: 1 RTT for TCP, 1 for TLS 1.3 at 40 ms.
#[test]
fn annotate_reads_a_tcpdump_capture_of_a_real_run() {
    need_privileges!();
    if Command::new("tcpdump").arg("--version").output().is_err() {
        assert!(std::env::var_os("CI").is_none(), "tcpdump is not installed, and CI must run this test");
        println!("skipping: tcpdump is not installed (scripts/test installs it)");
        return;
    }
    let dir = tempfile::TempDir::new().unwrap();
    let td = dir.path().join("tcpdump.pcap");
    let script = format!(
        "tcpdump -i any --immediate-mode -U -Z root -w {} tcp port 443 2>/dev/null & sleep 1; \
         curl -sk --tlsv1.3 -o /dev/null https://server.lab/bytes/100000; sleep 0.5; kill -INT $!; wait",
        td.display()
    );
    let out = common::wirelab()
        .args(["shell", "--link", "delay 20ms", "--out"])
        .arg(dir.path())
        .args(["--", "sh", "-c", &script])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let phases = |file: &std::path::Path| {
        let o = common::wirelab()
            .arg("annotate")
            .arg(file)
            .arg("-o")
            .arg(file.with_extension("a.pcapng"))
            .arg("--json")
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
        let t: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let conn = t["scenarios"].as_array().unwrap().first().cloned().expect("one connection");
        let ms = |id: &str| {
            let p = conn["phases"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["id"] == id)
                .cloned()
                .unwrap_or_else(|| panic!("no {id}: {conn}"));
            p["end_ms"].as_f64().unwrap() - p["start_ms"].as_f64().unwrap()
        };
        (ms("tcp_handshake"), ms("tls_handshake"), ms("http_request"))
    };
    let (tcp, tls, request) = phases(&td);
    assert!((39.99..46.0).contains(&tcp), "tcpdump's capture: TCP handshake {tcp:.3} ms, expected 1 RTT (40 ms)");
    // The TLS phase ends at curl's Finished, so it holds curl's own crypto work as well.
    assert!((39.99..60.0).contains(&tls), "tcpdump's capture: TLS 1.3 {tls:.3} ms, expected 1 RTT and curl's crypto");
    let (tcp2, tls2, request2) = phases(&dir.path().join("shell-1.pcapng"));
    for (a, b, what) in [(tcp, tcp2, "TCP"), (tls, tls2, "TLS"), (request, request2, "request")] {
        // The two vantage points are both at the client (the kernel's device and the relay's end
        // of it); the relay reads the device a little later, by how much depends on the load.
        assert!((a - b).abs() < 5.0, "{what}: {a:.3} ms in tcpdump's capture, {b:.3} ms in wirelab's");
    }
}
