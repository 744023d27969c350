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
