//! The ports a lab's processes bind in their namespaces: a process that
//! starts where another still holds its port fails to bind it (a
//! `[[sim.start]]` server whose command changed, listeners that take over
//! a port from HAProxy or a server, FRR's bgpd in place of BIRD on TCP
//! 179), so [`super::diff`] stops the one before it starts the other.

use crate::plan::Plan;

use super::Step;

/// The port a BGP daemon (BIRD, FRR's bgpd) listens on.
pub(crate) const BGP_PORT: u16 = 179;

/// One port bound in a namespace.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Socket {
    /// The namespace.
    pub ns: String,
    /// UDP; else TCP.
    pub udp: bool,
    /// The port.
    pub port: u16,
}

fn sockets(ns: &str, tcp: &[u16], udp: &[u16]) -> Vec<Socket> {
    let one = |udp: bool| {
        move |&port: &u16| Socket {
            ns: ns.to_string(),
            udp,
            port,
        }
    };
    tcp.iter()
        .map(one(false))
        .chain(udp.iter().map(one(true)))
        .collect()
}

/// The ports the process a step starts binds; nothing for any other step.
pub(crate) fn binds(step: &Step) -> Vec<Socket> {
    match step {
        Step::StartCommand { start: s } => sockets(&s.ns, &s.tcp_ports, &s.udp_ports),
        Step::StartListener { listener: l } => sockets(&l.ns, &l.tcp, &l.udp),
        Step::StartHaproxy { haproxy: h } => sockets(&h.ns, &h.ports, &[]),
        Step::StartBird { bird } => sockets(&bird.ns, &[BGP_PORT], &[]),
        Step::StartFrr { frr } => sockets(&frr.ns, &[BGP_PORT], &[]),
        Step::StartGateway { gateway: g } => sockets(&g.ns, &[], &[g.port]),
        _ => Vec::new(),
    }
}

/// The ports a step that stops a process of `old` frees; nothing for any
/// other step.
pub(crate) fn frees(step: &Step, old: &Plan) -> Vec<Socket> {
    match step {
        Step::StopCommand { start: s } => sockets(&s.ns, &s.tcp_ports, &s.udp_ports),
        Step::StopListener { ns, .. } => old
            .listeners
            .iter()
            .filter(|l| &l.ns == ns)
            .flat_map(|l| sockets(ns, &l.tcp, &l.udp))
            .collect(),
        Step::StopHaproxy { ns, .. } => old
            .haproxy
            .iter()
            .filter(|h| &h.ns == ns)
            .flat_map(|h| sockets(ns, &h.ports, &[]))
            .collect(),
        Step::StopBird { ns, .. } | Step::StopFrr { ns, .. } => sockets(ns, &[BGP_PORT], &[]),
        Step::StopGateway { ns, name } => old
            .gateways
            .iter()
            .filter(|g| &g.name == name)
            .flat_map(|g| sockets(ns, &[], &[g.port]))
            .collect(),
        _ => Vec::new(),
    }
}

/// Every port the processes of `p` bind (the model's check).
#[cfg(test)]
pub(crate) fn bound(p: &Plan) -> std::collections::BTreeSet<Socket> {
    let mut out = std::collections::BTreeSet::new();
    out.extend(
        p.starts
            .iter()
            .flat_map(|s| sockets(&s.ns, &s.tcp_ports, &s.udp_ports)),
    );
    out.extend(
        p.listeners
            .iter()
            .flat_map(|l| sockets(&l.ns, &l.tcp, &l.udp)),
    );
    out.extend(p.haproxy.iter().flat_map(|h| sockets(&h.ns, &h.ports, &[])));
    out.extend(
        p.bird
            .daemons
            .iter()
            .flat_map(|b| sockets(&b.ns, &[BGP_PORT], &[])),
    );
    out.extend(p.frr.iter().flat_map(|f| sockets(&f.ns, &[BGP_PORT], &[])));
    out.extend(
        p.gateways
            .iter()
            .flat_map(|g| sockets(&g.ns, &[], &[g.port])),
    );
    out
}
