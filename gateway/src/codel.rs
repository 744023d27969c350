//! CoDel (RFC 8289), the delay control of one FIFO queue, sans-IO: for
//! each packet taken from the queue's head, its sojourn time and the time
//! go in, and out comes whether to drop it. Used per flow by
//! [`crate::fair_queue`], and on the tunnel's way out for the UDP socket's
//! receive queue, whose sojourn the kernel's receive timestamps give.
//!
//! When packets have waited longer than `target` for a whole `interval`,
//! CoDel drops one, then the next after `interval / sqrt(2)`, `/ sqrt(3)`
//! ..., until a packet's wait is below `target` again; a new dropping
//! state that follows soon after the last one starts at its drop rate.

use std::time::{Duration, Instant};

/// CoDel's state (RFC 8289's names).
#[derive(Debug, Clone, Copy)]
pub struct Codel {
    target: Duration,
    interval: Duration,
    /// When the delay went above target, plus an interval: drops may
    /// start then; `None` while below target.
    first_above_time: Option<Instant>,
    /// When the next drop is due while dropping.
    drop_next: Option<Instant>,
    /// Drops in this dropping state.
    count: u32,
    /// `count` when the last dropping state began.
    lastcount: u32,
    dropping: bool,
}

impl Codel {
    /// Idle, with these `target` and `interval`.
    pub fn new(target: Duration, interval: Duration) -> Self {
        Codel {
            target,
            interval,
            first_above_time: None,
            drop_next: None,
            count: 0,
            lastcount: 0,
            dropping: false,
        }
    }

    /// The head packet left the queue at `now` after waiting `sojourn`:
    /// whether to drop it. `nearly_empty`: the queue held at most about
    /// one packet with it (then nothing is dropped: no standing queue).
    pub fn should_drop(&mut self, now: Instant, sojourn: Duration, nearly_empty: bool) -> bool {
        let ok_to_drop = self.above_target_long_enough(now, sojourn, nearly_empty);
        if self.dropping {
            if !ok_to_drop {
                self.dropping = false;
                return false;
            }
            match self.drop_next {
                Some(t) if now >= t => {
                    self.count += 1;
                    self.drop_next = Some(self.control_law(t));
                    true
                }
                _ => false,
            }
        } else if ok_to_drop {
            self.dropping = true;
            // drop more often at once if the last dropping state was recent
            let delta = self.count.saturating_sub(self.lastcount);
            let recent = self
                .drop_next
                .is_some_and(|t| now.saturating_duration_since(t) < self.interval * 16);
            self.count = if delta > 1 && recent { delta } else { 1 };
            self.drop_next = Some(self.control_law(now));
            self.lastcount = self.count;
            true
        } else {
            false
        }
    }

    /// The queue ran empty: the dropping state ends.
    pub fn emptied(&mut self) {
        self.dropping = false;
    }

    /// RFC 8289's `dodequeue` test.
    fn above_target_long_enough(
        &mut self,
        now: Instant,
        sojourn: Duration,
        nearly_empty: bool,
    ) -> bool {
        if sojourn < self.target || nearly_empty {
            self.first_above_time = None;
            return false;
        }
        match self.first_above_time {
            None => {
                self.first_above_time = Some(now + self.interval);
                false
            }
            Some(t) => now >= t,
        }
    }

    /// The next drop time: `t + interval / sqrt(count)`.
    fn control_law(&self, t: Instant) -> Instant {
        t + self.interval.div_f64(f64::from(self.count.max(1)).sqrt())
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::Codel;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn below_target_nothing_is_dropped() {
        let t0 = Instant::now();
        let mut c = Codel::new(MS, 10 * MS);
        for i in 0..10_000u32 {
            let now = t0 + Duration::from_micros(u64::from(i) * 10);
            assert!(!c.should_drop(now, MS - Duration::from_micros(1), false));
        }
    }

    #[test]
    fn above_target_the_first_drop_waits_an_interval_then_drops_speed_up() {
        let t0 = Instant::now();
        let mut c = Codel::new(MS, 10 * MS);
        let mut drops = vec![];
        // a packet every 100 us, each having waited 5 ms
        for i in 0..1000u32 {
            let now = t0 + Duration::from_micros(u64::from(i) * 100);
            if c.should_drop(now, 5 * MS, false) {
                drops.push(now - t0);
            }
        }
        assert_eq!(drops[0], 10 * MS, "one interval after the delay went above");
        // then after 10/sqrt(1) = 10 ms, 10/sqrt(2) = 7.1 ms, 10/sqrt(3) = 5.8 ms
        let gaps: Vec<u128> = drops
            .windows(2)
            .map(|w| (w[1] - w[0]).as_micros())
            .collect();
        assert_eq!(&gaps[..3], &[10_000, 7_100, 5_800]);
        assert!(gaps.windows(2).all(|g| g[1] <= g[0]), "{gaps:?}");
    }

    #[test]
    fn a_nearly_empty_queue_or_a_wait_below_target_ends_dropping() {
        let t0 = Instant::now();
        let mut c = Codel::new(MS, 10 * MS);
        assert!(!c.should_drop(t0, 5 * MS, false));
        assert!(c.should_drop(t0 + 10 * MS, 5 * MS, false));
        // a short wait: out of the dropping state, and the interval restarts
        assert!(!c.should_drop(t0 + 11 * MS, Duration::ZERO, false));
        assert!(!c.should_drop(t0 + 12 * MS, 5 * MS, false));
        assert!(!c.should_drop(t0 + 21 * MS, 5 * MS, false));
        assert!(c.should_drop(t0 + 22 * MS, 5 * MS, false));
        // a lone packet is never dropped
        assert!(!c.should_drop(t0 + 100 * MS, 50 * MS, true));
    }
}
