//! `vifgate sim flowlogs`: a running lab's flow log records, interval
//! after interval, on standard output (flow log lines or JSON lines), in
//! AWS's default format or a custom one (the gateway's [`Format`]).

use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use gateway::flow_log::Format;
use sim::flowlogs::capture::Capture;
use sim::plan::Plan;
use topology::model::Topology;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Lets SIGINT and SIGTERM end the capture cleanly (its tables removed).
fn catch_interrupts() {
    let handler: extern "C" fn(libc::c_int) = on_signal;
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to an atomic (async-signal-safe).
        unsafe {
            libc::signal(sig, handler as libc::sighandler_t);
        }
    }
}

/// Sleeps until `until`, or returns false early when interrupted.
fn sleep_until(until: Instant) -> bool {
    loop {
        if INTERRUPTED.load(Ordering::SeqCst) {
            return false;
        }
        let now = Instant::now();
        if now >= until {
            return true;
        }
        std::thread::sleep((until - now).min(Duration::from_millis(100)));
    }
}

/// Captures `intervals` intervals (all until interrupted when `None`) of
/// the lab's flows and prints their records as each closes, in `format`
/// (JSON objects of its fields with `json`). The last, interrupted
/// interval is printed too.
pub fn run(
    t: &Topology,
    plan: &Plan,
    interval: Duration,
    intervals: Option<u64>,
    account_id: &str,
    format: &Format,
    json: bool,
) -> Result<()> {
    catch_interrupts();
    let mut cap = Capture::start(t, plan, account_id)
        .with_context(|| format!("cannot load the flow log counters into lab `{}`", plan.lab))?;
    let enis: usize = cap.nodes().map(|n| n.enis.len()).sum();
    eprintln!(
        "flow logs of lab `{}`: {enis} ENIs on {} nodes, {:.1} s intervals",
        plan.lab,
        cap.nodes().count(),
        interval.as_secs_f64()
    );
    let mut done = 0u64;
    let mut next = Instant::now() + interval;
    loop {
        let completed = sleep_until(next);
        next += interval;
        let records = cap.close_interval();
        let mut out = std::io::stdout().lock();
        for r in &records {
            if json {
                writeln!(out, "{}", serde_json::to_string(&r.json(format))?)?;
            } else {
                writeln!(out, "{}", r.line(format))?;
            }
        }
        out.flush()?;
        done += 1;
        if !completed || intervals.is_some_and(|n| done >= n) {
            break;
        }
    }
    Ok(())
}
