//! `vifgate sim load` through the example's ALB (HAProxy): the generator's
//! counts against HAProxy's own counters, and clients that stick to their
//! targets. Needs HAProxy.

use std::collections::BTreeMap;

use crate::common;
use crate::common::applied::{example_text, without_web_servers};
use crate::common::lab::{cli, lab_of, ready};
use crate::common::text;
use sim::load::haproxy_stat;
use sim::ops::lab::Lab;

/// Responses by instance of the ALB's port-80 backend, read from HAProxy
/// (whose servers are the group's slots).
fn answered(lab: &Lab, sock: &std::path::Path) -> BTreeMap<String, u64> {
    let backend = sim::render::haproxy::backend_name(80);
    let h = &lab.plan().haproxy[0];
    let instance = |server: &str| {
        h.targets
            .iter()
            .find(|t| t.backend == backend && t.server == server)
            .map(|t| t.instance.clone())
    };
    let stat = sim::apply::targets::haproxy_api(sock, "show stat").expect("show stat");
    haproxy_stat::servers(&stat, &backend)
        .into_iter()
        .filter_map(|s| Some((instance(&s.name)?, s.responses)))
        .collect()
}

#[test]
fn a_load_through_the_alb_is_counted_as_haproxy_counts_it_and_clients_stick() {
    if !ready("a_load_through_the_alb_is_counted_as_haproxy_counts_it_and_clients_stick")
        || !common::need_tool("haproxy")
    {
        return;
    }
    // the lab's listener serves the web hosts, and sets the application's
    // cookie when asked: the ALB's `app_cookie` stickiness follows it
    let lab = lab_of(
        &format!("ld{}", std::process::id()),
        &without_web_servers(&example_text()),
    );
    let sock = sim::layout::haproxy_socket(&sim::layout::state_dir(lab.name()), "alb");
    let before = answered(&lab, &sock);
    let timeline = std::env::temp_dir().join(format!("{}-load.jsonl", lab.name()));
    let o = cli(&[
        "sim",
        "load",
        lab.name(),
        "--to",
        "alb:80",
        "--rate",
        "40/s",
        "--duration",
        "3s",
        "--clients",
        "2",
        "--path",
        "/?set-cookie=SESSIONID",
        "--json",
        "--timeline",
        timeline.to_str().expect("utf-8 temp dir"),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let after = answered(&lab, &sock);
    let stdout = String::from_utf8_lossy(&o.stdout);
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON lines"))
        .collect();
    let summary = &lines.last().expect("a summary")["summary"];
    assert_eq!(summary["sent"], 120, "{summary}");
    assert_eq!(summary["ok"], 120, "{summary}");
    // one record a second, also in the timeline file
    let seconds = &lines[..lines.len() - 1];
    assert_eq!(seconds.len(), 3, "{stdout}");
    assert!(
        seconds
            .iter()
            .all(|s| s["offered"] == 40 && s["capacity"] == 2),
        "{stdout}"
    );
    let file = std::fs::read_to_string(&timeline).expect("the timeline");
    let _ = std::fs::remove_file(&timeline);
    assert_eq!(file.lines().count(), 3);
    // HAProxy answered, per server, what the generator counted per target
    let targets = summary["targets"].as_object().expect("targets");
    for (server, n) in &after {
        let delta = n - before.get(server).copied().unwrap_or(0);
        let counted = targets.get(server).and_then(|v| v.as_u64()).unwrap_or(0);
        assert_eq!(
            delta, counted,
            "{server}: HAProxy {delta}, sim load {counted}"
        );
    }
    assert_eq!(
        targets.values().filter_map(|v| v.as_u64()).sum::<u64>(),
        120,
        "every answer named its target: {summary}"
    );
    // each client's cookie kept it on one target
    let clients = summary["clients"].as_array().expect("clients");
    assert_eq!(clients.len(), 2);
    for c in clients {
        assert_eq!(c["moves"], 0, "{summary}");
        let on = c["targets"].as_object().expect("targets");
        assert_eq!(on.len(), 1, "a client answered by two targets: {summary}");
        assert_eq!(on.values().next().and_then(|v| v.as_u64()), Some(60));
    }
    // the plot is kept with the lab, for `sim test --reuse --report`
    let kept = sim::layout::state_dir(lab.name()).join(sim::load::LAB_PLOT_FILE);
    let svg = std::fs::read_to_string(&kept).expect("the plot kept with the lab");
    assert!(svg.contains("p99 latency (ms)"));

    // Ctrl-C: the summary so far, and a clean exit
    let run = std::process::Command::new(common::vifgate())
        .args(["sim", "load", lab.name(), "--to", "alb", "--rate", "20/s"])
        .args(["--path", "/?set-cookie=SESSIONID"])
        .args(["--duration", "60s", "--clients", "1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("sim load runs");
    std::thread::sleep(std::time::Duration::from_secs(3));
    // SAFETY: signals the child this test started
    unsafe { libc::kill(run.id() as i32, libc::SIGINT) };
    let o = run.wait_with_output().expect("sim load ends");
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(out.contains("interrupted: "), "{out}");
    assert!(out.contains("   1s  offered    20/s"), "{out}");
    assert!(
        out.contains("every one of 1 client(s) stayed on its target"),
        "{out}"
    );
}
