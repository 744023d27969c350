//! Rules that can never decide: a security-group rule covered by another
//! rule of the same group, and a network-ACL rule covered by an earlier rule
//! of the same direction (first match wins, so it is never reached).

use crate::model::Topology;
use crate::security_group::{Direction, Peer};

/// A rule that can never decide, and the rule that hides it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ShadowedRule {
    /// `security group` or `network ACL`.
    pub kind: &'static str,
    /// Group or ACL name.
    pub owner: String,
    /// Direction.
    pub direction: Direction,
    /// The rule that never decides (1-based index, or ACL rule number).
    pub rule: String,
    /// The rule that covers it.
    pub by: String,
    /// Why, in words.
    pub why: String,
}

/// Lists every shadowed rule of the topology.
pub fn shadowed_rules(t: &Topology) -> Vec<ShadowedRule> {
    let mut out = Vec::new();
    for g in &t.security_groups {
        for dir in [Direction::Ingress, Direction::Egress] {
            let rules = g.rules(dir);
            for (i, r) in rules.iter().enumerate() {
                let cover = rules.iter().enumerate().find(|(j, o)| {
                    *j != i
                        && o.traffic.covers(&r.traffic)
                        && peer_covers(t, &o.peer, &r.peer)
                        // of two identical rules, the later one is the redundant one
                        && !(r.traffic.covers(&o.traffic) && peer_covers(t, &r.peer, &o.peer) && *j > i)
                });
                if let Some((j, o)) = cover {
                    out.push(ShadowedRule {
                        kind: "security group",
                        owner: g.name.clone(),
                        direction: dir,
                        rule: (i + 1).to_string(),
                        by: (j + 1).to_string(),
                        why: format!(
                            "rule {} ({}) already allows everything rule {} ({}) allows",
                            j + 1,
                            super::reach::rule_text(t, o),
                            i + 1,
                            super::reach::rule_text(t, r)
                        ),
                    });
                }
            }
        }
    }
    for acl in &t.nacls {
        for dir in [Direction::Ingress, Direction::Egress] {
            let rules = acl.rules(dir);
            for (i, r) in rules.iter().enumerate() {
                let earlier = rules[..i]
                    .iter()
                    .find(|o| o.traffic.covers(&r.traffic) && o.cidr.contains(&r.cidr));
                if let Some(o) = earlier {
                    let what = if o.action == r.action {
                        "redundant"
                    } else {
                        "never reached"
                    };
                    out.push(ShadowedRule {
                        kind: "network ACL",
                        owner: acl.name.clone(),
                        direction: dir,
                        rule: r.number.to_string(),
                        by: o.number.to_string(),
                        why: format!(
                            "rule {} ({} {} {}) matches first; rule {} ({} {} {}) is {what}",
                            o.number,
                            o.action,
                            o.traffic,
                            o.cidr,
                            r.number,
                            r.action,
                            r.traffic,
                            r.cidr
                        ),
                    });
                }
            }
        }
    }
    out
}

fn peer_covers(t: &Topology, a: &Peer, b: &Peer) -> bool {
    match (a, b) {
        (Peer::Cidr(x), Peer::Cidr(y)) => x.contains(y),
        (Peer::Cidr(x), Peer::SecurityGroup(g)) => {
            // a group's members are a set of addresses; a block that holds
            // them all covers the group as it is now
            let m = t.members_of(*g);
            !m.is_empty() && m.iter().all(|a| x.contains(a))
        }
        (Peer::Cidr(x), Peer::PrefixList(p)) => {
            t.prefix_lists[*p].cidrs.iter().all(|c| x.contains(c))
        }
        (Peer::SecurityGroup(g), Peer::SecurityGroup(h)) => g == h,
        (Peer::PrefixList(p), Peer::PrefixList(q)) => p == q,
        _ => false,
    }
}
