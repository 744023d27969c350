//! The TOML file format, as read: plain serde types that keep the position
//! of every value so that [`crate::resolve`] can point at mistakes.
//!
//! `docs/topology.md` documents every field; keep the two in step.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use toml::Spanned;

/// A string with its place in the file.
pub type Str = Spanned<String>;
/// An integer with its place in the file.
pub type Int = Spanned<i64>;
/// Any TOML value with its place in the file: for fields written as a
/// string with a unit (`"2ms"`, `"1Gbps"`, `"1%"`), so that a bare number
/// gets a precise error and a hint rather than a type error.
pub type AnyValue = Spanned<toml::Value>;

/// A value written either as a number or as a string (`protocol = 6` or
/// `protocol = "tcp"`, `ports = 80` or `ports = "1024-65535"`).
#[derive(Debug, Clone)]
pub enum NumOrStr {
    /// A number.
    Num(i64),
    /// A string.
    Str(String),
}

// By hand rather than `#[serde(untagged)]`, whose error names the Rust
// type ("data did not match any variant of untagged enum NumOrStr").
impl<'de> Deserialize<'de> for NumOrStr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        /// Accepts an integer or a string.
        struct NumOrStrVisitor;
        impl Visitor<'_> for NumOrStrVisitor {
            type Value = NumOrStr;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer or a string, like 6 or \"tcp\", 80 or \"1024-65535\"")
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<NumOrStr, E> {
                Ok(NumOrStr::Num(n))
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<NumOrStr, E> {
                i64::try_from(n)
                    .map(NumOrStr::Num)
                    .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(n), &self))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<NumOrStr, E> {
                Ok(NumOrStr::Str(s.to_string()))
            }
        }
        deserializer.deserialize_any(NumOrStrVisitor)
    }
}

impl NumOrStr {
    /// As text, numbers written in decimal.
    pub fn as_text(&self) -> String {
        match self {
            NumOrStr::Num(n) => n.to_string(),
            NumOrStr::Str(s) => s.clone(),
        }
    }
}

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTopology {
    /// Name of the topology.
    pub name: Option<Str>,
    /// Free text.
    pub description: Option<String>,
    /// Office sites.
    #[serde(default)]
    pub site: Vec<RawSite>,
    /// The VPC.
    pub vpc: Option<RawVpc>,
    /// The node standing for the public internet.
    pub internet: Option<RawInternet>,
    /// Security groups (VPC interfaces and the office gateway's policy).
    #[serde(default)]
    pub security_group: Vec<RawSecurityGroup>,
    /// Managed prefix lists.
    #[serde(default)]
    pub prefix_list: Vec<RawPrefixList>,
    /// The Direct Connect connection and its virtual interfaces.
    pub direct_connect: Option<RawDirectConnect>,
    /// Site-to-Site VPN (backup).
    pub vpn: Option<RawVpn>,
    /// Intended reachability.
    #[serde(default)]
    pub expect: Vec<RawExpect>,
    /// Settings only the simulator reads; the analysis ignores them.
    pub sim: Option<RawSim>,
}

/// An office site.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSite {
    /// Site name.
    pub name: Str,
    /// LANs of the site.
    #[serde(default)]
    pub lan: Vec<RawLan>,
    /// Routers.
    #[serde(default)]
    pub router: Vec<RawRouter>,
    /// vifgate gateway boxes: routers that end a VIF or VPN and enforce a
    /// security-group policy on what crosses it.
    #[serde(default)]
    pub gateway: Vec<RawRouter>,
    /// End hosts.
    #[serde(default)]
    pub host: Vec<RawOfficeHost>,
}

/// An office LAN.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLan {
    /// LAN name.
    pub name: Str,
    /// Its IPv4 block.
    pub cidr: Str,
}

/// An interface of an office router or gateway.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawInterface {
    /// The LAN it is in.
    pub lan: Str,
    /// Its address in that LAN.
    pub ip: Str,
}

/// A static route of an office router.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStaticRoute {
    /// Destination block.
    pub prefix: Str,
    /// Next-hop address, on one of the router's LANs.
    pub via: Str,
}

/// An office router or gateway box.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRouter {
    /// Node name.
    pub name: Str,
    /// Interfaces.
    #[serde(default)]
    pub interfaces: Vec<RawInterface>,
    /// Static routes.
    #[serde(default)]
    pub routes: Vec<RawStaticRoute>,
    /// Gateways only: groups whose ingress rules admit traffic from the
    /// VIF/VPN into the office and whose egress rules admit traffic from the
    /// office into the VIF/VPN. Stateful.
    pub security_groups: Option<Vec<Str>>,
}

/// An office host.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOfficeHost {
    /// Node name.
    pub name: Str,
    /// Its LAN.
    pub lan: Str,
    /// Its address.
    pub ip: Str,
    /// Default gateway; the first router on the LAN when omitted.
    pub gateway: Option<Str>,
}

/// The VPC.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawVpc {
    /// VPC name.
    pub name: Str,
    /// Primary IPv4 block.
    pub cidr: Str,
    /// Region, e.g. `ap-northeast-2`.
    pub region: Str,
    /// Availability zones, as suffixes (`a`) or full names.
    #[serde(default)]
    pub azs: Vec<Str>,
    /// The internet gateway.
    pub internet_gateway: Option<RawNamed>,
    /// The virtual private gateway.
    pub vgw: Option<RawVgw>,
    /// Subnets.
    #[serde(default)]
    pub subnet: Vec<RawSubnet>,
    /// Route tables.
    #[serde(default)]
    pub route_table: Vec<RawRouteTable>,
    /// Network ACLs.
    #[serde(default)]
    pub nacl: Vec<RawNacl>,
    /// NAT gateways.
    #[serde(default)]
    pub nat_gateway: Vec<RawNatGateway>,
    /// EC2 instances.
    #[serde(default)]
    pub instance: Vec<RawInstance>,
    /// Auto Scaling groups.
    #[serde(default)]
    pub auto_scaling_group: Vec<RawAutoScalingGroup>,
    /// Application load balancers.
    #[serde(default)]
    pub load_balancer: Vec<RawLoadBalancer>,
    /// RDS databases.
    #[serde(default)]
    pub database: Vec<RawDatabase>,
}

/// Something with only a name.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNamed {
    /// Its name.
    pub name: Str,
}

/// The virtual private gateway.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawVgw {
    /// Its name.
    pub name: Str,
    /// Amazon-side ASN (default 64512).
    pub asn: Option<Int>,
}

/// A subnet.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSubnet {
    /// Subnet name.
    pub name: Str,
    /// Availability zone, one of the VPC's.
    pub az: Str,
    /// IPv4 block inside the VPC's.
    pub cidr: Str,
    /// Whether it is meant to be public (informational; routing decides).
    #[serde(default)]
    pub public: bool,
    /// Route table; the main table when omitted.
    pub route_table: Option<Str>,
    /// Network ACL; the default ACL when omitted.
    pub nacl: Option<Str>,
}

/// A route table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRouteTable {
    /// Table name.
    pub name: Str,
    /// Whether this is the VPC's main table.
    #[serde(default)]
    pub main: bool,
    /// Whether the VGW propagates routes into it.
    #[serde(default)]
    pub propagate_vgw: bool,
    /// Static routes.
    #[serde(default)]
    pub routes: Vec<RawRoute>,
}

/// A static VPC route.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    /// Destination block.
    pub prefix: Str,
    /// The name of an internet gateway, NAT gateway, VGW or instance, or
    /// `blackhole`.
    pub target: Str,
}

/// A network ACL.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNacl {
    /// ACL name.
    pub name: Str,
    /// Inbound rules.
    #[serde(default)]
    pub ingress: Vec<RawNaclRule>,
    /// Outbound rules.
    #[serde(default)]
    pub egress: Vec<RawNaclRule>,
}

/// A numbered ACL rule.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNaclRule {
    /// Rule number 1-32766.
    pub rule: Int,
    /// `allow` or `deny`.
    pub action: Str,
    /// Protocol name, number, or -1.
    pub protocol: Spanned<NumOrStr>,
    /// Destination ports (`80`, `"1024-65535"`) for tcp/udp.
    pub ports: Option<Spanned<NumOrStr>>,
    /// ICMP type (-1 = all).
    pub icmp_type: Option<Int>,
    /// ICMP code (-1 = all).
    pub icmp_code: Option<Int>,
    /// Source (inbound) or destination (outbound) block.
    pub cidr: Str,
}

/// A security group.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSecurityGroup {
    /// Group name.
    pub name: Str,
    /// Free text.
    pub description: Option<String>,
    /// Inbound allow rules.
    #[serde(default)]
    pub ingress: Vec<RawSgRule>,
    /// Outbound allow rules; omitted means allow all (a new group's
    /// default), `[]` means none.
    pub egress: Option<Spanned<Vec<RawSgRule>>>,
}

/// A security-group rule.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSgRule {
    /// Protocol name, number, or -1.
    pub protocol: Spanned<NumOrStr>,
    /// Destination ports for tcp/udp.
    pub ports: Option<Spanned<NumOrStr>>,
    /// ICMP type (-1 = all).
    pub icmp_type: Option<Int>,
    /// ICMP code (-1 = all).
    pub icmp_code: Option<Int>,
    /// Peer: an IPv4 block.
    pub cidr: Option<Str>,
    /// Peer: the members of a group.
    pub sg: Option<Str>,
    /// Peer: a prefix list.
    pub prefix_list: Option<Str>,
    /// Free text.
    pub description: Option<String>,
}

/// A managed prefix list.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPrefixList {
    /// List name.
    pub name: Str,
    /// Its blocks.
    pub cidrs: Vec<Str>,
}

/// A NAT gateway.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNatGateway {
    /// Node name.
    pub name: Str,
    /// Its (public) subnet.
    pub subnet: Str,
    /// Private address.
    pub ip: Str,
    /// Elastic IP.
    pub public_ip: Str,
}

/// An EC2 instance with one network interface.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawInstance {
    /// Node name.
    pub name: Str,
    /// Its subnet.
    pub subnet: Str,
    /// Private address.
    pub ip: Str,
    /// Public or Elastic IP.
    pub public_ip: Option<Str>,
    /// Up to 5 groups; the VPC's default group when omitted.
    pub security_groups: Option<Vec<Str>>,
    /// Source/destination check (default true); false lets it forward.
    pub source_dest_check: Option<bool>,
}

/// An Auto Scaling group: its desired count of instances, spread over its
/// subnets, named `<host_prefix>-<az><n>`, addresses from the first free.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAutoScalingGroup {
    /// Group name.
    pub name: Str,
    /// Prefix of the host names.
    pub host_prefix: Str,
    /// Subnets, spread round-robin.
    pub subnets: Vec<Str>,
    /// Groups of each instance.
    pub security_groups: Option<Vec<Str>>,
    /// Each instance gets a placeholder public address at launch (the
    /// subnet's `MapPublicIpOnLaunch` or `AssociatePublicIpAddress`).
    pub public_ip: Option<bool>,
    /// Desired capacity.
    pub desired: Int,
    /// Minimum capacity.
    pub min: Option<Int>,
    /// Maximum capacity.
    pub max: Option<Int>,
    /// `EC2` (default) or `ELB`.
    pub health_check_type: Option<Str>,
    /// A duration: failed checks are ignored this long after launch.
    pub health_check_grace_period: Option<AnyValue>,
    /// A duration: warm-up of new instances for policies that set none.
    pub default_instance_warmup: Option<AnyValue>,
    /// A duration: the simple-scaling cooldown.
    pub default_cooldown: Option<AnyValue>,
    /// Target-tracking policies.
    #[serde(default)]
    pub target_tracking: Vec<RawTargetTracking>,
    /// Step-scaling policies.
    #[serde(default)]
    pub step_scaling: Vec<RawStepScaling>,
    /// Scheduled actions.
    #[serde(default)]
    pub scheduled: Vec<RawScheduled>,
    /// The instances it runs, by name and load-balancer slot, when not
    /// the first `desired` (the lab's copy of a topology records the
    /// instances its scaling controller chose).
    pub instances: Option<Spanned<Vec<RawAsgInstance>>>,
}

/// `instances = [{ name = "web-a2", slot = 3 }]`: one instance of an Auto
/// Scaling group.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAsgInstance {
    /// `<host_prefix>-<zone><n>`.
    pub name: Str,
    /// Its server slot at the load balancers (1 to the group's `max`).
    pub slot: Int,
}

/// An application (or network) load balancer.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLoadBalancer {
    /// Node name.
    pub name: Str,
    /// `application` (default) or `network`.
    #[serde(rename = "type")]
    pub lb_type: Option<Str>,
    /// One subnet per AZ.
    pub subnets: Vec<Str>,
    /// Private address in each subnet, in the same order.
    pub ips: Vec<Str>,
    /// Public addresses (internet-facing), in the same order.
    #[serde(default)]
    pub public_ips: Vec<Str>,
    /// Groups.
    pub security_groups: Option<Vec<Str>>,
    /// Listeners.
    #[serde(default)]
    pub listeners: Vec<RawListener>,
}

/// A load-balancer listener.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawListener {
    /// Listening port.
    pub port: Int,
    /// `http`, `https`, `tcp`.
    pub protocol: Option<Str>,
    /// Target hosts or Auto Scaling groups.
    pub targets: Vec<Str>,
    /// Port on the targets.
    pub target_port: Int,
    /// `{ type = "lb_cookie", duration = "1d" }` or `{ type =
    /// "app_cookie", cookie_name = "...", duration = "5d" }`.
    pub stickiness: Option<Spanned<RawStickiness>>,
    /// A duration, 0 to 3600 s (default 300 s).
    pub deregistration_delay: Option<AnyValue>,
    /// A duration, 30 to 900 s, or 0 for off (the default).
    pub slow_start: Option<AnyValue>,
    /// The target group's health check.
    pub health_check: Option<Spanned<RawHealthCheck>>,
}

/// An RDS database, primary and optional Multi-AZ standby.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDatabase {
    /// Database name.
    pub name: Str,
    /// Engine, e.g. `mysql`.
    pub engine: Option<String>,
    /// Port it listens on.
    pub port: Option<Int>,
    /// Groups of both hosts.
    pub security_groups: Option<Vec<Str>>,
    /// The primary.
    pub primary: RawDbHost,
    /// The standby in another AZ.
    pub standby: Option<RawDbHost>,
}

/// One RDS host.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDbHost {
    /// Node name.
    pub name: Str,
    /// Its subnet.
    pub subnet: Str,
    /// Its address.
    pub ip: Str,
}

/// The public internet, as one node.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawInternet {
    /// Node name (default `internet`).
    pub name: Option<Str>,
    /// A public address that stands for "a host on the internet".
    pub ip: Str,
}

/// Direct Connect.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDirectConnect {
    /// The physical connection.
    pub connection: Option<RawDxConnection>,
    /// Virtual interfaces.
    #[serde(default)]
    pub vif: Vec<RawVif>,
}

/// A Direct Connect connection.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDxConnection {
    /// Its name.
    pub name: Str,
    /// DX location.
    pub location: Option<String>,
    /// Port speed, a rate: `1Gbps`, `500Mbps`, `1.5Gbps`.
    pub bandwidth: Option<AnyValue>,
    /// One-way delay of the emulated link, a duration: `2ms`, `250us`.
    pub latency: Option<AnyValue>,
    /// Variation of that delay (±), a duration.
    pub jitter: Option<AnyValue>,
    /// Random loss, a percentage: `0.1%`.
    pub loss: Option<AnyValue>,
}

/// A private virtual interface.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawVif {
    /// Its name.
    pub name: Str,
    /// 802.1Q VLAN id 1-4094.
    pub vlan: Int,
    /// Customer BGP ASN.
    pub customer_asn: Int,
    /// Amazon-side ASN; the VGW's when omitted.
    pub amazon_asn: Option<Int>,
    /// Customer peer address, e.g. `169.254.100.1/30`.
    pub customer_address: Str,
    /// Amazon peer address, e.g. `169.254.100.2/30`.
    pub amazon_address: Str,
    /// 1500 or 9001.
    pub mtu: Option<Int>,
    /// Where the BGP MD5 key is: `env:NAME` or `file:PATH` (never the key).
    pub md5_key: Option<Str>,
    /// The office gateway or router that ends it.
    pub customer_router: Str,
    /// The VGW it attaches to.
    pub vgw: Option<Str>,
    /// Prefixes the customer advertises over BGP, plain or with their
    /// BGP attributes.
    #[serde(default)]
    pub advertised_prefixes: Vec<Spanned<RawPrefix>>,
    /// `up` (default) or `down`, for what-if analysis.
    pub state: Option<Str>,
    /// The office's BGP hold time, in seconds (3-65535).
    pub hold_time: Option<Int>,
    /// The office's BGP keepalive, in seconds (less than the hold time).
    pub keepalive: Option<Int>,
    /// BFD on the session: `{ interval = "300ms", multiplier = 3 }`.
    pub bfd: Option<Spanned<RawBfd>>,
    /// Local preference the office gives the routes it learns over the
    /// VIF (0-4294967295).
    pub local_preference: Option<Int>,
}

/// One element of `advertised_prefixes` (VIF) or `prefixes` (VPN): a CIDR
/// block in a string, or an inline table with its BGP attributes.
#[derive(Debug)]
pub enum RawPrefix {
    /// `"192.168.10.0/24"`: the block, no community, no prepending (its
    /// place is the element's).
    Plain(String),
    /// `{ prefix = "192.168.10.0/24", communities = [...], prepend = 2 }`.
    WithAttributes(RawPrefixAttributes),
}

/// A prefix with its BGP attributes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPrefixAttributes {
    /// The block.
    pub prefix: Str,
    /// Standard communities, `"ASN:VALUE"` (AWS reads 7224:7100/7200/7300).
    #[serde(default)]
    pub communities: Vec<Str>,
    /// Extra copies of the office's ASN in the AS path.
    pub prepend: Option<Int>,
}

// By hand rather than `#[serde(untagged)]`: an untagged enum buffers its
// input and loses the places of the values inside (`Spanned` needs the
// TOML deserializer itself), and its error names no field.
impl<'de> Deserialize<'de> for RawPrefix {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        /// Accepts a string or a table.
        struct PrefixVisitor;
        impl<'de> Visitor<'de> for PrefixVisitor {
            type Value = RawPrefix;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a CIDR block in quotes, or a table like { prefix = \"192.168.10.0/24\", communities = [\"7224:7300\"], prepend = 1 }",
                )
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<RawPrefix, E> {
                Ok(RawPrefix::Plain(s.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawPrefix, A::Error> {
                RawPrefixAttributes::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(RawPrefix::WithAttributes)
            }
        }
        deserializer.deserialize_any(PrefixVisitor)
    }
}

/// `bfd = { interval = "300ms", multiplier = 3 }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBfd {
    /// Transmit and receive interval, a duration (default and AWS's
    /// minimum: 300ms).
    pub interval: Option<AnyValue>,
    /// Missed packets before the session is declared down (default and
    /// AWS's minimum: 3).
    pub multiplier: Option<Int>,
}

/// A Site-to-Site VPN connection to the VGW.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawVpn {
    /// Its name.
    pub name: Str,
    /// Office gateway or router that ends it.
    pub customer_gateway: Str,
    /// `static` or `bgp`.
    pub routing: Option<Str>,
    /// Office prefixes reached through it (with BGP: what the office
    /// advertises, plain or with attributes as on a VIF).
    #[serde(default)]
    pub prefixes: Vec<Spanned<RawPrefix>>,
    /// `up` (default) or `down`.
    pub state: Option<Str>,
    /// Inside tunnel block; the customer end takes its second address
    /// (default `169.254.10.0/30`).
    pub tunnel_inside_cidr: Option<Str>,
    /// The office's ASN (required with `routing = "bgp"`).
    pub customer_asn: Option<Int>,
    /// The office's BGP hold time, in seconds (BGP routing only).
    pub hold_time: Option<Int>,
    /// The office's BGP keepalive, in seconds (BGP routing only).
    pub keepalive: Option<Int>,
    /// Local preference the office gives the routes it learns over the
    /// VPN (BGP routing only).
    pub local_preference: Option<Int>,
}

/// An intended reachability fact.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExpect {
    /// Source node.
    pub from: Str,
    /// Destination node or address.
    pub to: Str,
    /// `tcp`, `udp`, `icmp` or a number.
    pub protocol: Spanned<NumOrStr>,
    /// Destination port for tcp/udp.
    pub port: Option<Int>,
    /// `ACCEPTED`, `DENIED` or `NO_ROUTE`.
    pub verdict: Str,
    /// Why this should hold.
    pub description: Option<String>,
}

/// `[sim]`: how `vifgate sim` plays the topology in its lab.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSim {
    /// `listener` (default) or `haproxy`: how a load balancer node is played.
    pub load_balancer: Option<Str>,
    /// Commands started in nodes when the lab comes up.
    #[serde(default)]
    pub start: Vec<Spanned<RawStart>>,
    /// The BGP daemon of office nodes: `{ NODE = "bird" | "frr" }`.
    #[serde(default)]
    pub bgp_daemon: BTreeMap<Str, Str>,
    /// AWS seconds per lab second (default 60).
    pub time_scale: Option<Int>,
    /// CPU time a target's listener spends per request (`"20ms"`).
    pub cpu_per_request: Option<Spanned<toml::Value>>,
    /// Whether the lab runs its Auto Scaling groups' controller (default
    /// true).
    pub autoscale: Option<bool>,
}

/// `[[sim.start]]`: a command run in some nodes when the lab comes up.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStart {
    /// One node.
    pub node: Option<Str>,
    /// Several nodes.
    pub nodes: Option<Spanned<Vec<Str>>>,
    /// Run with `sh -c` in each node's namespace.
    pub command: Str,
    /// TCP ports the command serves.
    #[serde(default)]
    pub tcp_ports: Vec<Int>,
    /// UDP ports the command serves.
    #[serde(default)]
    pub udp_ports: Vec<Int>,
}

/// `stickiness = { ... }` of a listener's target group.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStickiness {
    /// `lb_cookie` or `app_cookie`.
    #[serde(rename = "type")]
    pub kind: Str,
    /// The application's cookie (`app_cookie` only).
    pub cookie_name: Option<Str>,
    /// A duration, 1 s to 7 days (default 1 day).
    pub duration: Option<AnyValue>,
}

/// `health_check = { ... }` of a listener's target group.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHealthCheck {
    /// HTTP path (default `/`).
    pub path: Option<Str>,
    /// A duration, 5 to 300 s (default 30 s).
    pub interval: Option<AnyValue>,
    /// A duration, 2 to 120 s and less than the interval (default 5 s).
    pub timeout: Option<AnyValue>,
    /// 2 to 10 (default 5).
    pub healthy_threshold: Option<Int>,
    /// 2 to 10 (default 2).
    pub unhealthy_threshold: Option<Int>,
}

/// `[[vpc.auto_scaling_group.target_tracking]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTargetTracking {
    /// Policy name (default `target-tracking-<n>`).
    pub name: Option<Str>,
    /// `ALBRequestCountPerTarget`, `ASGAverageCPUUtilization`,
    /// `ASGAverageNetworkIn` or `ASGAverageNetworkOut`.
    pub metric: Str,
    /// The load balancer whose target group is counted
    /// (`ALBRequestCountPerTarget` only).
    pub load_balancer: Option<Str>,
    /// The value to keep the metric at, above 0.
    pub target: Spanned<f64>,
    /// Never remove instances (default false).
    pub disable_scale_in: Option<bool>,
    /// A duration: how long a new instance is left out of the metric.
    pub instance_warmup: Option<AnyValue>,
}

/// `[[vpc.auto_scaling_group.step_scaling]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStepScaling {
    /// Policy name (default `step-scaling-<n>`).
    pub name: Option<Str>,
    /// The alarm's metric, as for target tracking.
    pub metric: Str,
    /// The load balancer (`ALBRequestCountPerTarget` only).
    pub load_balancer: Option<Str>,
    /// The alarm's threshold.
    pub threshold: Spanned<f64>,
    /// `GreaterThanOrEqualToThreshold`, `GreaterThanThreshold`,
    /// `LessThanThreshold` or `LessThanOrEqualToThreshold`.
    pub comparison: Str,
    /// Breaching datapoints that raise the alarm (default: all).
    pub datapoints: Option<Int>,
    /// One-minute datapoints looked at (default 1).
    pub evaluation_periods: Option<Int>,
    /// `ChangeInCapacity`, `ExactCapacity` or `PercentChangeInCapacity`.
    pub adjustment_type: Str,
    /// The steps.
    pub steps: Vec<Spanned<RawStep>>,
    /// The smallest change with `PercentChangeInCapacity`.
    pub min_adjustment_magnitude: Option<Int>,
    /// A duration: how long a new instance is left out of the metric.
    pub instance_warmup: Option<AnyValue>,
}

/// One step: `{ lower = 0, upper = 10, adjustment = 1 }`, bounds relative
/// to the alarm's threshold.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    /// Lower bound (none: minus infinity).
    pub lower: Option<Spanned<f64>>,
    /// Upper bound (none: plus infinity).
    pub upper: Option<Spanned<f64>>,
    /// The adjustment.
    pub adjustment: Int,
}

/// `[[vpc.auto_scaling_group.scheduled]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScheduled {
    /// Action name (default `scheduled-<n>`).
    pub name: Option<Str>,
    /// `"minute hour day-of-month month day-of-week"`, in UTC.
    pub cron: Str,
    /// New minimum.
    pub min: Option<Int>,
    /// New maximum.
    pub max: Option<Int>,
    /// New desired capacity.
    pub desired: Option<Int>,
}
