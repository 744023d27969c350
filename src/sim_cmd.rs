//! `vifgate sim`: labs of network namespaces built from a topology.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use sim::apply::{self, Programs};
use sim::layout;
use sim::ops::compare::{self, TestOptions};
use sim::ops::link::LinkChange;
use sim::ops::report_html::{self, Drawing};
use sim::plan;

mod autoscale;
mod sim_apply;
mod sim_load;
pub(crate) mod values;

use values::{
    parse_account_id, parse_duration, parse_flow_log_format, parse_interval, parse_lab_name,
    parse_percent, parse_port, parse_rate, parse_run_time, parse_timeout_ms,
};

/// `vifgate sim ...`
#[derive(Subcommand)]
pub enum SimCommand {
    /// Build a lab from a topology (root): namespaces, links, firewalls,
    /// gateways, listeners.
    Up {
        #[command(flatten)]
        lab: LabArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Build nothing: print the plan, as `sim plan` does (no root).
        #[arg(long)]
        dry_run: bool,
    },
    /// Print what `sim up` would build, without root and without touching
    /// the machine: namespaces, links, addresses, routes, rules, sysctls,
    /// firewalls, shaping and processes, per namespace.
    Plan {
        #[command(flatten)]
        lab: LabArgs,
        /// Print the plan as JSON (with every firewall ruleset in full).
        #[arg(long)]
        json: bool,
    },
    /// Bring a running lab to an edited topology file, changing only what
    /// the edit changed. `--dry-run` prints the steps and changes nothing
    /// (reading the lab's state takes root, as its directory is root's); `--rebuild` takes the lab down and up again (root),
    /// for what cannot change in place (a VPC's block, a subnet's zone, an
    /// ASN). A file that does not load changes nothing.
    Apply {
        #[command(flatten)]
        lab: LabArgs,
        /// Print the steps; change nothing (no root).
        #[arg(long)]
        dry_run: bool,
        /// Take the lab down and build it again from the file (root).
        #[arg(long)]
        rebuild: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove a lab: its processes, namespaces and state. Nothing to remove is fine.
    Down {
        /// Lab name; default: the only lab there is.
        #[arg(value_parser = parse_lab_name)]
        lab: Option<String>,
    },
    /// The labs there are, what they hold and how their links were shaped.
    Status {
        /// One lab; default: all.
        #[arg(value_parser = parse_lab_name)]
        lab: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run a command inside a node of a lab.
    Exec {
        /// Lab name.
        #[arg(value_parser = parse_lab_name)]
        lab: String,
        /// Node name (or vpc, vgw, lan for the lab's own routers).
        node: String,
        /// The command and its arguments.
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// Take a link down or up, or change its delay, loss or rate.
    Link {
        /// Lab name.
        #[arg(value_parser = parse_lab_name)]
        lab: String,
        /// One end: a node, or the infrastructure it joins.
        a: String,
        /// The other end (e.g. `web-a1 web-a`, `vifgate-office dx-vif`).
        b: String,
        #[command(flatten)]
        change: LinkArgs,
    },
    /// Fail an instance as a failed EC2 instance fails: its services stop
    /// answering (every packet in and out dropped), its namespace and
    /// addresses stay. `--zone a` fails every instance of a zone;
    /// `--restore` brings every failed one back, as `sim apply` of the
    /// lab's file does.
    Fail {
        /// Lab name.
        #[arg(value_parser = parse_lab_name)]
        lab: String,
        /// The instance.
        #[arg(required_unless_present_any = ["zone", "restore"], conflicts_with_all = ["zone", "restore"])]
        node: Option<String>,
        /// Every instance in this zone (`a`, or `ap-northeast-2a`).
        #[arg(long, conflicts_with = "restore")]
        zone: Option<String>,
        /// Bring every failed instance back.
        #[arg(long)]
        restore: bool,
    },
    /// An Auto Scaling group's controller on the running lab (root): one
    /// line a period (a minute on the lab's clock, `[sim] time_scale`) as
    /// `topology scale` prints it, from HAProxy's request counters; each
    /// change of capacity is applied as `sim apply` does. A lab runs its
    /// groups' controller itself unless `[sim] autoscale = false`: then
    /// `--follow` prints its records as they come, and without it the
    /// command refuses.
    Autoscale {
        /// Lab name.
        #[arg(value_parser = parse_lab_name)]
        lab: String,
        /// The group; default: the only one with a scaling policy.
        #[arg(long)]
        group: Option<String>,
        /// Stop after this long (wall time, e.g. 90s); default: run until
        /// stopped.
        #[arg(long, value_parser = parse_run_time)]
        duration: Option<Duration>,
        /// One JSON record a line: each period as `topology scale --json`
        /// gives it, each step and each apply.
        #[arg(long)]
        json: bool,
        /// Print the records of the lab's own controller as they come
        /// (from the last period), instead of running one.
        #[arg(long)]
        follow: bool,
    },
    /// Build a lab, probe every flow of the static matrix and every
    /// expectation, compare, remove the lab. Exit 1 on any disagreement.
    Test {
        /// Topology file.
        file: PathBuf,
        /// Lab name; default: from the topology's name.
        #[arg(long, value_parser = parse_lab_name)]
        lab: Option<String>,
        #[command(flatten)]
        ports: Ports,
        /// Probe at most this many matrix cells (an even sample beyond);
        /// at least 1.
        #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..))]
        max_cells: u64,
        /// Per-probe timeout, milliseconds: at least 1000 (a lost SYN's
        /// retransmission, sent after 1 s, is waited for).
        #[arg(long, default_value_t = 1500, value_parser = parse_timeout_ms)]
        timeout_ms: u64,
        /// Probes in flight at once (more is faster; on a busy 2-core
        /// machine a burst of hundreds of connects loses SYNs now and then,
        /// see docs/sim.md).
        #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..))]
        parallel: u64,
        /// Leave the lab up afterwards.
        #[arg(long)]
        keep: bool,
        /// Print every probed cell, not only the disagreements.
        #[arg(long)]
        all: bool,
        /// Probe the lab of that name, already up (from `sim up` or
        /// `--keep`), instead of building one; leave it up.
        #[arg(long)]
        reuse: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Also write the outcome as one self-contained HTML page: the
        /// static and live matrices side by side, the expectations, the
        /// BGP comparison and the topology drawing.
        #[arg(long, value_name = "FILE.html")]
        report: Option<PathBuf>,
    },
    /// The live BGP of a running lab, read from its daemons (BIRD through
    /// `birdc`, FRR through `vtysh`): sessions with their state, and per
    /// speaker the received and advertised routes, in the shape of
    /// `vifgate topology bgp`.
    Bgp {
        /// Lab name; default: the only lab there is.
        #[arg(value_parser = parse_lab_name)]
        lab: Option<String>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// VPC flow log records of every ENI in a running lab (instances, load
    /// balancers, databases, NAT gateways), in AWS's version 2 default
    /// format, counted by the lab's own firewalls: ACCEPT for what the
    /// security groups let through, REJECT for what they dropped. Prints
    /// one aggregation interval, or every interval as it closes with
    /// `--follow`.
    Flowlogs {
        /// Lab name; default: the only lab there is.
        #[arg(value_parser = parse_lab_name)]
        lab: Option<String>,
        /// Print records as intervals close, until interrupted.
        #[arg(long)]
        follow: bool,
        /// Aggregation interval, seconds: 10 or 60, as AWS allows.
        #[arg(long, default_value_t = 10, value_parser = parse_interval)]
        interval: u64,
        /// Aggregation interval in milliseconds, for tests (overrides
        /// `--interval`).
        #[arg(long, hide = true)]
        interval_ms: Option<u64>,
        /// Account id written into the records (12 digits).
        #[arg(long, default_value = sim::flowlogs::capture::DEFAULT_ACCOUNT_ID, value_parser = parse_account_id)]
        account_id: String,
        /// Print JSON lines instead of flow log lines.
        #[arg(long)]
        json: bool,
        /// Print the field names first, as the files AWS delivers to S3 begin.
        #[arg(long, conflicts_with = "json")]
        header: bool,
        /// AWS's custom format: `${field}` names separated by spaces, e.g.
        /// `'${version} ${interface-id} ${flow-direction} ${tcp-flags}'`;
        /// default: AWS's version 2 default format.
        #[arg(long, value_parser = parse_flow_log_format)]
        format: Option<gateway::flow_log::Format>,
        /// Stop after this many intervals (with `--follow`).
        #[arg(long, hide = true)]
        intervals: Option<u64>,
    },
    /// An open-loop HTTP load on a lab's load balancer (root): requests
    /// sent on schedule whatever the answers, latency from the scheduled
    /// time, a cookie jar per client; a progress line a second (rate,
    /// latency, errors, capacity, requests per target), then a summary, a
    /// timeline and a plot.
    Load(sim_load::LoadArgs),
    /// The lab's listeners (started by `sim up`).
    #[command(hide = true)]
    Agent {
        /// Listener specification (JSON).
        #[arg(long)]
        spec: PathBuf,
        /// File written once every listener is bound.
        #[arg(long)]
        ready: PathBuf,
    },
    /// The lab's scaling controller (started by `sim up` and `sim
    /// apply`).
    #[command(hide = true)]
    Controller {
        /// Lab name.
        #[arg(long, value_parser = parse_lab_name)]
        lab: String,
    },
}

/// A topology file and the lab to make of it (`sim up`, `sim plan`).
#[derive(Args)]
pub struct LabArgs {
    /// Topology file.
    file: PathBuf,
    /// Lab name (prefix of every namespace); default: from the topology's name.
    #[arg(long, value_parser = parse_lab_name)]
    lab: Option<String>,
    #[command(flatten)]
    ports: Ports,
}

/// The TCP ports `--ports` probes unless told (and `topology matrix`
/// tabulates).
pub(crate) const DEFAULT_PORTS: &str = "22,80,443,3306";

/// TCP ports of the matrix.
#[derive(Args)]
pub struct Ports {
    /// TCP ports probed for every pair of hosts (plus every `[[expect]]`)
    /// [default: 22,80,443,3306; on a running lab (`sim apply`, `sim test
    /// --reuse`): the ones it was built with].
    #[arg(long, value_delimiter = ',', value_parser = parse_port)]
    ports: Option<Vec<u16>>,
}

impl Ports {
    /// The ports given, else the default ones.
    fn or_default(&self) -> Vec<u16> {
        self.ports
            .clone()
            .unwrap_or_else(|| plan::DEFAULT_TCP_PORTS.to_vec())
    }

    /// The ports given, else those the running lab of `st` was built
    /// with: no `--ports` is no edit of them.
    fn or_lab(&self, st: &apply::state::LabState) -> Vec<u16> {
        self.ports
            .clone()
            .unwrap_or_else(|| st.plan.tcp_ports.clone())
    }
}

/// What `sim link` changes.
#[derive(Args)]
#[group(required = true, multiple = true)]
pub struct LinkArgs {
    /// Take the link down.
    #[arg(long, conflicts_with = "up")]
    down: bool,
    /// Bring the link up.
    #[arg(long)]
    up: bool,
    /// One-way delay each way, e.g. 20ms (0 takes it off).
    #[arg(long, value_parser = parse_duration)]
    delay: Option<Duration>,
    /// Jitter around the delay, e.g. 5ms (0 takes it off).
    #[arg(long, value_parser = parse_duration)]
    jitter: Option<Duration>,
    /// Loss each way, e.g. 1% (0% takes it off).
    #[arg(long, value_parser = parse_percent)]
    loss: Option<f64>,
    /// Rate each way, e.g. 100mbit: at least 8bit (a byte a second); 0
    /// takes it off.
    #[arg(long, value_parser = parse_rate)]
    rate: Option<u64>,
}

impl SimCommand {
    /// Whether the command prints JSON (`--json`).
    pub fn json(&self) -> bool {
        match self {
            SimCommand::Up { json, .. }
            | SimCommand::Plan { json, .. }
            | SimCommand::Apply { json, .. }
            | SimCommand::Status { json, .. }
            | SimCommand::Test { json, .. }
            | SimCommand::Bgp { json, .. }
            | SimCommand::Flowlogs { json, .. } => *json,
            SimCommand::Load(a) => a.json(),
            _ => false,
        }
    }
}

fn need_root() -> Result<()> {
    // SAFETY: no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!("`vifgate sim` needs root (network namespaces)");
    }
    Ok(())
}

/// Reads and checks a topology file (its warnings printed); also its text.
fn load(file: &Path) -> Result<(topology::Loaded, String)> {
    let (l, text) = parse_file(file)?;
    for w in &l.warnings.0 {
        eprint!("{w}");
    }
    Ok((l, text))
}

/// Reads and checks a topology file, its warnings kept in the result.
fn parse_file(file: &Path) -> Result<(topology::Loaded, String)> {
    let text = topology::diag::read_input_text(file)
        .with_context(|| format!("cannot read {}", file.display()))?;
    match topology::parse(file, text.clone()) {
        Ok(l) => Ok((l, text)),
        Err(diagnostics) => Err(crate::topology_cmd::FileErrors {
            file: file.to_path_buf(),
            diagnostics,
        }
        .into()),
    }
}

/// A lab's state; `missing` says why no lab of that name is an error.
fn lab_state(lab: &str, missing: impl FnOnce() -> String) -> Result<apply::state::LabState> {
    let st = apply::state::load_state(lab).map_err(|e| {
        let root = if e.kind() == std::io::ErrorKind::PermissionDenied {
            ": reading a lab needs root (its state directory is root's): run it with sudo"
        } else {
            ""
        };
        anyhow::anyhow!("cannot read lab `{lab}`: {e}{root}")
    })?;
    st.with_context(missing)
}

/// A running lab's state and the topology it was built from. The lab's
/// copy's warnings are not printed: the user's file's were, by its `sim
/// up` or `sim apply`, and those the copy adds are of the lab's own
/// edits (an instance named in the file that the scaling controller
/// terminated is "not running").
pub fn running_lab(lab: &str) -> Result<(apply::state::LabState, topology::Loaded)> {
    let st = lab_state(lab, || format!("no lab `{lab}` is up"))?;
    // the copy `up` keeps (the file may have moved or changed since,
    // or been named relative to another directory); the name was
    // checked by `load_state`
    let copy = layout::state_dir(lab).join("topology.toml");
    let (l, _) = match &st.source {
        _ if copy.is_file() => parse_file(&copy)?,
        Some(f) => load(f)?,
        None => bail!("lab `{lab}` was not built from a file: its topology is not known"),
    };
    Ok((st, l))
}

/// Refuses to reuse a lab that was not built from `file` as it is now
/// (with these ports, by this vifgate): its fingerprint, recorded by `sim
/// up`, differs from the one the file gives now
/// ([`sim::apply::fingerprint`]), or it was never finished (`building`).
/// Probing it would compare an old lab, or half of one, with a new
/// analysis.
fn refuse_stale_lab(
    st: &apply::state::LabState,
    p: &plan::Plan,
    text: &str,
    file: &Path,
) -> Result<()> {
    let lab = &p.lab;
    let up = st.status == apply::state::BuildStatus::Up;
    if up
        && st.built_from.as_deref() == Some(sim::apply::fingerprint::fingerprint(p, text).as_str())
    {
        let changed = st.changed_links();
        if changed.is_empty() {
            return Ok(());
        }
        // the file is the lab's, its links are not: the analysis knows
        // nothing of a cut or a 100 % loss
        bail!(
            "lab `{lab}` has links `sim link` changed since it was built ({}): the analysis of {} knows nothing of them; put them back (`vifgate sim link {lab} A B --up`, or the values `sim up` set), or rebuild it, or run `sim test` without --reuse",
            changed.join("; "),
            file.display()
        )
    }
    let why = match &st.built_from {
        // half a lab: probing it reports disagreements that are not real
        _ if !up => "it is not up: its `sim up` was interrupted, or is still building it".into(),
        None => "it was built by an older vifgate, which recorded nothing to tell".to_string(),
        Some(_) => match &st.source {
            Some(src) if st.plan.topology != p.topology => format!(
                "it was built from another topology (`{}`, {})",
                st.plan.topology,
                src.display()
            ),
            _ => format!(
                "{} was edited since, or other --ports were given, or another vifgate built it",
                file.display()
            ),
        },
    };
    let ports = p
        .tcp_ports
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let ports = if ports == DEFAULT_PORTS {
        String::new()
    } else {
        format!(" --ports {ports}")
    };
    bail!(
        "lab `{lab}` is out of date for {}: {why}; rebuild it with `vifgate sim down {lab} && vifgate sim up {} --lab {lab}{ports}`, or run `sim test` without --reuse",
        file.display(),
        file.display()
    )
}

/// Reads and checks a topology file and plans its lab (named `lab`, or
/// after the topology) with `ports` (the ones given, else the
/// default); also the file's text, for the gateways' policy.
fn load_plan(
    file: &Path,
    lab: Option<String>,
    ports: &Ports,
) -> Result<(topology::Loaded, String, plan::Plan)> {
    let (l, text, lab) = load_lab(file, lab)?;
    let p = plan::plan(&l.topology, &lab, &ports.or_default())?;
    Ok((l, text, p))
}

/// Reads and checks a topology file; also its text and the lab's name
/// (`lab`, or after the topology).
fn load_lab(file: &Path, lab: Option<String>) -> Result<(topology::Loaded, String, String)> {
    let (l, text) = load(file)?;
    let lab = lab.unwrap_or_else(|| layout::default_lab_name(&l.topology.name));
    Ok((l, text, lab))
}

/// Prints a plan: JSON (the plan itself) or per namespace for humans.
fn print_plan(p: &plan::Plan, json: bool) -> Result<ExitCode> {
    if json {
        println!("{}", serde_json::to_string_pretty(p)?);
    } else {
        print!("{}", sim::plan::view::render(p));
    }
    Ok(ExitCode::SUCCESS)
}

fn the_lab(lab: Option<String>) -> Result<String> {
    if let Some(l) = lab {
        return Ok(l);
    }
    let labs = apply::state::labs();
    match labs.as_slice() {
        [one] => Ok(one.clone()),
        [] => bail!("no lab is up"),
        _ => bail!("several labs are up ({}): name one", labs.join(", ")),
    }
}

/// Runs a `sim` subcommand.
pub fn run(cmd: SimCommand) -> Result<ExitCode> {
    match cmd {
        SimCommand::Up {
            lab,
            json,
            dry_run: true,
        }
        | SimCommand::Plan { lab, json } => {
            let (_, _, p) = load_plan(&lab.file, lab.lab, &lab.ports)?;
            print_plan(&p, json)
        }
        SimCommand::Up {
            lab,
            json,
            dry_run: false,
        } => {
            need_root()?;
            let file = lab.file;
            let (_, text, p) = load_plan(&file, lab.lab, &lab.ports)?;
            let rep = apply::up(&p, Some(&file), &text, &Programs::current()?)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&rep)?);
            } else {
                print!(
                    "lab `{}` up in {:.2} s: {}",
                    rep.lab, rep.seconds, rep.summary
                );
                for s in &rep.link_notes {
                    println!("  link {s}");
                }
                println!("  remove it with: vifgate sim down {}", rep.lab);
            }
            Ok(ExitCode::SUCCESS)
        }
        SimCommand::Apply {
            lab,
            dry_run,
            rebuild,
            json,
        } => sim_apply::run(sim_apply::ApplyArgs {
            lab,
            dry_run,
            rebuild,
            json,
        }),
        SimCommand::Down { lab } => {
            need_root()?;
            let lab = the_lab(lab)?;
            let rep = apply::down(&lab)?;
            if rep.existed {
                println!(
                    "lab `{lab}` removed: {} namespaces, {} processes",
                    rep.namespaces, rep.processes
                );
            } else {
                println!("no lab `{lab}`: nothing to remove");
            }
            Ok(ExitCode::SUCCESS)
        }
        SimCommand::Status { lab, json } => {
            let labs = match lab {
                Some(l) => vec![l],
                None => apply::state::labs(),
            };
            let statuses: Vec<sim::ops::status::LabStatus> =
                labs.iter().map(|l| sim::ops::status::status(l)).collect();
            if json {
                println!("{}", serde_json::to_string_pretty(&statuses)?);
            } else if statuses.is_empty() {
                println!("no lab is up");
            } else {
                for s in &statuses {
                    print!("{}", sim::ops::status::render(s));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        SimCommand::Load(args) => sim_load::run(args),
        SimCommand::Exec { lab, node, command } => {
            need_root()?;
            let code = sim::ops::lab::exec_in(&lab, &node, &command)?;
            Ok(ExitCode::from(code))
        }
        SimCommand::Link { lab, a, b, change } => {
            need_root()?;
            let mut changes = Vec::new();
            if change.down {
                changes.push(LinkChange::Down);
            }
            if change.up {
                changes.push(LinkChange::Up);
            }
            if change.delay.is_some()
                || change.jitter.is_some()
                || change.loss.is_some()
                || change.rate.is_some()
            {
                changes.push(LinkChange::Shape {
                    delay: change.delay,
                    jitter: change.jitter,
                    loss_percent: change.loss,
                    rate_bps: change.rate,
                });
            }
            for c in changes {
                let done = sim::ops::link::change(&lab, &a, &b, &c)?;
                println!("{done}");
            }
            Ok(ExitCode::SUCCESS)
        }
        SimCommand::Autoscale {
            lab,
            group,
            duration,
            json,
            follow,
        } => {
            need_root()?;
            autoscale::run(&lab, group.as_deref(), duration, json, follow)
        }
        SimCommand::Fail {
            lab,
            node,
            zone,
            restore,
        } => {
            need_root()?;
            use sim::ops::fail::{fail, restore as restore_all, FailWhat};
            if restore {
                let back = restore_all(&lab)?;
                if back.nodes.is_empty() {
                    println!("lab `{lab}`: no instance is failed");
                } else {
                    println!("lab `{lab}`: {} answer again", back.nodes.join(", "));
                }
                if let Some(line) = back.zones_line(&lab) {
                    println!("{line}");
                }
                return Ok(ExitCode::SUCCESS);
            }
            let what = match (node, zone) {
                (Some(n), _) => FailWhat::Node(n),
                (None, Some(z)) => FailWhat::Zone(z),
                (None, None) => bail!("name an instance, or give --zone or --restore"),
            };
            let failed = fail(&lab, &what)?;
            println!(
                "lab `{lab}`: {} failed (every packet in and out dropped; namespace and addresses kept): health checks fail after the unhealthy threshold; `vifgate sim fail {lab} --restore` or `sim apply` of the lab's file brings {} back",
                failed.join(", "),
                if failed.len() == 1 { "it" } else { "them" }
            );
            Ok(ExitCode::SUCCESS)
        }
        SimCommand::Test {
            file,
            lab,
            ports,
            max_cells,
            timeout_ms,
            parallel,
            keep,
            all,
            reuse,
            json,
            report: html,
        } => {
            if let Some(out) = &html {
                crate::output_file::check(out, &[&file])?;
            }
            need_root()?;
            let (l, text, lab) = load_lab(&file, lab)?;
            let reused = if reuse {
                Some(lab_state(&lab, || {
                    format!("no lab `{lab}` to reuse: `vifgate sim up` it first")
                })?)
            } else {
                None
            };
            // a lab reused is probed on the ports it was built with,
            // unless told others
            let ports = match &reused {
                Some(st) => ports.or_lab(st),
                None => ports.or_default(),
            };
            let p = plan::plan(&l.topology, &lab, &ports)?;
            if let Some(st) = &reused {
                refuse_stale_lab(st, &p, &text, &file)?;
            } else {
                let up = apply::up(&p, Some(&file), &text, &Programs::current()?)?;
                if !json {
                    eprint!("lab `{}` up in {:.2} s: {}", up.lab, up.seconds, up.summary);
                }
            }
            let keep = keep || reuse;
            let mut probe = compare::default_probe_options();
            probe.timeout = Duration::from_millis(timeout_ms);
            probe.max_in_flight = usize::try_from(parallel).unwrap_or(usize::MAX);
            let opts = TestOptions {
                services: plan::services(&l.topology, &ports),
                max_cells: usize::try_from(max_cells).unwrap_or(usize::MAX),
                probe,
            };
            let report = compare::run(&l.topology, &p, &opts);
            if !keep {
                apply::down(&lab)?;
            }
            if let Some(path) = &html {
                write_html_report(&report, &l.topology, path, &file)?;
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", compare::render(&report, all));
                if keep {
                    println!("lab `{lab}` left up: vifgate sim down {lab}");
                }
            }
            Ok(if report.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        SimCommand::Bgp { lab, json } => {
            need_root()?;
            let lab = the_lab(lab)?;
            let (_, l) = running_lab(&lab)?;
            let live = sim::bgp::live::read_lab(&lab, &l.topology)
                .with_context(|| format!("cannot read lab `{lab}`'s state directory"))?;
            for e in &live.unreadable {
                eprintln!("warning: cannot read BGP daemon {e}");
            }
            if live.daemons == 0 {
                eprintln!("lab `{lab}` runs no BGP daemon that could be read");
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&live.report)?);
            } else {
                print!("{}", live.report.render());
            }
            Ok(ExitCode::SUCCESS)
        }
        SimCommand::Flowlogs {
            lab,
            follow,
            interval,
            interval_ms,
            account_id,
            json,
            header,
            format,
            intervals,
        } => {
            need_root()?;
            let lab = the_lab(lab)?;
            let interval = interval_ms
                .map(|ms| Duration::from_millis(ms.max(100)))
                .unwrap_or(Duration::from_secs(interval));
            let intervals = match (follow, intervals) {
                (false, _) => Some(1),
                (true, n) => n,
            };
            let format = format.unwrap_or_default();
            let (st, l) = running_lab(&lab)?;
            if header {
                println!("{}", format.header());
            }
            crate::flowlogs_cmd::run(
                &l.topology,
                &st.plan,
                interval,
                intervals,
                &account_id,
                &format,
                json,
            )?;
            Ok(ExitCode::SUCCESS)
        }
        SimCommand::Agent { spec, ready } => {
            // read again on SIGHUP
            let read = || -> std::io::Result<sim::agent::AgentSpec> {
                let text = std::fs::read_to_string(&spec).map_err(|e| {
                    std::io::Error::new(e.kind(), format!("cannot read {}: {e}", spec.display()))
                })?;
                serde_json::from_str(&text).map_err(|e| {
                    std::io::Error::other(format!("{}: not an agent spec: {e}", spec.display()))
                })
            };
            sim::agent::serve_reloading(&read()?, &ready, read)?;
            Ok(ExitCode::SUCCESS)
        }
        SimCommand::Controller { lab } => {
            sim::scaling::service::serve(&lab, &apply::Programs::current()?)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// At most this many failed flows are drawn in `sim test`'s HTML page.
const MAX_TRACES_DRAWN: usize = 10;

/// Writes `sim test`'s HTML page, with the topology drawn by Graphviz when
/// it is installed (a note in its place otherwise).
fn write_html_report(
    report: &compare::Report,
    t: &topology::Topology,
    path: &Path,
    topology_file: &Path,
) -> Result<()> {
    let svg = |dot: &str| match crate::topology_cmd::render_svg(dot) {
        Ok(svg) => Some(String::from_utf8_lossy(&svg).into_owned()),
        Err(e) => {
            tracing::warn!("the report goes without a drawing: {e:#}");
            None
        }
    };
    let graph = svg(&topology::graph::to_dot(t));
    let traces: Vec<Drawing> = match graph {
        Some(_) => report_html::failed_flows(t, report, MAX_TRACES_DRAWN)
            .into_iter()
            .filter_map(|(title, dot)| {
                Some(Drawing {
                    title,
                    svg: svg(&dot)?,
                })
            })
            .collect(),
        None => Vec::new(),
    };
    let mut html = report_html::render(report, graph.as_deref(), &traces);
    // the plot of the last `sim load` in the lab, if one ran
    let plot = layout::state_dir(&report.lab).join(sim::load::LAB_PLOT_FILE);
    if let Ok(svg) = std::fs::read_to_string(&plot) {
        html = report_html::with_load_plot(&html, &svg);
    }
    crate::output_file::write(path, html.as_bytes(), &[topology_file])
}
