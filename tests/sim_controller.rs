//! The lab's own scaling controller (sim/src/scaling/service.rs): `sim
//! up` starts it for the example's group (a policy and the ELB
//! health-check type), recorded and in the lab's home namespace; `sim
//! status` shows it and the group's capacity; `sim autoscale` refuses to
//! run a second one; `[sim] autoscale = false` applied stops it (and the
//! foreground `sim autoscale` runs then), applied back starts it; one
//! that died is started again by the next `sim apply`; `sim down` leaves
//! no process, also when the state lost its record (a crash of `sim up`
//! between its start and its record). And its applies and a user's `sim
//! apply` serialize under the lab's lock: scheduled actions flip the
//! group between 2 and 3 every period while the user applies edits, and
//! no edit of either is lost.
//!
//! Needs root, nftables, BIRD and HAProxy; runs for real under `CI=true`
//! (a missing capability fails there), skips with a message elsewhere.
//! Lab names carry the test process's pid.

mod common;

use std::time::Duration;

use common::applied::{
    apply, edit, example_text, file, ok, run, up, with_sg_rule, without_web_servers, Down,
};
use common::leftovers::eventually;
use common::text;
use sim::apply::process::ProcessRecord;
use sim::apply::state::read_state;

fn ready(test: &str) -> bool {
    common::can_run(test)
        && common::need_tool("nft")
        && common::need_bird()
        && common::need_tool("haproxy")
}

/// The lab's recorded controller process, if any.
fn controller(lab: &str) -> Option<ProcessRecord> {
    read_state(lab)?
        .processes
        .into_iter()
        .find(|p| p.what == sim::scaling::service::PROCESS)
}

fn status(lab: &str) -> String {
    String::from_utf8_lossy(&ok(&["sim", "status", lab]).stdout).into_owned()
}

fn records(lab: &str) -> std::path::PathBuf {
    sim::scaling::service::records(&sim::layout::state_dir(lab), "web-asg")
}

#[test]
fn the_lab_runs_its_controller_until_it_is_switched_off_or_down() {
    let test = "the_lab_runs_its_controller_until_it_is_switched_off_or_down";
    if !ready(test) {
        return;
    }
    let lab = format!("ic{}-run", std::process::id());
    let a = without_web_servers(&example_text());
    let path = file("controller.toml", &a);
    up(&path, &lab);
    let _down = Down(lab.clone());
    let first = controller(&lab).expect("sim up recorded the controller");
    assert!(first.is_running(), "{first:?}");
    // it runs in the lab's home namespace, so `down` finds it even
    // unrecorded
    let st = read_state(&lab).expect("state");
    let home = &st.plan.namespaces[0].name;
    assert!(
        sim::apply::pids_in(home).contains(&(first.pid as i32)),
        "the controller is not in {home}"
    );
    assert_eq!(st.plan.autoscaling, ["web-asg"]);
    // a period a second at time_scale 60: records, mode 0644
    assert!(
        eventually(Duration::from_secs(10), Duration::from_millis(200), || {
            sim::scaling::service::last_records(&records(&lab), 3).is_ok_and(|r| r.len() == 3)
        }),
        "no records in {}",
        records(&lab).display()
    );
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(records(&lab))
            .expect("records")
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o644);
    let s = status(&lab);
    assert!(s.contains("scaling controller: running"), "{s}");
    assert!(
        s.contains("group web-asg: capacity 2 desired, 2 in service, 0 warming"),
        "{s}"
    );
    // no second controller from the foreground
    let o = run(&["sim", "autoscale", &lab]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains(&format!(
            "lab `{lab}` runs group web-asg's controller itself: `vifgate sim status {lab}`"
        )),
        "{}",
        text(&o)
    );
    // switched off: stopped, and the foreground runs
    let off = edit(
        &a,
        "load_balancer = \"haproxy\"",
        "load_balancer = \"haproxy\"\nautoscale = false",
    );
    apply(&file("controller-off.toml", &off), &lab);
    assert!(controller(&lab).is_none(), "still recorded");
    assert!(
        eventually(Duration::from_secs(3), Duration::from_millis(50), || !first
            .is_running()),
        "still running"
    );
    assert!(!status(&lab).contains("scaling controller"));
    let fg = ok(&["sim", "autoscale", &lab, "--duration", "3s", "--json"]);
    let periods = String::from_utf8_lossy(&fg.stdout)
        .lines()
        .filter(|l| l.contains("\"minute\""))
        .count();
    assert!(periods >= 2, "{}", text(&fg));
    let o = run(&["sim", "autoscale", &lab, "--follow"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("does not run group web-asg's controller"));
    // on again: started
    apply(&path, &lab);
    let second = controller(&lab).expect("started again");
    assert!(second.is_running());
    // one that died is started again by the next apply
    assert!(second.signal(libc::SIGKILL).expect("signal"));
    assert!(eventually(
        Duration::from_secs(3),
        Duration::from_millis(50),
        || !second.is_running()
    ));
    assert!(status(&lab).contains("scaling controller: NOT running"));
    apply(&path, &lab);
    let third = controller(&lab).expect("started again");
    assert!(third.is_running() && third != second);
    // a controller the state lost (a `sim up` killed between its start and
    // its record) is still ended by `down`: it lives in the lab's home
    // namespace
    let mut st = read_state(&lab).expect("state");
    st.processes
        .retain(|p| p.what != sim::scaling::service::PROCESS);
    sim::apply::state::save_state(&lab, &st).expect("write the state");
    ok(&["sim", "down", &lab]);
    assert!(
        eventually(Duration::from_secs(3), Duration::from_millis(50), || !third
            .is_running()),
        "the controller outlived `sim down`"
    );
}

/// The example without its target-tracking policy, with two scheduled
/// actions: desired 3 on even minutes, 2 on odd ones (a lab second each
/// at time_scale 60).
fn flipping() -> String {
    let a = without_web_servers(&example_text());
    edit(
        &a,
        "[[vpc.auto_scaling_group.target_tracking]]\nname = \"requests-per-target\"\nmetric = \"ALBRequestCountPerTarget\"\nload_balancer = \"alb\"\ntarget = 1800\ninstance_warmup = \"5m\"\n",
        "[[vpc.auto_scaling_group.scheduled]]\nname = \"up\"\ncron = \"*/2 * * * *\"\ndesired = 3\n\n[[vpc.auto_scaling_group.scheduled]]\nname = \"down\"\ncron = \"1-59/2 * * * *\"\ndesired = 2\n",
    )
}

#[test]
fn the_controllers_applies_and_the_users_serialize_without_a_lost_update() {
    let test = "the_controllers_applies_and_the_users_serialize_without_a_lost_update";
    if !ready(test) {
        return;
    }
    let lab = format!("ic{}-lock", std::process::id());
    let a = flipping();
    let b = with_sg_rule(&a);
    let (pa, pb) = (file("flip-a.toml", &a), file("flip-b.toml", &b));
    up(&pa, &lab);
    let _down = Down(lab.clone());
    let copy = sim::layout::state_dir(&lab).join("topology.toml");
    let applied = |lab: &str| {
        sim::scaling::service::last_records(&records(lab), 10_000)
            .unwrap_or_default()
            .iter()
            .filter(|r| r.get("applied").is_some())
            .count()
    };
    for round in 0..4 {
        let (path, with_rule) = if round % 2 == 0 {
            (&pb, true)
        } else {
            (&pa, false)
        };
        let before = applied(&lab);
        let started = std::time::Instant::now();
        apply(path, &lab);
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "sim apply waited {:?}",
            started.elapsed()
        );
        // the controller applies twice more after the user's apply ...
        assert!(
            eventually(Duration::from_secs(20), Duration::from_millis(100), || {
                applied(&lab) >= before + 2
            }),
            "the controller did not apply after round {round}: {}",
            std::fs::read_to_string(sim::scaling::service::log_path(&sim::layout::state_dir(
                &lab
            )))
            .unwrap_or_default()
        );
        // ... and the user's edit is still in the lab's topology and plan
        let now = std::fs::read_to_string(&copy).expect("the copy");
        assert_eq!(
            now.contains("ports = 8080"),
            with_rule,
            "round {round}: the user's edit was lost"
        );
        let st = read_state(&lab).expect("state");
        let rule_in_plan = serde_json::to_string(&st.plan.firewalls)
            .expect("json")
            .contains("8080");
        assert_eq!(rule_in_plan, with_rule, "round {round}: the plan lost it");
        let desired = sim::scaling::capacity::desired_in(&now, "web-asg").expect("desired");
        assert!((2..=3).contains(&desired), "{desired}");
    }
    let failed: Vec<serde_json::Value> =
        sim::scaling::service::last_records(&records(&lab), 10_000)
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.get("failed").is_some())
            .collect();
    assert!(failed.is_empty(), "{failed:?}");
}
