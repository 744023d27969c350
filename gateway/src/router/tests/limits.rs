//! What the far side may do to the office (issue 19): fill the connection
//! table (item 17), and reach destinations the VIF does not carry (item
//! 18). Each drop is counted under its reason, in `vifgate status` and in
//! the Prometheus metrics.

use super::*;
use std::time::SystemTime;

/// The AWS end routes everything to the office, as a far end that tries,
/// and takes any office source (its own destinations: the VPC).
fn aws_routes_everything(lab: &mut Lab) {
    let office_key = lab.keys[0].public_key();
    let text = vpc_config(
        "aws",
        &office_key,
        "[[route]]\nprefix = \"0.0.0.0/0\"\npeer = \"office\"\n[forwarding]\ndestinations = [\"10.0.0.0/16\"]\n",
    )
    .replace(
        "allowed_ips = [\"192.168.10.0/24\"]",
        "allowed_ips = [\"0.0.0.0/0\"]",
    );
    lab.aws.reload(&config(&text)).unwrap();
}

/// A ping from the VPC side to `dst`: how many packets the office's TUN
/// received.
fn vpc_pings(lab: &mut Lab, src: [u8; 4], dst: [u8; 4]) -> usize {
    lab.aws_sends(&ping(src, dst, 8)).0.len()
}

/// The value of a metric line in a scrape.
fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
}

#[test]
fn a_flood_of_spoofed_pings_from_the_tunnel_cannot_starve_the_office() {
    // The issue's case in small: 3 times the table in echo requests from
    // spoofed 10.0.x.y sources, then the office opens a connection.
    let mut lab = lab(&format!("{EDGE}[conntrack]\nmax_flows = 100\n"));
    let mut delivered = 0;
    for n in 0..300u16 {
        let [hi, lo] = n.to_be_bytes();
        delivered += vpc_pings(&mut lab, [10, 0, hi, lo], [192, 168, 10, 10]);
    }
    assert_eq!(delivered, 300, "the flood recycles its own flows");
    let status = lab.office.status(lab.now);
    assert_eq!(status.conntrack_flows, 50, "the tunnel's half of the table");
    assert_eq!(status.drops.router.conntrack_full, 0);
    assert_eq!(status.drops.router.conntrack_early_drop, 250);
    let (_, at_aws) = lab.office_sends(&office_syn());
    assert_eq!(at_aws.len(), 1, "the office's new connection gets through");
    let (at_office, _) = lab.aws_sends(&vpc_syn_ack());
    assert_eq!(at_office.len(), 1, "and its reply");
}

#[test]
fn a_peer_over_its_limit_is_dropped_and_counted_by_reason() {
    let mut lab = lab(&format!(
        "{EDGE}[conntrack]\nmax_flows = 100\npeer_max_flows = 2\nwhen_full = \"refuse\"\n"
    ));
    let delivered: usize = (1..=5)
        .map(|n| vpc_pings(&mut lab, [10, 0, 0, n], [192, 168, 10, 10]))
        .sum();
    assert_eq!(delivered, 2);
    let status = lab.office.status(lab.now);
    assert_eq!(status.drops.router.conntrack_peer_limit, 3);
    assert_eq!(status.drops.router.conntrack_full, 0);
    let json = serde_json::to_value(&status).unwrap();
    assert_eq!(json["drops"]["conntrack_peer_limit"], 3);
    assert!(
        status.render().contains("conntrack_peer_limit 3"),
        "{}",
        status.render()
    );
    let text = crate::metrics::render(&status, SystemTime::now());
    assert_eq!(
        metric(
            &text,
            r#"vifgate_dropped_packets_total{reason="conntrack_peer_limit"}"#
        ),
        Some(3.0)
    );
    // The office still opens its own.
    assert_eq!(lab.office_sends(&office_syn()).1.len(), 1);
}

#[test]
fn from_the_tunnel_only_the_office_routes_are_reachable() {
    let mut lab = lab(&format!(
        "{EDGE}[forwarding]\ndestinations = [\"192.168.10.0/24\"]\n"
    ));
    aws_routes_everything(&mut lab);
    let vpc = [10, 0, 10, 10];
    assert_eq!(vpc_pings(&mut lab, vpc, [192, 168, 10, 10]), 1);
    // The box itself (its tunnel address), beyond its WAN (transit), a
    // block of the office's it does not advertise, broadcast, a VPC
    // address (bounced back).
    assert_eq!(vpc_pings(&mut lab, vpc, [192, 168, 255, 1]), 0);
    assert_eq!(vpc_pings(&mut lab, vpc, [8, 8, 8, 8]), 0);
    assert_eq!(vpc_pings(&mut lab, vpc, [192, 168, 30, 1]), 0);
    assert_eq!(vpc_pings(&mut lab, vpc, [255, 255, 255, 255]), 0);
    assert_eq!(vpc_pings(&mut lab, vpc, [10, 0, 2, 2]), 0);
    // The box's other addresses, as the shell reads them.
    lab.office
        .set_box_addresses(&[Ipv4Addr::new(192, 168, 10, 2)]);
    assert_eq!(vpc_pings(&mut lab, vpc, [192, 168, 10, 2]), 0);
    let status = lab.office.status(lab.now);
    let drops = status.drops.router;
    assert_eq!(
        (
            drops.to_gateway_box,
            drops.outside_destinations,
            drops.hairpin
        ),
        (2, 4, 0)
    );
    // None of them reached the rules.
    assert_eq!(drops.security_group, 0);
    let text = crate::metrics::render(&status, SystemTime::now());
    for (reason, n) in [("to_gateway_box", 2.0), ("outside_destinations", 4.0)] {
        let series = format!(r#"vifgate_dropped_packets_total{{reason="{reason}"}}"#);
        assert_eq!(metric(&text, &series), Some(n), "{reason}");
    }
    let shown = status.render();
    assert!(
        shown.contains("outside_destinations 4") && shown.contains("to_gateway_box 2"),
        "{shown}"
    );
}

#[test]
fn without_destinations_nothing_goes_back_into_the_tunnel_or_to_the_box() {
    let mut lab = lab(EDGE);
    aws_routes_everything(&mut lab);
    let vpc = [10, 0, 10, 10];
    assert_eq!(vpc_pings(&mut lab, vpc, [192, 168, 10, 10]), 1);
    assert_eq!(vpc_pings(&mut lab, vpc, [10, 0, 2, 2]), 0, "bounced");
    assert_eq!(vpc_pings(&mut lab, vpc, [192, 168, 255, 1]), 0, "the box");
    assert_eq!(vpc_pings(&mut lab, vpc, [127, 0, 0, 1]), 0, "the box");
    let drops = lab.office.status(lab.now).drops.router;
    assert_eq!((drops.hairpin, drops.to_gateway_box), (1, 2));
    let json = serde_json::to_value(lab.office.status(lab.now)).unwrap();
    assert_eq!(json["drops"]["hairpin"], 1);
}

#[test]
fn allow_to_box_opens_the_named_box_address_and_a_reload_keeps_the_read_ones() {
    let mut lab = lab(&format!(
        "{EDGE}[forwarding]\ndestinations = [\"192.168.10.0/24\"]\nallow_to_box = [\"192.168.255.1/32\"]\n"
    ));
    aws_routes_everything(&mut lab);
    lab.office
        .set_box_addresses(&[Ipv4Addr::new(192, 168, 10, 2)]);
    let vpc = [10, 0, 10, 10];
    assert_eq!(vpc_pings(&mut lab, vpc, [192, 168, 255, 1]), 1);
    assert_eq!(vpc_pings(&mut lab, vpc, [192, 168, 10, 2]), 0);
    // A reload without the knob: the box's read addresses stay known.
    let keys = [lab.keys[1].public_key(), lab.keys[2].public_key()];
    let mut new = config(&office_config(&keys[0], &keys[1], None, EDGE));
    new.forwarding.destinations = Some(vec!["192.168.10.0/24".parse().unwrap()]);
    lab.office.reload(&new).unwrap();
    // (the first ping's flow is still tracked: another echo identifier)
    let new_ping = ipv4(vpc, [192, 168, 255, 1], 1, false, &[8, 0, 0, 0, 0, 9, 0, 1]);
    assert_eq!(lab.aws_sends(&new_ping).0.len(), 0);
    assert_eq!(vpc_pings(&mut lab, vpc, [192, 168, 10, 2]), 0);
    assert_eq!(lab.office.status(lab.now).drops.router.to_gateway_box, 3);
}

#[test]
fn the_box_still_gets_the_replies_of_its_own_flows_through_the_tunnel() {
    let mut lab = lab(&format!(
        "{EDGE}[forwarding]\ndestinations = [\"192.168.10.0/24\"]\n"
    ));
    aws_routes_everything(&mut lab);
    let the_box = [192, 168, 255, 1];
    let vpc = [10, 0, 10, 10];
    // The box pings the VPC from its tunnel address; the reply comes back.
    assert_eq!(lab.office_sends(&ping(the_box, vpc, 8)).1.len(), 1);
    assert_eq!(
        lab.aws_sends(&ping(vpc, the_box, 0)).0.len(),
        1,
        "the reply"
    );
    // A new flow toward the box is no reply.
    assert_eq!(vpc_pings(&mut lab, vpc, the_box), 0);
    assert_eq!(lab.office.status(lab.now).drops.router.to_gateway_box, 1);
}

#[test]
fn without_security_groups_nothing_is_tracked_and_the_box_is_not_told_apart() {
    // No [policy]: no filtering at all, so no reply can be told from a
    // new flow; the routes still hold.
    let mut lab = lab("[forwarding]\ndestinations = [\"192.168.10.0/24\"]\n");
    aws_routes_everything(&mut lab);
    let vpc = [10, 0, 10, 10];
    assert_eq!(vpc_pings(&mut lab, vpc, [192, 168, 255, 1]), 1);
    assert_eq!(vpc_pings(&mut lab, vpc, [8, 8, 8, 8]), 0);
    let drops = lab.office.status(lab.now).drops.router;
    assert_eq!((drops.to_gateway_box, drops.outside_destinations), (0, 1));
}
