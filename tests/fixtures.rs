//! The repository's fixtures: the AWS account snapshots in
//! `tests/fixtures/aws/` (real `describe-*` output, see their
//! `SOURCES.md`) are read, not only stored: each file parses, and the
//! fields a live-account importer will take (VPC CIDRs, subnets, route
//! tables and their routes) are there and consistent. And the rule every
//! fixture-reading test follows: a missing fixture fails under `CI=true`.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::fixture::{decide, fixture};
use ipnet::Ipv4Net;
use serde_json::Value;

fn aws_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/aws")
}

/// The snapshots `SOURCES.md` lists (its table's first column), in order.
fn listed_snapshots(sources: &str) -> Vec<String> {
    sources
        .lines()
        .filter_map(|l| l.strip_prefix("| test-"))
        .filter_map(|l| l.split('|').next())
        .map(|name| format!("test-{}", name.trim()))
        .collect()
}

/// A snapshot's `aws_configs/*.json`, by file name.
fn snapshot_files(snapshot: &Path) -> BTreeMap<String, Value> {
    let dir = snapshot.join("aws_configs");
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut out = BTreeMap::new();
    for e in entries.flatten() {
        let path = e.path();
        if path.extension().is_some_and(|x| x == "json") {
            let text = std::fs::read_to_string(&path).expect("a readable snapshot file");
            let value: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: not JSON: {e}", path.display()));
            let name = e.file_name().to_string_lossy().into_owned();
            out.insert(name, value);
        }
    }
    out
}

/// The list under `key` of the file `name`.
fn list<'a>(files: &'a BTreeMap<String, Value>, name: &str, key: &str) -> &'a [Value] {
    files
        .get(name)
        .and_then(|v| v.get(key))
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_else(|| panic!("{name}: no `{key}` list"))
}

fn text<'a>(v: &'a Value, field: &str) -> &'a str {
    v.get(field)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string `{field}` in {v}"))
}

fn cidr(v: &Value, field: &str) -> Ipv4Net {
    let s = text(v, field);
    s.parse()
        .unwrap_or_else(|e| panic!("`{field}` = {s:?} is not an IPv4 block: {e}"))
}

/// The fields of a route that name where it goes; AWS sets exactly one.
const ROUTE_TARGETS: &[&str] = &[
    "GatewayId",
    "NatGatewayId",
    "TransitGatewayId",
    "VpcPeeringConnectionId",
    "InstanceId",
    "NetworkInterfaceId",
];

/// What one snapshot holds, read from its Vpcs, Subnets and RouteTables.
#[derive(Debug, PartialEq)]
struct Shape {
    vpc_cidrs: Vec<Ipv4Net>,
    subnets: usize,
    route_tables: usize,
    routes: usize,
}

/// Reads a snapshot's VPCs, subnets and route tables and checks what an
/// importer relies on: each subnet's block lies in its VPC's; each table
/// belongs to a known VPC, has the `local` route for the VPC's block (AWS
/// puts it in every table), routes with exactly one target, associations
/// to known subnets, and at most one table per VPC is the main one.
fn read_shape(files: &BTreeMap<String, Value>) -> Shape {
    let mut vpcs: BTreeMap<&str, Ipv4Net> = BTreeMap::new();
    let mut vpc_cidrs = Vec::new();
    for v in list(files, "Vpcs.json", "Vpcs") {
        let block = cidr(v, "CidrBlock");
        vpcs.insert(text(v, "VpcId"), block);
        vpc_cidrs.push(block);
    }
    let subnets = list(files, "Subnets.json", "Subnets");
    let mut subnet_ids = Vec::new();
    for s in subnets {
        let vpc = vpcs[text(s, "VpcId")];
        let block = cidr(s, "CidrBlock");
        assert!(vpc.contains(&block), "subnet {block} outside its VPC {vpc}");
        assert!(!text(s, "AvailabilityZone").is_empty());
        subnet_ids.push(text(s, "SubnetId"));
    }
    let tables = list(files, "RouteTables.json", "RouteTables");
    let mut mains: BTreeMap<&str, usize> = BTreeMap::new();
    let mut routes = 0;
    for t in tables {
        let id = text(t, "RouteTableId");
        let vpc_id = text(t, "VpcId");
        let vpc = vpcs
            .get(vpc_id)
            .unwrap_or_else(|| panic!("{id}: unknown VPC {vpc_id}"));
        let rs = t["Routes"].as_array().expect("Routes");
        for r in rs {
            let targets: Vec<&&str> = ROUTE_TARGETS
                .iter()
                .filter(|f| r.get(**f).is_some())
                .collect();
            assert_eq!(targets.len(), 1, "{id}: route {r} has targets {targets:?}");
            cidr(r, "DestinationCidrBlock");
        }
        assert!(
            rs.iter().any(|r| cidr(r, "DestinationCidrBlock") == *vpc
                && r.get("GatewayId").and_then(Value::as_str) == Some("local")),
            "{id}: no local route for {vpc}"
        );
        routes += rs.len();
        for a in t["Associations"].as_array().expect("Associations") {
            if a["Main"].as_bool() == Some(true) {
                *mains.entry(vpc_id).or_default() += 1;
            } else {
                let subnet = text(a, "SubnetId");
                assert!(
                    subnet_ids.contains(&subnet),
                    "{id}: unknown subnet {subnet}"
                );
            }
        }
    }
    assert!(mains.values().all(|&n| n == 1), "main tables: {mains:?}");
    Shape {
        vpc_cidrs,
        subnets: subnets.len(),
        route_tables: tables.len(),
        routes,
    }
}

#[test]
fn every_aws_snapshot_sources_md_lists_is_here_and_each_file_is_json_under_one_key() {
    let Some(dir) = fixture(aws_dir()) else {
        return;
    };
    let Some(sources) = fixture(dir.join("SOURCES.md")) else {
        return;
    };
    let listed = listed_snapshots(&std::fs::read_to_string(sources).expect("SOURCES.md"));
    assert_eq!(listed.len(), 6, "{listed:?}");
    for name in &listed {
        let Some(snapshot) = fixture(dir.join(name)) else {
            return;
        };
        let files = snapshot_files(&snapshot);
        assert!(files.len() >= 7, "{name}: {:?}", files.keys());
        for (file, value) in &files {
            let object = value
                .as_object()
                .unwrap_or_else(|| panic!("{name}/{file}: not an object"));
            assert_eq!(object.len(), 1, "{name}/{file}: {:?}", object.keys());
            assert!(
                object.values().all(Value::is_array),
                "{name}/{file}: its one key holds no list"
            );
        }
    }
}

#[test]
fn aws_snapshots_hold_vpc_cidrs_subnets_and_route_tables() {
    let block = |s: &str| -> Ipv4Net { s.parse().expect("a block") };
    let expected = [
        (
            "test-direct-connect-private-vif",
            vec!["10.50.0.0/16"],
            1,
            1,
            2,
        ),
        ("test-nat-gateway", vec!["10.1.0.0/16"], 3, 3, 5),
        ("test-public-private-subnet", vec!["10.0.0.0/16"], 2, 2, 4),
        (
            "test-transit-gateway",
            vec!["192.168.0.0/16", "10.10.0.0/16"],
            3,
            2,
            5,
        ),
        // two accounts' VPCs may share a block
        (
            "test-vpc-peering",
            vec!["192.168.0.0/16", "192.168.0.0/16", "10.10.0.0/16"],
            3,
            3,
            8,
        ),
        ("test-vpn-gateway", vec!["10.0.0.0/16"], 1, 1, 2),
    ];
    for (name, cidrs, subnets, route_tables, routes) in expected {
        let Some(snapshot) = fixture(aws_dir().join(name)) else {
            return;
        };
        let shape = read_shape(&snapshot_files(&snapshot));
        assert_eq!(
            shape,
            Shape {
                vpc_cidrs: cidrs.into_iter().map(block).collect(),
                subnets,
                route_tables,
                routes,
            },
            "{name}"
        );
    }
}

#[test]
fn a_route_table_without_its_local_route_is_seen() {
    let Some(snapshot) = fixture(aws_dir().join("test-vpn-gateway")) else {
        return;
    };
    let mut files = snapshot_files(&snapshot);
    let tables = files
        .get_mut("RouteTables.json")
        .and_then(|v| v["RouteTables"].as_array_mut())
        .expect("route tables");
    tables[0]["Routes"]
        .as_array_mut()
        .expect("routes")
        .retain(|r| r["GatewayId"] != "local");
    let failed =
        std::panic::catch_unwind(|| read_shape(&files)).expect_err("a missing local route");
    let message = failed.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        message.contains("no local route for 10.0.0.0/16"),
        "{message}"
    );
}

#[test]
fn a_present_fixture_is_used_under_ci_or_not() {
    let p = Path::new("examples/yeohaengjigi.toml");
    assert_eq!(decide(p, true, true), Ok(()));
    assert_eq!(decide(p, true, false), Ok(()));
}

#[test]
fn an_absent_fixture_is_skipped_outside_ci_naming_its_path() {
    let e = decide(Path::new("tests/fixtures/aws/gone"), false, false).expect_err("a skip");
    assert!(
        e.starts_with("skipped: fixture tests/fixtures/aws/gone is missing"),
        "{e}"
    );
}

#[test]
#[should_panic(expected = "fixture tests/fixtures/aws/gone is missing")]
fn an_absent_fixture_fails_under_ci() {
    let _ = decide(Path::new("tests/fixtures/aws/gone"), false, true);
}
