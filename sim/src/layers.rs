//! The simulator's layers import downward only: `layout`, `kernel` and
//! `render::names` at the bottom, then the pure session list (`bgp::names`, `bgp::sessions`),
//! the renderers, the plan, `apply`, and the operations at the top. The
//! test reads the sources under `sim/src` and fails on any `crate::` path a
//! layer may not use (test code is left out: a test may bring a whole lab
//! up). The pure layers (the plan, the renderers, the session list) are
//! also checked for system calls.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Each layer (a module path prefix) and what its code may import besides
/// itself. The longest prefix names a file's layer; a module not listed is
/// not checked.
const LAYERS: &[(&str, &[&str])] = &[
    ("layout", &[]),
    ("kernel", &[]),
    // how a topology name is written in each configuration language: used
    // by the session names as by the renderers
    ("render::names", &[]),
    // a group's live capacity and metrics, as values (`scaling::run`, at
    // the top, is not checked, as `ops` is not)
    ("scaling::capacity", &[]),
    ("scaling::metrics", &["haproxy_stat"]),
    // the per-instance metrics: counters read from the kernel
    ("scaling::instance_metrics", &["kernel", "scaling::metrics"]),
    // HAProxy's `show stat` read by column names
    ("haproxy_stat", &[]),
    ("scaling::replace", &["plan"]),
    ("bgp::names", &["layout", "render::names"]),
    ("bgp::sessions", &["bgp::names", "layout", "render::names"]),
    ("render", &["bgp::names", "bgp::sessions", "layout"]),
    (
        "plan",
        &[
            "render",
            "layout",
            "kernel",
            "bgp::names",
            "bgp::sessions",
            "agent::spec",
        ],
    ),
    (
        "apply",
        &[
            "plan",
            "render",
            "layout",
            "kernel",
            "bgp",
            "agent",
            "probe",
            "scaling::capacity",
        ],
    ),
];

/// The layers that make no system call: no file, process, environment or
/// socket in their code (their tests may).
const PURE: &[&str] = &[
    "plan",
    "render",
    "bgp::names",
    "bgp::sessions",
    "scaling::capacity",
    "scaling::metrics",
    "scaling::replace",
    "haproxy_stat",
];

/// What a pure layer's code may not name.
const IO: &[&str] = &[
    "std::fs",
    "std::process",
    "std::env",
    "std::net::Tcp",
    "std::net::Udp",
    "tokio::",
];

/// Every system call a pure layer's `text` names, as `line: path`.
fn io_in(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (n, line) in library_code(text).lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        for io in IO.iter().filter(|io| code.contains(*io)) {
            out.push(format!("{}: {io}", n + 1));
        }
    }
    out
}

/// A source file's module path (`plan/bird.rs` is `plan::bird`).
fn module_of(rel: &Path) -> String {
    let mut parts: Vec<String> = rel
        .with_extension("")
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts.join("::")
}

/// Whether module path `path` is `prefix` or inside it.
fn within(path: &str, prefix: &str) -> bool {
    path == prefix || path.starts_with(&format!("{prefix}::"))
}

/// The code of a file that is not test code: an inline `#[cfg(test)]`
/// module and everything after it is cut.
fn library_code(text: &str) -> &str {
    let mut at = 0;
    while let Some(i) = text[at..].find("#[cfg(test)]") {
        let start = at + i;
        let rest = text[start + "#[cfg(test)]".len()..].trim_start();
        if rest.starts_with("mod ") && rest.lines().next().is_some_and(|l| l.ends_with('{')) {
            return &text[..start];
        }
        at = start + 1;
    }
    text
}

/// Every `crate::` path in the code of `text` a module of `layer` may not
/// use, as `line: path`.
fn violations(layer: &str, allowed: &[&str], text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (n, line) in library_code(text).lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        for (i, _) in code.match_indices("crate::") {
            let path: String = code[i + "crate::".len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':' || *c == '{')
                .collect();
            let path = path.trim_end_matches(':');
            let ok = !path.starts_with('{')
                && (within(path, layer)
                    || allowed.iter().any(|a| within(path, a))
                    // a function of the crate root (`crate::example()`)
                    || !path.contains("::") && code[i..].contains(&format!("{path}(")));
            if !ok {
                out.push(format!("{}: crate::{path}", n + 1));
            }
        }
    }
    out
}

/// The `.rs` files under `dir`, recursively, without test files.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("sim/src is readable")
        .map(|e| e.expect("a directory entry").path())
        .collect();
    entries.sort();
    for p in entries {
        let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs")
            && !name.is_some_and(|n| n == "tests.rs" || n.starts_with("test_"))
        {
            out.push(p);
        }
    }
}

/// What the sources under `root` import against [`LAYERS`], one line per
/// forbidden path; empty when the layers import downward only.
fn layer_report(root: &Path) -> String {
    let mut files = Vec::new();
    sources(root, &mut files);
    let mut report = String::new();
    for f in files {
        let rel = f.strip_prefix(root).expect("under the root");
        let module = module_of(rel);
        let Some((layer, allowed)) = LAYERS
            .iter()
            .filter(|(l, _)| within(&module, l))
            .max_by_key(|(l, _)| l.len())
        else {
            continue;
        };
        let text = std::fs::read_to_string(&f).expect("a source file");
        for v in violations(layer, allowed, &text) {
            let _ = writeln!(
                report,
                "sim/src/{}:{v} ({layer} imports upward)",
                rel.display()
            );
        }
        if PURE.contains(layer) {
            for v in io_in(&text) {
                let _ = writeln!(report, "sim/src/{}:{v} ({layer} is pure)", rel.display());
            }
        }
    }
    report
}

/// What `layer` may import besides itself.
fn allowed(layer: &str) -> &'static [&'static str] {
    LAYERS
        .iter()
        .find(|(l, _)| *l == layer)
        .map(|(_, a)| *a)
        .expect("a layer of LAYERS")
}

#[test]
fn the_simulators_layers_import_downward_only() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let report = layer_report(&root);
    assert!(report.is_empty(), "{report}");
}

#[test]
fn a_system_call_in_a_pure_layer_is_found() {
    let render = "use std::fs;\nfn f() -> String { std::env::var(\"X\").unwrap_or_default() }\n\
                  #[cfg(test)]\nmod tests {\n    fn t() { std::fs::read(\"x\").ok(); }\n}\n";
    assert_eq!(io_in(render), ["1: std::fs", "2: std::env"]);
}

#[test]
fn an_upward_import_is_found() {
    let plan = "use crate::layout::ns_token;\nuse crate::apply::state::LabState;\n";
    assert_eq!(
        violations("plan", allowed("plan"), plan),
        ["2: crate::apply::state::LabState"]
    );
    // a doc link or a comment is no import; test code is not checked
    let render = "//! see [`crate::plan::Plan`]\nfn f() {} // crate::apply\n\
                  #[cfg(test)]\nmod tests {\n    use crate::ops::lab::Lab;\n}\n";
    assert!(violations("render", allowed("render"), render).is_empty());
    // a grouped import is refused: each path must be checkable
    assert_eq!(
        violations("render", allowed("render"), "use crate::{layout, plan};\n"),
        ["1: crate::{layout"]
    );
    assert!(violations(
        "bgp::sessions",
        allowed("bgp::sessions"),
        "use crate::bgp::names::x;\n"
    )
    .is_empty());
    assert_eq!(
        violations(
            "bgp::sessions",
            allowed("bgp::sessions"),
            "use crate::bgp::live::x;\n"
        ),
        ["1: crate::bgp::live::x"]
    );
}
