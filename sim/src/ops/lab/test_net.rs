//! [`TestNet`]: the namespaces, veth pairs, processes and files of one
//! test, named with a per-run prefix and removed when the value is dropped
//! (also when the test panics); with [`can_run`], [`root_or_skip`] and
//! [`need_tool`], which skip a test with a message where it cannot run and
//! fail it under `CI=true`, and [`sh`] for commands that must succeed.
//!
//! For tests that wire a few namespaces by hand (the gateway's, the netlink
//! layer's, the probes'); a whole topology is a [`super::Lab`].
//!
//! ```no_run
//! use sim::ops::lab::{can_run, TestNet};
//!
//! if !can_run("two_hosts_ping") {
//!     return;
//! }
//! let mut net = TestNet::new();
//! net.add_ns("a");
//! net.add_ns("b");
//! net.link("a", "10.9.0.1/24", "b", "10.9.0.2/24");
//! assert!(net.ping("a", "10.9.0.2", 1));
//! // dropped here: processes ended, namespaces deleted, files removed
//! ```

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::kernel::netlink;
use crate::kernel::netns::{self, Netns};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Skips (false, with a message) where a test cannot run, or fails it under
/// `CI=true`, where everything a test needs is there.
fn skip(why: &str) -> bool {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{why}");
    }
    eprintln!("skipped: {why}");
    false
}

fn is_root() -> bool {
    // SAFETY: no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Whether a test that builds namespaces can run here: true as root; else
/// prints "skipped" and returns false, or panics under `CI=true`.
pub fn root_or_skip(test: &str) -> bool {
    is_root() || skip(&format!("{test} needs root"))
}

/// Whether a test that runs gateways in namespaces can run here: root,
/// `/dev/net/tun` and iproute2. Skips or panics as [`root_or_skip`] does.
pub fn can_run(test: &str) -> bool {
    let root = is_root();
    let tun = Path::new("/dev/net/tun").exists();
    let ip = Command::new("ip").arg("-V").output().is_ok();
    (root && tun && ip)
        || skip(&format!(
            "{test}: needs root, /dev/net/tun and iproute2 (root={root}, tun={tun}, ip={ip})"
        ))
}

/// Whether a tool is installed; in CI its absence is a failure.
pub fn need_tool(tool: &str) -> bool {
    let ok = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    ok || skip(&format!("{tool} is not installed"))
}

/// Runs a command to completion, panicking with its output when it fails.
pub fn sh(args: &[&str]) -> Output {
    let o = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    if !o.status.success() {
        panic!(
            "{args:?} failed: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }
    o
}

/// The namespaces, links, processes and files of one test; see the module
/// doc. Every method panics when what it does fails: it is for tests.
#[derive(Debug)]
pub struct TestNet {
    /// Prefix of every namespace and generated link name, unique per
    /// process and value (short: a link name has at most 15 bytes).
    pub prefix: String,
    /// A scratch directory for configs, keys and process logs; removed on
    /// drop, kept (and its path printed) when the test panicked.
    pub dir: PathBuf,
    namespaces: Vec<String>,
    children: Vec<(String, Child)>,
    links: usize,
    files: Vec<PathBuf>,
}

impl Default for TestNet {
    fn default() -> Self {
        TestNet::new()
    }
}

impl TestNet {
    /// A new empty test net, its names starting with `vt`.
    pub fn new() -> TestNet {
        TestNet::with_tag("vt")
    }

    /// A new empty test net whose names start with `tag` (then the process
    /// id and a counter), so that what a test left can be told by its name.
    pub fn with_tag(tag: &str) -> TestNet {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let prefix = format!("{tag}{}{n}", std::process::id() % 100_000);
        let dir = std::env::temp_dir().join(format!("vifgate-{prefix}"));
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("scratch dir {}: {e}", dir.display()));
        TestNet {
            prefix,
            dir,
            namespaces: vec![],
            children: vec![],
            links: 0,
            files: vec![],
        }
    }

    /// The full name of namespace `name`.
    pub fn ns(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// Opens namespace `name` (for [`Netns::run`], [`netlink::Netlink`]).
    pub fn open(&self, name: &str) -> Netns {
        let full = self.ns(name);
        Netns::open(&full).unwrap_or_else(|e| panic!("open namespace {full}: {e}"))
    }

    /// Creates namespace `name` as the kernel makes it (loopback down,
    /// forwarding off); returns its full name.
    pub fn add_bare_ns(&mut self, name: &str) -> String {
        let ns = self.ns(name);
        netns::create(&ns).unwrap_or_else(|e| panic!("create namespace {ns}: {e}"));
        self.namespaces.push(ns.clone());
        ns
    }

    /// Creates namespace `name` with loopback up and IPv4 forwarding on;
    /// returns its full name.
    pub fn add_ns(&mut self, name: &str) -> String {
        let ns = self.add_bare_ns(name);
        sh(&["ip", "-n", &ns, "link", "set", "lo", "up"]);
        netlink::sysctl(&self.open(name), "net/ipv4/ip_forward", "1")
            .unwrap_or_else(|e| panic!("{e}"));
        ns
    }

    /// A veth pair between namespaces `a` and `b` with addresses
    /// (`a.b.c.d/len`), both ends up, named from the prefix; returns the
    /// two link names.
    pub fn link(&mut self, a: &str, a_addr: &str, b: &str, b_addr: &str) -> (String, String) {
        self.links += 1;
        let (ia, ib) = (
            format!("{}x{}", self.prefix, self.links),
            format!("{}y{}", self.prefix, self.links),
        );
        self.link_named((a, &ia, a_addr), (b, &ib, b_addr));
        (ia, ib)
    }

    /// A veth pair with the given link names: each end is `(namespace,
    /// link, address)`, both ends up.
    pub fn link_named(&mut self, a: (&str, &str, &str), b: (&str, &str, &str)) {
        let (na, nb) = (self.ns(a.0), self.ns(b.0));
        sh(&[
            "ip", "link", "add", a.1, "netns", &na, "type", "veth", "peer", "name", b.1, "netns",
            &nb,
        ]);
        for (ns, link, addr) in [(&na, a.1, a.2), (&nb, b.1, b.2)] {
            sh(&["ip", "-n", ns, "addr", "add", addr, "dev", link]);
            sh(&["ip", "-n", ns, "link", "set", link, "up"]);
        }
    }

    /// `ip route replace ROUTE...` in a namespace.
    pub fn route(&self, ns: &str, route: &[&str]) {
        let full = self.ns(ns);
        let mut args = vec!["ip", "-n", &full, "route", "replace"];
        args.extend_from_slice(route);
        sh(&args);
    }

    /// Runs a command in a namespace to completion.
    pub fn exec(&self, ns: &str, args: &[&str]) -> Output {
        let full = self.ns(ns);
        let mut all = vec!["ip", "netns", "exec", &full];
        all.extend_from_slice(args);
        Command::new(all[0])
            .args(&all[1..])
            .output()
            .unwrap_or_else(|e| panic!("{all:?}: {e}"))
    }

    /// Starts a process called `name` in a namespace, its output going to
    /// [`TestNet::log`]; stopped when the test net drops.
    pub fn spawn(&mut self, name: &str, ns: &str, args: &[&str], env: &[(&str, &str)]) {
        let full = self.ns(ns);
        let path = self.dir.join(format!("{name}.log"));
        let log = std::fs::File::create(&path)
            .unwrap_or_else(|e| panic!("log file {}: {e}", path.display()));
        let log2 = log
            .try_clone()
            .unwrap_or_else(|e| panic!("log file {}: {e}", path.display()));
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &full]).args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log2)
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("{args:?}: {e}"));
        self.children.push((name.to_string(), child));
    }

    /// Kills a process started with [`TestNet::spawn`] (SIGKILL, like a
    /// crash).
    pub fn kill(&mut self, name: &str) {
        if let Some(i) = self.children.iter().position(|(n, _)| n == name) {
            let (_, mut c) = self.children.remove(i);
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stops a process with SIGTERM and waits for it (up to 5 s, then
    /// SIGKILL).
    pub fn stop(&mut self, name: &str) -> Option<ExitStatus> {
        let i = self.children.iter().position(|(n, _)| n == name)?;
        let (_, mut c) = self.children.remove(i);
        terminate(&c);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(s)) = c.try_wait() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = c.kill();
        c.wait().ok()
    }

    /// Sends a signal to a process started with [`TestNet::spawn`] (`ip
    /// netns exec` execs the command, so the child is the process itself).
    pub fn signal(&self, name: &str, sig: i32) {
        if let Some((_, c)) = self.children.iter().find(|(n, _)| n == name) {
            // SAFETY: a plain signal to our own child.
            unsafe {
                libc::kill(c.id() as i32, sig);
            }
        }
    }

    /// The log of a spawned process (empty when there is none).
    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(format!("{name}.log"))).unwrap_or_default()
    }

    /// A file some process of the test creates outside [`TestNet::dir`]
    /// (wireguard-go's UAPI socket), removed on drop.
    pub fn owns_file(&mut self, path: impl Into<PathBuf>) {
        self.files.push(path.into());
    }

    /// Waits until `f` holds, up to `timeout`; whether it did.
    pub fn wait_for(&self, timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if f() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        f()
    }

    /// Pings from a namespace; whether all `count` came back.
    pub fn ping(&self, ns: &str, dst: &str, count: u32) -> bool {
        let c = count.to_string();
        self.exec(ns, &["ping", "-c", &c, "-i", "0.2", "-W", "1", "-q", dst])
            .status
            .success()
    }
}

/// SIGTERM, so that a process can clean up after itself.
fn terminate(c: &Child) {
    // SAFETY: a plain signal to our own child.
    unsafe {
        libc::kill(c.id() as i32, libc::SIGTERM);
    }
}

impl Drop for TestNet {
    fn drop(&mut self) {
        for (_, c) in &self.children {
            terminate(c);
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        for (_, c) in &mut self.children {
            while Instant::now() < deadline && matches!(c.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        for f in &self.files {
            let _ = std::fs::remove_file(f);
        }
        for ns in self.namespaces.iter().rev() {
            if let Err(e) = netns::delete(ns) {
                eprintln!("cannot delete namespace {ns}: {e}");
            }
        }
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("test files kept in {}", self.dir.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_prefix_and_drop_removes_everything() {
        let mut net = TestNet::with_tag("vstn");
        assert!(net.prefix.starts_with("vstn"));
        assert_eq!(net.ns("a"), format!("{}a", net.prefix));
        assert!(net.dir.is_dir());
        let other = TestNet::with_tag("vstn");
        assert_ne!(other.prefix, net.prefix, "unique per value");
        let owned = net.dir.with_extension("owned");
        std::fs::write(&owned, "x").expect("write");
        net.owns_file(&owned);
        let dir = net.dir.clone();
        let made = root_or_skip("names_carry_the_prefix_and_drop_removes_everything")
            .then(|| net.add_ns("a"));
        if let Some(ns) = &made {
            assert!(netns::exists(ns));
            assert_eq!(
                netlink::read_sysctl(&net.open("a"), "net/ipv4/ip_forward").expect("read"),
                "1"
            );
        }
        drop(net);
        assert!(!dir.exists() && !owned.exists());
        if let Some(ns) = made {
            assert!(!netns::exists(&ns), "{ns} is deleted");
        }
    }
}
