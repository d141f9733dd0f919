//! Bad input in the link layer's newer fields (up/down, flow rules, traces, netem's newer
//! words): exit status 2, a one-line message that names the field, the value and what is
//! allowed, no panic, and nothing written.

mod common;

use tempfile::TempDir;

const LAB: &str = include_str!("../labs/handshake.toml");
/// Where the handshake lab's first [[path]] is, to add keys after.
const PATH: &str = "between = [\"client\", \"resolver\"]\nrtt = \"${dns_rtt}\"";

/// Runs `wirelab run <lab> <extra>` on the handshake lab with `from` replaced by `to`, in a
/// temp dir that also holds `files` (name, text), and checks the bad-input contract.
fn bad(from: &str, to: &str, files: &[(&str, &str)], extra: &[&str], needles: &[&str]) {
    assert!(LAB.contains(from), "labs/handshake.toml no longer contains {from:?}; update the test");
    let dir = TempDir::new().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let path = dir.path().join("lab.toml");
    std::fs::write(&path, LAB.replacen(from, to, 1)).unwrap();
    let out = dir.path().join("out");
    let output = common::wirelab()
        .arg("run")
        .arg(&path)
        .args(extra)
        .arg("--out")
        .arg(&out)
        .output()
        .expect("cannot start wirelab");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let shown = format!("{to}\nstderr:\n{stderr}");
    assert_eq!(output.status.code(), Some(2), "exit status is not 2: {shown}");
    assert!(!stderr.contains("panicked"), "panicked: {shown}");
    let message = stderr.strip_suffix('\n').unwrap_or(&stderr);
    assert_eq!(message.lines().count(), 1, "the message is not one line: {shown}");
    for needle in needles {
        assert!(message.contains(needle), "the message does not mention {needle:?}: {shown}");
    }
    assert!(!out.exists() || common::files_in(&out).is_empty(), "bad input still wrote files: {shown}");
}

/// The handshake lab's first [[path]] with `keys` added.
fn path_with(keys: &str) -> String {
    format!("{PATH}\n{keys}")
}

#[test]
fn up_and_down_words() {
    bad(PATH, &path_with("up = \"rate fast\""), &[], &[], &["[[path]] 1.up", "`fast` is not a rate"]);
    bad(PATH, &path_with("down = \"corrupt 150%\""), &[], &[], &["[[path]] 1.down", "`150%`", "0 to 100"]);
    bad(PATH, &path_with("down = 5"), &[], &[], &["[[path]] 1.down", "5"]);
    bad(
        "rtt = \"${rtt}\"",
        "rtt = \"${rtt}\"\nup = \"loss 1% 2% 3%\"",
        &[],
        &[],
        &["[link].up", "`3%`", "too many values"],
    );
}

#[test]
fn newer_netem_words() {
    let cases: [(&str, &[&str]); 6] = [
        ("netem = \"corrupt 1% 5%\"", &["[[path]] 1.netem", "`5%`", "correlation is not supported"]),
        ("netem = \"delay 5ms 1ms distribution gauss\"", &["`gauss` is not one", "uniform|normal|pareto|paretonormal"]),
        ("netem = \"distribution normal\"", &["[[path]] 1.netem", "`distribution` shapes the jitter"]),
        ("netem = \"loss 1% 150%\"", &["`150%`", "0 to 100"]),
        ("netem = \"slot 10ms\"", &["`slot` is not supported"]),
        ("netem = \"loss gemodel 1% 10% 100% 0% 5%\"", &["`5%`", "too many values"]),
    ];
    for (keys, needles) in cases {
        bad(PATH, &path_with(keys), &[], &[], needles);
    }
    bad(PATH, PATH, &[], &["--link", "delay 10ms 2ms distribution weird"], &["--link", "`weird` is not one"]);
}

#[test]
fn flow_rules() {
    let flow = |keys: &str| format!("{PATH}\n\n[[path.flow]]\n{keys}");
    bad(PATH, &flow("loss = \"1%\""), &[], &[], &["[[path]] 1.flow 1.match: missing", "udp port 443"]);
    bad(
        PATH,
        &flow("match = \"udp port 0\""),
        &[],
        &[],
        &["[[path]] 1.flow 1.match", "`0` is not a port (1 to 65535)"],
    );
    bad(PATH, &flow("match = \"sctp\""), &[], &[], &["unknown word `sctp`", "tcp, udp, icmp"]);
    bad(PATH, &flow("match = \"host nobody\""), &[], &[], &["`host nobody`: no such host"]);
    bad(PATH, &flow("match = \"udp\"\nloss = \"200%\""), &[], &[], &["[[path]] 1.flow 1.loss", "200%"]);
    bad(PATH, &flow("match = \"udp\"\nlimit = 0"), &[], &[], &["[[path]] 1.flow 1.limit", "0"]);
    bad(
        PATH,
        &flow("match = \"udp\"\nbetween = [\"client\", \"server\"]"),
        &[],
        &[],
        &["`between` belongs in a [[path]]"],
    );
    bad(PATH, &path_with("match = \"udp\""), &[], &[], &["[[path]] 1.match", "belongs in a flow rule"]);
}

#[test]
fn trace_files() {
    let rate = |file: &str| path_with(&format!("down = \"rate trace {file}\""));
    bad(PATH, &rate("missing.trace"), &[], &[], &["[[path]] 1.down", "rate trace missing.trace", "cannot read it"]);
    bad(
        PATH,
        &rate("bad.trace"),
        &[("bad.trace", "1\n2\nthree\n")],
        &[],
        &["[[path]] 1.down", "bad.trace: line 3: `three` is not a time", "whole milliseconds"],
    );
    bad(PATH, &rate("empty.trace"), &[("empty.trace", "")], &[], &["empty.trace", "no delivery times"]);
    bad(PATH, &rate("zero.trace"), &[("zero.trace", "0\n")], &[], &["zero.trace", "nonzero"]);
    let delay = path_with("up = \"delay trace d.trace\"");
    bad(
        PATH,
        &delay,
        &[("d.trace", "0 20\n500 x\n")],
        &[],
        &["d.trace: line 2: `x` is not a delay", "TIME_MS DELAY_MS"],
    );
    bad(PATH, &delay, &[("d.trace", "10 20\n")], &[], &["d.trace: line 1", "expected it at 0"]);
    // A built-in lab has no directory to read a trace from; --link reads from the working
    // directory.
    let dir = TempDir::new().unwrap();
    let output = common::wirelab()
        .args(["run", "handshake", "--link", "rate trace /nonexistent/up.trace", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("rate trace /nonexistent/up.trace`: cannot read it"), "{stderr}");
}
