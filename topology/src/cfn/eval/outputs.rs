//! Exported `Outputs` and `Fn::ImportValue`: what a stack gives the stacks
//! created after it, and what it takes from them.
//!
//! An export's value is evaluated like any property, so a `!Ref Subnet`
//! stays a [`Value::Ref`] of the exporting stack's resource and the mapping
//! links the importing stack's resources to it. A `Fn::Join` of physical
//! ids (widdix's `SubnetsPublic: !Join [',', [!Ref SubnetAPublic, …]]`)
//! keeps its items ([`Export::joined`]), so that `!Split [',', !ImportValue
//! …]` in the importing stack gives the resources back, as the ids would
//! after deployment.
//!
//! CloudFormation's rules for them are errors here as there: an export's
//! `Name` and the argument of `Fn::ImportValue` cannot depend on a resource
//! (and the latter uses only `Fn::Base64`, `Fn::FindInMap`, `Fn::If`,
//! `Fn::Join`, `Fn::Select`, `Fn::Split`, `Fn::Sub` and `Ref`), an
//! exported value is a string, output ids are letters and digits, and a
//! template has at most 200 outputs. An export its condition leaves out is
//! remembered, so that an import of it says why it is missing.

use super::{
    is_logical_id, Evaluator, Export, ImportUse, Node, NodeKind, Resolving, StackExports, Value,
};
use crate::diag::did_you_mean;

/// At most this many outputs in a template (CloudFormation's quota,
/// [`super::TEMPLATE_QUOTAS_SOURCE`]).
const MAX_OUTPUTS: usize = 200;

impl<'a> Evaluator<'a> {
    /// The exported outputs whose condition holds, into `self.exports`.
    /// Their values are evaluated with warnings held back: a value known
    /// only after deployment is reported where a stack imports it.
    pub(super) fn outputs(&mut self, section: Option<&'a Node>) {
        let Some(section) = section else {
            return;
        };
        let entries = match &section.kind {
            NodeKind::Map(m) => m,
            NodeKind::Null => return,
            _ => {
                self.errors.push(
                    section
                        .error(self.src, format!("Outputs is {}", section.describe()))
                        .expected("a map of output names to definitions"),
                );
                return;
            }
        };
        self.section_quota(section, entries.len(), "outputs", MAX_OUTPUTS);
        for (id, def) in entries {
            if !is_logical_id(id) {
                self.errors.push(
                    def.entry_error(self.src, format!("`{id}` is not a logical id"))
                        .expected("letters and digits only (A-Z, a-z, 0-9)"),
                );
                continue;
            }
            if def.as_map().is_none() {
                self.errors.push(
                    def.entry_error(self.src, format!("output `{id}` is {}", def.describe()))
                        .expected("a map with `Value` and, to export it, `Export: {Name: …}`"),
                );
                continue;
            }
            let Some(export) = def.get("Export") else {
                continue;
            };
            let Some(value_node) = def.get("Value") else {
                self.errors.push(
                    def.entry_error(self.src, format!("output `{id}` has no Value"))
                        .expected("Value: the value to export"),
                );
                continue;
            };
            let Some(name_node) = export.get("Name") else {
                self.errors.push(
                    export
                        .entry_error(self.src, format!("the Export of output `{id}` has no Name"))
                        .expected("Export: {Name: !Sub '${AWS::StackName}-…'}"),
                );
                continue;
            };
            if let Some(c) = def.get("Condition") {
                match c.as_str() {
                    Some(cond) => {
                        if self.condition(cond, c) == Some(false) {
                            self.withhold(name_node, id, cond);
                            continue;
                        }
                    }
                    None => {
                        self.errors.push(
                            c.error(
                                self.src,
                                format!("the Condition of output `{id}` is {}", c.describe()),
                            )
                            .expected("the name of a condition"),
                        );
                        continue;
                    }
                }
            }
            let held = std::mem::take(&mut self.warnings);
            let name = self.eval_name(Resolving::ExportName, name_node, id);
            let (value, joined) = self.export_value(value_node, id);
            self.warnings = held;
            if joined.is_none() && matches!(value, Value::List(_) | Value::Map(_)) {
                let what = if matches!(value, Value::List(_)) {
                    "a list"
                } else {
                    "a map"
                };
                self.fail_at(
                    value_node,
                    format!("the Value of output `{id}` is {what}"),
                    "a string: CloudFormation outputs are strings (Fn::Join a list)",
                );
                continue;
            }
            let name = match name {
                Value::Str(_) | Value::Num(_) => name.as_str().unwrap_or_default(),
                Value::Unknown(why) => {
                    self.warn_at(
                        id,
                        name_node,
                        format!("the export's name is known only after deployment ({why}): no stack of this import can use it"),
                    );
                    continue;
                }
                other => {
                    self.fail_at(
                        name_node,
                        format!("the export name of output `{id}` is not a string but `{other}`"),
                        "a string, such as !Sub '${AWS::StackName}-VpcId'",
                    );
                    continue;
                }
            };
            if let Some(prev) = self.exports.iter().find(|e| e.name == name) {
                let msg = format!(
                    "output `{id}` exports `{name}`, which output `{}` (line {}) already exports",
                    prev.output, prev.line
                );
                self.fail_at(name_node, msg, "export names unique in a region");
                continue;
            }
            self.exports.push(Export {
                name,
                stack: self.stack_name.clone(),
                output: id.clone(),
                line: def.entry_pos().0,
                col: def.entry_pos().1,
                value,
                joined,
            });
        }
    }

    /// Notes the export name of an output its condition leaves out, so
    /// that an import of it can say why it is missing. Nothing of the
    /// output is reported: CloudFormation does not evaluate it.
    fn withhold(&mut self, name_node: &'a Node, id: &str, cond: &str) {
        let (warnings, errors) = (
            std::mem::take(&mut self.warnings),
            std::mem::take(&mut self.errors),
        );
        let name = self
            .eval_name(Resolving::ExportName, name_node, id)
            .as_str();
        self.warnings = warnings;
        self.errors = errors;
        if let Some(name) = name {
            self.withheld_exports.push((name, cond.to_string()));
        }
    }

    /// An output's value; a `Fn::Join` of physical ids keeps its items
    /// (see [`Export::joined`]).
    fn export_value(&mut self, node: &'a Node, owner: &str) -> (Value, Option<String>) {
        if let NodeKind::Map(entries) = &node.kind {
            if let [(k, arg)] = entries.as_slice() {
                if let (true, Some([dnode, lnode])) = (k == "Fn::Join", arg.as_seq()) {
                    let delim = self.eval(dnode, owner).as_str();
                    let list = self.eval(lnode, owner);
                    if let (Some(delim), Value::List(items)) = (delim, &list) {
                        if items
                            .iter()
                            .any(|v| matches!(v, Value::Ref(_) | Value::Attr(..)))
                        {
                            return (list, Some(delim));
                        }
                    }
                }
            }
        }
        (self.eval(node, owner), None)
    }

    /// `Fn::ImportValue`: an export of a stack created before this one, a
    /// `--import` value, or unknown with a warning. An error when the name
    /// belongs to a stack of the deployment that does not export it.
    pub(super) fn import_value(&mut self, arg: &'a Node, node: &'a Node, owner: &str) -> Value {
        let v = self.eval_name(Resolving::ImportName, arg, owner);
        let Some(name) = v.as_str() else {
            return self.warn_at(
                owner,
                node,
                format!("Fn::ImportValue {v}: the export's name is not known before deployment"),
            );
        };
        let Some(export) = self.imports.get(&name).cloned() else {
            self.record_import(&name, owner, node, false);
            if let Some(other) = self.exporting_stack(&name) {
                let stack = &other.stack;
                if other.names.contains(&name) {
                    // it does export it, but could not be evaluated: its
                    // own errors say why
                    return Value::Unknown(format!("Fn::ImportValue `{name}`"));
                }
                if let Some((_, cond)) = other.withheld.iter().find(|(n, _)| *n == name) {
                    let d = arg
                        .error(
                            self.src,
                            format!(
                                "`{owner}` imports `{name}`, which stack `{stack}` exports only when its condition `{cond}` holds, and it does not"
                            ),
                        )
                        .expected(format!("the condition `{cond}` of stack `{stack}` true"))
                        .hint(format!("the parameters of `{stack}` decide it: --param {stack}.KEY=VALUE"));
                    return self.fail(d);
                }
                let mut d = arg.error(
                    self.src,
                    format!("`{owner}` imports `{name}`, which stack `{stack}` does not export"),
                );
                d = d.expected(expected_exports(stack, &other.names));
                if let Some(s) = did_you_mean(&name, other.names.iter().map(String::as_str)) {
                    d = d.hint(format!("did you mean `{s}`?"));
                }
                return self.fail(d);
            }
            let msg = match self.namesake(&name) {
                Some(hint) => format!(
                    "Fn::ImportValue `{name}`: no stack of this import exports it, but {hint}"
                ),
                None => format!(
                    "Fn::ImportValue `{name}`: no stack of this import exports it; give the exporting stack's template too (a resource's id needs it), or its value with --import {name}=VALUE"
                ),
            };
            self.warn_at(owner, node, msg);
            return Value::Unknown(format!("Fn::ImportValue `{name}`, line {}", node.line));
        };
        self.record_import(&name, owner, node, true);
        let origin = export_origin(&export);
        if let Some(d) = &export.joined {
            return self.warn_at(
                owner,
                node,
                format!(
                    "Fn::ImportValue `{name}`: {origin} joins physical ids with \"{d}\", known only after deployment; Fn::Split [\"{d}\", …] of it gives them back"
                ),
            );
        }
        if let Value::Unknown(why) = &export.value {
            return self.warn_at(
                owner,
                node,
                format!(
                    "Fn::ImportValue `{name}`: {origin} is known only after deployment ({why})"
                ),
            );
        }
        export.value
    }

    /// `Fn::Split [delim, Fn::ImportValue X]` where X is a joined export
    /// ([`Export::joined`]) with the same delimiter: its items. `None` for
    /// anything else (the split is then evaluated as usual).
    pub(super) fn split_import(
        &mut self,
        node: &'a Node,
        delim: &str,
        owner: &str,
    ) -> Option<Vec<Value>> {
        let NodeKind::Map(entries) = &node.kind else {
            return None;
        };
        let [(k, arg)] = entries.as_slice() else {
            return None;
        };
        if k != "Fn::ImportValue" {
            return None;
        }
        let name = self.eval_name(Resolving::ImportName, arg, owner).as_str()?;
        let export = self.imports.get(&name)?;
        if export.joined.as_deref() != Some(delim) {
            return None;
        }
        let Value::List(items) = &export.value else {
            return None;
        };
        let items = items.clone();
        self.record_import(&name, owner, node, true);
        Some(items)
    }

    /// A name evaluated in `ctx` (see [`Resolving`]).
    fn eval_name(&mut self, ctx: Resolving, node: &'a Node, owner: &str) -> Value {
        self.resolving_as(ctx, |ev| ev.eval(node, owner))
    }

    /// For an import no stack provides: a stack of the deployment that
    /// exports the same name under its own prefix (`vpc-PublicSubnet1ID`
    /// asked, `startup-kit-vpc-PublicSubnet1ID` exported), probably the
    /// one meant, and how to name it so.
    fn namesake(&self, name: &str) -> Option<String> {
        for other in &self.other_stacks {
            for export in &other.names {
                let Some(rest) = export.strip_prefix(other.stack.as_str()) else {
                    continue;
                };
                if !(rest.starts_with('-') || rest.starts_with(':')) {
                    continue;
                }
                let Some(prefix) = name.strip_suffix(rest).filter(|p| !p.is_empty()) else {
                    continue;
                };
                let stack = &other.stack;
                let mut params: Vec<&str> = self
                    .params
                    .iter()
                    .filter(|(_, v)| v.as_str().as_deref() == Some(prefix))
                    .map(|(k, _)| *k)
                    .collect();
                params.sort_unstable();
                let fix = match params.first() {
                    Some(p) => format!("--param {}{p}={stack}", self.param_prefix),
                    None => format!(
                        "name that stack `{prefix}` on the command line ({prefix}=TEMPLATE)"
                    ),
                };
                return Some(format!(
                    "stack `{stack}` exports `{export}`: if `{prefix}` means that stack, {fix}"
                ));
            }
        }
        None
    }

    /// Notes an import, once per place.
    fn record_import(&mut self, name: &str, owner: &str, node: &Node, resolved: bool) {
        let (line, col) = (node.line, node.col);
        if self
            .import_uses
            .iter()
            .any(|u| u.line == line && u.col == col && u.name == name)
        {
            return;
        }
        self.import_uses.push(ImportUse {
            name: name.to_string(),
            logical_id: owner.to_string(),
            line,
            col,
            resolved,
        });
    }

    /// The stack of the deployment an export name belongs to by its prefix
    /// (`STACK-…` or `STACK:…`; the longest such name), with its exports.
    fn exporting_stack(&self, name: &str) -> Option<StackExports> {
        self.other_stacks
            .iter()
            .filter(|s| {
                name.strip_prefix(s.stack.as_str())
                    .is_some_and(|rest| rest.starts_with('-') || rest.starts_with(':'))
            })
            .max_by_key(|s| s.stack.len())
            .cloned()
    }
}

/// The exports a stack has, for an error (the first few of a long list).
fn expected_exports(stack: &str, names: &[String]) -> String {
    const SHOWN: usize = 8;
    match names.len() {
        0 => format!("an export of `{stack}`, which exports nothing"),
        n if n <= SHOWN => format!("one of {}", names.join(", ")),
        n => format!("one of {}, … ({n} in all)", names[..SHOWN].join(", ")),
    }
}

/// Where an export comes from, for messages.
fn export_origin(e: &Export) -> String {
    if e.stack.is_empty() {
        "the --import value".to_string()
    } else {
        format!(
            "output `{}` of stack `{}` (line {})",
            e.output, e.stack, e.line
        )
    }
}

#[cfg(test)]
mod tests {
    use super::expected_exports;

    #[test]
    fn a_long_list_of_exports_is_cut_with_its_count() {
        let names: Vec<String> = (1..=20).map(|i| format!("vpc-E{i}")).collect();
        assert_eq!(
            expected_exports("vpc", &names),
            "one of vpc-E1, vpc-E2, vpc-E3, vpc-E4, vpc-E5, vpc-E6, vpc-E7, vpc-E8, … (20 in all)"
        );
        assert_eq!(
            expected_exports("vpc", &names[..2]),
            "one of vpc-E1, vpc-E2"
        );
        assert_eq!(
            expected_exports("vpc", &[]),
            "an export of `vpc`, which exports nothing"
        );
    }
}
