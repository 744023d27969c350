//! Graphviz drawing: the VPC with its AZs and subnets on one side, the
//! office with its LANs on the other, the VIF (and VPN) between them.

use std::fmt::Write as _;

use crate::model::{Attachment, NodeKind, Topology};

pub mod trace;

pub use trace::to_dot_with_trace;

fn id(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn shape(kind: &NodeKind) -> &'static str {
    match kind {
        NodeKind::OfficeRouter | NodeKind::Gateway => "diamond",
        NodeKind::NatGateway => "trapezium",
        NodeKind::LoadBalancer { .. } => "hexagon",
        NodeKind::Database { .. } => "cylinder",
        NodeKind::Internet => "ellipse",
        _ => "box",
    }
}

/// The topology as a Graphviz DOT digraph.
pub fn to_dot(t: &Topology) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "digraph {} {{", id(&t.name));
    let _ = writeln!(
        o,
        "  graph [rankdir=LR, compound=true, fontname=\"Helvetica\", label={}, labelloc=t];",
        id(&t.name)
    );
    let _ = writeln!(o, "  node [fontname=\"Helvetica\", fontsize=10];");
    let _ = writeln!(o, "  edge [fontname=\"Helvetica\", fontsize=9, dir=none];");

    // office
    for (si, site) in t.sites.iter().enumerate() {
        let _ = writeln!(o, "  subgraph cluster_site_{si} {{");
        let _ = writeln!(
            o,
            "    label={}; style=rounded; color=\"#2b6cb0\";",
            id(&format!("office {}", site.name))
        );
        for &l in &site.lans {
            let lan = &t.lans[l];
            let _ = writeln!(
                o,
                "    {} [shape=note, label={}];",
                id(&format!("lan:{}", lan.name)),
                id(&format!("{}\n{}", lan.name, lan.cidr))
            );
        }
        for n in &t.nodes {
            let on_site = n
                .interfaces
                .iter()
                .any(|i| matches!(i.attachment, Attachment::Lan(l) if t.lans[l].site == si));
            if on_site {
                let ips: Vec<String> = n
                    .interfaces
                    .iter()
                    .filter(|i| matches!(i.attachment, Attachment::Lan(_)))
                    .map(|i| i.ip.to_string())
                    .collect();
                let _ = writeln!(
                    o,
                    "    {} [shape={}, label={}];",
                    id(&n.name),
                    shape(&n.kind),
                    id(&format!("{}\n{}", n.name, ips.join("\n")))
                );
            }
        }
        let _ = writeln!(o, "  }}");
    }

    // vpc
    if let Some(vpc) = &t.vpc {
        let _ = writeln!(o, "  subgraph cluster_vpc {{");
        let _ = writeln!(
            o,
            "    label={}; style=rounded; color=\"#dd6b20\";",
            id(&format!("VPC {} {} ({})", vpc.name, vpc.cidr, vpc.region))
        );
        for (ai, az) in vpc.azs.iter().enumerate() {
            let _ = writeln!(o, "    subgraph cluster_az_{ai} {{");
            let _ = writeln!(
                o,
                "      label={}; style=dashed; color=\"#718096\";",
                id(az)
            );
            for (si, s) in t.subnets.iter().enumerate().filter(|(_, s)| &s.az == az) {
                let _ = writeln!(o, "      subgraph cluster_subnet_{si} {{");
                let colour = if s.public { "#c6f6d5" } else { "#bee3f8" };
                let _ = writeln!(
                    o,
                    "        label={}; style=filled; fillcolor=\"{colour}\"; color=\"#4a5568\";",
                    id(&format!(
                        "{} {}\nrt {} · acl {}",
                        s.name, s.cidr, t.route_tables[s.route_table].name, t.nacls[s.nacl].name
                    ))
                );
                let mut any = false;
                for n in &t.nodes {
                    for (k, i) in n.interfaces.iter().enumerate() {
                        if i.attachment == Attachment::Subnet(si) {
                            any = true;
                            let node_id = if n.interfaces.len() > 1 {
                                format!("{}#{k}", n.name)
                            } else {
                                n.name.clone()
                            };
                            let mut label = format!("{}\n{}", n.name, i.ip);
                            if let Some(p) = i.public_ip {
                                let _ = write!(label, "\npublic {p}");
                            }
                            let _ = writeln!(
                                o,
                                "        {} [shape={}, label={}];",
                                id(&node_id),
                                shape(&n.kind),
                                id(&label)
                            );
                        }
                    }
                }
                if !any {
                    let _ = writeln!(
                        o,
                        "        {} [shape=point, style=invis];",
                        id(&format!("empty:{}", s.name))
                    );
                }
                let _ = writeln!(o, "      }}");
            }
            let _ = writeln!(o, "    }}");
        }
        if let Some(igw) = &vpc.internet_gateway {
            let _ = writeln!(
                o,
                "    {} [shape=invhouse, label={}];",
                id(igw),
                id(&format!("{igw}\ninternet gateway"))
            );
        }
        if let Some(g) = &vpc.vgw {
            let _ = writeln!(
                o,
                "    {} [shape=invhouse, label={}];",
                id(&g.name),
                id(&format!("{}\nVGW AS {}", g.name, g.asn))
            );
        }
        let _ = writeln!(o, "  }}");
        // subnets reach the gateways through their route tables
        if let Some(igw) = &vpc.internet_gateway {
            for (si, s) in t.subnets.iter().enumerate() {
                let rt = &t.route_tables[s.route_table];
                if rt
                    .routes
                    .iter()
                    .any(|r| r.target == crate::route_table::RouteTarget::InternetGateway)
                {
                    if let Some(anchor) = anchor(t, si) {
                        let _ = writeln!(o, "  {} -> {} [style=dotted, color=\"#718096\", ltail=cluster_subnet_{si}];", id(&anchor), id(igw));
                    }
                }
            }
        }
    }

    // the internet, office LAN links, VIF, VPN
    for n in &t.nodes {
        if n.kind == NodeKind::Internet {
            let _ = writeln!(
                o,
                "  {} [shape=ellipse, label={}];",
                id(&n.name),
                id(&format!("{}\n{}", n.name, n.interfaces[0].ip))
            );
            if let Some(igw) = t.vpc.as_ref().and_then(|v| v.internet_gateway.as_ref()) {
                let _ = writeln!(o, "  {} -> {};", id(&n.name), id(igw));
            }
        }
        for i in &n.interfaces {
            if let Attachment::Lan(l) = i.attachment {
                let _ = writeln!(
                    o,
                    "  {} -> {};",
                    id(&format!("lan:{}", t.lans[l].name)),
                    id(&n.name)
                );
            }
        }
    }
    if let Some(g) = t.vpc.as_ref().and_then(|v| v.vgw.as_ref()) {
        for v in &t.vifs {
            let style = if v.bgp_up { "bold" } else { "dashed" };
            let _ = writeln!(
                o,
                "  {} -> {} [style={style}, color=\"#c53030\", penwidth=2, label={}];",
                id(&t.nodes[v.customer_router].name),
                id(&g.name),
                id(&format!(
                    "{} VLAN {}\nAS {} ⇄ AS {}\nMTU {}{}",
                    v.name,
                    v.vlan,
                    v.customer_asn,
                    v.amazon_asn,
                    v.mtu,
                    if v.bgp_up { "" } else { "\nBGP DOWN" }
                ))
            );
        }
        if let Some(vpn) = &t.vpn {
            let _ = writeln!(
                o,
                "  {} -> {} [style=dashed, color=\"#6b46c1\", label={}];",
                id(&t.nodes[vpn.customer_gateway].name),
                id(&g.name),
                id(&format!("{} (VPN backup)", vpn.name))
            );
        }
    }
    o.push_str("}\n");
    o
}

fn anchor(t: &Topology, subnet: usize) -> Option<String> {
    for n in &t.nodes {
        for (k, i) in n.interfaces.iter().enumerate() {
            if i.attachment == Attachment::Subnet(subnet) {
                return Some(if n.interfaces.len() > 1 {
                    format!("{}#{k}", n.name)
                } else {
                    n.name.clone()
                });
            }
        }
    }
    Some(format!("empty:{}", t.subnets[subnet].name))
}
