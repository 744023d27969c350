//! The status document of a running gateway: what its unix socket answers
//! and `vifgate status` shows. One serde type, [`Status`], from end to end:
//! the router fills in its part ([`crate::router::Router::status`]), the
//! shell adds what only it knows (its own drops, the impairment), the
//! socket carries it as JSON, and `vifgate status` reads it back and
//! renders it ([`Status::render`]).

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use topology::security_group::Direction;

use crate::fair_queue::QueueStats;

/// Why the router dropped packets, counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Drops {
    /// Not a valid IPv4 packet.
    pub malformed: u64,
    /// IPv6 and other non-IPv4 packets from the TUN (not routed).
    pub not_ipv4: u64,
    /// No route to the destination.
    pub no_route: u64,
    /// A route whose peer has no endpoint yet.
    pub no_endpoint: u64,
    /// The network ACL denied it.
    pub nacl: u64,
    /// No security-group rule allowed it.
    pub security_group: u64,
    /// A non-first fragment whose datagram's first fragment the policy did
    /// not admit (denied, not seen yet, or more than 30 s ago), or a TCP
    /// fragment overlapping its datagram's TCP header.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub orphan_fragment: u64,
    /// The connection table was full (and, under `when_full =
    /// "early_drop"`, held no evictable flow).
    pub conntrack_full: u64,
    /// Not a drop of the packet: an evictable flow (half-open TCP, UDP,
    /// ICMP, other) evicted to make room for a new flow (`when_full =
    /// "early_drop"`). In the document only
    /// once non-zero.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub conntrack_early_drop: u64,
    /// A new flow from the LAN while the LAN held its `[conntrack]
    /// lan_max_flows`, none of them evictable. In the document only once
    /// non-zero.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub conntrack_lan_limit: u64,
    /// A new flow from the tunnel while the tunnel's peers held their
    /// `[conntrack] tunnel_max_flows`, none of them evictable. In the
    /// document only once non-zero.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub conntrack_tunnel_limit: u64,
    /// A new flow from a peer holding its `[conntrack] peer_max_flows`,
    /// none of them evictable. In the document only once non-zero.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub conntrack_peer_limit: u64,
    /// The inner source was outside the sending peer's allowed prefixes.
    pub allowed_ips: u64,
    /// From the tunnel to an address of the gateway box itself, not named
    /// in `[forwarding] allow_to_box`. In the document only once non-zero.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub to_gateway_box: u64,
    /// From the tunnel to an address outside `[forwarding] destinations`
    /// (the office's routes), or one nobody routes (multicast, broadcast).
    /// In the document only once non-zero.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub outside_destinations: u64,
    /// From the tunnel to an address the gateway routes back into the
    /// tunnel. In the document only once non-zero.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub hairpin: u64,
    /// DF set and larger than the tunnel MTU (answered with frag-needed).
    pub too_big: u64,
    /// A peer's WireGuard session refused it (decryption, replay, stale
    /// handshake ...), or encryption toward a peer failed.
    pub wireguard: u64,
    /// Datagrams that are no WireGuard message (unknown type, wrong size):
    /// refused after reading their first bytes.
    #[serde(default)]
    pub not_wireguard: u64,
    /// Handshake messages whose MAC1 is not the one for this gateway's
    /// public key: refused for the cost of one BLAKE2s, before any
    /// Diffie-Hellman.
    #[serde(default)]
    pub bad_mac1: u64,
    /// Handshake initiations that passed MAC1 (and MAC2 under load) and
    /// cost a Diffie-Hellman, but whose sender's static key is no peer's
    /// (or does not decrypt).
    #[serde(default)]
    pub unknown_key: u64,
    /// Handshake messages carrying a MAC2 (a cookie) beyond 20 a second
    /// (bursts of 5) from one source address.
    #[serde(default)]
    pub source_rate: u64,
    /// Responses, cookie replies and data messages whose receiver index
    /// names no peer: refused after one table lookup.
    #[serde(default)]
    pub unknown_index: u64,
}

/// What handshake initiations cost the gateway, counted (WireGuard's
/// denial-of-service protection at work).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandshakeCounts {
    /// Handshake initiations that passed MAC1 (and MAC2 under load) and so
    /// cost the gateway a Diffie-Hellman to find the sender's key.
    #[serde(default)]
    pub initiations_processed: u64,
    /// Cookie replies sent: handshake messages that arrived under load
    /// without a valid MAC2, answered instead of processed.
    #[serde(default)]
    pub cookie_replies: u64,
}

/// What the flow log (`[flow_logs]`) could not record: the packets of
/// flows beyond `max_flows` in their interval, each interval's reported as
/// one SKIPDATA record. Counted since the gateway started, across restarts
/// of the flow log by a reload.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowLogStatus {
    /// Packets not recorded flow by flow.
    pub skipped_packets: u64,
    /// Their bytes (whole IP packets).
    pub skipped_bytes: u64,
}

/// Whether a counter is zero (counters that appear only once they count).
fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// What the shell itself could not hand to the kernel, or dropped on
/// purpose (the impairment).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShellDrops {
    /// TUN writes that failed or found the queue full.
    pub tun_write: u64,
    /// Datagrams the UDP socket refused.
    pub udp_send: u64,
    /// TUN reads the offload layer could not split into packets.
    pub tun_unsplittable: u64,
    /// Datagrams the impairment lost on purpose (`loss`).
    pub impair_loss: u64,
    /// Datagrams dropped because the impairment's queue was full.
    pub impair_full: u64,
}

/// Every drop counter: one JSON object, the router's and the shell's side
/// by side.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DropCounts {
    /// The router's.
    #[serde(flatten)]
    pub router: Drops,
    /// The shell's.
    #[serde(flatten)]
    pub shell: ShellDrops,
}

impl DropCounts {
    /// Every counter by its name in the document, in name order.
    pub fn by_name(&self) -> Vec<(String, u64)> {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(m)) => m
                .into_iter()
                .map(|(k, v)| (k, v.as_u64().unwrap_or(0)))
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// A peer's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerStatus {
    /// Name.
    pub name: String,
    /// Public key (base64).
    pub public_key: String,
    /// Current endpoint.
    pub endpoint: Option<String>,
    /// Seconds since the last handshake, if there is a session.
    pub last_handshake_secs: Option<f64>,
    /// Seconds since the last authenticated packet.
    pub last_rx_secs: Option<f64>,
    /// Alive for routing.
    pub alive: bool,
    /// Inner bytes received.
    pub rx_bytes: u64,
    /// Inner bytes sent.
    pub tx_bytes: u64,
    /// Inner packets received (absent in documents of older gateways:
    /// zero).
    #[serde(default)]
    pub rx_packets: u64,
    /// Inner packets sent (absent in documents of older gateways: zero).
    #[serde(default)]
    pub tx_packets: u64,
    /// Prefixes whose traffic goes to this peer right now.
    pub routes_in_use: Vec<String>,
}

/// One route of the routing table (static or BGP-learned) and whether it
/// carries its prefix's traffic right now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteStatus {
    /// Destination block.
    pub prefix: String,
    /// The peer that carries it.
    pub peer: String,
    /// `static` or `bgp`.
    pub source: String,
    /// Its priority among routes of the prefix and source (lower first).
    pub priority: u32,
    /// Whether the prefix's traffic takes this route now.
    pub in_use: bool,
}

/// Which kind of rule a [`RuleHits`] counts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RuleKind {
    /// A security group's rule (counted per new flow).
    #[serde(rename = "security group")]
    SecurityGroup,
    /// A network ACL's rule (counted per packet).
    #[serde(rename = "network ACL")]
    NetworkAcl,
}

impl RuleKind {
    /// Its name in the document: `security group` or `network ACL`.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleKind::SecurityGroup => "security group",
            RuleKind::NetworkAcl => "network ACL",
        }
    }
}

/// A rule and how often it decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleHits {
    /// Security group or network ACL.
    pub kind: RuleKind,
    /// Group or ACL name.
    pub name: String,
    /// Direction.
    pub direction: Direction,
    /// Rule number (1-based for groups; the ACL number, `*` for the end).
    pub rule: String,
    /// Packets (ACL) or new flows (groups) it decided.
    pub hits: u64,
}

/// The impairment in force (`[impair]`): its settings and counters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImpairStatus {
    /// Mean one-way delay, milliseconds.
    pub delay_ms: f64,
    /// Jitter, milliseconds.
    pub jitter_ms: f64,
    /// Loss probability (0 to 1).
    pub loss: f64,
    /// Most datagrams held at once.
    pub queue: usize,
    /// Datagrams held now.
    pub queued: usize,
    /// Datagrams delayed since the start.
    pub delayed: u64,
    /// Datagrams lost on purpose since the start.
    pub dropped_loss: u64,
    /// Datagrams dropped on a full queue since the start.
    pub dropped_full: u64,
}

/// The configuration's reloads (SIGHUP): which configuration is in
/// force, and whether the last attempt was refused. A client that changed
/// the file and signalled reads `generation` before and polls until it
/// grows (reloaded) or `refused` grows (kept the old one: `last_error`
/// says why).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReloadStatus {
    /// The configuration in force: 1 for the one the gateway started
    /// with, one more for every reload accepted since.
    pub generation: u64,
    /// Reloads refused since the start (the file had errors, or the
    /// router could not take it); the configuration in force stayed.
    pub refused: u64,
    /// Why the last refused reload was refused; cleared by a reload that
    /// is accepted.
    pub last_error: Option<String>,
}

/// The BGP routes the gateway follows (`[bgp] kernel_table`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BgpStatus {
    /// The kernel routing table followed.
    pub kernel_table: u32,
    /// Every next hop of every route in it, in prefix order.
    pub routes: Vec<BgpRouteStatus>,
}

/// One next hop of a BGP route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BgpRouteStatus {
    /// Destination block.
    pub prefix: String,
    /// The next hop the BGP daemon chose.
    pub next_hop: String,
    /// The kernel metric (its priority among BGP routes of the prefix).
    pub metric: u32,
    /// The peer that carries it; `None` (null): no peer has this next hop,
    /// the route is ignored.
    pub peer: Option<String>,
}

impl BgpStatus {
    /// Routes whose next hop is no peer's.
    pub fn ignored(&self) -> usize {
        self.routes.iter().filter(|r| r.peer.is_none()).count()
    }

    /// The human form: a headline with the counts, a line per route.
    fn render(&self, o: &mut String) {
        let _ = write!(
            o,
            "\nbgp: kernel table {}, {} route(s)",
            self.kernel_table,
            self.routes.len()
        );
        match self.ignored() {
            0 => o.push('\n'),
            n => {
                let _ = writeln!(o, ", {n} ignored");
            }
        }
        for r in &self.routes {
            let _ = write!(o, "  {} via {} metric {}: ", r.prefix, r.next_hop, r.metric);
            match &r.peer {
                Some(p) => {
                    let _ = writeln!(o, "peer {p}");
                }
                None => o.push_str("ignored, no peer has this next hop\n"),
            }
        }
    }
}

/// Everything `vifgate status` shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// Peers.
    pub peers: Vec<PeerStatus>,
    /// Rule hit counters.
    pub rules: Vec<RuleHits>,
    /// Tracked flows.
    pub conntrack_flows: usize,
    /// Table capacity.
    pub conntrack_capacity: usize,
    /// Drop counters.
    pub drops: DropCounts,
    /// What handshake initiations cost (absent in documents of older
    /// gateways: zero).
    #[serde(default)]
    pub handshakes: HandshakeCounts,
    /// Where the policy came from.
    pub policy: String,
    /// The impairment of outgoing datagrams; `None` (null) when none is in
    /// force.
    pub impair: Option<ImpairStatus>,
    /// The configuration's reloads, filled in by the shell. Absent from
    /// the router's own document and from gateways older than this field
    /// (read back as `None`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reload: Option<ReloadStatus>,
    /// The BGP routes followed; absent without `[bgp]` (and from gateways
    /// older than this field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bgp: Option<BgpStatus>,
    /// Every route of the routing table, static and BGP-learned, with
    /// whether it is in use (absent when there is none, and from gateways
    /// older than this field).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<RouteStatus>,
    /// What the flow log could not record; absent without `[flow_logs]`
    /// (and from gateways older than this field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_log: Option<FlowLogStatus>,
    /// The fair queue between the TUN device and encryption (`[queue]`),
    /// filled in by the shell; absent when it is off (and from gateways
    /// older than this field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<QueueStats>,
}

/// A duration in nanoseconds as milliseconds, three decimals.
fn ms(ns: u64) -> String {
    format!("{:.3} ms", ns as f64 / 1e6)
}

/// The mean time a packet waited in the fair queue, in nanoseconds (0
/// before the first).
pub(crate) fn mean_sojourn_ns(q: &QueueStats) -> u64 {
    q.sojourn_sum_ns.checked_div(q.dequeued).unwrap_or(0)
}

/// The queue's line: depth, sojourn, drops.
fn render_queue(o: &mut String, q: &QueueStats) {
    let _ = writeln!(
        o,
        "queue: {} packets ({} B) waiting; sojourn last {}, mean {}, max {} over {} packets; dropped: {} by CoDel, {} full",
        q.packets,
        q.bytes,
        ms(q.sojourn_last_ns),
        ms(mean_sojourn_ns(q)),
        ms(q.sojourn_max_ns),
        q.dequeued,
        q.codel_drops,
        q.overflow_drops
    );
    let _ = writeln!(
        o,
        "way out: UDP receive queue wait last {}, max {}; {} datagrams dropped by CoDel before decryption",
        ms(q.ingress_sojourn_last_ns),
        ms(q.ingress_sojourn_max_ns),
        q.ingress_codel_drops
    );
}

/// `-` for nothing.
fn or_dash(s: Option<&str>) -> &str {
    s.unwrap_or("-")
}

/// `1.5s ago`, or `never`.
fn ago(secs: Option<f64>) -> String {
    secs.map(|x| format!("{x:.1}s ago"))
        .unwrap_or_else(|| "never".into())
}

impl Status {
    /// The human form (`vifgate status`).
    pub fn render(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(o, "policy: {}", self.policy);
        if let Some(r) = &self.reload {
            let _ = write!(o, "configuration: generation {}", r.generation);
            if r.refused > 0 {
                let _ = write!(o, ", {} reload(s) refused", r.refused);
            }
            match &r.last_error {
                Some(e) => {
                    let _ = writeln!(o, "; the last one: {e}");
                }
                None => o.push('\n'),
            }
        }
        for p in &self.peers {
            let routes = if p.routes_in_use.is_empty() {
                "none".to_string()
            } else {
                p.routes_in_use.join(", ")
            };
            let _ = writeln!(
                o,
                "\npeer {} ({})\n  endpoint: {}\n  alive: {}\n  last handshake: {}\n  last packet: {}\n  transfer: {} B received, {} B sent\n  routes in use: {}",
                p.name,
                p.public_key,
                or_dash(p.endpoint.as_deref()),
                p.alive,
                ago(p.last_handshake_secs),
                ago(p.last_rx_secs),
                p.rx_bytes,
                p.tx_bytes,
                routes,
            );
        }
        if let Some(b) = &self.bgp {
            b.render(&mut o);
        }
        let _ = writeln!(
            o,
            "\nconnection tracking: {} of {} flows",
            self.conntrack_flows, self.conntrack_capacity
        );
        let drops: Vec<String> = self
            .drops
            .by_name()
            .into_iter()
            .filter(|&(_, n)| n != 0)
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        let _ = writeln!(
            o,
            "drops: {}",
            if drops.is_empty() {
                "none".into()
            } else {
                drops.join(", ")
            }
        );
        if let Some(f) = self.flow_log.filter(|f| f.skipped_packets > 0) {
            let _ = writeln!(
                o,
                "flow log: {} packets ({} B) not recorded, over max_flows (SKIPDATA)",
                f.skipped_packets, f.skipped_bytes
            );
        }
        if let Some(q) = &self.queue {
            render_queue(&mut o, q);
        }
        let h = &self.handshakes;
        if *h != HandshakeCounts::default() {
            let _ = writeln!(
                o,
                "handshakes: {} initiations processed (a Diffie-Hellman each), {} cookie replies sent (under load)",
                h.initiations_processed, h.cookie_replies
            );
        }
        if !self.rules.is_empty() {
            let _ = writeln!(o, "\nrule hits:");
            for r in &self.rules {
                let _ = writeln!(
                    o,
                    "  {} {} {} rule {}: {}",
                    r.kind.as_str(),
                    r.name,
                    r.direction,
                    r.rule,
                    r.hits
                );
            }
        }
        o
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn example() -> Status {
        Status {
            peers: vec![PeerStatus {
                name: "aws".into(),
                public_key: "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=".into(),
                endpoint: Some("192.0.2.2:51820".into()),
                last_handshake_secs: Some(1.3),
                last_rx_secs: None,
                alive: true,
                rx_bytes: 84,
                tx_bytes: 0,
                rx_packets: 1,
                tx_packets: 0,
                routes_in_use: vec!["10.0.0.0/16".into()],
            }],
            rules: vec![RuleHits {
                kind: RuleKind::SecurityGroup,
                name: "edge".into(),
                direction: Direction::Ingress,
                rule: "1".into(),
                hits: 3,
            }],
            conntrack_flows: 2,
            conntrack_capacity: 1 << 20,
            drops: DropCounts {
                router: Drops {
                    security_group: 4,
                    ..Drops::default()
                },
                shell: ShellDrops {
                    impair_loss: 1,
                    ..ShellDrops::default()
                },
            },
            handshakes: HandshakeCounts::default(),
            policy: "inline".into(),
            impair: None,
            reload: None,
            bgp: None,
            routes: vec![],
            flow_log: None,
            queue: None,
        }
    }

    /// A queue with packets waiting and drops of both kinds (also the
    /// metrics' tests' example).
    pub(crate) fn example_queue() -> QueueStats {
        QueueStats {
            packets: 3,
            bytes: 4260,
            dequeued: 1000,
            codel_drops: 7,
            overflow_drops: 2,
            sojourn_sum_ns: 250_000_000,
            sojourn_max_ns: 4_500_000,
            sojourn_last_ns: 120_000,
            ingress_codel_drops: 5,
            ingress_sojourn_max_ns: 9_000_000,
            ingress_sojourn_last_ns: 30_000,
        }
    }

    /// A followed kernel table with one route mapped to a peer and one
    /// ignored (also the metrics' tests' example).
    pub(crate) fn example_bgp() -> BgpStatus {
        BgpStatus {
            kernel_table: 100,
            routes: vec![
                BgpRouteStatus {
                    prefix: "10.9.0.0/24".into(),
                    next_hop: "172.30.0.2".into(),
                    metric: 32,
                    peer: Some("aws".into()),
                },
                BgpRouteStatus {
                    prefix: "10.10.0.0/24".into(),
                    next_hop: "192.0.2.9".into(),
                    metric: 32,
                    peer: None,
                },
            ],
        }
    }

    #[test]
    fn bgp_routes_are_shown_alike_in_json_and_for_people() {
        let mut s = example();
        s.bgp = Some(example_bgp());
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["bgp"]["kernel_table"], 100);
        assert_eq!(v["bgp"]["routes"][0]["peer"], "aws");
        assert_eq!(v["bgp"]["routes"][1]["peer"], serde_json::Value::Null);
        let back: Status = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(back, s);
        let text = s.render();
        assert!(
            text.contains(
                "\nbgp: kernel table 100, 2 route(s), 1 ignored\n  \
                 10.9.0.0/24 via 172.30.0.2 metric 32: peer aws\n  \
                 10.10.0.0/24 via 192.0.2.9 metric 32: ignored, no peer has this next hop\n\
                 \nconnection tracking:"
            ),
            "{text}"
        );
        // a gateway without [bgp]: no key, no section
        let mut old = v;
        old.as_object_mut().unwrap().remove("bgp");
        let back: Status = serde_json::from_value(old).unwrap();
        assert_eq!(back.bgp, None);
        assert!(!example().render().contains("bgp:"));
        s.bgp = Some(BgpStatus {
            kernel_table: 100,
            routes: vec![],
        });
        assert!(s.render().contains("\nbgp: kernel table 100, 0 route(s)\n"));
    }

    #[test]
    fn the_reload_generation_is_carried_and_old_documents_read_without_it() {
        let mut s = example();
        s.reload = Some(ReloadStatus {
            generation: 3,
            refused: 1,
            last_error: Some("line 4: bad key".into()),
        });
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["reload"]["generation"], 3);
        assert_eq!(v["reload"]["refused"], 1);
        assert_eq!(v["reload"]["last_error"], "line 4: bad key");
        let back: Status = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(back, s);
        // a gateway that does not report reloads: no key, read as None
        let mut old = v;
        old.as_object_mut().unwrap().remove("reload");
        let back: Status = serde_json::from_value(old).unwrap();
        assert_eq!(back.reload, None);
        assert!(s
            .render()
            .starts_with("policy: inline\nconfiguration: generation 3, 1 reload(s) refused; the last one: line 4: bad key\n"));
    }

    #[test]
    fn the_document_keeps_its_field_names_and_reads_back() {
        let s = example();
        let v = serde_json::to_value(&s).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "conntrack_capacity",
                "conntrack_flows",
                "drops",
                "handshakes",
                "impair",
                "peers",
                "policy",
                "rules"
            ]
        );
        assert_eq!(v["impair"], serde_json::Value::Null);
        assert_eq!(v["rules"][0]["kind"], "security group");
        assert_eq!(v["rules"][0]["direction"], "ingress");
        let drops: Vec<&str> = v["drops"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            drops,
            [
                "allowed_ips",
                "bad_mac1",
                "conntrack_full",
                "impair_full",
                "impair_loss",
                "malformed",
                "nacl",
                "no_endpoint",
                "no_route",
                "not_ipv4",
                "not_wireguard",
                "security_group",
                "source_rate",
                "too_big",
                "tun_unsplittable",
                "tun_write",
                "udp_send",
                "unknown_index",
                "unknown_key",
                "wireguard"
            ]
        );
        let back: Status = serde_json::from_value(v).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn renders_for_people() {
        assert_eq!(
            example().render(),
            "policy: inline\n\
             \n\
             peer aws (HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=)\n  \
             endpoint: 192.0.2.2:51820\n  \
             alive: true\n  \
             last handshake: 1.3s ago\n  \
             last packet: never\n  \
             transfer: 84 B received, 0 B sent\n  \
             routes in use: 10.0.0.0/16\n\
             \n\
             connection tracking: 2 of 1048576 flows\n\
             drops: impair_loss 1, security_group 4\n\
             \n\
             rule hits:\n  \
             security group edge ingress rule 1: 3\n"
        );
    }

    #[test]
    fn the_queue_is_carried_and_shown_when_on() {
        let mut s = example();
        assert!(!s.render().contains("queue"));
        assert!(serde_json::to_value(&s).unwrap().get("queue").is_none());
        s.queue = Some(example_queue());
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["queue"]["codel_drops"], 7);
        let back: Status = serde_json::from_value(v).unwrap();
        assert_eq!(back, s);
        let text = s.render();
        assert!(
            text.contains(
                "queue: 3 packets (4260 B) waiting; sojourn last 0.120 ms, mean 0.250 ms, max 4.500 ms over 1000 packets; dropped: 7 by CoDel, 2 full\n\
                 way out: UDP receive queue wait last 0.030 ms, max 9.000 ms; 5 datagrams dropped by CoDel before decryption\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn the_flow_logs_skipped_packets_are_carried_and_shown_once_not_zero() {
        let mut s = example();
        s.flow_log = Some(FlowLogStatus::default());
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["flow_log"]["skipped_packets"], 0);
        assert_eq!(v["flow_log"]["skipped_bytes"], 0);
        assert!(!s.render().contains("flow log"));
        s.flow_log = Some(FlowLogStatus {
            skipped_packets: 12,
            skipped_bytes: 840,
        });
        let v = serde_json::to_value(&s).unwrap();
        let back: Status = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(back, s);
        let text = s.render();
        assert!(
            text.contains(
                "drops: impair_loss 1, security_group 4\n\
                 flow log: 12 packets (840 B) not recorded, over max_flows (SKIPDATA)\n"
            ),
            "{text}"
        );
        // without [flow_logs], or from an older gateway: no key, read as None
        assert!(serde_json::to_value(example())
            .unwrap()
            .get("flow_log")
            .is_none());
        let mut old = v;
        old.as_object_mut().unwrap().remove("flow_log");
        let back: Status = serde_json::from_value(old).unwrap();
        assert_eq!(back.flow_log, None);
    }

    #[test]
    fn documents_of_older_gateways_read_with_zero_handshake_counters() {
        let mut v = serde_json::to_value(example()).unwrap();
        let doc = v.as_object_mut().unwrap();
        doc.remove("handshakes");
        let drops = doc["drops"].as_object_mut().unwrap();
        for k in [
            "bad_mac1",
            "not_wireguard",
            "source_rate",
            "unknown_index",
            "unknown_key",
        ] {
            assert!(drops.remove(k).is_some(), "{k}");
        }
        let back: Status = serde_json::from_value(v).unwrap();
        assert_eq!(back, example());
    }

    #[test]
    fn renders_what_handshakes_cost_once_there_is_any() {
        let mut s = example();
        s.handshakes = HandshakeCounts {
            initiations_processed: 7,
            cookie_replies: 300,
        };
        s.drops.router.bad_mac1 = 20_000;
        let text = s.render();
        assert!(
            text.contains("drops: bad_mac1 20000, impair_loss 1, security_group 4\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "handshakes: 7 initiations processed (a Diffie-Hellman each), 300 cookie replies sent (under load)\n"
            ),
            "{text}"
        );
    }
}
