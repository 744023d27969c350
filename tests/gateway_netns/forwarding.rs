//! Where packets from the tunnel may go, in namespaces (issue 19, item 18):
//! the office LAN's directed broadcast address is the gateway box's own —
//! the kernel delivers it to the box's sockets — so a datagram from the
//! VPC to it is refused like one to the box's address (`to_gateway_box`),
//! while the office host still gets its own.
//!
//! ```text
//!  lan1 192.168.10.10 ── gw1 (vifgate, policy, a UDP socket on *:5000) ══ gw2 ── lan2 10.0.10.10
//! ```

use super::*;

/// UDP 5000 from the VPC opens flows; the office's routes are its LAN.
const POLICY: &str = r#"
[forwarding]
destinations = ["192.168.10.0/24"]
[policy]
security_groups = ["edge"]
[[policy.security_group]]
name = "edge"
ingress = [{ protocol = "udp", ports = "5000", cidr = "10.0.0.0/16" }]
"#;

/// Prints every datagram received on `0.0.0.0:PORT`, one line each.
const UDP_PRINT: &str = r#"
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", int(sys.argv[1])))
while True:
    d, a = s.recvfrom(2048); print(d.decode(), flush=True)
"#;

/// Sends one datagram to each `ADDR:PORT` argument, its text the address.
const UDP_SEND: &str = r#"
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for arg in sys.argv[1:]:
    host, port = arg.rsplit(":", 1); s.sendto(host.encode(), (host, int(port)))
"#;

#[test]
fn the_lans_broadcast_address_from_the_tunnel_is_the_box_and_refused() {
    if !can_run("the_lans_broadcast_address_from_the_tunnel_is_the_box_and_refused")
        || !need_tool("python3")
    {
        return;
    }
    let mut lab = Lab::new();
    topology(&mut lab);
    vifgate_pair(&mut lab, POLICY);
    lab.spawn("box", "gw1", &["python3", "-c", UDP_PRINT, "5000"], &[]);
    lab.spawn("host", "lan1", &["python3", "-c", UDP_PRINT, "5000"], &[]);
    std::thread::sleep(Duration::from_millis(300));
    // the gateway reads the box's addresses at start: wait for the tunnel
    // (the first datagram may be queued behind the handshake), then send
    let sent = |lab: &Lab| {
        lab.exec(
            "lan2",
            &[
                "python3",
                "-c",
                UDP_SEND,
                "192.168.10.10:5000",
                "192.168.10.255:5000",
                "192.168.10.1:5000",
            ],
        );
        lab.wait_for(Duration::from_millis(500), || {
            lab.log("host").contains("192.168.10.10")
        })
    };
    let through = (0..10).any(|_| sent(&lab));
    assert!(through, "the office host got nothing: {}", lab.log("gw1"));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        lab.log("box").trim(),
        "",
        "the box's own socket got datagrams from the tunnel"
    );
    let s = status(&lab, "gw1");
    assert!(
        s["drops"]["to_gateway_box"].as_u64().unwrap_or(0) >= 2,
        "{}",
        s["drops"]
    );
}
