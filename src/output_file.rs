//! Every file a command writes where the user says (`-o`, `--report`):
//! checked before any work is done, written whole or not at all.
//!
//! - [`check`] refuses, before the command reads or computes anything, an
//!   output that is a directory, whose directory does not exist, or that is
//!   one of the command's inputs (the same file under another name, a
//!   symbolic or hard link, counts): `import-cfn T.yaml -o T.yaml` would
//!   otherwise replace its template with its own output.
//! - [`write`] writes a temporary file in the output's directory and
//!   renames it over the output: a run that fails half-way leaves the old
//!   file as it was, and a reader never sees half a file. An output that is
//!   a symbolic link is written through it (the file it names is
//!   replaced); one that is not a regular file (`/dev/stdout`, a FIFO) is
//!   written in place, since it cannot be replaced.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{bail, Context as _, Result};

/// Refuses an output path before anything is done: one that is a
/// directory, whose directory is missing, or that names one of `inputs`.
pub fn check(output: &Path, inputs: &[&Path]) -> Result<()> {
    let shown = output.display();
    if output.as_os_str().is_empty() {
        bail!("an empty output path");
    }
    if let Ok(m) = fs::metadata(output) {
        if m.is_dir() {
            bail!("{shown} is a directory: name a file to write");
        }
        for input in inputs {
            if fs::metadata(input).is_ok_and(|i| (i.dev(), i.ino()) == (m.dev(), m.ino())) {
                bail!(
                    "{shown} is the input {}: writing it would replace what is being read; write to another file",
                    input.display()
                );
            }
        }
    }
    let dir = directory_of(output);
    match fs::metadata(&dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => bail!("cannot write {shown}: {} is not a directory", dir.display()),
        Err(e) => bail!("cannot write {shown}: {}: {e}", dir.display()),
    }
}

/// [`check`]s `output` against `inputs` again (they may have changed while
/// the command ran), then writes `bytes` to it whole or not at all.
pub fn write(output: &Path, bytes: &[u8], inputs: &[&Path]) -> Result<()> {
    check(output, inputs)?;
    let target = match fs::canonicalize(output) {
        // an existing file, through any symbolic links
        Ok(real) => real,
        Err(_) => output.to_path_buf(),
    };
    let existing = fs::metadata(&target).ok();
    if existing.as_ref().is_some_and(|m| !m.is_file()) {
        // a device or a FIFO: nothing to replace, write into it
        return File::options()
            .write(true)
            .open(&target)
            .and_then(|mut f| f.write_all(bytes))
            .with_context(|| format!("cannot write {}", output.display()));
    }
    let mode = existing.map(|m| m.permissions().mode() & 0o7777);
    write_replacing(&target, bytes, mode)
        .with_context(|| format!("cannot write {}", output.display()))
}

/// The directory a path's file is in (`.` for a bare name).
fn directory_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// A temporary file beside `target`, written, flushed to disk and renamed
/// over it (keeping `mode`, the old file's permissions); removed again on
/// any failure.
fn write_replacing(target: &Path, bytes: &[u8], mode: Option<u32>) -> io::Result<()> {
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output".into());
    let tmp = directory_of(target).join(format!(
        ".{name}.{}-{}.tmp",
        std::process::id(),
        CALLS.fetch_add(1, Ordering::Relaxed)
    ));
    let written = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode.unwrap_or(0o666))
            .open(&tmp)?;
        if let Some(mode) = mode {
            // the umask narrowed the mode given at creation
            f.set_permissions(fs::Permissions::from_mode(mode))?;
        }
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, target)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scratch directory, removed on drop (the test net's, without
    /// namespaces).
    fn scratch() -> sim::ops::lab::TestNet {
        sim::ops::lab::TestNet::with_tag("out")
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut n: Vec<String> = fs::read_dir(dir)
            .expect("dir")
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        n.sort();
        n
    }

    #[test]
    fn an_input_under_any_name_is_refused() {
        let s = scratch();
        let input = s.dir.join("t.yaml");
        fs::write(&input, "x").expect("input");
        std::os::unix::fs::symlink(&input, s.dir.join("link.yaml")).expect("symlink");
        fs::hard_link(&input, s.dir.join("hard.yaml")).expect("hard link");
        let same = [
            input.clone(),
            s.dir.join("./t.yaml"),
            s.dir.join("link.yaml"),
            s.dir.join("hard.yaml"),
        ];
        for out in &same {
            let e = write(out, b"new", &[&input]).expect_err("refused");
            assert!(e.to_string().contains("is the input"), "{e}");
        }
        assert_eq!(fs::read_to_string(&input).expect("kept"), "x");
    }

    #[test]
    fn a_directory_or_a_missing_directory_is_refused() {
        let s = scratch();
        let e = check(&s.dir, &[]).expect_err("a directory");
        assert!(e.to_string().contains("is a directory"), "{e}");
        let e = check(&s.dir.join("no/such.toml"), &[]).expect_err("no directory");
        assert!(e.to_string().contains("No such file"), "{e}");
    }

    #[test]
    fn the_file_is_replaced_whole_keeping_its_mode_and_no_temporary_is_left() {
        let s = scratch();
        let out = s.dir.join("out.toml");
        fs::write(&out, "old").expect("old");
        fs::set_permissions(&out, fs::Permissions::from_mode(0o640)).expect("chmod");
        write(&out, b"new", &[]).expect("written");
        assert_eq!(fs::read_to_string(&out).expect("read"), "new");
        let mode = fs::metadata(&out).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        assert_eq!(names(&s.dir), ["out.toml"]);
        // through a symbolic link: the file it names is replaced, the link kept
        let link = s.dir.join("link.toml");
        std::os::unix::fs::symlink(&out, &link).expect("symlink");
        write(&link, b"newer", &[]).expect("written");
        assert!(fs::symlink_metadata(&link)
            .expect("link")
            .file_type()
            .is_symlink());
        assert_eq!(fs::read_to_string(&out).expect("read"), "newer");
    }
}
