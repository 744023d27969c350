//! CloudFormation import: a template (YAML with the short forms, or JSON)
//! read and evaluated as a real stack would be, then mapped onto the
//! topology model and written as the same TOML the rest of vifgate reads.
//!
//! Layers, each its own file:
//! - [`yaml`]: the template as a tree of [`yaml::Node`]s with their lines
//!   and columns; short forms (`!Ref`, `!GetAtt a.b`, ...) turned into the
//!   long forms (`{"Ref": ..}`, `{"Fn::GetAtt": [..]}`).
//! - [`eval`]: parameters, pseudo parameters, mappings, conditions and the
//!   intrinsic functions, giving every resource's properties as plain
//!   [`Value`]s. [`cidr`] is `Fn::Cidr` as AWS computes it; `Fn::GetAZs`
//!   reads the regions' zones from [`crate::resolve::regions`].
//! - [`mapping`]: resources to a topology (a TOML table), with a warning
//!   for everything it cannot map, naming the logical id and line.
//! - [`stacks`]: several templates deployed as one, each stack's exported
//!   `Outputs` resolving the `Fn::ImportValue` of the others, evaluated in
//!   the order CloudFormation could create them; the result is one
//!   [`Evaluated`] that [`mapping`] maps like a single template.

pub mod cidr;
pub mod eval;
pub mod mapping;
pub mod stacks;
pub mod yaml;

use std::collections::HashMap;
use std::fmt;

/// The region when none is given (`AWS::Region`, `Fn::GetAZs`).
pub const DEFAULT_REGION: &str = "us-east-1";

/// An evaluated value. References to resources stay symbolic: the mapping
/// links resources through them.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// YAML null.
    Null,
    /// A boolean.
    Bool(bool),
    /// A number (CloudFormation numbers are strings or integers in practice).
    Num(f64),
    /// A string.
    Str(String),
    /// A list.
    List(Vec<Value>),
    /// A map, in template order.
    Map(Vec<(String, Value)>),
    /// `Ref` to a resource: its logical id.
    Ref(String),
    /// `Fn::GetAtt` of a resource attribute that has no static value
    /// (an allocation id, a default ACL id ...): logical id and attribute.
    Attr(String, String),
    /// `AWS::NoValue`: the property is removed.
    NoValue,
    /// Something that cannot be known before deployment
    /// (`Fn::ImportValue`, an attribute of an unknown resource); the text
    /// says what.
    Unknown(String),
}

impl Value {
    /// The string, if it is one (numbers are written as CloudFormation
    /// would: integers without a fraction).
    pub fn as_str(&self) -> Option<String> {
        match self {
            Value::Str(s) => Some(s.clone()),
            Value::Num(n) if n.fract() == 0.0 => Some(format!("{}", *n as i64)),
            Value::Num(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    /// A map entry.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Map(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => write!(f, "null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Num(_) | Value::Str(_) => write!(f, "{}", self.as_str().unwrap_or_default()),
            Value::List(l) => {
                write!(f, "[")?;
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{v}")?;
                }
                write!(f, "]")
            }
            Value::Map(_) => write!(f, "{{...}}"),
            Value::Ref(id) => write!(f, "!Ref {id}"),
            Value::Attr(id, a) => write!(f, "!GetAtt {id}.{a}"),
            Value::NoValue => write!(f, "AWS::NoValue"),
            Value::Unknown(why) => write!(f, "<unknown: {why}>"),
        }
    }
}

/// A resource whose condition holds, with its properties evaluated.
#[derive(Debug, Clone)]
pub struct Resource {
    /// Logical id.
    pub id: String,
    /// `AWS::EC2::VPC` ...
    pub kind: String,
    /// Evaluated `Properties` (a [`Value::Map`]; empty when absent).
    pub props: Value,
    /// Line of the resource in the template.
    pub line: usize,
}

/// Something the importer could not map or evaluate.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ImportWarning {
    /// The resource (or parameter, output ...) concerned.
    pub logical_id: String,
    /// Line in the template (1-based; 0 when unknown).
    pub line: usize,
    /// What happened.
    pub message: String,
}

impl fmt::Display for ImportWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}: {}: {}",
            self.line, self.logical_id, self.message
        )
    }
}

/// How the template is evaluated.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// `--param Key=Value` overrides.
    pub params: Vec<(String, String)>,
    /// Region (`AWS::Region`); default `us-east-1`.
    pub region: Option<String>,
    /// AZ names for `Fn::GetAZs` instead of the built-in table.
    pub azs: Option<Vec<String>>,
    /// `AWS::StackName`; default the template's file stem.
    pub stack_name: Option<String>,
    /// `AWS::AccountId`; default `123456789012`.
    pub account_id: Option<String>,
    /// What `Fn::ImportValue` resolves, by export name: the exports of the
    /// stacks created before this one and the `--import` values. An import
    /// not here is unknown, with a warning.
    pub imports: HashMap<String, Export>,
    /// The other stacks of the deployment and what each exports: an
    /// import whose name starts with one of these stacks' names (`STACK-…`
    /// or `STACK:…`, the usual `${AWS::StackName}-…` exports) but that the
    /// stack does not export is an error, not a warning.
    pub other_stacks: Vec<StackExports>,
    /// Logical ids this stack's values use under another name, because an
    /// earlier stack of the deployment has the same id: own id → the id in
    /// [`Resource::id`], [`Value::Ref`] and [`Value::Attr`].
    pub renamed: HashMap<String, String>,
    /// How a parameter is named on the command line in messages: empty for
    /// one template (`--param KEY=…`), `STACK.` in a deployment
    /// (`--param STACK.KEY=…`).
    pub param_prefix: String,
    /// The names of all stacks of the deployment (this one included), for
    /// hints.
    pub stack_names: Vec<String>,
}

/// What a stack of a deployment exports, by name, for the errors of the
/// stacks importing from it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StackExports {
    /// The stack's name.
    pub stack: String,
    /// The names it exports.
    pub names: Vec<String>,
    /// Names it would export if a condition held: (name, condition).
    pub withheld: Vec<(String, String)>,
}

/// An exported output (`Outputs: X: Export: Name: …`), or a value given
/// with `--import NAME=VALUE`.
#[derive(Debug, Clone, PartialEq)]
pub struct Export {
    /// The export's name.
    pub name: String,
    /// The stack exporting it (empty for `--import`).
    pub stack: String,
    /// The output's logical id (empty for `--import`).
    pub output: String,
    /// Line of the output in its template (0 for `--import`).
    pub line: usize,
    /// Its column (0 for `--import`).
    pub col: usize,
    /// The value: resources stay symbolic ([`Value::Ref`] of the
    /// exporting stack's resource), as within one template.
    pub value: Value,
    /// For a `Fn::Join` of physical ids (`!Join [",", [!Ref A, !Ref B]]`):
    /// the delimiter, with the joined items in [`Export::value`] as a
    /// list, so that `Fn::Split` on the same delimiter in the importing
    /// stack gives the resources back.
    pub joined: Option<String>,
}

/// One `Fn::ImportValue` of a template, where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportUse {
    /// The export name it asks for (its `Fn::Sub` evaluated).
    pub name: String,
    /// The resource (or output) using it.
    pub logical_id: String,
    /// 1-based line of the `Fn::ImportValue`.
    pub line: usize,
    /// 1-based column.
    pub col: usize,
    /// Whether [`ImportOptions::imports`] resolved it.
    pub resolved: bool,
}

/// An evaluated template.
#[derive(Debug, Clone)]
pub struct Evaluated {
    /// Resources whose conditions hold, in template order.
    pub resources: Vec<Resource>,
    /// What could not be evaluated.
    pub warnings: Vec<ImportWarning>,
    /// The region used.
    pub region: String,
    /// The stack name used.
    pub stack_name: String,
    /// The AZs `Fn::GetAZs` gave for the region.
    pub azs: Vec<String>,
    /// The exported outputs whose condition holds, in template order.
    pub exports: Vec<Export>,
    /// The export names of outputs left out by their condition, with the
    /// condition: (name, condition).
    pub withheld_exports: Vec<(String, String)>,
    /// Every `Fn::ImportValue` whose name could be evaluated, in the order
    /// met.
    pub imports: Vec<ImportUse>,
}
