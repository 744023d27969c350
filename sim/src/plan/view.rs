//! A [`Plan`] for a network engineer to read: `vifgate sim plan` (and `sim
//! up --dry-run`). One block per namespace, in the plan's order: its
//! interfaces (veth peers, bridges and their ports, addresses, MTU, VLAN,
//! shaping), routes per table, policy rules, sysctls, firewall rulesets as
//! chain and rule counts, and the processes `up` starts there (gateways and
//! their peers, BIRD with its configuration file, HAProxy, `[[sim.start]]`
//! commands, listeners). Pure text
//! from a value; the JSON form is the plan itself.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::kernel::netlink::{RouteKind, MAIN_TABLE};
use crate::layout;
use crate::plan::{self, Plan, Role, RouteSpec};

/// Chains and rules of an nftables ruleset as the plan writes them (one
/// statement a line): `(chains, rules)`. Comments, `table`/`chain` headers,
/// base chain `type ... hook` lines and closing braces are not rules.
pub fn ruleset_counts(ruleset: &str) -> (usize, usize) {
    let mut chains = 0;
    let mut rules = 0;
    for line in ruleset.lines().map(str::trim) {
        if line.starts_with("chain ") {
            chains += 1;
        } else if !(line.is_empty()
            || line.starts_with('#')
            || line.starts_with("table ")
            || line.starts_with("type ")
            || line.starts_with('}'))
        {
            rules += 1;
        }
    }
    (chains, rules)
}

/// A kernel table's name as `ip route` prints it.
fn table_name(table: u32) -> String {
    match table {
        MAIN_TABLE => "main".into(),
        layout::EDGE_TABLE => format!("{table} (edge)"),
        t => t.to_string(),
    }
}

/// One route on one line: `10.0.0.0/16 via 169.254.255.2 dev vgw0 metric 100`.
fn route_line(r: &RouteSpec) -> String {
    let mut s = String::new();
    match r.kind {
        RouteKind::Unicast => {}
        RouteKind::Blackhole => s.push_str("blackhole "),
        RouteKind::Unreachable => s.push_str("unreachable "),
    }
    let _ = write!(s, "{}", r.dst);
    if let Some(via) = r.via {
        let _ = write!(s, " via {via}");
    }
    if let Some(dev) = &r.dev {
        let _ = write!(s, " dev {dev}");
    }
    if r.metric != 0 {
        let _ = write!(s, " metric {}", r.metric);
    }
    s
}

/// What a namespace is, after its name.
fn role_label(role: Role, node: Option<&str>) -> String {
    match (role, node) {
        (Role::Node, Some(n)) => format!("node {n}"),
        (Role::Node, None) => "node".into(),
        (Role::OfficeSwitch, _) => "office switch".into(),
        (Role::VpcRouter, _) => "VPC router".into(),
        (Role::Vgw, _) => "virtual private gateway".into(),
    }
}

fn ports(p: &[u16]) -> String {
    p.iter().map(u16::to_string).collect::<Vec<_>>().join(",")
}

/// The interfaces of a namespace, in plan order: veth ends, then bridges,
/// then any other name an address or shaping refers to.
fn interfaces(p: &Plan, ns: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |name: &str| {
        if !out.iter().any(|o| o == name) {
            out.push(name.to_string());
        }
    };
    for l in p.links_of(ns) {
        for end in [&l.a, &l.b] {
            if end.ns == ns {
                add(&end.ifname);
            }
        }
    }
    for b in p.bridges.iter().filter(|b| b.ns == ns) {
        add(&b.name);
    }
    for a in p.addresses.iter().filter(|a| a.ns == ns) {
        add(&a.ifname);
    }
    for s in p.shaping.iter().filter(|s| s.ns == ns) {
        add(&s.ifname);
    }
    out
}

fn interface_block(o: &mut String, p: &Plan, ns: &str) {
    let names = interfaces(p, ns);
    if names.is_empty() {
        return;
    }
    let _ = writeln!(o, "  interfaces");
    let width = names.iter().map(String::len).max().unwrap_or(0);
    for name in &names {
        let mut what = Vec::new();
        let link = p.links_of(ns).find(|l| {
            (l.a.ns == ns && &l.a.ifname == name) || (l.b.ns == ns && &l.b.ifname == name)
        });
        if let Some(l) = link {
            let far = if l.a.ns == ns && &l.a.ifname == name {
                &l.b
            } else {
                &l.a
            };
            let kind = serde_json::to_value(l.kind)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default();
            what.push(format!(
                "veth to {}:{} ({kind}: {} - {})",
                far.ns, far.ifname, l.joins.0, l.joins.1
            ));
            if let Some(mtu) = l.mtu {
                what.push(format!("mtu {mtu}"));
            }
            if let Some(vlan) = l.vlan {
                what.push(format!("vlan {vlan}"));
            }
        }
        if let Some(b) = p.bridges.iter().find(|b| b.ns == ns && &b.name == name) {
            what.push(format!("bridge for {} [{}]", b.what, b.ports.join(" ")));
        }
        if let Some(master) = p
            .bridges
            .iter()
            .find(|b| b.ns == ns && b.ports.contains(name))
        {
            what.push(format!("port of {}", master.name));
        }
        for a in p
            .addresses
            .iter()
            .filter(|a| a.ns == ns && &a.ifname == name)
        {
            what.push(a.addr.to_string());
        }
        for s in p.shaping.iter().filter(|s| s.ns == ns && &s.ifname == name) {
            what.push(format!("shaped: {}", s.shaping));
        }
        let _ = writeln!(o, "    {name:<width$}  {}", what.join(", "));
    }
}

fn route_block(o: &mut String, p: &Plan, ns: &str) {
    let mut by_table: BTreeMap<u32, Vec<(&RouteSpec, bool)>> = BTreeMap::new();
    for r in p.routes.iter().filter(|r| r.ns == ns) {
        by_table.entry(r.table).or_default().push((r, false));
    }
    for r in p.tunnel_routes.iter().filter(|r| r.ns == ns) {
        by_table.entry(r.table).or_default().push((r, true));
    }
    if by_table.is_empty() {
        return;
    }
    // main first, as `ip route` shows it
    let mut tables: Vec<u32> = by_table.keys().copied().collect();
    tables.sort_by_key(|&t| (t != MAIN_TABLE, t));
    let _ = writeln!(o, "  routes");
    for t in tables {
        let _ = writeln!(o, "    table {}", table_name(t));
        let rows = &by_table[&t];
        let lines: Vec<String> = rows.iter().map(|(r, _)| route_line(r)).collect();
        let width = lines.iter().map(String::len).max().unwrap_or(0);
        for ((r, tunnel), line) in rows.iter().zip(&lines) {
            let when = if *tunnel {
                " (once the tunnel is up)"
            } else {
                ""
            };
            let _ = writeln!(o, "      {line:<width$}  # {}{when}", r.why);
        }
    }
}

fn process_block(o: &mut String, p: &Plan, ns: &str) {
    let mut lines = Vec::new();
    for g in p.gateways.iter().filter(|g| g.ns == ns) {
        let mut line = format!(
            "gateway {} (tun {}, mtu {}, udp {}",
            g.name, g.tun, g.mtu, g.port
        );
        match (&g.policy_node, &g.office_node) {
            (Some(node), _) => {
                let _ = write!(line, ", security groups of {node}");
            }
            (None, Some(node)) => {
                let _ = write!(line, ", no filtering: {node} is a plain router");
            }
            (None, None) => {}
        }
        if let Some(table) = g.bgp_kernel_table {
            let _ = write!(line, ", BGP routes of kernel table {table}");
        }
        line.push(')');
        lines.push(line);
        for peer in &g.peers {
            let far = p.gateways.get(peer.gateway);
            let allowed: Vec<String> = peer.allowed.iter().map(|a| a.to_string()).collect();
            lines.push(format!(
                "  peer {} at {}:{} ({}), priority {}, allowed [{}]{}",
                peer.name,
                peer.endpoint,
                far.map(|f| f.port).unwrap_or(plan::WG_PORT),
                far.map(|f| format!("{} in {}", f.name, f.ns))
                    .unwrap_or_else(|| "?".into()),
                peer.priority,
                allowed.join(", "),
                if peer.any_source {
                    ", from any source"
                } else {
                    ""
                }
            ));
        }
    }
    for d in p.bird.daemons.iter().filter(|d| d.ns == ns) {
        lines.push(format!("bird {}: {}", d.name, d.what));
        lines.push(format!("  {}", d.command().join(" ")));
        if !d.established.is_empty() {
            lines.push(format!(
                "  sessions expected Established: {}",
                d.established.join(", ")
            ));
        }
    }
    for f in p.frr.iter().filter(|f| f.ns == ns) {
        lines.push(format!(
            "frr {}: office node {} (FRR), run dir {}",
            f.node,
            f.node,
            f.run_dir.display()
        ));
        for d in f.commands() {
            lines.push(format!("  {}", d.argv.join(" ")));
        }
        if !f.established.is_empty() {
            lines.push(format!(
                "  sessions expected Established: {}",
                f.established.join(", ")
            ));
        }
    }
    for h in p.haproxy.iter().filter(|h| h.ns == ns) {
        lines.push(format!(
            "haproxy for load balancer {} on tcp {}",
            h.node,
            ports(&h.ports)
        ));
    }
    for s in p.starts.iter().filter(|s| s.ns == ns) {
        let mut line = format!("start `{}`", s.command);
        if !s.tcp_ports.is_empty() {
            let _ = write!(line, " tcp {}", ports(&s.tcp_ports));
        }
        if !s.udp_ports.is_empty() {
            let _ = write!(line, " udp {}", ports(&s.udp_ports));
        }
        lines.push(line);
    }
    for l in p.listeners.iter().filter(|l| l.ns == ns) {
        let mut parts = Vec::new();
        if !l.tcp.is_empty() {
            parts.push(format!("tcp {}", ports(&l.tcp)));
        }
        if !l.udp.is_empty() {
            parts.push(format!("udp {}", ports(&l.udp)));
        }
        if l.icmp {
            parts.push("icmp echo".into());
        }
        lines.push(format!("listener {}", parts.join(", ")));
    }
    if lines.is_empty() {
        return;
    }
    let _ = writeln!(o, "  processes");
    for l in lines {
        let _ = writeln!(o, "    {l}");
    }
}

/// The plan, one block per namespace, for humans.
pub fn render(p: &Plan) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "plan of lab `{}` (topology {}): nothing is built; `vifgate sim up` builds it (root)",
        p.lab, p.topology
    );
    o.push_str(&plan::summary(p));
    for n in &p.namespaces {
        let ns = n.name.as_str();
        let _ = writeln!(
            o,
            "\nnamespace {ns}  ({})",
            role_label(n.role, n.node.as_deref())
        );
        interface_block(&mut o, p, ns);
        route_block(&mut o, p, ns);
        let rules: Vec<_> = p.rules.iter().filter(|r| r.ns == ns).collect();
        if !rules.is_empty() {
            let _ = writeln!(o, "  policy rules");
            for r in rules {
                let _ = writeln!(
                    o,
                    "    priority {} iif {} lookup table {}",
                    r.priority,
                    r.iif,
                    table_name(r.table)
                );
            }
        }
        let sysctls: Vec<String> = p
            .sysctls
            .iter()
            .filter(|s| s.ns == ns)
            .map(|s| format!("{}={}", s.key, s.value))
            .collect();
        if !sysctls.is_empty() {
            let _ = writeln!(o, "  sysctls {}", sysctls.join(" "));
        }
        for f in p.firewalls.iter().filter(|f| f.ns == ns) {
            let (chains, rules) = ruleset_counts(&f.ruleset);
            let _ = writeln!(
                o,
                "  firewall {}: {chains} chains, {rules} rules (the ruleset: --json)",
                f.what
            );
        }
        process_block(&mut o, p, ns);
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_are_counted_without_headers_or_comments() {
        let text = "table ip t {\n  chain forward {\n    type filter hook forward priority 0; policy drop;\n    # web-sg ingress\n    ct state established,related accept\n    ip saddr 10.0.0.0/8 accept\n  }\n  chain x {\n    drop\n  }\n}\n";
        assert_eq!(ruleset_counts(text), (2, 3));
    }

    #[test]
    fn every_namespace_has_a_block_with_its_routes_and_processes() {
        let p = plan::plan(&crate::example(), "yh", &[22, 80, 443, 3306]).expect("plan");
        let text = render(&p);
        for n in &p.namespaces {
            assert!(
                text.contains(&format!("\nnamespace {}  (", n.name)),
                "{}",
                n.name
            );
        }
        assert!(text.contains("namespace yh+vpc  (VPC router)"));
        assert!(text.contains("    table main\n"));
        assert!(text.contains("(once the tunnel is up)"));
        assert!(text.contains("gateway vifgate-office (tun vg0"));
        assert!(text.contains("haproxy for load balancer alb"));
        assert!(text.contains(
            "bird vgw: AWS's side: the VGW's sessions with the office\n      bird -f -c /run/vifgate/sim/yh/bird-vgw.conf -s /run/vifgate/sim/yh/bird-vgw.ctl"
        ), "{text}");
        assert!(text.contains(
            "sessions expected Established: dx.dx-vif, vpn.vpn-backup, vifgate_vpc_router"
        ));
        assert!(text.contains("shaped: rate 1 Gbit/s delay 2ms jitter 200µs"));
        // every route appears once, with its reason
        for r in p.routes.iter().chain(&p.tunnel_routes) {
            assert!(text.contains(&r.why), "{}", r.why);
        }
    }
}
