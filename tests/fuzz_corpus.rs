//! CI replays the fuzz corpora, it does not fuzz: every file of
//! `fuzz/corpus/TARGET/` goes through the very function the fuzz target
//! `TARGET` calls (`fuzz/src/targets.rs`, compiled here too). A panic on
//! any file fails the test, naming the file. `scripts/fuzz.sh` fuzzes.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

#[path = "../fuzz/src/targets.rs"]
mod targets;

/// Each target's committed corpus holds at least this many inputs: fewer
/// means seeds were lost.
const MIN_INPUTS: usize = 4;

#[test]
fn every_fuzz_corpus_input_runs_through_its_target_without_a_panic() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let mut failures = Vec::new();
    for (name, target) in targets::TARGETS {
        let dir = root.join(name);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
            .map(|e| e.expect("a directory entry").path())
            .collect();
        files.sort();
        assert!(
            files.len() >= MIN_INPUTS,
            "{}: {} inputs, expected at least {MIN_INPUTS}",
            dir.display(),
            files.len()
        );
        for file in files {
            let data = std::fs::read(&file)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
            if catch_unwind(AssertUnwindSafe(|| target(&data))).is_err() {
                failures.push(file.display().to_string());
            }
        }
    }
    assert!(
        failures.is_empty(),
        "fuzz inputs that panicked:\n{}",
        failures.join("\n")
    );
}
