//! The human form of a [`BgpReport`], the one printer of both
//! `vifgate topology bgp` (the prediction) and `vifgate sim bgp` (the live
//! daemons): the sessions, then per speaker a `show ip bgp`-like table of
//! what it received, best path marked `*>`, each loser with the step it
//! lost on (the prediction only: a daemon does not say), and what it
//! advertises. An Idle session has no timers in use, so none are shown.

use std::fmt::Write as _;

use super::report::{BgpReport, BgpRoute, BgpSession, BgpSpeaker, SessionKind, SessionState, Side};

/// A list of numbers or communities, `-` when empty.
fn words<T: ToString>(items: &[T]) -> String {
    if items.is_empty() {
        return "-".into();
    }
    items.iter().map(T::to_string).collect::<Vec<_>>().join(" ")
}

impl BgpReport {
    /// The report as text: stable (file order, then prefix order) and one
    /// line per session, route and advertisement.
    pub fn render(&self) -> String {
        let mut o = String::new();
        if self.sessions.is_empty() {
            let _ = writeln!(o, "sessions: none");
        } else {
            let _ = writeln!(o, "sessions:");
            for s in &self.sessions {
                render_session(&mut o, s);
            }
        }
        for sp in &self.speakers {
            o.push('\n');
            render_speaker(&mut o, sp);
        }
        o
    }
}

fn render_session(o: &mut String, s: &BgpSession) {
    let kind = match s.kind {
        SessionKind::DirectConnect => "direct connect",
        SessionKind::Vpn => "vpn",
    };
    let state = match &s.reason {
        Some(r) => format!("{:?} ({r})", s.state),
        None => format!("{:?}", s.state),
    };
    let _ = writeln!(o, "  {} ({kind}): {state}", s.name);
    let _ = writeln!(
        o,
        "    {} AS {} {} <-> AS {} {}",
        s.office_node, s.office_asn, s.office_address, s.amazon_asn, s.amazon_address
    );
    if s.state == SessionState::Idle {
        return;
    }
    let bfd = match s.bfd_detect_ms {
        Some(ms) => format!("BFD detection {ms} ms"),
        None => "no BFD".into(),
    };
    let _ = writeln!(
        o,
        "    hold {} s, keepalive {} s, {bfd}",
        s.hold_time, s.keepalive
    );
}

fn render_speaker(o: &mut String, sp: &BgpSpeaker) {
    let side = match sp.side {
        Side::Aws => "AWS",
        Side::Office => "office",
    };
    let _ = writeln!(o, "{} ({side}, AS {}):", sp.name, sp.asn);
    if sp.received.is_empty() {
        let _ = writeln!(o, "  received: nothing");
    } else {
        let _ = writeln!(o, "  received:");
        let _ = writeln!(
            o,
            "       {:<18} {:<15} {:>6} {:>4}  {:<12} {:<10} {:<12} Path",
            "Network", "Next Hop", "LocPrf", "MED", "Session", "Source", "Communities"
        );
        for r in &sp.received {
            render_route(o, r);
        }
    }
    if sp.advertised.is_empty() {
        let _ = writeln!(o, "  advertises: nothing");
    } else {
        let _ = writeln!(o, "  advertises:");
        for a in &sp.advertised {
            let _ = writeln!(
                o,
                "    {:<18} to {:<12} AS path {:<20} communities {}",
                a.prefix.to_string(),
                a.session,
                words(&a.as_path),
                words(&a.communities)
            );
        }
    }
}

fn render_route(o: &mut String, r: &BgpRoute) {
    let mark = if r.best { "*>" } else { "* " };
    let source = match r.source {
        super::RouteSource::DirectConnectBgp => "dx bgp",
        super::RouteSource::VpnStatic => "vpn static",
        super::RouteSource::VpnBgp => "vpn bgp",
    };
    let med = r.med.map(|m| m.to_string()).unwrap_or_else(|| "-".into());
    // a static route has no BGP attributes
    let local_pref = match r.source {
        super::RouteSource::VpnStatic => "-".to_string(),
        _ => r.local_pref.to_string(),
    };
    let _ = writeln!(
        o,
        "    {mark} {:<18} {:<15} {:>6} {:>4}  {:<12} {:<10} {:<12} {}",
        r.prefix.to_string(),
        r.next_hop.to_string(),
        local_pref,
        med,
        r.session,
        source,
        words(&r.communities),
        words(&r.as_path)
    );
    if let Some(why) = &r.lost_on {
        let _ = writeln!(o, "         lost on: {why}");
    }
}

#[cfg(test)]
mod tests {
    use super::super::report::{Advertisement, RouteSource};
    use super::super::Community;
    use super::*;

    /// A report as the live daemons give it: no `lost_on`.
    fn live_report() -> BgpReport {
        let addr = |a: &str| a.parse().expect("an address");
        BgpReport {
            sessions: vec![BgpSession {
                name: "dx-vif".into(),
                kind: SessionKind::DirectConnect,
                office_node: "vifgate-office".into(),
                office_asn: 65010,
                office_address: addr("169.254.100.1"),
                amazon_asn: 64512,
                amazon_address: addr("169.254.100.2"),
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
                received: vec![
                    BgpRoute {
                        prefix: "192.168.20.0/24".parse().expect("a prefix"),
                        session: "dx-vif".into(),
                        source: RouteSource::DirectConnectBgp,
                        next_hop: addr("169.254.100.1"),
                        as_path: vec![65010, 65010],
                        communities: vec![Community::AWS_HIGH],
                        local_pref: 300,
                        med: None,
                        best: true,
                        lost_on: None,
                    },
                    BgpRoute {
                        prefix: "192.168.20.0/24".parse().expect("a prefix"),
                        session: "vpn-backup".into(),
                        source: RouteSource::VpnBgp,
                        next_hop: addr("169.254.10.2"),
                        as_path: vec![65010],
                        communities: vec![],
                        local_pref: 200,
                        med: Some(5),
                        best: false,
                        lost_on: None,
                    },
                ],
                advertised: vec![Advertisement {
                    session: "dx-vif".into(),
                    prefix: "10.0.0.0/16".parse().expect("a prefix"),
                    as_path: vec![64512],
                    communities: vec![],
                }],
            }],
        }
    }

    #[test]
    fn a_live_report_prints_its_sessions_tables_and_advertisements() {
        let text = live_report().render();
        for want in [
            "sessions:\n  dx-vif (direct connect): Established\n",
            "    vifgate-office AS 65010 169.254.100.1 <-> AS 64512 169.254.100.2\n",
            "    hold 90 s, keepalive 30 s, BFD detection 900 ms\n",
            "\nvgw (AWS, AS 64512):\n  received:\n",
            "    10.0.0.0/16        to dx-vif       AS path 64512",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
        let best = text
            .lines()
            .find(|l| l.starts_with("    *> 192.168.20.0/24"))
            .unwrap_or_else(|| panic!("no best line:\n{text}"));
        assert!(
            best.contains(" 300 ") && best.contains("7224:7300") && best.ends_with("65010 65010"),
            "{best}"
        );
        let other = text
            .lines()
            .find(|l| l.starts_with("    *  192.168.20.0/24"))
            .unwrap_or_else(|| panic!("no second line:\n{text}"));
        assert!(
            other.contains("vpn bgp") && other.contains("   5  "),
            "{other}"
        );
        // a daemon does not say why a path lost: no empty `lost on` line
        assert!(!text.contains("lost on"), "{text}");
    }

    #[test]
    fn an_idle_session_says_why_without_timers_and_an_empty_report_says_so() {
        let mut r = live_report();
        r.sessions[0].state = SessionState::Idle;
        r.sessions[0].reason = Some("Automatic shutdown: Route limit exceeded".into());
        r.sessions[0].hold_time = 0;
        let text = r.render();
        assert!(
            text.contains(
                "  dx-vif (direct connect): Idle (Automatic shutdown: Route limit exceeded)\n    vifgate-office AS 65010"
            ),
            "{text}"
        );
        assert!(!text.contains("hold "), "{text}");
        assert_eq!(BgpReport::default().render(), "sessions: none\n");
    }
}
