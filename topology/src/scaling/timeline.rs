//! The predicted timeline of a group under an offered load: the load
//! profile (`0m:2000,10m:7040,40m:2000`, total requests a minute for the
//! group, piecewise constant), the metrics it gives each minute, and the
//! [`Controller`]'s alarms and activities. What `vifgate topology scale`
//! prints.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::Serialize;

use super::controller::{Activity, Controller, Datapoints};
use crate::model::scaling::ScalingMetric;
use crate::model::Topology;
use crate::units::parse_long_duration;

/// One minute.
const MINUTE: Duration = Duration::from_secs(60);

/// A load profile: from each point's time on, the group is offered its
/// requests a minute, until the next point (piecewise constant).
#[derive(Debug, Clone, PartialEq)]
pub struct LoadProfile {
    /// `(minute, requests a minute)`, by increasing minute, the first at 0.
    pub points: Vec<(u64, f64)>,
}

/// A profile that does not parse: what is wrong and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileError {
    /// 1-based column of the bad part in the profile text.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ProfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "column {}: {}", self.column, self.message)
    }
}

impl std::error::Error for ProfileError {}

/// One point of a profile's text: its time, its value and the column
/// where it starts (after any blank), for an error found later.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProfilePoint {
    /// From when it holds.
    pub at: Duration,
    /// Its value.
    pub value: f64,
    /// 1-based column of its time in the text.
    pub column: usize,
}

/// The points of a profile's text, `TIME:VALUE,...`: times with a unit
/// (`0m`, `90s`, `2h`), increasing, the first at 0 (written `zero`, e.g.
/// `0m`); each value read by `value`, which says what is wrong with a bad
/// one. `shape` names the form in an error (`TIME:REQUESTS, like
/// `10m:7040``). The one reader of `topology scale --load` and `sim load
/// --profile`.
pub fn parse_profile_points(
    text: &str,
    shape: &str,
    zero: &str,
    value: impl Fn(&str) -> Result<f64, String>,
) -> Result<Vec<ProfilePoint>, ProfileError> {
    let mut points: Vec<ProfilePoint> = Vec::new();
    let mut column = 1;
    for part in text.split(',') {
        let err = |offset: usize, message: String| ProfileError {
            column: column + offset,
            message,
        };
        let Some((time, val)) = part.split_once(':') else {
            return Err(err(0, format!("`{part}` is not {shape}")));
        };
        let lead = time.len() - time.trim_start().len();
        let at = parse_long_duration(time).map_err(|_| {
            err(
                lead,
                format!("`{}` is not a time like `0m`, `10m` or `2h`", time.trim()),
            )
        })?;
        let v = value(val.trim()).map_err(|m| err(time.len() + 1, m))?;
        match points.last() {
            None if !at.is_zero() => {
                return Err(err(
                    lead,
                    format!(
                        "the profile starts at {}; its first point is at {zero}",
                        time.trim()
                    ),
                ))
            }
            Some(prev) if at <= prev.at => {
                return Err(err(
                    lead,
                    format!(
                        "{} does not come after {}: give times in increasing order, each once",
                        crate::units::fmt_long_duration(at),
                        crate::units::fmt_long_duration(prev.at)
                    ),
                ));
            }
            _ => {}
        }
        points.push(ProfilePoint {
            at,
            value: v,
            column: column + lead,
        });
        column += part.chars().count() + 1;
    }
    Ok(points)
}

/// The largest load a profile offers, in requests a minute: a million a
/// second, `sim load`'s largest rate. Above it the timeline's figures
/// stop being readable (a `1e300` load printed 300 digits a line).
pub const MAX_REQUESTS_PER_MINUTE: f64 = 60_000_000.0;

impl LoadProfile {
    /// Parses `TIME:REQUESTS,...`: times with a unit (`0m`, `90m`, `2h`),
    /// whole minutes, increasing, the first `0m`; requests a minute, a
    /// number from 0 to [`MAX_REQUESTS_PER_MINUTE`].
    pub fn parse(text: &str) -> Result<LoadProfile, ProfileError> {
        let points = parse_profile_points(text, "TIME:REQUESTS, like `10m:7040`", "0m", |v| {
            match v
                .parse::<f64>()
            {
                Ok(r) if (0.0..=MAX_REQUESTS_PER_MINUTE).contains(&r) => Ok(r),
                _ => Err(format!(
                    "`{v}` is not a number of requests a minute, from 0 to {MAX_REQUESTS_PER_MINUTE}"
                )),
            }
        })?;
        points
            .iter()
            .map(|p| {
                if p.at.as_secs() % 60 == 0 && p.at.subsec_nanos() == 0 {
                    Ok((p.at.as_secs() / 60, p.value))
                } else {
                    Err(ProfileError {
                        column: p.column,
                        message: format!(
                            "`{}` is not a whole number of minutes",
                            crate::units::fmt_long_duration(p.at)
                        ),
                    })
                }
            })
            .collect::<Result<_, _>>()
            .map(|points| LoadProfile { points })
    }

    /// The requests offered in minute `minute`.
    pub fn at(&self, minute: u64) -> f64 {
        self.points
            .iter()
            .take_while(|(m, _)| *m <= minute)
            .last()
            .map_or(0.0, |(_, r)| *r)
    }

    /// The minute of the last point.
    pub fn last_minute(&self) -> u64 {
        self.points.last().map_or(0, |(m, _)| *m)
    }
}

/// How the offered load becomes each metric.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoadModel {
    /// CPU time one request costs on an instance, in milliseconds; without
    /// it the CPU metric is missing.
    pub cpu_ms_per_request: Option<f64>,
}

/// One minute of the timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Period {
    /// Minutes from the start.
    pub minute: u64,
    /// Requests offered to the group in this minute.
    pub load: f64,
    /// Each metric's datapoint (`None`: missing), by AWS's name.
    pub metrics: BTreeMap<String, Option<f64>>,
    /// Each policy's alarms after this minute's datapoints.
    pub alarms: Vec<AlarmAtPeriod>,
    /// Instances in service at the end of the minute.
    pub in_service: u32,
    /// Instances warming up at the end of the minute.
    pub warming: u32,
    /// Desired capacity at the end of the minute.
    pub desired: u32,
    /// What the group did.
    pub activities: Vec<ActivityRecord>,
}

/// An alarm's state in a period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlarmAtPeriod {
    /// The policy.
    pub policy: String,
    /// `high`, `low` or `alarm`.
    pub alarm: &'static str,
    /// Its threshold.
    pub threshold: f64,
    /// `OK`, `ALARM` or `INSUFFICIENT_DATA`.
    pub state: String,
}

/// An activity, for output.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActivityRecord {
    /// `launch`, `terminate` or `scheduled`.
    pub kind: &'static str,
    /// The instance launched or terminated.
    pub instance: Option<String>,
    /// Its zone.
    pub zone: Option<String>,
    /// What happened, in words.
    pub description: String,
}

impl From<&Activity> for ActivityRecord {
    fn from(a: &Activity) -> Self {
        let (kind, instance, zone) = match a {
            Activity::Launch { instance, zone, .. } => ("launch", Some(instance), Some(zone)),
            Activity::Terminate { instance, zone, .. } => ("terminate", Some(instance), Some(zone)),
            Activity::Scheduled { .. } => ("scheduled", None, None),
        };
        ActivityRecord {
            kind,
            instance: instance.cloned(),
            zone: zone.cloned(),
            description: a.to_string(),
        }
    }
}

/// The metrics the group's policies watch, each once, in policy order.
pub fn watched(t: &Topology, group: usize) -> Vec<ScalingMetric> {
    let s = &t.auto_scaling_groups[group].scaling;
    let mut out: Vec<ScalingMetric> = Vec::new();
    let all = s
        .target_tracking
        .iter()
        .map(|p| p.metric)
        .chain(s.step_scaling.iter().map(|p| p.alarm.metric));
    for m in all {
        if !out.contains(&m) {
            out.push(m);
        }
    }
    out
}

/// A metric's datapoint for `load` requests a minute spread over
/// `in_service` instances; `None` when nothing is in service or the
/// model cannot give it.
pub fn datapoint(
    metric: ScalingMetric,
    load: f64,
    in_service: u32,
    model: LoadModel,
) -> Option<f64> {
    if in_service == 0 {
        return None;
    }
    let per_instance = load / f64::from(in_service);
    match metric {
        ScalingMetric::AlbRequestCountPerTarget { .. } => Some(per_instance),
        // ms of CPU a minute over the 60 000 ms of a minute, in percent
        ScalingMetric::CpuUtilization => model
            .cpu_ms_per_request
            .map(|ms| (per_instance * ms / 600.0).min(100.0)),
        ScalingMetric::NetworkIn | ScalingMetric::NetworkOut => None,
    }
}

/// The timeline of group `group` of `t` under `profile`, one period a
/// minute from `start` (seconds since 1970-01-01 UTC, for scheduled
/// actions) for `minutes` minutes.
pub fn timeline(
    t: &Topology,
    group: usize,
    profile: &LoadProfile,
    model: LoadModel,
    start: Duration,
    minutes: u64,
) -> Vec<Period> {
    let mut c = Controller::new(t, group, start);
    let metrics = watched(t, group);
    let mut out = Vec::new();
    for minute in 0..minutes {
        let now = start + Duration::from_secs(minute.saturating_mul(MINUTE.as_secs()));
        let load = profile.at(minute);
        let (points, shown) = datapoints(&metrics, load, c.in_service(now), model);
        let activities = c.handle_period(now, &points);
        out.push(period_record(&c, now, minute, load, shown, &activities));
    }
    out
}

/// One period's datapoints of `metrics` for `load` requests spread over
/// `in_service` instances, and the same by AWS name for the record (a
/// metric without one is `None`).
pub fn datapoints(
    metrics: &[ScalingMetric],
    load: f64,
    in_service: u32,
    model: LoadModel,
) -> (Datapoints, BTreeMap<String, Option<f64>>) {
    let mut points = Datapoints::new();
    let mut shown = BTreeMap::new();
    for &m in metrics {
        let v = datapoint(m, load, in_service, model);
        if let Some(v) = v {
            points.set(m, v);
        }
        shown.insert(m.aws_name().to_string(), v);
    }
    (points, shown)
}

/// The record of period `minute` (at `now`) that `c` has just handled:
/// what `topology scale` and `sim autoscale` print.
pub fn period_record(
    c: &Controller,
    now: Duration,
    minute: u64,
    load: f64,
    metrics: BTreeMap<String, Option<f64>>,
    activities: &[Activity],
) -> Period {
    let alarms = c
        .alarms()
        .into_iter()
        .map(|a| AlarmAtPeriod {
            policy: a.policy,
            alarm: a.alarm,
            threshold: a.threshold,
            state: a.state.to_string(),
        })
        .collect();
    Period {
        minute,
        load,
        metrics,
        alarms,
        in_service: c.in_service(now),
        warming: c.warming(now),
        desired: c.sizes().1,
        activities: activities.iter().map(ActivityRecord::from).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_are_piecewise_constant() {
        let p = LoadProfile::parse("0m:2000,10m:7040,40m:2000").expect("valid");
        assert_eq!(p.at(0), 2000.0);
        assert_eq!(p.at(9), 2000.0);
        assert_eq!(p.at(10), 7040.0);
        assert_eq!(p.at(39), 7040.0);
        assert_eq!(p.at(500), 2000.0);
        assert_eq!(p.last_minute(), 40);
        assert_eq!(
            LoadProfile::parse("0m:5, 1h:6").expect("valid").points,
            [(0, 5.0), (60, 6.0)]
        );
    }

    #[test]
    fn bad_profiles_say_where() {
        for (text, column, msg) in [
            ("0m:2000,10x:7040", 9, "`10x` is not a time"),
            ("0m:2000,10m:lots", 13, "`lots` is not a number"),
            ("0m:2000,10m", 9, "is not TIME:REQUESTS"),
            ("5m:2000", 1, "its first point is at 0m"),
            ("0m:1,20m:2,10m:3", 12, "10m does not come after 20m"),
            ("0m:1,90s:2", 6, "not a whole number of minutes"),
            ("0m:-4", 4, "from 0 to 60000000"),
            // a time written twice, in two spellings: both shown alike
            ("0m:5,0s:6", 6, "0s does not come after 0s"),
            // a huge load is refused, not printed with 300 digits
            (
                "0m:1e300",
                4,
                "`1e300` is not a number of requests a minute",
            ),
            ("0m:1,10m:60000001", 10, "from 0 to 60000000"),
        ] {
            let e = LoadProfile::parse(text).expect_err(text);
            assert_eq!(e.column, column, "{text}: {e}");
            assert!(e.message.contains(msg), "{text}: {e}");
        }
    }

    #[test]
    fn cpu_follows_requests_per_instance() {
        let model = LoadModel {
            cpu_ms_per_request: Some(30.0),
        };
        // 1000 requests a minute x 30 ms = 30 s of a 60 s minute: 50 %
        assert_eq!(
            datapoint(ScalingMetric::CpuUtilization, 2000.0, 2, model),
            Some(50.0)
        );
        assert_eq!(
            datapoint(ScalingMetric::CpuUtilization, 2000.0, 0, model),
            None
        );
        let none = LoadModel {
            cpu_ms_per_request: None,
        };
        assert_eq!(
            datapoint(ScalingMetric::CpuUtilization, 2000.0, 2, none),
            None
        );
    }
}
