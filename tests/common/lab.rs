//! Labs of the simulator for `sim_lab.rs` and its modules: built by the
//! library ([`lab_of`], [`example_lab`]) or by `vifgate sim` from the
//! command line ([`cli`], [`cli_lab`]), on the example topology unless a
//! test gives its own; what more than one of those files asks of a running
//! lab.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use sim::layout;
use sim::ops::lab::{Lab, LabOptions};
use sim::plan::LinkKind;
use topology::analysis::{self, Service, Target, Verdict};

use super::{text, vifgate};

/// The example topology, relative to the package root.
pub const EXAMPLE: &str = "examples/yeohaengjigi.toml";

/// Whether labs can be built here (root, TUN, iproute2, nft, ping).
pub fn ready(test: &str) -> bool {
    super::can_run(test) && super::need_tool("nft") && super::need_tool("ping")
}

/// Whether BIRD is here too (BGP in the lab).
pub fn bird_ready(test: &str) -> bool {
    ready(test) && super::need_bird()
}

/// The package root, where [`cli`] runs.
pub fn root_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The example topology's path.
pub fn example() -> PathBuf {
    root_dir().join(EXAMPLE)
}

/// The example's text.
pub fn example_text() -> String {
    std::fs::read_to_string(example()).expect("the example")
}

/// Lab options with the vifgate binary under test.
pub fn opts() -> LabOptions {
    LabOptions {
        vifgate: Some(PathBuf::from(vifgate())),
        ..LabOptions::default()
    }
}

/// A lab of a topology file's text (`name` names it), built by the
/// library.
pub fn lab_of(name: &str, text: &str) -> Lab {
    Lab::from_toml(name, text, &opts()).unwrap_or_else(|e| panic!("lab up: {e}"))
}

/// A lab of the example, built by the library.
pub fn example_lab() -> Lab {
    Lab::from_file_with(example(), &opts()).unwrap_or_else(|e| panic!("lab up: {e}"))
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A lab name unique to this process, for the command-line tests.
pub fn cli_lab() -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = format!("ct{}-{n}", std::process::id());
    assert!(layout::valid_lab_name(&name), "{name}");
    name
}

/// Runs `vifgate ARGS` from the package root.
pub fn cli(args: &[&str]) -> Output {
    Command::new(vifgate())
        .args(args)
        .current_dir(root_dir())
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("vifgate {args:?}: {e}"))
}

/// `vifgate ARGS`, which must succeed.
pub fn cli_ok(args: &[&str]) -> Output {
    let o = cli(args);
    assert!(o.status.success(), "vifgate {args:?}: {}", text(&o));
    o
}

/// The analysis's verdict on `from -> to` for a service, in the lab's
/// topology.
pub fn static_verdict(lab: &Lab, from: &str, to: &str, s: Service) -> Verdict {
    let t = lab.topology();
    let a = t.node_by_name(from).expect("from node");
    let b = t.node_by_name(to).expect("to node");
    analysis::reach(t, a, Target::Node(b), s).verdict
}

/// The joins name of the example's link of a kind (`dx-vif`, `vpn-backup`).
pub fn link_name(lab: &Lab, kind: LinkKind) -> String {
    lab.plan()
        .links
        .iter()
        .find(|l| l.kind == kind)
        .map(|l| l.joins.1.clone())
        .unwrap_or_else(|| panic!("no {kind:?} link in the plan"))
}

/// The lines of lab `lab`'s start-command logs of `node` (its web server's
/// request log) that hold `request` (e.g. `" HTTP/1.1\""`: HAProxy's
/// health checks are HTTP/1.0, so they are left out); 0 without a state
/// directory.
pub fn served(lab: &str, node: &str, request: &str) -> usize {
    let Ok(entries) = std::fs::read_dir(layout::state_dir(lab)) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| {
            let n = e.file_name().to_string_lossy().to_string();
            n.starts_with(&format!("start-{node}-")) && n.ends_with(".log")
        })
        .map(|e| {
            std::fs::read_to_string(e.path())
                .unwrap_or_default()
                .lines()
                .filter(|l| l.contains(request))
                .count()
        })
        .sum()
}
