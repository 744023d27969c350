//! What the lab's nodes serve and where they are reached: the example's
//! ALB played by HAProxy in front of the web hosts' start commands (round
//! robin, cookie stickiness), and an Auto Scaling instance reached from the
//! internet at its public address. Needs HAProxy too (for the ALB).

use crate::common;
use crate::common::lab::{example_lab, lab_of, opts, ready};
use crate::common::text;
use sim::ops::lab::Lab;
use topology::analysis::Service;

/// Requests from `node` to `url`, with a cookie if given: (status line,
/// Set-Cookie value) of each.
const HTTP_GET: &str = r#"
import sys, urllib.request
url, cookie, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
for _ in range(n):
    req = urllib.request.Request(url)
    if cookie:
        req.add_header("Cookie", cookie)
    with urllib.request.urlopen(req, timeout=3) as r:
        print(r.status, r.headers.get("Set-Cookie") or "-")
"#;

fn http_get(lab: &Lab, node: &str, url: &str, cookie: &str, n: usize) -> Vec<String> {
    let n = n.to_string();
    let o = lab
        .exec(node, &["python3", "-c", HTTP_GET, url, cookie, &n])
        .expect("python ran");
    assert!(o.status.success(), "GET {url}: {}", text(&o));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(String::from)
        .collect()
}

/// The test's requests the web server of `node` has logged (HTTP/1.1:
/// HAProxy's health checks are HTTP/1.0).
fn served(lab: &Lab, node: &str) -> usize {
    common::lab::served(lab.name(), node, "\"GET / HTTP/1.1\"")
}

#[test]
fn haproxy_plays_the_alb_with_cookie_stickiness() {
    if !ready("haproxy_plays_the_alb_with_cookie_stickiness") || !common::need_tool("haproxy") {
        return;
    }
    let lab = example_lab();
    // the example plays its ALB with HAProxy in front of Python's HTTP
    // server on the web hosts ([sim] in examples/yeohaengjigi.toml)
    assert_eq!(lab.plan().haproxy.len(), 1, "the example asks for HAProxy");
    let alb = lab.address("alb").expect("alb address");
    let public = lab.topology().nodes[lab.topology().node_by_name("alb").expect("alb")].interfaces
        [0]
    .public_ip
    .expect("the ALB has a public address");
    // a first request from the internet gets a server; no cookie, as
    // the application (Python's server) set none of its own SESSIONID
    // (`app_cookie` stickiness follows it)
    let first = http_get(&lab, "internet", &format!("http://{public}/"), "", 1);
    assert_eq!(first, ["200 -"]);
    // round robin without a cookie: both web hosts serve
    let before = (served(&lab, "web-a1"), served(&lab, "web-c1"));
    http_get(&lab, "office-pc", &format!("http://{alb}/"), "", 6);
    let after = (served(&lab, "web-a1"), served(&lab, "web-c1"));
    assert!(
        after.0 > before.0 && after.1 > before.1,
        "{before:?} -> {after:?}"
    );
    // with the ALB's cookie for web-c1's slot, every request goes there
    let before = (served(&lab, "web-a1"), served(&lab, "web-c1"));
    http_get(
        &lab,
        "office-pc",
        &format!("http://{alb}/"),
        "AWSALBAPP-0=web-asg-2",
        5,
    );
    let after = (served(&lab, "web-a1"), served(&lab, "web-c1"));
    assert_eq!(
        after.0, before.0,
        "web-a1 served a request pinned to web-c1"
    );
    assert_eq!(after.1, before.1 + 5, "web-c1 served every pinned request");
}

/// A VPC of one public subnet whose Auto Scaling group has `public_ip =
/// true` and opens tcp/22 to the world.
const PUBLIC_ASG: &str = r#"
name = "public-asg"

[vpc]
name = "vpc"
cidr = "10.0.0.0/16"
region = "ap-northeast-2"
azs = ["a"]
internet_gateway = { name = "igw" }

[[vpc.subnet]]
name = "public-a"
az = "a"
cidr = "10.0.0.0/24"
public = true
route_table = "public-rt"

[[vpc.route_table]]
name = "public-rt"
routes = [{ prefix = "0.0.0.0/0", target = "igw" }]

[[vpc.auto_scaling_group]]
name = "bastion-asg"
host_prefix = "bastion"
subnets = ["public-a"]
security_groups = ["ssh-sg"]
public_ip = true
desired = 1

[[security_group]]
name = "ssh-sg"
description = "SSH from anywhere"
ingress = [{ protocol = "tcp", ports = 22, cidr = "0.0.0.0/0" }]

[internet]
name = "internet"
ip = "198.51.100.10"
"#;

/// The internet gateway maps an Auto Scaling instance's placeholder public
/// address 1:1: the internet reaches it there on the port its group opens,
/// not on another.
#[test]
fn the_internet_reaches_a_public_auto_scaling_instance_at_its_public_address() {
    if !ready("the_internet_reaches_a_public_auto_scaling_instance_at_its_public_address") {
        return;
    }
    let lab = lab_of("public-asg.toml", PUBLIC_ASG);
    let t = lab.topology();
    let host = &t.nodes[t.node_by_name("bastion-a1").expect("bastion-a1")];
    let public = host.interfaces[0].public_ip.expect("a public address");
    let ssh = lab
        .probe("internet", &public.to_string(), Service::Tcp(22))
        .expect("probe");
    let http = lab
        .probe("internet", &public.to_string(), Service::Tcp(80))
        .expect("probe");
    lab.down().expect("down");
    assert_eq!(ssh.outcome, sim::probe::Outcome::Reply, "{ssh:?}");
    assert_ne!(http.outcome, sim::probe::Outcome::Reply, "{http:?}");
}

/// A `[[sim.start]]` command that exits at once is reported at once, with
/// its exit status and its log, not after the 10 s wait for its port (on
/// main: "nothing accepts on tcp/80 after 10 s", 11.7 s later, with an
/// empty log).
#[test]
fn a_start_command_that_exits_at_once_is_reported_with_its_status() {
    if !ready("a_start_command_that_exits_at_once_is_reported_with_its_status") {
        return;
    }
    let text = format!(
        "{PUBLIC_ASG}\n[[sim.start]]\nnodes = [\"bastion-a1\"]\ncommand = \"echo giving up; exit 3\"\ntcp_ports = [80]\n"
    );
    let e = match Lab::from_toml("exits.toml", &text, &opts()) {
        Ok(lab) => {
            lab.down().expect("down");
            panic!("the lab came up with a start command that exits");
        }
        Err(e) => e.to_string(),
    };
    assert!(
        e.contains(
            "exited with status 3 and left no process running, so nothing will accept on tcp/80"
        ),
        "{e}"
    );
    assert!(e.contains("giving up"), "its log: {e}");
    assert!(!e.contains("after 10 s"), "{e}");
}
