//! The diff on one-line edits of the example, and its properties over
//! generated topologies, checked with the pure model of [`super::model`].

use proptest::prelude::*;
use topology::synth::{synth_toml, SynthSpec};
use topology::synth_lab::lab_case_toml;

use super::model::{apply, normalised};
use super::{diff, empty, Step};
use crate::plan::{plan, Plan};

#[path = "test_vifs.rs"]
mod vifs;

const PORTS: [u16; 4] = [22, 80, 443, 3306];
const LAB: &str = "yh";

fn example_text() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/yeohaengjigi.toml");
    std::fs::read_to_string(path).expect("the example")
}

fn plan_of(text: &str, lab: &str) -> Plan {
    let t = topology::parse("edited.toml", text.to_string())
        .expect("the text loads")
        .topology;
    plan(&t, lab, &PORTS).expect("plan")
}

/// The example with `from` (found once) replaced by `to`.
fn edited(from: &str, to: &str) -> String {
    let text = example_text();
    assert_eq!(
        text.matches(from).count(),
        1,
        "`{from}` once in the example"
    );
    text.replacen(from, to, 1)
}

/// The steps from the example to its edit, checked against the model.
fn steps_of_edit(from: &str, to: &str) -> Vec<Step> {
    let old = plan_of(&example_text(), LAB);
    let new = plan_of(&edited(from, to), LAB);
    let steps = diff(&old, &new);
    assert_reaches(&old, &steps, &new);
    steps
}

/// `steps` take `from` to `to` in the model, each finding what it needs.
fn assert_reaches(from: &Plan, steps: &[Step], to: &Plan) {
    let got = apply(from, steps, to).unwrap_or_else(|e| panic!("{e}"));
    let (got, want) = (
        normalised(&got),
        normalised(&Plan {
            lab: got.lab.clone(),
            topology: got.topology.clone(),
            tcp_ports: got.tcp_ports.clone(),
            // the lab's controller is no step: the executor settles it
            autoscaling: got.autoscaling.clone(),
            ..to.clone()
        }),
    );
    for (what, g, w) in [
        ("namespaces", json(&got.namespaces), json(&want.namespaces)),
        ("bridges", json(&got.bridges), json(&want.bridges)),
        ("links", json(&got.links), json(&want.links)),
        ("addresses", json(&got.addresses), json(&want.addresses)),
        ("routes", json(&got.routes), json(&want.routes)),
        (
            "tunnel routes",
            json(&got.tunnel_routes),
            json(&want.tunnel_routes),
        ),
        ("rules", json(&got.rules), json(&want.rules)),
        ("sysctls", json(&got.sysctls), json(&want.sysctls)),
        ("firewalls", json(&got.firewalls), json(&want.firewalls)),
        ("gateways", json(&got.gateways), json(&want.gateways)),
        ("shaping", json(&got.shaping), json(&want.shaping)),
        ("listeners", json(&got.listeners), json(&want.listeners)),
        ("starts", json(&got.starts), json(&want.starts)),
        ("haproxy", json(&got.haproxy), json(&want.haproxy)),
        ("bird", json(&got.bird), json(&want.bird)),
        ("frr", json(&got.frr), json(&want.frr)),
    ] {
        assert_eq!(g, w, "{what} after the steps differ from the plan's");
    }
    assert_eq!(got, want);
}

fn json<T: serde::Serialize>(x: &T) -> String {
    serde_json::to_string_pretty(x).expect("serialises")
}

fn lines(steps: &[Step]) -> String {
    steps.iter().map(|s| format!("  {s}\n")).collect()
}

#[test]
fn one_security_group_rule_is_one_atomic_table_replacement() {
    let steps = steps_of_edit(
        "  { protocol = \"tcp\", ports = 22, prefix_list = \"office-prefixes\" },\n",
        "  { protocol = \"tcp\", ports = 22, prefix_list = \"office-prefixes\" },\n  { protocol = \"tcp\", ports = 443, prefix_list = \"office-prefixes\" },\n",
    );
    assert_eq!(steps.len(), 1, "{}", lines(&steps));
    let Step::LoadFirewall { firewall, change } = &steps[0] else {
        panic!("{}", lines(&steps));
    };
    assert_eq!(firewall.ns, "yh.bastion");
    assert!(change.is_some(), "a replacement says what changed");
    let script = steps[0].nft_script().expect("an nft script");
    // the table is declared, deleted and defined in one transaction
    assert!(
        script.starts_with(
            "table inet vifgate_sg\ndelete table inet vifgate_sg\ntable inet vifgate_sg {"
        ),
        "{script}"
    );
    assert_eq!(
        steps[0].to_string(),
        "replace nft table inet vifgate_sg in yh.bastion (security groups bastion-sg; bastion-sg ingress: 1 line added)"
    );
}

#[test]
fn an_instance_added_is_its_namespace_link_addresses_firewall_listener_and_targets() {
    let steps = steps_of_edit("desired = 2\n", "desired = 3\n");
    let text = lines(&steps);
    let new_ns = steps
        .iter()
        .find_map(|s| match s {
            Step::CreateNamespace { namespace } => Some(namespace.name.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("a namespace is created:\n{text}"));
    assert_eq!(new_ns, "yh.web-a2", "{text}");
    let creates = |f: fn(&Step) -> bool| steps.iter().filter(|s| f(s)).count();
    assert_eq!(
        creates(|s| matches!(s, Step::CreateNamespace { .. })),
        1,
        "{text}"
    );
    assert_eq!(creates(|s| matches!(s, Step::AddVeth { .. })), 1, "{text}");
    assert!(
        creates(|s| matches!(s, Step::AddAddress { .. })) >= 1,
        "{text}"
    );
    assert!(
        creates(|s| matches!(s, Step::AddRoute { .. })) >= 1,
        "{text}"
    );
    assert_eq!(
        creates(|s| matches!(s, Step::StartListener { .. })),
        1,
        "{text}"
    );
    // one target in each of the ALB's two backends, no reload
    assert_eq!(
        creates(|s| matches!(s, Step::RegisterTarget { .. })),
        2,
        "{text}"
    );
    let new_fw = steps.iter().any(
        |s| matches!(s, Step::LoadFirewall { firewall, change: None } if firewall.ns == new_ns),
    );
    assert!(new_fw, "{text}");
    // nothing stops, restarts or goes away; the rest of the lab is
    // touched only where a rule names the new instance's group (db-sg
    // admits web-sg's members: the databases' tables are replaced)
    for s in &steps {
        let ok = match s {
            Step::LoadFirewall {
                firewall,
                change: Some(_),
            } => firewall.ns == "yh.db-primary" || firewall.ns == "yh.db-standby",
            Step::RegisterTarget { .. } => true,
            Step::AttachPort { bridge, .. } => {
                *bridge == crate::layout::subnet_bridges(["web-a"])[0]
            }
            other => serde_json::to_string(other)
                .expect("json")
                .contains(&new_ns),
        };
        assert!(ok, "unexpected step `{s}` in:\n{text}");
    }
}

#[test]
fn an_instance_added_before_others_leaves_their_links_alone() {
    // a plain instance after the bastion: the database hosts, the load
    // balancer and the Auto Scaling instances come after it in node order
    let steps = steps_of_edit(
        "security_groups = [\"bastion-sg\"]\n\n[[vpc.load_balancer]]",
        "security_groups = [\"bastion-sg\"]\n\n[[vpc.instance]]\nname = \"bastion2\"\nsubnet = \"public-c\"\nip = \"10.0.1.10\"\nsecurity_groups = [\"bastion-sg\"]\n\n[[vpc.load_balancer]]",
    );
    let text = lines(&steps);
    assert_no_step(&steps, |s| {
        matches!(
            s,
            Step::DeleteVeth { .. } | Step::DeleteNamespace { .. } | Step::DeleteAddress { .. }
        )
    });
    for s in &steps {
        if let Step::AddVeth { link } = s {
            assert_eq!(link.a.ns, "yh.bastion2", "{text}");
        }
    }
}

#[test]
fn a_node_whose_name_makes_anothers_namespace_keeps_its_own_when_one_comes_before() {
    // `jump host` and `jump_host` both make `jump_host`: the second's
    // namespace once took its place in the file (`~7`), which a node added
    // before it changed
    let two = "[[vpc.instance]]\nname = \"jump host\"\nsubnet = \"public-c\"\nip = \"10.0.1.11\"\nsecurity_groups = [\"bastion-sg\"]\n\n[[vpc.instance]]\nname = \"jump_host\"\nsubnet = \"public-c\"\nip = \"10.0.1.12\"\nsecurity_groups = [\"bastion-sg\"]\n\n[[vpc.instance]]\nname = \"bastion\"";
    let before = "[[vpc.instance]]\nname = \"first\"\nsubnet = \"public-a\"\nip = \"10.0.0.11\"\nsecurity_groups = [\"bastion-sg\"]\n\n";
    let old = plan_of(&edited("[[vpc.instance]]\nname = \"bastion\"", two), LAB);
    let new = plan_of(
        &edited(
            "[[vpc.instance]]\nname = \"bastion\"",
            &format!("{before}{two}"),
        ),
        LAB,
    );
    assert_ne!(old.node_ns("jump host"), old.node_ns("jump_host"));
    assert_eq!(old.node_ns("jump_host"), new.node_ns("jump_host"));
    let steps = diff(&old, &new);
    assert_reaches(&old, &steps, &new);
    assert_no_step(&steps, |s| matches!(s, Step::DeleteNamespace { .. }));
}

#[test]
fn a_subnet_added_before_others_leaves_their_bridges_rules_and_acls_alone() {
    let steps = steps_of_edit(
        "[[vpc.subnet]]\nname = \"db-c\"",
        "[[vpc.subnet]]\nname = \"extra\"\naz = \"a\"\ncidr = \"10.0.30.0/24\"\n\n[[vpc.subnet]]\nname = \"db-c\"",
    );
    let text = lines(&steps);
    // on main: db-c's bridge was deleted and made again under another
    // name, its rule and ACL chains moved: a moment with db-c's traffic
    // under the new subnet's ACL
    assert_no_step(&steps, |s| {
        matches!(
            s,
            Step::DeleteBridge { .. }
                | Step::DeleteVeth { .. }
                | Step::DetachPort { .. }
                | Step::DeleteRule { .. }
                | Step::ReplaceRule { .. }
                | Step::ReplaceRoute { .. }
        )
    });
    let extra = &crate::layout::subnet_bridges(["extra"])[0];
    assert!(
        steps
            .iter()
            .any(|s| matches!(s, Step::AddBridge { bridge } if bridge.name == *extra)),
        "{text}"
    );
}

#[test]
fn a_route_table_inserted_before_others_leaves_their_kernel_tables_alone() {
    let steps = steps_of_edit(
        "[[vpc.route_table]]\nname = \"web-a-rt\"",
        "[[vpc.route_table]]\nname = \"spare-rt\"\nroutes = [{ prefix = \"0.0.0.0/0\", target = \"igw\" }]\n\n[[vpc.route_table]]\nname = \"web-a-rt\"",
    );
    let text = lines(&steps);
    // on main the tables after it were renumbered (`1000 + index`): every
    // route of web-a-rt, web-c-rt and db-rt deleted and added again under
    // another table, their subnets' rules pointed at it, the VPC router's
    // BIRD reconfigured with renamed protocols
    assert_no_step(&steps, |s| {
        matches!(
            s,
            Step::DeleteRoute { .. }
                | Step::ReplaceRoute { .. }
                | Step::DeleteRule { .. }
                | Step::ReplaceRule { .. }
                | Step::ReconfigureBird { .. }
        )
    });
    let spare = crate::layout::route_table_numbers(["spare-rt"])[0];
    assert!(
        steps.iter().all(|s| match s {
            Step::AddRoute { route, .. } => route.table == spare,
            _ => false,
        }),
        "only the new table's routes are added:\n{text}"
    );
    assert!(!steps.is_empty(), "{text}");
}

#[test]
fn a_route_target_changed_is_one_route_replace() {
    let steps = steps_of_edit(
        "routes = [{ prefix = \"0.0.0.0/0\", target = \"nat-a\" }]",
        "routes = [{ prefix = \"0.0.0.0/0\", target = \"nat-c\" }]",
    );
    assert_eq!(steps.len(), 1, "{}", lines(&steps));
    assert!(
        matches!(&steps[0], Step::ReplaceRoute { route, tunnel: false } if route.dst.to_string() == "0.0.0.0/0"),
        "{}",
        lines(&steps)
    );
}

#[test]
fn an_advertised_prefix_removed_is_withdrawn_by_bird_before_the_tunnel_narrows() {
    let steps = steps_of_edit(
        "advertised_prefixes = [\"192.168.10.0/24\", \"192.168.20.0/24\"]",
        "advertised_prefixes = [\"192.168.10.0/24\"]",
    );
    let text = lines(&steps);
    // the office's BIRD says less; the VGW's end of the VIF's tunnel
    // admits less (its WireGuard peer's allowed addresses), but only once
    // BIRD has withdrawn the prefix: on main the tunnel narrowed first and
    // dropped what the VPC still routed into it
    assert_eq!(steps.len(), 2, "{text}");
    assert!(
        matches!(&steps[0], Step::ReconfigureBird { bird } if bird.name == "vifgate-office"),
        "{text}"
    );
    assert!(
        matches!(&steps[1], Step::NarrowGateway { gateway } if gateway.name == "vgw-dx-vif"),
        "{text}"
    );
}

#[test]
fn an_advertised_prefix_added_widens_the_tunnel_before_bird_advertises_it() {
    let steps = steps_of_edit(
        "advertised_prefixes = [\"192.168.10.0/24\", \"192.168.20.0/24\"]",
        "advertised_prefixes = [\"192.168.10.0/24\", \"192.168.20.0/24\", \"192.168.30.0/24\"]",
    );
    let text = lines(&steps);
    // the tunnel first, then the BIRDs (the office's, and AWS's, whose
    // filters name the prefix): on main too, kept so
    assert!(
        matches!(&steps[0], Step::ReconfigureGateway { gateway } if gateway.name == "vgw-dx-vif"),
        "{text}"
    );
    assert!(
        steps[1..]
            .iter()
            .all(|s| matches!(s, Step::ReconfigureBird { .. })),
        "{text}"
    );
    position(
        &steps,
        |s| matches!(s, Step::ReconfigureBird { bird } if bird.name == "vifgate-office"),
    );
}

#[test]
fn an_advertised_prefix_moved_widens_first_and_narrows_after_bird() {
    let old = plan_of(&example_text(), LAB);
    let new = plan_of(
        &edited(
            "advertised_prefixes = [\"192.168.10.0/24\", \"192.168.20.0/24\"]",
            "advertised_prefixes = [\"192.168.10.0/24\", \"192.168.30.0/24\"]",
        ),
        LAB,
    );
    let steps = diff(&old, &new);
    assert_reaches(&old, &steps, &new);
    let text = lines(&steps);
    // first the union: the prefix that goes and the one that comes
    let Step::ReconfigureGateway { gateway: wide } = &steps[0] else {
        panic!("{text}");
    };
    let allowed: Vec<String> = wide.peers[0]
        .allowed
        .iter()
        .map(|a| a.to_string())
        .collect();
    for p in ["192.168.10.0/24", "192.168.20.0/24", "192.168.30.0/24"] {
        assert!(allowed.iter().any(|a| a == p), "{p} in {allowed:?}");
    }
    let last = steps.len() - 1;
    assert!(
        steps[1..last]
            .iter()
            .all(|s| matches!(s, Step::ReconfigureBird { .. })),
        "{text}"
    );
    let Step::NarrowGateway { gateway } = &steps[last] else {
        panic!("{text}");
    };
    let vgw = new
        .gateways
        .iter()
        .find(|g| g.name == gateway.name)
        .expect("gateway");
    assert_eq!(gateway, vgw, "it ends as the new plan has it");
}

#[test]
fn a_local_preference_reconfigures_the_office_bird_only() {
    let steps = steps_of_edit("local_preference = 200 ", "local_preference = 150 ");
    let text = lines(&steps);
    assert_eq!(steps.len(), 1, "{text}");
    assert!(
        matches!(&steps[0], Step::ReconfigureBird { bird } if bird.name == "vifgate-office"),
        "{text}"
    );
}

#[test]
fn a_gateway_policy_edit_is_its_reload() {
    let steps = steps_of_edit(
        "description = \"ping from the VPC\" },\n",
        "description = \"ping from the VPC\" },\n  { protocol = \"tcp\", ports = 22, cidr = \"10.0.0.0/24\" },\n",
    );
    let text = lines(&steps);
    assert_eq!(steps.len(), 1, "{text}");
    let Step::ReconfigureGateway { gateway } = &steps[0] else {
        panic!("{text}");
    };
    assert_eq!(gateway.name, "vifgate-office");
}

/// The position of the first step that `is`, in `steps`.
fn position(steps: &[Step], is: impl Fn(&Step) -> bool) -> usize {
    steps
        .iter()
        .position(is)
        .unwrap_or_else(|| panic!("no such step in\n{}", lines(steps)))
}

/// Asserts that no step is `is`.
fn assert_no_step(steps: &[Step], is: impl Fn(&Step) -> bool) {
    if let Some(s) = steps.iter().find(|s| is(s)) {
        panic!("unexpected step `{s}` in:\n{}", lines(steps));
    }
}

/// Asserts that the first step that is `first` comes before the first
/// that is `then`.
fn assert_before(steps: &[Step], first: impl Fn(&Step) -> bool, then: impl Fn(&Step) -> bool) {
    assert!(
        position(steps, first) < position(steps, then),
        "{}",
        lines(steps)
    );
}

#[test]
fn a_start_command_changed_stops_the_old_server_before_the_new_one_binds_its_port() {
    // the same server on port 80 with one more argument: a new command,
    // the old one holds port 80 until it stops
    let steps = steps_of_edit(
        "command = \"python3 -m http.server 80 --bind 0.0.0.0\"",
        "command = \"python3 -m http.server 80 --bind 0.0.0.0 --directory /tmp\"",
    );
    assert_before(
        &steps,
        |s| matches!(s, Step::StopCommand { start } if start.node == "web-a1"),
        |s| matches!(s, Step::StartCommand { start } if start.node == "web-a1"),
    );
}

#[test]
fn listeners_that_take_over_a_port_start_after_what_held_it_stops() {
    // web-c1's server gone: its listeners take port 80 back
    let steps = steps_of_edit("nodes = [\"web-a1\", \"web-c1\"]", "nodes = [\"web-a1\"]");
    assert_before(
        &steps,
        |s| matches!(s, Step::StopCommand { start } if start.node == "web-c1"),
        |s| matches!(s, Step::StartListener { listener } if listener.node == "web-c1"),
    );
    // the load balancer played by listeners instead of HAProxy: ports 80
    // and 443 change hands
    let steps = steps_of_edit(
        "load_balancer = \"haproxy\"",
        "load_balancer = \"listener\"",
    );
    assert_before(
        &steps,
        |s| matches!(s, Step::StopHaproxy { .. }),
        |s| matches!(s, Step::StartListener { listener } if listener.node == "alb"),
    );
    // and back: the listeners give the ports up before HAProxy binds them
    let (haproxy, listeners) = (
        plan_of(&example_text(), LAB),
        plan_of(
            &edited(
                "load_balancer = \"haproxy\"",
                "load_balancer = \"listener\"",
            ),
            LAB,
        ),
    );
    assert_reaches(&listeners, &diff(&listeners, &haproxy), &haproxy);
}

#[test]
fn frr_in_place_of_bird_starts_after_bird_freed_the_bgp_port() {
    let steps = steps_of_edit(
        "load_balancer = \"haproxy\"",
        "load_balancer = \"haproxy\"\nbgp_daemon = { vifgate-office = \"frr\" }",
    );
    assert_before(
        &steps,
        |s| matches!(s, Step::StopBird { name, .. } if name == "vifgate-office"),
        |s| matches!(s, Step::StartFrr { .. }),
    );
}

#[test]
fn an_md5_key_changed_reconfigures_both_birds_that_read_it() {
    let steps = steps_of_edit(
        "md5_key = \"env:DX_BGP_MD5\"",
        "md5_key = \"env:DX_BGP_MD5_NEW\"",
    );
    let text = lines(&steps);
    let install = position(
        &steps,
        |s| matches!(s, Step::InstallMd5Key { key } if key.session == "dx-vif"),
    );
    for name in ["vgw", "vifgate-office"] {
        let reconfigure = position(
            &steps,
            |s| matches!(s, Step::ReconfigureBird { bird } if bird.name == name),
        );
        assert!(install < reconfigure, "{text}");
    }
    // the VPC router's BIRD has no session with the office: untouched
    assert_eq!(steps.len(), 3, "{text}");
    // FRR on the office side: it is reconfigured with the new key
    let frr = |text: String| {
        text.replace(
            "load_balancer = \"haproxy\"",
            "load_balancer = \"haproxy\"\nbgp_daemon = { vifgate-office = \"frr\" }",
        )
    };
    let old = plan_of(&frr(example_text()), LAB);
    let new = plan_of(
        &frr(edited(
            "md5_key = \"env:DX_BGP_MD5\"",
            "md5_key = \"env:DX_BGP_MD5_NEW\"",
        )),
        LAB,
    );
    let steps = diff(&old, &new);
    assert_reaches(&old, &steps, &new);
    position(&steps, |s| matches!(s, Step::ReconfigureFrr { .. }));
}

#[test]
fn the_example_is_built_and_torn_down_by_diffs_from_and_to_nothing() {
    let p = plan_of(&example_text(), LAB);
    let none = empty(LAB);
    let up = diff(&none, &p);
    assert_reaches(&none, &up, &p);
    // nothing is removed on the way up
    assert!(up.iter().all(|s| !matches!(
        s,
        Step::DeleteNamespace { .. } | Step::DeleteVeth { .. } | Step::StopGateway { .. }
    )));
    let down = diff(&p, &none);
    assert_reaches(&p, &down, &none);
    // a namespace takes what is in it: tearing down is deleting them
    assert!(
        down.iter()
            .all(|s| matches!(s, Step::DeleteNamespace { .. } | Step::RemoveMd5Key { .. })),
        "{}",
        lines(&down)
    );
    assert!(diff(&p, &p).is_empty());
}

#[test]
fn the_plan_keeps_tables_targets_and_sessions_as_the_rendered_text_has_them() {
    let p = plan_of(&example_text(), LAB);
    for f in &p.firewalls {
        let declared: Vec<String> = f
            .ruleset
            .lines()
            .filter_map(|l| l.strip_prefix("table "))
            .map(|r| r.trim_end_matches('{').trim().to_string())
            .collect();
        assert_eq!(f.tables, declared, "{}", f.ns);
    }
    let alb = &p.haproxy[0];
    let servers: Vec<String> = alb
        .targets
        .iter()
        .map(|t| format!("server {} {} check", t.server, t.address))
        .collect();
    assert_eq!(alb.targets.len(), 4, "two web hosts behind two listeners");
    for (t, line) in alb.targets.iter().zip(&servers) {
        let backend = format!("backend {}\n", t.backend);
        let at = alb.config.find(&backend).expect("its backend");
        assert!(alb.config[at..].contains(line.as_str()), "{line}");
        assert!(
            !alb.config_without_targets.contains(line.as_str()),
            "{line}"
        );
    }
    let vgw = p
        .bird
        .daemons
        .iter()
        .find(|b| b.name == "vgw")
        .expect("vgw");
    let sessions: Vec<&str> = p.bird.md5.iter().map(|k| k.session.as_str()).collect();
    assert_eq!(vgw.sessions, sessions, "the VGW runs every session");
    let vpc = p
        .bird
        .daemons
        .iter()
        .find(|b| b.name == "vpc")
        .expect("vpc");
    assert!(vpc.sessions.is_empty(), "the VPC router runs none");
}

#[test]
fn targets_are_diffed_as_values_not_read_back_from_the_text() {
    let old = plan_of(&example_text(), LAB);
    let mut new = old.clone();
    // one target fewer, the text as it was: the values decide
    let gone = new.haproxy[0].targets.remove(0);
    let steps = diff(&old, &new);
    assert_eq!(
        steps,
        vec![Step::DeregisterTarget {
            ns: old.haproxy[0].ns.clone(),
            node: old.haproxy[0].node.clone(),
            delay: old.haproxy[0].deregistration_delays[&gone.backend],
            target: gone,
        }],
        "{}",
        lines(&steps)
    );
    assert_reaches(&old, &steps, &new);
    // anything else of the configuration changed: a reload
    new.haproxy[0].config_without_targets.push_str("# more\n");
    let steps = diff(&old, &new);
    assert!(
        matches!(steps.as_slice(), [Step::ReloadHaproxy { .. }]),
        "{}",
        lines(&steps)
    );
}

#[test]
fn steps_serialise_with_their_kind() {
    let p = plan_of(&example_text(), LAB);
    let up = diff(&empty(LAB), &p);
    let v = serde_json::to_value(&up[0]).expect("json");
    assert_eq!(v["step"], "create_namespace");
}

/// A plan of a generated case: a lab of one seed (`synth_lab`), or a
/// generated VPC of a few hosts (`synth`).
fn generated(kind: u8, seed: u64) -> Plan {
    let text = match kind {
        0 => lab_case_toml(seed),
        _ => synth_toml(SynthSpec {
            hosts: 2 + (seed % 5) as usize,
            security_groups: 1 + (seed % 3) as usize,
            rules_per_group: 1 + (seed % 4) as usize,
            seed,
        }),
    };
    plan_of(&text, "gen")
}

/// `p` with the objects whose bit in `mask` is set left out (bits taken
/// in turn): a random edit that removes namespaces and links (with what
/// stands on them, as the model has it), addresses, routes, rules,
/// firewalls and processes.
fn thinned(p: &Plan, mask: u64) -> Plan {
    let mut bit = 0u32;
    let mut drop = move || {
        bit = (bit + 1) % 64;
        mask & (1 << bit) != 0
    };
    let mut cuts = Vec::new();
    for n in &p.namespaces {
        if drop() {
            cuts.push(Step::DeleteNamespace { ns: n.name.clone() });
        }
    }
    let mut q = apply(p, &cuts, p).expect("namespaces deleted");
    let mut cuts = Vec::new();
    for l in &q.links {
        if drop() {
            cuts.push(Step::DeleteVeth {
                a: l.a.clone(),
                b: l.b.clone(),
            });
        }
    }
    q = apply(&q, &cuts, p).expect("links deleted");
    macro_rules! thin {
        ($($f:ident).+) => {
            q.$($f).+.retain(|_| !drop());
        };
    }
    thin!(addresses);
    thin!(routes);
    thin!(tunnel_routes);
    thin!(rules);
    thin!(sysctls);
    thin!(firewalls);
    thin!(shaping);
    thin!(listeners);
    thin!(starts);
    thin!(haproxy);
    thin!(bird.daemons);
    thin!(frr);
    q
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn a_plan_against_itself_needs_no_step(kind in 0u8..2, seed in 0u64..10_000) {
        let p = generated(kind, seed);
        prop_assert!(diff(&p, &p).is_empty());
    }

    #[test]
    fn the_steps_turn_one_plan_into_the_other(
        ka in 0u8..2, sa in 0u64..10_000, kb in 0u8..2, sb in 0u64..10_000,
    ) {
        let (a, b) = (generated(ka, sa), generated(kb, sb));
        assert_reaches(&a, &diff(&a, &b), &b);
    }

    #[test]
    fn the_steps_follow_random_removals_both_ways(
        kind in 0u8..2, seed in 0u64..10_000, mask in any::<u64>(),
    ) {
        let a = generated(kind, seed);
        let b = thinned(&a, mask);
        assert_reaches(&a, &diff(&a, &b), &b);
        assert_reaches(&b, &diff(&b, &a), &a);
    }

    #[test]
    fn up_then_down_leaves_nothing(kind in 0u8..2, seed in 0u64..10_000) {
        let p = generated(kind, seed);
        let none = empty("gen");
        let up = diff(&none, &p);
        assert_reaches(&none, &up, &p);
        let built = apply(&none, &up, &p).expect("built");
        let down = diff(&built, &none);
        assert_reaches(&built, &down, &none);
    }
}

/// The rebuild checks of the example edited: each error's headline.
fn rebuild_errors(from: &str, to: &str) -> Vec<String> {
    rebuild_errors_of(edited(from, to))
}

/// The rebuild checks of the example against `text`.
fn rebuild_errors_of(text: String) -> Vec<String> {
    let old = topology::parse("old.toml", example_text())
        .expect("the example")
        .topology;
    let src = topology::SourceFile::new("edited.toml", text);
    let new = topology::resolve::resolve(&src).expect("the edit loads").0;
    super::rebuild::fields_needing_rebuild(&old, &new, &src)
        .0
        .iter()
        .map(|d| d.headline())
        .collect()
}

/// 1-based line and column of `needle` (found once) in `text`.
fn place(text: &str, needle: &str) -> (usize, usize) {
    let at = text.find(needle).expect("in the text");
    let line = text[..at].matches('\n').count() + 1;
    let col = at - text[..at].rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, col)
}

#[test]
fn a_vpc_cidr_edit_needs_a_rebuild_at_its_place_in_the_new_file() {
    let (from, to) = (
        "-vpc\"\ncidr = \"10.0.0.0/16\"",
        "-vpc\"\ncidr = \"10.0.0.0/17\"",
    );
    let errors = rebuild_errors(from, to);
    let (line, col) = place(&edited(from, to), "\"10.0.0.0/17\"");
    assert_eq!(
        errors,
        [format!("edited.toml:{line}:{col}: error: VPC yeohaengjigi-vpc's CIDR changes from 10.0.0.0/16 to 10.0.0.0/17: this needs a rebuild")]
    );
}

#[test]
fn a_vpn_turned_static_is_applied_not_refused_as_an_asn_change() {
    // its `customer_asn` stays in the file (a warning: it does nothing on
    // a static VPN); no ASN changed
    let (from, to) = ("routing = \"bgp\"", "routing = \"static\"");
    assert_eq!(rebuild_errors(from, to), Vec::<String>::new());
    let steps = steps_of_edit(from, to);
    let text = lines(&steps);
    assert!(
        steps
            .iter()
            .any(|s| matches!(s, Step::ReconfigureBird { bird } if bird.name == "vgw")),
        "{text}"
    );
    assert!(
        steps.iter().all(|s| !matches!(s, Step::StopBird { .. })),
        "{text}"
    );
}

#[test]
fn zone_asn_and_name_edits_need_a_rebuild() {
    // the database's two subnets swap zones (its standby stays in the
    // other one)
    let swapped = edited("name = \"db-a\"\naz = \"a\"", "name = \"db-a\"\naz = \"c\"").replacen(
        "name = \"db-c\"\naz = \"c\"",
        "name = \"db-c\"\naz = \"a\"",
        1,
    );
    let az = rebuild_errors_of(swapped);
    assert_eq!(az.len(), 2, "{az:?}");
    assert!(az[0].contains(":103:6: error: subnet db-a's availability zone changes from ap-northeast-2a to ap-northeast-2c: this needs a rebuild"), "{az:?}");
    assert!(
        az[1].contains(
            "subnet db-c's availability zone changes from ap-northeast-2c to ap-northeast-2a"
        ),
        "{az:?}"
    );
    let asn = rebuild_errors(
        "customer_asn = 65010\namazon_asn",
        "customer_asn = 65011\namazon_asn",
    );
    assert_eq!(asn.len(), 1, "{asn:?}");
    assert!(
        asn[0].contains("VIF dx-vif's customer (office) ASN changes from 65010 to 65011"),
        "{asn:?}"
    );
    // the VGW's ASN is the VIF's Amazon side too: both are named
    let vgw = rebuild_errors_of(edited("asn = 64512 }", "asn = 64513 }").replacen(
        "amazon_asn = 64512",
        "amazon_asn = 64513",
        1,
    ));
    assert_eq!(vgw.len(), 2, "{vgw:?}");
    assert!(
        vgw[0].contains("the VGW's ASN changes from 64512 to 64513"),
        "{vgw:?}"
    );
    assert!(
        vgw[1].contains("VIF dx-vif's Amazon ASN changes from 64512 to 64513"),
        "{vgw:?}"
    );
    let name = rebuild_errors("name = \"yeohaengjigi\"\n", "name = \"yeohaengjigi-2\"\n");
    assert!(
        name[0].contains(":13:8: error: the topology's name changes"),
        "{name:?}"
    );
    // what a running lab takes in place is not refused
    assert!(rebuild_errors("desired = 2\n", "desired = 3\n").is_empty());
}

/// Whether `s` loads the firewall of namespace `ns`.
fn loads_firewall_of(s: &Step, ns: &str) -> bool {
    matches!(s, Step::LoadFirewall { firewall, .. } if firewall.ns == ns)
}

#[test]
fn a_terminated_instance_leaves_the_security_groups_only_once_deregistered_and_gone() {
    // 3 -> 2: web-a2 goes; the database's firewall no longer lets it in
    let old = plan_of(&edited("desired = 2\n", "desired = 3\n"), LAB);
    let new = plan_of(&example_text(), LAB);
    let steps = diff(&old, &new);
    assert_reaches(&old, &steps, &new);
    let narrowed = |s: &Step| loads_firewall_of(s, "yh.db-primary");
    assert_before(
        &steps,
        |s| matches!(s, Step::DeregisterTarget { .. }),
        narrowed,
    );
    assert_before(
        &steps,
        |s| matches!(s, Step::DeleteNamespace { ns } if ns == "yh.web-a2"),
        narrowed,
    );
    // 2 -> 3: the database lets web-a2 in before it takes requests
    let steps = steps_of_edit("desired = 2\n", "desired = 3\n");
    assert_before(
        &steps,
        |s| loads_firewall_of(s, "yh.db-primary"),
        |s| matches!(s, Step::RegisterTarget { .. }),
    );
}

#[test]
fn a_scale_in_of_a_named_instance_keeps_the_others_addresses_and_slots() {
    // web-a1, web-c1, web-a2, web-c2; the controller terminates web-a2
    // (the first 3 would be web-a1, web-c1, web-a2)
    let old = plan_of(&edited("desired = 2\n", "desired = 4\n"), LAB);
    let new = plan_of(
        &edited(
            "desired = 2\n",
            "desired = 3\ninstances = [{ name = \"web-a1\", slot = 1 }, { name = \"web-c1\", slot = 2 }, { name = \"web-c2\", slot = 4 }]\n",
        ),
        LAB,
    );
    let steps = diff(&old, &new);
    assert_reaches(&old, &steps, &new);
    let text = lines(&steps);
    // web-a2's namespace goes, nothing of the others is touched
    assert!(
        steps
            .iter()
            .any(|s| matches!(s, Step::DeleteNamespace { ns } if ns == "yh.web-a2")),
        "{text}"
    );
    for s in &steps {
        let t = s.to_string();
        for stays in ["web-a1", "web-c1", "web-c2"] {
            assert!(
                !t.contains(stays),
                "`{t}` touches {stays}, which stays:\n{text}"
            );
        }
        assert!(!matches!(s, Step::CreateNamespace { .. }), "{text}");
    }
    // web-a2 left its slot: deregistered from web-asg-3 only
    let dereg: Vec<String> = steps
        .iter()
        .filter_map(|s| match s {
            Step::DeregisterTarget { target, .. } => Some(target.server.clone()),
            _ => None,
        })
        .collect();
    assert!(!dereg.is_empty(), "{text}");
    assert!(dereg.iter().all(|s| s == "web-asg-3"), "{dereg:?}\n{text}");
}

#[test]
fn an_instance_replaced_in_another_zone_in_its_slot_is_registered_after_the_old_one_left() {
    // web-a1 (slot 1) terminated, web-c2 launched in slot 1 in one change
    // (its zone impaired): the slot is deregistered first, else the
    // deregistration that follows the registration puts web-c2 in
    // maintenance
    let old = plan_of(&example_text(), LAB);
    let new = plan_of(
        &edited(
            "desired = 2\n",
            "desired = 2\ninstances = [{ name = \"web-c2\", slot = 1 }, { name = \"web-c1\", slot = 2 }]\n",
        ),
        LAB,
    );
    let steps = diff(&old, &new);
    assert_reaches(&old, &steps, &new);
    assert_before(
        &steps,
        |s| matches!(s, Step::DeregisterTarget { target, .. } if target.server == "web-asg-1"),
        |s| matches!(s, Step::RegisterTarget { target, .. } if target.server == "web-asg-1"),
    );
}
