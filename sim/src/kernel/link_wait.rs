//! The wait for veth links to carry traffic once they are set up.

use std::time::{Duration, Instant};

use futures_util::TryStreamExt;
use rtnetlink::packet_route::link::{
    BridgePortState, InfoBridgePort, InfoPortData, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};

use crate::kernel::netlink::Netlink;

/// Waits (at most `timeout`) until the named links of a namespace are
/// running; whether they all were in time. A veth set up does not carry
/// traffic at once: the kernel's link watcher turns it on (and a bridge
/// port to forwarding) up to a second later — always that late when its
/// peer has the same interface index in its own namespace — and drops
/// what is sent on it meanwhile. Links not found are not waited for.
pub(crate) async fn wait_running(nl: &Netlink, names: &[&str], timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    let mut pending: Vec<&str> = names.to_vec();
    loop {
        // one request per link, by name: the kernel settles a link's
        // pending state changes when it is asked about that link, where a
        // dump of all links may wait for its link watcher (up to a second)
        let mut still = Vec::new();
        for &name in &pending {
            let got = nl
                .handle()
                .link()
                .get()
                .match_name(name.to_string())
                .execute()
                .try_next()
                .await;
            match got {
                Ok(Some(l)) if running(&l) => {}
                Ok(Some(_)) => still.push(name),
                // gone or unreadable: nothing to wait for
                _ => {}
            }
        }
        pending = still;
        if pending.is_empty() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Whether a link is running: its carrier on as the kernel's link watcher
/// sees it and, for a bridge port, forwarding.
fn running(l: &LinkMessage) -> bool {
    if !l.header.flags.contains(LinkFlags::Running) {
        return false;
    }
    !l.attributes.iter().any(|a| match a {
        LinkAttribute::LinkInfo(infos) => infos.iter().any(|i| match i {
            LinkInfo::PortData(InfoPortData::BridgePort(p)) => p.iter().any(
                |x| matches!(x, InfoBridgePort::State(s) if *s != BridgePortState::Forwarding),
            ),
            _ => false,
        }),
        _ => false,
    })
}
