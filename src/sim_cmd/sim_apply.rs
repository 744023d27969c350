//! `vifgate sim apply FILE`: a running lab brought to an edited topology
//! file, changing only what the edit changed (the steps of
//! [`sim::plan::diff`], run by [`sim::apply::exec`]). `--dry-run` prints
//! the steps, changing nothing (it reads the lab's state, which is
//! root's); `--rebuild` takes the lab down and up again from the file.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use sim::apply::{self, Programs};
use sim::plan::diff::{self, Step};

use super::LabArgs;

/// What `sim apply` was asked.
pub struct ApplyArgs {
    /// The edited file and the lab.
    pub lab: LabArgs,
    /// Print the steps; change nothing.
    pub dry_run: bool,
    /// Down and up again.
    pub rebuild: bool,
    /// Print JSON.
    pub json: bool,
}

/// Runs `sim apply`. The file is loaded and checked before anything else:
/// a file that does not load changes nothing.
pub fn run(args: ApplyArgs) -> Result<ExitCode> {
    let file = args.lab.file.clone();
    let (file_loaded, file_text, lab) = super::load_lab(&file, args.lab.lab)?;
    let st = super::lab_state(&lab, || {
        format!(
            "no lab `{lab}` is up: build it with `vifgate sim up {} --lab {lab}`",
            file.display()
        )
    })?;
    // a capacity `sim autoscale` set stays, unless the file's `desired`
    // changed since (sim::scaling::capacity); a rebuild starts afresh
    let text = match args.rebuild {
        true => file_text.clone(),
        false => sim::scaling::capacity::keep_live(&file_text, &st.capacity).0,
    };
    let new_loaded = if text == file_text {
        file_loaded
    } else {
        topology::parse(&file, text.clone()).map_err(|diagnostics| {
            crate::topology_cmd::FileErrors {
                file: file.clone(),
                diagnostics,
            }
        })?
    };
    // no --ports: the lab's own, so that only the file's edit is applied
    let new_plan = sim::plan::plan(&new_loaded.topology, &lab, &args.lab.ports.or_lab(&st))?;
    if st.status != apply::state::BuildStatus::Up {
        bail!("lab `{lab}` is not up (its `sim up` was interrupted, or is still building it): remove it with `vifgate sim down {lab}`");
    }
    let steps = if args.rebuild {
        // down, then up: every step of both
        let none = diff::empty(&lab);
        let mut s = diff::diff(&st.plan, &none);
        s.extend(diff::diff(&none, &new_plan));
        s
    } else {
        refuse_rebuild_fields(&lab, &file, &text, &new_loaded.topology)?;
        if let Err(why) = st.appliable(&lab) {
            bail!("{why}");
        }
        // an interrupted apply's steps come first, as the apply runs them
        (apply::exec::runs(&st, &new_plan).iter())
            .flat_map(|(from, to)| diff::diff(from, to))
            .collect()
    };
    if args.dry_run {
        print_steps(&lab, &file, &steps, args.rebuild, args.json)?;
        return Ok(ExitCode::SUCCESS);
    }
    if !args.rebuild {
        super::need_root()?;
        let edit = LiveEdit {
            file_text: &file_text,
            ports: &new_plan.tcp_ports,
            read: (&text, &new_plan),
        };
        return apply_live(&lab, &file, &edit, steps.len(), args.json);
    }
    super::need_root()?;
    // a daemon missing would stop the `up` after the `down`
    apply::check::installed(&new_plan)?;
    apply::down(&lab).with_context(|| format!("take lab `{lab}` down"))?;
    let rep = apply::up(&new_plan, Some(&file), &text, &Programs::current()?).with_context(|| {
        format!(
            "lab `{lab}` was taken down to be rebuilt from {}, and building it again failed: it is down now",
            file.display()
        )
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rep)?);
    } else {
        print!(
            "lab `{}` rebuilt from {} in {:.2} s: {}",
            rep.lab,
            file.display(),
            rep.seconds,
            rep.summary
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The file's text applied to a running lab, and what was made of it
/// with the lab's state as read before its lock was taken.
struct LiveEdit<'a> {
    /// The file's text.
    file_text: &'a str,
    /// The ports to plan with.
    ports: &'a [u16],
    /// The text with the live capacities kept and its plan, from the
    /// state read before the lock.
    read: (&'a str, &'a sim::plan::Plan),
}

impl LiveEdit<'_> {
    /// What the lab is brought to with its state as it is under its lock
    /// (the scaling controller may have changed a capacity since it was
    /// read): the live capacities kept then, and the plan of that text.
    fn under_lock(
        &self,
        file: &Path,
        lab: &str,
        st: &apply::state::LabState,
    ) -> std::result::Result<apply::exec::Edit, String> {
        let (text, capacity) = sim::scaling::capacity::keep_live(self.file_text, &st.capacity);
        let (read_text, read_plan) = self.read;
        let plan = if text == read_text {
            read_plan.clone()
        } else {
            let t = topology::parse(file, text.clone())
                .map_err(|d| format!("{} with the live capacities: {d}", file.display()))?
                .topology;
            sim::plan::plan(&t, lab, self.ports).map_err(|e| e.to_string())?
        };
        Ok(apply::exec::Edit {
            plan,
            text,
            source: Some(file.to_path_buf()),
            capacity: Some(capacity),
            restored: Vec::new(),
        })
    }
}

/// Runs the steps on the lab, printing each as it is done (with --json,
/// one JSON record a line), then the total.
fn apply_live(
    lab: &str,
    file: &Path,
    edit: &LiveEdit<'_>,
    planned: usize,
    json: bool,
) -> Result<ExitCode> {
    if !json && planned > 0 {
        println!(
            "lab `{lab}`: {planned} step{} to apply {}",
            if planned == 1 { "" } else { "s" },
            file.display()
        );
    }
    let width = planned.max(1).to_string().len();
    let printed = |r: &apply::exec::StepRun| {
        if json {
            if let Ok(line) = serde_json::to_string(r) {
                println!("{line}");
            }
        } else {
            println!("  {:>width$}. {} ({:.1} ms)", r.n, r.step, r.ms);
        }
    };
    let rep = apply::exec::apply_edit(lab, &Programs::current()?, printed, |st, _| {
        edit.under_lock(file, lab, st)
    })
    .with_context(|| {
            format!(
                "lab `{lab}` is between its plan and {}: run `vifgate sim apply {}` again to complete it; if the same step fails again, `vifgate sim apply {} --lab {lab} --rebuild` builds the lab anew from the file (or `vifgate sim down {lab}` removes it)",
                file.display(),
                file.display(),
                file.display()
            )
        })?;
    if json {
        println!("{}", serde_json::to_string(&rep)?);
    } else if let Some(s) = &rep.resumed {
        println!("(completed an apply interrupted at: {s})");
    }
    // instances `sim fail` failed are as the file describes them again
    // and impaired zones launch again
    let restored = sim::ops::fail::restore(lab)?;
    if !json && !restored.nodes.is_empty() {
        println!(
            "restored the failed instance{} {}",
            if restored.nodes.len() == 1 { "" } else { "s" },
            restored.nodes.join(", ")
        );
    }
    if let Some(line) = restored.zones_line(lab).filter(|_| !json) {
        println!("{line}");
    }
    if !json {
        if rep.steps == 0 {
            println!(
                "lab `{lab}` is as {} describes it: nothing to do",
                file.display()
            );
        } else {
            println!(
                "lab `{lab}` applied {} in {:.3} s ({} step{})",
                file.display(),
                rep.seconds,
                rep.steps,
                if rep.steps == 1 { "" } else { "s" }
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Refuses an edit of what a running lab cannot change in place, at the
/// fields' places in the new file ([`diff::rebuild`]).
fn refuse_rebuild_fields(
    lab: &str,
    file: &Path,
    text: &str,
    new: &topology::Topology,
) -> Result<()> {
    // the copy of the text the lab was built from, which `sim up` keeps
    let copy = sim::layout::state_dir(lab).join("topology.toml");
    let old_text = std::fs::read_to_string(&copy).with_context(|| {
        format!(
            "lab `{lab}` keeps no copy of the topology it was built from ({}): apply the file with --rebuild",
            copy.display()
        )
    })?;
    let old = match topology::parse(&copy, old_text) {
        Ok(l) => l.topology,
        Err(_) => bail!(
            "lab `{lab}` was built from a topology this vifgate no longer reads ({}): apply the file with --rebuild",
            copy.display()
        ),
    };
    let src = topology::SourceFile::new(file, text.to_string());
    let diagnostics = diff::rebuild::fields_needing_rebuild(&old, new, &src);
    if diagnostics.0.is_empty() {
        return Ok(());
    }
    Err(crate::topology_cmd::FileErrors {
        file: file.to_path_buf(),
        diagnostics,
    }
    .into())
}

/// The steps, one numbered line each, or as JSON.
fn print_steps(lab: &str, file: &Path, steps: &[Step], rebuild: bool, json: bool) -> Result<()> {
    if json {
        let v = serde_json::json!({
            "lab": lab,
            "file": file,
            "rebuild": rebuild,
            "steps": steps,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    if steps.is_empty() {
        println!(
            "lab `{lab}` is as {} describes it: nothing to do",
            file.display()
        );
        return Ok(());
    }
    let how = if rebuild { "rebuild" } else { "apply" };
    let n = steps.len();
    println!(
        "lab `{lab}`: {n} step{} to {how} {} (dry run: nothing changed)",
        if n == 1 { "" } else { "s" },
        file.display()
    );
    let width = steps.len().to_string().len();
    for (i, s) in steps.iter().enumerate() {
        println!("  {:>width$}. {s}", i + 1);
    }
    Ok(())
}
