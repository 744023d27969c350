//! What listens in the lab: the probe agent's ports, HAProxy for each load
//! balancer the lab plays with it, and the `[[sim.start]]` commands.

use super::*;
use crate::render::haproxy::{haproxy_value, HaproxyConfig, HaproxyPaths};

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
    let http = if haproxy {
        http_targets(t)
    } else {
        BTreeMap::new()
    };
    for (id, n) in t.nodes.iter().enumerate() {
        if !n.is_endpoint() {
            continue;
        }
        let (mut node_tcp, mut node_udp): (Vec<u16>, Vec<u16>) = match &n.kind {
            NodeKind::LoadBalancer { listeners } => {
                if haproxy {
                    let dir = crate::layout::state_dir(&b.plan.lab);
                    let stats = crate::layout::haproxy_socket(&dir, &n.name);
                    let target_map = crate::layout::haproxy_target_map(&dir, &n.name);
                    let paths = HaproxyPaths {
                        stats: &stats,
                        target_map: &target_map,
                    };
                    let config = haproxy_value(t, &n.name, listeners, paths);
                    b.plan.haproxy.push(haproxy_spec(&b.node_ns[id], &config));
                    (Vec::new(), Vec::new())
                } else {
                    (listeners.iter().map(|l| l.port).collect(), Vec::new())
                }
            }
            NodeKind::Database { port, .. } => (vec![*port], Vec::new()),
            _ => (tcp.iter().copied().collect(), udp.iter().copied().collect()),
        };
        let served = http.get(&id);
        let mut node_http: Vec<u16> = served.into_iter().flat_map(|s| &s.ports).copied().collect();
        for p in &node_http {
            if !node_tcp.contains(p) {
                node_tcp.push(*p);
            }
        }
        if let Some((tt, uu)) = taken.get(&id) {
            node_tcp.retain(|p| !tt.contains(p));
            node_udp.retain(|p| !uu.contains(p));
            node_http.retain(|p| !tt.contains(p));
        }
        b.plan.listeners.push(ListenSpec {
            ns: b.node_ns[id].clone(),
            node: n.name.clone(),
            tcp: node_tcp,
            udp: node_udp,
            icmp: true,
            // the lab's clock runs `time_scale` times AWS's: a request
            // costs that much less CPU time, so an instance's utilisation
            // (CPU time over wall time) is the one AWS would see
            cpu_per_request: (t.sim.cpu_per_request)
                .map(|d| t.sim.lab_time(d))
                .filter(|_| !node_http.is_empty()),
            cpu_group: (!node_http.is_empty())
                .then(|| crate::kernel::cgroup::group_name(&b.plan.lab, &n.name)),
            health_paths: (served.into_iter())
                .flat_map(|s| s.health_paths.iter().cloned())
                .filter(|_| !node_http.is_empty())
                .collect(),
            http: node_http,
        });
    }
}

/// What a load balancer's target answers over HTTP.
#[derive(Default)]
struct HttpTarget {
    /// The target port of every HTTP(S) listener that targets it.
    ports: BTreeSet<u16>,
    /// Their health checks' paths.
    health_paths: BTreeSet<String>,
}

/// What each load balancer's target answers over HTTP (a start command
/// that serves a port serves it instead).
fn http_targets(t: &Topology) -> BTreeMap<usize, HttpTarget> {
    let mut out: BTreeMap<usize, HttpTarget> = BTreeMap::new();
    for n in &t.nodes {
        if let NodeKind::LoadBalancer { listeners } = &n.kind {
            for l in listeners.iter().filter(|l| l.protocol.starts_with("http")) {
                for &target in &l.targets {
                    let e = out.entry(target).or_default();
                    e.ports.insert(l.target_port);
                    e.health_paths
                        .insert(l.target_group.health_check.path.clone());
                }
            }
        }
    }
    out
}

/// The HAProxy of load balancer `config.node` in namespace `ns`: its
/// configuration as text, and its targets as values beside it.
fn haproxy_spec(ns: &str, config: &HaproxyConfig) -> HaproxySpec {
    HaproxySpec {
        ns: ns.to_string(),
        node: config.node.clone(),
        config: config.to_string(),
        ports: config.listeners.iter().map(|l| l.frontend.bind.1).collect(),
        targets: config.in_service(),
        config_without_targets: config.without_members().to_string(),
        deregistration_delays: (config.listeners.iter())
            .map(|l| (l.backend.name.clone(), l.backend.deregistration_delay))
            .collect(),
    }
}
