//! The probes' and the agent's test fixture: two namespaces `a`
//! ([`A_IP`]) and `b` ([`B_IP`]) joined by a veth link `eth0`, on a
//! [`TestNet`] that removes them when dropped.

use std::net::Ipv4Addr;

use crate::ops::lab::{sh, TestNet};

/// Two namespaces `a` (10.77.0.1/24) and `b` (10.77.0.2/24) joined by a
/// veth link `eth0`, without ICMP error rate limits in `b`
/// (`icmp_ratemask` 0: else only ~6 errors a second reach one peer).
pub(crate) struct Pair {
    /// Owns the namespaces (deleted on drop) and a scratch directory.
    pub net: TestNet,
    /// The first namespace's name.
    pub a: String,
    /// The second namespace's name.
    pub b: String,
}

/// The address in `a`.
pub(crate) const A_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
/// The address in `b`.
pub(crate) const B_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);

/// Makes a [`Pair`] with names starting with `tag`.
pub(crate) fn pair(tag: &str) -> Pair {
    let mut net = TestNet::with_tag(tag);
    let (a, b) = (net.add_bare_ns("a"), net.add_bare_ns("b"));
    net.link_named(
        ("a", "eth0", &format!("{A_IP}/24")),
        ("b", "eth0", &format!("{B_IP}/24")),
    );
    for n in [&a, &b] {
        sh(&["ip", "-n", n, "link", "set", "lo", "up"]);
    }
    net.open("b")
        .run(|| std::fs::write("/proc/sys/net/ipv4/icmp_ratemask", "0"))
        .expect("run")
        .expect("icmp_ratemask");
    Pair { net, a, b }
}
