//! The router reports each policy verdict to the flow log: ACCEPT for what
//! the policy let through, REJECT for what it dropped, one record per flow
//! and direction at the interval's end.

use std::time::Duration;

use super::*;
use crate::flow_log::{
    Action, AggregatorConfig, FlowAggregator, FlowDirection, Format, Identity, LogStatus,
};

fn start(router: &mut Router, now: Instant) {
    let config = AggregatorConfig {
        interval: Duration::from_secs(10),
        max_flows: 100,
    };
    // 2026-12-01 00:00:00 UTC: on a 10 s boundary
    let unix = Duration::from_secs(1_796_083_200);
    assert!(router
        .start_flow_log(FlowAggregator::new(config, now, unix))
        .is_none());
}

#[test]
fn accepted_and_rejected_packets_become_accept_and_reject_records() {
    let mut lab = lab(EDGE);
    start(&mut lab.office, lab.now);
    // allowed: office-initiated TCP and its reply, a ping from the VPC
    lab.office_sends(&office_syn());
    let syn_ack = tcp(
        [10, 0, 10, 10],
        [192, 168, 10, 10],
        443,
        40000,
        tcp_flags::SYN | tcp_flags::ACK,
    );
    lab.aws_sends(&syn_ack);
    lab.aws_sends(&ping([10, 0, 10, 10], [192, 168, 10, 10], 8));
    // denied: a VPC-initiated SSH connection
    let ssh = tcp(
        [10, 0, 10, 10],
        [192, 168, 10, 10],
        50000,
        22,
        tcp_flags::SYN,
    );
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
            .find(|(f, ..)| f.dst_port == dst_port && f.direction == dir)
            .unwrap_or_else(|| panic!("no record to port {dst_port} {dir:?}: {records:?}"))
    };
    let (syn, n, flags) = find(443, FlowDirection::Egress);
    assert_eq!((syn.action, *n, *flags), (Action::Accept, 1, 2));
    let (reply, _, flags) = find(40000, FlowDirection::Ingress);
    assert_eq!((reply.action, *flags), (Action::Accept, 18));
    let (denied, n, _) = find(22, FlowDirection::Ingress);
    assert_eq!((denied.action, *n), (Action::Reject, 2));
    assert_eq!(denied.src, std::net::Ipv4Addr::new(10, 0, 10, 10));
    let (icmp, ..) = find(0, FlowDirection::Ingress);
    assert_eq!((icmp.protocol, icmp.action), (1, Action::Accept));

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
}
