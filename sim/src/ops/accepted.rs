//! Every daemon accepts what the lab writes, whatever the names: each
//! reserved word of BIRD 2, FRR, nftables and HAProxy, and odd but valid
//! names, become the example's VIF, VPN, an instance behind the ALB, the
//! office gateway and a security group, subnet and network ACL; the
//! file passes `topology check` and the configurations are checked by
//! `bird -p`, `vtysh --dryrun`, `nft -c` and `haproxy -c`. Where a daemon
//! is missing the test is skipped, failing under CI.

use std::path::{Path, PathBuf};
use std::process::Command;

use proptest::prelude::*;

use crate::bgp::sessions::sessions;
use crate::render::frr::{self as frr_config, FrrOptions};

/// Reserved words: BIRD 2's keywords (its `CF_KEYWORDS` in conf/,
/// filter/, nest/ and proto/bgp/, and the constants `RTS_*`, `SCOPE_*`),
/// FRR's configuration commands and `route-map`/`neighbor` words, the
/// nft scanner's (`src/scanner.l`) and HAProxy's section and server
/// keywords.
pub const RESERVED: &[&str] = &[
    // BIRD 2
    "accept",
    "all",
    "as",
    "bfd",
    "bgp",
    "bgp_community",
    "bgp_path",
    "bool",
    "case",
    "channel",
    "debug",
    "define",
    "defined",
    "description",
    "device",
    "direct",
    "disabled",
    "else",
    "empty",
    "error",
    "export",
    "false",
    "filter",
    "from",
    "function",
    "if",
    "import",
    "include",
    "int",
    "ip",
    "ipv4",
    "ipv6",
    "kernel",
    "local",
    "log",
    "neighbor",
    "net",
    "none",
    "off",
    "on",
    "password",
    "pipe",
    "preference",
    "prefix",
    "primary",
    "print",
    "proto",
    "protocol",
    "quote",
    "reject",
    "return",
    "roa",
    "router",
    "source",
    "static",
    "table",
    "template",
    "then",
    "true",
    "unset",
    "vpn",
    "vpn4",
    "where",
    "RTS_BGP",
    "RTS_STATIC",
    "SCOPE_HOST",
    "NET_IP4",
    // FRR
    "bgp",
    "deny",
    "permit",
    "exit",
    "end",
    "hostname",
    "interface",
    "match",
    "set",
    "route-map",
    "prefix-list",
    "remote-as",
    "shutdown",
    "community",
    "address-family",
    "seq",
    "any",
    "no",
    "default",
    "profile",
    "line",
    "vty",
    "!",
    "vrf",
    // nftables
    "add",
    "chain",
    "comment",
    "counter",
    "delete",
    "drop",
    "flush",
    "hook",
    "inet",
    "map",
    "meta",
    "policy",
    "priority",
    "rule",
    "ruleset",
    "tcp",
    "udp",
    "type",
    "iifname",
    "oifname",
    "saddr",
    "daddr",
    "dnat",
    "snat",
    "jump",
    "goto",
    "ct",
    "state",
    "established",
    // HAProxy
    "global",
    "defaults",
    "frontend",
    "backend",
    "listen",
    "server",
    "bind",
    "cookie",
    "check",
    "balance",
    "mode",
    "option",
    "timeout",
    "acl",
    "use_backend",
    "http-request",
    "userlist",
    "peers",
    "resolvers",
    "backup",
    "disabled",
    "weight",
    // characters each language gives a meaning
    "#",
    "a b",
    "'",
    "\"",
    "\\",
    "a;b",
    "{x}",
    "a:b",
    "a.b",
    "*",
    "$x",
    "%[src]",
    "-x",
    "",
    " ",
    "_x",
];

/// The example's text with `name` as the VIF's and the VPN's name, a
/// security group's, a subnet's and a network ACL's, and the office
/// gateway named after it too; its VPN on BGP, or static (`bgp_vpn`).
fn example_named(name: &str, bgp_vpn: bool) -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/yeohaengjigi.toml");
    let text = std::fs::read_to_string(path).expect("the example");
    let variant = crate::ops::failover::Variant {
        bfd: true,
        hold_time: None,
        bgp_vpn,
    };
    let text = variant.toml(&text).expect("the example is TOML");
    let quoted = serde_json::to_string(name).expect("a string");
    let gw: String = name.chars().take(50).chain(['o']).collect();
    let gw = serde_json::to_string(&gw).expect("a string");
    let mut text = text.replace("\"vifgate-office\"", &gw);
    for old in [
        "\"dx-vif\"",
        "\"vpn-backup\"",
        "\"web-sg\"",
        "\"web-a\"",
        "\"db-nacl\"",
    ] {
        text = text.replace(old, &quoted);
    }
    text
}

/// A scratch directory of this process, removed when dropped (after a
/// panic too).
struct Scratch(PathBuf);

impl Scratch {
    fn new(what: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("vifgate-render-{what}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `cmd`, panicking with the daemon's own words and the
/// configuration when it refuses it.
fn accepts(cmd: &mut Command, name: &str, config: &str) {
    let out = cmd.output().expect("the checker runs");
    assert!(
        out.status.success(),
        "name {name:?}: {:?} refused:\n{}{}\n{config}",
        cmd.get_program(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
}

/// Renders the example named after `name` (its VPN on BGP or static)
/// and has each daemon check it.
fn every_daemon_accepts(name: &str, bgp_vpn: bool, dir: &Path) {
    let file = format!("{}/named.toml", dir.display());
    let mut t = match topology::parse(&file, example_named(name, bgp_vpn)) {
        Ok(l) => l.topology,
        Err(e) => panic!("name {name:?}: topology check refused it:\n{e}"),
    };
    // an instance behind the ALB (the Auto Scaling group names them)
    if let Some(web) = t.nodes.iter_mut().find(|n| n.name == "web-a1") {
        web.name = name.to_string();
    }
    let p = crate::plan::plan(&t, "rn", &[22]).expect("the plan");
    let write = |file: &str, text: &str| {
        let path = dir.join(file);
        std::fs::write(&path, text).expect("write");
        path
    };
    let key = write("md5.conf", "    password \"k3y-md5\";\n");
    for d in &p.bird.daemons {
        let mut config = d.config.clone();
        for m in &p.bird.md5 {
            config = config.replace(&*m.key_file.to_string_lossy(), &key.to_string_lossy());
        }
        let path = write("bird.conf", &config);
        accepts(
            Command::new("bird").arg("-p").arg("-c").arg(&path),
            name,
            &config,
        );
    }
    let specs = sessions(&t);
    let office = specs.iter().find(|s| s.is_bgp()).map(|s| s.office);
    if let Some(node) = office {
        let opts = FrrOptions {
            kernel_table: crate::render::bird::OFFICE_KERNEL_TABLE,
        };
        let c = frr_config::config(&t, node, &specs, &opts);
        let bgpd = format!("{}{}", c.zebra, c.bgpd);
        for text in [Some(&bgpd), c.bfdd.as_ref()].into_iter().flatten() {
            let path = write("frr.conf", text);
            accepts(
                Command::new("vtysh").arg("--dryrun").arg("-f").arg(&path),
                name,
                text,
            );
        }
    }
    for f in &p.firewalls {
        let path = write("fw.nft", &f.ruleset);
        accepts(
            Command::new("nft").arg("-c").arg("-f").arg(&path),
            name,
            &f.ruleset,
        );
    }
    for h in &p.haproxy {
        // the target map HAProxy opens, where `sim up` would write it
        let dir = crate::layout::state_dir(&p.lab);
        let map = crate::layout::haproxy_target_map(&dir, &h.node);
        let here = write(
            "haproxy.map",
            &crate::render::haproxy::target_map(&h.targets),
        );
        let config = h
            .config
            .replace(&*map.to_string_lossy(), &here.to_string_lossy());
        let path = write("haproxy.cfg", &config);
        accepts(
            Command::new("haproxy").arg("-c").arg("-f").arg(&path),
            name,
            &h.config,
        );
    }
}

fn daemons_here() -> bool {
    ["bird", "vtysh", "nft", "haproxy"]
        .iter()
        .all(|t| crate::ops::lab::need_tool(t))
}

#[test]
fn every_reserved_word_is_a_name_every_daemon_accepts() {
    if !daemons_here() {
        return;
    }
    // four at a time: the daemons' checks are short processes
    let words: Vec<(usize, &str)> = RESERVED.iter().copied().enumerate().collect();
    std::thread::scope(|s| {
        for (k, chunk) in words.chunks(RESERVED.len().div_ceil(4)).enumerate() {
            s.spawn(move || {
                let dir = Scratch::new(&format!("reserved{k}"));
                for &(i, word) in chunk {
                    every_daemon_accepts(word, i % 2 == 0, &dir.0);
                }
            });
        }
    });
}

/// Odd but valid names: digits first, dashes and underscores, the
/// longest a VIF may have, any printable Unicode.
fn odd_name() -> impl Strategy<Value = String> {
    let max = topology::resolve::aws_limits::MAX_NAME_LEN;
    prop_oneof![
        "[0-9][a-z0-9_-]{0,50}",
        "[-_][A-Za-z0-9_.:-]{0,50}",
        proptest::collection::vec(proptest::char::range('\u{20}', '\u{7e}'), 1..=max)
            .prop_map(|c| c.into_iter().collect::<String>()),
        "\\PC{1,51}",
        Just("v".repeat(max)),
        Just("é".repeat(max)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn odd_names_are_names_every_daemon_accepts(name in odd_name(), bgp_vpn in any::<bool>()) {
        if daemons_here() {
            let dir = Scratch::new("odd");
            every_daemon_accepts(&name, bgp_vpn, &dir.0);
        }
    }
}
