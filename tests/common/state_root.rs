//! A private state root for `vifgate sim` (`VIFGATE_STATE_ROOT`), with a
//! victim directory beside it: nothing a test does with a lab name can
//! reach the labs of others, and what it must not touch is there to see.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

/// A private state root for `sim` commands (`VIFGATE_STATE_ROOT`) with a
/// victim directory beside it, both removed on drop: nothing a test does
/// with a lab name can reach the labs of others.
pub struct PrivateRoot {
    base: PathBuf,
}

impl PrivateRoot {
    /// A new one under the temporary directory, named after `test`, with
    /// a lab directory `keep` in it.
    pub fn new(test: &str) -> PrivateRoot {
        let base = std::env::temp_dir().join(format!("vifgate-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(base.join("root/keep")).expect("state root");
        std::fs::create_dir_all(base.join("victim/sub")).expect("victim");
        PrivateRoot { base }
    }

    /// A path beside the root, for the test's own files.
    pub fn file(&self, name: &str) -> PathBuf {
        self.base.join(name)
    }

    /// The state root.
    pub fn root(&self) -> PathBuf {
        self.base.join("root")
    }

    /// A directory beside the root (holding `sub/`) that no command may
    /// touch.
    pub fn victim(&self) -> PathBuf {
        self.base.join("victim")
    }

    /// `vifgate ARGS` with this state root, from the package root.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(super::vifgate());
        c.args(args)
            .env("VIFGATE_STATE_ROOT", self.root())
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdin(Stdio::null());
        c
    }

    /// `vifgate ARGS` with this state root, run to its end.
    pub fn vifgate(&self, args: &[&str]) -> Output {
        self.command(args)
            .output()
            .unwrap_or_else(|e| panic!("vifgate {args:?}: {e}"))
    }
}

impl Drop for PrivateRoot {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.base);
    }
}
