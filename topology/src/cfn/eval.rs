//! A template evaluated as a real stack would see it.
//!
//! What is evaluated: `Parameters` (their `Default`, or the `--param`
//! overrides; `AllowedValues`, `MinLength`/`MaxLength` and
//! `MinValue`/`MaxValue` are checked, per element for list types;
//! `AllowedPattern` is not), the pseudo parameters, `Mappings` with
//! `Fn::FindInMap`, `Conditions` (each evaluated once), resource
//! `Condition`s (a resource whose condition is false is left out), and the
//! intrinsic functions `Ref`, `Fn::GetAtt`, `Fn::Sub` (both forms),
//! `Fn::Select`, `Fn::GetAZs`, `Fn::Cidr`, `Fn::Join`, `Fn::Split`,
//! `Fn::If`, `Fn::Base64` (real base64 of the text, as AWS passes it on),
//! `Fn::ImportValue` (from [`ImportOptions::imports`]; else unknown, with a
//! warning, or an error when it names a stack of the deployment that does
//! not export it: see [`super::stacks`]).
//!
//! References to resources stay symbolic ([`Value::Ref`], [`Value::Attr`]),
//! except the network attributes that follow from the resource's own
//! properties: `VPC.CidrBlock`, `Subnet.CidrBlock`, `Subnet.AvailabilityZone`,
//! `Subnet.VpcId`, `SecurityGroup.VpcId`, and `SecurityGroup.GroupId` (the
//! group itself, as a `Ref`). Properties are evaluated on demand and once
//! each, so `Fn::GetAtt` works whatever the order of the resources; a
//! property that needs itself is an error, and so are resources that
//! depend on each other through their references or `DependsOn`
//! (`eval/dependencies.rs`), as CloudFormation refuses them.
//!
//! Whatever cannot be known before deployment (an attribute inside a
//! string, an import, a value from SSM) becomes [`Value::Unknown`] with a
//! warning naming the logical id and line. What would make a real stack fail
//! (an unknown `Ref`, a missing parameter value, an index out of range, a
//! malformed function) is an error at its line and column. Exported
//! `Outputs` are evaluated ([`Evaluated::exports`]); the other outputs,
//! `Metadata` and `Rules` are not.
//!
//! Pseudo parameters: `AWS::Region` ([`ImportOptions::region`], default
//! `us-east-1`), `AWS::AccountId` (default `123456789012`),
//! `AWS::StackName` (default the file stem), `AWS::StackId` (an ARN with
//! a zero UUID: the real one exists only after creation), `AWS::Partition`
//! and `AWS::URLSuffix` (from the region: `aws-cn` for `cn-*`, `aws-us-gov`
//! for `us-gov-*`), `AWS::NoValue` (removes the property or list element),
//! `AWS::NotificationARNs` (unknown).

use std::collections::{HashMap, HashSet};

use super::yaml::{self, Node, NodeKind};
use super::{
    cidr, Evaluated, Export, ImportOptions, ImportUse, ImportWarning, Resource, StackExports, Value,
};
use crate::diag::{did_you_mean, Diagnostic, Diagnostics, Severity, SourceFile};
use crate::resolve::regions;

/// The top-level sections of a template.
const SECTIONS: &[&str] = &[
    "AWSTemplateFormatVersion",
    "Description",
    "Metadata",
    "Parameters",
    "Rules",
    "Mappings",
    "Conditions",
    "Transform",
    "Resources",
    "Outputs",
];

/// The pseudo parameters.
const PSEUDO: &[&str] = &[
    "AWS::Region",
    "AWS::AccountId",
    "AWS::StackName",
    "AWS::StackId",
    "AWS::Partition",
    "AWS::URLSuffix",
    "AWS::NoValue",
    "AWS::NotificationARNs",
];

/// How deep evaluation may go (nesting plus chains of `Fn::GetAtt`), so that
/// no template can exhaust the stack.
const MAX_EVAL_DEPTH: usize = 300;

/// Where CloudFormation's quotas of a template come from.
pub(crate) const TEMPLATE_QUOTAS_SOURCE: &str =
    "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html";
/// At most this many resources in a template ([`TEMPLATE_QUOTAS_SOURCE`]).
const MAX_RESOURCES: usize = 500;
/// At most this many parameters in a template ([`TEMPLATE_QUOTAS_SOURCE`]).
const MAX_PARAMETERS: usize = 200;
/// At most this many mappings in a template ([`TEMPLATE_QUOTAS_SOURCE`]).
const MAX_MAPPINGS: usize = 200;

mod dependencies;
mod outputs;
mod resolving;

use dependencies::Dependencies;

use resolving::Resolving;

/// Reads and evaluates a template: its resources whose conditions hold,
/// with their properties as plain values.
pub fn evaluate(src: &SourceFile, opts: &ImportOptions) -> Result<Evaluated, Diagnostics> {
    let root = yaml::parse(src)?;
    Evaluator::new(src, opts).run(&root, opts)
}

/// A resource as written.
struct Res<'a> {
    id: &'a str,
    kind: &'a str,
    node: &'a Node,
    props: &'a [(String, Node)],
    condition: Option<(&'a str, &'a Node)>,
    /// `DependsOn`, as written.
    depends_on: Option<&'a Node>,
    /// In the stack: no condition, or one that holds (or is unknown).
    included: bool,
}

/// A condition being or done evaluating.
enum CondState {
    InProgress,
    Done(Option<bool>),
}

struct Evaluator<'a> {
    src: &'a SourceFile,
    region: String,
    partition: &'static str,
    url_suffix: &'static str,
    account: String,
    stack_name: String,
    stack_id: String,
    /// Zones of the current region (the override, or the table).
    region_azs: Option<Vec<String>>,
    params: HashMap<&'a str, Value>,
    mappings: Option<&'a Node>,
    conditions: Vec<(&'a str, &'a Node)>,
    cond_state: HashMap<&'a str, CondState>,
    resources: Vec<Res<'a>>,
    index: HashMap<&'a str, usize>,
    memo: HashMap<(usize, &'a str), Value>,
    in_progress: HashSet<(usize, &'a str)>,
    depth: usize,
    /// The resource whose property is being evaluated.
    current: Option<usize>,
    /// `Fn::Sub` while its variables are resolved: how a reference names
    /// its resource, for [`Dependency::via`].
    in_sub: bool,
    /// What each resource names ([`dependencies`]).
    deps: Dependencies,
    /// Evaluating what CloudFormation resolves before any resource exists
    /// (a condition, an import's or an export's name).
    resolving: Option<Resolving>,
    errors: Vec<Diagnostic>,
    warnings: Vec<ImportWarning>,
    /// What `Fn::ImportValue` resolves ([`ImportOptions::imports`]).
    imports: HashMap<String, Export>,
    /// [`ImportOptions::other_stacks`].
    other_stacks: Vec<StackExports>,
    /// [`ImportOptions::renamed`].
    renamed: HashMap<String, String>,
    /// [`ImportOptions::param_prefix`].
    param_prefix: String,
    /// [`ImportOptions::stack_names`].
    stack_names: Vec<String>,
    exports: Vec<Export>,
    withheld_exports: Vec<(String, String)>,
    import_uses: Vec<ImportUse>,
}

impl<'a> Evaluator<'a> {
    fn new(src: &'a SourceFile, opts: &ImportOptions) -> Self {
        let region = opts
            .region
            .clone()
            .unwrap_or_else(|| super::DEFAULT_REGION.to_string());
        let (partition, url_suffix) = if region.starts_with("cn-") {
            ("aws-cn", "amazonaws.com.cn")
        } else if region.starts_with("us-gov-") {
            ("aws-us-gov", "amazonaws.com")
        } else {
            ("aws", "amazonaws.com")
        };
        let account = opts
            .account_id
            .clone()
            .unwrap_or_else(|| "123456789012".to_string());
        let stack_name = opts.stack_name.clone().unwrap_or_else(|| {
            src.name()
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "stack".to_string())
        });
        let stack_id = format!(
            "arn:{partition}:cloudformation:{region}:{account}:stack/{stack_name}/00000000-0000-0000-0000-000000000000"
        );
        let region_azs = opts.azs.clone().or_else(|| regions::azs(&region));
        Evaluator {
            src,
            region,
            partition,
            url_suffix,
            account,
            stack_name,
            stack_id,
            region_azs,
            params: HashMap::new(),
            mappings: None,
            conditions: Vec::new(),
            cond_state: HashMap::new(),
            resources: Vec::new(),
            index: HashMap::new(),
            memo: HashMap::new(),
            in_progress: HashSet::new(),
            depth: 0,
            current: None,
            in_sub: false,
            deps: Dependencies::default(),
            resolving: None,
            errors: Vec::new(),
            warnings: Vec::new(),
            imports: opts.imports.clone(),
            other_stacks: opts.other_stacks.clone(),
            renamed: opts.renamed.clone(),
            param_prefix: opts.param_prefix.clone(),
            stack_names: opts.stack_names.clone(),
            exports: Vec::new(),
            withheld_exports: Vec::new(),
            import_uses: Vec::new(),
        }
    }

    fn run(mut self, root: &'a Node, opts: &ImportOptions) -> Result<Evaluated, Diagnostics> {
        let expected = "a CloudFormation template: a map of sections with `Resources`";
        let Some(sections) = root.as_map() else {
            let d = root
                .error(
                    self.src,
                    format!(
                        "not a CloudFormation template: the template is {}",
                        root.describe()
                    ),
                )
                .expected(expected);
            return Err(Diagnostics(vec![d]));
        };
        let foreign: Vec<&str> = sections
            .iter()
            .map(|(k, _)| k.as_str())
            .filter(|k| !SECTIONS.contains(k))
            .collect();
        // no `Resources`, not even misspelt: another format
        if root.get("Resources").is_none()
            && root.get("AWSTemplateFormatVersion").is_none()
            && !foreign.is_empty()
            && foreign
                .iter()
                .all(|k| did_you_mean(k, SECTIONS.iter().copied()) != Some("Resources"))
        {
            let keys = foreign
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ");
            let d = root
                .error(
                    self.src,
                    format!("not a CloudFormation template: no `Resources` section, and {keys} are not template sections"),
                )
                .expected(expected);
            return Err(Diagnostics(vec![d]));
        }
        for (key, node) in sections {
            if !SECTIONS.contains(&key.as_str()) {
                let mut d =
                    node.entry_error(self.src, format!("`{key}` is not a template section"));
                d = d.expected(format!("one of {}", SECTIONS.join(", ")));
                if let Some(s) = did_you_mean(key, SECTIONS.iter().copied()) {
                    d = d.hint(format!("did you mean `{s}`?"));
                }
                self.errors.push(d);
            }
        }
        if let Some(t) = root.get("Transform") {
            let what = match &t.kind {
                NodeKind::Str(s) => s.clone(),
                _ => "the transforms".to_string(),
            };
            self.warn_at(
                "Transform",
                t,
                format!("{what} is not applied: macros change the template at deployment"),
            );
        }
        self.read_resources(root, expected);
        self.parameters(root.get("Parameters"), opts);
        self.mappings = root.get("Mappings");
        if let Some(m) = self.mappings {
            match m.as_map() {
                Some(entries) => self.section_quota(m, entries.len(), "mappings", MAX_MAPPINGS),
                None => {
                    self.errors.push(
                        m.error(self.src, format!("Mappings is {}", m.describe()))
                            .expected("a map of mappings"),
                    );
                    self.mappings = None;
                }
            }
        }
        if let Some(c) = root.get("Conditions") {
            match c.as_map() {
                Some(m) => self.conditions = m.iter().map(|(k, v)| (k.as_str(), v)).collect(),
                None => self.errors.push(
                    c.error(self.src, format!("Conditions is {}", c.describe()))
                        .expected("a map of condition names to condition functions"),
                ),
            }
        }
        if !self.errors.is_empty() {
            return Err(self.finish_errors());
        }
        // Every condition, in order: CloudFormation checks them all.
        for i in 0..self.conditions.len() {
            let (name, node) = self.conditions[i];
            self.condition(name, node);
        }
        for i in 0..self.resources.len() {
            let Some((cond, at)) = self.resources[i].condition else {
                continue;
            };
            let id = self.resources[i].id;
            match self.condition(cond, at) {
                Some(true) => {}
                Some(false) => self.resources[i].included = false,
                None => {
                    self.warn_at(
                        id,
                        at,
                        format!(
                            "condition `{cond}` cannot be evaluated before deployment; the resource is kept"
                        ),
                    );
                }
            }
        }
        self.depends_on();
        let mut out = Vec::new();
        for i in 0..self.resources.len() {
            if !self.resources[i].included {
                continue;
            }
            let res = &self.resources[i];
            let (id, kind, node, props) = (res.id, res.kind, res.node, res.props);
            let mut entries = Vec::new();
            for (key, pnode) in props {
                match self.prop(i, key, pnode) {
                    Some(Value::NoValue) | None => {}
                    Some(v) => entries.push((key.clone(), v)),
                }
            }
            out.push(Resource {
                id: self.deployed_id(id),
                kind: kind.to_string(),
                props: Value::Map(entries),
                line: node.entry_pos().0,
            });
        }
        if self.errors.is_empty() {
            // a property that needs itself is already an error of its own
            self.circular_dependencies();
        }
        self.outputs(root.get("Outputs"));
        if !self.errors.is_empty() {
            return Err(self.finish_errors());
        }
        let mut warnings = std::mem::take(&mut self.warnings);
        warnings.sort_by_key(|w| w.line);
        warnings.dedup();
        Ok(Evaluated {
            resources: out,
            warnings,
            azs: self.region_azs.clone().unwrap_or_default(),
            region: self.region,
            stack_name: self.stack_name,
            exports: self.exports,
            withheld_exports: self.withheld_exports,
            imports: self.import_uses,
        })
    }

    fn finish_errors(&mut self) -> Diagnostics {
        let mut e = std::mem::take(&mut self.errors);
        e.sort_by_key(|d| (d.line, d.col));
        e.dedup();
        Diagnostics(e)
    }

    // ---- reporting --------------------------------------------------------

    fn warn_at(&mut self, owner: &str, node: &Node, msg: String) -> Value {
        self.warnings.push(ImportWarning {
            logical_id: owner.to_string(),
            line: node.line,
            message: msg.clone(),
        });
        Value::Unknown(msg)
    }

    fn fail(&mut self, d: Diagnostic) -> Value {
        let msg = d.message.clone();
        self.errors.push(d);
        Value::Unknown(msg)
    }

    /// An error at `node`.
    fn fail_at(&mut self, node: &Node, msg: String, expected: &str) -> Value {
        let mut d = node.error(self.src, msg);
        if !expected.is_empty() {
            d = d.expected(expected);
        }
        self.fail(d)
    }

    // ---- sections ---------------------------------------------------------

    /// A section (`what`: its entries' name) of `n` entries over
    /// CloudFormation's quota `max` for a template is an error at the
    /// section: CloudFormation refuses such a template.
    fn section_quota(&mut self, section: &Node, n: usize, what: &str, max: usize) {
        if n > max {
            self.errors.push(
                section
                    .entry_error(self.src, format!("{n} {what}, over CloudFormation's {max}"))
                    .expected(format!(
                        "at most {max} {what} in a template ({TEMPLATE_QUOTAS_SOURCE})"
                    )),
            );
        }
    }

    fn read_resources(&mut self, root: &'a Node, expected: &str) {
        let Some(section) = root.get("Resources") else {
            self.errors.push(
                root.error(self.src, "the template has no `Resources` section")
                    .expected(expected),
            );
            return;
        };
        let Some(entries) = section.as_map() else {
            self.errors.push(
                section
                    .error(self.src, format!("Resources is {}", section.describe()))
                    .expected("a map of logical ids to resources"),
            );
            return;
        };
        self.section_quota(section, entries.len(), "resources", MAX_RESOURCES);
        if entries.is_empty() {
            self.errors.push(
                section
                    .entry_error(self.src, "Resources is empty")
                    .expected("at least one resource"),
            );
        }
        let res_expected = "a resource: a map with `Type` and `Properties`";
        for (id, node) in entries {
            if !is_logical_id(id) {
                self.errors.push(
                    node.entry_error(self.src, format!("`{id}` is not a logical id"))
                        .expected("letters and digits only (A-Z, a-z, 0-9)"),
                );
                continue;
            }
            if node.as_map().is_none() {
                self.errors.push(
                    node.error(self.src, format!("resource `{id}` is {}", node.describe()))
                        .expected(res_expected),
                );
                continue;
            }
            let kind = match node.get("Type") {
                Some(t) => match t.as_str() {
                    Some(k) => k,
                    None => {
                        self.errors.push(
                            t.error(self.src, format!("the Type of `{id}` is {}", t.describe()))
                                .expected("a resource type like AWS::EC2::VPC"),
                        );
                        continue;
                    }
                },
                None => {
                    self.errors.push(
                        node.entry_error(self.src, format!("resource `{id}` has no Type"))
                            .expected(res_expected),
                    );
                    continue;
                }
            };
            let props: &'a [(String, Node)] = match node.get("Properties") {
                None => &[],
                Some(p) => match &p.kind {
                    NodeKind::Map(m) => m,
                    NodeKind::Null => &[],
                    _ => {
                        self.errors.push(
                            p.error(
                                self.src,
                                format!("the Properties of `{id}` are {}", p.describe()),
                            )
                            .expected("a map of properties"),
                        );
                        continue;
                    }
                },
            };
            let condition = match node.get("Condition") {
                None => None,
                Some(c) => match c.as_str() {
                    Some(name) => Some((name, c)),
                    None => {
                        self.errors.push(
                            c.error(
                                self.src,
                                format!("the Condition of `{id}` is {}", c.describe()),
                            )
                            .expected("the name of a condition"),
                        );
                        None
                    }
                },
            };
            self.index.insert(id.as_str(), self.resources.len());
            self.resources.push(Res {
                id,
                kind,
                node,
                props,
                condition,
                depends_on: node.get("DependsOn"),
                included: true,
            });
        }
    }

    fn parameters(&mut self, section: Option<&'a Node>, opts: &ImportOptions) {
        let defs: &'a [(String, Node)] = match section {
            None => &[],
            Some(n) => match &n.kind {
                NodeKind::Map(m) => m,
                NodeKind::Null => &[],
                _ => {
                    self.errors.push(
                        n.error(self.src, format!("Parameters is {}", n.describe()))
                            .expected("a map of parameter names to definitions"),
                    );
                    &[]
                }
            },
        };
        if let Some(section) = section {
            self.section_quota(section, defs.len(), "parameters", MAX_PARAMETERS);
        }
        for (name, _) in &opts.params {
            if !defs.iter().any(|(k, _)| k == name) {
                let mut d = self.src.diagnostic(
                    Severity::Error,
                    None,
                    format!(
                        "--param {}{name}: the template has no parameter `{name}`",
                        self.param_prefix
                    ),
                );
                let names: Vec<&str> = defs.iter().map(|(k, _)| k.as_str()).collect();
                d = d.expected(if names.is_empty() {
                    "no --param: the template has no parameters".to_string()
                } else {
                    format!("one of {}", names.join(", "))
                });
                if let Some(s) = did_you_mean(name, names.iter().copied()) {
                    d = d.hint(format!("did you mean `{s}`?"));
                }
                self.errors.push(d);
            }
        }
        for (name, def) in defs {
            if def.as_map().is_none() {
                self.errors.push(
                    def.error(
                        self.src,
                        format!("parameter `{name}` is {}", def.describe()),
                    )
                    .expected("a map with `Type` and usually `Default`"),
                );
                continue;
            }
            let Some(ty) = def.get("Type").and_then(Node::as_str) else {
                self.errors.push(
                    def.entry_error(self.src, format!("parameter `{name}` has no string Type"))
                        .expected(
                            "Type: String, Number, CommaDelimitedList, List<...> or an AWS type",
                        ),
                );
                continue;
            };
            let given = opts
                .params
                .iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone());
            let default = def.get("Default");
            let raw = match (&given, default) {
                (Some(v), _) => v.clone(),
                (None, Some(d)) => match &d.kind {
                    NodeKind::Null => String::new(),
                    NodeKind::Seq(items) => {
                        let texts: Option<Vec<String>> =
                            items.iter().map(Node::scalar_text).collect();
                        match texts {
                            Some(t) => t.join(","),
                            None => {
                                self.errors.push(
                                    d.error(
                                        self.src,
                                        format!("the Default of `{name}` is a nested list"),
                                    )
                                    .expected("a string, a number or a comma-separated list"),
                                );
                                continue;
                            }
                        }
                    }
                    _ => match d.scalar_text() {
                        Some(t) => t,
                        None => {
                            self.errors.push(
                                d.error(
                                    self.src,
                                    format!("the Default of `{name}` is {}", d.describe()),
                                )
                                .expected("a string or a number"),
                            );
                            continue;
                        }
                    },
                },
                (None, None) => {
                    self.errors.push(
                        def.entry_error(
                            self.src,
                            format!("parameter `{name}` has no Default and no value was given"),
                        )
                        .expected(format!("a value for `{name}` ({ty})"))
                        .hint(self.missing_parameter_hint(name)),
                    );
                    continue;
                }
            };
            let value = self.parameter_value(name, ty, def, default, &given, raw);
            self.params.insert(name.as_str(), value);
        }
    }

    /// How to give a missing parameter. One naming another stack (widdix's
    /// `ParentVPCStack`, startup-kit's `NetworkStackName`) lists the
    /// deployment's other stacks.
    fn missing_parameter_hint(&self, name: &str) -> String {
        let mut hint = format!("--param {}{name}=VALUE", self.param_prefix);
        let others: Vec<&str> = self
            .stack_names
            .iter()
            .map(String::as_str)
            .filter(|s| *s != self.stack_name)
            .collect();
        if name.contains("Stack") && !others.is_empty() {
            hint.push_str(&format!(
                " (a stack's name? this import's other stacks: {})",
                others.join(", ")
            ));
        }
        hint
    }

    /// A parameter's value from its text, checked against its type and
    /// constraints.
    fn parameter_value(
        &mut self,
        name: &str,
        ty: &str,
        def: &'a Node,
        default: Option<&'a Node>,
        given: &Option<String>,
        raw: String,
    ) -> Value {
        // Where a bad value is reported: the Default it came from, or the
        // definition for a --param.
        let at = match (given, default) {
            (None, Some(d)) => d,
            _ => def,
        };
        let source = if given.is_some() {
            format!("--param {name}={raw}")
        } else {
            format!("the Default of `{name}`")
        };
        if ty.starts_with("AWS::SSM::Parameter::Value<") {
            return self.warn_at(
                name,
                def,
                format!("parameter `{name}` ({ty}) is read from SSM Parameter Store at deployment"),
            );
        }
        let is_list = ty == "CommaDelimitedList" || ty.starts_with("List<");
        let is_number = ty == "Number" || ty == "List<Number>";
        if !is_list && !is_number && ty != "String" && !ty.starts_with("AWS::") {
            self.fail_at(
                def.get("Type").unwrap_or(def),
                format!("`{ty}` is not a parameter type"),
                "String, Number, List<Number>, CommaDelimitedList, an AWS-specific type or List<...> of one",
            );
            return Value::Unknown(format!("parameter {name}"));
        }
        let items: Vec<String> = if is_list {
            raw.split(',').map(|s| s.trim().to_string()).collect()
        } else {
            vec![raw.clone()]
        };
        let mut ok = true;
        for item in &items {
            if is_number && item.parse::<f64>().is_err() {
                self.fail_at(
                    at,
                    format!("{source}: `{item}` is not a number"),
                    "a number",
                );
                ok = false;
            }
        }
        if let Some(av) = def.get("AllowedValues") {
            let allowed: Vec<String> = match &av.kind {
                NodeKind::Seq(s) => s.iter().filter_map(Node::scalar_text).collect(),
                _ => av.scalar_text().into_iter().collect(),
            };
            for item in &items {
                if !allowed.iter().any(|a| a == item) {
                    let mut d = at
                        .error(
                            self.src,
                            format!("{source}: `{item}` is not an allowed value"),
                        )
                        .expected(format!("one of {}", allowed.join(", ")));
                    if given.is_some() {
                        d = d.hint(format!("--param {name}=<one of the allowed values>"));
                    }
                    self.fail(d);
                    ok = false;
                }
            }
        }
        let bound = |key: &str| {
            def.get(key)
                .and_then(Node::scalar_text)
                .and_then(|t| t.parse::<f64>().ok())
        };
        if !is_number {
            let (lo, hi) = (bound("MinLength"), bound("MaxLength"));
            for item in &items {
                let n = item.chars().count() as f64;
                if lo.is_some_and(|lo| n < lo) || hi.is_some_and(|hi| n > hi) {
                    self.fail_at(
                        at,
                        format!("{source}: `{item}` has {n} characters"),
                        &format!(
                            "from {} to {} characters",
                            lo.map_or("0".into(), |v| v.to_string()),
                            hi.map_or("any".into(), |v| v.to_string())
                        ),
                    );
                    ok = false;
                }
            }
        } else {
            let (lo, hi) = (bound("MinValue"), bound("MaxValue"));
            for item in &items {
                let Ok(n) = item.parse::<f64>() else { continue };
                if lo.is_some_and(|lo| n < lo) || hi.is_some_and(|hi| n > hi) {
                    self.fail_at(
                        at,
                        format!("{source}: {item} is out of range"),
                        &format!(
                            "from {} to {}",
                            lo.map_or("any".into(), |v| v.to_string()),
                            hi.map_or("any".into(), |v| v.to_string())
                        ),
                    );
                    ok = false;
                }
            }
        }
        if !ok {
            return Value::Unknown(format!("parameter {name}"));
        }
        if is_list {
            Value::List(items.into_iter().map(Value::Str).collect())
        } else {
            Value::Str(raw)
        }
    }

    // ---- conditions -------------------------------------------------------

    /// A named condition: `Some(holds)`, or `None` when it depends on
    /// something unknown (or is in error).
    fn condition(&mut self, name: &str, at: &Node) -> Option<bool> {
        match self.cond_state.get(name) {
            Some(CondState::Done(v)) => return *v,
            Some(CondState::InProgress) => {
                self.fail_at(
                    at,
                    format!("condition `{name}` depends on itself"),
                    "conditions without cycles",
                );
                return None;
            }
            None => {}
        }
        let Some(&(key, def)) = self.conditions.iter().find(|(n, _)| *n == name) else {
            let mut d = at.error(self.src, format!("no condition `{name}`"));
            let names: Vec<&str> = self.conditions.iter().map(|(n, _)| *n).collect();
            d = d.expected(if names.is_empty() {
                "a condition from the Conditions section (the template has none)".to_string()
            } else {
                format!("one of {}", names.join(", "))
            });
            if let Some(s) = did_you_mean(name, names.iter().copied()) {
                d = d.hint(format!("did you mean `{s}`?"));
            }
            self.fail(d);
            return None;
        };
        self.cond_state.insert(key, CondState::InProgress);
        let v = self.resolving_as(Resolving::Condition, |ev| ev.cond_expr(def, key));
        self.cond_state.insert(key, CondState::Done(v));
        v
    }

    fn cond_expr(&mut self, node: &'a Node, owner: &str) -> Option<bool> {
        let expected = "a condition function: Fn::Equals, Fn::Not, Fn::And, Fn::Or or Condition";
        let entry = match &node.kind {
            NodeKind::Map(m) if m.len() == 1 => &m[0],
            _ => {
                self.fail_at(
                    node,
                    format!("a condition is {}", node.describe()),
                    expected,
                );
                return None;
            }
        };
        let (name, arg) = (entry.0.as_str(), &entry.1);
        match name {
            "Fn::Equals" => {
                let items = self.args(name, arg, 2, 2, "[value, value]")?;
                let a = self.eval(&items[0], owner);
                let b = self.eval(&items[1], owner);
                if has_unknown(&a) || has_unknown(&b) {
                    return None;
                }
                Some(loose_eq(&a, &b))
            }
            "Fn::Not" => {
                let items = self.args(name, arg, 1, 1, "[condition]")?;
                self.cond_expr(&items[0], owner).map(|b| !b)
            }
            "Fn::And" | "Fn::Or" => {
                let items = self.args(name, arg, 2, 10, "[condition, condition, ...] (2 to 10)")?;
                let vals: Vec<Option<bool>> =
                    items.iter().map(|n| self.cond_expr(n, owner)).collect();
                let decisive = name == "Fn::Or";
                if vals.contains(&Some(decisive)) {
                    Some(decisive)
                } else if vals.iter().all(Option::is_some) {
                    Some(!decisive)
                } else {
                    None
                }
            }
            "Condition" => match arg.as_str() {
                Some(c) => self.condition(c, arg),
                None => {
                    self.fail_at(
                        arg,
                        format!("Condition names {}", arg.describe()),
                        "a condition name",
                    );
                    None
                }
            },
            _ => {
                self.fail_at(
                    node,
                    format!("`{name}` is not a condition function"),
                    expected,
                );
                None
            }
        }
    }

    // ---- values -----------------------------------------------------------

    /// A node's value. `owner` is the logical id (or parameter, condition)
    /// that warnings name.
    fn eval(&mut self, node: &'a Node, owner: &str) -> Value {
        if self.depth >= MAX_EVAL_DEPTH {
            return self.fail_at(
                node,
                format!("expressions nest more than {MAX_EVAL_DEPTH} levels deep (counting Fn::GetAtt chains)"),
                "a shallower template",
            );
        }
        self.depth += 1;
        let v = self.eval_inner(node, owner);
        self.depth -= 1;
        v
    }

    fn eval_inner(&mut self, node: &'a Node, owner: &str) -> Value {
        match &node.kind {
            NodeKind::Null => Value::Null,
            NodeKind::Bool(b) => Value::Bool(*b),
            NodeKind::Int(i) => Value::Num(*i as f64),
            NodeKind::Float(f) => Value::Num(*f),
            NodeKind::Str(s) => Value::Str(s.clone()),
            NodeKind::Seq(items) => {
                let mut out = Vec::with_capacity(items.len());
                for n in items {
                    match self.eval(n, owner) {
                        Value::NoValue => {}
                        v => out.push(v),
                    }
                }
                Value::List(out)
            }
            NodeKind::Map(entries) => {
                if let [(k, arg)] = entries.as_slice() {
                    if k == "Ref" || k.starts_with("Fn::") {
                        return self.intrinsic(k, arg, node, owner);
                    }
                }
                let mut out = Vec::with_capacity(entries.len());
                for (k, n) in entries {
                    match self.eval(n, owner) {
                        Value::NoValue => {}
                        v => out.push((k.clone(), v)),
                    }
                }
                Value::Map(out)
            }
        }
    }

    fn intrinsic(&mut self, name: &str, arg: &'a Node, node: &'a Node, owner: &str) -> Value {
        if let Some(ctx) = self.resolving {
            if let Some(v) = ctx.function_error(self, name, node) {
                return v;
            }
        }
        match name {
            "Ref" => match arg.as_str() {
                Some(target) => self.reference(target, arg, owner),
                None => self.fail_at(
                    arg,
                    format!("Ref names {}", arg.describe()),
                    "the name of a parameter, a resource or a pseudo parameter",
                ),
            },
            "Fn::GetAtt" => self.get_att(arg, owner),
            "Fn::Sub" => self.sub(arg, owner),
            "Fn::Select" => self.select(arg, owner),
            "Fn::GetAZs" => self.get_azs(arg, owner),
            "Fn::Cidr" => self.cidr(arg, owner),
            "Fn::Join" => self.join(arg, owner),
            "Fn::Split" => self.split(arg, owner),
            "Fn::FindInMap" => self.find_in_map(arg, owner),
            "Fn::If" => self.if_fn(arg, owner),
            "Fn::Base64" => {
                let v = self.eval(arg, owner);
                match self.text(v, arg, owner, "Fn::Base64") {
                    Ok(t) => Value::Str(base64(t.as_bytes())),
                    Err(u) => u,
                }
            }
            "Fn::ImportValue" => self.import_value(arg, node, owner),
            "Fn::Equals" | "Fn::Not" | "Fn::And" | "Fn::Or" => self.fail_at(
                node,
                format!("{name} can only be used in the Conditions section"),
                "a condition named in Fn::If, defined under Conditions",
            ),
            _ => self.warn_at(owner, node, format!("{name} is not evaluated")),
        }
    }

    /// The items of a function's list argument, `min..=max` of them.
    fn args(
        &mut self,
        func: &str,
        arg: &'a Node,
        min: usize,
        max: usize,
        form: &str,
    ) -> Option<&'a [Node]> {
        match &arg.kind {
            NodeKind::Seq(items) if (min..=max).contains(&items.len()) => Some(items),
            _ => {
                let what = match &arg.kind {
                    NodeKind::Seq(items) => format!("a list of {}", items.len()),
                    _ => arg.describe().to_string(),
                };
                self.fail_at(
                    arg,
                    format!("{func} takes {form}, not {what}"),
                    &format!("{func}: {form}"),
                );
                None
            }
        }
    }

    /// A value that must be text (`ctx` names the function for messages).
    /// `Err` holds the unknown value to return instead.
    fn text(&mut self, v: Value, at: &Node, owner: &str, ctx: &str) -> Result<String, Value> {
        match v {
            Value::Str(s) => Ok(s),
            Value::Num(_) | Value::Bool(_) => Ok(v.as_str().unwrap_or_default()),
            Value::Unknown(_) => Err(v),
            Value::Ref(id) => Err(self.warn_at(
                owner,
                at,
                format!(
                    "{ctx}: the physical id of `{id}` (!Ref {id}) is known only after deployment"
                ),
            )),
            Value::Attr(id, a) => Err(self.warn_at(
                owner,
                at,
                format!("{ctx}: !GetAtt {id}.{a} is known only after deployment"),
            )),
            Value::NoValue => Err(self.fail_at(
                at,
                format!("{ctx} cannot use AWS::NoValue here"),
                "a string",
            )),
            Value::Null | Value::List(_) | Value::Map(_) => {
                let what = match v {
                    Value::Null => "null",
                    Value::List(_) => "a list",
                    _ => "a map",
                };
                Err(self.fail_at(
                    at,
                    format!("{ctx} needs a string here, not {what}"),
                    "a string",
                ))
            }
        }
    }

    /// A value that must be a list.
    fn list(&mut self, v: Value, at: &Node, owner: &str, ctx: &str) -> Result<Vec<Value>, Value> {
        match v {
            Value::List(l) => Ok(l),
            Value::Unknown(_) => Err(v),
            Value::Attr(id, a) => Err(self.warn_at(
                owner,
                at,
                format!("{ctx}: !GetAtt {id}.{a} is known only after deployment"),
            )),
            other => Err(self.fail_at(
                at,
                format!("{ctx} needs a list here, not `{other}`"),
                "a list",
            )),
        }
    }

    fn pseudo(&mut self, name: &str, at: &Node, owner: &str) -> Option<Value> {
        Some(match name {
            "AWS::Region" => Value::Str(self.region.clone()),
            "AWS::AccountId" => Value::Str(self.account.clone()),
            "AWS::StackName" => Value::Str(self.stack_name.clone()),
            "AWS::StackId" => Value::Str(self.stack_id.clone()),
            "AWS::Partition" => Value::Str(self.partition.to_string()),
            "AWS::URLSuffix" => Value::Str(self.url_suffix.to_string()),
            "AWS::NoValue" => Value::NoValue,
            "AWS::NotificationARNs" => self.warn_at(
                owner,
                at,
                "AWS::NotificationARNs is set when the stack is created".to_string(),
            ),
            _ => return None,
        })
    }

    /// `f` evaluated in `ctx` (see [`Resolving`]).
    fn resolving_as<T>(&mut self, ctx: Resolving, f: impl FnOnce(&mut Self) -> T) -> T {
        let outer = self.resolving;
        self.resolving = Some(Resolving::enter(outer, ctx));
        let v = f(self);
        self.resolving = outer;
        v
    }

    /// The id a resource of this template has in the deployment
    /// ([`ImportOptions::renamed`]): its own, unless an earlier stack took it.
    fn deployed_id(&self, id: &str) -> String {
        self.renamed
            .get(id)
            .cloned()
            .unwrap_or_else(|| id.to_string())
    }

    /// `Ref name`: a pseudo parameter, a parameter or a resource.
    fn reference(&mut self, name: &str, at: &'a Node, owner: &str) -> Value {
        if let Some(v) = self.pseudo(name, at, owner) {
            return v;
        }
        if let Some(v) = self.params.get(name) {
            return v.clone();
        }
        if let Some(&i) = self.index.get(name) {
            if let Some(ctx) = self.resolving {
                return ctx.resource_error(self, name, false, at);
            }
            if let Some(v) = self.check_included(i, at) {
                return v;
            }
            let via = if self.in_sub { "Fn::Sub" } else { "Ref" };
            self.depend(i, at, via);
            return Value::Ref(self.deployed_id(name));
        }
        let mut d = at.error(
            self.src,
            format!("Ref to `{name}`, which is not a parameter or resource"),
        );
        d = d.expected("a parameter, a resource or a pseudo parameter");
        let candidates: Vec<&str> = self
            .params
            .keys()
            .copied()
            .chain(self.index.keys().copied())
            .chain(PSEUDO.iter().copied())
            .collect();
        if let Some(s) = did_you_mean(name, candidates) {
            d = d.hint(format!("did you mean `{s}`?"));
        }
        self.fail(d)
    }

    /// An error when resource `i` is left out by its condition.
    fn check_included(&mut self, i: usize, at: &Node) -> Option<Value> {
        let res = &self.resources[i];
        if res.included {
            return None;
        }
        let (id, cond) = (res.id, res.condition.map_or("", |c| c.0));
        Some(self.fail_at(
            at,
            format!("`{id}` is left out (its condition `{cond}` is false) but used here"),
            "a reference guarded by Fn::If on the same condition",
        ))
    }

    fn get_att(&mut self, arg: &'a Node, owner: &str) -> Value {
        let expected = "Fn::GetAtt: [LogicalId, Attribute]";
        let (id, attr) = match &arg.kind {
            NodeKind::Seq(items) if items.len() == 2 => {
                let Some(id) = items[0].as_str() else {
                    return self.fail_at(
                        &items[0],
                        "Fn::GetAtt needs a logical id".into(),
                        expected,
                    );
                };
                let v = self.eval(&items[1], owner);
                match self.text(v, &items[1], owner, "Fn::GetAtt") {
                    Ok(a) => (id.to_string(), a),
                    Err(u) => return u,
                }
            }
            NodeKind::Str(s) => match s.split_once('.') {
                Some((id, a)) => (id.to_string(), a.to_string()),
                None => return self.fail_at(arg, format!("`{s}` names no attribute"), expected),
            },
            _ => {
                return self.fail_at(
                    arg,
                    format!("Fn::GetAtt takes {}", arg.describe()),
                    expected,
                )
            }
        };
        self.attribute(&id, &attr, arg, owner)
    }

    /// `Fn::GetAtt id.attr`.
    fn attribute(&mut self, id: &str, attr: &str, at: &'a Node, owner: &str) -> Value {
        let Some(&i) = self.index.get(id) else {
            let mut d = at.error(
                self.src,
                format!("Fn::GetAtt of `{id}`, which is not a resource"),
            );
            d = d.expected("the logical id of a resource");
            if let Some(s) = did_you_mean(id, self.index.keys().copied()) {
                d = d.hint(format!("did you mean `{s}`?"));
            }
            return self.fail(d);
        };
        if let Some(ctx) = self.resolving {
            return ctx.resource_error(self, id, true, at);
        }
        if let Some(v) = self.check_included(i, at) {
            return v;
        }
        let via = if self.in_sub { "Fn::Sub" } else { "Fn::GetAtt" };
        self.depend(i, at, via);
        let kind = self.resources[i].kind;
        let prop = match (kind, attr) {
            ("AWS::EC2::SecurityGroup", "GroupId") => return Value::Ref(self.deployed_id(id)),
            ("AWS::EC2::VPC", "CidrBlock") => "CidrBlock",
            ("AWS::EC2::Subnet", "CidrBlock") => "CidrBlock",
            ("AWS::EC2::Subnet", "AvailabilityZone") => "AvailabilityZone",
            ("AWS::EC2::Subnet", "VpcId") => "VpcId",
            ("AWS::EC2::SecurityGroup", "VpcId") => "VpcId",
            _ => return Value::Attr(self.deployed_id(id), attr.to_string()),
        };
        let props = self.resources[i].props;
        let pnode = props
            .iter()
            .find(|(k, _)| k == prop)
            .map(|(k, n)| (k.as_str(), n));
        match pnode.and_then(|(k, n)| self.prop(i, k, n).map(|v| (k, v))) {
            Some((_, v)) if v != Value::NoValue => v,
            _ => self.warn_at(
                owner,
                at,
                format!("!GetAtt {id}.{attr}: `{id}` has no {prop} property, AWS chooses it at deployment"),
            ),
        }
    }

    /// Property `key` of resource `i`, evaluated once.
    fn prop(&mut self, i: usize, key: &'a str, node: &'a Node) -> Option<Value> {
        if let Some(v) = self.memo.get(&(i, key)) {
            return Some(v.clone());
        }
        let id = self.resources[i].id;
        if !self.in_progress.insert((i, key)) {
            return Some(self.fail_at(
                node,
                format!("`{id}`.{key} depends on itself (through Fn::GetAtt)"),
                "no circular references",
            ));
        }
        let outer = self.current.replace(i);
        let outer_sub = std::mem::replace(&mut self.in_sub, false);
        let v = self.eval(node, id);
        self.current = outer;
        self.in_sub = outer_sub;
        self.in_progress.remove(&(i, key));
        self.memo.insert((i, key), v.clone());
        Some(v)
    }

    fn sub(&mut self, arg: &'a Node, owner: &str) -> Value {
        let expected = "Fn::Sub: a string, or [string, {Var: value, ...}]";
        let (tnode, var_nodes): (&'a Node, &'a [(String, Node)]) = match &arg.kind {
            NodeKind::Str(_) => (arg, &[]),
            NodeKind::Seq(items) if items.len() == 2 => match &items[1].kind {
                NodeKind::Map(m) => (&items[0], m),
                _ => {
                    return self.fail_at(
                        &items[1],
                        format!("the variables of Fn::Sub are {}", items[1].describe()),
                        expected,
                    )
                }
            },
            _ => return self.fail_at(arg, format!("Fn::Sub takes {}", arg.describe()), expected),
        };
        let Some(template) = tnode.as_str() else {
            return self.fail_at(
                tnode,
                format!("the Fn::Sub template is {}", tnode.describe()),
                expected,
            );
        };
        let mut vars: Vec<(&str, Value)> = Vec::with_capacity(var_nodes.len());
        for (k, n) in var_nodes {
            let v = self.eval(n, owner);
            vars.push((k.as_str(), v));
        }
        let pieces = sub_pieces(template);
        let mut values = Vec::with_capacity(pieces.len());
        let outer_sub = std::mem::replace(&mut self.in_sub, true);
        for p in &pieces {
            values.push(match p {
                Piece::Text(t) => Value::Str(t.clone()),
                Piece::Var(name) => match vars.iter().find(|(k, _)| k == name) {
                    Some((_, v)) => v.clone(),
                    None => match name.split_once('.') {
                        Some((id, attr)) => self.attribute(id, attr, tnode, owner),
                        None => self.reference(name, tnode, owner),
                    },
                },
            });
        }
        self.in_sub = outer_sub;
        // `${Resource}` alone is the resource itself, as Ref.
        if let [v @ (Value::Ref(_) | Value::Attr(..))] = values.as_slice() {
            return v.clone();
        }
        let mut out = String::new();
        for v in values {
            match self.text(v, tnode, owner, "Fn::Sub") {
                Ok(t) => out.push_str(&t),
                Err(u) => return u,
            }
        }
        Value::Str(out)
    }

    fn select(&mut self, arg: &'a Node, owner: &str) -> Value {
        let Some(items) = self.args("Fn::Select", arg, 2, 2, "[index, list]") else {
            return Value::Unknown("Fn::Select".into());
        };
        let iv = self.eval(&items[0], owner);
        let index = match self.text(iv, &items[0], owner, "Fn::Select") {
            Ok(t) => t,
            Err(u) => return u,
        };
        let Ok(index) = index.trim().parse::<usize>() else {
            return self.fail_at(
                &items[0],
                format!("`{index}` is not an index"),
                "a whole number from 0",
            );
        };
        let lv = self.eval(&items[1], owner);
        let list = match self.list(lv, &items[1], owner, "Fn::Select") {
            Ok(l) => l,
            Err(u) => return u,
        };
        let len = list.len();
        match list.into_iter().nth(index) {
            Some(v) => v,
            None => self.fail_at(
                &items[0],
                format!("Fn::Select index {index} is out of range: the list has {len} item(s)"),
                &format!("an index below {len}"),
            ),
        }
    }

    fn get_azs(&mut self, arg: &'a Node, owner: &str) -> Value {
        let v = self.eval(arg, owner);
        let region = match v {
            Value::Null => self.region.clone(),
            v => match self.text(v, arg, owner, "Fn::GetAZs") {
                Ok(r) if r.is_empty() => self.region.clone(),
                Ok(r) => r,
                Err(u) => return u,
            },
        };
        let zones = if region == self.region {
            self.region_azs.clone()
        } else {
            regions::azs(&region)
        };
        match zones {
            Some(z) => Value::List(z.into_iter().map(Value::Str).collect()),
            None => self.warn_at(
                owner,
                arg,
                format!("Fn::GetAZs: no availability zones known for region `{region}`; give them to the importer"),
            ),
        }
    }

    fn cidr(&mut self, arg: &'a Node, owner: &str) -> Value {
        let Some(items) = self.args("Fn::Cidr", arg, 3, 3, "[ipBlock, count, cidrBits]") else {
            return Value::Unknown("Fn::Cidr".into());
        };
        let mut texts = Vec::with_capacity(3);
        for n in items {
            let v = self.eval(n, owner);
            match self.text(v, n, owner, "Fn::Cidr") {
                Ok(t) => texts.push(t),
                Err(u) => return u,
            }
        }
        let mut nums = [0u32; 2];
        for (k, slot) in nums.iter_mut().enumerate() {
            match texts[k + 1].trim().parse::<u32>() {
                Ok(n) => *slot = n,
                Err(_) => {
                    return self.fail_at(
                        &items[k + 1],
                        format!("`{}` is not a whole number", texts[k + 1]),
                        "Fn::Cidr: [ipBlock, count, cidrBits] with whole numbers",
                    )
                }
            }
        }
        match cidr::cidr(&texts[0], nums[0], nums[1]) {
            Ok(blocks) => Value::List(blocks.into_iter().map(Value::Str).collect()),
            Err(e) => {
                // Point at the argument the message is about.
                let at = if e.starts_with("count") {
                    &items[1]
                } else if e.starts_with("cidrBits") {
                    &items[2]
                } else if e.contains("too small") {
                    arg
                } else {
                    &items[0]
                };
                self.fail_at(
                    at,
                    format!("Fn::Cidr: {e}"),
                    "[ipBlock, count (1-256), cidrBits (host bits of each subnet: 8 gives /24)]",
                )
            }
        }
    }

    fn join(&mut self, arg: &'a Node, owner: &str) -> Value {
        let Some(items) = self.args("Fn::Join", arg, 2, 2, "[delimiter, [values]]") else {
            return Value::Unknown("Fn::Join".into());
        };
        let dv = self.eval(&items[0], owner);
        let delim = match self.text(dv, &items[0], owner, "Fn::Join") {
            Ok(t) => t,
            Err(u) => return u,
        };
        let lv = self.eval(&items[1], owner);
        let list = match self.list(lv, &items[1], owner, "Fn::Join") {
            Ok(l) => l,
            Err(u) => return u,
        };
        let mut parts = Vec::with_capacity(list.len());
        for v in list {
            match self.text(v, &items[1], owner, "Fn::Join") {
                Ok(t) => parts.push(t),
                Err(u) => return u,
            }
        }
        Value::Str(parts.join(&delim))
    }

    fn split(&mut self, arg: &'a Node, owner: &str) -> Value {
        let Some(items) = self.args("Fn::Split", arg, 2, 2, "[delimiter, string]") else {
            return Value::Unknown("Fn::Split".into());
        };
        let dv = self.eval(&items[0], owner);
        let delim = match self.text(dv, &items[0], owner, "Fn::Split") {
            Ok(t) => t,
            Err(u) => return u,
        };
        if delim.is_empty() {
            return self.fail_at(
                &items[0],
                "Fn::Split with an empty delimiter".into(),
                "a delimiter like \",\"",
            );
        }
        if let Some(items) = self.split_import(&items[1], &delim, owner) {
            return Value::List(items);
        }
        let sv = self.eval(&items[1], owner);
        match self.text(sv, &items[1], owner, "Fn::Split") {
            Ok(s) => Value::List(
                s.split(delim.as_str())
                    .map(|p| Value::Str(p.to_string()))
                    .collect(),
            ),
            Err(u) => u,
        }
    }

    fn find_in_map(&mut self, arg: &'a Node, owner: &str) -> Value {
        let form = "[MapName, TopLevelKey, SecondLevelKey]";
        let Some(items) = self.args("Fn::FindInMap", arg, 3, 4, form) else {
            return Value::Unknown("Fn::FindInMap".into());
        };
        let mut keys = Vec::with_capacity(3);
        for n in &items[..3] {
            let v = self.eval(n, owner);
            match self.text(v, n, owner, "Fn::FindInMap") {
                Ok(t) => keys.push(t),
                Err(u) => return u,
            }
        }
        let default = items.get(3).and_then(|d| d.get("DefaultValue"));
        let mut node = self.mappings;
        for (k, key) in keys.iter().enumerate() {
            let next = node.and_then(|n| n.get(key));
            match next {
                Some(n) => node = Some(n),
                None => {
                    if let Some(d) = default {
                        return self.eval(d, owner);
                    }
                    let level = ["mapping", "top-level key", "second-level key"][k];
                    let choices: Vec<&str> = node
                        .and_then(Node::as_map)
                        .map(|m| m.iter().map(|(k, _)| k.as_str()).collect())
                        .unwrap_or_default();
                    let mut d =
                        items[k].error(self.src, format!("Fn::FindInMap: no {level} `{key}`"));
                    d = d.expected(if choices.is_empty() {
                        format!("a {level} defined under Mappings")
                    } else {
                        format!("one of {}", choices.join(", "))
                    });
                    if let Some(s) = did_you_mean(key, choices.iter().copied()) {
                        d = d.hint(format!("did you mean `{s}`?"));
                    }
                    return self.fail(d);
                }
            }
        }
        match node {
            Some(n) => self.eval(n, owner),
            None => Value::Unknown("Fn::FindInMap".into()),
        }
    }

    fn if_fn(&mut self, arg: &'a Node, owner: &str) -> Value {
        let Some(items) = self.args(
            "Fn::If",
            arg,
            3,
            3,
            "[ConditionName, ValueIfTrue, ValueIfFalse]",
        ) else {
            return Value::Unknown("Fn::If".into());
        };
        let Some(name) = items[0].as_str() else {
            return self.fail_at(
                &items[0],
                format!("Fn::If names {}", items[0].describe()),
                "the name of a condition",
            );
        };
        match self.condition(name, &items[0]) {
            Some(true) => self.eval(&items[1], owner),
            Some(false) => self.eval(&items[2], owner),
            None => self.warn_at(
                owner,
                &items[0],
                format!("Fn::If: condition `{name}` cannot be evaluated before deployment"),
            ),
        }
    }
}

/// A piece of an `Fn::Sub` template.
#[derive(Debug, PartialEq)]
enum Piece {
    Text(String),
    Var(String),
}

/// Splits an `Fn::Sub` template into text and `${Var}`s; `${!Literal}` is
/// the text `${Literal}`, and a `${` without its `}` is text.
fn sub_pieces(template: &str) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut text = String::new();
    let mut rest = template;
    while let Some(at) = rest.find("${") {
        text.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        if let Some(lit) = after.strip_prefix('!') {
            text.push_str("${");
            rest = lit;
            continue;
        }
        match after.find('}') {
            Some(end) if !after[..end].trim().is_empty() => {
                if !text.is_empty() {
                    out.push(Piece::Text(std::mem::take(&mut text)));
                }
                out.push(Piece::Var(after[..end].trim().to_string()));
                rest = &after[end + 1..];
            }
            _ => {
                text.push_str("${");
                rest = after;
            }
        }
    }
    text.push_str(rest);
    if !text.is_empty() {
        out.push(Piece::Text(text));
    }
    out
}

/// Whether a value holds something unknown.
/// Whether `id` is a logical id: letters and digits only.
fn is_logical_id(id: &str) -> bool {
    !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric())
}

fn has_unknown(v: &Value) -> bool {
    match v {
        Value::Unknown(_) | Value::Ref(_) | Value::Attr(..) => true,
        Value::List(l) => l.iter().any(has_unknown),
        Value::Map(m) => m.iter().any(|(_, v)| has_unknown(v)),
        _ => false,
    }
}

/// `Fn::Equals`: scalars compare as CloudFormation's strings (`true` equals
/// `"true"`, `80` equals `"80"`).
fn loose_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::List(x), Value::List(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| loose_eq(p, q))
        }
        _ => match (a.as_str(), b.as_str()) {
            (Some(x), Some(y)) => x == y,
            _ => a == b,
        },
    }
}

/// Standard base64 with padding.
fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b0 = chunk.first().copied().unwrap_or(0);
        let b1 = chunk.get(1).copied().unwrap_or(0);
        let b2 = chunk.get(2).copied().unwrap_or(0);
        let n = (u32::from(b0) << 16) | (u32::from(b1) << 8) | u32::from(b2);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval_with(text: &str, opts: &ImportOptions) -> Result<Evaluated, Diagnostics> {
        evaluate(&SourceFile::new("unit-test.yaml", text.to_string()), opts)
    }

    fn eval(text: &str) -> Evaluated {
        match eval_with(text, &ImportOptions::default()) {
            Ok(e) => e,
            Err(d) => panic!("{d}"),
        }
    }

    fn errors(text: &str) -> Vec<String> {
        match eval_with(text, &ImportOptions::default()) {
            Ok(_) => panic!("no error"),
            Err(d) => d.0.iter().map(Diagnostic::headline).collect(),
        }
    }

    fn prop(e: &Evaluated, id: &str, key: &str) -> Value {
        let r = e.resources.iter().find(|r| r.id == id).expect("resource");
        r.props.get(key).cloned().unwrap_or(Value::NoValue)
    }

    fn s(x: &str) -> Value {
        Value::Str(x.to_string())
    }

    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn sub_pieces_split_variables_and_literals() {
        assert_eq!(
            sub_pieces("a-${X}-${!Lit}-${A.b}${"),
            [
                Piece::Text("a-".into()),
                Piece::Var("X".into()),
                Piece::Text("-${Lit}-".into()),
                Piece::Var("A.b".into()),
                Piece::Text("${".into()),
            ]
        );
        assert_eq!(sub_pieces(""), []);
        assert_eq!(sub_pieces("${}"), [Piece::Text("${}".into())]);
    }

    #[test]
    fn equals_compares_as_strings() {
        assert!(loose_eq(&Value::Bool(true), &s("true")));
        assert!(loose_eq(&Value::Num(80.0), &s("80")));
        assert!(!loose_eq(&s("a"), &s("b")));
    }

    #[test]
    fn getatt_chain_in_any_order() {
        let e = eval(
            "Resources:\n  B:\n    Type: AWS::EC2::Subnet\n    Properties:\n      CidrBlock: !GetAtt A.CidrBlock\n      AvailabilityZone: !GetAtt A.AvailabilityZone\n  A:\n    Type: AWS::EC2::Subnet\n    Properties:\n      CidrBlock: 10.0.0.0/24\n      AvailabilityZone: !Select [1, !GetAZs '']\n",
        );
        assert_eq!(prop(&e, "B", "CidrBlock"), s("10.0.0.0/24"));
        assert_eq!(prop(&e, "B", "AvailabilityZone"), s("us-east-1b"));
        assert_eq!(e.resources[0].id, "B");
        assert_eq!(e.resources[0].line, 2);
    }

    #[test]
    fn cycles_are_errors() {
        let e = errors(
            "Resources:\n  A:\n    Type: AWS::EC2::Subnet\n    Properties:\n      CidrBlock: !GetAtt B.CidrBlock\n  B:\n    Type: AWS::EC2::Subnet\n    Properties:\n      CidrBlock: !GetAtt A.CidrBlock\n",
        );
        assert!(e.iter().any(|m| m.contains("depends on itself")), "{e:?}");
        let e = errors(
            "Conditions:\n  A: !Not [!Condition B]\n  B: !Not [!Condition A]\nResources:\n  X:\n    Type: T\n",
        );
        assert!(
            e.iter()
                .any(|m| m.contains("condition `A` depends on itself")),
            "{e:?}"
        );
    }

    #[test]
    fn long_getatt_chains_do_not_overflow() {
        // as long a chain as CloudFormation's 500 resources allow
        let mut t = String::from("Resources:\n");
        for i in 0..499 {
            t.push_str(&format!(
                "  S{i}:\n    Type: AWS::EC2::Subnet\n    Properties:\n      CidrBlock: !GetAtt S{}.CidrBlock\n",
                i + 1
            ));
        }
        t.push_str(
            "  S499:\n    Type: AWS::EC2::Subnet\n    Properties:\n      CidrBlock: 10.0.0.0/24\n",
        );
        let e = errors(&t);
        assert!(
            e.iter().any(|m| m.contains("nest more than")),
            "{:?}",
            &e[..1]
        );
    }

    #[test]
    fn structure_errors_say_what_was_expected() {
        let d = eval_with("- a\n", &ImportOptions::default()).unwrap_err();
        assert!(d.0[0].message.contains("the template is a list"));
        assert!(d.0[0]
            .expected
            .as_deref()
            .unwrap_or("")
            .contains("Resources"));
        let e = errors("Description: x\n");
        assert!(e[0].contains("no `Resources`"), "{e:?}");
        let e = errors("Resources:\n  A:\n    Properties: {}\n");
        assert!(
            e[0].contains("unit-test.yaml:2:3") && e[0].contains("has no Type"),
            "{e:?}"
        );
        let e = errors("Resources:\n  A:\n    Type: [x]\n");
        assert!(e[0].contains(":3:11:"), "{e:?}");
        let e = errors("Resources:\n  A: 3\n");
        assert!(e[0].contains("resource `A` is a number"), "{e:?}");
        let e = errors("Resorces:\n  A: 3\n");
        assert!(
            e.iter().any(|m| m.contains("not a template section")),
            "{e:?}"
        );
    }

    #[test]
    fn ref_errors_point_at_the_name() {
        let e = errors("Resources:\n  A:\n    Type: T\n    Properties:\n      X: !Ref Nope\n");
        assert!(e[0].contains(":5:15:") && e[0].contains("`Nope`"), "{e:?}");
    }

    #[test]
    fn conditions_cannot_use_resources() {
        let e = errors("Conditions:\n  C: !Equals [!Ref A, x]\nResources:\n  A:\n    Type: T\n");
        assert!(e[0].contains("refers to the resource"), "{e:?}");
    }

    #[test]
    fn excluded_resources_cannot_be_referenced() {
        let e = errors(
            "Conditions:\n  No: !Equals [a, b]\nResources:\n  A:\n    Type: T\n    Condition: No\n  B:\n    Type: T\n    Properties:\n      X: !Ref A\n",
        );
        assert!(e[0].contains("left out"), "{e:?}");
    }

    #[test]
    fn unknown_functions_warn() {
        let e = eval("Resources:\n  A:\n    Type: T\n    Properties:\n      X: {\"Fn::Length\": [1, 2]}\n      Y: !Ref AWS::NotificationARNs\n");
        assert!(matches!(prop(&e, "A", "X"), Value::Unknown(_)));
        assert!(matches!(prop(&e, "A", "Y"), Value::Unknown(_)));
        assert_eq!(e.warnings.len(), 2);
        assert_eq!(e.warnings[0].logical_id, "A");
        assert_eq!(e.warnings[0].line, 5);
    }

    #[test]
    fn partition_follows_the_region() {
        let t = "Resources:\n  A:\n    Type: T\n    Properties:\n      P: !Ref AWS::Partition\n      U: !Ref AWS::URLSuffix\n      I: !Ref AWS::StackId\n";
        let opts = ImportOptions {
            region: Some("cn-north-1".into()),
            ..Default::default()
        };
        let e = eval_with(t, &opts).unwrap();
        assert_eq!(prop(&e, "A", "P"), s("aws-cn"));
        assert_eq!(prop(&e, "A", "U"), s("amazonaws.com.cn"));
        assert_eq!(
            prop(&e, "A", "I"),
            s("arn:aws-cn:cloudformation:cn-north-1:123456789012:stack/unit-test/00000000-0000-0000-0000-000000000000")
        );
        let opts = ImportOptions {
            region: Some("us-gov-west-1".into()),
            ..Default::default()
        };
        assert_eq!(
            prop(&eval_with(t, &opts).unwrap(), "A", "P"),
            s("aws-us-gov")
        );
        assert_eq!(prop(&eval(t), "A", "P"), s("aws"));
    }

    #[test]
    fn parameter_constraints() {
        let t = "Parameters:\n  N:\n    Type: Number\n    Default: 5\n    MinValue: 1\n    MaxValue: 10\n  S:\n    Type: String\n    Default: ab\n    MaxLength: 3\nResources:\n  A:\n    Type: T\n";
        assert!(eval_with(t, &ImportOptions::default()).is_ok());
        for (k, v, want) in [
            ("N", "11", "out of range"),
            ("N", "x", "not a number"),
            ("S", "abcd", "characters"),
        ] {
            let opts = ImportOptions {
                params: vec![(k.into(), v.into())],
                ..Default::default()
            };
            let d = eval_with(t, &opts).unwrap_err();
            assert!(d.0[0].message.contains(want), "{}", d.0[0].message);
        }
        let e = errors(
            "Parameters:\n  P:\n    Type: Strin\n    Default: x\nResources:\n  A:\n    Type: T\n",
        );
        assert!(e[0].contains("not a parameter type"), "{e:?}");
    }

    #[test]
    fn ssm_parameters_are_unknown() {
        let e = eval("Parameters:\n  Ami:\n    Type: AWS::SSM::Parameter::Value<String>\n    Default: /aws/ami\nResources:\n  A:\n    Type: T\n    Properties:\n      X: !Ref Ami\n");
        assert!(matches!(prop(&e, "A", "X"), Value::Unknown(_)));
        assert_eq!(e.warnings[0].logical_id, "Ami");
    }
}
