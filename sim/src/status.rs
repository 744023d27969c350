//! What `sim status` shows: a lab's namespaces, processes and shaping.

use std::fmt::Write as _;

use serde::Serialize;

use crate::apply;
use crate::netns;
use crate::plan;

/// One lab as it is now.
#[derive(Debug, Clone, Serialize)]
pub struct LabStatus {
    /// Lab name.
    pub lab: String,
    /// `up`, `building` (or a `sim up` that died), or `absent`.
    pub status: String,
    /// Topology name.
    pub topology: Option<String>,
    /// The file it was built from.
    pub source: Option<String>,
    /// Namespaces planned.
    pub namespaces_planned: usize,
    /// Namespaces that exist.
    pub namespaces_present: usize,
    /// Processes running in them (gateways, listeners, `sim exec`).
    pub processes: usize,
    /// Nodes and their namespaces.
    pub nodes: Vec<(String, String)>,
    /// How links got their attributes: shaping mechanisms, VLANs.
    pub link_notes: Vec<String>,
    /// Seconds `up` took.
    pub up_seconds: f64,
}

/// The status of a lab.
pub fn status(lab: &str) -> LabStatus {
    let st = apply::read_state(lab);
    let mut present: Vec<String> = plan::lab_prefixes(lab)
        .iter()
        .flat_map(|p| netns::list(p))
        .collect();
    present.sort();
    let processes = present.iter().map(|n| apply::pids_in(n).len()).sum();
    match st {
        Some(s) => LabStatus {
            lab: lab.into(),
            status: s.status.clone(),
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
        },
        None => LabStatus {
            lab: lab.into(),
            status: if present.is_empty() {
                "absent"
            } else {
                "orphaned (no state)"
            }
            .into(),
            topology: None,
            source: None,
            namespaces_planned: 0,
            namespaces_present: present.len(),
            processes,
            nodes: Vec::new(),
            link_notes: Vec::new(),
            up_seconds: 0.0,
        },
    }
}

/// For humans.
pub fn render(s: &LabStatus) -> String {
    let mut o = String::new();
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
    let _ = writeln!(
        o,
        "  namespaces {}/{} present, {} processes, built in {:.2} s",
        s.namespaces_present, s.namespaces_planned, s.processes, s.up_seconds
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
    o
}
