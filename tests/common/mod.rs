//! A small namespace lab for the gateway's integration tests: namespaces,
//! veth pairs and processes, named with a per-run prefix and removed on
//! drop (also when a test panics). The simulator crate will replace it with
//! rtnetlink and a full topology; this is only what the gateway tests need.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Whether namespace tests can run here. In CI (`CI=true`) they must: a
/// missing capability is a failure there, and a skip with a message
/// elsewhere.
pub fn can_run(test: &str) -> bool {
    let root = unsafe { libc::geteuid() } == 0;
    let tun = Path::new("/dev/net/tun").exists();
    let ip = Command::new("ip").arg("-V").output().is_ok();
    if root && tun && ip {
        return true;
    }
    let why =
        format!("{test}: needs root, /dev/net/tun and iproute2 (root={root}, tun={tun}, ip={ip})");
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{why}");
    }
    eprintln!("skipped: {why}");
    false
}

/// Whether a tool is installed; in CI its absence is a failure.
pub fn need_tool(tool: &str) -> bool {
    let ok = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{tool} is not installed");
        }
        eprintln!("skipped: {tool} is not installed");
    }
    ok
}

/// Runs a command, panicking with its output when it fails.
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

/// The namespaces, links and processes of one test.
pub struct Lab {
    /// Prefix of every name (short: interface names have 15 bytes).
    pub prefix: String,
    /// A scratch directory for configs and keys.
    pub dir: PathBuf,
    namespaces: Vec<String>,
    children: Vec<(String, Child)>,
    links: usize,
    files: Vec<PathBuf>,
}

impl Lab {
    /// A new empty lab.
    pub fn new() -> Lab {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let prefix = format!("vt{}{}", std::process::id() % 100_000, n);
        let dir = std::env::temp_dir().join(format!("vifgate-{prefix}"));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Lab {
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

    /// Creates a namespace with loopback up and forwarding on.
    pub fn add_ns(&mut self, name: &str) -> String {
        let ns = self.ns(name);
        sh(&["ip", "netns", "add", &ns]);
        self.namespaces.push(ns.clone());
        sh(&["ip", "-n", &ns, "link", "set", "lo", "up"]);
        sh(&[
            "ip",
            "netns",
            "exec",
            &ns,
            "sysctl",
            "-qw",
            "net.ipv4.ip_forward=1",
        ]);
        ns
    }

    /// A veth pair between two namespaces with addresses (`a.b.c.d/len`);
    /// returns the two interface names.
    pub fn link(&mut self, a: &str, a_addr: &str, b: &str, b_addr: &str) -> (String, String) {
        self.links += 1;
        let (ia, ib) = (
            format!("{}x{}", self.prefix, self.links),
            format!("{}y{}", self.prefix, self.links),
        );
        let (na, nb) = (self.ns(a), self.ns(b));
        sh(&[
            "ip", "link", "add", &ia, "netns", &na, "type", "veth", "peer", "name", &ib, "netns",
            &nb,
        ]);
        for (ns, i, addr) in [(&na, &ia, a_addr), (&nb, &ib, b_addr)] {
            sh(&["ip", "-n", ns, "addr", "add", addr, "dev", i]);
            sh(&["ip", "-n", ns, "link", "set", i, "up"]);
        }
        (ia, ib)
    }

    /// `ip route add ROUTE...` in a namespace.
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

    /// Starts a process in a namespace, killed when the lab drops.
    pub fn spawn(&mut self, name: &str, ns: &str, args: &[&str], env: &[(&str, &str)]) {
        let full = self.ns(ns);
        let log = std::fs::File::create(self.dir.join(format!("{name}.log"))).expect("log file");
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &full]).args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("{args:?}: {e}"));
        self.children.push((name.to_string(), child));
    }

    /// Kills a process started with `spawn` (SIGKILL, like a crash).
    pub fn kill(&mut self, name: &str) {
        if let Some(i) = self.children.iter().position(|(n, _)| n == name) {
            let (_, mut c) = self.children.remove(i);
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stops a process with SIGTERM and waits for it.
    pub fn stop(&mut self, name: &str) -> Option<std::process::ExitStatus> {
        let i = self.children.iter().position(|(n, _)| n == name)?;
        let (_, mut c) = self.children.remove(i);
        unsafe {
            libc::kill(c.id() as i32, libc::SIGTERM);
        }
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

    /// A file some process of the lab creates outside the lab's directory
    /// (wireguard-go's UAPI socket), removed on drop.
    pub fn owns_file(&mut self, path: impl Into<PathBuf>) {
        self.files.push(path.into());
    }

    /// Sends a signal to a process started with `spawn` (`ip netns exec`
    /// execs the command, so the child is the process itself).
    pub fn signal(&self, name: &str, sig: i32) {
        if let Some((_, c)) = self.children.iter().find(|(n, _)| n == name) {
            unsafe {
                libc::kill(c.id() as i32, sig);
            }
        }
    }

    /// The log of a spawned process.
    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(format!("{name}.log"))).unwrap_or_default()
    }

    /// Waits until `f` holds, up to `timeout`.
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

impl Drop for Lab {
    fn drop(&mut self) {
        // SIGTERM first, so that processes clean up after themselves
        for (_, c) in &self.children {
            unsafe {
                libc::kill(c.id() as i32, libc::SIGTERM);
            }
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
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("lab files kept in {}", self.dir.display());
        }
    }
}

/// The vifgate binary under test.
pub fn vifgate() -> &'static str {
    env!("CARGO_BIN_EXE_vifgate")
}

/// A new private key written to `dir/name` with mode 600; its public key.
pub fn keypair(dir: &Path, name: &str) -> (PathBuf, String) {
    use std::os::unix::fs::PermissionsExt;
    let o = sh(&[vifgate(), "genkey"]);
    let private = String::from_utf8_lossy(&o.stdout).trim().to_string();
    let path = dir.join(name);
    std::fs::write(&path, format!("{private}\n")).expect("key file");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let key: gateway::keys::PrivateKey = private.parse().expect("a key");
    (path, key.public_key().to_base64())
}
