//! Topology names from logical ids: lower kebab case, unique within each
//! namespace of the format.

use std::collections::{HashMap, HashSet};

use crate::resolve::aws_limits::MAX_NAME_LEN;

/// A logical id in lower kebab case: `PublicSubnet1` → `public-subnet-1`,
/// `NATGateway0` → `nat-gateway-0`, `ELBSecurityGroup` →
/// `elb-security-group`. A word starts at an upper-case letter after a
/// lower-case one or a digit, at the last capital of a run followed by a
/// lower-case letter, and where letters and digits meet; anything but
/// ASCII letters and digits separates words.
pub fn kebab(id: &str) -> String {
    let chars: Vec<char> = id.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_ascii_alphanumeric() {
            if !out.is_empty() && !out.ends_with('-') {
                out.push('-');
            }
            continue;
        }
        if i > 0 && !out.is_empty() && !out.ends_with('-') {
            let p = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            let boundary = (c.is_ascii_uppercase()
                && (p.is_ascii_lowercase() || p.is_ascii_digit()))
                || (c.is_ascii_uppercase() && p.is_ascii_uppercase() && next_lower)
                || (c.is_ascii_digit() && p.is_ascii_alphabetic())
                || (c.is_ascii_alphabetic() && p.is_ascii_digit());
            if boundary {
                out.push('-');
            }
        }
        out.push(c.to_ascii_lowercase());
    }
    while out.ends_with('-') {
        out.pop();
    }
    if out.is_empty() {
        out.push_str("resource");
    }
    out
}

/// `name` cut to leave `room` characters of [`MAX_NAME_LEN`] for a
/// suffix (no `-` left at the end): what fits a node's or a VIF's name.
pub(super) fn fit(name: &str, room: usize) -> String {
    let mut out: String = name
        .chars()
        .take(MAX_NAME_LEN.saturating_sub(room))
        .collect();
    while out.ends_with('-') {
        out.pop();
    }
    out
}

/// The namespaces of the format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Ns {
    /// Nodes, and the internet gateway and VGW (route targets).
    Node,
    Subnet,
    RouteTable,
    Nacl,
    SecurityGroup,
    PrefixList,
    Vif,
    AutoScalingGroup,
    Site,
    Lan,
}

/// Names given so far.
#[derive(Debug, Default)]
pub(super) struct Names {
    taken: HashMap<Ns, HashSet<String>>,
}

impl Names {
    /// The format's own names, never given to a resource.
    pub(super) fn new() -> Self {
        let mut n = Names::default();
        for (ns, name) in [
            (Ns::SecurityGroup, "default"),
            (Ns::Nacl, "default"),
            (Ns::RouteTable, "main"),
            (Ns::Node, "internet"),
            (Ns::Node, "blackhole"),
            (Ns::Node, "local"),
        ] {
            n.taken.entry(ns).or_default().insert(name.to_string());
        }
        n
    }

    /// A unique name from `base`: `base`, else `base-2`, `base-3` ...;
    /// a node's or a VIF's cut to [`MAX_NAME_LEN`] with its suffix.
    pub(super) fn claim(&mut self, ns: Ns, base: &str) -> String {
        let bounded = matches!(ns, Ns::Node | Ns::Vif);
        let with = |suffix: String| {
            if bounded {
                fit(base, suffix.len()) + &suffix
            } else {
                format!("{base}{suffix}")
            }
        };
        let set = self.taken.entry(ns).or_default();
        let mut name = with(String::new());
        let mut k = 2;
        while set.contains(&name) {
            name = with(format!("-{k}"));
            k += 1;
        }
        set.insert(name.clone());
        name
    }

    /// Whether a name is taken.
    pub(super) fn taken(&self, ns: Ns, name: &str) -> bool {
        self.taken.get(&ns).is_some_and(|s| s.contains(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kebab_cases_logical_ids() {
        for (id, want) in [
            ("PublicSubnet1", "public-subnet-1"),
            ("NATGateway0", "nat-gateway-0"),
            ("ELBSecurityGroup", "elb-security-group"),
            ("VPC", "vpc"),
            ("SubnetAPublic", "subnet-a-public"),
            ("RouteTableBPublic", "route-table-b-public"),
            ("NatEIP1", "nat-eip-1"),
            ("my_odd.Name", "my-odd-name"),
            ("--", "resource"),
        ] {
            assert_eq!(kebab(id), want, "{id}");
        }
    }

    #[test]
    fn claimed_names_are_unique_per_namespace() {
        let mut n = Names::new();
        assert_eq!(n.claim(Ns::Node, "web"), "web");
        assert_eq!(n.claim(Ns::Node, "web"), "web-2");
        assert_eq!(n.claim(Ns::Subnet, "web"), "web");
        assert_eq!(n.claim(Ns::SecurityGroup, "default"), "default-2");
        assert_eq!(n.claim(Ns::Node, "internet"), "internet-2");
    }

    #[test]
    fn node_and_vif_names_fit_the_bound_with_their_suffix() {
        let mut n = Names::new();
        let long = kebab(&"VeryLongLogicalId".repeat(10));
        let first = n.claim(Ns::Node, &long);
        let second = n.claim(Ns::Node, &long);
        assert_eq!(first.chars().count(), MAX_NAME_LEN, "{first}");
        assert!(second.ends_with("-2") && second.chars().count() <= MAX_NAME_LEN);
        assert_ne!(first, second);
        assert!(n.claim(Ns::Vif, &long).chars().count() <= MAX_NAME_LEN);
        // other names are not cut
        assert_eq!(n.claim(Ns::Subnet, &long), long);
        assert_eq!(fit("ab-cd", MAX_NAME_LEN - 3), "ab");
    }
}
