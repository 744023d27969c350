//! What a built lab holds, read back from the kernel: per namespace, its
//! links (name, up, MTU, bridge), IPv4 addresses, routes of every table,
//! policy rules, the plan's sysctls and the nftables ruleset, as sorted
//! lines with the lab's name replaced by `LAB`. Two labs built from one
//! plan by different means (vifgate, the shell script of
//! [`crate::ops::script`]) give equal digests when they built the same thing;
//! `vifgate bench sim` checks exactly that.
//!
//! Links, addresses, routes and rules come from `ip -j` (JSON, parsed with
//! serde into small types at this edge); the ruleset from `nft list
//! ruleset`. Interface indexes, MAC addresses, lifetimes and the
//! `linkdown` flag (a link still coming up) are left out.
//!
//! [`LabDigest::read_lab`] adds the lab's running processes (from its
//! state): what each is, its program, and a hash of each configuration
//! file its command line names, so a daemon left with an old
//! configuration shows.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::process::Command;

use serde::Deserialize;
use serde_json::Value;

use crate::apply::state::LabState;
use crate::kernel::netlink;
use crate::kernel::netns::Netns;
use crate::plan::Plan;

/// Why a lab could not be read.
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    /// A command failed.
    #[error("`{command}` failed: {stderr}")]
    Command {
        /// The command line.
        command: String,
        /// What it printed on standard error.
        stderr: String,
    },
    /// `ip -j` printed something that is not the JSON expected.
    #[error("`{command}` printed unexpected JSON: {cause}")]
    Json {
        /// The command line.
        command: String,
        /// The parse error (in the message already, so not a `source()`).
        cause: serde_json::Error,
    },
    /// A command could not be started, or a namespace or sysctl not read.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// One link of `ip -j link show`.
#[derive(Debug, Deserialize)]
struct IpLink {
    ifname: String,
    #[serde(default)]
    flags: Vec<String>,
    mtu: Option<u32>,
    master: Option<String>,
}

/// One link's addresses in `ip -j addr show`.
#[derive(Debug, Deserialize)]
struct IpLinkAddrs {
    ifname: String,
    #[serde(default)]
    addr_info: Vec<IpAddr>,
}

/// One address of `ip -j addr show`.
#[derive(Debug, Deserialize)]
struct IpAddr {
    local: String,
    prefixlen: u8,
    broadcast: Option<String>,
    scope: Option<String>,
}

/// A lab as read back: per namespace (the lab's name replaced by `LAB`),
/// sorted lines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabDigest {
    /// Lines per namespace.
    pub namespaces: BTreeMap<String, Vec<String>>,
}

impl LabDigest {
    /// Reads every namespace of the plan's lab.
    pub fn read(plan: &Plan) -> Result<LabDigest, InspectError> {
        let mut namespaces = BTreeMap::new();
        let anon = |s: &str| s.replace(&plan.lab, "LAB");
        for ns in &plan.namespaces {
            let n = ns.name.as_str();
            let mut lines = Vec::new();
            lines.extend(link_lines(&ip_json(n, &["link", "show"])?));
            lines.extend(addr_lines(&ip_json(n, &["-4", "addr", "show"])?));
            let routes = ip_json(n, &["-4", "route", "show", "table", "all"])?;
            lines.extend(routes.iter().map(|r| format!("route {}", fields(r))));
            let rules = ip_json(n, &["-4", "rule", "show"])?;
            lines.extend(rules.iter().map(|r| format!("rule {}", fields(r))));
            let h = Netns::open(n)?;
            for s in plan.sysctls.iter().filter(|s| s.ns == n) {
                lines.push(format!(
                    "sysctl {} = {}",
                    s.key,
                    netlink::read_sysctl(&h, &s.key)?
                ));
            }
            let ruleset = output_of("ip", &["netns", "exec", n, "nft", "list", "ruleset"])?;
            lines.extend(
                ruleset
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(|l| format!("nft {l}")),
            );
            lines.sort();
            namespaces.insert(anon(n), lines.iter().map(|l| anon(l)).collect());
        }
        Ok(LabDigest { namespaces })
    }

    /// [`LabDigest::read`] of the lab's plan, and under the key
    /// [`PROCESSES`] one line per process the state records that runs:
    /// `process WHAT: PROGRAM FILE#HASH...`, see [`process_line`].
    pub fn read_lab(state: &LabState) -> Result<LabDigest, InspectError> {
        let mut d = LabDigest::read(&state.plan)?;
        let mut lines: Vec<String> = (state.processes.iter())
            .filter(|p| p.is_running())
            .filter_map(|p| {
                let cmdline = std::fs::read(format!("/proc/{}/cmdline", p.pid)).ok()?;
                let args: Vec<String> = (cmdline.split(|b| *b == 0))
                    .filter(|a| !a.is_empty())
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect();
                Some(process_line(&p.what, &args, &state.plan.lab, |f| {
                    std::fs::read_to_string(f).ok()
                }))
            })
            .collect();
        lines.sort();
        d.namespaces.insert(PROCESSES.to_string(), lines);
        Ok(d)
    }

    /// Lines in all namespaces.
    pub fn lines(&self) -> usize {
        self.namespaces.values().map(Vec::len).sum()
    }

    /// Lines one digest has and the other lacks, at most `max` of them:
    /// `NS: only A: LINE`, with `names` = (A, B) naming the two.
    pub fn diff(&self, other: &LabDigest, names: (&str, &str), max: usize) -> Vec<String> {
        let (a, b) = (&self.namespaces, &other.namespaces);
        let mut out = Vec::new();
        let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
        for k in keys {
            let empty = Vec::new();
            let (la, lb) = (a.get(k).unwrap_or(&empty), b.get(k).unwrap_or(&empty));
            for l in la.iter().filter(|l| !lb.contains(l)) {
                out.push(format!("{k}: only {}: {l}", names.0));
            }
            for l in lb.iter().filter(|l| !la.contains(l)) {
                out.push(format!("{k}: only {}: {l}", names.1));
            }
        }
        out.truncate(max);
        out
    }
}

/// The key of [`LabDigest::namespaces`] under which
/// [`LabDigest::read_lab`] puts the processes.
pub const PROCESSES: &str = "(processes)";

/// A running process as one line: `process WHAT: PROGRAM`, then for each
/// argument naming a configuration file (`.conf`, `.cfg`, `.toml`,
/// `.json`) that `read` can read, ` FILE#HASH`: a hash of its text. The
/// lab's name is `LAB` in all of it, and the values of `public_key` and
/// `private_key` lines (each lab has its own keys) are left out of the
/// hash.
pub fn process_line(
    what: &str,
    args: &[String],
    lab: &str,
    read: impl Fn(&str) -> Option<String>,
) -> String {
    let anon = |s: &str| replace_name(s, lab, "LAB");
    let program = args
        .first()
        .map(|a| a.rsplit('/').next().unwrap_or(a).to_string())
        .unwrap_or_default();
    let mut line = format!("process {}: {program}", anon(what));
    let configs = [".conf", ".cfg", ".toml", ".json"];
    for a in args.iter().skip(1) {
        if !configs.iter().any(|e| a.ends_with(e)) {
            continue;
        }
        let Some(text) = read(a) else { continue };
        let kept: String = (text.lines())
            .map(|l| match l.split_once('=') {
                Some((k, _)) if k.trim().ends_with("_key") => k.to_string(),
                _ => anon(l),
            })
            .collect::<Vec<_>>()
            .join("\n");
        line.push_str(&format!(" {}#{:016x}", anon(a), fnv1a(kept.as_bytes())));
    }
    line
}

/// `text` with each occurrence of the lab name `name` that stands as a
/// name (not inside a longer word of a lab name's characters, `a-z`,
/// `0-9` and `-`: a lab `rva` leaves "interval" alone) replaced by `by`.
fn replace_name(text: &str, name: &str, by: &str) -> String {
    if name.is_empty() {
        return text.to_string();
    }
    let part_of_name = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(name) {
        let before = rest[..i].chars().last().or_else(|| out.chars().last());
        let after = rest[i + name.len()..].chars().next();
        out.push_str(&rest[..i]);
        if before.is_some_and(part_of_name) || after.is_some_and(part_of_name) {
            out.push_str(name);
        } else {
            out.push_str(by);
        }
        rest = &rest[i + name.len()..];
    }
    out.push_str(rest);
    out
}

/// FNV-1a, 64 bits: a hash that is the same in every build.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Runs `program args` and returns its output (it must succeed).
fn output_of(program: &str, args: &[&str]) -> Result<String, InspectError> {
    let out = Command::new(program).args(args).output()?;
    if !out.status.success() {
        return Err(InspectError::Command {
            command: format!("{program} {}", args.join(" ")),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `ip -n NS -j ARGS`, parsed.
fn ip_json<T: serde::de::DeserializeOwned>(
    ns: &str,
    args: &[&str],
) -> Result<Vec<T>, InspectError> {
    let mut all = vec!["-n", ns, "-j"];
    all.extend_from_slice(args);
    let text = output_of("ip", &all)?;
    // `ip -j` prints nothing at all for an empty list on some versions
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_str(&text).map_err(|cause| InspectError::Json {
        command: format!("ip {}", all.join(" ")),
        cause,
    })
}

/// `link NAME up=BOOL mtu=N master=M` per link.
fn link_lines(links: &[IpLink]) -> Vec<String> {
    links
        .iter()
        .map(|l| {
            format!(
                "link {} up={} mtu={} master={}",
                l.ifname,
                l.flags.iter().any(|f| f == "UP"),
                l.mtu.map_or("-".to_string(), |m| m.to_string()),
                l.master.as_deref().unwrap_or("-")
            )
        })
        .collect()
}

/// `addr NAME ADDR/LEN brd B scope S` per address.
fn addr_lines(links: &[IpLinkAddrs]) -> Vec<String> {
    let mut out = Vec::new();
    for l in links {
        for a in &l.addr_info {
            let mut line = format!("addr {} {}/{}", l.ifname, a.local, a.prefixlen);
            if let Some(b) = &a.broadcast {
                line.push_str(&format!(" brd {b}"));
            }
            if let Some(s) = &a.scope {
                line.push_str(&format!(" scope {s}"));
            }
            out.push(line);
        }
    }
    out
}

/// A route or rule object as `key=value` in key order, without the
/// `linkdown` flag (a route's link still coming up) and empty flag lists.
fn fields(obj: &Value) -> String {
    let Some(map) = obj.as_object() else {
        return obj.to_string();
    };
    let sorted: BTreeMap<&String, &Value> = map.iter().collect();
    let mut parts = Vec::new();
    for (k, v) in sorted {
        let text = match v {
            Value::String(s) => s.clone(),
            Value::Array(items) => {
                let kept: Vec<String> = items
                    .iter()
                    .filter(|i| i.as_str() != Some("linkdown"))
                    .map(|i| i.as_str().map_or_else(|| i.to_string(), String::from))
                    .collect();
                if kept.is_empty() {
                    continue;
                }
                kept.join(",")
            }
            other => other.to_string(),
        };
        parts.push(format!("{k}={text}"));
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_lab_name_is_replaced_where_it_stands_as_a_name_only() {
        let text = "protocol bfd { interval 300 ms; } include \"/run/vifgate/sim/rva/md5.conf\"; rva.web-a1 rva+vgw rvax xrva";
        assert_eq!(
            replace_name(text, "rva", "LAB"),
            "protocol bfd { interval 300 ms; } include \"/run/vifgate/sim/LAB/md5.conf\"; LAB.web-a1 LAB+vgw rvax xrva"
        );
        assert_eq!(replace_name("rva", "rva", "LAB"), "LAB");
        assert_eq!(replace_name("rvarva", "rva", "LAB"), "rvarva");
    }

    use super::*;

    #[test]
    fn links_keep_name_state_mtu_and_bridge_only() {
        let links: Vec<IpLink> = serde_json::from_str(
            r#"[{"ifindex":7,"ifname":"p0x0","flags":["BROADCAST","MULTICAST","UP","LOWER_UP"],"mtu":1500,"master":"lan0","address":"aa:bb:cc:dd:ee:ff"},
                {"ifindex":1,"ifname":"lo","flags":["LOOPBACK"],"mtu":65536}]"#,
        )
        .expect("ip -j link");
        assert_eq!(
            link_lines(&links),
            [
                "link p0x0 up=true mtu=1500 master=lan0",
                "link lo up=false mtu=65536 master=-"
            ]
        );
    }

    #[test]
    fn addresses_leave_lifetimes_out() {
        let addrs: Vec<IpLinkAddrs> = serde_json::from_str(
            r#"[{"ifindex":2,"ifname":"eth0","addr_info":[{"family":"inet","local":"10.0.0.5","prefixlen":24,"broadcast":"10.0.0.255","scope":"global","label":"eth0","valid_life_time":4294967295}]}]"#,
        )
        .expect("ip -j addr");
        assert_eq!(
            addr_lines(&addrs),
            ["addr eth0 10.0.0.5/24 brd 10.0.0.255 scope global"]
        );
    }

    #[test]
    fn routes_are_fields_in_key_order_without_linkdown() {
        let up: Value = serde_json::from_str(
            r#"{"dst":"default","gateway":"10.0.0.1","dev":"eth0","table":"1001","metric":10,"flags":["onlink"]}"#,
        )
        .expect("route");
        let down: Value = serde_json::from_str(
            r#"{"metric":10,"dst":"default","gateway":"10.0.0.1","dev":"eth0","table":"1001","flags":["onlink","linkdown"]}"#,
        )
        .expect("route");
        assert_eq!(
            fields(&up),
            "dev=eth0 dst=default flags=onlink gateway=10.0.0.1 metric=10 table=1001"
        );
        assert_eq!(fields(&up), fields(&down));
        let bare: Value =
            serde_json::from_str(r#"{"dst":"10.0.0.0/24","dev":"sn0","flags":[]}"#).expect("route");
        assert_eq!(fields(&bare), "dev=sn0 dst=10.0.0.0/24");
    }

    #[test]
    fn a_process_is_its_program_and_its_configuration_without_the_lab_or_keys() {
        let args = |lab: &str| -> Vec<String> {
            [
                "/usr/sbin/bird",
                "-f",
                "-c",
                &format!("/run/{lab}/bird-vpc.conf"),
                "-P",
                &format!("/run/{lab}/bird.pid"),
            ]
            .map(String::from)
            .to_vec()
        };
        let file = |lab: &'static str, export: &'static str| {
            move |f: &str| {
                f.ends_with(".conf")
                    .then(|| format!("# lab {lab}\npublic_key = \"{lab}-key\"\nexport {export};\n"))
            }
        };
        let a = process_line("BIRD vpc", &args("lab1"), "lab1", file("lab1", "all"));
        let b = process_line("BIRD vpc", &args("lab2"), "lab2", file("lab2", "all"));
        let c = process_line("BIRD vpc", &args("lab2"), "lab2", file("lab2", "none"));
        assert!(
            a.starts_with("process BIRD vpc: bird /run/LAB/bird-vpc.conf#"),
            "{a}"
        );
        assert!(!a.contains("pid"), "{a}");
        assert_eq!(a, b, "another lab, the same configuration");
        assert_ne!(b, c, "another configuration");
        assert_eq!(
            process_line("listeners", &["/bin/sh".into()], "x", |_| None),
            "process listeners: sh"
        );
    }

    #[test]
    fn the_diff_names_both_sides_and_stops_at_max() {
        let mut a = LabDigest::default();
        let mut b = LabDigest::default();
        a.namespaces
            .insert("LAB+vpc".into(), vec!["link sn0".into(), "link sn1".into()]);
        b.namespaces
            .insert("LAB+vpc".into(), vec!["link sn0".into(), "link sn2".into()]);
        assert_eq!(a.lines(), 2);
        assert_eq!(
            a.diff(&b, ("vifgate", "the script"), 10),
            [
                "LAB+vpc: only vifgate: link sn1",
                "LAB+vpc: only the script: link sn2"
            ]
        );
        assert_eq!(a.diff(&b, ("x", "y"), 1).len(), 1);
        assert!(a.diff(&a, ("x", "y"), 10).is_empty());
    }
}
