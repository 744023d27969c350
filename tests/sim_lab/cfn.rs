//! CloudFormation stacks imported (`vifgate topology import-cfn`) and
//! built as a lab: what the templates mean holds statically and live. The
//! third-party templates are in `tests/fixtures/cfn/` (a missing one fails
//! under `CI=true`); the import alone is tested in `cfn_import.rs`.

use std::path::Path;
use std::time::Instant;

use crate::common;
use crate::common::lab::{cli, cli_lab, ready};
use crate::common::leftovers::assert_gone;
use crate::common::text;

/// Laid over the two-stack import: probe instances in the private subnets
/// (the app tier, the database tier, one in the VPC's default group) and
/// what the stacks' groups intend, the bastion's reach included.
const STACKS_OFFICE: &str = include_str!("../cfn/startup-kit-stacks-office.toml");

/// A VPC stack and a bastion stack importing its subnet and security group
/// (`Fn::ImportValue`), imported as one deployment with one NAT gateway
/// per zone: `topology check` holds every expectation, and in the lab the
/// internet reaches the bastion's Elastic IP on SSH, the bastion reaches
/// the private tiers on their ports only, the tiers go out through their
/// NAT gateways, and static and live agree on every probed cell.
#[test]
fn a_vpc_stack_and_a_bastion_stack_imported_together_check_and_agree_live() {
    if !ready("a_vpc_stack_and_a_bastion_stack_imported_together_check_and_agree_live") {
        return;
    }
    let Some(fixtures) =
        common::cfn_fixture_dir(&["startup-kit-vpc.yaml", "startup-kit-bastion.yaml"])
    else {
        return;
    };
    let lab = cli_lab();
    let office = std::env::temp_dir().join(format!("{lab}-office.toml"));
    let imported = std::env::temp_dir().join(format!("{lab}-two-stacks.toml"));
    std::fs::write(&office, STACKS_OFFICE).expect("office file");
    let path = |p: &Path| p.to_str().expect("utf-8 path").to_string();
    let vpc = format!("vpc={}", path(&fixtures.join("startup-kit-vpc.yaml")));
    let bastion = format!(
        "bastion={}",
        path(&fixtures.join("startup-kit-bastion.yaml"))
    );
    let (office_arg, imported_arg) = (path(&office), path(&imported));
    let o = cli(&[
        "topology",
        "import-cfn",
        &vpc,
        &bastion,
        "--param",
        "AvailabilityZone1=us-east-1a",
        "--param",
        "AvailabilityZone2=us-east-1b",
        "--param",
        "vpc.SingleNatGateway=false",
        "--param",
        "bastion.NetworkStackName=vpc",
        "--param",
        "KeyName=ops",
        "--merge",
        &office_arg,
        "-o",
        &imported_arg,
    ]);
    assert!(o.status.success(), "import-cfn: {}", text(&o));
    let warnings = String::from_utf8_lossy(&o.stderr);
    assert!(!warnings.contains("unresolved"), "{warnings}");

    // the bastion stack's instance, in the VPC stack's subnet and group,
    // with its Elastic IP; a NAT gateway per zone
    let t = topology::load(&imported)
        .unwrap_or_else(|d| panic!("{d}"))
        .topology;
    let host = &t.nodes[t.node_by_name("bastion-host").expect("bastion-host")];
    let eni = &host.interfaces[0];
    let sgs: Vec<&str> = host
        .security_groups
        .iter()
        .map(|&g| t.security_groups[g].name.as_str())
        .collect();
    assert_eq!(sgs, ["bastion-security-group"]);
    assert_eq!(
        t.subnet_of(eni.ip).map(|s| t.subnets[s].name.as_str()),
        Some("public-subnet-1")
    );
    let public = eni.public_ip.expect("the bastion's Elastic IP");
    let nats = t
        .nodes
        .iter()
        .filter(|n| n.kind == topology::model::NodeKind::NatGateway)
        .count();
    assert_eq!(nats, 2, "a NAT gateway per zone");

    let o = cli(&["topology", "check", &imported_arg, "--json"]);
    assert_eq!(o.status.code(), Some(0), "check: {}", text(&o));
    let checked: serde_json::Value = serde_json::from_slice(&o.stdout).expect("check JSON");
    let expects = STACKS_OFFICE.matches("[[expect]]").count();
    let holding = checked["expectations"].as_array().expect("expectations");
    assert_eq!(holding.len(), expects, "{checked:#}");
    assert!(holding.iter().all(|e| e["holds"] == true), "{checked:#}");

    let started = Instant::now();
    let o = cli(&[
        "sim",
        "test",
        &imported_arg,
        "--lab",
        &lab,
        "--json",
        "--ports",
        "22,5432",
    ]);
    let took = started.elapsed();
    assert_eq!(o.status.code(), Some(0), "sim test: {}", text(&o));
    assert_gone(&lab, "after sim test");
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON report");
    assert_eq!(r["disagreements"], 0, "{}", text(&o));
    assert_eq!(r["failed_expectations"], 0, "{}", text(&o));
    let checks = r["expectations"].as_array().expect("expectations");
    assert_eq!(checks.len(), expects, "{}", text(&o));
    assert!(checks.iter().all(|c| c["ok"] == true), "{}", text(&o));
    let ssh = checks
        .iter()
        .find(|c| c["from"] == "internet" && c["to"] == "bastion-host" && c["service"] == "tcp/22")
        .expect("internet -> bastion-host tcp/22");
    assert_eq!(ssh["live"][0], format!("{public}: reply"), "{ssh:#}");
    let cells = r["probed_cells"].as_u64().unwrap_or(0);
    assert!(cells > 0, "{}", text(&o));
    assert_eq!(r["matrix"].as_array().map(Vec::len), Some(cells as usize));
    eprintln!(
        "two stacks: sim test in {:.2} s: {cells} cells, {} probes, {expects} expectations",
        took.as_secs_f64(),
        r["probes"]
    );
    std::fs::remove_file(&office).ok();
    std::fs::remove_file(&imported).ok();
}
