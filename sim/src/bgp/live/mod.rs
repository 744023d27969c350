//! Live BGP state, read from the daemons a lab runs, in the shape the
//! static analysis predicts ([`topology::bgp::BgpReport`]), so that `vifgate
//! sim bgp` prints both alike and `sim test` compares them.
//!
//! Three layers, as elsewhere in the crate:
//!
//! - **Reading a daemon.** [`bird`] runs `birdc -s SOCKET show ...` and
//!   parses its text; [`frr`] runs `vtysh --vty_socket DIR -c '... json'`
//!   and reads the JSON. Both give a [`DaemonState`]: the daemon's router
//!   ID, its sessions ([`PeerState`], named by protocol or neighbour
//!   description, see [`crate::bgp::names`]) and its table ([`LiveRoute`]).
//! - **Assembling a report (pure).** [`assemble::report`] matches daemons
//!   to the topology's speakers by router ID, sessions to the file's VIFs
//!   and VPN by name (or peer address), and builds the [`BgpReport`](topology::bgp::BgpReport).
//! - **A lab.** [`lab::read_lab`] reads every daemon whose control socket
//!   or run directory is in a running lab's state directory.
//!
//! Where the prediction and the live daemons differ is
//! [`BgpReport::differences`](topology::bgp::BgpReport::differences) ([`compare_lab`]: of a running lab; `sim
//! test` itself lets the daemons settle, [`crate::bgp::check`]).

pub mod assemble;
pub mod bird;
pub mod frr;
pub mod lab;

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use topology::bgp::Community;

pub use lab::{compare_lab, read_lab};

/// A daemon could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {why}")]
pub struct ReadError {
    /// The daemon (control socket or run directory).
    pub what: String,
    /// What went wrong.
    pub why: String,
}

/// What one daemon says, whichever daemon it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DaemonState {
    /// Its BGP router ID (how [`assemble::report`] tells who it plays).
    pub router_id: Option<Ipv4Addr>,
    /// Its sessions, and (BIRD) its static protocols.
    pub peers: Vec<PeerState>,
    /// Its table: every route of its BGP sessions and static protocols.
    pub routes: Vec<LiveRoute>,
}

/// One session (or static protocol) of a daemon.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerState {
    /// BIRD's protocol name, FRR's neighbour description (the VIF's or
    /// VPN's name, `dx-vif`), or the neighbour address when FRR has none.
    pub name: String,
    /// The neighbour's address.
    pub neighbor: Option<Ipv4Addr>,
    /// Whether BGP routes are exchanged.
    pub established: bool,
    /// Why not, in the daemon's words (last error, or the FSM state).
    pub reason: Option<String>,
    /// Hold time in use, seconds.
    pub hold_time: Option<u16>,
    /// Keepalive in use, seconds.
    pub keepalive: Option<u16>,
    /// BFD detection time on the session, milliseconds.
    pub bfd_detect_ms: Option<u32>,
}

/// One route of a daemon's table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveRoute {
    /// Destination.
    pub prefix: Ipv4Net,
    /// The session or static protocol it came from (a [`PeerState::name`]).
    pub from: String,
    /// BGP next hop, or the static route's gateway.
    pub next_hop: Ipv4Addr,
    /// AS path, nearest first (empty for a static route).
    pub as_path: Vec<u32>,
    /// Standard communities.
    pub communities: Vec<Community>,
    /// Local preference (`None` on a static route).
    pub local_pref: Option<u32>,
    /// Multi-exit discriminator.
    pub med: Option<u32>,
    /// The daemon's best route for the prefix.
    pub best: bool,
}
