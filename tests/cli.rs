//! The `vifgate topology` commands and `vifgate sim plan`, run as a user runs them (no root).

mod common;

use common::state_root::PrivateRoot;

use std::path::Path;
use std::process::{Command, Output};

const EXAMPLE: &str = "examples/yeohaengjigi.toml";

fn vifgate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vifgate"))
        .args(args)
        .output()
        .expect("the vifgate binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts that `o`'s standard error contains `needle`, showing it all
/// when it does not.
#[track_caller]
fn assert_stderr_has(o: &Output, needle: &str) {
    assert!(stderr(o).contains(needle), "{}", stderr(o));
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!("not JSON ({e}): {}", stdout(o));
    })
}

#[test]
fn check_passes_on_the_example() {
    if !common::fixtures(&[EXAMPLE]) {
        return;
    }
    let o = vifgate(&["topology", "check", EXAMPLE]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("valid"), "{out}");
    assert!(out.contains("23 of 23 expectations hold"), "{out}");
    assert!(!out.contains("FAIL"), "{out}");
}

#[test]
fn check_json_lists_every_expectation() {
    if !common::fixtures(&[EXAMPLE]) {
        return;
    }
    let o = vifgate(&["topology", "check", EXAMPLE, "--json"]);
    assert!(o.status.success());
    let v = json(&o);
    assert_eq!(v["valid"], true);
    assert_eq!(v["failures"], 0);
    let list = v["expectations"].as_array().expect("an array");
    assert!(list.len() >= 15);
    assert!(list.iter().all(|e| e["holds"] == true));
}

#[test]
fn check_fails_with_the_broken_expectation_listed() {
    if !common::fixtures(&[EXAMPLE]) {
        return;
    }
    let dir = std::env::temp_dir().join(format!("vifgate-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let text = std::fs::read_to_string(EXAMPLE).expect("example")
        + "\n[[expect]]\nfrom = \"internet\"\nto = \"web-a1\"\nprotocol = \"tcp\"\nport = 80\nverdict = \"ACCEPTED\"\n";
    let file = dir.join("broken.toml");
    std::fs::write(&file, text).expect("write");
    let o = vifgate(&["topology", "check", file.to_str().expect("utf-8 path")]);
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(
        out.contains("FAIL")
            && out.contains("internet -> web-a1 tcp/80 expected ACCEPTED, got NO_ROUTE"),
        "{out}"
    );
    assert!(out.contains("23 of 24 expectations hold"), "{out}");
}

#[test]
fn check_reports_a_bad_file_with_its_place() {
    let o = vifgate(&["topology", "check", "tests/bad/unknown_sg.toml"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    let expected = std::fs::read_to_string("tests/bad/unknown_sg.expected").expect("expected file");
    assert!(err.contains(expected.trim()), "{err}");
    assert!(err.contains("= expected:"), "{err}");
}

#[test]
fn missing_file_is_a_clear_error() {
    let o = vifgate(&["topology", "check", "no/such/file.toml"]);
    assert_eq!(o.status.code(), Some(1));
    assert_stderr_has(&o, "cannot read the file");
}

#[test]
fn reach_prints_verdict_and_both_directions() {
    if !common::fixtures(&[EXAMPLE]) {
        return;
    }
    let o = vifgate(&[
        "topology",
        "reach",
        EXAMPLE,
        "--from",
        "office-pc",
        "--to",
        "bastion",
        "--port",
        "22",
    ]);
    assert!(o.status.success());
    let out = stdout(&o);
    assert!(
        out.starts_with("office-pc -> bastion tcp/22: ACCEPTED"),
        "{out}"
    );
    assert!(out.contains("request:") && out.contains("reply:"), "{out}");
    assert!(out.contains("dx-vif"), "{out}");
    assert!(
        out.contains("bastion-sg ingress rule 1 allows: tcp/22 with prefix-list office-prefixes"),
        "{out}"
    );
    assert!(out.contains("reply of a tracked flow"), "{out}");
}

#[test]
fn reach_json_has_verdict_and_hops() {
    if !common::fixtures(&[EXAMPLE]) {
        return;
    }
    let o = vifgate(&[
        "topology",
        "reach",
        EXAMPLE,
        "--from",
        "bastion",
        "--to",
        "db-primary",
        "--port",
        "3306",
        "--json",
    ]);
    assert!(o.status.success());
    let v = json(&o);
    assert_eq!(v["verdict"], "DENIED");
    let hops = v["hops"].as_array().expect("hops");
    let nodes: Vec<&str> = hops.iter().filter_map(|h| h["node"].as_str()).collect();
    assert_eq!(nodes, ["bastion", "vpc-router"]);
    let last = hops[1]["steps"].as_array().expect("steps");
    let nacl = last
        .iter()
        .find(|s| s["step"] == "nacl" && s["nacl"] == "db-nacl")
        .expect("the deciding NACL step");
    assert_eq!(nacl["rule"], "*");
    assert_eq!(nacl["action"], "deny");
}

#[test]
fn reach_to_an_address() {
    if !common::fixtures(&[EXAMPLE]) {
        return;
    }
    let o = vifgate(&[
        "topology", "reach", EXAMPLE, "--from", "web-c1", "--to", "8.8.8.8", "--port", "443",
        "--json",
    ]);
    assert!(o.status.success());
    let v = json(&o);
    assert_eq!(v["verdict"], "ACCEPTED");
    assert!(
        serde_json::to_string(&v).expect("json").contains("nat-c"),
        "web-c goes out through its own AZ's NAT gateway"
    );
}

#[test]
fn reach_unknown_node_suggests_a_name() {
    if !common::fixtures(&[EXAMPLE]) {
        return;
    }
    let o = vifgate(&[
        "topology",
        "reach",
        EXAMPLE,
        "--from",
        "office-pcc",
        "--to",
        "bastion",
        "--port",
        "22",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert_stderr_has(&o, "did you mean `office-pc`?");
}

#[test]
fn matrix_json_matches_reach_cell_by_cell() {
    if !common::fixtures(&[EXAMPLE]) {
        return;
    }
    let o = vifgate(&[
        "topology", "matrix", EXAMPLE, "--ports", "22,3306", "--json",
    ]);
    assert!(o.status.success());
    let v = json(&o);
    let nodes = v["nodes"].as_array().expect("nodes").len();
    let cells = v["cells"].as_array().expect("cells");
    assert_eq!(cells.len(), 2 * nodes * (nodes - 1));
    let loaded = topology::load(EXAMPLE).expect("example loads");
    let t = &loaded.topology;
    for c in cells {
        let from = t
            .node_by_name(c["from"].as_str().expect("from"))
            .expect("node");
        let to = t.node_by_name(c["to"].as_str().expect("to")).expect("node");
        let port: u16 = c["service"].as_str().expect("service")[4..]
            .parse()
            .expect("port");
        let r = topology::analysis::reach(
            t,
            from,
            topology::analysis::Target::Node(to),
            topology::analysis::Service::Tcp(port),
        );
        assert_eq!(c["verdict"], r.verdict.as_str(), "cell {c}");
    }
}

#[test]
fn matrix_prints_a_table_per_port() {
    if !common::fixtures(&[EXAMPLE]) {
        return;
    }
    let o = vifgate(&["topology", "matrix", EXAMPLE]);
    assert!(o.status.success());
    let out = stdout(&o);
    for p in ["tcp/22", "tcp/80", "tcp/443", "tcp/3306"] {
        assert!(out.contains(p), "{out}");
    }
    assert!(out.contains("288 flows"), "{out}");
}

#[test]
fn graph_dot_nests_subnets_in_azs_in_the_vpc() {
    if !common::fixtures(&[EXAMPLE]) {
        return;
    }
    let o = vifgate(&["topology", "graph", EXAMPLE]);
    assert!(o.status.success());
    let dot = stdout(&o);
    assert!(dot.starts_with("digraph"), "{dot}");
    let vpc = dot.find("subgraph cluster_vpc").expect("a VPC cluster");
    let az = dot.find("subgraph cluster_az_0").expect("an AZ cluster");
    let subnet = dot
        .find("subgraph cluster_subnet_0")
        .expect("a subnet cluster");
    assert!(vpc < az && az < subnet, "VPC contains AZ contains subnet");
    assert!(dot.contains("subgraph cluster_site_0"), "the office");
    assert!(dot.contains("dx-vif VLAN 101"), "the VIF edge");
    assert_eq!(dot.matches('{').count(), dot.matches('}').count());
}

#[test]
fn graph_svg_through_graphviz() {
    if !common::fixtures(&[EXAMPLE]) {
        return;
    }
    if !common::need_tool("dot") {
        return;
    }
    let out = std::env::temp_dir().join(format!("vifgate-graph-{}.svg", std::process::id()));
    let o = vifgate(&[
        "topology",
        "graph",
        EXAMPLE,
        "--format",
        "svg",
        "-o",
        out.to_str().expect("utf-8"),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let svg = std::fs::read_to_string(&out).expect("svg written");
    std::fs::remove_file(&out).ok();
    assert!(svg.contains("<svg"), "{svg}");
    // Graphviz escapes the hyphen
    assert!(svg.contains("vifgate&#45;office"), "{svg}");
}

#[test]
fn graph_trace_svg_marks_the_drop_with_its_rule() {
    if !common::fixtures(&[EXAMPLE]) {
        return;
    }
    if !common::need_tool("dot") {
        return;
    }
    let out = std::env::temp_dir().join(format!("vifgate-trace-{}.svg", std::process::id()));
    let o = vifgate(&[
        "topology",
        "graph",
        EXAMPLE,
        "--trace",
        "internet",
        "bastion",
        "--proto",
        "tcp",
        "--port",
        "22",
        "--format",
        "svg",
        "-o",
        out.to_str().expect("utf-8"),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let svg = std::fs::read_to_string(&out).expect("svg written");
    std::fs::remove_file(&out).ok();
    assert!(svg.contains("<svg"), "{svg}");
    assert!(
        svg.contains("internet &#45;&gt; bastion tcp/22: DENIED"),
        "title: {svg}"
    );
    assert!(
        svg.contains("stroke=\"#2f855a\""),
        "accepted hops drawn green"
    );
    assert!(svg.contains("stroke=\"#e53e3e\""), "the drop drawn red");
    assert!(svg.contains(">DROPPED<"), "the drop labelled");
    assert!(
        svg.contains("(bastion&#45;sg) ingress:"),
        "the group named: {svg}"
    );
}

#[test]
fn graph_trace_needs_both_ends() {
    if !common::fixtures(&[EXAMPLE]) {
        return;
    }
    let o = vifgate(&["topology", "graph", EXAMPLE, "--trace", "internet"]);
    assert!(!o.status.success());
    let o = vifgate(&[
        "topology", "graph", EXAMPLE, "--trace", "nowhere", "bastion",
    ]);
    assert!(!o.status.success());
    assert_stderr_has(&o, "unknown node `nowhere`");
}

#[test]
fn example_is_where_the_readme_says() {
    assert!(Path::new(EXAMPLE).exists());
}

#[test]
fn the_readme_import_walk_through_holds() {
    if !common::fixtures(&["examples/office-for-cfn.toml"]) {
        return;
    }
    let Some(fixtures) = common::cfn_fixture_dir(&["aws-templates-vpc-managed-nat.yaml"]) else {
        return;
    };
    let template = fixtures.join("aws-templates-vpc-managed-nat.yaml");
    let out = std::env::temp_dir().join(format!("vifgate-imported-{}.toml", std::process::id()));
    let o = vifgate(&[
        "topology",
        "import-cfn",
        template.to_str().expect("utf-8"),
        "--region",
        "ap-northeast-2",
        "--merge",
        "examples/office-for-cfn.toml",
        "-o",
        out.to_str().expect("utf-8"),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = vifgate(&["topology", "check", out.to_str().expect("utf-8")]);
    std::fs::remove_file(&out).ok();
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("4 of 4 expectations hold"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn sim_plan_prints_each_namespace_with_its_routes() {
    if !common::fixtures(&[EXAMPLE]) {
        return;
    }
    let o = vifgate(&["sim", "plan", EXAMPLE, "--lab", "yh"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    for ns in [
        "namespace yh.office-pc  (node office-pc)",
        "namespace yh.vifgate-office  (node vifgate-office)",
        "namespace yh.web-a1  (node web-a1)",
        "namespace yh+lan  (office switch)",
        "namespace yh+vpc  (VPC router)",
        "namespace yh+vgw  (virtual private gateway)",
    ] {
        assert!(out.contains(ns), "{ns}:\n{out}");
    }
    // the office PC's default route, the VPC's per-subnet tables, the
    // office gateway's tunnel and its two peers
    assert!(out.contains("0.0.0.0/0 via 192.168.10.1 dev eth0"), "{out}");
    assert!(
        out.contains(&format!(
            "priority 1000 iif {} lookup table {}",
            sim::layout::subnet_bridges(["web-a"])[0],
            sim::layout::route_table_numbers(["web-a-rt"])[0]
        )),
        "{out}"
    );
    // the VGW's routes reach the propagating tables through the VPC
    // router's BIRD, which the plan shows with its configuration file
    assert!(
        out.contains("bird -f -c /run/vifgate/sim/yh/bird-vpc.conf"),
        "{out}"
    );
    assert!(out.contains("gateway vifgate-office (tun vg0"), "{out}");
    // the VGW's ports follow the VIF's and the VPN's names
    let ports = sim::layout::vgw_ports(["dx-vif", "vpn-backup"]);
    assert!(
        out.contains(&format!("peer dx-vif at 169.254.100.2:{}", ports[0])),
        "{out}"
    );
    assert!(
        out.contains(&format!("peer vpn-backup at 169.254.10.1:{}", ports[1])),
        "{out}"
    );
    assert!(out.contains("firewall security groups web-sg"), "{out}");
    // `sim up --dry-run` prints the same, and neither needs root
    let dry = vifgate(&["sim", "up", EXAMPLE, "--lab", "yh", "--dry-run"]);
    assert!(dry.status.success(), "{}", stderr(&dry));
    assert_eq!(stdout(&dry), out);
}

#[test]
fn sim_plan_json_is_the_plan() {
    if !common::fixtures(&[EXAMPLE]) {
        return;
    }
    let o = vifgate(&["sim", "plan", EXAMPLE, "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v = json(&o);
    assert_eq!(v["lab"], "yeohaengjigi");
    for key in [
        "namespaces",
        "bridges",
        "links",
        "addresses",
        "routes",
        "tunnel_routes",
        "rules",
        "sysctls",
        "firewalls",
        "gateways",
        "shaping",
        "listeners",
        "starts",
        "haproxy",
    ] {
        assert!(v[key].is_array(), "{key}");
    }
    let namespaces = v["namespaces"].as_array().expect("namespaces");
    assert!(namespaces
        .iter()
        .any(|n| n["name"] == "yeohaengjigi+vpc" && n["role"] == "vpc-router"));
    // rulesets in full
    let firewalls = v["firewalls"].as_array().expect("firewalls");
    assert!(firewalls.iter().all(|f| f["ruleset"]
        .as_str()
        .is_some_and(|r| r.starts_with("table "))));
}

#[test]
fn sim_plan_of_a_bad_file_shows_the_error_and_plans_nothing() {
    if !common::fixtures(&[EXAMPLE]) {
        return;
    }
    let o = vifgate(&["sim", "plan", "tests/bad/duplicate_ip.toml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stdout(&o).is_empty(), "{}", stdout(&o));
    let err = stderr(&o);
    let expected = std::fs::read_to_string("tests/bad/duplicate_ip.expected").expect("expected");
    assert!(err.contains(expected.trim()), "{err}");
    assert!(err.contains("has errors"), "{err}");
    let o = vifgate(&["sim", "plan", "no/such/file.toml"]);
    assert_eq!(o.status.code(), Some(2));
    assert_stderr_has(&o, "cannot read no/such/file.toml");
    let o = vifgate(&["sim", "plan", EXAMPLE, "--lab", "Bad.Name"]);
    assert_eq!(o.status.code(), Some(2));
    assert_stderr_has(&o, "bad lab name");
}

#[test]
fn bgp_prints_sessions_and_each_sides_table() {
    if !common::fixtures(&[EXAMPLE]) {
        return;
    }
    let o = vifgate(&["topology", "bgp", EXAMPLE]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(out.starts_with("sessions:\n"), "{out}");
    assert!(
        out.contains("  dx-vif (direct connect): Established\n"),
        "{out}"
    );
    assert!(
        out.contains("    vifgate-office AS 65010 169.254.100.1 <-> AS 64512 169.254.100.2\n"),
        "{out}"
    );
    assert!(out.contains("    hold 90 s, keepalive 30 s"), "{out}");
    // AWS's table: the office LAN learned over the VIF, best, the VPN's
    // route for it below with the step it lost on
    assert!(out.contains("\nvgw (AWS, AS 64512):\n"), "{out}");
    let best = out
        .lines()
        .find(|l| l.trim_start().starts_with("*> 192.168.10.0/24"))
        .unwrap_or_else(|| panic!("no best line for 192.168.10.0/24:\n{out}"));
    assert!(
        best.contains("169.254.100.1") && best.contains("dx-vif"),
        "{best}"
    );
    assert!(best.trim_end().ends_with("65010"), "{best}");
    assert!(
        out.contains("lost on: preference: DX BGP over VPN"),
        "{out}"
    );
    // the office's: the VPC's block from AWS, and what it advertises
    assert!(
        out.contains("\nvifgate-office (office, AS 65010):\n"),
        "{out}"
    );
    let office = &out[out.find("\nvifgate-office (office").unwrap_or(0)..];
    assert!(
        office
            .lines()
            .any(|l| l.trim_start().starts_with("*> 10.0.0.0/16") && l.contains("64512")),
        "{office}"
    );
    assert!(
        office
            .lines()
            .any(|l| l.trim_start().starts_with("192.168.20.0/24") && l.contains("to dx-vif")),
        "{office}"
    );
}

#[test]
fn bgp_json_is_the_report() {
    if !common::fixtures(&[EXAMPLE]) {
        return;
    }
    let o = vifgate(&["topology", "bgp", EXAMPLE, "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v = json(&o);
    let dx = &v["sessions"][0];
    assert_eq!(dx["name"], "dx-vif");
    assert_eq!(dx["kind"], "direct_connect");
    assert_eq!(dx["state"], "Established");
    assert_eq!(dx["hold_time"], 90);
    assert_eq!(dx["office_asn"], 65010);
    let vgw = &v["speakers"][0];
    assert_eq!(
        (vgw["name"].as_str(), vgw["side"].as_str()),
        (Some("vgw"), Some("aws"))
    );
    let received = vgw["received"].as_array().expect("received");
    let best = received
        .iter()
        .find(|r| r["prefix"] == "192.168.10.0/24" && r["best"] == true)
        .expect("a best route for the staff LAN");
    assert_eq!(best["session"], "dx-vif");
    assert_eq!(best["source"], "direct_connect_bgp");
    assert_eq!(best["as_path"], serde_json::json!([65010]));
    assert_eq!(best["local_pref"], 200);
    assert!(received
        .iter()
        .any(|r| r["session"] == "vpn-backup" && r["best"] == false && r["lost_on"].is_string()));
    // and it reads back as the library's type
    let back: topology::bgp::BgpReport = serde_json::from_slice(&o.stdout).expect("a BgpReport");
    assert_eq!(
        back.sessions.len(),
        v["sessions"].as_array().map_or(0, Vec::len)
    );
}

#[test]
fn bgp_of_a_bad_file_reports_it_like_check() {
    let o = vifgate(&["topology", "bgp", "tests/bad/unknown_sg.toml"]);
    assert_eq!(o.status.code(), Some(1));
    let expected = std::fs::read_to_string("tests/bad/unknown_sg.expected").expect("expected file");
    assert_stderr_has(&o, expected.trim());
    assert!(stdout(&o).is_empty(), "{}", stdout(&o));
}

#[test]
fn reach_explain_routes_lists_the_losers() {
    if !common::fixtures(&[EXAMPLE]) {
        return;
    }
    let args = [
        "topology",
        "reach",
        EXAMPLE,
        "--from",
        "office-pc",
        "--to",
        "bastion",
        "--port",
        "22",
    ];
    let o = vifgate(&args);
    assert!(o.status.success());
    let plain = stdout(&o);
    // the trace names the BGP route at the VGW without being asked
    assert!(
        plain.contains("in vgw (bgp from AS 65010 over dx-vif, local-pref 200, AS path 65010)"),
        "{plain}"
    );
    assert!(!plain.contains("routes considered"), "{plain}");
    let o = vifgate(&[&args[..], &["--explain-routes"]].concat());
    assert!(o.status.success());
    let out = stdout(&o);
    assert!(out.starts_with(&plain), "{out}");
    assert!(out.contains("\nroutes considered:\n"), "{out}");
    assert!(
        out.contains("  reply at vgw for 192.168.10.0/24:\n"),
        "{out}"
    );
    assert!(
        out.contains("    *> bgp from AS 65010 over dx-vif, local-pref 200, AS path 65010\n"),
        "{out}"
    );
    assert!(
        out.contains(": lost on preference: DX BGP over VPN"),
        "{out}"
    );
    // in JSON too, only when asked
    let v = json(&vifgate(&[&args[..], &["--json"]].concat()));
    assert!(v.get("route_choices").is_none(), "{v}");
    let v = json(&vifgate(
        &[&args[..], &["--json", "--explain-routes"]].concat(),
    ));
    let choices = v["route_choices"].as_array().expect("route_choices");
    let at_vgw = choices
        .iter()
        .find(|c| c["speaker"] == "vgw")
        .expect("the VGW's choice");
    assert_eq!(at_vgw["direction"], "reply");
    assert_eq!(at_vgw["prefix"], "192.168.10.0/24");
    assert_eq!(at_vgw["candidates"][0]["best"], true);
    assert!(at_vgw["candidates"][1]["lost_on"].is_string(), "{at_vgw}");
}

#[test]
fn sim_flowlogs_names_an_unknown_format_field() {
    let o = vifgate(&[
        "sim",
        "flowlogs",
        "--format",
        "${version} ${interface-id} ${flow-directon}",
    ]);
    assert!(!o.status.success(), "{}", stdout(&o));
    let err = stderr(&o);
    assert!(
        err.contains("unknown flow log field `flow-directon`"),
        "{err}"
    );
    assert!(err.contains("at byte 27"), "{err}");
}

#[test]
fn sim_apply_dry_run_of_a_lab_it_cannot_read_says_it_needs_root() {
    if !(common::fixtures(&[EXAMPLE])
        && sim::ops::lab::root_or_skip(
            "sim_apply_dry_run_of_a_lab_it_cannot_read_says_it_needs_root",
        )
        && common::need_tool("setpriv"))
    {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let p = PrivateRoot::new("apply-unreadable");
    // a lab as `sim up` leaves it: its directory root's alone
    let dir = p.root().join("rootlab");
    std::fs::create_dir_all(&dir).expect("lab dir");
    std::fs::write(dir.join("state.json"), "{}").expect("state");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    for d in [p.file(""), p.root()] {
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(EXAMPLE);
    let o = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(common::vifgate())
        .args(["sim", "apply"])
        .arg(&example)
        .args(["--lab", "rootlab", "--dry-run"])
        .env("VIFGATE_STATE_ROOT", p.root())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("setpriv runs vifgate");
    let err = stderr(&o);
    assert!(!o.status.success(), "{err}");
    // on main: "cannot read lab `rootlab`: cannot read .../state.json:
    // Permission denied (os error 13)", and no word of root
    assert!(err.contains("Permission denied"), "{err}");
    assert!(
        err.contains("reading a lab needs root (its state directory is root's): run it with sudo"),
        "{err}"
    );
}

#[test]
fn every_sim_command_refuses_a_lab_name_that_is_a_path() {
    if !common::fixtures(&[EXAMPLE]) {
        return;
    }
    let p = PrivateRoot::new("lab-names");
    let victim = p.victim().display().to_string();
    let bad = [
        "..".to_string(),
        ".".to_string(),
        victim.clone(),
        format!("../../..{victim}"),
        "keep/../..".to_string(),
        "Keep".to_string(),
    ];
    for name in &bad {
        let commands: Vec<Vec<&str>> = vec![
            vec!["sim", "down", name],
            vec!["sim", "status", name],
            vec!["sim", "exec", name, "office-pc", "--", "true"],
            vec!["sim", "link", name, "a", "b", "--down"],
            vec!["sim", "bgp", name],
            vec!["sim", "flowlogs", name],
            vec!["sim", "test", EXAMPLE, "--reuse", "--lab", name],
            vec!["sim", "test", EXAMPLE, "--lab", name],
            vec!["sim", "up", EXAMPLE, "--lab", name],
            vec!["sim", "plan", EXAMPLE, "--lab", name],
            vec!["sim", "apply", EXAMPLE, "--lab", name, "--dry-run"],
        ];
        for args in commands {
            let o = p.vifgate(&args);
            let err = stderr(&o);
            assert_eq!(o.status.code(), Some(2), "vifgate {args:?}: {err}");
            assert!(
                err.contains(&format!("bad lab name `{name}`")) && err.contains("a-z, 0-9"),
                "vifgate {args:?}: {err}"
            );
            assert!(p.victim().join("sub").is_dir(), "vifgate {args:?}");
            assert!(p.root().join("keep").is_dir(), "vifgate {args:?}");
        }
    }
}

#[test]
fn sim_link_checks_a_rate_when_it_reads_it_and_says_so_once() {
    let p = PrivateRoot::new("link-rates");
    for (rate, says) in [
        (
            "1bit",
            "`1bit` is below one byte a second: the smallest rate is 8bit",
        ),
        ("0.005kbit", "below one byte a second"),
        ("-1mbit", "a rate is not negative"),
        ("10g", "did you mean 10Gbps?"),
    ] {
        let rate_arg = format!("--rate={rate}");
        let o = p.vifgate(&["sim", "link", "nolab", "a", "b", &rate_arg]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "--rate {rate}: {err}");
        assert_eq!(err.matches(says).count(), 1, "--rate {rate}: {err}");
    }
    // 0 takes the rate off, as --delay 0 and --loss 0% do: it is a rate
    for rate in ["0bit", "0mbit", "0.0Gbps"] {
        let o = p.vifgate(&["sim", "link", "nolab", "a", "b", "--rate", rate]);
        let err = stderr(&o);
        // read, then the lab looked for (or root asked for, without it)
        assert!(
            err.contains("no lab `nolab`") || err.contains("needs root"),
            "--rate {rate}: {err}"
        );
    }
}

/// `sim load --timeout 0s` was taken, and counted every request a
/// timeout, those answered in half a millisecond too.
#[test]
fn sim_load_refuses_a_timeout_of_0() {
    let p = PrivateRoot::new("load-timeout");
    let load = |t: &str| {
        let args = [
            "sim",
            "load",
            "nolab",
            "--to",
            "alb",
            "--rate",
            "1/s",
            "--timeout",
            t,
        ];
        p.vifgate(&args)
    };
    for t in ["0s", "0ms", "11s"] {
        let o = load(t);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "--timeout {t}: {err}");
        assert!(
            err.contains(&format!("`{t}`: above 0, at most 10s")),
            "--timeout {t}: {err}"
        );
    }
    let err = stderr(&load("1ms"));
    assert!(
        err.contains("no lab `nolab`") || err.contains("needs root"),
        "{err}"
    );
}

#[test]
fn an_output_that_is_an_input_is_refused_and_the_input_kept() {
    if !common::fixtures(&[EXAMPLE, "examples/office-for-cfn.toml"]) {
        return;
    }
    let p = PrivateRoot::new("outputs");
    let template = p.file("t.yaml");
    let original = std::fs::read_to_string("tests/cfn/resources-web.yaml").expect("a template");
    std::fs::write(&template, &original).expect("copy");
    let office = p.file("office.toml");
    let office_text = std::fs::read_to_string("examples/office-for-cfn.toml").expect("office");
    std::fs::write(&office, &office_text).expect("copy");
    let link = p.file("link.yaml");
    std::os::unix::fs::symlink(&template, &link).expect("symlink");
    let (t, o_, l) = (
        template.to_str().expect("utf-8"),
        office.to_str().expect("utf-8"),
        link.to_str().expect("utf-8"),
    );
    let example = std::fs::read_to_string(EXAMPLE).expect("example");
    let topo = p.file("topology.toml");
    std::fs::write(&topo, &example).expect("copy");
    let tp = topo.to_str().expect("utf-8");
    for args in [
        vec!["topology", "import-cfn", t, "-o", t],
        vec!["topology", "import-cfn", t, "-o", l],
        vec!["topology", "import-cfn", t, "--merge", o_, "-o", o_],
        vec!["topology", "graph", tp, "-o", tp],
        vec!["sim", "test", tp, "--lab", "never-built", "--report", tp],
    ] {
        let o = p.vifgate(&args);
        let err = stderr(&o);
        // import-cfn's conflicts between files are status 1, as its other
        // errors (docs/topology.md); 2 elsewhere
        let status = if args[1] == "import-cfn" { 1 } else { 2 };
        assert_eq!(o.status.code(), Some(status), "{args:?}: {err}");
        assert!(err.contains("is the input"), "{args:?}: {err}");
        assert_eq!(std::fs::read_to_string(&template).expect("kept"), original);
        assert_eq!(std::fs::read_to_string(&office).expect("kept"), office_text);
        assert_eq!(std::fs::read_to_string(&topo).expect("kept"), example);
    }
    // a directory, or a directory that is not there: refused before any work
    for out in [p.file(""), p.file("no/such/dir/out.toml")] {
        let o = p.vifgate(&[
            "topology",
            "import-cfn",
            t,
            "-o",
            out.to_str().expect("utf-8"),
        ]);
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        assert!(!stderr(&o).contains("warning"), "{}", stderr(&o));
    }
}

#[test]
fn an_output_that_cannot_be_written_whole_leaves_the_old_file() {
    if !common::fixtures(&[EXAMPLE]) {
        return;
    }
    let p = PrivateRoot::new("whole");
    let out = p.file("drawing.dot");
    std::fs::write(&out, "the old drawing\n").expect("old");
    let path = out.to_str().expect("utf-8");
    // a file size limit of 512 bytes: the drawing (kilobytes) cannot be
    // written, SIGXFSZ ignored so that the write fails with EFBIG instead
    let o = Command::new("sh")
        .args([
            "-c",
            r#"trap '' XFSZ; exec prlimit --fsize=512 "$@""#,
            "sh",
            env!("CARGO_BIN_EXE_vifgate"),
            "topology",
            "graph",
            EXAMPLE,
            "-o",
            path,
        ])
        .output()
        .expect("sh runs");
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_stderr_has(&o, &format!("cannot write {path}"));
    assert_eq!(
        std::fs::read_to_string(&out).expect("kept"),
        "the old drawing\n"
    );
    let left: Vec<_> = std::fs::read_dir(p.file(""))
        .expect("dir")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(left.len(), 3, "root, victim and the drawing only: {left:?}");
    // without the limit it is written
    let o = vifgate(&["topology", "graph", EXAMPLE, "-o", path]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(std::fs::read_to_string(&out)
        .expect("new")
        .starts_with("digraph"));
}

#[test]
fn sim_refuses_option_values_that_give_no_true_answer() {
    if !common::fixtures(&[EXAMPLE]) {
        return;
    }
    let p = PrivateRoot::new("values");
    let test = ["sim", "test", EXAMPLE, "--lab", "never-built"];
    let flowlogs = ["sim", "flowlogs", "nolab"];
    for (command, option, value, says) in [
        (&test[..], "--timeout-ms", "0", "at least 1000 ms"),
        (&test[..], "--timeout-ms", "999", "at least 1000 ms"),
        (&test[..], "--max-cells", "0", "--max-cells"),
        (&test[..], "--parallel", "0", "--parallel"),
        (
            &test[..],
            "--ports",
            "22,0",
            "port 0 can be neither listened on",
        ),
        (
            &flowlogs[..],
            "--account-id",
            "abc",
            "`abc` is not an AWS account id: 12 digits",
        ),
    ] {
        let mut args = command.to_vec();
        args.extend([option, value]);
        let o = p.vifgate(&args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{option} {value}: {err}");
        assert!(err.contains(says), "{option} {value}: {err}");
    }
}

#[test]
fn bgp_refuses_links_that_share_a_block_instead_of_predicting_established() {
    // a VIF on 169.254.10.0/30 beside a VPN on its default inside block:
    // live, neither session would come up on the shared addresses
    let o = vifgate(&[
        "topology",
        "bgp",
        "tests/bad/vpn_default_inside_beside_vif.toml",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(!stdout(&o).contains("Established"), "{}", stdout(&o));
    assert_stderr_has(&o, "overlaps VIF `vif`'s peer subnet");
}

/// With `--json`, a command that fails prints one JSON object on standard
/// output, as a script reads its answer: `error`, and for a file that does
/// not load its `diagnostics`.
#[test]
fn json_commands_print_their_errors_as_one_json_object() {
    if !common::fixtures(&[EXAMPLE]) {
        return;
    }
    let o = vifgate(&[
        "topology", "reach", EXAMPLE, "--from", "nope", "--to", "bastion", "--json",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let v = json(&o);
    assert!(
        v["error"]
            .as_str()
            .is_some_and(|e| e.contains("unknown node `nope`")),
        "{v}"
    );
    let o = vifgate(&["topology", "matrix", EXAMPLE, "--proto", "sctp", "--json"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(json(&o)["error"].is_string());
    for cmd in ["reach", "bgp", "matrix", "check"] {
        let mut args = vec!["topology", cmd, "tests/bad/duplicate_ip.toml", "--json"];
        if cmd == "reach" {
            args.extend(["--from", "a", "--to", "b"]);
        }
        let o = vifgate(&args);
        assert_eq!(o.status.code(), Some(1), "{cmd}");
        let v = json(&o);
        assert_eq!(v["valid"], false, "{cmd}: {v}");
        assert_eq!(
            v["error"], "tests/bad/duplicate_ip.toml has errors",
            "{cmd}: {v}"
        );
        assert!(v["diagnostics"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("is already used by")));
        assert!(stderr(&o).is_empty(), "{cmd}: {}", stderr(&o));
    }
    // `sim plan` reads the file the same way (its exit code stays 2)
    let o = vifgate(&["sim", "plan", "tests/bad/duplicate_ip.toml", "--json"]);
    assert_eq!(o.status.code(), Some(2));
    let v = json(&o);
    assert_eq!(v["valid"], false, "{v}");
    assert!(v["diagnostics"][0]["message"].is_string(), "{v}");
    let o = vifgate(&["status", "--socket", "/nonexistent/vifgate.sock", "--json"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(json(&o)["error"].is_string());
    // values refused as the command line is read (lab names, ports,
    // timeouts) printed clap's text only, and nothing on standard output
    for (args, says) in [
        (
            &["sim", "status", "..", "--json"][..],
            "invalid value '..' for '[LAB]': bad lab name `..`",
        ),
        (
            &[
                "topology", "reach", EXAMPLE, "--from", "a", "--to", "b", "--port", "99999",
                "--json",
            ],
            "invalid value '99999' for '--port <PORT>'",
        ),
        (
            &["sim", "test", EXAMPLE, "--timeout-ms", "0", "--json"],
            "0 ms is too short",
        ),
    ] {
        let o = vifgate(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let v = json(&o);
        assert!(
            v["error"]
                .as_str()
                .is_some_and(|e| e.starts_with(says) || e.contains(says)),
            "{args:?}: {v}"
        );
        assert!(stderr(&o).is_empty(), "{args:?}: {}", stderr(&o));
    }
    // without --json, clap's message as before
    let o = vifgate(&["sim", "status", ".."]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stdout(&o).is_empty() && stderr(&o).contains("bad lab name"));
}

/// `gateway --check` with a private key file that is a FIFO: refused at
/// once with its cause (it waited for a writer for ever), and a missing
/// key file says why as a start does.
#[test]
fn gateway_check_refuses_a_key_file_that_is_no_file_with_its_cause() {
    let dir = std::env::temp_dir().join(format!("vifgate-cli-fifo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let fifo = dir.join("private.key");
    let made = Command::new("mkfifo")
        .args(["-m", "600"])
        .arg(&fifo)
        .status();
    assert!(made.expect("mkfifo runs").success());
    let config = |key: &Path| {
        let file = dir.join("gw.toml");
        std::fs::write(
            &file,
            format!(
                "[interface]\nname = \"rvgw0\"\naddress = \"10.99.0.1/24\"\nprivate_key_file = \"{}\"\n\n[[peer]]\nname = \"aws\"\npublic_key = \"HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=\"\nallowed_ips = [\"10.0.0.0/16\"]\n",
                key.display()
            ),
        )
        .expect("config");
        file
    };
    let run = |file: &Path| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_vifgate"))
            .args(["gateway", "--config"])
            .arg(file)
            .arg("--check")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("vifgate runs");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while child.try_wait().expect("wait").is_none() {
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                panic!("gateway --check still waits after 20 s");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        child.wait_with_output().expect("output")
    };
    let on_fifo = run(&config(&fifo));
    let missing = run(&config(&dir.join("none.key")));
    std::fs::remove_dir_all(&dir).ok();
    for (o, says) in [
        (on_fifo, "private.key is a named pipe, not a file"),
        (missing, "none.key: No such file or directory"),
    ] {
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        assert!(stderr(&o).contains(says), "{says}: {}", stderr(&o));
    }
}

/// A value of the wrong type in a gateway configuration is said in the
/// file format's words, as in a topology: no Rust type names.
#[test]
fn gateway_check_names_types_as_toml_does() {
    let dir = std::env::temp_dir().join(format!("vifgate-cli-types-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let file = dir.join("gw.toml");
    std::fs::write(
        &file,
        "[interface]\nname = \"wg0\"\nlisten_port = \"51820\"\n",
    )
    .expect("config");
    let o = vifgate(&["gateway", "--config", &file.to_string_lossy(), "--check"]);
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_stderr_has(&o, "expected an integer, found the string \"51820\"");
    assert!(!stderr(&o).contains("u16"), "{}", stderr(&o));
}

/// `vifgate status --interface NAME` builds `/run/vifgate/NAME.sock`: a
/// name that is no interface name (a path, `..`) is refused when read,
/// before it names a socket anywhere else.
#[test]
fn status_refuses_an_interface_name_that_is_a_path() {
    for name in ["../../tmp/x", "..", "a/b", "sixteen-bytes-xx", ""] {
        let o = vifgate(&["status", "--interface", name]);
        let err = stderr(&o);
        assert_eq!(
            o.status.code(),
            Some(2),
            "status --interface {name:?}: {err}"
        );
        assert!(
            err.contains("is no interface name"),
            "status --interface {name:?}: {err}"
        );
    }
}

/// An input file is read up to 16 MiB: a larger one (or `/dev/zero`,
/// which has no end) is refused at once instead of read into memory.
#[test]
fn an_input_file_larger_than_16_mib_is_refused_unread() {
    let dir = std::env::temp_dir().join(format!("vifgate-big-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let big = dir.join("big.toml");
    let f = std::fs::File::create(&big).expect("create");
    f.set_len(17 << 20).expect("sparse file");
    let path = big.display().to_string();
    for args in [
        vec!["topology", "check", path.as_str()],
        vec!["topology", "import-cfn", path.as_str()],
        vec!["gateway", "--config", path.as_str(), "--check"],
    ] {
        let o = vifgate(&args);
        let err = stderr(&o);
        assert_ne!(o.status.code(), Some(0), "vifgate {args:?}: {err}");
        assert!(
            err.contains("larger than 16 MiB"),
            "vifgate {args:?}: {err}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Port 0 is no flow's port: `check` refuses it in an `[[expect]]`, and
/// `reach`, `matrix` and `graph --trace` refuse it on the command line by
/// the same rule, instead of analysing a flow no host can make.
#[test]
fn the_analysis_commands_refuse_port_0_as_check_does() {
    if !common::fixtures(&[EXAMPLE]) {
        return;
    }
    for args in [
        vec![
            "topology",
            "reach",
            EXAMPLE,
            "--from",
            "office-pc",
            "--to",
            "web-a1",
            "--port",
            "0",
        ],
        vec!["topology", "matrix", EXAMPLE, "--ports", "22,0"],
        vec![
            "topology",
            "graph",
            EXAMPLE,
            "--trace",
            "office-pc",
            "web-a1",
            "--port",
            "0",
        ],
    ] {
        let o = vifgate(&args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("port 0"), "{args:?}: {err}");
    }
}

/// A lab `yh` of the example as `sim up` records it (its state and the
/// copy of its text) in `root`, without building it: what `sim apply
/// --dry-run` reads.
fn recorded_example_lab(root: &PrivateRoot) -> std::path::PathBuf {
    recorded_example_lab_with(root, &[])
}

/// [`recorded_example_lab`], planned with the options `more` (`--ports`).
fn recorded_example_lab_with(root: &PrivateRoot, more: &[&str]) -> std::path::PathBuf {
    let text = std::fs::read_to_string(EXAMPLE).expect("the example");
    // planned under this root, as `sim up` would plan it (its files'
    // paths are the root's)
    let mut args = vec!["sim", "plan", EXAMPLE, "--lab", "yh", "--json"];
    args.extend_from_slice(more);
    let o = root.vifgate(&args);
    let plan: sim::plan::Plan = serde_json::from_slice(&o.stdout).expect("the plan");
    let state = sim::apply::state::LabState {
        format: sim::apply::state::STATE_FORMAT,
        plan,
        source: Some(EXAMPLE.into()),
        status: sim::apply::state::BuildStatus::Up,
        link_notes: Vec::new(),
        features: Default::default(),
        seconds: 0.0,
        links: Default::default(),
        links_down: Default::default(),
        failed: Default::default(),
        impaired_zones: Default::default(),
        processes: Vec::new(),
        bgp_established_seconds: None,
        built_from: None,
        applying: None,
        capacity: Default::default(),
    };
    let dir = root.root().join("yh");
    std::fs::create_dir_all(&dir).expect("lab dir");
    std::fs::write(dir.join("topology.toml"), &text).expect("copy");
    std::fs::write(
        dir.join("state.json"),
        serde_json::to_vec_pretty(&state).expect("json"),
    )
    .expect("state");
    dir
}

/// The example with `from` (once) replaced by `to`, written beside `root`.
fn edited_example(root: &PrivateRoot, from: &str, to: &str) -> String {
    let text = std::fs::read_to_string(EXAMPLE).expect("the example");
    assert_eq!(text.matches(from).count(), 1, "{from}");
    let path = root.file("edited.toml");
    std::fs::write(&path, text.replacen(from, to, 1)).expect("write");
    path.to_string_lossy().into_owned()
}

#[test]
fn sim_apply_dry_run_prints_one_table_replace_for_one_rule() {
    if !common::fixtures(&[EXAMPLE]) {
        return;
    }
    let root = PrivateRoot::new("apply-rule");
    let dir = recorded_example_lab(&root);
    let before = std::fs::read(dir.join("state.json")).expect("state");
    let file = edited_example(
        &root,
        "  { protocol = \"tcp\", ports = 22, prefix_list = \"office-prefixes\" },\n",
        "  { protocol = \"tcp\", ports = 22, prefix_list = \"office-prefixes\" },\n  { protocol = \"tcp\", ports = 443, prefix_list = \"office-prefixes\" },\n",
    );
    let o = root.vifgate(&["sim", "apply", &file, "--lab", "yh", "--dry-run"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        format!("lab `yh`: 1 step to apply {file} (dry run: nothing changed)\n  1. replace nft table inet vifgate_sg in yh.bastion (security groups bastion-sg; bastion-sg ingress: 1 line added)\n")
    );
    let o = root.vifgate(&["sim", "apply", &file, "--lab", "yh", "--dry-run", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v = json(&o);
    assert_eq!(v["steps"][0]["step"], "load_firewall");
    assert_eq!(v["steps"][0]["firewall"]["ns"], "yh.bastion");
    // the unedited file: nothing to do
    let o = root.vifgate(&["sim", "apply", EXAMPLE, "--lab", "yh", "--dry-run"]);
    assert!(stdout(&o).contains("nothing to do"), "{}", stdout(&o));
    assert_eq!(
        std::fs::read(dir.join("state.json")).expect("state"),
        before,
        "a dry run changes nothing"
    );
    // not a dry run: the steps run live, as root; this lab is only
    // recorded (none of its namespaces exist), so its first step fails,
    // naming the ways out
    let o = root.vifgate(&["sim", "apply", &file, "--lab", "yh"]);
    assert!(!o.status.success());
    // SAFETY: no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        assert_stderr_has(&o, "vifgate sim down yh");
    } else {
        assert_stderr_has(&o, "needs root");
    }
}

#[test]
fn sim_apply_refuses_a_lab_whose_state_an_older_vifgate_wrote() {
    if !common::fixtures(&[EXAMPLE]) {
        return;
    }
    let root = PrivateRoot::new("apply-old-state");
    let dir = recorded_example_lab(&root);
    // the state as an older vifgate wrote it: no format, and no values
    // beside the configurations' text
    let path = dir.join("state.json");
    let mut v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("state")).expect("json");
    v.as_object_mut().expect("object").remove("format");
    let plan = &mut v["plan"];
    for (list, field) in [
        ("firewalls", "tables"),
        ("haproxy", "targets"),
        ("haproxy", "config_without_targets"),
    ] {
        for x in plan[list].as_array_mut().expect("list") {
            x.as_object_mut().expect("object").remove(field);
        }
    }
    for b in plan["bird"]["daemons"].as_array_mut().expect("daemons") {
        b.as_object_mut().expect("object").remove("sessions");
    }
    std::fs::write(&path, serde_json::to_vec(&v).expect("json")).expect("write");
    let file = edited_example(
        &root,
        "  { protocol = \"tcp\", ports = 22, prefix_list = \"office-prefixes\" },\n",
        "  { protocol = \"tcp\", ports = 22, prefix_list = \"office-prefixes\" },\n  { protocol = \"tcp\", ports = 443, prefix_list = \"office-prefixes\" },\n",
    );
    let o = root.vifgate(&["sim", "apply", &file, "--lab", "yh", "--dry-run"]);
    assert!(!o.status.success(), "{}", stdout(&o));
    assert_stderr_has(&o, "lab `yh` was built by an older vifgate");
    assert_stderr_has(&o, "--rebuild");
    // it still reads: a rebuild (down, then up) is planned from it
    let o = root.vifgate(&[
        "sim",
        "apply",
        &file,
        "--lab",
        "yh",
        "--dry-run",
        "--rebuild",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("delete namespace yh.bastion"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn sim_apply_without_ports_keeps_the_ports_the_lab_was_built_with() {
    if !common::fixtures(&[EXAMPLE]) {
        return;
    }
    let root = PrivateRoot::new("apply-ports");
    let dir = recorded_example_lab_with(&root, &["--ports", "22,8080"]);
    // the file as it was, no --ports: nothing to do (on main, 13 steps:
    // every node's listeners restarted on the default ports)
    let o = root.vifgate(&["sim", "apply", EXAMPLE, "--lab", "yh", "--dry-run"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("nothing to do"), "{}", stdout(&o));
    // other ports are an edit like any other: the listeners move
    let o = root.vifgate(&[
        "sim",
        "apply",
        EXAMPLE,
        "--lab",
        "yh",
        "--dry-run",
        "--ports",
        "22,9090",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let steps: Vec<&str> = out.lines().skip(1).collect();
    assert!(!steps.is_empty(), "{out}");
    assert!(
        steps.iter().all(|l| l.contains("the listeners of")),
        "{out}"
    );
    assert!(out.contains("9090"), "{out}");
    // a lab recorded before the ports were: built with the default ones
    let path = dir.join("state.json");
    let mut state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("state")).expect("json");
    let plan = root.vifgate(&["sim", "plan", EXAMPLE, "--lab", "yh", "--json"]);
    state["plan"] = serde_json::from_slice(&plan.stdout).expect("the plan");
    state["plan"]
        .as_object_mut()
        .expect("an object")
        .remove("tcp_ports")
        .expect("the plan records its ports");
    std::fs::write(&path, serde_json::to_vec(&state).expect("json")).expect("write");
    let o = root.vifgate(&["sim", "apply", EXAMPLE, "--lab", "yh", "--dry-run"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("nothing to do"), "{}", stdout(&o));
}

#[test]
fn sim_apply_refuses_a_vpc_cidr_edit_at_its_place_and_a_bad_file() {
    if !common::fixtures(&[EXAMPLE]) {
        return;
    }
    let root = PrivateRoot::new("apply-refuse");
    let dir = recorded_example_lab(&root);
    let before = std::fs::read(dir.join("state.json")).expect("state");
    let file = edited_example(
        &root,
        "-vpc\"\ncidr = \"10.0.0.0/16\"",
        "-vpc\"\ncidr = \"10.0.0.0/17\"",
    );
    let o = root.vifgate(&["sim", "apply", &file, "--lab", "yh", "--dry-run"]);
    assert!(!o.status.success());
    assert_stderr_has(
        &o,
        &format!("{file}:69:8: error: VPC yeohaengjigi-vpc's CIDR changes from 10.0.0.0/16 to 10.0.0.0/17: this needs a rebuild"),
    );
    assert_stderr_has(&o, "--rebuild");
    // a file that does not load: its place, and nothing read or changed
    let file = edited_example(&root, "desired = 2\n", "desired = \"two\"\n");
    let o = root.vifgate(&["sim", "apply", &file, "--lab", "yh", "--rebuild"]);
    assert!(!o.status.success());
    assert_stderr_has(&o, &format!("{file}:"));
    assert_stderr_has(&o, "error:");
    assert_eq!(
        std::fs::read(dir.join("state.json")).expect("state"),
        before
    );
    // no such lab
    let o = root.vifgate(&["sim", "apply", EXAMPLE, "--lab", "nolab", "--dry-run"]);
    assert_stderr_has(&o, "no lab `nolab` is up");
}

#[test]
fn scale_predicts_the_event_day_2_4_2() {
    if !common::fixtures(&[EXAMPLE]) {
        return;
    }
    let o = vifgate(&[
        "topology",
        "scale",
        EXAMPLE,
        "--load",
        "0m:2000,10m:7040,40m:2000",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    // the high alarm's third datapoint at 352 %
    let line12 = out
        .lines()
        .find(|l| l.trim_start().starts_with("12m"))
        .expect("minute 12");
    assert!(line12.contains("capacity 2 + 2 (desired 4)"), "{line12}");
    assert!(out.contains("launch web-a2 in zone a"), "{out}");
    assert!(out.contains("launch web-c2 in zone c"), "{out}");
    // the low alarm's fifteenth datapoint after the event
    let line54 = out
        .lines()
        .find(|l| l.trim_start().starts_with("54m"))
        .expect("minute 54");
    assert!(line54.contains("capacity 2 + 0 (desired 2)"), "{line54}");
    assert!(out.contains("terminate web-a1 in zone a"), "{out}");
}

#[test]
fn scale_json_is_one_record_a_minute() {
    if !common::fixtures(&[EXAMPLE]) {
        return;
    }
    let o = vifgate(&[
        "topology",
        "scale",
        EXAMPLE,
        "--load",
        "0m:2000,10m:7040,40m:2000",
        "--minutes",
        "20",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let records: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(records.len(), 20);
    let r = &records[12];
    assert_eq!(r["minute"], 12);
    assert_eq!(r["load"], 7040.0);
    assert_eq!(r["metrics"]["ALBRequestCountPerTarget"], 3520.0);
    assert_eq!(r["alarms"][0]["state"], "ALARM");
    assert_eq!(
        (r["in_service"].clone(), r["warming"].clone()),
        (2.into(), 2.into())
    );
    assert_eq!(r["activities"][0]["kind"], "launch");
    assert_eq!(r["activities"][1]["instance"], "web-c2");
    assert_eq!(records[17]["in_service"], 4);
}

#[test]
fn scale_bad_profile_names_its_column() {
    if !common::fixtures(&[EXAMPLE]) {
        return;
    }
    let o = vifgate(&["topology", "scale", EXAMPLE, "--load", "0m:2000,10x:7040"]);
    assert!(!o.status.success());
    assert_stderr_has(&o, "--load `0m:2000,10x:7040`");
    assert_stderr_has(&o, "column 9: `10x` is not a time");
    let o = vifgate(&[
        "topology", "scale", EXAMPLE, "--load", "0m:1", "--group", "web",
    ]);
    assert!(!o.status.success());
    assert_stderr_has(
        &o,
        "--group `web` is not an Auto Scaling group; the groups are: web-asg",
    );
    let o = vifgate(&["topology", "scale", EXAMPLE, "--load", "0m:1,100000m:2"]);
    assert!(!o.status.success());
    assert_stderr_has(&o, "100030 minutes is more than a week (10080)");
}
