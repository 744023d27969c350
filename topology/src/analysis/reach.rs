//! Reachability: walks a flow hop by hop through the model, then walks its
//! reply back, and says which route and which rule decided at each hop.
//!
//! Order of checks on the AWS side, as Reachability Analyzer applies them:
//! source interface's security groups (egress), source subnet's network ACL
//! (outbound), the subnet's route table, then at the far end the destination
//! subnet's network ACL (inbound) and the destination interface's groups
//! (ingress). Network ACLs are crossed only when a packet leaves or enters
//! a subnet. Security groups are stateful: the reply passes every group the
//! request passed. Network ACLs are not: the reply, addressed to the
//! client's ephemeral ports, needs its own rules.

use std::net::Ipv4Addr;

use super::trace::{Hop, NoRecord, Recorder, Step};
use super::{Service, Target, Verdict};
use crate::model::{Attachment, NextHop, NodeId, NodeKind, SubnetId, Topology, VgwPath};
use crate::route_table::RouteTarget;
use crate::security_group::{self, Direction};
use crate::traffic::{is_public, Packet, PortRange, L4};

/// The answer to "can A reach B on this service?".
#[derive(Debug, Clone, serde::Serialize)]
pub struct Reach {
    /// Source node.
    pub from: String,
    /// Destination node or address.
    pub to: String,
    /// Protocol and port, e.g. `tcp/3306`.
    pub service: String,
    /// The overall verdict: accepted only if every path is.
    pub verdict: Verdict,
    /// Why, in one line, when not accepted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The request's hops on the deciding path.
    pub hops: Vec<Hop>,
    /// The reply's hops on the deciding path.
    pub reply_hops: Vec<Hop>,
    /// Every path: one per source interface and destination address.
    pub paths: Vec<Path>,
}

/// One source address to one destination address.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Path {
    /// Source address.
    pub source: Ipv4Addr,
    /// Destination address.
    pub destination: Ipv4Addr,
    /// What this path comes to.
    pub verdict: Verdict,
    /// Why, when not accepted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The request.
    pub hops: Vec<Hop>,
    /// The reply (empty when the request did not arrive).
    pub reply_hops: Vec<Hop>,
}

/// Answers "can `from` reach `to` on `service`?" with full traces.
pub fn reach(t: &Topology, from: NodeId, to: Target, service: Service) -> Reach {
    let mut paths = Vec::new();
    for (src_iface, dst) in endpoints(t, from, to) {
        let mut fwd: Vec<Hop> = Vec::new();
        let mut back: Vec<Hop> = Vec::new();
        let (verdict, reason) = match &dst {
            Ok(dst) => walk_both(
                t,
                Query {
                    from,
                    src_iface,
                    dst: *dst,
                    service,
                },
                &mut fwd,
                &mut back,
                &mut FlowState::default(),
            ),
            Err(reason) => (Verdict::NoRoute, Some(reason.clone())),
        };
        paths.push(Path {
            source: match (src_iface, &dst) {
                (Some(i), _) => t.nodes[from].interfaces[i].ip,
                (None, Ok(d)) => source_address(t, from, *d)
                    .map(|(_, a)| a)
                    .unwrap_or(Ipv4Addr::UNSPECIFIED),
                (None, Err(_)) => Ipv4Addr::UNSPECIFIED,
            },
            destination: dst.clone().unwrap_or(Ipv4Addr::UNSPECIFIED),
            verdict,
            reason,
            hops: fwd,
            reply_hops: back,
        });
    }
    let deciding = paths
        .iter()
        .position(|p| p.verdict != Verdict::Accepted)
        .unwrap_or(0);
    let (verdict, reason, hops, reply_hops) = match paths.get(deciding) {
        Some(p) => (
            p.verdict,
            p.reason.clone(),
            p.hops.clone(),
            p.reply_hops.clone(),
        ),
        None => (
            Verdict::NoRoute,
            Some("the source has no interface".into()),
            vec![],
            vec![],
        ),
    };
    Reach {
        from: t.nodes[from].name.clone(),
        to: match to {
            Target::Node(n) => t.nodes[n].name.clone(),
            Target::Addr(a) => a.to_string(),
        },
        service: service.to_string(),
        verdict,
        reason,
        hops,
        reply_hops,
        paths,
    }
}

/// The verdict alone, without recording a trace (for the matrix).
/// Keeps the matrix's per-cell state off the heap: one per thread.
#[derive(Default)]
pub(crate) struct Scratch {
    state: FlowState,
}

pub(crate) fn verdict_only(
    t: &Topology,
    from: NodeId,
    to: Target,
    service: Service,
    scratch: &mut Scratch,
) -> Verdict {
    let src = &t.nodes[from];
    // the common case, one interface to one address, without building
    // the list of pairs
    if let (Target::Node(d), 1) = (to, src.interfaces.len()) {
        let dst = &t.nodes[d];
        let public = src.kind == NodeKind::Internet && dst.kind != NodeKind::Internet;
        if dst.interfaces.len() == 1 && !public && reachable_address(&dst.interfaces[0]) {
            let iface = (src.in_vpc() || src.kind == NodeKind::Internet).then_some(0);
            let d_ip = dst.interfaces[0].ip;
            return walk_both(
                t,
                Query {
                    from,
                    src_iface: iface,
                    dst: d_ip,
                    service,
                },
                &mut NoRecord,
                &mut NoRecord,
                &mut scratch.state,
            )
            .0;
        }
    }
    for (src_iface, dst) in endpoints(t, from, to) {
        let v = match dst {
            Ok(dst) => {
                walk_both(
                    t,
                    Query {
                        from,
                        src_iface,
                        dst,
                        service,
                    },
                    &mut NoRecord,
                    &mut NoRecord,
                    &mut scratch.state,
                )
                .0
            }
            Err(_) => Verdict::NoRoute,
        };
        if v != Verdict::Accepted {
            return v;
        }
    }
    Verdict::Accepted
}

/// Whether a node is addressed at this interface (not at a VIF or VPN end).
fn reachable_address(i: &crate::model::Interface) -> bool {
    matches!(
        i.attachment,
        Attachment::Lan(_) | Attachment::Subnet(_) | Attachment::Internet
    )
}

/// The (source interface, destination address) pairs to try. A node in the
/// VPC with several interfaces (a load balancer) sends from each; a
/// destination node is reached at each of its addresses — its public ones
/// when the source is the internet.
fn endpoints(
    t: &Topology,
    from: NodeId,
    to: Target,
) -> Vec<(Option<usize>, Result<Ipv4Addr, String>)> {
    let src = &t.nodes[from];
    let src_ifaces: Vec<Option<usize>> = if src.in_vpc() || src.kind == NodeKind::Internet {
        (0..src.interfaces.len()).map(Some).collect()
    } else {
        vec![None] // chosen by the node's routing table
    };
    let dsts: Vec<Result<Ipv4Addr, String>> = match to {
        Target::Addr(a) => vec![Ok(a)],
        Target::Node(d) => {
            let node = &t.nodes[d];
            if src.kind == NodeKind::Internet && node.kind != NodeKind::Internet {
                let public: Vec<_> = node
                    .interfaces
                    .iter()
                    .filter_map(|i| i.public_ip)
                    .map(Ok)
                    .collect();
                if public.is_empty() {
                    vec![Err(format!(
                        "{} has no public address; the internet cannot address it",
                        node.name
                    ))]
                } else {
                    public
                }
            } else {
                node.interfaces
                    .iter()
                    .filter(|i| reachable_address(i))
                    .map(|i| Ok(i.ip))
                    .collect()
            }
        }
    };
    let mut out = Vec::new();
    for s in &src_ifaces {
        for d in &dsts {
            out.push((*s, d.clone()));
        }
    }
    out
}

/// A class of packets: one packet, and the destination ports it stands for
/// (a reply goes to any of the client's ephemeral ports).
#[derive(Debug, Clone, Copy)]
struct Flow {
    pkt: Packet,
    src_ports: PortRange,
    dst_ports: PortRange,
}

/// One decision, or a port range split into several; one needs no heap.
enum Parts<T> {
    One(T),
    Many(Vec<T>),
}

impl<T> Parts<T> {
    fn as_slice(&self) -> &[T] {
        match self {
            Parts::One(x) => std::slice::from_ref(x),
            Parts::Many(v) => v,
        }
    }
}

/// How a walk ends.
enum End {
    Delivered {
        node: NodeId,
        iface: usize,
        flow: Flow,
    },
    Dropped(Verdict, String),
}

/// State a request leaves for its reply: what connection tracking and NAT
/// remember.
#[derive(Default)]
struct FlowState {
    /// Interfaces (node, interface) whose security groups admitted the
    /// request; `usize::MAX` for a gateway box's tunnel policy.
    tracked: Vec<(NodeId, usize)>,
    /// NAT gateway translations: (NAT node, original source, its ports).
    nat: Vec<(NodeId, Ipv4Addr, PortRange)>,
}

const GATEWAY_POLICY: usize = usize::MAX;
/// How a trace says that a flow to the source's own address stays inside.
const OWN_ADDRESS: &str =
    "its own address: the packet never leaves the node, no route, network ACL or security group applies";
const MAX_HOPS: usize = 64;

/// One flow to walk: from a node (and interface, when it has several) to an
/// address.
#[derive(Clone, Copy)]
struct Query {
    from: NodeId,
    src_iface: Option<usize>,
    dst: Ipv4Addr,
    service: Service,
}

fn walk_both(
    t: &Topology,
    q: Query,
    fwd: &mut impl Recorder,
    back: &mut impl Recorder,
    state: &mut FlowState,
) -> (Verdict, Option<String>) {
    let Query {
        from,
        src_iface,
        dst,
        service,
    } = q;
    state.tracked.clear();
    state.nat.clear();
    let node = &t.nodes[from];
    if node.interfaces.iter().any(|i| i.ip == dst) {
        // AWS, as any host: traffic to the node's own address never leaves
        // it (the loopback); no route, ACL or security group sees it
        fwd.hop(&node.name, || Some(format!("lo {dst}")));
        fwd.step(|| Step::Delivered {
            address: dst,
            note: Some(OWN_ADDRESS.into()),
        });
        return (Verdict::Accepted, None);
    }
    let (iface, src) = match src_iface {
        Some(i) => (Some(i), node.interfaces[i].ip),
        None => match source_address(t, from, dst) {
            Some((i, a)) => (Some(i), a),
            None => (
                None,
                node.interfaces
                    .first()
                    .map(|i| i.ip)
                    .unwrap_or(Ipv4Addr::UNSPECIFIED),
            ),
        },
    };
    let eph = node.ephemeral_ports;
    let l4 = match service {
        Service::Tcp(p) => L4::Tcp {
            src_port: eph.from,
            dst_port: p,
        },
        Service::Udp(p) => L4::Udp {
            src_port: eph.from,
            dst_port: p,
        },
        Service::IcmpEcho => L4::Icmp {
            icmp_type: 8,
            code: 0,
        },
        Service::Proto(p) => L4::Other(p),
    };
    let dst_ports = service
        .port()
        .map(PortRange::single)
        .unwrap_or(PortRange::ALL);
    let flow = Flow {
        pkt: Packet { src, dst, l4 },
        src_ports: eph,
        dst_ports,
    };

    let mut w = Walker {
        t,
        rec: fwd,
        reply: false,
        state,
        budget: MAX_HOPS,
    };
    let end = w.originate(from, iface, flow);
    let (dnode, diface, dflow) = match end {
        End::Dropped(v, why) => return (v, Some(why)),
        End::Delivered { node, iface, flow } => (node, iface, flow),
    };

    // the reply: from the address the request reached, to the address it
    // came from, to the ports it came from
    let rl4 = match dflow.pkt.l4 {
        L4::Tcp { src_port, dst_port } => L4::Tcp {
            src_port: dst_port,
            dst_port: src_port,
        },
        L4::Udp { src_port, dst_port } => L4::Udp {
            src_port: dst_port,
            dst_port: src_port,
        },
        L4::Icmp { .. } => L4::Icmp {
            icmp_type: 0,
            code: 0,
        },
        other => other,
    };
    let rflow = Flow {
        pkt: Packet {
            src: dflow.pkt.dst,
            dst: dflow.pkt.src,
            l4: rl4,
        },
        src_ports: dflow.dst_ports,
        dst_ports: if rl4.dst_port().is_some() {
            dflow.src_ports
        } else {
            PortRange::ALL
        },
    };
    let mut w = Walker {
        t,
        rec: back,
        reply: true,
        state,
        budget: MAX_HOPS,
    };
    match w.originate(dnode, Some(diface), rflow) {
        End::Dropped(v, why) => (v, Some(format!("reply: {why}"))),
        End::Delivered { node, flow, .. } => {
            if node == from && flow.pkt.dst == src {
                (Verdict::Accepted, None)
            } else {
                (
                    Verdict::NoRoute,
                    Some(format!(
                        "reply: delivered to {} ({}) instead of the source",
                        t.nodes[node].name, flow.pkt.dst
                    )),
                )
            }
        }
    }
}

/// The interface and address an office node sends from toward `dst`.
fn source_address(t: &Topology, node: NodeId, dst: Ipv4Addr) -> Option<(usize, Ipv4Addr)> {
    let n = &t.nodes[node];
    let route = t.office_rib(node)?.select(dst)?;
    let idx = n
        .interfaces
        .iter()
        .position(|i| match (route.next_hop, i.attachment) {
            (NextHop::Connected(l), Attachment::Lan(m)) => l == m,
            (NextHop::Via(via), Attachment::Lan(m)) => t.lans[m].cidr.contains(&via),
            (NextHop::Vif(v), Attachment::Vif(w)) => v == w,
            (NextHop::Vpn, Attachment::Vpn) => true,
            _ => false,
        })?;
    Some((idx, n.interfaces[idx].ip))
}

struct Walker<'a, R> {
    t: &'a Topology,
    rec: &'a mut R,
    reply: bool,
    state: &'a mut FlowState,
    budget: usize,
}

type Step1 = Result<Next, End>;

/// Where the packet goes next.
enum Next {
    /// Arrives at a node on an interface.
    Arrive(NodeId, usize),
    /// At the VPC's router, having left a subnet.
    FromSubnet(SubnetId),
    /// Leaves the VPC through the internet gateway.
    IgwOut,
    /// Enters the VPC through the internet gateway.
    IgwIn,
    /// Leaves the VPC through the VGW toward the office.
    VgwOut,
    /// Enters the VPC from the VGW.
    VgwIn,
    /// On an office LAN toward a neighbour address.
    Lan(usize, Ipv4Addr),
    /// Out of an office node by routing.
    Route(NodeId, Option<usize>),
}

impl<R: Recorder> Walker<'_, R> {
    /// Ends the walk with a drop, recorded as a step. The reason is only
    /// formatted when someone will read it.
    fn dropped(&mut self, v: Verdict, why: impl FnOnce() -> String) -> End {
        if !self.rec.enabled() {
            return End::Dropped(v, String::new());
        }
        let why = why();
        let w = why.clone();
        self.rec.step(|| Step::Dropped { reason: w });
        End::Dropped(v, why)
    }

    /// Ends the walk with a drop whose deciding step is already recorded.
    fn quiet(&self, v: Verdict, why: impl FnOnce() -> String) -> End {
        End::Dropped(
            v,
            if self.rec.enabled() {
                why()
            } else {
                String::new()
            },
        )
    }

    fn originate(&mut self, node: NodeId, iface: Option<usize>, mut flow: Flow) -> End {
        let t = self.t;
        let n = &t.nodes[node];
        self.rec
            .hop(&n.name, || iface.map(|i| iface_label(t, node, i)));
        let mut next = match n.kind {
            NodeKind::Internet => {
                if t.public_owner_of(flow.pkt.dst).is_some() {
                    Ok(Next::IgwIn)
                } else if flow.pkt.dst == n.interfaces[0].ip {
                    Ok(Next::Arrive(node, 0))
                } else {
                    Err(self.dropped(Verdict::NoRoute, || {
                        format!(
                            "{} is not an address the internet routes to anything in this topology",
                            flow.pkt.dst
                        )
                    }))
                }
            }
            _ if n.in_vpc() => {
                let i = iface.unwrap_or(0);
                match n.interfaces[i].attachment {
                    Attachment::Subnet(s) => self
                        .sg(node, i, Direction::Egress, &flow)
                        .map(|_| Next::FromSubnet(s)),
                    _ => Ok(Next::Route(node, None)),
                }
            }
            _ => Ok(Next::Route(node, None)),
        };
        loop {
            let step = match next {
                Ok(n) => n,
                Err(end) => return end,
            };
            if self.budget == 0 {
                return self.dropped(Verdict::NoRoute, || {
                    "routing loop: the packet never arrives".into()
                });
            }
            self.budget -= 1;
            next = match step {
                Next::Arrive(node, iface) => match self.arrive(node, iface, &mut flow) {
                    Ok(Some(n)) => Ok(n),
                    Ok(None) => return End::Delivered { node, iface, flow },
                    Err(e) => Err(e),
                },
                Next::FromSubnet(s) => self.vpc_router(s, &mut flow),
                Next::IgwOut => self.igw_out(&mut flow),
                Next::IgwIn => self.igw_in(&mut flow),
                Next::VgwOut => self.vgw_out(&flow),
                Next::VgwIn => self.vgw_in(&flow),
                Next::Lan(lan, via) => self.lan(lan, via),
                Next::Route(node, in_iface) => self.office_route(node, in_iface, &flow),
            };
        }
    }

    // ---- security groups and ACLs ----------------------------------------

    /// Security groups of (node, iface) on a packet crossing in `dir`.
    fn sg(&mut self, node: NodeId, iface: usize, dir: Direction, flow: &Flow) -> Result<(), End> {
        let t = self.t;
        let n = &t.nodes[node];
        if n.kind == NodeKind::NatGateway {
            return Ok(()); // NAT gateways have no security groups
        }
        let key = (node, iface);
        let names = || {
            n.security_groups
                .iter()
                .map(|&g| t.security_groups[g].name.clone())
                .collect::<Vec<_>>()
        };
        if self.reply && self.state.tracked.contains(&key) {
            self.rec.step(|| Step::Tracked {
                direction: dir,
                groups: names(),
            });
            return Ok(());
        }
        let single = flow.dst_ports.from == flow.dst_ports.to || flow.pkt.l4.dst_port().is_none();
        let parts = if single {
            // the common case, kept free of allocation
            let m = security_group::evaluate_indexed(
                &n.security_groups,
                &t.security_groups,
                t.sg_index(),
                dir,
                &flow.pkt,
                t,
            );
            Parts::One((flow.dst_ports, m))
        } else {
            Parts::Many(security_group::evaluate_ports(
                &n.security_groups,
                &t.security_groups,
                dir,
                &flow.pkt,
                flow.dst_ports,
                t,
            ))
        };
        let parts = parts.as_slice();
        for (range, m) in parts {
            match m {
                Some(m) => {
                    let g = &t.security_groups[m.group];
                    let rule = &g.rules(dir)[m.rule];
                    self.rec.step(|| Step::SecurityGroupAllow {
                        direction: dir,
                        group: g.name.clone(),
                        rule: m.rule + 1,
                        matched: rule_text(t, rule),
                    });
                }
                None => {
                    self.rec.step(|| Step::SecurityGroupDeny {
                        direction: dir,
                        groups: names(),
                    });
                    let what = if parts.len() > 1 {
                        format!(" for ports {range}")
                    } else {
                        String::new()
                    };
                    let who = if n.kind == NodeKind::Gateway {
                        "the gateway policy of"
                    } else {
                        "security groups of"
                    };
                    return Err(self.quiet(Verdict::Denied, || {
                        format!(
                            "{who} {} ({}) {dir}: no rule allows {}{what}",
                            n.name,
                            if names().is_empty() {
                                "no groups".to_string()
                            } else {
                                names().join(", ")
                            },
                            describe(&to_port_in(&flow.pkt, *range))
                        )
                    }));
                }
            }
        }
        if !self.reply {
            self.state.tracked.push(key);
        }
        Ok(())
    }

    fn nacl(&mut self, subnet: SubnetId, dir: Direction, flow: &Flow) -> Result<(), End> {
        let t = self.t;
        let s = &t.subnets[subnet];
        let acl = &t.nacls[s.nacl];
        let single = flow.dst_ports.from == flow.dst_ports.to || flow.pkt.l4.dst_port().is_none();
        let parts = if single {
            Parts::One((flow.dst_ports, acl.evaluate(dir, &flow.pkt)))
        } else {
            Parts::Many(acl.evaluate_ports(dir, &flow.pkt, flow.dst_ports))
        };
        let parts = parts.as_slice();
        let split = parts.len() > 1;
        for (range, d) in parts {
            self.rec.step(|| Step::Nacl {
                nacl: acl.name.clone(),
                subnet: s.name.clone(),
                direction: dir,
                rule: d.rule.map(|n| n.to_string()).unwrap_or_else(|| "*".into()),
                action: d.action,
                ports: split.then_some(*range),
            });
        }
        if let Some((range, d)) = parts.iter().find(|(_, d)| !d.allows()) {
            let rule = d.rule.map(|n| n.to_string()).unwrap_or_else(|| "*".into());
            // ports only for a protocol that has them, and an example
            // packet to a port the rule denies
            let has_ports = flow.pkt.l4.dst_port().is_some();
            let ports = if has_ports && (split || flow.dst_ports.from != flow.dst_ports.to) {
                format!(" to ports {range}")
            } else {
                String::new()
            };
            let what = if self.reply { "the reply" } else { "it" };
            return Err(self.quiet(Verdict::Denied, || {
                format!(
                    "network ACL {} of subnet {} {dir} rule {rule} denies {what}{ports} ({})",
                    acl.name,
                    s.name,
                    describe(&to_port_in(&flow.pkt, *range))
                )
            }));
        }
        Ok(())
    }

    // ---- VPC ---------------------------------------------------------------

    fn vpc_router(&mut self, from: SubnetId, flow: &mut Flow) -> Step1 {
        let t = self.t;
        let sub = &t.subnets[from];
        let rt = &t.route_tables[sub.route_table];
        self.rec.hop("vpc-router", || {
            Some(format!("from subnet {} ({})", sub.name, sub.cidr))
        });
        if sub.cidr.contains(&flow.pkt.dst) {
            // AWS: traffic to another interface of the same subnet is
            // delivered on the link; no route, not even one for the
            // subnet's own block, applies to it
            self.rec.step(|| Step::Route {
                table: rt.name.clone(),
                prefix: sub.cidr.to_string(),
                target: "local".into(),
                origin: crate::route_table::RouteOrigin::Local,
                source: Some("same subnet: delivered on the link, not routed".into()),
            });
            return self.local_delivery(from, flow);
        }
        let Some(route) = rt.select(flow.pkt.dst) else {
            return Err(self.dropped(Verdict::NoRoute, || {
                format!("route table {} has no route to {}", rt.name, flow.pkt.dst)
            }));
        };
        self.rec.step(|| Step::Route {
            table: rt.name.clone(),
            prefix: route.prefix.to_string(),
            target: route_target_name(t, route.target),
            origin: route.origin,
            source: None,
        });
        match route.target {
            RouteTarget::Local => self.local_delivery(from, flow),
            RouteTarget::InternetGateway => {
                self.nacl(from, Direction::Egress, flow)?;
                Ok(Next::IgwOut)
            }
            RouteTarget::Vgw => {
                self.nacl(from, Direction::Egress, flow)?;
                Ok(Next::VgwOut)
            }
            RouteTarget::NatGateway(n) | RouteTarget::Instance(n) => {
                let Attachment::Subnet(to) = t.nodes[n].interfaces[0].attachment else {
                    return Err(self.dropped(Verdict::NoRoute, || {
                        format!("{} is not in a subnet", t.nodes[n].name)
                    }));
                };
                if to != from {
                    self.nacl(from, Direction::Egress, flow)?;
                    self.nacl(to, Direction::Ingress, flow)?;
                }
                Ok(Next::Arrive(n, 0))
            }
            RouteTarget::Blackhole => Err(self.dropped(Verdict::NoRoute, || {
                format!("route {} in {} is a blackhole", route.prefix, rt.name)
            })),
        }
    }

    /// The `local` route: to the interface of the destination address in
    /// its subnet, through the network ACLs of both subnets when they
    /// differ.
    fn local_delivery(&mut self, from: SubnetId, flow: &Flow) -> Step1 {
        let t = self.t;
        let Some(to) = t.subnet_of(flow.pkt.dst) else {
            return Err(self.dropped(Verdict::NoRoute, || {
                format!("{} is in the VPC block but in no subnet", flow.pkt.dst)
            }));
        };
        if to != from {
            self.nacl(from, Direction::Egress, flow)?;
            self.nacl(to, Direction::Ingress, flow)?;
        }
        match t.owner_of(flow.pkt.dst) {
            Some((n, i)) if t.nodes[n].interfaces[i].attachment == Attachment::Subnet(to) => {
                Ok(Next::Arrive(n, i))
            }
            _ => Err(self.dropped(Verdict::NoRoute, || {
                format!(
                    "no interface in subnet {} has address {}",
                    t.subnets[to].name, flow.pkt.dst
                )
            })),
        }
    }

    fn igw_out(&mut self, flow: &mut Flow) -> Step1 {
        let t = self.t;
        let name = t
            .vpc
            .as_ref()
            .and_then(|v| v.internet_gateway.clone())
            .unwrap_or_else(|| "igw".into());
        self.rec.hop(&name, || None);
        let public = t
            .owner_of(flow.pkt.src)
            .and_then(|(n, i)| t.nodes[n].interfaces[i].public_ip);
        let Some(public) = public else {
            return Err(self.dropped(Verdict::NoRoute, || {
                format!(
                    "the internet gateway drops it: source {} has no public address",
                    flow.pkt.src
                )
            }));
        };
        let before = flow.pkt.src;
        flow.pkt.src = public;
        self.rec.step(|| Step::Nat {
            kind: "snat".into(),
            by: name.clone(),
            from: before.to_string(),
            to: public.to_string(),
        });
        if t.public_owner_of(flow.pkt.dst).is_some() {
            return Ok(Next::IgwIn);
        }
        if !is_public(flow.pkt.dst) {
            return Err(self.dropped(Verdict::NoRoute, || {
                format!(
                    "the internet gateway drops it: {} is not a public address",
                    flow.pkt.dst
                )
            }));
        }
        match t.nodes.iter().position(|n| n.kind == NodeKind::Internet) {
            Some(i) => Ok(Next::Arrive(i, 0)),
            None => Err(self.dropped(Verdict::NoRoute, || {
                "the topology has no [internet] node".into()
            })),
        }
    }

    fn igw_in(&mut self, flow: &mut Flow) -> Step1 {
        let t = self.t;
        let name = t.vpc.as_ref().and_then(|v| v.internet_gateway.clone());
        let Some(name) = name else {
            return Err(self.dropped(Verdict::NoRoute, || {
                "the VPC has no internet gateway".into()
            }));
        };
        self.rec.hop(&name, || None);
        let Some((n, i)) = t.public_owner_of(flow.pkt.dst) else {
            return Err(self.dropped(Verdict::NoRoute, || {
                format!("no interface has public address {}", flow.pkt.dst)
            }));
        };
        let private = t.nodes[n].interfaces[i].ip;
        let before = flow.pkt.dst;
        flow.pkt.dst = private;
        self.rec.step(|| Step::Nat {
            kind: "dnat".into(),
            by: name.clone(),
            from: before.to_string(),
            to: private.to_string(),
        });
        let Attachment::Subnet(s) = t.nodes[n].interfaces[i].attachment else {
            return Err(self.dropped(Verdict::NoRoute, || {
                "public address of a node outside the VPC".into()
            }));
        };
        self.rec.hop("vpc-router", || Some(format!("from {name}")));
        self.nacl(s, Direction::Ingress, flow)?;
        Ok(Next::Arrive(n, i))
    }

    fn vgw_out(&mut self, flow: &Flow) -> Step1 {
        let t = self.t;
        let vgw = t.vpc.as_ref().and_then(|v| v.vgw.as_ref());
        let Some(vgw) = vgw else {
            return Err(self.dropped(Verdict::NoRoute, || {
                "the VPC has no virtual private gateway".into()
            }));
        };
        self.rec.hop(&vgw.name, || None);
        let Some((prefix, path)) = t.vgw_route(flow.pkt.dst) else {
            return Err(self.dropped(Verdict::NoRoute, || {
                format!(
                    "the VGW has learned no route to {} (nothing advertised over the VIF or VPN)",
                    flow.pkt.dst
                )
            }));
        };
        match path {
            VgwPath::Vif(v) => {
                let vif = &t.vifs[v];
                self.rec.step(|| Step::Route {
                    table: vgw.name.clone(),
                    prefix: prefix.to_string(),
                    target: vif.name.clone(),
                    origin: crate::route_table::RouteOrigin::Propagated,
                    source: vgw_route_source(t, &vgw.name, prefix),
                });
                self.rec.hop(&vif.name, || None);
                self.rec.step(|| Step::Link {
                    name: vif.name.clone(),
                    detail: format!(
                        "private VIF VLAN {}, AS {} -> AS {}, {} -> {}, MTU {}",
                        vif.vlan,
                        vif.amazon_asn,
                        vif.customer_asn,
                        vif.amazon_address.addr(),
                        vif.customer_address.addr(),
                        vif.mtu
                    ),
                });
                let node = vif.customer_router;
                let iface = t.nodes[node]
                    .interfaces
                    .iter()
                    .position(|i| i.attachment == Attachment::Vif(v))
                    .unwrap_or(0);
                Ok(Next::Arrive(node, iface))
            }
            VgwPath::Vpn => {
                let Some(vpn) = &t.vpn else {
                    return Err(self.quiet(Verdict::NoRoute, || "no VPN".into()));
                };
                self.rec.step(|| Step::Route {
                    table: vgw.name.clone(),
                    prefix: prefix.to_string(),
                    target: vpn.name.clone(),
                    origin: crate::route_table::RouteOrigin::Propagated,
                    source: vgw_route_source(t, &vgw.name, prefix),
                });
                self.rec.hop(&vpn.name, || None);
                self.rec.step(|| Step::Link {
                    name: vpn.name.clone(),
                    detail: "Site-to-Site VPN (IPsec)".into(),
                });
                let node = vpn.customer_gateway;
                let iface = t.nodes[node]
                    .interfaces
                    .iter()
                    .position(|i| i.attachment == Attachment::Vpn)
                    .unwrap_or(0);
                Ok(Next::Arrive(node, iface))
            }
        }
    }

    fn vgw_in(&mut self, flow: &Flow) -> Step1 {
        let t = self.t;
        let Some(vpc) = &t.vpc else {
            return Err(self.dropped(Verdict::NoRoute, || "no VPC".into()));
        };
        let name = vpc
            .vgw
            .as_ref()
            .map(|g| g.name.clone())
            .unwrap_or_else(|| "vgw".into());
        self.rec.hop(&name, || None);
        if !vpc.cidr.contains(&flow.pkt.dst) {
            return Err(self.dropped(Verdict::NoRoute, || {
                format!(
                    "{} is outside the VPC; a VPC does not carry transit traffic from the VGW",
                    flow.pkt.dst
                )
            }));
        }
        self.rec.hop("vpc-router", || Some(format!("from {name}")));
        self.rec.step(|| Step::Route {
            table: "(gateway ingress)".into(),
            prefix: vpc.cidr.to_string(),
            target: "local".into(),
            origin: crate::route_table::RouteOrigin::Local,
            source: None,
        });
        let Some(s) = t.subnet_of(flow.pkt.dst) else {
            return Err(self.dropped(Verdict::NoRoute, || {
                format!("{} is in the VPC block but in no subnet", flow.pkt.dst)
            }));
        };
        self.nacl(s, Direction::Ingress, flow)?;
        match t.owner_of(flow.pkt.dst) {
            Some((n, i)) => Ok(Next::Arrive(n, i)),
            None => Err(self.dropped(Verdict::NoRoute, || {
                format!(
                    "no interface in subnet {} has address {}",
                    t.subnets[s].name, flow.pkt.dst
                )
            })),
        }
    }

    // ---- nodes ---------------------------------------------------------------

    /// A packet arrives at a node. `Ok(None)` is delivery.
    fn arrive(&mut self, node: NodeId, iface: usize, flow: &mut Flow) -> Result<Option<Next>, End> {
        let t = self.t;
        let n = &t.nodes[node];
        self.rec.hop(&n.name, || Some(iface_label(t, node, iface)));
        let local =
            n.kind == NodeKind::Internet || n.interfaces.iter().any(|i| i.ip == flow.pkt.dst);
        let in_attach = n.interfaces[iface].attachment;
        let from_tunnel = matches!(in_attach, Attachment::Vif(_) | Attachment::Vpn);

        if n.kind == NodeKind::NatGateway {
            if local {
                // a reply to a translated flow, or nothing
                let entry = self.state.nat.iter().find(|(g, _, _)| *g == node).copied();
                match (self.reply, entry) {
                    (true, Some((_, orig, ports))) => {
                        let before = flow.pkt.dst;
                        flow.pkt.dst = orig;
                        flow.dst_ports = ports;
                        self.rec.step(|| Step::Nat {
                            kind: "reverse".into(),
                            by: n.name.clone(),
                            from: before.to_string(),
                            to: format!("{orig}:{ports}"),
                        });
                        let Attachment::Subnet(s) = in_attach else {
                            return Err(
                                self.quiet(Verdict::NoRoute, || "NAT outside a subnet".into())
                            );
                        };
                        return Ok(Some(Next::FromSubnet(s)));
                    }
                    _ => {
                        return Err(self.dropped(Verdict::Denied, || format!("NAT gateway {} accepts no new connections, only replies to flows it translated", n.name)));
                    }
                }
            }
            if self.reply {
                return Err(self.dropped(Verdict::NoRoute, || {
                    format!("reply reached NAT gateway {} without a translation", n.name)
                }));
            }
            let before = format!("{}:{}", flow.pkt.src, flow.src_ports);
            self.state.nat.push((node, flow.pkt.src, flow.src_ports));
            flow.pkt.src = n.interfaces[0].ip;
            flow.src_ports = n.ephemeral_ports;
            let after = format!("{}:{}", flow.pkt.src, flow.src_ports);
            self.rec.step(|| Step::Nat {
                kind: "snat".into(),
                by: n.name.clone(),
                from: before,
                to: after,
            });
            let Attachment::Subnet(s) = in_attach else {
                return Err(self.quiet(Verdict::NoRoute, || "NAT outside a subnet".into()));
            };
            return Ok(Some(Next::FromSubnet(s)));
        }

        if local {
            if n.in_vpc() {
                self.sg(node, iface, Direction::Ingress, flow)?;
            } else if n.kind == NodeKind::Gateway && from_tunnel {
                self.sg(node, GATEWAY_POLICY, Direction::Ingress, flow)?;
            }
            if !self.reply && refuses(t, node, flow) {
                return Err(self.dropped(Verdict::Denied, || match &n.kind {
                    NodeKind::LoadBalancer { .. } => format!(
                        "{} has no listener on {}: the connection is refused",
                        n.name,
                        describe_port(&flow.pkt)
                    ),
                    NodeKind::Database { database, port, .. } => format!(
                        "{} ({database}) listens on tcp/{port} only: the connection is refused",
                        n.name
                    ),
                    _ => format!("{} refuses the connection", n.name),
                }));
            }
            let note = delivery_note(t, node, flow);
            let addr = flow.pkt.dst;
            self.rec.step(|| Step::Delivered {
                address: addr,
                note,
            });
            return Ok(None);
        }

        // forwarding
        match n.kind {
            NodeKind::OfficeRouter | NodeKind::Gateway => Ok(Some(Next::Route(node, Some(iface)))),
            NodeKind::Instance if !n.source_dest_check => {
                self.sg(node, iface, Direction::Ingress, flow)?;
                self.sg(node, iface, Direction::Egress, flow)?;
                match in_attach {
                    Attachment::Subnet(s) => Ok(Some(Next::FromSubnet(s))),
                    _ => Err(self.quiet(Verdict::NoRoute, || "instance outside a subnet".into())),
                }
            }
            NodeKind::Instance => Err(self.dropped(Verdict::NoRoute, || {
                format!(
                    "{} has source/destination check on and drops traffic for {}",
                    n.name, flow.pkt.dst
                )
            })),
            _ => Err(self.dropped(Verdict::NoRoute, || {
                format!("{} does not forward traffic for {}", n.name, flow.pkt.dst)
            })),
        }
    }

    /// An office node routes a packet (its own or one it forwards).
    fn office_route(&mut self, node: NodeId, in_iface: Option<usize>, flow: &Flow) -> Step1 {
        let t = self.t;
        let n = &t.nodes[node];
        let Some(rib) = t.office_rib(node) else {
            return Err(self.dropped(Verdict::NoRoute, || {
                format!("{} has no routing table", n.name)
            }));
        };
        let Some(route) = rib.select(flow.pkt.dst) else {
            return Err(self.dropped(Verdict::NoRoute, || {
                format!("{} has no route to {}", n.name, flow.pkt.dst)
            }));
        };
        self.rec.step(|| Step::Route {
            table: n.name.clone(),
            prefix: route.prefix.to_string(),
            target: match route.next_hop {
                NextHop::Via(a) => format!("via {a}"),
                NextHop::Connected(l) => format!("connected {}", t.lans[l].name),
                NextHop::Vif(v) => t.vifs[v].name.clone(),
                NextHop::Vpn => t.vpn.as_ref().map(|v| v.name.clone()).unwrap_or_default(),
            },
            origin: route.origin,
            source: (route.source != route.origin.to_string()).then(|| route.source.clone()),
        });
        let from_tunnel = in_iface.is_some_and(|i| {
            matches!(
                n.interfaces[i].attachment,
                Attachment::Vif(_) | Attachment::Vpn
            )
        });
        match route.next_hop {
            NextHop::Via(via) => {
                let lan = n.interfaces.iter().find_map(|i| match i.attachment {
                    Attachment::Lan(l) if t.lans[l].cidr.contains(&via) => Some(l),
                    _ => None,
                });
                match lan {
                    Some(l) => {
                        if n.kind == NodeKind::Gateway && from_tunnel {
                            self.sg(node, GATEWAY_POLICY, Direction::Ingress, flow)?;
                        }
                        Ok(Next::Lan(l, via))
                    }
                    None => Err(self.dropped(Verdict::NoRoute, || {
                        format!("next hop {via} is on no LAN of {}", n.name)
                    })),
                }
            }
            NextHop::Connected(l) => {
                if n.kind == NodeKind::Gateway && from_tunnel {
                    self.sg(node, GATEWAY_POLICY, Direction::Ingress, flow)?;
                }
                Ok(Next::Lan(l, flow.pkt.dst))
            }
            NextHop::Vif(_) | NextHop::Vpn if from_tunnel => Err(self
                .dropped(Verdict::NoRoute, || {
                    format!("{} would send it back into the tunnel it came from", n.name)
                })),
            NextHop::Vif(v) => {
                if n.kind == NodeKind::Gateway {
                    self.sg(node, GATEWAY_POLICY, Direction::Egress, flow)?;
                }
                let vif = &t.vifs[v];
                self.rec.hop(&vif.name, || None);
                self.rec.step(|| Step::Link {
                    name: vif.name.clone(),
                    detail: format!(
                        "private VIF VLAN {}, AS {} -> AS {}, {} -> {}, MTU {}",
                        vif.vlan,
                        vif.customer_asn,
                        vif.amazon_asn,
                        vif.customer_address.addr(),
                        vif.amazon_address.addr(),
                        vif.mtu
                    ),
                });
                Ok(Next::VgwIn)
            }
            NextHop::Vpn => {
                if n.kind == NodeKind::Gateway {
                    self.sg(node, GATEWAY_POLICY, Direction::Egress, flow)?;
                }
                let name = t.vpn.as_ref().map(|v| v.name.clone()).unwrap_or_default();
                self.rec.hop(&name, || None);
                self.rec.step(|| Step::Link {
                    name: name.clone(),
                    detail: "Site-to-Site VPN (IPsec)".into(),
                });
                Ok(Next::VgwIn)
            }
        }
    }

    fn lan(&mut self, lan: usize, next: Ipv4Addr) -> Step1 {
        let t = self.t;
        match t.owner_of(next) {
            Some((n, i)) if t.nodes[n].interfaces[i].attachment == Attachment::Lan(lan) => {
                Ok(Next::Arrive(n, i))
            }
            _ => Err(self.dropped(Verdict::NoRoute, || {
                format!("nothing on LAN {} answers for {next}", t.lans[lan].name)
            })),
        }
    }
}

/// How the VGW's trace names the route that decided: the BGP route (or
/// VPN static route) that is best for `prefix`.
fn vgw_route_source(t: &Topology, vgw: &str, prefix: ipnet::Ipv4Net) -> Option<String> {
    crate::bgp::analyse(t)
        .candidates(vgw, prefix)
        .into_iter()
        .find(|r| r.best)
        .map(crate::bgp::describe)
}

fn iface_label(t: &Topology, node: NodeId, iface: usize) -> String {
    let i = &t.nodes[node].interfaces[iface];
    format!("{} {}", i.name, i.ip)
}

/// A route's target by its name in the file: `igw`, `nat-a`, `local`,
/// `blackhole`.
pub fn route_target_name(t: &Topology, target: RouteTarget) -> String {
    match target {
        RouteTarget::Local => "local".into(),
        RouteTarget::InternetGateway => t
            .vpc
            .as_ref()
            .and_then(|v| v.internet_gateway.clone())
            .unwrap_or_else(|| "igw".into()),
        RouteTarget::Vgw => t
            .vpc
            .as_ref()
            .and_then(|v| v.vgw.as_ref())
            .map(|g| g.name.clone())
            .unwrap_or_else(|| "vgw".into()),
        RouteTarget::NatGateway(n) | RouteTarget::Instance(n) => t.nodes[n].name.clone(),
        RouteTarget::Blackhole => "blackhole".into(),
    }
}

/// A rule spelled out: `tcp/22 from prefix-list office`.
pub(crate) fn rule_text(t: &Topology, rule: &crate::security_group::SgRule) -> String {
    use crate::security_group::Peer;
    let peer = match rule.peer {
        Peer::Cidr(c) => c.to_string(),
        Peer::SecurityGroup(g) => format!("sg {}", t.security_groups[g].name),
        Peer::PrefixList(p) => format!("prefix-list {}", t.prefix_lists[p].name),
    };
    format!("{} with {peer}", rule.traffic)
}

/// The packet sent to the first port of `ports` when its own destination
/// port is outside them: an example of what a decision about `ports`
/// covers. Packets without ports are returned as they are.
fn to_port_in(p: &Packet, ports: PortRange) -> Packet {
    let port = |dst: u16| {
        if (ports.from..=ports.to).contains(&dst) {
            dst
        } else {
            ports.from
        }
    };
    let l4 = match p.l4 {
        L4::Tcp { src_port, dst_port } => L4::Tcp {
            src_port,
            dst_port: port(dst_port),
        },
        L4::Udp { src_port, dst_port } => L4::Udp {
            src_port,
            dst_port: port(dst_port),
        },
        other => other,
    };
    Packet { l4, ..*p }
}

fn describe(p: &Packet) -> String {
    match p.l4 {
        L4::Tcp { dst_port, .. } => format!("tcp {} -> {}:{dst_port}", p.src, p.dst),
        L4::Udp { dst_port, .. } => format!("udp {} -> {}:{dst_port}", p.src, p.dst),
        L4::Icmp { icmp_type, code } => {
            format!("icmp type {icmp_type} code {code} {} -> {}", p.src, p.dst)
        }
        L4::Other(n) => format!("protocol {n} {} -> {}", p.src, p.dst),
    }
}

/// Whether a managed service refuses a connection: a load balancer on a
/// port without a listener, a database on a port other than its own. Other
/// hosts run what the operator puts on them, so the analysis assumes they
/// listen.
fn refuses(t: &Topology, node: NodeId, flow: &Flow) -> bool {
    let L4::Tcp { dst_port, .. } = flow.pkt.l4 else {
        return false;
    };
    match &t.nodes[node].kind {
        NodeKind::LoadBalancer { listeners } => !listeners.iter().any(|l| l.port == dst_port),
        NodeKind::Database { port, .. } => *port != dst_port,
        _ => false,
    }
}

fn describe_port(p: &Packet) -> String {
    match p.l4 {
        L4::Tcp { dst_port, .. } => format!("tcp/{dst_port}"),
        L4::Udp { dst_port, .. } => format!("udp/{dst_port}"),
        _ => "this protocol".into(),
    }
}

fn delivery_note(t: &Topology, node: NodeId, flow: &Flow) -> Option<String> {
    match &t.nodes[node].kind {
        NodeKind::LoadBalancer { listeners } => {
            let port = flow.pkt.l4.dst_port()?;
            if !matches!(flow.pkt.l4, L4::Tcp { .. }) {
                return None;
            }
            listeners.iter().find(|l| l.port == port).map(|l| {
                format!(
                    "listener {} :{port} forwards to {} on port {}",
                    l.protocol,
                    l.targets
                        .iter()
                        .map(|&n| t.nodes[n].name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    l.target_port
                )
            })
        }
        NodeKind::Database {
            role: crate::model::DbRole::Standby,
            ..
        } => Some("Multi-AZ standby: serves only after a failover".into()),
        _ => None,
    }
}
