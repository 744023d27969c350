//! Network ACLs: the reference evaluator.
//!
//! AWS semantics: numbered rules 1-32766, lowest first, the first match
//! decides (allow or deny); the last rule `*` denies and cannot change.
//! Stateless: a reply is a packet like any other and needs its own rule.
//! The rule's port range matches the packet's destination port.
//!
//! A non-first fragment (`L4::Other` of its protocol: no ports, no ICMP
//! type) matches only rules for all traffic or for its protocol number, as
//! in [`crate::security_group`]; a gateway gives it its first fragment's
//! verdict instead of evaluating it alone (`docs/gateway.md`, "Fragments").

use std::fmt;

use ipnet::Ipv4Net;

use crate::security_group::Direction;
use crate::traffic::{split_ports, Packet, PortRange, Traffic};

/// Allow or deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NaclAction {
    /// Let the packet through.
    Allow,
    /// Drop the packet.
    Deny,
}

impl fmt::Display for NaclAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NaclAction::Allow => "allow",
            NaclAction::Deny => "deny",
        })
    }
}

/// One numbered rule.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NaclRule {
    /// Rule number, 1-32766.
    pub number: u16,
    /// What it does on a match.
    pub action: NaclAction,
    /// Protocol and destination ports.
    pub traffic: Traffic,
    /// The other end: the source for inbound rules, the destination for
    /// outbound ones.
    pub cidr: Ipv4Net,
}

impl NaclRule {
    /// Whether the rule matches `packet` in direction `dir`.
    pub fn matches(&self, dir: Direction, packet: &Packet) -> bool {
        let peer = match dir {
            Direction::Ingress => packet.src,
            Direction::Egress => packet.dst,
        };
        self.cidr.contains(&peer) && self.traffic.matches(&packet.l4)
    }
}

/// A network ACL. Rules are kept sorted by number.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NetworkAcl {
    /// Its name.
    pub name: String,
    /// Inbound rules, sorted by number.
    pub ingress: Vec<NaclRule>,
    /// Outbound rules, sorted by number.
    pub egress: Vec<NaclRule>,
}

/// The rule that decided: a number, or `None` for the final `*` rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct NaclDecision {
    /// Rule number; `None` is the implicit `*` deny.
    pub rule: Option<u16>,
    /// Allow or deny.
    pub action: NaclAction,
}

impl NaclDecision {
    /// Whether the packet passes.
    pub fn allows(&self) -> bool {
        self.action == NaclAction::Allow
    }
}

impl fmt::Display for NaclDecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.rule {
            Some(n) => write!(f, "rule {n} {}", self.action),
            None => write!(f, "rule * {}", self.action),
        }
    }
}

impl NetworkAcl {
    /// The ACL a VPC starts with: allow everything both ways (rule 100).
    pub fn default_acl(name: &str) -> Self {
        let allow_all = NaclRule {
            number: 100,
            action: NaclAction::Allow,
            traffic: Traffic::All,
            cidr: Ipv4Net::default(),
        };
        NetworkAcl {
            name: name.into(),
            ingress: vec![allow_all.clone()],
            egress: vec![allow_all],
        }
    }

    /// Rules of one direction, lowest number first.
    pub fn rules(&self, dir: Direction) -> &[NaclRule] {
        match dir {
            Direction::Ingress => &self.ingress,
            Direction::Egress => &self.egress,
        }
    }

    /// Decides one packet: first matching rule, else `*` deny.
    pub fn evaluate(&self, dir: Direction, packet: &Packet) -> NaclDecision {
        self.rules(dir)
            .iter()
            .find(|r| r.matches(dir, packet))
            .map(|r| NaclDecision {
                rule: Some(r.number),
                action: r.action,
            })
            .unwrap_or(NaclDecision {
                rule: None,
                action: NaclAction::Deny,
            })
    }

    /// Decides every packet like `packet` whose destination port lies in
    /// `ports` (a reply to a client's ephemeral port range, say). Returns
    /// the port range split where the decision changes, in port order.
    ///
    /// Built on [`NetworkAcl::evaluate`]: the range is cut at every rule
    /// boundary, and within a piece no rule changes its mind, so one
    /// packet per piece decides the piece.
    pub fn evaluate_ports(
        &self,
        dir: Direction,
        packet: &Packet,
        ports: PortRange,
    ) -> Vec<(PortRange, NaclDecision)> {
        if packet.l4.dst_port().is_none() {
            return vec![(ports, self.evaluate(dir, packet))];
        }
        let pieces = split_ports(
            ports,
            self.rules(dir).iter().filter_map(|r| r.traffic.ports()),
        );
        let mut out: Vec<(PortRange, NaclDecision)> = Vec::new();
        for piece in pieces {
            let probe = Packet {
                l4: packet.l4.with_dst_port(piece.from),
                ..*packet
            };
            let d = self.evaluate(dir, &probe);
            match out.last_mut() {
                Some((r, last)) if *last == d => r.to = piece.to,
                _ => out.push((piece, d)),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traffic::L4;
    use proptest::prelude::*;

    fn r(number: u16, action: NaclAction, traffic: Traffic, cidr: &str) -> NaclRule {
        NaclRule {
            number,
            action,
            traffic,
            cidr: cidr.parse().unwrap(),
        }
    }

    fn tcp(src: [u8; 4], dst: [u8; 4], port: u16) -> Packet {
        Packet {
            src: src.into(),
            dst: dst.into(),
            l4: L4::Tcp {
                src_port: 40000,
                dst_port: port,
            },
        }
    }

    #[test]
    fn first_match_decides_even_if_a_later_rule_allows() {
        let acl = NetworkAcl {
            name: "a".into(),
            ingress: vec![
                r(
                    90,
                    NaclAction::Deny,
                    Traffic::Tcp(PortRange::single(22)),
                    "0.0.0.0/0",
                ),
                r(100, NaclAction::Allow, Traffic::All, "0.0.0.0/0"),
            ],
            egress: vec![],
        };
        let d = acl.evaluate(Direction::Ingress, &tcp([1, 1, 1, 1], [10, 0, 0, 1], 22));
        assert_eq!(
            d,
            NaclDecision {
                rule: Some(90),
                action: NaclAction::Deny
            }
        );
        let d = acl.evaluate(Direction::Ingress, &tcp([1, 1, 1, 1], [10, 0, 0, 1], 80));
        assert_eq!(d.rule, Some(100));
        assert!(d.allows());
    }

    #[test]
    fn nothing_matches_means_star_deny() {
        let acl = NetworkAcl {
            name: "custom".into(),
            ingress: vec![],
            egress: vec![],
        };
        let d = acl.evaluate(Direction::Egress, &tcp([1, 1, 1, 1], [2, 2, 2, 2], 1));
        assert_eq!(d.rule, None);
        assert!(!d.allows());
    }

    #[test]
    fn default_acl_allows_all_both_ways() {
        let acl = NetworkAcl::default_acl("default");
        for dir in [Direction::Ingress, Direction::Egress] {
            assert!(acl
                .evaluate(dir, &tcp([1, 1, 1, 1], [2, 2, 2, 2], 1))
                .allows());
        }
    }

    #[test]
    fn replies_need_their_own_rule() {
        // inbound 3306 allowed, outbound only to 3306: replies to a client's
        // ephemeral port are denied by the stateless ACL
        let acl = NetworkAcl {
            name: "db".into(),
            ingress: vec![r(
                100,
                NaclAction::Allow,
                Traffic::Tcp(PortRange::single(3306)),
                "10.0.0.0/16",
            )],
            egress: vec![r(
                100,
                NaclAction::Allow,
                Traffic::Tcp(PortRange::single(3306)),
                "10.0.0.0/16",
            )],
        };
        let reply = Packet {
            src: [10, 0, 20, 5].into(),
            dst: [10, 0, 10, 5].into(),
            l4: L4::Tcp {
                src_port: 3306,
                dst_port: 40000,
            },
        };
        assert!(!acl.evaluate(Direction::Egress, &reply).allows());
    }

    #[test]
    fn port_range_evaluation_splits_where_rules_change() {
        let acl = NetworkAcl {
            name: "x".into(),
            ingress: vec![],
            egress: vec![r(
                100,
                NaclAction::Allow,
                Traffic::Tcp(PortRange {
                    from: 1024,
                    to: 40000,
                }),
                "0.0.0.0/0",
            )],
        };
        let parts = acl.evaluate_ports(
            Direction::Egress,
            &tcp([10, 0, 0, 1], [10, 0, 1, 1], 0),
            PortRange::LINUX_EPHEMERAL,
        );
        assert_eq!(parts.len(), 2);
        assert_eq!(
            parts[0].0,
            PortRange {
                from: 32768,
                to: 40000
            }
        );
        assert!(parts[0].1.allows());
        assert_eq!(
            parts[1].0,
            PortRange {
                from: 40001,
                to: 60999
            }
        );
        assert!(!parts[1].1.allows());
    }

    fn arb_rule() -> impl Strategy<Value = NaclRule> {
        (
            1u16..200,
            any::<bool>(),
            0u16..2000,
            0u16..2000,
            prop_oneof![Just(0u8), Just(6u8), Just(17u8)],
        )
            .prop_map(|(n, allow, a, b, p)| {
                let pr = PortRange {
                    from: a.min(b),
                    to: a.max(b),
                };
                NaclRule {
                    number: n,
                    action: if allow {
                        NaclAction::Allow
                    } else {
                        NaclAction::Deny
                    },
                    traffic: match p {
                        0 => Traffic::All,
                        6 => Traffic::Tcp(pr),
                        _ => Traffic::Udp(pr),
                    },
                    cidr: Ipv4Net::default(),
                }
            })
    }

    proptest! {
        /// Range evaluation agrees with evaluating every port on its own.
        #[test]
        fn range_evaluation_equals_per_port(mut rules in prop::collection::vec(arb_rule(), 0..8), a in 0u16..2100, b in 0u16..2100) {
            rules.sort_by_key(|r| r.number);
            rules.dedup_by_key(|r| r.number);
            let acl = NetworkAcl { name: "p".into(), ingress: rules, egress: vec![] };
            let ports = PortRange { from: a.min(b), to: a.max(b) };
            let base = tcp([1, 2, 3, 4], [5, 6, 7, 8], 0);
            let parts = acl.evaluate_ports(Direction::Ingress, &base, ports);
            let mut next = ports.from as u32;
            for (range, d) in &parts {
                prop_assert_eq!(range.from as u32, next);
                for p in range.from..=range.to {
                    let probe = Packet { l4: base.l4.with_dst_port(p), ..base };
                    prop_assert_eq!(acl.evaluate(Direction::Ingress, &probe), *d);
                }
                next = range.to as u32 + 1;
            }
            prop_assert_eq!(next, ports.to as u32 + 1);
        }
    }
}
