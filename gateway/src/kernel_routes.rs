//! The box's BGP routes, as the kernel routing table its BGP daemon writes
//! holds them (`[bgp] kernel_table`), turned into routes of the gateway.
//!
//! Sans-IO, like the router: the shell reads the table (a dump, then the
//! kernel's route notifications) and hands each [`RouteEvent`] over as
//! plain values; [`BgpRoutes`] keeps the table's mirror and maps each next
//! hop to a peer — the peer whose endpoint address is the next hop, else
//! the one whose `allowed_ips` hold it (the longest such prefix; the first
//! peer on a tie). A route whose next hop is no peer's is kept in the
//! mirror but routes nothing; it is shown (and logged once per next hop),
//! and used as soon as a reload brings a peer that owns its next hop.
//!
//! A route is named by its prefix and metric, as BGP daemons write them
//! (one route per prefix, several next hops as one multipath route). Two
//! routes of one prefix and metric that differ otherwise (`ip route append`,
//! another TOS) are one here: the last one the kernel reported.
//!
//! The routes come out as [`RouteSource::Bgp`] with the kernel metric as
//! their priority, so that on an equal prefix a static route wins, then the
//! lower metric; the routing table's liveness applies to them as to static
//! routes (a BGP route to a dead peer yields to any usable route).

use std::collections::{BTreeMap, HashSet};
use std::net::{Ipv4Addr, SocketAddr};

use ipnet::Ipv4Net;

use crate::config::PeerConfig;
use crate::routing::{PeerId, Route, RouteSource};

/// A route of the followed kernel table, as plain values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelRoute {
    /// Destination block.
    pub prefix: Ipv4Net,
    /// The kernel's metric (`ip route ... metric N`, BIRD's `krt_metric`);
    /// with the prefix, what names the route in the table.
    pub metric: u32,
    /// Gateway addresses (several for a multipath route). Empty for a
    /// route without one (a device route, a blackhole): such a route
    /// routes nothing.
    pub next_hops: Vec<Ipv4Addr>,
}

/// What the kernel said about the followed table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteEvent {
    /// A route was added, or replaced the one of the same prefix and
    /// metric (`RTM_NEWROUTE`).
    Added(KernelRoute),
    /// The route of this prefix and metric was deleted (`RTM_DELROUTE`).
    Deleted {
        /// Its destination block.
        prefix: Ipv4Net,
        /// Its metric.
        metric: u32,
    },
    /// The whole table (a dump): replaces everything known before.
    Dumped(Vec<KernelRoute>),
}

/// One next hop of one BGP route, and the peer it maps to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BgpRoute {
    /// Destination block.
    pub prefix: Ipv4Net,
    /// The kernel's metric: its priority among BGP routes of the prefix.
    pub metric: u32,
    /// The next hop the daemon chose.
    pub next_hop: Ipv4Addr,
    /// The peer that carries it; `None`: no peer has this next hop, the
    /// route is ignored.
    pub peer: Option<PeerId>,
}

impl BgpRoute {
    /// The gateway's route, when a peer carries it.
    pub fn route(&self) -> Option<Route> {
        self.peer.map(|peer| Route {
            prefix: self.prefix,
            peer,
            priority: self.metric,
            source: RouteSource::Bgp,
        })
    }
}

/// What a peer owns of the next hops: its endpoint's address and its
/// allowed prefixes (from the configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextHopOwner {
    /// The configured endpoint's address.
    pub endpoint: Option<Ipv4Addr>,
    /// Its `allowed_ips`.
    pub allowed_ips: Vec<Ipv4Net>,
}

impl NextHopOwner {
    /// The owners of a configuration's peers, in peer order.
    pub fn of_peers(peers: &[PeerConfig]) -> Vec<NextHopOwner> {
        peers
            .iter()
            .map(|p| NextHopOwner {
                endpoint: match p.endpoint {
                    Some(SocketAddr::V4(a)) => Some(*a.ip()),
                    _ => None,
                },
                allowed_ips: p.allowed_ips.clone(),
            })
            .collect()
    }
}

/// The peer a next hop maps to: the one whose endpoint is that address,
/// else the one with the longest allowed prefix holding it (the first on
/// a tie).
pub fn peer_for_next_hop(owners: &[NextHopOwner], hop: Ipv4Addr) -> Option<PeerId> {
    if let Some(p) = owners.iter().position(|o| o.endpoint == Some(hop)) {
        return Some(p);
    }
    owners
        .iter()
        .enumerate()
        .filter_map(|(i, o)| {
            o.allowed_ips
                .iter()
                .filter(|n| n.contains(&hop))
                .map(|n| n.prefix_len())
                .max()
                .map(|len| (len, i))
        })
        .min_by_key(|&(len, i)| (std::cmp::Reverse(len), i))
        .map(|(_, i)| i)
}

/// The mirror of the followed kernel table.
#[derive(Debug, Clone, Default)]
pub struct BgpRoutes {
    /// Next hops by (prefix, metric): the kernel's key of an IPv4 route
    /// (with the TOS, which BGP daemons leave at 0).
    table: BTreeMap<(Ipv4Net, u32), Vec<Ipv4Addr>>,
    /// Next hops already reported as no peer's.
    warned: HashSet<Ipv4Addr>,
}

impl BgpRoutes {
    /// An empty mirror.
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies what the kernel said; whether the mirror changed.
    pub fn apply(&mut self, event: RouteEvent) -> bool {
        match event {
            RouteEvent::Added(r) => {
                self.table.insert((r.prefix, r.metric), r.next_hops.clone()) != Some(r.next_hops)
            }
            RouteEvent::Deleted { prefix, metric } => {
                self.table.remove(&(prefix, metric)).is_some()
            }
            RouteEvent::Dumped(all) => {
                let new: BTreeMap<(Ipv4Net, u32), Vec<Ipv4Addr>> = all
                    .into_iter()
                    .map(|r| ((r.prefix, r.metric), r.next_hops))
                    .collect();
                let changed = new != self.table;
                self.table = new;
                changed
            }
        }
    }

    /// Kernel routes in the mirror.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether the mirror is empty.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Every next hop of every route, in prefix and metric order, mapped
    /// to the peers. A next hop that is no peer's is logged, once.
    pub fn resolve(&mut self, owners: &[NextHopOwner]) -> Vec<BgpRoute> {
        let mut out = Vec::new();
        for (&(prefix, metric), hops) in &self.table {
            for &next_hop in hops {
                let peer = peer_for_next_hop(owners, next_hop);
                if peer.is_none() && self.warned.insert(next_hop) {
                    tracing::warn!(
                        %prefix,
                        %next_hop,
                        "BGP route ignored: its next hop is no peer's endpoint and in no peer's allowed_ips"
                    );
                }
                out.push(BgpRoute {
                    prefix,
                    metric,
                    next_hop,
                    peer,
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn added(prefix: &str, metric: u32, hops: &[&str]) -> RouteEvent {
        RouteEvent::Added(KernelRoute {
            prefix: net(prefix),
            metric,
            next_hops: hops.iter().map(|h| ip(h)).collect(),
        })
    }

    /// `a`: endpoint 172.30.0.2, allowed 10.0.0.0/16; `b`: endpoint
    /// 172.30.1.2, allowed 10.0.0.0/8 and 169.254.10.0/30.
    fn owners() -> Vec<NextHopOwner> {
        vec![
            NextHopOwner {
                endpoint: Some(ip("172.30.0.2")),
                allowed_ips: vec![net("10.0.0.0/16")],
            },
            NextHopOwner {
                endpoint: Some(ip("172.30.1.2")),
                allowed_ips: vec![net("10.0.0.0/8"), net("169.254.10.0/30")],
            },
        ]
    }

    fn summary(routes: &[BgpRoute]) -> Vec<(String, u32, String, Option<PeerId>)> {
        routes
            .iter()
            .map(|r| {
                (
                    r.prefix.to_string(),
                    r.metric,
                    r.next_hop.to_string(),
                    r.peer,
                )
            })
            .collect()
    }

    #[test]
    fn next_hops_map_to_endpoints_first_then_the_longest_allowed_prefix() {
        let o = owners();
        assert_eq!(peer_for_next_hop(&o, ip("172.30.0.2")), Some(0));
        assert_eq!(peer_for_next_hop(&o, ip("172.30.1.2")), Some(1));
        // inside both peers' allowed prefixes: the longer one's
        assert_eq!(peer_for_next_hop(&o, ip("10.0.3.1")), Some(0));
        assert_eq!(peer_for_next_hop(&o, ip("10.1.0.1")), Some(1));
        // a BGP-over-VPN style inside address
        assert_eq!(peer_for_next_hop(&o, ip("169.254.10.1")), Some(1));
        assert_eq!(peer_for_next_hop(&o, ip("192.0.2.9")), None);
        // an endpoint wins over an allowed prefix that holds it
        let mut o = owners();
        o[1].allowed_ips.push(net("172.30.0.0/24"));
        assert_eq!(peer_for_next_hop(&o, ip("172.30.0.2")), Some(0));
        assert_eq!(peer_for_next_hop(&o, ip("172.30.0.9")), Some(1));
    }

    #[test]
    fn add_replace_and_withdraw() {
        let mut m = BgpRoutes::new();
        assert!(m.apply(added("10.9.0.0/24", 32, &["172.30.0.2"])));
        assert!(
            !m.apply(added("10.9.0.0/24", 32, &["172.30.0.2"])),
            "the same again"
        );
        assert_eq!(
            summary(&m.resolve(&owners())),
            [("10.9.0.0/24".into(), 32, "172.30.0.2".into(), Some(0))]
        );
        // `ip route replace ... via B`: the same prefix and metric
        assert!(m.apply(added("10.9.0.0/24", 32, &["172.30.1.2"])));
        assert_eq!(
            summary(&m.resolve(&owners())),
            [("10.9.0.0/24".into(), 32, "172.30.1.2".into(), Some(1))]
        );
        // another metric is another route
        assert!(m.apply(added("10.9.0.0/24", 50, &["172.30.0.2"])));
        assert_eq!(m.len(), 2);
        assert!(m.apply(RouteEvent::Deleted {
            prefix: net("10.9.0.0/24"),
            metric: 32
        }));
        assert!(!m.apply(RouteEvent::Deleted {
            prefix: net("10.9.0.0/24"),
            metric: 32
        }));
        assert_eq!(
            summary(&m.resolve(&owners())),
            [("10.9.0.0/24".into(), 50, "172.30.0.2".into(), Some(0))]
        );
    }

    #[test]
    fn a_dump_replaces_everything_and_events_after_it_apply_on_top() {
        let mut m = BgpRoutes::new();
        m.apply(added("10.9.0.0/24", 32, &["172.30.0.2"]));
        m.apply(added("10.8.0.0/24", 32, &["172.30.0.2"]));
        let dump = RouteEvent::Dumped(vec![KernelRoute {
            prefix: net("10.7.0.0/24"),
            metric: 32,
            next_hops: vec![ip("172.30.1.2")],
        }]);
        assert!(m.apply(dump.clone()));
        assert!(!m.apply(dump), "the same table again");
        // notifications queued while the dump ran are replayed after it:
        // each one says the state of its route, so replaying is harmless
        m.apply(RouteEvent::Deleted {
            prefix: net("10.7.0.0/24"),
            metric: 32,
        });
        m.apply(added("10.7.0.0/24", 32, &["172.30.1.2"]));
        assert_eq!(
            summary(&m.resolve(&owners())),
            [("10.7.0.0/24".into(), 32, "172.30.1.2".into(), Some(1))]
        );
    }

    #[test]
    fn unmapped_and_hopless_routes_route_nothing_and_multipath_gives_one_route_per_hop() {
        let mut m = BgpRoutes::new();
        m.apply(added("10.5.0.0/24", 32, &["192.0.2.9"]));
        m.apply(added("10.6.0.0/24", 32, &[]));
        m.apply(added("10.4.0.0/24", 32, &["172.30.0.2", "172.30.1.2"]));
        let r = m.resolve(&owners());
        assert_eq!(
            summary(&r),
            [
                ("10.4.0.0/24".into(), 32, "172.30.0.2".into(), Some(0)),
                ("10.4.0.0/24".into(), 32, "172.30.1.2".into(), Some(1)),
                ("10.5.0.0/24".into(), 32, "192.0.2.9".into(), None),
            ]
        );
        let routes: Vec<Route> = r.iter().filter_map(BgpRoute::route).collect();
        assert_eq!(routes.len(), 2);
        assert!(routes
            .iter()
            .all(|r| r.source == RouteSource::Bgp && r.priority == 32));
        assert!(m.warned.contains(&ip("192.0.2.9")), "logged once");
        // a peer that owns the next hop maps it
        let mut o = owners();
        o.push(NextHopOwner {
            endpoint: Some(ip("192.0.2.9")),
            allowed_ips: vec![],
        });
        assert_eq!(m.resolve(&o)[2].peer, Some(2));
    }

    #[test]
    fn a_hundred_routes_and_more() {
        let mut m = BgpRoutes::new();
        let all: Vec<KernelRoute> = (0..250u32)
            .map(|i| KernelRoute {
                prefix: Ipv4Net::new(Ipv4Addr::from(0x0A00_0000 | (i << 8)), 24).unwrap(),
                metric: 32,
                next_hops: vec![ip(if i % 2 == 0 {
                    "172.30.0.2"
                } else {
                    "172.30.1.2"
                })],
            })
            .collect();
        m.apply(RouteEvent::Dumped(all));
        let r = m.resolve(&owners());
        assert_eq!(r.len(), 250);
        assert_eq!(r.iter().filter(|r| r.peer == Some(1)).count(), 125);
        for i in (0..250u32).step_by(2) {
            m.apply(RouteEvent::Deleted {
                prefix: Ipv4Net::new(Ipv4Addr::from(0x0A00_0000 | (i << 8)), 24).unwrap(),
                metric: 32,
            });
        }
        let r = m.resolve(&owners());
        assert_eq!(r.len(), 125);
        assert!(r.iter().all(|r| r.peer == Some(1)));
    }
}
