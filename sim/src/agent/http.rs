//! The listener agent as a load balancer's target: a small HTTP/1.1
//! server on the target port (keep-alive, requests without a body).
//!
//! Every request gets `200 OK` with the body `vifgate NODE http/PORT`,
//! whatever its path: the target group's health-check path too. After
//! spending [`HttpService::cpu_per_request`] of CPU time on it (so that
//! an instance's CPU follows its load; a health check costs nothing, as
//! the lab checks `time_scale` times as often as AWS), it answers.
//!
//! The application cookie: a request whose query has
//! `set-cookie=NAME` gets `Set-Cookie: NAME=NODE-N; Path=/` (N counts the
//! cookies the node gave), as an application sets its session cookie; an
//! ALB with `app_cookie` stickiness on NAME then pins the client.
//!
//! Each connection is served on a thread of its own, so that a slow
//! client or a request's CPU time never holds the agent's poll loop; the
//! thread runs in the node's CPU accounting group while it serves
//! ([`crate::kernel::cgroup`]), so the node's CPU is its own.

use std::io::{self, Read as _, Write as _};
use std::net::TcpStream;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// What an HTTP port of a node answers.
#[derive(Debug)]
pub struct HttpService {
    /// The node's name.
    pub node: String,
    /// The port.
    pub port: u16,
    /// CPU time spent on each request.
    pub cpu_per_request: Option<Duration>,
    /// Paths answered without spending CPU: the health checks'.
    pub free_paths: Vec<String>,
    /// The node's CPU accounting group: each connection's thread runs in
    /// it while it serves.
    pub cpu_group: Option<Arc<crate::kernel::cgroup::NodeGroup>>,
    /// Cookies given so far.
    cookies: AtomicU64,
    /// The connections being served, shared with the service that
    /// replaces this one on a reload.
    connections: Arc<Connections>,
}

/// The sockets of the connections a service serves, so that they can be
/// shut when the node is no longer served.
#[derive(Debug, Default)]
struct Connections(std::sync::Mutex<std::collections::BTreeSet<std::os::fd::RawFd>>);

impl Connections {
    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::BTreeSet<std::os::fd::RawFd>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl HttpService {
    /// The service of `node` on `port`, spending `cpu_per_request` on
    /// each request but those for `free_paths`.
    pub fn new(
        node: &str,
        port: u16,
        cpu_per_request: Option<Duration>,
        free_paths: Vec<String>,
    ) -> Self {
        HttpService {
            node: node.to_string(),
            port,
            cpu_per_request,
            free_paths,
            cpu_group: None,
            cookies: AtomicU64::new(0),
            connections: Arc::default(),
        }
    }

    /// Takes over the connections `old` serves: [`Self::close_connections`]
    /// shuts them too (a reload gives a kept listener a new service).
    pub fn take_connections_of(&mut self, old: &HttpService) {
        self.connections = old.connections.clone();
    }

    /// Shuts every connection being served (both ways): the node is no
    /// longer served (an instance scaled in), so its threads end at once
    /// rather than when their connection idles out, and leave its CPU
    /// accounting group.
    pub fn close_connections(&self) {
        for &fd in self.connections.lock().iter() {
            // SAFETY: shutdown(2) on a socket the set holds: a thread
            // removes its socket from the set (under the lock held here)
            // before it closes it.
            unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
        }
    }

    /// The CPU time request `req` costs: none for the load balancer's
    /// health check (its checker's `User-Agent` on a health-check path),
    /// [`HttpService::cpu_per_request`] for any other request, a
    /// client's for the health check's path too.
    pub fn cost(&self, req: &Request) -> Option<Duration> {
        let path = req.target.split('?').next().unwrap_or("");
        let checker = req.user_agent.as_deref() == Some(crate::layout::HEALTH_CHECK_USER_AGENT);
        if checker && self.free_paths.iter().any(|p| p == path) {
            return None;
        }
        self.cpu_per_request
    }
}

/// The most connections served at once; one more is closed at once.
const MAX_CONNECTIONS: usize = 2048;

/// How long a connection may stay idle between requests.
const IDLE: Duration = Duration::from_secs(30);

/// The largest request head read.
const MAX_HEAD: usize = 16 * 1024;

static CONNECTIONS: AtomicUsize = AtomicUsize::new(0);

/// Serves connection `conn` (a blocking or non-blocking accepted socket)
/// on a thread of its own.
pub fn serve(conn: OwnedFd, svc: Arc<HttpService>) {
    if CONNECTIONS.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
        CONNECTIONS.fetch_sub(1, Ordering::SeqCst);
        tracing::warn!(node = %svc.node, "http: too many connections, one closed");
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("vifgate-http".into())
        .spawn(move || {
            // in the node's group while serving, back to the lab's after
            let _accounted = svc.cpu_group.as_ref().and_then(|g| {
                g.enter()
                    .inspect_err(|e| tracing::debug!(node = %svc.node, "http: {e}"))
                    .ok()
            });
            let mut stream = TcpStream::from(conn);
            let fd = std::os::fd::AsRawFd::as_raw_fd(&stream);
            svc.connections.lock().insert(fd);
            if let Err(e) = serve_connection(&mut stream, &svc) {
                tracing::debug!(node = %svc.node, "http: {e}");
            }
            // out of the set before the socket is closed
            svc.connections.lock().remove(&fd);
            drop(stream);
            CONNECTIONS.fetch_sub(1, Ordering::SeqCst);
        });
    if let Err(e) = spawned {
        CONNECTIONS.fetch_sub(1, Ordering::SeqCst);
        tracing::warn!("http: no thread for a connection: {e}");
    }
}

fn serve_connection(stream: &mut TcpStream, svc: &HttpService) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(IDLE))?;
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let end = loop {
            if let Some(end) = find(&buf, b"\r\n\r\n") {
                break end + 4;
            }
            if buf.len() > MAX_HEAD {
                stream.write_all(b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")?;
                return Ok(());
            }
            let n = stream.read(&mut chunk)?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        let Some(req) = Request::parse(&head) else {
            stream.write_all(
                b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            )?;
            return Ok(());
        };
        // a body is read and left aside
        let mut rest = buf.split_off(end);
        let mut body = req.content_length;
        while rest.len() < body {
            let n = stream.read(&mut chunk)?;
            if n == 0 {
                return Ok(());
            }
            rest.extend_from_slice(&chunk[..n]);
        }
        body = body.min(rest.len());
        buf = rest.split_off(body);
        if let Some(cpu) = svc.cost(&req) {
            spend_cpu(cpu);
        }
        let n = svc.cookies.fetch_add(1, Ordering::Relaxed) + 1;
        stream.write_all(response(&req, svc, n).as_bytes())?;
        if !req.keep_alive {
            return Ok(());
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// What is read of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `GET`, `HEAD`, ...
    pub method: String,
    /// The target (path and query).
    pub target: String,
    /// Whether the connection stays open after the answer.
    pub keep_alive: bool,
    /// The body's length.
    pub content_length: usize,
    /// Its `User-Agent`.
    pub user_agent: Option<String>,
}

impl Request {
    /// The request of `head` (its line and headers, up to the blank
    /// line); none when it is not HTTP/1.x.
    pub fn parse(head: &str) -> Option<Request> {
        let mut lines = head.split("\r\n");
        let mut first = lines.next()?.split(' ');
        let (method, target, version) = (first.next()?, first.next()?, first.next()?);
        let mut keep_alive = match version {
            "HTTP/1.1" => true,
            "HTTP/1.0" => false,
            _ => return None,
        };
        let mut content_length = 0;
        let mut user_agent = None;
        for l in lines {
            let Some((k, v)) = l.split_once(':') else {
                continue;
            };
            let v = v.trim();
            if k.eq_ignore_ascii_case("connection") {
                keep_alive = if v.eq_ignore_ascii_case("close") {
                    false
                } else {
                    keep_alive || v.eq_ignore_ascii_case("keep-alive")
                };
            } else if k.eq_ignore_ascii_case("content-length") {
                content_length = v.parse().ok()?;
            } else if k.eq_ignore_ascii_case("user-agent") {
                user_agent = Some(v.to_string());
            }
        }
        Some(Request {
            method: method.to_string(),
            target: target.to_string(),
            keep_alive,
            content_length,
            user_agent,
        })
    }

    /// The cookie the request asks to be given (`set-cookie=NAME` in its
    /// query), when it is a token.
    pub fn cookie_asked(&self) -> Option<&str> {
        let (_, query) = self.target.split_once('?')?;
        query
            .split('&')
            .filter_map(|kv| kv.strip_prefix("set-cookie="))
            .find(|name| {
                !name.is_empty()
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            })
    }
}

/// The answer to `req`, the `n`-th request of the service.
pub fn response(req: &Request, svc: &HttpService, n: u64) -> String {
    let body = format!("vifgate {} http/{}\n", svc.node, svc.port);
    let mut head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(name) = req.cookie_asked() {
        head.push_str(&format!("Set-Cookie: {name}={}-{n}; Path=/\r\n", svc.node));
    }
    if !req.keep_alive {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    if req.method != "HEAD" {
        head.push_str(&body);
    }
    head
}

/// The CPU time this thread has used.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: writes the given timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Spends `d` of this thread's CPU time (busy, not sleeping).
pub fn spend_cpu(d: Duration) {
    let until = thread_cpu() + d;
    let mut x: u64 = 1;
    while thread_cpu() < until {
        for _ in 0..1000 {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_read_with_its_keep_alive_and_body() {
        let r = Request::parse("GET /a?set-cookie=SESSIONID HTTP/1.1\r\nHost: x\r\n\r\n")
            .expect("parses");
        assert!(r.keep_alive);
        assert_eq!(r.cookie_asked(), Some("SESSIONID"));
        let r = Request::parse("POST / HTTP/1.0\r\nContent-Length: 3\r\n\r\n").expect("parses");
        assert!(!r.keep_alive);
        assert_eq!(r.content_length, 3);
        let r = Request::parse("GET / HTTP/1.1\r\nconnection: Close\r\n\r\n").expect("parses");
        assert!(!r.keep_alive);
        assert_eq!(Request::parse("vifgate\r\n\r\n"), None);
        let r = Request::parse("GET /?set-cookie=a;b HTTP/1.1\r\n\r\n").expect("parses");
        assert_eq!(r.cookie_asked(), None, "not a token");
    }

    #[test]
    fn the_answer_names_the_node_and_sets_the_cookie_asked() {
        let svc = HttpService::new("web-a1", 80, None, Vec::new());
        let r = Request::parse("GET /?set-cookie=SESSIONID HTTP/1.1\r\n\r\n").expect("parses");
        assert_eq!(
            response(&r, &svc, 7),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 23\r\nSet-Cookie: SESSIONID=web-a1-7; Path=/\r\n\r\nvifgate web-a1 http/80\n"
        );
        let r = Request::parse("HEAD /health HTTP/1.0\r\n\r\n").expect("parses");
        assert!(response(&r, &svc, 1).ends_with("Connection: close\r\n\r\n"));
    }

    #[test]
    fn a_health_check_costs_no_cpu_and_a_clients_request_for_its_path_does() {
        let ms = Some(Duration::from_millis(20));
        let svc = HttpService::new("web-a1", 80, ms, vec!["/".into(), "/health".into()]);
        // HAProxy's check, as the lab renders it
        let check = |t: &str| {
            Request::parse(&format!(
                "GET {t} HTTP/1.0\r\nuser-agent: ELB-HealthChecker/2.0\r\n\r\n"
            ))
            .expect("parses")
        };
        assert_eq!(svc.cost(&check("/health")), None);
        assert_eq!(svc.cost(&check("/health?x=1")), None);
        assert_eq!(svc.cost(&check("/")), None);
        assert_eq!(svc.cost(&check("/healthz")), ms, "not a health-check path");
        // a client's request for the health check's path (the default,
        // `/`, is every site's home page) costs as any other
        let client = |t: &str| {
            Request::parse(&format!("GET {t} HTTP/1.1\r\nUser-Agent: curl/8\r\n\r\n"))
                .expect("parses")
        };
        assert_eq!(svc.cost(&client("/")), ms);
        assert_eq!(svc.cost(&client("/health")), ms);
        let bare = Request::parse("GET / HTTP/1.1\r\n\r\n").expect("parses");
        assert_eq!(svc.cost(&bare), ms);
    }

    #[test]
    fn cpu_time_is_spent() {
        let before = thread_cpu();
        spend_cpu(Duration::from_millis(20));
        assert!(thread_cpu() - before >= Duration::from_millis(20));
    }
}
