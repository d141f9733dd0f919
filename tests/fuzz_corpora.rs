//! Replays every committed fuzz input (`fuzz/corpus/<target>/*`) through its target's body in
//! `wirelab::fuzz_targets`, on stable and without libFuzzer, so every input that once crashed
//! stays checked. A target without a corpus, a corpus without a target, and a target that
//! cargo-fuzz does not build all fail here, so a renamed target cannot skip silently.
//! And fuzz/Cargo.lock must pin what the main Cargo.lock pins, so the fuzzers build against
//! the same dependency versions.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use wirelab::fuzz_targets::TARGETS;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

fn names_in(dir: &Path, strip: &str) -> BTreeSet<String> {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    entries
        .map(|e| e.expect("a directory entry").file_name().to_string_lossy().into_owned())
        .filter_map(|n| n.strip_suffix(strip).map(str::to_string))
        .collect()
}

#[test]
fn every_target_has_a_corpus_and_a_cargo_fuzz_binary() {
    let known: BTreeSet<String> = TARGETS.iter().map(|(n, _)| n.to_string()).collect();
    assert_eq!(names_in(&fuzz_dir().join("corpus"), ""), known, "fuzz/corpus/ against fuzz_targets::TARGETS");
    assert_eq!(names_in(&fuzz_dir().join("fuzz_targets"), ".rs"), known, "fuzz/fuzz_targets/ against TARGETS");
    let manifest = std::fs::read_to_string(fuzz_dir().join("Cargo.toml")).expect("fuzz/Cargo.toml");
    for name in &known {
        assert!(manifest.contains(&format!("name = \"{name}\"")), "fuzz/Cargo.toml has no [[bin]] {name}");
    }
}

/// The (name, version) of every package in a Cargo.lock.
fn locked(path: &Path) -> BTreeSet<(String, String)> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = BTreeSet::new();
    let mut name = None;
    for line in text.lines() {
        if let Some(n) = line.strip_prefix("name = ") {
            name = Some(n.trim_matches('"').to_string());
        } else if let (Some(v), Some(n)) = (line.strip_prefix("version = "), name.take()) {
            out.insert((n, v.trim_matches('"').to_string()));
        }
    }
    out
}

/// fuzz/ is a workspace of its own, with its own committed Cargo.lock: the fuzzers build the
/// main crate against the same dependency versions as everything else. A package both lock
/// files have is there in the same version(s); only the fuzz crate's own (libfuzzer-sys and
/// what it needs) are fuzz/'s alone.
#[test]
fn fuzz_cargo_lock_agrees_with_the_main_one() {
    let main = locked(&Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.lock"));
    let fuzz = locked(&fuzz_dir().join("Cargo.lock"));
    let main_names: BTreeSet<&str> = main.iter().map(|(n, _)| n.as_str()).collect();
    let differ: Vec<String> = fuzz
        .iter()
        .filter(|(n, v)| main_names.contains(n.as_str()) && !main.contains(&(n.clone(), v.clone())))
        .map(|(n, v)| format!("{n} {v}"))
        .collect();
    assert!(
        differ.is_empty(),
        "fuzz/Cargo.lock has versions the main Cargo.lock does not: {} (refresh it: cp Cargo.lock \
         fuzz/Cargo.lock && (cd fuzz && cargo check --bins), and commit it)",
        differ.join(", ")
    );
}

/// One test per target, so they run in parallel and a failure names its target and file.
fn replay(target: &str) {
    let (_, run) = TARGETS.iter().find(|(n, _)| *n == target).expect("a known target");
    let dir = fuzz_dir().join("corpus").join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e} (every target needs a corpus)", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} is empty", dir.display());
    let start = Instant::now();
    for file in &files {
        let data = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let outcome = std::panic::catch_unwind(|| run(&data));
        assert!(outcome.is_ok(), "fuzz target {target} fails on {}", file.display());
    }
    eprintln!("{target}: {} inputs in {:.2?}", files.len(), start.elapsed());
}

macro_rules! replay_tests {
    ($($name:ident),* $(,)?) => {
        $(#[test] fn $name() { replay(stringify!($name)); })*
        /// Every target of `TARGETS` has a replay test above.
        #[test]
        fn every_target_is_replayed() {
            let replayed: BTreeSet<&str> = [$(stringify!($name)),*].into_iter().collect();
            let known: BTreeSet<&str> = TARGETS.iter().map(|(n, _)| *n).collect();
            assert_eq!(replayed, known);
        }
    };
}

replay_tests!(
    tcp_flow,
    h2_frames,
    netem_words,
    durations_and_sizes,
    lab_toml,
    offload_segmenter,
    tls_records,
    quic_header,
    ipv4_packet,
    network,
    wire_frame,
    capture_file,
);
