//! AWS's side of the sessions: the BIRD of the lab's VGW (`L+vgw`).
//!
//! - one eBGP protocol per session, named after the VIF or VPN, on the
//!   link's addresses (`direct`: TTL 1), its MD5 key included from a file,
//!   AWS's timers (DX hold 90 / keepalive 30, VPN 30 / 10), BFD when the
//!   VIF has it (AWS's 300 ms x 3), `import limit 100 action disable`;
//! - AWS's order of sources as BIRD preferences, compared before anything
//!   else: [`PREFERENCE_DX`] > [`PREFERENCE_VPN_STATIC`] >
//!   [`PREFERENCE_VPN_BGP`];
//! - the communities 7224:7100/7200/7300 as local preference 100/200/300,
//!   none as 200 (AWS's medium);
//! - the VPC's CIDR advertised to the office (AS path: the Amazon ASN);
//! - the best routes into the main table through the TUN device of the
//!   tunnel that carries that session's traffic;
//! - an iBGP session with the VPC router's BIRD (when a route table
//!   propagates), next hop self.

use topology::bgp::{Community, SessionKind};
use topology::model::Topology;

use super::conf::{
    BfdInterfaces, Bgp, BirdConfig, Channel, ChannelOption, Filter, Item, Policy, Protocol,
    Section, StaticRoute, Stmt, Symbol, Via,
};
use super::{Session, Tunnels};

/// BIRD preference of routes learned over Direct Connect.
pub const PREFERENCE_DX: u32 = 200;
/// BIRD preference of a static VPN's routes.
pub const PREFERENCE_VPN_STATIC: u32 = 150;
/// BIRD preference of routes learned over a BGP VPN.
pub const PREFERENCE_VPN_BGP: u32 = 100;
/// The prefix limit AWS applies per session.
pub const PREFIX_LIMIT: u32 = 100;
/// The VGW's iBGP protocol to the VPC router.
pub const VPC_PROTOCOL: &str = "vifgate_vpc_router";
/// The static protocol holding the VPC's CIDR.
pub const VPC_CIDR_PROTOCOL: &str = "vifgate_vpc_cidr";

/// A section after a comment.
fn section(comment: String, items: Vec<Item>) -> Section {
    Section {
        comment: Some(comment),
        items,
    }
}

/// The VGW's configuration (see [`config_value`]), as text.
pub fn config(t: &Topology, sessions: &[Session], tunnels: &Tunnels, to_vpc: bool) -> String {
    config_value(t, sessions, tunnels, to_vpc).to_string()
}

/// The VGW's configuration. `to_vpc`: whether a route table propagates
/// (then the iBGP session to the VPC router's BIRD is configured).
pub fn config_value(
    t: &Topology,
    sessions: &[Session],
    tunnels: &Tunnels,
    to_vpc: bool,
) -> BirdConfig {
    // BFD: AWS's 300 ms x 3 wherever the office asks for it
    let mut bfd = Vec::new();
    if sessions.iter().any(|x| x.bfd().is_some()) {
        bfd.push(BfdInterfaces {
            patterns: vec!["*".into()],
            bfd: topology::bgp::Bfd {
                interval: topology::bgp::config::MIN_BFD_INTERVAL,
                multiplier: topology::bgp::config::MIN_BFD_MULTIPLIER,
            },
        });
    }
    let aws_import = Symbol::lab("aws_import");
    let mut sections = vec![section(
        "AWS's local preference from the office's communities (none: medium)".into(),
        vec![Item::Filter(Filter {
            name: aws_import.clone(),
            body: vec![
                Stmt::LocalPrefByCommunity {
                    by: vec![
                        (Community::AWS_HIGH, 300),
                        (Community::AWS_MEDIUM, 200),
                        (Community::AWS_LOW, 100),
                    ],
                    otherwise: 200,
                },
                Stmt::Accept,
            ],
        })],
    )];
    if let Some(vpc) = &t.vpc {
        sections.push(section(
            "the VPC's CIDR, advertised to the office".into(),
            vec![Item::Protocol(Protocol::Static {
                name: Symbol::lab(VPC_CIDR_PROTOCOL),
                channel: Channel::inline(vec![]),
                routes: vec![StaticRoute {
                    prefix: vpc.cidr,
                    via: Via::Gateway(crate::layout::VGW_LINK_ROUTER),
                }],
            })],
        ));
    }
    for x in sessions {
        let (hold, keepalive) = x.aws_timers();
        let what = match x.spec.kind() {
            SessionKind::DirectConnect => "Direct Connect VIF",
            SessionKind::Vpn => "Site-to-Site VPN, BGP",
        };
        let bgp = Bgp {
            name: Symbol::Session(x.spec.kind(), x.spec.name.clone()),
            disabled: false,
            local: (x.spec.amazon_address, x.spec.amazon_asn),
            neighbor: (x.spec.office_address, x.spec.office_asn),
            password_file: Some(x.key_file.clone()),
            hold: Some(hold),
            keepalive: Some(keepalive),
            bfd: x.bfd().is_some(),
            channel: Channel::block(vec![
                ChannelOption::Preference(x.aws_preference()),
                ChannelOption::Import(Policy::Filter(aws_import.clone())),
                ChannelOption::ImportLimit(PREFIX_LIMIT),
                ChannelOption::Export(Policy::FromProtocols(vec![Symbol::lab(VPC_CIDR_PROTOCOL)])),
            ]),
        };
        sections.push(section(
            format!("{} ({what})", x.spec.name),
            vec![Item::Protocol(Protocol::Bgp(bgp))],
        ));
    }
    // the sources of the office's routes, each with its tunnel
    let mut sources: Vec<(Symbol, String)> = sessions
        .iter()
        .map(|x| {
            let name = Symbol::Session(x.spec.kind(), x.spec.name.clone());
            (name, x.vgw_tun.clone())
        })
        .collect();
    // a static VPN: its prefixes as static routes into its tunnel
    if let (Some(vpn), Some(tun)) = (&t.vpn, &tunnels.vpn_tun) {
        if !vpn.bgp {
            let name = Symbol::Session(SessionKind::Vpn, vpn.name.clone());
            let routes = if vpn.up { vpn.prefixes() } else { Vec::new() };
            sections.push(section(
                format!("{} (Site-to-Site VPN, static routing)", vpn.name),
                vec![Item::Protocol(Protocol::Static {
                    name: name.clone(),
                    channel: Channel::inline(vec![ChannelOption::Preference(
                        PREFERENCE_VPN_STATIC,
                    )]),
                    routes: routes
                        .into_iter()
                        .map(|prefix| StaticRoute {
                            prefix,
                            via: Via::Interface(tun.clone()),
                        })
                        .collect(),
                })],
            ));
            sources.push((name, tun.clone()));
        }
    }
    // the best route of each office prefix into the main table, out of
    // the tunnel of the session (or static VPN) it came from
    let to_tunnels = Symbol::lab("to_tunnels");
    let mut body: Vec<Stmt> = sources
        .iter()
        .map(|(proto, tun)| Stmt::IfProtoIfname {
            proto: proto.clone(),
            ifname: tun.clone(),
        })
        .collect();
    body.push(Stmt::Reject);
    sections.push(section(
        "the best routes, each through its tunnel's TUN device".into(),
        vec![
            Item::Filter(Filter {
                name: to_tunnels.clone(),
                body,
            }),
            Item::Protocol(Protocol::Kernel {
                name: Symbol::lab("vifgate_kernel"),
                channel: Channel::inline(vec![
                    ChannelOption::Import(Policy::None),
                    ChannelOption::Export(Policy::Filter(to_tunnels)),
                ]),
                kernel_table: None,
                metric: None,
            }),
        ],
    ));
    if to_vpc {
        let asn = super::amazon_asn(t);
        let bgp = Bgp {
            name: Symbol::lab(VPC_PROTOCOL),
            disabled: false,
            local: (crate::layout::VGW_LINK_VGW, asn),
            neighbor: (crate::layout::VGW_LINK_ROUTER, asn),
            password_file: None,
            hold: None,
            keepalive: None,
            bfd: false,
            channel: Channel::block(vec![
                ChannelOption::Import(Policy::None),
                ChannelOption::Export(Policy::FromProtocols(
                    sources.into_iter().map(|(p, _)| p).collect(),
                )),
                ChannelOption::NextHopSelf,
            ]),
        };
        sections.push(section(
            "propagation: the best routes to the VPC router's BIRD".into(),
            vec![Item::Protocol(Protocol::Bgp(bgp))],
        ));
    }
    BirdConfig {
        what: "AWS's side (the virtual private gateway)".into(),
        router_id: topology::bgp::VGW_ROUTER_ID,
        bfd,
        sections,
    }
}
