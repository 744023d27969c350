//! The lab's daemons started: BIRD and FRR (their files written, their
//! sessions awaited), any process detached into a namespace, and the wait
//! for listening ports.

use super::startup;
use super::*;
use crate::render::frr::FrrConfig;

/// Starts BIRD `d` in its namespace `ns` (in the foreground, recorded
/// like the gateways) once its configuration, written and checked
/// (`bird -p`), is accepted, and waits until it answers on its control
/// socket: a BIRD that exits meanwhile is reported at once, with its log.
pub(super) fn start_bird(
    d: &crate::plan::bird::BirdSpec,
    ns: &Netns,
    dir: &Path,
    state: &mut LabState,
) -> Result<(), ApplyError> {
    write_new(&d.config_path, d.config.as_bytes(), 0o644)
        .map_err(step(format!("write {}", d.config_path.display())))?;
    super::check::bird(&d.config_path)
        .map_err(step(format!("check BIRD {}'s configuration", d.name)))?;
    let cmd = d.command();
    let args: Vec<&str> = cmd.iter().skip(1).map(String::as_str).collect();
    let pid = spawn_daemon(ns, Path::new(&cmd[0]), &args, &d.log).map_err(step(format!(
        "start BIRD {} in {} (is bird2 installed?)",
        d.name, d.ns
    )))?;
    record(dir, state, pid, format!("BIRD {}", d.name))?;
    // BIRD greets on its control socket once its configuration is read
    startup::wait_ready(pid, &[&d.log], STARTUP_WITHIN, || {
        startup::bird_answers(&d.socket)
    })
    .map_err(step(format!("BIRD {} in {}", d.name, d.ns)))?;
    Ok(())
}

/// The last lines of the logs of `plan`'s BGP daemons, for an error that
/// says why sessions did not come up.
pub(super) fn bgp_logs(plan: &Plan) -> String {
    (plan.bird.daemons.iter())
        .map(|d| (d.name.clone(), d.log.clone()))
        .chain(
            plan.frr
                .iter()
                .map(|f| (format!("FRR {}", f.node), f.run_dir.join("bgpd.log"))),
        )
        .map(|(name, path)| {
            let log = fs::read_to_string(&path).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(8).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            format!("\n{name} ({}):\n{}", path.display(), tail.join("\n"))
        })
        .collect()
}

/// The link note of a lab's BGP once its sessions are up: its daemons,
/// how many session ends were Established how long after the first
/// daemon started, and when the routes were learned.
pub(super) fn bgp_note(plan: &Plan, established: Duration, routes: Duration) -> String {
    let sessions: usize = (super::exec::bgp_awaited(plan).iter())
        .map(|d| d.established.len())
        .sum();
    let frr = if plan.frr.is_empty() {
        String::new()
    } else {
        format!(" and {} FRR", plan.frr.len())
    };
    format!(
        "BGP: {} BIRD{frr} daemons, {sessions} session ends Established {:.2} s after they started, routes learned after {:.2} s",
        plan.bird.daemons.len(),
        established.as_secs_f64(),
        routes.as_secs_f64()
    )
}

/// Starts an office node's FRR in its namespace `ns`: writes its run
/// directory (the configuration with the sessions' MD5 `keys`), then zebra,
/// waiting for its socket, then bfdd (with BFD) and bgpd, each in the
/// foreground and recorded, so that `down` ends them.
pub(super) fn start_frr(
    f: &crate::plan::frr::FrrSpec,
    keys: &BTreeMap<String, String>,
    ns: &Netns,
    dir: &Path,
    state: &mut LabState,
) -> Result<(), ApplyError> {
    let what = |s: &str| format!("FRR {s} of {}", f.node);
    let cfg = f.with_keys(keys);
    write_run_dir(&f.run_dir, &cfg).map_err(step(format!(
        "write {} (is frr installed?)",
        f.run_dir.display()
    )))?;
    for d in crate::render::frr::daemon_commands(&f.run_dir, &cfg) {
        let args: Vec<&str> = d.argv.iter().skip(1).map(String::as_str).collect();
        let out = f.run_dir.join(format!("{}.out", d.name));
        let pid = spawn_daemon(ns, Path::new(&d.argv[0]), &args, &out).map_err(step(format!(
            "start {} in {} (is frr installed?)",
            what(d.name),
            f.ns
        )))?;
        record(dir, state, pid, what(d.name))?;
        // zebra is ready once its zserv socket is there, bgpd and bfdd
        // once their vty socket is
        let ready = match d.name {
            "zebra" => crate::render::frr::zserv_socket(&f.run_dir),
            name => f.run_dir.join(format!("{name}.vty")),
        };
        let log = f.run_dir.join(format!("{}.log", d.name));
        let logs: [&Path; 2] = [&log, &out];
        if d.name == "zebra" {
            // the others need zebra's socket
            startup::require_ready(
                pid,
                &logs,
                STARTUP_WITHIN,
                &ready.display().to_string(),
                || ready.exists(),
            )
        } else {
            startup::wait_ready(pid, &logs, STARTUP_WITHIN, || ready.exists()).map(drop)
        }
        .map_err(step(what(d.name)))?;
    }
    Ok(())
}

/// How long a daemon may take to be ready (its socket there) before
/// the waits after it take over; one that exits sooner is reported then.
const STARTUP_WITHIN: Duration = Duration::from_secs(5);

/// A port that must accept: (namespace, what listens, port, its log,
/// what must keep running for it to).
pub(super) type ReadyCheck = (String, String, u16, PathBuf, Watch);

/// What must keep running for a port to come up: when it has ended,
/// nothing will ever accept on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Watch {
    /// Nothing known (a daemon started by an earlier run, and running).
    Nothing,
    /// The daemon that listens itself (HAProxy).
    Daemon(u32),
    /// A `[[sim.start]]` command's session, led by its `sh -c`: `sh` may
    /// end once its server went to the background, the session only once
    /// no process of it is left.
    Session(u32),
}

impl Watch {
    /// The error for what ended, if it has.
    fn ended(self, port: u16, log: &Path) -> Option<io::Error> {
        match self {
            Watch::Nothing => None,
            Watch::Daemon(pid) => startup::exited(pid, &[log]),
            Watch::Session(sid) => startup::session_ended(sid, port, log),
        }
    }
}

/// Waits (at most 10 s) until every (namespace, what, port) accepts TCP
/// connections on its loopback; an error at once when what should listen
/// has ended ([`Watch`]).
pub(super) fn wait_until_listening(checks: &[ReadyCheck]) -> Result<(), ApplyError> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut left: Vec<&ReadyCheck> = checks.iter().collect();
    while !left.is_empty() {
        // what has ended will never listen: said at once
        for (_, what, port, log, watch) in &left {
            if let Some(cause) = watch.ended(*port, log) {
                return Err(ApplyError::Step {
                    step: what.clone(),
                    cause,
                });
            }
        }
        let probes: Vec<Probe> = left
            .iter()
            .map(|(ns, _, port, _, _)| Probe {
                ns: ns.clone(),
                dst: std::net::Ipv4Addr::LOCALHOST,
                kind: ProbeKind::Tcp(*port),
            })
            .collect();
        let results = probe::run_probes(&probes, Duration::from_millis(200), 256);
        left = left
            .into_iter()
            .zip(results)
            .filter(|(_, r)| r.outcome != Outcome::Reply)
            .map(|(c, _)| c)
            .collect();
        if left.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            let (_, what, port, log, _) = left[0];
            let tail = fs::read_to_string(log).unwrap_or_default();
            return Err(ApplyError::Step {
                step: what.to_string(),
                cause: io::Error::other(format!(
                    "nothing accepts on tcp/{port} after 10 s; its log:\n{tail}"
                )),
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// Starts `program args` inside `ns`, detached (its own session, output to
/// `log`, a new file: FRR's logs are in the `frr` user's directory, where
/// a link put in its place must not be written through), so that it
/// outlives `sim up`.
pub(super) fn spawn_daemon(
    ns: &Netns,
    program: &Path,
    args: &[&str],
    log: &Path,
) -> io::Result<u32> {
    let out = write_new(log, b"", 0o644)?;
    let err = out.try_clone()?;
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .env(
            "RUST_LOG",
            std::env::var("VIFGATE_SIM_LOG").unwrap_or_else(|_| "info".into()),
        );
    ns.command(&mut cmd)?;
    // SAFETY: setsid is async-signal-safe.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
            libc::setsid();
            Ok(())
        });
    }
    let child = cmd.spawn()?;
    debug!(pid = child.id(), program = %program.display(), "started");
    Ok(child.id())
}

/// Gives bgpd (vty socket in `run_dir`) the [`FrrConfig::bfd_arming`]
/// commands; nothing to do without BFD.
pub fn arm_bfd(run_dir: &Path, cfg: &FrrConfig) -> io::Result<()> {
    if cfg.bfd_arming.is_empty() {
        return Ok(());
    }
    let mut cmd = std::process::Command::new("vtysh");
    cmd.arg("--vty_socket").arg(run_dir).args(["-d", "bgpd"]);
    for c in &cfg.bfd_arming {
        cmd.args(["-c", c]);
    }
    let out = cmd.output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() || text.contains('%') {
        return Err(io::Error::other(format!(
            "vtysh: BFD not armed: {}{}",
            text.trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// Waits (at most `timeout`) until every neighbour of the bgpd in `run_dir`
/// is Established, then [`arm_bfd`]s it; whether they all were (a session
/// still down gets BFD all the same, and may see the flap the module doc
/// describes when it comes up).
pub fn arm_bfd_once_established(
    run_dir: &Path,
    cfg: &FrrConfig,
    timeout: std::time::Duration,
) -> io::Result<bool> {
    if cfg.bfd_arming.is_empty() {
        return Ok(true);
    }
    let deadline = std::time::Instant::now() + timeout;
    let all_up = loop {
        let up = crate::bgp::live::frr::read(run_dir)
            .map(|d| !d.peers.is_empty() && d.peers.iter().all(|p| p.established))
            .unwrap_or(false);
        if up || std::time::Instant::now() >= deadline {
            break up;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    arm_bfd(run_dir, cfg)?;
    Ok(all_up)
}

/// Writes the configuration files into `run_dir` (created), private to the
/// `frr` user the daemons run as (they hold MD5 passwords), and gives it
/// the directory, where they make their sockets and pid files. A parent
/// others may not enter (the state directory of a lab built when it was
/// mode 700) is given to
/// the `frr` group with search permission only (710: enter, not list), or
/// the daemons could not reach their directory.
pub fn write_run_dir(run_dir: &Path, cfg: &FrrConfig) -> io::Result<()> {
    use std::os::unix::fs::{chown, MetadataExt as _, PermissionsExt as _};
    std::fs::create_dir_all(run_dir)?;
    let (uid, gid) = frr_user()?;
    if let Some(parent) = run_dir.parent() {
        let meta = std::fs::metadata(parent)?;
        if meta.mode() & 0o001 == 0 && !(meta.gid() == gid && meta.mode() & 0o010 != 0) {
            chown(parent, None, Some(gid))?;
            let mode = (meta.mode() & 0o7777) | 0o010;
            std::fs::set_permissions(parent, std::fs::Permissions::from_mode(mode))?;
        }
    }
    let mut files = vec![("zebra.conf", &cfg.zebra), ("bgpd.conf", &cfg.bgpd)];
    if let Some(b) = &cfg.bfdd {
        files.push(("bfdd.conf", b));
    }
    for (name, text) in files {
        // a new file (the directory is the `frr` user's: whatever is
        // there, a link to /etc/... too, is replaced, never written through)
        let f = write_new(&run_dir.join(name), text.as_bytes(), 0o600)?;
        std::os::unix::fs::fchown(&f, Some(uid), Some(gid))?;
    }
    std::fs::set_permissions(run_dir, std::fs::Permissions::from_mode(0o700))?;
    chown(run_dir, Some(uid), Some(gid))
}

/// The `frr` user's and group's ids.
pub(super) fn frr_user() -> io::Result<(u32, u32)> {
    let name = c"frr";
    // SAFETY: a NUL-terminated name; the result is read at once, before
    // any other passwd call of this thread.
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    if pw.is_null() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            "no `frr` user: install FRR (Debian `frr`)",
        ));
    }
    // SAFETY: not null, points to libc's static passwd record.
    let pw = unsafe { &*pw };
    Ok((pw.pw_uid, pw.pw_gid))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `frr` user owns FRR's run directory, so it can put a link where
    /// a configuration file goes: rewriting the files (`sim apply`) must
    /// replace the link, never write, chmod or chown what it points to.
    #[test]
    fn the_frr_files_replace_a_link_in_their_place_instead_of_writing_through_it() {
        if !crate::ops::lab::can_run("frr_files_replace_a_link") || frr_user().is_err() {
            return;
        }
        use std::os::unix::fs::MetadataExt as _;
        let dir = std::env::temp_dir().join(format!("vifgate-frr-link-{}", std::process::id()));
        let run_dir = dir.join("frr-office");
        fs::create_dir_all(&run_dir).expect("dirs");
        let victim = dir.join("victim");
        fs::write(&victim, "root's file\n").expect("victim");
        std::os::unix::fs::symlink(&victim, run_dir.join("bgpd.conf")).expect("link");
        let cfg = FrrConfig {
            zebra: "hostname z\n".into(),
            bgpd: "router bgp 65010\n".into(),
            bfdd: None,
            bfd_arming: Vec::new(),
        };
        write_run_dir(&run_dir, &cfg).expect("written");
        let v = fs::metadata(&victim).expect("victim");
        assert_eq!(fs::read_to_string(&victim).expect("read"), "root's file\n");
        assert_eq!(
            (v.uid(), v.mode() & 0o777),
            (0, 0o644),
            "the victim was chowned or chmodded"
        );
        let conf = fs::symlink_metadata(run_dir.join("bgpd.conf")).expect("bgpd.conf");
        assert!(conf.file_type().is_file(), "bgpd.conf is still a link");
        assert_eq!(conf.mode() & 0o777, 0o600);
        assert_eq!(conf.uid(), frr_user().expect("frr").0);
        let _ = fs::remove_dir_all(&dir);
    }

    /// A daemon's output file in FRR's run directory (`zebra.out`) with
    /// a link in its place: a new file, the link's target untouched.
    #[test]
    fn a_daemons_output_replaces_a_link_in_its_place() {
        if !crate::ops::lab::can_run("a_daemons_output_replaces_a_link") {
            return;
        }
        let name = format!("vgdl{}", std::process::id());
        let made = Command::new("ip").args(["netns", "add", &name]).status();
        assert!(made.is_ok_and(|s| s.success()), "ip netns add {name}");
        let dir = std::env::temp_dir().join(format!("vifgate-daemon-link-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("dir");
        let victim = dir.join("victim");
        fs::write(&victim, "root's file\n").expect("victim");
        let out = dir.join("zebra.out");
        std::os::unix::fs::symlink(&victim, &out).expect("link");
        let spawned = Netns::open(&name)
            .and_then(|ns| spawn_daemon(&ns, Path::new("echo"), &["from the daemon"], &out));
        let _ = Command::new("ip").args(["netns", "delete", &name]).status();
        let pid = spawned.expect("spawned");
        let end = std::time::Instant::now() + Duration::from_secs(5);
        while process::alive(pid) && std::time::Instant::now() < end {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(
            fs::read_to_string(&victim).expect("victim"),
            "root's file\n"
        );
        assert!(fs::symlink_metadata(&out)
            .expect("out")
            .file_type()
            .is_file());
        let _ = fs::remove_dir_all(&dir);
    }
}
