//! `sim link`: a link of a running lab taken down or up, or given a delay,
//! jitter, loss or rate — each way, on both ends, as a netem or tbf qdisc
//! on each end would.
//!
//! How each attribute is applied depends on the kernel and the link:
//!
//! - down/up: the veth pair's two ends; a Direct Connect or VPN link is
//!   cut silently instead ([`crate::ops::link_cut`]: carrier up, every packet
//!   dropped at both ends), so that BFD or the BGP hold timer notices and
//!   BIRD withdraws the routes learned over it, as a real cut would.
//! - rate: a tbf qdisc on both ends.
//! - delay, jitter, loss: netem on both ends where the kernel has it;
//!   otherwise, on a Direct Connect or VPN link, the vifgate gateways at
//!   both ends impair the tunnel's datagrams themselves (`[impair]`,
//!   applied with SIGHUP and confirmed through the gateway's status
//!   socket before `sim link` returns; on the office end this covers
//!   every tunnel of that gateway box). Anywhere else: an error saying so.

use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

use gateway::config_file::{ConfigFileError, GatewayConfigFile, ImpairFile};
use gateway::status::ReloadStatus;

use crate::apply;
use crate::apply::state::LabState;
use crate::kernel::netlink::{Mechanism, Netlink, Shaping};
use crate::kernel::netns::{self, Netns};
use crate::layout;
use crate::ops::link_cut;
use crate::plan::{self, LinkKind, VethSpec};

/// A change to a link.
#[derive(Debug, Clone, PartialEq)]
pub enum LinkChange {
    /// Take both ends down.
    Down,
    /// Bring both ends up.
    Up,
    /// Set delay, jitter, loss or rate (each way); `None` keeps the
    /// current value, zero clears it.
    Shape {
        /// One-way delay.
        delay: Option<Duration>,
        /// Jitter.
        jitter: Option<Duration>,
        /// Loss, percent.
        loss_percent: Option<f64>,
        /// Rate, bits per second.
        rate_bps: Option<u64>,
    },
}

/// Why a link change failed.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// No such lab.
    #[error("no lab `{0}`")]
    NoLab(String),
    /// No such link.
    #[error("lab `{lab}` has no link between `{a}` and `{b}`; links: {known}")]
    NoLink {
        /// Lab.
        lab: String,
        /// One end.
        a: String,
        /// Other end.
        b: String,
        /// The links there are.
        known: String,
    },
    /// The kernel and the link offer no way to apply it.
    #[error("{0}")]
    Unsupported(String),
    /// A gateway's configuration file could not be read or written.
    #[error(transparent)]
    Config(#[from] ConfigFileError),
    /// A gateway refused its new configuration (and kept the old one).
    #[error("gateway {gateway} refused the new configuration: {why}")]
    ReloadRefused {
        /// The gateway.
        gateway: String,
        /// What it said.
        why: String,
    },
    /// A gateway did not confirm the reload in time.
    #[error("gateway {gateway} did not confirm the reload within {waited:?}")]
    ReloadTimeout {
        /// The gateway.
        gateway: String,
        /// How long we waited.
        waited: Duration,
    },
    /// A system error (its message is the whole story: printed once, not
    /// again as a cause).
    #[error(transparent)]
    Io(#[from] io::Error),
}

fn find<'p>(st: &'p LabState, lab: &str, a: &str, b: &str) -> Result<&'p VethSpec, LinkError> {
    st.plan
        .links
        .iter()
        .find(|l| (l.joins.0 == a && l.joins.1 == b) || (l.joins.0 == b && l.joins.1 == a))
        .ok_or_else(|| {
            let mut known: Vec<String> = st
                .plan
                .links
                .iter()
                .map(|l| format!("{} {}", l.joins.0, l.joins.1))
                .collect();
            known.sort();
            LinkError::NoLink {
                lab: lab.into(),
                a: a.into(),
                b: b.into(),
                known: known.join("; "),
            }
        })
}

fn runtime() -> io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// The VGW-side gateway carrying a DX or VPN link, and the office one.
fn gateways_of(st: &LabState, l: &VethSpec) -> Vec<usize> {
    plan::tunnel_gateways(&st.plan, l)
}

/// Records in the lab's state that `l` is down (or cut), or up again:
/// `sim test --reuse` refuses a lab whose links are not as built.
fn record_down(
    lab: &str,
    st: &mut apply::state::LabState,
    l: &VethSpec,
    down: bool,
) -> Result<(), LinkError> {
    let k = apply::state::link_key(l);
    let changed = if down {
        st.links_down.insert(k)
    } else {
        st.links_down.remove(&k)
    };
    if changed {
        apply::state::save_state(lab, st)?;
    }
    Ok(())
}

/// Applies a change; a sentence saying what was done. The lab's lock is
/// held meanwhile (waiting for a `sim apply` at work to end): the state
/// is read and written back whole, and an apply writing it at the same
/// time would lose the record of the change, or this change the apply's.
pub fn change(lab: &str, a: &str, b: &str, c: &LinkChange) -> Result<String, LinkError> {
    let dir = apply::state::checked_state_dir(lab)?;
    let _lock = apply::lock::take(lab, &dir, apply::DOWN_WAITS_AT_MOST)
        .map_err(|e| io::Error::other(e.to_string()))?
        .ok_or_else(|| LinkError::NoLab(lab.into()))?;
    let mut st = apply::state::read_state(lab).ok_or_else(|| LinkError::NoLab(lab.into()))?;
    let l = find(&st, lab, a, b)?.clone();
    let ends = [
        (Netns::open(&l.a.ns)?, l.a.ifname.clone()),
        (Netns::open(&l.b.ns)?, l.b.ifname.clone()),
    ];
    let rt = runtime()?;
    let tunnel = matches!(l.kind, LinkKind::DirectConnect | LinkKind::Vpn);
    match c {
        LinkChange::Down | LinkChange::Up if tunnel => {
            // a silent cut: the carrier stays up, BFD or the hold timer
            // notices, BIRD withdraws
            let up = *c == LinkChange::Up;
            for end in [&l.a, &l.b] {
                let table = link_cut::table_name(lab, &end.ifname);
                let script = if up {
                    link_cut::uncut_script(&table)
                } else {
                    link_cut::cut_script(&table, &link_cut::interfaces(&end.ifname, l.vlan))
                };
                netns::nft(&end.ns, &["-f", "-"], Some(&script))?;
            }
            record_down(lab, &mut st, &l, !up)?;
            Ok(format!(
                "link {} {}",
                apply::state::link_key(&l),
                if up {
                    "up: the cut is removed; the BGP session comes back within seconds"
                } else {
                    "down: cut silently (carrier up, every packet dropped at both ends); BFD, or the hold timer without it, ends the BGP session and BIRD withdraws its routes"
                }
            ))
        }
        LinkChange::Down | LinkChange::Up => {
            let up = *c == LinkChange::Up;
            rt.block_on(async {
                for (ns, ifname) in &ends {
                    let nl = Netlink::open(ns)?;
                    let r = if up {
                        nl.set_up(ifname).await
                    } else {
                        nl.set_down(ifname).await
                    };
                    r.map_err(io::Error::from)?;
                }
                if up {
                    // a link taken down lost every route through it (the
                    // kernel flushes them): put the plan's back
                    for (end, (ns, _)) in [&l.a, &l.b].into_iter().zip(&ends) {
                        let nl = Netlink::open(ns)?;
                        for r in routes_through(&st, end) {
                            if let Err(e) = nl.add_route(&r.route()).await {
                                if e.errno() != Some(libc::EEXIST) {
                                    return Err(io::Error::from(e));
                                }
                            }
                        }
                    }
                    // and traffic flows once both ends are running
                    for (ns, ifname) in &ends {
                        let nl = Netlink::open(ns)?;
                        crate::kernel::link_wait::wait_running(
                            &nl,
                            &[ifname.as_str()],
                            Duration::from_secs(5),
                        )
                        .await;
                    }
                }
                Ok::<(), io::Error>(())
            })?;
            record_down(lab, &mut st, &l, !up)?;
            Ok(format!(
                "link {} {}",
                apply::state::link_key(&l),
                if up { "up" } else { "down" }
            ))
        }
        LinkChange::Shape {
            delay,
            jitter,
            loss_percent,
            rate_bps,
        } => {
            let k = apply::state::link_key(&l);
            // what is set now: the last `sim link`, else what `up` set
            let built = st
                .plan
                .shaping
                .iter()
                .find(|s| s.ns == l.a.ns && s.ifname == l.a.ifname)
                .map(|s| s.shaping.clone())
                .unwrap_or_default();
            let mut now = st.links.get(&k).cloned().unwrap_or_else(|| built.clone());
            let zero = |d: Option<Duration>| d.filter(|d| !d.is_zero());
            if delay.is_some() {
                now.delay = zero(*delay);
            }
            if jitter.is_some() {
                now.jitter = zero(*jitter);
            }
            if loss_percent.is_some() {
                now.loss_percent = loss_percent.filter(|l| *l > 0.0);
            }
            if rate_bps.is_some() {
                now.rate_bps = rate_bps.filter(|r| *r > 0);
            }
            let features = st.features;
            let wants_netem =
                now.delay.is_some() || now.jitter.is_some() || now.loss_percent.is_some();
            let by_gateways = wants_netem && !features.netem;
            if by_gateways && !tunnel {
                return Err(LinkError::Unsupported(format!(
                    "link {k}: this kernel has no netem (sch_netem), and only a Direct Connect or VPN link can be delayed or made lossy without it (by its gateways); --rate works everywhere (tbf)"
                )));
            }
            let shaping = Shaping {
                rate_bps: now.rate_bps,
                delay: if by_gateways { None } else { now.delay },
                jitter: if by_gateways { None } else { now.jitter },
                loss_percent: if by_gateways { None } else { now.loss_percent },
            };
            let mut how = Vec::new();
            rt.block_on(async {
                for (ns, ifname) in &ends {
                    let rep = Netlink::open(ns)?
                        .shape(ifname, &shaping, &features)
                        .await
                        .map_err(io::Error::from)?;
                    if rep.rate == Mechanism::Tbf && how.is_empty() {
                        how.push("rate by tbf".to_string());
                    }
                    if (rep.delay == Mechanism::Netem || rep.loss == Mechanism::Netem)
                        && !how.iter().any(|h| h.contains("netem"))
                    {
                        how.push("delay/jitter/loss by netem".into());
                    }
                }
                Ok::<(), io::Error>(())
            })?;
            if tunnel {
                // the gateways' own impairment: set when netem is missing,
                // cleared otherwise
                let impair = by_gateways.then(|| apply::gateways::impair_file(&now));
                for g in gateways_of(&st, &l) {
                    reconfigure(lab, &st, &st.plan.gateways[g], impair.clone())?;
                }
                if by_gateways {
                    how.push("delay/jitter/loss by the vifgate gateways at both ends (no netem in this kernel)".into());
                }
            }
            // a link shaped back as `up` left it is changed no more
            if now == built {
                st.links.remove(&k);
            } else {
                st.links.insert(k.clone(), now.clone());
            }
            apply::state::save_state(lab, &st)?;
            Ok(format!(
                "link {k}: {} ({})",
                now,
                if how.is_empty() {
                    "cleared".to_string()
                } else {
                    how.join("; ")
                }
            ))
        }
    }
}

/// The planned routes (not through a tunnel) that go out of one end of a
/// link: by its name, or by a next hop on one of its subnets.
fn routes_through<'p>(
    st: &'p LabState,
    end: &'p plan::End,
) -> impl Iterator<Item = &'p plan::RouteSpec> + 'p {
    let on_end = |dev: &str| {
        dev == end.ifname
            || dev
                .strip_prefix(end.ifname.as_str())
                .is_some_and(|rest| rest.starts_with('.'))
    };
    st.plan.routes.iter().filter(move |r| {
        r.ns == end.ns
            && match (&r.dev, r.via) {
                (Some(dev), _) => on_end(dev),
                (None, Some(via)) => st
                    .plan
                    .addresses
                    .iter()
                    .any(|a| a.ns == end.ns && on_end(&a.ifname) && a.addr.contains(&via)),
                (None, None) => false,
            }
    })
}

/// How long `sim link` waits for a gateway to confirm a reload.
const RELOAD_TIMEOUT: Duration = Duration::from_secs(5);

/// Puts `impair` into a gateway's configuration file (or takes it out),
/// makes the gateway reload it (SIGHUP to the process `up` started, if its
/// pid still has the recorded start time) and waits until its status
/// socket confirms the new configuration is in force — or says why it
/// refused it.
fn reconfigure(
    lab: &str,
    st: &LabState,
    g: &plan::GatewaySpec,
    impair: Option<ImpairFile>,
) -> Result<(), LinkError> {
    let dir = layout::state_dir(lab);
    let path = dir.join(format!("{}.toml", g.name));
    let socket = apply::gateway_socket(&dir, g);
    let not_running = || {
        LinkError::Io(io::Error::other(format!(
            "gateway {} is not running in {}",
            g.name, g.ns
        )))
    };
    let proc = st
        .gateway_process(&g.name)
        .filter(|p| p.is_running())
        .ok_or_else(not_running)?;
    // the generation in force before (an answer also means its signal
    // handlers are installed: SIGHUP reloads rather than ends it)
    let deadline = Instant::now() + RELOAD_TIMEOUT;
    let before = reload_status(g, &socket, deadline)?;
    let mut conf = GatewayConfigFile::read(&path)?;
    conf.impair = impair;
    conf.write(&path, &apply::gateways::config_header(lab))?;
    if !proc.signal(libc::SIGHUP)? {
        return Err(not_running());
    }
    loop {
        let now = reload_status(g, &socket, deadline)?;
        if now.generation > before.generation {
            return Ok(());
        }
        if now.refused > before.refused {
            return Err(LinkError::ReloadRefused {
                gateway: g.name.clone(),
                why: now.last_error.unwrap_or_else(|| "no reason given".into()),
            });
        }
        if Instant::now() >= deadline {
            return Err(LinkError::ReloadTimeout {
                gateway: g.name.clone(),
                waited: RELOAD_TIMEOUT,
            });
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The reload part of a gateway's status, from its socket, answered by
/// `deadline` (at least a moment from now).
fn reload_status(
    g: &plan::GatewaySpec,
    socket: &Path,
    deadline: Instant,
) -> Result<ReloadStatus, LinkError> {
    let left = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(100));
    let s = gateway::shell::query_status_within(socket, Some(left)).map_err(|e| {
        LinkError::Io(io::Error::new(
            e.kind(),
            format!(
                "gateway {}: no status from {}: {e}",
                g.name,
                socket.display()
            ),
        ))
    })?;
    s.reload.ok_or_else(|| {
        LinkError::Io(io::Error::other(format!(
            "gateway {} does not report its reloads (an older vifgate?)",
            g.name
        )))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The error and its causes, as `{:#}` prints a chain.
    fn told(e: &dyn std::error::Error) -> String {
        let mut out = e.to_string();
        let mut cause = e.source();
        while let Some(c) = cause {
            out.push_str(&format!(": {c}"));
            cause = c.source();
        }
        out
    }

    #[test]
    fn a_system_error_is_told_once() {
        let e = LinkError::from(io::Error::other("rate 1bit/s is below one byte a second"));
        let all = told(&e);
        assert_eq!(all.matches("below one byte").count(), 1, "{all}");
    }

    #[test]
    fn a_gateway_configuration_that_cannot_be_read_is_told_once() {
        let e = gateway::config_file::GatewayConfigFile::read(Path::new("/nonexistent/gw.toml"))
            .expect_err("no such file");
        let all = told(&LinkError::from(e));
        assert_eq!(all.matches("No such file").count(), 1, "{all}");
        assert!(all.starts_with("/nonexistent/gw.toml: "), "{all}");
    }
}
