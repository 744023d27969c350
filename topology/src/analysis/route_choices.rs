//! The BGP choices behind a trace (`reach --explain-routes`): at each hop
//! where a BGP speaker chose a route (the VGW, an office node ending a
//! session), every candidate it had for the matched prefix, best first,
//! with the step each loser lost on. At the office end of a static VPN,
//! its static route to the VPC is a candidate too, after the BGP routes
//! (the office's order: its best BGP route, then the static VPN's).

use ipnet::Ipv4Net;

use super::reach::Reach;
use super::trace::{Hop, Step};
use crate::bgp::{BgpReport, BgpRoute, RouteSource};
use crate::model::Topology;

/// Why a static VPN's route at the office loses to a BGP route.
const STATIC_AFTER_BGP: &str = "a BGP route comes before the static VPN's";

/// One BGP decision met on a trace.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RouteChoice {
    /// `request` or `reply`.
    pub direction: &'static str,
    /// The speaker that chose (the VGW's or an office node's name).
    pub speaker: String,
    /// The matched prefix.
    pub prefix: Ipv4Net,
    /// Its candidates, best first; losers carry `lost_on`.
    pub candidates: Vec<BgpRoute>,
}

/// The BGP decisions on the deciding path of `r`, in trace order.
pub fn route_choices(t: &Topology, r: &Reach) -> Vec<RouteChoice> {
    let report = crate::bgp::analyse(t);
    let mut out = Vec::new();
    for (direction, hops) in [("request", &r.hops), ("reply", &r.reply_hops)] {
        out.extend(choices_on(t, &report, direction, hops));
    }
    out
}

fn choices_on<'a>(
    t: &'a Topology,
    report: &'a BgpReport,
    direction: &'static str,
    hops: &'a [Hop],
) -> impl Iterator<Item = RouteChoice> + 'a {
    hops.iter().flat_map(|h| &h.steps).filter_map(move |s| {
        let Step::Route { table, prefix, .. } = s else {
            return None;
        };
        let prefix: Ipv4Net = prefix.parse().ok()?;
        let mut candidates: Vec<BgpRoute> = report
            .candidates(table, prefix)
            .into_iter()
            .cloned()
            .collect();
        candidates.extend(office_static_vpn(t, table, prefix, &candidates));
        (!candidates.is_empty()).then(|| RouteChoice {
            direction,
            speaker: table.clone(),
            prefix,
            candidates,
        })
    })
}

/// The static VPN's route to the VPC at office node `speaker`, as a
/// candidate after `bgp` (best when no BGP route is): `None` unless that
/// node ends a static VPN that is up and `prefix` is the VPC's block.
fn office_static_vpn(
    t: &Topology,
    speaker: &str,
    prefix: Ipv4Net,
    bgp: &[BgpRoute],
) -> Option<BgpRoute> {
    let vpn = t.vpn.as_ref().filter(|v| !v.bgp && v.up)?;
    let vpc = t.vpc.as_ref().filter(|v| v.cidr == prefix)?;
    if t.nodes[vpn.customer_gateway].name != speaker {
        return None;
    }
    let best = !bgp.iter().any(|r| r.best);
    Some(BgpRoute {
        prefix: vpc.cidr,
        session: vpn.name.clone(),
        source: RouteSource::VpnStatic,
        next_hop: vpn.amazon_address,
        as_path: Vec::new(),
        communities: Vec::new(),
        local_pref: 0,
        med: None,
        best,
        lost_on: (!best).then(|| STATIC_AFTER_BGP.to_string()),
    })
}
