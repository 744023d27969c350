//! The names the lab's BGP daemons and their readers agree on: the one
//! place that turns a VIF or VPN into the name of its session in a
//! daemon (BIRD's protocol, FRR's neighbour description), and where a
//! daemon's control socket or run directory lives in the lab's state
//! directory. The configs the lab writes and `vifgate sim bgp` both use
//! these, so a session read back live is found by the name it was
//! configured with.
//!
//! A session is named after its VIF or VPN (`dx-vif` stays `dx-vif` in
//! `birdc show protocols` and in FRR's `show bgp neighbors`); BIRD's
//! configuration quotes it ([`symbol`]), so that names with `-` or `.`
//! are symbols too. BIRD 2.0.12 still reads a quoted keyword of its
//! grammar (`'vpn'`, `'static'`, `'primary'`) as the keyword, so a name
//! that could be one (only `a-z`, `0-9` and `_`) gets a `-` appended:
//! the VPN `vpn` is the session `vpn-`.

use std::path::{Path, PathBuf};

/// The session name of a VIF or VPN called `name`: the name itself, any
/// character BIRD does not take in a quoted symbol (other than letters,
/// digits, `_`, `-`, `.`) as `_`, and a `-` after a name BIRD could read
/// as one of its keywords.
pub fn protocol_name(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let keyword_shaped = s
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if keyword_shaped {
        s.push('-');
    }
    s
}

/// [`protocol_name`] as a symbol in a BIRD configuration: in apostrophes.
pub fn symbol(name: &str) -> String {
    format!("'{}'", protocol_name(name))
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
        assert_eq!(protocol_name("dx-vif"), "dx-vif");
        assert_eq!(protocol_name("dx-vif.prefixes"), "dx-vif.prefixes");
        assert_eq!(protocol_name("o'neil vif"), "o_neil_vif-");
        assert_eq!(symbol("dx-vif"), "'dx-vif'");
        // BIRD 2.0.12 reads `'vpn'` as its keyword `vpn`
        assert_eq!(symbol("vpn"), "'vpn-'", "a keyword, made a symbol");
        assert_eq!(protocol_name("primary"), "primary-");
        assert_eq!(protocol_name("Primary"), "Primary");
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
