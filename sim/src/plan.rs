//! A topology turned into the list of things a lab is made of: namespaces,
//! veth links, bridges, addresses, routes, policy rules, sysctls, firewall
//! rulesets, gateway processes, shaping and listeners. Pure: no system call,
//! tested without root. [`crate::apply`] carries a plan out.
//!
//! Layout (namespace names, for a lab `L`):
//!
//! - `L.NODE` for every node: office hosts, routers and gateway boxes, EC2
//!   instances, load balancers, database hosts, NAT gateways, the internet.
//!   Their interfaces are `eth0`, `eth1`, ... in the order of the file.
//! - `L+lan`: the office switch, one bridge `lanK` per office LAN.
//! - `L+vpc`: the VPC router. One bridge `snK` per subnet, holding the
//!   subnet's router address (the subnet's first host address, as AWS's
//!   VPC router at base+1). Each subnet's route table is a kernel table
//!   chosen by the input interface (`ip rule iif snK`); network ACLs are
//!   stateless nftables chains on the subnet's bridge; the internet gateway
//!   is the `igw` link to `L.internet` with its one-to-one NAT of public
//!   addresses; the `vgw0` link leads to the VGW. What the VGW propagates
//!   is written into the route tables' kernel tables by the VPC router's
//!   BIRD ([`crate::bird::vpc`]), not by the plan.
//! - `L+vgw`: the virtual private gateway: the far end of each Direct
//!   Connect VIF (`dxN`) and of the VPN (`vpn0`), with a vifgate gateway
//!   process per VIF (and one for the VPN) carrying the tunnel, and BIRD
//!   ([`crate::bird::vgw`]) learning the office's routes over the links
//!   and routing each into its tunnel's TUN device.
//!
//! Node namespaces and interfaces never appear in the caller's namespace:
//! every link is made with both ends in lab namespaces, so removing the
//! namespaces removes everything.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};
use topology::analysis::Service;
use topology::model::{Attachment, LoadBalancerMode, NextHop, NodeKind, Topology};
use topology::route_table::RouteTarget;

use crate::agent_spec::ListenSpec;
use crate::bird::{self, BirdPlan, Tunnels};
use crate::firewall;
use crate::routing::Route;
pub use crate::routing::RouteKind;
use crate::shaping::Shaping;

/// Why a topology cannot become a lab.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The lab name is not usable in namespace names.
    #[error("bad lab name `{0}`: use 1-24 characters of a-z, 0-9 and `-`, starting with a letter or digit")]
    LabName(String),
    /// Something the simulator cannot build.
    #[error("{0}")]
    Unsupported(String),
}

/// The WireGuard port every lab gateway listens on.
pub const WG_PORT: u16 = 51820;
/// Kernel table of traffic entering the VPC router from the internet
/// gateway or the VGW: only the VPC's own subnets.
pub const EDGE_TABLE: u32 = 200;
/// First kernel table of the VPC's route tables (table = this + index).
pub const FIRST_TABLE: u32 = 1000;
/// The VPC router's side of its link to the VGW.
pub const VGW_LINK_ROUTER: Ipv4Addr = Ipv4Addr::new(169, 254, 255, 1);
/// The VGW's side of that link.
pub const VGW_LINK_VGW: Ipv4Addr = Ipv4Addr::new(169, 254, 255, 2);
/// The VPC router's address on the internet gateway link.
pub const IGW_LINK_ROUTER: Ipv4Addr = Ipv4Addr::new(169, 254, 254, 1);
/// Route metric of static VPC routes (propagated ones come after).
const METRIC_STATIC: u32 = 10;
/// Route metric of an office gateway's static VPN route in the table its
/// BIRD writes (BIRD's own routes have metric 32: they come first).
const METRIC_FLOATING_STATIC: u32 = 1000;
/// Tunnel MTU under a link MTU (IPv4 + UDP + WireGuard overhead).
const WG_OVERHEAD: u16 = 80;

/// What a namespace stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// A node of the topology.
    Node,
    /// The office LAN switch.
    OfficeSwitch,
    /// The VPC router.
    VpcRouter,
    /// The virtual private gateway.
    Vgw,
}

/// One namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NsSpec {
    /// Its name.
    pub name: String,
    /// The node it plays, for node namespaces.
    pub node: Option<String>,
    /// What it is.
    pub role: Role,
}

/// One end of a veth pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct End {
    /// Namespace.
    pub ns: String,
    /// Interface name (at most 15 bytes).
    pub ifname: String,
}

/// What a link carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LinkKind {
    /// A node's port on an office LAN or a VPC subnet.
    Access,
    /// The internet gateway.
    InternetGateway,
    /// The VPC router to the VGW.
    VgwAttachment,
    /// A Direct Connect private virtual interface.
    DirectConnect,
    /// The Site-to-Site VPN's underlay.
    Vpn,
}

/// A veth pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VethSpec {
    /// Side a (the node side for access links).
    pub a: End,
    /// Side b.
    pub b: End,
    /// What it is.
    pub kind: LinkKind,
    /// The two things it joins, by name, for `sim link A B`.
    pub joins: (String, String),
    /// MTU of both ends, when not 1500.
    pub mtu: Option<u32>,
    /// 802.1Q VLAN the link's addresses sit on (a Direct Connect VIF's),
    /// where the kernel has 8021q; untagged otherwise.
    #[serde(default)]
    pub vlan: Option<u16>,
}

/// A bridge and its ports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BridgeSpec {
    /// Namespace.
    pub ns: String,
    /// Bridge name.
    pub name: String,
    /// Interfaces enslaved to it.
    pub ports: Vec<String>,
    /// What it stands for (`subnet web-a`, `lan staff`).
    pub what: String,
}

/// An address on an interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddrSpec {
    /// Namespace.
    pub ns: String,
    /// Interface.
    pub ifname: String,
    /// Address and prefix.
    pub addr: Ipv4Net,
}

/// A route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteSpec {
    /// Namespace.
    pub ns: String,
    /// Destination.
    pub dst: Ipv4Net,
    /// Next hop (on-link: no connected route is needed to reach it).
    pub via: Option<Ipv4Addr>,
    /// Output interface.
    pub dev: Option<String>,
    /// Kernel table (254 = main).
    pub table: u32,
    /// Metric.
    pub metric: u32,
    /// Forward or drop.
    pub kind: RouteKind,
    /// Why it is there (`route table web-a-rt: 0.0.0.0/0 -> nat-a`).
    pub why: String,
}

impl RouteSpec {
    /// The route as the netlink layer adds it.
    pub fn route(&self) -> Route {
        Route {
            dst: self.dst,
            via: self.via,
            dev: self.dev.clone(),
            table: self.table,
            metric: self.metric,
            kind: self.kind,
        }
    }
}

/// A policy routing rule: packets from `iif` look up `table`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleSpec {
    /// Namespace.
    pub ns: String,
    /// Input interface.
    pub iif: String,
    /// Table.
    pub table: u32,
    /// Priority.
    pub priority: u32,
}

/// A sysctl under /proc/sys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SysctlSpec {
    /// Namespace.
    pub ns: String,
    /// Key with slashes (`net/ipv4/ip_forward`).
    pub key: String,
    /// Value.
    pub value: String,
}

/// An nftables ruleset loaded into a namespace with `nft -f`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirewallSpec {
    /// Namespace.
    pub ns: String,
    /// What it enforces (`security groups web-sg`, `network ACLs`).
    pub what: String,
    /// The ruleset.
    pub ruleset: String,
}

/// A peer of a lab gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayPeer {
    /// Peer name.
    pub name: String,
    /// Index of the peer's gateway in [`Plan::gateways`].
    pub gateway: usize,
    /// Endpoint address (the far end's underlay address).
    pub endpoint: Ipv4Addr,
    /// Inner prefixes it may send from, and that are routed to it.
    pub allowed: Vec<Ipv4Net>,
    /// Route priority (lower wins).
    pub priority: u32,
    /// Whether a BGP session runs on this peer's link (a VIF, a VPN with
    /// `routing = "bgp"`), on the office side: the office gateway's route
    /// to the VPC through this peer is then BGP's (its box's BIRD table,
    /// [`GatewaySpec::bgp_kernel_table`], which the gateway follows), not a
    /// static route.
    #[serde(default)]
    pub bgp_session: bool,
}

/// A vifgate gateway process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewaySpec {
    /// Namespace.
    pub ns: String,
    /// Short name, for files (`office`, `vgw-dx-vif`).
    pub name: String,
    /// TUN device.
    pub tun: String,
    /// TUN MTU.
    pub mtu: u16,
    /// UDP port it listens on.
    pub port: u16,
    /// Peers.
    pub peers: Vec<GatewayPeer>,
    /// The office node it runs on; `None` on the VGW's side.
    #[serde(default)]
    pub office_node: Option<String>,
    /// The topology node whose security groups it enforces: the office
    /// node when that is a `[[site.gateway]]`. A plain `[[site.router]]`
    /// filters nothing, as the analysis has it: its gateway process then
    /// runs with no policy at all.
    pub policy_node: Option<String>,
    /// The kernel table its box's BIRD writes the BGP routes into, which
    /// the gateway follows (`[bgp] kernel_table`); `None` without BGP.
    #[serde(default)]
    pub bgp_kernel_table: Option<u32>,
    /// The policy it enforces, as the nftables form of its node's security
    /// groups ([`crate::diff::gateway_policy`]): what tells a policy edit,
    /// which the gateway takes on SIGHUP. Empty without a policy.
    #[serde(default)]
    pub policy: String,
}

/// Traffic shaping asked for on one interface.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ShapeSpec {
    /// Namespace.
    pub ns: String,
    /// Interface.
    pub ifname: String,
    /// Rate, delay, jitter, loss.
    #[serde(flatten)]
    pub shaping: Shaping,
}

/// A load balancer played by HAProxy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HaproxySpec {
    /// Namespace.
    pub ns: String,
    /// The load balancer node.
    pub node: String,
    /// HAProxy's configuration.
    pub config: String,
    /// The ports its frontends bind (`up` waits until they accept).
    pub ports: Vec<u16>,
}

/// Everything a lab is made of.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Lab name (prefix of every namespace).
    pub lab: String,
    /// Topology name.
    pub topology: String,
    /// Namespaces.
    pub namespaces: Vec<NsSpec>,
    /// Bridges.
    pub bridges: Vec<BridgeSpec>,
    /// veth pairs.
    pub links: Vec<VethSpec>,
    /// Addresses.
    pub addresses: Vec<AddrSpec>,
    /// Routes that need no gateway.
    pub routes: Vec<RouteSpec>,
    /// Routes through a gateway's TUN device, added once it is up.
    pub tunnel_routes: Vec<RouteSpec>,
    /// Policy routing rules.
    pub rules: Vec<RuleSpec>,
    /// Sysctls.
    pub sysctls: Vec<SysctlSpec>,
    /// Firewalls.
    pub firewalls: Vec<FirewallSpec>,
    /// Gateway processes.
    pub gateways: Vec<GatewaySpec>,
    /// Shaping.
    pub shaping: Vec<ShapeSpec>,
    /// Listeners the probes connect to.
    pub listeners: Vec<ListenSpec>,
    /// Commands started in nodes (`[[sim.start]]`).
    #[serde(default)]
    pub starts: Vec<crate::services::StartSpec>,
    /// Load balancers played by HAProxy.
    #[serde(default)]
    pub haproxy: Vec<HaproxySpec>,
    /// BIRD daemons (the VGW's, the VPC router's, the office's) and the
    /// sessions' MD5 key files.
    #[serde(default)]
    pub bird: BirdPlan,
    /// The office nodes played with FRR instead of BIRD.
    #[serde(default)]
    pub frr: Vec<crate::frr_plan::FrrSpec>,
}

impl Plan {
    /// The namespace of a node.
    pub fn node_ns(&self, node: &str) -> Option<&str> {
        self.namespaces
            .iter()
            .find(|n| n.node.as_deref() == Some(node))
            .map(|n| n.name.as_str())
    }

    /// Every interface a node has in the lab.
    pub fn links_of(&self, ns: &str) -> impl Iterator<Item = &VethSpec> + '_ {
        let ns = ns.to_string();
        self.links
            .iter()
            .filter(move |l| l.a.ns == ns || l.b.ns == ns)
    }
}

/// Whether `lab` can prefix namespace names.
pub fn valid_lab_name(lab: &str) -> bool {
    (1..=24).contains(&lab.len())
        && lab
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !lab.starts_with('-')
}

/// A lab name from a topology name: lower-cased, other characters as `-`,
/// cut to 24.
pub fn default_lab_name(topology: &str) -> String {
    let mut s: String = topology
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                c
            } else {
                '-'
            }
        })
        .collect();
    s = s.trim_matches('-').to_string();
    s.truncate(24);
    if s.is_empty() {
        "lab".into()
    } else {
        s
    }
}

/// Namespace of the office switch.
pub fn lan_ns(lab: &str) -> String {
    format!("{lab}+lan")
}

/// Namespace of the VPC router.
pub fn vpc_ns(lab: &str) -> String {
    format!("{lab}+vpc")
}

/// Namespace of the VGW.
pub fn vgw_ns(lab: &str) -> String {
    format!("{lab}+vgw")
}

/// The namespace-name prefixes a lab owns: `L.` and `L+`.
pub fn lab_prefixes(lab: &str) -> [String; 2] {
    [format!("{lab}."), format!("{lab}+")]
}

/// A node name made safe for a namespace or file name.
pub fn ns_token(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The services the static matrix and the probes use: TCP on
/// `tcp_ports`, plus every service an `[[expect]]` names.
pub fn services(t: &Topology, tcp_ports: &[u16]) -> Vec<Service> {
    let mut out: Vec<Service> = tcp_ports.iter().map(|&p| Service::Tcp(p)).collect();
    for e in &t.expectations {
        if !out.contains(&e.service) {
            out.push(e.service);
        }
    }
    out
}

struct Builder<'t> {
    t: &'t Topology,
    lab: String,
    plan: Plan,
    node_ns: Vec<String>,
}

impl Builder<'_> {
    fn ns(&mut self, name: String, node: Option<String>, role: Role) {
        self.plan.namespaces.push(NsSpec { name, node, role });
    }

    fn sysctl(&mut self, ns: &str, key: &str, value: &str) {
        self.plan.sysctls.push(SysctlSpec {
            ns: ns.into(),
            key: key.into(),
            value: value.into(),
        });
    }

    fn addr(&mut self, ns: &str, ifname: &str, addr: Ipv4Net) {
        self.plan.addresses.push(AddrSpec {
            ns: ns.into(),
            ifname: ifname.into(),
            addr,
        });
    }

    #[allow(clippy::too_many_arguments)]
    fn route(
        &mut self,
        ns: &str,
        dst: Ipv4Net,
        via: Option<Ipv4Addr>,
        dev: Option<&str>,
        table: u32,
        metric: u32,
        kind: RouteKind,
        why: String,
    ) -> RouteSpec {
        RouteSpec {
            ns: ns.into(),
            dst,
            via,
            dev: dev.map(String::from),
            table,
            metric,
            kind,
            why,
        }
    }

    fn router_sysctls(&mut self, ns: &str) {
        self.sysctl(ns, "net/ipv4/ip_forward", "1");
        for k in ["all", "default"] {
            self.sysctl(ns, &format!("net/ipv4/conf/{k}/send_redirects"), "0");
            self.sysctl(ns, &format!("net/ipv4/conf/{k}/accept_redirects"), "0");
        }
    }

    fn base_sysctls(&mut self, ns: &str) {
        // ICMP errors unthrottled: a probe to a closed port must see its
        // port-unreachable, not a rate limit's silence
        self.sysctl(ns, "net/ipv4/icmp_ratemask", "0");
        for k in ["all", "default"] {
            self.sysctl(ns, &format!("net/ipv4/conf/{k}/rp_filter"), "0");
        }
    }
}

/// Plans a lab for a checked topology.
pub fn plan(t: &Topology, lab: &str, tcp_ports: &[u16]) -> Result<Plan, PlanError> {
    if !valid_lab_name(lab) {
        return Err(PlanError::LabName(lab.into()));
    }
    let mut b = Builder {
        t,
        lab: lab.into(),
        plan: Plan {
            lab: lab.into(),
            topology: t.name.clone(),
            namespaces: Vec::new(),
            bridges: Vec::new(),
            links: Vec::new(),
            addresses: Vec::new(),
            routes: Vec::new(),
            tunnel_routes: Vec::new(),
            rules: Vec::new(),
            sysctls: Vec::new(),
            firewalls: Vec::new(),
            gateways: Vec::new(),
            shaping: Vec::new(),
            listeners: Vec::new(),
            starts: Vec::new(),
            haproxy: Vec::new(),
            bird: BirdPlan::default(),
            frr: Vec::new(),
        },
        node_ns: Vec::new(),
    };
    // one namespace per node, names made unique
    let mut taken = BTreeSet::new();
    for (i, n) in t.nodes.iter().enumerate() {
        let mut name = format!("{lab}.{}", ns_token(&n.name));
        if !taken.insert(name.clone()) {
            name = format!("{name}~{i}");
            taken.insert(name.clone());
        }
        b.node_ns.push(name.clone());
        b.ns(name.clone(), Some(n.name.clone()), Role::Node);
        b.base_sysctls(&name);
        // the source ports it picks: Linux's for hosts and instances,
        // AWS's 1024-65535 for load balancers, as the analysis has them
        let ports = n.ephemeral_ports;
        b.sysctl(
            &name,
            "net/ipv4/ip_local_port_range",
            &format!("{} {}", ports.from, ports.to),
        );
        if n.forwards() || n.kind == NodeKind::NatGateway || !n.source_dest_check {
            b.router_sysctls(&name);
        }
    }
    office(&mut b);
    if t.vpc.is_some() {
        vpc(&mut b)?;
    }
    let tunnels = tunnels(&mut b)?;
    let state_dir = crate::apply::state_dir(lab);
    let sessions = crate::bgp_sessions::sessions(t);
    b.plan.bird = bird::plan(t, lab, &state_dir, &b.node_ns, &tunnels, &sessions);
    if !b.plan.bird.daemons.is_empty() {
        b.plan.frr = crate::frr_plan::plan(
            t,
            &state_dir,
            &b.node_ns,
            bird::OFFICE_KERNEL_TABLE,
            &sessions,
        );
    }
    // the office gateways follow their BIRD's (or FRR's) table
    let office_ns: Vec<String> = (b.plan.bird.daemons.iter().map(|d| d.ns.clone()))
        .chain(b.plan.frr.iter().map(|f| f.ns.clone()))
        .collect();
    for g in b.plan.gateways.iter_mut() {
        if office_ns.contains(&g.ns) && g.office_node.is_some() {
            g.bgp_kernel_table = Some(bird::OFFICE_KERNEL_TABLE);
        }
    }
    floating_static_routes(&mut b);
    security_groups(&mut b);
    listeners(&mut b, tcp_ports);
    Ok(b.plan)
}

/// A static VPN beside BGP sessions on an office gateway that follows its
/// BIRD's table: the route to the VPC over the VPN goes into that table
/// with a metric above BIRD's, a floating static route. The gateway then
/// uses a BGP route while there is one and the VPN's once BIRD withdraws
/// it, as the analysis has it (the office's best BGP route, then a static
/// VPN's); as a static route of the gateway it would win over BGP.
fn floating_static_routes(b: &mut Builder) {
    let mut routes = Vec::new();
    for g in &b.plan.gateways {
        let Some(table) = g.bgp_kernel_table else {
            continue;
        };
        for p in g.peers.iter().filter(|p| !p.bgp_session) {
            let dev = b
                .plan
                .links
                .iter()
                .find(|l| l.kind == LinkKind::Vpn && l.a.ns == g.ns)
                .map(|l| l.a.ifname.clone());
            for &dst in &p.allowed {
                routes.push(RouteSpec {
                    ns: g.ns.clone(),
                    dst,
                    via: Some(p.endpoint),
                    dev: dev.clone(),
                    table,
                    metric: METRIC_FLOATING_STATIC,
                    kind: RouteKind::Unicast,
                    why: format!(
                        "{}: {dst} over the static VPN, below the BGP routes",
                        p.name
                    ),
                });
            }
        }
    }
    b.plan.routes.extend(routes);
}

/// Office LANs on one switch namespace; office routes from each node's RIB.
fn office(b: &mut Builder) {
    let t = b.t;
    if t.lans.is_empty() {
        return;
    }
    let sw = lan_ns(&b.lab);
    b.ns(sw.clone(), None, Role::OfficeSwitch);
    let mut ports: Vec<Vec<String>> = vec![Vec::new(); t.lans.len()];
    for (id, n) in t.nodes.iter().enumerate() {
        for (i, ifc) in n.interfaces.iter().enumerate() {
            let Attachment::Lan(lan) = ifc.attachment else {
                continue;
            };
            let port = format!("p{id}x{i}");
            let ns = b.node_ns[id].clone();
            b.plan.links.push(VethSpec {
                a: End {
                    ns: ns.clone(),
                    ifname: format!("eth{i}"),
                },
                b: End {
                    ns: sw.clone(),
                    ifname: port.clone(),
                },
                kind: LinkKind::Access,
                joins: (n.name.clone(), t.lans[lan].name.clone()),
                mtu: None,
                vlan: None,
            });
            ports[lan].push(port);
            let prefix = t.lans[lan].cidr.prefix_len();
            if let Ok(net) = Ipv4Net::new(ifc.ip, prefix) {
                b.addr(&ns, &format!("eth{i}"), net);
            }
        }
    }
    for (k, lan) in t.lans.iter().enumerate() {
        b.plan.bridges.push(BridgeSpec {
            ns: sw.clone(),
            name: format!("lan{k}"),
            ports: std::mem::take(&mut ports[k]),
            what: format!("lan {}", lan.name),
        });
    }
    // routes of office nodes: static via a neighbour; tunnel routes later
    for (id, n) in t.nodes.iter().enumerate() {
        let Some(rib) = t.office_rib(id) else {
            continue;
        };
        let ns = b.node_ns[id].clone();
        let mut tunnel_done = BTreeSet::new();
        for r in &rib.routes {
            match r.next_hop {
                NextHop::Via(addr) => {
                    let dev = n
                        .interfaces
                        .iter()
                        .position(|i| match i.attachment {
                            Attachment::Lan(l) => t.lans[l].cidr.contains(&addr),
                            _ => false,
                        })
                        .map(|i| format!("eth{i}"));
                    let spec = b.route(
                        &ns,
                        r.prefix,
                        Some(addr),
                        dev.as_deref(),
                        254,
                        0,
                        RouteKind::Unicast,
                        format!("{}: {} via {addr} ({})", n.name, r.prefix, r.source),
                    );
                    b.plan.routes.push(spec);
                }
                NextHop::Vif(_) | NextHop::Vpn => {
                    if tunnel_done.insert(r.prefix) {
                        let spec = b.route(
                            &ns,
                            r.prefix,
                            None,
                            Some("vg0"),
                            254,
                            0,
                            RouteKind::Unicast,
                            format!("{}: {} into the tunnel ({})", n.name, r.prefix, r.source),
                        );
                        b.plan.tunnel_routes.push(spec);
                    }
                }
                NextHop::Connected(_) => {}
            }
        }
    }
}

/// The first host address of a subnet: the VPC router's.
fn router_ip(net: Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(net.network()).wrapping_add(1))
}

/// The VPC router, its subnets, route tables, ACLs, the internet gateway.
fn vpc(b: &mut Builder) -> Result<(), PlanError> {
    let t = b.t;
    let Some(vpc) = &t.vpc else {
        return Ok(());
    };
    let r = vpc_ns(&b.lab);
    b.ns(r.clone(), None, Role::VpcRouter);
    b.base_sysctls(&r);
    b.router_sysctls(&r);
    let mut ports: Vec<Vec<String>> = vec![Vec::new(); t.subnets.len()];
    for (id, n) in t.nodes.iter().enumerate() {
        let ns = b.node_ns[id].clone();
        let mut default_done = false;
        for (i, ifc) in n.interfaces.iter().enumerate() {
            let Attachment::Subnet(s) = ifc.attachment else {
                continue;
            };
            let port = format!("p{id}x{i}");
            let sub = &t.subnets[s];
            b.plan.links.push(VethSpec {
                a: End {
                    ns: ns.clone(),
                    ifname: format!("eth{i}"),
                },
                b: End {
                    ns: r.clone(),
                    ifname: port.clone(),
                },
                kind: LinkKind::Access,
                joins: (n.name.clone(), sub.name.clone()),
                mtu: None,
                vlan: None,
            });
            ports[s].push(port);
            if let Ok(net) = Ipv4Net::new(ifc.ip, sub.cidr.prefix_len()) {
                b.addr(&ns, &format!("eth{i}"), net);
            }
            if !default_done {
                default_done = true;
                let gw = router_ip(sub.cidr);
                let spec = b.route(
                    &ns,
                    Ipv4Net::default(),
                    Some(gw),
                    Some(&format!("eth{i}")),
                    254,
                    0,
                    RouteKind::Unicast,
                    format!("{}: default via the VPC router {gw}", n.name),
                );
                b.plan.routes.push(spec);
            }
        }
    }
    for (k, sub) in t.subnets.iter().enumerate() {
        let name = format!("sn{k}");
        b.plan.bridges.push(BridgeSpec {
            ns: r.clone(),
            name: name.clone(),
            ports: std::mem::take(&mut ports[k]),
            what: format!("subnet {}", sub.name),
        });
        let gw = Ipv4Net::new(router_ip(sub.cidr), sub.cidr.prefix_len())
            .map_err(|e| PlanError::Unsupported(format!("subnet {}: {e}", sub.name)))?;
        b.addr(&r, &name, gw);
    }

    // the internet gateway
    let internet = t
        .nodes
        .iter()
        .position(|n| n.kind == NodeKind::Internet)
        .filter(|_| vpc.internet_gateway.is_some());
    let mut internet_ip = None;
    if let Some(inet) = internet {
        let ins = b.node_ns[inet].clone();
        let ip = t.nodes[inet].interfaces.first().map(|i| i.ip);
        if let Some(ip) = ip {
            internet_ip = Some(ip);
            b.plan.links.push(VethSpec {
                a: End {
                    ns: ins.clone(),
                    ifname: "eth0".into(),
                },
                b: End {
                    ns: r.clone(),
                    ifname: "igw".into(),
                },
                kind: LinkKind::InternetGateway,
                joins: (
                    t.nodes[inet].name.clone(),
                    vpc.internet_gateway.clone().unwrap_or_default(),
                ),
                mtu: None,
                vlan: None,
            });
            b.addr(&ins, "eth0", Ipv4Net::from(ip));
            b.addr(&r, "igw", Ipv4Net::from(IGW_LINK_ROUTER));
            let spec = b.route(
                &ins,
                Ipv4Net::default(),
                Some(IGW_LINK_ROUTER),
                Some("eth0"),
                254,
                0,
                RouteKind::Unicast,
                "internet: everything through the VPC's internet gateway".into(),
            );
            b.plan.routes.push(spec);
        }
    }
    // ingress from the internet gateway and the VGW: the VPC's subnets
    for (k, sub) in t.subnets.iter().enumerate() {
        let spec = b.route(
            &r,
            sub.cidr,
            None,
            Some(&format!("sn{k}")),
            EDGE_TABLE,
            0,
            RouteKind::Unicast,
            format!("edge: {} local", sub.name),
        );
        b.plan.routes.push(spec);
    }
    let has_vgw = vpc.vgw.is_some() && (!t.vifs.is_empty() || t.vpn.is_some());
    for (prio, iif) in [(100u32, "igw"), (101, "vgw0")] {
        if (iif == "igw" && internet_ip.is_some()) || (iif == "vgw0" && has_vgw) {
            b.plan.rules.push(RuleSpec {
                ns: r.clone(),
                iif: iif.into(),
                table: EDGE_TABLE,
                priority: prio,
            });
        }
    }
    // route tables, one kernel table each, chosen by the input subnet;
    // what the VGW propagates is written by the VPC router's BIRD
    for (rt_id, rt) in t.route_tables.iter().enumerate() {
        let table = FIRST_TABLE + rt_id as u32;
        for route in &rt.routes {
            let why = format!(
                "route table {}: {} -> {:?}",
                rt.name, route.prefix, route.target
            );
            let spec = match route.target {
                RouteTarget::Local => {
                    // one connected route per subnet inside the block,
                    // unless a static route more specific than the block
                    // covers the subnet: AWS follows that one (middlebox
                    // routing), as the analysis's longest match does,
                    // while the kernel would prefer this route on the
                    // subnet's own prefix
                    for (k, sub) in t.subnets.iter().enumerate() {
                        let overridden = rt.routes.iter().any(|o| {
                            o.origin == topology::route_table::RouteOrigin::Static
                                && o.prefix.prefix_len() > route.prefix.prefix_len()
                                && o.prefix.contains(&sub.cidr)
                        });
                        if route.prefix.contains(&sub.cidr) && !overridden {
                            let s = b.route(
                                &r,
                                sub.cidr,
                                None,
                                Some(&format!("sn{k}")),
                                table,
                                0,
                                RouteKind::Unicast,
                                format!("route table {}: {} local", rt.name, sub.cidr),
                            );
                            b.plan.routes.push(s);
                        }
                    }
                    continue;
                }
                RouteTarget::InternetGateway => match internet_ip {
                    Some(ip) => b.route(
                        &r,
                        route.prefix,
                        Some(ip),
                        Some("igw"),
                        table,
                        METRIC_STATIC,
                        RouteKind::Unicast,
                        why,
                    ),
                    // no internet node: nothing beyond the gateway
                    None => b.route(
                        &r,
                        route.prefix,
                        None,
                        None,
                        table,
                        METRIC_STATIC,
                        RouteKind::Blackhole,
                        why,
                    ),
                },
                RouteTarget::NatGateway(node) | RouteTarget::Instance(node) => {
                    let target = &t.nodes[node];
                    let hop = target.interfaces.iter().find_map(|i| match i.attachment {
                        Attachment::Subnet(s) => Some((i.ip, s)),
                        _ => None,
                    });
                    match hop {
                        Some((ip, s)) => b.route(
                            &r,
                            route.prefix,
                            Some(ip),
                            Some(&format!("sn{s}")),
                            table,
                            METRIC_STATIC,
                            RouteKind::Unicast,
                            why,
                        ),
                        None => continue,
                    }
                }
                RouteTarget::Vgw => {
                    if route.origin == topology::route_table::RouteOrigin::Propagated {
                        // BIRD's, when the VGW has learned it
                        continue;
                    }
                    if has_vgw {
                        b.route(
                            &r,
                            route.prefix,
                            Some(VGW_LINK_VGW),
                            Some("vgw0"),
                            table,
                            METRIC_STATIC,
                            RouteKind::Unicast,
                            why,
                        )
                    } else {
                        b.route(
                            &r,
                            route.prefix,
                            None,
                            None,
                            table,
                            METRIC_STATIC,
                            RouteKind::Blackhole,
                            why,
                        )
                    }
                }
                RouteTarget::Blackhole => b.route(
                    &r,
                    route.prefix,
                    None,
                    None,
                    table,
                    METRIC_STATIC,
                    RouteKind::Blackhole,
                    why,
                ),
            };
            b.plan.routes.push(spec);
        }
        // nothing else: AWS drops what no route matches
        let s = b.route(
            &r,
            Ipv4Net::default(),
            None,
            None,
            table,
            u32::MAX,
            RouteKind::Blackhole,
            format!("route table {}: no route", rt.name),
        );
        b.plan.routes.push(s);
    }
    for (k, sub) in t.subnets.iter().enumerate() {
        b.plan.rules.push(RuleSpec {
            ns: r.clone(),
            iif: format!("sn{k}"),
            table: FIRST_TABLE + sub.route_table as u32,
            priority: 1000 + k as u32,
        });
    }
    let edge = firewall::vpc_router(t, internet_ip.is_some());
    b.plan.firewalls.push(FirewallSpec {
        ns: r.clone(),
        what: "network ACLs, internet gateway NAT".into(),
        ruleset: edge,
    });
    // NAT gateways
    for (id, n) in t.nodes.iter().enumerate() {
        if n.kind != NodeKind::NatGateway {
            continue;
        }
        if let Some(ifc) = n.interfaces.first() {
            b.plan.firewalls.push(FirewallSpec {
                ns: b.node_ns[id].clone(),
                what: format!("NAT gateway {}", n.name),
                ruleset: firewall::nat_gateway(ifc.ip, vpc.cidr, n.ephemeral_ports),
            });
        }
    }
    Ok(())
}

/// Direct Connect VIFs and the VPN: links to the VGW, gateway processes
/// at both ends, and the office's routes into them (the VGW's routes to
/// the office are BIRD's). Which VGW-side TUN carries which.
fn tunnels(b: &mut Builder) -> Result<Tunnels, PlanError> {
    let t = b.t;
    let mut tuns = Tunnels::default();
    let Some(vpc) = &t.vpc else {
        return Ok(tuns);
    };
    if vpc.vgw.is_none() || (t.vifs.is_empty() && t.vpn.is_none()) {
        return Ok(tuns);
    }
    let v = vgw_ns(&b.lab);
    let r = vpc_ns(&b.lab);
    b.ns(v.clone(), None, Role::Vgw);
    b.base_sysctls(&v);
    b.router_sysctls(&v);
    b.plan.links.push(VethSpec {
        a: End {
            ns: r.clone(),
            ifname: "vgw0".into(),
        },
        b: End {
            ns: v.clone(),
            ifname: "vpc0".into(),
        },
        kind: LinkKind::VgwAttachment,
        joins: ("vpc".into(), "vgw".into()),
        mtu: None,
        vlan: None,
    });
    let link = |a| Ipv4Net::new(a, 30).unwrap_or_else(|_| Ipv4Net::from(a));
    b.addr(&r, "vgw0", link(VGW_LINK_ROUTER));
    b.addr(&v, "vpc0", link(VGW_LINK_VGW));
    let s = b.route(
        &v,
        vpc.cidr,
        Some(VGW_LINK_ROUTER),
        Some("vpc0"),
        254,
        0,
        RouteKind::Unicast,
        "vgw: the VPC".into(),
    );
    b.plan.routes.push(s);

    // one office gateway process per customer node, one VGW-side process
    // per VIF and one for the VPN
    let mut office_gw: BTreeMap<usize, usize> = BTreeMap::new();
    let dx = t.dx_connection.as_ref();
    let rate = dx.and_then(|c| c.bandwidth_bps);
    let delay = dx.and_then(|c| c.latency).filter(|d| !d.is_zero());
    let jitter = dx.and_then(|c| c.jitter).filter(|d| !d.is_zero());
    let loss = dx.and_then(|c| c.loss_percent).filter(|l| *l > 0.0);
    // (customer node, link name, office address, AWS address, office
    // prefixes the VGW learns over it, route priority)
    let mut ends: Vec<(usize, String, Ipv4Addr, Ipv4Addr, Vec<Ipv4Net>, u32)> = Vec::new();
    for (i, vif) in t.vifs.iter().enumerate() {
        ends.push((
            vif.customer_router,
            vif.name.clone(),
            vif.customer_address.addr(),
            vif.amazon_address.addr(),
            if vif.bgp_up {
                vif.advertised_prefixes()
            } else {
                Vec::new()
            },
            10 + i as u32,
        ));
        let cust = b.node_ns[vif.customer_router].clone();
        let mtu = u32::from(vif.mtu);
        b.plan.links.push(VethSpec {
            a: End {
                ns: cust.clone(),
                ifname: format!("dx{i}"),
            },
            b: End {
                ns: v.clone(),
                ifname: format!("dx{i}"),
            },
            kind: LinkKind::DirectConnect,
            joins: (t.nodes[vif.customer_router].name.clone(), vif.name.clone()),
            mtu: (mtu != 1500).then_some(mtu),
            vlan: Some(vif.vlan),
        });
        b.addr(&cust, &format!("dx{i}"), vif.customer_address);
        b.addr(&v, &format!("dx{i}"), vif.amazon_address);
        if rate.is_some() || delay.is_some() || jitter.is_some() || loss.is_some() {
            for ns in [&cust, &v] {
                b.plan.shaping.push(ShapeSpec {
                    ns: ns.clone(),
                    ifname: format!("dx{i}"),
                    shaping: Shaping {
                        rate_bps: rate,
                        delay,
                        jitter,
                        loss_percent: loss,
                    },
                });
            }
        }
    }
    if let Some(vpn) = &t.vpn {
        let cust = b.node_ns[vpn.customer_gateway].clone();
        b.plan.links.push(VethSpec {
            a: End {
                ns: cust.clone(),
                ifname: "vpn0".into(),
            },
            b: End {
                ns: v.clone(),
                ifname: "vpn0".into(),
            },
            kind: LinkKind::Vpn,
            joins: (t.nodes[vpn.customer_gateway].name.clone(), vpn.name.clone()),
            mtu: None,
            vlan: None,
        });
        // the tunnel's inside addresses: Amazon the first, the office the
        // second
        let inside =
            |a| Ipv4Net::new(a, vpn.inside_cidr.prefix_len()).unwrap_or_else(|_| Ipv4Net::from(a));
        b.addr(&cust, "vpn0", inside(vpn.customer_address));
        b.addr(&v, "vpn0", inside(vpn.amazon_address));
        ends.push((
            vpn.customer_gateway,
            vpn.name.clone(),
            vpn.customer_address,
            vpn.amazon_address,
            if vpn.up { vpn.prefixes() } else { Vec::new() },
            100,
        ));
    }
    for (k, (cust, name, office_addr, aws_addr, office_prefixes, priority)) in
        ends.into_iter().enumerate()
    {
        let og = match office_gw.get(&cust) {
            Some(&g) => g,
            None => {
                let g = b.plan.gateways.len();
                let mtu = t
                    .vifs
                    .iter()
                    .filter(|x| x.customer_router == cust)
                    .map(|x| x.mtu)
                    .min()
                    .unwrap_or(1500)
                    .min(1500)
                    - WG_OVERHEAD;
                b.plan.gateways.push(GatewaySpec {
                    ns: b.node_ns[cust].clone(),
                    name: ns_token(&t.nodes[cust].name),
                    tun: "vg0".into(),
                    mtu,
                    port: WG_PORT,
                    peers: Vec::new(),
                    office_node: Some(t.nodes[cust].name.clone()),
                    policy_node: (t.nodes[cust].kind == NodeKind::Gateway)
                        .then(|| t.nodes[cust].name.clone()),
                    bgp_kernel_table: None,
                    policy: crate::diff::gateway_policy(t, cust),
                });
                office_gw.insert(cust, g);
                g
            }
        };
        let vg = b.plan.gateways.len();
        let tun = format!("vg{k}");
        if k < t.vifs.len() {
            tuns.vif_tun.push(tun.clone());
        } else {
            tuns.vpn_tun = Some(tun.clone());
        }
        b.plan.gateways.push(GatewaySpec {
            ns: v.clone(),
            name: format!("vgw-{}", ns_token(&name)),
            tun: tun.clone(),
            mtu: 1500 - WG_OVERHEAD,
            // the VGW's tunnels share its namespace: one port each
            port: WG_PORT + 1 + k as u16,
            peers: vec![GatewayPeer {
                name: ns_token(&t.nodes[cust].name),
                gateway: og,
                endpoint: office_addr,
                allowed: office_prefixes.clone(),
                priority,
                bgp_session: false,
            }],
            office_node: None,
            policy_node: None,
            bgp_kernel_table: None,
            policy: String::new(),
        });
        b.plan.gateways[og].peers.push(GatewayPeer {
            name: ns_token(&name),
            gateway: vg,
            endpoint: aws_addr,
            allowed: vec![vpc.cidr],
            priority,
            bgp_session: k < t.vifs.len() || t.vpn.as_ref().is_some_and(|v| v.bgp),
        });
    }
    Ok(tuns)
}

/// Security groups as nftables rules in each VPC node's namespace.
fn security_groups(b: &mut Builder) {
    let t = b.t;
    for (id, n) in t.nodes.iter().enumerate() {
        let enforced = matches!(
            n.kind,
            NodeKind::Instance
                | NodeKind::AsgInstance { .. }
                | NodeKind::LoadBalancer { .. }
                | NodeKind::Database { .. }
        ) && n.in_vpc();
        if !enforced {
            continue;
        }
        let names: Vec<&str> = n
            .security_groups
            .iter()
            .map(|&g| t.security_groups[g].name.as_str())
            .collect();
        b.plan.firewalls.push(FirewallSpec {
            ns: b.node_ns[id].clone(),
            what: format!("security groups {}", names.join(", ")),
            ruleset: firewall::security_groups(t, &n.security_groups, !n.source_dest_check),
        });
    }
}

/// What each endpoint listens on: load balancers their listener ports,
/// databases their port, everything else every probed port.
fn listeners(b: &mut Builder, tcp_ports: &[u16]) {
    let t = b.t;
    let services = services(t, tcp_ports);
    let mut tcp = BTreeSet::new();
    let mut udp = BTreeSet::new();
    for s in &services {
        match s {
            Service::Tcp(p) => {
                tcp.insert(*p);
            }
            Service::Udp(p) => {
                udp.insert(*p);
            }
            _ => {}
        }
    }
    // real services first: their ports are theirs
    let mut taken: BTreeMap<usize, (BTreeSet<u16>, BTreeSet<u16>)> = BTreeMap::new();
    for st in &t.sim.start {
        for &id in &st.nodes {
            b.plan.starts.push(crate::services::StartSpec {
                ns: b.node_ns[id].clone(),
                node: t.nodes[id].name.clone(),
                command: st.command.clone(),
                tcp_ports: st.tcp_ports.clone(),
                udp_ports: st.udp_ports.clone(),
            });
            let e = taken.entry(id).or_default();
            e.0.extend(st.tcp_ports.iter().copied());
            e.1.extend(st.udp_ports.iter().copied());
        }
    }
    let haproxy = t.sim.load_balancer == LoadBalancerMode::Haproxy;
    for (id, n) in t.nodes.iter().enumerate() {
        if !n.is_endpoint() {
            continue;
        }
        let (mut node_tcp, mut node_udp): (Vec<u16>, Vec<u16>) = match &n.kind {
            NodeKind::LoadBalancer { listeners } => {
                if haproxy {
                    b.plan.haproxy.push(HaproxySpec {
                        ns: b.node_ns[id].clone(),
                        node: n.name.clone(),
                        config: crate::services::haproxy_config(t, &n.name, listeners),
                        ports: listeners.iter().map(|l| l.port).collect(),
                    });
                    (Vec::new(), Vec::new())
                } else {
                    (listeners.iter().map(|l| l.port).collect(), Vec::new())
                }
            }
            NodeKind::Database { port, .. } => (vec![*port], Vec::new()),
            _ => (tcp.iter().copied().collect(), udp.iter().copied().collect()),
        };
        if let Some((tt, uu)) = taken.get(&id) {
            node_tcp.retain(|p| !tt.contains(p));
            node_udp.retain(|p| !uu.contains(p));
        }
        b.plan.listeners.push(ListenSpec {
            ns: b.node_ns[id].clone(),
            node: n.name.clone(),
            tcp: node_tcp,
            udp: node_udp,
            icmp: true,
        });
    }
}

/// A one-line summary per kind of object, for `sim up`.
pub fn summary(p: &Plan) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{} namespaces, {} links, {} bridges, {} addresses, {} routes (+{} through tunnels), {} rules, {} firewalls, {} gateways, {} listening nodes",
        p.namespaces.len(),
        p.links.len(),
        p.bridges.len(),
        p.addresses.len(),
        p.routes.len(),
        p.tunnel_routes.len(),
        p.rules.len(),
        p.firewalls.len(),
        p.gateways.len(),
        p.listeners.len()
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::example;

    #[test]
    fn lab_names() {
        assert!(valid_lab_name("yeohaengjigi"));
        assert!(valid_lab_name("t1-2"));
        assert!(!valid_lab_name(""));
        assert!(!valid_lab_name("-x"));
        assert!(!valid_lab_name("a.b"));
        assert!(!valid_lab_name("A"));
        assert!(!valid_lab_name(&"x".repeat(25)));
        assert_eq!(default_lab_name("Yeohaengjigi VPC!"), "yeohaengjigi-vpc");
        assert!(matches!(
            plan(&example(), "Bad.Name", &[22]),
            Err(PlanError::LabName(_))
        ));
    }

    #[test]
    fn example_plan_has_every_node_and_the_infrastructure() {
        let t = example();
        let p = plan(&t, "yh", &[22, 80, 443, 3306]).expect("plan");
        for n in &t.nodes {
            assert!(p.node_ns(&n.name).is_some(), "{} has a namespace", n.name);
        }
        for infra in ["yh+lan", "yh+vpc", "yh+vgw"] {
            assert!(p.namespaces.iter().any(|n| n.name == infra), "{infra}");
        }
        // every namespace is the lab's
        let [a, b] = lab_prefixes("yh");
        assert!(p
            .namespaces
            .iter()
            .all(|n| n.name.starts_with(&a) || n.name.starts_with(&b)));
        // interface names fit IFNAMSIZ
        for l in &p.links {
            assert!(l.a.ifname.len() <= 15 && l.b.ifname.len() <= 15, "{l:?}");
        }
        // one bridge per subnet and per LAN, holding every attached port
        assert_eq!(p.bridges.len(), t.subnets.len() + t.lans.len());
        let ports: usize = p.bridges.iter().map(|b| b.ports.len()).sum();
        let access = p
            .links
            .iter()
            .filter(|l| l.kind == LinkKind::Access)
            .count();
        assert_eq!(ports, access);
    }

    #[test]
    fn route_tables_follow_the_input_subnet() {
        let t = example();
        let p = plan(&t, "yh", &[22]).expect("plan");
        let web_a = t
            .subnets
            .iter()
            .position(|s| s.name == "web-a")
            .expect("web-a");
        let rule = p
            .rules
            .iter()
            .find(|r| r.iif == format!("sn{web_a}"))
            .expect("a rule for web-a");
        // web-a-rt: default via nat-a
        let nat_a = t.nodes.iter().find(|n| n.name == "nat-a").expect("nat-a");
        let default = p
            .routes
            .iter()
            .find(|r| {
                r.table == rule.table && r.dst == Ipv4Net::default() && r.kind == RouteKind::Unicast
            })
            .expect("a default route");
        assert_eq!(default.via, Some(nat_a.interfaces[0].ip));
        // propagated office prefixes toward the VGW: the VPC router's
        // BIRD writes them into the table (none in the plan)
        let office: Ipv4Net = "192.168.10.0/24".parse().expect("cidr");
        assert!(!p
            .routes
            .iter()
            .any(|r| r.table == rule.table && r.dst == office));
        let vpc_bird = p
            .bird
            .daemons
            .iter()
            .find(|d| d.name == "vpc")
            .expect("BIRD");
        assert!(vpc_bird
            .config
            .contains(&format!("kernel table {};", rule.table)));
        // db-rt: no default except the final blackhole
        let db_a = t
            .subnets
            .iter()
            .position(|s| s.name == "db-a")
            .expect("db-a");
        let db_rule = p
            .rules
            .iter()
            .find(|r| r.iif == format!("sn{db_a}"))
            .expect("rule");
        assert!(!p.routes.iter().any(|r| r.table == db_rule.table
            && r.dst == Ipv4Net::default()
            && r.kind == RouteKind::Unicast));
    }

    #[test]
    fn tunnels_pair_the_office_gateway_with_the_vgw() {
        let t = crate::example_static_vpn();
        let p = plan(&t, "yh", &[22]).expect("plan");
        let office = p
            .gateways
            .iter()
            .find(|g| g.policy_node.as_deref() == Some("vifgate-office"))
            .expect("office gateway");
        // DX first, the VPN as backup
        assert_eq!(office.peers.len(), 2);
        assert!(office.peers[0].priority < office.peers[1].priority);
        // BGP on the VIF, static routing on the example's VPN; the box's
        // BIRD writes table 100 for the gateway
        assert!(office.peers[0].bgp_session && !office.peers[1].bgp_session);
        assert_eq!(
            office.bgp_kernel_table,
            Some(crate::bird::OFFICE_KERNEL_TABLE)
        );
        for peer in &office.peers {
            let far = &p.gateways[peer.gateway];
            assert_eq!(far.ns, "yh+vgw");
            assert_eq!(p.gateways[far.peers[0].gateway].ns, office.ns);
        }
        // the DX link is shaped to the connection's bandwidth
        assert!(p
            .shaping
            .iter()
            .all(|s| s.shaping.rate_bps == Some(1_000_000_000)));
        assert_eq!(p.shaping.len(), 2);
        // office routes into the tunnel wait for the TUN device
        assert!(p
            .tunnel_routes
            .iter()
            .any(|r| r.ns == office.ns && r.dst == "10.0.0.0/16".parse().expect("cidr")));
    }

    #[test]
    fn listeners_match_what_the_analysis_assumes() {
        let t = example();
        let p = plan(&t, "yh", &[22, 80, 443, 3306]).expect("plan");
        // the example plays its ALB with HAProxy: no probe listener there,
        // and the web servers' port 80 is the start command's
        let alb = p.listeners.iter().find(|l| l.node == "alb").expect("alb");
        assert!(alb.tcp.is_empty());
        assert_eq!(p.haproxy.len(), 1);
        let web = p
            .listeners
            .iter()
            .find(|l| l.node == "web-a1")
            .expect("web");
        assert!(!web.tcp.contains(&80) && web.tcp.contains(&22));
        assert_eq!(p.starts.len(), 2);
        // without [sim], the ALB listens on its listener ports
        let mut plain = t.clone();
        plain.sim = Default::default();
        let p2 = plan(&plain, "yh", &[22, 80, 443, 3306]).expect("plan");
        let alb = p2.listeners.iter().find(|l| l.node == "alb").expect("alb");
        assert_eq!(alb.tcp, vec![80, 443]);
        assert!(p2.haproxy.is_empty());
        let db = p
            .listeners
            .iter()
            .find(|l| l.node == "db-primary")
            .expect("db");
        assert_eq!(db.tcp, vec![3306]);
        let pc = p
            .listeners
            .iter()
            .find(|l| l.node == "office-pc")
            .expect("pc");
        assert!(pc.tcp.contains(&22) && pc.tcp.contains(&5432));
        // routers and NAT gateways do not listen
        assert!(!p
            .listeners
            .iter()
            .any(|l| l.node == "nat-a" || l.node == "office-router"));
    }
}
