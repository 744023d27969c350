//! The cases of a generated (property) test, from the environment:
//! `VIFGATE_PROPERTY_SEED=N` runs case `N` alone; `VIFGATE_PROPERTY_FIRST=N`
//! and `VIFGATE_PROPERTY_CASES=K` run cases `N..N+K` (from 1 by default).

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
