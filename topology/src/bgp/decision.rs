//! The BGP decision process of each side, as the lab's daemons are
//! configured to run it: the candidates for one prefix in, the same
//! candidates out, best first, each loser marked with the step that ruled
//! it out.
//!
//! AWS's side (the VGW, AWS's documented order; BIRD in the lab):
//! source preference (Direct Connect BGP over VPN static over VPN BGP,
//! whatever the AS path), local preference from the 7224:7x00
//! communities, AS path length, MED, the sender's router ID, the
//! neighbour's address. The office side: local preference, AS path
//! length, MED, router ID (the VGW's, the same for every session), the
//! neighbour's address. Longest prefix comes before all of these, but
//! between prefixes: each prefix has its own candidates, and a lookup
//! takes the most specific prefix that has a best route.

use std::cmp::Ordering;
use std::net::Ipv4Addr;

use super::report::{BgpRoute, RouteSource};

/// One route competing for a prefix, with what the decision needs beyond
/// the route itself.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The route as the speaker's table shows it.
    pub route: BgpRoute,
    /// The BGP router ID of the speaker that sent it (for a VPN static
    /// route: the office node's, unused).
    pub router_id: Ipv4Addr,
}

/// One step of a decision process: which of two candidates it prefers,
/// and the words for why the loser lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Criterion {
    /// Source preference (BIRD's protocol `preference`): DX BGP 200, VPN
    /// static 150, VPN BGP 100. Higher wins.
    Preference,
    /// Local preference. Higher wins.
    LocalPref,
    /// AS path length, prepends counted. Shorter wins.
    AsPathLength,
    /// Multi-exit discriminator, none counted as 0. Lower wins.
    Med,
    /// The sender's router ID. Lower wins.
    RouterId,
    /// The neighbour's address. Lower wins.
    NeighbourAddress,
}

/// AWS's order on the VGW.
const AWS_ORDER: [Criterion; 6] = [
    Criterion::Preference,
    Criterion::LocalPref,
    Criterion::AsPathLength,
    Criterion::Med,
    Criterion::RouterId,
    Criterion::NeighbourAddress,
];

/// The office side's order (BIRD, and FRR with `bgp bestpath
/// compare-routerid`).
const OFFICE_ORDER: [Criterion; 5] = [
    Criterion::LocalPref,
    Criterion::AsPathLength,
    Criterion::Med,
    Criterion::RouterId,
    Criterion::NeighbourAddress,
];

/// The preference BIRD gives each source of routes on the VGW (higher
/// wins): what makes Direct Connect win over a VPN whatever the AS path.
pub fn source_preference(source: RouteSource) -> u32 {
    match source {
        RouteSource::DirectConnectBgp => 200,
        RouteSource::VpnStatic => 150,
        RouteSource::VpnBgp => 100,
    }
}

/// How a source is named in a `lost_on`.
fn source_name(source: RouteSource) -> &'static str {
    match source {
        RouteSource::DirectConnectBgp => "DX BGP",
        RouteSource::VpnStatic => "VPN static",
        RouteSource::VpnBgp => "VPN BGP",
    }
}

impl Criterion {
    /// `Less` when `a` is better than `b` by this step alone.
    fn compare(self, a: &Candidate, b: &Candidate) -> Ordering {
        let (ra, rb) = (&a.route, &b.route);
        match self {
            Criterion::Preference => {
                source_preference(rb.source).cmp(&source_preference(ra.source))
            }
            Criterion::LocalPref => rb.local_pref.cmp(&ra.local_pref),
            Criterion::AsPathLength => ra.as_path.len().cmp(&rb.as_path.len()),
            Criterion::Med => ra.med.unwrap_or(0).cmp(&rb.med.unwrap_or(0)),
            Criterion::RouterId => a.router_id.cmp(&b.router_id),
            Criterion::NeighbourAddress => ra.next_hop.cmp(&rb.next_hop),
        }
    }

    /// Why `loser` lost to `winner` at this step.
    fn explain(self, winner: &Candidate, loser: &Candidate) -> String {
        let (w, l) = (&winner.route, &loser.route);
        match self {
            Criterion::Preference => format!(
                "preference: {} over {}",
                source_name(w.source),
                source_name(l.source)
            ),
            Criterion::LocalPref => {
                format!("local preference {} < {}", l.local_pref, w.local_pref)
            }
            Criterion::AsPathLength => {
                format!("AS path {} > {}", l.as_path.len(), w.as_path.len())
            }
            Criterion::Med => format!("MED {} > {}", l.med.unwrap_or(0), w.med.unwrap_or(0)),
            Criterion::RouterId => {
                format!("router id {} > {}", loser.router_id, winner.router_id)
            }
            Criterion::NeighbourAddress => {
                format!("neighbour address {} > {}", l.next_hop, w.next_hop)
            }
        }
    }
}

/// Ranks one prefix's candidates on AWS's side: best first, marked
/// `best`, every other one with its `lost_on`.
pub fn decide_aws(candidates: Vec<Candidate>) -> Vec<BgpRoute> {
    decide(candidates, &AWS_ORDER)
}

/// Ranks one prefix's candidates on an office node: best first, marked
/// `best`, every other one with its `lost_on`.
pub fn decide_office(candidates: Vec<Candidate>) -> Vec<BgpRoute> {
    decide(candidates, &OFFICE_ORDER)
}

/// Sorts by `order` (stable: the input order breaks a complete tie) and
/// explains each loser against the best.
fn decide(mut candidates: Vec<Candidate>, order: &[Criterion]) -> Vec<BgpRoute> {
    candidates.sort_by(|a, b| {
        order
            .iter()
            .map(|c| c.compare(a, b))
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
    });
    let Some(best) = candidates.first().cloned() else {
        return Vec::new();
    };
    candidates
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            let lost_on = (i > 0).then(|| {
                order
                    .iter()
                    .find(|k| k.compare(&best, &c).is_lt())
                    .map(|k| k.explain(&best, &c))
                    .unwrap_or_else(|| "equal to the best path (older route kept)".into())
            });
            BgpRoute {
                best: i == 0,
                lost_on,
                ..c.route
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::bgp::Community;

    fn route(session: &str, source: RouteSource, hop: &str, path: &[u32], lp: u32) -> BgpRoute {
        BgpRoute {
            prefix: "192.168.10.0/24".parse().expect("a prefix"),
            session: session.into(),
            source,
            next_hop: hop.parse().expect("an address"),
            as_path: path.to_vec(),
            communities: vec![Community::AWS_MEDIUM],
            local_pref: lp,
            med: None,
            best: false,
            lost_on: None,
        }
    }

    fn cand(r: BgpRoute, id: &str) -> Candidate {
        Candidate {
            route: r,
            router_id: id.parse().expect("an address"),
        }
    }

    fn summary(routes: &[BgpRoute]) -> Vec<(String, bool, Option<String>)> {
        routes
            .iter()
            .map(|r| (r.session.clone(), r.best, r.lost_on.clone()))
            .collect()
    }

    #[test]
    fn each_aws_step_decides_when_the_ones_before_tie() {
        use RouteSource::*;
        let base = || route("a", DirectConnectBgp, "169.254.1.1", &[65010], 200);
        // MED: only a step of its own when everything before it ties
        let mut low_med = route("b", DirectConnectBgp, "169.254.2.1", &[65010], 200);
        low_med.med = Some(0);
        let mut high_med = base();
        high_med.med = Some(50);
        let ranked = decide_aws(vec![cand(high_med, "10.0.0.1"), cand(low_med, "10.0.0.9")]);
        assert_eq!(
            summary(&ranked),
            [
                ("b".into(), true, None),
                ("a".into(), false, Some("MED 50 > 0".into()))
            ]
        );
        // router id, then the neighbour address
        let ranked = decide_aws(vec![
            cand(base(), "10.0.0.2"),
            cand(
                route("b", DirectConnectBgp, "169.254.2.1", &[65010], 200),
                "10.0.0.1",
            ),
        ]);
        assert_eq!(
            ranked[1].lost_on.as_deref(),
            Some("router id 10.0.0.2 > 10.0.0.1")
        );
        let ranked = decide_aws(vec![
            cand(
                route("b", DirectConnectBgp, "169.254.2.1", &[65010], 200),
                "10.0.0.1",
            ),
            cand(base(), "10.0.0.1"),
        ]);
        assert_eq!(ranked[0].session, "a");
        assert_eq!(
            ranked[1].lost_on.as_deref(),
            Some("neighbour address 169.254.2.1 > 169.254.1.1")
        );
    }

    #[test]
    fn on_the_office_side_the_source_does_not_count() {
        // a VPN BGP route with a higher local preference beats DX there
        let ranked = decide_office(vec![
            cand(
                route(
                    "dx",
                    RouteSource::DirectConnectBgp,
                    "169.254.1.2",
                    &[64512],
                    100,
                ),
                "169.254.1.2",
            ),
            cand(
                route("vpn", RouteSource::VpnBgp, "169.254.10.1", &[64512], 200),
                "169.254.1.2",
            ),
        ]);
        assert_eq!(
            summary(&ranked),
            [
                ("vpn".into(), true, None),
                (
                    "dx".into(),
                    false,
                    Some("local preference 100 < 200".into())
                )
            ]
        );
    }

    #[test]
    fn nothing_to_decide_is_nothing() {
        assert!(decide_aws(Vec::new()).is_empty());
    }
}
