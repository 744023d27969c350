//! What listens in the lab: the probe agent's ports, HAProxy for each load
//! balancer the lab plays with it, and the `[[sim.start]]` commands.

use super::*;
use crate::render::haproxy::{haproxy_value, HaproxyConfig};

/// What each endpoint listens on: load balancers their listener ports,
/// databases their port, everything else every probed port.
pub(super) fn listeners(b: &mut Builder, tcp_ports: &[u16]) {
    let t = b.t;
    let services = services(t, tcp_ports);
    let mut tcp = BTreeSet::new();
    let mut udp = BTreeSet::new();
    for s in &services {
        match s {
            Service::Tcp(p) => {
                tcp.insert(*p);
            }
            Service::Udp(p) => {
                udp.insert(*p);
            }
            _ => {}
        }
    }
    // real services first: their ports are theirs
    let mut taken: BTreeMap<usize, (BTreeSet<u16>, BTreeSet<u16>)> = BTreeMap::new();
    for st in &t.sim.start {
        for &id in &st.nodes {
            b.plan.starts.push(StartSpec {
                ns: b.node_ns[id].clone(),
                node: t.nodes[id].name.clone(),
                command: st.command.clone(),
                tcp_ports: st.tcp_ports.clone(),
                udp_ports: st.udp_ports.clone(),
            });
            let e = taken.entry(id).or_default();
            e.0.extend(st.tcp_ports.iter().copied());
            e.1.extend(st.udp_ports.iter().copied());
        }
    }
    let haproxy = t.sim.load_balancer == LoadBalancerMode::Haproxy;
    for (id, n) in t.nodes.iter().enumerate() {
        if !n.is_endpoint() {
            continue;
        }
        let (mut node_tcp, mut node_udp): (Vec<u16>, Vec<u16>) = match &n.kind {
            NodeKind::LoadBalancer { listeners } => {
                if haproxy {
                    let dir = crate::layout::state_dir(&b.plan.lab);
                    let stats = crate::layout::haproxy_socket(&dir, &n.name);
                    let config = haproxy_value(t, &n.name, listeners, &stats);
                    b.plan.haproxy.push(haproxy_spec(&b.node_ns[id], &config));
                    (Vec::new(), Vec::new())
                } else {
                    (listeners.iter().map(|l| l.port).collect(), Vec::new())
                }
            }
            NodeKind::Database { port, .. } => (vec![*port], Vec::new()),
            _ => (tcp.iter().copied().collect(), udp.iter().copied().collect()),
        };
        if let Some((tt, uu)) = taken.get(&id) {
            node_tcp.retain(|p| !tt.contains(p));
            node_udp.retain(|p| !uu.contains(p));
        }
        b.plan.listeners.push(ListenSpec {
            ns: b.node_ns[id].clone(),
            node: n.name.clone(),
            tcp: node_tcp,
            udp: node_udp,
            icmp: true,
        });
    }
}

/// The HAProxy of load balancer `config.node` in namespace `ns`: its
/// configuration as text, and its targets as values beside it.
fn haproxy_spec(ns: &str, config: &HaproxyConfig) -> HaproxySpec {
    let mut frame = config.clone();
    let mut targets = Vec::new();
    for l in &mut frame.listeners {
        for s in l.backend.servers.drain(..) {
            targets.push(Target {
                backend: l.backend.name.clone(),
                server: crate::render::names::haproxy_name(&s.node),
                address: std::net::SocketAddrV4::new(s.addr, s.port),
            });
        }
    }
    HaproxySpec {
        ns: ns.to_string(),
        node: config.node.clone(),
        config: config.to_string(),
        ports: config.listeners.iter().map(|l| l.frontend.bind.1).collect(),
        targets,
        config_without_targets: frame.to_string(),
    }
}
