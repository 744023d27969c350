//! One test per rule of `docs/semantics.md` that the
//! topology model implements. Each test is named after its rule, quotes it in
//! its doc comment, builds the smallest topology that exercises it, and
//! checks the analyser's verdict and, where it matters, what the trace says
//! decided (which ACL rule, which group, which route, which link).
//!
//! Every topology starts from [`Net::office`]: one office LAN
//! (192.168.10.0/24: `pc` at .10, `pc2` at .200) behind a gateway box `gw`
//! whose policy is the group `office-edge`, a VPC 10.0.0.0/16 with an
//! internet gateway `igw` and a VGW `vgw`, and the `internet` node at
//! 198.51.100.10. [`Net::hybrid`] adds an open `office-edge` and the VIF
//! `dx-vif` advertising the office LAN; [`app`] adds the subnet `app`
//! (10.0.1.0/24, table `app-rt` with VGW propagation) and its instance
//! `app-1` at 10.0.1.10.

use std::net::Ipv4Addr;

use topology::analysis::{self, Hop, Reach, Service, Step, Target, Verdict};
use topology::nacl::NaclAction;
use topology::route_table::RouteOrigin;
use topology::security_group::Direction;
use topology::{Loaded, Topology};

// ---- building topologies -------------------------------------------------

/// The office and the VPC shell every test starts from.
const OFFICE: &str = r#"
name = "semantics"

[[site]]
name = "office"

[[site.lan]]
name = "lan"
cidr = "192.168.10.0/24"

[[site.gateway]]
name = "gw"
interfaces = [{ lan = "lan", ip = "192.168.10.1" }]
security_groups = ["office-edge"]

[[site.host]]
name = "pc"
lan = "lan"
ip = "192.168.10.10"

[[site.host]]
name = "pc2"
lan = "lan"
ip = "192.168.10.200"

[vpc]
name = "vpc"
cidr = "10.0.0.0/16"
region = "ap-northeast-2"
azs = ["a"]
internet_gateway = { name = "igw" }
vgw = { name = "vgw" }

[internet]
name = "internet"
ip = "198.51.100.10"
"#;

/// The gateway box admits nothing the VPC opens, and lets the office open
/// anything (egress omitted = allow all).
const EDGE_OPEN: &str = r#"
[[security_group]]
name = "office-edge"
ingress = []
"#;

/// The Site-to-Site VPN backup, carrying the office LAN.
const VPN: &str = r#"
[vpn]
name = "vpn-backup"
customer_gateway = "gw"
routing = "static"
prefixes = ["192.168.10.0/24"]
"#;

/// A topology under construction: TOML fragments appended to [`OFFICE`].
#[derive(Clone)]
struct Net(String);

impl Net {
    /// Office and VPC shell only: the test supplies `office-edge` and links.
    fn office() -> Net {
        Net(OFFICE.to_string())
    }

    /// The same office with the gateway box on a transit LAN behind an
    /// office router (as in `examples/yeohaengjigi.toml`): traffic between
    /// the VIF and the hosts is forwarded by the box to a next hop, not
    /// delivered on a connected LAN.
    fn routed_office() -> Net {
        let gw = r#"[[site.gateway]]
name = "gw"
interfaces = [{ lan = "lan", ip = "192.168.10.1" }]
security_groups = ["office-edge"]"#;
        let routed = r#"[[site.lan]]
name = "transit"
cidr = "192.168.0.0/29"

[[site.router]]
name = "office-router"
interfaces = [{ lan = "lan", ip = "192.168.10.1" }, { lan = "transit", ip = "192.168.0.1" }]
routes = [{ prefix = "10.0.0.0/16", via = "192.168.0.2" }]

[[site.gateway]]
name = "gw"
interfaces = [{ lan = "transit", ip = "192.168.0.2" }]
routes = [{ prefix = "192.168.10.0/24", via = "192.168.0.1" }]
security_groups = ["office-edge"]"#;
        assert!(OFFICE.contains(gw));
        Net(OFFICE.replace(gw, routed))
    }

    /// Office and VPC joined by `dx-vif` (advertising 192.168.10.0/24), with
    /// an open `office-edge` policy.
    fn hybrid() -> Net {
        Net::office()
            .add(EDGE_OPEN)
            .add(vif(&["192.168.10.0/24"], None))
    }

    fn add(mut self, fragment: impl AsRef<str>) -> Net {
        self.0.push('\n');
        self.0.push_str(fragment.as_ref());
        self.0.push('\n');
        self
    }

    fn try_load(&self) -> Result<Loaded, topology::Diagnostics> {
        topology::parse("semantics.toml", self.0.clone())
    }

    fn load(&self) -> Loaded {
        match self.try_load() {
            Ok(l) => l,
            Err(d) => panic!("topology does not load:\n{d}\n--- file ---\n{}", self.0),
        }
    }

    fn topo(&self) -> Topology {
        self.load().topology
    }
}

/// `[[direct_connect.vif]]` named `dx-vif` on `gw`.
fn vif(prefixes: &[&str], state: Option<&str>) -> String {
    let list = prefixes
        .iter()
        .map(|p| format!("\"{p}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let state = state
        .map(|s| format!("state = \"{s}\"\n"))
        .unwrap_or_default();
    format!(
        r#"
[[direct_connect.vif]]
name = "dx-vif"
vlan = 101
customer_asn = 65010
customer_address = "169.254.100.1/30"
amazon_address = "169.254.100.2/30"
customer_router = "gw"
advertised_prefixes = [{list}]
{state}"#
    )
}

/// The `office-edge` policy with the given ingress rules (egress omitted).
fn edge(ingress: &str) -> String {
    format!("[[security_group]]\nname = \"office-edge\"\ningress = [{ingress}]\n")
}

fn subnet(name: &str, cidr: &str, extra: &str) -> String {
    format!("[[vpc.subnet]]\nname = \"{name}\"\naz = \"a\"\ncidr = \"{cidr}\"\n{extra}\n")
}

fn route_table(name: &str, extra: &str) -> String {
    format!("[[vpc.route_table]]\nname = \"{name}\"\n{extra}\n")
}

fn instance(name: &str, subnet: &str, ip: &str, extra: &str) -> String {
    format!("[[vpc.instance]]\nname = \"{name}\"\nsubnet = \"{subnet}\"\nip = \"{ip}\"\n{extra}\n")
}

fn sg(name: &str, body: &str) -> String {
    format!("[[security_group]]\nname = \"{name}\"\n{body}\n")
}

fn nacl(name: &str, ingress: &str, egress: &str) -> String {
    format!("[[vpc.nacl]]\nname = \"{name}\"\ningress = [{ingress}]\negress = [{egress}]\n")
}

fn nat(name: &str, subnet: &str, ip: &str, public_ip: &str) -> String {
    format!(
        "[[vpc.nat_gateway]]\nname = \"{name}\"\nsubnet = \"{subnet}\"\nip = \"{ip}\"\npublic_ip = \"{public_ip}\"\n"
    )
}

/// [`Net::hybrid`] plus subnet `app` (10.0.1.0/24, table `app-rt`
/// propagating the VGW's routes, the subnet's ACL `acl` if given) and
/// `app-1` at 10.0.1.10 with the groups `groups` (a TOML list).
fn app_in(net: Net, groups: &str, acl: Option<&str>) -> Net {
    let acl = acl.map(|a| format!("nacl = \"{a}\"")).unwrap_or_default();
    net.add(subnet(
        "app",
        "10.0.1.0/24",
        &format!("route_table = \"app-rt\"\n{acl}"),
    ))
    .add(route_table("app-rt", "propagate_vgw = true"))
    .add(instance(
        "app-1",
        "app",
        "10.0.1.10",
        &format!("security_groups = {groups}"),
    ))
}

/// The usual test bed: office, DX, `app-1` with the group `app-sg` whose
/// rules are `app_sg` (TOML lines).
fn app(app_sg: &str) -> Net {
    app_in(Net::hybrid(), r#"["app-sg"]"#, None).add(sg("app-sg", app_sg))
}

/// `app-1` open to the whole office on every protocol, in a subnet guarded
/// by the ACL `app-nacl` with the given rules: the ACL alone decides.
fn app_behind_nacl(ingress: &str, egress: &str) -> Net {
    app_in(Net::hybrid(), r#"["app-sg"]"#, Some("app-nacl"))
        .add(sg(
            "app-sg",
            r#"ingress = [{ protocol = "-1", cidr = "192.168.10.0/24" }]"#,
        ))
        .add(nacl("app-nacl", ingress, egress))
}

// ---- asking and looking at traces ------------------------------------------

/// `to` is a node name or an IPv4 address.
fn reach(t: &Topology, from: &str, to: &str, service: Service) -> Reach {
    let from_id = t
        .node_by_name(from)
        .unwrap_or_else(|| panic!("no node {from}"));
    let target = match to.parse::<Ipv4Addr>() {
        Ok(a) => Target::Addr(a),
        Err(_) => Target::Node(t.node_by_name(to).unwrap_or_else(|| panic!("no node {to}"))),
    };
    analysis::reach(t, from_id, target, service)
}

fn json(r: &Reach) -> String {
    serde_json::to_string_pretty(r).unwrap()
}

/// Asks, and checks the verdict; on a mismatch prints the whole trace.
#[track_caller]
fn expect(t: &Topology, from: &str, to: &str, service: Service, verdict: Verdict) -> Reach {
    let r = reach(t, from, to, service);
    assert_eq!(
        r.verdict,
        verdict,
        "{from} -> {to} {service}: expected {verdict}, got {} ({:?})\n{}",
        r.verdict,
        r.reason,
        json(&r)
    );
    r
}

fn steps(hops: &[Hop]) -> impl Iterator<Item = &Step> {
    hops.iter().flat_map(|h| h.steps.iter())
}

fn reason(r: &Reach) -> &str {
    r.reason.as_deref().unwrap_or("")
}

/// The ACL decisions in `hops`: (acl, direction, rule, action).
fn nacl_decisions(hops: &[Hop]) -> Vec<(String, Direction, String, NaclAction)> {
    steps(hops)
        .filter_map(|s| match s {
            Step::Nacl {
                nacl,
                direction,
                rule,
                action,
                ..
            } => Some((nacl.clone(), *direction, rule.clone(), *action)),
            _ => None,
        })
        .collect()
}

/// The security-group rules that allowed new flows: (direction, group, rule).
fn sg_allows(hops: &[Hop]) -> Vec<(Direction, String, usize)> {
    steps(hops)
        .filter_map(|s| match s {
            Step::SecurityGroupAllow {
                direction,
                group,
                rule,
                ..
            } => Some((*direction, group.clone(), *rule)),
            _ => None,
        })
        .collect()
}

/// Directions in which a security group denied.
fn sg_denies(hops: &[Hop]) -> Vec<Direction> {
    steps(hops)
        .filter_map(|s| match s {
            Step::SecurityGroupDeny { direction, .. } => Some(*direction),
            _ => None,
        })
        .collect()
}

/// Directions in which a reply passed as a tracked flow.
fn tracked(hops: &[Hop]) -> Vec<Direction> {
    steps(hops)
        .filter_map(|s| match s {
            Step::Tracked { direction, .. } => Some(*direction),
            _ => None,
        })
        .collect()
}

/// The routes chosen: (table, prefix, target, origin).
fn routes(hops: &[Hop]) -> Vec<(String, String, String, RouteOrigin)> {
    steps(hops)
        .filter_map(|s| match s {
            Step::Route {
                table,
                prefix,
                target,
                origin,
                ..
            } => Some((table.clone(), prefix.clone(), target.clone(), *origin)),
            _ => None,
        })
        .collect()
}

fn visits(hops: &[Hop], node: &str) -> bool {
    hops.iter().any(|h| h.node == node)
}

fn has_warning(l: &Loaded, needle: &str) -> bool {
    l.warnings.0.iter().any(|d| d.message.contains(needle))
}

/// Messages of the errors a topology raises (empty when it loads).
fn errors(net: &Net) -> Vec<String> {
    match net.try_load() {
        Ok(_) => vec![],
        Err(d) => {
            d.0.iter()
                .filter(|d| d.is_error())
                .map(|d| d.message.clone())
                .collect()
        }
    }
}

/// Messages of the warnings of a topology that loads.
fn warnings(net: &Net) -> Vec<String> {
    net.load()
        .warnings
        .0
        .iter()
        .map(|d| d.message.clone())
        .collect()
}

#[track_caller]
fn assert_error(net: &Net, needle: &str) {
    let e = errors(net);
    assert!(
        e.iter().any(|m| m.contains(needle)),
        "expected an error with `{needle}`, got {e:?}"
    );
}

#[track_caller]
fn assert_loads(net: &Net) {
    if let Err(d) = net.try_load() {
        panic!("should load:\n{d}");
    }
}

use Direction::{Egress, Ingress};
use Service::{IcmpEcho, Proto, Tcp, Udp};
use Verdict::{Accepted, Denied, NoRoute};

// ==== security groups ==========================================================

/// "Allow rules only; everything not allowed is dropped."
#[test]
fn sg_allow_rules_only_everything_not_allowed_is_dropped() {
    let t = app(r#"ingress = [{ protocol = "tcp", ports = 22, cidr = "192.168.10.0/24" }]"#).topo();
    let ok = expect(&t, "pc", "app-1", Tcp(22), Accepted);
    assert!(sg_allows(&ok.hops).contains(&(Ingress, "app-sg".into(), 1)));

    for service in [Tcp(23), Udp(22), IcmpEcho, Proto(47)] {
        let r = expect(&t, "pc", "app-1", service, Denied);
        assert_eq!(sg_denies(&r.hops), vec![Ingress], "{}", json(&r));
        assert!(reason(&r).contains("app-sg"), "{}", json(&r));
    }
}

/// "Rules of all groups on an interface are pooled: the most permissive
/// matching rule applies, and every rule is considered (no ordering)."
#[test]
fn sg_rules_of_all_groups_on_an_interface_are_pooled() {
    let t = app_in(Net::hybrid(), r#"["narrow-sg", "wide-sg"]"#, None)
        .add(sg(
            "narrow-sg",
            r#"ingress = [{ protocol = "tcp", ports = 22, cidr = "192.168.10.10/32" }]"#,
        ))
        .add(sg(
            "wide-sg",
            r#"ingress = [
  { protocol = "tcp", ports = 443, cidr = "10.9.9.9/32" },
  { protocol = "tcp", ports = 22, cidr = "192.168.10.0/24" },
  { protocol = "tcp", ports = 80, cidr = "192.168.10.0/24" },
]"#,
        ))
        .topo();
    // pc2 is outside narrow-sg's /32: the more permissive rule of the other
    // group, and not its first rule, lets it in
    let r = expect(&t, "pc2", "app-1", Tcp(22), Accepted);
    assert!(
        sg_allows(&r.hops).contains(&(Ingress, "wide-sg".into(), 2)),
        "{}",
        json(&r)
    );
    let r = expect(&t, "pc", "app-1", Tcp(80), Accepted);
    assert!(
        sg_allows(&r.hops).contains(&(Ingress, "wide-sg".into(), 3)),
        "{}",
        json(&r)
    );
    expect(&t, "pc", "app-1", Tcp(22), Accepted);
    // a port no group opens
    expect(&t, "pc", "app-1", Tcp(8080), Denied);
}

/// "Rule: protocol (..., or -1 = all), port range for tcp/udp (any other
/// protocol, -1 included, opens all ports)" — protocol -1.
#[test]
fn sg_protocol_minus_one_opens_every_protocol_and_port() {
    let t = app(r#"ingress = [{ protocol = "-1", cidr = "192.168.10.10/32" }]"#).topo();
    for service in [Tcp(1), Tcp(65535), Udp(53), IcmpEcho, Proto(47), Proto(50)] {
        expect(&t, "pc", "app-1", service, Accepted);
    }
    // the peer still counts
    expect(&t, "pc2", "app-1", Tcp(22), Denied);
}

/// "Rule: protocol (tcp, udp, icmp, icmpv6, a number, ...), port range for
/// tcp/udp (any other protocol ... opens all ports)" — a protocol by number:
/// 47 (GRE) opens all of GRE whatever `ports` says (with a warning), while
/// 6 is tcp and keeps its port range.
#[test]
fn sg_numbered_protocol_opens_all_ports() {
    let net = app(r#"ingress = [
  { protocol = 47, ports = 22, cidr = "192.168.10.0/24" },
  { protocol = 6, ports = 22, cidr = "192.168.10.0/24" },
]"#);
    let loaded = net.load();
    assert!(
        has_warning(&loaded, "ports are ignored for protocol 47"),
        "{}",
        loaded.warnings
    );
    let t = loaded.topology;
    expect(&t, "pc", "app-1", Proto(47), Accepted);
    expect(&t, "pc", "app-1", Proto(50), Denied);
    expect(&t, "pc", "app-1", Tcp(22), Accepted);
    expect(&t, "pc", "app-1", Tcp(23), Denied);
    expect(&t, "pc", "app-1", Udp(22), Denied);
}

/// "ICMP type/code in the from/to port fields (-1 = all; type -1 requires
/// code -1)".
#[test]
fn sg_icmp_type_and_code_minus_one_mean_all() {
    let echo = |rule: &str| {
        let t = app(&format!(
            r#"ingress = [{{ protocol = "icmp", {rule}, cidr = "192.168.10.0/24" }}]"#
        ))
        .topo();
        reach(&t, "pc", "app-1", IcmpEcho).verdict
    };
    assert_eq!(echo("icmp_type = -1, icmp_code = -1"), Accepted);
    assert_eq!(echo("icmp_type = 8, icmp_code = -1"), Accepted);
    assert_eq!(echo("icmp_type = 8, icmp_code = 0"), Accepted);
    assert_eq!(echo("icmp_type = 3, icmp_code = -1"), Denied);
    assert_eq!(echo("icmp_type = 8, icmp_code = 5"), Denied);
    // type -1 with a specific code is refused
    let bad = app(
        r#"ingress = [{ protocol = "icmp", icmp_type = -1, icmp_code = 3, cidr = "192.168.10.0/24" }]"#,
    )
    .try_load();
    let diags = bad.expect_err("type -1 with code 3 must be an error");
    assert!(
        diags
            .0
            .iter()
            .any(|d| d.is_error() && d.message.contains("ICMP type -1")),
        "{diags}"
    );
}

/// "one peer: ... another security group (matches the private addresses of
/// that group's members; its rules are not copied)" — members match,
/// non-members do not, and the referenced group's own rules do not apply.
#[test]
fn sg_peer_group_matches_its_members() {
    let t = app_in(Net::hybrid(), r#"["app-sg"]"#, None)
        .add(instance(
            "bastion",
            "app",
            "10.0.1.20",
            r#"security_groups = ["bastion-sg"]"#,
        ))
        .add(instance(
            "other",
            "app",
            "10.0.1.30",
            r#"security_groups = ["other-sg"]"#,
        ))
        .add(sg(
            "app-sg",
            r#"ingress = [{ protocol = "tcp", ports = 22, sg = "bastion-sg" }]"#,
        ))
        .add(sg(
            "bastion-sg",
            r#"ingress = [{ protocol = "tcp", ports = 80, cidr = "0.0.0.0/0" }]"#,
        ))
        .add(sg("other-sg", "ingress = []"))
        .topo();
    let r = expect(&t, "bastion", "app-1", Tcp(22), Accepted);
    assert!(json(&r).contains("sg bastion-sg"), "{}", json(&r));
    // not a member
    expect(&t, "other", "app-1", Tcp(22), Denied);
    expect(&t, "pc", "app-1", Tcp(22), Denied);
    // bastion-sg's rule (tcp/80 from anywhere) is not copied into app-sg
    expect(&t, "other", "app-1", Tcp(80), Denied);
    expect(&t, "bastion", "app-1", Tcp(80), Denied);
}

/// "another security group (matches the private addresses of that group's
/// members ...)" — not their public addresses: a member that comes in
/// through the internet gateway, from its public IP, does not match.
#[test]
fn sg_peer_group_does_not_match_public_addresses() {
    let build = |app_rule: &str| {
        Net::hybrid()
            .add(subnet("pub", "10.0.0.0/24", r#"route_table = "pub-rt""#))
            .add(route_table(
                "pub-rt",
                r#"routes = [{ prefix = "0.0.0.0/0", target = "igw" }]"#,
            ))
            .add(instance(
                "bastion",
                "pub",
                "10.0.0.10",
                "public_ip = \"203.0.113.10\"\nsecurity_groups = [\"bastion-sg\"]",
            ))
            .add(instance(
                "web",
                "pub",
                "10.0.0.11",
                "public_ip = \"203.0.113.11\"\nsecurity_groups = [\"web-sg\"]",
            ))
            .add(sg("bastion-sg", "ingress = []"))
            .add(sg("web-sg", &format!("ingress = [{app_rule}]")))
            .topo()
    };
    let t = build(r#"{ protocol = "tcp", ports = 22, sg = "bastion-sg" }"#);
    expect(&t, "bastion", "web", Tcp(22), Accepted);
    let r = expect(&t, "bastion", "203.0.113.11", Tcp(22), Denied);
    assert_eq!(sg_denies(&r.hops), vec![Ingress], "{}", json(&r));
    assert!(reason(&r).contains("203.0.113.10"), "{}", json(&r));
    // control: the same path is open when the rule names the public address
    let t = build(r#"{ protocol = "tcp", ports = 22, cidr = "203.0.113.10/32" }"#);
    expect(&t, "bastion", "203.0.113.11", Tcp(22), Accepted);
}

/// "one peer: a CIDR, a prefix list, or another security group" — a prefix
/// list matches any of its blocks, and nothing else.
#[test]
fn sg_prefix_list_peer() {
    let t = app(r#"ingress = [{ protocol = "tcp", ports = 22, prefix_list = "office-pl" }]"#)
        .add("[[prefix_list]]\nname = \"office-pl\"\ncidrs = [\"172.16.0.0/12\", \"192.168.10.0/28\"]\n")
        .topo();
    let r = expect(&t, "pc", "app-1", Tcp(22), Accepted);
    assert!(json(&r).contains("prefix-list office-pl"), "{}", json(&r));
    // 192.168.10.200 is in neither block
    expect(&t, "pc2", "app-1", Tcp(22), Denied);
}

/// "A new group: no inbound rules, one allow-all outbound rule." — a group
/// whose `egress` is omitted lets everything out.
#[test]
fn sg_new_group_allows_all_outbound() {
    let t = app_in(Net::hybrid(), r#"["client-sg"]"#, None)
        .add(instance(
            "server",
            "app",
            "10.0.1.11",
            r#"security_groups = ["server-sg"]"#,
        ))
        .add(sg("client-sg", "ingress = []"))
        .add(sg(
            "server-sg",
            r#"ingress = [{ protocol = "-1", cidr = "10.0.0.0/16" }]"#,
        ))
        .topo();
    for service in [Tcp(5432), Udp(53), IcmpEcho, Proto(47)] {
        let r = expect(&t, "app-1", "server", service, Accepted);
        assert!(
            sg_allows(&r.hops).contains(&(Egress, "client-sg".into(), 1)),
            "{}",
            json(&r)
        );
    }
    // and no inbound rules: nothing comes in
    expect(&t, "server", "app-1", Tcp(22), Denied);
}

/// "A group with no outbound rules allows no outbound traffic." — `egress = []`.
#[test]
fn sg_group_without_outbound_rules_allows_no_outbound() {
    let t = app_in(Net::hybrid(), r#"["client-sg"]"#, None)
        .add(instance(
            "server",
            "app",
            "10.0.1.11",
            r#"security_groups = ["server-sg"]"#,
        ))
        .add(sg("client-sg", "ingress = []\negress = []"))
        .add(sg(
            "server-sg",
            r#"ingress = [{ protocol = "-1", cidr = "10.0.0.0/16" }]"#,
        ))
        .topo();
    for service in [Tcp(5432), Udp(53), IcmpEcho] {
        let r = expect(&t, "app-1", "server", service, Denied);
        assert_eq!(sg_denies(&r.hops), vec![Egress], "{}", json(&r));
        assert_eq!(r.hops.len(), 1, "dropped at the source: {}", json(&r));
    }
}

/// "The default group of a VPC allows all inbound from its own members and
/// all outbound." — interfaces that omit `security_groups` get it.
#[test]
fn sg_vpc_default_group_admits_its_members_only() {
    let t = Net::hybrid()
        .add(subnet("app", "10.0.1.0/24", r#"route_table = "app-rt""#))
        .add(route_table("app-rt", "propagate_vgw = true"))
        .add(instance("a", "app", "10.0.1.10", ""))
        .add(instance("b", "app", "10.0.1.11", ""))
        .add(instance(
            "c",
            "app",
            "10.0.1.12",
            r#"security_groups = ["web-sg"]"#,
        ))
        .add(sg(
            "web-sg",
            r#"ingress = [{ protocol = "tcp", ports = 80, cidr = "0.0.0.0/0" }]"#,
        ))
        .topo();
    for service in [Tcp(5432), Udp(53), IcmpEcho] {
        let r = expect(&t, "a", "b", service, Accepted);
        assert!(
            sg_allows(&r.hops).contains(&(Ingress, "default".into(), 1)),
            "{}",
            json(&r)
        );
    }
    // nothing else comes in: not another group's instance, not the office
    expect(&t, "c", "a", Tcp(5432), Denied);
    expect(&t, "pc", "a", Tcp(22), Denied);
    expect(&t, "pc", "a", IcmpEcho, Denied);
    // everything goes out
    let r = expect(&t, "a", "c", Tcp(80), Accepted);
    assert!(
        sg_allows(&r.hops).contains(&(Egress, "default".into(), 1)),
        "{}",
        json(&r)
    );
}

/// "Connection tracking: replies of an allowed flow pass whatever the rules
/// of the other direction say." — and an unsolicited flow in the reply's
/// direction is still denied.
#[test]
fn sg_stateful_replies_pass_unsolicited_flows_do_not() {
    let t = app_in(Net::hybrid(), r#"["client-sg"]"#, None)
        .add(instance(
            "server",
            "app",
            "10.0.1.11",
            r#"security_groups = ["server-sg"]"#,
        ))
        .add(sg(
            "client-sg",
            r#"ingress = []
egress = [{ protocol = "tcp", ports = 443, cidr = "10.0.1.11/32" }]"#,
        ))
        .add(sg(
            "server-sg",
            r#"ingress = [{ protocol = "tcp", ports = 443, cidr = "10.0.1.10/32" }]
egress = []"#,
        ))
        .topo();
    let r = expect(&t, "app-1", "server", Tcp(443), Accepted);
    // the reply leaves server (no egress rule) and enters app-1 (no ingress
    // rule) as a tracked flow
    assert_eq!(
        tracked(&r.reply_hops),
        vec![Egress, Ingress],
        "{}",
        json(&r)
    );
    assert!(sg_allows(&r.reply_hops).is_empty(), "{}", json(&r));
    // the same packets unsolicited: server opens a flow to app-1
    let r = expect(&t, "server", "app-1", Tcp(443), Denied);
    assert_eq!(sg_denies(&r.hops), vec![Egress], "{}", json(&r));
    let r = expect(&t, "server", "app-1", Tcp(33000), Denied);
    assert_eq!(sg_denies(&r.hops), vec![Egress], "{}", json(&r));
}

/// "ICMP is always tracked." — an echo request let in by an ingress rule is
/// answered although the group has no outbound rule at all.
#[test]
fn sg_icmp_is_always_tracked() {
    let t = app(
        r#"ingress = [{ protocol = "icmp", icmp_type = 8, icmp_code = -1, cidr = "192.168.10.0/24" }]
egress = []"#,
    )
    .topo();
    let r = expect(&t, "pc", "app-1", IcmpEcho, Accepted);
    assert!(tracked(&r.reply_hops).contains(&Egress), "{}", json(&r));
    // app-1 itself can send nothing
    expect(&t, "app-1", "pc", IcmpEcho, Denied);
}

/// "Quotas: 60 inbound and 60 outbound rules per group (separately for IPv4
/// and IPv6)".
#[test]
fn sg_quota_60_rules_per_direction() {
    let rules = |n: u16| {
        (1..=n)
            .map(|p| format!(r#"{{ protocol = "tcp", ports = {p}, cidr = "192.168.10.0/24" }}"#))
            .collect::<Vec<_>>()
            .join(",\n  ")
    };
    assert_loads(&app(&format!("ingress = [{}]", rules(60))));
    assert_error(
        &app(&format!("ingress = [{}]", rules(61))),
        "has 61 inbound rules, over the AWS quota of 60",
    );
    assert_loads(&app(&format!("ingress = []\negress = [{}]", rules(60))));
    assert_error(
        &app(&format!("ingress = []\negress = [{}]", rules(61))),
        "has 61 outbound rules, over the AWS quota of 60",
    );
    // the two directions count separately
    assert_loads(&app(&format!(
        "ingress = [{}]\negress = [{}]",
        rules(60),
        rules(60)
    )));
}

/// "5 groups per interface (up to 16)".
#[test]
fn sg_quota_5_groups_per_interface() {
    let with = |n: usize| {
        let names: Vec<String> = (1..=n).map(|i| format!("g{i}")).collect();
        let list = names
            .iter()
            .map(|n| format!("\"{n}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let mut net = app_in(Net::hybrid(), &format!("[{list}]"), None);
        for n in &names {
            net = net.add(sg(n, "ingress = []"));
        }
        net
    };
    assert_loads(&with(5));
    assert_error(
        &with(6),
        "6 security groups on one interface, over the AWS quota of 5",
    );
}

// ==== network ACLs ===============================================================

const ALLOW_ALL_OUT: &str =
    r#"{ rule = 100, action = "allow", protocol = "-1", cidr = "0.0.0.0/0" }"#;

/// "Numbered rules 1-32766, evaluated lowest first; the first match decides
/// (allow or deny)." — whatever the order in the file, and even when a later
/// rule says otherwise.
#[test]
fn nacl_lowest_numbered_matching_rule_decides() {
    let t = app_behind_nacl(
        r#"{ rule = 200, action = "allow", protocol = "tcp", ports = 22, cidr = "0.0.0.0/0" },
  { rule = 100, action = "deny", protocol = "tcp", ports = 22, cidr = "192.168.10.0/24" }"#,
        ALLOW_ALL_OUT,
    )
    .topo();
    let r = expect(&t, "pc", "app-1", Tcp(22), Denied);
    assert_eq!(
        nacl_decisions(&r.hops),
        vec![("app-nacl".into(), Ingress, "100".into(), NaclAction::Deny)],
        "{}",
        json(&r)
    );
    assert!(reason(&r).contains("rule 100"), "{}", json(&r));

    let t = app_behind_nacl(
        r#"{ rule = 200, action = "deny", protocol = "-1", cidr = "0.0.0.0/0" },
  { rule = 100, action = "allow", protocol = "tcp", ports = 22, cidr = "192.168.10.0/24" }"#,
        ALLOW_ALL_OUT,
    )
    .topo();
    let r = expect(&t, "pc", "app-1", Tcp(22), Accepted);
    assert_eq!(
        nacl_decisions(&r.hops),
        vec![("app-nacl".into(), Ingress, "100".into(), NaclAction::Allow)],
        "{}",
        json(&r)
    );
    // rule 200 still decides what rule 100 does not match
    let r = expect(&t, "pc", "app-1", Tcp(80), Denied);
    assert_eq!(nacl_decisions(&r.hops)[0].2, "200", "{}", json(&r));
}

/// "The last rule `*` (32767 for IPv4) denies and cannot change."
#[test]
fn nacl_final_star_rule_denies() {
    let t = app_behind_nacl(
        r#"{ rule = 100, action = "allow", protocol = "tcp", ports = 22, cidr = "192.168.10.0/24" }"#,
        ALLOW_ALL_OUT,
    )
    .topo();
    expect(&t, "pc", "app-1", Tcp(22), Accepted);
    for service in [Tcp(80), Udp(22), IcmpEcho] {
        let r = expect(&t, "pc", "app-1", service, Denied);
        assert_eq!(
            nacl_decisions(&r.hops),
            vec![("app-nacl".into(), Ingress, "*".into(), NaclAction::Deny)],
            "{}",
            json(&r)
        );
        assert!(reason(&r).contains("rule *"), "{}", json(&r));
    }
}

/// "The default ACL allows all in and out (rule 100)." — a subnet that names
/// no ACL gets it.
#[test]
fn nacl_default_acl_allows_all() {
    let t = app(r#"ingress = [{ protocol = "-1", cidr = "192.168.10.0/24" }]"#).topo();
    for service in [Tcp(8080), Udp(5000), IcmpEcho, Proto(47)] {
        let r = expect(&t, "pc", "app-1", service, Accepted);
        let fwd = nacl_decisions(&r.hops);
        assert_eq!(
            fwd,
            vec![("default".into(), Ingress, "100".into(), NaclAction::Allow)],
            "{}",
            json(&r)
        );
        let back = nacl_decisions(&r.reply_hops);
        assert!(
            back.iter()
                .all(|d| *d == ("default".into(), Egress, "100".into(), NaclAction::Allow))
                && !back.is_empty(),
            "{}",
            json(&r)
        );
    }
}

/// "A new custom ACL denies all."
#[test]
fn nacl_new_custom_acl_denies_all() {
    let t = app_behind_nacl("", "").topo();
    for service in [Tcp(22), Udp(53), IcmpEcho] {
        let r = expect(&t, "pc", "app-1", service, Denied);
        assert_eq!(
            nacl_decisions(&r.hops),
            vec![("app-nacl".into(), Ingress, "*".into(), NaclAction::Deny)],
            "{}",
            json(&r)
        );
    }
    // and outbound too
    let r = expect(&t, "app-1", "pc", Tcp(22), Denied);
    assert_eq!(
        nacl_decisions(&r.hops),
        vec![("app-nacl".into(), Egress, "*".into(), NaclAction::Deny)],
        "{}",
        json(&r)
    );
}

/// "Stateless: return traffic needs its own rule" — a request the ACL lets
/// in is DENIED when no outbound rule lets its reply out, and the reason says
/// it is the reply (like the ACCEPT + REJECT pair in flow logs).
#[test]
fn nacl_stateless_reply_needs_its_own_rule() {
    let ssh_in = r#"{ rule = 100, action = "allow", protocol = "tcp", ports = 22, cidr = "192.168.10.0/24" }"#;
    let t = app_behind_nacl(ssh_in, "").topo();
    let r = expect(&t, "pc", "app-1", Tcp(22), Denied);
    assert!(reason(&r).contains("reply"), "{}", json(&r));
    // the request was let in; its reply was refused on the way out
    assert_eq!(
        nacl_decisions(&r.hops),
        vec![("app-nacl".into(), Ingress, "100".into(), NaclAction::Allow)]
    );
    assert!(
        nacl_decisions(&r.reply_hops).contains(&(
            "app-nacl".into(),
            Egress,
            "*".into(),
            NaclAction::Deny
        )),
        "{}",
        json(&r)
    );

    let t = app_behind_nacl(
        ssh_in,
        r#"{ rule = 100, action = "allow", protocol = "tcp", ports = "1024-65535", cidr = "192.168.10.0/24" }"#,
    )
    .topo();
    expect(&t, "pc", "app-1", Tcp(22), Accepted);

    // ICMP too: the echo reply needs an outbound rule
    let t = app_behind_nacl(
        r#"{ rule = 100, action = "allow", protocol = "icmp", icmp_type = 8, icmp_code = -1, cidr = "192.168.10.0/24" }"#,
        r#"{ rule = 100, action = "allow", protocol = "icmp", icmp_type = 8, icmp_code = -1, cidr = "192.168.10.0/24" }"#,
    )
    .topo();
    let r = expect(&t, "pc", "app-1", IcmpEcho, Denied);
    assert!(reason(&r).contains("reply"), "{}", json(&r));
}

/// "usually ephemeral ports 1024-65535 (Linux clients use 32768-60999 ...)"
/// — the reply to a Linux client must be allowed on all of 32768-60999:
/// exactly that range suffices, part of it does not, and a lower-numbered
/// deny inside it wins over a broad allow.
#[test]
fn nacl_reply_to_linux_client_needs_32768_60999() {
    let ssh_in = r#"{ rule = 100, action = "allow", protocol = "tcp", ports = 22, cidr = "192.168.10.0/24" }"#;
    let out = |rules: &str| app_behind_nacl(ssh_in, rules).topo();

    let t = out(
        r#"{ rule = 100, action = "allow", protocol = "tcp", ports = "32768-60999", cidr = "192.168.10.0/24" }"#,
    );
    expect(&t, "pc", "app-1", Tcp(22), Accepted);

    let t = out(
        r#"{ rule = 100, action = "allow", protocol = "tcp", ports = "32768-40000", cidr = "192.168.10.0/24" }"#,
    );
    let r = expect(&t, "pc", "app-1", Tcp(22), Denied);
    assert!(reason(&r).contains("reply"), "{}", json(&r));
    assert!(reason(&r).contains("40001-60999"), "{}", json(&r));

    let t = out(
        r#"{ rule = 100, action = "allow", protocol = "tcp", ports = "1024-32767", cidr = "192.168.10.0/24" }"#,
    );
    expect(&t, "pc", "app-1", Tcp(22), Denied);

    let t = out(
        r#"{ rule = 90, action = "deny", protocol = "tcp", ports = 50000, cidr = "192.168.10.0/24" },
  { rule = 100, action = "allow", protocol = "tcp", ports = "1024-65535", cidr = "192.168.10.0/24" }"#,
    );
    let r = expect(&t, "pc", "app-1", Tcp(22), Denied);
    assert!(reason(&r).contains("rule 90"), "{}", json(&r));
}

/// "Network ACLs (per subnet, stateless)" — an ACL guards its subnet's
/// boundary: two hosts of the same subnet talk past a deny-all ACL, while
/// traffic from outside the subnet is stopped by it.
#[test]
fn nacl_applies_only_when_crossing_the_subnet_boundary() {
    let t = app_in(Net::hybrid(), r#"["app-sg"]"#, Some("locked"))
        .add(instance(
            "app-2",
            "app",
            "10.0.1.11",
            r#"security_groups = ["app-sg"]"#,
        ))
        .add(sg(
            "app-sg",
            r#"ingress = [{ protocol = "-1", cidr = "0.0.0.0/0" }]"#,
        ))
        .add(nacl("locked", "", ""))
        .topo();
    for service in [Tcp(22), Udp(53), IcmpEcho] {
        let r = expect(&t, "app-1", "app-2", service, Accepted);
        assert!(nacl_decisions(&r.hops).is_empty(), "{}", json(&r));
        assert!(nacl_decisions(&r.reply_hops).is_empty(), "{}", json(&r));
    }
    let r = expect(&t, "pc", "app-1", Tcp(22), Denied);
    assert_eq!(nacl_decisions(&r.hops)[0].0, "locked");
}

/// "NAT gateway and ELB 1024-65535" — the reply to a NAT gateway comes back
/// to ports 1024-65535, so the public subnet's ACL must admit all of them;
/// admitting only the Linux range denies the flow.
#[test]
fn nacl_reply_to_nat_gateway_needs_1024_65535() {
    let build = |reply_ports: &str| {
        Net::hybrid()
            .add(subnet(
                "pub",
                "10.0.0.0/24",
                "route_table = \"pub-rt\"\nnacl = \"pub-nacl\"",
            ))
            .add(route_table(
                "pub-rt",
                r#"routes = [{ prefix = "0.0.0.0/0", target = "igw" }]"#,
            ))
            .add(nat("nat-a", "pub", "10.0.0.5", "203.0.113.5"))
            .add(nacl(
                "pub-nacl",
                &format!(
                    r#"{{ rule = 100, action = "allow", protocol = "-1", cidr = "10.0.0.0/16" }},
  {{ rule = 110, action = "allow", protocol = "tcp", ports = "{reply_ports}", cidr = "0.0.0.0/0" }}"#
                ),
                ALLOW_ALL_OUT,
            ))
            .add(subnet("web", "10.0.10.0/24", r#"route_table = "web-rt""#))
            .add(route_table(
                "web-rt",
                r#"routes = [{ prefix = "0.0.0.0/0", target = "nat-a" }]"#,
            ))
            .add(instance("web-1", "web", "10.0.10.10", r#"security_groups = ["web-sg"]"#))
            .add(sg("web-sg", "ingress = []"))
            .topo()
    };
    let t = build("1024-65535");
    expect(&t, "web-1", "internet", Tcp(443), Accepted);

    let t = build("32768-60999");
    let r = expect(&t, "web-1", "internet", Tcp(443), Denied);
    assert!(reason(&r).contains("reply"), "{}", json(&r));
    assert!(reason(&r).contains("pub-nacl"), "{}", json(&r));
    assert!(reason(&r).contains("1024-32767"), "{}", json(&r));
    // the example packet is one the rule denies, not the client's own
    // port 32768, which the ACL admits
    assert!(
        reason(&r)
            .ends_with("denies the reply to ports 1024-32767 (tcp 198.51.100.10 -> 10.0.0.5:1024)"),
        "{}",
        reason(&r)
    );
}

/// A denial of a protocol without ports names no ports: ICMP is not denied
/// "to ports all".
#[test]
fn nacl_denial_of_icmp_names_no_ports() {
    let t = app_behind_nacl(
        r#"{ rule = 100, action = "allow", protocol = "tcp", ports = 22, cidr = "192.168.10.0/24" }"#,
        ALLOW_ALL_OUT,
    )
    .topo();
    for service in [IcmpEcho, Proto(47)] {
        let r = expect(&t, "pc", "app-1", service, Denied);
        assert!(
            reason(&r).contains("ingress rule * denies it (") && !reason(&r).contains("ports"),
            "{}",
            reason(&r)
        );
    }
}

/// "NAT gateway and ELB 1024-65535" — a load balancer's connection to its
/// target is answered on 1024-65535, so the target subnet's ACL must let all
/// of them out.
#[test]
fn nacl_reply_to_load_balancer_needs_1024_65535() {
    // an application load balancer has subnets in two zones
    let two_zones = |mut net: Net| {
        net.0 = net.0.replacen("azs = [\"a\"]", "azs = [\"a\", \"c\"]", 1);
        net.add("[[vpc.subnet]]\nname = \"pub-c\"\naz = \"c\"\ncidr = \"10.0.9.0/24\"\n")
    };
    let build = |reply_ports: &str| {
        two_zones(app_in(Net::hybrid(), r#"["app-sg"]"#, Some("app-nacl")))
            .add(subnet("pub", "10.0.0.0/24", ""))
            .add(
                r#"[[vpc.load_balancer]]
name = "alb"
subnets = ["pub", "pub-c"]
ips = ["10.0.0.20", "10.0.9.20"]
security_groups = ["alb-sg"]
listeners = [{ port = 80, targets = ["app-1"], target_port = 80 }]
"#,
            )
            .add(sg("alb-sg", "ingress = []"))
            .add(sg(
                "app-sg",
                r#"ingress = [{ protocol = "tcp", ports = 80, sg = "alb-sg" }]"#,
            ))
            .add(nacl(
                "app-nacl",
                r#"{ rule = 100, action = "allow", protocol = "tcp", ports = 80, cidr = "10.0.0.0/20" }"#,
                &format!(
                    r#"{{ rule = 100, action = "allow", protocol = "tcp", ports = "{reply_ports}", cidr = "10.0.0.0/20" }}"#
                ),
            ))
            .topo()
    };
    let t = build("1024-65535");
    expect(&t, "alb", "app-1", Tcp(80), Accepted);
    let t = build("32768-60999");
    let r = expect(&t, "alb", "app-1", Tcp(80), Denied);
    assert!(reason(&r).contains("reply"), "{}", json(&r));
    assert!(reason(&r).contains("1024-32767"), "{}", json(&r));
}

/// "Numbered rules 1-32766 ... Quota: 20 rules per direction."
#[test]
fn nacl_rule_numbers_and_quota() {
    let rule = |n: u32| {
        format!(
            r#"{{ rule = {n}, action = "allow", protocol = "tcp", ports = 22, cidr = "0.0.0.0/0" }}"#
        )
    };
    assert_loads(&app_behind_nacl(&rule(1), &rule(32766)));
    assert_error(
        &app_behind_nacl(&rule(0), ""),
        "rule number 0 is out of range",
    );
    assert_error(
        &app_behind_nacl(&rule(32767), ""),
        "rule number 32767 is out of range",
    );
    let n_rules = |n: u32| {
        (1..=n)
            .map(|i| rule(i * 10))
            .collect::<Vec<_>>()
            .join(",\n  ")
    };
    assert_loads(&app_behind_nacl(&n_rules(20), &n_rules(20)));
    assert_error(
        &app_behind_nacl(&n_rules(21), ""),
        "has 21 inbound rules, over the AWS quota of 20",
    );
    assert_error(
        &app_behind_nacl("", &n_rules(21)),
        "has 21 outbound rules, over the AWS quota of 20",
    );
}

// ==== route tables ================================================================

/// "One table per subnet; a subnet without an association uses the main
/// table."
#[test]
fn rt_subnet_without_table_uses_the_main_table() {
    let with_main = |main: &str| {
        Net::hybrid()
            .add(subnet("pub", "10.0.0.0/24", ""))
            .add(main)
            .add(instance(
                "web",
                "pub",
                "10.0.0.10",
                "public_ip = \"203.0.113.10\"\nsecurity_groups = [\"web-sg\"]",
            ))
            .add(sg("web-sg", "ingress = []"))
            .topo()
    };
    let t = with_main(&route_table(
        "my-main",
        "main = true\nroutes = [{ prefix = \"0.0.0.0/0\", target = \"igw\" }]",
    ));
    let r = expect(&t, "web", "internet", Tcp(443), Accepted);
    assert!(
        routes(&r.hops)
            .iter()
            .any(|(table, prefix, target, _)| table == "my-main"
                && prefix == "0.0.0.0/0"
                && target == "igw"),
        "{}",
        json(&r)
    );
    // the same table, not main: the subnet falls back to the implicit main
    // table (local route only)
    let t = with_main(&route_table(
        "other",
        "routes = [{ prefix = \"0.0.0.0/0\", target = \"igw\" }]",
    ));
    let r = expect(&t, "web", "internet", Tcp(443), NoRoute);
    assert!(reason(&r).contains("main"), "{}", json(&r));
}

/// "Every table has a `local` route for each VPC CIDR" — two subnets whose
/// tables have no route at all still reach each other.
#[test]
fn rt_every_table_has_the_local_route() {
    let t = Net::hybrid()
        .add(subnet("a", "10.0.1.0/24", r#"route_table = "rt-a""#))
        .add(subnet("b", "10.0.2.0/24", r#"route_table = "rt-b""#))
        .add(route_table("rt-a", ""))
        .add(route_table("rt-b", ""))
        .add(instance("x", "a", "10.0.1.10", ""))
        .add(instance("y", "b", "10.0.2.10", ""))
        .topo();
    let r = expect(&t, "x", "y", Tcp(22), Accepted);
    assert_eq!(
        routes(&r.hops),
        vec![(
            "rt-a".into(),
            "10.0.0.0/16".into(),
            "local".into(),
            RouteOrigin::Local
        )],
        "{}",
        json(&r)
    );
    assert!(routes(&r.reply_hops)
        .iter()
        .any(|(t, _, target, _)| t == "rt-b" && target == "local"));
}

/// "the `local` route ... beats any propagated route, even a more specific
/// one." — the office advertises a /24 inside the VPC block; traffic to it
/// from the VPC stays local.
#[test]
fn rt_local_route_beats_a_more_specific_propagated_route() {
    let t = Net::office()
        .add(EDGE_OPEN)
        .add(vif(&["192.168.10.0/24", "10.0.2.0/24"], None))
        .add(subnet("a", "10.0.1.0/24", r#"route_table = "rt""#))
        .add(subnet("b", "10.0.2.0/24", r#"route_table = "rt""#))
        .add(route_table("rt", "propagate_vgw = true"))
        .add(instance("x", "a", "10.0.1.10", ""))
        .add(instance("y", "b", "10.0.2.10", ""))
        .topo();
    // the propagated route is there ...
    let rt = t.route_tables.iter().find(|r| r.name == "rt").unwrap();
    assert!(rt
        .routes
        .iter()
        .any(|r| r.prefix.to_string() == "10.0.2.0/24" && r.origin == RouteOrigin::Propagated));
    // ... and loses to local
    let r = expect(&t, "x", "y", Tcp(22), Accepted);
    assert_eq!(
        routes(&r.hops),
        vec![(
            "rt".into(),
            "10.0.0.0/16".into(),
            "local".into(),
            RouteOrigin::Local
        )],
        "{}",
        json(&r)
    );
    assert!(!visits(&r.hops, "vgw"), "{}", json(&r));
}

/// `app-1` in a subnet whose table `app-rt` propagates the VGW's routes and
/// holds `app_rt_routes`; `nat-a` in a public subnet whose table has no way
/// to the office (traffic sent to it for the office ends at the internet
/// gateway: NO_ROUTE); the office admits everything from the VPC.
fn with_nat(app_rt_routes: &str) -> Topology {
    Net::office()
        .add(edge(r#"{ protocol = "-1", cidr = "10.0.0.0/16" }"#))
        .add(vif(&["192.168.10.0/24"], None))
        .add(subnet("pub", "10.0.0.0/24", r#"route_table = "pub-rt""#))
        .add(route_table(
            "pub-rt",
            r#"routes = [{ prefix = "0.0.0.0/0", target = "igw" }]"#,
        ))
        .add(nat("nat-a", "pub", "10.0.0.5", "203.0.113.5"))
        .add(subnet("app", "10.0.1.0/24", r#"route_table = "app-rt""#))
        .add(route_table(
            "app-rt",
            &format!("propagate_vgw = true\nroutes = [{app_rt_routes}]"),
        ))
        .add(instance("app-1", "app", "10.0.1.10", ""))
        .topo()
}

/// "For equal prefixes a static route beats a propagated one (VGW
/// propagation from DX or VPN)." — a static 192.168.10.0/24 -> NAT wins over
/// the same prefix propagated from the VGW.
#[test]
fn rt_static_beats_propagated_on_an_equal_prefix() {
    // control: only the propagated route, the office is reached over DX
    let t = with_nat("");
    let r = expect(&t, "app-1", "pc", Tcp(22), Accepted);
    assert_eq!(
        routes(&r.hops)[0],
        (
            "app-rt".into(),
            "192.168.10.0/24".into(),
            "vgw".into(),
            RouteOrigin::Propagated
        )
    );

    let t = with_nat(r#"{ prefix = "192.168.10.0/24", target = "nat-a" }"#);
    let r = expect(&t, "app-1", "pc", Tcp(22), NoRoute);
    assert_eq!(
        routes(&r.hops)[0],
        (
            "app-rt".into(),
            "192.168.10.0/24".into(),
            "nat-a".into(),
            RouteOrigin::Static
        ),
        "{}",
        json(&r)
    );
    assert!(!visits(&r.hops, "dx-vif"), "{}", json(&r));
}

/// "Longest prefix match." — in VPC tables, whatever the origin: a
/// propagated /24 beats a static /16, a static /25 beats a propagated /24.
#[test]
fn rt_longest_prefix_wins() {
    let t = with_nat(r#"{ prefix = "192.168.0.0/16", target = "nat-a" }"#);
    let r = expect(&t, "app-1", "pc", Tcp(22), Accepted);
    assert_eq!(
        routes(&r.hops)[0],
        (
            "app-rt".into(),
            "192.168.10.0/24".into(),
            "vgw".into(),
            RouteOrigin::Propagated
        )
    );

    let t = with_nat(r#"{ prefix = "192.168.10.0/25", target = "nat-a" }"#);
    let r = expect(&t, "app-1", "pc", Tcp(22), NoRoute);
    assert_eq!(routes(&r.hops)[0].2, "nat-a", "{}", json(&r));
    // pc2 (.200) is outside the /25: the propagated /24 still carries it
    expect(&t, "app-1", "pc2", Tcp(22), Accepted);
}

/// "Route table rules apply to all traffic that leaves a subnet. [...]
/// Traffic that is destined for the MAC address of another network
/// interface in the subnet uses data link (layer 2) routing instead of
/// network (layer 3), so the rules do not apply to this traffic." (AWS,
/// gateway route tables, rules and considerations) — a route for the
/// subnet's own block through a firewall instance takes the traffic to the
/// other subnets' hosts there, never that between two hosts of the subnet.
#[test]
fn rt_traffic_within_a_subnet_takes_no_route() {
    let t = Net::office()
        .add(EDGE_OPEN)
        .add(subnet("app", "10.0.1.0/24", r#"route_table = "app-rt""#))
        .add(subnet("web", "10.0.2.0/24", r#"route_table = "web-rt""#))
        .add(subnet("fw", "10.0.3.0/24", r#"route_table = "fw-rt""#))
        .add(route_table("fw-rt", ""))
        .add(route_table(
            "app-rt",
            r#"routes = [{ prefix = "10.0.1.0/24", target = "firewall" }]"#,
        ))
        .add(route_table(
            "web-rt",
            r#"routes = [{ prefix = "10.0.1.0/24", target = "firewall" }]"#,
        ))
        .add(instance(
            "firewall",
            "fw",
            "10.0.3.10",
            "source_dest_check = false\nsecurity_groups = [\"fw-sg\"]",
        ))
        .add(sg("fw-sg", "ingress = []"))
        .add(sg(
            "open",
            r#"ingress = [{ protocol = "-1", cidr = "10.0.0.0/16" }]"#,
        ))
        .add(instance(
            "app-1",
            "app",
            "10.0.1.10",
            r#"security_groups = ["open"]"#,
        ))
        .add(instance(
            "app-2",
            "app",
            "10.0.1.11",
            r#"security_groups = ["open"]"#,
        ))
        .add(instance(
            "web-1",
            "web",
            "10.0.2.10",
            r#"security_groups = ["open"]"#,
        ))
        .topo();
    let r = expect(&t, "app-1", "app-2", Tcp(22), Accepted);
    assert!(!visits(&r.hops, "firewall"), "{}", json(&r));
    assert_eq!(
        routes(&r.hops)[0],
        (
            "app-rt".into(),
            "10.0.1.0/24".into(),
            "local".into(),
            RouteOrigin::Local
        )
    );
    // from another subnet the route applies, and the firewall admits nothing
    let r = expect(&t, "web-1", "app-1", Tcp(22), Denied);
    assert!(visits(&r.hops, "firewall"), "{}", json(&r));
}

/// "Targets: local, internet gateway, NAT gateway, virtual private gateway,
/// transit gateway, peering connection, network interface, instance,
/// endpoints." — an instance as a target forwards the traffic when its
/// source/destination check is off, and drops it when it is on.
#[test]
fn rt_instance_target_forwards_with_source_dest_check_off() {
    let build = |check: bool| {
        Net::office()
            .add(edge(r#"{ protocol = "-1", cidr = "10.0.0.0/16" }"#))
            .add(vif(&["192.168.10.0/24"], None))
            .add(subnet("pub", "10.0.0.0/24", r#"route_table = "pub-rt""#))
            .add(route_table("pub-rt", "propagate_vgw = true"))
            .add(instance(
                "appliance",
                "pub",
                "10.0.0.50",
                &format!("source_dest_check = {check}\nsecurity_groups = [\"fw-sg\"]"),
            ))
            .add(sg(
                "fw-sg",
                r#"ingress = [{ protocol = "-1", cidr = "10.0.0.0/16" }]"#,
            ))
            .add(subnet("app", "10.0.1.0/24", r#"route_table = "app-rt""#))
            .add(route_table(
                "app-rt",
                r#"propagate_vgw = true
routes = [{ prefix = "192.168.10.0/24", target = "appliance" }]"#,
            ))
            .add(instance("app-1", "app", "10.0.1.10", ""))
            .topo()
    };
    let t = build(false);
    let r = expect(&t, "app-1", "pc", Tcp(22), Accepted);
    assert_eq!(
        routes(&r.hops)[0],
        (
            "app-rt".into(),
            "192.168.10.0/24".into(),
            "appliance".into(),
            RouteOrigin::Static
        )
    );
    assert!(
        visits(&r.hops, "appliance") && visits(&r.hops, "dx-vif"),
        "{}",
        json(&r)
    );
    let t = build(true);
    let r = expect(&t, "app-1", "pc", Tcp(22), NoRoute);
    assert!(
        reason(&r).contains("source/destination check"),
        "{}",
        json(&r)
    );
}

/// The VPC User Guide, "Subnet route tables", rules and considerations: "You
/// can add a route to your route tables that is more specific than the local
/// route. The destination must match the entire IPv4 ... CIDR block of a
/// subnet in your VPC. The target must be a NAT gateway, network interface,
/// or Gateway Load Balancer endpoint." Anything else inside the VPC block is
/// refused.
#[test]
fn rt_a_route_more_specific_than_local_is_a_subnet_block_to_an_interface_or_nat() {
    let base = || {
        Net::hybrid()
            .add(subnet("a", "10.0.1.0/24", r#"route_table = "rt""#))
            .add(instance(
                "fw",
                "a",
                "10.0.1.50",
                "source_dest_check = false",
            ))
    };
    let with = |routes: &str| base().add(route_table("rt", &format!("routes = [{routes}]")));
    assert_error(
        &with(r#"{ prefix = "10.0.1.128/25", target = "fw" }"#),
        "route 10.0.1.128/25 is more specific than the VPC's local route 10.0.0.0/16 but is not the block of a subnet",
    );
    assert_error(
        &with(r#"{ prefix = "10.0.1.0/24", target = "igw" }"#),
        "route 10.0.1.0/24 (the block of subnet `a`) is more specific than the VPC's local route and goes to `igw`",
    );
    assert_error(
        &with(r#"{ prefix = "10.0.1.0/24", target = "blackhole" }"#),
        "goes to `blackhole`",
    );
    assert_loads(&with(r#"{ prefix = "10.0.1.0/24", target = "fw" }"#));
    // a block larger than the VPC's is not more specific than local
    assert_loads(&with(r#"{ prefix = "10.0.0.0/8", target = "vgw" }"#));
}

/// The same rules: "Route table rules apply to all traffic that leaves a
/// subnet ... Traffic destined for another network interface in the subnet
/// uses data link (layer 2) routing ... so the rules do not apply." — a route
/// for subnet `b`'s block through the appliance `fw` carries `a`'s traffic to
/// `b` through `fw` (the longest prefix wins over local), while traffic
/// inside `b` is delivered on the link even when `b`'s own table holds the
/// route.
#[test]
fn rt_a_subnet_route_carries_other_subnets_traffic_but_not_its_own() {
    let t = Net::hybrid()
        .add(subnet("a", "10.0.1.0/24", r#"route_table = "rt""#))
        .add(subnet("b", "10.0.2.0/24", r#"route_table = "rt""#))
        .add(subnet("fw-net", "10.0.3.0/24", ""))
        .add(route_table(
            "rt",
            r#"routes = [{ prefix = "10.0.2.0/24", target = "fw" }]"#,
        ))
        .add(instance(
            "fw",
            "fw-net",
            "10.0.3.50",
            "source_dest_check = false\nsecurity_groups = [\"open\"]",
        ))
        .add(instance(
            "x",
            "a",
            "10.0.1.10",
            r#"security_groups = ["open"]"#,
        ))
        .add(instance(
            "y",
            "b",
            "10.0.2.10",
            r#"security_groups = ["open"]"#,
        ))
        .add(instance(
            "y2",
            "b",
            "10.0.2.20",
            r#"security_groups = ["open"]"#,
        ))
        .add(sg(
            "open",
            r#"ingress = [{ protocol = "-1", cidr = "10.0.0.0/16" }]"#,
        ))
        .topo();
    let r = expect(&t, "x", "y", Tcp(22), Accepted);
    assert_eq!(
        routes(&r.hops)[0],
        (
            "rt".into(),
            "10.0.2.0/24".into(),
            "fw".into(),
            RouteOrigin::Static
        ),
        "{}",
        json(&r)
    );
    assert!(visits(&r.hops, "fw"), "{}", json(&r));
    // inside b: on the link, the route for b's block is not used
    let r = expect(&t, "y", "y2", Tcp(22), Accepted);
    assert!(!visits(&r.hops, "fw"), "{}", json(&r));
    assert_eq!(
        routes(&r.hops),
        vec![(
            "rt".into(),
            "10.0.2.0/24".into(),
            "local".into(),
            RouteOrigin::Local
        )],
        "{}",
        json(&r)
    );
}

/// "Targets: ... " — a `blackhole` route drops what it matches: NO_ROUTE.
#[test]
fn rt_blackhole_route_gives_no_route() {
    let t = Net::hybrid()
        .add(subnet("pub", "10.0.0.0/24", r#"route_table = "pub-rt""#))
        .add(route_table(
            "pub-rt",
            r#"routes = [
  { prefix = "0.0.0.0/0", target = "igw" },
  { prefix = "198.51.100.0/24", target = "blackhole" },
]"#,
        ))
        .add(instance(
            "web",
            "pub",
            "10.0.0.10",
            "public_ip = \"203.0.113.10\"",
        ))
        .topo();
    let r = expect(&t, "web", "internet", Tcp(443), NoRoute);
    assert!(reason(&r).contains("blackhole"), "{}", json(&r));
    // outside the blackhole's prefix the default route works
    expect(&t, "web", "8.8.8.8", Tcp(443), Accepted);
}

/// "Longest prefix match" with nothing to match: no route, NO_ROUTE — for
/// the request, and for the reply when the VPC has no way back.
#[test]
fn rt_no_matching_route_gives_no_route() {
    let t = Net::hybrid()
        .add(subnet("app", "10.0.1.0/24", r#"route_table = "app-rt""#))
        .add(route_table("app-rt", ""))
        .add(instance(
            "app-1",
            "app",
            "10.0.1.10",
            r#"security_groups = ["app-sg"]"#,
        ))
        .add(sg(
            "app-sg",
            r#"ingress = [{ protocol = "-1", cidr = "0.0.0.0/0" }]"#,
        ))
        .topo();
    let r = expect(&t, "app-1", "pc", Tcp(22), NoRoute);
    assert!(reason(&r).contains("app-rt has no route"), "{}", json(&r));
    // from the office the request arrives, the reply has no route back
    let r = expect(&t, "pc", "app-1", Tcp(22), NoRoute);
    assert!(reason(&r).starts_with("reply"), "{}", json(&r));
}

/// "A VPC route table also takes at most 100 propagated routes."
#[test]
fn rt_at_most_100_propagated_routes() {
    let many: Vec<String> = (0..100).map(|i| format!("172.16.{i}.0/24")).collect();
    let mut dx: Vec<&str> = many.iter().map(String::as_str).collect();
    dx.push("192.168.10.0/24"); // 101 distinct routes, 100 over the VIF ...
    let loaded = Net::office()
        .add(EDGE_OPEN)
        .add(vif(&dx[1..], None)) // 100: the session stays up
        .add(
            "[vpn]\nname = \"vpn-backup\"\ncustomer_gateway = \"gw\"\nprefixes = [\"172.16.0.0/24\"]\n",
        ) // ... and one more over the VPN
        .add(subnet("app", "10.0.1.0/24", r#"route_table = "app-rt""#))
        .add(route_table("app-rt", "propagate_vgw = true"))
        .load();
    assert!(
        has_warning(&loaded, "a VPC route table takes at most 100"),
        "{}",
        loaded.warnings
    );
    assert!(!has_warning(&loaded, "Idle"), "{}", loaded.warnings);
    let rt = loaded
        .topology
        .route_tables
        .iter()
        .find(|r| r.name == "app-rt")
        .unwrap();
    let propagated = rt
        .routes
        .iter()
        .filter(|r| r.origin == RouteOrigin::Propagated)
        .count();
    assert_eq!(propagated, 100);
}

// ==== NAT gateway and internet gateway ============================================

/// Targets "internet gateway, NAT gateway" — an instance without a public
/// IP reaches the internet only through a NAT gateway (which translates its
/// address to the NAT's).
#[test]
fn nat_private_instance_reaches_the_internet_through_a_nat_gateway() {
    let build = |web_default: &str| {
        Net::hybrid()
            .add(subnet("pub", "10.0.0.0/24", r#"route_table = "pub-rt""#))
            .add(route_table(
                "pub-rt",
                r#"routes = [{ prefix = "0.0.0.0/0", target = "igw" }]"#,
            ))
            .add(nat("nat-a", "pub", "10.0.0.5", "203.0.113.5"))
            .add(subnet("web", "10.0.10.0/24", r#"route_table = "web-rt""#))
            .add(route_table(
                "web-rt",
                &format!(r#"routes = [{{ prefix = "0.0.0.0/0", target = "{web_default}" }}]"#),
            ))
            .add(instance("web-1", "web", "10.0.10.10", ""))
            .topo()
    };
    let t = build("nat-a");
    let r = expect(&t, "web-1", "internet", Tcp(443), Accepted);
    let snat = steps(&r.hops)
        .any(|s| matches!(s, Step::Nat { kind, by, .. } if kind == "snat" && by == "nat-a"));
    assert!(snat, "{}", json(&r));
    // the internet sees the NAT's public address
    assert!(json(&r).contains("203.0.113.5"), "{}", json(&r));

    // the same instance routed straight to the internet gateway
    let t = build("igw");
    expect(&t, "web-1", "internet", Tcp(443), NoRoute);
}

/// An instance in a subnet routed to the internet gateway but without a
/// public IP gets NO_ROUTE: the internet gateway has no address to
/// translate it to.
#[test]
fn igw_instance_without_public_ip_gets_no_route() {
    let t = Net::hybrid()
        .add(subnet("pub", "10.0.0.0/24", r#"route_table = "pub-rt""#))
        .add(route_table(
            "pub-rt",
            r#"routes = [{ prefix = "0.0.0.0/0", target = "igw" }]"#,
        ))
        .add(instance("no-pip", "pub", "10.0.0.10", ""))
        .add(instance(
            "with-pip",
            "pub",
            "10.0.0.11",
            "public_ip = \"203.0.113.11\"",
        ))
        .topo();
    let r = expect(&t, "no-pip", "internet", Tcp(443), NoRoute);
    assert!(reason(&r).contains("no public address"), "{}", json(&r));
    assert!(visits(&r.hops, "igw"), "{}", json(&r));
    expect(&t, "with-pip", "internet", Tcp(443), Accepted);
}

/// The internet reaches an instance at its public IP, never at its private
/// address, and not at all without a public IP.
#[test]
fn igw_internet_reaches_public_addresses_only() {
    let t = Net::hybrid()
        .add(subnet("pub", "10.0.0.0/24", r#"route_table = "pub-rt""#))
        .add(route_table(
            "pub-rt",
            r#"routes = [{ prefix = "0.0.0.0/0", target = "igw" }]"#,
        ))
        .add(instance(
            "web",
            "pub",
            "10.0.0.10",
            "public_ip = \"203.0.113.10\"\nsecurity_groups = [\"web-sg\"]",
        ))
        .add(instance(
            "hidden",
            "pub",
            "10.0.0.11",
            r#"security_groups = ["web-sg"]"#,
        ))
        .add(sg(
            "web-sg",
            r#"ingress = [{ protocol = "tcp", ports = 80, cidr = "0.0.0.0/0" }]"#,
        ))
        .topo();
    let r = expect(&t, "internet", "203.0.113.10", Tcp(80), Accepted);
    let dnat = steps(&r.hops)
        .any(|s| matches!(s, Step::Nat { kind, to, .. } if kind == "dnat" && to == "10.0.0.10"));
    assert!(dnat, "{}", json(&r));
    expect(&t, "internet", "web", Tcp(80), Accepted);
    expect(&t, "internet", "10.0.0.10", Tcp(80), NoRoute);
    expect(&t, "internet", "hidden", Tcp(80), NoRoute);
    expect(&t, "internet", "10.0.0.11", Tcp(80), NoRoute);
}

/// A NAT gateway translates flows its subnet's clients open; it accepts no
/// inbound connection, from the internet or from inside the VPC.
#[test]
fn nat_gateway_accepts_no_inbound_connections() {
    let t = Net::hybrid()
        .add(subnet("pub", "10.0.0.0/24", r#"route_table = "pub-rt""#))
        .add(route_table(
            "pub-rt",
            r#"routes = [{ prefix = "0.0.0.0/0", target = "igw" }]"#,
        ))
        .add(nat("nat-a", "pub", "10.0.0.5", "203.0.113.5"))
        .add(instance("app-1", "pub", "10.0.0.10", ""))
        .topo();
    for (from, to) in [
        ("internet", "203.0.113.5"),
        ("internet", "nat-a"),
        ("app-1", "nat-a"),
    ] {
        let r = reach(&t, from, to, Tcp(22));
        assert_ne!(r.verdict, Accepted, "{from} -> {to}: {}", json(&r));
        assert!(reason(&r).contains("nat-a"), "{from} -> {to}: {}", json(&r));
    }
}

// ==== Direct Connect and VPN ========================================================

/// "at most 100 prefixes advertised by the customer per BGP session on a
/// private ... VIF ... Going over puts the session into Idle (BGP DOWN)." —
/// a warning, and no route either way over the VIF.
#[test]
fn dx_over_100_prefixes_puts_the_session_idle() {
    let many: Vec<String> = (0..100).map(|i| format!("172.16.{i}.0/24")).collect();
    let mut prefixes: Vec<&str> = vec!["192.168.10.0/24"];
    prefixes.extend(many.iter().map(String::as_str));
    assert_eq!(prefixes.len(), 101);
    let build = |prefixes: &[&str]| {
        app_in(
            Net::office()
                .add(edge(r#"{ protocol = "-1", cidr = "10.0.0.0/16" }"#))
                .add(vif(prefixes, None)),
            "[\"app-sg\"]",
            None,
        )
        .add(sg(
            "app-sg",
            r#"ingress = [{ protocol = "-1", cidr = "192.168.10.0/24" }]"#,
        ))
        .load()
    };
    let loaded = build(&prefixes);
    assert!(
        has_warning(&loaded, "advertises 101 prefixes")
            && has_warning(&loaded, "BGP session goes Idle"),
        "{}",
        loaded.warnings
    );
    let t = &loaded.topology;
    let r = expect(t, "app-1", "pc", Tcp(22), NoRoute);
    assert!(!visits(&r.hops, "dx-vif"), "{}", json(&r));
    expect(t, "pc", "app-1", Tcp(22), NoRoute);

    // 100 is still fine
    let loaded = build(&prefixes[..100]);
    assert!(!has_warning(&loaded, "Idle"), "{}", loaded.warnings);
    expect(&loaded.topology, "app-1", "pc", Tcp(22), Accepted);
}

/// "The usual design is DX primary with a VPN backup advertising the same or
/// less specific prefixes" — with the VIF Idle (over 100 prefixes) the VPN
/// carries the traffic between the VPC and the office.
#[test]
fn dx_idle_session_falls_back_to_the_vpn() {
    let many: Vec<String> = (0..101).map(|i| format!("172.16.{i}.0/24")).collect();
    let prefixes: Vec<&str> = many.iter().map(String::as_str).collect();
    let loaded = app_in(
        Net::office()
            .add(edge(r#"{ protocol = "-1", cidr = "10.0.0.0/16" }"#))
            .add(vif(&prefixes, None))
            .add(VPN),
        "[\"app-sg\"]",
        None,
    )
    .add(sg(
        "app-sg",
        r#"ingress = [{ protocol = "-1", cidr = "192.168.10.0/24" }]"#,
    ))
    .load();
    assert!(has_warning(&loaded, "Idle"), "{}", loaded.warnings);
    let t = &loaded.topology;
    for (from, to) in [("app-1", "pc"), ("pc", "app-1")] {
        let r = expect(t, from, to, Tcp(22), Accepted);
        assert!(visits(&r.hops, "vpn-backup"), "{}", json(&r));
        assert!(!visits(&r.hops, "dx-vif"), "{}", json(&r));
        assert!(!visits(&r.reply_hops, "dx-vif"), "{}", json(&r));
    }
}

/// VPC side and office side of one DX + VPN pair, all open.
fn dx_and_vpn(dx_prefixes: &[&str], dx_state: Option<&str>, vpn: &str) -> Topology {
    app_in(
        Net::office()
            .add(edge(r#"{ protocol = "-1", cidr = "10.0.0.0/16" }"#))
            .add(vif(dx_prefixes, dx_state))
            .add(vpn),
        "[\"app-sg\"]",
        None,
    )
    .add(sg(
        "app-sg",
        r#"ingress = [{ protocol = "-1", cidr = "192.168.10.0/24" }]"#,
    ))
    .topo()
}

/// "Direct Connect and Site-to-Site VPN on one VGW, same prefix: Direct
/// Connect BGP routes win" — both ways, the trace names the VIF.
#[test]
fn dx_wins_over_the_vpn_for_the_same_prefix() {
    let t = dx_and_vpn(&["192.168.10.0/24"], None, VPN);
    let r = expect(&t, "app-1", "pc", Tcp(22), Accepted);
    assert!(visits(&r.hops, "dx-vif"), "{}", json(&r));
    assert!(!visits(&r.hops, "vpn-backup"), "{}", json(&r));
    assert!(
        routes(&r.hops)
            .iter()
            .any(|(table, prefix, target, _)| table == "vgw"
                && prefix == "192.168.10.0/24"
                && target == "dx-vif"),
        "{}",
        json(&r)
    );
    // and from the office: the gateway prefers the VIF's route
    let r = expect(&t, "pc", "app-1", Tcp(22), Accepted);
    assert!(visits(&r.hops, "dx-vif"), "{}", json(&r));
    assert!(!visits(&r.hops, "vpn-backup"), "{}", json(&r));
    assert!(visits(&r.reply_hops, "dx-vif"), "{}", json(&r));
}

/// "the customer side must detect the failure and move traffic itself" —
/// with the VIF `state = "down"` the same flows go over the VPN.
#[test]
fn dx_vif_down_fails_over_to_the_vpn() {
    let t = dx_and_vpn(&["192.168.10.0/24"], Some("down"), VPN);
    for (from, to) in [("app-1", "pc"), ("pc", "app-1")] {
        let r = expect(&t, from, to, Tcp(22), Accepted);
        assert!(visits(&r.hops, "vpn-backup"), "{}", json(&r));
        assert!(visits(&r.reply_hops, "vpn-backup"), "{}", json(&r));
        assert!(!visits(&r.hops, "dx-vif"), "{}", json(&r));
        assert!(!visits(&r.reply_hops, "dx-vif"), "{}", json(&r));
    }
    // without the VPN, a down VIF leaves no path
    let t = dx_and_vpn(&["192.168.10.0/24"], Some("down"), "");
    expect(&t, "app-1", "pc", Tcp(22), NoRoute);
    expect(&t, "pc", "app-1", Tcp(22), NoRoute);
}

/// "Path choice on the AWS side (toward the customer): longest prefix
/// first" — a more specific VPN prefix beats the VIF's broader one.
#[test]
fn vgw_longest_prefix_first_even_over_dx() {
    let vpn = "[vpn]\nname = \"vpn-backup\"\ncustomer_gateway = \"gw\"\nprefixes = [\"192.168.10.0/25\"]\n";
    let t = dx_and_vpn(&["192.168.10.0/24"], None, vpn);
    // pc (.10) is in the VPN's /25
    let r = expect(&t, "app-1", "pc", Tcp(22), Accepted);
    assert!(visits(&r.hops, "vpn-backup"), "{}", json(&r));
    assert!(!visits(&r.hops, "dx-vif"), "{}", json(&r));
    // pc2 (.200) only in the VIF's /24
    let r = expect(&t, "app-1", "pc2", Tcp(22), Accepted);
    assert!(visits(&r.hops, "dx-vif"), "{}", json(&r));
    assert!(!visits(&r.hops, "vpn-backup"), "{}", json(&r));
}

/// "Targets: local, internet gateway, NAT gateway, virtual private gateway
/// ..." — and nothing more: a VPC does not carry transit traffic from the
/// VGW to the internet. The office learns only the VPC block over the VIF,
/// so traffic for the internet or for the VPC's public addresses never
/// enters the VIF.
#[test]
fn vpc_carries_no_transit_traffic_from_the_vgw() {
    let t = app_in(Net::hybrid(), r#"["app-sg"]"#, None)
        .add(route_table(
            "pub-rt",
            r#"propagate_vgw = true
routes = [{ prefix = "0.0.0.0/0", target = "igw" }]"#,
        ))
        .add(subnet("pub", "10.0.0.0/24", r#"route_table = "pub-rt""#))
        .add(instance(
            "web",
            "pub",
            "10.0.0.10",
            "public_ip = \"203.0.113.10\"\nsecurity_groups = [\"app-sg\"]",
        ))
        .add(sg(
            "app-sg",
            r#"ingress = [{ protocol = "-1", cidr = "0.0.0.0/0" }]"#,
        ))
        .topo();
    // the office end learned the VPC block only
    expect(&t, "pc", "web", Tcp(22), Accepted);
    for to in ["8.8.8.8", "internet", "198.51.100.10", "203.0.113.10"] {
        let r = expect(&t, "pc", to, Tcp(443), NoRoute);
        assert!(!visits(&r.hops, "igw"), "{}", json(&r));
        assert!(!visits(&r.hops, "internet"), "{}", json(&r));
    }
}

/// `dx-vif` alone, with its text edited by `edit`.
fn vif_edited(edit: impl Fn(String) -> String) -> Net {
    Net::office()
        .add(EDGE_OPEN)
        .add(edit(vif(&["192.168.10.0/24"], None)))
}

/// "802.1Q VLAN id 1-4094, unique per connection, fixed after creation."
#[test]
fn dx_vlan_is_1_to_4094_and_unique_per_connection() {
    let vlan = |v: &str| vif_edited(|s| s.replace("vlan = 101", &format!("vlan = {v}")));
    assert_loads(&vlan("1"));
    assert_loads(&vlan("4094"));
    assert_error(&vlan("0"), "VLAN id 0 is out of range");
    assert_error(&vlan("4095"), "VLAN id 4095 is out of range");
    let second = |v: &str| {
        vif(&["192.168.10.0/24"], None)
            .replace("\"dx-vif\"", "\"dx-vif-2\"")
            .replace("169.254.100.", "169.254.101.")
            .replace("vlan = 101", &format!("vlan = {v}"))
    };
    assert_loads(&Net::hybrid().add(second("102")));
    assert_error(
        &Net::hybrid().add(second("101")),
        "VLAN 101 is already used by VIF `dx-vif`",
    );
}

/// "Customer ASN 1-4294967294 ... Amazon-side ASN comes from the virtual
/// private gateway (VGW) or the Direct Connect gateway (DXGW); default
/// 64512."
#[test]
fn dx_asn_ranges_and_amazon_side_default() {
    let asn =
        |a: &str| vif_edited(|s| s.replace("customer_asn = 65010", &format!("customer_asn = {a}")));
    assert_loads(&asn("1"));
    assert_loads(&asn("4294967294"));
    assert_error(&asn("0"), "out of range");
    assert_error(&asn("4294967295"), "ASN 4294967295 is out of range");
    assert_eq!(Net::hybrid().topo().vifs[0].amazon_asn, 64512);
    let t = Net(OFFICE.replace(
        r#"vgw = { name = "vgw" }"#,
        r#"vgw = { name = "vgw", asn = 65100 }"#,
    ))
    .add(EDGE_OPEN)
    .add(vif(&["192.168.10.0/24"], None))
    .topo();
    assert_eq!(t.vifs[0].amazon_asn, 65100);
}

/// "Peer addresses: a /30 from 169.254.0.0/16 when AWS assigns them, or
/// customer RFC 1918 addresses." — two usable ends of one /30; another
/// length is flagged.
#[test]
fn dx_peer_addresses_are_the_two_ends_of_a_30() {
    let peers = |c: &str, a: &str| {
        let (c, a) = (c.to_string(), a.to_string());
        vif_edited(move |s| {
            s.replace("169.254.100.1/30", &c)
                .replace("169.254.100.2/30", &a)
        })
    };
    assert_loads(&peers("169.254.100.1/30", "169.254.100.2/30"));
    assert_loads(&peers("172.31.255.1/30", "172.31.255.2/30"));
    assert_error(
        &peers("169.254.100.1/30", "169.254.101.2/30"),
        "are not two ends of one subnet",
    );
    assert_error(
        &peers("169.254.100.1/30", "169.254.100.3/30"),
        "is the broadcast address",
    );
    assert!(
        warnings(&peers("169.254.100.1/29", "169.254.100.2/29"))
            .iter()
            .any(|w| w.contains("is not the /30 AWS assigns")),
        "a /29 deserves a warning"
    );
}

/// "Peer addresses: a /30 from 169.254.0.0/16 when AWS assigns them, or
/// customer RFC 1918 addresses." — a public /30 is neither and must at
/// least be flagged.
#[test]
fn dx_peer_addresses_are_link_local_or_rfc1918() {
    let net = vif_edited(|s| {
        s.replace("169.254.100.1/30", "203.0.113.1/30")
            .replace("169.254.100.2/30", "203.0.113.2/30")
    });
    let diags = match net.try_load() {
        Ok(l) => l.warnings.0,
        Err(d) => d.0,
    };
    assert!(
        diags.iter().any(|d| d.message.contains("203.0.113.")),
        "no diagnostic for public peer addresses: {diags:?}"
    );
}

/// "MTU: 1500 (default) or jumbo 9001 on a private VIF (8500 on a transit
/// VIF)".
#[test]
fn dx_mtu_is_1500_or_9001_on_a_private_vif() {
    assert_eq!(Net::hybrid().topo().vifs[0].mtu, 1500);
    let mtu = |m: &str| vif_edited(|s| s.replace("vlan = 101", &format!("vlan = 101\nmtu = {m}")));
    assert_eq!(mtu("9001").topo().vifs[0].mtu, 9001);
    assert_error(&mtu("8500"), "MTU 8500 is not offered on a private VIF");
    assert_error(&mtu("9000"), "MTU 9000 is not offered on a private VIF");
}

/// "at most 100 prefixes advertised by the customer per BGP session" — a
/// prefix listed twice is one prefix: BGP advertises it once, so 100
/// distinct prefixes in 101 entries keep the session up.
#[test]
fn dx_prefix_limit_counts_distinct_prefixes() {
    let many: Vec<String> = (0..99).map(|i| format!("172.16.{i}.0/24")).collect();
    let mut prefixes: Vec<&str> = vec!["192.168.10.0/24", "192.168.10.0/24"];
    prefixes.extend(many.iter().map(String::as_str));
    assert_eq!(prefixes.len(), 101);
    let loaded = app_in(
        Net::office()
            .add(edge(r#"{ protocol = "-1", cidr = "10.0.0.0/16" }"#))
            .add(vif(&prefixes, None)),
        "[\"app-sg\"]",
        None,
    )
    .add(sg(
        "app-sg",
        r#"ingress = [{ protocol = "-1", cidr = "192.168.10.0/24" }]"#,
    ))
    .load();
    assert!(!has_warning(&loaded, "Idle"), "{}", loaded.warnings);
    expect(&loaded.topology, "app-1", "pc", Tcp(22), Accepted);
}

// ==== the office gateway box ========================================================

/// Both office layouts: the box on the hosts' LAN, and the box on a transit
/// LAN behind an office router.
fn offices() -> [(&'static str, Net); 2] {
    [
        ("box on the LAN", Net::office()),
        ("box behind a router", Net::routed_office()),
    ]
}

/// Security groups are "stateful" — on the office gateway box too: flows the
/// office opens into the VPC go out by the egress rules and their replies
/// come back without an ingress rule.
#[test]
fn gateway_policy_passes_office_initiated_flows_and_their_replies() {
    for (layout, office) in offices() {
        let t = app_in(
            office
                .clone()
                .add(EDGE_OPEN)
                .add(vif(&["192.168.10.0/24"], None)),
            r#"["app-sg"]"#,
            None,
        )
        .add(sg(
            "app-sg",
            r#"ingress = [{ protocol = "-1", cidr = "192.168.10.0/24" }]"#,
        ))
        .topo();
        for service in [Tcp(22), Udp(53), IcmpEcho] {
            let r = expect(&t, "pc", "app-1", service, Accepted);
            let at_gw = |hops: &[Hop]| -> Vec<Step> {
                hops.iter()
                    .filter(|h| h.node == "gw")
                    .flat_map(|h| h.steps.clone())
                    .collect()
            };
            let out = at_gw(&r.hops).iter().any(|s| {
                matches!(s, Step::SecurityGroupAllow { direction: Egress, group, .. } if group == "office-edge")
            });
            assert!(out, "{layout}: {}", json(&r));
            let back = at_gw(&r.reply_hops).iter().any(|s| {
                matches!(
                    s,
                    Step::Tracked {
                        direction: Ingress,
                        ..
                    }
                )
            });
            assert!(back, "{layout}: {}", json(&r));
        }
        // office-edge with no egress rule: the office opens nothing
        let t = app_in(
            office
                .add("[[security_group]]\nname = \"office-edge\"\ningress = []\negress = []\n")
                .add(vif(&["192.168.10.0/24"], None)),
            r#"["app-sg"]"#,
            None,
        )
        .add(sg(
            "app-sg",
            r#"ingress = [{ protocol = "-1", cidr = "192.168.10.0/24" }]"#,
        ))
        .topo();
        let r = expect(&t, "pc", "app-1", Tcp(22), Denied);
        assert!(
            reason(&r).contains("gateway policy of gw"),
            "{layout}: {}",
            json(&r)
        );
    }
}

/// The gateway box's groups filter what the VPC opens toward the office by
/// their ingress rules: without one the flow is denied at the box, with one
/// it passes (and its reply passes as a tracked flow).
#[test]
fn gateway_policy_vpc_initiated_flows_need_an_ingress_rule() {
    for (layout, office) in offices() {
        let build = |ingress: &str| {
            app_in(
                office
                    .clone()
                    .add(edge(ingress))
                    .add(vif(&["192.168.10.0/24"], None)),
                r#"["app-sg"]"#,
                None,
            )
            .add(sg("app-sg", "ingress = []"))
            .topo()
        };
        let t = build("");
        let r = expect(&t, "app-1", "pc", Tcp(22), Denied);
        let denied_at_gw = r
            .hops
            .iter()
            .filter(|h| h.node == "gw")
            .flat_map(|h| h.steps.iter())
            .any(|s| {
                matches!(
                    s,
                    Step::SecurityGroupDeny {
                        direction: Ingress,
                        ..
                    }
                )
            });
        assert!(denied_at_gw, "{layout}: {}", json(&r));
        assert!(!visits(&r.hops, "pc"), "{layout}: {}", json(&r));

        let t = build(r#"{ protocol = "tcp", ports = 22, cidr = "10.0.1.0/24" }"#);
        let r = expect(&t, "app-1", "pc", Tcp(22), Accepted);
        let allowed = steps(&r.hops).any(|s| {
            matches!(s, Step::SecurityGroupAllow { direction: Ingress, group, .. } if group == "office-edge")
        });
        assert!(allowed, "{layout}: {}", json(&r));
        assert!(
            tracked(&r.reply_hops).contains(&Egress),
            "{layout}: {}",
            json(&r)
        );
        // the rule's port and peer still count
        expect(&t, "app-1", "pc", Tcp(23), Denied);
    }
}

// ==== a node and its own addresses =============================================

/// Traffic from an instance to its own address never leaves the instance
/// (the operating system's loopback): no route, network ACL or security
/// group sees it, on AWS as in the lab. `reach` by name and by address, and
/// an `[[expect]]` (with a warning that it cannot fail), all say ACCEPTED.
#[test]
fn a_flow_to_the_nodes_own_address_never_leaves_it() {
    let net = app(r#"ingress = []"#);
    let t = net.topo();
    for to in ["app-1", "10.0.1.10"] {
        for service in [Tcp(22), IcmpEcho] {
            let r = expect(&t, "app-1", to, service, Accepted);
            assert_eq!(r.hops.len(), 1, "{}", json(&r));
            assert_eq!(r.hops[0].interface.as_deref(), Some("lo 10.0.1.10"));
            assert!(sg_denies(&r.hops).is_empty() && routes(&r.hops).is_empty());
        }
    }
    // an office host too
    expect(&t, "pc", "192.168.10.10", Udp(53), Accepted);
    // the same flow as an expectation: it holds, with a warning
    let l = net
        .add("[[expect]]\nfrom = \"app-1\"\nto = \"10.0.1.10\"\nprotocol = \"tcp\"\nport = 22\nverdict = \"ACCEPTED\"\n")
        .load();
    assert!(
        has_warning(
            &l,
            "an expectation from `app-1` to itself is always ACCEPTED"
        ),
        "{:?}",
        l.warnings
    );
    let results = analysis::check_expectations(&l.topology);
    assert!(results.iter().all(|r| r.holds), "{results:?}");
}
