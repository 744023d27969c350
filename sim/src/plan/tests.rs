//! [`plan()`] on topologies beyond the bundled example: the generated
//! 200-host topology of `vifgate bench sim`, a CloudFormation import merged
//! with an office, an office reaching its VPC over the Site-to-Site VPN
//! only, and two private VIFs on one VGW. Each plan is first checked for
//! what every plan must be (unique names and addresses, interface names
//! that fit, routes on interfaces that exist, tunnels paired both ways),
//! then for what its topology says.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use topology::cfn::mapping::{self, MapOptions};
use topology::cfn::{eval, ImportOptions};
use topology::synth::{synth_toml, SynthSpec};
use topology::Topology;

use crate::layout::{lab_prefixes, route_table_numbers, valid_lab_name, vpc_ns};
use crate::plan::*;

/// The Amazon end of the example VPN's tunnel (the inside block's first
/// address) and the office's (the second).
const VPN_AMAZON: Ipv4Addr = Ipv4Addr::new(169, 254, 10, 1);
const VPN_OFFICE: Ipv4Addr = Ipv4Addr::new(169, 254, 10, 2);

/// The configuration of the lab's BIRD named `name`.
fn bird_config<'p>(p: &'p Plan, name: &str) -> &'p str {
    p.bird
        .daemons
        .iter()
        .find(|d| d.name == name)
        .map(|d| d.config.as_str())
        .unwrap_or_else(|| panic!("a BIRD named {name}"))
}

const PORTS: [u16; 4] = [22, 80, 443, 3306];

fn parse(name: &str, text: String) -> Topology {
    let loaded = topology::parse(name, text.clone())
        .unwrap_or_else(|d| panic!("{name} does not load:\n{d}\n{text}"));
    assert!(!loaded.warnings.has_errors(), "{}", loaded.warnings);
    loaded.topology
}

/// The bundled example's text.
fn example_text() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/yeohaengjigi.toml");
    std::fs::read_to_string(path).expect("the example")
}

/// The example with `from` up to (not including) `to` cut out.
fn without(text: &str, from: &str, to: &str) -> String {
    let a = text
        .find(from)
        .unwrap_or_else(|| panic!("`{from}` in the text"));
    let b = a + text[a..]
        .find(to)
        .unwrap_or_else(|| panic!("`{to}` after it"));
    format!("{}{}", &text[..a], &text[b..])
}

/// The interfaces of a namespace: veth ends and bridges.
fn interfaces<'p>(p: &'p Plan, ns: &str) -> Vec<&'p str> {
    let mut out = Vec::new();
    for l in &p.links {
        for end in [&l.a, &l.b] {
            if end.ns == ns {
                out.push(end.ifname.as_str());
            }
        }
    }
    out.extend(
        p.bridges
            .iter()
            .filter(|b| b.ns == ns)
            .map(|b| b.name.as_str()),
    );
    out
}

/// What every plan must be.
fn assert_well_formed(p: &Plan) {
    let [dot, plus] = lab_prefixes(&p.lab);
    let mut names = BTreeSet::new();
    for n in &p.namespaces {
        assert!(names.insert(n.name.as_str()), "namespace {} twice", n.name);
        assert!(
            n.name.starts_with(&dot) || n.name.starts_with(&plus),
            "{} outside the lab",
            n.name
        );
        assert_eq!(n.node.is_some(), n.role == Role::Node, "{n:?}");
    }
    for n in &p.namespaces {
        let ifs = interfaces(p, &n.name);
        let unique: BTreeSet<&str> = ifs.iter().copied().collect();
        assert_eq!(
            unique.len(),
            ifs.len(),
            "{}: an interface twice: {ifs:?}",
            n.name
        );
        for i in &ifs {
            assert!(i.len() <= 15, "{}: `{i}` longer than IFNAMSIZ", n.name);
        }
    }
    // everything lives in a planned namespace, on an interface it has
    let has = |ns: &str, ifname: &str| interfaces(p, ns).contains(&ifname);
    for a in &p.addresses {
        assert!(has(&a.ns, &a.ifname), "address {a:?} on no interface");
    }
    for b in &p.bridges {
        for port in &b.ports {
            assert!(has(&b.ns, port), "bridge {} port {port} is no veth", b.name);
        }
    }
    for r in &p.routes {
        assert!(names.contains(r.ns.as_str()), "{r:?}");
        if let Some(dev) = &r.dev {
            assert!(has(&r.ns, dev), "route {r:?} on no interface");
        }
    }
    for r in &p.tunnel_routes {
        let dev = r
            .dev
            .as_deref()
            .expect("a tunnel route names its TUN device");
        assert!(
            p.gateways.iter().any(|g| g.ns == r.ns && g.tun == dev),
            "tunnel route {r:?} on no gateway's TUN"
        );
    }
    for r in &p.rules {
        assert!(has(&r.ns, &r.iif), "rule {r:?} on no interface");
        assert!(
            p.routes.iter().any(|x| x.ns == r.ns && x.table == r.table),
            "rule {r:?} looks up an empty table"
        );
    }
    for s in &p.shaping {
        assert!(has(&s.ns, &s.ifname), "shaping {s:?} on no interface");
    }
    for x in p
        .firewalls
        .iter()
        .map(|f| &f.ns)
        .chain(p.sysctls.iter().map(|s| &s.ns))
    {
        assert!(names.contains(x.as_str()), "{x} is no namespace");
    }
    // no address twice in the lab
    let mut addrs = BTreeSet::new();
    for a in &p.addresses {
        assert!(addrs.insert(a.addr.addr()), "{} twice", a.addr.addr());
    }
    // gateways: own port and TUN per namespace, peers paired both ways
    let mut ends = BTreeSet::new();
    for (i, g) in p.gateways.iter().enumerate() {
        assert!(names.contains(g.ns.as_str()), "{g:?}");
        assert!(
            ends.insert((g.ns.as_str(), g.port)),
            "port {} twice",
            g.port
        );
        assert!(g.tun.len() <= 15);
        for peer in &g.peers {
            let far = &p.gateways[peer.gateway];
            assert!(
                far.peers.iter().any(|back| back.gateway == i),
                "{} -> {} is not paired back",
                g.name,
                far.name
            );
            let far_addrs: Vec<Ipv4Addr> = p
                .addresses
                .iter()
                .filter(|a| a.ns == far.ns)
                .map(|a| a.addr.addr())
                .collect();
            assert!(
                far_addrs.contains(&peer.endpoint),
                "{}: peer {} at {}, an address {} lacks",
                g.name,
                peer.name,
                peer.endpoint,
                far.ns
            );
        }
    }
    let tuns: BTreeSet<(&str, &str)> = p
        .gateways
        .iter()
        .map(|g| (g.ns.as_str(), g.tun.as_str()))
        .collect();
    assert_eq!(tuns.len(), p.gateways.len(), "a TUN device twice");
}

/// The gateway of the office node `node`.
fn office_gateway<'p>(p: &'p Plan, node: &str) -> &'p GatewaySpec {
    p.gateways
        .iter()
        .find(|g| g.policy_node.as_deref() == Some(node))
        .unwrap_or_else(|| panic!("a gateway in {node}"))
}

/// Routes of table `table` in `ns` to `dst`.
fn routes_to<'p>(p: &'p Plan, ns: &str, table: u32, dst: &str) -> Vec<&'p RouteSpec> {
    let dst: Ipv4Net = dst.parse().expect("a prefix");
    p.routes
        .iter()
        .chain(&p.tunnel_routes)
        .filter(|r| r.ns == ns && r.table == table && r.dst == dst)
        .collect()
}

/// The kernel table of a VPC subnet's route table.
fn subnet_table(p: &Plan, t: &Topology, subnet: &str) -> u32 {
    let k = t
        .subnets
        .iter()
        .position(|s| s.name == subnet)
        .unwrap_or_else(|| panic!("subnet {subnet}"));
    p.rules
        .iter()
        .find(|r| {
            r.iif == crate::layout::subnet_bridges(t.subnets.iter().map(|s| s.name.as_str()))[k]
        })
        .unwrap_or_else(|| panic!("a rule for {subnet}"))
        .table
}

#[test]
fn the_example_plan_is_well_formed() {
    assert_well_formed(&plan(&crate::example(), "yh", &PORTS).expect("plan"));
}

#[test]
fn the_generated_200_host_lab_of_bench_sim() {
    // as `vifgate bench sim` generates it
    let t = parse(
        "synthetic.toml",
        synth_toml(SynthSpec {
            hosts: 200,
            security_groups: 20,
            rules_per_group: 10,
            seed: 42,
        }),
    );
    let p = plan(&t, "bs", &PORTS).expect("plan");
    assert_well_formed(&p);
    // a namespace per node, plus the office switch, VPC router and VGW
    assert_eq!(p.namespaces.len(), t.nodes.len() + 3);
    for n in &t.nodes {
        assert!(p.node_ns(&n.name).is_some(), "{}", n.name);
    }
    for (ns, role) in [
        ("bs+lan", Role::OfficeSwitch),
        ("bs+vpc", Role::VpcRouter),
        ("bs+vgw", Role::Vgw),
    ] {
        assert!(
            p.namespaces.iter().any(|n| n.name == ns && n.role == role),
            "{ns}"
        );
    }
    assert_eq!(p.bridges.len(), t.subnets.len() + t.lans.len());
    // one VIF, no VPN: the office gateway `gw` has one peer, the VGW's end
    let gw = office_gateway(&p, "gw");
    assert_eq!(gw.ns, "bs.gw");
    assert_eq!(gw.peers.len(), 1);
    assert_eq!(gw.peers[0].name, "vif");
    assert_eq!(gw.peers[0].endpoint, Ipv4Addr::new(169, 254, 100, 2));
    let vgw = &p.gateways[gw.peers[0].gateway];
    assert_eq!((vgw.ns.as_str(), vgw.name.as_str()), ("bs+vgw", "vgw-vif"));
    assert_eq!(p.gateways.len(), 2);
    // every subnet's table sends the office LAN to the VGW, the private
    // ones (s2 in AZ a: route table private-a) their default to their
    // AZ's NAT gateway
    // (propagated: the VPC router's BIRD writes them into each table)
    for s in &t.subnets {
        let table = subnet_table(&p, &t, &s.name);
        assert!(
            bird_config(&p, "vpc").contains(&format!("kernel table {table};")),
            "{} propagates",
            s.name
        );
    }
    let default = routes_to(&p, "bs+vpc", subnet_table(&p, &t, "s2"), "0.0.0.0/0");
    let nat_a = t.nodes.iter().find(|n| n.name == "nat-a").expect("nat-a");
    assert!(default
        .iter()
        .any(|r| r.kind == RouteKind::Unicast && r.via == Some(nat_a.interfaces[0].ip)));
    // security groups on every VPC host, rules in them
    let hosts = t
        .nodes
        .iter()
        .filter(|n| n.in_vpc() && n.is_endpoint())
        .count();
    let sg = p
        .firewalls
        .iter()
        .filter(|f| f.what.starts_with("security groups"))
        .count();
    assert_eq!(sg, hosts);
    // the office reaches the VPC through the tunnel once it is up
    assert!(routes_to(&p, "bs.gw", 254, "10.0.0.0/16")
        .iter()
        .chain(&routes_to(&p, "bs.gw", 254, "10.0.0.0/8"))
        .any(|r| r.dev.as_deref() == Some("vg0")));
}

/// The README's import: a third-party VPC template (in
/// `tests/fixtures/cfn/`) merged with `examples/office-for-cfn.toml`.
fn imported() -> Topology {
    let template = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/cfn/aws-templates-vpc-managed-nat.yaml"
    );
    let src = topology::diag::read_source(std::path::Path::new(template))
        .unwrap_or_else(|d| panic!("{d}"));
    let opts = ImportOptions {
        region: Some("ap-northeast-2".into()),
        ..ImportOptions::default()
    };
    let ev = eval::evaluate(&src, &opts).unwrap_or_else(|d| panic!("{d}"));
    let (table, _) = mapping::to_topology_with(
        &ev,
        &MapOptions {
            office_placeholder: false,
        },
    );
    let office = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/office-for-cfn.toml"
    ))
    .expect("examples/office-for-cfn.toml");
    let office = mapping::parse_table(&office).expect("the office TOML");
    let merged = mapping::merge(table, office).unwrap_or_else(|e| panic!("merge: {e}"));
    parse("imported.toml", mapping::render(&merged))
}

#[test]
fn an_imported_cloudformation_vpc_with_the_office_merged() {
    let t = imported();
    let p = plan(&t, "cfn", &PORTS).expect("plan");
    assert_well_formed(&p);
    for n in &t.nodes {
        assert!(p.node_ns(&n.name).is_some(), "{}", n.name);
    }
    assert_eq!(p.bridges.len(), t.subnets.len() + t.lans.len());
    // the merged VIF: the office gateway's one peer is the VGW's end
    let office = office_gateway(&p, "vifgate-office");
    assert_eq!(office.peers.len(), 1);
    assert_eq!(office.peers[0].name, "dx-vif");
    assert_eq!(office.peers[0].endpoint, Ipv4Addr::new(169, 254, 100, 2));
    let dx = p
        .links
        .iter()
        .find(|l| l.kind == LinkKind::DirectConnect)
        .expect("the VIF's link");
    assert_eq!(dx.vlan, Some(101));
    assert_eq!(
        (dx.a.ns.as_str(), dx.b.ns.as_str()),
        ("cfn.vifgate-office", "cfn+vgw")
    );
    // the private route tables propagate the office; their defaults go to
    // a NAT gateway; the public ones to the internet gateway
    // (the VPC router's BIRD writes what the VGW learned into their tables)
    for s in ["private-subnet-0", "private-subnet-1"] {
        let table = subnet_table(&p, &t, s);
        assert!(
            bird_config(&p, "vpc").contains(&format!("kernel table {table};")),
            "{s} propagates"
        );
        let default = routes_to(&p, "cfn+vpc", table, "0.0.0.0/0");
        let via = default
            .iter()
            .find(|r| r.kind == RouteKind::Unicast)
            .and_then(|r| r.via)
            .unwrap_or_else(|| panic!("{s}: a default route"));
        let nat = t
            .nodes
            .iter()
            .find(|n| n.interfaces.iter().any(|i| i.ip == via))
            .expect("the next hop is a node");
        assert_eq!(nat.kind, topology::model::NodeKind::NatGateway, "{s}");
    }
    let public = subnet_table(&p, &t, "public-subnet-0");
    assert!(routes_to(&p, "cfn+vpc", public, "0.0.0.0/0")
        .iter()
        .any(|r| r.dev.as_deref() == Some("igw")));
    // the web server merged into a private subnet, behind its group
    let web = p.node_ns("web-1").expect("web-1");
    assert!(p
        .firewalls
        .iter()
        .any(|f| f.ns == web && f.what.contains("web-sg")));
}

#[test]
fn an_office_over_the_vpn_only() {
    let static_vpn = crate::ops::failover::Variant {
        bfd: false,
        hold_time: None,
        bgp_vpn: false,
    };
    let text = without(&example_text(), "[direct_connect.connection]", "[vpn]");
    let t = parse("vpn-only.toml", static_vpn.toml(&text).expect("TOML"));
    assert!(t.vifs.is_empty() && t.vpn.is_some());
    let p = plan(&t, "vpn", &PORTS).expect("plan");
    assert_well_formed(&p);
    assert!(!p.links.iter().any(|l| l.kind == LinkKind::DirectConnect));
    assert!(
        p.shaping.is_empty(),
        "nothing to shape without the DX connection"
    );
    let vpn = p
        .links
        .iter()
        .find(|l| l.kind == LinkKind::Vpn)
        .expect("the VPN's underlay");
    assert_eq!(
        (vpn.a.ns.as_str(), vpn.b.ns.as_str()),
        ("vpn.vifgate-office", "vpn+vgw")
    );
    assert_eq!(vpn.joins, ("vifgate-office".into(), "vpn-backup".into()));
    // one tunnel: the office gateway to the VGW's VPN end, and back
    let office = office_gateway(&p, "vifgate-office");
    assert_eq!(office.peers.len(), 1);
    assert_eq!(office.peers[0].name, "vpn-backup");
    assert_eq!(office.peers[0].endpoint, VPN_AMAZON);
    let vgw = &p.gateways[office.peers[0].gateway];
    assert_eq!(
        (vgw.ns.as_str(), vgw.name.as_str()),
        ("vpn+vgw", "vgw-vpn-backup")
    );
    assert_eq!(vgw.peers[0].endpoint, VPN_OFFICE);
    assert_eq!(p.gateways.len(), 2);
    // the VGW's BIRD has the office's static prefixes into the VPN's tunnel
    for office_lan in ["192.168.10.0/24", "192.168.20.0/24"] {
        let line = format!("route {office_lan} via \"{}\";", vgw.tun);
        assert!(bird_config(&p, "vgw").contains(&line), "{line}");
    }
    // and the office sends the VPC into its tunnel
    assert!(routes_to(&p, "vpn.vifgate-office", 254, "10.0.0.0/16")
        .iter()
        .any(|r| r.dev.as_deref() == Some("vg0")));
}

#[test]
fn two_private_vifs_on_one_vgw() {
    let second = "[[direct_connect.vif]]\nname = \"dx-vif-2\"\nvlan = 102\ncustomer_asn = 65010\namazon_asn = 64512\ncustomer_address = \"169.254.101.1/30\"\namazon_address = \"169.254.101.2/30\"\nmtu = 1500\ncustomer_router = \"vifgate-office\"\nvgw = \"vgw\"\nadvertised_prefixes = [\"192.168.10.0/24\", \"192.168.20.0/24\"]\n\n[vpn]";
    let text = without(&example_text(), "[vpn]", "[internet]").replacen(
        "[internet]",
        &format!("{second}\nname = \"vpn-backup\"\ncustomer_gateway = \"vifgate-office\"\nrouting = \"static\"\nprefixes = [\"192.168.10.0/24\", \"192.168.20.0/24\"]\n\n[internet]"),
        1,
    );
    let t = parse("two-vifs.toml", text);
    assert_eq!(t.vifs.len(), 2);
    let p = plan(&t, "two", &PORTS).expect("plan");
    assert_well_formed(&p);
    // one link per VIF, each on its VLAN, both from the office box to the VGW
    let dx: Vec<_> = p
        .links
        .iter()
        .filter(|l| l.kind == LinkKind::DirectConnect)
        .collect();
    assert_eq!(dx.len(), 2);
    let links = crate::layout::vif_links(["dx-vif", "dx-vif-2"]);
    for (l, (ifname, vlan, vif)) in dx
        .iter()
        .zip([(&links[0], 101, "dx-vif"), (&links[1], 102, "dx-vif-2")])
    {
        assert_eq!(&l.a.ifname, ifname);
        assert_eq!(l.a.ifname, l.b.ifname);
        assert_eq!(l.b.ns, "two+vgw");
        assert_eq!(l.vlan, Some(vlan));
        assert_eq!(l.joins.1, vif);
    }
    // the office gateway: both VIFs and the VPN, each to its own VGW end
    let office = office_gateway(&p, "vifgate-office");
    let peers: Vec<(&str, Ipv4Addr)> = office
        .peers
        .iter()
        .map(|x| (x.name.as_str(), x.endpoint))
        .collect();
    assert_eq!(
        peers,
        [
            ("dx-vif", Ipv4Addr::new(169, 254, 100, 2)),
            ("dx-vif-2", Ipv4Addr::new(169, 254, 101, 2)),
            ("vpn-backup", VPN_AMAZON),
        ]
    );
    // Direct Connect before the VPN
    assert!(office.peers[1].priority < office.peers[2].priority);
    let vgw_ends: BTreeSet<usize> = office.peers.iter().map(|x| x.gateway).collect();
    assert_eq!(vgw_ends.len(), 3, "one VGW gateway per tunnel");
    assert_eq!(p.gateways.len(), 4);
    // the VGW's BIRD sends what it learns over each VIF (and the VPN)
    // into that one's tunnel
    let vgw = bird_config(&p, "vgw");
    let tuns = crate::layout::vgw_tunnels(["dx-vif", "dx-vif-2", "vpn-backup"]);
    for (source, tun) in [
        ("dx.dx-vif", &tuns[0]),
        ("dx.dx-vif-2", &tuns[1]),
        ("vpn.vpn-backup", &tuns[2]),
    ] {
        let line = format!("if proto = \"{source}\" then {{ ifname = \"{tun}\"; accept; }}");
        assert!(vgw.contains(&line), "{line}\n{vgw}");
    }
    // both VIFs shaped to the connection's bandwidth, at both ends
    assert_eq!(p.shaping.len(), 4);
    assert!(p
        .shaping
        .iter()
        .all(|s| s.shaping.rate_bps == Some(1_000_000_000)));
}

#[test]
fn a_static_vpn_beside_bgp_is_a_floating_route_in_the_table_the_gateway_follows() {
    let variant = crate::ops::failover::Variant {
        bfd: true,
        hold_time: None,
        bgp_vpn: false,
    };
    let t = parse(
        "static-vpn.toml",
        variant.toml(&example_text()).expect("TOML"),
    );
    let p = plan(&t, "sv", &[22]).expect("plan");
    assert_well_formed(&p);
    let g = office_gateway(&p, "vifgate-office");
    let table = g.bgp_kernel_table.expect("the gateway follows its BIRD");
    assert!(g.peers[0].bgp_session && !g.peers[1].bgp_session);
    // the VPN's route sits below BIRD's (metric 32) in that table ...
    let floating = routes_to(&p, &g.ns, table, "10.0.0.0/16");
    assert_eq!(floating.len(), 1, "{floating:?}");
    assert_eq!(floating[0].via, Some(VPN_AMAZON));
    assert_eq!(floating[0].dev.as_deref(), Some("vpn0"));
    assert!(floating[0].metric > 32, "{:?}", floating[0]);
    // ... while the main table sends the VPC into the gateway's TUN
    let main = routes_to(&p, &g.ns, 254, "10.0.0.0/16");
    assert!(
        !main.is_empty()
            && main
                .iter()
                .all(|r| r.dev.as_deref() == Some(g.tun.as_str())),
        "{main:?}"
    );
    // with a BGP VPN, the table is BIRD's alone
    let bgp = parse("bgp-vpn.toml", example_text());
    let p = plan(&bgp, "bv", &[22]).expect("plan");
    let g = office_gateway(&p, "vifgate-office");
    assert!(g.peers.iter().all(|p| p.bgp_session));
    assert!(routes_to(&p, &g.ns, table, "10.0.0.0/16").is_empty());
}

/// Names as long as `check` takes them
/// ([`topology::resolve::aws_limits::MAX_NAME_LEN`]) under the longest lab
/// name fit every namespace name, Unix socket path and BIRD symbol the lab
/// makes of them, with an office node played by FRR (the longest socket
/// paths); one character more would not fit.
#[test]
fn the_longest_names_check_takes_fit_the_lab() {
    use crate::apply::SUN_PATH_MAX;
    const BIRD_SYMBOL_MAX: usize = 64; // BIRD's SYM_MAX_LEN
    let max = topology::resolve::aws_limits::MAX_NAME_LEN;
    let lab = "l".repeat(24);
    assert!(valid_lab_name(&lab));
    let office = "o".repeat(max);
    let vif = "v".repeat(max);
    let text = example_text()
        .replace("vifgate-office", &office)
        .replace("name = \"dx-vif\"", &format!("name = \"{vif}\""))
        .replace(
            "[sim]\n",
            &format!("[sim]\nbgp_daemon = {{ {office} = \"frr\" }}\n"),
        );
    let t = parse("longest.toml", text);
    let p = plan(&t, &lab, &PORTS).expect("plan");
    assert_well_formed(&p);
    assert!(!p.frr.is_empty(), "the office node runs FRR");
    let state = crate::layout::state_dir(&lab);
    for s in crate::apply::socket_paths(&p, &state) {
        let len = s.as_os_str().len();
        assert!(len <= SUN_PATH_MAX, "{} has {len} bytes", s.display());
    }
    for ns in &p.namespaces {
        assert!(
            ns.name.len() <= 200,
            "{} is too long for netns::create",
            ns.name
        );
    }
    let symbol = crate::bgp::names::export_symbol(topology::bgp::SessionKind::DirectConnect, &vif);
    assert!(symbol.len() <= BIRD_SYMBOL_MAX, "{symbol}");
    // the bound is tight: one character more overflows an FRR socket path
    let one_more = crate::bgp::names::frr_run_dir(&state, &"o".repeat(max + 1));
    assert!(
        crate::render::frr::zserv_socket(&one_more)
            .as_os_str()
            .len()
            > SUN_PATH_MAX
    );
}

/// A topology of `tests/lab_vs_analysis/`.
fn lab_vs_analysis(file: &str) -> Topology {
    let path = format!(
        "{}/../tests/lab_vs_analysis/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    parse(file, text)
}

#[test]
fn a_plain_router_at_a_tunnels_end_runs_its_gateway_with_no_policy() {
    for file in ["router_vif.toml", "router_vpn.toml"] {
        let t = lab_vs_analysis(file);
        let p = plan(&t, "rv", &PORTS).expect("plan");
        let ns = p.node_ns("edge").expect("edge");
        let g = p.gateways.iter().find(|g| g.ns == ns).expect("a gateway");
        assert_eq!(g.office_node.as_deref(), Some("edge"), "{file}");
        assert_eq!(g.policy_node, None, "{file}: a router filters nothing");
    }
    // a gateway box enforces its own groups
    let p = plan(&crate::example(), "yh", &PORTS).expect("plan");
    let office = p
        .gateways
        .iter()
        .find(|g| g.office_node.as_deref() == Some("vifgate-office"))
        .expect("the office gateway");
    assert_eq!(office.policy_node.as_deref(), Some("vifgate-office"));
}

#[test]
fn a_route_to_a_subnets_cidr_replaces_the_local_route_in_its_table_only() {
    let t = lab_vs_analysis("middlebox_route.toml");
    let p = plan(&t, "mb", &PORTS).expect("plan");
    let vpc = vpc_ns("mb");
    let numbers = route_table_numbers(t.route_tables.iter().map(|r| r.name.as_str()));
    let table = |rt: &str| {
        numbers[t
            .route_tables
            .iter()
            .position(|r| r.name == rt)
            .expect("table")]
    };
    let servers: Ipv4Net = "10.0.2.0/24".parse().expect("net");
    let to_servers = |table: u32| -> Vec<&RouteSpec> {
        p.routes
            .iter()
            .filter(|r| r.ns == vpc && r.table == table && r.dst == servers)
            .collect()
    };
    let clients = to_servers(table("clients-rt"));
    assert_eq!(clients.len(), 1, "{clients:?}");
    assert_eq!(
        clients[0].via,
        Some(Ipv4Addr::new(10, 0, 3, 10)),
        "the firewall"
    );
    // the other subnets still reach the servers directly
    let main = to_servers(table("main-rt"));
    assert_eq!(main.len(), 1, "{main:?}");
    let servers_bridge =
        &crate::layout::subnet_bridges(t.subnets.iter().map(|s| s.name.as_str()))[1];
    assert_eq!(
        (main[0].via, main[0].dev.as_deref()),
        (None, Some(servers_bridge.as_str()))
    );
    // and the firewall instance filters what it forwards
    let fw = p.node_ns("firewall").expect("firewall");
    let rules = p.firewalls.iter().find(|f| f.ns == fw).expect("its groups");
    assert!(rules.ruleset.contains("hook forward"), "{}", rules.ruleset);
    let client = p.node_ns("client").expect("client");
    let rules = p
        .firewalls
        .iter()
        .find(|f| f.ns == client)
        .expect("its groups");
    assert!(!rules.ruleset.contains("hook forward"), "{}", rules.ruleset);
}

#[test]
fn nat_gateways_and_load_balancers_pick_source_ports_in_awss_range() {
    let t = lab_vs_analysis("nat_behind_narrow_acl.toml");
    let p = plan(&t, "nat", &PORTS).expect("plan");
    let nat = p.node_ns("nat").expect("nat");
    let rules = p.firewalls.iter().find(|f| f.ns == nat).expect("NAT rules");
    assert!(
        rules
            .ruleset
            .contains("meta l4proto { tcp, udp } snat to 10.0.0.5:1024-65535 random"),
        "{}",
        rules.ruleset
    );
    let p = plan(&crate::example(), "yh", &PORTS).expect("plan");
    let range = |node: &str| {
        let ns = p.node_ns(node).expect("node");
        p.sysctls
            .iter()
            .find(|s| s.ns == ns && s.key == "net/ipv4/ip_local_port_range")
            .map(|s| s.value.clone())
    };
    assert_eq!(range("alb").as_deref(), Some("1024 65535"));
    assert_eq!(range("bastion").as_deref(), Some("32768 60999"));
}

#[test]
fn a_route_tables_routes_name_their_targets_as_the_file_does() {
    let p = plan(&crate::example(), "yh", &[22]).expect("plan");
    let whys: Vec<&str> = p.routes.iter().map(|r| r.why.as_str()).collect();
    for want in [
        "route table web-a-rt: 0.0.0.0/0 -> nat-a",
        "route table web-c-rt: 0.0.0.0/0 -> nat-c",
        "route table public-rt: 0.0.0.0/0 -> igw",
    ] {
        assert!(whys.contains(&want), "no `{want}` in {whys:#?}");
    }
}

#[test]
fn a_vif_and_the_vpn_of_one_name_get_two_gateways_and_a_clash_is_refused() {
    // AWS lets a VIF and a VPN share a name: the VPN's gateway is told apart
    let mut t = crate::example();
    t.vpn.as_mut().expect("a VPN").name = t.vifs[0].name.clone();
    let p = plan(&t, "same", &PORTS).expect("plan");
    let names: Vec<&str> = p.gateways.iter().map(|g| g.name.as_str()).collect();
    assert!(
        names.contains(&"vgw-dx-vif") && names.contains(&"vgw-vpn-dx-vif"),
        "{names:?}"
    );
    let unique: BTreeSet<&str> = names.iter().copied().collect();
    assert_eq!(unique.len(), names.len(), "{names:?}");
    let vpn = p
        .links
        .iter()
        .find(|l| l.kind == LinkKind::Vpn)
        .expect("the VPN's link");
    let ends: Vec<&str> = tunnel_gateways(&p, vpn)
        .into_iter()
        .map(|g| p.gateways[g].name.as_str())
        .collect();
    assert!(ends.contains(&"vgw-vpn-dx-vif"), "{ends:?}");
    assert!(!ends.contains(&"vgw-dx-vif"), "{ends:?}");
    // an office node whose file name is a VIF gateway's: refused, not shared
    let mut t = crate::example();
    let office = t
        .nodes
        .iter_mut()
        .find(|n| n.name == "vifgate-office")
        .expect("the office gateway");
    office.name = "vgw-dx-vif".into();
    let e = plan(&t, "clash", &PORTS).expect_err("two gateways of one name");
    assert!(
        e.to_string().contains("`vgw-dx-vif`") && e.to_string().contains("rename one"),
        "{e}"
    );
}

#[test]
fn a_targets_listener_is_cpu_accounted_and_spends_the_cost_on_the_labs_clock() {
    let text = example_text();
    let cut = text.find("[[sim.start]]").expect("the start block");
    let text = format!(
        "{}cpu_per_request = \"600ms\"\ntime_scale = 60\n",
        &text[..cut]
    );
    let p = plan(&parse("cpu.toml", text), "cpu1", &PORTS).expect("plan");
    let web = (p.listeners.iter())
        .find(|l| l.node == "web-a1")
        .expect("web-a1 listens");
    assert_eq!(web.http, vec![80]);
    assert_eq!(
        web.cpu_group.as_deref(),
        Some("vifgate/lab.cpu1/node-web-a1"),
        "its own group in the lab's"
    );
    // 600 ms of AWS's CPU a request is 10 ms on a clock 60 times faster:
    // the same share of the instance's time
    assert_eq!(
        web.cpu_per_request,
        Some(std::time::Duration::from_millis(10))
    );
    // a node that answers no HTTP is neither
    let bastion = (p.listeners.iter())
        .find(|l| l.node == "bastion")
        .expect("the bastion listens");
    assert_eq!(
        (bastion.cpu_group.as_deref(), bastion.cpu_per_request),
        (None, None)
    );
}
