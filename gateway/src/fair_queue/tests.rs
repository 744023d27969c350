//! The fair queue on a hand-driven clock.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::{Enqueued, FairQueue, QueueConfig, DEFAULT_QUEUE};

const MTU: usize = 1420;

/// An IPv4 packet of `len` bytes (at least 28) from 10.0.0.`src` to
/// 10.0.1.1, protocol `proto` (6 TCP, 17 UDP, 1 ICMP), source port
/// `port`; its sequence number `seq` in bytes 24..28 (after the ports).
fn packet(src: u8, proto: u8, port: u16, seq: u32, len: usize) -> Vec<u8> {
    let mut p = vec![0u8; len.max(28)];
    p[0] = 0x45;
    let total = p.len() as u16;
    p[2..4].copy_from_slice(&total.to_be_bytes());
    p[6] = 0x40; // DF
    p[9] = proto;
    p[12..16].copy_from_slice(&[10, 0, 0, src]);
    p[16..20].copy_from_slice(&[10, 0, 1, 1]);
    p[20..22].copy_from_slice(&port.to_be_bytes());
    p[22..24].copy_from_slice(&80u16.to_be_bytes());
    p[24..28].copy_from_slice(&seq.to_be_bytes());
    p
}

/// (source address byte, port, sequence number) of a dequeued packet.
fn ident(p: &[u8]) -> (u8, u16, u32) {
    (
        p[15],
        u16::from_be_bytes([p[20], p[21]]),
        u32::from_be_bytes([p[24], p[25], p[26], p[27]]),
    )
}

fn queue(config: QueueConfig, t0: Instant) -> FairQueue {
    FairQueue::new(config, MTU, t0)
}

#[test]
fn a_ping_behind_a_bulk_backlog_goes_out_next() {
    let t0 = Instant::now();
    let mut q = queue(DEFAULT_QUEUE, t0);
    for seq in 0..200 {
        assert_eq!(
            q.enqueue(t0, &packet(1, 6, 5000, seq, MTU)),
            Enqueued::Queued
        );
    }
    // the bulk flow has had its first turn
    let first = q.dequeue(t0, |p| ident(p)).unwrap();
    assert_eq!(first, (1, 5000, 0));
    // an echo request arrives behind 199 bulk packets (~280 kB)
    q.enqueue(t0, &packet(2, 1, 0, 7, 84));
    let next = q.dequeue(t0, |p| ident(p)).unwrap();
    assert_eq!(next.0, 2, "the sparse flow is served before the backlog");
    assert_eq!(q.stats().packets, 199);
}

#[test]
fn two_bulk_flows_share_the_bytes_evenly() {
    let t0 = Instant::now();
    let mut q = queue(DEFAULT_QUEUE, t0);
    // one flow of full packets, one of half-size packets
    for seq in 0..300 {
        q.enqueue(t0, &packet(1, 6, 1, seq, MTU));
        q.enqueue(t0, &packet(2, 6, 2, seq, MTU / 2));
    }
    let (mut big, mut small) = (0usize, 0usize);
    for _ in 0..300 {
        let (src, len) = q.dequeue(t0, |p| (p[15], p.len())).unwrap();
        if src == 1 {
            big += len;
        } else {
            small += len;
        }
    }
    let ratio = big as f64 / small as f64;
    assert!(
        (0.9..1.1).contains(&ratio),
        "bytes {big} vs {small}: DRR shares bytes, not packets"
    );
}

#[test]
fn codel_drops_nothing_while_the_delay_stays_below_target() {
    let t0 = Instant::now();
    let mut q = queue(DEFAULT_QUEUE, t0);
    let mut now = t0;
    // a standing queue of 10 packets, each waiting 500 us (< 1 ms target)
    for seq in 0..10 {
        q.enqueue(now, &packet(1, 6, 1, seq, MTU));
    }
    for seq in 10..5000 {
        now += Duration::from_micros(50);
        q.enqueue(now, &packet(1, 6, 1, seq, MTU));
        q.dequeue(now, |_| ()).unwrap();
    }
    assert_eq!(q.stats().codel_drops, 0);
    assert_eq!(q.stats().overflow_drops, 0);
    assert!(q.stats().sojourn_max_ns <= 500_000, "{:?}", q.stats());
}

#[test]
fn codel_drops_once_the_delay_stays_above_target_for_an_interval() {
    let t0 = Instant::now();
    let config = DEFAULT_QUEUE;
    let mut q = queue(config, t0);
    let mut now = t0;
    // arrivals at twice the departure rate: the delay grows without end
    let mut first_drop = None;
    for step in 0..4000u32 {
        now += Duration::from_micros(10);
        q.enqueue(now, &packet(1, 6, 1, step, MTU));
        if step % 2 == 0 {
            q.dequeue(now, |_| ());
        }
        if first_drop.is_none() && q.stats().codel_drops > 0 {
            first_drop = Some(now - t0);
        }
    }
    let first_drop = first_drop.expect("CoDel dropped");
    // the delay passes 1 ms after ~1 ms (100 departures of 10 us), then
    // one interval (10 ms) must pass before the first drop
    assert!(
        first_drop >= config.interval + config.target,
        "first drop after {first_drop:?}"
    );
    assert!(
        first_drop < config.interval * 2,
        "first drop after {first_drop:?}"
    );
    // and the drops come ever faster (the control law), more than one
    assert!(q.stats().codel_drops > 3, "{:?}", q.stats());
}

#[test]
fn codel_leaves_dropping_when_the_queue_drains() {
    let t0 = Instant::now();
    let mut q = queue(DEFAULT_QUEUE, t0);
    for seq in 0..100 {
        q.enqueue(t0, &packet(1, 6, 1, seq, MTU));
    }
    // 50 ms later every packet has waited far too long
    let late = t0 + Duration::from_millis(50);
    q.dequeue(late, |_| ()); // above target: the interval starts
    let mut now = late + Duration::from_millis(11);
    q.dequeue(now, |_| ());
    let dropped = q.stats().codel_drops;
    assert!(dropped >= 1);
    // fresh packets with no wait: nothing more is dropped
    while q.dequeue(now, |_| ()).is_some() {
        now += Duration::from_micros(1);
    }
    let before = q.stats().codel_drops;
    for seq in 1000..1100 {
        q.enqueue(now, &packet(1, 6, 1, seq, MTU));
        now += Duration::from_micros(5);
        q.dequeue(now, |_| ()).unwrap();
    }
    assert_eq!(
        q.stats().codel_drops,
        before,
        "below target again: no drops"
    );
}

#[test]
fn a_full_queue_drops_from_the_fattest_flow() {
    let t0 = Instant::now();
    let config = QueueConfig {
        limit_packets: 64,
        ..DEFAULT_QUEUE
    };
    let mut q = queue(config, t0);
    for seq in 0..64 {
        q.enqueue(t0, &packet(1, 6, 1, seq, MTU));
    }
    // the queue is full: a ping still gets in, a bulk packet goes
    assert_eq!(q.enqueue(t0, &packet(2, 1, 0, 0, 84)), Enqueued::Queued);
    assert_eq!(q.stats().overflow_drops, 1);
    assert_eq!(q.stats().packets, 64);
    let first = q.dequeue(t0, |p| ident(p)).unwrap();
    // the bulk flow lost its head (seq 0), the ping came through
    assert_eq!(first, (1, 1, 1));
    assert_eq!(q.dequeue(t0, |p| ident(p)).unwrap().0, 2);
}

#[test]
fn the_byte_limit_holds_too() {
    let t0 = Instant::now();
    let config = QueueConfig {
        limit_bytes: 10 * MTU,
        ..DEFAULT_QUEUE
    };
    let mut q = queue(config, t0);
    for seq in 0..20 {
        q.enqueue(t0, &packet(1, 6, 1, seq, MTU));
    }
    assert_eq!(q.stats().packets, 10);
    assert_eq!(q.stats().bytes, 10 * MTU as u64);
    assert_eq!(q.stats().overflow_drops, 10);
}

#[test]
fn a_packet_longer_than_a_slot_is_handed_back() {
    let t0 = Instant::now();
    let mut q = queue(DEFAULT_QUEUE, t0);
    assert_eq!(
        q.enqueue(t0, &packet(1, 6, 1, 0, MTU + 1)),
        Enqueued::TooLong
    );
    assert!(q.is_empty());
}

#[test]
fn sojourn_is_measured_on_the_clock_given() {
    let t0 = Instant::now();
    let mut q = queue(DEFAULT_QUEUE, t0);
    q.enqueue(t0, &packet(1, 17, 1, 0, 100));
    q.enqueue(t0 + Duration::from_micros(100), &packet(2, 17, 1, 0, 100));
    q.dequeue(t0 + Duration::from_micros(300), |_| ());
    q.dequeue(t0 + Duration::from_micros(400), |_| ());
    let s = q.stats();
    assert_eq!(s.sojourn_last_ns, 300_000);
    assert_eq!(s.sojourn_max_ns, 300_000);
    assert_eq!(s.sojourn_sum_ns, 600_000);
    assert_eq!(s.dequeued, 2);
}

/// Counts the heap allocations of each thread (the gateway's unit tests
/// run with it; it only counts, then asks the system allocator).
struct CountingAllocator;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count_one() {
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: every call is passed on to the system allocator unchanged.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        // SAFETY: the caller's contract, passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

#[test]
fn the_packet_path_allocates_nothing_drops_included() {
    let t0 = Instant::now();
    let config = QueueConfig {
        limit_packets: 256,
        ..DEFAULT_QUEUE
    };
    let mut q = queue(config, t0);
    let packets: Vec<Vec<u8>> = (0..64u16)
        .map(|i| packet((i % 8) as u8, 6, i, u32::from(i), 100 + usize::from(i) * 20))
        .collect();
    let before = allocations();
    let mut now = t0;
    // 64 in, 50 out every 300 us: the queue fills (overflow drops) and
    // its packets wait ~1.5 ms, above target for more than an interval
    // (CoDel's drops)
    let mut sent = 0usize;
    for _ in 0..2000 {
        for p in &packets {
            q.enqueue(now, p);
        }
        now += Duration::from_micros(300);
        for _ in 0..50 {
            sent += q.dequeue(now, |p| p.len()).unwrap_or(0);
        }
    }
    assert_eq!(allocations() - before, 0, "allocations on the packet path");
    let s = q.stats();
    assert!(
        s.overflow_drops > 0 && s.codel_drops > 0 && sent > 0,
        "{s:?}"
    );
}

proptest! {
    /// Whatever arrives, whenever, and whatever CoDel and the limits drop,
    /// the packets of one flow leave in the order they came.
    #[test]
    fn no_packet_is_reordered_within_a_flow(
        ops in proptest::collection::vec((0u8..6, 0u16..3, 28usize..=MTU, 0u64..3000, any::<bool>()), 1..600),
        limit_packets in 4usize..64,
        flows in 1usize..16,
    ) {
        let t0 = Instant::now();
        let config = QueueConfig { limit_packets, flows, ..DEFAULT_QUEUE };
        let mut q = queue(config, t0);
        let mut now = t0;
        let mut seq = 0u32;
        let mut last: std::collections::HashMap<(u8, u16), u32> = Default::default();
        let mut sent = 0u64;
        for (src, port, len, advance_us, take) in ops {
            now += Duration::from_micros(advance_us);
            if take {
                if let Some((s, p, n)) = q.dequeue(now, |p| ident(p)) {
                    sent += 1;
                    if let Some(&prev) = last.get(&(s, p)) {
                        prop_assert!(n > prev, "flow {s}/{p}: {n} after {prev}");
                    }
                    last.insert((s, p), n);
                }
            } else {
                q.enqueue(now, &packet(src, 6, port, seq, len));
                seq += 1;
            }
            let st = q.stats();
            prop_assert!(st.packets as usize <= limit_packets);
            prop_assert_eq!(seq as u64, st.packets + sent + st.codel_drops + st.overflow_drops);
        }
    }
}
