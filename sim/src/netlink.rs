//! Links, addresses, routes, policy rules and qdiscs inside lab
//! namespaces, through rtnetlink (no process per operation).
//!
//! A [`Netlink`] is a route-netlink socket that was opened by a thread
//! living in one namespace ([`Netns::run`]): a netlink socket acts in the
//! namespace it was created in for its whole life, so every request made
//! through it touches that namespace only, whichever thread awaits it. The
//! connection driver is spawned on the caller's tokio runtime (a
//! current-thread runtime is enough; it needs its I/O driver enabled).
//!
//! Veth pairs are made with the peer created directly in its own namespace
//! (`IFLA_NET_NS_FD` in the peer's info), so nothing ever appears, even
//! briefly, in the caller's namespace or the root one.
//!
//! # Qdiscs
//!
//! netlink-packet-route has no typed options for `tbf`, `netem` or `htb`,
//! so their `TCA_OPTIONS` are encoded here by hand, byte for byte as
//! iproute2's `tc` encodes them (checked against captures of `tc` in the
//! unit tests) and sent through the same netlink socket: no `tc` process is
//! spawned. [`Netlink::shape`] uses:
//!
//! * rate alone: a root `tbf` (burst: 4 ms worth of the rate, at least two
//!   frames of the link's MTU; queue limit: burst plus 50 ms worth of the
//!   rate, like `tc … tbf latency 50ms`);
//! * any of delay, jitter or loss, when the kernel has `sch_netem`: a root
//!   `netem` with the rate, if any, folded into netem's own rate option
//!   (one qdisc, so it is replaced atomically; netem paces strictly, with no
//!   burst allowance);
//! * delay, jitter or loss on a kernel without `sch_netem`: those are
//!   reported [`Mechanism::Unsupported`] and the rate, if any, still goes
//!   through `tbf`.
//!
//! The qdisc it installs carries the handle [`SHAPING_HANDLE`]`:`; a later
//! call removes that qdisc first, so calling it again changes the values
//! and calling it with nothing requested clears the shaping.

use std::fmt;
use std::fs::File;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd};
use std::path::PathBuf;
use std::time::Duration;

use futures_util::stream::{StreamExt, TryStreamExt};
use ipnet::Ipv4Net;
use rtnetlink::packet_core::{
    DefaultNla, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_REPLACE,
    NLM_F_REQUEST,
};
use rtnetlink::packet_route::link::{InfoData, InfoVeth, LinkAttribute, LinkMessage};
use rtnetlink::packet_route::route::{RouteProtocol, RouteScope, RouteType};
use rtnetlink::packet_route::rule::RuleAction;
use rtnetlink::packet_route::tc::{TcAttribute, TcHandle, TcMessage};
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::sys::{protocols::NETLINK_ROUTE, Socket, TokioSocket};
use rtnetlink::{
    LinkBridge, LinkDummy, LinkUnspec, LinkVeth, LinkVlan, LinkVxlan, LinkWireguard,
    RouteMessageBuilder,
};

use crate::netns::{self, Netns};

/// What went wrong, with what was being done and in which namespace.
#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    /// The kernel refused the request with an errno.
    #[error("{what} in ns {ns}: {}", errno_text(*errno))]
    Kernel {
        /// What was being done, e.g. "add address 10.0.0.1/24 to s3".
        what: String,
        /// The namespace the request was made in.
        ns: String,
        /// The (positive) errno the kernel answered.
        errno: i32,
    },
    /// The kernel lacks what the request needs (its module is neither built
    /// in nor loadable).
    #[error("{what} in ns {ns}: this kernel has no {feature} support ({})", errno_text(*errno))]
    Unsupported {
        /// What was being done.
        what: String,
        /// The namespace the request was made in.
        ns: String,
        /// The missing kernel feature, e.g. "802.1Q VLAN (8021q)".
        feature: &'static str,
        /// The errno the kernel answered.
        errno: i32,
    },
    /// The request failed without an errno: the netlink connection is gone
    /// or a reply could not be decoded.
    #[error("{what} in ns {ns}: {source}")]
    Protocol {
        /// What was being done.
        what: String,
        /// The namespace the request was made in.
        ns: String,
        /// What rtnetlink said.
        #[source]
        source: rtnetlink::Error,
    },
    /// The request was refused before anything was sent.
    #[error("{what} in ns {ns}: {reason}")]
    Invalid {
        /// What was being done.
        what: String,
        /// The namespace the request was meant for.
        ns: String,
        /// Why it was refused.
        reason: String,
    },
}

impl NetlinkError {
    /// The errno the kernel answered, if it was the kernel that refused.
    pub fn errno(&self) -> Option<i32> {
        match self {
            NetlinkError::Kernel { errno, .. } | NetlinkError::Unsupported { errno, .. } => {
                Some(*errno)
            }
            _ => None,
        }
    }
}

impl From<NetlinkError> for io::Error {
    fn from(e: NetlinkError) -> io::Error {
        let kind = match (&e, e.errno()) {
            (NetlinkError::Invalid { .. }, _) => io::ErrorKind::InvalidInput,
            (_, Some(errno)) => io::Error::from_raw_os_error(errno).kind(),
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, e)
    }
}

/// Results of this module.
pub type Result<T> = std::result::Result<T, NetlinkError>;

/// An errno as text without std's " (os error N)" suffix.
fn errno_text(errno: i32) -> String {
    let text = io::Error::from_raw_os_error(errno).to_string();
    match text.find(" (os error ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// The errno in a netlink error reply, positive.
fn errno_of(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => m.code.map(|c| c.get().saturating_abs()),
        _ => None,
    }
}

/// A route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Destination prefix.
    pub dst: Ipv4Net,
    /// Gateway, for a unicast route through a router.
    pub via: Option<Ipv4Addr>,
    /// Output link, for a unicast route.
    pub dev: Option<String>,
    /// Routing table: 254 is `main`, 255 `local`.
    pub table: u32,
    /// Metric (`RTA_PRIORITY`); 0 is the kernel's default.
    pub metric: u32,
    /// What the route does with matching packets.
    pub kind: RouteKind,
}

/// What a route does with the packets it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RouteKind {
    /// Forwarded (needs `via` or `dev`).
    Unicast,
    /// Silently dropped.
    Blackhole,
    /// Dropped with an ICMP host unreachable.
    Unreachable,
}

/// The `main` routing table.
pub const MAIN_TABLE: u32 = 254;

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            RouteKind::Unicast => {}
            RouteKind::Blackhole => write!(f, "blackhole ")?,
            RouteKind::Unreachable => write!(f, "unreachable ")?,
        }
        write!(f, "{}", self.dst)?;
        if let Some(via) = self.via {
            write!(f, " via {via}")?;
        }
        if let Some(dev) = &self.dev {
            write!(f, " dev {dev}")?;
        }
        write!(f, " table {}", self.table)?;
        if self.metric != 0 {
            write!(f, " metric {}", self.metric)?;
        }
        Ok(())
    }
}

/// A policy routing rule: packets (optionally only those coming in on
/// `iif`) are looked up in `table`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Input link the rule is limited to.
    pub iif: Option<String>,
    /// Table to look up.
    pub table: u32,
    /// Rule priority (lower first).
    pub priority: u32,
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "priority {}", self.priority)?;
        if let Some(iif) = &self.iif {
            write!(f, " iif {iif}")?;
        }
        write!(f, " table {}", self.table)
    }
}

/// Link impairments to apply to a link's egress (see [`Netlink::shape`]).
/// `None`, zero durations and a zero loss mean "not requested".
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Shaping {
    /// Rate limit, in bits per second (at least 8).
    pub rate_bps: Option<u64>,
    /// Added one-way delay.
    pub delay: Option<Duration>,
    /// Random variation of the delay (uniform, ±jitter).
    pub jitter: Option<Duration>,
    /// Random loss, in percent (0 to 100).
    pub loss_percent: Option<f64>,
}

impl Shaping {
    fn delay_ns(&self) -> Option<u64> {
        nonzero_ns(self.delay)
    }

    fn jitter_ns(&self) -> Option<u64> {
        nonzero_ns(self.jitter)
    }

    fn loss(&self) -> Option<f64> {
        self.loss_percent.filter(|l| *l != 0.0)
    }
}

fn nonzero_ns(d: Option<Duration>) -> Option<u64> {
    d.map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .filter(|ns| *ns != 0)
}

impl fmt::Display for Shaping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(r) = self.rate_bps {
            parts.push(format!("rate {}", topology::units::fmt_rate(r)));
        }
        if let Some(d) = self.delay {
            parts.push(format!("delay {d:?}"));
        }
        if let Some(j) = self.jitter {
            parts.push(format!("jitter {j:?}"));
        }
        if let Some(l) = self.loss_percent {
            parts.push(format!("loss {l}%"));
        }
        if parts.is_empty() {
            write!(f, "none")
        } else {
            write!(f, "{}", parts.join(" "))
        }
    }
}

/// How one shaping attribute was carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    /// The attribute was not asked for.
    NotRequested,
    /// Through a `tbf` qdisc.
    Tbf,
    /// Through a `netem` qdisc.
    Netem,
    /// Asked for, but the kernel has no qdisc that does it: not applied.
    Unsupported,
}

/// What [`Netlink::shape`] did for each attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShapingReport {
    /// For [`Shaping::rate_bps`].
    pub rate: Mechanism,
    /// For [`Shaping::delay`].
    pub delay: Mechanism,
    /// For [`Shaping::jitter`].
    pub jitter: Mechanism,
    /// For [`Shaping::loss_percent`].
    pub loss: Mechanism,
}

impl ShapingReport {
    /// Whether every requested attribute was applied.
    pub fn complete(&self) -> bool {
        [self.rate, self.delay, self.jitter, self.loss]
            .iter()
            .all(|m| *m != Mechanism::Unsupported)
    }
}

/// Which optional kernel features are there (see [`detect_features`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KernelFeatures {
    /// The `netem` qdisc (delay, jitter, loss).
    pub netem: bool,
    /// The `tbf` qdisc (rate limits).
    pub tbf: bool,
    /// The `htb` qdisc.
    pub htb: bool,
    /// 802.1Q VLAN links (`8021q`).
    pub vlan: bool,
    /// `dummy` links.
    pub dummy: bool,
    /// `wireguard` links (the kernel module, not a user-space one).
    pub wireguard: bool,
    /// `vxlan` links.
    pub vxlan: bool,
}

/// The handle major of the qdisc [`Netlink::shape`] installs (`5ade:`), by
/// which a later call recognises it.
pub const SHAPING_HANDLE: u16 = 0x5ade;

/// A route-netlink connection acting inside one namespace.
#[derive(Debug, Clone)]
pub struct Netlink {
    handle: rtnetlink::Handle,
    ns: String,
}

impl Netlink {
    /// Opens a netlink connection inside `ns`: the socket is created on a
    /// thread that entered the namespace, so every request acts there. The
    /// connection driver is spawned on the current tokio runtime; it ends
    /// when the last clone of this value is dropped. Without a current
    /// runtime this is an error; a runtime built without its I/O driver
    /// (`enable_io`) makes tokio panic, as for any tokio socket.
    pub fn open(ns: &Netns) -> io::Result<Netlink> {
        let name = ns.name().to_string();
        let ctx =
            |e: io::Error| io::Error::new(e.kind(), format!("open netlink in ns {name}: {e}"));
        let rt = tokio::runtime::Handle::try_current()
            .map_err(|e| ctx(io::Error::other(e.to_string())))?;
        let socket = ns
            .run(|| -> io::Result<Socket> {
                let s = Socket::new(NETLINK_ROUTE)?;
                s.set_non_blocking(true)?;
                Ok(s)
            })
            .and_then(|r| r)
            .map_err(ctx)?;
        let (conn, handle) = {
            let _guard = rt.enter();
            // SAFETY: the fd is an open netlink socket that we own and give
            // away here. (Registering it with the reactor panics, as for any
            // tokio socket, when the runtime was built without I/O.)
            let socket = unsafe { TokioSocket::from_raw_fd(socket.into_raw_fd()) };
            let (conn, handle, _unsolicited) = rtnetlink::from_socket(socket);
            (conn, handle)
        };
        rt.spawn(conn);
        Ok(Netlink { handle, ns: name })
    }

    /// The name of the namespace this connection acts in.
    pub fn ns_name(&self) -> &str {
        &self.ns
    }

    /// The underlying rtnetlink handle, for requests this module lacks.
    pub fn handle(&self) -> &rtnetlink::Handle {
        &self.handle
    }

    fn fail(&self, what: &str, e: rtnetlink::Error) -> NetlinkError {
        match errno_of(&e) {
            Some(errno) => NetlinkError::Kernel {
                what: what.to_string(),
                ns: self.ns.clone(),
                errno,
            },
            None => NetlinkError::Protocol {
                what: what.to_string(),
                ns: self.ns.clone(),
                source: e,
            },
        }
    }

    fn invalid(&self, what: &str, reason: impl Into<String>) -> NetlinkError {
        NetlinkError::Invalid {
            what: what.to_string(),
            ns: self.ns.clone(),
            reason: reason.into(),
        }
    }

    /// The link called `name`; ENODEV when there is none.
    async fn link(&self, what: &str, name: &str) -> Result<LinkMessage> {
        if name.is_empty() || name.len() > 15 || name.contains(['/', ' ']) {
            return Err(self.invalid(what, format!("bad link name `{name}`")));
        }
        let mut links = self
            .handle
            .link()
            .get()
            .match_name(name.to_string())
            .execute();
        match links.try_next().await {
            Ok(Some(link)) => Ok(link),
            Ok(None) => Err(NetlinkError::Kernel {
                what: what.to_string(),
                ns: self.ns.clone(),
                errno: libc::ENODEV,
            }),
            Err(e) => Err(self.fail(what, e)),
        }
    }

    async fn index(&self, what: &str, name: &str) -> Result<u32> {
        Ok(self.link(what, name).await?.header.index)
    }

    /// Sends one request and waits for its acknowledgement.
    async fn request_ack(&self, what: &str, msg: RouteNetlinkMessage, flags: u16) -> Result<()> {
        let mut req = NetlinkMessage::from(msg);
        req.header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
        let mut handle = self.handle.clone();
        let mut replies = handle.request(req).map_err(|e| self.fail(what, e))?;
        while let Some(reply) = replies.next().await {
            if let NetlinkPayload::Error(err) = reply.payload {
                if err.code.is_some() {
                    return Err(self.fail(what, rtnetlink::Error::NetlinkError(err)));
                }
            }
        }
        Ok(())
    }

    /// Creates a veth pair: `name` in this namespace and `peer` directly in
    /// `peer_ns` (which may be this namespace too).
    pub async fn veth(&self, name: &str, peer: &str, peer_ns: &Netns) -> Result<()> {
        let what = format!("create veth {name} (peer {peer} in ns {})", peer_ns.name());
        for n in [name, peer] {
            if n.is_empty() || n.len() > 15 || n.contains(['/', ' ']) {
                return Err(self.invalid(&what, format!("bad link name `{n}`")));
            }
        }
        // the fd must stay open until the kernel has answered
        let peer_fd = File::open(netns::path(peer_ns.name())).map_err(|e| {
            self.invalid(
                &what,
                format!("cannot open namespace {}: {e}", peer_ns.name()),
            )
        })?;
        let peer_msg = LinkUnspec::new_with_name(peer)
            .setns_by_fd(peer_fd.as_raw_fd())
            .build();
        let msg = LinkVeth::new(name, peer)
            .set_info_data(InfoData::Veth(InfoVeth::Peer(peer_msg)))
            .build();
        let r = self.handle.link().add(msg).execute().await;
        drop(peer_fd);
        r.map_err(|e| self.fail(&what, e))
    }

    /// Creates a bridge.
    pub async fn bridge(&self, name: &str) -> Result<()> {
        let what = format!("create bridge {name}");
        self.handle
            .link()
            .add(LinkBridge::new(name).build())
            .execute()
            .await
            .map_err(|e| self.fail(&what, e))
    }

    /// Enslaves `link` to the bridge `bridge`.
    pub async fn set_master(&self, link: &str, bridge: &str) -> Result<()> {
        let what = format!("enslave {link} to {bridge}");
        let index = self.index(&what, link).await?;
        let master = self.index(&what, bridge).await?;
        self.handle
            .link()
            .set(LinkUnspec::new_with_index(index).controller(master).build())
            .execute()
            .await
            .map_err(|e| self.fail(&what, e))
    }

    /// Sets a link up (also used for `lo`).
    pub async fn set_up(&self, link: &str) -> Result<()> {
        let what = format!("set {link} up");
        let index = self.index(&what, link).await?;
        self.handle
            .link()
            .set(LinkUnspec::new_with_index(index).up().build())
            .execute()
            .await
            .map_err(|e| self.fail(&what, e))
    }

    /// Sets a link down.
    pub async fn set_down(&self, link: &str) -> Result<()> {
        let what = format!("set {link} down");
        let index = self.index(&what, link).await?;
        self.handle
            .link()
            .set(LinkUnspec::new_with_index(index).down().build())
            .execute()
            .await
            .map_err(|e| self.fail(&what, e))
    }

    /// Sets a link's MTU.
    pub async fn set_mtu(&self, link: &str, mtu: u32) -> Result<()> {
        let what = format!("set mtu {mtu} on {link}");
        let index = self.index(&what, link).await?;
        self.handle
            .link()
            .set(LinkUnspec::new_with_index(index).mtu(mtu).build())
            .execute()
            .await
            .map_err(|e| self.fail(&what, e))
    }

    /// Deletes a link (a veth takes its peer with it).
    pub async fn del_link(&self, link: &str) -> Result<()> {
        let what = format!("delete link {link}");
        let index = self.index(&what, link).await?;
        self.handle
            .link()
            .del(index)
            .execute()
            .await
            .map_err(|e| self.fail(&what, e))
    }

    /// Adds an IPv4 address (with its prefix length) to a link. An address
    /// that is already there is an error (EEXIST).
    pub async fn add_address(&self, link: &str, addr: Ipv4Net) -> Result<()> {
        let what = format!("add address {addr} to {link}");
        let index = self.index(&what, link).await?;
        self.handle
            .address()
            .add(index, IpAddr::V4(addr.addr()), addr.prefix_len())
            .execute()
            .await
            .map_err(|e| self.fail(&what, e))
    }

    async fn route_message(
        &self,
        what: &str,
        r: &Route,
        delete: bool,
    ) -> Result<rtnetlink::packet_route::route::RouteMessage> {
        let mut b = RouteMessageBuilder::<Ipv4Addr>::new()
            .destination_prefix(r.dst.network(), r.dst.prefix_len())
            .table_id(r.table);
        if r.metric != 0 {
            b = b.priority(r.metric);
        }
        match r.kind {
            RouteKind::Unicast => {
                if r.via.is_none() && r.dev.is_none() {
                    return Err(self.invalid(what, "a unicast route needs a gateway or a link"));
                }
                if let Some(via) = r.via {
                    b = b.gateway(via);
                }
                if let Some(dev) = &r.dev {
                    b = b.output_interface(self.index(what, dev).await?);
                }
                if r.via.is_none() {
                    b = b.scope(RouteScope::Link);
                }
            }
            RouteKind::Blackhole | RouteKind::Unreachable => {
                if r.via.is_some() || r.dev.is_some() {
                    return Err(self.invalid(what, "this route kind takes no gateway or link"));
                }
                b = b.kind(match r.kind {
                    RouteKind::Blackhole => RouteType::BlackHole,
                    _ => RouteType::Unreachable,
                });
            }
        }
        if delete {
            // match whatever scope and protocol the route was added with
            b = b.scope(RouteScope::NoWhere).protocol(RouteProtocol::Unspec);
        }
        let mut msg = b.build();
        // a gateway named with its link is taken as on that link, like
        // `ip route add ... via G dev D onlink`: the lab's point-to-point
        // links have no connected route to the far end
        if r.via.is_some() && r.dev.is_some() && !delete {
            msg.header.flags |= rtnetlink::packet_route::route::RouteFlags::Onlink;
        }
        Ok(msg)
    }

    /// Adds a route. A route that is already there is an error (EEXIST).
    pub async fn add_route(&self, r: &Route) -> Result<()> {
        let what = format!("add route {r}");
        let msg = self.route_message(&what, r, false).await?;
        self.handle
            .route()
            .add(msg)
            .execute()
            .await
            .map_err(|e| self.fail(&what, e))
    }

    /// Deletes a route (ESRCH when there is no such route).
    pub async fn del_route(&self, r: &Route) -> Result<()> {
        let what = format!("delete route {r}");
        let msg = self.route_message(&what, r, true).await?;
        self.handle
            .route()
            .del(msg)
            .execute()
            .await
            .map_err(|e| self.fail(&what, e))
    }

    /// Adds an IPv4 policy rule: lookup `table` (for packets coming in on
    /// `iif`, if given) at `priority`.
    pub async fn add_rule(&self, r: &Rule) -> Result<()> {
        let what = format!("add rule {r}");
        let mut req = self
            .handle
            .rule()
            .add()
            .v4()
            .table_id(r.table)
            .priority(r.priority)
            .action(RuleAction::ToTable);
        if let Some(iif) = &r.iif {
            req = req.input_interface(iif.clone());
        }
        req.execute().await.map_err(|e| self.fail(&what, e))
    }

    /// Names of the links in this namespace, in index order.
    pub async fn link_names(&self) -> Result<Vec<String>> {
        let what = "list links";
        let links: Vec<LinkMessage> = self
            .handle
            .link()
            .get()
            .execute()
            .try_collect()
            .await
            .map_err(|e| self.fail(what, e))?;
        let mut named: Vec<(u32, String)> = links
            .into_iter()
            .filter_map(|l| {
                let index = l.header.index;
                l.attributes.into_iter().find_map(|a| match a {
                    LinkAttribute::IfName(n) => Some((index, n)),
                    _ => None,
                })
            })
            .collect();
        named.sort();
        Ok(named.into_iter().map(|(_, n)| n).collect())
    }

    /// Creates an 802.1Q sub-interface `name` of `parent` with VLAN `id`.
    /// On a kernel without `8021q` this fails with
    /// [`NetlinkError::Unsupported`].
    pub async fn vlan(&self, name: &str, parent: &str, id: u16) -> Result<()> {
        let what = format!("create vlan {name} on {parent} id {id}");
        if id == 0 || id > 4094 {
            return Err(self.invalid(&what, "a VLAN id is 1 to 4094"));
        }
        let parent_index = self.index(&what, parent).await?;
        match self
            .handle
            .link()
            .add(LinkVlan::new(name, parent_index, id).build())
            .execute()
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if errno_of(&e) == Some(libc::EOPNOTSUPP) => Err(NetlinkError::Unsupported {
                what,
                ns: self.ns.clone(),
                feature: "802.1Q VLAN (8021q)",
                errno: libc::EOPNOTSUPP,
            }),
            Err(e) => Err(self.fail(&what, e)),
        }
    }

    /// Applies `s` to the egress of `link`, replacing what an earlier call
    /// set (see the module doc for which qdisc does what). With nothing
    /// requested it only removes that earlier qdisc. Attributes the kernel
    /// cannot do (per `features`) are not applied and are reported as
    /// [`Mechanism::Unsupported`]; that is not an error.
    pub async fn shape(
        &self,
        link: &str,
        s: &Shaping,
        features: &KernelFeatures,
    ) -> Result<ShapingReport> {
        let what = format!("shape {link} ({s})");
        let plan = plan_shaping(s, features).map_err(|reason| self.invalid(&what, reason))?;
        let msg = self.link(&what, link).await?;
        let index = msg.header.index;
        let mtu = msg
            .attributes
            .iter()
            .find_map(|a| match a {
                LinkAttribute::Mtu(m) => Some(*m),
                _ => None,
            })
            .unwrap_or(1500);

        // remove the qdisc an earlier call installed
        let ours = TcHandle {
            major: SHAPING_HANDLE,
            minor: 0,
        };
        let qdiscs: Vec<TcMessage> = self
            .handle
            .qdisc()
            .get()
            .index(index as i32)
            .execute()
            .try_collect()
            .await
            .map_err(|e| self.fail(&what, e))?;
        let installed = qdiscs.iter().any(|q| {
            q.header.index == index as i32
                && q.header.parent == TcHandle::ROOT
                && q.header.handle == ours
        });
        if installed {
            let mut del = TcMessage::with_index(index as i32);
            del.header.parent = TcHandle::ROOT;
            del.header.handle = ours;
            self.request_ack(&what, RouteNetlinkMessage::DelQueueDiscipline(del), 0)
                .await?;
        }

        let qdisc = match plan.qdisc {
            Qdisc::None => None,
            Qdisc::Tbf { rate_bytes } => {
                let burst = tbf_burst(rate_bytes, mtu);
                let limit = tbf_limit(rate_bytes, burst);
                Some(("tbf", tbf_options(rate_bytes, burst, limit)))
            }
            Qdisc::Netem(p) => Some(("netem", netem_options(&p))),
        };
        if let Some((kind, options)) = qdisc {
            let msg = qdisc_message(index, ours, kind, options);
            self.request_ack(
                &what,
                RouteNetlinkMessage::NewQueueDiscipline(msg),
                NLM_F_CREATE | NLM_F_REPLACE,
            )
            .await?;
        }
        if !plan.report.complete() {
            tracing::debug!(ns = %self.ns, link, shaping = %s, report = ?plan.report,
                "this kernel cannot apply every requested impairment");
        }
        Ok(plan.report)
    }

    /// Whether creating the link `msg` (called `name`) works; removes it.
    async fn try_link(&self, name: &str, msg: LinkMessage) -> bool {
        match self.handle.link().add(msg).execute().await {
            Ok(()) => {
                if let Err(e) = self.del_link(name).await {
                    tracing::warn!("feature probe: {e}");
                }
                true
            }
            Err(e) => {
                let e = self.fail(&format!("feature probe: create {name}"), e);
                if !matches!(e.errno(), Some(libc::EOPNOTSUPP) | Some(libc::ENOENT)) {
                    tracing::warn!("{e}");
                }
                false
            }
        }
    }

    /// Whether a root qdisc of `kind` can be put on `link`; removes it.
    async fn try_qdisc(&self, link: &str, kind: &str, options: Vec<u8>) -> bool {
        let what = format!("feature probe: {kind} qdisc on {link}");
        let index = match self.index(&what, link).await {
            Ok(i) => i,
            Err(e) => {
                tracing::warn!("{e}");
                return false;
            }
        };
        let handle = TcHandle {
            major: SHAPING_HANDLE,
            minor: 0,
        };
        let msg = qdisc_message(index, handle, kind, options);
        match self
            .request_ack(
                &what,
                RouteNetlinkMessage::NewQueueDiscipline(msg),
                NLM_F_CREATE | NLM_F_REPLACE,
            )
            .await
        {
            Ok(()) => {
                let mut del = TcMessage::with_index(index as i32);
                del.header.parent = TcHandle::ROOT;
                del.header.handle = handle;
                if let Err(e) = self
                    .request_ack(&what, RouteNetlinkMessage::DelQueueDiscipline(del), 0)
                    .await
                {
                    tracing::warn!("{e}");
                }
                true
            }
            Err(e) => {
                if e.errno() != Some(libc::ENOENT) {
                    tracing::warn!("{e}");
                }
                false
            }
        }
    }
}

/// Detects optional kernel features by trying them inside `scratch` (a
/// namespace the caller made for this and removes afterwards): links of
/// kind dummy, wireguard and vxlan are created alone, a VLAN on a
/// throwaway veth, and netem, tbf and htb as that veth's root qdisc; all is
/// removed again. Modules are never loaded by hand (the kernel may
/// autoload them as for any request), and the root namespace is not
/// touched. A feature whose probe fails for any reason is reported absent.
pub async fn detect_features(scratch: &Netns) -> KernelFeatures {
    let mut f = KernelFeatures::default();
    let nl = match Netlink::open(scratch) {
        Ok(nl) => nl,
        Err(e) => {
            tracing::warn!("feature probe: {e}");
            return f;
        }
    };
    const VETH: &str = "vgprobe0";
    const PEER: &str = "vgprobe1";
    // leftovers of an interrupted probe in a reused namespace
    for name in [VETH, "vgprobedummy", "vgprobewg", "vgprobevx"] {
        let _ = nl.del_link(name).await;
    }
    f.dummy = nl
        .try_link("vgprobedummy", LinkDummy::new("vgprobedummy").build())
        .await;
    f.wireguard = nl
        .try_link("vgprobewg", LinkWireguard::new("vgprobewg").build())
        .await;
    f.vxlan = nl
        .try_link(
            "vgprobevx",
            LinkVxlan::new("vgprobevx", 42).port(4789).build(),
        )
        .await;
    match nl.veth(VETH, PEER, scratch).await {
        Ok(()) => {
            f.vlan = match nl.vlan("vgprobe0.7", VETH, 7).await {
                Ok(()) => {
                    let _ = nl.del_link("vgprobe0.7").await;
                    true
                }
                Err(e) => {
                    if !matches!(e, NetlinkError::Unsupported { .. }) {
                        tracing::warn!("{e}");
                    }
                    false
                }
            };
            f.tbf = nl
                .try_qdisc(VETH, "tbf", tbf_options(125_000, 3_028, 10_000))
                .await;
            f.htb = nl.try_qdisc(VETH, "htb", htb_options()).await;
            f.netem = nl
                .try_qdisc(VETH, "netem", netem_options(&NetemParams::default()))
                .await;
            if let Err(e) = nl.del_link(VETH).await {
                tracing::warn!("feature probe: {e}");
            }
        }
        Err(e) => tracing::warn!("feature probe: {e}"),
    }
    f
}

/// Where a sysctl lives under `/proc/sys`; only `net/…` keys (the ones a
/// network namespace has its own copy of) are accepted. Dotted keys
/// (`net.ipv4.ip_forward`) are taken as slash-separated when they contain
/// no slash.
fn sysctl_path(key: &str) -> io::Result<PathBuf> {
    let key = if key.contains('/') {
        key.to_string()
    } else {
        key.replace('.', "/")
    };
    let bad = |why: &str| {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("sysctl `{key}`: {why}"),
        ))
    };
    if key
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return bad("malformed key");
    }
    if !key.starts_with("net/") {
        return bad("only net/ sysctls are per namespace; others would change the host");
    }
    Ok(PathBuf::from("/proc/sys").join(key))
}

/// Writes a sysctl (e.g. `"net/ipv4/ip_forward"`, `"1"`) inside the
/// namespace, from a thread in it (`/proc/sys/net` shows the namespace of
/// the thread that opens it). Only `net/` keys are accepted: the others
/// are not per namespace.
pub fn sysctl(ns: &Netns, key: &str, value: &str) -> io::Result<()> {
    let path = sysctl_path(key)?;
    let value = value.to_string();
    let shown = format!("sysctl {}={value} in ns {}", key, ns.name());
    ns.run(move || std::fs::write(&path, value.as_bytes()))
        .and_then(|r| r)
        .map_err(|e| io::Error::new(e.kind(), format!("{shown}: {e}")))
}

/// Reads a sysctl inside the namespace (trimmed), as [`sysctl`] writes it.
pub fn read_sysctl(ns: &Netns, key: &str) -> io::Result<String> {
    let path = sysctl_path(key)?;
    let shown = format!("read sysctl {} in ns {}", key, ns.name());
    ns.run(move || std::fs::read_to_string(&path))
        .and_then(|r| r)
        .map(|s| s.trim().to_string())
        .map_err(|e| io::Error::new(e.kind(), format!("{shown}: {e}")))
}

// ---- qdisc encoding -------------------------------------------------------

const TCA_OPTIONS: u16 = 2;
const TCA_TBF_PARMS: u16 = 1;
const TCA_TBF_RATE64: u16 = 4;
const TCA_TBF_BURST: u16 = 6;
const TCA_HTB_INIT: u16 = 2;
const TCA_NETEM_RATE: u16 = 6;
const TCA_NETEM_RATE64: u16 = 8;
const TCA_NETEM_LATENCY64: u16 = 10;
const TCA_NETEM_JITTER64: u16 = 11;
const TC_LINKLAYER_ETHERNET: u8 = 1;
/// The kernel's packet scheduler clock: one tick is 64 ns (PSCHED_SHIFT).
const PSCHED_SHIFT: u32 = 6;

#[derive(Debug, Clone, PartialEq)]
enum Qdisc {
    None,
    Tbf { rate_bytes: u64 },
    Netem(NetemParams),
}

#[derive(Debug, Clone, PartialEq)]
struct Plan {
    qdisc: Qdisc,
    report: ShapingReport,
}

/// Decides which qdisc does what; pure, so tested without root.
fn plan_shaping(s: &Shaping, f: &KernelFeatures) -> std::result::Result<Plan, String> {
    let rate_bytes = match s.rate_bps {
        Some(r) if r < 8 => return Err(format!("rate {r}bit/s is below one byte a second")),
        Some(r) => Some(r / 8),
        None => None,
    };
    if let Some(l) = s.loss_percent {
        if !(0.0..=100.0).contains(&l) {
            return Err(format!("loss {l}% is not a percentage"));
        }
    }
    let (delay, jitter, loss) = (s.delay_ns(), s.jitter_ns(), s.loss());
    let wanted = |x: bool, m: Mechanism| if x { m } else { Mechanism::NotRequested };
    let netem_wanted = delay.is_some() || jitter.is_some() || loss.is_some();
    let use_netem = f.netem && (netem_wanted || (rate_bytes.is_some() && !f.tbf));
    if use_netem {
        let params = NetemParams {
            latency_ns: delay.unwrap_or(0),
            jitter_ns: jitter.unwrap_or(0),
            loss: loss.map(loss_scaled).unwrap_or(0),
            limit: netem_limit(rate_bytes, delay.unwrap_or(0) + jitter.unwrap_or(0)),
            rate_bytes,
        };
        return Ok(Plan {
            qdisc: Qdisc::Netem(params),
            report: ShapingReport {
                rate: wanted(rate_bytes.is_some(), Mechanism::Netem),
                delay: wanted(delay.is_some(), Mechanism::Netem),
                jitter: wanted(jitter.is_some(), Mechanism::Netem),
                loss: wanted(loss.is_some(), Mechanism::Netem),
            },
        });
    }
    let (qdisc, rate) = match rate_bytes {
        Some(rate_bytes) if f.tbf => (Qdisc::Tbf { rate_bytes }, Mechanism::Tbf),
        Some(_) => (Qdisc::None, Mechanism::Unsupported),
        None => (Qdisc::None, Mechanism::NotRequested),
    };
    Ok(Plan {
        qdisc,
        report: ShapingReport {
            rate,
            delay: wanted(delay.is_some(), Mechanism::Unsupported),
            jitter: wanted(jitter.is_some(), Mechanism::Unsupported),
            loss: wanted(loss.is_some(), Mechanism::Unsupported),
        },
    })
}

/// A loss percentage as netem's fraction of `u32::MAX` (as `tc` rounds it).
fn loss_scaled(percent: f64) -> u32 {
    (percent / 100.0 * f64::from(u32::MAX)).round() as u32
}

/// Netem's queue, in packets: 10 000, or twice the bandwidth-delay product
/// in 1500-byte packets when that is more.
fn netem_limit(rate_bytes: Option<u64>, delay_ns: u64) -> u32 {
    let bdp = rate_bytes
        .map(|r| (u128::from(r) * u128::from(delay_ns) / 1_000_000_000 / 1500 * 2) as u64)
        .unwrap_or(0);
    u32::try_from(bdp.max(10_000)).unwrap_or(u32::MAX)
}

/// Token bucket size: 4 ms worth of the rate, at least two full frames.
fn tbf_burst(rate_bytes: u64, mtu: u32) -> u32 {
    let frames = 2 * (u64::from(mtu) + 14);
    u32::try_from((rate_bytes / 250).max(frames)).unwrap_or(u32::MAX)
}

/// Queue size in bytes: the burst plus 50 ms worth of the rate.
fn tbf_limit(rate_bytes: u64, burst: u32) -> u32 {
    u32::try_from(u64::from(burst) + rate_bytes / 20).unwrap_or(u32::MAX)
}

fn ns_to_ticks(ns: u64) -> u32 {
    u32::try_from(ns >> PSCHED_SHIFT).unwrap_or(u32::MAX)
}

/// One netlink attribute, padded to 4 bytes.
fn nla(kind: u16, value: &[u8]) -> Vec<u8> {
    let len = 4 + value.len();
    let mut out = Vec::with_capacity((len + 3) & !3);
    out.extend_from_slice(&(len as u16).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(value);
    out.resize((len + 3) & !3, 0);
    out
}

/// `TCA_OPTIONS` of a tbf: `tc_tbf_qopt` with an Ethernet link layer (so
/// the kernel needs no rate table), the burst in bytes, and the 64-bit
/// rate when the rate does not fit 32 bits.
fn tbf_options(rate_bytes: u64, burst: u32, limit: u32) -> Vec<u8> {
    let rate32 = u32::try_from(rate_bytes).unwrap_or(u32::MAX);
    let buffer_ns = u128::from(burst) * 1_000_000_000 / u128::from(rate_bytes.max(1));
    let buffer = ns_to_ticks(u64::try_from(buffer_ns).unwrap_or(u64::MAX));
    let mut parms = Vec::with_capacity(36);
    // struct tc_ratespec rate
    parms.push(0); // cell_log
    parms.push(TC_LINKLAYER_ETHERNET);
    parms.extend_from_slice(&0u16.to_ne_bytes()); // overhead
    parms.extend_from_slice(&0i16.to_ne_bytes()); // cell_align
    parms.extend_from_slice(&0u16.to_ne_bytes()); // mpu
    parms.extend_from_slice(&rate32.to_ne_bytes());
    parms.extend_from_slice(&[0; 12]); // peakrate: none
    parms.extend_from_slice(&limit.to_ne_bytes());
    parms.extend_from_slice(&buffer.to_ne_bytes());
    parms.extend_from_slice(&0u32.to_ne_bytes()); // mtu (for peakrate)
    let mut out = nla(TCA_TBF_PARMS, &parms);
    out.extend(nla(TCA_TBF_BURST, &burst.to_ne_bytes()));
    if rate_bytes > u64::from(u32::MAX) {
        out.extend(nla(TCA_TBF_RATE64, &rate_bytes.to_ne_bytes()));
    }
    out
}

/// `TCA_OPTIONS` of an htb with no default class (`tc_htb_glob`).
fn htb_options() -> Vec<u8> {
    let mut glob = Vec::with_capacity(20);
    for v in [3u32 /* version */, 10 /* r2q */, 0, 0, 0] {
        glob.extend_from_slice(&v.to_ne_bytes());
    }
    nla(TCA_HTB_INIT, &glob)
}

#[derive(Debug, Clone, PartialEq)]
struct NetemParams {
    latency_ns: u64,
    jitter_ns: u64,
    /// Loss probability scaled to `u32::MAX`.
    loss: u32,
    /// Queue length in packets.
    limit: u32,
    rate_bytes: Option<u64>,
}

impl Default for NetemParams {
    fn default() -> Self {
        NetemParams {
            latency_ns: 0,
            jitter_ns: 0,
            loss: 0,
            limit: 1000,
            rate_bytes: None,
        }
    }
}

/// `TCA_OPTIONS` of a netem: a bare `tc_netem_qopt` followed by attributes
/// (netem's options are not an attribute list), as `tc` sends them.
fn netem_options(p: &NetemParams) -> Vec<u8> {
    let latency = ns_to_ticks(p.latency_ns);
    let jitter = ns_to_ticks(p.jitter_ns);
    let mut out = Vec::with_capacity(64);
    // struct tc_netem_qopt: latency, limit, loss, gap, duplicate, jitter
    for v in [latency, p.limit, p.loss, 0, 0, jitter] {
        out.extend_from_slice(&v.to_ne_bytes());
    }
    if latency == u32::MAX {
        let ns = i64::try_from(p.latency_ns).unwrap_or(i64::MAX);
        out.extend(nla(TCA_NETEM_LATENCY64, &ns.to_ne_bytes()));
    }
    if jitter == u32::MAX {
        let ns = i64::try_from(p.jitter_ns).unwrap_or(i64::MAX);
        out.extend(nla(TCA_NETEM_JITTER64, &ns.to_ne_bytes()));
    }
    if let Some(rate) = p.rate_bytes {
        let rate32 = u32::try_from(rate).unwrap_or(u32::MAX);
        if rate32 == u32::MAX {
            out.extend(nla(TCA_NETEM_RATE64, &rate.to_ne_bytes()));
        }
        // struct tc_netem_rate: rate, packet_overhead, cell_size, cell_overhead
        let mut r = Vec::with_capacity(16);
        r.extend_from_slice(&rate32.to_ne_bytes());
        r.extend_from_slice(&[0; 12]);
        out.extend(nla(TCA_NETEM_RATE, &r));
    }
    out
}

fn qdisc_message(index: u32, handle: TcHandle, kind: &str, options: Vec<u8>) -> TcMessage {
    let mut m = TcMessage::with_index(index as i32);
    m.header.parent = TcHandle::ROOT;
    m.header.handle = handle;
    m.attributes.push(TcAttribute::Kind(kind.to_string()));
    m.attributes
        .push(TcAttribute::Other(DefaultNla::new(TCA_OPTIONS, options)));
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;
    use std::sync::atomic::{AtomicUsize, Ordering};

    // ---- pure: no root needed --------------------------------------------

    /// Bytes `tc qdisc replace dev X root netem delay 10ms 2ms loss 1.5%
    /// rate 1mbit` (iproute2 6.1) puts in TCA_OPTIONS, captured with strace.
    #[cfg(target_endian = "little")]
    #[test]
    fn netem_options_match_tc() {
        let tc: &[u8] = b"\x5a\x62\x02\x00\xe8\x03\x00\x00\x3d\x0a\xd7\x03\x00\x00\x00\x00\
            \x00\x00\x00\x00\x12\x7a\x00\x00\x14\x00\x06\x00\x48\xe8\x01\x00\
            \x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00";
        let p = NetemParams {
            latency_ns: 10_000_000,
            jitter_ns: 2_000_000,
            loss: loss_scaled(1.5),
            limit: 1000,
            rate_bytes: Some(1_000_000 / 8),
        };
        assert_eq!(netem_options(&p), tc);
        // 8gbit: 1e9 bytes/s still fits the 32-bit rate
        let p = NetemParams {
            rate_bytes: Some(8_000_000_000 / 8),
            ..p
        };
        assert_eq!(&netem_options(&p)[28..32], b"\x00\xca\x9a\x3b");
    }

    #[test]
    fn netem_long_delays_and_fast_rates_use_64_bit_attributes() {
        let p = NetemParams {
            latency_ns: 600_000_000_000, // 600 s: more ticks than 32 bits hold
            rate_bytes: Some(10_000_000_000),
            ..NetemParams::default()
        };
        let o = netem_options(&p);
        assert_eq!(u32::from_ne_bytes(o[0..4].try_into().unwrap()), u32::MAX);
        let kinds: Vec<u16> = attrs(&o[24..]).into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            kinds,
            [TCA_NETEM_LATENCY64, TCA_NETEM_RATE64, TCA_NETEM_RATE]
        );
    }

    fn attrs(mut b: &[u8]) -> Vec<(u16, Vec<u8>)> {
        let mut out = Vec::new();
        while b.len() >= 4 {
            let len = u16::from_ne_bytes([b[0], b[1]]) as usize;
            let kind = u16::from_ne_bytes([b[2], b[3]]);
            out.push((kind, b[4..len].to_vec()));
            b = &b[((len + 3) & !3).min(b.len())..];
        }
        out
    }

    #[test]
    fn tbf_options_layout() {
        let o = tbf_options(1_250_000, 10_000, 72_500);
        let a = attrs(&o);
        assert_eq!(a.len(), 2);
        assert_eq!(a[0].0, TCA_TBF_PARMS);
        let parms = &a[0].1;
        assert_eq!(parms.len(), 36);
        assert_eq!(parms[1], TC_LINKLAYER_ETHERNET);
        assert_eq!(
            u32::from_ne_bytes(parms[8..12].try_into().unwrap()),
            1_250_000
        );
        assert_eq!(
            u32::from_ne_bytes(parms[24..28].try_into().unwrap()),
            72_500
        );
        // 10 000 bytes at 1.25 MB/s: 8 ms, in 64 ns ticks
        assert_eq!(
            u32::from_ne_bytes(parms[28..32].try_into().unwrap()),
            125_000
        );
        assert_eq!(a[1], (TCA_TBF_BURST, 10_000u32.to_ne_bytes().to_vec()));
        // 40 Gbit/s needs the 64-bit rate
        let a = attrs(&tbf_options(5_000_000_000, 20_000_000, 270_000_000));
        assert_eq!(
            a[2],
            (TCA_TBF_RATE64, 5_000_000_000u64.to_ne_bytes().to_vec())
        );
    }

    #[test]
    fn tbf_sizing() {
        // 10 Mbit/s on a 1500-byte link: two frames beat 4 ms (5 000 bytes)
        assert_eq!(tbf_burst(1_250_000, 1500), 5_000);
        assert_eq!(tbf_burst(125_000, 1500), 3_028);
        assert_eq!(tbf_limit(125_000, 3_028), 3_028 + 6_250);
        assert_eq!(tbf_burst(u64::MAX, 1500), u32::MAX);
    }

    #[test]
    fn loss_is_scaled_like_tc() {
        assert_eq!(loss_scaled(1.5), 0x03d7_0a3d);
        assert_eq!(loss_scaled(100.0), u32::MAX);
        assert_eq!(loss_scaled(0.0), 0);
    }

    #[test]
    fn shaping_plans() {
        use Mechanism::*;
        let here = KernelFeatures {
            tbf: true,
            htb: true,
            vxlan: true,
            ..KernelFeatures::default()
        };
        let full = KernelFeatures {
            netem: true,
            ..here
        };
        let rate = Shaping {
            rate_bps: Some(10_000_000),
            ..Shaping::default()
        };
        let p = plan_shaping(&rate, &here).unwrap();
        assert_eq!(
            p.qdisc,
            Qdisc::Tbf {
                rate_bytes: 1_250_000
            }
        );
        assert_eq!(p.report.rate, Tbf);
        assert!(p.report.complete());
        // rate alone goes through tbf even when netem is there
        assert_eq!(plan_shaping(&rate, &full).unwrap().qdisc, p.qdisc);

        let all = Shaping {
            rate_bps: Some(10_000_000),
            delay: Some(Duration::from_millis(20)),
            jitter: Some(Duration::from_millis(5)),
            loss_percent: Some(1.0),
        };
        let p = plan_shaping(&all, &here).unwrap();
        assert_eq!(
            p.qdisc,
            Qdisc::Tbf {
                rate_bytes: 1_250_000
            }
        );
        assert_eq!(
            p.report,
            ShapingReport {
                rate: Tbf,
                delay: Unsupported,
                jitter: Unsupported,
                loss: Unsupported
            }
        );
        assert!(!p.report.complete());
        let p = plan_shaping(&all, &full).unwrap();
        assert_eq!(
            p.report,
            ShapingReport {
                rate: Netem,
                delay: Netem,
                jitter: Netem,
                loss: Netem
            }
        );
        match p.qdisc {
            Qdisc::Netem(n) => {
                assert_eq!(n.latency_ns, 20_000_000);
                assert_eq!(n.rate_bytes, Some(1_250_000));
                assert_eq!(n.limit, 10_000);
            }
            other => panic!("{other:?}"),
        }

        let none = plan_shaping(&Shaping::default(), &full).unwrap();
        assert_eq!(none.qdisc, Qdisc::None);
        assert_eq!(none.report.rate, NotRequested);
        let zero = Shaping {
            delay: Some(Duration::ZERO),
            loss_percent: Some(0.0),
            ..Shaping::default()
        };
        assert_eq!(plan_shaping(&zero, &here).unwrap().qdisc, Qdisc::None);

        let bad_loss = Shaping {
            loss_percent: Some(150.0),
            ..Shaping::default()
        };
        assert!(plan_shaping(&bad_loss, &full).is_err());
        let nan = Shaping {
            loss_percent: Some(f64::NAN),
            ..Shaping::default()
        };
        assert!(plan_shaping(&nan, &full).is_err());
        let slow = Shaping {
            rate_bps: Some(7),
            ..Shaping::default()
        };
        assert!(plan_shaping(&slow, &full).is_err());
    }

    #[test]
    fn netem_queue_covers_the_bandwidth_delay_product() {
        assert_eq!(netem_limit(None, 1_000_000_000), 10_000);
        // 1 GB/s for 100 ms: 100 MB, 66 666 packets, twice that
        assert_eq!(netem_limit(Some(1_000_000_000), 100_000_000), 133_332);
    }

    #[test]
    fn sysctl_keys() {
        assert_eq!(
            sysctl_path("net/ipv4/ip_forward").unwrap(),
            PathBuf::from("/proc/sys/net/ipv4/ip_forward")
        );
        assert_eq!(
            sysctl_path("net.ipv4.conf.all.rp_filter").unwrap(),
            PathBuf::from("/proc/sys/net/ipv4/conf/all/rp_filter")
        );
        // a slash form keeps dots (VLAN-style link names)
        assert_eq!(
            sysctl_path("net/ipv4/conf/eth0.5/forwarding").unwrap(),
            PathBuf::from("/proc/sys/net/ipv4/conf/eth0.5/forwarding")
        );
        for bad in [
            "",
            "kernel/hostname",
            "net/../kernel/x",
            "/net/ipv4/ip_forward",
            "net//x",
        ] {
            assert!(sysctl_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn errors_read_like_ip() {
        let e = NetlinkError::Kernel {
            what: "add address 10.0.0.1/24 to s3".into(),
            ns: "vx-vpc".into(),
            errno: libc::EEXIST,
        };
        assert_eq!(
            e.to_string(),
            "add address 10.0.0.1/24 to s3 in ns vx-vpc: File exists"
        );
        assert_eq!(io::Error::from(e).kind(), io::ErrorKind::AlreadyExists);
        let r = Route {
            dst: "10.1.0.0/16".parse().unwrap(),
            via: Some(Ipv4Addr::new(10, 0, 0, 2)),
            dev: Some("s3".into()),
            table: 100,
            metric: 5,
            kind: RouteKind::Unicast,
        };
        assert_eq!(
            r.to_string(),
            "10.1.0.0/16 via 10.0.0.2 dev s3 table 100 metric 5"
        );
    }

    // ---- in namespaces: root needed --------------------------------------

    fn root() -> bool {
        // SAFETY: no preconditions.
        let root = unsafe { libc::geteuid() == 0 };
        if !root {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("these tests need root, and CI runs as root");
            }
            eprintln!("skipped: needs root");
        }
        root
    }

    /// Namespaces made for one test, deleted when it ends, even on panic.
    struct Lab(Vec<String>);

    static NEXT: AtomicUsize = AtomicUsize::new(0);

    impl Lab {
        fn new(count: usize) -> Lab {
            let mut lab = Lab(Vec::new());
            for _ in 0..count {
                let n = NEXT.fetch_add(1, Ordering::Relaxed);
                let name = format!("vsnl{}x{n}", std::process::id());
                netns::create(&name).expect("create namespace");
                lab.0.push(name);
            }
            lab
        }

        fn ns(&self, i: usize) -> Netns {
            Netns::open(&self.0[i]).expect("open namespace")
        }

        fn name(&self, i: usize) -> &str {
            &self.0[i]
        }
    }

    impl Drop for Lab {
        fn drop(&mut self) {
            for n in &self.0 {
                if let Err(e) = netns::delete(n) {
                    eprintln!("delete namespace {n}: {e}");
                }
            }
        }
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    }

    /// Runs a command inside `ns`; its stdout, or a panic with its stderr.
    fn run_in(ns: &Netns, program: &str, args: &[&str]) -> std::process::Output {
        let mut cmd = Command::new(program);
        cmd.args(args);
        ns.command(&mut cmd).expect("set namespace");
        cmd.output().expect("spawn")
    }

    fn stdout_in(ns: &Netns, program: &str, args: &[&str]) -> String {
        let out = run_in(ns, program, args);
        assert!(
            out.status.success(),
            "{program} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The test links all start with `nlt`: none may show up in the
    /// namespace the tests run in (the root one).
    fn assert_root_untouched() {
        let ours: Vec<String> = std::fs::read_dir("/sys/class/net")
            .expect("/sys/class/net")
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| n.starts_with("nlt") || n.starts_with("vgprobe"))
            .collect();
        assert!(
            ours.is_empty(),
            "links leaked into the root namespace: {ours:?}"
        );
    }

    #[test]
    fn veth_addresses_and_ping() {
        if !root() {
            return;
        }
        let lab = Lab::new(2);
        let (a, b) = (lab.ns(0), lab.ns(1));
        runtime().block_on(async {
            let na = Netlink::open(&a).expect("open a");
            let nb = Netlink::open(&b).expect("open b");
            na.veth("nlta", "nltb", &b).await.expect("veth");
            assert_eq!(na.link_names().await.unwrap(), ["lo", "nlta"]);
            assert_eq!(nb.link_names().await.unwrap(), ["lo", "nltb"]);
            na.add_address("nlta", "10.213.0.1/30".parse().unwrap())
                .await
                .unwrap();
            nb.add_address("nltb", "10.213.0.2/30".parse().unwrap())
                .await
                .unwrap();
            for (nl, link) in [(&na, "nlta"), (&nb, "nltb")] {
                nl.set_up("lo").await.unwrap();
                nl.set_mtu(link, 1400).await.unwrap();
                nl.set_up(link).await.unwrap();
            }
            // a second identical address: the kernel's EEXIST, with context
            let e = na
                .add_address("nlta", "10.213.0.1/30".parse().unwrap())
                .await
                .unwrap_err();
            assert_eq!(e.errno(), Some(libc::EEXIST));
            assert_eq!(
                e.to_string(),
                format!(
                    "add address 10.213.0.1/30 to nlta in ns {}: File exists",
                    lab.name(0)
                )
            );
            let e = na.set_up("nltnope").await.unwrap_err();
            assert_eq!(e.errno(), Some(libc::ENODEV), "{e}");
        });
        let shown = stdout_in(&a, "ip", &["-o", "link", "show", "nlta"]);
        assert!(
            shown.contains("mtu 1400") && shown.contains(",UP"),
            "{shown}"
        );
        let ping = run_in(&a, "ping", &["-c", "1", "-W", "5", "10.213.0.2"]);
        assert!(
            ping.status.success(),
            "ping: {}{}",
            String::from_utf8_lossy(&ping.stdout),
            String::from_utf8_lossy(&ping.stderr)
        );
        assert_root_untouched();
    }

    #[test]
    fn bridge_with_two_ports() {
        if !root() {
            return;
        }
        let lab = Lab::new(3);
        let (hub, h1, h2) = (lab.ns(0), lab.ns(1), lab.ns(2));
        runtime().block_on(async {
            let n = Netlink::open(&hub).expect("open");
            n.bridge("nltbr").await.expect("bridge");
            n.veth("nltp1", "nlth1", &h1).await.expect("veth 1");
            n.veth("nltp2", "nlth2", &h2).await.expect("veth 2");
            for l in ["nltp1", "nltp2"] {
                n.set_master(l, "nltbr").await.expect("enslave");
                n.set_up(l).await.unwrap();
            }
            n.set_up("nltbr").await.unwrap();
            for (ns, link, addr) in [
                (&h1, "nlth1", "10.214.0.1/24"),
                (&h2, "nlth2", "10.214.0.2/24"),
            ] {
                let h = Netlink::open(ns).expect("open host");
                h.add_address(link, addr.parse().unwrap()).await.unwrap();
                h.set_up(link).await.unwrap();
            }
            let e = n.set_master("nltp1", "nltnobr").await.unwrap_err();
            assert_eq!(e.errno(), Some(libc::ENODEV));
        });
        for port in ["nltp1", "nltp2"] {
            let shown = stdout_in(&hub, "ip", &["-o", "link", "show", port]);
            assert!(shown.contains("master nltbr"), "{shown}");
        }
        let ping = run_in(&h1, "ping", &["-c", "1", "-W", "5", "10.214.0.2"]);
        assert!(
            ping.status.success(),
            "{}",
            String::from_utf8_lossy(&ping.stdout)
        );
        assert_root_untouched();
    }

    #[test]
    fn routes_rules_and_blackholes() {
        if !root() {
            return;
        }
        let lab = Lab::new(2);
        let (a, b) = (lab.ns(0), lab.ns(1));
        let table_route = Route {
            dst: "10.99.0.0/16".parse().unwrap(),
            via: Some(Ipv4Addr::new(10, 215, 0, 2)),
            dev: None,
            table: 100,
            metric: 10,
            kind: RouteKind::Unicast,
        };
        let dev_route = Route {
            dst: "10.98.0.0/16".parse().unwrap(),
            via: None,
            dev: Some("nlta".into()),
            table: 1000,
            metric: 0,
            kind: RouteKind::Unicast,
        };
        let blackhole = Route {
            dst: "10.97.0.0/16".parse().unwrap(),
            via: None,
            dev: None,
            table: MAIN_TABLE,
            metric: 0,
            kind: RouteKind::Blackhole,
        };
        let unreachable = Route {
            dst: "10.96.0.0/16".parse().unwrap(),
            kind: RouteKind::Unreachable,
            ..blackhole.clone()
        };
        runtime().block_on(async {
            let n = Netlink::open(&a).expect("open");
            n.veth("nlta", "nltb", &b).await.expect("veth");
            n.add_address("nlta", "10.215.0.1/30".parse().unwrap())
                .await
                .unwrap();
            n.set_up("nlta").await.unwrap();
            n.add_route(&table_route).await.expect("route via");
            n.add_route(&dev_route).await.expect("route dev");
            n.add_route(&blackhole).await.expect("blackhole");
            n.add_route(&unreachable).await.expect("unreachable");
            let e = n.add_route(&blackhole).await.unwrap_err();
            assert_eq!(e.errno(), Some(libc::EEXIST), "{e}");
            n.add_rule(&Rule {
                iif: Some("nlta".into()),
                table: 100,
                priority: 1000,
            })
            .await
            .expect("rule");
            n.add_rule(&Rule {
                iif: None,
                table: 1000,
                priority: 1001,
            })
            .await
            .expect("rule");
            let bad = Route {
                via: None,
                dev: None,
                ..table_route.clone()
            };
            assert!(matches!(
                n.add_route(&bad).await,
                Err(NetlinkError::Invalid { .. })
            ));
        });
        let t100 = stdout_in(&a, "ip", &["route", "show", "table", "100"]);
        assert!(
            t100.contains("10.99.0.0/16 via 10.215.0.2 dev nlta"),
            "{t100}"
        );
        assert!(t100.contains("metric 10"), "{t100}");
        let t1000 = stdout_in(&a, "ip", &["route", "show", "table", "1000"]);
        assert!(
            t1000.contains("10.98.0.0/16 dev nlta") && t1000.contains("scope link"),
            "{t1000}"
        );
        let main = stdout_in(&a, "ip", &["route", "show"]);
        assert!(main.contains("blackhole 10.97.0.0/16"), "{main}");
        assert!(main.contains("unreachable 10.96.0.0/16"), "{main}");
        let rules = stdout_in(&a, "ip", &["rule", "show"]);
        assert!(
            rules.contains("1000:\tfrom all iif nlta lookup 100"),
            "{rules}"
        );
        assert!(rules.contains("1001:\tfrom all lookup 1000"), "{rules}");

        runtime().block_on(async {
            let n = Netlink::open(&a).expect("open");
            n.del_route(&table_route).await.expect("delete route");
            n.del_route(&blackhole).await.expect("delete blackhole");
            let e = n.del_route(&blackhole).await.unwrap_err();
            assert_eq!(e.errno(), Some(libc::ESRCH), "{e}");
        });
        let t100 = stdout_in(&a, "ip", &["route", "show", "table", "100"]);
        assert!(!t100.contains("10.99.0.0/16"), "{t100}");
        assert!(!stdout_in(&a, "ip", &["route", "show"]).contains("10.97.0.0"));
        assert_root_untouched();
    }

    #[test]
    fn sysctl_is_per_namespace() {
        if !root() {
            return;
        }
        let lab = Lab::new(1);
        let ns = lab.ns(0);
        let key = "net/ipv4/ip_forward";
        let host = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
        assert_eq!(
            read_sysctl(&ns, key).unwrap(),
            "0",
            "a new namespace forwards nothing"
        );
        sysctl(&ns, key, "1").expect("write");
        assert_eq!(read_sysctl(&ns, key).unwrap(), "1");
        sysctl(&ns, "net.ipv4.conf.all.rp_filter", "2").expect("dotted key");
        assert_eq!(
            read_sysctl(&ns, "net/ipv4/conf/all/rp_filter").unwrap(),
            "2"
        );
        assert_eq!(
            std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap(),
            host,
            "the host's value must not change"
        );
        let e = sysctl(&ns, "net/ipv4/no_such_knob", "1").unwrap_err();
        assert!(e.to_string().contains(lab.name(0)), "{e}");
        assert_eq!(
            sysctl(&ns, "kernel/hostname", "x").unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
    }

    #[test]
    fn shape_with_tbf() {
        if !root() {
            return;
        }
        let lab = Lab::new(3);
        let (a, b, scratch) = (lab.ns(0), lab.ns(1), lab.ns(2));
        let rt = runtime();
        let features = rt.block_on(detect_features(&scratch));
        assert!(features.tbf, "{features:?}");
        let n = rt.block_on(async {
            let n = Netlink::open(&a).expect("open");
            n.veth("nlta", "nltb", &b).await.expect("veth");
            n.set_up("nlta").await.unwrap();
            n
        });
        let show = || stdout_in(&a, "tc", &["qdisc", "show", "dev", "nlta"]);

        let rate = |bps| Shaping {
            rate_bps: Some(bps),
            ..Shaping::default()
        };
        let r = rt
            .block_on(n.shape("nlta", &rate(10_000_000), &features))
            .expect("shape");
        assert_eq!(r.rate, Mechanism::Tbf);
        assert!(r.complete());
        let q = show();
        assert!(
            q.contains("qdisc tbf 5ade: root") && q.contains("rate 10Mbit"),
            "{q}"
        );
        assert!(q.contains("burst 5000b"), "{q}");

        // again: replaced, not stacked
        rt.block_on(n.shape("nlta", &rate(20_000_000), &features))
            .expect("reshape");
        let q = show();
        assert!(
            q.contains("rate 20Mbit") && q.matches("tbf").count() == 1,
            "{q}"
        );

        // delay on a kernel without netem: reported, rate still applied
        let mixed = Shaping {
            rate_bps: Some(5_000_000),
            delay: Some(Duration::from_millis(10)),
            loss_percent: Some(1.0),
            ..Shaping::default()
        };
        let r = rt
            .block_on(n.shape("nlta", &mixed, &features))
            .expect("mixed");
        if features.netem {
            assert_eq!(r.delay, Mechanism::Netem);
            assert!(show().contains("netem"));
        } else {
            assert_eq!(
                r,
                ShapingReport {
                    rate: Mechanism::Tbf,
                    delay: Mechanism::Unsupported,
                    jitter: Mechanism::NotRequested,
                    loss: Mechanism::Unsupported,
                }
            );
            assert!(show().contains("rate 5Mbit"), "{}", show());
        }

        // nothing requested: cleared
        let r = rt
            .block_on(n.shape("nlta", &Shaping::default(), &features))
            .expect("clear");
        assert_eq!(r.rate, Mechanism::NotRequested);
        let q = show();
        assert!(!q.contains("tbf") && !q.contains("netem"), "{q}");
        let e = rt
            .block_on(n.shape("nltnope", &rate(1_000_000), &features))
            .unwrap_err();
        assert_eq!(e.errno(), Some(libc::ENODEV));
        drop(n);
        assert_root_untouched();
    }

    /// Whether iproute2 can do the same thing in a scratch namespace: the
    /// independent answer detect_features is checked against.
    fn iproute2_can(ns: &Netns, program: &str, args: &[&str]) -> bool {
        run_in(ns, program, args).status.success()
    }

    #[test]
    fn detect_features_here() {
        if !root() {
            return;
        }
        let lab = Lab::new(2);
        let scratch = lab.ns(0);
        let f = runtime().block_on(detect_features(&scratch));
        eprintln!("kernel features: {f:?}");
        // what the simulator relies on
        assert!(f.tbf && f.htb && f.vxlan, "{f:?}");
        // nothing left behind in the scratch namespace
        let left = runtime()
            .block_on(async { Netlink::open(&scratch).unwrap().link_names().await })
            .unwrap();
        assert_eq!(left, ["lo"]);
        // the optional ones agree with iproute2
        let other = lab.ns(1);
        assert!(iproute2_can(
            &other,
            "ip",
            &["link", "add", "nltv0", "type", "veth", "peer", "name", "nltv1"]
        ));
        let expect = KernelFeatures {
            netem: iproute2_can(
                &other,
                "tc",
                &[
                    "qdisc", "add", "dev", "nltv0", "root", "netem", "delay", "1ms",
                ],
            ),
            tbf: true,
            htb: true,
            vlan: iproute2_can(
                &other,
                "ip",
                &[
                    "link", "add", "nltvl", "link", "nltv0", "type", "vlan", "id", "7",
                ],
            ),
            dummy: iproute2_can(&other, "ip", &["link", "add", "nltdm", "type", "dummy"]),
            wireguard: iproute2_can(&other, "ip", &["link", "add", "nltwg", "type", "wireguard"]),
            vxlan: true,
        };
        assert_eq!(f, expect);
        // vlan() says clearly what is missing
        if !f.vlan {
            let e = runtime()
                .block_on(async {
                    let n = Netlink::open(&other).unwrap();
                    n.vlan("nltv0.7", "nltv0", 7).await
                })
                .unwrap_err();
            assert!(matches!(e, NetlinkError::Unsupported { .. }), "{e}");
            assert!(e.to_string().contains("802.1Q"), "{e}");
            eprintln!("{e}");
        }
        assert_root_untouched();
    }
}
