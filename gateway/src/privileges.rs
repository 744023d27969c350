//! Least privilege: what the gateway gives up once it has started.
//!
//! Creating the TUN device needs `CAP_NET_ADMIN`, binding a port below
//! 1024 `CAP_NET_BIND_SERVICE`; after that the gateway only reads and
//! writes descriptors it already holds (the TUN device, the UDP socket,
//! the listening status socket) and, on a reload, reads files. Nothing
//! after start-up needs a capability: a reload does not reopen the device
//! or the socket (`listen_port`, `name`, `address` need a restart), sets
//! no link or route, and the gateway has no netlink or BGP code of its
//! own. So [`drop_after_start`] keeps **no capability at all**:
//!
//! - with `[process] user` ([`RunAs`]), started as root: the ambient set
//!   cleared, the bounding set emptied, keep-caps off, supplementary
//!   groups replaced by the one group, then real, effective and saved
//!   gid and uid set to the user's (the change away from uid 0 empties the
//!   permitted and effective sets), every set emptied again with `capset`,
//!   and no-new-privileges set;
//! - without it, started as an unprivileged user that holds capabilities
//!   (systemd's `User=` with `AmbientCapabilities=`): the same, minus the
//!   change of user (and of the bounding set, which needs `CAP_SETPCAP`);
//! - without it, started as root: nothing changes (logged).
//!
//! The result is checked (the sets read back empty, uid 0 cannot be taken
//! back) and the gateway stops if it does not hold. Capabilities and
//! no-new-privileges belong to a thread: the drop refuses to run while the
//! process has more than one.

pub mod account;
pub mod capabilities;

use std::io;

/// The unprivileged account the gateway becomes after start-up
/// (`[process] user` and `group`), resolved when the configuration is
/// read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunAs {
    /// The user's name.
    pub user: String,
    /// Its id.
    pub uid: u32,
    /// The group's name (`group`, else the user's primary group, by id).
    pub group: String,
    /// The group id: the only group the gateway keeps.
    pub gid: u32,
}

/// Why a `[process]` account cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    /// No such user.
    #[error("no user `{0}` on this system")]
    NoUser(String),
    /// No such group.
    #[error("no group `{0}` on this system")]
    NoGroup(String),
    /// The user is root (uid 0): nothing would be dropped.
    #[error("user `{0}` is root (uid 0): the gateway would keep every privilege")]
    Root(String),
    /// The lookup failed.
    #[error("cannot look up `{name}`: {source}")]
    Io {
        /// The name looked up.
        name: String,
        /// Why.
        #[source]
        source: io::Error,
    },
}

impl RunAs {
    /// Looks up `user` and, if given, `group` (else the user's primary
    /// group).
    ///
    /// # Errors
    ///
    /// Either is unknown, or the user is root.
    pub fn lookup(user: &str, group: Option<&str>) -> Result<RunAs, LookupError> {
        let io = |name: &str| {
            let name = name.to_string();
            move |source| LookupError::Io { name, source }
        };
        let u = account::user(user)
            .map_err(io(user))?
            .ok_or_else(|| LookupError::NoUser(user.into()))?;
        if u.uid == 0 {
            return Err(LookupError::Root(user.into()));
        }
        let (group, gid) = match group {
            Some(g) => (
                g.to_string(),
                account::group(g)
                    .map_err(io(g))?
                    .ok_or_else(|| LookupError::NoGroup(g.into()))?,
            ),
            None => (u.gid.to_string(), u.gid),
        };
        Ok(RunAs {
            user: user.into(),
            uid: u.uid,
            group,
            gid,
        })
    }
}

/// What [`drop_after_start`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dropped {
    /// The gateway became the [`RunAs`] user, with no capability.
    User {
        /// Its uid.
        uid: u32,
        /// Its gid, and only group.
        gid: u32,
    },
    /// It kept its (unprivileged) user and lost the capabilities it held.
    Capabilities,
    /// Root without `[process] user`: root it stays, with every capability.
    StillRoot,
    /// An unprivileged user without capabilities: nothing to drop
    /// (no-new-privileges is set all the same).
    Nothing,
}

/// Why privileges could not be dropped. The gateway does not run on.
#[derive(Debug, thiserror::Error)]
pub enum PrivilegeError {
    /// Started as another unprivileged user: only root changes users.
    #[error(
        "cannot become user `{user}` (uid {uid}): the gateway runs as uid {euid}, and only root \
         may change its user; start it as root, or as `{user}` itself"
    )]
    NotRoot {
        /// The configured user.
        user: String,
        /// Its uid.
        uid: u32,
        /// The uid the gateway runs as.
        euid: u32,
    },
    /// More than one thread: the others would keep their privileges.
    #[error(
        "cannot drop privileges with {0} threads running: the gateway drops them while it has one"
    )]
    Threads(usize),
    /// A system call failed.
    #[error("cannot drop privileges: {what} failed")]
    Sys {
        /// The call.
        what: &'static str,
        /// Its error.
        #[source]
        source: io::Error,
    },
    /// The check after the drop found privileges left.
    #[error("privileges remain after the drop: {0}")]
    Remain(String),
}

fn sys(what: &'static str) -> impl FnOnce(io::Error) -> PrivilegeError {
    move |source| PrivilegeError::Sys { what, source }
}

fn check(rc: libc::c_int, what: &'static str) -> Result<(), PrivilegeError> {
    if rc == 0 {
        Ok(())
    } else {
        Err(sys(what)(io::Error::last_os_error()))
    }
}

/// Threads of this process (`/proc/self/task`).
fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(1, |d| d.count())
}

/// Gives up what start-up needed; see the module doc for what is kept
/// (nothing) and in which order.
///
/// # Errors
///
/// The user cannot be taken (not started as root), a step failed, or the
/// check after it found privileges left: the caller must stop.
pub fn drop_after_start(run_as: Option<&RunAs>) -> Result<Dropped, PrivilegeError> {
    // SAFETY: geteuid cannot fail.
    let euid = unsafe { libc::geteuid() };
    let held = capabilities::current().map_err(sys("capget"))?;
    match run_as {
        None if euid == 0 => return Ok(Dropped::StillRoot),
        None if held.is_empty() => {
            capabilities::set_no_new_privs().map_err(sys("prctl(PR_SET_NO_NEW_PRIVS)"))?;
            return Ok(Dropped::Nothing);
        }
        Some(r) if euid != 0 && euid != r.uid => {
            return Err(PrivilegeError::NotRoot {
                user: r.user.clone(),
                uid: r.uid,
                euid,
            })
        }
        _ => {}
    }
    let threads = thread_count();
    if threads > 1 {
        return Err(PrivilegeError::Threads(threads));
    }
    capabilities::clear_ambient().map_err(sys("prctl(PR_CAP_AMBIENT_CLEAR_ALL)"))?;
    if held.effective & (1 << capabilities::CAP_SETPCAP) != 0 {
        capabilities::clear_bounding().map_err(sys("prctl(PR_CAPBSET_DROP)"))?;
    }
    let switch = run_as.filter(|r| r.uid != euid);
    if let Some(r) = switch {
        capabilities::forget_on_setuid().map_err(sys("prctl(PR_SET_KEEPCAPS)"))?;
        // SAFETY: plain system calls on ids; glibc applies them to every
        // thread (there is one).
        unsafe {
            check(libc::setgroups(1, &r.gid), "setgroups")?;
            check(libc::setresgid(r.gid, r.gid, r.gid), "setresgid")?;
            check(libc::setresuid(r.uid, r.uid, r.uid), "setresuid")?;
        }
    }
    capabilities::clear().map_err(sys("capset"))?;
    capabilities::set_no_new_privs().map_err(sys("prctl(PR_SET_NO_NEW_PRIVS)"))?;
    verify(switch)?;
    Ok(match switch {
        Some(r) => Dropped::User {
            uid: r.uid,
            gid: r.gid,
        },
        None => Dropped::Capabilities,
    })
}

/// Checks the drop: no capability, no-new-privileges, and after a change
/// of user the user's ids everywhere and no way back to uid 0.
fn verify(switched: Option<&RunAs>) -> Result<(), PrivilegeError> {
    let sets = capabilities::current().map_err(sys("capget"))?;
    if !sets.is_empty() {
        return Err(PrivilegeError::Remain(format!("capabilities {sets:?}")));
    }
    if !capabilities::no_new_privs() {
        return Err(PrivilegeError::Remain(
            "no-new-privileges is not set".into(),
        ));
    }
    let Some(r) = switched else {
        return Ok(());
    };
    let (mut ru, mut eu, mut su) = (0, 0, 0);
    let (mut rg, mut eg, mut sg) = (0, 0, 0);
    // SAFETY: the pointers are to local integers.
    unsafe {
        check(libc::getresuid(&mut ru, &mut eu, &mut su), "getresuid")?;
        check(libc::getresgid(&mut rg, &mut eg, &mut sg), "getresgid")?;
    }
    if [ru, eu, su] != [r.uid; 3] || [rg, eg, sg] != [r.gid; 3] {
        return Err(PrivilegeError::Remain(format!(
            "uids {ru}/{eu}/{su}, gids {rg}/{eg}/{sg}"
        )));
    }
    // SAFETY: a plain system call; it must fail.
    if unsafe { libc::setuid(0) } == 0 {
        return Err(PrivilegeError::Remain("uid 0 could be taken back".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_resolves_names_and_refuses_root_and_strangers() {
        assert!(matches!(
            RunAs::lookup("root", None),
            Err(LookupError::Root(u)) if u == "root"
        ));
        assert!(matches!(
            RunAs::lookup("no-such-user-vifgate-test", None),
            Err(LookupError::NoUser(_))
        ));
        // `nobody` is in every Debian passwd (uid 65534)
        let n = RunAs::lookup("nobody", None).expect("nobody exists");
        assert_eq!(n.uid, 65534);
        assert_eq!(n.group, n.gid.to_string());
        let g = RunAs::lookup("nobody", Some("root")).expect("group root exists");
        assert_eq!(g.gid, 0);
        assert!(matches!(
            RunAs::lookup("nobody", Some("no-such-group-vifgate-test")),
            Err(LookupError::NoGroup(_))
        ));
    }

    /// `/proc/self/status` lines of a drop made in a forked child (the
    /// drop cannot be undone, so the test process itself keeps its
    /// privileges); `None` when not root (skipped, except in CI).
    fn status_after_drop_in_child(run_as: Option<&RunAs>) -> Option<String> {
        // SAFETY: geteuid cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI runs the tests as root"
            );
            eprintln!("skipped: needs root");
            return None;
        }
        let mut fds = [0; 2];
        // SAFETY: a pipe into a local array.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        // SAFETY: the child does the drop, writes its status and exits
        // without unwinding into the test harness; it has one thread.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork");
        if pid == 0 {
            let report = match drop_after_start(run_as) {
                Ok(d) => format!(
                    "{d:?}\n{}",
                    std::fs::read_to_string("/proc/self/status").unwrap_or_default()
                ),
                Err(e) => format!("error: {e}"),
            };
            // SAFETY: writes to our end of the pipe, then leaves at once.
            unsafe {
                libc::write(fds[1], report.as_ptr().cast(), report.len());
                libc::_exit(0);
            }
        }
        // SAFETY: closing our copy of the write end.
        unsafe { libc::close(fds[1]) };
        let mut out = String::new();
        use std::io::Read as _;
        // SAFETY: the read end is ours, owned by the File from here on.
        let mut f = unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fds[0]) };
        f.read_to_string(&mut out).expect("child's report");
        let mut status = 0;
        // SAFETY: waiting for our own child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        Some(out)
    }

    fn field<'a>(status: &'a str, name: &str) -> &'a str {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(str::trim)
            .unwrap_or_else(|| panic!("no {name} in {status}"))
    }

    #[test]
    fn a_root_child_becomes_nobody_with_no_capability() {
        let nobody = RunAs::lookup("nobody", None).expect("nobody");
        let Some(s) = status_after_drop_in_child(Some(&nobody)) else {
            return;
        };
        assert!(s.starts_with("User {"), "{s}");
        assert_eq!(field(&s, "Uid:"), "65534\t65534\t65534\t65534", "{s}");
        assert_eq!(
            field(&s, "Gid:"),
            format!("{0}\t{0}\t{0}\t{0}", nobody.gid),
            "{s}"
        );
        assert_eq!(field(&s, "Groups:"), nobody.gid.to_string(), "{s}");
        for set in ["CapInh:", "CapPrm:", "CapEff:", "CapBnd:", "CapAmb:"] {
            assert_eq!(field(&s, set), "0000000000000000", "{set} {s}");
        }
        assert_eq!(field(&s, "NoNewPrivs:"), "1", "{s}");
    }

    #[test]
    fn root_without_a_user_keeps_everything() {
        let Some(s) = status_after_drop_in_child(None) else {
            return;
        };
        assert!(s.starts_with("StillRoot"), "{s}");
        assert_eq!(field(&s, "NoNewPrivs:"), "0", "{s}");
        assert_ne!(field(&s, "CapEff:"), "0000000000000000", "{s}");
    }

    #[test]
    fn the_capability_sets_read_back() {
        let sets = capabilities::current().expect("capget");
        // SAFETY: geteuid cannot fail.
        if unsafe { libc::geteuid() } == 0 {
            assert_ne!(sets.effective, 0, "root holds capabilities");
            assert!(capabilities::in_bounding(capabilities::CAP_SETPCAP));
        }
        assert!(
            capabilities::last_cap() >= 37,
            "a kernel of the last decade"
        );
    }
}
