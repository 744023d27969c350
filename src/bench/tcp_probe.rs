//! `vifgate bench tcp-probe`: new TCP connections, counted. `--listen`
//! accepts and closes connections until killed; `--connect` opens `count`
//! connections, one every `interval`, each in its own thread with its own
//! timeout, and prints how many completed their handshake and how long
//! they took (`bench/synflood.sh` runs it during a SYN flood).

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

/// Accepts connections on `addr` and closes them, forever.
pub(super) fn listen(addr: SocketAddr) -> Result<ExitCode> {
    let listener = TcpListener::bind(addr).with_context(|| format!("listen on {addr}"))?;
    println!("tcp-probe: listening on {addr}");
    for stream in listener.incoming() {
        // A failed accept (the peer gave up) is no reason to stop.
        drop(stream);
    }
    Ok(ExitCode::SUCCESS)
}

/// Opens `count` connections to `addr`, one every `interval`, each given
/// `timeout` to complete; prints the successes and the connect times.
pub(super) fn connect(
    addr: SocketAddr,
    count: usize,
    interval: Duration,
    timeout: Duration,
) -> Result<ExitCode> {
    let start = Instant::now();
    let attempts: Vec<_> = (0..count)
        .map(|i| {
            let at = start + interval * i as u32;
            thread::sleep(at.saturating_duration_since(Instant::now()));
            thread::spawn(move || {
                let t = Instant::now();
                TcpStream::connect_timeout(&addr, timeout).map(|_| t.elapsed())
            })
        })
        .collect();
    let mut times = Vec::new();
    let mut failures = 0;
    for attempt in attempts {
        match attempt.join() {
            Ok(Ok(took)) => times.push(took),
            _ => failures += 1,
        }
    }
    times.sort();
    let ms =
        |d: Option<&Duration>| d.map_or("-".into(), |d| format!("{:.1}", d.as_secs_f64() * 1e3));
    println!(
        "tcp-probe: {} of {count} connections to {addr} succeeded ({failures} failed, timeout {} ms); connect ms median {} max {}",
        times.len(),
        timeout.as_millis(),
        ms(times.get(times.len() / 2)),
        ms(times.last()),
    );
    Ok(ExitCode::SUCCESS)
}
