//! The lab's load balancer behaves as an ALB's target group does, with a
//! real HAProxy and real HTTP clients: a registered instance gets traffic
//! only after its healthy threshold of passing checks; a deregistered one
//! gets no new request (a sticky client is pinned anew); the `AWSALB` and
//! `AWSALBAPP-0` cookies carry an expiry of now plus their duration that
//! slides; `sim fail` makes a target unhealthy after its unhealthy
//! threshold and its sticky clients move; `sim fail --zone` moves all
//! traffic to the other zone; `sim apply` brings the failed back.
//!
//! The example, its web servers played by the lab's listener (HTTP on
//! port 80) instead of Python's: `[sim] time_scale` 60, the default
//! health check (30 s, healthy 5, unhealthy 2) every 500 ms in the lab.
//!
//! Needs root, nftables, BIRD, HAProxy and python3; runs for real under
//! `CI=true` (a missing capability fails there), skips with a message
//! elsewhere. Lab names carry the test process's pid.

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::applied::{apply, edit, example_text, file, ok, up, Down};
use common::leftovers::eventually;
use common::text;

fn ready(test: &str) -> bool {
    common::can_run(test)
        && common::need_tool("nft")
        && common::need_bird()
        && common::need_tool("haproxy")
        && common::need_tool("python3")
}

/// A lab name of this run: `al<pid>-<what>`.
fn lab_name(what: &str) -> String {
    format!("al{}-{what}", std::process::id())
}

/// The example with its web hosts served by the lab's listener (no
/// start command), listener 443 sticky by the ALB's own cookie for a day.
fn alb_text() -> String {
    let a = common::applied::without_web_servers(&example_text());
    edit(
        &a,
        "{ port = 443, protocol = \"https\", targets = [\"web-asg\"], target_port = 80, stickiness = { type = \"app_cookie\", cookie_name = \"SESSIONID\", duration = \"5d\" } }",
        "{ port = 443, protocol = \"https\", targets = [\"web-asg\"], target_port = 80, stickiness = { type = \"lb_cookie\", duration = \"1d\" } }",
    )
}

/// Requests from the internet: each line of `requests` is `PATH COOKIE`
/// (`-` for none); prints, per request, `STATUS TARGET EPOCH` then each
/// Set-Cookie as `NAME VALUE EXPIRES-EPOCH` (as Python's cookie jar reads
/// it), a line each, then `--`.
const CLIENT: &str = r#"
import sys, time, http.client, http.cookiejar, urllib.request
host = sys.argv[1]
for line in sys.argv[2:]:
    path, cookie = line.split(' ', 1)
    port = 443 if path.startswith(':443') else 80
    path = path[4:] if path.startswith(':443') else path
    c = http.client.HTTPConnection(host, port, timeout=5)
    h = {} if cookie == '-' else {'Cookie': cookie}
    c.request('GET', path, headers=h)
    r = c.getresponse(); r.read()
    print(r.status, r.getheader('X-Vifgate-Target'), time.time())
    jar = http.cookiejar.CookieJar()
    req = urllib.request.Request('http://%s:%d%s' % (host, port, path))
    for k in jar.make_cookies(r, req):
        print(k.name, k.value, k.expires)
    print('--')
    c.close()
"#;

/// One answer of [`CLIENT`].
#[derive(Debug, Clone)]
struct Answer {
    status: u16,
    target: String,
    at: f64,
    cookies: Vec<(String, String, Option<f64>)>,
}

impl Answer {
    fn cookie(&self, name: &str) -> Option<&(String, String, Option<f64>)> {
        self.cookies.iter().find(|c| c.0 == name)
    }
}

/// `requests` (`PATH COOKIE` each, `:443/PATH` for port 443) from the
/// internet to the ALB of lab `lab`.
fn get(lab: &str, requests: &[String]) -> Vec<Answer> {
    let ns = format!("{lab}.internet");
    let o = Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns,
            "python3",
            "-c",
            CLIENT,
            "203.0.113.20",
        ])
        .args(requests)
        .stdin(Stdio::null())
        .output()
        .expect("python runs");
    assert!(o.status.success(), "client: {}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let mut answers = Vec::new();
    let mut cur: Option<Answer> = None;
    for l in out.lines() {
        let w: Vec<&str> = l.split_whitespace().collect();
        if l == "--" {
            answers.extend(cur.take());
        } else if cur.is_none() {
            cur = Some(Answer {
                status: w[0].parse().expect("status"),
                target: w[1].to_string(),
                at: w[2].parse().expect("time"),
                cookies: Vec::new(),
            });
        } else if let Some(a) = cur.as_mut() {
            a.cookies.push((
                w[0].into(),
                w[1].into(),
                w.get(2).and_then(|e| e.parse().ok()),
            ));
        }
    }
    answers
}

fn one(lab: &str, path: &str, cookie: &str) -> Answer {
    get(lab, &[format!("{path} {cookie}")]).remove(0)
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64()
}

/// HAProxy's status of server `server` of backend `b80` of the ALB.
fn status(lab: &str, server: &str) -> String {
    let sock = sim::layout::haproxy_socket(&sim::layout::state_dir(lab), "alb");
    let stat = sim::apply::targets::haproxy_api(&sock, "show stat").expect("show stat");
    sim::apply::targets::health_in(&stat, "b80", server)
        .map(|(s, _)| s)
        .unwrap_or_default()
}

/// The statuses of `server` seen every 20 ms until `done` holds of one
/// (or `within` passes), each once in a row.
fn watch(lab: &str, server: &str, within: Duration, done: impl Fn(&str) -> bool) -> Vec<String> {
    let until = Instant::now() + within;
    let mut seen: Vec<String> = Vec::new();
    while Instant::now() < until {
        let s = status(lab, server);
        if seen.last() != Some(&s) {
            seen.push(s.clone());
        }
        if done(&s) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    seen
}

#[test]
fn a_registered_slot_serves_after_rise_checks_and_a_deregistered_one_takes_no_new_request() {
    if !ready(
        "a_registered_slot_serves_after_rise_checks_and_a_deregistered_one_takes_no_new_request",
    ) {
        return;
    }
    let a = alb_text();
    let b = edit(&a, "desired = 2", "desired = 3");
    let lab = lab_name("reg");
    let _down = Down(lab.clone());
    up(&file("alb-a.toml", &a), &lab);
    assert_eq!(status(&lab, "web-asg-3"), "MAINT", "an empty slot");

    // 2 -> 3: web-a2 in slot 3, down until 5 checks pass
    let o = apply(&file("alb-b.toml", &b), &lab);
    let said = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(said.contains("register target web-a2"), "{said}");
    assert!(!said.contains("reload HAProxy"), "{said}");
    let registered = now();
    let seen = watch(&lab, "web-asg-3", Duration::from_secs(10), |s| s == "UP");
    let up_at = now();
    assert_eq!(seen.last().map(String::as_str), Some("UP"), "{seen:?}");
    assert!(
        seen[0].starts_with("DOWN"),
        "registered, it is down until its checks pass: {seen:?}"
    );
    // rising: DOWN 1/5 .. 4/5 (some may fall between two looks)
    assert!(
        seen.iter()
            .any(|s| s.starts_with("DOWN ") && s.ends_with("/5")),
        "{seen:?}"
    );
    eprintln!(
        "web-asg-3: {seen:?}, up {:.2} s after its registration",
        up_at - registered
    );
    // 5 checks 500 ms apart: 4 intervals after the first check (timed
    // from the apply's end, a little after the registration: 3 at least)
    assert!(
        up_at - registered >= 1.5,
        "up after {:.2} s",
        up_at - registered
    );
    let answers = get(&lab, &vec!["/ -".to_string(); 9]);
    assert!(answers.iter().any(|a| a.target == "web-a2"), "{answers:?}");

    // a client pinned to web-a2 (slot 3)
    let pinned = one(&lab, "/?set-cookie=SESSIONID", "AWSALBAPP-0=web-asg-3");
    assert_eq!(pinned.target, "web-a2");
    // 3 -> 2: deregistered; the pinned client goes to another target and
    // is pinned to it
    let o = apply(&file("alb-a2.toml", &a), &lab);
    let said = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(said.contains("deregister target web-a2"), "{said}");
    assert!(!said.contains("reload HAProxy"), "{said}");
    assert_eq!(status(&lab, "web-asg-3"), "MAINT");
    let after = get(&lab, &vec!["/ -".to_string(); 6]);
    assert!(
        after
            .iter()
            .all(|m| m.status == 200 && m.target != "web-a2"),
        "a deregistered target took a new request: {after:?}"
    );
    let moved = get(
        &lab,
        &vec!["/ AWSALBAPP-0=web-asg-3; SESSIONID=x".to_string(); 4],
    );
    for m in &moved {
        assert_eq!(m.status, 200);
        assert_ne!(m.target, "web-a2", "{moved:?}");
    }
    let slot = &moved[0].cookie("AWSALBAPP-0").expect("pinned anew").1;
    assert!(
        ["web-asg-1", "web-asg-2"].contains(&slot.as_str()),
        "{moved:?}"
    );
}

#[test]
fn the_albs_cookies_expire_after_their_duration_and_slide() {
    if !ready("the_albs_cookies_expire_after_their_duration_and_slide") {
        return;
    }
    let a = alb_text();
    let lab = lab_name("ck");
    let _down = Down(lab.clone());
    up(&file("alb-ck.toml", &a), &lab);
    // both web hosts healthy
    for s in ["web-asg-1", "web-asg-2"] {
        let seen = watch(&lab, s, Duration::from_secs(10), |x| x == "UP");
        assert_eq!(seen.last().map(String::as_str), Some("UP"), "{s}: {seen:?}");
    }

    // lb_cookie (port 443): AWSALB on every answer, for a day from now
    let first = one(&lab, ":443/", "-");
    let (_, slot, expires) = first.cookie("AWSALB").expect("AWSALB").clone();
    let expires = expires.expect("an expiry");
    assert!(
        (expires - (first.at + 86400.0)).abs() < 5.0,
        "AWSALB expires {expires}, asked at {}",
        first.at
    );
    std::thread::sleep(Duration::from_millis(2500));
    let again = one(&lab, ":443/", &format!("AWSALB={slot}"));
    assert_eq!(again.target, first.target, "sticky");
    let (_, slot2, expires2) = again.cookie("AWSALB").expect("set again").clone();
    assert_eq!(slot2, slot);
    let slid = expires2.expect("an expiry") - expires;
    assert!(slid >= 1.0, "the expiry slid by {slid} s only");

    // app_cookie (port 80): nothing until the application sets SESSIONID
    let plain = one(&lab, "/", "-");
    assert!(plain.cookies.is_empty(), "{plain:?}");
    let set = one(&lab, "/?set-cookie=SESSIONID", "-");
    assert!(set.cookie("SESSIONID").is_some(), "{set:?}");
    let (_, app_slot, app_expires) = set.cookie("AWSALBAPP-0").expect("AWSALBAPP-0").clone();
    let app_expires = app_expires.expect("an expiry");
    assert!(
        (app_expires - (set.at + 5.0 * 86400.0)).abs() < 5.0,
        "AWSALBAPP-0 expires {app_expires}, asked at {}",
        set.at
    );
    // pinned: every request goes to its target
    let cookie = format!("AWSALBAPP-0={app_slot}; SESSIONID=x");
    let pinned = get(&lab, &vec![format!("/ {cookie}"); 6]);
    assert!(pinned.iter().all(|p| p.target == set.target), "{pinned:?}");
    // and the expiry slides when the application sets its cookie again
    std::thread::sleep(Duration::from_millis(1500));
    let reset = one(&lab, "/?set-cookie=SESSIONID", &cookie);
    let later = reset
        .cookie("AWSALBAPP-0")
        .expect("set again")
        .2
        .expect("expiry");
    assert!(later - app_expires >= 1.0, "{later} after {app_expires}");
}

fn vifgate(args: &[&str]) -> std::process::Output {
    Command::new(common::vifgate())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("vifgate runs")
}

#[test]
fn a_failed_instance_turns_unhealthy_after_fall_checks_and_its_sticky_clients_move() {
    if !ready("a_failed_instance_turns_unhealthy_after_fall_checks_and_its_sticky_clients_move") {
        return;
    }
    let a = alb_text();
    let path: PathBuf = file("alb-fail.toml", &a);
    let lab = lab_name("fl");
    let _down = Down(lab.clone());
    up(&path, &lab);
    for s in ["web-asg-1", "web-asg-2"] {
        let seen = watch(&lab, s, Duration::from_secs(10), |x| x == "UP");
        assert_eq!(seen.last().map(String::as_str), Some("UP"), "{s}: {seen:?}");
    }
    let pinned = one(&lab, "/?set-cookie=SESSIONID", "AWSALBAPP-0=web-asg-1");
    assert_eq!(pinned.target, "web-a1");

    // a bad name, a bad zone, a node that is no instance: refused
    let bad = vifgate(&["sim", "fail", &lab, "web-a9"]);
    assert!(!bad.status.success());
    assert!(
        text(&bad).contains("has no node `web-a9`"),
        "{}",
        text(&bad)
    );
    let bad = vifgate(&["sim", "fail", &lab, "alb"]);
    assert!(
        text(&bad).contains("`alb` is a load balancer, not an instance"),
        "{}",
        text(&bad)
    );
    let bad = vifgate(&["sim", "fail", &lab, "--zone", "z"]);
    assert!(
        text(&bad).contains("no instance in zone `z`"),
        "{}",
        text(&bad)
    );
    let bad = vifgate(&["sim", "fail", "nolab", "web-a1"]);
    assert!(text(&bad).contains("no lab `nolab`"), "{}", text(&bad));

    let failed = now();
    ok(&["sim", "fail", &lab, "web-a1"]);
    let seen = watch(&lab, "web-asg-1", Duration::from_secs(10), |s| {
        s.starts_with("DOWN")
    });
    let down_at = now();
    eprintln!(
        "web-asg-1 failed: {seen:?}, down {:.2} s after",
        down_at - failed
    );
    assert!(
        seen.last().is_some_and(|s| s.starts_with("DOWN")),
        "{seen:?}"
    );
    // one failed check does not make it unhealthy: two do
    assert!(seen.iter().any(|s| s == "UP 1/2"), "{seen:?}");
    let status_out = String::from_utf8_lossy(&ok(&["sim", "status", &lab]).stdout).into_owned();
    assert!(
        status_out.contains("failed (`sim fail`): web-a1"),
        "{status_out}"
    );
    assert!(
        status_out.contains("target web-a1 of alb (b80 web-asg-1): DOWN"),
        "{status_out}"
    );
    // its sticky client moves, and is pinned anew
    let moved = get(
        &lab,
        &vec!["/ AWSALBAPP-0=web-asg-1; SESSIONID=x".to_string(); 3],
    );
    assert!(
        moved
            .iter()
            .all(|m| m.status == 200 && m.target == "web-c1"),
        "{moved:?}"
    );
    assert_eq!(
        moved[0].cookie("AWSALBAPP-0").map(|c| c.1.as_str()),
        Some("web-asg-2")
    );

    // zone a fails: all traffic to zone c
    let o = ok(&["sim", "fail", &lab, "--zone", "a"]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("web-a1"),
        "{}",
        text(&o)
    );
    let all = get(&lab, &vec!["/ -".to_string(); 6]);
    assert!(
        all.iter().all(|m| m.status == 200 && m.target == "web-c1"),
        "{all:?}"
    );

    // apply of the lab's file brings them back: web-a1 healthy again
    let o = apply(&path, &lab);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("restored the failed instance"), "{}", text(&o));
    // it said nothing of the zone it no longer held impaired
    assert!(
        out.contains("zone a launches again: the group rebalances into it"),
        "{}",
        text(&o)
    );
    let seen = watch(&lab, "web-asg-1", Duration::from_secs(10), |s| s == "UP");
    assert_eq!(seen.last().map(String::as_str), Some("UP"), "{seen:?}");
    let status_out = String::from_utf8_lossy(&ok(&["sim", "status", &lab]).stdout).into_owned();
    assert!(!status_out.contains("failed (`sim fail`)"), "{status_out}");
    let back = eventually(Duration::from_secs(5), Duration::from_millis(100), || {
        get(&lab, &vec!["/ -".to_string(); 4])
            .iter()
            .any(|m| m.target == "web-a1")
    });
    assert!(back, "web-a1 serves again");
}

/// The target map is the load balancer's, one for both listeners' backends,
/// whose slots of one name hold one instance: deregistering the slot from
/// one backend (as a scale-in does, b443 before b80) leaves the other's
/// answers naming their target. (It deleted the slot's name, and b80's
/// answers said `X-Vifgate-Target: -` until their own deregistration:
/// the event-day test saw a sticky client "move" to `-`.)
#[test]
fn a_slot_deregistered_from_one_backend_still_names_its_target_in_the_other() {
    if !ready("a_slot_deregistered_from_one_backend_still_names_its_target_in_the_other") {
        return;
    }
    let lab = lab_name("map");
    let _down = Down(lab.clone());
    up(&file("alb-map.toml", &alb_text()), &lab);
    let seen = watch(&lab, "web-asg-1", Duration::from_secs(10), |s| s == "UP");
    assert_eq!(seen.last().map(String::as_str), Some("UP"), "{seen:?}");
    let st = sim::apply::state::read_state(&lab).expect("the lab's state");
    let h = &st.plan.haproxy[0];
    let of = |backend: &str| {
        (h.targets.iter())
            .find(|t| t.backend == backend && t.server == "web-asg-1")
            .unwrap_or_else(|| panic!("slot web-asg-1 of {backend}: {:?}", h.targets))
            .clone()
    };
    let sock = sim::layout::haproxy_socket(&sim::layout::state_dir(&lab), "alb");
    let map = sim::layout::haproxy_target_map(&sim::layout::state_dir(&lab), "alb");
    sim::apply::targets::deregister(&sock, &of("b443"), Duration::ZERO).expect("deregister");
    let a = one(&lab, "/", "AWSALBAPP-0=web-asg-1");
    assert_eq!((a.status, a.target.as_str()), (200, "web-a1"), "{a:?}");
    // registered again, b443 answers with its name too
    sim::apply::targets::register(&sock, &map, &of("b443")).expect("register");
    let seen = watch(&lab, "web-asg-1", Duration::from_secs(10), |s| s == "UP");
    assert_eq!(seen.last().map(String::as_str), Some("UP"), "{seen:?}");
    let a = one(&lab, "/", "AWSALBAPP-0=web-asg-1");
    assert_eq!(a.target, "web-a1", "{a:?}");
}
