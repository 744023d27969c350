//! nftables rulesets for a lab: security groups (stateful, in each VPC
//! node's namespace), network ACLs and the internet gateway's one-to-one
//! NAT (in the VPC router), NAT gateways (masquerade). Text for `nft -f`,
//! generated from the same model the static analysis reads.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use topology::model::{Attachment, Topology};
use topology::nacl::{NaclAction, NaclRule};
use topology::security_group::{Peer, SgRule};
use topology::traffic::{PortRange, Traffic};

use crate::render::nft::{
    Action, Addr, AddrField, Addrs, BaseChain, Chain, ChainKind, Family, Hook, Line, Match,
    NatKind, Policy, Rule, Table,
};

/// A base chain `kind` on `hook` at `priority` with `policy`.
fn base(kind: ChainKind, hook: Hook, priority: i32, policy: Policy) -> Option<BaseChain> {
    Some(BaseChain {
        kind,
        hook,
        priority,
        policy,
    })
}

/// The match of a rule's protocol, ports or ICMP type/code (none for
/// every packet).
fn traffic_match(t: &Traffic) -> Option<Match> {
    (*t != Traffic::All).then_some(Match::Traffic(*t))
}

/// `ip saddr ...` for a list of blocks: `None` when the list is empty
/// (the rule matches nothing), `Some(None)` for 0.0.0.0/0 (every
/// address: no match needed).
fn addr_match(field: AddrField, nets: &[Ipv4Net]) -> Option<Option<Match>> {
    if nets.is_empty() {
        return None;
    }
    if nets.iter().any(|n| n.prefix_len() == 0) {
        return Some(None);
    }
    let value = match nets {
        [one] => Addrs::One(Addr::Net(*one)),
        _ => Addrs::Set(nets.iter().map(|n| Addr::Net(*n)).collect()),
    };
    Some(Some(Match::Addr {
        field,
        negated: false,
        value,
    }))
}

/// `ip F != { A, ... }`.
fn not_in(field: AddrField, addrs: impl Iterator<Item = Ipv4Addr>) -> Match {
    Match::Addr {
        field,
        negated: true,
        value: Addrs::Set(addrs.map(Addr::Host).collect()),
    }
}

fn sg_peer_nets(t: &Topology, peer: &Peer) -> Vec<Ipv4Net> {
    match peer {
        Peer::Cidr(n) => vec![*n],
        Peer::SecurityGroup(g) => t.members_of(*g).iter().map(|a| Ipv4Net::from(*a)).collect(),
        Peer::PrefixList(p) => t.prefix_lists[*p].cidrs.clone(),
    }
}

/// One nft rule per security group rule, ending in `verdict`.
fn sg_rules(t: &Topology, rules: &[SgRule], field: AddrField, verdict: &Action) -> Vec<Line> {
    rules
        .iter()
        .filter_map(|r| {
            let addr = addr_match(field, &sg_peer_nets(t, &r.peer))?;
            let matches = addr.into_iter().chain(traffic_match(&r.traffic)).collect();
            Some(Rule::new(matches, verdict.clone()).into())
        })
        .collect()
}

/// The first rules of a filter chain: replies admitted by connection
/// tracking, and `extra`.
fn established(extra: Option<Rule>) -> Vec<Line> {
    let mut v = vec![Rule::new(vec![Match::EstablishedOrRelated], Action::Accept).into()];
    v.extend(extra.map(Line::from));
    v
}

/// The security groups of one node (see [`security_groups`]), as a table.
pub fn security_groups_table(t: &Topology, groups: &[usize], forwards: bool) -> Table {
    let per_group = |ingress: bool, verdict: &Action| -> Vec<Line> {
        let mut v = Vec::new();
        for &g in groups {
            let sg = &t.security_groups[g];
            let (what, rules, field) = if ingress {
                ("ingress", &sg.ingress, AddrField::Source)
            } else {
                ("egress", &sg.egress, AddrField::Destination)
            };
            v.push(Line::Comment(format!("{} {what}", sg.name)));
            v.extend(sg_rules(t, rules, field, verdict));
        }
        v
    };
    let lo = |m: Match| Some(Rule::new(vec![m], Action::Accept));
    let filter = |hook| base(ChainKind::Filter, hook, 0, Policy::Drop);
    let mut input = established(lo(Match::InInterface("lo".into())));
    input.extend(per_group(true, &Action::Accept));
    let mut output = established(lo(Match::OutInterface("lo".into())));
    output.extend(per_group(false, &Action::Accept));
    let mut chains = vec![
        Chain {
            name: "input".into(),
            base: filter(Hook::Input),
            lines: input,
        },
        Chain {
            name: "output".into(),
            base: filter(Hook::Output),
            lines: output,
        },
    ];
    if forwards {
        // falling off a chain entered by goto ends in the base chain's
        // policy: drop
        chains.extend([
            Chain {
                name: "forward".into(),
                base: filter(Hook::Forward),
                lines: established(Some(Rule::new(
                    vec![],
                    Action::Goto("forward_ingress".into()),
                ))),
            },
            Chain {
                name: "forward_ingress".into(),
                base: None,
                lines: per_group(true, &Action::Goto("forward_egress".into())),
            },
            Chain {
                name: "forward_egress".into(),
                base: None,
                lines: per_group(false, &Action::Accept),
            },
        ]);
    }
    Table {
        family: Family::Inet,
        name: "vifgate_sg".into(),
        chains,
    }
}

/// The security groups of one node: ingress on input, egress on output,
/// replies admitted by connection tracking; everything else dropped. A
/// node that `forwards` (an instance with its source/destination check
/// off) also filters what it forwards, as the analysis has it: a new flow
/// must pass an ingress rule and then an egress rule.
pub fn security_groups(t: &Topology, groups: &[usize], forwards: bool) -> String {
    security_groups_table(t, groups, forwards).to_string()
}

fn nacl_chain(name: String, rules: &[NaclRule], field: AddrField) -> Chain {
    let mut lines: Vec<Line> = rules
        .iter()
        .map(|r| {
            let addr = addr_match(field, &[r.cidr]).flatten();
            // allow: back to the forward chain, which checks the other subnet
            let verdict = match r.action {
                NaclAction::Allow => Action::Return,
                NaclAction::Deny => Action::Drop,
            };
            let matches = addr.into_iter().chain(traffic_match(&r.traffic)).collect();
            Rule::new(matches, verdict)
                .comment(format!("rule {}", r.number))
                .into()
        })
        .collect();
    lines.push(Rule::new(vec![], Action::Drop).comment("rule *").into());
    Chain {
        name,
        base: None,
        lines,
    }
}

/// The VPC router (see [`vpc_router`]), as a table.
pub fn vpc_router_table(t: &Topology, internet: bool) -> Table {
    let mut chains = Vec::new();
    let mut fwd: Vec<Line> = Vec::new();
    let iif = |i: String| Match::InInterface(i);
    let oif = |i: String| Match::OutInterface(i);
    let bridges = crate::layout::subnet_bridges(t.subnets.iter().map(|s| s.name.as_str()));
    for (sub, bridge) in t.subnets.iter().zip(&bridges) {
        let acl = &t.nacls[sub.nacl];
        // chains named after the bridge: a subnet added renames no other's
        let (out, inn) = (format!("nacl_out_{bridge}"), format!("nacl_in_{bridge}"));
        chains.push(nacl_chain(out.clone(), &acl.egress, AddrField::Destination));
        chains.push(nacl_chain(inn.clone(), &acl.ingress, AddrField::Source));
        fwd.push(
            Rule::new(vec![iif(bridge.clone())], Action::Jump(out))
                .comment(format!("{} outbound ({})", sub.name, acl.name))
                .into(),
        );
        fwd.push(
            Rule::new(vec![oif(bridge.clone())], Action::Jump(inn))
                .comment(format!("{} inbound ({})", sub.name, acl.name))
                .into(),
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
    let igw = || "igw".to_string();
    if internet {
        fwd.push(
            if map.is_empty() {
                Rule::new(vec![oif(igw())], Action::Drop).comment("no public addresses")
            } else {
                let privs = not_in(AddrField::Source, map.iter().map(|(_, p)| *p));
                Rule::new(vec![oif(igw()), privs], Action::Drop)
                    .comment("only mapped addresses reach the internet")
            }
            .into(),
        );
    }
    chains.push(Chain {
        name: "forward".into(),
        base: base(ChainKind::Filter, Hook::Forward, 0, Policy::Accept),
        lines: fwd,
    });
    if internet {
        let drop = if map.is_empty() {
            Rule::new(vec![iif(igw())], Action::Drop)
        } else {
            let pubs = not_in(AddrField::Destination, map.iter().map(|(p, _)| *p));
            Rule::new(vec![iif(igw()), pubs], Action::Drop)
                .comment("the internet reaches public addresses only")
        };
        chains.push(Chain {
            name: "igw_in".into(),
            base: base(ChainKind::Filter, Hook::Prerouting, -150, Policy::Accept),
            lines: vec![drop.into()],
        });
        if !map.is_empty() {
            let swapped = map.iter().map(|(p, q)| (*q, *p)).collect();
            chains.push(Chain {
                name: "igw_dnat".into(),
                base: base(ChainKind::Nat, Hook::Prerouting, -100, Policy::Accept),
                lines: vec![Rule::new(
                    vec![iif(igw())],
                    Action::NatMap {
                        kind: NatKind::Destination,
                        map,
                    },
                )
                .into()],
            });
            chains.push(Chain {
                name: "igw_snat".into(),
                base: base(ChainKind::Nat, Hook::Postrouting, 100, Policy::Accept),
                lines: vec![Rule::new(
                    vec![oif(igw())],
                    Action::NatMap {
                        kind: NatKind::Source,
                        map: swapped,
                    },
                )
                .into()],
            });
        }
    }
    Table {
        family: Family::Ip,
        name: "vifgate_vpc".into(),
        chains,
    }
}

/// The VPC router: each subnet's network ACL on its bridge (outbound as
/// packets leave the subnet, inbound as they enter it; stateless), and the
/// internet gateway: public addresses mapped one to one onto private ones,
/// nothing else in, only mapped sources out.
pub fn vpc_router(t: &Topology, internet: bool) -> String {
    vpc_router_table(t, internet).to_string()
}

/// A NAT gateway (see [`nat_gateway`]), as a table.
pub fn nat_gateway_table(own: Ipv4Addr, vpc: Ipv4Net, ports: PortRange) -> Table {
    let addr = |field, negated, value| Match::Addr {
        field,
        negated,
        value,
    };
    let vpc_addr = || Addrs::One(Addr::Net(vpc));
    let outbound = || {
        vec![
            addr(AddrField::Source, true, Addrs::One(Addr::Host(own))),
            addr(AddrField::Destination, true, vpc_addr()),
        ]
    };
    let mut l4 = outbound();
    l4.push(Match::Protocols(vec!["tcp", "udp"]));
    let leaving = vec![
        addr(AddrField::Source, false, vpc_addr()),
        addr(AddrField::Destination, true, vpc_addr()),
    ];
    let mut forward = established(None);
    forward.push(Rule::new(leaving, Action::Accept).into());
    Table {
        family: Family::Ip,
        name: "vifgate_nat".into(),
        chains: vec![
            Chain {
                name: "forward".into(),
                base: base(ChainKind::Filter, Hook::Forward, 0, Policy::Drop),
                lines: forward,
            },
            Chain {
                name: "post".into(),
                base: base(ChainKind::Nat, Hook::Postrouting, 100, Policy::Accept),
                lines: vec![
                    Rule::new(
                        l4,
                        Action::Snat {
                            to: own,
                            ports: Some(ports),
                            random: true,
                        },
                    )
                    .into(),
                    Rule::new(
                        outbound(),
                        Action::Snat {
                            to: own,
                            ports: None,
                            random: false,
                        },
                    )
                    .into(),
                ],
            },
        ],
    }
}

/// A NAT gateway: VPC sources out under its own address, replies back,
/// no connection opened from outside. TCP and UDP leave from a source port
/// picked at random in `ports` (AWS's 1024-65535), as AWS's NAT gateway
/// does and the analysis assumes; without `random` Linux keeps the
/// client's own port whenever it lies in the range, so the replies would
/// come back to Linux's 32768-60999 only.
pub fn nat_gateway(own: Ipv4Addr, vpc: Ipv4Net, ports: PortRange) -> String {
    nat_gateway_table(own, vpc, ports).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::example;
    use crate::render::names::{nft_comment, NFT_COMMENT_MAX};

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
        let text = |t: &Traffic| traffic_match(t).map(|m| m.to_string());
        assert_eq!(text(&Traffic::All), None);
        assert_eq!(
            text(&Traffic::Tcp(PortRange::ALL)).as_deref(),
            Some("meta l4proto tcp")
        );
        assert_eq!(
            text(&Traffic::Udp(PortRange {
                from: 1024,
                to: 65535
            }))
            .as_deref(),
            Some("udp dport 1024-65535")
        );
        assert_eq!(
            text(&Traffic::Icmp(IcmpMatch {
                icmp_type: Some(8),
                code: None
            }))
            .as_deref(),
            Some("icmp type 8")
        );
        assert_eq!(addr_match(AddrField::Source, &[]), None);
        assert_eq!(
            addr_match(AddrField::Source, &["0.0.0.0/0".parse().expect("net")]),
            Some(None)
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
