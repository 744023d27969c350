//! The fair queue between the TUN device and the router (`[queue]`): what
//! the loop reads from the TUN device goes into a [`FairQueue`], and leaves
//! it for the router (policy, encryption) a chunk at a time, each chunk
//! sent before the next is taken. Without it (`enabled = false`) every
//! packet goes to the router as it is read, in the order read, and its
//! datagrams leave one full send at a time
//! ([`UdpBatch::push_sending_full`](crate::udp_gso::UdpBatch::push_sending_full)),
//! while the rest of a turn of reads (at real-time priority up to 128 KiB,
//! [`TURN_BYTES`](super::turn_budget::TURN_BYTES)) is encrypted.
//!
//! The loop reads the TUN device only while the queue has room for a
//! read's worth of segments, so the kernel's own FIFO in front of the
//! device stays short and the standing queue is here, where flows are
//! kept apart and CoDel bounds the delay.

use std::time::Instant;

use tun_rs::IDEAL_BATCH_SIZE;

use crate::fair_queue::{Enqueued, FairQueue, QueueConfig, QueueStats};
use crate::router::{Io, Router};

/// Packets handed to the router between two sends: one UDP GSO batch
/// (64 segments).
const CHUNK: usize = 64;

/// The queue in force, or none.
pub(super) struct TunQueue {
    queue: Option<FairQueue>,
    /// The largest packet a slot holds.
    max_packet: usize,
}

impl TunQueue {
    /// A queue for packets of up to `max_packet` bytes, or none when
    /// `config` turns it off.
    pub(super) fn new(config: &QueueConfig, max_packet: usize, now: Instant) -> Self {
        TunQueue {
            queue: config
                .enabled
                .then(|| FairQueue::new(*config, max_packet, now)),
            max_packet,
        }
    }

    /// Whether the loop may read the TUN device: always without a queue,
    /// else while a full read (a super-packet split into segments) fits,
    /// and always when the queue is empty (a limit below a read's worth
    /// then drops the excess, and never stops the reading).
    pub(super) fn has_room(&self) -> bool {
        self.queue.as_ref().is_none_or(|q| {
            let s = q.stats();
            s.packets == 0 || s.packets as usize + IDEAL_BATCH_SIZE <= q.config().limit_packets
        })
    }

    /// Whether packets wait for [`drain`](Self::drain).
    pub(super) fn pending(&self) -> bool {
        self.queue.as_ref().is_some_and(|q| !q.is_empty())
    }

    /// A packet read from the TUN device: queued, or to the router at once
    /// without a queue (or when longer than a slot, which segments split to
    /// the MTU never are).
    pub(super) fn offer(
        &mut self,
        now: Instant,
        packet: &mut [u8],
        router: &mut Router,
        io: &mut impl Io,
    ) {
        if let Some(q) = &mut self.queue {
            if q.enqueue(now, packet) == Enqueued::Queued {
                return;
            }
        }
        router.handle_tun(now, packet, io);
    }

    /// Hands the router the next chunk of queued packets, in the queue's
    /// order; the caller sends what it made before calling again.
    pub(super) fn drain(&mut self, now: Instant, router: &mut Router, io: &mut impl Io) {
        let Some(q) = &mut self.queue else {
            return;
        };
        for _ in 0..CHUNK {
            if q.dequeue(now, |p| router.handle_tun(now, p, io)).is_none() {
                break;
            }
        }
    }

    /// The counters, or `None` without a queue.
    pub(super) fn stats(&self) -> Option<QueueStats> {
        self.queue.as_ref().map(FairQueue::stats)
    }

    /// A reloaded `[queue]`: a changed one replaces the queue, whose
    /// packets go to the router first (the caller flushes).
    pub(super) fn reconfigure(
        &mut self,
        config: &QueueConfig,
        now: Instant,
        router: &mut Router,
        io: &mut impl Io,
    ) {
        let current = self.queue.as_ref().map(|q| *q.config());
        let wanted = config.enabled.then_some(*config);
        if current == wanted {
            return;
        }
        if let Some(q) = &mut self.queue {
            while q.dequeue(now, |p| router.handle_tun(now, p, io)).is_some() {}
        }
        *self = TunQueue::new(config, self.max_packet, now);
        tracing::info!(enabled = config.enabled, "queue settings changed");
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::{TunQueue, CHUNK};
    use crate::fair_queue::{QueueConfig, DEFAULT_QUEUE};

    /// The defaults, turned on.
    const ON: QueueConfig = QueueConfig {
        enabled: true,
        ..DEFAULT_QUEUE
    };
    use crate::keys::PrivateKey;
    use crate::router::Router;
    use crate::testkit::{config, office_config, Collect};

    /// The office gateway (no policy) and a packet size for it.
    fn office(now: Instant) -> Router {
        let aws = PrivateKey::generate().unwrap().public_key();
        let backup = PrivateKey::generate().unwrap().public_key();
        let c = config(&office_config(&aws, &backup, None, ""));
        Router::with_key(&c, PrivateKey::generate().unwrap(), now).unwrap()
    }

    /// A UDP packet from an office host to a VPC host.
    fn udp(port: u16) -> Vec<u8> {
        let mut p = vec![0u8; 1000];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&1000u16.to_be_bytes());
        p[8] = 64;
        p[9] = 17;
        p[12..16].copy_from_slice(&[192, 168, 10, 10]);
        p[16..20].copy_from_slice(&[10, 0, 10, 10]);
        p[20..22].copy_from_slice(&port.to_be_bytes());
        p[22..24].copy_from_slice(&53u16.to_be_bytes());
        p[24..26].copy_from_slice(&980u16.to_be_bytes());
        p
    }

    /// Packets the router took for the tunnel (sent or waiting for the
    /// handshake).
    fn taken(router: &Router) -> u64 {
        router.peers().iter().map(|p| p.tx_packets).sum()
    }

    #[test]
    fn queued_packets_reach_the_router_a_chunk_at_a_time() {
        let now = Instant::now();
        let mut router = office(now);
        let mut io = Collect::default();
        let limit = 512;
        let config = QueueConfig {
            limit_packets: limit,
            ..ON
        };
        let mut q = TunQueue::new(&config, 1500, now);
        for _ in 0..200 {
            q.offer(now, &mut udp(5000), &mut router, &mut io);
        }
        assert_eq!(taken(&router), 0, "queued, not yet encrypted");
        assert!(q.pending());
        q.drain(now, &mut router, &mut io);
        assert_eq!(taken(&router), CHUNK as u64);
        while q.pending() {
            q.drain(now, &mut router, &mut io);
        }
        assert_eq!(taken(&router), 200);
        assert_eq!(q.stats().unwrap().dequeued, 200);
    }

    #[test]
    fn the_loop_stops_reading_before_the_queue_is_full() {
        let now = Instant::now();
        let mut router = office(now);
        let mut io = Collect::default();
        let config = QueueConfig {
            limit_packets: 200,
            ..ON
        };
        let mut q = TunQueue::new(&config, 1500, now);
        let mut read = 0;
        while q.has_room() {
            q.offer(now, &mut udp(5000), &mut router, &mut io);
            read += 1;
        }
        // room is kept for one whole read (a super-packet's segments)
        assert_eq!(read, 200 - tun_rs::IDEAL_BATCH_SIZE + 1);
        assert_eq!(q.stats().unwrap().overflow_drops, 0);
        // a limit below a read's worth: the reading never stops for good
        let tiny = QueueConfig {
            limit_packets: 4,
            ..ON
        };
        let mut q = TunQueue::new(&tiny, 1500, now);
        assert!(q.has_room());
        for _ in 0..10 {
            q.offer(now, &mut udp(5000), &mut router, &mut io);
        }
        assert!(!q.has_room());
        while q.pending() {
            q.drain(now, &mut router, &mut io);
        }
        assert!(q.has_room());
        assert_eq!(q.stats().unwrap().overflow_drops, 6);
    }

    #[test]
    fn off_every_packet_goes_to_the_router_at_once_and_a_reload_drains() {
        let now = Instant::now();
        let mut router = office(now);
        let mut io = Collect::default();
        let off = QueueConfig {
            enabled: false,
            ..ON
        };
        let mut q = TunQueue::new(&off, 1500, now);
        q.offer(now, &mut udp(1), &mut router, &mut io);
        assert_eq!(taken(&router), 1);
        assert!(q.has_room() && !q.pending() && q.stats().is_none());
        // turned on by a reload, then off again: what waited goes on
        q.reconfigure(&ON, now, &mut router, &mut io);
        q.offer(now, &mut udp(2), &mut router, &mut io);
        q.offer(now, &mut udp(3), &mut router, &mut io);
        assert_eq!(taken(&router), 1);
        q.reconfigure(&off, now, &mut router, &mut io);
        assert_eq!(taken(&router), 3);
        assert!(q.stats().is_none());
    }
}
