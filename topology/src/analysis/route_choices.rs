//! The BGP choices behind a trace (`reach --explain-routes`): at each hop
//! where a BGP speaker chose a route (the VGW, an office node ending a
//! session), every candidate it had for the matched prefix, best first,
//! with the step each loser lost on.

use ipnet::Ipv4Net;

use super::reach::Reach;
use super::trace::{Hop, Step};
use crate::bgp::BgpRoute;
use crate::model::Topology;

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
    let mut out = Vec::new();
    for (direction, hops) in [("request", &r.hops), ("reply", &r.reply_hops)] {
        out.extend(choices_on(t, direction, hops));
    }
    out
}

fn choices_on<'a>(
    t: &'a Topology,
    direction: &'static str,
    hops: &'a [Hop],
) -> impl Iterator<Item = RouteChoice> + 'a {
    hops.iter().flat_map(|h| &h.steps).filter_map(move |s| {
        let Step::Route { table, prefix, .. } = s else {
            return None;
        };
        let prefix: Ipv4Net = prefix.parse().ok()?;
        let candidates: Vec<BgpRoute> = t
            .bgp()
            .candidates(table, prefix)
            .into_iter()
            .cloned()
            .collect();
        (!candidates.is_empty()).then(|| RouteChoice {
            direction,
            speaker: table.clone(),
            prefix,
            candidates,
        })
    })
}
