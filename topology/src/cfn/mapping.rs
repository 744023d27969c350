//! An evaluated CloudFormation template mapped onto the topology format:
//! a [`toml::Table`] with exactly the keys `docs/topology.md` documents, so
//! that [`render`] of it loads with [`crate::parse`], plus a warning for
//! everything that could not be mapped as the template means it.
//!
//! What is mapped, and how:
//!
//! - **Names** are the logical ids in lower kebab case (`PublicSubnet1` →
//!   `public-subnet-1`), made unique within each namespace of the format by
//!   a `-2`, `-3` ... suffix. `default` (security group, network ACL),
//!   `main` (route table), `internet` and `blackhole` are never produced
//!   from a logical id.
//! - **One VPC**: the first `AWS::EC2::VPC`; a second one, and everything
//!   that names it, is skipped with a warning. Its zones are those of its
//!   subnets, in the order they first appear.
//! - **Addresses** AWS only assigns at deployment are placeholders, chosen
//!   deterministically: Elastic IPs and auto-assigned public addresses take
//!   203.0.113.10, .11 ... (RFC 5737 documentation range), Elastic IPs first
//!   in template order, then the others in the order they are mapped; one
//!   warning says so. Private addresses not given in the template are the
//!   lowest free address of the subnet from `.4` up (AWS keeps the first
//!   four and the last one), after every address the template gives
//!   explicitly. VIF peer addresses not given take 169.254.100+i.1/30 and .2/30.
//! - **Security groups**: a group with no egress rule keeps
//!   CloudFormation's allow-all egress, written as "egress omitted".
//!   Inline `SecurityGroupEgress` rules replace it (`egress = []` when
//!   none of them can be mapped). Standalone `SecurityGroupEgress`
//!   resources add to it, as CloudFormation does: a group without inline
//!   egress rules keeps its allow-all rule, written as the first `egress`
//!   rule, and a warning says that the added rule then changes nothing.
//!   Standalone `SecurityGroupIngress` resources add to their `GroupId`.
//!   `GetAtt VPC.DefaultSecurityGroup` names the VPC's `default` group;
//!   rules added to it declare `default` with its own two rules plus them.
//!   A rule repeated on one group is kept once, with a warning.
//! - **The office side** of a VPN connection or a private VIF is not in a
//!   template. Without `--merge` ([`MapOptions::office_placeholder`]) a
//!   placeholder site `office` is generated so that the import checks: one
//!   `[[site.router]]` (named after the `CustomerGateway`, else
//!   `customer-router`), which filters nothing, with one LAN per static VPN
//!   route; a warning says so. With `--merge` nothing is generated and the
//!   office file must declare the node of that name.
//! - Resources of any other type are ignored with a warning naming the
//!   logical id and line.

mod compute;
mod hybrid;
mod merge;
mod names;
mod render;
mod rules;
mod scaling;
mod values;
mod vpc;

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;

use crate::resolve::FIRST_PUBLIC;

use ipnet::Ipv4Net;
use toml::{Table, Value as Toml};

use super::{Evaluated, ImportWarning, Resource, Value};
pub use merge::merge;
pub use names::kebab;
pub use render::render;

/// Choices of the mapping that the template cannot make.
#[derive(Debug, Clone)]
pub struct MapOptions {
    /// Generate a placeholder office site for the customer end of VPN
    /// connections and private VIFs (see the module documentation). Turn it
    /// off when an office file will be merged in.
    pub office_placeholder: bool,
}

impl Default for MapOptions {
    fn default() -> Self {
        MapOptions {
            office_placeholder: true,
        }
    }
}

/// Maps an evaluated template onto a topology table, with the default
/// [`MapOptions`] (a placeholder office when the template needs one).
pub fn to_topology(ev: &Evaluated) -> (Table, Vec<ImportWarning>) {
    to_topology_with(ev, &MapOptions::default())
}

/// Maps an evaluated template onto a topology table. The warnings are in
/// template order: evaluation warnings are not repeated here.
pub fn to_topology_with(ev: &Evaluated, opts: &MapOptions) -> (Table, Vec<ImportWarning>) {
    let mut m = Mapper::new(ev, opts);
    m.run();
    let table = m.table();
    let mut warnings = m.warnings;
    warnings.sort_by_key(|w| w.line);
    (table, warnings)
}

/// Reads a TOML document (an office file for [`merge`]) as a table.
pub fn parse_table(text: &str) -> Result<Table, String> {
    text.parse::<Table>().map_err(|e| e.to_string())
}

/// The address of the `[internet]` node the import adds when the VPC has an
/// internet gateway.
pub const INTERNET_IP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);

/// A mapped subnet.
#[derive(Debug, Clone)]
struct Subnet {
    name: String,
    az: String,
    cidr: Ipv4Net,
    public: bool,
    route_table: Option<String>,
    nacl: Option<String>,
}

/// A mapped route table.
#[derive(Debug, Clone, Default)]
struct RouteTable {
    name: String,
    propagate_vgw: bool,
    routes: Vec<(Ipv4Net, String)>,
}

/// A mapped network ACL: rules as topology tables.
#[derive(Debug, Clone, Default)]
struct Nacl {
    name: String,
    ingress: Vec<Table>,
    egress: Vec<Table>,
}

/// A mapped security group.
#[derive(Debug, Clone, Default)]
struct SecurityGroup {
    name: String,
    description: Option<String>,
    ingress: Vec<Table>,
    egress: Vec<Table>,
    /// `egress` is written out: inline egress rules were given (the
    /// allow-all rule is gone), or standalone ones were added.
    egress_given: bool,
    /// Standalone egress rules were added to a group without inline ones:
    /// `egress` starts with the allow-all rule the group was created with.
    default_egress_kept: bool,
}

/// A mapped VPC node with one interface (instance, NAT gateway).
#[derive(Debug, Clone, Default)]
struct Instance {
    name: String,
    subnet: String,
    ip: Option<Ipv4Addr>,
    public_ip: Option<Ipv4Addr>,
    security_groups: Option<Vec<String>>,
    source_dest_check: Option<bool>,
}

/// The state of one mapping: what is mapped so far, by logical id.
struct Mapper<'a> {
    ev: &'a Evaluated,
    opts: &'a MapOptions,
    by_id: HashMap<&'a str, &'a Resource>,
    warnings: Vec<ImportWarning>,
    names: names::Names,
    /// Logical ids used by another resource (a launch template, an ENI ...):
    /// no "ignored" warning for them.
    consumed: HashSet<String>,

    vpc_id: Option<String>,
    vpc: Option<Table>,
    vpc_cidr: Option<Ipv4Net>,
    azs: Vec<String>,
    igw: Option<(String, String)>,
    vgw: Option<(String, String)>,
    subnets: Vec<(String, Subnet)>,
    route_tables: Vec<(String, RouteTable)>,
    nacls: Vec<(String, Nacl)>,
    /// Entries on the VPC's default ACL (GetAtt VPC.DefaultNetworkAcl).
    default_nacl: Option<Nacl>,
    sgs: Vec<(String, SecurityGroup)>,
    prefix_lists: Vec<(String, String, Vec<String>)>,

    /// Elastic IP addresses by logical id.
    eips: HashMap<String, Ipv4Addr>,
    next_public: u32,
    public_note: Option<(String, usize)>,
    /// VPC private addresses given or assigned so far.
    used: HashSet<Ipv4Addr>,
    /// Addresses the template gives explicitly, once taken by a resource.
    claimed: HashSet<Ipv4Addr>,

    nats: Vec<(String, Instance)>,
    instances: Vec<(String, Instance)>,
    /// ENI logical id → instance logical id.
    eni_owner: HashMap<String, String>,
    asgs: Vec<(String, Table)>,
    /// ASG logical id → its name (a listener target).
    asg_names: HashMap<String, String>,
    /// Target group logical id → the Auto Scaling groups registered in it.
    tg_asgs: HashMap<String, Vec<String>>,
    lbs: Vec<(String, Table)>,
    dbs: Vec<Table>,

    /// The node that ends VPNs and VIFs on the office side.
    office_end: Option<String>,
    office_lans: Vec<Ipv4Net>,
    vpn: Option<Table>,
    dx_connection: Option<Table>,
    vifs: Vec<Table>,
}

impl<'a> Mapper<'a> {
    fn new(ev: &'a Evaluated, opts: &'a MapOptions) -> Self {
        let mut by_id = HashMap::new();
        for r in &ev.resources {
            by_id.insert(r.id.as_str(), r);
        }
        Mapper {
            ev,
            opts,
            by_id,
            warnings: Vec::new(),
            names: names::Names::new(),
            consumed: HashSet::new(),
            vpc_id: None,
            vpc: None,
            vpc_cidr: None,
            azs: Vec::new(),
            igw: None,
            vgw: None,
            subnets: Vec::new(),
            route_tables: Vec::new(),
            nacls: Vec::new(),
            default_nacl: None,
            sgs: Vec::new(),
            prefix_lists: Vec::new(),
            eips: HashMap::new(),
            next_public: 0,
            public_note: None,
            used: HashSet::new(),
            claimed: HashSet::new(),
            nats: Vec::new(),
            instances: Vec::new(),
            eni_owner: HashMap::new(),
            asgs: Vec::new(),
            asg_names: HashMap::new(),
            tg_asgs: HashMap::new(),
            lbs: Vec::new(),
            dbs: Vec::new(),
            office_end: None,
            office_lans: Vec::new(),
            vpn: None,
            dx_connection: None,
            vifs: Vec::new(),
        }
    }

    /// Every phase, in dependency order.
    fn run(&mut self) {
        self.vpc();
        self.elastic_ips();
        self.gateways();
        self.subnets();
        self.prefix_lists();
        self.security_groups();
        self.security_group_rules();
        self.nacls();
        self.reserve_explicit_addresses();
        self.nodes();
        self.route_tables();
        self.load_balancer_listeners();
        self.scaling();
        self.hybrid();
        self.unmapped();
    }

    /// Adds a warning about a resource.
    fn warn(&mut self, r: &Resource, msg: impl Into<String>) {
        self.warnings.push(ImportWarning {
            logical_id: r.id.clone(),
            line: r.line,
            message: msg.into(),
        });
    }

    /// Resources of one type, in template order.
    fn of_kind(&self, kind: &str) -> Vec<&'a Resource> {
        self.ev
            .resources
            .iter()
            .filter(|r| r.kind == kind)
            .collect()
    }

    /// The resource a reference names, if it is of the given type.
    fn resource(&self, id: &str, kind: &str) -> Option<&'a Resource> {
        self.by_id.get(id).copied().filter(|r| r.kind == kind)
    }

    /// Whether a resource's `VpcId` is the imported VPC. Warns (once per
    /// resource) and answers false when it names another VPC or no VPC was
    /// imported; an unknown `VpcId` is taken as the imported VPC with a
    /// warning.
    fn in_vpc(&mut self, r: &Resource) -> bool {
        let Some(vpc) = self.vpc_id.clone() else {
            self.warn(r, "the template has no VPC that could be imported: skipped");
            return false;
        };
        match r.props.get("VpcId") {
            Some(v) => match values::ref_id(v) {
                Some(id) if id == vpc => true,
                Some(id) => {
                    let msg = format!("in VPC {id}, which is not imported: skipped");
                    self.warn(r, msg);
                    false
                }
                None => {
                    let msg = format!("VpcId is {v}: taken to be the imported VPC {vpc}");
                    self.warn(r, msg);
                    true
                }
            },
            None => true,
        }
    }

    /// The next placeholder public address, for a resource that uses it.
    fn public_address(&mut self, r: &Resource) -> Option<Ipv4Addr> {
        let a = self.next_public_address();
        match a {
            Some(_) => self.note_public(r),
            None => self.warn(
                r,
                "no documentation address left for a public address (203.0.113.10-254): none given",
            ),
        }
        a
    }

    /// The next placeholder public address.
    fn next_public_address(&mut self) -> Option<Ipv4Addr> {
        if self.next_public > 244 {
            return None;
        }
        let a = Ipv4Addr::from(u32::from(FIRST_PUBLIC) + self.next_public);
        self.next_public += 1;
        Some(a)
    }

    /// Remembers the first resource that uses a placeholder public address,
    /// for the one warning about them.
    fn note_public(&mut self, r: &Resource) {
        if self.public_note.is_none() {
            self.public_note = Some((r.id.clone(), r.line));
        }
    }

    /// The mapped subnet a value names, by logical id.
    fn subnet(&self, v: &Value) -> Option<(String, Subnet)> {
        let id = values::ref_id(v)?;
        self.subnets.iter().find(|(sid, _)| sid == id).cloned()
    }

    /// The mapped subnet a property names, warning when it names none.
    fn subnet_prop(&mut self, r: &Resource, v: Option<&Value>, what: &str) -> Option<Subnet> {
        let Some(v) = v.filter(|v| values::present(v)) else {
            let msg = format!("no {what}: skipped");
            self.warn(r, msg);
            return None;
        };
        match self.subnet(v) {
            Some((_, s)) => Some(s),
            None => {
                let msg = match values::ref_id(v) {
                    Some(id) => format!("{what} {id} is not an imported subnet: skipped"),
                    None => format!("{what} is {v}, not a subnet of this template: skipped"),
                };
                self.warn(r, msg);
                None
            }
        }
    }

    /// The lowest free address of a subnet from `.4` up, taken.
    fn allocate(&mut self, cidr: Ipv4Net) -> Option<Ipv4Addr> {
        let first = u32::from(cidr.network()) + 4;
        let last = u32::from(cidr.broadcast()).saturating_sub(1);
        let a = (first..=last)
            .map(Ipv4Addr::from)
            .find(|a| !self.used.contains(a))?;
        self.used.insert(a);
        Some(a)
    }

    /// An address the template gives, if usable in the subnet; otherwise a
    /// warning and a free address.
    fn address_in(&mut self, r: &Resource, given: Option<&Value>, s: &Subnet) -> Option<Ipv4Addr> {
        if let Some(v) = given.filter(|v| values::present(v)) {
            match values::string(v).and_then(|t| t.parse::<Ipv4Addr>().ok()) {
                Some(a) if usable(s.cidr, a) && self.claimed.insert(a) => {
                    self.used.insert(a);
                    return Some(a);
                }
                Some(a) if usable(s.cidr, a) => {
                    let msg = format!("address {a} is already taken: another is assigned");
                    self.warn(r, msg);
                }
                Some(a) => {
                    let msg = format!(
                        "address {a} is not a usable address of subnet {} ({}): another is assigned",
                        s.name, s.cidr
                    );
                    self.warn(r, msg);
                }
                None => {
                    let msg = format!("address {v} is not an IPv4 address: another is assigned");
                    self.warn(r, msg);
                }
            }
        }
        let a = self.allocate(s.cidr);
        if a.is_none() {
            let msg = format!(
                "subnet {} ({}) has no free address: skipped",
                s.name, s.cidr
            );
            self.warn(r, msg);
        }
        a
    }

    /// Security groups named by a list property, as mapped names; warns for
    /// each entry that names no imported group.
    fn group_list(&mut self, r: &Resource, v: Option<&Value>) -> Vec<String> {
        let mut out = Vec::new();
        for item in values::list(v) {
            match self.group_name(item) {
                Some(n) => {
                    if !out.contains(&n) {
                        out.push(n);
                    }
                }
                None => {
                    let msg =
                        format!("security group {item} is not a group of this template: left out");
                    self.warn(r, msg);
                }
            }
        }
        out
    }

    /// The mapped name of a security group reference (`Ref` or
    /// `GetAtt X.GroupId`).
    /// `GetAtt VPC.DefaultSecurityGroup` is the VPC's `default` group.
    fn group_name(&self, v: &Value) -> Option<String> {
        let id = match v {
            Value::Ref(id) => id.as_str(),
            Value::Attr(id, a) if a == "GroupId" => id.as_str(),
            Value::Attr(id, a)
                if a == "DefaultSecurityGroup" && self.vpc_id.as_ref() == Some(id) =>
            {
                return Some("default".into())
            }
            _ => return None,
        };
        self.sgs
            .iter()
            .find(|(sid, _)| sid == id)
            .map(|(_, g)| g.name.clone())
    }

    /// The whole topology.
    fn table(&mut self) -> Table {
        let mut t = Table::new();
        t.insert("name".into(), Toml::String(kebab(&self.ev.stack_name)));
        t.insert(
            "description".into(),
            Toml::String(format!(
                "imported from CloudFormation stack {} ({})",
                self.ev.stack_name, self.ev.region
            )),
        );
        if let Some(site) = self.office_site() {
            t.insert("site".into(), Toml::Array(vec![Toml::Table(site)]));
        }
        if !self.prefix_lists.is_empty() {
            let pls = self
                .prefix_lists
                .iter()
                .map(|(_, name, cidrs)| {
                    let mut p = Table::new();
                    p.insert("name".into(), s(name));
                    p.insert("cidrs".into(), strings(cidrs));
                    Toml::Table(p)
                })
                .collect();
            t.insert("prefix_list".into(), Toml::Array(pls));
        }
        if let Some(v) = self.vpc_table() {
            t.insert("vpc".into(), Toml::Table(v));
        }
        if !self.sgs.is_empty() {
            let groups = self
                .sgs
                .iter()
                .map(|(_, g)| Toml::Table(sg_table(g)))
                .collect();
            t.insert("security_group".into(), Toml::Array(groups));
        }
        let mut dx = Table::new();
        if let Some(c) = self.dx_connection.take() {
            dx.insert("connection".into(), Toml::Table(c));
        }
        if !self.vifs.is_empty() {
            let vifs = std::mem::take(&mut self.vifs);
            dx.insert(
                "vif".into(),
                Toml::Array(vifs.into_iter().map(Toml::Table).collect()),
            );
        }
        if !dx.is_empty() {
            t.insert("direct_connect".into(), Toml::Table(dx));
        }
        if let Some(v) = self.vpn.take() {
            t.insert("vpn".into(), Toml::Table(v));
        }
        if self.igw.is_some() {
            let mut i = Table::new();
            i.insert("name".into(), s("internet"));
            i.insert("ip".into(), s(&INTERNET_IP.to_string()));
            t.insert("internet".into(), Toml::Table(i));
        }
        if let Some((id, line)) = self.public_note.take() {
            self.warnings.push(ImportWarning {
                logical_id: id,
                line,
                message: format!(
                    "public addresses are placeholders until deployment: Elastic IPs and auto-assigned public addresses take {FIRST_PUBLIC} and up (RFC 5737 documentation range), in template order"
                ),
            });
        }
        t
    }

    /// `[vpc]`, when a VPC was imported.
    fn vpc_table(&mut self) -> Option<Table> {
        let mut v = self.vpc.take()?;
        v.insert("azs".into(), strings(&self.azs));
        if let Some((_, name)) = &self.igw {
            let mut g = Table::new();
            g.insert("name".into(), s(name));
            v.insert("internet_gateway".into(), Toml::Table(g));
        }
        if let Some((id, name)) = self.vgw.clone() {
            let mut g = Table::new();
            g.insert("name".into(), s(&name));
            let resource = self.by_id.get(id.as_str()).cloned();
            if let Some(r) = resource {
                match r.props.get("AmazonSideAsn").and_then(values::int) {
                    Some(a) if crate::resolve::aws_limits::vgw_asn_creatable(a) => {
                        g.insert("asn".into(), Toml::Integer(a));
                    }
                    Some(a) => self.warn(
                        r,
                        format!(
                            "AmazonSideAsn {a} is not one CreateVpnGateway takes ({}), so the stack would fail to create: the VGW keeps the default 64512",
                            crate::resolve::aws_limits::vgw_asn_ranges()
                        ),
                    ),
                    None => {}
                }
            }
            v.insert("vgw".into(), Toml::Table(g));
        }
        let subnets: Vec<Toml> = self
            .subnets
            .iter()
            .map(|(_, sn)| {
                let mut t = Table::new();
                t.insert("name".into(), s(&sn.name));
                t.insert("az".into(), s(&sn.az));
                t.insert("cidr".into(), s(&sn.cidr.to_string()));
                if sn.public {
                    t.insert("public".into(), Toml::Boolean(true));
                }
                if let Some(rt) = &sn.route_table {
                    t.insert("route_table".into(), s(rt));
                }
                if let Some(n) = &sn.nacl {
                    t.insert("nacl".into(), s(n));
                }
                Toml::Table(t)
            })
            .collect();
        put_array(&mut v, "subnet", subnets);
        let rts = self
            .route_tables
            .iter()
            .map(|(_, rt)| {
                let mut t = Table::new();
                t.insert("name".into(), s(&rt.name));
                if rt.propagate_vgw {
                    t.insert("propagate_vgw".into(), Toml::Boolean(true));
                }
                if !rt.routes.is_empty() {
                    let routes = rt
                        .routes
                        .iter()
                        .map(|(p, target)| {
                            let mut r = Table::new();
                            r.insert("prefix".into(), s(&p.to_string()));
                            r.insert("target".into(), s(target));
                            Toml::Table(r)
                        })
                        .collect();
                    t.insert("routes".into(), Toml::Array(routes));
                }
                Toml::Table(t)
            })
            .collect();
        put_array(&mut v, "route_table", rts);
        let mut nacls: Vec<Toml> = Vec::new();
        if let Some(d) = &self.default_nacl {
            nacls.push(Toml::Table(nacl_table(d)));
        }
        nacls.extend(self.nacls.iter().map(|(_, n)| Toml::Table(nacl_table(n))));
        put_array(&mut v, "nacl", nacls);
        let nats = self
            .nats
            .iter()
            .map(|(_, n)| Toml::Table(instance_table(n, true)))
            .collect();
        put_array(&mut v, "nat_gateway", nats);
        let instances = self
            .instances
            .iter()
            .map(|(_, i)| Toml::Table(instance_table(i, false)))
            .collect();
        put_array(&mut v, "instance", instances);
        let asgs = self.asgs.drain(..).map(|(_, a)| Toml::Table(a)).collect();
        put_array(&mut v, "auto_scaling_group", asgs);
        let lbs = self.lbs.drain(..).map(|(_, l)| Toml::Table(l)).collect();
        put_array(&mut v, "load_balancer", lbs);
        let dbs = self.dbs.drain(..).map(Toml::Table).collect();
        put_array(&mut v, "database", dbs);
        Some(v)
    }

    /// One warning for each resource of a type this importer does not map,
    /// and for helper resources nothing used.
    fn unmapped(&mut self) {
        let resources: Vec<&Resource> = self.ev.resources.iter().collect();
        for r in resources {
            if self.consumed.contains(&r.id) {
                continue;
            }
            let msg = match r.kind.as_str() {
                k if MAPPED.contains(&k) => continue,
                "AWS::EC2::LaunchTemplate" | "AWS::AutoScaling::LaunchConfiguration" => {
                    "not used by an imported Auto Scaling group: ignored".to_string()
                }
                "AWS::EC2::NetworkInterface" => {
                    "not attached to an imported instance: ignored".to_string()
                }
                "AWS::EC2::EIP" => "not associated with anything imported: ignored".to_string(),
                "AWS::RDS::DBSubnetGroup" => "not used by an imported database: ignored".to_string(),
                "AWS::ElasticLoadBalancingV2::TargetGroup" => {
                    "not used by an imported listener: ignored".to_string()
                }
                "AWS::EC2::VPCCidrBlock" => {
                    if r.props.get("CidrBlock").is_some_and(values::present) {
                        "a secondary IPv4 block is not modeled: ignored".to_string()
                    } else {
                        "an IPv6 block: IPv6 is not modeled, ignored".to_string()
                    }
                }
                "AWS::EC2::EgressOnlyInternetGateway" => {
                    "an IPv6-only gateway: IPv6 is not modeled, ignored".to_string()
                }
                "AWS::ElasticLoadBalancingV2::ListenerRule" => {
                    "listener rules are not modeled (the listener's default action is used): ignored"
                        .to_string()
                }
                k if NETWORK_PREFIXES.iter().any(|p| k.starts_with(p)) => {
                    format!("{k} is not modeled: ignored")
                }
                k => format!("{k} is not a network resource: ignored"),
            };
            self.warn(r, msg);
        }
    }
}

/// Resource types the phases handle (and warn about themselves).
const MAPPED: &[&str] = &[
    "AWS::EC2::VPC",
    "AWS::EC2::Subnet",
    "AWS::EC2::InternetGateway",
    "AWS::EC2::VPCGatewayAttachment",
    "AWS::EC2::NatGateway",
    "AWS::EC2::RouteTable",
    "AWS::EC2::Route",
    "AWS::EC2::SubnetRouteTableAssociation",
    "AWS::EC2::SecurityGroup",
    "AWS::EC2::SecurityGroupIngress",
    "AWS::EC2::SecurityGroupEgress",
    "AWS::EC2::PrefixList",
    "AWS::EC2::NetworkAcl",
    "AWS::EC2::NetworkAclEntry",
    "AWS::EC2::SubnetNetworkAclAssociation",
    "AWS::EC2::VPNGateway",
    "AWS::EC2::VPNGatewayRoutePropagation",
    "AWS::EC2::CustomerGateway",
    "AWS::EC2::VPNConnection",
    "AWS::EC2::VPNConnectionRoute",
    "AWS::EC2::Instance",
    "AWS::EC2::EIPAssociation",
    "AWS::AutoScaling::AutoScalingGroup",
    "AWS::AutoScaling::ScalingPolicy",
    "AWS::AutoScaling::ScheduledAction",
    "AWS::ElasticLoadBalancingV2::LoadBalancer",
    "AWS::ElasticLoadBalancingV2::Listener",
    "AWS::RDS::DBInstance",
    "AWS::DirectConnect::Connection",
    "AWS::DirectConnect::PrivateVirtualInterface",
    "AWS::DirectConnect::DirectConnectGateway",
];

/// Type prefixes of network resources the format does not model.
const NETWORK_PREFIXES: &[&str] = &[
    "AWS::EC2::",
    "AWS::ElasticLoadBalancing",
    "AWS::DirectConnect::",
    "AWS::RDS::",
    "AWS::AutoScaling::",
    "AWS::NetworkFirewall::",
    "AWS::Route53",
];

/// Whether an address is usable by an interface of a subnet: inside it and
/// not one of the five AWS reserves.
fn usable(cidr: Ipv4Net, a: Ipv4Addr) -> bool {
    let n = u32::from(a);
    cidr.contains(&a) && n >= u32::from(cidr.network()) + 4 && n < u32::from(cidr.broadcast())
}

/// A TOML string.
fn s(text: &str) -> Toml {
    Toml::String(text.to_string())
}

/// A TOML array of strings.
fn strings<T: AsRef<str>>(items: &[T]) -> Toml {
    Toml::Array(items.iter().map(|i| s(i.as_ref())).collect())
}

/// Inserts an array unless it is empty.
fn put_array(t: &mut Table, key: &str, items: Vec<Toml>) {
    if !items.is_empty() {
        t.insert(key.into(), Toml::Array(items));
    }
}

/// `[[security_group]]`.
fn sg_table(g: &SecurityGroup) -> Table {
    let mut t = Table::new();
    t.insert("name".into(), s(&g.name));
    if let Some(d) = &g.description {
        t.insert("description".into(), s(d));
    }
    t.insert(
        "ingress".into(),
        Toml::Array(g.ingress.iter().cloned().map(Toml::Table).collect()),
    );
    if g.egress_given {
        t.insert(
            "egress".into(),
            Toml::Array(g.egress.iter().cloned().map(Toml::Table).collect()),
        );
    }
    t
}

/// `[[vpc.nacl]]`.
fn nacl_table(n: &Nacl) -> Table {
    let mut t = Table::new();
    t.insert("name".into(), s(&n.name));
    for (key, rules) in [("ingress", &n.ingress), ("egress", &n.egress)] {
        if !rules.is_empty() {
            let mut rules = rules.clone();
            rules.sort_by_key(|r| r.get("rule").and_then(Toml::as_integer));
            t.insert(
                key.into(),
                Toml::Array(rules.into_iter().map(Toml::Table).collect()),
            );
        }
    }
    t
}

/// `[[vpc.instance]]` or `[[vpc.nat_gateway]]`.
fn instance_table(i: &Instance, nat: bool) -> Table {
    let mut t = Table::new();
    t.insert("name".into(), s(&i.name));
    t.insert("subnet".into(), s(&i.subnet));
    if let Some(a) = i.ip {
        t.insert("ip".into(), s(&a.to_string()));
    }
    if let Some(a) = i.public_ip {
        t.insert("public_ip".into(), s(&a.to_string()));
    }
    if !nat {
        if let Some(g) = &i.security_groups {
            t.insert("security_groups".into(), strings(g));
        }
        if let Some(c) = i.source_dest_check {
            t.insert("source_dest_check".into(), Toml::Boolean(c));
        }
    }
    t
}

#[cfg(test)]
mod tests;
