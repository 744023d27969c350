//! The ways into the office: the Site-to-Site VPN (customer gateway, VPN
//! connection and its static routes), Direct Connect (connection, private
//! VIFs), and the placeholder office that ends them when no office file is
//! merged.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use toml::{Table, Value as Toml};

use super::names::{kebab, Ns};
use super::values::{self, int, ref_id, string};
use super::vpc::cidr_of;
use super::{strings, Mapper};
use crate::cfn::{Resource, Value};

/// The node name of the office end when the template names no customer
/// gateway.
const CUSTOMER_ROUTER: &str = "customer-router";

impl Mapper<'_> {
    /// VPN and Direct Connect.
    pub(super) fn hybrid(&mut self) {
        self.vpn_connections();
        self.direct_connect();
    }

    /// The name of the office end, claimed once.
    fn office_end(&mut self, base: &str) -> String {
        if let Some(n) = &self.office_end {
            return n.clone();
        }
        let n = self.names.claim(Ns::Node, base);
        self.office_end = Some(n.clone());
        n
    }

    /// The VGW's logical id, if `v` names it.
    fn is_vgw(&self, v: Option<&Value>) -> bool {
        match (&self.vgw, v.and_then(ref_id)) {
            (Some((id, _)), Some(r)) => id == r,
            _ => false,
        }
    }

    fn vpn_connections(&mut self) {
        let mut used_cgws = Vec::new();
        let mut mapped: Option<String> = None;
        for r in self.of_kind("AWS::EC2::VPNConnection") {
            let p = &r.props;
            if values::prop(p, "TransitGatewayId").is_some() {
                self.warn(r, "a VPN to a transit gateway is not modeled: skipped");
                continue;
            }
            if !self.is_vgw(p.get("VpnGatewayId")) {
                let msg = format!(
                    "VpnGatewayId {} is not the VPC's attached VPN gateway: skipped",
                    p.get("VpnGatewayId").unwrap_or(&Value::Null)
                );
                self.warn(r, msg);
                continue;
            }
            if let Some(first) = &mapped {
                let msg = format!("a topology has one VPN ({first}): skipped");
                self.warn(r, msg);
                continue;
            }
            let cgw = p
                .get("CustomerGatewayId")
                .and_then(ref_id)
                .and_then(|id| self.resource(id, "AWS::EC2::CustomerGateway"));
            let Some(cgw) = cgw else {
                let msg = format!(
                    "CustomerGatewayId {} is not a customer gateway of this template: skipped",
                    p.get("CustomerGatewayId").unwrap_or(&Value::Null)
                );
                self.warn(r, msg);
                continue;
            };
            used_cgws.push(cgw.id.clone());
            let end = self.office_end(&kebab(&cgw.id));
            let static_only =
                values::prop(p, "StaticRoutesOnly").and_then(values::boolean) == Some(true);
            let mut prefixes: Vec<String> = Vec::new();
            for route in self.of_kind("AWS::EC2::VPNConnectionRoute") {
                if route.props.get("VpnConnectionId").and_then(ref_id) != Some(r.id.as_str()) {
                    continue;
                }
                match cidr_of(
                    route.props.get("DestinationCidrBlock"),
                    "DestinationCidrBlock",
                ) {
                    Ok((c, note)) => {
                        if let Some(n) = note {
                            self.warn(route, n);
                        }
                        if !prefixes.contains(&c.to_string()) {
                            prefixes.push(c.to_string());
                        }
                        if !static_only {
                            self.warn(
                                route,
                                "a static route on a BGP VPN (StaticRoutesOnly is not true)",
                            );
                        }
                    }
                    Err(e) => self.warn(route, format!("{e}: skipped")),
                }
            }
            if prefixes.is_empty() {
                let why = if static_only {
                    "no VPNConnectionRoute"
                } else {
                    "the office announces its prefixes over BGP"
                };
                let msg = format!(
                    "{why}: the VPN carries no office prefix (give `prefixes` in the office file)"
                );
                self.warn(r, msg);
            }
            let mut t = Table::new();
            let name = self.names.claim(Ns::Vif, &kebab(&r.id));
            t.insert("name".into(), Toml::String(name));
            t.insert("customer_gateway".into(), Toml::String(end));
            t.insert(
                "routing".into(),
                Toml::String(if static_only { "static" } else { "bgp" }.into()),
            );
            if !prefixes.is_empty() {
                t.insert("prefixes".into(), strings(&prefixes));
            }
            let tunnels = values::list(p.get("VpnTunnelOptionsSpecifications"));
            if let Some(inside) = tunnels
                .first()
                .and_then(|o| values::prop(o, "TunnelInsideCidr"))
            {
                match string(inside).and_then(|s| s.parse::<Ipv4Net>().ok()) {
                    Some(c)
                        if c.prefix_len() == 30
                            && c.trunc() == c
                            && "169.254.0.0/16"
                                .parse::<Ipv4Net>()
                                .is_ok_and(|l| l.contains(&c)) =>
                    {
                        t.insert("tunnel_inside_cidr".into(), Toml::String(c.to_string()));
                    }
                    _ => {
                        let msg = format!(
                            "TunnelInsideCidr {inside} is not a /30 of 169.254.0.0/16: the default is used"
                        );
                        self.warn(r, msg);
                    }
                }
            }
            if tunnels.len() > 1 {
                self.warn(
                    r,
                    "one tunnel is modeled: the second tunnel's options are ignored",
                );
            }
            for c in &prefixes {
                if let Ok(net) = c.parse::<Ipv4Net>() {
                    self.office_lans.push(net);
                }
            }
            mapped = Some(r.id.clone());
            self.vpn = Some(t);
        }
        for r in self.of_kind("AWS::EC2::CustomerGateway") {
            if !used_cgws.contains(&r.id) {
                self.warn(r, "not used by an imported VPN connection: ignored");
            }
        }
        for r in self.of_kind("AWS::EC2::VPNConnectionRoute") {
            let vpn = r.props.get("VpnConnectionId").and_then(ref_id);
            if vpn.is_none() || vpn != mapped.as_deref() {
                self.warn(r, "not a route of the imported VPN connection: skipped");
            }
        }
    }

    fn direct_connect(&mut self) {
        for r in self.of_kind("AWS::DirectConnect::Connection") {
            if self.dx_connection.is_some() {
                self.warn(r, "a topology has one Direct Connect connection: skipped");
                continue;
            }
            let mut t = Table::new();
            t.insert("name".into(), Toml::String(kebab(&r.id)));
            if let Some(l) = values::prop(&r.props, "Location").and_then(string) {
                t.insert("location".into(), Toml::String(l));
            }
            if let Some(b) = values::prop(&r.props, "Bandwidth").and_then(string) {
                t.insert("bandwidth".into(), Toml::String(b));
            }
            self.dx_connection = Some(t);
        }
        for r in self.of_kind("AWS::DirectConnect::DirectConnectGateway") {
            self.warn(
                r,
                "Direct Connect gateways are not modeled: VIFs on it are attached to the VPC's VGW",
            );
        }
        let vifs = self.of_kind("AWS::DirectConnect::PrivateVirtualInterface");
        for (i, r) in vifs.into_iter().enumerate() {
            if let Some(t) = self.private_vif(r, i) {
                self.vifs.push(t);
            }
        }
    }

    fn private_vif(&mut self, r: &Resource, index: usize) -> Option<Table> {
        let p = &r.props;
        let Some((_, vgw)) = self.vgw.clone() else {
            self.warn(
                r,
                "the VPC has no attached VPN gateway for the VIF: skipped",
            );
            return None;
        };
        if !self.is_vgw(p.get("VirtualGatewayId")) {
            match values::prop(p, "DirectConnectGatewayId") {
                Some(g) => {
                    let msg = format!(
                        "on Direct Connect gateway {g}, which is not modeled: attached straight to the VGW {vgw}"
                    );
                    self.warn(r, msg);
                }
                None => {
                    let msg = format!(
                        "VirtualGatewayId {} is not the VPC's attached VPN gateway: skipped",
                        p.get("VirtualGatewayId").unwrap_or(&Value::Null)
                    );
                    self.warn(r, msg);
                    return None;
                }
            }
        }
        let Some(vlan) = values::prop(p, "Vlan")
            .and_then(int)
            .filter(|v| (1..=4094).contains(v))
        else {
            self.warn(r, "no Vlan from 1 to 4094: skipped");
            return None;
        };
        if self
            .vifs
            .iter()
            .any(|v| v.get("vlan").and_then(Toml::as_integer) == Some(vlan))
        {
            self.warn(
                r,
                format!("VLAN {vlan} is already used by another VIF: skipped"),
            );
            return None;
        }
        let peers = values::list(p.get("BgpPeers"));
        let Some(peer) = peers.iter().find(|b| {
            values::prop(b, "AddressFamily")
                .and_then(string)
                .is_none_or(|f| f == "ipv4")
        }) else {
            self.warn(r, "no IPv4 BGP peer: skipped");
            return None;
        };
        let vgw_asn = self
            .vgw
            .as_ref()
            .and_then(|(id, _)| self.by_id.get(id.as_str()))
            .and_then(|g| g.props.get("AmazonSideAsn"))
            .and_then(int)
            .filter(|a| crate::resolve::aws_limits::vgw_asn_creatable(*a))
            .unwrap_or(64512);
        let Some(asn) = values::prop(peer, "Asn")
            .and_then(int)
            .filter(|a| (1..=4294967294).contains(a))
        else {
            self.warn(r, "its BGP peer has no Asn: skipped");
            return None;
        };
        if asn == vgw_asn {
            self.warn(
                r,
                format!("customer ASN {asn} equals the VGW's ASN: skipped"),
            );
            return None;
        }
        let customer = values::prop(peer, "CustomerAddress").and_then(string);
        let amazon = values::prop(peer, "AmazonAddress").and_then(string);
        let (customer, amazon) = match (customer, amazon) {
            (Some(c), Some(a)) => (c, a),
            _ => {
                let third = 100 + index as u32;
                let base = Ipv4Addr::new(169, 254, (third % 256) as u8, 0);
                let c = format!("{}/30", Ipv4Addr::from(u32::from(base) + 1));
                let a = format!("{}/30", Ipv4Addr::from(u32::from(base) + 2));
                let msg = format!(
                    "no CustomerAddress and AmazonAddress (AWS assigns them): {c} and {a} are used"
                );
                self.warn(r, msg);
                (c, a)
            }
        };
        if values::prop(peer, "AuthKey").is_some() {
            self.warn(
                r,
                "the BGP AuthKey is not copied: md5_key says where a key is kept (env:NAME or file:PATH)",
            );
        }
        let mtu = match values::prop(p, "Mtu").and_then(int) {
            None => None,
            Some(m @ (1500 | 9001)) => Some(m),
            Some(m) => {
                self.warn(
                    r,
                    format!("MTU {m} is not modeled (1500 or 9001): 1500 is used"),
                );
                None
            }
        };
        let end = self.office_end(CUSTOMER_ROUTER);
        self.warn(
            r,
            "the prefixes the office advertises are not in a template: none (give `advertised_prefixes` in the office file)",
        );
        let name = self.names.claim(Ns::Vif, &kebab(&r.id));
        let mut t = Table::new();
        t.insert("name".into(), Toml::String(name));
        t.insert("vlan".into(), Toml::Integer(vlan));
        t.insert("customer_asn".into(), Toml::Integer(asn));
        t.insert("customer_address".into(), Toml::String(customer));
        t.insert("amazon_address".into(), Toml::String(amazon));
        if let Some(m) = mtu {
            t.insert("mtu".into(), Toml::Integer(m));
        }
        t.insert("customer_router".into(), Toml::String(end));
        t.insert("vgw".into(), Toml::String(vgw));
        Some(t)
    }

    /// The placeholder office, when something ends there and no office file
    /// will be merged.
    pub(super) fn office_site(&mut self) -> Option<Table> {
        let end = self.office_end.clone()?;
        if !self.opts.office_placeholder {
            return None;
        }
        let vpc = self.vpc_cidr;
        let mut lans: Vec<Table> = Vec::new();
        let mut interfaces: Vec<Toml> = Vec::new();
        let mut placed: Vec<Ipv4Net> = Vec::new();
        let mut skipped: Vec<String> = Vec::new();
        for c in self.office_lans.clone() {
            let overlaps = crate::resolve::blocks_overlap;
            if c.prefix_len() > 30
                || vpc.is_some_and(|v| overlaps(v, c))
                || placed.iter().any(|&p| overlaps(p, c))
            {
                skipped.push(c.to_string());
                continue;
            }
            placed.push(c);
            let name = self
                .names
                .claim(Ns::Lan, &format!("office-lan-{}", placed.len()));
            let mut l = Table::new();
            l.insert("name".into(), Toml::String(name.clone()));
            l.insert("cidr".into(), Toml::String(c.to_string()));
            lans.push(l);
            let mut i = Table::new();
            i.insert("lan".into(), Toml::String(name));
            i.insert(
                "ip".into(),
                Toml::String(Ipv4Addr::from(u32::from(c.network()) + 1).to_string()),
            );
            interfaces.push(Toml::Table(i));
        }
        let site_name = self.names.claim(Ns::Site, "office");
        let mut msg = format!(
            "the office is not in the template: a placeholder site `{site_name}` with router `{end}` (which filters nothing) stands for it; give the real office with --merge"
        );
        if !skipped.is_empty() {
            msg.push_str(&format!(
                "; no LAN for {} (overlapping, or smaller than /30)",
                skipped.join(", ")
            ));
        }
        let at = self
            .ev
            .resources
            .iter()
            .find(|r| {
                r.kind == "AWS::EC2::CustomerGateway"
                    || r.kind == "AWS::DirectConnect::PrivateVirtualInterface"
            })
            .cloned();
        if let Some(r) = at {
            self.warn(&r, msg);
        }
        let mut router = Table::new();
        router.insert("name".into(), Toml::String(end));
        if !interfaces.is_empty() {
            router.insert("interfaces".into(), Toml::Array(interfaces));
        }
        let mut site = Table::new();
        site.insert("name".into(), Toml::String(site_name));
        if !lans.is_empty() {
            site.insert(
                "lan".into(),
                Toml::Array(lans.into_iter().map(Toml::Table).collect()),
            );
        }
        site.insert("router".into(), Toml::Array(vec![Toml::Table(router)]));
        Some(site)
    }
}
