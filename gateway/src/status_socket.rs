//! The status socket's place on the disk (`[status] socket`): what is
//! there now, and claiming it at start without destroying anything.
//!
//! The gateway replaces only a *stale* socket (one no process listens on,
//! left by a killed run). Anything else at the path is refused: a file of
//! another kind (a typo such as `socket = "office.key"` must not cost the
//! key), and a live socket (a process answers there: taking it over
//! would cut `vifgate status` off from that gateway, and deleting it at
//! stop would do so for good). At stop the gateway removes the socket only
//! if the path still holds the very socket it made.

use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

/// Longest path a unix socket can be bound at: `sun_path` holds 108
/// bytes, the last one the terminating NUL.
pub const MAX_SOCKET_PATH: usize = 107;

/// What is at the socket's path now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketPlace {
    /// Nothing.
    Absent,
    /// A socket no one listens on (connecting is refused).
    Stale,
    /// A socket a process listens on (another gateway, most likely).
    Live,
    /// Something that is no socket; what it is, in words.
    NotASocket(&'static str),
}

/// Why the socket's place cannot be claimed.
#[derive(Debug, thiserror::Error)]
pub enum StatusSocketError {
    /// The path holds something that is no socket.
    #[error(
        "{} is {kind}, not a socket: the gateway replaces only a stale socket; \
         give [status] socket a path of its own",
        .path.display()
    )]
    NotASocket {
        /// The path.
        path: PathBuf,
        /// What it is.
        kind: &'static str,
    },
    /// Another process listens on the socket.
    #[error(
        "a process answers on {} (another gateway?): stop it first, or give this one \
         another [status] socket (`vifgate status --socket {}` asks the running one)",
        .path.display(),
        .path.display()
    )]
    Live {
        /// The path.
        path: PathBuf,
    },
    /// A system call failed.
    #[error("{what} {}", .path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// The path.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
}

/// What a file of this type is, in words (for one that is no socket).
pub fn file_kind(file_type: std::fs::FileType) -> &'static str {
    if file_type.is_file() {
        "a regular file"
    } else if file_type.is_dir() {
        "a directory"
    } else if file_type.is_symlink() {
        "a symbolic link"
    } else if file_type.is_fifo() {
        "a named pipe"
    } else if file_type.is_char_device() || file_type.is_block_device() {
        "a device"
    } else {
        "a file of another kind"
    }
}

/// Looks at the path without changing anything: a symbolic link is not
/// followed (it is no socket of the gateway's), a socket is connected to
/// (and let go at once) to tell a live one from a stale one.
pub fn probe(path: &Path) -> io::Result<SocketPlace> {
    let metadata = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(SocketPlace::Absent),
        Err(e) => return Err(e),
    };
    if !metadata.file_type().is_socket() {
        return Ok(SocketPlace::NotASocket(file_kind(metadata.file_type())));
    }
    match UnixStream::connect(path) {
        Ok(_) => Ok(SocketPlace::Live),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => Ok(SocketPlace::Stale),
        Err(e) => Err(e),
    }
}

/// The status socket's path, claimed: the socket is removed at drop if
/// the path still holds it.
#[derive(Debug)]
pub struct ClaimedSocket {
    path: PathBuf,
    /// Device and inode of the socket made, to know it again at stop.
    identity: (u64, u64),
}

impl ClaimedSocket {
    /// Creates the directory if missing, replaces a stale socket, refuses
    /// anything else that is there, binds (mode 600); the claim and the
    /// listener.
    pub fn claim(path: &Path) -> Result<(Self, UnixListener), StatusSocketError> {
        let io = |what: &'static str| {
            let path = path.to_path_buf();
            move |source| StatusSocketError::Io { what, path, source }
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StatusSocketError::Io {
                what: "cannot create the directory of",
                path: path.to_path_buf(),
                source,
            })?;
        }
        // gateways starting at once take turns: one replaces a stale
        // socket and binds, the next finds it live
        let _turn = DirectoryLock::take(path);
        match probe(path).map_err(io("cannot look at"))? {
            SocketPlace::Absent => {}
            SocketPlace::Stale => {
                tracing::info!(socket = %path.display(), "replacing a stale status socket");
                std::fs::remove_file(path).map_err(io("cannot remove the stale socket"))?;
            }
            SocketPlace::Live => {
                return Err(StatusSocketError::Live {
                    path: path.to_path_buf(),
                })
            }
            SocketPlace::NotASocket(kind) => {
                return Err(StatusSocketError::NotASocket {
                    path: path.to_path_buf(),
                    kind,
                })
            }
        }
        // a socket made between the look and here makes bind fail
        // (EADDRINUSE): nothing is replaced then either
        let listener = UnixListener::bind(path).map_err(io("cannot bind"))?;
        let made = std::fs::symlink_metadata(path).map_err(io("cannot look at"))?;
        let claimed = ClaimedSocket {
            path: path.to_path_buf(),
            identity: (made.dev(), made.ino()),
        };
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(io("cannot chmod"))?;
        Ok((claimed, listener))
    }

    /// Whether the path still holds the socket this claim made.
    fn still_ours(&self) -> bool {
        std::fs::symlink_metadata(&self.path)
            .is_ok_and(|m| m.file_type().is_socket() && (m.dev(), m.ino()) == self.identity)
    }
}

impl Drop for ClaimedSocket {
    fn drop(&mut self) {
        // what took the path since (a file, another gateway's socket) stays
        let _turn = DirectoryLock::take(&self.path);
        if self.still_ours() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// How long a gateway waits for the socket's directory's lock. Gateways
/// hold it for the few system calls of a claim or a removal; anyone who
/// may open the directory (any user, for `/run/vifgate` or `/tmp`) can hold
/// it for ever, and must not stop every gateway's start and stop with it.
pub const DIRECTORY_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// An exclusive `flock` on the socket's directory, held while a gateway
/// looks at the path and replaces or removes what is there, so that two
/// gateways never both take a stale socket for theirs. Best effort: a
/// directory that cannot be opened or locked (no permission after the
/// privileges went), or that stays locked for [`DIRECTORY_LOCK_WAIT`]
/// (logged), goes unlocked.
struct DirectoryLock {
    /// Held for its lock: closing it releases the lock.
    _held: Option<std::fs::File>,
}

impl DirectoryLock {
    fn take(path: &Path) -> DirectoryLock {
        let dir = match path.parent().filter(|d| !d.as_os_str().is_empty()) {
            Some(d) => d,
            None => Path::new("."),
        };
        let Ok(file) = std::fs::File::open(dir) else {
            return DirectoryLock { _held: None };
        };
        let deadline = std::time::Instant::now() + DIRECTORY_LOCK_WAIT;
        loop {
            // SAFETY: flock on a descriptor this function owns, without
            // blocking; the lock is released when the file closes
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
                return DirectoryLock { _held: Some(file) };
            }
            let busy = io::Error::last_os_error().kind() == io::ErrorKind::WouldBlock;
            if !busy || std::time::Instant::now() >= deadline {
                if busy {
                    tracing::warn!(
                        directory = %dir.display(),
                        "another process holds the status socket directory's lock: going on without it"
                    );
                }
                return DirectoryLock { _held: None };
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A lock on the socket's directory that someone else holds for ever
    /// (any user may open `/run/vifgate` or `/tmp` and `flock` it) delays
    /// a claim by [`DIRECTORY_LOCK_WAIT`] at most: the start waited for
    /// ever, silently.
    #[test]
    fn a_directory_locked_by_another_process_delays_the_claim_only_a_while() {
        let dir = std::env::temp_dir().join(format!("vifgate-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let holder = std::fs::File::open(&dir).unwrap();
        // SAFETY: flock on a descriptor the test owns.
        assert_eq!(unsafe { libc::flock(holder.as_raw_fd(), libc::LOCK_EX) }, 0);
        let (tx, rx) = std::sync::mpsc::channel();
        let path = dir.join("gw.sock");
        std::thread::spawn(move || {
            let _ = tx.send(
                ClaimedSocket::claim(&path)
                    .map(|_| ())
                    .map_err(|e| e.to_string()),
            );
        });
        let claimed = rx.recv_timeout(DIRECTORY_LOCK_WAIT + std::time::Duration::from_secs(5));
        assert!(matches!(claimed, Ok(Ok(()))), "{claimed:?}");
        drop(holder);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "vifgate-status-socket-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_regular_file_is_refused_and_kept() {
        let dir = scratch("file");
        let path = dir.join("office.key");
        std::fs::write(&path, "secret\n").unwrap();
        let e = ClaimedSocket::claim(&path).unwrap_err();
        assert!(
            e.to_string().ends_with(
                "office.key is a regular file, not a socket: the gateway replaces only a stale socket; give [status] socket a path of its own"
            ),
            "{e}"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "secret\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_directory_and_a_symlink_are_refused() {
        let dir = scratch("dir");
        let sub = dir.join("sub");
        std::fs::create_dir(&sub).unwrap();
        assert_eq!(probe(&sub).unwrap(), SocketPlace::NotASocket("a directory"));
        let link = dir.join("link.sock");
        std::os::unix::fs::symlink(&sub, &link).unwrap();
        assert_eq!(
            probe(&link).unwrap(),
            SocketPlace::NotASocket("a symbolic link")
        );
        assert!(ClaimedSocket::claim(&link).is_err());
        assert!(sub.is_dir() && link.is_symlink());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_live_socket_is_refused_a_stale_one_replaced() {
        let dir = scratch("live");
        let path = dir.join("gw.sock");
        let (first, listener) = ClaimedSocket::claim(&path).unwrap();
        assert_eq!(probe(&path).unwrap(), SocketPlace::Live);
        let e = ClaimedSocket::claim(&path).unwrap_err();
        assert!(matches!(e, StatusSocketError::Live { .. }), "{e}");
        assert!(e.to_string().starts_with("a process answers on "), "{e}");
        // the refused claim removed nothing: the first still answers
        assert!(UnixStream::connect(&path).is_ok());
        // a killed run: the listener gone, the file left
        drop(listener);
        std::mem::forget(first);
        assert_eq!(probe(&path).unwrap(), SocketPlace::Stale);
        let (second, listener) = ClaimedSocket::claim(&path).unwrap();
        assert_eq!(probe(&path).unwrap(), SocketPlace::Live);
        drop(listener);
        drop(second);
        assert_eq!(
            probe(&path).unwrap(),
            SocketPlace::Absent,
            "removed at stop"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn of_gateways_starting_at_once_on_a_stale_socket_one_wins() {
        let dir = scratch("race");
        let path = dir.join("gw.sock");
        for _ in 0..20 {
            // stale: bound, then let go without removing
            let (first, listener) = ClaimedSocket::claim(&path).unwrap();
            drop(listener);
            std::mem::forget(first);
            let claims: Vec<_> = (0..8)
                .map(|_| {
                    let path = path.clone();
                    std::thread::spawn(move || ClaimedSocket::claim(&path))
                })
                .collect();
            let results: Vec<_> = claims.into_iter().map(|t| t.join().unwrap()).collect();
            let won: Vec<_> = results.iter().filter(|r| r.is_ok()).collect();
            assert_eq!(won.len(), 1, "{results:?}");
            assert!(results
                .iter()
                .filter_map(|r| r.as_ref().err())
                .all(|e| matches!(e, StatusSocketError::Live { .. })));
            assert_eq!(probe(&path).unwrap(), SocketPlace::Live);
            // the winner stops: the path is empty for the next round
            drop(results);
            assert_eq!(probe(&path).unwrap(), SocketPlace::Absent);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn at_stop_only_its_own_socket_is_removed() {
        let dir = scratch("stop");
        let path = dir.join("gw.sock");
        let (claimed, _listener) = ClaimedSocket::claim(&path).unwrap();
        // replaced behind the gateway's back by a file of someone else's
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, "not the gateway's").unwrap();
        drop(claimed);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "not the gateway's");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
