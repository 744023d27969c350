//! CoDel on the tunnel's way out (`[queue]`): the UDP socket's receive
//! queue is where datagrams wait when decryption is the bottleneck, in
//! arrival order, every flow behind every other (a datagram's flow is
//! known only once it is decrypted). With the kernel's receive
//! timestamps (`SO_TIMESTAMPNS`) each datagram's wait is known when it is
//! read; when the waits stay above `target` for an `interval`, CoDel
//! ([`Codel`]) drops data datagrams before decrypting them (which costs
//! nothing), until the senders slow down and the queue is short again.

use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use crate::codel::Codel;
use crate::fair_queue::QueueConfig;
use crate::udp_gso;

/// WireGuard's transport data message type (the first byte).
const DATA: u8 = 4;

/// The receive queue's CoDel, or none.
pub(super) struct IngressDelay {
    codel: Option<Codel>,
    /// Data datagrams dropped.
    pub(super) drops: u64,
    /// The longest wait seen, and the last, in nanoseconds.
    pub(super) sojourn_max_ns: u64,
    pub(super) sojourn_last_ns: u64,
}

impl IngressDelay {
    /// On socket `fd` when the queue is on and the kernel stamps arrivals.
    pub(super) fn new(config: &QueueConfig, fd: RawFd) -> Self {
        let on = config.enabled && udp_gso::enable_timestamps(fd);
        if config.enabled && !on {
            tracing::info!("no receive timestamps (SO_TIMESTAMPNS): no CoDel on the way out");
        }
        IngressDelay {
            codel: on.then(|| Codel::new(config.target, config.interval)),
            drops: 0,
            sojourn_max_ns: 0,
            sojourn_last_ns: 0,
        }
    }

    /// A reloaded `[queue]`.
    pub(super) fn reconfigure(&mut self, config: &QueueConfig, fd: RawFd) {
        let drops = self.drops;
        *self = IngressDelay::new(config, fd);
        self.drops = drops;
    }

    /// Whether to decrypt `datagram`, read at `now` after waiting `waited`
    /// in the socket's queue (`None`: not stamped).
    pub(super) fn admit(
        &mut self,
        now: Instant,
        waited: Option<Duration>,
        datagram: &[u8],
    ) -> bool {
        let (Some(codel), Some(waited)) = (&mut self.codel, waited) else {
            return true;
        };
        let ns = u64::try_from(waited.as_nanos()).unwrap_or(u64::MAX);
        self.sojourn_last_ns = ns;
        self.sojourn_max_ns = self.sojourn_max_ns.max(ns);
        if datagram.first() != Some(&DATA) {
            return true;
        }
        if codel.should_drop(now, waited, false) {
            self.drops += 1;
            return false;
        }
        true
    }
}
