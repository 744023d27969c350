//! The cases of a generated (property) test, from the environment:
//! `VIFGATE_PROPERTY_SEED=N` runs case `N` alone; `VIFGATE_PROPERTY_FIRST=N`
//! and `VIFGATE_PROPERTY_CASES=K` run cases `N..N+K` (from 1 by default);
//! [`Random`], the small generator the randomised tests draw from.

/// A number from the environment, or `default`.
pub fn env_number(key: &str, default: u64) -> u64 {
    match std::env::var(key) {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{key}={v}: expected a whole number")),
        Err(_) => default,
    }
}

/// The seeds to run: `on_ci` cases under `CI=true`, `by_hand` otherwise,
/// unless the environment says (see the module).
pub fn seeds(on_ci: u64, by_hand: u64) -> std::ops::Range<u64> {
    if std::env::var("VIFGATE_PROPERTY_SEED").is_ok() {
        let seed = env_number("VIFGATE_PROPERTY_SEED", 0);
        return seed..seed + 1;
    }
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let first = env_number("VIFGATE_PROPERTY_FIRST", 1);
    first..first + env_number("VIFGATE_PROPERTY_CASES", if ci { on_ci } else { by_hand })
}

/// A small deterministic generator (xorshift64*).
pub struct Random(pub u64);

impl Random {
    /// Seeded from `VIFGATE_STRESS_SEED` when set (to replay a run), else
    /// from the clock and the pid; returns the seed too, to be printed.
    pub fn seeded() -> (Random, u64) {
        let seed = std::env::var("VIFGATE_STRESS_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1);
                nanos ^ u64::from(std::process::id()) << 32
            });
        (Random(seed.max(1)), seed)
    }

    /// A number below `n` (0 for `n` = 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n.max(1)
    }
}
