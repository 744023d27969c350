//! What a rule matches (protocol, ports, ICMP type/code) and the packets it
//! is matched against. Shared by security groups and network ACLs.

use std::fmt;
use std::net::Ipv4Addr;

/// IP protocol numbers used by name.
pub mod proto {
    /// ICMP.
    pub const ICMP: u8 = 1;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// ICMPv6.
    pub const ICMPV6: u8 = 58;
}

/// An inclusive range of ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct PortRange {
    /// First port.
    pub from: u16,
    /// Last port (inclusive).
    pub to: u16,
}

impl PortRange {
    /// Every port.
    pub const ALL: PortRange = PortRange { from: 0, to: 65535 };
    /// Linux's default ephemeral range (`net.ipv4.ip_local_port_range`).
    pub const LINUX_EPHEMERAL: PortRange = PortRange {
        from: 32768,
        to: 60999,
    };
    /// The range NAT gateways and load balancers pick source ports from.
    pub const AWS_EPHEMERAL: PortRange = PortRange {
        from: 1024,
        to: 65535,
    };

    /// A single port.
    pub const fn single(p: u16) -> Self {
        PortRange { from: p, to: p }
    }

    /// Whether `p` is in the range.
    pub fn contains(&self, p: u16) -> bool {
        self.from <= p && p <= self.to
    }

    /// Whether `other` lies entirely inside this range.
    pub fn covers(&self, other: &PortRange) -> bool {
        self.from <= other.from && other.to <= self.to
    }

    /// Whether the two ranges share a port.
    pub fn overlaps(&self, other: &PortRange) -> bool {
        self.from <= other.to && other.from <= self.to
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.from == self.to {
            write!(f, "{}", self.from)
        } else if *self == PortRange::ALL {
            write!(f, "all")
        } else {
            write!(f, "{}-{}", self.from, self.to)
        }
    }
}

/// ICMP type and code as a rule states them; `None` is AWS's `-1` (all).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub struct IcmpMatch {
    /// ICMP type, `None` for all types.
    pub icmp_type: Option<u8>,
    /// ICMP code, `None` for all codes.
    pub code: Option<u8>,
}

impl IcmpMatch {
    /// All ICMP messages.
    pub const ALL: IcmpMatch = IcmpMatch {
        icmp_type: None,
        code: None,
    };

    fn matches(&self, t: u8, c: u8) -> bool {
        self.icmp_type.is_none_or(|x| x == t) && self.code.is_none_or(|x| x == c)
    }

    fn covers(&self, o: &IcmpMatch) -> bool {
        let ty = match (self.icmp_type, o.icmp_type) {
            (None, _) => true,
            (Some(a), Some(b)) => a == b,
            (Some(_), None) => false,
        };
        let code = match (self.code, o.code) {
            (None, _) => true,
            (Some(a), Some(b)) => a == b,
            (Some(_), None) => false,
        };
        ty && code
    }
}

/// The traffic a rule matches: a protocol and, for TCP/UDP, a port range
/// (the destination port of the packet), for ICMP a type and code.
///
/// AWS: any protocol other than TCP, UDP and ICMP, `-1` included, opens all
/// ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(tag = "protocol", rename_all = "lowercase")]
pub enum Traffic {
    /// Protocol `-1`: every packet.
    All,
    /// TCP with a destination port in the range.
    Tcp(PortRange),
    /// UDP with a destination port in the range.
    Udp(PortRange),
    /// ICMP with a matching type/code.
    Icmp(IcmpMatch),
    /// Any other IP protocol, by number.
    Proto(u8),
}

impl Traffic {
    /// Whether a packet's transport header matches.
    pub fn matches(&self, l4: &L4) -> bool {
        match (self, l4) {
            (Traffic::All, _) => true,
            (Traffic::Tcp(r), L4::Tcp { dst_port, .. }) => r.contains(*dst_port),
            (Traffic::Udp(r), L4::Udp { dst_port, .. }) => r.contains(*dst_port),
            (Traffic::Icmp(m), L4::Icmp { icmp_type, code }) => m.matches(*icmp_type, *code),
            (Traffic::Proto(p), other) => other.protocol() == *p,
            _ => false,
        }
    }

    /// Whether every packet `other` matches is matched by `self` too.
    pub fn covers(&self, other: &Traffic) -> bool {
        match (self, other) {
            (Traffic::All, _) => true,
            (Traffic::Tcp(a), Traffic::Tcp(b)) | (Traffic::Udp(a), Traffic::Udp(b)) => a.covers(b),
            (Traffic::Icmp(a), Traffic::Icmp(b)) => a.covers(b),
            (Traffic::Proto(a), Traffic::Proto(b)) => a == b,
            (Traffic::Proto(p), Traffic::Tcp(_)) => *p == proto::TCP,
            (Traffic::Proto(p), Traffic::Udp(_)) => *p == proto::UDP,
            (Traffic::Proto(p), Traffic::Icmp(_)) => *p == proto::ICMP,
            _ => false,
        }
    }

    /// The IP protocol number, `None` for all.
    pub fn protocol(&self) -> Option<u8> {
        match self {
            Traffic::All => None,
            Traffic::Tcp(_) => Some(proto::TCP),
            Traffic::Udp(_) => Some(proto::UDP),
            Traffic::Icmp(_) => Some(proto::ICMP),
            Traffic::Proto(p) => Some(*p),
        }
    }

    /// The destination port range for TCP/UDP rules.
    pub fn ports(&self) -> Option<PortRange> {
        match self {
            Traffic::Tcp(r) | Traffic::Udp(r) => Some(*r),
            _ => None,
        }
    }
}

impl fmt::Display for Traffic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Traffic::All => write!(f, "all traffic"),
            Traffic::Tcp(r) => write!(f, "tcp/{r}"),
            Traffic::Udp(r) => write!(f, "udp/{r}"),
            Traffic::Icmp(m) => match (m.icmp_type, m.code) {
                (None, _) => write!(f, "icmp all"),
                (Some(t), None) => write!(f, "icmp type {t}"),
                (Some(t), Some(c)) => write!(f, "icmp type {t} code {c}"),
            },
            Traffic::Proto(p) => write!(f, "protocol {p}"),
        }
    }
}

/// A packet's transport header, as far as ACLs look at it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(tag = "protocol", rename_all = "lowercase")]
pub enum L4 {
    /// TCP ports.
    Tcp {
        /// Source port.
        src_port: u16,
        /// Destination port.
        dst_port: u16,
    },
    /// UDP ports.
    Udp {
        /// Source port.
        src_port: u16,
        /// Destination port.
        dst_port: u16,
    },
    /// ICMP type and code.
    Icmp {
        /// ICMP type (8 echo request, 0 echo reply ...).
        icmp_type: u8,
        /// ICMP code.
        code: u8,
    },
    /// Another IP protocol.
    Other(u8),
}

impl L4 {
    /// The IP protocol number.
    pub fn protocol(&self) -> u8 {
        match self {
            L4::Tcp { .. } => proto::TCP,
            L4::Udp { .. } => proto::UDP,
            L4::Icmp { .. } => proto::ICMP,
            L4::Other(p) => *p,
        }
    }

    /// The destination port, for TCP and UDP.
    pub fn dst_port(&self) -> Option<u16> {
        match self {
            L4::Tcp { dst_port, .. } | L4::Udp { dst_port, .. } => Some(*dst_port),
            _ => None,
        }
    }

    /// The same header with the destination port replaced (TCP/UDP only).
    pub fn with_dst_port(self, port: u16) -> L4 {
        match self {
            L4::Tcp { src_port, .. } => L4::Tcp {
                src_port,
                dst_port: port,
            },
            L4::Udp { src_port, .. } => L4::Udp {
                src_port,
                dst_port: port,
            },
            other => other,
        }
    }
}

/// The parts of an IPv4 packet that ACLs and routes look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Packet {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Transport header.
    pub l4: L4,
}

/// Whether the internet routes to `a`: not private (RFC 1918), loopback,
/// link-local, shared (100.64.0.0/10, carrier-grade NAT), unspecified,
/// broadcast or multicast. The one definition the checks and the analysis
/// share.
pub fn is_public(a: std::net::Ipv4Addr) -> bool {
    let [o0, o1, ..] = a.octets();
    !(a.is_private()
        || a.is_loopback()
        || a.is_link_local()
        || a.is_unspecified()
        || a.is_broadcast()
        || a.is_multicast()
        || (o0 == 100 && (o1 & 0xC0) == 64))
}

/// Cuts `range` at every edge of `rule_ranges` that falls inside it, so
/// that within each piece no rule changes its mind: one probe per piece
/// decides the whole piece. Pieces come in port order and cover `range`.
pub fn split_ports(
    range: PortRange,
    rule_ranges: impl IntoIterator<Item = PortRange>,
) -> Vec<PortRange> {
    let mut cuts: Vec<u32> = vec![range.from as u32, range.to as u32 + 1];
    for pr in rule_ranges {
        for c in [pr.from as u32, pr.to as u32 + 1] {
            if c > range.from as u32 && c <= range.to as u32 {
                cuts.push(c);
            }
        }
    }
    cuts.sort_unstable();
    cuts.dedup();
    cuts.windows(2)
        .map(|w| PortRange {
            from: w[0] as u16,
            to: (w[1] - 1) as u16,
        })
        .collect()
}

/// Parses a protocol as AWS writes it: `tcp`, `udp`, `icmp`, `icmpv6`,
/// `-1` or `all`, or a number 0-255.
pub fn parse_protocol(s: &str) -> Option<Option<u8>> {
    match s.to_ascii_lowercase().as_str() {
        "-1" | "all" => Some(None),
        "tcp" => Some(Some(proto::TCP)),
        "udp" => Some(Some(proto::UDP)),
        "icmp" => Some(Some(proto::ICMP)),
        "icmpv6" => Some(Some(proto::ICMPV6)),
        n => n.parse::<u8>().ok().map(Some),
    }
}

/// Parses `80`, `1024-65535` or `all`.
pub fn parse_port_range(s: &str) -> Option<PortRange> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("all") || s == "-1" {
        return Some(PortRange::ALL);
    }
    match s.split_once('-') {
        Some((a, b)) => {
            let from = a.trim().parse().ok()?;
            let to = b.trim().parse().ok()?;
            (from <= to).then_some(PortRange { from, to })
        }
        None => s.parse().ok().map(PortRange::single),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(dst: u16) -> L4 {
        L4::Tcp {
            src_port: 40000,
            dst_port: dst,
        }
    }

    #[test]
    fn protocol_all_matches_everything() {
        assert!(Traffic::All.matches(&tcp(1)));
        assert!(Traffic::All.matches(&L4::Other(50)));
    }

    #[test]
    fn other_protocols_open_all_ports() {
        // a rule for protocol 6 by number behaves like tcp on all ports
        assert!(Traffic::Proto(6).matches(&tcp(22)));
        assert!(!Traffic::Proto(17).matches(&tcp(22)));
    }

    #[test]
    fn port_ranges_match_the_destination_port() {
        let r = Traffic::Tcp(PortRange { from: 80, to: 443 });
        assert!(r.matches(&tcp(80)));
        assert!(r.matches(&tcp(443)));
        assert!(!r.matches(&tcp(444)));
        assert!(!r.matches(&L4::Udp {
            src_port: 1,
            dst_port: 80
        }));
    }

    #[test]
    fn icmp_minus_one_is_every_type_and_code() {
        let any = Traffic::Icmp(IcmpMatch::ALL);
        let echo = Traffic::Icmp(IcmpMatch {
            icmp_type: Some(8),
            code: None,
        });
        let req = L4::Icmp {
            icmp_type: 8,
            code: 0,
        };
        let unreach = L4::Icmp {
            icmp_type: 3,
            code: 4,
        };
        assert!(any.matches(&req) && any.matches(&unreach));
        assert!(echo.matches(&req) && !echo.matches(&unreach));
        assert!(any.covers(&echo) && !echo.covers(&any));
    }

    #[test]
    fn port_parsing() {
        assert_eq!(parse_port_range("22"), Some(PortRange::single(22)));
        assert_eq!(
            parse_port_range("1024-65535"),
            Some(PortRange::AWS_EPHEMERAL)
        );
        assert_eq!(parse_port_range("all"), Some(PortRange::ALL));
        assert_eq!(parse_port_range("90-80"), None);
        assert_eq!(parse_port_range("70000"), None);
        assert_eq!(parse_protocol("-1"), Some(None));
        assert_eq!(parse_protocol("TCP"), Some(Some(6)));
        assert_eq!(parse_protocol("50"), Some(Some(50)));
        assert_eq!(parse_protocol("300"), None);
    }
}
