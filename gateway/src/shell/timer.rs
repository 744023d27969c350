//! A one-shot timer with nanosecond resolution on Linux's `timerfd`, for
//! the shell: it wakes the event loop when the impairment's next delayed
//! datagram is due (tokio's own timer rounds up to whole milliseconds).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Instant;

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tracing::warn;

/// A one-shot timer with nanosecond resolution (`timerfd`, monotonic
/// clock, the clock of [`Instant`]) for the impairment's release times.
pub struct PreciseTimer {
    fd: AsyncFd<OwnedFd>,
    /// The deadline the timer is set for, if any.
    armed: Option<Instant>,
}

impl PreciseTimer {
    /// A disarmed timer, registered with the tokio reactor.
    pub fn new() -> io::Result<Self> {
        // SAFETY: plain system call; the descriptor is owned below.
        let fd = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a new descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: the AsyncFd owns the descriptor, which stays open and
        // the same until it is dropped.
        let fd = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }?;
        Ok(PreciseTimer { fd, armed: None })
    }

    /// Sets the timer for `at` (now if past), or disarms it; a system call
    /// only when that changes anything.
    pub fn arm(&mut self, at: Option<Instant>) {
        if at == self.armed {
            return;
        }
        let value = match at {
            None => libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            Some(t) => {
                // zero would disarm: at least a nanosecond
                let d = t
                    .saturating_duration_since(Instant::now())
                    .max(std::time::Duration::from_nanos(1));
                libc::timespec {
                    tv_sec: d.as_secs() as libc::time_t,
                    tv_nsec: d.subsec_nanos() as libc::c_long,
                }
            }
        };
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: value,
        };
        // SAFETY: a valid timerfd and a plain struct; no old value asked.
        let rc =
            unsafe { libc::timerfd_settime(self.fd.as_raw_fd(), 0, &spec, std::ptr::null_mut()) };
        if rc == 0 {
            self.armed = at;
        } else {
            warn!("timerfd_settime: {}", io::Error::last_os_error());
        }
    }

    /// Notes that the timer fired: a one-shot timer is disarmed after.
    pub fn fired(&mut self) {
        self.armed = None;
    }

    /// Waits until the timer fires.
    pub async fn wait(&self) -> io::Result<()> {
        loop {
            let mut guard = self.fd.readable().await?;
            let read = guard.try_io(|fd| {
                let mut expirations = [0u8; 8];
                // SAFETY: reads 8 bytes into a local buffer of 8 bytes.
                let n = unsafe {
                    libc::read(
                        fd.as_raw_fd(),
                        expirations.as_mut_ptr().cast(),
                        expirations.len(),
                    )
                };
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(())
                }
            });
            match read {
                Ok(r) => return r,
                // a readiness from before the last re-arm: wait again
                Err(_would_block) => continue,
            }
        }
    }
}

/// Waits for the precise timer when there is one that is armed; forever
/// otherwise.
pub async fn precise_fired(timer: &Option<PreciseTimer>) -> io::Result<()> {
    match timer {
        Some(t) if t.armed.is_some() => t.wait().await,
        _ => std::future::pending().await,
    }
}
