//! The VPC and what routes inside it: gateways, subnets, route tables and
//! routes, network ACLs and their associations, Elastic IPs.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use toml::{Table, Value as Toml};

use super::names::{kebab, Ns};
use super::values::{self, present, ref_id, ref_or_attr, string};
use super::{rules, Mapper, Nacl, RouteTable, Subnet};
use crate::cfn::{Resource, Value};

/// An IPv4 block from a property; `Err` says why not. A block with host
/// bits set is truncated, with a note.
pub(super) fn cidr_of(v: Option<&Value>, what: &str) -> Result<(Ipv4Net, Option<String>), String> {
    let Some(v) = v.filter(|v| present(v)) else {
        return Err(format!("no {what}"));
    };
    let Some(text) = string(v) else {
        return Err(format!("{what} is {v}"));
    };
    match text.trim().parse::<Ipv4Net>() {
        Ok(n) if n.trunc() == n => Ok((n, None)),
        Ok(n) => Ok((
            n.trunc(),
            Some(format!(
                "{what} {n} has host bits set: {} is used",
                n.trunc()
            )),
        )),
        Err(_) => Err(format!("{what} `{text}` is not an IPv4 block")),
    }
}

impl Mapper<'_> {
    /// The first `AWS::EC2::VPC`; a second one is skipped.
    pub(super) fn vpc(&mut self) {
        let vpcs = self.of_kind("AWS::EC2::VPC");
        for (i, r) in vpcs.into_iter().enumerate() {
            if i > 0 {
                let first = self.vpc_id.clone().unwrap_or_else(|| "the first".into());
                let msg = format!(
                    "a second VPC: a topology has one VPC ({first}), so this one and everything in it is skipped"
                );
                self.warn(r, msg);
                continue;
            }
            let cidr = match cidr_of(r.props.get("CidrBlock"), "CidrBlock") {
                Ok((c, note)) => {
                    if let Some(n) = note {
                        self.warn(r, n);
                    }
                    c
                }
                Err(e) => {
                    self.warn(r, format!("{e}: the VPC cannot be imported"));
                    continue;
                }
            };
            if !(16..=28).contains(&cidr.prefix_len()) {
                let msg = format!(
                    "VPC block {cidr} is not /16 to /28, as AWS requires: the VPC cannot be imported"
                );
                self.warn(r, msg);
                continue;
            }
            let name = self.names.claim(Ns::Node, &kebab(&r.id));
            let mut t = Table::new();
            t.insert("name".into(), Toml::String(name));
            t.insert("cidr".into(), Toml::String(cidr.to_string()));
            t.insert("region".into(), Toml::String(self.ev.region.clone()));
            self.vpc = Some(t);
            self.vpc_cidr = Some(cidr);
            self.vpc_id = Some(r.id.clone());
        }
    }

    /// An address for every Elastic IP, in template order.
    pub(super) fn elastic_ips(&mut self) {
        for r in self.of_kind("AWS::EC2::EIP") {
            let given = r
                .props
                .get("Address")
                .and_then(string)
                .and_then(|a| a.parse::<Ipv4Addr>().ok());
            let a = match given {
                Some(a) => Some(a),
                None => self.next_public_address(),
            };
            if let Some(a) = a {
                self.eips.insert(r.id.clone(), a);
            }
        }
    }

    /// The internet gateway and the VGW attached to the VPC.
    pub(super) fn gateways(&mut self) {
        for r in self.of_kind("AWS::EC2::VPCGatewayAttachment") {
            if !self.in_vpc(r) {
                continue;
            }
            if let Some(v) = values::prop(&r.props, "InternetGatewayId") {
                match ref_id(v).and_then(|id| self.resource(id, "AWS::EC2::InternetGateway")) {
                    Some(g) if self.igw.is_none() => {
                        let name = self.names.claim(Ns::Node, &kebab(&g.id));
                        self.igw = Some((g.id.clone(), name));
                    }
                    Some(g) => {
                        let msg =
                            format!("a VPC takes one internet gateway: {} is not attached", g.id);
                        self.warn(r, msg);
                    }
                    None => {
                        let msg = format!(
                            "InternetGatewayId {v} is not a gateway of this template: skipped"
                        );
                        self.warn(r, msg);
                    }
                }
            }
            if let Some(v) = values::prop(&r.props, "VpnGatewayId") {
                match ref_id(v).and_then(|id| self.resource(id, "AWS::EC2::VPNGateway")) {
                    Some(g) if self.vgw.is_none() => {
                        let name = self.names.claim(Ns::Node, &kebab(&g.id));
                        self.vgw = Some((g.id.clone(), name));
                        if let Some(t) = values::prop(&g.props, "Type").and_then(string) {
                            if t != "ipsec.1" {
                                let msg = format!("VPN gateway type `{t}` is not ipsec.1");
                                self.warn(g, msg);
                            }
                        }
                    }
                    Some(g) => {
                        let msg = format!(
                            "a VPC takes one virtual private gateway: {} is not attached",
                            g.id
                        );
                        self.warn(r, msg);
                    }
                    None => {
                        let msg = format!(
                            "VpnGatewayId {v} is not a VPN gateway of this template: skipped"
                        );
                        self.warn(r, msg);
                    }
                }
            }
        }
        let igw = self.igw.as_ref().map(|(id, _)| id.clone());
        for r in self.of_kind("AWS::EC2::InternetGateway") {
            if Some(&r.id) != igw.as_ref() {
                self.warn(
                    r,
                    "not attached to the imported VPC: skipped, with the routes through it",
                );
            }
        }
        let vgw = self.vgw.as_ref().map(|(id, _)| id.clone());
        for r in self.of_kind("AWS::EC2::VPNGateway") {
            if Some(&r.id) != vgw.as_ref() {
                self.warn(
                    r,
                    "not attached to the imported VPC: skipped, with the routes and connections through it",
                );
            }
        }
    }

    /// The availability zone of a subnet. `unknown` numbers the distinct
    /// unknown zones, each given the next zone of the region.
    fn zone(&mut self, r: &Resource, unknown: &mut HashMap<String, String>) -> String {
        let region = self.ev.region.clone();
        let v = values::prop(&r.props, "AvailabilityZone");
        if let Some(z) = v.and_then(string) {
            if !z.starts_with(&region) {
                let msg = format!("availability zone {z} is not in region {region}");
                self.warn(r, msg);
            }
            return z;
        }
        let key = match (v, values::prop(&r.props, "AvailabilityZoneId")) {
            (Some(v), _) => format!("AvailabilityZone is {v}"),
            (None, Some(id)) => format!("AvailabilityZoneId {id} has no zone name here"),
            (None, None) => "no AvailabilityZone (AWS picks one)".to_string(),
        };
        let n = unknown.len();
        let z = match unknown.get(&key) {
            Some(z) => z.clone(),
            None => {
                let z = self
                    .ev
                    .azs
                    .iter()
                    .filter(|z| !unknown.values().any(|u| &u == z))
                    .nth(0)
                    .cloned()
                    .unwrap_or_else(|| format!("{region}{}", (b'a' + (n % 26) as u8) as char));
                unknown.insert(key.clone(), z.clone());
                z
            }
        };
        let msg = format!(
            "{key}: placed in {z} (each distinct unknown zone takes the next zone of {region})"
        );
        self.warn(r, msg);
        z
    }

    /// Subnets of the VPC.
    pub(super) fn subnets(&mut self) {
        let mut unknown = HashMap::new();
        for r in self.of_kind("AWS::EC2::Subnet") {
            if !self.in_vpc(r) {
                continue;
            }
            let cidr = match cidr_of(r.props.get("CidrBlock"), "CidrBlock") {
                Ok((c, note)) => {
                    if let Some(n) = note {
                        self.warn(r, n);
                    }
                    c
                }
                Err(e) => {
                    self.warn(r, format!("{e}: skipped"));
                    continue;
                }
            };
            let vpc = self.vpc_cidr.unwrap_or_default();
            if !vpc.contains(&cidr) {
                let msg = format!(
                    "subnet block {cidr} is outside the VPC block {vpc} (secondary blocks are not modeled): skipped"
                );
                self.warn(r, msg);
                continue;
            }
            if cidr.prefix_len() > 28 {
                let msg = format!("subnet block {cidr} is smaller than /28: skipped");
                self.warn(r, msg);
                continue;
            }
            if let Some((_, other)) = self
                .subnets
                .iter()
                .find(|(_, s)| crate::resolve::blocks_overlap(s.cidr, cidr))
            {
                let msg = format!(
                    "subnet block {cidr} overlaps subnet {} ({}): skipped",
                    other.name, other.cidr
                );
                self.warn(r, msg);
                continue;
            }
            let az = self.zone(r, &mut unknown);
            if !self.azs.contains(&az) {
                self.azs.push(az.clone());
            }
            if r.props.get("Ipv6CidrBlock").is_some_and(present)
                || r.props.get("Ipv6Native").and_then(values::boolean) == Some(true)
            {
                self.warn(r, "its IPv6 block is ignored: IPv6 is not modeled");
            }
            let public = r
                .props
                .get("MapPublicIpOnLaunch")
                .and_then(values::boolean)
                .unwrap_or(false);
            let name = self.names.claim(Ns::Subnet, &kebab(&r.id));
            self.subnets.push((
                r.id.clone(),
                Subnet {
                    name,
                    az,
                    cidr,
                    public,
                    route_table: None,
                    nacl: None,
                },
            ));
        }
    }

    /// Index of a mapped subnet by logical id.
    /// The subnet of an association resource (`SubnetId`), or a warning.
    fn association_subnet(&mut self, r: &Resource) -> Option<usize> {
        let si = self.subnet_index(r.props.get("SubnetId"));
        if si.is_none() {
            let msg = format!(
                "SubnetId {} is not an imported subnet: skipped",
                r.props.get("SubnetId").unwrap_or(&Value::Null)
            );
            self.warn(r, msg);
        }
        si
    }

    /// Associates subnet `si` with a route table or ACL (`slot` picks
    /// which); a subnet has one of each, so a second association is
    /// skipped with a warning. `None` is the VPC's default.
    fn associate(
        &mut self,
        r: &Resource,
        si: usize,
        slot: fn(&mut Subnet) -> &mut Option<String>,
        name: Option<String>,
    ) {
        let subnet = &mut self.subnets[si].1;
        let subnet_name = subnet.name.clone();
        let current = slot(subnet);
        if let Some(old) = current {
            let msg = format!(
                "subnet {subnet_name} is already associated with {old}: this association is skipped"
            );
            self.warn(r, msg);
            return;
        }
        *current = name;
    }

    fn subnet_index(&self, v: Option<&Value>) -> Option<usize> {
        let id = v.and_then(ref_id)?;
        self.subnets.iter().position(|(sid, _)| sid == id)
    }

    /// Network ACLs, their entries and associations.
    pub(super) fn nacls(&mut self) {
        for r in self.of_kind("AWS::EC2::NetworkAcl") {
            if !self.in_vpc(r) {
                continue;
            }
            let name = self.names.claim(Ns::Nacl, &kebab(&r.id));
            self.nacls.push((
                r.id.clone(),
                Nacl {
                    name,
                    ..Nacl::default()
                },
            ));
        }
        let vpc = self.vpc_id.clone();
        for r in self.of_kind("AWS::EC2::NetworkAclEntry") {
            let acl = r.props.get("NetworkAclId");
            let is_default = matches!(acl, Some(Value::Attr(id, a))
                if Some(id) == vpc.as_ref() && a == "DefaultNetworkAcl");
            let index = acl
                .and_then(ref_id)
                .and_then(|id| self.nacls.iter().position(|(nid, _)| nid == id));
            if !is_default && index.is_none() {
                let msg = match acl {
                    Some(v) => format!("NetworkAclId {v} is not an imported network ACL: skipped"),
                    None => "no NetworkAclId: skipped".to_string(),
                };
                self.warn(r, msg);
                continue;
            }
            let Some((egress, rule)) = self.nacl_entry(r) else {
                continue;
            };
            if is_default && self.default_nacl.is_none() {
                self.default_nacl = Some(Nacl {
                    name: "default".into(),
                    ingress: vec![rules::allow_all_nacl_rule()],
                    egress: vec![rules::allow_all_nacl_rule()],
                });
            }
            let acl = match index {
                Some(i) => &mut self.nacls[i].1,
                None => match self.default_nacl.as_mut() {
                    Some(d) => d,
                    None => continue,
                },
            };
            let (dir, list) = if egress {
                ("outbound", &mut acl.egress)
            } else {
                ("inbound", &mut acl.ingress)
            };
            let number = rule.get("rule").and_then(Toml::as_integer);
            let name = acl.name.clone();
            let msg = if list
                .iter()
                .any(|x| x.get("rule").and_then(Toml::as_integer) == number)
            {
                Some(format!(
                    "{dir} rule number {} is already used in network ACL {name}: skipped",
                    number.unwrap_or_default()
                ))
            } else if list.len() >= 20 {
                Some(format!(
                    "network ACL {name} already has 20 {dir} rules, the AWS quota: skipped"
                ))
            } else {
                list.push(rule);
                None
            };
            if let Some(msg) = msg {
                self.warn(r, msg);
            }
        }
        for r in self.of_kind("AWS::EC2::SubnetNetworkAclAssociation") {
            let Some(si) = self.association_subnet(r) else {
                continue;
            };
            let acl = r.props.get("NetworkAclId");
            let name = match acl {
                Some(Value::Attr(id, a))
                    if Some(id) == vpc.as_ref() && a == "DefaultNetworkAcl" =>
                {
                    None
                }
                _ => match acl
                    .and_then(ref_id)
                    .and_then(|id| self.nacls.iter().find(|(nid, _)| nid == id))
                {
                    Some((_, n)) => Some(n.name.clone()),
                    None => {
                        let msg = format!(
                            "NetworkAclId {} is not an imported network ACL: skipped",
                            acl.unwrap_or(&Value::Null)
                        );
                        self.warn(r, msg);
                        continue;
                    }
                },
            };
            self.associate(r, si, |s| &mut s.nacl, name);
        }
    }

    /// Route tables, routes, associations and VGW propagation.
    pub(super) fn route_tables(&mut self) {
        for r in self.of_kind("AWS::EC2::RouteTable") {
            if !self.in_vpc(r) {
                continue;
            }
            let name = self.names.claim(Ns::RouteTable, &kebab(&r.id));
            self.route_tables.push((
                r.id.clone(),
                RouteTable {
                    name,
                    ..RouteTable::default()
                },
            ));
        }
        for r in self.of_kind("AWS::EC2::Route") {
            self.route(r);
        }
        for r in self.of_kind("AWS::EC2::SubnetRouteTableAssociation") {
            let Some(si) = self.association_subnet(r) else {
                continue;
            };
            let rt = r.props.get("RouteTableId");
            let Some(name) = rt
                .and_then(ref_id)
                .and_then(|id| self.route_tables.iter().find(|(rid, _)| rid == id))
                .map(|(_, t)| t.name.clone())
            else {
                let msg = format!(
                    "RouteTableId {} is not an imported route table: skipped",
                    rt.unwrap_or(&Value::Null)
                );
                self.warn(r, msg);
                continue;
            };
            self.associate(r, si, |s| &mut s.route_table, Some(name));
        }
        for r in self.of_kind("AWS::EC2::VPNGatewayRoutePropagation") {
            let gw = r.props.get("VpnGatewayId");
            if gw.and_then(ref_id) != self.vgw.as_ref().map(|(id, _)| id.as_str())
                || self.vgw.is_none()
            {
                let msg = format!(
                    "VpnGatewayId {} is not the VPC's attached VPN gateway: skipped",
                    gw.unwrap_or(&Value::Null)
                );
                self.warn(r, msg);
                continue;
            }
            for t in values::list(r.props.get("RouteTableIds")) {
                match ref_id(t)
                    .and_then(|id| self.route_tables.iter().position(|(rid, _)| rid == id))
                {
                    Some(i) => self.route_tables[i].1.propagate_vgw = true,
                    None => {
                        let msg =
                            format!("route table {t} is not imported: no propagation into it");
                        self.warn(r, msg);
                    }
                }
            }
        }
    }

    /// One `AWS::EC2::Route`.
    fn route(&mut self, r: &Resource) {
        let rt = r.props.get("RouteTableId");
        let Some(ti) = rt
            .and_then(ref_id)
            .and_then(|id| self.route_tables.iter().position(|(rid, _)| rid == id))
        else {
            let msg = format!(
                "RouteTableId {} is not an imported route table: skipped",
                rt.unwrap_or(&Value::Null)
            );
            self.warn(r, msg);
            return;
        };
        if values::prop(&r.props, "DestinationIpv6CidrBlock").is_some() {
            self.warn(r, "an IPv6 route: IPv6 is not modeled, skipped");
            return;
        }
        if values::prop(&r.props, "DestinationPrefixListId").is_some() {
            self.warn(r, "a route to a prefix list is not modeled: skipped");
            return;
        }
        let prefix = match cidr_of(r.props.get("DestinationCidrBlock"), "DestinationCidrBlock") {
            Ok((p, note)) => {
                if let Some(n) = note {
                    self.warn(r, n);
                }
                p
            }
            Err(e) => {
                self.warn(r, format!("{e}: skipped"));
                return;
            }
        };
        if Some(prefix) == self.vpc_cidr {
            self.warn(
                r,
                format!("a route for the VPC's own block {prefix}: skipped (the local route)"),
            );
            return;
        }
        let target = match self.route_target(r) {
            Ok(t) => t,
            Err(e) => {
                self.warn(r, format!("{e}: skipped"));
                return;
            }
        };
        let table = &mut self.route_tables[ti].1;
        if table.routes.iter().any(|(p, _)| *p == prefix) {
            let msg = format!(
                "route table {} already has a route for {prefix}: skipped",
                table.name
            );
            self.warn(r, msg);
            return;
        }
        let quota = crate::resolve::aws_limits::MAX_STATIC_ROUTES;
        if table.routes.len() >= quota {
            let msg = format!(
                "route table {} already has {quota} static routes, AWS's quota per table: the stack would fail to create this one; skipped",
                table.name
            );
            self.warn(r, msg);
            return;
        }
        table.routes.push((prefix, target));
    }

    /// The topology name of a route's target.
    fn route_target(&mut self, r: &Resource) -> Result<String, String> {
        const UNMODELED: &[(&str, &str)] = &[
            (
                "TransitGatewayId",
                "routes to a transit gateway are not modeled",
            ),
            ("VpcPeeringConnectionId", "VPC peering is not modeled"),
            (
                "EgressOnlyInternetGatewayId",
                "an egress-only internet gateway is IPv6 only",
            ),
            ("CarrierGatewayId", "carrier gateways are not modeled"),
            ("LocalGatewayId", "local gateways are not modeled"),
            ("VpcEndpointId", "routes to a VPC endpoint are not modeled"),
            ("CoreNetworkArn", "Cloud WAN core networks are not modeled"),
        ];
        let p = &r.props;
        if let Some(v) = values::prop(p, "GatewayId") {
            let id = ref_id(v);
            if let Some((gid, name)) = &self.igw {
                if id == Some(gid.as_str()) {
                    return Ok(name.clone());
                }
            }
            if let Some((gid, name)) = &self.vgw {
                if id == Some(gid.as_str()) {
                    return Ok(name.clone());
                }
            }
            return Err(format!(
                "GatewayId {v} is not the VPC's attached internet gateway or VPN gateway"
            ));
        }
        if let Some(v) = values::prop(p, "NatGatewayId") {
            return ref_id(v)
                .and_then(|id| self.nats.iter().find(|(nid, _)| nid == id))
                .map(|(_, n)| n.name.clone())
                .ok_or_else(|| format!("NatGatewayId {v} is not an imported NAT gateway"));
        }
        if let Some(v) = values::prop(p, "InstanceId") {
            return ref_id(v)
                .and_then(|id| self.instances.iter().find(|(iid, _)| iid == id))
                .map(|(_, i)| i.name.clone())
                .ok_or_else(|| format!("InstanceId {v} is not an imported instance"));
        }
        if let Some(v) = values::prop(p, "NetworkInterfaceId") {
            return ref_id(v)
                .and_then(|id| self.eni_owner.get(id))
                .and_then(|owner| self.instances.iter().find(|(iid, _)| iid == owner))
                .map(|(_, i)| i.name.clone())
                .ok_or_else(|| {
                    format!("NetworkInterfaceId {v} is not the interface of an imported instance")
                });
        }
        for (key, why) in UNMODELED {
            if values::prop(p, key).is_some() {
                return Err((*why).to_string());
            }
        }
        Err("no target".to_string())
    }

    /// The address of the Elastic IP a reference names, used by `r`.
    pub(super) fn eip(&mut self, r: &Resource, v: &Value) -> Option<Ipv4Addr> {
        let a = self.eip_address(v)?;
        self.note_public(r);
        Some(a)
    }

    /// The address of the Elastic IP a reference names; the EIP counts as
    /// used.
    pub(super) fn eip_address(&mut self, v: &Value) -> Option<Ipv4Addr> {
        let id = ref_or_attr(v, "AllocationId")?;
        let a = self.eips.get(id).copied()?;
        self.consumed.insert(id.to_string());
        Some(a)
    }
}
