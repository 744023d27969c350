//! The periods `sim autoscale --json` and `topology scale --json` print,
//! read back for the scaling tests, and `topology scale`'s prediction of
//! a load profile.

use std::path::Path;
use std::process::{Command, Stdio};

use super::applied::ok;

/// A period as `sim autoscale --json` and `topology scale --json` print it.
#[derive(Debug, Clone)]
pub struct Period {
    /// The period's index (an AWS minute).
    pub minute: u64,
    /// Requests the group's targets answered (offered, for a prediction).
    pub load: f64,
    /// `ALBRequestCountPerTarget`, when there was a datapoint.
    pub metric: Option<f64>,
    /// The desired capacity after the period.
    pub desired: u64,
    /// Launches in the period.
    pub launches: usize,
    /// Terminations in the period.
    pub terminations: usize,
}

/// The period a JSON line is, if it is one.
pub fn period(v: &serde_json::Value) -> Option<Period> {
    let kinds = |k: &str| {
        v["activities"]
            .as_array()
            .map_or(0, |a| a.iter().filter(|x| x["kind"] == k).count())
    };
    Some(Period {
        minute: v.get("minute")?.as_u64()?,
        load: v.get("load")?.as_f64()?,
        metric: v["metrics"]["ALBRequestCountPerTarget"].as_f64(),
        desired: v.get("desired")?.as_u64()?,
        launches: kinds("launch"),
        terminations: kinds("terminate"),
    })
}

/// `topology scale FILE --load PROFILE --minutes N --json`: the
/// predicted periods.
pub fn predicted(file: &Path, profile: &str, minutes: usize) -> Vec<Period> {
    let o = ok(&[
        "topology",
        "scale",
        &file.to_string_lossy(),
        "--load",
        profile,
        "--minutes",
        &minutes.to_string(),
        "--json",
    ]);
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter_map(|v: serde_json::Value| period(&v))
        .collect()
}

/// The live periods whose desired capacity no predicted period within
/// one period of it has: (minute, live, predicted nearby).
pub fn off_by_more_than_a_period(
    live: &[Period],
    predicted: &[Period],
) -> Vec<(u64, u64, Vec<u64>)> {
    live.iter()
        .enumerate()
        .filter_map(|(i, l)| {
            let near =
                &predicted[i.saturating_sub(1).min(predicted.len())..(i + 2).min(predicted.len())];
            (!near.iter().any(|p| p.desired == l.desired)).then(|| {
                (
                    l.minute,
                    l.desired,
                    near.iter().map(|p| p.desired).collect(),
                )
            })
        })
        .collect()
}

/// `sim autoscale LAB --follow --duration DURATION --json` (the lab's
/// controller's records), started, and its output.
pub fn autoscale(lab: &str, duration: &str) -> (std::process::Child, std::process::ChildStdout) {
    let mut scaler = Command::new(super::vifgate())
        .args([
            "sim",
            "autoscale",
            lab,
            "--follow",
            "--duration",
            duration,
            "--json",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sim autoscale runs");
    let out = scaler.stdout.take().expect("piped");
    (scaler, out)
}
