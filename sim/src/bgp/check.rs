//! `sim test`'s BGP half: the lab's daemons read back (see [`bgp_live`])
//! and compared with the static prediction ([`topology::bgp::analyse`] of
//! the topology):
//! every session's state and every route each speaker received (prefix,
//! session, best or not, AS path, local preference, communities).
//!
//! `sim up` returns once every session is Established and the routes are
//! learned, but a daemon may still be settling (a best path being
//! recomputed, a session put down by its prefix limit a moment after it
//! came up): while the live report differs, it is read again, every
//! [`RETRY_EVERY`], for at most the settle time given, before the
//! difference is reported.
//!
//! [`bgp_live`]: crate::bgp::live

use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;
use topology::bgp::BgpReport;
use topology::model::Topology;

use crate::bgp::live::lab::{read_dir, LiveBgp};
use crate::layout;

/// How long `sim test` lets a lab's BGP settle before a difference counts.
pub const SETTLE: Duration = Duration::from_secs(3);

/// How often the daemons are read again while they differ.
pub const RETRY_EVERY: Duration = Duration::from_millis(250);

/// The outcome of comparing a lab's BGP with the prediction.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct BgpCheck {
    /// Whether anything was compared (false: the topology runs no BGP).
    pub compared: bool,
    /// Sessions compared (the predicted ones).
    pub sessions: usize,
    /// Routes compared (every speaker's predicted received routes).
    pub routes: usize,
    /// Daemons read.
    pub daemons: usize,
    /// Where prediction and daemons differ, one line each; and a line per
    /// daemon that could not be read.
    pub differences: Vec<String>,
    /// Seconds spent reading (retries included).
    pub seconds: f64,
}

impl BgpCheck {
    /// Nothing to compare: the topology has no BGP session.
    pub fn none() -> Self {
        Self::default()
    }

    /// The comparison of one read of the daemons with the prediction.
    pub fn of(predicted: &BgpReport, live: &LiveBgp) -> Self {
        let mut differences: Vec<String> = live
            .unreadable
            .iter()
            .map(|e| format!("BGP daemon not read: {e}"))
            .collect();
        differences.extend(predicted.differences(&live.report));
        Self {
            compared: true,
            sessions: predicted.sessions.len(),
            routes: predicted.speakers.iter().map(|s| s.received.len()).sum(),
            daemons: live.daemons,
            differences,
            seconds: 0.0,
        }
    }

    /// Whether prediction and daemons agree (true when nothing was
    /// compared).
    pub fn passed(&self) -> bool {
        self.differences.is_empty()
    }

    /// The check for humans: one summary line, then each difference.
    pub fn render(&self) -> String {
        if !self.compared {
            return "bgp: the topology runs no BGP session, nothing compared\n".into();
        }
        let mut s = format!(
            "bgp: {} session(s) and {} route(s) compared with {} daemon(s) in {:.2} s: {} difference(s)\n",
            self.sessions,
            self.routes,
            self.daemons,
            self.seconds,
            self.differences.len()
        );
        for d in &self.differences {
            s.push_str("  DIFF ");
            s.push_str(d);
            s.push('\n');
        }
        s
    }
}

/// Compares lab `lab`'s daemons with the analysis of `t`, reading again
/// for up to `settle` while they differ.
pub fn check_lab(lab: &str, t: &Topology, settle: Duration) -> BgpCheck {
    check_dir(&layout::state_dir(lab), t, settle)
}

/// [`check_lab`] of the daemons in `dir`.
pub fn check_dir(dir: &Path, t: &Topology, settle: Duration) -> BgpCheck {
    check_with(&topology::bgp::analyse(t), settle, || read_dir(dir, t))
}

/// The settle loop over any reader of the live daemons: `read` is called
/// until its report agrees with `predicted` or `settle` has passed.
pub fn check_with(
    predicted: &BgpReport,
    settle: Duration,
    mut read: impl FnMut() -> io::Result<LiveBgp>,
) -> BgpCheck {
    if predicted.sessions.is_empty() {
        return BgpCheck::none();
    }
    let start = Instant::now();
    loop {
        let mut check = match read() {
            Ok(live) => BgpCheck::of(predicted, &live),
            Err(e) => BgpCheck {
                compared: true,
                sessions: predicted.sessions.len(),
                routes: predicted.speakers.iter().map(|s| s.received.len()).sum(),
                differences: vec![format!("the lab's BGP daemons cannot be read: {e}")],
                ..BgpCheck::default()
            },
        };
        check.seconds = start.elapsed().as_secs_f64();
        if check.passed() || start.elapsed() >= settle {
            if !check.passed() {
                tracing::warn!(
                    "BGP differs from the prediction after {:.2} s: {:?}",
                    check.seconds,
                    check.differences
                );
            }
            return check;
        }
        std::thread::sleep(RETRY_EVERY);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use topology::bgp::SessionState;

    fn live(report: BgpReport) -> LiveBgp {
        LiveBgp {
            report,
            daemons: 3,
            unreadable: Vec::new(),
        }
    }

    #[test]
    fn a_live_report_like_the_prediction_passes() {
        let predicted = topology::bgp::analyse(&crate::example());
        let check = check_with(&predicted, Duration::ZERO, || Ok(live(predicted.clone())));
        assert!(check.compared && check.passed(), "{check:?}");
        assert_eq!(check.sessions, 2);
        assert!(check.routes >= 6, "{check:?}");
        assert!(check.render().contains(": 0 difference(s)"));
    }

    #[test]
    fn a_live_report_differing_from_the_prediction_fails() {
        let predicted = topology::bgp::analyse(&crate::example());
        let mut down = predicted.clone();
        down.sessions[0].state = SessionState::Idle;
        down.sessions[0].reason = Some("Route limit exceeded".into());
        let check = check_with(&predicted, Duration::ZERO, || Ok(live(down.clone())));
        assert!(!check.passed());
        assert!(
            check.differences[0].contains("predicted Established, live Idle"),
            "{check:?}"
        );

        // a best path that moved is a difference too
        let mut moved = predicted.clone();
        let vgw = &mut moved.speakers[0];
        for r in &mut vgw.received {
            r.best = !r.best;
        }
        let check = check_with(&predicted, Duration::ZERO, || Ok(live(moved.clone())));
        assert!(!check.passed());
        assert!(
            check.render().contains("  DIFF vgw: predicted"),
            "{}",
            check.render()
        );

        // and a daemon that cannot be read
        let check = check_with(&predicted, Duration::ZERO, || {
            Err(io::Error::other("no state directory"))
        });
        assert!(!check.passed());
    }

    #[test]
    fn it_reads_again_until_the_daemons_settle() {
        let predicted = topology::bgp::analyse(&crate::example());
        let mut reads = 0;
        let check = check_with(&predicted, Duration::from_secs(10), || {
            reads += 1;
            let mut r = predicted.clone();
            if reads < 3 {
                r.speakers[1].received.clear();
            }
            Ok(live(r))
        });
        assert!(check.passed(), "{check:?}");
        assert_eq!(reads, 3);
    }

    #[test]
    fn a_topology_without_bgp_compares_nothing() {
        let predicted = BgpReport::default();
        let check = check_with(&predicted, Duration::ZERO, || {
            panic!("nothing to read without BGP")
        });
        assert!(!check.compared && check.passed());
        assert!(check.render().contains("no BGP session, nothing compared"));
    }
}
