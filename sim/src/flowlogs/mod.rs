//! Flow logs from the lab's own firewalls, the pure part: the nftables
//! table `sim flowlogs` adds to a node's namespace, its counters read back
//! from `nft -j` and turned into flow log records per interval.
//!
//! The table counts every IPv4 packet per 5-tuple twice on each hook
//! (input, output, forward): in a chain before the security groups
//! (priority -10, "seen") and in one after them (priority 10, "passed").
//! The security groups (`table inet vifgate_sg`, priority 0) drop a packet
//! before it reaches the second chain, so per flow, passed packets are
//! ACCEPT and seen minus passed are REJECT. Dynamic sets with a counter
//! per element hold the flows (bounded: [`FLOWS_PER_SET`]); a packet whose
//! flow finds its set full is counted as skipped, and reported as
//! SKIPDATA. The table leaves the security groups untouched and goes with
//! the namespace, or when `sim flowlogs` ends.

pub mod capture;
pub mod enis;
pub mod record;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::Ipv4Addr;

use serde_json::Value;

use crate::flowlogs::record::{
    FlowAction, FlowDirection, FlowKey, FlowRecord, Identity, LogStatus,
};

/// The table's name (family inet).
pub const TABLE: &str = "vifgate_flowlog";

/// At most this many flows per set (one set per hook, stage and key
/// shape), as AWS bounds what it records per interval.
pub const FLOWS_PER_SET: u32 = 65535;

/// The hooks counted, with the direction they mean for the node's ENI.
pub const HOOKS: [(&str, Direction); 3] = [
    ("input", Direction::Ingress),
    ("output", Direction::Egress),
    ("forward", Direction::Forward),
];

/// Which way a packet crossed the node's interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Direction {
    /// To the node.
    Ingress,
    /// From the node.
    Egress,
    /// Through the node (a NAT gateway).
    Forward,
}

/// Before or after the security groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stage {
    /// Every packet.
    Seen,
    /// The packets the security groups let through.
    Passed,
}

fn hook_prefix(hook: &str) -> &str {
    match hook {
        "input" => "in",
        "output" => "out",
        _ => "fwd",
    }
}

/// The table `sim flowlogs` loads into a node's namespace (replacing an
/// earlier one, left by a run that was killed).
pub fn ruleset() -> String {
    let mut s = format!("table inet {TABLE}\ndelete table inet {TABLE}\ntable inet {TABLE} {{\n");
    for (hook, _) in HOOKS {
        let p = hook_prefix(hook);
        for stage in ["seen", "passed"] {
            let _ = writeln!(
                s,
                "  set {p}_{stage}_ports {{\n    type ipv4_addr . ipv4_addr . inet_proto . inet_service . inet_service\n    flags dynamic\n    size {FLOWS_PER_SET}\n  }}\n  set {p}_{stage}_other {{\n    type ipv4_addr . ipv4_addr . inet_proto\n    flags dynamic\n    size {FLOWS_PER_SET}\n  }}\n  counter {p}_{stage}_skipped {{ }}"
            );
        }
    }
    for (hook, _) in HOOKS {
        let p = hook_prefix(hook);
        let lo = match hook {
            "input" => "iifname \"lo\" accept\n",
            "output" => "oifname \"lo\" accept\n",
            _ => "",
        };
        for (stage, prio) in [("seen", -10), ("passed", 10)] {
            let _ = writeln!(
                s,
                "  chain {p}_{stage} {{\n    type filter hook {hook} priority {prio}; policy accept;\n    {lo}    meta nfproto != ipv4 accept\n    meta l4proto {{ tcp, udp, sctp }} add @{p}_{stage}_ports {{ ip saddr . ip daddr . meta l4proto . th sport . th dport counter }} accept\n    meta l4proto != {{ tcp, udp, sctp }} add @{p}_{stage}_other {{ ip saddr . ip daddr . meta l4proto counter }} accept\n    counter name {p}_{stage}_skipped\n  }}"
            );
        }
    }
    s.push_str("}\n");
    s
}

/// Packets and bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Count {
    /// Packets.
    pub packets: u64,
    /// Bytes.
    pub bytes: u64,
}

impl Count {
    fn minus(self, other: Count) -> Count {
        Count {
            packets: self.packets.saturating_sub(other.packets),
            bytes: self.bytes.saturating_sub(other.bytes),
        }
    }

    fn max(self, other: Count) -> Count {
        Count {
            packets: self.packets.max(other.packets),
            bytes: self.bytes.max(other.bytes),
        }
    }
}

/// The table's counters at one moment (cumulative since it was loaded).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Per direction, stage and flow.
    pub flows: BTreeMap<(Direction, Stage, FlowKey), Count>,
    /// Packets whose flow found its set full, per direction.
    pub skipped: BTreeMap<Direction, u64>,
}

fn direction_of(prefix: &str) -> Option<Direction> {
    match prefix {
        "in" => Some(Direction::Ingress),
        "out" => Some(Direction::Egress),
        "fwd" => Some(Direction::Forward),
        _ => None,
    }
}

/// `in_seen_ports` -> (Ingress, Seen).
fn set_name(name: &str) -> Option<(Direction, Stage)> {
    let mut parts = name.split('_');
    let dir = direction_of(parts.next()?)?;
    let stage = match parts.next()? {
        "seen" => Stage::Seen,
        "passed" => Stage::Passed,
        _ => return None,
    };
    Some((dir, stage))
}

fn count_of(v: &Value) -> Count {
    Count {
        packets: v["packets"].as_u64().unwrap_or(0),
        bytes: v["bytes"].as_u64().unwrap_or(0),
    }
}

fn key_of(concat: &[Value]) -> Option<FlowKey> {
    let addr = |v: &Value| v.as_str()?.parse::<Ipv4Addr>().ok();
    let port = |v: Option<&Value>| -> Option<u16> {
        match v {
            None => Some(0),
            Some(v) => u16::try_from(v.as_u64()?).ok(),
        }
    };
    Some(FlowKey {
        src: addr(concat.first()?)?,
        dst: addr(concat.get(1)?)?,
        protocol: u8::try_from(concat.get(2)?.as_u64()?).ok()?,
        src_port: port(concat.get(3))?,
        dst_port: port(concat.get(4))?,
    })
}

/// Reads `nft -j -p list table inet vifgate_flowlog` (protocols as
/// numbers). Elements it cannot read are left out.
pub fn parse_snapshot(json: &str) -> Result<Snapshot, serde_json::Error> {
    let v: Value = serde_json::from_str(json)?;
    let mut snap = Snapshot::default();
    let items = v["nftables"].as_array().cloned().unwrap_or_default();
    for item in &items {
        if let Some(set) = item.get("set") {
            let Some((dir, stage)) = set["name"].as_str().and_then(set_name) else {
                continue;
            };
            for e in set["elem"].as_array().into_iter().flatten() {
                let e = &e["elem"];
                let Some(key) = e["val"]["concat"].as_array().and_then(|c| key_of(c)) else {
                    continue;
                };
                *snap.flows.entry((dir, stage, key)).or_default() = count_of(&e["counter"]);
            }
        } else if let Some(c) = item.get("counter") {
            let Some(name) = c["name"].as_str() else {
                continue;
            };
            if let (Some((dir, Stage::Seen)), true) = (set_name(name), name.ends_with("_skipped")) {
                *snap.skipped.entry(dir).or_default() += count_of(c).packets;
            }
        }
    }
    Ok(snap)
}

/// Packets of one flow counted on one ENI with one action in an interval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EniFlow {
    /// The interface (`eni-...`).
    pub eni: String,
    /// The flow.
    pub key: FlowKey,
    /// ACCEPT or REJECT.
    pub action: FlowAction,
    /// Its packets and bytes in the interval.
    pub count: Count,
}

/// One source's flows (a node's table, or the VPC router's) in an
/// interval, and the packets it skipped (its sets full).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IntervalFlows {
    /// The flows that moved.
    pub flows: Vec<EniFlow>,
    /// Packets whose flow found no room in a set.
    pub skipped: u64,
}

/// One table's counters, interval after interval: the previous snapshot
/// and the REJECT counts already reported (kept monotonic, so that a
/// packet counted before the security groups but not yet after them when
/// the counters were read is not reported twice).
#[derive(Debug, Default)]
pub struct Aggregator {
    previous: Snapshot,
    rejected: BTreeMap<(Direction, FlowKey), Count>,
}

impl Aggregator {
    /// What moved since the previous call: per flow that moved, its
    /// accepted (passed) and rejected (seen, not passed) packets, each on
    /// the ENI `attribute` names (none: not recorded).
    pub fn close(
        &mut self,
        now: Snapshot,
        attribute: impl Fn(Direction, &FlowKey, FlowAction) -> Option<String>,
    ) -> IntervalFlows {
        let mut out = IntervalFlows::default();
        let count_of = |snap: &Snapshot, dir, stage, key| {
            snap.flows
                .get(&(dir, stage, key))
                .copied()
                .unwrap_or_default()
        };
        for (&(dir, stage, key), &seen) in &now.flows {
            if stage != Stage::Seen {
                continue;
            }
            let passed = count_of(&now, dir, Stage::Passed, key);
            let accepted = passed.minus(count_of(&self.previous, dir, Stage::Passed, key));
            let before = self.rejected.get(&(dir, key)).copied().unwrap_or_default();
            let rejected_total = seen.minus(passed).max(before);
            let rejected = rejected_total.minus(before);
            self.rejected.insert((dir, key), rejected_total);
            for (action, count) in [
                (FlowAction::Accept, accepted),
                (FlowAction::Reject, rejected),
            ] {
                if count.packets == 0 {
                    continue;
                }
                if let Some(eni) = attribute(dir, &key, action) {
                    out.flows.push(EniFlow {
                        eni,
                        key,
                        action,
                        count,
                    });
                }
            }
        }
        let skipped = |s: &Snapshot| s.skipped.values().sum::<u64>();
        out.skipped = skipped(&now).saturating_sub(skipped(&self.previous));
        self.previous = now;
        out
    }
}

/// The records of one interval for the ENIs `enis` (in their order): the
/// flows of every source, a packet the VPC router's network ACLs rejected
/// on the ENI that sent it taken out of that ENI's ACCEPT count (its
/// security group let it out, the network ACL stopped it: AWS records it
/// as REJECT only); SKIPDATA on the ENIs in `skipped_on`; NODATA for an ENI
/// with neither. `direction_of` says whether a flow on an ENI is its
/// `ingress` or `egress` (AWS's `flow-direction`).
pub fn interval_records(
    enis: &[String],
    sources: Vec<IntervalFlows>,
    skipped_on: &[String],
    account_id: &str,
    (start, end): (u64, u64),
    direction_of: impl Fn(&str, &FlowKey) -> FlowDirection,
) -> Vec<FlowRecord> {
    let mut merged: BTreeMap<(String, FlowKey, FlowAction), Count> = BTreeMap::new();
    for f in sources.into_iter().flat_map(|s| s.flows) {
        let c = merged.entry((f.eni, f.key, f.action)).or_default();
        c.packets += f.count.packets;
        c.bytes += f.count.bytes;
    }
    let rejects: Vec<((String, FlowKey), Count)> = merged
        .iter()
        .filter(|((_, _, a), _)| *a == FlowAction::Reject)
        .map(|((e, k, _), c)| ((e.clone(), *k), *c))
        .collect();
    for ((eni, key), c) in rejects {
        if let Some(acc) = merged.get_mut(&(eni.clone(), key, FlowAction::Accept)) {
            *acc = acc.minus(c);
            if acc.packets == 0 {
                merged.remove(&(eni, key, FlowAction::Accept));
            }
        }
    }
    let record = |eni: &str, flow, c: Count, status| FlowRecord {
        identity: Identity {
            account_id: account_id.to_string(),
            interface_id: eni.to_string(),
        },
        record: gateway::flow_log::FlowRecord {
            status,
            flow,
            packets: c.packets,
            bytes: c.bytes,
            start,
            end,
            tcp_flags: None,
        },
    };
    let mut out = Vec::new();
    for eni in enis {
        let before = out.len();
        for ((e, key, action), c) in &merged {
            if e == eni {
                let flow = key.with(direction_of(eni, key), *action);
                out.push(record(eni, Some(flow), *c, LogStatus::Ok));
            }
        }
        if skipped_on.contains(eni) {
            out.push(record(eni, None, Count::default(), LogStatus::SkipData));
        }
        if out.len() == before {
            out.push(record(eni, None, Count::default(), LogStatus::NoData));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flowlogs::enis::NodeEnis;

    /// One interval of the bastion's records.
    fn records(agg: &mut Aggregator, snap: Snapshot, span: (u64, u64)) -> Vec<FlowRecord> {
        let n = node();
        let flows = agg.close(snap, |d, k, _| n.eni_of(d, k).map(String::from));
        let skipped: Vec<String> = if flows.skipped > 0 {
            vec!["eni-bastion".into()]
        } else {
            vec![]
        };
        let nodes = [n.clone()];
        let direction =
            |eni: &str, key: &FlowKey| crate::flowlogs::enis::direction_on(&nodes, eni, key);
        interval_records(
            &["eni-bastion".into()],
            vec![flows],
            &skipped,
            "1",
            span,
            direction,
        )
    }

    const BASTION: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 10);

    fn node() -> NodeEnis {
        NodeEnis {
            node: "bastion".into(),
            ns: "lab.bastion".into(),
            enis: vec![("eni-bastion".into(), BASTION)],
        }
    }

    fn ssh_from(src: Ipv4Addr) -> FlowKey {
        FlowKey {
            src,
            dst: BASTION,
            src_port: 40000,
            dst_port: 22,
            protocol: 6,
        }
    }

    fn elem(key: &FlowKey, packets: u64, bytes: u64) -> Value {
        serde_json::json!({"elem": {"val": {"concat": [key.src.to_string(), key.dst.to_string(), key.protocol, key.src_port, key.dst_port]}, "counter": {"packets": packets, "bytes": bytes}}})
    }

    fn nft_json(seen: Vec<Value>, passed: Vec<Value>, skipped: u64) -> String {
        serde_json::json!({"nftables": [
            {"metainfo": {"version": "1.0.6"}},
            {"counter": {"family": "inet", "name": "in_seen_skipped", "table": TABLE, "packets": skipped, "bytes": 0}},
            {"set": {"family": "inet", "name": "in_seen_ports", "table": TABLE, "elem": seen}},
            {"set": {"family": "inet", "name": "in_passed_ports", "table": TABLE, "elem": passed}},
            {"set": {"family": "inet", "name": "in_seen_other", "table": TABLE}},
        ]})
        .to_string()
    }

    #[test]
    fn the_ruleset_has_a_chain_before_and_after_the_security_groups_per_hook() {
        let r = ruleset();
        for hook in ["input", "output", "forward"] {
            assert!(r.contains(&format!("hook {hook} priority -10;")), "{r}");
            assert!(r.contains(&format!("hook {hook} priority 10;")), "{r}");
        }
        assert!(r.starts_with("table inet vifgate_flowlog\ndelete table inet vifgate_flowlog\n"));
        assert!(r.contains("counter name in_seen_skipped"));
    }

    #[test]
    fn passed_is_accept_and_seen_minus_passed_is_reject() {
        let office = Ipv4Addr::new(192, 168, 10, 10);
        let internet = Ipv4Addr::new(203, 0, 113, 5);
        let json = nft_json(
            vec![
                elem(&ssh_from(office), 5, 300),
                elem(&ssh_from(internet), 2, 120),
            ],
            vec![elem(&ssh_from(office), 5, 300)],
            0,
        );
        let snap = parse_snapshot(&json).expect("parse");
        let mut agg = Aggregator::default();
        let recs = records(&mut agg, snap, (100, 110));
        let lines: Vec<String> = recs.iter().map(|r| r.to_string()).collect();
        let json = serde_json::to_value(&recs[0]).expect("json");
        assert_eq!(json["srcaddr"], "192.168.10.10");
        assert_eq!(json["dstport"], 22);
        assert_eq!(json["action"], "ACCEPT");
        assert_eq!(
            lines,
            [
                "2 1 eni-bastion 192.168.10.10 10.0.0.10 40000 22 6 5 300 100 110 ACCEPT OK",
                "2 1 eni-bastion 203.0.113.5 10.0.0.10 40000 22 6 2 120 100 110 REJECT OK",
            ]
        );
    }

    #[test]
    fn the_next_interval_reports_only_what_moved_and_nodata_when_nothing_did() {
        let office = Ipv4Addr::new(192, 168, 10, 10);
        let k = ssh_from(office);
        let mut agg = Aggregator::default();
        let first = parse_snapshot(&nft_json(vec![elem(&k, 5, 300)], vec![elem(&k, 5, 300)], 0))
            .expect("parse");
        records(&mut agg, first.clone(), (0, 10));
        let second = parse_snapshot(&nft_json(vec![elem(&k, 8, 480)], vec![elem(&k, 8, 480)], 0))
            .expect("parse");
        let recs = records(&mut agg, second.clone(), (10, 20));
        assert_eq!(recs.len(), 1);
        assert_eq!((recs[0].record.packets, recs[0].record.bytes), (3, 180));
        assert_eq!(recs[0].action(), Some(FlowAction::Accept));
        let recs = records(&mut agg, second, (20, 30));
        assert_eq!(
            recs[0].to_string(),
            "2 1 eni-bastion - - - - - - - 20 30 - NODATA"
        );
    }

    #[test]
    fn a_packet_counted_before_but_not_yet_after_is_rejected_at_most_once() {
        let k = ssh_from(Ipv4Addr::new(192, 168, 10, 10));
        let mut agg = Aggregator::default();
        // read while one packet was between the two chains
        let s1 = parse_snapshot(&nft_json(vec![elem(&k, 3, 180)], vec![elem(&k, 2, 120)], 0))
            .expect("parse");
        let r1 = records(&mut agg, s1, (0, 10));
        assert!(r1.iter().any(|r| r.action() == Some(FlowAction::Reject)));
        // it passed: no new REJECT, the ACCEPT counts it
        let s2 = parse_snapshot(&nft_json(vec![elem(&k, 3, 180)], vec![elem(&k, 3, 180)], 0))
            .expect("parse");
        let r2 = records(&mut agg, s2, (10, 20));
        assert_eq!(r2.len(), 1, "{r2:?}");
        assert_eq!(r2[0].action(), Some(FlowAction::Accept));
    }

    #[test]
    fn skipped_packets_make_a_skipdata_record() {
        let mut agg = Aggregator::default();
        let s = parse_snapshot(&nft_json(vec![], vec![], 7)).expect("parse");
        let recs = records(&mut agg, s, (0, 10));
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0].record.status, LogStatus::SkipData);
        assert_eq!(
            recs[0].to_string(),
            "2 1 eni-bastion - - - - - - - 0 10 - SKIPDATA"
        );
    }

    #[test]
    fn the_eni_is_the_one_holding_the_address() {
        let n = NodeEnis {
            node: "alb".into(),
            ns: "lab.alb".into(),
            enis: vec![
                ("eni-alb-a".into(), Ipv4Addr::new(10, 0, 0, 5)),
                ("eni-alb-c".into(), Ipv4Addr::new(10, 0, 1, 5)),
            ],
        };
        let k = FlowKey {
            src: Ipv4Addr::new(10, 0, 1, 5),
            dst: Ipv4Addr::new(10, 0, 11, 10),
            src_port: 1,
            dst_port: 80,
            protocol: 6,
        };
        assert_eq!(n.eni_of(Direction::Egress, &k), Some("eni-alb-c"));
        assert_eq!(n.eni_of(Direction::Ingress, &k), Some("eni-alb-a"));
    }

    #[test]
    fn a_network_acl_reject_on_the_sender_replaces_its_accept() {
        let k = FlowKey {
            src: BASTION,
            dst: Ipv4Addr::new(10, 0, 20, 10),
            src_port: 40000,
            dst_port: 3306,
            protocol: 6,
        };
        let flow = |action, packets| EniFlow {
            eni: "eni-bastion".into(),
            key: k,
            action,
            count: Count {
                packets,
                bytes: packets * 60,
            },
        };
        // the security group let 2 out, the network ACL dropped both
        let node = IntervalFlows {
            flows: vec![flow(FlowAction::Accept, 2)],
            skipped: 0,
        };
        let router = IntervalFlows {
            flows: vec![flow(FlowAction::Reject, 2)],
            skipped: 0,
        };
        let recs = interval_records(
            &["eni-bastion".into()],
            vec![node, router],
            &[],
            "1",
            (0, 10),
            |_, _| FlowDirection::Egress,
        );
        assert_eq!(recs.len(), 1, "{recs:?}");
        assert_eq!(recs[0].action(), Some(FlowAction::Reject));
        assert_eq!(recs[0].record.packets, 2);
    }
}
