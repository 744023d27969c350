//! `vifgate bench ...`: benchmarks that print figures. Not tests: machines
//! are shared and noisy, so read the figures against their targets and
//! against each other, never as pass/fail in CI.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Result;
use clap::Subcommand;
use topology::analysis::{self, Service};
use topology::synth::{synth_toml, SynthSpec};

/// Subcommands of `vifgate bench`.
#[derive(Subcommand)]
pub enum BenchCommand {
    /// Time of the full matrix: the bundled example and a generated topology.
    Matrix {
        /// The example topology.
        #[arg(long, default_value = "examples/yeohaengjigi.toml")]
        example: PathBuf,
        /// Hosts in the generated topology.
        #[arg(long, default_value_t = 1000)]
        hosts: usize,
        /// Security groups in the generated topology.
        #[arg(long, default_value_t = 100)]
        groups: usize,
        /// Ingress rules per group.
        #[arg(long, default_value_t = 60)]
        rules: usize,
        /// Runs per figure (the median is printed).
        #[arg(long, default_value_t = 5)]
        runs: usize,
    },
    /// Connection tracking: memory per flow at 1,000,000 flows, new flows
    /// per second, lookups per second.
    Conntrack {
        /// Flows to track.
        #[arg(long, default_value_t = 1_000_000)]
        flows: usize,
    },
    /// The gateway's ACL classifier: 10 vs 10,000 security-group rules and a
    /// 20-rule network ACL, new flows per second through the whole core.
    Acl {
        /// Packets (new flows) per measurement.
        #[arg(long, default_value_t = 200_000)]
        packets: usize,
    },
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..runs.max(1) {
        let start = Instant::now();
        last = Some(f());
        times.push(start.elapsed());
    }
    (median(times), last.expect("at least one run"))
}

/// Runs a benchmark.
pub fn run(cmd: BenchCommand) -> Result<ExitCode> {
    match cmd {
        BenchCommand::Conntrack { flows } => conntrack(flows),
        BenchCommand::Acl { packets } => acl(packets),
        BenchCommand::Matrix {
            example,
            hosts,
            groups,
            rules,
            runs,
        } => {
            let ports = [22u16, 80, 443, 3306];
            let services: Vec<Service> = ports.iter().map(|&p| Service::Tcp(p)).collect();
            let cores = std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1);
            println!("matrix benchmark: tcp ports 22,80,443,3306; median of {runs} runs; {cores} core(s)");

            let (load_t, loaded) = time(runs, || topology::load(&example));
            let loaded = loaded.map_err(|d| anyhow::anyhow!("{d}"))?;
            let t = &loaded.topology;
            let (m_t, m) = time(runs, || analysis::matrix(t, &services));
            println!(
                "example {}: {} endpoints, {} cells: parse+check {:.2} ms, matrix {:.2} ms (target < 50 ms)",
                example.display(),
                m.nodes.len(),
                m.len(),
                load_t.as_secs_f64() * 1e3,
                m_t.as_secs_f64() * 1e3
            );

            let spec = SynthSpec {
                hosts,
                security_groups: groups,
                rules_per_group: rules,
                seed: 42,
            };
            let text = synth_toml(spec);
            let (gen_load_t, gl) = time(runs.min(3), || {
                topology::parse("synthetic.toml", text.clone())
            });
            let gl = gl.map_err(|d| anyhow::anyhow!("{d}"))?;
            let (gm_t, gm) = time(runs.min(3), || analysis::matrix(&gl.topology, &services));
            let per_cell = gm_t.as_secs_f64() * 1e9 / gm.len().max(1) as f64;
            println!(
                "generated: {hosts} hosts, {groups} groups x {rules} rules, {} endpoints, {} cells: parse+check {:.0} ms, matrix {:.0} ms (target < 2000 ms), {:.0} ns/cell",
                gm.nodes.len(),
                gm.len(),
                gen_load_t.as_secs_f64() * 1e3,
                gm_t.as_secs_f64() * 1e3,
                per_cell
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Resident memory of this process, from /proc/self/statm.
fn rss_bytes() -> Option<usize> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: usize = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// An IPv4 TCP SYN from `src:sport` to `dst:dport`, checksummed.
fn syn(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16) -> Vec<u8> {
    let mut b = vec![0u8; 40];
    b[0] = 0x45;
    b[2..4].copy_from_slice(&40u16.to_be_bytes());
    b[6] = 0x40;
    b[8] = 64;
    b[9] = 6;
    b[12..16].copy_from_slice(&src);
    b[16..20].copy_from_slice(&dst);
    let c = gateway::packet::ipv4_checksum(&b[..20]);
    b[10..12].copy_from_slice(&c.to_be_bytes());
    b[20..22].copy_from_slice(&sport.to_be_bytes());
    b[22..24].copy_from_slice(&dport.to_be_bytes());
    b[32] = 5 << 4;
    b[33] = 0x02;
    b
}

fn flow_packet(i: usize) -> Vec<u8> {
    let i = i as u32;
    syn(
        [192, 168, (i >> 16) as u8, (i >> 8) as u8],
        [10, 0, (i & 0xff) as u8, 10],
        1024 + (i % 60000) as u16,
        443,
    )
}

fn conntrack(flows: usize) -> Result<ExitCode> {
    use gateway::conntrack::{ConnTrack, Side, Timeouts};
    let packets: Vec<_> = (0..flows)
        .map(|i| gateway::packet::parse_ipv4(&flow_packet(i)))
        .collect::<Result<_, _>>()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let before = rss_bytes();
    let mut ct = ConnTrack::new(flows, Timeouts::default());
    let now = Instant::now();
    let start = Instant::now();
    for m in &packets {
        ct.insert(now, Side::Lan, m)
            .map_err(|_| anyhow::anyhow!("table full"))?;
    }
    let insert = start.elapsed();
    let start = Instant::now();
    let mut hits = 0usize;
    for m in &packets {
        if ct.lookup(now, Side::Lan, m) != gateway::conntrack::Verdict::New {
            hits += 1;
        }
    }
    let lookup = start.elapsed();
    let after = rss_bytes();
    println!("conntrack benchmark: {flows} TCP flows");
    println!(
        "  tracked {}, table {} bytes = {} bytes per flow (target <= 160)",
        ct.len(),
        ct.memory_bytes(),
        ct.memory_bytes() / flows.max(1)
    );
    if let (Some(b), Some(a)) = (before, after) {
        println!(
            "  process RSS grew {} bytes = {} bytes per flow",
            a.saturating_sub(b),
            a.saturating_sub(b) / flows.max(1)
        );
    }
    println!(
        "  new flows: {:.2} M/s ({:.0} ns each); lookups of tracked flows: {:.2} M/s ({hits} hits)",
        flows as f64 / insert.as_secs_f64() / 1e6,
        insert.as_secs_f64() * 1e9 / flows.max(1) as f64,
        flows as f64 / lookup.as_secs_f64() / 1e6
    );
    Ok(ExitCode::SUCCESS)
}

/// A policy with `rules` ingress and egress rules in one group, none
/// matching the benchmark's traffic but the last (a /0 on tcp/443): on
/// random ports, or all on tcp/443 with other blocks (the hard case for a
/// classifier that buckets by port); and a 20-rule NACL.
fn policy_text(rules: usize, same_port: bool) -> String {
    let mut t = String::from("[policy]\nsecurity_groups = [\"big\"]\nnacl = \"acl\"\n[[policy.security_group]]\nname = \"big\"\n");
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for dir in ["ingress", "egress"] {
        for _ in 0..rules.saturating_sub(1) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let port = if same_port {
                443
            } else {
                2000 + (x % 30000) as u16
            };
            t += &format!(
                "[[policy.security_group.{dir}]]\nprotocol = \"tcp\"\nports = {port}\ncidr = \"172.{}.{}.0/24\"\n",
                16 + (x >> 20) % 16,
                (x >> 28) % 256
            );
        }
        t += &format!("[[policy.security_group.{dir}]]\nprotocol = \"tcp\"\nports = 443\ncidr = \"0.0.0.0/0\"\n");
    }
    t += "[[policy.network_acl]]\nname = \"acl\"\n";
    for dir in ["ingress", "egress"] {
        for k in 0..19 {
            t += &format!(
                "[[policy.network_acl.{dir}]]\nrule = {}\naction = \"deny\"\nprotocol = \"udp\"\nports = {}\ncidr = \"0.0.0.0/0\"\n",
                10 + k * 10,
                5000 + k
            );
        }
        t += &format!("[[policy.network_acl.{dir}]]\nrule = 1000\naction = \"allow\"\nprotocol = -1\ncidr = \"0.0.0.0/0\"\n");
    }
    t
}

struct Sink(usize);
impl gateway::router::Io for Sink {
    fn send_tun(&mut self, _: &[u8]) {
        self.0 += 1;
    }
    fn send_udp(&mut self, _: std::net::SocketAddr, _: &[u8]) {
        self.0 += 1;
    }
}

fn acl(packets: usize) -> Result<ExitCode> {
    use gateway::keys::PrivateKey;
    let peer = PrivateKey::generate()?.public_key();
    let mut results = Vec::new();
    println!("ACL benchmark: {packets} new TCP flows from the LAN through the router core (NACL, conntrack miss, security groups, conntrack insert, encapsulation)");
    for (rules, same_port) in [
        (10usize, false),
        (10_000, false),
        (10, true),
        (10_000, true),
    ] {
        let text = format!(
            "[interface]\nname = \"vg0\"\nprivate_key_file = \"k\"\n[[peer]]\nname = \"aws\"\npublic_key = \"{peer}\"\nendpoint = \"192.0.2.2:51820\"\nallowed_ips = [\"10.0.0.0/8\"]\n[[route]]\nprefix = \"10.0.0.0/8\"\npeer = \"aws\"\n[conntrack]\nmax_flows = {}\n{}",
            packets + 16,
            policy_text(rules, same_port)
        );
        let config =
            gateway::config::parse("bench.toml", text).map_err(|d| anyhow::anyhow!("{d}"))?;
        // median of three runs, each with a fresh router and fresh flows
        let mut runs = Vec::new();
        let mut router =
            gateway::router::Router::with_key(&config, PrivateKey::generate()?, Instant::now())?;
        for _ in 0..3 {
            router = gateway::router::Router::with_key(
                &config,
                PrivateKey::generate()?,
                Instant::now(),
            )?;
            let mut flows: Vec<Vec<u8>> = (0..packets).map(flow_packet).collect();
            let mut sink = Sink(0);
            // no session yet: after the ACLs, boringtun queues the packet
            // (or drops it when its queue is full) and asks for a
            // handshake, so the figure is the ACL path, not the crypto
            let start = Instant::now();
            for p in &mut flows {
                router.handle_tun(Instant::now(), p, &mut sink);
            }
            runs.push(start.elapsed());
        }
        let took = median(runs);
        let drops = router.drops();
        let rate = packets as f64 / took.as_secs_f64();
        println!(
            "  {rules:>6} rules per direction ({}): {:.0} new flows/s ({:.0} ns each), {} flows tracked, drops: sg {} nacl {}",
            if same_port { "all on tcp/443" } else { "random ports" },
            rate,
            took.as_secs_f64() * 1e9 / packets as f64,
            router.status(Instant::now()).conntrack_flows,
            drops.security_group,
            drops.nacl
        );
        results.push(rate);
    }
    println!(
        "  ratio 10,000 rules / 10 rules: {:.3} on random ports, {:.3} all on one port (target >= 0.95)",
        results[1] / results[0],
        results[3] / results[2]
    );
    Ok(ExitCode::SUCCESS)
}
