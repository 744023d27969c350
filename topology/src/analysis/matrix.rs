//! The host × host matrix: every endpoint to every other, per service.

use std::fmt::Write as _;

use super::reach::{verdict_only, Scratch};
use super::{Service, Target, Verdict};
use crate::model::{NodeId, Topology};

/// One cell, as listed and serialized.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MatrixCell<'a> {
    /// Source node.
    pub from: &'a str,
    /// Destination node.
    pub to: &'a str,
    /// Protocol and port.
    pub service: &'a str,
    /// What the flow comes to.
    pub verdict: Verdict,
}

/// The whole matrix: a verdict per (service, source, destination), kept as
/// one flat array (a million-cell matrix is a few megabytes, not a million
/// strings).
#[derive(Debug, Clone)]
pub struct Matrix {
    /// Endpoint names, rows and columns.
    pub nodes: Vec<String>,
    /// Services, one table each.
    pub services: Vec<String>,
    verdicts: Vec<Verdict>,
}

impl serde::Serialize for Matrix {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        struct Cells<'a>(&'a Matrix);
        impl serde::Serialize for Cells<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_seq(self.0.cells())
            }
        }
        let mut st = s.serialize_struct("Matrix", 3)?;
        st.serialize_field("nodes", &self.nodes)?;
        st.serialize_field("services", &self.services)?;
        st.serialize_field("cells", &Cells(self))?;
        st.end()
    }
}

/// Computes the matrix over `services` for every pair of endpoints. Work is
/// spread over the machine's cores; each cell is an independent walk.
pub fn matrix(t: &Topology, services: &[Service]) -> Matrix {
    let nodes: Vec<NodeId> = t.endpoints().collect();
    let n = nodes.len();
    let jobs: Vec<(usize, NodeId)> = services
        .iter()
        .enumerate()
        .flat_map(|(s, _)| nodes.iter().map(move |&n| (s, n)))
        .collect();
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(jobs.len().max(1));
    let mut verdicts = vec![Verdict::Accepted; jobs.len() * n];
    if n > 0 {
        let rows_per_thread = jobs.len().div_ceil(threads).max(1);
        std::thread::scope(|scope| {
            for (part, out) in jobs
                .chunks(rows_per_thread)
                .zip(verdicts.chunks_mut(rows_per_thread * n))
            {
                let nodes = &nodes;
                scope.spawn(move || {
                    let mut scratch = Scratch::default();
                    for (&(s, from), row) in part.iter().zip(out.chunks_mut(n)) {
                        for (&to, cell) in nodes.iter().zip(row.iter_mut()) {
                            if to != from {
                                *cell = verdict_only(
                                    t,
                                    from,
                                    Target::Node(to),
                                    services[s],
                                    &mut scratch,
                                );
                            }
                        }
                    }
                });
            }
        });
    }
    Matrix {
        nodes: nodes.iter().map(|&n| t.nodes[n].name.clone()).collect(),
        services: services.iter().map(|s| s.to_string()).collect(),
        verdicts,
    }
}

impl Matrix {
    /// The verdict of one cell, by names; `None` for unknown names or a
    /// node with itself.
    pub fn get(&self, from: &str, to: &str, service: &str) -> Option<Verdict> {
        let s = self.services.iter().position(|x| x == service)?;
        let i = self.nodes.iter().position(|x| x == from)?;
        let j = self.nodes.iter().position(|x| x == to)?;
        (i != j).then(|| self.at(s, i, j))
    }

    fn at(&self, s: usize, i: usize, j: usize) -> Verdict {
        let n = self.nodes.len();
        self.verdicts[(s * n + i) * n + j]
    }

    /// Number of cells (pairs of distinct nodes, per service).
    pub fn len(&self) -> usize {
        let n = self.nodes.len();
        self.services.len() * n * n.saturating_sub(1)
    }

    /// Whether there is no cell.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every cell: by service, then source, then destination; no node with
    /// itself.
    pub fn cells(&self) -> impl Iterator<Item = MatrixCell<'_>> + '_ {
        let n = self.nodes.len();
        (0..self.services.len()).flat_map(move |s| {
            (0..n).flat_map(move |i| {
                (0..n).filter(move |&j| j != i).map(move |j| MatrixCell {
                    from: &self.nodes[i],
                    to: &self.nodes[j],
                    service: &self.services[s],
                    verdict: self.at(s, i, j),
                })
            })
        })
    }

    /// Human tables, one per service: `✓` accepted, `✗` denied, `-` no
    /// route, `·` the node itself.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let w = self.nodes.iter().map(|n| n.len()).max().unwrap_or(4).max(4);
        for (si, service) in self.services.iter().enumerate() {
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
            for (i, from) in self.nodes.iter().enumerate() {
                let _ = write!(out, "{from:>w$} ");
                for j in 0..self.nodes.len() {
                    if i == j {
                        out.push_str(" ·");
                        continue;
                    }
                    let sym = match self.at(si, i, j) {
                        Verdict::Accepted => '✓',
                        Verdict::Denied => '✗',
                        Verdict::NoRoute => '-',
                    };
                    let _ = write!(out, " {sym}");
                }
                out.push('\n');
            }
            out.push('\n');
        }
        let count = |v| self.cells().filter(|c| c.verdict == v).count();
        let _ = writeln!(
            out,
            "{} flows: {} accepted, {} denied, {} no route",
            self.len(),
            count(Verdict::Accepted),
            count(Verdict::Denied),
            count(Verdict::NoRoute)
        );
        out
    }
}
