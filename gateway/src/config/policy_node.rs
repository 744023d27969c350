//! `[policy] node`: which nodes of a topology the gateway can play. It
//! applies the node's security groups to what crosses it, so the node is
//! one that has its own: a `[[site.gateway]]` (an office box that ends a
//! VIF or a VPN) or an EC2 instance (the AWS end, on an instance; an Auto
//! Scaling group's instance too). An office host or router has no security
//! groups, a NAT gateway and the internet take none, and a load balancer or
//! a database is no box the gateway runs on: playing one would block
//! everything, so they are refused.

use topology::model::{Node, NodeKind};

/// Whether the gateway can play `node`.
pub(super) fn can_play(node: &Node) -> bool {
    matches!(
        node.kind,
        NodeKind::Gateway | NodeKind::Instance | NodeKind::AsgInstance { .. }
    )
}

/// What `kind` is, in words, after "is".
pub(super) fn kind_words(kind: &NodeKind) -> &'static str {
    match kind {
        NodeKind::OfficeHost => "an office host",
        NodeKind::OfficeRouter => "an office router ([[site.router]])",
        NodeKind::Gateway => "a gateway",
        NodeKind::Instance => "an instance",
        NodeKind::AsgInstance { .. } => "an instance of an Auto Scaling group",
        NodeKind::LoadBalancer { .. } => "a load balancer",
        NodeKind::Database { .. } => "a database host",
        NodeKind::NatGateway => "a NAT gateway",
        NodeKind::Internet => "the internet",
    }
}
