//! The office: its hosts, routers and gateway boxes on the office LANs
//! (one bridge per LAN in `L+lan`), and their routes.

use super::*;

/// Office LANs on one switch namespace; office routes from each node's RIB.
pub(super) fn office(b: &mut Builder) {
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
            let port = crate::layout::access_port(&b.port_stems[id], i);
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
    let bridges = crate::layout::lan_bridges(t.lans.iter().map(|l| l.name.as_str()));
    for (k, (lan, bridge)) in t.lans.iter().zip(bridges).enumerate() {
        b.plan.bridges.push(BridgeSpec {
            ns: sw.clone(),
            name: bridge,
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
                            Some(crate::layout::OFFICE_TUN),
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
