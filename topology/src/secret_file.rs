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

/// The most a secret file may hold, in bytes: a key is a line of text.
pub const MAX_SECRET_BYTES: u64 = 4096;

/// Reads a secret file as text, surrounding whitespace trimmed: a regular
/// file (a FIFO, a device or a directory is refused, without waiting for a
/// writer) of at most [`MAX_SECRET_BYTES`]. Refusals are
/// `InvalidInput`; a missing file is `NotFound`, as the system says.
pub fn read_text(path: &Path) -> std::io::Result<String> {
    use std::io::{Error, ErrorKind};
    // looked at before opening: opening a FIFO would wait for a writer
    if !std::fs::metadata(path)?.is_file() {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            "not a regular file (a FIFO, a device or a directory holds no key)",
        ));
    }
    let Some(text) = crate::diag::read_text_at_most(path, MAX_SECRET_BYTES)? else {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!("longer than {MAX_SECRET_BYTES} bytes: a key is one line"),
        ));
    };
    Ok(text.trim().to_string())
}

/// The fix for an exposed secret file.
pub fn fix(path: &Path) -> String {
    format!("make it private to its owner: chmod 600 {}", path.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_regular_file_of_a_few_kilobytes_is_read() {
        let dir = std::env::temp_dir().join(format!("vifgate-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        let fifo = dir.join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.expect("mkfifo runs").success());
        let big = dir.join("big");
        std::fs::write(&big, "k".repeat(5000)).expect("big");
        let key = dir.join("key");
        std::fs::write(&key, "  s3cr3t-key\n").expect("key");
        let kinds = [&fifo, &big, &dir, Path::new("/dev/zero")]
            .map(|p| read_text(p).map(|_| ()).map_err(|e| e.kind()));
        let ok = read_text(&key);
        std::fs::remove_dir_all(&dir).ok();
        assert_eq!(kinds, [Err(std::io::ErrorKind::InvalidInput); 4]);
        assert_eq!(ok.expect("read"), "s3cr3t-key");
    }

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
