//! Real traffic from inside a namespace: ICMP echo, TCP connect, UDP with
//! a reply.
//!
//! Every socket is opened on a thread inside the probe's source namespace
//! (one thread hop per namespace and batch, through [`Netns::run`]) and
//! then driven from the calling thread: a socket belongs to the namespace
//! it was made in for its whole life. All probes in flight are waited for
//! by one `poll(2)` loop, so a batch takes about one timeout, however many
//! probes it holds.
//!
//! How an answer becomes an [`Outcome`]:
//!
//! | what came back | outcome |
//! | --- | --- |
//! | TCP connected; echo reply from the destination; our UDP token back from `dst:port` | [`Outcome::Reply`] |
//! | TCP reset (`ECONNREFUSED`); ICMP port unreachable (3/3); ICMP administratively prohibited (3/9, 3/10, 3/13: a firewall's `reject`) | [`Outcome::Refused`] |
//! | any other ICMP destination unreachable or time exceeded; `EHOSTUNREACH`, `ENETUNREACH`, `ENETDOWN`, `EHOSTDOWN`; a `prohibit` (`EACCES`) or `blackhole` (`EINVAL`) route in the source | [`Outcome::Unreachable`] |
//! | nothing before the deadline; `ETIMEDOUT`; `EPERM` (the source namespace's own firewall dropped the packet on output) | [`Outcome::Timeout`] |
//! | the probe could not be made (no such namespace, socket failure, ...) | [`Outcome::Error`] |
//!
//! When an ICMP error is behind the outcome, [`ProbeResult::icmp`] says
//! which one and who sent it (TCP and UDP sockets are opened with
//! `IP_RECVERR` so that the kernel tells).

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize, Serializer};

use crate::kernel::netns::Netns;

/// What a probe sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeKind {
    /// An ICMP echo request (raw socket), answered by an echo reply from
    /// the destination.
    IcmpEcho,
    /// A TCP connection to this port.
    Tcp(u16),
    /// A UDP datagram carrying a random token to this port, answered by
    /// the same token from the same address and port.
    Udp(u16),
}

impl fmt::Display for ProbeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeKind::IcmpEcho => write!(f, "icmp"),
            ProbeKind::Tcp(p) => write!(f, "tcp/{p}"),
            ProbeKind::Udp(p) => write!(f, "udp/{p}"),
        }
    }
}

/// One probe: from a namespace, to an address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Probe {
    /// The source namespace (a name under `/run/netns`).
    pub ns: String,
    /// The destination address.
    pub dst: Ipv4Addr,
    /// What to send.
    pub kind: ProbeKind,
}

/// What a probe saw. See the module documentation for the full mapping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The request arrived and the answer came back: TCP connected, the
    /// echo was answered, the UDP token came back.
    Reply,
    /// The destination (or a firewall's `reject` on the way) refused: a
    /// TCP reset, an ICMP port unreachable or administratively prohibited.
    Refused,
    /// No way there: an ICMP unreachable or time exceeded from the path,
    /// or no route in the source namespace.
    Unreachable,
    /// Nothing came back before the deadline: something dropped it.
    Timeout,
    /// The probe could not be made.
    Error(String),
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Reply => write!(f, "reply"),
            Outcome::Refused => write!(f, "refused"),
            Outcome::Unreachable => write!(f, "unreachable"),
            Outcome::Timeout => write!(f, "timeout"),
            Outcome::Error(e) => write!(f, "error: {e}"),
        }
    }
}

/// An ICMP error that answered a probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct IcmpError {
    /// Who sent it (the destination itself, or a router on the way), when
    /// known.
    pub from: Option<Ipv4Addr>,
    /// The ICMP type: 3 destination unreachable, 11 time exceeded.
    #[serde(rename = "type")]
    pub icmp_type: u8,
    /// The ICMP code (for type 3: 0 net, 1 host, 3 port unreachable,
    /// 9/10/13 administratively prohibited, ...).
    pub code: u8,
}

impl IcmpError {
    /// What this error means for a probe: [`Outcome::Refused`] for port
    /// unreachable and administratively prohibited, else
    /// [`Outcome::Unreachable`].
    pub fn outcome(&self) -> Outcome {
        match (self.icmp_type, self.code) {
            (3, 3) | (3, 9) | (3, 10) | (3, 13) => Outcome::Refused,
            _ => Outcome::Unreachable,
        }
    }
}

/// What one probe saw, and how fast.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProbeResult {
    /// The verdict.
    pub outcome: Outcome,
    /// Time from the first packet sent to the answer (the reply, the
    /// reset, the ICMP error); none on a timeout, an error, or a failure
    /// in the source namespace itself (e.g. no route there). Serialised
    /// as `rtt_ms`, fractional milliseconds.
    #[serde(rename = "rtt_ms", serialize_with = "ser_ms")]
    pub rtt: Option<Duration>,
    /// The ICMP error behind a refusal or an unreachable, when there was
    /// one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icmp: Option<IcmpError>,
    /// What the kernel said, when that explains the outcome (e.g.
    /// `ENETUNREACH` at connect).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The first line a TCP server sent after the connection (only with
    /// [`ProbeOptions::read_banner`]), without its line end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub banner: Option<String>,
}

fn ser_ms<S: Serializer>(rtt: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match rtt {
        Some(d) => s.serialize_some(&((d.as_micros() as f64) / 1000.0)),
        None => s.serialize_none(),
    }
}

impl ProbeResult {
    fn new(outcome: Outcome) -> ProbeResult {
        ProbeResult {
            outcome,
            rtt: None,
            icmp: None,
            detail: None,
            banner: None,
        }
    }

    fn error(msg: impl Into<String>) -> ProbeResult {
        ProbeResult::new(Outcome::Error(msg.into()))
    }
}

/// How [`run_probes_with`] runs a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeOptions {
    /// How long each probe waits for its answer, from its first packet.
    pub timeout: Duration,
    /// At most this many probes in flight at once (each TCP or UDP probe
    /// holds one file descriptor; ICMP probes share one raw socket per
    /// namespace). 0 is taken as 1.
    pub max_in_flight: usize,
    /// UDP and ICMP probes send their packet again this many times,
    /// evenly spread over the timeout, while unanswered (TCP retransmits
    /// by itself). Covers a first packet lost while the neighbour was
    /// being resolved.
    pub retries: u32,
    /// After a TCP connection, wait (within the same deadline) for the
    /// server's first line and return it in [`ProbeResult::banner`].
    pub read_banner: bool,
    /// When not empty, the source port of the TCP or UDP probe of the
    /// same index (0, or no entry: the kernel's choice). Lets a caller
    /// try a client's ephemeral range end to end, where the kernel would
    /// pick neighbouring ports for one destination.
    pub source_ports: Vec<u16>,
}

impl Default for ProbeOptions {
    fn default() -> ProbeOptions {
        ProbeOptions {
            timeout: Duration::from_secs(1),
            max_in_flight: 256,
            retries: 1,
            read_banner: false,
            source_ports: Vec::new(),
        }
    }
}

/// Runs many probes at once and returns their results in the same order.
///
/// Sockets are opened grouped by namespace (one thread hop per namespace
/// and batch), then all probes are waited for by one `poll(2)` loop until
/// each has an answer or its `timeout` has passed; at most
/// `max_in_flight` are in flight at once, the rest start as others end.
/// So 500 probes take about `timeout` (a few times it if more than
/// `max_in_flight` of them time out), not 500 × `timeout`.
pub fn run_probes(probes: &[Probe], timeout: Duration, max_in_flight: usize) -> Vec<ProbeResult> {
    run_probes_with(
        probes,
        &ProbeOptions {
            timeout,
            max_in_flight,
            ..ProbeOptions::default()
        },
    )
}

/// [`run_probes`] with every option.
pub fn run_probes_with(probes: &[Probe], opts: &ProbeOptions) -> Vec<ProbeResult> {
    let mut engine = Engine::new(probes, opts);
    engine.run();
    engine
        .results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| ProbeResult::error("probe never ran")))
        .collect()
}

/// Longest TCP banner kept.
const BANNER_MAX: usize = 256;
/// UDP token: a fixed prefix (recognisable in captures) and random bytes.
const TOKEN_PREFIX: &[u8] = b"vifgate-probe:";
const TOKEN_LEN: usize = TOKEN_PREFIX.len() + 16;
/// The ICMP_FILTER socket option of raw ICMP sockets (linux/icmp.h).
const ICMP_FILTER: libc::c_int = 1;

/// A probe in flight.
struct Flight {
    start: Instant,
    deadline: Instant,
    resend_at: Option<Instant>,
    resends_left: u32,
    live: Live,
}

enum Live {
    Icmp {
        slot: usize,
        key: (u16, u16),
        packet: Vec<u8>,
    },
    Tcp {
        fd: OwnedFd,
        /// Set once connected while reading the banner.
        rtt: Option<Duration>,
        banner: Vec<u8>,
    },
    Udp {
        fd: OwnedFd,
        token: [u8; TOKEN_LEN],
    },
}

/// Where a pollfd entry points.
#[derive(Clone, Copy)]
enum Target {
    Raw(usize),
    Flight(usize),
}

/// Sockets opened in a namespace: one per probe (none for ICMP) and maybe
/// the namespace's raw ICMP socket.
type Opened = (
    Vec<io::Result<Option<OwnedFd>>>,
    Option<io::Result<OwnedFd>>,
);

struct Engine<'a> {
    probes: &'a [Probe],
    opts: &'a ProbeOptions,
    max: usize,
    results: Vec<Option<ProbeResult>>,
    flights: Vec<Option<Flight>>,
    live: Vec<usize>,
    /// Probe indices sorted by namespace; `next` is the first not started.
    order: Vec<usize>,
    next: usize,
    handles: HashMap<String, Result<Netns, String>>,
    /// One raw ICMP socket per namespace, by slot.
    raw: Vec<(String, OwnedFd)>,
    raw_slot: HashMap<String, Result<usize, String>>,
    /// (slot, id, seq) → probe index.
    icmp_keys: HashMap<(usize, u16, u16), usize>,
    id_base: u16,
    buf: Vec<u8>,
}

impl<'a> Engine<'a> {
    fn new(probes: &'a [Probe], opts: &'a ProbeOptions) -> Engine<'a> {
        let mut order: Vec<usize> = (0..probes.len()).collect();
        order.sort_by(|a, b| probes[*a].ns.cmp(&probes[*b].ns));
        let mut r = [0u8; 2];
        sys::random_bytes(&mut r);
        Engine {
            probes,
            opts,
            max: opts.max_in_flight.max(1),
            results: vec![None; probes.len()],
            flights: (0..probes.len()).map(|_| None).collect(),
            live: Vec::new(),
            order,
            next: 0,
            handles: HashMap::new(),
            raw: Vec::new(),
            raw_slot: HashMap::new(),
            icmp_keys: HashMap::new(),
            id_base: u16::from_ne_bytes(r),
            buf: vec![0u8; 4096],
        }
    }

    fn run(&mut self) {
        loop {
            self.refill();
            if self.live.is_empty() {
                if self.next >= self.order.len() {
                    return;
                }
                continue;
            }
            let (mut fds, targets) = self.pollfds();
            let now = Instant::now();
            let wake = self
                .live
                .iter()
                .filter_map(|&i| self.flights[i].as_ref())
                .flat_map(|f| [Some(f.deadline), f.resend_at])
                .flatten()
                .min()
                .unwrap_or(now);
            let wait = wake.saturating_duration_since(now);
            // round up, so that the deadline has passed when poll returns
            let ms = wait.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
            match sys::poll(&mut fds, ms) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let msg = format!("poll: {e}");
                    for i in std::mem::take(&mut self.live) {
                        self.finish(i, ProbeResult::error(msg.clone()));
                    }
                    continue;
                }
            }
            for (pfd, target) in fds.iter().zip(&targets) {
                if pfd.revents == 0 {
                    continue;
                }
                match *target {
                    Target::Raw(slot) => self.read_raw(slot),
                    Target::Flight(i) => self.event(i, pfd.revents),
                }
            }
            self.expire();
            let flights = &self.flights;
            self.live.retain(|&i| flights[i].is_some());
        }
    }

    /// Starts more probes while there is room: in batches of at least a
    /// quarter of the window, to keep namespace hops few.
    fn refill(&mut self) {
        let free = self.max.saturating_sub(self.live.len());
        let remaining = self.order.len() - self.next;
        if free == 0 || remaining == 0 {
            return;
        }
        let threshold = (self.max / 4).clamp(1, remaining);
        if free < threshold && !self.live.is_empty() {
            return;
        }
        let take = free.min(remaining);
        let batch: Vec<usize> = self.order[self.next..self.next + take].to_vec();
        self.next += take;
        let probes = self.probes;
        for group in batch.chunk_by(|a, b| probes[*a].ns == probes[*b].ns) {
            self.open_group(group);
        }
    }

    fn open_group(&mut self, group: &[usize]) {
        let ns = self.probes[group[0]].ns.clone();
        let kinds: Vec<ProbeKind> = group.iter().map(|&i| self.probes[i].kind).collect();
        let ports: Vec<u16> = group
            .iter()
            .map(|&i| self.opts.source_ports.get(i).copied().unwrap_or(0))
            .collect();
        let need_raw = kinds.contains(&ProbeKind::IcmpEcho) && !self.raw_slot.contains_key(&ns);
        let handle = self
            .handles
            .entry(ns.clone())
            .or_insert_with(|| Netns::open(&ns).map_err(|e| e.to_string()));
        let opened: io::Result<Opened> = match handle {
            Ok(h) => h.run(move || open_sockets(&kinds, &ports, need_raw)),
            Err(e) => Err(io::Error::other(e.clone())),
        };
        let (socks, raw) = match opened {
            Ok(o) => o,
            Err(e) => {
                for &i in group {
                    self.finish(i, ProbeResult::error(e.to_string()));
                }
                return;
            }
        };
        match raw {
            Some(Ok(fd)) => {
                self.raw_slot.insert(ns.clone(), Ok(self.raw.len()));
                self.raw.push((ns.clone(), fd));
            }
            Some(Err(e)) => {
                self.raw_slot
                    .insert(ns.clone(), Err(format!("raw ICMP socket: {e}")));
            }
            None => {}
        }
        for (&i, sock) in group.iter().zip(socks) {
            match sock {
                Ok(fd) => self.start(i, fd),
                Err(e) => self.finish(i, ProbeResult::error(format!("socket: {e}"))),
            }
        }
    }

    fn flight(&self, start: Instant, live: Live) -> Flight {
        let resends = match live {
            Live::Tcp { .. } => 0,
            _ => self.opts.retries,
        };
        let step = self.opts.timeout / (resends + 1);
        Flight {
            start,
            deadline: start + self.opts.timeout,
            resend_at: (resends > 0).then(|| start + step),
            resends_left: resends,
            live,
        }
    }

    fn start(&mut self, i: usize, fd: Option<OwnedFd>) {
        let probes = self.probes;
        let p = &probes[i];
        let start = Instant::now();
        match (p.kind, fd) {
            (ProbeKind::IcmpEcho, _) => {
                let slot = match self.raw_slot.get(&p.ns) {
                    Some(Ok(s)) => *s,
                    Some(Err(e)) => return self.finish(i, ProbeResult::error(e.clone())),
                    None => return self.finish(i, ProbeResult::error("no raw ICMP socket")),
                };
                let id = self.id_base.wrapping_add((i >> 16) as u16);
                let seq = i as u16;
                let packet = echo_request(id, seq);
                if let Err(e) = sys::send_to(self.raw[slot].1.as_raw_fd(), &packet, p.dst, 0) {
                    return self.finish(i, errno_result(&e, None));
                }
                self.icmp_keys.insert((slot, id, seq), i);
                let f = self.flight(
                    start,
                    Live::Icmp {
                        slot,
                        key: (id, seq),
                        packet,
                    },
                );
                self.flights[i] = Some(f);
                self.live.push(i);
            }
            (ProbeKind::Tcp(port), Some(fd)) => match sys::connect(fd.as_raw_fd(), p.dst, port) {
                Ok(()) => {
                    // connected at once (a local address)
                    let rtt = start.elapsed();
                    if self.opts.read_banner {
                        let f = self.flight(
                            start,
                            Live::Tcp {
                                fd,
                                rtt: Some(rtt),
                                banner: Vec::new(),
                            },
                        );
                        self.flights[i] = Some(f);
                        self.live.push(i);
                    } else {
                        self.finish(i, reply(rtt));
                    }
                }
                Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {
                    let f = self.flight(
                        start,
                        Live::Tcp {
                            fd,
                            rtt: None,
                            banner: Vec::new(),
                        },
                    );
                    self.flights[i] = Some(f);
                    self.live.push(i);
                }
                Err(e) => {
                    let icmp = sys::read_errqueue(fd.as_raw_fd());
                    self.finish(i, errno_result(&e, icmp));
                }
            },
            (ProbeKind::Udp(port), Some(fd)) => {
                let mut token = [0u8; TOKEN_LEN];
                token[..TOKEN_PREFIX.len()].copy_from_slice(TOKEN_PREFIX);
                sys::random_bytes(&mut token[TOKEN_PREFIX.len()..]);
                let sent = sys::connect(fd.as_raw_fd(), p.dst, port)
                    .and_then(|()| sys::send(fd.as_raw_fd(), &token));
                if let Err(e) = sent {
                    let icmp = sys::read_errqueue(fd.as_raw_fd());
                    return self.finish(i, errno_result(&e, icmp));
                }
                let f = self.flight(start, Live::Udp { fd, token });
                self.flights[i] = Some(f);
                self.live.push(i);
            }
            (_, None) => self.finish(i, ProbeResult::error("no socket")),
        }
    }

    fn finish(&mut self, i: usize, mut result: ProbeResult) {
        if let Some(f) = self.flights[i].take() {
            if let Live::Icmp { slot, key, .. } = f.live {
                self.icmp_keys.remove(&(slot, key.0, key.1));
            }
            if result.rtt.is_none()
                && matches!(result.outcome, Outcome::Refused | Outcome::Unreachable)
            {
                result.rtt = Some(f.start.elapsed());
            }
        }
        self.results[i] = Some(result);
    }

    fn pollfds(&self) -> (Vec<libc::pollfd>, Vec<Target>) {
        let mut fds = Vec::with_capacity(self.raw.len() + self.live.len());
        let mut targets = Vec::with_capacity(fds.capacity());
        let pfd = |fd: RawFd, events: libc::c_short| libc::pollfd {
            fd,
            events,
            revents: 0,
        };
        if !self.icmp_keys.is_empty() {
            for (slot, (_, fd)) in self.raw.iter().enumerate() {
                fds.push(pfd(fd.as_raw_fd(), libc::POLLIN));
                targets.push(Target::Raw(slot));
            }
        }
        for &i in &self.live {
            let (fd, events) = match self.flights[i].as_ref().map(|f| &f.live) {
                Some(Live::Tcp { fd, rtt: None, .. }) => (fd, libc::POLLOUT),
                Some(Live::Tcp { fd, .. }) | Some(Live::Udp { fd, .. }) => (fd, libc::POLLIN),
                _ => continue,
            };
            fds.push(pfd(fd.as_raw_fd(), events));
            targets.push(Target::Flight(i));
        }
        (fds, targets)
    }

    /// A TCP or UDP probe's socket is ready.
    fn event(&mut self, i: usize, revents: libc::c_short) {
        let read_banner = self.opts.read_banner;
        let Some(f) = self.flights[i].as_mut() else {
            return;
        };
        let start = f.start;
        let done = match &mut f.live {
            Live::Icmp { .. } => None,
            Live::Tcp {
                fd,
                rtt: rtt @ None,
                ..
            } => match sys::so_error(fd.as_raw_fd()) {
                Ok(0) if revents & libc::POLLOUT != 0 => {
                    let took = start.elapsed();
                    if read_banner {
                        *rtt = Some(took);
                        None
                    } else {
                        Some(reply(took))
                    }
                }
                Ok(0) => None,
                Ok(errno) => Some(errno_result(
                    &io::Error::from_raw_os_error(errno),
                    sys::read_errqueue(fd.as_raw_fd()),
                )),
                Err(e) => Some(ProbeResult::error(format!("SO_ERROR: {e}"))),
            },
            Live::Tcp {
                fd,
                rtt: Some(rtt),
                banner,
            } => read_banner_step(fd.as_raw_fd(), banner).then(|| with_banner(*rtt, banner)),
            Live::Udp { fd, token } => {
                udp_step(fd.as_raw_fd(), token, revents, start, &mut self.buf)
            }
        };
        if let Some(r) = done {
            self.finish(i, r);
        }
    }

    /// Drains a namespace's raw ICMP socket.
    fn read_raw(&mut self, slot: usize) {
        // a bound on the work per wake-up; poll comes back for the rest
        for _ in 0..1024 {
            let fd = self.raw[slot].1.as_raw_fd();
            let n = match sys::recv(fd, &mut self.buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    tracing::warn!(ns = %self.raw[slot].0, "raw ICMP socket: {e}");
                    return;
                }
            };
            let Some(seen) = parse_icmp(&self.buf[..n]) else {
                continue;
            };
            let Some(&i) = self.icmp_keys.get(&(slot, seen.id, seen.seq)) else {
                continue;
            };
            let probes = self.probes;
            let p = &probes[i];
            let Some(f) = self.flights[i].as_ref() else {
                continue;
            };
            let rtt = f.start.elapsed();
            match seen.error {
                None if seen.src == p.dst => self.finish(i, reply(rtt)),
                None => {} // an echo reply from someone else
                Some(_) if seen.inner_dst != p.dst => {}
                Some(icmp) => {
                    let mut r = ProbeResult::new(icmp.outcome());
                    r.rtt = Some(rtt);
                    r.icmp = Some(icmp);
                    self.finish(i, r);
                }
            }
        }
    }

    /// Ends the probes past their deadline; sends again those due.
    fn expire(&mut self) {
        let now = Instant::now();
        for k in 0..self.live.len() {
            let i = self.live[k];
            let Some(f) = self.flights[i].as_mut() else {
                continue;
            };
            if now >= f.deadline {
                let r = match &f.live {
                    Live::Tcp {
                        rtt: Some(rtt),
                        banner,
                        ..
                    } => with_banner(*rtt, banner),
                    _ => ProbeResult::new(Outcome::Timeout),
                };
                self.finish(i, r);
                continue;
            }
            let Some(at) = f.resend_at.filter(|at| now >= *at) else {
                continue;
            };
            f.resends_left = f.resends_left.saturating_sub(1);
            f.resend_at =
                (f.resends_left > 0).then(|| at + self.opts.timeout / (self.opts.retries + 1));
            let dst = self.probes[i].dst;
            let failed = match &f.live {
                Live::Icmp { slot, packet, .. } => {
                    sys::send_to(self.raw[*slot].1.as_raw_fd(), packet, dst, 0)
                        .err()
                        .map(|e| errno_result(&e, None))
                }
                Live::Udp { fd, token } => sys::send(fd.as_raw_fd(), token)
                    .err()
                    .map(|e| errno_result(&e, sys::read_errqueue(fd.as_raw_fd()))),
                Live::Tcp { .. } => None,
            };
            if let Some(r) = failed {
                self.finish(i, r);
            }
        }
    }
}

fn reply(rtt: Duration) -> ProbeResult {
    let mut r = ProbeResult::new(Outcome::Reply);
    r.rtt = Some(rtt);
    r
}

fn with_banner(rtt: Duration, banner: &[u8]) -> ProbeResult {
    let mut r = reply(rtt);
    let line = banner.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if !line.is_empty() {
        r.banner = Some(String::from_utf8_lossy(line).into_owned());
    }
    r
}

/// Reads what the server sent; true once the banner is complete (a line,
/// the size limit, the end of the stream or an error).
fn read_banner_step(fd: RawFd, banner: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; BANNER_MAX];
    loop {
        let room = BANNER_MAX - banner.len();
        match sys::recv(fd, &mut chunk[..room]) {
            Ok(0) => return true,
            Ok(n) => {
                banner.extend_from_slice(&chunk[..n]);
                if banner.contains(&b'\n') || banner.len() >= BANNER_MAX {
                    return true;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return true,
        }
    }
}

/// Handles a UDP probe's readiness; the result once it has one.
fn udp_step(
    fd: RawFd,
    token: &[u8],
    revents: libc::c_short,
    start: Instant,
    buf: &mut [u8],
) -> Option<ProbeResult> {
    if revents & libc::POLLERR != 0 {
        let icmp = sys::read_errqueue(fd);
        match sys::so_error(fd) {
            Ok(0) => {
                if let Some(icmp) = icmp {
                    let mut r = ProbeResult::new(icmp.outcome());
                    r.icmp = Some(icmp);
                    return Some(r);
                }
            }
            Ok(errno) => return Some(errno_result(&io::Error::from_raw_os_error(errno), icmp)),
            Err(e) => return Some(ProbeResult::error(format!("SO_ERROR: {e}"))),
        }
    }
    for _ in 0..64 {
        match sys::recv(fd, buf) {
            Ok(n) if &buf[..n] == token => return Some(reply(start.elapsed())),
            Ok(_) => {} // not ours (a stale datagram): keep waiting
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return None,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Some(errno_result(&e, sys::read_errqueue(fd))),
        }
    }
    None
}

/// Opens one socket per probe (none for ICMP), bound to its source port
/// when it has one (not 0), and, if asked, the raw ICMP socket; run on a
/// thread inside the source namespace.
fn open_sockets(kinds: &[ProbeKind], ports: &[u16], need_raw: bool) -> Opened {
    let socks = kinds
        .iter()
        .zip(ports)
        .map(|(k, &port)| match k {
            ProbeKind::IcmpEcho => Ok(None),
            ProbeKind::Tcp(_) | ProbeKind::Udp(_) => {
                let ty = if matches!(k, ProbeKind::Tcp(_)) {
                    libc::SOCK_STREAM
                } else {
                    libc::SOCK_DGRAM
                };
                let fd = sys::socket(ty, 0)?;
                // ICMP errors in detail (type, code, sender), and all of
                // them reported on UDP, not only the "hard" ones
                sys::set_int(fd.as_raw_fd(), libc::IPPROTO_IP, libc::IP_RECVERR, 1)?;
                if port != 0 {
                    // other probes to other destinations may hold it too
                    sys::set_int(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
                    sys::bind(fd.as_raw_fd(), Ipv4Addr::UNSPECIFIED, port)?;
                }
                Ok(Some(fd))
            }
        })
        .collect();
    let raw = need_raw.then(|| -> io::Result<OwnedFd> {
        let fd = sys::socket(libc::SOCK_RAW, libc::IPPROTO_ICMP)?;
        // only echo reply (0), destination unreachable (3), time exceeded (11)
        let wanted: u32 = (1 << 0) | (1 << 3) | (1 << 11);
        sys::set_int(
            fd.as_raw_fd(),
            libc::SOL_RAW,
            ICMP_FILTER,
            !wanted as libc::c_int,
        )?;
        // room for many replies at once; best effort
        let _ = sys::set_int(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            1 << 20,
        );
        Ok(fd)
    });
    (socks, raw)
}

/// The outcome for an errno (and the ICMP error behind it, if known).
fn errno_result(e: &io::Error, icmp: Option<IcmpError>) -> ProbeResult {
    let errno = e.raw_os_error().unwrap_or(0);
    let outcome = if let Some(icmp) = icmp {
        icmp.outcome()
    } else {
        match errno {
            libc::ECONNREFUSED => Outcome::Refused,
            libc::EHOSTUNREACH
            | libc::ENETUNREACH
            | libc::ENETDOWN
            | libc::EHOSTDOWN
            | libc::EACCES
            | libc::EINVAL => Outcome::Unreachable,
            libc::ETIMEDOUT | libc::EPERM => Outcome::Timeout,
            _ => return ProbeResult::error(e.to_string()),
        }
    };
    let mut r = ProbeResult::new(outcome);
    r.icmp = icmp;
    r.detail = Some(match errno {
        libc::EPERM => format!("{e} (dropped by a firewall in the source namespace)"),
        libc::EACCES => format!("{e} (a prohibit route in the source namespace)"),
        libc::EINVAL => format!("{e} (a blackhole route in the source namespace)"),
        _ => e.to_string(),
    });
    r
}

mod icmp;
/// Thin, checked wrappers over the socket calls (shared with the agent).
pub(crate) mod sys;

use icmp::{echo_request, parse_icmp};

/// The test fixture shared with the agent's tests.
#[cfg(test)]
pub(crate) mod test_pair;

#[cfg(test)]
mod tests {
    use super::test_pair::{pair, A_IP, B_IP};
    use super::*;
    use crate::agent::{self, AgentSpec, ListenSpec};
    use crate::ops::lab::{root_or_skip, sh as run};

    fn probe(ns: &str, dst: Ipv4Addr, kind: ProbeKind) -> Probe {
        Probe {
            ns: ns.to_string(),
            dst,
            kind,
        }
    }

    fn outcomes(r: &[ProbeResult]) -> Vec<Outcome> {
        r.iter().map(|r| r.outcome.clone()).collect()
    }

    fn agent_in(ns: &str, tcp: Vec<u16>, udp: Vec<u16>) -> agent::AgentHandle {
        agent::spawn(&AgentSpec {
            listeners: vec![ListenSpec {
                ns: ns.to_string(),
                node: "web".into(),
                tcp,
                udp,
                icmp: true,
                http: Vec::new(),
                cpu_per_request: None,
                health_paths: Vec::new(),
                cpu_group: None,
            }],
        })
        .expect("agent")
    }

    #[test]
    fn results_serialise() {
        let mut r = reply(Duration::from_micros(1500));
        r.banner = Some("hi".into());
        let j = serde_json::to_value(&r).expect("json");
        assert_eq!(
            j,
            serde_json::json!({"outcome": "reply", "rtt_ms": 1.5, "banner": "hi"})
        );
        let p = serde_json::to_value(probe("x", B_IP, ProbeKind::Tcp(80))).expect("json");
        assert_eq!(
            p,
            serde_json::json!({"ns": "x", "dst": "10.77.0.2", "kind": {"tcp": 80}})
        );
    }

    #[test]
    fn missing_namespace_is_an_error() {
        let r = run_probes(
            &[probe("vspr-no-such-namespace", B_IP, ProbeKind::Tcp(1))],
            Duration::from_millis(100),
            4,
        );
        assert!(
            matches!(&r[0].outcome, Outcome::Error(e) if e.contains("vspr-no-such-namespace")),
            "{r:?}"
        );
    }

    #[test]
    fn probes_see_the_agent() {
        if !root_or_skip("probes_see_the_agent") {
            return;
        }
        let lab = pair("vspr");
        let _agent = agent_in(&lab.b, vec![8080], vec![5353]);
        // b has a second address, reached through a route in a: b's
        // replies to it must come from it, not from b's eth0 address
        let b2 = Ipv4Addr::new(10, 78, 0, 2);
        run(&[
            "ip",
            "-n",
            &lab.b,
            "addr",
            "add",
            "10.78.0.2/32",
            "dev",
            "lo",
        ]);
        run(&[
            "ip",
            "-n",
            &lab.a,
            "route",
            "add",
            "10.78.0.0/24",
            "via",
            "10.77.0.2",
        ]);
        let a = lab.a.as_str();
        let probes = [
            probe(a, B_IP, ProbeKind::Tcp(8080)),
            probe(a, B_IP, ProbeKind::Udp(5353)),
            probe(a, B_IP, ProbeKind::Tcp(8081)),
            probe(a, B_IP, ProbeKind::Udp(5354)),
            probe(a, B_IP, ProbeKind::IcmpEcho),
            probe(&lab.b, B_IP, ProbeKind::Tcp(8080)),
            probe(&lab.b, Ipv4Addr::LOCALHOST, ProbeKind::IcmpEcho),
            probe(&lab.b, A_IP, ProbeKind::IcmpEcho),
            probe(a, b2, ProbeKind::Udp(5353)),
            probe(a, b2, ProbeKind::Tcp(8080)),
            probe(a, b2, ProbeKind::IcmpEcho),
        ];
        let opts = ProbeOptions {
            timeout: Duration::from_secs(2),
            read_banner: true,
            ..ProbeOptions::default()
        };
        let r = run_probes_with(&probes, &opts);
        use Outcome::*;
        assert_eq!(
            outcomes(&r),
            vec![Reply, Reply, Refused, Refused, Reply, Reply, Reply, Reply, Reply, Reply, Reply],
            "{r:#?}"
        );
        assert_eq!(r[0].banner.as_deref(), Some("vifgate web tcp/8080"));
        assert!(r.iter().all(|r| r.rtt.is_some()), "{r:#?}");
        assert_eq!(
            r[3].icmp,
            Some(IcmpError {
                from: Some(B_IP),
                icmp_type: 3,
                code: 3
            })
        );
        // without read_banner, the same answers
        let r2 = run_probes(&probes, Duration::from_secs(2), 2);
        assert_eq!(outcomes(&r2), outcomes(&r), "{r2:#?}");
        assert!(r2.iter().all(|r| r.banner.is_none()));
    }

    #[test]
    fn drops_time_out_and_rejects_refuse() {
        if !root_or_skip("drops_time_out_and_rejects_refuse") {
            return;
        }
        let lab = pair("vspr");
        let _agent = agent_in(&lab.b, vec![9000, 9002, 9004], vec![9001, 9003]);
        run(&[
            "ip",
            "netns",
            "exec",
            &lab.b,
            "nft",
            "add table inet t; \
             add chain inet t in { type filter hook input priority 0; policy accept; }; \
             add rule inet t in tcp dport 9000 drop; \
             add rule inet t in udp dport 9001 drop; \
             add rule inet t in icmp type echo-request drop; \
             add rule inet t in tcp dport 9002 reject with tcp reset; \
             add rule inet t in udp dport 9003 reject with icmp type admin-prohibited; \
             add rule inet t in tcp dport 9004 reject with icmp type host-unreachable",
        ]);
        let a = lab.a.as_str();
        let probes = [
            probe(a, B_IP, ProbeKind::Tcp(9000)),
            probe(a, B_IP, ProbeKind::Udp(9001)),
            probe(a, B_IP, ProbeKind::IcmpEcho),
            probe(a, B_IP, ProbeKind::Tcp(9002)),
            probe(a, B_IP, ProbeKind::Udp(9003)),
            probe(a, B_IP, ProbeKind::Tcp(9004)),
        ];
        let t0 = Instant::now();
        let r = run_probes(&probes, Duration::from_millis(600), 16);
        use Outcome::*;
        assert_eq!(
            outcomes(&r),
            vec![Timeout, Timeout, Timeout, Refused, Refused, Unreachable],
            "{r:#?}"
        );
        assert!(
            t0.elapsed() < Duration::from_millis(1800),
            "{:?}",
            t0.elapsed()
        );
        assert_eq!(r[4].icmp.map(|i| (i.icmp_type, i.code)), Some((3, 13)));
        assert_eq!(
            r[5].icmp.map(|i| (i.icmp_type, i.code, i.from)),
            Some((3, 1, Some(B_IP)))
        );
    }

    #[test]
    fn no_route_is_unreachable() {
        if !root_or_skip("no_route_is_unreachable") {
            return;
        }
        let lab = pair("vspr");
        let a = lab.a.as_str();
        // a has no default route: TEST-NET-2 has no route at all
        let far = Ipv4Addr::new(198, 51, 100, 7);
        // on the link, but nobody has it: neighbour resolution fails
        let absent = Ipv4Addr::new(10, 77, 0, 99);
        let mut probes = Vec::new();
        for dst in [far, absent] {
            for kind in [ProbeKind::IcmpEcho, ProbeKind::Tcp(80), ProbeKind::Udp(53)] {
                probes.push(probe(a, dst, kind));
            }
        }
        let r = run_probes(&probes, Duration::from_millis(500), 16);
        for r in &r[..3] {
            assert_eq!(r.outcome, Outcome::Unreachable, "{r:#?}");
            assert!(
                r.detail.as_deref().unwrap_or("").contains("unreachable"),
                "{r:#?}"
            );
        }
        for r in &r[3..] {
            assert!(
                matches!(r.outcome, Outcome::Unreachable | Outcome::Timeout),
                "{r:#?}"
            );
        }
    }

    #[test]
    fn many_probes_take_about_one_timeout() {
        if !root_or_skip("many_probes_take_about_one_timeout") {
            return;
        }
        let lab = pair("vspr");
        let _agent = agent_in(&lab.b, vec![7000], vec![7001]);
        run(&[
            "ip",
            "netns",
            "exec",
            &lab.b,
            "nft",
            "add table inet t; \
             add chain inet t in { type filter hook input priority 0; policy accept; }; \
             add rule inet t in tcp dport 7002 drop",
        ]);
        let a = lab.a.as_str();
        // expected outcome for probe i
        let plan = |i: usize| match i % 5 {
            0 => (probe(a, B_IP, ProbeKind::Tcp(7000)), Outcome::Reply),
            1 => (probe(a, B_IP, ProbeKind::Udp(7001)), Outcome::Reply),
            2 => (probe(a, B_IP, ProbeKind::IcmpEcho), Outcome::Reply),
            3 => (probe(a, B_IP, ProbeKind::Tcp(7002)), Outcome::Timeout),
            // closed UDP ports: refused, every one (no ICMP rate limit)
            _ => (
                probe(a, B_IP, ProbeKind::Udp(7100 + i as u16)),
                Outcome::Refused,
            ),
        };
        let (probes, want): (Vec<Probe>, Vec<Outcome>) = (0..200).map(plan).unzip();
        let timeout = Duration::from_secs(1);
        let t0 = Instant::now();
        let r = run_probes(&probes, timeout, 256);
        let took = t0.elapsed();
        for ((p, r), want) in probes.iter().zip(&r).zip(&want) {
            assert_eq!(&r.outcome, want, "{p:?}: {r:?}");
        }
        assert!(took < 3 * timeout, "200 probes took {took:?}");

        // a small window, two source namespaces: all answered, in order
        let b = lab.b.as_str();
        let plan = |i: usize| match i % 4 {
            0 => (probe(a, B_IP, ProbeKind::Tcp(7000)), Outcome::Reply),
            1 => (probe(b, A_IP, ProbeKind::Tcp(7000)), Outcome::Refused),
            2 => (probe(b, A_IP, ProbeKind::IcmpEcho), Outcome::Reply),
            _ => (probe(a, B_IP, ProbeKind::Udp(7001)), Outcome::Reply),
        };
        let (probes, want): (Vec<Probe>, Vec<Outcome>) = (0..300).map(plan).unzip();
        let r = run_probes(&probes, timeout, 8);
        assert_eq!(outcomes(&r), want);
    }
}
