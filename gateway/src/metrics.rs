//! The gateway's Prometheus metrics: the status document ([`Status`]) as
//! one scrape, in the OpenMetrics text format (`prometheus-client`).
//!
//! Pure: a snapshot and the wall-clock time it was taken in, text out. The
//! metrics are derived from the very document the status socket answers,
//! so that a scrape and `vifgate status` always agree; the shell's HTTP
//! server (`shell/metrics_server.rs`) asks the router loop for a snapshot
//! and renders it here, on its own thread. Every metric is listed, with
//! its type, labels and meaning, in docs/gateway.md ("Metrics").

use std::sync::atomic::AtomicU64;
use std::time::{SystemTime, UNIX_EPOCH};

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};

use crate::status::{RuleKind, Status};

/// The content type of [`render`]'s text (what Prometheus expects of an
/// OpenMetrics endpoint).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The prefix of every metric's name.
pub const PREFIX: &str = "vifgate";

/// The drop counter that counts no dropped packet (an evictable flow
/// evicted to make room): exported as its own metric, not as a reason.
const EVICTION: &str = "conntrack_early_drop";

type Labels = Vec<(&'static str, String)>;
type Counters = Family<Labels, Counter>;
type Gauges = Family<Labels, Gauge>;
type FloatGauges = Family<Labels, Gauge<f64, AtomicU64>>;

/// A registry being filled: families registered on first use.
struct Builder {
    registry: Registry,
}

impl Builder {
    fn counters(&mut self, name: &str, help: &str, unit: Option<Unit>) -> Counters {
        let f = Counters::default();
        match unit {
            Some(u) => self.registry.register_with_unit(name, help, u, f.clone()),
            None => self.registry.register(name, help, f.clone()),
        }
        f
    }

    /// A counter family of one series without labels, at `value`.
    fn counter(&mut self, name: &str, help: &str, unit: Option<Unit>, value: u64) {
        self.counters(name, help, unit)
            .get_or_create(&Vec::new())
            .inc_by(value);
    }

    fn gauges(&mut self, name: &str, help: &str) -> Gauges {
        let f = Gauges::default();
        self.registry.register(name, help, f.clone());
        f
    }

    /// A gauge family of one series without labels, at `value`.
    fn gauge(&mut self, name: &str, help: &str, value: i64) {
        self.gauges(name, help)
            .get_or_create(&Vec::new())
            .set(value);
    }

    /// A gauge family in seconds.
    fn seconds(&mut self, name: &str, help: &str) -> FloatGauges {
        let f = FloatGauges::default();
        self.registry
            .register_with_unit(name, help, Unit::Seconds, f.clone());
        f
    }
}

/// `label="value"` pairs.
fn labels<const N: usize>(pairs: [(&'static str, &str); N]) -> Labels {
    pairs.iter().map(|&(k, v)| (k, v.to_string())).collect()
}

fn to_i64(n: impl TryInto<i64>) -> i64 {
    n.try_into().unwrap_or(i64::MAX)
}

/// A rule kind as a label value.
fn kind_label(kind: RuleKind) -> &'static str {
    match kind {
        RuleKind::SecurityGroup => "security_group",
        RuleKind::NetworkAcl => "network_acl",
    }
}

/// One scrape: the metrics of `status`, a snapshot taken at `taken`
/// (which turns "seconds since the last handshake" into a time).
pub fn render(status: &Status, taken: SystemTime) -> String {
    let mut b = Builder {
        registry: Registry::with_prefix(PREFIX),
    };
    peers(&mut b, status, taken);
    routes(&mut b, status);
    drops(&mut b, status);
    rules(&mut b, status);
    conntrack(&mut b, status);
    handshakes(&mut b, status);
    flow_log(&mut b, status);
    queue(&mut b, status);
    let mut out = String::new();
    // writing into a String cannot fail
    let _ = encode(&mut out, &b.registry);
    out
}

fn peers(b: &mut Builder, status: &Status, taken: SystemTime) {
    let rx = b.counters(
        "peer_received",
        "Inner (decrypted) bytes received from the peer through the tunnel",
        Some(Unit::Bytes),
    );
    let tx = b.counters(
        "peer_sent",
        "Inner bytes sent to the peer through the tunnel (before encryption)",
        Some(Unit::Bytes),
    );
    let rx_packets = b.counters(
        "peer_received_packets",
        "Inner packets received from the peer through the tunnel",
        None,
    );
    let tx_packets = b.counters(
        "peer_sent_packets",
        "Inner packets sent to the peer through the tunnel",
        None,
    );
    let handshake = b.seconds(
        "peer_last_handshake",
        "Time of the last completed WireGuard handshake with the peer, seconds since the Unix epoch (0: none in the current session)",
    );
    let alive = b.gauges(
        "peer_alive",
        "1 while the peer counts as alive for routing (heard from within dead_after), else 0",
    );
    let since_epoch = taken
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    for p in &status.peers {
        let l = labels([("peer", &p.name)]);
        rx.get_or_create(&l).inc_by(p.rx_bytes);
        tx.get_or_create(&l).inc_by(p.tx_bytes);
        rx_packets.get_or_create(&l).inc_by(p.rx_packets);
        tx_packets.get_or_create(&l).inc_by(p.tx_packets);
        let at = p
            .last_handshake_secs
            .map(|ago| (since_epoch - ago).max(0.0))
            .unwrap_or(0.0);
        handshake.get_or_create(&l).set(at);
        alive.get_or_create(&l).set(i64::from(p.alive));
    }
}

fn routes(b: &mut Builder, status: &Status) {
    let in_use = b.gauges(
        "route_in_use",
        "1 while the route carries its prefix's traffic, else 0 (a backup, or a route of a dead peer with a live alternative)",
    );
    for r in &status.routes {
        in_use
            .get_or_create(&labels([
                ("prefix", &r.prefix),
                ("peer", &r.peer),
                ("source", &r.source),
            ]))
            .set(i64::from(r.in_use));
    }
    if let Some(bgp) = &status.bgp {
        let learned = b.gauges(
            "bgp_routes",
            "Next hops of BGP-learned routes in the kernel table the gateway follows ([bgp] kernel_table)",
        );
        learned
            .get_or_create(&labels([("table", &bgp.kernel_table.to_string())]))
            .set(to_i64(bgp.routes.len()));
        let ignored = b.gauges(
            "bgp_routes_ignored",
            "BGP-learned routes whose next hop is no peer's (not routed)",
        );
        ignored
            .get_or_create(&labels([("table", &bgp.kernel_table.to_string())]))
            .set(to_i64(bgp.ignored()));
    }
}

fn drops(b: &mut Builder, status: &Status) {
    let dropped = b.counters(
        "dropped_packets",
        "Packets (or datagrams) dropped, by reason: the reasons of `vifgate status`",
        None,
    );
    let mut evicted = 0;
    for (reason, n) in status.drops.by_name() {
        if reason == EVICTION {
            evicted = n;
            continue;
        }
        dropped
            .get_or_create(&labels([("reason", &reason)]))
            .inc_by(n);
    }
    b.counter(
        "conntrack_evicted_flows",
        "Evictable flows (half-open TCP, UDP, ICMP, other) evicted to make room for new flows (when_full = \"early_drop\")",
        None,
        evicted,
    );
}

fn rules(b: &mut Builder, status: &Status) {
    let hits = b.counters(
        "rule_hits",
        "Decisions of a policy rule: new flows for a security group's rule, packets for a network ACL's",
        None,
    );
    for r in &status.rules {
        hits.get_or_create(&labels([
            ("kind", kind_label(r.kind)),
            ("name", &r.name),
            ("direction", &r.direction.to_string()),
            ("rule", &r.rule),
        ]))
        .inc_by(r.hits);
    }
}

fn conntrack(b: &mut Builder, status: &Status) {
    b.gauge(
        "conntrack_entries",
        "Flows in the connection table",
        to_i64(status.conntrack_flows),
    );
    b.gauge(
        "conntrack_entries_limit",
        "Capacity of the connection table ([conntrack] max_flows)",
        to_i64(status.conntrack_capacity),
    );
}

fn handshakes(b: &mut Builder, status: &Status) {
    let h = &status.handshakes;
    b.counter(
        "handshake_initiations_processed",
        "Handshake initiations that passed MAC1 (and MAC2 under load) and cost a Diffie-Hellman",
        None,
        h.initiations_processed,
    );
    b.counter(
        "cookie_replies_sent",
        "Cookie replies sent instead of processing a handshake under load",
        None,
        h.cookie_replies,
    );
    if let Some(r) = &status.reload {
        let reloads = b.counters(
            "config_reloads",
            "Configuration reloads (SIGHUP), by result: ok (taken) or refused (the old one stayed)",
            None,
        );
        reloads
            .get_or_create(&labels([("result", "ok")]))
            .inc_by(r.generation.saturating_sub(1));
        reloads
            .get_or_create(&labels([("result", "refused")]))
            .inc_by(r.refused);
    }
}

fn flow_log(b: &mut Builder, status: &Status) {
    let Some(f) = status.flow_log else {
        return;
    };
    b.counter(
        "flow_log_skipped_packets",
        "Packets the flow log could not record, their flows beyond [flow_logs] max_flows in their interval (the SKIPDATA records)",
        None,
        f.skipped_packets,
    );
    b.counter(
        "flow_log_skipped",
        "Bytes of the packets the flow log could not record (the SKIPDATA records)",
        Some(Unit::Bytes),
        f.skipped_bytes,
    );
}

fn queue(b: &mut Builder, status: &Status) {
    let Some(q) = status.queue else {
        return;
    };
    b.gauge(
        "queue_packets",
        "Inner packets waiting in the fair queue before encryption",
        to_i64(q.packets),
    );
    b.gauge(
        "queue_bytes",
        "Bytes of the packets waiting in the fair queue",
        to_i64(q.bytes),
    );
    b.counter(
        "queue_dequeued_packets",
        "Packets that went through the fair queue",
        None,
        q.dequeued,
    );
    let dropped = b.counters(
        "queue_dropped_packets",
        "Packets the fair queue dropped, by reason: codel (their flow's delay stayed above [queue] target for an interval) or full (limit_packets or limit_bytes reached; the fattest flow's head goes)",
        None,
    );
    dropped
        .get_or_create(&labels([("reason", "codel")]))
        .inc_by(q.codel_drops);
    dropped
        .get_or_create(&labels([("reason", "full")]))
        .inc_by(q.overflow_drops);
    b.counter(
        "queue_ingress_dropped_packets",
        "Data datagrams from peers dropped by CoDel before decryption, their wait in the UDP socket's receive queue above [queue] target for an interval",
        None,
        q.ingress_codel_drops,
    );
    let sojourn = b.seconds(
        "queue_sojourn",
        "Time packets waited in the fair queue: of the last packet (last), the most since the start (max), the mean since the start (mean)",
    );
    for (stat, ns) in [
        ("last", q.sojourn_last_ns),
        ("max", q.sojourn_max_ns),
        ("mean", crate::status::mean_sojourn_ns(&q)),
    ] {
        sojourn
            .get_or_create(&labels([("stat", stat)]))
            .set(ns as f64 / 1e9);
    }
    let ingress = b.seconds(
        "queue_ingress_sojourn",
        "Time datagrams from peers waited in the UDP socket's receive queue: of the last one read (last), the most since the start (max)",
    );
    for (stat, ns) in [
        ("last", q.ingress_sojourn_last_ns),
        ("max", q.ingress_sojourn_max_ns),
    ] {
        ingress
            .get_or_create(&labels([("stat", stat)]))
            .set(ns as f64 / 1e9);
    }
}

#[cfg(test)]
mod tests;
