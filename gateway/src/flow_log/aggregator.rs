//! Flows keyed as AWS keys them, summed over an aggregation interval, with
//! a fixed bound on the flows held per interval.
//!
//! Time is an argument: the aggregator is built with one instant and the
//! Unix time it corresponds to, and converts every later instant from
//! there. Intervals are aligned on the Unix clock (a 60 s interval starts
//! on the minute). A packet that arrives after the interval's end first
//! closes it, so a record never spans two intervals.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::record::{aws_tcp_flags, FlowKey, FlowRecord, LogStatus, Observation};

/// The aggregator's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AggregatorConfig {
    /// Aggregation interval: 60 s or 10 s, AWS's two choices.
    pub interval: Duration,
    /// Most flows held per interval; the packets of further flows are
    /// counted and reported as one SKIPDATA record.
    pub max_flows: usize,
}

#[derive(Debug, Clone, Copy)]
struct FlowStats {
    packets: u64,
    bytes: u64,
    first: u64,
    last: u64,
    tcp_flags: u8,
}

/// The flows of the current interval and the records of closed ones.
#[derive(Debug)]
pub struct FlowAggregator {
    config: AggregatorConfig,
    anchor: Instant,
    anchor_unix: Duration,
    /// Unix seconds of the current interval's start.
    interval_start: u64,
    interval_end: Instant,
    flows: HashMap<FlowKey, FlowStats>,
    skipped_packets: u64,
    skipped_bytes: u64,
    skipped_total: u64,
    skipped_bytes_total: u64,
    ready: Vec<FlowRecord>,
}

impl FlowAggregator {
    /// An aggregator whose clock reads `unix_now` (time since the Unix
    /// epoch) at `now`.
    pub fn new(config: AggregatorConfig, now: Instant, unix_now: Duration) -> Self {
        let secs = config.interval.as_secs().max(1);
        let mut a = FlowAggregator {
            config: AggregatorConfig {
                interval: Duration::from_secs(secs),
                max_flows: config.max_flows,
            },
            anchor: now,
            anchor_unix: unix_now,
            interval_start: 0,
            interval_end: now,
            flows: HashMap::new(),
            skipped_packets: 0,
            skipped_bytes: 0,
            skipped_total: 0,
            skipped_bytes_total: 0,
            ready: Vec::new(),
        };
        a.begin_interval(unix_now.as_secs() / secs * secs);
        a
    }

    fn begin_interval(&mut self, start: u64) {
        self.interval_start = start;
        let end = Duration::from_secs(start + self.config.interval.as_secs());
        self.interval_end = self.anchor + end.saturating_sub(self.anchor_unix);
    }

    /// Unix seconds at `now`.
    pub fn unix_secs(&self, now: Instant) -> u64 {
        (self.anchor_unix + now.saturating_duration_since(self.anchor)).as_secs()
    }

    /// When the current interval ends (for the caller's timer).
    pub fn poll_timeout(&self) -> Instant {
        self.interval_end
    }

    /// Packets not recorded since start, for status and metrics.
    pub fn skipped_packets_total(&self) -> u64 {
        self.skipped_total
    }

    /// The bytes (whole IP packets) of those packets.
    pub fn skipped_bytes_total(&self) -> u64 {
        self.skipped_bytes_total
    }

    /// Counts one packet's verdict at `now`.
    pub fn observe(&mut self, now: Instant, obs: &Observation) {
        if now >= self.interval_end {
            self.close_intervals(now);
        }
        let t = self.unix_secs(now);
        let flags = if obs.key.tuple.protocol == topology::traffic::proto::TCP {
            aws_tcp_flags(obs.tcp_flags)
        } else {
            0
        };
        let full = self.flows.len() >= self.config.max_flows;
        match self.flows.get_mut(&obs.key) {
            Some(s) => {
                s.packets += 1;
                s.bytes += obs.bytes;
                s.last = t;
                s.tcp_flags |= flags;
            }
            None if full => {
                self.skipped_packets += 1;
                self.skipped_bytes += obs.bytes;
                self.skipped_total += 1;
                self.skipped_bytes_total += obs.bytes;
            }
            None => {
                self.flows.insert(
                    obs.key,
                    FlowStats {
                        packets: 1,
                        bytes: obs.bytes,
                        first: t,
                        last: t,
                        tcp_flags: flags,
                    },
                );
            }
        }
    }

    /// Closes the intervals that ended by `now` and returns their records
    /// (OK records by start time, then SKIPDATA; one NODATA for an interval
    /// without traffic).
    pub fn poll_records(&mut self, now: Instant) -> Vec<FlowRecord> {
        if now >= self.interval_end {
            self.close_intervals(now);
        }
        std::mem::take(&mut self.ready)
    }

    /// Closes the current interval early (the gateway stops) and returns
    /// every record not yet polled: nothing observed is left unwritten.
    pub fn finish(mut self) -> Vec<FlowRecord> {
        self.close_current();
        self.ready
    }

    fn close_intervals(&mut self, now: Instant) {
        let len = self.config.interval.as_secs();
        self.close_current();
        let now_unix = self.unix_secs(now);
        let mut next = self.interval_start + len;
        // idle intervals in between each get their NODATA, as AWS writes
        // them; a clock jump of more than a day writes one for the last
        let idle = (now_unix.saturating_sub(next)) / len;
        if idle > 86_400 / len {
            next += (idle - 1) * len;
        }
        while next + len <= now_unix {
            self.ready.push(self.marker(LogStatus::NoData, next, 0, 0));
            next += len;
        }
        self.begin_interval(next);
    }

    fn close_current(&mut self) {
        let start = self.interval_start;
        if self.flows.is_empty() && self.skipped_packets == 0 {
            self.ready.push(self.marker(LogStatus::NoData, start, 0, 0));
            return;
        }
        let mut records: Vec<FlowRecord> = self
            .flows
            .drain()
            .map(|(key, s)| FlowRecord {
                status: LogStatus::Ok,
                flow: Some(key),
                packets: s.packets,
                bytes: s.bytes,
                start: s.first,
                end: s.last,
                tcp_flags: Some(s.tcp_flags),
            })
            .collect();
        records.sort_by_key(|r| (r.start, r.flow));
        self.ready.extend(records);
        if self.skipped_packets > 0 {
            let (p, b) = (self.skipped_packets, self.skipped_bytes);
            self.ready
                .push(self.marker(LogStatus::SkipData, start, p, b));
            tracing::warn!(
                packets = p,
                max_flows = self.config.max_flows,
                "flow log: interval's flow table full, packets not recorded (SKIPDATA)"
            );
        }
        self.skipped_packets = 0;
        self.skipped_bytes = 0;
    }

    fn marker(&self, status: LogStatus, start: u64, packets: u64, bytes: u64) -> FlowRecord {
        FlowRecord {
            status,
            flow: None,
            packets,
            bytes,
            start,
            end: start + self.config.interval.as_secs(),
            tcp_flags: None,
        }
    }
}

#[cfg(test)]
mod tests;
