//! CloudFormation import: our own templates (`tests/cfn/resources-*.yaml`)
//! and real third-party ones (`tests/fixtures/cfn/`, read in place),
//! through the library and through `vifgate topology import-cfn`. Each
//! import must load, and its analysis must say what the template means.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use topology::analysis::{reach, Reach, Service, Target, Verdict};
use topology::cfn::mapping::{self, MapOptions};
use topology::cfn::{eval, Evaluated, ImportOptions, ImportWarning};
use topology::Loaded;

mod common;
#[path = "cfn_import/stacks.rs"]
mod stacks;

// ------------------------------------------------------------- helpers ----

/// An import through the library.
struct Imported {
    text: String,
    warnings: Vec<ImportWarning>,
    loaded: Loaded,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Imports a template with parameters, merges `office` (TOML text) over it
/// when given, and loads the result; panics with the diagnostics.
fn import(path: &Path, params: &[(&str, &str)], office: Option<&str>) -> Imported {
    let src = topology::diag::read_source(path).unwrap_or_else(|d| panic!("{d}"));
    let opts = ImportOptions {
        params: params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..ImportOptions::default()
    };
    let ev = eval::evaluate(&src, &opts).unwrap_or_else(|d| panic!("{d}"));
    map_and_load(&ev, ev.warnings.clone(), office)
}

/// Maps an evaluated template (or deployment), merges `office` when
/// given, and loads the result; the warnings are the evaluation's plus the
/// mapping's. Panics with the diagnostics.
fn map_and_load(
    ev: &Evaluated,
    eval_warnings: Vec<ImportWarning>,
    office: Option<&str>,
) -> Imported {
    let map_opts = MapOptions {
        office_placeholder: office.is_none(),
    };
    let (table, mut warnings) = mapping::to_topology_with(ev, &map_opts);
    warnings.extend(eval_warnings);
    let table = match office {
        Some(o) => {
            let o = mapping::parse_table(o).expect("the test's office TOML");
            mapping::merge(table, o).unwrap_or_else(|e| panic!("merge: {e}"))
        }
        None => table,
    };
    let text = mapping::render(&table);
    let loaded = topology::parse("import.toml", text.clone())
        .unwrap_or_else(|d| panic!("the import does not load:\n{d}\n{text}"));
    assert!(!loaded.warnings.has_errors(), "{}", loaded.warnings);
    Imported {
        text,
        warnings,
        loaded,
    }
}

fn own(name: &str) -> PathBuf {
    root().join("tests/cfn").join(name)
}

fn trace(t: &Imported, from: &str, to: &str, s: Service) -> Reach {
    let topo = &t.loaded.topology;
    let f = topo
        .node_by_name(from)
        .unwrap_or_else(|| panic!("no node {from}\n{}", t.text));
    let target = match to.parse() {
        Ok(a) => Target::Addr(a),
        Err(_) => Target::Node(
            topo.node_by_name(to)
                .unwrap_or_else(|| panic!("no node {to}\n{}", t.text)),
        ),
    };
    reach(topo, f, target, s)
}

/// Asserts a verdict, printing the reason when it differs.
fn expect(t: &Imported, from: &str, to: &str, s: Service, want: Verdict) {
    let r = trace(t, from, to, s);
    assert_eq!(
        r.verdict, want,
        "{from} -> {to} {}: {:?}\n{}",
        r.service, r.reason, t.text
    );
}

fn warned(t: &Imported, id: &str, needle: &str) -> bool {
    t.warnings
        .iter()
        .any(|w| w.logical_id == id && w.message.contains(needle))
}

fn assert_warned(t: &Imported, id: &str, needle: &str) {
    assert!(
        warned(t, id, needle),
        "no warning on {id} with `{needle}`: {:#?}",
        t.warnings
    );
}

/// Whether the request's hops pass a node.
fn via(r: &Reach, node: &str) -> bool {
    r.hops.iter().any(|h| h.node == node)
}

fn vifgate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vifgate"))
        .current_dir(root())
        .args(args)
        .output()
        .expect("the vifgate binary runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A fresh temporary directory for one test.
fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vifgate-cfn-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Imports with the binary into `out`, then `topology check`s it: both
/// succeed. Returns the import's standard error (the warnings).
fn import_and_check(template: &Path, extra: &[&str], out: &Path) -> String {
    let t = template.to_str().expect("utf-8 path");
    let o = out.to_str().expect("utf-8 path");
    let mut args = vec!["topology", "import-cfn", t, "-o", o];
    args.extend_from_slice(extra);
    let imp = vifgate(&args);
    assert!(
        imp.status.success(),
        "import-cfn {t} failed:\n{}{}",
        text(&imp.stdout),
        text(&imp.stderr)
    );
    let chk = vifgate(&["topology", "check", o]);
    assert!(
        chk.status.success(),
        "check {o} failed:\n{}{}",
        text(&chk.stdout),
        text(&chk.stderr)
    );
    assert!(!text(&chk.stdout).contains("FAIL"), "{}", text(&chk.stdout));
    text(&imp.stderr)
}

// ------------------------------------------------------- own templates ----

#[test]
fn web_stack_maps_every_tier_and_means_what_it_says() {
    let t = import(&own("resources-web.yaml"), &[], None);
    let topo = &t.loaded.topology;
    assert_eq!(topo.subnets.len(), 6);
    for node in [
        "bastion",
        "nat",
        "alb",
        "web-group-a1",
        "web-group-b1",
        "db-primary",
        "db-standby",
        "internet",
    ] {
        assert!(topo.node_by_name(node).is_some(), "no {node}\n{}", t.text);
    }
    assert!(t.text.contains("target_port = 8080"), "{}", t.text);
    assert!(t.text.contains("port = 5432"), "{}", t.text);

    // the ALB: HTTPS forwards to the web tier; the HTTP redirect is not
    // modeled, so the analysis refuses port 80 (and a warning says so)
    expect(&t, "internet", "alb", Service::Tcp(443), Verdict::Accepted);
    expect(&t, "internet", "alb", Service::Tcp(80), Verdict::Denied);
    assert_warned(&t, "HttpListener", "redirect");
    expect(
        &t,
        "alb",
        "web-group-a1",
        Service::Tcp(8080),
        Verdict::Accepted,
    );
    expect(&t, "alb", "web-group-b1", Service::Tcp(22), Verdict::Denied);
    // the bastion: SSH from the admins' block (the internet node is in it)
    expect(
        &t,
        "internet",
        "bastion",
        Service::Tcp(22),
        Verdict::Accepted,
    );
    expect(
        &t,
        "bastion",
        "web-group-b1",
        Service::Tcp(22),
        Verdict::Accepted,
    );
    expect(
        &t,
        "bastion",
        "db-primary",
        Service::Tcp(5432),
        Verdict::Denied,
    );
    // the database: from the web tier only, never to the internet
    expect(
        &t,
        "web-group-a1",
        "db-primary",
        Service::Tcp(5432),
        Verdict::Accepted,
    );
    expect(
        &t,
        "web-group-b1",
        "db-standby",
        Service::Tcp(5432),
        Verdict::Accepted,
    );
    expect(
        &t,
        "web-group-a1",
        "db-primary",
        Service::Tcp(3306),
        Verdict::Denied,
    );
    // its group sends only ICMP inside the VPC, and its subnets have no
    // default route either
    expect(
        &t,
        "db-primary",
        "internet",
        Service::Tcp(443),
        Verdict::Denied,
    );
    assert!(t.text.contains("name = \"db-routes\"\n\n"), "{}", t.text);
    expect(
        &t,
        "internet",
        "db-primary",
        Service::Tcp(5432),
        Verdict::NoRoute,
    );
    // the web tier reaches the internet through the NAT gateway only
    let r = trace(&t, "web-group-a1", "internet", Service::Tcp(443));
    assert_eq!(r.verdict, Verdict::Accepted, "{:?}", r.reason);
    assert!(via(&r, "nat"), "{:?}", r.hops);
    expect(
        &t,
        "internet",
        "web-group-a1",
        Service::Tcp(8080),
        Verdict::NoRoute,
    );

    assert_warned(&t, "FlowLogs", "not modeled");
    assert_warned(&t, "InstanceRole", "not a network resource");
    assert_warned(&t, "Db", "AWS picks among the subnets");
    assert_warned(&t, "Nat", "placeholders");
    // the launch template and target group are used: no warning for them
    assert!(!t.warnings.iter().any(|w| w.logical_id == "WebTemplate"
        || w.logical_id == "WebTargets"
        || w.logical_id == "DbSubnets"
        || w.logical_id == "BastionEip"));
}

#[test]
fn web_stack_parameters_change_the_ports() {
    let t = import(&own("resources-web.yaml"), &[("WebPort", "9000")], None);
    assert!(t.text.contains("target_port = 9000"), "{}", t.text);
    expect(
        &t,
        "alb",
        "web-group-a1",
        Service::Tcp(9000),
        Verdict::Accepted,
    );
    expect(
        &t,
        "alb",
        "web-group-a1",
        Service::Tcp(8080),
        Verdict::Denied,
    );
}

#[test]
fn rule_forms_map_to_the_same_rules() {
    let t = import(&own("resources-rules.yaml"), &[], None);
    // numbers, GetAtt GroupId, prefix lists, ICMP type, a protocol number
    expect(
        &t,
        "client",
        "server",
        Service::Tcp(8050),
        Verdict::Accepted,
    );
    expect(&t, "client", "server", Service::Tcp(22), Verdict::Accepted);
    expect(
        &t,
        "other-client",
        "server",
        Service::Tcp(22),
        Verdict::Denied,
    );
    expect(
        &t,
        "other-client",
        "server",
        Service::Udp(53),
        Verdict::Accepted,
    );
    expect(
        &t,
        "other-client",
        "server",
        Service::Tcp(3389),
        Verdict::Accepted,
    );
    expect(
        &t,
        "other-client",
        "server",
        Service::IcmpEcho,
        Verdict::Accepted,
    );
    // standalone egress rules add to the clients' allow-all egress rule
    // (the group has no inline egress), so they restrict nothing: the
    // servers' 3389 rule decides, and a warning says the rules are moot
    expect(
        &t,
        "client",
        "server",
        Service::Tcp(3389),
        Verdict::Accepted,
    );
    for id in ["ClientToServers", "ClientSsh", "ClientDns"] {
        assert_warned(&t, id, "keeps its default allow-all egress rule");
    }
    // what CloudFormation would not create, or the topology cannot hold
    assert_warned(&t, "ServerSg", "ingress rule 6: an IPv6 peer");
    assert_warned(&t, "ServerSg", "ingress rule 7: names no peer");
    assert_warned(&t, "ServerSg", "ingress rule 8: prefix list pl-63a5400a");
    assert_warned(&t, "ServerSg", "host bits set");
    assert_warned(&t, "Orphan", "not an imported security group");
    assert_warned(&t, "InIpv6", "IPv6");
    assert_warned(&t, "InDuplicate", "already used");
    assert_warned(&t, "OtherVpc", "a second VPC");
    assert_warned(&t, "OtherSubnet", "not imported");
    assert_warned(&t, "Stray", "not an imported subnet");
    assert_warned(&t, "Clients", "AWS picks one");
    assert_warned(&t, "Bucket", "not a network resource");
    // the ACL: the telnet deny comes first, the echo rule keeps its code
    assert!(t.text.contains(
        "{ rule = 50, action = \"deny\", protocol = \"tcp\", ports = 23, cidr = \"0.0.0.0/0\" }"
    ), "{}", t.text);
    assert!(
        t.text.contains("icmp_type = 8, icmp_code = 0"),
        "{}",
        t.text
    );
    // entries on GetAtt Vpc.DefaultNetworkAcl: a declared default ACL
    assert!(t.text.contains("name = \"default\""), "{}", t.text);
}

/// The office side of the hybrid template, for `--merge`.
const HYBRID_OFFICE: &str = r#"
name = "hybrid-with-office"

[[site]]
name = "hq"

[[site.lan]]
name = "staff"
cidr = "192.168.10.0/24"

[[site.gateway]]
name = "office-cgw"
interfaces = [{ lan = "staff", ip = "192.168.10.1" }]
security_groups = ["office-edge"]

[[site.host]]
name = "pc"
lan = "staff"
ip = "192.168.10.10"

[[security_group]]
name = "office-edge"
ingress = []

[[direct_connect.vif]]
name = "dx-vif"
advertised_prefixes = ["192.168.10.0/24"]

[[direct_connect.vif]]
name = "dx-vif-on-gateway"
state = "down"

[[expect]]
from = "pc"
to = "app"
protocol = "tcp"
port = 22
verdict = "ACCEPTED"

[[expect]]
from = "pc"
to = "app"
protocol = "tcp"
port = 80
verdict = "DENIED"

[[expect]]
from = "app"
to = "pc"
protocol = "tcp"
port = 22
verdict = "DENIED"
description = "the office edge admits nothing the VPC opens"
"#;

#[test]
fn hybrid_vpn_and_vif_end_on_a_placeholder_or_the_merged_office() {
    let t = import(&own("resources-hybrid.yaml"), &[], None);
    let topo = &t.loaded.topology;
    assert_eq!(topo.vifs.len(), 2);
    assert!(t.text.contains("[vpn]"), "{}", t.text);
    assert!(
        t.text.contains("customer_gateway = \"office-cgw\""),
        "{}",
        t.text
    );
    assert!(
        t.text.contains("tunnel_inside_cidr = \"169.254.44.0/30\""),
        "{}",
        t.text
    );
    assert!(t.text.contains("propagate_vgw = true"), "{}", t.text);
    assert!(t.text.contains("source_dest_check = false"), "{}", t.text);
    assert_warned(&t, "OfficeCgw", "placeholder site");
    assert_warned(&t, "ToPartners", "transit gateway");
    assert_warned(&t, "ToPeer", "VPC peering");
    assert_warned(&t, "DxVif", "AuthKey is not copied");
    assert!(!t.text.contains("do-not-copy-me"));
    assert_warned(&t, "DxGateway", "not modeled");
    assert_warned(&t, "DxVifOnGateway", "attached straight to the VGW");
    assert_warned(&t, "DxVifOnGateway", "AWS assigns them");

    let m = import(&own("resources-hybrid.yaml"), &[], Some(HYBRID_OFFICE));
    assert!(!m.text.contains("placeholder"));
    expect(&m, "pc", "app", Service::Tcp(22), Verdict::Accepted);
    expect(&m, "pc", "app", Service::Tcp(443), Verdict::Accepted);
    expect(&m, "pc", "app", Service::Tcp(80), Verdict::Denied);
    expect(&m, "app", "pc", Service::Tcp(22), Verdict::Denied);
    let r = trace(&m, "pc", "app", Service::Tcp(22));
    assert!(
        via(&r, "dx-vif"),
        "Direct Connect is preferred: {:?}",
        r.hops
    );
}

// ------------------------------------------------------------ fixtures ----

/// Test instances for the managed-NAT VPC.
const MANAGED_NAT_PROBES: &str = r#"
[[vpc.instance]]
name = "private-probe"
subnet = "private-subnet-0"
ip = "10.0.2.50"

[[vpc.instance]]
name = "public-probe"
subnet = "public-subnet-1"
ip = "10.0.1.50"
public_ip = "203.0.113.150"
"#;

#[test]
fn aws_templates_managed_nat_routes_private_subnets_through_nat() {
    let Some(dir) = common::cfn_fixture_dir(&["aws-templates-vpc-managed-nat.yaml"]) else {
        return;
    };
    let t = import(
        &dir.join("aws-templates-vpc-managed-nat.yaml"),
        &[],
        Some(MANAGED_NAT_PROBES),
    );
    let topo = &t.loaded.topology;
    assert_eq!(topo.subnets.len(), 4);
    assert!(t.text.contains(
        "[[vpc.route_table]]\nname = \"public-route-table\"\nroutes = [\n  { prefix = \"0.0.0.0/0\", target = \"internet-gateway\" },\n]"
    ), "{}", t.text);
    let r = trace(&t, "private-probe", "internet", Service::Tcp(443));
    assert_eq!(r.verdict, Verdict::Accepted, "{:?}", r.reason);
    assert!(via(&r, "nat-gateway-0"), "{:?}", r.hops);
    expect(
        &t,
        "internet",
        "private-probe",
        Service::Tcp(22),
        Verdict::NoRoute,
    );
    let r = trace(&t, "public-probe", "internet", Service::Tcp(443));
    assert_eq!(r.verdict, Verdict::Accepted, "{:?}", r.reason);
    assert!(!via(&r, "nat-gateway-1"), "{:?}", r.hops);
    // the default group admits only its members
    expect(
        &t,
        "internet",
        "public-probe",
        Service::Tcp(22),
        Verdict::Denied,
    );
    expect(
        &t,
        "public-probe",
        "private-probe",
        Service::Tcp(22),
        Verdict::Accepted,
    );
    // nothing but the placeholder addresses is warned about
    let ids: Vec<&str> = t.warnings.iter().map(|w| w.logical_id.as_str()).collect();
    assert_eq!(ids, ["NATGateway0"], "{:#?}", t.warnings);
}

#[test]
fn aws_templates_managed_nat_yaml_and_json_import_alike() {
    let Some(dir) = common::cfn_fixture_dir(&[
        "aws-templates-vpc-managed-nat.yaml",
        "aws-templates-vpc-managed-nat.json",
    ]) else {
        return;
    };
    let yaml = import(&dir.join("aws-templates-vpc-managed-nat.yaml"), &[], None);
    let json = import(&dir.join("aws-templates-vpc-managed-nat.json"), &[], None);
    // only the stack name (the file stem) is the same; the rest must match
    assert_eq!(yaml.text, json.text);
}

/// Test instances carrying startup-kit's security groups.
const STARTUP_KIT_PROBES: &str = r#"
[[vpc.instance]]
name = "elb-node"
subnet = "public-subnet-1"
ip = "10.50.0.50"
security_groups = ["elb-security-group"]

[[vpc.instance]]
name = "app-1"
subnet = "private-subnet-1"
ip = "10.50.64.50"
security_groups = ["app-security-group"]

[[vpc.instance]]
name = "bastion-1"
subnet = "public-subnet-2"
ip = "10.50.1.50"
public_ip = "203.0.113.150"
security_groups = ["bastion-security-group"]

[[vpc.instance]]
name = "db-1"
subnet = "private-subnet-2"
ip = "10.50.96.50"
security_groups = ["db-security-group"]

[[vpc.instance]]
name = "other"
subnet = "private-subnet-1"
ip = "10.50.64.60"
"#;

const STARTUP_KIT_AZS: [(&str, &str); 2] = [
    ("AvailabilityZone1", "us-east-1a"),
    ("AvailabilityZone2", "us-east-1b"),
];

#[test]
fn startup_kit_groups_admit_only_what_their_rules_say() {
    let Some(dir) = common::cfn_fixture_dir(&["startup-kit-vpc.yaml"]) else {
        return;
    };
    let t = import(
        &dir.join("startup-kit-vpc.yaml"),
        &STARTUP_KIT_AZS,
        Some(STARTUP_KIT_PROBES),
    );
    // the app tier: the ELB on the app port, the bastion on SSH
    expect(&t, "elb-node", "app-1", Service::Tcp(80), Verdict::Accepted);
    expect(&t, "elb-node", "app-1", Service::Tcp(22), Verdict::Denied);
    expect(
        &t,
        "bastion-1",
        "app-1",
        Service::Tcp(22),
        Verdict::Accepted,
    );
    expect(&t, "bastion-1", "app-1", Service::Tcp(80), Verdict::Denied);
    expect(&t, "other", "app-1", Service::Tcp(80), Verdict::Denied);
    // the database: PostgreSQL and MySQL from the app tier and the bastion
    for port in [5432, 3306] {
        expect(&t, "app-1", "db-1", Service::Tcp(port), Verdict::Accepted);
        expect(
            &t,
            "bastion-1",
            "db-1",
            Service::Tcp(port),
            Verdict::Accepted,
        );
        expect(&t, "other", "db-1", Service::Tcp(port), Verdict::Denied);
        expect(&t, "elb-node", "db-1", Service::Tcp(port), Verdict::Denied);
    }
    expect(&t, "app-1", "db-1", Service::Tcp(22), Verdict::Denied);
    // the ELB's group has no inline egress: its standalone egress rule
    // adds to the allow-all rule, which stays (a warning says so)
    // (SSH to the bastion, which admits it from anywhere)
    expect(
        &t,
        "elb-node",
        "bastion-1",
        Service::Tcp(22),
        Verdict::Accepted,
    );
    assert_warned(
        &t,
        "ELBSecurityGroupToAppEgress",
        "keeps its default allow-all egress rule",
    );
    // the bastion's group has inline egress: its standalone egress rules
    // only add to those, with no warning
    expect(
        &t,
        "bastion-1",
        "internet",
        Service::Tcp(8080),
        Verdict::Denied,
    );
    assert!(
        !warned(&t, "BastionSecurityGroupToAppEgress", "allow-all"),
        "{:#?}",
        t.warnings
    );
    // the database sends only MySQL and PostgreSQL
    expect(&t, "db-1", "internet", Service::Tcp(443), Verdict::Denied);
    // SSH from anywhere (SSHFrom 0.0.0.0/0) to the bastion in a public subnet
    expect(
        &t,
        "internet",
        "bastion-1",
        Service::Tcp(22),
        Verdict::Accepted,
    );
    // one NAT gateway (SingleNatGateway) for both private subnets
    let r = trace(&t, "app-1", "internet", Service::Tcp(443));
    assert_eq!(r.verdict, Verdict::Accepted, "{:?}", r.reason);
    assert!(via(&r, "nat-gateway-1"), "{:?}", r.hops);
    // the standalone ingress rules repeat inline ones: kept once
    assert_warned(&t, "AppSecurityGroupFromELBIngress", "kept once");
    assert_warned(&t, "AppSecurityGroupFromBastionIngress", "kept once");
}

#[test]
fn startup_kit_with_two_nat_gateways_gives_each_zone_its_own() {
    let Some(dir) = common::cfn_fixture_dir(&["startup-kit-vpc.yaml"]) else {
        return;
    };
    let mut params = STARTUP_KIT_AZS.to_vec();
    params.push(("SingleNatGateway", "false"));
    let t = import(
        &dir.join("startup-kit-vpc.yaml"),
        &params,
        Some(STARTUP_KIT_PROBES),
    );
    let r = trace(&t, "db-1", "internet", Service::Tcp(3306));
    assert_eq!(r.verdict, Verdict::Accepted, "{:?}", r.reason);
    assert!(via(&r, "nat-gateway-2"), "{:?}", r.hops);
}

#[test]
fn startup_kit_bastion_alone_has_no_network_to_place_its_host() {
    let Some(dir) = common::cfn_fixture_dir(&["startup-kit-bastion.yaml"]) else {
        return;
    };
    let t = import(
        &dir.join("startup-kit-bastion.yaml"),
        &[("NetworkStackName", "net"), ("KeyName", "ops")],
        None,
    );
    assert!(t.loaded.topology.nodes.is_empty(), "{}", t.text);
    assert_warned(&t, "BastionHost", "Fn::ImportValue");
    assert_warned(
        &t,
        "BastionEipAssociation",
        "not associated with an imported instance",
    );
    for id in [
        "LogRole",
        "BastionInstanceProfile",
        "BastionSecureLogGroup",
        "SshInvalidhUserAlarm",
    ] {
        assert_warned(&t, id, "not a network resource");
    }
    let role = t
        .warnings
        .iter()
        .find(|w| w.logical_id == "LogRole")
        .expect("a warning");
    assert_eq!(role.line, 81);
}

/// A probe in each private and public subnet of widdix's VPC.
const WIDDIX_PROBES: &str = r#"
[[vpc.instance]]
name = "private-probe"
subnet = "subnet-a-private"
ip = "10.42.16.50"

[[vpc.instance]]
name = "public-probe"
subnet = "subnet-b-public"
ip = "10.42.32.50"
"#;

#[test]
fn widdix_public_subnets_reach_the_internet_and_private_ones_do_not() {
    let Some(dir) = common::cfn_fixture_dir(&["widdix-vpc-2azs.yaml"]) else {
        return;
    };
    let t = import(
        &dir.join("widdix-vpc-2azs.yaml"),
        &[("ClassB", "42")],
        Some(WIDDIX_PROBES),
    );
    assert!(t.text.contains("cidr = \"10.42.0.0/16\""), "{}", t.text);
    // no NAT gateway in this template: the private subnets' tables hold
    // only an IPv6 route, which is not modeled
    expect(
        &t,
        "private-probe",
        "internet",
        Service::Tcp(443),
        Verdict::NoRoute,
    );
    expect(
        &t,
        "public-probe",
        "private-probe",
        Service::Tcp(22),
        Verdict::Accepted,
    );
    // the ACLs allow all IPv4 (rule 99); their IPv6 entries are skipped
    assert!(t.text.contains("rule = 99"), "{}", t.text);
    for id in [
        "VPCCidrBlock",
        "EgressOnlyInternetGateway",
        "SubnetAPublic",
        "RouteTablePublicAInternetRouteIPv6",
        "NetworkAclEntryInPublicAllowAllIPv6",
    ] {
        assert_warned(&t, id, "IPv6");
    }
}

#[test]
fn widdix_public_instance_gets_a_public_address() {
    let Some(dir) = common::cfn_fixture_dir(&["widdix-vpc-2azs.yaml"]) else {
        return;
    };
    let probe = r#"
[[vpc.instance]]
name = "public-probe"
subnet = "subnet-a-public"
ip = "10.0.0.50"
public_ip = "203.0.113.150"
"#;
    let t = import(&dir.join("widdix-vpc-2azs.yaml"), &[], Some(probe));
    expect(
        &t,
        "public-probe",
        "internet",
        Service::Tcp(443),
        Verdict::Accepted,
    );
}

#[test]
fn ecs_refarch_gives_each_private_subnet_its_zones_nat_gateway() {
    let Some(dir) = common::cfn_fixture_dir(&["ecs-refarch-vpc.yaml"]) else {
        return;
    };
    let probes = r#"
[[vpc.instance]]
name = "task-1"
subnet = "private-subnet-1"
ip = "10.192.20.50"

[[vpc.instance]]
name = "task-2"
subnet = "private-subnet-2"
ip = "10.192.21.50"
"#;
    let t = import(
        &dir.join("ecs-refarch-vpc.yaml"),
        &[("EnvironmentName", "prod")],
        Some(probes),
    );
    for (task, nat) in [("task-1", "nat-gateway-1"), ("task-2", "nat-gateway-2")] {
        let r = trace(&t, task, "internet", Service::Tcp(443));
        assert_eq!(r.verdict, Verdict::Accepted, "{:?}", r.reason);
        assert!(via(&r, nat), "{task}: {:?}", r.hops);
    }
    expect(&t, "internet", "task-1", Service::Tcp(80), Verdict::NoRoute);
}

// -------------------------------------------------------------- binary ----

#[test]
fn cli_imports_every_fixture_into_a_file_that_checks() {
    let Some(dir) = common::cfn_fixture_dir(&[
        "aws-templates-vpc-managed-nat.yaml",
        "aws-templates-vpc-managed-nat.json",
        "startup-kit-vpc.yaml",
        "startup-kit-bastion.yaml",
        "widdix-vpc-2azs.yaml",
        "ecs-refarch-vpc.yaml",
    ]) else {
        return;
    };
    let out = temp("fixtures");
    let cases: [(&str, &[&str]); 6] = [
        ("aws-templates-vpc-managed-nat.yaml", &[]),
        ("aws-templates-vpc-managed-nat.json", &[]),
        (
            "startup-kit-vpc.yaml",
            &[
                "--param",
                "AvailabilityZone1=us-east-1a",
                "--param",
                "AvailabilityZone2=us-east-1b",
            ],
        ),
        (
            "startup-kit-bastion.yaml",
            &["--param", "NetworkStackName=net", "--param", "KeyName=ops"],
        ),
        ("widdix-vpc-2azs.yaml", &[]),
        ("ecs-refarch-vpc.yaml", &["--param", "EnvironmentName=prod"]),
    ];
    for (name, extra) in cases {
        let file = out.join(format!("{name}.toml"));
        let stderr = import_and_check(&dir.join(name), extra, &file);
        for line in stderr.lines() {
            assert!(
                line.contains(": warning: ") || line.starts_with("warning: "),
                "{name}: not a warning line: {line}"
            );
        }
    }
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn cli_imports_our_templates_and_checks_merged_expectations() {
    let out = temp("own");
    for name in [
        "resources-web.yaml",
        "resources-rules.yaml",
        "resources-hybrid.yaml",
    ] {
        import_and_check(&own(name), &[], &out.join(format!("{name}.toml")));
    }
    let office = out.join("office.toml");
    std::fs::write(&office, HYBRID_OFFICE).expect("write");
    let merged = out.join("merged.toml");
    import_and_check(
        &own("resources-hybrid.yaml"),
        &["--merge", office.to_str().expect("utf-8")],
        &merged,
    );
    let chk = vifgate(&["topology", "check", merged.to_str().expect("utf-8")]);
    assert!(
        text(&chk.stdout).contains("3 of 3 expectations hold"),
        "{}",
        text(&chk.stdout)
    );
    let written = std::fs::read_to_string(&merged).expect("read");
    assert!(written.contains("# merged with: "), "{written}");
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn cli_warnings_name_template_line_and_logical_id() {
    let o = vifgate(&["topology", "import-cfn", "tests/cfn/resources-web.yaml"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(
        err.contains("tests/cfn/resources-web.yaml:333: warning: InstanceRole: AWS::IAM::Role is not a network resource: ignored"),
        "{err}"
    );
    // the topology goes to standard output, with its header
    let out = text(&o.stdout);
    assert!(
        out.starts_with("# Generated by `vifgate topology import-cfn` from tests/cfn/resources-web.yaml\n# parameters: none (defaults)\n"),
        "{out}"
    );
    assert!(out.contains("\n[vpc]\n"), "{out}");
}

#[test]
fn cli_header_names_parameters_but_hides_no_echo_ones() {
    let o = vifgate(&[
        "topology",
        "import-cfn",
        "tests/cfn/resources-web.yaml",
        "--param",
        "WebPort=9000",
        "--param",
        "DbPassword=hunter2-secret",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(
        out.contains("# parameters: WebPort=9000 DbPassword=****\n"),
        "{out}"
    );
    assert!(!out.contains("hunter2"), "{out}");
}

#[test]
fn cli_refuses_resources_that_depend_on_each_other_naming_the_cycle() {
    let out = temp("circular");
    let o = out.join("circular.toml");
    let r = vifgate(&[
        "topology",
        "import-cfn",
        "tests/cfn/circular-groups.yaml",
        "-o",
        o.to_str().expect("utf-8"),
    ]);
    let err = text(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{err}");
    assert!(
        err.contains("tests/cfn/circular-groups.yaml:19:44: error: circular dependency between resources: App → Db → App"),
        "{err}"
    );
    assert!(
        err.contains("`Db` names `App` (Fn::GetAtt at tests/cfn/circular-groups.yaml:29:42)"),
        "{err}"
    );
    assert!(!o.exists(), "nothing is written");
}

#[test]
fn cli_refuses_a_region_or_zone_aws_does_not_name_so() {
    for (args, needle) in [
        (&["--region", ""][..], "--region `` is not a region name"),
        (
            &["--region", "us east 1"][..],
            "--region `us east 1` is not a region name",
        ),
        (
            &["--azs", "eu-west-1a,eu-west-1b"][..],
            "--azs `eu-west-1a` is not a zone of us-east-1",
        ),
        (
            &[
                "--region",
                "ap-northeast-2",
                "--azs",
                "ap-northeast-2a,us-east-1b",
            ][..],
            "--azs `us-east-1b` is not a zone of ap-northeast-2",
        ),
    ] {
        let mut a = vec!["topology", "import-cfn", "tests/cfn/resources-web.yaml"];
        a.extend_from_slice(args);
        let r = vifgate(&a);
        let err = text(&r.stderr);
        assert!(!r.status.success(), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(r.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn cli_fails_on_a_missing_parameter_and_a_merge_conflict() {
    let Some(dir) = common::cfn_fixture_dir(&["startup-kit-vpc.yaml"]) else {
        return;
    };
    let kit = dir.join("startup-kit-vpc.yaml");
    let kit = kit.to_str().expect("utf-8");
    let o = vifgate(&["topology", "import-cfn", kit]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("AvailabilityZone1"),
        "{}",
        text(&o.stderr)
    );

    let out = temp("conflict");
    let office = out.join("office.toml");
    std::fs::write(&office, "[vpc]\ncidr = \"10.1.0.0/16\"\n").expect("write");
    let o = vifgate(&[
        "topology",
        "import-cfn",
        "tests/cfn/resources-web.yaml",
        "--merge",
        office.to_str().expect("utf-8"),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("`vpc.cidr`"),
        "{}",
        text(&o.stderr)
    );
    assert!(o.stdout.is_empty());

    // a merge that does not load is reported, and nothing is written
    std::fs::write(
        &office,
        "[[vpc.instance]]\nname = \"x\"\nsubnet = \"nowhere\"\nip = \"10.20.0.50\"\n",
    )
    .expect("write");
    let target = out.join("never.toml");
    let o = vifgate(&[
        "topology",
        "import-cfn",
        "tests/cfn/resources-web.yaml",
        "--merge",
        office.to_str().expect("utf-8"),
        "-o",
        target.to_str().expect("utf-8"),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("unknown subnet `nowhere`"),
        "{}",
        text(&o.stderr)
    );
    assert!(text(&o.stderr).contains("the merged topology does not load"));
    assert!(!target.exists());
    std::fs::remove_dir_all(&out).ok();
}

// ------------------------------------ Auto Scaling public addresses ----

/// A bastion Auto Scaling group in two public subnets (`MapPublicIpOnLaunch`)
/// whose group opens tcp/22 to the world; `LAUNCH` is replaced by the
/// launch settings under test.
const ASG_PUBLIC: &str = r#"
AWSTemplateFormatVersion: '2010-09-09'
Resources:
  Vpc:
    Type: AWS::EC2::VPC
    Properties: { CidrBlock: 10.0.0.0/16 }
  Igw:
    Type: AWS::EC2::InternetGateway
  IgwAttach:
    Type: AWS::EC2::VPCGatewayAttachment
    Properties: { VpcId: !Ref Vpc, InternetGatewayId: !Ref Igw }
  PublicRt:
    Type: AWS::EC2::RouteTable
    Properties: { VpcId: !Ref Vpc }
  DefaultRoute:
    Type: AWS::EC2::Route
    DependsOn: IgwAttach
    Properties: { RouteTableId: !Ref PublicRt, DestinationCidrBlock: 0.0.0.0/0, GatewayId: !Ref Igw }
  PublicA:
    Type: AWS::EC2::Subnet
    Properties: { VpcId: !Ref Vpc, CidrBlock: 10.0.0.0/24, AvailabilityZone: !Select [0, !GetAZs ''], MapPublicIpOnLaunch: true }
  PublicB:
    Type: AWS::EC2::Subnet
    Properties: { VpcId: !Ref Vpc, CidrBlock: 10.0.1.0/24, AvailabilityZone: !Select [1, !GetAZs ''], MapPublicIpOnLaunch: true }
  AssocA:
    Type: AWS::EC2::SubnetRouteTableAssociation
    Properties: { SubnetId: !Ref PublicA, RouteTableId: !Ref PublicRt }
  AssocB:
    Type: AWS::EC2::SubnetRouteTableAssociation
    Properties: { SubnetId: !Ref PublicB, RouteTableId: !Ref PublicRt }
  BastionSg:
    Type: AWS::EC2::SecurityGroup
    Properties:
      GroupDescription: ssh
      VpcId: !Ref Vpc
      SecurityGroupIngress:
        - { IpProtocol: tcp, FromPort: 22, ToPort: 22, CidrIp: 0.0.0.0/0 }
LAUNCH
  Bastion:
    Type: AWS::AutoScaling::AutoScalingGroup
    Properties:
      MinSize: '2'
      MaxSize: '2'
      VPCZoneIdentifier: [!Ref PublicA, !Ref PublicB]
ASGLAUNCH
"#;

/// Imports [`ASG_PUBLIC`] with the given launch resource and the group's
/// reference to it.
fn import_asg(name: &str, launch: &str, asg_launch: &str) -> Imported {
    let dir = temp(name);
    let path = dir.join("asg.yaml");
    let body = ASG_PUBLIC
        .replace("ASGLAUNCH\n", asg_launch)
        .replace("LAUNCH\n", launch);
    std::fs::write(&path, body).expect("write");
    let t = import(&path, &[], None);
    let _ = std::fs::remove_dir_all(&dir);
    t
}

const TEMPLATE_REF: &str =
    "      LaunchTemplate: { LaunchTemplateId: !Ref Lt, Version: !GetAtt Lt.LatestVersionNumber }\n";

#[test]
fn asg_in_public_subnets_is_reachable_from_the_internet() {
    let launch = "  Lt:\n    Type: AWS::EC2::LaunchTemplate\n    Properties:\n      LaunchTemplateData: { SecurityGroupIds: [!Ref BastionSg] }\n";
    let t = import_asg("asg-public", launch, TEMPLATE_REF);
    assert!(t.text.contains("public_ip = true"), "{}", t.text);
    let topo = &t.loaded.topology;
    let hosts: Vec<&str> = topo
        .nodes
        .iter()
        .filter(|n| matches!(n.kind, topology::model::NodeKind::AsgInstance { .. }))
        .map(|n| n.name.as_str())
        .collect();
    assert_eq!(hosts.len(), 2, "{}", t.text);
    for h in hosts {
        expect(&t, "internet", h, Service::Tcp(22), Verdict::Accepted);
        expect(&t, "internet", h, Service::Tcp(80), Verdict::Denied);
    }
}

#[test]
fn asg_without_public_addresses_is_not_routed_from_the_internet() {
    // the launch template's interface overrides the subnets' mapping
    let template = "  Lt:\n    Type: AWS::EC2::LaunchTemplate\n    Properties:\n      LaunchTemplateData:\n        NetworkInterfaces:\n          - { DeviceIndex: 0, AssociatePublicIpAddress: false, Groups: [!Ref BastionSg] }\n";
    // and so does the launch configuration's setting
    let config = "  Lc:\n    Type: AWS::AutoScaling::LaunchConfiguration\n    Properties: { ImageId: ami-1, InstanceType: t3.micro, SecurityGroups: [!Ref BastionSg], AssociatePublicIpAddress: false }\n";
    let config_ref = "      LaunchConfigurationName: !Ref Lc\n";
    for (name, launch, asg_launch) in [
        ("asg-lt-private", template, TEMPLATE_REF),
        ("asg-lc-private", config, config_ref),
    ] {
        let t = import_asg(name, launch, asg_launch);
        assert!(!t.text.contains("public_ip"), "{}", t.text);
        let h = "bastion-a1";
        assert!(t.loaded.topology.node_by_name(h).is_some(), "{}", t.text);
        expect(&t, "internet", h, Service::Tcp(22), Verdict::NoRoute);
    }
}

/// `resources-scaling.yaml` with values AWS refuses or that would reach the
/// lab's HAProxy configuration raw: each is left out with a warning that
/// names it, and the import still loads (before, a path holding a newline
/// went into the file and on into HAProxy's, a `.nan` threshold made an
/// alarm that never fires, a malformed ResourceLabel passed unnoticed).
#[test]
fn scaling_values_aws_refuses_are_left_out_with_a_warning() {
    let fixture = std::fs::read_to_string(own("resources-scaling.yaml")).expect("fixture");
    let swap = |from: &str, to: &str| {
        assert!(fixture.contains(from), "{from}");
        fixture.replace(from, to)
    };
    let cases = [
        (
            swap("HealthCheckPath: /health", "HealthCheckPath: \"/h\\n    stats socket /tmp/x level admin\""),
            "WebTargets",
            "HealthCheckPath `/h\\n    stats socket",
        ),
        (
            swap("Value: SESSIONID }", "Value: AWSALBAPP-1 }"),
            "WebTargets",
            "cookie_name `AWSALBAPP-1` is not a cookie name AWS takes",
        ),
        (
            swap("TargetValue: 1800", "TargetValue: .inf"),
            "RequestsPolicy",
            "no TargetValue above 0",
        ),
        (
            swap(
                "ResourceLabel: !Join [\"/\", [!GetAtt Alb.LoadBalancerFullName, !GetAtt WebTargets.TargetGroupFullName]]",
                "ResourceLabel: app/alb/targetgroup/web",
            ),
            "RequestsPolicy",
            "ResourceLabel `app/alb/targetgroup/web` is not app/LOAD-BALANCER/ID",
        ),
        (
            swap(
                "          ResourceLabel: !Join [\"/\", [!GetAtt Alb.LoadBalancerFullName, !GetAtt WebTargets.TargetGroupFullName]]\n",
                "",
            ),
            "RequestsPolicy",
            "without a ResourceLabel",
        ),
    ];
    for (i, (text, id, needle)) in cases.into_iter().enumerate() {
        let dir = temp(&format!("scaling-bad-{i}"));
        let path = dir.join("t.yaml");
        std::fs::write(&path, text).expect("write");
        let t = import(&path, &[], None);
        let _ = std::fs::remove_dir_all(&dir);
        assert_warned(&t, id, needle);
    }
    // a NaN threshold: the step policy is left out, not kept never firing
    let text = fixture.replacen("Threshold: 80", "Threshold: .nan", 1);
    assert_ne!(text, fixture, "the fixture's alarm threshold");
    let dir = temp("scaling-bad-nan");
    let path = dir.join("t.yaml");
    std::fs::write(&path, text).expect("write");
    let t = import(&path, &[], None);
    let _ = std::fs::remove_dir_all(&dir);
    assert_warned(&t, "CpuStepPolicy", "no Threshold");
    assert!(t.loaded.topology.auto_scaling_groups[0]
        .scaling
        .step_scaling
        .is_empty());
}

/// `tests/cfn/resources-scaling.yaml` (written for this test: no public
/// fixture has scaling policies or target-group attributes): the group's
/// health-check and warm-up properties, its target-tracking and step
/// policies (with the alarm that runs the step one) and its scheduled
/// action, and the target group's stickiness, draining, slow start and
/// health check, all as the resolver reads them.
#[test]
fn scaling_policies_and_target_group_attributes_are_imported() {
    use std::time::Duration;
    use topology::model::scaling::{
        AdjustmentType, Comparison, HealthCheckType, ScalingMetric, Stickiness,
    };
    use topology::model::NodeKind;

    let t = import(&own("resources-scaling.yaml"), &[], None);
    let topo = &t.loaded.topology;
    let g = &topo.auto_scaling_groups[0];
    let s = &g.scaling;
    assert_eq!(s.health_check_type, HealthCheckType::Elb);
    assert_eq!(s.health_check_grace_period, Duration::from_secs(300));
    assert_eq!(s.default_instance_warmup, Some(Duration::from_secs(300)));
    let alb = topo.node_by_name("alb").expect("alb");
    let tt = &s.target_tracking[0];
    assert_eq!(tt.name, "requests-policy");
    assert_eq!(
        tt.metric,
        ScalingMetric::AlbRequestCountPerTarget { load_balancer: alb }
    );
    assert_eq!(tt.target, 1800.0);
    let step = &s.step_scaling[0];
    assert_eq!(step.alarm.metric, ScalingMetric::CpuUtilization);
    assert_eq!(step.alarm.comparison, Comparison::GreaterOrEqual);
    assert_eq!(
        (
            step.alarm.threshold,
            step.alarm.datapoints,
            step.alarm.evaluation_periods
        ),
        (80.0, 2, 3)
    );
    assert_eq!(
        step.adjustment_type,
        AdjustmentType::PercentChangeInCapacity
    );
    assert_eq!(step.steps.len(), 2);
    assert_eq!(step.min_adjustment_magnitude, Some(1));
    assert_eq!(step.instance_warmup, Some(Duration::from_secs(120)));
    let sched = &s.scheduled[0];
    assert_eq!(sched.recurrence.text, "0 8 24 12 *");
    assert_eq!(
        (sched.min, sched.desired, sched.max),
        (Some(3), Some(3), None)
    );

    let NodeKind::LoadBalancer { listeners } = &topo.nodes[alb].kind else {
        panic!("alb is not a load balancer");
    };
    let tg = &listeners[0].target_group;
    assert_eq!(
        tg.stickiness,
        Some(Stickiness::AppCookie {
            cookie_name: "SESSIONID".into(),
            duration: Duration::from_secs(432_000)
        })
    );
    assert_eq!(tg.deregistration_delay, Duration::from_secs(30));
    assert_eq!(tg.slow_start, Some(Duration::from_secs(60)));
    assert_eq!(tg.health_check.path, "/health");
    assert_eq!(tg.health_check.interval, Duration::from_secs(10));
    assert_eq!(tg.health_check.healthy_threshold, 3);
    // the alarm is used, the policies and the action are mapped
    for id in ["CpuHigh", "RequestsPolicy", "CpuStepPolicy", "EventMorning"] {
        assert!(
            !t.warnings
                .iter()
                .any(|w| w.logical_id == id && w.message.contains("ignored")),
            "{id}: {:#?}",
            t.warnings
        );
    }
}
