//! The corpus of bad topologies in `tests/bad/`: each `<name>.toml` has one
//! mistake, and `<name>.expected` holds the exact headlines
//! (`file:line:col: severity: message`) it must produce, one per line, in
//! order. Files that only raise warnings still load; their warnings are
//! compared the same way.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The corpus is meant to cover every check; fewer files means some were lost.
const MIN_CASES: usize = 20;

/// Headlines as the library reports them, plus problems with the
/// diagnostics themselves (a placed diagnostic without `expected` or `hint`).
fn actual(path: &Path) -> (Vec<String>, Vec<String>) {
    let diags = match topology::load(path) {
        Ok(loaded) => loaded.warnings.0,
        Err(diags) => diags.0,
    };
    let mut problems = Vec::new();
    for d in &diags {
        let nonempty = |s: &Option<String>| s.as_deref().is_some_and(|s| !s.trim().is_empty());
        if d.line != 0 && !nonempty(&d.expected) && !nonempty(&d.hint) {
            problems.push(format!(
                "diagnostic has neither `expected` nor `hint`: {}",
                d.headline()
            ));
        }
    }
    (diags.iter().map(|d| d.headline()).collect(), problems)
}

fn expected(path: &Path) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(text
        .lines()
        .map(|l| l.trim_end().to_string())
        .filter(|l| !l.is_empty())
        .collect())
}

/// A line-by-line diff: `-` expected only, `+` produced only, ` ` both.
fn diff(expected: &[String], actual: &[String]) -> String {
    // longest common subsequence, small inputs
    let (n, m) = (expected.len(), actual.len());
    let mut lcs = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if expected[i] == actual[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut out = String::new();
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && expected[i] == actual[j] {
            let _ = writeln!(out, "      {}", expected[i]);
            i += 1;
            j += 1;
        } else if i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1]) {
            let _ = writeln!(out, "    - {}", expected[i]);
            i += 1;
        } else {
            let _ = writeln!(out, "    + {}", actual[j]);
            j += 1;
        }
    }
    out
}

#[test]
fn bad_topologies_produce_their_expected_diagnostics() {
    // Headlines carry the path as given; the `.expected` files are written
    // relative to the package root, where cargo runs integration tests.
    std::env::set_current_dir(env!("CARGO_MANIFEST_DIR")).expect("cd to the package root");
    let dir = Path::new("tests").join("bad");
    let mut tomls: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    tomls.sort();

    let mut failures = Vec::new();
    let mut checked = 0;
    for toml in &tomls {
        let exp_path = toml.with_extension("expected");
        let want = match expected(&exp_path) {
            Ok(w) => w,
            Err(e) => {
                failures.push(format!("{}: no expected diagnostics: {e}", toml.display()));
                continue;
            }
        };
        checked += 1;
        let (got, problems) = actual(toml);
        if want.is_empty() {
            failures.push(format!(
                "{}: {} is empty; every bad topology must produce a diagnostic",
                toml.display(),
                exp_path.display()
            ));
        }
        if got != want {
            failures.push(format!(
                "{}: diagnostics differ from {} (- expected, + produced):\n{}",
                toml.display(),
                exp_path.display(),
                diff(&want, &got)
            ));
        }
        for p in problems {
            failures.push(format!("{}: {p}", toml.display()));
        }
    }
    // an .expected without its .toml is a case silently lost
    for entry in std::fs::read_dir(&dir).expect("list tests/bad") {
        let p = entry.expect("directory entry").path();
        if p.extension().is_some_and(|x| x == "expected") && !p.with_extension("toml").exists() {
            failures.push(format!("{}: no matching .toml", p.display()));
        }
    }
    if checked < MIN_CASES {
        failures.push(format!(
            "only {checked} bad topologies were checked in {}; expected at least {MIN_CASES}",
            dir.display()
        ));
    }
    assert!(
        failures.is_empty(),
        "{} problem(s) in the bad-topology corpus:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    eprintln!("{checked} bad topologies checked");
}
