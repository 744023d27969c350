//! Ctrl-C as an event of the generator's loop: while an [`Interrupt`]
//! lives, SIGINT (to any thread of the process) makes its eventfd
//! readable instead of ending the process, and the loop, which waits on
//! that fd with its connections, ends the run with what it measured.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, FromRawFd as _, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, Ordering};

/// The eventfd the handler writes to; -1 when none.
static FD: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_sigint(_: libc::c_int) {
    let fd = FD.load(Ordering::Relaxed);
    if fd >= 0 {
        let one: u64 = 1;
        // SAFETY: write(2) is async-signal-safe; `one` outlives the call.
        unsafe {
            libc::write(fd, (&one as *const u64).cast(), 8);
        }
    }
}

/// SIGINT caught into an eventfd; the handler before it is put back
/// when it is dropped.
pub struct Interrupt {
    fd: OwnedFd,
    previous: libc::sigaction,
}

impl Interrupt {
    /// Catches SIGINT until dropped (one at a time in a process).
    pub fn catch() -> io::Result<Interrupt> {
        // SAFETY: no pointer arguments; the new fd is ours to own.
        let raw = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` was just returned open and is owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        FD.store(raw, Ordering::Relaxed);
        // SAFETY: a zeroed sigaction is a valid starting point; the
        // handler only calls async-signal-safe write(2); `previous` is
        // written by the call.
        let previous = unsafe {
            let mut action: libc::sigaction = MaybeUninit::zeroed().assume_init();
            action.sa_sigaction = on_sigint as *const () as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            let mut previous: libc::sigaction = MaybeUninit::zeroed().assume_init();
            if libc::sigaction(libc::SIGINT, &action, &mut previous) != 0 {
                FD.store(-1, Ordering::Relaxed);
                return Err(io::Error::last_os_error());
            }
            previous
        };
        Ok(Interrupt { fd, previous })
    }
}

impl AsRawFd for Interrupt {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl Drop for Interrupt {
    fn drop(&mut self) {
        // SAFETY: `previous` is the action sigaction returned.
        unsafe {
            libc::sigaction(libc::SIGINT, &self.previous, std::ptr::null_mut());
        }
        FD.store(-1, Ordering::Relaxed);
    }
}
