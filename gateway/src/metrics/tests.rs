//! The rendering: names, types, labels and values of a scrape, and that
//! every line of it is valid OpenMetrics text.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use topology::security_group::Direction;

use super::*;
use crate::status::{
    DropCounts, Drops, FlowLogStatus, HandshakeCounts, PeerStatus, ReloadStatus, RouteStatus,
    RuleHits, ShellDrops,
};

fn peer(name: &str, rx: u64, tx: u64, handshake: Option<f64>, alive: bool) -> PeerStatus {
    PeerStatus {
        name: name.into(),
        public_key: "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=".into(),
        endpoint: None,
        last_handshake_secs: handshake,
        last_rx_secs: None,
        alive,
        rx_bytes: rx,
        tx_bytes: tx,
        rx_packets: rx / 100,
        tx_packets: tx / 100,
        routes_in_use: vec![],
    }
}

fn route(prefix: &str, peer: &str, source: &str, in_use: bool) -> RouteStatus {
    RouteStatus {
        prefix: prefix.into(),
        peer: peer.into(),
        source: source.into(),
        priority: 10,
        in_use,
    }
}

fn example() -> Status {
    Status {
        peers: vec![
            peer("aws", 8400, 1200, Some(2.5), true),
            peer("vpn \"backup\"", 0, 0, None, false),
        ],
        rules: vec![
            RuleHits {
                kind: RuleKind::SecurityGroup,
                name: "edge".into(),
                direction: Direction::Ingress,
                rule: "1".into(),
                hits: 3,
            },
            RuleHits {
                kind: RuleKind::NetworkAcl,
                name: "office".into(),
                direction: Direction::Egress,
                rule: "*".into(),
                hits: 2,
            },
        ],
        conntrack_flows: 2,
        conntrack_capacity: 1 << 20,
        drops: DropCounts {
            router: Drops {
                security_group: 4,
                conntrack_early_drop: 6,
                ..Drops::default()
            },
            shell: ShellDrops {
                impair_loss: 1,
                ..ShellDrops::default()
            },
        },
        handshakes: HandshakeCounts {
            initiations_processed: 7,
            cookie_replies: 9,
        },
        policy: "inline".into(),
        impair: None,
        reload: Some(ReloadStatus {
            generation: 3,
            refused: 1,
            last_error: None,
        }),
        bgp: Some(crate::status::tests::example_bgp()),
        routes: vec![
            route("10.0.0.0/16", "aws", "static", true),
            route("10.0.0.0/16", "vpn \"backup\"", "static", false),
            route("10.9.0.0/24", "aws", "bgp", true),
        ],
        flow_log: Some(FlowLogStatus {
            skipped_packets: 5,
            skipped_bytes: 260,
        }),
        queue: Some(crate::status::tests::example_queue()),
    }
}

/// The snapshot's wall-clock time: 1 000 000 000 s after the epoch.
fn taken() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_000_000_000)
}

/// A scrape read back: family name to type, and sample (name with its
/// labels, as written) to value. Fails on any line that is not a
/// comment of OpenMetrics' kinds or a well-formed sample.
struct Scrape {
    types: BTreeMap<String, String>,
    samples: BTreeMap<String, f64>,
}

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// `{k="v",...}`: whether the label set is well-formed (values with `\"`
/// and `\\` escapes).
fn labels_are_well_formed(set: &str) -> bool {
    let Some(inner) = set.strip_prefix('{').and_then(|s| s.strip_suffix('}')) else {
        return false;
    };
    let mut rest = inner;
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once("=\"") else {
            return false;
        };
        if !is_name(key) {
            return false;
        }
        // the value ends at the first quote not escaped
        let bytes = after.as_bytes();
        let mut i = 0;
        while i < bytes.len() && bytes[i] != b'"' {
            i += if bytes[i] == b'\\' { 2 } else { 1 };
        }
        if i >= bytes.len() {
            return false;
        }
        rest = &after[i + 1..];
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
    true
}

fn parse(text: &str) -> Scrape {
    let mut types = BTreeMap::new();
    let mut samples = BTreeMap::new();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.last(), Some(&"# EOF"), "{text}");
    for line in &lines[..lines.len() - 1] {
        if let Some(c) = line.strip_prefix("# ") {
            let mut w = c.splitn(3, ' ');
            let (kind, name, rest) = (w.next(), w.next(), w.next());
            assert!(
                matches!(kind, Some("HELP" | "TYPE" | "UNIT")),
                "comment: {line}"
            );
            let name = name.unwrap_or_else(|| panic!("no name: {line}"));
            assert!(is_name(name), "{line}");
            if kind == Some("TYPE") {
                let t = rest.unwrap_or_default();
                assert!(matches!(t, "counter" | "gauge"), "{line}");
                types.insert(name.to_string(), t.to_string());
            }
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("no value: {line}"));
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("value of {line}"));
        let name = series.split('{').next().unwrap_or_default();
        assert!(is_name(name), "{line}");
        if let Some(set) = series.strip_prefix(name).filter(|s| !s.is_empty()) {
            assert!(labels_are_well_formed(set), "{line}");
        }
        // a sample of a family whose type came before it
        let family = types
            .keys()
            .filter(|f| name.starts_with(f.as_str()))
            .max_by_key(|f| f.len())
            .unwrap_or_else(|| panic!("no TYPE before {line}"));
        if types[family] == "counter" {
            assert_eq!(name, format!("{family}_total"), "{line}");
        } else {
            assert_eq!(name, family, "{line}");
        }
        assert!(
            samples.insert(series.to_string(), value).is_none(),
            "twice: {line}"
        );
    }
    Scrape { types, samples }
}

impl Scrape {
    fn value(&self, series: &str) -> f64 {
        *self
            .samples
            .get(series)
            .unwrap_or_else(|| panic!("no {series} in {:#?}", self.samples.keys()))
    }
}

#[test]
fn every_line_is_valid_and_every_name_is_the_gateways() {
    let text = render(&example(), taken());
    let s = parse(&text);
    assert!(s.samples.len() > 20, "{text}");
    // prometheus-client ends every help text with a period of its own
    assert!(!text.contains("..\n"), "{text}");
    for name in s.types.keys() {
        assert!(name.starts_with("vifgate_"), "{name}");
    }
    assert!(
        text.contains(
            "# TYPE vifgate_peer_sent_bytes counter\n# UNIT vifgate_peer_sent_bytes bytes\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("# UNIT vifgate_flow_log_skipped_bytes bytes\n"),
        "{text}"
    );
}

#[test]
fn the_families_have_their_documented_names_and_types() {
    let s = parse(&render(&example(), taken()));
    let types: Vec<(&str, &str)> = s
        .types
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        types,
        [
            ("vifgate_bgp_routes", "gauge"),
            ("vifgate_bgp_routes_ignored", "gauge"),
            ("vifgate_config_reloads", "counter"),
            ("vifgate_conntrack_entries", "gauge"),
            ("vifgate_conntrack_entries_limit", "gauge"),
            ("vifgate_conntrack_evicted_flows", "counter"),
            ("vifgate_cookie_replies_sent", "counter"),
            ("vifgate_dropped_packets", "counter"),
            ("vifgate_flow_log_skipped_bytes", "counter"),
            ("vifgate_flow_log_skipped_packets", "counter"),
            ("vifgate_handshake_initiations_processed", "counter"),
            ("vifgate_peer_alive", "gauge"),
            ("vifgate_peer_last_handshake_seconds", "gauge"),
            ("vifgate_peer_received_bytes", "counter"),
            ("vifgate_peer_received_packets", "counter"),
            ("vifgate_peer_sent_bytes", "counter"),
            ("vifgate_peer_sent_packets", "counter"),
            ("vifgate_queue_bytes", "gauge"),
            ("vifgate_queue_dequeued_packets", "counter"),
            ("vifgate_queue_dropped_packets", "counter"),
            ("vifgate_queue_ingress_dropped_packets", "counter"),
            ("vifgate_queue_ingress_sojourn_seconds", "gauge"),
            ("vifgate_queue_packets", "gauge"),
            ("vifgate_queue_sojourn_seconds", "gauge"),
            ("vifgate_route_in_use", "gauge"),
            ("vifgate_rule_hits", "counter"),
        ]
    );
}

#[test]
fn peers_carry_their_bytes_packets_handshake_time_and_liveness() {
    let s = parse(&render(&example(), taken()));
    assert_eq!(
        s.value(r#"vifgate_peer_received_bytes_total{peer="aws"}"#),
        8400.0
    );
    assert_eq!(
        s.value(r#"vifgate_peer_sent_bytes_total{peer="aws"}"#),
        1200.0
    );
    assert_eq!(
        s.value(r#"vifgate_peer_received_packets_total{peer="aws"}"#),
        84.0
    );
    assert_eq!(
        s.value(r#"vifgate_peer_sent_packets_total{peer="aws"}"#),
        12.0
    );
    // 2.5 s before the snapshot, as a time
    assert_eq!(
        s.value(r#"vifgate_peer_last_handshake_seconds{peer="aws"}"#),
        999_999_997.5
    );
    assert_eq!(s.value(r#"vifgate_peer_alive{peer="aws"}"#), 1.0);
    // a name with a quote, escaped; no handshake: 0, as wg and the
    // exporters show it
    let backup = r#"{peer="vpn \"backup\""}"#;
    assert_eq!(
        s.value(&format!("vifgate_peer_last_handshake_seconds{backup}")),
        0.0
    );
    assert_eq!(s.value(&format!("vifgate_peer_alive{backup}")), 0.0);
}

#[test]
fn routes_rules_drops_and_counts_have_their_labels() {
    let status = example();
    let s = parse(&render(&status, taken()));
    assert_eq!(
        s.value(r#"vifgate_route_in_use{prefix="10.0.0.0/16",peer="aws",source="static"}"#),
        1.0
    );
    assert_eq!(
        s.value(
            r#"vifgate_route_in_use{prefix="10.0.0.0/16",peer="vpn \"backup\"",source="static"}"#
        ),
        0.0
    );
    assert_eq!(
        s.value(r#"vifgate_route_in_use{prefix="10.9.0.0/24",peer="aws",source="bgp"}"#),
        1.0
    );
    assert_eq!(
        s.value(
            r#"vifgate_rule_hits_total{kind="security_group",name="edge",direction="ingress",rule="1"}"#
        ),
        3.0
    );
    assert_eq!(
        s.value(
            r#"vifgate_rule_hits_total{kind="network_acl",name="office",direction="egress",rule="*"}"#
        ),
        2.0
    );
    // every reason of the status document, the eviction apart
    let reasons: Vec<String> = s
        .samples
        .keys()
        .filter_map(|k| k.strip_prefix("vifgate_dropped_packets_total{reason=\""))
        .map(|k| k.trim_end_matches("\"}").to_string())
        .collect();
    let expected: Vec<String> = status
        .drops
        .by_name()
        .into_iter()
        .map(|(k, _)| k)
        .filter(|k| k != "conntrack_early_drop")
        .collect();
    assert_eq!(reasons, expected);
    assert_eq!(
        s.value(r#"vifgate_dropped_packets_total{reason="security_group"}"#),
        4.0
    );
    assert_eq!(
        s.value(r#"vifgate_dropped_packets_total{reason="impair_loss"}"#),
        1.0
    );
    assert_eq!(s.value("vifgate_conntrack_evicted_flows_total"), 6.0);
    assert_eq!(s.value("vifgate_conntrack_entries"), 2.0);
    assert_eq!(s.value("vifgate_conntrack_entries_limit"), 1048576.0);
    assert_eq!(
        s.value("vifgate_handshake_initiations_processed_total"),
        7.0
    );
    assert_eq!(s.value("vifgate_cookie_replies_sent_total"), 9.0);
    // generation 3: two reloads taken
    assert_eq!(s.value(r#"vifgate_config_reloads_total{result="ok"}"#), 2.0);
    assert_eq!(
        s.value(r#"vifgate_config_reloads_total{result="refused"}"#),
        1.0
    );
    assert_eq!(s.value(r#"vifgate_bgp_routes{table="100"}"#), 2.0);
    assert_eq!(s.value(r#"vifgate_bgp_routes_ignored{table="100"}"#), 1.0);
    assert_eq!(s.value("vifgate_flow_log_skipped_packets_total"), 5.0);
    assert_eq!(s.value("vifgate_flow_log_skipped_bytes_total"), 260.0);
}

#[test]
fn the_queue_has_its_depth_drops_and_sojourn() {
    let s = parse(&render(&example(), taken()));
    assert_eq!(s.value("vifgate_queue_packets"), 3.0);
    assert_eq!(s.value("vifgate_queue_bytes"), 4260.0);
    assert_eq!(s.value("vifgate_queue_dequeued_packets_total"), 1000.0);
    assert_eq!(
        s.value(r#"vifgate_queue_dropped_packets_total{reason="codel"}"#),
        7.0
    );
    assert_eq!(
        s.value(r#"vifgate_queue_dropped_packets_total{reason="full"}"#),
        2.0
    );
    assert_eq!(
        s.value(r#"vifgate_queue_sojourn_seconds{stat="max"}"#),
        0.0045
    );
    assert_eq!(
        s.value(r#"vifgate_queue_sojourn_seconds{stat="mean"}"#),
        0.00025
    );
    assert_eq!(
        s.value(r#"vifgate_queue_sojourn_seconds{stat="last"}"#),
        0.00012
    );
    assert_eq!(s.value("vifgate_queue_ingress_dropped_packets_total"), 5.0);
    assert_eq!(
        s.value(r#"vifgate_queue_ingress_sojourn_seconds{stat="max"}"#),
        0.009
    );
    assert_eq!(
        s.value(r#"vifgate_queue_ingress_sojourn_seconds{stat="last"}"#),
        0.00003
    );
    // the queue off: no family
    let mut off = example();
    off.queue = None;
    let s = parse(&render(&off, taken()));
    assert!(!s.types.contains_key("vifgate_queue_packets"));
}

#[test]
fn without_bgp_reloads_or_a_flow_log_their_families_are_absent() {
    let mut status = example();
    status.bgp = None;
    status.reload = None;
    status.flow_log = None;
    let s = parse(&render(&status, taken()));
    assert!(!s.types.contains_key("vifgate_bgp_routes"));
    assert!(!s.types.contains_key("vifgate_config_reloads"));
    assert!(!s.types.contains_key("vifgate_flow_log_skipped_packets"));
    assert!(!s.types.contains_key("vifgate_flow_log_skipped_bytes"));
    assert!(s.types.contains_key("vifgate_peer_sent_bytes"));
}

#[test]
fn docs_list_every_metric_and_no_other() {
    let docs = include_str!("../../../docs/gateway.md");
    let s = parse(&render(&example(), taken()));
    let exported: Vec<String> = s
        .types
        .iter()
        .map(|(name, t)| match t.as_str() {
            "counter" => format!("{name}_total"),
            _ => name.clone(),
        })
        .collect();
    let documented: Vec<String> = docs
        .lines()
        .filter_map(|l| l.strip_prefix("| `vifgate_"))
        .filter_map(|l| l.split('`').next())
        .map(|n| format!("vifgate_{n}"))
        .collect();
    let mut sorted = documented.clone();
    sorted.sort();
    assert_eq!(sorted, exported, "docs/gateway.md, Prometheus metrics");
}
