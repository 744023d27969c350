//! The shaping choice: which qdisc carries out a [`Shaping`] on a kernel
//! with these [`KernelFeatures`] (netem for delay, jitter and loss, with the
//! rate folded in; tbf for a rate alone), and what is reported unsupported.
//! Pure, so tested without root.

use super::qdisc::{loss_scaled, netem_limit, NetemParams};
use crate::kernel::shaping::{KernelFeatures, Mechanism, Shaping, ShapingReport};

/// The root qdisc [`super::Netlink::shape`] installs.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Qdisc {
    /// None: only an earlier one is removed.
    None,
    /// A token bucket at this rate.
    Tbf {
        /// Rate in bytes a second.
        rate_bytes: u64,
    },
    /// A netem with these values.
    Netem(NetemParams),
}

/// Which qdisc carries out a [`Shaping`], and what that does for each
/// attribute.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct QdiscPlan {
    /// The qdisc to install.
    pub(super) qdisc: Qdisc,
    /// What it does for each requested attribute.
    pub(super) report: ShapingReport,
}

/// Decides which qdisc does what; pure, so tested without root.
pub(super) fn plan_shaping(s: &Shaping, f: &KernelFeatures) -> Result<QdiscPlan, String> {
    let rate_bytes = match s.rate_bps {
        Some(r) if r < 8 => return Err(format!("rate {r}bit/s is below one byte a second")),
        Some(r) => Some(r / 8),
        None => None,
    };
    if let Some(l) = s.loss_percent {
        if !(0.0..=100.0).contains(&l) {
            return Err(format!("loss {l}% is not a percentage"));
        }
    }
    let (delay, jitter, loss) = (s.delay_ns(), s.jitter_ns(), s.loss());
    let wanted = |x: bool, m: Mechanism| if x { m } else { Mechanism::NotRequested };
    let netem_wanted = delay.is_some() || jitter.is_some() || loss.is_some();
    let use_netem = f.netem && (netem_wanted || (rate_bytes.is_some() && !f.tbf));
    if use_netem {
        let params = NetemParams {
            latency_ns: delay.unwrap_or(0),
            jitter_ns: jitter.unwrap_or(0),
            loss: loss.map(loss_scaled).unwrap_or(0),
            limit: netem_limit(rate_bytes, delay.unwrap_or(0) + jitter.unwrap_or(0)),
            rate_bytes,
        };
        return Ok(QdiscPlan {
            qdisc: Qdisc::Netem(params),
            report: ShapingReport {
                rate: wanted(rate_bytes.is_some(), Mechanism::Netem),
                delay: wanted(delay.is_some(), Mechanism::Netem),
                jitter: wanted(jitter.is_some(), Mechanism::Netem),
                loss: wanted(loss.is_some(), Mechanism::Netem),
            },
        });
    }
    let (qdisc, rate) = match rate_bytes {
        Some(rate_bytes) if f.tbf => (Qdisc::Tbf { rate_bytes }, Mechanism::Tbf),
        Some(_) => (Qdisc::None, Mechanism::Unsupported),
        None => (Qdisc::None, Mechanism::NotRequested),
    };
    Ok(QdiscPlan {
        qdisc,
        report: ShapingReport {
            rate,
            delay: wanted(delay.is_some(), Mechanism::Unsupported),
            jitter: wanted(jitter.is_some(), Mechanism::Unsupported),
            loss: wanted(loss.is_some(), Mechanism::Unsupported),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn shaping_plans() {
        use Mechanism::*;
        let here = KernelFeatures {
            tbf: true,
            htb: true,
            vxlan: true,
            ..KernelFeatures::default()
        };
        let full = KernelFeatures {
            netem: true,
            ..here
        };
        let rate = Shaping {
            rate_bps: Some(10_000_000),
            ..Shaping::default()
        };
        let p = plan_shaping(&rate, &here).unwrap();
        assert_eq!(
            p.qdisc,
            Qdisc::Tbf {
                rate_bytes: 1_250_000
            }
        );
        assert_eq!(p.report.rate, Tbf);
        assert!(p.report.complete());
        // rate alone goes through tbf even when netem is there
        assert_eq!(plan_shaping(&rate, &full).unwrap().qdisc, p.qdisc);

        let all = Shaping {
            rate_bps: Some(10_000_000),
            delay: Some(Duration::from_millis(20)),
            jitter: Some(Duration::from_millis(5)),
            loss_percent: Some(1.0),
        };
        let p = plan_shaping(&all, &here).unwrap();
        assert_eq!(
            p.qdisc,
            Qdisc::Tbf {
                rate_bytes: 1_250_000
            }
        );
        assert_eq!(
            p.report,
            ShapingReport {
                rate: Tbf,
                delay: Unsupported,
                jitter: Unsupported,
                loss: Unsupported
            }
        );
        assert!(!p.report.complete());
        let p = plan_shaping(&all, &full).unwrap();
        assert_eq!(
            p.report,
            ShapingReport {
                rate: Netem,
                delay: Netem,
                jitter: Netem,
                loss: Netem
            }
        );
        match p.qdisc {
            Qdisc::Netem(n) => {
                assert_eq!(n.latency_ns, 20_000_000);
                assert_eq!(n.rate_bytes, Some(1_250_000));
                assert_eq!(n.limit, 10_000);
            }
            other => panic!("{other:?}"),
        }

        let none = plan_shaping(&Shaping::default(), &full).unwrap();
        assert_eq!(none.qdisc, Qdisc::None);
        assert_eq!(none.report.rate, NotRequested);
        let zero = Shaping {
            delay: Some(Duration::ZERO),
            loss_percent: Some(0.0),
            ..Shaping::default()
        };
        assert_eq!(plan_shaping(&zero, &here).unwrap().qdisc, Qdisc::None);

        let bad_loss = Shaping {
            loss_percent: Some(150.0),
            ..Shaping::default()
        };
        assert!(plan_shaping(&bad_loss, &full).is_err());
        let nan = Shaping {
            loss_percent: Some(f64::NAN),
            ..Shaping::default()
        };
        assert!(plan_shaping(&nan, &full).is_err());
        let slow = Shaping {
            rate_bps: Some(7),
            ..Shaping::default()
        };
        assert!(plan_shaping(&slow, &full).is_err());
    }
}
