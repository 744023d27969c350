//! The gateway in real network namespaces: two vifgate gateways, or vifgate
//! and stock wireguard-go, between an office LAN and a VPC subnet.
//!
//! ```text
//!  lan1 192.168.10.10 ── gw1 (vifgate) ══ WireGuard over 172.30.0.0/24 ══ gw2 ── lan2 10.0.10.10
//! ```
//! The gateway following its kernel table for BGP routes: `gateway_netns/bgp.rs`;
//! its Prometheus endpoint scraped by a real Prometheus: `gateway_netns/metrics.rs`;
//! its VPC flow logs: `gateway_netns/flow_logs.rs`; fragments through its
//! policy: `gateway_netns/fragments.rs`; where packets from the tunnel may
//! go: `gateway_netns/forwarding.rs`; its status socket's path and the
//! reloads that need a restart or rotate the private key:
//! `gateway_netns/status_socket.rs`.
//! Needs root; runs for real in CI (`CI=true`), skips with a message
//! elsewhere when it cannot.

#[path = "gateway_netns/bgp.rs"]
mod bgp;
mod common;
#[path = "gateway_netns/flow_logs.rs"]
mod flow_logs;
#[path = "gateway_netns/forwarding.rs"]
mod forwarding;
#[path = "gateway_netns/fragments.rs"]
mod fragments;
#[path = "gateway_netns/metrics.rs"]
mod metrics;
#[path = "gateway_netns/status_socket.rs"]
mod status_socket;

use std::path::PathBuf;
use std::time::Duration;

use common::{can_run, keypair, need_tool, vifgate, Lab};

struct PeerSpec<'a> {
    name: &'a str,
    public_key: &'a str,
    endpoint: Option<&'a str>,
    allowed_ips: &'a str,
}

#[allow(clippy::too_many_arguments)]
fn gateway_config(
    lab: &Lab,
    file: &str,
    tun: &str,
    key: &std::path::Path,
    port: u16,
    peers: &[PeerSpec],
    routes: &[(&str, &str, u32)],
    extra: &str,
) -> PathBuf {
    let mut t = format!(
        "[interface]\nname = \"{tun}\"\nmtu = 1420\nlisten_port = {port}\nprivate_key_file = \"{}\"\n",
        key.display()
    );
    for p in peers {
        t += &format!(
            "[[peer]]\nname = \"{}\"\npublic_key = \"{}\"\nallowed_ips = [\"{}\"]\npersistent_keepalive = 1\n",
            p.name, p.public_key, p.allowed_ips
        );
        if let Some(e) = p.endpoint {
            t += &format!("endpoint = \"{e}\"\n");
        }
    }
    for (prefix, peer, prio) in routes {
        t += &format!("[[route]]\nprefix = \"{prefix}\"\npeer = \"{peer}\"\npriority = {prio}\n");
    }
    t += &format!(
        "[status]\nsocket = \"{}\"\n",
        lab.dir.join(format!("{file}.sock")).display()
    );
    t += extra;
    let path = lab.dir.join(format!("{file}.toml"));
    std::fs::write(&path, t).expect("config");
    path
}

/// A VPC end's configuration `FILE.toml`: its one peer the office (gw1 at
/// 172.30.0.1:51820, with public key `office_key`), 192.168.10.0/24 routed
/// to it, `extra` appended.
fn vpc_end_config(
    lab: &Lab,
    file: &str,
    tun: &str,
    key: &std::path::Path,
    port: u16,
    office_key: &str,
    extra: &str,
) -> PathBuf {
    gateway_config(
        lab,
        file,
        tun,
        key,
        port,
        &[PeerSpec {
            name: "office",
            public_key: office_key,
            endpoint: Some("172.30.0.1:51820"),
            allowed_ips: "192.168.10.0/24",
        }],
        &[("192.168.10.0/24", "office", 10)],
        extra,
    )
}

/// Starts a vifgate gateway and waits until its TUN device is up; then
/// routes `prefix` into it.
fn start_gateway(
    lab: &mut Lab,
    name: &str,
    ns: &str,
    config: &std::path::Path,
    tun: &str,
    prefix: &str,
) {
    lab.spawn(
        name,
        ns,
        &[
            vifgate(),
            "gateway",
            "--config",
            config.to_str().expect("utf-8"),
        ],
        &[("RUST_LOG", "gateway=debug")],
    );
    let up = lab.wait_for(Duration::from_secs(10), || {
        lab.exec(ns, &["ip", "link", "show", tun]).status.success()
    });
    assert!(
        up,
        "gateway {name} did not bring {tun} up:\n{}",
        lab.log(name)
    );
    lab.route(ns, &[prefix, "dev", tun]);
}

fn status(lab: &Lab, file: &str) -> serde_json::Value {
    let sock = lab.dir.join(format!("{file}.sock"));
    let o = common::sh(&[
        vifgate(),
        "status",
        "--json",
        "--socket",
        sock.to_str().expect("utf-8"),
    ]);
    serde_json::from_slice(&o.stdout).expect("status JSON")
}

/// lan1 — gw1 — (wan) — gw2 — lan2, addresses set, no gateway started.
fn topology(lab: &mut Lab) {
    for ns in ["lan1", "gw1", "gw2", "lan2"] {
        lab.add_ns(ns);
    }
    lab.link("lan1", "192.168.10.10/24", "gw1", "192.168.10.1/24");
    lab.link("gw1", "172.30.0.1/24", "gw2", "172.30.0.2/24");
    lab.link("gw2", "10.0.10.1/24", "lan2", "10.0.10.10/24");
    lab.route("lan1", &["default", "via", "192.168.10.1"]);
    lab.route("lan2", &["default", "via", "10.0.10.1"]);
}

struct Pair {
    gw1: PathBuf,
    gw2: PathBuf,
}

/// Two vifgate gateways with `policy1` at the office end.
fn vifgate_pair(lab: &mut Lab, policy1: &str) -> Pair {
    vifgate_pair_with(lab, policy1, "")
}

/// Two vifgate gateways, with `extra1` appended to the office end's
/// configuration and `extra2` to the VPC end's.
fn vifgate_pair_with(lab: &mut Lab, extra1: &str, extra2: &str) -> Pair {
    let (k1, p1) = keypair(&lab.dir, "k1");
    let (k2, p2) = keypair(&lab.dir, "k2");
    let gw1 = gateway_config(
        lab,
        "gw1",
        "vg1",
        &k1,
        51820,
        &[PeerSpec {
            name: "aws",
            public_key: &p2,
            endpoint: Some("172.30.0.2:51820"),
            allowed_ips: "10.0.0.0/16",
        }],
        &[("10.0.0.0/16", "aws", 10)],
        extra1,
    );
    let gw2 = vpc_end_config(lab, "gw2", "vg2", &k2, 51820, &p1, extra2);
    start_gateway(lab, "gw1", "gw1", &gw1, "vg1", "10.0.0.0/16");
    start_gateway(lab, "gw2", "gw2", &gw2, "vg2", "192.168.10.0/24");
    Pair { gw1, gw2 }
}

const TCP_SINK: &str = r#"
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(4)
while True:
    c, _ = s.accept(); n = 0
    mss = c.getsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG)
    while True:
        d = c.recv(1 << 16)
        if not d: break
        n += len(d)
    c.sendall(("%d %d" % (n, mss)).encode()); c.close()
"#;

const TCP_SEND: &str = r#"
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
block = b"x" * (1 << 16); left = int(sys.argv[3])
while left > 0:
    k = min(left, len(block)); s.sendall(block[:k]); left -= k
s.shutdown(socket.SHUT_WR)
print(s.recv(64).decode())
"#;

const UDP_ECHO: &str = r#"
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", int(sys.argv[1])))
while True:
    d, a = s.recvfrom(2048); s.sendto(d, a)
"#;

const UDP_ASK: &str = r#"
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)
for _ in range(5):
    s.sendto(b"hello", (sys.argv[1], int(sys.argv[2])))
    try:
        print(s.recvfrom(65536)[0].decode()); break
    except socket.timeout:
        pass
"#;

/// Sends `bytes` over TCP from `ns` to `dst:port` (a sink must listen);
/// how many bytes the sink counted.
fn tcp_transfer(lab: &Lab, ns: &str, dst: &str, port: u16, bytes: usize) -> Option<usize> {
    tcp_transfer_mss(lab, ns, dst, port, bytes).map(|(n, _)| n)
}

/// Like `tcp_transfer`, with the MSS the receiver uses toward the sender
/// (what the sender's SYN advertised, after any clamping on the way).
fn tcp_transfer_mss(
    lab: &Lab,
    ns: &str,
    dst: &str,
    port: u16,
    bytes: usize,
) -> Option<(usize, usize)> {
    let o = lab.exec(
        ns,
        &[
            "python3",
            "-c",
            TCP_SEND,
            dst,
            &port.to_string(),
            &bytes.to_string(),
        ],
    );
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    let mut it = out.split_whitespace().map(|x| x.parse::<usize>().ok());
    Some((it.next()??, it.next()??))
}

fn start_sink(lab: &mut Lab, name: &str, ns: &str, port: u16) {
    lab.spawn(
        name,
        ns,
        &["python3", "-c", TCP_SINK, &port.to_string()],
        &[],
    );
    std::thread::sleep(Duration::from_millis(300));
}

#[test]
fn two_gateways_carry_ping_tcp_and_udp() {
    if !can_run("two_gateways_carry_ping_tcp_and_udp") || !need_tool("python3") {
        return;
    }
    let mut lab = Lab::new();
    topology(&mut lab);
    // with the fair queue and CoDel on ([queue] is off by default)
    let queue = "[queue]\nenabled = true\n";
    vifgate_pair_with(&mut lab, queue, queue);
    assert!(
        lab.ping("lan1", "10.0.10.10", 3),
        "ping office -> VPC\n{}",
        lab.log("gw1")
    );
    assert!(lab.ping("lan2", "192.168.10.10", 3), "ping VPC -> office");
    start_sink(&mut lab, "sink", "lan2", 5001);
    assert_eq!(
        tcp_transfer(&lab, "lan1", "10.0.10.10", 5001, 1_000_000),
        Some(1_000_000)
    );
    lab.spawn("echo", "lan1", &["python3", "-c", UDP_ECHO, "5002"], &[]);
    std::thread::sleep(Duration::from_millis(300));
    let o = lab.exec("lan2", &["python3", "-c", UDP_ASK, "192.168.10.10", "5002"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "hello");
    let s = status(&lab, "gw1");
    assert_eq!(s["peers"][0]["alive"], true);
    assert!(s["peers"][0]["rx_bytes"].as_u64().unwrap_or(0) > 0);
    assert_eq!(s["peers"][0]["routes_in_use"][0], "10.0.0.0/16");
    // the fair queue carried the way in, and the way out read the
    // kernel's receive stamps
    assert!(s["queue"]["dequeued"].as_u64().unwrap_or(0) > 700, "{s}");
    assert!(
        s["queue"]["ingress_sojourn_max_ns"].as_u64().unwrap_or(0) > 0,
        "{s}"
    );
}

/// The TUN device's transmit queue (`qlen`) in namespace `ns`.
fn tx_queue_length(lab: &Lab, ns: &str, dev: &str) -> Option<u32> {
    let o = lab.exec(ns, &["cat", &format!("/sys/class/net/{dev}/tx_queue_len")]);
    String::from_utf8_lossy(&o.stdout).trim().parse().ok()
}

#[test]
fn the_tun_device_gets_its_configured_queue_length() {
    if !can_run("the_tun_device_gets_its_configured_queue_length") {
        return;
    }
    let mut lab = Lab::new();
    topology(&mut lab);
    let (_, p2) = keypair(&lab.dir, "k2");
    let (gw1, _) = gw1_config(&lab, "aws", &p2);
    // [interface] tx_queue_length: the queue of packets the kernel holds
    // for the gateway to read (the kernel's default is 500)
    let text = std::fs::read_to_string(&gw1)
        .expect("gw1's configuration")
        .replacen(
            "listen_port = 51820\n",
            "listen_port = 51820\ntx_queue_length = 64\n",
            1,
        );
    std::fs::write(&gw1, text).expect("gw1's configuration");
    start_gateway(&mut lab, "gw1", "gw1", &gw1, "vg1", "10.0.0.0/16");
    assert_eq!(
        tx_queue_length(&lab, "gw1", "vg1"),
        Some(64),
        "{}",
        lab.log("gw1")
    );
}

/// vifgate alone at gw1, its one peer `name` (key `public_key`) at
/// 172.30.0.2 in gw2, routing 10.0.0.0/16 to it; gw1's public key.
fn gw1_facing(lab: &mut Lab, name: &str, public_key: &str) -> String {
    let (gw1, p1) = gw1_config(lab, name, public_key);
    start_gateway(lab, "gw1", "gw1", &gw1, "vg1", "10.0.0.0/16");
    p1
}

/// gw1's configuration as [`gw1_facing`] starts it: its path, and gw1's
/// public key.
fn gw1_config(lab: &Lab, name: &str, public_key: &str) -> (PathBuf, String) {
    let (k1, p1) = keypair(&lab.dir, "k1");
    let gw1 = gateway_config(
        lab,
        "gw1",
        "vg1",
        &k1,
        51820,
        &[PeerSpec {
            name,
            public_key,
            endpoint: Some("172.30.0.2:51820"),
            allowed_ips: "10.0.0.0/16",
        }],
        &[("10.0.0.0/16", name, 10)],
        "",
    );
    (gw1, p1)
}

#[test]
fn interoperates_with_wireguard_go_both_ways() {
    if !can_run("interoperates_with_wireguard_go_both_ways")
        || !need_tool("wireguard-go")
        || !need_tool("wg")
        || !need_tool("python3")
    {
        return;
    }
    let mut lab = Lab::new();
    topology(&mut lab);
    let (k2, p2) = keypair(&lab.dir, "k2");
    let p1 = gw1_facing(&mut lab, "wg-go", &p2);
    // stock wireguard-go + wg on the other side; its UAPI socket path is
    // global, so the interface name carries the lab prefix
    let wgif = format!("{}w", lab.prefix);
    lab.owns_file(format!("/var/run/wireguard/{wgif}.sock"));
    lab.spawn("wireguard-go", "gw2", &["wireguard-go", "-f", &wgif], &[]);
    let up = lab.wait_for(Duration::from_secs(10), || {
        lab.exec("gw2", &["ip", "link", "show", &wgif])
            .status
            .success()
    });
    assert!(
        up,
        "wireguard-go did not start: {}",
        lab.log("wireguard-go")
    );
    let k2s = k2.to_str().expect("utf-8");
    let o = lab.exec(
        "gw2",
        &[
            "wg",
            "set",
            &wgif,
            "private-key",
            k2s,
            "listen-port",
            "51820",
            "peer",
            &p1,
            "endpoint",
            "172.30.0.1:51820",
            "allowed-ips",
            "192.168.10.0/24",
            "persistent-keepalive",
            "1",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    common::sh(&["ip", "-n", &lab.ns("gw2"), "link", "set", &wgif, "up"]);
    lab.route("gw2", &["192.168.10.0/24", "dev", &wgif]);

    assert!(
        lab.ping("lan1", "10.0.10.10", 3),
        "vifgate -> wireguard-go\n{}",
        lab.log("gw1")
    );
    assert!(
        lab.ping("lan2", "192.168.10.10", 3),
        "wireguard-go -> vifgate"
    );
    start_sink(&mut lab, "sink2", "lan2", 5001);
    start_sink(&mut lab, "sink1", "lan1", 5001);
    assert_eq!(
        tcp_transfer(&lab, "lan1", "10.0.10.10", 5001, 5_000_000),
        Some(5_000_000)
    );
    assert_eq!(
        tcp_transfer(&lab, "lan2", "192.168.10.10", 5001, 5_000_000),
        Some(5_000_000)
    );
    let show = lab.exec("gw2", &["wg", "show", &wgif, "latest-handshakes"]);
    let latest: u64 = String::from_utf8_lossy(&show.stdout)
        .split_whitespace()
        .nth(1)
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    assert!(latest > 0, "wg reports a handshake with vifgate");
}

/// Stands in gw2 as the far peer (a socket on its endpoint, counting the
/// handshake initiations the gateway's timers send it) and floods the
/// gateway with handshake initiations that carry a valid MAC1 for its
/// public key (anyone who knows the key can compute it), counting the
/// cookie replies that come back. Prints `knocks cookies sent`.
const MAC1_FLOOD: &str = r#"
import base64, hashlib, os, socket, sys, time
gateway, public, secs = sys.argv[1], base64.b64decode(sys.argv[2]), float(sys.argv[3])
key = hashlib.blake2s(b"mac1----" + public).digest()
msg = bytes([1, 0, 0, 0]) + os.urandom(112)
init = msg + hashlib.blake2s(msg, key=key, digest_size=16).digest() + bytes(16)
peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); peer.bind(("172.30.0.2", 51820))
flood = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
peer.setblocking(False); flood.setblocking(False)
time.sleep(0.3)
while True:
    try: peer.recv(2048)
    except BlockingIOError: break
knocks = cookies = sent = 0; start = time.time()
while time.time() - start < secs:
    for _ in range(64):
        try: flood.sendto(init, (gateway, 51820)); sent += 1
        except BlockingIOError: pass
    for s in (peer, flood):
        while True:
            try: d = s.recv(2048)
            except BlockingIOError: break
            if s is peer and d[:1] == b"\x01": knocks += 1
            if s is flood and d[:1] == b"\x03" and len(d) == 64: cookies += 1
print(knocks, cookies, sent)
"#;

#[test]
fn a_handshake_flood_gets_cookies_and_the_timers_keep_running() {
    if !can_run("a_handshake_flood_gets_cookies_and_the_timers_keep_running")
        || !need_tool("python3")
    {
        return;
    }
    let mut lab = Lab::new();
    topology(&mut lab);
    let (_, p2) = keypair(&lab.dir, "k2");
    let started = std::time::Instant::now();
    let p1 = gw1_facing(&mut lab, "far", &p2);
    // the far peer never answers: the gateway knocks every 5 s, from its
    // timers, so a 6 s flood must see at least one knock
    let o = lab.exec(
        "gw2",
        &["python3", "-c", MAC1_FLOOD, "172.30.0.1", &p1, "6"],
    );
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    let counts: Vec<u64> = out
        .split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect();
    assert_eq!(
        counts.len(),
        3,
        "flooder: {out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let (knocks, cookies) = (counts[0], counts[1]);
    let s = status(&lab, "gw1");
    let elapsed = started.elapsed().as_secs() + 2;
    assert!(
        cookies > 0,
        "cookie replies reach the sender's address: {s}"
    );
    assert!(knocks > 0, "the timers ran during the flood: {s}");
    let h = &s["handshakes"];
    let dh = h["initiations_processed"].as_u64().unwrap_or(0);
    let limit = gateway::router::HANDSHAKE_RATE_LIMIT;
    assert!(
        dh > limit,
        "the load window ended during the flood (the timers reset it): {s}"
    );
    assert!(
        dh <= limit * elapsed,
        "at most {limit} Diffie-Hellmans a second ({elapsed} s): {s}"
    );
    assert!(h["cookie_replies"].as_u64().unwrap_or(0) >= cookies, "{s}");
    assert_eq!(s["drops"]["bad_mac1"].as_u64(), Some(0), "{s}");
    assert_eq!(s["drops"]["unknown_key"].as_u64(), Some(dh), "{s}");
}

#[test]
fn security_groups_and_nacl_at_the_office_gateway() {
    if !can_run("security_groups_and_nacl_at_the_office_gateway") || !need_tool("python3") {
        return;
    }
    let mut lab = Lab::new();
    topology(&mut lab);
    // from the VPC: ping only; a NACL denies 10.0.10.10 tcp/5003 although
    // a group allows it
    let policy = r#"
[policy]
security_groups = ["edge"]
nacl = "edge-acl"
[[policy.security_group]]
name = "edge"
ingress = [
  { protocol = "icmp", icmp_type = 8, icmp_code = -1, cidr = "10.0.0.0/16" },
  { protocol = "tcp", ports = 5003, cidr = "10.0.0.0/16" },
]
[[policy.network_acl]]
name = "edge-acl"
ingress = [
  { rule = 10, action = "deny", protocol = "tcp", ports = 5003, cidr = "10.0.10.10/32" },
  { rule = 100, action = "allow", protocol = -1, cidr = "0.0.0.0/0" },
]
egress = [{ rule = 100, action = "allow", protocol = -1, cidr = "0.0.0.0/0" }]
"#;
    vifgate_pair(&mut lab, policy);
    // an allowed flow: ping from the VPC
    assert!(lab.ping("lan2", "192.168.10.10", 2), "{}", lab.log("gw1"));
    // the office opens TCP into the VPC; the replies pass statefully
    start_sink(&mut lab, "sink2", "lan2", 5001);
    assert_eq!(
        tcp_transfer(&lab, "lan1", "10.0.10.10", 5001, 200_000),
        Some(200_000)
    );
    // the VPC opens TCP to the office: no rule, dropped and counted
    start_sink(&mut lab, "sink1", "lan1", 5001);
    start_sink(&mut lab, "sink1b", "lan1", 5003);
    let before = status(&lab, "gw1")["drops"]["security_group"]
        .as_u64()
        .unwrap_or(0);
    assert_eq!(
        tcp_transfer(&lab, "lan2", "192.168.10.10", 5001, 1000),
        None
    );
    let s = status(&lab, "gw1");
    assert!(
        s["drops"]["security_group"].as_u64().unwrap_or(0) > before,
        "{s}"
    );
    // the NACL's deny beats the group's allow
    assert_eq!(
        tcp_transfer(&lab, "lan2", "192.168.10.10", 5003, 1000),
        None
    );
    let s = status(&lab, "gw1");
    assert!(s["drops"]["nacl"].as_u64().unwrap_or(0) > 0, "{s}");
    let hits = s["rules"].as_array().expect("rules");
    assert!(
        hits.iter().any(|r| r["name"] == "edge-acl"
            && r["rule"] == "10"
            && r["hits"].as_u64().unwrap_or(0) > 0),
        "{s}"
    );
    assert!(
        hits.iter()
            .any(|r| r["name"] == "edge" && r["direction"] == "ingress" && r["rule"] == "1"),
        "{s}"
    );
}

#[test]
fn inner_sources_outside_the_allowed_prefixes_are_dropped() {
    if !can_run("inner_sources_outside_the_allowed_prefixes_are_dropped") {
        return;
    }
    let mut lab = Lab::new();
    topology(&mut lab);
    vifgate_pair(&mut lab, "");
    assert!(lab.ping("lan2", "192.168.10.10", 1));
    // lan2 also has 172.16.0.5; gw2 tunnels what it gets, gw1 accepts
    // only 10.0.0.0/16 from that peer
    let lan2 = lab.ns("lan2");
    let dev = format!("{}y3", lab.prefix);
    common::sh(&[
        "ip",
        "-n",
        &lan2,
        "addr",
        "add",
        "172.16.0.5/32",
        "dev",
        &dev,
    ]);
    assert!(!lab
        .exec(
            "lan2",
            &[
                "ping",
                "-c",
                "2",
                "-i",
                "0.2",
                "-W",
                "1",
                "-I",
                "172.16.0.5",
                "192.168.10.10"
            ]
        )
        .status
        .success());
    let s = status(&lab, "gw1");
    assert!(s["drops"]["allowed_ips"].as_u64().unwrap_or(0) >= 2, "{s}");
}

#[test]
fn traffic_resumes_after_the_far_side_restarts() {
    if !can_run("traffic_resumes_after_the_far_side_restarts") {
        return;
    }
    let mut lab = Lab::new();
    topology(&mut lab);
    let pair = vifgate_pair(&mut lab, "");
    assert!(lab.ping("lan1", "10.0.10.10", 2));
    lab.kill("gw2");
    assert!(!lab.ping("lan1", "10.0.10.10", 1));
    start_gateway(&mut lab, "gw2", "gw2", &pair.gw2, "vg2", "192.168.10.0/24");
    let back = lab.wait_for(Duration::from_secs(15), || {
        lab.ping("lan1", "10.0.10.10", 1)
    });
    assert!(
        back,
        "no traffic after the far side restarted\n{}",
        lab.log("gw1")
    );
    let _ = pair.gw1;
}

#[test]
fn pmtu_frag_needed_and_a_50_mb_transfer_with_mss_clamping() {
    if !can_run("pmtu_frag_needed_and_a_50_mb_transfer_with_mss_clamping") || !need_tool("python3")
    {
        return;
    }
    let mut lab = Lab::new();
    topology(&mut lab);
    vifgate_pair(&mut lab, "");
    assert!(lab.ping("lan1", "10.0.10.10", 1));
    // 1450 bytes of payload + 28 of headers > the tunnel MTU of 1420
    let o = lab.exec(
        "lan1",
        &[
            "ping",
            "-c",
            "2",
            "-M",
            "do",
            "-s",
            "1450",
            "-W",
            "1",
            "10.0.10.10",
        ],
    );
    let out = String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        out.contains("Frag needed") || out.contains("mtu = 1420") || out.contains("too long"),
        "{out}"
    );
    // a bulk transfer: the LAN side MTU is 1500, so without MSS clamping
    // or PMTU discovery full-size segments would not fit the tunnel
    // forget the path MTU the ping taught lan1, so that its SYN advertises
    // the MSS of its 1500-byte link again
    common::sh(&["ip", "-n", &lab.ns("lan1"), "route", "flush", "cache"]);
    start_sink(&mut lab, "sink", "lan2", 5001);
    let (n, mss) =
        tcp_transfer_mss(&lab, "lan1", "10.0.10.10", 5001, 50_000_000).expect("a transfer");
    assert_eq!(n, 50_000_000);
    // lan1's SYN advertised 1460 (MTU 1500); the gateway clamped it to
    // 1420 - 40 = 1380 (the receiver subtracts 12 for TCP timestamps)
    assert!(
        mss <= 1380,
        "the receiver sends segments of {mss} bytes: the SYN's MSS was not clamped"
    );
    assert!(mss >= 1300, "MSS {mss}");
}

#[test]
fn failover_to_the_backup_and_back() {
    if !can_run("failover_to_the_backup_and_back") {
        return;
    }
    let mut lab = Lab::new();
    topology(&mut lab);
    let (k1, p1) = keypair(&lab.dir, "k1");
    let (kp, pp) = keypair(&lab.dir, "kp");
    let (kb, pb) = keypair(&lab.dir, "kb");
    // the office knows a primary (DX) and a backup (VPN) for the VPC
    let gw1 = gateway_config(
        &lab,
        "gw1",
        "vg1",
        &k1,
        51820,
        &[
            PeerSpec {
                name: "dx",
                public_key: &pp,
                endpoint: Some("172.30.0.2:51820"),
                allowed_ips: "10.0.0.0/16",
            },
            PeerSpec {
                name: "vpn",
                public_key: &pb,
                endpoint: Some("172.30.0.2:51821"),
                allowed_ips: "10.0.0.0/16",
            },
        ],
        &[("10.0.0.0/16", "dx", 10), ("10.0.0.0/16", "vpn", 20)],
        "[liveness]\ndead_after = 3\n",
    );
    let primary = vpc_end_config(&lab, "dx", "vgp", &kp, 51820, &p1, "");
    let backup = vpc_end_config(&lab, "vpn", "vgb", &kb, 51821, &p1, "");
    start_gateway(&mut lab, "gw1", "gw1", &gw1, "vg1", "10.0.0.0/16");
    start_gateway(&mut lab, "dx", "gw2", &primary, "vgp", "192.168.10.0/24");
    lab.spawn(
        "vpn",
        "gw2",
        &[
            vifgate(),
            "gateway",
            "--config",
            backup.to_str().expect("utf-8"),
        ],
        &[],
    );
    let up = lab.wait_for(Duration::from_secs(10), || {
        lab.exec("gw2", &["ip", "link", "show", "vgb"])
            .status
            .success()
    });
    assert!(up);
    // return traffic: the primary's TUN first, the backup's when it is gone
    lab.route("gw2", &["192.168.10.0/24", "dev", "vgp", "metric", "10"]);
    common::sh(&[
        "ip",
        "-n",
        &lab.ns("gw2"),
        "route",
        "add",
        "192.168.10.0/24",
        "dev",
        "vgb",
        "metric",
        "20",
    ]);

    let in_use = |lab: &Lab, peer: usize| {
        let s = status(lab, "gw1");
        s["peers"][peer]["routes_in_use"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    };
    assert!(lab.wait_for(Duration::from_secs(10), || lab.ping(
        "lan1",
        "10.0.10.10",
        1
    )));
    assert!(
        in_use(&lab, 0),
        "the primary carries the traffic: {}",
        status(&lab, "gw1")
    );

    // the primary dies: within dead_after (3 s) + a keepalive the backup
    // takes over
    lab.kill("dx");
    let t0 = std::time::Instant::now();
    let moved = lab.wait_for(Duration::from_secs(10), || {
        in_use(&lab, 1) && lab.ping("lan1", "10.0.10.10", 1)
    });
    let took = t0.elapsed();
    assert!(moved, "no failover: {}", status(&lab, "gw1"));
    assert!(took < Duration::from_secs(8), "failover took {took:?}");
    eprintln!("failover took {took:?}");

    // the primary comes back: traffic returns to it
    start_gateway(&mut lab, "dx", "gw2", &primary, "vgp", "192.168.10.0/24");
    lab.route("gw2", &["192.168.10.0/24", "dev", "vgp", "metric", "10"]);
    let back = lab.wait_for(Duration::from_secs(15), || {
        in_use(&lab, 0) && lab.ping("lan1", "10.0.10.10", 1)
    });
    assert!(
        back,
        "traffic did not return to the primary: {}",
        status(&lab, "gw1")
    );
}

#[test]
fn sighup_reloads_the_policy_and_keeps_sessions_and_flows() {
    if !can_run("sighup_reloads_the_policy_and_keeps_sessions_and_flows") || !need_tool("python3") {
        return;
    }
    let mut lab = Lab::new();
    topology(&mut lab);
    let policy = "[policy]\nsecurity_groups = [\"edge\"]\n[[policy.security_group]]\nname = \"edge\"\ningress = [{ protocol = \"icmp\", icmp_type = 8, icmp_code = -1, cidr = \"10.0.0.0/16\" }]\n";
    let pair = vifgate_pair(&mut lab, policy);
    assert!(lab.ping("lan1", "10.0.10.10", 2));
    start_sink(&mut lab, "sink1", "lan1", 5001);
    assert_eq!(
        tcp_transfer(&lab, "lan2", "192.168.10.10", 5001, 1000),
        None,
        "no rule for tcp yet"
    );
    let before = status(&lab, "gw1");
    let flows = before["conntrack_flows"].as_u64().unwrap_or(0);
    assert!(flows > 0, "{before}");
    std::thread::sleep(Duration::from_millis(1500));
    // allow tcp/5001 from the VPC and reload
    let text = std::fs::read_to_string(&pair.gw1).expect("config");
    let text = text.replace(
        "ingress = [{ protocol = \"icmp\"",
        "ingress = [{ protocol = \"tcp\", ports = 5001, cidr = \"10.0.0.0/16\" }, { protocol = \"icmp\"",
    );
    std::fs::write(&pair.gw1, text).expect("config");
    lab.signal("gw1", libc::SIGHUP);
    assert!(
        lab.wait_for(Duration::from_secs(5), || lab
            .log("gw1")
            .contains("configuration reloaded")),
        "{}",
        lab.log("gw1")
    );
    assert_eq!(
        tcp_transfer(&lab, "lan2", "192.168.10.10", 5001, 1000),
        Some(1000),
        "the new rule applies"
    );
    let after = status(&lab, "gw1");
    assert!(
        after["conntrack_flows"].as_u64().unwrap_or(0) >= flows,
        "tracked flows survive: {after}"
    );
    let hs_before = before["peers"][0]["last_handshake_secs"]
        .as_f64()
        .unwrap_or(0.0);
    let hs_after = after["peers"][0]["last_handshake_secs"]
        .as_f64()
        .unwrap_or(0.0);
    assert!(
        hs_after > hs_before,
        "the session survives: no new handshake ({hs_before} -> {hs_after})"
    );
    // a broken config is refused and the running one stays
    std::fs::write(&pair.gw1, "[interface\n").expect("config");
    lab.signal("gw1", libc::SIGHUP);
    assert!(lab.wait_for(Duration::from_secs(5), || lab
        .log("gw1")
        .contains("reload refused")));
    assert!(lab.ping("lan1", "10.0.10.10", 1));
}

/// Pings `count` times from a namespace; the average RTT in milliseconds
/// when every reply came back.
fn ping_avg(lab: &Lab, ns: &str, dst: &str, count: u32) -> Option<f64> {
    let c = count.to_string();
    let o = lab.exec(ns, &["ping", "-c", &c, "-i", "0.2", "-W", "2", "-q", dst]);
    if !o.status.success() {
        return None;
    }
    // rtt min/avg/max/mdev = 40.312/40.420/40.562/0.091 ms
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    let line = out.lines().find(|l| l.contains("min/avg/max"))?;
    line.split('=')
        .nth(1)?
        .trim()
        .split('/')
        .nth(1)?
        .parse()
        .ok()
}

/// Sends SIGHUP to `name` and waits for its `n`th "configuration
/// reloaded".
fn reload(lab: &Lab, name: &str, n: usize) {
    lab.signal(name, libc::SIGHUP);
    assert!(
        lab.wait_for(Duration::from_secs(5), || lab
            .log(name)
            .matches("configuration reloaded")
            .count()
            >= n),
        "{}",
        lab.log(name)
    );
}

#[test]
fn impairment_delays_and_loses_the_tunnels_datagrams() {
    if !can_run("impairment_delays_and_loses_the_tunnels_datagrams") {
        return;
    }
    let mut lab = Lab::new();
    topology(&mut lab);
    let delay = "[impair]\ndelay = \"20ms\"\n";
    let pair = vifgate_pair_with(&mut lab, delay, delay);
    // the handshake is delayed too
    assert!(
        lab.wait_for(Duration::from_secs(10), || lab.ping(
            "lan1",
            "10.0.10.10",
            1
        )),
        "no session through the delayed tunnel\n{}",
        lab.log("gw1")
    );
    // 20 ms each way: the echo request leaves gw1 20 ms late, the reply
    // gw2 20 ms late
    let rtt = ping_avg(&lab, "lan1", "10.0.10.10", 10).expect("pings through the delay");
    eprintln!("RTT with 20 ms of delay at each end: {rtt:.3} ms");
    assert!(rtt >= 40.0, "RTT {rtt} ms below 2 × 20 ms");
    assert!(
        rtt < 60.0,
        "RTT {rtt} ms: the delay is much longer than asked"
    );
    let s = status(&lab, "gw1");
    assert_eq!(s["impair"]["delay_ms"].as_f64(), Some(20.0), "{s}");
    assert!(s["impair"]["delayed"].as_u64().unwrap_or(0) >= 10, "{s}");
    assert_eq!(s["drops"]["impair_loss"].as_u64(), Some(0), "{s}");

    // 100% loss at the office end, by a reload: nothing gets through
    let text = std::fs::read_to_string(&pair.gw1).expect("config");
    let lossy = text.replace(delay, "[impair]\ndelay = \"20ms\"\nloss = \"100%\"\n");
    assert_ne!(lossy, text);
    std::fs::write(&pair.gw1, &lossy).expect("config");
    reload(&lab, "gw1", 1);
    assert!(
        !lab.ping("lan1", "10.0.10.10", 3),
        "pings through 100% loss"
    );
    let s = status(&lab, "gw1");
    assert!(s["drops"]["impair_loss"].as_u64().unwrap_or(0) >= 3, "{s}");
    assert_eq!(s["impair"]["loss"].as_f64(), Some(1.0), "{s}");

    // the table removed: gw1 sends at once again, gw2 still delays
    std::fs::write(&pair.gw1, text.replace(delay, "")).expect("config");
    reload(&lab, "gw1", 2);
    assert!(lab.log("gw1").contains("impairment removed"));
    let rtt = ping_avg(&lab, "lan1", "10.0.10.10", 5).expect("pings after the reload");
    eprintln!("RTT with 20 ms of delay at the far end only: {rtt:.3} ms");
    assert!((20.0..40.0).contains(&rtt), "RTT {rtt} ms");
    let s = status(&lab, "gw1");
    assert!(s["impair"].is_null(), "{s}");
    assert!(
        s["drops"]["impair_loss"].as_u64().unwrap_or(0) >= 3,
        "the counters outlive the impairment: {s}"
    );
}

/// The process of a spawned gateway: the one whose command line names
/// `config`.
fn gateway_pid(config: &std::path::Path) -> u32 {
    let want = config.to_str().expect("utf-8");
    std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .find(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
                let args: Vec<&[u8]> = c.split(|&b| b == 0).collect();
                // the binary itself, not `ip netns exec` or `setpriv` before it
                args.first().is_some_and(|a| a.ends_with(b"vifgate"))
                    && args.contains(&want.as_bytes())
            })
        })
        .unwrap_or_else(|| panic!("no gateway process for {want}"))
}

/// The `/proc/PID/task/TID/status` of every thread of a process.
fn thread_statuses(pid: u32) -> Vec<String> {
    let statuses: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/task"))
        .expect("tasks")
        .map(|t| std::fs::read_to_string(t.expect("task").path().join("status")).expect("status"))
        .collect();
    assert!(!statuses.is_empty(), "no threads in /proc/{pid}/task");
    statuses
}

/// A thread that gave up its privileges: `uid` in all four places, no
/// capability in the inheritable, permitted, effective and ambient sets,
/// the bounding set as given, and no new privileges.
fn assert_dropped(status: &str, uid: u32, bounding: &str) {
    let uid = uid.to_string();
    assert_eq!(
        status_field(status, "Uid:"),
        [uid.as_str(); 4].join("\t"),
        "{status}"
    );
    for set in ["CapInh:", "CapPrm:", "CapEff:", "CapAmb:"] {
        assert_eq!(
            status_field(status, set),
            "0000000000000000",
            "{set}\n{status}"
        );
    }
    assert_eq!(status_field(status, "CapBnd:"), bounding, "{status}");
    assert_eq!(status_field(status, "NoNewPrivs:"), "1", "{status}");
}

/// A field of a `/proc/PID/task/TID/status` file.
fn status_field(status: &str, name: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| panic!("no {name} in\n{status}"))
}

#[test]
fn the_gateway_runs_as_nobody_with_no_capability_after_start() {
    use std::os::unix::fs::PermissionsExt;
    if !can_run("the_gateway_runs_as_nobody_with_no_capability_after_start") {
        return;
    }
    let nobody = gateway::privileges::RunAs::lookup("nobody", None).expect("user nobody");
    let mut lab = Lab::new();
    topology(&mut lab);
    let (k1, p1) = keypair(&lab.dir, "k1");
    let (k2, p2) = keypair(&lab.dir, "k2");
    let gw1 = gateway_config(
        &lab,
        "gw1",
        "vg1",
        &k1,
        51820,
        &[PeerSpec {
            name: "aws",
            public_key: &p2,
            endpoint: Some("172.30.0.2:51820"),
            allowed_ips: "10.0.0.0/16",
        }],
        &[("10.0.0.0/16", "aws", 10)],
        "[process]\nuser = \"nobody\"\n",
    );
    let gw2 = vpc_end_config(&lab, "gw2", "vg2", &k2, 51820, &p1, "");
    // a pre-shared key at both ends: gw1 reads its copy again at every
    // reload, as nobody, so nobody owns it; the private key is read once,
    // as root, and stays root's
    let psk = common::sh(&[vifgate(), "genpsk"]).stdout;
    let psk1 = lab.dir.join("psk1");
    let psk2 = lab.dir.join("psk2");
    for (file, config) in [(&psk1, &gw1), (&psk2, &gw2)] {
        std::fs::write(file, &psk).expect("psk");
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let text = std::fs::read_to_string(config).expect("config");
        let with_psk = text.replace(
            "persistent_keepalive = 1\n",
            &format!(
                "persistent_keepalive = 1\npreshared_key_file = \"{}\"\n",
                file.display()
            ),
        );
        std::fs::write(config, with_psk).expect("config");
    }
    std::os::unix::fs::chown(&psk1, Some(nobody.uid), Some(nobody.gid)).expect("chown");
    start_gateway(&mut lab, "gw1", "gw1", &gw1, "vg1", "10.0.0.0/16");
    start_gateway(&mut lab, "gw2", "gw2", &gw2, "vg2", "192.168.10.0/24");
    assert!(
        lab.wait_for(Duration::from_secs(10), || lab.ping(
            "lan1",
            "10.0.10.10",
            1
        )),
        "no tunnel with an unprivileged gateway\n{}",
        lab.log("gw1")
    );
    assert!(
        lab.log("gw1").contains("privileges dropped"),
        "{}",
        lab.log("gw1")
    );

    // every thread: nobody's ids, no capability in any set, no new privileges
    let gid = nobody.gid.to_string();
    for s in thread_statuses(gateway_pid(&gw1)) {
        assert_dropped(&s, nobody.uid, "0000000000000000");
        assert_eq!(
            status_field(&s, "Gid:"),
            [gid.as_str(); 4].join("\t"),
            "{s}"
        );
        assert_eq!(status_field(&s, "Groups:"), gid, "{s}");
    }

    // a reload as nobody: the file, and the pre-shared key, read again
    let text = std::fs::read_to_string(&gw1).expect("config");
    std::fs::write(&gw1, text.replace("priority = 10", "priority = 20")).expect("config");
    reload(&lab, "gw1", 1);
    assert!(lab.ping("lan1", "10.0.10.10", 2), "{}", lab.log("gw1"));
    assert_eq!(status(&lab, "gw1")["peers"][0]["alive"], true);

    // a pre-shared key nobody may not read: the reload is refused, saying
    // which file and what to do, and the tunnel stays
    std::os::unix::fs::chown(&psk1, Some(0), Some(0)).expect("chown");
    lab.signal("gw1", libc::SIGHUP);
    let refused = format!(
        "key file {} is not readable by uid {}",
        psk1.display(),
        nobody.uid
    );
    assert!(
        lab.wait_for(Duration::from_secs(5), || lab.log("gw1").contains(&refused)),
        "{}",
        lab.log("gw1")
    );
    assert!(lab.log("gw1").contains("chown"), "{}", lab.log("gw1"));
    assert!(lab.ping("lan1", "10.0.10.10", 1));

    // and it still stops cleanly
    let exit = lab.stop("gw1").expect("gw1 was running");
    assert!(exit.success(), "{exit:?}\n{}", lab.log("gw1"));
}

/// The credentials contrib/vifgate-gateway@.service gives the gateway
/// (`User=`, `AmbientCapabilities=`, `CapabilityBoundingSet=`,
/// `NoNewPrivileges=`), made with util-linux's `setpriv`.
const LIKE_THE_SYSTEMD_UNIT: [&str; 8] = [
    "setpriv",
    "--reuid=65534",
    "--regid=65534",
    "--clear-groups",
    "--bounding-set=-all,+net_admin,+net_bind_service",
    "--inh-caps=-all,+net_admin,+net_bind_service",
    "--ambient-caps=-all,+net_admin,+net_bind_service",
    "--no-new-privs",
];

#[test]
fn a_gateway_started_as_the_systemd_unit_starts_it_drops_its_capabilities() {
    if !can_run("a_gateway_started_as_the_systemd_unit_starts_it_drops_its_capabilities")
        || !need_tool("setpriv")
    {
        return;
    }
    // the emulation is the unit's: the same user kind and capability sets
    let unit = include_str!("../contrib/vifgate-gateway@.service");
    for line in [
        "User=vifgate",
        "AmbientCapabilities=CAP_NET_ADMIN CAP_NET_BIND_SERVICE",
        "CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_BIND_SERVICE",
        "NoNewPrivileges=yes",
    ] {
        assert!(unit.lines().any(|l| l == line), "the unit lacks {line}");
    }
    let mut lab = Lab::new();
    topology(&mut lab);
    let vg1 = vifgate_pair_with_gw1_wrapped(&mut lab);
    assert!(
        lab.wait_for(Duration::from_secs(10), || lab.ping(
            "lan1",
            "10.0.10.10",
            1
        )),
        "no tunnel\n{}",
        lab.log("gw1")
    );
    assert!(
        lab.log("gw1").contains("capabilities dropped"),
        "{}",
        lab.log("gw1")
    );
    // without CAP_SETPCAP the bounding set stays as the unit made it:
    // CAP_NET_ADMIN (12) and CAP_NET_BIND_SERVICE (10), unusable
    for s in thread_statuses(gateway_pid(&vg1)) {
        assert_dropped(&s, 65534, "0000000000001400");
    }
    reload(&lab, "gw1", 1);
    assert!(lab.ping("lan1", "10.0.10.10", 1));
}

/// The two gateways of [`vifgate_pair`], the office end started with the
/// unit's credentials: its key and its status socket's directory belong to
/// the user (as the unit's `RuntimeDirectory=` makes it). The office end's
/// configuration file.
fn vifgate_pair_with_gw1_wrapped(lab: &mut Lab) -> PathBuf {
    let nobody = gateway::privileges::RunAs::lookup("nobody", None).expect("user nobody");
    let (k1, p1) = keypair(&lab.dir, "k1");
    let (k2, p2) = keypair(&lab.dir, "k2");
    std::os::unix::fs::chown(&k1, Some(nobody.uid), Some(nobody.gid)).expect("chown");
    let run = lab.dir.join("run");
    std::fs::create_dir(&run).expect("run dir");
    std::os::unix::fs::chown(&run, Some(nobody.uid), Some(nobody.gid)).expect("chown");
    let gw1 = gateway_config(
        lab,
        "gw1",
        "vg1",
        &k1,
        51820,
        &[PeerSpec {
            name: "aws",
            public_key: &p2,
            endpoint: Some("172.30.0.2:51820"),
            allowed_ips: "10.0.0.0/16",
        }],
        &[("10.0.0.0/16", "aws", 10)],
        "",
    );
    let text = std::fs::read_to_string(&gw1).expect("config");
    let socket = lab.dir.join("gw1.sock");
    let moved = text.replace(
        &socket.display().to_string(),
        &run.join("gw1.sock").display().to_string(),
    );
    assert_ne!(moved, text);
    std::fs::write(&gw1, moved).expect("config");
    let gw2 = vpc_end_config(lab, "gw2", "vg2", &k2, 51820, &p1, "");
    let mut args = LIKE_THE_SYSTEMD_UNIT.to_vec();
    args.extend([
        vifgate(),
        "gateway",
        "--config",
        gw1.to_str().expect("utf-8"),
    ]);
    lab.spawn("gw1", "gw1", &args, &[]);
    let up = lab.wait_for(Duration::from_secs(10), || {
        lab.exec("gw1", &["ip", "link", "show", "vg1"])
            .status
            .success()
    });
    assert!(up, "gw1 did not bring vg1 up:\n{}", lab.log("gw1"));
    lab.route("gw1", &["10.0.0.0/16", "dev", "vg1"]);
    start_gateway(lab, "gw2", "gw2", &gw2, "vg2", "192.168.10.0/24");
    gw1
}

#[test]
fn the_status_socket_counts_reloads_accepted_and_refused() {
    if !can_run("the_status_socket_counts_reloads_accepted_and_refused") {
        return;
    }
    let mut lab = Lab::new();
    topology(&mut lab);
    let pair = vifgate_pair(&mut lab, "");
    let reload = |lab: &Lab| status(lab, "gw1")["reload"].clone();
    let r = reload(&lab);
    assert_eq!(
        (&r["generation"], &r["refused"], &r["last_error"]),
        (&1.into(), &0.into(), &serde_json::Value::Null),
        "{r}"
    );
    // a good file: the generation grows
    lab.signal("gw1", libc::SIGHUP);
    assert!(
        lab.wait_for(Duration::from_secs(5), || reload(&lab)["generation"] == 2),
        "{}\n{}",
        reload(&lab),
        lab.log("gw1")
    );
    // a broken one: refused, counted, its reason given, the generation kept
    let good = std::fs::read_to_string(&pair.gw1).expect("config");
    std::fs::write(&pair.gw1, "[interface\n").expect("config");
    lab.signal("gw1", libc::SIGHUP);
    assert!(
        lab.wait_for(Duration::from_secs(5), || reload(&lab)["refused"] == 1),
        "{}",
        reload(&lab)
    );
    let r = reload(&lab);
    assert_eq!(r["generation"], 2, "{r}");
    let why = r["last_error"].as_str().unwrap_or_default();
    assert!(why.contains("the configuration has errors"), "{r}");
    // good again: accepted, the error cleared
    std::fs::write(&pair.gw1, good).expect("config");
    lab.signal("gw1", libc::SIGHUP);
    assert!(
        lab.wait_for(Duration::from_secs(5), || reload(&lab)["generation"] == 3),
        "{}",
        reload(&lab)
    );
    let r = reload(&lab);
    assert_eq!(
        (&r["refused"], &r["last_error"]),
        (&1.into(), &serde_json::Value::Null),
        "{r}"
    );
    assert!(lab.ping("lan1", "10.0.10.10", 1));
}
