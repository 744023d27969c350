//! `vifgate topology scale FILE --load PROFILE`: the predicted timeline of
//! an Auto Scaling group under an offered load, offline, from
//! `topology::scaling::timeline`.

use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use topology::scaling::cron::parse_utc_minute;
use topology::scaling::timeline::{timeline, LoadModel, LoadProfile, Period};
use topology::Topology;

/// Minutes played after the profile's last point when `--minutes` is not
/// given: enough for a 15-minute low alarm after a 5-minute warm-up, and
/// then some.
const MINUTES_AFTER_LAST_POINT: u64 = 30;

/// The longest timeline played: a week of minutes.
const MAX_MINUTES: u64 = 7 * 24 * 60;

/// What `topology scale` was asked.
pub struct ScaleRequest<'a> {
    /// `--load`.
    pub load: &'a str,
    /// `--group`.
    pub group: Option<&'a str>,
    /// `--cpu-per-request`, milliseconds.
    pub cpu_per_request: Option<f64>,
    /// `--minutes`.
    pub minutes: Option<u64>,
    /// `--start`.
    pub start: Option<&'a str>,
    /// `--json`.
    pub json: bool,
}

/// Runs `topology scale`.
pub fn scale(req: &ScaleRequest<'_>, t: &Topology) -> Result<ExitCode> {
    let profile = LoadProfile::parse(req.load).with_context(|| format!("--load `{}`", req.load))?;
    let group = choose_group(t, req.group)?;
    let start = match req.start {
        None => Duration::ZERO,
        Some(s) => match parse_utc_minute(s) {
            Some(secs) => Duration::from_secs(secs),
            None => bail!("--start `{s}` is not a UTC time like 2026-12-24T09:00"),
        },
    };
    if req
        .cpu_per_request
        .is_some_and(|ms| !(ms.is_finite() && ms > 0.0))
    {
        bail!("--cpu-per-request must be a number of milliseconds above 0");
    }
    let minutes = req.minutes.unwrap_or(
        profile
            .last_minute()
            .saturating_add(MINUTES_AFTER_LAST_POINT),
    );
    if minutes > MAX_MINUTES {
        bail!("{minutes} minutes is more than a week ({MAX_MINUTES}): give --minutes, or a shorter profile");
    }
    let model = LoadModel {
        // the lab's `[sim] cpu_per_request` unless the command gives one
        cpu_ms_per_request: req
            .cpu_per_request
            .or(t.sim.cpu_per_request.map(|d| d.as_secs_f64() * 1000.0)),
    };
    let periods = timeline(t, group, &profile, model, start, minutes);
    if req.json {
        for p in &periods {
            println!("{}", serde_json::to_string(p)?);
        }
    } else {
        print!("{}", render(&t.auto_scaling_groups[group].name, &periods));
    }
    Ok(ExitCode::SUCCESS)
}

/// The group named, or the only one with a scaling policy.
pub(crate) fn choose_group(t: &Topology, name: Option<&str>) -> Result<usize> {
    let groups = &t.auto_scaling_groups;
    let all = || {
        groups
            .iter()
            .map(|g| g.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some(n) = name {
        return match groups.iter().position(|g| g.name == n) {
            Some(i) => Ok(i),
            None if groups.is_empty() => {
                bail!("--group `{n}`: the topology has no Auto Scaling group")
            }
            None => bail!(
                "--group `{n}` is not an Auto Scaling group; the groups are: {}",
                all()
            ),
        };
    }
    let with_policies: Vec<usize> = (0..groups.len())
        .filter(|&i| {
            let s = &groups[i].scaling;
            !(s.target_tracking.is_empty() && s.step_scaling.is_empty() && s.scheduled.is_empty())
        })
        .collect();
    match (with_policies.as_slice(), groups.len()) {
        ([only], _) => Ok(*only),
        (_, 1) => Ok(0),
        (_, 0) => bail!("the topology has no Auto Scaling group"),
        _ => bail!(
            "the topology has several Auto Scaling groups: name one with --group ({})",
            all()
        ),
    }
}

/// The timeline for people: one line a minute, each activity below it.
fn render(group: &str, periods: &[Period]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Auto Scaling group {group}: predicted timeline, one line a minute"
    );
    let _ = writeln!(
        out,
        "(load: requests a minute offered to the group; capacity: in service + warming up)\n"
    );
    for p in periods {
        out.push_str(&render_period(p));
    }
    out
}

/// One period for people: its line (load, metrics, capacity, alarms),
/// each activity below it; `sim autoscale` prints the same.
pub fn render_period(p: &Period) -> String {
    let mut out = String::new();
    let metrics: Vec<String> = p
        .metrics
        .iter()
        .map(|(name, v)| match v {
            Some(v) => format!("{name} {v:.0}"),
            None => format!("{name} -"),
        })
        .collect();
    let mut alarms: Vec<String> = Vec::new();
    for a in &p.alarms {
        let state = format!("{} {}", a.alarm, a.state);
        match alarms.last_mut() {
            Some(last) if last.starts_with(&format!("{}:", a.policy)) => {
                let _ = write!(last, ", {state}");
            }
            _ => alarms.push(format!("{}: {state}", a.policy)),
        }
    }
    let _ = writeln!(
        out,
        "{:>4}m  load {:>6.0}  {}  capacity {} + {} (desired {})  [{}]",
        p.minute,
        p.load,
        metrics.join(", "),
        p.in_service,
        p.warming,
        p.desired,
        alarms.join("; ")
    );
    for a in &p.activities {
        let _ = writeln!(out, "        {}", a.description);
    }
    out
}
