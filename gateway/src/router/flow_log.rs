//! The router's side of VPC flow logs: each packet the policy decided on
//! (network ACL, conntrack, security groups) is reported to the
//! [`FlowAggregator`], ACCEPT or REJECT; packets dropped before the policy
//! (no route, malformed, WireGuard) are no policy decision and not logged.

use std::time::Instant;

use super::Router;
use crate::conntrack::Side;
use crate::flow_log::{Action, FlowAggregator, FlowDirection, FlowRecord, Observation};
use crate::packet::Ipv4Meta;
use crate::status::FlowLogStatus;

impl Router {
    /// Starts logging flows into `aggregator` (replacing, and returning,
    /// the one before).
    pub fn start_flow_log(&mut self, aggregator: FlowAggregator) -> Option<FlowAggregator> {
        let earlier = self.flow_log.replace(aggregator);
        self.keep_skipped_of(earlier.as_ref());
        earlier
    }

    /// Stops logging flows; returns the aggregator (its open interval
    /// unflushed).
    pub fn stop_flow_log(&mut self) -> Option<FlowAggregator> {
        let earlier = self.flow_log.take();
        self.keep_skipped_of(earlier.as_ref());
        earlier
    }

    /// Adds what an aggregator leaving could not record to the counts the
    /// status carries on.
    fn keep_skipped_of(&mut self, aggregator: Option<&FlowAggregator>) {
        if let Some(a) = aggregator {
            let kept = &mut self.flow_log_skipped_earlier;
            kept.skipped_packets += a.skipped_packets_total();
            kept.skipped_bytes += a.skipped_bytes_total();
        }
    }

    /// The records of the aggregation intervals that ended by `now` (none
    /// without a flow log).
    pub fn poll_flow_records(&mut self, now: Instant) -> Vec<FlowRecord> {
        self.flow_log
            .as_mut()
            .map(|f| f.poll_records(now))
            .unwrap_or_default()
    }

    /// When the flow log's current interval ends (`None` without one).
    pub fn flow_log_deadline(&self) -> Option<Instant> {
        self.flow_log.as_ref().map(FlowAggregator::poll_timeout)
    }

    /// Packets not recorded (flow table of an interval full) since the
    /// router was built, across restarts of the flow log (0 without one).
    pub fn flow_log_skipped_packets(&self) -> u64 {
        self.flow_log_status().map_or(0, |s| s.skipped_packets)
    }

    /// The status document's `flow_log`: what the flow log could not
    /// record since the router was built, across restarts of the flow log
    /// (`None` while there is no flow log).
    pub fn flow_log_status(&self) -> Option<FlowLogStatus> {
        let a = self.flow_log.as_ref()?;
        let earlier = self.flow_log_skipped_earlier;
        Some(FlowLogStatus {
            skipped_packets: earlier.skipped_packets + a.skipped_packets_total(),
            skipped_bytes: earlier.skipped_bytes + a.skipped_bytes_total(),
        })
    }
}

/// Reports the policy's verdict on a packet from `side`.
pub(super) fn log_verdict(
    flow_log: &mut Option<FlowAggregator>,
    now: Instant,
    side: Side,
    meta: &Ipv4Meta,
    admitted: bool,
) {
    let Some(f) = flow_log else {
        return;
    };
    let direction = match side {
        Side::Tunnel => FlowDirection::Ingress,
        Side::Lan => FlowDirection::Egress,
    };
    let action = if admitted {
        Action::Accept
    } else {
        Action::Reject
    };
    f.observe(now, &Observation::of(meta, direction, action));
}
