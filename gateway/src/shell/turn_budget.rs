//! A loop turn's budget. The packet thread serves its sources (the TUN
//! device, the UDP socket, timers, the status socket) one turn at a time;
//! while it reads one, a packet waiting in the other waits for the turn to
//! end. Under a bulk stream every read brings up to 64 KiB (a TUN
//! super-packet, a UDP GRO batch), so a turn of [`BATCH`](super::BATCH)
//! reads held megabytes of work in front of a ping's reply. A turn now
//! ends once it has read [`TURN_BYTES`], however many reads that took.

/// Bytes one turn reads from one source before the loop looks at the
/// others: two full reads, about a quarter of a millisecond of
/// encryption at 4 Gbit/s (BENCHMARKS.md, "Latency", third pass).
pub(super) const TURN_BYTES: usize = 128 * 1024;

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
}
