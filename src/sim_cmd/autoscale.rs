//! `vifgate sim autoscale LAB`: an Auto Scaling group's controller on the
//! running lab ([`sim::scaling::run`]), printed as `topology scale`
//! prints its prediction; or, with `--follow`, the records of the lab's
//! own controller ([`sim::scaling::service`]) as they come.

use std::io::{BufRead as _, Seek as _};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use sim::apply::Programs;
use sim::scaling::run::{run as run_loop, Event, Options};

/// Runs `sim autoscale`.
pub fn run(
    lab: &str,
    group: Option<&str>,
    duration: Option<Duration>,
    json: bool,
    follow: bool,
) -> Result<ExitCode> {
    let (st, loaded) = super::running_lab(lab)?;
    let t = &loaded.topology;
    let gi = crate::scale_cmd::choose_group(t, group)?;
    let opts = Options {
        lab: lab.to_string(),
        group: t.auto_scaling_groups[gi].name.clone(),
        duration,
    };
    let lab_runs_it = st.plan.autoscaling.contains(&opts.group);
    if follow {
        if !lab_runs_it {
            bail!(
                "lab `{lab}` does not run group {}'s controller (`[sim] autoscale = false`, or the group has no scaling policy): run `vifgate sim autoscale {lab} --group {}` without --follow",
                opts.group,
                opts.group
            );
        }
        return follow_records(&opts, json);
    }
    if lab_runs_it {
        bail!(
            "lab `{lab}` runs group {}'s controller itself: `vifgate sim status {lab}` shows its capacity and last activities, `vifgate sim autoscale {lab} --group {} --follow` prints its periods as they come; set `[sim] autoscale = false` in the file and `sim apply` it to drive the group from here",
            opts.group,
            opts.group
        );
    }
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
            println!("{}", e.to_json());
            return;
        }
        match e {
            Event::Period(p) => print!("{}", crate::scale_cmd::render_period(p)),
            other => println!(
                "        {}",
                sim::scaling::service::describe(&other.to_json())
            ),
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

/// `--follow`: the lab's controller's records of the group, from its
/// last record on, as they are written; until `opts.duration` is over or
/// the lab is gone.
fn follow_records(opts: &Options, json: bool) -> Result<ExitCode> {
    let dir = sim::layout::state_dir(&opts.lab);
    let path = sim::scaling::service::records(&dir, &opts.group);
    let started = Instant::now();
    let over = || opts.duration.is_some_and(|d| started.elapsed() >= d);
    // the last record first
    for r in sim::scaling::service::last_records(&path, 1).unwrap_or_default() {
        print_record(&r, json);
    }
    let mut offset = std::fs::metadata(&path).map_or(0, |m| m.len());
    let mut pending = String::new();
    while !over() {
        if !dir.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        let Ok(mut f) = std::fs::File::open(&path) else {
            continue;
        };
        let len = f.metadata().map_or(0, |m| m.len());
        if len < offset {
            offset = 0; // a new file
        }
        f.seek(std::io::SeekFrom::Start(offset))
            .with_context(|| format!("read {}", path.display()))?;
        let mut reader = std::io::BufReader::new(f);
        let mut line = String::new();
        while reader.read_line(&mut line)? > 0 {
            offset += line.len() as u64;
            pending.push_str(&line);
            line.clear();
            if pending.ends_with('\n') {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(pending.trim_end()) {
                    print_record(&v, json);
                }
                pending.clear();
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One of the lab's controller's records: as it is with --json, else a
/// line for people.
fn print_record(v: &serde_json::Value, json: bool) {
    if json {
        println!("{v}");
        return;
    }
    let num = |k: &str| v.get(k).and_then(|x| x.as_u64()).unwrap_or(0);
    if let Some(minute) = v.get("minute").and_then(|m| m.as_u64()) {
        let load = v.get("load").and_then(|l| l.as_f64()).unwrap_or(0.0);
        println!(
            "{minute:>4}m  load {load:>6.0}  capacity {} + {} (desired {})",
            num("in_service"),
            num("warming"),
            num("desired")
        );
        for a in v["activities"].as_array().into_iter().flatten() {
            println!("        {}", sim::scaling::service::describe(a));
        }
    } else {
        println!("        {}", sim::scaling::service::describe(v));
    }
}
