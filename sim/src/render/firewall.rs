//! nftables rulesets for a lab: security groups (stateful, in each VPC
//! node's namespace), network ACLs and the internet gateway's one-to-one
//! NAT (in the VPC router), NAT gateways (masquerade). Text for `nft -f`,
//! generated from the same model the static analysis reads.

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use topology::model::{Attachment, Topology};
use topology::nacl::{NaclAction, NaclRule};
use topology::security_group::{Peer, SgRule};
use topology::traffic::{PortRange, Traffic};

use crate::render::names::nft_comment;

/// The nft match of a rule's protocol, ports or ICMP type/code (empty for
/// every packet).
fn traffic_match(t: &Traffic) -> String {
    match t {
        Traffic::All => String::new(),
        Traffic::Tcp(r) | Traffic::Udp(r) => {
            let proto = if matches!(t, Traffic::Tcp(_)) {
                "tcp"
            } else {
                "udp"
            };
            if r.from == 0 && r.to == 65535 {
                format!("meta l4proto {proto} ")
            } else if r.from == r.to {
                format!("{proto} dport {} ", r.from)
            } else {
                format!("{proto} dport {}-{} ", r.from, r.to)
            }
        }
        Traffic::Icmp(m) => match (m.icmp_type, m.code) {
            (None, _) => "meta l4proto icmp ".into(),
            (Some(ty), None) => format!("icmp type {ty} "),
            (Some(ty), Some(code)) => format!("icmp type {ty} icmp code {code} "),
        },
        Traffic::Proto(p) => format!("meta l4proto {p} "),
    }
}

/// `ip saddr { ... } ` for a list of blocks; `None` when the list is
/// empty (the rule matches nothing), `Some("")` for 0.0.0.0/0.
fn addr_match(dir: &str, nets: &[Ipv4Net]) -> Option<String> {
    if nets.is_empty() {
        return None;
    }
    if nets.iter().any(|n| n.prefix_len() == 0) {
        return Some(String::new());
    }
    if let [one] = nets {
        return Some(format!("ip {dir} {one} "));
    }
    let list: Vec<String> = nets.iter().map(|n| n.to_string()).collect();
    Some(format!("ip {dir} {{ {} }} ", list.join(", ")))
}

fn sg_peer_nets(t: &Topology, peer: &Peer) -> Vec<Ipv4Net> {
    match peer {
        Peer::Cidr(n) => vec![*n],
        Peer::SecurityGroup(g) => t.members_of(*g).iter().map(|a| Ipv4Net::from(*a)).collect(),
        Peer::PrefixList(p) => t.prefix_lists[*p].cidrs.clone(),
    }
}

/// One nft rule per security group rule, ending in `verdict`.
fn sg_rules(out: &mut String, t: &Topology, rules: &[SgRule], dir: &str, verdict: &str) {
    for r in rules {
        let Some(addr) = addr_match(dir, &sg_peer_nets(t, &r.peer)) else {
            continue;
        };
        let _ = writeln!(out, "    {addr}{}{verdict}", traffic_match(&r.traffic));
    }
}

/// The security groups of one node: ingress on input, egress on output,
/// replies admitted by connection tracking; everything else dropped. A
/// node that `forwards` (an instance with its source/destination check
/// off) also filters what it forwards, as the analysis has it: a new flow
/// must pass an ingress rule and then an egress rule.
pub fn security_groups(t: &Topology, groups: &[usize], forwards: bool) -> String {
    let mut s = String::from("table inet vifgate_sg {\n  chain input {\n    type filter hook input priority 0; policy drop;\n    ct state established,related accept\n    iifname \"lo\" accept\n");
    let ingress = |s: &mut String, verdict: &str| {
        for &g in groups {
            let _ = writeln!(s, "    # {} ingress", t.security_groups[g].name);
            sg_rules(s, t, &t.security_groups[g].ingress, "saddr", verdict);
        }
    };
    let egress = |s: &mut String| {
        for &g in groups {
            let _ = writeln!(s, "    # {} egress", t.security_groups[g].name);
            sg_rules(s, t, &t.security_groups[g].egress, "daddr", "accept");
        }
    };
    ingress(&mut s, "accept");
    s.push_str("  }\n  chain output {\n    type filter hook output priority 0; policy drop;\n    ct state established,related accept\n    oifname \"lo\" accept\n");
    egress(&mut s);
    s.push_str("  }\n");
    if forwards {
        // falling off a chain entered by goto ends in the base chain's
        // policy: drop
        s.push_str("  chain forward {\n    type filter hook forward priority 0; policy drop;\n    ct state established,related accept\n    goto forward_ingress\n  }\n  chain forward_ingress {\n");
        ingress(&mut s, "goto forward_egress");
        s.push_str("  }\n  chain forward_egress {\n");
        egress(&mut s);
        s.push_str("  }\n");
    }
    s.push_str("}\n");
    s
}

fn nacl_chain(s: &mut String, name: &str, rules: &[NaclRule], dir: &str) {
    let _ = writeln!(s, "  chain {name} {{");
    for r in rules {
        let addr = addr_match(dir, &[r.cidr]).unwrap_or_default();
        // allow: back to the forward chain, which checks the other subnet
        let verdict = match r.action {
            NaclAction::Allow => "return",
            NaclAction::Deny => "drop",
        };
        let _ = writeln!(
            s,
            "    {addr}{}{verdict} comment \"rule {}\"",
            traffic_match(&r.traffic),
            r.number
        );
    }
    let _ = writeln!(s, "    drop comment \"rule *\"\n  }}");
}

/// The VPC router: each subnet's network ACL on its bridge (outbound as
/// packets leave the subnet, inbound as they enter it; stateless), and the
/// internet gateway: public addresses mapped one to one onto private ones,
/// nothing else in, only mapped sources out.
pub fn vpc_router(t: &Topology, internet: bool) -> String {
    let mut s = String::from("table ip vifgate_vpc {\n");
    let mut fwd = String::new();
    let bridges = crate::layout::subnet_bridges(t.subnets.iter().map(|s| s.name.as_str()));
    for (sub, bridge) in t.subnets.iter().zip(&bridges) {
        let acl = &t.nacls[sub.nacl];
        // chains named after the bridge: a subnet added renames no other's
        nacl_chain(&mut s, &format!("nacl_out_{bridge}"), &acl.egress, "daddr");
        nacl_chain(&mut s, &format!("nacl_in_{bridge}"), &acl.ingress, "saddr");
        let _ = writeln!(
            fwd,
            "    iifname \"{bridge}\" jump nacl_out_{bridge} comment \"{}\"",
            nft_comment(&format!("{} outbound ({})", sub.name, acl.name))
        );
        let _ = writeln!(
            fwd,
            "    oifname \"{bridge}\" jump nacl_in_{bridge} comment \"{}\"",
            nft_comment(&format!("{} inbound ({})", sub.name, acl.name))
        );
    }
    let mut map: Vec<(Ipv4Addr, Ipv4Addr)> = Vec::new();
    for n in &t.nodes {
        for i in &n.interfaces {
            if let (Attachment::Subnet(_), Some(public)) = (i.attachment, i.public_ip) {
                map.push((public, i.ip));
            }
        }
    }
    if internet {
        if map.is_empty() {
            fwd.push_str("    oifname \"igw\" drop comment \"no public addresses\"\n");
        } else {
            let privs: Vec<String> = map.iter().map(|(_, p)| p.to_string()).collect();
            let _ = writeln!(
                fwd,
                "    oifname \"igw\" ip saddr != {{ {} }} drop comment \"only mapped addresses reach the internet\"",
                privs.join(", ")
            );
        }
    }
    let _ = write!(
        s,
        "  chain forward {{\n    type filter hook forward priority 0; policy accept;\n{fwd}  }}\n"
    );
    if internet {
        let pubs: Vec<String> = map.iter().map(|(p, _)| p.to_string()).collect();
        s.push_str(
            "  chain igw_in {\n    type filter hook prerouting priority -150; policy accept;\n",
        );
        if pubs.is_empty() {
            s.push_str("    iifname \"igw\" drop\n");
        } else {
            let _ = writeln!(
                s,
                "    iifname \"igw\" ip daddr != {{ {} }} drop comment \"the internet reaches public addresses only\"",
                pubs.join(", ")
            );
        }
        s.push_str("  }\n");
        if !map.is_empty() {
            let dnat: Vec<String> = map.iter().map(|(p, q)| format!("{p} : {q}")).collect();
            let snat: Vec<String> = map.iter().map(|(p, q)| format!("{q} : {p}")).collect();
            let _ = write!(
                s,
                "  chain igw_dnat {{\n    type nat hook prerouting priority -100; policy accept;\n    iifname \"igw\" dnat to ip daddr map {{ {} }}\n  }}\n  chain igw_snat {{\n    type nat hook postrouting priority 100; policy accept;\n    oifname \"igw\" snat to ip saddr map {{ {} }}\n  }}\n",
                dnat.join(", "),
                snat.join(", ")
            );
        }
    }
    s.push_str("}\n");
    s
}

/// A NAT gateway: VPC sources out under its own address, replies back,
/// no connection opened from outside. TCP and UDP leave from a source port
/// picked at random in `ports` (AWS's 1024-65535), as AWS's NAT gateway
/// does and the analysis assumes; without `random` Linux keeps the
/// client's own port whenever it lies in the range, so the replies would
/// come back to Linux's 32768-60999 only.
pub fn nat_gateway(own: Ipv4Addr, vpc: Ipv4Net, ports: PortRange) -> String {
    let out = format!("ip saddr != {own} ip daddr != {vpc}");
    format!(
        "table ip vifgate_nat {{\n  chain forward {{\n    type filter hook forward priority 0; policy drop;\n    ct state established,related accept\n    ip saddr {vpc} ip daddr != {vpc} accept\n  }}\n  chain post {{\n    type nat hook postrouting priority 100; policy accept;\n    {out} meta l4proto {{ tcp, udp }} snat to {own}:{}-{} random\n    {out} snat to {own}\n  }}\n}}\n",
        ports.from, ports.to
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::example;
    use crate::render::names::NFT_COMMENT_MAX;

    #[test]
    fn security_group_rules_become_nft_rules() {
        let t = example();
        let web = t.nodes.iter().find(|n| n.name == "web-a1").expect("web-a1");
        let s = security_groups(&t, &web.security_groups, false);
        // HTTP from the ALB's members, SSH from the bastion's
        assert!(
            s.contains("ip saddr { 10.0.0.20/32, 10.0.1.20/32 } tcp dport 80 accept"),
            "{s}"
        );
        assert!(
            s.contains("ip saddr 10.0.0.10/32 tcp dport 22 accept"),
            "{s}"
        );
        assert!(s.contains("policy drop"));
        let bastion = t
            .nodes
            .iter()
            .find(|n| n.name == "bastion")
            .expect("bastion");
        let s = security_groups(&t, &bastion.security_groups, false);
        assert!(
            s.contains("ip saddr { 192.168.10.0/24, 192.168.20.0/24 } tcp dport 22 accept"),
            "{s}"
        );
    }

    #[test]
    fn nacls_are_stateless_chains_in_rule_order() {
        let t = example();
        let s = vpc_router(&t, true);
        let db_a = t
            .subnets
            .iter()
            .position(|x| x.name == "db-a")
            .expect("db-a");
        let chain = format!(
            "chain nacl_in_{} {{",
            crate::layout::subnet_bridges(t.subnets.iter().map(|s| s.name.as_str()))[db_a]
        );
        let at = s.find(&chain).expect("db-a inbound chain");
        let body = &s[at..at + s[at..].find("\n  }").expect("end")];
        let r100 = body.find("rule 100").expect("100");
        let r110 = body.find("rule 110").expect("110");
        assert!(r100 < r110);
        assert!(
            body.contains("ip saddr 10.0.10.0/23 tcp dport 3306 return"),
            "{body}"
        );
        assert!(
            body.trim_end().ends_with("drop comment \"rule *\""),
            "{body}"
        );
        // one-to-one NAT of the bastion
        assert!(s.contains("203.0.113.10 : 10.0.0.10"));
        assert!(s.contains("10.0.0.10 : 203.0.113.10"));
    }

    #[test]
    fn public_auto_scaling_instances_get_the_internet_gateways_one_to_one_nat() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/yeohaengjigi.toml");
        let text = std::fs::read_to_string(path).expect("the example");
        let old = "host_prefix = \"web\"\n";
        assert!(text.contains(old), "the example's web group");
        let text = text.replace(old, "host_prefix = \"web\"\npublic_ip = true\n");
        let t = topology::parse("public-web.toml", text)
            .expect("the variant loads")
            .topology;
        let web = &t.nodes[t.node_by_name("web-a1").expect("web-a1")].interfaces[0];
        let public = web.public_ip.expect("web-a1 has a public address");
        let s = vpc_router(&t, true);
        assert!(s.contains(&format!("{public} : {}", web.ip)), "{s}");
        assert!(s.contains(&format!("{} : {public}", web.ip)), "{s}");
        // the bundled example's web instances have none
        let s = vpc_router(&example(), true);
        assert!(!s.contains(&format!("{} : ", web.ip)), "{s}");
    }

    #[test]
    fn port_ranges_and_icmp() {
        use topology::traffic::IcmpMatch;
        assert_eq!(traffic_match(&Traffic::All), "");
        assert_eq!(
            traffic_match(&Traffic::Tcp(PortRange::ALL)),
            "meta l4proto tcp "
        );
        assert_eq!(
            traffic_match(&Traffic::Udp(PortRange {
                from: 1024,
                to: 65535
            })),
            "udp dport 1024-65535 "
        );
        assert_eq!(
            traffic_match(&Traffic::Icmp(IcmpMatch {
                icmp_type: Some(8),
                code: None
            })),
            "icmp type 8 "
        );
        assert_eq!(addr_match("saddr", &[]), None);
        assert_eq!(
            addr_match("saddr", &["0.0.0.0/0".parse().expect("net")]),
            Some(String::new())
        );
    }

    #[test]
    fn comments_from_names_fit_nft() {
        assert_eq!(
            nft_comment("app-a outbound (db-acl)"),
            "app-a outbound (db-acl)"
        );
        assert_eq!(nft_comment("a\"b\\c"), "a'b'c");
        let long = nft_comment(&format!("{} outbound ({})", "s".repeat(51), "é".repeat(60)));
        assert!(
            long.len() <= NFT_COMMENT_MAX && long.len() > NFT_COMMENT_MAX - 2,
            "{long}"
        );
        // a ruleset with such names: every comment fits
        let text = example_text_with_long_subnet_names();
        let t = topology::parse("long.toml", text).expect("loads").topology;
        let s = vpc_router(&t, true);
        for line in s.lines().filter(|l| l.contains("comment \"")) {
            let c = &line[line.find("comment \"").expect("comment") + 9..line.len() - 1];
            assert!(c.len() <= NFT_COMMENT_MAX && !c.contains('"'), "{line}");
        }
    }

    /// The example with a subnet and a network ACL given long names, one
    /// with a `"`.
    fn example_text_with_long_subnet_names() -> String {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/yeohaengjigi.toml");
        let text = std::fs::read_to_string(path).expect("the example");
        let subnet = format!("{}\\\"q", "s".repeat(80));
        let acl = "n".repeat(90);
        text.replace("\"db-a\"", &format!("\"{subnet}\""))
            .replace("\"db-nacl\"", &format!("\"{acl}\""))
    }
}
