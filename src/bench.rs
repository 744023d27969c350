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
    /// Print a generated topology (the one `bench matrix` and `bench sim`
    /// use) as TOML.
    Synth {
        /// Hosts.
        #[arg(long, default_value_t = 200)]
        hosts: usize,
        /// Security groups.
        #[arg(long, default_value_t = 20)]
        groups: usize,
        /// Ingress rules per group.
        #[arg(long, default_value_t = 10)]
        rules: usize,
        /// Seed.
        #[arg(long, default_value_t = 42)]
        seed: u64,
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
    /// `sim up` + `sim down` of the example and of a generated topology,
    /// beside a plain ip/nft shell script building the same namespaces,
    /// links, addresses, routes, rules, sysctls and firewalls (root).
    Sim {
        /// The example topology.
        #[arg(long, default_value = "examples/yeohaengjigi.toml")]
        example: PathBuf,
        /// Hosts in the generated topology (20 groups x 10 rules, seed 42,
        /// as `bench synth`).
        #[arg(long, default_value_t = 200)]
        hosts: usize,
        /// Runs per figure (the median is printed).
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Skip the check (one extra, untimed run) that the script builds
        /// what vifgate builds.
        #[arg(long)]
        no_verify: bool,
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
        BenchCommand::Synth {
            hosts,
            groups,
            rules,
            seed,
        } => {
            print!(
                "{}",
                synth_toml(SynthSpec {
                    hosts,
                    security_groups: groups,
                    rules_per_group: rules,
                    seed,
                })
            );
            Ok(ExitCode::SUCCESS)
        }
        BenchCommand::Conntrack { flows } => conntrack(flows),
        BenchCommand::Acl { packets } => acl(packets),
        BenchCommand::Sim {
            example,
            hosts,
            runs,
            no_verify,
        } => sim_bench(&example, hosts, runs, !no_verify),
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

// ---- bench sim ------------------------------------------------------------

/// TCP ports of the lab's listeners (`sim up`'s default).
const SIM_PORTS: [u16; 4] = [22, 80, 443, 3306];

/// A topology the simulator benchmark builds.
struct SimFigure {
    name: String,
    topology: topology::Topology,
    text: String,
    source: Option<PathBuf>,
}

/// Times of one run: up returned, up with every link running, down.
#[derive(Clone, Copy)]
struct RunTimes {
    up: Duration,
    running: Duration,
    down: Duration,
}

/// The runs of one way of building a lab.
#[derive(Default)]
struct UpDown(Vec<RunTimes>);

impl UpDown {
    /// Medians of up, of down, and of up + down (per run); `running`: up
    /// counted until every link runs.
    fn medians(&self, running: bool) -> [Duration; 3] {
        let up = |r: &RunTimes| if running { r.running } else { r.up };
        [
            median(self.0.iter().map(up).collect()),
            median(self.0.iter().map(|r| r.down).collect()),
            median(self.0.iter().map(|r| up(r) + r.down).collect()),
        ]
    }
}

/// Removes a lab when dropped, whatever happened before.
struct LabCleanup(String);

impl Drop for LabCleanup {
    fn drop(&mut self) {
        if let Err(e) = sim::apply::down(&self.0) {
            eprintln!("warning: removing lab {}: {e}", self.0);
        }
    }
}

/// The plan within the shell script's scope: no gateways, tunnel routes,
/// shaping, listeners, started services or HAProxy.
fn script_scope(p: &sim::plan::Plan) -> sim::plan::Plan {
    let mut p = p.clone();
    p.gateways.clear();
    p.tunnel_routes.clear();
    p.shaping.clear();
    p.listeners.clear();
    p.starts.clear();
    p.haproxy.clear();
    p
}

/// Busy share of every CPU over `window`, from /proc/stat.
fn cpu_busy(window: Duration) -> Option<f64> {
    let read = || -> Option<(u64, u64)> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let cpu = stat.lines().next()?;
        let v: Vec<u64> = cpu
            .split_whitespace()
            .skip(1)
            .filter_map(|x| x.parse().ok())
            .collect();
        // niced work (other users' builds) counts as idle: the kernel's
        // namespace teardown runs at normal priority
        let idle = v.get(3)? + v.get(4).copied().unwrap_or(0) + v.get(1)?;
        Some((v.iter().sum(), idle))
    };
    let (t0, i0) = read()?;
    std::thread::sleep(window);
    let (t1, i1) = read()?;
    let total = t1.saturating_sub(t0);
    (total > 0).then(|| 1.0 - i1.saturating_sub(i0) as f64 / total as f64)
}

/// Waits (at most 20 s) for the kernel to finish tearing down the
/// namespaces of the previous run (it does so after `ip netns del` has
/// returned) so that one run's cleanup is not billed to the next.
fn settle() {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        match cpu_busy(Duration::from_millis(200)) {
            Some(b) if b > 0.15 => continue,
            _ => break,
        }
    }
}

/// `sim up` then `sim down` with vifgate, in process; `check` runs
/// (untimed) while the lab is up.
fn vifgate_run(
    plan: &sim::plan::Plan,
    fig: &SimFigure,
    programs: &sim::apply::Programs,
    check: &mut dyn FnMut() -> Result<()>,
) -> Result<RunTimes> {
    use anyhow::Context as _;
    let _cleanup = LabCleanup(plan.lab.clone());
    let start = Instant::now();
    sim::apply::up(plan, fig.source.as_deref(), &fig.text, programs)
        .with_context(|| format!("vifgate: lab {} of {}", plan.lab, fig.name))?;
    // apply::up returns once every link runs
    let up = start.elapsed();
    check()?;
    let start = Instant::now();
    sim::apply::down(&plan.lab).with_context(|| format!("vifgate: remove lab {}", plan.lab))?;
    Ok(RunTimes {
        up,
        running: up,
        down: start.elapsed(),
    })
}

fn bash(script: &std::path::Path) -> Result<()> {
    let out = std::process::Command::new("bash")
        .arg(script)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .output()?;
    if !out.status.success() {
        anyhow::bail!(
            "bash {} failed ({}): {}",
            script.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// The plan's up and down scripts run with bash.
fn script_run(
    plan: &sim::plan::Plan,
    dir: &std::path::Path,
    check: &mut dyn FnMut() -> Result<()>,
) -> Result<RunTimes> {
    let _cleanup = LabCleanup(plan.lab.clone());
    let (up, down) = sim::script::shell_script(plan);
    let up_path = dir.join(format!("{}-up.sh", plan.lab));
    let down_path = dir.join(format!("{}-down.sh", plan.lab));
    std::fs::write(&up_path, up)?;
    std::fs::write(&down_path, down)?;
    let start = Instant::now();
    bash(&up_path)?;
    let up = start.elapsed();
    if !sim::script::wait_links_running(plan, Duration::from_secs(5))? {
        eprintln!("warning: lab {}: links not all running after 5 s", plan.lab);
    }
    let running = start.elapsed();
    check()?;
    let start = Instant::now();
    bash(&down_path)?;
    Ok(RunTimes {
        up,
        running,
        down: start.elapsed(),
    })
}

/// Runs `program args` and returns its output (it must succeed).
fn output_of(program: &str, args: &[&str]) -> Result<String> {
    let out = std::process::Command::new(program).args(args).output()?;
    if !out.status.success() {
        anyhow::bail!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// What a lab holds within the script's scope, per namespace (the lab name
/// replaced by `LAB`), as sorted lines: links (name, UP flag, MTU, master),
/// addresses, routes of every table, rules, the plan's sysctls and the
/// nftables ruleset. Interface indexes, MACs and lifetimes are left out.
fn lab_digest(plan: &sim::plan::Plan) -> Result<std::collections::BTreeMap<String, Vec<String>>> {
    let mut out = std::collections::BTreeMap::new();
    let anon = |s: &str| s.replace(&plan.lab, "LAB");
    for ns in &plan.namespaces {
        let n = ns.name.as_str();
        let mut lines = Vec::new();
        for l in output_of("ip", &["-n", n, "-o", "link", "show"])?.lines() {
            let t: Vec<&str> = l.split_whitespace().collect();
            let name = t.get(1).unwrap_or(&"").trim_end_matches(':');
            let name = name.split('@').next().unwrap_or(name);
            let flags = t.get(2).unwrap_or(&"");
            let up = flags
                .trim_matches(|c| c == '<' || c == '>')
                .split(',')
                .any(|f| f == "UP");
            let after = |k: &str| {
                t.iter()
                    .position(|x| *x == k)
                    .and_then(|i| t.get(i + 1))
                    .copied()
                    .unwrap_or("-")
            };
            lines.push(format!(
                "link {name} up={up} mtu={} master={}",
                after("mtu"),
                after("master")
            ));
        }
        for l in output_of("ip", &["-n", n, "-o", "-4", "addr", "show"])?.lines() {
            let l = l.split('\\').next().unwrap_or(l);
            let t: Vec<&str> = l.split_whitespace().skip(1).collect();
            lines.push(format!("addr {}", t.join(" ")));
        }
        for l in output_of("ip", &["-n", n, "-4", "route", "show", "table", "all"])?.lines() {
            let t: Vec<&str> = l.split_whitespace().filter(|w| *w != "linkdown").collect();
            lines.push(format!("route {}", t.join(" ")));
        }
        for l in output_of("ip", &["-n", n, "-4", "rule", "show"])?.lines() {
            lines.push(format!(
                "rule {}",
                l.split_whitespace().collect::<Vec<_>>().join(" ")
            ));
        }
        let h = sim::netns::Netns::open(n)?;
        for s in plan.sysctls.iter().filter(|s| s.ns == n) {
            lines.push(format!(
                "sysctl {} = {}",
                s.key,
                sim::netlink::read_sysctl(&h, &s.key)?
            ));
        }
        for l in output_of("ip", &["netns", "exec", n, "nft", "list", "ruleset"])?.lines() {
            let l = l.trim();
            if !l.is_empty() {
                lines.push(format!("nft {l}"));
            }
        }
        lines.sort();
        out.insert(anon(n), lines.into_iter().map(|l| anon(&l)).collect());
    }
    Ok(out)
}

/// Differences between two digests, at most `max` of them.
fn digest_diff(
    a: &std::collections::BTreeMap<String, Vec<String>>,
    b: &std::collections::BTreeMap<String, Vec<String>>,
    max: usize,
) -> Vec<String> {
    let mut out = Vec::new();
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for k in keys {
        let empty = Vec::new();
        let (la, lb) = (a.get(k).unwrap_or(&empty), b.get(k).unwrap_or(&empty));
        for l in la.iter().filter(|l| !lb.contains(l)) {
            out.push(format!("{k}: only vifgate: {l}"));
        }
        for l in lb.iter().filter(|l| !la.contains(l)) {
            out.push(format!("{k}: only the script: {l}"));
        }
    }
    out.truncate(max);
    out
}

fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

/// `vifgate bench sim`.
fn sim_bench(
    example: &std::path::Path,
    hosts: usize,
    runs: usize,
    verify: bool,
) -> Result<ExitCode> {
    // SAFETY: no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        anyhow::bail!("`vifgate bench sim` needs root (network namespaces)");
    }
    let runs = runs.max(1);
    let programs = sim::apply::Programs {
        vifgate: std::env::current_exe()?,
    };
    let pid = std::process::id();
    let prefix = format!("bs{pid}-");
    let dir = std::env::temp_dir().join(format!("vifgate-bench-sim-{pid}"));
    std::fs::create_dir_all(&dir)?;

    let text = std::fs::read_to_string(example)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", example.display()))?;
    let ex = topology::parse(example, text.clone()).map_err(|d| anyhow::anyhow!("{d}"))?;
    let synth = synth_toml(SynthSpec {
        hosts,
        security_groups: 20,
        rules_per_group: 10,
        seed: 42,
    });
    let gen =
        topology::parse("synthetic.toml", synth.clone()).map_err(|d| anyhow::anyhow!("{d}"))?;
    let figures = [
        SimFigure {
            name: format!("example {}", example.display()),
            topology: ex.topology,
            text,
            source: Some(example.to_path_buf()),
        },
        SimFigure {
            name: format!("generated, {hosts} hosts"),
            topology: gen.topology,
            text: synth,
            source: None,
        },
    ];

    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    println!(
        "sim benchmark: median of {runs} runs; {cores} core(s); lab names {prefix}N; scripts in {}",
        dir.display()
    );
    println!(
        "same scope (vifgate same-scope and the shell script): {}",
        sim::script::SCOPE
    );

    let mut counter = 0usize;
    let mut lab = || {
        counter += 1;
        format!("{prefix}{counter}")
    };
    let result = (|| -> Result<Vec<(String, [UpDown; 3])>> {
        let mut rows = Vec::new();
        for (k, fig) in figures.iter().enumerate() {
            let probe = sim::plan::plan(&fig.topology, &format!("{prefix}0"), &SIM_PORTS)?;
            let plan_t = {
                let start = Instant::now();
                let _ = sim::plan::plan(&fig.topology, &format!("{prefix}0"), &SIM_PORTS)?;
                start.elapsed()
            };
            let (script_up, _) = sim::script::shell_script(&probe);
            let commands = script_up.lines().filter(|l| l.starts_with("ip ")).count();
            print!("{}: {}", fig.name, sim::plan::summary(&probe));
            println!(
                "  plan {:.1} ms (not in the figures); shell script: {commands} commands (one process each, plus a sysctl or nft under `ip netns exec`)",
                plan_t.as_secs_f64() * 1e3
            );
            if verify {
                // one untimed pair of builds: the script must build what
                // vifgate builds
                let mut got = None;
                let p = script_scope(&sim::plan::plan(&fig.topology, &lab(), &SIM_PORTS)?);
                vifgate_run(&p, fig, &programs, &mut || {
                    got = Some(lab_digest(&p)?);
                    Ok(())
                })?;
                let vg = got.take().unwrap_or_default();
                let p = sim::plan::plan(&fig.topology, &lab(), &SIM_PORTS)?;
                script_run(&p, &dir, &mut || {
                    got = Some(lab_digest(&p)?);
                    Ok(())
                })?;
                let sc = got.take().unwrap_or_default();
                let lines: usize = vg.values().map(Vec::len).sum();
                let diff = digest_diff(&vg, &sc, 20);
                if diff.is_empty() {
                    println!(
                        "  checked: the script and vifgate (same scope) built the same {} namespaces ({lines} lines of links, addresses, routes, rules, sysctls, rulesets)",
                        vg.len()
                    );
                } else {
                    println!(
                        "  DIFFERENCES between the script and vifgate (same scope), first {}:",
                        diff.len()
                    );
                    for d in diff {
                        println!("    {d}");
                    }
                }
                settle();
            }
            let mut times: [UpDown; 3] = Default::default();
            for i in 0..runs {
                let full = sim::plan::plan(&fig.topology, &lab(), &SIM_PORTS)?;
                times[0]
                    .0
                    .push(vifgate_run(&full, fig, &programs, &mut || Ok(()))?);
                settle();
                let scoped = script_scope(&sim::plan::plan(&fig.topology, &lab(), &SIM_PORTS)?);
                times[1]
                    .0
                    .push(vifgate_run(&scoped, fig, &programs, &mut || Ok(()))?);
                settle();
                let p = sim::plan::plan(&fig.topology, &lab(), &SIM_PORTS)?;
                times[2].0.push(script_run(&p, &dir, &mut || Ok(()))?);
                settle();
                let [a, b, c] = [times[0].0[i], times[1].0[i], times[2].0[i]];
                eprintln!(
                    "  {} run {}/{runs}: up/down: full {}/{}, same-scope {}/{}, script {} (links running {})/{}",
                    fig.name,
                    i + 1,
                    secs(a.up),
                    secs(a.down),
                    secs(b.up),
                    secs(b.down),
                    secs(c.up),
                    secs(c.running),
                    secs(c.down)
                );
            }
            let short = if k == 0 { "example" } else { "generated" };
            rows.push((short.to_string(), times));
        }
        Ok(rows)
    })();

    // nothing of ours may be left, whatever happened
    let mut left: Vec<String> = sim::netns::list(&prefix);
    left.extend(
        sim::apply::labs()
            .into_iter()
            .filter(|l| l.starts_with(&prefix))
            .map(|l| format!("{}/{l}", sim::apply::STATE_ROOT)),
    );
    let _ = std::fs::remove_dir_all(&dir);
    let rows = result?;

    println!();
    println!("vifgate's up returns once every link runs; \"shell script\" is bash returning, \"script, links run\" adds the wait for that same point (not part of the script)");
    println!();
    println!("| figure | vifgate full | vifgate same-scope | shell script | script, links run | script / same-scope | script, links run / same-scope | target |");
    println!("|---|---|---|---|---|---|---|---|");
    for (name, t) in &rows {
        let [f, s, c, r] = [
            t[0].medians(false),
            t[1].medians(false),
            t[2].medians(false),
            t[2].medians(true),
        ];
        let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64().max(1e-9);
        for (j, what) in ["up", "down", "up + down"].iter().enumerate() {
            let target = match (name.as_str(), j) {
                ("example", 2) => "< 1 s",
                ("generated", 2) => "< 3 s; >= 3x",
                _ => "",
            };
            println!(
                "| {name}: {what} | {} | {} | {} | {} | {:.1}x | {:.1}x | {target} |",
                secs(f[j]),
                secs(s[j]),
                secs(c[j]),
                secs(r[j]),
                ratio(c[j], s[j]),
                ratio(r[j], s[j]),
            );
        }
    }
    if left.is_empty() {
        println!("clean: no namespace or lab state left with the prefix {prefix}");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("NOT CLEAN, left behind: {}", left.join(", "));
        Ok(ExitCode::FAILURE)
    }
}
