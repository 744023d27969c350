//! What BGP does with a topology, in one shape for both sources: the
//! static prediction ([`crate::bgp::analyse`], `vifgate topology bgp`) and
//! the live daemons (`vifgate sim bgp`, read from `birdc`/`vtysh`). `sim
//! test` compares the two with [`BgpReport::differences`].

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use crate::model::bgp::Community;

/// Sessions and, per speaker, its table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BgpReport {
    /// Every BGP session (one per VIF, one per BGP VPN), in file order:
    /// VIFs, then the VPN.
    pub sessions: Vec<BgpSession>,
    /// Every speaker: the VGW (AWS's side) first, then each office node
    /// that ends a session, in file order.
    pub speakers: Vec<BgpSpeaker>,
}

/// What carries a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionKind {
    /// A Direct Connect private VIF.
    DirectConnect,
    /// A Site-to-Site VPN tunnel's inside addresses.
    Vpn,
}

/// The BGP finite-state machine's state, as far as it matters here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SessionState {
    /// Routes are exchanged.
    Established,
    /// No session (configured down, prefix limit exceeded, link down ...).
    Idle,
}

/// One BGP session between an office node and the VGW.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BgpSession {
    /// The VIF's or VPN's name.
    pub name: String,
    /// Direct Connect or VPN.
    pub kind: SessionKind,
    /// The office node that ends it.
    pub office_node: String,
    /// The office's ASN.
    pub office_asn: u32,
    /// The office's peer address.
    pub office_address: Ipv4Addr,
    /// Amazon's ASN.
    pub amazon_asn: u32,
    /// Amazon's peer address.
    pub amazon_address: Ipv4Addr,
    /// Established or Idle.
    pub state: SessionState,
    /// Why it is not Established (`None` when it is).
    pub reason: Option<String>,
    /// Negotiated hold time, seconds.
    pub hold_time: u16,
    /// Keepalive interval in use, seconds.
    pub keepalive: u16,
    /// BFD detection time (interval x multiplier) in milliseconds, when BFD
    /// runs on the session.
    pub bfd_detect_ms: Option<u32>,
}

/// Which side a speaker is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The virtual private gateway.
    Aws,
    /// An office router or gateway box.
    Office,
}

/// One speaker's view: what it received (with the best path marked) and
/// what it advertises.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BgpSpeaker {
    /// `vgw` (the VGW's name) or the office node's name.
    pub name: String,
    /// AWS or office.
    pub side: Side,
    /// Its ASN.
    pub asn: u32,
    /// Received routes (and, on the VGW, VPN static routes), sorted by
    /// prefix, then best first.
    pub received: Vec<BgpRoute>,
    /// What it advertises over each Established session.
    pub advertised: Vec<Advertisement>,
}

/// Where a route in a speaker's table came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteSource {
    /// Learned over a Direct Connect VIF's BGP session.
    DirectConnectBgp,
    /// A static route of a VPN with `routing = "static"` (VGW only).
    VpnStatic,
    /// Learned over a VPN's BGP session.
    VpnBgp,
}

/// One route in a speaker's table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BgpRoute {
    /// Destination.
    pub prefix: Ipv4Net,
    /// The session (VIF or VPN name) it came over.
    pub session: String,
    /// DX BGP, VPN static or VPN BGP.
    pub source: RouteSource,
    /// The neighbour's address (the BGP next hop).
    pub next_hop: Ipv4Addr,
    /// AS path as received, nearest AS first (empty for a VPN static route).
    pub as_path: Vec<u32>,
    /// Communities as received.
    pub communities: Vec<Community>,
    /// Local preference given on import.
    pub local_pref: u32,
    /// Multi-exit discriminator, when one was sent.
    pub med: Option<u32>,
    /// Whether this is the speaker's best path for the prefix.
    pub best: bool,
    /// For a route that is not best: the step of the decision process that
    /// ruled it out (`local preference 100 < 200`, ...).
    pub lost_on: Option<String>,
}

/// One prefix advertised over one session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Advertisement {
    /// The session.
    pub session: String,
    /// The prefix.
    pub prefix: Ipv4Net,
    /// The AS path as the neighbour receives it (own ASN included, with
    /// prepends).
    pub as_path: Vec<u32>,
    /// Communities attached.
    pub communities: Vec<Community>,
}

impl BgpReport {
    /// Where `self` (the prediction) and `live` differ: session states, and
    /// per speaker the received routes (prefix, session, best, AS path,
    /// local preference, communities). One line per difference, empty when
    /// they agree. Reasons, timers and `lost_on` are not compared (daemons
    /// word them their own way).
    pub fn differences(&self, live: &BgpReport) -> Vec<String> {
        let mut out = Vec::new();
        for s in &self.sessions {
            match live.session(&s.name) {
                None => out.push(format!("session {}: predicted, not running live", s.name)),
                Some(l) if l.state != s.state => out.push(format!(
                    "session {}: predicted {:?}, live {:?}{}",
                    s.name,
                    s.state,
                    l.state,
                    l.reason
                        .as_deref()
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default()
                )),
                Some(_) => {}
            }
        }
        for l in &live.sessions {
            if self.session(&l.name).is_none() {
                out.push(format!("session {}: live, not predicted", l.name));
            }
        }
        for sp in &self.speakers {
            let Some(lsp) = live.speaker(&sp.name) else {
                out.push(format!("speaker {}: predicted, not found live", sp.name));
                continue;
            };
            let key = |r: &BgpRoute| {
                (
                    r.prefix,
                    r.session.clone(),
                    r.best,
                    r.as_path.clone(),
                    r.local_pref,
                    r.communities.clone(),
                )
            };
            let mut want: Vec<_> = sp.received.iter().map(key).collect();
            let mut got: Vec<_> = lsp.received.iter().map(key).collect();
            want.sort();
            got.sort();
            // each route on one side only, worded the same from both
            let mut missing = |side: &str, k: &(_, String, bool, Vec<u32>, u32, _), what: &str| {
                out.push(format!(
                    "{}: {side} {} over {}{} (as path {:?}, local-pref {}), {what}",
                    sp.name,
                    k.0,
                    k.1,
                    if k.2 { " best" } else { "" },
                    k.3,
                    k.4
                ));
            };
            for w in want.iter().filter(|w| !got.contains(w)) {
                missing("predicted", w, "not so live");
            }
            for g in got.iter().filter(|g| !want.contains(g)) {
                missing("live", g, "not predicted");
            }
        }
        out
    }
}
