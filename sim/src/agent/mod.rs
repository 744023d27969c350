//! The lab's listeners: one process that holds TCP and UDP listeners in
//! many namespaces at once, for probes to reach.
//!
//! Every listener is bound to `0.0.0.0:port` on a thread inside its
//! namespace (one hop per namespace), then all are served by one thread
//! and one `poll(2)` loop:
//! - TCP: each connection is accepted, sent `vifgate <node> tcp/<port>\n`
//!   (see [`banner`]) and closed;
//! - UDP: each datagram is sent back to its sender, from the address it
//!   was sent to (so that a connected UDP probe accepts it even on a node
//!   with several addresses).
//!
//! ICMP echo needs no listener: the kernel of each namespace answers it.
//!
//! On SIGHUP, [`serve_reloading`] reads its spec again and changes only
//! the listeners that changed (`sim apply` tells it so): the others keep
//! their sockets and never stop listening.

pub mod http;
pub mod spec;

use std::collections::BTreeSet;
use std::io;
use std::mem;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::ptr;
use std::sync::atomic::{AtomicI32, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use crate::agent::spec::{AgentSpec, ListenSpec};
use crate::kernel::netns::Netns;
use crate::probe::sys;

/// What [`serve`] writes to its ready file (as one line of JSON) once
/// every listener is bound.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentReady {
    /// The serving process.
    pub pid: u32,
    /// How many sockets it holds (TCP and UDP listeners).
    pub sockets: usize,
}

/// The line a TCP listener sends on each connection.
pub fn banner(node: &str, port: u16) -> String {
    format!("vifgate {node} tcp/{port}\n")
}

/// Binds every listener (`0.0.0.0:port` inside its namespace; TCP with
/// `SO_REUSEADDR`), writes `ready_file` (an [`AgentReady`] as JSON,
/// written to a temporary file and renamed, so it never appears half
/// written) once all are bound, then serves until SIGTERM or SIGINT, and
/// removes `ready_file` on the way out. SIGHUP is ignored (see
/// [`serve_reloading`]).
///
/// A listener that cannot be bound (a missing namespace, a port in use,
/// port 0) is an error returned before `ready_file` is written. Only one
/// `serve` may run in a process at a time (it owns the SIGTERM, SIGINT
/// and SIGHUP handlers while it runs, and puts the previous ones back
/// afterwards).
pub fn serve(spec: &AgentSpec, ready_file: &Path) -> io::Result<()> {
    serve_reloading(spec, ready_file, || Ok(spec.clone()))
}

/// [`serve`], and on SIGHUP the spec `reread` gives is served from then
/// on, changing only what changed: a listener still wanted (the same
/// namespace, node, protocol and port, in the namespace of the same
/// identity) keeps its socket, so it never stops listening; one no
/// longer wanted is closed; a new one is bound. `ready_file` is written
/// again once the new spec is served. A spec that cannot be read or
/// bound is logged and the old one kept (the ready file is then not
/// written again).
pub fn serve_reloading(
    spec: &AgentSpec,
    ready_file: &Path,
    mut reread: impl FnMut() -> io::Result<AgentSpec>,
) -> io::Result<()> {
    let mut listeners = bind_all(spec, Vec::new())?;
    let (stop_rd, stop_wr) = sys::pipe()?;
    let _signals = SignalGuard::install(stop_wr.as_raw_fd())?;
    let mut ready = AgentReady {
        pid: std::process::id(),
        sockets: listeners.len(),
    };
    write_ready(ready_file, &ready)?;
    let _ready = RemoveOnDrop(ready_file.to_path_buf());
    tracing::info!(sockets = ready.sockets, "agent serving");
    loop {
        if serve_loop(&listeners, stop_rd.as_raw_fd())? == Wake::Stop {
            return Ok(());
        }
        let kept = mem::take(&mut listeners);
        let before = kept.len();
        match reread() {
            Ok(new) => match rebind(&new, kept) {
                Ok(now) => listeners = now,
                Err((e, old)) => {
                    tracing::error!("agent: the new spec is not served: {e}");
                    listeners = old;
                    continue;
                }
            },
            Err(e) => {
                tracing::error!("agent: the spec cannot be read again: {e}");
                listeners = kept;
                continue;
            }
        }
        ready.sockets = listeners.len();
        write_ready(ready_file, &ready)?;
        tracing::info!(before, sockets = ready.sockets, "agent reloaded");
    }
}

/// Binds the same listeners as [`serve`] and serves them on a background
/// thread until the handle is dropped or stopped. Binding errors are
/// returned here.
pub fn spawn(spec: &AgentSpec) -> io::Result<AgentHandle> {
    let listeners = bind_all(spec, Vec::new())?;
    let sockets = listeners.len();
    let (stop_rd, stop_wr) = sys::pipe()?;
    let thread = std::thread::Builder::new()
        .name("vifgate-agent".into())
        .spawn(move || serve_loop(&listeners, stop_rd.as_raw_fd()).map(drop))?;
    Ok(AgentHandle {
        stop: Some(stop_wr),
        thread: Some(thread),
        sockets,
    })
}

/// An agent serving on a background thread (from [`spawn`]); dropping it
/// stops the thread and closes every listener.
#[derive(Debug)]
pub struct AgentHandle {
    stop: Option<OwnedFd>,
    thread: Option<JoinHandle<io::Result<()>>>,
    sockets: usize,
}

impl AgentHandle {
    /// How many sockets the agent holds.
    pub fn sockets(&self) -> usize {
        self.sockets
    }

    /// Stops the agent and returns how its loop ended.
    pub fn stop(mut self) -> io::Result<()> {
        self.finish()
    }

    fn finish(&mut self) -> io::Result<()> {
        if let Some(w) = self.stop.take() {
            // the byte, or else the closed pipe, wakes the loop
            // SAFETY: writes one byte from a static buffer.
            let _ = unsafe { libc::write(w.as_raw_fd(), b"x".as_ptr().cast(), 1) };
        }
        match self.thread.take() {
            Some(t) => t
                .join()
                .map_err(|_| io::Error::other("agent thread panicked"))?,
            None => Ok(()),
        }
    }
}

impl Drop for AgentHandle {
    fn drop(&mut self) {
        if let Err(e) = self.finish() {
            tracing::warn!("agent: {e}");
        }
    }
}

/// A bound listener.
struct Listener {
    fd: OwnedFd,
    udp: bool,
    /// The TCP banner.
    banner: Vec<u8>,
    /// What it answers when it is an HTTP port instead.
    http: Option<std::sync::Arc<http::HttpService>>,
    /// For messages: `ns node proto/port`.
    name: String,
    /// What it is: its namespace's identity, node, protocol and port.
    key: ListenerKey,
}

impl Drop for Listener {
    /// The node's port is no longer served: its connections are shut.
    fn drop(&mut self) {
        if let Some(svc) = &self.http {
            svc.close_connections();
        }
    }
}

/// A listener's identity: (namespace file's device and inode, node, UDP,
/// port). A namespace deleted and made again under its name is another.
type ListenerKey = ((u64, u64), String, bool, u16);

/// What one namespace must bind: each node's listeners.
type NsJob = Vec<NodeJob>;

/// One node's listeners in its namespace.
struct NodeJob {
    node: String,
    tcp: Vec<u16>,
    udp: Vec<u16>,
    /// TCP ports that answer HTTP.
    http: BTreeSet<u16>,
    cpu_per_request: Option<Duration>,
    health_paths: Vec<String>,
    cpu_group: Option<String>,
}

impl NodeJob {
    fn of(l: &ListenSpec, tcp: Vec<u16>, udp: Vec<u16>) -> NodeJob {
        NodeJob {
            node: l.node.clone(),
            tcp,
            udp,
            http: l.http.iter().copied().collect(),
            cpu_per_request: l.cpu_per_request,
            health_paths: l.health_paths.clone(),
            cpu_group: l.cpu_group.clone(),
        }
    }

    fn http_service(&self, port: u16) -> Option<std::sync::Arc<http::HttpService>> {
        self.http.contains(&port).then(|| {
            let mut svc = http::HttpService::new(
                &self.node,
                port,
                self.cpu_per_request,
                self.health_paths.clone(),
            );
            svc.cpu_group = self.cpu_group.as_deref().and_then(cpu_group);
            std::sync::Arc::new(svc)
        })
    }
}

/// Node group `name` on this machine's CPU accounting, made if needed;
/// none (logged) when the machine has no accounting or the group cannot
/// be made: the node is then served unaccounted, and its CPU metric is
/// unavailable.
fn cpu_group(name: &str) -> Option<std::sync::Arc<crate::kernel::cgroup::NodeGroup>> {
    let acct = match crate::kernel::cgroup::this_machine() {
        Ok(a) => a,
        Err(why) => {
            tracing::warn!("agent: {name} not accounted: {why}");
            return None;
        }
    };
    crate::kernel::cgroup::join(acct, name)
        .inspect_err(|e| tracing::warn!("agent: {name} not accounted: {e}"))
        .ok()
}

/// The identity of namespace `ns`: its file's device and inode.
fn ns_id(ns: &str) -> io::Result<(u64, u64)> {
    use std::os::unix::fs::MetadataExt as _;
    let m = std::fs::metadata(crate::kernel::netns::path(ns))
        .map_err(|e| io::Error::new(e.kind(), format!("namespace `{ns}`: {e}")))?;
    Ok((m.dev(), m.ino()))
}

/// The listeners of `spec`, reusing those of `old` that it still wants
/// (the others are closed); on an error, `old` back whole.
fn rebind(
    spec: &AgentSpec,
    old: Vec<Listener>,
) -> Result<Vec<Listener>, (io::Error, Vec<Listener>)> {
    let wanted = match wanted_keys(spec) {
        Ok(w) => w,
        Err(e) => return Err((e, old)),
    };
    let (keep, drop): (Vec<Listener>, Vec<Listener>) =
        old.into_iter().partition(|l| wanted.contains(&l.key));
    match bind_all(spec, keep.iter().map(|l| l.key.clone()).collect()) {
        Ok(mut new) => {
            let mut out = keep;
            refresh_http(spec, &mut out);
            out.append(&mut new);
            Ok(out)
        }
        Err(e) => {
            let mut back = keep;
            back.extend(drop);
            Err((e, back))
        }
    }
}

/// Kept TCP listeners answer HTTP or not, with the CPU time, as `spec`
/// now says.
fn refresh_http(spec: &AgentSpec, kept: &mut [Listener]) {
    for l in spec.listeners.iter() {
        let Ok(id) = ns_id(&l.ns) else { continue };
        let job = NodeJob::of(l, Vec::new(), Vec::new());
        for k in kept.iter_mut() {
            let (kid, knode, udp, port) = &k.key;
            if *kid == id && *knode == l.node && !udp {
                let mut now = job.http_service(*port);
                if let (Some(new), Some(old)) = (now.as_mut(), k.http.as_ref()) {
                    if let Some(new) = std::sync::Arc::get_mut(new) {
                        new.take_connections_of(old);
                    }
                }
                k.http = now;
            }
        }
    }
}

/// Every listener `spec` wants, by key.
fn wanted_keys(spec: &AgentSpec) -> io::Result<BTreeSet<ListenerKey>> {
    let mut out = BTreeSet::new();
    for l in &spec.listeners {
        let id = ns_id(&l.ns)?;
        for (udp, ports) in [(false, &l.tcp), (true, &l.udp)] {
            for &p in ports {
                out.insert((id, l.node.clone(), udp, p));
            }
        }
    }
    Ok(out)
}

/// Binds every listener but those in `bound`, one thread hop per
/// namespace.
fn bind_all(spec: &AgentSpec, bound: Vec<ListenerKey>) -> io::Result<Vec<Listener>> {
    let mut jobs: Vec<(String, NsJob)> = Vec::new();
    for l in &spec.listeners {
        let dedup = |v: &[u16]| {
            v.iter()
                .copied()
                .collect::<BTreeSet<u16>>()
                .into_iter()
                .collect()
        };
        let item = NodeJob::of(l, dedup(&l.tcp), dedup(&l.udp));
        match jobs.iter_mut().find(|(ns, _)| *ns == l.ns) {
            Some((_, job)) => job.push(item),
            None => jobs.push((l.ns.clone(), vec![item])),
        }
    }
    let mut out = Vec::new();
    for (ns, job) in jobs {
        let handle = Netns::open(&ns)?;
        let id = ns_id(&ns)?;
        let name = ns.clone();
        let bound: Vec<ListenerKey> = bound.iter().filter(|k| k.0 == id).cloned().collect();
        out.extend(handle.run(move || bind_ns(&name, id, &job, &bound))??);
    }
    Ok(out)
}

/// Binds one namespace's listeners but those in `bound`; run on a thread
/// inside it.
fn bind_ns(
    ns: &str,
    id: (u64, u64),
    job: &NsJob,
    bound: &[ListenerKey],
) -> io::Result<Vec<Listener>> {
    let mut out = Vec::new();
    for j in job {
        let (node, tcp, udp) = (&j.node, &j.tcp, &j.udp);
        for (udp, port) in tcp
            .iter()
            .map(|p| (false, *p))
            .chain(udp.iter().map(|p| (true, *p)))
        {
            let key = (id, node.clone(), udp, port);
            if bound.contains(&key) {
                continue;
            }
            let name = format!(
                "namespace `{ns}` node `{node}` {}/{port}",
                if udp { "udp" } else { "tcp" }
            );
            let fd = bind_one(udp, port)
                .map_err(|e| io::Error::new(e.kind(), format!("{name}: {e}")))?;
            out.push(Listener {
                fd,
                udp,
                banner: banner(node, port).into_bytes(),
                http: if udp { None } else { j.http_service(port) },
                name,
                key,
            });
        }
    }
    Ok(out)
}

fn bind_one(udp: bool, port: u16) -> io::Result<OwnedFd> {
    if port == 0 {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "port 0"));
    }
    let fd = sys::socket(
        if udp {
            libc::SOCK_DGRAM
        } else {
            libc::SOCK_STREAM
        },
        0,
    )?;
    let raw = fd.as_raw_fd();
    if udp {
        // no SO_REUSEADDR: on UDP it would let two agents share a port
        // silently; IP_PKTINFO tells each datagram's destination address
        sys::set_int(raw, libc::IPPROTO_IP, libc::IP_PKTINFO, 1)?;
        sys::bind(raw, Ipv4Addr::UNSPECIFIED, port)?;
    } else {
        sys::set_int(raw, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
        sys::bind(raw, Ipv4Addr::UNSPECIFIED, port)?;
        // SAFETY: plain syscall on our socket.
        sys::cvt(unsafe { libc::listen(raw, 1024) })?;
    }
    Ok(fd)
}

/// Why [`serve_loop`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wake {
    /// SIGTERM, SIGINT, a stop byte or the pipe closed: stop serving.
    Stop,
    /// SIGHUP: read the spec again.
    Reload,
}

/// The byte [`on_signal`] writes for SIGHUP; any other byte stops.
const RELOAD_BYTE: u8 = b'h';

/// Serves until `stop` is readable (or closed): [`Wake::Reload`] when
/// all it holds is [`RELOAD_BYTE`]s.
fn serve_loop(listeners: &[Listener], stop: RawFd) -> io::Result<Wake> {
    let mut fds: Vec<libc::pollfd> = listeners
        .iter()
        .map(|l| l.fd.as_raw_fd())
        .chain([stop])
        .map(|fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let mut buf = vec![0u8; 65536];
    loop {
        for f in fds.iter_mut() {
            f.revents = 0;
        }
        match sys::poll(&mut fds, -1) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        if fds[listeners.len()].revents != 0 {
            let mut bytes = [0u8; 64];
            // SAFETY: reads into a local buffer of that length.
            let n = unsafe { libc::read(stop, bytes.as_mut_ptr().cast(), bytes.len()) };
            let reload = n > 0 && bytes[..n as usize].iter().all(|b| *b == RELOAD_BYTE);
            return Ok(if reload { Wake::Reload } else { Wake::Stop });
        }
        for (l, f) in listeners.iter().zip(&fds) {
            if f.revents & libc::POLLNVAL != 0 {
                return Err(io::Error::other(format!("{}: socket closed", l.name)));
            }
            if f.revents == 0 {
                continue;
            }
            if l.udp {
                echo(l, &mut buf);
            } else {
                accept_all(l);
            }
        }
    }
}

/// Accepts pending connections (a bounded number per wake-up), sends each
/// the banner and closes it.
fn accept_all(l: &Listener) {
    for _ in 0..256 {
        // SAFETY: null address pointers are allowed.
        let rc = unsafe {
            libc::accept4(
                l.fd.as_raw_fd(),
                ptr::null_mut(),
                ptr::null_mut(),
                libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            )
        };
        if rc < 0 {
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EAGAIN) => return,
                Some(libc::EINTR | libc::ECONNABORTED) => continue,
                Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM) => {
                    tracing::warn!("{}: accept: {e}", l.name);
                    // the connection waits in the backlog; do not spin
                    std::thread::sleep(Duration::from_millis(10));
                    return;
                }
                _ => {
                    tracing::warn!("{}: accept: {e}", l.name);
                    return;
                }
            }
        }
        // SAFETY: a fresh descriptor that nothing else owns.
        let conn = unsafe { OwnedFd::from_raw_fd(rc) };
        if let Some(svc) = &l.http {
            http::serve(conn, svc.clone());
            continue;
        }
        // a fresh socket's buffer holds the short banner whole
        if let Err(e) = sys::send(conn.as_raw_fd(), &l.banner) {
            tracing::debug!("{}: send: {e}", l.name);
        }
        drop(conn);
    }
}

/// Sends pending datagrams back (a bounded number per wake-up).
fn echo(l: &Listener, buf: &mut [u8]) {
    let fd = l.fd.as_raw_fd();
    for _ in 0..256 {
        match recv_with_dst(fd, buf) {
            Ok((n, from, to)) => {
                let sent = send_from(fd, &buf[..n], from, to);
                if let Err(e) = sent {
                    tracing::debug!("{}: echo to {from:?}: {e}", l.name);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                tracing::debug!("{}: recv: {e}", l.name);
                return;
            }
        }
    }
}

/// Receives a datagram: its length, its sender and the address it was
/// sent to (from IP_PKTINFO).
fn recv_with_dst(
    fd: RawFd,
    buf: &mut [u8],
) -> io::Result<(usize, libc::sockaddr_in, Option<Ipv4Addr>)> {
    // SAFETY: all-zero sockaddr_in and msghdr are valid empty values.
    let mut from: libc::sockaddr_in = unsafe { mem::zeroed() };
    let mut ctrl = [0u64; 16];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: as above.
    let mut msg: libc::msghdr = unsafe { mem::zeroed() };
    msg.msg_name = (&mut from as *mut libc::sockaddr_in).cast();
    msg.msg_namelen = mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = ctrl.as_mut_ptr().cast();
    msg.msg_controllen = mem::size_of_val(&ctrl);
    // SAFETY: msg points at buffers that live across the call.
    let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut to = None;
    // SAFETY: the kernel filled msg; the CMSG macros stay within it.
    let mut c = unsafe { libc::CMSG_FIRSTHDR(&msg) };
    while !c.is_null() {
        // SAFETY: c is a valid header inside ctrl.
        let h = unsafe { &*c };
        // SAFETY: pure arithmetic.
        let need = unsafe { libc::CMSG_LEN(mem::size_of::<libc::in_pktinfo>() as u32) } as usize;
        if h.cmsg_level == libc::IPPROTO_IP && h.cmsg_type == libc::IP_PKTINFO && h.cmsg_len >= need
        {
            // SAFETY: the length check above.
            let info: libc::in_pktinfo = unsafe { ptr::read_unaligned(libc::CMSG_DATA(c).cast()) };
            to = Some(Ipv4Addr::from(u32::from_be(info.ipi_addr.s_addr)));
        }
        // SAFETY: as above.
        c = unsafe { libc::CMSG_NXTHDR(&msg, c) };
    }
    Ok((n as usize, from, to))
}

/// Sends `data` to `to`, from the address `src` when it is a unicast
/// one (falling back to the kernel's choice if that fails).
fn send_from(
    fd: RawFd,
    data: &[u8],
    to: libc::sockaddr_in,
    src: Option<Ipv4Addr>,
) -> io::Result<()> {
    let src = src.filter(|a| !a.is_multicast() && !a.is_broadcast() && !a.is_unspecified());
    let mut to = to;
    let mut iov = libc::iovec {
        iov_base: data.as_ptr().cast_mut().cast(),
        iov_len: data.len(),
    };
    let mut ctrl = [0u64; 16];
    // SAFETY: an all-zero msghdr is a valid empty one.
    let mut msg: libc::msghdr = unsafe { mem::zeroed() };
    msg.msg_name = (&mut to as *mut libc::sockaddr_in).cast();
    msg.msg_namelen = mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if let Some(src) = src {
        let len = mem::size_of::<libc::in_pktinfo>() as u32;
        msg.msg_control = ctrl.as_mut_ptr().cast();
        // SAFETY: pure arithmetic.
        msg.msg_controllen = unsafe { libc::CMSG_SPACE(len) } as usize;
        // SAFETY: ctrl has room for one in_pktinfo message (16 × 8 bytes).
        unsafe {
            let c = libc::CMSG_FIRSTHDR(&msg);
            (*c).cmsg_level = libc::IPPROTO_IP;
            (*c).cmsg_type = libc::IP_PKTINFO;
            (*c).cmsg_len = libc::CMSG_LEN(len) as usize;
            let info = libc::in_pktinfo {
                ipi_ifindex: 0,
                ipi_spec_dst: libc::in_addr {
                    s_addr: u32::from(src).to_be(),
                },
                ipi_addr: libc::in_addr { s_addr: 0 },
            };
            ptr::write_unaligned(libc::CMSG_DATA(c).cast(), info);
        }
    }
    // SAFETY: msg points at buffers that live across the call.
    let n = unsafe { libc::sendmsg(fd, &msg, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) };
    if n >= 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    if src.is_none() {
        return Err(e);
    }
    let (ip, port) = sys::from_sockaddr(&to);
    sys::send_to(fd, data, ip, port).map(drop)
}

/// The write end of the pipe that [`serve`]'s signal handler wakes the
/// loop with; -1 when no `serve` runs.
static STOP_FD: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(sig: libc::c_int) {
    let fd = STOP_FD.load(Ordering::SeqCst);
    if fd >= 0 {
        let byte: &[u8; 1] = if sig == libc::SIGHUP {
            &[RELOAD_BYTE]
        } else {
            b"x"
        };
        // SAFETY: write(2) and errno access are async-signal-safe.
        unsafe {
            let errno = *libc::__errno_location();
            let _ = libc::write(fd, byte.as_ptr().cast(), 1);
            *libc::__errno_location() = errno;
        }
    }
}

/// SIGTERM, SIGINT and SIGHUP wake [`serve`]'s loop while this lives; the
/// previous handlers come back on drop.
struct SignalGuard {
    old: Vec<(libc::c_int, libc::sigaction)>,
}

impl SignalGuard {
    fn install(stop_wr: RawFd) -> io::Result<SignalGuard> {
        STOP_FD
            .compare_exchange(-1, stop_wr, Ordering::SeqCst, Ordering::SeqCst)
            .map_err(|_| {
                io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    "an agent is already serving in this process",
                )
            })?;
        let mut guard = SignalGuard { old: Vec::new() };
        for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
            // SAFETY: all-zero sigaction is valid; the handler only does
            // async-signal-safe things.
            unsafe {
                let mut sa: libc::sigaction = mem::zeroed();
                sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
                sa.sa_flags = libc::SA_RESTART;
                libc::sigemptyset(&mut sa.sa_mask);
                let mut old: libc::sigaction = mem::zeroed();
                sys::cvt(libc::sigaction(sig, &sa, &mut old))?;
                guard.old.push((sig, old));
            }
        }
        Ok(guard)
    }
}

impl Drop for SignalGuard {
    fn drop(&mut self) {
        for (sig, old) in &self.old {
            // SAFETY: restores a handler that sigaction gave us.
            unsafe {
                libc::sigaction(*sig, old, ptr::null_mut());
            }
        }
        STOP_FD.store(-1, Ordering::SeqCst);
    }
}

/// Writes the ready file whole: to a temporary name, then renamed.
fn write_ready(path: &Path, ready: &AgentReady) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let text = serde_json::to_string(ready).map_err(io::Error::other)? + "\n";
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::lab::{root_or_skip, TestNet};
    use crate::probe::test_pair::{pair, B_IP};
    use crate::probe::{run_probes_with, Outcome, Probe, ProbeKind, ProbeOptions};

    fn spec(ns: &str, node: &str, tcp: Vec<u16>, udp: Vec<u16>) -> ListenSpec {
        ListenSpec {
            ns: ns.into(),
            node: node.into(),
            tcp,
            udp,
            icmp: false,
            http: Vec::new(),
            cpu_per_request: None,
            health_paths: Vec::new(),
            cpu_group: None,
        }
    }

    #[test]
    fn spec_reads_with_defaults() {
        let s: AgentSpec =
            serde_json::from_str(r#"{"listeners":[{"ns":"n","node":"web","tcp":[80]}]}"#)
                .expect("json");
        assert_eq!(s.listeners[0], spec("n", "web", vec![80], vec![]));
        assert_eq!(banner("web", 80), "vifgate web tcp/80\n");
    }

    #[test]
    fn missing_namespace_fails_before_ready() {
        let net = TestNet::with_tag("vsag");
        let dir = net.dir.join("ready");
        let s = AgentSpec {
            listeners: vec![spec("vsag-no-such-namespace", "x", vec![80], vec![])],
        };
        assert!(serve(&s, &dir).is_err());
        assert!(!dir.exists());
        assert!(spawn(&s).is_err());
    }

    #[test]
    fn busy_port_fails_before_ready() {
        if !root_or_skip("busy_port_fails_before_ready") {
            return;
        }
        let mut net = TestNet::with_tag("vsag");
        let ns = net.add_bare_ns("n");
        let ready = net.dir.join("ready");
        // port 0 is refused
        let zero = AgentSpec {
            listeners: vec![spec(&ns, "x", vec![0], vec![])],
        };
        assert_eq!(
            spawn(&zero).expect_err("port 0").kind(),
            io::ErrorKind::InvalidInput
        );
        // two nodes on one port of one namespace: the second cannot bind
        for (tcp, udp) in [(vec![81], vec![]), (vec![], vec![82])] {
            let s = AgentSpec {
                listeners: vec![
                    spec(&ns, "x", tcp.clone(), udp.clone()),
                    spec(&ns, "y", tcp, udp),
                ],
            };
            let e = serve(&s, &ready).expect_err("port in use");
            assert_eq!(e.kind(), io::ErrorKind::AddrInUse, "{e}");
            assert!(e.to_string().contains("node `y`"), "{e}");
            assert!(!ready.exists());
        }
        // a port given twice to one node is bound once
        let s = AgentSpec {
            listeners: vec![spec(&ns, "x", vec![83, 83], vec![83, 83])],
        };
        let h = spawn(&s).expect("spawn");
        assert_eq!(h.sockets(), 2);
        h.stop().expect("stop");
    }

    /// The CPU time this process has used.
    fn process_cpu() -> Duration {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: writes the given timespec.
        unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
        Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
    }

    #[test]
    fn an_http_port_answers_http_and_spends_cpu_on_each_request() {
        if !root_or_skip("an_http_port_answers_http_and_spends_cpu_on_each_request") {
            return;
        }
        let lab = pair("vsht");
        let mut web = spec(&lab.b, "web-a1", vec![22, 80], vec![]);
        web.http = vec![80];
        web.cpu_per_request = Some(Duration::from_millis(40));
        let h = spawn(&AgentSpec {
            listeners: vec![web],
        })
        .expect("spawn");
        let before = process_cpu();
        let answers = Netns::open(&lab.a)
            .expect("namespace a")
            .run(|| -> io::Result<String> {
                use std::io::{Read as _, Write as _};
                let mut s = std::net::TcpStream::connect((B_IP, 80))?;
                s.set_read_timeout(Some(Duration::from_secs(5)))?;
                // five requests on one connection, the last closes it
                let mut req = String::new();
                for i in 0..5 {
                    let close = if i == 4 { "Connection: close\r\n" } else { "" };
                    req.push_str(&format!(
                        "GET /health?set-cookie=SESSIONID HTTP/1.1\r\nHost: x\r\n{close}\r\n"
                    ));
                }
                s.write_all(req.as_bytes())?;
                let mut out = String::new();
                s.read_to_string(&mut out)?;
                Ok(out)
            })
            .expect("thread")
            .expect("HTTP");
        let spent = process_cpu() - before;
        assert_eq!(
            answers.matches("HTTP/1.1 200 OK\r\n").count(),
            5,
            "{answers}"
        );
        assert_eq!(answers.matches("vifgate web-a1 http/80\n").count(), 5);
        assert!(
            answers.contains("Set-Cookie: SESSIONID=web-a1-"),
            "{answers}"
        );
        // five requests, 40 ms of CPU each
        assert!(spent >= Duration::from_millis(200), "{spent:?} of CPU");
        // the other port still sends its banner
        let banner = Netns::open(&lab.a)
            .expect("namespace a")
            .run(|| -> io::Result<String> {
                use std::io::Read as _;
                let mut s = std::net::TcpStream::connect((B_IP, 22))?;
                let mut out = String::new();
                s.read_to_string(&mut out)?;
                Ok(out)
            })
            .expect("thread")
            .expect("banner");
        assert_eq!(banner, "vifgate web-a1 tcp/22\n");
        h.stop().expect("stop");
    }

    #[test]
    fn serve_answers_until_sigterm() {
        if !root_or_skip("serve_answers_until_sigterm") {
            return;
        }
        let lab = pair("vsag");
        let ready = lab.net.dir.join("ready");
        let s = AgentSpec {
            listeners: vec![
                spec(&lab.b, "db", vec![5432], vec![]),
                spec(&lab.b, "dns", vec![], vec![53]),
                spec(&lab.a, "client", vec![22], vec![]),
            ],
        };
        // on SIGHUP: db's listener moves to 5433, the others stay
        let mut reloaded = s.clone();
        reloaded.listeners[0].tcp = vec![5433];
        let (r2, s2) = (ready.clone(), s.clone());
        let server =
            std::thread::spawn(move || serve_reloading(&s2, &r2, move || Ok(reloaded.clone())));
        let t0 = std::time::Instant::now();
        while !ready.exists() {
            assert!(t0.elapsed() < Duration::from_secs(10), "agent never ready");
            assert!(!server.is_finished(), "agent ended early");
            std::thread::sleep(Duration::from_millis(10));
        }
        let r: AgentReady =
            serde_json::from_str(&std::fs::read_to_string(&ready).expect("ready")).expect("json");
        assert_eq!(
            r,
            AgentReady {
                pid: std::process::id(),
                sockets: 3
            }
        );
        // a second serve in the same process is refused, and binds nothing
        let other = AgentSpec::default();
        let e = serve(&other, &lab.net.dir.join("ready-other")).expect_err("second serve");
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);

        let probe = |kind| Probe {
            ns: lab.a.clone(),
            dst: B_IP,
            kind,
        };
        let res = run_probes_with(
            &[
                probe(ProbeKind::Tcp(5432)),
                probe(ProbeKind::Udp(53)),
                probe(ProbeKind::Tcp(22)),
            ],
            &ProbeOptions {
                timeout: Duration::from_secs(2),
                read_banner: true,
                ..ProbeOptions::default()
            },
        );
        assert_eq!(res[0].outcome, Outcome::Reply, "{res:?}");
        assert_eq!(res[0].banner.as_deref(), Some("vifgate db tcp/5432"));
        assert_eq!(res[1].outcome, Outcome::Reply, "{res:?}");
        // port 22 listens in a, not in b
        assert_eq!(res[2].outcome, Outcome::Refused, "{res:?}");

        // SIGHUP: the spec read again; the ready file written again
        std::fs::remove_file(&ready).expect("remove the ready file");
        // SAFETY: serve's handler is installed (the ready file existed).
        unsafe {
            libc::kill(libc::getpid(), libc::SIGHUP);
        }
        let t0 = std::time::Instant::now();
        while !ready.exists() {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "agent never reloaded"
            );
            assert!(!server.is_finished(), "agent ended on SIGHUP");
            std::thread::sleep(Duration::from_millis(10));
        }
        let res = run_probes_with(
            &[
                probe(ProbeKind::Tcp(5432)),
                probe(ProbeKind::Tcp(5433)),
                probe(ProbeKind::Udp(53)),
            ],
            &ProbeOptions {
                timeout: Duration::from_secs(2),
                read_banner: true,
                ..ProbeOptions::default()
            },
        );
        assert_eq!(res[0].outcome, Outcome::Refused, "{res:?}");
        assert_eq!(res[1].banner.as_deref(), Some("vifgate db tcp/5433"));
        assert_eq!(res[2].outcome, Outcome::Reply, "{res:?}");

        // SAFETY: serve's handler is installed (the ready file exists).
        unsafe {
            libc::kill(libc::getpid(), libc::SIGTERM);
        }
        server
            .join()
            .expect("join")
            .expect("serve ends cleanly on SIGTERM");
        assert!(!ready.exists(), "the ready file is removed on exit");
    }
}
