//! `ASGAverageCPUUtilization` live: a small lab (an ALB in front of a
//! group of 2 to 3 instances served by the lab's listener, each request
//! costing `[sim] cpu_per_request` of an instance's CPU) under `sim load`
//! from a client in the VPC. The load steps up, the instances' CPU,
//! read from their cgroups, follows it, and the group scales out on its
//! CPU policy; the live CPU agrees with what `topology scale` predicts
//! from the same requests and the same per-request cost; a scale-in
//! removes the instance's group, `sim down` the lab's. The instances'
//! bytes in and out (`ASGAverageNetworkIn`/`Out`) are read too, and grow
//! with the load. Step policies on CPU (out at 10 %, in below 3 %) give
//! the capacity `topology scale` predicts from the loads the lab's
//! periods answered, period for period.
//!
//! Needs root, nftables, HAProxy and a cgroup CPU controller (v2's `cpu`
//! or v1's `cpuacct`); runs for real under `CI=true` (a missing
//! capability fails there), skips with a message elsewhere. Lab names
//! carry the test process's pid.

mod common;

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};

use common::applied::{file, ok, up, Down};
use common::text;

fn ready(test: &str) -> bool {
    common::can_run(test) && common::need_tool("nft") && common::need_tool("haproxy")
}

/// The lab (its comments say what it is and why).
const LAB: &str = include_str!("sim_cpu_lab/cpu.toml");

/// A period as `sim autoscale --json` and `topology scale --json` print
/// it.
#[derive(Debug, Clone)]
struct Period {
    minute: u64,
    load: f64,
    cpu: Option<f64>,
    network_in: Option<f64>,
    network_out: Option<f64>,
    in_service: u64,
    warming: u64,
    desired: u64,
    launches: usize,
}

fn period(v: &serde_json::Value) -> Option<Period> {
    Some(Period {
        minute: v.get("minute")?.as_u64()?,
        load: v.get("load")?.as_f64()?,
        cpu: v["metrics"]["ASGAverageCPUUtilization"].as_f64(),
        network_in: v["metrics"]["ASGAverageNetworkIn"].as_f64(),
        network_out: v["metrics"]["ASGAverageNetworkOut"].as_f64(),
        in_service: v.get("in_service")?.as_u64()?,
        warming: v.get("warming")?.as_u64()?,
        desired: v.get("desired")?.as_u64()?,
        launches: v["activities"]
            .as_array()
            .map_or(0, |a| a.iter().filter(|x| x["kind"] == "launch").count()),
    })
}

/// The lab's CPU accounting directory of `lab` (v1 here, v2 where the
/// kernel offers it).
fn lab_groups(lab: &str) -> std::path::PathBuf {
    let acct = sim::kernel::cgroup::this_machine().expect("a CPU accounting hierarchy");
    acct.dir(&sim::kernel::cgroup::lab_group_name(lab))
}

/// `sim load` on lab `lab`'s ALB from its client, `profile` for
/// `duration`, started.
fn load(lab: &str, profile: &str, duration: &str) -> std::process::Child {
    Command::new(common::vifgate())
        .args(["sim", "load", lab, "--to", "alb", "--from", "client"])
        .args(["--profile", profile, "--duration", duration])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sim load runs")
}

#[test]
fn cpu_follows_the_load_and_the_group_scales_out_on_it() {
    if !ready("cpu_follows_the_load_and_the_group_scales_out_on_it") {
        return;
    }
    let lab = format!("cpu{}", std::process::id());
    let path = file("cpu.toml", LAB);
    up(&path, &lab);
    let down = Down(lab.clone());
    // each instance's listener threads are accounted in a group of its own
    let groups = lab_groups(&lab);
    for n in ["web-a1", "web-c1"] {
        assert!(groups.join(format!("node-{n}")).is_dir(), "{n}'s group");
    }
    let (scaler, out) = common::scaling::autoscale(&lab, "18s");
    // 10 requests a second (2.5 % an instance), then 50 (12.5 %), for `/`:
    // the health check's path too, whose checks cost nothing while a
    // client's requests cost as any other
    let load = load(&lab, "0s:10,5s:50", "18s");
    let mut periods: Vec<Period> = Vec::new();
    let mut seen = String::new();
    for line in BufReader::new(out).lines() {
        let line = line.expect("a line");
        seen.push_str(&line);
        seen.push('\n');
        if let Some(p) = serde_json::from_str(&line).ok().as_ref().and_then(period) {
            periods.push(p);
        }
    }
    let status = scaler.wait_with_output().expect("sim autoscale ends");
    assert!(
        status.status.success(),
        "sim autoscale: {}\n{seen}",
        text(&status)
    );
    let load = load.wait_with_output().expect("sim load ends");
    assert!(load.status.success(), "sim load: {}", text(&load));
    let shown: Vec<String> = periods
        .iter()
        .map(|p| {
            format!(
                "{}m load {} cpu {:?} in service {} + {} desired {}",
                p.minute, p.load, p.cpu, p.in_service, p.warming, p.desired
            )
        })
        .collect();
    let shown = format!("{}\n--- sim load\n{}", shown.join("\n"), text(&load));

    // out on CPU: the group launches its third instance once CPU was
    // above 5 % for the high alarm's 3 periods
    let out = periods
        .iter()
        .position(|p| p.launches > 0)
        .unwrap_or_else(|| panic!("the group never scaled out:\n{shown}"));
    assert_eq!(periods[out].desired, 3, "{shown}");
    assert!(out >= 3, "scaled out before 3 periods of load:\n{shown}");
    for p in &periods[out - 2..=out] {
        assert!(
            p.cpu.is_some_and(|c| c > 5.0),
            "scaled out at {}m but {}m's CPU was not above the target:\n{shown}",
            periods[out].minute,
            p.minute
        );
    }
    // bytes in and out per instance, read from the instances' interfaces,
    // grow with the load: at 50 requests a second (before the scale-out)
    // more than twice what they are at 10 (the health checks' bytes stay)
    let mean = |ps: &[Period], f: fn(&Period) -> Option<f64>| {
        let v: Vec<f64> = ps.iter().filter_map(f).collect();
        assert!(!v.is_empty(), "no datapoint:\n{shown}");
        v.iter().sum::<f64>() / v.len() as f64
    };
    let (low, high) = (&periods[1..4], &periods[out - 1..=out]);
    for (name, f) in [
        (
            "NetworkIn",
            (|p: &Period| p.network_in) as fn(&Period) -> Option<f64>,
        ),
        ("NetworkOut", |p: &Period| p.network_out),
    ] {
        let (at10, at50) = (mean(low, f), mean(high, f));
        println!("ASGAverage{name}: {at10:.0} bytes a period at 10/s, {at50:.0} at 50/s");
        assert!(
            at10 > 0.0 && at50 > 2.0 * at10,
            "{name}: {at10} then {at50}:\n{shown}"
        );
    }
    // the new instance's group is made with it
    assert!(groups.join("node-web-a2").is_dir(), "web-a2's group");

    // the same requests, offline: topology scale with the same per-request
    // cost ([sim] cpu_per_request) gives the CPU of each period
    let profile: Vec<String> = (periods.iter())
        .map(|p| format!("{}m:{}", p.minute, p.load))
        .collect();
    let predicted = ok(&[
        "topology",
        "scale",
        &path.to_string_lossy(),
        "--load",
        &profile.join(","),
        "--minutes",
        &periods.len().to_string(),
        "--json",
    ]);
    let predicted: Vec<Period> = String::from_utf8_lossy(&predicted.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter_map(|v: serde_json::Value| period(&v))
        .collect();
    assert_eq!(predicted.len(), periods.len(), "{shown}");
    // compared where both have the same instances in service and none
    // warming, and there was load (the first period has no reading)
    let (mut live, mut model, mut compared) = (0.0, 0.0, Vec::new());
    for (l, m) in periods.iter().zip(&predicted) {
        let same = l.in_service == m.in_service && l.warming == 0 && m.warming == 0;
        if let (true, Some(lc), Some(mc)) = (same && l.load > 0.0, l.cpu, m.cpu) {
            live += lc;
            model += mc;
            compared.push(format!("{}m live {lc:.2} % predicted {mc:.2} %", l.minute));
        }
    }
    let compared = compared.join("\n");
    println!("{compared}");
    assert!(compared.lines().count() >= 5, "{compared}\n{shown}");
    // the margin: the listener's own work on a request (reading it,
    // answering, its thread) is CPU the cost model leaves out, and a
    // request's CPU and its count can fall either side of a period's end
    let ratio = live / model;
    println!("live/predicted over the periods compared: {ratio:.3}");
    assert!(
        (0.85..=1.3).contains(&ratio),
        "the live CPU is {ratio:.2} times the predicted:\n{compared}\n{shown}"
    );

    // scale-in (the file's max lowered to 2: the live capacity is clamped
    // to it) removes the instance's group once its threads are done
    let two = file("cpu-max2.toml", &LAB.replace("max = 3", "max = 2"));
    ok(&["sim", "apply", &two.to_string_lossy(), "--lab", &lab]);
    let gone = common::leftovers::eventually(
        std::time::Duration::from_secs(10),
        std::time::Duration::from_millis(100),
        || !groups.join("node-web-a2").exists(),
    );
    assert!(gone, "web-a2's group is left after its scale-in");
    assert!(groups.join("node-web-a1").is_dir(), "web-a1's group stays");

    // sim down removes the lab's groups
    drop(down);
    assert!(!groups.exists(), "{} is left", groups.display());
}

/// The CPU lab with step policies instead of its CPU target: out by one
/// instance at 10 % or more (two at 15 % or more), in by one after 3
/// periods below 3 %; its request-count policy never scales in, and the
/// network ones are left out (their targets are never reached, so they
/// would always vote for a scale-in).
fn step_lab() -> String {
    let from = LAB
        .find("[[vpc.auto_scaling_group.target_tracking]]\nname = \"cpu\"")
        .expect("the CPU policy");
    let to = LAB.find("[[security_group]]").expect("the security groups");
    let policies = r#"[[vpc.auto_scaling_group.step_scaling]]
name = "cpu-high"
metric = "ASGAverageCPUUtilization"
threshold = 10
comparison = "GreaterThanOrEqualToThreshold"
adjustment_type = "ChangeInCapacity"
steps = [{ lower = 0, upper = 5, adjustment = 1 }, { lower = 5, adjustment = 2 }]
instance_warmup = "3m"

[[vpc.auto_scaling_group.step_scaling]]
name = "cpu-low"
metric = "ASGAverageCPUUtilization"
threshold = 3
comparison = "LessThanThreshold"
evaluation_periods = 3
adjustment_type = "ChangeInCapacity"
steps = [{ upper = 0, adjustment = -1 }]

[[vpc.auto_scaling_group.target_tracking]]
name = "requests"
metric = "ALBRequestCountPerTarget"
load_balancer = "alb"
target = 100000
disable_scale_in = true

"#;
    format!("{}{policies}{}", &LAB[..from], &LAB[to..]).replace("max = 3", "max = 4")
}

/// Step scaling on CPU, live and predicted: `topology scale`, given the
/// loads the lab's periods answered, names the same capacity as the
/// lab's controller within a period, through a scale-out by the
/// threshold's first step and a scale-in after the load.
#[test]
fn step_policies_on_cpu_scale_as_topology_scale_predicts() {
    if !ready("step_policies_on_cpu_scale_as_topology_scale_predicts") {
        return;
    }
    let lab = format!("cpustep{}", std::process::id());
    let path = file("cpu-step.toml", &step_lab());
    up(&path, &lab);
    let _down = Down(lab.clone());
    let (scaler, out) = common::scaling::autoscale(&lab, "36s");
    // 10 requests a second (2.5 % an instance), 50 (12.5 %: the first
    // step, one more instance), then none
    let load = load(&lab, "0s:10,6s:50,24s:0", "26s");
    let periods: Vec<common::scaling::Period> = BufReader::new(out)
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| serde_json::from_str(&l).ok())
        .filter_map(|v: serde_json::Value| common::scaling::period(&v))
        .collect();
    let status = scaler.wait_with_output().expect("sim autoscale ends");
    assert!(status.status.success(), "sim autoscale: {}", text(&status));
    let load = load.wait_with_output().expect("sim load ends");
    assert!(load.status.success(), "sim load: {}", text(&load));
    let profile: Vec<String> = (periods.iter())
        .map(|p| format!("{}m:{}", p.minute, p.load))
        .collect();
    let predicted = common::scaling::predicted(&path, &profile.join(","), periods.len());
    let shown: Vec<String> = (periods.iter().zip(&predicted))
        .map(|(l, p)| {
            format!(
                "{}m load {} desired live {} predicted {}",
                l.minute, l.load, l.desired, p.desired
            )
        })
        .collect();
    let shown = shown.join("\n");
    println!("{shown}");
    // one more instance at 12.5 %; a busy machine's lab may count the
    // requests of periods handled late in one (more than 15 %: two
    // more), which the prediction, given the same counts, does too
    let most = periods.iter().map(|p| p.desired).max().unwrap_or(0);
    assert!(most >= 3, "never scaled out:\n{shown}");
    let out = (periods.iter())
        .position(|p| p.launches > 0)
        .unwrap_or_else(|| panic!("never scaled out:\n{shown}"));
    assert!(
        periods[out..].iter().any(|p| p.terminations > 0),
        "never scaled in after the load:\n{shown}"
    );
    assert_eq!(periods.last().map(|p| p.desired), Some(2), "{shown}");
    let off = common::scaling::off_by_more_than_a_period(&periods, &predicted);
    assert!(
        off.is_empty(),
        "live capacity off the prediction: {off:?}\n{shown}"
    );
}
