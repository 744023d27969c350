//! The I/O shell around the [`Router`]: a TUN device, a UDP socket, timers
//! and signals on a single-threaded tokio runtime. It moves bytes and
//! sleeps; every decision is the router's.
//!
//! Reads are drained in turns after each wake-up (up to [`BATCH`] reads
//! per turn, and at real-time priority up to 128 KiB, `shell/turn_budget.rs`; when both packet
//! sources are ready they take turns), buffers are allocated once and reused, SIGINT/SIGTERM stop
//! cleanly, SIGHUP reloads the configuration without dropping sessions or
//! tracked connections, and a root-only unix socket answers `vifgate status`
//! (its `reload` part counts the configurations taken and refused, so a
//! client that signalled can tell when its change is in force).
//! Once the device and the sockets are open, the gateway gives up its
//! privileges ([`crate::privileges`]) before it says `gateway up`.
//!
//! The TUN device is opened with offloads where the kernel has them
//! (`IFF_VNET_HDR`, TSO/checksum offload, through `tun-rs`): one read
//! brings a TCP super-packet of up to 64 KiB, split here into MTU-sized
//! segments for the router, and the packets the router hands back for the
//! TUN are coalesced (TCP GRO) into super-packets before they are written.
//! With UDP GSO/GRO on the socket side, a 64 KiB burst costs a handful of
//! system calls instead of ~90. `VIFGATE_NO_TUN_OFFLOAD=1` turns the TUN
//! offloads off (one packet per read and write), `VIFGATE_NO_GSO=1` the
//! UDP ones.
//!
//! With `[flow_logs]`, the loop writes the router's flow log records at
//! the end of each aggregation interval (`shell/flow_log_writer.rs`);
//! SIGHUP also reopens the flow log file, and a stop writes the open
//! interval's records.
//!
//! With a `[bgp]` table, a task follows the kernel routing table it names
//! (`shell/kernel_table.rs`: a dump, then the kernel's route
//! notifications) and the loop hands what it reads to the router, in
//! batches; a reload that names another table follows that one.
//!
//! With a `[metrics]` table, `shell/metrics_server.rs` serves `GET /metrics`
//! on a thread of its own; for each scrape the loop hands it the status
//! document (the counters copied between two batches), and the thread
//! renders it. A reload moves, starts or stops the server.
//!
//! With an `[impair]` table, every datagram the router sends goes through
//! an [`Impairment`] (delay, jitter, loss; docs/gateway.md): lost ones are
//! not sent, delayed ones are copied into its queue and released into the
//! UDP batch at their release time, woken by a `timerfd` (tokio's own
//! timer rounds sleeps up to whole milliseconds, too coarse for a 250 µs
//! delay). Without the table the datagrams go straight into the batch, as
//! before: no copy, no clock read.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::Instant;

use tokio::io::Interest;
use tokio::net::{UdpSocket, UnixListener};
use tokio::signal::unix::{signal, SignalKind};
use tracing::{info, warn};
use tun_rs::{AsyncDevice, DeviceBuilder, GROTable, IDEAL_BATCH_SIZE, VIRTIO_NET_HDR_LEN};

use crate::config::{self, GatewayConfig};
use crate::impair::{ImpairConfig, ImpairStats, Impairment, Submit};
use crate::privileges::{self, Dropped};
use crate::router::{Io, Router, BUFFER_SIZE};
use crate::status::{ImpairStatus, ReloadStatus, ShellDrops, Status};
use crate::status_socket::ClaimedSocket;
use crate::udp_gso::{self, UdpBatch};
use topology::units::fmt_duration;

mod box_addresses;
mod flow_log_writer;
mod ingress_delay;
mod kernel_table;
mod metrics_server;
mod preflight;
mod realtime;
mod status_writers;
mod timer;
mod tun_queue;
mod turn_budget;
pub use flow_log_writer::{FlowLogWriter, FlowLogs};
use ingress_delay::IngressDelay;
use kernel_table::{Followed, Follower};
use metrics_server::{MetricsServer, SnapshotRequest};
pub use preflight::{interface_conflict, preflight, Finding};
use timer::{precise_fired, PreciseTimer};
use tun_queue::TunQueue;
use turn_budget::{turn_bytes, TurnBudget};

/// Most reads from one source before the loop looks at the others (at
/// real-time priority a turn ends sooner, once it has read
/// [`turn_budget::TURN_BYTES`]).
pub const BATCH: usize = 64;
/// Room in each buffer of split TUN segments beyond the MTU.
const SEGMENT_SLACK: usize = 64;
/// TUN packets queued before the loop writes them; beyond it, packets are
/// dropped and counted (the loop flushes after every read, far below it).
const TUN_QUEUE: usize = 4 * IDEAL_BATCH_SIZE;
/// Capacity of a queued TUN buffer: coalescing (GRO) grows a packet in
/// place up to a 64 KiB super-packet and never reallocates.
const TUN_BUFFER: usize = 2 * VIRTIO_NET_HDR_LEN + 65_535;
/// Socket buffer size asked for (the kernel caps it at its rmem/wmem max).
const SOCKET_BUFFER: libc::c_int = 8 << 20;

/// Why the gateway stopped.
#[derive(Debug, thiserror::Error)]
pub enum ShellError {
    /// The configuration is invalid.
    #[error("{0}")]
    Config(topology::Diagnostics),
    /// The router could not start.
    #[error(transparent)]
    Router(#[from] crate::router::RouterError),
    /// The status socket's path is taken.
    #[error(transparent)]
    StatusSocket(#[from] crate::status_socket::StatusSocketError),
    /// Privileges could not be dropped after start-up.
    #[error(transparent)]
    Privileges(#[from] crate::privileges::PrivilegeError),
    /// `[process] realtime_priority` could not be put in force.
    #[error(transparent)]
    Realtime(#[from] realtime::RealtimeError),
    /// An I/O error while setting up.
    #[error("{what}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        #[source]
        source: io::Error,
    },
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> ShellError {
    let what = what.into();
    move |source| ShellError::Io { what, source }
}

/// What woke the loop: a packet source to take a turn at, or an event
/// its branch already handled.
enum Source {
    Tun(io::Result<()>),
    /// Packets wait in the fair queue (`[queue]`).
    TunQueue,
    Udp(io::Result<()>),
    Other,
}

/// Where the router's packets go: TUN packets are queued and written as
/// one batch (coalesced when the device has offloads), datagrams are
/// batched into GSO sends, each sent as soon as it is full.
struct Output<'a> {
    tun: &'a AsyncDevice,
    udp: &'a UdpSocket,
    batch: UdpBatch,
    /// Reused packet buffers for the TUN, each with `tun_offset` bytes of
    /// headroom for the virtio header; `tun_queued` of them are in use.
    tun_queue: Vec<Vec<u8>>,
    tun_queued: usize,
    tun_offset: usize,
    gro: GROTable,
    dropped: u64,
    /// Delay, jitter and loss for outgoing datagrams (`[impair]`).
    impair: Option<Impairment>,
    /// The counters of impairments a reload removed.
    impair_retired: ImpairStats,
}

impl Output<'_> {
    /// Writes the queued TUN packets and sends the batched datagrams,
    /// with the delayed datagrams that are due by now.
    async fn flush(&mut self) {
        self.flush_tun().await;
        if self.impair.is_some() {
            self.release_due(Instant::now());
        }
        if !self.batch.is_empty() {
            self.batch.flush(self.udp.as_raw_fd());
        }
    }

    /// Moves the delayed datagrams due at `now` into the UDP batch.
    fn release_due(&mut self, now: Instant) {
        let fd = self.udp.as_raw_fd();
        if let Some(imp) = &mut self.impair {
            imp.drain_due(now, |to, d| self.batch.push_sending_full(fd, to, d));
        }
    }

    /// When the next delayed datagram is due.
    fn impair_deadline(&self) -> Option<Instant> {
        self.impair.as_ref().and_then(Impairment::next_deadline)
    }

    /// The impairment counters since the start, removed impairments
    /// included.
    fn impair_stats(&self) -> ImpairStats {
        let mut s = self.impair_retired;
        if let Some(i) = &self.impair {
            s += i.stats();
        }
        s
    }

    /// Puts a (new) impairment in force, changes it, or removes it: its
    /// queued datagrams then go into the batch at once (the caller
    /// flushes). A table with no delay, jitter or loss is none.
    fn set_impairment(&mut self, config: Option<&ImpairConfig>) {
        match (config.filter(|c| !c.is_noop()), &mut self.impair) {
            (Some(c), Some(imp)) => {
                if imp.config() != c {
                    imp.reconfigure(c.clone());
                    log_impairment("impairment changed", c);
                }
            }
            (Some(c), None) => {
                self.impair = Some(Impairment::new(c.clone()));
                log_impairment("impairing outer datagrams", c);
            }
            (None, _) => {
                if let Some(mut imp) = self.impair.take() {
                    let fd = self.udp.as_raw_fd();
                    let n = imp.drain_all(|to, d| self.batch.push_sending_full(fd, to, d));
                    self.impair_retired += imp.stats();
                    info!(released = n, "impairment removed");
                }
            }
        }
    }

    /// Writes the queued TUN packets, coalesced where the device allows.
    async fn flush_tun(&mut self) {
        if self.tun_queued > 0 {
            let queued = &mut self.tun_queue[..self.tun_queued];
            if let Err(e) = self
                .tun
                .send_multiple(&mut self.gro, queued, self.tun_offset)
                .await
            {
                self.dropped += 1;
                tracing::debug!("TUN write: {e}");
            }
            self.tun_queued = 0;
        }
    }
}

impl Io for Output<'_> {
    fn send_tun(&mut self, packet: &[u8]) {
        if self.tun_queued == TUN_QUEUE {
            self.dropped += 1;
            return;
        }
        if self.tun_queued == self.tun_queue.len() {
            // pages are touched only as far as packets reach
            self.tun_queue.push(Vec::with_capacity(TUN_BUFFER));
        }
        let buf = &mut self.tun_queue[self.tun_queued];
        buf.clear();
        buf.resize(self.tun_offset, 0);
        buf.extend_from_slice(packet);
        self.tun_queued += 1;
    }

    /// Batched; each full send leaves at once ([`UdpBatch::push_sending_full`]).
    fn send_udp(&mut self, to: SocketAddr, datagram: &[u8]) {
        let fd = self.udp.as_raw_fd();
        match &mut self.impair {
            None => self.batch.push_sending_full(fd, to, datagram),
            Some(imp) => {
                if imp.submit(Instant::now(), to, datagram) == Submit::SendNow {
                    self.batch.push_sending_full(fd, to, datagram);
                }
            }
        }
    }
}

fn log_impairment(what: &str, c: &ImpairConfig) {
    info!(
        delay = %fmt_duration(c.delay),
        jitter = %fmt_duration(c.jitter),
        loss = %format!("{}%", (c.loss * 100.0 * 1e9).round() / 1e9),
        queue = c.queue,
        seed = ?c.seed,
        "{what}"
    );
}

/// The impairment part of the status: its settings and counters, or
/// `None` when none is in force.
fn impair_status(out: &Output) -> Option<ImpairStatus> {
    let i = out.impair.as_ref()?;
    let c = i.config();
    let s = out.impair_stats();
    Some(ImpairStatus {
        delay_ms: c.delay.as_secs_f64() * 1e3,
        jitter_ms: c.jitter.as_secs_f64() * 1e3,
        loss: c.loss,
        queue: c.queue,
        queued: i.len(),
        delayed: s.delayed,
        dropped_loss: s.dropped_loss,
        dropped_full: s.dropped_full,
    })
}

/// The whole status document: the router's, with what only the shell
/// knows (its own drops, the impairment, the reloads). What the status
/// socket answers and what a scrape renders.
fn full_status(
    router: &Router,
    out: &Output,
    queue: &TunQueue,
    ingress: &IngressDelay,
    tun_unsplittable: u64,
    reload: &ReloadStatus,
) -> Status {
    let mut s = router.status(Instant::now());
    s.queue = queue.stats().map(|mut q| {
        q.ingress_codel_drops = ingress.drops;
        q.ingress_sojourn_max_ns = ingress.sojourn_max_ns;
        q.ingress_sojourn_last_ns = ingress.sojourn_last_ns;
        q
    });
    let impair = out.impair_stats();
    s.drops.shell = ShellDrops {
        tun_write: out.dropped,
        udp_send: out.batch.failed,
        tun_unsplittable,
        impair_loss: impair.dropped_loss,
        impair_full: impair.dropped_full,
    };
    s.impair = impair_status(out);
    s.reload = Some(reload.clone());
    s
}

/// Starts the `[metrics]` server, or none without the table; an error
/// when the address cannot be bound.
fn start_metrics(
    config: Option<config::MetricsConfig>,
    requests: &tokio::sync::mpsc::Sender<SnapshotRequest>,
) -> Result<Option<MetricsServer>, ShellError> {
    let Some(m) = config else {
        return Ok(None);
    };
    let server = MetricsServer::start(m.listen, requests.clone()).map_err(|e| ShellError::Io {
        what: format!("cannot serve metrics on {}: {e}", m.listen),
        source: e,
    })?;
    info!(listen = %m.listen, "metrics on http://{}/metrics", m.listen);
    Ok(Some(server))
}

/// Runs the gateway in the foreground until SIGINT or SIGTERM.
pub fn run(config_path: &Path) -> Result<(), ShellError> {
    let config = config::load(config_path).map_err(ShellError::Config)?;
    for w in &config.warnings.0 {
        warn!("{}", w.headline());
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(io_err("cannot start the runtime"))?;
    rt.block_on(serve(config_path.to_path_buf(), config))
}

fn set_buffers(udp: &UdpSocket) {
    let fd = udp.as_raw_fd();
    for opt in [libc::SO_RCVBUF, libc::SO_SNDBUF] {
        // SAFETY: fd is a valid socket for the lifetime of `udp`; the
        // option value is a plain int.
        let rc = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                opt,
                (&SOCKET_BUFFER as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            warn!(
                "cannot enlarge the UDP socket buffer: {}",
                io::Error::last_os_error()
            );
        }
    }
}

fn open_tun(config: &GatewayConfig, offload: bool) -> Result<AsyncDevice, ShellError> {
    let i = &config.interface;
    let mut b = DeviceBuilder::new()
        .name(&i.name)
        .mtu(i.mtu)
        .tx_queue_len(i.tx_queue_length)
        .offload(offload)
        .enable(true);
    if let Some(a) = i.address {
        b = b.ipv4(a.addr(), a.prefix_len(), None);
    }
    b.build_async().map_err(|source| ShellError::Io {
        what: interface_conflict(&i.name).unwrap_or_else(|| {
            format!("cannot create TUN device `{}` (root, /dev/net/tun)", i.name)
        }),
        source,
    })
}

/// True for an error of the device itself, false for a read that brought
/// a packet the offload layer could not split (counted and skipped).
fn is_device_error(e: &io::Error) -> bool {
    e.raw_os_error().is_some()
}

/// Claims the status socket's path ([`ClaimedSocket`]: only a stale
/// socket is replaced) and listens on it.
fn status_listener(path: &Path) -> Result<(ClaimedSocket, UnixListener), ShellError> {
    let (claimed, listener) = ClaimedSocket::claim(path)?;
    listener
        .set_nonblocking(true)
        .map_err(io_err(format!("cannot listen on {}", path.display())))?;
    let listener = UnixListener::from_std(listener)
        .map_err(io_err(format!("cannot listen on {}", path.display())))?;
    Ok((claimed, listener))
}

/// Logs what [`privileges::drop_after_start`] did.
fn log_dropped(dropped: Dropped, config: &GatewayConfig) {
    match (dropped, &config.run_as) {
        (Dropped::User { uid, gid }, Some(r)) => info!(
            user = %r.user,
            uid,
            group = %r.group,
            gid,
            capabilities = "none",
            "privileges dropped"
        ),
        (Dropped::Capabilities, _) => info!(capabilities = "none", "capabilities dropped"),
        (Dropped::StillRoot, _) => info!(
            "running as root with every capability: set [process] user to drop them after start-up"
        ),
        _ => {}
    }
}

async fn serve(config_path: PathBuf, config: GatewayConfig) -> Result<(), ShellError> {
    let mut router = Router::new(&config, Instant::now())?;
    // the status socket first: refused (a file, another gateway's live
    // socket), nothing else is made; removed at stop if still its own
    let (_claimed, status) = status_listener(&config.status_socket)?;
    let offload = std::env::var_os("VIFGATE_NO_TUN_OFFLOAD").is_none();
    let tun = open_tun(&config, offload)?;
    let tun_offset = if tun.tcp_gso() { VIRTIO_NET_HDR_LEN } else { 0 };
    if offload && !tun.tcp_gso() {
        info!("TUN offloads (IFF_VNET_HDR) unavailable: one packet per read and write");
    }
    let udp = UdpSocket::bind(SocketAddr::from((
        Ipv4Addr::UNSPECIFIED,
        config.interface.listen_port,
    )))
    .await
    .map_err(io_err(format!(
        "cannot bind UDP port {}",
        config.interface.listen_port
    )))?;
    set_buffers(&udp);
    if std::env::var_os("VIFGATE_NO_GSO").is_none() && !udp_gso::enable_gro(udp.as_raw_fd()) {
        info!("UDP receive offload (GRO) unavailable: one datagram per read");
    }
    // the flow log file is opened before privileges go (a reopen on
    // SIGHUP then needs a directory the account may write)
    let mut flow_logs = match &config.flow_logs {
        Some(f) => Some(FlowLogs::start(f, &mut router).map_err(io_err(format!(
            "cannot open the flow log {}",
            f.destination
        )))?),
        None => None,
    };
    // [metrics]: scrapes ask the loop for snapshots on this channel
    let (snapshots_tx, mut snapshots_rx) = tokio::sync::mpsc::channel::<SnapshotRequest>(4);
    let mut metrics = start_metrics(config.metrics, &snapshots_tx)?;
    let mut sigint = signal(SignalKind::interrupt()).map_err(io_err("signal"))?;
    let mut sigterm = signal(SignalKind::terminate()).map_err(io_err("signal"))?;
    let mut sighup = signal(SignalKind::hangup()).map_err(io_err("signal"))?;
    // the packet thread's real-time policy needs CAP_SYS_NICE: before the drop
    if let Some(priority) = config.realtime_priority {
        realtime::set_realtime(priority)?;
        info!(priority, "packet thread at real-time priority (SCHED_FIFO)");
    }
    let turn_bytes = turn_bytes(config.realtime_priority.is_some());
    // everything privileged is open: give up what opened it
    log_dropped(
        privileges::drop_after_start(config.run_as.as_ref())?,
        &config,
    );
    info!(
        interface = %config.interface.name,
        port = udp.local_addr().map(|a| a.port()).unwrap_or(0),
        peers = config.peers.len(),
        policy = %config.policy.origin,
        "gateway up"
    );

    // one raw read (virtio header + up to 64 KiB), split into segments
    let mut tun_raw = vec![0u8; BUFFER_SIZE];
    let mut segments =
        vec![vec![0u8; usize::from(config.interface.mtu) + SEGMENT_SLACK]; IDEAL_BATCH_SIZE];
    let mut sizes = vec![0usize; IDEAL_BATCH_SIZE];
    let mut malformed: u64 = 0;
    let mut udp_buf = vec![0u8; BUFFER_SIZE];
    let mut out = Output {
        tun: &tun,
        udp: &udp,
        batch: UdpBatch::new(std::env::var_os("VIFGATE_NO_GSO").is_none()),
        tun_queue: Vec::new(),
        tun_queued: 0,
        tun_offset,
        gro: GROTable::default(),
        dropped: 0,
        impair: None,
        impair_retired: ImpairStats::default(),
    };
    out.set_impairment(config.impair.as_ref());
    // [queue]: the fair queue between the TUN device and the router
    let mut tun_queue = TunQueue::new(
        &config.queue,
        usize::from(config.interface.mtu) + SEGMENT_SLACK,
        Instant::now(),
    );
    let mut ingress = IngressDelay::new(&config.queue, udp.as_raw_fd());
    // the configuration in force, what a reload is compared with
    let mut running = config.clone();
    // and its generation: the one loaded at the start
    let mut reload = ReloadStatus {
        generation: 1,
        ..ReloadStatus::default()
    };
    // the kernel table of [bgp]: events come tagged with their table, so
    // that those of a table followed before a reload are dropped
    let (routes_tx, mut routes_rx) = tokio::sync::mpsc::unbounded_channel::<Followed>();
    let mut follower = config
        .bgp
        .map(|b| Follower::start(b.kernel_table, routes_tx.clone()));
    let mut precise = match PreciseTimer::new() {
        Ok(t) => Some(t),
        Err(e) => {
            warn!("no timerfd ({e}): delayed datagrams are released with millisecond resolution");
            None
        }
    };
    let mut box_addresses = box_addresses::BoxAddresses::new(Instant::now());
    let status_writers = status_writers::StatusWriters::default();
    // which source goes first when both are ready: the other one than
    // the last turn's
    let mut udp_first = false;
    loop {
        box_addresses.poll(&mut router, Instant::now());
        // the timers run when due even while datagrams keep the socket
        // readable: under a flood, the sleep below (made anew every turn)
        // can lose every race and leave WireGuard's timers, the knocks,
        // conntrack expiry and the cookie limiter's window stopped
        if Instant::now() >= router.poll_timeout() {
            router.handle_timeout(Instant::now(), &mut out);
            out.flush().await;
        }
        if let Some(f) = &mut flow_logs {
            f.poll(&mut router, Instant::now());
        }
        let mut next = router.poll_timeout();
        let impair_deadline = out.impair_deadline();
        match &mut precise {
            Some(t) => t.arm(impair_deadline),
            None => next = impair_deadline.map_or(next, |d| d.min(next)),
        }
        let deadline = tokio::time::Instant::from_std(next);
        // the TUN device and the UDP socket take turns when both are
        // ready (a turn: at most turn_bytes); the other sources first,
        // which are rarely ready and must not wait behind a bulk stream
        let source = tokio::select! {
            biased;
            _ = tokio::time::sleep_until(deadline) => {
                // the router's timers (it does nothing before they are
                // due), and without a timerfd the impairment's too
                router.handle_timeout(Instant::now(), &mut out);
                out.flush().await;
                Source::Other
            }
            r = precise_fired(&precise) => {
                if let Err(e) = r {
                    warn!("timerfd: {e}");
                }
                if let Some(t) = &mut precise {
                    t.fired();
                }
                // flush releases the delayed datagrams due by now
                out.flush().await;
                Source::Other
            }
            Some((table, first)) = routes_rx.recv() => {
                let mut batch = vec![(table, first)];
                while let Ok(e) = routes_rx.try_recv() {
                    batch.push(e);
                }
                let current = follower.as_ref().map(Follower::table);
                router.handle_route_events(
                    batch
                        .into_iter()
                        .filter(|(t, _)| Some(*t) == current)
                        .map(|(_, e)| e),
                );
                Source::Other
            }
            Some(reply) = snapshots_rx.recv() => {
                // a scrape: the thread that asked renders it
                let _ = reply.send(full_status(&router, &out, &tun_queue, &ingress, malformed, &reload));
                Source::Other
            }
            c = status.accept() => {
                if let Ok((stream, _)) = c {
                    let s = full_status(&router, &out, &tun_queue, &ingress, malformed, &reload);
                    let body = match serde_json::to_vec(&s) {
                        Ok(b) => b,
                        Err(e) => {
                            warn!("status: {e}");
                            continue;
                        }
                    };
                    status_writers.answer(stream, body);
                }
                Source::Other
            }
            _ = sighup.recv() => {
                // logrotate renamed the flow log: a new file, whatever the
                // reload's outcome
                if let Some(f) = &mut flow_logs {
                    f.reopen();
                }
                let refused = match config::load(&config_path) {
                    Ok(c) => match reload_checks(&running, &c).and_then(|key| {
                        router.reload(&c).map_err(|e| with_sources(&e))?;
                        Ok(key)
                    }) {
                        Ok(key) => {
                            if let Some(key) = key {
                                if router.set_private_key(key, Instant::now(), &mut out) {
                                    info!(
                                        public_key = %router.public_key(),
                                        "private key changed: every session restarts under it"
                                    );
                                }
                            }
                            flow_logs =
                                FlowLogs::reconfigure(flow_logs.take(), c.flow_logs.as_ref(), &mut router);
                            // a removed impairment's queue leaves at once
                            out.set_impairment(c.impair.as_ref());
                            tun_queue.reconfigure(&c.queue, Instant::now(), &mut router, &mut out);
                            ingress.reconfigure(&c.queue, udp.as_raw_fd());
                            let table = c.bgp.map(|b| b.kernel_table);
                            if table != follower.as_ref().map(Follower::table) {
                                follower = table.map(|t| Follower::start(t, routes_tx.clone()));
                            }
                            let listen = c.metrics.map(|m| m.listen);
                            if listen != metrics.as_ref().map(MetricsServer::listen) {
                                // the old address is let go first: the new
                                // one may share its port
                                drop(metrics.take());
                                metrics = start_metrics(c.metrics, &snapshots_tx)
                                    .unwrap_or_else(|e| {
                                        warn!("{e}: metrics off");
                                        None
                                    });
                            }
                            out.flush().await;
                            running = c;
                            None
                        }
                        Err(e) => {
                            warn!("reload refused: {e}");
                            Some(e)
                        }
                    },
                    Err(d) => {
                        warn!("reload refused, the configuration has errors:\n{d}");
                        Some(format!("the configuration has errors:\n{d}"))
                    }
                };
                // what the status socket reports: `sim link` waits for it
                match refused {
                    None => {
                        reload.generation += 1;
                        reload.last_error = None;
                        info!(generation = reload.generation, "configuration reloaded");
                    }
                    Some(why) => {
                        reload.refused += 1;
                        reload.last_error = Some(why);
                    }
                }
                Source::Other
            }
            _ = sigint.recv() => { info!("SIGINT: stopping"); break; }
            _ = sigterm.recv() => { info!("SIGTERM: stopping"); break; }
            r = udp.readable(), if udp_first => Source::Udp(r),
            r = tun.readable(), if tun_queue.has_room() => Source::Tun(r),
            _ = std::future::ready(()), if tun_queue.pending() => Source::TunQueue,
            r = udp.readable() => Source::Udp(r),
        };
        let budget_spent = match source {
            Source::Tun(r) => {
                if let Err(e) = r {
                    return Err(io_err("TUN read")(e));
                }
                let mut got = tun.try_recv_multiple(&mut tun_raw, &mut segments, &mut sizes, 0);
                let mut turn = TurnBudget::new(turn_bytes);
                for _ in 0..BATCH {
                    let mut more = true;
                    match got {
                        Ok(n) => {
                            let mut read = 0;
                            for (seg, &len) in segments.iter_mut().zip(&sizes).take(n) {
                                read += len;
                                tun_queue.offer(
                                    Instant::now(),
                                    &mut seg[..len],
                                    &mut router,
                                    &mut out,
                                );
                            }
                            more = turn.spend(read);
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if is_device_error(&e) => return Err(io_err("TUN read")(e)),
                        Err(e) => {
                            malformed += 1;
                            tracing::debug!("TUN read skipped: {e}");
                        }
                    }
                    if !tun_queue.has_room() || !more {
                        break;
                    }
                    got = tun.try_recv_multiple(&mut tun_raw, &mut segments, &mut sizes, 0);
                }
                // with the queue: its first chunk, sent at once
                tun_queue.drain(Instant::now(), &mut router, &mut out);
                out.flush().await;
                udp_first = true;
                turn.spent()
            }
            Source::TunQueue => {
                tun_queue.drain(Instant::now(), &mut router, &mut out);
                out.flush().await;
                udp_first = true;
                false
            }
            Source::Udp(r) => {
                if let Err(e) = r {
                    warn!("UDP read: {e}");
                    continue;
                }
                // datagrams one call at a time, or several at once when the
                // kernel coalesced them (UDP GRO); each to the router
                let mut turn = TurnBudget::new(turn_bytes);
                for _ in 0..BATCH {
                    let got = udp.try_io(Interest::READABLE, || {
                        udp_gso::recv_stamped(udp.as_raw_fd(), &mut udp_buf)
                    });
                    let (n, from, segment, arrived) = match got {
                        Ok(x) => x,
                        Err(_) => break,
                    };
                    let segment = segment.filter(|&s| s > 0).unwrap_or(n.max(1));
                    let waited = arrived.map(udp_gso::waited);
                    for datagram in udp_buf[..n].chunks(segment) {
                        let now = Instant::now();
                        if ingress.admit(now, waited, datagram) {
                            router.handle_udp(now, from, datagram, &mut out);
                        }
                    }
                    // the segments of one read coalesce into one TUN write
                    out.flush_tun().await;
                    if !turn.spend(n) {
                        break;
                    }
                }
                out.flush().await;
                udp_first = false;
                turn.spent()
            }
            Source::Other => false,
        };
        if budget_spent {
            // more is waiting where this turn read: let the runtime poll
            // its driver, so that the other source's readiness is known
            // before the next turn (the turns alternate only then)
            tokio::task::yield_now().await;
        }
    }
    if let Some(f) = flow_logs {
        f.stop(&mut router);
    }
    Ok(())
}

/// What a reload to `new` needs before anything changes: no setting that
/// only a restart applies ([`GatewayConfig::needs_restart`]), and the
/// private key file read again. `Some(key)`: the key the file holds now (a
/// new one is put in force); `None`: the file, unchanged in the
/// configuration, is no longer readable by the user the gateway became
/// (a root-owned key, `[process] user`), so the key in use stays.
fn reload_checks(
    running: &GatewayConfig,
    new: &GatewayConfig,
) -> Result<Option<crate::keys::PrivateKey>, String> {
    let needs = running.needs_restart(new);
    if !needs.0.is_empty() {
        return Err(needs.to_string());
    }
    reload_can_open(running, new)?;
    let path = &new.interface.private_key_file;
    match crate::keys::read_private_key_file(path) {
        Ok(key) => Ok(Some(key)),
        Err(crate::keys::KeyError::NotReadable { uid, .. })
            if *path == running.interface.private_key_file =>
        {
            tracing::debug!(
                file = %path.display(),
                uid,
                "private key file not readable after start-up: the key in use stays"
            );
            Ok(None)
        }
        Err(e) => Err(with_sources(&e)),
    }
}

/// Whether what a reload opens anew can be opened by the gateway as it
/// runs now (its privileges may be gone): a new `[metrics]` address is
/// bound and let go, a new flow log file opened for appending (created if
/// missing). A reload that would fail there is refused before anything
/// changes, rather than taken with metrics or flow logs off. An address
/// that shares the running server's port cannot be tried while that one
/// holds it.
fn reload_can_open(running: &GatewayConfig, new: &GatewayConfig) -> Result<(), String> {
    let listen = new.metrics.map(|m| m.listen);
    let old = running.metrics.map(|m| m.listen);
    if let Some(l) = listen.filter(|&l| Some(l) != old) {
        if old.is_none_or(|o| o.port() != l.port()) {
            std::net::TcpListener::bind(l)
                .map_err(|e| format!("cannot serve metrics on {l}: {e}"))?;
        }
    }
    if let Some(config::FlowLogDestination::File(path)) =
        new.flow_logs.as_ref().map(|f| &f.destination)
    {
        let same = running
            .flow_logs
            .as_ref()
            .is_some_and(|f| f.destination == config::FlowLogDestination::File(path.clone()));
        if !same {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| format!("cannot open the flow log {}: {e}", path.display()))?;
        }
    }
    Ok(())
}

/// An error and its sources, `: `-separated.
fn with_sources(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    text
}

/// How long [`query_status`] waits for each part of an answer: a gateway
/// answers from its loop within milliseconds; a socket where something
/// else listens (a stuck process, another program's socket) may never.
pub const STATUS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The longest status document read (a gateway's is kilobytes; one with
/// many peers and rules, a few hundred): what another program's socket
/// sends beyond it is not read into memory.
pub const MAX_STATUS_BYTES: u64 = 16 << 20;

/// Reads the status of a running gateway from its socket, giving up
/// after [`STATUS_TIMEOUT`] without an answer.
pub fn query_status(socket: &Path) -> io::Result<Status> {
    query_status_within(socket, Some(STATUS_TIMEOUT))
}

/// Reads the status of a running gateway from its socket, giving up
/// (`TimedOut`/`WouldBlock`) when no answer came within `timeout`, and
/// refusing an answer longer than [`MAX_STATUS_BYTES`].
pub fn query_status_within(
    socket: &Path,
    timeout: Option<std::time::Duration>,
) -> io::Result<Status> {
    use std::io::Read;
    let s = std::os::unix::net::UnixStream::connect(socket)?;
    s.set_read_timeout(timeout.filter(|t| !t.is_zero()))?;
    let mut body = Vec::new();
    s.take(MAX_STATUS_BYTES + 1)
        .read_to_end(&mut body)
        .map_err(|e| match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "no answer within {:.1} s: what listens there is stuck, or no gateway",
                    timeout.unwrap_or_default().as_secs_f64()
                ),
            ),
            _ => e,
        })?;
    if body.len() as u64 > MAX_STATUS_BYTES {
        return Err(io::Error::other(format!(
            "the answer is longer than {} MiB: no gateway's status is",
            MAX_STATUS_BYTES >> 20
        )));
    }
    serde_json::from_slice(&body).map_err(io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::PrivateKey;
    use std::os::unix::fs::PermissionsExt;

    fn key_file(dir: &Path, name: &str, key: &PrivateKey, mode: u32) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, key.to_base64()).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    /// `vifgate status` on a socket where something listens but never
    /// answers gives up after [`STATUS_TIMEOUT`] (it waited for ever), and
    /// one that sends without end is not read past [`MAX_STATUS_BYTES`].
    #[test]
    fn a_status_query_gives_up_on_a_silent_or_endless_socket() {
        use std::io::Write;
        use std::os::unix::net::UnixListener;
        let dir = std::env::temp_dir().join(format!("vifgate-status-q-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let silent = dir.join("silent.sock");
        let _listener = UnixListener::bind(&silent).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let asked = silent.clone();
        std::thread::spawn(move || {
            let _ = tx.send(query_status(&asked).map(|_| ()).map_err(|e| e.kind()));
        });
        let answer = rx.recv_timeout(STATUS_TIMEOUT + std::time::Duration::from_secs(5));
        assert!(
            matches!(answer, Ok(Err(io::ErrorKind::TimedOut))),
            "{answer:?}"
        );

        let endless = dir.join("endless.sock");
        let listener = UnixListener::bind(&endless).unwrap();
        std::thread::spawn(move || {
            if let Ok((mut c, _)) = listener.accept() {
                let block = vec![b' '; 1 << 20];
                while c.write_all(&block).is_ok() {}
            }
        });
        let e = query_status(&endless).map(|_| ()).unwrap_err();
        assert!(e.to_string().contains("longer than 16 MiB"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn config_with(dir: &Path, key: &Path, rest: &str) -> GatewayConfig {
        let text = format!(
            "[interface]\nname = \"vg0\"\nprivate_key_file = \"{}\"\n{rest}",
            key.display()
        );
        config::parse(dir.join("gw.toml"), text).unwrap()
    }

    #[test]
    fn a_reload_reads_the_key_again_and_refuses_restart_settings() {
        let dir = std::env::temp_dir().join(format!("vifgate-reload-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (first, second) = (
            PrivateKey::generate().unwrap(),
            PrivateKey::generate().unwrap(),
        );
        let k1 = key_file(&dir, "k1", &first, 0o600);
        let k2 = key_file(&dir, "k2", &second, 0o600);
        let running = config_with(&dir, &k1, "");
        // the same file: its key (unchanged, the router keeps its sessions)
        let same = reload_checks(&running, &config_with(&dir, &k1, ""));
        assert_eq!(
            same.unwrap().map(|k| k.public_key()),
            Some(first.public_key())
        );
        // another file: the new key
        let rotated = reload_checks(&running, &config_with(&dir, &k2, ""));
        assert_eq!(
            rotated.unwrap().map(|k| k.public_key()),
            Some(second.public_key())
        );
        // a key file that would fail a start fails the reload
        let loose = key_file(&dir, "k3", &second, 0o644);
        let e = reload_checks(&running, &config_with(&dir, &loose, "")).unwrap_err();
        assert!(
            e.contains("is readable or writable by group or others"),
            "{e}"
        );
        let e = reload_checks(&running, &config_with(&dir, &dir.join("none"), "")).unwrap_err();
        assert!(e.starts_with("cannot read key file"), "{e}");
        assert!(e.contains("No such file"), "with its cause: {e}");
        // a setting only a restart applies: refused before the key is read
        let e = reload_checks(
            &running,
            &config_with(&dir, &dir.join("none"), "[conntrack]\nmax_flows = 10\n"),
        )
        .unwrap_err();
        assert_eq!(
            e,
            "a setting changed that only a restart applies: [conntrack] max_flows (1048576 -> 10); the running configuration stays"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_reload_is_refused_when_its_new_metrics_address_or_flow_log_cannot_be_opened() {
        let dir = std::env::temp_dir().join(format!("vifgate-reopen-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let key = key_file(&dir, "k", &PrivateKey::generate().unwrap(), 0o600);
        let running = config_with(&dir, &key, "");
        let e = reload_checks(
            &running,
            &config_with(&dir, &key, "[metrics]\nlisten = \"192.0.2.77:9586\"\n"),
        )
        .unwrap_err();
        assert!(
            e.starts_with("cannot serve metrics on 192.0.2.77:9586: "),
            "{e}"
        );
        // taken while the file was checked, gone by the reload
        std::fs::create_dir_all(dir.join("logs")).unwrap();
        let with_log = config_with(
            &dir,
            &key,
            "[flow_logs]\ndestination = \"logs/flows.log\"\n",
        );
        std::fs::remove_dir_all(dir.join("logs")).unwrap();
        let e = reload_checks(&running, &with_log).unwrap_err();
        assert!(
            e.starts_with(&format!(
                "cannot open the flow log {}: ",
                dir.join("logs/flows.log").display()
            )),
            "{e}"
        );
        std::fs::create_dir_all(dir.join("logs")).unwrap();
        assert!(reload_checks(&running, &with_log).is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
