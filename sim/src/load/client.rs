//! The load generator's shell: a tokio runtime on one thread inside the
//! sending node's namespace (so every socket is that node's), hyper's
//! HTTP/1.1 client, one keep-alive connection pool and one cookie jar per
//! client. It only moves bytes and sleeps; what is due and what it meant
//! is [`Generator`]'s.

use std::cell::{Cell, RefCell};
use std::net::SocketAddrV4;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http_body_util::{BodyExt as _, Empty};
use hyper::body::Bytes;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{HeaderValue, COOKIE, HOST, SET_COOKIE};
use hyper::{Request, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Semaphore};
use tokio::time::Instant;

use super::cookies::CookieJar;
use super::generator::{Generator, Send};
use super::haproxy_stat;
use super::schedule::Schedule;
use super::stats::{ErrorKind, Outcome, SecondRecord, Summary};
use super::{LoadError, TARGET_HEADER};
use crate::kernel::netns::Netns;

/// How often the capacity is read from HAProxy's stats socket.
const CAPACITY_EVERY: Duration = Duration::from_millis(500);

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

/// One client: its idle connections, the slots that bound how many it
/// has, its cookies, and the session they belong to.
struct Client {
    idle: RefCell<Vec<SendRequest<Empty<Bytes>>>>,
    slots: Semaphore,
    jar: RefCell<CookieJar>,
    session: Cell<u64>,
}

impl Client {
    fn new(connections: usize) -> Client {
        Client {
            idle: RefCell::new(Vec::new()),
            slots: Semaphore::new(connections.max(1)),
            jar: RefCell::new(CookieJar::new()),
            session: Cell::new(0),
        }
    }

    /// Starts `session` if it is a new one: no cookies, no idle
    /// connection (those in use close when their answer is read).
    fn begin(&self, session: u64) {
        if self.session.get() != session {
            self.session.set(session);
            *self.jar.borrow_mut() = CookieJar::new();
            self.idle.borrow_mut().clear();
        }
    }
}

/// What every request of a run shares.
struct Shared {
    start: Instant,
    addr: SocketAddrV4,
    /// The `Host` header and the request's URI, made once for every
    /// request.
    host: HeaderValue,
    uri: Uri,
    path: String,
    timeout: Duration,
    outcomes: mpsc::UnboundedSender<Outcome>,
}

async fn drive(
    opts: RunOptions,
    mut on_second: impl FnMut(&SecondRecord),
) -> Result<RunResult, LoadError> {
    let start = Instant::now();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let uri = super::request_uri(&opts.path)?;
    let host = HeaderValue::from_str(&opts.addr.to_string())
        .map_err(|_| LoadError::Path(opts.path.clone()))?;
    let shared = Rc::new(Shared {
        start,
        addr: opts.addr,
        host,
        uri,
        path: opts.path.clone(),
        timeout: opts.timeout,
        outcomes: tx,
    });
    let clients: Vec<Rc<Client>> = (0..opts.clients.max(1))
        .map(|_| Rc::new(Client::new(opts.connections)))
        .collect();
    let capacity = Rc::new(Cell::new(None));
    if let Some((sock, backend)) = opts.stats.clone() {
        tokio::task::spawn_local(read_capacity(sock, backend, capacity.clone()));
    }
    let mut g = Generator::new(opts.schedule, opts.clients);
    if let Some(n) = opts.session {
        g = g.with_sessions(n);
    }
    let mut seconds = Vec::new();
    let mut interrupted = false;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    // one timer, moved to each wake-up
    let sleep = tokio::time::sleep_until(start);
    tokio::pin!(sleep);
    loop {
        let now = start.elapsed();
        g.handle_capacity(capacity.get());
        while let Some(record) = g.poll_second(now) {
            on_second(&record);
            seconds.push(record);
        }
        while let Some(send) = g.poll_send(now) {
            let client = clients[send.client].clone();
            tokio::task::spawn_local(request(client, send, shared.clone()));
        }
        let Some(wake) = g.poll_timeout() else {
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
            Some(o) = rx.recv() => {
                g.handle_outcome(o);
                while let Ok(o) = rx.try_recv() {
                    g.handle_outcome(o);
                }
            }
            _ = &mut sleep => {}
        }
    }
    while let Ok(o) = rx.try_recv() {
        g.handle_outcome(o);
    }
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

/// The status and target of an answer.
struct Answer {
    status: u16,
    target: Option<String>,
}

/// Sends one request of `client` and reports its outcome.
async fn request(client: Rc<Client>, send: Send, shared: Rc<Shared>) {
    client.begin(send.session);
    let cookie = client.jar.borrow_mut().header(&shared.path, unix_now());
    let with_cookie = cookie.is_some();
    // the time allowed runs from when it was due, as its latency does
    let deadline = shared.start + send.scheduled + shared.timeout;
    let result =
        tokio::time::timeout_at(deadline, exchange(&client, send.session, &shared, cookie)).await;
    let (target, error) = match result {
        Err(_) => (None, Some(ErrorKind::Timeout)),
        Ok(Err(kind)) => (None, Some(kind)),
        Ok(Ok(a)) => (a.target, ErrorKind::of_status(a.status)),
    };
    let _ = shared.outcomes.send(Outcome {
        client: send.client,
        scheduled: send.scheduled,
        session: send.session,
        finished: shared.start.elapsed(),
        target,
        with_cookie,
        error,
    });
}

/// One request of `client`'s `session` and its answer, on an idle
/// connection of the client or a new one once a slot is free; the
/// connection goes back to the pool if it stays open and the session is
/// still the client's.
async fn exchange(
    client: &Client,
    session: u64,
    shared: &Shared,
    cookie: Option<String>,
) -> Result<Answer, ErrorKind> {
    // never closed: a wait for a connection of this client
    let _slot = client
        .slots
        .acquire()
        .await
        .map_err(|_| ErrorKind::Broken)?;
    let mut sender = loop {
        let idle = client.idle.borrow_mut().pop();
        match idle {
            Some(s) if !s.is_closed() => break s,
            Some(_) => continue,
            None => break connect(shared.addr).await?,
        }
    };
    sender.ready().await.map_err(|_| ErrorKind::Broken)?;
    let mut req = Request::get(shared.uri.clone()).header(HOST, shared.host.clone());
    if let Some(c) = cookie {
        req = req.header(COOKIE, c);
    }
    let req = req
        .body(Empty::<Bytes>::new())
        .map_err(|_| ErrorKind::Broken)?;
    let response = sender
        .send_request(req)
        .await
        .map_err(|_| ErrorKind::Broken)?;
    let status = response.status().as_u16();
    // an earlier visitor's answer sets no cookie of the new one
    let current = client.session.get() == session;
    if current {
        let now = unix_now();
        let mut jar = client.jar.borrow_mut();
        for v in response.headers().get_all(SET_COOKIE) {
            if let Ok(v) = v.to_str() {
                jar.store(v, &shared.path, now);
            }
        }
    }
    let target = response
        .headers()
        .get(TARGET_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    // read to its end, nothing kept
    let mut body = response.into_body();
    while let Some(frame) = body.frame().await {
        frame.map_err(|_| ErrorKind::Broken)?;
    }
    if current && !sender.is_closed() {
        client.idle.borrow_mut().push(sender);
    }
    Ok(Answer { status, target })
}

/// A new connection to `addr`, its HTTP/1.1 driver running beside.
async fn connect(addr: SocketAddrV4) -> Result<SendRequest<Empty<Bytes>>, ErrorKind> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|_| ErrorKind::Connect)?;
    let _ = stream.set_nodelay(true);
    let (sender, conn) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|_| ErrorKind::Connect)?;
    tokio::task::spawn_local(async move {
        let _ = conn.await;
    });
    Ok(sender)
}
