//! BGP in the lab: BIRD (or FRR for the office) on every side of the
//! example's VIF and VPN, the sessions and routes against
//! `topology::bgp`'s prediction, AWS's community and prefix-limit
//! behaviours, and the office's traffic failing over from Direct Connect
//! to the VPN and back (BFD or the gateways' liveness). Needs BIRD too
//! (FRR for its tests).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common;
use crate::common::lab::{
    bird_ready, cli_ok, example_lab, example_text, lab_of, link_name, EXAMPLE,
};
use crate::common::leftovers::eventually;
use sim::layout;
use sim::ops::compare;
use sim::ops::lab::Lab;
use sim::ops::link::LinkChange;
use sim::plan::{self, LinkKind};
use topology::analysis::Service;

/// The example with its VIF's `advertised_prefixes` line replaced by
/// `line` (the VPN's is not that line).
fn example_with_vif_prefixes(line: &str) -> String {
    let two = r#"advertised_prefixes = ["192.168.10.0/24", "192.168.20.0/24"]"#;
    let file = example_text();
    assert_eq!(file.matches(two).count(), 1, "the example's VIF changed");
    file.replacen(two, line, 1)
}

/// A lab of the example with its VIF and VPN set up as `variant` says
/// (BFD or not, hold time, the VPN on BGP or static), in the file's text.
fn variant_lab(variant: sim::ops::failover::Variant) -> Lab {
    let text = variant.toml(&example_text()).expect("the example is TOML");
    lab_of(EXAMPLE, &text)
}

/// The plan's BIRD `name` (`vgw`, `vpc`, an office node).
fn bird_of<'a>(lab: &'a Lab, name: &str) -> &'a sim::plan::bird::BirdSpec {
    lab.plan()
        .bird
        .daemons
        .iter()
        .find(|d| d.name == name)
        .unwrap_or_else(|| panic!("no BIRD {name}"))
}

/// The TUN device of the VGW's gateway of VIF or VPN `name` (named after
/// it, `sim::layout::vgw_tunnels`).
fn vgw_tun(lab: &Lab, name: &str) -> String {
    let gateway = format!("vgw-{}", layout::ns_token(name));
    lab.plan()
        .gateways
        .iter()
        .find(|g| g.name == gateway)
        .map(|g| g.tun.clone())
        .unwrap_or_else(|| panic!("no gateway {gateway}"))
}

/// What the lab's BIRDs say (protocols, routes, log tails) and the VGW's
/// main table, for a failure message.
fn bgp_diagnostics(lab: &Lab) -> String {
    let mut out = String::new();
    let routes = Command::new("ip")
        .args(["-n", &layout::vgw_ns(lab.name()), "route"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    out.push_str(&format!("VGW main table:\n{routes}"));
    for d in &lab.plan().bird.daemons {
        for cmd in ["show protocols", "show route"] {
            let shown =
                sim::bgp::live::bird::birdc(&d.socket, cmd).unwrap_or_else(|e| e.to_string());
            out.push_str(&format!("\nBIRD {} {cmd}:\n{shown}", d.name));
        }
        let log = std::fs::read_to_string(&d.log).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(10).collect();
        out.push_str(&format!(
            "\nBIRD {} log (last lines, newest first):\n{}\n",
            d.name,
            tail.join("\n")
        ));
    }
    out
}

/// The office gateway's view of one peer (`vifgate status --json`).
fn office_peer(lab: &Lab, peer: &str) -> serde_json::Value {
    let g = lab
        .plan()
        .gateways
        .iter()
        .find(|g| g.policy_node.as_deref() == Some("vifgate-office"))
        .expect("an office gateway in the plan");
    let sock = sim::layout::state_dir(lab.name()).join(format!("{}.sock", g.name));
    let o = cli_ok(&[
        "status",
        "--json",
        "--socket",
        sock.to_str().expect("utf-8"),
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("status JSON");
    v["peers"]
        .as_array()
        .expect("peers")
        .iter()
        .find(|p| p["name"] == peer)
        .unwrap_or_else(|| panic!("no peer {peer} in {v:#}"))
        .clone()
}

#[test]
fn dx_failure_moves_office_traffic_to_the_vpn() {
    if !bird_ready("dx_failure_moves_office_traffic_to_the_vpn") {
        return;
    }
    // BFD on the VIF: the VGW's BIRD notices the cut within a second (the
    // hold timer would take AWS's 90 s)
    let lab = variant_lab(sim::ops::failover::Variant {
        bfd: true,
        hold_time: None,
        bgp_vpn: false,
    });
    let ssh = Service::Tcp(22);
    let dx = link_name(&lab, LinkKind::DirectConnect);
    let vpn = link_name(&lab, LinkKind::Vpn);
    assert_eq!((dx.as_str(), vpn.as_str()), ("dx-vif", "vpn-backup"));
    let (dx_peer, vpn_peer) = (layout::ns_token(&dx), layout::ns_token(&vpn));

    assert!(lab.reaches("office-pc", "bastion", ssh));
    let p = office_peer(&lab, &dx_peer);
    assert_eq!(p["routes_in_use"][0], "10.0.0.0/16", "{p:#}");
    let vpn_before = office_peer(&lab, &vpn_peer);
    assert_eq!(
        vpn_before["routes_in_use"].as_array().map(Vec::len),
        Some(0),
        "the VPN carries nothing while DX is up: {vpn_before:#}"
    );

    lab.link("vifgate-office", &dx, &LinkChange::Down)
        .expect("DX down");
    let start = Instant::now();
    let back = eventually(Duration::from_secs(12), Duration::from_millis(500), || {
        lab.reaches("office-pc", "bastion", ssh)
    });
    assert!(
        back,
        "office-pc -> bastion tcp/22 did not fail over to the VPN"
    );
    eprintln!("failed over in {:.1} s", start.elapsed().as_secs_f64());

    // it really goes through the VPN: the office gateway routes the VPC to
    // the VPN peer, which carries more bytes with every probe
    // BGP moved it (BFD saw the cut, BIRD withdrew), before the gateway's
    // own 3 s liveness would have: DX carries nothing, alive or not
    let dxp = office_peer(&lab, &dx_peer);
    assert_eq!(
        dxp["routes_in_use"].as_array().map(Vec::len),
        Some(0),
        "{dxp:#}"
    );
    let v1 = office_peer(&lab, &vpn_peer);
    assert_eq!(v1["routes_in_use"][0], "10.0.0.0/16", "{v1:#}");
    let tx = |v: &serde_json::Value| v["tx_bytes"].as_u64().expect("tx_bytes");
    let rx = |v: &serde_json::Value| v["rx_bytes"].as_u64().expect("rx_bytes");
    assert!(tx(&v1) > tx(&vpn_before), "{vpn_before:#} then {v1:#}");
    for _ in 0..3 {
        assert!(lab.reaches("office-pc", "bastion", ssh));
    }
    let v2 = office_peer(&lab, &vpn_peer);
    assert!(tx(&v2) > tx(&v1) && rx(&v2) > rx(&v1), "{v1:#} then {v2:#}");

    lab.link("vifgate-office", &dx, &LinkChange::Up)
        .expect("DX up");
    assert!(lab.reaches("office-pc", "bastion", ssh));
    // and DX takes the traffic back once its peer is heard again
    let mut last = serde_json::Value::Null;
    let dx_back = eventually(Duration::from_secs(10), Duration::from_millis(250), || {
        last = office_peer(&lab, &dx_peer);
        last["alive"] == true && last["routes_in_use"][0] == "10.0.0.0/16"
    });
    assert!(dx_back, "DX did not take the VPC route back: {last:#}");
    assert!(lab.reaches("office-pc", "bastion", ssh));
}

#[test]
fn bgp_sessions_come_up_and_the_vpc_tables_learn_the_office() {
    if !bird_ready("bgp_sessions_come_up_and_the_vpc_tables_learn_the_office") {
        return;
    }
    let lab = example_lab();
    let took = lab
        .up_report()
        .bgp_established_seconds
        .expect("sim up waited for the BGP sessions");
    eprintln!("BGP sessions Established {took:.2} s after BIRD started");
    // every BIRD of the plan runs, with its sessions Established
    let birds = &lab.plan().bird.daemons;
    let names: Vec<&str> = birds.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["vgw", "vpc", "vifgate-office"]);
    for d in birds {
        let shown = sim::bgp::live::bird::birdc(&d.socket, "show protocols all").expect("birdc");
        let peers = sim::bgp::live::bird::parse_protocols(&shown);
        for p in &d.established {
            assert!(
                peers.iter().any(|x| &x.name == p && x.established),
                "{}: {p} not Established:\n{shown}",
                d.name
            );
        }
    }
    // the key file both ends include is private
    use std::os::unix::fs::PermissionsExt as _;
    for m in &lab.plan().bird.md5 {
        let mode = std::fs::metadata(&m.key_file)
            .expect("key file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{}", m.key_file.display());
    }
    // and the kernel signs the session with it (TCP MD5)
    let ss = Command::new("ip")
        .args([
            "netns",
            "exec",
            &layout::vgw_ns(lab.name()),
            "ss",
            "-tni",
            "state",
            "established",
        ])
        .output()
        .expect("ss");
    let ss = String::from_utf8_lossy(&ss.stdout);
    assert!(
        ss.contains("md5keys:169.254.100.1/32"),
        "no MD5 on the VIF's session:\n{ss}"
    );
    // the propagating route tables hold the office's prefixes via the VGW,
    // written by BIRD; the others do not
    let vpc = layout::vpc_ns(lab.name());
    let t = lab.topology();
    let numbers = layout::route_table_numbers(t.route_tables.iter().map(|r| r.name.as_str()));
    for (rt, number) in t.route_tables.iter().zip(numbers) {
        let table = number.to_string();
        let out = Command::new("ip")
            .args(["-n", &vpc, "route", "show", "table", &table])
            .output()
            .expect("ip");
        let routes = String::from_utf8_lossy(&out.stdout);
        for office in ["192.168.10.0/24", "192.168.20.0/24"] {
            let line = format!("{office} via 169.254.255.2 dev vgw0 proto bird metric 100");
            assert_eq!(
                routes.contains(&line),
                rt.propagate,
                "{}:\n{routes}",
                rt.name
            );
        }
    }
    // the office's BIRD has the VPC's CIDR in the table its gateway follows
    let office = lab.ns("vifgate-office").expect("ns");
    let out = Command::new("ip")
        .args(["-n", &office, "route", "show", "table", "100"])
        .output()
        .expect("ip");
    let routes = String::from_utf8_lossy(&out.stdout);
    let dx = &layout::vif_links(["dx-vif"])[0];
    assert!(
        routes.contains(&format!(
            "10.0.0.0/16 via 169.254.100.2 dev {dx} proto bird"
        )),
        "{routes}"
    );
    // and traffic flows both ways
    assert!(lab.reaches("office-pc", "bastion", Service::Tcp(22)));
}

#[test]
fn dx_cut_with_bfd_fails_over_to_the_bgp_vpn_and_back() {
    if !bird_ready("dx_cut_with_bfd_fails_over_to_the_bgp_vpn_and_back") {
        return;
    }
    let lab = variant_lab(sim::ops::failover::Variant {
        bfd: true,
        hold_time: None,
        bgp_vpn: true,
    });
    let vgw = bird_of(&lab, "vgw");
    assert_eq!(
        vgw.established,
        ["dx.dx-vif", "vpn.vpn-backup", "vifgate_vpc_router"]
    );
    dx_cut_fails_over_within_bfd_bounds(&lab, "", bgp_diagnostics);
}

#[test]
fn aws_prefers_the_vif_whose_community_says_high_and_falls_back_to_the_other() {
    if !bird_ready("aws_prefers_the_vif_whose_community_says_high_and_falls_back_to_the_other") {
        return;
    }
    // a second VIF from the same office box, the same prefixes: 7224:7100
    // (low) on the first VIF, 7224:7300 (high) on the second; BFD on both
    let low = r#"advertised_prefixes = [
  { prefix = "192.168.10.0/24", communities = ["7224:7100"] },
  { prefix = "192.168.20.0/24", communities = ["7224:7100"] },
]"#;
    let second = r#"[[direct_connect.vif]]
name = "dx-vif-2"
vlan = 102
customer_asn = 65010
amazon_asn = 64512
customer_address = "169.254.101.1/30"
amazon_address = "169.254.101.2/30"
mtu = 1500
customer_router = "vifgate-office"
vgw = "vgw"
advertised_prefixes = [
  { prefix = "192.168.10.0/24", communities = ["7224:7300"] },
  { prefix = "192.168.20.0/24", communities = ["7224:7300"] },
]
bfd = { interval = "300ms", multiplier = 3 }

[vpn]"#;
    let text = example_with_vif_prefixes(low).replacen("[vpn]", second, 1);
    let lab = lab_of("two-vifs.toml", &text);
    let t = lab.topology();
    assert!(
        t.vifs.iter().all(|v| v.bgp.bfd.is_some()),
        "BFD on both VIFs"
    );
    // statically: the VGW's best path to the office is the second VIF's,
    // on the community's local preference
    let predicted = topology::bgp::analyse(t);
    let vgw = predicted
        .speakers
        .iter()
        .find(|s| s.name == "vgw")
        .expect("the VGW speaks");
    for prefix in ["192.168.10.0/24", "192.168.20.0/24"] {
        let best = vgw
            .received
            .iter()
            .find(|r| r.best && r.prefix.to_string() == prefix)
            .unwrap_or_else(|| panic!("a best path to {prefix}: {predicted:#?}"));
        assert_eq!((best.session.as_str(), best.local_pref), ("dx-vif-2", 300));
    }
    // live: the daemons agree with the prediction, route for route
    let check = sim::bgp::check::check_lab(lab.name(), t, sim::bgp::check::SETTLE);
    assert!(check.compared && check.passed(), "{}", check.render());
    let office: std::net::Ipv4Addr = "192.168.10.10".parse().expect("address");
    let dev = || sim::ops::failover::vgw_route_dev(lab.name(), office);
    let (first, second) = (vgw_tun(&lab, "dx-vif"), vgw_tun(&lab, "dx-vif-2"));
    // the second VIF's tunnel, though the first is listed first
    assert_eq!(dev(), Some(second.clone()), "{}", bgp_diagnostics(&lab));
    assert!(lab.reaches("office-pc", "bastion", Service::Tcp(22)));
    // cut it: AWS falls back to the first VIF, not to the VPN
    lab.link("vifgate-office", "dx-vif-2", &LinkChange::Down)
        .expect("cut");
    assert!(
        eventually(Duration::from_secs(5), Duration::from_millis(50), || dev()
            .as_ref()
            == Some(&first)),
        "{}",
        bgp_diagnostics(&lab)
    );
    assert!(eventually(
        Duration::from_secs(8),
        Duration::from_millis(200),
        || lab.reaches("office-pc", "bastion", Service::Tcp(22))
    ));
    lab.link("vifgate-office", "dx-vif-2", &LinkChange::Up)
        .expect("restore");
    assert!(
        eventually(Duration::from_secs(10), Duration::from_millis(50), || dev()
            .as_ref()
            == Some(&second)),
        "{}",
        bgp_diagnostics(&lab)
    );
}

/// The example with its VIF advertising `n` distinct /24s: its two LANs
/// and `n - 2` more. The VPN still advertises only the two LANs.
fn example_advertising(n: usize) -> String {
    let mut prefixes = vec![
        "\"192.168.10.0/24\"".to_string(),
        "\"192.168.20.0/24\"".into(),
    ];
    prefixes.extend((0..n.saturating_sub(2)).map(|i| format!("\"10.200.{i}.0/24\"")));
    example_with_vif_prefixes(&format!("advertised_prefixes = [{}]", prefixes.join(", ")))
}

#[test]
fn over_100_prefixes_the_dx_session_goes_idle_live_as_predicted_and_the_vpn_carries_the_office() {
    if !bird_ready(
        "over_100_prefixes_the_dx_session_goes_idle_live_as_predicted_and_the_vpn_carries_the_office",
    ) {
        return;
    }
    let text = example_advertising(101);
    // the prediction: DX Idle on AWS's prefix limit, the VPN Established
    let t = topology::parse("prefix-limit.toml", text.clone())
        .expect("the topology loads")
        .topology;
    let predicted = topology::bgp::analyse(&t);
    let state = |r: &topology::bgp::BgpReport, name: &str| {
        r.sessions
            .iter()
            .find(|s| s.name == name)
            .map(|s| (s.state, s.reason.clone()))
            .unwrap_or_else(|| panic!("no session {name}: {r:#?}"))
    };
    use topology::bgp::SessionState::{Established, Idle};
    assert_eq!(
        state(&predicted, "dx-vif"),
        (Idle, Some("prefix limit: 101 > 100".into()))
    );
    assert_eq!(state(&predicted, "vpn-backup").0, Established);

    let lab = lab_of("prefix-limit.toml", &text);
    // live: BIRD's `import limit 100 action disable` has put it down (a
    // session not yet up reads Idle too: wait for the limit's reason)
    let mut live = None;
    let down = eventually(Duration::from_secs(5), Duration::from_millis(100), || {
        let r = sim::bgp::live::read_lab(lab.name(), lab.topology()).expect("read the lab");
        let (state, reason) = state(&r.report, "dx-vif");
        live = Some(r.report);
        state == Idle
            && reason
                .as_deref()
                .is_some_and(|r| r.contains("Route limit exceeded"))
    });
    let live = live.expect("read once");
    assert!(down, "{live:#?}\n{}", bgp_diagnostics(&lab));
    let (_, reason) = state(&live, "dx-vif");
    assert!(
        reason
            .as_deref()
            .is_some_and(|r| r.contains("Route limit exceeded")),
        "{reason:?}"
    );
    assert_eq!(state(&live, "vpn-backup").0, Established, "{live:#?}");
    // `sim test`'s comparison agrees: both Idle, the same routes
    let check = sim::bgp::check::check_lab(lab.name(), lab.topology(), sim::bgp::check::SETTLE);
    assert!(check.compared && check.sessions == 2, "{check:?}");
    assert!(
        check.passed(),
        "{}\n{}",
        check.render(),
        bgp_diagnostics(&lab)
    );
    // and the office reaches the VPC over the VPN, both ways: the VGW's
    // route to the office goes out of the VPN's device, the office
    // gateway's route to the VPC to the VPN peer
    let ssh = Service::Tcp(22);
    assert!(lab.reaches("office-pc", "bastion", ssh));
    assert!(lab.reaches("web-a1", "office-pc", Service::IcmpEcho));
    let vgw_dev =
        sim::ops::failover::vgw_route_dev(lab.name(), "192.168.10.10".parse().expect("ip"));
    let vpn = link_name(&lab, LinkKind::Vpn);
    let dx = link_name(&lab, LinkKind::DirectConnect);
    // the VPN's gateway TUN, not the VIF's
    assert_eq!(
        vgw_dev,
        Some(vgw_tun(&lab, &vpn)),
        "{}",
        bgp_diagnostics(&lab)
    );
    let v = office_peer(&lab, &layout::ns_token(&vpn));
    assert_eq!(v["routes_in_use"][0], "10.0.0.0/16", "{v:#}");
    let d = office_peer(&lab, &layout::ns_token(&dx));
    assert_eq!(
        d["routes_in_use"].as_array().map(Vec::len),
        Some(0),
        "{d:#}"
    );
}

#[test]
fn sim_test_fails_when_a_live_session_differs_from_the_prediction() {
    if !bird_ready("sim_test_fails_when_a_live_session_differs_from_the_prediction") {
        return;
    }
    let lab = example_lab();
    let vgw = bird_of(&lab, "vgw");
    // AWS's side stops the VIF's session behind the prediction's back
    let out = sim::bgp::live::bird::birdc(&vgw.socket, "disable \"dx.dx-vif\"").expect("birdc");
    assert!(out.contains("dx.dx-vif: disabled"), "{out}");
    let report = lab.test(1, compare::default_probe_options());
    let bgp = &report.bgp;
    assert!(bgp.compared && !bgp.passed(), "{bgp:?}");
    assert!(
        bgp.differences
            .iter()
            .any(|d| d.starts_with("session dx-vif: predicted Established, live Idle")),
        "{bgp:?}"
    );
    // it waited for the daemons to settle before saying so
    assert!(
        bgp.seconds >= sim::bgp::check::SETTLE.as_secs_f64(),
        "{bgp:?}"
    );
    assert!(!report.passed());
    assert!(compare::render(&report, false).contains("  DIFF session dx-vif"));
}

/// The example's text with its office box (`vifgate-office`) played by
/// FRR.
fn example_with_frr_office() -> String {
    sim::plan::frr::with_frr_office(&example_text(), "vifgate-office")
}

#[test]
fn the_plan_plays_an_frr_office_with_frr_and_no_bird() {
    let loaded = topology::parse(Path::new("frr.toml"), example_with_frr_office()).expect("parses");
    let t = &loaded.topology;
    let office = t
        .nodes
        .iter()
        .position(|n| n.name == "vifgate-office")
        .expect("office node");
    assert_eq!(t.sim.bgp_daemon_of(office), topology::bgp::BgpDaemon::Frr);
    let p = plan::plan(t, "pfrr", &[22]).expect("plan");
    let birds: Vec<&str> = p.bird.daemons.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(birds, ["vgw", "vpc"], "no BIRD for the office");
    assert_eq!(p.frr.len(), 1);
    let f = &p.frr[0];
    assert_eq!(f.node, "vifgate-office");
    assert_eq!(f.ns, p.node_ns("vifgate-office").expect("ns"));
    assert!(f.run_dir.ends_with("frr-vifgate-office"), "{f:?}");
    let daemons: Vec<&str> = f.commands().iter().map(|d| d.name).collect();
    assert_eq!(
        daemons,
        ["zebra", "bfdd", "bgpd"],
        "BFD on the VIF: bfdd too"
    );
    assert_eq!(f.established, ["dx.dx-vif", "vpn.vpn-backup"]);
    assert_eq!(f.bfd, ["dx.dx-vif"], "BFD on the VIF only");
    // the VGW still waits for both sessions, FRR at their other end
    let vgw = &p.bird.daemons[0];
    assert!(vgw
        .established
        .starts_with(&["dx.dx-vif".into(), "vpn.vpn-backup".into()]));
    // no key in the plan, and the office gateway follows FRR's table
    assert!(!f.config.bgpd.contains("password"), "{}", f.config.bgpd);
    let gw = p
        .gateways
        .iter()
        .find(|g| g.ns == f.ns)
        .expect("the office gateway");
    assert_eq!(
        gw.bgp_kernel_table,
        Some(sim::render::bird::OFFICE_KERNEL_TABLE)
    );
    // and `sim plan` shows it
    let shown = sim::plan::view::render(&p);
    assert!(
        shown.contains("frr vifgate-office: office node vifgate-office (FRR)"),
        "{shown}"
    );
}

/// Whether FRR's daemons and vtysh are here.
fn frr_ready(test: &str) -> bool {
    bird_ready(test) && common::need_frr()
}

/// [`bgp_diagnostics`] and the FRR daemons' logs.
fn frr_diagnostics(lab: &Lab) -> String {
    let mut out = bgp_diagnostics(lab);
    for f in &lab.plan().frr {
        for d in ["zebra", "bfdd", "bgpd"] {
            let log =
                std::fs::read_to_string(f.run_dir.join(format!("{d}.log"))).unwrap_or_default();
            out.push_str(&format!("\nFRR {} {d} log:\n{log}", f.node));
        }
    }
    out
}

#[test]
fn frr_office_against_the_bird_vgw_agrees_with_the_analysis_and_fails_over() {
    if !frr_ready("frr_office_against_the_bird_vgw_agrees_with_the_analysis_and_fails_over") {
        return;
    }
    let lab = lab_of("frr-office.toml", &example_with_frr_office());
    let took = lab
        .up_report()
        .bgp_established_seconds
        .expect("sim up waited for the BGP sessions");
    eprintln!(
        "BIRD (VGW) <-> FRR (office): sessions Established {took:.2} s after the daemons started"
    );
    // every daemon read, the live report as predicted
    let live = sim::bgp::live::read_lab(lab.name(), lab.topology()).expect("read the lab");
    assert!(live.unreadable.is_empty(), "{:?}", live.unreadable);
    assert_eq!(live.daemons, 3, "VGW, VPC router, FRR office");
    assert!(
        live.report
            .speakers
            .iter()
            .any(|s| s.name == "vifgate-office"),
        "{:?}",
        live.report
    );
    let predicted = topology::bgp::analyse(lab.topology());
    let diff =
        sim::bgp::live::compare_lab(lab.name(), lab.topology(), &predicted).expect("compare");
    assert!(diff.is_empty(), "{diff:#?}\n{}", frr_diagnostics(&lab));
    // traffic over DX, then over the VPN once the DX is cut, and back
    assert!(
        lab.reaches("office-pc", "bastion", Service::Tcp(22)),
        "{}",
        frr_diagnostics(&lab)
    );
    dx_cut_fails_over_within_bfd_bounds(&lab, "FRR office, ", frr_diagnostics);
}

/// Cuts the example's DX under a TCP 22 probe loop from office-pc to the
/// bastion and restores it (`sim::ops::failover::measure`), prints the
/// figures (`office` says who plays the office), and asserts a generous
/// bound for BFD 300 ms x 3 and traffic over DX again afterwards.
fn dx_cut_fails_over_within_bfd_bounds(lab: &Lab, office: &str, diagnostics: fn(&Lab) -> String) {
    let run = sim::ops::failover::measure(
        lab,
        &sim::ops::failover::FailoverSpec {
            office_node: "vifgate-office".into(),
            link: "dx-vif".into(),
            from: "office-pc".into(),
            to: "bastion".into(),
            kind: sim::probe::ProbeKind::Tcp(22),
            office_addr: "192.168.10.10".parse().expect("address"),
            timeout: Duration::from_secs(20),
        },
    )
    .unwrap_or_else(|e| panic!("failover: {e}\n{}", diagnostics(lab)));
    eprintln!(
        "DX cut, {office}BFD 300 ms x 3, BGP VPN backup: VGW route moved after {:.2} s, traffic back after {:.2} s; restored: route back after {:.2} s, traffic after {:.2} s",
        run.vgw_route_moved.as_secs_f64(),
        run.traffic_back.as_secs_f64(),
        run.vgw_route_back.as_secs_f64(),
        run.traffic_after_restore.as_secs_f64()
    );
    // BFD detects in 0.9 s; a generous bound, the figure is in BENCHMARKS.md
    assert!(run.vgw_route_moved < Duration::from_secs(5), "{run:?}");
    assert!(run.traffic_back < Duration::from_secs(5), "{run:?}");
    // and after the restore, over DX again
    assert!(lab.reaches("office-pc", "bastion", Service::Tcp(22)));
}
