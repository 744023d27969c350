//! Where things are in a lab, for every layer: the lab's name and its
//! namespaces' names, its state directory, and the fixed addresses and
//! kernel tables of the links the lab makes itself. A leaf: it imports
//! nothing from the simulator, so the plan, the renderers and `apply` can
//! all use it without importing each other.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// Kernel table of traffic entering the VPC router from the internet
/// gateway or the VGW: only the VPC's own subnets.
pub const EDGE_TABLE: u32 = 200;
/// The lowest kernel table of the VPC's route tables
/// ([`route_table_numbers`]: this plus 24 bits of the name's hash).
pub const FIRST_TABLE: u32 = 1000;
/// The VPC router's side of its link to the VGW.
pub const VGW_LINK_ROUTER: Ipv4Addr = Ipv4Addr::new(169, 254, 255, 1);
/// The VGW's side of that link.
pub const VGW_LINK_VGW: Ipv4Addr = Ipv4Addr::new(169, 254, 255, 2);
/// The VPC router's address on the internet gateway link.
pub const IGW_LINK_ROUTER: Ipv4Addr = Ipv4Addr::new(169, 254, 254, 1);
/// Whether `lab` can prefix namespace names.
pub fn valid_lab_name(lab: &str) -> bool {
    (1..=24).contains(&lab.len())
        && lab
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !lab.starts_with('-')
}

/// A lab name from a topology name: lower-cased, other characters as `-`,
/// cut to 24.
pub fn default_lab_name(topology: &str) -> String {
    let mut s: String = topology
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                c
            } else {
                '-'
            }
        })
        .collect();
    s = s.trim_matches('-').to_string();
    s.truncate(24);
    if s.is_empty() {
        "lab".into()
    } else {
        s
    }
}

/// Names for the objects of `names` (in their order), each `prefix` and
/// 8 hex digits of its name's BLAKE2s hash, so that an object keeps its
/// name when others come or go (`sim apply` then changes only what did).
/// Unique: a name taken already (two names with the same 32 bits of hash)
/// is the hash of the name and a counter instead.
pub fn hashed_names<'a>(prefix: &str, names: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    unique_hashes(names, |d| {
        format!("{prefix}{:02x}{:02x}{:02x}{:02x}", d[0], d[1], d[2], d[3])
    })
}

/// The first 4 bytes of the BLAKE2s hash of `name` (and of `k` after it,
/// when `k > 0`).
fn name_hash(name: &str, k: u32) -> [u8; 4] {
    use blake2::{Blake2s256, Digest};
    let mut h = Blake2s256::new();
    h.update(name.as_bytes());
    if k > 0 {
        h.update(k.to_le_bytes());
    }
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

/// `made(hash)` for each of `names` (in their order), unique among them:
/// a value taken already is made again from the hash of the name and a
/// counter (1, 2, ...), so a name's value depends on the names before it
/// only when their hashes collide.
fn unique_hashes<'a, T: Ord + Clone>(
    names: impl IntoIterator<Item = &'a str>,
    made: impl Fn([u8; 4]) -> T,
) -> Vec<T> {
    let mut taken = std::collections::BTreeSet::new();
    names
        .into_iter()
        .map(|name| {
            let mut k = 0;
            loop {
                let v = made(name_hash(name, k));
                if taken.insert(v.clone()) {
                    return v;
                }
                k += 1;
            }
        })
        .collect()
}

/// The kernel table of each route table of `names` (in the topology's
/// order): [`FIRST_TABLE`] plus 24 bits of its name's hash, unique within
/// the lab ([`hashed_names`]' rule), so that a route table added or
/// removed leaves the others' tables, their routes and rules alone.
pub fn route_table_numbers<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<u32> {
    unique_hashes(names, |d| {
        FIRST_TABLE + u32::from_be_bytes([0, d[0], d[1], d[2]])
    })
}

/// The stem of the switch-side port names of each node of `names` (in
/// node order): `p` and 8 hex digits ([`hashed_names`]), so a node keeps
/// its ports' names when other nodes come or go.
pub fn port_stems<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    hashed_names("p", names)
}

/// The bridge of each subnet of `names` (in the topology's order) in the
/// VPC router: `sn` and 8 hex digits ([`hashed_names`]), so a subnet
/// keeps its bridge, and its network ACL chains their interface, when
/// other subnets come or go.
pub fn subnet_bridges<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    hashed_names("sn", names)
}

/// The bridge of each office LAN of `names` in the office switch: `lan`
/// and 8 hex digits ([`hashed_names`]).
pub fn lan_bridges<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    hashed_names("lan", names)
}

/// The priority of the VPC router's policy rules, one per subnet bridge
/// (`iif BRIDGE lookup TABLE`): the same for all, as their input
/// interfaces never overlap, so a subnet added changes no other's rule.
pub const SUBNET_RULE_PRIORITY: u32 = 1000;

/// The switch-side port of interface `interface` of the node whose
/// stem ([`port_stems`]) is `stem`: `STEMxI` (at most 15 bytes, Linux's
/// limit, for up to 1000 interfaces).
pub fn access_port(stem: &str, interface: usize) -> String {
    format!("{stem}x{interface}")
}

/// Namespace of the office switch.
pub fn lan_ns(lab: &str) -> String {
    format!("{lab}+lan")
}

/// Namespace of the VPC router.
pub fn vpc_ns(lab: &str) -> String {
    format!("{lab}+vpc")
}

/// Namespace of the VGW.
pub fn vgw_ns(lab: &str) -> String {
    format!("{lab}+vgw")
}

/// The namespace-name prefixes a lab owns: `L.` and `L+`.
pub fn lab_prefixes(lab: &str) -> [String; 2] {
    [format!("{lab}."), format!("{lab}+")]
}

/// A node name made safe for a namespace or file name.
pub fn ns_token(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Where lab state directories live unless [`STATE_ROOT_VAR`] says
/// otherwise.
pub const DEFAULT_STATE_ROOT: &str = "/run/vifgate/sim";

/// The environment variable that moves the state root (a relative path
/// starts at the current directory; tests use a private one so that
/// nothing they do can reach the labs of others).
pub const STATE_ROOT_VAR: &str = "VIFGATE_STATE_ROOT";

/// Where lab state directories live: [`STATE_ROOT_VAR`] when it is set
/// (a relative path from the current directory), else
/// [`DEFAULT_STATE_ROOT`]. A relative root is never taken for the
/// default: a private root must not turn into everyone's.
pub fn state_root() -> PathBuf {
    match std::env::var_os(STATE_ROOT_VAR).map(PathBuf::from) {
        Some(p) if p.as_os_str().is_empty() => PathBuf::from(DEFAULT_STATE_ROOT),
        Some(p) => std::path::absolute(&p).unwrap_or(p),
        None => PathBuf::from(DEFAULT_STATE_ROOT),
    }
}

/// The state directory of a lab: `lab` joined onto [`state_root`]. Only a
/// name [`valid_lab_name`] accepts names a lab; every function of
/// `apply` that reads, writes or removes a lab's directory checks the
/// name first ([`crate::apply::state::checked_state_dir`]).
pub fn state_dir(lab: &str) -> PathBuf {
    state_root().join(lab)
}

/// The runtime API socket of the HAProxy playing load balancer `node`, in
/// the lab's state directory `dir`.
pub fn haproxy_socket(dir: &Path, node: &str) -> PathBuf {
    dir.join(format!("haproxy-{}.sock", ns_token(node)))
}

/// The map from HAProxy's servers to the instances in them, of load
/// balancer `node` (what its `X-Vifgate-Target` header says), in the
/// lab's state directory `dir`.
pub fn haproxy_target_map(dir: &Path, node: &str) -> PathBuf {
    dir.join(format!("haproxy-{}.map", ns_token(node)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_names_follow_the_node_not_its_place() {
        let before = port_stems(["web-a1", "db"]);
        let after = port_stems(["bastion2", "web-a1", "db"]);
        assert_eq!(before[..], after[1..]);
        assert_ne!(after[0], after[1]);
        let port = access_port(&after[0], 999);
        assert!(port.len() <= 15, "{port}");
        // one name thrice (a clash of hashes, at its most): apart all the same
        let same = port_stems(["x", "x", "x"]);
        assert_eq!(
            same.iter().collect::<std::collections::BTreeSet<_>>().len(),
            3
        );
        // bridges fit Linux's 15 bytes
        assert!(lan_bridges(["staff"])[0].len() <= 15);
        assert_eq!(subnet_bridges(["a", "b"])[1], subnet_bridges(["b"])[0]);
    }

    #[test]
    fn route_tables_keep_their_kernel_table_when_others_come_or_go() {
        let before = route_table_numbers(["public", "private"]);
        let after = route_table_numbers(["public", "inserted", "private"]);
        assert_eq!((before[0], before[1]), (after[0], after[2]));
        assert!(after
            .iter()
            .all(|t| (FIRST_TABLE..FIRST_TABLE + (1 << 24)).contains(t)));
        // kept clear of the tables the lab uses otherwise and Linux's own
        assert!(after
            .iter()
            .all(|t| (EDGE_TABLE + 1..0xFFFF_FF00).contains(t)));
        let same = route_table_numbers(["x", "x", "x"]);
        assert_eq!(
            same.iter().collect::<std::collections::BTreeSet<_>>().len(),
            3
        );
    }
}
