//! Which ENI a counted packet belongs to: the lab's ENIs (VPC nodes with
//! an interface of their own, by namespace), the one a node's packet
//! crossed, and the one a packet the VPC router's network ACLs dropped is
//! recorded on. Pure.

use std::net::Ipv4Addr;

use topology::model::{Attachment, NodeKind, Topology};
use topology::security_group::Direction as AclDirection;
use topology::traffic::{Packet, L4};

use crate::flowlogs::record::{FlowDirection, FlowKey};
use crate::flowlogs::Direction;
use crate::plan::{Plan, Role};

/// A node's interfaces, as flow logs name them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeEnis {
    /// The node.
    pub node: String,
    /// Its namespace.
    pub ns: String,
    /// Interface id (`eni-...`) and address, in the topology's order.
    pub enis: Vec<(String, Ipv4Addr)>,
}

impl NodeEnis {
    /// The ENI a packet of `key` crossed going `dir`: the one holding the
    /// destination (ingress) or the source (egress) address; forwarded
    /// packets and addresses of no ENI go to the first.
    pub fn eni_of(&self, dir: Direction, key: &FlowKey) -> Option<&str> {
        let addr = match dir {
            Direction::Ingress => Some(key.dst),
            Direction::Egress => Some(key.src),
            Direction::Forward => None,
        };
        self.enis
            .iter()
            .find(|(_, ip)| Some(*ip) == addr)
            .or(self.enis.first())
            .map(|(n, _)| n.as_str())
    }
}

/// The ENIs of a lab: every node in a VPC subnet that AWS gives a network
/// interface of its own (instances, load balancers, databases, NAT
/// gateways), with its namespace.
pub fn lab_enis(t: &Topology, plan: &Plan) -> Vec<NodeEnis> {
    let mut out = Vec::new();
    for n in &t.nodes {
        let has_eni = matches!(
            n.kind,
            NodeKind::Instance
                | NodeKind::AsgInstance { .. }
                | NodeKind::LoadBalancer { .. }
                | NodeKind::Database { .. }
                | NodeKind::NatGateway
        );
        if !has_eni || !n.in_vpc() {
            continue;
        }
        let Some(ns) = plan
            .namespaces
            .iter()
            .find(|s| s.node.as_deref() == Some(n.name.as_str()))
        else {
            continue;
        };
        let enis = n
            .interfaces
            .iter()
            .filter(|i| matches!(i.attachment, Attachment::Subnet(_)))
            .map(|i| (i.name.clone(), i.ip))
            .collect();
        out.push(NodeEnis {
            node: n.name.clone(),
            ns: ns.name.clone(),
            enis,
        });
    }
    out
}

/// The VPC router's namespace (where the network ACLs are).
pub fn vpc_router_ns(plan: &Plan) -> Option<&str> {
    plan.namespaces
        .iter()
        .find(|s| s.role == Role::VpcRouter)
        .map(|s| s.name.as_str())
}

fn packet_of(key: &FlowKey) -> Packet {
    let l4 = match key.protocol {
        6 => L4::Tcp {
            src_port: key.src_port,
            dst_port: key.dst_port,
        },
        17 => L4::Udp {
            src_port: key.src_port,
            dst_port: key.dst_port,
        },
        // the counters keep no ICMP type: an echo request stands for all
        1 => L4::Icmp {
            icmp_type: 8,
            code: 0,
        },
        p => L4::Other(p),
    };
    Packet {
        src: key.src,
        dst: key.dst,
        l4,
    }
}

/// AWS's `flow-direction` of a flow recorded on `eni`: `egress` when the
/// ENI's address is the flow's source (it sent the packets), else
/// `ingress` (a NAT gateway's forwarded flows are ingress on the ENI they
/// arrive at).
pub fn direction_on(enis: &[NodeEnis], eni: &str, key: &FlowKey) -> FlowDirection {
    let sent = enis
        .iter()
        .flat_map(|n| n.enis.iter())
        .any(|(name, ip)| name == eni && *ip == key.src);
    if sent {
        FlowDirection::Egress
    } else {
        FlowDirection::Ingress
    }
}

/// The ENI a packet the VPC router dropped is recorded on, as REJECT: the
/// sender's, when its subnet's network ACL denies it outbound; else the
/// receiver's (its subnet's ACL denied it inbound). `None` when that end
/// is no ENI of the lab.
pub fn nacl_reject_eni(t: &Topology, enis: &[NodeEnis], key: &FlowKey) -> Option<String> {
    let eni_at = |addr: Ipv4Addr| {
        enis.iter()
            .flat_map(|n| n.enis.iter())
            .find(|(_, ip)| *ip == addr)
            .map(|(name, _)| name.clone())
    };
    let packet = packet_of(key);
    let src_subnet = t.subnet_of(key.src);
    let dst_subnet = t.subnet_of(key.dst);
    if let Some(s) = src_subnet {
        if Some(s) != dst_subnet
            && !t.nacls[t.subnets[s].nacl]
                .evaluate(AclDirection::Egress, &packet)
                .allows()
        {
            return eni_at(key.src);
        }
    }
    eni_at(key.dst)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_office_to_the_database_is_rejected_on_the_database_eni() {
        let t = crate::example();
        let plan = crate::plan::plan(&t, "fl", &[22]).expect("plan");
        let enis = lab_enis(&t, &plan);
        let names: Vec<&str> = enis.iter().map(|n| n.node.as_str()).collect();
        for n in ["bastion", "alb", "web-a1", "db-primary", "nat-a"] {
            assert!(names.contains(&n), "{names:?}");
        }
        assert!(!names.contains(&"office-pc"), "{names:?}");
        let db = t.nodes[t.node_by_name("db-primary").expect("db")].interfaces[0].clone();
        let key = FlowKey {
            src: "192.168.10.10".parse().expect("addr"),
            dst: db.ip,
            src_port: 40000,
            dst_port: 3306,
            protocol: 6,
        };
        assert_eq!(nacl_reject_eni(&t, &enis, &key), Some(db.name));
        assert!(vpc_router_ns(&plan).is_some());
    }
}
