//! Each instance's security groups as its own nftables ruleset.

use super::*;

/// Security groups as nftables rules in each VPC node's namespace.
pub(super) fn security_groups(b: &mut Builder) {
    let t = b.t;
    for (id, n) in t.nodes.iter().enumerate() {
        let enforced = matches!(
            n.kind,
            NodeKind::Instance
                | NodeKind::AsgInstance { .. }
                | NodeKind::LoadBalancer { .. }
                | NodeKind::Database { .. }
        ) && n.in_vpc();
        if !enforced {
            continue;
        }
        let names: Vec<&str> = n
            .security_groups
            .iter()
            .map(|&g| t.security_groups[g].name.as_str())
            .collect();
        b.plan.firewalls.push(FirewallSpec::of_table(
            &b.node_ns[id],
            format!("security groups {}", names.join(", ")),
            &firewall::security_groups_table(t, &n.security_groups, !n.source_dest_check),
        ));
    }
}
