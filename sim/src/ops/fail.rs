//! A failed instance (`sim fail LAB NODE`, `sim fail LAB --zone a`): its
//! services stop answering as a failed EC2 instance's do, while its
//! namespace, its addresses and its processes stay. An nftables table in
//! its namespace drops every packet in and out but its loopback's, so
//! that the load balancer's health checks time out (the target turns
//! unhealthy after the unhealthy threshold) and requests in flight on it
//! are lost. The lab's state records the failed nodes (`sim status` shows
//! them); `sim apply` of the lab's file, or `sim fail LAB --restore`,
//! removes the tables.

use std::collections::BTreeSet;
use std::io;
use std::path::PathBuf;

use topology::model::{Attachment, NodeKind, Topology};

use crate::apply::state::{read_state, save_state, LabState};
use crate::kernel::netns;

/// The table that fails a node (`inet` family), in its namespace.
pub const TABLE: &str = "vifgate_failed";

/// What to fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailWhat {
    /// One instance.
    Node(String),
    /// Every instance in a zone (`a`, or the whole name, `ap-northeast-2a`).
    Zone(String),
}

/// Why `sim fail` refused.
#[derive(Debug, thiserror::Error)]
pub enum FailError {
    /// No such lab.
    #[error("no lab `{0}`")]
    NoLab(String),
    /// No such node in the lab.
    #[error("lab `{lab}` has no node `{node}`; its instances: {known}")]
    NoNode {
        /// Lab.
        lab: String,
        /// The node asked.
        node: String,
        /// The instances there are.
        known: String,
    },
    /// The node is not an EC2 instance.
    #[error("`{node}` is {what}, not an instance: only instances fail (its instances: {known})")]
    NotInstance {
        /// The node.
        node: String,
        /// What it is.
        what: String,
        /// The instances there are.
        known: String,
    },
    /// No instance in the zone.
    #[error("lab `{lab}` has no instance in zone `{zone}`; its zones: {known}")]
    NoZone {
        /// Lab.
        lab: String,
        /// The zone asked.
        zone: String,
        /// The zones with instances.
        known: String,
    },
    /// The lab's copy of its topology cannot be read again.
    #[error("lab `{lab}`: its copy of its topology, {}, does not load: {why}", file.display())]
    Source {
        /// Lab.
        lab: String,
        /// The file.
        file: PathBuf,
        /// Why.
        why: String,
    },
    /// The kernel refused.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// The `nft -f` script that fails a node (replacing one already there).
pub fn fail_script() -> String {
    format!(
        "add table inet {TABLE}\ndelete table inet {TABLE}\ntable inet {TABLE} {{\n\
         \tchain input {{ type filter hook input priority -400; policy accept; iifname != \"lo\" drop; }}\n\
         \tchain output {{ type filter hook output priority -400; policy accept; oifname != \"lo\" drop; }}\n}}\n"
    )
}

/// The `nft -f` script that brings a failed node back.
pub fn restore_script() -> String {
    format!("add table inet {TABLE}\ndelete table inet {TABLE}\n")
}

/// An instance: its name and zone (the short name, `a`).
fn instances(t: &Topology) -> Vec<(String, String)> {
    let region = t.vpc.as_ref().map(|v| v.region.as_str()).unwrap_or("");
    t.nodes
        .iter()
        .filter(|n| matches!(n.kind, NodeKind::Instance | NodeKind::AsgInstance { .. }))
        .map(|n| {
            let zone = n
                .interfaces
                .first()
                .and_then(|i| match i.attachment {
                    Attachment::Subnet(s) => Some(t.subnets[s].az.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            let short = zone.strip_prefix(region).unwrap_or(&zone).to_string();
            (n.name.clone(), short)
        })
        .collect()
}

/// The instances `what` names in lab `lab` of topology `t`.
pub fn chosen(t: &Topology, lab: &str, what: &FailWhat) -> Result<Vec<String>, FailError> {
    let all = instances(t);
    let known = || {
        let names: Vec<&str> = all.iter().map(|(n, _)| n.as_str()).collect();
        names.join(", ")
    };
    match what {
        FailWhat::Node(node) => {
            if all.iter().any(|(n, _)| n == node) {
                return Ok(vec![node.clone()]);
            }
            match t.nodes.iter().find(|n| &n.name == node) {
                Some(n) => Err(FailError::NotInstance {
                    node: node.clone(),
                    what: kind_words(&n.kind).into(),
                    known: known(),
                }),
                None => Err(FailError::NoNode {
                    lab: lab.into(),
                    node: node.clone(),
                    known: known(),
                }),
            }
        }
        FailWhat::Zone(zone) => {
            let short = short_zone(t, zone);
            let out: Vec<String> = (all.iter())
                .filter(|(_, z)| *z == short)
                .map(|(n, _)| n.clone())
                .collect();
            if out.is_empty() {
                let zones: BTreeSet<&str> = all.iter().map(|(_, z)| z.as_str()).collect();
                return Err(FailError::NoZone {
                    lab: lab.into(),
                    zone: zone.clone(),
                    known: zones.into_iter().collect::<Vec<_>>().join(", "),
                });
            }
            Ok(out)
        }
    }
}

/// Zone `zone`'s short name (`a` of `a` or `ap-northeast-2a`).
fn short_zone(t: &Topology, zone: &str) -> String {
    let region = t.vpc.as_ref().map(|v| v.region.as_str()).unwrap_or("");
    zone.strip_prefix(region).unwrap_or(zone).to_string()
}

fn kind_words(k: &NodeKind) -> &'static str {
    match k {
        NodeKind::LoadBalancer { .. } => "a load balancer",
        NodeKind::Database { .. } => "a database",
        _ => "not an EC2 instance",
    }
}

/// The namespace of `node` in the lab.
fn ns_of(st: &LabState, node: &str) -> Option<String> {
    (st.plan.namespaces.iter())
        .find(|n| n.node.as_deref() == Some(node))
        .map(|n| n.name.clone())
}

/// The lab's lock, held while the state is read and written back whole
/// (waiting for a `sim apply` at work to end, as `sim link` does): an
/// apply writing the state meanwhile would lose the record of a failure,
/// or this one the apply's.
fn lab_lock(lab: &str) -> Result<crate::apply::lock::LabLock, FailError> {
    let dir = crate::apply::state::checked_state_dir(lab)?;
    crate::apply::lock::take(lab, &dir, crate::apply::DOWN_WAITS_AT_MOST)
        .map_err(|e| io::Error::other(e.to_string()))?
        .ok_or_else(|| FailError::NoLab(lab.into()))
}

/// Fails what `what` names in lab `lab`: the nodes failed, in order.
pub fn fail(lab: &str, what: &FailWhat) -> Result<Vec<String>, FailError> {
    let _lock = lab_lock(lab)?;
    let mut st = read_state(lab).ok_or_else(|| FailError::NoLab(lab.into()))?;
    // the copy of the topology the lab was built (or last applied) from
    let copy = crate::layout::state_dir(lab).join("topology.toml");
    let source = |why: String| FailError::Source {
        lab: lab.into(),
        file: copy.clone(),
        why,
    };
    let text = std::fs::read_to_string(&copy).map_err(|e| source(e.to_string()))?;
    let t = topology::parse(&copy, text)
        .map_err(|e| source(e.to_string()))?
        .topology;
    let nodes = chosen(&t, lab, what)?;
    let mut done = Vec::new();
    for node in nodes {
        let Some(ns) = ns_of(&st, &node) else {
            return Err(FailError::NoNode {
                lab: lab.into(),
                node,
                known: "(the lab's state and its topology copy disagree)".into(),
            });
        };
        netns::nft(&ns, &["-f", "-"], Some(&fail_script()))?;
        st.failed.insert(node.clone());
        save_state(lab, &st)?;
        done.push(node);
    }
    if let FailWhat::Zone(zone) = what {
        // the lab's controller launches in it no more (replacements go to
        // the other zones) until it is restored
        st.impaired_zones.insert(short_zone(&t, zone));
        save_state(lab, &st)?;
    }
    Ok(done)
}

/// What [`restore`] brought back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Restored {
    /// The nodes that answer again.
    pub nodes: Vec<String>,
    /// The zones no longer impaired.
    pub zones: Vec<String>,
}

impl Restored {
    /// The line that says lab `lab`'s zones launch again, when any was
    /// impaired (`sim fail --restore` and `sim apply` print it).
    pub fn zones_line(&self, lab: &str) -> Option<String> {
        (!self.zones.is_empty()).then(|| {
            format!(
                "lab `{lab}`: zone {} launches again: the group rebalances into it",
                self.zones.join(", ")
            )
        })
    }
}

/// Brings every failed node of lab `lab` back, and every impaired zone.
pub fn restore(lab: &str) -> Result<Restored, FailError> {
    let _lock = lab_lock(lab)?;
    let mut st = read_state(lab).ok_or_else(|| FailError::NoLab(lab.into()))?;
    restore_in(lab, &mut st)
}

/// [`restore`] on a lab's state already read (and saved after): the
/// failed nodes answer again and no zone is impaired any more (the lab's
/// controller rebalances the group into it).
pub fn restore_in(lab: &str, st: &mut LabState) -> Result<Restored, FailError> {
    let mut done = Vec::new();
    let zones = std::mem::take(&mut st.impaired_zones);
    for node in std::mem::take(&mut st.failed) {
        if let Some(ns) = ns_of(st, &node) {
            netns::nft(&ns, &["-f", "-"], Some(&restore_script()))?;
        }
        done.push(node);
    }
    if !done.is_empty() || !zones.is_empty() {
        save_state(lab, st)?;
    }
    Ok(Restored {
        nodes: done,
        zones: zones.into_iter().collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_or_a_zone_names_instances_and_anything_else_is_refused() {
        let t = crate::example();
        assert_eq!(
            chosen(&t, "l", &FailWhat::Node("web-a1".into())).expect("web-a1"),
            ["web-a1"]
        );
        let zone_a = chosen(&t, "l", &FailWhat::Zone("a".into())).expect("zone a");
        assert!(zone_a.contains(&"web-a1".to_string()), "{zone_a:?}");
        assert!(!zone_a.contains(&"web-c1".to_string()), "{zone_a:?}");
        let region = t.vpc.as_ref().expect("vpc").region.clone();
        assert_eq!(
            chosen(&t, "l", &FailWhat::Zone(format!("{region}a"))).expect("long name"),
            zone_a
        );
        let e = chosen(&t, "l", &FailWhat::Node("alb".into())).expect_err("a load balancer");
        assert!(
            e.to_string()
                .starts_with("`alb` is a load balancer, not an instance"),
            "{e}"
        );
        let e = chosen(&t, "l", &FailWhat::Node("web-a9".into())).expect_err("no such node");
        assert!(
            e.to_string()
                .starts_with("lab `l` has no node `web-a9`; its instances: "),
            "{e}"
        );
        let e = chosen(&t, "l", &FailWhat::Zone("z".into())).expect_err("no such zone");
        assert!(
            e.to_string()
                .contains("has no instance in zone `z`; its zones: a, c"),
            "{e}"
        );
    }

    #[test]
    fn the_failure_drops_everything_but_loopback_and_is_undone_whole() {
        let s = fail_script();
        assert!(s.contains("iifname != \"lo\" drop;"), "{s}");
        assert!(s.contains("oifname != \"lo\" drop;"), "{s}");
        assert_eq!(
            restore_script(),
            "add table inet vifgate_failed\ndelete table inet vifgate_failed\n"
        );
    }
}
