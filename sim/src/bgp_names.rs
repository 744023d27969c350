//! The names the lab's BGP daemons and their readers agree on: protocol
//! (BIRD) and neighbour description (FRR) names per session, and where a
//! daemon's control socket or run directory lives in the lab's state
//! directory. The configs the lab writes and `vifgate sim bgp` both use
//! these, so a session read back live is found by the name it was
//! configured with.
//!
//! `vpn` itself cannot be a BIRD protocol name (it is a keyword of BIRD's
//! grammar: `syntax error, unexpected VPN`), hence [`VPN_BGP`].

use std::path::{Path, PathBuf};

/// The prefix of a VIF's session name: `dx_<vif index>`.
pub const VIF_PREFIX: &str = "dx_";
/// The VPN's BGP session (`routing = "bgp"`).
pub const VPN_BGP: &str = "vpn_bgp";
/// The VGW's static routes to the office over a VPN with `routing =
/// "static"` (a BIRD static protocol).
pub const VPN_STATIC: &str = "vpn_static";

/// The session name of the VIF at `index` in the file (`dx_0`, `dx_1` ...).
pub fn vif_protocol(index: usize) -> String {
    format!("{VIF_PREFIX}{index}")
}

/// What a protocol name stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtocolName {
    /// The BGP session of the VIF at this index.
    Vif(usize),
    /// The VPN's BGP session.
    VpnBgp,
    /// The VGW's static routes over the VPN.
    VpnStatic,
}

impl ProtocolName {
    /// Reads a protocol name; `None` for any other protocol (the kernel,
    /// device, BFD or propagation protocols of a config).
    pub fn parse(name: &str) -> Option<ProtocolName> {
        match name {
            VPN_BGP => Some(ProtocolName::VpnBgp),
            VPN_STATIC => Some(ProtocolName::VpnStatic),
            _ => name
                .strip_prefix(VIF_PREFIX)
                .filter(|i| !i.is_empty() && i.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|i| i.parse().ok())
                .map(ProtocolName::Vif),
        }
    }

    /// The name, as a config writes it.
    pub fn name(self) -> String {
        match self {
            ProtocolName::Vif(i) => vif_protocol(i),
            ProtocolName::VpnBgp => VPN_BGP.to_string(),
            ProtocolName::VpnStatic => VPN_STATIC.to_string(),
        }
    }
}

/// A BIRD's control socket in a lab's state directory:
/// `STATE/bird-<ns token>.ctl`.
pub fn bird_socket(state_dir: &Path, ns_token: &str) -> PathBuf {
    state_dir.join(format!("bird-{ns_token}.ctl"))
}

/// An FRR node's run directory (its vty sockets, zebra socket, pid files
/// and configs) in a lab's state directory: `STATE/frr-<ns token>/`.
pub fn frr_run_dir(state_dir: &Path, ns_token: &str) -> PathBuf {
    state_dir.join(format!("frr-{ns_token}"))
}

/// Whether a state directory entry is a BIRD control socket.
pub fn is_bird_socket(file_name: &str) -> bool {
    file_name.starts_with("bird-") && file_name.ends_with(".ctl")
}

/// Whether a state directory entry is an FRR run directory.
pub fn is_frr_run_dir(file_name: &str) -> bool {
    file_name.starts_with("frr-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_others_are_not_sessions() {
        for p in [
            ProtocolName::Vif(0),
            ProtocolName::Vif(12),
            ProtocolName::VpnBgp,
            ProtocolName::VpnStatic,
        ] {
            assert_eq!(ProtocolName::parse(&p.name()), Some(p));
        }
        assert_eq!(vif_protocol(3), "dx_3");
        for other in ["dx_", "dx_a", "kernel1", "vpn", "device1", "dx_1x"] {
            assert_eq!(ProtocolName::parse(other), None, "{other}");
        }
    }

    #[test]
    fn files_live_in_the_state_directory() {
        let dir = Path::new("/run/vifgate/sim/yh");
        assert_eq!(
            bird_socket(dir, "yh_vgw"),
            Path::new("/run/vifgate/sim/yh/bird-yh_vgw.ctl")
        );
        assert_eq!(
            frr_run_dir(dir, "office"),
            Path::new("/run/vifgate/sim/yh/frr-office")
        );
        assert!(is_bird_socket("bird-yh_vgw.ctl") && !is_bird_socket("bird-x.log"));
        assert!(is_frr_run_dir("frr-office") && !is_frr_run_dir("state.json"));
    }
}
