//! The gateway's routing table: prefixes to peers, several routes per
//! prefix with a priority, several route sources, and liveness.
//!
//! A route is usable while its peer is alive. The lookup takes the longest
//! prefix among usable routes; on an equal prefix, the preferred source
//! (static before BGP-learned, as AWS prefers static over propagated) and
//! then the lower priority number win. So a Direct Connect primary and a
//! VPN backup — the same prefix at priorities 10 and 20, or the backup on
//! a shorter prefix — fail over when the primary dies and come back when it
//! recovers. When no route to a destination is usable at all, the best one
//! is used anyway: sending is what brings a dead session back.

use std::fmt;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use topology::route_table::Lpm;

/// Index of a peer in the router.
pub type PeerId = usize;

/// Where a route came from, preferred first on equal prefixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RouteSource {
    /// From the configuration file.
    Static,
    /// Learned over BGP (reserved for the VIF's BGP session).
    Bgp,
}

impl fmt::Display for RouteSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RouteSource::Static => "static",
            RouteSource::Bgp => "bgp",
        })
    }
}

/// One route.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Route {
    /// Destination block.
    pub prefix: Ipv4Net,
    /// Peer that carries it.
    pub peer: PeerId,
    /// Lower is preferred among routes of one prefix and source.
    pub priority: u32,
    /// Where it came from.
    pub source: RouteSource,
}

/// Routes, indexed for longest-prefix match.
#[derive(Debug, Clone, Default)]
pub struct RoutingTable {
    routes: Vec<Route>,
    lpm: Lpm<Vec<usize>>,
}

impl RoutingTable {
    /// Builds the table.
    pub fn new(routes: Vec<Route>) -> Self {
        let lpm = Lpm::ranked(&routes, |r| r.prefix, |r| (r.source, r.priority));
        RoutingTable { routes, lpm }
    }

    /// All routes.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// The route for `dst`, given which peers are alive.
    pub fn lookup(&self, dst: Ipv4Addr, alive: impl Fn(PeerId) -> bool) -> Option<&Route> {
        let mut fallback = None;
        for (_, slot) in self.lpm.matches(dst) {
            for &i in slot {
                let r = &self.routes[i];
                if alive(r.peer) {
                    return Some(r);
                }
                fallback.get_or_insert(r);
            }
        }
        fallback
    }

    /// The prefix of the most specific route containing `dst`, whatever
    /// its peer's state: where the gateway would send a packet for `dst`.
    pub fn most_specific(&self, dst: Ipv4Addr) -> Option<Ipv4Net> {
        self.lpm.lookup(dst).map(|(prefix, _)| prefix)
    }

    /// The reference definition `lookup` must agree with: a scan.
    pub fn lookup_by_scan(&self, dst: Ipv4Addr, alive: impl Fn(PeerId) -> bool) -> Option<&Route> {
        let key = |&(i, r): &(usize, &Route)| {
            (
                std::cmp::Reverse(r.prefix.prefix_len()),
                r.source,
                r.priority,
                i,
            )
        };
        let candidates: Vec<(usize, &Route)> = self
            .routes
            .iter()
            .enumerate()
            .filter(|(_, r)| r.prefix.contains(&dst))
            .collect();
        let best_alive = candidates
            .iter()
            .copied()
            .filter(|(_, r)| alive(r.peer))
            .min_by_key(key);
        best_alive
            .or_else(|| candidates.iter().copied().min_by_key(key))
            .map(|(_, r)| r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn r(p: &str, peer: PeerId, priority: u32) -> Route {
        Route {
            prefix: p.parse().unwrap(),
            peer,
            priority,
            source: RouteSource::Static,
        }
    }

    #[test]
    fn primary_then_backup_then_primary_again() {
        let t = RoutingTable::new(vec![r("10.0.0.0/16", 0, 10), r("10.0.0.0/16", 1, 20)]);
        let dst = "10.0.1.1".parse().unwrap();
        assert_eq!(t.lookup(dst, |_| true).unwrap().peer, 0);
        assert_eq!(t.lookup(dst, |p| p != 0).unwrap().peer, 1);
        assert_eq!(t.lookup(dst, |_| true).unwrap().peer, 0);
    }

    #[test]
    fn a_shorter_backup_takes_over_when_the_specific_route_dies() {
        let t = RoutingTable::new(vec![r("10.0.0.0/16", 0, 10), r("10.0.0.0/8", 1, 10)]);
        let dst = "10.0.1.1".parse().unwrap();
        assert_eq!(t.lookup(dst, |_| true).unwrap().peer, 0);
        assert_eq!(t.lookup(dst, |p| p == 1).unwrap().peer, 1);
    }

    #[test]
    fn static_beats_bgp_on_an_equal_prefix() {
        let mut learned = r("10.0.0.0/16", 1, 0);
        learned.source = RouteSource::Bgp;
        let t = RoutingTable::new(vec![learned, r("10.0.0.0/16", 0, 100)]);
        assert_eq!(
            t.lookup("10.0.0.1".parse().unwrap(), |_| true)
                .unwrap()
                .peer,
            0
        );
    }

    #[test]
    fn all_dead_still_routes_to_the_best() {
        let t = RoutingTable::new(vec![r("10.0.0.0/16", 0, 10), r("10.0.0.0/16", 1, 20)]);
        assert_eq!(
            t.lookup("10.0.0.1".parse().unwrap(), |_| false)
                .unwrap()
                .peer,
            0
        );
        assert!(t.lookup("192.168.0.1".parse().unwrap(), |_| true).is_none());
    }

    proptest! {
        #[test]
        fn lookup_agrees_with_a_scan(
            routes in prop::collection::vec((0u32..4, 0u8..=24, 0usize..3, 0u32..3, any::<bool>()), 0..12),
            alive in prop::collection::vec(any::<bool>(), 3),
            probes in prop::collection::vec(any::<u32>(), 1..20),
        ) {
            let routes: Vec<Route> = routes.into_iter().map(|(a, len, peer, priority, bgp)| Route {
                prefix: Ipv4Net::new(Ipv4Addr::from(0x0A00_0000 | (a << 16)), len).unwrap().trunc(),
                peer,
                priority,
                source: if bgp { RouteSource::Bgp } else { RouteSource::Static },
            }).collect();
            let t = RoutingTable::new(routes);
            for p in probes {
                let dst = Ipv4Addr::from(0x0A00_0000 | (p & 0x0003_FFFF));
                let fast = t.lookup(dst, |i| alive[i]).cloned();
                let slow = t.lookup_by_scan(dst, |i| alive[i]).cloned();
                prop_assert_eq!(fast, slow);
            }
        }
    }
}
