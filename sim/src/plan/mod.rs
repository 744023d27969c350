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
//! - `L+lan`: the office switch, one bridge per office LAN
//!   ([`crate::layout::lan_bridges`]).
//! - `L+vpc`: the VPC router. One bridge per subnet
//!   ([`crate::layout::subnet_bridges`]), holding the
//!   subnet's router address (the subnet's first host address, as AWS's
//!   VPC router at base+1). Each subnet's route table is a kernel table
//!   chosen by the input interface (`ip rule iif BRIDGE`); network ACLs are
//!   stateless nftables chains on the subnet's bridge; the internet gateway
//!   is the `igw` link to `L.internet` with its one-to-one NAT of public
//!   addresses; the `vgw0` link leads to the VGW. What the VGW propagates
//!   is written into the route tables' kernel tables by the VPC router's
//!   BIRD ([`crate::render::bird::vpc`]), not by the plan.
//! - `L+vgw`: the virtual private gateway: the far end of each Direct
//!   Connect VIF (its link named after it, [`crate::layout::vif_links`])
//!   and of the VPN (`vpn0`), with a vifgate gateway process per VIF (and
//!   one for the VPN) carrying the tunnel (its TUN device and port named
//!   after it too, [`crate::layout::vgw_tunnels`],
//!   [`crate::layout::vgw_ports`]), and BIRD
//!   ([`crate::render::bird::vgw`]) learning the office's routes over the links
//!   and routing each into its tunnel's TUN device.
//!
//! Node namespaces and interfaces never appear in the caller's namespace:
//! every link is made with both ends in lab namespaces, so removing the
//! namespaces removes everything.

pub mod bird;
pub mod diff;
pub mod frr;
mod listeners;
mod office;
mod security_groups;
#[cfg(test)]
mod tests;
mod tunnels;
pub mod view;
mod vpc;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::time::Duration;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};
use topology::analysis::Service;
use topology::model::{Attachment, LoadBalancerMode, NextHop, NodeKind, Topology};
use topology::route_table::RouteTarget;

use crate::agent::spec::ListenSpec;
use crate::kernel::routing::Route;
pub use crate::kernel::routing::RouteKind;
use crate::kernel::shaping::Shaping;
use crate::layout::{
    lan_ns, ns_token, valid_lab_name, vgw_ns, vpc_ns, EDGE_TABLE, IGW_LINK_ROUTER, VGW_LINK_ROUTER,
    VGW_LINK_VGW,
};
use crate::render::bird::Tunnels;
use crate::render::firewall;
use bird::BirdPlan;

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

/// The WireGuard port of every office gateway (the VGW's listen on
/// [`crate::layout::vgw_ports`]).
pub const WG_PORT: u16 = 51820;
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
    /// The tables the ruleset defines, as `nft` names them (`inet
    /// vifgate_sg`): what identifies the firewall in its namespace.
    #[serde(default)]
    pub tables: Vec<String>,
    /// The ruleset.
    pub ruleset: String,
}

impl FirewallSpec {
    /// The firewall of namespace `ns` that is `table`.
    pub fn of_table(ns: &str, what: String, table: &crate::render::nft::Table) -> FirewallSpec {
        FirewallSpec {
            ns: ns.to_string(),
            what,
            tables: vec![table.qualified_name()],
            ruleset: table.to_string(),
        }
    }
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
    /// Inner prefixes routed to it, and that it may send from unless
    /// [`GatewayPeer::any_source`].
    pub allowed: Vec<Ipv4Net>,
    /// Whether its packets are accepted from any inner source (its WireGuard
    /// allowed IPs `0.0.0.0/0`): the VGW's peer on a VIF or the VPN. AWS
    /// does not filter the source addresses that come in over a private
    /// VIF or a VPN tunnel, so an office prefix advertised only over the
    /// VPN still reaches the VPC over the VIF its route to the VPC takes;
    /// taking the VIF's advertised prefixes as its sources dropped it.
    #[serde(default)]
    pub any_source: bool,
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
    /// groups (the `gateway_policy` of `tunnels.rs`): what tells a policy edit,
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

/// A command run with `sh -c` inside a node when the lab comes up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartSpec {
    /// Namespace.
    pub ns: String,
    /// Node.
    pub node: String,
    /// The command line.
    pub command: String,
    /// TCP ports it serves: `up` waits until they accept.
    pub tcp_ports: Vec<u16>,
    /// UDP ports it serves.
    pub udp_ports: Vec<u16>,
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
    /// Its targets, as values: what `sim apply` registers and
    /// deregisters when nothing else changed.
    #[serde(default)]
    pub targets: Vec<Target>,
    /// Its configuration without the targets' `server` lines: an edit
    /// that leaves it equal changes targets only.
    #[serde(default)]
    pub config_without_targets: String,
    /// How long a target deregistered from each backend drains first
    /// (the target group's deregistration delay, on the lab's clock).
    #[serde(default)]
    pub deregistration_delays: BTreeMap<String, Duration>,
}

pub use crate::render::haproxy::Target;

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
    pub starts: Vec<StartSpec>,
    /// Load balancers played by HAProxy.
    #[serde(default)]
    pub haproxy: Vec<HaproxySpec>,
    /// BIRD daemons (the VGW's, the VPC router's, the office's) and the
    /// sessions' MD5 key files.
    #[serde(default)]
    pub bird: BirdPlan,
    /// The office nodes played with FRR instead of BIRD.
    #[serde(default)]
    pub frr: Vec<crate::plan::frr::FrrSpec>,
    /// The TCP ports it was planned with (`--ports`: every host listens on
    /// them), kept in the lab's state so that `sim apply` and `sim test
    /// --reuse` plan with the lab's own when given none; a lab recorded by
    /// an older vifgate was built with the default ones.
    #[serde(default = "default_tcp_ports")]
    pub tcp_ports: Vec<u16>,
    /// The Auto Scaling groups whose controller the lab runs
    /// ([`autoscaled`]): one recorded process for all of them, started at
    /// the end of a run of steps to a plan that has some and stopped at
    /// the end of one to a plan that has none.
    #[serde(default)]
    pub autoscaling: Vec<String>,
}

/// The groups of `t` the lab's scaling controller runs: those with a
/// scaling policy, a scheduled action or the ELB health-check type,
/// unless `[sim] autoscale = false`.
pub fn autoscaled(t: &Topology) -> Vec<String> {
    if !t.sim.autoscale {
        return Vec::new();
    }
    (t.auto_scaling_groups.iter())
        .filter(|g| {
            let s = &g.scaling;
            !s.target_tracking.is_empty()
                || !s.step_scaling.is_empty()
                || !s.scheduled.is_empty()
                || s.health_check_type == topology::model::scaling::HealthCheckType::Elb
        })
        .map(|g| g.name.clone())
        .collect()
}

/// The TCP ports `--ports` probes and hosts listen on unless told.
pub const DEFAULT_TCP_PORTS: [u16; 4] = [22, 80, 443, 3306];

fn default_tcp_ports() -> Vec<u16> {
    DEFAULT_TCP_PORTS.to_vec()
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
    /// The stem of each node's switch-side port names
    /// ([`crate::layout::port_stems`]).
    port_stems: Vec<String>,
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
            tcp_ports: tcp_ports.to_vec(),
            autoscaling: autoscaled(t),
        },
        node_ns: Vec::new(),
        port_stems: crate::layout::port_stems(t.nodes.iter().map(|n| n.name.as_str())),
    };
    // one namespace per node, names made unique: two names that make the
    // same token (`a b`, `a_b`) tell the second apart by its name's hash,
    // not its place, so a node added before it does not rename it
    let mut taken = BTreeSet::new();
    for (i, n) in t.nodes.iter().enumerate() {
        let mut name = format!("{lab}.{}", ns_token(&n.name));
        if !taken.insert(name.clone()) {
            let tag = crate::layout::hashed_names("~", [n.name.as_str()]).remove(0);
            name = format!("{name}{tag}");
            if !taken.insert(name.clone()) {
                name = format!("{name}~{i}");
                taken.insert(name.clone());
            }
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
    office::office(&mut b);
    if t.vpc.is_some() {
        vpc::vpc(&mut b)?;
    }
    let tunnels = tunnels::tunnels(&mut b)?;
    let state_dir = crate::layout::state_dir(lab);
    let sessions = crate::bgp::sessions::sessions(t);
    b.plan.bird = bird::plan(t, lab, &state_dir, &b.node_ns, &tunnels, &sessions);
    if !b.plan.bird.daemons.is_empty() {
        b.plan.frr = crate::plan::frr::plan(
            t,
            &state_dir,
            &b.node_ns,
            crate::render::bird::OFFICE_KERNEL_TABLE,
            &sessions,
        );
    }
    // the office gateways follow their BIRD's (or FRR's) table
    let office_ns: Vec<String> = (b.plan.bird.daemons.iter().map(|d| d.ns.clone()))
        .chain(b.plan.frr.iter().map(|f| f.ns.clone()))
        .collect();
    for g in b.plan.gateways.iter_mut() {
        if office_ns.contains(&g.ns) && g.office_node.is_some() {
            g.bgp_kernel_table = Some(crate::render::bird::OFFICE_KERNEL_TABLE);
        }
    }
    tunnels::floating_static_routes(&mut b);
    security_groups::security_groups(&mut b);
    listeners::listeners(&mut b, tcp_ports);
    Ok(b.plan)
}

/// The gateways at the two ends of a DX or VPN link.
pub(crate) fn tunnel_gateways(p: &Plan, l: &VethSpec) -> Vec<usize> {
    let vifs = (p.links.iter())
        .filter(|x| x.kind == LinkKind::DirectConnect)
        .map(|x| x.joins.1.as_str());
    let far = crate::layout::vgw_gateway_name(&l.joins.1, l.kind == LinkKind::Vpn, vifs);
    let office_ns = &l.a.ns;
    p.gateways
        .iter()
        .enumerate()
        .filter(|(_, g)| g.name == far || (&g.ns == office_ns && g.office_node.is_some()))
        .map(|(i, _)| i)
        .collect()
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
mod unit_tests {
    use super::*;
    use crate::layout::{default_lab_name, lab_prefixes};

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
            .find(|r| {
                r.iif
                    == crate::layout::subnet_bridges(t.subnets.iter().map(|s| s.name.as_str()))
                        [web_a]
            })
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
            .find(|r| {
                r.iif
                    == crate::layout::subnet_bridges(t.subnets.iter().map(|s| s.name.as_str()))
                        [db_a]
            })
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
            Some(crate::render::bird::OFFICE_KERNEL_TABLE)
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
