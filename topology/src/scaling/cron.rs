//! Cron expressions of scheduled actions, in UTC: five fields (minute,
//! hour, day of month, month, day of week), each `*`, a number, a range
//! `a-b`, a step `*/n` or `a-b/n`, or a list of those. As in cron, when
//! both day fields are restricted a day matching either one matches.
//! EC2 Auto Scaling takes traditional cron syntax, so, as there, months
//! and days of the week may be named (`JAN`, `mon`) and Sunday is 0 or 7.

use std::fmt;

use crate::model::scaling::Cron;

/// Why a cron expression was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronError(pub String);

impl fmt::Display for CronError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CronError {}

/// One field's name and range.
struct Field {
    name: &'static str,
    lo: u32,
    hi: u32,
    /// Names of its values from `lo` on (months, days of the week).
    names: &'static [&'static str],
}

/// Month names, from 1.
const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
/// Day names, from Sunday (0).
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

const FIELDS: [Field; 5] = [
    Field {
        name: "minute",
        lo: 0,
        hi: 59,
        names: &[],
    },
    Field {
        name: "hour",
        lo: 0,
        hi: 23,
        names: &[],
    },
    Field {
        name: "day of month",
        lo: 1,
        hi: 31,
        names: &[],
    },
    Field {
        name: "month",
        lo: 1,
        hi: 12,
        names: &MONTHS,
    },
    Field {
        name: "day of week",
        lo: 0,
        // 7 is Sunday again, folded onto 0 by `Cron::parse`
        hi: 7,
        names: &WEEKDAYS,
    },
];

/// The set of values one field matches, bit `v` for value `v`.
fn field(text: &str, f: &Field) -> Result<u64, CronError> {
    let number = |s: &str| -> Result<u32, CronError> {
        if let Some(i) = f.names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
            return Ok(f.lo + i as u32);
        }
        let digits = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        let n: u32 =
            s.parse().ok().filter(|_| digits).ok_or_else(|| {
                CronError(format!("`{s}` in the {} field is not a number", f.name))
            })?;
        if n < f.lo || n > f.hi {
            return Err(CronError(format!(
                "{} {n} is out of range (from {} to {})",
                f.name, f.lo, f.hi
            )));
        }
        Ok(n)
    };
    let mut set = 0u64;
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => {
                let step: u32 = s.parse().ok().filter(|&s| s > 0).ok_or_else(|| {
                    CronError(format!(
                        "step `{s}` in the {} field is not a number above 0",
                        f.name
                    ))
                })?;
                (r, step)
            }
            None => (part, 1),
        };
        let (lo, hi) = if range == "*" {
            (f.lo, f.hi)
        } else if let Some((a, b)) = range.split_once('-') {
            let (a, b) = (number(a)?, number(b)?);
            if a > b {
                return Err(CronError(format!(
                    "range {a}-{b} in the {} field runs backwards",
                    f.name
                )));
            }
            (a, b)
        } else {
            let a = number(range)?;
            (a, if step > 1 { f.hi } else { a })
        };
        // a step past the range's end takes its first value only
        set |= (lo..=hi)
            .step_by(step as usize)
            .fold(0u64, |s, v| s | 1 << v);
    }
    Ok(set)
}

impl Cron {
    /// Parses `"minute hour day-of-month month day-of-week"`.
    pub fn parse(text: &str) -> Result<Cron, CronError> {
        let parts: Vec<&str> = text.split_whitespace().collect();
        if parts.len() != 5 {
            return Err(CronError(format!(
                "a cron expression has 5 fields (minute hour day-of-month month day-of-week), this one has {}",
                parts.len()
            )));
        }
        let sets: Vec<u64> = parts
            .iter()
            .zip(&FIELDS)
            .map(|(p, f)| field(p, f))
            .collect::<Result<_, _>>()?;
        Ok(Cron {
            text: parts.join(" "),
            minutes: sets[0],
            hours: sets[1] as u32,
            days: sets[2] as u32,
            months: sets[3] as u16,
            // bit 7, Sunday written as 7, is Sunday
            weekdays: (sets[4] as u8 & 0x7f) | (sets[4] >> 7) as u8,
            any_day: parts[2] == "*",
            any_weekday: parts[4] == "*",
        })
    }

    /// Whether it fires on some day: a day of the month it names
    /// exists in a month it names (February has 29 days in a leap year).
    /// Only a restricted day of the month under an unrestricted day of
    /// the week can name none (`0 0 31 2 *`, `0 0 31 4,6,9,11 *`): a
    /// restricted day of the week matches either way.
    pub fn fires(&self) -> bool {
        if self.any_day || !self.any_weekday {
            return true;
        }
        const LONGEST: [u32; 12] = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
        (1..=12u32)
            .filter(|m| self.months & (1 << m) != 0)
            .any(|m| (1..=LONGEST[m as usize - 1]).any(|d| self.days & (1 << d) != 0))
    }

    /// Whether it fires in the minute that holds `unix_secs` (seconds
    /// since 1970-01-01 00:00 UTC).
    pub fn matches(&self, unix_secs: u64) -> bool {
        let minute = (unix_secs / 60 % 60) as u32;
        let hour = (unix_secs / 3600 % 24) as u32;
        let days = unix_secs / 86_400;
        let weekday = ((days + 4) % 7) as u32; // 1970-01-01 was a Thursday
        let (_, month, day) = civil_from_days(days as i64);
        let day_ok = match (self.any_day, self.any_weekday) {
            (true, true) => true,
            (false, true) => self.days & (1 << day) != 0,
            (true, false) => self.weekdays & (1 << weekday) != 0,
            (false, false) => self.days & (1 << day) != 0 || self.weekdays & (1 << weekday) != 0,
        };
        self.minutes & (1 << minute) != 0
            && self.hours & (1 << hour) != 0
            && self.months & (1 << month) != 0
            && day_ok
    }
}

/// `YYYY-MM-DDTHH:MM` (UTC) as seconds since 1970-01-01 00:00 UTC; `None`
/// when it is not one (or is before 1970).
pub fn parse_utc_minute(text: &str) -> Option<u64> {
    let (date, time) = text.trim().split_once('T')?;
    let mut d = date.splitn(3, '-');
    let (y, mo, da) = (
        d.next()?.parse::<i64>().ok()?,
        d.next()?.parse::<u32>().ok()?,
        d.next()?.parse::<u32>().ok()?,
    );
    let (h, mi) = time.trim_end_matches('Z').split_once(':')?;
    let (h, mi) = (h.parse::<u64>().ok()?, mi.parse::<u64>().ok()?);
    if !(1..=12).contains(&mo) || h > 23 || mi > 59 {
        return None;
    }
    let days = days_from_civil(y, mo, da);
    // a day past the month's end comes back as another date
    if days < 0 || civil_from_days(days) != (y, mo, da) {
        return None;
    }
    Some(days as u64 * 86_400 + h * 3600 + mi * 60)
}

/// Days since 1970-01-01 of a date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Year, month (1-12) and day (1-31) of a count of days since 1970-01-01
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-12-24 09:00 UTC, a Thursday.
    const CHRISTMAS_EVE_9AM: u64 = 1_798_102_800;

    #[test]
    fn civil_dates_of_known_days() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(
            civil_from_days(CHRISTMAS_EVE_9AM as i64 / 86_400),
            (2026, 12, 24)
        );
    }

    #[test]
    fn utc_minutes_round_trip() {
        assert_eq!(
            parse_utc_minute("2026-12-24T09:00"),
            Some(CHRISTMAS_EVE_9AM)
        );
        assert_eq!(parse_utc_minute("1970-01-01T00:00Z"), Some(0));
        for bad in [
            "2026-02-30T09:00",
            "2026-12-24 09:00",
            "2026-13-01T00:00",
            "2026-12-24T24:00",
            "1969-12-31T23:59",
        ] {
            assert_eq!(parse_utc_minute(bad), None, "{bad}");
        }
    }

    #[test]
    fn fields_ranges_steps_and_lists() {
        let c = Cron::parse("0 9 * * 1-5").expect("valid");
        assert!(c.matches(CHRISTMAS_EVE_9AM));
        assert!(!c.matches(CHRISTMAS_EVE_9AM + 60));
        assert!(!c.matches(CHRISTMAS_EVE_9AM + 2 * 86_400)); // Saturday
        let every_15 = Cron::parse("*/15 * * * *").expect("valid");
        assert!(every_15.matches(CHRISTMAS_EVE_9AM + 45 * 60));
        assert!(!every_15.matches(CHRISTMAS_EVE_9AM + 50 * 60));
        let list = Cron::parse("0,30 8-10 24 12 *").expect("valid");
        assert!(list.matches(CHRISTMAS_EVE_9AM + 30 * 60));
        assert!(!list.matches(CHRISTMAS_EVE_9AM + 86_400));
    }

    #[test]
    fn restricted_day_fields_match_either() {
        // the 1st of the month or a Sunday; Christmas Eve 2026 is neither,
        // the 27th is a Sunday
        let c = Cron::parse("0 9 1 * 0").expect("valid");
        assert!(!c.matches(CHRISTMAS_EVE_9AM));
        assert!(c.matches(CHRISTMAS_EVE_9AM + 3 * 86_400));
    }

    /// EC2 Auto Scaling's recurrence is traditional cron: Sunday is 0 or
    /// 7, months and days may be named
    /// (docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-scheduled-scaling.html,
    /// "Recurring schedules").
    #[test]
    fn sunday_is_0_or_7_and_names_are_read() {
        let sunday_27th = CHRISTMAS_EVE_9AM + 3 * 86_400;
        for text in [
            "0 9 * * 0",
            "0 9 * * 7",
            "0 9 * * SUN",
            "0 9 * * sun",
            "0 9 * * 5-7",
        ] {
            let c = Cron::parse(text).expect(text);
            assert!(c.matches(sunday_27th), "{text}");
            assert!(!c.matches(CHRISTMAS_EVE_9AM), "{text}: a Thursday");
        }
        let weekdays = Cron::parse("0 9 * DEC MON-FRI").expect("names");
        assert!(weekdays.matches(CHRISTMAS_EVE_9AM));
        assert!(!weekdays.matches(sunday_27th));
        assert!(Cron::parse("0 9 * * 8").is_err());
        assert!(Cron::parse("0 9 * * FUN").is_err());
    }

    /// A step larger than the field's range takes the range's first
    /// value; the largest step a u32 holds neither overflows nor wraps
    /// around to a value outside the field.
    #[test]
    fn steps_past_the_range_take_its_first_value() {
        let c = Cron::parse("0 9 24-31/4294967295 * *").expect("valid");
        assert_eq!(c.days, 1 << 24);
        let c = Cron::parse("59/4294967295 * * * *").expect("valid");
        assert_eq!(c.minutes, 1 << 59);
        assert!(Cron::parse("+5 * * * *").is_err(), "a sign is not a number");
    }

    #[test]
    fn a_day_no_month_it_names_has_never_comes() {
        for never in ["0 0 31 2 *", "0 0 30 FEB *", "0 0 31 4,6,9,11 *"] {
            assert!(!Cron::parse(never).expect(never).fires(), "{never}");
        }
        for fires in [
            "0 0 29 2 *",
            "0 0 31 2,3 *",
            "0 0 31 2 MON",
            "* * * * *",
            "0 9 1 * *",
        ] {
            assert!(Cron::parse(fires).expect(fires).fires(), "{fires}");
        }
    }

    #[test]
    fn mistakes_are_named() {
        for (text, msg) in [
            ("0 9 * *", "5 fields"),
            ("60 9 * * *", "minute 60 is out of range"),
            ("0 9 0 * *", "day of month 0 is out of range"),
            ("0 x * * *", "`x` in the hour field"),
            ("*/0 * * * *", "step `0`"),
            ("0 10-8 * * *", "runs backwards"),
        ] {
            let e = Cron::parse(text).expect_err(text);
            assert!(e.0.contains(msg), "{text}: {e}");
        }
    }
}
