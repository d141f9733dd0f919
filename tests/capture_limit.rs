//! `wirelab run --capture none|first:N|all`: what a capture keeps never changes what is
//! measured; a cut capture is a valid pcapng that says where it was cut; labs whose results
//! are read off the capture refuse a limit; bad values are bad input.

mod common;

use std::path::Path;

use tempfile::TempDir;

/// tail-latency's `sequential` scenario at 200 requests, with `--capture <keep>` and a tap at
/// the gateway, into `out`; its timeline.
fn run_keeping(out: &Path, keep: &str) -> serde_json::Value {
    common::run_lab(
        "tail-latency",
        out,
        &["--scenario", "sequential", "--set", "requests=200", "--tap", "gateway", "--capture", keep],
    );
    common::lab_timeline(out, "tail-latency")
}

fn pcapngs(dir: &Path) -> Vec<String> {
    common::files_in(dir).into_keys().filter(|n| n.ends_with(".pcapng")).collect()
}

#[test]
fn metrics_and_phases_do_not_depend_on_what_is_captured() {
    let dirs: Vec<TempDir> = (0..3).map(|_| TempDir::new().unwrap()).collect();
    let all = run_keeping(dirs[0].path(), "all");
    let first = run_keeping(dirs[1].path(), "first:50");
    let none = run_keeping(dirs[2].path(), "none");
    let scenario = |t: &serde_json::Value| common::scenario(t, "sequential").clone();
    let (all, first, none) = (scenario(&all), scenario(&first), scenario(&none));
    assert_eq!(all["metrics"]["requests"], 200.0);
    assert!(all["metrics"]["frames"].as_f64().unwrap() > 50.0, "the run has more than 50 frames at the client");
    for (keep, s) in [("first:50", &first), ("none", &none)] {
        assert_eq!(s["metrics"], all["metrics"], "--capture {keep} changed the metrics");
        // The phases' frames are those of the whole capture, whatever the file keeps.
        assert_eq!(s["phases"], all["phases"], "--capture {keep} changed the phases");
    }
    assert_eq!(first["capture"], "tail-latency-sequential.pcapng");
    assert!(none.get("capture").is_none(), "--capture none names no capture file: {none}");

    // none: nothing written but the timeline (and pictures).
    assert_eq!(pcapngs(dirs[2].path()), Vec::<String>::new());
    assert_eq!(
        pcapngs(dirs[0].path()),
        ["tail-latency-sequential.pcapng", "tail-latency-sequential@gateway.pcapng"],
        "all: the client's and the gateway's captures"
    );
    assert_eq!(pcapngs(dirs[1].path()), pcapngs(dirs[0].path()));
}

#[test]
fn a_cut_capture_holds_exactly_n_frames_and_says_so() {
    let Some(tshark) = common::tshark() else { return };
    let dir = TempDir::new().unwrap();
    let timeline = run_keeping(dir.path(), "first:50");
    let whole = common::scenario(&timeline, "sequential")["metrics"]["frames"].as_f64().unwrap() as u64;
    for (file, host) in
        [("tail-latency-sequential.pcapng", "client"), ("tail-latency-sequential@gateway.pcapng", "gateway")]
    {
        let path = dir.path().join(file);
        let comments = common::tshark_lines(&tshark, &path, &["-T", "fields", "-e", "frame.comment"]);
        assert_eq!(comments.len(), 50, "{file}: first:50 keeps 50 frames");
        assert!(comments.iter().all(|c| !c.trim().is_empty()), "{file}: every frame commented");
        let errors = common::tshark_lines(&tshark, &path, &["-Y", "_ws.malformed || _ws.expert.severity == error"]);
        assert!(errors.is_empty(), "{file}: Error items: {errors:?}");
        let last = comments.last().unwrap();
        assert!(last.contains("capture cut after 50 frames (--capture first:50)"), "{file}: last frame: {last}");
        assert!(last.contains(&format!("{host} had ")), "{file}: the cut names the vantage point: {last}");
        if host == "client" {
            assert!(last.contains(&format!("had {whole} frames in the whole run")), "{file}: {last} vs {whole}");
        }
        // The section header says it too (its opt_comment): the first block is the SHB.
        let bytes = std::fs::read(&path).unwrap();
        let shb_len = u32::from_le_bytes(bytes[4..8].try_into().unwrap()) as usize;
        let needle = b"capture cut after 50 frames";
        assert!(bytes[..shb_len].windows(needle.len()).any(|w| w == needle), "{file}: no cut note in the SHB");
    }
    // More frames than the run had: the whole capture, no note.
    let big = TempDir::new().unwrap();
    run_keeping(big.path(), "first:1000000");
    let full = TempDir::new().unwrap();
    run_keeping(full.path(), "all");
    let file = "tail-latency-sequential.pcapng";
    assert_eq!(common::files_in(big.path())[file], common::files_in(full.path())[file], "first:N past the end = all");
}

/// A lab whose results are read off the client's capture refuses a limit: exit 2, one line
/// naming the flag, the lab and why, nothing written.
#[test]
fn labs_that_read_the_capture_refuse_a_limit() {
    for (lab, keep, why) in [
        ("handshake", "none", "slow-start rounds"),
        ("slow-start", "first:10", "slow-start rounds"),
        ("hol", "none", "head-of-line"),
        ("keepalive", "first:100", "keepalive"),
    ] {
        let dir = TempDir::new().unwrap();
        let out = common::wirelab()
            .args(["run", lab, "--capture", keep, "--pictures", "none", "--out"])
            .arg(dir.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{lab} --capture {keep}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        for needle in [format!("--capture {keep}"), format!("lab {lab}"), why.to_string(), "only --capture all".into()]
        {
            assert!(stderr.contains(&needle), "{lab}: no {needle:?} in {stderr}");
        }
        assert!(common::files_in(dir.path()).is_empty(), "{lab}: bad input wrote files");
    }
    // `all` is what they run with anyway.
    let dir = TempDir::new().unwrap();
    common::run_lab("slow-start", dir.path(), &["--scenario", "iw10-fresh", "--capture", "all", "--pictures", "none"]);
}

#[test]
fn bad_values_are_bad_input_naming_the_flag_and_the_forms() {
    for value in ["first:", "first:0", "first:x", "some", "first:-3", "all:1", ""] {
        let dir = TempDir::new().unwrap();
        let out = common::wirelab()
            .args(["run", "tail-latency", "--capture", value, "--out"])
            .arg(dir.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "--capture {value:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        for needle in ["--capture", "none", "first:N", "all"] {
            assert!(stderr.contains(needle), "--capture {value:?}: no {needle:?} in {stderr}");
        }
        assert!(common::files_in(dir.path()).is_empty(), "bad input wrote files");
    }
    let help = common::wirelab().args(["run", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("--capture <none|first:N|all>"), "{help}");
    assert!(help.contains("refuse anything but `all`"), "{help}");
}

/// A sweep records no capture where the analysis does not read it: its metrics are the run's.
#[test]
fn a_sweep_measures_what_a_run_with_every_frame_measures() {
    let dir = TempDir::new().unwrap();
    let out = common::wirelab()
        .args(["sweep", "tail-latency", "--scenario", "sequential", "--set", "requests=100", "--seeds", "1..1"])
        .args(["--pictures", "none", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let line = std::fs::read_to_string(dir.path().join("tail-latency-sweep.jsonl")).unwrap();
    let record: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
    let run = TempDir::new().unwrap();
    common::run_lab(
        "tail-latency",
        run.path(),
        &["--scenario", "sequential", "--set", "requests=100", "--capture", "all", "--pictures", "none"],
    );
    let timeline = common::lab_timeline(run.path(), "tail-latency");
    assert_eq!(record["metrics"], common::scenario(&timeline, "sequential")["metrics"]);
}
