//! A thin epoll: file descriptors registered once, edge-triggered, for
//! reading and writing, and a wait whose timeout is exact to the
//! nanosecond (`epoll_pwait2`, Linux 5.11), for `sim load`'s event loop,
//! whose sends are due at times finer than a millisecond. mio's `Poll`
//! (tokio's I/O layer) rounds a timeout up to the next millisecond
//! (`epoll_wait`'s unit), which would make each send late by up to that;
//! on a kernel without `epoll_pwait2` this wait falls back to the same
//! rounding up (late, never early).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd as _, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Whether the kernel has `epoll_pwait2` (until a call says `ENOSYS`).
static HAVE_PWAIT2: AtomicBool = AtomicBool::new(true);

/// An epoll instance.
#[derive(Debug)]
pub struct Epoll {
    fd: OwnedFd,
}

/// One readiness event: the token registered with the fd, and what it is
/// ready for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ready {
    /// The token given to [`Epoll::add`].
    pub token: u64,
    /// Bytes (or the end, or an error) to read.
    pub readable: bool,
    /// Room to write (or a connect finished, or an error).
    pub writable: bool,
}

/// A buffer of events for [`Epoll::wait`].
pub struct Events {
    buf: Vec<libc::epoll_event>,
    len: usize,
}

impl Events {
    /// Room for `n` events a wait (at least one).
    pub fn with_capacity(n: usize) -> Events {
        Events {
            buf: vec![libc::epoll_event { events: 0, u64: 0 }; n.max(1)],
            len: 0,
        }
    }

    /// The events of the last wait.
    pub fn iter(&self) -> impl Iterator<Item = Ready> + '_ {
        self.buf[..self.len].iter().map(|e| {
            let bits = e.events as i32;
            let failed = bits & (libc::EPOLLERR | libc::EPOLLHUP) != 0;
            Ready {
                token: e.u64,
                readable: failed || bits & (libc::EPOLLIN | libc::EPOLLRDHUP) != 0,
                writable: failed || bits & libc::EPOLLOUT != 0,
            }
        })
    }
}

impl Epoll {
    /// A new epoll instance (closed on exec).
    pub fn new() -> io::Result<Epoll> {
        // SAFETY: no pointer arguments; a new fd is ours to own.
        let fd = check(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        // SAFETY: `fd` was just returned open and is owned by nobody else.
        Ok(Epoll {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// Registers `fd` under `token`, edge-triggered, for reading, writing
    /// and the peer's close. Closing the fd removes it.
    pub fn add(&self, fd: RawFd, token: u64) -> io::Result<()> {
        let mut event = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET) as u32,
            u64: token,
        };
        // SAFETY: `event` is a valid epoll_event for the call's duration.
        check(unsafe {
            libc::epoll_ctl(self.fd.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut event)
        })?;
        Ok(())
    }

    /// Waits for events into `events`, at most `timeout` (`None`: until
    /// one comes). A signal ends the wait early with no events.
    pub fn wait(&self, events: &mut Events, timeout: Option<Duration>) -> io::Result<()> {
        events.len = 0;
        let n = match self.pwait2(events, timeout) {
            Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {
                HAVE_PWAIT2.store(false, Ordering::Relaxed);
                self.wait_ms(events, timeout)
            }
            r => r,
        };
        match n {
            Ok(n) => {
                events.len = n;
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn pwait2(&self, events: &mut Events, timeout: Option<Duration>) -> io::Result<usize> {
        if !HAVE_PWAIT2.load(Ordering::Relaxed) {
            return self.wait_ms(events, timeout);
        }
        let ts = timeout.map(|t| libc::timespec {
            tv_sec: t.as_secs().min(i64::MAX as u64) as libc::time_t,
            tv_nsec: libc::c_long::from(t.subsec_nanos() as i32),
        });
        let ts_ptr = ts
            .as_ref()
            .map_or(std::ptr::null(), |t| t as *const libc::timespec);
        // SAFETY: the events buffer holds `buf.len()` entries; `ts_ptr` is
        // null or points at a timespec alive for the call; no sigmask.
        let n = unsafe {
            libc::syscall(
                libc::SYS_epoll_pwait2,
                self.fd.as_raw_fd(),
                events.buf.as_mut_ptr(),
                events.buf.len() as libc::c_int,
                ts_ptr,
                std::ptr::null::<libc::sigset_t>(),
                0usize,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }

    /// `epoll_wait`, the timeout rounded up to a whole millisecond (late,
    /// never early).
    fn wait_ms(&self, events: &mut Events, timeout: Option<Duration>) -> io::Result<usize> {
        let ms = timeout.map_or(-1, |t| {
            let ms = t.saturating_add(Duration::from_nanos(999_999)).as_millis();
            libc::c_int::try_from(ms).unwrap_or(libc::c_int::MAX)
        });
        // SAFETY: the events buffer holds `buf.len()` entries.
        let n = check(unsafe {
            libc::epoll_wait(
                self.fd.as_raw_fd(),
                events.buf.as_mut_ptr(),
                events.buf.len() as libc::c_int,
                ms,
            )
        })?;
        Ok(n as usize)
    }
}

fn check(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;
    use std::os::unix::net::UnixStream;
    use std::time::Instant;

    #[test]
    fn a_wait_ends_at_its_timeout_to_well_under_a_millisecond_or_on_an_event() {
        let ep = Epoll::new().expect("epoll");
        let (mut a, b) = UnixStream::pair().expect("pair");
        b.set_nonblocking(true).expect("nonblocking");
        ep.add(b.as_raw_fd(), 7).expect("add");
        let mut events = Events::with_capacity(8);
        // a fresh socket is writable: one edge
        ep.wait(&mut events, Some(Duration::ZERO)).expect("wait");
        let first: Vec<Ready> = events.iter().collect();
        assert_eq!(first.len(), 1);
        assert!(first[0].writable && first[0].token == 7);
        // edge-triggered: nothing new, each wait runs to its timeout (never
        // less), which is not rounded up to a millisecond: the quickest of
        // ten (a loaded machine can only delay a wake-up) is under one
        let mut quickest = Duration::MAX;
        for _ in 0..10 {
            let t = Instant::now();
            ep.wait(&mut events, Some(Duration::from_micros(300)))
                .expect("wait");
            let waited = t.elapsed();
            assert_eq!(events.iter().count(), 0);
            assert!(waited >= Duration::from_micros(300), "{waited:?}");
            quickest = quickest.min(waited);
        }
        if HAVE_PWAIT2.load(Ordering::Relaxed) {
            assert!(quickest < Duration::from_micros(950), "{quickest:?}");
        }
        a.write_all(b"x").expect("write");
        ep.wait(&mut events, Some(Duration::from_secs(5)))
            .expect("wait");
        let ready: Vec<Ready> = events.iter().collect();
        assert!(
            ready.iter().any(|r| r.token == 7 && r.readable),
            "{ready:?}"
        );
    }
}
