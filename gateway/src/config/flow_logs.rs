//! `[flow_logs]`: where the gateway writes VPC flow log records, in which
//! format, and how it aggregates them.

use std::os::unix::fs::MetadataExt as _;
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
    pub(super) fn flow_logs(&mut self, r: &RawFlowLogs, interface: &str) -> Option<FlowLogConfig> {
        // every mistake at once: each field checked, then the whole kept
        // only if all were good
        let destination = match r.destination.get_ref().as_str() {
            "-" => Some(FlowLogDestination::Stdout),
            "" => {
                let d = self.error(r.destination.span(), "empty flow log destination");
                d.expected = Some("a file path, or \"-\" for standard output".into());
                None
            }
            _ => Some(FlowLogDestination::File(self.path(&r.destination))),
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

impl Checker<'_> {
    /// Refuses a flow log file that is one of the gateway's other files
    /// (`others`: what each is, and its path): records appended to the
    /// configuration, a key file or the status socket would ruin it.
    pub(super) fn flow_log_file_apart(
        &mut self,
        r: &RawFlowLogs,
        f: &FlowLogConfig,
        others: &[(&str, &Path)],
    ) {
        let FlowLogDestination::File(dest) = &f.destination else {
            return;
        };
        for (what, other) in others {
            if same_file(dest, other) {
                let d = self.error(
                    r.destination.span(),
                    format!(
                        "the flow log destination is {what} ({}): records appended to it would ruin it",
                        other.display()
                    ),
                );
                d.expected = Some("a file of its own, or \"-\" for standard output".into());
            }
        }
    }
}

/// The same path (`.` components aside), or two names of one existing
/// file (a link).
fn same_file(a: &Path, b: &Path) -> bool {
    let plain = |p: &Path| -> PathBuf {
        p.components()
            .filter(|c| *c != std::path::Component::CurDir)
            .collect()
    };
    if plain(a) == plain(b) {
        return true;
    }
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => (x.dev(), x.ino()) == (y.dev(), y.ino()),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use crate::config::parse;
    use crate::config::tests::base;
    use crate::flow_log::Format;

    use super::FlowLogDestination;

    #[test]
    fn a_destination_that_is_another_file_of_the_gateway_is_refused() {
        // the base configuration's private key file is `k`
        for (dest, what) in [
            ("k", "the private key file"),
            ("./k", "the private key file"),
            ("gw.toml", "the configuration file"),
        ] {
            let text = base(&format!("[flow_logs]\ndestination = \"{dest}\"\n"));
            let e = parse("gw.toml", text).unwrap_err().to_string();
            assert!(
                e.contains(&format!("the flow log destination is {what}")),
                "{e}"
            );
            assert!(e.contains("gw.toml:9:15:"), "{e}");
        }
        assert!(parse(
            "gw.toml",
            base("[flow_logs]\ndestination = \"flows.log\"\n")
        )
        .is_ok());
    }

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
}
