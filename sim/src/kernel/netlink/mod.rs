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
//!
//! Files: this one holds the connection and its requests; `features.rs`
//! detects optional kernel features ([`detect_features`]), `sysctl.rs`
//! reads and writes per-namespace sysctls, `qdisc.rs` encodes qdisc
//! options and `qdisc_plan.rs` chooses the qdisc for a [`Shaping`]. The
//! values it takes ([`Route`], [`Rule`], [`Shaping`], ...) live in the pure
//! modules [`crate::kernel::routing`] and [`crate::kernel::shaping`], re-exported here.

use std::fs::File;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd};

use futures_util::stream::{StreamExt, TryStreamExt};
use ipnet::Ipv4Net;
use rtnetlink::packet_core::{
    NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_REPLACE, NLM_F_REQUEST,
};
use rtnetlink::packet_route::link::{InfoData, InfoVeth, LinkAttribute, LinkMessage};
use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use rtnetlink::packet_route::rule::RuleAction;
use rtnetlink::packet_route::tc::{TcHandle, TcMessage};
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::sys::{protocols::NETLINK_ROUTE, Socket, TokioSocket};
use rtnetlink::{LinkBridge, LinkUnspec, LinkVeth, LinkVlan, RouteMessageBuilder};

use crate::kernel::netns::{self, Netns};

mod features;
mod qdisc;
mod qdisc_plan;
mod sysctl;

pub use crate::kernel::routing::{Route, RouteKind, Rule, MAIN_TABLE};
pub use crate::kernel::shaping::{KernelFeatures, Mechanism, Shaping, ShapingReport};
pub use features::detect_features;
pub use sysctl::{default_sysctl, read_sysctl, sysctl, sysctls};

use qdisc::{netem_options, qdisc_message, tbf_burst, tbf_limit, tbf_options};
use qdisc_plan::{plan_shaping, Qdisc};

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
    #[error("{what} in ns {ns}: {cause}")]
    Protocol {
        /// What was being done.
        what: String,
        /// The namespace the request was made in.
        ns: String,
        /// What rtnetlink said (in the message already, so not a
        /// `source()`: a chain printed whole says it once).
        cause: rtnetlink::Error,
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

/// The handle major of the qdisc [`Netlink::shape`] installs (`5ade:`), by
/// which a later call recognises it.
pub const SHAPING_HANDLE: u16 = 0x5ade;

/// The MAC address of link `link` in namespace `ns`: the same each time
/// the lab makes the link (an instance launched again after a scale-in or
/// a replacement keeps its address, and so its MAC), so that the
/// neighbours that knew the address (the VPC's router, the instances of
/// its subnet) reach the new link at once. With the kernel's random one,
/// their entry of the old MAC stayed `REACHABLE` for up to 30 s (half an
/// hour at `time_scale` 60) and the new instance's health checks timed
/// out (`L4TOUT`) meanwhile. Locally administered, unicast; FNV-1a of the
/// two names.
pub fn stable_mac(ns: &str, link: &str) -> [u8; 6] {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in ns.bytes().chain([0]).chain(link.bytes()) {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let b = h.to_be_bytes();
    [(b[0] & 0xfc) | 0x02, b[1], b[2], b[3], b[4], b[5]]
}

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
                cause: e,
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
    /// `peer_ns` (which may be this namespace too), each end with its
    /// [`stable_mac`].
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
            .address(stable_mac(peer_ns.name(), peer).to_vec())
            .build();
        let msg = LinkVeth::new(name, peer)
            .address(stable_mac(&self.ns, name).to_vec())
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

    /// Releases `link` from its bridge (`ip link set LINK nomaster`).
    pub async fn set_nomaster(&self, link: &str) -> Result<()> {
        let what = format!("release {link} from its bridge");
        let index = self.index(&what, link).await?;
        self.handle
            .link()
            .set(LinkUnspec::new_with_index(index).nocontroller().build())
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

    async fn route_message(&self, what: &str, r: &Route, delete: bool) -> Result<RouteMessage> {
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

    /// Adds a route, or replaces the one with its table, destination and
    /// metric (`ip route replace`): never EEXIST.
    pub async fn replace_route(&self, r: &Route) -> Result<()> {
        let what = format!("replace route {r}");
        let msg = self.route_message(&what, r, false).await?;
        self.handle
            .route()
            .add(msg)
            .replace()
            .execute()
            .await
            .map_err(|e| self.fail(&what, e))
    }

    /// Removes an IPv4 address (with its prefix length) from a link
    /// (EADDRNOTAVAIL when it is not there, ENODEV without the link).
    pub async fn del_address(&self, link: &str, addr: Ipv4Net) -> Result<()> {
        let what = format!("delete address {addr} from {link}");
        let index = self.index(&what, link).await?;
        let mut req = self
            .handle
            .address()
            .add(index, IpAddr::V4(addr.addr()), addr.prefix_len());
        let msg = req.message_mut().clone();
        self.handle
            .address()
            .del(msg)
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

    /// Deletes the IPv4 policy rule for packets coming in on `iif` at
    /// `priority`, whatever table it looks up (`ip rule del iif IIF
    /// priority P`; ENOENT when there is none).
    pub async fn del_rule(&self, iif: &str, priority: u32) -> Result<()> {
        let what = format!("delete rule iif {iif} priority {priority}");
        let mut req = self
            .handle
            .rule()
            .add()
            .v4()
            .priority(priority)
            .input_interface(iif.to_string());
        let mut msg = req.message_mut().clone();
        msg.header.table = 0;
        self.handle
            .rule()
            .del(msg)
            .execute()
            .await
            .map_err(|e| self.fail(&what, e))
    }

    /// The destinations of the IPv4 routes, in every table, that a BGP
    /// daemon wrote (BIRD's `proto bird`, FRR's `proto bgp`) through
    /// `link`: `ip -4 route show table all dev LINK`, those of BGP.
    pub async fn bgp_routes_through(&self, link: &str) -> Result<Vec<Ipv4Net>> {
        let what = format!("list the BGP routes through {link}");
        let index = self.index(&what, link).await?;
        let dump = RouteMessageBuilder::<Ipv4Addr>::new().build();
        let routes: Vec<RouteMessage> = self
            .handle
            .route()
            .get(dump)
            .execute()
            .try_collect()
            .await
            .map_err(|e| self.fail(&what, e))?;
        let by_bgp = |r: &RouteMessage| {
            matches!(r.header.protocol, RouteProtocol::Bird | RouteProtocol::Bgp)
                && r.attributes
                    .iter()
                    .any(|a| matches!(a, RouteAttribute::Oif(i) if *i == index))
        };
        Ok(routes
            .iter()
            .filter(|r| by_bgp(r))
            .filter_map(|r| {
                let dst = r
                    .attributes
                    .iter()
                    .find_map(|a| match a {
                        RouteAttribute::Destination(RouteAddress::Inet(d)) => Some(*d),
                        _ => None,
                    })
                    .unwrap_or(Ipv4Addr::UNSPECIFIED);
                Ipv4Net::new(dst, r.header.destination_prefix_length).ok()
            })
            .collect())
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
}

#[cfg(test)]
mod tests;
