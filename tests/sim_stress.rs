//! The lab's races, from the command line: two `vifgate sim up` of one lab
//! name at once (one builds, the other is refused and touches nothing),
//! and up/down cycles of the example with `sim up` killed (SIGKILL) at
//! random moments, after which `sim down` must leave nothing: no
//! namespace, mount, link or nftables table, process or state directory;
//! and `sim apply` killed at random moments, after which the next `sim
//! apply` completes the edit (the lab reads back as one built from the
//! edited file) or `sim down` removes the lab whole.
//!
//! Needs root (and nftables); runs for real in CI (`CI=true`, where a
//! missing capability is a failure), skips with a message elsewhere. The
//! random moments come from a seed printed at the start;
//! `VIFGATE_STRESS_SEED=N` replays a run.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::applied::{
    self, assert_same, edit, example_text, file, start_apply, up, with_sg_rule, Down,
};
use common::cases::Random;
use common::leftovers::{assert_gone, lab_namespaces, leftovers, root_state, RootState};
use common::text;
use sim::apply;
use sim::apply::state::BuildStatus;
use sim::layout;
use sim::plan;

/// Up/down cycles with a kill, after one uninterrupted cycle that
/// measures how long `sim up` takes.
const CYCLES: usize = 20;

fn ready(test: &str) -> bool {
    common::can_run(test) && common::need_tool("nft")
}

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/yeohaengjigi.toml")
}

/// A lab name of this run: `sr<pid>-<what>`.
fn lab_name(what: &str) -> String {
    let name = format!("sr{}-{what}", std::process::id());
    assert!(layout::valid_lab_name(&name), "{name}");
    name
}

/// `vifgate sim up EXAMPLE --lab LAB`, started.
fn start_up(lab: &str) -> Child {
    Command::new(common::vifgate())
        .args(["sim", "up"])
        .arg(example())
        .args(["--lab", lab])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start vifgate sim up")
}

/// `vifgate sim down LAB`, which must succeed.
fn down(lab: &str) -> Output {
    let o = Command::new(common::vifgate())
        .args(["sim", "down", lab])
        .stdin(Stdio::null())
        .output()
        .expect("run vifgate sim down");
    assert!(o.status.success(), "sim down {lab}: {}", text(&o));
    o
}

/// How far `sim up` got before it was killed, read from what it left.
fn phase(lab: &str, planned_namespaces: usize) -> &'static str {
    let dir = layout::state_dir(lab);
    if !dir.exists() {
        return "before taking the name";
    }
    let Some(st) = apply::state::read_state(lab) else {
        return "taking the name (no state file yet)";
    };
    if st.status == BuildStatus::Up {
        return "after it finished";
    }
    if !st.processes.is_empty() {
        return "starting processes";
    }
    if lab_namespaces(lab).len() < planned_namespaces {
        return "making namespaces";
    }
    "links, addresses, routes, firewalls"
}

/// What of the lab is left in the root namespace: links named like the
/// lab's interfaces and nftables tables that were not there before.
fn root_leftovers(before: &RootState, ifnames: &[String]) -> Vec<String> {
    let now = root_state();
    let mut out: Vec<String> = now
        .links
        .difference(&before.links)
        .filter(|l| ifnames.contains(l))
        .map(|l| format!("link {l} in the root namespace"))
        .collect();
    out.extend(
        now.tables
            .difference(&before.tables)
            .filter(|t| t.contains("vifgate"))
            .map(|t| format!("nftables {t} in the root namespace")),
    );
    out
}

/// Every interface name the example's lab makes.
fn lab_ifnames(lab: &str) -> Vec<String> {
    let topo = topology::load(example()).expect("example loads").topology;
    let p = plan::plan(&topo, lab, &[22]).expect("plan");
    let mut names: Vec<String> = p
        .links
        .iter()
        .flat_map(|l| [l.a.ifname.clone(), l.b.ifname.clone()])
        .chain(p.bridges.iter().map(|b| b.name.clone()))
        .chain(p.gateways.iter().map(|g| g.tun.clone()))
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Asserts nothing of the lab is left, and that no process it recorded
/// still runs (start commands do not name the state directory).
fn assert_nothing_left(
    lab: &str,
    recorded: &[sim::apply::process::ProcessRecord],
    before: &RootState,
    ifnames: &[String],
    when: &str,
) {
    assert_gone(lab, when);
    let running: Vec<String> = recorded
        .iter()
        .filter(|p| p.is_running())
        .map(|p| format!("process {} ({}) still runs", p.pid, p.what))
        .collect();
    assert!(running.is_empty(), "lab {lab} {when}: {running:?}");
    let root = root_leftovers(before, ifnames);
    assert!(root.is_empty(), "lab {lab} {when}: {root:?}");
}

#[test]
fn two_ups_of_one_lab_at_once_build_it_once() {
    if !ready("two_ups_of_one_lab_at_once_build_it_once") {
        return;
    }
    let planned = plan::plan(
        &topology::load(example()).expect("example").topology,
        "x",
        &[22],
    )
    .expect("plan")
    .namespaces
    .len();
    for round in 0..3 {
        let lab = lab_name(&format!("twice{round}"));
        let a = start_up(&lab);
        let b = start_up(&lab);
        let (pa, pb) = (a.id(), b.id());
        let oa = a.wait_with_output().expect("sim up a");
        let ob = b.wait_with_output().expect("sim up b");
        let (winner, loser, winner_pid) = match (oa.status.success(), ob.status.success()) {
            (true, false) => (oa, ob, pa),
            (false, true) => (ob, oa, pb),
            _ => {
                down(&lab);
                panic!(
                    "round {round}: exactly one sim up must build lab {lab}:\n{}\n{}",
                    text(&oa),
                    text(&ob)
                );
            }
        };
        let err = String::from_utf8_lossy(&loser.stderr);
        assert!(
            err.contains(&format!(
                "lab `{lab}` is already up or being built (by pid {winner_pid}"
            )),
            "round {round}: the loser does not name the winner (pid {winner_pid}):\n{}\nwinner:\n{}",
            text(&loser),
            text(&winner)
        );
        // the winner's lab is whole: every namespace, every recorded
        // process running, every gateway answering on its status socket
        let st = apply::state::read_state(&lab).expect("the winner's state");
        assert_eq!(st.status, BuildStatus::Up);
        assert_eq!(lab_namespaces(&lab).len(), planned, "round {round}");
        assert!(!st.processes.is_empty());
        for p in &st.processes {
            assert!(
                p.is_running(),
                "round {round}: {} ({}) is gone",
                p.pid,
                p.what
            );
        }
        for g in &st.plan.gateways {
            let sock = layout::state_dir(&lab).join(format!("{}.sock", g.name));
            let s = gateway::shell::query_status(&sock)
                .unwrap_or_else(|e| panic!("round {round}: gateway {}: {e}", g.name));
            assert_eq!(s.reload.map(|r| r.generation), Some(1));
        }
        let o = Command::new(common::vifgate())
            .args(["sim", "exec", &lab, "office-pc", "--", "true"])
            .stdin(Stdio::null())
            .output()
            .expect("sim exec");
        assert!(o.status.success(), "{}", text(&o));
        down(&lab);
        assert_gone(&lab, &format!("(round {round}) after sim down"));
    }
}

#[test]
fn up_down_cycles_with_sigkill_at_random_moments_leave_nothing() {
    if !ready("up_down_cycles_with_sigkill_at_random_moments_leave_nothing") {
        return;
    }
    let (mut random, seed) = Random::seeded();
    eprintln!("seed {seed} (VIFGATE_STRESS_SEED={seed} replays it)");
    let started = Instant::now();
    let lab = lab_name("cycles");
    let ifnames = lab_ifnames(&lab);
    let before = root_state();
    let planned = apply::state::read_state(&lab).map_or(0, |s| s.plan.namespaces.len());
    assert_eq!(planned, 0, "lab {lab} exists already");

    // one uninterrupted cycle: how long `sim up` takes here
    let t0 = Instant::now();
    let o = start_up(&lab).wait_with_output().expect("sim up");
    let build = t0.elapsed();
    assert!(o.status.success(), "{}", text(&o));
    let st = apply::state::read_state(&lab).expect("state");
    let planned = st.plan.namespaces.len();
    down(&lab);
    assert_nothing_left(
        &lab,
        &st.processes,
        &before,
        &ifnames,
        "after a whole cycle",
    );
    eprintln!("sim up takes {:.0} ms here", build.as_secs_f64() * 1e3);

    let mut phases: BTreeMap<&str, usize> = BTreeMap::new();
    let mut removed_namespaces = 0;
    let mut removed_processes = 0;
    for cycle in 0..CYCLES {
        let delay = Duration::from_micros(random.below(build.as_micros() as u64 + 1));
        let mut up = start_up(&lab);
        std::thread::sleep(delay);
        let _ = up.kill(); // SIGKILL
        let _ = up.wait();
        let at = phase(&lab, planned);
        *phases.entry(at).or_default() += 1;
        let recorded = apply::state::read_state(&lab)
            .map(|s| s.processes)
            .unwrap_or_default();
        let namespaces = lab_namespaces(&lab).len();
        let o = down(&lab);
        let said = String::from_utf8_lossy(&o.stdout).trim().to_string();
        eprintln!(
            "cycle {cycle}: killed after {:.1} ms ({at}; {namespaces} namespaces, {} processes recorded): {said}",
            delay.as_secs_f64() * 1e3,
            recorded.len()
        );
        removed_namespaces += namespaces;
        removed_processes += recorded.len();
        let when = format!(
            "(cycle {cycle}, killed after {:.1} ms, {at}) after sim down",
            delay.as_secs_f64() * 1e3
        );
        assert_nothing_left(&lab, &recorded, &before, &ifnames, &when);
        // a second down has nothing left to do
        let again = down(&lab);
        assert!(
            String::from_utf8_lossy(&again.stdout).contains("nothing to remove"),
            "{}",
            text(&again)
        );
    }
    let left = leftovers(&lab);
    eprintln!(
        "{CYCLES} cycles in {:.1} s; killed while: {phases:?}; sim down removed {removed_namespaces} namespaces and {removed_processes} recorded processes in all; leftovers: {}",
        started.elapsed().as_secs_f64(),
        left.len()
    );
    assert!(left.is_empty(), "{left:?}");
    // the kills landed inside the build, not all before or after it
    let inside = CYCLES
        - phases.get("before taking the name").copied().unwrap_or(0)
        - phases.get("after it finished").copied().unwrap_or(0);
    assert!(
        inside > 0,
        "no kill landed while the lab was being built: {phases:?}"
    );
}

#[test]
fn an_apply_killed_in_the_middle_is_completed_by_the_next_or_removed_by_down() {
    let test = "an_apply_killed_in_the_middle_is_completed_by_the_next_or_removed_by_down";
    if !(ready(test)
        && common::need_bird()
        && common::need_tool("haproxy")
        && common::need_tool("python3"))
    {
        return;
    }
    let (mut random, seed) = Random::seeded();
    eprintln!("{test}: seed {seed} (VIFGATE_STRESS_SEED={seed} replays it)");
    let a = example_text();
    let b = edit(&with_sg_rule(&a), "desired = 2", "desired = 3");
    let (pa, pb) = (file("ka.toml", &a), file("kb.toml", &b));
    let fresh = lab_name("kf");
    let _fresh_down = Down(fresh.clone());
    up(&pb, &fresh);
    for round in 0..3 {
        // the apply of this edit takes about 0.7 s: killed within it
        let delay_ms = 20 + random.below(600);
        let lab = lab_name(&format!("k{round}"));
        let down = Down(lab.clone());
        up(&pa, &lab);
        let mut child = start_apply(&pb, &lab);
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        if round % 2 == 0 {
            // the next apply completes it
            let o = applied::apply(&pb, &lab);
            eprintln!(
                "killed after {delay_ms} ms, then:\n{}",
                String::from_utf8_lossy(&o.stdout)
            );
            assert!(apply::state::read_state(&lab)
                .expect("state")
                .applying
                .is_none());
            assert_same(
                &lab,
                &fresh,
                &format!("killed after {delay_ms} ms, applied again"),
            );
        }
        drop(down);
        assert_gone(
            &lab,
            &format!("after an apply killed after {delay_ms} ms, and sim down"),
        );
    }
}
