//! What `sim load` offers: a constant rate (`--rate 100/s`) or a profile
//! (`--profile "0s:100,60s:352"`), requests a second, piecewise constant
//! as `topology scale`'s profile is (there in requests a minute of lab
//! time, here in requests a second of the wall clock).

use std::time::Duration;

use topology::scaling::timeline::parse_profile_points;
/// A profile that does not parse: what is wrong and at which column, as
/// `topology scale --load` reports it.
pub use topology::scaling::timeline::ProfileError;

/// The highest rate offered: a million requests a second is far beyond
/// what one generator on one thread sends.
pub const MAX_RATE: f64 = 1_000_000.0;

/// The offered rate over time: from each point's time on, its rate, until
/// the next point.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// `(time, requests a second)`, by increasing time, the first at 0.
    points: Vec<(Duration, f64)>,
}

/// A rate in requests a second, `100`, `100/s` or `2.5/s`: above 0, at
/// most [`MAX_RATE`].
pub fn parse_rate(text: &str) -> Result<f64, String> {
    let number = text.trim();
    let number = number.strip_suffix("/s").unwrap_or(number).trim();
    match number.parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 && r <= MAX_RATE => Ok(r),
        Ok(r) if r.is_finite() && r > MAX_RATE => {
            Err(format!("`{text}`: at most {MAX_RATE} requests a second"))
        }
        _ => Err(format!(
            "`{text}` is not a rate: give requests a second above 0, like `100/s`"
        )),
    }
}

impl Profile {
    /// A constant `rate` (requests a second).
    pub fn constant(rate: f64) -> Profile {
        Profile {
            points: vec![(Duration::ZERO, rate)],
        }
    }

    /// Parses `TIME:RATE,...`: times with a unit (`0s`, `90s`, `2m`),
    /// increasing, the first `0s`; rates in requests a second (`100` or
    /// `100/s`), 0 (a pause) or more, at most [`MAX_RATE`]; not all 0.
    pub fn parse(text: &str) -> Result<Profile, ProfileError> {
        let points = parse_profile_points(text, "TIME:RATE, like `60s:352`", "0s", |v| {
            let number = v.strip_suffix("/s").unwrap_or(v).trim();
            match number.parse::<f64>() {
                Ok(r) if r.is_finite() && (0.0..=MAX_RATE).contains(&r) => Ok(r),
                _ => Err(format!(
                    "`{v}` is not a rate: requests a second, from 0 to {MAX_RATE}"
                )),
            }
        })?;
        if points.iter().all(|p| p.value == 0.0) {
            return Err(ProfileError {
                column: 1,
                message: "every rate is 0: nothing would be sent".into(),
            });
        }
        Ok(Profile {
            points: points.iter().map(|p| (p.at, p.value)).collect(),
        })
    }

    /// The rate offered at `t`.
    pub fn rate_at(&self, t: Duration) -> f64 {
        self.points
            .iter()
            .take_while(|(at, _)| *at <= t)
            .last()
            .map_or(0.0, |(_, r)| *r)
    }

    /// The time of the point after `t`, if any.
    pub fn next_change(&self, t: Duration) -> Option<Duration> {
        self.points.iter().map(|(at, _)| *at).find(|at| *at > t)
    }

    /// The time of the last point.
    pub fn last_point(&self) -> Duration {
        self.points.last().map_or(Duration::ZERO, |(at, _)| *at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_profile_is_piecewise_constant() {
        let p = Profile::parse("0s:100, 60s:352/s,2m:0").expect("parses");
        assert_eq!(p.rate_at(Duration::ZERO), 100.0);
        assert_eq!(p.rate_at(Duration::from_millis(59_999)), 100.0);
        assert_eq!(p.rate_at(Duration::from_secs(60)), 352.0);
        assert_eq!(p.rate_at(Duration::from_secs(500)), 0.0);
        assert_eq!(p.last_point(), Duration::from_secs(120));
        assert_eq!(
            p.next_change(Duration::from_secs(1)),
            Some(Duration::from_secs(60))
        );
    }

    #[test]
    fn a_bad_profile_is_told_where() {
        let cases = [
            ("10s:100", 1, "first point is at 0s"),
            ("0s:100,60x:3", 8, "not a time"),
            ("0s:100,60s:-3", 12, "not a rate"),
            ("0s:100,60s:abc", 12, "not a rate"),
            ("0s:100,30s:5,20s:1", 14, "does not come after 30s"),
            ("0s:100,60s", 8, "not TIME:RATE"),
            ("0s:0,5s:0", 1, "every rate is 0"),
            ("0s:2000000", 4, "from 0 to"),
        ];
        for (text, column, words) in cases {
            let e = Profile::parse(text).expect_err(text);
            assert_eq!(e.column, column, "{text}: {e}");
            assert!(e.message.contains(words), "{text}: {e}");
        }
    }

    #[test]
    fn a_rate_is_above_zero() {
        assert_eq!(parse_rate("100/s"), Ok(100.0));
        assert_eq!(parse_rate("2.5"), Ok(2.5));
        for bad in ["0", "0/s", "-1/s", "x/s", "", "inf", "NaN", "1e9/s"] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
    }
}
