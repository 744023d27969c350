//! A [`BgpReport`] for humans, as `show ip bgp` would show it on each
//! side: the sessions with their state, then per speaker its received
//! table (best path marked `*>`) and what it advertises. `vifgate sim bgp`
//! prints the live daemons with it.

use std::fmt::Write as _;

use topology::bgp::{
    Advertisement, BgpReport, BgpRoute, BgpSession, Community, RouteSource, SessionKind,
    SessionState, Side,
};

/// Prints a report (see [`render_bgp_report`]).
pub fn print_bgp_report(r: &BgpReport) {
    print!("{}", render_bgp_report(r));
}

/// The report as text.
pub fn render_bgp_report(r: &BgpReport) -> String {
    let mut out = String::from("sessions:\n");
    if r.sessions.is_empty() {
        out.push_str("  (none)\n");
    }
    for s in &r.sessions {
        session(&mut out, s);
    }
    for sp in &r.speakers {
        let side = match sp.side {
            Side::Aws => "AWS",
            Side::Office => "office",
        };
        let _ = writeln!(out, "\n{} ({side}, AS{}):", sp.name, sp.asn);
        out.push_str("  received:\n");
        if sp.received.is_empty() {
            out.push_str("    (none)\n");
        } else {
            let _ = writeln!(
                out,
                "       {:<18} {:<15} {:>6} {:>5}  {:<20} {:<22} session",
                "network", "next hop", "locprf", "med", "as path", "communities"
            );
        }
        for rt in &sp.received {
            route(&mut out, rt);
        }
        out.push_str("  advertised:\n");
        if sp.advertised.is_empty() {
            out.push_str("    (none)\n");
        }
        for a in &sp.advertised {
            advertisement(&mut out, a);
        }
    }
    out
}

fn session(out: &mut String, s: &BgpSession) {
    let kind = match s.kind {
        SessionKind::DirectConnect => "Direct Connect",
        SessionKind::Vpn => "VPN",
    };
    let state = match (s.state, &s.reason) {
        (SessionState::Established, _) => "Established".to_string(),
        (SessionState::Idle, Some(r)) => format!("Idle ({r})"),
        (SessionState::Idle, None) => "Idle".to_string(),
    };
    let _ = writeln!(
        out,
        "  {} ({kind}): {} AS{} {} <-> AWS AS{} {}: {state}",
        s.name, s.office_node, s.office_asn, s.office_address, s.amazon_asn, s.amazon_address
    );
    if s.state == SessionState::Established {
        let _ = write!(
            out,
            "    hold {} s, keepalive {} s",
            s.hold_time, s.keepalive
        );
        match s.bfd_detect_ms {
            Some(ms) => {
                let _ = writeln!(out, ", BFD detection {ms} ms");
            }
            None => out.push_str(", no BFD\n"),
        }
    }
}

fn route(out: &mut String, r: &BgpRoute) {
    let source = match r.source {
        RouteSource::DirectConnectBgp => "DX BGP",
        RouteSource::VpnStatic => "VPN static",
        RouteSource::VpnBgp => "VPN BGP",
    };
    let _ = writeln!(
        out,
        "    {} {:<18} {:<15} {:>6} {:>5}  {:<20} {:<22} {} ({source}){}",
        if r.best { "*>" } else { "* " },
        r.prefix.to_string(),
        r.next_hop.to_string(),
        r.local_pref,
        r.med.map(|m| m.to_string()).unwrap_or_else(|| "-".into()),
        path(&r.as_path),
        communities(&r.communities),
        r.session,
        r.lost_on
            .as_deref()
            .map(|l| format!(", lost on {l}"))
            .unwrap_or_default()
    );
}

fn advertisement(out: &mut String, a: &Advertisement) {
    let _ = writeln!(
        out,
        "    {:<18} over {:<12} as path {:<20} {}",
        a.prefix.to_string(),
        a.session,
        path(&a.as_path),
        communities(&a.communities)
    );
}

fn path(p: &[u32]) -> String {
    if p.is_empty() {
        return "-".into();
    }
    p.iter().map(u32::to_string).collect::<Vec<_>>().join(" ")
}

fn communities(c: &[Community]) -> String {
    if c.is_empty() {
        return "-".into();
    }
    c.iter()
        .map(Community::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use topology::bgp::BgpSpeaker;

    fn report() -> BgpReport {
        BgpReport {
            sessions: vec![BgpSession {
                name: "dx-vif".into(),
                kind: SessionKind::DirectConnect,
                office_node: "vifgate-office".into(),
                office_asn: 65010,
                office_address: "169.254.100.1".parse().expect("addr"),
                amazon_asn: 64512,
                amazon_address: "169.254.100.2".parse().expect("addr"),
                state: SessionState::Established,
                reason: None,
                hold_time: 90,
                keepalive: 30,
                bfd_detect_ms: Some(900),
            }],
            speakers: vec![BgpSpeaker {
                name: "vgw".into(),
                side: Side::Aws,
                asn: 64512,
                received: vec![BgpRoute {
                    prefix: "192.168.20.0/24".parse().expect("net"),
                    session: "dx-vif".into(),
                    source: RouteSource::DirectConnectBgp,
                    next_hop: "169.254.100.1".parse().expect("addr"),
                    as_path: vec![65010, 65010],
                    communities: vec![Community::AWS_HIGH],
                    local_pref: 300,
                    med: None,
                    best: true,
                    lost_on: None,
                }],
                advertised: vec![Advertisement {
                    session: "dx-vif".into(),
                    prefix: "10.0.0.0/16".parse().expect("net"),
                    as_path: vec![64512],
                    communities: vec![],
                }],
            }],
        }
    }

    #[test]
    fn sessions_tables_and_advertisements() {
        let text = render_bgp_report(&report());
        for want in [
            "  dx-vif (Direct Connect): vifgate-office AS65010 169.254.100.1 <-> AWS AS64512 169.254.100.2: Established\n",
            "    hold 90 s, keepalive 30 s, BFD detection 900 ms\n",
            "vgw (AWS, AS64512):\n",
            "    *> 192.168.20.0/24",
            "65010 65010",
            "7224:7300",
            "dx-vif (DX BGP)",
            "    10.0.0.0/16        over dx-vif       as path 64512",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
    }

    #[test]
    fn an_idle_session_says_why_and_an_empty_report_says_so() {
        let mut r = report();
        r.sessions[0].state = SessionState::Idle;
        r.sessions[0].reason = Some("Route limit exceeded".into());
        let text = render_bgp_report(&r);
        assert!(text.contains(": Idle (Route limit exceeded)\n"), "{text}");
        assert!(!text.contains("hold 90"));
        let empty = render_bgp_report(&BgpReport::default());
        assert_eq!(empty, "sessions:\n  (none)\n");
    }
}
