//! The lab's own scaling controller: one process (`vifgate sim
//! controller --lab LAB`, recorded as [`PROCESS`]) that runs the
//! controller of every group the lab's plan names
//! ([`crate::plan::Plan::autoscaling`]) on the lab's clock
//! ([`super::run::drive`]). The step executor starts it at the end of a
//! run of steps to a plan with such groups and stops it at the end of one
//! to a plan without (`sim up`, `sim apply`, `sim down`); `sim down`'s
//! sweep ends it like every recorded process, and like every process in
//! the lab's namespaces (it runs in the lab's home namespace), so a `sim
//! up` killed at any point leaves none behind.
//!
//! Each group's events go, one JSON record a line, to
//! `autoscaling-GROUP.jsonl` in the lab's state directory ([`records`]:
//! the group's name escaped, one file per group),
//! what `sim status` and `sim autoscale --follow` read; its log
//! (`autoscaling.log`) has them through tracing.

use std::fs::{self, File};
use std::io::{self, Read as _, Seek as _, SeekFrom, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

use super::run::{drive, AutoscaleError, Event, Groups};
use crate::apply::Programs;
use crate::layout;

pub use layout::{
    controller_log as log_path, controller_records as records,
    controller_records_before as records_before, CONTROLLER_PROCESS as PROCESS,
};

/// How large a group's records file grows before the controller moves it
/// to [`records_before`] (replacing the one there) and starts a new one:
/// a lab keeps at most twice this a group. A period's record is about
/// 0.4 KB (a group of three policies), one a lab second at `time_scale`
/// 60: 33 MB a day, 65 MB for a group whose schedule flips it every
/// period (measured). 16 MiB is hours of periods, far more than `sim
/// status` (the last 256 KiB) and `--follow` read.
pub const RECORDS_MAX_BYTES: u64 = 16 * 1024 * 1024;

/// The records files the controller appends to, one a group, each moved
/// aside when it reaches its bound.
#[derive(Debug)]
pub struct RecordsWriter {
    dir: std::path::PathBuf,
    max_bytes: u64,
    files: std::collections::BTreeMap<String, File>,
}

impl RecordsWriter {
    /// The writer of the records in the lab's state directory `dir`, each
    /// file at most about `max_bytes` ([`RECORDS_MAX_BYTES`]).
    pub fn new(dir: &Path, max_bytes: u64) -> RecordsWriter {
        RecordsWriter {
            dir: dir.to_path_buf(),
            max_bytes,
            files: Default::default(),
        }
    }

    /// Appends `record` (one line) to group `group`'s records; a file
    /// past its bound is moved aside first.
    pub fn append(&mut self, group: &str, record: &serde_json::Value) -> io::Result<()> {
        let path = records(&self.dir, group);
        let full = (self.files.get(group))
            .map(|f| f.metadata().map_or(0, |m| m.len()) >= self.max_bytes)
            .unwrap_or(false);
        if full {
            self.files.remove(group);
            fs::rename(&path, records_before(&self.dir, group)).map_err(|e| {
                io::Error::new(e.kind(), format!("move {} aside: {e}", path.display()))
            })?;
        }
        if !self.files.contains_key(group) {
            self.files.insert(group.to_string(), open_records(&path)?);
        }
        let mut line = record.to_string();
        line.push('\n');
        match self.files.get_mut(group) {
            Some(f) => f.write_all(line.as_bytes()),
            None => Ok(()),
        }
    }
}

/// Runs the lab's controller until the lab is gone (or the process is
/// stopped): every group the lab's plan names, each event appended to
/// the group's records and logged.
pub fn serve(lab: &str, programs: &Programs) -> Result<(), AutoscaleError> {
    let dir = layout::state_dir(lab);
    tracing::info!(lab, "the scaling controller starts");
    let mut writer = RecordsWriter::new(&dir, RECORDS_MAX_BYTES);
    drive(lab, &Groups::Lab, None, true, programs, |group, e| {
        log(group, &e);
        // each step of a change is recorded too: when an instance was
        // deregistered is what a sticky client's move is checked against
        if group.is_empty() {
            return;
        }
        if let Err(err) = writer.append(group, &e.to_json()) {
            tracing::warn!(group, "cannot write its records: {err}");
        }
    })?;
    tracing::info!(lab, "the lab is gone: the scaling controller ends");
    Ok(())
}

/// Opens a records file for appending (made 0644, no symbolic link
/// followed, as the lab's other files).
fn open_records(path: &Path) -> io::Result<File> {
    fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

/// Logs an event through tracing.
fn log(group: &str, e: &Event<'_>) {
    match e {
        Event::Period(p) => {
            for a in &p.activities {
                tracing::info!(group, minute = p.minute, "{}", serde_json::json!(a));
            }
            tracing::debug!(
                group,
                minute = p.minute,
                load = p.load,
                desired = p.desired,
                "period"
            );
        }
        Event::Unavailable { metric, why } => tracing::debug!(group, metric, "{why}"),
        Event::Step(s) => tracing::debug!(group, "{}. {}", s.n, s.step),
        Event::Failed(err) => tracing::warn!(group, "{err}"),
        other => tracing::info!(group, "{}", other.to_json()),
    }
}

/// The last `n` records of `path` (JSON lines), oldest first; the file's
/// last 256 KiB are read, enough for hours of periods' activities.
pub fn last_records(path: &Path, n: usize) -> io::Result<Vec<serde_json::Value>> {
    const TAIL: u64 = 256 * 1024;
    let mut f = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    let len = f.metadata()?.len();
    let from = len.saturating_sub(TAIL);
    f.seek(SeekFrom::Start(from))?;
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes)?;
    let text = String::from_utf8_lossy(&bytes);
    let mut lines: Vec<&str> = text.lines().collect();
    if from > 0 && !lines.is_empty() {
        lines.remove(0); // cut in the middle
    }
    let values: Vec<serde_json::Value> = (lines.iter())
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let skip = values.len().saturating_sub(n);
    Ok(values.into_iter().skip(skip).collect())
}

/// A record that is not a period, for people: an activity's
/// description, an apply's launches and terminations, a replacement, a
/// failure, a step, a reload, a metric unavailable; the JSON itself for
/// anything else. The one describer of the controller's events
/// ([`super::run::Event::to_json`]): `sim status`, `sim autoscale` and
/// its `--follow` print these.
pub fn describe(r: &serde_json::Value) -> String {
    let names = |v: &serde_json::Value| -> String {
        let v: Vec<&str> = v
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|x| x.as_str())
            .collect();
        v.join(", ")
    };
    if let Some(d) = r.get("description").and_then(|d| d.as_str()) {
        return d.to_string();
    }
    if let Some(a) = r.get("applied") {
        let mut what = Vec::new();
        for (k, word) in [("launched", "launched"), ("terminated", "terminated")] {
            let n = names(&a[k]);
            if !n.is_empty() {
                what.push(format!("{word} {n}"));
            }
        }
        return format!(
            "applied: {} ({} instances, {} steps, {:.2} s)",
            what.join("; "),
            a["desired"],
            a["steps"],
            a["seconds"].as_f64().unwrap_or(0.0)
        );
    }
    if let Some(x) = r.get("replaced") {
        return format!(
            "replaced {}: unhealthy past its grace period (health check type ELB), terminated and replaced by a new instance ({} steps, {:.2} s)",
            x["instance"].as_str().unwrap_or("?"),
            x["steps"],
            x["seconds"].as_f64().unwrap_or(0.0)
        );
    }
    if let Some(metric) = r.get("unavailable").and_then(|m| m.as_str()) {
        return format!("{metric}: {}", r["why"].as_str().unwrap_or("unavailable"));
    }
    if let Some(f) = r.get("failed").and_then(|f| f.as_str()) {
        return format!("failed: {f}");
    }
    if let Some(step) = r.get("step").and_then(|s| s.as_str()) {
        return format!(
            "  {}. {step} ({:.1} ms)",
            r["n"],
            r["ms"].as_f64().unwrap_or(0.0)
        );
    }
    if let Some(x) = r.get("reloaded") {
        return format!(
            "the lab's topology changed: read again{}",
            if x["renewed"] == true {
                " (the controller starts afresh)"
            } else {
                ""
            }
        );
    }
    r.to_string()
}

/// What `sim status` says of a group the lab's controller runs.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct GroupStatus {
    /// The group.
    pub group: String,
    /// Its desired capacity after the last period recorded.
    pub desired: Option<u64>,
    /// Its instances in service then.
    pub in_service: Option<u64>,
    /// Its instances warming up then.
    pub warming: Option<u64>,
    /// The last period's minute on AWS's clock since the controller
    /// started.
    pub minute: Option<u64>,
    /// Its last activities (launches, terminations, scheduled actions,
    /// replacements, applies, failures), oldest first, as the records
    /// give them.
    pub activities: Vec<serde_json::Value>,
}

/// How many activities `sim status` shows a group.
pub const STATUS_ACTIVITIES: usize = 5;

/// Group `group`'s status from `records` (its last records).
pub fn group_status(group: &str, records: &[serde_json::Value]) -> GroupStatus {
    let last = records.iter().rev().find(|r| r.get("minute").is_some());
    let field = |k: &str| last.and_then(|r| r.get(k)).and_then(|v| v.as_u64());
    let mut activities: Vec<serde_json::Value> = Vec::new();
    for r in records {
        if let Some(acts) = r.get("activities").and_then(|a| a.as_array()) {
            activities.extend(acts.iter().cloned());
        } else if ["replaced", "applied", "failed"]
            .iter()
            .any(|k| r.get(k).is_some())
        {
            activities.push(r.clone());
        }
    }
    let skip = activities.len().saturating_sub(STATUS_ACTIVITIES);
    GroupStatus {
        group: group.to_string(),
        desired: field("desired"),
        in_service: field("in_service"),
        warming: field("warming"),
        minute: field("minute"),
        activities: activities.into_iter().skip(skip).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_groups_status_is_its_last_period_and_activities() {
        let recs = vec![
            json!({"minute": 3, "desired": 2, "in_service": 2, "warming": 0, "activities": []}),
            json!({"minute": 4, "desired": 3, "in_service": 2, "warming": 1,
                   "activities": [{"kind": "launch", "instance": "web-a2"}]}),
            json!({"applied": {"desired": 3, "launched": ["web-a2"]}}),
            json!({"unavailable": "ASGAverageCPUUtilization", "why": "x"}),
        ];
        let s = group_status("web-asg", &recs);
        assert_eq!(s.desired, Some(3));
        assert_eq!(s.in_service, Some(2));
        assert_eq!(s.warming, Some(1));
        assert_eq!(s.minute, Some(4));
        assert_eq!(s.activities.len(), 2, "{:?}", s.activities);
        assert_eq!(s.activities[0]["kind"], "launch");
        assert!(s.activities[1].get("applied").is_some());
        let none = group_status("g", &[]);
        assert_eq!(none.desired, None);
        assert!(none.activities.is_empty());
    }

    /// A group of 255 characters (AWS's longest name) had a records
    /// file name of 273 bytes, past Linux's 255: the controller could
    /// not write its records, and `sim status` showed the group without
    /// any.
    #[test]
    fn the_longest_group_names_have_records_files() {
        let dir = std::env::temp_dir().join(format!("vifgate-long-records-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("dir");
        let (a, b) = ("é".repeat(254) + "a", "é".repeat(254) + "b");
        let (pa, pb) = (records(&dir, &a), records(&dir, &b));
        assert_ne!(pa, pb, "two long names, one file");
        let (ba, bb) = (records_before(&dir, &a), records_before(&dir, &b));
        for p in [&pa, &pb, &ba, &bb] {
            let name = p.file_name().expect("a file name").len();
            assert!(name <= layout::FILE_NAME_MAX, "{name} bytes: {p:?}");
            let mut f = open_records(p).expect("opens");
            writeln!(f, "{}", json!({ "minute": 1 })).expect("writes");
        }
        assert_eq!(last_records(&pa, 1).expect("reads"), [json!({"minute": 1})]);
        // a short name is as it was
        assert!(records(&dir, "web-asg").ends_with("autoscaling-web-asg.jsonl"));
        fs::remove_dir_all(&dir).expect("clean up");
    }

    /// A lab's records grew without end (33 to 65 MB a day a group at
    /// time_scale 60, in /run): a file past its bound is moved aside and a
    /// new one started, so a group keeps at most two.
    #[test]
    fn records_past_their_bound_are_moved_aside() {
        let dir = std::env::temp_dir().join(format!("vifgate-records-cap-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("dir");
        let mut w = RecordsWriter::new(&dir, 100);
        for i in 0..40 {
            w.append("web-asg", &json!({ "minute": i }))
                .expect("appends");
        }
        let (now, before) = (records(&dir, "web-asg"), records_before(&dir, "web-asg"));
        for p in [&now, &before] {
            let len = fs::metadata(p).expect("there").len();
            assert!(len <= 100 + 20, "{} has {len} bytes", p.display());
        }
        assert_eq!(fs::read_dir(&dir).expect("dir").count(), 2);
        assert_eq!(
            last_records(&now, 1).expect("reads"),
            [json!({"minute": 39})],
            "the newest record is in the file sim status reads"
        );
        fs::remove_dir_all(&dir).expect("clean up");
    }

    #[test]
    fn every_event_is_described_for_people() {
        use super::super::run::Event;
        let unavailable = super::super::metrics::Unavailable("no CPU accounting".into());
        for (e, want) in [
            (
                Event::Replaced {
                    instance: "web-a1".into(),
                    steps: 16,
                    seconds: 0.444,
                },
                "replaced web-a1: unhealthy past its grace period (health check type ELB), terminated and replaced by a new instance (16 steps, 0.44 s)",
            ),
            (
                Event::Applied {
                    desired: 3,
                    launched: vec!["web-c2".into()],
                    terminated: vec![],
                    steps: 20,
                    seconds: 0.5,
                },
                "applied: launched web-c2 (3 instances, 20 steps, 0.50 s)",
            ),
            (
                Event::Unavailable {
                    metric: "ASGAverageCPUUtilization",
                    why: &unavailable,
                },
                "ASGAverageCPUUtilization: metric unavailable: no CPU accounting",
            ),
            (
                Event::Reloaded { renewed: true },
                "the lab's topology changed: read again (the controller starts afresh)",
            ),
        ] {
            assert_eq!(describe(&e.to_json()), want);
        }
    }

    #[test]
    fn records_are_appended_and_their_tail_read() {
        let dir = std::env::temp_dir().join(format!("vifgate-records-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("dir");
        let path = records(&dir, "web asg");
        assert!(path.ends_with("autoscaling-web:20asg.jsonl"), "{path:?}");
        // two groups, two files, whatever their names
        assert_ne!(path, records(&dir, "web_asg"));
        assert_ne!(records(&dir, "a.b"), records(&dir, "a_b"));
        let long = records(&dir, &"é".repeat(200));
        let name = long.file_name().expect("a name").len();
        assert!(name <= 255, "{name}");
        let _ = fs::remove_file(&path);
        for i in 0..10 {
            let mut f = open_records(&path).expect("opens");
            writeln!(f, "{}", json!({ "minute": i })).expect("writes");
        }
        let last = last_records(&path, 3).expect("reads");
        assert_eq!(
            last,
            vec![
                json!({"minute": 7}),
                json!({"minute": 8}),
                json!({"minute": 9})
            ]
        );
        // no symbolic link is followed
        let link = dir.join("link.jsonl");
        let _ = fs::remove_file(&link);
        std::os::unix::fs::symlink(&path, &link).expect("link");
        assert!(open_records(&link).is_err());
        assert!(last_records(&link, 1).is_err());
        fs::remove_dir_all(&dir).expect("clean up");
    }
}
