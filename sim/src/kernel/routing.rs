//! Routes and policy routing rules as plain values: what the plan lists and
//! what the netlink layer ([`crate::kernel::netlink`]) installs. Pure: no I/O.

use std::fmt;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Destination prefix.
    pub dst: Ipv4Net,
    /// Gateway, for a unicast route through a router.
    pub via: Option<Ipv4Addr>,
    /// Output link, for a unicast route.
    pub dev: Option<String>,
    /// Routing table: 254 is `main`, 255 `local`.
    pub table: u32,
    /// Metric (`RTA_PRIORITY`); 0 is the kernel's default.
    pub metric: u32,
    /// What the route does with matching packets.
    pub kind: RouteKind,
}

/// What a route does with the packets it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RouteKind {
    /// Forwarded (needs `via` or `dev`).
    Unicast,
    /// Silently dropped.
    Blackhole,
    /// Dropped with an ICMP host unreachable.
    Unreachable,
}

/// The `main` routing table.
pub const MAIN_TABLE: u32 = 254;

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            RouteKind::Unicast => {}
            RouteKind::Blackhole => write!(f, "blackhole ")?,
            RouteKind::Unreachable => write!(f, "unreachable ")?,
        }
        write!(f, "{}", self.dst)?;
        if let Some(via) = self.via {
            write!(f, " via {via}")?;
        }
        if let Some(dev) = &self.dev {
            write!(f, " dev {dev}")?;
        }
        write!(f, " table {}", self.table)?;
        if self.metric != 0 {
            write!(f, " metric {}", self.metric)?;
        }
        Ok(())
    }
}

/// A policy routing rule: packets (optionally only those coming in on
/// `iif`) are looked up in `table`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Input link the rule is limited to.
    pub iif: Option<String>,
    /// Table to look up.
    pub table: u32,
    /// Rule priority (lower first).
    pub priority: u32,
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "priority {}", self.priority)?;
        if let Some(iif) = &self.iif {
            write!(f, " iif {iif}")?;
        }
        write!(f, " table {}", self.table)
    }
}
