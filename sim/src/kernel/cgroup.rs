//! Per-instance CPU accounting in cgroups: every thread that serves an
//! instance's HTTP requests is accounted to that instance's group, so
//! that `ASGAverageCPUUtilization` can be read per instance.
//!
//! - **Which hierarchy.** cgroup v2 where the kernel offers CPU
//!   accounting there (a `cgroup2` mount whose `cgroup.controllers`
//!   lists `cpu`: the controller is not bound to a v1 hierarchy), v1
//!   `cpuacct` otherwise (a `cgroup` mount with the `cpuacct` option).
//!   Detected from the mount table ([`CpuAccounting::detect`]), never
//!   assumed; neither is "no accounting".
//! - **Names.** A lab's groups live under `vifgate/lab.LAB/` of the
//!   hierarchy, one `node-NODE` group per instance ([`group_name`]); a
//!   name is escaped (every byte but `A-Za-z0-9_-` as `%XX`), so a node
//!   named `../x` or `tasks` is a directory of its own, never a path out
//!   of the lab's or a group's interface file.
//! - **Threads.** The listener agent moves itself into the lab's group
//!   (`lab.LAB`), and each connection thread moves into its node's group
//!   while it serves ([`NodeGroup::enter`]), back to the lab's when it
//!   ends: v1 through `tasks`, v2 through `cgroup.threads` with the
//!   node's group made `threaded` (the lab's group is then its threaded
//!   domain).
//! - **Removal.** A node's group is removed when the agent no longer
//!   serves it (scale-in: the listener reloaded without it); `sim down`
//!   removes the lab's groups after its processes are gone, also after a
//!   crash ([`remove_lab`]). Nothing outside `vifgate/lab.LAB/` is
//!   touched but `vifgate/` itself, removed once no lab has a group in
//!   it, and only directories are removed (`rmdir`, which the kernel
//!   refuses for a group that still has tasks or children).
//!
//! Reading is plain files: `cpuacct.usage` (v1, nanoseconds) or
//! `cpu.stat`'s `usage_usec` (v2); their parsers are pure
//! ([`parse_cpuacct_usage`], [`parse_cpu_stat`]).

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

/// The directory of all labs' groups, in the hierarchy's root.
pub const TOP: &str = "vifgate";

/// Which cgroup interface accounts CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// cgroup v1's `cpuacct` controller.
    V1Cpuacct,
    /// cgroup v2 with the `cpu` controller (threaded groups).
    V2,
}

/// Where CPU is accounted on this machine: the hierarchy and its mount
/// point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuAccounting {
    /// v1 `cpuacct` or v2.
    pub version: Version,
    /// The hierarchy's mount point (under the file-system root it was
    /// detected in).
    pub mount: PathBuf,
}

/// The relative name (inside a hierarchy) of lab `lab`'s directory. A
/// dot, not a dash, before the lab's name: it stands as a whole name, so
/// that two labs of one topology compare alike once their names are put
/// aside (`sim/src/ops/inspect.rs`, which replaces whole names only).
pub fn lab_group_name(lab: &str) -> String {
    format!("{TOP}/lab.{}", escape(lab))
}

/// The relative name (inside a hierarchy) of node `node`'s group in lab
/// `lab`.
pub fn group_name(lab: &str, node: &str) -> String {
    format!("{}/node-{}", lab_group_name(lab), escape(node))
}

/// `name` as one path component: `A-Za-z0-9_-` kept, every other byte
/// as `%XX` (so no `/`, `.`, `..` and no interface file's name).
fn escape(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `field` of mountinfo with its octal escapes (`\040` for a space) read.
fn unescape_mount(field: &str) -> String {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(u8::is_ascii_digit) {
            let v = (b[i + 1] - b'0') as u32 * 64
                + (b[i + 2] - b'0') as u32 * 8
                + (b[i + 3] - b'0') as u32;
            if let Ok(v) = u8::try_from(v) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One cgroup mount of a mountinfo table.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CgroupMount {
    point: String,
    v2: bool,
    options: Vec<String>,
}

/// The cgroup mounts of `/proc/self/mountinfo`'s text.
fn cgroup_mounts(mountinfo: &str) -> Vec<CgroupMount> {
    let mut out = Vec::new();
    for line in mountinfo.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let left: Vec<&str> = left.split(' ').collect();
        let right: Vec<&str> = right.split(' ').collect();
        let (Some(point), Some(fstype)) = (left.get(4), right.first()) else {
            continue;
        };
        let v2 = match *fstype {
            "cgroup2" => true,
            "cgroup" => false,
            _ => continue,
        };
        let options = right
            .get(2)
            .map(|o| o.split(',').map(str::to_string).collect())
            .unwrap_or_default();
        out.push(CgroupMount {
            point: unescape_mount(point),
            v2,
            options,
        });
    }
    out
}

impl CpuAccounting {
    /// The accounting of the machine whose file-system root is `root`
    /// (`/` for this one; tests give a directory holding
    /// `proc/self/mountinfo` and the hierarchies' files): v2 when a
    /// `cgroup2` mount lists `cpu` in its `cgroup.controllers`, else v1
    /// when a `cgroup` mount has `cpuacct`. The error says why neither.
    pub fn detect(root: &Path) -> Result<CpuAccounting, String> {
        let info = root.join("proc/self/mountinfo");
        let text = std::fs::read_to_string(&info)
            .map_err(|e| format!("no mount table ({}: {e})", info.display()))?;
        let mounts = cgroup_mounts(&text);
        let under = |point: &str| root.join(point.trim_start_matches('/'));
        for m in mounts.iter().filter(|m| m.v2) {
            let controllers = std::fs::read_to_string(under(&m.point).join("cgroup.controllers"))
                .unwrap_or_default();
            if controllers.split_whitespace().any(|c| c == "cpu") {
                return Ok(CpuAccounting {
                    version: Version::V2,
                    mount: under(&m.point),
                });
            }
        }
        if let Some(m) = mounts
            .iter()
            .find(|m| !m.v2 && m.options.iter().any(|o| o == "cpuacct"))
        {
            return Ok(CpuAccounting {
                version: Version::V1Cpuacct,
                mount: under(&m.point),
            });
        }
        Err(if mounts.is_empty() {
            "no cgroup hierarchy is mounted".to_string()
        } else {
            "neither cgroup v2 with the cpu controller nor a v1 cpuacct hierarchy is mounted"
                .to_string()
        })
    }

    /// The directory of group `name` (from [`group_name`]).
    pub fn dir(&self, name: &str) -> PathBuf {
        self.mount.join(name)
    }

    /// The CPU time group `name`'s tasks have used.
    pub fn usage(&self, name: &str) -> io::Result<Duration> {
        let dir = self.dir(name);
        let (file, parse): (&str, UsageParser) = match self.version {
            Version::V1Cpuacct => ("cpuacct.usage", parse_cpuacct_usage),
            Version::V2 => ("cpu.stat", parse_cpu_stat),
        };
        let path = dir.join(file);
        let text = std::fs::read_to_string(&path)?;
        parse(&text).map_err(|why| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {why}", path.display()),
            )
        })
    }

    /// The file a thread id is written to, to move that thread into the
    /// group at `dir`.
    fn threads_file(&self, dir: &Path) -> PathBuf {
        dir.join(match self.version {
            Version::V1Cpuacct => "tasks",
            Version::V2 => "cgroup.threads",
        })
    }
}

/// A parser of a group's CPU usage file.
type UsageParser = fn(&str) -> Result<Duration, String>;

/// The CPU time of v1's `cpuacct.usage` (nanoseconds).
pub fn parse_cpuacct_usage(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    t.parse::<u64>()
        .map(Duration::from_nanos)
        .map_err(|_| format!("`{t}` is not a count of nanoseconds"))
}

/// The CPU time of v2's `cpu.stat` (its `usage_usec`).
pub fn parse_cpu_stat(text: &str) -> Result<Duration, String> {
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("usage_usec "))
        .ok_or("no usage_usec line")?;
    line.trim()
        .parse::<u64>()
        .map(Duration::from_micros)
        .map_err(|_| format!("usage_usec `{}` is not a count", line.trim()))
}

/// This machine's accounting, detected once per process.
pub fn this_machine() -> Result<&'static CpuAccounting, &'static str> {
    static ACCT: OnceLock<Result<CpuAccounting, String>> = OnceLock::new();
    ACCT.get_or_init(|| CpuAccounting::detect(Path::new("/")))
        .as_ref()
        .map_err(String::as_str)
}

/// Makes directory `dir` (one level; an existing one is fine).
fn make_dir(dir: &Path) -> io::Result<()> {
    match std::fs::create_dir(dir) {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => Err(io::Error::new(
            e.kind(),
            format!("make cgroup {}: {e}", dir.display()),
        )),
        _ => Ok(()),
    }
}

/// Writes `value` to the cgroup interface file `file`.
fn write_to(file: &Path, value: &str) -> io::Result<()> {
    std::fs::write(file, value).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("write {value} to {}: {e}", file.display()),
        )
    })
}

/// The id of the calling thread.
fn thread_id() -> libc::pid_t {
    // SAFETY: gettid(2) has no arguments and cannot fail.
    unsafe { libc::gettid() }
}

/// A node's group, as the listener agent holds it: made (with its lab's
/// group, which the agent process joins) on [`join`], removed when the
/// last holder lets go (its threads have left it by then).
#[derive(Debug)]
pub struct NodeGroup {
    acct: CpuAccounting,
    name: String,
    dir: PathBuf,
    /// The lab's group: where a connection thread goes back to.
    home: PathBuf,
}

/// The node groups alive in this process, by directory: a listener
/// rebound on reload gets the same one, so the old one's end never
/// removes the directory the new one uses.
fn registry() -> &'static Mutex<BTreeMap<PathBuf, Weak<NodeGroup>>> {
    static R: OnceLock<Mutex<BTreeMap<PathBuf, Weak<NodeGroup>>>> = OnceLock::new();
    R.get_or_init(Default::default)
}

/// Group `name` (from [`group_name`]) on `acct`, made if needed, with
/// this process moved into its lab's group (the parent directory).
pub fn join(acct: &CpuAccounting, name: &str) -> io::Result<Arc<NodeGroup>> {
    let dir = acct.dir(name);
    let mut reg = registry().lock().unwrap_or_else(|e| e.into_inner());
    if let Some(g) = reg.get(&dir).and_then(Weak::upgrade) {
        return Ok(g);
    }
    let home = dir
        .parent()
        .ok_or_else(|| io::Error::other(format!("{}: no lab group", dir.display())))?
        .to_path_buf();
    // `vifgate/` may go between the two (another lab's `sim down` removes
    // it when it is empty): made again then
    let mut tries = 0;
    loop {
        if let Some(top) = home.parent() {
            make_dir(top)?;
        }
        match make_dir(&home) {
            Err(e) if e.kind() == io::ErrorKind::NotFound && tries < 3 => tries += 1,
            other => break other?,
        }
    }
    // the whole process, once: every thread it starts begins in the lab's
    // group (v2's threaded domain). Never again: that would move every
    // thread, those serving in a node's group too, back to the lab's.
    static MOVED: Mutex<Option<PathBuf>> = Mutex::new(None);
    let mut moved = MOVED.lock().unwrap_or_else(|e| e.into_inner());
    if moved.as_deref() != Some(home.as_path()) {
        write_to(&home.join("cgroup.procs"), &std::process::id().to_string())?;
        *moved = Some(home.clone());
    }
    make_dir(&dir)?;
    if acct.version == Version::V2 {
        write_to(&dir.join("cgroup.type"), "threaded")?;
    }
    let g = Arc::new(NodeGroup {
        acct: acct.clone(),
        name: name.to_string(),
        dir: dir.clone(),
        home,
    });
    reg.insert(dir, Arc::downgrade(&g));
    Ok(g)
}

impl NodeGroup {
    /// The group's relative name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Moves the calling thread into the group until the guard is
    /// dropped (then back to the lab's group).
    pub fn enter(self: &Arc<Self>) -> io::Result<Entered> {
        let tid = thread_id().to_string();
        write_to(&self.acct.threads_file(&self.dir), &tid)?;
        Ok(Entered(self.clone()))
    }
}

impl Drop for NodeGroup {
    fn drop(&mut self) {
        let mut reg = registry().lock().unwrap_or_else(|e| e.into_inner());
        if reg.get(&self.dir).and_then(Weak::upgrade).is_some() {
            // another holder made it again meanwhile: it stays
            return;
        }
        reg.remove(&self.dir);
        if let Err(e) = std::fs::remove_dir(&self.dir) {
            tracing::debug!("cgroup {}: {e}", self.dir.display());
        }
    }
}

/// A thread inside a node's group ([`NodeGroup::enter`]); dropping it
/// moves the thread back to the lab's group.
#[derive(Debug)]
pub struct Entered(Arc<NodeGroup>);

impl Drop for Entered {
    fn drop(&mut self) {
        let g = &self.0;
        let tid = thread_id().to_string();
        if let Err(e) = write_to(&g.acct.threads_file(&g.home), &tid) {
            tracing::debug!("{e}");
        }
    }
}

/// Removes lab `lab`'s groups on `acct`: each node's, then the lab's
/// (`rmdir` only; a group with tasks left is kept and named in the
/// error). How many were removed; none there is not an error.
pub fn remove_lab(acct: &CpuAccounting, lab: &str) -> io::Result<usize> {
    let lab_dir = acct.dir(&lab_group_name(lab));
    let entries = match std::fs::read_dir(&lab_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut removed = 0;
    let mut kept = Vec::new();
    for e in entries.flatten() {
        let is_node = e.file_name().to_string_lossy().starts_with("node-");
        // a symbolic link is never followed: only our own directories
        if !is_node || !e.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        match std::fs::remove_dir(e.path()) {
            Ok(()) => removed += 1,
            Err(err) => kept.push(format!("{}: {err}", e.path().display())),
        }
    }
    match std::fs::remove_dir(&lab_dir) {
        Ok(()) => {
            removed += 1;
            // `vifgate/` too once no lab has a group (the kernel refuses
            // while one has)
            let _ = std::fs::remove_dir(acct.dir(TOP));
        }
        Err(err) => kept.push(format!("{}: {err}", lab_dir.display())),
    }
    if kept.is_empty() {
        Ok(removed)
    } else {
        Err(io::Error::other(format!(
            "cgroups left: {}",
            kept.join("; ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory of the test's own, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn tempdir() -> TempDir {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let p = std::env::temp_dir().join(format!("vifgate-cgroup-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("temp dir");
        TempDir(p)
    }

    /// A file-system root holding `mountinfo` and the given files.
    fn root(mountinfo: &str, files: &[(&str, &str)]) -> TempDir {
        let d = tempdir();
        let write = |p: &str, text: &str| {
            let path = d.path().join(p);
            std::fs::create_dir_all(path.parent().expect("a parent")).expect("dirs");
            std::fs::write(path, text).expect("write");
        };
        write("proc/self/mountinfo", mountinfo);
        for (p, t) in files {
            write(p, t);
        }
        d
    }

    /// This machine's mount table (a hybrid: v1 controllers, and a
    /// `cgroup2` mount without any).
    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    /// A unified machine (systemd's default today).
    const UNIFIED: &str = "\
25 22 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
";

    #[test]
    fn v1_cpuacct_is_found_when_v2_has_no_cpu_controller() {
        let r = root(
            HYBRID,
            &[("sys/fs/cgroup/unified/cgroup.controllers", "hugetlb\n")],
        );
        let a = CpuAccounting::detect(r.path()).expect("v1");
        assert_eq!(a.version, Version::V1Cpuacct);
        assert_eq!(a.mount, r.path().join("sys/fs/cgroup/cpuacct"));
    }

    #[test]
    fn v2_is_taken_where_the_kernel_offers_its_cpu_controller() {
        let r = root(
            UNIFIED,
            &[(
                "sys/fs/cgroup/cgroup.controllers",
                "cpuset cpu io memory hugetlb pids rdma misc\n",
            )],
        );
        let a = CpuAccounting::detect(r.path()).expect("v2");
        assert_eq!(a.version, Version::V2);
        assert_eq!(a.mount, r.path().join("sys/fs/cgroup"));
        // the same table with `cpu` bound elsewhere: no accounting there
        let r = root(
            UNIFIED,
            &[("sys/fs/cgroup/cgroup.controllers", "memory pids\n")],
        );
        let e = CpuAccounting::detect(r.path()).expect_err("no cpu");
        assert!(
            e.contains("neither cgroup v2 with the cpu controller"),
            "{e}"
        );
    }

    #[test]
    fn an_empty_root_has_no_accounting() {
        let d = tempdir();
        let e = CpuAccounting::detect(d.path()).expect_err("nothing there");
        assert!(e.starts_with("no mount table"), "{e}");
        let r = root("22 1 0:21 / /proc rw - proc proc rw\n", &[]);
        assert_eq!(
            CpuAccounting::detect(r.path()).expect_err("no cgroup"),
            "no cgroup hierarchy is mounted"
        );
    }

    #[test]
    fn usage_is_read_from_captured_files() {
        // captured on this machine (v1) and on a v2 one
        assert_eq!(
            parse_cpuacct_usage("44163411200541\n"),
            Ok(Duration::from_nanos(44_163_411_200_541))
        );
        let stat = "usage_usec 43861552001\nuser_usec 34114245525\nsystem_usec 9747306475\nnice_usec 3897115755\n";
        assert_eq!(
            parse_cpu_stat(stat),
            Ok(Duration::from_micros(43_861_552_001))
        );
        assert!(parse_cpuacct_usage("x\n").is_err());
        assert!(parse_cpu_stat("user_usec 3\n")
            .expect_err("no usage")
            .contains("usage_usec"));
        let name = group_name("lab1", "web-a1");
        let r = root(
            HYBRID,
            &[(
                &format!("sys/fs/cgroup/cpuacct/{name}/cpuacct.usage"),
                "1500000000\n",
            )],
        );
        let a = CpuAccounting::detect(r.path()).expect("v1");
        assert_eq!(a.usage(&name).expect("read"), Duration::from_millis(1500));
        let e = a
            .usage(&group_name("lab1", "web-c1"))
            .expect_err("no group");
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn names_stay_inside_the_labs_directory() {
        assert_eq!(group_name("lab1", "web-a1"), "vifgate/lab.lab1/node-web-a1");
        assert_eq!(
            group_name("lab1", "../x"),
            "vifgate/lab.lab1/node-%2E%2E%2Fx"
        );
        assert_eq!(group_name("l", "tasks"), "vifgate/lab.l/node-tasks");
        assert_eq!(group_name("l", "a b%"), "vifgate/lab.l/node-a%20b%25");
        assert_ne!(group_name("l", "a_b"), group_name("l", "a.b"));
    }

    #[test]
    fn mount_points_with_spaces_are_unescaped() {
        let m = cgroup_mounts("40 31 0:37 / /sys/fs/my\\040cg rw - cgroup cgroup rw,cpu,cpuacct\n");
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].point, "/sys/fs/my cg");
        assert!(m[0].options.iter().any(|o| o == "cpuacct"));
    }

    #[test]
    fn a_labs_groups_are_removed_and_nothing_else() {
        let d = tempdir();
        let acct = CpuAccounting {
            version: Version::V1Cpuacct,
            mount: d.path().to_path_buf(),
        };
        for n in ["web-a1", "web-c1"] {
            std::fs::create_dir_all(acct.dir(&group_name("l1", n))).expect("dirs");
        }
        std::fs::create_dir_all(acct.dir(&group_name("l2", "web-a1"))).expect("dirs");
        assert_eq!(remove_lab(&acct, "l1").expect("removed"), 3);
        assert!(!acct.dir(&lab_group_name("l1")).exists());
        assert!(
            acct.dir(&group_name("l2", "web-a1")).exists(),
            "another lab's stays"
        );
        assert_eq!(remove_lab(&acct, "l1").expect("nothing"), 0);
        assert_eq!(remove_lab(&acct, "l2").expect("removed"), 2);
        assert!(
            !acct.dir(TOP).exists(),
            "the last lab's removal takes `vifgate/`"
        );
        // a directory that is not a group of ours is not removed
        std::fs::create_dir_all(acct.dir(&lab_group_name("l3")).join("other/x")).expect("dirs");
        let e = remove_lab(&acct, "l3").expect_err("kept");
        assert!(e.to_string().contains("cgroups left"), "{e}");
        assert!(acct.dir(&lab_group_name("l3")).join("other/x").exists());
    }
}
