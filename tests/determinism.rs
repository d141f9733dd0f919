//! Same seed, same bytes; another seed, other bytes but the same timings.

mod common;

use tempfile::TempDir;

/// Each scenario's phases as (scenario, phase id, rtts).
fn phase_rtts(timeline: &serde_json::Value) -> Vec<(String, String, f64)> {
    let mut out = Vec::new();
    for s in timeline["scenarios"].as_array().unwrap() {
        for p in s["phases"].as_array().unwrap() {
            let rtts = p["rtts"].as_f64().unwrap_or_else(|| panic!("{}: {} has no rtts", s["name"], p["id"]));
            out.push((s["name"].as_str().unwrap().to_string(), p["id"].as_str().unwrap().to_string(), rtts));
        }
    }
    out
}

#[test]
fn same_seed_gives_identical_files_and_another_seed_other_bytes_same_timings() {
    let (a, b, c) = (TempDir::new().unwrap(), TempDir::new().unwrap(), TempDir::new().unwrap());
    common::run_handshake(a.path(), &["--seed", "7"]);
    common::run_handshake(b.path(), &["--seed", "7"]);
    common::run_handshake(c.path(), &["--seed", "8"]);

    let (fa, fb) = (common::files_in(a.path()), common::files_in(b.path()));
    let names: Vec<&String> = fa.keys().collect();
    assert_eq!(names, fb.keys().collect::<Vec<_>>(), "the two runs wrote different files");
    for ext in [".pcapng", ".keys", ".json", ".svg", ".html"] {
        assert!(names.iter().any(|n| n.ends_with(ext)), "no {ext} file written: {names:?}");
    }
    for (name, bytes) in &fa {
        assert!(*bytes == fb[name], "{name} differs between two runs with --seed 7");
    }

    let fc = common::files_in(c.path());
    let capture = "handshake-fresh-tls13.pcapng";
    assert!(fa[capture] != fc[capture], "{capture} is the same with --seed 7 and --seed 8");
    let (ta, tc) = (common::timeline(a.path()), common::timeline(c.path()));
    assert_eq!(ta["seed"], 7);
    assert_eq!(tc["seed"], 8);
    assert_eq!(phase_rtts(&ta), phase_rtts(&tc), "phase timings depend on the seed");
}
