//! Named network namespaces, made and removed in-process the way
//! `ip netns` does (a bind mount of the namespace under `/run/netns`), so
//! that `ip netns exec` and `ip -n` see them; no process is spawned.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where named namespaces live.
pub const NETNS_DIR: &str = "/run/netns";

/// Refuses a namespace name that is not one file in [`NETNS_DIR`]: empty,
/// `.`, `..`, with a `/`, or too long.
fn check_name(name: &str) -> io::Result<()> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.len() > 200 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("bad namespace name `{name}`"),
        ));
    }
    Ok(())
}

/// The path of a named namespace.
pub fn path(name: &str) -> PathBuf {
    Path::new(NETNS_DIR).join(name)
}

fn cstr(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_encoded_bytes()).map_err(io::Error::other)
}

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Makes `/run/netns` a shared mount point, as `ip netns add` does, so that
/// namespaces mounted under it are seen from every mount namespace.
fn prepare_dir() -> io::Result<()> {
    std::fs::create_dir_all(NETNS_DIR)?;
    let dir = cstr(Path::new(NETNS_DIR))?;
    let none = c"none";
    // SAFETY: valid NUL-terminated strings; null data.
    let shared = |flags| unsafe {
        libc::mount(
            none.as_ptr(),
            dir.as_ptr(),
            none.as_ptr(),
            flags,
            std::ptr::null(),
        )
    };
    if shared(libc::MS_SHARED | libc::MS_REC) == 0 {
        return Ok(());
    }
    if io::Error::last_os_error().raw_os_error() != Some(libc::EINVAL) {
        return Err(io::Error::last_os_error());
    }
    // not a mount point yet: bind it onto itself, then share it
    // SAFETY: as above.
    check(unsafe {
        libc::mount(
            dir.as_ptr(),
            dir.as_ptr(),
            none.as_ptr(),
            libc::MS_BIND | libc::MS_REC,
            std::ptr::null(),
        )
    })?;
    check(shared(libc::MS_SHARED | libc::MS_REC))
}

/// Creates the named namespace. Fails if it exists.
pub fn create(name: &str) -> io::Result<()> {
    check_name(name)?;
    prepare_dir()?;
    let target = path(name);
    // the mount point; O_EXCL makes a second lab with the same name fail
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&target)?;
    let t = target.clone();
    // unshare on a throwaway thread: the thread's namespace is the new one
    let made = std::thread::spawn(move || -> io::Result<()> {
        // SAFETY: plain syscalls; this thread is dropped afterwards.
        check(unsafe { libc::unshare(libc::CLONE_NEWNET) })?;
        // SAFETY: gettid has no preconditions.
        let tid = unsafe { libc::gettid() };
        let src = cstr(Path::new(&format!("/proc/self/task/{tid}/ns/net")))?;
        let dst = cstr(&t)?;
        // SAFETY: valid NUL-terminated strings.
        check(unsafe {
            libc::mount(
                src.as_ptr(),
                dst.as_ptr(),
                c"none".as_ptr(),
                libc::MS_BIND,
                std::ptr::null(),
            )
        })
    })
    .join()
    .map_err(|_| io::Error::other("namespace thread panicked"))?;
    if let Err(e) = made {
        let _ = std::fs::remove_file(&target);
        return Err(e);
    }
    Ok(())
}

/// Removes the named namespace; a namespace that does not exist is not an
/// error. The kernel frees it (and every link in it) once no process and
/// no open handle uses it.
pub fn delete(name: &str) -> io::Result<()> {
    // a name from a state file: never a path out of the directory
    check_name(name)?;
    let p = path(name);
    if !p.exists() {
        return Ok(());
    }
    let c = cstr(&p)?;
    // SAFETY: valid path; MNT_DETACH never blocks.
    let rc = unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    if rc < 0 {
        let e = io::Error::last_os_error();
        // EINVAL: not mounted (a half-made namespace): just remove the file
        if e.raw_os_error() != Some(libc::EINVAL) {
            return Err(e);
        }
    }
    match std::fs::remove_file(&p) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Names of the namespaces that start with `prefix`, sorted.
pub fn list(prefix: &str) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(NETNS_DIR)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.starts_with(prefix))
        .collect();
    out.sort();
    out
}

pub use super::nft::{nft, nft_each};

/// Whether the named namespace exists.
pub fn exists(name: &str) -> bool {
    path(name).exists()
}

/// An open handle on a named namespace.
#[derive(Debug)]
pub struct Netns {
    name: String,
    fd: OwnedFd,
}

impl Netns {
    /// Opens the named namespace.
    pub fn open(name: &str) -> io::Result<Netns> {
        let f = File::open(path(name))
            .map_err(|e| io::Error::new(e.kind(), format!("namespace `{name}`: {e}")))?;
        Ok(Netns {
            name: name.to_string(),
            fd: f.into(),
        })
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `f` on a thread that lives in this namespace, and returns what
    /// it returns. Sockets `f` opens belong to the namespace for their
    /// whole life, wherever they are used afterwards.
    pub fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> io::Result<T> {
        let fd = self.fd.try_clone()?;
        std::thread::spawn(move || -> io::Result<T> {
            enter(&fd)?;
            Ok(f())
        })
        .join()
        .map_err(|_| io::Error::other("thread in namespace panicked"))?
    }

    /// Moves the calling thread into this namespace, for good: for a
    /// thread made for the purpose, whose end leaves nothing behind.
    pub fn enter_thread(&self) -> io::Result<()> {
        enter(&self.fd)
    }

    /// Makes `cmd` start inside this namespace (set before it execs).
    pub fn command(&self, cmd: &mut Command) -> io::Result<()> {
        let fd = self.fd.try_clone()?;
        // SAFETY: setns is async-signal-safe; the fd stays open in the
        // child until exec (it is moved into the closure).
        unsafe {
            cmd.pre_exec(move || enter(&fd));
        }
        Ok(())
    }
}

/// Moves the calling thread into the namespace behind `fd`.
pub fn enter(fd: &impl AsRawFd) -> io::Result<()> {
    // SAFETY: setns on a namespace fd only changes this thread.
    check(unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> bool {
        // SAFETY: no preconditions.
        unsafe { libc::geteuid() == 0 }
    }

    #[test]
    fn a_name_that_is_a_path_is_neither_made_nor_deleted() {
        for name in ["", ".", "..", "../x", "a/b", "/run"] {
            let e = delete(name).expect_err(name);
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{name}");
            let e = create(name).expect_err(name);
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{name}");
        }
    }

    #[test]
    fn create_enter_and_delete() {
        if !root() {
            eprintln!("skipped: needs root");
            return;
        }
        let name = format!("vsnt{}", std::process::id());
        create(&name).expect("create");
        assert!(exists(&name));
        assert!(create(&name).is_err(), "a second create must fail");
        assert!(list("vsnt").contains(&name));
        let ns = Netns::open(&name).expect("open");
        // a fresh namespace has only its loopback
        let links = ns
            .run(|| std::fs::read_to_string("/proc/thread-self/net/dev").unwrap_or_default())
            .expect("run");
        assert_eq!(links.lines().count(), 3, "{links}");
        drop(ns);
        delete(&name).expect("delete");
        assert!(!exists(&name));
        delete(&name).expect("second delete is a no-op");
    }
}
