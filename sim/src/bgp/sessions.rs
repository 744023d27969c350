//! The topology's BGP sessions as the lab's daemons are configured with
//! them: one per VIF, one for a VPN with `routing = "bgp"`, and the VGW's
//! static routes of a VPN with `routing = "static"`, each named after its
//! VIF or VPN ([`crate::bgp::names::protocol_name`]), with its ends, what the office
//! advertises and the office's settings. Read by the BIRD and FRR config
//! writers ([`crate::render::bird::Session`] wraps one) and by the live report's
//! assembly.

use std::net::Ipv4Addr;

use topology::bgp::config::{AWS_DX_HOLD_TIME, AWS_VPN_HOLD_TIME};
use topology::bgp::sessions::peerings;
use topology::bgp::{AdvertisedPrefix, BgpSettings, RouteSource, SessionKind};
use topology::model::{NodeId, Topology, VgwPath};

use crate::bgp::names::protocol_name;

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
        protocol_name(&self.name)
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

/// The sessions in file order: VIFs, then the VPN. A view over the
/// analysis's sessions ([`topology::bgp::sessions::peerings`]: names, ends,
/// what the office advertises, whether each comes up), with what the
/// daemons are configured from besides (the office's settings, the MD5
/// key's place, a session configured down), and the VGW's static routes
/// of a VPN with `routing = "static"`, which is no BGP session.
pub fn sessions(t: &Topology) -> Vec<SessionSpec> {
    let mut out: Vec<SessionSpec> = peerings(t)
        .iter()
        .filter_map(|p| {
            let (role, settings, md5_key, configured_down) = office_side(t, p.path)?;
            Some(SessionSpec {
                role,
                name: p.session.name.clone(),
                office: p.node,
                office_asn: p.session.office_asn,
                office_address: p.session.office_address,
                amazon_asn: p.session.amazon_asn,
                amazon_address: p.session.amazon_address,
                advertised: p.advertised.to_vec(),
                settings: settings.clone(),
                md5_key,
                configured_down,
                expected_up: p.established(),
            })
        })
        .collect();
    if let Some(v) = t.vpn.as_ref().filter(|v| !v.bgp) {
        out.push(SessionSpec {
            role: SessionRole::VpnStatic,
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

/// What the file configures on the office's side of the session over
/// `path`: its role, the office's settings, the MD5 key's place (a VIF's),
/// and whether it is configured down.
fn office_side(
    t: &Topology,
    path: VgwPath,
) -> Option<(SessionRole, &BgpSettings, Option<String>, bool)> {
    match path {
        VgwPath::Vif(i) => t.vifs.get(i).map(|v| {
            (
                SessionRole::Vif(i),
                &v.bgp,
                v.md5_key.clone(),
                v.configured_down,
            )
        }),
        VgwPath::Vpn => t
            .vpn
            .as_ref()
            .map(|v| (SessionRole::VpnBgp, &v.bgp_settings, None, !v.up)),
    }
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
        assert_eq!(s[0].protocol(), "dx-vif");
        assert_eq!((s[0].hold_time(), s[0].keepalive()), (90, 30));
        assert_eq!(s[0].source(), RouteSource::DirectConnectBgp);
        assert_eq!(s[1].role, SessionRole::VpnBgp);
        assert_eq!(
            (s[1].protocol(), s[1].source()),
            ("vpn-backup".into(), RouteSource::VpnBgp)
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

    #[test]
    fn each_bgp_session_is_the_analysiss() {
        let mut t = crate::example();
        // a VPN session over AWS's prefix limit: the analysis keeps it Idle
        // (the VGW's BIRD disables it), so `sim up` must not wait for it
        if let Some(v) = t.vpn.as_mut() {
            v.advertised = (0..=100u32)
                .map(|i| {
                    let net =
                        ipnet::Ipv4Net::new(std::net::Ipv4Addr::from(0x0a64_0000 + (i << 8)), 24)
                            .expect("a /24");
                    AdvertisedPrefix::plain(net)
                })
                .collect();
        }
        let specs = sessions(&t);
        let peerings = peerings(&t);
        assert_eq!(specs.len(), peerings.len());
        for (s, p) in specs.iter().zip(&peerings) {
            assert_eq!(s.name, p.session.name);
            assert_eq!(t.nodes[s.office].name, p.session.office_node);
            assert_eq!(
                (
                    s.office_asn,
                    s.office_address,
                    s.amazon_asn,
                    s.amazon_address
                ),
                (
                    p.session.office_asn,
                    p.session.office_address,
                    p.session.amazon_asn,
                    p.session.amazon_address
                )
            );
            assert_eq!(s.kind(), p.session.kind);
            assert_eq!(s.source(), p.source);
            assert_eq!(s.advertised, p.advertised);
            assert_eq!(s.expected_up, p.established(), "{}", s.name);
        }
        assert!(specs[0].expected_up);
        assert_eq!(specs[1].role, SessionRole::VpnBgp);
        assert!(!specs[1].expected_up, "the VPN is over the prefix limit");
    }
}
