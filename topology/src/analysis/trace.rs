//! The record of a walk: hops, and in each hop the steps that decided.

use std::fmt;
use std::net::Ipv4Addr;

use crate::nacl::NaclAction;
use crate::route_table::RouteOrigin;
use crate::security_group::Direction;
use crate::traffic::PortRange;

/// One node the packet visits.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Hop {
    /// Node name (or `vpc-router`, `igw`, the VGW's name, the VIF's name).
    pub node: String,
    /// The interface it arrived on or leaves by, with its address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    /// What happened there, in order.
    pub steps: Vec<Step>,
}

/// One decision at a hop.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// A route was chosen.
    Route {
        /// Route table or router.
        table: String,
        /// Matched prefix.
        prefix: String,
        /// Next hop.
        target: String,
        /// Local/connected, static or propagated.
        origin: RouteOrigin,
        /// What taught it.
        #[serde(skip_serializing_if = "Option::is_none")]
        source: Option<String>,
    },
    /// A network ACL decided.
    Nacl {
        /// ACL name.
        nacl: String,
        /// Subnet it guards.
        subnet: String,
        /// Direction.
        direction: Direction,
        /// Rule number, `*` for the final deny; several when a port range
        /// splits.
        rule: String,
        /// Allow or deny.
        action: NaclAction,
        /// Ports this part of the decision covers, when a range was split.
        #[serde(skip_serializing_if = "Option::is_none")]
        ports: Option<PortRange>,
    },
    /// A security-group rule allowed a new flow.
    SecurityGroupAllow {
        /// Direction.
        direction: Direction,
        /// Group name.
        group: String,
        /// 1-based rule index in the group's rules of that direction.
        rule: usize,
        /// The rule, spelled out.
        matched: String,
    },
    /// No security-group rule allowed a new flow.
    SecurityGroupDeny {
        /// Direction.
        direction: Direction,
        /// The groups considered.
        groups: Vec<String>,
    },
    /// A reply passed because the flow is tracked (stateful).
    Tracked {
        /// Direction.
        direction: Direction,
        /// Groups on the interface.
        groups: Vec<String>,
    },
    /// An address was translated.
    Nat {
        /// `snat`, `dnat`, or `reverse` for a reply.
        kind: String,
        /// Who translates.
        by: String,
        /// Address (and ports) before.
        from: String,
        /// Address (and ports) after.
        to: String,
    },
    /// The packet crosses a link (a VIF, the VPN).
    Link {
        /// What the link is.
        name: String,
        /// Details.
        detail: String,
    },
    /// The packet reached its destination.
    Delivered {
        /// Address it was delivered to.
        address: Ipv4Addr,
        /// A note (a listener, a standby database ...).
        #[serde(skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    /// The packet was dropped.
    Dropped {
        /// Why.
        reason: String,
    },
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Route {
                table,
                prefix,
                target,
                origin,
                source,
            } => {
                write!(f, "route {prefix} -> {target} [{origin}] in {table}")?;
                if let Some(s) = source {
                    write!(f, " ({s})")?;
                }
                Ok(())
            }
            Step::Nacl {
                nacl,
                subnet,
                direction,
                rule,
                action,
                ports,
            } => {
                write!(
                    f,
                    "network ACL {nacl} ({subnet}) {direction}: rule {rule} {action}"
                )?;
                if let Some(p) = ports {
                    write!(f, " for ports {p}")?;
                }
                Ok(())
            }
            Step::SecurityGroupAllow {
                direction,
                group,
                rule,
                matched,
            } => write!(
                f,
                "security group {group} {direction} rule {rule} allows: {matched}"
            ),
            Step::SecurityGroupDeny { direction, groups } => {
                if groups.is_empty() {
                    write!(f, "no security group: {direction} denied")
                } else {
                    write!(
                        f,
                        "security groups {} {direction}: no rule allows it",
                        groups.join(", ")
                    )
                }
            }
            Step::Tracked { direction, groups } => write!(
                f,
                "security groups {} {direction}: reply of a tracked flow (stateful)",
                groups.join(", ")
            ),
            Step::Nat { kind, by, from, to } => write!(f, "{kind} by {by}: {from} -> {to}"),
            Step::Link { name, detail } => write!(f, "link {name}: {detail}"),
            Step::Delivered { address, note } => {
                write!(f, "delivered to {address}")?;
                if let Some(n) = note {
                    write!(f, " ({n})")?;
                }
                Ok(())
            }
            Step::Dropped { reason } => write!(f, "DROPPED: {reason}"),
        }
    }
}

/// Where the walker writes what happens. The matrix uses [`NoRecord`] so
/// that nothing is formatted or allocated for the cells it computes.
pub(crate) trait Recorder {
    /// Starts a hop.
    fn hop(&mut self, node: &str, interface: impl FnOnce() -> Option<String>);
    /// Adds a step to the current hop.
    fn step(&mut self, make: impl FnOnce() -> Step);
    /// Whether anything is kept (reasons are worth formatting).
    fn enabled(&self) -> bool;
}

/// Records everything.
impl Recorder for Vec<Hop> {
    fn hop(&mut self, node: &str, interface: impl FnOnce() -> Option<String>) {
        self.push(Hop {
            node: node.to_string(),
            interface: interface(),
            steps: Vec::new(),
        });
    }

    fn step(&mut self, make: impl FnOnce() -> Step) {
        if let Some(h) = self.last_mut() {
            h.steps.push(make());
        }
    }

    fn enabled(&self) -> bool {
        true
    }
}

/// Records nothing.
pub(crate) struct NoRecord;

impl Recorder for NoRecord {
    #[inline]
    fn hop(&mut self, _: &str, _: impl FnOnce() -> Option<String>) {}
    #[inline]
    fn step(&mut self, _: impl FnOnce() -> Step) {}
    #[inline]
    fn enabled(&self) -> bool {
        false
    }
}
