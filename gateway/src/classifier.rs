//! The gateway's fast ACL classifier: security groups and a network ACL
//! compiled into flat tables of integer masks, looked up per packet.
//!
//! The reference semantics are `topology::security_group::evaluate` and
//! `topology::nacl::NetworkAcl::evaluate`; this module must give the same
//! verdicts — and name the same rule, so hit counters mean what a reader of
//! the config expects. The property tests below check it on random rule
//! sets and packets.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use topology::nacl::{NaclAction, NetworkAcl};
use topology::security_group::{Direction, Peer, PeerResolver, SecurityGroup, SgId};
use topology::traffic::{IcmpMatch, Packet, PortRange, Traffic, L4};

/// What a rule matches, in integers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Match {
    /// Protocol number; `None` for all.
    proto: Option<u8>,
    /// Destination ports (TCP/UDP rules only).
    ports: PortRange,
    /// ICMP type/code (ICMP rules only).
    icmp: IcmpMatch,
    /// A TCP, UDP or ICMP rule, which reads the transport header (ports,
    /// type and code): it matches no packet without one, a non-first
    /// fragment (`L4::Other` of its protocol). A protocol-number rule does.
    typed: bool,
    /// Peer network and mask.
    net: u32,
    mask: u32,
}

impl Match {
    fn new(traffic: Traffic, peer: Ipv4Net) -> Self {
        let (proto, ports, icmp) = match traffic {
            Traffic::All => (None, PortRange::ALL, IcmpMatch::ALL),
            Traffic::Tcp(p) => (Some(6), p, IcmpMatch::ALL),
            Traffic::Udp(p) => (Some(17), p, IcmpMatch::ALL),
            Traffic::Icmp(m) => (Some(1), PortRange::ALL, m),
            Traffic::Proto(n) => (Some(n), PortRange::ALL, IcmpMatch::ALL),
        };
        // a numbered tcp/udp/icmp rule opens everything of that protocol
        let typed = matches!(
            traffic,
            Traffic::Tcp(_) | Traffic::Udp(_) | Traffic::Icmp(_)
        );
        Match {
            proto,
            ports: if typed { ports } else { PortRange::ALL },
            icmp: if typed { icmp } else { IcmpMatch::ALL },
            typed,
            net: u32::from(peer.network()),
            mask: u32::from(peer.netmask()),
        }
    }

    #[inline]
    fn matches(&self, peer: u32, l4: &L4) -> bool {
        if peer & self.mask != self.net {
            return false;
        }
        let Some(p) = self.proto else { return true };
        match *l4 {
            L4::Tcp { dst_port, .. } if p == 6 => self.ports.contains(dst_port),
            L4::Udp { dst_port, .. } if p == 17 => self.ports.contains(dst_port),
            L4::Icmp { icmp_type, code } if p == 1 => {
                self.icmp.icmp_type.is_none_or(|t| t == icmp_type)
                    && self.icmp.code.is_none_or(|c| c == code)
            }
            _ => !self.typed && l4.protocol() == p,
        }
    }
}

/// A rule's place in the configuration: group (position in the applied
/// list) and rule index; for the network ACL, the rule number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RuleRef {
    /// Index into the applied groups (0 for the ACL).
    pub group: u16,
    /// Rule index within the group, or the ACL rule number.
    pub rule: u16,
}

/// Entries that share one (protocol, destination port) and differ only in
/// their peer block: for each prefix length present, a map from network to
/// the first (lowest) entry index with that block. A lookup probes each
/// length once, so its cost does not grow with the number of rules.
#[derive(Debug, Clone, Default)]
struct PortBucket {
    by_len: Vec<(u32, HashMap<u32, u32, BuildFast>)>,
}

impl PortBucket {
    fn push(&mut self, i: u32, m: &Match) {
        let at = match self.by_len.iter().position(|(mask, _)| *mask == m.mask) {
            Some(at) => at,
            None => {
                self.by_len.push((m.mask, HashMap::default()));
                self.by_len.len() - 1
            }
        };
        // entries are pushed in rule order: keep the first
        self.by_len[at].1.entry(m.net).or_insert(i);
    }

    fn first(&self, peer: u32) -> Option<u32> {
        self.by_len
            .iter()
            .filter_map(|(mask, nets)| nets.get(&(peer & mask)).copied())
            .min()
    }
}

type BuildFast = std::hash::BuildHasherDefault<topology::route_table::FastHasher>;

#[derive(Debug, Clone, Default)]
struct Table {
    /// Entries in rule order: (order key, match).
    rules: Vec<(RuleRef, Match)>,
    /// Single-port TCP/UDP entries by (protocol, port).
    by_port: HashMap<(u8, u16), PortBucket, BuildFast>,
    /// Every other entry (port ranges, ICMP, other protocols, all):
    /// indices into `rules`, scanned in order.
    rest: Vec<u32>,
}

impl Table {
    fn push(&mut self, r: RuleRef, m: Match) {
        let i = self.rules.len() as u32;
        let single = m.ports.from == m.ports.to && matches!(m.proto, Some(6) | Some(17));
        if single {
            let proto = m.proto.unwrap_or(0);
            self.by_port
                .entry((proto, m.ports.from))
                .or_default()
                .push(i, &m);
        } else {
            self.rest.push(i);
        }
        self.rules.push((r, m));
    }

    /// The first entry in rule order that matches.
    fn first(&self, peer: u32, l4: &L4) -> Option<RuleRef> {
        let bucket = l4
            .dst_port()
            .and_then(|p| self.by_port.get(&(l4.protocol(), p)))
            .and_then(|b| b.first(peer));
        let other = self
            .rest
            .iter()
            .copied()
            .find(|&i| self.rules[i as usize].1.matches(peer, l4));
        let best = match (bucket, other) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        best.map(|i| self.rules[i as usize].0)
    }
}

/// Security groups of one interface, compiled: every group reference
/// expanded to its members' /32s and every prefix list to its blocks.
#[derive(Debug, Clone, Default)]
pub struct SgClassifier {
    ingress: Table,
    egress: Table,
}

impl SgClassifier {
    /// Compiles the `applied` groups (indices into `all`), resolving group
    /// and prefix-list peers through `ctx`.
    pub fn compile(applied: &[SgId], all: &[SecurityGroup], ctx: &impl Members) -> Self {
        let mut c = SgClassifier::default();
        for (gi, &g) in applied.iter().enumerate() {
            for dir in [Direction::Ingress, Direction::Egress] {
                let table = match dir {
                    Direction::Ingress => &mut c.ingress,
                    Direction::Egress => &mut c.egress,
                };
                for (ri, rule) in all[g].rules(dir).iter().enumerate() {
                    let r = RuleRef {
                        group: gi as u16,
                        rule: ri as u16,
                    };
                    let nets: Vec<Ipv4Net> = match rule.peer {
                        Peer::Cidr(n) => vec![n],
                        Peer::PrefixList(p) => ctx.prefix_list(p).to_vec(),
                        Peer::SecurityGroup(s) => ctx
                            .members(s)
                            .iter()
                            .filter_map(|a| Ipv4Net::new(*a, 32).ok())
                            .collect(),
                    };
                    for n in nets {
                        table.push(r, Match::new(rule.traffic, n));
                    }
                }
            }
        }
        c
    }

    /// The first rule (in group, then rule order) that allows `packet`
    /// crossing in `dir`; `None` is a drop.
    pub fn evaluate(&self, dir: Direction, packet: &Packet) -> Option<RuleRef> {
        let (table, peer) = match dir {
            Direction::Ingress => (&self.ingress, packet.src),
            Direction::Egress => (&self.egress, packet.dst),
        };
        table.first(u32::from(peer), &packet.l4)
    }

    /// Number of compiled entries (after expansion), both directions.
    pub fn len(&self) -> usize {
        self.ingress.rules.len() + self.egress.rules.len()
    }

    /// Whether nothing is compiled.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A network ACL, compiled.
#[derive(Debug, Clone, Default)]
pub struct NaclClassifier {
    ingress: Table,
    egress: Table,
    actions: HashMap<(bool, u16), NaclAction>,
}

impl NaclClassifier {
    /// Compiles an ACL.
    pub fn compile(acl: &NetworkAcl) -> Self {
        let mut c = NaclClassifier::default();
        for dir in [Direction::Ingress, Direction::Egress] {
            let ingress = dir == Direction::Ingress;
            for r in acl.rules(dir) {
                let table = if ingress {
                    &mut c.ingress
                } else {
                    &mut c.egress
                };
                table.push(
                    RuleRef {
                        group: 0,
                        rule: r.number,
                    },
                    Match::new(r.traffic, r.cidr),
                );
                c.actions.insert((ingress, r.number), r.action);
            }
        }
        c
    }

    /// The deciding rule number (`None` for `*`) and its action.
    pub fn evaluate(&self, dir: Direction, packet: &Packet) -> (Option<u16>, NaclAction) {
        let ingress = dir == Direction::Ingress;
        let (table, peer) = if ingress {
            (&self.ingress, packet.src)
        } else {
            (&self.egress, packet.dst)
        };
        match table.first(u32::from(peer), &packet.l4) {
            Some(r) => (
                Some(r.rule),
                self.actions
                    .get(&(ingress, r.rule))
                    .copied()
                    .unwrap_or(NaclAction::Deny),
            ),
            None => (None, NaclAction::Deny),
        }
    }
}

/// Group membership and prefix lists, as the classifier expands them.
pub trait Members {
    /// Private addresses of a group's members.
    fn members(&self, sg: SgId) -> &[Ipv4Addr];
    /// Blocks of a prefix list.
    fn prefix_list(&self, id: usize) -> &[Ipv4Net];
}

impl Members for topology::Topology {
    fn members(&self, sg: SgId) -> &[Ipv4Addr] {
        self.members_of(sg)
    }
    fn prefix_list(&self, id: usize) -> &[Ipv4Net] {
        PeerResolver::prefix_list(self, id)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;
    use topology::nacl::NaclRule;
    use topology::security_group::{evaluate, SgRule};

    /// Group members and prefix lists, for both evaluators.
    #[derive(Debug, Default)]
    pub(crate) struct Ctx {
        pub(crate) members: Vec<Vec<Ipv4Addr>>,
        pub(crate) lists: Vec<Vec<Ipv4Net>>,
    }
    impl Members for Ctx {
        fn members(&self, sg: SgId) -> &[Ipv4Addr] {
            &self.members[sg]
        }
        fn prefix_list(&self, id: usize) -> &[Ipv4Net] {
            &self.lists[id]
        }
    }
    impl PeerResolver for Ctx {
        fn is_member(&self, sg: SgId, addr: Ipv4Addr) -> bool {
            self.members[sg].contains(&addr)
        }
        fn prefix_list(&self, id: usize) -> &[Ipv4Net] {
            &self.lists[id]
        }
    }

    // a small address space so that random rules and packets meet often
    fn addr(x: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, 0, x >> 3, x & 7)
    }

    /// Any rule's traffic, with ports 20-31 and ICMP types and codes of
    /// every value (the low ones most often).
    pub(crate) fn arb_traffic() -> impl Strategy<Value = Traffic> {
        let ports = || {
            (0u16..8, 0u16..4).prop_map(|(a, w)| PortRange {
                from: 20 + a,
                to: 20 + a + w,
            })
        };
        let icmp =
            (prop::option::of(icmp_type()), prop::option::of(icmp_code())).prop_map(|(t, c)| {
                IcmpMatch {
                    icmp_type: t,
                    code: if t.is_none() { None } else { c },
                }
            });
        prop_oneof![
            Just(Traffic::All),
            ports().prop_map(Traffic::Tcp),
            ports().prop_map(Traffic::Udp),
            icmp.prop_map(Traffic::Icmp),
            prop_oneof![Just(6u8), Just(17), Just(1), Just(47)].prop_map(Traffic::Proto),
        ]
    }

    /// Every ICMP type, the low ones (queries, errors) most often.
    pub(crate) fn icmp_type() -> impl Strategy<Value = u8> {
        prop_oneof![3 => 0u8..20, 1 => any::<u8>()]
    }

    /// Every ICMP code, the low ones most often.
    pub(crate) fn icmp_code() -> impl Strategy<Value = u8> {
        prop_oneof![3 => 0u8..6, 1 => any::<u8>()]
    }

    fn arb_net() -> impl Strategy<Value = Ipv4Net> {
        (any::<u8>(), 24u8..=32).prop_map(|(x, len)| Ipv4Net::new(addr(x), len).unwrap().trunc())
    }

    fn arb_peer() -> impl Strategy<Value = Peer> {
        prop_oneof![
            arb_net().prop_map(Peer::Cidr),
            (0usize..3).prop_map(Peer::SecurityGroup),
            (0usize..2).prop_map(Peer::PrefixList),
        ]
    }

    fn arb_rule() -> impl Strategy<Value = SgRule> {
        (arb_traffic(), arb_peer()).prop_map(|(traffic, peer)| SgRule {
            traffic,
            peer,
            description: None,
        })
    }

    fn arb_group() -> impl Strategy<Value = SecurityGroup> {
        (
            prop::collection::vec(arb_rule(), 0..8),
            prop::collection::vec(arb_rule(), 0..8),
        )
            .prop_map(|(ingress, egress)| SecurityGroup {
                name: "g".into(),
                description: None,
                ingress,
                egress,
            })
    }

    fn arb_packet() -> impl Strategy<Value = Packet> {
        let l4 = prop_oneof![
            (18u16..32).prop_map(|p| L4::Tcp {
                src_port: 40000,
                dst_port: p
            }),
            (18u16..32).prop_map(|p| L4::Udp {
                src_port: 40000,
                dst_port: p
            }),
            (icmp_type(), icmp_code()).prop_map(|(t, c)| L4::Icmp {
                icmp_type: t,
                code: c
            }),
            // another protocol, or a non-first fragment of TCP, UDP or ICMP
            // (no transport header: `L4::Other` of its protocol)
            prop_oneof![Just(47u8), Just(50), Just(6), Just(17), Just(1)].prop_map(L4::Other),
        ];
        (any::<u8>(), any::<u8>(), l4).prop_map(|(s, d, l4)| Packet {
            src: addr(s),
            dst: addr(d),
            l4,
        })
    }

    fn arb_ctx() -> impl Strategy<Value = Ctx> {
        (
            prop::collection::vec(prop::collection::vec(any::<u8>().prop_map(addr), 0..4), 3),
            prop::collection::vec(prop::collection::vec(arb_net(), 0..3), 2),
        )
            .prop_map(|(members, lists)| Ctx { members, lists })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// The compiled classifier allows exactly what the reference
        /// evaluator allows, and names the same rule.
        #[test]
        fn security_groups_agree_with_the_reference(
            groups in prop::collection::vec(arb_group(), 1..4),
            applied in prop::collection::vec(0usize..3, 1..4),
            ctx in arb_ctx(),
            packets in prop::collection::vec(arb_packet(), 1..16),
        ) {
            let applied: Vec<usize> = applied.into_iter().map(|g| g % groups.len()).collect();
            let mut seen = std::collections::HashSet::new();
            let applied: Vec<usize> = applied.into_iter().filter(|g| seen.insert(*g)).collect();
            let c = SgClassifier::compile(&applied, &groups, &ctx);
            for p in &packets {
                for dir in [Direction::Ingress, Direction::Egress] {
                    let reference = evaluate(&applied, &groups, dir, p, &ctx)
                        .map(|m| (applied.iter().position(|&g| g == m.group).unwrap(), m.rule));
                    let fast = c.evaluate(dir, p).map(|r| (r.group as usize, r.rule as usize));
                    prop_assert_eq!(fast, reference, "{:?} {:?}", dir, p);
                }
            }
        }

        /// The compiled ACL decides like the reference: same rule, same action.
        #[test]
        fn network_acls_agree_with_the_reference(
            rules in prop::collection::vec((1u16..40, any::<bool>(), arb_traffic(), arb_net()), 0..12),
            packets in prop::collection::vec(arb_packet(), 1..16),
        ) {
            let mut rules: Vec<NaclRule> = rules.into_iter().map(|(n, allow, traffic, cidr)| NaclRule {
                number: n,
                action: if allow { NaclAction::Allow } else { NaclAction::Deny },
                traffic,
                cidr,
            }).collect();
            rules.sort_by_key(|r| r.number);
            rules.dedup_by_key(|r| r.number);
            let acl = NetworkAcl { name: "a".into(), ingress: rules.clone(), egress: rules };
            let c = NaclClassifier::compile(&acl);
            for p in &packets {
                for dir in [Direction::Ingress, Direction::Egress] {
                    let reference = acl.evaluate(dir, p);
                    let fast = c.evaluate(dir, p);
                    prop_assert_eq!(fast, (reference.rule, reference.action), "{:?} {:?}", dir, p);
                }
            }
        }
    }

    /// Issue 19, item 14: a port-range rule, or an ICMP rule, matched every
    /// non-first fragment of its protocol. Such a fragment has no ports and
    /// no type: only rules for all traffic or for its protocol number match
    /// it, as in the reference evaluators.
    #[test]
    fn port_and_icmp_rules_match_no_non_first_fragment() {
        let any: Ipv4Net = "0.0.0.0/0".parse().unwrap();
        let rule = |traffic| SgRule {
            traffic,
            peer: Peer::Cidr(any),
            description: None,
        };
        let group = SecurityGroup {
            name: "g".into(),
            description: None,
            ingress: vec![
                rule(Traffic::Tcp(PortRange {
                    from: 8000,
                    to: 8010,
                })),
                rule(Traffic::Udp(PortRange {
                    from: 1024,
                    to: 65535,
                })),
                rule(Traffic::Icmp(IcmpMatch {
                    icmp_type: Some(8),
                    code: None,
                })),
            ],
            egress: vec![],
        };
        let ctx = Ctx {
            members: vec![],
            lists: vec![],
        };
        let c = SgClassifier::compile(&[0], std::slice::from_ref(&group), &ctx);
        let acl = NetworkAcl {
            name: "a".into(),
            ingress: vec![NaclRule {
                number: 100,
                action: NaclAction::Allow,
                traffic: Traffic::Tcp(PortRange {
                    from: 1024,
                    to: 65535,
                }),
                cidr: any,
            }],
            egress: vec![],
        };
        let n = NaclClassifier::compile(&acl);
        for proto in [6, 17, 1] {
            let fragment = Packet {
                src: Ipv4Addr::new(10, 0, 10, 20),
                dst: Ipv4Addr::new(192, 168, 10, 10),
                l4: L4::Other(proto),
            };
            assert_eq!(c.evaluate(Direction::Ingress, &fragment), None, "{proto}");
            assert_eq!(
                n.evaluate(Direction::Ingress, &fragment),
                (None, NaclAction::Deny),
                "{proto}"
            );
            let protocol_rule = SecurityGroup {
                ingress: vec![rule(Traffic::Proto(proto))],
                ..group.clone()
            };
            let p = SgClassifier::compile(&[0], &[protocol_rule], &ctx);
            assert!(p.evaluate(Direction::Ingress, &fragment).is_some());
        }
    }

    #[test]
    fn the_example_gateway_policy_compiles() {
        let loaded = topology::load(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../examples/yeohaengjigi.toml"
        ))
        .unwrap();
        let t = &loaded.topology;
        let gw = t.node_by_name("vifgate-office").unwrap();
        let c = SgClassifier::compile(&t.nodes[gw].security_groups, &t.security_groups, t);
        let ping = Packet {
            src: Ipv4Addr::new(10, 0, 10, 4),
            dst: Ipv4Addr::new(192, 168, 10, 10),
            l4: L4::Icmp {
                icmp_type: 8,
                code: 0,
            },
        };
        let ssh = Packet {
            l4: L4::Tcp {
                src_port: 40000,
                dst_port: 22,
            },
            ..ping
        };
        assert!(c.evaluate(Direction::Ingress, &ping).is_some());
        assert!(c.evaluate(Direction::Ingress, &ssh).is_none());
        assert!(c.evaluate(Direction::Egress, &ssh).is_some());
    }
}
