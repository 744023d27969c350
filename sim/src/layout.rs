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
/// The VGW's side of that link: its BGP router ID too.
pub const VGW_LINK_VGW: Ipv4Addr = topology::bgp::VGW_ROUTER_ID;
/// The VPC router's address on the internet gateway link.
pub const IGW_LINK_ROUTER: Ipv4Addr = Ipv4Addr::new(169, 254, 254, 1);
/// The `User-Agent` of the lab's load balancers' health checks: AWS's
/// health checker's. The listener answers a request with it on a
/// health-check path without spending CPU on it (the lab checks
/// `time_scale` times as often as AWS); a client's request for the same
/// path costs as any other.
pub const HEALTH_CHECK_USER_AGENT: &str = "ELB-HealthChecker/2.0";

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

/// The link of each Direct Connect VIF of `names` (in the topology's
/// order), the same name at both ends (the office node and the VGW): `dx`
/// and 8 hex digits ([`hashed_names`]), so that a VIF added or removed
/// leaves the others' links, addresses and BGP sessions alone. With its
/// VLAN sub-interface (`.4094` at most) still within Linux's 15 bytes.
pub fn vif_links<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    hashed_names("dx", names)
}

/// The VPN's link (the office node to the VGW): there is one VPN at most,
/// so its name is fixed.
pub const VPN_LINK: &str = "vpn0";

/// The TUN device of an office node's gateway: one gateway per office
/// node, so its name is fixed.
pub const OFFICE_TUN: &str = "vg0";

/// The TUN device of the VGW's gateway of each VIF and of the VPN, by
/// their names (the VIFs' in the topology's order, then the VPN's): `vg`
/// and 8 hex digits ([`hashed_names`]), unique in the VGW's namespace,
/// never [`OFFICE_TUN`].
pub fn vgw_tunnels<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    hashed_names("vg", names)
}

/// The name of the VGW's gateway of a VIF or (`vpn`) of the VPN, for its
/// files and messages: `vgw-` and the name's [`ns_token`]; the VPN's is
/// `vgw-vpn-` and its token when one of the VIFs `vifs` has the same
/// token, as AWS lets a VIF and a VPN share a name.
pub fn vgw_gateway_name<'a>(
    name: &str,
    vpn: bool,
    vifs: impl IntoIterator<Item = &'a str>,
) -> String {
    let token = ns_token(name);
    if vpn && vifs.into_iter().any(|v| ns_token(v) == token) {
        format!("vgw-vpn-{token}")
    } else {
        format!("vgw-{token}")
    }
}

/// The lowest UDP port of the VGW's gateways ([`vgw_ports`]).
pub const FIRST_VGW_PORT: u16 = 20000;
/// How many UDP ports the VGW's gateways draw from: 20000-29999.
pub const VGW_PORTS: u16 = 10000;

/// The UDP port of the VGW's gateway of each VIF and of the VPN, by their
/// names (as [`vgw_tunnels`]): [`FIRST_VGW_PORT`] plus 16 bits of the
/// name's hash modulo [`VGW_PORTS`], unique in the VGW's namespace
/// ([`hashed_names`]' rule), so that a VIF added or removed leaves the
/// others' tunnels alone. The range 20000-29999 lies below the ephemeral
/// ports a new namespace hands out (32768-60999: BFD's and BGP's source
/// ports never take one), apart from the office gateways' 51820 and from
/// BGP (179) and BFD (3784, 3785, 4784).
pub fn vgw_ports<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<u16> {
    unique_hashes(names, |d| {
        FIRST_VGW_PORT + u16::from_be_bytes([d[0], d[1]]) % VGW_PORTS
    })
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

/// What the lab's scaling controller process is recorded as in the
/// lab's state (`crate::scaling::service`).
pub const CONTROLLER_PROCESS: &str = "autoscaling";

/// The scaling controller's log in the lab's state directory `dir`.
pub fn controller_log(dir: &Path) -> PathBuf {
    dir.join("autoscaling.log")
}

/// The longest file name Linux takes (`NAME_MAX`), in bytes.
pub const FILE_NAME_MAX: usize = 255;

/// What the older records of a group end in, beside its records
/// ([`controller_records_before`]).
const RECORDS_BEFORE: &str = ".1";

/// Auto Scaling group `group`'s records (JSON lines) in the lab's state
/// directory `dir`, written by the lab's scaling controller:
/// `autoscaling-`, the group's name [`topology::lab_names::escape`]d
/// (injective: `web asg` is `web:20asg`, `web_asg` itself, so two groups
/// never share a file), `.jsonl`. A group may have 255 characters (AWS's
/// bound), which with the prefix and suffix would pass Linux's
/// [`FILE_NAME_MAX`]: a long name keeps a readable head and ends in `::`
/// and 16 hex digits of its hash ([`topology::lab_names::fit`]), with
/// room left for [`controller_records_before`]'s ending.
pub fn controller_records(dir: &Path, group: &str) -> PathBuf {
    const PREFIX: &str = "autoscaling-";
    const SUFFIX: &str = ".jsonl";
    let stem = topology::lab_names::fit(
        PREFIX,
        &topology::lab_names::escape(group),
        group,
        FILE_NAME_MAX - SUFFIX.len() - RECORDS_BEFORE.len(),
    );
    dir.join(format!("{stem}{SUFFIX}"))
}

/// Where group `group`'s records go once they reach their bound (the
/// controller starts a new file then): [`controller_records`] and `.1`.
pub fn controller_records_before(dir: &Path, group: &str) -> PathBuf {
    let mut p = controller_records(dir, group).into_os_string();
    p.push(RECORDS_BEFORE);
    PathBuf::from(p)
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
    fn vif_links_tunnels_and_ports_follow_the_vif_not_its_place() {
        let before = (
            vif_links(["dx-vif-2"]),
            vgw_tunnels(["dx-vif-2", "vpn-backup"]),
            vgw_ports(["dx-vif-2", "vpn-backup"]),
        );
        let after = (
            vif_links(["dx-vif-1", "dx-vif-2"]),
            vgw_tunnels(["dx-vif-1", "dx-vif-2", "vpn-backup"]),
            vgw_ports(["dx-vif-1", "dx-vif-2", "vpn-backup"]),
        );
        assert_eq!(before.0[..], after.0[1..]);
        assert_eq!(before.1[..], after.1[1..]);
        assert_eq!(before.2[..], after.2[1..]);
        // a link and its VLAN sub-interface within Linux's 15 bytes
        let link = &after.0[0];
        assert!(format!("{link}.4094").len() <= 15, "{link}");
        assert!(after.1.iter().all(|t| t.len() <= 15 && t != OFFICE_TUN));
        // ports in their range, apart from the office gateways' and from
        // the ephemeral ports of a new namespace
        let range = FIRST_VGW_PORT..FIRST_VGW_PORT + VGW_PORTS;
        assert!(after.2.iter().all(|p| range.contains(p)));
        assert!(!range.contains(&51820) && range.end <= 32768);
        // as many ports as VLANs and a VPN, all apart
        let names: Vec<String> = (0..4095).map(|i| format!("vif-{i}")).collect();
        let ports = vgw_ports(names.iter().map(String::as_str));
        assert_eq!(
            ports
                .iter()
                .collect::<std::collections::BTreeSet<_>>()
                .len(),
            4095
        );
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
