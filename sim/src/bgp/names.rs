//! The names the lab's BGP daemons and their readers agree on: the one
//! place that turns a VIF or VPN into the name of its session in a
//! daemon (BIRD's protocol, FRR's neighbour description), and where a
//! daemon's control socket or run directory lives in the lab's state
//! directory. The configs the lab writes and `vifgate sim bgp` both use
//! these, so a session read back live is found by the name it was
//! configured with.
//!
//! A session is named after its kind and its VIF or VPN (the VIF `dx-vif`
//! is `dx.dx-vif` in `birdc show protocols` and in FRR's `show bgp
//! neighbors`, the VPN `vpn` is `vpn.vpn`): [`crate::render::names`]'s
//! BIRD symbol, never a keyword, one per name and kind.

use std::path::{Path, PathBuf};

use topology::bgp::SessionKind;

/// The session name of a VIF or VPN called `name`
/// ([`topology::lab_names::session_name`]: `dx.` or `vpn.` and the
/// escaped name).
pub fn protocol_name(kind: SessionKind, name: &str) -> String {
    topology::lab_names::session_name(kind, name)
}

/// [`protocol_name`] as a symbol in a BIRD configuration: in apostrophes.
pub fn symbol(kind: SessionKind, name: &str) -> String {
    format!("'{}'", protocol_name(kind, name))
}

/// The BIRD symbol of a session's export filter: [`protocol_name`] and
/// `.export` (which fits the room `bird_symbol_name` leaves, and which
/// no session name ends with: an escaped name holds no `.`).
pub fn export_symbol(kind: SessionKind, name: &str) -> String {
    format!("'{}.export'", protocol_name(kind, name))
}

/// A BIRD's control socket in a lab's state directory:
/// `STATE/bird-<name>.ctl` (`vgw`, `vpc`, an office node's token).
pub fn bird_socket(state_dir: &Path, name: &str) -> PathBuf {
    state_dir.join(format!("bird-{name}.ctl"))
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
    fn sessions_are_named_after_their_vif_or_vpn() {
        let (dx, vpn) = (SessionKind::DirectConnect, SessionKind::Vpn);
        assert_eq!(protocol_name(dx, "dx-vif"), "dx.dx-vif");
        assert_eq!(protocol_name(dx, "o'neil vif"), "dx.o:27neil:20vif");
        assert_eq!(symbol(vpn, "vpn"), "'vpn.vpn'", "a keyword, made a symbol");
        assert_eq!(export_symbol(dx, "filter"), "'dx.filter.export'");
        assert_ne!(protocol_name(dx, "x"), protocol_name(vpn, "x"));
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
