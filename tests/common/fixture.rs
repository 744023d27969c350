//! A test's input file that lives in the repository (`examples/`,
//! `tests/fixtures/`): present, it is used; absent, the test fails under
//! `CI=true` and is skipped elsewhere, saying which path is missing. The
//! one helper for this, shared by the workspace's test crates (the
//! topology crate's tests include this file by path).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// Whether the tests run in CI (`CI=true`), where nothing may be skipped.
pub fn on_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true"))
}

/// What to do about a fixture at `path`, given whether it exists and
/// whether this is CI: `Ok(())` to use it, `Err(message)` to skip with
/// the message; panics (the test fails) under CI.
pub fn decide(path: &Path, exists: bool, ci: bool) -> Result<(), String> {
    if exists {
        return Ok(());
    }
    let message = format!(
        "fixture {} is missing (the repository's examples/ and tests/fixtures/ hold every fixture)",
        path.display()
    );
    if ci {
        panic!("{message}; under CI=true a missing fixture fails the test");
    }
    Err(format!("skipped: {message}"))
}

/// The fixture at `path` (a file or a directory, as the test names it), or
/// `None` when it is absent outside CI: the test returns at once, having
/// printed which path was missing. Under `CI=true` an absent fixture
/// panics, so the test fails instead of skipping.
pub fn fixture(path: impl AsRef<Path>) -> Option<PathBuf> {
    let path = path.as_ref();
    match decide(path, path.exists(), on_ci()) {
        Ok(()) => Some(path.to_path_buf()),
        Err(message) => {
            eprintln!("{message}");
            None
        }
    }
}

/// Whether every one of `paths` is there ([`fixture`] of each, in order:
/// the first absent one fails the test under CI, or is reported as the
/// reason the test is skipped).
pub fn fixtures<P: AsRef<Path>>(paths: &[P]) -> bool {
    paths.iter().all(|p| fixture(p).is_some())
}
