//! The lab's journal: `journal.jsonl` in its state directory, one JSON
//! record a line. Each step of an apply is written (and synced to disk)
//! *before* it runs, and marked done after, so that after a crash the
//! journal says which step was under way: the step the next `sim apply`
//! runs again (every step is idempotent) or `sim down` makes moot.
//!
//! Only the last run of steps is kept: a run's [`Entry::Begin`] empties
//! the journal first. What an earlier run left under way is read before
//! the next one begins (`sim apply` resumes it), and whether an apply was
//! interrupted is the lab's state's (`applying`): the journal only names
//! the step. A lab whose controller applies every few periods would
//! otherwise grow it without end (tens of MB a day), read whole by every
//! apply and every `sim status`.

use std::fs::{File, OpenOptions};
use std::io::{self, Read as _, Seek as _, SeekFrom, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::plan::diff::Step;

/// The journal's file name in a lab's state directory.
pub const JOURNAL_FILE: &str = "journal.jsonl";

/// One line of the journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Entry {
    /// An apply begins: how many steps it has.
    Begin {
        /// Steps to run.
        steps: usize,
    },
    /// Step `n` (from 1) is about to run: what it is, in words.
    Start {
        /// Its number.
        n: usize,
        /// [`Step`]'s text.
        step: String,
    },
    /// Step `n` is done, after `ms` milliseconds.
    Done {
        /// Its number.
        n: usize,
        /// How long it took.
        ms: f64,
    },
    /// Every step is done.
    End,
}

/// The journal, open for appending.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
}

impl Journal {
    /// Opens (creating) the journal of the lab in `dir`.
    pub fn open(dir: &Path) -> io::Result<Journal> {
        let path = dir.join(JOURNAL_FILE);
        // never appended through a symbolic link put in its place
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        // a line torn by a crash is ended, so the next one stands alone
        let torn = last_byte(&mut file)?.is_some_and(|b| b != b'\n');
        if torn {
            file.write_all(b"\n")?;
        }
        Ok(Journal { path, file })
    }

    /// Appends `entry` and syncs it to disk before returning.
    pub fn write(&mut self, entry: &Entry) -> io::Result<()> {
        self.write_all(std::slice::from_ref(entry))
    }

    /// Appends `entries` and syncs them to disk (once) before returning;
    /// a run's [`Entry::Begin`] first empties the journal of the runs
    /// before.
    pub fn write_all(&mut self, entries: &[Entry]) -> io::Result<()> {
        if matches!(entries.first(), Some(Entry::Begin { .. })) {
            self.file
                .set_len(0)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", self.path.display())))?;
        }
        let mut lines = Vec::new();
        for e in entries {
            lines.extend(serde_json::to_vec(e).map_err(io::Error::other)?);
            lines.push(b'\n');
        }
        self.file
            .write_all(&lines)
            .and_then(|()| self.file.sync_data())
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", self.path.display())))
    }

    /// Writes that `steps`, numbered from `first`, are about to run
    /// (one sync for them all).
    pub fn start(&mut self, first: usize, steps: &[Step]) -> io::Result<()> {
        let entries: Vec<Entry> = (steps.iter().enumerate())
            .map(|(k, s)| Entry::Start {
                n: first + k,
                step: s.to_string(),
            })
            .collect();
        self.write_all(&entries)
    }
}

/// The last byte of `file`, read without reading the rest.
fn last_byte(file: &mut File) -> io::Result<Option<u8>> {
    if file.metadata()?.len() == 0 {
        return Ok(None);
    }
    file.seek(SeekFrom::End(-1))?;
    let mut b = [0u8; 1];
    file.read_exact(&mut b)?;
    Ok(Some(b[0]))
}

/// The journal of the lab in `dir`, as written (a torn last line, from a
/// crash in the middle of a write, is left out).
pub fn read(dir: &Path) -> io::Result<Vec<Entry>> {
    let text = match crate::apply::state::read_no_follow(&dir.join(JOURNAL_FILE)) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    Ok(text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect())
}

/// The step a crashed apply left under way: the last one started and not
/// marked done, as `(n, text)`.
pub fn unfinished(entries: &[Entry]) -> Option<(usize, String)> {
    let mut open = None;
    for e in entries {
        match e {
            Entry::Begin { .. } | Entry::End => open = None,
            Entry::Start { n, step } => open = Some((*n, step.clone())),
            Entry::Done { n, .. } => {
                if open.as_ref().is_some_and(|(m, _)| m == n) {
                    open = None;
                }
            }
        }
    }
    open
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_step_under_way_is_the_last_started_and_not_done() {
        let dir = std::env::temp_dir().join(format!("vifgate-journal-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let _ = std::fs::remove_file(dir.join(JOURNAL_FILE));
        let step = Step::DeleteNamespace { ns: "l.web".into() };
        let mut j = Journal::open(&dir).expect("open");
        j.write(&Entry::Begin { steps: 2 }).expect("write");
        j.start(1, std::slice::from_ref(&step)).expect("write");
        j.write(&Entry::Done { n: 1, ms: 0.5 }).expect("write");
        j.start(2, std::slice::from_ref(&step)).expect("write");
        // a crash tore the next line
        std::fs::OpenOptions::new()
            .append(true)
            .open(dir.join(JOURNAL_FILE))
            .and_then(|mut f| f.write_all(b"{\"event\":\"do"))
            .expect("append");
        let entries = read(&dir).expect("read");
        assert_eq!(entries.len(), 4);
        assert_eq!(unfinished(&entries), Some((2, step.to_string())));
        let mut j = Journal::open(&dir).expect("open");
        j.write(&Entry::End).expect("write");
        let entries = read(&dir).expect("read");
        assert_eq!(entries.last(), Some(&Entry::End));
        assert_eq!(unfinished(&entries), None);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The journal kept every run of steps: a lab whose controller
    /// flipped its group every period grew it by 40 MB a day, read whole
    /// by each apply (under the lab's lock) and each `sim status`.
    #[test]
    fn only_the_last_run_is_kept() {
        let dir = std::env::temp_dir().join(format!("vifgate-journal-runs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let _ = std::fs::remove_file(dir.join(JOURNAL_FILE));
        let step = Step::DeleteNamespace { ns: "l.web".into() };
        for run in 1..=3 {
            let mut j = Journal::open(&dir).expect("open");
            j.write(&Entry::Begin { steps: run }).expect("write");
            j.start(1, std::slice::from_ref(&step)).expect("write");
            j.write(&Entry::Done { n: 1, ms: 0.5 }).expect("write");
            j.write(&Entry::End).expect("write");
        }
        let entries = read(&dir).expect("read");
        assert_eq!(entries.len(), 4, "{entries:?}");
        assert_eq!(entries[0], Entry::Begin { steps: 3 });
        // one left under way is there until the next run begins
        let mut j = Journal::open(&dir).expect("open");
        j.write(&Entry::Begin { steps: 1 }).expect("write");
        j.start(1, std::slice::from_ref(&step)).expect("write");
        let entries = read(&dir).expect("read");
        assert_eq!(unfinished(&entries), Some((1, step.to_string())));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
