//! The Linux capability sets of the calling thread: read them
//! (`capget`), empty them (`capset`), and the per-thread switches around
//! them (`prctl`: the ambient set, the bounding set, keep-caps and
//! no-new-privileges). Thin wrappers over the system calls; the policy is
//! in [`super`].

use std::io;

/// `_LINUX_CAPABILITY_VERSION_3`: 64-bit sets in two 32-bit halves.
const VERSION_3: u32 = 0x2008_0522;
/// `CAP_SETPCAP`: needed to drop from the bounding set.
pub const CAP_SETPCAP: u32 = 8;

#[repr(C)]
struct Header {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Data {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// The effective, permitted and inheritable sets of this thread, one bit
/// per capability (as `/proc/PID/status` prints them in hex).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sets {
    /// What the thread may use now.
    pub effective: u64,
    /// What it may make effective.
    pub permitted: u64,
    /// What it may pass on across `execve`.
    pub inheritable: u64,
}

impl Sets {
    /// Whether every set is empty.
    pub fn is_empty(&self) -> bool {
        *self == Sets::default()
    }
}

fn check(rc: libc::c_long) -> io::Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The calling thread's capability sets.
///
/// # Errors
///
/// `capget` failed.
pub fn current() -> io::Result<Sets> {
    let mut header = Header {
        version: VERSION_3,
        pid: 0,
    };
    let mut data = [Data::default(); 2];
    // SAFETY: a version-3 header and two data structs, as the call expects.
    check(unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) })?;
    let join = |f: fn(&Data) -> u32| u64::from(f(&data[0])) | (u64::from(f(&data[1])) << 32);
    Ok(Sets {
        effective: join(|d| d.effective),
        permitted: join(|d| d.permitted),
        inheritable: join(|d| d.inheritable),
    })
}

/// Empties the calling thread's effective, permitted and inheritable sets.
///
/// # Errors
///
/// `capset` failed.
pub fn clear() -> io::Result<()> {
    let mut header = Header {
        version: VERSION_3,
        pid: 0,
    };
    let data = [Data::default(); 2];
    // SAFETY: a version-3 header and two data structs, as the call expects.
    check(unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) })
}

fn prctl(option: libc::c_int, arg: libc::c_ulong) -> io::Result<libc::c_int> {
    // SAFETY: prctl with integer arguments only.
    let rc = unsafe { libc::prctl(option, arg, 0 as libc::c_ulong, 0 as libc::c_ulong, 0) };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// Empties the ambient set (what a non-root `execve` would keep). Kernels
/// before 4.3 have none: that is not an error.
///
/// # Errors
///
/// The kernel refused for another reason.
pub fn clear_ambient() -> io::Result<()> {
    match prctl(
        libc::PR_CAP_AMBIENT,
        libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
    ) {
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok(()),
        r => r.map(drop),
    }
}

/// The highest capability number this kernel knows.
pub fn last_cap() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(63)
}

/// Drops every capability from the bounding set (needs `CAP_SETPCAP`).
///
/// # Errors
///
/// A drop was refused.
pub fn clear_bounding() -> io::Result<()> {
    for cap in 0..=last_cap() {
        match prctl(libc::PR_CAPBSET_DROP, cap.into()) {
            // a number past what the kernel knows
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => break,
            r => r.map(drop)?,
        }
    }
    Ok(())
}

/// Whether capability `cap` is in the bounding set.
pub fn in_bounding(cap: u32) -> bool {
    prctl(libc::PR_CAPBSET_READ, cap.into()).is_ok_and(|v| v == 1)
}

/// Clears keep-caps, so that a change away from uid 0 empties the
/// permitted and effective sets.
///
/// # Errors
///
/// The kernel refused (the securebit is locked).
pub fn forget_on_setuid() -> io::Result<()> {
    prctl(libc::PR_SET_KEEPCAPS, 0).map(drop)
}

/// Sets no-new-privileges: no `execve` can grant privileges again
/// (set-user-id bits and file capabilities are ignored). Irreversible,
/// inherited by children.
///
/// # Errors
///
/// The kernel refused.
pub fn set_no_new_privs() -> io::Result<()> {
    prctl(libc::PR_SET_NO_NEW_PRIVS, 1).map(drop)
}

/// Whether no-new-privileges is set.
pub fn no_new_privs() -> bool {
    prctl(libc::PR_GET_NO_NEW_PRIVS, 0).is_ok_and(|v| v == 1)
}
