//! The aggregator's rules on a hand-driven clock.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::{AggregatorConfig, FlowAggregator};
use crate::flow_log::record::{Action, FiveTuple, FlowDirection, LogStatus, Observation};
use crate::packet::tcp_flags::{ACK, FIN, SYN};

/// 2026-12-01 00:00:00 UTC, on the minute.
const T0: u64 = 1_796_083_200;

fn agg(interval: u64, max_flows: usize) -> (FlowAggregator, Instant) {
    let now = Instant::now();
    let config = AggregatorConfig {
        interval: Duration::from_secs(interval),
        max_flows,
    };
    (
        FlowAggregator::new(config, now, Duration::from_secs(T0)),
        now,
    )
}

fn tcp(src_port: u16, action: Action, bytes: u64, flags: u8) -> Observation {
    Observation {
        key: FiveTuple {
            src: Ipv4Addr::new(192, 168, 10, 2),
            dst: Ipv4Addr::new(10, 0, 1, 10),
            src_port,
            dst_port: 443,
            protocol: 6,
        }
        .with(FlowDirection::Egress, action),
        bytes,
        tcp_flags: flags,
    }
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[test]
fn packets_of_one_flow_sum_into_one_record_with_first_and_last_times() {
    let (mut a, t) = agg(60, 100);
    a.observe(t + secs(3), &tcp(5000, Action::Accept, 60, SYN));
    a.observe(t + secs(4), &tcp(5000, Action::Accept, 52, ACK));
    a.observe(t + secs(41), &tcp(5000, Action::Accept, 40, FIN | ACK));
    assert!(a.poll_records(t + secs(59)).is_empty(), "interval not over");
    let r = a.poll_records(t + secs(60));
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(r[0].status, LogStatus::Ok);
    assert_eq!((r[0].packets, r[0].bytes), (3, 152));
    assert_eq!((r[0].start, r[0].end), (T0 + 3, T0 + 41));
    assert_eq!(
        r[0].tcp_flags,
        Some(3),
        "SYN | FIN; ACK alone is not recorded"
    );
}

#[test]
fn accept_and_reject_of_one_five_tuple_are_two_records() {
    let (mut a, t) = agg(10, 100);
    a.observe(t, &tcp(5000, Action::Accept, 60, 0));
    a.observe(t, &tcp(5000, Action::Reject, 60, 0));
    let r = a.poll_records(t + secs(10));
    let actions: Vec<_> = r.iter().filter_map(|r| r.flow.map(|f| f.action)).collect();
    assert_eq!(r.len(), 2);
    assert!(actions.contains(&Action::Accept) && actions.contains(&Action::Reject));
}

#[test]
fn ten_second_interval_closes_at_ten_seconds_on_the_clock() {
    // built 3 s into an interval: it still ends on the 10 s boundary
    let now = Instant::now();
    let config = AggregatorConfig {
        interval: secs(10),
        max_flows: 10,
    };
    let mut a = FlowAggregator::new(config, now, secs(T0 + 3));
    assert_eq!(a.poll_timeout(), now + secs(7));
    a.observe(now, &tcp(1, Action::Accept, 40, 0));
    assert!(a.poll_records(now + secs(6)).is_empty());
    let r = a.poll_records(now + secs(7));
    assert_eq!(r.len(), 1);
    assert_eq!(a.poll_timeout(), now + secs(17));
}

#[test]
fn interval_without_traffic_is_one_nodata_record_with_interval_bounds() {
    let (mut a, t) = agg(60, 100);
    let r = a.poll_records(t + secs(60));
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].status, LogStatus::NoData);
    assert_eq!((r[0].start, r[0].end), (T0, T0 + 60));
    // three idle intervals at once: three NODATA records
    let r = a.poll_records(t + secs(240));
    assert_eq!(r.len(), 3);
    assert!(r.iter().all(|r| r.status == LogStatus::NoData));
    assert_eq!(r[2].start, T0 + 180);
}

#[test]
fn packet_after_interval_end_closes_it_first() {
    let (mut a, t) = agg(10, 100);
    a.observe(t + secs(1), &tcp(1, Action::Accept, 40, 0));
    a.observe(t + secs(12), &tcp(1, Action::Accept, 40, 0));
    let r = a.poll_records(t + secs(12));
    assert_eq!(r.len(), 1, "only the closed interval: {r:?}");
    assert_eq!((r[0].packets, r[0].start), (1, T0 + 1));
    let r = a.poll_records(t + secs(20));
    assert_eq!((r[0].packets, r[0].start), (1, T0 + 12));
}

#[test]
fn flows_past_the_bound_are_one_skipdata_record() {
    let (mut a, t) = agg(60, 2);
    for port in 1..=5 {
        a.observe(t, &tcp(port, Action::Accept, 100, 0));
    }
    // a packet of an already held flow is still counted
    a.observe(t, &tcp(1, Action::Accept, 100, 0));
    let r = a.poll_records(t + secs(60));
    assert_eq!(r.len(), 3, "{r:?}");
    assert_eq!(r[0].packets + r[1].packets, 3);
    let skip = &r[2];
    assert_eq!(skip.status, LogStatus::SkipData);
    assert_eq!((skip.packets, skip.bytes), (3, 300));
    assert_eq!((skip.start, skip.end), (T0, T0 + 60));
    assert_eq!(a.skipped_packets_total(), 3);
    assert_eq!(a.skipped_bytes_total(), 300);
    // the next interval starts with room again, and no SKIPDATA
    a.observe(t + secs(61), &tcp(9, Action::Accept, 100, 0));
    let r = a.poll_records(t + secs(120));
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].status, LogStatus::Ok);
    // the totals run on across intervals (status and metrics)
    a.observe(t + secs(121), &tcp(1, Action::Accept, 100, 0));
    a.observe(t + secs(121), &tcp(2, Action::Accept, 100, 0));
    a.observe(t + secs(121), &tcp(3, Action::Accept, 50, 0));
    assert_eq!(a.skipped_packets_total(), 4);
    assert_eq!(a.skipped_bytes_total(), 350);
}

#[test]
fn flood_of_distinct_flows_holds_at_most_max_flows() {
    let (mut a, t) = agg(60, 1000);
    for i in 0..200_000u32 {
        let mut o = tcp((i % 65536) as u16, Action::Reject, 40, SYN);
        o.key.tuple.src = Ipv4Addr::from(0x0a00_0000 + i);
        a.observe(t, &o);
        assert!(a.flows.len() <= 1000);
    }
    let r = a.poll_records(t + secs(60));
    assert_eq!(r.len(), 1001);
    assert_eq!(r[1000].packets, 199_000);
}

proptest! {
    /// Whatever the packets and times, the records of all intervals
    /// account for every packet and byte observed, recorded or skipped.
    #[test]
    fn packets_and_bytes_are_conserved(
        packets in prop::collection::vec((0u16..20, 0u64..1500, 0u64..300, any::<bool>()), 0..300),
        max_flows in 1usize..30,
        ten in any::<bool>(),
    ) {
        let (mut a, t) = agg(if ten { 10 } else { 60 }, max_flows);
        let mut packets = packets;
        packets.sort_by_key(|p| p.2);
        let (mut want_packets, mut want_bytes) = (0u64, 0u64);
        let mut records = Vec::new();
        for (port, bytes, at, reject) in packets {
            let action = if reject { Action::Reject } else { Action::Accept };
            a.observe(t + secs(at), &tcp(port, action, bytes, 0));
            want_packets += 1;
            want_bytes += bytes;
            records.extend(a.poll_records(t + secs(at)));
        }
        records.extend(a.poll_records(t + secs(400)));
        let counted = records.iter().filter(|r| r.status != LogStatus::NoData);
        let (p, b) = counted.fold((0, 0), |(p, b), r| (p + r.packets, b + r.bytes));
        prop_assert_eq!((p, b), (want_packets, want_bytes));
        for r in &records {
            prop_assert!(r.start <= r.end);
        }
    }
}

#[test]
fn finish_writes_the_open_interval() {
    let (mut a, t) = agg(60, 10);
    assert!(a.poll_records(t + secs(1)).is_empty());
    a.observe(t + secs(5), &tcp(1, Action::Accept, 40, 0));
    let r = a.finish();
    assert_eq!(r.len(), 1);
    assert_eq!((r[0].packets, r[0].start), (1, T0 + 5));
}
