//! A [`Plan`] carried out, and undone: `up` runs the steps from nothing
//! to the plan (`diff(empty, plan)`) and `down` the steps from the plan
//! to nothing, both through the [`exec::Executor`] that runs `sim apply`.
//! The lab's state directory
//! (`/run/vifgate/sim/LAB/`) is written before anything is made: it holds
//! the plan (hence every namespace name), keys, gateway configurations,
//! logs, and every process `up` started (pid and start time, recorded as
//! soon as it runs). The directory is also the lab name's lock
//! ([`crate::apply::lock`]): of two `sim up` of one name, one builds and the
//! other fails without touching it.
//!
//! `down` needs nothing else. Under the lock (waiting for a `sim up` still
//! at work) it runs the steps to nothing, then sweeps what they left
//! (a lab a crash left half-built): it ends the lab's processes, deletes
//! the namespaces (which deletes every link, bridge, route and firewall in
//! them) and the directory. It signals two kinds of process, and no other:
//!
//! - those `up` recorded, if the pid still has the recorded start time (a
//!   pid reused by another process is never signalled) — these are found
//!   even if their namespace was deleted by hand;
//! - those living in one of the lab's namespaces (found through
//!   `/proc/PID/ns/net`, checked again through a pidfd before the
//!   signal): only the lab made those namespaces, so whatever runs in them
//!   is the lab's — a process `up` started but had no time to record
//!   (killed in between), a `sim exec`, a start command's children.
//!
//! So a `sim up` killed with SIGKILL at any point leaves nothing `down`
//! cannot remove, and a second `down` finds nothing to do.

mod agent;
pub mod check;
pub mod daemons;
pub mod exec;
pub mod fingerprint;
pub(crate) mod gateways;
pub mod journal;
pub mod lock;
pub mod md5;
pub mod process;
mod reconfigure;
pub mod startup;
pub mod state;
pub mod targets;

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::net::SocketAddr;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gateway::config_file::{
    BgpFile, GatewayConfigFile, InterfaceFile, LivenessFile, PeerFile, PolicyFile, RouteFile,
    StatusFile,
};
use serde::{Deserialize, Serialize};
use tracing::debug;

use crate::agent::AgentSpec;
use crate::bgp;
use crate::kernel::netlink::{self, KernelFeatures, Mechanism, Netlink, Rule, Shaping};
use crate::kernel::netns::{self, Netns};
use crate::layout::{self, STATE_ROOT_VAR};
use crate::plan::diff::{diff, empty};
use crate::plan::{self, GatewaySpec, Plan};
use crate::probe::{self, Outcome, Probe, ProbeKind};
use daemons::{spawn_daemon, wait_until_listening, ReadyCheck, Watch};
use gateways::{config_header, gateway_config, write_private_key};
use lock::{LabLock, LockError, Purpose};
use process::ProcessRecord;
use state::{
    checked_state_dir, gateway_what, holds_a_lab, own_directory, read_no_follow, read_state_in,
    write_new, write_state, BuildStatus, LabState, STATE_FORMAT,
};

/// Why a lab could not be built or removed.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// A lab of that name exists.
    #[error(
        "lab `{0}` exists: remove it with `vifgate sim down {0}`, or pick another name with --lab"
    )]
    Exists(String),
    /// Another process holds the lab's name (a lab that is up, a `sim up`
    /// building it, a `sim down` removing it).
    #[error(transparent)]
    Locked(#[from] LockError),
    /// A step failed; what was made is removed again.
    #[error("{step}: {cause}")]
    Step {
        /// What was being done.
        step: String,
        /// Why it failed (in the message already, so not a `source()`).
        cause: io::Error,
    },
}

fn step(what: impl Into<String>) -> impl FnOnce(io::Error) -> ApplyError {
    let step = what.into();
    move |cause| ApplyError::Step { step, cause }
}

fn nl_step(what: impl Into<String>) -> impl FnOnce(netlink::NetlinkError) -> ApplyError {
    let step = what.into();
    move |e| ApplyError::Step {
        step,
        cause: io::Error::other(e.to_string()),
    }
}

/// The longest Unix socket path the kernel takes: `sockaddr_un.sun_path`,
/// less its NUL.
pub const SUN_PATH_MAX: usize = 107;

/// Every Unix socket the lab's processes make under its state directory
/// `dir`: the gateways' status sockets, BIRD's control sockets, HAProxy's runtime API, an FRR
/// node's zserv, BFD and vty sockets.
pub fn socket_paths(plan: &Plan, dir: &Path) -> Vec<PathBuf> {
    let mut sockets: Vec<PathBuf> = plan
        .gateways
        .iter()
        .map(|g| gateway_socket(dir, g))
        .collect();
    sockets.extend(plan.bird.daemons.iter().map(|d| d.socket.clone()));
    sockets.extend(
        plan.haproxy
            .iter()
            .map(|h| layout::haproxy_socket(dir, &h.node)),
    );
    for f in &plan.frr {
        sockets.push(crate::render::frr::zserv_socket(&f.run_dir));
        sockets.push(f.run_dir.join("bfdd.sock"));
        sockets.push(f.run_dir.join("zebra.vty"));
        sockets.push(f.run_dir.join("bgpd.vty"));
    }
    sockets
}

/// A gateway's status socket in the lab's state directory `dir`.
pub(crate) fn gateway_socket(dir: &Path, g: &GatewaySpec) -> PathBuf {
    dir.join(format!("{}.sock", g.name))
}

/// Refuses, before anything is made, a state directory `dir` the lab's
/// files cannot name: a path with `"`, `\\` or a control character, which
/// BIRD's `include "…";` of a session's key file cannot carry (BIRD
/// stopped at *Unterminated include* once the namespaces were up), or
/// with `,` or `$`, which HAProxy's `stats socket` address cannot (its
/// address parser reads `$NAME` as an environment variable even in
/// quotes, and `,` as the end of an address), and
/// socket paths the kernel would not take (`check` bounds names for the
/// default state root, so only a long `VIFGATE_STATE_ROOT` gets here).
fn paths_fit(plan: &Plan, dir: &Path) -> io::Result<()> {
    let refuse = |why: String| {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{why}: give {STATE_ROOT_VAR} another path (the state root is {})",
                layout::state_root().display()
            ),
        ))
    };
    let text = dir.to_string_lossy();
    if let Some(c) = text
        .chars()
        .find(|&c| matches!(c, '"' | '\\' | ',' | '$') || c.is_control())
    {
        return refuse(format!(
            "the lab's directory {} has the character {c:?}, which the lab's daemons' configurations cannot carry",
            dir.display()
        ));
    }
    match socket_paths(plan, dir)
        .into_iter()
        .find(|s| s.as_os_str().len() > SUN_PATH_MAX)
    {
        Some(long) => refuse(format!(
            "the socket {} would have {} bytes, and a Unix socket path has at most {SUN_PATH_MAX}",
            long.display(),
            long.as_os_str().len()
        )),
        None => Ok(()),
    }
}

/// How to start the helper processes (`vifgate gateway`, `vifgate sim
/// agent`).
#[derive(Debug, Clone)]
pub struct Programs {
    /// The vifgate binary.
    pub vifgate: PathBuf,
}

impl Programs {
    /// The running executable, or `VIFGATE_BIN` when set (tests).
    pub fn current() -> io::Result<Programs> {
        let vifgate = match std::env::var_os("VIFGATE_BIN") {
            Some(p) => PathBuf::from(p),
            None => std::env::current_exe()?,
        };
        Ok(Programs { vifgate })
    }
}

/// What `up` reports.
#[derive(Debug, Clone, Serialize)]
pub struct UpReport {
    /// Lab name.
    pub lab: String,
    /// Counts of what was made.
    pub summary: String,
    /// How links got their attributes: shaping mechanisms, VLANs.
    pub link_notes: Vec<String>,
    /// Seconds it took.
    pub seconds: f64,
    /// Seconds from the BIRDs' start until every expected BGP session was
    /// Established (none without BGP).
    pub bgp_established_seconds: Option<f64>,
}

/// Builds the lab. On failure, removes what it made and returns the error.
/// The lab's name is taken first ([`lock::create`]): if another
/// process holds it, the error says which and nothing is touched.
pub fn up(
    plan: &Plan,
    source: Option<&Path>,
    topology_text: &str,
    programs: &Programs,
) -> Result<UpReport, ApplyError> {
    let start = Instant::now();
    let dir = checked_state_dir(&plan.lab).map_err(step("name the lab"))?;
    paths_fit(plan, &dir).map_err(step("place the lab's files"))?;
    check::installed(plan).map_err(step("find the lab's daemons"))?;
    let lock = lock::create(&plan.lab, &dir, Purpose::Build)?;
    if layout::lab_prefixes(&plan.lab)
        .iter()
        .any(|p| !netns::list(p).is_empty())
    {
        // leftovers of a lab whose state directory is gone: `down` removes
        // them, not a `sim up`
        let _ = lock.remove();
        return Err(ApplyError::Exists(plan.lab.clone()));
    }
    let mut state = LabState {
        format: STATE_FORMAT,
        plan: plan.clone(),
        source: source.map(Path::to_path_buf),
        status: BuildStatus::Building,
        link_notes: Vec::new(),
        features: KernelFeatures::default(),
        seconds: 0.0,
        links: Default::default(),
        links_down: Default::default(),
        failed: Default::default(),
        impaired_zones: Default::default(),
        processes: Vec::new(),
        bgp_established_seconds: None,
        built_from: Some(fingerprint::fingerprint(plan, topology_text)),
        applying: None,
        capacity: Default::default(),
    };
    // recorded before the first namespace exists, with the text it is
    // built from (`sim apply` compares an edit with it)
    let recorded = write_state(&dir, &state).and_then(|()| {
        write_new(&dir.join("topology.toml"), topology_text.as_bytes(), 0o644).map(drop)
    });
    if let Err(e) = recorded {
        let _ = lock.remove();
        return Err(step("write the state file")(e));
    }
    let built = build(plan, &dir, programs, &mut state).and_then(|()| {
        state.status = BuildStatus::Up;
        state.seconds = start.elapsed().as_secs_f64();
        write_state(&dir, &state).map_err(step("write the state file"))
    });
    match built {
        Ok(()) => {
            // the lab stays; the name stays taken by its directory
            drop(lock);
            Ok(UpReport {
                lab: plan.lab.clone(),
                summary: plan::summary(plan),
                link_notes: state.link_notes.clone(),
                seconds: state.seconds,
                bgp_established_seconds: state.bgp_established_seconds,
            })
        }
        Err(e) => {
            let _ = teardown(&plan.lab, &dir, lock, true);
            Err(e)
        }
    }
}

/// Builds the lab: the steps from nothing to `plan`
/// (`diff(empty, plan)`), run by the [`exec::Executor`] as `sim up`'s.
fn build(
    plan: &Plan,
    dir: &Path,
    programs: &Programs,
    state: &mut LabState,
) -> Result<(), ApplyError> {
    let steps = diff(&empty(&plan.lab), plan);
    exec::Executor::open(dir, state, plan, programs)?
        .building()
        .run(&steps, |_| {})
}

/// Removes the lab of `state` step by step (`diff(plan, empty)`): its
/// processes stopped, its namespaces deleted. What this leaves (a lab
/// that crashed half-way, a step that failed) is swept after it.
fn unbuild(lab: &str, dir: &Path, state: &mut LabState) -> Result<(), ApplyError> {
    let mut from = state.plan.clone();
    // an apply under way: what it may have added goes too
    if let Some(under_way) = &state.applying {
        let more: Vec<_> = (under_way.namespaces.iter())
            .filter(|n| !from.namespaces.iter().any(|o| o.name == n.name))
            .cloned()
            .collect();
        from.namespaces.extend(more);
    }
    let none = empty(lab);
    let steps = diff(&from, &none);
    let programs = Programs::current().unwrap_or_else(|_| Programs {
        vifgate: PathBuf::new(),
    });
    exec::Executor::open(dir, state, &none, &programs)?.run(&steps, |_| {})
}

fn runtime() -> Result<tokio::runtime::Runtime, ApplyError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(step("start a runtime"))
}

/// "rate by tbf; delay and jitter by netem": each mechanism and what it
/// carries; `unsupported` names what stands in for a missing qdisc.
fn describe(r: &netlink::ShapingReport, unsupported: &str) -> String {
    let mut groups: Vec<(String, Vec<&str>)> = Vec::new();
    for (what, m) in [
        ("rate", r.rate),
        ("delay", r.delay),
        ("jitter", r.jitter),
        ("loss", r.loss),
    ] {
        let by = match m {
            Mechanism::NotRequested => continue,
            Mechanism::Tbf => "tbf".to_string(),
            Mechanism::Netem => "netem".to_string(),
            Mechanism::Unsupported => unsupported.to_string(),
        };
        match groups.iter_mut().find(|(b, _)| *b == by) {
            Some((_, list)) => list.push(what),
            None => groups.push((by, vec![what])),
        }
    }
    if groups.is_empty() {
        return "nothing asked".into();
    }
    groups
        .iter()
        .map(|(by, what)| format!("{} by {by}", what.join(" and ")))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Records a process `up` started, with its start time, in the state file
/// at once: a `sim up` killed a moment later leaves it known to `down`.
fn record(
    dir: &Path,
    state: &mut LabState,
    pid: u32,
    what: impl Into<String>,
) -> Result<(), ApplyError> {
    let what = what.into();
    let rec = ProcessRecord::of(pid, what.clone()).map_err(step(format!("record {what}")))?;
    state.processes.push(rec);
    write_state(dir, state).map_err(step("write the state file"))
}

/// Processes whose network namespace is the named one.
pub fn pids_in(ns: &str) -> Vec<i32> {
    let Ok(target) = fs::metadata(netns::path(ns)) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if let Ok(m) = fs::metadata(format!("/proc/{pid}/ns/net")) {
            if m.dev() == target.dev() && m.ino() == target.ino() {
                out.push(pid);
            }
        }
    }
    out
}

/// What `down` removed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DownReport {
    /// Namespaces deleted.
    pub namespaces: usize,
    /// Processes ended.
    pub processes: usize,
    /// Whether there was anything at all.
    pub existed: bool,
}

/// How long `down` waits for a `sim up` still building the lab (or
/// another `down`) to let go of it.
pub const DOWN_WAITS_AT_MOST: Duration = Duration::from_secs(60);

/// Removes everything of a lab: its processes, namespaces and state.
/// Nothing to remove is not an error. Waits (at most
/// [`DOWN_WAITS_AT_MOST`]) for a `sim up` still building it.
///
/// A name that is not a lab name (`..`, an absolute path) is refused
/// before anything is looked at, and so is a state directory that is a
/// symbolic link or a file: only a directory of the state root's own is
/// removed, and its removal follows no symbolic link inside it.
pub fn down(lab: &str) -> io::Result<DownReport> {
    let dir = checked_state_dir(lab)?;
    let lock_err = |e: LockError| io::Error::other(e.to_string());
    for _ in 0..10 {
        own_directory(&dir)?;
        holds_a_lab(&dir)?;
        if let Some(lock) = lock::take(lab, &dir, DOWN_WAITS_AT_MOST).map_err(lock_err)? {
            return teardown(lab, &dir, lock, true);
        }
        // no state directory: hold the name while leftovers with its
        // prefixes are looked for, so no `sim up` builds meanwhile
        match lock::create(lab, &dir, Purpose::Remove) {
            Ok(lock) => return teardown(lab, &dir, lock, false),
            // taken meanwhile: wait for that one
            Err(LockError::Held { .. }) => continue,
            Err(e) => return Err(lock_err(e)),
        }
    }
    Err(io::Error::other(format!(
        "lab `{lab}`: its state directory keeps appearing and disappearing"
    )))
}

/// The lab's namespaces, by name and by the (device, inode) that identify
/// them in `/proc/PID/ns/net`.
fn namespaces_of(lab: &str, state: Option<&LabState>) -> Vec<(String, Option<(u64, u64)>)> {
    let mut names: Vec<String> = state
        .map(|s| s.plan.namespaces.iter().map(|n| n.name.clone()).collect())
        .unwrap_or_default();
    // also whatever carries the lab's prefixes (a state file lost or older)
    for p in layout::lab_prefixes(lab) {
        names.extend(netns::list(&p));
    }
    names.sort();
    names.dedup();
    names
        .into_iter()
        .map(|n| {
            let id = fs::metadata(netns::path(&n))
                .ok()
                .map(|m| (m.dev(), m.ino()));
            (n, id)
        })
        .collect()
}

/// A process `down` ends: one `up` recorded, or one found in the lab's
/// namespaces.
enum Target {
    Recorded(ProcessRecord),
    InLab(u32),
}

impl Target {
    fn pid(&self) -> u32 {
        match self {
            Target::Recorded(r) => r.pid,
            Target::InLab(p) => *p,
        }
    }

    /// Still there, and still the lab's.
    fn running(&self, lab_ns: &[(u64, u64)]) -> bool {
        match self {
            Target::Recorded(r) => r.is_running(),
            Target::InLab(p) => {
                process::alive(*p) && lab_ns.iter().any(|&id| process::in_namespace(*p, id))
            }
        }
    }

    /// Sends `signal` if it is still the lab's; whether it was sent.
    fn signal(&self, signal: libc::c_int, lab_ns: &[(u64, u64)]) -> bool {
        let sent = match self {
            Target::Recorded(r) => r.signal(signal),
            Target::InLab(p) => process::signal_checked(*p, signal, |p| {
                lab_ns.iter().any(|&id| process::in_namespace(p, id))
            }),
        };
        sent.unwrap_or_else(|e| {
            debug!(pid = self.pid(), "signal {signal}: {e}");
            false
        })
    }
}

/// `down` with the lab's name held (its state directory `dir` locked):
/// SIGTERM to the lab's processes, SIGKILL to what remains after 2 s,
/// then the namespaces and the state directory.
fn teardown(lab: &str, dir: &Path, lock: LabLock, dir_existed: bool) -> io::Result<DownReport> {
    // a state file that cannot be read: the lab's prefixes still find its
    // namespaces, and what runs in them
    let mut state = read_state_in(dir).unwrap_or_else(|e| {
        debug!("lab {lab}: {e}");
        None
    });
    let namespaces = namespaces_of(lab, state.as_ref());
    let lab_ns: Vec<(u64, u64)> = namespaces.iter().filter_map(|(_, id)| *id).collect();
    let existing: Vec<&String> = (namespaces.iter())
        .map(|(n, _)| n)
        .filter(|n| netns::exists(n))
        .collect();
    let mut rep = DownReport {
        existed: dir_existed,
        ..DownReport::default()
    };
    let mut targets: Vec<Target> = (state.as_ref())
        .map(|s| s.processes.iter().cloned().map(Target::Recorded).collect())
        .unwrap_or_default();
    let mut swept: Vec<u32> = namespaces
        .iter()
        .flat_map(|(n, _)| pids_in(n))
        .filter_map(|p| u32::try_from(p).ok())
        .filter(|p| !targets.iter().any(|t| t.pid() == *p))
        .collect();
    swept.sort_unstable();
    swept.dedup();
    targets.extend(swept.into_iter().map(Target::InLab));
    targets.retain(|t| t.running(&lab_ns));
    rep.processes = targets.len();
    if let Some(s) = state.as_mut() {
        // the steps first; the sweep below removes what they leave
        if let Err(e) = unbuild(lab, dir, s) {
            tracing::warn!("lab {lab}: removing it step by step: {e}; sweeping the rest");
        }
    }
    targets.retain(|t| t.running(&lab_ns));
    for t in &targets {
        t.signal(libc::SIGTERM, &lab_ns);
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline && targets.iter().any(|t| t.running(&lab_ns)) {
        std::thread::sleep(Duration::from_millis(10));
    }
    for t in &targets {
        if t.running(&lab_ns) {
            t.signal(libc::SIGKILL, &lab_ns);
        }
    }
    let mut first_err = None;
    rep.existed |= !existing.is_empty();
    for (n, _) in &namespaces {
        if netns::exists(n) {
            match netns::delete(n) {
                Ok(()) => {}
                Err(e) => {
                    first_err.get_or_insert(io::Error::new(
                        e.kind(),
                        format!("delete namespace {n}: {e}"),
                    ));
                }
            }
        }
    }
    rep.namespaces = existing.iter().filter(|n| !netns::exists(n)).count();
    if let Err(e) = remove_cpu_groups(lab) {
        first_err.get_or_insert(e);
    }
    lock.remove()?;
    match first_err {
        Some(e) => Err(e),
        None => Ok(rep),
    }
}

/// Removes the lab's CPU accounting groups ([`crate::kernel::cgroup`]),
/// also those a crashed agent left; waits up to 2 s for the threads of a
/// process just ended to leave them.
fn remove_cpu_groups(lab: &str) -> io::Result<()> {
    let Ok(acct) = crate::kernel::cgroup::this_machine() else {
        return Ok(());
    };
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        match crate::kernel::cgroup::remove_lab(acct, lab) {
            Ok(_) => return Ok(()),
            Err(e) if Instant::now() >= deadline => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::example;
    use gateways::gateway_keys;

    #[test]
    fn a_lab_directory_haproxy_cannot_name_is_refused_before_anything_is_made() {
        let p = crate::plan::plan(&example(), "yh", &[80]).expect("plan");
        assert!(!p.haproxy.is_empty());
        assert!(paths_fit(&p, Path::new("/run/vifgate/sim/yh")).is_ok());
        // HAProxy's `stats socket` address: `$x` an environment variable,
        // `,` the end of the address; BIRD's include: `"`
        for dir in ["/tmp/a,b/yh", "/tmp/a$HOME/yh", "/tmp/a\"b/yh"] {
            let e = paths_fit(&p, Path::new(dir)).expect_err(dir);
            assert!(e.to_string().contains("has the character"), "{dir}: {e}");
        }
    }

    #[test]
    fn build_status_keeps_the_state_file_words() {
        assert_eq!(
            serde_json::to_string(&BuildStatus::Building).expect("serialises"),
            "\"building\""
        );
        assert_eq!(
            serde_json::from_str::<BuildStatus>("\"up\"").expect("parses"),
            BuildStatus::Up
        );
        assert!(serde_json::from_str::<BuildStatus>("\"Up\"").is_err());
    }

    #[test]
    fn a_state_file_round_trips_with_its_status_as_a_word() {
        let p = plan::plan(&example(), "yh", &[22]).expect("plan");
        let state = LabState {
            format: STATE_FORMAT,
            plan: p,
            source: None,
            status: BuildStatus::Up,
            link_notes: Vec::new(),
            features: KernelFeatures::default(),
            seconds: 0.5,
            links: Default::default(),
            links_down: Default::default(),
            failed: Default::default(),
            impaired_zones: Default::default(),
            processes: Vec::new(),
            bgp_established_seconds: None,
            built_from: None,
            applying: None,
            capacity: Default::default(),
        };
        let json = serde_json::to_value(&state).expect("serialises");
        assert_eq!(json["status"], "up");
        let back: LabState = serde_json::from_value(json).expect("loads");
        assert_eq!(back.status, BuildStatus::Up);
    }

    const TOPOLOGY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/yeohaengjigi.toml");

    /// Every gateway's configuration as the gateway reads it.
    fn configs(p: &Plan) -> Vec<(GatewayConfigFile, gateway::config::GatewayConfig)> {
        let dir = Path::new("/run/vifgate/sim/yh");
        let keys = gateway_keys(p.gateways.len()).expect("keys");
        p.gateways
            .iter()
            .map(|g| {
                let key = dir.join(format!("{}.key", g.name));
                let file = gateway_config(p, g, &keys, &key, dir, Path::new(TOPOLOGY));
                let text = file.to_toml(&config_header(&p.lab)).expect("TOML");
                match gateway::config::parse(dir.join("gw.toml"), text.clone()) {
                    Ok(c) => (file, c),
                    Err(d) => panic!("{d}\n{text}"),
                }
            })
            .collect()
    }

    #[test]
    fn gateway_configs_round_trip_and_the_gateway_reads_them() {
        let p = plan::plan(&crate::example(), "yh", &[22]).expect("plan");
        assert!(!p.gateways.is_empty());
        for (g, (file, read)) in p.gateways.iter().zip(configs(&p)) {
            let text = file.to_toml(&config_header(&p.lab)).expect("TOML");
            assert!(text.starts_with("# generated by `vifgate sim up` for lab yh\n"));
            let dir = std::env::temp_dir().join(format!("vifgate-apply-{}", std::process::id()));
            fs::create_dir_all(&dir).expect("temp dir");
            let path = dir.join(format!("{}.toml", g.name));
            file.write(&path, &config_header(&p.lab)).expect("write");
            let back = GatewayConfigFile::read(&path).expect("read back");
            let _ = fs::remove_dir_all(&dir);
            assert_eq!(back, file, "{text}");
            assert_eq!(read.interface.name, g.tun);
            assert_eq!(read.peers.len(), g.peers.len());
            assert_eq!(read.dead_after, Duration::from_secs(3));
            assert_eq!(read.policy.enforce, g.policy_node.is_some());
            assert_eq!(
                read.status_socket,
                Path::new("/run/vifgate/sim/yh").join(format!("{}.sock", g.name))
            );
        }
    }

    #[test]
    fn a_gateway_that_follows_bgp_has_no_static_routes() {
        let p = plan::plan(&crate::example(), "yh", &[22]).expect("plan");
        for (g, (file, _)) in p.gateways.iter().zip(configs(&p)) {
            // the VGW's tunnels route statically; the office box follows
            // its BIRD (and a static VPN's floating route in that table)
            assert_eq!(
                file.route.is_empty(),
                g.bgp_kernel_table.is_some(),
                "{}",
                g.name
            );
        }
        assert!(p.gateways.iter().any(|g| g.bgp_kernel_table.is_some()));
    }

    #[test]
    fn names_with_quotes_and_backslashes_are_escaped() {
        let mut p = plan::plan(&crate::example(), "yh", &[22]).expect("plan");
        let odd = |i: usize| format!(r#"dx "vif" \ {i}"#);
        for g in &mut p.gateways {
            for (i, peer) in g.peers.iter_mut().enumerate() {
                peer.name = odd(i);
            }
        }
        for (file, read) in configs(&p) {
            let text = file.to_toml("").expect("TOML");
            // a literal string, or a basic one with escapes: both are TOML
            assert!(
                text.contains(r#"name = 'dx "vif" \ 0'"#)
                    || text.contains(r#"name = "dx \"vif\" \\ 0""#),
                "{text}"
            );
            for (i, peer) in read.peers.iter().enumerate() {
                assert_eq!(peer.name, odd(i));
            }
            assert!(read
                .routes
                .iter()
                .all(|r| read.peers[r.peer].name == odd(r.peer)));
        }
    }

    #[test]
    fn impairments_go_into_the_file_and_back_out() {
        let p = plan::plan(&crate::example(), "yh", &[22]).expect("plan");
        let (mut file, _) = configs(&p).remove(0);
        let shaping = Shaping {
            delay: Some(Duration::from_micros(2500)),
            jitter: Some(Duration::from_nanos(500_900)),
            loss_percent: Some(1.5),
            rate_bps: None,
        };
        file.impair = Some(gateways::impair_file(&shaping));
        let text = file.to_toml("").expect("TOML");
        assert!(text.contains("delay = \"2.5ms\""), "{text}");
        assert!(
            text.contains("jitter = \"500us\""),
            "whole microseconds: {text}"
        );
        assert!(text.contains("loss = \"1.5%\""), "{text}");
        let read = gateway::config::parse("/tmp/gw.toml", text).expect("reads");
        let i = read.impair.expect("[impair]");
        assert_eq!(i.delay, Duration::from_micros(2500));
        assert!((i.loss - 0.015).abs() < 1e-12);
        file.impair = None;
        assert!(!file.to_toml("").expect("TOML").contains("[impair]"));
    }
}
