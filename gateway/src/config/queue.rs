//! `[queue]`: the fair queue with CoDel between the TUN device and
//! encryption (`fair_queue.rs`). Every field is optional; without the
//! table the defaults of [`DEFAULT_QUEUE`] hold.

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::{AnyValue, Checker, Int};
use crate::fair_queue::{QueueConfig, DEFAULT_QUEUE};
use topology::units::fmt_duration;

/// The longest `target` or `interval` taken: a second of queue is no
/// delay control at all.
const MAX_DELAY: Duration = Duration::from_secs(1);
/// The most packets (and flows) a queue may hold: its slots are allocated
/// at start-up, a tunnel MTU each.
const MAX_PACKETS: usize = 65_536;
/// The most bytes a queue may hold (64 MiB).
const MAX_BYTES: usize = 64 << 20;

/// `[queue]` as read.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawQueue {
    enabled: Option<Spanned<bool>>,
    target: Option<AnyValue>,
    interval: Option<AnyValue>,
    limit_packets: Option<Int>,
    limit_bytes: Option<Int>,
    flows: Option<Int>,
    quantum: Option<Int>,
}

impl Checker<'_> {
    /// `[queue]`: durations and limits within their bounds, `interval` no
    /// shorter than `target`.
    pub(super) fn queue(&mut self, raw: Option<&RawQueue>) -> QueueConfig {
        let mut q = DEFAULT_QUEUE;
        let Some(r) = raw else {
            return q;
        };
        if let Some(e) = &r.enabled {
            q.enabled = *e.get_ref();
        }
        let mut delay = |v: Option<&AnyValue>, what: &str| {
            let v = v?;
            let d = self.duration(v, what, MAX_DELAY)?;
            if d.is_zero() {
                let e = self.error(v.span(), format!("{what} 0s is out of range"));
                e.expected = Some(format!("{what} above 0, like \"1ms\""));
                return None;
            }
            Some((d, v.span()))
        };
        let target = delay(r.target.as_ref(), "target");
        let interval = delay(r.interval.as_ref(), "interval");
        if let Some((t, _)) = target {
            q.target = t;
        }
        if let Some((i, _)) = interval {
            q.interval = i;
        }
        if q.interval < q.target {
            let span = interval.or(target).map(|(_, s)| s).unwrap_or_default();
            let e = self.error(
                span,
                format!(
                    "interval {} is shorter than target {}",
                    fmt_duration(q.interval),
                    fmt_duration(q.target)
                ),
            );
            e.expected = Some("an interval of about a round trip, at least the target".into());
        }
        if let Some(n) = self.count_in(r.limit_packets.as_ref(), 1, MAX_PACKETS, "limit_packets") {
            q.limit_packets = n;
        }
        if let Some(n) = self.count_in(r.limit_bytes.as_ref(), 1500, MAX_BYTES, "limit_bytes") {
            q.limit_bytes = n;
        }
        if let Some(n) = self.count_in(r.flows.as_ref(), 1, MAX_PACKETS, "flows") {
            q.flows = n;
        }
        if let Some(n) = self.count_in(r.quantum.as_ref(), 64, 65_536, "quantum") {
            q.quantum = n;
        }
        q
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::config::tests::{checked, INTERFACE};
    use crate::fair_queue::{QueueConfig, DEFAULT_QUEUE};

    fn queue(rest: &str) -> Result<QueueConfig, Vec<String>> {
        checked(format!("{INTERFACE}{rest}"), |c| c.queue)
    }

    #[test]
    fn defaults_without_the_table_and_values_with_it() {
        assert_eq!(queue("").unwrap(), DEFAULT_QUEUE);
        assert_eq!(queue("[queue]\n").unwrap(), DEFAULT_QUEUE);
        let q = queue(
            "[queue]\nenabled = true\ntarget = \"500us\"\ninterval = \"20ms\"\nlimit_packets = 256\nlimit_bytes = 400000\nflows = 64\nquantum = 300\n",
        )
        .unwrap();
        assert_eq!(
            q,
            QueueConfig {
                enabled: true,
                target: Duration::from_micros(500),
                interval: Duration::from_millis(20),
                limit_packets: 256,
                limit_bytes: 400_000,
                flows: 64,
                quantum: 300,
            }
        );
    }

    #[test]
    fn bad_values_are_errors_at_their_place() {
        assert_eq!(
            queue("[queue]\ntarget = 5\n").unwrap_err(),
            ["gw.toml:5:10: error: `5` is not a duration"]
        );
        assert_eq!(
            queue("[queue]\ntarget = \"0ms\"\n").unwrap_err(),
            ["gw.toml:5:10: error: target 0s is out of range"]
        );
        assert_eq!(
            queue("[queue]\ninterval = \"2s\"\n").unwrap_err(),
            ["gw.toml:5:12: error: interval 2s is out of range"]
        );
        assert_eq!(
            queue("[queue]\ntarget = \"5ms\"\ninterval = \"2ms\"\n").unwrap_err(),
            ["gw.toml:6:12: error: interval 2ms is shorter than target 5ms"]
        );
        assert_eq!(
            queue("[queue]\nlimit_packets = 0\n").unwrap_err(),
            ["gw.toml:5:17: error: limit_packets 0 is out of range"]
        );
        assert_eq!(
            queue("[queue]\nflows = 100000\n").unwrap_err(),
            ["gw.toml:5:9: error: flows 100000 is out of range"]
        );
        assert_eq!(
            queue("[queue]\nlimt_bytes = 1\n").unwrap_err().len(),
            1,
            "an unknown key is an error"
        );
    }
}
