//! Labs of the example brought up and edited through the command line
//! (`vifgate sim up`, `sim apply`), for the tests of `sim apply` and of
//! its crashes: the example's text and one-line edits of it, files of
//! this run, and a lab's digest compared with another's.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use sim::apply::state::read_state;
use sim::ops::inspect::LabDigest;

use super::{text, vifgate};

/// The example topology's text.
pub fn example_text() -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/yeohaengjigi.toml");
    std::fs::read_to_string(p).expect("the example")
}

/// `text` with `from` replaced by `to` (which must be there).
pub fn edit(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "the example has no `{from}`");
    text.replacen(from, to, 1)
}

/// The example's `[[sim.start]]` block: Python's HTTP server on the web
/// hosts.
pub const EXAMPLE_WEB_SERVERS: &str = "[[sim.start]]               # real web servers on the Auto Scaling instances\nnodes = [\"web-a1\", \"web-c1\"]\ncommand = \"python3 -m http.server 80 --bind 0.0.0.0\"\ntcp_ports = [80]\n";

/// `text` (the example) without its web servers: the lab's listener
/// answers on their port 80, and sets an application cookie when asked
/// (`?set-cookie=NAME`).
pub fn without_web_servers(text: &str) -> String {
    edit(text, EXAMPLE_WEB_SERVERS, "")
}

/// The example with one more security group rule (web-sg: tcp 8080 from
/// the bastion).
pub fn with_sg_rule(text: &str) -> String {
    edit(
        text,
        "  { protocol = \"tcp\", ports = 22, sg = \"bastion-sg\" },\n",
        "  { protocol = \"tcp\", ports = 22, sg = \"bastion-sg\" },\n  { protocol = \"tcp\", ports = 8080, sg = \"bastion-sg\" },\n",
    )
}

/// A file of this run holding `text`.
pub fn file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vifgate-sim-apply-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p
}

/// `vifgate ARGS`, run to its end.
pub fn run(args: &[&str]) -> Output {
    Command::new(vifgate())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run vifgate")
}

/// `vifgate ARGS`, which must succeed.
pub fn ok(args: &[&str]) -> Output {
    let o = run(args);
    assert!(
        o.status.success(),
        "vifgate {}: {}",
        args.join(" "),
        text(&o)
    );
    o
}

/// `vifgate sim up PATH --lab LAB`, which must succeed.
pub fn up(path: &Path, lab: &str) {
    ok(&["sim", "up", &path.to_string_lossy(), "--lab", lab]);
}

/// `vifgate sim apply PATH --lab LAB`, which must succeed.
pub fn apply(path: &Path, lab: &str) -> Output {
    ok(&["sim", "apply", &path.to_string_lossy(), "--lab", lab])
}

/// `vifgate sim apply PATH --lab LAB`, started.
pub fn start_apply(path: &Path, lab: &str) -> Child {
    Command::new(vifgate())
        .args(["sim", "apply", &path.to_string_lossy(), "--lab", lab])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start vifgate sim apply")
}

/// Takes the lab down when dropped (also after a failed assertion).
pub struct Down(pub String);

impl Drop for Down {
    fn drop(&mut self) {
        let _ = run(&["sim", "down", &self.0]);
    }
}

/// The lab as read back from the kernel, with its running processes.
pub fn digest(lab: &str) -> LabDigest {
    let st = read_state(lab).expect("the lab's state");
    LabDigest::read_lab(&st).expect("read the lab back")
}

/// Asserts that lab `applied` reads back as lab `fresh`.
pub fn assert_same(applied: &str, fresh: &str, what: &str) {
    let (a, b) = (digest(applied), digest(fresh));
    let d = a.diff(&b, ("applied", "built"), 40);
    assert!(
        d.is_empty(),
        "{what}: the lab applied differs from one built:\n{}",
        d.join("\n")
    );
}
