//! The event day of the example (docs/sim.md, "The event day"), live: the
//! example lab with a real HAProxy as its ALB (the application's
//! `SESSIONID` cookie followed by `AWSALBAPP-0`), its Auto Scaling
//! group's controller running, and `vifgate sim load` sending the story's
//! load with clients that keep their cookies.
//!
//! The story's numbers, scaled down: a normal day is 2000 requests a
//! minute for a target of 1800 a target; the event brings 352 % of it.
//! At `time_scale` 60 a lab second is an AWS minute, so a load of B
//! requests a second is B a minute: the target is lowered by the same
//! factor as the load (2000 / 40 = 50 a second, 1800 / 40 = 45), and
//! everything the controller decides is the story's: 2 instances see 25
//! each at the base rate; at 176 (352 %) they see 88 and the group wants
//! ceil(2 x 88 / 45) = 4; 4 see 44, between the low alarm's 40.5 and the
//! target, so the group holds; back at the base rate 4 see 12.5, below
//! 40.5 for 15 periods, and the group goes back to ceil(4 x 12.5 / 45) =
//! 2.
//!
//! Needs root, nftables, BIRD and HAProxy; runs for real under `CI=true`
//! (a missing capability fails there), skips with a message elsewhere.
//! Lab names carry the test process's pid.

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::applied::{edit, example_text, file, ok, run, up, without_web_servers, Down};
use common::scaling::{off_by_more_than_a_period, period, predicted, Period};
use common::text;

fn ready(test: &str) -> bool {
    common::can_run(test)
        && common::need_tool("nft")
        && common::need_bird()
        && common::need_tool("haproxy")
}

/// The base rate, requests a second (2000 a minute / 40).
const BASE: u64 = 50;

/// The event's rate: 352 % of [`BASE`].
const PEAK: u64 = 176;

/// The request every client sends: the lab's listener sets the
/// application's `SESSIONID` cookie, which the ALB's `app_cookie`
/// stickiness follows.
const PATH: &str = "/?set-cookie=SESSIONID";

/// Clients, each with its own cookie jar and connections.
const CLIENTS: usize = 20;

/// Requests of a visitor: then its client starts a new session, without
/// cookies, that the ALB places anew (new visitors reach the new
/// instances; the clients of the first second alone would stay on the
/// first two for the whole day).
const SESSION: &str = "20";

/// The example, its web hosts served by the lab's listener, its target
/// lowered by the factor its load is (1800 / 40).
fn event_day_text() -> String {
    edit(
        &without_web_servers(&example_text()),
        "target = 1800",
        "target = 45",
    )
}

/// A line the controller printed, and when the test read it.
type Line = (Instant, serde_json::Value);

/// The group's controller on a lab: the lab runs it (`sim up` started
/// it); `sim autoscale LAB --follow --json`, started here and killed at
/// the end, prints its records, read as they come.
struct Controller {
    child: Child,
    lines: Arc<Mutex<Vec<Line>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

/// Follows the controller of lab `lab`'s group: the one place that knows
/// how it runs.
fn start_controller(lab: &str) -> Controller {
    let mut child = Command::new(common::vifgate())
        .args(["sim", "autoscale", lab, "--follow", "--json"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("sim autoscale runs");
    let out = child.stdout.take().expect("piped");
    let lines = Arc::new(Mutex::new(Vec::new()));
    let into = lines.clone();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                into.lock().expect("lines").push((Instant::now(), v));
            }
        }
    });
    Controller {
        child,
        lines,
        reader: Some(reader),
    }
}

impl Controller {
    /// Waits for its first period (its counters' baseline is then read):
    /// when it came.
    fn first_period(&self, within: Duration) -> Instant {
        let until = Instant::now() + within;
        while Instant::now() < until {
            let lines = self.lines.lock().expect("lines");
            if let Some((at, _)) = lines.iter().find(|(_, v)| period(v).is_some()) {
                return *at;
            }
            drop(lines);
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the controller printed no period in {within:?}");
    }

    /// Stops it: every line it printed.
    fn stop(mut self) -> Vec<Line> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        std::mem::take(&mut *self.lines.lock().expect("lines"))
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Lab `ed<pid>-<what>` up from `text` (its file returned, and taken down
/// when the [`Down`] is dropped), its controller started, and when the
/// controller's first period came.
fn live(what: &str, text: &str) -> (String, std::path::PathBuf, Down, Controller, Instant) {
    let lab = format!("ed{}-{what}", std::process::id());
    let path = file(&format!("event-day-{what}.toml"), text);
    up(&path, &lab);
    let down = Down(lab.clone());
    let controller = start_controller(&lab);
    let first = controller.first_period(Duration::from_secs(20));
    (lab, path, down, controller, first)
}

/// Seconds from `start` to `at` (negative before it).
fn since(start: Instant, at: Instant) -> f64 {
    if at >= start {
        (at - start).as_secs_f64()
    } else {
        -(start - at).as_secs_f64()
    }
}

/// What the controller did, on the load's clock (seconds from when `sim
/// load` started).
#[derive(Debug, Default)]
struct Story {
    /// Each period, and when it was printed.
    periods: Vec<(f64, Period)>,
    /// Each capacity change: when it was done, the desired capacity, the
    /// instances launched and terminated.
    applied: Vec<(f64, u64, Vec<String>, Vec<String>)>,
    /// Each deregistration: the instance, when it started (the target
    /// is in maintenance from then: no new request) and ended.
    deregistered: Vec<(String, f64, f64)>,
    /// Each replacement: the instance, when it was done.
    replaced: Vec<(String, f64)>,
    /// Every step of a change, when it ended.
    steps: Vec<(f64, String)>,
}

fn names(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn story(lines: &[Line], load_start: Instant) -> Story {
    let mut s = Story::default();
    for (at, v) in lines {
        let t = since(load_start, *at);
        if let Some(p) = period(v) {
            s.periods.push((t, p));
        } else if let Some(a) = v.get("applied") {
            s.applied.push((
                t,
                a["desired"].as_u64().unwrap_or_default(),
                names(&a["launched"]),
                names(&a["terminated"]),
            ));
        } else if let Some(r) = v.get("replaced").filter(|r| r.is_object()) {
            let name = r["instance"].as_str().unwrap_or_default().to_string();
            s.replaced.push((name, t));
        } else if let Some(step) = v.get("step").and_then(|x| x.as_str()) {
            s.steps.push((t, step.to_string()));
            // "deregister target web-a2 10.0.10.5:80 from slot ..."
            if let Some(rest) = step.strip_prefix("deregister target ") {
                let instance = rest.split_whitespace().next().unwrap_or_default();
                let ms = v["ms"].as_f64().unwrap_or_default();
                s.deregistered
                    .push((instance.to_string(), t - ms / 1000.0, t));
            }
        }
    }
    s
}

/// `sim load LAB --to alb:80 ARGS --json`, run to its end: its records
/// of each second and its summary.
fn load(lab: &str, args: &[&str]) -> (Vec<serde_json::Value>, serde_json::Value) {
    let mut all = vec![
        "sim", "load", lab, "--to", "alb:80", "--path", PATH, "--json",
    ];
    all.extend_from_slice(args);
    load_output(&run(&all))
}

/// What a `sim load --json` that ended printed: its records of each
/// second and its summary.
fn load_output(o: &std::process::Output) -> (Vec<serde_json::Value>, serde_json::Value) {
    assert!(o.status.success(), "sim load: {}", text(o));
    let mut lines: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let summary = lines.pop().expect("a summary")["summary"].clone();
    assert!(summary.is_object(), "{}", text(o));
    (lines, summary)
}

/// Errors and requests offered in the seconds of the load from `from` to
/// `to` (seconds of the run; a second counts if it overlaps).
fn in_phase(seconds: &[serde_json::Value], from: f64, to: f64) -> (u64, u64) {
    let mut errors = 0;
    let mut offered = 0;
    for s in seconds {
        let n = s["second"].as_u64().unwrap_or_default() as f64;
        if n + 1.0 > from && n < to {
            offered += s["offered"].as_u64().unwrap_or_default();
            errors += s["errors"]
                .as_object()
                .map_or(0, |e| e.values().filter_map(|x| x.as_u64()).sum());
        }
    }
    (errors, offered)
}

/// Each client's target changes: (client, when the answer came, when the
/// request was due, from, to).
fn changes(summary: &serde_json::Value) -> Vec<(usize, f64, f64, String, String)> {
    let mut out = Vec::new();
    for (i, c) in summary["clients"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        for ch in c["changes"].as_array().into_iter().flatten() {
            out.push((
                i,
                ch["at_s"].as_f64().unwrap_or_default(),
                ch["scheduled_s"].as_f64().unwrap_or_default(),
                ch["from"].as_str().unwrap_or_default().to_string(),
                ch["to"].as_str().unwrap_or_default().to_string(),
            ));
        }
    }
    out
}

/// The story: 100 % of the base rate, 352 % from 5 s to 25 s, 100 % again
/// until 52 s (the group is back at 2 about 40 s in). The group goes 2 -> 4 and back to 2; no
/// request fails, during the scale-out or the scale-in; a client's
/// target changes only when that target was deregistered, at its
/// deregistration; and the capacity the lab had each period is the one
/// `topology scale` predicts, for the same profile and for the loads the
/// lab measured, to within one period.
#[test]
fn the_event_day_scales_out_and_back_in_without_a_failed_request_and_clients_stick() {
    if !ready("the_event_day_scales_out_and_back_in_without_a_failed_request_and_clients_stick") {
        return;
    }
    let (lab, path, _down, controller, first) = live("day", &event_day_text());
    let load_start = Instant::now();
    let profile = format!("0s:{BASE},5s:{PEAK},25s:{BASE}");
    let clients = CLIENTS.to_string();
    let (seconds, summary) = load(
        &lab,
        &[
            "--profile",
            &profile,
            "--duration",
            "52s",
            "--clients",
            &clients,
            "--session",
            SESSION,
        ],
    );
    let s = story(&controller.stop(), load_start);
    let shown: Vec<String> = (s.periods.iter())
        .map(|(t, p)| {
            format!(
                "{t:6.1}s {:>3}m load {:>5} desired {} +{} -{}",
                p.minute, p.load, p.desired, p.launches, p.terminations
            )
        })
        .collect();
    let shown = format!(
        "{}\napplied {:?}\nsteps {:#?}\nsummary {summary}",
        shown.join("\n"),
        s.applied,
        s.steps
    );

    // 2 -> 4 under the peak, and back to 2 once the load is at its base
    // again
    let out = (s.applied.iter())
        .find(|a| !a.2.is_empty())
        .unwrap_or_else(|| panic!("the group never scaled out:\n{shown}"));
    assert_eq!((out.1, out.2.len()), (4, 2), "{shown}");
    assert!(
        out.0 > 5.0 && out.0 < 25.0,
        "scaled out at {:.1}s:\n{shown}",
        out.0
    );
    let back = (s.applied.iter())
        .find(|a| !a.3.is_empty())
        .unwrap_or_else(|| panic!("the group never scaled in:\n{shown}"));
    assert_eq!((back.1, back.3.len()), (2, 2), "{shown}");
    assert!(
        back.0 > 25.0 + 14.0,
        "scaled in at {:.1}s:\n{shown}",
        back.0
    );
    assert_eq!(s.applied.len(), 2, "{shown}");

    // no request failed, in any phase
    let scale_out_start = (s.periods.iter())
        .find(|(_, p)| p.launches > 0)
        .map_or(out.0, |(t, _)| *t);
    let scale_in_start = (s.periods.iter())
        .find(|(_, p)| p.terminations > 0)
        .map_or(back.0, |(t, _)| *t);
    // the new targets take requests after 5 passing checks (2.5 s)
    let phases = [
        ("base", 0.0, scale_out_start),
        ("scale-out", scale_out_start, out.0 + 3.0),
        ("peak and back to base", out.0 + 3.0, scale_in_start),
        ("scale-in", scale_in_start, back.0),
        ("after", back.0, 52.0),
    ];
    let per_phase: Vec<(&str, u64, u64)> = (phases.iter())
        .map(|(name, from, to)| {
            let (errors, offered) = in_phase(&seconds, *from, *to);
            (*name, errors, offered)
        })
        .collect();
    let shown = format!("{shown}\n(phase, errors, offered): {per_phase:?}");
    for (name, errors, offered) in &per_phase {
        assert_eq!(*errors, 0, "{name}: {errors} failed requests:\n{shown}");
        if *name == "scale-out" || *name == "scale-in" {
            assert!(*offered > 0, "no load during the {name}:\n{shown}");
        }
    }
    assert_eq!(summary["errors"], serde_json::json!({}), "{shown}");
    assert_eq!(summary["unanswered"], 0, "{shown}");
    let sent = summary["sent"].as_u64().unwrap_or_default();
    assert!(sent > 52 * BASE, "{shown}");
    assert_eq!(summary["ok"].as_u64(), Some(sent), "{shown}");

    // new visitors reached the new instances
    for new in &out.2 {
        assert!(
            summary["targets"][new].as_u64().is_some_and(|n| n > 0),
            "{new} answered nothing:\n{shown}"
        );
    }
    // stickiness: every visitor kept its cookie after its first answer,
    // and its target changed only when that target was deregistered, at
    // the deregistration: the first request due after it (a client
    // sends one every 1 / 2.5 s at the base rate)
    let all = summary["clients"].as_array().expect("clients");
    assert_eq!(all.len(), CLIENTS, "{shown}");
    for (i, c) in all.iter().enumerate() {
        let answered: u64 = (c["targets"].as_object().into_iter().flatten())
            .filter_map(|(_, n)| n.as_u64())
            .sum();
        let sessions = c["sessions"].as_u64().unwrap_or_default();
        assert!(sessions > 1, "client {i}: {c}");
        assert_eq!(
            c["with_cookie"].as_u64(),
            Some(answered - sessions),
            "client {i} sent no cookie after a visitor's first answer:\n{shown}"
        );
    }
    let terminated: BTreeSet<&String> = back.3.iter().collect();
    let moved = changes(&summary);
    assert!(
        !moved.is_empty(),
        "no visitor was on the terminated instances:\n{shown}"
    );
    for (client, at, due, from, to) in moved {
        let at_deregistration = s
            .deregistered
            .iter()
            .any(|(name, start, _)| *name == from && at >= start - 0.3 && due <= start + 1.5);
        assert!(
            at_deregistration,
            "client {client} moved from {from} to {to} at {at:.2}s (due {due:.2}s), not at {from}'s deregistration:\n{shown}"
        );
        assert!(terminated.contains(&from), "{shown}");
        assert!(!terminated.contains(&to), "{shown}");
    }

    // the capacity timeline, against topology scale's prediction of the
    // same profile (the load starts in the period after the controller's
    // first) and of the loads the lab measured, to within one period
    let live: Vec<Period> = s.periods.iter().map(|(_, p)| p.clone()).collect();
    let m0 = live.first().map_or(0, |p| p.minute);
    let offset = m0 + 1 + since(first, load_start).floor() as u64;
    let same_profile = format!(
        "0m:0,{}m:{BASE},{}m:{PEAK},{}m:{BASE}",
        offset,
        offset + 5,
        offset + 25
    );
    let minutes = (m0 as usize) + live.len();
    let prediction = predicted(&path, &same_profile, minutes);
    let prediction = &prediction[m0 as usize..];
    let off = off_by_more_than_a_period(&live, prediction);
    assert!(
        off.is_empty(),
        "profile {same_profile}: (minute, the lab's capacity, topology scale's within a period): {off:?}\n{shown}"
    );
    let measured: Vec<String> = (live.iter())
        .map(|p| format!("{}m:{}", p.minute, p.load.round()))
        .collect();
    let prediction = predicted(&path, &measured.join(","), minutes);
    let prediction = &prediction[m0 as usize..];
    let off = off_by_more_than_a_period(&live, prediction);
    assert!(
        off.is_empty(),
        "the measured loads: (minute, the lab's capacity, topology scale's within a period): {off:?}\n{shown}"
    );
    let status = ok(&["sim", "status", &lab]);
    assert!(
        String::from_utf8_lossy(&status.stdout).contains("group web-asg: desired capacity 2"),
        "{}",
        text(&status)
    );
    eprintln!("{shown}");
}

/// `sim load LAB --json` at the base rate from [`CLIENTS`] clients, with
/// `args`, started (its output read when it ends).
fn base_load(lab: &str, args: &[&str]) -> Child {
    let clients = CLIENTS.to_string();
    let rate = format!("{BASE}/s");
    Command::new(common::vifgate())
        .args([
            "sim", "load", lab, "--to", "alb:80", "--path", PATH, "--json",
        ])
        .args(["--rate", &rate, "--clients", &clients])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sim load runs")
}

/// HAProxy's status of slot `server` of backend `b80` of the lab's ALB
/// (`UP`, `UP 1/2` going down, `DOWN`, `DOWN 1/5` going up, `MAINT`).
fn slot_status(lab: &str, server: &str) -> String {
    let sock = sim::layout::haproxy_socket(&sim::layout::state_dir(lab), "alb");
    sim::apply::targets::haproxy_api(&sock, "show stat")
        .ok()
        .and_then(|stat| sim::apply::targets::health_in(&stat, "b80", server))
        .map(|(s, _)| s)
        .unwrap_or_default()
}

/// Waits until slot `server`'s status is `want`, looking every 20 ms:
/// when it was seen, if it was within `within`.
fn until_status(lab: &str, server: &str, want: &str, within: Duration) -> Option<Instant> {
    let until = Instant::now() + within;
    while Instant::now() < until {
        if slot_status(lab, server) == want {
            return Some(Instant::now());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// The ALB's target group (`text`'s first listener's) and the lab's
/// settings, whose clock its times are scaled to.
fn target_group(
    text: &str,
) -> (
    topology::model::TargetGroupSettings,
    topology::model::SimSettings,
) {
    let t = topology::parse("event-day.toml", text.to_string())
        .expect("the example loads")
        .topology;
    let tg = (t.nodes.iter())
        .find_map(|n| match &n.kind {
            topology::model::NodeKind::LoadBalancer { listeners } => listeners.first(),
            _ => None,
        })
        .map(|l| l.target_group.clone())
        .expect("a listener");
    (tg, t.sim)
}

/// The ALB's health check in the lab, in seconds: the interval, the
/// timeout, and the unhealthy threshold.
fn health_check(text: &str) -> (f64, f64, u32) {
    let (tg, sim) = target_group(text);
    let hc = &tg.health_check;
    let lab = |d| sim.lab_time(d).as_secs_f64();
    (lab(hc.interval), lab(hc.timeout), hc.unhealthy_threshold)
}

/// The ALB's deregistration delay in the lab, in seconds.
fn deregistration_delay(text: &str) -> f64 {
    let (tg, sim) = target_group(text);
    sim.lab_time(tg.deregistration_delay).as_secs_f64()
}

/// The longest time from a target's failure to its `DOWN`, as on AWS:
/// the unhealthy threshold's checks, each an interval after the last and
/// failing after the timeout (a check that had just passed when it
/// failed: its next starts an interval later).
fn time_to_down((interval, timeout, fall): (f64, f64, u32)) -> f64 {
    f64::from(fall) * (interval + timeout)
}

/// A failed instance under load: `sim fail LAB web-a1` while 20 clients
/// that keep their cookies send 50 requests a second (half of them pinned
/// to web-a1). Its target turns `DOWN` after the health check's
/// unhealthy threshold: 2 failed checks, 30 s apart on AWS's clock (0.5
/// s in the lab). A check of a target that drops every packet fails after
/// the target group's timeout (5 s / 60 = 83 ms), at its connection, and
/// the next starts an interval after that: `DOWN` comes at most
/// 2 x (0.5 + 0.083) = 1.17 s after the failure ([`time_to_down`]), where
/// HAProxy's own connect timeout for a check, min(`timeout connect`,
/// `inter`) = 0.5 s, made it 1.5 to 2 s (docs/sim.md). The
/// group, whose health check type is ELB and whose 5-minute grace period
/// is over, replaces it once, launch first: web-a2 (a name and slot of
/// its own) joins, then web-a1 is terminated (its new instance, rising, is in its own
/// grace period); its sticky clients are pinned to another target, once
/// each.
///
/// The requests lost are those web-a1 held: `sim fail` drops every
/// packet in and out of it, so a request in flight on it when it failed,
/// or sent to it before its checks found it failed, gets no answer (the
/// ALB too sends requests to a failed target until its checks fail it).
/// Only its pinned clients' requests go to it, so the count is bounded
/// by what those clients send over that window W: at most
/// `pinned x (ceil(r x W) + 1)` for a client rate r (2.5/s), W the
/// longest time the checks take to find it (above), and one more each
/// for a request already in flight when it failed.
/// No other request fails: none before the failure, none from anything
/// else after its requests' timeout (5 s) has run out.
#[test]
fn a_failed_instance_under_load_is_replaced_and_loses_only_the_requests_it_held() {
    if !ready("a_failed_instance_under_load_is_replaced_and_loses_only_the_requests_it_held") {
        return;
    }
    let text = without_web_servers(&example_text());
    let (lab, _, _down, controller, _) = live("fail", &text);
    let check = health_check(&text);
    let load_start = Instant::now();
    let sender = base_load(&lab, &["--duration", "20s"]);
    // past the grace period: 5 periods from the controller's start
    std::thread::sleep(Duration::from_secs(5));
    let failing = since(load_start, Instant::now());
    ok(&["sim", "fail", &lab, "web-a1"]);
    let failed_at = since(load_start, Instant::now());
    let down = until_status(&lab, "web-asg-1", "DOWN", Duration::from_secs(5))
        .map(|at| since(load_start, at));
    let (seconds, summary) = load_output(&sender.wait_with_output().expect("sim load ends"));
    // its replacement, web-a2 (launched while web-a1 terminates: a name
    // and slot of its own), passes its checks
    let healthy = until_status(&lab, "web-asg-3", "UP", Duration::from_secs(10));
    let s = story(&controller.stop(), load_start);
    let shown = format!(
        "failed from {failing:.2}s to {failed_at:.2}s, DOWN at {down:?}\nreplaced {:?}\napplied {:?}\nsummary {summary}",
        s.replaced, s.applied
    );

    // unhealthy after its thresholds: 2 failed checks an interval
    // apart, each failing after the timeout: at least (2 - 1) x 0.5 +
    // 2 x 0.083, at most 2 x (0.5 + 0.083) s after the failure (and
    // 0.25 s for the test's look every 20 ms through HAProxy's socket:
    // with the check's connection at min(`timeout connect`, `inter`),
    // DOWN came 1.5 to 2 s after)
    let (interval, timeout, fall) = check;
    let window = time_to_down(check);
    let soonest = f64::from(fall - 1) * interval + f64::from(fall) * timeout;
    let down = down.unwrap_or_else(|| panic!("web-a1 never turned DOWN:\n{shown}"));
    eprintln!(
        "DOWN {:.2} to {:.2} s after the failure (between {soonest:.2} and {window:.2} s)",
        down - failed_at,
        down - failing
    );
    assert!(
        down - failing > soonest - 0.05 && down - failed_at < window + 0.25,
        "DOWN {:.2}s after the failure, not between {soonest:.2} and {window:.2} s:\n{shown}",
        down - failed_at
    );
    // replaced (ELB health-check type, past the grace period), and healthy
    // again
    assert_eq!(s.replaced.len(), 1, "{shown}");
    let (name, replaced_at) = &s.replaced[0];
    assert_eq!(name, "web-a1", "{shown}");
    assert!(*replaced_at > down - 0.1, "{shown}");
    assert!(
        healthy.is_some(),
        "the replacement web-a2 never passed its checks:\n{shown}"
    );
    // launched first (3 instances), within half the deregistration delay
    // of DOWN; web-a1 terminated after (before, its drain came first)
    let launch = (s.applied.iter())
        .position(|a| a.2 == ["web-a2"])
        .unwrap_or_else(|| panic!("web-a2 never launched:\n{shown}"));
    let (launched_at, desired, _, terminated) = &s.applied[launch];
    assert_eq!((*desired, terminated.len()), (3, 0), "{shown}");
    let delay = deregistration_delay(&text);
    eprintln!("web-a2 launched {:.2} s after DOWN", launched_at - down);
    assert!(
        launched_at - down < delay / 2.0,
        "web-a2 launched {:.2} s after DOWN:\n{shown}",
        launched_at - down
    );
    assert!(
        (s.applied.get(launch + 1)).is_some_and(|a| a.1 == 2 && a.3 == ["web-a1"]),
        "{shown}"
    );

    // its sticky clients are pinned to another target, once each, after
    // it turned DOWN; no other client moved
    let moved = changes(&summary);
    let pinned = moved.len();
    assert!(pinned > 0, "no client was on web-a1:\n{shown}");
    for (client, at, due, from, to) in &moved {
        assert_eq!(from, "web-a1", "client {client}:\n{shown}");
        assert_ne!(to, "web-a1", "client {client}:\n{shown}");
        assert!(
            *due > failing - 0.1 && *at > down - 0.1,
            "client {client} moved at {at:.2}s (due {due:.2}s):\n{shown}"
        );
    }
    let clients_moved: BTreeSet<usize> = moved.iter().map(|m| m.0).collect();
    assert_eq!(
        clients_moved.len(),
        pinned,
        "a client moved twice:\n{shown}"
    );

    // the requests lost: those web-a1 held, within the bound
    let lost: u64 = (summary["errors"].as_object().into_iter().flatten())
        .filter_map(|(_, n)| n.as_u64())
        .sum();
    let per_client = BASE as f64 / CLIENTS as f64;
    let bound = pinned as u64 * ((per_client * window).ceil() as u64 + 1);
    eprintln!(
        "{lost} requests lost of {}; {pinned} clients pinned to web-a1; bound {bound}\n{shown}",
        summary["sent"]
    );
    assert!(
        lost > 0,
        "the failure cost no request: did it happen?\n{shown}"
    );
    assert!(
        lost <= bound,
        "{lost} requests lost, more than {pinned} pinned clients x (ceil({per_client} x {window:.3}) + 1) = {bound}:\n{shown}"
    );
    assert_eq!(summary["unanswered"], 0, "{shown}");
    let (before, _) = in_phase(&seconds, 0.0, failing.floor());
    assert_eq!(before, 0, "requests failed before web-a1 did:\n{shown}");
    let (after, offered) = in_phase(&seconds, down + 5.0 + 1.0, 20.0);
    assert!(offered > 0, "{shown}");
    assert_eq!(
        after, 0,
        "requests failed after web-a1's had timed out:\n{shown}"
    );
}

/// The targets of the ALB's backend `b80` that are `UP` (or going down,
/// `UP 1/2`): those taking new requests.
fn up_targets(lab: &str) -> Option<usize> {
    let sock = sim::layout::haproxy_socket(&sim::layout::state_dir(lab), "alb");
    let stat = sim::apply::targets::haproxy_api(&sock, "show stat").ok()?;
    let up = (stat.lines())
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|f| f.len() > 17 && f[0] == "b80" && f[1] != "BACKEND" && f[1] != "FRONTEND")
        .filter(|f| f[17].starts_with("UP"))
        .count();
    Some(up)
}

/// Samples [`up_targets`] every 50 ms until `stop` is set: (when, count).
fn sample_up(
    lab: String,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<Vec<(Instant, usize)>> {
    std::thread::spawn(move || {
        let mut out = Vec::new();
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            if let Some(n) = up_targets(&lab) {
                out.push((Instant::now(), n));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        out
    })
}

/// Waits until the controller has printed a change whose instances
/// launched or terminated include `instance` (`launched` says which):
/// when it was read, if within `within`.
fn until_applied(
    controller: &Controller,
    instance: &str,
    launched: bool,
    within: Duration,
) -> Option<Instant> {
    let until = Instant::now() + within;
    let key = if launched { "launched" } else { "terminated" };
    loop {
        let lines = controller.lines.lock().expect("lines");
        let found = lines.iter().find(|(_, v)| {
            v.get("applied")
                .is_some_and(|a| names(&a[key]).iter().any(|n| n == instance))
        });
        if let Some((at, _)) = found {
            return Some(*at);
        }
        drop(lines);
        if Instant::now() >= until {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A failed zone under load: `sim fail LAB --zone a` while 20 clients send
/// 50 requests a second. web-a1's target turns `DOWN` (as a failed
/// instance's, within [`time_to_down`] of the failure); the lab's
/// controller, told the zone is impaired, replaces it in zone c, launch
/// first: web-c2 launched (3 instances) while web-a1, `DOWN`, stays, then
/// web-a1 terminated, the group at 2 (its desired capacity) in zone c
/// alone. The launch waits for no deregistration: it is applied within
/// half the deregistration delay of `DOWN` (before, web-a1's drain, which
/// its hung requests fill for the whole delay, came first, and one target
/// served from 6.8 s to 14.4 s). From a second after `DOWN`
/// until the restore, no request is answered in zone a. `sim fail LAB
/// --restore` then lets zone a launch again: AZRebalance launches web-a1
/// first (3 instances) and terminates one of zone c once it is in
/// service: back to one instance in each zone, the group never below 2.
/// The requests lost are those web-a1 held when it failed (the bound of
/// the failed instance's test); none is lost by the rebalance.
#[test]
fn a_failed_zone_moves_the_group_to_the_other_zone_and_its_restore_rebalances() {
    if !ready("a_failed_zone_moves_the_group_to_the_other_zone_and_its_restore_rebalances") {
        return;
    }
    let text = without_web_servers(&example_text());
    let (lab, _, _down, controller, _) = live("zone", &text);
    let check = health_check(&text);
    let load_start = Instant::now();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = sample_up(lab.clone(), stop.clone());
    let sender = base_load(&lab, &["--duration", "45s", "--session", SESSION]);
    // past the grace period: 5 periods from the controller's start
    std::thread::sleep(Duration::from_secs(5));
    let failing = since(load_start, Instant::now());
    ok(&["sim", "fail", &lab, "--zone", "a"]);
    let down = until_status(&lab, "web-asg-1", "DOWN", Duration::from_secs(5))
        .map(|at| since(load_start, at));
    // the replacement in zone c, and the group at 2 again
    let moved = until_applied(&controller, "web-c2", true, Duration::from_secs(20))
        .map(|at| since(load_start, at));
    let back = Instant::now() + Duration::from_secs(15);
    while Instant::now() < back && up_targets(&lab) != Some(2) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let moved_up = since(load_start, Instant::now());
    // web-a1 terminated after it (its drain: the deregistration delay)
    let gone = until_applied(&controller, "web-a1", false, Duration::from_secs(15))
        .map(|at| since(load_start, at));
    std::thread::sleep(Duration::from_secs(2));
    let restoring = since(load_start, Instant::now());
    ok(&["sim", "fail", &lab, "--restore"]);
    let rebalanced = (until_applied(&controller, "web-a1", true, Duration::from_secs(20)))
        .and_then(|_| {
            let (c1, c2) = ("web-c1", "web-c2");
            let until = Instant::now() + Duration::from_secs(20);
            while Instant::now() < until {
                let one = |n| until_applied(&controller, n, false, Duration::ZERO);
                if let Some(at) = one(c1).or_else(|| one(c2)) {
                    return Some(at);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            None
        })
        .map(|at| since(load_start, at));
    let (seconds, summary) = load_output(&sender.wait_with_output().expect("sim load ends"));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let ups: Vec<(f64, usize)> = (sampler.join().expect("sampler").into_iter())
        .map(|(at, n)| (since(load_start, at), n))
        .collect();
    let s = story(&controller.stop(), load_start);
    let lost: u64 = (summary["errors"].as_object().into_iter().flatten())
        .filter_map(|(_, n)| n.as_u64())
        .sum();
    let shown = format!(
        "failed at {failing:.2}s, DOWN at {down:?}, moved at {moved:?} (2 UP at {moved_up:.2}s, web-a1 terminated at {gone:?}), restored at {restoring:.2}s, rebalanced at {rebalanced:?}\nreplaced {:?}\napplied {:?}\nlost {lost} of {}",
        s.replaced, s.applied, summary["sent"]
    );
    eprintln!("{shown}");
    for sec in &seconds {
        eprintln!(
            "second {}: capacity {} errors {} targets {}",
            sec["second"], sec["capacity"], sec["errors"], sec["targets"]
        );
    }
    let mut last = usize::MAX;
    for (t, n) in &ups {
        if *n != last {
            eprintln!("{t:.2}s: {n} targets UP");
            last = *n;
        }
    }

    let down = down.unwrap_or_else(|| panic!("web-a1 never turned DOWN:\n{shown}"));
    // replaced in zone c, by one change of the instances, at 2
    assert_eq!(
        s.replaced.iter().map(|r| r.0.as_str()).collect::<Vec<_>>(),
        ["web-a1"],
        "{shown}"
    );
    let moved = moved.unwrap_or_else(|| panic!("web-c2 never launched:\n{shown}"));
    assert!(moved > down, "{shown}");
    // launch first (3), then web-a1 terminated (2)
    let launch = (s.applied.iter())
        .position(|a| a.2.contains(&"web-c2".to_string()))
        .expect("the move");
    let (launched_at, desired, launched, terminated) = &s.applied[launch];
    assert_eq!(
        (*desired, launched.as_slice(), terminated.as_slice()),
        (3, &["web-c2".to_string()][..], &[][..]),
        "{shown}"
    );
    let (_, desired, launched, terminated) = s.applied.get(launch + 1).expect("the termination");
    assert_eq!(
        (*desired, launched.as_slice(), terminated.as_slice()),
        (2, &[][..], &["web-a1".to_string()][..]),
        "{shown}"
    );
    // the launch waits for no drain: within half the deregistration delay
    // (5 minutes, 5 s in the lab) of DOWN
    let delay = deregistration_delay(&text);
    eprintln!(
        "web-c2 launched {:.2} s after DOWN; one target served from {down:.2} s to {moved_up:.2} s",
        launched_at - down
    );
    assert!(
        launched_at - down < delay / 2.0,
        "web-c2 launched {:.2} s after DOWN, not within half the deregistration delay ({delay} s):\n{shown}",
        launched_at - down
    );
    // no answer from zone a from a second after DOWN until the restore
    for sec in &seconds {
        let n = sec["second"].as_u64().unwrap_or_default() as f64;
        if n > down + 1.0 && n + 1.0 < restoring {
            let in_a: Vec<&String> = (sec["targets"].as_object().into_iter().flatten())
                .map(|(t, _)| t)
                .filter(|t| t.starts_with("web-a"))
                .collect();
            assert!(in_a.is_empty(), "second {n}: {in_a:?} answered\n{shown}");
        }
    }
    // the restore rebalances: web-a1 launched first (3), then one of
    // zone c terminated (2); the group never below 2
    let rebalanced = rebalanced.unwrap_or_else(|| panic!("no rebalance:\n{shown}"));
    let after: Vec<&(f64, u64, Vec<String>, Vec<String>)> =
        s.applied.iter().filter(|a| a.0 > restoring).collect();
    assert_eq!(after.len(), 2, "{shown}");
    assert_eq!(
        (after[0].1, after[0].2.as_slice()),
        (3, &["web-a1".to_string()][..]),
        "{shown}"
    );
    assert_eq!(after[1].1, 2, "{shown}");
    assert!(after[1].3[0].starts_with("web-c"), "{shown}");
    assert!(s.applied.iter().all(|a| a.1 >= 2), "{shown}");
    // and the targets in service never fewer than 2 during it
    let lowest = (ups.iter())
        .filter(|(t, _)| *t > restoring && *t < rebalanced + 6.0)
        .map(|(_, n)| *n)
        .min();
    eprintln!("targets UP during the rebalance: lowest {lowest:?}");
    assert!(lowest.is_some_and(|n| n >= 2), "{lowest:?}\n{shown}");
    // zone a answers again
    let answered_a: u64 = (seconds.iter())
        .filter(|sec| sec["second"].as_f64().unwrap_or_default() > rebalanced)
        .filter_map(|sec| sec["targets"]["web-a1"].as_u64())
        .sum();
    assert!(answered_a > 0, "the new web-a1 answered nothing:\n{shown}");
    // the requests lost: web-a1's when it failed, within the failed
    // instance's bound; none in the rebalance
    let per_client = BASE as f64 / CLIENTS as f64;
    let bound = CLIENTS as u64 * ((per_client * time_to_down(check)).ceil() as u64 + 1);
    assert!(lost <= bound, "{lost} lost, bound {bound}\n{shown}");
    let (in_rebalance, offered) = in_phase(&seconds, restoring, 45.0);
    assert!(offered > 0, "{shown}");
    assert_eq!(
        in_rebalance, 0,
        "requests failed in the rebalance:\n{shown}"
    );
}
