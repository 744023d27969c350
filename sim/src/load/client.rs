//! The load generator's shell, as wrk's: one thread inside the sending
//! node's namespace (so every socket is that node's) and one event loop.
//! Each turn reads every answer that came, closes the seconds past, ends
//! the exchanges whose time ran out, then sends every request due, and
//! sleeps until the next one is due (exact to the microsecond: the
//! thread's timer slack is 1 µs). An open loop must wake for each send;
//! it does not wake for each answer as well: answers wait in their
//! sockets, each stamped by the kernel with its arrival
//! ([`crate::kernel::rx_timestamp`]), and are read at the next wake-up,
//! their latency counted to that arrival, not to when they were read.
//! The loop waits on epoll ([`crate::kernel::epoll`], `epoll_pwait2`'s
//! timeout exact to the nanosecond) instead of sleeping while a connect is
//! under way or a request is not all written, and after the last send;
//! while a request waits for a busy connection it sleeps at most
//! [`QUEUED_POLL`]. No task per connection, no timer wheel, no wake-up of
//! the loop by itself.
//!
//! Each client has its cookie jar, a queue of requests due and up to
//! `connections` workers, each with one keep-alive connection
//! (`TCP_NODELAY`, registered once, edge-triggered) it writes requests to
//! from a reused buffer and reads answers from into another, through
//! [`http1`](super::http1)'s sans-IO reader. Outcomes go to the
//! [`Generator`], which decides what is due and what it meant: the shell
//! only moves bytes and waits.
//!
//! It was a tokio runtime (a task per connection, a `Notify` to wake one,
//! a timer for the sends) until that cost 1.6 to 1.7 times wrk's CPU a
//! request: more than one context switch a request, a self-wake (an
//! eventfd `write`) for many, and 16 µs of user space each. The design
//! card says tokio; as with hyper before it, the measured gain is the
//! reason for a loop of its own (BENCHMARKS.md, "Where `sim load`'s CPU
//! goes").

use std::collections::VecDeque;
use std::io::{self, Read as _, Write as _};
use std::net::{SocketAddrV4, TcpStream};
use std::os::fd::AsRawFd as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use socket2::{Domain, Protocol, Socket, Type};

use super::cookies::CookieJar;
use super::generator::{Generator, Send};
use super::haproxy_stat;
use super::http1::{Answer, RequestHead, ResponseReader};
use super::interrupt::Interrupt;
use super::schedule::Schedule;
use super::stats::{ErrorKind, Outcome, SecondRecord, Summary};
use super::{LoadError, TARGET_HEADER};
use crate::kernel::epoll::{Epoll, Events, Ready};
use crate::kernel::netns::Netns;
use crate::kernel::rx_timestamp;

/// How often the capacity is read from HAProxy's stats socket.
const CAPACITY_EVERY: Duration = Duration::from_millis(500);

/// A worker's read buffer: a response head must fit in it.
const READ_BUFFER: usize = 16 * 1024;

/// While a request waits for a busy connection, the longest the loop
/// sleeps before it reads the answers that came (and sends it on the
/// connection one freed): at rates above 1000/s the next send comes
/// sooner.
const QUEUED_POLL: Duration = Duration::from_millis(1);

/// The epoll token of Ctrl-C ([`Interrupt`]); a worker's is its index.
const INTERRUPT_TOKEN: u64 = u64::MAX;

/// The capacity not known (the stats socket did not answer).
const CAPACITY_UNKNOWN: u32 = u32::MAX;

/// What a run sends, where from and where to.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The namespace the requests leave from.
    pub ns: String,
    /// The load balancer's address and port.
    pub addr: SocketAddrV4,
    /// The request path.
    pub path: String,
    /// When each request is due.
    pub schedule: Schedule,
    /// Clients, each with its own connections and cookies.
    pub clients: usize,
    /// Requests a client sends before it starts a new session (a new
    /// visitor: its cookies and connections dropped); `None`: one
    /// session for the run.
    pub session: Option<u64>,
    /// The most connections a client opens: a request due while all of
    /// them are busy waits for one (its latency, counted from when it was
    /// due, shows the wait), rather than opening ever more connections to
    /// a load balancer that no longer keeps up.
    pub connections: usize,
    /// How long after it was due a request may be answered before it
    /// counts as a timeout.
    pub timeout: Duration,
    /// HAProxy's stats socket and the listener's backend, for the
    /// capacity; `None` when the load balancer is not HAProxy.
    pub stats: Option<(PathBuf, String)>,
}

/// What a run measured.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// Each second.
    pub seconds: Vec<SecondRecord>,
    /// The whole run.
    pub summary: Summary,
}

/// Runs the load of `opts`, calling `on_second` as each second closes;
/// Ctrl-C ends it early with what was measured so far
/// (`summary.interrupted`).
pub fn run(
    opts: RunOptions,
    on_second: impl FnMut(&SecondRecord) + std::marker::Send + 'static,
) -> Result<RunResult, LoadError> {
    super::check_request_path(&opts.path)?;
    let ns = Netns::open(&opts.ns).map_err(LoadError::Namespace)?;
    ns.run(move || drive(opts, on_second))
        .map_err(LoadError::Namespace)?
}

/// One client: the requests due that wait for a worker, its workers, its
/// cookies, and the session they belong to.
struct Client {
    queue: VecDeque<Send>,
    /// Workers started (indexes into [`Loop::workers`]).
    workers: usize,
    /// The workers waiting for a request, the last to finish on top: the
    /// next request goes to it, so that the client uses as few of its
    /// connections as keep up and each of them stays busy enough for the
    /// kernel to delay its ACKs onto the next request (a connection idle
    /// for longer acknowledges every answer in a packet of its own).
    idle: Vec<usize>,
    jar: CookieJar,
    session: u64,
}

impl Client {
    fn new() -> Client {
        Client {
            queue: VecDeque::new(),
            workers: 0,
            idle: Vec::new(),
            jar: CookieJar::new(),
            session: 0,
        }
    }

    /// Starts `session` if it is a new one: no cookies (each worker opens
    /// a new connection for it, [`Worker::begin`]).
    fn begin(&mut self, session: u64) {
        if self.session != session {
            self.session = session;
            self.jar = CookieJar::new();
        }
    }
}

/// What every request of a run shares.
struct Config {
    addr: SocketAddrV4,
    request: RequestHead,
    path: String,
    timeout: Duration,
    connections: usize,
}

/// The clocks at a turn of the loop.
#[derive(Debug, Clone, Copy)]
struct Turn {
    /// Since the start of the run (monotonic).
    now: Duration,
    /// The start of the run as time since the Unix epoch, read again at
    /// each turn (the two clocks may drift apart by a step or a slew).
    epoch_start: Duration,
}

impl Turn {
    fn read(start: Instant) -> Turn {
        let now = start.elapsed();
        let epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Turn {
            now,
            epoch_start: epoch.saturating_sub(now),
        }
    }

    /// Seconds since the Unix epoch, for cookie expiry.
    fn unix(&self) -> f64 {
        (self.epoch_start + self.now).as_secs_f64()
    }

    /// When an answer whose last bytes the kernel stamped `arrived` (since
    /// the epoch) came, from the start of the run: now when unstamped.
    fn arrival(&self, arrived: Option<Duration>) -> Duration {
        arrived.map_or(self.now, |a| {
            a.saturating_sub(self.epoch_start).min(self.now)
        })
    }
}

/// The event loop's state.
struct Loop {
    cfg: Config,
    epoll: Epoll,
    generator: Generator,
    clients: Vec<Client>,
    workers: Vec<Worker>,
    /// The `Cookie` header being sent, a buffer reused.
    cookie: String,
}

fn drive(
    opts: RunOptions,
    mut on_second: impl FnMut(&SecondRecord),
) -> Result<RunResult, LoadError> {
    let epoll = Epoll::new().map_err(LoadError::Runtime)?;
    let interrupt = Interrupt::catch().map_err(LoadError::Runtime)?;
    epoll
        .add(interrupt.as_raw_fd(), INTERRUPT_TOKEN)
        .map_err(LoadError::Runtime)?;
    let capacity = Arc::new(AtomicU32::new(CAPACITY_UNKNOWN));
    // dropped at the end: the reader's next wait ends and so does it
    let (stop_capacity, stopped) = mpsc::channel::<()>();
    if let Some((sock, backend)) = opts.stats.clone() {
        let capacity = capacity.clone();
        std::thread::spawn(move || read_capacity(&sock, &backend, &capacity, &stopped));
    }
    let mut l = Loop {
        cfg: Config {
            addr: opts.addr,
            request: RequestHead::new(&opts.path, &opts.addr.to_string()),
            path: opts.path.clone(),
            timeout: opts.timeout,
            connections: opts.connections.max(1),
        },
        epoll,
        generator: {
            let g = Generator::new(opts.schedule, opts.clients).with_timeout(opts.timeout);
            match opts.session {
                Some(n) => g.with_sessions(n),
                None => g,
            }
        },
        clients: (0..opts.clients.max(1)).map(|_| Client::new()).collect(),
        workers: Vec::new(),
        cookie: String::new(),
    };
    let mut events = Events::with_capacity(256);
    let mut seconds = Vec::new();
    let mut interrupted = false;
    precise_timers();
    // the run starts once everything is made
    let start = Instant::now();
    // when the first exchange in flight runs out, as of the last turn
    let mut earliest: Option<Duration> = None;
    loop {
        let turn = Turn::read(start);
        let now = turn.now;
        // the answers that came since the last turn, each at its arrival:
        // counted in the second they came in, before it closes
        for ready in events.iter() {
            if ready.token == INTERRUPT_TOKEN {
                interrupted |= ready.readable;
            } else {
                l.on_ready(ready, turn);
            }
        }
        if interrupted {
            break;
        }
        let capacity = capacity.load(Ordering::Relaxed);
        l.generator
            .handle_capacity((capacity != CAPACITY_UNKNOWN).then_some(capacity));
        while let Some(record) = l.generator.poll_second(now) {
            on_second(&record);
            seconds.push(record);
        }
        if earliest.is_some_and(|d| d <= now) {
            l.expire(turn);
        }
        while let Some(send) = l.generator.poll_send(now) {
            l.push(send, turn);
        }
        let Some(mut wake) = l.generator.poll_timeout() else {
            break;
        };
        let (in_progress, deadline) = l.in_flight();
        earliest = deadline;
        if let Some(deadline) = deadline {
            wake = wake.min(deadline);
        }
        if l.has_queued() {
            // a request waits for a connection: the answers are read (and
            // the request sent) by the next send or within QUEUED_POLL
            wake = wake.min(now + QUEUED_POLL);
        }
        let timeout = wake.saturating_sub(start.elapsed());
        if in_progress || l.generator.all_sent() {
            l.epoll.wait(&mut events, Some(timeout))
        } else {
            // asleep until the next send: the answers that come meanwhile
            // wait in their sockets, stamped with their arrival, and are
            // read then, a wake-up for both
            if !timeout.is_zero() {
                std::thread::sleep(timeout);
            }
            l.epoll.wait(&mut events, Some(Duration::ZERO))
        }
        .map_err(LoadError::Runtime)?;
    }
    drop(stop_capacity);
    let capacity = capacity.load(Ordering::Relaxed);
    let g = &mut l.generator;
    g.handle_capacity((capacity != CAPACITY_UNKNOWN).then_some(capacity));
    if let Some(record) = g.flush_second() {
        on_second(&record);
        seconds.push(record);
    }
    Ok(RunResult {
        summary: g.summary(start.elapsed(), interrupted),
        seconds,
    })
}

/// Makes this thread's sleeps end within a microsecond of their time
/// (the kernel's default slack, 50 µs, would make each send that late).
fn precise_timers() {
    // SAFETY: PR_SET_TIMERSLACK takes a number and changes only this
    // thread; a failure leaves the default.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1000 as libc::c_ulong);
    }
}

/// Reads the targets in service every [`CAPACITY_EVERY`] into
/// `capacity` ([`CAPACITY_UNKNOWN`] while the socket does not answer),
/// until `stop`'s sender is dropped.
fn read_capacity(
    sock: &std::path::Path,
    backend: &str,
    capacity: &AtomicU32,
    stop: &mpsc::Receiver<()>,
) {
    loop {
        let read = crate::apply::targets::haproxy_api(sock, "show stat")
            .ok()
            .map(|text| haproxy_stat::capacity(&text, backend));
        capacity.store(read.unwrap_or(CAPACITY_UNKNOWN), Ordering::Relaxed);
        if stop.recv_timeout(CAPACITY_EVERY) != Err(mpsc::RecvTimeoutError::Timeout) {
            return;
        }
    }
}

impl Loop {
    /// Queues `send` for its client's last idle worker, or a new one
    /// while the client has fewer than `connections`; else it waits for
    /// a busy one.
    fn push(&mut self, send: Send, turn: Turn) {
        let c = send.client;
        self.clients[c].queue.push_back(send);
        let worker = match self.clients[c].idle.pop() {
            Some(w) => w,
            None if self.clients[c].workers < self.cfg.connections => {
                self.clients[c].workers += 1;
                self.workers.push(Worker::new(c));
                self.workers.len() - 1
            }
            None => return,
        };
        self.next(worker, turn);
    }

    /// Gives worker `w` its client's next request due, or makes it idle.
    fn next(&mut self, w: usize, turn: Turn) {
        let now = turn.now;
        let c = self.workers[w].client;
        loop {
            let Some(send) = self.clients[c].queue.pop_front() else {
                self.clients[c].idle.push(w);
                return;
            };
            let client = &mut self.clients[c];
            client.begin(send.session);
            client
                .jar
                .write_header(&self.cfg.path, turn.unix(), &mut self.cookie);
            let cookie = (!self.cookie.is_empty()).then_some(self.cookie.as_str());
            match self.workers[w].begin(w, send, cookie, &self.cfg, &self.epoll, now) {
                Ok(()) => return,
                Err(kind) => self.generator.handle_outcome(Outcome {
                    client: c,
                    scheduled: send.scheduled,
                    session: send.session,
                    finished: now,
                    target: None,
                    with_cookie: cookie.is_some(),
                    error: Some(kind),
                }),
            }
        }
    }

    /// Takes worker `ready.token`'s readiness: its outcome, if its
    /// exchange ended, and its next request.
    fn on_ready(&mut self, ready: Ready, turn: Turn) {
        let w = ready.token as usize;
        let Some(worker) = self.workers.get_mut(w) else {
            return;
        };
        let c = worker.client;
        let client = &mut self.clients[c];
        let Some(outcome) = worker.on_ready(
            w,
            ready,
            client,
            &mut self.generator,
            &self.cfg,
            &self.epoll,
            turn,
        ) else {
            return;
        };
        self.generator.handle_outcome(outcome);
        self.next(w, turn);
    }

    /// The exchanges in flight, in one pass: whether the loop must wake
    /// for readiness rather than sleep until its next send (a connect is
    /// under way or a request is not all written), and the earliest time
    /// one runs out.
    fn in_flight(&self) -> (bool, Option<Duration>) {
        let mut in_progress = false;
        let mut earliest: Option<Duration> = None;
        for w in &self.workers {
            let Some(x) = &w.exchange else {
                continue;
            };
            in_progress |= w.connecting || w.written < w.out.len();
            earliest = Some(earliest.map_or(x.deadline, |e| e.min(x.deadline)));
        }
        (in_progress, earliest)
    }

    /// Whether a request due waits for one of its client's connections.
    fn has_queued(&self) -> bool {
        self.clients.iter().any(|c| !c.queue.is_empty())
    }

    /// Ends the exchanges whose time ran out by the turn (their answer
    /// may still come: not on the next request's connection).
    fn expire(&mut self, turn: Turn) {
        let now = turn.now;
        for w in 0..self.workers.len() {
            let worker = &mut self.workers[w];
            let Some(x) = worker.exchange.as_ref().filter(|x| x.deadline <= now) else {
                continue;
            };
            let outcome = Outcome {
                client: worker.client,
                scheduled: x.send.scheduled,
                session: x.send.session,
                finished: now,
                target: None,
                with_cookie: x.with_cookie,
                error: Some(ErrorKind::Timeout),
            };
            worker.exchange = None;
            worker.close();
            self.generator.handle_outcome(outcome);
            self.next(w, turn);
        }
    }
}

/// The request a worker has in flight.
struct Exchange {
    send: Send,
    /// When it counts as a timeout: from when it was due, as its latency.
    deadline: Duration,
    with_cookie: bool,
    reader: ResponseReader,
    target: Option<super::generator::TargetId>,
    /// Whether a byte of the answer came.
    any: bool,
    /// When the kernel received the answer's last bytes read so far,
    /// since the Unix epoch.
    arrived: Option<Duration>,
    /// Whether it may be sent again on a new connection if this one ends
    /// before any byte of the answer: once, on a connection kept alive
    /// from an earlier request (which the load balancer may have closed
    /// while idle), as a browser does for a `GET`.
    may_retry: bool,
}

/// One worker of a client: its connection, its buffers and the request
/// on it.
struct Worker {
    client: usize,
    stream: Option<TcpStream>,
    /// Until the connection's connect finishes.
    connecting: bool,
    /// The client's session the connection is of.
    session: u64,
    exchange: Option<Exchange>,
    /// The request being sent, `out[written..]` not yet.
    out: Vec<u8>,
    written: usize,
    /// Bytes read, `read[at..filled]` not yet consumed.
    read: Box<[u8]>,
    at: usize,
    filled: usize,
}

/// How a step of an exchange failed.
enum Failure {
    Connect,
    /// The connection ended before any byte of the answer.
    ClosedBeforeAnswer,
    Broken,
}

impl Worker {
    fn new(client: usize) -> Worker {
        Worker {
            client,
            stream: None,
            connecting: false,
            session: 0,
            exchange: None,
            out: Vec::with_capacity(512),
            written: 0,
            read: vec![0; READ_BUFFER].into_boxed_slice(),
            at: 0,
            filled: 0,
        }
    }

    fn close(&mut self) {
        self.stream = None;
        self.connecting = false;
        self.at = 0;
        self.filled = 0;
    }

    /// Starts `send` (worker `w`): on its connection, opened if needed (a
    /// new visitor gets one of its own). The error of a request that ends
    /// at once (due longer ago than the timeout, no connection).
    fn begin(
        &mut self,
        w: usize,
        send: Send,
        cookie: Option<&str>,
        cfg: &Config,
        epoll: &Epoll,
        now: Duration,
    ) -> Result<(), ErrorKind> {
        if self.session != send.session {
            self.close();
            self.session = send.session;
        }
        let deadline = send.scheduled + cfg.timeout;
        if now >= deadline {
            return Err(ErrorKind::Timeout);
        }
        cfg.request.write(cookie, &mut self.out);
        self.written = 0;
        self.exchange = Some(Exchange {
            send,
            deadline,
            with_cookie: cookie.is_some(),
            reader: ResponseReader::new(),
            target: None,
            any: false,
            arrived: None,
            may_retry: self.stream.is_some(),
        });
        let started = match self.stream {
            Some(_) => self.flush(),
            None => self.connect(w, cfg, epoll),
        };
        started
            .or_else(|f| self.retry(f, w, cfg, epoll))
            .inspect_err(|_| {
                self.exchange = None;
                self.close();
            })
    }

    /// Opens the connection (its connect finishes later) under token `w`.
    fn connect(&mut self, w: usize, cfg: &Config, epoll: &Epoll) -> Result<(), Failure> {
        self.close();
        let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))
            .map_err(|_| Failure::Connect)?;
        socket.set_nonblocking(true).map_err(|_| Failure::Connect)?;
        let _ = socket.set_tcp_nodelay(true);
        // without it, an answer's latency runs to when it is read
        let _ = rx_timestamp::enable(socket.as_raw_fd());
        match socket.connect(&std::net::SocketAddr::V4(cfg.addr).into()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
            Err(_) => return Err(Failure::Connect),
        }
        epoll
            .add(socket.as_raw_fd(), w as u64)
            .map_err(|_| Failure::Connect)?;
        self.stream = Some(TcpStream::from(socket));
        self.connecting = true;
        Ok(())
    }

    /// Writes what is left of the request, as far as the socket takes it.
    fn flush(&mut self) -> Result<(), Failure> {
        let Some(stream) = self.stream.as_mut().filter(|_| !self.connecting) else {
            return Ok(());
        };
        while self.written < self.out.len() {
            match stream.write(&self.out[self.written..]) {
                Ok(n) => self.written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Err(Failure::ClosedBeforeAnswer),
            }
        }
        Ok(())
    }

    /// After `failure`: the request sent again on a new connection if it
    /// may be, else the error it ends with.
    fn retry(
        &mut self,
        failure: Failure,
        w: usize,
        cfg: &Config,
        epoll: &Epoll,
    ) -> Result<(), ErrorKind> {
        let x = self.exchange.as_mut().ok_or(ErrorKind::Broken)?;
        match failure {
            Failure::ClosedBeforeAnswer if x.may_retry => {
                x.may_retry = false;
                x.any = false;
                x.arrived = None;
                x.reader = ResponseReader::new();
                self.written = 0;
                self.connect(w, cfg, epoll).map_err(|_| ErrorKind::Connect)
            }
            Failure::Connect => Err(ErrorKind::Connect),
            Failure::ClosedBeforeAnswer | Failure::Broken => Err(ErrorKind::Broken),
        }
    }

    /// Takes the connection's readiness: the outcome, once the exchange
    /// on it ends.
    #[allow(clippy::too_many_arguments)]
    fn on_ready(
        &mut self,
        w: usize,
        ready: Ready,
        client: &mut Client,
        generator: &mut Generator,
        cfg: &Config,
        epoll: &Epoll,
        turn: Turn,
    ) -> Option<Outcome> {
        let now = turn.now;
        let stream = self.stream.as_ref()?;
        if self.exchange.is_none() {
            // idle: the load balancer closed it (or sent what no request
            // asked for); the next request opens another
            if ready.readable && !drained(stream) {
                self.close();
            }
            return None;
        }
        let step = self.step(ready, client, generator, cfg, turn);
        let (answer, target) = match step {
            Ok(None) => return None,
            Ok(Some(done)) => done,
            Err(f) => match self.retry(f, w, cfg, epoll) {
                Ok(()) => return None,
                Err(kind) => {
                    self.close();
                    return self.end(now, None, Some(kind));
                }
            },
        };
        if !answer.keep_alive || self.at != self.filled {
            // closed by the server, or bytes no request asked for
            self.close();
        }
        let arrived = turn.arrival(self.exchange.as_ref().and_then(|x| x.arrived));
        self.end(arrived, target, ErrorKind::of_status(answer.status))
    }

    /// The outcome of the exchange, which ends at `finished`.
    fn end(
        &mut self,
        finished: Duration,
        target: Option<super::generator::TargetId>,
        error: Option<ErrorKind>,
    ) -> Option<Outcome> {
        let x = self.exchange.take()?;
        Some(Outcome {
            client: self.client,
            scheduled: x.send.scheduled,
            session: x.send.session,
            finished,
            target,
            with_cookie: x.with_cookie,
            error,
        })
    }

    /// Moves the exchange on: the connect's end, the rest of the request,
    /// the answer's bytes; the answer once whole.
    fn step(
        &mut self,
        ready: Ready,
        client: &mut Client,
        generator: &mut Generator,
        cfg: &Config,
        turn: Turn,
    ) -> Result<Option<(Answer, Option<super::generator::TargetId>)>, Failure> {
        if self.connecting {
            if !ready.writable {
                return Ok(None);
            }
            let stream = self.stream.as_ref().ok_or(Failure::Connect)?;
            match stream.take_error() {
                Ok(None) => self.connecting = false,
                _ => return Err(Failure::Connect),
            }
        }
        self.flush()?;
        if self.written < self.out.len() {
            return Ok(None);
        }
        let Some(x) = self.exchange.as_mut() else {
            return Ok(None);
        };
        let Some(stream) = self.stream.as_ref() else {
            return Err(Failure::Broken);
        };
        loop {
            let session = x.send.session;
            let target = &mut x.target;
            let progress = x
                .reader
                .read(&self.read[self.at..self.filled], |name, value| {
                    if name.eq_ignore_ascii_case("set-cookie") && client.session == session {
                        if let Ok(v) = std::str::from_utf8(value) {
                            client.jar.store(v, &cfg.path, turn.unix());
                        }
                    } else if name.eq_ignore_ascii_case(TARGET_HEADER) {
                        *target = std::str::from_utf8(value).ok().map(|n| generator.target(n));
                    }
                })
                .map_err(|_| Failure::Broken)?;
            self.at += progress.consumed;
            if let Some(answer) = progress.done {
                return Ok(Some((answer, x.target)));
            }
            if self.at == self.filled {
                (self.at, self.filled) = (0, 0);
            } else if self.filled == self.read.len() {
                if self.at == 0 {
                    // a head larger than the buffer
                    return Err(Failure::Broken);
                }
                self.read.copy_within(self.at..self.filled, 0);
                (self.at, self.filled) = (0, self.filled - self.at);
            }
            match rx_timestamp::recv(stream.as_raw_fd(), &mut self.read[self.filled..]) {
                Ok((0, _)) if !x.any => return Err(Failure::ClosedBeforeAnswer),
                Ok((0, _)) => {
                    let answer = x.reader.eof().map_err(|_| Failure::Broken)?;
                    return Ok(Some((answer, x.target)));
                }
                Ok((n, arrived)) => {
                    x.any = true;
                    x.arrived = arrived.or(x.arrived);
                    self.filled += n;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) if !x.any => return Err(Failure::ClosedBeforeAnswer),
                Err(_) => return Err(Failure::Broken),
            }
        }
    }
}

/// Reads an idle connection until it would block: whether it is still
/// open with nothing read (its end, an error or unasked bytes: `false`).
fn drained(mut stream: &TcpStream) -> bool {
    let mut buf = [0u8; 512];
    loop {
        match stream.read(&mut buf) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::profile::Profile;
    use std::io::BufRead as _;
    use std::net::TcpListener;

    /// A keep-alive HTTP/1.1 server on the loopback, a thread a
    /// connection: each answer names target `t0` or `t1` (by connection),
    /// sets a cookie, and records the `Cookie` header it got; after
    /// `close_after` answers a connection is closed (as a load balancer
    /// closes one idle); requests to `/hang` are never answered.
    fn server(close_after: usize) -> (SocketAddrV4, Arc<std::sync::Mutex<Vec<Option<String>>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let std::net::SocketAddr::V4(addr) = listener.local_addr().expect("addr") else {
            panic!("not IPv4");
        };
        let cookies = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = cookies.clone();
        std::thread::spawn(move || {
            for (n, conn) in listener.incoming().enumerate() {
                let Ok(conn) = conn else { return };
                let seen = seen.clone();
                std::thread::spawn(move || {
                    let mut r = io::BufReader::new(conn.try_clone().expect("clone"));
                    let mut w = conn;
                    for _ in 0..close_after {
                        let (mut path, mut cookie) = (String::new(), None);
                        loop {
                            let mut line = String::new();
                            if r.read_line(&mut line).unwrap_or(0) == 0 {
                                return;
                            }
                            if line.starts_with("GET ") {
                                path = line.split(' ').nth(1).unwrap_or("").to_string();
                            } else if let Some(c) = line.strip_prefix("Cookie: ") {
                                cookie = Some(c.trim().to_string());
                            } else if line == "\r\n" {
                                break;
                            }
                        }
                        seen.lock().expect("lock").push(cookie);
                        if path == "/hang" {
                            std::thread::sleep(Duration::from_secs(2));
                            return;
                        }
                        let answer = format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nSet-Cookie: S=t{}; Path=/\r\n{TARGET_HEADER}: t{}\r\n\r\nok",
                            n % 2,
                            n % 2
                        );
                        if w.write_all(answer.as_bytes()).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (addr, cookies)
    }

    fn options(addr: SocketAddrV4, path: &str, rate: f64, clients: usize) -> RunOptions {
        // one connection a client: each request carries the cookie of the
        // answer before it
        RunOptions {
            ns: String::new(),
            addr,
            path: path.into(),
            schedule: Schedule::new(Profile::constant(rate), Duration::from_millis(1000)),
            clients,
            session: None,
            connections: 1,
            timeout: Duration::from_secs(5),
            stats: None,
        }
    }

    #[test]
    fn the_loop_sends_on_schedule_keeps_cookies_and_counts_targets() {
        let (addr, cookies) = server(usize::MAX);
        let mut lines = 0;
        let r = drive(options(addr, "/", 200.0, 2), |_| lines += 1).expect("run");
        let s = &r.summary;
        assert_eq!((s.sent, s.ok, s.unanswered), (200, 200, 0), "{s}");
        assert!(s.errors.is_empty(), "{s}");
        assert_eq!(s.targets.values().sum::<u64>(), 200, "{s}");
        assert_eq!(lines, 1, "one second");
        // each client's first request went without a cookie, every later
        // one with the cookie its target set
        let cookies = cookies.lock().expect("lock");
        assert_eq!(cookies.iter().filter(|c| c.is_none()).count(), 2);
        assert!(cookies.iter().flatten().all(|c| c == "S=t0" || c == "S=t1"));
        assert!(
            s.clients
                .iter()
                .all(|c| c.with_cookie == 99 && c.moves == 0),
            "{s}"
        );
        assert!(s.send_delay.is_some());
    }

    #[test]
    fn a_connection_closed_by_the_server_is_opened_again_without_an_error() {
        // every connection carries 3 answers, then the server closes it
        let (addr, cookies) = server(3);
        let r = drive(options(addr, "/", 100.0, 1), |_| {}).expect("run");
        let s = &r.summary;
        assert_eq!((s.sent, s.ok), (100, 100), "{s}");
        assert!(s.errors.is_empty(), "{s}");
        assert_eq!(cookies.lock().expect("lock").len(), 100);
    }

    #[test]
    fn an_answer_that_does_not_come_is_a_timeout_from_the_scheduled_time() {
        let (addr, _) = server(usize::MAX);
        let mut opts = options(addr, "/hang", 10.0, 1);
        (opts.connections, opts.timeout) = (4, Duration::from_millis(300));
        let r = drive(opts, |_| {}).expect("run");
        let s = &r.summary;
        assert_eq!(s.sent, 10, "{s}");
        assert_eq!(s.errors.get(&ErrorKind::Timeout), Some(&10), "{s}");
        let l = s.latency.expect("latency");
        // counted from when each was due: 300 ms, give or take the loop
        assert!((299.0..600.0).contains(&l.p50_ms), "{l:?}");
    }
}
