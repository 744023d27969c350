//! The resolved topology: names turned into indices, defaults filled in,
//! checked: what the file says, in one value. Built from a file by the
//! resolver; read by the BGP analysis and the static analysis, the gateway
//! and the simulator. It imports none of them: what is derived from it
//! (the BGP report, each session's state and best paths) lives in
//! `crate::bgp`, which puts only the resulting routes back
//! ([`Topology::vgw_route`], [`Topology::office_rib`], [`Vif::bgp_up`]).

pub mod bgp;
pub mod expect;
pub mod scaling;

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use ipnet::Ipv4Net;

use crate::nacl::NetworkAcl;
use crate::route_table::{FastMap, Lpm, RouteOrigin, RouteTable};
use crate::security_group::{PeerResolver, PrefixListId, SecurityGroup, SgId};
use crate::traffic::PortRange;
pub use bgp::{AdvertisedPrefix, BgpDaemon, BgpSettings};
pub use expect::{Expectation, Service, Target, Verdict};
pub use scaling::{ScalingSettings, TargetGroupSettings};

/// Index of a node in [`Topology::nodes`].
pub type NodeId = usize;
/// Index of an office LAN in [`Topology::lans`].
pub type LanId = usize;
/// Index of a subnet in [`Topology::subnets`].
pub type SubnetId = usize;
/// Index of a VIF in [`Topology::vifs`].
pub type VifId = usize;

/// A whole network: office sites, one VPC, and what joins them.
#[derive(Debug, Clone)]
pub struct Topology {
    /// Its name.
    pub name: String,
    /// Office sites.
    pub sites: Vec<Site>,
    /// Office LANs of all sites.
    pub lans: Vec<Lan>,
    /// The VPC, if any.
    pub vpc: Option<Vpc>,
    /// Subnets of the VPC.
    pub subnets: Vec<Subnet>,
    /// Route tables of the VPC (the main table included).
    pub route_tables: Vec<RouteTable>,
    /// Network ACLs of the VPC (the default ACL included).
    pub nacls: Vec<NetworkAcl>,
    /// Security groups (the VPC's default group included).
    pub security_groups: Vec<SecurityGroup>,
    /// Managed prefix lists.
    pub prefix_lists: Vec<PrefixList>,
    /// Every node: hosts, routers, gateways, NAT gateways, the internet.
    pub nodes: Vec<Node>,
    /// The Direct Connect connection.
    pub dx_connection: Option<DxConnection>,
    /// Private virtual interfaces.
    pub vifs: Vec<Vif>,
    /// Site-to-Site VPN backup.
    pub vpn: Option<Vpn>,
    /// Auto Scaling groups.
    pub auto_scaling_groups: Vec<AutoScalingGroup>,
    /// Intended reachability.
    pub expectations: Vec<Expectation>,
    /// `[sim]`: settings only the simulator reads (the analysis ignores
    /// them).
    pub sim: SimSettings,
    /// Index: address → (node, interface).
    pub(crate) addr_owner: FastMap<Ipv4Addr, (NodeId, usize)>,
    /// Index: public address → (node, interface).
    pub(crate) public_owner: FastMap<Ipv4Addr, (NodeId, usize)>,
    /// Index: for each group, its members' private addresses.
    pub(crate) sg_members: Vec<Vec<Ipv4Addr>>,
    /// Index: security-group rules bucketed by protocol and port.
    pub(crate) sg_index: crate::security_group::SgIndex,
    /// The VGW's best route toward each office prefix, from the BGP
    /// analysis, each once, in the analysis's order.
    pub(crate) vgw_routes: Vec<(Ipv4Net, VgwPath)>,
    /// Index: [`Topology::vgw_routes`] by longest prefix.
    pub(crate) vgw_table: Lpm<VgwPath>,
    /// Index: routing table of each office router/host.
    pub(crate) office_ribs: HashMap<NodeId, OfficeRib>,
}

/// An office site.
#[derive(Debug, Clone)]
pub struct Site {
    /// Its name.
    pub name: String,
    /// Its LANs.
    pub lans: Vec<LanId>,
}

/// An office LAN.
#[derive(Debug, Clone)]
pub struct Lan {
    /// Its name.
    pub name: String,
    /// The site it is in.
    pub site: usize,
    /// Its block.
    pub cidr: Ipv4Net,
}

/// The VPC.
#[derive(Debug, Clone)]
pub struct Vpc {
    /// Its name.
    pub name: String,
    /// Its IPv4 block.
    pub cidr: Ipv4Net,
    /// Region.
    pub region: String,
    /// Availability zones, full names.
    pub azs: Vec<String>,
    /// Name of the internet gateway, if attached.
    pub internet_gateway: Option<String>,
    /// The virtual private gateway, if attached.
    pub vgw: Option<Vgw>,
    /// The main route table.
    pub main_route_table: usize,
    /// The default network ACL.
    pub default_nacl: usize,
    /// The default security group.
    pub default_security_group: SgId,
}

/// The virtual private gateway.
#[derive(Debug, Clone)]
pub struct Vgw {
    /// Its name.
    pub name: String,
    /// Amazon-side ASN.
    pub asn: u32,
}

/// A subnet.
#[derive(Debug, Clone)]
pub struct Subnet {
    /// Its name.
    pub name: String,
    /// Availability zone, full name.
    pub az: String,
    /// Its block.
    pub cidr: Ipv4Net,
    /// Declared public.
    pub public: bool,
    /// Its route table.
    pub route_table: usize,
    /// Its network ACL.
    pub nacl: usize,
}

/// A managed prefix list.
#[derive(Debug, Clone)]
pub struct PrefixList {
    /// Its name.
    pub name: String,
    /// Its blocks.
    pub cidrs: Vec<Ipv4Net>,
}

/// What a node is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeKind {
    /// An office end host.
    OfficeHost,
    /// An office router.
    OfficeRouter,
    /// A vifgate gateway box: an office router that ends a VIF or VPN and
    /// filters what crosses it with security groups.
    Gateway,
    /// An EC2 instance.
    Instance,
    /// An instance of an Auto Scaling group.
    AsgInstance {
        /// Index in [`Topology::auto_scaling_groups`].
        group: usize,
    },
    /// An application load balancer (one interface per subnet).
    LoadBalancer {
        /// Its listeners.
        listeners: Vec<Listener>,
    },
    /// An RDS host.
    Database {
        /// The database it belongs to.
        database: String,
        /// Primary or standby.
        role: DbRole,
        /// Listening port.
        port: u16,
    },
    /// A NAT gateway.
    NatGateway,
    /// The public internet.
    Internet,
}

/// RDS role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbRole {
    /// Takes traffic.
    Primary,
    /// Multi-AZ standby: takes over on failover.
    Standby,
}

/// A load-balancer listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    /// Listening port.
    pub port: u16,
    /// `http`, `https`, `tcp`.
    pub protocol: String,
    /// Target nodes.
    pub targets: Vec<NodeId>,
    /// Port on the targets.
    pub target_port: u16,
    /// How its target group treats the targets.
    pub target_group: TargetGroupSettings,
}

/// Where an interface is attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Attachment {
    /// An office LAN.
    Lan(LanId),
    /// A VPC subnet.
    Subnet(SubnetId),
    /// The customer end of a VIF.
    Vif(VifId),
    /// The customer end of the VPN.
    Vpn,
    /// The internet.
    Internet,
}

/// A network interface.
#[derive(Debug, Clone)]
pub struct Interface {
    /// Its name (`eth0`, `eni-web-a1`, `dx-vif` ...).
    pub name: String,
    /// Where it is attached.
    pub attachment: Attachment,
    /// Its address.
    pub ip: Ipv4Addr,
    /// Public address mapped to it by the internet gateway.
    pub public_ip: Option<Ipv4Addr>,
}

/// A node: something with interfaces that sends, receives or forwards.
#[derive(Debug, Clone)]
pub struct Node {
    /// Its name.
    pub name: String,
    /// What it is.
    pub kind: NodeKind,
    /// Its interfaces.
    pub interfaces: Vec<Interface>,
    /// Its security groups (VPC interfaces; the gateway box's policy).
    pub security_groups: Vec<SgId>,
    /// Static routes (office routers and gateways).
    pub routes: Vec<OfficeRoute>,
    /// Source ports it picks for new connections.
    pub ephemeral_ports: PortRange,
    /// EC2 source/destination check (only instances can turn it off).
    pub source_dest_check: bool,
}

impl Node {
    /// Whether it is an end host for the matrix (not a router, gateway or
    /// NAT gateway).
    pub fn is_endpoint(&self) -> bool {
        !matches!(
            self.kind,
            NodeKind::OfficeRouter | NodeKind::Gateway | NodeKind::NatGateway
        )
    }

    /// Whether it lives in the VPC.
    pub fn in_vpc(&self) -> bool {
        self.interfaces
            .iter()
            .any(|i| matches!(i.attachment, Attachment::Subnet(_)))
    }

    /// Whether it routes packets that are not its own.
    pub fn forwards(&self) -> bool {
        matches!(self.kind, NodeKind::OfficeRouter | NodeKind::Gateway)
    }
}

/// The next hop of an office route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextHop {
    /// A neighbour address on one of the node's LANs.
    Via(Ipv4Addr),
    /// Directly on a LAN.
    Connected(LanId),
    /// Over a VIF.
    Vif(VifId),
    /// Over the VPN.
    Vpn,
}

/// A route of an office router, gateway or host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfficeRoute {
    /// Destination block.
    pub prefix: Ipv4Net,
    /// Where to.
    pub next_hop: NextHop,
    /// Connected (local), static, or learned (propagated).
    pub origin: RouteOrigin,
    /// What taught it, for traces (`static`, `bgp from AS 64512` ...).
    pub source: String,
}

/// An office node's routing table: its routes and an LPM index.
#[derive(Debug, Clone, Default)]
pub struct OfficeRib {
    /// Connected, static and learned routes.
    pub routes: Vec<OfficeRoute>,
    pub(crate) lpm: Lpm<Vec<usize>>,
}

impl OfficeRib {
    /// Builds the index. Equal prefixes: connected, then static, then
    /// learned in the order given (Direct Connect before VPN).
    pub fn new(routes: Vec<OfficeRoute>) -> Self {
        let lpm = Lpm::ranked(&routes, |r| r.prefix, |r| r.origin);
        OfficeRib { routes, lpm }
    }

    /// The route used for `dst`.
    pub fn select(&self, dst: Ipv4Addr) -> Option<&OfficeRoute> {
        let (_, slot) = self.lpm.lookup(dst)?;
        slot.first().map(|&i| &self.routes[i])
    }
}

/// The Direct Connect connection.
#[derive(Debug, Clone)]
pub struct DxConnection {
    /// Its name.
    pub name: String,
    /// Location.
    pub location: Option<String>,
    /// Port speed, as written (`1Gbps`).
    pub bandwidth: Option<String>,
    /// Port speed in bits per second (`1Gbps` is 1 000 000 000).
    pub bandwidth_bps: Option<u64>,
    /// One-way delay of the emulated link (0 to 10 s).
    pub latency: Option<Duration>,
    /// Variation of that delay, ± (0 to 10 s).
    pub jitter: Option<Duration>,
    /// Random loss, in percent (0 to 100).
    pub loss_percent: Option<f64>,
}

/// A private virtual interface.
#[derive(Debug, Clone)]
pub struct Vif {
    /// Its name.
    pub name: String,
    /// 802.1Q VLAN.
    pub vlan: u16,
    /// Customer ASN.
    pub customer_asn: u32,
    /// Amazon-side ASN.
    pub amazon_asn: u32,
    /// Customer peer address and prefix.
    pub customer_address: Ipv4Net,
    /// Amazon peer address and prefix.
    pub amazon_address: Ipv4Net,
    /// 1500 or 9001.
    pub mtu: u16,
    /// Where the MD5 key is.
    pub md5_key: Option<String>,
    /// The office node that ends it.
    pub customer_router: NodeId,
    /// The prefixes the customer advertises, each once, sorted, with their
    /// BGP attributes (communities, prepend).
    pub advertised: Vec<AdvertisedPrefix>,
    /// The office side's session settings: timers, BFD, local preference.
    pub bgp: BgpSettings,
    /// The file says `state = "down"`: the session is kept shut.
    pub configured_down: bool,
    /// Whether the BGP session is established (configured up, and at most
    /// 100 prefixes advertised), as the BGP analysis predicts it.
    pub bgp_up: bool,
    /// Why not, when it is down.
    pub down_reason: Option<String>,
}

impl Vif {
    /// The prefixes the customer advertises, each once, sorted.
    pub fn advertised_prefixes(&self) -> Vec<Ipv4Net> {
        self.advertised.iter().map(|a| a.prefix).collect()
    }
}

/// Site-to-Site VPN.
#[derive(Debug, Clone)]
pub struct Vpn {
    /// Its name.
    pub name: String,
    /// The office node that ends it.
    pub customer_gateway: NodeId,
    /// Static or BGP routing.
    pub bgp: bool,
    /// Office prefixes reached through it (static routes on the VGW, or
    /// what the office advertises over BGP), each once, sorted, with their
    /// BGP attributes (communities, prepend; they only matter with BGP).
    pub advertised: Vec<AdvertisedPrefix>,
    /// Whether the tunnels are up.
    pub up: bool,
    /// The tunnel's inside block (a /30 of 169.254.0.0/16).
    pub inside_cidr: Ipv4Net,
    /// Amazon's inside address (the block's first address).
    pub amazon_address: Ipv4Addr,
    /// The office's inside address (the block's second address).
    pub customer_address: Ipv4Addr,
    /// The office's ASN (BGP routing only).
    pub customer_asn: Option<u32>,
    /// Amazon's ASN: the VGW's.
    pub amazon_asn: u32,
    /// The office side's session settings (BGP routing only; no BFD on a
    /// VPN).
    pub bgp_settings: BgpSettings,
}

impl Vpn {
    /// The office prefixes reached through it, each once, sorted.
    pub fn prefixes(&self) -> Vec<Ipv4Net> {
        self.advertised.iter().map(|a| a.prefix).collect()
    }
}

/// An Auto Scaling group.
#[derive(Debug, Clone)]
pub struct AutoScalingGroup {
    /// Its name.
    pub name: String,
    /// Prefix of its instances' names (`<host_prefix>-<zone><n>`).
    pub host_prefix: String,
    /// Its instances.
    pub instances: Vec<NodeId>,
    /// Each instance's server slot at the load balancers (1 to `max`),
    /// in the order of `instances`: the k-th of the first `desired` is in
    /// slot k unless the file's `instances` says otherwise, and an
    /// instance keeps its slot while others come and go.
    pub slots: Vec<u32>,
    /// Its subnets, in the file's order (instances are spread over their
    /// zones).
    pub subnets: Vec<SubnetId>,
    /// Desired capacity.
    pub desired: u32,
    /// Minimum capacity.
    pub min: u32,
    /// Maximum capacity.
    pub max: u32,
    /// How it scales.
    pub scaling: ScalingSettings,
}

/// `[sim]`: how `vifgate sim` plays the topology in its lab. The default
/// is what a file without `[sim]` gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimSettings {
    /// How a load balancer node is played.
    pub load_balancer: LoadBalancerMode,
    /// Commands started in nodes when the lab comes up, in file order.
    pub start: Vec<StartCommand>,
    /// The BGP daemon of each office node that ends a session, where the
    /// file chooses one (`[sim] bgp_daemon`); BIRD otherwise.
    pub bgp_daemons: std::collections::BTreeMap<NodeId, BgpDaemon>,
    /// `[sim] time_scale`: how many AWS seconds one lab second stands for
    /// (1 to [`MAX_TIME_SCALE`], default [`DEFAULT_TIME_SCALE`]). Health
    /// checks, deregistration delays and slow starts run that much
    /// faster in the lab; cookie lifetimes stay real.
    pub time_scale: u32,
    /// `[sim] cpu_per_request`: CPU time a target's listener spends on
    /// each HTTP request (so that CPU follows load); the offline
    /// analysis's default cost of a request too. None spends nothing.
    pub cpu_per_request: Option<std::time::Duration>,
    /// `[sim] autoscale`: whether the lab runs the scaling controller of
    /// its Auto Scaling groups (default true); false leaves capacity to
    /// `sim apply` and the foreground `sim autoscale`.
    pub autoscale: bool,
}

/// `[sim] time_scale` when the file gives none: one lab second stands
/// for one AWS minute.
pub const DEFAULT_TIME_SCALE: u32 = 60;

/// The largest `[sim] time_scale`: one lab second for an AWS hour.
pub const MAX_TIME_SCALE: u32 = 3600;

/// The largest `[sim] cpu_per_request`.
pub const MAX_CPU_PER_REQUEST: std::time::Duration = std::time::Duration::from_secs(1);

impl Default for SimSettings {
    fn default() -> Self {
        SimSettings {
            load_balancer: LoadBalancerMode::default(),
            start: Vec::new(),
            bgp_daemons: Default::default(),
            time_scale: DEFAULT_TIME_SCALE,
            cpu_per_request: None,
            autoscale: true,
        }
    }
}

impl SimSettings {
    /// `aws`, a duration of AWS's clock, on the lab's clock (divided by
    /// [`SimSettings::time_scale`]).
    pub fn lab_time(&self, aws: std::time::Duration) -> std::time::Duration {
        aws / self.time_scale.max(1)
    }

    /// The BGP daemon that plays `node` in the lab.
    pub fn bgp_daemon_of(&self, node: NodeId) -> BgpDaemon {
        self.bgp_daemons.get(&node).copied().unwrap_or_default()
    }
}

impl SimSettings {
    /// The start commands that run in `node`.
    pub fn commands_for(&self, node: NodeId) -> impl Iterator<Item = &StartCommand> + '_ {
        self.start.iter().filter(move |c| c.nodes.contains(&node))
    }

    /// The TCP ports start commands serve on `node`, sorted, each once.
    pub fn tcp_ports_of(&self, node: NodeId) -> Vec<u16> {
        let mut ports: Vec<u16> = self
            .commands_for(node)
            .flat_map(|c| c.tcp_ports.iter().copied())
            .collect();
        ports.sort_unstable();
        ports.dedup();
        ports
    }

    /// The UDP ports start commands serve on `node`, sorted, each once.
    pub fn udp_ports_of(&self, node: NodeId) -> Vec<u16> {
        let mut ports: Vec<u16> = self
            .commands_for(node)
            .flat_map(|c| c.udp_ports.iter().copied())
            .collect();
        ports.sort_unstable();
        ports.dedup();
        ports
    }
}

/// How the simulator plays a load balancer node (`[sim] load_balancer`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LoadBalancerMode {
    /// `listener`: the lab's own listener on each listener port, answering
    /// for the load balancer itself.
    #[default]
    Listener,
    /// `haproxy`: an HAProxy in the node forwarding each listener to its
    /// targets.
    Haproxy,
}

impl LoadBalancerMode {
    /// The name used in the file: `listener` or `haproxy`.
    pub fn as_str(self) -> &'static str {
        match self {
            LoadBalancerMode::Listener => "listener",
            LoadBalancerMode::Haproxy => "haproxy",
        }
    }
}

/// `[[sim.start]]`: a command run in nodes when the lab comes up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartCommand {
    /// The nodes it runs in, in the order given, each once.
    pub nodes: Vec<NodeId>,
    /// Run with `sh -c` inside each node's namespace, as written.
    pub command: String,
    /// TCP ports it serves (the lab's probe listeners stay off them), in
    /// the order given, each once.
    pub tcp_ports: Vec<u16>,
    /// UDP ports it serves, in the order given, each once.
    pub udp_ports: Vec<u16>,
    /// Line of the entry in the file, for reports.
    pub line: usize,
}

impl Topology {
    /// The node with this name.
    pub fn node_by_name(&self, name: &str) -> Option<NodeId> {
        self.nodes.iter().position(|n| n.name == name)
    }

    /// The node and interface owning a private address.
    pub fn owner_of(&self, addr: Ipv4Addr) -> Option<(NodeId, usize)> {
        self.addr_owner.get(&addr).copied()
    }

    /// The node and interface a public address maps to.
    pub fn public_owner_of(&self, addr: Ipv4Addr) -> Option<(NodeId, usize)> {
        self.public_owner.get(&addr).copied()
    }

    /// The subnet containing an address.
    pub fn subnet_of(&self, addr: Ipv4Addr) -> Option<SubnetId> {
        self.subnets.iter().position(|s| s.cidr.contains(&addr))
    }

    /// The routing table of an office node.
    pub fn office_rib(&self, node: NodeId) -> Option<&OfficeRib> {
        self.office_ribs.get(&node)
    }

    /// The security-group rule index.
    pub fn sg_index(&self) -> &crate::security_group::SgIndex {
        &self.sg_index
    }

    /// The private addresses of a group's members.
    pub fn members_of(&self, sg: SgId) -> &[Ipv4Addr] {
        &self.sg_members[sg]
    }

    /// The endpoints of the host × host matrix, in file order.
    pub fn endpoints(&self) -> impl Iterator<Item = NodeId> + '_ {
        (0..self.nodes.len()).filter(|&n| self.nodes[n].is_endpoint())
    }

    /// The route the VGW takes toward `dst`: the matched prefix and the
    /// link.
    pub fn vgw_route(&self, dst: Ipv4Addr) -> Option<(Ipv4Net, VgwPath)> {
        self.vgw_table.lookup(dst).map(|(p, path)| (p, *path))
    }

    /// The prefixes the VGW has a best route to, each once, with the link
    /// it takes (what propagates into the VPC's route tables).
    pub fn vgw_routes(&self) -> Vec<(Ipv4Net, VgwPath)> {
        self.vgw_routes.clone()
    }
}

/// How the VGW reaches an office prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VgwPath {
    /// Over a Direct Connect VIF.
    Vif(VifId),
    /// Over the Site-to-Site VPN.
    Vpn,
}

impl PeerResolver for Topology {
    fn is_member(&self, sg: SgId, addr: Ipv4Addr) -> bool {
        self.sg_members[sg].binary_search(&addr).is_ok()
    }

    fn prefix_list(&self, id: PrefixListId) -> &[Ipv4Net] {
        &self.prefix_lists[id].cidrs
    }
}
