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

use crate::layout;
use crate::ops::lab::Lab;
use crate::ops::link::LinkChange;
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
        .args(["-n", &layout::vgw_ns(lab), "-j", "-4", "route", "get"])
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
        .find(|g| g.name == format!("vgw-{}", layout::ns_token(&spec.link)))
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

/// How the example's VIF and VPN are set up for a failover measurement,
/// written into the topology's text: `bfd = { interval = "300ms",
/// multiplier = 3 }` or no `bfd`, `hold_time = N` or AWS's 90 s on every
/// VIF; `routing = "bgp"` with a `customer_asn`, or `routing = "static"`,
/// on the VPN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Variant {
    /// BFD 300 ms x 3 on every VIF (false: no BFD, whatever the file says).
    pub bfd: bool,
    /// The office's hold time on every VIF (`None`: AWS's 90 s).
    pub hold_time: Option<u16>,
    /// The VPN on BGP (with the VIF's customer ASN when the file names
    /// none) rather than static.
    pub bgp_vpn: bool,
}

impl Variant {
    /// The topology text `text` with this variant's settings (comments
    /// and layout are not kept). An error when `text` is not TOML.
    pub fn toml(&self, text: &str) -> Result<String, String> {
        use toml::{Table, Value};
        let mut doc: Table = text.parse().map_err(|e| format!("not TOML: {e}"))?;
        let mut asn = None;
        let vifs = doc
            .get_mut("direct_connect")
            .and_then(|d| d.get_mut("vif"))
            .and_then(Value::as_array_mut);
        for vif in vifs.into_iter().flatten().filter_map(Value::as_table_mut) {
            asn = asn.or_else(|| vif.get("customer_asn").cloned());
            vif.remove("bfd");
            if self.bfd {
                let mut bfd = Table::new();
                let ms = topology::bgp::config::MIN_BFD_INTERVAL.as_millis();
                bfd.insert("interval".into(), Value::String(format!("{ms}ms")));
                bfd.insert(
                    "multiplier".into(),
                    Value::Integer(topology::bgp::config::MIN_BFD_MULTIPLIER.into()),
                );
                vif.insert("bfd".into(), Value::Table(bfd));
            }
            vif.remove("hold_time");
            vif.remove("keepalive");
            if let Some(h) = self.hold_time {
                vif.insert("hold_time".into(), Value::Integer(h.into()));
            }
        }
        if let Some(vpn) = doc.get_mut("vpn").and_then(Value::as_table_mut) {
            if self.bgp_vpn {
                vpn.insert("routing".into(), Value::String("bgp".into()));
                if !vpn.contains_key("customer_asn") {
                    let asn = asn.unwrap_or(Value::Integer(65000));
                    vpn.insert("customer_asn".into(), asn);
                }
            } else {
                vpn.insert("routing".into(), Value::String("static".into()));
                // BGP settings, which a static VPN warns about
                for key in ["customer_asn", "hold_time", "keepalive", "local_preference"] {
                    vpn.remove(key);
                }
            }
        }
        toml::to_string(&doc).map_err(|e| format!("cannot write TOML: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::Variant;

    fn example_with(v: Variant) -> topology::Topology {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/yeohaengjigi.toml");
        let text = std::fs::read_to_string(path).expect("the example");
        let text = v.toml(&text).expect("TOML");
        let loaded = topology::parse("variant.toml", text).expect("the variant loads");
        assert!(loaded.warnings.0.is_empty(), "{:?}", loaded.warnings);
        loaded.topology
    }

    #[test]
    fn a_variant_is_written_into_the_files_text() {
        // the example runs BFD and a BGP VPN: a variant without them has none
        let t = example_with(Variant {
            bfd: false,
            hold_time: Some(9),
            bgp_vpn: false,
        });
        let vif = &t.vifs[0];
        assert_eq!((vif.bgp.bfd, vif.bgp.hold_time), (None, Some(9)));
        let vpn = t.vpn.as_ref().expect("the VPN");
        assert!(!vpn.bgp && vpn.customer_asn.is_none());
        assert!(topology::bgp::analyse(&t)
            .sessions
            .iter()
            .all(|s| s.name != "vpn-backup"));

        let t = example_with(Variant {
            bfd: true,
            hold_time: None,
            bgp_vpn: true,
        });
        let bfd = t.vifs[0].bgp.bfd.expect("BFD");
        assert_eq!(bfd.interval, topology::bgp::config::MIN_BFD_INTERVAL);
        assert_eq!(bfd.multiplier, topology::bgp::config::MIN_BFD_MULTIPLIER);
        assert_eq!(t.vifs[0].bgp.hold_time, None);
        let vpn = t.vpn.as_ref().expect("the VPN");
        assert_eq!((vpn.bgp, vpn.customer_asn), (true, Some(65010)));
        assert!(Variant {
            bfd: true,
            hold_time: None,
            bgp_vpn: true
        }
        .toml("not = toml = at all")
        .is_err());
    }
}
