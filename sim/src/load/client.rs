//! The load generator's shell: a tokio runtime on one thread inside the
//! sending node's namespace (so every socket is that node's). Each client
//! has its cookie jar, a queue of requests due and up to `connections`
//! workers, each with one keep-alive connection (a `TcpStream`, no
//! delay) it writes requests to from a reused buffer and reads answers
//! from into another, through [`http1`]'s sans-IO reader. One timer
//! drives the sends, and each answer gives the sends due by then their
//! turn; outcomes go straight to the [`Generator`], which decides what is
//! due and what it meant: the shell only moves bytes and sleeps.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::net::SocketAddrV4;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::cookies::CookieJar;
use super::generator::{Generator, Send};
use super::haproxy_stat;
use super::http1::{RequestHead, ResponseReader};
use super::schedule::Schedule;
use super::stats::{ErrorKind, Outcome, SecondRecord, Summary};
use super::{LoadError, TARGET_HEADER};
use crate::kernel::netns::Netns;

/// How often the capacity is read from HAProxy's stats socket.
const CAPACITY_EVERY: Duration = Duration::from_millis(500);

/// A worker's read buffer: a response head must fit in it.
const READ_BUFFER: usize = 16 * 1024;

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
    ns.run(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(LoadError::Runtime)?;
        let local = tokio::task::LocalSet::new();
        local.block_on(&rt, drive(opts, on_second))
    })
    .map_err(LoadError::Namespace)?
}

/// One client: the requests due that wait for a worker, its workers, its
/// cookies, and the session they belong to.
struct Client {
    queue: RefCell<VecDeque<Send>>,
    /// Workers started.
    workers: Cell<usize>,
    /// The workers waiting for a request, the last to finish on top: the
    /// next request goes to it, so that the client uses as few of its
    /// connections as keep up and each of them stays busy enough for the
    /// kernel to delay its ACKs onto the next request (a connection idle
    /// for longer acknowledges every answer in a packet of its own).
    idle: RefCell<Vec<Rc<Notify>>>,
    jar: RefCell<CookieJar>,
    session: Cell<u64>,
}

impl Client {
    fn new() -> Client {
        Client {
            queue: RefCell::new(VecDeque::new()),
            workers: Cell::new(0),
            idle: RefCell::new(Vec::new()),
            jar: RefCell::new(CookieJar::new()),
            session: Cell::new(0),
        }
    }

    /// Starts `session` if it is a new one: no cookies (each worker opens
    /// a new connection for it, [`worker`]).
    fn begin(&self, session: u64) {
        if self.session.get() != session {
            self.session.set(session);
            *self.jar.borrow_mut() = CookieJar::new();
        }
    }

    /// Queues `send` for the last idle worker, or a new one while the
    /// client has fewer than `connections`; else it waits for a busy one.
    fn push(self: &Rc<Client>, send: Send, shared: &Rc<Shared>) {
        self.queue.borrow_mut().push_back(send);
        let idle = self.idle.borrow_mut().pop();
        if let Some(worker) = idle {
            worker.notify_one();
        } else if self.workers.get() < shared.connections {
            self.workers.set(self.workers.get() + 1);
            tokio::task::spawn_local(worker(self.clone(), shared.clone()));
        }
    }

    /// The next request due, waiting for one (again if another worker took
    /// the one it was woken for).
    async fn next(&self, wake: &Rc<Notify>) -> Send {
        loop {
            if let Some(send) = self.queue.borrow_mut().pop_front() {
                return send;
            }
            self.idle.borrow_mut().push(wake.clone());
            wake.notified().await;
        }
    }
}

/// What every request of a run shares.
struct Shared {
    start: Instant,
    addr: SocketAddrV4,
    request: RequestHead,
    path: String,
    timeout: Duration,
    connections: usize,
    generator: RefCell<Generator>,
    /// Woken by each outcome: the sends due by then leave while the
    /// thread is awake for it, rather than on a wake-up of their own.
    answered: Notify,
}

async fn drive(
    opts: RunOptions,
    mut on_second: impl FnMut(&SecondRecord),
) -> Result<RunResult, LoadError> {
    let start = Instant::now();
    let shared = Rc::new(Shared {
        start,
        addr: opts.addr,
        request: RequestHead::new(&opts.path, &opts.addr.to_string()),
        path: opts.path.clone(),
        timeout: opts.timeout,
        connections: opts.connections.max(1),
        generator: RefCell::new({
            let g = Generator::new(opts.schedule, opts.clients).with_timeout(opts.timeout);
            match opts.session {
                Some(n) => g.with_sessions(n),
                None => g,
            }
        }),
        answered: Notify::new(),
    });
    let clients: Vec<Rc<Client>> = (0..opts.clients.max(1))
        .map(|_| Rc::new(Client::new()))
        .collect();
    let capacity = Rc::new(Cell::new(None));
    if let Some((sock, backend)) = opts.stats.clone() {
        tokio::task::spawn_local(read_capacity(sock, backend, capacity.clone()));
    }
    let mut seconds = Vec::new();
    let mut interrupted = false;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    // the one timer of the sends, moved to each wake-up
    let sleep = tokio::time::sleep_until(start);
    tokio::pin!(sleep);
    loop {
        let now = start.elapsed();
        let wake = {
            let mut g = shared.generator.borrow_mut();
            g.handle_capacity(capacity.get());
            while let Some(record) = g.poll_second(now) {
                on_second(&record);
                seconds.push(record);
            }
            while let Some(send) = g.poll_send(now) {
                clients[send.client].push(send, &shared);
            }
            g.poll_timeout()
        };
        let Some(wake) = wake else {
            break;
        };
        if sleep.deadline() != start + wake {
            sleep.as_mut().reset(start + wake);
        }
        tokio::select! {
            biased;
            _ = &mut ctrl_c => {
                interrupted = true;
                break;
            }
            _ = shared.answered.notified() => {}
            _ = &mut sleep => {}
        }
    }
    let mut g = shared.generator.borrow_mut();
    g.handle_capacity(capacity.get());
    if let Some(record) = g.flush_second() {
        on_second(&record);
        seconds.push(record);
    }
    Ok(RunResult {
        summary: g.summary(start.elapsed(), interrupted),
        seconds,
    })
}

/// Reads the targets in service every [`CAPACITY_EVERY`] into
/// `capacity` (`None` while the socket does not answer).
async fn read_capacity(sock: PathBuf, backend: String, capacity: Rc<Cell<Option<u32>>>) {
    loop {
        let (s, b) = (sock.clone(), backend.clone());
        let read = tokio::task::spawn_blocking(move || {
            crate::apply::targets::haproxy_api(&s, "show stat")
                .ok()
                .map(|text| haproxy_stat::capacity(&text, &b))
        });
        capacity.set(read.await.ok().flatten());
        tokio::time::sleep(CAPACITY_EVERY).await;
    }
}

/// Seconds since the Unix epoch, for cookie expiry.
fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// One worker of `client`: takes its requests due, one at a time, on its
/// own connection (opened when needed, again after the load balancer
/// closed it), and hands each outcome to the generator.
async fn worker(client: Rc<Client>, shared: Rc<Shared>) {
    let mut conn = Connection::new();
    let mut conn_session = 0;
    let wake = Rc::new(Notify::new());
    loop {
        let send = client.next(&wake).await;
        client.begin(send.session);
        // a new visitor: a connection of its own
        if conn_session != send.session {
            conn.close();
            conn_session = send.session;
        }
        let cookie = client.jar.borrow_mut().header(&shared.path, unix_now());
        let with_cookie = cookie.is_some();
        // the time allowed runs from when it was due, as its latency does
        let deadline = shared.start + send.scheduled + shared.timeout;
        let result = if Instant::now() >= deadline {
            None
        } else {
            let exchange = conn.exchange(&client, send.session, &shared, cookie.as_deref());
            tokio::time::timeout_at(deadline, exchange).await.ok()
        };
        let (target, error) = match result {
            None => {
                // its answer may still come: not on the next request's
                conn.close();
                (None, Some(ErrorKind::Timeout))
            }
            Some(Err(kind)) => (None, Some(kind)),
            Some(Ok((status, target))) => (target, ErrorKind::of_status(status)),
        };
        shared.generator.borrow_mut().handle_outcome(Outcome {
            client: send.client,
            scheduled: send.scheduled,
            session: send.session,
            finished: shared.start.elapsed(),
            target,
            with_cookie,
            error,
        });
        shared.answered.notify_one();
    }
}

/// A worker's connection and its buffers.
struct Connection {
    stream: Option<TcpStream>,
    /// The request being sent.
    out: Vec<u8>,
    /// Bytes read, `read[at..filled]` not yet consumed.
    read: Box<[u8]>,
    at: usize,
    filled: usize,
}

impl Connection {
    fn new() -> Connection {
        Connection {
            stream: None,
            out: Vec::with_capacity(512),
            read: vec![0; READ_BUFFER].into_boxed_slice(),
            at: 0,
            filled: 0,
        }
    }

    fn close(&mut self) {
        self.stream = None;
        self.at = 0;
        self.filled = 0;
    }

    /// One request and its answer: the status and the target that
    /// answered. A kept-alive connection that the load balancer closed
    /// while idle (nothing of the answer came) is opened again once, as a
    /// browser does for a `GET`.
    async fn exchange(
        &mut self,
        client: &Client,
        session: u64,
        shared: &Shared,
        cookie: Option<&str>,
    ) -> Result<(u16, Option<String>), ErrorKind> {
        shared.request.write(cookie, &mut self.out);
        let reused = self.stream.is_some();
        match self.send_and_read(client, session, shared).await {
            Err(Exchange::ClosedBeforeAnswer) if reused => {
                self.close();
                self.send_and_read(client, session, shared).await
            }
            r => r,
        }
        .map_err(|e| {
            self.close();
            match e {
                Exchange::Connect => ErrorKind::Connect,
                Exchange::ClosedBeforeAnswer | Exchange::Broken => ErrorKind::Broken,
            }
        })
    }

    /// `session`: the client's session the request is of; an earlier
    /// visitor's answer sets no cookie of the new one.
    async fn send_and_read(
        &mut self,
        client: &Client,
        session: u64,
        shared: &Shared,
    ) -> Result<(u16, Option<String>), Exchange> {
        let stream = match &mut self.stream {
            Some(s) => s,
            None => {
                let s = TcpStream::connect(shared.addr)
                    .await
                    .map_err(|_| Exchange::Connect)?;
                let _ = s.set_nodelay(true);
                self.stream.insert(s)
            }
        };
        stream
            .write_all(&self.out)
            .await
            .map_err(|_| Exchange::ClosedBeforeAnswer)?;
        let mut reader = ResponseReader::new();
        let mut target = None;
        let mut any = false;
        let answer = loop {
            let progress = reader
                .read(&self.read[self.at..self.filled], |name, value| {
                    if name.eq_ignore_ascii_case("set-cookie") && client.session.get() == session {
                        if let Ok(v) = std::str::from_utf8(value) {
                            client.jar.borrow_mut().store(v, &shared.path, unix_now());
                        }
                    } else if name.eq_ignore_ascii_case(TARGET_HEADER) {
                        target = std::str::from_utf8(value).ok().map(str::to_string);
                    }
                })
                .map_err(|_| Exchange::Broken)?;
            self.at += progress.consumed;
            if let Some(answer) = progress.done {
                break answer;
            }
            if self.at == self.filled {
                (self.at, self.filled) = (0, 0);
            } else if self.filled == self.read.len() {
                if self.at == 0 {
                    // a head larger than the buffer
                    return Err(Exchange::Broken);
                }
                self.read.copy_within(self.at..self.filled, 0);
                (self.at, self.filled) = (0, self.filled - self.at);
            }
            let n = match stream.read(&mut self.read[self.filled..]).await {
                Ok(0) | Err(_) if !any => return Err(Exchange::ClosedBeforeAnswer),
                Ok(0) => break reader.eof().map_err(|_| Exchange::Broken)?,
                Err(_) => return Err(Exchange::Broken),
                Ok(n) => n,
            };
            any = true;
            self.filled += n;
        };
        if !answer.keep_alive || self.at != self.filled {
            // closed by the server, or bytes no request asked for
            self.close();
        }
        Ok((answer.status, target))
    }
}

/// How an exchange failed.
enum Exchange {
    Connect,
    /// The connection ended before any byte of the answer.
    ClosedBeforeAnswer,
    Broken,
}
