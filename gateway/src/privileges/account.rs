//! User and group names to ids, through the C library (`getpwnam_r`,
//! `getgrnam_r`), so that NSS sources beyond `/etc/passwd` count too.

use std::ffi::CString;
use std::io;

/// A user account: its ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct User {
    /// The user id.
    pub uid: u32,
    /// Its primary group.
    pub gid: u32,
}

/// Room for the strings of one `passwd` or `group` entry; doubled on
/// `ERANGE` up to [`MAX_BUFFER`].
const START_BUFFER: usize = 1024;
const MAX_BUFFER: usize = 1 << 20;

/// The account called `name`; `None` when there is none.
///
/// # Errors
///
/// The lookup itself failed (an NSS source is unreachable, a name with a
/// NUL byte).
pub fn user(name: &str) -> io::Result<Option<User>> {
    let c = c_name(name)?;
    let mut buf = vec![0 as libc::c_char; START_BUFFER];
    loop {
        // SAFETY: an all-zero passwd is a valid value of a plain C struct.
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut found: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call; `buf.len()` is the
        // size of `buf`.
        let rc = unsafe {
            libc::getpwnam_r(
                c.as_ptr(),
                &mut pwd,
                buf.as_mut_ptr(),
                buf.len(),
                &mut found,
            )
        };
        match rc {
            0 if found.is_null() => return Ok(None),
            0 => {
                return Ok(Some(User {
                    uid: pwd.pw_uid,
                    gid: pwd.pw_gid,
                }))
            }
            libc::ERANGE if buf.len() < MAX_BUFFER => buf.resize(buf.len() * 2, 0),
            // "not found" as some NSS modules spell it
            libc::ENOENT | libc::ESRCH | libc::EBADF | libc::EPERM => return Ok(None),
            e => return Err(io::Error::from_raw_os_error(e)),
        }
    }
}

/// The id of the group called `name`; `None` when there is none.
///
/// # Errors
///
/// As [`user`].
pub fn group(name: &str) -> io::Result<Option<u32>> {
    let c = c_name(name)?;
    let mut buf = vec![0 as libc::c_char; START_BUFFER];
    loop {
        // SAFETY: an all-zero group is a valid value of a plain C struct.
        let mut grp: libc::group = unsafe { std::mem::zeroed() };
        let mut found: *mut libc::group = std::ptr::null_mut();
        // SAFETY: as in `user`.
        let rc = unsafe {
            libc::getgrnam_r(
                c.as_ptr(),
                &mut grp,
                buf.as_mut_ptr(),
                buf.len(),
                &mut found,
            )
        };
        match rc {
            0 if found.is_null() => return Ok(None),
            0 => return Ok(Some(grp.gr_gid)),
            libc::ERANGE if buf.len() < MAX_BUFFER => buf.resize(buf.len() * 2, 0),
            libc::ENOENT | libc::ESRCH | libc::EBADF | libc::EPERM => return Ok(None),
            e => return Err(io::Error::from_raw_os_error(e)),
        }
    }
}

fn c_name(name: &str) -> io::Result<CString> {
    CString::new(name).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL byte"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_uid_0_and_unknown_names_are_none() {
        assert_eq!(user("root").unwrap(), Some(User { uid: 0, gid: 0 }));
        assert_eq!(group("root").unwrap(), Some(0));
        assert_eq!(user("no-such-user-vifgate-test").unwrap(), None);
        assert_eq!(group("no-such-group-vifgate-test").unwrap(), None);
        assert!(user("a\0b").is_err());
    }
}
