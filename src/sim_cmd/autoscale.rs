//! `vifgate sim autoscale LAB`: an Auto Scaling group's controller on the
//! running lab ([`sim::scaling::run`]), printed as `topology scale`
//! prints its prediction.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use sim::apply::Programs;
use sim::scaling::run::{run as run_loop, Event, Options};

/// Runs `sim autoscale`.
pub fn run(
    lab: &str,
    group: Option<&str>,
    duration: Option<Duration>,
    json: bool,
) -> Result<ExitCode> {
    let (_, loaded) = super::running_lab(lab)?;
    let t = &loaded.topology;
    let gi = crate::scale_cmd::choose_group(t, group)?;
    let opts = Options {
        lab: lab.to_string(),
        group: t.auto_scaling_groups[gi].name.clone(),
        duration,
    };
    if !json {
        println!(
            "Auto Scaling group {} in lab `{lab}`: live, one line a period ({:?} of wall time at time_scale {})",
            opts.group,
            sim::scaling::metrics::lab_period(t.sim.time_scale),
            t.sim.time_scale
        );
        println!("(load: requests the group's targets answered in the period; capacity: in service + warming up)\n");
    }
    let print = |e: Event<'_>| {
        if json {
            let line = match e {
                Event::Period(p) => serde_json::to_value(p),
                Event::Unavailable { metric, why } => Ok(serde_json::json!({
                    "unavailable": metric, "why": why.to_string() })),
                Event::Step(s) => serde_json::to_value(s),
                Event::Replaced {
                    instance,
                    steps,
                    seconds,
                } => Ok(serde_json::json!({
                    "replaced": { "instance": instance, "steps": steps, "seconds": seconds } })),
                Event::Applied {
                    desired,
                    launched,
                    terminated,
                    steps,
                    seconds,
                } => Ok(serde_json::json!({
                    "applied": { "desired": desired, "launched": launched, "terminated": terminated, "steps": steps, "seconds": seconds } })),
            };
            if let Ok(v) = line {
                println!("{v}");
            }
            return;
        }
        match e {
            Event::Period(p) => print!("{}", crate::scale_cmd::render_period(p)),
            Event::Unavailable { metric, why } => println!("        {metric}: {why}"),
            Event::Replaced {
                instance,
                steps,
                seconds,
            } => println!(
                "        replaced {instance}: unhealthy past its grace period (health check type ELB), terminated and launched again ({steps} steps, {seconds:.2} s)"
            ),
            Event::Step(s) => println!("          {}. {} ({:.1} ms)", s.n, s.step, s.ms),
            Event::Applied {
                desired,
                launched,
                terminated,
                steps,
                seconds,
            } => {
                let mut what = Vec::new();
                if !launched.is_empty() {
                    what.push(format!("launched {}", launched.join(", ")));
                }
                if !terminated.is_empty() {
                    what.push(format!("terminated {}", terminated.join(", ")));
                }
                println!(
                    "        applied: {} ({desired} instances, {steps} steps, {seconds:.2} s)",
                    what.join("; ")
                )
            }
        }
    };
    let summary = run_loop(&opts, &Programs::current()?, print)?;
    if json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        println!(
            "\n{} periods, {} change{} of capacity, {} instance{} replaced; group {} is at {}",
            summary.periods,
            summary.changes,
            if summary.changes == 1 { "" } else { "s" },
            summary.replaced,
            if summary.replaced == 1 { "" } else { "s" },
            opts.group,
            summary.desired
        );
    }
    Ok(ExitCode::SUCCESS)
}
