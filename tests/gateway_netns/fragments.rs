//! Fragments at the office gateway, in namespaces (issue 19, items 14 and
//! 15): a tracked flow's fragmented UDP reply arrives whole, and the later
//! fragments of a datagram the policy denies never reach the office.
//!
//! ```text
//!  lan1 192.168.10.10 ── gw1 (vifgate, policy) ══ gw2 ── lan2 10.0.10.10
//! ```

use super::*;

/// Only ICMP echo and TCP 8000-8010 (from 10.0.10.10) open flows from the
/// VPC; the network ACL admits every TCP and UDP port from 1024 up.
const POLICY: &str = r#"
[policy]
security_groups = ["edge"]
nacl = "edge-acl"
[[policy.security_group]]
name = "edge"
ingress = [
  { protocol = "icmp", icmp_type = 8, icmp_code = -1, cidr = "10.0.0.0/16" },
  { protocol = "tcp", ports = "8000-8010", cidr = "10.0.10.10/32" },
]
[[policy.network_acl]]
name = "edge-acl"
ingress = [
  { rule = 100, action = "allow", protocol = "tcp", ports = "1024-65535", cidr = "0.0.0.0/0" },
  { rule = 110, action = "allow", protocol = "udp", ports = "1024-65535", cidr = "0.0.0.0/0" },
  { rule = 120, action = "allow", protocol = "icmp", icmp_type = -1, icmp_code = -1, cidr = "0.0.0.0/0" },
]
egress = [{ rule = 100, action = "allow", protocol = -1, cidr = "0.0.0.0/0" }]
"#;

/// Answers every datagram with 3000 bytes (fragmented on the way).
const UDP_BIG_ANSWER: &str = r#"
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", int(sys.argv[1])))
while True:
    d, a = s.recvfrom(2048); s.sendto(b"A" * 3000, a)
"#;

/// scapy's `fragment(IP(src, dst)/TCP(sport=4444, dport, flags='S')/
/// (b'S'*600), fragsize=200)`, sent through a raw socket: four fragments.
const SEND_FRAGMENTED_SYN: &str = r#"
import socket, struct, sys
src, dst, dport = sys.argv[1], sys.argv[2], int(sys.argv[3])
tcp = struct.pack("!HHIIBBHHH", 4444, dport, 0, 0, 5 << 4, 0x02, 65535, 0, 0) + b"S" * 600
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
for off in range(0, len(tcp), 200):
    chunk = tcp[off:off + 200]
    flags = off // 8 | (0x2000 if off + 200 < len(tcp) else 0)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(chunk), 0x4321, flags, 64, 6, 0,
                     socket.inet_aton(src), socket.inet_aton(dst))
    s.sendto(ip + chunk, (dst, 0))
"#;

/// Fragments that `ns` received for reassembly (`Ip: ReasmReqds` of
/// `/proc/net/snmp` in that namespace).
fn fragments_received(lab: &Lab, ns: &str) -> u64 {
    let o = lab.exec(ns, &["cat", "/proc/net/snmp"]);
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    let mut ip = text.lines().filter(|l| l.starts_with("Ip:"));
    let (names, values) = (ip.next().unwrap_or(""), ip.next().unwrap_or(""));
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(n, _)| *n == "ReasmReqds")
        .and_then(|(_, v)| v.parse().ok())
        .expect("ReasmReqds in /proc/net/snmp")
}

#[test]
fn fragments_follow_their_first_fragment_through_the_office_gateway() {
    if !can_run("fragments_follow_their_first_fragment_through_the_office_gateway")
        || !need_tool("python3")
    {
        return;
    }
    let mut lab = Lab::new();
    topology(&mut lab);
    vifgate_pair(&mut lab, POLICY);
    assert!(lab.ping("lan2", "192.168.10.10", 2), "{}", lab.log("gw1"));

    // Item 15: the office asks, the VPC answers with 3000 bytes.
    lab.spawn(
        "big",
        "lan2",
        &["python3", "-c", UDP_BIG_ANSWER, "5300"],
        &[],
    );
    std::thread::sleep(Duration::from_millis(300));
    let o = lab.exec("lan1", &["python3", "-c", UDP_ASK, "10.0.10.10", "5300"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim().len(),
        3000,
        "the fragmented reply did not arrive whole: {}",
        status(&lab, "gw1")["drops"]
    );

    // Item 14: a SYN to port 22, in four fragments; the first is denied by
    // the network ACL, and the three others must not reach the office.
    let before = fragments_received(&lab, "lan1");
    lab.exec(
        "lan2",
        &[
            "python3",
            "-c",
            SEND_FRAGMENTED_SYN,
            "10.0.10.10",
            "192.168.10.10",
            "22",
        ],
    );
    let counted = lab.wait_for(Duration::from_secs(3), || {
        status(&lab, "gw1")["drops"]["orphan_fragment"]
            .as_u64()
            .unwrap_or(0)
            >= 3
    });
    let s = status(&lab, "gw1");
    assert!(counted, "{}", s["drops"]);
    assert!(
        s["drops"]["nacl"].as_u64().unwrap_or(0) >= 1,
        "{}",
        s["drops"]
    );
    assert_eq!(
        fragments_received(&lab, "lan1"),
        before,
        "fragments reached the office"
    );
}
