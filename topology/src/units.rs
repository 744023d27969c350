//! Values with units, as every vifgate file and command writes them: rates,
//! durations, percentages and plain decimals. One parser and one formatter
//! per unit, shared by the topology file, the gateway's configuration and
//! the `sim` commands; callers turn a [`UnitError`] into their own message.
//!
//! | Unit | Written as | Parsed to | Examples |
//! |---|---|---|---|
//! | decimal | an optional `-`, digits, optionally `.` and more digits; no exponent, no `+`, no `inf` | `f64` | `1`, `-2.5`, `0.01` |
//! | rate | a number (decimals allowed, `.5` and `5.` too), then a unit in any case: `bps`, `Kbps`, `Mbps`, `Gbps` (AWS's form) or `bit`, `kbit`, `mbit`, `gbit`, each with or without `/s` (`tc`'s form); both mean bits per second. Whitespace anywhere is ignored. A bare number or a bare `k`/`m`/`g` is refused (bits or bytes?), with the AWS form suggested ([`rate_suggestion`]). | bits per second, `u64`, rounded; at least 1 | `"1Gbps"`, `"500 Mbps"`, `"1.5Gbps"`, `"100mbit"`, `"10gbit/s"` |
//! | duration | a decimal, optional spaces, and `us` (or `µs`), `ms` or `s`; digits past the nanosecond are dropped | [`Duration`] | `"250us"`, `"2ms"`, `"1.5ms"`, `"1s"` |
//! | percentage | a decimal, optional spaces, and `%`; from 0 to 100 | `f64`, in percent | `"0.1%"`, `"1 %"`, `"100%"` |
//!
//! Every file and command takes the same spellings: a topology file's
//! `bandwidth = "100mbit"` is as good as `sim link --rate 1Gbps`.
//! [`fmt_rate`] and [`fmt_duration`] write values
//! back in forms the parsers read.

use std::time::Duration;

/// Why a text is not a value of a unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    /// Not in the unit's form at all (no unit, an unknown unit, not a
    /// number).
    #[error("not in the unit's form")]
    Malformed,
    /// In the form, but negative, too large to represent, or outside the
    /// unit's own range (a percentage above 100).
    #[error("out of range")]
    OutOfRange,
}

/// A decimal number: an optional `-`, digits, and optionally `.` and more
/// digits (no exponent, no `inf`, no `+`). `None` when it is not one.
pub fn parse_decimal(s: &str) -> Option<f64> {
    let body = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = match body.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (body, None),
    };
    let digits = |x: &str| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || frac.is_some_and(|f| !digits(f)) {
        return None;
    }
    s.parse().ok()
}

// ---- rates -------------------------------------------------------------

/// How the unit of a rate was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateUnit {
    /// `bps`, `Kbps`, `Mbps`, `Gbps`: AWS's form.
    Bps,
    /// `bit`, `kbit`, `mbit`, `gbit`, with or without `/s`: `tc`'s form.
    Bit,
}

/// A rate as written: a number, a decimal prefix and a [`RateUnit`].
/// [`Rate::bps`] gives its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Rate {
    /// The number as written, whitespace removed.
    number: String,
    /// `""`, `"K"`, `"M"` or `"G"`.
    prefix: &'static str,
    unit: RateUnit,
}

impl Rate {
    /// How the unit was written.
    pub fn unit(&self) -> RateUnit {
        self.unit
    }

    /// Whether the number was written with a `-`.
    pub fn is_negative(&self) -> bool {
        self.number.starts_with('-')
    }

    /// The value in bits per second, rounded to the nearest one; out of
    /// range when below 1 bit per second or above `u64::MAX`.
    pub fn bps(&self) -> Result<u64, UnitError> {
        let scale = match self.prefix {
            "K" => 1e3,
            "M" => 1e6,
            "G" => 1e9,
            _ => 1.0,
        };
        let n: f64 = self.number.parse().map_err(|_| UnitError::Malformed)?;
        let v = n * scale;
        if v.is_finite() && v >= 1.0 && v.round() <= u64::MAX as f64 {
            Ok(v.round() as u64)
        } else {
            Err(UnitError::OutOfRange)
        }
    }

    /// The same rate in AWS's form, the number as written: `1Gbit` is
    /// `1Gbps`, `100mbit/s` is `100Mbps`, `1G` is `1Gbps`.
    pub fn in_bps_form(&self) -> String {
        format!("{}{}bps", self.number, self.prefix)
    }
}

/// Reads a rate in any of the spellings of the module's table. Only the
/// form is checked here; [`Rate::bps`] checks the value.
pub fn parse_rate(s: &str) -> Result<Rate, UnitError> {
    let t: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let body = number.strip_prefix('-').unwrap_or(number);
    let well_formed = body.bytes().any(|b| b.is_ascii_digit())
        && body.bytes().filter(|&b| b == b'.').count() <= 1
        && !body.contains('-');
    if !well_formed {
        return Err(UnitError::Malformed);
    }
    let unit = unit.to_ascii_lowercase();
    let (prefix, rest) = match unit.as_bytes().first() {
        Some(b'k') => ("K", &unit[1..]),
        Some(b'm') => ("M", &unit[1..]),
        Some(b'g') => ("G", &unit[1..]),
        _ => ("", unit.as_str()),
    };
    let kind = match rest {
        "bps" => RateUnit::Bps,
        "bit" | "bit/s" => RateUnit::Bit,
        _ => return Err(UnitError::Malformed),
    };
    Ok(Rate {
        number: number.to_string(),
        prefix,
        unit: kind,
    })
}

/// The rate a refused text probably meant, in AWS's form: `10g` is
/// `"10Gbps"`, `5 M` is `"5Mbps"`; `None` for anything else (a bare number
/// says nothing of its unit).
pub fn rate_suggestion(s: &str) -> Option<String> {
    let t: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    let (number, letter) = t.split_at(t.len().checked_sub(1)?);
    let prefix = match letter {
        "k" | "K" => "K",
        "m" | "M" => "M",
        "g" | "G" => "G",
        _ => return None,
    };
    parse_decimal(number)
        .filter(|n| *n > 0.0)
        .map(|_| format!("{number}{prefix}bps"))
}

/// Reads a rate in any spelling and gives its bits per second.
pub fn parse_rate_bps(s: &str) -> Result<u64, UnitError> {
    parse_rate(s)?.bps()
}

/// A rate for people: `1 Gbit/s`, `100 Mbit/s`, `1.5 Mbit/s`, `800 bit/s`
/// (at most three decimals). [`parse_rate`] reads it back.
pub fn fmt_rate(bps: u64) -> String {
    for (unit, div) in [("Gbit/s", 1e9), ("Mbit/s", 1e6), ("kbit/s", 1e3)] {
        let v = bps as f64 / div;
        if v >= 1.0 {
            return if v.fract() == 0.0 {
                format!("{v:.0} {unit}")
            } else {
                format!("{} {unit}", (v * 1000.0).round() / 1000.0)
            };
        }
    }
    format!("{bps} bit/s")
}

// ---- durations ---------------------------------------------------------

/// `"250us"` (also `µs`), `"2ms"`, `"1.5ms"`, `"1s"`: out of range when
/// below zero or too large to represent. Digits beyond the nanosecond are
/// dropped.
pub fn parse_duration(s: &str) -> Result<Duration, UnitError> {
    let s = s.trim();
    let (number, unit_ns): (&str, u128) = if let Some(n) = s.strip_suffix("ms") {
        (n, 1_000_000)
    } else if let Some(n) = s.strip_suffix("us").or_else(|| s.strip_suffix("µs")) {
        (n, 1_000)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1_000_000_000)
    } else {
        return Err(UnitError::Malformed);
    };
    let number = number.trim_end();
    parse_decimal(number).ok_or(UnitError::Malformed)?;
    if number.starts_with('-') {
        return Err(UnitError::OutOfRange);
    }
    let (int, frac) = number.split_once('.').unwrap_or((number, ""));
    let int = int.parse::<u128>().map_err(|_| UnitError::OutOfRange)?;
    // the fraction, exactly, in units of 10^-18 of the unit
    let frac: String = frac
        .chars()
        .chain(std::iter::repeat('0'))
        .take(18)
        .collect();
    let frac: u128 = frac.parse().unwrap_or(0);
    int.checked_mul(unit_ns)
        .and_then(|n| n.checked_add(frac * unit_ns / 1_000_000_000_000_000_000))
        .and_then(|n| u64::try_from(n).ok())
        .map(Duration::from_nanos)
        .ok_or(UnitError::OutOfRange)
}

/// A long duration, as scaling and target-group settings write them:
/// `"300s"`, `"10m"`, `"1.5h"`, `"5d"` (seconds, minutes, hours, days).
/// Sub-second units are [`parse_duration`]'s; they are malformed here.
pub fn parse_long_duration(s: &str) -> Result<Duration, UnitError> {
    let s = s.trim();
    if s.ends_with("ms") || s.ends_with("us") || s.ends_with("µs") {
        return Err(UnitError::Malformed);
    }
    let (number, unit_secs): (&str, u32) = if let Some(n) = s.strip_suffix('d') {
        (n, 86_400)
    } else if let Some(n) = s.strip_suffix('h') {
        (n, 3_600)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1)
    } else {
        return Err(UnitError::Malformed);
    };
    let number = number.trim_end();
    if number.is_empty() || number.ends_with(char::is_alphabetic) {
        return Err(UnitError::Malformed);
    }
    let seconds = parse_duration(&format!("{number}s"))?;
    seconds.checked_mul(unit_secs).ok_or(UnitError::OutOfRange)
}

/// A long duration in the largest unit that writes it whole: `5d`, `10m`,
/// `90s`; [`parse_long_duration`] reads it back.
pub fn fmt_long_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if d.subsec_nanos() != 0 || secs == 0 {
        return fmt_duration(d);
    }
    for (unit, name) in [(86_400, "d"), (3_600, "h"), (60, "m")] {
        if secs % unit == 0 {
            return format!("{}{name}", secs / unit);
        }
    }
    format!("{secs}s")
}

/// A duration the way the files write them: `2ms`, `1.5ms`, `250us`, `1s`
/// (and `5ns` below a microsecond). [`parse_duration`] reads it back from
/// a microsecond up.
pub fn fmt_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns == 0 {
        return "0s".into();
    }
    let (unit, name) = if ns >= 1_000_000_000 {
        (1_000_000_000, "s")
    } else if ns >= 1_000_000 {
        (1_000_000, "ms")
    } else if ns >= 1_000 {
        (1_000, "us")
    } else {
        (1, "ns")
    };
    let int = ns / unit;
    let frac = ns % unit;
    if frac == 0 {
        format!("{int}{name}")
    } else {
        let width = unit.ilog10() as usize;
        let f = format!("{frac:0width$}");
        format!("{int}.{}{name}", f.trim_end_matches('0'))
    }
}

// ---- percentages -------------------------------------------------------

/// `"0.1%"`, `"1 %"`, `"100%"`: the number before the `%`, out of range
/// when below 0 or above 100.
pub fn parse_percent(s: &str) -> Result<f64, UnitError> {
    let n = s
        .trim()
        .strip_suffix('%')
        .and_then(|n| parse_decimal(n.trim_end()))
        .ok_or(UnitError::Malformed)?;
    if (0.0..=100.0).contains(&n) {
        Ok(n)
    } else {
        Err(UnitError::OutOfRange)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn decimals() {
        assert_eq!(parse_decimal("1"), Some(1.0));
        assert_eq!(parse_decimal("-2.5"), Some(-2.5));
        assert_eq!(parse_decimal("0.01"), Some(0.01));
        for bad in [
            "", "-", ".5", "5.", "+1", "1e3", "inf", "NaN", "1.2.3", " 1", "1 ",
        ] {
            assert_eq!(parse_decimal(bad), None, "{bad}");
        }
    }

    #[test]
    fn rates() {
        assert_eq!(parse_rate_bps("1Gbps"), Ok(1_000_000_000));
        assert_eq!(parse_rate_bps("500 Mbps"), Ok(500_000_000));
        assert_eq!(parse_rate_bps("100mbit"), Ok(100_000_000));
        assert_eq!(parse_rate_bps("fast"), Err(UnitError::Malformed));
    }

    #[test]
    fn every_rate_spelling() {
        for (text, bps, unit) in [
            ("1Gbps", 1_000_000_000u64, RateUnit::Bps),
            ("1gbps", 1_000_000_000, RateUnit::Bps),
            ("1.5Gbps", 1_500_000_000, RateUnit::Bps),
            ("50 Mbps", 50_000_000, RateUnit::Bps),
            ("  10 Gbps ", 10_000_000_000, RateUnit::Bps),
            ("0.5Mbps", 500_000, RateUnit::Bps),
            ("64Kbps", 64_000, RateUnit::Bps),
            ("999bps", 999, RateUnit::Bps),
            ("100mbit", 100_000_000, RateUnit::Bit),
            ("100Mbit/s", 100_000_000, RateUnit::Bit),
            ("1gbit", 1_000_000_000, RateUnit::Bit),
            ("2kbit/s", 2_000, RateUnit::Bit),
            ("800bit", 800, RateUnit::Bit),
            ("800 bit/s", 800, RateUnit::Bit),
            ("1 000mbps", 1_000_000_000, RateUnit::Bps),
            (".5gbit", 500_000_000, RateUnit::Bit),
            ("5.mbit", 5_000_000, RateUnit::Bit),
        ] {
            let r = parse_rate(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(r.unit(), unit, "{text}");
            assert_eq!(r.bps(), Ok(bps), "{text}");
        }
    }

    #[test]
    fn rejected_rates() {
        for bad in [
            "",
            "fast",
            "Gbps",
            "1GB",
            "1e9bps",
            "1.2.3Mbps",
            "1-2Mbps",
            "--1bps",
            "1/s",
            "1tbps",
            "1Gbpss",
            "inf",
            "1 G bps x",
            "1000",
            "10g",
            "5M",
            "3k",
        ] {
            assert_eq!(parse_rate(bad), Err(UnitError::Malformed), "{bad}");
        }
        for out in [
            "0bps",
            "-1Gbps",
            "0.4bps",
            "-0gbit",
            "99999999999999999999999Gbps",
        ] {
            assert_eq!(parse_rate_bps(out), Err(UnitError::OutOfRange), "{out}");
        }
        assert!(parse_rate("-1Gbps").is_ok_and(|r| r.is_negative()));
    }

    #[test]
    fn rates_suggest_the_aws_form() {
        let bps_form = |s: &str| parse_rate(s).map(|r| r.in_bps_form());
        assert_eq!(bps_form("1Gbit"), Ok("1Gbps".into()));
        assert_eq!(bps_form("100mbit/s"), Ok("100Mbps".into()));
        assert_eq!(bps_form("2 kbit"), Ok("2Kbps".into()));
        assert_eq!(bps_form("1.5bit/s"), Ok("1.5bps".into()));
    }

    #[test]
    fn bare_letters_get_the_aws_form_suggested() {
        assert_eq!(rate_suggestion("10g"), Some("10Gbps".into()));
        assert_eq!(rate_suggestion("5 M"), Some("5Mbps".into()));
        assert_eq!(rate_suggestion("1.5k"), Some("1.5Kbps".into()));
        for none in ["1000", "g", "0g", "-1g", "fast", ""] {
            assert_eq!(rate_suggestion(none), None, "{none}");
        }
    }

    #[test]
    fn rates_for_people() {
        assert_eq!(fmt_rate(1_000_000_000), "1 Gbit/s");
        assert_eq!(fmt_rate(100_000_000), "100 Mbit/s");
        assert_eq!(fmt_rate(1_500_000), "1.5 Mbit/s");
        assert_eq!(fmt_rate(64_000), "64 kbit/s");
        assert_eq!(fmt_rate(800), "800 bit/s");
        assert_eq!(fmt_rate(1_234_567), "1.235 Mbit/s");
    }

    #[test]
    fn durations_and_their_spelling() {
        let ok = |s: &str| parse_duration(s).ok();
        assert_eq!(ok("250us"), Some(Duration::from_micros(250)));
        assert_eq!(ok("250µs"), Some(Duration::from_micros(250)));
        assert_eq!(ok("2ms"), Some(Duration::from_millis(2)));
        assert_eq!(ok("1.5ms"), Some(Duration::from_micros(1500)));
        assert_eq!(ok("0.0005s"), Some(Duration::from_micros(500)));
        assert_eq!(ok("1s"), Some(Duration::from_secs(1)));
        assert_eq!(ok("0ms"), Some(Duration::ZERO));
        assert_eq!(
            ok("1.0000000019s"),
            Some(Duration::from_nanos(1_000_000_001))
        );
        for bad in [
            "", "2", "ms", "2 m", "1e3ms", ".5ms", "5.ms", "inf s", "2msec", "1h",
        ] {
            assert_eq!(parse_duration(bad), Err(UnitError::Malformed), "{bad}");
        }
        assert_eq!(parse_duration("-1ms"), Err(UnitError::OutOfRange));
        assert_eq!(
            parse_duration("99999999999999999999s"),
            Err(UnitError::OutOfRange)
        );
        for (d, s) in [
            (Duration::ZERO, "0s"),
            (Duration::from_micros(250), "250us"),
            (Duration::from_micros(1500), "1.5ms"),
            (Duration::from_millis(20), "20ms"),
            (Duration::from_secs(10), "10s"),
            (Duration::from_nanos(5), "5ns"),
        ] {
            assert_eq!(fmt_duration(d), s);
        }
    }

    #[test]
    fn long_durations_in_seconds_minutes_hours_days() {
        let ok = |s: &str| parse_long_duration(s).ok();
        assert_eq!(ok("300s"), Some(Duration::from_secs(300)));
        assert_eq!(ok("10m"), Some(Duration::from_secs(600)));
        assert_eq!(ok("1.5h"), Some(Duration::from_secs(5400)));
        assert_eq!(ok("5d"), Some(Duration::from_secs(432_000)));
        assert_eq!(ok(" 7 d "), Some(Duration::from_secs(604_800)));
        for bad in ["", "5", "d", "2ms", "250us", "5 days", "1w", "-d", "1e3s"] {
            assert_eq!(parse_long_duration(bad), Err(UnitError::Malformed), "{bad}");
        }
        assert_eq!(parse_long_duration("-1m"), Err(UnitError::OutOfRange));
        for (secs, text) in [(432_000, "5d"), (600, "10m"), (7200, "2h"), (90, "90s")] {
            assert_eq!(fmt_long_duration(Duration::from_secs(secs)), text);
            assert_eq!(ok(text), Some(Duration::from_secs(secs)));
        }
    }

    #[test]
    fn durations_with_spaces_and_overflow() {
        assert_eq!(parse_duration(" 2 ms "), Ok(Duration::from_millis(2)));
        assert_eq!(
            parse_duration("18446744073s"),
            Ok(Duration::from_secs(18_446_744_073))
        );
        assert_eq!(parse_duration("18446744074s"), Err(UnitError::OutOfRange));
    }

    #[test]
    fn percentages() {
        assert_eq!(parse_percent("0.1%"), Ok(0.1));
        assert_eq!(parse_percent("1 %"), Ok(1.0));
        assert_eq!(parse_percent(" 100% "), Ok(100.0));
        assert_eq!(parse_percent("0%"), Ok(0.0));
        for bad in ["1", "0.01", "%", "1%%", "one%", ".5%", "1e2%"] {
            assert_eq!(parse_percent(bad), Err(UnitError::Malformed), "{bad}");
        }
        for out in ["150%", "-1%", "100.0001%"] {
            assert_eq!(parse_percent(out), Err(UnitError::OutOfRange), "{out}");
        }
    }

    proptest! {
        #[test]
        fn durations_round_trip_from_a_microsecond(ns in 1_000u64..=u64::MAX) {
            let d = Duration::from_nanos(ns);
            prop_assert_eq!(parse_duration(&fmt_duration(d)), Ok(d));
        }

        #[test]
        fn rates_round_trip_to_a_thousandth(bps in 1u64..=1_000_000_000_000_000) {
            let back = parse_rate_bps(&fmt_rate(bps)).map_err(|e| TestCaseError::fail(e.to_string()))?;
            // three decimals of the largest prefix that fits
            let step = if bps >= 1_000_000_000 { 1_000_000 } else if bps >= 1_000_000 { 1_000 } else { 1 };
            prop_assert!(back.abs_diff(bps) <= step / 2 + 1, "{} -> {} -> {}", bps, fmt_rate(bps), back);
        }

        #[test]
        fn aws_form_reads_as_the_same_rate(n in 1u64..1_000_000, prefix in prop::sample::select(vec!["", "K", "M", "G"])) {
            let tc = format!("{n}{}bit", prefix.to_lowercase());
            let r = parse_rate(&tc).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(parse_rate_bps(&r.in_bps_form()), r.bps());
        }
    }
}
