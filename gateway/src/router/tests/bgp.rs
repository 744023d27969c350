//! BGP routes in the router, on the hand-driven clock: the office follows
//! kernel table 100 (`[bgp]`), whose routes the tests hand over as the
//! shell would; where traffic goes, static routes against BGP ones, and
//! BGP routes to a dead peer.

use super::*;
use crate::kernel_routes::KernelRoute;

/// The office of the lab (`aws` at 192.0.2.2, `backup` at 192.0.2.3,
/// static 10.0.0.0/16 to both) following kernel table 100.
fn bgp_lab() -> Lab {
    lab("[bgp]\nkernel_table = 100\n")
}

fn added(prefix: &str, metric: u32, hop: &str) -> RouteEvent {
    RouteEvent::Added(KernelRoute {
        prefix: prefix.parse().unwrap(),
        metric,
        next_hops: vec![hop.parse().unwrap()],
    })
}

fn deleted(prefix: &str, metric: u32) -> RouteEvent {
    RouteEvent::Deleted {
        prefix: prefix.parse().unwrap(),
        metric,
    }
}

/// Makes the office hear from both peers now (both alive).
fn both_alive(lab: &mut Lab) {
    let now = lab.now;
    for p in &mut lab.office.peers {
        p.last_rx = Some(now);
    }
}

fn to(lab: &Lab, dst: [u8; 4]) -> Option<PeerId> {
    lab.office.route_for(Ipv4Addr::from(dst), lab.now)
}

#[test]
fn routes_follow_the_table_added_replaced_and_withdrawn() {
    let mut lab = bgp_lab();
    both_alive(&mut lab);
    assert_eq!(to(&lab, [10, 9, 0, 1]), None, "no route yet");
    lab.office
        .handle_route_events([added("10.9.0.0/24", 32, "192.0.2.2")]);
    assert_eq!(to(&lab, [10, 9, 0, 1]), Some(0));
    // the daemon's best path moves to the backup
    lab.office
        .handle_route_events([added("10.9.0.0/24", 32, "192.0.2.3")]);
    assert_eq!(to(&lab, [10, 9, 0, 1]), Some(1));
    let s = lab.office.status(lab.now);
    let b = s.bgp.expect("[bgp] shows in the status");
    assert_eq!(b.kernel_table, 100);
    assert_eq!(b.routes.len(), 1);
    assert_eq!(b.routes[0].peer.as_deref(), Some("backup"));
    assert_eq!(s.peers[1].routes_in_use, ["10.9.0.0/24"]);
    // withdrawn: no route, and a packet to it is dropped as such
    lab.office.handle_route_events([deleted("10.9.0.0/24", 32)]);
    assert_eq!(to(&lab, [10, 9, 0, 1]), None);
    let mut out = Collect::default();
    let now = lab.now;
    lab.office.handle_tun(
        now,
        &mut ping([192, 168, 10, 10], [10, 9, 0, 1], 8),
        &mut out,
    );
    assert!(out.udp.is_empty());
    assert_eq!(lab.office.drops().no_route, 1);
    assert!(lab.office.status(lab.now).bgp.unwrap().routes.is_empty());
}

#[test]
fn a_ping_follows_a_bgp_route_through_the_tunnel() {
    let mut lab = bgp_lab();
    lab.office
        .handle_route_events([added("10.9.0.0/24", 32, "192.0.2.2")]);
    let p = ping([192, 168, 10, 10], [10, 9, 0, 1], 8);
    let (_, at_aws) = lab.office_sends(&p);
    assert_eq!(at_aws, vec![p]);
}

#[test]
fn static_beats_bgp_on_an_equal_prefix_and_bgp_wins_on_a_longer_one() {
    let mut lab = bgp_lab();
    both_alive(&mut lab);
    // static 10.0.0.0/16 goes to aws (priority 10); BGP says backup
    lab.office.handle_route_events([
        added("10.0.0.0/16", 1, "192.0.2.3"),
        added("10.0.5.0/24", 32, "192.0.2.3"),
    ]);
    assert_eq!(to(&lab, [10, 0, 1, 1]), Some(0), "static wins the /16");
    assert_eq!(to(&lab, [10, 0, 5, 1]), Some(1), "the longer BGP prefix");
    // a lower metric wins among BGP routes of one prefix
    lab.office.handle_route_events([
        added("10.7.0.0/24", 50, "192.0.2.2"),
        added("10.7.0.0/24", 20, "192.0.2.3"),
    ]);
    assert_eq!(to(&lab, [10, 7, 0, 1]), Some(1));
}

#[test]
fn a_bgp_route_to_a_dead_peer_yields_to_a_usable_one() {
    let mut lab = bgp_lab();
    both_alive(&mut lab);
    lab.office
        .handle_route_events([added("10.0.5.0/24", 32, "192.0.2.2")]);
    assert_eq!(to(&lab, [10, 0, 5, 1]), Some(0));
    // aws falls silent past dead_after (3 s) while the BGP session (on the
    // link, not in the tunnel) keeps the route: the static /16 to the
    // backup carries the traffic
    lab.advance(Duration::from_secs(4));
    lab.office.peers[1].last_rx = Some(lab.now);
    assert_eq!(to(&lab, [10, 0, 5, 1]), Some(1));
    assert!(lab.office.status(lab.now).peers[0].routes_in_use.is_empty());
    // everyone dead: the best route is used anyway (sending revives it)
    lab.advance(Duration::from_secs(4));
    assert_eq!(to(&lab, [10, 0, 5, 1]), Some(0));
}

#[test]
fn unmapped_next_hops_are_shown_and_a_reload_can_map_them() {
    let mut lab = bgp_lab();
    both_alive(&mut lab);
    lab.office
        .handle_route_events([added("10.20.0.0/24", 32, "172.16.0.1")]);
    assert_eq!(to(&lab, [10, 20, 0, 1]), None);
    let b = lab.office.status(lab.now).bgp.unwrap();
    assert_eq!((b.routes.len(), b.ignored()), (1, 1));
    // a reload whose backup allows 172.16.0.0/24: the route maps to it
    let keys = &lab.keys;
    let text = format!(
        "[interface]\nname = \"vg0\"\nprivate_key_file = \"office.key\"\n\
         [[peer]]\nname = \"aws\"\npublic_key = \"{}\"\nendpoint = \"{AWS}\"\nallowed_ips = [\"10.0.0.0/16\"]\n\
         [[peer]]\nname = \"backup\"\npublic_key = \"{}\"\nendpoint = \"{BACKUP}\"\nallowed_ips = [\"10.0.0.0/16\", \"172.16.0.0/24\"]\n\
         [bgp]\nkernel_table = 100\n",
        keys[1].public_key(),
        keys[2].public_key()
    );
    lab.office.reload(&config(&text)).unwrap();
    assert_eq!(to(&lab, [10, 20, 0, 1]), Some(1));
    assert_eq!(lab.office.status(lab.now).bgp.unwrap().ignored(), 0);
    // another table: the old one's routes go until the shell's dump
    let other = text.replace("kernel_table = 100", "kernel_table = 101");
    lab.office.reload(&config(&other)).unwrap();
    assert_eq!(to(&lab, [10, 20, 0, 1]), None);
    assert_eq!(lab.office.status(lab.now).bgp.unwrap().kernel_table, 101);
    // no [bgp]: events are ignored and the status has no BGP part
    let none = text.replace("[bgp]\nkernel_table = 100\n", "");
    lab.office.reload(&config(&none)).unwrap();
    lab.office
        .handle_route_events([added("10.20.0.0/24", 32, "192.0.2.2")]);
    assert_eq!(to(&lab, [10, 20, 0, 1]), None);
    assert!(lab.office.status(lab.now).bgp.is_none());
}

#[test]
fn a_dump_of_a_few_hundred_routes_replaces_the_table() {
    let mut lab = bgp_lab();
    both_alive(&mut lab);
    let routes = |hop: &str| -> Vec<KernelRoute> {
        (0..300u32)
            .map(|i| KernelRoute {
                prefix: Ipv4Net::new(Ipv4Addr::from(0x0B00_0000 | (i << 8)), 24).unwrap(),
                metric: 32,
                next_hops: vec![hop.parse().unwrap()],
            })
            .collect()
    };
    lab.office
        .handle_route_events([RouteEvent::Dumped(routes("192.0.2.2"))]);
    assert_eq!(to(&lab, [11, 0, 200, 1]), Some(0));
    lab.office
        .handle_route_events([RouteEvent::Dumped(routes("192.0.2.3"))]);
    assert_eq!(to(&lab, [11, 0, 200, 1]), Some(1));
    assert_eq!(lab.office.status(lab.now).bgp.unwrap().routes.len(), 300);
}
