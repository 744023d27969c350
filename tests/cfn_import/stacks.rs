//! Several templates as one deployment: startup-kit's VPC and bastion
//! stacks (`NetworkStackName`), widdix's VPC with a stack on it in widdix's
//! `ParentVPCStack` style (`tests/cfn/stack-widdix-bastion.yaml`), through
//! the library and the binary.

use std::path::Path;

use topology::analysis::{Service, Verdict};
use topology::cfn::stacks::{self, DeploymentOptions, StackTemplate};
use topology::model::{Attachment, Interface, NodeKind};

use super::{expect, map_and_load, own, temp, text, vifgate, Imported, STARTUP_KIT_AZS};

/// Probes in the kit's private subnets and what the stacks intend, shared
/// with the live test in tests/sim_lab/cfn.rs.
const STACKS_OFFICE: &str = include_str!("../cfn/startup-kit-stacks-office.toml");

/// A stack to deploy: its name, template and parameters.
type Stack<'a> = (&'a str, &'a Path, &'a [(&'a str, &'a str)]);

/// Deploys `(stack name, template, parameters)`, maps it, merges `office`
/// when given, and loads it; panics with the diagnostics.
fn deploy(
    templates: &[Stack],
    imports: &[(&str, &str)],
    office: Option<&str>,
) -> (Imported, stacks::Deployment) {
    let templates = templates
        .iter()
        .map(|(name, path, params)| StackTemplate {
            name: name.to_string(),
            src: topology::diag::read_source(path).unwrap_or_else(|d| panic!("{d}")),
            params: params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        })
        .collect();
    let opts = DeploymentOptions {
        imports: imports
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..DeploymentOptions::default()
    };
    let d = stacks::deploy(templates, &opts).unwrap_or_else(|d| panic!("{d}"));
    let warnings = d
        .stacks
        .iter()
        .flat_map(|s| s.evaluated.warnings.iter().cloned())
        .collect();
    (map_and_load(&d.combined(), warnings, office), d)
}

/// The name of the subnet an interface is in.
fn subnet_of(t: &Imported, eni: &Interface) -> String {
    match eni.attachment {
        Attachment::Subnet(s) => t.loaded.topology.subnets[s].name.clone(),
        ref other => panic!("{} is not in a subnet: {other:?}", eni.name),
    }
}

fn kit_params() -> Vec<(&'static str, &'static str)> {
    STARTUP_KIT_AZS.to_vec()
}

#[test]
fn startup_kit_bastion_stack_lands_in_the_vpc_stacks_subnet_and_group() {
    let Some(dir) =
        super::common::cfn_fixture_dir(&["startup-kit-vpc.yaml", "startup-kit-bastion.yaml"])
    else {
        return;
    };
    let vpc = dir.join("startup-kit-vpc.yaml");
    let bastion = dir.join("startup-kit-bastion.yaml");
    let bastion_params = [("NetworkStackName", "vpc"), ("KeyName", "ops")];
    let (t, d) = deploy(
        &[
            ("vpc", &vpc, &kit_params()),
            ("bastion", &bastion, &bastion_params),
        ],
        &[],
        Some(STACKS_OFFICE),
    );
    assert!(d.unresolved().is_empty());
    // the bastion's interface: the VPC stack's public subnet and group,
    // and the bastion stack's Elastic IP
    let topo = &t.loaded.topology;
    let host = &topo.nodes[topo.node_by_name("bastion-host").expect("bastion-host")];
    let eni = &host.interfaces[0];
    assert_eq!(subnet_of(&t, eni), "public-subnet-1");
    assert!(eni.public_ip.is_some(), "{}", t.text);
    assert!(
        t.text
            .contains("security_groups = [\"bastion-security-group\"]"),
        "{}",
        t.text
    );
    // reachable on SSH from the internet; it reaches the private tiers
    expect(
        &t,
        "internet",
        "bastion-host",
        Service::Tcp(22),
        Verdict::Accepted,
    );
    expect(
        &t,
        "internet",
        "bastion-host",
        Service::Tcp(80),
        Verdict::Denied,
    );
    expect(
        &t,
        "bastion-host",
        "app-1",
        Service::Tcp(22),
        Verdict::Accepted,
    );
    for port in [5432, 3306] {
        expect(
            &t,
            "bastion-host",
            "db-1",
            Service::Tcp(port),
            Verdict::Accepted,
        );
    }
    // and only where its group lets it
    expect(
        &t,
        "bastion-host",
        "plain-1",
        Service::Tcp(22),
        Verdict::Denied,
    );
    expect(&t, "internet", "app-1", Service::Tcp(22), Verdict::NoRoute);

    // given the other way round, the same deployment
    let (back, _) = deploy(
        &[
            ("bastion", &bastion, &bastion_params),
            ("vpc", &vpc, &kit_params()),
        ],
        &[],
        Some(STACKS_OFFICE),
    );
    assert_eq!(back.text, t.text);
}

#[test]
fn widdix_parent_stack_imports_split_subnets_and_the_vpcs_block() {
    let Some(dir) = super::common::cfn_fixture_dir(&["widdix-vpc-2azs.yaml"]) else {
        return;
    };
    let vpc = dir.join("widdix-vpc-2azs.yaml");
    let consumer = own("stack-widdix-bastion.yaml");
    let params = [("ParentVPCStack", "net")];
    let (t, d) = deploy(
        &[("net", &vpc, &[]), ("bastion", &consumer, &params)],
        &[],
        None,
    );
    let topo = &t.loaded.topology;
    // the Auto Scaling group spreads over `SubnetsPublic`, split back into
    // the VPC stack's two subnets, with public addresses
    let bastions: Vec<&str> = topo
        .nodes
        .iter()
        .filter(|n| matches!(n.kind, NodeKind::AsgInstance { .. }))
        .map(|n| n.name.as_str())
        .collect();
    assert_eq!(bastions.len(), 1, "{}", t.text);
    assert!(
        t.text
            .contains("subnets = [\"subnet-a-public\", \"subnet-b-public\"]"),
        "{}",
        t.text
    );
    let b = bastions[0];
    expect(&t, "internet", b, Service::Tcp(22), Verdict::Accepted);
    // the app host: the first of `SubnetsPrivate`; SSH from the bastion's
    // group, HTTPS from the VPC's block (`CidrBlock` export)
    let app = &topo.nodes[topo.node_by_name("app-instance").expect("app-instance")];
    assert_eq!(subnet_of(&t, &app.interfaces[0]), "subnet-a-private");
    expect(&t, b, "app-instance", Service::Tcp(22), Verdict::Accepted);
    expect(&t, b, "app-instance", Service::Tcp(443), Verdict::Accepted);
    expect(
        &t,
        "internet",
        "app-instance",
        Service::Tcp(22),
        Verdict::NoRoute,
    );
    // the office's block comes from a stack not imported: unresolved, and
    // its rule skipped
    let un: Vec<&str> = d
        .unresolved()
        .iter()
        .map(|(_, u)| u.name.as_str())
        .collect();
    assert_eq!(un, ["corp-OfficeCidr"]);
    assert!(!t.text.contains("10.200.0.0/16"));

    // given with --import, it is a rule
    let (t, d) = deploy(
        &[("net", &vpc, &[]), ("bastion", &consumer, &params)],
        &[("corp-OfficeCidr", "10.200.0.0/16")],
        None,
    );
    assert!(d.unresolved().is_empty());
    assert!(
        t.text
            .contains("{ protocol = \"tcp\", ports = 443, cidr = \"10.200.0.0/16\" }"),
        "{}",
        t.text
    );
}

#[test]
fn cli_imports_two_stacks_and_lists_what_stays_unresolved() {
    let Some(dir) =
        super::common::cfn_fixture_dir(&["startup-kit-vpc.yaml", "startup-kit-bastion.yaml"])
    else {
        return;
    };
    let out = temp("stacks");
    let vpc = format!("vpc={}", dir.join("startup-kit-vpc.yaml").display());
    let bastion = format!("bastion={}", dir.join("startup-kit-bastion.yaml").display());
    let file = out.join("two.toml");
    let file_arg = file.to_str().expect("utf-8");
    let args = |extra: &[&str]| -> Vec<String> {
        let mut a: Vec<String> = [
            "topology",
            "import-cfn",
            &bastion,
            &vpc,
            "--param",
            "AvailabilityZone1=us-east-1a",
            "--param",
            "AvailabilityZone2=us-east-1b",
            "--param",
            "KeyName=ops",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let run = |a: Vec<String>| {
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        vifgate(&a)
    };
    let o = run(args(&[
        "--param",
        "bastion.NetworkStackName=vpc",
        "--import",
        "vpc-Typo=1",
        "-o",
        file_arg,
    ]));
    assert!(o.status.success(), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(!err.contains("unresolved"), "{err}");
    // an --import no template asks for is named (a typo, probably)
    assert!(
        err.contains("warning: --import vpc-Typo: no template imports `vpc-Typo`"),
        "{err}"
    );
    // warnings name each stack's own template
    assert!(
        err.contains("startup-kit-bastion.yaml:81: warning: LogRole: "),
        "{err}"
    );
    assert!(err.contains("startup-kit-vpc.yaml:"), "{err}");
    let written = std::fs::read_to_string(&file).expect("written");
    assert!(
        written.contains("# stack bastion (")
            && written.contains("parameters: KeyName=ops NetworkStackName=vpc\n"),
        "{written}"
    );
    let chk = vifgate(&["topology", "check", file_arg]);
    assert!(chk.status.success(), "{}", text(&chk.stderr));

    // the bastion's parent named wrong: its imports are unresolved, listed
    // in one warning
    let o = run(args(&[
        "--param",
        "bastion.NetworkStackName=net",
        "-o",
        file_arg,
    ]));
    assert!(o.status.success(), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    let summary = err
        .lines()
        .find(|l| l.starts_with("warning: 2 imports left unresolved"))
        .unwrap_or_else(|| panic!("no summary:\n{err}"));
    assert!(summary.contains("`net-PublicSubnet1ID` ("), "{summary}");
    assert!(summary.contains("`net-BastionGroupID` ("), "{summary}");
    assert!(
        summary.contains("startup-kit-bastion.yaml:253:"),
        "{summary}"
    );

    // a parameter the named stack does not declare
    let o = run(args(&[
        "--param",
        "bastion.NetworkStackName=vpc",
        "--param",
        "vpc.KeyName=x",
    ]));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(
        err.contains("--param vpc.KeyName: the template has no parameter `KeyName`"),
        "{err}"
    );

    // a parameter for a stack that is not there
    let o = run(args(&["--param", "bastoin.NetworkStackName=vpc"]));
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert!(
        err.contains(
            "no stack `bastoin` in this import (stacks: bastion, vpc); did you mean `bastion`?"
        ),
        "{err}"
    );
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn cli_errors_for_a_missing_export_and_cyclic_imports_name_file_and_line() {
    let out = temp("stack-errors");
    let a = out.join("a.yaml");
    let b = out.join("b.yaml");
    std::fs::write(
        &a,
        "Resources:\n  Sg:\n    Type: AWS::EC2::SecurityGroup\n    Properties:\n      GroupDescription: a\n      VpcId: !ImportValue b-Vpc\nOutputs:\n  Sg:\n    Value: !Ref Sg\n    Export: { Name: a-Sg }\n",
    )
    .expect("write");
    std::fs::write(
        &b,
        "Resources:\n  Vpc:\n    Type: AWS::EC2::VPC\n    Properties: { CidrBlock: 10.0.0.0/16 }\n  Rule:\n    Type: AWS::EC2::SecurityGroupIngress\n    Properties: { GroupId: !ImportValue a-Sg, IpProtocol: tcp, FromPort: 22, ToPort: 22, CidrIp: 0.0.0.0/0 }\nOutputs:\n  Vpc:\n    Value: !Ref Vpc\n    Export: { Name: b-Vpc }\n",
    )
    .expect("write");
    let (ap, bp) = (a.display().to_string(), b.display().to_string());
    let o = vifgate(&["topology", "import-cfn", &ap, &bp]);
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert!(err.contains(&format!("{ap}:6:")), "{err}");
    assert!(err.contains(&format!("{bp}:7:")), "{err}");
    assert!(
        err.contains("cyclic imports between stacks (a → b → a): `Sg` of stack `a` imports `b-Vpc` from stack `b`"),
        "{err}"
    );
    assert!(o.stdout.is_empty());

    // b exports no `b-Vpcs`
    let typo = std::fs::read_to_string(&a)
        .expect("read")
        .replace("b-Vpc", "b-Vpcs");
    std::fs::write(&a, typo).expect("write");
    let o = vifgate(&["topology", "import-cfn", &ap, &bp]);
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert!(err.contains(&format!("{ap}:6:")), "{err}");
    assert!(
        err.contains("`Sg` imports `b-Vpcs`, which stack `b` does not export"),
        "{err}"
    );
    assert!(err.contains("did you mean `b-Vpc`?"), "{err}");
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn cli_one_template_as_two_stacks_names_the_stack_in_its_warnings() {
    let Some(dir) = super::common::cfn_fixture_dir(&["widdix-vpc-2azs.yaml"]) else {
        return;
    };
    let vpc = format!("net={}", dir.join("widdix-vpc-2azs.yaml").display());
    let o = vifgate(&[
        "topology",
        "import-cfn",
        &vpc,
        "a=tests/cfn/stack-widdix-bastion.yaml",
        "b=tests/cfn/stack-widdix-bastion.yaml",
        "--param",
        "ParentVPCStack=net",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    for stack in ["a", "b"] {
        assert!(
            err.contains(&format!(
                "tests/cfn/stack-widdix-bastion.yaml:71: warning: {stack}.AppSecurityGroup: Fn::ImportValue `corp-OfficeCidr`"
            )),
            "{err}"
        );
    }
    // both stacks' hosts are in the topology, the second's renamed
    let out = text(&o.stdout);
    assert!(out.contains("name = \"app-instance\""), "{out}");
    assert!(out.contains("name = \"b-app-instance\""), "{out}");
}
