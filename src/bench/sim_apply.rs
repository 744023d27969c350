//! `vifgate bench sim-apply`: one-line edits of the generated 200-host lab
//! (one security group rule, one instance added, one route) applied to a
//! running lab (`sim apply`: [`sim::apply::exec::apply`]) against taking
//! the lab down and building it again from the edited file, both in the
//! same run, from a lab of the unedited file each time.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use topology::synth::{synth_toml, SynthSpec};

use super::median;
use super::sim::{LabCleanup, SIM_PORTS};

/// One edit of the generated file: its name, the text replaced and the
/// text put in its place, and the target it has, if any.
struct Edit {
    name: &'static str,
    from: &'static str,
    to: &'static str,
    target: &'static str,
}

/// The three edits. Each keeps the file valid: a rule added to `sg-0`, an
/// instance added in subnet `s0` (an address its hosts leave free), a
/// route added to the public route table.
const EDITS: [Edit; 3] = [
    Edit {
        name: "security group rule",
        from: "[[security_group]]\nname = \"sg-0\"\n",
        to: "[[security_group]]\nname = \"sg-0\"\n[[security_group.ingress]]\nprotocol = \"tcp\"\nports = 9999\ncidr = \"10.0.0.0/16\"\n",
        target: ">= 20x; < 100 ms",
    },
    Edit {
        name: "instance added",
        from: "[internet]\n",
        to: "[[vpc.instance]]\nname = \"bench-added\"\nsubnet = \"s0\"\nip = \"10.0.0.250\"\nsecurity_groups = [\"sg-0\"]\n[internet]\n",
        target: "",
    },
    Edit {
        name: "route",
        from: "routes = [{ prefix = \"0.0.0.0/0\", target = \"igw\" }]",
        to: "routes = [{ prefix = \"0.0.0.0/0\", target = \"igw\" }, { prefix = \"172.16.0.0/24\", target = \"nat-a\" }]",
        target: "",
    },
];

/// The times of one run of one edit.
struct Run {
    steps: usize,
    apply: Duration,
    rebuild: Duration,
}

/// `vifgate bench sim-apply`.
pub(super) fn run(hosts: usize, runs: usize) -> Result<ExitCode> {
    // SAFETY: no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        anyhow::bail!("`vifgate bench sim-apply` needs root (network namespaces)");
    }
    let runs = runs.max(1);
    let programs = sim::apply::Programs {
        vifgate: std::env::current_exe()?,
    };
    let prefix = format!("ba{}-", std::process::id());
    let a_text = synth_toml(SynthSpec {
        hosts,
        security_groups: 20,
        rules_per_group: 10,
        seed: 42,
    });
    let load = |name: &str, text: &str| -> Result<topology::Topology> {
        Ok(topology::parse(name, text.to_string())
            .map_err(|d| anyhow::anyhow!("{d}"))?
            .topology)
    };
    let a = load("synthetic.toml", &a_text)?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "sim-apply benchmark: generated lab of {hosts} hosts (20 groups x 10 rules, seed 42); median of {runs} runs; {cores} core(s); lab names {prefix}N"
    );
    let mut counter = 0usize;
    let result = (|| -> Result<Vec<(&Edit, Vec<Run>)>> {
        let mut rows = Vec::new();
        for e in &EDITS {
            if !a_text.contains(e.from) {
                anyhow::bail!("the generated file has no `{}`", e.from.trim());
            }
            let b_text = a_text.replacen(e.from, e.to, 1);
            let b = load("synthetic-edited.toml", &b_text)?;
            let mut times = Vec::new();
            for i in 0..runs {
                counter += 1;
                let lab = format!("{prefix}{counter}");
                let _cleanup = LabCleanup(lab.clone());
                let pa = sim::plan::plan(&a, &lab, &SIM_PORTS)?;
                let pb = sim::plan::plan(&b, &lab, &SIM_PORTS)?;
                sim::apply::up(&pa, None, &a_text, &programs)
                    .with_context(|| format!("build lab {lab}"))?;
                let start = Instant::now();
                let rep = sim::apply::exec::apply(&pb, None, &b_text, &programs, |_| {})
                    .with_context(|| format!("apply `{}` to lab {lab}", e.name))?;
                let apply = start.elapsed();
                let start = Instant::now();
                sim::apply::down(&lab).with_context(|| format!("take lab {lab} down"))?;
                sim::apply::up(&pb, None, &b_text, &programs)
                    .with_context(|| format!("build lab {lab} again"))?;
                let rebuild = start.elapsed();
                eprintln!(
                    "  {} run {}/{runs}: apply {:.1} ms ({} steps), down + up {:.3} s",
                    e.name,
                    i + 1,
                    apply.as_secs_f64() * 1e3,
                    rep.steps,
                    rebuild.as_secs_f64()
                );
                times.push(Run {
                    steps: rep.steps,
                    apply,
                    rebuild,
                });
            }
            rows.push((e, times));
        }
        Ok(rows)
    })();
    let left: Vec<String> = sim::kernel::netns::list(&prefix);
    let rows = result?;
    println!();
    println!("| edit | steps | apply (median) | down + up (median) | rebuild / apply | target |");
    println!("|---|---|---|---|---|---|");
    for (e, times) in &rows {
        let apply = median(times.iter().map(|r| r.apply).collect());
        let rebuild = median(times.iter().map(|r| r.rebuild).collect());
        println!(
            "| {} | {} | {:.1} ms | {:.3} s | {:.0}x | {} |",
            e.name,
            times.last().map_or(0, |r| r.steps),
            apply.as_secs_f64() * 1e3,
            rebuild.as_secs_f64(),
            rebuild.as_secs_f64() / apply.as_secs_f64().max(1e-9),
            e.target
        );
    }
    if left.is_empty() {
        println!("clean: no namespace left with the prefix {prefix}");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("NOT CLEAN, left behind: {}", left.join(", "));
        Ok(ExitCode::FAILURE)
    }
}
