//! Unit tests of the mapping on hand-made evaluated templates.

use super::*;
use crate::analysis::{reach, Service, Target, Verdict};
use crate::cfn::{Evaluated, Resource, Value};

fn st(s: &str) -> Value {
    Value::Str(s.into())
}

fn r(id: &str) -> Value {
    Value::Ref(id.into())
}

fn map(pairs: &[(&str, Value)]) -> Value {
    Value::Map(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    )
}

fn res(id: &str, kind: &str, props: Value) -> Resource {
    Resource {
        id: id.into(),
        kind: format!("AWS::{kind}"),
        props,
        line: 0,
    }
}

fn ev(mut resources: Vec<Resource>) -> Evaluated {
    for (i, r) in resources.iter_mut().enumerate() {
        r.line = 10 * (i + 1);
    }
    Evaluated {
        resources,
        warnings: Vec::new(),
        region: "us-east-1".into(),
        stack_name: "UnitStack".into(),
        azs: vec![
            "us-east-1a".into(),
            "us-east-1b".into(),
            "us-east-1c".into(),
        ],
        exports: Vec::new(),
        withheld_exports: Vec::new(),
        imports: Vec::new(),
    }
}

/// A VPC with one public and one private subnet, an IGW and a NAT gateway.
fn base() -> Vec<Resource> {
    vec![
        res("Vpc", "EC2::VPC", map(&[("CidrBlock", st("10.0.0.0/16"))])),
        res(
            "Public",
            "EC2::Subnet",
            map(&[
                ("VpcId", r("Vpc")),
                ("CidrBlock", st("10.0.0.0/24")),
                ("AvailabilityZone", st("us-east-1a")),
                ("MapPublicIpOnLaunch", Value::Bool(true)),
            ]),
        ),
        res(
            "Private",
            "EC2::Subnet",
            map(&[
                ("VpcId", r("Vpc")),
                ("CidrBlock", st("10.0.1.0/24")),
                ("AvailabilityZone", st("us-east-1b")),
            ]),
        ),
        res("Igw", "EC2::InternetGateway", map(&[])),
        res(
            "Attach",
            "EC2::VPCGatewayAttachment",
            map(&[("VpcId", r("Vpc")), ("InternetGatewayId", r("Igw"))]),
        ),
        res("Eip", "EC2::EIP", map(&[("Domain", st("vpc"))])),
        res(
            "Nat",
            "EC2::NatGateway",
            map(&[
                ("SubnetId", r("Public")),
                (
                    "AllocationId",
                    Value::Attr("Eip".into(), "AllocationId".into()),
                ),
            ]),
        ),
        res("PublicRt", "EC2::RouteTable", map(&[("VpcId", r("Vpc"))])),
        res("PrivateRt", "EC2::RouteTable", map(&[("VpcId", r("Vpc"))])),
        res(
            "ToIgw",
            "EC2::Route",
            map(&[
                ("RouteTableId", r("PublicRt")),
                ("DestinationCidrBlock", st("0.0.0.0/0")),
                ("GatewayId", r("Igw")),
            ]),
        ),
        res(
            "ToNat",
            "EC2::Route",
            map(&[
                ("RouteTableId", r("PrivateRt")),
                ("DestinationCidrBlock", st("0.0.0.0/0")),
                ("NatGatewayId", r("Nat")),
            ]),
        ),
        res(
            "PublicAssoc",
            "EC2::SubnetRouteTableAssociation",
            map(&[("SubnetId", r("Public")), ("RouteTableId", r("PublicRt"))]),
        ),
        res(
            "PrivateAssoc",
            "EC2::SubnetRouteTableAssociation",
            map(&[("SubnetId", r("Private")), ("RouteTableId", r("PrivateRt"))]),
        ),
    ]
}

fn tcp(port: i64, peer: (&str, Value)) -> Value {
    map(&[
        ("IpProtocol", st("tcp")),
        ("FromPort", Value::Num(port as f64)),
        ("ToPort", Value::Num(port as f64)),
        peer,
    ])
}

/// Maps, renders and loads; panics with the diagnostics and the text.
fn load(e: &Evaluated) -> (Table, Vec<ImportWarning>, crate::Loaded) {
    let (t, w) = to_topology(e);
    // the table is the format itself: toml's own writer gives a file that
    // loads as well
    let plain = toml::to_string(&t).unwrap_or_else(|e| panic!("{e}"));
    if let Err(d) = crate::parse("plain.toml", plain.clone()) {
        panic!("{d}\n{plain}");
    }
    let text = render(&t);
    match crate::parse("unit.toml", text.clone()) {
        Ok(l) => (t, w, l),
        Err(d) => panic!("{d}\n{text}"),
    }
}

fn has(w: &[ImportWarning], id: &str, needle: &str) -> bool {
    w.iter()
        .any(|x| x.logical_id == id && x.message.contains(needle))
}

fn verdict(l: &crate::Loaded, from: &str, to: &str, s: Service) -> Verdict {
    let t = &l.topology;
    let f = t
        .node_by_name(from)
        .unwrap_or_else(|| panic!("no node {from}"));
    let target = match to.parse() {
        Ok(a) => Target::Addr(a),
        Err(_) => Target::Node(t.node_by_name(to).unwrap_or_else(|| panic!("no node {to}"))),
    };
    reach(t, f, target, s).verdict
}

#[test]
fn a_private_instance_reaches_the_internet_through_the_nat_gateway() {
    let mut rs = base();
    rs.push(res(
        "App",
        "EC2::Instance",
        map(&[("SubnetId", r("Private"))]),
    ));
    rs.push(res(
        "Web",
        "EC2::Instance",
        map(&[
            ("SubnetId", r("Public")),
            ("PrivateIpAddress", st("10.0.0.4")),
        ]),
    ));
    let (t, w, l) = load(&ev(rs));
    let vpc = &t["vpc"];
    assert_eq!(vpc["internet_gateway"]["name"].as_str(), Some("igw"));
    let nat = &vpc["nat_gateway"][0];
    assert_eq!(nat["public_ip"].as_str(), Some("203.0.113.10"));
    // 10.0.0.4 is the web instance's: the NAT gateway takes the next one
    assert_eq!(nat["ip"].as_str(), Some("10.0.0.5"));
    let app = &vpc["instance"][0];
    assert_eq!(app["ip"].as_str(), Some("10.0.1.4"));
    assert!(app.get("public_ip").is_none());
    // a public subnet (MapPublicIpOnLaunch) gives the web instance one
    assert_eq!(
        vpc["instance"][1]["public_ip"].as_str(),
        Some("203.0.113.11")
    );
    assert!(has(&w, "Nat", "placeholders"));
    assert_eq!(
        verdict(&l, "app", "internet", Service::Tcp(443)),
        Verdict::Accepted
    );
    assert_eq!(
        verdict(&l, "internet", "app", Service::Tcp(22)),
        Verdict::NoRoute
    );
    assert_eq!(
        verdict(&l, "web", "internet", Service::Tcp(443)),
        Verdict::Accepted
    );
}

#[test]
fn egress_is_omitted_without_rules_replaced_by_inline_and_added_to_by_standalone() {
    let mut rs = base();
    rs.push(res(
        "Open",
        "EC2::SecurityGroup",
        map(&[("VpcId", r("Vpc")), ("GroupDescription", st("no egress"))]),
    ));
    rs.push(res(
        "Inline",
        "EC2::SecurityGroup",
        map(&[
            ("VpcId", r("Vpc")),
            (
                "SecurityGroupEgress",
                Value::List(vec![tcp(443, ("CidrIp", st("0.0.0.0/0")))]),
            ),
        ]),
    ));
    rs.push(res(
        "Standalone",
        "EC2::SecurityGroup",
        map(&[("VpcId", r("Vpc"))]),
    ));
    rs.push(res(
        "StandaloneEgress",
        "EC2::SecurityGroupEgress",
        map(&[
            (
                "GroupId",
                Value::Attr("Standalone".into(), "GroupId".into()),
            ),
            ("IpProtocol", st("tcp")),
            ("FromPort", st("5432")),
            ("ToPort", st("5432")),
            ("DestinationSecurityGroupId", r("Open")),
        ]),
    ));
    rs.push(res(
        "InlineEgress",
        "EC2::SecurityGroupEgress",
        map(&[
            ("GroupId", r("Inline")),
            ("IpProtocol", st("tcp")),
            ("FromPort", st("22")),
            ("ToPort", st("22")),
            ("CidrIp", st("10.0.0.0/8")),
        ]),
    ));
    rs.push(res(
        "NoPeerEgress",
        "EC2::SecurityGroup",
        map(&[
            ("VpcId", r("Vpc")),
            (
                "SecurityGroupEgress",
                Value::List(vec![map(&[("IpProtocol", st("-1"))])]),
            ),
        ]),
    ));
    let (t, w, _) = load(&ev(rs));
    let groups = t["security_group"].as_array().expect("groups");
    let group = |n: &str| {
        groups
            .iter()
            .find(|g| g["name"].as_str() == Some(n))
            .unwrap_or_else(|| panic!("no group {n}"))
    };
    assert!(group("open").get("egress").is_none());
    assert_eq!(group("open")["ingress"].as_array().map(Vec::len), Some(0));
    // a standalone egress rule adds to the allow-all rule the group was
    // created with, which makes it pointless: a warning says so
    let standalone = group("standalone")["egress"].as_array().expect("egress");
    assert_eq!(standalone.len(), 2);
    assert_eq!(standalone[0]["protocol"].as_str(), Some("-1"));
    assert_eq!(standalone[0]["cidr"].as_str(), Some("0.0.0.0/0"));
    assert_eq!(standalone[1]["sg"].as_str(), Some("open"));
    assert_eq!(standalone[1]["ports"].as_integer(), Some(5432));
    assert!(has(&w, "StandaloneEgress", "keeps its default allow-all"));
    assert!(has(&w, "StandaloneEgress", "127.0.0.1/32"));
    // on a group with inline egress rules it only adds: no allow-all rule,
    // no warning
    let inline_plus = group("inline")["egress"].as_array().expect("egress");
    assert_eq!(inline_plus.len(), 2);
    assert_eq!(inline_plus[0]["ports"].as_integer(), Some(443));
    assert_eq!(inline_plus[1]["ports"].as_integer(), Some(22));
    assert!(!has(&w, "InlineEgress", "allow-all"));
    // the only egress rule names no peer: CloudFormation creates none, and
    // the default rule is gone all the same
    assert_eq!(
        group("no-peer-egress")["egress"].as_array().map(Vec::len),
        Some(0)
    );
    assert!(has(&w, "NoPeerEgress", "names no peer"));
}

#[test]
fn nacl_entries_default_to_inbound_and_all_protocols_ignore_ports() {
    let mut rs = base();
    rs.push(res("Acl", "EC2::NetworkAcl", map(&[("VpcId", r("Vpc"))])));
    rs.push(res(
        "In",
        "EC2::NetworkAclEntry",
        map(&[
            ("NetworkAclId", r("Acl")),
            ("RuleNumber", st("100")),
            ("Protocol", st("-1")),
            ("RuleAction", st("ALLOW")),
            ("CidrBlock", st("0.0.0.0/0")),
            (
                "PortRange",
                map(&[("From", Value::Num(0.0)), ("To", Value::Num(65535.0))]),
            ),
        ]),
    ));
    rs.push(res(
        "Out",
        "EC2::NetworkAclEntry",
        map(&[
            ("NetworkAclId", r("Acl")),
            ("RuleNumber", Value::Num(100.0)),
            ("Protocol", Value::Num(6.0)),
            ("RuleAction", st("deny")),
            ("Egress", st("true")),
            ("CidrBlock", st("10.0.0.0/16")),
            (
                "PortRange",
                map(&[("From", Value::Num(22.0)), ("To", Value::Num(22.0))]),
            ),
        ]),
    ));
    rs.push(res(
        "Ping",
        "EC2::NetworkAclEntry",
        map(&[
            ("NetworkAclId", r("Acl")),
            ("RuleNumber", Value::Num(110.0)),
            ("Protocol", Value::Num(1.0)),
            ("RuleAction", st("allow")),
            ("CidrBlock", st("0.0.0.0/0")),
            (
                "Icmp",
                map(&[("Type", Value::Num(8.0)), ("Code", Value::Num(-1.0))]),
            ),
        ]),
    ));
    rs.push(res(
        "TcpNoPorts",
        "EC2::NetworkAclEntry",
        map(&[
            ("NetworkAclId", r("Acl")),
            ("RuleNumber", Value::Num(120.0)),
            ("Protocol", Value::Num(6.0)),
            ("RuleAction", st("allow")),
            ("CidrBlock", st("0.0.0.0/0")),
        ]),
    ));
    rs.push(res(
        "AclAssoc",
        "EC2::SubnetNetworkAclAssociation",
        map(&[("SubnetId", r("Private")), ("NetworkAclId", r("Acl"))]),
    ));
    let (t, w, _) = load(&ev(rs));
    let acl = &t["vpc"]["nacl"][0];
    let ingress = acl["ingress"].as_array().expect("ingress");
    assert_eq!(ingress.len(), 2);
    assert_eq!(ingress[0]["protocol"].as_str(), Some("-1"));
    assert!(ingress[0].get("ports").is_none());
    assert_eq!(ingress[0]["action"].as_str(), Some("allow"));
    assert_eq!(ingress[1]["icmp_type"].as_integer(), Some(8));
    assert!(ingress[1].get("icmp_code").is_none());
    let egress = acl["egress"].as_array().expect("egress");
    assert_eq!(egress[0]["ports"].as_integer(), Some(22));
    assert!(has(&w, "TcpNoPorts", "without PortRange"));
    assert_eq!(t["vpc"]["subnet"][1]["nacl"].as_str(), Some("acl"));
}

#[test]
fn every_unmapped_resource_is_named_with_its_line() {
    let mut rs = base();
    rs.push(res("Role", "IAM::Role", map(&[])));
    rs.push(res("Logs", "EC2::FlowLog", map(&[])));
    rs.push(res("Lt", "EC2::LaunchTemplate", map(&[])));
    let e = ev(rs);
    let (_, w, _) = load(&e);
    let role = w
        .iter()
        .find(|x| x.logical_id == "Role")
        .expect("a warning");
    assert_eq!(role.line, e.resources[13].line);
    assert!(role.message.contains("not a network resource"));
    assert!(has(&w, "Logs", "not modeled"));
    assert!(has(&w, "Lt", "not used by an imported Auto Scaling group"));
    // nothing else is warned about: the base maps completely
    let ids: Vec<&str> = w.iter().map(|x| x.logical_id.as_str()).collect();
    assert_eq!(ids, ["Nat", "Role", "Logs", "Lt"], "{w:?}");
}

#[test]
fn a_second_vpc_and_what_is_in_it_are_skipped() {
    let mut rs = base();
    rs.push(res(
        "Vpc2",
        "EC2::VPC",
        map(&[("CidrBlock", st("10.1.0.0/16"))]),
    ));
    rs.push(res(
        "Sub2",
        "EC2::Subnet",
        map(&[
            ("VpcId", r("Vpc2")),
            ("CidrBlock", st("10.1.0.0/24")),
            ("AvailabilityZone", st("us-east-1a")),
        ]),
    ));
    let (t, w, _) = load(&ev(rs));
    assert!(has(&w, "Vpc2", "a second VPC"));
    assert!(has(&w, "Sub2", "not imported"));
    assert_eq!(t["vpc"]["subnet"].as_array().map(Vec::len), Some(2));
}

#[test]
fn unknown_zones_are_told_apart_and_named_in_a_warning() {
    let mut rs = base();
    for (id, cidr, az) in [
        ("A1", "10.0.10.0/24", Some("parameter Az1")),
        ("B1", "10.0.11.0/24", Some("parameter Az2")),
        ("A2", "10.0.12.0/24", Some("parameter Az1")),
        ("Any", "10.0.13.0/24", None),
    ] {
        let mut props = vec![("VpcId", r("Vpc")), ("CidrBlock", st(cidr))];
        if let Some(why) = az {
            props.push(("AvailabilityZone", Value::Unknown(why.into())));
        }
        rs.push(res(id, "EC2::Subnet", map(&props)));
    }
    let (t, w, _) = load(&ev(rs));
    let zone = |i: usize| t["vpc"]["subnet"][i]["az"].as_str().map(str::to_string);
    assert_eq!(zone(2), zone(4));
    assert_ne!(zone(2), zone(3));
    assert!(has(&w, "A1", "placed in"));
    assert!(has(&w, "Any", "AWS picks one"));
}

#[test]
fn placeholder_office_ends_the_vpn_and_merging_replaces_nothing_silently() {
    let mut rs = base();
    rs.push(res(
        "Vgw",
        "EC2::VPNGateway",
        map(&[("Type", st("ipsec.1"))]),
    ));
    rs.push(res(
        "VgwAttach",
        "EC2::VPCGatewayAttachment",
        map(&[("VpcId", r("Vpc")), ("VpnGatewayId", r("Vgw"))]),
    ));
    rs.push(res(
        "Prop",
        "EC2::VPNGatewayRoutePropagation",
        map(&[
            ("VpnGatewayId", r("Vgw")),
            ("RouteTableIds", Value::List(vec![r("PrivateRt")])),
        ]),
    ));
    rs.push(res(
        "Cgw",
        "EC2::CustomerGateway",
        map(&[
            ("BgpAsn", Value::Num(65000.0)),
            ("IpAddress", st("203.0.113.99")),
        ]),
    ));
    rs.push(res(
        "Vpn",
        "EC2::VPNConnection",
        map(&[
            ("CustomerGatewayId", r("Cgw")),
            ("VpnGatewayId", r("Vgw")),
            ("StaticRoutesOnly", Value::Bool(true)),
        ]),
    ));
    rs.push(res(
        "VpnRoute",
        "EC2::VPNConnectionRoute",
        map(&[
            ("VpnConnectionId", r("Vpn")),
            ("DestinationCidrBlock", st("192.168.0.0/24")),
        ]),
    ));
    rs.push(res(
        "AppSg",
        "EC2::SecurityGroup",
        map(&[
            ("VpcId", r("Vpc")),
            (
                "SecurityGroupIngress",
                Value::List(vec![tcp(22, ("CidrIp", st("192.168.0.0/24")))]),
            ),
        ]),
    ));
    rs.push(res(
        "App",
        "EC2::Instance",
        map(&[
            ("SubnetId", r("Private")),
            ("SecurityGroupIds", Value::List(vec![r("AppSg")])),
        ]),
    ));
    let e = ev(rs);
    let (t, w, _) = load(&e);
    assert!(has(&w, "Cgw", "placeholder site"));
    assert_eq!(t["vpn"]["customer_gateway"].as_str(), Some("cgw"));
    assert_eq!(t["site"][0]["router"][0]["name"].as_str(), Some("cgw"));
    assert_eq!(
        t["vpc"]["route_table"][1]["propagate_vgw"].as_bool(),
        Some(true)
    );

    // an office host added to the placeholder site by name reaches the app
    let office = parse_table(
        "[[site]]\nname = \"office\"\n[[site.host]]\nname = \"pc\"\nlan = \"office-lan-1\"\nip = \"192.168.0.10\"\n",
    )
    .expect("office TOML");
    let merged = merge(t, office).expect("merges");
    let l = crate::parse("merged.toml", render(&merged)).expect("loads");
    assert_eq!(
        verdict(&l, "pc", "app", Service::Tcp(22)),
        Verdict::Accepted
    );
    assert_eq!(verdict(&l, "pc", "app", Service::Tcp(80)), Verdict::Denied);

    // without the placeholder, the office file must bring the node
    let (t, _) = to_topology_with(
        &e,
        &MapOptions {
            office_placeholder: false,
        },
    );
    assert!(t.get("site").is_none());
    assert_eq!(t["vpn"]["customer_gateway"].as_str(), Some("cgw"));
}

#[test]
fn databases_listen_on_their_engine_port_in_two_zones() {
    let mut rs = base();
    rs.push(res(
        "DbGroup",
        "RDS::DBSubnetGroup",
        map(&[("SubnetIds", Value::List(vec![r("Public"), r("Private")]))]),
    ));
    rs.push(res(
        "Db",
        "RDS::DBInstance",
        map(&[
            ("Engine", st("mysql")),
            ("MultiAZ", st("true")),
            ("DBSubnetGroupName", r("DbGroup")),
        ]),
    ));
    let (t, w, _) = load(&ev(rs));
    let db = &t["vpc"]["database"][0];
    assert_eq!(db["port"].as_integer(), Some(3306));
    assert_eq!(db["primary"]["subnet"].as_str(), Some("public"));
    assert_eq!(db["standby"]["subnet"].as_str(), Some("private"));
    assert!(has(&w, "Db", "AWS picks among the subnets"));
}

#[test]
fn no_vpc_gives_a_topology_with_nothing_but_warnings() {
    let e = ev(vec![
        res(
            "Sub",
            "EC2::Subnet",
            map(&[
                ("VpcId", Value::Unknown("Fn::ImportValue net-VpcId".into())),
                ("CidrBlock", st("10.0.0.0/24")),
            ]),
        ),
        res("Host", "EC2::Instance", map(&[("SubnetId", r("Sub"))])),
    ]);
    let (t, w, _) = load(&e);
    assert!(t.get("vpc").is_none());
    assert!(has(&w, "Sub", "no VPC"));
    assert!(has(&w, "Host", "not an imported subnet"));
}

#[test]
fn the_vpc_default_group_is_named_default_and_takes_added_rules() {
    let mut rs = base();
    let default_sg = Value::Attr("Vpc".into(), "DefaultSecurityGroup".into());
    rs.push(res(
        "Web",
        "EC2::Instance",
        map(&[
            ("SubnetId", r("Public")),
            ("SecurityGroupIds", Value::List(vec![default_sg.clone()])),
        ]),
    ));
    rs.push(res(
        "Dns",
        "EC2::SecurityGroupEgress",
        map(&[
            ("GroupId", default_sg.clone()),
            ("IpProtocol", st("udp")),
            ("FromPort", Value::Num(53.0)),
            ("ToPort", Value::Num(53.0)),
            ("CidrIp", st("10.0.0.2/32")),
        ]),
    ));
    rs.push(res(
        "Https",
        "EC2::SecurityGroupIngress",
        map(&[
            ("GroupId", default_sg),
            ("IpProtocol", st("tcp")),
            ("FromPort", Value::Num(443.0)),
            ("ToPort", Value::Num(443.0)),
            ("CidrIp", st("0.0.0.0/0")),
        ]),
    ));
    let (t, w, l) = load(&ev(rs));
    assert_eq!(
        t["vpc"]["instance"][0]["security_groups"][0].as_str(),
        Some("default")
    );
    let g = &t["security_group"][0];
    assert_eq!(g["name"].as_str(), Some("default"));
    assert_eq!(g["ingress"].as_array().map(Vec::len), Some(2));
    // a standalone egress rule adds to its allow-all egress rule, which
    // stays: a warning says the added rule changes nothing
    let egress = g["egress"].as_array().expect("egress");
    assert_eq!(egress.len(), 2);
    assert_eq!(egress[0]["cidr"].as_str(), Some("0.0.0.0/0"));
    assert_eq!(egress[1]["ports"].as_integer(), Some(53));
    assert!(has(
        &w,
        "Dns",
        "the VPC's default group keeps its allow-all"
    ));
    assert_eq!(
        verdict(&l, "web", "internet", Service::Tcp(443)),
        Verdict::Accepted
    );
    assert!(w.iter().all(|x| x.logical_id != "Https"), "{w:?}");
    assert_eq!(
        verdict(&l, "internet", "web", Service::Tcp(443)),
        Verdict::Accepted
    );
    assert_eq!(
        verdict(&l, "internet", "web", Service::Tcp(22)),
        Verdict::Denied
    );
}

#[test]
fn listeners_forward_to_registered_instances_and_launch_configuration_groups() {
    let mut rs = base();
    rs.push(res(
        "AppSg",
        "EC2::SecurityGroup",
        map(&[
            ("VpcId", r("Vpc")),
            (
                "SecurityGroupIngress",
                Value::List(vec![tcp(80, ("CidrIp", st("10.0.0.0/16")))]),
            ),
        ]),
    ));
    rs.push(res(
        "Lc",
        "AutoScaling::LaunchConfiguration",
        map(&[("SecurityGroups", Value::List(vec![r("AppSg")]))]),
    ));
    rs.push(res(
        "Workers",
        "AutoScaling::AutoScalingGroup",
        map(&[
            ("MinSize", st("1")),
            ("MaxSize", st("3")),
            ("VPCZoneIdentifier", Value::List(vec![r("Private")])),
            ("LaunchConfigurationName", r("Lc")),
        ]),
    ));
    rs.push(res(
        "Api",
        "EC2::Instance",
        map(&[
            ("SubnetId", r("Private")),
            ("SecurityGroupIds", Value::List(vec![r("AppSg")])),
        ]),
    ));
    rs.push(res(
        "Nlb",
        "ElasticLoadBalancingV2::LoadBalancer",
        map(&[
            ("Type", st("network")),
            ("Scheme", st("internal")),
            ("Subnets", Value::List(vec![r("Private")])),
        ]),
    ));
    rs.push(res(
        "Tg",
        "ElasticLoadBalancingV2::TargetGroup",
        map(&[
            ("Port", Value::Num(80.0)),
            (
                "Targets",
                Value::List(vec![map(&[("Id", r("Api")), ("Port", Value::Num(8080.0))])]),
            ),
        ]),
    ));
    rs.push(res(
        "Listener",
        "ElasticLoadBalancingV2::Listener",
        map(&[
            ("LoadBalancerArn", r("Nlb")),
            ("Port", Value::Num(80.0)),
            ("Protocol", st("TCP")),
            (
                "DefaultActions",
                Value::List(vec![map(&[
                    ("Type", st("forward")),
                    ("TargetGroupArn", r("Tg")),
                ])]),
            ),
        ]),
    ));
    let (t, w, l) = load(&ev(rs));
    let asg = &t["vpc"]["auto_scaling_group"][0];
    assert_eq!(asg["desired"].as_integer(), Some(1));
    assert_eq!(asg["security_groups"][0].as_str(), Some("app-sg"));
    let lb = &t["vpc"]["load_balancer"][0];
    assert!(lb.get("public_ips").is_none());
    assert_eq!(lb["listeners"][0]["targets"][0].as_str(), Some("api"));
    assert_eq!(lb["listeners"][0]["protocol"].as_str(), Some("tcp"));
    assert!(has(&w, "Nlb", "filters nothing"));
    assert!(has(&w, "Tg", "registered on port 8080"));
    assert!(!w.iter().any(|x| x.logical_id == "Lc"), "{w:?}");
    assert_eq!(
        verdict(&l, "nlb", "api", Service::Tcp(80)),
        Verdict::Accepted
    );
    // the NLB got the VPC's default group (the warning says so), which
    // admits its members only
    assert_eq!(
        verdict(&l, "workers-b1", "nlb", Service::Tcp(80)),
        Verdict::Denied
    );
}

#[test]
fn auto_scaling_public_addresses_follow_the_subnets_unless_the_launch_says_otherwise() {
    let mut rs = base();
    let asg = |subnets: &[&str], launch: Option<(&str, Value)>| {
        let mut p = vec![
            ("MinSize", st("1")),
            ("MaxSize", st("1")),
            (
                "VPCZoneIdentifier",
                Value::List(subnets.iter().map(|s| r(s)).collect()),
            ),
        ];
        p.extend(launch);
        map(&p)
    };
    // the subnets decide: one of them maps public addresses
    rs.push(res(
        "Mixed",
        "AutoScaling::AutoScalingGroup",
        asg(&["Public", "Private"], None),
    ));
    // a launch configuration asks for one in a private subnet
    rs.push(res(
        "Lc",
        "AutoScaling::LaunchConfiguration",
        map(&[("AssociatePublicIpAddress", Value::Bool(true))]),
    ));
    rs.push(res(
        "Asked",
        "AutoScaling::AutoScalingGroup",
        asg(&["Private"], Some(("LaunchConfigurationName", r("Lc")))),
    ));
    // a launch template's interface refuses one in a public subnet
    rs.push(res(
        "Lt",
        "EC2::LaunchTemplate",
        map(&[(
            "LaunchTemplateData",
            map(&[(
                "NetworkInterfaces",
                Value::List(vec![map(&[
                    ("DeviceIndex", Value::Num(0.0)),
                    ("AssociatePublicIpAddress", Value::Bool(false)),
                ])]),
            )]),
        )]),
    ));
    rs.push(res(
        "Refused",
        "AutoScaling::AutoScalingGroup",
        asg(
            &["Public"],
            Some(("LaunchTemplate", map(&[("LaunchTemplateId", r("Lt"))]))),
        ),
    ));
    let (t, w, l) = load(&ev(rs));
    let groups = t["vpc"]["auto_scaling_group"]
        .as_array()
        .expect("auto_scaling_group");
    let public: Vec<Option<bool>> = groups
        .iter()
        .map(|g| g.get("public_ip").and_then(|p| p.as_bool()))
        .collect();
    assert_eq!(public, [Some(true), Some(true), None]);
    assert!(has(&w, "Mixed", "only some of its subnets"), "{w:?}");
    assert!(!has(&w, "Asked", "only some"), "{w:?}");
    let pip = |n: &str| {
        let topo = &l.topology;
        topo.nodes[topo.node_by_name(n).unwrap_or_else(|| panic!("no {n}"))].interfaces[0].public_ip
    };
    assert!(pip("mixed-a1").is_some());
    assert!(pip("asked-b1").is_some());
    assert_eq!(pip("refused-a1"), None);
}

/// What the importer writes loads under `check`'s limits: a network load
/// balancer says so (one zone is enough), an application one in one zone
/// is left out with a warning, a VGW ASN CreateVpnGateway refuses is
/// named and replaced by the default, and names from long logical ids
/// fit the lab's bound.
#[test]
fn imports_stay_within_the_limits_check_enforces() {
    let mut rs = base();
    let long_id = "AVeryLongLogicalIdForAnInstanceThatGoesOnAndOn".repeat(3);
    rs.push(res(
        "Vgw",
        "EC2::VPNGateway",
        map(&[
            ("Type", st("ipsec.1")),
            ("AmazonSideAsn", Value::Num(100.0)),
        ]),
    ));
    rs.push(res(
        "VgwAttach",
        "EC2::VPCGatewayAttachment",
        map(&[("VpcId", r("Vpc")), ("VpnGatewayId", r("Vgw"))]),
    ));
    rs.push(res(
        &long_id,
        "EC2::Instance",
        map(&[("SubnetId", r("Private"))]),
    ));
    rs.push(res(
        &format!("{long_id}X"),
        "EC2::Instance",
        map(&[("SubnetId", r("Private"))]),
    ));
    for (id, kind) in [("Nlb", Some("network")), ("Alb", None)] {
        let mut props = vec![("Subnets", Value::List(vec![r("Private")]))];
        if let Some(k) = kind {
            props.push(("Type", st(k)));
        }
        rs.push(res(id, "ElasticLoadBalancingV2::LoadBalancer", map(&props)));
    }
    // the private table has its route to the NAT gateway: 50 more make 51
    for k in 0..crate::resolve::aws_limits::MAX_STATIC_ROUTES {
        rs.push(res(
            &format!("Route{k}"),
            "EC2::Route",
            map(&[
                ("RouteTableId", r("PrivateRt")),
                ("DestinationCidrBlock", st(&format!("192.168.{k}.0/24"))),
                ("NatGatewayId", r("Nat")),
            ]),
        ));
    }
    let (t, w, l) = load(&ev(rs));
    assert!(has(&w, "Route49", "already has 50 static routes"), "{w:?}");
    assert!(!w.iter().any(|x| x.logical_id == "Route48"), "{w:?}");
    let lbs = t["vpc"]["load_balancer"]
        .as_array()
        .expect("load balancers");
    assert_eq!(lbs.len(), 1, "{lbs:?}");
    assert_eq!(lbs[0]["name"].as_str(), Some("nlb"));
    assert_eq!(lbs[0]["type"].as_str(), Some("network"));
    assert!(has(&w, "Alb", "two availability zones or more"), "{w:?}");
    assert!(
        has(
            &w,
            "Vgw",
            "AmazonSideAsn 100 is not one CreateVpnGateway takes"
        ),
        "{w:?}"
    );
    assert_eq!(
        l.topology
            .vpc
            .as_ref()
            .and_then(|v| v.vgw.as_ref())
            .map(|g| g.asn),
        Some(64512)
    );
    let max = crate::resolve::aws_limits::MAX_NAME_LEN;
    let long: Vec<&str> = l
        .topology
        .nodes
        .iter()
        .map(|n| n.name.as_str())
        .filter(|n| n.starts_with("a-very-long"))
        .collect();
    assert_eq!(long.len(), 2, "{long:?}");
    assert!(long.iter().all(|n| n.chars().count() <= max), "{long:?}");
}
