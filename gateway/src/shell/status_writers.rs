//! Answers on the status socket, written beside the packet loop: a client
//! that connects and does not read (a `vifgate status` stopped with ^Z, a
//! stuck script) must not stall forwarding. The loop renders the document
//! and hands it over; a task writes it, for at most [`WRITE_TIMEOUT`], and
//! at most [`MAX_WRITERS`] at once (a further client is answered by the
//! socket's closing).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::UnixStream;
use tracing::debug;

/// How long a client may take to read its answer.
pub(super) const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// Answers being written at once; beyond, a new client is closed at once.
pub(super) const MAX_WRITERS: usize = 8;

/// The answers being written.
#[derive(Default)]
pub(super) struct StatusWriters {
    busy: Arc<AtomicUsize>,
}

impl StatusWriters {
    /// Writes `body` to `stream` in a task of its own.
    pub(super) fn answer(&self, mut stream: UnixStream, body: Vec<u8>) {
        if self.busy.load(Ordering::Relaxed) >= MAX_WRITERS {
            debug!("status: {MAX_WRITERS} answers still being written: a client closed");
            return;
        }
        self.busy.fetch_add(1, Ordering::Relaxed);
        let busy = Arc::clone(&self.busy);
        tokio::spawn(async move {
            if tokio::time::timeout(WRITE_TIMEOUT, stream.write_all(&body))
                .await
                .is_err()
            {
                debug!("status: a client read nothing for {WRITE_TIMEOUT:?}: closed");
            }
            busy.fetch_sub(1, Ordering::Relaxed);
        });
    }
}
