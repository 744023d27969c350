//! A daemon's start-up watched: one that exits before it is ready is
//! reported at once, with the last meaningful line of its log (BIRD's
//! `bird: FILE:12:10 syntax error`, HAProxy's `[ALERT] ...`), instead of
//! after the wait for a socket or a port that will never answer.

use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

use super::check::last_meaningful_line;
use super::process;

/// How often a start-up is looked at.
const POLL: Duration = Duration::from_millis(20);

/// How a start-up ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Startup {
    /// `ready` held.
    Ready,
    /// `within` passed with the process running but not ready: whoever
    /// waits for it next says what is missing.
    StillStarting,
}

/// The error for process `pid` if it has exited: "exited during
/// start-up: LINE", LINE the last meaningful line of the first of its
/// `logs` that has one (FRR writes to its log file once it opened it, to
/// its output before).
pub fn exited(pid: u32, logs: &[&Path]) -> Option<io::Error> {
    if process::alive(pid) {
        return None;
    }
    let said = logs.iter().find_map(|log| {
        let text = std::fs::read_to_string(log).ok()?;
        last_meaningful_line(&text).map(|l| format!("{l} (in {})", log.display()))
    });
    Some(io::Error::other(format!(
        "exited during start-up: {}",
        said.unwrap_or_else(|| "its log is empty".into())
    )))
}

/// The error for a `[[sim.start]]` command whose session `sid` has no
/// process left ([`process::session_alive`]): how its `sh` ended (when
/// this process started it) and the end of its log, as nothing will
/// accept on `port` now.
pub fn session_ended(sid: u32, port: u16, log: &Path) -> Option<io::Error> {
    if process::session_alive(sid) {
        return None;
    }
    let how = process::child_ended(sid).unwrap_or_else(|| "exited".into());
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let said = if lines.is_empty() {
        format!("its log ({}) is empty", log.display())
    } else {
        let tail = &lines[lines.len().saturating_sub(LOG_TAIL)..];
        format!("its log ({}) ends:\n{}", log.display(), tail.join("\n"))
    };
    Some(io::Error::other(format!(
        "{how} and left no process running, so nothing will accept on tcp/{port}; {said}"
    )))
}

/// How many lines of a log an error quotes.
const LOG_TAIL: usize = 10;

/// Waits at most `within` until `ready()` holds for process `pid`
/// (logging to `logs`); an error at once if the process exits first
/// ([`exited`]).
pub fn wait_ready(
    pid: u32,
    logs: &[&Path],
    within: Duration,
    mut ready: impl FnMut() -> bool,
) -> io::Result<Startup> {
    let deadline = Instant::now() + within;
    loop {
        if ready() {
            return Ok(Startup::Ready);
        }
        if let Some(e) = exited(pid, logs) {
            return Err(e);
        }
        if Instant::now() >= deadline {
            return Ok(Startup::StillStarting);
        }
        std::thread::sleep(POLL);
    }
}

/// [`wait_ready`], where not being ready within `within` is an error
/// too: "no MISSING within N s", with the last line of its log.
pub fn require_ready(
    pid: u32,
    logs: &[&Path],
    within: Duration,
    missing: &str,
    ready: impl FnMut() -> bool,
) -> io::Result<()> {
    match wait_ready(pid, logs, within, ready)? {
        Startup::Ready => Ok(()),
        Startup::StillStarting => {
            let said = logs.iter().find_map(|log| {
                last_meaningful_line(&std::fs::read_to_string(log).ok()?).map(String::from)
            });
            Err(io::Error::other(format!(
                "no {missing} within {} s{}",
                within.as_secs(),
                said.map(|l| format!("; its log ends: {l}"))
                    .unwrap_or_default()
            )))
        }
    }
}

/// Whether a BIRD answers on its control socket: its greeting
/// (`0001 BIRD 2.0.12 ready.`) read within 200 ms. BIRD opens the socket
/// before it reads its configuration and greets only once it has, so the
/// socket's file alone does not say it started.
pub fn bird_answers(socket: &Path) -> bool {
    use std::io::Read as _;
    let Ok(mut s) = std::os::unix::net::UnixStream::connect(socket) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
    let mut greeting = [0u8; 4];
    s.read_exact(&mut greeting).is_ok() && &greeting == b"0001"
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    fn scratch(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("vifgate-startup-{name}-{}", std::process::id()))
    }

    #[test]
    fn a_process_that_exits_is_reported_at_once_with_its_line() {
        let log = scratch("exits");
        let out = std::fs::File::create(&log).expect("log");
        let mut child = Command::new("sh")
            .args([
                "-c",
                "echo starting; echo 'bird: x.conf:2:24 syntax error' >&2; exit 1",
            ])
            .stdout(out.try_clone().expect("dup"))
            .stderr(out)
            .stdin(Stdio::null())
            .spawn()
            .expect("sh");
        let started = Instant::now();
        let pid = child.id();
        // reaped by a thread, as a detached daemon's parent would not:
        // `alive` sees a zombie as gone all the same
        let e = wait_ready(pid, &[&log], Duration::from_secs(10), || false).expect_err("it exited");
        let _ = child.wait();
        let _ = std::fs::remove_file(&log);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        assert!(
            e.to_string()
                .starts_with("exited during start-up: bird: x.conf:2:24 syntax error"),
            "{e}"
        );
    }

    #[test]
    fn a_ready_process_is_ready_and_a_slow_one_still_starting() {
        let log = scratch("ready");
        let mut child = Command::new("sleep").arg("5").spawn().expect("sleep");
        let r = wait_ready(child.id(), &[&log], Duration::from_secs(1), || true);
        assert_eq!(r.expect("ready"), Startup::Ready);
        let r = wait_ready(child.id(), &[&log], Duration::from_millis(100), || false);
        assert_eq!(r.expect("running"), Startup::StillStarting);
        let e = require_ready(child.id(), &[&log], Duration::ZERO, "socket", || false)
            .expect_err("not ready");
        assert_eq!(e.to_string(), "no socket within 0 s");
        let _ = child.kill();
        let _ = child.wait();
    }

    /// `sh -c SCRIPT` started as `sim up` starts a `[[sim.start]]`
    /// command: in a session of its own, its output to `log`.
    fn detached(script: &str, log: &Path) -> u32 {
        use std::os::unix::process::CommandExt as _;
        let out = std::fs::File::create(log).expect("log");
        let mut cmd = Command::new("sh");
        cmd.args(["-c", script])
            .stdout(out.try_clone().expect("dup"))
            .stderr(out)
            .stdin(Stdio::null());
        // SAFETY: setsid is async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                libc::setsid();
                Ok(())
            });
        }
        cmd.spawn().expect("sh").id()
    }

    /// Polls `session_ended` for at most 5 s.
    fn ended_within(sid: u32, log: &Path) -> Option<io::Error> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(e) = session_ended(sid, 80, log) {
                return Some(e);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(POLL);
        }
    }

    #[test]
    fn a_start_command_that_exits_is_reported_at_once_with_its_status() {
        let log = scratch("exit3");
        let started = Instant::now();
        let sid = detached("exit 3", &log);
        let e = ended_within(sid, &log).expect("it ended");
        let _ = std::fs::remove_file(&log);
        // on main: "nothing accepts on tcp/80 after 10 s", 11.7 s later
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        let e = e.to_string();
        assert!(e.starts_with("exited with status 3 and left no process running, so nothing will accept on tcp/80; its log ("), "{e}");
        assert!(e.ends_with(") is empty"), "{e}");
    }

    #[test]
    fn a_start_command_whose_server_runs_in_the_background_has_not_ended() {
        let log = scratch("background");
        let sid = detached("echo serving; sleep 30 & echo $!", &log);
        // `sh` itself ends at once; the server it left runs on
        let deadline = Instant::now() + Duration::from_secs(5);
        while crate::apply::process::alive(sid) && Instant::now() < deadline {
            std::thread::sleep(POLL);
        }
        std::thread::sleep(Duration::from_millis(100));
        assert!(
            session_ended(sid, 80, &log).is_none(),
            "the server still runs"
        );
        let text = std::fs::read_to_string(&log).expect("log");
        let server: i32 = text
            .lines()
            .nth(1)
            .and_then(|l| l.trim().parse().ok())
            .expect("its pid");
        // SAFETY: kill takes a pid and a signal: the sleep started above.
        unsafe { libc::kill(server, libc::SIGKILL) };
        let e = ended_within(sid, &log)
            .expect("the session ended")
            .to_string();
        let _ = std::fs::remove_file(&log);
        assert!(
            e.starts_with("exited with status 0 and left no process running"),
            "{e}"
        );
        assert!(e.contains("ends:\nserving\n"), "{e}");
    }
}
