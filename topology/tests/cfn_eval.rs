//! CloudFormation evaluation end to end: the templates in `tests/cfn/`
//! (every intrinsic function, with known results) and the real third-party
//! templates in `tests/fixtures/cfn/`.

use std::path::{Path, PathBuf};

use topology::cfn::eval::evaluate;
use topology::cfn::{Evaluated, ImportOptions, Value};
use topology::diag::{read_source, Diagnostics};

#[path = "../../tests/common/fixture.rs"]
mod fixture;

fn template_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/cfn")
}

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/cfn")
}

fn run(path: &Path, opts: &ImportOptions) -> Result<Evaluated, Diagnostics> {
    let src = read_source(path)?;
    evaluate(&src, opts)
}

fn load(name: &str, params: &[(&str, &str)]) -> Evaluated {
    let opts = ImportOptions {
        params: params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..Default::default()
    };
    match run(&template_dir().join(name), &opts) {
        Ok(e) => e,
        Err(d) => panic!("{name}:\n{d}"),
    }
}

fn load_err(name: &str, opts: &ImportOptions) -> Diagnostics {
    match run(&template_dir().join(name), opts) {
        Ok(_) => panic!("{name}: evaluated without errors"),
        Err(d) => d,
    }
}

fn s(x: &str) -> Value {
    Value::Str(x.to_string())
}

fn r(id: &str) -> Value {
    Value::Ref(id.to_string())
}

/// A property by path: `"Tags.0.Value"` (list indexes are numbers).
fn at(e: &Evaluated, id: &str, path: &str) -> Value {
    let res = e
        .resources
        .iter()
        .find(|r| r.id == id)
        .unwrap_or_else(|| panic!("no resource {id}"));
    let mut v = res.props.clone();
    for part in path.split('.') {
        v = match (&v, part.parse::<usize>()) {
            (Value::List(l), Ok(i)) => l.get(i).cloned(),
            _ => v.get(part).cloned(),
        }
        .unwrap_or_else(|| panic!("{id}: no {path} (stuck at {part})"));
    }
    v
}

fn has(e: &Evaluated, id: &str) -> bool {
    e.resources.iter().any(|r| r.id == id)
}

fn tag(e: &Evaluated, id: &str, key: &str) -> Option<Value> {
    let Value::List(tags) = at(e, id, "Tags") else {
        panic!("{id}: Tags is not a list")
    };
    tags.iter()
        .find(|t| t.get("Key") == Some(&s(key)))
        .map(|t| t.get("Value").cloned().unwrap_or(Value::NoValue))
}

// ---- tests/cfn/intrinsics-all.yaml ---------------------------------------

#[test]
fn cfn_parameters_override_and_defaults() {
    let e = load("intrinsics-all.yaml", &[("Env", "prod")]);
    assert_eq!(e.region, "us-east-1");
    assert_eq!(e.stack_name, "intrinsics-all");
    // !Sub with parameters (a --param, a Number default) and pseudo parameters
    assert_eq!(tag(&e, "Vpc", "Name"), Some(s("intrinsics-all-prod-vpc")));
    assert_eq!(tag(&e, "Vpc", "Class"), Some(s("10.20.0.0/16")));
    // ${!Literal} stays literal
    assert_eq!(
        tag(&e, "Vpc", "Literal"),
        Some(s("${NotAVar} in us-east-1 of aws"))
    );
}

#[test]
fn cfn_missing_parameter_is_an_error_with_a_hint() {
    let d = load_err("intrinsics-all.yaml", &ImportOptions::default());
    let err = d.errors().next().expect("an error");
    assert!(err.message.contains("`Env` has no Default"), "{d}");
    assert_eq!((err.line, err.col), (8, 3), "{d}");
    assert_eq!(err.hint.as_deref(), Some("--param Env=VALUE"));
}

#[test]
fn cfn_bad_overrides_are_errors() {
    let opts = ImportOptions {
        params: vec![("Env".into(), "prod".into()), ("Evn".into(), "x".into())],
        ..Default::default()
    };
    let d = load_err("intrinsics-all.yaml", &opts);
    assert!(d.0[0].message.contains("no parameter `Evn`"), "{d}");
    assert_eq!(d.0[0].hint.as_deref(), Some("did you mean `Env`?"));

    let opts = ImportOptions {
        params: vec![("Env".into(), "staging".into())],
        ..Default::default()
    };
    let d = load_err("intrinsics-all.yaml", &opts);
    assert!(
        d.0[0].message.contains("`staging` is not an allowed value"),
        "{d}"
    );
    assert_eq!(d.0[0].expected.as_deref(), Some("one of prod, dev"));
}

#[test]
fn cfn_find_in_map_with_the_region() {
    let e = load("intrinsics-all.yaml", &[("Env", "prod")]);
    assert_eq!(at(&e, "Vpc", "CidrBlock"), s("10.1.0.0/16"));
    let opts = ImportOptions {
        params: vec![("Env".into(), "prod".into())],
        region: Some("eu-west-1".into()),
        ..Default::default()
    };
    let e = run(&template_dir().join("intrinsics-all.yaml"), &opts).unwrap();
    assert_eq!(at(&e, "Vpc", "CidrBlock"), s("10.2.0.0/16"));
    assert_eq!(at(&e, "SubnetA", "CidrBlock"), s("10.2.0.0/24"));
    assert_eq!(at(&e, "SubnetB", "AvailabilityZone"), s("eu-west-1b"));
    assert_eq!(e.azs, ["eu-west-1a", "eu-west-1b", "eu-west-1c"]);
}

#[test]
fn cfn_cidr_select_getazs_and_getatt_both_syntaxes() {
    let e = load("intrinsics-all.yaml", &[("Env", "prod")]);
    // !Select [0, !Cidr [!GetAtt Vpc.CidrBlock, 4, 8]]
    assert_eq!(at(&e, "SubnetA", "CidrBlock"), s("10.1.0.0/24"));
    // !Select [1, !Cidr [!GetAtt [Vpc, CidrBlock], 4, 8]]
    assert_eq!(at(&e, "SubnetB", "CidrBlock"), s("10.1.1.0/24"));
    // !GetAZs '' and !GetAZs {Ref: AWS::Region}
    assert_eq!(at(&e, "SubnetA", "AvailabilityZone"), s("us-east-1a"));
    assert_eq!(at(&e, "SubnetB", "AvailabilityZone"), s("us-east-1b"));
    // Subnet.VpcId through a chain, SecurityGroup.VpcId, SecurityGroup.GroupId
    assert_eq!(at(&e, "SubnetB", "VpcId"), r("Vpc"));
    assert_eq!(at(&e, "WebSg", "VpcId"), r("Vpc"));
    assert_eq!(at(&e, "AppSg", "VpcId"), r("Vpc"));
    assert_eq!(
        at(&e, "AppSg", "SecurityGroupIngress.0.SourceSecurityGroupId"),
        r("WebSg")
    );
    // other attributes stay symbolic, for the mapper
    assert_eq!(
        tag(&e, "Host", "Db"),
        Some(Value::Attr("Db".into(), "Endpoint.Address".into()))
    );
}

#[test]
fn cfn_join_split_and_sub_forms() {
    let e = load("intrinsics-all.yaml", &[("Env", "prod")]);
    // !Join with a Subnet.AvailabilityZone attribute
    assert_eq!(at(&e, "WebSg", "GroupDescription"), s("web in us-east-1a"));
    // !Select [2, !Split [...]]
    assert_eq!(
        at(&e, "WebSg", "SecurityGroupIngress.0.CidrIp"),
        s("192.168.0.0/16")
    );
    // list-form !Sub with variables, one from a CommaDelimitedList
    assert_eq!(
        at(&e, "AppSg", "GroupDescription"),
        s("app in 10.1.0.0/16 zone b")
    );
    // ${Resource} and ${Resource.GroupId} alone are the resource itself
    assert_eq!(at(&e, "AppFromWeb", "GroupId"), r("AppSg"));
    assert_eq!(at(&e, "AppFromWeb", "SourceSecurityGroupId"), r("WebSg"));
    // ${Resource} inside text is not guessed: unknown, with a warning
    assert!(matches!(tag(&e, "Host", "Name"), Some(Value::Unknown(_))));
    assert!(e
        .warnings
        .iter()
        .any(|w| w.logical_id == "Host" && w.message.contains("physical id of `Vpc`")));
}

#[test]
fn cfn_base64_is_real_base64() {
    let e = load("intrinsics-all.yaml", &[("Env", "prod")]);
    assert_eq!(at(&e, "Host", "UserData"), s("aGVsbG8="));
}

#[test]
fn cfn_import_value_is_unknown_with_a_warning() {
    let e = load("intrinsics-all.yaml", &[("Env", "prod")]);
    assert!(matches!(at(&e, "Host", "ImageId"), Value::Unknown(_)));
    let w = e
        .warnings
        .iter()
        .find(|w| w.message.contains("Fn::ImportValue"))
        .expect("an ImportValue warning");
    assert_eq!(w.logical_id, "Host");
    assert_eq!(w.line, 136);
    assert!(w.message.contains("`shared-ami-id`"), "{w}");
}

#[test]
fn cfn_conditions_true() {
    let e = load("intrinsics-all.yaml", &[("Env", "prod")]);
    assert!(has(&e, "ProdEip"));
    assert!(!has(&e, "DevEip"));
    assert!(!has(&e, "NatEip"));
    // Fn::If true branch; a false Fn::If guards the excluded NatEip
    assert_eq!(at(&e, "SubnetA", "MapPublicIpOnLaunch"), Value::Bool(true));
    assert_eq!(at(&e, "Host", "KeyName"), s("prod-key"));
    assert_eq!(tag(&e, "Host", "Eip"), Some(s("none")));
    assert_eq!(tag(&e, "Host", "Both"), Some(s("no")));
    // Fn::If to AWS::NoValue removes a list element and a map entry
    let Value::List(rules) = at(&e, "WebSg", "SecurityGroupIngress") else {
        panic!()
    };
    assert_eq!(rules.len(), 2);
    assert_eq!(rules[1].get("FromPort"), Some(&Value::Num(22.0)));
    assert_eq!(tag(&e, "Vpc", "Optional"), Some(Value::NoValue));
}

#[test]
fn cfn_conditions_false() {
    let e = load("intrinsics-all.yaml", &[("Env", "dev")]);
    assert!(!has(&e, "ProdEip"));
    assert!(has(&e, "DevEip"));
    assert_eq!(at(&e, "SubnetA", "MapPublicIpOnLaunch"), Value::Bool(false));
    assert_eq!(at(&e, "Host", "KeyName"), s("dev-key"));
    let Value::List(rules) = at(&e, "WebSg", "SecurityGroupIngress") else {
        panic!()
    };
    assert_eq!(rules.len(), 1);
    assert_eq!(tag(&e, "Vpc", "Optional"), Some(s("dev-only")));

    let e = load(
        "intrinsics-all.yaml",
        &[("Env", "prod"), ("CreateNat", "true")],
    );
    assert!(has(&e, "NatEip"));
    assert_eq!(
        tag(&e, "Host", "Eip"),
        Some(Value::Attr("NatEip".into(), "AllocationId".into()))
    );
    assert_eq!(tag(&e, "Host", "Both"), Some(s("yes")));
}

#[test]
fn cfn_no_value_removes_a_property() {
    let e = load("intrinsics-all.yaml", &[("Env", "prod")]);
    let subnet = e.resources.iter().find(|r| r.id == "SubnetB").unwrap();
    assert_eq!(subnet.props.get("Ipv6CidrBlock"), None);
    assert_eq!(subnet.props.get("CidrBlock"), Some(&s("10.1.1.0/24")));
}

#[test]
fn cfn_resources_keep_template_order_and_lines() {
    let e = load("intrinsics-all.yaml", &[("Env", "prod")]);
    let ids: Vec<&str> = e.resources.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "Vpc",
            "SubnetA",
            "SubnetB",
            "WebSg",
            "AppSg",
            "AppFromWeb",
            "ProdEip",
            "Db",
            "Host"
        ]
    );
    assert_eq!(e.resources[0].line, 42);
    assert_eq!(e.resources[0].kind, "AWS::EC2::VPC");
    // only what cannot be known is warned about
    assert_eq!(e.warnings.len(), 2, "{:#?}", e.warnings);
}

// ---- tests/cfn/intrinsics-json.json --------------------------------------

#[test]
fn cfn_json_template() {
    let opts = ImportOptions {
        region: Some("ap-northeast-1".into()),
        azs: Some(vec!["zone-x".into(), "zone-y".into()]),
        stack_name: Some("js".into()),
        account_id: Some("111122223333".into()),
        ..Default::default()
    };
    let e = run(&template_dir().join("intrinsics-json.json"), &opts).unwrap();
    assert!(e.warnings.is_empty(), "{:?}", e.warnings);
    assert_eq!(tag(&e, "Vpc", "Name"), Some(s("json-ap-northeast-1")));
    assert_eq!(at(&e, "SubnetA", "CidrBlock"), s("10.9.0.0/20"));
    assert_eq!(at(&e, "SubnetB", "CidrBlock"), s("10.9.16.0/20"));
    // the azs override wins over the table, for null and "" alike
    assert_eq!(at(&e, "SubnetA", "AvailabilityZone"), s("zone-x"));
    assert_eq!(at(&e, "SubnetB", "AvailabilityZone"), s("zone-y"));
    assert_eq!(at(&e, "SubnetB", "MapPublicIpOnLaunch"), Value::Bool(true));
    assert_eq!(
        at(&e, "Sg", "GroupDescription"),
        s("json sg in 111122223333")
    );
    assert_eq!(at(&e, "Sg", "VpcId"), r("Vpc"));
    // "#!/bin/sh\necho js\n"
    assert_eq!(at(&e, "Host", "UserData"), s("IyEvYmluL3NoCmVjaG8ganMK"));
    assert_eq!(e.resources[1].line, 18);

    let opts = ImportOptions {
        params: vec![("Prefix".into(), "skip-b".into())],
        ..Default::default()
    };
    let e = run(&template_dir().join("intrinsics-json.json"), &opts).unwrap();
    assert!(!has(&e, "SubnetB"));
    assert_eq!(at(&e, "SubnetA", "AvailabilityZone"), s("us-east-1a"));
}

// ---- tests/cfn/intrinsics-errors.yaml ------------------------------------

#[test]
fn cfn_every_error_is_reported_at_its_place() {
    let d = load_err("intrinsics-errors.yaml", &ImportOptions::default());
    let lines: Vec<String> = d.errors().map(|e| e.headline()).collect();
    let want = [
        (14, 35, "no top-level key `Mian`"),
        (18, 19, "Ref to `Vcp`"),
        (19, 34, "index 9 is out of range"),
        (20, 61, "Fn::Cidr: cidrBits 17 is too large"),
        (21, 33, "no condition `NoSuchCondition`"),
    ];
    assert_eq!(lines.len(), want.len(), "{lines:#?}");
    for ((line, col, text), got) in want.iter().zip(&lines) {
        assert!(
            got.contains(&format!("intrinsics-errors.yaml:{line}:{col}: error: "))
                && got.contains(text),
            "want {line}:{col} {text}, got {got}"
        );
    }
    let vcp = d.errors().nth(1).unwrap();
    assert_eq!(vcp.hint.as_deref(), Some("did you mean `Vpc`?"));
}

// ---- tests/fixtures/cfn: real templates ----------------------------------

/// `--param` values the real templates need (parameters without defaults).
fn fixture_params(file: &str) -> Vec<(String, String)> {
    let p: &[(&str, &str)] = match file {
        "startup-kit-vpc.yaml" => &[
            ("AvailabilityZone1", "us-east-1a"),
            ("AvailabilityZone2", "us-east-1b"),
        ],
        "startup-kit-bastion.yaml" => &[
            ("NetworkStackName", "startup-kit-vpc"),
            ("KeyName", "bastion-key"),
        ],
        "ecs-refarch-vpc.yaml" => &[("EnvironmentName", "ecs-refarch")],
        _ => &[],
    };
    p.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The fixtures: every template in `tests/fixtures/cfn/` (`None` when the
/// directory is absent outside CI, see [`fixture::fixture`]).
fn fixtures() -> Option<Vec<PathBuf>> {
    let dir = fixture::fixture(fixture_dir())?;
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml" | "json" | "template")
            )
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no templates in {}", dir.display());
    Some(files)
}

fn fixture(name: &str) -> Evaluated {
    let path = fixture_dir().join(name);
    let opts = ImportOptions {
        params: fixture_params(name),
        ..Default::default()
    };
    run(&path, &opts).unwrap_or_else(|d| panic!("{name}:\n{d}"))
}

#[test]
fn cfn_real_templates_evaluate_without_errors() {
    let Some(files) = fixtures() else {
        return;
    };
    let mut failed = Vec::new();
    for path in files {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let opts = ImportOptions {
            params: fixture_params(&name),
            ..Default::default()
        };
        match run(&path, &opts) {
            Ok(e) => {
                println!(
                    "{name}: {} resources, {} warning(s)",
                    e.resources.len(),
                    e.warnings.len()
                );
                for w in &e.warnings {
                    println!("  {w}");
                }
            }
            Err(d) => {
                println!("{name}: FAILED\n{d}");
                failed.push(name);
            }
        }
    }
    assert!(failed.is_empty(), "templates with errors: {failed:?}");
}

#[test]
fn cfn_real_templates_evaluate_to_known_values() {
    let used = [
        "widdix-vpc-2azs.yaml",
        "startup-kit-vpc.yaml",
        "ecs-refarch-vpc.yaml",
        "aws-templates-vpc-managed-nat.yaml",
        "aws-templates-vpc-managed-nat.json",
    ];
    if !fixture::fixtures(&used.map(|n| fixture_dir().join(n))) {
        return;
    }
    {
        let e = fixture("widdix-vpc-2azs.yaml");
        assert_eq!(at(&e, "VPC", "CidrBlock"), s("10.0.0.0/16"));
        assert_eq!(at(&e, "SubnetBPrivate", "CidrBlock"), s("10.0.48.0/20"));
        assert_eq!(
            at(&e, "SubnetBPrivate", "AvailabilityZone"),
            s("us-east-1b")
        );
        assert_eq!(at(&e, "SubnetBPrivate", "VpcId"), r("VPC"));
        assert!(matches!(
            at(&e, "SubnetAPublic", "Ipv6CidrBlock"),
            Value::Unknown(_)
        ));
    }
    {
        let e = fixture("startup-kit-vpc.yaml");
        // SingleNatGateway defaults to true: the second NAT is left out
        assert!(has(&e, "NatGateway1") && !has(&e, "NatGateway2"));
        assert!(has(
            &e,
            "PrivateSubnetRouteTableAssociationSingleNatGateway"
        ));
        assert_eq!(at(&e, "PrivateSubnet2", "CidrBlock"), s("10.50.96.0/19"));
        assert_eq!(
            at(&e, "PrivateSubnet2", "AvailabilityZone"),
            s("us-east-1b")
        );
        assert_eq!(
            at(&e, "PublicSubnetNetworkAclAssociation1", "NetworkAclId"),
            Value::Attr("VPC".into(), "DefaultNetworkAcl".into())
        );
        assert_eq!(
            at(&e, "ELBSecurityGroup", "SecurityGroupIngress.0.FromPort"),
            s("80")
        );
    }
    {
        let e = fixture("ecs-refarch-vpc.yaml");
        assert_eq!(at(&e, "PrivateSubnet2", "CidrBlock"), s("10.192.21.0/24"));
        assert_eq!(
            tag(&e, "PrivateSubnet2", "Name"),
            Some(s("ecs-refarch Private Subnet (AZ2)"))
        );
    }
    // The YAML and JSON forms of one template evaluate alike.
    {
        let y = fixture("aws-templates-vpc-managed-nat.yaml");
        let j = fixture("aws-templates-vpc-managed-nat.json");
        assert_eq!(y.resources.len(), j.resources.len());
        for (a, b) in y.resources.iter().zip(&j.resources) {
            assert_eq!((&a.id, &a.kind), (&b.id, &b.kind));
            assert_eq!(a.props, b.props, "{}", a.id);
        }
        assert_eq!(
            tag(&y, "PublicSubnet1", "Name"),
            Some(s("VPC Public and Private with NAT-public-us-east-1b"))
        );
    }
}
