//! The load generator's core, sans-IO as the gateway's router is: it says
//! which request is due and to which client ([`Generator::poll_send`]),
//! when it next needs to be woken ([`Generator::poll_timeout`]), takes
//! each outcome and each capacity reading, and closes each second into a
//! [`SecondRecord`]. Time is always an argument (offsets from the start
//! of the run), so tests drive it by hand; the tokio shell
//! ([`super::client`]) only moves bytes and sleeps.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;

use super::schedule::Schedule;
use super::stats::{
    ClientRecord, ErrorKind, Latency, Outcome, SecondRecord, Summary, TargetChange,
};

/// The longest latency the histograms hold: an hour, in microseconds
/// (longer is recorded as an hour).
const MAX_LATENCY_US: u64 = 3_600_000_000;

/// A request due now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Send {
    /// The client that sends it (its connections, its cookie jar).
    pub client: usize,
    /// When it was due, from the start.
    pub scheduled: Duration,
    /// The client's session it belongs to, from 0: a request of a new
    /// session starts with an empty cookie jar and new connections (a
    /// new visitor).
    pub session: u64,
}

/// The open-loop generator of one run.
#[derive(Debug)]
pub struct Generator {
    schedule: Schedule,
    /// Requests a client's session sends before the next starts; `None`:
    /// one session for the whole run.
    session_requests: Option<u64>,
    /// How long after it was due a request may be answered; an answer
    /// later than that is a timeout. `None`: no bound.
    timeout: Option<Duration>,
    clients: Vec<ClientState>,
    next_client: usize,
    in_flight: u64,
    sent: u64,
    /// The second being counted (its index) and its counters.
    second: u64,
    current: Counters,
    capacity: Option<u32>,
    total: Histogram<u64>,
    /// How late each request was taken ([`Generator::poll_send`]'s `now`
    /// after its time), µs.
    send_delay: Histogram<u64>,
    ok: u64,
    errors: BTreeMap<ErrorKind, u64>,
    /// The names of the targets seen, by [`TargetId`]: a request's
    /// outcome names its target by id, so that counting it allocates
    /// nothing.
    names: Vec<String>,
    /// Answers by target, by [`TargetId`].
    targets: Vec<u64>,
}

/// A target that answered, as [`Generator::target`] interned its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TargetId(usize);

/// Adds one to `counts[id]`, growing `counts` to hold it.
fn count(counts: &mut Vec<u64>, id: TargetId) {
    if counts.len() <= id.0 {
        counts.resize(id.0 + 1, 0);
    }
    counts[id.0] += 1;
}

/// One client's session, pin and record.
#[derive(Debug, Default)]
struct ClientState {
    /// Its session, from 0.
    session: u64,
    /// Requests sent in it.
    sent_in_session: u64,
    /// The target that last answered a request of this session.
    pinned: Option<TargetId>,
    /// Answers by target (the record's are filled in by the summary).
    targets: Vec<u64>,
    record: ClientRecord,
}

/// What one second has counted so far.
#[derive(Debug)]
struct Counters {
    offered: u64,
    achieved: u64,
    latency: Histogram<u64>,
    errors: BTreeMap<ErrorKind, u64>,
    /// Answers by target, by [`TargetId`].
    targets: Vec<u64>,
}

fn histogram() -> Histogram<u64> {
    // 3 significant digits from 1 µs to an hour: fixed bounds, cannot fail
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("valid histogram bounds")
}

impl Counters {
    fn new() -> Counters {
        Counters {
            offered: 0,
            achieved: 0,
            latency: histogram(),
            errors: BTreeMap::new(),
            targets: Vec::new(),
        }
    }
}

impl Generator {
    /// A run of `schedule` spread over `clients` clients (at least one)
    /// in turn.
    pub fn new(schedule: Schedule, clients: usize) -> Generator {
        Generator {
            schedule,
            session_requests: None,
            timeout: None,
            clients: (0..clients.max(1))
                .map(|_| ClientState::default())
                .collect(),
            next_client: 0,
            in_flight: 0,
            sent: 0,
            second: 0,
            current: Counters::new(),
            capacity: None,
            total: histogram(),
            send_delay: histogram(),
            ok: 0,
            errors: BTreeMap::new(),
            names: Vec::new(),
            targets: Vec::new(),
        }
    }

    /// The same generator whose clients each start a new session (a new
    /// visitor: no cookies, new connections) after every `requests`
    /// requests (at least one), as visitors come and go: new visitors
    /// are spread over the targets there are then, where the same
    /// clients kept for the whole run would stay on the targets of their
    /// first request.
    pub fn with_sessions(mut self, requests: u64) -> Generator {
        self.session_requests = Some(requests.max(1));
        self
    }

    /// The same generator with a request's timeout: an outcome finished
    /// more than `timeout` after the request was due is a timeout, even
    /// if an answer came (one a busy client read only after its deadline
    /// had passed was counted answered, with a latency past the timeout).
    pub fn with_timeout(mut self, timeout: Duration) -> Generator {
        self.timeout = Some(timeout);
        self
    }

    /// The next request due at `now`, if any; call until `None`. A
    /// request is due at its time whatever the answers to the earlier
    /// ones (open loop). One due after the current second waits until
    /// [`Generator::poll_second`] has closed that second, so that each
    /// request is offered in its own second.
    pub fn poll_send(&mut self, now: Duration) -> Option<Send> {
        let end_of_second = Duration::from_secs(self.second + 1);
        let at = self
            .schedule
            .peek()
            .filter(|at| *at <= now && *at < end_of_second)?;
        self.schedule.advance();
        let late_us = (now - at).as_micros().min(u128::from(MAX_LATENCY_US)) as u64;
        // within the bounds: recording cannot fail
        let _ = self.send_delay.record(late_us);
        let client = self.next_client;
        self.next_client = (self.next_client + 1) % self.clients.len();
        let c = &mut self.clients[client];
        if self
            .session_requests
            .is_some_and(|n| c.sent_in_session >= n)
        {
            c.session += 1;
            c.sent_in_session = 0;
            c.pinned = None;
        }
        if c.sent_in_session == 0 {
            c.record.sessions += 1;
        }
        c.sent_in_session += 1;
        let session = c.session;
        self.in_flight += 1;
        self.sent += 1;
        self.current.offered += 1;
        Some(Send {
            client,
            scheduled: at,
            session,
        })
    }

    /// When the generator next has something to do: the next send or the
    /// end of the current second, whichever comes first; `None` once
    /// every request is sent and answered.
    pub fn poll_timeout(&self) -> Option<Duration> {
        let tick = Duration::from_secs(self.second + 1);
        match self.schedule.peek() {
            Some(at) => Some(at.min(tick)),
            None if self.in_flight > 0 => Some(tick),
            None => None,
        }
    }

    /// Whether every request of the schedule is sent.
    pub fn all_sent(&self) -> bool {
        self.schedule.peek().is_none()
    }

    /// Whether every request is sent and its outcome taken.
    pub fn finished(&self) -> bool {
        self.schedule.peek().is_none() && self.in_flight == 0
    }

    /// Requests sent whose outcome has not come.
    pub fn in_flight(&self) -> u64 {
        self.in_flight
    }

    /// The id of the target named `name` (from the answer's
    /// [`super::TARGET_HEADER`]), for its [`Outcome`]; a name not seen
    /// before is added.
    pub fn target(&mut self, name: &str) -> TargetId {
        match self.names.iter().position(|n| n == name) {
            Some(i) => TargetId(i),
            None => {
                self.names.push(name.to_string());
                TargetId(self.names.len() - 1)
            }
        }
    }

    /// The name of `id`.
    fn name(&self, id: TargetId) -> &str {
        &self.names[id.0]
    }

    /// `counts` (by [`TargetId`]) by name, the targets counted at least
    /// once.
    fn by_name(&self, counts: &[u64]) -> BTreeMap<String, u64> {
        (counts.iter().enumerate())
            .filter(|(_, n)| **n > 0)
            .map(|(i, n)| (self.names[i].clone(), *n))
            .collect()
    }

    /// Takes a request's outcome: its latency counted from when it was
    /// due.
    pub fn handle_outcome(&mut self, mut o: Outcome) {
        self.in_flight = self.in_flight.saturating_sub(1);
        if (self.timeout).is_some_and(|t| o.finished.saturating_sub(o.scheduled) > t) {
            o.error = Some(ErrorKind::Timeout);
            o.target = None;
        }
        let latency_us = o
            .finished
            .saturating_sub(o.scheduled)
            .as_micros()
            .clamp(1, u128::from(MAX_LATENCY_US)) as u64;
        // within the bounds: recording cannot fail
        let _ = self.current.latency.record(latency_us);
        let _ = self.total.record(latency_us);
        match o.error {
            Some(kind) => {
                *self.current.errors.entry(kind).or_default() += 1;
                *self.errors.entry(kind).or_default() += 1;
            }
            None => {
                self.current.achieved += 1;
                self.ok += 1;
            }
        }
        let Some(target) = o.target else {
            return;
        };
        count(&mut self.current.targets, target);
        count(&mut self.targets, target);
        let Some(c) = self.clients.get_mut(o.client) else {
            return;
        };
        count(&mut c.targets, target);
        if o.session != c.session {
            // the answer to an earlier visitor of this client
            return;
        }
        let moved_from = c.pinned.filter(|p| *p != target && o.with_cookie);
        if o.with_cookie {
            c.record.with_cookie += 1;
        }
        c.pinned = Some(target);
        if let Some(from) = moved_from {
            let change = TargetChange {
                at_s: o.finished.as_secs_f64(),
                scheduled_s: o.scheduled.as_secs_f64(),
                from: self.name(from).to_string(),
                to: self.name(target).to_string(),
            };
            let record = &mut self.clients[o.client].record;
            record.moves += 1;
            record.changes.push(change);
        }
    }

    /// Takes the targets in service, as last read; `None` when it cannot
    /// be read.
    pub fn handle_capacity(&mut self, capacity: Option<u32>) {
        self.capacity = capacity;
    }

    /// The record of the current second once `now` is past its end (the
    /// next second then starts); `None` before.
    pub fn poll_second(&mut self, now: Duration) -> Option<SecondRecord> {
        if now < Duration::from_secs(self.second + 1) {
            return None;
        }
        Some(self.close_second())
    }

    /// The record of the current second as it stands (the last, partial
    /// second of a run, or one cut by Ctrl-C); `None` if nothing happened
    /// in it.
    pub fn flush_second(&mut self) -> Option<SecondRecord> {
        let c = &self.current;
        if c.offered == 0 && c.latency.is_empty() {
            return None;
        }
        Some(self.close_second())
    }

    fn close_second(&mut self) -> SecondRecord {
        let record = SecondRecord {
            second: self.second,
            offered: self.current.offered,
            achieved: self.current.achieved,
            latency: Latency::of(&self.current.latency),
            errors: std::mem::take(&mut self.current.errors),
            capacity: self.capacity,
            targets: self.by_name(&self.current.targets),
        };
        // the next second's counters, in the same histogram and vector
        let c = &mut self.current;
        (c.offered, c.achieved) = (0, 0);
        c.latency.reset();
        c.targets.iter_mut().for_each(|n| *n = 0);
        self.second += 1;
        record
    }

    /// The run so far, `elapsed` long.
    pub fn summary(&self, elapsed: Duration, interrupted: bool) -> Summary {
        let seconds = elapsed.as_secs_f64();
        Summary {
            seconds,
            sent: self.sent,
            ok: self.ok,
            errors: self.errors.clone(),
            unanswered: self.in_flight,
            achieved_rate: if seconds > 0.0 {
                self.ok as f64 / seconds
            } else {
                0.0
            },
            latency: Latency::of(&self.total),
            send_delay: Latency::of(&self.send_delay),
            targets: self.by_name(&self.targets),
            clients: (self.clients.iter())
                .map(|c| ClientRecord {
                    targets: self.by_name(&c.targets),
                    ..c.record.clone()
                })
                .collect(),
            interrupted,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::profile::Profile;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn generator(rate: f64, seconds: u64, clients: usize) -> Generator {
        let s = Schedule::new(Profile::constant(rate), Duration::from_secs(seconds));
        Generator::new(s, clients)
    }

    /// An answer read after the request's timeout had passed (a client
    /// busy with others) was counted answered.
    #[test]
    fn an_answer_after_the_timeout_is_a_timeout() {
        let mut g = generator(2.0, 1, 1).with_timeout(ms(1000));
        let (a, b) = (
            g.poll_send(ms(0)).expect("due"),
            g.poll_send(ms(500)).expect("due"),
        );
        let on_time = answer(&mut g, &a, a.scheduled + ms(1000), "x");
        g.handle_outcome(on_time);
        let late = answer(&mut g, &b, b.scheduled + ms(1001), "x");
        g.handle_outcome(late);
        let s = g.summary(ms(2000), false);
        assert_eq!(s.ok, 1);
        assert_eq!(s.errors.get(&ErrorKind::Timeout), Some(&1));
        assert_eq!(
            s.targets.get("x"),
            Some(&1),
            "a late answer names no target"
        );
    }

    fn answer(g: &mut Generator, s: &Send, finished: Duration, target: &str) -> Outcome {
        Outcome {
            client: s.client,
            scheduled: s.scheduled,
            session: s.session,
            finished,
            target: Some(g.target(target)),
            with_cookie: true,
            error: None,
        }
    }

    /// Drives `g` by hand for `until`: every request sent when due and
    /// answered by `answer_at(scheduled)`; the seconds it closed.
    fn drive(
        g: &mut Generator,
        until: Duration,
        answer_at: impl Fn(Duration) -> Duration,
    ) -> Vec<SecondRecord> {
        let mut pending: Vec<(Duration, Send)> = Vec::new();
        let mut seconds = Vec::new();
        let mut now = Duration::ZERO;
        while now <= until {
            seconds.extend(g.poll_second(now));
            while let Some(s) = g.poll_send(now) {
                pending.push((answer_at(s.scheduled), s));
            }
            pending.sort_by_key(|(t, _)| *t);
            while pending.first().is_some_and(|(t, _)| *t <= now) {
                let (t, s) = pending.remove(0);
                let o = answer(g, &s, t, if s.client == 0 { "a" } else { "b" });
                g.handle_outcome(o);
            }
            g.handle_capacity(Some(2));
            now += ms(1);
        }
        seconds
    }

    #[test]
    fn a_stalled_server_shows_in_the_latency_of_what_was_due_during_the_stall() {
        // 100/s for 3 s; answers take 2 ms, except that nothing is answered
        // from 1.0 s to 1.5 s: what was due then is answered at 1.5 s
        let mut g = generator(100.0, 3, 1);
        let stall = ms(1000)..ms(1500);
        let seconds = drive(&mut g, ms(3100), |due| {
            if stall.contains(&due) {
                stall.end
            } else {
                due + ms(2)
            }
        });
        assert!(g.finished());
        let s = g.summary(ms(3100), false);
        assert_eq!(s.sent, 300);
        assert_eq!(s.ok, 300);
        let l = s.latency.expect("latency");
        // 50 of 300 were due during the stall: p90 and above show it; the
        // first one due waited the whole 500 ms
        assert!((499.0..=501.0).contains(&l.max_ms), "{l:?}");
        assert!(l.p99_ms > 400.0, "{l:?}");
        assert!(l.p50_ms < 3.0, "{l:?}");
        // a generator that measured from when it sent after the stall would
        // have recorded 2 ms for each: the second of the stall says 500
        assert_eq!(seconds[1].latency.expect("second 1").max_ms.round(), 500.0);
        assert!(seconds[0].latency.expect("second 0").max_ms < 3.0);
        // the open loop went on sending during the stall
        assert_eq!(seconds[1].offered, 100);
    }

    #[test]
    fn each_second_counts_offered_achieved_errors_capacity_and_targets() {
        let mut g = generator(10.0, 2, 2);
        let mut now = Duration::ZERO;
        let mut records = Vec::new();
        let mut n = 0;
        while now < ms(2100) {
            g.handle_capacity(if now <= ms(1000) { Some(2) } else { Some(3) });
            records.extend(g.poll_second(now));
            while let Some(s) = g.poll_send(now) {
                n += 1;
                let mut o = answer(
                    &mut g,
                    &s,
                    now + ms(5),
                    if s.client == 0 { "a" } else { "b" },
                );
                if n % 5 == 0 {
                    o.error = Some(ErrorKind::Http5xx);
                }
                if n == 3 {
                    o.error = Some(ErrorKind::Timeout);
                    o.target = None;
                }
                g.handle_outcome(o);
            }
            now += ms(10);
        }
        assert_eq!(records.len(), 2);
        let first = &records[0];
        assert_eq!(first.second, 0);
        assert_eq!(first.offered, 10);
        assert_eq!(first.achieved, 7, "{first:?}");
        assert_eq!(first.errors[&ErrorKind::Http5xx], 2);
        assert_eq!(first.errors[&ErrorKind::Timeout], 1);
        assert_eq!(first.capacity, Some(2));
        assert_eq!(first.targets["a"], 4, "the timeout named no target");
        assert_eq!(first.targets["b"], 5);
        let line = first.to_string();
        assert!(
            line.starts_with("   1s  offered    10/s  achieved     7/s  p50 5.00ms"),
            "{line}"
        );
        assert!(
            line.contains("errors 3 timeout:1 http_5xx:2  capacity 2  a 4  b 5"),
            "{line}"
        );
        assert_eq!(records[1].capacity, Some(3));
        assert_eq!(records[1].error_count(), 2);
        assert_eq!(g.poll_timeout(), None, "all sent and answered");
        let s = g.summary(ms(2000), false);
        assert_eq!((s.sent, s.ok), (20, 15));
        assert!((s.achieved_rate - 7.5).abs() < 1e-9);
    }

    #[test]
    fn a_client_answered_by_another_target_while_pinned_has_moved() {
        let mut g = generator(10.0, 1, 2);
        let mut now = Duration::ZERO;
        let mut k = 0;
        while now < ms(1000) {
            while let Some(s) = g.poll_send(now) {
                k += 1;
                // client 1 sticks to b; client 0 is moved to c once, on its
                // fourth request
                let target = match (s.client, k) {
                    (1, _) => "b",
                    (_, 7) => "c",
                    _ => "a",
                };
                let mut o = answer(&mut g, &s, now, target);
                o.with_cookie = k > 2;
                g.handle_outcome(o);
            }
            now += ms(10);
        }
        let s = g.summary(now, false);
        assert_eq!(s.clients[0].moves, 2, "a to c, then c back to a");
        // each move says when, from where and to where: the seventh
        // request (due at 0.6 s, client 0's fourth) went to c
        let moved: Vec<(f64, &str, &str)> = (s.clients[0].changes.iter())
            .map(|c| (c.scheduled_s, c.from.as_str(), c.to.as_str()))
            .collect();
        assert_eq!(moved, [(0.6, "a", "c"), (0.8, "c", "a")]);
        assert!(s.clients[1].changes.is_empty());
        let json = serde_json::to_value(&s).expect("JSON");
        assert_eq!(json["clients"][0]["changes"][0]["to"], "c");
        assert_eq!(s.clients[1].moves, 0);
        assert_eq!(s.clients[1].targets["b"], 5);
        assert_eq!(s.clients[1].with_cookie, 4, "its first request had none");
        assert!(s.to_string().contains("clients moved: client 0 2x"), "{s}");
    }

    #[test]
    fn a_new_session_is_a_new_visitor_whose_first_target_is_no_move() {
        // 10/s over 2 clients for 2 s, sessions of 3 requests: client 0
        // sends at 0, 0.2, 0.4 (session 0), 0.6, 0.8, 1.0 (session 1), ...
        let s = Schedule::new(Profile::constant(10.0), Duration::from_secs(2));
        let mut g = Generator::new(s, 2).with_sessions(3);
        let mut now = Duration::ZERO;
        let mut sent: Vec<Send> = Vec::new();
        while now < ms(2000) {
            let _ = g.poll_second(now);
            while let Some(s) = g.poll_send(now) {
                sent.push(s);
            }
            now += ms(10);
        }
        let zero: Vec<u64> = (sent.iter())
            .filter(|s| s.client == 0)
            .map(|s| s.session)
            .collect();
        assert_eq!(zero, [0, 0, 0, 1, 1, 1, 2, 2, 2, 3]);
        // each session of client 0 is answered by another target, its
        // first request without a cookie; the last answer of session 0
        // comes after session 1 began, from its own target
        let target = |s: &Send| ["a", "b", "c", "d"][s.session as usize];
        let first_of_session = |s: &Send| {
            !sent.iter().any(|x| {
                x.client == s.client && x.session == s.session && x.scheduled < s.scheduled
            })
        };
        let late = sent[4];
        assert_eq!((late.client, late.session), (0, 0));
        for s in sent.iter().filter(|s| s.scheduled != late.scheduled) {
            let mut o = answer(&mut g, s, s.scheduled, target(s));
            o.with_cookie = !first_of_session(s);
            g.handle_outcome(o);
        }
        let o = answer(&mut g, &late, ms(700), target(&late));
        g.handle_outcome(o);
        let summary = g.summary(ms(2000), false);
        let c = &summary.clients[0];
        assert_eq!(c.sessions, 4);
        assert_eq!(c.moves, 0, "{:?}", c.changes);
        assert_eq!(c.targets["a"], 3);
        assert_eq!(c.targets["d"], 1);
        assert_eq!(summary.clients[1].sessions, 4);
        assert!(
            summary
                .to_string()
                .contains("8 sessions (visitors) of 2 client(s)"),
            "{summary}"
        );
        // without sessions the same answers are moves
        let s = Schedule::new(Profile::constant(10.0), Duration::from_secs(2));
        let mut g = Generator::new(s, 2);
        for s in &sent {
            let o = answer(&mut g, &Send { session: 0, ..*s }, s.scheduled, target(s));
            g.handle_outcome(o);
        }
        assert_eq!(g.summary(ms(2000), false).clients[0].moves, 3);
    }

    #[test]
    fn a_client_that_never_sent_a_cookie_is_not_said_to_have_stuck() {
        let mut g = generator(10.0, 1, 2);
        let mut now = Duration::ZERO;
        while now < ms(1000) {
            while let Some(s) = g.poll_send(now) {
                let mut o = answer(&mut g, &s, now, "a");
                o.with_cookie = s.client == 0;
                g.handle_outcome(o);
            }
            now += ms(10);
        }
        let text = g.summary(now, false).to_string();
        assert!(
            text.contains("1 of 2 client(s) never sent a cookie"),
            "{text}"
        );
        assert!(!text.contains("stayed on its target"), "{text}");
    }

    #[test]
    fn how_late_each_send_was_taken_is_in_the_summary() {
        // 4/s: due at 0, 250, 500, 750 ms; taken at 0, 250, 503 and 757
        let mut g = generator(4.0, 1, 1);
        for now in [0, 250, 503, 757] {
            assert!(g.poll_send(ms(now)).is_some());
        }
        let d = g.summary(ms(1000), false).send_delay.expect("four sends");
        assert!((d.max_ms - 7.0).abs() < 0.01, "{d:?}");
        assert_eq!(d.p50_ms, 0.0);
        let text = g.summary(ms(1000), false).to_string();
        assert!(
            text.contains("sends after their scheduled time: p50 "),
            "{text}"
        );
    }

    #[test]
    fn the_generator_wakes_for_the_next_send_or_the_end_of_the_second() {
        let mut g = generator(4.0, 2, 1);
        assert_eq!(g.poll_timeout(), Some(Duration::ZERO));
        let s = g.poll_send(Duration::ZERO).expect("due at 0");
        assert_eq!(g.poll_send(Duration::ZERO), None, "the next is not due");
        assert_eq!(g.poll_timeout(), Some(ms(250)));
        assert_eq!(g.in_flight(), 1);
        let o = answer(&mut g, &s, ms(1), "a");
        g.handle_outcome(o);
        while g.poll_send(ms(2000)).is_some() {}
        assert_eq!(g.poll_timeout(), Some(ms(1000)), "waits for answers");
    }
}
