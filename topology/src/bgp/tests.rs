//! The analysis on small topologies: each tie-breaker of each side decides
//! at least once, session states, and the model following the best paths
//! (the VGW's table, the office's routes, `reach`'s trace).
//!
//! Each topology is written as a file would be (communities, prepend,
//! timers, BFD, local preference, a BGP VPN, a VIF or VPN down) and loaded
//! as the resolver loads it.

use std::net::Ipv4Addr;

use super::*;
use crate::analysis::{reach, route_choices, Service, Target};
use crate::model::{NextHop, VgwPath};

/// The resolver's test office and VPC (gateway `gw` 192.168.1.1, host
/// `pc`), with a second gateway `gw2` (192.168.1.2), an instance `app` in
/// subnet `app-a`, and a main table that propagates the VGW's routes.
fn base() -> String {
    format!(
        "{}{}",
        crate::resolve::fixture::BASE,
        r#"
[[site.gateway]]
name = "gw2"
interfaces = [{ lan = "lan", ip = "192.168.1.2" }]
security_groups = []

[[vpc.route_table]]
name = "app-rt"
main = true
propagate_vgw = true

[[vpc.instance]]
name = "app"
subnet = "app-a"
ip = "10.0.1.10"
"#
    )
}

/// A VIF numbered `k` (VLAN 100+k, peers 169.254.(100+k).1/.2) ended by
/// `router`, advertising `prefixes`.
fn vif(k: u8, router: &str, prefixes: &[&str]) -> String {
    vif_with(k, router, prefixes, "")
}

/// [`vif`] with more of its lines (`hold_time = 30`, `state = "down"`).
/// A prefix is a quoted string, or TOML as written when it starts with
/// `{` (see [`tagged`]).
fn vif_with(k: u8, router: &str, prefixes: &[&str], settings: &str) -> String {
    format!(
        "\n[[direct_connect.vif]]\nname = \"dx-vif-{k}\"\nvlan = {}\ncustomer_asn = 65010\ncustomer_address = \"169.254.{}.1/30\"\namazon_address = \"169.254.{}.2/30\"\ncustomer_router = \"{router}\"\nadvertised_prefixes = [{}]\n{settings}\n",
        100 + u16::from(k),
        100 + u16::from(k),
        100 + u16::from(k),
        prefix_list(prefixes)
    )
}

/// A prefix with its communities and prepend, as a file writes it.
fn tagged(prefix: &str, communities: &[&str], prepend: u8) -> String {
    let list: Vec<String> = communities.iter().map(|c| format!("\"{c}\"")).collect();
    format!(
        "{{ prefix = \"{prefix}\", communities = [{}], prepend = {prepend} }}",
        list.join(", ")
    )
}

fn prefix_list(prefixes: &[&str]) -> String {
    let list: Vec<String> = prefixes
        .iter()
        .map(|p| {
            if p.starts_with('{') {
                p.to_string()
            } else {
                format!("\"{p}\"")
            }
        })
        .collect();
    list.join(", ")
}

/// A static VPN from `gw` for `prefixes`.
fn vpn(prefixes: &[&str]) -> String {
    vpn_with(prefixes, "")
}

/// A VPN from `gw` with BGP (ASN 65020) for `prefixes`, and `settings`.
fn bgp_vpn(prefixes: &[&str], settings: &str) -> String {
    vpn_with(
        prefixes,
        &format!("routing = \"bgp\"\ncustomer_asn = 65020\n{settings}"),
    )
}

fn vpn_with(prefixes: &[&str], settings: &str) -> String {
    format!(
        "\n[vpn]\nname = \"vpn\"\ncustomer_gateway = \"gw\"\nprefixes = [{}]\n{settings}\n",
        prefix_list(prefixes)
    )
}

fn load(extra: &str) -> Topology {
    match crate::parse("t.toml", format!("{}{extra}", base())) {
        Ok(l) => l.topology,
        Err(d) => panic!("does not resolve:\n{d}"),
    }
}

fn addr(s: &str) -> Ipv4Addr {
    s.parse().expect("an address")
}

/// The VGW's candidates for `prefix`: (session, best, lost_on).
fn at_vgw(t: &Topology, prefix: &str) -> Vec<(String, bool, Option<String>)> {
    let prefix = prefix.parse().expect("a prefix");
    analyse(t)
        .candidates("vgw", prefix)
        .into_iter()
        .map(|r| (r.session.clone(), r.best, r.lost_on.clone()))
        .collect()
}

fn row(session: &str, best: bool, lost_on: Option<&str>) -> (String, bool, Option<String>) {
    (session.into(), best, lost_on.map(str::to_string))
}

#[test]
fn direct_connect_wins_over_vpn_static_and_vpn_bgp_whatever_the_prepend() {
    let t = load(&format!(
        "{}{}",
        vif(1, "gw", &["192.168.1.0/24"]),
        vpn(&["192.168.1.0/24"])
    ));
    assert_eq!(
        at_vgw(&t, "192.168.1.0/24"),
        [
            row("dx-vif-1", true, None),
            row("vpn", false, Some("preference: DX BGP over VPN static")),
        ]
    );
    // a long prepend and a low community do not move AWS off Direct Connect
    let low = tagged("192.168.1.0/24", &["7224:7100"], 5);
    let t = load(&format!(
        "{}{}",
        vif(1, "gw", &[&low]),
        bgp_vpn(&["192.168.1.0/24"], "")
    ));
    assert_eq!(
        at_vgw(&t, "192.168.1.0/24"),
        [
            row("dx-vif-1", true, None),
            row("vpn", false, Some("preference: DX BGP over VPN BGP")),
        ]
    );
    assert_eq!(
        t.vgw_route(addr("192.168.1.10")).map(|(_, p)| p),
        Some(VgwPath::Vif(0))
    );
    // the VIF down: the VPN carries it
    let t = load(&format!(
        "{}{}",
        vif_with(1, "gw", &[&low], "state = \"down\""),
        bgp_vpn(&["192.168.1.0/24"], "")
    ));
    assert_eq!(at_vgw(&t, "192.168.1.0/24"), [row("vpn", true, None)]);
    assert_eq!(
        t.vgw_route(addr("192.168.1.10")).map(|(_, p)| p),
        Some(VgwPath::Vpn)
    );
    let report = analyse(&t);
    let s = report.session("dx-vif-1").expect("a session");
    assert_eq!(
        (s.state, s.reason.as_deref()),
        (SessionState::Idle, Some("configured down"))
    );
}

#[test]
fn vpn_static_wins_over_vpn_bgp() {
    // one VPN is either, so the two meet only in the decision itself
    use decision::{decide_aws, Candidate};
    let route = |session: &str, source, path: Vec<u32>| Candidate {
        route: BgpRoute {
            prefix: "192.168.1.0/24".parse().expect("a prefix"),
            session: session.into(),
            source,
            next_hop: addr("169.254.10.2"),
            as_path: path,
            communities: vec![],
            local_pref: 200,
            med: None,
            best: false,
            lost_on: None,
        },
        router_id: addr("192.168.1.1"),
    };
    let ranked = decide_aws(vec![
        route("bgp", RouteSource::VpnBgp, vec![65020]),
        route("static", RouteSource::VpnStatic, vec![]),
    ]);
    assert_eq!(ranked[0].session, "static");
    assert_eq!(
        ranked[1].lost_on.as_deref(),
        Some("preference: VPN static over VPN BGP")
    );
}

#[test]
fn the_longest_prefix_wins_before_any_attribute() {
    let t = load(&format!(
        "{}{}",
        vif(1, "gw", &["192.168.0.0/16"]),
        vpn(&["192.168.1.0/24"])
    ));
    // each prefix its own best path; the lookup takes the most specific
    assert_eq!(at_vgw(&t, "192.168.0.0/16"), [row("dx-vif-1", true, None)]);
    assert_eq!(at_vgw(&t, "192.168.1.0/24"), [row("vpn", true, None)]);
    assert_eq!(
        t.vgw_route(addr("192.168.1.10")),
        Some(("192.168.1.0/24".parse().expect("a prefix"), VgwPath::Vpn))
    );
    assert_eq!(
        t.vgw_route(addr("192.168.2.10")).map(|(_, p)| p),
        Some(VgwPath::Vif(0))
    );
    // both propagate
    let rt = &t.route_tables[t.subnets[0].route_table];
    let propagated: Vec<String> = rt
        .routes
        .iter()
        .filter(|r| r.origin == crate::route_table::RouteOrigin::Propagated)
        .map(|r| r.prefix.to_string())
        .collect();
    assert_eq!(propagated, ["192.168.0.0/16", "192.168.1.0/24"]);
}

#[test]
fn a_high_community_on_the_second_vif_beats_a_low_one_on_the_first() {
    let high_prepended = tagged("192.168.1.0/24", &["7224:7300"], 1);
    let two = |first: &str| {
        format!(
            "{}{}",
            vif(1, "gw", &[first]),
            vif(2, "gw2", &[&high_prepended])
        )
    };
    let t = load(&two(&tagged("192.168.1.0/24", &["7224:7100"], 0)));
    assert_eq!(
        at_vgw(&t, "192.168.1.0/24"),
        [
            row("dx-vif-2", true, None),
            row("dx-vif-1", false, Some("local preference 100 < 300")),
        ]
    );
    assert_eq!(
        t.vgw_route(addr("192.168.1.10")).map(|(_, p)| p),
        Some(VgwPath::Vif(1))
    );
    // reach's trace names the route that decided, --explain-routes the loser
    let app = t.node_by_name("app").expect("app");
    let pc = t.node_by_name("pc").expect("pc");
    let r = reach(&t, app, Target::Node(pc), Service::IcmpEcho);
    let steps: Vec<String> = r
        .hops
        .iter()
        .filter(|h| h.node == "vgw")
        .flat_map(|h| h.steps.iter().map(|s| s.to_string()))
        .collect();
    assert_eq!(
        steps,
        ["route 192.168.1.0/24 -> dx-vif-2 [propagated] in vgw (bgp from AS 65010 over dx-vif-2, community 7224:7300, local-pref 300, AS path 65010 65010)"]
    );
    let choices = route_choices(&t, &r);
    assert_eq!(choices.len(), 1, "{choices:?}");
    assert_eq!(
        (choices[0].direction, choices[0].speaker.as_str()),
        ("request", "vgw")
    );
    assert_eq!(
        choices[0].candidates[1].lost_on.as_deref(),
        Some("local preference 100 < 300")
    );
    // equal communities: the prepend decides
    let t = load(&two(&tagged("192.168.1.0/24", &["7224:7300"], 0)));
    assert_eq!(
        at_vgw(&t, "192.168.1.0/24"),
        [
            row("dx-vif-1", true, None),
            row("dx-vif-2", false, Some("AS path 2 > 1")),
        ]
    );
    assert_eq!(
        t.vgw_route(addr("192.168.1.10")).map(|(_, p)| p),
        Some(VgwPath::Vif(0))
    );
}

#[test]
fn no_community_is_medium_and_the_router_id_then_the_neighbour_decide() {
    // gw2 (router id 192.168.1.2) ends the VIF with the lower peer address
    let t = load(&format!(
        "{}{}",
        vif(1, "gw2", &["192.168.1.0/24"]),
        vif(2, "gw", &["192.168.1.0/24"])
    ));
    assert_eq!(aws_local_pref_of(&t, "dx-vif-1"), 200);
    assert_eq!(
        at_vgw(&t, "192.168.1.0/24"),
        [
            row("dx-vif-2", true, None),
            row(
                "dx-vif-1",
                false,
                Some("router id 192.168.1.2 > 192.168.1.1")
            ),
        ]
    );
    // 7224:7200 is the same as none
    let t = load(&format!(
        "{}{}",
        vif(1, "gw2", &["192.168.1.0/24"]),
        vif(2, "gw", &[&tagged("192.168.1.0/24", &["7224:7200"], 0)])
    ));
    assert_eq!(at_vgw(&t, "192.168.1.0/24")[0], row("dx-vif-2", true, None));
    // both on one router: the lower neighbour address
    let t = load(&format!(
        "{}{}",
        vif(2, "gw", &["192.168.1.0/24"]),
        vif(1, "gw", &["192.168.1.0/24"])
    ));
    assert_eq!(
        at_vgw(&t, "192.168.1.0/24"),
        [
            row("dx-vif-1", true, None),
            row(
                "dx-vif-2",
                false,
                Some("neighbour address 169.254.102.1 > 169.254.101.1")
            ),
        ]
    );
}

fn aws_local_pref_of(t: &Topology, session: &str) -> u32 {
    analyse(t)
        .speaker("vgw")
        .and_then(|s| s.received.iter().find(|r| r.session == session))
        .map(|r| r.local_pref)
        .unwrap_or_default()
}

#[test]
fn more_than_100_prefixes_put_the_session_idle_and_nothing_is_learned() {
    let many: Vec<String> = (0..101).map(|i| format!("172.16.{i}.0/24")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let t = load(&vif(1, "gw", &many));
    let report = analyse(&t);
    let s = report.session("dx-vif-1").expect("a session");
    assert_eq!(
        (s.state, s.reason.as_deref()),
        (SessionState::Idle, Some("prefix limit: 101 > 100"))
    );
    assert!(!t.vifs[0].bgp_up);
    assert_eq!(
        t.vifs[0].down_reason.as_deref(),
        Some("prefix limit: 101 > 100")
    );
    assert!(t.vgw_routes().is_empty());
    assert!(t.vgw_route(addr("172.16.0.1")).is_none());
    // the office learns nothing either
    let gw = t.node_by_name("gw").expect("gw");
    assert!(t
        .office_rib(gw)
        .and_then(|r| r.select(addr("10.0.1.10")))
        .is_none());
    let report = analyse(&t);
    let office = report.speaker("gw").expect("the office speaker");
    assert!(office.received.is_empty() && office.advertised.is_empty());
    // 100 is fine
    let t = load(&vif(1, "gw", &many[..100]));
    assert_eq!(
        analyse(&t).session("dx-vif-1").map(|s| s.state),
        Some(SessionState::Established)
    );
    assert_eq!(t.vgw_routes().len(), 100);
}

#[test]
fn the_office_prefers_by_local_preference_then_the_neighbour_address() {
    let with_vif = |settings: &str| {
        load(&format!(
            "{}{}",
            vif_with(1, "gw", &["192.168.1.0/24"], settings),
            bgp_vpn(&["192.168.1.0/24"], "")
        ))
    };
    let t = with_vif("");
    let gw = t.node_by_name("gw").expect("gw");
    let office = |t: &Topology| -> Vec<(String, bool, Option<String>)> {
        analyse(t)
            .speaker("gw")
            .map(|s| {
                s.received
                    .iter()
                    .map(|r| (r.session.clone(), r.best, r.lost_on.clone()))
                    .collect()
            })
            .unwrap_or_default()
    };
    // everything equal (the VGW's router id too): the VPN's Amazon address
    // 169.254.10.1 is lower than the VIF's 169.254.101.2
    assert_eq!(
        office(&t),
        [
            row("vpn", true, None),
            row(
                "dx-vif-1",
                false,
                Some("neighbour address 169.254.101.2 > 169.254.10.1")
            ),
        ]
    );
    let to_vpc = |t: &Topology| {
        t.office_rib(gw)
            .and_then(|r| r.select(addr("10.0.1.10")))
            .map(|r| (r.next_hop, r.source.clone()))
    };
    assert_eq!(
        to_vpc(&t),
        Some((
            NextHop::Vpn,
            "bgp from AS 64512 over vpn, local-pref 100, AS path 64512".into()
        ))
    );
    // the design that keeps the office on Direct Connect
    let t = with_vif("local_preference = 200");
    assert_eq!(
        office(&t)[1],
        row("vpn", false, Some("local preference 100 < 200"))
    );
    assert_eq!(
        to_vpc(&t),
        Some((
            NextHop::Vif(0),
            "bgp from AS 64512 over dx-vif-1, local-pref 200, AS path 64512".into()
        ))
    );
    // the AWS side: shorter AS path does not matter against DX
    assert_eq!(at_vgw(&t, "192.168.1.0/24")[0], row("dx-vif-1", true, None));
}

#[test]
fn a_static_vpn_gives_the_office_a_static_route_after_the_bgp_one() {
    let t = load(&format!(
        "{}{}",
        vif(1, "gw", &["192.168.1.0/24"]),
        vpn(&["192.168.1.0/24"])
    ));
    let gw = t.node_by_name("gw").expect("gw");
    let rib = t.office_rib(gw).expect("a rib");
    let to_vpc: Vec<(NextHop, &str)> = rib
        .routes
        .iter()
        .filter(|r| r.prefix.to_string() == "10.0.0.0/16")
        .map(|r| (r.next_hop, r.source.as_str()))
        .collect();
    assert_eq!(
        to_vpc,
        [
            (
                NextHop::Vif(0),
                "bgp from AS 64512 over dx-vif-1, local-pref 100, AS path 64512"
            ),
            (NextHop::Vpn, "static over VPN vpn"),
        ]
    );
    assert_eq!(
        rib.select(addr("10.0.1.10")).map(|r| r.next_hop),
        Some(NextHop::Vif(0))
    );
    // no session on a static VPN; the office speaker is the VIF's end only
    let report = analyse(&t);
    let names: Vec<&str> = report.sessions.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["dx-vif-1"]);
    let speakers: Vec<&str> = report.speakers.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(speakers, ["vgw", "gw"]);
}

#[test]
fn sessions_report_timers_bfd_and_why_they_are_idle() {
    let t = load(&format!(
        "{}{}",
        vif_with(
            1,
            "gw",
            &["192.168.1.0/24"],
            "hold_time = 30\nbfd = { interval = \"300ms\", multiplier = 3 }"
        ),
        bgp_vpn(&["192.168.1.0/24"], "state = \"down\"")
    ));
    let report = analyse(&t);
    let dx = &report.sessions[0];
    assert_eq!(
        (dx.state, dx.hold_time, dx.keepalive, dx.bfd_detect_ms),
        (SessionState::Established, 30, 10, Some(900))
    );
    assert_eq!(
        (dx.office_node.as_str(), dx.office_asn, dx.amazon_asn),
        ("gw", 65010, 64512)
    );
    let vpn = &report.sessions[1];
    assert_eq!(
        (vpn.kind, vpn.state, vpn.reason.as_deref()),
        (SessionKind::Vpn, SessionState::Idle, Some("VPN down"))
    );
    assert_eq!(
        (vpn.hold_time, vpn.keepalive, vpn.bfd_detect_ms),
        (30, 10, None)
    );
    assert_eq!(
        (vpn.office_address, vpn.amazon_address),
        (addr("169.254.10.2"), addr("169.254.10.1"))
    );
}

#[test]
fn the_text_form_shows_idle_sessions_bfd_and_empty_tables() {
    let many: Vec<String> = (0..101).map(|i| format!("172.16.{i}.0/24")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let t = load(&format!(
        "{}{}",
        vif(1, "gw", &many),
        vif_with(
            2,
            "gw2",
            &[&tagged("192.168.1.0/24", &["7224:7300", "65010:1"], 0)],
            "bfd = { interval = \"500ms\", multiplier = 4 }"
        )
    ));
    let text = analyse(&t).render();
    for line in [
        "  dx-vif-1 (direct connect): Idle (prefix limit: 101 > 100)\n",
        "  dx-vif-2 (direct connect): Established\n",
        "    gw2 AS 65010 169.254.102.1 <-> AS 64512 169.254.102.2\n",
        "    hold 90 s, keepalive 30 s, BFD detection 2000 ms\n",
        "\ngw (office, AS 65010):\n  received: nothing\n  advertises: nothing\n",
    ] {
        assert!(text.contains(line), "{line:?} missing:\n{text}");
    }
    let best = text
        .lines()
        .find(|l| l.contains("*> 192.168.1.0/24"))
        .unwrap_or_else(|| panic!("no best line:\n{text}"));
    assert!(
        best.contains(" 300 ") && best.contains("7224:7300 65010:1"),
        "{best}"
    );
    let described = analyse(&t)
        .candidates("vgw", "192.168.1.0/24".parse().expect("a prefix"))
        .first()
        .map(|r| describe(r));
    assert_eq!(
        described.as_deref(),
        Some("bgp from AS 65010 over dx-vif-2, communities 7224:7300 65010:1, local-pref 300, AS path 65010"),
    );
}

#[test]
fn explain_routes_lists_the_static_vpn_route_at_the_office() {
    let with_vif = |settings: &str| {
        load(&format!(
            "{}{}",
            vif_with(1, "gw", &["192.168.1.0/24"], settings),
            vpn(&["192.168.1.0/24"])
        ))
    };
    let at_gw = |t: &Topology| -> Vec<(String, bool, Option<String>)> {
        let pc = t.node_by_name("pc").expect("pc");
        let app = t.node_by_name("app").expect("app");
        let r = reach(t, pc, Target::Node(app), Service::IcmpEcho);
        let choices = route_choices(t, &r);
        let c = choices
            .iter()
            .find(|c| c.direction == "request" && c.speaker == "gw")
            .unwrap_or_else(|| panic!("no choice at gw: {choices:?}"));
        assert_eq!(c.prefix.to_string(), "10.0.0.0/16");
        c.candidates
            .iter()
            .map(|r| (describe(r), r.best, r.lost_on.clone()))
            .collect()
    };
    assert_eq!(
        at_gw(&with_vif("")),
        [
            (
                "bgp from AS 64512 over dx-vif-1, local-pref 100, AS path 64512".into(),
                true,
                None
            ),
            (
                "static over VPN vpn".into(),
                false,
                Some("a BGP route comes before the static VPN's".into())
            ),
        ]
    );
    // the VIF down: the static route is the office's choice, alone
    assert_eq!(
        at_gw(&with_vif("state = \"down\"")),
        [("static over VPN vpn".into(), true, None)]
    );
    // a BGP VPN has no static route to list
    let t = load(&format!(
        "{}{}",
        vif(1, "gw", &["192.168.1.0/24"]),
        bgp_vpn(&["192.168.1.0/24"], "")
    ));
    let pc = t.node_by_name("pc").expect("pc");
    let app = t.node_by_name("app").expect("app");
    let r = reach(&t, pc, Target::Node(app), Service::IcmpEcho);
    assert!(route_choices(&t, &r)
        .iter()
        .flat_map(|c| &c.candidates)
        .all(|r| r.source != RouteSource::VpnStatic));
}

#[test]
fn differences_name_each_session_and_route_on_one_side_only() {
    let predicted = analyse(&load(&format!(
        "{}{}",
        vif(1, "gw", &["192.168.1.0/24"]),
        bgp_vpn(&["192.168.1.0/24"], "")
    )));
    assert!(predicted.differences(&predicted).is_empty());
    // live: the VPN's session Idle, its route gone from the VGW, and a
    // session nobody predicted
    let mut live = predicted.clone();
    let vgw = predicted.speakers[0].name.clone();
    live.sessions[1].state = SessionState::Idle;
    live.sessions[1].reason = Some("Hold timer expired".into());
    let mut extra = live.sessions[0].clone();
    extra.name = "dx-vif-9".into();
    live.sessions.push(extra);
    let received = &mut live.speakers[0].received;
    let gone = received.remove(1);
    let mut unexpected = gone.clone();
    unexpected.local_pref = 50;
    received.push(unexpected);
    assert_eq!(
        predicted.differences(&live),
        [
            "session vpn: predicted Established, live Idle (Hold timer expired)".to_string(),
            "session dx-vif-9: live, not predicted".to_string(),
            format!(
                "{vgw}: predicted 192.168.1.0/24 over vpn (as path [65020], local-pref 200), not so live"
            ),
            format!(
                "{vgw}: live 192.168.1.0/24 over vpn (as path [65020], local-pref 50), not predicted"
            ),
        ]
    );
    live.speakers.remove(0);
    assert!(predicted
        .differences(&live)
        .contains(&format!("speaker {vgw}: predicted, not found live")));
}
