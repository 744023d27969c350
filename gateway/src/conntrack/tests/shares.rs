//! The table under a flood from the tunnel (issue 19, item 17): shares
//! per side and per peer, and idle UDP and ICMP flows evicted under
//! pressure.

use super::*;

/// A spoofed echo request from behind the tunnel, from `10.0.HI.LO`.
fn spoofed_echo(n: u16) -> Ipv4Meta {
    let [hi, lo] = n.to_be_bytes();
    echo([10, 0, hi, lo], LAN, 8, 7)
}

/// A table of `capacity` with the gateway's default shares.
fn shared(capacity: usize) -> ConnTrack {
    let mut ct = ConnTrack::new(capacity, Timeouts::default());
    ct.set_limits(Limits::shared(capacity));
    ct
}

#[test]
fn a_flood_of_echo_requests_from_a_peer_leaves_the_office_its_share() {
    let t0 = Instant::now();
    let mut ct = shared(1000);
    // The office's own flows, opened before the flood.
    handshake(&mut ct, t0, 40000);
    ct.open(t0, Opener::Lan, &udp(LAN, 1000, VPC, 53)).unwrap();
    // 20 times the table in spoofed echo requests, answered by the
    // office hosts (so each flow is seen both ways), 100 a second.
    for n in 0..20_000u16 {
        let now = at(t0, u64::from(n) / 100);
        let request = spoofed_echo(n);
        assert_eq!(ct.open(now, Opener::Peer(0), &request), Ok(()), "{n}");
        let [hi, lo] = n.to_be_bytes();
        let reply = echo(LAN, [10, 0, hi, lo], 0, 7);
        assert_eq!(ct.lookup(now, Side::Lan, &reply), Verdict::Reply);
        assert!(ct.tunnel_flows() <= 500);
    }
    assert_eq!(ct.tunnel_flows(), 500, "the tunnel's half");
    assert_eq!(ct.flows_of(Opener::Peer(0)), 500);
    // The flood recycled its own flows, never the office's.
    assert_eq!(ct.early_drops(), 19_500);
    assert_eq!(ct.drops_full(), 0);
    let now = at(t0, 200);
    let data = tcp(VPC, 443, LAN, 40000, ACK);
    assert_eq!(ct.lookup(now, Side::Tunnel, &data), Verdict::Reply);
    // The office still opens SSH, DNS and ping during the flood: its
    // half of the table is free.
    for sport in 40001..40100 {
        handshake(&mut ct, now, sport);
    }
    ct.open(now, Opener::Lan, &udp(LAN, 1001, VPC, 53)).unwrap();
    ct.open(now, Opener::Lan, &echo(LAN, VPC, 8, 9)).unwrap();
    // (the first DNS query, unanswered, timed out after 30 s)
    assert_eq!(ct.flows_of(Opener::Lan), 1 + 99 + 2);
    assert_eq!(ct.limit_drops(), LimitDrops::default());
    ct.check();
}

#[test]
fn idle_udp_and_icmp_flows_are_evicted_under_pressure_least_recently_seen_first() {
    let t0 = Instant::now();
    let mut ct = ConnTrack::new(3, Timeouts::default());
    ct.insert(t0, Side::Lan, &udp(LAN, 1000, VPC, 53)).unwrap();
    ct.insert(t0, Side::Lan, &echo(LAN, VPC, 8, 1)).unwrap();
    ct.insert(t0, Side::Lan, &udp(LAN, 1001, VPC, 53)).unwrap();
    // The first DNS flow is answered later: the echo flow is now the idlest.
    assert_eq!(
        ct.lookup(at(t0, 5), Side::Tunnel, &udp(VPC, 53, LAN, 1000)),
        Verdict::Reply
    );
    // A full table of UDP and ICMP flows makes room for a new one.
    assert_eq!(
        ct.insert(at(t0, 10), Side::Lan, &udp(LAN, 2000, VPC, 53)),
        Ok(())
    );
    assert_eq!(ct.early_drops(), 1);
    assert!(
        ct.flow(at(t0, 10), &echo(LAN, VPC, 8, 1)).is_none(),
        "the idlest went"
    );
    assert!(ct.flow(at(t0, 10), &udp(LAN, 1000, VPC, 53)).is_some());
    assert_eq!(ct.insert(at(t0, 11), Side::Lan, &gre(LAN, VPC)), Ok(()));
    assert!(ct.flow(at(t0, 11), &udp(LAN, 1001, VPC, 53)).is_none());
    assert_eq!(ct.drops_full(), 0);
    ct.check();
}

#[test]
fn a_peer_at_its_limit_evicts_its_own_flows_only() {
    let t0 = Instant::now();
    let mut ct = ConnTrack::new(100, Timeouts::default());
    ct.set_limits(Limits {
        lan: 100,
        tunnel: 60,
        peer: 40,
    });
    // Peer 1's flows, the oldest in the table.
    for n in 0..20 {
        ct.open(t0, Opener::Peer(1), &spoofed_echo(5000 + n))
            .unwrap();
    }
    // Peer 0 floods: it never takes more than 40, and never peer 1's.
    for n in 0..1000 {
        let now = at(t0, 1 + u64::from(n) / 100);
        ct.open(now, Opener::Peer(0), &spoofed_echo(n)).unwrap();
    }
    assert_eq!(ct.flows_of(Opener::Peer(0)), 40);
    assert_eq!(ct.flows_of(Opener::Peer(1)), 20);
    assert_eq!(ct.tunnel_flows(), 60);
    // Now at the tunnel's limit too: a new peer's flow takes the tunnel's
    // least recently seen flow, one of peer 1's.
    let now = at(t0, 20);
    ct.open(now, Opener::Peer(2), &spoofed_echo(9000)).unwrap();
    assert_eq!(ct.flows_of(Opener::Peer(1)), 19);
    assert_eq!(ct.tunnel_flows(), 60);
    assert_eq!(ct.limit_drops(), LimitDrops::default());
    ct.check();
}

#[test]
fn a_limit_with_nothing_to_evict_refuses_and_counts_by_reason() {
    let t0 = Instant::now();
    let mut ct = ConnTrack::new(10, Timeouts::default());
    ct.set_limits(Limits {
        lan: 3,
        tunnel: 4,
        peer: 2,
    });
    // Established connections are never evicted.
    let connect = |ct: &mut ConnTrack, opener: Opener, from: [u8; 4], to: [u8; 4], port: u16| {
        let side = opener.side();
        ct.open(t0, opener, &tcp(from, port, to, 22, SYN))?;
        ct.lookup(t0, side.other(), &tcp(to, 22, from, port, SYN | ACK));
        ct.lookup(t0, side, &tcp(from, port, to, 22, ACK));
        Ok::<(), Refused>(())
    };
    for port in 1..=3 {
        connect(&mut ct, Opener::Lan, LAN, VPC, port).unwrap();
    }
    assert_eq!(
        connect(&mut ct, Opener::Lan, LAN, VPC, 4),
        Err(Refused::LanLimit)
    );
    for port in 1..=2 {
        connect(&mut ct, Opener::Peer(0), VPC, LAN, port).unwrap();
    }
    assert_eq!(
        connect(&mut ct, Opener::Peer(0), VPC, LAN, 3),
        Err(Refused::PeerLimit)
    );
    for port in 1..=2 {
        connect(&mut ct, Opener::Peer(1), VPC, LAN, 100 + port).unwrap();
    }
    assert_eq!(
        connect(&mut ct, Opener::Peer(2), VPC, LAN, 200),
        Err(Refused::TunnelLimit)
    );
    assert_eq!(
        ct.limit_drops(),
        LimitDrops {
            lan: 1,
            tunnel: 1,
            peer: 1
        }
    );
    assert_eq!(ct.drops_full(), 0);
    assert_eq!(ct.len(), 7);
    // Under `refuse` even an evictable flow stays: the limit refuses.
    ct.set_when_full(WhenFull::Refuse);
    ct.set_limits(Limits {
        lan: 4,
        tunnel: 4,
        peer: 2,
    });
    ct.open(t0, Opener::Lan, &udp(LAN, 1, VPC, 53)).unwrap();
    assert_eq!(
        ct.open(t0, Opener::Lan, &udp(LAN, 2, VPC, 53)),
        Err(Refused::LanLimit)
    );
    ct.check();
}

#[test]
fn renumbered_peers_keep_their_flows_and_a_removed_peers_go_to_the_tunnel() {
    let t0 = Instant::now();
    let mut ct = ConnTrack::new(100, Timeouts::default());
    for n in 0..3 {
        ct.open(t0, Opener::Peer(0), &spoofed_echo(n)).unwrap();
    }
    for n in 10..15 {
        ct.open(t0, Opener::Peer(1), &spoofed_echo(n)).unwrap();
    }
    ct.open(t0, Opener::Lan, &udp(LAN, 1, VPC, 53)).unwrap();
    // Peer 1 is now first; peer 0 is gone.
    ct.renumber_peers(|old| (old == 1).then_some(0));
    assert_eq!(ct.flows_of(Opener::Peer(0)), 5);
    assert_eq!(ct.flows_of(Opener::Peer(1)), 0);
    assert_eq!(ct.flows_of(Opener::Tunnel), 3);
    assert_eq!(ct.flows_of(Opener::Lan), 1);
    assert_eq!(ct.tunnel_flows(), 8);
    ct.check();
    // The lists moved with them: limits evict the right flows.
    ct.set_limits(Limits {
        lan: 100,
        tunnel: 100,
        peer: 5,
    });
    ct.open(at(t0, 1), Opener::Peer(0), &spoofed_echo(20))
        .unwrap();
    assert!(ct.flow(at(t0, 1), &spoofed_echo(10)).is_none());
    assert!(ct.flow(at(t0, 1), &spoofed_echo(0)).is_some());
    ct.check();
}
