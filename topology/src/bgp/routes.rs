//! The analysis put into the model: the VGW's table holds the AWS side's
//! best route of each prefix, each office node routes to the VPC by its
//! best BGP route (then a static VPN's route), and each VIF says whether
//! its session is up. The resolver calls [`install`] once every VIF and
//! the VPN are known; the reachability analysis and the simulator read
//! the result ([`Topology::vgw_route`], [`Topology::office_rib`]).

use ipnet::Ipv4Net;

use crate::model::{NextHop, OfficeRib, OfficeRoute, Topology, VgwPath};
use crate::route_table::{Lpm, RouteOrigin};

use super::report::{BgpRoute, RouteSource, SessionState, Side};
use super::rib::{analyse, describe};

/// The VGW's link for a route of its table.
pub fn vgw_path(t: &Topology, r: &BgpRoute) -> Option<VgwPath> {
    match r.source {
        RouteSource::DirectConnectBgp => t
            .vifs
            .iter()
            .position(|v| v.name == r.session)
            .map(VgwPath::Vif),
        RouteSource::VpnStatic | RouteSource::VpnBgp => t.vpn.as_ref().map(|_| VgwPath::Vpn),
    }
}

/// Whether an office route goes over a VIF or the VPN (the routes this
/// module owns).
fn over_a_tunnel(r: &OfficeRoute) -> bool {
    matches!(r.next_hop, NextHop::Vif(_) | NextHop::Vpn)
}

/// Analyses `t` and puts the result into it: the VIFs' `bgp_up` and
/// `down_reason`, the office nodes' routes over a VIF or the VPN (and
/// their routing tables, once built) and the VGW's best routes
/// ([`Topology::vgw_routes`]); the report itself is not kept (call
/// [`analyse`] again for it). Called again after a change, it replaces what the
/// last call installed. The VPC route tables' propagated routes are the
/// resolver's, made once from [`Topology::vgw_routes`].
pub fn install(t: &mut Topology) {
    let report = analyse(t);
    for v in &mut t.vifs {
        if let Some(s) = report
            .session(&v.name)
            .filter(|s| s.kind == super::SessionKind::DirectConnect)
        {
            v.bgp_up = s.state == SessionState::Established;
            v.down_reason = s.reason.clone();
        }
    }
    // the office side: each node's best BGP route, then a static VPN's
    let mut learned: Vec<(usize, OfficeRoute)> = Vec::new();
    for sp in report.speakers.iter().filter(|s| s.side == Side::Office) {
        let Some(node) = t.node_by_name(&sp.name) else {
            continue;
        };
        for r in sp.received.iter().filter(|r| r.best) {
            let next_hop = match vgw_path(t, r) {
                Some(VgwPath::Vif(i)) => NextHop::Vif(i),
                Some(VgwPath::Vpn) => NextHop::Vpn,
                None => continue,
            };
            learned.push((
                node,
                OfficeRoute {
                    prefix: r.prefix,
                    next_hop,
                    origin: RouteOrigin::Propagated,
                    source: describe(r),
                },
            ));
        }
    }
    if let (Some(vpc), Some(vpn)) = (&t.vpc, &t.vpn) {
        if !vpn.bgp && vpn.up {
            learned.push((
                vpn.customer_gateway,
                OfficeRoute {
                    prefix: vpc.cidr,
                    next_hop: NextHop::Vpn,
                    origin: RouteOrigin::Propagated,
                    source: format!("static over VPN {}", vpn.name),
                },
            ));
        }
    }
    for node in &mut t.nodes {
        node.routes.retain(|r| !over_a_tunnel(r));
    }
    for (n, r) in learned {
        t.nodes[n].routes.push(r);
    }
    // routing tables built already (a second call): rebuilt the same way
    let nodes: Vec<usize> = t.office_ribs.keys().copied().collect();
    for n in nodes {
        let mut routes: Vec<OfficeRoute> = t.office_ribs[&n]
            .routes
            .iter()
            .filter(|r| !over_a_tunnel(r))
            .cloned()
            .collect();
        routes.extend(
            t.nodes[n]
                .routes
                .iter()
                .filter(|r| over_a_tunnel(r))
                .cloned(),
        );
        t.office_ribs.insert(n, OfficeRib::new(routes));
    }
    // the VGW: the best route of each prefix
    let best: Vec<(Ipv4Net, VgwPath)> = report
        .speakers
        .iter()
        .filter(|s| s.side == Side::Aws)
        .flat_map(|s| s.received.iter().filter(|r| r.best))
        .filter_map(|r| Some((r.prefix, vgw_path(t, r)?)))
        .collect();
    let mut table = Lpm::new();
    for &(prefix, path) in &best {
        table.insert(prefix, path);
    }
    t.vgw_table = table;
    t.vgw_routes = best;
}
