//! When each request is due: evenly spaced at the profile's rate, from
//! the start until the run's duration, whatever the answers (open loop).

use std::time::Duration;

use super::profile::Profile;

/// The send times of a run, in order, as offsets from its start. Within
/// a stretch of constant rate the `k`-th send is at `start + k / rate`,
/// computed afresh each time (no drift from adding intervals); a new
/// stretch starts at each point of the profile.
#[derive(Debug, Clone)]
pub struct Schedule {
    profile: Profile,
    duration: Duration,
    /// The current stretch: its start and the index of the next send in
    /// it.
    stretch: Duration,
    k: u64,
    /// The next send time; `None` once past the duration.
    next: Option<Duration>,
}

impl Schedule {
    /// The sends of `profile` from 0 until `duration` (excluded).
    pub fn new(profile: Profile, duration: Duration) -> Schedule {
        let mut s = Schedule {
            profile,
            duration,
            stretch: Duration::ZERO,
            k: 0,
            next: None,
        };
        s.next = s.settle();
        s
    }

    /// The next send time, without taking it.
    pub fn peek(&self) -> Option<Duration> {
        self.next
    }

    /// Takes the next send time.
    pub fn advance(&mut self) -> Option<Duration> {
        let t = self.next?;
        self.k += 1;
        self.next = self.settle();
        Some(t)
    }

    /// The `k`-th send of the current stretch, or the first of the next
    /// stretch with a rate above 0 when it falls beyond its stretch (a
    /// rate of 0 is a pause); `None` past the duration.
    fn settle(&mut self) -> Option<Duration> {
        loop {
            let end = self.profile.next_change(self.stretch);
            let rate = self.profile.rate_at(self.stretch);
            if rate > 0.0 {
                let t = self.stretch + Duration::from_secs_f64(self.k as f64 / rate);
                if end.is_none_or(|e| t < e) {
                    return (t < self.duration).then_some(t);
                }
            }
            self.stretch = end.filter(|e| *e < self.duration)?;
            self.k = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sends(profile: &str, duration_s: u64) -> Vec<Duration> {
        let p = Profile::parse(profile).expect("profile");
        let mut s = Schedule::new(p, Duration::from_secs(duration_s));
        std::iter::from_fn(|| s.advance()).collect()
    }

    fn in_second(sends: &[Duration], second: u64) -> usize {
        sends.iter().filter(|t| t.as_secs() == second).count()
    }

    #[test]
    fn each_second_gets_the_profiles_rate_evenly_spaced() {
        let s = sends("0s:100,2s:352,4s:0,5s:10", 6);
        assert_eq!(in_second(&s, 0), 100);
        assert_eq!(in_second(&s, 1), 100);
        assert_eq!(in_second(&s, 2), 352);
        assert_eq!(in_second(&s, 3), 352);
        assert_eq!(in_second(&s, 4), 0, "a rate of 0 is a pause");
        assert_eq!(in_second(&s, 5), 10);
        assert_eq!(s[0], Duration::ZERO);
        let gap = s[1] - s[0];
        assert!(gap.abs_diff(Duration::from_millis(10)) < Duration::from_micros(1));
        assert!(s.windows(2).all(|w| w[0] < w[1]), "in order");
        assert!(s.iter().all(|t| *t < Duration::from_secs(6)));
    }

    #[test]
    fn a_rate_below_one_a_second_still_sends() {
        let s = sends("0s:0.5", 5);
        assert_eq!(
            s,
            vec![
                Duration::ZERO,
                Duration::from_secs(2),
                Duration::from_secs(4)
            ]
        );
    }
}
