//! `[[expect]]` entries checked against the analysis.

use super::reach::reach;
use super::{Reach, Verdict};
use crate::model::Topology;

/// One expectation and what the analysis found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ExpectationResult {
    /// Line of the entry in the file.
    pub line: usize,
    /// What was expected.
    pub expected: Verdict,
    /// What the analysis says.
    pub actual: Verdict,
    /// Whether they agree.
    pub holds: bool,
    /// The analysis, with its trace.
    pub reach: Reach,
}

/// Checks every expectation of the topology.
pub fn check_expectations(t: &Topology) -> Vec<ExpectationResult> {
    t.expectations
        .iter()
        .map(|e| {
            let r = reach(t, e.from, e.to, e.service);
            ExpectationResult {
                line: e.line,
                expected: e.verdict,
                actual: r.verdict,
                holds: r.verdict == e.verdict,
                reach: r,
            }
        })
        .collect()
}
