//! The ELB health-check type: an instance whose target the load balancer
//! holds unhealthy (HAProxy's `DOWN`) once its grace period after launch
//! is over is replaced, as Auto Scaling does. Sans-IO: which instances
//! to replace ([`to_replace`]), and the plan without one of them
//! ([`without_instance`]), the first half of a replacement in place (the
//! second is the lab's plan again: a new namespace, as a new instance),
//! which the lab makes when the group's maximum leaves no slot for a new
//! instance to launch first (`run::GroupRun::replace_unhealthy`).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::plan::Plan;

/// The instances to replace: those whose status (HAProxy's, by
/// instance) is `DOWN` on every target they have (rising, `DOWN 1/5`,
/// counts: the target is not healthy yet), and that were launched
/// (`launched`, on AWS's clock) at least `grace` before `now`.
pub fn to_replace(
    status: &BTreeMap<String, Vec<String>>,
    launched: &BTreeMap<String, Duration>,
    grace: Duration,
    now: Duration,
) -> Vec<String> {
    status
        .iter()
        .filter(|(_, s)| !s.is_empty() && s.iter().all(|x| x.starts_with("DOWN")))
        .filter(|(name, _)| {
            launched
                .get(*name)
                .is_some_and(|&at| now.saturating_sub(at) >= grace)
        })
        .map(|(name, _)| name.clone())
        .collect()
}

/// `plan` without instance `node`: its namespace and all in it, its
/// links, its bridge ports and its targets.
pub fn without_instance(plan: &Plan, node: &str) -> Plan {
    let Some(ns) = plan.node_ns(node).map(str::to_string) else {
        return plan.clone();
    };
    let mut p = plan.clone();
    let gone_ports: Vec<String> = (p.links.iter())
        .filter(|l| l.a.ns == ns || l.b.ns == ns)
        .flat_map(|l| [l.a.ifname.clone(), l.b.ifname.clone()])
        .collect();
    p.namespaces.retain(|n| n.name != ns);
    p.links.retain(|l| l.a.ns != ns && l.b.ns != ns);
    for b in &mut p.bridges {
        b.ports.retain(|port| !gone_ports.contains(port));
    }
    p.addresses.retain(|x| x.ns != ns);
    p.routes.retain(|x| x.ns != ns);
    p.tunnel_routes.retain(|x| x.ns != ns);
    p.rules.retain(|x| x.ns != ns);
    p.sysctls.retain(|x| x.ns != ns);
    p.firewalls.retain(|x| x.ns != ns);
    p.shaping.retain(|x| x.ns != ns);
    p.listeners.retain(|x| x.ns != ns);
    p.starts.retain(|x| x.ns != ns);
    for h in &mut p.haproxy {
        h.targets.retain(|t| t.instance != node);
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::diff::{diff, Step};

    #[test]
    fn an_instance_down_past_its_grace_period_is_replaced() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let status = BTreeMap::from([
            ("web-a1".to_string(), s(&["DOWN", "DOWN"])),
            ("web-c1".to_string(), s(&["UP", "DOWN"])),
            ("web-a2".to_string(), s(&["DOWN 1/5", "DOWN 1/5"])),
        ]);
        let min = |m: u64| Duration::from_secs(60 * m);
        let launched = BTreeMap::from([
            ("web-a1".to_string(), min(0)),
            ("web-c1".to_string(), min(0)),
            ("web-a2".to_string(), min(3)),
        ]);
        // grace 5 minutes: web-a2 (launched at 3) is in it until 8
        assert_eq!(to_replace(&status, &launched, min(5), min(6)), ["web-a1"]);
        assert_eq!(
            to_replace(&status, &launched, min(5), min(8)),
            ["web-a1", "web-a2"]
        );
        assert!(to_replace(&status, &launched, min(5), min(4)).is_empty());
    }

    #[test]
    fn without_an_instance_is_its_deregistration_and_its_namespace() {
        let src =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/yeohaengjigi.toml");
        let t = topology::load(&src).expect("the example loads").topology;
        let p = crate::plan::plan(&t, "yh", &[80]).expect("plan");
        let q = without_instance(&p, "web-a1");
        let out = diff(&p, &q);
        assert!(
            out.iter()
                .any(|s| matches!(s, Step::DeregisterTarget { .. })),
            "{out:?}"
        );
        assert!(
            out.iter().any(|s| matches!(s, Step::DeleteNamespace { .. })
                && s.to_string().contains("yh.web-a1")),
            "{out:?}"
        );
        // deregistered before its namespace goes
        let dereg = out
            .iter()
            .position(|s| matches!(s, Step::DeregisterTarget { .. }));
        let gone = out
            .iter()
            .position(|s| matches!(s, Step::DeleteNamespace { .. }));
        assert!(dereg < gone, "{out:?}");
        // and back: the same plan again
        let back = diff(&q, &p);
        assert!(back
            .iter()
            .any(|s| matches!(s, Step::CreateNamespace { .. })));
        assert!(back
            .iter()
            .any(|s| matches!(s, Step::RegisterTarget { .. })));
        assert_eq!(without_instance(&p, "no-such-node"), p);
    }
}
