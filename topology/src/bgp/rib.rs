//! Each speaker's table: what the VGW receives from the office (and its
//! VPN static routes), what each office node receives from the VGW, the
//! best path of every prefix, and what each side advertises.
//!
//! The VGW learns the office's prefixes over every Established session:
//! AS path the office's ASN plus `prepend` copies, the communities as
//! written, local preference from AWS's communities (7224:7100 → 100,
//! 7224:7200 → 200, 7224:7300 → 300, none → 200; with several, the
//! highest). A VPN with static routing gives it a static route per
//! prefix while the VPN is up. It advertises the VPC's block over every
//! Established session with AS path its own ASN. An office node learns
//! that block over each of its Established sessions, with the session's
//! `local_preference` (100 by default).

use std::collections::BTreeMap;

use ipnet::Ipv4Net;

use super::decision::{decide_aws, decide_office, Candidate};
use super::report::{Advertisement, BgpReport, BgpRoute, BgpSpeaker, RouteSource, Side};
use super::sessions::{peerings, Peering};
use super::{office_router_id, VGW_ROUTER_ID};
use crate::model::bgp::{AdvertisedPrefix, Community};
use crate::model::{NodeId, Topology};

/// AWS's local preference for a route carrying `communities`.
pub fn aws_local_pref(communities: &[Community]) -> u32 {
    let levels = [
        (Community::AWS_HIGH, 300),
        (Community::AWS_MEDIUM, 200),
        (Community::AWS_LOW, 100),
    ];
    levels
        .iter()
        .find(|(c, _)| communities.contains(c))
        .map(|(_, lp)| *lp)
        .unwrap_or(200)
}

/// The AS path a neighbour receives for a prefix advertised by `asn`.
fn as_path(asn: u32, p: &AdvertisedPrefix) -> Vec<u32> {
    vec![asn; 1 + usize::from(p.prepend)]
}

/// What BGP does with the topology: every session's state and timers,
/// and each speaker's table with its best paths, as the lab's daemons
/// (BIRD on AWS's side, BIRD or FRR on the office's) are configured to
/// compute them.
pub fn analyse(t: &Topology) -> BgpReport {
    let peerings = peerings(t);
    let mut speakers = Vec::new();
    if let Some(vgw) = aws_speaker(t, &peerings) {
        speakers.push(vgw);
    }
    let mut nodes: Vec<NodeId> = Vec::new();
    for p in &peerings {
        if !nodes.contains(&p.node) {
            nodes.push(p.node);
        }
    }
    speakers.extend(nodes.into_iter().map(|n| office_speaker(t, n, &peerings)));
    BgpReport {
        sessions: peerings.into_iter().map(|p| p.session).collect(),
        speakers,
    }
}

/// The VGW's table, when the VPC has a VGW with a VIF or a VPN on it.
fn aws_speaker(t: &Topology, peerings: &[Peering<'_>]) -> Option<BgpSpeaker> {
    let vpc = t.vpc.as_ref()?;
    let vgw = vpc.vgw.as_ref()?;
    if t.vifs.is_empty() && t.vpn.is_none() {
        return None;
    }
    let mut by_prefix: BTreeMap<Ipv4Net, Vec<Candidate>> = BTreeMap::new();
    let mut advertised = Vec::new();
    for p in peerings.iter().filter(|p| p.established()) {
        let router_id = office_router_id(t, p.node);
        for a in p.advertised {
            by_prefix.entry(a.prefix).or_default().push(Candidate {
                route: BgpRoute {
                    prefix: a.prefix,
                    session: p.session.name.clone(),
                    source: p.source,
                    next_hop: p.session.office_address,
                    as_path: as_path(p.session.office_asn, a),
                    communities: a.communities.clone(),
                    local_pref: aws_local_pref(&a.communities),
                    med: None,
                    best: false,
                    lost_on: None,
                },
                router_id,
            });
        }
        advertised.push(Advertisement {
            session: p.session.name.clone(),
            prefix: vpc.cidr,
            as_path: vec![vgw.asn],
            communities: Vec::new(),
        });
    }
    if let Some(vpn) = t.vpn.as_ref().filter(|v| !v.bgp && v.up) {
        let router_id = office_router_id(t, vpn.customer_gateway);
        for prefix in vpn.prefixes() {
            by_prefix.entry(prefix).or_default().push(Candidate {
                route: BgpRoute {
                    prefix,
                    session: vpn.name.clone(),
                    source: RouteSource::VpnStatic,
                    next_hop: vpn.customer_address,
                    as_path: Vec::new(),
                    communities: Vec::new(),
                    local_pref: 0,
                    med: None,
                    best: false,
                    lost_on: None,
                },
                router_id,
            });
        }
    }
    Some(BgpSpeaker {
        name: vgw.name.clone(),
        side: Side::Aws,
        asn: vgw.asn,
        received: by_prefix.into_values().flat_map(decide_aws).collect(),
        advertised,
    })
}

/// An office node's table: the VPC's block over each of its Established
/// sessions, and what it advertises.
fn office_speaker(t: &Topology, node: NodeId, peerings: &[Peering<'_>]) -> BgpSpeaker {
    let mine: Vec<&Peering<'_>> = peerings.iter().filter(|p| p.node == node).collect();
    let asn = mine.first().map(|p| p.session.office_asn).unwrap_or(0);
    let mut candidates = Vec::new();
    let mut advertised = Vec::new();
    for p in mine.iter().filter(|p| p.established()) {
        if let Some(vpc) = &t.vpc {
            candidates.push(Candidate {
                route: BgpRoute {
                    prefix: vpc.cidr,
                    session: p.session.name.clone(),
                    source: p.source,
                    next_hop: p.session.amazon_address,
                    as_path: vec![p.session.amazon_asn],
                    communities: Vec::new(),
                    local_pref: p.local_pref,
                    med: None,
                    best: false,
                    lost_on: None,
                },
                router_id: VGW_ROUTER_ID,
            });
        }
        for a in p.advertised {
            advertised.push(Advertisement {
                session: p.session.name.clone(),
                prefix: a.prefix,
                as_path: as_path(p.session.office_asn, a),
                communities: a.communities.clone(),
            });
        }
    }
    BgpSpeaker {
        name: t.nodes[node].name.clone(),
        side: Side::Office,
        asn,
        received: decide_office(candidates),
        advertised,
    }
}

/// How a trace names a route: `bgp from AS 65010 over dx-vif-2, community
/// 7224:7300, local-pref 300, AS path 65010 65010`, or `static over VPN
/// vpn-backup`.
pub fn describe(r: &BgpRoute) -> String {
    if r.source == RouteSource::VpnStatic {
        return format!("static over VPN {}", r.session);
    }
    let mut s = format!(
        "bgp from AS {} over {}",
        r.as_path.first().copied().unwrap_or_default(),
        r.session
    );
    if !r.communities.is_empty() {
        let list: Vec<String> = r.communities.iter().map(|c| c.to_string()).collect();
        let word = if list.len() == 1 {
            "community"
        } else {
            "communities"
        };
        s.push_str(&format!(", {word} {}", list.join(" ")));
    }
    s.push_str(&format!(", local-pref {}", r.local_pref));
    if let Some(med) = r.med {
        s.push_str(&format!(", MED {med}"));
    }
    let path: Vec<String> = r.as_path.iter().map(|a| a.to_string()).collect();
    s.push_str(&format!(", AS path {}", path.join(" ")));
    s
}

impl BgpReport {
    /// The speaker with this name (the VGW's or an office node's).
    pub fn speaker(&self, name: &str) -> Option<&BgpSpeaker> {
        self.speakers.iter().find(|s| s.name == name)
    }

    /// What `speaker` has for exactly `prefix`, best first (empty when it
    /// has nothing or is not a speaker).
    pub fn candidates(&self, speaker: &str, prefix: Ipv4Net) -> Vec<&BgpRoute> {
        self.speaker(speaker)
            .map(|s| s.received.iter().filter(|r| r.prefix == prefix).collect())
            .unwrap_or_default()
    }

    /// The session with this name.
    pub fn session(&self, name: &str) -> Option<&super::BgpSession> {
        self.sessions.iter().find(|s| s.name == name)
    }
}
