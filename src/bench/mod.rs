//! `vifgate bench ...`: benchmarks that print figures. Not tests: machines
//! are shared and noisy, so read the figures against their targets and
//! against each other, never as pass/fail in CI.
//!
//! One file per family: [`matrix`] (the static analysis), [`conntrack`]
//! (the gateway's flow table), [`acl`] (the gateway's classifier),
//! [`flow_log`] (the cost of VPC flow logs per packet) and
//! [`sim`] (building labs, beside a shell script), [`bgp_failover`] (the
//! lab's BGP sessions and failover); [`packets`] holds the
//! test packets the gateway benchmarks feed. [`flood`] (the datagram
//! floods `bench/flood.sh` aims at the gateways), [`syn_flood`] and
//! [`tcp_probe`] are the traffic tools the flood scripts run in
//! namespaces.

mod acl;
mod bgp_failover;
mod conntrack;
mod flood;
mod flow_log;
mod matrix;
mod packets;
mod sim;
mod sim_apply;
mod syn_flood;
mod tcp_probe;

use std::net::{SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Result;
use clap::Subcommand;
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
    /// VPC flow logs: ns per packet through the router core with the flow
    /// log off and on (records written to a file), in the same run; and a
    /// flood of distinct flows past the interval's bound.
    FlowLog {
        /// Packets per measurement.
        #[arg(long, default_value_t = 1_000_000)]
        packets: usize,
        /// Distinct flows the packets cycle over.
        #[arg(long, default_value_t = 1000)]
        flows: usize,
    },
    /// The gateway's ACL classifier: 10 vs 10,000 security-group rules and a
    /// 20-rule network ACL, new flows per second through the whole core.
    Acl {
        /// Packets (new flows) per measurement.
        #[arg(long, default_value_t = 200_000)]
        packets: usize,
    },
    /// The lab's BGP on the example: session up time, and failover after a
    /// silent DX cut with BFD 300 ms x 3 and with the hold timer alone (the
    /// VPN on BGP), with an FRR office, and onto a static VPN (root).
    BgpFailover {
        /// The example topology.
        #[arg(long, default_value = "examples/yeohaengjigi.toml")]
        example: PathBuf,
        /// Runs per setting (each builds its own lab).
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// The office's hold time, in seconds, for the run without BFD.
        #[arg(long, default_value_t = 9)]
        hold_time: u16,
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
    /// One-line edits of the generated lab (a security group rule, an
    /// instance added, a route) applied to the running lab (`sim apply`)
    /// against down + up from the edited file, in the same run (root).
    SimApply {
        /// Hosts in the generated topology (20 groups x 10 rules, seed 42,
        /// as `bench sim`).
        #[arg(long, default_value_t = 200)]
        hosts: usize,
        /// Runs per edit (the median is printed).
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
    /// A TCP SYN flood from spoofed sources to one address and port, paced
    /// to a rate (a raw socket: root). For `bench/synflood.sh`.
    SynFlood {
        /// Where the SYNs go, `a.b.c.d:port`.
        #[arg(long)]
        to: SocketAddrV4,
        /// The prefix the spoofed sources are drawn from, `a.b.c.d/len`.
        #[arg(long)]
        from: syn_flood::SourcePrefix,
        /// SYNs per second.
        #[arg(long, default_value_t = 20_000)]
        rate: u64,
        /// Seconds.
        #[arg(long, default_value_t = 10.0)]
        secs: f64,
        /// ICMP echo requests (random identifiers) instead of SYNs; the
        /// port of `--to` is ignored.
        #[arg(long)]
        echo: bool,
    },
    /// New TCP connections, counted: `--listen ADDR` accepts and closes
    /// them until killed; `--connect ADDR` opens `--count` of them and
    /// prints how many completed. For `bench/synflood.sh`.
    TcpProbe {
        /// Accept on this address.
        #[arg(long, conflicts_with = "connect", required_unless_present = "connect")]
        listen: Option<SocketAddr>,
        /// Connect to this address.
        #[arg(long)]
        connect: Option<SocketAddr>,
        /// Connections to open.
        #[arg(long, default_value_t = 100)]
        count: usize,
        /// Milliseconds between two connections.
        #[arg(long, default_value_t = 80)]
        interval_ms: u64,
        /// Milliseconds each connection may take.
        #[arg(long, default_value_t = 2000)]
        timeout_ms: u64,
    },
    /// Flood a WireGuard UDP port with one kind of unwanted datagram at a
    /// fixed rate, then print what was sent (JSON); bench/flood.sh uses it.
    FloodGen(flood::FloodSpec),
}

/// The median of some durations.
fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Runs `f` `runs` times: the median time and the last result.
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
        BenchCommand::Conntrack { flows } => conntrack::run(flows),
        BenchCommand::Acl { packets } => acl::run(packets),
        BenchCommand::FlowLog { packets, flows } => flow_log::run(packets, flows),
        BenchCommand::SynFlood {
            to,
            from,
            rate,
            secs,
            echo,
        } => syn_flood::run(to, from, rate, secs, echo),
        BenchCommand::TcpProbe {
            listen,
            connect,
            count,
            interval_ms,
            timeout_ms,
        } => match (listen, connect) {
            (Some(addr), _) => tcp_probe::listen(addr),
            (None, Some(addr)) => tcp_probe::connect(
                addr,
                count,
                Duration::from_millis(interval_ms),
                Duration::from_millis(timeout_ms),
            ),
            (None, None) => anyhow::bail!("tcp-probe needs --listen or --connect"),
        },
        BenchCommand::Sim {
            example,
            hosts,
            runs,
            no_verify,
        } => sim::run(&example, hosts, runs, !no_verify),
        BenchCommand::SimApply { hosts, runs } => sim_apply::run(hosts, runs),
        BenchCommand::BgpFailover {
            example,
            runs,
            hold_time,
        } => bgp_failover::run(&example, runs, hold_time),
        BenchCommand::Matrix {
            example,
            hosts,
            groups,
            rules,
            runs,
        } => matrix::run(&example, hosts, groups, rules, runs),
        BenchCommand::FloodGen(spec) => flood::run(spec),
    }
}
