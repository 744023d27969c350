//! AWS's side of the sessions: the BIRD of the lab's VGW (`L+vgw`).
//!
//! - one eBGP protocol per session, named after the VIF or VPN, on the
//!   link's addresses (`direct`: TTL 1), its MD5 key included from a file,
//!   AWS's timers (DX hold 90 / keepalive 30, VPN 30 / 10), BFD when the
//!   VIF has it (AWS's 300 ms x 3), `import limit 100 action disable`;
//! - AWS's order of sources as BIRD preferences, compared before anything
//!   else: [`PREFERENCE_DX`] > [`PREFERENCE_VPN_STATIC`] >
//!   [`PREFERENCE_VPN_BGP`];
//! - the communities 7224:7100/7200/7300 as local preference 100/200/300,
//!   none as 200 (AWS's medium);
//! - the VPC's CIDR advertised to the office (AS path: the Amazon ASN);
//! - the best routes into the main table through the TUN device of the
//!   tunnel that carries that session's traffic;
//! - an iBGP session with the VPC router's BIRD (when a route table
//!   propagates), next hop self.

use std::fmt::Write as _;

use topology::bgp::SessionKind;
use topology::model::Topology;

use super::text;
use super::{Session, Tunnels};
use crate::bgp::names::symbol;

/// BIRD preference of routes learned over Direct Connect.
pub const PREFERENCE_DX: u32 = 200;
/// BIRD preference of a static VPN's routes.
pub const PREFERENCE_VPN_STATIC: u32 = 150;
/// BIRD preference of routes learned over a BGP VPN.
pub const PREFERENCE_VPN_BGP: u32 = 100;
/// The prefix limit AWS applies per session.
pub const PREFIX_LIMIT: u32 = 100;
/// The VGW's iBGP protocol to the VPC router.
pub const VPC_PROTOCOL: &str = "vifgate_vpc_router";
/// The static protocol holding the VPC's CIDR.
pub const VPC_CIDR_PROTOCOL: &str = "vifgate_vpc_cidr";

/// The VGW's configuration. `to_vpc`: whether a route table propagates
/// (then the iBGP session to the VPC router's BIRD is configured).
pub fn config(t: &Topology, sessions: &[Session], tunnels: &Tunnels, to_vpc: bool) -> String {
    let mut s = text::header(
        "AWS's side (the virtual private gateway)",
        topology::bgp::vgw_router_id(t),
    );
    // BFD: AWS's 300 ms x 3 wherever the office asks for it
    if sessions.iter().any(|x| x.bfd().is_some()) {
        s.push_str(&text::bfd_protocol(&[(
            vec!["*".into()],
            topology::bgp::Bfd {
                interval: topology::bgp::config::MIN_BFD_INTERVAL,
                multiplier: topology::bgp::config::MIN_BFD_MULTIPLIER,
            },
        )]));
    }
    s.push_str(
        "\n# AWS's local preference from the office's communities (none: medium)\n\
         filter aws_import {\n    \
         if (7224,7300) ~ bgp_community then bgp_local_pref = 300;\n    \
         else if (7224,7200) ~ bgp_community then bgp_local_pref = 200;\n    \
         else if (7224,7100) ~ bgp_community then bgp_local_pref = 100;\n    \
         else bgp_local_pref = 200;\n    \
         accept;\n}\n",
    );
    let vpc = t.vpc.as_ref();
    if let Some(vpc) = vpc {
        let _ = write!(
            s,
            "\n# the VPC's CIDR, advertised to the office\nprotocol static {VPC_CIDR_PROTOCOL} {{\n    ipv4;\n    route {} via {};\n}}\n",
            vpc.cidr,
            crate::layout::VGW_LINK_ROUTER
        );
    }
    let export_vpc = format!("    export where proto = \"{VPC_CIDR_PROTOCOL}\";\n");
    for x in sessions {
        let (hold, keepalive) = x.aws_timers();
        let _ = write!(
            s,
            "\n# {} ({})\nprotocol bgp {} {{\n    local {} as {};\n    neighbor {} as {};\n    direct;\n",
            x.spec.name,
            match x.spec.kind() {
                SessionKind::DirectConnect => "Direct Connect VIF",
                SessionKind::Vpn => "Site-to-Site VPN, BGP",
            },
            symbol(&x.spec.name),
            x.spec.amazon_address,
            x.spec.amazon_asn,
            x.spec.office_address,
            x.spec.office_asn
        );
        s.push_str(&text::password_include(&x.key_file));
        s.push_str(&text::timers(Some(hold), Some(keepalive)));
        s.push_str(text::LAB_RETRY);
        if x.bfd().is_some() {
            s.push_str("    bfd on;\n");
        }
        let _ = write!(
            s,
            "    ipv4 {{\n        preference {};\n        import filter aws_import;\n        import limit {PREFIX_LIMIT} action disable;\n    {export_vpc}    }};\n}}\n",
            x.aws_preference()
        );
    }
    // a static VPN: its prefixes as static routes into its tunnel
    let mut static_vpn = None;
    if let (Some(vpn), Some(tun)) = (&t.vpn, &tunnels.vpn_tun) {
        if !vpn.bgp {
            static_vpn = Some((crate::bgp::names::protocol_name(&vpn.name), tun.clone()));
            let _ = write!(
                s,
                "\n# {} (Site-to-Site VPN, static routing)\nprotocol static {} {{\n    ipv4 {{ preference {PREFERENCE_VPN_STATIC}; }};\n",
                vpn.name,
                symbol(&vpn.name)
            );
            if vpn.up {
                for p in vpn.prefixes() {
                    let _ = writeln!(s, "    route {p} via \"{tun}\";");
                }
            }
            s.push_str("}\n");
        }
    }
    // the best route of each office prefix into the main table, out of
    // the tunnel of the session (or static VPN) it came from
    s.push_str("\n# the best routes, each through its tunnel's TUN device\nfilter to_tunnels {\n");
    let mut sources: Vec<(String, String)> = sessions
        .iter()
        .map(|x| (x.spec.protocol(), x.vgw_tun.clone()))
        .collect();
    sources.extend(static_vpn.clone());
    for (name, tun) in &sources {
        let _ = writeln!(
            s,
            "    if proto = \"{name}\" then {{ ifname = \"{tun}\"; accept; }}"
        );
    }
    s.push_str("    reject;\n}\nprotocol kernel vifgate_kernel {\n    ipv4 { import none; export filter to_tunnels; };\n    learn off;\n}\n");
    if to_vpc {
        let list: Vec<String> = sources
            .iter()
            .map(|(n, _)| format!("proto = \"{n}\""))
            .collect();
        let cond = if list.is_empty() {
            "false".to_string()
        } else {
            list.join(" || ")
        };
        let asn = super::amazon_asn(t);
        let _ = write!(
            s,
            "\n# propagation: the best routes to the VPC router's BIRD\nprotocol bgp {VPC_PROTOCOL} {{\n    local {} as {asn};\n    neighbor {} as {asn};\n    direct;\n{}    ipv4 {{\n        import none;\n        export where {cond};\n        next hop self;\n    }};\n}}\n",
            crate::layout::VGW_LINK_VGW,
            crate::layout::VGW_LINK_ROUTER,
            text::LAB_RETRY
        );
    }
    s
}
