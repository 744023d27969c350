//! Direct Connect VIFs and the VPN added or removed beside others: only
//! that VIF's link, addresses, gateway and key change, and the BGP
//! daemons and the office gateway are reconfigured; the others' links,
//! tunnels and ports keep their names (they follow the VIF's name, not
//! its place in the file).

use ipnet::Ipv4Net;

use super::{assert_reaches, diff, lines, plan_of, Step, LAB};
use crate::plan::Plan;

fn two_vifs_text() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/two-vifs.toml");
    std::fs::read_to_string(path).expect("the two-VIF example")
}

/// The block of the VIF `name` in the two-VIF example, up to the next
/// table.
fn vif_block(text: &str, name: &str) -> String {
    let start = text
        .find(&format!("[[direct_connect.vif]]\nname = \"{name}\""))
        .unwrap_or_else(|| panic!("VIF {name} in the example"));
    let rest = &text[start + 1..];
    let end = rest.find("\n[").map_or(text.len(), |e| start + 1 + e + 1);
    text[start..end].to_string()
}

/// The two-VIF example without VIF `name`.
fn without_vif(name: &str) -> String {
    let text = two_vifs_text();
    text.replacen(&vif_block(&text, name), "", 1)
}

/// What a step is about, when it belongs to one VIF's own objects: its
/// link (`joins` names the VIF), an address in its link's /30, its VGW
/// gateway, its MD5 key.
fn vif_of(step: &Step, plan: &Plan, vif: &str, link: Ipv4Net) -> bool {
    let gateway = format!("vgw-{vif}");
    match step {
        Step::AddVeth { link: l } => l.joins.1 == vif,
        Step::DeleteVeth { a, b } => plan
            .links
            .iter()
            .any(|l| l.a == *a && l.b == *b && l.joins.1 == vif),
        Step::AddAddress { address } | Step::DeleteAddress { address } => {
            link.contains(&address.addr.addr())
        }
        Step::StartGateway { gateway: g } => g.name == gateway,
        Step::StopGateway { name, .. } => *name == gateway,
        Step::InstallMd5Key { key } | Step::RemoveMd5Key { key } => key.session == vif,
        _ => false,
    }
}

/// Every step of `steps` is one of VIF `vif`'s own (in `plan`, the plan
/// that has it), or reconfigures a BGP daemon or the office gateway
/// `office` in place; nothing else stops, starts or is made again.
fn assert_only_vif_steps(steps: &[Step], plan: &Plan, vif: &str, link: Ipv4Net, office: &str) {
    let text = lines(steps);
    for s in steps {
        let ok = vif_of(s, plan, vif, link)
            || matches!(
                s,
                Step::ReconfigureBird { .. } | Step::ReconfigureFrr { .. }
            )
            || matches!(s, Step::ReconfigureGateway { gateway } | Step::NarrowGateway { gateway }
                if gateway.name == office);
        assert!(ok, "unexpected step `{s}` in:\n{text}");
    }
}

fn net(s: &str) -> Ipv4Net {
    s.parse().expect("a prefix")
}

#[test]
fn a_vif_added_before_another_is_only_its_own_steps() {
    let old = plan_of(&without_vif("dx-vif-1"), LAB);
    let new = plan_of(&two_vifs_text(), LAB);
    let steps = diff(&old, &new);
    assert_reaches(&old, &steps, &new);
    let text = lines(&steps);
    assert_only_vif_steps(
        &steps,
        &new,
        "dx-vif-1",
        net("169.254.100.0/30"),
        "vifgate-office",
    );
    // all of them there: its link, both addresses, its gateway, its key
    let count = |f: fn(&Step) -> bool| steps.iter().filter(|s| f(s)).count();
    assert_eq!(count(|s| matches!(s, Step::AddVeth { .. })), 1, "{text}");
    assert_eq!(count(|s| matches!(s, Step::AddAddress { .. })), 2, "{text}");
    assert_eq!(
        count(|s| matches!(s, Step::StartGateway { .. })),
        1,
        "{text}"
    );
    assert_eq!(
        count(|s| matches!(s, Step::InstallMd5Key { .. })),
        1,
        "{text}"
    );
    // a BGP daemon whose router ID changes restarts every session: each
    // keeps its own (the VGW's was the first VIF's Amazon address)
    let router_id = |p: &Plan, name: &str| {
        let d = p.bird.daemons.iter().find(|d| d.name == name);
        d.and_then(|d| d.config.lines().find(|l| l.starts_with("router id ")))
            .map(str::to_string)
    };
    for name in ["vgw", "vifgate-office", "vpc"] {
        assert!(router_id(&new, name).is_some(), "{name}");
        assert_eq!(router_id(&old, name), router_id(&new, name), "{name}");
    }
    // the second VIF's link and the VPN's tunnel kept their names and
    // ports: the same objects in both plans
    for p in [&old, &new] {
        assert!(p.links.iter().any(|l| l.joins.1 == "dx-vif-2"));
    }
    let second = |p: &Plan| p.links.iter().find(|l| l.joins.1 == "dx-vif-2").cloned();
    assert_eq!(second(&old), second(&new));
    for g in ["vgw-dx-vif-2", "vgw-vpn-backup"] {
        let of = |p: &Plan| p.gateways.iter().find(|x| x.name == g).cloned();
        assert_eq!(
            of(&old).map(|x| (x.tun, x.port)),
            of(&new).map(|x| (x.tun, x.port)),
            "{g}"
        );
    }
}

#[test]
fn a_vif_removed_leaves_the_other_and_the_vpn_alone() {
    let old = plan_of(&two_vifs_text(), LAB);
    let new = plan_of(&without_vif("dx-vif-1"), LAB);
    let steps = diff(&old, &new);
    assert_reaches(&old, &steps, &new);
    assert_only_vif_steps(
        &steps,
        &old,
        "dx-vif-1",
        net("169.254.100.0/30"),
        "vifgate-office",
    );
    assert!(
        steps
            .iter()
            .any(|s| matches!(s, Step::StopGateway { name, .. } if name == "vgw-dx-vif-1")),
        "{}",
        lines(&steps)
    );
    // and the other way round: the second VIF removed, the first kept
    let new = plan_of(&without_vif("dx-vif-2"), LAB);
    let steps = diff(&old, &new);
    assert_reaches(&old, &steps, &new);
    assert_only_vif_steps(
        &steps,
        &old,
        "dx-vif-2",
        net("169.254.101.0/30"),
        "vifgate-office",
    );
}

#[test]
fn a_gateway_inserted_before_others_does_not_show_as_their_change() {
    // a VIF ending on another office node, first in the file: its office
    // gateway and its VGW gateway come before the others in the plan's
    // list, which moves every other gateway's place (what a peer's
    // `gateway` is)
    let text = two_vifs_text();
    let first = vif_block(&text, "dx-vif-1");
    let inserted = first
        .replace("\"dx-vif-1\"", "\"dx-vif-0\"")
        .replace("vlan = 101", "vlan = 100")
        .replace("169.254.100.", "169.254.102.")
        .replace("env:DX1_BGP_MD5", "env:DX0_BGP_MD5")
        .replace(
            "customer_router = \"vifgate-office\"",
            "customer_router = \"office-router\"",
        );
    let old = plan_of(&text, LAB);
    let new = plan_of(
        &text.replacen(&first, &format!("{inserted}{first}"), 1),
        LAB,
    );
    let place = |p: &Plan, name: &str| p.gateways.iter().position(|g| g.name == name);
    assert_ne!(
        place(&old, "vgw-dx-vif-1"),
        place(&new, "vgw-dx-vif-1"),
        "the others' places move"
    );
    let steps = diff(&old, &new);
    assert_reaches(&old, &steps, &new);
    let text = lines(&steps);
    for s in &steps {
        let touched = match s {
            Step::StartGateway { gateway }
            | Step::ReconfigureGateway { gateway }
            | Step::NarrowGateway { gateway } => gateway.name.clone(),
            Step::StopGateway { name, .. } => name.clone(),
            _ => continue,
        };
        assert!(
            touched == "vgw-dx-vif-0" || touched == "office-router",
            "unexpected step `{s}` in:\n{text}"
        );
    }
}

#[test]
fn a_far_gateways_new_port_rewrites_the_configurations_that_send_to_it() {
    // the office gateway's peers name the VGW's gateways by place: a far
    // gateway on a new port with every place unchanged is still a change
    // of the office gateway's configuration (its peer's endpoint)
    let old = plan_of(&two_vifs_text(), LAB);
    let mut new = old.clone();
    let far = (new.gateways.iter_mut())
        .find(|g| g.name == "vgw-dx-vif-2")
        .expect("the second VIF's VGW gateway");
    far.port += 1;
    let steps = diff(&old, &new);
    assert_reaches(&old, &steps, &new);
    assert!(
        steps.iter().any(
            |s| matches!(s, Step::ReconfigureGateway { gateway } if gateway.name == "vifgate-office")
        ),
        "{}",
        lines(&steps)
    );
}

/// A lab built before links, tunnels and ports followed the VIF's name
/// (`dx0`, `vg1`, port 51821 + place, the VGW's router ID the first VIF's
/// address): its plan as `vifgate sim plan examples/two-vifs.toml --json
/// --lab old` printed it then (commit 1b13015).
fn plan_with_place_names() -> Plan {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/plan/two-vifs-place-names.json"
    );
    let text = std::fs::read_to_string(path).expect("the captured plan");
    serde_json::from_str(&text).expect("a plan stored then still reads")
}

#[test]
fn a_lab_built_with_place_names_comes_down_and_takes_an_apply() {
    let old = plan_with_place_names();
    assert!(old.links.iter().any(|l| l.a.ifname == "dx0"), "place names");
    let none = super::empty("old");
    let down = diff(&old, &none);
    assert_reaches(&old, &down, &none);
    // and an apply renames its links and tunnels in one go
    let new = plan_of(&two_vifs_text(), "old");
    let steps = diff(&old, &new);
    assert_reaches(&old, &steps, &new);
}
