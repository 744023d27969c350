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
    Ok(ExitCode::SUCCESS)
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
