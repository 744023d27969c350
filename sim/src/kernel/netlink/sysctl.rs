//! Per-namespace sysctls (`net/…` keys only), read and written from a
//! thread inside the namespace.

use std::io;
use std::path::PathBuf;

use crate::kernel::netns::Netns;

/// Where a sysctl lives under `/proc/sys`; only `net/…` keys (the ones a
/// network namespace has its own copy of) are accepted. Dotted keys
/// (`net.ipv4.ip_forward`) are taken as slash-separated when they contain
/// no slash.
fn sysctl_path(key: &str) -> io::Result<PathBuf> {
    let key = if key.contains('/') {
        key.to_string()
    } else {
        key.replace('.', "/")
    };
    let bad = |why: &str| {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("sysctl `{key}`: {why}"),
        ))
    };
    if key
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return bad("malformed key");
    }
    if !key.starts_with("net/") {
        return bad("only net/ sysctls are per namespace; others would change the host");
    }
    Ok(PathBuf::from("/proc/sys").join(key))
}

/// Writes a sysctl (e.g. `"net/ipv4/ip_forward"`, `"1"`) inside the
/// namespace, from a thread in it (`/proc/sys/net` shows the namespace of
/// the thread that opens it). Only `net/` keys are accepted: the others
/// are not per namespace.
pub fn sysctl(ns: &Netns, key: &str, value: &str) -> io::Result<()> {
    let path = sysctl_path(key)?;
    let value = value.to_string();
    let shown = format!("sysctl {}={value} in ns {}", key, ns.name());
    ns.run(move || std::fs::write(&path, value.as_bytes()))
        .and_then(|r| r)
        .map_err(|e| io::Error::new(e.kind(), format!("{shown}: {e}")))
}

/// Writes several sysctls inside the namespace in order, from one thread
/// in it (one hop for them all; [`sysctl`] for each key's rules). The
/// first that fails stops the others and is reported with its key.
pub fn sysctls(ns: &Netns, list: &[(String, String)]) -> io::Result<()> {
    let mut writes = Vec::with_capacity(list.len());
    for (key, value) in list {
        writes.push((sysctl_path(key)?, key.clone(), value.clone()));
    }
    let name = ns.name().to_string();
    ns.run(move || -> io::Result<()> {
        for (path, key, value) in writes {
            std::fs::write(&path, value.as_bytes()).map_err(|e| {
                io::Error::new(e.kind(), format!("sysctl {key}={value} in ns {name}: {e}"))
            })?;
        }
        Ok(())
    })
    .and_then(|r| r)
}

/// Reads a sysctl inside the namespace (trimmed), as [`sysctl`] writes it.
pub fn read_sysctl(ns: &Netns, key: &str) -> io::Result<String> {
    let path = sysctl_path(key)?;
    let shown = format!("read sysctl {} in ns {}", key, ns.name());
    ns.run(move || std::fs::read_to_string(&path))
        .and_then(|r| r)
        .map(|s| s.trim().to_string())
        .map_err(|e| io::Error::new(e.kind(), format!("{shown}: {e}")))
}

/// A sysctl's value in a new, empty namespace (trimmed): what a key a
/// lab no longer sets goes back to. Read from a thread of our own moved
/// into a namespace of its own, which vanishes with it.
pub fn default_sysctl(key: &str) -> io::Result<String> {
    let path = sysctl_path(key)?;
    let shown = format!("read the default of sysctl {key}");
    std::thread::spawn(move || -> io::Result<String> {
        // SAFETY: unshare on this thread only (it is ours and ends here).
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            return Err(io::Error::last_os_error());
        }
        std::fs::read_to_string(&path).map(|s| s.trim().to_string())
    })
    .join()
    .map_err(|_| io::Error::other("the reading thread panicked"))
    .and_then(|r| r)
    .map_err(|e| io::Error::new(e.kind(), format!("{shown}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysctl_keys() {
        assert_eq!(
            sysctl_path("net/ipv4/ip_forward").unwrap(),
            PathBuf::from("/proc/sys/net/ipv4/ip_forward")
        );
        assert_eq!(
            sysctl_path("net.ipv4.conf.all.rp_filter").unwrap(),
            PathBuf::from("/proc/sys/net/ipv4/conf/all/rp_filter")
        );
        // a slash form keeps dots (VLAN-style link names)
        assert_eq!(
            sysctl_path("net/ipv4/conf/eth0.5/forwarding").unwrap(),
            PathBuf::from("/proc/sys/net/ipv4/conf/eth0.5/forwarding")
        );
        for bad in [
            "",
            "kernel/hostname",
            "net/../kernel/x",
            "/net/ipv4/ip_forward",
            "net//x",
        ] {
            assert!(sysctl_path(bad).is_err(), "{bad}");
        }
    }
}
