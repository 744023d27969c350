//! A loop turn's budget. The packet thread serves its sources (the TUN
//! device, the UDP socket, timers, the status socket) one turn at a time;
//! while it reads one, a packet waiting in the other waits for the turn to
//! end. Under a bulk stream every read brings up to 64 KiB (a TUN
//! super-packet, a UDP GRO batch), so a turn of [`BATCH`](super::BATCH)
//! reads held megabytes of work in front of a ping's reply. A turn now
//! ends once it has read [`TURN_BYTES`], however many reads that took,
//! when the packet thread runs at real-time priority ([`turn_bytes`]).

/// Bytes one turn reads from one source before the loop looks at the
/// others: two full reads, about a quarter of a millisecond of
/// encryption at 4 Gbit/s (BENCHMARKS.md, "Latency", third pass).
pub(super) const TURN_BYTES: usize = 128 * 1024;

/// The bytes of a turn for a packet thread at real-time priority
/// (`[process] realtime_priority`) or not. Bounded turns cut a ping's p99
/// under a bulk stream only where the thread gets its core when it asks:
/// at real-time priority (median p99 0.86 ms over 7 runs against 1.02
/// with 256 KiB turns and 2.1-2.9 with unbounded ones); at the normal
/// policy the wait for a core sets the tail (11-35 ms) and 128 KiB turns
/// cost 7 % of TCP throughput (9 interleaved rounds of
/// `bench/queues.sh`): there a turn is [`BATCH`](super::BATCH) reads.
pub(super) fn turn_bytes(realtime: bool) -> usize {
    if realtime {
        TURN_BYTES
    } else {
        usize::MAX
    }
}

/// What is left of a turn's bytes.
#[derive(Debug)]
pub(super) struct TurnBudget {
    left: usize,
}

impl TurnBudget {
    /// A turn of `bytes`.
    pub(super) fn new(bytes: usize) -> Self {
        TurnBudget { left: bytes }
    }

    /// Whether the turn has read all its bytes (more may wait).
    pub(super) fn spent(&self) -> bool {
        self.left == 0
    }

    /// Counts a read of `bytes`; whether the turn may read again.
    pub(super) fn spend(&mut self, bytes: usize) -> bool {
        self.left = self.left.saturating_sub(bytes);
        self.left > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_turn_ends_once_its_bytes_are_read_whatever_the_number_of_reads() {
        // two 64 KiB super-packets end a turn
        let mut t = TurnBudget::new(TURN_BYTES);
        assert!(t.spend(65_536));
        assert!(!t.spend(65_536));
        // pings and ACKs alone never do before the read count does
        let mut t = TurnBudget::new(TURN_BYTES);
        assert!((0..super::super::BATCH).all(|_| t.spend(84)));
        // one read past the budget ends it at once
        assert!(!TurnBudget::new(TURN_BYTES).spend(TURN_BYTES + 1));
    }

    #[test]
    fn only_a_real_time_packet_thread_has_its_turns_bounded_by_bytes() {
        let mut rt = TurnBudget::new(turn_bytes(true));
        let mut normal = TurnBudget::new(turn_bytes(false));
        let reads = |t: &mut TurnBudget| {
            (0..super::super::BATCH)
                .take_while(|_| t.spend(65_536))
                .count()
        };
        assert_eq!(reads(&mut rt), 1, "the second 64 KiB read ends the turn");
        assert_eq!(reads(&mut normal), super::super::BATCH);
        assert!(!normal.spent());
    }
}
