//! The VPC: the VPC router (`L+vpc`) with a bridge per subnet and a kernel
//! table per route table, the network ACLs, the instances, load balancers,
//! database hosts and NAT gateways in their subnets, the internet gateway
//! and the internet, and the link to the VGW. One function, as `plan()`
//! builds it in one pass over the subnets.

use super::*;

/// The first host address of a subnet: the VPC router's.
pub(super) fn router_ip(net: Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(net.network()).wrapping_add(1))
}

/// The VPC router, its subnets, route tables, ACLs, the internet gateway.
pub(super) fn vpc(b: &mut Builder) -> Result<(), PlanError> {
    let t = b.t;
    let Some(vpc) = &t.vpc else {
        return Ok(());
    };
    let r = vpc_ns(&b.lab);
    b.ns(r.clone(), None, Role::VpcRouter);
    b.base_sysctls(&r);
    b.router_sysctls(&r);
    let bridges = crate::layout::subnet_bridges(t.subnets.iter().map(|s| s.name.as_str()));
    let mut ports: Vec<Vec<String>> = vec![Vec::new(); t.subnets.len()];
    for (id, n) in t.nodes.iter().enumerate() {
        let ns = b.node_ns[id].clone();
        let mut default_done = false;
        for (i, ifc) in n.interfaces.iter().enumerate() {
            let Attachment::Subnet(s) = ifc.attachment else {
                continue;
            };
            let port = crate::layout::access_port(&b.port_stems[id], i);
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
        let name = bridges[k].clone();
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
            Some(&bridges[k]),
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
    let tables =
        crate::layout::route_table_numbers(t.route_tables.iter().map(|rt| rt.name.as_str()));
    for (rt, &table) in t.route_tables.iter().zip(&tables) {
        for route in &rt.routes {
            let why = format!(
                "route table {}: {} -> {}",
                rt.name,
                route.prefix,
                topology::analysis::route_target_name(t, route.target)
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
                                Some(&bridges[k]),
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
                            Some(&bridges[s]),
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
            iif: bridges[k].clone(),
            table: tables[sub.route_table],
            priority: crate::layout::SUBNET_RULE_PRIORITY,
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
