//! `[process] realtime_priority`: the gateway's packet thread under the
//! real-time policy `SCHED_FIFO`, so that it takes a core as soon as a
//! packet wakes it instead of waiting behind other work for its turn
//! (BENCHMARKS.md, "Latency": on a busy box that wait is most of the delay
//! a tunnel adds). Set once at start-up, while the gateway still holds
//! `CAP_SYS_NICE`; the threads it starts afterwards (the metrics server)
//! keep the normal policy (`SCHED_RESET_ON_FORK`).

use std::io;

/// Why the policy could not be set.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot run at [process] realtime_priority {priority} (SCHED_FIFO): {error}{hint}",
    hint = if error.raw_os_error() == Some(libc::EPERM) {
        "; it needs CAP_SYS_NICE (root, or the capability in the unit), or an RLIMIT_RTPRIO of at least the priority (LimitRTPRIO=)"
    } else {
        ""
    }
)]
pub struct RealtimeError {
    /// The priority asked for.
    pub priority: u8,
    /// The system's answer (in the message: not a source, which the
    /// binary would print a second time).
    pub error: io::Error,
}

/// Puts the calling thread under `SCHED_FIFO` at `priority` (1 to 99),
/// with `SCHED_RESET_ON_FORK`: threads and processes it starts later get
/// the normal policy.
pub fn set_realtime(priority: u8) -> Result<(), RealtimeError> {
    let param = libc::sched_param {
        sched_priority: libc::c_int::from(priority),
    };
    // SAFETY: pid 0 is the calling thread; `param` is a plain struct that
    // outlives the call.
    let rc = unsafe {
        libc::sched_setscheduler(0, libc::SCHED_FIFO | libc::SCHED_RESET_ON_FORK, &param)
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(RealtimeError {
            priority,
            error: io::Error::last_os_error(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::privileges::capabilities;

    /// The calling thread's policy, without the reset-on-fork flag, and
    /// priority.
    fn policy() -> (libc::c_int, libc::c_int) {
        let mut param = libc::sched_param { sched_priority: 0 };
        // SAFETY: pid 0 is the calling thread; `param` is a local.
        let p = unsafe { libc::sched_getscheduler(0) };
        assert_eq!(unsafe { libc::sched_getparam(0, &mut param) }, 0);
        (p & !libc::SCHED_RESET_ON_FORK, param.sched_priority)
    }

    /// With the capability (root; skipped otherwise except in CI): the
    /// thread is FIFO at the priority, a thread it starts is not.
    #[test]
    fn the_thread_runs_fifo_and_its_children_do_not() {
        // SAFETY: geteuid cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI runs the tests as root"
            );
            eprintln!("skipped: needs root");
            return;
        }
        // in a thread of its own: the policy is per thread
        std::thread::spawn(|| {
            set_realtime(3).unwrap();
            assert_eq!(policy(), (libc::SCHED_FIFO, 3));
            let child = std::thread::spawn(policy).join().unwrap();
            assert_eq!(child, (libc::SCHED_OTHER, 0), "reset on fork");
        })
        .join()
        .unwrap();
    }

    /// Without CAP_SYS_NICE (dropped in a thread of its own: capabilities
    /// are per thread) the start fails and says what is missing.
    #[test]
    fn without_the_capability_it_fails_and_says_why() {
        std::thread::spawn(|| {
            capabilities::clear().unwrap();
            let e = set_realtime(10).unwrap_err();
            assert_eq!(e.error.raw_os_error(), Some(libc::EPERM), "{e}");
            assert!(std::error::Error::source(&e).is_none(), "said once");
            assert!(
                e.to_string().starts_with(
                    "cannot run at [process] realtime_priority 10 (SCHED_FIFO): Operation not permitted"
                ),
                "{e}"
            );
            assert!(e.to_string().contains("needs CAP_SYS_NICE"), "{e}");
            assert_eq!(policy(), (libc::SCHED_OTHER, 0), "nothing changed");
        })
        .join()
        .unwrap();
    }
}
