//! BIRD 2's configuration language as values: a [`BirdConfig`] of
//! [`Section`]s holding [`Filter`]s, [`Protocol`]s and tables, written by
//! [`fmt::Display`], the one place that writes BIRD's text. Every name
//! goes through [`crate::render::names`]: a session's symbols through
//! [`crate::bgp::names`] (built on [`crate::render::names::bird_symbol`]),
//! strings through [`bird_string`], comments through [`comment`].

use std::fmt;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use ipnet::Ipv4Net;
use topology::bgp::{Bfd, Community, SessionKind};

use crate::bgp::names::{export_symbol, protocol_name, symbol};
use crate::render::names::{bird_string, comment};

/// A BIRD configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BirdConfig {
    /// What this BIRD plays (the first comment).
    pub what: String,
    /// `router id`.
    pub router_id: Ipv4Addr,
    /// `protocol bfd vifgate_bfd`'s interface blocks (none: no BFD).
    pub bfd: Vec<BfdInterfaces>,
    /// The rest, in order.
    pub sections: Vec<Section>,
}

/// A BFD interface block: the interface patterns and BFD's timers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BfdInterfaces {
    /// Interface name patterns (a VIF's link and its VLAN sub-interface:
    /// `dxa99a4d7a`, `dxa99a4d7a.*`; `*`).
    pub patterns: Vec<String>,
    /// Interval and multiplier.
    pub bfd: Bfd,
}

/// Items after a blank line and an optional comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// The comment (a topology name may be part of it).
    pub comment: Option<String>,
    /// The items.
    pub items: Vec<Item>,
}

/// A top-level item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// `ipv4 table NAME;`.
    Table(Symbol),
    /// A named filter.
    Filter(Filter),
    /// A protocol.
    Protocol(Protocol),
}

/// A symbol: a filter's, a protocol's or a table's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Symbol {
    /// One of the lab's own (`vifgate_kernel`, `t0`): a plain word, no
    /// topology name in it.
    Lab(String),
    /// A session's protocol, named after its VIF or VPN
    /// ([`crate::bgp::names::symbol`]).
    Session(SessionKind, String),
    /// A session's export filter ([`crate::bgp::names::export_symbol`]).
    SessionExport(SessionKind, String),
}

impl Symbol {
    /// A symbol of the lab's own.
    pub fn lab(name: impl Into<String>) -> Self {
        Symbol::Lab(name.into())
    }

    /// The name BIRD shows (what `proto` compares with).
    pub fn name(&self) -> String {
        match self {
            Symbol::Lab(n) => n.clone(),
            Symbol::Session(k, n) => protocol_name(*k, n),
            Symbol::SessionExport(k, n) => format!("{}.export", protocol_name(*k, n)),
        }
    }
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Symbol::Lab(n) => f.write_str(n),
            Symbol::Session(k, n) => f.write_str(&symbol(*k, n)),
            Symbol::SessionExport(k, n) => f.write_str(&export_symbol(*k, n)),
        }
    }
}

/// `filter NAME { ... }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// Its name.
    pub name: Symbol,
    /// Its statements, in order.
    pub body: Vec<Stmt>,
}

/// A filter statement (the few forms the lab writes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stmt {
    /// `accept;`.
    Accept,
    /// `reject;`.
    Reject,
    /// `if proto != "P" then reject;`.
    RejectUnlessProto(Symbol),
    /// `if net !~ [ A, B ] then reject;`.
    RejectUnlessNetIn(Vec<Ipv4Net>),
    /// `if net = P then { bgp_community.add((A,B)); bgp_path.prepend(N); }`.
    IfNet {
        /// The prefix.
        net: Ipv4Net,
        /// Communities added.
        communities: Vec<Community>,
        /// ASNs prepended, in order.
        prepend: Vec<u32>,
    },
    /// `if proto = "P" then { ifname = "I"; accept; }`.
    IfProtoIfname {
        /// The protocol the route came from.
        proto: Symbol,
        /// The interface it goes out of.
        ifname: String,
    },
    /// `if C ~ bgp_community then bgp_local_pref = N; else if ... else
    /// bgp_local_pref = D;`.
    LocalPrefByCommunity {
        /// Each community and its local preference, first match wins.
        by: Vec<(Community, u32)>,
        /// Without any of them.
        otherwise: u32,
    },
}

/// A protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Protocol {
    /// `protocol static`.
    Static {
        /// Its name.
        name: Symbol,
        /// Its IPv4 channel.
        channel: Channel,
        /// Its routes.
        routes: Vec<StaticRoute>,
    },
    /// `protocol bgp`.
    Bgp(Bgp),
    /// `protocol kernel` (`learn off`).
    Kernel {
        /// Its name.
        name: Symbol,
        /// Its IPv4 channel.
        channel: Channel,
        /// `kernel table N` (none: main).
        kernel_table: Option<u32>,
        /// `metric N`.
        metric: Option<u32>,
    },
    /// `protocol pipe` from `table` to `peer_table`: `import none; export
    /// all;`.
    Pipe {
        /// Its name.
        name: Symbol,
        /// Its table.
        table: Symbol,
        /// The other table.
        peer_table: Symbol,
    },
}

/// A static route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticRoute {
    /// The prefix.
    pub prefix: Ipv4Net,
    /// Where it goes.
    pub via: Via,
}

/// A static route's destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// `unreachable`.
    Unreachable,
    /// `via A`.
    Gateway(Ipv4Addr),
    /// `via "IFNAME"`.
    Interface(String),
}

/// `protocol bgp`: a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bgp {
    /// Its name.
    pub name: Symbol,
    /// `disabled;`: configured down.
    pub disabled: bool,
    /// `local A as N`.
    pub local: (Ipv4Addr, u32),
    /// `neighbor A as N`.
    pub neighbor: (Ipv4Addr, u32),
    /// The file holding `password "...";`, included.
    pub password_file: Option<PathBuf>,
    /// `hold time`.
    pub hold: Option<u16>,
    /// `keepalive time`.
    pub keepalive: Option<u16>,
    /// `bfd on;`.
    pub bfd: bool,
    /// Its IPv4 channel.
    pub channel: Channel,
}

/// An `ipv4` channel: on one line (`ipv4 { a; b; };`, `ipv4;`) or one
/// option a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    /// On one line.
    pub inline: bool,
    /// Its options, in order.
    pub options: Vec<ChannelOption>,
}

/// A channel option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelOption {
    /// `table NAME`.
    Table(Symbol),
    /// `preference N`.
    Preference(u32),
    /// `import ...`.
    Import(Policy),
    /// `import limit N action disable`.
    ImportLimit(u32),
    /// `export ...`.
    Export(Policy),
    /// `next hop self`.
    NextHopSelf,
}

/// What an import or export lets through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Policy {
    /// `all`.
    All,
    /// `none`.
    None,
    /// `filter NAME`.
    Filter(Symbol),
    /// `where proto = "A" || proto = "B"` (`false` for none).
    FromProtocols(Vec<Symbol>),
    /// `where source = RTS_BGP`.
    FromBgp,
    /// `filter { bgp_local_pref = N; accept; }`.
    SetLocalPref(u32),
}

impl Channel {
    /// A channel on one line.
    pub fn inline(options: Vec<ChannelOption>) -> Self {
        Channel {
            inline: true,
            options,
        }
    }

    /// A channel of one option a line.
    pub fn block(options: Vec<ChannelOption>) -> Self {
        Channel {
            inline: false,
            options,
        }
    }
}

/// The session timers of the lab: the first connection after a second,
/// and a session that went down (BFD, hold timer, a cut link taken up
/// again) retried within seconds instead of BIRD's minutes.
pub const LAB_RETRY: &str =
    "    connect delay time 1;\n    connect retry time 1;\n    error wait time 1, 5;\n    error forget time 10;\n";

impl fmt::Display for BirdConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "# generated by `vifgate sim up`: {}",
            comment(&self.what)
        )?;
        writeln!(f, "router id {};\nlog stderr all;", self.router_id)?;
        writeln!(
            f,
            "# interfaces (the TUN devices of the gateways, the links) as they come and go"
        )?;
        writeln!(f, "protocol device vifgate_device {{ scan time 1; }}")?;
        if !self.bfd.is_empty() {
            writeln!(f, "protocol bfd vifgate_bfd {{")?;
            for b in &self.bfd {
                let ms = b.bfd.interval.as_millis();
                let list: Vec<String> = b.patterns.iter().map(|p| bird_string(p)).collect();
                writeln!(
                    f,
                    "    interface {} {{ min rx interval {ms} ms; min tx interval {ms} ms; idle tx interval 1000 ms; multiplier {}; }};",
                    list.join(", "),
                    b.bfd.multiplier
                )?;
            }
            writeln!(f, "}}")?;
        }
        for s in &self.sections {
            writeln!(f)?;
            if let Some(c) = &s.comment {
                writeln!(f, "# {}", comment(c))?;
            }
            for i in &s.items {
                match i {
                    Item::Table(t) => writeln!(f, "ipv4 table {t};")?,
                    Item::Filter(x) => write!(f, "{x}")?,
                    Item::Protocol(p) => write!(f, "{p}")?,
                }
            }
        }
        Ok(())
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "filter {} {{", self.name)?;
        for s in &self.body {
            write!(f, "{s}")?;
        }
        writeln!(f, "}}")
    }
}

impl fmt::Display for Stmt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stmt::Accept => writeln!(f, "    accept;"),
            Stmt::Reject => writeln!(f, "    reject;"),
            Stmt::RejectUnlessProto(p) => {
                writeln!(f, "    if proto != {} then reject;", bird_string(&p.name()))
            }
            Stmt::RejectUnlessNetIn(nets) => {
                let list: Vec<String> = nets.iter().map(|n| n.to_string()).collect();
                writeln!(f, "    if net !~ [ {} ] then reject;", list.join(", "))
            }
            Stmt::IfNet {
                net,
                communities,
                prepend,
            } => {
                write!(f, "    if net = {net} then {{")?;
                for c in communities {
                    write!(f, " bgp_community.add(({},{}));", c.0, c.1)?;
                }
                for asn in prepend {
                    write!(f, " bgp_path.prepend({asn});")?;
                }
                writeln!(f, " }}")
            }
            Stmt::IfProtoIfname { proto, ifname } => writeln!(
                f,
                "    if proto = {} then {{ ifname = {}; accept; }}",
                bird_string(&proto.name()),
                bird_string(ifname)
            ),
            Stmt::LocalPrefByCommunity { by, otherwise } => {
                for (i, (c, pref)) in by.iter().enumerate() {
                    let el = if i == 0 { "" } else { "else " };
                    writeln!(
                        f,
                        "    {el}if ({},{}) ~ bgp_community then bgp_local_pref = {pref};",
                        c.0, c.1
                    )?;
                }
                let el = if by.is_empty() { "" } else { "else " };
                writeln!(f, "    {el}bgp_local_pref = {otherwise};")
            }
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Protocol::Static {
                name,
                channel,
                routes,
            } => {
                write!(f, "protocol static {name} {{\n{channel}")?;
                for r in routes {
                    write!(f, "    route {} ", r.prefix)?;
                    match &r.via {
                        Via::Unreachable => writeln!(f, "unreachable;")?,
                        Via::Gateway(a) => writeln!(f, "via {a};")?,
                        Via::Interface(i) => writeln!(f, "via {};", bird_string(i))?,
                    }
                }
            }
            Protocol::Bgp(b) => write!(f, "{b}")?,
            Protocol::Kernel {
                name,
                channel,
                kernel_table,
                metric,
            } => {
                write!(f, "protocol kernel {name} {{\n{channel}")?;
                if let Some(t) = kernel_table {
                    writeln!(f, "    kernel table {t};")?;
                }
                if let Some(m) = metric {
                    writeln!(f, "    metric {m};")?;
                }
                writeln!(f, "    learn off;")?;
            }
            Protocol::Pipe {
                name,
                table,
                peer_table,
            } => {
                writeln!(f, "protocol pipe {name} {{")?;
                writeln!(f, "    table {table};\n    peer table {peer_table};")?;
                writeln!(f, "    import none;\n    export all;")?;
            }
        }
        writeln!(f, "}}")
    }
}

/// The line of a BGP protocol that reads its MD5 password from its key
/// file (`password "...";`, written with mode 600 by `sim up`), so that
/// the configuration holds no secret.
pub fn password_include(key_file: &std::path::Path) -> String {
    format!(
        "    include {};\n",
        bird_string(&key_file.display().to_string())
    )
}

impl fmt::Display for Bgp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "protocol bgp {} {{", self.name)?;
        if self.disabled {
            writeln!(f, "    disabled;")?;
        }
        writeln!(f, "    local {} as {};", self.local.0, self.local.1)?;
        writeln!(
            f,
            "    neighbor {} as {};",
            self.neighbor.0, self.neighbor.1
        )?;
        writeln!(f, "    direct;")?;
        if let Some(p) = &self.password_file {
            f.write_str(&password_include(p))?;
        }
        if let Some(h) = self.hold {
            writeln!(f, "    hold time {h};")?;
        }
        if let Some(k) = self.keepalive {
            writeln!(f, "    keepalive time {k};")?;
        }
        f.write_str(LAB_RETRY)?;
        if self.bfd {
            writeln!(f, "    bfd on;")?;
        }
        write!(f, "{}", self.channel)
    }
}

/// A channel, its last line ended.
impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.options.is_empty() {
            return writeln!(f, "    ipv4;");
        }
        if self.inline {
            f.write_str("    ipv4 {")?;
            for o in &self.options {
                write!(f, " {o};")?;
            }
            return writeln!(f, " }};");
        }
        writeln!(f, "    ipv4 {{")?;
        for o in &self.options {
            writeln!(f, "        {o};")?;
        }
        writeln!(f, "    }};")
    }
}

impl fmt::Display for ChannelOption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChannelOption::Table(t) => write!(f, "table {t}"),
            ChannelOption::Preference(p) => write!(f, "preference {p}"),
            ChannelOption::Import(p) => write!(f, "import {p}"),
            ChannelOption::ImportLimit(n) => write!(f, "import limit {n} action disable"),
            ChannelOption::Export(p) => write!(f, "export {p}"),
            ChannelOption::NextHopSelf => f.write_str("next hop self"),
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Policy::All => f.write_str("all"),
            Policy::None => f.write_str("none"),
            Policy::Filter(s) => write!(f, "filter {s}"),
            Policy::FromProtocols(ps) if ps.is_empty() => f.write_str("where false"),
            Policy::FromProtocols(ps) => {
                let list: Vec<String> = ps
                    .iter()
                    .map(|p| format!("proto = {}", bird_string(&p.name())))
                    .collect();
                write!(f, "where {}", list.join(" || "))
            }
            Policy::FromBgp => f.write_str("where source = RTS_BGP"),
            Policy::SetLocalPref(n) => write!(f, "filter {{ bgp_local_pref = {n}; accept; }}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn config(bfd: Vec<BfdInterfaces>, sections: Vec<Section>) -> BirdConfig {
        BirdConfig {
            what: "a test\nprotocol x".into(),
            router_id: Ipv4Addr::new(10, 0, 0, 1),
            bfd,
            sections,
        }
    }

    #[test]
    fn bfd_blocks_carry_interval_and_multiplier() {
        let b = Bfd {
            interval: Duration::from_millis(300),
            multiplier: 3,
        };
        let with = config(
            vec![BfdInterfaces {
                patterns: vec!["dx0".into(), "dx0.*".into()],
                bfd: b,
            }],
            vec![],
        )
        .to_string();
        assert!(
            with.contains(
                "protocol bfd vifgate_bfd {\n    interface \"dx0\", \"dx0.*\" { min rx interval 300 ms; min tx interval 300 ms;"
            ),
            "{with}"
        );
        assert!(with.contains("multiplier 3;"));
        assert!(!config(vec![], vec![]).to_string().contains("bfd"));
    }

    #[test]
    fn a_configuration_renders_as_bird_reads_it() {
        let net: Ipv4Net = "192.168.10.0/24".parse().expect("net");
        let vif = (SessionKind::DirectConnect, "filter".to_string());
        let session = Symbol::Session(vif.0, vif.1.clone());
        let export = Symbol::SessionExport(vif.0, vif.1.clone());
        let c = config(
            vec![],
            vec![
                Section {
                    comment: Some("what \"filter\" advertises".into()),
                    items: vec![Item::Filter(Filter {
                        name: export.clone(),
                        body: vec![
                            Stmt::RejectUnlessProto(Symbol::lab("p")),
                            Stmt::RejectUnlessNetIn(vec![net]),
                            Stmt::IfNet {
                                net,
                                communities: vec![Community::AWS_HIGH],
                                prepend: vec![65010, 65010],
                            },
                            Stmt::IfProtoIfname {
                                proto: session.clone(),
                                ifname: "vg0".into(),
                            },
                            Stmt::Accept,
                        ],
                    })],
                },
                Section {
                    comment: None,
                    items: vec![
                        Item::Table(Symbol::lab("t0")),
                        Item::Protocol(Protocol::Bgp(Bgp {
                            name: session.clone(),
                            disabled: true,
                            local: (Ipv4Addr::new(1, 1, 1, 1), 65010),
                            neighbor: (Ipv4Addr::new(1, 1, 1, 2), 64512),
                            password_file: Some("/run/k \"x\".conf".into()),
                            hold: Some(9),
                            keepalive: None,
                            bfd: true,
                            channel: Channel::block(vec![
                                ChannelOption::Import(Policy::SetLocalPref(250)),
                                ChannelOption::Export(Policy::Filter(export)),
                                ChannelOption::Export(Policy::FromProtocols(vec![])),
                                ChannelOption::Export(Policy::FromProtocols(vec![
                                    session,
                                    Symbol::lab("s"),
                                ])),
                            ]),
                        })),
                        Item::Protocol(Protocol::Static {
                            name: Symbol::lab("s"),
                            channel: Channel::inline(vec![]),
                            routes: vec![StaticRoute {
                                prefix: net,
                                via: Via::Interface("vg\"1".into()),
                            }],
                        }),
                    ],
                },
            ],
        );
        let want = "# generated by `vifgate sim up`: a test protocol x
router id 10.0.0.1;
log stderr all;
# interfaces (the TUN devices of the gateways, the links) as they come and go
protocol device vifgate_device { scan time 1; }

# what \"filter\" advertises
filter 'dx.filter.export' {
    if proto != \"p\" then reject;
    if net !~ [ 192.168.10.0/24 ] then reject;
    if net = 192.168.10.0/24 then { bgp_community.add((7224,7300)); bgp_path.prepend(65010); bgp_path.prepend(65010); }
    if proto = \"dx.filter\" then { ifname = \"vg0\"; accept; }
    accept;
}

ipv4 table t0;
protocol bgp 'dx.filter' {
    disabled;
    local 1.1.1.1 as 65010;
    neighbor 1.1.1.2 as 64512;
    direct;
    include \"/run/k 'x'.conf\";
    hold time 9;
    connect delay time 1;
    connect retry time 1;
    error wait time 1, 5;
    error forget time 10;
    bfd on;
    ipv4 {
        import filter { bgp_local_pref = 250; accept; };
        export filter 'dx.filter.export';
        export where false;
        export where proto = \"dx.filter\" || proto = \"s\";
    };
}
protocol static s {
    ipv4;
    route 192.168.10.0/24 via \"vg'1\";
}
";
        assert_eq!(c.to_string(), want);
    }

    #[test]
    fn kernel_and_pipe_protocols_with_inline_channels() {
        let t0 = Symbol::lab("t0");
        let pipe = Protocol::Pipe {
            name: Symbol::lab("p0"),
            table: Symbol::lab("master4"),
            peer_table: t0.clone(),
        };
        assert_eq!(
            pipe.to_string(),
            "protocol pipe p0 {\n    table master4;\n    peer table t0;\n    import none;\n    export all;\n}\n"
        );
        let kernel = Protocol::Kernel {
            name: Symbol::lab("rt0"),
            channel: Channel::inline(vec![
                ChannelOption::Table(t0),
                ChannelOption::Import(Policy::None),
                ChannelOption::Export(Policy::FromBgp),
            ]),
            kernel_table: Some(1000),
            metric: Some(100),
        };
        assert_eq!(
            kernel.to_string(),
            "protocol kernel rt0 {\n    ipv4 { table t0; import none; export where source = RTS_BGP; };\n    kernel table 1000;\n    metric 100;\n    learn off;\n}\n"
        );
    }

    #[test]
    fn local_preference_by_community_is_an_else_if_chain() {
        let s = Stmt::LocalPrefByCommunity {
            by: vec![(Community::AWS_HIGH, 300), (Community::AWS_LOW, 100)],
            otherwise: 200,
        };
        assert_eq!(
            s.to_string(),
            "    if (7224,7300) ~ bgp_community then bgp_local_pref = 300;\n    else if (7224,7100) ~ bgp_community then bgp_local_pref = 100;\n    else bgp_local_pref = 200;\n"
        );
    }
}
