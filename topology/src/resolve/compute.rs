//! The VPC's compute: NAT gateways, instances, databases, load balancers
//! (their interfaces, then their listeners) and Auto Scaling groups, each
//! placed in a subnet of the VPC with its address checked.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use super::vpc::VpcScope;
use super::{AddressBook, Names, NodeNames, Resolver};
use crate::format::*;
use crate::model::*;
use crate::traffic::{is_public, PortRange};

/// Load balancers made so far, by node id, with their raw form: their
/// listeners are read once every target exists.
pub(super) type PendingListeners<'v> = Vec<(NodeId, &'v RawLoadBalancer)>;

impl Resolver<'_> {
    /// An address in a subnet named in the file: the subnet's index and
    /// the address, checked against the subnet and recorded for `owner`.
    fn subnet_address(
        &mut self,
        scope: &VpcScope<'_>,
        t: &Topology,
        subnet: &Str,
        ip: &Str,
        owner: &str,
        addrs: &mut AddressBook,
    ) -> Option<(usize, Ipv4Addr)> {
        let sid = self.lookup("subnet", subnet, &scope.subnets)?;
        let ip_v = self.ip(ip)?;
        let sn = &t.subnets[sid];
        if self.check_in(ip_v, sn.cidr, ip, &format!("subnet `{}`", sn.name), true) {
            addrs.add(self, ip_v, ip, owner);
        }
        Some((sid, ip_v))
    }

    /// An Elastic IP, when given: it must be public, and is recorded for
    /// `owner`.
    fn public_address(
        &mut self,
        ip: Option<&Str>,
        addrs: &mut AddressBook,
        owner: &str,
    ) -> Option<Ipv4Addr> {
        let s = ip?;
        let a = self.ip(s)?;
        if !is_public(a) {
            let d = self.error(s.span(), format!("public address {a} is not public"));
            d.expected = Some("a public IPv4 address (an Elastic IP)".into());
        }
        addrs.add(self, a, s, owner);
        Some(a)
    }

    /// The next free placeholder public address (from
    /// [`super::FIRST_PUBLIC`], as the CloudFormation import gives them), recorded
    /// for `owner`; an error at `at` when the range is used up.
    fn placeholder_public(
        &mut self,
        addrs: &mut AddressBook,
        at: &Str,
        owner: &str,
    ) -> Option<Ipv4Addr> {
        let Some(a) = addrs.first_free_public() else {
            let d = self.error(
                at.span(),
                format!("no placeholder public address left for `{owner}`"),
            );
            d.expected = Some("at most 245 placeholder public addresses (203.0.113.10-254)".into());
            return None;
        };
        addrs.add(self, a, at, owner);
        Some(a)
    }

    /// `[[vpc.nat_gateway]]`.
    pub(super) fn nat_gateways(
        &mut self,
        v: &RawVpc,
        scope: &VpcScope<'_>,
        t: &mut Topology,
        nodes: &mut NodeNames,
        addrs: &mut AddressBook,
    ) {
        for n in &v.nat_gateway {
            let Some((sid, ip)) =
                self.subnet_address(scope, t, &n.subnet, &n.ip, n.name.get_ref(), addrs)
            else {
                continue;
            };
            let pip = self.public_address(Some(&n.public_ip), addrs, n.name.get_ref());
            if nodes.add(self, &n.name) {
                t.nodes.push(Node {
                    name: n.name.get_ref().clone(),
                    kind: NodeKind::NatGateway,
                    interfaces: vec![Interface {
                        name: format!("eni-{}", n.name.get_ref()),
                        attachment: Attachment::Subnet(sid),
                        ip,
                        public_ip: pip,
                    }],
                    security_groups: vec![],
                    routes: vec![],
                    ephemeral_ports: PortRange::AWS_EPHEMERAL,
                    source_dest_check: false,
                });
            }
        }
    }

    /// `[[vpc.instance]]`.
    pub(super) fn instances(
        &mut self,
        v: &RawVpc,
        scope: &VpcScope<'_>,
        t: &mut Topology,
        nodes: &mut NodeNames,
        addrs: &mut AddressBook,
    ) {
        for i in &v.instance {
            let Some((sid, ip)) =
                self.subnet_address(scope, t, &i.subnet, &i.ip, i.name.get_ref(), addrs)
            else {
                continue;
            };
            let pip = self.public_address(i.public_ip.as_ref(), addrs, i.name.get_ref());
            let groups = self.sg_list(
                i.security_groups.as_ref(),
                scope.sgs,
                scope.default_sg,
                i.name.span(),
            );
            if nodes.add(self, &i.name) {
                t.nodes.push(Node {
                    name: i.name.get_ref().clone(),
                    kind: NodeKind::Instance,
                    interfaces: vec![Interface {
                        name: format!("eni-{}", i.name.get_ref()),
                        attachment: Attachment::Subnet(sid),
                        ip,
                        public_ip: pip,
                    }],
                    security_groups: groups,
                    routes: vec![],
                    ephemeral_ports: PortRange::LINUX_EPHEMERAL,
                    source_dest_check: i.source_dest_check.unwrap_or(true),
                });
            }
        }
    }

    /// `[[vpc.database]]`: a primary host and an optional standby in
    /// another zone.
    pub(super) fn databases(
        &mut self,
        v: &RawVpc,
        scope: &VpcScope<'_>,
        t: &mut Topology,
        nodes: &mut NodeNames,
        addrs: &mut AddressBook,
    ) {
        for db in &v.database {
            let port = db
                .port
                .as_ref()
                .and_then(|p| self.int_in(p, 1, 65535, "port"))
                .unwrap_or(3306) as u16;
            let groups = self.sg_list(
                db.security_groups.as_ref(),
                scope.sgs,
                scope.default_sg,
                db.name.span(),
            );
            let mut azs_used = vec![];
            for (role, h) in [
                (DbRole::Primary, Some(&db.primary)),
                (DbRole::Standby, db.standby.as_ref()),
            ] {
                let Some(h) = h else { continue };
                let Some((sid, ip)) =
                    self.subnet_address(scope, t, &h.subnet, &h.ip, h.name.get_ref(), addrs)
                else {
                    continue;
                };
                if role == DbRole::Standby && azs_used.contains(&t.subnets[sid].az) {
                    let d = self.error(
                        h.subnet.span(),
                        format!(
                            "standby `{}` is in the same availability zone as the primary",
                            h.name.get_ref()
                        ),
                    );
                    d.hint = Some("Multi-AZ puts the standby in another zone".into());
                }
                azs_used.push(t.subnets[sid].az.clone());
                if nodes.add(self, &h.name) {
                    t.nodes.push(Node {
                        name: h.name.get_ref().clone(),
                        kind: NodeKind::Database {
                            database: db.name.get_ref().clone(),
                            role,
                            port,
                        },
                        interfaces: vec![Interface {
                            name: format!("eni-{}", h.name.get_ref()),
                            attachment: Attachment::Subnet(sid),
                            ip,
                            public_ip: None,
                        }],
                        security_groups: groups.clone(),
                        routes: vec![],
                        ephemeral_ports: PortRange::LINUX_EPHEMERAL,
                        source_dest_check: true,
                    });
                }
            }
        }
    }

    /// `[[vpc.load_balancer]]`: its interfaces, one per subnet; the
    /// listeners wait for [`Self::listeners`].
    pub(super) fn load_balancers<'v>(
        &mut self,
        v: &'v RawVpc,
        scope: &VpcScope<'_>,
        t: &mut Topology,
        nodes: &mut NodeNames,
        addrs: &mut AddressBook,
    ) -> PendingListeners<'v> {
        let mut lbs = Vec::new();
        for lb in &v.load_balancer {
            if lb.ips.len() != lb.subnets.len() {
                let d = self.error(
                    lb.name.span(),
                    format!(
                        "load balancer `{}` has {} subnets but {} addresses",
                        lb.name.get_ref(),
                        lb.subnets.len(),
                        lb.ips.len()
                    ),
                );
                d.expected = Some("one private address per subnet, in the same order".into());
                continue;
            }
            if !lb.public_ips.is_empty() && lb.public_ips.len() != lb.subnets.len() {
                let d = self.error(
                    lb.name.span(),
                    format!(
                        "load balancer `{}` has {} subnets but {} public addresses",
                        lb.name.get_ref(),
                        lb.subnets.len(),
                        lb.public_ips.len()
                    ),
                );
                d.expected = Some(
                    "one public address per subnet, or none for an internal load balancer".into(),
                );
                continue;
            }
            let mut interfaces = vec![];
            let mut seen_az = vec![];
            for (k, (s, ip)) in lb.subnets.iter().zip(&lb.ips).enumerate() {
                let Some((sid, ip)) =
                    self.subnet_address(scope, t, s, ip, lb.name.get_ref(), addrs)
                else {
                    continue;
                };
                if seen_az.contains(&t.subnets[sid].az) {
                    let d = self.error(
                        s.span(),
                        format!(
                            "load balancer `{}` has two subnets in {}",
                            lb.name.get_ref(),
                            t.subnets[sid].az
                        ),
                    );
                    d.expected = Some("one subnet per availability zone".into());
                }
                seen_az.push(t.subnets[sid].az.clone());
                let pip = self.public_address(lb.public_ips.get(k), addrs, lb.name.get_ref());
                interfaces.push(Interface {
                    name: format!("eni-{}-{}", lb.name.get_ref(), t.subnets[sid].name),
                    attachment: Attachment::Subnet(sid),
                    ip,
                    public_ip: pip,
                });
            }
            if self.application_load_balancer(lb) && seen_az.len() == lb.subnets.len() {
                self.load_balancer_zones(&lb.name, &seen_az);
            }
            let groups = self.sg_list(
                lb.security_groups.as_ref(),
                scope.sgs,
                scope.default_sg,
                lb.name.span(),
            );
            if nodes.add(self, &lb.name) {
                lbs.push((t.nodes.len(), lb));
                t.nodes.push(Node {
                    name: lb.name.get_ref().clone(),
                    kind: NodeKind::LoadBalancer { listeners: vec![] },
                    interfaces,
                    security_groups: groups,
                    routes: vec![],
                    ephemeral_ports: PortRange::AWS_EPHEMERAL,
                    source_dest_check: true,
                });
            }
        }
        lbs
    }

    /// Whether a load balancer is an application one (`type`, default
    /// `application`; `network` is the other).
    fn application_load_balancer(&mut self, lb: &RawLoadBalancer) -> bool {
        match lb.lb_type.as_ref().map(|t| (t, t.get_ref().as_str())) {
            None | Some((_, "application")) => true,
            Some((_, "network")) => false,
            Some((t, other)) => {
                let d = self.error(t.span(), format!("unknown load balancer type `{other}`"));
                d.expected = Some("`application` or `network`".into());
                false
            }
        }
    }

    /// `[[vpc.auto_scaling_group]]`: its instances get the first free
    /// addresses of its subnets, in turn. Gives the groups' names.
    pub(super) fn auto_scaling_groups(
        &mut self,
        v: &RawVpc,
        scope: &VpcScope<'_>,
        t: &mut Topology,
        nodes: &mut NodeNames,
        addrs: &mut AddressBook,
    ) -> Names {
        let mut asg_names = Names::new();
        for (gi, g) in v.auto_scaling_group.iter().enumerate() {
            self.scaling_name(&g.name, "Auto Scaling group");
            if asg_names.insert(g.name.get_ref().clone(), gi).is_some() {
                let d = self.error(
                    g.name.span(),
                    format!("duplicate Auto Scaling group name `{}`", g.name.get_ref()),
                );
                d.hint = Some("Auto Scaling group names must be unique".into());
            }
            let (desired, min, max) = self.asg_capacity(g);
            let subnets: Vec<usize> = g
                .subnets
                .iter()
                .filter_map(|s| self.lookup("subnet", s, &scope.subnets))
                .collect();
            if g.subnets.is_empty() && desired > 0 {
                let d = self.error(
                    g.name.span(),
                    format!(
                        "Auto Scaling group `{}` has no subnets for its {desired} instances",
                        g.name.get_ref()
                    ),
                );
                d.expected = Some("`subnets = [...]`, one or more private subnets".into());
            }
            let groups = self.sg_list(
                g.security_groups.as_ref(),
                scope.sgs,
                scope.default_sg,
                g.name.span(),
            );
            let mut instances = vec![];
            let mut slots = vec![];
            if !subnets.is_empty() {
                let (places, sleeping) =
                    self.asg_placements(g, t, &scope.region, &subnets, desired, max);
                for name in sleeping {
                    nodes.dormant.insert(name, g.name.get_ref().clone());
                }
                // each subnet's free addresses, as many as its highest place
                let mut free: HashMap<usize, Vec<Ipv4Addr>> = HashMap::new();
                for &sid in &subnets {
                    let top = (places.iter().filter(|p| p.subnet == sid))
                        .map(|p| p.nth)
                        .max()
                        .unwrap_or(0);
                    if t.subnets[sid].cidr.prefix_len() > super::MIN_SUBNET_LEN {
                        continue; // the subnet was refused: no address to give
                    }
                    free.insert(sid, addrs.nth_free(t.subnets[sid].cidr, top as usize));
                }
                let name_s = |name: &str| Str::new(g.host_prefix.span(), name.to_string());
                // the places held first, so that no instance takes one
                for p in places.iter().filter(|p| !p.running) {
                    if let Some(&ip) = free.get(&p.subnet).and_then(|f| f.get(p.nth as usize - 1)) {
                        let owner = format!("{} (held for it while it is not running)", p.name);
                        addrs.add(self, ip, &name_s(&p.name), &owner);
                    }
                }
                for p in places.iter().filter(|p| p.running) {
                    let sid = p.subnet;
                    let name = p.name.clone();
                    let Some(free) = free.get(&sid) else {
                        continue; // the subnet was refused
                    };
                    let Some(&ip) = free.get(p.nth as usize - 1) else {
                        let d = self.error(
                            g.name.span(),
                            format!(
                                "subnet `{}` has no free address for `{name}`",
                                t.subnets[sid].name
                            ),
                        );
                        d.hint = Some(
                            "lower the desired capacity or give the group a larger subnet".into(),
                        );
                        continue;
                    };
                    let name_s = name_s(&name);
                    if let Some(line) = nodes.lines.get(&name).copied() {
                        let d = self.error(g.host_prefix.span(), format!("Auto Scaling group `{}` names its instance `{name}`, which is already a node", g.name.get_ref()));
                        d.hint = Some(format!("the other `{name}` is on line {line}; change `host_prefix` or rename that node"));
                        continue;
                    }
                    addrs.add(self, ip, &name_s, &name);
                    let public_ip = if g.public_ip == Some(true) {
                        self.placeholder_public(addrs, &name_s, &name)
                    } else {
                        None
                    };
                    if nodes.add(self, &name_s) {
                        instances.push(t.nodes.len());
                        slots.push(p.slot);
                        t.nodes.push(Node {
                            name: name.clone(),
                            kind: NodeKind::AsgInstance {
                                group: t.auto_scaling_groups.len(),
                            },
                            interfaces: vec![Interface {
                                name: format!("eni-{name}"),
                                attachment: Attachment::Subnet(sid),
                                ip,
                                public_ip,
                            }],
                            security_groups: groups.clone(),
                            routes: vec![],
                            ephemeral_ports: PortRange::LINUX_EPHEMERAL,
                            source_dest_check: true,
                        });
                    }
                }
            }
            t.auto_scaling_groups.push(AutoScalingGroup {
                name: g.name.get_ref().clone(),
                host_prefix: g.host_prefix.get_ref().clone(),
                instances,
                slots,
                subnets,
                desired,
                min,
                max,
                scaling: ScalingSettings::default(),
            });
        }
        asg_names
    }

    /// An Auto Scaling group's desired, minimum and maximum capacity; the
    /// last two default to the first.
    fn asg_capacity(&mut self, g: &RawAutoScalingGroup) -> (u32, u32, u32) {
        let desired = self
            .int_in(&g.desired, 0, 1000, "desired capacity")
            .unwrap_or(0) as u32;
        let min = g
            .min
            .as_ref()
            .and_then(|m| self.int_in(m, 0, 1000, "minimum capacity"))
            .unwrap_or(desired as i64) as u32;
        let max = g
            .max
            .as_ref()
            .and_then(|m| self.int_in(m, 0, 1000, "maximum capacity"))
            .unwrap_or(desired as i64) as u32;
        if !(min <= desired && desired <= max) {
            let d = self.error(
                g.desired.span(),
                format!("desired capacity {desired} is not between min {min} and max {max}"),
            );
            d.expected = Some("min <= desired <= max".into());
        }
        (desired, min, max)
    }

    /// The listeners of the load balancers: targets are instances or Auto
    /// Scaling groups, so this runs once they all exist.
    pub(super) fn listeners(
        &mut self,
        lbs: PendingListeners<'_>,
        asg_names: &Names,
        t: &mut Topology,
        nodes: &NodeNames,
    ) {
        for (id, lb) in lbs {
            let mut listeners = vec![];
            for l in &lb.listeners {
                let port = self.int_in(&l.port, 1, 65535, "port").unwrap_or(0) as u16;
                let target_port = self.int_in(&l.target_port, 1, 65535, "port").unwrap_or(0) as u16;
                let mut targets = vec![];
                for tg in &l.targets {
                    if let Some(&g) = asg_names.get(tg.get_ref()) {
                        targets.extend(t.auto_scaling_groups[g].instances.iter().copied());
                    } else if let Some(&n) = nodes.names.get(tg.get_ref()) {
                        if matches!(
                            t.nodes[n].kind,
                            NodeKind::Instance | NodeKind::AsgInstance { .. }
                        ) {
                            targets.push(n);
                        } else {
                            let d = self.error(
                                tg.span(),
                                format!("target `{}` is not an instance in the VPC", tg.get_ref()),
                            );
                            d.expected = Some("an instance or an Auto Scaling group".into());
                        }
                    } else {
                        let mut all: Names = nodes
                            .names
                            .iter()
                            .filter(|(_, &n)| {
                                matches!(
                                    t.nodes[n].kind,
                                    NodeKind::Instance | NodeKind::AsgInstance { .. }
                                )
                            })
                            .map(|(k, v)| (k.clone(), *v))
                            .collect();
                        all.extend(asg_names.clone());
                        self.lookup("target (instance or Auto Scaling group)", tg, &all);
                    }
                }
                if l.targets.is_empty() {
                    let d = self.error(
                        l.port.span(),
                        format!("listener on port {port} has no targets"),
                    );
                    d.expected = Some("`targets = [...]`: instances or Auto Scaling groups".into());
                }
                if listeners.iter().any(|x: &Listener| x.port == port) {
                    let d = self.error(l.port.span(), format!("two listeners on port {port}"));
                    d.hint = Some("a load balancer has one listener per port".into());
                }
                if let Some(p) = &l.protocol {
                    self.listener_protocol(p);
                }
                listeners.push(Listener {
                    port,
                    protocol: l
                        .protocol
                        .as_ref()
                        .map(|p| p.get_ref().clone())
                        .unwrap_or_else(|| "http".into()),
                    targets,
                    target_port,
                    target_group: self.target_group(l),
                });
            }
            t.nodes[id].kind = NodeKind::LoadBalancer { listeners };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{diagnostics, hint, load};
    use crate::model::NodeKind;

    #[test]
    fn auto_scaling_instances_take_free_addresses_in_turn() {
        let (t, _) = load(
            "\n[[vpc.instance]]\nname = \"app-1\"\nsubnet = \"app-a\"\nip = \"10.0.1.4\"\n\n[[vpc.auto_scaling_group]]\nname = \"web\"\nhost_prefix = \"web\"\nsubnets = [\"app-a\", \"app-c\"]\ndesired = 3\nmax = 4\n",
        );
        let ip = |n: &str| {
            t.nodes[t.node_by_name(n).expect(n)].interfaces[0]
                .ip
                .to_string()
        };
        assert_eq!(ip("web-a1"), "10.0.1.5");
        assert_eq!(ip("web-c1"), "10.0.2.4");
        assert_eq!(ip("web-a2"), "10.0.1.6");
        let g = &t.auto_scaling_groups[0];
        assert_eq!((g.instances.len(), g.min, g.max), (3, 3, 4));
    }

    #[test]
    fn public_auto_scaling_instances_take_free_placeholder_addresses() {
        let (t, _) = load(
            "\n[[vpc.instance]]\nname = \"app-1\"\nsubnet = \"app-a\"\nip = \"10.0.1.4\"\npublic_ip = \"203.0.113.10\"\n\n[[vpc.auto_scaling_group]]\nname = \"web\"\nhost_prefix = \"web\"\nsubnets = [\"app-a\", \"app-c\"]\npublic_ip = true\ndesired = 2\n\n[[vpc.auto_scaling_group]]\nname = \"batch\"\nhost_prefix = \"batch\"\nsubnets = [\"app-a\"]\npublic_ip = false\ndesired = 1\n",
        );
        let pip = |n: &str| t.nodes[t.node_by_name(n).expect(n)].interfaces[0].public_ip;
        let web_a1 = t.node_by_name("web-a1").expect("web-a1");
        assert_eq!(pip("web-a1"), Some("203.0.113.11".parse().expect("ip")));
        assert_eq!(pip("web-c1"), Some("203.0.113.12".parse().expect("ip")));
        assert_eq!(pip("batch-a1"), None);
        let a = "203.0.113.11".parse().expect("ip");
        assert_eq!(t.public_owner.get(&a), Some(&(web_a1, 0)));
        // the graph labels the instance with it
        let dot = crate::graph::to_dot(&t);
        assert!(dot.contains("public 203.0.113.11"), "{dot}");
    }

    #[test]
    fn running_out_of_placeholder_public_addresses_is_an_error() {
        // 203.0.113.10-254 holds 245: the 246th instance gets none
        let extra = "\n[[vpc.auto_scaling_group]]\nname = \"web\"\nhost_prefix = \"web\"\nsubnets = [\"app-a\"]\npublic_ip = true\ndesired = 246\n";
        assert_eq!(
            diagnostics(extra),
            ["t.toml:4:15: error: no placeholder public address left for `web-a246`"]
        );
    }

    #[test]
    fn a_listener_targets_a_group_and_an_instance() {
        let (t, _) = load(
            "\n[[vpc.instance]]\nname = \"app-1\"\nsubnet = \"app-a\"\nip = \"10.0.1.4\"\n\n[[vpc.auto_scaling_group]]\nname = \"web\"\nhost_prefix = \"web\"\nsubnets = [\"app-c\"]\ndesired = 1\n\n[[vpc.load_balancer]]\nname = \"lb\"\nsubnets = [\"app-a\", \"app-c\"]\nips = [\"10.0.1.100\", \"10.0.2.100\"]\nlisteners = [{ port = 80, target_port = 8080, targets = [\"web\", \"app-1\"] }]\n",
        );
        let lb = &t.nodes[t.node_by_name("lb").expect("lb")];
        let NodeKind::LoadBalancer { listeners } = &lb.kind else {
            panic!("not a load balancer: {:?}", lb.kind)
        };
        let web = t.node_by_name("web-c1").expect("web-c1");
        let app = t.node_by_name("app-1").expect("app-1");
        assert_eq!(listeners[0].targets, [web, app]);
        assert_eq!(lb.interfaces.len(), 2);
    }

    #[test]
    fn a_standby_in_the_primarys_zone_is_an_error() {
        let extra = "\n[[vpc.database]]\nname = \"db\"\nprimary = { name = \"db-1\", subnet = \"app-a\", ip = \"10.0.1.50\" }\nstandby = { name = \"db-2\", subnet = \"app-a\", ip = \"10.0.1.51\" }\n";
        assert_eq!(
            diagnostics(extra),
            ["t.toml:5:37: error: standby `db-2` is in the same availability zone as the primary"]
        );
        assert_eq!(hint(extra), "Multi-AZ puts the standby in another zone");
    }

    #[test]
    fn a_reserved_address_is_an_error() {
        let extra = "\n[[vpc.instance]]\nname = \"app-1\"\nsubnet = \"app-a\"\nip = \"10.0.1.3\"\n";
        assert_eq!(
            diagnostics(extra),
            ["t.toml:5:6: error: address 10.0.1.3 is reserved by AWS in subnet `app-a` (10.0.1.0/24)"]
        );
    }
}
