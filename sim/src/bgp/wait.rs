//! The lab's BGP daemons awaited by `sim up`: every session the analysis
//! expects Established, BFD up on the sessions that run it, then every
//! route it expects learned, each daemon
//! read by the live readers of [`crate::bgp::live`] (BIRD through `birdc`,
//! FRR through `vtysh`): one client and one parser per daemon. Each poll
//! reads only what it waits for (the sessions, or the table), not the
//! whole daemon.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use ipnet::Ipv4Net;

use crate::bgp::live::{bird, frr, LiveRoute, PeerState, ReadError};

/// How long `sim up` waits for the sessions.
pub const ESTABLISHED_WITHIN: Duration = Duration::from_secs(10);

/// How one daemon is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    /// A BIRD's control socket.
    Bird(PathBuf),
    /// An FRR node's run directory (bgpd's vty socket).
    Frr(PathBuf),
}

/// One daemon and what `sim up` waits for of it.
#[derive(Debug, Clone)]
pub struct Awaited {
    /// Its name in messages (`vgw`, an office node's).
    pub name: String,
    /// How to read it.
    pub control: Control,
    /// The sessions (protocol names) expected Established.
    pub established: Vec<String>,
    /// The sessions whose BFD session must be up (a cut is then seen in
    /// BFD's detection time, not the hold time).
    pub bfd: Vec<String>,
    /// The prefixes expected in its table.
    pub routes: Vec<Ipv4Net>,
}

impl Awaited {
    /// Its sessions now, read alone (one client run per poll, not the
    /// whole daemon's): with BIRD's BFD detection times only when `bfd`
    /// names a session (FRR gives them with the sessions).
    fn peers(&self) -> Result<Vec<PeerState>, ReadError> {
        match &self.control {
            Control::Bird(socket) if self.bfd.is_empty() => bird::read_peers(socket),
            Control::Bird(socket) => bird::read(socket).map(|s| s.peers),
            Control::Frr(run_dir) => frr::read_peers(run_dir),
        }
    }

    /// Its table now, read alone (the routes' sessions unnamed: only the
    /// prefixes are awaited).
    fn routes(&self) -> Result<Vec<LiveRoute>, ReadError> {
        match &self.control {
            Control::Bird(socket) => bird::read_routes(socket),
            Control::Frr(run_dir) => frr::read_routes(run_dir, &[]),
        }
    }
}

/// Waits until, of every daemon, each session `wanted` names passes
/// `up`, at most `timeout`; how long it took, or which did not (with the
/// daemon's reason).
fn wait_sessions(
    daemons: &[Awaited],
    timeout: Duration,
    wanted: impl Fn(&Awaited) -> &[String],
    up: impl Fn(&PeerState) -> bool,
) -> Result<Duration, String> {
    poll(timeout, || {
        let mut missing = Vec::new();
        for d in daemons.iter().filter(|d| !wanted(d).is_empty()) {
            let read = d.peers();
            for p in wanted(d) {
                let why = match &read {
                    Err(e) => e.to_string(),
                    Ok(peers) => match peers.iter().find(|x| &x.name == p) {
                        Some(x) if up(x) => continue,
                        Some(x) => x.reason.clone().unwrap_or_else(|| "not up".into()),
                        None => "not listed".into(),
                    },
                };
                missing.push(format!("{} {p}: {why}", d.name));
            }
        }
        missing
    })
    .map_err(|missing| missing.join("; "))
}

/// Waits until every daemon's `established` sessions are, at most
/// `timeout`; how long it took, or which were not (with the daemon's
/// reason).
pub fn wait_established(daemons: &[Awaited], timeout: Duration) -> Result<Duration, String> {
    wait_sessions(daemons, timeout, |d| &d.established, |p| p.established)
}

/// Waits until every daemon's `bfd` sessions have BFD up, at most
/// `timeout`; how long it took, or which had not.
pub fn wait_bfd(daemons: &[Awaited], timeout: Duration) -> Result<Duration, String> {
    wait_sessions(daemons, timeout, |d| &d.bfd, |p| p.bfd_detect_ms.is_some())
}

/// Waits until every daemon's table holds its expected `routes`, at most
/// `timeout`; how long it took, or which were missing.
pub fn wait_routes(daemons: &[Awaited], timeout: Duration) -> Result<Duration, String> {
    poll(timeout, || {
        let mut missing = Vec::new();
        for d in daemons.iter().filter(|d| !d.routes.is_empty()) {
            let shown: Vec<Ipv4Net> = d
                .routes()
                .map(|routes| routes.iter().map(|r| r.prefix).collect())
                .unwrap_or_default();
            for p in d.routes.iter().filter(|p| !shown.contains(p)) {
                missing.push(format!("{} {p}", d.name));
            }
        }
        missing
    })
    .map_err(|missing| format!("routes not learned: {}", missing.join(", ")))
}

/// Calls `check` every 50 ms until it finds nothing missing (how long
/// that took), or `timeout` passes (what was still missing).
fn poll(
    timeout: Duration,
    mut check: impl FnMut() -> Vec<String>,
) -> Result<Duration, Vec<String>> {
    let start = Instant::now();
    loop {
        let missing = check();
        if missing.is_empty() {
            return Ok(start.elapsed());
        }
        if start.elapsed() >= timeout {
            return Err(missing);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_daemon_that_cannot_be_read_is_named_with_its_sessions() {
        let d = Awaited {
            name: "vgw".into(),
            control: Control::Bird("/nonexistent/bird-vgw.ctl".into()),
            established: vec!["dx-vif".into()],
            bfd: vec!["dx-vif".into()],
            routes: vec!["10.0.0.0/16".parse().expect("net")],
        };
        let e = wait_established(std::slice::from_ref(&d), Duration::ZERO).expect_err("down");
        assert!(e.starts_with("vgw dx-vif: "), "{e}");
        let e = wait_bfd(std::slice::from_ref(&d), Duration::ZERO).expect_err("down");
        assert!(e.starts_with("vgw dx-vif: "), "{e}");
        let e = wait_routes(&[d], Duration::ZERO).expect_err("no routes");
        assert_eq!(e, "routes not learned: vgw 10.0.0.0/16");
    }

    #[test]
    fn nothing_to_wait_for_is_at_once() {
        assert!(wait_established(&[], Duration::ZERO).is_ok());
        assert!(wait_bfd(&[], Duration::ZERO).is_ok());
        assert!(wait_routes(&[], Duration::ZERO).is_ok());
    }
}
