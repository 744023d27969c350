//! The tunnels: the vifgate gateways at both ends of each Direct Connect
//! VIF and of the Site-to-Site VPN, their peers, and a static VPN's
//! floating static routes below BGP's.

use super::*;

/// A static VPN beside BGP sessions on an office gateway that follows its
/// BIRD's table: the route to the VPC over the VPN goes into that table
/// with a metric above BIRD's, a floating static route. The gateway then
/// uses a BGP route while there is one and the VPN's once BIRD withdraws
/// it, as the analysis has it (the office's best BGP route, then a static
/// VPN's); as a static route of the gateway it would win over BGP.
pub(super) fn floating_static_routes(b: &mut Builder) {
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

/// Direct Connect VIFs and the VPN: links to the VGW, gateway processes
/// at both ends, and the office's routes into them (the VGW's routes to
/// the office are BIRD's). Which VGW-side TUN carries which.
pub(super) fn tunnels(b: &mut Builder) -> Result<Tunnels, PlanError> {
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
                    policy: gateway_policy(t, cust),
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

/// The policy a gateway box enforces, as the nftables form of its
/// security groups (empty for a node that is not a `[[site.gateway]]`):
/// the plan keeps it so that a policy edit shows in a diff.
fn gateway_policy(t: &Topology, node: topology::model::NodeId) -> String {
    let n = &t.nodes[node];
    if n.kind != NodeKind::Gateway {
        return String::new();
    }
    crate::render::firewall::security_groups(t, &n.security_groups, true)
}
