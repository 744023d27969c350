//! Flow queueing with CoDel delay control for the tunnel's inner packets,
//! as the kernel's fq_codel does it (RFC 8290), sans-IO: packets and the
//! time go in, packets come out in the order they should be sent.
//!
//! Packets are sorted by their 5-tuple (addresses, protocol and, for TCP
//! and UDP outside fragments, ports) into a fixed number of flow queues.
//! A deficit round robin serves the queues a quantum of bytes at a time,
//! and a queue that was empty (a ping, a TCP ACK, a BGP keepalive, the
//! keystroke of an SSH session) goes on the *new* list, served before the
//! *old* list of the bulk flows: small and sparse traffic does not wait
//! behind a backlog. Each queue runs CoDel (RFC 8289): when its packets
//! have waited longer than `target` for a whole `interval`, it drops
//! from the head, ever more often, until the sender slows down and the
//! wait falls below `target` again. When the whole queue is full (packets
//! or bytes), the head of the fattest flow goes.
//!
//! Nothing here allocates after [`FairQueue::new`]: packets are copied
//! into slots of one buffer made up front, flows are a fixed table, the
//! lists hold at most one entry per flow. Within a flow the order is
//! FIFO, so packets of one flow are never reordered (property-tested).
//! The time is an argument of every call that needs it; tests drive it
//! by hand.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::codel::Codel;

/// No slot, no flow: the end of a list.
const NIL: u32 = u32::MAX;

/// How the queue behaves (`[queue]` in the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueConfig {
    /// Whether the gateway queues at all; off, packets go straight from
    /// the TUN device to encryption as they are read.
    pub enabled: bool,
    /// CoDel's target: the standing delay a flow's queue may keep.
    pub target: Duration,
    /// CoDel's interval: how long the delay may stay above `target`
    /// before the first drop (about a round trip).
    pub interval: Duration,
    /// Most packets queued, all flows together.
    pub limit_packets: usize,
    /// Most bytes queued, all flows together.
    pub limit_bytes: usize,
    /// Number of flow queues (5-tuples are hashed onto them).
    pub flows: usize,
    /// Bytes a flow may send per round (0: one tunnel MTU).
    pub quantum: usize,
}

/// Defaults: off (bench/peers.sh measured its TCP throughput below 95 %
/// of the gateway without it in one of its runs; BENCHMARKS.md), target
/// 1 ms, interval 10 ms, 1024 packets, 2 MiB, 1024 flows, a quantum of one
/// MTU.
pub const DEFAULT_QUEUE: QueueConfig = QueueConfig {
    enabled: false,
    target: Duration::from_millis(1),
    interval: Duration::from_millis(10),
    limit_packets: 1024,
    limit_bytes: 2 << 20,
    flows: 1024,
    quantum: 0,
};

impl Default for QueueConfig {
    fn default() -> Self {
        DEFAULT_QUEUE
    }
}

/// What became of a packet offered to [`FairQueue::enqueue`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    /// Queued (perhaps after dropping the head of the fattest flow to make
    /// room: see [`QueueStats::overflow_drops`]).
    Queued,
    /// Longer than a slot: not queued, the caller handles it at once.
    TooLong,
}

/// The queue's counters and gauges, for `vifgate status` and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueStats {
    /// Packets queued now.
    pub packets: u64,
    /// Bytes queued now.
    pub bytes: u64,
    /// Packets that went through the queue since the start.
    pub dequeued: u64,
    /// Packets CoDel dropped (their flow's delay stayed above target).
    pub codel_drops: u64,
    /// Packets dropped because the queue was full.
    pub overflow_drops: u64,
    /// The sum of the dequeued packets' sojourn times, in nanoseconds
    /// (with `dequeued`, the mean).
    pub sojourn_sum_ns: u64,
    /// The longest sojourn since the start, in nanoseconds.
    pub sojourn_max_ns: u64,
    /// The sojourn of the last packet dequeued, in nanoseconds.
    pub sojourn_last_ns: u64,
    /// On the way out: data datagrams CoDel dropped before decryption,
    /// their wait in the UDP socket's receive queue too long (filled in by
    /// the shell; absent from older gateways' documents: 0).
    #[serde(default)]
    pub ingress_codel_drops: u64,
    /// The longest wait in the UDP socket's receive queue, nanoseconds.
    #[serde(default)]
    pub ingress_sojourn_max_ns: u64,
    /// The wait of the last datagram read, nanoseconds.
    #[serde(default)]
    pub ingress_sojourn_last_ns: u64,
}

/// Which list a flow is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum List {
    None,
    New,
    Old,
}

/// One flow queue: a FIFO list of slots.
#[derive(Debug, Clone, Copy)]
struct Flow {
    head: u32,
    tail: u32,
    packets: u32,
    bytes: usize,
    deficit: i64,
    list: List,
    codel: Codel,
}

/// Fair queue with CoDel; see the module's documentation.
#[derive(Debug)]
pub struct FairQueue {
    config: QueueConfig,
    slot_size: usize,
    quantum: i64,
    /// `limit_packets` slots of `slot_size` bytes.
    data: Vec<u8>,
    slot_len: Vec<u32>,
    slot_at: Vec<Instant>,
    slot_next: Vec<u32>,
    /// Unused slots (a stack).
    free: Vec<u32>,
    flows: Vec<Flow>,
    new_flows: VecDeque<u32>,
    old_flows: VecDeque<u32>,
    stats: QueueStats,
}

impl FairQueue {
    /// A queue for packets of up to `max_packet` bytes, all its memory
    /// allocated now.
    pub fn new(config: QueueConfig, max_packet: usize, now: Instant) -> Self {
        let slots = config.limit_packets.max(1);
        let flows = config.flows.max(1);
        let quantum = if config.quantum == 0 {
            max_packet
        } else {
            config.quantum
        };
        FairQueue {
            config,
            slot_size: max_packet,
            quantum: i64::try_from(quantum).unwrap_or(i64::MAX),
            data: vec![0; slots * max_packet],
            slot_len: vec![0; slots],
            slot_at: vec![now; slots],
            slot_next: vec![NIL; slots],
            free: (0..slots as u32).rev().collect(),
            flows: vec![
                Flow {
                    head: NIL,
                    tail: NIL,
                    packets: 0,
                    bytes: 0,
                    deficit: 0,
                    list: List::None,
                    codel: Codel::new(config.target, config.interval),
                };
                flows
            ],
            new_flows: VecDeque::with_capacity(flows),
            old_flows: VecDeque::with_capacity(flows),
            stats: QueueStats::default(),
        }
    }

    /// The settings in force.
    pub fn config(&self) -> &QueueConfig {
        &self.config
    }

    /// The counters and gauges.
    pub fn stats(&self) -> QueueStats {
        self.stats
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.stats.packets == 0
    }

    /// Queues an IPv4 packet that arrived at `now`.
    pub fn enqueue(&mut self, now: Instant, packet: &[u8]) -> Enqueued {
        if packet.len() > self.slot_size {
            return Enqueued::TooLong;
        }
        while self.free.is_empty()
            || self.stats.bytes as usize + packet.len() > self.config.limit_bytes
        {
            if !self.drop_from_fattest() {
                break;
            }
        }
        let Some(slot) = self.free.pop() else {
            // not reached: dropping every queued packet frees every slot
            self.stats.overflow_drops += 1;
            return Enqueued::Queued;
        };
        let s = slot as usize;
        let start = s * self.slot_size;
        self.data[start..start + packet.len()].copy_from_slice(packet);
        self.slot_len[s] = packet.len() as u32;
        self.slot_at[s] = now;
        self.slot_next[s] = NIL;
        let f = self.flow_of(packet);
        let flow = &mut self.flows[f];
        if flow.tail == NIL {
            flow.head = slot;
        } else {
            self.slot_next[flow.tail as usize] = slot;
        }
        flow.tail = slot;
        flow.packets += 1;
        flow.bytes += packet.len();
        if flow.list == List::None {
            flow.list = List::New;
            flow.deficit = self.quantum;
            self.new_flows.push_back(f as u32);
        }
        self.stats.packets += 1;
        self.stats.bytes += packet.len() as u64;
        Enqueued::Queued
    }

    /// The next packet to send at `now`, given to `send` (which may change
    /// it in place); `None` when nothing is queued. CoDel's drops happen
    /// here, counted in [`QueueStats::codel_drops`].
    pub fn dequeue<R>(&mut self, now: Instant, send: impl FnOnce(&mut [u8]) -> R) -> Option<R> {
        loop {
            let (f, from_new) = match self.new_flows.front() {
                Some(&f) => (f as usize, true),
                None => (*self.old_flows.front()? as usize, false),
            };
            if self.flows[f].deficit <= 0 {
                self.flows[f].deficit += self.quantum;
                self.rotate_to_old(f, from_new);
                continue;
            }
            let Some(slot) = self.codel_dequeue(f, now) else {
                // empty: a new flow gets one more turn on the old list
                // (RFC 8290 4.2) if others wait there, else it leaves
                if from_new && !self.old_flows.is_empty() {
                    self.rotate_to_old(f, true);
                } else {
                    self.pop_list(from_new);
                    self.flows[f].list = List::None;
                }
                continue;
            };
            let s = slot as usize;
            let len = self.slot_len[s] as usize;
            self.flows[f].deficit -= len as i64;
            let sojourn = now.saturating_duration_since(self.slot_at[s]);
            let ns = u64::try_from(sojourn.as_nanos()).unwrap_or(u64::MAX);
            self.stats.dequeued += 1;
            self.stats.sojourn_sum_ns = self.stats.sojourn_sum_ns.saturating_add(ns);
            self.stats.sojourn_max_ns = self.stats.sojourn_max_ns.max(ns);
            self.stats.sojourn_last_ns = ns;
            let start = s * self.slot_size;
            let r = send(&mut self.data[start..start + len]);
            self.free.push(slot);
            return Some(r);
        }
    }

    /// Moves the flow at the front of its list to the back of the old list.
    fn rotate_to_old(&mut self, f: usize, from_new: bool) {
        self.pop_list(from_new);
        self.flows[f].list = List::Old;
        self.old_flows.push_back(f as u32);
    }

    fn pop_list(&mut self, from_new: bool) {
        if from_new {
            self.new_flows.pop_front();
        } else {
            self.old_flows.pop_front();
        }
    }

    /// Takes the head slot of flow `f` off its list (the slot stays in use).
    fn pop_head(&mut self, f: usize) -> Option<u32> {
        let flow = &mut self.flows[f];
        let slot = flow.head;
        if slot == NIL {
            return None;
        }
        let len = self.slot_len[slot as usize] as usize;
        flow.head = self.slot_next[slot as usize];
        if flow.head == NIL {
            flow.tail = NIL;
        }
        flow.packets -= 1;
        flow.bytes -= len;
        self.stats.packets -= 1;
        self.stats.bytes -= len as u64;
        Some(slot)
    }

    /// Drops the head of the flow holding the most bytes; false when
    /// nothing is queued.
    fn drop_from_fattest(&mut self) -> bool {
        let Some((f, _)) = self
            .flows
            .iter()
            .enumerate()
            .filter(|(_, fl)| fl.packets > 0)
            .max_by_key(|(_, fl)| fl.bytes)
        else {
            return false;
        };
        if let Some(slot) = self.pop_head(f) {
            self.free.push(slot);
            self.stats.overflow_drops += 1;
        }
        true
    }

    /// CoDel's dequeue on flow `f`: the slot to send, after the drops
    /// the control law calls for.
    fn codel_dequeue(&mut self, f: usize, now: Instant) -> Option<u32> {
        loop {
            let Some(s) = self.pop_head(f) else {
                self.flows[f].codel.emptied();
                return None;
            };
            let len = self.slot_len[s as usize] as usize;
            let sojourn = now.saturating_duration_since(self.slot_at[s as usize]);
            // at most a packet's worth left with it: no standing queue
            let nearly_empty = self.flows[f].bytes + len <= self.slot_size;
            if !self.flows[f].codel.should_drop(now, sojourn, nearly_empty) {
                return Some(s);
            }
            self.free.push(s);
            self.stats.codel_drops += 1;
        }
    }

    /// The flow queue of an IPv4 packet: its 5-tuple hashed (addresses and
    /// protocol only for fragments and for other protocols).
    fn flow_of(&self, packet: &[u8]) -> usize {
        let mut key: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut mix = |v: u64| {
            key = (key ^ v).wrapping_mul(0x0100_0000_01b3).rotate_left(29);
        };
        if packet.len() >= 20 {
            let ihl = usize::from(packet[0] & 0x0f) * 4;
            let proto = packet[9];
            mix(u64::from(u32::from_be_bytes([
                packet[12], packet[13], packet[14], packet[15],
            ])));
            mix(u64::from(u32::from_be_bytes([
                packet[16], packet[17], packet[18], packet[19],
            ])));
            mix(u64::from(proto));
            let fragmented = u16::from_be_bytes([packet[6], packet[7]]) & 0x3fff != 0;
            if (proto == 6 || proto == 17) && !fragmented && packet.len() >= ihl + 4 && ihl >= 20 {
                mix(u64::from(u32::from_be_bytes([
                    packet[ihl],
                    packet[ihl + 1],
                    packet[ihl + 2],
                    packet[ihl + 3],
                ])));
            }
        }
        let key = key ^ (key >> 32);
        (key % self.flows.len() as u64) as usize
    }
}

#[cfg(test)]
mod tests;
