//! The office side of the sessions: the BIRD of an office node ending a
//! VIF or a BGP VPN (the gateway box, in the example).
//!
//! - router id [`topology::bgp::office_router_id`];
//! - a static protocol holding every prefix it advertises (never exported
//!   to the kernel);
//! - per session: an eBGP protocol to the Amazon address
//!   (`direct`, MD5 from the key file, the file's timers, BFD when the VIF
//!   has it) whose export filter picks the session's prefixes, adds their
//!   communities and
//!   prepends the office ASN `prepend` extra times, and whose import
//!   filter sets the session's local preference;
//! - the best routes into kernel table [`super::OFFICE_KERNEL_TABLE`],
//!   which the office gateway follows (`[bgp] kernel_table`).

use topology::bgp::config::DEFAULT_LOCAL_PREF;
use topology::model::{NodeId, Topology};

use super::conf::{
    BfdInterfaces, Bgp, BirdConfig, Channel, ChannelOption, Filter, Item, Policy, Protocol,
    Section, StaticRoute, Stmt, Symbol, Via,
};
use super::Session;

/// The static protocol holding the prefixes the node advertises.
pub const PREFIXES_PROTOCOL: &str = "vifgate_prefixes";

/// A section of one item after a comment.
fn section(comment: String, item: Item) -> Section {
    Section {
        comment: Some(comment),
        items: vec![item],
    }
}

/// The office node's configuration for its sessions (see
/// [`config_value`]), as text.
pub fn config(t: &Topology, node: NodeId, sessions: &[&Session]) -> String {
    config_value(t, node, sessions).to_string()
}

/// The office node's configuration for its sessions.
pub fn config_value(t: &Topology, node: NodeId, sessions: &[&Session]) -> BirdConfig {
    let bfd = sessions
        .iter()
        .filter_map(|x| {
            x.bfd().map(|bfd| BfdInterfaces {
                patterns: vec![x.office_ifname.clone(), format!("{}.*", x.office_ifname)],
                bfd,
            })
        })
        .collect();
    // every prefix the node advertises, in one static protocol: BGP
    // exports the best route of a prefix only, so each session's filter
    // picks its own prefixes from this one
    let mut all: Vec<ipnet::Ipv4Net> = sessions
        .iter()
        .flat_map(|x| x.spec.advertised.iter().map(|p| p.prefix))
        .collect();
    all.sort_unstable();
    all.dedup();
    let mut sections = vec![section(
        "what the office advertises (never written to the kernel)".into(),
        Item::Protocol(Protocol::Static {
            name: Symbol::lab(PREFIXES_PROTOCOL),
            channel: Channel::inline(vec![]),
            routes: all
                .into_iter()
                .map(|prefix| StaticRoute {
                    prefix,
                    via: Via::Unreachable,
                })
                .collect(),
        }),
    )];
    for x in sessions {
        let (kind, name) = (x.spec.kind(), &x.spec.name);
        let export = Symbol::SessionExport(kind, name.clone());
        // export: the session's prefixes with their attributes
        let mut body = vec![Stmt::RejectUnlessProto(Symbol::lab(PREFIXES_PROTOCOL))];
        if x.spec.advertised.is_empty() {
            body.push(Stmt::Reject);
        } else {
            body.push(Stmt::RejectUnlessNetIn(
                x.spec.advertised.iter().map(|p| p.prefix).collect(),
            ));
        }
        body.extend(
            x.spec
                .advertised
                .iter()
                .filter(|p| !p.communities.is_empty() || p.prepend > 0)
                .map(|p| Stmt::IfNet {
                    net: p.prefix,
                    communities: p.communities.clone(),
                    prepend: vec![x.spec.office_asn; usize::from(p.prepend)],
                }),
        );
        body.push(Stmt::Accept);
        sections.push(section(
            format!("what {name} advertises, with its communities and prepends"),
            Item::Filter(Filter {
                name: export.clone(),
                body,
            }),
        ));
        let bgp = Bgp {
            name: Symbol::Session(kind, name.clone()),
            disabled: x.spec.configured_down,
            local: (x.spec.office_address, x.spec.office_asn),
            neighbor: (x.spec.amazon_address, x.spec.amazon_asn),
            password_file: Some(x.key_file.clone()),
            hold: x.spec.settings.hold_time,
            keepalive: x.spec.settings.keepalive,
            bfd: x.bfd().is_some(),
            channel: Channel::block(vec![
                ChannelOption::Import(Policy::SetLocalPref(
                    x.spec
                        .settings
                        .local_preference
                        .unwrap_or(DEFAULT_LOCAL_PREF),
                )),
                ChannelOption::Export(Policy::Filter(export)),
            ]),
        };
        sections.push(section(name.clone(), Item::Protocol(Protocol::Bgp(bgp))));
    }
    sections.push(section(
        format!(
            "the best routes, for the office gateway (`[bgp] kernel_table = {}`)",
            super::OFFICE_KERNEL_TABLE
        ),
        Item::Protocol(Protocol::Kernel {
            name: Symbol::lab("vifgate_kernel"),
            channel: Channel::inline(vec![
                ChannelOption::Import(Policy::None),
                ChannelOption::Export(Policy::FromBgp),
            ]),
            kernel_table: Some(super::OFFICE_KERNEL_TABLE),
            metric: None,
        }),
    ));
    BirdConfig {
        what: format!("office node {}", t.nodes[node].name),
        router_id: topology::bgp::office_router_id(t, node),
        bfd,
        sections,
    }
}
