//! Flow logs from a running lab (`vifgate sim flowlogs`), the I/O part:
//! the [`flowlog`] table loaded into the namespace of
//! every VPC node with an ENI (instances, load balancers, databases, NAT
//! gateways) and of the VPC router (its network ACLs), its counters read
//! at the end of each interval, and the tables removed when the capture
//! ends (dropped). The lab is untouched otherwise; without a capture,
//! nothing of this is loaded.

use std::io;
use std::time::{SystemTime, UNIX_EPOCH};

use topology::model::Topology;

use crate::flow_record::{FlowAction, FlowKey, FlowRecord};
use crate::flowlog::{self, Aggregator, IntervalFlows};
use crate::flowlog_enis::{self, NodeEnis};
use crate::netns;
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
    nodes: Vec<(NodeEnis, Aggregator)>,
    router: Option<(String, Aggregator)>,
    started: u64,
}

/// Reads one table's counters; `None` (with a warning) when they cannot
/// be read (the namespace gone).
fn snapshot(ns: &str) -> Option<flowlog::Snapshot> {
    let json = netns::nft(
        ns,
        &["-j", "-p", "list", "table", "inet", flowlog::TABLE],
        None,
    )
    .map_err(|e| tracing::warn!(%ns, "flow log counters unreadable: {e}"))
    .ok()?;
    flowlog::parse_snapshot(&json)
        .map_err(|e| tracing::warn!(%ns, "flow log counters unparsable: {e}"))
        .ok()
}

impl Capture {
    /// Loads the counting table into every ENI's namespace and the VPC
    /// router's (replacing a table a killed capture left). Fails if
    /// nftables refuses it (e.g. a kernel without dynamic sets); what was
    /// loaded is removed.
    pub fn start(t: &Topology, plan: &Plan, account_id: &str) -> io::Result<Capture> {
        let ruleset = flowlog::ruleset();
        let mut cap = Capture {
            topology: t.clone(),
            account_id: account_id.to_string(),
            nodes: Vec::new(),
            router: None,
            started: unix_now(),
        };
        for node in flowlog_enis::lab_enis(t, plan) {
            netns::nft(&node.ns, &["-f", "-"], Some(&ruleset))?;
            tracing::debug!(ns = %node.ns, "flow log table loaded");
            cap.nodes.push((node, Aggregator::default()));
        }
        if let Some(ns) = flowlog_enis::vpc_router_ns(plan) {
            netns::nft(ns, &["-f", "-"], Some(&ruleset))?;
            cap.router = Some((ns.to_string(), Aggregator::default()));
        }
        Ok(cap)
    }

    /// The nodes captured.
    pub fn nodes(&self) -> impl Iterator<Item = &NodeEnis> {
        self.nodes.iter().map(|(n, _)| n)
    }

    /// Closes the interval that started at the previous call (or the
    /// start) and returns its records, ENI by ENI.
    pub fn close_interval(&mut self) -> Vec<FlowRecord> {
        let end = unix_now();
        let span = (self.started, end);
        self.started = end;
        let mut sources = Vec::new();
        let mut skipped_on = Vec::new();
        for (node, agg) in &mut self.nodes {
            let Some(snap) = snapshot(&node.ns) else {
                continue;
            };
            let flows = agg.close(snap, |dir, key, _| node.eni_of(dir, key).map(String::from));
            if flows.skipped > 0 {
                skipped_on.extend(node.enis.first().map(|(e, _)| e.clone()));
            }
            sources.push(flows);
        }
        let enis: Vec<NodeEnis> = self.nodes.iter().map(|(n, _)| n.clone()).collect();
        if let Some((ns, agg)) = &mut self.router {
            if let Some(snap) = snapshot(ns) {
                let t = &self.topology;
                // what the router let through, the nodes' tables count
                let flows: IntervalFlows = agg.close(snap, |_, key, action| match action {
                    FlowAction::Accept => None,
                    FlowAction::Reject => flowlog_enis::nacl_reject_eni(t, &enis, key),
                });
                sources.push(flows);
            }
        }
        let names: Vec<String> = enis
            .iter()
            .flat_map(|n| n.enis.iter().map(|(e, _)| e.clone()))
            .collect();
        let direction = |eni: &str, key: &FlowKey| flowlog_enis::direction_on(&enis, eni, key);
        flowlog::interval_records(
            &names,
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
        let router = self.router.as_ref().map(|(ns, _)| ns.as_str());
        for ns in self.nodes.iter().map(|(n, _)| n.ns.as_str()).chain(router) {
            if let Err(e) = netns::nft(ns, &["delete", "table", "inet", flowlog::TABLE], None) {
                tracing::debug!(%ns, "flow log table not removed: {e}");
            }
        }
    }
}
