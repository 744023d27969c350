//! The crate's layers import downward only: the model (what the file says,
//! resolved) imports neither the BGP analysis nor the static analysis nor
//! the resolver; the BGP analysis, derived from the model, imports neither
//! the static analysis nor the resolver; the resolver (which calls the BGP
//! analysis to put its routes into the model) imports neither the static
//! analysis nor the CloudFormation importer, which sits above it. Read from
//! the sources, so a new `use` that climbs a layer fails here with its file
//! and line.

use std::path::{Path, PathBuf};

/// Each module and the modules of this crate it must not name outside its
/// tests.
const FORBIDDEN: &[(&str, &[&str])] = &[
    (
        "model",
        &[
            "bgp",
            "analysis",
            "resolve",
            "cfn",
            "format",
            "graph",
            "synth",
            "synth_lab",
        ],
    ),
    ("bgp", &["analysis", "resolve", "cfn", "format", "graph"]),
    ("analysis", &["resolve", "cfn", "format", "graph"]),
    ("resolve", &["analysis", "cfn", "graph"]),
    ("cfn", &["analysis", "graph"]),
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The `.rs` files of module `name`: `name.rs` and everything under
/// `name/`, sorted.
fn files_of(name: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let single = src().join(format!("{name}.rs"));
    if single.is_file() {
        out.push(single);
    }
    let mut dirs = vec![src().join(name)];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Whether a file holds only tests (`tests.rs`, `*_tests.rs`).
fn is_test_file(p: &Path) -> bool {
    let stem = p.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    stem == "tests" || stem.ends_with("_tests")
}

/// The modules of this crate that `code` names through `crate::`, with the
/// 1-based line of each mention: `crate::bgp::X` and each item of
/// `crate::{bgp, model::Y}`. Comments and the items under `#[cfg(test)]`
/// (a `mod tests { .. }`, a `mod tests;`, a test-only `use`) are left out.
fn crate_modules_named(code: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut text = String::new();
    let mut line_of = Vec::new();
    // inside a test-only item: its brace depth, and whether it opened one
    let mut test_item: Option<(i32, bool)> = None;
    for (n, line) in code.lines().enumerate() {
        let code_part = match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        };
        if let Some((depth, opened)) = test_item.as_mut() {
            for c in code_part.chars() {
                match c {
                    '{' => {
                        *depth += 1;
                        *opened = true;
                    }
                    '}' => *depth -= 1,
                    _ => {}
                }
            }
            let ended = if *opened {
                *depth <= 0
            } else {
                code_part.trim_end().ends_with(';')
            };
            if ended {
                test_item = None;
            }
            continue;
        }
        if code_part.trim_start().starts_with("#[cfg(test)]") {
            test_item = Some((0, false));
            continue;
        }
        for c in code_part.chars().chain(std::iter::once('\n')) {
            text.push(c);
            line_of.extend(std::iter::repeat_n(n + 1, c.len_utf8()));
        }
    }
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut from = 0;
    while let Some(i) = text[from..].find("crate::") {
        let at = from + i + "crate::".len();
        let rest = &text[at..];
        if let Some(group) = rest.strip_prefix('{') {
            // the top-level names of the group
            let mut depth = 0usize;
            let mut start = true;
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => start = true,
                    c if start && !c.is_whitespace() => {
                        start = false;
                        let name = ident(&group[j..]);
                        if !name.is_empty() {
                            out.push((line_of[at + 1 + j], name));
                        }
                    }
                    _ => {}
                }
            }
        } else {
            let name = ident(rest);
            if !name.is_empty() {
                out.push((line_of[at], name));
            }
        }
        from = at;
    }
    out
}

/// Every `file:line: module names other` that breaks [`FORBIDDEN`].
fn violations() -> Vec<String> {
    let mut out = Vec::new();
    for (module, forbidden) in FORBIDDEN {
        let files = files_of(module);
        assert!(!files.is_empty(), "no sources for module `{module}`");
        for file in files.iter().filter(|f| !is_test_file(f)) {
            let code = std::fs::read_to_string(file).expect("a readable source file");
            for (line, named) in crate_modules_named(&code) {
                if forbidden.contains(&named.as_str()) {
                    out.push(format!(
                        "{}:{line}: `{module}` names `crate::{named}`",
                        file.display()
                    ));
                }
            }
        }
    }
    out
}

#[test]
fn no_module_imports_a_layer_above_it() {
    let v = violations();
    assert!(
        v.is_empty(),
        "imports that climb a layer:\n{}",
        v.join("\n")
    );
}

#[test]
fn a_climbing_import_is_seen_in_each_form() {
    let code = "use crate::bgp::BgpReport;\n\
                use crate::{model::Topology,\n    analysis::{reach, Target}};\n\
                // crate::resolve in a comment\n\
                fn f() -> crate::traffic::PortRange { todo!() }\n\
                #[cfg(test)]\nuse crate::cfn::Value;\n\
                #[cfg(test)]\nmod tests {\n    use crate::resolve::fixture;\n}\n\
                use crate::graph::Graph;\n";
    assert_eq!(
        crate_modules_named(code),
        [
            (1, "bgp".to_string()),
            (2, "model".to_string()),
            (3, "analysis".to_string()),
            (5, "traffic".to_string()),
            (12, "graph".to_string()),
        ]
    );
}
