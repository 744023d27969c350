//! The office gateway following kernel table 100 (`[bgp] kernel_table`):
//! routes added, replaced and deleted by hand with `ip route`, then learned
//! by a real BIRD from another BIRD over the link beside the tunnel.
//!
//! ```text
//!  lan1 ── gw1 (vifgate, BIRD) ══ 172.30.0.0/24 ══ gw2 (vifgate x2, BIRD) ── lan2 10.0.10.10, 10.9.0.10
//! ```

use std::path::Path;

use super::*;
use common::{sh, start_bird};

/// Where lan2 answers for the prefix the tests route by BGP.
const FAR_HOST: &str = "10.9.0.10";

/// The network device of `ns` that holds `addr`.
fn device_of(lab: &Lab, ns: &str, addr: &str) -> String {
    let o = lab.exec(ns, &["ip", "-o", "-4", "addr", "show", "to", addr]);
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    text.split_whitespace()
        .nth(1)
        .unwrap_or_else(|| panic!("no device with {addr} in {ns}: {text}"))
        .trim_end_matches(':')
        .to_string()
}

/// lan2 also answers for 10.9.0.10, which gw2 routes to it: the prefix
/// 10.9.0.0/24 exists beyond the VPC-side gateways.
fn far_prefix(lab: &Lab) {
    let dev = device_of(lab, "lan2", "10.0.10.10");
    let ns = lab.ns("lan2");
    sh(&[
        "ip",
        "-n",
        &ns,
        "addr",
        "add",
        &format!("{FAR_HOST}/32"),
        "dev",
        &dev,
    ]);
    lab.route("gw2", &["10.9.0.0/24", "via", "10.0.10.10"]);
}

/// `ip route ARGS... table TABLE` in gw1.
fn in_table(lab: &Lab, table: &str, args: &[&str]) {
    let ns = lab.ns("gw1");
    let mut all = vec!["ip", "-n", &ns, "route"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["table", table]);
    sh(&all);
}

/// `ip route ARGS... table 100` in gw1.
fn table_100(lab: &Lab, args: &[&str]) {
    in_table(lab, "100", args);
}

/// The BGP routes gw1's status shows: (prefix, next hop, peer or "-").
fn bgp_routes(lab: &Lab) -> Vec<(String, String, String)> {
    let s = status(lab, "gw1");
    s["bgp"]["routes"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|r| {
                    let text = |k: &str| r[k].as_str().unwrap_or("-").to_string();
                    (text("prefix"), text("next_hop"), text("peer"))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn route(prefix: &str, next_hop: &str, peer: &str) -> (String, String, String) {
    (prefix.into(), next_hop.into(), peer.into())
}

/// Waits until gw1 shows exactly `want`; how long it took.
fn wait_for_routes(lab: &Lab, want: &[(String, String, String)], what: &str) -> Duration {
    let t0 = std::time::Instant::now();
    let ok = lab.wait_for(Duration::from_secs(10), || bgp_routes(lab) == want);
    assert!(
        ok,
        "{what}: gw1 shows {:?}, not {want:?}\n{}",
        bgp_routes(lab),
        lab.log("gw1")
    );
    t0.elapsed()
}

/// A peer's inner bytes sent, from gw1's status.
fn tx_bytes(lab: &Lab, peer: usize) -> u64 {
    status(lab, "gw1")["peers"][peer]["tx_bytes"]
        .as_u64()
        .unwrap_or(0)
}

#[test]
fn the_gateway_follows_routes_added_replaced_and_deleted_in_its_kernel_table() {
    if !can_run("the_gateway_follows_routes_added_replaced_and_deleted_in_its_kernel_table") {
        return;
    }
    let mut lab = Lab::new();
    topology(&mut lab);
    far_prefix(&lab);
    // the second peer's end has an address of its own on the link
    let wan2 = device_of(&lab, "gw2", "172.30.0.2");
    let gw2 = lab.ns("gw2");
    sh(&[
        "ip",
        "-n",
        &gw2,
        "addr",
        "add",
        "172.30.0.3/24",
        "dev",
        &wan2,
    ]);
    let (k1, p1) = keypair(&lab.dir, "k1");
    let (ka, pa) = keypair(&lab.dir, "ka");
    let (kb, pb) = keypair(&lab.dir, "kb");
    let gw1 = gateway_config(
        &lab,
        "gw1",
        "vg1",
        &k1,
        51820,
        &[
            PeerSpec {
                name: "dx",
                public_key: &pa,
                endpoint: Some("172.30.0.2:51820"),
                allowed_ips: "10.0.0.0/8",
            },
            PeerSpec {
                name: "vpn",
                public_key: &pb,
                endpoint: Some("172.30.0.3:51821"),
                allowed_ips: "10.0.0.0/8",
            },
        ],
        &[],
        // as nobody: following the table needs no privilege
        "[bgp]\nkernel_table = 100\n[process]\nuser = \"nobody\"\n",
    );
    let dx = vpc_end_config(&lab, "dx", "vgp", &ka, 51820, &p1, "");
    let vpn = vpc_end_config(&lab, "vpn", "vgb", &kb, 51821, &p1, "");
    start_gateway(&mut lab, "gw1", "gw1", &gw1, "vg1", "10.0.0.0/8");
    start_gateway(&mut lab, "dx", "gw2", &dx, "vgp", "192.168.10.0/24");
    start_gateway(&mut lab, "vpn", "gw2", &vpn, "vgb", "192.168.10.0/24");
    // replies go back through the dx gateway's TUN
    lab.route("gw2", &["192.168.10.0/24", "dev", "vgp"]);

    // nothing in table 100 yet: no route
    assert_eq!(bgp_routes(&lab), []);
    assert!(!lab.ping("lan1", FAR_HOST, 1));

    // a route via the dx peer's endpoint
    table_100(&lab, &["add", "10.9.0.0/24", "via", "172.30.0.2"]);
    let took = wait_for_routes(&lab, &[route("10.9.0.0/24", "172.30.0.2", "dx")], "added");
    eprintln!("route added: seen by the gateway after {took:?}");
    assert!(lab.wait_for(Duration::from_secs(10), || lab.ping("lan1", FAR_HOST, 1)));
    let s = status(&lab, "gw1");
    assert_eq!(s["peers"][0]["routes_in_use"][0], "10.9.0.0/24", "{s}");
    let text = String::from_utf8_lossy(
        &sh(&[
            vifgate(),
            "status",
            "--socket",
            lab.dir.join("gw1.sock").to_str().expect("utf-8"),
        ])
        .stdout,
    )
    .to_string();
    assert!(
        text.contains(
            "bgp: kernel table 100, 1 route(s)\n  10.9.0.0/24 via 172.30.0.2 metric 0: peer dx\n"
        ),
        "{text}"
    );

    // replaced via the vpn peer: the next pings go into its tunnel
    table_100(&lab, &["replace", "10.9.0.0/24", "via", "172.30.0.3"]);
    wait_for_routes(
        &lab,
        &[route("10.9.0.0/24", "172.30.0.3", "vpn")],
        "replaced",
    );
    let before = tx_bytes(&lab, 1);
    assert!(lab.wait_for(Duration::from_secs(10), || lab.ping("lan1", FAR_HOST, 1)));
    assert!(tx_bytes(&lab, 1) > before, "{}", status(&lab, "gw1"));
    assert_eq!(
        status(&lab, "gw1")["peers"][1]["routes_in_use"][0],
        "10.9.0.0/24"
    );

    // a next hop that is no peer's: shown, ignored
    table_100(&lab, &["add", "10.8.0.0/24", "via", "172.30.0.9"]);
    wait_for_routes(
        &lab,
        &[
            route("10.8.0.0/24", "172.30.0.9", "-"),
            route("10.9.0.0/24", "172.30.0.3", "vpn"),
        ],
        "unmapped",
    );

    // deleted: gone, and the traffic has no route
    table_100(&lab, &["del", "10.9.0.0/24"]);
    table_100(&lab, &["del", "10.8.0.0/24"]);
    wait_for_routes(&lab, &[], "deleted");
    let dropped = status(&lab, "gw1")["drops"]["no_route"]
        .as_u64()
        .unwrap_or(0);
    assert!(!lab.ping("lan1", FAR_HOST, 1));
    assert!(
        status(&lab, "gw1")["drops"]["no_route"]
            .as_u64()
            .unwrap_or(0)
            > dropped
    );

    // a reload that names another table: that one is followed
    in_table(&lab, "101", &["add", "10.7.0.0/24", "via", "172.30.0.2"]);
    table_100(&lab, &["add", "10.9.0.0/24", "via", "172.30.0.2"]);
    let text = std::fs::read_to_string(&gw1).expect("config");
    std::fs::write(
        &gw1,
        text.replace("kernel_table = 100", "kernel_table = 101"),
    )
    .expect("config");
    reload(&lab, "gw1", 1);
    wait_for_routes(
        &lab,
        &[route("10.7.0.0/24", "172.30.0.2", "dx")],
        "table 101",
    );
    assert_eq!(status(&lab, "gw1")["bgp"]["kernel_table"], 101);

    // the kernel removes the routes through a link that goes down without
    // a notification per route: the gateway dumps the table again
    let wan1 = device_of(&lab, "gw1", "172.30.0.1");
    let gw1_ns = lab.ns("gw1");
    sh(&["ip", "-n", &gw1_ns, "link", "set", &wan1, "down"]);
    wait_for_routes(&lab, &[], "link down");
}

/// `birdc -s SOCKET COMMAND`'s output, or what went wrong.
fn birdc(socket: &Path, command: &str) -> String {
    sim::bgp::live::bird::birdc(socket, command).unwrap_or_else(|e| e.to_string())
}

/// BGP timers short enough for a test (connect at once, retry soon), and
/// BFD on, as in the documented example.
const BGP_TIMERS: &str =
    "connect delay time 1; connect retry time 2; error wait time 1, 4; bfd on;";

/// BFD on the link at AWS's minimum, 300 ms x 3.
const BFD: &str = r#"protocol bfd { interface "*" { min rx interval 300 ms; min tx interval 300 ms; multiplier 3; }; }"#;

#[test]
fn the_gateway_follows_the_routes_bird_learns_over_the_link() {
    if !can_run("the_gateway_follows_the_routes_bird_learns_over_the_link") || !common::need_bird()
    {
        return;
    }
    let mut lab = Lab::new();
    topology(&mut lab);
    far_prefix(&lab);
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
            allowed_ips: "10.0.0.0/8",
        }],
        &[],
        "[bgp]\nkernel_table = 100\n",
    );
    let gw2 = vpc_end_config(&lab, "gw2", "vg2", &k2, 51820, &p1, "");
    start_gateway(&mut lab, "gw1", "gw1", &gw1, "vg1", "10.0.0.0/8");
    start_gateway(&mut lab, "gw2", "gw2", &gw2, "vg2", "192.168.10.0/24");

    // the office's BIRD: a session to the VPC side over the link (TTL 1,
    // MD5, BFD), its routes into kernel table 100, which the gateway follows
    let office_conf = format!(
        r#"log stderr all;
router id 172.30.0.1;
protocol device {{ }}
{BFD}
protocol kernel k100 {{
    kernel table 100;
    ipv4 {{ import none; export all; }};
}}
protocol bgp aws {{
    local 172.30.0.1 as 65010;
    neighbor 172.30.0.2 as 64512;
    direct;
    password "vifgate-test";
    {BGP_TIMERS}
    ipv4 {{ import all; export none; }};
}}
"#
    );
    // the VPC side's BIRD originates 10.9.0.0/24
    let aws_conf = format!(
        r#"log stderr all;
router id 172.30.0.2;
protocol device {{ }}
{BFD}
protocol static origin {{
    ipv4;
    route 10.9.0.0/24 via 10.0.10.10;
}}
protocol bgp office {{
    local 172.30.0.2 as 64512;
    neighbor 172.30.0.1 as 65010;
    direct;
    password "vifgate-test";
    {BGP_TIMERS}
    ipv4 {{ import none; export where proto = "origin"; }};
}}
"#
    );
    let t0 = std::time::Instant::now();
    let office_ctl = start_bird(&mut lab, "bird-office", "gw1", &office_conf);
    let aws_ctl = start_bird(&mut lab, "bird-aws", "gw2", &aws_conf);
    let learned = [route("10.9.0.0/24", "172.30.0.2", "aws")];
    let ok = lab.wait_for(Duration::from_secs(20), || bgp_routes(&lab) == learned);
    assert!(
        ok,
        "gw1 shows {:?}\n{}\n--- bird-office\n{}\n--- bird-aws\n{}",
        bgp_routes(&lab),
        birdc(&office_ctl, "show protocols all aws"),
        lab.log("bird-office"),
        lab.log("bird-aws")
    );
    eprintln!(
        "BIRD started: the learned route reached the gateway after {:?}",
        t0.elapsed()
    );
    let bfd_up = lab.wait_for(Duration::from_secs(5), || {
        let bfd = birdc(&office_ctl, "show bfd sessions");
        bfd.contains("172.30.0.2") && bfd.contains(" Up ")
    });
    assert!(bfd_up, "{}", birdc(&office_ctl, "show bfd sessions"));
    assert!(
        lab.wait_for(Duration::from_secs(10), || lab.ping("lan1", FAR_HOST, 1)),
        "{}",
        status(&lab, "gw1")
    );

    // withdrawn by the far side: gone
    birdc(&aws_ctl, "disable origin");
    let took = wait_for_routes(&lab, &[], "withdrawn");
    eprintln!("prefix withdrawn: gone from the gateway after {took:?}");
    assert!(!lab.ping("lan1", FAR_HOST, 1));

    // announced again, then the far BIRD dies: gone with its session
    birdc(&aws_ctl, "enable origin");
    wait_for_routes(&lab, &learned, "announced again");
    lab.kill("bird-aws");
    let took = wait_for_routes(&lab, &[], "far BIRD stopped");
    eprintln!("far BIRD killed: the route gone from the gateway after {took:?}");
}

#[test]
fn the_documented_bird_conf_parses() {
    if !need_tool("bird") {
        return;
    }
    let docs = include_str!("../../docs/gateway.md");
    let conf = docs
        .split("`/etc/bird/bird.conf`:\n\n```text\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("docs/gateway.md has a bird.conf");
    assert!(conf.contains("kernel table 100;"), "{conf}");
    let dir = std::env::temp_dir().join(format!("vifgate-bird-doc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("bird.conf");
    std::fs::write(&path, conf).expect("bird.conf");
    // -p: parse the configuration and exit
    let o = std::process::Command::new("bird")
        .args(["-p", "-c", path.to_str().expect("utf-8")])
        .output()
        .expect("bird");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(o.status.success(), "{}\n{conf}", common::text(&o));
}
