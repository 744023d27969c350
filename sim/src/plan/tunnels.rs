//! The tunnels: the vifgate gateways at both ends of each Direct Connect
//! VIF and of the Site-to-Site VPN, their peers, and a static VPN's
//! floating static routes below BGP's.

use super::*;
use crate::layout::{vgw_ports, OFFICE_TUN, VPN_LINK};

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

/// The route priority of a Direct Connect VIF's tunnel (an office's
/// further VIFs count up from it, in the file's order).
const PRIORITY_DX: u32 = 10;
/// The route priority of the VPN's tunnel, after the VIFs'.
const PRIORITY_VPN: u32 = 100;

/// Direct Connect VIFs and the VPN: links to the VGW, gateway processes
/// at both ends, and the office's routes into them (the VGW's routes to
/// the office are BIRD's). Which VGW-side TUN carries which.
pub(super) fn tunnels(b: &mut Builder) -> Result<Tunnels, PlanError> {
    let t = b.t;
    let Some(vpc) = &t.vpc else {
        return Ok(Tunnels::default());
    };
    if vpc.vgw.is_none() || (t.vifs.is_empty() && t.vpn.is_none()) {
        return Ok(Tunnels::default());
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
    // per VIF and one for the VPN; the VIFs' links, the VGW's TUN devices
    // and ports are named after the VIF or VPN, not its place (a VIF added
    // leaves the others' alone)
    let mut office_gw: BTreeMap<usize, usize> = BTreeMap::new();
    let dx = t.dx_connection.as_ref();
    let rate = dx.and_then(|c| c.bandwidth_bps);
    let delay = dx.and_then(|c| c.latency).filter(|d| !d.is_zero());
    let jitter = dx.and_then(|c| c.jitter).filter(|d| !d.is_zero());
    let loss = dx.and_then(|c| c.loss_percent).filter(|l| *l > 0.0);
    let tuns = Tunnels::named(t);
    // the VGW's TUN and port of each of `ends` below (VIFs, then the VPN)
    let vgw_tuns: Vec<String> = (tuns.vif_tun.iter().cloned())
        .chain(tuns.vpn_tun.clone())
        .collect();
    let ports = vgw_ports(
        (t.vifs.iter().map(|v| v.name.as_str())).chain(t.vpn.as_ref().map(|v| v.name.as_str())),
    );
    // (customer node, the VIF's or VPN's name, office address, AWS
    // address, office prefixes the VGW learns over it, the office
    // gateway's route priority)
    let mut ends: Vec<(usize, String, Ipv4Addr, Ipv4Addr, Vec<Ipv4Net>, u32)> = Vec::new();
    for (i, vif) in t.vifs.iter().enumerate() {
        // the office's first VIF first: its place among its office's VIFs
        let rank = t.vifs[..i]
            .iter()
            .filter(|x| x.customer_router == vif.customer_router)
            .count();
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
            PRIORITY_DX + rank as u32,
        ));
        let cust = b.node_ns[vif.customer_router].clone();
        let mtu = u32::from(vif.mtu);
        let link = &tuns.vif_link[i];
        b.plan.links.push(VethSpec {
            a: End {
                ns: cust.clone(),
                ifname: link.clone(),
            },
            b: End {
                ns: v.clone(),
                ifname: link.clone(),
            },
            kind: LinkKind::DirectConnect,
            joins: (t.nodes[vif.customer_router].name.clone(), vif.name.clone()),
            mtu: (mtu != 1500).then_some(mtu),
            vlan: Some(vif.vlan),
        });
        b.addr(&cust, link, vif.customer_address);
        b.addr(&v, link, vif.amazon_address);
        if rate.is_some() || delay.is_some() || jitter.is_some() || loss.is_some() {
            for ns in [&cust, &v] {
                b.plan.shaping.push(ShapeSpec {
                    ns: ns.clone(),
                    ifname: link.clone(),
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
                ifname: VPN_LINK.into(),
            },
            b: End {
                ns: v.clone(),
                ifname: VPN_LINK.into(),
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
        b.addr(&cust, VPN_LINK, inside(vpn.customer_address));
        b.addr(&v, VPN_LINK, inside(vpn.amazon_address));
        ends.push((
            vpn.customer_gateway,
            vpn.name.clone(),
            vpn.customer_address,
            vpn.amazon_address,
            if vpn.up { vpn.prefixes() } else { Vec::new() },
            PRIORITY_VPN,
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
                    tun: OFFICE_TUN.into(),
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
        let is_vif = k < t.vifs.len();
        let tun = vgw_tuns[k].clone();
        b.plan.gateways.push(GatewaySpec {
            ns: v.clone(),
            name: crate::layout::vgw_gateway_name(
                &name,
                !is_vif,
                t.vifs.iter().map(|v| v.name.as_str()),
            ),
            tun,
            mtu: 1500 - WG_OVERHEAD,
            // the VGW's tunnels share its namespace: one port each
            port: ports[k],
            peers: vec![GatewayPeer {
                name: ns_token(&t.nodes[cust].name),
                gateway: og,
                endpoint: office_addr,
                allowed: office_prefixes.clone(),
                any_source: true,
                // its only peer: the kind's, whatever the VIF's place
                priority: if is_vif { PRIORITY_DX } else { PRIORITY_VPN },
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
            any_source: false,
            priority,
            bgp_session: is_vif || t.vpn.as_ref().is_some_and(|v| v.bgp),
        });
    }
    // each gateway's files and messages go by its name: two of one name
    // (VIFs `a b` and `a_b`, an office node `vgw-x` and a VIF `x`) would
    // share them
    let mut seen = std::collections::BTreeSet::new();
    for g in &b.plan.gateways {
        if !seen.insert(g.name.as_str()) {
            return Err(PlanError::Unsupported(format!(
                "two of the lab's gateways would be named `{}` (a VIF's, the VPN's or an office node's name made into a file name): rename one of them",
                g.name
            )));
        }
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
