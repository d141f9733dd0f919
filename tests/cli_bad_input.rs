//! Bad input through the binary: exit status 2, a one-line message that names the field, the
//! value and what is allowed, no panic, and nothing written.

mod common;

use std::path::{Path, PathBuf};

use tempfile::TempDir;

const LAB: &str = include_str!("../labs/handshake.toml");

/// Runs `wirelab <args> --out <tempdir>/out` and checks the bad-input contract; `needles` must
/// all appear in the message.
fn bad(args: &[&str], needles: &[&str]) {
    let dir = TempDir::new().unwrap();
    bad_with_out(args, &dir.path().join("out"), dir.path(), needles);
}

/// As [`bad`], with an explicit `--out`; `watch` is the directory that must get no output files.
fn bad_with_out(args: &[&str], out: &Path, watch: &Path, needles: &[&str]) {
    let output = common::wirelab().args(args).arg("--out").arg(out).output().expect("cannot start wirelab");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let shown = format!("wirelab {args:?}\nstdout:\n{}\nstderr:\n{stderr}", String::from_utf8_lossy(&output.stdout));
    assert_eq!(output.status.code(), Some(2), "exit status is not 2: {shown}");
    assert!(!stderr.contains("panicked"), "panicked: {shown}");
    let message = stderr.strip_suffix('\n').unwrap_or(&stderr);
    assert!(!message.trim().is_empty(), "no message on stderr: {shown}");
    assert_eq!(message.lines().count(), 1, "the message is not one line: {shown}");
    for needle in needles {
        assert!(message.contains(needle), "the message does not mention {needle:?}: {shown}");
    }
    for dir in [watch, out] {
        if dir.is_dir() {
            let written: Vec<_> =
                common::files_in(dir).into_keys().filter(|n| n.ends_with(".pcapng") || n.ends_with(".json")).collect();
            assert!(written.is_empty(), "bad input still wrote {written:?} into {}: {shown}", dir.display());
        }
    }
}

/// `wirelab run handshake <args>`.
fn bad_run(args: &[&str], needles: &[&str]) {
    let mut all = vec!["run", "handshake"];
    all.extend_from_slice(args);
    bad(&all, needles);
}

/// Writes the handshake lab with `from` replaced by `to` (which must occur) into a temp dir
/// and runs it, expecting bad input.
fn bad_lab(from: &str, to: &str, needles: &[&str]) {
    assert!(LAB.contains(from), "labs/handshake.toml no longer contains {from:?}; update the test");
    bad_lab_bytes(LAB.replacen(from, to, 1).as_bytes(), needles);
}

fn bad_lab_bytes(bytes: &[u8], needles: &[&str]) {
    let dir = TempDir::new().unwrap();
    let path: PathBuf = dir.path().join("lab.toml");
    std::fs::write(&path, bytes).unwrap();
    bad(&["run", path.to_str().unwrap()], needles);
}

// ---- command line ----

#[test]
fn unknown_lab() {
    bad(&["run", "nosuchlab"], &["nosuchlab", "handshake"]);
}

#[test]
fn unknown_subcommand() {
    bad(&["frobnicate"], &["frobnicate"]);
}

#[test]
fn rtt_not_a_duration() {
    bad_run(&["--rtt", "abc"], &["--rtt", "abc", "ms"]);
}

#[test]
fn rtt_zero() {
    bad_run(&["--rtt", "0ms"], &["--rtt", "0ms", "2us", "10s"]);
}

#[test]
fn rtt_too_long() {
    bad_run(&["--rtt", "20s"], &["--rtt", "20s", "2us", "10s"]);
}

#[test]
fn rtt_negative() {
    bad_run(&["--rtt", "-5ms"], &["--rtt", "-5ms"]);
}

#[test]
fn loss_over_100_percent() {
    bad_run(&["--loss", "150%"], &["--loss", "150%", "100"]);
}

#[test]
fn loss_not_a_number() {
    bad_run(&["--loss", "x"], &["--loss", "`x`", "100"]);
}

#[test]
fn seed_negative() {
    bad_run(&["--seed", "-1"], &["--seed", "-1"]);
}

#[test]
fn seed_not_a_number() {
    bad_run(&["--seed", "abc"], &["--seed", "abc"]);
}

#[test]
fn set_without_equals() {
    bad_run(&["--set", "nokey"], &["--set", "nokey", "KEY=VALUE"]);
}

#[test]
fn set_unknown_parameter() {
    bad_run(&["--set", "unknown_param=1"], &["unknown_param", "response_size", "initial_window"]);
}

#[test]
fn set_rtt_not_a_duration() {
    bad_run(&["--set", "rtt=fast"], &["`rtt`", "fast"]);
}

#[test]
fn set_response_size_not_a_size() {
    bad_run(&["--set", "response_size=lots"], &["response_size", "lots", "KB"]);
}

#[test]
fn set_initial_window_zero() {
    bad_run(&["--set", "initial_window=0"], &["initial_window", "`0`", "1000"]);
}

#[test]
fn set_unknown_congestion_control() {
    bad_run(&["--set", "cc=bbr"], &["cc", "bbr", "iw", "smoltcp"]);
}

#[test]
fn link_delay_without_value() {
    bad_run(&["--link", "delay"], &["--link", "delay", "TIME"]);
}

#[test]
fn link_unknown_word() {
    bad_run(&["--link", "jitter 5ms"], &["--link", "jitter", "delay", "loss"]);
}

#[test]
fn link_loss_over_100_percent() {
    bad_run(&["--link", "loss 200%"], &["--link", "200%", "100"]);
}

#[test]
fn unknown_scenario() {
    bad_run(&["--scenario", "nope"], &["--scenario", "nope", "fresh-tls13", "zero-rtt"]);
}

#[test]
fn kernel_scenario_on_the_virtual_clock() {
    bad(
        &["run", "slow-start", "--scenario", "linux-fresh"],
        &["--scenario linux-fresh", "server", "Linux kernel", "--backend realtime"],
    );
}

#[test]
fn kernel_scenario_in_a_sweep() {
    bad(
        &["sweep", "slow-start", "--scenario", "linux-fresh", "--set", "rtt=50ms", "--seeds", "1..2"],
        &["--scenario linux-fresh", "kernel hosts", "--backend realtime"],
    );
}

#[test]
fn unknown_kernel_congestion_control() {
    bad(
        &["run", "slow-start", "--backend", "realtime", "--set", "kernel_cc=vegas"],
        &["kernel_cc", "vegas", "cubic, reno, bbr"],
    );
}

#[test]
fn a_kernel_client_runs_exec_steps_only() {
    let lab = include_str!("../labs/slow-start.toml").replace("kernel = [\"server\"]", "kernel = [\"client\"]");
    let dir = TempDir::new().unwrap();
    let file = dir.path().join("lab.toml");
    std::fs::write(&file, lab).unwrap();
    bad(&["run", file.to_str().unwrap()], &["linux-fresh", "kernel client", "exec", "`connect` step"]);
}

#[test]
fn exec_steps_need_a_kernel_client() {
    let lab = include_str!("../labs/handshake.toml").replace("kernel = [\"client\"]\n", "");
    let dir = TempDir::new().unwrap();
    let file = dir.path().join("lab.toml");
    std::fs::write(&file, lab).unwrap();
    bad(&["run", file.to_str().unwrap()], &["kernel-curl", "exec", "kernel = [\"client\"]"]);
}

#[test]
fn an_empty_exec_command() {
    let lab = include_str!("../labs/handshake.toml").replace(
        "command = \"curl -sSk --tlsv1.3 --http1.1 -o /dev/null https://www.example.lab/bytes/${response_size}\"",
        "command = \" \"",
    );
    let dir = TempDir::new().unwrap();
    let file = dir.path().join("lab.toml");
    std::fs::write(&file, lab).unwrap();
    bad(&["run", file.to_str().unwrap()], &["kernel-curl", "steps[1].command", "empty"]);
}

#[test]
fn out_is_a_file() {
    let dir = TempDir::new().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    bad_with_out(&["run", "handshake"], &file, dir.path(), &["--out", "not-a-dir", "not a directory"]);
    assert_eq!(std::fs::read(&file).unwrap(), b"x", "--out FILE was modified");
}

// ---- lab files ----

#[test]
fn lab_file_missing() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("missing.toml");
    bad(&["run", path.to_str().unwrap()], &["missing.toml"]);
}

#[test]
fn lab_file_empty() {
    bad_lab_bytes(b"", &["lab.toml", "empty"]);
}

#[test]
fn lab_file_not_utf8() {
    let mut bytes = b"name = \"".to_vec();
    bytes.extend_from_slice(&[0xff, 0xfe]);
    bytes.extend_from_slice(b"\"\n");
    bad_lab_bytes(&bytes, &["lab.toml", "UTF-8"]);
}

#[test]
fn lab_file_malformed_toml() {
    bad_lab("name = \"handshake\"", "name = = \"handshake\"", &["lab.toml", "line", "column"]);
}

#[test]
fn lab_file_unknown_step_kind() {
    bad_lab(
        "{ step = \"request\", size = \"${response_size}\" }",
        "{ step = \"fetch\", size = \"${response_size}\" }",
        &["fetch", "dns", "connect", "tls", "request"],
    );
}

#[test]
fn lab_file_unknown_key_in_step() {
    bad_lab("{ step = \"close\" }", "{ step = \"close\", after = \"1s\" }", &["after", "close"]);
}

#[test]
fn lab_file_duplicate_scenario() {
    bad_lab("name = \"pooled\"", "name = \"fresh-tls12\"", &["scenario", "fresh-tls12"]);
}

#[test]
fn lab_file_bad_host_address() {
    bad_lab("addr = \"10.0.0.54\"", "addr = \"10.0.0.256\"", &["addr", "10.0.0.256", "IPv4"]);
}

/// A pool's bursts to port 80 would speak TLS (their default) to a plain HTTP server, and
/// plain HTTP to port 443: both are refused at load, as `tls` and `request` steps are.
#[test]
fn bursts_whose_port_and_tls_disagree() {
    let keepalive = include_str!("../labs/keepalive.toml");
    let from = "port = 443, tls = \"1.3\"";
    assert!(keepalive.contains(from), "labs/keepalive.toml no longer has {from}; update the test");
    for (to, needles) in [
        ("port = 80", &["bursts", "port 80 serves plain HTTP", "tls = \"none\""][..]),
        ("port = 80, tls = \"1.2\"", &["bursts", "port 80"][..]),
        ("port = 443, tls = \"none\"", &["bursts", "port 443 serves HTTPS"][..]),
    ] {
        bad_lab_bytes(keepalive.replacen(from, to, 1).as_bytes(), needles);
    }
}

#[test]
fn lab_file_bad_expect_check() {
    bad_lab(
        "check = \"http_request.rtts == 1\"",
        "check = \"http_request.rtts === one\"",
        &["[[expect]]", "check", "http_request.rtts === one"],
    );
}

// ---- and one good input ----

#[test]
fn good_input_runs_one_scenario() {
    let dir = TempDir::new().unwrap();
    // The pictures' files are tests/pictures.rs's business.
    common::run_handshake(dir.path(), &["--scenario", "pooled", "--pictures", "none"]);
    let names: Vec<String> = common::files_in(dir.path()).into_keys().collect();
    assert_eq!(names, ["handshake-pooled.keys", "handshake-pooled.pcapng", "handshake.json"]);
}

// A path flag that would override what --set, a sweep or a table varies makes the labels lie:
// refused, naming both.
#[test]
fn loss_flag_against_the_loss_table() {
    bad(&["run", "hol", "--loss", "0.3%"], &["--loss 0.3%", "[loss_table]", "`loss`"]);
}

#[test]
fn loss_flag_against_a_loss_sweep() {
    bad(
        &["sweep", "slow-start", "--set", "loss=0%,1%,5%", "--loss", "0.3%", "--seeds", "1..2"],
        &["--loss 0.3%", "--set loss=0%,1%,5%"],
    );
}

#[test]
fn rtt_flag_against_an_rtt_sweep() {
    bad(
        &["sweep", "handshake", "--set", "rtt=50ms,150ms", "--rtt", "10ms", "--seeds", "1..2"],
        &["--rtt 10ms", "--set rtt=50ms,150ms"],
    );
}

#[test]
fn link_flag_against_set_rtt() {
    bad_run(&["--set", "rtt=50ms", "--link", "delay 5ms"], &["--link \"delay 5ms\"", "--set rtt=50ms"]);
}

#[test]
fn quic_window_below_two_datagrams() {
    bad(
        &["run", "hol", "--scenario", "one-loss-h3", "--set", "quic_initial_window=2048"],
        &["quic_initial_window", "2048", "2944"],
    );
}

// Values that used to panic, or were accepted and failed (or were silently changed) at run time.
#[test]
fn burst_interval_below_a_millisecond() {
    bad(
        &["run", "keepalive", "--scenario", "short-timeout", "--set", "gap=500ns"],
        &["every", "500ns", "1ms to 24h", "`gap`"],
    );
}

#[test]
fn host_addresses_that_are_not_unicast() {
    for (addr, what) in [
        ("255.255.255.255", "broadcast"),
        ("224.0.0.1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("127.0.0.1", "loopback"),
    ] {
        bad_lab("addr = \"10.0.0.1\"", &format!("addr = \"{addr}\""), &["[[host]] 1.addr", addr, what]);
    }
}

#[test]
fn response_larger_than_the_server_builds() {
    bad_run(&["--set", "response_size=100GB"], &["size", "100GB", "4GiB"]);
}

#[test]
fn rtt_zero_or_huge_in_set_and_file() {
    bad_run(&["--set", "rtt=0ms"], &["rtt", "0ms", "2us to 10s"]);
    bad_run(&["--set", "rtt=1000000h"], &["rtt", "1000000h", "2us to 10s"]);
    bad_lab("rtt = \"150ms\"", "rtt = \"0ms\"", &["rtt", "0ms", "2us to 10s"]);
}

#[test]
fn time_limit_zero_or_shorter_than_the_steps() {
    bad_run(&["--set", "time_limit=0s"], &["time_limit", "0s", "1ms to 168h"]);
    bad(&["run", "keepalive", "--set", "time_limit=5m"], &["time_limit", "5m", "at least 10m"]);
}

#[test]
fn check_naming_a_phase_or_metric_that_does_not_exist() {
    bad_lab(
        "check = \"tcp_handshake.rtts == 1\"",
        "check = \"teleport.rtts == 1\"",
        &["[[expect]] 1.check", "teleport", "tcp_handshake"],
    );
    bad_lab(
        "check = \"tcp_handshake.rtts == 1\"",
        "check = \"metrics.teleport == 1\"",
        &["metrics.teleport", "total_ms"],
    );
}

#[test]
fn request_or_tls_before_connect_and_tls_on_the_plain_port() {
    let lab = include_str!("../labs/slow-start.toml");
    let first = lab.find("{ step = \"connect\"").expect("slow-start connects");
    let end = first + lab[first..].find('}').unwrap() + 1;
    let without_connect = format!("{}{}", &lab[..first], lab[end..].trim_start_matches(','));
    bad_lab_bytes(without_connect.as_bytes(), &["request", "needs a `connect` step before it"]);
    let tls_on_80 = lab.replacen(&lab[first..end], &format!("{}, {{ step = \"tls\" }}", &lab[first..end]), 1);
    bad_lab_bytes(tls_on_80.as_bytes(), &["tls", "port 80", "plain HTTP"]);
}

#[test]
fn check_against_theory_needs_a_known_model() {
    let theory = "check = \"tcp_handshake.rtts == theory\"";
    bad_lab(
        "check = \"tcp_handshake.rtts == 1\"",
        theory,
        &["[[expect]] 1.check", "needs `model`", "slow_start_flights"],
    );
    bad_lab(
        "check = \"tcp_handshake.rtts == 1\"",
        &format!("{theory}\nmodel = \"nope\""),
        &["[[expect]] 1.model", "unknown model `nope`"],
    );
    bad_lab(
        "holds_when = \"lossless\"",
        "holds_when = \"${rtt} > 1KB\"",
        &["[[expect]] 1.holds_when", "not both durations or both sizes"],
    );
}

#[test]
fn derived_timing_that_goes_negative_is_refused() {
    let out = common::wirelab()
        .args(["run", "keepalive", "--scenario", "short-timeout", "--rtt", "3s", "--out", "/nonexistent-wirelab-test"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("7s - 3 * 3s - 1.55s") && err.contains("negative"), "{err}");
}

/// A reader that goes away (`wirelab list | head -1`) is not a crash: the program stops
/// quietly with status 141 (128 + SIGPIPE), nothing on stderr.
#[test]
fn a_closed_pipe_ends_the_output_quietly() {
    use std::os::fd::FromRawFd;
    let mut fds = [0i32; 2];
    // SAFETY: a fresh pipe; the read end is closed at once, so every write to the other fails
    // with EPIPE (Rust ignores SIGPIPE, as the program under test does).
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    unsafe { libc::close(fds[0]) };
    let write_end = unsafe { std::process::Stdio::from_raw_fd(fds[1]) };
    let out = common::wirelab().arg("list").stdout(write_end).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(141), "stderr: {err}");
    assert!(err.is_empty(), "stderr: {err}");
}
