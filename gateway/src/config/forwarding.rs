//! `[forwarding]`: where a packet from the tunnel may go (issue 19, item
//! 18). A Direct Connect VIF carries only the prefixes the office
//! advertises; the gateway, which plays the VIF, forwards from the tunnel
//! only to its `destinations` (the office's routes: the prefixes behind
//! this gateway, on its LAN side), never to the box's own addresses unless
//! `allow_to_box` names them, and never back into the tunnel
//! (`router/forwarding.rs`).

use ipnet::Ipv4Net;
use serde::Deserialize;

use super::{Checker, RawRoute, Str};
use crate::routing::Route;

/// `[forwarding]` as read.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawForwarding {
    destinations: Option<Vec<Str>>,
    #[serde(default)]
    allow_to_box: Vec<Str>,
}

/// `[forwarding]`: where packets from the tunnel may go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ForwardingConfig {
    /// The office's routes: the prefixes behind this gateway that the far
    /// end may reach. `None` (no `destinations`): any address no route
    /// sends back into the tunnel.
    pub destinations: Option<Vec<Ipv4Net>>,
    /// The box's own addresses the far end may reach anyway.
    pub allow_to_box: Vec<Ipv4Net>,
}

impl Checker<'_> {
    /// `[forwarding]`: CIDR blocks; a destination that a `[[route]]` sends
    /// back into the tunnel is a warning (its packets would be dropped as
    /// `hairpin`), and so is a default route without `destinations` (every
    /// packet from the tunnel would be).
    pub(super) fn forwarding(
        &mut self,
        raw: Option<&RawForwarding>,
        raw_routes: &[RawRoute],
        routes: &[Route],
        peer_names: &[&str],
    ) -> ForwardingConfig {
        if raw.and_then(|r| r.destinations.as_ref()).is_none() {
            let default = raw_routes.iter().find(|r| {
                r.prefix
                    .get_ref()
                    .parse::<Ipv4Net>()
                    .is_ok_and(|n| n.prefix_len() == 0)
            });
            if let Some(r) = default {
                let w = self.warning(
                    r.prefix.span(),
                    "a default route into the tunnel without [forwarding] destinations",
                );
                w.expected =
                    Some("[forwarding] destinations: the prefixes behind this gateway".into());
                w.hint = Some(
                    "every address is then routed into the tunnel, so every packet from it is dropped as `hairpin`"
                        .into(),
                );
            }
        }
        let Some(raw) = raw else {
            return ForwardingConfig::default();
        };
        let destinations = raw.destinations.as_ref().map(|list| {
            let mut nets = Vec::with_capacity(list.len());
            for d in list {
                let Some(net) = self.cidr(d) else {
                    continue;
                };
                // As the router decides (`router/forwarding.rs`): an address
                // of the block goes back into the tunnel when a route to a
                // peer at least as specific as the block holds it, that is
                // a route inside the block; a wider one (a default route)
                // leaves the block to the LAN.
                let routed = routes
                    .iter()
                    .filter(|r| net.contains(&r.prefix))
                    .min_by_key(|r| r.prefix.prefix_len());
                if let Some(r) = routed {
                    let peer = peer_names.get(r.peer).copied().unwrap_or("?");
                    let headline = if r.prefix == net {
                        format!("destination {net} is routed to peer `{peer}` ({})", r.prefix)
                    } else {
                        format!(
                            "destination {net} holds {}, routed to peer `{peer}`",
                            r.prefix
                        )
                    };
                    let w = self.warning(d.span(), headline);
                    w.expected = Some(
                        "the prefixes behind this gateway, on its LAN side, not routed into the tunnel"
                            .into(),
                    );
                    w.hint = Some(format!(
                        "packets from the tunnel to {} would go back into the tunnel: they are dropped (`hairpin`)",
                        r.prefix
                    ));
                }
                nets.push(net);
            }
            nets
        });
        let allow_to_box = raw
            .allow_to_box
            .iter()
            .filter_map(|a| self.cidr(a))
            .collect();
        ForwardingConfig {
            destinations,
            allow_to_box,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ForwardingConfig;
    use crate::config::tests::{base, checked, warnings};

    fn forwarding(rest: &str) -> Result<(ForwardingConfig, Vec<String>), Vec<String>> {
        let route = "[[route]]\nprefix = \"10.0.0.0/16\"\npeer = \"aws\"\n";
        checked(base(&format!("{route}{rest}")), |c| {
            let w = warnings(&c);
            (c.forwarding, w)
        })
    }

    #[test]
    fn destinations_and_box_addresses_are_read() {
        assert_eq!(forwarding("").unwrap().0, ForwardingConfig::default());
        let (f, warnings) = forwarding(
            "[forwarding]\ndestinations = [\"192.168.10.0/24\", \"192.168.20.0/24\"]\nallow_to_box = [\"169.254.100.1/32\"]\n",
        )
        .unwrap();
        assert_eq!(
            f.destinations.unwrap(),
            [
                "192.168.10.0/24".parse().unwrap(),
                "192.168.20.0/24".parse().unwrap()
            ]
        );
        assert_eq!(f.allow_to_box, ["169.254.100.1/32".parse().unwrap()]);
        assert!(warnings.is_empty(), "{warnings:?}");
        // `[]`: nothing behind the gateway is reachable from the tunnel.
        let (f, _) = forwarding("[forwarding]\ndestinations = []\n").unwrap();
        assert_eq!(f.destinations, Some(vec![]));
    }

    #[test]
    fn a_bad_block_is_an_error_at_its_place_and_a_routed_one_a_warning() {
        assert_eq!(
            forwarding("[forwarding]\ndestinations = [\"192.168.10.1/24\"]\n").unwrap_err(),
            ["gw.toml:12:17: error: `192.168.10.1/24` has host bits set"]
        );
        assert_eq!(
            forwarding("[forwarding]\nallow_to_box = [\"the box\"]\n").unwrap_err(),
            ["gw.toml:12:17: error: `the box` is not an IPv4 CIDR block"]
        );
        let (_, warnings) = forwarding("[forwarding]\ndestinations = [\"10.0.0.0/16\"]\n").unwrap();
        assert_eq!(
            warnings,
            ["gw.toml:12:17: warning: destination 10.0.0.0/16 is routed to peer `aws` (10.0.0.0/16)"]
        );
        let (_, warnings) =
            forwarding("[[route]]\nprefix = \"0.0.0.0/0\"\npeer = \"aws\"\n").unwrap();
        assert_eq!(
            warnings,
            ["gw.toml:12:10: warning: a default route into the tunnel without [forwarding] destinations"]
        );
        let unknown = forwarding("[forwarding]\nallow_box = true\n").unwrap_err();
        assert!(
            unknown[0].starts_with(
                "gw.toml:12:1: error: invalid gateway config: unknown field `allow_box`"
            ),
            "{unknown:?}"
        );
    }

    /// The warning says what the router does (`router/forwarding.rs`): a
    /// route inside a destination block takes its addresses back into the
    /// tunnel (`hairpin`); a wider one, such as a default route, leaves the
    /// block to the LAN and is no hairpin.
    #[test]
    fn a_destination_is_warned_about_exactly_when_the_router_hairpins_it() {
        let (_, warnings) = forwarding("[forwarding]\ndestinations = [\"10.0.0.0/8\"]\n").unwrap();
        assert_eq!(
            warnings,
            ["gw.toml:12:17: warning: destination 10.0.0.0/8 holds 10.0.0.0/16, routed to peer `aws`"]
        );
        for inside_a_wider_route in [
            "[forwarding]\ndestinations = [\"10.0.1.0/24\"]\n",
            "[[route]]\nprefix = \"0.0.0.0/0\"\npeer = \"aws\"\n[forwarding]\ndestinations = [\"192.168.10.0/24\"]\n",
        ] {
            let (_, warnings) = forwarding(inside_a_wider_route).unwrap();
            assert!(warnings.is_empty(), "{inside_a_wider_route}: {warnings:?}");
        }
    }
}
