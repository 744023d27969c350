//! Flow logs from a running lab (`vifgate sim flowlogs`), the I/O part:
//! the [`crate::flowlogs`] table loaded into the namespace of
//! every VPC node with an ENI (instances, load balancers, databases, NAT
//! gateways) and of the VPC router (its network ACLs), its counters read
//! at the end of each interval, and the tables removed when the capture
//! ends (dropped). The lab is untouched otherwise; without a capture,
//! nothing of this is loaded.

use std::io;
use std::time::{SystemTime, UNIX_EPOCH};

use topology::model::Topology;

use crate::flowlogs::enis::{self, NodeEnis};
use crate::flowlogs::record::{FlowAction, FlowKey, FlowRecord};
use crate::flowlogs::{self, Aggregator, IntervalFlows};
use crate::kernel::netns;
use crate::plan::Plan;

/// The account id written into records when none is given (AWS's
/// documentation's example account).
pub const DEFAULT_ACCOUNT_ID: &str = "123456789012";

/// Unix seconds now.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A capture in progress: the tables loaded, one aggregator per table.
#[derive(Debug)]
pub struct Capture {
    topology: Topology,
    account_id: String,
    nodes: Vec<NodeEnis>,
    /// Every node's ENI names, in order (the records' order).
    names: Vec<String>,
    /// One per node.
    aggregators: Vec<Aggregator>,
    router: Option<(String, Aggregator)>,
    started: u64,
}

/// Reads the counters of the tables in `namespaces`, all at once; `None`
/// (with a warning) for a table that cannot be read (the namespace gone).
fn snapshots(namespaces: &[&str]) -> Vec<Option<flowlogs::Snapshot>> {
    let list: &[&str] = &["-j", "-p", "list", "table", "inet", flowlogs::TABLE];
    let runs: Vec<_> = namespaces.iter().map(|&ns| (ns, list, None)).collect();
    namespaces
        .iter()
        .zip(netns::nft_each(&runs))
        .map(|(ns, json)| {
            let json = json
                .map_err(|e| tracing::warn!(%ns, "flow log counters unreadable: {e}"))
                .ok()?;
            flowlogs::parse_snapshot(&json)
                .map_err(|e| tracing::warn!(%ns, "flow log counters unparsable: {e}"))
                .ok()
        })
        .collect()
}

impl Capture {
    /// Loads the counting table into every ENI's namespace and the VPC
    /// router's (replacing a table a killed capture left). Fails if
    /// nftables refuses it (e.g. a kernel without dynamic sets); what was
    /// loaded is removed.
    pub fn start(t: &Topology, plan: &Plan, account_id: &str) -> io::Result<Capture> {
        let ruleset = flowlogs::ruleset();
        let nodes = enis::lab_enis(t, plan);
        let cap = Capture {
            topology: t.clone(),
            account_id: account_id.to_string(),
            names: (nodes.iter())
                .flat_map(|n| n.enis.iter().map(|(e, _)| e.clone()))
                .collect(),
            aggregators: nodes.iter().map(|_| Aggregator::default()).collect(),
            nodes,
            router: enis::vpc_router_ns(plan).map(|ns| (ns.to_string(), Aggregator::default())),
            started: unix_now(),
        };
        // loaded everywhere at once; should a namespace refuse, dropping
        // `cap` removes the tables the others loaded
        let load: &[&str] = &["-f", "-"];
        let runs: Vec<_> = cap
            .namespaces()
            .map(|ns| (ns, load, Some(ruleset.as_str())))
            .collect();
        for loaded in netns::nft_each(&runs) {
            loaded?;
        }
        Ok(cap)
    }

    /// The namespaces whose tables it reads: the nodes', then the VPC
    /// router's.
    fn namespaces(&self) -> impl Iterator<Item = &str> {
        let router = self.router.as_ref().map(|(ns, _)| ns.as_str());
        (self.nodes.iter().map(|n| n.ns.as_str())).chain(router)
    }

    /// The nodes captured.
    pub fn nodes(&self) -> impl Iterator<Item = &NodeEnis> {
        self.nodes.iter()
    }

    /// Closes the interval that started at the previous call (or the
    /// start) and returns its records, ENI by ENI.
    pub fn close_interval(&mut self) -> Vec<FlowRecord> {
        let end = unix_now();
        let span = (self.started, end);
        self.started = end;
        let namespaces: Vec<&str> = self.namespaces().collect();
        let mut snaps = snapshots(&namespaces).into_iter();
        let mut sources = Vec::new();
        let mut skipped_on = Vec::new();
        for (node, agg) in self.nodes.iter().zip(&mut self.aggregators) {
            let Some(snap) = snaps.next().flatten() else {
                continue;
            };
            let flows = agg.close(snap, |dir, key, _| node.eni_of(dir, key).map(String::from));
            if flows.skipped > 0 {
                skipped_on.extend(node.enis.first().map(|(e, _)| e.clone()));
            }
            sources.push(flows);
        }
        let enis = &self.nodes;
        if let Some((_, agg)) = &mut self.router {
            if let Some(snap) = snaps.next().flatten() {
                let t = &self.topology;
                // what the router let through, the nodes' tables count
                let flows: IntervalFlows = agg.close(snap, |_, key, action| match action {
                    FlowAction::Accept => None,
                    FlowAction::Reject => enis::nacl_reject_eni(t, enis, key),
                });
                sources.push(flows);
            }
        }
        let direction = |eni: &str, key: &FlowKey| enis::direction_on(enis, eni, key);
        flowlogs::interval_records(
            &self.names,
            sources,
            &skipped_on,
            &self.account_id,
            span,
            direction,
        )
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        let delete: &[&str] = &["delete", "table", "inet", flowlogs::TABLE];
        let runs: Vec<_> = self.namespaces().map(|ns| (ns, delete, None)).collect();
        for (&(ns, _, _), removed) in runs.iter().zip(netns::nft_each(&runs)) {
            if let Err(e) = removed {
                tracing::debug!(%ns, "flow log table not removed: {e}");
            }
        }
    }
}
