//! Follows the kernel routing table of `[bgp] kernel_table`: a task that
//! subscribes to the kernel's IPv4 route notifications, dumps the table,
//! and sends what it reads, as [`RouteEvent`]s, to the shell's loop, which
//! hands them to the router.
//!
//! The subscription comes first, then the dump: notifications that arrive
//! meanwhile are replayed after the dump, harmlessly (each one states its
//! route's whole state). The table is dumped again when the notifications
//! overran the socket's buffer (`ENOBUFS`: some were lost) and when a
//! link or an address changes, because the kernel removes the routes
//! through a link that goes down without a notification per route.
//!
//! Reading routes needs no privilege: the task works as well after the
//! gateway gave up root. [`route_event`], the translation of a netlink
//! message into plain values, is pure.

use std::io;
use std::net::Ipv4Addr;
use std::time::Duration;

use futures_util::stream::TryStreamExt;
use ipnet::Ipv4Net;
use rtnetlink::packet_core::{NetlinkBuffer, NetlinkMessage, NetlinkPayload};
use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteType,
};
use rtnetlink::packet_route::{AddressFamily, RouteNetlinkMessage};
use rtnetlink::sys::{
    protocols::NETLINK_ROUTE, AsyncSocket, AsyncSocketExt, SocketAddr, TokioSocket,
};
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::kernel_routes::{KernelRoute, RouteEvent};

/// `RTNLGRP_LINK` (1), `RTNLGRP_IPV4_IFADDR` (5) and `RTNLGRP_IPV4_ROUTE`
/// (7), as the bits of a netlink socket address's groups (group N is bit
/// N - 1).
const GROUPS: u32 = group(1) | group(5) | group(7);

/// The bit of netlink multicast group `n`.
const fn group(n: u32) -> u32 {
    1 << (n - 1)
}
/// Receive buffer of the notification socket: a box with a full BGP table
/// in another table sees every change of it.
const MONITOR_BUFFER: usize = 4 << 20;
/// Wait before opening the sockets again after a failure.
const RETRY: Duration = Duration::from_secs(1);

/// What the follower sends: the table it follows (so that events of a
/// table followed before a reload are told apart) and one event.
pub(super) type Followed = (u32, RouteEvent);

/// A running follower; stops when dropped.
pub(super) struct Follower {
    table: u32,
    task: JoinHandle<()>,
}

impl Follower {
    /// Starts following `table` on the current runtime.
    pub(super) fn start(table: u32, to: UnboundedSender<Followed>) -> Follower {
        info!(table, "following the kernel routing table for BGP routes");
        Follower {
            table,
            task: tokio::spawn(follow(table, to)),
        }
    }

    /// The table it follows.
    pub(super) fn table(&self) -> u32 {
        self.table
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Aborts a task when dropped (the netlink connection of a dump).
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Follows `table` for ever, opening the sockets again after a failure;
/// ends when the receiver is gone.
async fn follow(table: u32, to: UnboundedSender<Followed>) {
    loop {
        match follow_once(table, &to).await {
            Ok(()) => return,
            Err(e) => {
                warn!(
                    table,
                    "following the kernel routing table: {e}; again in 1 s"
                );
                tokio::time::sleep(RETRY).await;
            }
        }
    }
}

/// One subscription: dumps, forwards notifications, dumps again after an
/// overrun or a link change. `Ok` when the receiver is gone.
async fn follow_once(table: u32, to: &UnboundedSender<Followed>) -> io::Result<()> {
    let mut monitor = TokioSocket::new(NETLINK_ROUTE)?;
    monitor.socket_mut().bind(&SocketAddr::new(0, GROUPS))?;
    if let Err(e) = monitor.socket_ref().set_rx_buf_sz(MONITOR_BUFFER) {
        warn!("cannot enlarge the route notification buffer: {e}");
    }
    let (conn, handle, _) = rtnetlink::new_connection_with_strict_check()?;
    let _conn = AbortOnDrop(tokio::spawn(conn));
    loop {
        let routes = dump(&handle, table).await?;
        tracing::debug!(table, routes = routes.len(), "kernel table dumped");
        if to.send((table, RouteEvent::Dumped(routes))).is_err() {
            return Ok(());
        }
        loop {
            let datagram = match monitor.recv_from_full().await {
                Ok((d, _)) => d,
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    warn!(
                        table,
                        "route notifications overran the buffer: dumping the table again"
                    );
                    break;
                }
                Err(e) => return Err(e),
            };
            let mut dump_again = false;
            for msg in messages(&datagram) {
                match msg {
                    RouteNetlinkMessage::NewLink(_)
                    | RouteNetlinkMessage::DelLink(_)
                    | RouteNetlinkMessage::DelAddress(_) => dump_again = true,
                    m => {
                        if let Some(e) = route_event(&m, table) {
                            if to.send((table, e)).is_err() {
                                return Ok(());
                            }
                        }
                    }
                }
            }
            if dump_again {
                break;
            }
        }
    }
}

/// The IPv4 routes of `table`.
async fn dump(handle: &rtnetlink::Handle, table: u32) -> io::Result<Vec<KernelRoute>> {
    let mut req = RouteMessage::default();
    req.header.address_family = AddressFamily::Inet;
    // with strict checking the kernel dumps this table only
    req.header.table = u8::try_from(table).unwrap_or(RouteHeader::RT_TABLE_UNSPEC);
    req.attributes.push(RouteAttribute::Table(table));
    let msgs: Vec<RouteMessage> = handle
        .route()
        .get(req)
        .execute()
        .try_collect()
        .await
        .map_err(|e| io::Error::other(format!("dump of table {table}: {e}")))?;
    Ok(msgs.iter().filter_map(|m| kernel_route(m, table)).collect())
}

/// The route messages of a datagram of notifications.
fn messages(datagram: &[u8]) -> Vec<RouteNetlinkMessage> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < datagram.len() {
        let rest = &datagram[at..];
        let len = match NetlinkBuffer::new_checked(rest) {
            Ok(b) => b.length() as usize,
            Err(e) => {
                warn!("undecodable netlink notification: {e}");
                break;
            }
        };
        match NetlinkMessage::<RouteNetlinkMessage>::deserialize(&rest[..len]) {
            Ok(NetlinkMessage {
                payload: NetlinkPayload::InnerMessage(m),
                ..
            }) => out.push(m),
            Ok(_) => {}
            Err(e) => tracing::debug!("netlink notification skipped: {e}"),
        }
        at += (len + 3) & !3;
    }
    out
}

/// The table a route message is about (`RTA_TABLE`, else the header's).
fn table_of(m: &RouteMessage) -> u32 {
    m.attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Table(t) => Some(*t),
            _ => None,
        })
        .unwrap_or(u32::from(m.header.table))
}

/// The prefix and metric of an IPv4 route message of `table`.
fn key(m: &RouteMessage, table: u32) -> Option<(Ipv4Net, u32)> {
    if m.header.address_family != AddressFamily::Inet || table_of(m) != table {
        return None;
    }
    let mut dst = Ipv4Addr::UNSPECIFIED;
    let mut metric = 0;
    for a in &m.attributes {
        match a {
            RouteAttribute::Destination(RouteAddress::Inet(d)) => dst = *d,
            RouteAttribute::Priority(p) => metric = *p,
            _ => {}
        }
    }
    let prefix = Ipv4Net::new(dst, m.header.destination_prefix_length).ok()?;
    Some((prefix.trunc(), metric))
}

/// A route message of `table` as plain values: a unicast route's gateway
/// addresses (every one of a multipath route); none for other kinds.
pub fn kernel_route(m: &RouteMessage, table: u32) -> Option<KernelRoute> {
    let (prefix, metric) = key(m, table)?;
    let mut next_hops = Vec::new();
    if m.header.kind == RouteType::Unicast {
        for a in &m.attributes {
            match a {
                RouteAttribute::Gateway(RouteAddress::Inet(g)) => next_hops.push(*g),
                RouteAttribute::MultiPath(hops) => next_hops.extend(hops.iter().flat_map(|h| {
                    h.attributes.iter().filter_map(|a| match a {
                        RouteAttribute::Gateway(RouteAddress::Inet(g)) => Some(*g),
                        _ => None,
                    })
                })),
                _ => {}
            }
        }
    }
    Some(KernelRoute {
        prefix,
        metric,
        next_hops,
    })
}

/// A route notification of `table` as an event; `None` for other
/// messages, other tables and IPv6.
pub fn route_event(m: &RouteNetlinkMessage, table: u32) -> Option<RouteEvent> {
    match m {
        RouteNetlinkMessage::NewRoute(r) => kernel_route(r, table).map(RouteEvent::Added),
        RouteNetlinkMessage::DelRoute(r) => {
            key(r, table).map(|(prefix, metric)| RouteEvent::Deleted { prefix, metric })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtnetlink::packet_core::NetlinkHeader;
    use rtnetlink::packet_route::route::RouteNextHop;
    use rtnetlink::RouteMessageBuilder;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn via(dst: &str, len: u8, gw: &str, table: u32) -> RouteMessage {
        RouteMessageBuilder::<Ipv4Addr>::new()
            .destination_prefix(ip(dst), len)
            .gateway(ip(gw))
            .priority(32)
            .table_id(table)
            .build()
    }

    #[test]
    fn routes_of_the_followed_table_become_events() {
        let add = RouteNetlinkMessage::NewRoute(via("10.9.0.0", 24, "172.30.0.2", 100));
        assert_eq!(
            route_event(&add, 100),
            Some(RouteEvent::Added(KernelRoute {
                prefix: "10.9.0.0/24".parse().unwrap(),
                metric: 32,
                next_hops: vec![ip("172.30.0.2")],
            }))
        );
        assert_eq!(route_event(&add, 101), None, "another table");
        let del = RouteNetlinkMessage::DelRoute(via("10.9.0.0", 24, "172.30.0.2", 100));
        assert_eq!(
            route_event(&del, 100),
            Some(RouteEvent::Deleted {
                prefix: "10.9.0.0/24".parse().unwrap(),
                metric: 32
            })
        );
        // a table above 255 is in RTA_TABLE; the kernel's header then says
        // RT_TABLE_COMPAT (252)
        let mut big = via("10.9.0.0", 24, "172.30.0.2", 1000);
        big.header.table = 252;
        assert!(kernel_route(&big, 252).is_none());
        assert!(kernel_route(&big, 1000).is_some());
        assert!(kernel_route(&big, 0).is_none());
        // the main table's routes are not ours
        assert!(kernel_route(&via("0.0.0.0", 0, "192.0.2.1", 254), 100).is_none());
    }

    #[test]
    fn multipath_blackhole_and_ipv6_routes() {
        let hop = |g: &str| {
            let mut h = RouteNextHop::default();
            h.attributes = vec![RouteAttribute::Gateway(RouteAddress::Inet(ip(g)))];
            h
        };
        let multi = RouteMessageBuilder::<Ipv4Addr>::new()
            .destination_prefix(ip("10.4.0.0"), 16)
            .multipath(vec![hop("172.30.0.2"), hop("172.30.1.2")])
            .table_id(100)
            .build();
        let r = kernel_route(&multi, 100).unwrap();
        assert_eq!(r.next_hops, [ip("172.30.0.2"), ip("172.30.1.2")]);
        assert_eq!(r.metric, 0);
        let hole = RouteMessageBuilder::<Ipv4Addr>::new()
            .destination_prefix(ip("10.5.0.0"), 16)
            .kind(RouteType::BlackHole)
            .table_id(100)
            .build();
        assert!(kernel_route(&hole, 100).unwrap().next_hops.is_empty());
        let v6 = RouteMessageBuilder::<std::net::Ipv6Addr>::new()
            .destination_prefix("2001:db8::".parse().unwrap(), 32)
            .table_id(100)
            .build();
        assert!(kernel_route(&v6, 100).is_none());
    }

    #[test]
    fn a_datagram_of_several_notifications_is_split() {
        let mut datagram = Vec::new();
        for (i, m) in [
            RouteNetlinkMessage::NewRoute(via("10.9.0.0", 24, "172.30.0.2", 100)),
            RouteNetlinkMessage::DelRoute(via("10.8.0.0", 23, "172.30.0.2", 100)),
        ]
        .into_iter()
        .enumerate()
        {
            let mut msg = NetlinkMessage::new(NetlinkHeader::default(), NetlinkPayload::from(m));
            msg.header.sequence_number = i as u32;
            msg.finalize();
            let mut buf = vec![0; msg.buffer_len()];
            msg.serialize(&mut buf);
            datagram.extend_from_slice(&buf);
        }
        let events: Vec<RouteEvent> = messages(&datagram)
            .iter()
            .filter_map(|m| route_event(m, 100))
            .collect();
        assert_eq!(events.len(), 2);
        assert!(matches!(events[1], RouteEvent::Deleted { metric: 32, .. }));
    }
}
