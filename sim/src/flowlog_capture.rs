//! Flow logs from a running lab (`vifgate sim flowlogs`), the I/O part:
//! the [`flowlog`](crate::flowlog) table loaded into the namespace of
//! every VPC node with an ENI (instances, load balancers, databases, NAT
//! gateways), its counters read at the end of each interval, and the table
//! removed when the capture ends (dropped). The lab is untouched
//! otherwise; without a capture, nothing of this is loaded.

use std::io::{self, Write as _};
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use topology::model::{Attachment, NodeKind, Topology};

use crate::flow_record::FlowRecord;
use crate::flowlog::{self, Aggregator, NodeEnis};
use crate::netns::Netns;
use crate::plan::Plan;

/// The account id written into records when none is given (AWS's
/// documentation's example account).
pub const DEFAULT_ACCOUNT_ID: &str = "123456789012";

/// The ENIs of a lab: every node in a VPC subnet that AWS gives a network
/// interface of its own, with its namespace.
pub fn lab_enis(t: &Topology, plan: &Plan) -> Vec<NodeEnis> {
    let mut out = Vec::new();
    for n in &t.nodes {
        let has_eni = matches!(
            n.kind,
            NodeKind::Instance
                | NodeKind::AsgInstance { .. }
                | NodeKind::LoadBalancer { .. }
                | NodeKind::Database { .. }
                | NodeKind::NatGateway
        );
        if !has_eni || !n.in_vpc() {
            continue;
        }
        let Some(ns) = plan
            .namespaces
            .iter()
            .find(|s| s.node.as_deref() == Some(n.name.as_str()))
        else {
            continue;
        };
        let enis = n
            .interfaces
            .iter()
            .filter(|i| matches!(i.attachment, Attachment::Subnet(_)))
            .map(|i| (i.name.clone(), i.ip))
            .collect();
        out.push(NodeEnis {
            node: n.name.clone(),
            ns: ns.name.clone(),
            enis,
        });
    }
    out
}

fn nft_in(ns: &str, args: &[&str], stdin: Option<&str>) -> io::Result<String> {
    let mut cmd = Command::new("nft");
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    Netns::open(ns)?.command(&mut cmd)?;
    let mut child = cmd
        .spawn()
        .map_err(|e| io::Error::new(e.kind(), format!("run nft in {ns}: {e}")))?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "nft {} in {ns}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Unix seconds now.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A capture in progress: the tables loaded, one aggregator per node.
#[derive(Debug)]
pub struct Capture {
    account_id: String,
    nodes: Vec<(NodeEnis, Aggregator)>,
    started: u64,
}

impl Capture {
    /// Loads the counting table into every ENI's namespace (replacing a
    /// table a killed capture left). Fails if nftables refuses it (e.g. a
    /// kernel without dynamic sets); what was loaded is removed.
    pub fn start(t: &Topology, plan: &Plan, account_id: &str) -> io::Result<Capture> {
        let ruleset = flowlog::ruleset();
        let mut cap = Capture {
            account_id: account_id.to_string(),
            nodes: Vec::new(),
            started: unix_now(),
        };
        for node in lab_enis(t, plan) {
            nft_in(&node.ns, &["-f", "-"], Some(&ruleset))?;
            tracing::debug!(ns = %node.ns, "flow log table loaded");
            cap.nodes.push((node, Aggregator::default()));
        }
        Ok(cap)
    }

    /// The nodes captured.
    pub fn nodes(&self) -> impl Iterator<Item = &NodeEnis> {
        self.nodes.iter().map(|(n, _)| n)
    }

    /// Closes the interval that started at the previous call (or the
    /// start) and returns its records, ENI by ENI. A node whose counters
    /// cannot be read (its namespace gone) is skipped with a warning.
    pub fn close_interval(&mut self) -> Vec<FlowRecord> {
        let end = unix_now();
        let start = self.started;
        self.started = end;
        let mut out = Vec::new();
        for (node, agg) in &mut self.nodes {
            let json = match nft_in(
                &node.ns,
                &["-j", "-p", "list", "table", "inet", flowlog::TABLE],
                None,
            ) {
                Ok(j) => j,
                Err(e) => {
                    tracing::warn!(node = %node.node, "flow log counters unreadable: {e}");
                    continue;
                }
            };
            match flowlog::parse_snapshot(&json) {
                Ok(snap) => out.extend(agg.close(node, &self.account_id, snap, (start, end))),
                Err(e) => tracing::warn!(node = %node.node, "flow log counters unparsable: {e}"),
            }
        }
        out
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        for (node, _) in &self.nodes {
            if let Err(e) = nft_in(&node.ns, &["delete", "table", "inet", flowlog::TABLE], None) {
                tracing::debug!(ns = %node.ns, "flow log table not removed: {e}");
            }
        }
    }
}
