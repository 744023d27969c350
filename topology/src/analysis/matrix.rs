//! The host × host matrix: every endpoint to every other, per service.

use std::fmt::Write as _;

use super::reach::verdict_only;
use super::{Service, Target, Verdict};
use crate::model::{NodeId, Topology};

/// One cell.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MatrixCell {
    /// Source node.
    pub from: String,
    /// Destination node.
    pub to: String,
    /// Protocol and port.
    pub service: String,
    /// What the flow comes to.
    pub verdict: Verdict,
}

/// The whole matrix.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Matrix {
    /// Endpoint names, rows and columns.
    pub nodes: Vec<String>,
    /// Services, one table each.
    pub services: Vec<String>,
    /// Cells, by service, then source, then destination (no self pairs).
    pub cells: Vec<MatrixCell>,
}

/// Computes the matrix over `services` for every pair of endpoints. Work is
/// spread over the machine's cores; each cell is an independent walk.
pub fn matrix(t: &Topology, services: &[Service]) -> Matrix {
    let nodes: Vec<NodeId> = t.endpoints().collect();
    let jobs: Vec<(usize, NodeId)> = services
        .iter()
        .enumerate()
        .flat_map(|(s, _)| nodes.iter().map(move |&n| (s, n)))
        .collect();
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(jobs.len().max(1));
    let chunk = jobs.len().div_ceil(threads).max(1);
    let rows: Vec<Vec<Verdict>> = std::thread::scope(|scope| {
        let handles: Vec<_> = jobs
            .chunks(chunk)
            .map(|part| {
                let nodes = &nodes;
                scope.spawn(move || {
                    part.iter()
                        .map(|&(s, from)| {
                            nodes
                                .iter()
                                .filter(|&&to| to != from)
                                .map(|&to| verdict_only(t, from, Target::Node(to), services[s]))
                                .collect::<Vec<_>>()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let mut cells = Vec::with_capacity(jobs.len() * nodes.len());
    for (&(s, from), row) in jobs.iter().zip(rows) {
        let tos = nodes.iter().filter(|&&to| to != from);
        for (&to, verdict) in tos.zip(row) {
            cells.push(MatrixCell {
                from: t.nodes[from].name.clone(),
                to: t.nodes[to].name.clone(),
                service: services[s].to_string(),
                verdict,
            });
        }
    }
    Matrix {
        nodes: nodes.iter().map(|&n| t.nodes[n].name.clone()).collect(),
        services: services.iter().map(|s| s.to_string()).collect(),
        cells,
    }
}

impl Matrix {
    /// The verdict of one cell.
    pub fn get(&self, from: &str, to: &str, service: &str) -> Option<Verdict> {
        self.cells
            .iter()
            .find(|c| c.from == from && c.to == to && c.service == service)
            .map(|c| c.verdict)
    }

    /// Human tables, one per service: `✓` accepted, `✗` denied, `-` no
    /// route, `·` the node itself.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let w = self.nodes.iter().map(|n| n.len()).max().unwrap_or(4).max(4);
        for service in &self.services {
            let _ = writeln!(
                out,
                "{service}  (rows: from, columns: to; ✓ accepted, ✗ denied, - no route)"
            );
            // column headers, vertical
            let h = self
                .nodes
                .iter()
                .map(|n| n.chars().count())
                .max()
                .unwrap_or(0);
            for row in 0..h {
                let _ = write!(out, "{:w$} ", "");
                for n in &self.nodes {
                    let c = n.chars().nth(row).unwrap_or(' ');
                    let _ = write!(out, " {c}");
                }
                out.push('\n');
            }
            let mut it = self
                .cells
                .iter()
                .filter(|c| &c.service == service)
                .peekable();
            for from in &self.nodes {
                let _ = write!(out, "{from:>w$} ");
                for to in &self.nodes {
                    if from == to {
                        out.push_str(" ·");
                        continue;
                    }
                    let sym = match it.next() {
                        Some(c) => match c.verdict {
                            Verdict::Accepted => '✓',
                            Verdict::Denied => '✗',
                            Verdict::NoRoute => '-',
                        },
                        None => '?',
                    };
                    let _ = write!(out, " {sym}");
                }
                out.push('\n');
            }
            out.push('\n');
        }
        let count = |v| self.cells.iter().filter(|c| c.verdict == v).count();
        let _ = writeln!(
            out,
            "{} flows: {} accepted, {} denied, {} no route",
            self.cells.len(),
            count(Verdict::Accepted),
            count(Verdict::Denied),
            count(Verdict::NoRoute)
        );
        out
    }
}
