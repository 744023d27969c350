//! The topology's BGP sessions as the lab's daemons are configured with
//! them: one per VIF, one for a VPN with `routing = "bgp"`, and the VGW's
//! static routes of a VPN with `routing = "static"`, each named after its
//! VIF or VPN ([`crate::bgp_names::protocol_name`]), with its ends, what the office
//! advertises and the office's settings. Read by the BIRD and FRR config
//! writers ([`crate::bird::Session`] wraps one) and by the live report's
//! assembly.

use std::net::Ipv4Addr;

use topology::bgp::config::{AWS_DX_HOLD_TIME, AWS_VPN_HOLD_TIME};
use topology::bgp::{AdvertisedPrefix, BgpSettings, RouteSource, SessionKind};
use topology::model::{NodeId, Topology};

use crate::bgp_names::protocol_name;

/// What a session is in the topology.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionRole {
    /// The BGP session of the VIF at this index.
    Vif(usize),
    /// The VPN's BGP session.
    VpnBgp,
    /// The VGW's static routes over the VPN.
    VpnStatic,
}

/// One session of the topology (or the VPN's static routes).
#[derive(Debug, Clone)]
pub struct SessionSpec {
    /// What it is.
    pub role: SessionRole,
    /// The VIF's or VPN's name.
    pub name: String,
    /// The office node that ends it.
    pub office: NodeId,
    /// The office's ASN (0 for a static VPN).
    pub office_asn: u32,
    /// The office's peer address.
    pub office_address: Ipv4Addr,
    /// Amazon's ASN.
    pub amazon_asn: u32,
    /// Amazon's peer address.
    pub amazon_address: Ipv4Addr,
    /// What the office advertises over it.
    pub advertised: Vec<AdvertisedPrefix>,
    /// The office side's settings.
    pub settings: BgpSettings,
    /// Where the MD5 key is (`env:NAME`, `file:PATH`), for a VIF.
    pub md5_key: Option<String>,
    /// Whether the file configures it down (a VIF's `state = "down"`, a
    /// VPN down): the office's daemon keeps it shut.
    pub configured_down: bool,
    /// Whether the analysis expects it Established (a VIF's `bgp_up`, the
    /// VPN up): `sim up` waits for it.
    pub expected_up: bool,
}

impl SessionSpec {
    /// Its name in the daemons' configs (BIRD's protocol, FRR's neighbour
    /// description).
    pub fn protocol(&self) -> String {
        protocol_name(self.kind(), &self.name)
    }

    /// A BGP session (not the VPN's static routes).
    pub fn is_bgp(&self) -> bool {
        self.role != SessionRole::VpnStatic
    }

    /// Direct Connect or VPN.
    pub fn kind(&self) -> SessionKind {
        match self.role {
            SessionRole::Vif(_) => SessionKind::DirectConnect,
            _ => SessionKind::Vpn,
        }
    }

    /// The source of the routes learned over it.
    pub fn source(&self) -> RouteSource {
        match self.role {
            SessionRole::Vif(_) => RouteSource::DirectConnectBgp,
            SessionRole::VpnBgp => RouteSource::VpnBgp,
            SessionRole::VpnStatic => RouteSource::VpnStatic,
        }
    }

    /// The office's hold time: the file's, else AWS's for the kind.
    pub fn hold_time(&self) -> u16 {
        self.settings.hold_time.unwrap_or(match self.kind() {
            SessionKind::DirectConnect => AWS_DX_HOLD_TIME,
            SessionKind::Vpn => AWS_VPN_HOLD_TIME,
        })
    }

    /// The office's keepalive: the file's, else a third of the hold time.
    pub fn keepalive(&self) -> u16 {
        self.settings.keepalive.unwrap_or(self.hold_time() / 3)
    }
}

/// The sessions in file order: VIFs, then the VPN.
pub fn sessions(t: &Topology) -> Vec<SessionSpec> {
    let mut out: Vec<SessionSpec> = t
        .vifs
        .iter()
        .enumerate()
        .map(|(i, v)| SessionSpec {
            role: SessionRole::Vif(i),
            name: v.name.clone(),
            office: v.customer_router,
            office_asn: v.customer_asn,
            office_address: v.customer_address.addr(),
            amazon_asn: v.amazon_asn,
            amazon_address: v.amazon_address.addr(),
            advertised: v.advertised.clone(),
            settings: v.bgp.clone(),
            md5_key: v.md5_key.clone(),
            configured_down: v.configured_down,
            expected_up: v.bgp_up,
        })
        .collect();
    if let Some(v) = &t.vpn {
        out.push(SessionSpec {
            role: if v.bgp {
                SessionRole::VpnBgp
            } else {
                SessionRole::VpnStatic
            },
            name: v.name.clone(),
            office: v.customer_gateway,
            office_asn: v.customer_asn.unwrap_or_default(),
            office_address: v.customer_address,
            amazon_asn: v.amazon_asn,
            amazon_address: v.amazon_address,
            advertised: v.advertised.clone(),
            settings: v.bgp_settings.clone(),
            md5_key: None,
            configured_down: !v.up,
            expected_up: v.up,
        });
    }
    out
}

/// The office nodes that end a BGP session, in file order, each once.
pub fn office_nodes(sessions: &[SessionSpec]) -> Vec<NodeId> {
    let mut out = Vec::new();
    for s in sessions.iter().filter(|s| s.is_bgp()) {
        if !out.contains(&s.office) {
            out.push(s.office);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_has_its_vif_and_its_vpn_on_bgp() {
        let mut t = crate::example();
        let s = sessions(&t);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].role, SessionRole::Vif(0));
        assert_eq!(s[0].protocol(), "dx.dx-vif");
        assert_eq!((s[0].hold_time(), s[0].keepalive()), (90, 30));
        assert_eq!(s[0].source(), RouteSource::DirectConnectBgp);
        assert_eq!(s[1].role, SessionRole::VpnBgp);
        assert_eq!(
            (s[1].protocol(), s[1].source()),
            ("vpn.vpn-backup".into(), RouteSource::VpnBgp)
        );
        assert_eq!(office_nodes(&s), [s[0].office]);
        // a static VPN: the VGW's static routes, no session
        if let Some(v) = t.vpn.as_mut() {
            v.bgp = false;
        }
        let s = sessions(&t);
        assert_eq!(s[1].role, SessionRole::VpnStatic);
        assert!(!s[1].is_bgp());
        assert_eq!(s[1].source(), RouteSource::VpnStatic);
    }
}
