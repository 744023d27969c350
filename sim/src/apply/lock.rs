//! A lab name's lock. Its state directory (`/run/vifgate/sim/LAB/`) is
//! created with `create_dir`, never `create_dir_all`: of two `sim up` of
//! the same name, exactly one creates it and builds; the other is told
//! who holds the name and touches nothing.
//!
//! Inside it, the file `lock` names the holder (`PID START_TIME`) and is
//! held with `flock` while the lab is built, and while it is removed. The
//! lock file is made and locked *before* the directory appears (in a
//! temporary directory renamed into place), so nobody sees the directory
//! unlocked while its builder lives. Processes the builder forks inherit
//! the lock until they exec (it is close-on-exec): `down` takes the lock
//! first, so it never sweeps the lab's namespaces while a process that
//! `sim up` forked has not entered one yet, even when `sim up` was killed.

use std::fs::{self, File};
use std::io::{self, Read as _, Write as _};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::apply::process;

/// The name of the lock file inside a lab's state directory.
pub const LOCK_FILE: &str = "lock";

/// Why a lab's lock was not taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Somebody else holds the name: a lab that is up, or a `sim up` or
    /// `sim down` at work.
    #[error("lab `{lab}` is already up or being built ({holder}): remove it with `vifgate sim down {lab}`, or pick another name with --lab")]
    Held {
        /// The lab.
        lab: String,
        /// Who: `by pid N`, or why that is not known.
        holder: String,
    },
    /// The lock was held for longer than we waited.
    #[error("lab `{lab}` is busy ({holder}) for more than {waited:?}")]
    Busy {
        /// The lab.
        lab: String,
        /// Who holds it.
        holder: String,
        /// How long we waited.
        waited: Duration,
    },
    /// A system error.
    #[error("{what}: {cause}")]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        cause: io::Error,
    },
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> LockError {
    let what = what.into();
    move |cause| LockError::Io { what, cause }
}

/// A held lock on a lab's name: its state directory and the `flock` on
/// the lock file in it. Dropping it releases the `flock`; the directory
/// stays (it *is* the lab) until [`LabLock::remove`].
#[derive(Debug)]
pub struct LabLock {
    dir: PathBuf,
    file: File,
}

impl LabLock {
    /// The state directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Removes the state directory, the lock file with it.
    pub fn remove(self) -> io::Result<()> {
        match fs::remove_dir_all(&self.dir) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Whether the lock file is still the one in the directory (another
    /// `down` has not removed the lab while we waited for it).
    fn still_linked(&self) -> bool {
        let ours = self.file.metadata();
        let there = fs::metadata(self.dir.join(LOCK_FILE));
        match (ours, there) {
            (Ok(a), Ok(b)) => a.nlink() > 0 && (a.dev(), a.ino()) == (b.dev(), b.ino()),
            _ => false,
        }
    }
}

fn flock(f: &File, blocking: bool) -> io::Result<bool> {
    let op = libc::LOCK_EX | if blocking { 0 } else { libc::LOCK_NB };
    // SAFETY: flock on an open file.
    if unsafe { libc::flock(f.as_raw_fd(), op) } == 0 {
        return Ok(true);
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(false)
    } else {
        Err(e)
    }
}

/// Why a lab's name is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// `sim up`: the lab is built (and stays, after the lock is released).
    Build,
    /// `sim down` of a lab without a state directory: nothing may be
    /// built under that name while its leftovers are removed.
    Remove,
}

impl Purpose {
    fn word(self) -> &'static str {
        match self {
            Purpose::Build => "building",
            Purpose::Remove => "removing",
        }
    }
}

/// `PID START_TIME PURPOSE` of the calling process.
fn holder_line(purpose: Purpose) -> String {
    let me = std::process::id();
    let start = process::start_time(me).unwrap_or(0);
    format!("{me} {start} {}\n", purpose.word())
}

/// Who holds a lab (from its lock file): `by pid N`, `by pid N, which has
/// exited`, or why it is not known.
pub fn holder(dir: &Path) -> String {
    let mut text = String::new();
    // the directory appears with its lock file written; an older layout
    // (or a directory made by hand) may have none
    if File::open(dir.join(LOCK_FILE))
        .and_then(|mut f| f.read_to_string(&mut text))
        .is_err()
    {
        return "no lock file in its state directory".into();
    }
    let mut words = text.split_whitespace();
    let pid = words.next().and_then(|w| w.parse::<u32>().ok());
    let start = words.next().and_then(|w| w.parse::<u64>().ok());
    let removing = words.next() == Some(Purpose::Remove.word());
    match (pid, start) {
        (Some(pid), Some(start)) => {
            if process::start_time(pid).is_ok_and(|t| t == start) && process::alive(pid) {
                if removing {
                    format!("by pid {pid}, which is removing what is left of it")
                } else {
                    format!("by pid {pid}")
                }
            } else {
                format!("by pid {pid}, which has exited")
            }
        }
        _ => "its lock file names nobody".into(),
    }
}

/// The error for a name someone holds. The holder's directory may still
/// be empty for an instant (claimed, its lock file not moved in yet).
fn held(lab: &str, dir: &Path) -> LockError {
    let deadline = Instant::now() + Duration::from_millis(500);
    let mut who = holder(dir);
    while who.starts_with("no lock file") && dir.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
        who = holder(dir);
    }
    LockError::Held {
        lab: lab.into(),
        holder: who,
    }
}

/// Takes a lab's name: creates its state directory `dir` (mode 0755,
/// readable by all; its secrets are mode 600) with the lock file in it
/// (root's alone), locked by us. Fails with [`LockError::Held`] if
/// the directory exists, removing nothing.
pub fn create(lab: &str, dir: &Path, purpose: Purpose) -> Result<LabLock, LockError> {
    let root = dir.parent().ok_or_else(|| LockError::Io {
        what: format!("{}", dir.display()),
        cause: io::Error::other("no parent directory"),
    })?;
    fs::create_dir_all(root).map_err(io_err(format!("create {}", root.display())))?;
    if dir.exists() {
        return Err(held(lab, dir));
    }
    // made and locked aside, then renamed into place
    // unique to this call: threads of one process build labs too
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let tmp = root.join(format!(
        ".{}.{}-{}.tmp",
        dir.file_name().and_then(|n| n.to_str()).unwrap_or("lab"),
        std::process::id(),
        CALLS.fetch_add(1, Ordering::Relaxed)
    ));
    fs::create_dir(&tmp).map_err(io_err(format!("create {}", tmp.display())))?;
    let made = (|| -> io::Result<File> {
        // readable by all, as /run/netns is, so that `sim apply --dry-run`
        // needs no root; what is secret in it (keys, MD5 key files,
        // control sockets) is mode 600 and the lock file root's alone, so
        // that no other user can hold the lab's lock
        fs::set_permissions(&tmp, fs::Permissions::from_mode(0o755))?;
        let mut file = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(tmp.join(LOCK_FILE))?;
        flock(&file, false)?;
        file.write_all(holder_line(purpose).as_bytes())?;
        Ok(file)
    })();
    let file = match made {
        Ok(f) => f,
        Err(e) => {
            let _ = fs::remove_dir_all(&tmp);
            return Err(io_err(format!("make the lock in {}", tmp.display()))(e));
        }
    };
    // the lock proper: an empty directory would be replaced by rename, so
    // `create_dir` claims the name first and the rename only fills it
    match fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) => {
            let _ = fs::remove_dir_all(&tmp);
            return Err(if e.kind() == io::ErrorKind::AlreadyExists {
                held(lab, dir)
            } else {
                io_err(format!("create {}", dir.display()))(e)
            });
        }
    }
    // the (empty) directory we created, replaced by the locked one
    if let Err(e) = fs::rename(&tmp, dir) {
        let _ = fs::remove_dir_all(&tmp);
        let _ = fs::remove_dir(dir);
        return Err(io_err(format!("move the lock into {}", dir.display()))(e));
    }
    Ok(LabLock {
        dir: dir.to_path_buf(),
        file,
    })
}

/// Takes a lab's name for removing it: waits (at most `wait`) for whoever
/// holds its lock (a `sim up` building, another `down`). `Ok(None)` when
/// the lab has no state directory (nothing to lock); a directory without
/// a lock file (an older layout) is locked through a new one.
pub fn take(lab: &str, dir: &Path, wait: Duration) -> Result<Option<LabLock>, LockError> {
    let deadline = Instant::now() + wait;
    loop {
        if !dir.exists() {
            return Ok(None);
        }
        // a builder fills its directory right after claiming it: give it
        // a moment before making a lock file ourselves (older layout)
        let path = dir.join(LOCK_FILE);
        let appear = Instant::now() + Duration::from_millis(500);
        while !path.exists() && dir.exists() && Instant::now() < appear {
            std::thread::sleep(Duration::from_millis(10));
        }
        let file = match File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
        {
            Ok(f) => f,
            // removed meanwhile: look again
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_err(format!("open the lock of lab `{lab}`"))(e)),
        };
        let lock = LabLock {
            dir: dir.to_path_buf(),
            file,
        };
        if flock(&lock.file, false).map_err(io_err(format!("lock lab `{lab}`")))? {
            if lock.still_linked() {
                return Ok(Some(lock));
            }
            // removed by another `down` while we waited: look again
            continue;
        }
        if Instant::now() >= deadline {
            return Err(LockError::Busy {
                lab: lab.into(),
                holder: holder(dir),
                waited: wait,
            });
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::sync::{Arc, Barrier};

    /// A scratch directory for one test, removed on drop (also when the
    /// test fails).
    struct Scratch(PathBuf);

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn root(test: &str) -> Scratch {
        let r = std::env::temp_dir().join(format!("vifgate-lock-{test}-{}", std::process::id()));
        Scratch(r)
    }

    #[test]
    fn of_two_builders_exactly_one_wins_and_the_other_names_it() {
        let r = root("race");
        let dir = r.0.join("lab1");
        for _ in 0..20 {
            let n = 4;
            let barrier = Arc::new(Barrier::new(n));
            let results: Vec<Result<LabLock, LockError>> = (0..n)
                .map(|_| {
                    let (b, dir) = (barrier.clone(), dir.clone());
                    std::thread::spawn(move || {
                        b.wait();
                        create("lab1", &dir, Purpose::Build)
                    })
                })
                .collect::<Vec<_>>()
                .into_iter()
                .map(|h| h.join().expect("thread"))
                .collect();
            let won: Vec<&LabLock> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
            assert_eq!(won.len(), 1, "{results:?}");
            for e in results.iter().filter_map(|r| r.as_ref().err()) {
                let msg = e.to_string();
                let me = format!("by pid {}", std::process::id());
                assert!(
                    matches!(e, LockError::Held { .. }) && msg.contains(&me),
                    "{msg}"
                );
                assert!(
                    msg.contains("lab `lab1` is already up or being built"),
                    "{msg}"
                );
            }
            // the winner's directory is whole: its lock file, locked
            assert!(dir.join(LOCK_FILE).exists());
            let other = File::open(dir.join(LOCK_FILE)).expect("open");
            assert!(!flock(&other, false).expect("flock"), "not locked");
            // no temporary directory left behind
            let names: Vec<String> = fs::read_dir(&r.0)
                .expect("root")
                .flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .collect();
            assert_eq!(names, ["lab1"]);
            let winner = results.into_iter().find_map(Result::ok).expect("a winner");
            winner.remove().expect("remove");
            assert!(!dir.exists());
        }
    }

    #[test]
    fn take_waits_for_the_builder_and_sees_removal() {
        let r = root("take");
        let dir = r.0.join("lab2");
        assert!(take("lab2", &dir, Duration::ZERO).expect("ok").is_none());
        let built = create("lab2", &dir, Purpose::Build).expect("create");
        // held: a short wait gives up and says by whom
        let e = take("lab2", &dir, Duration::from_millis(50)).expect_err("busy");
        assert!(
            e.to_string()
                .contains(&format!("by pid {}", std::process::id())),
            "{e}"
        );
        // released (the builder finished): taken at once
        drop(built);
        let lock = take("lab2", &dir, Duration::ZERO)
            .expect("taken")
            .expect("exists");
        // a second taker waits, and finds nothing once the first removed it
        let d = dir.clone();
        let second = std::thread::spawn(move || take("lab2", &d, Duration::from_secs(5)));
        std::thread::sleep(Duration::from_millis(50));
        lock.remove().expect("remove");
        assert!(second.join().expect("thread").expect("ok").is_none());
    }

    #[test]
    fn a_directory_without_a_lock_file_is_held_by_nobody_known() {
        let r = root("old");
        let dir = r.0.join("lab3");
        fs::create_dir_all(&dir).expect("dir");
        let e = create("lab3", &dir, Purpose::Build).expect_err("exists");
        assert!(e.to_string().contains("no lock file"), "{e}");
        // down can still lock it
        let lock = take("lab3", &dir, Duration::ZERO)
            .expect("ok")
            .expect("exists");
        lock.remove().expect("remove");
    }
}
