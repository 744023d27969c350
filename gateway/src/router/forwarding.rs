//! Where a packet from the tunnel may go (issue 19, item 18). A Direct
//! Connect private VIF carries only the prefixes the office advertises:
//! the VPC side reaches those and nothing else — not the office router
//! itself, not what lies beyond the office's internet uplink, and nothing
//! is bounced back toward AWS. The gateway plays the VIF, so after the
//! allowed-source check a packet from a peer is dropped ([`ForwardFilter::check`])
//! when its destination is:
//!
//! - outside the office's routes (`outside_destinations`): not inside a
//!   `[forwarding] destinations` block, or a multicast, broadcast or
//!   `0.0.0.0/8` address (never routed by anyone);
//! - routed back into the tunnel (`hairpin`): a route to a peer (static or
//!   BGP, whatever the peer's state) at least as specific as the
//!   destination block it falls in, or, without `destinations`, any route
//!   to a peer.
//!
//! And a packet from a peer that would open a new flow is dropped
//! (`to_gateway_box`, [`ForwardFilter::forbids_box`], asked by the router
//! after connection tracking) when its destination is an address of the
//! gateway box itself: the `[interface]` address, loopback, and every
//! address the shell read from the box's interfaces (their subnets'
//! broadcast addresses too), unless `[forwarding] allow_to_box` names it. Replies to the flows the box itself opened
//! through the tunnel still reach it (ICMP errors, which belong to no
//! flow, do not); without security groups nothing is tracked, nothing
//! tells a reply from a new flow, and nothing is filtered (as everywhere
//! without `[policy]`).

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use topology::route_table::Lpm;

use crate::config::ForwardingConfig;
use crate::routing::RoutingTable;

/// Why a packet from the tunnel is not forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forbidden {
    /// To an address outside the office's routes.
    OutsideDestinations,
    /// To an address a route sends back into the tunnel.
    Hairpin,
}

/// Whether no packet from the tunnel may be addressed to `dst`, whatever
/// the configuration: "this network" (`0.0.0.0/8`), multicast
/// (`224.0.0.0/4`), the reserved block and the limited broadcast
/// (`240.0.0.0/4`).
fn never_routed(dst: Ipv4Addr) -> bool {
    matches!(dst.octets()[0], 0 | 224..=255)
}

/// The checks, compiled from `[forwarding]` and the box's addresses.
pub(super) struct ForwardFilter {
    /// The office's routes; `None`: no `destinations` configured.
    destinations: Option<Lpm<()>>,
    /// The box's own addresses (with loopback).
    own: Lpm<()>,
    /// What `allow_to_box` lets through.
    allowed_own: Lpm<()>,
    /// The `[interface]` address.
    interface: Option<Ipv4Addr>,
    /// The box's addresses the shell read.
    addresses: Vec<Ipv4Addr>,
}

fn lpm(nets: impl IntoIterator<Item = Ipv4Net>) -> Lpm<()> {
    let mut l = Lpm::new();
    for n in nets {
        l.entry(n, || ());
    }
    l
}

/// The box's own addresses: `addresses`, the `[interface]` address and
/// loopback.
fn own(interface: Option<Ipv4Addr>, addresses: &[Ipv4Addr]) -> Lpm<()> {
    let host = |a: Ipv4Addr| Ipv4Net::new(a, 32).ok();
    let loopback = "127.0.0.0/8".parse().ok();
    lpm(addresses
        .iter()
        .copied()
        .chain(interface)
        .filter_map(host)
        .chain(loopback))
}

impl ForwardFilter {
    /// The filter of a configuration; the box's addresses are the
    /// `[interface]` address and loopback until [`Self::set_box_addresses`].
    pub(super) fn new(config: &ForwardingConfig, interface: Option<Ipv4Addr>) -> Self {
        ForwardFilter::with_box_addresses(config, interface, Vec::new())
    }

    /// The filter of a new configuration, with the box's addresses known.
    pub(super) fn reconfigured(
        &self,
        config: &ForwardingConfig,
        interface: Option<Ipv4Addr>,
    ) -> Self {
        ForwardFilter::with_box_addresses(config, interface, self.addresses.clone())
    }

    fn with_box_addresses(
        config: &ForwardingConfig,
        interface: Option<Ipv4Addr>,
        addresses: Vec<Ipv4Addr>,
    ) -> Self {
        ForwardFilter {
            destinations: config.destinations.as_ref().map(|d| lpm(d.iter().copied())),
            own: own(interface, &addresses),
            allowed_own: lpm(config.allow_to_box.iter().copied()),
            interface,
            addresses,
        }
    }

    /// The box's own addresses, as the shell read them from its
    /// interfaces (besides the `[interface]` address and loopback);
    /// whether they changed.
    pub(super) fn set_box_addresses(&mut self, addresses: &[Ipv4Addr]) -> bool {
        if addresses == self.addresses {
            return false;
        }
        self.addresses = addresses.to_vec();
        self.own = own(self.interface, addresses);
        true
    }

    /// Whether a new flow from the tunnel to `dst` is refused: `dst` is an
    /// address of the box itself that `allow_to_box` does not name.
    pub(super) fn forbids_box(&self, dst: Ipv4Addr) -> bool {
        self.own.lookup(dst).is_some() && self.allowed_own.lookup(dst).is_none()
    }

    /// Whether a packet from the tunnel to `dst` may be forwarded to the
    /// LAN, given the gateway's routes into the tunnel. The box's own
    /// addresses are the LAN's here (see [`Self::forbids_box`]).
    pub(super) fn check(&self, dst: Ipv4Addr, routes: &RoutingTable) -> Result<(), Forbidden> {
        if self.own.lookup(dst).is_some() {
            return Ok(());
        }
        if never_routed(dst) {
            return Err(Forbidden::OutsideDestinations);
        }
        let into_tunnel = routes.most_specific(dst).map(|p| p.prefix_len());
        match &self.destinations {
            None => match into_tunnel {
                Some(_) => Err(Forbidden::Hairpin),
                None => Ok(()),
            },
            Some(destinations) => match destinations.lookup(dst) {
                None => Err(Forbidden::OutsideDestinations),
                Some((block, ())) if into_tunnel >= Some(block.prefix_len()) => {
                    Err(Forbidden::Hairpin)
                }
                Some(_) => Ok(()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::{Route, RouteSource};

    fn routes(prefixes: &[&str]) -> RoutingTable {
        RoutingTable::new(
            prefixes
                .iter()
                .map(|p| Route {
                    prefix: p.parse().unwrap(),
                    peer: 0,
                    priority: 100,
                    source: RouteSource::Static,
                })
                .collect(),
        )
    }

    fn filter(destinations: Option<&[&str]>, allow: &[&str]) -> ForwardFilter {
        let nets = |l: &[&str]| l.iter().map(|n| n.parse().unwrap()).collect::<Vec<_>>();
        let config = ForwardingConfig {
            destinations: destinations.map(nets),
            allow_to_box: nets(allow),
        };
        let mut f = ForwardFilter::new(&config, Some(Ipv4Addr::new(169, 254, 100, 1)));
        f.set_box_addresses(&[
            Ipv4Addr::new(192, 168, 0, 2),
            Ipv4Addr::new(198, 51, 100, 20),
        ]);
        f
    }

    fn at(f: &ForwardFilter, r: &RoutingTable, dst: &str) -> Result<(), Forbidden> {
        f.check(dst.parse().unwrap(), r)
    }

    #[test]
    fn each_forbidden_destination_has_its_reason() {
        let r = routes(&["10.0.0.0/16"]);
        let f = filter(Some(&["192.168.10.0/24", "192.168.20.0/24"]), &[]);
        assert_eq!(at(&f, &r, "192.168.10.10"), Ok(()));
        assert_eq!(at(&f, &r, "192.168.20.1"), Ok(()));
        for own in ["169.254.100.1", "192.168.0.2", "198.51.100.20", "127.0.0.1"] {
            assert!(f.forbids_box(own.parse().unwrap()), "{own}");
            assert_eq!(at(&f, &r, own), Ok(()), "{own}: the box's own, not routed");
        }
        assert!(!f.forbids_box("192.168.10.10".parse().unwrap()));
        for outside in [
            "8.8.8.8",
            "192.168.30.1",
            "255.255.255.255",
            "224.0.0.5",
            "0.0.0.0",
        ] {
            assert_eq!(
                at(&f, &r, outside),
                Err(Forbidden::OutsideDestinations),
                "{outside}"
            );
        }
        assert_eq!(at(&f, &r, "10.0.1.20"), Err(Forbidden::OutsideDestinations));
    }

    #[test]
    fn a_route_into_the_tunnel_at_least_as_specific_is_a_hairpin() {
        // A default route into the tunnel (egress through the VPC) leaves
        // the office's own blocks alone.
        let r = routes(&["0.0.0.0/0", "192.168.10.128/25"]);
        let f = filter(Some(&["192.168.10.0/24"]), &[]);
        assert_eq!(at(&f, &r, "192.168.10.10"), Ok(()));
        assert_eq!(at(&f, &r, "192.168.10.200"), Err(Forbidden::Hairpin));
        let r = routes(&["192.168.10.0/24"]);
        assert_eq!(at(&f, &r, "192.168.10.10"), Err(Forbidden::Hairpin));
        // Without destinations, every route into the tunnel.
        let open = filter(None, &[]);
        let r = routes(&["10.0.0.0/16"]);
        assert_eq!(at(&open, &r, "10.0.1.20"), Err(Forbidden::Hairpin));
        assert_eq!(at(&open, &r, "8.8.8.8"), Ok(()));
        assert!(open.forbids_box("192.168.0.2".parse().unwrap()));
    }

    #[test]
    fn allow_to_box_lets_the_named_box_addresses_through() {
        let r = routes(&["10.0.0.0/16"]);
        let f = filter(Some(&["192.168.10.0/24"]), &["169.254.100.1/32"]);
        assert!(!f.forbids_box("169.254.100.1".parse().unwrap()));
        assert!(f.forbids_box("192.168.0.2".parse().unwrap()));
        assert_eq!(at(&f, &r, "169.254.100.1"), Ok(()));
    }
}
