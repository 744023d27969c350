//! Several templates deployed as one: a VPC stack exporting its subnets and
//! security groups, a bastion stack importing them with `Fn::ImportValue`.
//!
//! [`deploy`] works as CloudFormation would create the stacks:
//!
//! 1. Each template is evaluated once on its own, to learn what it exports
//!    (`Outputs` with `Export: Name`) and which export names its
//!    `Fn::ImportValue`s ask for (names built with `!Sub
//!    '${ParentVPCStack}-…'` included: parameters are evaluated first).
//! 2. An import of another stack's export makes that stack come first. The
//!    stacks are evaluated in that order, whatever the order they were
//!    given in (the given order breaks ties); a cycle, a stack importing
//!    its own export, and two stacks exporting one name are errors, as
//!    they are for CloudFormation.
//! 3. Each template is evaluated again with the exports of the stacks
//!    before it and the `--import` values, so a `!Ref` exported by one
//!    stack is the same resource in the next.
//!
//! A logical id already used by an earlier stack is renamed
//! `STACK.LogicalId` in the later one ([`DeployedStack::renamed`]), so the
//! resources of all stacks form one [`Evaluated`] ([`Deployment::combined`])
//! that [`super::mapping`] maps like a single template.
//!
//! An import that neither a stack nor `--import` provides stays unknown:
//! a warning per use, and [`Deployment::unresolved`] lists them all. One
//! whose name starts with a given stack's name (`STACK-…`, `STACK:…`) that
//! the stack does not export is an error at its line.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

#[cfg(test)]
mod tests;

use super::{eval, yaml, Evaluated, Export, ImportOptions, ImportUse, ImportWarning, StackExports};
use crate::diag::{Diagnostic, Diagnostics, Severity, SourceFile};

/// One template of a deployment.
#[derive(Debug, Clone)]
pub struct StackTemplate {
    /// The stack's name (`AWS::StackName`), unique in the deployment.
    pub name: String,
    /// The template's text and file name.
    pub src: SourceFile,
    /// Its parameters (see [`route_params`]).
    pub params: Vec<(String, String)>,
}

/// What all stacks of a deployment share.
#[derive(Debug, Clone, Default)]
pub struct DeploymentOptions {
    /// Region (`AWS::Region`); default `us-east-1`.
    pub region: Option<String>,
    /// AZ names for `Fn::GetAZs` instead of the built-in table.
    pub azs: Option<Vec<String>>,
    /// `AWS::AccountId`; default `123456789012`.
    pub account_id: Option<String>,
    /// `--import NAME=VALUE`: exports of stacks not in the deployment.
    pub imports: Vec<(String, String)>,
}

/// A stack as deployed.
#[derive(Debug, Clone)]
pub struct DeployedStack {
    /// Its name.
    pub name: String,
    /// Its template's file.
    pub file: PathBuf,
    /// Its parameters as given.
    pub params: Vec<(String, String)>,
    /// The template evaluated with the exports of the stacks before it;
    /// resources under their ids in the deployment.
    pub evaluated: Evaluated,
    /// Resources renamed because an earlier stack has the same logical id:
    /// id in the deployment → logical id in the template.
    pub renamed: HashMap<String, String>,
}

/// Several stacks evaluated as one deployment.
#[derive(Debug, Clone)]
pub struct Deployment {
    /// The stacks in the order they were evaluated (each after the stacks
    /// it imports from).
    pub stacks: Vec<DeployedStack>,
}

impl Deployment {
    /// Every stack's resources as one template, for [`super::mapping`]. Its
    /// `stack_name` joins the stacks' names with ` + `; its warnings are
    /// empty (each stack keeps its own).
    pub fn combined(&self) -> Evaluated {
        combine(&self.stacks)
    }

    /// The stack a resource belongs to, by its id in the deployment (as
    /// mapping warnings name it), with its logical id in that template.
    pub fn origin(&self, id: &str) -> Option<(&DeployedStack, String)> {
        self.stacks.iter().find_map(|s| {
            if let Some(own) = s.renamed.get(id) {
                return Some((s, own.clone()));
            }
            s.evaluated
                .resources
                .iter()
                .any(|r| r.id == id)
                .then(|| (s, id.to_string()))
        })
    }

    /// The stack a warning of the mapping is about (see [`Self::origin`]),
    /// with the warning naming the template's own logical id.
    pub fn attribute(&self, w: &ImportWarning) -> (Option<&DeployedStack>, ImportWarning) {
        match self.origin(&w.logical_id) {
            Some((s, own)) => (
                Some(s),
                ImportWarning {
                    logical_id: own,
                    ..w.clone()
                },
            ),
            None => (None, w.clone()),
        }
    }

    /// Every `Fn::ImportValue` left unresolved, with its stack, in stack
    /// order.
    pub fn unresolved(&self) -> Vec<(&DeployedStack, &ImportUse)> {
        self.stacks
            .iter()
            .flat_map(|s| {
                s.evaluated
                    .imports
                    .iter()
                    .filter(|u| !u.resolved)
                    .map(move |u| (s, u))
            })
            .collect()
    }
}

/// Evaluates `templates` as one deployment (see the module documentation).
/// Errors name the template file, line and column.
pub fn deploy(
    templates: Vec<StackTemplate>,
    opts: &DeploymentOptions,
) -> Result<Deployment, Diagnostics> {
    check_names(&templates)?;
    let several = templates.len() > 1;
    let stack_names: Vec<String> = templates.iter().map(|t| t.name.clone()).collect();
    let base = |t: &StackTemplate| ImportOptions {
        params: t.params.clone(),
        region: opts.region.clone(),
        azs: opts.azs.clone(),
        stack_name: Some(t.name.clone()),
        account_id: opts.account_id.clone(),
        stack_names: stack_names.clone(),
        param_prefix: if several {
            format!("{}.", t.name)
        } else {
            String::new()
        },
        ..ImportOptions::default()
    };

    // 1. What each stack exports and imports.
    let mut first = Vec::with_capacity(templates.len());
    let mut errors = Vec::new();
    for t in &templates {
        match eval::evaluate(&t.src, &base(t)) {
            Ok(ev) => first.push(ev),
            Err(d) => errors.extend(d.0),
        }
    }
    if !errors.is_empty() {
        return Err(Diagnostics(errors));
    }
    let exporter = export_index(&templates, &first, opts)?;

    // 2. The order CloudFormation could create them in.
    let order = creation_order(&templates, &first, &exporter)?;

    // 3. Each again, with the exports before it.
    let other_stacks = |i: usize| -> Vec<StackExports> {
        templates
            .iter()
            .zip(&first)
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, (t, ev))| StackExports {
                stack: t.name.clone(),
                names: ev.exports.iter().map(|e| e.name.clone()).collect(),
                withheld: ev.withheld_exports.clone(),
            })
            .collect()
    };
    let mut imports: HashMap<String, Export> = opts
        .imports
        .iter()
        .map(|(name, value)| {
            let e = Export {
                name: name.clone(),
                stack: String::new(),
                output: String::new(),
                line: 0,
                col: 0,
                value: super::Value::Str(value.clone()),
                joined: None,
            };
            (name.clone(), e)
        })
        .collect();
    let mut taken: HashSet<String> = HashSet::new();
    let mut stacks = Vec::with_capacity(templates.len());
    for &i in &order {
        let t = &templates[i];
        let mut renamed = HashMap::new();
        for r in &first[i].resources {
            if taken.contains(&r.id) {
                renamed.insert(r.id.clone(), format!("{}.{}", t.name, r.id));
            }
        }
        let ev_opts = ImportOptions {
            imports: imports.clone(),
            other_stacks: other_stacks(i),
            renamed: renamed.clone(),
            ..base(t)
        };
        let ev = match eval::evaluate(&t.src, &ev_opts) {
            Ok(ev) => ev,
            Err(d) => {
                errors.extend(d.0);
                continue;
            }
        };
        for r in &ev.resources {
            taken.insert(r.id.clone());
        }
        for e in &ev.exports {
            imports.insert(e.name.clone(), e.clone());
        }
        stacks.push(DeployedStack {
            name: t.name.clone(),
            file: t.src.name().to_path_buf(),
            params: t.params.clone(),
            evaluated: ev,
            renamed: renamed.into_iter().map(|(own, new)| (new, own)).collect(),
        });
    }
    if !errors.is_empty() {
        return Err(Diagnostics(errors));
    }
    Ok(Deployment { stacks })
}

/// The stacks' resources as one template.
fn combine(stacks: &[DeployedStack]) -> Evaluated {
    let Some(first) = stacks.first() else {
        return Evaluated {
            resources: Vec::new(),
            warnings: Vec::new(),
            region: super::DEFAULT_REGION.to_string(),
            stack_name: String::new(),
            azs: Vec::new(),
            exports: Vec::new(),
            withheld_exports: Vec::new(),
            imports: Vec::new(),
        };
    };
    Evaluated {
        resources: stacks
            .iter()
            .flat_map(|s| s.evaluated.resources.iter().cloned())
            .collect(),
        warnings: Vec::new(),
        region: first.evaluated.region.clone(),
        stack_name: stacks
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
            .join(" + "),
        azs: first.evaluated.azs.clone(),
        exports: stacks
            .iter()
            .flat_map(|s| s.evaluated.exports.iter().cloned())
            .collect(),
        withheld_exports: stacks
            .iter()
            .flat_map(|s| s.evaluated.withheld_exports.iter().cloned())
            .collect(),
        imports: stacks
            .iter()
            .flat_map(|s| s.evaluated.imports.iter().cloned())
            .collect(),
    }
}

/// Stack names: each a CloudFormation stack name, none twice.
fn check_names(templates: &[StackTemplate]) -> Result<(), Diagnostics> {
    let mut errors = Vec::new();
    for (i, t) in templates.iter().enumerate() {
        if let Err(e) = check_stack_name(&t.name) {
            errors.push(t.src.diagnostic(Severity::Error, None, e));
        }
        if let Some(prev) = templates[..i].iter().find(|p| p.name == t.name) {
            errors.push(
                t.src
                    .diagnostic(
                        Severity::Error,
                        None,
                        format!(
                            "two stacks are named `{}` ({} and {})",
                            t.name,
                            prev.src.name().display(),
                            t.src.name().display()
                        ),
                    )
                    .hint("name one on the command line: NAME=TEMPLATE"),
            );
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Diagnostics(errors))
    }
}

/// Which stack exports each name; errors for a name exported twice and for
/// an `--import` of a name a stack exports.
fn export_index(
    templates: &[StackTemplate],
    first: &[Evaluated],
    opts: &DeploymentOptions,
) -> Result<HashMap<String, usize>, Diagnostics> {
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut errors = Vec::new();
    for (i, ev) in first.iter().enumerate() {
        for e in &ev.exports {
            if let Some(&j) = index.get(&e.name) {
                let prev = first[j].exports.iter().find(|p| p.name == e.name);
                let at = prev.map_or(String::new(), |p| {
                    format!(
                        " ({}:{}, output `{}`)",
                        templates[j].src.name().display(),
                        p.line,
                        p.output
                    )
                });
                errors.push(
                    at_export(
                        &templates[i].src,
                        e,
                        format!(
                            "`{}` is exported by stack `{}`{at} and by stack `{}` (output `{}`)",
                            e.name, templates[j].name, templates[i].name, e.output
                        ),
                    )
                    .expected("export names unique in a region"),
                );
                continue;
            }
            index.insert(e.name.clone(), i);
        }
    }
    for (name, _) in &opts.imports {
        if let Some(&i) = index.get(name) {
            if let Some(e) = first[i].exports.iter().find(|e| &e.name == name) {
                errors.push(
                    at_export(
                        &templates[i].src,
                        e,
                        format!(
                            "--import {name}=… names an export of stack `{}`, whose template is given",
                            templates[i].name
                        ),
                    )
                    .hint(format!(
                        "drop --import {name}, or the template of `{}`",
                        templates[i].name
                    )),
                );
            }
        }
    }
    if errors.is_empty() {
        Ok(index)
    } else {
        Err(Diagnostics(errors))
    }
}

/// An error at an export's output.
fn at_export(src: &SourceFile, e: &Export, msg: String) -> Diagnostic {
    yaml::error_at(src, e.line, e.col, e.output.chars().count().max(1), msg)
}

/// An error at an import.
fn at_import(src: &SourceFile, u: &ImportUse, msg: String) -> Diagnostic {
    yaml::error_at(src, u.line, u.col, 1, msg)
}

/// The stacks in an order where each comes after the stacks it imports
/// from, the given order breaking ties. A cycle is an error at each import
/// of it.
fn creation_order(
    templates: &[StackTemplate],
    first: &[Evaluated],
    exporter: &HashMap<String, usize>,
) -> Result<Vec<usize>, Diagnostics> {
    let n = templates.len();
    // needs[i]: (stack j, the import of i that needs j)
    let mut needs: Vec<Vec<(usize, &ImportUse)>> = vec![Vec::new(); n];
    let mut errors = Vec::new();
    for (i, ev) in first.iter().enumerate() {
        for u in &ev.imports {
            let Some(&j) = exporter.get(&u.name) else {
                continue;
            };
            if i == j {
                errors.push(at_import(
                    &templates[i].src,
                    u,
                    format!(
                        "`{}` imports `{}`, an export of its own stack `{}`: a stack cannot import from itself",
                        u.logical_id, u.name, templates[i].name
                    ),
                ).hint("use the value (a Ref or GetAtt) directly"));
                continue;
            }
            if !needs[i].iter().any(|(k, _)| *k == j) {
                needs[i].push((j, u));
            }
        }
    }
    if !errors.is_empty() {
        return Err(Diagnostics(errors));
    }
    let mut done = vec![false; n];
    let mut order = Vec::with_capacity(n);
    while order.len() < n {
        let next = (0..n).find(|&i| !done[i] && needs[i].iter().all(|(j, _)| done[*j]));
        match next {
            Some(i) => {
                done[i] = true;
                order.push(i);
            }
            None => return Err(cycle_error(templates, &needs, &done)),
        }
    }
    Ok(order)
}

/// The diagnostics for a cycle among the stacks not yet `done`: one at each
/// import along it.
fn cycle_error(
    templates: &[StackTemplate],
    needs: &[Vec<(usize, &ImportUse)>],
    done: &[bool],
) -> Diagnostics {
    // Walk from the first stack left along imports of stacks left: every
    // such stack needs another one left, so the walk meets itself.
    let Some(start) = (0..templates.len()).find(|&i| !done[i]) else {
        return Diagnostics(Vec::new());
    };
    let mut path: Vec<(usize, &ImportUse, usize)> = Vec::new();
    let mut at = start;
    let mut seen = vec![usize::MAX; templates.len()];
    loop {
        if seen[at] != usize::MAX {
            path.drain(..seen[at]);
            break;
        }
        seen[at] = path.len();
        let Some(&(next, u)) = needs[at].iter().find(|(j, _)| !done[*j]) else {
            break;
        };
        path.push((at, u, next));
        at = next;
    }
    let mut chain: Vec<&str> = path
        .iter()
        .map(|(i, _, _)| templates[*i].name.as_str())
        .collect();
    if let Some(&(i, _, _)) = path.first() {
        chain.push(&templates[i].name);
    }
    let chain = chain.join(" → ");
    Diagnostics(
        path.iter()
            .map(|(i, u, j)| {
                at_import(
                    &templates[*i].src,
                    u,
                    format!(
                        "cyclic imports between stacks ({chain}): `{}` of stack `{}` imports `{}` from stack `{}`",
                        u.logical_id, templates[*i].name, u.name, templates[*j].name
                    ),
                )
                .expected("imports that let one stack be created before the other")
                .hint("CloudFormation cannot create either stack first: move the shared resource, or pass its value as a parameter")
            })
            .collect(),
    )
}

/// Whether `name` is a CloudFormation stack name: a letter, then letters,
/// digits and hyphens, at most 128 characters.
pub fn check_stack_name(name: &str) -> Result<(), String> {
    let ok = name.len() <= 128
        && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a stack name: a letter, then letters, digits and hyphens (at most 128)"
        ))
    }
}

/// The stack name a template gets by default: its file stem, every
/// character a stack name cannot have turned into `-`
/// (`vpc.cfn.yml` → `vpc-cfn`).
pub fn default_stack_name(file: &std::path::Path) -> String {
    let stem = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut name: String = stem
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        name.insert_str(0, "stack-");
    }
    name.truncate(128);
    name
}

/// A parameter a template declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclaredParameter {
    /// Its name.
    pub name: String,
    /// `NoEcho: true`: its value is not to be written anywhere.
    pub no_echo: bool,
}

/// The parameters a template declares (none when it does not parse: its
/// evaluation reports why).
pub fn declared_parameters(src: &SourceFile) -> Vec<DeclaredParameter> {
    let Ok(root) = yaml::parse(src) else {
        return Vec::new();
    };
    let Some(params) = root.get("Parameters").and_then(|p| p.as_map()) else {
        return Vec::new();
    };
    params
        .iter()
        .map(|(name, p)| DeclaredParameter {
            name: name.clone(),
            no_echo: p
                .get("NoEcho")
                .and_then(|n| n.scalar_text())
                .is_some_and(|t| t.eq_ignore_ascii_case("true")),
        })
        .collect()
}

/// `--param` values to stacks: `STACK.KEY=VALUE` to that stack;
/// `KEY=VALUE` to the only template, or with several to every template
/// that declares `KEY`. `stacks` are the stacks' names with their
/// declared parameters; the result has one list per stack. Errors for a
/// stack that is not there and for a key no template declares.
pub fn route_params(
    stacks: &[(String, Vec<String>)],
    given: &[(String, String)],
) -> Result<Vec<Vec<(String, String)>>, String> {
    let mut out = vec![Vec::new(); stacks.len()];
    let names = || {
        stacks
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    for (key, value) in given {
        // parameter names are alphanumeric: a dot ends the stack's name
        if let Some((stack, k)) = key.rsplit_once('.') {
            let Some(i) = stacks.iter().position(|(n, _)| n == stack) else {
                let mut msg = format!(
                    "--param {key}={value}: no stack `{stack}` in this import (stacks: {})",
                    names()
                );
                if let Some(s) =
                    crate::diag::did_you_mean(stack, stacks.iter().map(|(n, _)| n.as_str()))
                {
                    msg.push_str(&format!("; did you mean `{s}`?"));
                }
                return Err(msg);
            };
            out[i].push((k.to_string(), value.clone()));
            continue;
        }
        if stacks.len() == 1 {
            out[0].push((key.clone(), value.clone()));
            continue;
        }
        let mut any = false;
        for (i, (_, declared)) in stacks.iter().enumerate() {
            if declared.iter().any(|d| d == key) {
                out[i].push((key.clone(), value.clone()));
                any = true;
            }
        }
        if !any {
            let mut msg = format!(
                "--param {key}={value}: no template declares `{key}` (stacks: {})",
                names()
            );
            let declared = stacks
                .iter()
                .flat_map(|(_, d)| d.iter().map(String::as_str));
            if let Some(s) = crate::diag::did_you_mean(key, declared) {
                msg.push_str(&format!("; did you mean `{s}`?"));
            }
            return Err(msg);
        }
    }
    Ok(out)
}
