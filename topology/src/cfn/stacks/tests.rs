//! Deployments of small templates: exports resolving imports, the
//! creation order, renamed ids, and each error with its file, line and
//! column.

use super::*;
use crate::cfn::Value;

/// A VPC stack exporting its VPC, subnet, group and the subnets joined.
const NET: &str = r#"Parameters:
  Env:
    Type: String
    Default: test
Resources:
  Vpc:
    Type: AWS::EC2::VPC
    Properties: { CidrBlock: 10.0.0.0/16 }
  SubnetA:
    Type: AWS::EC2::Subnet
    Properties: { VpcId: !Ref Vpc, CidrBlock: 10.0.0.0/24 }
  SubnetB:
    Type: AWS::EC2::Subnet
    Properties: { VpcId: !Ref Vpc, CidrBlock: 10.0.1.0/24 }
  Sg:
    Type: AWS::EC2::SecurityGroup
    Properties: { GroupDescription: net, VpcId: !Ref Vpc }
Outputs:
  VpcId:
    Value: !Ref Vpc
    Export: { Name: !Sub '${AWS::StackName}-VpcId' }
  Cidr:
    Value: !GetAtt Vpc.CidrBlock
    Export: { Name: !Sub '${AWS::StackName}-Cidr' }
  SubnetA:
    Value: !Ref SubnetA
    Export: { Name: !Sub '${AWS::StackName}-SubnetA' }
  Subnets:
    Value: !Join [',', [!Ref SubnetA, !Ref SubnetB]]
    Export: { Name: !Sub '${AWS::StackName}-Subnets' }
  Group:
    Value: !GetAtt Sg.GroupId
    Export: { Name: !Sub '${AWS::StackName}-Sg' }
  NotExported:
    Value: !Ref SubnetB
"#;

/// A stack on [`NET`] through `ParentStack`, with its own `Sg` too.
const APP: &str = r#"Parameters:
  ParentStack:
    Type: String
  Env:
    Type: String
    Default: test
Resources:
  Sg:
    Type: AWS::EC2::SecurityGroup
    Properties:
      GroupDescription: app
      VpcId: !ImportValue
        'Fn::Sub': '${ParentStack}-VpcId'
      SecurityGroupIngress:
        - { IpProtocol: tcp, FromPort: 22, ToPort: 22, SourceSecurityGroupId: {'Fn::ImportValue': !Sub '${ParentStack}-Sg'} }
        - { IpProtocol: tcp, FromPort: 443, ToPort: 443, CidrIp: {'Fn::ImportValue': !Sub '${ParentStack}-Cidr'} }
  Host:
    Type: AWS::EC2::Instance
    Properties:
      SubnetId: {'Fn::ImportValue': !Sub '${ParentStack}-SubnetA'}
      SecurityGroupIds: [!Ref Sg]
  Other:
    Type: AWS::EC2::Instance
    Properties:
      SubnetId: !Select [1, !Split [',', {'Fn::ImportValue': !Sub '${ParentStack}-Subnets'}]]
"#;

fn stack(name: &str, text: &str, params: &[(&str, &str)]) -> StackTemplate {
    StackTemplate {
        name: name.to_string(),
        src: SourceFile::new(format!("{name}.yaml"), text.to_string()),
        params: params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

fn net_and_app() -> Vec<StackTemplate> {
    vec![
        stack("net", NET, &[]),
        stack("app", APP, &[("ParentStack", "net")]),
    ]
}

fn deployed(templates: Vec<StackTemplate>) -> Deployment {
    deploy(templates, &DeploymentOptions::default()).unwrap_or_else(|d| panic!("{d}"))
}

fn errors(templates: Vec<StackTemplate>, opts: &DeploymentOptions) -> Vec<Diagnostic> {
    match deploy(templates, opts) {
        Ok(_) => panic!("deployed, but an error was expected"),
        Err(d) => d.0,
    }
}

fn prop<'d>(d: &'d Deployment, id: &str, key: &str) -> &'d Value {
    let r = d
        .stacks
        .iter()
        .flat_map(|s| &s.evaluated.resources)
        .find(|r| r.id == id)
        .unwrap_or_else(|| panic!("no resource {id}"));
    r.props
        .get(key)
        .unwrap_or_else(|| panic!("{id} has no {key}"))
}

#[test]
fn imports_are_the_exporting_stacks_resources() {
    let d = deployed(net_and_app());
    assert_eq!(prop(&d, "Host", "SubnetId"), &Value::Ref("SubnetA".into()));
    assert_eq!(prop(&d, "app.Sg", "VpcId"), &Value::Ref("Vpc".into()));
    // the joined export splits back into the subnets
    assert_eq!(prop(&d, "Other", "SubnetId"), &Value::Ref("SubnetB".into()));
    let Value::List(rules) = prop(&d, "app.Sg", "SecurityGroupIngress") else {
        panic!("rules");
    };
    assert_eq!(
        rules[0].get("SourceSecurityGroupId"),
        Some(&Value::Ref("Sg".into()))
    );
    assert_eq!(
        rules[1].get("CidrIp"),
        Some(&Value::Str("10.0.0.0/16".into()))
    );
    assert!(d.unresolved().is_empty());
    assert_eq!(d.combined().stack_name, "net + app");
    // every import is noted, resolved
    let app = &d.stacks[1];
    assert_eq!(
        app.evaluated.imports.len(),
        5,
        "{:?}",
        app.evaluated.imports
    );
    assert!(app.evaluated.imports.iter().all(|u| u.resolved));
    // the exports: the non-exported output is not one
    let names: Vec<&str> = d.stacks[0]
        .evaluated
        .exports
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "net-VpcId",
            "net-Cidr",
            "net-SubnetA",
            "net-Subnets",
            "net-Sg"
        ]
    );
    assert_eq!(
        d.stacks[0].evaluated.exports[3].joined.as_deref(),
        Some(",")
    );
}

#[test]
fn stacks_are_created_after_what_they_import_whatever_the_given_order() {
    let mut given = net_and_app();
    given.reverse();
    let d = deployed(given);
    let order: Vec<&str> = d.stacks.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(order, ["net", "app"]);
    assert_eq!(prop(&d, "Host", "SubnetId"), &Value::Ref("SubnetA".into()));
}

#[test]
fn a_later_stacks_colliding_ids_are_renamed_and_traced_back() {
    let d = deployed(net_and_app());
    let combined = d.combined();
    let ids: Vec<&str> = combined.resources.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        ids,
        ["Vpc", "SubnetA", "SubnetB", "Sg", "app.Sg", "Host", "Other"]
    );
    // the app's own reference follows the rename
    assert_eq!(
        prop(&d, "Host", "SecurityGroupIds"),
        &Value::List(vec![Value::Ref("app.Sg".into())])
    );
    let (s, own) = d.origin("app.Sg").expect("origin");
    assert_eq!((s.name.as_str(), own.as_str()), ("app", "Sg"));
    let (s, own) = d.origin("Sg").expect("origin");
    assert_eq!((s.name.as_str(), own.as_str()), ("net", "Sg"));
    let w = ImportWarning {
        logical_id: "app.Sg".into(),
        line: 8,
        message: "m".into(),
    };
    let (s, w) = d.attribute(&w);
    assert_eq!(s.map(|s| s.name.as_str()), Some("app"));
    assert_eq!(w.logical_id, "Sg");
}

#[test]
fn an_export_missing_from_a_given_stack_is_an_error_at_the_import() {
    let app = APP.replace("${ParentStack}-SubnetA'", "${ParentStack}-SubnetX'");
    let e = errors(
        vec![
            stack("net", NET, &[]),
            stack("app", &app, &[("ParentStack", "net")]),
        ],
        &DeploymentOptions::default(),
    );
    assert_eq!(e.len(), 1, "{e:#?}");
    let d = &e[0];
    assert_eq!(d.file, PathBuf::from("app.yaml"));
    assert_eq!((d.line, d.col), (20, 42));
    assert_eq!(
        d.message,
        "`Host` imports `net-SubnetX`, which stack `net` does not export"
    );
    assert!(
        d.expected
            .as_deref()
            .is_some_and(|x| x.contains("net-SubnetA")),
        "{d:?}"
    );
    assert_eq!(d.hint.as_deref(), Some("did you mean `net-SubnetA`?"));
}

#[test]
fn an_import_of_no_given_stack_is_unresolved_or_given_with_import() {
    let app = APP.replace("${ParentStack}-Cidr'", "corp-OfficeCidr'");
    let d = deployed(vec![
        stack("net", NET, &[]),
        stack("app", &app, &[("ParentStack", "net")]),
    ]);
    let un = d.unresolved();
    assert_eq!(un.len(), 1);
    assert_eq!(un[0].0.name, "app");
    assert_eq!(
        (un[0].1.name.as_str(), un[0].1.line),
        ("corp-OfficeCidr", 16)
    );
    assert!(d.stacks[1]
        .evaluated
        .warnings
        .iter()
        .any(|w| w.message.contains("--import corp-OfficeCidr=VALUE")));

    let opts = DeploymentOptions {
        imports: vec![("corp-OfficeCidr".into(), "10.200.0.0/16".into())],
        ..DeploymentOptions::default()
    };
    let d = deploy(
        vec![
            stack("net", NET, &[]),
            stack("app", &app, &[("ParentStack", "net")]),
        ],
        &opts,
    )
    .unwrap_or_else(|d| panic!("{d}"));
    assert!(d.unresolved().is_empty());
    let Value::List(rules) = prop(&d, "app.Sg", "SecurityGroupIngress") else {
        panic!("rules");
    };
    assert_eq!(
        rules[1].get("CidrIp"),
        Some(&Value::Str("10.200.0.0/16".into()))
    );
}

#[test]
fn an_import_option_for_a_given_stacks_export_is_an_error() {
    let opts = DeploymentOptions {
        imports: vec![("net-SubnetA".into(), "subnet-1".into())],
        ..DeploymentOptions::default()
    };
    let e = errors(net_and_app(), &opts);
    assert_eq!(e.len(), 1, "{e:#?}");
    assert_eq!(e[0].file, PathBuf::from("net.yaml"));
    assert_eq!(e[0].line, 25);
    assert!(e[0].message.contains("--import net-SubnetA=…"), "{e:#?}");
}

/// Two stacks that each import the other's export.
const CYCLE_A: &str = r#"Resources:
  Sg:
    Type: AWS::EC2::SecurityGroup
    Properties:
      GroupDescription: a
      VpcId: !ImportValue b-Vpc
Outputs:
  Sg:
    Value: !Ref Sg
    Export: { Name: a-Sg }
"#;

const CYCLE_B: &str = r#"Resources:
  Vpc:
    Type: AWS::EC2::VPC
    Properties: { CidrBlock: 10.0.0.0/16 }
  Rule:
    Type: AWS::EC2::SecurityGroupIngress
    Properties: { GroupId: !ImportValue a-Sg, IpProtocol: tcp, FromPort: 22, ToPort: 22, CidrIp: 0.0.0.0/0 }
Outputs:
  Vpc:
    Value: !Ref Vpc
    Export: { Name: b-Vpc }
"#;

#[test]
fn cyclic_imports_are_an_error_at_each_import_of_the_cycle() {
    let e = errors(
        vec![stack("a", CYCLE_A, &[]), stack("b", CYCLE_B, &[])],
        &DeploymentOptions::default(),
    );
    assert_eq!(e.len(), 2, "{e:#?}");
    let at: Vec<(String, usize, usize)> = e
        .iter()
        .map(|d| (d.file.display().to_string(), d.line, d.col))
        .collect();
    assert_eq!(
        at,
        [("a.yaml".to_string(), 6, 27), ("b.yaml".to_string(), 7, 41)]
    );
    assert_eq!(
        e[0].message,
        "cyclic imports between stacks (a → b → a): `Sg` of stack `a` imports `b-Vpc` from stack `b`"
    );
    assert_eq!(
        e[1].message,
        "cyclic imports between stacks (a → b → a): `Rule` of stack `b` imports `a-Sg` from stack `a`"
    );
    for d in &e {
        assert!(d
            .hint
            .as_deref()
            .is_some_and(|h| h.contains("cannot create either")));
    }
}

#[test]
fn a_stack_importing_its_own_export_is_an_error() {
    let own = CYCLE_B.replace("a-Sg", "b-Vpc");
    let e = errors(vec![stack("b", &own, &[])], &DeploymentOptions::default());
    assert_eq!(e.len(), 1, "{e:#?}");
    assert_eq!((e[0].line, e[0].col), (7, 41));
    assert_eq!(
        e[0].message,
        "`Rule` imports `b-Vpc`, an export of its own stack `b`: a stack cannot import from itself"
    );
}

#[test]
fn one_name_exported_by_two_stacks_is_an_error() {
    let twin = NET.replace("${AWS::StackName}-Cidr", "net-Cidr");
    let e = errors(
        vec![stack("net", NET, &[]), stack("twin", &twin, &[])],
        &DeploymentOptions::default(),
    );
    assert_eq!(e.len(), 1, "{e:#?}");
    assert_eq!(e[0].file, PathBuf::from("twin.yaml"));
    assert_eq!(
        e[0].message,
        "`net-Cidr` is exported by stack `net` (net.yaml:22, output `Cidr`) and by stack `twin` (output `Cidr`)"
    );
}

#[test]
fn an_export_whose_condition_is_false_is_not_there() {
    let net = NET.replace(
        "  Cidr:\n    Value",
        "  Cidr:\n    Condition: Never\n    Value",
    ) + "Conditions:\n  Never: !Equals [a, b]\n";
    let e = errors(
        vec![
            stack("net", &net, &[]),
            stack("app", APP, &[("ParentStack", "net")]),
        ],
        &DeploymentOptions::default(),
    );
    assert_eq!(e.len(), 1, "{e:#?}");
    assert_eq!(
        e[0].message,
        "`Sg` imports `net-Cidr`, which stack `net` exports only when its condition `Never` holds, and it does not"
    );
}

#[test]
fn parameter_messages_name_the_stack() {
    let e = errors(
        vec![stack("net", NET, &[]), stack("app", APP, &[])],
        &DeploymentOptions::default(),
    );
    assert_eq!(e.len(), 1, "{e:#?}");
    assert_eq!(e[0].file, PathBuf::from("app.yaml"));
    assert_eq!(
        e[0].hint.as_deref(),
        Some("--param app.ParentStack=VALUE (a stack's name? this import's other stacks: net)")
    );
}

#[test]
fn stacks_need_distinct_valid_names() {
    let e = errors(
        vec![stack("net", NET, &[]), stack("net", NET, &[])],
        &DeploymentOptions::default(),
    );
    assert_eq!(e.len(), 1, "{e:#?}");
    assert!(e[0].message.starts_with("two stacks are named `net`"));
    assert_eq!(
        e[0].hint.as_deref(),
        Some("name one on the command line: NAME=TEMPLATE")
    );
    assert!(check_stack_name("1net").is_err());
    assert!(check_stack_name("net_1").is_err());
    assert!(check_stack_name("net-1").is_ok());
    assert_eq!(
        default_stack_name(std::path::Path::new("x/vpc.cfn.yml")),
        "vpc-cfn"
    );
    assert_eq!(
        default_stack_name(std::path::Path::new("2azs.yaml")),
        "stack-2azs"
    );
}

#[test]
fn params_go_to_the_named_stack_or_every_stack_declaring_them() {
    let stacks = vec![
        ("net".to_string(), vec!["Env".to_string()]),
        (
            "app".to_string(),
            vec!["ParentStack".to_string(), "Env".to_string()],
        ),
    ];
    let given = |kv: &[(&str, &str)]| -> Vec<(String, String)> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let routed = route_params(
        &stacks,
        &given(&[("Env", "prod"), ("app.ParentStack", "net")]),
    )
    .expect("routed");
    assert_eq!(routed[0], given(&[("Env", "prod")]));
    assert_eq!(routed[1], given(&[("Env", "prod"), ("ParentStack", "net")]));

    let e = route_params(&stacks, &given(&[("ap.ParentStack", "net")])).unwrap_err();
    assert_eq!(
        e,
        "--param ap.ParentStack=net: no stack `ap` in this import (stacks: net, app); did you mean `app`?"
    );
    let e = route_params(&stacks, &given(&[("Nope", "1")])).unwrap_err();
    assert_eq!(
        e,
        "--param Nope=1: no template declares `Nope` (stacks: net, app)"
    );
    let e = route_params(&stacks, &given(&[("ParentStak", "net")])).unwrap_err();
    assert!(e.ends_with("; did you mean `ParentStack`?"), "{e}");
    // one template: the evaluator judges the key, as for a single import
    let one = &stacks[..1];
    assert_eq!(
        route_params(one, &given(&[("Nope", "1")])).expect("routed")[0],
        given(&[("Nope", "1")])
    );
}

#[test]
fn a_stack_in_error_does_not_make_the_stacks_after_it_fail_too() {
    // `mid` asks `net` for what it does not export; `top` imports from
    // `mid`, which exports it: only `mid`'s error is reported
    let mid = r#"Resources:
  Sg:
    Type: AWS::EC2::SecurityGroup
    Properties: { GroupDescription: mid, VpcId: !ImportValue net-Nope }
Outputs:
  Sg:
    Value: !Ref Sg
    Export: { Name: mid-Sg }
"#;
    let top = r#"Resources:
  Rule:
    Type: AWS::EC2::SecurityGroupIngress
    Properties: { GroupId: !ImportValue mid-Sg, IpProtocol: tcp, FromPort: 22, ToPort: 22, CidrIp: 0.0.0.0/0 }
"#;
    let e = errors(
        vec![
            stack("top", top, &[]),
            stack("mid", mid, &[]),
            stack("net", NET, &[]),
        ],
        &DeploymentOptions::default(),
    );
    assert_eq!(e.len(), 1, "{e:#?}");
    assert_eq!(e[0].file, PathBuf::from("mid.yaml"));
    assert_eq!(
        e[0].message,
        "`Sg` imports `net-Nope`, which stack `net` does not export"
    );
}

/// Names CloudFormation resolves before any resource exists, and outputs
/// that are not strings.
const BAD_NAMES: &str = r#"Parameters:
  Env: {Type: String, Default: a}
Resources:
  VPC:
    Type: AWS::EC2::VPC
    Properties: {CidrBlock: 10.0.0.0/16}
  Sg:
    Type: AWS::EC2::SecurityGroup
    Properties:
      GroupDescription: x
      VpcId: !ImportValue {'Fn::ImportValue': pointer}
  Sg2:
    Type: AWS::EC2::SecurityGroup
    Properties:
      GroupDescription: x
      VpcId: !ImportValue {'Fn::Select': [0, !GetAZs '']}
  Sg3:
    Type: AWS::EC2::SecurityGroup
    Properties:
      GroupDescription: x
      VpcId: !ImportValue {'Fn::Sub': '${VPC}-id'}
Outputs:
  Id:
    Value: !Ref VPC
    Export: {Name: !Sub '${VPC}-id'}
  Lst:
    Value: [!Ref VPC, !Ref Sg]
    Export: {Name: !Sub '${Env}-lst'}
  Bad-Id:
    Value: x
"#;

#[test]
fn names_resolved_before_deployment_cannot_use_resources_and_outputs_are_strings() {
    let e = errors(
        vec![stack("bad", BAD_NAMES, &[])],
        &DeploymentOptions::default(),
    );
    let got: Vec<(usize, usize, &str)> = e
        .iter()
        .map(|d| (d.line, d.col, d.message.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (11, 27, "the name in Fn::ImportValue cannot use Fn::ImportValue"),
            (16, 54, "the name in Fn::ImportValue cannot use Fn::GetAZs"),
            (
                21,
                39,
                "the name in Fn::ImportValue cannot depend on the resource `VPC`: CloudFormation resolves it before any resource exists"
            ),
            (
                25,
                25,
                "an export's name cannot depend on the resource `VPC`: CloudFormation resolves it before any resource exists"
            ),
            (27, 12, "the Value of output `Lst` is a list"),
            (29, 3, "`Bad-Id` is not a logical id"),
        ]
    );
}

#[test]
fn over_200_outputs_is_an_error() {
    let mut t = String::from(
        "Resources:\n  Vpc:\n    Type: AWS::EC2::VPC\n    Properties: {CidrBlock: 10.0.0.0/16}\nOutputs:\n",
    );
    for i in 0..201 {
        t.push_str(&format!("  O{i}:\n    Value: x\n"));
    }
    let e = errors(vec![stack("many", &t, &[])], &DeploymentOptions::default());
    assert_eq!(e.len(), 1, "{e:#?}");
    assert_eq!(e[0].message, "201 outputs, over CloudFormation's 200");
    assert_eq!(e[0].line, 5);
}

#[test]
fn over_cloudformations_quotas_of_resources_parameters_and_mappings_is_an_error() {
    // CloudFormation refuses such templates; they were imported
    let vpc = "  Vpc:\n    Type: AWS::EC2::VPC\n    Properties: {CidrBlock: 10.0.0.0/16}\n";
    let mut resources = format!("Resources:\n{vpc}");
    for i in 0..500 {
        resources.push_str(&format!(
            "  Sg{i}:\n    Type: AWS::EC2::SecurityGroup\n    Properties: {{GroupDescription: x, VpcId: !Ref Vpc}}\n"
        ));
    }
    let mut parameters = String::from("Parameters:\n");
    let mut mappings = String::from("Mappings:\n");
    for i in 0..201 {
        parameters.push_str(&format!("  P{i}: {{Type: String, Default: x}}\n"));
        mappings.push_str(&format!("  M{i}: {{k: {{v: x}}}}\n"));
    }
    for (text, says) in [
        (resources, "501 resources, over CloudFormation's 500"),
        (
            format!("{parameters}Resources:\n{vpc}"),
            "201 parameters, over CloudFormation's 200",
        ),
        (
            format!("{mappings}Resources:\n{vpc}"),
            "201 mappings, over CloudFormation's 200",
        ),
    ] {
        let e = errors(
            vec![stack("many", &text, &[])],
            &DeploymentOptions::default(),
        );
        assert_eq!(e.len(), 1, "{says}: {e:#?}");
        assert_eq!(e[0].message, says);
        assert_eq!(e[0].line, 1, "{says}");
    }
}

#[test]
fn a_file_that_is_not_a_template_is_one_error() {
    let e = errors(
        vec![stack(
            "pod",
            "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n",
            &[],
        )],
        &DeploymentOptions::default(),
    );
    assert_eq!(e.len(), 1, "{e:#?}");
    assert_eq!(
        e[0].message,
        "not a CloudFormation template: no `Resources` section, and `apiVersion`, `kind`, `metadata` are not template sections"
    );
}

#[test]
fn an_import_of_a_given_stack_under_another_name_says_which_and_how() {
    // the parent named `vpc`, the VPC stack named `net`
    let d = deployed(vec![
        stack("net", NET, &[]),
        stack("app", APP, &[("ParentStack", "vpc")]),
    ]);
    assert_eq!(d.unresolved().len(), 5);
    let w = d.stacks[1]
        .evaluated
        .warnings
        .iter()
        .find(|w| w.logical_id == "Host")
        .expect("a warning on Host");
    assert_eq!(
        w.message,
        "Fn::ImportValue `vpc-SubnetA`: no stack of this import exports it, but stack `net` exports `net-SubnetA`: if `vpc` means that stack, --param app.ParentStack=net"
    );
}
