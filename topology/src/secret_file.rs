//! Files that hold secrets (the gateway's WireGuard keys, a VIF's BGP MD5
//! key): one rule for all of them, that group and others have no access
//! at all (mode 600 or 400), and one message when they do.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

/// Permission bits that must be clear on a secret file: any access by
/// group or others.
pub const GROUP_OTHER_ACCESS: u32 = 0o077;

/// Whether permission bits (`st_mode & 0o7777`) keep a file private to its
/// owner.
pub fn is_private(mode: u32) -> bool {
    mode & GROUP_OTHER_ACCESS == 0
}

/// The permission bits of the file at `path` when group or others may
/// access it; `None` when it is private, or cannot be looked at (missing:
/// the file may live on another machine than the one checking).
pub fn exposed_mode(path: &Path) -> Option<u32> {
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o7777;
    (!is_private(mode)).then_some(mode)
}

/// The fix for an exposed secret file.
pub fn fix(path: &Path) -> String {
    format!("make it private to its owner: chmod 600 {}", path.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_owner_access_is_private() {
        for mode in [0o600, 0o400, 0o700, 0o200] {
            assert!(is_private(mode), "{mode:o}");
        }
        for mode in [0o644, 0o640, 0o604, 0o601, 0o610, 0o666, 0o4600 | 0o004] {
            assert!(!is_private(mode), "{mode:o}");
        }
    }
}
