//! `vifgate sim load LAB --to alb[:PORT]`: an open-loop HTTP load on a
//! lab's load balancer from one of its nodes (`sim::load`), a progress
//! line a second, a summary, a timeline and a plot.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::SocketAddrV4;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use clap::Args;
use sim::layout;
use sim::load::client::{self, RunOptions};
use sim::load::profile::{self, Profile};
use sim::load::schedule::Schedule;
use sim::load::{plot, LAB_PLOT_FILE, LAB_TIMELINE_FILE};
use topology::model::NodeKind;

use super::values::parse_lab_name;

/// How long a run with `--rate` and no `--duration` lasts.
const DEFAULT_DURATION: Duration = Duration::from_secs(10);

/// How long a run with `--profile` and no `--duration` lasts after the
/// profile's last point.
const AFTER_LAST_POINT: Duration = Duration::from_secs(10);

/// The longest run: a day.
const MAX_DURATION: Duration = Duration::from_secs(86_400);

/// The most clients.
const MAX_CLIENTS: u64 = 10_000;

/// What `sim load` was asked.
#[derive(Args)]
pub struct LoadArgs {
    /// Lab name.
    #[arg(value_parser = parse_lab_name)]
    lab: String,
    /// The load balancer and its listener's port: `alb` (its first
    /// listener) or `alb:443`.
    #[arg(long)]
    to: String,
    /// A constant rate, requests a second (`100/s`).
    #[arg(long, value_parser = profile::parse_rate, conflicts_with = "profile", required_unless_present = "profile")]
    rate: Option<f64>,
    /// A rate over time, piecewise constant: `TIME:RATE,...` from `0s`
    /// (`"0s:100,60s:352,120s:100"`).
    #[arg(long, value_parser = parse_profile)]
    profile: Option<Profile>,
    /// Clients, each with its own connections and cookies; requests go to
    /// them in turn.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=MAX_CLIENTS))]
    clients: u64,
    /// Requests each client sends before it starts a new session: a new
    /// visitor, with no cookie and new connections, whom the load
    /// balancer places anew [default: one session for the whole run].
    #[arg(long, value_name = "REQUESTS", value_parser = clap::value_parser!(u64).range(1..))]
    session: Option<u64>,
    /// The most connections each client keeps open: a request due while
    /// all are busy waits for one, its wait counted in its latency.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=1000))]
    connections: u64,
    /// How long to send (`30s`, `5m`) [default: 10s with --rate, 10s
    /// after the profile's last point with --profile].
    #[arg(long, value_parser = parse_run_duration)]
    duration: Option<Duration>,
    /// How long after it was due a request may be answered before it
    /// counts as a timeout (`2s`, `500ms`; above 0, at most 10s).
    #[arg(long, default_value = "5s", value_parser = parse_timeout)]
    timeout: Duration,
    /// The node the requests leave from [default: the internet].
    #[arg(long)]
    from: Option<String>,
    /// The request path.
    #[arg(long, default_value = "/")]
    path: String,
    /// Also write the timeline here: JSON lines, one record a second.
    #[arg(long, value_name = "FILE")]
    timeline: Option<PathBuf>,
    /// Also write the plot (SVG) here: load, capacity and p99 latency.
    #[arg(long, value_name = "FILE.svg")]
    svg: Option<PathBuf>,
    /// Print JSON lines: one record a second, then `{"summary": ...}`.
    #[arg(long)]
    json: bool,
}

impl LoadArgs {
    /// Whether it prints JSON.
    pub fn json(&self) -> bool {
        self.json
    }
}

fn parse_profile(s: &str) -> Result<Profile, String> {
    Profile::parse(s).map_err(|e| e.to_string())
}

fn parse_run_duration(s: &str) -> Result<Duration, String> {
    match topology::units::parse_long_duration(s) {
        Ok(d) if !d.is_zero() && d <= MAX_DURATION => Ok(d),
        Ok(_) => Err(format!("`{s}`: from 1s to a day")),
        Err(_) => Err(format!("`{s}` is not a duration like `30s` or `5m`")),
    }
}

/// A request's timeout: above 0 (a request answered at once is late
/// after 0), at most 10 s.
fn parse_timeout(s: &str) -> Result<Duration, String> {
    match super::values::parse_duration(s) {
        Ok(d) if !d.is_zero() => Ok(d),
        Err(e) if e.contains("is not a duration") => Err(e),
        _ => Err(format!("`{s}`: above 0, at most 10s")),
    }
}

/// Where the load goes: the load balancer's node, the listener's port.
fn parse_to(to: &str) -> Result<(String, Option<u16>)> {
    match to.rsplit_once(':') {
        None => Ok((to.to_string(), None)),
        Some((node, port)) => {
            let port =
                super::values::parse_port(port).map_err(|e| anyhow::anyhow!("--to `{to}`: {e}"))?;
            Ok((node.to_string(), Some(port)))
        }
    }
}

/// Runs `sim load`.
pub fn run(a: LoadArgs) -> Result<ExitCode> {
    super::need_root()?;
    let (node, port) = parse_to(&a.to)?;
    for out in [&a.timeline, &a.svg].into_iter().flatten() {
        crate::output_file::check(out, &[])?;
    }
    let (st, l) = super::running_lab(&a.lab)?;
    let t = &l.topology;
    let lab = &a.lab;
    let Some(id) = t.node_by_name(&node) else {
        bail!("lab `{lab}` has no node `{node}`");
    };
    let NodeKind::LoadBalancer { listeners } = &t.nodes[id].kind else {
        bail!("`{node}` is not a load balancer: give --to a load balancer of lab `{lab}`");
    };
    let ports: Vec<u16> = listeners.iter().map(|l| l.port).collect();
    let port = match port {
        None => *ports
            .first()
            .with_context(|| format!("`{node}` has no listener"))?,
        Some(p) if ports.contains(&p) => p,
        Some(p) => bail!(
            "`{node}` has no listener on {p}: its listeners are on {}",
            ports
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let from = match &a.from {
        Some(f) => f.clone(),
        None => t
            .nodes
            .iter()
            .find(|n| matches!(n.kind, NodeKind::Internet))
            .map(|n| n.name.clone())
            .with_context(|| format!("lab `{lab}` has no internet node: give --from"))?,
    };
    let ns = sim::ops::lab::node_ns(&st.plan, &from)?;
    let from_internet = t
        .node_by_name(&from)
        .is_some_and(|f| matches!(t.nodes[f].kind, NodeKind::Internet));
    let lb = &t.nodes[id];
    let ip = if from_internet {
        lb.interfaces
            .iter()
            .find_map(|i| i.public_ip)
            .with_context(|| format!("`{node}` has no public address: the internet cannot reach it; give --from a node inside"))?
    } else {
        lb.interfaces
            .first()
            .map(|i| i.ip)
            .with_context(|| format!("`{node}` has no address"))?
    };
    let stats = st.plan.haproxy.iter().any(|h| h.node == node).then(|| {
        (
            layout::haproxy_socket(&layout::state_dir(lab), &node),
            sim::render::haproxy::backend_name(port),
        )
    });
    let (profile, duration) = match (&a.profile, a.rate) {
        (Some(p), _) => (
            p.clone(),
            a.duration.unwrap_or(p.last_point() + AFTER_LAST_POINT),
        ),
        (None, Some(r)) => (Profile::constant(r), a.duration.unwrap_or(DEFAULT_DURATION)),
        (None, None) => bail!("give --rate or --profile"),
    };
    sim::load::check_request_path(&a.path).with_context(|| "--path".to_string())?;
    let opts = RunOptions {
        ns,
        addr: SocketAddrV4::new(ip, port),
        path: a.path.clone(),
        schedule: Schedule::new(profile, duration),
        clients: a.clients as usize,
        session: a.session,
        connections: a.connections as usize,
        timeout: a.timeout,
        stats,
    };
    let json = a.json;
    if !json {
        println!(
            "sim load {lab}: {node}:{port} at {ip} from {from}, {} client(s), {:.0} s (Ctrl-C ends it with a summary)",
            a.clients,
            duration.as_secs_f64()
        );
    }
    let result = client::run(opts, move |second| {
        let line = if json {
            serde_json::to_string(second).unwrap_or_default()
        } else {
            second.to_string()
        };
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    })?;
    let mut timeline = String::new();
    for s in &result.seconds {
        let _ = writeln!(timeline, "{}", serde_json::to_string(s)?);
    }
    let title = format!("sim load {lab}: {node}:{port} from {from}");
    let svg = plot::svg(&title, &result.seconds);
    // kept with the lab for `sim test --reuse --report`
    let dir = layout::state_dir(lab);
    for (file, text) in [(LAB_TIMELINE_FILE, &timeline), (LAB_PLOT_FILE, &svg)] {
        if let Err(e) = std::fs::write(dir.join(file), text) {
            tracing::warn!("cannot keep {file} with lab `{lab}`: {e}");
        }
    }
    if let Some(f) = &a.timeline {
        crate::output_file::write(f, timeline.as_bytes(), &[])?;
    }
    if let Some(f) = &a.svg {
        crate::output_file::write(f, svg.as_bytes(), &[])?;
    }
    if json {
        println!("{}", serde_json::json!({ "summary": result.summary }));
    } else {
        print!("{}", result.summary);
        if let Some(f) = &a.timeline {
            println!("timeline: {}", f.display());
        }
        if let Some(f) = &a.svg {
            println!("plot: {}", f.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}
