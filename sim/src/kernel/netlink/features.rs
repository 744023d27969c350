//! Which optional kernel features are there ([`detect_features`]): each is
//! tried in a scratch namespace and removed again.

use rtnetlink::packet_core::{NLM_F_CREATE, NLM_F_REPLACE};
use rtnetlink::packet_route::link::LinkMessage;
use rtnetlink::packet_route::tc::{TcHandle, TcMessage};
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::{LinkDummy, LinkVxlan, LinkWireguard};

use super::qdisc::{htb_options, netem_options, qdisc_message, tbf_options, NetemParams};
use super::{Netlink, NetlinkError, SHAPING_HANDLE};
use crate::kernel::netns::Netns;
use crate::kernel::shaping::KernelFeatures;

impl Netlink {
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
