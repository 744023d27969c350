//! Reading evaluated property values: references, numbers written as
//! strings, booleans written as strings, lists.

use crate::cfn::Value;

/// The logical id a `Ref` names.
pub(super) fn ref_id(v: &Value) -> Option<&str> {
    match v {
        Value::Ref(id) => Some(id),
        _ => None,
    }
}

/// The logical id of a `Ref`, or of a `GetAtt` of the given attribute.
pub(super) fn ref_or_attr<'v>(v: &'v Value, attr: &str) -> Option<&'v str> {
    match v {
        Value::Ref(id) => Some(id),
        Value::Attr(id, a) if a == attr => Some(id),
        _ => None,
    }
}

/// Whether a property is given (not null, not `AWS::NoValue`).
pub(super) fn present(v: &Value) -> bool {
    !matches!(v, Value::Null | Value::NoValue)
}

/// A scalar as text.
pub(super) fn string(v: &Value) -> Option<String> {
    v.as_str()
}

/// An integer, written as a number or a string.
pub(super) fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Num(n) if n.fract() == 0.0 && n.abs() < 1e15 => Some(*n as i64),
        Value::Str(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A boolean, written as a boolean or as `"true"` / `"false"`.
pub(super) fn boolean(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Str(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::Str(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// The items of a list property; a single value counts as a list of one,
/// an absent one as empty.
pub(super) fn list(v: Option<&Value>) -> Vec<&Value> {
    match v {
        None | Some(Value::Null) | Some(Value::NoValue) => Vec::new(),
        Some(Value::List(items)) => items.iter().filter(|i| present(i)).collect(),
        Some(other) => vec![other],
    }
}

/// A property of a map value, if given.
pub(super) fn prop<'v>(v: &'v Value, key: &str) -> Option<&'v Value> {
    v.get(key).filter(|x| present(x))
}
