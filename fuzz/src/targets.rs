//! The fuzz targets' bodies: one plain function per target, taking the
//! fuzzer's bytes. Compiled twice: by the fuzz package (`fuzz/src/lib.rs`,
//! called from `fuzz/fuzz_targets/*.rs`) and by the root crate's corpus
//! replay test (`tests/fuzz_corpus.rs`), so that CI runs the very code the
//! fuzzer ran over every file of `fuzz/corpus/TARGET/`.
//!
//! A target panics only on a bug: bad input must give an error, and what
//! the functions promise about their results is asserted.
//!
//! The `router` target's gateways, and the wire between them, are those of
//! the router's own unit tests (`gateway::testkit`, the gateway's
//! `testkit` feature), with a policy and small connection tables added.

use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use gateway::config::GatewayConfig;
use gateway::config_file::GatewayConfigFile;
use gateway::keys::PrivateKey;
use gateway::packet::{
    clamp_tcp_mss, icmp_frag_needed, ipv4_checksum, parse_ipv4, parse_quoted_ipv4,
};
use gateway::router::Router;
use gateway::testkit::{addr, config, office_config, vpc_config, Collect, Wire, AWS, OFFICE};

/// A target's body: the fuzzer's bytes in, a panic only on a bug.
pub type Target = fn(&[u8]);

/// Every target by name, for the replay test.
pub const TARGETS: &[(&str, Target)] = &[
    ("packet", packet),
    ("router", router),
    ("gateway_config", gateway_config),
    ("topology", topology),
    ("cfn", cfn),
];

/// The IPv4 parsers and what is built from a parsed packet: `parse_ipv4`
/// (lengths within the buffer), `parse_quoted_ipv4`, MSS clamping (keeps
/// the packet parsable, is idempotent) and the ICMP "fragmentation needed"
/// error (parses as ICMP type 3 code 4 with a correct header checksum).
pub fn packet(data: &[u8]) {
    let max_mss = data
        .get(..2)
        .map_or(1380, |b| u16::from_be_bytes([b[0], b[1]]));
    let data = data.get(2..).unwrap_or(&[]);
    let parsed = parse_ipv4(data);
    if let Ok(meta) = &parsed {
        assert!(meta.header_len >= 20 && meta.header_len <= meta.total_len);
        assert!(meta.total_len <= data.len());
    }
    if let Some(q) = parse_quoted_ipv4(data) {
        assert!(q.total_len <= data.len() && q.header_len >= 20);
    }

    let mut buf = data.to_vec();
    let changed = clamp_tcp_mss(&mut buf, max_mss);
    if changed {
        let before = parsed.expect("only a parsed packet is clamped");
        let after = parse_ipv4(&buf).expect("a clamped packet still parses");
        assert_eq!(
            (after.src, after.dst, after.l4),
            (before.src, before.dst, before.l4)
        );
        assert!(
            !clamp_tcp_mss(&mut buf, max_mss),
            "clamping twice changes nothing"
        );
    } else {
        assert_eq!(buf, data, "an unclamped packet is untouched");
    }

    let mut out = [0u8; 128];
    let from = Ipv4Addr::new(192, 168, 255, 1);
    if let Some(n) = icmp_frag_needed(data, max_mss, from, &mut out) {
        assert!(n <= out.len());
        let icmp = parse_ipv4(&out[..n]).expect("the ICMP error parses");
        assert_eq!(icmp.proto, 1);
        assert_eq!(icmp.src, from);
        assert_eq!(
            icmp.l4,
            topology::traffic::L4::Icmp {
                icmp_type: 3,
                code: 4
            }
        );
        assert_eq!(ipv4_checksum(&out[..icmp.header_len]), 0, "header checksum");
    }
}

/// Where strangers' datagrams come from: no router is there.
const STRANGER: &str = "198.51.100.7:4444";

/// What both routers get beyond the office and AWS gateways of the
/// router's own tests: small conntrack tables (the default's 48 MiB would
/// cost more than the input).
const SMALL_CONNTRACK: &str = "[conntrack]\nmax_flows = 16\n";

/// The office's policy: a stateful security group and a network ACL.
const OFFICE_POLICY: &str = r#"
[policy]
security_groups = ["edge"]
nacl = "edge-acl"
[[policy.security_group]]
name = "edge"
ingress = [
  { protocol = "icmp", icmp_type = 8, icmp_code = -1, cidr = "10.0.0.0/16" },
  { protocol = "tcp", ports = 5003, cidr = "10.0.0.0/16" },
  { protocol = "udp", ports = "1000-2000", cidr = "10.0.0.0/8" },
]
[[policy.network_acl]]
name = "edge-acl"
ingress = [
  { rule = 10, action = "deny", protocol = "tcp", ports = 5003, cidr = "10.0.10.10/32" },
  { rule = 100, action = "allow", protocol = -1, cidr = "0.0.0.0/0" },
]
egress = [{ rule = 100, action = "allow", protocol = -1, cidr = "0.0.0.0/0" }]
"#;

/// The two configured routers and their keys, made once (fixed keys).
struct Pair {
    office: GatewayConfig,
    aws: GatewayConfig,
    keys: [PrivateKey; 2],
}

fn pair() -> &'static Pair {
    static PAIR: OnceLock<Pair> = OnceLock::new();
    PAIR.get_or_init(|| {
        let keys = [
            PrivateKey::from_bytes([0x11; 32]),
            PrivateKey::from_bytes([0x22; 32]),
        ];
        let backup = PrivateKey::from_bytes([0x33; 32]).public_key();
        // the office: two peers (AWS, primary, with a keepalive; its
        // backup, never answering), failover routes, the policy
        let office = office_config(
            &keys[1].public_key(),
            &backup,
            Some(25),
            &format!("{SMALL_CONNTRACK}{OFFICE_POLICY}"),
        );
        // AWS: one peer, the office, no policy
        let aws = vpc_config("aws", &keys[0].public_key(), SMALL_CONNTRACK);
        Pair {
            office: config(&office),
            aws: config(&aws),
            keys,
        }
    })
}

/// The one clock reading: every input starts at the same instant.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Two routers (the office, AWS) on a hand-moved clock, the data a script
/// of operations: each byte picks one, the next bytes are its argument.
/// Packets from either LAN, datagrams into either router from its peer or
/// from a stranger, the clock moved (forward, by up to ~18 hours), timers
/// run. What each router sends to the other is delivered (a few rounds),
/// so a handshake completes and LAN packets cross the tunnel, where the
/// other side parses, filters and tracks them.
pub fn router(data: &[u8]) {
    let pair = pair();
    let mut now = epoch();
    let mut office = Router::with_key(&pair.office, pair.keys[0].clone(), now)
        .expect("the office router builds");
    let mut aws =
        Router::with_key(&pair.aws, pair.keys[1].clone(), now).expect("the AWS router builds");
    let mut ops = data;
    while let Some((&op, rest)) = ops.split_first() {
        // argument: a length byte, then that many bytes (what is left if fewer)
        let (len, rest) = match rest.split_first() {
            Some((&l, r)) => (usize::from(l) * 8, r),
            None => (0, rest),
        };
        let (arg, rest) = rest.split_at(len.min(rest.len()));
        ops = rest;
        let mut out = Collect::default();
        let sender = match op % 8 {
            0 => {
                office.handle_tun(now, &mut arg.to_vec(), &mut out);
                addr(OFFICE)
            }
            1 => {
                aws.handle_tun(now, &mut arg.to_vec(), &mut out);
                addr(AWS)
            }
            2 => {
                office.handle_udp(now, addr(AWS), arg, &mut out);
                addr(OFFICE)
            }
            3 => {
                aws.handle_udp(now, addr(OFFICE), arg, &mut out);
                addr(AWS)
            }
            4 => {
                office.handle_udp(now, addr(STRANGER), arg, &mut out);
                addr(OFFICE)
            }
            5 => {
                // up to 65535 × 1 s when the high bit of the op is set,
                // milliseconds otherwise
                let n = u64::from(u16::from_le_bytes([
                    arg.first().copied().unwrap_or(0),
                    arg.get(1).copied().unwrap_or(0),
                ]));
                now += if op & 0x80 != 0 {
                    Duration::from_secs(n)
                } else {
                    Duration::from_millis(n)
                };
                continue;
            }
            6 => {
                office.handle_timeout(now, &mut out);
                addr(OFFICE)
            }
            _ => {
                aws.handle_timeout(now, &mut out);
                addr(AWS)
            }
        };
        // deliver between the two, a few rounds (the backup and strangers
        // never answer)
        Wire::new(vec![(addr(OFFICE), &mut office), (addr(AWS), &mut aws)]).deliver(
            now,
            sender,
            out.udp,
            6,
            &[],
        );
    }
    // the status document is built from everything above
    let _ = office.status(now);
    let _ = aws.status(now);
}

/// The gateway's configuration reader: a text either parses or gives
/// errors with a position. When the file also reads as a
/// [`GatewayConfigFile`], its TOML form reads back to the same value, and
/// (when the text was a valid configuration) is valid too with the same
/// interface, peers and routes.
pub fn gateway_config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if reads_other_files(text) {
        return;
    }
    let path = Path::new("/nonexistent/vifgate-fuzz/gw.toml");
    let parsed = gateway::config::parse(path, text.to_string());
    if let Err(d) = &parsed {
        assert!(d.has_errors(), "a refused configuration says why");
    }
    let Ok(file) = toml::from_str::<GatewayConfigFile>(text) else {
        return;
    };
    let written = match file.to_toml("fuzz") {
        Ok(t) => t,
        Err(_) => return, // a value TOML cannot write (reported as an error)
    };
    let back: GatewayConfigFile = match toml::from_str(&written) {
        Ok(b) => b,
        Err(e) => panic!("written configuration does not read back: {e}\n{written}"),
    };
    assert_eq!(back, file, "round trip through TOML\n{written}");
    if let Ok(config) = parsed {
        let again = match gateway::config::parse(path, written.clone()) {
            Ok(c) => c,
            Err(d) => {
                panic!("the written form of a valid configuration is invalid: {d}\n{written}")
            }
        };
        assert_eq!(again.interface.name, config.interface.name);
        assert_eq!(again.interface.mtu, config.interface.mtu);
        assert_eq!(again.interface.address, config.interface.address);
        assert_eq!(again.peers.len(), config.peers.len());
        for (a, b) in again.peers.iter().zip(&config.peers) {
            assert_eq!(
                (&a.name, a.public_key, a.endpoint, &a.allowed_ips),
                (&b.name, b.public_key, b.endpoint, &b.allowed_ips)
            );
        }
        assert_eq!(again.routes.len(), config.routes.len());
        assert_eq!(again.dead_after, config.dead_after);
    }
}

/// Whether a configuration names a topology file to read that could be
/// outside the (nonexistent) directory the fuzzed file is in: an absolute
/// path or one with `..`. Reading `/dev/zero` would be an out-of-memory
/// that is not the parser's.
fn reads_other_files(text: &str) -> bool {
    let Ok(table) = text.parse::<toml::Table>() else {
        return false;
    };
    let topology = table
        .get("policy")
        .and_then(|p| p.get("topology"))
        .and_then(|t| t.as_str());
    topology.is_some_and(|t| t.starts_with('/') || t.contains(".."))
}

/// Nodes the analysis starts from and goes to, per input: keeps each
/// input's work bounded.
const ANALYSED_NODES: usize = 4;

/// The topology reader and, when a file resolves, the analysis over it:
/// `reach` between the first few nodes for a few services, the matrix of
/// a topology that small, the expectations and shadowed rules. A refused
/// file gives errors with a position.
pub fn topology(data: &[u8]) {
    use topology::analysis::{self, Service, Target};
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let loaded = match topology::parse("fuzz.toml", text.to_string()) {
        Ok(l) => l,
        Err(d) => {
            assert!(d.has_errors(), "a refused topology says why");
            return;
        }
    };
    let t = &loaded.topology;
    let services = [Service::Tcp(443), Service::Udp(53), Service::IcmpEcho];
    let n = t.nodes.len().min(ANALYSED_NODES);
    for from in 0..n {
        for to in 0..n {
            for s in services {
                let r = analysis::reach(t, from, Target::Node(to), s);
                let _ = r.verdict.as_str();
            }
        }
    }
    if t.nodes.len() <= ANALYSED_NODES {
        let m = analysis::matrix(t, &services);
        let _ = m.render();
    }
    if t.expectations.len() <= 16 {
        let _ = analysis::check_expectations(t);
    }
    let _ = analysis::shadowed_rules(t);
}

/// The CloudFormation importer as `vifgate topology import-cfn` runs it:
/// the template (YAML or JSON) evaluated, mapped to a topology table,
/// rendered and read back as a topology. Refused templates give errors.
pub fn cfn(data: &[u8]) {
    use topology::cfn::{eval, mapping, ImportOptions};
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let src = topology::SourceFile::new("fuzz.yaml", text.to_string());
    let opts = ImportOptions::default();
    let ev = match eval::evaluate(&src, &opts) {
        Ok(ev) => ev,
        Err(d) => {
            assert!(d.has_errors(), "a refused template says why");
            return;
        }
    };
    let (table, _warnings) = mapping::to_topology(&ev);
    let rendered = mapping::render(&table);
    let _ = topology::parse("imported.toml", rendered);
}
