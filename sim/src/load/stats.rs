//! What a run measured: each request's outcome, the record of each
//! second (the progress line and the timeline) and the summary at the end.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use hdrhistogram::Histogram;

use super::generator::TargetId;
use serde::Serialize;

/// Why a request got no answer, or an answer that is an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The connection could not be made (refused, unreachable).
    Connect,
    /// No complete answer within the timeout.
    Timeout,
    /// The connection broke before the answer was complete.
    Broken,
    /// A 4xx answer.
    Http4xx,
    /// A 5xx answer (an ALB with no healthy target answers 503).
    Http5xx,
}

impl ErrorKind {
    /// The word the progress line, the timeline and `--json` use.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Connect => "connect",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Broken => "broken",
            ErrorKind::Http4xx => "http_4xx",
            ErrorKind::Http5xx => "http_5xx",
        }
    }

    /// The error an HTTP status is, if any (below 400 is none).
    pub fn of_status(status: u16) -> Option<ErrorKind> {
        match status {
            400..=499 => Some(ErrorKind::Http4xx),
            500.. => Some(ErrorKind::Http5xx),
            _ => None,
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What became of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The client that sent it.
    pub client: usize,
    /// When it was due, from the start of the run: latency is counted
    /// from here, not from when it left (no coordinated omission).
    pub scheduled: Duration,
    /// When the answer (or the error) came, from the start of the run.
    pub finished: Duration,
    /// The client's session it was sent in ([`super::generator::Send`]).
    pub session: u64,
    /// The target that answered (the `X-Vifgate-Target` header), if it
    /// said, as the generator interned its name
    /// ([`super::generator::Generator::target`]).
    pub target: Option<TargetId>,
    /// Whether the request carried a cookie (the client was pinned).
    pub with_cookie: bool,
    /// The error, if any.
    pub error: Option<ErrorKind>,
}

/// Latency percentiles, milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Latency {
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// The largest.
    pub max_ms: f64,
}

impl Latency {
    /// The percentiles of `h` (microseconds); `None` when it is empty.
    pub fn of(h: &Histogram<u64>) -> Option<Latency> {
        if h.is_empty() {
            return None;
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Some(Latency {
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
        })
    }
}

/// One second of a run: a progress line, a timeline record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SecondRecord {
    /// Which second, from 0.
    pub second: u64,
    /// Requests due in it.
    pub offered: u64,
    /// Answers without error that came in it.
    pub achieved: u64,
    /// Latency of the answers and errors that came in it.
    pub latency: Option<Latency>,
    /// Errors that came in it, by kind (only those that happened).
    pub errors: BTreeMap<ErrorKind, u64>,
    /// Targets in service at its end (HAProxy's `show stat`), when known.
    pub capacity: Option<u32>,
    /// Answers by target.
    pub targets: BTreeMap<String, u64>,
}

impl SecondRecord {
    /// Its errors, all kinds.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}

impl fmt::Display for SecondRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:>4}s  offered {:>5}/s  achieved {:>5}/s",
            self.second + 1,
            self.offered,
            self.achieved
        )?;
        match &self.latency {
            Some(l) => write!(
                f,
                "  p50 {}  p99 {}  max {}",
                ms(l.p50_ms),
                ms(l.p99_ms),
                ms(l.max_ms)
            )?,
            None => write!(f, "  p50 -  p99 -  max -")?,
        }
        write!(f, "  errors {}", self.error_count())?;
        for (kind, n) in &self.errors {
            write!(f, " {kind}:{n}")?;
        }
        match self.capacity {
            Some(c) => write!(f, "  capacity {c}")?,
            None => write!(f, "  capacity -")?,
        }
        for (t, n) in &self.targets {
            write!(f, "  {t} {n}")?;
        }
        Ok(())
    }
}

/// Milliseconds as the progress line writes them.
fn ms(v: f64) -> String {
    if v < 10.0 {
        format!("{v:.2}ms")
    } else {
        format!("{v:.0}ms")
    }
}

/// One client over the run: where its answers came from.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ClientRecord {
    /// Sessions it began (1 unless `--session` starts new ones).
    pub sessions: u64,
    /// Answers by target.
    pub targets: BTreeMap<String, u64>,
    /// Answers to requests that carried a cookie (0: the load balancer
    /// set none, nothing pinned the client).
    pub with_cookie: u64,
    /// Times an answer to a request that carried a cookie came from
    /// another target than the one before: 0 for a client that stuck.
    pub moves: u64,
    /// Each of those moves, in order: when and from which target to
    /// which (a test checks each against the load balancer's
    /// deregistrations and health).
    pub changes: Vec<TargetChange>,
}

/// A client, pinned to one target, answered by another.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TargetChange {
    /// When the answer came, seconds from the start of the run.
    pub at_s: f64,
    /// When the request was due, seconds from the start of the run (the
    /// load balancer chose its target between this and `at_s`).
    pub scheduled_s: f64,
    /// The target the client was pinned to.
    pub from: String,
    /// The target that answered.
    pub to: String,
}

/// The whole run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Seconds it ran.
    pub seconds: f64,
    /// Requests sent.
    pub sent: u64,
    /// Answers without error.
    pub ok: u64,
    /// Errors by kind.
    pub errors: BTreeMap<ErrorKind, u64>,
    /// Requests sent whose outcome never came (the run was interrupted
    /// or ended with them in flight).
    pub unanswered: u64,
    /// Answers without error a second, over the run.
    pub achieved_rate: f64,
    /// Latency of every answer and error, from its scheduled time.
    pub latency: Option<Latency>,
    /// How long after its scheduled time each request was handed to its
    /// client (the generator's timer and loop; a request then waiting
    /// for a busy connection is not counted here, its latency shows it).
    pub send_delay: Option<Latency>,
    /// Answers by target.
    pub targets: BTreeMap<String, u64>,
    /// Each client.
    pub clients: Vec<ClientRecord>,
    /// Whether Ctrl-C stopped it.
    pub interrupted: bool,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let errors: u64 = self.errors.values().sum();
        writeln!(
            f,
            "{}{} requests sent in {:.1}s: {} answered, {} errors, {} unanswered; {:.1} answers/s",
            if self.interrupted {
                "interrupted: "
            } else {
                ""
            },
            self.sent,
            self.seconds,
            self.ok,
            errors,
            self.unanswered,
            self.achieved_rate
        )?;
        for (kind, n) in &self.errors {
            writeln!(f, "  {kind}: {n}")?;
        }
        if let Some(l) = &self.latency {
            writeln!(
                f,
                "latency from the scheduled time: p50 {}  p90 {}  p99 {}  p99.9 {}  max {}",
                ms(l.p50_ms),
                ms(l.p90_ms),
                ms(l.p99_ms),
                ms(l.p999_ms),
                ms(l.max_ms)
            )?;
        }
        if let Some(l) = &self.send_delay {
            writeln!(
                f,
                "sends after their scheduled time: p50 {}  p99 {}  max {}",
                ms(l.p50_ms),
                ms(l.p99_ms),
                ms(l.max_ms)
            )?;
        }
        for (t, n) in &self.targets {
            writeln!(f, "  {t}: {n} answers")?;
        }
        let moved: Vec<String> = self
            .clients
            .iter()
            .enumerate()
            .filter(|(_, c)| c.moves > 0)
            .map(|(i, c)| format!("client {i} {}x", c.moves))
            .collect();
        let sessions: u64 = self.clients.iter().map(|c| c.sessions).sum();
        if sessions > self.clients.len() as u64 {
            writeln!(
                f,
                "{sessions} sessions (visitors) of {} client(s)",
                self.clients.len()
            )?;
        }
        let unpinned = self.clients.iter().filter(|c| c.with_cookie == 0).count();
        if unpinned > 0 {
            writeln!(
                f,
                "{unpinned} of {} client(s) never sent a cookie: nothing pinned them to a target",
                self.clients.len()
            )?;
        }
        if !moved.is_empty() {
            writeln!(f, "clients moved: {}", moved.join(", "))?;
        } else if unpinned == 0 {
            writeln!(
                f,
                "every one of {} client(s) stayed on its target",
                self.clients.len()
            )?;
        }
        Ok(())
    }
}
