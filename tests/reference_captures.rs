//! The committed reference outputs in captures/ are exactly what `wirelab run handshake` and
//! the other labs in `common::REFERENCE_LABS` produce with default settings (scripts/regen-captures makes them).

mod common;

use std::path::Path;

use tempfile::TempDir;

#[test]
fn committed_captures_match_a_fresh_run() {
    let committed_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures");
    let mut committed = if committed_dir.is_dir() { common::files_in(&committed_dir) } else { Default::default() };
    // `wirelab shell` writes shell.pcapng/.keys into captures/ by default; they are a user's
    // session (ignored by git), not reference outputs.
    committed.retain(|name, _| !name.starts_with("shell."));
    assert!(
        !committed.is_empty(),
        "{} is empty or missing: run scripts/regen-captures and commit its output",
        committed_dir.display()
    );

    let fresh_dir = TempDir::new().unwrap();
    for lab in common::REFERENCE_LABS {
        common::run_lab(lab, fresh_dir.path(), &[]);
    }
    let fresh = common::files_in(fresh_dir.path());

    let (c, f): (Vec<&String>, Vec<&String>) = (committed.keys().collect(), fresh.keys().collect());
    assert_eq!(c, f, "captures/ holds other files than a fresh run writes; run scripts/regen-captures");
    for (name, bytes) in &committed {
        assert!(
            *bytes == fresh[name],
            "captures/{name} differs from what wirelab writes now; run scripts/regen-captures"
        );
    }
}

/// Every metric the reference runs produced is one that checks and `sweep --metric` may name.
#[test]
fn every_measured_metric_is_a_known_metric() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures");
    for lab in common::REFERENCE_LABS {
        let t = common::lab_timeline(&dir, lab);
        for s in t["scenarios"].as_array().unwrap() {
            for name in s["metrics"].as_object().unwrap().keys() {
                assert!(
                    wirelab::timeline::METRICS.contains(&name.as_str()),
                    "{lab}/{}: metric `{name}` missing from METRICS",
                    s["name"]
                );
            }
        }
    }
}
