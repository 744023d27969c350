//! Daemons' states, matched to a topology, as one [`BgpReport`]: each
//! daemon is the speaker whose router ID it has (the VGW's
//! [`VGW_ROUTER_ID`], an office node's [`office_router_id`]: the lab
//! configures them so), each of its sessions the VIF or VPN its name (or,
//! failing that, its neighbour address) says. Pure.
//!
//! Sessions and speakers no daemon answers for are left out of the report,
//! so that [`BgpReport::differences`] says "not running live" rather than
//! inventing a state. A session's state is the VGW's view (AWS's side is
//! always running), else the office's. What a speaker advertises over a
//! session is what its neighbour received over it.

use topology::bgp::{
    office_router_id, Advertisement, BgpReport, BgpRoute, BgpSession, BgpSpeaker, RouteSource,
    SessionState, Side, VGW_ROUTER_ID,
};
use topology::model::{NodeId, Topology};

use super::{DaemonState, LiveRoute, PeerState};
use crate::bgp::sessions::{office_nodes, sessions, SessionSpec as Spec};

/// Which side of a session a daemon is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Aws,
    Office(NodeId),
}

/// The daemon that plays `role`: the one with its router ID and the most
/// sessions of the topology (another daemon of the lab, as the VPC's, may
/// share the router ID but has none of them).
fn daemon_of<'a>(
    t: &Topology,
    specs: &[Spec],
    daemons: &'a [DaemonState],
    role: Role,
) -> Option<&'a DaemonState> {
    let id = match role {
        Role::Aws => VGW_ROUTER_ID,
        Role::Office(n) => office_router_id(t, n),
    };
    daemons
        .iter()
        .filter(|d| d.router_id == Some(id))
        .map(|d| {
            let known = d
                .peers
                .iter()
                .filter(|p| spec_of(specs, p, role).is_some())
                .count();
            (known, d)
        })
        .filter(|(known, _)| *known > 0)
        .max_by_key(|(known, _)| *known)
        .map(|(_, d)| d)
}

/// The session a daemon's peer is: by its name (the lab names sessions
/// after the VIF or VPN, [`Spec::protocol`]), else by neighbour address.
fn spec_of<'a>(specs: &'a [Spec], peer: &PeerState, role: Role) -> Option<&'a Spec> {
    let mine = |s: &&Spec| match role {
        Role::Aws => true,
        Role::Office(n) => s.office == n && s.is_bgp(),
    };
    let by_name = specs
        .iter()
        .filter(mine)
        .find(|s| peer.name == s.protocol());
    by_name.or_else(|| {
        let n = peer.neighbor?;
        specs.iter().filter(mine).find(|s| {
            s.is_bgp()
                && match role {
                    Role::Aws => s.office_address == n,
                    Role::Office(_) => s.amazon_address == n,
                }
        })
    })
}

/// The report of what `daemons` say about `t`.
pub fn report(t: &Topology, daemons: &[DaemonState]) -> BgpReport {
    let specs = sessions(t);
    let aws = daemon_of(t, &specs, daemons, Role::Aws);
    let office_daemons: Vec<(NodeId, &DaemonState)> = office_nodes(&specs)
        .iter()
        .filter_map(|&n| daemon_of(t, &specs, daemons, Role::Office(n)).map(|d| (n, d)))
        .collect();

    let sessions: Vec<BgpSession> = specs
        .iter()
        .filter(|s| s.is_bgp())
        .filter_map(|s| {
            let from_aws = aws.and_then(|d| peer_for(&specs, d, Role::Aws, s));
            let from_office = office_daemons
                .iter()
                .find(|(n, _)| *n == s.office)
                .and_then(|(n, d)| peer_for(&specs, d, Role::Office(*n), s));
            let p = from_aws.or(from_office)?;
            Some(BgpSession {
                name: s.name.clone(),
                kind: s.kind(),
                office_node: t.nodes[s.office].name.clone(),
                office_asn: s.office_asn,
                office_address: s.office_address,
                amazon_asn: s.amazon_asn,
                amazon_address: s.amazon_address,
                state: if p.established {
                    SessionState::Established
                } else {
                    SessionState::Idle
                },
                reason: if p.established {
                    None
                } else {
                    p.reason.clone()
                },
                hold_time: p.hold_time.unwrap_or(0),
                keepalive: p.keepalive.unwrap_or(0),
                bfd_detect_ms: p.bfd_detect_ms,
            })
        })
        .collect();

    let mut speakers = Vec::new();
    if let Some(d) = aws {
        let vgw = t.vpc.as_ref().and_then(|v| v.vgw.as_ref());
        speakers.push(BgpSpeaker {
            name: vgw
                .map(|v| v.name.clone())
                .unwrap_or_else(|| "vgw".to_string()),
            side: Side::Aws,
            asn: vgw
                .map(|v| v.asn)
                .or(specs.first().map(|s| s.amazon_asn))
                .unwrap_or_default(),
            received: received(&specs, d, Role::Aws),
            advertised: Vec::new(),
        });
    }
    for (n, d) in &office_daemons {
        speakers.push(BgpSpeaker {
            name: t.nodes[*n].name.clone(),
            side: Side::Office,
            asn: specs
                .iter()
                .find(|s| s.office == *n && s.is_bgp())
                .map(|s| s.office_asn)
                .unwrap_or_default(),
            received: received(&specs, d, Role::Office(*n)),
            advertised: Vec::new(),
        });
    }
    fill_advertised(&mut speakers, &sessions);
    BgpReport { sessions, speakers }
}

/// The peer of daemon `d` that is session `s`.
fn peer_for<'a>(specs: &[Spec], d: &'a DaemonState, role: Role, s: &Spec) -> Option<&'a PeerState> {
    d.peers
        .iter()
        .find(|p| spec_of(specs, p, role).map(|x| x.role) == Some(s.role))
}

/// A daemon's routes of the topology's sessions, as report routes, sorted
/// by prefix, best first.
fn received(specs: &[Spec], d: &DaemonState, role: Role) -> Vec<BgpRoute> {
    let mut out: Vec<BgpRoute> = d
        .routes
        .iter()
        .filter_map(|r| {
            let peer = d
                .peers
                .iter()
                .find(|p| p.name == r.from)
                .cloned()
                .unwrap_or(PeerState {
                    name: r.from.clone(),
                    ..PeerState::default()
                });
            let s = spec_of(specs, &peer, role)?;
            Some(route(s, r))
        })
        .collect();
    out.sort_by(|a, b| (a.prefix, !a.best, &a.session).cmp(&(b.prefix, !b.best, &b.session)));
    out
}

/// One live route as a report route. A static route has no local
/// preference (0); one that goes out through the VPN's device rather than
/// via an address has the office's end of the VPN as next hop.
fn route(s: &Spec, r: &LiveRoute) -> BgpRoute {
    let next_hop = if r.next_hop.is_unspecified() && !s.is_bgp() {
        s.office_address
    } else {
        r.next_hop
    };
    BgpRoute {
        prefix: r.prefix,
        session: s.name.clone(),
        source: s.source(),
        next_hop,
        as_path: r.as_path.clone(),
        communities: r.communities.clone(),
        local_pref: r.local_pref.unwrap_or(0),
        med: r.med,
        best: r.best,
        lost_on: None,
    }
}

/// What each speaker advertises over an Established session: what the
/// speaker on its other end received over it.
fn fill_advertised(speakers: &mut [BgpSpeaker], sessions: &[BgpSession]) {
    let up: Vec<&BgpSession> = sessions
        .iter()
        .filter(|s| s.state == SessionState::Established)
        .collect();
    let mut adverts: Vec<Vec<Advertisement>> = vec![Vec::new(); speakers.len()];
    for (i, sp) in speakers.iter().enumerate() {
        for s in &up {
            // the neighbour of `sp` over `s`
            let neighbour = match sp.side {
                Side::Aws => speakers
                    .iter()
                    .position(|o| o.side == Side::Office && o.name == s.office_node),
                Side::Office if sp.name == s.office_node => {
                    speakers.iter().position(|o| o.side == Side::Aws)
                }
                Side::Office => None,
            };
            let Some(j) = neighbour else { continue };
            adverts[i].extend(
                speakers[j]
                    .received
                    .iter()
                    .filter(|r| r.session == s.name && r.source != RouteSource::VpnStatic)
                    .map(|r| Advertisement {
                        session: s.name.clone(),
                        prefix: r.prefix,
                        as_path: r.as_path.clone(),
                        communities: r.communities.clone(),
                    }),
            );
        }
    }
    for (sp, a) in speakers.iter_mut().zip(adverts) {
        sp.advertised = a;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;
    use topology::bgp::Community;

    fn route(
        prefix: &str,
        from: &str,
        best: bool,
        as_path: &[u32],
        pref: Option<u32>,
    ) -> LiveRoute {
        LiveRoute {
            prefix: prefix.parse().expect("net"),
            from: from.into(),
            next_hop: Ipv4Addr::new(169, 254, 100, 1),
            as_path: as_path.to_vec(),
            communities: vec![Community::AWS_HIGH],
            local_pref: pref,
            med: None,
            best,
        }
    }

    fn peer(name: &str, neighbor: [u8; 4], established: bool) -> PeerState {
        PeerState {
            name: name.into(),
            neighbor: Some(neighbor.into()),
            established,
            reason: (!established).then(|| "Automatic shutdown: Route limit exceeded".into()),
            hold_time: established.then_some(90),
            keepalive: established.then_some(30),
            bfd_detect_ms: None,
        }
    }

    /// The example with its VPN on static routing (the daemons below play
    /// that).
    fn example_static_vpn() -> topology::Topology {
        let mut t = crate::example();
        if let Some(v) = t.vpn.as_mut() {
            v.bgp = false;
        }
        t
    }

    /// The example's VGW ([`VGW_ROUTER_ID`]) and office (192.168.0.2),
    /// and the VPC's BIRD sharing the VGW's router ID.
    fn daemons(dx_up: bool) -> Vec<DaemonState> {
        let vgw = DaemonState {
            router_id: Some(VGW_ROUTER_ID),
            peers: vec![
                peer("dx.dx-vif", [169, 254, 100, 1], dx_up),
                peer("vpn.vpn-backup", [0, 0, 0, 0], true),
                peer("vpc", [0, 0, 0, 0], true),
            ],
            routes: vec![
                LiveRoute {
                    next_hop: Ipv4Addr::UNSPECIFIED,
                    ..route("192.168.10.0/24", "vpn.vpn-backup", false, &[], None)
                },
                route("192.168.10.0/24", "dx.dx-vif", true, &[65010], Some(300)),
                route("10.0.0.0/16", "vpc", true, &[], None),
            ],
        };
        let vpc = DaemonState {
            router_id: Some(VGW_ROUTER_ID),
            peers: vec![peer("vgw", [169, 254, 200, 1], true)],
            routes: vec![route("192.168.10.0/24", "vgw", true, &[65010], Some(100))],
        };
        let office = DaemonState {
            router_id: Some(Ipv4Addr::new(192, 168, 0, 2)),
            // named by address, as FRR without a description
            peers: vec![peer("169.254.100.2", [169, 254, 100, 2], dx_up)],
            routes: vec![route(
                "10.0.0.0/16",
                "169.254.100.2",
                true,
                &[64512],
                Some(100),
            )],
        };
        vec![vpc, vgw, office]
    }

    #[test]
    fn daemons_become_speakers_and_sessions_of_the_topology() {
        let t = crate::example_static_vpn();
        let r = report(&t, &daemons(true));
        assert_eq!(r.sessions.len(), 1, "one BGP session: the VPN is static");
        let s = &r.sessions[0];
        assert_eq!(
            (s.name.as_str(), s.office_node.as_str()),
            ("dx-vif", "vifgate-office")
        );
        assert_eq!(
            (s.state, s.hold_time, s.keepalive),
            (SessionState::Established, 90, 30)
        );
        let names: Vec<&str> = r.speakers.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["vgw", "vifgate-office"]);
        let vgw = &r.speakers[0];
        assert_eq!((vgw.side, vgw.asn), (Side::Aws, 64512));
        assert_eq!(
            vgw.received.len(),
            2,
            "the VPC's own route is not a session's"
        );
        assert_eq!(
            (vgw.received[0].session.as_str(), vgw.received[0].best),
            ("dx-vif", true),
            "best first"
        );
        assert_eq!(vgw.received[0].source, RouteSource::DirectConnectBgp);
        assert_eq!(vgw.received[1].session, "vpn-backup");
        assert_eq!(
            (vgw.received[1].source, vgw.received[1].local_pref),
            (RouteSource::VpnStatic, 0)
        );
        assert_eq!(
            vgw.received[1].next_hop,
            t.vpn.as_ref().expect("vpn").customer_address,
            "a static route through the VPN's device: the office's end"
        );
        let office = &r.speakers[1];
        assert_eq!(office.received[0].session, "dx-vif", "matched by address");
        assert_eq!(office.advertised.len(), 1);
        assert_eq!(office.advertised[0].prefix, vgw.received[0].prefix);
        assert_eq!(vgw.advertised[0].as_path, [64512]);
    }

    #[test]
    fn a_session_down_keeps_its_reason_and_advertises_nothing() {
        let t = example_static_vpn();
        let r = report(&t, &daemons(false));
        let s = &r.sessions[0];
        assert_eq!(s.state, SessionState::Idle);
        assert_eq!(
            s.reason.as_deref(),
            Some("Automatic shutdown: Route limit exceeded")
        );
        assert_eq!((s.hold_time, s.keepalive), (0, 0));
        assert!(r.speakers.iter().all(|s| s.advertised.is_empty()));
    }

    #[test]
    fn a_name_of_another_lab_is_found_by_its_neighbour_address() {
        let t = example_static_vpn();
        let mut d = daemons(true);
        for p in &mut d[1].peers {
            p.name = p.name.replace("dx.dx-vif", "dx_0");
        }
        for r in &mut d[1].routes {
            r.from = r.from.replace("dx.dx-vif", "dx_0");
        }
        let r = report(&t, &d);
        assert_eq!(r.sessions[0].state, SessionState::Established);
        let sessions: Vec<&str> = r.speakers[0]
            .received
            .iter()
            .map(|r| r.session.as_str())
            .collect();
        assert_eq!(sessions, ["dx-vif", "vpn-backup"]);
    }

    #[test]
    fn what_no_daemon_answers_for_is_left_out() {
        let t = example_static_vpn();
        let mut d = daemons(true);
        d.pop(); // no office daemon
        let r = report(&t, &d);
        assert_eq!(r.speakers.len(), 1);
        let r = report(&t, &[]);
        assert!(r.sessions.is_empty() && r.speakers.is_empty());
        let predicted = report(&t, &daemons(true));
        let diff = predicted.differences(&r);
        assert!(
            diff.iter().any(|l| l.contains("not running live")),
            "{diff:?}"
        );
    }
}
