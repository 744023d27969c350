//! `vifgate bench conntrack`: the gateway's connection tracking at a
//! million flows: memory per flow, new flows and lookups per second.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::Result;

use super::packets::flow_packet;

/// Resident memory of this process, from /proc/self/statm.
fn rss_bytes() -> Option<usize> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: usize = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// Tracks `flows` TCP flows, then looks each up.
pub(super) fn run(flows: usize) -> Result<ExitCode> {
    use gateway::conntrack::{ConnTrack, Side, Timeouts};
    let packets: Vec<_> = (0..flows)
        .map(|i| gateway::packet::parse_ipv4(&flow_packet(i)))
        .collect::<Result<_, _>>()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let before = rss_bytes();
    let mut ct = ConnTrack::new(flows, Timeouts::default());
    let now = Instant::now();
    let start = Instant::now();
    for m in &packets {
        ct.insert(now, Side::Lan, m)
            .map_err(|_| anyhow::anyhow!("table full"))?;
    }
    let insert = start.elapsed();
    let start = Instant::now();
    let mut hits = 0usize;
    for m in &packets {
        if ct.lookup(now, Side::Lan, m) != gateway::conntrack::Verdict::New {
            hits += 1;
        }
    }
    let lookup = start.elapsed();
    let after = rss_bytes();
    println!("conntrack benchmark: {flows} TCP flows");
    println!(
        "  tracked {}, table {} bytes = {} bytes per flow (target <= 160)",
        ct.len(),
        ct.memory_bytes(),
        ct.memory_bytes() / flows.max(1)
    );
    if let (Some(b), Some(a)) = (before, after) {
        println!(
            "  process RSS grew {} bytes = {} bytes per flow",
            a.saturating_sub(b),
            a.saturating_sub(b) / flows.max(1)
        );
    }
    println!(
        "  new flows: {:.2} M/s ({:.0} ns each); lookups of tracked flows: {:.2} M/s ({hits} hits)",
        flows as f64 / insert.as_secs_f64() / 1e6,
        insert.as_secs_f64() * 1e9 / flows.max(1) as f64,
        flows as f64 / lookup.as_secs_f64() / 1e6
    );
    full_table(&packets);
    echo_flood(flows);
    Ok(ExitCode::SUCCESS)
}

/// An echo request from `10.0.x.y` (the far side) to the office host, or
/// (`reply`) its answer, for flow `n`: sources over 10.0.0.0/16, and the
/// echo identifier, so that every `n` is its own flow.
fn echo_packet(n: u32, reply: bool) -> Vec<u8> {
    let far = [10, 0, (n >> 8) as u8, n as u8];
    let office = [192, 168, 10, 10];
    let (src, dst, ty) = if reply {
        (office, far, 0)
    } else {
        (far, office, 8)
    };
    let id = ((n >> 16) as u16).to_be_bytes();
    let mut p = vec![0u8; 28];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&28u16.to_be_bytes());
    p[8] = 64;
    p[9] = 1;
    p[12..16].copy_from_slice(&src);
    p[16..20].copy_from_slice(&dst);
    p[20] = ty;
    p[24..26].copy_from_slice(&id);
    p
}

/// Issue 19's case, in the table alone: twice the table in spoofed echo
/// requests from one peer, each answered by the office host, then the
/// office opens new flows (TCP, UDP, ping). With the gateway's default
/// shares (the tunnel half the table) and, for comparison, without shares
/// under `refuse` (what a table that never evicts ICMP flows does: the
/// gateway before shares).
fn echo_flood(capacity: usize) {
    use gateway::conntrack::{ConnTrack, Limits, Opener, Side, Timeouts, WhenFull};
    use gateway::packet::parse_ipv4;
    let flood = 2 * capacity;
    let office: Vec<_> = (0..10_000)
        .filter_map(|i| parse_ipv4(&flow_packet(i)).ok())
        .collect();
    for (name, limits, when_full) in [
        (
            "shares, early_drop",
            Limits::shared(capacity),
            WhenFull::EarlyDrop,
        ),
        (
            "no shares, refuse",
            Limits::none(capacity),
            WhenFull::Refuse,
        ),
    ] {
        let mut ct = ConnTrack::new(capacity, Timeouts::default());
        ct.set_limits(limits);
        ct.set_when_full(when_full);
        let t0 = Instant::now();
        let start = Instant::now();
        let mut refused = 0usize;
        for n in 0..flood as u32 {
            // 100,000 a second on the table's clock
            let now = t0 + std::time::Duration::from_micros(u64::from(n) * 10);
            let (Ok(request), Ok(reply)) = (
                parse_ipv4(&echo_packet(n, false)),
                parse_ipv4(&echo_packet(n, true)),
            ) else {
                continue;
            };
            if ct.open(now, Opener::Peer(0), &request).is_err() {
                refused += 1;
                continue;
            }
            ct.lookup(now, Side::Lan, &reply);
        }
        let took = start.elapsed();
        let now = t0 + std::time::Duration::from_micros(flood as u64 * 10);
        let opened = office
            .iter()
            .filter(|m| ct.open(now, Opener::Lan, m).is_ok())
            .count();
        println!(
            "  echo flood, {name}: {flood} requests into {capacity} flows at {:.2} M/s ({:.0} ns each, with the reply's lookup); {refused} refused, {} evicted; tunnel holds {}; then the office opens {opened} of {} new flows",
            flood as f64 / took.as_secs_f64() / 1e6,
            took.as_secs_f64() * 1e9 / flood.max(1) as f64,
            ct.early_drops(),
            ct.tunnel_flows(),
            office.len(),
        );
    }
}

/// New flows into a table full of half-open ones (a SYN flood): each
/// evicts the least recently seen under early drop, is refused under
/// refuse. A table of half the flows, then the other half inserted.
fn full_table(packets: &[gateway::packet::Ipv4Meta]) {
    use gateway::conntrack::{ConnTrack, Side, Timeouts, WhenFull};
    let (first, second) = packets.split_at(packets.len() / 2);
    for when_full in [WhenFull::Refuse, WhenFull::EarlyDrop] {
        let mut ct = ConnTrack::new(first.len(), Timeouts::default());
        ct.set_when_full(when_full);
        let now = Instant::now();
        for m in first {
            let _ = ct.insert(now, Side::Tunnel, m);
        }
        let start = Instant::now();
        for m in second {
            let _ = ct.insert(now, Side::Tunnel, m);
        }
        let took = start.elapsed();
        println!(
            "  full table of {} half-open flows, {} new ones, when_full = {}: {:.2} M/s ({:.0} ns each), {} refused, {} evicted",
            first.len(),
            second.len(),
            when_full.as_str(),
            second.len() as f64 / took.as_secs_f64() / 1e6,
            took.as_secs_f64() * 1e9 / second.len().max(1) as f64,
            ct.drops_full(),
            ct.early_drops(),
        );
    }
}
