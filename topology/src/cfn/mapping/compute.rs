//! What runs in the subnets: NAT gateways, instances (with their network
//! interfaces and Elastic IPs), Auto Scaling groups, load balancers with
//! their listeners and target groups, RDS databases.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use toml::{Table, Value as Toml};

use super::names::{fit, kebab, Ns};

use super::values::{self, int, present, ref_id, string};
use super::{strings, Instance, Mapper, Subnet};
use crate::cfn::{Resource, Value};

/// Characters an Auto Scaling group's host prefix leaves for its
/// instances' suffixes (`-2` when the prefix is taken, `-a12`).
const ASG_HOST_SUFFIX_ROOM: usize = 12;

/// The port an RDS engine listens on by default.
fn engine_port(engine: &str) -> Option<i64> {
    let e = engine.to_ascii_lowercase();
    if e.starts_with("mysql")
        || e.starts_with("mariadb")
        || e == "aurora"
        || e.starts_with("aurora-mysql")
    {
        Some(3306)
    } else if e.starts_with("postgres") || e.starts_with("aurora-postgresql") {
        Some(5432)
    } else if e.starts_with("oracle") {
        Some(1521)
    } else if e.starts_with("sqlserver") {
        Some(1433)
    } else if e.starts_with("db2") {
        Some(50000)
    } else {
        None
    }
}

/// The zone suffix of a zone name (`us-east-1a` → `a`).
fn az_suffix<'a>(az: &'a str, region: &str) -> &'a str {
    az.strip_prefix(region).unwrap_or(az)
}

/// The logical id a `Ref` or any `GetAtt` names.
fn any_ref(v: &Value) -> Option<&str> {
    match v {
        Value::Ref(id) | Value::Attr(id, _) => Some(id),
        _ => None,
    }
}

impl Mapper<'_> {
    /// Marks every address the template gives explicitly as used, so that
    /// assigned addresses avoid them.
    pub(super) fn reserve_explicit_addresses(&mut self) {
        let mut given: Vec<&Value> = Vec::new();
        for r in &self.ev.resources {
            let p = &r.props;
            match r.kind.as_str() {
                "AWS::EC2::Instance" => {
                    given.extend(p.get("PrivateIpAddress"));
                    for n in values::list(p.get("NetworkInterfaces")) {
                        given.extend(n.get("PrivateIpAddress"));
                    }
                }
                "AWS::EC2::NetworkInterface" | "AWS::EC2::NatGateway" => {
                    given.extend(p.get("PrivateIpAddress"));
                }
                "AWS::ElasticLoadBalancingV2::LoadBalancer" => {
                    for m in values::list(p.get("SubnetMappings")) {
                        given.extend(m.get("PrivateIPv4Address"));
                    }
                }
                _ => {}
            }
        }
        for v in given {
            if let Some(a) = string(v).and_then(|t| t.parse::<Ipv4Addr>().ok()) {
                self.used.insert(a);
            }
        }
    }

    /// NAT gateways, instances, Auto Scaling groups, load balancers and
    /// databases, in template order; then Elastic IP associations.
    pub(super) fn nodes(&mut self) {
        let resources: Vec<&Resource> = self.ev.resources.iter().collect();
        for r in resources {
            match r.kind.as_str() {
                "AWS::EC2::NatGateway" => self.nat_gateway(r),
                "AWS::EC2::Instance" => self.instance(r),
                "AWS::AutoScaling::AutoScalingGroup" => self.auto_scaling_group(r),
                "AWS::ElasticLoadBalancingV2::LoadBalancer" => self.load_balancer(r),
                "AWS::RDS::DBInstance" => self.database(r),
                _ => {}
            }
        }
        self.eip_associations();
    }

    fn nat_gateway(&mut self, r: &Resource) {
        let p = &r.props;
        if values::prop(p, "ConnectivityType")
            .and_then(string)
            .as_deref()
            == Some("private")
        {
            self.warn(r, "a private NAT gateway is not modeled: skipped");
            return;
        }
        let Some(subnet) = self.subnet_prop(r, p.get("SubnetId"), "SubnetId") else {
            return;
        };
        let public_ip = match values::prop(p, "AllocationId") {
            Some(v) => match self.eip(r, v) {
                Some(a) => Some(a),
                None => {
                    let msg = format!(
                        "AllocationId {v} is not an Elastic IP of this template: a placeholder public address is used"
                    );
                    self.warn(r, msg);
                    self.public_address(r)
                }
            },
            None => {
                self.warn(r, "no AllocationId: a placeholder public address is used");
                self.public_address(r)
            }
        };
        let Some(public_ip) = public_ip else {
            self.warn(r, "no public address left: skipped");
            return;
        };
        let Some(ip) = self.address_in(r, p.get("PrivateIpAddress"), &subnet) else {
            return;
        };
        let name = self.names.claim(Ns::Node, &kebab(&r.id));
        self.nats.push((
            r.id.clone(),
            Instance {
                name,
                subnet: subnet.name,
                ip: Some(ip),
                public_ip: Some(public_ip),
                ..Instance::default()
            },
        ));
    }

    fn instance(&mut self, r: &Resource) {
        let p = &r.props;
        let enis = values::list(p.get("NetworkInterfaces"));
        // where the primary interface's settings come from
        let mut spec: &Value = p;
        let mut eni_id = None;
        let mut associate = None;
        if !enis.is_empty() {
            let primary = enis
                .iter()
                .position(|n| n.get("DeviceIndex").and_then(int) == Some(0))
                .unwrap_or(0);
            if enis.len() > 1 {
                self.warn(
                    r,
                    "only the primary network interface (DeviceIndex 0) is modeled: the others are ignored",
                );
            }
            let n = enis[primary];
            associate = n.get("AssociatePublicIpAddress").and_then(values::boolean);
            spec = n;
            if let Some(v) = values::prop(n, "NetworkInterfaceId") {
                match ref_id(v).and_then(|id| self.resource(id, "AWS::EC2::NetworkInterface")) {
                    Some(e) => {
                        self.consumed.insert(e.id.clone());
                        eni_id = Some(e.id.clone());
                        spec = &e.props;
                    }
                    None => {
                        let msg = format!(
                            "NetworkInterfaceId {v} is not a network interface of this template: skipped"
                        );
                        self.warn(r, msg);
                        return;
                    }
                }
            }
        }
        let Some(subnet) = self.subnet_prop(r, spec.get("SubnetId"), "SubnetId") else {
            return;
        };
        let mut given: Vec<&Value> = Vec::new();
        for key in ["GroupSet", "Groups", "SecurityGroupIds", "SecurityGroups"] {
            given.extend(values::list(spec.get(key)));
        }
        if eni_id.is_none() && !enis.is_empty() {
            for key in ["SecurityGroupIds", "SecurityGroups"] {
                given.extend(values::list(p.get(key)));
            }
        }
        let security_groups = self.groups_or_default(r, given);
        let Some(ip) = self.address_in(r, spec.get("PrivateIpAddress"), &subnet) else {
            return;
        };
        let check = spec
            .get("SourceDestCheck")
            .or_else(|| p.get("SourceDestCheck"))
            .and_then(values::boolean)
            .filter(|c| !c);
        let public_ip = match associate {
            Some(true) => self.public_address(r),
            Some(false) => None,
            None if subnet.public && eni_id.is_none() => self.public_address(r),
            None => None,
        };
        let name = self.names.claim(Ns::Node, &kebab(&r.id));
        if let Some(e) = eni_id {
            self.eni_owner.insert(e, r.id.clone());
        }
        self.instances.push((
            r.id.clone(),
            Instance {
                name,
                subnet: subnet.name,
                ip: Some(ip),
                public_ip,
                security_groups,
                source_dest_check: check,
            },
        ));
    }

    /// A list of security groups: `None` (the VPC's default group) when the
    /// template gives none, or none of them is imported (with a warning).
    fn groups_or_default(&mut self, r: &Resource, given: Vec<&Value>) -> Option<Vec<String>> {
        if given.is_empty() {
            return None;
        }
        let list = Value::List(given.into_iter().cloned().collect());
        let mut names = self.group_list(r, Some(&list));
        if names.is_empty() {
            self.warn(
                r,
                "none of its security groups is imported: it gets the VPC's default group",
            );
            return None;
        }
        if names.len() > 5 {
            self.warn(
                r,
                "more than 5 security groups, the AWS quota: the first 5 are kept",
            );
            names.truncate(5);
        }
        Some(names)
    }

    /// `AWS::EC2::EIPAssociation`, and `AWS::EC2::EIP` with an `InstanceId`.
    fn eip_associations(&mut self) {
        let mut pairs: Vec<(&Resource, Option<Ipv4Addr>, Option<String>)> = Vec::new();
        for r in self.of_kind("AWS::EC2::EIPAssociation") {
            let p = &r.props;
            let eip = values::prop(p, "AllocationId").or_else(|| values::prop(p, "EIP"));
            let addr = eip.and_then(|v| self.eip_address(v));
            if addr.is_none() {
                let msg = format!(
                    "{} is not an Elastic IP of this template: skipped",
                    eip.unwrap_or(&Value::Null)
                );
                self.warn(r, msg);
                continue;
            }
            let owner = values::prop(p, "InstanceId")
                .and_then(ref_id)
                .map(str::to_string)
                .or_else(|| {
                    values::prop(p, "NetworkInterfaceId")
                        .and_then(ref_id)
                        .and_then(|e| self.eni_owner.get(e).cloned())
                });
            pairs.push((r, addr, owner));
        }
        for r in self.of_kind("AWS::EC2::EIP") {
            if let Some(i) = values::prop(&r.props, "InstanceId") {
                let addr = self.eips.get(&r.id).copied();
                self.consumed.insert(r.id.clone());
                pairs.push((r, addr, ref_id(i).map(str::to_string)));
            }
        }
        for (r, addr, owner) in pairs {
            let inst = owner
                .as_deref()
                .and_then(|o| self.instances.iter().position(|(id, _)| id == o));
            match inst {
                Some(i) => {
                    self.instances[i].1.public_ip = addr;
                    self.note_public(r);
                }
                None => self.warn(
                    r,
                    "not associated with an imported instance or its interface: skipped",
                ),
            }
        }
    }

    fn auto_scaling_group(&mut self, r: &Resource) {
        let p = &r.props;
        let zones = values::list(p.get("VPCZoneIdentifier"));
        if zones.is_empty() {
            self.warn(
                r,
                "no VPCZoneIdentifier: the group launches in the default VPC, skipped",
            );
            return;
        }
        let mut subnets: Vec<Subnet> = Vec::new();
        for z in zones {
            match self.subnet(z) {
                Some((_, s)) => subnets.push(s),
                None => {
                    let msg = format!("subnet {z} is not an imported subnet: left out");
                    self.warn(r, msg);
                }
            }
        }
        if subnets.is_empty() {
            self.warn(r, "none of its subnets is imported: skipped");
            return;
        }
        let min = values::prop(p, "MinSize").and_then(int);
        let max = values::prop(p, "MaxSize").and_then(int);
        let desired = values::prop(p, "DesiredCapacity").and_then(int).or(min);
        let Some(desired) = desired.filter(|d| (0..=1000).contains(d)) else {
            self.warn(r, "no usable DesiredCapacity or MinSize: skipped");
            return;
        };
        // launch template / configuration: groups and public addresses
        let (launch, groups, associate) = self.launch_settings(r);
        let security_groups = self.groups_or_default(r, groups.iter().collect());
        if launch.is_none() {
            self.warn(
                r,
                "no launch template or configuration of this template: the instances get the VPC's default group",
            );
        }
        let public = associate.unwrap_or_else(|| subnets.iter().any(|s| s.public));
        if associate.is_none() && public && !subnets.iter().all(|s| s.public) {
            self.warn(
                r,
                "only some of its subnets map public addresses on launch: all its instances get one",
            );
        }
        if public && desired > 0 {
            self.note_public(r);
        }
        // instance names must be free, and fit with their `-a1` suffixes
        let base = fit(&kebab(&r.id), ASG_HOST_SUFFIX_ROOM);
        let mut prefix = base.clone();
        let mut k = 2;
        let hosts = loop {
            let hosts = self.asg_hosts(&prefix, &subnets, desired);
            if hosts.iter().all(|h| !self.names.taken(Ns::Node, h)) {
                break hosts;
            }
            prefix = format!("{base}-{k}");
            k += 1;
        };
        for h in &hosts {
            self.names.claim(Ns::Node, h);
        }
        let name = self.names.claim(Ns::AutoScalingGroup, &base);
        let mut t = Table::new();
        t.insert("name".into(), Toml::String(name.clone()));
        t.insert("host_prefix".into(), Toml::String(prefix));
        let subnet_names: Vec<String> = subnets.iter().map(|s| s.name.clone()).collect();
        t.insert("subnets".into(), strings(&subnet_names));
        if let Some(g) = security_groups {
            t.insert("security_groups".into(), strings(&g));
        }
        if public {
            t.insert("public_ip".into(), Toml::Boolean(true));
        }
        t.insert("desired".into(), Toml::Integer(desired));
        self.group_scaling_keys(r, &mut t);
        match (min, max) {
            (Some(lo), Some(hi)) if lo <= desired && desired <= hi && hi <= 1000 && lo >= 0 => {
                t.insert("min".into(), Toml::Integer(lo));
                t.insert("max".into(), Toml::Integer(hi));
            }
            (None, None) => {}
            _ => self.warn(
                r,
                "MinSize/MaxSize do not hold the desired capacity (0-1000): left out",
            ),
        }
        if values::prop(p, "LoadBalancerNames").is_some() {
            self.warn(
                r,
                "classic load balancers (LoadBalancerNames) are not modeled",
            );
        }
        for tg in values::list(p.get("TargetGroupARNs")) {
            if let Some(id) = ref_id(tg) {
                self.tg_asgs
                    .entry(id.to_string())
                    .or_default()
                    .push(name.clone());
            } else {
                let msg = format!("target group {tg} is not of this template: not registered");
                self.warn(r, msg);
            }
        }
        self.asg_names.insert(r.id.clone(), name);
        self.asgs.push((r.id.clone(), t));
    }

    /// The names the topology gives an Auto Scaling group's instances.
    fn asg_hosts(&self, prefix: &str, subnets: &[Subnet], desired: i64) -> Vec<String> {
        let mut count: HashMap<String, usize> = HashMap::new();
        let mut out = Vec::new();
        for k in 0..desired.max(0) as usize {
            let s = &subnets[k % subnets.len()];
            let suffix = az_suffix(&s.az, &self.ev.region).to_string();
            let n = count.entry(suffix.clone()).or_insert(0);
            *n += 1;
            out.push(format!("{prefix}-{suffix}{n}"));
        }
        out
    }

    /// The launch template or configuration of an Auto Scaling group: its
    /// logical id, security groups, and `AssociatePublicIpAddress`.
    fn launch_settings(&mut self, r: &Resource) -> (Option<String>, Vec<Value>, Option<bool>) {
        let p = &r.props;
        let spec = values::prop(p, "LaunchTemplate").or_else(|| {
            values::prop(p, "MixedInstancesPolicy")
                .and_then(|m| values::prop(m, "LaunchTemplate"))
                .and_then(|l| values::prop(l, "LaunchTemplateSpecification"))
        });
        if let Some(spec) = spec {
            let lt = values::prop(spec, "LaunchTemplateId")
                .or_else(|| values::prop(spec, "LaunchTemplateName"))
                .and_then(any_ref)
                .and_then(|id| self.resource(id, "AWS::EC2::LaunchTemplate"));
            let Some(lt) = lt else {
                self.warn(r, "its launch template is not of this template");
                return (None, Vec::new(), None);
            };
            self.consumed.insert(lt.id.clone());
            let data = values::prop(&lt.props, "LaunchTemplateData").unwrap_or(&Value::Null);
            let mut groups: Vec<Value> = Vec::new();
            for key in ["SecurityGroupIds", "SecurityGroups"] {
                groups.extend(values::list(data.get(key)).into_iter().cloned());
            }
            let enis = values::list(data.get("NetworkInterfaces"));
            let mut associate = None;
            if let Some(n) = enis.first() {
                groups.extend(values::list(n.get("Groups")).into_iter().cloned());
                associate = n.get("AssociatePublicIpAddress").and_then(values::boolean);
            }
            return (Some(lt.id.clone()), groups, associate);
        }
        if let Some(v) = values::prop(p, "LaunchConfigurationName") {
            let lc = any_ref(v)
                .and_then(|id| self.resource(id, "AWS::AutoScaling::LaunchConfiguration"));
            let Some(lc) = lc else {
                self.warn(r, "its launch configuration is not of this template");
                return (None, Vec::new(), None);
            };
            self.consumed.insert(lc.id.clone());
            let groups = values::list(lc.props.get("SecurityGroups"))
                .into_iter()
                .cloned()
                .collect();
            let associate = lc
                .props
                .get("AssociatePublicIpAddress")
                .and_then(values::boolean);
            return (Some(lc.id.clone()), groups, associate);
        }
        (None, Vec::new(), None)
    }

    fn load_balancer(&mut self, r: &Resource) {
        let p = &r.props;
        let lb_type = values::prop(p, "Type").and_then(string);
        let network = lb_type.as_deref() == Some("network");
        match lb_type.as_deref() {
            None | Some("application") => {}
            Some("network") if values::list(p.get("SecurityGroups")).is_empty() => self.warn(
                r,
                "a network load balancer without security groups filters nothing; mapped as a load balancer node, it gets the VPC's default group",
            ),
            Some("network") => self.warn(
                r,
                "a network load balancer: mapped as a load balancer node (its listeners and security groups)",
            ),
            Some(t) => {
                let msg = format!("a {t} load balancer is not modeled: skipped");
                self.warn(r, msg);
                return;
            }
        }
        // (subnet, given private address, given EIP)
        let mut placed: Vec<(Subnet, Option<&Value>, Option<&Value>)> = Vec::new();
        let mappings = values::list(p.get("SubnetMappings"));
        let items: Vec<(&Value, Option<&Value>, Option<&Value>)> = if mappings.is_empty() {
            values::list(p.get("Subnets"))
                .into_iter()
                .map(|s| (s, None, None))
                .collect()
        } else {
            mappings
                .into_iter()
                .filter_map(|m| {
                    m.get("SubnetId")
                        .map(|s| (s, m.get("PrivateIPv4Address"), m.get("AllocationId")))
                })
                .collect()
        };
        for (s, ip, eip) in items {
            match self.subnet(s) {
                Some((_, sn)) if placed.iter().any(|(x, _, _)| x.az == sn.az) => {
                    let msg = format!("a second subnet in {}: {} left out", sn.az, sn.name);
                    self.warn(r, msg);
                }
                Some((_, sn)) => placed.push((sn, ip, eip)),
                None => {
                    let msg = format!("subnet {s} is not an imported subnet: left out");
                    self.warn(r, msg);
                }
            }
        }
        if placed.is_empty() {
            self.warn(r, "none of its subnets is imported: skipped");
            return;
        }
        if !network && placed.len() < 2 {
            let msg = format!(
                "an application load balancer needs subnets in two availability zones or more, and only {} is imported: skipped",
                placed[0].0.az
            );
            self.warn(r, msg);
            return;
        }
        let internal = values::prop(p, "Scheme").and_then(string).as_deref() == Some("internal");
        let groups = values::list(p.get("SecurityGroups"));
        let security_groups = self.groups_or_default(r, groups);
        let mut ips = Vec::new();
        let mut public_ips = Vec::new();
        for (sn, ip, eip) in &placed {
            let Some(a) = self.address_in(r, *ip, sn) else {
                return;
            };
            ips.push(a.to_string());
            if !internal {
                let public = match eip.filter(|v| present(v)) {
                    Some(v) => self.eip(r, v).or_else(|| self.public_address(r)),
                    None => self.public_address(r),
                };
                if let Some(a) = public {
                    public_ips.push(a.to_string());
                }
            }
        }
        if public_ips.len() != ips.len() {
            public_ips.clear();
        }
        let name = self.names.claim(Ns::Node, &kebab(&r.id));
        let mut t = Table::new();
        t.insert("name".into(), Toml::String(name));
        if network {
            t.insert("type".into(), Toml::String("network".into()));
        }
        let subnet_names: Vec<String> = placed.iter().map(|(s, _, _)| s.name.clone()).collect();
        t.insert("subnets".into(), strings(&subnet_names));
        t.insert("ips".into(), strings(&ips));
        if !public_ips.is_empty() {
            t.insert("public_ips".into(), strings(&public_ips));
        }
        if let Some(g) = security_groups {
            t.insert("security_groups".into(), strings(&g));
        }
        self.lbs.push((r.id.clone(), t));
    }

    /// Listeners, with the targets of their target groups.
    pub(super) fn load_balancer_listeners(&mut self) {
        for r in self.of_kind("AWS::ElasticLoadBalancingV2::Listener") {
            let p = &r.props;
            let lb = values::prop(p, "LoadBalancerArn");
            let Some(li) = lb
                .and_then(ref_id)
                .and_then(|id| self.lbs.iter().position(|(lid, _)| lid == id))
            else {
                let msg = format!(
                    "LoadBalancerArn {} is not an imported load balancer: skipped",
                    lb.unwrap_or(&Value::Null)
                );
                self.warn(r, msg);
                continue;
            };
            let Some(port) = values::prop(p, "Port")
                .and_then(int)
                .filter(|n| (1..=65535).contains(n))
            else {
                self.warn(r, "no Port from 1 to 65535: skipped");
                continue;
            };
            let protocol = values::prop(p, "Protocol")
                .and_then(string)
                .map(|s| s.to_ascii_lowercase());
            let known = crate::resolve::aws_limits::LISTENER_PROTOCOLS;
            let protocol = match protocol {
                Some(pr) if !known.contains(&pr.as_str()) => {
                    let msg = format!(
                        "Protocol {pr} is not a listener protocol ({}): left out, the listener's default applies",
                        known.join(", ")
                    );
                    self.warn(r, msg);
                    None
                }
                other => other,
            };
            let mut tgs: Vec<&Value> = Vec::new();
            let mut other = None;
            for a in values::list(p.get("DefaultActions")) {
                let kind = values::prop(a, "Type").and_then(string).unwrap_or_default();
                if kind != "forward" {
                    other.get_or_insert(kind);
                    continue;
                }
                tgs.extend(values::prop(a, "TargetGroupArn"));
                if let Some(fc) = values::prop(a, "ForwardConfig") {
                    for g in values::list(fc.get("TargetGroups")) {
                        tgs.extend(values::prop(g, "TargetGroupArn"));
                    }
                }
            }
            if tgs.is_empty() {
                let msg = match other {
                    Some(k) => format!(
                        "its default action is `{k}`, with no targets: not modeled (the analysis refuses connections on port {port})"
                    ),
                    None => "no forward action: skipped".to_string(),
                };
                self.warn(r, msg);
                continue;
            }
            let mut targets: Vec<String> = Vec::new();
            let mut target_port = None;
            let mut settings: Option<Table> = None;
            for tg in tgs {
                let Some(g) = ref_id(tg)
                    .and_then(|id| self.resource(id, "AWS::ElasticLoadBalancingV2::TargetGroup"))
                else {
                    let msg = format!("target group {tg} is not of this template: left out");
                    self.warn(r, msg);
                    continue;
                };
                self.consumed.insert(g.id.clone());
                // the first target group's settings stand for the listener's
                if settings.is_none() {
                    settings = Some(self.target_group_keys(g));
                }
                let (names, gport) = self.target_group(g);
                for n in names {
                    if !targets.contains(&n) {
                        targets.push(n);
                    }
                }
                match (target_port, gport) {
                    (None, Some(gp)) => target_port = Some(gp),
                    (Some(tp), Some(gp)) if tp != gp => {
                        let msg = format!(
                            "its target groups use ports {tp} and {gp}: port {tp} is used for all"
                        );
                        self.warn(r, msg);
                    }
                    _ => {}
                }
            }
            let Some(target_port) = target_port else {
                self.warn(r, "its target groups give no port: skipped");
                continue;
            };
            if targets.is_empty() {
                let msg = format!(
                    "no imported target is registered in its target groups: skipped (the analysis refuses connections on port {port})"
                );
                self.warn(r, msg);
                continue;
            }
            let lb = &mut self.lbs[li].1;
            let listeners = lb
                .entry("listeners")
                .or_insert_with(|| Toml::Array(Vec::new()));
            let Some(list) = listeners.as_array_mut() else {
                continue;
            };
            if list
                .iter()
                .any(|l| l.get("port").and_then(Toml::as_integer) == Some(port))
            {
                let msg = format!("a second listener on port {port}: skipped");
                self.warn(r, msg);
                continue;
            }
            let mut t = Table::new();
            t.insert("port".into(), Toml::Integer(port));
            if let Some(pr) = protocol {
                t.insert("protocol".into(), Toml::String(pr));
            }
            t.insert("targets".into(), strings(&targets));
            t.insert("target_port".into(), Toml::Integer(target_port));
            t.extend(settings.unwrap_or_default());
            list.push(Toml::Table(t));
        }
    }

    /// The targets (instance and Auto Scaling group names) of a target
    /// group, and its port.
    fn target_group(&mut self, g: &Resource) -> (Vec<String>, Option<i64>) {
        let p = &g.props;
        let port = values::prop(p, "Port")
            .and_then(int)
            .filter(|n| (1..=65535).contains(n));
        let mut names: Vec<String> = self.tg_asgs.get(&g.id).cloned().unwrap_or_default();
        let kind = values::prop(p, "TargetType").and_then(string);
        match kind.as_deref() {
            None | Some("instance") => {}
            Some(k) => {
                let msg = format!("target type `{k}` is not modeled: only instances and Auto Scaling groups are targets");
                self.warn(g, msg);
                return (names, port);
            }
        }
        for t in values::list(p.get("Targets")) {
            let id = values::prop(t, "Id");
            let found = id
                .and_then(ref_id)
                .and_then(|i| self.instances.iter().find(|(iid, _)| iid == i))
                .map(|(_, inst)| inst.name.clone());
            match found {
                Some(inst) => {
                    if let (Some(tp), Some(gp)) = (values::prop(t, "Port").and_then(int), port) {
                        if tp != gp {
                            let msg = format!(
                                "target {inst} is registered on port {tp}: the group's port {gp} is used"
                            );
                            self.warn(g, msg);
                        }
                    }
                    names.push(inst);
                }
                None => {
                    let msg = format!(
                        "target {} is not an imported instance: left out",
                        id.unwrap_or(&Value::Null)
                    );
                    self.warn(g, msg);
                }
            }
        }
        (names, port)
    }

    fn database(&mut self, r: &Resource) {
        let p = &r.props;
        if values::prop(p, "DBClusterIdentifier").is_some() {
            self.warn(
                r,
                "a member of an Aurora cluster: clusters are not modeled, skipped",
            );
            return;
        }
        let group = values::prop(p, "DBSubnetGroupName");
        let Some(g) = group
            .and_then(ref_id)
            .and_then(|id| self.resource(id, "AWS::RDS::DBSubnetGroup"))
        else {
            let msg = match group {
                Some(v) => {
                    format!("DBSubnetGroupName {v} is not a subnet group of this template: skipped")
                }
                None => "no DBSubnetGroupName: the database goes into the default VPC, skipped"
                    .to_string(),
            };
            self.warn(r, msg);
            return;
        };
        self.consumed.insert(g.id.clone());
        let mut subnets: Vec<Subnet> = Vec::new();
        for s in values::list(g.props.get("SubnetIds")) {
            match self.subnet(s) {
                Some((_, sn)) => subnets.push(sn),
                None => {
                    let msg = format!("subnet {s} is not an imported subnet: left out");
                    self.warn(g, msg);
                }
            }
        }
        if subnets.is_empty() {
            self.warn(
                r,
                "none of the subnets of its subnet group is imported: skipped",
            );
            return;
        }
        let engine = values::prop(p, "Engine").and_then(string);
        let port = match values::prop(p, "Port").and_then(int) {
            Some(n) if (1..=65535).contains(&n) => n,
            _ => match engine.as_deref().and_then(engine_port) {
                Some(n) => n,
                None => {
                    let msg = format!(
                        "no Port, and engine {} has no known default: port 3306 is assumed",
                        engine.as_deref().unwrap_or("(none)")
                    );
                    self.warn(r, msg);
                    3306
                }
            },
        };
        let az = values::prop(p, "AvailabilityZone").and_then(string);
        let primary = match &az {
            Some(z) => subnets.iter().position(|s| &s.az == z).unwrap_or(0),
            None => 0,
        };
        let multi = values::prop(p, "MultiAZ").and_then(values::boolean) == Some(true);
        let standby = if multi {
            let a = subnets[primary].az.clone();
            let s = subnets.iter().position(|s| s.az != a);
            if s.is_none() {
                self.warn(r, "MultiAZ, but its subnet group has one zone: no standby");
            }
            s
        } else {
            None
        };
        let mut msg = format!(
            "placed in subnet {} (AWS picks among the subnets of {})",
            subnets[primary].name, g.id
        );
        if let Some(si) = standby {
            msg.push_str(&format!(", standby in {}", subnets[si].name));
        }
        if az.is_some_and(|z| subnets[primary].az != z) {
            msg.push_str("; no subnet of the group is in its AvailabilityZone");
        }
        self.warn(r, msg);
        if values::prop(p, "PubliclyAccessible").and_then(values::boolean) == Some(true) {
            self.warn(
                r,
                "PubliclyAccessible is not modeled: the database hosts have no public address",
            );
        }
        if values::prop(p, "DBSecurityGroups").is_some() {
            self.warn(r, "DB security groups (EC2-Classic) are not modeled");
        }
        let groups = values::list(p.get("VPCSecurityGroups"));
        let security_groups = self.groups_or_default(r, groups);
        let base = kebab(&r.id);
        let mut hosts = Vec::new();
        for (role, si) in [("primary", Some(primary)), ("standby", standby)] {
            let Some(si) = si else { continue };
            let sn = subnets[si].clone();
            let Some(ip) = self.address_in(r, None, &sn) else {
                return;
            };
            let host = self.names.claim(Ns::Node, &format!("{base}-{role}"));
            let mut h = Table::new();
            h.insert("name".into(), Toml::String(host));
            h.insert("subnet".into(), Toml::String(sn.name));
            h.insert("ip".into(), Toml::String(ip.to_string()));
            hosts.push((role, h));
        }
        let mut t = Table::new();
        t.insert("name".into(), Toml::String(base));
        if let Some(e) = engine {
            t.insert("engine".into(), Toml::String(e));
        }
        t.insert("port".into(), Toml::Integer(port));
        if let Some(g) = security_groups {
            t.insert("security_groups".into(), strings(&g));
        }
        for (role, h) in hosts {
            t.insert(role.into(), Toml::Table(h));
        }
        self.dbs.push(t);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engines_have_their_ports() {
        assert_eq!(engine_port("mysql"), Some(3306));
        assert_eq!(engine_port("aurora-postgresql"), Some(5432));
        assert_eq!(engine_port("postgres"), Some(5432));
        assert_eq!(engine_port("sqlserver-ex"), Some(1433));
        assert_eq!(engine_port("oracle-ee"), Some(1521));
        assert_eq!(engine_port("neo4j"), None);
    }
}
