//! The committed reference outputs in captures/reference/ are exactly what `wirelab run handshake`
//! and the other labs in `common::REFERENCE_LABS` produce with default settings
//! (scripts/regen-captures makes them). Runs write into captures/ itself, never into reference/.

mod common;

use std::path::Path;

use tempfile::TempDir;

#[test]
fn committed_captures_match_a_fresh_run() {
    let committed_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures").join("reference");
    let committed = if committed_dir.is_dir() { common::files_in(&committed_dir) } else { Default::default() };
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
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures").join("reference");
    for lab in common::REFERENCE_LABS {
        let t = common::lab_timeline(&dir, lab);
        for s in t["scenarios"].as_array().unwrap() {
            for name in s["metrics"].as_object().unwrap().keys() {
                assert!(
                    wirelab::metrics::NAMES.contains(&name.as_str()),
                    "{lab}/{}: metric `{name}` missing from wirelab::metrics::NAMES",
                    s["name"]
                );
            }
        }
    }
}

/// A run with the default --out writes into captures/ beside, never into, captures/reference/.
#[test]
fn the_default_out_leaves_the_reference_files_alone() {
    let dir = tempfile::TempDir::new().unwrap();
    let reference = dir.path().join("captures").join("reference");
    std::fs::create_dir_all(&reference).unwrap();
    std::fs::write(reference.join("handshake.json"), "reference").unwrap();
    let out =
        common::wirelab().args(["run", "handshake", "--scenario", "pooled"]).current_dir(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read_to_string(reference.join("handshake.json")).unwrap(), "reference");
    assert!(dir.path().join("captures").join("handshake.json").exists());
}
