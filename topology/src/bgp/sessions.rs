//! The BGP sessions a topology runs, one per VIF and one for a VPN with
//! `routing = "bgp"`: whether each comes up (Established) or stays Idle and
//! why, and the timers the two ends settle on.
//!
//! - Idle when the VIF is configured down (`state = "down"`), when the VPN
//!   is down, or when the office advertises more than 100 distinct
//!   prefixes on the session (AWS's limit; the VGW's BIRD has `import
//!   limit 100 action disable`).
//! - Hold time: the lower of the office's (AWS's value when the file does
//!   not say) and AWS's (90 s on Direct Connect, 30 s on a VPN).
//! - Keepalive, on the office side: BIRD 2.0.11 and later scale a
//!   configured keepalive with the negotiated hold time (`keepalive x
//!   negotiated hold / configured hold`); without one, a third of the
//!   negotiated hold time.
//! - BFD (Direct Connect only, when the office turns it on): each end
//!   declares the other down after the remote's multiplier times the
//!   slower of the two intervals; AWS runs 300 ms x 3. The report gives the
//!   slower end's detection time, `max(multiplier, 3) x max(interval,
//!   300 ms)`: when both ends have withdrawn.

use super::report::{BgpSession, RouteSource, SessionKind, SessionState};
use crate::model::bgp::{
    AdvertisedPrefix, Bfd, BgpSettings, AWS_DX_HOLD_TIME, AWS_VPN_HOLD_TIME, DEFAULT_LOCAL_PREF,
    MAX_VIF_PREFIXES, MIN_BFD_INTERVAL, MIN_BFD_MULTIPLIER, MIN_HOLD_TIME,
};
use crate::model::{NodeId, Topology, VgwPath};

/// The reason of a session the file configures down (`state = "down"`).
pub const CONFIGURED_DOWN: &str = "configured down";

/// One session with what the rest of the analysis needs about it: the
/// reported session, and the model's parts it joins.
#[derive(Debug, Clone)]
pub struct Peering<'t> {
    /// The session as reported.
    pub session: BgpSession,
    /// The link it runs over, as the VGW names it.
    pub path: VgwPath,
    /// The office node that ends it.
    pub node: NodeId,
    /// What the office advertises over it: each prefix once, sorted (the
    /// model's `advertised`, as the resolver made it).
    pub advertised: &'t [AdvertisedPrefix],
    /// How the VGW tells its routes from others'.
    pub source: RouteSource,
    /// The local preference the office gives what it learns over it.
    pub local_pref: u32,
}

impl Peering<'_> {
    /// Whether routes are exchanged.
    pub fn established(&self) -> bool {
        self.session.state == SessionState::Established
    }
}

/// The hold time both ends use: the lower of the office's (AWS's own when
/// not set) and AWS's, never below the minimum of 3 s.
pub fn negotiated_hold(office: Option<u16>, aws: u16) -> u16 {
    office.unwrap_or(aws).min(aws).max(MIN_HOLD_TIME)
}

/// The office's keepalive interval on a session whose AWS hold time is
/// `aws_hold`, as BIRD computes it (see the module's documentation).
pub fn keepalive(settings: &BgpSettings, aws_hold: u16) -> u16 {
    let configured_hold = settings.hold_time.unwrap_or(aws_hold).max(MIN_HOLD_TIME);
    let hold = negotiated_hold(settings.hold_time, aws_hold);
    match settings.keepalive {
        Some(k) => {
            let scaled = u32::from(k) * u32::from(hold) / u32::from(configured_hold);
            u16::try_from(scaled).unwrap_or(u16::MAX).max(1)
        }
        None => (hold / 3).max(1),
    }
}

/// How long BFD takes to declare the link down at the slower end, in
/// milliseconds (see the module's documentation).
pub fn bfd_detect_ms(bfd: &Bfd) -> u32 {
    let interval = bfd.interval.max(MIN_BFD_INTERVAL).as_millis();
    let multiplier = bfd.multiplier.max(MIN_BFD_MULTIPLIER);
    u32::try_from(interval * u128::from(multiplier)).unwrap_or(u32::MAX)
}

/// Why a session with these prefixes on it (each once, as the model holds
/// them) cannot come up, if so.
fn prefix_limit(advertised: &[AdvertisedPrefix]) -> Option<String> {
    (advertised.len() > MAX_VIF_PREFIXES)
        .then(|| format!("prefix limit: {} > {MAX_VIF_PREFIXES}", advertised.len()))
}

/// Every BGP session of the topology, in file order: the VIFs, then the
/// VPN when it routes with BGP.
pub fn peerings(t: &Topology) -> Vec<Peering<'_>> {
    let mut out = Vec::new();
    for (i, v) in t.vifs.iter().enumerate() {
        let reason = if v.configured_down {
            Some(CONFIGURED_DOWN.to_string())
        } else {
            prefix_limit(&v.advertised)
        };
        out.push(Peering {
            session: BgpSession {
                name: v.name.clone(),
                kind: SessionKind::DirectConnect,
                office_node: t.nodes[v.customer_router].name.clone(),
                office_asn: v.customer_asn,
                office_address: v.customer_address.addr(),
                amazon_asn: v.amazon_asn,
                amazon_address: v.amazon_address.addr(),
                state: state_of(&reason),
                reason,
                hold_time: negotiated_hold(v.bgp.hold_time, AWS_DX_HOLD_TIME),
                keepalive: keepalive(&v.bgp, AWS_DX_HOLD_TIME),
                bfd_detect_ms: v.bgp.bfd.as_ref().map(bfd_detect_ms),
            },
            path: VgwPath::Vif(i),
            node: v.customer_router,
            advertised: &v.advertised,
            source: RouteSource::DirectConnectBgp,
            local_pref: v.bgp.local_preference.unwrap_or(DEFAULT_LOCAL_PREF),
        });
    }
    if let Some(vpn) = t.vpn.as_ref().filter(|v| v.bgp) {
        let reason = if !vpn.up {
            Some("VPN down".to_string())
        } else if vpn.customer_asn.is_none() {
            Some("no customer ASN".to_string())
        } else {
            prefix_limit(&vpn.advertised)
        };
        let settings = &vpn.bgp_settings;
        out.push(Peering {
            session: BgpSession {
                name: vpn.name.clone(),
                kind: SessionKind::Vpn,
                office_node: t.nodes[vpn.customer_gateway].name.clone(),
                office_asn: vpn.customer_asn.unwrap_or(0),
                office_address: vpn.customer_address,
                amazon_asn: vpn.amazon_asn,
                amazon_address: vpn.amazon_address,
                state: state_of(&reason),
                reason,
                hold_time: negotiated_hold(settings.hold_time, AWS_VPN_HOLD_TIME),
                keepalive: keepalive(settings, AWS_VPN_HOLD_TIME),
                bfd_detect_ms: None,
            },
            path: VgwPath::Vpn,
            node: vpn.customer_gateway,
            advertised: &vpn.advertised,
            source: RouteSource::VpnBgp,
            local_pref: settings.local_preference.unwrap_or(DEFAULT_LOCAL_PREF),
        });
    }
    out
}

fn state_of(reason: &Option<String>) -> SessionState {
    match reason {
        None => SessionState::Established,
        Some(_) => SessionState::Idle,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::model::bgp::{AWS_DX_KEEPALIVE, AWS_VPN_KEEPALIVE};

    #[test]
    fn the_lower_hold_time_wins_and_keepalive_scales_with_it() {
        let aws = BgpSettings::default();
        assert_eq!(negotiated_hold(None, AWS_DX_HOLD_TIME), 90);
        assert_eq!(keepalive(&aws, AWS_DX_HOLD_TIME), AWS_DX_KEEPALIVE);
        assert_eq!(keepalive(&aws, AWS_VPN_HOLD_TIME), AWS_VPN_KEEPALIVE);
        assert_eq!(negotiated_hold(Some(240), AWS_DX_HOLD_TIME), 90);
        let short = BgpSettings {
            hold_time: Some(9),
            ..Default::default()
        };
        assert_eq!(negotiated_hold(short.hold_time, AWS_DX_HOLD_TIME), 9);
        assert_eq!(keepalive(&short, AWS_DX_HOLD_TIME), 3);
        // a configured keepalive keeps its proportion to the hold time:
        // 60/180 offered, 90 negotiated -> 30
        let long = BgpSettings {
            hold_time: Some(180),
            keepalive: Some(60),
            ..Default::default()
        };
        assert_eq!(keepalive(&long, AWS_DX_HOLD_TIME), 30);
        let explicit = BgpSettings {
            hold_time: Some(30),
            keepalive: Some(5),
            ..Default::default()
        };
        assert_eq!(keepalive(&explicit, AWS_DX_HOLD_TIME), 5);
    }

    #[test]
    fn bfd_detection_is_the_slower_end_and_aws_minimum_applies() {
        let bfd = |ms, multiplier| Bfd {
            interval: Duration::from_millis(ms),
            multiplier,
        };
        assert_eq!(bfd_detect_ms(&bfd(300, 3)), 900);
        assert_eq!(bfd_detect_ms(&bfd(500, 5)), 2500);
        // below AWS's minimum, AWS's 300 ms x 3 governs
        assert_eq!(bfd_detect_ms(&bfd(100, 2)), 900);
    }
}
