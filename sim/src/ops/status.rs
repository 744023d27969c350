//! What `sim status` shows: a lab's namespaces, processes and shaping.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::apply;
use crate::apply::state::BuildStatus;
use crate::kernel::netns;
use crate::layout;

/// What there is of a lab. Serialised as `up`, `building`, `absent`,
/// `orphaned (no state)` or `unreadable`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Condition {
    /// Built: every step of `sim up` done.
    Up,
    /// A `sim up` still running, or one that died: `down` removes it.
    Building,
    /// No state and no namespace.
    Absent,
    /// Namespaces with the lab's prefix but no state file.
    #[serde(rename = "orphaned (no state)")]
    Orphaned,
    /// A state directory or file that could not be read (its
    /// permissions), or a state file not whole.
    Unreadable,
}

impl Condition {
    /// The words `sim status` prints.
    pub fn as_str(self) -> &'static str {
        match self {
            Condition::Up => "up",
            Condition::Building => "building",
            Condition::Absent => "absent",
            Condition::Orphaned => "orphaned (no state)",
            Condition::Unreadable => "unreadable",
        }
    }
}

impl From<BuildStatus> for Condition {
    fn from(s: BuildStatus) -> Condition {
        match s {
            BuildStatus::Building => Condition::Building,
            BuildStatus::Up => Condition::Up,
        }
    }
}

impl std::fmt::Display for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One lab as it is now.
#[derive(Debug, Clone, Serialize)]
pub struct LabStatus {
    /// Lab name.
    pub lab: String,
    /// `up`, `building` (or a `sim up` that died), or `absent`.
    pub status: Condition,
    /// Topology name.
    pub topology: Option<String>,
    /// The file it was built from.
    pub source: Option<String>,
    /// Namespaces planned.
    pub namespaces_planned: usize,
    /// Namespaces that exist.
    pub namespaces_present: usize,
    /// Processes running in them (gateways, listeners, `sim exec`);
    /// none without root, which alone may look into other users'
    /// processes' namespaces.
    pub processes: Option<usize>,
    /// Nodes and their namespaces.
    pub nodes: Vec<(String, String)>,
    /// How links got their attributes: shaping mechanisms, VLANs.
    pub link_notes: Vec<String>,
    /// Seconds `up` took.
    pub up_seconds: f64,
    /// A `sim apply` interrupted in the middle (the lab is between its
    /// plan and the one it was bringing it to): the step it left under
    /// way, or why none is named.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub apply_interrupted: Option<String>,
    /// The instances `sim fail` failed.
    pub failed: Vec<String>,
    /// The zones `sim fail --zone` failed (impaired: the scaling
    /// controller launches no instance there).
    pub impaired_zones: Vec<String>,
    /// Auto Scaling groups whose capacity `sim autoscale` changed.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub capacity: BTreeMap<String, crate::scaling::capacity::LiveCapacity>,
    /// The groups the lab's scaling controller runs, from its records.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub autoscaling: Vec<crate::scaling::service::GroupStatus>,
    /// Whether the lab's scaling controller runs (none when the lab has
    /// no group for it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub controller_running: Option<bool>,
    /// The load balancers' targets and their health (none without root:
    /// HAProxy's admin socket is root's).
    pub targets: Vec<crate::apply::targets::TargetHealth>,
    /// Why the lab's state could not be read (status `unreadable`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The status of a lab.
pub fn status(lab: &str) -> LabStatus {
    let (st, error) = match apply::state::load_state(lab) {
        Ok(st) => (st, None),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => (
            None,
            Some(format!("{e}: `sim status` needs root to read a lab")),
        ),
        Err(e) => (None, Some(e.to_string())),
    };
    let mut present: Vec<String> = layout::lab_prefixes(lab)
        .iter()
        .flat_map(|p| netns::list(p))
        .collect();
    present.sort();
    // SAFETY: no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let processes = root.then(|| present.iter().map(|n| apply::pids_in(n).len()).sum());
    match st {
        Some(s) => LabStatus {
            lab: lab.into(),
            status: s.status.into(),
            topology: Some(s.plan.topology.clone()),
            source: s.source.as_ref().map(|p| p.display().to_string()),
            namespaces_planned: s.plan.namespaces.len(),
            namespaces_present: present.len(),
            processes,
            nodes: s
                .plan
                .namespaces
                .iter()
                .filter_map(|n| n.node.clone().map(|node| (node, n.name.clone())))
                .collect(),
            link_notes: s.link_notes.clone(),
            up_seconds: s.seconds,
            apply_interrupted: s.applying.as_ref().map(|_| {
                let dir = layout::state_dir(lab);
                match apply::journal::read(&dir)
                    .ok()
                    .as_deref()
                    .and_then(apply::journal::unfinished)
                {
                    Some((n, step)) => format!("at step {n}: {step}"),
                    None => "between two of its steps".into(),
                }
            }),
            failed: s.failed.iter().cloned().collect(),
            impaired_zones: s.impaired_zones.iter().cloned().collect(),
            capacity: s.capacity.clone(),
            autoscaling: (s.plan.autoscaling.iter())
                .map(|g| {
                    let path = crate::scaling::service::records(&layout::state_dir(lab), g);
                    let recs =
                        crate::scaling::service::last_records(&path, 200).unwrap_or_default();
                    crate::scaling::service::group_status(g, &recs)
                })
                .collect(),
            controller_running: (!s.plan.autoscaling.is_empty()).then(|| {
                (s.processes.iter())
                    .any(|p| p.what == crate::scaling::service::PROCESS && p.is_running())
            }),
            // HAProxy's admin socket is root's (mode 600)
            targets: (s.plan.haproxy.iter().filter(|_| root))
                .flat_map(|h| {
                    let dir = layout::state_dir(lab);
                    crate::apply::targets::health(&layout::haproxy_socket(&dir, &h.node), h)
                })
                .collect(),
            error: None,
        },
        None => LabStatus {
            lab: lab.into(),
            status: if error.is_some() {
                Condition::Unreadable
            } else if present.is_empty() {
                Condition::Absent
            } else {
                Condition::Orphaned
            },
            topology: None,
            source: None,
            namespaces_planned: 0,
            namespaces_present: present.len(),
            processes,
            nodes: Vec::new(),
            link_notes: Vec::new(),
            up_seconds: 0.0,
            apply_interrupted: None,
            failed: Vec::new(),
            impaired_zones: Vec::new(),
            capacity: BTreeMap::new(),
            autoscaling: Vec::new(),
            controller_running: None,
            targets: Vec::new(),
            error,
        },
    }
}

/// For humans.
pub fn render(s: &LabStatus) -> String {
    let mut o = String::new();
    if let Some(e) = &s.error {
        let _ = writeln!(o, "lab `{}`: {} — {e}", s.lab, s.status);
        let _ = writeln!(
            o,
            "  namespaces {} present, {}",
            s.namespaces_present,
            processes(s.processes)
        );
        return o;
    }
    let _ = writeln!(
        o,
        "lab `{}`: {} — topology {}{}",
        s.lab,
        s.status,
        s.topology.as_deref().unwrap_or("?"),
        s.source
            .as_deref()
            .map(|p| format!(" ({p})"))
            .unwrap_or_default()
    );
    if let Some(at) = &s.apply_interrupted {
        let _ = writeln!(
            o,
            "  a `sim apply` was interrupted {at}: the lab is between its plan and the new one; run that `sim apply` again to complete it, `sim apply FILE --rebuild` if a step of it keeps failing, or `vifgate sim down {}`",
            s.lab
        );
    }
    let _ = writeln!(
        o,
        "  namespaces {}/{} present, {}, built in {:.2} s",
        s.namespaces_present,
        s.namespaces_planned,
        processes(s.processes),
        s.up_seconds
    );
    for sh in &s.link_notes {
        let _ = writeln!(o, "  link {sh}");
    }
    let _ = writeln!(
        o,
        "  nodes: {}",
        s.nodes
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    if !s.failed.is_empty() {
        let _ = writeln!(
            o,
            "  failed (`sim fail`): {}; `sim apply` of the lab's file, or `sim fail {} --restore`, brings them back",
            s.failed.join(", "),
            s.lab
        );
    }
    if !s.impaired_zones.is_empty() {
        let _ = writeln!(
            o,
            "  impaired zone{} (`sim fail --zone`): {}; no instance is launched there until `sim apply` of the lab's file, or `sim fail {} --restore`",
            if s.impaired_zones.len() == 1 { "" } else { "s" },
            s.impaired_zones.join(", "),
            s.lab
        );
    }
    for (group, c) in &s.capacity {
        let _ = writeln!(
            o,
            "  group {group}: desired capacity {} (set by the scaling controller; the file says {}: `sim apply` of it keeps {} unless the file's desired changes)",
            c.desired, c.file_desired, c.desired
        );
    }
    if let Some(running) = s.controller_running {
        // `sim up` starts it at its end, and `sim apply` refuses a lab
        // whose `sim up` has not finished
        let state = match (running, s.status) {
            (true, _) => "running".to_string(),
            (false, Condition::Building) => format!(
                "not started: the lab's `sim up` has not finished (one that was interrupted leaves the lab to `vifgate sim down {}`)",
                s.lab
            ),
            (false, _) => "NOT running: `sim apply` of the lab's file starts it again".to_string(),
        };
        let _ = writeln!(
            o,
            "  scaling controller: {state} (its log: autoscaling.log in the lab's directory)"
        );
    }
    for g in &s.autoscaling {
        let n = |v: Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
        let _ = writeln!(
            o,
            "  group {}: capacity {} desired, {} in service, {} warming (minute {})",
            g.group,
            n(g.desired),
            n(g.in_service),
            n(g.warming),
            n(g.minute)
        );
        for a in &g.activities {
            let _ = writeln!(o, "    {}", crate::scaling::service::describe(a));
        }
    }
    for t in &s.targets {
        let _ = writeln!(
            o,
            "  target {} of {} ({} {}): {}{}",
            t.instance,
            t.load_balancer,
            t.backend,
            t.server,
            t.status,
            if t.check.is_empty() {
                String::new()
            } else {
                format!(", last check {}", t.check)
            }
        );
    }
    o
}

/// `N processes`, or that only root sees them.
fn processes(n: Option<usize>) -> String {
    match n {
        Some(n) => format!("{n} processes"),
        None => "processes seen only by root".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A lab whose `sim up` was killed before it started the controller
    /// was said to need a `sim apply`, which refuses a lab not up.
    #[test]
    fn a_controller_not_started_by_an_unfinished_up_is_not_sent_to_apply() {
        // an absent lab's status, as one interrupted early would be
        let mut s = status("nolab-render");
        assert_eq!(s.status, Condition::Absent);
        s.status = Condition::Building;
        s.topology = Some("t".into());
        s.controller_running = Some(false);
        let text = render(&s);
        assert!(
            text.contains("scaling controller: not started: the lab's `sim up` has not finished (one that was interrupted leaves the lab to `vifgate sim down nolab-render`)"),
            "{text}"
        );
        assert!(!text.contains("sim apply"), "{text}");
        s.status = Condition::Up;
        let text = render(&s);
        assert!(
            text.contains(
                "scaling controller: NOT running: `sim apply` of the lab's file starts it again"
            ),
            "{text}"
        );
    }

    #[test]
    fn impaired_zones_are_shown_and_in_the_json() {
        let mut s = status("s21-no-such-lab");
        s.error = None;
        let plain = render(&s);
        assert!(!plain.contains("impaired"), "{plain}");
        s.failed = vec!["web-a1".into()];
        s.impaired_zones = vec!["a".into()];
        let text = render(&s);
        assert!(
            text.contains("  impaired zone (`sim fail --zone`): a; no instance is launched there until `sim apply` of the lab's file, or `sim fail s21-no-such-lab --restore`\n"),
            "{text}"
        );
        let json = serde_json::to_value(&s).expect("serialises");
        assert_eq!(json["impaired_zones"], serde_json::json!(["a"]));
        assert_eq!(json["failed"], serde_json::json!(["web-a1"]));
    }

    #[test]
    fn conditions_serialise_as_the_words_they_print() {
        for c in [
            Condition::Up,
            Condition::Building,
            Condition::Absent,
            Condition::Orphaned,
            Condition::Unreadable,
        ] {
            let json = serde_json::to_string(&c).expect("serialises");
            assert_eq!(json, format!("\"{c}\""));
        }
    }
}
