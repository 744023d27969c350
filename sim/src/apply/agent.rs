//! The listener agent: one `vifgate sim agent` process serving every
//! node's listeners from the lab's home namespace, started, and told of
//! new listeners by SIGHUP.

use super::*;
use crate::agent::spec::ListenSpec;

/// Writes the agent's spec for `listeners` and tells agent `pid` to read
/// it again (SIGHUP); waits (10 s at most) until it says it serves it.
pub(super) fn reload_agent(dir: &Path, pid: u32, listeners: &[ListenSpec]) -> io::Result<()> {
    let ready = dir.join("agent.ready");
    write_agent_spec(dir, listeners)?;
    match fs::remove_file(&ready) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let pid_t = libc::pid_t::try_from(pid).map_err(io::Error::other)?;
    // SAFETY: kill(2) on the recorded, running agent.
    if unsafe { libc::kill(pid_t, libc::SIGHUP) } != 0 {
        return Err(io::Error::last_os_error());
    }
    super::startup::require_ready(
        pid,
        &[&dir.join("agent.log")],
        Duration::from_secs(10),
        &ready.display().to_string(),
        || ready.exists(),
    )
}

/// Writes `agent.json` in `dir`: the agent's spec for `listeners`.
fn write_agent_spec(dir: &Path, listeners: &[ListenSpec]) -> io::Result<PathBuf> {
    let spec = AgentSpec {
        listeners: listeners.to_vec(),
    };
    let path = dir.join("agent.json");
    write_new(
        &path,
        &serde_json::to_vec(&spec).map_err(io::Error::other)?,
        0o644,
    )?;
    Ok(path)
}

/// Starts the listener agent in `home` serving `listeners`, recorded, and
/// waits (10 s at most) until it is ready.
pub(super) fn start_agent(
    dir: &Path,
    home: &Netns,
    vifgate: &Path,
    listeners: &[ListenSpec],
    state: &mut LabState,
) -> Result<(), ApplyError> {
    let ready = dir.join("agent.ready");
    match fs::remove_file(&ready) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            return Err(step("start the listeners")(e));
        }
        _ => {}
    }
    let spec_path = write_agent_spec(dir, listeners).map_err(step("write the agent spec"))?;
    let pid = spawn_daemon(
        home,
        vifgate,
        &[
            "sim",
            "agent",
            "--spec",
            &spec_path.to_string_lossy(),
            "--ready",
            &ready.to_string_lossy(),
        ],
        &dir.join("agent.log"),
    )
    .map_err(step("start the listeners"))?;
    record(dir, state, pid, "listeners")?;
    let log = dir.join("agent.log");
    super::startup::require_ready(
        pid,
        &[&log],
        Duration::from_secs(10),
        &ready.display().to_string(),
        || ready.exists(),
    )
    .map_err(step("start the listeners"))?;
    Ok(())
}
