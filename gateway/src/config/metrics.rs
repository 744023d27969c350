//! `[metrics]`: where the gateway serves its Prometheus metrics
//! (`listen = "127.0.0.1:9586"`); off without the table. A reload may
//! change the address or remove the table.

use std::net::SocketAddr;

use serde::Deserialize;

use super::{Checker, Str};

/// The address used when `[metrics]` has no `listen`: the loopback
/// interface and the port the gateway's exporter is known by.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9586";

/// `[metrics]` as read.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMetrics {
    listen: Option<Str>,
}

/// `[metrics]`: the Prometheus endpoint (`GET /metrics`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricsConfig {
    /// The address and port the HTTP server listens on.
    pub listen: SocketAddr,
}

impl Checker<'_> {
    /// `[metrics]`: an address:port to listen on.
    pub(super) fn metrics(&mut self, m: &RawMetrics) -> Option<MetricsConfig> {
        let Some(l) = &m.listen else {
            return DEFAULT_LISTEN
                .parse()
                .ok()
                .map(|listen| MetricsConfig { listen });
        };
        match l.get_ref().parse::<SocketAddr>() {
            Ok(a) if a.port() != 0 => Some(MetricsConfig { listen: a }),
            Ok(_) => {
                let d = self.error(l.span(), "port 0 is no port Prometheus can scrape");
                d.expected = Some(format!("a fixed port, like {DEFAULT_LISTEN}"));
                None
            }
            Err(_) => {
                let d = self.error(
                    l.span(),
                    format!("`{}` is not an address:port", l.get_ref()),
                );
                d.expected = Some(format!("an address to listen on, like {DEFAULT_LISTEN}"));
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use crate::config::tests::{checked, warnings, INTERFACE};

    fn headlines(rest: &str) -> Vec<String> {
        match checked(format!("{INTERFACE}{rest}"), |c| warnings(&c)) {
            Ok(h) | Err(h) => h,
        }
    }

    #[test]
    fn metrics_are_off_by_default_and_listen_where_told() {
        let c = parse("gw.toml", INTERFACE.to_string()).unwrap();
        assert_eq!(c.metrics, None);
        let c = parse("gw.toml", format!("{INTERFACE}[metrics]\n")).unwrap();
        assert_eq!(
            c.metrics.map(|m| m.listen.to_string()).as_deref(),
            Some("127.0.0.1:9586")
        );
        let c = parse(
            "gw.toml",
            format!("{INTERFACE}[metrics]\nlisten = \"0.0.0.0:9100\"\n"),
        )
        .unwrap();
        assert_eq!(
            c.metrics.map(|m| m.listen.to_string()).as_deref(),
            Some("0.0.0.0:9100")
        );
    }

    #[test]
    fn a_bad_address_is_an_error_at_its_place() {
        assert_eq!(
            headlines("[metrics]\nlisten = \"localhost\"\n"),
            ["gw.toml:5:10: error: `localhost` is not an address:port"]
        );
        assert_eq!(
            headlines("[metrics]\nlisten = \"127.0.0.1:0\"\n"),
            ["gw.toml:5:10: error: port 0 is no port Prometheus can scrape"]
        );
        let unknown = headlines("[metrics]\nport = 9586\n");
        assert_eq!(unknown.len(), 1);
        assert!(
            unknown[0]
                .starts_with("gw.toml:5:1: error: invalid gateway config: unknown field `port`"),
            "{unknown:?}"
        );
    }
}
