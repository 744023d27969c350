//! Values CloudFormation resolves before any resource exists: `Conditions`,
//! the argument of `Fn::ImportValue` and an export's `Name`. None of them
//! may depend on a resource; an import's name may use only some functions.
//! One mechanism for the three: the evaluator notes which of them it is in
//! ([`Resolving`]) and asks it for the error when a resource is used.

use super::{Evaluator, Node, Value};

/// What is being evaluated before resources exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Resolving {
    /// A condition of the `Conditions` section.
    Condition,
    /// The argument of `Fn::ImportValue`: parameters and pseudo parameters
    /// through `Fn::Base64`, `Fn::FindInMap`, `Fn::If`, `Fn::Join`,
    /// `Fn::Select`, `Fn::Split`, `Fn::Sub` and `Ref` only.
    ImportName,
    /// An output's `Export: Name`: no `Ref` or `Fn::GetAtt` of a resource.
    ExportName,
}

impl Resolving {
    /// The context after entering `inner` from `outer`: a condition stays
    /// the context of what it contains and of what contains it.
    pub(super) fn enter(outer: Option<Resolving>, inner: Resolving) -> Resolving {
        match (outer, inner) {
            (Some(Resolving::Condition), _) | (_, Resolving::Condition) => Resolving::Condition,
            _ => inner,
        }
    }

    /// The error for a use of resource `id` (`attribute`: through
    /// `Fn::GetAtt`).
    pub(super) fn resource_error(
        self,
        ev: &mut Evaluator<'_>,
        id: &str,
        attribute: bool,
        at: &Node,
    ) -> Value {
        let name = match self {
            Resolving::Condition => {
                let msg = if attribute {
                    format!("a condition uses an attribute of the resource `{id}`")
                } else {
                    format!("a condition refers to the resource `{id}`")
                };
                return ev.fail_at(
                    at,
                    msg,
                    "parameters and pseudo parameters only, in Conditions",
                );
            }
            Resolving::ImportName => "the name in Fn::ImportValue",
            Resolving::ExportName => "an export's name",
        };
        ev.fail_at(
            at,
            format!(
                "{name} cannot depend on the resource `{id}`: CloudFormation resolves it before any resource exists"
            ),
            "parameters and pseudo parameters, through Fn::Sub, Fn::Join, Fn::Select, Fn::Split, Fn::FindInMap or Fn::If",
        )
    }

    /// The error for a function this context cannot use, if `func` is one.
    pub(super) fn function_error(
        self,
        ev: &mut Evaluator<'_>,
        func: &str,
        at: &Node,
    ) -> Option<Value> {
        const ALLOWED: [&str; 9] = [
            "Ref",
            "Fn::Base64",
            "Fn::FindInMap",
            "Fn::If",
            "Fn::Join",
            "Fn::Select",
            "Fn::Split",
            "Fn::Sub",
            "Fn::GetAtt",
        ];
        if self != Resolving::ImportName || ALLOWED.contains(&func) {
            return None;
        }
        Some(ev.fail_at(
            at,
            format!("the name in Fn::ImportValue cannot use {func}"),
            "Fn::Base64, Fn::FindInMap, Fn::If, Fn::Join, Fn::Select, Fn::Split, Fn::Sub or Ref of parameters",
        ))
    }
}
