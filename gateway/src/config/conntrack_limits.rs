//! `[conntrack]`'s shares: `lan_max_flows`, `tunnel_max_flows` and
//! `peer_max_flows`, the most flows each side and each peer may hold
//! (`conntrack/shares.rs`).

use super::{Checker, RawConntrack};
use crate::conntrack::Limits;

impl Checker<'_> {
    /// The limits of a table of `max_flows`: each within the table, a
    /// peer's within the tunnel's; the defaults of [`Limits::shared`].
    pub(super) fn conntrack_limits(
        &mut self,
        raw: Option<&RawConntrack>,
        max_flows: usize,
    ) -> Limits {
        let mut limits = Limits::shared(max_flows);
        let Some(raw) = raw else {
            return limits;
        };
        if let Some(n) = self.count_in(raw.lan_max_flows.as_ref(), 1, max_flows, "lan_max_flows") {
            limits.lan = n;
        }
        if let Some(n) = self.count_in(
            raw.tunnel_max_flows.as_ref(),
            1,
            max_flows,
            "tunnel_max_flows",
        ) {
            limits.tunnel = n;
            limits.peer = n;
        }
        if let Some(n) = self.count_in(
            raw.peer_max_flows.as_ref(),
            1,
            limits.tunnel,
            "peer_max_flows",
        ) {
            limits.peer = n;
        }
        limits
    }
}

#[cfg(test)]
mod tests {
    use crate::config::tests::{checked, INTERFACE};
    use crate::conntrack::Limits;

    fn limits(rest: &str) -> Result<Limits, Vec<String>> {
        checked(format!("{INTERFACE}{rest}"), |c| c.conntrack.limits)
    }

    #[test]
    fn the_tunnel_gets_half_the_table_by_default() {
        let default = limits("").unwrap();
        assert_eq!(
            (default.lan, default.tunnel, default.peer),
            (1 << 20, 1 << 19, 1 << 19)
        );
        let small = limits("[conntrack]\nmax_flows = 1001\n").unwrap();
        assert_eq!((small.lan, small.tunnel, small.peer), (1001, 501, 501));
        let set = limits(
            "[conntrack]\nmax_flows = 1000\nlan_max_flows = 900\ntunnel_max_flows = 300\npeer_max_flows = 100\n",
        )
        .unwrap();
        assert_eq!((set.lan, set.tunnel, set.peer), (900, 300, 100));
        // A peer may use the whole tunnel's share unless told otherwise.
        let tunnel = limits("[conntrack]\nmax_flows = 1000\ntunnel_max_flows = 300\n").unwrap();
        assert_eq!(tunnel.peer, 300);
    }

    #[test]
    fn a_limit_beyond_its_bound_is_an_error_at_its_place() {
        assert_eq!(
            limits("[conntrack]\nmax_flows = 100\ntunnel_max_flows = 101\n").unwrap_err(),
            ["gw.toml:6:20: error: tunnel_max_flows 101 is out of range"]
        );
        assert_eq!(
            limits("[conntrack]\nmax_flows = 100\ntunnel_max_flows = 10\npeer_max_flows = 11\n")
                .unwrap_err(),
            ["gw.toml:7:18: error: peer_max_flows 11 is out of range"]
        );
        assert_eq!(
            limits("[conntrack]\nlan_max_flows = 0\n").unwrap_err(),
            ["gw.toml:5:17: error: lan_max_flows 0 is out of range"]
        );
    }
}
