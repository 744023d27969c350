//! What an `[[expect]]` entry says: a flow (from a node, to a node or an
//! address, a service) and the verdict intended for it. The static
//! analysis answers in the same terms.

use std::fmt;
use std::net::Ipv4Addr;

use super::NodeId;
use crate::traffic::proto;

/// What an `[[expect]]` entry says.
#[derive(Debug, Clone)]
pub struct Expectation {
    /// Source node.
    pub from: NodeId,
    /// Destination: a node or an address.
    pub to: Target,
    /// Protocol and port.
    pub service: Service,
    /// Intended verdict.
    pub verdict: Verdict,
    /// Free text.
    pub description: Option<String>,
    /// Line in the file, for reports.
    pub line: usize,
}

/// What a flow comes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Verdict {
    /// The request arrives and the reply comes back.
    Accepted,
    /// A security group, network ACL or gateway policy drops it, a NAT
    /// gateway refuses an inbound connection, or a load balancer or
    /// database refuses a port it does not listen on.
    Denied,
    /// No route, a blackhole, or nothing owns the address.
    NoRoute,
}

impl Verdict {
    /// Parses `ACCEPTED`, `DENIED` or `NO_ROUTE`.
    pub fn parse(s: &str) -> Option<Verdict> {
        match s {
            "ACCEPTED" => Some(Verdict::Accepted),
            "DENIED" => Some(Verdict::Denied),
            "NO_ROUTE" => Some(Verdict::NoRoute),
            _ => None,
        }
    }

    /// The name as printed.
    pub fn as_str(&self) -> &'static str {
        match self {
            Verdict::Accepted => "ACCEPTED",
            Verdict::Denied => "DENIED",
            Verdict::NoRoute => "NO_ROUTE",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A destination: a node, or a bare address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A node by index.
    Node(NodeId),
    /// An address.
    Addr(Ipv4Addr),
}

/// What is asked for: a protocol and, for TCP/UDP, a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    /// A TCP connection to a port.
    Tcp(u16),
    /// A UDP datagram to a port, and its reply.
    Udp(u16),
    /// ICMP echo request and reply.
    IcmpEcho,
    /// Another IP protocol.
    Proto(u8),
}

impl Service {
    /// From a protocol name or number and a port. `None` when a port is
    /// missing for TCP/UDP or given for another protocol.
    pub fn new(protocol: &str, port: Option<u16>) -> Result<Service, String> {
        let p = crate::traffic::parse_protocol(protocol)
            .ok_or_else(|| format!("unknown protocol `{protocol}`"))?
            .ok_or_else(|| "protocol -1 is not a single flow; name one protocol".to_string())?;
        match (p, port) {
            (proto::TCP, Some(port)) => Ok(Service::Tcp(port)),
            (proto::UDP, Some(port)) => Ok(Service::Udp(port)),
            (proto::TCP | proto::UDP, None) => Err(format!("{protocol} needs a port")),
            (proto::ICMP, None) => Ok(Service::IcmpEcho),
            (_, Some(_)) => Err(format!("{protocol} has no ports")),
            (p, None) => Ok(Service::Proto(p)),
        }
    }

    /// The IP protocol number.
    pub fn protocol(&self) -> u8 {
        match self {
            Service::Tcp(_) => proto::TCP,
            Service::Udp(_) => proto::UDP,
            Service::IcmpEcho => proto::ICMP,
            Service::Proto(p) => *p,
        }
    }

    /// The port, for TCP/UDP.
    pub fn port(&self) -> Option<u16> {
        match self {
            Service::Tcp(p) | Service::Udp(p) => Some(*p),
            _ => None,
        }
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Service::Tcp(p) => write!(f, "tcp/{p}"),
            Service::Udp(p) => write!(f, "udp/{p}"),
            Service::IcmpEcho => write!(f, "icmp echo"),
            Service::Proto(p) => write!(f, "protocol {p}"),
        }
    }
}
