//! Route tables and longest-prefix match.
//!
//! AWS semantics: every VPC table has a `local` route per VPC CIDR, and it
//! beats any propagated route, even a more specific one; otherwise the
//! longest prefix wins; on equal prefixes a static route beats a propagated
//! one. Office routers follow the usual router rule: connected beats static
//! beats dynamic on equal prefixes.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

/// Where a route came from, best first on equal prefixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RouteOrigin {
    /// The VPC's own CIDR (VPC tables) or a directly connected LAN.
    Local,
    /// Written by an operator.
    Static,
    /// Learned: propagated by the VGW, or learned over BGP.
    Propagated,
}

impl fmt::Display for RouteOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RouteOrigin::Local => "local",
            RouteOrigin::Static => "static",
            RouteOrigin::Propagated => "propagated",
        })
    }
}

/// A hasher for small integer keys (addresses, prefixes): one multiply per
/// word. The keys come from the topology file, not from an adversary.
#[derive(Default, Clone, Copy)]
pub struct FastHasher(u64);

impl Hasher for FastHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(n as u64);
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
}

/// A hash map keyed by small integers, with [`FastHasher`].
pub type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;

/// A longest-prefix-match table from IPv4 prefixes to values.
///
/// One hash map per prefix length, probed from /32 down, skipping lengths
/// that hold nothing: at most 33 probes, usually a handful.
#[derive(Debug, Clone)]
pub struct Lpm<T> {
    by_len: Vec<FastMap<u32, T>>,
    present: u64,
}

impl<T> Default for Lpm<T> {
    fn default() -> Self {
        Lpm {
            by_len: (0..=32).map(|_| FastMap::default()).collect(),
            present: 0,
        }
    }
}

impl<T> Lpm<T> {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// The value at exactly `prefix`, created with `make` when absent.
    pub fn entry(&mut self, prefix: Ipv4Net, make: impl FnOnce() -> T) -> &mut T {
        let len = prefix.prefix_len();
        self.present |= 1 << len;
        self.by_len[len as usize]
            .entry(u32::from(prefix.trunc().network()))
            .or_insert_with(make)
    }

    /// Inserts, replacing what was at exactly `prefix`.
    pub fn insert(&mut self, prefix: Ipv4Net, value: T) {
        let len = prefix.prefix_len();
        self.present |= 1 << len;
        self.by_len[len as usize].insert(u32::from(prefix.trunc().network()), value);
    }

    /// Every entry containing `addr`, most specific first.
    pub fn matches(&self, addr: Ipv4Addr) -> impl Iterator<Item = (Ipv4Net, &T)> + '_ {
        let a = u32::from(addr);
        (0..=32u32)
            .rev()
            .filter(move |len| self.present & (1u64 << len) != 0)
            .filter_map(move |len| {
                let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
                let v = self.by_len[len as usize].get(&(a & mask))?;
                let net = Ipv4Net::new(Ipv4Addr::from(a & mask), len as u8).ok()?;
                Some((net, v))
            })
    }

    /// The most specific entry containing `addr`, with its prefix.
    pub fn lookup(&self, addr: Ipv4Addr) -> Option<(Ipv4Net, &T)> {
        let a = u32::from(addr);
        let mut lens = self.present;
        while lens != 0 {
            let len = 63 - lens.leading_zeros();
            lens &= !(1u64 << len);
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            if let Some(v) = self.by_len[len as usize].get(&(a & mask)) {
                let net = Ipv4Net::new(Ipv4Addr::from(a & mask), len as u8).ok()?;
                return Some((net, v));
            }
        }
        None
    }
}

impl Lpm<Vec<usize>> {
    /// An index of `items` by prefix: each slot lists the positions of the
    /// items with that prefix, best `rank` first (equal ranks in the order
    /// given). The route tables of VPCs, office routers and the gateway
    /// differ only in their rank.
    pub fn ranked<T, K: Ord>(
        items: &[T],
        prefix: impl Fn(&T) -> Ipv4Net,
        rank: impl Fn(&T) -> K,
    ) -> Self {
        let mut lpm: Lpm<Vec<usize>> = Lpm::new();
        for (i, item) in items.iter().enumerate() {
            lpm.entry(prefix(item), Vec::new).push(i);
        }
        for slots in &mut lpm.by_len {
            for slot in slots.values_mut() {
                slot.sort_by_key(|&j| rank(&items[j]));
            }
        }
        lpm
    }
}

/// The next hop of a VPC route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum RouteTarget {
    /// Inside the VPC.
    Local,
    /// The internet gateway.
    InternetGateway,
    /// A NAT gateway (node index).
    NatGateway(usize),
    /// The virtual private gateway.
    Vgw,
    /// An instance's network interface (node index).
    Instance(usize),
    /// Drop.
    Blackhole,
}

/// One VPC route.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Route {
    /// Destination block.
    pub prefix: Ipv4Net,
    /// Next hop.
    pub target: RouteTarget,
    /// Local, static or propagated.
    pub origin: RouteOrigin,
}

/// A VPC route table: static routes, the implicit local routes and the
/// routes propagated by the VGW.
#[derive(Debug, Clone)]
pub struct RouteTable {
    /// Its name.
    pub name: String,
    /// Whether the VGW propagates its routes into this table.
    pub propagate: bool,
    /// All routes: local first, then static, then propagated.
    pub routes: Vec<Route>,
    lpm: Lpm<Vec<usize>>,
    local: Vec<Ipv4Net>,
}

impl RouteTable {
    /// Builds a table from its routes.
    pub fn new(name: String, propagate: bool, routes: Vec<Route>) -> Self {
        let lpm = Lpm::ranked(&routes, |r| r.prefix, |r| r.origin);
        let local = routes
            .iter()
            .filter(|r| r.origin == RouteOrigin::Local)
            .map(|r| r.prefix)
            .collect();
        RouteTable {
            name,
            propagate,
            routes,
            lpm,
            local,
        }
    }

    /// The route AWS would use for `dst`.
    pub fn select(&self, dst: Ipv4Addr) -> Option<&Route> {
        let (_, slot) = self.lpm.lookup(dst)?;
        let best = &self.routes[*slot.first()?];
        if best.origin == RouteOrigin::Propagated {
            // the local route beats any propagated route, even a more
            // specific one; rare enough to settle by a scan
            if self.local.iter().any(|n| n.contains(&dst)) {
                return self.select_by_scan(dst);
            }
        }
        Some(best)
    }

    /// The reference definition [`RouteTable::select`] must agree with: a
    /// plain scan over every route.
    pub fn select_by_scan(&self, dst: Ipv4Addr) -> Option<&Route> {
        let local_hit = self
            .routes
            .iter()
            .any(|r| r.origin == RouteOrigin::Local && r.prefix.contains(&dst));
        self.routes
            .iter()
            .filter(|r| r.prefix.contains(&dst))
            .filter(|r| !(local_hit && r.origin == RouteOrigin::Propagated))
            .min_by_key(|r| (std::cmp::Reverse(r.prefix.prefix_len()), r.origin))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn route(p: &str, target: RouteTarget, origin: RouteOrigin) -> Route {
        Route {
            prefix: p.parse().unwrap(),
            target,
            origin,
        }
    }

    fn table(routes: Vec<Route>) -> RouteTable {
        RouteTable::new("t".into(), true, routes)
    }

    #[test]
    fn longest_prefix_wins() {
        let t = table(vec![
            route(
                "0.0.0.0/0",
                RouteTarget::InternetGateway,
                RouteOrigin::Static,
            ),
            route("192.168.0.0/16", RouteTarget::Vgw, RouteOrigin::Propagated),
        ]);
        assert_eq!(
            t.select("192.168.10.5".parse().unwrap()).unwrap().target,
            RouteTarget::Vgw
        );
        assert_eq!(
            t.select("8.8.8.8".parse().unwrap()).unwrap().target,
            RouteTarget::InternetGateway
        );
    }

    #[test]
    fn local_beats_a_more_specific_propagated_route() {
        let t = table(vec![
            route("10.0.0.0/16", RouteTarget::Local, RouteOrigin::Local),
            route("10.0.5.0/24", RouteTarget::Vgw, RouteOrigin::Propagated),
        ]);
        let r = t.select("10.0.5.9".parse().unwrap()).unwrap();
        assert_eq!(r.target, RouteTarget::Local);
    }

    #[test]
    fn static_beats_propagated_on_equal_prefix() {
        let t = table(vec![
            route("172.16.0.0/12", RouteTarget::Vgw, RouteOrigin::Propagated),
            route(
                "172.16.0.0/12",
                RouteTarget::NatGateway(3),
                RouteOrigin::Static,
            ),
        ]);
        let r = t.select("172.16.1.1".parse().unwrap()).unwrap();
        assert_eq!(r.origin, RouteOrigin::Static);
        assert_eq!(r.target, RouteTarget::NatGateway(3));
    }

    #[test]
    fn no_route_is_none() {
        let t = table(vec![route(
            "10.0.0.0/16",
            RouteTarget::Local,
            RouteOrigin::Local,
        )]);
        assert!(t.select("8.8.8.8".parse().unwrap()).is_none());
    }

    fn arb_route() -> impl Strategy<Value = Route> {
        (any::<u32>(), 0u8..=32, 0u8..3, 0usize..4).prop_map(|(a, len, o, t)| {
            let origin = [
                RouteOrigin::Local,
                RouteOrigin::Static,
                RouteOrigin::Propagated,
            ][o as usize];
            let target = if origin == RouteOrigin::Local {
                RouteTarget::Local
            } else {
                [
                    RouteTarget::InternetGateway,
                    RouteTarget::Vgw,
                    RouteTarget::NatGateway(1),
                    RouteTarget::Blackhole,
                ][t]
            };
            // short random prefixes collide often, which is the point
            let a = (a & 0x0003_0303) | 0x0A00_0000;
            Route {
                prefix: Ipv4Net::new(Ipv4Addr::from(a), len).unwrap().trunc(),
                target,
                origin,
            }
        })
    }

    proptest! {
        /// LPM with preferences agrees with a naive scan of every route.
        #[test]
        fn lpm_agrees_with_a_scan(routes in prop::collection::vec(arb_route(), 0..20), probes in prop::collection::vec(any::<u32>(), 1..30)) {
            // one route per (prefix, origin), as validation guarantees
            let mut seen = std::collections::HashSet::new();
            let routes: Vec<Route> = routes.into_iter().filter(|r| seen.insert((r.prefix, r.origin))).collect();
            let t = table(routes.clone());
            let mut addrs: Vec<Ipv4Addr> = probes.into_iter().map(Ipv4Addr::from).collect();
            addrs.extend(routes.iter().map(|r| r.prefix.network()));
            for a in addrs {
                let fast = t.select(a).map(|r| (r.prefix, r.origin));
                let slow = t.select_by_scan(a).map(|r| (r.prefix, r.origin));
                prop_assert_eq!(fast, slow, "addr {}", a);
            }
        }
    }
}
