//! `sim link` on a running lab: a link put down cuts the flows that cross
//! it and only those, a delay on a tunnel is played by the gateways where
//! the kernel has no netem, and `sim link` returns once the gateways run
//! their new configuration.

use std::time::Duration;

use crate::common::lab::{example_lab, link_name, ready, static_verdict};
use crate::common::leftovers::eventually;
use sim::layout;
use sim::ops::compare;
use sim::ops::lab::Lab;
use sim::ops::link::LinkChange;
use sim::plan::{self, LinkKind};
use topology::analysis::{Service, Verdict};

/// A delay of `ms` each way on a link, nothing else changed.
fn delay(ms: u64) -> LinkChange {
    LinkChange::Shape {
        delay: Some(Duration::from_millis(ms)),
        jitter: None,
        loss_percent: None,
        rate_bps: None,
    }
}

/// The minimum RTT of a few pings, in milliseconds.
fn ping_min_ms(lab: &Lab, from: &str, to: &str) -> Option<f64> {
    let dst = lab.address(to).expect("an address").to_string();
    let o = lab
        .exec(
            from,
            &["ping", "-n", "-c", "4", "-i", "0.2", "-W", "2", &dst],
        )
        .expect("ping ran");
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| l.split("time=").nth(1))
        .filter_map(|t| t.split_whitespace().next()?.parse::<f64>().ok())
        .min_by(|a, b| a.total_cmp(b))
}

#[test]
fn link_down_cuts_crossing_probes_and_up_restores_them() {
    if !ready("link_down_cuts_crossing_probes_and_up_restores_them") {
        return;
    }
    let lab = example_lab();
    let mysql = Service::Tcp(3306);
    let http = Service::Tcp(80);
    assert_eq!(
        static_verdict(&lab, "web-a1", "db-primary", mysql),
        Verdict::Accepted
    );
    assert_eq!(
        static_verdict(&lab, "alb", "web-a1", http),
        Verdict::Accepted
    );
    assert!(lab.reaches("web-a1", "db-primary", mysql));
    assert!(lab.reaches("alb", "web-a1", http));

    let said = lab
        .link("db-primary", "db-a", &LinkChange::Down)
        .expect("link down");
    assert!(said.contains("down"), "{said}");
    assert!(!lab.reaches("web-a1", "db-primary", mysql));
    // a flow that does not cross that link is unaffected
    assert!(lab.reaches("alb", "web-a1", http));
    assert!(lab.reaches("web-c1", "db-standby", mysql));

    lab.link("db-a", "db-primary", &LinkChange::Up)
        .expect("link up (ends given the other way round)");
    assert!(
        eventually(Duration::from_secs(5), Duration::from_millis(200), || lab
            .reaches("web-a1", "db-primary", mysql)),
        "web-a1 -> db-primary tcp/3306 did not come back"
    );
    assert!(lab.reaches("alb", "web-a1", http));
    // the whole lab is as it was: static and live agree everywhere again
    let r = lab.test(2000, compare::default_probe_options());
    assert!(r.passed(), "{}", compare::render(&r, false));

    // a link that does not exist: an error listing those there are
    let e = lab
        .link("db-primary", "web-a", &LinkChange::Down)
        .expect_err("no such link");
    assert!(e.to_string().contains("db-primary db-a"), "{e}");
}

#[test]
fn link_delay_without_netem_uses_the_gateways() {
    if !ready("link_delay_without_netem_uses_the_gateways") {
        return;
    }
    let lab = example_lab();
    assert_eq!(
        static_verdict(&lab, "web-a1", "office-pc", Service::IcmpEcho),
        Verdict::Accepted
    );
    let base = ping_min_ms(&lab, "web-a1", "office-pc").expect("ping web-a1 -> office-pc");
    let features = sim::apply::state::read_state(lab.name())
        .expect("state")
        .features;
    let said = lab
        .link("vifgate-office", "dx-vif", &delay(20))
        .expect("delay on the DX link");
    if features.netem {
        assert!(said.contains("netem"), "{said}");
    } else {
        assert!(said.contains("gateways"), "{said}");
    }
    // 20 ms each way: the round trip grows by 40 ms (the gateways reload
    // their configuration asynchronously: wait for it)
    let mut rtt = None;
    let slowed = eventually(Duration::from_secs(5), Duration::from_millis(100), || {
        rtt = ping_min_ms(&lab, "web-a1", "office-pc");
        rtt.is_some_and(|r| r >= base + 35.0)
    });
    assert!(
        slowed,
        "RTT {rtt:?} ms with 20 ms each way, {base} ms before"
    );
    assert!(rtt.is_some_and(|r| r < base + 500.0), "{rtt:?} ms");

    // cleared again
    lab.link("vifgate-office", "dx-vif", &delay(0))
        .expect("clear the delay");
    let mut rtt = None;
    let cleared = eventually(Duration::from_secs(5), Duration::from_millis(100), || {
        rtt = ping_min_ms(&lab, "web-a1", "office-pc");
        rtt.is_some_and(|r| r < base + 20.0)
    });
    assert!(cleared, "RTT {rtt:?} ms after clearing, {base} ms before");

    // a link no gateway carries needs netem
    let r = lab.link("web-a1", "web-a", &delay(20));
    if features.netem {
        r.expect("netem delays any link");
    } else {
        let e = r.expect_err("no netem: only tunnels can be delayed");
        assert!(e.to_string().contains("netem"), "{e}");
    }
    // still working after all that
    assert!(lab.reaches("web-a1", "office-pc", Service::IcmpEcho));
}

#[test]
fn sim_link_returns_once_the_gateways_run_the_new_configuration() {
    if !ready("sim_link_returns_once_the_gateways_run_the_new_configuration") {
        return;
    }
    let lab = example_lab();
    let st = sim::apply::state::read_state(lab.name()).expect("state");
    let dx = layout::ns_token(&link_name(&lab, LinkKind::DirectConnect));
    // the gateways at both ends of the DX link
    let ends: Vec<&plan::GatewaySpec> = st
        .plan
        .gateways
        .iter()
        .filter(|g| g.office_node.is_some() || g.name.ends_with(&dx))
        .collect();
    assert_eq!(ends.len(), 2, "{:?}", st.plan.gateways);
    let status = |g: &plan::GatewaySpec| {
        let sock = sim::layout::state_dir(lab.name()).join(format!("{}.sock", g.name));
        gateway::shell::query_status(&sock).unwrap_or_else(|e| panic!("{}: {e}", g.name))
    };
    for g in &ends {
        assert_eq!(
            status(g).reload.map(|r| r.generation),
            Some(1),
            "{}",
            g.name
        );
    }
    // both gateways run configuration `generation`, with this delay (when
    // they, not netem, delay the link)
    let in_force = |generation: u64, delay_ms: f64| {
        for g in &ends {
            let s = status(g);
            assert_eq!(
                s.reload.as_ref().map(|r| r.generation),
                Some(generation),
                "{}",
                g.name
            );
            if !st.features.netem {
                // the link's own jitter (from the topology) may stay
                let now = s.impair.as_ref().map_or(0.0, |i| i.delay_ms);
                assert!((now - delay_ms).abs() < 1e-6, "{}: {:?}", g.name, s.impair);
            }
        }
    };
    lab.link("vifgate-office", "dx-vif", &delay(20))
        .expect("delay on the DX link");
    // no waiting here: when `sim link` returns, the reload is in force
    in_force(2, 20.0);
    // a gateway slow to reload (stopped): `sim link` waits for it
    let office = ends
        .iter()
        .find(|g| g.office_node.is_some())
        .expect("the office gateway");
    let gw = st.gateway_process(&office.name).expect("recorded").clone();
    let signal = |sig| assert!(gw.signal(sig).expect("signal"), "{gw:?} is gone");
    signal(libc::SIGSTOP);
    let name = lab.name().to_string();
    let clear = std::thread::spawn(move || {
        sim::ops::link::change(&name, "vifgate-office", "dx-vif", &delay(0))
    });
    std::thread::sleep(Duration::from_millis(600));
    let waited = !clear.is_finished();
    signal(libc::SIGCONT);
    let said = clear.join().expect("thread");
    assert!(
        waited,
        "sim link returned while the gateway could not reload"
    );
    said.expect("clear the delay");
    in_force(3, 0.0);
}
