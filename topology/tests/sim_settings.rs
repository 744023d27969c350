//! What the simulator reads from a topology: the link attributes of the
//! Direct Connect connection (`bandwidth`, `latency`, `jitter`, `loss`) and
//! the `[sim]` table. Good values must land in the model; bad ones are
//! pinned with their messages in `tests/bad/`, and the combinations that a
//! one-mistake file cannot show are checked here.

use std::time::Duration;

use topology::analysis::{self, Service};
use topology::model::{LoadBalancerMode, SimSettings};
use topology::{Diagnostics, Loaded, Topology};

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/yeohaengjigi.toml");

#[path = "../../tests/common/fixture.rs"]
mod fixture;

/// An office host `pc`, a two-AZ VPC whose Auto Scaling group `web-asg`
/// creates `web-a1` and `web-c1`, and a standalone instance `app-1`.
const BASE: &str = r#"
name = "sim"

[[site]]
name = "office"

[[site.lan]]
name = "lan"
cidr = "192.168.1.0/24"

[[site.host]]
name = "pc"
lan = "lan"
ip = "192.168.1.10"

[vpc]
name = "vpc"
cidr = "10.0.0.0/16"
region = "ap-northeast-2"
azs = ["a", "c"]

[[vpc.subnet]]
name = "web-a"
az = "a"
cidr = "10.0.10.0/24"

[[vpc.subnet]]
name = "web-c"
az = "c"
cidr = "10.0.11.0/24"

[[vpc.instance]]
name = "app-1"
subnet = "web-a"
ip = "10.0.10.100"

[[vpc.auto_scaling_group]]
name = "web-asg"
host_prefix = "web"
subnets = ["web-a", "web-c"]
desired = 2
"#;

fn parse(extra: &str) -> Result<Loaded, Diagnostics> {
    topology::parse("sim.toml", format!("{BASE}\n{extra}\n"))
}

fn load(extra: &str) -> Loaded {
    parse(extra).unwrap_or_else(|d| panic!("does not load:\n{d}\n--- extra ---\n{extra}"))
}

fn errors(extra: &str) -> Vec<String> {
    match parse(extra) {
        Ok(_) => panic!("loads, but should not:\n{extra}"),
        Err(d) => d.errors().map(|d| d.headline()).collect(),
    }
}

fn warnings(l: &Loaded) -> Vec<String> {
    l.warnings.warnings().map(|d| d.headline()).collect()
}

fn id(t: &Topology, name: &str) -> usize {
    t.node_by_name(name)
        .unwrap_or_else(|| panic!("no node {name}"))
}

fn connection(fields: &str) -> String {
    format!("[direct_connect.connection]\nname = \"dxcon\"\n{fields}\n")
}

// ---- the bundled example ---------------------------------------------------

#[test]
fn the_example_carries_its_link_and_sim_settings() {
    if !fixture::fixtures(&[EXAMPLE]) {
        return;
    }
    let loaded = topology::load(EXAMPLE).expect("the example loads");
    assert!(loaded.warnings.0.is_empty(), "{}", loaded.warnings);
    let t = &loaded.topology;

    let dx = t.dx_connection.as_ref().expect("a connection");
    assert_eq!(dx.bandwidth.as_deref(), Some("1Gbps"));
    assert_eq!(dx.bandwidth_bps, Some(1_000_000_000));
    assert_eq!(dx.latency, Some(Duration::from_millis(2)));
    assert_eq!(dx.jitter, Some(Duration::from_micros(200)));
    assert_eq!(dx.loss_percent, None);

    assert_eq!(t.sim.load_balancer, LoadBalancerMode::Haproxy);
    assert_eq!(t.sim.start.len(), 1);
    let s = &t.sim.start[0];
    assert_eq!(s.nodes, vec![id(t, "web-a1"), id(t, "web-c1")]);
    assert_eq!(s.command, "python3 -m http.server 80 --bind 0.0.0.0");
    assert_eq!(s.tcp_ports, vec![80]);
    assert!(s.udp_ports.is_empty());
    // the line of the `[[sim.start]]` header
    let text = std::fs::read_to_string(EXAMPLE).expect("read the example");
    let header = text
        .lines()
        .position(|l| l.starts_with("[[sim.start]]"))
        .expect("a [[sim.start]] entry")
        + 1;
    assert_eq!(s.line, header);

    assert_eq!(t.sim.tcp_ports_of(id(t, "web-a1")), vec![80]);
    assert!(t.sim.tcp_ports_of(id(t, "bastion")).is_empty());
    assert_eq!(t.sim.commands_for(id(t, "web-c1")).count(), 1);
}

#[test]
fn the_analysis_ignores_sim_and_the_link_attributes() {
    if !fixture::fixtures(&[EXAMPLE]) {
        return;
    }
    let text = std::fs::read_to_string(EXAMPLE).expect("read the example");
    let with = topology::parse("with.toml", text.clone())
        .expect("loads")
        .topology;
    // the same file without its [sim] table and link attributes
    let cut = text.find("\n[sim]").expect("the example has [sim]");
    let without: String = text[..cut]
        .lines()
        .filter(|l| !l.starts_with("latency") && !l.starts_with("jitter"))
        .map(|l| format!("{l}\n"))
        .collect();
    let without = topology::parse("without.toml", without)
        .expect("loads")
        .topology;
    assert_eq!(without.sim, SimSettings::default());
    assert_eq!(without.dx_connection.as_ref().and_then(|c| c.latency), None);

    let services = [
        Service::Tcp(22),
        Service::Tcp(80),
        Service::Tcp(443),
        Service::Tcp(3306),
        Service::IcmpEcho,
    ];
    let render = |t: &Topology| {
        analysis::matrix(t, &services)
            .cells()
            .map(|c| format!("{} {} {} {:?}", c.from, c.to, c.service, c.verdict))
            .collect::<Vec<_>>()
    };
    assert_eq!(render(&with), render(&without));
    let holds = |t: &Topology| {
        analysis::check_expectations(t)
            .iter()
            .filter(|r| r.holds)
            .count()
    };
    assert_eq!(holds(&with), with.expectations.len());
    assert_eq!(holds(&with), holds(&without));
}

// ---- [direct_connect.connection] --------------------------------------------

#[test]
fn rates_are_read_in_bits_per_second() {
    for (text, bps) in [
        ("1Gbps", 1_000_000_000u64),
        ("10Gbps", 10_000_000_000),
        ("100Gbps", 100_000_000_000),
        ("500Mbps", 500_000_000),
        ("50Mbps", 50_000_000),
        ("50 Mbps", 50_000_000),
        ("1.5Gbps", 1_500_000_000),
        ("1 GBPS", 1_000_000_000),
        ("64kbps", 64_000),
        ("2000bps", 2_000),
        ("0.5Mbps", 500_000),
        // tc's spelling too: one grammar for every file and command
        ("1Gbit", 1_000_000_000),
        ("100mbit/s", 100_000_000),
        ("64 kbit", 64_000),
    ] {
        let l = load(&connection(&format!("bandwidth = \"{text}\"")));
        let dx = l.topology.dx_connection.expect("a connection");
        assert_eq!(dx.bandwidth.as_deref(), Some(text), "{text}");
        assert_eq!(dx.bandwidth_bps, Some(bps), "{text}");
    }
}

#[test]
fn bad_rates_are_errors_with_the_form() {
    for (value, message) in [
        ("\"10g\"", "`10g` is not a rate"),
        ("\"1GB\"", "`1GB` is not a rate"),
        ("\"fast\"", "`fast` is not a rate"),
        ("\"1e9bps\"", "`1e9bps` is not a rate"),
        ("\"Gbps\"", "`Gbps` is not a rate"),
        ("1000", "`1000` is not a rate"),
        ("\"1000\"", "`1000` is not a rate"),
        ("\"0bps\"", "bandwidth 0bps is out of range"),
        ("\"999bps\"", "bandwidth 999bps is out of range"),
        ("\"-1Gbps\"", "bandwidth -1Gbps is out of range"),
        ("\"1001Gbps\"", "bandwidth 1001Gbps is out of range"),
    ] {
        let got = errors(&connection(&format!("bandwidth = {value}")));
        assert_eq!(got.len(), 1, "{value}: {got:?}");
        assert!(got[0].ends_with(message), "{value}: {got:?}");
    }
    // the hint gives the form, or the rate meant
    let hint = |value: &str| match parse(&connection(&format!("bandwidth = {value}"))) {
        Err(d) => d.0[0].hint.clone().unwrap_or_default(),
        Ok(_) => panic!("{value} loads"),
    };
    assert_eq!(hint("\"10g\""), "did you mean \"10Gbps\"?");
    assert_eq!(hint("\"100 M\""), "did you mean \"100Mbps\"?");
    assert!(
        hint("\"fast\"").contains("\"10Gbps\""),
        "{}",
        hint("\"fast\"")
    );
    assert!(hint("1000").contains("bandwidth = \"1000Mbps\""));
}

#[test]
fn latency_jitter_and_loss_land_in_the_model() {
    let l = load(&connection(
        "latency = \"1.5ms\"\njitter = \"250us\"\nloss = \"0.1%\"",
    ));
    assert!(warnings(&l).is_empty(), "{:?}", warnings(&l));
    let dx = l.topology.dx_connection.expect("a connection");
    assert_eq!(dx.latency, Some(Duration::from_micros(1500)));
    assert_eq!(dx.jitter, Some(Duration::from_micros(250)));
    assert_eq!(dx.loss_percent, Some(0.1));
    assert_eq!(dx.bandwidth, None);
    assert_eq!(dx.bandwidth_bps, None);

    for (text, d) in [
        ("1s", Duration::from_secs(1)),
        ("10s", Duration::from_secs(10)),
        ("0s", Duration::ZERO),
        ("0ms", Duration::ZERO),
        ("2µs", Duration::from_micros(2)),
        ("0.000001s", Duration::from_micros(1)),
    ] {
        let l = load(&connection(&format!("latency = \"{text}\"")));
        assert_eq!(
            l.topology.dx_connection.expect("dx").latency,
            Some(d),
            "{text}"
        );
    }
    for (text, pct) in [("0%", 0.0), ("100%", 100.0), ("1 %", 1.0), ("12.5%", 12.5)] {
        let l = load(&connection(&format!("loss = \"{text}\"")));
        assert_eq!(
            l.topology.dx_connection.expect("dx").loss_percent,
            Some(pct),
            "{text}"
        );
    }
}

#[test]
fn bad_durations_and_percentages_are_errors() {
    for (field, value, message) in [
        ("latency", "2", "`2` is not a duration"),
        ("latency", "\"2\"", "`2` is not a duration"),
        ("latency", "\"2 sec\"", "`2 sec` is not a duration"),
        ("latency", "\"10.001s\"", "latency 10.001s is out of range"),
        ("latency", "\"-1ms\"", "latency -1ms is out of range"),
        ("jitter", "\"1m\"", "`1m` is not a duration"),
        ("jitter", "\"11s\"", "jitter 11s is out of range"),
        ("loss", "1", "`1` is not a percentage"),
        ("loss", "0.5", "`0.5` is not a percentage"),
        ("loss", "\"1\"", "`1` is not a percentage"),
        ("loss", "\"one%\"", "`one%` is not a percentage"),
        ("loss", "\"100.1%\"", "loss 100.1% is out of range"),
        ("loss", "\"-1%\"", "loss -1% is out of range"),
    ] {
        let got = errors(&connection(&format!("{field} = {value}")));
        assert_eq!(got.len(), 1, "{field} = {value}: {got:?}");
        assert!(got[0].ends_with(message), "{field} = {value}: {got:?}");
    }
    // a bare number's hint says to write a percentage
    let Err(d) = parse(&connection("loss = 1")) else {
        panic!("loss = 1 loads");
    };
    let hint = d.0[0].hint.clone().unwrap_or_default();
    assert!(hint.contains("write \"1%\""), "{hint}");
    let Err(d) = parse(&connection("loss = 5")) else {
        panic!("loss = 5 loads");
    };
    assert_eq!(
        d.0[0].hint.as_deref(),
        Some("loss is a percentage in a string: write \"5%\"")
    );
}

#[test]
fn jitter_larger_than_latency_is_a_warning() {
    let over = load(&connection("latency = \"1ms\"\njitter = \"1.5ms\""));
    let w = warnings(&over);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].ends_with(
            "warning: jitter 1.5ms is more than latency 1ms: delays that would fall below zero are zero"
        ),
        "{w:?}"
    );
    // the values are still used
    assert_eq!(
        over.topology.dx_connection.expect("dx").jitter,
        Some(Duration::from_micros(1500))
    );

    let alone = load(&connection("jitter = \"1ms\""));
    let w = warnings(&alone);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].contains("is more than latency 0s"), "{w:?}");

    let equal = load(&connection("latency = \"1ms\"\njitter = \"1ms\""));
    assert!(warnings(&equal).is_empty());
}

// ---- [sim] -------------------------------------------------------------------

#[test]
fn without_sim_the_defaults_apply() {
    let l = load("");
    assert_eq!(l.topology.sim, SimSettings::default());
    assert_eq!(l.topology.sim.load_balancer, LoadBalancerMode::Listener);
    assert!(l.topology.sim.start.is_empty());
    let l = load("[sim]\nload_balancer = \"listener\"");
    assert_eq!(l.topology.sim.load_balancer, LoadBalancerMode::Listener);
    let l = load("[sim]");
    assert_eq!(l.topology.sim, SimSettings::default());
}

#[test]
fn start_commands_name_any_node_asg_instances_included() {
    let l = load(
        r#"
[sim]
load_balancer = "haproxy"

[[sim.start]]
nodes = ["web-a1", "web-c1"]
command = "python3 -m http.server 80"
tcp_ports = [80]

[[sim.start]]
node = "app-1"
command = "iperf3 -s"
tcp_ports = [5201]
udp_ports = [5201]

[[sim.start]]
node = "pc"
command = "sleep infinity"
"#,
    );
    assert!(warnings(&l).is_empty(), "{:?}", warnings(&l));
    let t = &l.topology;
    assert_eq!(t.sim.load_balancer, LoadBalancerMode::Haproxy);
    assert_eq!(t.sim.start.len(), 3);
    let [web, app, pc] = [&t.sim.start[0], &t.sim.start[1], &t.sim.start[2]];
    assert_eq!(web.nodes, vec![id(t, "web-a1"), id(t, "web-c1")]);
    assert_eq!(app.nodes, vec![id(t, "app-1")]);
    assert_eq!(app.command, "iperf3 -s");
    assert_eq!(
        (app.tcp_ports.clone(), app.udp_ports.clone()),
        (vec![5201], vec![5201])
    );
    assert_eq!(pc.nodes, vec![id(t, "pc")]);
    assert!(pc.tcp_ports.is_empty() && pc.udp_ports.is_empty());
    assert!(web.line < app.line && app.line < pc.line);
    assert_eq!(t.sim.udp_ports_of(id(t, "app-1")), vec![5201]);
}

#[test]
fn inline_start_entries_are_accepted() {
    let l = load(
        "[sim]\nstart = [{ node = \"pc\", command = \"true\" }, { nodes = [\"web-a1\"], command = \"true\", tcp_ports = [8080] }]",
    );
    assert_eq!(l.topology.sim.start.len(), 2);
    assert_eq!(l.topology.sim.start[1].tcp_ports, vec![8080]);
}

#[test]
fn a_port_may_repeat_across_nodes_and_protocols() {
    let l = load(
        r#"
[[sim.start]]
node = "web-a1"
command = "a"
tcp_ports = [80]

[[sim.start]]
node = "web-c1"
command = "b"
tcp_ports = [80]
udp_ports = [80]

[[sim.start]]
node = "web-c1"
command = "c"
udp_ports = [53]
"#,
    );
    assert!(warnings(&l).is_empty(), "{:?}", warnings(&l));
    assert_eq!(l.topology.sim.start.len(), 3);
}

#[test]
fn a_port_served_twice_on_one_node_is_an_error_for_udp_too() {
    let got = errors(
        r#"
[[sim.start]]
nodes = ["web-a1", "web-c1"]
command = "a"
udp_ports = [53]

[[sim.start]]
node = "web-c1"
command = "b"
udp_ports = [53]
"#,
    );
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].contains(
            "error: UDP port 53 of node `web-c1` is already served by the start command on line"
        ),
        "{got:?}"
    );
}

#[test]
fn repeats_within_an_entry_are_warnings() {
    let l = load(
        r#"
[[sim.start]]
nodes = ["web-a1", "web-a1"]
command = "a"
tcp_ports = [80, 80]
"#,
    );
    let w = warnings(&l);
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(
        w[0].ends_with("warning: node `web-a1` is listed twice"),
        "{w:?}"
    );
    assert!(
        w[1].ends_with("warning: TCP port 80 is listed twice"),
        "{w:?}"
    );
    let s = &l.topology.sim.start[0];
    assert_eq!(s.nodes.len(), 1);
    assert_eq!(s.tcp_ports, vec![80]);
}

#[test]
fn bad_start_entries_are_errors() {
    for (entry, message) in [
        (
            "nodes = []\ncommand = \"a\"",
            "error: a start command with no node",
        ),
        ("command = \"a\"", "error: a start command with no node"),
        (
            "node = \"pc\"\nnodes = [\"pc\"]\ncommand = \"a\"",
            "error: a start command with both `node` and `nodes`",
        ),
        (
            "node = \"pc\"\ncommand = \"\"",
            "error: empty start command",
        ),
        (
            "node = \"web-a3\"\ncommand = \"a\"",
            "error: unknown node `web-a3`",
        ),
        (
            "node = \"pc\"\ncommand = \"a\"\ntcp_ports = [0]",
            "error: port 0 is out of range",
        ),
        (
            "node = \"pc\"\ncommand = \"a\"\nudp_ports = [65536]",
            "error: port 65536 is out of range",
        ),
    ] {
        let got = errors(&format!("[[sim.start]]\n{entry}"));
        assert_eq!(got.len(), 1, "{entry}: {got:?}");
        assert!(got[0].ends_with(message), "{entry}: {got:?}");
    }
    // an unknown mode suggests the nearest, lower case
    let Err(d) = parse("[sim]\nload_balancer = \"HAProxy\"") else {
        panic!("HAProxy loads");
    };
    assert!(d.0[0]
        .headline()
        .ends_with("error: unknown load balancer mode `HAProxy`"));
    assert_eq!(d.0[0].hint.as_deref(), Some("did you mean `haproxy`?"));
    // an unknown node suggests among node names, ASG instances included
    let Err(d) = parse("[[sim.start]]\nnode = \"web-c2\"\ncommand = \"a\"") else {
        panic!("web-c2 loads");
    };
    assert_eq!(d.0[0].hint.as_deref(), Some("did you mean `web-c1`?"));
    // a missing command is a format error
    let got = errors("[[sim.start]]\nnode = \"pc\"");
    assert!(got[0].contains("missing field `command`"), "{got:?}");
    // an unknown key too
    let got = errors("[sim]\nload_balancers = \"haproxy\"");
    assert!(got[0].contains("unknown field `load_balancers`"), "{got:?}");
}
