//! A lab's life on the machine, from the command line and the library:
//! `sim down` leaves nothing (after `sim up`, after `sim up` killed by
//! SIGKILL, beside another lab), the state root (`VIFGATE_STATE_ROOT`:
//! symbolic links, a directory that holds no lab, a relative root, one
//! its files cannot name, read without root), `sim test --reuse` of a lab
//! that is not what the file says, and bad input that makes nothing.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::common::lab::{cli, cli_lab, cli_ok, example_lab, example_text, ready, EXAMPLE};
use crate::common::leftovers::{assert_gone, eventually, lab_namespaces, root_state};
use crate::common::state_root::PrivateRoot;
use crate::common::{text, vifgate};
use topology::analysis::Service;

#[test]
fn down_leaves_nothing() {
    if !ready("down_leaves_nothing") {
        return;
    }
    let lab = cli_lab();
    let dir = sim::layout::state_dir(&lab);
    assert!(lab_namespaces(&lab).is_empty());
    assert!(!dir.exists());
    let before = root_state();

    let up = cli_ok(&["sim", "up", EXAMPLE, "--lab", &lab]);
    assert!(
        String::from_utf8_lossy(&up.stdout).contains(&format!("lab `{lab}` up")),
        "{}",
        text(&up)
    );
    let planned = sim::apply::state::read_state(&lab).expect("state").plan;
    assert_eq!(lab_namespaces(&lab).len(), planned.namespaces.len());
    assert!(dir.exists());
    // nothing of the lab lands in the root namespace
    assert_eq!(root_state(), before, "sim up changed the root namespace");

    let st = cli_ok(&["sim", "status", &lab, "--json"]);
    let st: serde_json::Value = serde_json::from_slice(&st.stdout).expect("status JSON");
    assert_eq!(st[0]["status"], "up", "{st:#}");
    assert_eq!(
        st[0]["namespaces_present"].as_u64(),
        Some(planned.namespaces.len() as u64)
    );

    // exec: into a node, and a node that is not there
    cli_ok(&["sim", "exec", &lab, "office-pc", "--", "true"]);
    let o = cli(&["sim", "exec", &lab, "no-such-node", "--", "true"]);
    assert!(!o.status.success(), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("no node `no-such-node`"), "{}", text(&o));
    for node in [
        "office-pc",
        "bastion",
        "web-a1",
        "db-primary",
        "vifgate-office",
    ] {
        assert!(err.contains(node), "nodes not listed: {}", text(&o));
    }

    let down = cli_ok(&["sim", "down", &lab]);
    assert!(
        String::from_utf8_lossy(&down.stdout).contains(&format!("lab `{lab}` removed")),
        "{}",
        text(&down)
    );
    assert_gone(&lab, "after sim down");
    assert_eq!(
        root_state(),
        before,
        "the root namespace differs after down"
    );

    let again = cli_ok(&["sim", "down", &lab]);
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("nothing to remove"),
        "{}",
        text(&again)
    );
    assert_gone(&lab, "after a second sim down");
}

#[test]
fn down_after_sigkill_of_up_leaves_nothing() {
    if !ready("down_after_sigkill_of_up_leaves_nothing") {
        return;
    }
    let synth = cli_ok(&["bench", "synth", "--hosts", "200"]);
    let file = std::env::temp_dir().join(format!("vifgate-synth200-{}.toml", std::process::id()));
    std::fs::write(&file, &synth.stdout).expect("write the topology");
    let file_s = file.to_str().expect("utf-8").to_string();
    // early (namespaces being made), later (firewalls, gateways,
    // listeners being started), and a point of its own each run
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let random = 20 + u64::from(nanos % 1000);
    let mut made_something = 0;
    for ms in [50, 150, 300, 700, random] {
        let lab = cli_lab();
        let mut child = Command::new(vifgate())
            .args(["sim", "up", &file_s, "--lab", &lab])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start sim up");
        std::thread::sleep(Duration::from_millis(ms));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        if !lab_namespaces(&lab).is_empty() {
            made_something += 1;
        }
        let o = cli_ok(&["sim", "down", &lab]);
        eprintln!(
            "killed after {ms} ms: {}",
            String::from_utf8_lossy(&o.stdout).trim()
        );
        assert_gone(
            &lab,
            &format!("(sim up killed after {ms} ms) after sim down"),
        );
        // and a second down has nothing left to do
        let again = cli_ok(&["sim", "down", &lab]);
        assert!(
            String::from_utf8_lossy(&again.stdout).contains("nothing to remove"),
            "{}",
            text(&again)
        );
    }
    let _ = std::fs::remove_file(&file);
    assert!(
        made_something > 0,
        "no kill happened while namespaces existed: the test proved nothing"
    );
}

#[test]
fn two_labs_side_by_side() {
    if !ready("two_labs_side_by_side") {
        return;
    }
    let ssh = Service::Tcp(22);
    let a = example_lab();
    let b = example_lab();
    assert_ne!(a.name(), b.name());
    assert!(a.reaches("office-pc", "bastion", ssh));
    assert!(b.reaches("office-pc", "bastion", ssh));
    let a_name = a.name().to_string();
    let rep = a.down().expect("down");
    assert!(rep.existed && rep.namespaces > 0, "{rep:?}");
    assert_gone(&a_name, "after down");
    assert!(!lab_namespaces(b.name()).is_empty());
    assert!(b.reaches("office-pc", "bastion", ssh));
    assert!(b.reaches("web-a1", "office-pc", Service::IcmpEcho));
}

/// `vifgate sim down LAB` in a private root when dropped (also when the
/// test panics).
struct DownOnDrop<'a>(&'a PrivateRoot, String);

impl Drop for DownOnDrop<'_> {
    fn drop(&mut self) {
        let o = self.0.vifgate(&["sim", "down", &self.1]);
        if !o.status.success() {
            eprintln!("sim down {}: {}", self.1, text(&o));
        }
    }
}

/// The names in a directory, sorted.
fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("a directory")
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    names
}

#[test]
fn sim_down_follows_no_symbolic_link_out_of_a_lab() {
    if !sim::ops::lab::root_or_skip("sim_down_follows_no_symbolic_link_out_of_a_lab") {
        return;
    }
    use std::os::unix::fs::symlink;
    let p = PrivateRoot::new("down-links");
    let victim = p.victim();
    std::fs::write(victim.join("sub/precious"), "x").expect("a file to keep");

    // links inside a lab's directory: removed as links, nothing behind them
    let lab = cli_lab();
    let dir = p.root().join(&lab);
    std::fs::create_dir(&dir).expect("a lab directory");
    // its lock file, as `sim up` makes it first
    std::fs::write(dir.join("lock"), "").expect("lock file");
    symlink(&victim, dir.join("escape")).expect("link");
    symlink(victim.join("sub/precious"), dir.join("file-link")).expect("link");
    symlink("../../victim", dir.join("relative")).expect("link");
    let o = p.vifgate(&["sim", "down", &lab]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(std::fs::symlink_metadata(&dir).is_err(), "{}", text(&o));
    assert_eq!(
        std::fs::read_to_string(victim.join("sub/precious")).expect("still there"),
        "x"
    );

    // a lab directory that is itself a link: refused, nothing written or
    // removed on either side of it
    let lab = cli_lab();
    let link = p.root().join(&lab);
    symlink(&victim, &link).expect("link");
    for args in [
        vec!["sim", "down", lab.as_str()],
        vec!["sim", "exec", lab.as_str(), "x", "--", "true"],
    ] {
        let o = p.vifgate(&args);
        assert!(!o.status.success(), "{args:?}: {}", text(&o));
        assert_eq!(names_in(&victim), ["sub"], "{args:?}: {}", text(&o));
        assert!(std::fs::symlink_metadata(&link).is_ok(), "{args:?}");
    }
    let o = p.vifgate(&["sim", "down", &lab]);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("is not a directory vifgate made"),
        "{}",
        text(&o)
    );
    let mut left = vec!["keep".to_string(), lab.clone()];
    left.sort();
    assert_eq!(names_in(&p.root()), left);
}

#[test]
fn sim_down_leaves_a_directory_that_holds_no_lab() {
    if !sim::ops::lab::root_or_skip("sim_down_leaves_a_directory_that_holds_no_lab") {
        return;
    }
    // VIFGATE_STATE_ROOT pointed at a directory of other things: `sim down
    // NAME` removed any directory NAME in it
    let p = PrivateRoot::new("down-no-lab");
    let lab = cli_lab();
    let dir = p.root().join(&lab);
    std::fs::create_dir_all(dir.join("data")).expect("a directory of other things");
    std::fs::write(dir.join("data/precious"), "x").expect("a file to keep");
    let o = p.vifgate(&["sim", "down", &lab]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("holds no lab"),
        "{}",
        text(&o)
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("data/precious")).expect("still there"),
        "x"
    );
    // with the lock file `sim up` makes first, it is a lab's: removed
    std::fs::write(dir.join("lock"), "").expect("lock file");
    let o = p.vifgate(&["sim", "down", &lab]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(std::fs::symlink_metadata(&dir).is_err(), "{}", text(&o));
}

#[test]
fn a_relative_state_root_is_the_current_directorys() {
    if !sim::ops::lab::root_or_skip("a_relative_state_root_is_the_current_directorys") {
        return;
    }
    // `VIFGATE_STATE_ROOT=root` was taken for /run/vifgate/sim, everyone's
    let p = PrivateRoot::new("relative-root");
    let lab = cli_lab();
    let dir = p.root().join(&lab);
    std::fs::create_dir(&dir).expect("a lab directory");
    std::fs::write(dir.join("lock"), "").expect("lock file");
    let o = p
        .command(&["sim", "down", &lab])
        .env("VIFGATE_STATE_ROOT", "root")
        .current_dir(p.file(""))
        .output()
        .expect("vifgate runs");
    assert!(o.status.success(), "{}", text(&o));
    assert!(std::fs::symlink_metadata(&dir).is_err(), "{}", text(&o));
    assert_eq!(names_in(&p.root()), ["keep"]);
}

#[test]
fn sim_up_under_a_state_root_its_files_cannot_name_makes_nothing() {
    if !sim::ops::lab::root_or_skip("sim_up_under_a_state_root_its_files_cannot_name_makes_nothing")
    {
        return;
    }
    // the gateways refused their status sockets only once the lab's
    // namespaces and daemons were made, with a hint for a gateway's file
    // a quote in the state root: BIRD stopped at "Unterminated include"
    // once the namespaces were up
    let p = PrivateRoot::new("long-root");
    let long = p.root().join("l".repeat(90));
    let quoted = p.root().join("q\"x");
    for (root, says) in [
        (&long, "a Unix socket path has at most 107"),
        (&quoted, "has the character '\"'"),
    ] {
        std::fs::create_dir(root).expect("a state root");
        let lab = cli_lab();
        let o = p
            .command(&["sim", "up", EXAMPLE, "--lab", &lab])
            .env("VIFGATE_STATE_ROOT", root)
            .output()
            .expect("vifgate runs");
        assert!(!o.status.success(), "{}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains(says) && err.contains("give VIFGATE_STATE_ROOT another path"),
            "{}",
            text(&o)
        );
        assert!(names_in(root).is_empty(), "{}", text(&o));
        assert!(lab_namespaces(&lab).is_empty(), "{}", text(&o));
    }
}

#[test]
fn sim_status_without_root_says_it_needs_root() {
    if !sim::ops::lab::root_or_skip("sim_status_without_root_says_it_needs_root") {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let p = PrivateRoot::new("status-user");
    let lab = cli_lab();
    let dir = p.root().join(&lab);
    std::fs::create_dir(&dir).expect("a lab directory");
    // as `sim up` leaves it: root's, mode 0700
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    std::fs::write(dir.join("state.json"), "{}").expect("state");
    for d in [p.file(""), p.root()] {
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let as_nobody = |args: &[&str]| {
        p.command(args)
            .uid(65534)
            .gid(65534)
            .output()
            .expect("runs as nobody")
    };
    let o = as_nobody(&["sim", "status", &lab]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains(&format!("lab `{lab}`: unreadable"))
            && out.contains("`sim status` needs root to read a lab"),
        "{}",
        text(&o)
    );
    let o = as_nobody(&["sim", "status", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    let mine = v
        .as_array()
        .expect("a list")
        .iter()
        .find(|s| s["lab"] == lab.as_str())
        .cloned()
        .unwrap_or_else(|| panic!("{}", text(&o)));
    assert_eq!(mine["status"], "unreadable", "{}", text(&o));
}

#[test]
fn sim_test_reuse_refuses_a_lab_built_from_another_version_of_the_file() {
    let test = "sim_test_reuse_refuses_a_lab_built_from_another_version_of_the_file";
    if !ready(test) {
        return;
    }
    let p = PrivateRoot::new("reuse");
    let file = p.file("topology.toml");
    let path = file.to_str().expect("a UTF-8 path");
    let original = example_text();
    std::fs::write(&file, &original).expect("the topology");
    let lab = cli_lab();
    let o = p.vifgate(&["sim", "up", path, "--lab", &lab]);
    let _down = DownOnDrop(&p, lab.clone());
    assert!(o.status.success(), "{}", text(&o));

    // an edit of meaning: refused, naming the file and how to rebuild
    let edited = original.replacen("ports = 22,", "ports = 2222,", 1);
    assert_ne!(edited, original);
    std::fs::write(&file, &edited).expect("edit");
    let reuse = [
        "sim",
        "test",
        path,
        "--lab",
        &lab,
        "--reuse",
        "--max-cells",
        "1",
    ];
    let o = p.vifgate(&reuse);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        err.contains(&format!("lab `{lab}` is out of date for {path}"))
            && err.contains(&format!(
                "vifgate sim down {lab} && vifgate sim up {path} --lab {lab}"
            )),
        "{}",
        text(&o)
    );
    // a port the lab does not listen on: refused too
    std::fs::write(&file, &original).expect("restore");
    let mut other_ports = reuse.to_vec();
    other_ports.extend(["--ports", "22,8081"]);
    let o = p.vifgate(&other_ports);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("is out of date"),
        "{}",
        text(&o)
    );
    // links `sim link` changed: the lab is not what the file says either,
    // until they are put back
    let changed =
        |o: &Output| String::from_utf8_lossy(&o.stderr).contains("links `sim link` changed");
    let link = |args: &[&str]| {
        let mut a = vec!["sim", "link", lab.as_str(), "vifgate-office", "dx-vif"];
        a.extend(args);
        let o = p.vifgate(&a);
        assert!(o.status.success(), "{}", text(&o));
    };
    link(&["--rate", "10mbit"]);
    let o = p.vifgate(&reuse);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        changed(&o)
            && String::from_utf8_lossy(&o.stderr).contains("vifgate-office dx-vif: rate 10"),
        "{}",
        text(&o)
    );
    // back to the example's `bandwidth = "1Gbps"`: as built
    link(&["--rate", "1gbit"]);
    link(&["--down"]);
    let o = p.vifgate(&reuse);
    assert!(
        changed(&o) && String::from_utf8_lossy(&o.stderr).contains("vifgate-office dx-vif: down"),
        "{}",
        text(&o)
    );
    link(&["--up"]);
    // a comment and blank lines are not an edit, the links are as built:
    // the lab is probed
    std::fs::write(&file, format!("# reformatted\n\n{original}")).expect("comment");
    let o = p.vifgate(&reuse);
    assert!(
        !String::from_utf8_lossy(&o.stderr).contains("out of date") && !changed(&o),
        "{}",
        text(&o)
    );
    assert!(
        String::from_utf8_lossy(&o.stdout).contains(&format!("lab `{lab}` left up")),
        "{}",
        text(&o)
    );
}

#[test]
fn sim_test_reuse_refuses_a_half_built_lab() {
    let test = "sim_test_reuse_refuses_a_half_built_lab";
    if !ready(test) {
        return;
    }
    // a `sim up` killed half-way leaves a lab `building`: --reuse probed
    // it and reported 51 disagreements that were not real
    let p = PrivateRoot::new("reuse-half");
    let lab = cli_lab();
    let _down = DownOnDrop(&p, lab.clone());
    let mut up = p
        .command(&["sim", "up", EXAMPLE, "--lab", &lab])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sim up starts");
    let state = p.root().join(&lab).join("state.json");
    let recorded = eventually(Duration::from_secs(20), Duration::from_millis(5), || {
        state.exists()
    });
    up.kill().expect("kill sim up");
    let _ = up.wait();
    assert!(recorded, "sim up wrote no state");
    let o = p.vifgate(&["sim", "test", EXAMPLE, "--lab", &lab, "--reuse"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("it is not up"),
        "{}",
        text(&o)
    );
}

#[test]
fn cli_rejects_bad_input_and_leaves_nothing() {
    if !ready("cli_rejects_bad_input_and_leaves_nothing") {
        return;
    }
    // a topology with an error: file:line:col, non-zero, nothing made
    let lab = cli_lab();
    let bad = "tests/bad/aws_reserved_ip.toml";
    let o = cli(&["sim", "up", bad, "--lab", &lab]);
    assert!(!o.status.success(), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!("{bad}:18:6: error:")),
        "no file:line:col: {}",
        text(&o)
    );
    assert_gone(&lab, "after a failed sim up");

    // a bad lab name
    let o = cli(&["sim", "up", EXAMPLE, "--lab", "Bad.Name"]);
    assert!(!o.status.success(), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("bad lab name `Bad.Name`") && err.contains("a-z, 0-9"),
        "{}",
        text(&o)
    );
    assert!(lab_namespaces("Bad.Name").is_empty());
    assert!(!sim::layout::state_dir("Bad.Name").exists());

    // exec and link into a lab that is not there
    let o = cli(&["sim", "exec", &lab, "office-pc", "--", "true"]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(&format!("no lab `{lab}`")),
        "{}",
        text(&o)
    );
    let o = cli(&["sim", "link", &lab, "a", "b", "--down"]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(&format!("no lab `{lab}`")),
        "{}",
        text(&o)
    );
}
