//! The office: sites, LANs, routers, gateways and hosts, and the routers'
//! next hops.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::{AddressBook, Names, NodeNames, Resolver};
use crate::format::*;
use crate::model::*;
use crate::route_table::RouteOrigin;
use crate::traffic::PortRange;

impl Resolver<'_> {
    /// An office interface's LAN and address, as `lan` and `ip` name them:
    /// both looked up (each mistake reported), the address checked to be in
    /// the LAN and recorded for `owner`. The office side of
    /// `compute::subnet_address`.
    fn lan_address(
        &mut self,
        t: &Topology,
        lan_names: &Names,
        lan: &Str,
        ip: &Str,
        owner: &str,
        addrs: &mut AddressBook,
    ) -> Option<(usize, Ipv4Addr)> {
        let (Some(lan_id), Some(ip_v)) = (self.lookup("LAN", lan, lan_names), self.ip(ip)) else {
            return None;
        };
        let l = &t.lans[lan_id];
        self.check_in(ip_v, l.cidr, ip, &format!("LAN `{}`", l.name), false);
        addrs.add(self, ip_v, ip, owner);
        Some((lan_id, ip_v))
    }

    /// The office: sites and their LANs, then routers and gateways, then
    /// hosts (whose default gateway may be a router on their LAN).
    pub(super) fn office(
        &mut self,
        raw: &RawTopology,
        t: &mut Topology,
        nodes: &mut NodeNames,
        addrs: &mut AddressBook,
        sgs: &Names,
    ) {
        let lan_names = self.sites(raw, t);
        self.routers(raw, t, nodes, addrs, sgs, &lan_names);
        self.hosts(raw, t, nodes, addrs, &lan_names);
    }

    /// `[[site]]` and `[[site.lan]]`: LANs must not overlap. Gives the
    /// LANs' names.
    fn sites(&mut self, raw: &RawTopology, t: &mut Topology) -> Names {
        let _ = self.names("site", raw.site.iter().map(|s| &s.name));
        let all_lans: Vec<&Str> = raw
            .site
            .iter()
            .flat_map(|s| s.lan.iter().map(|l| &l.name))
            .collect();
        let lan_names = self.names("LAN", all_lans);
        let mut lan_cidrs: Vec<(Ipv4Net, &Str)> = Vec::new();
        for (si, site) in raw.site.iter().enumerate() {
            let mut lans = vec![];
            for l in &site.lan {
                let parsed = self.cidr(&l.cidr);
                let cidr = parsed.unwrap_or_default();
                let clash = parsed.and_then(|cidr| {
                    lan_cidrs
                        .iter()
                        .find(|(c, _)| super::blocks_overlap(*c, cidr))
                });
                if let Some((other, name)) = clash {
                    {
                        let d = self.error(
                            l.cidr.span(),
                            format!(
                                "LAN block {cidr} overlaps LAN `{}` ({other})",
                                name.get_ref()
                            ),
                        );
                        d.hint = Some("office LANs must not overlap".into());
                    }
                }
                if parsed.is_some() {
                    lan_cidrs.push((cidr, &l.name));
                }
                lans.push(t.lans.len());
                t.lans.push(Lan {
                    name: l.name.get_ref().clone(),
                    site: si,
                    cidr,
                });
            }
            t.sites.push(Site {
                name: site.name.get_ref().clone(),
                lans,
            });
        }
        lan_names
    }

    /// `[[site.router]]` and `[[site.gateway]]`: interfaces on LANs, static
    /// routes, and for a gateway its security groups.
    fn routers(
        &mut self,
        raw: &RawTopology,
        t: &mut Topology,
        nodes: &mut NodeNames,
        addrs: &mut AddressBook,
        sgs: &Names,
        lan_names: &Names,
    ) {
        for site in &raw.site {
            for (kind, routers) in [
                (NodeKind::OfficeRouter, &site.router),
                (NodeKind::Gateway, &site.gateway),
            ] {
                for r in routers {
                    let mut interfaces = Vec::new();
                    for (k, i) in r.interfaces.iter().enumerate() {
                        let Some((lan, ip)) =
                            self.lan_address(t, lan_names, &i.lan, &i.ip, r.name.get_ref(), addrs)
                        else {
                            continue;
                        };
                        interfaces.push(Interface {
                            name: format!("eth{k}"),
                            attachment: Attachment::Lan(lan),
                            ip,
                            public_ip: None,
                        });
                    }
                    let mut routes = Vec::new();
                    for rt in &r.routes {
                        if let (Some(prefix), Some(via)) = (self.cidr(&rt.prefix), self.ip(&rt.via))
                        {
                            routes.push(OfficeRoute {
                                prefix,
                                next_hop: NextHop::Via(via),
                                origin: RouteOrigin::Static,
                                source: "static".into(),
                            });
                        }
                    }
                    let security_groups = if kind == NodeKind::Gateway {
                        match &r.security_groups {
                            Some(list) if list.is_empty() => vec![],
                            Some(list) => self.sg_list(Some(list), sgs, 0, r.name.span()),
                            None => {
                                let d = self.warning(r.name.span(), format!("gateway `{}` has no security groups: nothing crosses its tunnels in either direction", r.name.get_ref()));
                                d.hint = Some("add `security_groups = [...]` with the policy for traffic from the VPC".into());
                                vec![]
                            }
                        }
                    } else {
                        if let Some(list) = &r.security_groups {
                            if let Some(first) = list.first() {
                                let d = self.error(
                                    first.span(),
                                    "an office router cannot have security groups",
                                );
                                d.hint = Some(
                                    "put the policy on the `[[site.gateway]]` that ends the VIF"
                                        .into(),
                                );
                            }
                        }
                        vec![]
                    };
                    if nodes.add(self, &r.name) {
                        t.nodes.push(Node {
                            name: r.name.get_ref().clone(),
                            kind: kind.clone(),
                            interfaces,
                            security_groups,
                            routes,
                            ephemeral_ports: PortRange::LINUX_EPHEMERAL,
                            source_dest_check: false,
                        });
                    }
                }
            }
        }
    }

    /// `[[site.host]]`: one interface on a LAN, a default route via its
    /// gateway (given, or the first router on the LAN).
    fn hosts(
        &mut self,
        raw: &RawTopology,
        t: &mut Topology,
        nodes: &mut NodeNames,
        addrs: &mut AddressBook,
        lan_names: &Names,
    ) {
        for site in &raw.site {
            for h in &site.host {
                let Some((lan, ip)) =
                    self.lan_address(t, lan_names, &h.lan, &h.ip, h.name.get_ref(), addrs)
                else {
                    continue;
                };
                let gateway = match &h.gateway {
                    Some(g) => self.ip(g).inspect(|&g| {
                        if !t.lans[lan].cidr.contains(&g) {
                            let d = self.error(
                                h.gateway
                                    .as_ref()
                                    .map(|g| g.span())
                                    .unwrap_or(h.name.span()),
                                format!(
                                    "gateway {g} is not in LAN `{}` ({})",
                                    t.lans[lan].name, t.lans[lan].cidr
                                ),
                            );
                            d.expected = Some("the address of a router on the host's LAN".into());
                        }
                    }),
                    None => t
                        .nodes
                        .iter()
                        .filter(|n| n.forwards())
                        .flat_map(|n| n.interfaces.iter())
                        .find(|i| i.attachment == Attachment::Lan(lan))
                        .map(|i| i.ip),
                };
                let mut routes = vec![];
                if let Some(g) = gateway {
                    routes.push(OfficeRoute {
                        prefix: Ipv4Net::default(),
                        next_hop: NextHop::Via(g),
                        origin: RouteOrigin::Static,
                        source: "default gateway".into(),
                    });
                }
                if nodes.add(self, &h.name) {
                    t.nodes.push(Node {
                        name: h.name.get_ref().clone(),
                        kind: NodeKind::OfficeHost,
                        interfaces: vec![Interface {
                            name: "eth0".into(),
                            attachment: Attachment::Lan(lan),
                            ip,
                            public_ip: None,
                        }],
                        security_groups: vec![],
                        routes,
                        ephemeral_ports: PortRange::LINUX_EPHEMERAL,
                        source_dest_check: true,
                    });
                }
            }
        }
    }

    /// Office routers' next hops must be on one of their LANs.
    pub(super) fn check_office_routes(
        &mut self,
        raw: &RawTopology,
        t: &Topology,
        nodes: &NodeNames,
    ) {
        for site in &raw.site {
            for r in site.router.iter().chain(&site.gateway) {
                let Some(&id) = nodes.names.get(r.name.get_ref()) else {
                    continue;
                };
                let node = &t.nodes[id];
                for rt in &r.routes {
                    let Ok(via) = rt.via.get_ref().parse::<Ipv4Addr>() else {
                        continue;
                    };
                    let on_lan = node.interfaces.iter().any(|i| match i.attachment {
                        Attachment::Lan(l) => t.lans[l].cidr.contains(&via),
                        _ => false,
                    });
                    if !on_lan {
                        let d = self.error(
                            rt.via.span(),
                            format!("next hop {via} is not on any LAN of `{}`", r.name.get_ref()),
                        );
                        d.expected =
                            Some("a neighbour's address on one of the router's LANs".into());
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{diagnostics, hint, load};
    use crate::model::{NextHop, NodeKind};

    #[test]
    fn a_host_routes_by_default_via_the_router_on_its_lan() {
        let (t, _) = load(
            "\n[[site.lan]]\nname = \"lab\"\ncidr = \"192.168.2.0/24\"\n\n[[site.router]]\nname = \"r\"\ninterfaces = [{ lan = \"lab\", ip = \"192.168.2.1\" }]\n\n[[site.host]]\nname = \"bench\"\nlan = \"lab\"\nip = \"192.168.2.20\"\n",
        );
        let bench = &t.nodes[t.node_by_name("bench").expect("bench")];
        assert_eq!(bench.kind, NodeKind::OfficeHost);
        assert_eq!(
            bench.routes[0].next_hop,
            NextHop::Via("192.168.2.1".parse().expect("an address"))
        );
        assert_eq!(t.sites[0].lans, [0, 1]);
    }

    #[test]
    fn overlapping_lans_are_an_error() {
        let extra = "\n[[site.lan]]\nname = \"lan2\"\ncidr = \"192.168.1.128/25\"\n";
        assert_eq!(
            diagnostics(extra),
            ["t.toml:4:8: error: LAN block 192.168.1.128/25 overlaps LAN `lan` (192.168.1.0/24)"]
        );
        assert_eq!(hint(extra), "office LANs must not overlap");
    }

    #[test]
    fn a_next_hop_off_the_routers_lans_is_an_error() {
        let extra = "\n[[site.router]]\nname = \"r\"\ninterfaces = [{ lan = \"lan\", ip = \"192.168.1.2\" }]\nroutes = [{ prefix = \"10.9.0.0/16\", via = \"192.168.7.1\" }]\n";
        assert_eq!(
            diagnostics(extra),
            ["t.toml:5:43: error: next hop 192.168.7.1 is not on any LAN of `r`"]
        );
    }

    #[test]
    fn an_office_router_cannot_have_security_groups() {
        let extra = "\n[[site.router]]\nname = \"r\"\ninterfaces = [{ lan = \"lan\", ip = \"192.168.1.2\" }]\nsecurity_groups = [\"default\"]\n";
        assert_eq!(
            diagnostics(extra),
            ["t.toml:5:20: error: an office router cannot have security groups"]
        );
    }
}
