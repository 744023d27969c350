//! BIRD 2 in the lab: the configurations, pure, from the topology (the
//! processes that run them are [`crate::plan::bird`]'s).
//!
//! Three kinds of BIRD run where AWS and the office run BGP:
//!
//! - [`vgw`]: AWS's side, in `L+vgw`. One eBGP session per VIF and per BGP
//!   VPN on the link's own addresses (TTL 1, MD5, AWS's timers, BFD where
//!   the VIF has it, `import limit 100 action disable`), the VPN's static
//!   routes, AWS's order of sources as protocol preferences (DX 200, VPN
//!   static 150, VPN BGP 100) and communities as local preference; the
//!   best routes go into the namespace's main table through the TUN device
//!   of the tunnel that carries that VIF's traffic (`ifname = "vgXXXXXXXX"`,
//!   [`crate::layout::vgw_tunnels`]).
//! - [`vpc`]: the VPC router's propagation, in `L+vpc`. An iBGP session
//!   with the VGW's BIRD over the `vgw0` link, and one kernel protocol per
//!   route table with `propagate_vgw`, writing into that table's kernel
//!   table at a metric above the static routes' (static wins).
//! - [`office`]: each office node ending a VIF or a BGP VPN, with the
//!   file's prefixes, communities and prepends, and the session's local
//!   preference on what it learns; its best routes go into kernel table
//!   [`OFFICE_KERNEL_TABLE`], which the office gateway follows.
//!
//! MD5 keys are never in a configuration: each session's BGP block
//! includes a key file `sim up` writes with mode 600
//! ([`crate::apply::md5`]).

pub mod conf;
pub mod office;
pub mod vgw;
pub mod vpc;

use std::path::{Path, PathBuf};

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};
use topology::bgp::config::{
    AWS_DX_HOLD_TIME, AWS_DX_KEEPALIVE, AWS_VPN_HOLD_TIME, AWS_VPN_KEEPALIVE,
};
use topology::bgp::{Bfd, SessionKind};
use topology::model::Topology;

use crate::bgp::sessions::{SessionRole, SessionSpec};

/// The kernel table an office node's BIRD writes its best routes into
/// (the office gateway's `[bgp] kernel_table`).
pub const OFFICE_KERNEL_TABLE: u32 = 100;
/// Kernel metric of the routes the VPC's BIRD propagates (the static
/// routes of a route table have 10: static wins on an equal prefix).
pub const PROPAGATED_METRIC: u32 = 100;

/// Where one session's MD5 key comes from, and the file BIRD includes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Md5Spec {
    /// The session (VIF or VPN name).
    pub session: String,
    /// The file's `md5_key` (`env:NAME`, `file:PATH`); `None`: a random
    /// key for the lab.
    pub location: Option<String>,
    /// The file `sim up` writes (`password "...";`, mode 600), included
    /// by both ends' configurations.
    pub key_file: PathBuf,
}

/// One office-to-AWS BGP session: the topology's
/// ([`crate::bgp::sessions::SessionSpec`]: names, ASNs, addresses, what
/// the office advertises, its settings) and where the lab runs it.
#[derive(Debug, Clone)]
pub struct Session {
    /// The session as the topology has it (never the VPN's static routes).
    pub spec: SessionSpec,
    /// The VGW-side TUN that carries this VIF's (or VPN's) traffic.
    pub vgw_tun: String,
    /// Its link's interface on the office node (the VIF's link,
    /// [`crate::layout::vif_links`], or [`crate::layout::VPN_LINK`]).
    pub office_ifname: String,
    /// MD5 key file.
    pub key_file: PathBuf,
}

impl Session {
    /// AWS's hold time and keepalive on this kind of session.
    pub fn aws_timers(&self) -> (u16, u16) {
        match self.spec.kind() {
            SessionKind::DirectConnect => (AWS_DX_HOLD_TIME, AWS_DX_KEEPALIVE),
            SessionKind::Vpn => (AWS_VPN_HOLD_TIME, AWS_VPN_KEEPALIVE),
        }
    }

    /// BFD as the office configures it (DX only).
    pub fn bfd(&self) -> Option<Bfd> {
        match self.spec.kind() {
            SessionKind::DirectConnect => self.spec.settings.bfd,
            SessionKind::Vpn => None,
        }
    }

    /// BIRD's `preference` for the routes AWS learns over it.
    pub fn aws_preference(&self) -> u32 {
        match self.spec.kind() {
            SessionKind::DirectConnect => vgw::PREFERENCE_DX,
            SessionKind::Vpn => vgw::PREFERENCE_VPN_BGP,
        }
    }
}

/// Where the tunnels of the plan are: the link and the VGW-side TUN of
/// each VIF (in order), and the VPN's TUN.
#[derive(Debug, Clone, Default)]
pub struct Tunnels {
    /// The link of VIF `i` (both ends' interface).
    pub vif_link: Vec<String>,
    /// TUN device of VIF `i`'s VGW-side gateway.
    pub vif_tun: Vec<String>,
    /// TUN device of the VPN's VGW-side gateway.
    pub vpn_tun: Option<String>,
}

impl Tunnels {
    /// The names of topology `t`'s tunnels, each after its VIF's or the
    /// VPN's name, not its place ([`crate::layout::vif_links`],
    /// [`crate::layout::vgw_tunnels`]).
    pub fn named(t: &Topology) -> Tunnels {
        let vifs = || t.vifs.iter().map(|v| v.name.as_str());
        let mut vif_tun =
            crate::layout::vgw_tunnels(vifs().chain(t.vpn.as_ref().map(|v| v.name.as_str())));
        let vpn_tun = t.vpn.as_ref().and_then(|_| vif_tun.pop());
        Tunnels {
            vif_link: crate::layout::vif_links(vifs()),
            vif_tun,
            vpn_tun,
        }
    }
}

/// The BGP sessions of a topology (`specs`, its
/// [`crate::bgp::sessions::sessions`]), in file order (VIFs, then a BGP
/// VPN), each with its tunnel: a session without one in `tunnels` is left
/// out.
pub fn sessions(specs: &[SessionSpec], tunnels: &Tunnels, dir: &Path) -> Vec<Session> {
    specs
        .iter()
        .filter_map(|spec| {
            let (tun, link) = match spec.role {
                SessionRole::Vif(i) => (tunnels.vif_tun.get(i)?, tunnels.vif_link.get(i)?.as_str()),
                SessionRole::VpnBgp => (tunnels.vpn_tun.as_ref()?, crate::layout::VPN_LINK),
                SessionRole::VpnStatic => return None,
            };
            Some(Session {
                vgw_tun: tun.clone(),
                office_ifname: link.to_string(),
                key_file: dir.join(format!("md5-{}.conf", crate::layout::ns_token(&spec.name))),
                spec: spec.clone(),
            })
        })
        .collect()
}

/// Amazon's ASN, the AS of the iBGP session between the VGW's BIRD and
/// the VPC router's: the first VIF's, else the VPN's, else AWS's default
/// 64512.
fn amazon_asn(t: &Topology) -> u32 {
    t.vifs
        .first()
        .map(|v| v.amazon_asn)
        .or(t.vpn.as_ref().map(|v| v.amazon_asn))
        .unwrap_or(64512)
}

/// The office prefixes the analysis expects the VGW to learn (what the
/// VPC's propagating tables receive).
pub fn learned_prefixes(t: &Topology) -> Vec<Ipv4Net> {
    let mut v: Vec<Ipv4Net> = t.vgw_routes().into_iter().map(|(p, _)| p).collect();
    v.sort_unstable();
    v.dedup();
    v
}

#[cfg(test)]
mod tests;
