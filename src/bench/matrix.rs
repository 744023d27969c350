//! `vifgate bench matrix`: the static analysis's full matrix, on the
//! bundled example and on a generated topology.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use topology::analysis::{self, Service};
use topology::synth::{synth_toml, SynthSpec};

use super::time;

/// Times parsing and the matrix of `example` and of a generated topology
/// of `hosts` hosts, `groups` groups of `rules` rules; medians of `runs`.
pub(super) fn run(
    example: &Path,
    hosts: usize,
    groups: usize,
    rules: usize,
    runs: usize,
) -> Result<ExitCode> {
    let ports = [22u16, 80, 443, 3306];
    let services: Vec<Service> = ports.iter().map(|&p| Service::Tcp(p)).collect();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    println!("matrix benchmark: tcp ports 22,80,443,3306; median of {runs} runs; {cores} core(s)");

    let (load_t, loaded) = time(runs, || topology::load(example));
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
