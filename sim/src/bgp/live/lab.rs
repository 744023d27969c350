//! Every BGP daemon of a running lab, read: the BIRD control sockets
//! (`bird-*.ctl`) and FRR run directories (`frr-*/`) in its state
//! directory (see [`crate::bgp::names`]), assembled against its topology.

use std::io;
use std::path::Path;

use topology::bgp::BgpReport;
use topology::model::Topology;

use super::{assemble, bird, frr, ReadError};
use crate::bgp::check::BgpCheck;
use crate::bgp::names::{is_bird_socket, is_frr_run_dir};
use crate::layout;

/// A lab's live BGP.
#[derive(Debug)]
pub struct LiveBgp {
    /// The report.
    pub report: BgpReport,
    /// How many daemons were read.
    pub daemons: usize,
    /// The daemons that could not be read (stopped, not answering).
    pub unreadable: Vec<ReadError>,
}

/// Reads the BGP daemons of lab `lab`, built from `t`.
pub fn read_lab(lab: &str, t: &Topology) -> io::Result<LiveBgp> {
    read_dir(&layout::state_dir(lab), t)
}

/// What `sim test` asks of a lab's BGP: where `predicted` (the analysis
/// of `t`) and the lab's daemons differ, one line each, with a line per
/// daemon that could not be read: one read, no settling (`sim test` itself
/// uses [`crate::bgp::check::check_lab`], which waits for the daemons to
/// settle).
pub fn compare_lab(lab: &str, t: &Topology, predicted: &BgpReport) -> io::Result<Vec<String>> {
    compare_dir(&layout::state_dir(lab), t, predicted)
}

/// [`compare_lab`] of the daemons in `dir`.
pub fn compare_dir(dir: &Path, t: &Topology, predicted: &BgpReport) -> io::Result<Vec<String>> {
    let live = read_dir(dir, t)?;
    Ok(BgpCheck::of(predicted, &live).differences)
}

/// Reads the BGP daemons whose sockets or run directories are in `dir`.
pub fn read_dir(dir: &Path, t: &Topology) -> io::Result<LiveBgp> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    let mut states = Vec::new();
    let mut unreadable = Vec::new();
    for path in entries {
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let read = if is_bird_socket(name) {
            bird::read(&path)
        } else if is_frr_run_dir(name) && path.is_dir() {
            frr::read(&path)
        } else {
            continue;
        };
        match read {
            Ok(s) => states.push(s),
            Err(e) => {
                tracing::warn!("{e}");
                unreadable.push(e);
            }
        }
    }
    Ok(LiveBgp {
        report: assemble::report(t, &states),
        daemons: states.len(),
        unreadable,
    })
}
