//! The lab's processes, and signals that reach only them. A process is
//! recorded by its pid *and* its start time (field 22 of
//! `/proc/PID/stat`, clock ticks since boot), so that a pid the kernel
//! has since given to another process is recognised as not ours.
//!
//! Every signal goes through a pidfd (`pidfd_open`, then
//! `pidfd_send_signal`): the check (same start time, or still in one of
//! the lab's namespaces) is made after the pidfd is opened, so the signal
//! reaches the very process that was checked or, if that one has died in
//! between, nobody.

use std::fs;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// A process the lab started: its pid, its start time, and what it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessRecord {
    /// The process id.
    pub pid: u32,
    /// When it started: field 22 of `/proc/PID/stat` (clock ticks since
    /// boot). Another process given the same pid later has another one.
    pub start_time: u64,
    /// What it is (`gateway vgw-dx-vif`, `listeners`, ...), for messages.
    pub what: String,
}

impl ProcessRecord {
    /// Records a running process.
    pub fn of(pid: u32, what: impl Into<String>) -> io::Result<ProcessRecord> {
        Ok(ProcessRecord {
            pid,
            start_time: start_time(pid)?,
            what: what.into(),
        })
    }

    /// Whether the recorded process still runs: its pid has the recorded
    /// start time and is not a zombie.
    pub fn is_running(&self) -> bool {
        read_stat(self.pid).is_ok_and(|s| s.start_time == self.start_time && !s.zombie)
    }

    /// Sends `signal` to the recorded process if it is still the one
    /// recorded; whether it was sent.
    pub fn signal(&self, signal: libc::c_int) -> io::Result<bool> {
        signal_checked(self.pid, signal, |pid| {
            start_time(pid).is_ok_and(|t| t == self.start_time)
        })
    }
}

/// What `/proc/PID/stat` says about a process.
struct Stat {
    zombie: bool,
    start_time: u64,
    /// Its session (field 6): the pid of the session's leader.
    session: u32,
}

fn read_stat(pid: u32) -> io::Result<Stat> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    parse_stat(&text).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("/proc/{pid}/stat: unexpected format"),
        )
    })
}

/// The state and start time of a `/proc/PID/stat` line. The command name
/// (field 2) is in parentheses and may hold spaces and parentheses: the
/// fields are counted after its last `)`.
fn parse_stat(text: &str) -> Option<Stat> {
    let (_, rest) = text.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // field N is fields[N - 3]: 3 the state, 6 the session, 22 the start
    // time
    let state = *fields.first()?;
    Some(Stat {
        zombie: state == "Z" || state == "X",
        session: fields.get(6 - 3)?.parse().ok()?,
        start_time: fields.get(22 - 3)?.parse().ok()?,
    })
}

/// When a process started (field 22 of `/proc/PID/stat`, clock ticks
/// since boot).
pub fn start_time(pid: u32) -> io::Result<u64> {
    read_stat(pid).map(|s| s.start_time)
}

/// Whether `pid` names a process that has not exited (a zombie counts as
/// gone).
pub fn alive(pid: u32) -> bool {
    read_stat(pid).is_ok_and(|s| !s.zombie)
}

/// Whether a process of session `sid` still runs (a zombie does not
/// count): a detached process ([`setsid`](libc::setsid)) is its
/// session's leader, and what it starts in the background stays in its
/// session, so `sh -c 'server &'` counts as running while the server
/// does.
pub fn session_alive(sid: u32) -> bool {
    let Ok(dir) = fs::read_dir("/proc") else {
        return false;
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .any(|pid| read_stat(pid).is_ok_and(|s| s.session == sid && !s.zombie))
}

/// How our child `pid` ended (`exited with status 3`, `killed by signal
/// 9`), reaping it, once it has; `None` while it runs, or when it is not
/// a child of this process (started by an earlier run).
pub fn child_ended(pid: u32) -> Option<String> {
    let raw = libc::pid_t::try_from(pid).ok()?;
    let mut status = 0;
    // SAFETY: waitpid writes only the status it is given; WNOHANG makes
    // it return at once.
    let got = unsafe { libc::waitpid(raw, &mut status, libc::WNOHANG) };
    if got != raw {
        return None;
    }
    if libc::WIFEXITED(status) {
        Some(format!("exited with status {}", libc::WEXITSTATUS(status)))
    } else if libc::WIFSIGNALED(status) {
        Some(format!("killed by signal {}", libc::WTERMSIG(status)))
    } else {
        None
    }
}

/// Whether process `pid` lives in the network namespace whose file
/// (`/run/netns/NAME` or `/proc/X/ns/net`) has the given device and inode.
pub fn in_namespace(pid: u32, ns: (u64, u64)) -> bool {
    fs::metadata(format!("/proc/{pid}/ns/net")).is_ok_and(|m| (m.dev(), m.ino()) == ns)
}

/// Sends `signal` to `pid` if `check(pid)`, made after a pidfd on the
/// process is open, still holds; whether it was sent. A process that is
/// gone, or that fails the check, is not signalled (`Ok(false)`). Our own
/// process is never signalled.
pub fn signal_checked(
    pid: u32,
    signal: libc::c_int,
    check: impl Fn(u32) -> bool,
) -> io::Result<bool> {
    if pid == std::process::id() || pid == 0 {
        return Ok(false);
    }
    let raw = libc::pid_t::try_from(pid).map_err(io::Error::other)?;
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, raw, 0) };
    if fd < 0 {
        let e = io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::ESRCH) => Ok(false),
            _ => Err(e),
        };
    }
    // SAFETY: a fresh fd we own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) };
    if !check(pid) {
        return Ok(false);
    }
    use std::os::fd::AsRawFd as _;
    // SAFETY: a valid pidfd; no siginfo; no flags.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            fd.as_raw_fd(),
            signal,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if rc < 0 {
        let e = io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::ESRCH) => Ok(false),
            _ => Err(e),
        };
    }
    Ok(true)
}

/// SIGTERM to each of `pids` that passes `check` (made through a pidfd),
/// SIGKILL to those left after 2 s.
pub(crate) fn end_processes(pids: &[u32], check: impl Fn(u32) -> bool + Copy) {
    for &p in pids {
        let _ = signal_checked(p, libc::SIGTERM, check);
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline && pids.iter().any(|&p| alive(p) && check(p)) {
        std::thread::sleep(Duration::from_millis(10));
    }
    for &p in pids {
        if alive(p) {
            let _ = signal_checked(p, libc::SIGKILL, check);
        }
    }
}

/// The other processes of the session `leader` leads (a start command's
/// children: `sim up` starts each process in a session of its own).
pub(crate) fn session_of(leader: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for e in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(text) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // after the command name: state, ppid, pgrp, session
        let sid = text
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(3))
            .and_then(|s| s.parse::<u32>().ok());
        if sid == Some(leader) && pid != leader {
            out.push(pid);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    #[test]
    fn the_start_time_is_field_22_even_with_odd_command_names() {
        // pid (comm) state ppid pgrp session tty tpgid flags minflt
        // cminflt majflt cmajflt utime stime cutime cstime priority nice
        // num_threads itrealvalue starttime ...
        let line =
            "4242 (a b) (c)) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        let s = parse_stat(line).expect("parses");
        assert_eq!(s.start_time, 987654);
        assert!(!s.zombie);
        let z = parse_stat("7 (x) Z 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 55 0 0").expect("parses");
        assert!(z.zombie);
        assert_eq!(z.start_time, 55);
        assert!(parse_stat("7 (x) S 1 2").is_none());
    }

    #[test]
    fn our_own_start_time_is_read_and_stable() {
        let me = std::process::id();
        let t = start_time(me).expect("our own stat");
        assert!(t > 0);
        assert_eq!(start_time(me).expect("again"), t);
        let rec = ProcessRecord::of(me, "this test").expect("record");
        assert!(rec.is_running());
        // never ourselves, even with the right start time
        assert!(!rec.signal(libc::SIGTERM).expect("no error"));
    }

    fn sleeper() -> std::process::Child {
        Command::new("sleep")
            .arg("30")
            .stdin(Stdio::null())
            .spawn()
            .expect("start sleep")
    }

    /// Waits until the child has exited and is reaped; whether it did in
    /// time.
    fn exits_within(child: &mut std::process::Child, d: Duration) -> bool {
        let deadline = Instant::now() + d;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    #[test]
    fn a_recorded_pid_with_another_start_time_is_not_signalled() {
        let mut child = sleeper();
        let pid = child.id();
        let real = ProcessRecord::of(pid, "sleep").expect("record");
        // what a record of an earlier process with the same pid looks like
        let stale = ProcessRecord {
            start_time: real.start_time.wrapping_sub(1),
            ..real.clone()
        };
        assert!(!stale.is_running());
        assert!(!stale.signal(libc::SIGKILL).expect("no error"));
        assert!(
            !exits_within(&mut child, Duration::from_millis(300)),
            "a stale record killed a process it did not start"
        );
        assert!(real.is_running());
        // the right record reaches it
        assert!(real.signal(libc::SIGKILL).expect("sent"));
        assert!(exits_within(&mut child, Duration::from_secs(5)));
        // and once it is gone, nothing is sent
        assert!(!real.is_running());
        assert!(!real.signal(libc::SIGKILL).expect("no error"));
    }

    #[test]
    fn a_failed_check_sends_nothing() {
        let mut child = sleeper();
        let pid = child.id();
        assert!(!signal_checked(pid, libc::SIGKILL, |_| false).expect("no error"));
        assert!(!exits_within(&mut child, Duration::from_millis(200)));
        assert!(signal_checked(pid, libc::SIGKILL, |p| p == pid).expect("sent"));
        assert!(exits_within(&mut child, Duration::from_secs(5)));
    }

    #[test]
    fn a_process_is_in_its_own_namespace() {
        let me = std::process::id();
        let m = fs::metadata("/proc/self/ns/net").expect("our namespace");
        assert!(in_namespace(me, (m.dev(), m.ino())));
        assert!(!in_namespace(me, (m.dev(), m.ino().wrapping_add(1))));
        assert!(alive(me));
    }
}
