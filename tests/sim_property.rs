//! The analysis against the lab on generated topologies
//! ([`topology::synth_lab`]): VIFs and VPNs on plain routers and on
//! gateway boxes, NAT gateways behind narrow ACLs, routes more specific
//! than the local route through a firewall instance, odd names. For each
//! topology `check` accepts, a lab is built and `sim test` must agree
//! with the analysis on every probed flow.
//!
//! Seeded and replayable:
//! - `VIFGATE_PROPERTY_SEED=N` runs case `N` alone;
//! - `VIFGATE_PROPERTY_FIRST=N` and `VIFGATE_PROPERTY_CASES=K` run cases
//!   `N..N+K`. The defaults are 4 cases under `CI=true` and 40 by hand,
//!   from seed 1.
//!
//! Needs root, nftables, ping and BIRD; runs for real under `CI=true`,
//! skips with a message elsewhere.

mod common;

use std::path::PathBuf;
use std::time::Instant;

use sim::ops::compare;
use sim::ops::lab::{Lab, LabOptions};

#[test]
fn the_lab_agrees_with_the_analysis_on_generated_topologies() {
    let test = "the_lab_agrees_with_the_analysis_on_generated_topologies";
    if !(common::can_run(test)
        && common::need_tool("nft")
        && common::need_tool("ping")
        && common::need_bird())
    {
        return;
    }
    let opts = LabOptions {
        vifgate: Some(PathBuf::from(common::vifgate())),
        ..LabOptions::default()
    };
    let started = Instant::now();
    let (mut built, mut refused, mut cells, mut probes) = (0usize, Vec::new(), 0usize, 0usize);
    let mut failures: Vec<String> = Vec::new();
    let range = common::cases::seeds(4, 40);
    for seed in range.clone() {
        let text = topology::synth_lab::lab_case_toml(seed);
        let file = format!("case-{seed}.toml");
        match topology::parse(&file, text.clone()) {
            Ok(l) if !l.warnings.has_errors() => {}
            Ok(l) => {
                refused.push(format!("{seed}: {}", l.warnings));
                continue;
            }
            Err(d) => {
                refused.push(format!("{seed}: {d}"));
                continue;
            }
        }
        let lab = match Lab::from_toml(&file, &text, &opts) {
            Ok(lab) => lab,
            Err(e) => {
                failures.push(format!(
                    "case {seed}: check accepts it, the lab does not build: {e}"
                ));
                continue;
            }
        };
        built += 1;
        let r = lab.test(2000, compare::default_probe_options());
        if let Err(e) = lab.down() {
            failures.push(format!("case {seed}: down: {e}"));
        }
        cells += r.probed_cells;
        probes += r.probes + r.reprobed;
        if !r.passed() {
            failures.push(format!(
                "case {seed} (VIFGATE_PROPERTY_SEED={seed}):\n{}",
                compare::render(&r, false)
            ));
        }
    }
    eprintln!(
        "seeds {}..{}: {built} labs built and tested, {} refused by check, {cells} cells, {probes} probes, {} disagreeing, in {:.1} s",
        range.start,
        range.end,
        refused.len(),
        failures.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        refused.is_empty(),
        "refused by check:\n{}",
        refused.join("\n")
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
