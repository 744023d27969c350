//! BGP between the office and AWS: what the sessions do with what the
//! file configures ([`report`]: each session's state, each speaker's table
//! and best paths), derived from the model, computed by
//! [`analyse`]: [`sessions`] (states and timers), [`decision`] (each
//! side's decision process), [`rib`] (each speaker's table), and
//! [`routes`] (the best paths put into the model's routes by
//! [`install`]). Its text form is [`BgpReport::render`].

pub mod decision;
mod render;
pub mod report;
pub mod rib;
pub mod routes;
pub mod sessions;
#[cfg(test)]
mod tests;

/// What the file configures (timers, BFD, communities, prepending, the
/// daemon), part of the model: the sessions and routes here are stated in
/// these terms.
pub use crate::model::bgp as config;
pub use crate::model::bgp::{AdvertisedPrefix, Bfd, BgpDaemon, BgpSettings, Community};
pub use report::{
    Advertisement, BgpReport, BgpRoute, BgpSession, BgpSpeaker, RouteSource, SessionKind,
    SessionState, Side,
};
pub use rib::{analyse, describe};
pub use routes::{install, vgw_path};

use std::net::Ipv4Addr;

use crate::model::{NodeId, Topology};

/// The BGP router ID of an office node: the address of its first
/// interface. The lab configures its daemons with it, and the analysis
/// breaks the last ties with it as BIRD does (lower router ID, then lower
/// neighbour address).
pub fn office_router_id(t: &Topology, node: NodeId) -> Ipv4Addr {
    t.nodes[node]
        .interfaces
        .first()
        .map(|i| i.ip)
        .unwrap_or(Ipv4Addr::UNSPECIFIED)
}

/// The BGP router ID of the VGW: one link-local address whatever VIFs
/// and VPN the topology has. A BGP daemon whose router ID changes
/// restarts every session, so an ID taken from a VIF (once the first
/// VIF's Amazon address) reset every other session when a VIF was added
/// before it. The same on every session: the office's choice between
/// them never comes down to it. The lab's VGW has this address on its
/// link to the VPC router.
pub const VGW_ROUTER_ID: Ipv4Addr = Ipv4Addr::new(169, 254, 255, 2);
