//! The Prometheus endpoint (`[metrics] listen`): `GET /metrics` on a small
//! HTTP server (`tiny_http`) on a thread of its own; anything else is a
//! 404.
//!
//! The data path never waits for a scrape: the server thread asks the
//! router loop for a snapshot through a channel ([`SnapshotRequest`]),
//! the loop answers between two batches of packets with the status
//! document it would give the status socket (a copy of counters, no
//! rendering), and the thread renders it ([`crate::metrics::render`]) and
//! writes the answer.

use std::net::SocketAddr;
use std::sync::mpsc as std_mpsc;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::metrics;
use crate::status::Status;

/// How the server thread asks the router loop for a snapshot: the loop
/// sends the status document back on the enclosed channel.
pub(super) type SnapshotRequest = std_mpsc::Sender<Status>;

/// How long a scrape waits for the router loop's snapshot before it is
/// answered with a 503 (the loop answers between two batches: far less).
const SNAPSHOT_WAIT: Duration = Duration::from_secs(5);

/// A running server; it stops when dropped.
pub(super) struct MetricsServer {
    server: Arc<tiny_http::Server>,
    listen: SocketAddr,
}

impl MetricsServer {
    /// Binds `listen` and serves scrapes on a new thread, asking for
    /// snapshots on `requests`.
    pub(super) fn start(
        listen: SocketAddr,
        requests: mpsc::Sender<SnapshotRequest>,
    ) -> std::io::Result<Self> {
        let server = Arc::new(tiny_http::Server::http(listen).map_err(std::io::Error::other)?);
        let serving = Arc::clone(&server);
        std::thread::Builder::new()
            .name("metrics".into())
            .spawn(move || serve(&serving, &requests))?;
        Ok(MetricsServer { server, listen })
    }

    /// The address it listens on.
    pub(super) fn listen(&self) -> SocketAddr {
        self.listen
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        // the thread leaves its loop after the request in hand, if any,
        // and the listening socket closes with its last reference
        self.server.unblock();
    }
}

/// Answers requests until the server is unblocked.
fn serve(server: &tiny_http::Server, requests: &mpsc::Sender<SnapshotRequest>) {
    for request in server.incoming_requests() {
        let path = request.url().split('?').next().unwrap_or_default();
        let response = if *request.method() == tiny_http::Method::Get && path == "/metrics" {
            scrape(requests)
        } else {
            tiny_http::Response::from_string("not found: try GET /metrics\n").with_status_code(404)
        };
        if let Err(e) = request.respond(response) {
            debug!("metrics: {e}");
        }
    }
}

/// One scrape: a snapshot from the router loop, rendered.
fn scrape(
    requests: &mpsc::Sender<SnapshotRequest>,
) -> tiny_http::Response<std::io::Cursor<Vec<u8>>> {
    let (tx, rx) = std_mpsc::channel();
    let status = match requests.blocking_send(tx) {
        Ok(()) => rx.recv_timeout(SNAPSHOT_WAIT).ok(),
        Err(_) => None,
    };
    let Some(status) = status else {
        warn!("metrics: no snapshot from the router loop");
        return tiny_http::Response::from_string("the gateway is not answering\n")
            .with_status_code(503);
    };
    let body = metrics::render(&status, SystemTime::now());
    let response = tiny_http::Response::from_string(body);
    match tiny_http::Header::from_bytes("Content-Type", metrics::CONTENT_TYPE) {
        Ok(h) => response.with_header(h),
        Err(()) => response,
    }
}
