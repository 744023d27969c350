//! The VPC: its block and availability zones, the names of its route
//! tables and network ACLs (the implicit main table and default ACL
//! included), the ACLs, the subnets and the route tables. What runs in the
//! subnets is in `compute.rs`.

use std::collections::HashMap;

use ipnet::Ipv4Net;

use super::{AddressBook, Names, NodeNames, Resolver, MAX_SUBNET_LEN, MIN_SUBNET_LEN};
use crate::format::*;
use crate::model::*;
use crate::nacl::NetworkAcl;
use crate::route_table::{Route, RouteOrigin, RouteTable, RouteTarget};

/// What AWS takes as a subnet's size.
const SUBNET_SIZES: &str = "a prefix length from /16 to /28";

/// What the parts of a VPC share once its block, zones and table names
/// are read.
pub(super) struct VpcScope<'a> {
    /// The VPC block; `0.0.0.0/0` when it does not parse.
    pub(super) cidr: Ipv4Net,
    /// Whether the block parsed (an invalid one was reported already).
    pub(super) cidr_valid: bool,
    /// The region, the prefix of every zone's full name.
    pub(super) region: String,
    /// The zones' full names, in file order.
    pub(super) azs: Vec<String>,
    /// A zone by any of its names: as written, full, or suffix only.
    pub(super) az_names: Names,
    /// Route tables by name, `main` included.
    pub(super) rt_names: Names,
    /// Network ACLs by name, `default` included.
    pub(super) nacl_names: Names,
    /// The main route table's index.
    pub(super) main_rt: usize,
    /// The default network ACL's index.
    pub(super) default_nacl: usize,
    /// Subnets by name (empty until [`Resolver::subnets`] ran).
    pub(super) subnets: Names,
    /// Security groups by name.
    pub(super) sgs: &'a Names,
    /// The VPC's default security group.
    pub(super) default_sg: usize,
}

impl Resolver<'_> {
    /// `[vpc]` and everything in it.
    pub(super) fn vpc(
        &mut self,
        v: &RawVpc,
        t: &mut Topology,
        nodes: &mut NodeNames,
        addrs: &mut AddressBook,
        sgs: &Names,
        default_sg: usize,
    ) {
        let parsed = self.vpc_block(v);
        self.region_name(&v.region);
        let region = v.region.get_ref().clone();
        let (azs, az_names) = self.zones(v, &region);
        let (rt_names, main_rt, nacl_names, default_nacl) = self.table_names(v);
        let mut scope = VpcScope {
            cidr: parsed.unwrap_or_default(),
            cidr_valid: parsed.is_some(),
            region,
            azs,
            az_names,
            rt_names,
            nacl_names,
            main_rt,
            default_nacl,
            subnets: Names::new(),
            sgs,
            default_sg,
        };
        self.nacls(v, &scope, t);
        scope.subnets = self.subnets(v, &scope, t);

        let igw = v
            .internet_gateway
            .as_ref()
            .map(|i| i.name.get_ref().clone());
        let vgw = v.vgw.as_ref().map(|g| Vgw {
            name: g.name.get_ref().clone(),
            asn: self.vgw_asn(g.asn.as_ref(), &scope.region),
        });

        self.nat_gateways(v, &scope, t, nodes, addrs);
        self.instances(v, &scope, t, nodes, addrs);
        self.databases(v, &scope, t, nodes, addrs);
        // load balancers: interfaces now, listeners once ASGs exist
        let lbs = self.load_balancers(v, &scope, t, nodes, addrs);
        let asg_names = self.auto_scaling_groups(v, &scope, t, nodes, addrs);
        nodes.finish(t);
        self.listeners(lbs, &asg_names, t, nodes);
        self.scaling(v, t, nodes);

        // route tables: static routes need node names, so they come last
        self.route_tables(v, &scope, igw.as_deref(), vgw.as_ref(), t);

        t.vpc = Some(Vpc {
            name: v.name.get_ref().clone(),
            cidr: scope.cidr,
            region: scope.region,
            azs: scope.azs,
            internet_gateway: igw,
            vgw,
            main_route_table: scope.main_rt,
            default_nacl: scope.default_nacl,
            default_security_group: default_sg,
        });
    }

    /// The VPC block, its prefix length from /16 to /28.
    fn vpc_block(&mut self, v: &RawVpc) -> Option<Ipv4Net> {
        let vpc_parsed = self.cidr(&v.cidr);
        let cidr = vpc_parsed.unwrap_or_default();
        if vpc_parsed.is_some() && (cidr.prefix_len() < 16 || cidr.prefix_len() > 28) {
            let d = self.error(
                v.cidr.span(),
                format!("VPC block {cidr} has prefix length /{}", cidr.prefix_len()),
            );
            d.expected = Some("a prefix length from /16 to /28".into());
        }
        vpc_parsed
    }

    /// The zones' full names (`a` in `eu-west-1` is `eu-west-1a`), each
    /// once, and a zone by any of its names.
    fn zones(&mut self, v: &RawVpc, region: &str) -> (Vec<String>, Names) {
        let mut azs = Vec::new();
        for a in &v.azs {
            let full = if a.get_ref().starts_with(region) {
                a.get_ref().clone()
            } else {
                format!("{region}{}", a.get_ref())
            };
            self.zone_name(a, &full, region);
            if azs.contains(&full) {
                let d = self.error(
                    a.span(),
                    format!("availability zone `{}` is listed twice", a.get_ref()),
                );
                d.hint = Some("list each zone once".into());
            }
            azs.push(full);
        }
        let az_names: Names = v
            .azs
            .iter()
            .enumerate()
            .flat_map(|(i, a)| {
                let suffix = azs[i]
                    .strip_prefix(region)
                    .unwrap_or(a.get_ref())
                    .to_string();
                [(a.get_ref().clone(), i), (azs[i].clone(), i), (suffix, i)]
            })
            .collect();
        (azs, az_names)
    }

    /// Route tables and network ACLs by name, the implicit main table and
    /// default ACL appended: the names, the main table's index, the ACL
    /// names and the default ACL's index.
    fn table_names(&mut self, v: &RawVpc) -> (Names, usize, Names, usize) {
        let mut rt_names = self.names("route table", v.route_table.iter().map(|r| &r.name));
        let mut nacl_names = self.names("network ACL", v.nacl.iter().map(|n| &n.name));
        let mains: Vec<&RawRouteTable> = v.route_table.iter().filter(|r| r.main).collect();
        if mains.len() > 1 {
            let d = self.error(
                mains[1].name.span(),
                format!(
                    "route table `{}` is the second main table",
                    mains[1].name.get_ref()
                ),
            );
            d.hint = Some(format!(
                "`{}` is already main; a VPC has one main table",
                mains[0].name.get_ref()
            ));
        }
        let main_rt = mains
            .first()
            .and_then(|m| rt_names.get(m.name.get_ref()).copied())
            .unwrap_or(v.route_table.len());
        // the implicit main table can be named like the default ACL
        rt_names.entry("main".into()).or_insert(main_rt);
        let default_nacl = if let Some(&i) = nacl_names.get("default") {
            i
        } else {
            nacl_names.insert("default".into(), v.nacl.len());
            v.nacl.len()
        };
        (rt_names, main_rt, nacl_names, default_nacl)
    }

    /// `[[vpc.nacl]]`, then the default ACL when the file has none.
    fn nacls(&mut self, v: &RawVpc, scope: &VpcScope<'_>, t: &mut Topology) {
        for n in &v.nacl {
            let ingress = self.nacl_rules(&n.ingress, "inbound", n);
            let egress = self.nacl_rules(&n.egress, "outbound", n);
            t.nacls.push(NetworkAcl {
                name: n.name.get_ref().clone(),
                ingress,
                egress,
            });
        }
        if scope.default_nacl == v.nacl.len() {
            t.nacls.push(NetworkAcl::default_acl("default"));
        }
    }

    /// `[[vpc.subnet]]`: inside the VPC, not overlapping, /28 or larger,
    /// with their zone, route table and ACL. Gives the subnets' names.
    pub(super) fn subnets(&mut self, v: &RawVpc, scope: &VpcScope<'_>, t: &mut Topology) -> Names {
        let sub_names = self.names("subnet", v.subnet.iter().map(|s| &s.name));
        let mut placed: Vec<(Ipv4Net, &Str)> = Vec::new();
        for s in &v.subnet {
            let az = self
                .lookup("availability zone", &s.az, &scope.az_names)
                .map(|i| scope.azs[i].clone())
                .unwrap_or_default();
            let parsed = self.cidr(&s.cidr);
            let c = parsed.unwrap_or_default();
            if parsed.is_none() || !scope.cidr_valid {
                // already reported; nothing sensible to compare
            } else if !scope.cidr.contains(&c) {
                let d = self.error(
                    s.cidr.span(),
                    format!("subnet block {c} is outside the VPC block {}", scope.cidr),
                );
                d.expected = Some(format!("a block inside {}", scope.cidr));
            } else if let Some((other, name)) =
                placed.iter().find(|(o, _)| super::blocks_overlap(*o, c))
            {
                let d = self.error(
                    s.cidr.span(),
                    format!(
                        "subnet block {c} overlaps subnet `{}` ({other})",
                        name.get_ref()
                    ),
                );
                d.hint = Some("subnets of a VPC must not overlap".into());
            } else if c.prefix_len() > MIN_SUBNET_LEN {
                let d = self.error(
                    s.cidr.span(),
                    format!("subnet block {c} is smaller than /{MIN_SUBNET_LEN}"),
                );
                d.expected = Some(SUBNET_SIZES.into());
            } else if c.prefix_len() < MAX_SUBNET_LEN {
                let d = self.error(
                    s.cidr.span(),
                    format!("subnet block {c} is larger than /{MAX_SUBNET_LEN}"),
                );
                d.expected = Some(SUBNET_SIZES.into());
            }
            if parsed.is_some() {
                placed.push((c, &s.name));
            }
            let route_table = match &s.route_table {
                Some(n) => self
                    .lookup("route table", n, &scope.rt_names)
                    .unwrap_or(scope.main_rt),
                None => scope.main_rt,
            };
            let nacl = match &s.nacl {
                Some(n) => self
                    .lookup("network ACL", n, &scope.nacl_names)
                    .unwrap_or(scope.default_nacl),
                None => scope.default_nacl,
            };
            t.subnets.push(Subnet {
                name: s.name.get_ref().clone(),
                az,
                cidr: c,
                public: s.public,
                route_table,
                nacl,
            });
        }
        sub_names
    }

    /// What a static route may point at, by name.
    fn route_targets(
        &self,
        igw: Option<&str>,
        vgw: Option<&Vgw>,
        t: &Topology,
    ) -> HashMap<String, RouteTarget> {
        let mut targets: HashMap<String, RouteTarget> = HashMap::new();
        if let Some(i) = igw {
            targets.insert(i.to_string(), RouteTarget::InternetGateway);
        }
        if let Some(g) = vgw {
            targets.insert(g.name.clone(), RouteTarget::Vgw);
        }
        for (i, n) in t.nodes.iter().enumerate() {
            match n.kind {
                NodeKind::NatGateway => {
                    targets.insert(n.name.clone(), RouteTarget::NatGateway(i));
                }
                NodeKind::Instance => {
                    targets.insert(n.name.clone(), RouteTarget::Instance(i));
                }
                _ => {}
            }
        }
        targets.insert("blackhole".into(), RouteTarget::Blackhole);
        targets
    }

    /// `[[vpc.route_table]]`, each with its `local` route, then the
    /// implicit main table when no table is main.
    fn route_tables(
        &mut self,
        v: &RawVpc,
        scope: &VpcScope<'_>,
        igw: Option<&str>,
        vgw: Option<&Vgw>,
        t: &mut Topology,
    ) {
        self.route_table_quota(&v.route_table, scope.main_rt == v.route_table.len());
        let targets = self.route_targets(igw, vgw, t);
        let target_names: Names = targets
            .keys()
            .cloned()
            .enumerate()
            .map(|(i, k)| (k, i))
            .collect();
        for rt in &v.route_table {
            let mut routes = vec![Route {
                prefix: scope.cidr,
                target: RouteTarget::Local,
                origin: RouteOrigin::Local,
            }];
            self.static_route_quota(&rt.name, &rt.routes);
            let mut seen: HashMap<Ipv4Net, usize> = HashMap::new();
            for r in &rt.routes {
                let Some(prefix) = self.cidr(&r.prefix) else {
                    continue;
                };
                if prefix == scope.cidr {
                    let d = self.error(
                        r.prefix.span(),
                        format!("route {prefix} is the VPC's own block"),
                    );
                    d.hint =
                        Some("the `local` route for it is implicit and cannot be replaced".into());
                    continue;
                }
                if let Some(line) = seen.get(&prefix) {
                    let d = self.error(
                        r.prefix.span(),
                        format!(
                            "route table `{}` has two routes for {prefix}",
                            rt.name.get_ref()
                        ),
                    );
                    d.hint = Some(format!("the first one is on line {line}"));
                    continue;
                }
                seen.insert(prefix, self.src.line_col(r.prefix.span().start).0);
                let Some(_) = self.lookup(
                    "route target (internet gateway, NAT gateway, VGW, instance or `blackhole`)",
                    &r.target,
                    &target_names,
                ) else {
                    continue;
                };
                let target = targets[r.target.get_ref()];
                if scope.cidr_valid
                    && !self.check_route_destination(r, prefix, target, scope.cidr, t)
                {
                    continue;
                }
                routes.push(Route {
                    prefix,
                    target,
                    origin: RouteOrigin::Static,
                });
            }
            t.route_tables.push(RouteTable::new(
                rt.name.get_ref().clone(),
                rt.propagate_vgw,
                routes,
            ));
        }
        if scope.main_rt == v.route_table.len() {
            t.route_tables.push(RouteTable::new(
                if v.route_table.iter().any(|r| r.name.get_ref() == "main") {
                    "(main)".into()
                } else {
                    "main".into()
                },
                false,
                vec![Route {
                    prefix: scope.cidr,
                    target: RouteTarget::Local,
                    origin: RouteOrigin::Local,
                }],
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{diagnostics, hint, load};
    use crate::route_table::RouteTarget;

    #[test]
    fn zones_tables_and_acls_get_their_defaults() {
        let (t, _) = load(
            "\n[[vpc.route_table]]\nname = \"rt\"\nroutes = [{ prefix = \"0.0.0.0/0\", target = \"vgw\" }]\n",
        );
        let vpc = t.vpc.as_ref().expect("a VPC");
        assert_eq!(vpc.azs, ["ap-northeast-2a", "ap-northeast-2c"]);
        assert_eq!(t.subnets[1].az, "ap-northeast-2c");
        // no main table in the file: an implicit one after `rt`
        assert_eq!(vpc.main_route_table, 1);
        assert_eq!(t.route_tables[1].name, "main");
        assert_eq!(t.subnets[0].route_table, 1);
        assert_eq!(t.route_tables[0].routes.len(), 2);
        assert_eq!(t.route_tables[0].routes[1].target, RouteTarget::Vgw);
        assert_eq!(t.nacls[vpc.default_nacl].name, "default");
    }

    #[test]
    fn route_tables_past_awss_quota_of_200_per_vpc_are_an_error_at_the_first_one_over() {
        let tables = |n: usize| -> String {
            (0..n)
                .map(|i| format!("\n[[vpc.route_table]]\nname = \"rt{i}\"\n"))
                .collect()
        };
        // 199 and the implicit main table: at the quota
        assert_eq!(diagnostics(&tables(199)), Vec::<String>::new());
        // 200 and the implicit main table: rt199 is the 201st
        assert_eq!(
            diagnostics(&tables(200)),
            ["t.toml:600:8: error: the VPC has 201 route tables, the main one included"]
        );
    }

    #[test]
    fn a_subnet_outside_the_vpc_is_an_error() {
        let extra = "\n[[vpc.subnet]]\nname = \"far\"\naz = \"a\"\ncidr = \"10.1.0.0/24\"\n";
        assert_eq!(
            diagnostics(extra),
            ["t.toml:5:8: error: subnet block 10.1.0.0/24 is outside the VPC block 10.0.0.0/16"]
        );
    }

    #[test]
    fn a_second_main_table_is_an_error() {
        let extra = "\n[[vpc.route_table]]\nname = \"one\"\nmain = true\n\n[[vpc.route_table]]\nname = \"two\"\nmain = true\n";
        assert_eq!(
            diagnostics(extra),
            ["t.toml:7:8: error: route table `two` is the second main table"]
        );
        assert_eq!(
            hint(extra),
            "`one` is already main; a VPC has one main table"
        );
    }

    #[test]
    fn a_route_for_the_vpc_block_is_an_error() {
        let extra = "\n[[vpc.route_table]]\nname = \"rt\"\nroutes = [{ prefix = \"10.0.0.0/16\", target = \"vgw\" }]\n";
        assert_eq!(
            diagnostics(extra),
            ["t.toml:4:22: error: route 10.0.0.0/16 is the VPC's own block"]
        );
    }
}
