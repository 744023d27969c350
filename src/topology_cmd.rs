//! `vifgate topology ...`: check, reach, bgp, matrix, scale, graph.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command as Process, ExitCode, Stdio};

use anyhow::{bail, Context as _, Result};
use clap::{Subcommand, ValueEnum};
use topology::analysis::{self, Reach, RouteChoice, Service, Target, Verdict};
use topology::{Loaded, Topology};

/// Subcommands of `vifgate topology`.
#[derive(Subcommand)]
pub enum TopologyCommand {
    /// Validate a topology, check its [[expect]] entries, list shadowed rules.
    Check {
        /// Topology file (TOML).
        file: PathBuf,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Can one node reach another? Verdict and hop-by-hop trace, both ways.
    Reach {
        /// Topology file (TOML).
        file: PathBuf,
        /// Source node.
        #[arg(long)]
        from: String,
        /// Destination node or IPv4 address.
        #[arg(long)]
        to: String,
        /// Protocol: tcp, udp, icmp or a number.
        #[arg(long, default_value = "tcp")]
        proto: String,
        /// Destination port (tcp/udp).
        #[arg(long, value_parser = crate::sim_cmd::values::parse_port)]
        port: Option<u16>,
        /// Also list, at each hop where BGP chose the route (the VGW, an
        /// office node), every candidate and the step each loser lost on.
        #[arg(long)]
        explain_routes: bool,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// BGP: each session's state and timers, and per side the received
    /// routes with the best path and what it advertises (`show ip bgp`).
    Bgp {
        /// Topology file (TOML).
        file: PathBuf,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// The host × host reachability matrix.
    Matrix {
        /// Topology file (TOML).
        file: PathBuf,
        /// Protocol: tcp, udp or icmp.
        #[arg(long, default_value = "tcp")]
        proto: String,
        /// Ports, comma-separated (tcp/udp).
        #[arg(long, value_delimiter = ',', default_value = crate::sim_cmd::DEFAULT_PORTS, value_parser = crate::sim_cmd::values::parse_port)]
        ports: Vec<u16>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Import CloudFormation templates (YAML or JSON) as one topology file:
    /// one stack, or several whose exports resolve each other's
    /// Fn::ImportValue.
    ImportCfn {
        /// The templates, each TEMPLATE or NAME=TEMPLATE (the stack's name,
        /// AWS::StackName; default the file stem).
        #[arg(required = true, value_name = "[NAME=]TEMPLATE")]
        templates: Vec<String>,
        /// A template parameter, KEY=VALUE, or STACK.KEY=VALUE for one
        /// stack of several (KEY=VALUE then goes to every template that
        /// declares KEY); repeat for several.
        #[arg(long = "param", value_name = "[STACK.]KEY=VALUE")]
        params: Vec<String>,
        /// The value of an export of a stack not imported here, for its
        /// Fn::ImportValue (repeat for several).
        #[arg(long = "import", value_name = "NAME=VALUE")]
        imports: Vec<String>,
        /// Region for AWS::Region and Fn::GetAZs (default us-east-1).
        #[arg(long)]
        region: Option<String>,
        /// Zones for Fn::GetAZs, comma-separated (default: the region's).
        #[arg(long, value_name = "A,B,C")]
        azs: Option<String>,
        /// An office file laid over the import: sites, VIFs, VPN, expectations.
        #[arg(long, value_name = "OFFICE.toml")]
        merge: Option<PathBuf>,
        /// Write to a file instead of standard output.
        #[arg(short, long, value_name = "OUT.toml")]
        output: Option<PathBuf>,
    },
    /// Predict what an Auto Scaling group does under an offered load,
    /// minute by minute: the load, the metrics, the alarms, the capacity
    /// and each scaling activity.
    Scale {
        /// Topology file (TOML).
        file: PathBuf,
        /// Total requests a minute offered to the group over time,
        /// piecewise constant: TIME:REQUESTS,... like 0m:2000,10m:7040,40m:2000.
        #[arg(long, value_name = "PROFILE")]
        load: String,
        /// The group (default: the one with scaling policies).
        #[arg(long)]
        group: Option<String>,
        /// CPU time one request costs, in milliseconds: turns the load into
        /// ASGAverageCPUUtilization (missing without it).
        #[arg(long, value_name = "MS")]
        cpu_per_request: Option<f64>,
        /// Minutes to play (default: the profile's last point + 30).
        #[arg(long)]
        minutes: Option<u64>,
        /// UTC time of minute 0, for scheduled actions (default
        /// 1970-01-01T00:00).
        #[arg(long, value_name = "YYYY-MM-DDTHH:MM")]
        start: Option<String>,
        /// One JSON object a minute (JSON lines).
        #[arg(long)]
        json: bool,
    },
    /// Draw the topology with Graphviz.
    Graph {
        /// Topology file (TOML).
        file: PathBuf,
        /// Output format; svg needs Graphviz's `dot`.
        #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
        format: GraphFormat,
        /// Write to a file instead of standard output.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Draw a flow's request and reply paths (as `reach` traces them):
        /// source node, destination node or IPv4 address.
        #[arg(long, num_args = 2, value_names = ["FROM", "TO"])]
        trace: Option<Vec<String>>,
        /// Protocol of the traced flow: tcp, udp, icmp or a number.
        #[arg(long, default_value = "tcp", requires = "trace")]
        proto: String,
        /// Destination port of the traced flow (tcp/udp).
        #[arg(long, requires = "trace", value_parser = crate::sim_cmd::values::parse_port)]
        port: Option<u16>,
    },
}

/// Graph output formats.
#[derive(Clone, Copy, ValueEnum)]
pub enum GraphFormat {
    /// Graphviz source.
    Dot,
    /// Rendered by `dot -Tsvg`.
    Svg,
}

impl TopologyCommand {
    /// Whether the command prints JSON (`--json`).
    pub fn json(&self) -> bool {
        match self {
            TopologyCommand::Check { json, .. }
            | TopologyCommand::Reach { json, .. }
            | TopologyCommand::Bgp { json, .. }
            | TopologyCommand::Matrix { json, .. }
            | TopologyCommand::Scale { json, .. } => *json,
            TopologyCommand::ImportCfn { .. } | TopologyCommand::Graph { .. } => false,
        }
    }
}

/// Loads a file, printing its warnings on standard error; `None` when it
/// has errors, which are printed for humans on standard error, or with
/// `json` as one object on standard output: `error` (one line) and
/// `diagnostics` (as `check --json` lists them).
fn load(file: &Path, json: bool) -> Option<Loaded> {
    match topology::load(file) {
        Ok(l) => {
            for w in &l.warnings.0 {
                eprint!("{w}");
            }
            Some(l)
        }
        Err(diags) => {
            if json {
                println!("{}", json_errors(file, &diags));
            } else {
                eprint!("{diags}");
            }
            None
        }
    }
}

/// A topology file that does not load, as an error a command returns: the
/// binary prints its diagnostics (or, with `--json`, [`json_errors`]).
#[derive(Debug)]
pub struct FileErrors {
    /// The file.
    pub file: PathBuf,
    /// Its errors and warnings.
    pub diagnostics: topology::Diagnostics,
}

impl std::fmt::Display for FileErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} has errors", self.file.display())
    }
}

impl std::error::Error for FileErrors {}

/// The JSON object of a file that does not load.
pub fn json_errors(file: &Path, diags: &topology::Diagnostics) -> String {
    let v = serde_json::json!({
        "valid": false,
        "error": format!("{} has errors", file.display()),
        "diagnostics": diags.0,
    });
    serde_json::to_string_pretty(&v).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// Runs a `topology` subcommand.
pub fn run(cmd: TopologyCommand) -> Result<ExitCode> {
    match cmd {
        TopologyCommand::Check { file, json } => check(&file, json),
        TopologyCommand::Reach {
            file,
            from,
            to,
            proto,
            port,
            explain_routes,
            json,
        } => {
            let Some(l) = load(&file, json) else {
                return Ok(ExitCode::FAILURE);
            };
            let t = &l.topology;
            let r = analysis::reach(t, node(t, &from)?, target(t, &to)?, service(&proto, port)?);
            let choices = if explain_routes {
                analysis::route_choices(t, &r)
            } else {
                Vec::new()
            };
            if json {
                let mut v = serde_json::to_value(&r)?;
                if explain_routes {
                    v["route_choices"] = serde_json::to_value(&choices)?;
                }
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                print!("{}", render_reach(&r));
                if explain_routes {
                    print!("{}", render_route_choices(&choices));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        TopologyCommand::Bgp { file, json } => {
            let Some(l) = load(&file, json) else {
                return Ok(ExitCode::FAILURE);
            };
            let report = topology::bgp::analyse(&l.topology);
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", report.render());
            }
            Ok(ExitCode::SUCCESS)
        }
        TopologyCommand::Matrix {
            file,
            proto,
            ports,
            json,
        } => {
            let Some(l) = load(&file, json) else {
                return Ok(ExitCode::FAILURE);
            };
            let services: Vec<Service> = match proto.as_str() {
                "icmp" => vec![Service::IcmpEcho],
                _ => ports
                    .iter()
                    .map(|&p| Service::new(&proto, Some(p)).map_err(anyhow::Error::msg))
                    .collect::<Result<_>>()?,
            };
            let m = analysis::matrix(&l.topology, &services);
            if json {
                println!("{}", serde_json::to_string_pretty(&m)?);
            } else {
                print!("{}", m.render());
            }
            Ok(ExitCode::SUCCESS)
        }
        TopologyCommand::Scale {
            file,
            load: profile,
            group,
            cpu_per_request,
            minutes,
            start,
            json,
        } => {
            let Some(l) = load(&file, json) else {
                return Ok(ExitCode::FAILURE);
            };
            crate::scale_cmd::scale(
                &crate::scale_cmd::ScaleRequest {
                    load: &profile,
                    group: group.as_deref(),
                    cpu_per_request,
                    minutes,
                    start: start.as_deref(),
                    json,
                },
                &l.topology,
            )
        }
        TopologyCommand::ImportCfn {
            templates,
            params,
            imports,
            region,
            azs,
            merge,
            output,
        } => crate::import_cmd::import_cfn(&crate::import_cmd::ImportRequest {
            templates,
            params,
            imports,
            region,
            azs,
            merge,
            output,
        }),
        TopologyCommand::Graph {
            file,
            format,
            output,
            trace,
            proto,
            port,
        } => {
            if let Some(out) = &output {
                crate::output_file::check(out, &[&file])?;
            }
            let Some(l) = load(&file, false) else {
                return Ok(ExitCode::FAILURE);
            };
            let t = &l.topology;
            let dot = match trace.as_deref() {
                Some([from, to]) => {
                    let r =
                        analysis::reach(t, node(t, from)?, target(t, to)?, service(&proto, port)?);
                    topology::graph::to_dot_with_trace(t, &r)
                }
                _ => topology::graph::to_dot(t),
            };
            let bytes = match format {
                GraphFormat::Dot => dot.into_bytes(),
                GraphFormat::Svg => render_svg(&dot)?,
            };
            match output {
                Some(p) => crate::output_file::write(&p, &bytes, &[&file])?,
                None => std::io::stdout().write_all(&bytes)?,
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn node(t: &Topology, name: &str) -> Result<usize> {
    t.node_by_name(name).ok_or_else(|| {
        let names: Vec<&str> = t.nodes.iter().map(|n| n.name.as_str()).collect();
        let hint = topology::diag::did_you_mean(name, names.iter().copied())
            .map(|s| format!(" (did you mean `{s}`?)"))
            .unwrap_or_default();
        anyhow::anyhow!("unknown node `{name}`{hint}; nodes: {}", names.join(", "))
    })
}

/// A destination: an IPv4 address, or a node's name.
fn target(t: &Topology, to: &str) -> Result<Target> {
    Ok(match to.parse() {
        Ok(a) => Target::Addr(a),
        Err(_) => Target::Node(node(t, to)?),
    })
}

fn service(proto: &str, port: Option<u16>) -> Result<Service> {
    Service::new(proto, port).map_err(anyhow::Error::msg)
}

/// Renders DOT as SVG with Graphviz's `dot`.
pub fn render_svg(dot: &str) -> Result<Vec<u8>> {
    let mut child = match Process::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(_) => bail!(
            "svg needs Graphviz's `dot`, which is not installed (apt-get install graphviz); `--format dot` works without it"
        ),
    };
    child
        .stdin
        .take()
        .context("dot has no stdin")?
        .write_all(dot.as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!("dot failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(out.stdout)
}

/// The human form of a reach result.
pub fn render_reach(r: &Reach) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    let _ = writeln!(o, "{} -> {} {}: {}", r.from, r.to, r.service, r.verdict);
    if let Some(why) = &r.reason {
        let _ = writeln!(o, "  {why}");
    }
    if r.paths.len() > 1 {
        let _ = writeln!(o, "\npaths:");
        for p in &r.paths {
            let _ = write!(o, "  {} -> {}: {}", p.source, p.destination, p.verdict);
            if let Some(why) = &p.reason {
                let _ = write!(o, " ({why})");
            }
            o.push('\n');
        }
    }
    let which = if r.paths.len() > 1 {
        " (deciding path)"
    } else {
        ""
    };
    for (title, hops) in [("request", &r.hops), ("reply", &r.reply_hops)] {
        if hops.is_empty() {
            continue;
        }
        let _ = writeln!(o, "\n{title}{which}:");
        for h in hops {
            match &h.interface {
                Some(i) => {
                    let _ = writeln!(o, "  {} [{i}]", h.node);
                }
                None => {
                    let _ = writeln!(o, "  {}", h.node);
                }
            }
            for s in &h.steps {
                let _ = writeln!(o, "      {s}");
            }
        }
    }
    o
}

/// The human form of the BGP choices behind a trace.
pub fn render_route_choices(choices: &[RouteChoice]) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    if choices.is_empty() {
        let _ = writeln!(o, "\nroutes considered: no BGP choice on this path");
        return o;
    }
    let _ = writeln!(o, "\nroutes considered:");
    for c in choices {
        let _ = writeln!(o, "  {} at {} for {}:", c.direction, c.speaker, c.prefix);
        for r in &c.candidates {
            let mark = if r.best { "*>" } else { "  " };
            let _ = write!(o, "    {mark} {}", topology::bgp::describe(r));
            match &r.lost_on {
                Some(why) => {
                    let _ = writeln!(o, ": lost on {why}");
                }
                None => o.push('\n'),
            }
        }
    }
    o
}

fn check(file: &Path, json: bool) -> Result<ExitCode> {
    let loaded = match topology::load(file) {
        Ok(l) => l,
        Err(diags) => {
            if json {
                println!("{}", json_errors(file, &diags));
            } else {
                eprint!("{diags}");
            }
            return Ok(ExitCode::FAILURE);
        }
    };
    let t = &loaded.topology;
    let results = analysis::check_expectations(t);
    let shadowed = analysis::shadowed_rules(t);
    let failed: Vec<_> = results.iter().filter(|r| !r.holds).collect();
    if json {
        let v = serde_json::json!({
            "valid": true,
            "diagnostics": loaded.warnings.0,
            "expectations": results.iter().map(|r| serde_json::json!({
                "line": r.line,
                "from": r.reach.from,
                "to": r.reach.to,
                "service": r.reach.service,
                "expected": r.expected,
                "actual": r.actual,
                "holds": r.holds,
                "reason": r.reach.reason,
            })).collect::<Vec<_>>(),
            "shadowed_rules": shadowed,
            "failures": failed.len(),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        for w in &loaded.warnings.0 {
            eprint!("{w}");
        }
        let nodes = t.nodes.len();
        let subnets = t.subnets.len();
        let groups = t.security_groups.len();
        println!(
            "{}: valid ({nodes} nodes, {subnets} subnets, {groups} security groups, {} VIF(s))",
            file.display(),
            t.vifs.len()
        );
        println!("\nexpectations:");
        for r in &results {
            let mark = if r.holds { "ok  " } else { "FAIL" };
            print!(
                "  {mark} line {:>3}: {} -> {} {} expected {}",
                r.line, r.reach.from, r.reach.to, r.reach.service, r.expected
            );
            if r.holds {
                println!();
            } else {
                println!(", got {}", r.actual);
                if let Some(why) = &r.reach.reason {
                    println!("         {why}");
                }
            }
        }
        if shadowed.is_empty() {
            println!("\nshadowed rules: none");
        } else {
            println!("\nshadowed rules (can never decide):");
            for s in &shadowed {
                println!(
                    "  {} {} {} rule {}: {}",
                    s.kind, s.owner, s.direction, s.rule, s.why
                );
            }
        }
        let accepted = results
            .iter()
            .filter(|r| r.actual == Verdict::Accepted)
            .count();
        println!(
            "\n{} of {} expectations hold ({} accepted flows)",
            results.len() - failed.len(),
            results.len(),
            accepted
        );
    }
    Ok(if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
