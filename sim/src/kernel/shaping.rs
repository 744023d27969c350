//! Link impairments as plain values: what is asked for ([`Shaping`]), what
//! the kernel offers ([`KernelFeatures`]) and what was done
//! ([`ShapingReport`]). Shared by the plan, the lab state and `sim link`;
//! the netlink layer carries them out. Pure: no I/O.

use std::fmt;
use std::time::Duration;

/// Link impairments to apply to a link's egress (see
/// [`crate::kernel::netlink::Netlink::shape`]). `None`, zero durations and a zero
/// loss mean "not requested".
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Shaping {
    /// Rate limit, in bits per second (at least 8).
    pub rate_bps: Option<u64>,
    /// Added one-way delay.
    pub delay: Option<Duration>,
    /// Random variation of the delay (uniform, ±jitter).
    pub jitter: Option<Duration>,
    /// Random loss, in percent (0 to 100).
    pub loss_percent: Option<f64>,
}

impl Shaping {
    /// The delay in nanoseconds, when one is requested.
    pub(crate) fn delay_ns(&self) -> Option<u64> {
        nonzero_ns(self.delay)
    }

    /// The jitter in nanoseconds, when one is requested.
    pub(crate) fn jitter_ns(&self) -> Option<u64> {
        nonzero_ns(self.jitter)
    }

    /// The loss percentage, when a non-zero one is requested.
    pub(crate) fn loss(&self) -> Option<f64> {
        self.loss_percent.filter(|l| *l != 0.0)
    }
}

fn nonzero_ns(d: Option<Duration>) -> Option<u64> {
    d.map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .filter(|ns| *ns != 0)
}

impl fmt::Display for Shaping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(r) = self.rate_bps {
            parts.push(format!("rate {}", topology::units::fmt_rate(r)));
        }
        if let Some(d) = self.delay {
            parts.push(format!("delay {d:?}"));
        }
        if let Some(j) = self.jitter {
            parts.push(format!("jitter {j:?}"));
        }
        if let Some(l) = self.loss_percent {
            parts.push(format!("loss {l}%"));
        }
        if parts.is_empty() {
            write!(f, "none")
        } else {
            write!(f, "{}", parts.join(" "))
        }
    }
}

/// How one shaping attribute was carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    /// The attribute was not asked for.
    NotRequested,
    /// Through a `tbf` qdisc.
    Tbf,
    /// Through a `netem` qdisc.
    Netem,
    /// Asked for, but the kernel has no qdisc that does it: not applied.
    Unsupported,
}

/// What [`crate::kernel::netlink::Netlink::shape`] did for each attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShapingReport {
    /// For [`Shaping::rate_bps`].
    pub rate: Mechanism,
    /// For [`Shaping::delay`].
    pub delay: Mechanism,
    /// For [`Shaping::jitter`].
    pub jitter: Mechanism,
    /// For [`Shaping::loss_percent`].
    pub loss: Mechanism,
}

impl ShapingReport {
    /// Whether every requested attribute was applied.
    pub fn complete(&self) -> bool {
        [self.rate, self.delay, self.jitter, self.loss]
            .iter()
            .all(|m| *m != Mechanism::Unsupported)
    }
}

/// Which optional kernel features are there (see [`crate::kernel::netlink::detect_features`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KernelFeatures {
    /// The `netem` qdisc (delay, jitter, loss).
    pub netem: bool,
    /// The `tbf` qdisc (rate limits).
    pub tbf: bool,
    /// The `htb` qdisc.
    pub htb: bool,
    /// 802.1Q VLAN links (`8021q`).
    pub vlan: bool,
    /// `dummy` links.
    pub dummy: bool,
    /// `wireguard` links (the kernel module, not a user-space one).
    pub wireguard: bool,
    /// `vxlan` links.
    pub vxlan: bool,
}
