//! nftables' language as values: a [`Table`] of [`Chain`]s of [`Rule`]s,
//! written as the text `nft -f` reads by [`fmt::Display`], the one place
//! that writes it (comments through [`crate::render::names`]). The
//! rulesets themselves are built in [`crate::render::firewall`].

use std::fmt;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use topology::traffic::{PortRange, Traffic};

use crate::render::names::{comment, nft_comment};

/// A table, replaced as a whole (`nft -f` of its text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// Its family.
    pub family: Family,
    /// Its name (the lab's own: `vifgate_sg`, ...).
    pub name: String,
    /// Its chains, in order.
    pub chains: Vec<Chain>,
}

/// A table's address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// `inet`: IPv4 and IPv6.
    Inet,
    /// `ip`: IPv4.
    Ip,
}

/// A chain: a base chain on a hook, or one entered by `jump` or `goto`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    /// Its name.
    pub name: String,
    /// Its hook, when it is a base chain.
    pub base: Option<BaseChain>,
    /// Its rules and comments, in order.
    pub lines: Vec<Line>,
}

/// What makes a chain a base chain: `type T hook H priority P; policy X;`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BaseChain {
    /// `filter` or `nat`.
    pub kind: ChainKind,
    /// The hook.
    pub hook: Hook,
    /// The priority.
    pub priority: i32,
    /// The verdict of a packet no rule decides.
    pub policy: Policy,
}

/// A base chain's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainKind {
    /// `filter`.
    Filter,
    /// `nat`.
    Nat,
}

/// A netfilter hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    /// `prerouting`.
    Prerouting,
    /// `input`.
    Input,
    /// `forward`.
    Forward,
    /// `output`.
    Output,
    /// `postrouting`.
    Postrouting,
}

/// A base chain's policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// `accept`.
    Accept,
    /// `drop`.
    Drop,
}

/// A line of a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// A `#` comment (a security group's name, ...).
    Comment(String),
    /// A rule.
    Rule(Rule),
}

/// A rule: its matches, what it does, and a comment nft keeps with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Every one must match (none: every packet).
    pub matches: Vec<Match>,
    /// The verdict or NAT statement.
    pub action: Action,
    /// The rule's `comment "..."`.
    pub comment: Option<String>,
}

/// One match of a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    /// `ct state established,related`.
    EstablishedOrRelated,
    /// `iifname "NAME"`.
    InInterface(String),
    /// `oifname "NAME"`.
    OutInterface(String),
    /// `ip saddr ...` or `ip daddr ...`, `!=` when `negated`.
    Addr {
        /// Source or destination.
        field: AddrField,
        /// `!=`.
        negated: bool,
        /// One address or block, or a set.
        value: Addrs,
    },
    /// A protocol, ports or ICMP type and code (never [`Traffic::All`]:
    /// that is no match at all).
    Traffic(Traffic),
    /// `meta l4proto { P, ... }`.
    Protocols(Vec<&'static str>),
}

/// Source or destination address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddrField {
    /// `saddr`.
    Source,
    /// `daddr`.
    Destination,
}

/// What an address match compares with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Addrs {
    /// One block, written bare.
    One(Addr),
    /// A set, in braces (even of one).
    Set(Vec<Addr>),
}

/// An address or a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Addr {
    /// A host address.
    Host(Ipv4Addr),
    /// A block.
    Net(Ipv4Net),
}

/// What a rule does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `accept`.
    Accept,
    /// `drop`.
    Drop,
    /// `return`.
    Return,
    /// `jump CHAIN`.
    Jump(String),
    /// `goto CHAIN`.
    Goto(String),
    /// `snat to A[:FROM-TO][ random]`.
    Snat {
        /// The new source.
        to: Ipv4Addr,
        /// The source ports, picked from.
        ports: Option<PortRange>,
        /// `random`: a port picked at random in `ports`.
        random: bool,
    },
    /// `dnat to ip daddr map { A : B, ... }` or `snat to ip saddr map`.
    NatMap {
        /// `snat` (keyed by source) or `dnat` (by destination).
        kind: NatKind,
        /// Each address and what it becomes.
        map: Vec<(Ipv4Addr, Ipv4Addr)>,
    },
}

/// Which address a NAT map rewrites.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NatKind {
    /// The source (`snat to ip saddr map`).
    Source,
    /// The destination (`dnat to ip daddr map`).
    Destination,
}

impl Rule {
    /// A rule without a comment.
    pub fn new(matches: Vec<Match>, action: Action) -> Self {
        Rule {
            matches,
            action,
            comment: None,
        }
    }

    /// The rule with `comment`.
    pub fn comment(mut self, comment: impl Into<String>) -> Self {
        self.comment = Some(comment.into());
        self
    }
}

impl From<Rule> for Line {
    fn from(r: Rule) -> Self {
        Line::Rule(r)
    }
}

/// `items` with `, ` between them.
fn list<T: fmt::Display>(f: &mut fmt::Formatter<'_>, items: &[T]) -> fmt::Result {
    for (i, x) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{x}")?;
    }
    Ok(())
}

impl Table {
    /// How `nft` names it: its family and name (`inet vifgate_sg`).
    pub fn qualified_name(&self) -> String {
        let family = match self.family {
            Family::Inet => "inet",
            Family::Ip => "ip",
        };
        format!("{family} {}", self.name)
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "table {} {{", self.qualified_name())?;
        for c in &self.chains {
            write!(f, "{c}")?;
        }
        writeln!(f, "}}")
    }
}

impl fmt::Display for Chain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "  chain {} {{", self.name)?;
        if let Some(b) = &self.base {
            writeln!(f, "    {b}")?;
        }
        for l in &self.lines {
            match l {
                Line::Comment(c) => writeln!(f, "    # {}", comment(c))?,
                Line::Rule(r) => writeln!(f, "    {r}")?,
            }
        }
        writeln!(f, "  }}")
    }
}

impl fmt::Display for BaseChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            ChainKind::Filter => "filter",
            ChainKind::Nat => "nat",
        };
        let hook = match self.hook {
            Hook::Prerouting => "prerouting",
            Hook::Input => "input",
            Hook::Forward => "forward",
            Hook::Output => "output",
            Hook::Postrouting => "postrouting",
        };
        let policy = match self.policy {
            Policy::Accept => "accept",
            Policy::Drop => "drop",
        };
        write!(
            f,
            "type {kind} hook {hook} priority {}; policy {policy};",
            self.priority
        )
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for m in &self.matches {
            write!(f, "{m} ")?;
        }
        write!(f, "{}", self.action)?;
        if let Some(c) = &self.comment {
            write!(f, " comment \"{}\"", nft_comment(c))?;
        }
        Ok(())
    }
}

impl fmt::Display for Match {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Match::EstablishedOrRelated => f.write_str("ct state established,related"),
            Match::InInterface(i) => write!(f, "iifname \"{i}\""),
            Match::OutInterface(i) => write!(f, "oifname \"{i}\""),
            Match::Addr {
                field,
                negated,
                value,
            } => {
                let field = match field {
                    AddrField::Source => "saddr",
                    AddrField::Destination => "daddr",
                };
                write!(f, "ip {field} {}", if *negated { "!= " } else { "" })?;
                match value {
                    Addrs::One(a) => write!(f, "{a}"),
                    Addrs::Set(v) => {
                        f.write_str("{ ")?;
                        list(f, v)?;
                        f.write_str(" }")
                    }
                }
            }
            Match::Traffic(t) => write_traffic(f, t),
            Match::Protocols(p) => {
                f.write_str("meta l4proto { ")?;
                list(f, p)?;
                f.write_str(" }")
            }
        }
    }
}

/// A protocol, its ports or ICMP type and code.
fn write_traffic(f: &mut fmt::Formatter<'_>, t: &Traffic) -> fmt::Result {
    match t {
        Traffic::All => Ok(()),
        Traffic::Tcp(r) | Traffic::Udp(r) => {
            let proto = if matches!(t, Traffic::Tcp(_)) {
                "tcp"
            } else {
                "udp"
            };
            if r.from == 0 && r.to == 65535 {
                write!(f, "meta l4proto {proto}")
            } else if r.from == r.to {
                write!(f, "{proto} dport {}", r.from)
            } else {
                write!(f, "{proto} dport {}-{}", r.from, r.to)
            }
        }
        Traffic::Icmp(m) => match (m.icmp_type, m.code) {
            (None, _) => f.write_str("meta l4proto icmp"),
            (Some(ty), None) => write!(f, "icmp type {ty}"),
            (Some(ty), Some(code)) => write!(f, "icmp type {ty} icmp code {code}"),
        },
        Traffic::Proto(p) => write!(f, "meta l4proto {p}"),
    }
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Addr::Host(a) => write!(f, "{a}"),
            Addr::Net(n) => write!(f, "{n}"),
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Accept => f.write_str("accept"),
            Action::Drop => f.write_str("drop"),
            Action::Return => f.write_str("return"),
            Action::Jump(c) => write!(f, "jump {c}"),
            Action::Goto(c) => write!(f, "goto {c}"),
            Action::Snat { to, ports, random } => {
                write!(f, "snat to {to}")?;
                if let Some(p) = ports {
                    write!(f, ":{}-{}", p.from, p.to)?;
                }
                if *random {
                    f.write_str(" random")?;
                }
                Ok(())
            }
            Action::NatMap { kind, map } => {
                let (nat, key) = match kind {
                    NatKind::Source => ("snat", "saddr"),
                    NatKind::Destination => ("dnat", "daddr"),
                };
                write!(f, "{nat} to ip {key} map {{ ")?;
                let pairs: Vec<String> = map.iter().map(|(a, b)| format!("{a} : {b}")).collect();
                list(f, &pairs)?;
                f.write_str(" }")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use topology::traffic::IcmpMatch;

    fn addr(field: AddrField, negated: bool, value: Addrs) -> Match {
        Match::Addr {
            field,
            negated,
            value,
        }
    }

    #[test]
    fn a_table_renders_as_nft_reads_it() {
        let net: Ipv4Net = "10.0.0.0/16".parse().expect("net");
        let t = Table {
            family: Family::Ip,
            name: "t".into(),
            chains: vec![
                Chain {
                    name: "forward".into(),
                    base: Some(BaseChain {
                        kind: ChainKind::Filter,
                        hook: Hook::Forward,
                        priority: 0,
                        policy: Policy::Drop,
                    }),
                    lines: vec![
                        Rule::new(vec![Match::EstablishedOrRelated], Action::Accept).into(),
                        Line::Comment("sg \"x\"\nprotocol".into()),
                        Rule::new(
                            vec![
                                Match::InInterface("sn0".into()),
                                addr(AddrField::Source, true, Addrs::Set(vec![Addr::Net(net)])),
                                Match::Traffic(Traffic::Tcp(PortRange { from: 80, to: 80 })),
                            ],
                            Action::Jump("c".into()),
                        )
                        .comment("a \"b\"")
                        .into(),
                    ],
                },
                Chain {
                    name: "c".into(),
                    base: None,
                    lines: vec![Rule::new(vec![], Action::Return).into()],
                },
            ],
        };
        assert_eq!(
            t.to_string(),
            "table ip t {\n  chain forward {\n    type filter hook forward priority 0; policy drop;\n    ct state established,related accept\n    # sg \"x\" protocol\n    iifname \"sn0\" ip saddr != { 10.0.0.0/16 } tcp dport 80 jump c comment \"a 'b'\"\n  }\n  chain c {\n    return\n  }\n}\n"
        );
    }

    #[test]
    fn matches_and_nat_statements() {
        let (a, b): (Ipv4Addr, Ipv4Addr) =
            ("1.1.1.1".parse().expect("a"), "2.2.2.2".parse().expect("b"));
        let icmp = Traffic::Icmp(IcmpMatch {
            icmp_type: Some(8),
            code: Some(0),
        });
        assert_eq!(Match::Traffic(icmp).to_string(), "icmp type 8 icmp code 0");
        assert_eq!(
            Match::Traffic(Traffic::Udp(PortRange { from: 1, to: 9 })).to_string(),
            "udp dport 1-9"
        );
        assert_eq!(
            addr(AddrField::Destination, false, Addrs::One(Addr::Host(a))).to_string(),
            "ip daddr 1.1.1.1"
        );
        assert_eq!(
            Match::Protocols(vec!["tcp", "udp"]).to_string(),
            "meta l4proto { tcp, udp }"
        );
        let snat = Action::Snat {
            to: a,
            ports: Some(PortRange {
                from: 1024,
                to: 65535,
            }),
            random: true,
        };
        assert_eq!(snat.to_string(), "snat to 1.1.1.1:1024-65535 random");
        let map = Action::NatMap {
            kind: NatKind::Destination,
            map: vec![(a, b), (b, a)],
        };
        assert_eq!(
            map.to_string(),
            "dnat to ip daddr map { 1.1.1.1 : 2.2.2.2, 2.2.2.2 : 1.1.1.1 }"
        );
    }
}
