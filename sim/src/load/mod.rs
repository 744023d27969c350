//! `vifgate sim load`: an open-loop HTTP load generator aimed at a lab's
//! load balancer, from a node of the lab.
//!
//! Requests leave on schedule whatever the answers ([`schedule`], from a
//! constant rate or a [`profile`]); each one's latency is counted from
//! when it was due, so a stalled server shows in the latency of every
//! request due during the stall (no coordinated omission), into HDR
//! histograms ([`stats`]). Each client has its own connections and
//! [`cookies`], so the load balancer's stickiness is real. Each second
//! closes into a record (progress line, timeline) with the capacity read
//! from HAProxy ([`haproxy_stat`]); a run ends with a summary and a
//! [`plot`].
//!
//! The core ([`generator`]) is sans-IO and tested on a hand-driven
//! clock, as is the HTTP/1.1 it speaks ([`http1`]); [`client`] is the
//! thin shell around them: one thread, one epoll loop, as wrk's.

pub mod client;
pub mod cookies;
pub mod generator;
pub mod haproxy_stat;
pub mod http1;
pub mod interrupt;
pub mod plot;
pub mod profile;
pub mod schedule;
pub mod stats;

use std::io;

/// The response header naming the target that answered, added by the
/// lab's HAProxy: per-target counts and stickiness are read from it.
pub use crate::render::haproxy::TARGET_HEADER;

/// The timeline a run leaves in its lab's state directory, for `sim test
/// --report`.
pub const LAB_TIMELINE_FILE: &str = "load-timeline.jsonl";

/// The plot a run leaves in its lab's state directory, for `sim test
/// --report`.
pub const LAB_PLOT_FILE: &str = "load.svg";

/// Checks that `path` (`/`, `/shop?id=1`) can be a request's target,
/// before a run starts.
pub fn check_request_path(path: &str) -> Result<(), LoadError> {
    if http1::check_path(path) {
        Ok(())
    } else {
        Err(LoadError::Path(path.to_string()))
    }
}

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The sending node's namespace cannot be entered.
    #[error("cannot enter the sending node's namespace: {0}")]
    Namespace(#[source] io::Error),
    /// The runtime cannot start.
    #[error("cannot start the generator's runtime: {0}")]
    Runtime(#[source] io::Error),
    /// The request path is not one an HTTP request can carry.
    #[error("`{0}` is not a request path (e.g. `/`, `/shop?id=1`)")]
    Path(String),
}
