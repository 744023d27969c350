//! From the file's raw form to a checked [`Topology`]: names resolved,
//! defaults filled in the AWS way, every mistake reported with its place.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::ops::Range;
use std::time::Duration;

use ipnet::Ipv4Net;

use crate::analysis::{Service, Target, Verdict};
use crate::diag::{did_you_mean, Diagnostics, Reporter, Severity, SourceFile};
use crate::format::*;
use crate::model::*;
use crate::nacl::{NaclAction, NaclRule, NetworkAcl};
use crate::route_table::{Route, RouteOrigin, RouteTable, RouteTarget};
use crate::security_group::{Peer, SecurityGroup, SgRule};
use crate::traffic::{
    is_public, parse_port_range, parse_protocol, proto, IcmpMatch, PortRange, Traffic,
};
use crate::units::{fmt_duration, parse_rate, RateUnit};

/// AWS quota: rules per security group and direction.
pub const MAX_SG_RULES: usize = 60;
/// AWS quota: rules per network ACL and direction.
pub const MAX_NACL_RULES: usize = 20;
/// AWS quota: security groups per network interface.
pub const MAX_SGS_PER_INTERFACE: usize = 5;
/// AWS limit: prefixes a customer may advertise on a private VIF.
pub const MAX_VIF_PREFIXES: usize = 100;
/// Largest latency or jitter of the emulated Direct Connect link.
pub const MAX_LINK_DELAY: Duration = Duration::from_secs(10);
/// Smallest bandwidth of the Direct Connect connection, bits per second.
pub const MIN_BANDWIDTH_BPS: u64 = 1_000;
/// Largest bandwidth of the Direct Connect connection, bits per second.
pub const MAX_BANDWIDTH_BPS: u64 = 1_000_000_000_000;

/// Parses and checks a topology. Warnings come back with the topology;
/// any error means no topology.
pub fn resolve(src: &SourceFile) -> Result<(Topology, Diagnostics), Diagnostics> {
    let raw: RawTopology = match toml::from_str(src.text()) {
        Ok(raw) => raw,
        Err(e) => {
            let msg = e.message().trim().to_string();
            let d = src
                .diagnostic(
                    Severity::Error,
                    e.span(),
                    format!("invalid topology file: {msg}"),
                )
                .hint("see docs/topology.md for the format");
            return Err(Diagnostics(vec![d]));
        }
    };
    let mut r = Resolver::new(src);
    let topo = r.topology(&raw);
    let diags = r.rep.finish();
    if diags.has_errors() {
        Err(diags)
    } else {
        Ok((topo, diags))
    }
}

/// Security groups, prefix lists and network ACLs on their own, resolved
/// with the same checks and messages as in a topology file: what the
/// gateway's config carries inline.
#[derive(Debug, Clone, Default)]
pub struct StandalonePolicy {
    /// The groups, in file order.
    pub security_groups: Vec<SecurityGroup>,
    /// The prefix lists, in file order.
    pub prefix_lists: Vec<PrefixList>,
    /// The network ACLs, in file order.
    pub nacls: Vec<NetworkAcl>,
}

impl StandalonePolicy {
    /// The index of a group by name.
    pub fn group(&self, name: &str) -> Option<usize> {
        self.security_groups.iter().position(|g| g.name == name)
    }

    /// The index of a network ACL by name.
    pub fn nacl(&self, name: &str) -> Option<usize> {
        self.nacls.iter().position(|n| n.name == name)
    }
}

/// Resolves groups, prefix lists and ACLs given in their raw form from a
/// file `src` (for positions). Errors and warnings come back together;
/// the policy is usable when none is an error.
pub fn resolve_policy(
    src: &SourceFile,
    groups: &[RawSecurityGroup],
    prefix_lists: &[RawPrefixList],
    nacls: &[RawNacl],
) -> (StandalonePolicy, Diagnostics) {
    let mut r = Resolver::new(src);
    let pl_names = r.names("prefix list", prefix_lists.iter().map(|p| &p.name));
    let sg_names = r.names("security group", groups.iter().map(|g| &g.name));
    let _ = r.names("network ACL", nacls.iter().map(|n| &n.name));
    let mut out = StandalonePolicy::default();
    for p in prefix_lists {
        let cidrs = p.cidrs.iter().filter_map(|c| r.cidr(c)).collect();
        out.prefix_lists.push(PrefixList {
            name: p.name.get_ref().clone(),
            cidrs,
        });
    }
    for g in groups {
        let ingress = r.sg_rules(&g.ingress, &sg_names, &pl_names);
        let egress = match &g.egress {
            None => vec![SecurityGroup::allow_all_egress()],
            Some(rules) => r.sg_rules(rules.get_ref(), &sg_names, &pl_names),
        };
        out.security_groups.push(SecurityGroup {
            name: g.name.get_ref().clone(),
            description: g.description.clone(),
            ingress,
            egress,
        });
    }
    for n in nacls {
        let ingress = r.nacl_rules(&n.ingress, "inbound", n);
        let egress = r.nacl_rules(&n.egress, "outbound", n);
        out.nacls.push(NetworkAcl {
            name: n.name.get_ref().clone(),
            ingress,
            egress,
        });
    }
    (out, r.rep.finish())
}

/// The resolver: a [`Reporter`] (diagnostics and value checks) plus the
/// name lookups of the topology format.
struct Resolver<'a> {
    rep: Reporter<'a>,
}

impl<'a> std::ops::Deref for Resolver<'a> {
    type Target = Reporter<'a>;
    fn deref(&self) -> &Reporter<'a> {
        &self.rep
    }
}

impl std::ops::DerefMut for Resolver<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.rep
    }
}

type Names = HashMap<String, usize>;

impl<'a> Resolver<'a> {
    fn new(src: &'a SourceFile) -> Self {
        Resolver {
            rep: Reporter::new(src),
        }
    }

    fn lookup(&mut self, kind: &str, name: &Str, names: &Names) -> Option<usize> {
        if let Some(i) = names.get(name.get_ref()) {
            return Some(*i);
        }
        let mut known: Vec<&str> = names.keys().map(String::as_str).collect();
        known.sort_unstable();
        let hint = did_you_mean(name.get_ref(), known.iter().copied())
            .map(|s| format!("did you mean `{s}`?"));
        let a = if kind.starts_with(['a', 'e', 'i', 'o', 'u']) {
            "an"
        } else {
            "a"
        };
        let expected = if known.is_empty() {
            format!("the name of {a} {kind}, but none is defined")
        } else {
            format!("the name of {a} {kind}: {}", list(&known))
        };
        let d = self.error(name.span(), format!("unknown {kind} `{}`", name.get_ref()));
        d.expected = Some(expected);
        d.hint = hint;
        None
    }

    /// Registers names of one kind, reporting duplicates.
    fn names<'r, I>(&mut self, kind: &str, items: I) -> Names
    where
        I: IntoIterator<Item = &'r Str>,
    {
        let mut names = Names::new();
        let mut first: HashMap<String, usize> = HashMap::new();
        for (i, n) in items.into_iter().enumerate() {
            if let Some(line) = first.get(n.get_ref()) {
                let line = *line;
                let d = self.error(n.span(), format!("duplicate {kind} name `{}`", n.get_ref()));
                d.hint = Some(format!(
                    "the first one is on line {line}; names must be unique"
                ));
                continue;
            }
            first.insert(n.get_ref().clone(), self.src.line_col(n.span().start).0);
            names.insert(n.get_ref().clone(), i);
        }
        names
    }

    // ---- the whole file --------------------------------------------------

    fn topology(&mut self, raw: &RawTopology) -> Topology {
        let mut t = Topology {
            name: raw
                .name
                .as_ref()
                .map(|n| n.get_ref().clone())
                .unwrap_or_else(|| "topology".into()),
            sites: vec![],
            lans: vec![],
            vpc: None,
            subnets: vec![],
            route_tables: vec![],
            nacls: vec![],
            security_groups: vec![],
            prefix_lists: vec![],
            nodes: vec![],
            dx_connection: None,
            vifs: vec![],
            vpn: None,
            auto_scaling_groups: vec![],
            expectations: vec![],
            sim: SimSettings::default(),
            addr_owner: Default::default(),
            public_owner: Default::default(),
            sg_members: vec![],
            sg_index: Default::default(),
            vgw_table: Default::default(),
            office_ribs: HashMap::new(),
        };

        // prefix lists
        let pl_names = self.names("prefix list", raw.prefix_list.iter().map(|p| &p.name));
        for p in &raw.prefix_list {
            let cidrs = p.cidrs.iter().filter_map(|c| self.cidr(c)).collect();
            t.prefix_lists.push(PrefixList {
                name: p.name.get_ref().clone(),
                cidrs,
            });
        }

        // security groups: names first, rules once every name is known
        let mut sg_names = self.names("security group", raw.security_group.iter().map(|g| &g.name));
        if raw.vpc.is_some() && !sg_names.contains_key("default") {
            sg_names.insert("default".into(), raw.security_group.len());
        }
        for g in &raw.security_group {
            let ingress = self.sg_rules(&g.ingress, &sg_names, &pl_names);
            let egress = match &g.egress {
                None => vec![SecurityGroup::allow_all_egress()],
                Some(rules) => self.sg_rules(rules.get_ref(), &sg_names, &pl_names),
            };
            for (dir, n) in [("inbound", ingress.len()), ("outbound", egress.len())] {
                if n > MAX_SG_RULES {
                    let d = self.error(
                        g.name.span(),
                        format!(
                            "security group `{}` has {n} {dir} rules, over the AWS quota of {MAX_SG_RULES}",
                            g.name.get_ref()
                        ),
                    );
                    d.hint = Some("merge rules, or use a prefix list or a group reference".into());
                }
            }
            t.security_groups.push(SecurityGroup {
                name: g.name.get_ref().clone(),
                description: g.description.clone(),
                ingress,
                egress,
            });
        }
        let default_sg = if raw.vpc.is_some() {
            let id = sg_names["default"];
            if id == t.security_groups.len() {
                // the VPC's default group: all in from its members, all out
                t.security_groups.push(SecurityGroup {
                    name: "default".into(),
                    description: Some("VPC default security group".into()),
                    ingress: vec![SgRule {
                        traffic: Traffic::All,
                        peer: Peer::SecurityGroup(id),
                        description: Some("all from members of the default group".into()),
                    }],
                    egress: vec![SecurityGroup::allow_all_egress()],
                });
            }
            id
        } else {
            0
        };

        // the address space: every assigned address, to find duplicates
        let mut addrs = AddressBook::default();

        // office
        let mut node_names = NodeNames::default();
        let mut lan_names = Names::new();
        self.office(
            raw,
            &mut t,
            &mut node_names,
            &mut lan_names,
            &mut addrs,
            &sg_names,
        );

        // vpc
        if let Some(v) = &raw.vpc {
            self.vpc(
                v,
                &mut t,
                &mut node_names,
                &mut addrs,
                &sg_names,
                default_sg,
            );
        }

        // office LANs and the VPC must not overlap: the VGW would have two
        // ways to the same address
        if let Some(vpc) = &t.vpc {
            let lans = raw.site.iter().flat_map(|s| s.lan.iter());
            for (lan, raw_lan) in t.lans.iter().zip(lans) {
                let valid = raw_lan
                    .cidr
                    .get_ref()
                    .parse::<Ipv4Net>()
                    .is_ok_and(|n| n.trunc() == n);
                if valid
                    && (vpc.cidr.contains(&lan.cidr.network())
                        || lan.cidr.contains(&vpc.cidr.network()))
                {
                    let d = self.error(
                        raw_lan.cidr.span(),
                        format!("LAN block {} overlaps the VPC block {}", lan.cidr, vpc.cidr),
                    );
                    d.hint = Some(
                        "office and VPC addresses must be distinct for routing over the VIF".into(),
                    );
                }
            }
        }

        // internet
        if let Some(i) = &raw.internet {
            let name = i
                .name
                .clone()
                .unwrap_or_else(|| Str::new(i.ip.span(), "internet".into()));
            if let Some(ip) = self.ip(&i.ip) {
                if !is_public(ip) {
                    let d = self.error(i.ip.span(), format!("internet address {ip} is not public"));
                    d.expected = Some("a public address, e.g. 198.51.100.10".into());
                }
                addrs.add(self, ip, &i.ip, name.get_ref());
                if node_names.add(self, &name) {
                    t.nodes.push(Node {
                        name: name.get_ref().clone(),
                        kind: NodeKind::Internet,
                        interfaces: vec![Interface {
                            name: "eth0".into(),
                            attachment: Attachment::Internet,
                            ip,
                            public_ip: Some(ip),
                        }],
                        security_groups: vec![],
                        routes: vec![],
                        ephemeral_ports: PortRange::LINUX_EPHEMERAL,
                        source_dest_check: true,
                    });
                }
            }
        }

        // direct connect and vpn attach to office nodes
        node_names.finish(&t);
        self.direct_connect(raw, &mut t, &node_names);
        self.vpn(raw, &mut t, &node_names);

        // office routers' next hops must be on their LANs
        self.check_office_routes(raw, &t, &node_names);

        // indexes
        self.index(&mut t, &addrs);

        // propagated routes into VPC tables
        self.propagate(raw, &mut t);

        // expectations last: they may name anything
        for e in &raw.expect {
            if let Some(x) = self.expectation(e, &t, &node_names) {
                t.expectations.push(x);
            }
        }

        // simulator settings: they name nodes, ASG instances included
        if let Some(sim) = &raw.sim {
            t.sim = self.sim(sim, &t, &node_names);
        }
        t
    }

    // ---- security-group rules --------------------------------------------

    fn sg_rules(&mut self, rules: &[RawSgRule], sgs: &Names, pls: &Names) -> Vec<SgRule> {
        let mut out = Vec::new();
        for r in rules {
            let traffic = self.traffic(
                &r.protocol,
                r.ports.as_ref(),
                r.icmp_type.as_ref(),
                r.icmp_code.as_ref(),
            );
            let peers = [r.cidr.is_some(), r.sg.is_some(), r.prefix_list.is_some()]
                .iter()
                .filter(|x| **x)
                .count();
            if peers == 0 {
                let d = self.error(r.protocol.span(), "security-group rule has no peer");
                d.expected = Some("exactly one of `cidr`, `sg`, `prefix_list`".into());
                d.hint =
                    Some("CloudFormation silently skips such a rule; say who is allowed".into());
                continue;
            }
            if peers > 1 {
                let given: Vec<(&str, &Str)> = [
                    ("cidr", &r.cidr),
                    ("sg", &r.sg),
                    ("prefix_list", &r.prefix_list),
                ]
                .into_iter()
                .filter_map(|(k, v)| v.as_ref().map(|v| (k, v)))
                .collect();
                let names: Vec<&str> = given.iter().map(|(k, _)| *k).collect();
                let second = given[1].1.span();
                let d = self.error(
                    second,
                    format!(
                        "security-group rule has more than one peer: {}",
                        names.join(" and ")
                    ),
                );
                d.expected = Some("exactly one of `cidr`, `sg`, `prefix_list`".into());
                d.hint = Some("write one rule per peer".into());
                continue;
            }
            let peer = if let Some(c) = &r.cidr {
                self.cidr(c).map(Peer::Cidr)
            } else if let Some(g) = &r.sg {
                self.lookup("security group", g, sgs)
                    .map(Peer::SecurityGroup)
            } else if let Some(p) = &r.prefix_list {
                self.lookup("prefix list", p, pls).map(Peer::PrefixList)
            } else {
                None
            };
            if let (Some(traffic), Some(peer)) = (traffic, peer) {
                out.push(SgRule {
                    traffic,
                    peer,
                    description: r.description.clone(),
                });
            }
        }
        out
    }

    fn traffic(
        &mut self,
        protocol: &toml::Spanned<NumOrStr>,
        ports: Option<&toml::Spanned<NumOrStr>>,
        icmp_type: Option<&Int>,
        icmp_code: Option<&Int>,
    ) -> Option<Traffic> {
        let text = protocol.get_ref().as_text();
        let p = match parse_protocol(&text) {
            Some(p) => p,
            None => {
                let d = self.error(protocol.span(), format!("unknown protocol `{text}`"));
                d.expected = Some("tcp, udp, icmp, icmpv6, -1 (all) or a number 0-255".into());
                return None;
            }
        };
        let port_range = match ports {
            None => None,
            Some(s) => {
                let text = s.get_ref().as_text();
                match parse_port_range(&text) {
                    Some(r) => Some(r),
                    None => {
                        let too_big = text
                            .split('-')
                            .any(|p| p.trim().parse::<u64>().is_ok_and(|n| n > 65535));
                        let msg = if too_big {
                            format!("port `{text}` is out of range")
                        } else {
                            format!("`{text}` is not a port range")
                        };
                        let d = self.error(s.span(), msg);
                        d.expected =
                            Some("a port 0-65535 like 443, or a range like \"1024-65535\"".into());
                        return None;
                    }
                }
            }
        };
        match p {
            Some(proto::TCP) | Some(proto::UDP) => {
                if let Some(field) = icmp_type.or(icmp_code) {
                    let d = self.error(
                        field.span(),
                        format!("{text} rule has an ICMP type or code"),
                    );
                    d.hint = Some("ICMP fields go with protocol icmp".into());
                    return None;
                }
                let Some(r) = port_range else {
                    let name = if p == Some(proto::TCP) { "tcp" } else { "udp" };
                    let d = self.error(protocol.span(), format!("{name} rule has no ports"));
                    d.expected = Some(
                        "`ports = 80` or `ports = \"1024-65535\"` or `ports = \"all\"`".into(),
                    );
                    return None;
                };
                Some(if p == Some(proto::TCP) {
                    Traffic::Tcp(r)
                } else {
                    Traffic::Udp(r)
                })
            }
            Some(proto::ICMP) => {
                if let Some(s) = ports {
                    let d = self.error(s.span(), "icmp rule has ports");
                    d.expected = Some("`icmp_type` and `icmp_code` (-1 = all)".into());
                    return None;
                }
                let ty = match icmp_type {
                    None => None,
                    Some(v) => {
                        let n = self.int_in(v, -1, 255, "ICMP type")?;
                        (n >= 0).then_some(n as u8)
                    }
                };
                let code = match icmp_code {
                    None => None,
                    Some(v) => {
                        let n = self.int_in(v, -1, 255, "ICMP code")?;
                        (n >= 0).then_some(n as u8)
                    }
                };
                if ty.is_none() && code.is_some() {
                    let span = icmp_code.map(|c| c.span()).unwrap_or(protocol.span());
                    let d = self.error(span, "ICMP type -1 (all types) with a specific code");
                    d.expected = Some("icmp_code = -1 when icmp_type is -1".into());
                    d.hint = Some("AWS requires code -1 when the type is -1".into());
                    return None;
                }
                Some(Traffic::Icmp(IcmpMatch {
                    icmp_type: ty,
                    code,
                }))
            }
            other => {
                if let Some(field) = icmp_type.or(icmp_code) {
                    let d = self.error(
                        field.span(),
                        format!("protocol {text} rule has an ICMP type or code"),
                    );
                    d.hint = Some(
                        "ICMP fields go with protocol icmp; protocol -1 already matches all ICMP"
                            .into(),
                    );
                    return None;
                }
                if let Some(s) = ports {
                    if parse_port_range(&s.get_ref().as_text()) != Some(PortRange::ALL) {
                        let d = self
                            .warning(s.span(), format!("ports are ignored for protocol {text}"));
                        d.hint = Some(
                            "AWS opens all ports for protocols other than tcp, udp and icmp".into(),
                        );
                    }
                }
                Some(match other {
                    None => Traffic::All,
                    Some(n) => Traffic::Proto(n),
                })
            }
        }
    }

    fn sg_list(
        &mut self,
        list: Option<&Vec<Str>>,
        sgs: &Names,
        default_sg: usize,
        span: Range<usize>,
    ) -> Vec<usize> {
        let Some(list) = list else {
            return vec![default_sg];
        };
        if list.is_empty() {
            let d = self.error(span.clone(), "an interface with no security group");
            d.expected =
                Some("at least one group; omit the key to get the VPC's default group".into());
        }
        let mut out = Vec::new();
        let mut sixth = None;
        for s in list {
            if let Some(i) = self.lookup("security group", s, sgs) {
                if out.len() == MAX_SGS_PER_INTERFACE && !out.contains(&i) && sixth.is_none() {
                    sixth = Some(s.span());
                }
                if out.contains(&i) {
                    let d = self.warning(
                        s.span(),
                        format!("security group `{}` is listed twice", s.get_ref()),
                    );
                    d.hint = Some("remove the second mention".into());
                } else {
                    out.push(i);
                }
            }
        }
        if out.len() > MAX_SGS_PER_INTERFACE {
            let d = self.error(
                sixth.unwrap_or(span),
                format!("{} security groups on one interface, over the AWS quota of {MAX_SGS_PER_INTERFACE}", out.len()),
            );
            d.hint = Some("merge groups; the quota can be raised to 16 on request".into());
        }
        out
    }

    // ---- office ----------------------------------------------------------

    fn office(
        &mut self,
        raw: &RawTopology,
        t: &mut Topology,
        nodes: &mut NodeNames,
        lan_names: &mut Names,
        addrs: &mut AddressBook,
        sgs: &Names,
    ) {
        let _ = self.names("site", raw.site.iter().map(|s| &s.name));
        let all_lans: Vec<&Str> = raw
            .site
            .iter()
            .flat_map(|s| s.lan.iter().map(|l| &l.name))
            .collect();
        *lan_names = self.names("LAN", all_lans);
        let mut lan_cidrs: Vec<(Ipv4Net, &Str)> = Vec::new();
        for (si, site) in raw.site.iter().enumerate() {
            let mut lans = vec![];
            for l in &site.lan {
                let parsed = self.cidr(&l.cidr);
                let cidr = parsed.unwrap_or_default();
                let clash = parsed.and_then(|cidr| {
                    lan_cidrs
                        .iter()
                        .find(|(c, _)| c.contains(&cidr.network()) || cidr.contains(&c.network()))
                });
                if let Some((other, name)) = clash {
                    {
                        let d = self.error(
                            l.cidr.span(),
                            format!(
                                "LAN block {cidr} overlaps LAN `{}` ({other})",
                                name.get_ref()
                            ),
                        );
                        d.hint = Some("office LANs must not overlap".into());
                    }
                }
                if parsed.is_some() {
                    lan_cidrs.push((cidr, &l.name));
                }
                lans.push(t.lans.len());
                t.lans.push(Lan {
                    name: l.name.get_ref().clone(),
                    site: si,
                    cidr,
                });
            }
            t.sites.push(Site {
                name: site.name.get_ref().clone(),
                lans,
            });
        }

        for site in &raw.site {
            for (kind, routers) in [
                (NodeKind::OfficeRouter, &site.router),
                (NodeKind::Gateway, &site.gateway),
            ] {
                for r in routers {
                    let mut interfaces = Vec::new();
                    for (k, i) in r.interfaces.iter().enumerate() {
                        let (Some(lan), Some(ip)) =
                            (self.lookup("LAN", &i.lan, lan_names), self.ip(&i.ip))
                        else {
                            continue;
                        };
                        self.check_in(
                            ip,
                            t.lans[lan].cidr,
                            &i.ip,
                            &format!("LAN `{}`", t.lans[lan].name),
                            false,
                        );
                        addrs.add(self, ip, &i.ip, r.name.get_ref());
                        interfaces.push(Interface {
                            name: format!("eth{k}"),
                            attachment: Attachment::Lan(lan),
                            ip,
                            public_ip: None,
                        });
                    }
                    let mut routes = Vec::new();
                    for rt in &r.routes {
                        if let (Some(prefix), Some(via)) = (self.cidr(&rt.prefix), self.ip(&rt.via))
                        {
                            routes.push(OfficeRoute {
                                prefix,
                                next_hop: NextHop::Via(via),
                                origin: RouteOrigin::Static,
                                source: "static".into(),
                            });
                        }
                    }
                    let security_groups = if kind == NodeKind::Gateway {
                        match &r.security_groups {
                            Some(list) if list.is_empty() => vec![],
                            Some(list) => self.sg_list(Some(list), sgs, 0, r.name.span()),
                            None => {
                                let d = self.warning(r.name.span(), format!("gateway `{}` has no security groups: nothing crosses its tunnels in either direction", r.name.get_ref()));
                                d.hint = Some("add `security_groups = [...]` with the policy for traffic from the VPC".into());
                                vec![]
                            }
                        }
                    } else {
                        if let Some(list) = &r.security_groups {
                            if let Some(first) = list.first() {
                                let d = self.error(
                                    first.span(),
                                    "an office router cannot have security groups",
                                );
                                d.hint = Some(
                                    "put the policy on the `[[site.gateway]]` that ends the VIF"
                                        .into(),
                                );
                            }
                        }
                        vec![]
                    };
                    if nodes.add(self, &r.name) {
                        t.nodes.push(Node {
                            name: r.name.get_ref().clone(),
                            kind: kind.clone(),
                            interfaces,
                            security_groups,
                            routes,
                            ephemeral_ports: PortRange::LINUX_EPHEMERAL,
                            source_dest_check: false,
                        });
                    }
                }
            }
        }

        for site in &raw.site {
            for h in &site.host {
                let (Some(lan), Some(ip)) = (self.lookup("LAN", &h.lan, lan_names), self.ip(&h.ip))
                else {
                    continue;
                };
                self.check_in(
                    ip,
                    t.lans[lan].cidr,
                    &h.ip,
                    &format!("LAN `{}`", t.lans[lan].name),
                    false,
                );
                addrs.add(self, ip, &h.ip, h.name.get_ref());
                let gateway = match &h.gateway {
                    Some(g) => self.ip(g).inspect(|&g| {
                        if !t.lans[lan].cidr.contains(&g) {
                            let d = self.error(
                                h.gateway
                                    .as_ref()
                                    .map(|g| g.span())
                                    .unwrap_or(h.name.span()),
                                format!(
                                    "gateway {g} is not in LAN `{}` ({})",
                                    t.lans[lan].name, t.lans[lan].cidr
                                ),
                            );
                            d.expected = Some("the address of a router on the host's LAN".into());
                        }
                    }),
                    None => t
                        .nodes
                        .iter()
                        .filter(|n| n.forwards())
                        .flat_map(|n| n.interfaces.iter())
                        .find(|i| i.attachment == Attachment::Lan(lan))
                        .map(|i| i.ip),
                };
                let mut routes = vec![];
                if let Some(g) = gateway {
                    routes.push(OfficeRoute {
                        prefix: Ipv4Net::default(),
                        next_hop: NextHop::Via(g),
                        origin: RouteOrigin::Static,
                        source: "default gateway".into(),
                    });
                }
                if nodes.add(self, &h.name) {
                    t.nodes.push(Node {
                        name: h.name.get_ref().clone(),
                        kind: NodeKind::OfficeHost,
                        interfaces: vec![Interface {
                            name: "eth0".into(),
                            attachment: Attachment::Lan(lan),
                            ip,
                            public_ip: None,
                        }],
                        security_groups: vec![],
                        routes,
                        ephemeral_ports: PortRange::LINUX_EPHEMERAL,
                        source_dest_check: true,
                    });
                }
            }
        }
    }

    fn check_office_routes(&mut self, raw: &RawTopology, t: &Topology, nodes: &NodeNames) {
        for site in &raw.site {
            for r in site.router.iter().chain(&site.gateway) {
                let Some(&id) = nodes.names.get(r.name.get_ref()) else {
                    continue;
                };
                let node = &t.nodes[id];
                for rt in &r.routes {
                    let Ok(via) = rt.via.get_ref().parse::<Ipv4Addr>() else {
                        continue;
                    };
                    let on_lan = node.interfaces.iter().any(|i| match i.attachment {
                        Attachment::Lan(l) => t.lans[l].cidr.contains(&via),
                        _ => false,
                    });
                    if !on_lan {
                        let d = self.error(
                            rt.via.span(),
                            format!("next hop {via} is not on any LAN of `{}`", r.name.get_ref()),
                        );
                        d.expected =
                            Some("a neighbour's address on one of the router's LANs".into());
                    }
                }
            }
        }
    }

    fn check_in(&mut self, ip: Ipv4Addr, net: Ipv4Net, s: &Str, what: &str, aws: bool) -> bool {
        if !net.contains(&ip) {
            let d = self.error(s.span(), format!("address {ip} is outside {what} ({net})"));
            d.expected = Some(format!("an address in {net}"));
            return false;
        }
        if !aws && net.prefix_len() <= 30 && (ip == net.network() || ip == net.broadcast()) {
            let d = self.error(
                s.span(),
                format!("address {ip} is the network or broadcast address of {what} ({net})"),
            );
            d.expected = Some(format!(
                "a host address from {} to {}",
                Ipv4Addr::from(u32::from(net.network()) + 1),
                Ipv4Addr::from(u32::from(net.broadcast()) - 1)
            ));
            return false;
        }
        if aws {
            let n = u32::from(net.network());
            let a = u32::from(ip);
            if a - n < 4 || ip == net.broadcast() {
                let d = self.error(
                    s.span(),
                    format!("address {ip} is reserved by AWS in {what} ({net})"),
                );
                d.expected = Some(format!(
                    "an address from {} to {}",
                    Ipv4Addr::from(n + 4),
                    Ipv4Addr::from(u32::from(net.broadcast()) - 1)
                ));
                d.hint = Some(
                    "AWS keeps the first four addresses and the last one of every subnet".into(),
                );
                return false;
            }
        }
        true
    }

    // ---- vpc -------------------------------------------------------------

    #[allow(clippy::too_many_arguments)]
    fn vpc(
        &mut self,
        v: &RawVpc,
        t: &mut Topology,
        nodes: &mut NodeNames,
        addrs: &mut AddressBook,
        sgs: &Names,
        default_sg: usize,
    ) {
        let vpc_parsed = self.cidr(&v.cidr);
        let cidr = vpc_parsed.unwrap_or_default();
        if vpc_parsed.is_some() && (cidr.prefix_len() < 16 || cidr.prefix_len() > 28) {
            let d = self.error(
                v.cidr.span(),
                format!("VPC block {cidr} has prefix length /{}", cidr.prefix_len()),
            );
            d.expected = Some("a prefix length from /16 to /28".into());
        }
        let region = v.region.get_ref().clone();
        let mut azs = Vec::new();
        for a in &v.azs {
            let full = if a.get_ref().starts_with(&region) {
                a.get_ref().clone()
            } else {
                format!("{region}{}", a.get_ref())
            };
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
                    .strip_prefix(&region)
                    .unwrap_or(a.get_ref())
                    .to_string();
                [(a.get_ref().clone(), i), (azs[i].clone(), i), (suffix, i)]
            })
            .collect();

        // route-table and ACL names, the defaults appended
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

        // network ACLs
        for n in &v.nacl {
            let ingress = self.nacl_rules(&n.ingress, "inbound", n);
            let egress = self.nacl_rules(&n.egress, "outbound", n);
            t.nacls.push(NetworkAcl {
                name: n.name.get_ref().clone(),
                ingress,
                egress,
            });
        }
        if default_nacl == v.nacl.len() {
            t.nacls.push(NetworkAcl::default_acl("default"));
        }

        // subnets
        let sub_names = self.names("subnet", v.subnet.iter().map(|s| &s.name));
        let mut placed: Vec<(Ipv4Net, &Str)> = Vec::new();
        for s in &v.subnet {
            let az = self
                .lookup("availability zone", &s.az, &az_names)
                .map(|i| azs[i].clone())
                .unwrap_or_default();
            let parsed = self.cidr(&s.cidr);
            let c = parsed.unwrap_or_default();
            if parsed.is_none() || vpc_parsed.is_none() {
                // already reported; nothing sensible to compare
            } else if !cidr.contains(&c) {
                let d = self.error(
                    s.cidr.span(),
                    format!("subnet block {c} is outside the VPC block {cidr}"),
                );
                d.expected = Some(format!("a block inside {cidr}"));
            } else if let Some((other, name)) = placed
                .iter()
                .find(|(o, _)| o.contains(&c.network()) || c.contains(&o.network()))
            {
                let d = self.error(
                    s.cidr.span(),
                    format!(
                        "subnet block {c} overlaps subnet `{}` ({other})",
                        name.get_ref()
                    ),
                );
                d.hint = Some("subnets of a VPC must not overlap".into());
            } else if c.prefix_len() > 28 {
                let d = self.error(
                    s.cidr.span(),
                    format!("subnet block {c} is smaller than /28"),
                );
                d.expected = Some("a prefix length from /16 to /28".into());
            }
            if parsed.is_some() {
                placed.push((c, &s.name));
            }
            let route_table = match &s.route_table {
                Some(n) => self.lookup("route table", n, &rt_names).unwrap_or(main_rt),
                None => main_rt,
            };
            let nacl = match &s.nacl {
                Some(n) => self
                    .lookup("network ACL", n, &nacl_names)
                    .unwrap_or(default_nacl),
                None => default_nacl,
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

        let igw = v
            .internet_gateway
            .as_ref()
            .map(|i| i.name.get_ref().clone());
        let vgw = v.vgw.as_ref().map(|g| Vgw {
            name: g.name.get_ref().clone(),
            asn: g
                .asn
                .as_ref()
                .and_then(|a| self.int_in(a, 1, 4_294_967_294, "ASN"))
                .unwrap_or(64512) as u32,
        });

        let subnet_addr = |r: &mut Self,
                           t: &Topology,
                           subnet: &Str,
                           ip: &Str,
                           owner: &str,
                           addrs: &mut AddressBook|
         -> Option<(usize, Ipv4Addr)> {
            let sid = r.lookup("subnet", subnet, &sub_names)?;
            let ip_v = r.ip(ip)?;
            let sn = &t.subnets[sid];
            if r.check_in(ip_v, sn.cidr, ip, &format!("subnet `{}`", sn.name), true) {
                addrs.add(r, ip_v, ip, owner);
            }
            Some((sid, ip_v))
        };
        let public = |r: &mut Self,
                      ip: Option<&Str>,
                      addrs: &mut AddressBook,
                      owner: &str|
         -> Option<Ipv4Addr> {
            let s = ip?;
            let a = r.ip(s)?;
            if !is_public(a) {
                let d = r.error(s.span(), format!("public address {a} is not public"));
                d.expected = Some("a public IPv4 address (an Elastic IP)".into());
            }
            addrs.add(r, a, s, owner);
            Some(a)
        };

        // NAT gateways
        for n in &v.nat_gateway {
            let Some((sid, ip)) = subnet_addr(self, t, &n.subnet, &n.ip, n.name.get_ref(), addrs)
            else {
                continue;
            };
            let pip = public(self, Some(&n.public_ip), addrs, n.name.get_ref());
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

        // instances
        for i in &v.instance {
            let Some((sid, ip)) = subnet_addr(self, t, &i.subnet, &i.ip, i.name.get_ref(), addrs)
            else {
                continue;
            };
            let pip = public(self, i.public_ip.as_ref(), addrs, i.name.get_ref());
            let groups = self.sg_list(i.security_groups.as_ref(), sgs, default_sg, i.name.span());
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

        // databases
        for db in &v.database {
            let port = db
                .port
                .as_ref()
                .and_then(|p| self.int_in(p, 1, 65535, "port"))
                .unwrap_or(3306) as u16;
            let groups = self.sg_list(db.security_groups.as_ref(), sgs, default_sg, db.name.span());
            let mut azs_used = vec![];
            for (role, h) in [
                (DbRole::Primary, Some(&db.primary)),
                (DbRole::Standby, db.standby.as_ref()),
            ] {
                let Some(h) = h else { continue };
                let Some((sid, ip)) =
                    subnet_addr(self, t, &h.subnet, &h.ip, h.name.get_ref(), addrs)
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

        // load balancers: interfaces now, listeners once ASGs exist
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
                let Some((sid, ip)) = subnet_addr(self, t, s, ip, lb.name.get_ref(), addrs) else {
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
                let pip = public(self, lb.public_ips.get(k), addrs, lb.name.get_ref());
                interfaces.push(Interface {
                    name: format!("eni-{}-{}", lb.name.get_ref(), t.subnets[sid].name),
                    attachment: Attachment::Subnet(sid),
                    ip,
                    public_ip: pip,
                });
            }
            let groups = self.sg_list(lb.security_groups.as_ref(), sgs, default_sg, lb.name.span());
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

        // auto scaling groups: hosts get the first free addresses
        let mut asg_names = Names::new();
        for (gi, g) in v.auto_scaling_group.iter().enumerate() {
            if asg_names.insert(g.name.get_ref().clone(), gi).is_some() {
                let d = self.error(
                    g.name.span(),
                    format!("duplicate Auto Scaling group name `{}`", g.name.get_ref()),
                );
                d.hint = Some("Auto Scaling group names must be unique".into());
            }
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
            let subnets: Vec<usize> = g
                .subnets
                .iter()
                .filter_map(|s| self.lookup("subnet", s, &sub_names))
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
            let groups = self.sg_list(g.security_groups.as_ref(), sgs, default_sg, g.name.span());
            let mut instances = vec![];
            if !subnets.is_empty() {
                let mut per_az: HashMap<String, u32> = HashMap::new();
                for k in 0..desired as usize {
                    let slot = k % subnets.len();
                    let sid = subnets[slot];
                    let n = per_az.entry(t.subnets[sid].az.clone()).or_default();
                    *n += 1;
                    let n = *n;
                    let az = &t.subnets[sid].az;
                    let suffix = az.strip_prefix(&region).unwrap_or(az);
                    let name = format!("{}-{}{}", g.host_prefix.get_ref(), suffix, n);
                    let Some(ip) = addrs.first_free(t.subnets[sid].cidr) else {
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
                        break;
                    };
                    let name_s = Str::new(g.host_prefix.span(), name.clone());
                    if let Some(line) = nodes.lines.get(&name).copied() {
                        let d = self.error(g.host_prefix.span(), format!("Auto Scaling group `{}` names its instance `{name}`, which is already a node", g.name.get_ref()));
                        d.hint = Some(format!("the other `{name}` is on line {line}; change `host_prefix` or rename that node"));
                        continue;
                    }
                    addrs.add(self, ip, &name_s, &name);
                    if nodes.add(self, &name_s) {
                        instances.push(t.nodes.len());
                        t.nodes.push(Node {
                            name: name.clone(),
                            kind: NodeKind::AsgInstance {
                                group: t.auto_scaling_groups.len(),
                            },
                            interfaces: vec![Interface {
                                name: format!("eni-{name}"),
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
            t.auto_scaling_groups.push(AutoScalingGroup {
                name: g.name.get_ref().clone(),
                instances,
                min,
                max,
            });
        }

        // listeners: targets are hosts or Auto Scaling groups
        nodes.finish(t);
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
                listeners.push(Listener {
                    port,
                    protocol: l
                        .protocol
                        .as_ref()
                        .map(|p| p.get_ref().clone())
                        .unwrap_or_else(|| "http".into()),
                    targets,
                    target_port,
                });
            }
            t.nodes[id].kind = NodeKind::LoadBalancer { listeners };
        }

        // route tables: static routes need node names, so they come last
        let mut targets: HashMap<String, RouteTarget> = HashMap::new();
        if let Some(i) = &igw {
            targets.insert(i.clone(), RouteTarget::InternetGateway);
        }
        if let Some(g) = &vgw {
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
        let target_names: Names = targets
            .keys()
            .cloned()
            .enumerate()
            .map(|(i, k)| (k, i))
            .collect();
        for rt in &v.route_table {
            let mut routes = vec![Route {
                prefix: cidr,
                target: RouteTarget::Local,
                origin: RouteOrigin::Local,
            }];
            let mut seen: HashMap<Ipv4Net, usize> = HashMap::new();
            for r in &rt.routes {
                let Some(prefix) = self.cidr(&r.prefix) else {
                    continue;
                };
                if prefix == cidr {
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
                if target == RouteTarget::Vgw && prefix.prefix_len() == 0 {
                    // fine: a default route to the office
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
        if main_rt == v.route_table.len() {
            t.route_tables.push(RouteTable::new(
                if v.route_table.iter().any(|r| r.name.get_ref() == "main") {
                    "(main)".into()
                } else {
                    "main".into()
                },
                false,
                vec![Route {
                    prefix: cidr,
                    target: RouteTarget::Local,
                    origin: RouteOrigin::Local,
                }],
            ));
        }

        t.vpc = Some(Vpc {
            name: v.name.get_ref().clone(),
            cidr,
            region,
            azs,
            internet_gateway: igw,
            vgw,
            main_route_table: main_rt,
            default_nacl,
            default_security_group: default_sg,
        });
    }

    fn nacl_rules(&mut self, rules: &[RawNaclRule], dir: &str, acl: &RawNacl) -> Vec<NaclRule> {
        let mut out: Vec<NaclRule> = Vec::new();
        let mut numbers: HashMap<i64, usize> = HashMap::new();
        for r in rules {
            let Some(number) = self.int_in(&r.rule, 1, 32766, "rule number") else {
                continue;
            };
            if let Some(line) = numbers.get(&number) {
                let d = self.error(
                    r.rule.span(),
                    format!(
                        "duplicate {dir} rule number {number} in network ACL `{}`",
                        acl.name.get_ref()
                    ),
                );
                d.hint = Some(format!(
                    "rule {number} is already on line {line}; numbers are unique per direction"
                ));
                continue;
            }
            numbers.insert(number, self.src.line_col(r.rule.span().start).0);
            let action = match r.action.get_ref().to_ascii_lowercase().as_str() {
                "allow" => Some(NaclAction::Allow),
                "deny" => Some(NaclAction::Deny),
                other => {
                    let d = self.error(r.action.span(), format!("unknown action `{other}`"));
                    d.expected = Some("`allow` or `deny`".into());
                    None
                }
            };
            let traffic = self.traffic(
                &r.protocol,
                r.ports.as_ref(),
                r.icmp_type.as_ref(),
                r.icmp_code.as_ref(),
            );
            let cidr = self.cidr(&r.cidr);
            if let (Some(action), Some(traffic), Some(cidr)) = (action, traffic, cidr) {
                out.push(NaclRule {
                    number: number as u16,
                    action,
                    traffic,
                    cidr,
                });
            }
        }
        if out.len() > MAX_NACL_RULES {
            let d = self.error(
                acl.name.span(),
                format!(
                    "network ACL `{}` has {} {dir} rules, over the AWS quota of {MAX_NACL_RULES}",
                    acl.name.get_ref(),
                    out.len()
                ),
            );
            d.hint =
                Some("merge rules; the quota can be raised to 40 at a cost in performance".into());
        }
        out.sort_by_key(|r| r.number);
        out
    }

    // ---- direct connect, vpn ---------------------------------------------

    fn direct_connect(&mut self, raw: &RawTopology, t: &mut Topology, nodes: &NodeNames) {
        let Some(dx) = &raw.direct_connect else {
            return;
        };
        t.dx_connection = dx.connection.as_ref().map(|c| self.dx_connection(c));
        let _ = self.names("VIF", dx.vif.iter().map(|v| &v.name));
        let mut vlans: HashMap<i64, String> = HashMap::new();
        for v in &dx.vif {
            let vlan = self.int_in(&v.vlan, 1, 4094, "VLAN id");
            if let Some(vl) = vlan {
                if let Some(other) = vlans.insert(vl, v.name.get_ref().clone()) {
                    let d = self.error(
                        v.vlan.span(),
                        format!("VLAN {vl} is already used by VIF `{other}`"),
                    );
                    d.hint = Some("VLAN ids are unique per connection".into());
                }
            }
            let customer_asn = self.int_in(&v.customer_asn, 1, 4_294_967_294, "ASN");
            let vgw_asn = t.vpc.as_ref().and_then(|p| p.vgw.as_ref()).map(|g| g.asn);
            match (&v.vgw, t.vpc.as_ref().and_then(|p| p.vgw.as_ref())) {
                (Some(name), Some(g)) if name.get_ref() != &g.name => {
                    let d = self.error(
                        name.span(),
                        format!("unknown virtual private gateway `{}`", name.get_ref()),
                    );
                    d.expected = Some(format!("the VPC's VGW `{}`", g.name));
                }
                (_, None) => {
                    let d = self.error(
                        v.name.span(),
                        format!(
                            "VIF `{}` has no virtual private gateway to attach to",
                            v.name.get_ref()
                        ),
                    );
                    d.hint = Some("add `[vpc.vgw]`".into());
                }
                _ => {}
            }
            let amazon_asn = match &v.amazon_asn {
                Some(a) => {
                    let n = self.int_in(a, 1, 4_294_967_294, "ASN");
                    if let (Some(n), Some(g)) = (n, vgw_asn) {
                        if n as u32 != g {
                            let d = self.error(
                                a.span(),
                                format!("Amazon-side ASN {n} differs from the VGW's ASN {g}"),
                            );
                            d.hint =
                                Some("the Amazon-side ASN of a private VIF is the VGW's".into());
                        }
                    }
                    n.map(|n| n as u32)
                }
                None => vgw_asn,
            };
            if let (Some(c), Some(a)) = (customer_asn, amazon_asn) {
                if c as u32 == a {
                    let d = self.error(
                        v.customer_asn.span(),
                        format!("customer ASN {c} equals the Amazon-side ASN"),
                    );
                    d.hint = Some("eBGP needs two different ASNs".into());
                }
            }
            let cust = self.interface_cidr(&v.customer_address);
            let amzn = self.interface_cidr(&v.amazon_address);
            for (addr, raw) in [(cust, &v.customer_address), (amzn, &v.amazon_address)] {
                let Some(addr) = addr else { continue };
                let link_local: Ipv4Net = "169.254.0.0/16".parse().expect("a valid block");
                if !(link_local.contains(&addr.addr()) || addr.addr().is_private()) {
                    let d = self.error(
                        raw.span(),
                        format!(
                            "peer address {} is neither link-local nor private",
                            addr.addr()
                        ),
                    );
                    d.expected = Some(
                        "a /30 from 169.254.0.0/16 (as AWS assigns) or from RFC 1918 space".into(),
                    );
                }
            }
            if let (Some(c), Some(a)) = (cust, amzn) {
                if c.prefix_len() != a.prefix_len()
                    || c.trunc() != a.trunc()
                    || c.addr() == a.addr()
                {
                    let d = self.error(
                        v.amazon_address.span(),
                        format!("peer addresses {c} and {a} are not two ends of one subnet"),
                    );
                    d.expected = Some(
                        "two addresses of the same /30, e.g. 169.254.100.1/30 and 169.254.100.2/30"
                            .into(),
                    );
                } else if c.prefix_len() != 30 && c.prefix_len() != 31 {
                    let d = self.warning(
                        v.customer_address.span(),
                        format!("peer subnet /{} is not the /30 AWS assigns", c.prefix_len()),
                    );
                    d.hint = Some(
                        "AWS uses a /30 from 169.254.0.0/16 or from your RFC 1918 space".into(),
                    );
                } else if c.prefix_len() == 30 {
                    for (addr, raw) in [(c, &v.customer_address), (a, &v.amazon_address)] {
                        let which = if addr.addr() == addr.network() {
                            "network"
                        } else if addr.addr() == addr.broadcast() {
                            "broadcast"
                        } else {
                            continue;
                        };
                        let d = self.error(
                            raw.span(),
                            format!(
                                "peer address {} is the {which} address of {}",
                                addr.addr(),
                                addr.trunc()
                            ),
                        );
                        d.expected = Some(format!(
                            "one of the two usable addresses {} and {}",
                            Ipv4Addr::from(u32::from(addr.network()) + 1),
                            Ipv4Addr::from(u32::from(addr.network()) + 2)
                        ));
                    }
                }
            }
            let mtu = match &v.mtu {
                None => Some(1500),
                Some(m) => match *m.get_ref() {
                    1500 | 9001 => Some(*m.get_ref() as u16),
                    other => {
                        let d = self.error(
                            m.span(),
                            format!("MTU {other} is not offered on a private VIF"),
                        );
                        d.expected = Some("1500 or 9001".into());
                        None
                    }
                },
            };
            if let Some(k) = &v.md5_key {
                let s = k.get_ref();
                if !(s.starts_with("env:") || s.starts_with("file:")) || s.len() < 5 {
                    let d = self.error(k.span(), "md5_key must say where the key is, not hold it");
                    d.expected = Some("`env:VARIABLE` or `file:PATH`".into());
                }
            }
            let prefixes: Vec<Ipv4Net> = v
                .advertised_prefixes
                .iter()
                .filter_map(|p| self.cidr(p))
                .collect();
            let mut bgp_up = true;
            let mut down_reason = None;
            if let Some(s) = &v.state {
                match s.get_ref().as_str() {
                    "up" => {}
                    "down" => {
                        bgp_up = false;
                        down_reason = Some("configured down".to_string());
                    }
                    other => {
                        let d = self.error(s.span(), format!("unknown state `{other}`"));
                        d.expected = Some("`up` or `down`".into());
                    }
                }
            }
            // BGP advertises each prefix once, however often it is listed
            let mut prefixes = prefixes;
            let mut seen = std::collections::HashSet::new();
            let mut over = None;
            for (p, raw) in prefixes.iter().zip(&v.advertised_prefixes) {
                if seen.insert(*p) && seen.len() == MAX_VIF_PREFIXES + 1 {
                    over = Some(raw.span());
                }
            }
            prefixes.sort_unstable();
            prefixes.dedup();
            if let Some(span) = over {
                let d = self.warning(span, format!("VIF `{}` advertises {} prefixes; over {MAX_VIF_PREFIXES} the BGP session goes Idle and no route is exchanged", v.name.get_ref(), prefixes.len()));
                d.hint = Some(
                    "summarise the office prefixes (a default route, or fewer, shorter blocks)"
                        .into(),
                );
                bgp_up = false;
                down_reason = Some(format!(
                    "BGP Idle: {} prefixes advertised, the limit is {MAX_VIF_PREFIXES}",
                    prefixes.len()
                ));
            }
            let router = self.lookup(
                "office gateway or router",
                &v.customer_router,
                &nodes.office,
            );
            let (
                Some(vlan),
                Some(customer_asn),
                Some(amazon_asn),
                Some(cust),
                Some(amzn),
                Some(mtu),
                Some(router),
            ) = (vlan, customer_asn, amazon_asn, cust, amzn, mtu, router)
            else {
                continue;
            };
            let id = t.vifs.len();
            t.nodes[router].interfaces.push(Interface {
                name: v.name.get_ref().clone(),
                attachment: Attachment::Vif(id),
                ip: cust.addr(),
                public_ip: None,
            });
            if let Some(vpc) = &t.vpc {
                if bgp_up {
                    t.nodes[router].routes.push(OfficeRoute {
                        prefix: vpc.cidr,
                        next_hop: NextHop::Vif(id),
                        origin: RouteOrigin::Propagated,
                        source: format!("bgp from AS {amazon_asn} over {}", v.name.get_ref()),
                    });
                }
            }
            t.vifs.push(Vif {
                name: v.name.get_ref().clone(),
                vlan: vlan as u16,
                customer_asn: customer_asn as u32,
                amazon_asn,
                customer_address: cust,
                amazon_address: amzn,
                mtu,
                md5_key: v.md5_key.as_ref().map(|k| k.get_ref().clone()),
                customer_router: router,
                advertised_prefixes: prefixes,
                bgp_up,
                down_reason,
            });
        }
    }

    /// `[direct_connect.connection]`: the link attributes the simulator
    /// emulates are checked here; the analysis does not use them.
    fn dx_connection(&mut self, c: &RawDxConnection) -> DxConnection {
        let (bandwidth, bandwidth_bps) = match &c.bandwidth {
            Some(b) => match self.rate(b, "bandwidth") {
                Some((text, bps)) => (Some(text), Some(bps)),
                None => (b.get_ref().as_str().map(str::to_string), None),
            },
            None => (None, None),
        };
        let latency = c
            .latency
            .as_ref()
            .and_then(|l| self.duration(l, "latency", MAX_LINK_DELAY));
        let jitter = c
            .jitter
            .as_ref()
            .and_then(|j| self.duration(j, "jitter", MAX_LINK_DELAY));
        if let (Some(j), Some(raw_j)) = (jitter, &c.jitter) {
            let l = latency.unwrap_or_default();
            // an invalid latency was reported already: compare with nothing
            if j > l && (latency.is_some() || c.latency.is_none()) {
                let d = self.warning(
                    raw_j.span(),
                    format!(
                        "jitter {} is more than latency {}: delays that would fall below zero are zero",
                        fmt_duration(j),
                        fmt_duration(l)
                    ),
                );
                d.hint = Some(format!(
                    "each packet is delayed by latency ± jitter; set `latency` to at least {} or lower `jitter`",
                    fmt_duration(j)
                ));
            }
        }
        let loss_percent = c.loss.as_ref().and_then(|l| self.percentage(l, "loss"));
        DxConnection {
            name: c.name.get_ref().clone(),
            location: c.location.clone(),
            bandwidth,
            bandwidth_bps,
            latency,
            jitter,
            loss_percent,
        }
    }

    /// A rate in a string (`"1Gbps"`, `"500 Mbps"`, `"1.5Gbps"`): the text
    /// as written and bits per second, from [`MIN_BANDWIDTH_BPS`] to
    /// [`MAX_BANDWIDTH_BPS`].
    fn rate(&mut self, v: &AnyValue, what: &str) -> Option<(String, u64)> {
        const EXPECTED: &str = "a rate in quotes: a number and a unit (bps, Kbps, Mbps or Gbps, in any case), like \"1Gbps\", \"500Mbps\", \"1.5Gbps\"";
        let text = match v.get_ref() {
            toml::Value::String(s) => s.clone(),
            other => {
                let shown = other.to_string();
                let d = self.error(v.span(), format!("`{shown}` is not a rate"));
                d.expected = Some(EXPECTED.into());
                d.hint = Some(
                    if matches!(other, toml::Value::Integer(_) | toml::Value::Float(_)) {
                        format!("a rate has a unit, in a string: did you mean `{what} = \"{shown}Mbps\"`?")
                    } else {
                        "write a number and a unit in a string, like \"1Gbps\"".into()
                    },
                );
                return None;
            }
        };
        let rate = match parse_rate(&text) {
            Ok(rate) if rate.unit() == RateUnit::Bps => rate,
            other => {
                // another spelling of a rate gets the file's form suggested
                let meant = other
                    .ok()
                    .filter(|r| r.unit() != RateUnit::None && !r.is_negative());
                let d = self.error(v.span(), format!("`{text}` is not a rate"));
                d.expected = Some(EXPECTED.into());
                d.hint = Some(match meant {
                    Some(r) => format!("did you mean \"{}\"?", r.in_bps_form()),
                    None => "write a number, then bps, Kbps, Mbps or Gbps: \"10Gbps\", \"50Mbps\""
                        .into(),
                });
                return None;
            }
        };
        match rate.bps() {
            Ok(bps) if (MIN_BANDWIDTH_BPS..=MAX_BANDWIDTH_BPS).contains(&bps) => Some((text, bps)),
            _ => {
                let d = self.error(v.span(), format!("{what} {} is out of range", text.trim()));
                d.expected = Some(format!("{what} from 1Kbps to 1000Gbps"));
                None
            }
        }
    }

    fn vpn(&mut self, raw: &RawTopology, t: &mut Topology, nodes: &NodeNames) {
        let Some(v) = &raw.vpn else { return };
        let router = self.lookup(
            "office gateway or router",
            &v.customer_gateway,
            &nodes.office,
        );
        if t.vpc.as_ref().and_then(|p| p.vgw.as_ref()).is_none() {
            let d = self.error(
                v.name.span(),
                format!(
                    "VPN `{}` has no virtual private gateway to attach to",
                    v.name.get_ref()
                ),
            );
            d.hint = Some("add `[vpc.vgw]`".into());
        }
        let bgp = match v.routing.as_ref().map(|r| r.get_ref().as_str()) {
            None | Some("static") => false,
            Some("bgp") => true,
            Some(other) => {
                let span = v
                    .routing
                    .as_ref()
                    .map(|r| r.span())
                    .unwrap_or(v.name.span());
                let d = self.error(span, format!("unknown VPN routing `{other}`"));
                d.expected = Some("`static` or `bgp`".into());
                false
            }
        };
        let up = match v.state.as_ref().map(|s| s.get_ref().as_str()) {
            None | Some("up") => true,
            Some("down") => false,
            Some(other) => {
                let span = v.state.as_ref().map(|r| r.span()).unwrap_or(v.name.span());
                let d = self.error(span, format!("unknown state `{other}`"));
                d.expected = Some("`up` or `down`".into());
                true
            }
        };
        let inside = match &v.tunnel_inside_cidr {
            Some(s) => self.cidr(s).filter(|n| {
                let ok = n.prefix_len() == 30
                    && "169.254.0.0/16"
                        .parse::<Ipv4Net>()
                        .is_ok_and(|ll| ll.contains(n));
                if !ok {
                    let d = self.error(
                        s.span(),
                        format!("tunnel inside block {n} is not a /30 of 169.254.0.0/16"),
                    );
                    d.expected = Some("a /30 from 169.254.0.0/16, e.g. 169.254.10.0/30".into());
                }
                ok
            }),
            None => "169.254.10.0/30".parse().ok(),
        };
        let prefixes = v.prefixes.iter().filter_map(|p| self.cidr(p)).collect();
        let (Some(inside), Some(router)) = (inside, router) else {
            return;
        };
        let ip = Ipv4Addr::from(u32::from(inside.network()) + 2);
        t.nodes[router].interfaces.push(Interface {
            name: v.name.get_ref().clone(),
            attachment: Attachment::Vpn,
            ip,
            public_ip: None,
        });
        if let (Some(vpc), true) = (&t.vpc, up) {
            t.nodes[router].routes.push(OfficeRoute {
                prefix: vpc.cidr,
                next_hop: NextHop::Vpn,
                origin: RouteOrigin::Propagated,
                source: format!(
                    "{} over VPN {}",
                    if bgp { "bgp" } else { "static" },
                    v.name.get_ref()
                ),
            });
        }
        t.vpn = Some(Vpn {
            name: v.name.get_ref().clone(),
            customer_gateway: router,
            bgp,
            prefixes,
            up,
        });
    }

    // ---- derived state ---------------------------------------------------

    fn index(&mut self, t: &mut Topology, addrs: &AddressBook) {
        let _ = addrs;
        for (n, node) in t.nodes.iter().enumerate() {
            for (i, iface) in node.interfaces.iter().enumerate() {
                t.addr_owner.entry(iface.ip).or_insert((n, i));
                if let Some(p) = iface.public_ip {
                    if node.kind != NodeKind::Internet {
                        t.public_owner.entry(p).or_insert((n, i));
                    }
                }
            }
        }
        t.sg_index = crate::security_group::SgIndex::new(&t.security_groups);
        t.sg_members = vec![vec![]; t.security_groups.len()];
        for node in &t.nodes {
            if !node.in_vpc() {
                continue;
            }
            for &g in &node.security_groups {
                t.sg_members[g].extend(node.interfaces.iter().map(|i| i.ip));
            }
        }
        for m in &mut t.sg_members {
            m.sort_unstable();
            m.dedup();
        }
        for (n, node) in t.nodes.iter().enumerate() {
            if matches!(
                node.kind,
                NodeKind::OfficeHost | NodeKind::OfficeRouter | NodeKind::Gateway
            ) {
                let mut routes: Vec<OfficeRoute> = node
                    .interfaces
                    .iter()
                    .filter_map(|i| match i.attachment {
                        Attachment::Lan(l) => Some(OfficeRoute {
                            prefix: t.lans[l].cidr,
                            next_hop: NextHop::Connected(l),
                            origin: RouteOrigin::Local,
                            source: "local".into(),
                        }),
                        _ => None,
                    })
                    .collect();
                routes.extend(node.routes.iter().cloned());
                t.office_ribs.insert(n, OfficeRib::new(routes));
            }
        }
    }

    fn propagate(&mut self, raw: &RawTopology, t: &mut Topology) {
        let learned = t.vgw_routes();
        // DX before VPN on equal prefixes, and the first VIF in the file
        // before later ones (as the office side prefers): insert in reverse
        // order of preference, each overwriting the last
        for (p, path) in learned.iter().rev() {
            t.vgw_table.insert(*p, *path);
        }
        let Some(vpc) = &t.vpc else { return };
        let mut distinct: Vec<Ipv4Net> = learned.iter().map(|(p, _)| *p).collect();
        distinct.sort_unstable();
        distinct.dedup();
        if distinct.len() > MAX_VIF_PREFIXES && t.route_tables.iter().any(|r| r.propagate) {
            if let Some(v) = &raw.vpc {
                let d = self.warning(v.name.span(), format!("{} distinct routes would propagate; a VPC route table takes at most {MAX_VIF_PREFIXES}", distinct.len()));
                d.hint = Some(
                    "summarise the office prefixes; routes past the quota are not installed".into(),
                );
            }
        }
        let vgw_name = vpc.vgw.as_ref().map(|g| g.name.clone());
        for i in 0..t.route_tables.len() {
            if !t.route_tables[i].propagate {
                continue;
            }
            if vgw_name.is_none() {
                if let Some(raw_rt) = raw.vpc.as_ref().and_then(|v| v.route_table.get(i)) {
                    let d = self.error(
                        raw_rt.name.span(),
                        format!(
                            "route table `{}` propagates from a VGW, but the VPC has none",
                            raw_rt.name.get_ref()
                        ),
                    );
                    d.hint = Some("add `[vpc.vgw]` or remove `propagate_vgw`".into());
                }
                continue;
            }
            let rt = &t.route_tables[i];
            let mut routes = rt.routes.clone();
            for prefix in distinct.iter().take(MAX_VIF_PREFIXES) {
                if !routes
                    .iter()
                    .any(|r| r.prefix == *prefix && r.origin == RouteOrigin::Propagated)
                {
                    routes.push(Route {
                        prefix: *prefix,
                        target: RouteTarget::Vgw,
                        origin: RouteOrigin::Propagated,
                    });
                }
            }
            t.route_tables[i] = RouteTable::new(rt.name.clone(), true, routes);
        }
    }

    fn expectation(
        &mut self,
        e: &RawExpect,
        t: &Topology,
        nodes: &NodeNames,
    ) -> Option<Expectation> {
        let from = self.lookup("node", &e.from, &nodes.names);
        let to = match e.to.get_ref().parse::<Ipv4Addr>() {
            Ok(a) => Some(Target::Addr(a)),
            Err(_) => self.lookup("node", &e.to, &nodes.names).map(Target::Node),
        };
        let port = match &e.port {
            Some(p) => self.int_in(p, 1, 65535, "port").map(|p| Some(p as u16)),
            None => Some(None),
        };
        let service =
            port.and_then(
                |port| match Service::new(&e.protocol.get_ref().as_text(), port) {
                    Ok(s) => Some(s),
                    Err(msg) => {
                        let d = self.error(e.protocol.span(), msg);
                        d.expected = Some("tcp or udp with `port`, icmp without".into());
                        None
                    }
                },
            );
        let verdict = match Verdict::parse(e.verdict.get_ref()) {
            Some(v) => Some(v),
            None => {
                let d = self.error(
                    e.verdict.span(),
                    format!("unknown verdict `{}`", e.verdict.get_ref()),
                );
                d.expected = Some("ACCEPTED, DENIED or NO_ROUTE".into());
                d.hint = did_you_mean(
                    &e.verdict.get_ref().to_ascii_uppercase(),
                    ["ACCEPTED", "DENIED", "NO_ROUTE"],
                )
                .map(|v| format!("did you mean `{v}`? verdicts are upper case"));
                None
            }
        };
        let _ = t;
        if let (Some(f), Some(Target::Node(to))) = (from, to) {
            if f == to {
                let d = self.error(e.to.span(), "an expectation from a node to itself");
                d.hint = Some("name another node or an address".into());
            }
        }
        Some(Expectation {
            from: from?,
            to: to?,
            service: service?,
            verdict: verdict?,
            description: e.description.clone(),
            line: self.src.line_col(e.from.span().start).0,
        })
    }
}

impl Resolver<'_> {
    /// `[sim]`: read by the simulator only. Start commands name nodes, so
    /// this runs once every node (Auto Scaling instances included) exists.
    fn sim(&mut self, raw: &RawSim, t: &Topology, nodes: &NodeNames) -> SimSettings {
        let load_balancer = match &raw.load_balancer {
            None => LoadBalancerMode::default(),
            Some(m) => match m.get_ref().as_str() {
                "listener" => LoadBalancerMode::Listener,
                "haproxy" => LoadBalancerMode::Haproxy,
                other => {
                    let modes = [LoadBalancerMode::Listener, LoadBalancerMode::Haproxy]
                        .map(LoadBalancerMode::as_str);
                    let d = self.error(m.span(), format!("unknown load balancer mode `{other}`"));
                    d.expected = Some("`listener` (the default) or `haproxy`".into());
                    d.hint = did_you_mean(&other.to_ascii_lowercase(), modes)
                        .map(|s| format!("did you mean `{s}`?"));
                    LoadBalancerMode::default()
                }
            },
        };
        let mut start = Vec::new();
        // (node, protocol, port) -> line of the entry that serves it
        let mut served: HashMap<(NodeId, &str, u16), usize> = HashMap::new();
        for entry in &raw.start {
            let line = self.src.line_col(entry.span().start).0;
            let e = entry.get_ref();
            let names: Vec<&Str> = match (&e.node, &e.nodes) {
                (Some(_), Some(list)) => {
                    let d = self.error(list.span(), "a start command with both `node` and `nodes`");
                    d.expected = Some("either `node = \"NAME\"` or `nodes = [...]`".into());
                    d.hint = Some("put every node in `nodes`".into());
                    continue;
                }
                (None, None) => {
                    let d = self.error(e.command.span(), "a start command with no node");
                    d.expected = Some(
                        "`node = \"NAME\"` or `nodes = [\"NAME\", ...]`: where the command runs"
                            .into(),
                    );
                    continue;
                }
                (Some(n), None) => vec![n],
                (None, Some(list)) => {
                    if list.get_ref().is_empty() {
                        let d = self.error(list.span(), "a start command with no node");
                        d.expected = Some("one node name or more in `nodes`".into());
                        d.hint = Some("name the nodes, or remove the entry".into());
                        continue;
                    }
                    list.get_ref().iter().collect()
                }
            };
            let mut ids: Vec<NodeId> = Vec::new();
            let mut ok = true;
            for n in names {
                match self.lookup("node", n, &nodes.names) {
                    Some(id) if ids.contains(&id) => {
                        let d = self
                            .warning(n.span(), format!("node `{}` is listed twice", n.get_ref()));
                        d.hint = Some("remove the second mention; the command runs once".into());
                    }
                    Some(id) => ids.push(id),
                    None => ok = false,
                }
            }
            if e.command.get_ref().trim().is_empty() {
                let d = self.error(e.command.span(), "empty start command");
                d.expected = Some(
                    "a shell command, run with `sh -c` in each node, like \"python3 -m http.server 80\""
                        .into(),
                );
                ok = false;
            }
            let mut ports = |r: &mut Self, list: &[Int], proto: &'static str| -> Vec<u16> {
                let mut out: Vec<u16> = Vec::new();
                for p in list {
                    let Some(port) = r.int_in(p, 1, 65535, "port").map(|p| p as u16) else {
                        ok = false;
                        continue;
                    };
                    if out.contains(&port) {
                        let d = r.warning(p.span(), format!("{proto} port {port} is listed twice"));
                        d.hint = Some("remove the second mention".into());
                        continue;
                    }
                    out.push(port);
                    for &id in &ids {
                        if let Some(&first) = served.get(&(id, proto, port)) {
                            let d = r.error(
                                p.span(),
                                format!(
                                    "{proto} port {port} of node `{}` is already served by the start command on line {first}",
                                    t.nodes[id].name
                                ),
                            );
                            d.hint = Some(
                                "one port of a node can be bound by one command only; drop it from one of the two"
                                    .into(),
                            );
                            ok = false;
                        } else {
                            served.insert((id, proto, port), line);
                        }
                    }
                }
                out
            };
            let tcp_ports = ports(self, &e.tcp_ports, "TCP");
            let udp_ports = ports(self, &e.udp_ports, "UDP");
            if ok {
                start.push(StartCommand {
                    nodes: ids,
                    command: e.command.get_ref().clone(),
                    tcp_ports,
                    udp_ports,
                    line,
                });
            }
        }
        SimSettings {
            load_balancer,
            start,
        }
    }
}

/// Node names: one namespace for every kind of node.
#[derive(Default)]
struct NodeNames {
    names: Names,
    /// Office routers and gateways, for VIF/VPN ends.
    office: Names,
    lines: HashMap<String, usize>,
}

impl NodeNames {
    /// Registers a node name; false (and an error) for a duplicate.
    fn add(&mut self, r: &mut Resolver<'_>, name: &Str) -> bool {
        if let Some(line) = self.lines.get(name.get_ref()) {
            let line = *line;
            let d = r.error(
                name.span(),
                format!("duplicate node name `{}`", name.get_ref()),
            );
            d.hint = Some(format!(
                "the first one is on line {line}; node names must be unique"
            ));
            return false;
        }
        self.lines
            .insert(name.get_ref().clone(), r.src.line_col(name.span().start).0);
        true
    }
}

/// Every address assigned so far, to find duplicates and free addresses.
#[derive(Default)]
struct AddressBook {
    used: HashMap<Ipv4Addr, (String, usize)>,
}

impl AddressBook {
    fn add(&mut self, r: &mut Resolver<'_>, ip: Ipv4Addr, at: &Str, owner: &str) {
        if let Some((other, line)) = self.used.get(&ip) {
            let (other, line) = (other.clone(), *line);
            let d = r.error(
                at.span(),
                format!("address {ip} is already used by `{other}`"),
            );
            d.hint = Some(format!(
                "see line {line}; every address belongs to one interface"
            ));
            return;
        }
        self.used
            .insert(ip, (owner.to_string(), r.src.line_col(at.span().start).0));
    }

    fn first_free(&self, net: Ipv4Net) -> Option<Ipv4Addr> {
        let lo = u32::from(net.network()) + 4;
        let hi = u32::from(net.broadcast());
        (lo..hi)
            .map(Ipv4Addr::from)
            .find(|a| !self.used.contains_key(a))
    }
}

fn list(names: &[&str]) -> String {
    const MAX: usize = 12;
    let mut s = names
        .iter()
        .take(MAX)
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > MAX {
        s.push_str(&format!(" and {} more", names.len() - MAX));
    }
    s
}

impl NodeNames {
    /// Indexes the nodes made so far (duplicates were never pushed).
    fn finish(&mut self, t: &Topology) {
        self.names.clear();
        self.office.clear();
        for (i, n) in t.nodes.iter().enumerate() {
            self.names.insert(n.name.clone(), i);
            if n.forwards() {
                self.office.insert(n.name.clone(), i);
            }
        }
    }
}
