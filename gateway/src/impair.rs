//! Link impairment for the tunnel's outer datagrams: delay, jitter and
//! loss, as `tc qdisc … netem delay D J loss L` would add them, for kernels
//! without `sch_netem` (the simulator emulates a Direct Connect link with
//! it). Sans-IO like the router: datagrams and the time go in, what to send
//! and when comes out.
//!
//! Each datagram handed to [`Impairment::submit`] is first lost with
//! probability `loss`; a survivor gets a delay drawn uniformly from
//! `delay ± jitter`, never below zero. A datagram whose delay is zero is
//! sent at once ([`Submit::SendNow`]: no copy); any other is copied into a
//! bounded queue and released by [`Impairment::pop_due`] (or
//! [`Impairment::drain_due`]) once its release time has come.
//!
//! **Order.** Like netem, datagrams leave by release time, not by arrival:
//! with jitter, a datagram may overtake one submitted before it (reordering
//! is part of what jitter does to a real link). Datagrams with the same
//! release time leave in the order they were submitted, so a constant
//! delay (no jitter) never reorders.
//!
//! **Memory.** The queue holds at most `queue` datagrams; one more is
//! dropped and counted (`dropped_full`), like a full qdisc. The index (a
//! binary heap and a free list) is allocated up front; each slot's buffer
//! is allocated the first time the slot is used and grows to the largest
//! datagram it has held, then is reused: in steady state, queueing a
//! datagram allocates nothing. The worst case is `queue` × the largest
//! datagram (4096 × 1480 bytes ≈ 6 MiB for the defaults and a 1420 MTU).

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Default queue capacity, in datagrams.
pub const DEFAULT_QUEUE: usize = 4096;
/// Largest queue capacity accepted by the configuration.
pub const MAX_QUEUE: usize = 1 << 20;

/// What to do to the outer datagrams.
#[derive(Debug, Clone, PartialEq)]
pub struct ImpairConfig {
    /// Mean one-way delay added to each datagram.
    pub delay: Duration,
    /// Half-width of the uniform jitter around `delay`: each datagram waits
    /// `delay - jitter ..= delay + jitter`, clamped at zero.
    pub jitter: Duration,
    /// Probability of losing a datagram, 0.0 to 1.0.
    pub loss: f64,
    /// Seed of the random generator; `None` seeds it from the OS.
    pub seed: Option<u64>,
    /// Most datagrams waiting at once.
    pub queue: usize,
}

impl Default for ImpairConfig {
    fn default() -> Self {
        ImpairConfig {
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            loss: 0.0,
            seed: None,
            queue: DEFAULT_QUEUE,
        }
    }
}

impl ImpairConfig {
    /// Whether it changes nothing (no delay, no jitter, no loss).
    pub fn is_noop(&self) -> bool {
        self.delay.is_zero() && self.jitter.is_zero() && self.loss <= 0.0
    }
}

/// What [`Impairment::submit`] did with a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Submit {
    /// Dropped: lost (`dropped_loss`) or the queue was full
    /// (`dropped_full`). The caller sends nothing.
    Drop,
    /// Not delayed: the caller sends it now, from its own buffer.
    SendNow,
    /// Copied into the queue; it comes out of [`Impairment::pop_due`] at
    /// its release time.
    Queued,
}

/// Counters of an [`Impairment`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ImpairStats {
    /// Datagrams queued for a later release.
    pub delayed: u64,
    /// Datagrams lost on purpose (`loss`).
    pub dropped_loss: u64,
    /// Datagrams dropped because the queue was full.
    pub dropped_full: u64,
}

impl std::ops::AddAssign for ImpairStats {
    fn add_assign(&mut self, o: Self) {
        self.delayed += o.delayed;
        self.dropped_loss += o.dropped_loss;
        self.dropped_full += o.dropped_full;
    }
}

/// A queued datagram's place in the heap: earliest release first, then
/// submission order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    at: Instant,
    seq: u64,
    slot: u32,
}

impl Ord for Entry {
    fn cmp(&self, o: &Self) -> Ordering {
        (self.at, self.seq).cmp(&(o.at, o.seq))
    }
}

impl PartialOrd for Entry {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

/// A queued datagram's bytes and destination; the buffer is reused.
struct Slot {
    to: SocketAddr,
    buf: Vec<u8>,
}

/// Delay, jitter and loss for outer datagrams, with a bounded queue.
pub struct Impairment {
    config: ImpairConfig,
    rng: Rng,
    /// Loss as a threshold on a uniform `u64`: lost when below it.
    loss_threshold: u64,
    /// Always lost (`loss` = 1), whatever the generator draws.
    loss_all: bool,
    slots: Vec<Slot>,
    free: Vec<u32>,
    heap: BinaryHeap<Reverse<Entry>>,
    seq: u64,
    stats: ImpairStats,
}

impl std::fmt::Debug for Impairment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Impairment")
            .field("config", &self.config)
            .field("queued", &self.heap.len())
            .field("stats", &self.stats)
            .finish()
    }
}

impl Impairment {
    /// A new impairment with an empty queue.
    pub fn new(config: ImpairConfig) -> Self {
        let queue = config.queue.max(1);
        let mut i = Impairment {
            rng: Rng::new(config.seed),
            loss_threshold: 0,
            loss_all: false,
            slots: Vec::new(),
            free: Vec::with_capacity(queue),
            heap: BinaryHeap::with_capacity(queue),
            seq: 0,
            stats: ImpairStats::default(),
            config,
        };
        i.set_loss();
        i
    }

    fn set_loss(&mut self) {
        let p = self.config.loss.clamp(0.0, 1.0);
        self.loss_all = p >= 1.0;
        // p * 2^64, exact enough: 2^-53 granularity
        self.loss_threshold = (p * 18_446_744_073_709_551_616.0) as u64;
    }

    /// The configuration in force.
    pub fn config(&self) -> &ImpairConfig {
        &self.config
    }

    /// Applies a new configuration. Queued datagrams stay, with the release
    /// times they were given; the counters go on. The generator is seeded
    /// again only when the seed changed (a new `None` draws a new OS seed);
    /// a smaller queue refuses new datagrams until the queue has drained
    /// below it.
    pub fn reconfigure(&mut self, config: ImpairConfig) {
        if config.seed != self.config.seed {
            self.rng = Rng::new(config.seed);
        }
        let queue = config.queue.max(1);
        self.heap.reserve(queue.saturating_sub(self.heap.len()));
        self.free
            .reserve(queue.saturating_sub(self.free.len() + self.heap.len()));
        self.config = config;
        self.set_loss();
    }

    /// Loses, delays or passes one datagram submitted at `now` for `to`.
    /// Queued datagrams are copied; nothing is allocated once the slot
    /// buffers have grown to the datagram sizes in use.
    pub fn submit(&mut self, now: Instant, to: SocketAddr, datagram: &[u8]) -> Submit {
        if self.loss_all || (self.loss_threshold > 0 && self.rng.next_u64() < self.loss_threshold) {
            self.stats.dropped_loss += 1;
            return Submit::Drop;
        }
        let wait = self.sample_delay();
        if wait.is_zero() {
            return Submit::SendNow;
        }
        if self.heap.len() >= self.config.queue.max(1) {
            self.stats.dropped_full += 1;
            return Submit::Drop;
        }
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.slots.push(Slot {
                    to,
                    buf: Vec::new(),
                });
                (self.slots.len() - 1) as u32
            }
        };
        let s = &mut self.slots[slot as usize];
        s.to = to;
        s.buf.clear();
        s.buf.extend_from_slice(datagram);
        self.heap.push(Reverse(Entry {
            at: now + wait,
            seq: self.seq,
            slot,
        }));
        self.seq += 1;
        self.stats.delayed += 1;
        Submit::Queued
    }

    /// A delay drawn from `delay ± jitter`, at least zero.
    fn sample_delay(&mut self) -> Duration {
        let delay = self.config.delay;
        let jitter = self.config.jitter.as_nanos().min(u64::MAX as u128 / 4) as u64;
        if jitter == 0 {
            return delay;
        }
        let span = 2 * jitter + 1;
        let offset = self.rng.below(span);
        // delay - jitter + offset, clamped at zero
        let d = delay.as_nanos().min(u64::MAX as u128 / 4) as u64 + offset;
        Duration::from_nanos(d.saturating_sub(jitter))
    }

    /// When the next queued datagram is due; `None` with an empty queue.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse(e)| e.at)
    }

    /// The next datagram due at `now`, earliest release first, if any. The
    /// bytes are valid until the next call on `self`.
    pub fn pop_due(&mut self, now: Instant) -> Option<(SocketAddr, &[u8])> {
        match self.heap.peek() {
            Some(Reverse(e)) if e.at <= now => {}
            _ => return None,
        }
        let Reverse(e) = self.heap.pop()?;
        self.free.push(e.slot);
        let s = &self.slots[e.slot as usize];
        Some((s.to, &s.buf))
    }

    /// Hands every datagram due at `now` to `send`, earliest release
    /// first; how many.
    pub fn drain_due(&mut self, now: Instant, mut send: impl FnMut(SocketAddr, &[u8])) -> usize {
        let mut n = 0;
        while let Some((to, d)) = self.pop_due(now) {
            send(to, d);
            n += 1;
        }
        n
    }

    /// Hands every queued datagram to `send` now, whatever its release
    /// time, in release order (when the impairment is removed); how many.
    pub fn drain_all(&mut self, mut send: impl FnMut(SocketAddr, &[u8])) -> usize {
        let mut n = 0;
        while let Some(Reverse(e)) = self.heap.pop() {
            self.free.push(e.slot);
            let s = &self.slots[e.slot as usize];
            send(s.to, &s.buf);
            n += 1;
        }
        n
    }

    /// Datagrams waiting.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// The counters.
    pub fn stats(&self) -> ImpairStats {
        self.stats
    }
}

/// xoshiro256++ (Blackman and Vigna), seeded through splitmix64: small,
/// fast, and good enough for drawing losses and delays.
#[derive(Debug, Clone)]
struct Rng {
    s: [u64; 4],
}

impl Rng {
    fn new(seed: Option<u64>) -> Self {
        let seed = seed.unwrap_or_else(|| {
            use rand_core::RngCore;
            rand_core::OsRng.next_u64()
        });
        let mut x = seed;
        let mut next = || {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        Rng {
            s: [next(), next(), next(), next()],
        }
    }

    fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let r = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        r
    }

    /// Uniform in `0..n` (multiply-shift; the bias is below 2^-64 × n).
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn to() -> SocketAddr {
        "192.0.2.1:51820".parse().expect("an address")
    }

    fn cfg(delay: Duration, jitter: Duration, loss: f64) -> ImpairConfig {
        ImpairConfig {
            delay,
            jitter,
            loss,
            seed: Some(7),
            queue: DEFAULT_QUEUE,
        }
    }

    #[test]
    fn no_delay_sends_now_and_copies_nothing() {
        let mut i = Impairment::new(cfg(Duration::ZERO, Duration::ZERO, 0.0));
        let t = Instant::now();
        for _ in 0..1000 {
            assert_eq!(i.submit(t, to(), &[1, 2, 3]), Submit::SendNow);
        }
        assert!(i.is_empty());
        assert_eq!(i.next_deadline(), None);
        assert_eq!(i.stats(), ImpairStats::default());
        assert!(i.slots.is_empty(), "nothing was copied");
        assert!(ImpairConfig::default().is_noop());
    }

    #[test]
    fn the_delay_is_honoured() {
        let mut i = Impairment::new(cfg(2 * MS, Duration::ZERO, 0.0));
        let t0 = Instant::now();
        assert_eq!(i.submit(t0, to(), b"one"), Submit::Queued);
        assert_eq!(i.submit(t0 + MS, to(), b"two"), Submit::Queued);
        assert_eq!(i.next_deadline(), Some(t0 + 2 * MS));
        assert_eq!(i.pop_due(t0), None);
        assert_eq!(i.pop_due(t0 + 2 * MS - Duration::from_nanos(1)), None);
        assert_eq!(i.pop_due(t0 + 2 * MS), Some((to(), &b"one"[..])));
        assert_eq!(i.pop_due(t0 + 2 * MS), None);
        assert_eq!(i.next_deadline(), Some(t0 + 3 * MS));
        let mut got = vec![];
        assert_eq!(
            i.drain_due(t0 + 10 * MS, |a, d| got.push((a, d.to_vec()))),
            1
        );
        assert_eq!(got, vec![(to(), b"two".to_vec())]);
        assert_eq!(i.stats().delayed, 2);
        assert!(i.is_empty());
    }

    #[test]
    fn jitter_stays_within_its_bounds_and_uses_them() {
        let (delay, jitter) = (2 * MS, MS / 2);
        let mut i = Impairment::new(cfg(delay, jitter, 0.0));
        let t0 = Instant::now();
        let (mut lo, mut hi, mut sum) = (Duration::MAX, Duration::ZERO, Duration::ZERO);
        let n = 10_000u32;
        for _ in 0..n {
            assert_eq!(i.submit(t0, to(), b"x"), Submit::Queued);
            let at = i.next_deadline().expect("queued");
            let _ = i.pop_due(at);
            let d = at - t0;
            lo = lo.min(d);
            hi = hi.max(d);
            sum += d;
        }
        assert!(
            lo >= delay - jitter && hi <= delay + jitter,
            "{lo:?}..{hi:?}"
        );
        // uniform: the extremes are nearly reached, the mean is the delay
        assert!(lo < delay - jitter + Duration::from_micros(5), "{lo:?}");
        assert!(hi > delay + jitter - Duration::from_micros(5), "{hi:?}");
        let mean = sum / n;
        assert!(
            mean > delay - Duration::from_micros(20) && mean < delay + Duration::from_micros(20),
            "{mean:?}"
        );
    }

    #[test]
    fn jitter_larger_than_the_delay_never_goes_below_zero() {
        let mut c = cfg(MS, 3 * MS, 0.0);
        c.queue = 10_000;
        let mut i = Impairment::new(c);
        let t0 = Instant::now();
        let (mut now, mut queued) = (0, 0);
        for _ in 0..10_000 {
            match i.submit(t0, to(), b"x") {
                Submit::SendNow => now += 1,
                Submit::Queued => queued += 1,
                Submit::Drop => panic!("no loss configured"),
            }
        }
        // P(delay <= 0) = 2ms / 6ms
        assert!((3000..3700).contains(&now), "{now} sent at once");
        let mut prev = t0;
        while let Some(at) = i.next_deadline() {
            assert!(at > t0 && at <= t0 + 4 * MS);
            assert!(at >= prev, "released by release time");
            prev = at;
            let _ = i.pop_due(at);
            queued -= 1;
        }
        assert_eq!(queued, 0);
    }

    #[test]
    fn the_loss_rate_matches_with_a_fixed_seed() {
        let t = Instant::now();
        for p in [0.01, 0.1, 0.5] {
            let mut i = Impairment::new(cfg(Duration::ZERO, Duration::ZERO, p));
            let n = 100_000;
            let lost = (0..n)
                .filter(|_| i.submit(t, to(), b"x") == Submit::Drop)
                .count();
            assert_eq!(lost as u64, i.stats().dropped_loss);
            let rate = lost as f64 / n as f64;
            // ±5 standard deviations
            let tol = 5.0 * (p * (1.0 - p) / n as f64).sqrt();
            assert!((rate - p).abs() < tol, "loss {p}: measured {rate}");
        }
        // the same seed draws the same losses
        let run = || {
            let mut i = Impairment::new(cfg(Duration::ZERO, Duration::ZERO, 0.3));
            (0..1000)
                .map(|_| i.submit(t, to(), b"x") == Submit::Drop)
                .collect::<Vec<_>>()
        };
        assert_eq!(run(), run());
    }

    #[test]
    fn no_loss_and_total_loss_are_exact() {
        let t = Instant::now();
        let mut none = Impairment::new(cfg(Duration::ZERO, Duration::ZERO, 0.0));
        let mut all = Impairment::new(cfg(MS, Duration::ZERO, 1.0));
        for _ in 0..100_000 {
            assert_eq!(none.submit(t, to(), b"x"), Submit::SendNow);
            assert_eq!(all.submit(t, to(), b"x"), Submit::Drop);
        }
        assert_eq!(all.stats().dropped_loss, 100_000);
        assert!(all.is_empty());
    }

    #[test]
    fn a_full_queue_drops_and_counts() {
        let mut c = cfg(10 * MS, Duration::ZERO, 0.0);
        c.queue = 3;
        let mut i = Impairment::new(c);
        let t0 = Instant::now();
        for k in 0..5u8 {
            let want = if k < 3 { Submit::Queued } else { Submit::Drop };
            assert_eq!(i.submit(t0, to(), &[k]), want);
        }
        assert_eq!(i.len(), 3);
        assert_eq!(
            i.stats(),
            ImpairStats {
                delayed: 3,
                dropped_loss: 0,
                dropped_full: 2
            }
        );
        // room again once one leaves; its slot is reused
        assert_eq!(i.pop_due(t0 + 10 * MS), Some((to(), &[0u8][..])));
        assert_eq!(i.submit(t0 + MS, to(), &[9; 2000]), Submit::Queued);
        assert_eq!(i.slots.len(), 3, "no new slot");
        let mut got = vec![];
        i.drain_due(t0 + 20 * MS, |_, d| got.push(d.to_vec()));
        assert_eq!(got, vec![vec![1], vec![2], vec![9; 2000]]);
    }

    #[test]
    fn jitter_reorders_by_release_time_and_ties_keep_order() {
        let mut i = Impairment::new(cfg(5 * MS, 4 * MS, 0.0));
        let t0 = Instant::now();
        let mut release = vec![];
        for k in 0..200u16 {
            let now = t0 + Duration::from_micros(100) * u32::from(k);
            assert_eq!(i.submit(now, to(), &k.to_be_bytes()), Submit::Queued);
        }
        let mut order = vec![];
        while let Some(at) = i.next_deadline() {
            let (_, d) = i.pop_due(at).expect("due");
            order.push(u16::from_be_bytes([d[0], d[1]]));
            release.push(at);
        }
        assert_eq!(order.len(), 200);
        assert!(release.windows(2).all(|w| w[0] <= w[1]), "by release time");
        assert!(order.windows(2).any(|w| w[0] > w[1]), "jitter reorders");

        // a constant delay keeps submission order, also for equal times
        let mut i = Impairment::new(cfg(MS, Duration::ZERO, 0.0));
        for k in 0..100u8 {
            i.submit(t0 + MS * u32::from(k / 10), to(), &[k]);
        }
        let mut got = vec![];
        i.drain_due(t0 + Duration::from_secs(1), |_, d| got.push(d[0]));
        assert_eq!(got, (0..100).collect::<Vec<u8>>());
    }

    #[test]
    fn reconfigure_keeps_the_queue_and_the_counters() {
        let mut i = Impairment::new(cfg(10 * MS, Duration::ZERO, 0.0));
        let t0 = Instant::now();
        i.submit(t0, to(), b"a");
        i.reconfigure(cfg(MS, Duration::ZERO, 0.0));
        i.submit(t0, to(), b"b");
        assert_eq!(i.next_deadline(), Some(t0 + MS));
        assert_eq!(i.len(), 2);
        assert_eq!(i.stats().delayed, 2);
        let mut got = vec![];
        assert_eq!(i.drain_all(|_, d| got.push(d.to_vec())), 2);
        assert_eq!(got, vec![b"b".to_vec(), b"a".to_vec()]);
        // a larger queue is usable at once
        let mut c = cfg(MS, Duration::ZERO, 0.0);
        c.queue = 1;
        let mut i = Impairment::new(c.clone());
        assert_eq!(i.submit(t0, to(), b"a"), Submit::Queued);
        assert_eq!(i.submit(t0, to(), b"b"), Submit::Drop);
        c.queue = 2;
        i.reconfigure(c);
        assert_eq!(i.submit(t0, to(), b"b"), Submit::Queued);
    }

    #[test]
    fn an_unseeded_generator_differs_between_runs() {
        let mut c = cfg(Duration::ZERO, Duration::ZERO, 0.5);
        c.seed = None;
        let t = Instant::now();
        let draw = |c: &ImpairConfig| {
            let mut i = Impairment::new(c.clone());
            (0..128)
                .map(|_| i.submit(t, to(), b"x") == Submit::Drop)
                .collect::<Vec<_>>()
        };
        assert_ne!(draw(&c), draw(&c));
    }
}
