//! The group metrics read per instance: `ASGAverageCPUUtilization` from
//! each instance's CPU accounting group ([`crate::kernel::cgroup`]), and
//! `ASGAverageNetworkIn`/`Out` from each instance's interface counters.
//! Each is a counter per instance; a period's datapoint is the growth of
//! each in-service instance's counter since the last reading, turned
//! into the instance's metric and averaged over the group, as AWS
//! averages an Auto Scaling group's EC2 metrics.
//!
//! Sans-IO at the core ([`InstanceCounters`], [`cpu_percent`],
//! [`average_bytes`], [`net_dev_bytes`]); the readers of the files
//! ([`cpu_usage`], [`interface_bytes`]) are thin.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use super::metrics::Unavailable;
use crate::kernel::cgroup::{group_name, CpuAccounting};
use crate::kernel::netns::Netns;

/// The vCPUs the lab takes an instance to have. The model has no
/// instance type, and the lab's instance is the listener's threads for
/// it (which may use any of the machine's cores), so one: an instance
/// busy one CPU second a second is 100 %.
pub const INSTANCE_VCPUS: u32 = 1;

/// The growth of each instance's counter since its last reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Growth {
    /// How much the counter grew.
    pub by: u64,
    /// Over how much wall time.
    pub over: Duration,
}

/// Per-instance counters between readings.
#[derive(Debug, Clone, Default)]
pub struct InstanceCounters {
    last: BTreeMap<String, (u64, Duration)>,
}

impl InstanceCounters {
    /// Reads `now` (each instance's counter) at `at` (wall time from any
    /// fixed start): each instance's growth since its last reading. An
    /// instance read for the first time, or whose counter went down (its
    /// group or namespace was made again), only sets its baseline; one
    /// no longer read is forgotten.
    pub fn read(&mut self, at: Duration, now: &BTreeMap<String, u64>) -> BTreeMap<String, Growth> {
        let mut out = BTreeMap::new();
        for (name, &v) in now {
            if let Some(&(before, then)) = self.last.get(name) {
                if before <= v && then < at {
                    out.insert(
                        name.clone(),
                        Growth {
                            by: v - before,
                            over: at - then,
                        },
                    );
                }
            }
        }
        self.last = now.iter().map(|(n, &v)| (n.clone(), (v, at))).collect();
        out
    }
}

/// `ASGAverageCPUUtilization`: each in-service instance's CPU time grown
/// (nanoseconds) over the wall time it grew in and its
/// [`INSTANCE_VCPUS`], in percent (at most 100), averaged over those
/// with a reading; none when none has one.
pub fn cpu_percent(growth: &BTreeMap<String, Growth>, in_service: &[String]) -> Option<f64> {
    let per: Vec<f64> = in_service
        .iter()
        .filter_map(|n| growth.get(n))
        .filter(|g| !g.over.is_zero())
        .map(|g| {
            let busy = g.by as f64 / 1e9;
            (100.0 * busy / (g.over.as_secs_f64() * f64::from(INSTANCE_VCPUS))).min(100.0)
        })
        .collect();
    (!per.is_empty()).then(|| per.iter().sum::<f64>() / per.len() as f64)
}

/// `ASGAverageNetworkIn`/`Out`: the bytes each in-service instance's
/// interfaces counted, averaged over those with a reading; none when
/// none has one.
pub fn average_bytes(growth: &BTreeMap<String, Growth>, in_service: &[String]) -> Option<f64> {
    let per: Vec<u64> = in_service
        .iter()
        .filter_map(|n| growth.get(n))
        .map(|g| g.by)
        .collect();
    (!per.is_empty()).then(|| per.iter().sum::<u64>() as f64 / per.len() as f64)
}

/// The bytes received and sent on all interfaces but loopback, from
/// `/proc/net/dev`'s text (as AWS's `NetworkIn`/`Out` count an instance's
/// network interfaces).
pub fn net_dev_bytes(text: &str) -> Result<(u64, u64), Unavailable> {
    let bad = |why: String| Unavailable(format!("/proc/net/dev: {why}"));
    if !text.contains("|bytes") {
        return Err(bad("no header".into()));
    }
    let (mut rx, mut tx) = (0u64, 0u64);
    for line in text.lines().skip(2) {
        let Some((name, counters)) = line.split_once(':') else {
            return Err(bad(format!("line `{line}` names no interface")));
        };
        if name.trim() == "lo" {
            continue;
        }
        let f: Vec<&str> = counters.split_whitespace().collect();
        let number = |i: usize| {
            f.get(i)
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or_else(|| bad(format!("interface `{}` has no counter {i}", name.trim())))
        };
        rx = rx.saturating_add(number(0)?);
        tx = tx.saturating_add(number(8)?);
    }
    Ok((rx, tx))
}

/// The CPU time (nanoseconds) of each of lab `lab`'s `nodes` whose group
/// can be read on `acct`.
pub fn cpu_usage(acct: &CpuAccounting, lab: &str, nodes: &[String]) -> BTreeMap<String, u64> {
    nodes
        .iter()
        .filter_map(|n| match acct.usage(&group_name(lab, n)) {
            Ok(d) => Some((n.clone(), u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))),
            Err(e) => {
                tracing::debug!("CPU of {n}: {e}");
                None
            }
        })
        .collect()
}

/// The bytes received and sent by each `(node, namespace)` that can be
/// read: `/proc/thread-self/net/dev` read on a thread inside the
/// namespace (the thread's own network namespace's interfaces).
pub fn interface_bytes(nodes: &[(String, String)]) -> BTreeMap<String, (u64, u64)> {
    let mut out = BTreeMap::new();
    for (node, ns) in nodes {
        let read = Netns::open(ns).and_then(|h| {
            h.run(|| std::fs::read_to_string(Path::new("/proc/thread-self/net/dev")))?
        });
        match read
            .map_err(|e| Unavailable(e.to_string()))
            .and_then(|t| net_dev_bytes(&t))
        {
            Ok(b) => {
                out.insert(node.clone(), b);
            }
            Err(e) => tracing::debug!("interfaces of {node}: {e}"),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counters(v: &[(&str, u64)]) -> BTreeMap<String, u64> {
        v.iter().map(|(n, c)| (n.to_string(), *c)).collect()
    }

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    const MS: u64 = 1_000_000;

    #[test]
    fn cpu_is_the_usage_grown_over_wall_time_averaged_over_in_service_instances() {
        let mut c = InstanceCounters::default();
        let s = |ms| Duration::from_millis(ms);
        let first = c.read(s(0), &counters(&[("web-a1", 0), ("web-c1", 5 * MS)]));
        assert!(first.is_empty(), "the baseline");
        let in_service = names(&["web-a1", "web-c1"]);
        assert_eq!(cpu_percent(&first, &in_service), None);
        // a second later: 300 ms and 100 ms busy: 30 % and 10 %
        let g = c.read(
            s(1000),
            &counters(&[("web-a1", 300 * MS), ("web-c1", 105 * MS)]),
        );
        assert_eq!(
            g["web-a1"],
            Growth {
                by: 300 * MS,
                over: s(1000)
            }
        );
        let pct = cpu_percent(&g, &in_service).expect("two readings");
        assert!((pct - 20.0).abs() < 1e-9, "{pct}");
        // a warming instance (not in service) is left out, whatever it uses
        let g = c.read(
            s(1500),
            &counters(&[("web-a1", 400 * MS), ("web-c1", 155 * MS), ("web-a2", 0)]),
        );
        let pct = cpu_percent(&g, &in_service).expect("readings");
        assert!(
            (pct - 15.0).abs() < 1e-9,
            "20 % and 10 % over half a second: {pct}"
        );
        // more than one CPU busy is 100 % of the instance's one vCPU
        let g = c.read(
            s(2500),
            &counters(&[("web-a1", 2400 * MS), ("web-c1", 155 * MS)]),
        );
        assert_eq!(cpu_percent(&g, &names(&["web-a1"])), Some(100.0));
        // a group made again (a replaced instance) starts a new baseline
        let g = c.read(
            s(3500),
            &counters(&[("web-a1", 10 * MS), ("web-c1", 255 * MS)]),
        );
        assert!(!g.contains_key("web-a1"));
        assert_eq!(cpu_percent(&g, &in_service), Some(10.0));
        // nothing in service has a reading
        assert_eq!(cpu_percent(&g, &names(&["web-a9"])), None);
    }

    /// `/proc/net/dev` of an instance's namespace, captured in a lab.
    const NET_DEV: &str = "\
Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:    1200      12    0    0    0     0          0         0     1200      12    0    0    0     0       0          0
  eth0:  845031    6120    0    0    0     0          0         0  2310745    5480    0    0    0     0       0          0
";

    #[test]
    fn network_bytes_count_every_interface_but_loopback() {
        assert_eq!(net_dev_bytes(NET_DEV), Ok((845_031, 2_310_745)));
        let two = format!("{NET_DEV}  eth1: 5 1 0 0 0 0 0 0 7 1 0 0 0 0 0 0\n");
        assert_eq!(net_dev_bytes(&two), Ok((845_036, 2_310_752)));
        let e = net_dev_bytes("eth0: 1 2\n").expect_err("no header");
        assert!(
            e.to_string()
                .starts_with("metric unavailable: /proc/net/dev"),
            "{e}"
        );
        let short = format!("{NET_DEV}  eth1: 5 1\n");
        assert!(net_dev_bytes(&short)
            .expect_err("short")
            .to_string()
            .contains("eth1"));
    }

    #[test]
    fn network_in_is_the_bytes_per_instance_averaged() {
        let mut c = InstanceCounters::default();
        let s = Duration::from_secs;
        c.read(s(0), &counters(&[("web-a1", 1000), ("web-c1", 2000)]));
        let g = c.read(s(1), &counters(&[("web-a1", 4000), ("web-c1", 3000)]));
        assert_eq!(
            average_bytes(&g, &names(&["web-a1", "web-c1"])),
            Some(2000.0)
        );
        assert_eq!(average_bytes(&g, &names(&["web-a2"])), None);
    }
}
