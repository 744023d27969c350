//! The addresses of the hybrid links: each private VIF's peer subnet and
//! the VPN tunnel's inside block belong to their two BGP peers alone.
//!
//! Sources: the Direct Connect User Guide, "Prerequisites for virtual
//! interfaces" (peer addresses you specify are "private CIDRs for your
//! router interface and the AWS Direct Connect interface only ... do not
//! specify other IP addresses from your local network",
//! <https://docs.aws.amazon.com/directconnect/latest/UserGuide/WorkingWithVirtualInterfaces.html>),
//! and the Site-to-Site VPN User Guide, "Tunnel options" (a /30 of
//! 169.254.0.0/16, unique on the virtual private gateway, none of seven
//! reserved blocks, <https://docs.aws.amazon.com/vpn/latest/s2svpn/VPNTunnels.html>).

use std::net::Ipv4Addr;
use std::ops::Range;

use ipnet::Ipv4Net;

use super::{blocks_overlap, Resolver};
use crate::format::RawTopology;
use crate::model::Topology;

/// Where AWS says what a VIF's peer addresses may be.
const VIF_PEER_RULES: &str =
    "https://docs.aws.amazon.com/directconnect/latest/UserGuide/WorkingWithVirtualInterfaces.html";
/// Where AWS says what a VPN tunnel's inside block may be.
const VPN_INSIDE_RULES: &str = "https://docs.aws.amazon.com/vpn/latest/s2svpn/VPNTunnels.html";

/// The /30 blocks of 169.254.0.0/16 AWS refuses as a VPN tunnel's inside
/// block.
pub(super) const VPN_RESERVED_INSIDE: [Ipv4Net; 7] = [
    Ipv4Net::new_assert(Ipv4Addr::new(169, 254, 0, 0), 30),
    Ipv4Net::new_assert(Ipv4Addr::new(169, 254, 1, 0), 30),
    Ipv4Net::new_assert(Ipv4Addr::new(169, 254, 2, 0), 30),
    Ipv4Net::new_assert(Ipv4Addr::new(169, 254, 3, 0), 30),
    Ipv4Net::new_assert(Ipv4Addr::new(169, 254, 4, 0), 30),
    Ipv4Net::new_assert(Ipv4Addr::new(169, 254, 5, 0), 30),
    Ipv4Net::new_assert(Ipv4Addr::new(169, 254, 169, 252), 30),
];

/// One link's subnet, as the file states it.
struct LinkSubnet {
    /// `VIF `dx-vif`'s peer subnet`, `VPN `vpn`'s tunnel inside block`.
    what: String,
    block: Ipv4Net,
    /// Said after the block: ` (the default)` when the file left it out.
    note: &'static str,
    span: Range<usize>,
    /// Where it may go instead.
    fix: &'static str,
}

impl Resolver<'_> {
    /// The VIFs' peer subnets and the VPN's inside block: the VPN's not
    /// one AWS reserves, no two overlapping, none overlapping an office
    /// LAN, the VPC block or a subnet. Errors at the address that moves.
    pub(super) fn check_link_addresses(&mut self, raw: &RawTopology, t: &Topology) {
        let vpc_given = super::vpc_block_given(raw);
        let mut links: Vec<LinkSubnet> = Vec::new();
        if let Some(dx) = &raw.direct_connect {
            for vif in &t.vifs {
                let Some(rv) = dx.vif.iter().find(|v| v.name.get_ref() == &vif.name) else {
                    continue;
                };
                links.push(LinkSubnet {
                    what: format!("VIF `{}`'s peer subnet", vif.name),
                    block: vif.customer_address.trunc(),
                    note: "",
                    span: rv.customer_address.span(),
                    fix: "a /30 (or /31) of 169.254.0.0/16, or of private space no LAN, VPC or other link uses",
                });
            }
        }
        if let (Some(vpn), Some(rv)) = (&t.vpn, &raw.vpn) {
            let (span, default) = match &rv.tunnel_inside_cidr {
                Some(c) => (c.span(), ""),
                None => (rv.name.span(), " (the default)"),
            };
            let block = vpn.inside_cidr;
            if VPN_RESERVED_INSIDE
                .iter()
                .any(|&r| blocks_overlap(r, block))
            {
                let d = self.error(
                    span.clone(),
                    format!("tunnel inside block {block} is reserved by AWS"),
                );
                d.expected = Some(
                    "a /30 of 169.254.0.0/16 other than 169.254.0.0/30 to 169.254.5.0/30 and 169.254.169.252/30"
                        .into(),
                );
                d.hint = Some(format!(
                    "AWS refuses these blocks as a tunnel's inside addresses ({VPN_INSIDE_RULES})"
                ));
            }
            links.push(LinkSubnet {
                what: format!("VPN `{}`'s tunnel inside block", vpn.name),
                block,
                note: default,
                span,
                fix: "another /30 of 169.254.0.0/16 in `tunnel_inside_cidr`",
            });
        }
        for (i, link) in links.iter().enumerate() {
            let mut clash: Option<(String, &str)> = links[..i]
                .iter()
                .find(|o| blocks_overlap(o.block, link.block))
                .map(|o| {
                    (
                        format!("{} ({})", o.what, o.block),
                        "each link needs a subnet of its own: the VGW takes one BGP session per peer address",
                    )
                });
            let office = "AWS: peer addresses are for the two routers alone, never addresses of your local network";
            if clash.is_none() {
                clash = t
                    .lans
                    .iter()
                    .find(|l| blocks_overlap(l.cidr, link.block))
                    .map(|l| (format!("LAN `{}` ({})", l.name, l.cidr), office));
            }
            if clash.is_none() {
                clash = t
                    .vpc
                    .as_ref()
                    .filter(|v| vpc_given && blocks_overlap(v.cidr, link.block))
                    .map(|v| (format!("the VPC block {}", v.cidr), office));
            }
            let Some((other, why)) = clash else { continue };
            let d = self.error(
                link.span.clone(),
                format!("{} {}{} overlaps {other}", link.what, link.block, link.note),
            );
            d.expected = Some(link.fix.into());
            let source = if link.what.starts_with("VPN") {
                VPN_INSIDE_RULES
            } else {
                VIF_PEER_RULES
            };
            d.hint = Some(format!("{why} ({source})"));
        }
    }
}

impl Resolver<'_> {
    /// The public addresses the file gives (the internet node's, Elastic
    /// IPs, load balancers' public addresses) outside every office LAN: an
    /// office would deliver such an address on its LAN, never toward the
    /// internet or the VPC.
    pub(super) fn check_public_addresses_off_lans(&mut self, raw: &RawTopology, t: &Topology) {
        let mut given: Vec<(&toml::Spanned<String>, &str)> = Vec::new();
        if let Some(i) = &raw.internet {
            given.push((&i.ip, "internet address"));
        }
        if let Some(v) = &raw.vpc {
            given.extend(
                v.nat_gateway
                    .iter()
                    .map(|n| (&n.public_ip, "public address")),
            );
            given.extend(
                v.instance
                    .iter()
                    .filter_map(|i| i.public_ip.as_ref())
                    .map(|p| (p, "public address")),
            );
            given.extend(
                v.load_balancer
                    .iter()
                    .flat_map(|l| l.public_ips.iter())
                    .map(|p| (p, "public address")),
            );
        }
        for (raw_ip, what) in given {
            let Ok(ip) = raw_ip.get_ref().parse::<Ipv4Addr>() else {
                continue; // reported where it is read
            };
            let Some(lan) = t.lans.iter().find(|l| l.cidr.contains(&ip)) else {
                continue;
            };
            let d = self.error(
                raw_ip.span(),
                format!("{what} {ip} is inside LAN `{}` ({})", lan.name, lan.cidr),
            );
            d.expected = Some("an address outside every office LAN".into());
            d.hint = Some(
                "the office delivers an address of its own LAN on that LAN: traffic to it would never leave the office"
                    .into(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{diagnostics, load};

    fn vif(name: &str, vlan: u16, cust: &str, amzn: &str) -> String {
        format!("\n[[direct_connect.vif]]\nname = \"{name}\"\nvlan = {vlan}\ncustomer_asn = 65010\ncustomer_address = \"{cust}\"\namazon_address = \"{amzn}\"\ncustomer_router = \"gw\"\nadvertised_prefixes = [\"192.168.1.0/24\"]\n")
    }

    #[test]
    fn a_vif_inside_an_office_lan_is_an_error() {
        assert_eq!(
            diagnostics(&vif("dx", 101, "192.168.1.249/30", "192.168.1.250/30")),
            ["t.toml:6:20: error: VIF `dx`'s peer subnet 192.168.1.248/30 overlaps LAN `lan` (192.168.1.0/24)"]
        );
    }

    #[test]
    fn two_vifs_on_one_subnet_are_an_error_at_the_second() {
        let text = format!(
            "{}{}",
            vif("a", 101, "169.254.100.1/30", "169.254.100.2/30"),
            vif("b", 102, "169.254.100.1/30", "169.254.100.2/30")
        );
        let d = diagnostics(&text);
        assert_eq!(
            d.last().map(String::as_str),
            Some("t.toml:15:20: error: VIF `b`'s peer subnet 169.254.100.0/30 overlaps VIF `a`'s peer subnet (169.254.100.0/30)"),
            "{d:?}"
        );
    }

    #[test]
    fn a_vpn_on_its_default_block_beside_a_vif_there_is_an_error() {
        let text = format!(
            "{}\n[vpn]\nname = \"vpn\"\ncustomer_gateway = \"gw\"\nprefixes = [\"192.168.1.0/24\"]\n",
            vif("dx", 101, "169.254.10.1/30", "169.254.10.2/30")
        );
        assert_eq!(
            diagnostics(&text),
            ["t.toml:12:8: error: VPN `vpn`'s tunnel inside block 169.254.10.0/30 (the default) overlaps VIF `dx`'s peer subnet (169.254.10.0/30)"]
        );
        // elsewhere, both load
        load(&text.replace("169.254.10.", "169.254.11."));
    }

    #[test]
    fn a_public_address_inside_an_office_lan_is_an_error() {
        let text = "\n[internet]\nip = \"192.168.1.200\"\n".to_string();
        let d = diagnostics(&text);
        assert!(
            d.contains(&"t.toml:3:6: error: internet address 192.168.1.200 is inside LAN `lan` (192.168.1.0/24)".to_string()),
            "{d:?}"
        );
    }

    #[test]
    fn a_reserved_vpn_inside_block_is_an_error() {
        for block in ["169.254.3.0/30", "169.254.169.252/30"] {
            let d = diagnostics(&format!("\n[vpn]\nname = \"vpn\"\ncustomer_gateway = \"gw\"\nprefixes = [\"192.168.1.0/24\"]\ntunnel_inside_cidr = \"{block}\"\n"));
            assert_eq!(
                d,
                [format!(
                    "t.toml:6:22: error: tunnel inside block {block} is reserved by AWS"
                )]
            );
        }
    }
}
