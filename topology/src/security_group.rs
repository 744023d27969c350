//! Security groups: the reference evaluator.
//!
//! AWS semantics (see `docs/semantics.md`): allow
//! rules only; the rules of every group on an interface are pooled and the
//! most permissive one applies, whatever their order; a peer is a CIDR, a
//! prefix list, or another group (the private addresses of its members).
//! Stateful: replies of an allowed flow pass whatever the other direction
//! says — that part lives with connection tracking in the analyzer and the
//! gateway; this module decides new flows.
//!
//! This evaluator is *the* definition. Faster classifiers elsewhere are
//! checked against it.
//!
//! # Fragments
//!
//! A non-first fragment carries no transport header: it is the packet
//! `L4::Other(protocol)`, with no ports and no ICMP type. A TCP, UDP or ICMP
//! rule reads the header, so it matches no such fragment; a rule for all
//! traffic or for the protocol number does. A gateway never decides a
//! non-first fragment on its own, though: the first fragment's verdict is the
//! datagram's (`gateway/src/router/fragments.rs`, `docs/gateway.md`,
//! "Fragments").

use std::fmt;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::traffic::{split_ports, Packet, PortRange, Traffic};

/// Index of a security group in [`crate::Topology::security_groups`].
pub type SgId = usize;
/// Index of a prefix list in [`crate::Topology::prefix_lists`].
pub type PrefixListId = usize;

/// Which way traffic crosses the interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Into the interface; the peer is the packet's source.
    Ingress,
    /// Out of the interface; the peer is the packet's destination.
    Egress,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        })
    }
}

/// The other end of a security-group rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Peer {
    /// An IPv4 block.
    Cidr(Ipv4Net),
    /// The private addresses of the members of a group.
    SecurityGroup(SgId),
    /// The entries of a managed prefix list.
    PrefixList(PrefixListId),
}

/// One allow rule.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SgRule {
    /// Protocol and ports.
    pub traffic: Traffic,
    /// Who is allowed.
    pub peer: Peer,
    /// Free text from the file.
    pub description: Option<String>,
}

/// A security group.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SecurityGroup {
    /// Its name.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Inbound allow rules.
    pub ingress: Vec<SgRule>,
    /// Outbound allow rules.
    pub egress: Vec<SgRule>,
}

impl SecurityGroup {
    /// The rules of one direction.
    pub fn rules(&self, dir: Direction) -> &[SgRule] {
        match dir {
            Direction::Ingress => &self.ingress,
            Direction::Egress => &self.egress,
        }
    }

    /// The one allow-all outbound rule a new group (and CloudFormation's
    /// group without egress rules) gets.
    pub fn allow_all_egress() -> SgRule {
        SgRule {
            traffic: Traffic::All,
            peer: Peer::Cidr(Ipv4Net::default()),
            description: Some("default allow-all egress".into()),
        }
    }
}

/// What an evaluator needs to know beyond the rules: group membership and
/// prefix lists.
pub trait PeerResolver {
    /// Whether `addr` is a private address of a member of group `sg`.
    fn is_member(&self, sg: SgId, addr: Ipv4Addr) -> bool;
    /// The blocks of a prefix list.
    fn prefix_list(&self, id: PrefixListId) -> &[Ipv4Net];
}

impl Peer {
    /// Whether the peer includes `addr`.
    pub fn contains(&self, addr: Ipv4Addr, ctx: &impl PeerResolver) -> bool {
        match self {
            Peer::Cidr(net) => net.contains(&addr),
            Peer::SecurityGroup(sg) => ctx.is_member(*sg, addr),
            Peer::PrefixList(pl) => ctx.prefix_list(*pl).iter().any(|n| n.contains(&addr)),
        }
    }
}

impl SgRule {
    /// Whether the rule allows `packet` crossing in direction `dir`.
    pub fn matches(&self, dir: Direction, packet: &Packet, ctx: &impl PeerResolver) -> bool {
        let peer_addr = match dir {
            Direction::Ingress => packet.src,
            Direction::Egress => packet.dst,
        };
        self.traffic.matches(&packet.l4) && self.peer.contains(peer_addr, ctx)
    }
}

/// The rule that allowed a packet: group and index of the rule in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct SgMatch {
    /// The group.
    pub group: SgId,
    /// Index into the group's rules of that direction.
    pub rule: usize,
}

/// Decides a new flow against the pooled rules of `groups` (the groups of
/// one interface). `Some` names a rule that allows it (the first in file
/// order; any would do, since every rule is considered), `None` is a drop.
pub fn evaluate(
    groups: &[SgId],
    all: &[SecurityGroup],
    dir: Direction,
    packet: &Packet,
    ctx: &impl PeerResolver,
) -> Option<SgMatch> {
    groups.iter().find_map(|&g| {
        all[g]
            .rules(dir)
            .iter()
            .position(|r| r.matches(dir, packet, ctx))
            .map(|rule| SgMatch { group: g, rule })
    })
}

/// The rules of one group and direction, bucketed so that a packet is
/// matched only against rules that could match it: single-port TCP/UDP
/// rules by (protocol, port), every other rule in one list. The match
/// itself is [`SgRule::matches`]; the index only skips rules that cannot
/// match, so [`evaluate_indexed`] and [`evaluate`] agree (property-tested).
#[derive(Debug, Clone, Default)]
pub struct RuleIndex {
    by_port: Vec<((u8, u16), Vec<u32>)>,
    rest: Vec<u32>,
}

impl RuleIndex {
    /// Indexes a list of rules.
    pub fn new(rules: &[SgRule]) -> Self {
        let mut by_port: Vec<((u8, u16), Vec<u32>)> = Vec::new();
        let mut rest = Vec::new();
        for (i, r) in rules.iter().enumerate() {
            let key = match r.traffic {
                Traffic::Tcp(p) if p.from == p.to => Some((crate::traffic::proto::TCP, p.from)),
                Traffic::Udp(p) if p.from == p.to => Some((crate::traffic::proto::UDP, p.from)),
                _ => None,
            };
            match key {
                Some(k) => match by_port.binary_search_by_key(&k, |(k, _)| *k) {
                    Ok(at) => by_port[at].1.push(i as u32),
                    Err(at) => by_port.insert(at, (k, vec![i as u32])),
                },
                None => rest.push(i as u32),
            }
        }
        RuleIndex { by_port, rest }
    }

    /// Index of the first rule (in file order) that allows `packet`.
    pub fn first_match(
        &self,
        rules: &[SgRule],
        dir: Direction,
        packet: &Packet,
        ctx: &impl PeerResolver,
    ) -> Option<usize> {
        let hit = |list: &[u32]| {
            list.iter()
                .copied()
                .find(|&i| rules[i as usize].matches(dir, packet, ctx))
        };
        let bucket = packet.l4.dst_port().and_then(|port| {
            let key = (packet.l4.protocol(), port);
            self.by_port
                .binary_search_by_key(&key, |(k, _)| *k)
                .ok()
                .and_then(|at| hit(&self.by_port[at].1))
        });
        let other = hit(&self.rest);
        match (bucket, other) {
            (Some(a), Some(b)) => Some(a.min(b) as usize),
            (a, b) => a.or(b).map(|i| i as usize),
        }
    }
}

/// A [`RuleIndex`] per group and direction.
#[derive(Debug, Clone, Default)]
pub struct SgIndex {
    ingress: Vec<RuleIndex>,
    egress: Vec<RuleIndex>,
}

impl SgIndex {
    /// Indexes every group.
    pub fn new(all: &[SecurityGroup]) -> Self {
        SgIndex {
            ingress: all.iter().map(|g| RuleIndex::new(&g.ingress)).collect(),
            egress: all.iter().map(|g| RuleIndex::new(&g.egress)).collect(),
        }
    }
}

/// [`evaluate`], through an index: the same verdict and the same rule.
pub fn evaluate_indexed(
    groups: &[SgId],
    all: &[SecurityGroup],
    index: &SgIndex,
    dir: Direction,
    packet: &Packet,
    ctx: &impl PeerResolver,
) -> Option<SgMatch> {
    let idx = match dir {
        Direction::Ingress => &index.ingress,
        Direction::Egress => &index.egress,
    };
    groups.iter().find_map(|&g| {
        idx[g]
            .first_match(all[g].rules(dir), dir, packet, ctx)
            .map(|rule| SgMatch { group: g, rule })
    })
}

/// Decides every packet like `packet` whose destination port lies in
/// `ports`, split where the decision changes. Built on [`evaluate`].
pub fn evaluate_ports(
    groups: &[SgId],
    all: &[SecurityGroup],
    dir: Direction,
    packet: &Packet,
    ports: PortRange,
    ctx: &impl PeerResolver,
) -> Vec<(PortRange, Option<SgMatch>)> {
    if packet.l4.dst_port().is_none() {
        return vec![(ports, evaluate(groups, all, dir, packet, ctx))];
    }
    let edges = groups
        .iter()
        .flat_map(|&g| all[g].rules(dir).iter().filter_map(|r| r.traffic.ports()));
    let mut out: Vec<(PortRange, Option<SgMatch>)> = Vec::new();
    for piece in split_ports(ports, edges) {
        let probe = Packet {
            l4: packet.l4.with_dst_port(piece.from),
            ..*packet
        };
        let m = evaluate(groups, all, dir, &probe, ctx);
        match out.last_mut() {
            Some((r, last)) if last.is_some() == m.is_some() => r.to = piece.to,
            _ => out.push((piece, m)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traffic::L4;
    use proptest::prelude::*;

    struct Members(Vec<(SgId, Ipv4Addr)>, Vec<Vec<Ipv4Net>>);
    impl PeerResolver for Members {
        fn is_member(&self, sg: SgId, addr: Ipv4Addr) -> bool {
            self.0.contains(&(sg, addr))
        }
        fn prefix_list(&self, id: PrefixListId) -> &[Ipv4Net] {
            &self.1[id]
        }
    }

    fn rule(traffic: Traffic, peer: Peer) -> SgRule {
        SgRule {
            traffic,
            peer,
            description: None,
        }
    }

    fn group(ingress: Vec<SgRule>, egress: Vec<SgRule>) -> SecurityGroup {
        SecurityGroup {
            name: "g".into(),
            description: None,
            ingress,
            egress,
        }
    }

    fn pkt(src: [u8; 4], dst: [u8; 4], port: u16) -> Packet {
        Packet {
            src: src.into(),
            dst: dst.into(),
            l4: L4::Tcp {
                src_port: 40000,
                dst_port: port,
            },
        }
    }

    fn net(s: &str) -> Peer {
        Peer::Cidr(s.parse().unwrap())
    }

    #[test]
    fn no_rule_means_drop() {
        let groups = vec![group(vec![], vec![])];
        let none = Members(vec![], vec![]);
        let p = pkt([10, 0, 0, 1], [10, 0, 0, 2], 22);
        assert_eq!(evaluate(&[0], &groups, Direction::Ingress, &p, &none), None);
        assert_eq!(evaluate(&[0], &groups, Direction::Egress, &p, &none), None);
    }

    #[test]
    fn rules_of_all_groups_are_pooled() {
        // group 0 allows 22 from the office, group 1 allows 80 from anywhere;
        // an interface with both allows both
        let groups = vec![
            group(
                vec![rule(
                    Traffic::Tcp(PortRange::single(22)),
                    net("192.168.0.0/16"),
                )],
                vec![],
            ),
            group(
                vec![rule(Traffic::Tcp(PortRange::single(80)), net("0.0.0.0/0"))],
                vec![],
            ),
        ];
        let ctx = Members(vec![], vec![]);
        let ssh = pkt([192, 168, 1, 1], [10, 0, 0, 2], 22);
        let web = pkt([8, 8, 8, 8], [10, 0, 0, 2], 80);
        let ssh_from_internet = pkt([8, 8, 8, 8], [10, 0, 0, 2], 22);
        assert_eq!(
            evaluate(&[0, 1], &groups, Direction::Ingress, &ssh, &ctx),
            Some(SgMatch { group: 0, rule: 0 })
        );
        assert_eq!(
            evaluate(&[0, 1], &groups, Direction::Ingress, &web, &ctx),
            Some(SgMatch { group: 1, rule: 0 })
        );
        assert_eq!(
            evaluate(
                &[0, 1],
                &groups,
                Direction::Ingress,
                &ssh_from_internet,
                &ctx
            ),
            None
        );
    }

    #[test]
    fn group_peer_matches_members_private_addresses_only() {
        let groups = vec![group(
            vec![rule(
                Traffic::Tcp(PortRange::single(3306)),
                Peer::SecurityGroup(1),
            )],
            vec![],
        )];
        let ctx = Members(vec![(1, Ipv4Addr::new(10, 0, 10, 5))], vec![]);
        let member = pkt([10, 0, 10, 5], [10, 0, 20, 5], 3306);
        let other = pkt([10, 0, 10, 6], [10, 0, 20, 5], 3306);
        assert!(evaluate(&[0], &groups, Direction::Ingress, &member, &ctx).is_some());
        assert!(evaluate(&[0], &groups, Direction::Ingress, &other, &ctx).is_none());
    }

    #[test]
    fn prefix_list_peer() {
        let groups = vec![group(vec![rule(Traffic::All, Peer::PrefixList(0))], vec![])];
        let ctx = Members(vec![], vec![vec!["192.168.10.0/24".parse().unwrap()]]);
        assert!(evaluate(
            &[0],
            &groups,
            Direction::Ingress,
            &pkt([192, 168, 10, 9], [10, 0, 0, 1], 1),
            &ctx
        )
        .is_some());
        assert!(evaluate(
            &[0],
            &groups,
            Direction::Ingress,
            &pkt([192, 168, 11, 9], [10, 0, 0, 1], 1),
            &ctx
        )
        .is_none());
    }

    #[test]
    fn egress_matches_on_the_destination() {
        let groups = vec![group(
            vec![],
            vec![rule(
                Traffic::Tcp(PortRange::single(443)),
                net("10.0.0.0/8"),
            )],
        )];
        let ctx = Members(vec![], vec![]);
        assert!(evaluate(
            &[0],
            &groups,
            Direction::Egress,
            &pkt([1, 1, 1, 1], [10, 1, 1, 1], 443),
            &ctx
        )
        .is_some());
        assert!(evaluate(
            &[0],
            &groups,
            Direction::Egress,
            &pkt([10, 1, 1, 1], [1, 1, 1, 1], 443),
            &ctx
        )
        .is_none());
    }

    fn arb_rule() -> impl Strategy<Value = SgRule> {
        (0u8..5, 0u16..6, 0u16..3, 0u8..4, 0u8..3).prop_map(|(p, a, w, peer, pl)| {
            let ports = PortRange {
                from: 20 + a,
                to: 20 + a + if w == 0 { 0 } else { w * 2 },
            };
            let traffic = match p {
                0 => Traffic::All,
                1 | 2 => Traffic::Tcp(ports),
                3 => Traffic::Udp(ports),
                _ => Traffic::Proto(6),
            };
            let peer = match peer {
                0 => Peer::Cidr("0.0.0.0/0".parse().unwrap()),
                1 => Peer::Cidr("10.0.0.0/30".parse().unwrap()),
                2 => Peer::SecurityGroup(pl as usize % 2),
                _ => Peer::PrefixList(0),
            };
            SgRule {
                traffic,
                peer,
                description: None,
            }
        })
    }

    proptest! {
        /// The indexed evaluation gives the same verdict and rule as the
        /// reference scan.
        #[test]
        fn index_agrees_with_the_reference(
            g0 in prop::collection::vec(arb_rule(), 0..12),
            g1 in prop::collection::vec(arb_rule(), 0..12),
            src in 0u8..6, proto in 0u8..5, port in 18u16..30,
        ) {
            let groups = vec![group(g0.clone(), g0), group(g1.clone(), g1)];
            let ctx = Members(
                vec![(0, Ipv4Addr::new(10, 0, 0, 1)), (1, Ipv4Addr::new(10, 0, 0, 5))],
                vec![vec!["10.0.0.4/30".parse().unwrap()]],
            );
            let index = SgIndex::new(&groups);
            let l4 = match proto {
                0 => L4::Tcp { src_port: 40000, dst_port: port },
                1 => L4::Udp { src_port: 40000, dst_port: port },
                2 => L4::Icmp { icmp_type: 8, code: 0 },
                // a non-first fragment of TCP or UDP
                3 => L4::Other(6),
                _ => L4::Other(17),
            };
            let p = Packet { src: Ipv4Addr::new(10, 0, 0, src), dst: Ipv4Addr::new(10, 0, 0, 5 - src.min(5)), l4 };
            for dir in [Direction::Ingress, Direction::Egress] {
                for sel in [&[0usize][..], &[1], &[0, 1], &[1, 0]] {
                    prop_assert_eq!(
                        evaluate_indexed(sel, &groups, &index, dir, &p, &ctx),
                        evaluate(sel, &groups, dir, &p, &ctx)
                    );
                }
            }
        }
    }

    #[test]
    fn a_non_first_fragment_matches_only_all_and_protocol_rules() {
        let ctx = Members(vec![], vec![]);
        let any = || net("0.0.0.0/0");
        let typed = group(
            vec![
                rule(Traffic::Tcp(PortRange { from: 1, to: 65535 }), any()),
                rule(Traffic::Udp(PortRange { from: 1, to: 65535 }), any()),
                rule(Traffic::Icmp(crate::traffic::IcmpMatch::ALL), any()),
            ],
            vec![],
        );
        let numbered = |p| group(vec![rule(Traffic::Proto(p), any())], vec![]);
        let all = group(vec![rule(Traffic::All, any())], vec![]);
        for proto in [6u8, 17, 1] {
            let fragment = Packet {
                src: Ipv4Addr::new(10, 0, 10, 20),
                dst: Ipv4Addr::new(192, 168, 10, 10),
                l4: L4::Other(proto),
            };
            let verdict = |g: &SecurityGroup| {
                evaluate(
                    &[0],
                    std::slice::from_ref(g),
                    Direction::Ingress,
                    &fragment,
                    &ctx,
                )
            };
            assert_eq!(verdict(&typed), None, "protocol {proto}");
            assert!(verdict(&numbered(proto)).is_some());
            assert!(verdict(&all).is_some());
        }
    }

    #[test]
    fn default_egress_allows_everything() {
        let groups = vec![group(vec![], vec![SecurityGroup::allow_all_egress()])];
        let ctx = Members(vec![], vec![]);
        let p = Packet {
            src: Ipv4Addr::new(10, 0, 0, 1),
            dst: Ipv4Addr::new(1, 2, 3, 4),
            l4: L4::Other(47),
        };
        assert!(evaluate(&[0], &groups, Direction::Egress, &p, &ctx).is_some());
    }
}
