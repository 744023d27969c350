//! What a lab may leave behind, looked for from outside: namespaces with
//! its prefixes, their mounts, its state directory, processes started
//! from it; and what the root namespace holds (links, nftables tables).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use sim::layout;

/// Polls `f` every `every` until it holds or `timeout` has passed.
pub fn eventually(timeout: Duration, every: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(every);
    }
}

/// Namespaces carrying the lab's prefixes (`LAB.` and `LAB+`).
pub fn lab_namespaces(lab: &str) -> Vec<String> {
    layout::lab_prefixes(lab)
        .iter()
        .flat_map(|p| sim::kernel::netns::list(p))
        .collect()
}

/// Everything of a lab that may outlive it: namespaces, their mounts, the
/// state directory, processes started from it.
pub fn leftovers(lab: &str) -> Vec<String> {
    let mut out: Vec<String> = lab_namespaces(lab)
        .into_iter()
        .map(|n| format!("namespace {n}"))
        .collect();
    let dir = sim::layout::state_dir(lab);
    if dir.exists() {
        out.push(format!("state directory {}", dir.display()));
    }
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    for p in layout::lab_prefixes(lab) {
        let needle = format!(" /run/netns/{p}");
        for l in mounts.lines().filter(|l| l.contains(&needle)) {
            out.push(format!("mount {l}"));
        }
    }
    let needle = format!("{}/", dir.display());
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(&needle) {
            out.push(format!("process {pid}: {cmdline}"));
        }
    }
    out
}

/// Asserts that nothing of the lab remains (processes ended by SIGKILL
/// may take a moment to go).
pub fn assert_gone(lab: &str, when: &str) {
    let mut left = Vec::new();
    let gone = eventually(Duration::from_secs(3), Duration::from_millis(50), || {
        left = leftovers(lab);
        left.is_empty()
    });
    assert!(gone, "lab {lab} {when}: left behind:\n{}", left.join("\n"));
}

/// What the root namespace holds: link names and nftables tables.
#[derive(Debug, PartialEq)]
pub struct RootState {
    /// Link names.
    pub links: BTreeSet<String>,
    /// `nft list tables` lines.
    pub tables: BTreeSet<String>,
}

pub fn root_state() -> RootState {
    let links = super::sh(&["ip", "-o", "link"]);
    let links = String::from_utf8_lossy(&links.stdout)
        .lines()
        .filter_map(|l| l.split(':').nth(1))
        .map(|n| n.trim().split('@').next().unwrap_or("").to_string())
        .collect();
    let tables = super::sh(&["nft", "list", "tables"]);
    let tables = String::from_utf8_lossy(&tables.stdout)
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    RootState { links, tables }
}
