//! The human form of a [`BgpReport`], for `vifgate topology bgp` (the
//! prediction) and `vifgate sim bgp` (the live daemons): the sessions,
//! then per speaker a `show ip bgp`-like table of what it received, best
//! path marked `*>`, each loser with the step it lost on, and what it
//! advertises.

use std::fmt::Write as _;

use super::report::{BgpReport, BgpRoute, BgpSession, BgpSpeaker, SessionKind, Side};

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
