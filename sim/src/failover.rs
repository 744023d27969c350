//! Failover of a running lab measured: a VIF or VPN link cut silently
//! (`sim link --down`), then restored, while a probe loop runs. Used by
//! the lab's tests and by `vifgate bench bgp-failover`.
//!
//! Two figures per cut: when the VGW's route to the office left the cut
//! link's tunnel (BFD or the hold timer, then BIRD), and when traffic
//! answered again (a probe every [`PROBE_EVERY`], each one a fresh
//! connection: the first answered probe sent after the cut).

use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::lab::Lab;
use crate::link::LinkChange;
use crate::plan;
use crate::probe::{self, Outcome, Probe, ProbeKind};

/// How often the probe loop starts a probe.
pub const PROBE_EVERY: Duration = Duration::from_millis(50);
/// How long one probe waits for its answer.
const PROBE_TIMEOUT: Duration = Duration::from_millis(1000);

/// What to cut and what to probe.
#[derive(Debug, Clone)]
pub struct FailoverSpec {
    /// The office node ending the link.
    pub office_node: String,
    /// The VIF or VPN.
    pub link: String,
    /// A node the probes start from.
    pub from: String,
    /// Its destination (node or address).
    pub to: String,
    /// What the probes are.
    pub kind: ProbeKind,
    /// An office address whose route in the VGW is watched.
    pub office_addr: Ipv4Addr,
    /// How long to wait for each step.
    pub timeout: Duration,
}

/// The figures of one cut and restore.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FailoverRun {
    /// Cut → the VGW routes the office elsewhere.
    pub vgw_route_moved: Duration,
    /// Cut → the first answered probe sent after it.
    pub traffic_back: Duration,
    /// Restore → the VGW routes the office over the link again.
    pub vgw_route_back: Duration,
    /// Restore → the first answered probe sent after the route came back.
    pub traffic_after_restore: Duration,
}

/// The output device of the VGW's route to `addr`.
pub fn vgw_route_dev(lab: &str, addr: Ipv4Addr) -> Option<String> {
    let out = Command::new("ip")
        .args(["-n", &plan::vgw_ns(lab), "-j", "-4", "route", "get"])
        .arg(addr.to_string())
        .output()
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    v.get(0)?.get("dev")?.as_str().map(String::from)
}

/// Polls `check` every 20 ms until it holds; how long that took.
fn until(
    timeout: Duration,
    what: &str,
    mut check: impl FnMut() -> bool,
) -> Result<Duration, String> {
    let start = Instant::now();
    while !check() {
        if start.elapsed() > timeout {
            return Err(format!("{what}: not within {:.1} s", timeout.as_secs_f64()));
        }
        thread::sleep(Duration::from_millis(20));
    }
    Ok(start.elapsed())
}

/// Answered probes, by the time they were sent.
struct ProbeLoop {
    answered: Arc<Mutex<Vec<Instant>>>,
    stop: Arc<AtomicBool>,
    handle: Option<thread::JoinHandle<()>>,
}

impl ProbeLoop {
    fn start(probe: Probe) -> ProbeLoop {
        let answered = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (a, s) = (answered.clone(), stop.clone());
        let handle = thread::spawn(move || {
            let mut workers = Vec::new();
            while !s.load(Ordering::Relaxed) {
                let (p, a) = (probe.clone(), a.clone());
                workers.push(thread::spawn(move || {
                    let sent = Instant::now();
                    let r = probe::run_probes(&[p], PROBE_TIMEOUT, 1);
                    if r.first().is_some_and(|r| r.outcome == Outcome::Reply) {
                        if let Ok(mut v) = a.lock() {
                            v.push(sent);
                        }
                    }
                }));
                thread::sleep(PROBE_EVERY);
            }
            for w in workers {
                let _ = w.join();
            }
        });
        ProbeLoop {
            answered,
            stop,
            handle: Some(handle),
        }
    }

    /// The first answered probe sent after `t`, waiting at most `timeout`.
    fn first_after(&self, t: Instant, timeout: Duration, what: &str) -> Result<Duration, String> {
        let mut found = None;
        until(timeout, what, || {
            found = self
                .answered
                .lock()
                .ok()
                .and_then(|v| v.iter().filter(|&&s| s > t).min().copied());
            found.is_some()
        })?;
        Ok(found.map(|s| s.duration_since(t)).unwrap_or_default())
    }
}

impl Drop for ProbeLoop {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Cuts the link, measures, restores it, measures again.
pub fn measure(lab: &Lab, spec: &FailoverSpec) -> Result<FailoverRun, String> {
    let tun = lab
        .plan()
        .gateways
        .iter()
        .find(|g| g.name == format!("vgw-{}", plan::ns_token(&spec.link)))
        .map(|g| g.tun.clone())
        .ok_or_else(|| format!("no VGW gateway for {}", spec.link))?;
    let on_link = || vgw_route_dev(lab.name(), spec.office_addr).as_deref() == Some(tun.as_str());
    until(
        spec.timeout,
        &format!("the VGW routes the office over {}", spec.link),
        on_link,
    )?;
    let probe = Probe {
        ns: lab.ns(&spec.from).map_err(|e| e.to_string())?,
        dst: lab.address(&spec.to).map_err(|e| e.to_string())?,
        kind: spec.kind,
    };
    let probes = ProbeLoop::start(probe);
    let warm = Instant::now();
    probes.first_after(warm, spec.timeout, "traffic answered before the cut")?;

    let cut = Instant::now();
    lab.link(&spec.office_node, &spec.link, &LinkChange::Down)
        .map_err(|e| e.to_string())?;
    until(spec.timeout, "the VGW's route left the cut link", || {
        !on_link()
    })?;
    let vgw_route_moved = cut.elapsed();
    let traffic_back = probes.first_after(cut, spec.timeout, "traffic answered after the cut")?;

    let restore = Instant::now();
    lab.link(&spec.office_node, &spec.link, &LinkChange::Up)
        .map_err(|e| e.to_string())?;
    until(
        spec.timeout,
        "the VGW's route came back to the link",
        on_link,
    )?;
    let vgw_route_back = restore.elapsed();
    let back = Instant::now();
    let after = probes.first_after(back, spec.timeout, "traffic answered after the restore")?;
    Ok(FailoverRun {
        vgw_route_moved,
        traffic_back,
        vgw_route_back,
        traffic_after_restore: vgw_route_back + after,
    })
}

/// How the example's VIF and VPN are set up for a failover measurement:
/// the settings a topology file spells `bfd = { interval = "300ms",
/// multiplier = 3 }`, `hold_time = N` on the VIF, and `routing = "bgp"`,
/// `customer_asn` on the VPN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Variant {
    /// BFD 300 ms x 3 on every VIF (`false`: no BFD, whatever the file
    /// says).
    pub bfd: bool,
    /// The office's hold time on every VIF (`None`: AWS's 90 s).
    pub hold_time: Option<u16>,
    /// The VPN on BGP (with the VIF's customer ASN) rather than static.
    pub bgp_vpn: bool,
}

impl Variant {
    /// Applies it to a topology's model.
    pub fn apply(&self, t: &mut topology::Topology) {
        let asn = t.vifs.first().map(|v| v.customer_asn);
        for v in &mut t.vifs {
            // off too when the file has it on (the example does)
            v.bgp.bfd = self.bfd.then_some(topology::bgp::Bfd {
                interval: topology::bgp::config::MIN_BFD_INTERVAL,
                multiplier: topology::bgp::config::MIN_BFD_MULTIPLIER,
            });
            if self.hold_time.is_some() {
                v.bgp.hold_time = self.hold_time;
            }
        }
        if let Some(vpn) = t.vpn.as_mut().filter(|_| self.bgp_vpn) {
            vpn.bgp = true;
            vpn.customer_asn = vpn.customer_asn.or(asn).or(Some(65000));
        }
    }
}
