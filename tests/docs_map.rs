//! The project's maps follow its files: every source path the README,
//! BENCHMARKS.md and `docs/` name is there, and every source file of the
//! simulator (`sim/src`) and of the model (`topology/src`) is named in the
//! README's map ("What is here"). A file moved, renamed or added without
//! its line fails here, with the place to fix. Reads files only: no root.

use std::path::{Path, PathBuf};

/// The workspace root.
fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Where a path is looked for in the documents: the crates' sources and
/// tests, and the root crate's tests (its `src/` is left out: the
/// documents also quote other projects' `src/` files).
const PREFIXES: &[&str] = &[
    "sim/src/",
    "sim/tests/",
    "topology/src/",
    "topology/tests/",
    "gateway/src/",
    "gateway/tests/",
    "fuzz/src/",
    "tests/",
];

/// The folders whose every source file the README's map names.
const MAPPED: &[&str] = &["sim/src", "topology/src"];

/// The documents that name source paths: the README, BENCHMARKS.md and
/// every page of `docs/`.
fn documents() -> Vec<PathBuf> {
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .expect("docs/ is readable")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    docs.insert(0, root().join("BENCHMARKS.md"));
    docs.insert(0, root().join("README.md"));
    docs
}

/// Whether `c` may be part of a path.
fn path_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/')
}

/// The source paths a line names: each starts with one of [`PREFIXES`]
/// after a character that cannot be in a path, and runs to the first that
/// cannot. A pattern (`tests/sim_lab*.rs`) is not a path.
fn paths_in(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    for prefix in PREFIXES {
        for (at, _) in line.match_indices(prefix) {
            if line[..at].chars().next_back().is_some_and(path_char) {
                continue;
            }
            let rest = &line[at..];
            let end = rest.find(|c: char| !path_char(c)).unwrap_or(rest.len());
            if rest[end..].starts_with('*') {
                continue;
            }
            let path = rest[..end].trim_end_matches(['.', ',']);
            out.push(path.to_string());
        }
    }
    out
}

#[test]
fn every_source_path_the_docs_name_exists() {
    let mut missing = Vec::new();
    for doc in documents() {
        let text =
            std::fs::read_to_string(&doc).unwrap_or_else(|e| panic!("{}: {e}", doc.display()));
        let name = doc.strip_prefix(root()).unwrap_or(&doc).display();
        for (n, line) in text.lines().enumerate() {
            for path in paths_in(line) {
                if !root().join(&path).exists() {
                    missing.push(format!("{name}:{}: {path}", n + 1));
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "paths named in the documents that are not in the repository:\n{}",
        missing.join("\n")
    );
}

/// The README's map: its "What is here" section.
fn readme_map() -> String {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let start = readme
        .find("## What is here")
        .expect("the README has a section \"What is here\"");
    let rest = &readme[start + 2..];
    let end = rest.find("\n## ").map_or(rest.len(), |i| i + 1);
    rest[..end].to_string()
}

/// The source files under `dir`, recursively, without the crate root and
/// test files.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("a readable source folder") {
        let p = e.expect("a directory entry").path();
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if p.is_dir() {
            if name != "tests" {
                sources(&p, out);
            }
        } else if name.ends_with(".rs")
            && name != "lib.rs"
            && name != "tests.rs"
            && !name.ends_with("_tests.rs")
            && !name.starts_with("test_")
        {
            out.push(p);
        }
    }
}

/// Whether `map` names `word` as a whole word (not inside a longer name).
fn names_word(map: &str, word: &str) -> bool {
    map.match_indices(word).any(|(at, _)| {
        let before = map[..at].chars().next_back();
        let after = map[at + word.len()..].chars().next();
        let inside = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        !inside(before) && !inside(after)
    })
}

/// Whether the map names a source file: `name.rs` (or `name`, as the map
/// lists modules), or for a `mod.rs` its folder (`name/`).
fn named(map: &str, file: &Path) -> bool {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if name == "mod.rs" {
        let dir = file
            .parent()
            .and_then(Path::file_name)
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        return map.contains(&format!("{dir}/"));
    }
    names_word(map, name.trim_end_matches(".rs"))
}

#[test]
fn every_source_file_of_the_simulator_and_the_model_is_in_the_readme_map() {
    let map = readme_map();
    let mut files = Vec::new();
    for dir in MAPPED {
        sources(&root().join(dir), &mut files);
    }
    files.sort();
    assert!(
        files.len() > 50,
        "{} source files: the walk failed",
        files.len()
    );
    let missing: Vec<String> = files
        .iter()
        .filter(|f| !named(&map, f))
        .map(|f| f.strip_prefix(root()).unwrap_or(f).display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "source files the README's map (\"What is here\") does not name; add each to its folder's line:\n{}",
        missing.join("\n")
    );
}

#[test]
fn a_path_in_a_line_is_found_and_a_pattern_or_a_longer_path_is_not() {
    assert_eq!(
        paths_in("in `sim/src/render/firewall.rs`, and tests/sim_lab.rs."),
        ["sim/src/render/firewall.rs", "tests/sim_lab.rs"]
    );
    // `topology/tests/` is found once, as itself; a pattern is skipped
    assert_eq!(
        paths_in("`topology/tests/layers.rs` and `tests/sim_lab*.rs`"),
        ["topology/tests/layers.rs"]
    );
    assert!(names_word("`text.rs` and `vpc`", "vpc"));
    assert!(!names_word("`vpc_routes.rs`", "vpc"));
}
