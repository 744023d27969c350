//! From the file's raw form to a checked [`Topology`]: names resolved,
//! defaults filled in the AWS way, every mistake reported with its place.
//!
//! This file holds the entry points ([`resolve`], [`resolve_policy`]), the
//! `Resolver` and its name lookups, the node and address books, and the
//! order in which the parts of a file are resolved; each part has its own
//! file, as in `cfn::mapping`:
//!
//! - `office.rs`: sites, LANs, routers, gateways, hosts;
//! - `vpc.rs`: the VPC block, zones, network ACLs, subnets, route tables;
//! - `compute.rs`: NAT gateways, instances, databases, load balancers and
//!   Auto Scaling groups;
//! - `hybrid.rs`: Direct Connect, the VPN, VGW route propagation;
//! - `bgp.rs`: the BGP fields of VIFs and the VPN (prefix attributes,
//!   timers, BFD, local preference);
//! - `rules.rs`: security groups, their rules and network-ACL rules;
//! - `scaling.rs`: how Auto Scaling groups scale, and the target-group
//!   settings of listeners;
//! - `sim.rs`: the `[sim]` settings;
//! - `aws_limits.rs`: AWS's limits (ASNs, zones, route quotas, key
//!   lengths) and the lab's bound on names.

mod asg_instances;
pub mod aws_limits;
mod bgp;
#[cfg(test)]
mod bgp_tests;
mod compute;
mod hybrid;
mod link_addresses;
mod office;
pub mod regions;
mod rules;
pub(crate) mod scaling;
mod sim;
mod vpc;
mod vpc_routes;

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use ipnet::Ipv4Net;

use crate::diag::{did_you_mean, Diagnostics, Reporter, Severity, SourceFile};
use crate::format::*;
use crate::model::*;
use crate::nacl::NetworkAcl;
use crate::route_table::RouteOrigin;
use crate::security_group::SecurityGroup;
use crate::traffic::{is_public, PortRange};

/// AWS quota: rules per security group and direction.
pub const MAX_SG_RULES: usize = 60;
/// The first placeholder public address, for an address AWS assigns at
/// deployment (Elastic IPs, auto-assigned public addresses): 203.0.113.10
/// and up, in the documentation range. The CloudFormation import hands them
/// out; the resolver picks the next free one the same way.
pub const FIRST_PUBLIC: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 10);
/// AWS quota: rules per network ACL and direction.
pub const MAX_NACL_RULES: usize = 20;
/// AWS quota: security groups per network interface.
pub const MAX_SGS_PER_INTERFACE: usize = 5;
/// Whether two address blocks share an address (CIDR blocks either nest
/// or are apart).
pub(crate) fn blocks_overlap(a: Ipv4Net, b: Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// AWS limit: the largest subnet of a VPC, as a prefix length.
pub const MAX_SUBNET_LEN: u8 = 16;
/// AWS limit: the smallest subnet of a VPC, as a prefix length.
pub const MIN_SUBNET_LEN: u8 = 28;
/// Largest latency or jitter of the emulated Direct Connect link.
pub const MAX_LINK_DELAY: Duration = Duration::from_secs(10);
/// Smallest bandwidth of the Direct Connect connection, bits per second.
pub const MIN_BANDWIDTH_BPS: u64 = 1_000;
/// Largest bandwidth of the Direct Connect connection, bits per second.
pub const MAX_BANDWIDTH_BPS: u64 = 1_000_000_000_000;

/// Parses and checks a topology. Warnings come back with the topology;
/// any error means no topology.
pub fn resolve(src: &SourceFile) -> Result<(Topology, Diagnostics), Diagnostics> {
    if describes_nothing(src.text()) {
        let d = src
            .diagnostic(Severity::Error, Some(0..0), "the file describes no network")
            .expected("an office `[[site]]` or a `[vpc]`")
            .hint("an empty file is not a topology: start from examples/yeohaengjigi.toml, see docs/topology.md");
        return Err(Diagnostics(vec![d]));
    }
    let raw: RawTopology = match toml::from_str(src.text()) {
        Ok(raw) => raw,
        Err(e) => {
            let written = e.span().and_then(|r| src.text().get(r));
            let msg = crate::diag::in_file_words(e.message().trim(), written);
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

/// Whether a file holds nothing but blank lines and comments: in TOML,
/// every other line is a key, a table header, part of a value, or an
/// error.
fn describes_nothing(text: &str) -> bool {
    text.lines().all(|l| {
        let l = l.trim();
        l.is_empty() || l.starts_with('#')
    })
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
/// Whether the file's VPC block is a block (its error is reported where
/// it is parsed): checks against the VPC's block skip one that is not,
/// rather than compare with the stand-in 0.0.0.0/0 and report every
/// address as overlapping it.
fn vpc_block_given(raw: &RawTopology) -> bool {
    raw.vpc.as_ref().is_some_and(|v| {
        v.cidr
            .get_ref()
            .parse::<Ipv4Net>()
            .is_ok_and(|n| n.trunc() == n)
    })
}

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

    /// The index of `name` among `names` of a `kind`, or an error listing
    /// the known names with the nearest one as a hint.
    /// Whether `name` is an instance of an Auto Scaling group that is not
    /// running (the lab's controller terminated it): a warning that the
    /// `what` naming it is skipped.
    fn dormant_skipped(&mut self, name: &Str, nodes: &NodeNames, what: &str) -> bool {
        let Some(group) = nodes.dormant.get(name.get_ref()) else {
            return false;
        };
        let d = self.warning(
            name.span(),
            format!(
                "`{}` is an instance of Auto Scaling group `{group}` that is not running: this {what} is skipped",
                name.get_ref()
            ),
        );
        d.hint = Some("the group's `instances` lists those that run".into());
        true
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

    /// Refuses two different `names` of one kind (`what`) that
    /// `identifier` makes one (`language`: where the lab writes it), at
    /// the later one, naming both: the simulator's daemons could not
    /// tell them apart ([`crate::lab_names`]).
    fn one_identifier_each(
        &mut self,
        names: &[&Str],
        what: &str,
        language: &str,
        identifier: impl Fn(&str) -> String,
    ) {
        let texts = names.iter().map(|n| n.get_ref().as_str());
        for (first, later, id) in crate::lab_names::clashes(texts, identifier) {
            let (a, b) = (names[first], names[later]);
            if a.get_ref() == b.get_ref() {
                continue; // a duplicate, reported as such
            }
            let at = self.src.line_col(a.span().start);
            self.identifier_clash(b, a.get_ref(), at, what, language, &id);
        }
    }

    /// The error of [`Resolver::one_identifier_each`]: `name` of kind
    /// `what` becomes `id` in `language`, as `first` (at `at`) did.
    fn identifier_clash(
        &mut self,
        name: &Str,
        first: &str,
        (line, col): (usize, usize),
        what: &str,
        language: &str,
        id: &str,
    ) {
        let d = self.error(
            name.span(),
            format!(
                "{what} `{}` and {what} `{first}` (line {line}:{col}) both become the {language} `{id}`",
                name.get_ref()
            ),
        );
        d.hint = Some(format!(
            "the lab could not tell them apart: rename one of the two {what}s"
        ));
    }

    /// Registers names of one kind, reporting duplicates.
    fn names<'r, I>(&mut self, kind: &str, items: I) -> Names
    where
        I: IntoIterator<Item = &'r Str>,
    {
        let mut names = Names::new();
        let mut first: HashMap<String, usize> = HashMap::new();
        for (i, n) in items.into_iter().enumerate() {
            self.name_characters(n, kind);
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

    /// The whole file, in the order its parts name each other.
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
            vgw_routes: Vec::new(),
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
        let (sg_names, default_sg) = self.security_groups(raw, &mut t, &pl_names);

        // the address space: every assigned address, to find duplicates
        let mut addrs = AddressBook::default();

        // office
        let mut node_names = NodeNames::default();
        self.office(raw, &mut t, &mut node_names, &mut addrs, &sg_names);

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
        if let Some(vpc) = t.vpc.as_ref().filter(|_| vpc_block_given(raw)) {
            let lans = raw.site.iter().flat_map(|s| s.lan.iter());
            for (lan, raw_lan) in t.lans.iter().zip(lans) {
                let valid = raw_lan
                    .cidr
                    .get_ref()
                    .parse::<Ipv4Net>()
                    .is_ok_and(|n| n.trunc() == n);
                if valid && blocks_overlap(vpc.cidr, lan.cidr) {
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
            self.internet(i, &mut t, &mut node_names, &mut addrs);
        }

        // direct connect and vpn attach to office nodes
        node_names.finish(&t);
        self.direct_connect(raw, &mut t, &node_names);
        self.vpn(raw, &mut t, &node_names);
        self.check_link_addresses(raw, &t);
        self.check_public_addresses_off_lans(raw, &t);

        // BGP over them: sessions, best paths, the routes learned
        crate::bgp::install(&mut t);

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

    /// `[internet]`: one node with a public address.
    fn internet(
        &mut self,
        i: &RawInternet,
        t: &mut Topology,
        nodes: &mut NodeNames,
        addrs: &mut AddressBook,
    ) {
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
            if nodes.add(self, &name) {
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

    /// Whether `ip` is a usable address of `net` (`what` names it):
    /// inside, not its network or broadcast address, and with `aws` not one
    /// of the five addresses AWS reserves.
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
        // a subnet smaller than AWS's /28 was refused already: its
        // reserved addresses would make no sense
        if aws && net.prefix_len() <= MIN_SUBNET_LEN {
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

    /// The derived indexes: address owners, group members and the office
    /// routers' RIBs.
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

    /// `[[expect]]`: a flow and the verdict the analysis must give.
    fn expectation(
        &mut self,
        e: &RawExpect,
        t: &Topology,
        nodes: &NodeNames,
    ) -> Option<Expectation> {
        for end in [&e.from, &e.to] {
            if self.dormant_skipped(end, nodes, "expectation") {
                return None;
            }
        }
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
        if let (Some(f), Some(to)) = (from, to) {
            self.check_expectation_to_itself(e, t, f, to);
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
    /// A warning for an expectation from a node to itself (by name or at
    /// one of its addresses): the flow never leaves the node, so the
    /// analysis and the lab both answer ACCEPTED whatever the file says.
    fn check_expectation_to_itself(
        &mut self,
        e: &RawExpect,
        t: &Topology,
        from: NodeId,
        to: Target,
    ) {
        let own = match to {
            Target::Node(n) => n == from,
            Target::Addr(a) => t.nodes[from].interfaces.iter().any(|i| i.ip == a),
        };
        if own {
            let d = self.warning(
                e.to.span(),
                format!(
                    "an expectation from `{}` to itself is always ACCEPTED",
                    t.nodes[from].name
                ),
            );
            d.hint = Some("traffic to a node's own address never leaves it (no route, network ACL or security group sees it); name another node or address".into());
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
    /// Each name's HAProxy server name ([`crate::lab_names::haproxy_name`]),
    /// to the node name and the line and column that took it first.
    haproxy: HashMap<String, (String, usize, usize)>,
    /// Instances of Auto Scaling groups that could run and do not, by
    /// name, to their group ([`asg_instances::dormant`]).
    dormant: HashMap<String, String>,
}

impl NodeNames {
    /// Registers a node name; false (and an error) for a duplicate. A
    /// name the lab cannot carry is an error too, but registered, so that
    /// what names it finds it.
    fn add(&mut self, r: &mut Resolver<'_>, name: &Str) -> bool {
        r.lab_name(name, "node");
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
        let (line, col) = r.src.line_col(name.span().start);
        self.lines.insert(name.get_ref().clone(), line);
        let id = crate::lab_names::haproxy_name(name.get_ref());
        match self.haproxy.get(&id) {
            Some((other, line, col)) => {
                let at = (*line, *col);
                r.identifier_clash(name, other, at, "node", "HAProxy server name", &id);
            }
            None => {
                self.haproxy.insert(id, (name.get_ref().clone(), line, col));
            }
        }
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

    /// The first `n` addresses of `net` (after AWS's reserved four) no
    /// node uses; fewer when the subnet has fewer.
    fn nth_free(&self, net: Ipv4Net, n: usize) -> Vec<Ipv4Addr> {
        let from = u32::from(net.network()) + 4;
        (from..u32::from(net.broadcast()))
            .map(Ipv4Addr::from)
            .filter(|a| !self.used.contains_key(a))
            .take(n)
            .collect()
    }

    /// The first placeholder public address (from
    /// [`FIRST_PUBLIC`] to 203.0.113.254) no node uses.
    fn first_free_public(&self) -> Option<Ipv4Addr> {
        self.first_free_between(FIRST_PUBLIC, Ipv4Addr::new(203, 0, 113, 255))
    }

    /// The first address in `from..to` no node uses.
    fn first_free_between(&self, from: Ipv4Addr, to: Ipv4Addr) -> Option<Ipv4Addr> {
        (u32::from(from)..u32::from(to))
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

/// Small files for the unit tests of the resolver's parts.
#[cfg(test)]
pub(crate) mod fixture {
    use super::*;

    /// An office (LAN `lan`, gateway `gw`, host `pc`) and a two-zone VPC
    /// with a VGW and subnets `app-a` and `app-c`.
    pub(crate) const BASE: &str = r#"name = "unit"

[[site]]
name = "office"

[[site.lan]]
name = "lan"
cidr = "192.168.1.0/24"

[[site.gateway]]
name = "gw"
interfaces = [{ lan = "lan", ip = "192.168.1.1" }]
security_groups = []

[[site.host]]
name = "pc"
lan = "lan"
ip = "192.168.1.10"

[vpc]
name = "vpc"
cidr = "10.0.0.0/16"
region = "ap-northeast-2"
azs = ["a", "c"]
vgw = { name = "vgw" }

[[vpc.subnet]]
name = "app-a"
az = "a"
cidr = "10.0.1.0/24"

[[vpc.subnet]]
name = "app-c"
az = "c"
cidr = "10.0.2.0/24"
"#;

    fn resolve_with_base(extra: &str) -> Result<(Topology, Diagnostics), Diagnostics> {
        resolve(&SourceFile::new("t.toml", format!("{BASE}{extra}")))
    }

    /// [`BASE`] and `extra`, resolved: the topology and its warnings.
    pub(super) fn load(extra: &str) -> (Topology, Diagnostics) {
        resolve_with_base(extra).unwrap_or_else(|d| panic!("does not resolve:\n{d}"))
    }

    /// The headlines of the errors and warnings of [`BASE`] and `extra`,
    /// with line numbers counted from the first line of `extra`.
    pub(super) fn diagnostics(extra: &str) -> Vec<String> {
        let diags = match resolve_with_base(extra) {
            Ok((_, warnings)) => warnings,
            Err(errors) => errors,
        };
        let base_lines = BASE.lines().count();
        diags
            .0
            .iter()
            .map(|d| {
                let mut d = d.clone();
                assert!(d.line > base_lines, "a diagnostic in BASE: {d}");
                d.line -= base_lines;
                d.headline()
            })
            .collect()
    }

    /// The hint of the one diagnostic of [`BASE`] and `extra`.
    pub(super) fn hint(extra: &str) -> String {
        let diags = match resolve_with_base(extra) {
            Ok((_, warnings)) => warnings,
            Err(errors) => errors,
        };
        assert_eq!(diags.0.len(), 1, "{diags}");
        diags.0[0].hint.clone().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::fixture::{diagnostics, hint, load, BASE};
    use super::*;

    #[test]
    fn an_empty_or_comment_only_file_describes_no_network() {
        for text in ["", "   \n\t\n", "# a topology, one day\n\n  # more\n"] {
            let Err(d) = resolve(&SourceFile::new("t.toml", text.to_string())) else {
                panic!("{text:?} resolved");
            };
            assert_eq!(d.0.len(), 1, "{d}");
            assert_eq!(
                d.0[0].headline(),
                "t.toml:1:1: error: the file describes no network"
            );
            assert!(d.0[0].hint.is_some());
        }
        // a comment beside content is not an empty file
        assert!(resolve(&SourceFile::new(
            "t.toml",
            format!("# c\n{}", fixture::BASE)
        ))
        .is_ok());
    }

    #[test]
    fn the_base_file_resolves_without_warnings() {
        let (t, warnings) = load("");
        assert!(warnings.0.is_empty(), "{warnings}");
        assert_eq!(t.name, "unit");
        let names: Vec<&str> = t.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["gw", "pc"]);
        // the VPC's defaults: main table, default ACL, default group
        assert_eq!(t.route_tables[0].name, "main");
        assert_eq!(t.nacls[0].name, "default");
        assert_eq!(t.security_groups[0].name, "default");
    }

    /// `f` with the lab's identifiers ending in no hash at all, so that
    /// two long names with the same head become one.
    fn with_no_hash<T>(f: impl FnOnce() -> T) -> T {
        crate::lab_names::HASH_DIGITS.with(|d| d.set(0));
        let out = f();
        crate::lab_names::HASH_DIGITS.with(|d| d.set(16));
        out
    }

    #[test]
    fn two_node_names_that_make_one_haproxy_name_are_refused_naming_both() {
        let (a, b) = ("é".repeat(51), format!("{}e", "é".repeat(50)));
        let extra = format!("\n[[vpc.instance]]\nname = \"{a}\"\nsubnet = \"app-a\"\nip = \"10.0.1.10\"\n\n[[vpc.instance]]\nname = \"{b}\"\nsubnet = \"app-a\"\nip = \"10.0.1.11\"\n");
        // with the hash, they stay apart
        assert_eq!(diagnostics(&extra), Vec::<String>::new());
        let d = with_no_hash(|| diagnostics(&extra));
        let first_line = fixture::BASE.lines().count() + 3;
        let id = with_no_hash(|| crate::lab_names::haproxy_name(&a));
        assert_eq!(
            d,
            [format!("t.toml:8:8: error: node `{b}` and node `{a}` (line {first_line}:8) both become the HAProxy server name `{id}`")]
        );
    }

    #[test]
    fn two_vif_names_that_make_one_bgp_session_name_are_refused_naming_both() {
        let (a, b) = ("é".repeat(51), format!("{}e", "é".repeat(50)));
        let vif = |name: &str, vlan: u32, k: u32| {
            format!("\n[[direct_connect.vif]]\nname = \"{name}\"\nvlan = {vlan}\ncustomer_asn = 65010\ncustomer_address = \"169.254.100.{}/30\"\namazon_address = \"169.254.100.{}/30\"\ncustomer_router = \"gw\"\nadvertised_prefixes = [\"192.168.1.0/24\"]\n", 4 * k + 1, 4 * k + 2)
        };
        let extra = format!("{}{}", vif(&a, 101, 0), vif(&b, 102, 1));
        assert_eq!(diagnostics(&extra), Vec::<String>::new());
        let d = with_no_hash(|| diagnostics(&extra));
        let first_line = fixture::BASE.lines().count() + 3;
        let id = with_no_hash(|| {
            crate::lab_names::session_name(crate::bgp::SessionKind::DirectConnect, &a)
        });
        assert_eq!(
            d,
            [format!("t.toml:12:8: error: VIF `{b}` and VIF `{a}` (line {first_line}:8) both become the BGP session name in BIRD and FRR `{id}`")]
        );
    }

    #[test]
    fn a_duplicate_node_name_points_at_the_first() {
        let extra = "\n[[vpc.instance]]\nname = \"pc\"\nsubnet = \"app-a\"\nip = \"10.0.1.10\"\n";
        assert_eq!(
            diagnostics(extra),
            ["t.toml:3:8: error: duplicate node name `pc`"]
        );
        let first = BASE
            .lines()
            .position(|l| l == "name = \"pc\"")
            .map(|i| i + 1);
        assert_eq!(
            hint(extra),
            format!(
                "the first one is on line {}; node names must be unique",
                first.unwrap_or_default()
            )
        );
    }

    #[test]
    fn an_unknown_name_lists_the_known_ones_and_the_nearest() {
        let extra = "\n[[expect]]\nfrom = \"pcc\"\nto = \"gw\"\nprotocol = \"icmp\"\nverdict = \"DENIED\"\n";
        assert_eq!(
            diagnostics(extra),
            ["t.toml:3:8: error: unknown node `pcc`"]
        );
        assert_eq!(hint(extra), "did you mean `pc`?");
    }

    #[test]
    fn an_address_used_twice_is_an_error() {
        let extra = "\n[[vpc.instance]]\nname = \"a\"\nsubnet = \"app-a\"\nip = \"10.0.1.10\"\n\n[[vpc.instance]]\nname = \"b\"\nsubnet = \"app-a\"\nip = \"10.0.1.10\"\n";
        assert_eq!(
            diagnostics(extra),
            ["t.toml:10:6: error: address 10.0.1.10 is already used by `a`"]
        );
    }

    #[test]
    fn a_standalone_policy_resolves_with_the_same_checks() {
        let text = "[[security_group]]\nname = \"web\"\ningress = [{ protocol = \"tcp\", ports = 80, sg = \"lb\" }]\n";
        #[derive(serde::Deserialize)]
        struct File {
            security_group: Vec<RawSecurityGroup>,
        }
        let src = SourceFile::new("p.toml", text.to_string());
        let file: File = toml::from_str(text).expect("a policy file");
        let (policy, diags) = resolve_policy(&src, &file.security_group, &[], &[]);
        let headlines: Vec<String> = diags.0.iter().map(|d| d.headline()).collect();
        assert_eq!(
            headlines,
            ["p.toml:3:49: error: unknown security group `lb`"]
        );
        assert_eq!(policy.group("web"), Some(0));
        assert!(policy.security_groups[0].ingress.is_empty());
    }

    #[test]
    fn a_file_that_is_not_toml_is_one_error() {
        let src = SourceFile::new("t.toml", "name = \n".to_string());
        let Err(d) = resolve(&src) else {
            panic!("resolves")
        };
        assert_eq!(d.0.len(), 1);
        assert!(d.0[0].headline().starts_with("t.toml:1:"), "{d}");
        assert!(d.0[0].message.starts_with("invalid topology file"), "{d}");
    }
}
