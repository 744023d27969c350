//! What a reload (SIGHUP) cannot put in force in a running gateway: the
//! settings its start-up used to open the device and the sockets and to
//! give up its privileges. A reload that changes one of them is refused,
//! naming each, rather than taken with the change ignored.
//!
//! The private key is not among them: a reload puts a new key in force
//! (`Router::set_private_key`), and every session restarts under it.

use std::fmt;

use super::GatewayConfig;

/// A setting changed in the file that only a restart applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestartNeeded {
    /// The key, with its table: `[interface] listen_port`.
    pub key: &'static str,
    /// Its value in the running gateway.
    pub running: String,
    /// Its value in the file.
    pub new: String,
}

/// The settings a reload would change that need a restart; empty when
/// the reload can be taken.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NeedsRestart(pub Vec<RestartNeeded>);

impl fmt::Display for NeedsRestart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys: Vec<String> = self
            .0
            .iter()
            .map(|r| format!("{} ({} -> {})", r.key, r.running, r.new))
            .collect();
        write!(
            f,
            "{} only a restart applies: {}; the running configuration stays",
            if keys.len() == 1 {
                "a setting changed that"
            } else {
                "settings changed that"
            },
            keys.join(", ")
        )
    }
}

impl GatewayConfig {
    /// What of `new` a reload of this running configuration cannot apply:
    /// the TUN device's name and address, the UDP port, the size of the
    /// connection table (allocated at start), the status socket, the
    /// account and the real-time priority of `[process]` (set while the
    /// gateway still has the privileges).
    pub fn needs_restart(&self, new: &GatewayConfig) -> NeedsRestart {
        let mut changed = Vec::new();
        let mut compare = |key, running: String, new: String| {
            if running != new {
                changed.push(RestartNeeded { key, running, new });
            }
        };
        let (a, b) = (&self.interface, &new.interface);
        compare("[interface] name", quoted(&a.name), quoted(&b.name));
        compare(
            "[interface] address",
            a.address.map_or("none".into(), |x| x.to_string()),
            b.address.map_or("none".into(), |x| x.to_string()),
        );
        compare(
            "[interface] listen_port",
            a.listen_port.to_string(),
            b.listen_port.to_string(),
        );
        compare(
            "[interface] tx_queue_length",
            a.tx_queue_length.to_string(),
            b.tx_queue_length.to_string(),
        );
        compare(
            "[conntrack] max_flows",
            self.conntrack.max_flows.to_string(),
            new.conntrack.max_flows.to_string(),
        );
        compare(
            "[status] socket",
            self.status_socket.display().to_string(),
            new.status_socket.display().to_string(),
        );
        let account = |c: &GatewayConfig| {
            c.run_as
                .as_ref()
                .map_or("none".into(), |r| format!("{}:{}", r.user, r.group))
        };
        compare("[process] user:group", account(self), account(new));
        let priority =
            |c: &GatewayConfig| c.realtime_priority.map_or("none".into(), |p| p.to_string());
        compare("[process] realtime_priority", priority(self), priority(new));
        NeedsRestart(changed)
    }
}

fn quoted(s: &str) -> String {
    format!("`{}`", s.escape_debug())
}

#[cfg(test)]
mod tests {
    use crate::config::parse;
    use crate::config::tests::base;

    #[test]
    fn a_reload_names_each_setting_that_needs_a_restart() {
        let running = parse("gw.toml", base("")).unwrap();
        let same = parse(
            "gw.toml",
            base("[[route]]\nprefix = \"10.0.0.0/16\"\npeer = \"aws\"\n"),
        )
        .unwrap();
        assert!(running.needs_restart(&same).0.is_empty(), "routes reload");
        let new = parse(
            "gw.toml",
            base("[conntrack]\nmax_flows = 1000\n[status]\nsocket = \"/run/x.sock\"\n[process]\nuser = \"nobody\"\nrealtime_priority = 10\n")
                .replace("name = \"vg0\"", "name = \"vg1\"\naddress = \"169.254.0.1/30\"\nlisten_port = 51821\ntx_queue_length = 64"),
        )
        .unwrap();
        let needs = running.needs_restart(&new);
        let keys: Vec<&str> = needs.0.iter().map(|r| r.key).collect();
        assert_eq!(
            keys,
            [
                "[interface] name",
                "[interface] address",
                "[interface] listen_port",
                "[interface] tx_queue_length",
                "[conntrack] max_flows",
                "[status] socket",
                "[process] user:group",
                "[process] realtime_priority",
            ]
        );
        let one = parse(
            "gw.toml",
            base("").replace("name = \"vg0\"", "name = \"vg0\"\nlisten_port = 51821"),
        )
        .unwrap();
        assert_eq!(
            running.needs_restart(&one).to_string(),
            "a setting changed that only a restart applies: [interface] listen_port (51820 -> 51821); the running configuration stays"
        );
        assert!(needs.to_string().starts_with(
            "settings changed that only a restart applies: [interface] name (`vg0` -> `vg1`), [interface] address (none -> 169.254.0.1/30), "
        ), "{needs}");
    }
}
