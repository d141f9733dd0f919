//! Helpers shared by the integration tests: running the `wirelab` binary and reading what it wrote.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

/// The labs whose default outputs are committed in captures/ (keep in step with scripts/regen-captures).
pub const REFERENCE_LABS: [&str; 4] = ["handshake", "slow-start", "keepalive", "hol"];

/// The `wirelab` binary built for these tests.
pub fn wirelab() -> Command {
    Command::new(env!("CARGO_BIN_EXE_wirelab"))
}

/// Runs `wirelab run handshake <extra> --out <out>` and asserts that it exited 0.
pub fn run_handshake(out: &Path, extra: &[&str]) -> Output {
    run_lab("handshake", out, extra)
}

/// Runs `wirelab run <lab> <extra> --out <out>` and asserts that it exited 0.
pub fn run_lab(lab: &str, out: &Path, extra: &[&str]) -> Output {
    let output = wirelab()
        .args(["run", lab])
        .args(extra)
        .arg("--out")
        .arg(out)
        .output()
        .expect("cannot start the wirelab binary");
    assert_eq!(
        output.status.code(),
        Some(0),
        "wirelab run {lab} {extra:?} failed\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Every regular file in `dir` whose name does not start with '.', by name, with its bytes.
pub fn files_in(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display())) {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type().unwrap().is_file() && !name.starts_with('.') {
            files.insert(name, std::fs::read(entry.path()).unwrap());
        }
    }
    files
}

/// The timeline `<dir>/handshake.json`, parsed.
pub fn timeline(dir: &Path) -> serde_json::Value {
    lab_timeline(dir, "handshake")
}

/// The timeline `<dir>/<lab>.json`, parsed.
pub fn lab_timeline(dir: &Path, lab: &str) -> serde_json::Value {
    let path = dir.join(format!("{lab}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// The scenario called `name` in a parsed timeline.
pub fn scenario<'a>(timeline: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    timeline["scenarios"]
        .as_array()
        .expect("`scenarios` is not an array")
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no scenario `{name}` in the timeline"))
}

/// The tshark command, or `None` (after printing why) when it is not installed. Under CI a
/// missing tshark is a failure: CI must run the capture tests.
pub fn tshark() -> Option<String> {
    if Command::new("tshark").arg("--version").output().is_ok_and(|o| o.status.success()) {
        return Some("tshark".to_string());
    }
    assert!(std::env::var_os("CI").is_none(), "tshark is not installed, and CI must run the capture tests");
    println!("skipping: tshark not installed (scripts/test installs it)");
    None
}

/// The lines tshark prints for `file` with `args`, asserting it succeeded.
pub fn tshark_lines(tshark: &str, file: &Path, args: &[&str]) -> Vec<String> {
    let output = Command::new(tshark).arg("-r").arg(file).args(args).output().expect("cannot start tshark");
    assert!(output.status.success(), "tshark {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).lines().map(str::to_string).collect()
}

/// Runs `wirelab run <lab> <extra> --out <out>` and asserts only that it completed (exit 0 or 1:
/// a lab check may fail away from the defaults).
pub fn run_lab_any_exit(lab: &str, out: &Path, extra: &[&str]) -> Output {
    let output = wirelab().args(["run", lab]).args(extra).arg("--out").arg(out).output().expect("cannot start wirelab");
    assert!(
        matches!(output.status.code(), Some(0) | Some(1)),
        "wirelab run {lab} {extra:?}: exit {:?}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Runs `wirelab run <file>`, expecting a refusal at load: exit 2 and one line on stderr,
/// which it returns.
pub fn refused_file(file: impl AsRef<Path>) -> String {
    let file = file.as_ref();
    let dir = tempfile::tempdir().unwrap();
    let out = wirelab().arg("run").arg(file).arg("--out").arg(dir.path()).output().expect("cannot start wirelab");
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    assert_eq!(out.status.code(), Some(2), "{}: {stderr}", file.display());
    assert_eq!(stderr.lines().count(), 1, "{}: one line: {stderr}", file.display());
    stderr
}
