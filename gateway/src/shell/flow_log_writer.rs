//! The flow log's I/O: records rendered into lines and appended to a file
//! (or written to standard output), the file reopened on SIGHUP, and the
//! router's aggregator polled at each interval's end.
//!
//! Rotation the logrotate way without `copytruncate`: rename the file, then
//! send SIGHUP. Every batch of lines is flushed as it is written, so
//! nothing sits in a buffer: lines written before the signal land in the
//! renamed file (same inode), lines after it in the new one.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use tracing::{info, warn};

use crate::config::{FlowLogConfig, FlowLogDestination};
use crate::flow_log::{FlowAggregator, FlowRecord, Format, Identity};
use crate::router::Router;

enum Sink {
    Stdout(io::Stdout),
    File(PathBuf, BufWriter<File>),
}

/// Renders records and writes them, one line each, to the destination.
pub struct FlowLogWriter {
    sink: Sink,
    format: Format,
    identity: Identity,
    line: String,
}

fn open_append(path: &PathBuf) -> io::Result<BufWriter<File>> {
    let file = OpenOptions::new().create(true).append(true).open(path)?;
    Ok(BufWriter::new(file))
}

impl FlowLogWriter {
    /// Opens the destination (a file is created if absent, appended to).
    pub fn open(config: &FlowLogConfig) -> io::Result<Self> {
        let sink = match &config.destination {
            FlowLogDestination::Stdout => Sink::Stdout(io::stdout()),
            FlowLogDestination::File(p) => Sink::File(p.clone(), open_append(p)?),
        };
        Ok(FlowLogWriter {
            sink,
            format: config.format.clone(),
            identity: config.identity.clone(),
            line: String::with_capacity(256),
        })
    }

    /// Writes the records, one line each, and flushes.
    pub fn write(&mut self, records: &[FlowRecord]) -> io::Result<()> {
        for r in records {
            self.line.clear();
            self.format.render_into(r, &self.identity, &mut self.line);
            self.line.push('\n');
            match &mut self.sink {
                Sink::Stdout(s) => s.write_all(self.line.as_bytes())?,
                Sink::File(_, f) => f.write_all(self.line.as_bytes())?,
            }
        }
        match &mut self.sink {
            Sink::Stdout(s) => s.flush(),
            Sink::File(_, f) => f.flush(),
        }
    }

    /// Flushes, then opens the file's path anew (after a rename, a new
    /// file). On failure it keeps the file it had.
    pub fn reopen(&mut self) -> io::Result<()> {
        if let Sink::File(path, f) = &mut self.sink {
            f.flush()?;
            *f = open_append(path)?;
        }
        Ok(())
    }
}

/// The flow log of a running gateway: its writer and its configuration.
pub struct FlowLogs {
    config: FlowLogConfig,
    writer: FlowLogWriter,
}

fn unix_now() -> std::time::Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

impl FlowLogs {
    /// Opens the destination and starts the router's aggregator.
    pub fn start(config: &FlowLogConfig, router: &mut Router) -> io::Result<Self> {
        let writer = FlowLogWriter::open(config)?;
        router.start_flow_log(FlowAggregator::new(
            config.aggregator,
            Instant::now(),
            unix_now(),
        ));
        info!(
            destination = ?config.destination,
            interval_s = config.aggregator.interval.as_secs(),
            "flow log on"
        );
        Ok(FlowLogs {
            config: config.clone(),
            writer,
        })
    }

    /// Writes the records of the intervals that ended by `now` (cheap when
    /// none did).
    pub fn poll(&mut self, router: &mut Router, now: Instant) {
        if router.flow_log_deadline().is_some_and(|d| now >= d) {
            let records = router.poll_flow_records(now);
            self.write(&records);
        }
    }

    fn write(&mut self, records: &[FlowRecord]) {
        if let Err(e) = self.writer.write(records) {
            warn!("flow log: {} records not written: {e}", records.len());
        }
    }

    /// SIGHUP: reopen the file (rotation).
    pub fn reopen(&mut self) {
        if let Err(e) = self.writer.reopen() {
            warn!("flow log: cannot reopen {}: {e}", self.config.destination);
        }
    }

    /// Stops: the open interval's records are written.
    pub fn stop(mut self, router: &mut Router) {
        if let Some(a) = router.stop_flow_log() {
            let records = a.finish();
            self.write(&records);
        }
    }

    /// A reload: the flow log as `new` says, starting, stopping or
    /// restarting it where its settings changed.
    pub fn reconfigure(
        current: Option<FlowLogs>,
        new: Option<&FlowLogConfig>,
        router: &mut Router,
    ) -> Option<FlowLogs> {
        match (current, new) {
            (Some(f), Some(n))
                if f.config.destination == n.destination && f.config.aggregator == n.aggregator =>
            {
                let mut f = f;
                f.writer.format = n.format.clone();
                f.writer.identity = n.identity.clone();
                f.config = n.clone();
                Some(f)
            }
            (current, new) => {
                if let Some(f) = current {
                    f.stop(router);
                }
                new.and_then(|n| match FlowLogs::start(n, router) {
                    Ok(f) => Some(f),
                    Err(e) => {
                        warn!("flow log: cannot open {}: {e}", n.destination);
                        None
                    }
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow_log::{Action, AggregatorConfig, FiveTuple, FlowDirection, LogStatus};
    use std::time::Duration;

    fn config(path: PathBuf) -> FlowLogConfig {
        FlowLogConfig {
            destination: FlowLogDestination::File(path),
            format: Format::default(),
            aggregator: AggregatorConfig {
                interval: Duration::from_secs(60),
                max_flows: 10,
            },
            identity: Identity {
                account_id: "123456789010".into(),
                interface_id: "vg0".into(),
            },
        }
    }

    fn record(n: u64) -> FlowRecord {
        FlowRecord {
            status: LogStatus::Ok,
            flow: Some(
                FiveTuple {
                    src: "10.0.0.1".parse().unwrap(),
                    dst: "10.0.0.2".parse().unwrap(),
                    src_port: 1,
                    dst_port: 2,
                    protocol: 17,
                }
                .with(FlowDirection::Egress, Action::Accept),
            ),
            packets: n,
            bytes: n * 100,
            start: 1,
            end: 2,
            tcp_flags: Some(0),
        }
    }

    fn router() -> Router {
        let key = crate::keys::PrivateKey::generate().unwrap();
        let text = "[interface]\nname = \"vg0\"\nprivate_key_file = \"k\"\n";
        let config = crate::config::parse("gw.toml", text.to_string()).unwrap();
        Router::with_key(&config, key, Instant::now()).unwrap()
    }

    #[test]
    fn reload_keeps_restarts_or_stops_the_flow_log() {
        let dir = std::env::temp_dir().join(format!("vifgate-flowlog-re-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("flows.log");
        let mut router = router();
        let a = config(path.clone());
        let f = FlowLogs::start(&a, &mut router).unwrap();
        let deadline = router.flow_log_deadline();
        assert!(deadline.is_some());
        // a new format or identity: the same aggregator, the new format
        let mut b = a.clone();
        b.format = Format::parse("${version} ${flow-direction}").unwrap();
        b.identity.account_id = "999".into();
        let f = FlowLogs::reconfigure(Some(f), Some(&b), &mut router).unwrap();
        assert_eq!(router.flow_log_deadline(), deadline);
        assert_eq!(f.writer.format, b.format);
        assert_eq!(f.writer.identity.account_id, "999");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "");
        // a new interval: the open one is written (a quiet one: NODATA in
        // the new format) and a new aggregator starts
        let mut c = b.clone();
        c.aggregator.interval = Duration::from_secs(10);
        let f = FlowLogs::reconfigure(Some(f), Some(&c), &mut router);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "5 -\n");
        assert!(router.flow_log_deadline().is_some());
        // removed: stopped
        assert!(FlowLogs::reconfigure(f, None, &mut router).is_none());
        assert!(router.flow_log_deadline().is_none());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn rename_then_reopen_loses_no_line() {
        let dir = std::env::temp_dir().join(format!("vifgate-flowlog-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("flows.log");
        let rotated = dir.join("flows.log.1");
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_file(&rotated);
        let mut w = FlowLogWriter::open(&config(path.clone())).unwrap();
        w.write(&[record(1), record(2)]).unwrap();
        // logrotate: rename, and lines written before the signal still go
        // to the renamed file
        std::fs::rename(&path, &rotated).unwrap();
        w.write(&[record(3)]).unwrap();
        w.reopen().unwrap();
        w.write(&[record(4)]).unwrap();
        let old = std::fs::read_to_string(&rotated).unwrap();
        let new = std::fs::read_to_string(&path).unwrap();
        let packets = |text: &str| -> Vec<String> {
            text.lines()
                .map(|l| l.split(' ').nth(8).unwrap_or_default().to_string())
                .collect()
        };
        assert_eq!(packets(&old), ["1", "2", "3"], "{old}");
        assert_eq!(packets(&new), ["4"], "{new}");
        assert!(
            new.starts_with("2 123456789010 vg0 10.0.0.1 10.0.0.2 1 2 17 4 400 1 2 ACCEPT OK\n")
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
