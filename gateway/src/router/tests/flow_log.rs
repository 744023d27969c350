//! The router reports each policy verdict to the flow log: ACCEPT for what
//! the policy let through, REJECT for what it dropped, one record per flow
//! and direction at the interval's end.

use std::time::Duration;

use super::*;
use crate::flow_log::{
    Action, AggregatorConfig, FlowAggregator, FlowDirection, Format, Identity, LogStatus,
};
use crate::status::FlowLogStatus;

/// A flow log of 10 s intervals holding `max_flows` flows each.
fn aggregator(now: Instant, max_flows: usize) -> FlowAggregator {
    let config = AggregatorConfig {
        interval: Duration::from_secs(10),
        max_flows,
    };
    // 2026-12-01 00:00:00 UTC: on a 10 s boundary
    let unix = Duration::from_secs(1_796_083_200);
    FlowAggregator::new(config, now, unix)
}

fn start(router: &mut Router, now: Instant) {
    assert!(router.start_flow_log(aggregator(now, 100)).is_none());
}

#[test]
fn accepted_and_rejected_packets_become_accept_and_reject_records() {
    let mut lab = lab(EDGE);
    start(&mut lab.office, lab.now);
    // allowed: office-initiated TCP and its reply, a ping from the VPC
    lab.office_sends(&office_syn());
    lab.aws_sends(&vpc_syn_ack());
    lab.aws_sends(&ping([10, 0, 10, 10], [192, 168, 10, 10], 8));
    // denied: a VPC-initiated SSH connection
    let ssh = vpc_ssh_syn();
    lab.aws_sends(&ssh);
    lab.aws_sends(&ssh);
    assert!(lab.office.poll_flow_records(lab.now).is_empty());
    lab.advance(Duration::from_secs(10));
    let records = lab.office.poll_flow_records(lab.now);
    let flows: Vec<_> = records
        .iter()
        .filter_map(|r| {
            r.flow
                .map(|f| (f, r.packets, r.tcp_flags.unwrap_or_default()))
        })
        .collect();
    assert_eq!(flows.len(), 4, "{records:?}");
    let find = |dst_port: u16, dir: FlowDirection| {
        flows
            .iter()
            .find(|(f, ..)| f.tuple.dst_port == dst_port && f.direction == dir)
            .unwrap_or_else(|| panic!("no record to port {dst_port} {dir:?}: {records:?}"))
    };
    let (syn, n, flags) = find(443, FlowDirection::Egress);
    assert_eq!((syn.action, *n, *flags), (Action::Accept, 1, 2));
    let (reply, _, flags) = find(40000, FlowDirection::Ingress);
    assert_eq!((reply.action, *flags), (Action::Accept, 18));
    let (denied, n, _) = find(22, FlowDirection::Ingress);
    assert_eq!((denied.action, *n), (Action::Reject, 2));
    assert_eq!(denied.tuple.src, std::net::Ipv4Addr::new(10, 0, 10, 10));
    let (icmp, ..) = find(0, FlowDirection::Ingress);
    assert_eq!((icmp.tuple.protocol, icmp.action), (1, Action::Accept));

    let id = Identity {
        account_id: "123456789010".into(),
        interface_id: "vg0".into(),
    };
    let lines: Vec<String> = records
        .iter()
        .map(|r| Format::default().render(r, &id))
        .collect();
    assert!(
        lines.contains(&"2 123456789010 vg0 10.0.10.10 192.168.10.10 50000 22 6 2 80 1796083200 1796083200 REJECT OK".to_string()),
        "{lines:#?}"
    );
    // the next interval is quiet: NODATA
    lab.advance(Duration::from_secs(10));
    let records = lab.office.poll_flow_records(lab.now);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].status, LogStatus::NoData);
}

#[test]
fn without_a_flow_log_nothing_is_recorded() {
    let mut lab = lab(EDGE);
    lab.office_sends(&office_syn());
    lab.advance(Duration::from_secs(60));
    assert!(lab.office.poll_flow_records(lab.now).is_empty());
    assert_eq!(lab.office.flow_log_skipped_packets(), 0);
    assert_eq!(lab.office.status(lab.now).flow_log, None);
}

/// Three SYNs from the office to port 443, from source ports 40000 to
/// 40002: three flows, `len` bytes each.
fn three_flows(lab: &mut Lab) -> u64 {
    let mut len = 0;
    for sport in 40000..40003 {
        let syn = tcp(
            [192, 168, 10, 10],
            [10, 0, 10, 10],
            sport,
            443,
            tcp_flags::SYN,
        );
        len = syn.len() as u64;
        lab.office_sends(&syn);
    }
    len
}

#[test]
fn the_status_counts_what_a_full_flow_table_skipped_across_restarts() {
    let mut lab = lab(EDGE);
    assert!(lab.office.start_flow_log(aggregator(lab.now, 1)).is_none());
    assert_eq!(
        lab.office.status(lab.now).flow_log,
        Some(FlowLogStatus::default()),
        "on, nothing skipped yet"
    );
    // one flow held, two skipped
    let len = three_flows(&mut lab);
    let skipped = FlowLogStatus {
        skipped_packets: 2,
        skipped_bytes: 2 * len,
    };
    assert_eq!(lab.office.status(lab.now).flow_log, Some(skipped));
    assert_eq!(lab.office.flow_log_skipped_packets(), 2);
    // a reload restarts the flow log: the counts carry on
    lab.advance(Duration::from_secs(10));
    assert!(lab.office.start_flow_log(aggregator(lab.now, 1)).is_some());
    assert_eq!(lab.office.status(lab.now).flow_log, Some(skipped));
    three_flows(&mut lab);
    assert_eq!(
        lab.office.status(lab.now).flow_log,
        Some(FlowLogStatus {
            skipped_packets: 4,
            skipped_bytes: 4 * len,
        })
    );
    // stopped: no flow log in the status; started again, the counts
    // resume where they were
    assert!(lab.office.stop_flow_log().is_some());
    assert_eq!(lab.office.status(lab.now).flow_log, None);
    assert_eq!(lab.office.flow_log_skipped_packets(), 0);
    assert!(lab
        .office
        .start_flow_log(aggregator(lab.now, 100))
        .is_none());
    assert_eq!(lab.office.flow_log_skipped_packets(), 4);
}
