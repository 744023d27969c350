//! `[flow_logs]`: where the gateway writes VPC flow log records, in which
//! format, and how it aggregates them.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::{Checker, Int, Str};
use crate::flow_log::{AggregatorConfig, Field, Format, Identity};

/// Most flows held per aggregation interval by default.
pub const DEFAULT_MAX_FLOWS: usize = 100_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFlowLogs {
    destination: Str,
    format: Option<Str>,
    aggregation_interval: Option<Int>,
    max_flows: Option<Int>,
    account_id: Option<Str>,
    interface_id: Option<Str>,
}

/// Where the records go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlowLogDestination {
    /// Standard output (`destination = "-"`).
    Stdout,
    /// A file, appended to and reopened on SIGHUP (rename, then HUP).
    File(PathBuf),
}

impl std::fmt::Display for FlowLogDestination {
    /// As a person reads it in a message: the file's path, or "standard
    /// output".
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FlowLogDestination::Stdout => f.write_str("standard output"),
            FlowLogDestination::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// The `[flow_logs]` table, checked.
#[derive(Debug, Clone)]
pub struct FlowLogConfig {
    /// Where the records go.
    pub destination: FlowLogDestination,
    /// The record format.
    pub format: Format,
    /// Interval and bound.
    pub aggregator: AggregatorConfig,
    /// `account-id` and `interface-id`.
    pub identity: Identity,
}

impl Checker<'_> {
    /// `[flow_logs]`; `interface` is the gateway's name, the default
    /// `interface-id`.
    /// `own_files` are the files the gateway reads or makes, each with
    /// what it is: the destination must be none of them.
    pub(super) fn flow_logs(
        &mut self,
        r: &RawFlowLogs,
        interface: &str,
        own_files: &[(&str, PathBuf)],
    ) -> Option<FlowLogConfig> {
        // every mistake at once: each field checked, then the whole kept
        // only if all were good
        let destination = match r.destination.get_ref().as_str() {
            "-" => Some(FlowLogDestination::Stdout),
            "" => {
                let d = self.error(r.destination.span(), "empty flow log destination");
                d.expected = Some("a file path, or \"-\" for standard output".into());
                None
            }
            _ => {
                let path = self.path(&r.destination);
                match destination_problem(&path, own_files) {
                    None => Some(FlowLogDestination::File(path)),
                    Some(why) => {
                        let d = self.error(
                            r.destination.span(),
                            format!("flow log destination {}: {why}", path.display()),
                        );
                        d.expected = Some(
                            "a file of its own (created if missing, appended to) in an existing directory, or \"-\""
                                .into(),
                        );
                        None
                    }
                }
            }
        };
        let format = match &r.format {
            None => Some(Format::default()),
            Some(f) => match Format::parse(f.get_ref()) {
                Ok(format) => Some(format),
                Err(e) => {
                    // the span starts at the opening quote
                    let at = f.span().start + 1 + e.offset;
                    let d = self.error(at..at + 1, e.message);
                    d.expected = Some(format!(
                        "`${{field}}` tokens separated by spaces; fields: {}",
                        Field::names().collect::<Vec<_>>().join(", ")
                    ));
                    None
                }
            },
        };
        let interval = match &r.aggregation_interval {
            None => Some(60),
            Some(i) if matches!(*i.get_ref(), 10 | 60) => Some(*i.get_ref() as u64),
            Some(i) => {
                let d = self.error(
                    i.span(),
                    format!("aggregation_interval {} is not one of AWS's", i.get_ref()),
                );
                d.expected = Some("60 or 10 (seconds)".into());
                None
            }
        };
        let max_flows = match &r.max_flows {
            None => Some(DEFAULT_MAX_FLOWS),
            Some(m) => self
                .int_in(m, 1, 10_000_000, "max_flows")
                .map(|m| m as usize),
        };
        let text = |s: &Option<Str>, default: &str| {
            s.as_ref()
                .map_or_else(|| default.to_string(), |s| s.get_ref().clone())
        };
        let (destination, format, interval, max_flows) =
            (destination?, format?, interval?, max_flows?);
        Some(FlowLogConfig {
            destination,
            format,
            aggregator: AggregatorConfig {
                interval: Duration::from_secs(interval),
                max_flows,
            },
            identity: Identity {
                account_id: text(&r.account_id, "-"),
                interface_id: text(&r.interface_id, interface),
            },
        })
    }
}

/// Why records cannot be appended to `path` at start, or `None`: it is
/// one of the gateway's own files (appending would corrupt it), a file
/// that cannot be appended to (a directory, a socket), one whose opening
/// would block the start (a named pipe without a reader). A regular file
/// or a character device (`/dev/null`) is fine.
fn destination_problem(path: &Path, own_files: &[(&str, PathBuf)]) -> Option<String> {
    let metadata = std::fs::metadata(path).ok();
    for (what, own) in own_files {
        let same = match (&metadata, std::fs::metadata(own)) {
            (Some(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
            _ => path == own,
        };
        if same {
            return Some(format!(
                "it is {what}: records appended to it would corrupt it"
            ));
        }
    }
    match metadata {
        Some(m) if m.is_file() || m.file_type().is_char_device() => None,
        Some(m) => Some(format!(
            "it is {}: records cannot be appended to it",
            crate::status_socket::file_kind(m.file_type())
        )),
        // a missing directory is the box's state, not the file's (it may
        // be made before the start): `--check` looks
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use crate::config::parse;
    use crate::config::tests::base;
    use crate::flow_log::Format;

    use super::FlowLogDestination;

    #[test]
    fn absent_table_means_no_flow_logs() {
        assert!(parse("gw.toml", base("")).unwrap().flow_logs.is_none());
    }

    #[test]
    fn defaults_are_aws_v2_format_sixty_seconds_and_the_gateway_name() {
        let c = parse(
            "/etc/gw.toml",
            base("[flow_logs]\ndestination = \"flows.log\"\n"),
        )
        .unwrap();
        let f = c.flow_logs.expect("[flow_logs]");
        assert_eq!(
            f.destination,
            FlowLogDestination::File("/etc/flows.log".into())
        );
        assert_eq!(f.format, Format::default());
        assert_eq!(f.aggregator.interval.as_secs(), 60);
        assert_eq!(f.identity.interface_id, "vg0");
        let c = parse(
            "gw.toml",
            base("[flow_logs]\ndestination = \"-\"\naggregation_interval = 10\naccount_id = \"123456789010\"\ninterface_id = \"eni-0abc\"\nmax_flows = 5\nformat = \"${version} ${tcp-flags}\"\n"),
        )
        .unwrap();
        let f = c.flow_logs.expect("[flow_logs]");
        assert_eq!(f.destination, FlowLogDestination::Stdout);
        assert_eq!(f.aggregator.interval.as_secs(), 10);
        assert_eq!(f.aggregator.max_flows, 5);
        assert_eq!(f.identity.account_id, "123456789010");
        assert_eq!(f.identity.interface_id, "eni-0abc");
        assert_eq!(f.format.fields().len(), 2);
    }

    #[test]
    fn unknown_field_in_format_is_an_error_at_its_column() {
        let text = base("[flow_logs]\ndestination = \"-\"\nformat = \"${version} ${srcadr}\"\n");
        let e = parse("gw.toml", text).unwrap_err().to_string();
        assert!(e.contains("unknown flow log field `srcadr`"), "{e}");
        let line = e
            .lines()
            .find(|l| l.contains("gw.toml:"))
            .unwrap_or_default();
        assert!(
            line.contains("gw.toml:10:22:"),
            "line and column of `${{srcadr}}`: {e}"
        );
    }

    #[test]
    fn interval_other_than_ten_or_sixty_is_an_error() {
        let text = base("[flow_logs]\ndestination = \"-\"\naggregation_interval = 30\n");
        let e = parse("gw.toml", text).unwrap_err().to_string();
        assert!(e.contains("aggregation_interval 30"), "{e}");
        assert!(e.contains("60 or 10"), "{e}");
    }

    #[test]
    fn the_destination_is_no_file_of_the_gateway_and_can_be_appended_to() {
        let dir = std::env::temp_dir().join(format!("vifgate-flowdest-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("k"), "key").unwrap();
        let config = dir.join("gw.toml");
        let at = |destination: &str| {
            let text = base(&format!("[flow_logs]\ndestination = \"{destination}\"\n"));
            match parse(&config, text) {
                Ok(_) => vec![],
                Err(d) => d.0.iter().map(|d| d.headline()).collect::<Vec<_>>(),
            }
        };
        let place = format!("{}:9:15: error: flow log destination", config.display());
        assert_eq!(
            at("k"),
            [format!(
                "{place} {}: it is the private key file: records appended to it would corrupt it",
                dir.join("k").display()
            )]
        );
        assert_eq!(
            at("gw.toml"),
            [format!(
                "{place} {}: it is the configuration file: records appended to it would corrupt it",
                config.display()
            )]
        );
        assert_eq!(
            at("/run/vifgate/vg0.sock"),
            [format!(
                "{place} /run/vifgate/vg0.sock: it is the status socket: records appended to it would corrupt it"
            )]
        );
        assert_eq!(
            at("sub"),
            [format!(
                "{place} {}: it is a directory: records cannot be appended to it",
                dir.join("sub").display()
            )]
        );
        assert!(
            at("nowhere/flows.log").is_empty(),
            "made before the start, maybe"
        );
        assert!(at("flows.log").is_empty());
        assert!(at("sub/flows.log").is_empty());
        assert!(at("/dev/null").is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn every_mistake_is_reported_at_once() {
        let text = base("[flow_logs]\ndestination = \"\"\naggregation_interval = 30\nmax_flows = 0\nformat = \"${bogus}\"\n");
        let e = parse("gw.toml", text).unwrap_err().to_string();
        for what in [
            "empty flow log destination",
            "aggregation_interval 30",
            "max_flows 0",
            "`bogus`",
        ] {
            assert!(e.contains(what), "{what}: {e}");
        }
    }

    /// A start that cannot open the log names it as written, not as the
    /// enum's debug form (it said `File("/proc/1/flows.log")`).
    #[test]
    fn a_destination_reads_as_its_path() {
        let file = FlowLogDestination::File("/var/log/vifgate/flows.log".into());
        assert_eq!(file.to_string(), "/var/log/vifgate/flows.log");
        assert_eq!(FlowLogDestination::Stdout.to_string(), "standard output");
    }
}
