//! `vifgate bench sim`: `sim up` + `sim down` of the example and of a
//! generated topology, beside a plain ip/nft shell script building the
//! same namespaces, links, addresses, routes, rules, sysctls and firewalls;
//! an untimed run first checks (with [`sim::ops::inspect::LabDigest`]) that the
//! two build the same thing.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Result;
use sim::ops::inspect::LabDigest;
use topology::synth::{synth_toml, SynthSpec};

use super::median;

/// TCP ports of the lab's listeners (`sim up`'s default).
pub(super) const SIM_PORTS: [u16; 4] = [22, 80, 443, 3306];

/// A topology the simulator benchmark builds.
struct SimFigure {
    name: String,
    topology: topology::Topology,
    text: String,
    source: Option<PathBuf>,
}

/// Times of one run: up returned, up with every link running, down.
#[derive(Clone, Copy)]
struct RunTimes {
    up: Duration,
    running: Duration,
    down: Duration,
}

/// The runs of one way of building a lab.
#[derive(Default)]
struct UpDown(Vec<RunTimes>);

impl UpDown {
    /// Medians of up, of down, and of up + down (per run); `running`: up
    /// counted until every link runs.
    fn medians(&self, running: bool) -> [Duration; 3] {
        let up = |r: &RunTimes| if running { r.running } else { r.up };
        [
            median(self.0.iter().map(up).collect()),
            median(self.0.iter().map(|r| r.down).collect()),
            median(self.0.iter().map(|r| up(r) + r.down).collect()),
        ]
    }
}

/// Removes a lab when dropped, whatever happened before.
pub(super) struct LabCleanup(pub(super) String);

impl Drop for LabCleanup {
    fn drop(&mut self) {
        if let Err(e) = sim::apply::down(&self.0) {
            eprintln!("warning: removing lab {}: {e}", self.0);
        }
    }
}

/// The plan within the shell script's scope: no gateways, tunnel routes,
/// shaping, listeners, started services, HAProxy, BIRD or FRR.
fn script_scope(p: &sim::plan::Plan) -> sim::plan::Plan {
    let mut p = p.clone();
    p.gateways.clear();
    p.tunnel_routes.clear();
    p.shaping.clear();
    p.listeners.clear();
    p.starts.clear();
    p.haproxy.clear();
    p.bird = Default::default();
    p.frr.clear();
    p
}

/// Busy share of every CPU over `window`, from /proc/stat.
fn cpu_busy(window: Duration) -> Option<f64> {
    let read = || -> Option<(u64, u64)> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let cpu = stat.lines().next()?;
        let v: Vec<u64> = cpu
            .split_whitespace()
            .skip(1)
            .filter_map(|x| x.parse().ok())
            .collect();
        // niced work (other users' builds) counts as idle: the kernel's
        // namespace teardown runs at normal priority
        let idle = v.get(3)? + v.get(4).copied().unwrap_or(0) + v.get(1)?;
        Some((v.iter().sum(), idle))
    };
    let (t0, i0) = read()?;
    std::thread::sleep(window);
    let (t1, i1) = read()?;
    let total = t1.saturating_sub(t0);
    (total > 0).then(|| 1.0 - i1.saturating_sub(i0) as f64 / total as f64)
}

/// Waits (at most 20 s) for the kernel to finish tearing down the
/// namespaces of the previous run (it does so after `ip netns del` has
/// returned) so that one run's cleanup is not billed to the next.
fn settle() {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        match cpu_busy(Duration::from_millis(200)) {
            Some(b) if b > 0.15 => continue,
            _ => break,
        }
    }
}

/// `sim up` then `sim down` with vifgate, in process; `check` runs
/// (untimed) while the lab is up.
fn vifgate_run(
    plan: &sim::plan::Plan,
    fig: &SimFigure,
    programs: &sim::apply::Programs,
    check: &mut dyn FnMut() -> Result<()>,
) -> Result<RunTimes> {
    use anyhow::Context as _;
    let _cleanup = LabCleanup(plan.lab.clone());
    let start = Instant::now();
    sim::apply::up(plan, fig.source.as_deref(), &fig.text, programs)
        .with_context(|| format!("vifgate: lab {} of {}", plan.lab, fig.name))?;
    // apply::up returns once every link runs
    let up = start.elapsed();
    check()?;
    let start = Instant::now();
    sim::apply::down(&plan.lab).with_context(|| format!("vifgate: remove lab {}", plan.lab))?;
    Ok(RunTimes {
        up,
        running: up,
        down: start.elapsed(),
    })
}

fn bash(script: &std::path::Path) -> Result<()> {
    let out = std::process::Command::new("bash")
        .arg(script)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .output()?;
    if !out.status.success() {
        anyhow::bail!(
            "bash {} failed ({}): {}",
            script.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// The plan's up and down scripts run with bash.
fn script_run(
    plan: &sim::plan::Plan,
    dir: &std::path::Path,
    check: &mut dyn FnMut() -> Result<()>,
) -> Result<RunTimes> {
    let _cleanup = LabCleanup(plan.lab.clone());
    let (up, down) = sim::ops::script::shell_script(plan);
    let up_path = dir.join(format!("{}-up.sh", plan.lab));
    let down_path = dir.join(format!("{}-down.sh", plan.lab));
    std::fs::write(&up_path, up)?;
    std::fs::write(&down_path, down)?;
    let start = Instant::now();
    bash(&up_path)?;
    let up = start.elapsed();
    if !sim::ops::script::wait_links_running(plan, Duration::from_secs(5))? {
        eprintln!("warning: lab {}: links not all running after 5 s", plan.lab);
    }
    let running = start.elapsed();
    check()?;
    let start = Instant::now();
    bash(&down_path)?;
    Ok(RunTimes {
        up,
        running,
        down: start.elapsed(),
    })
}

fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

/// `vifgate bench sim`.
pub(super) fn run(
    example: &std::path::Path,
    hosts: usize,
    runs: usize,
    verify: bool,
) -> Result<ExitCode> {
    // SAFETY: no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        anyhow::bail!("`vifgate bench sim` needs root (network namespaces)");
    }
    let runs = runs.max(1);
    let programs = sim::apply::Programs {
        vifgate: std::env::current_exe()?,
    };
    let pid = std::process::id();
    let prefix = format!("bs{pid}-");
    let dir = std::env::temp_dir().join(format!("vifgate-bench-sim-{pid}"));
    std::fs::create_dir_all(&dir)?;

    let text = std::fs::read_to_string(example)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", example.display()))?;
    let ex = topology::parse(example, text.clone()).map_err(|d| anyhow::anyhow!("{d}"))?;
    let synth = synth_toml(SynthSpec {
        hosts,
        security_groups: 20,
        rules_per_group: 10,
        seed: 42,
    });
    let gen =
        topology::parse("synthetic.toml", synth.clone()).map_err(|d| anyhow::anyhow!("{d}"))?;
    let figures = [
        SimFigure {
            name: format!("example {}", example.display()),
            topology: ex.topology,
            text,
            source: Some(example.to_path_buf()),
        },
        SimFigure {
            name: format!("generated, {hosts} hosts"),
            topology: gen.topology,
            text: synth,
            source: None,
        },
    ];

    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    println!(
        "sim benchmark: median of {runs} runs; {cores} core(s); lab names {prefix}N; scripts in {}",
        dir.display()
    );
    println!(
        "same scope (vifgate same-scope and the shell script): {}",
        sim::ops::script::SCOPE
    );

    let mut counter = 0usize;
    let mut lab = || {
        counter += 1;
        format!("{prefix}{counter}")
    };
    let result = (|| -> Result<Vec<(String, [UpDown; 3])>> {
        let mut rows = Vec::new();
        for (k, fig) in figures.iter().enumerate() {
            let probe = sim::plan::plan(&fig.topology, &format!("{prefix}0"), &SIM_PORTS)?;
            let plan_t = {
                let start = Instant::now();
                let _ = sim::plan::plan(&fig.topology, &format!("{prefix}0"), &SIM_PORTS)?;
                start.elapsed()
            };
            let (script_up, _) = sim::ops::script::shell_script(&probe);
            let commands = script_up.lines().filter(|l| l.starts_with("ip ")).count();
            print!("{}: {}", fig.name, sim::plan::summary(&probe));
            println!(
                "  plan {:.1} ms (not in the figures); shell script: {commands} commands (one process each, plus a sysctl or nft under `ip netns exec`)",
                plan_t.as_secs_f64() * 1e3
            );
            if verify {
                // one untimed pair of builds: the script must build what
                // vifgate builds
                let mut got = None;
                let p = script_scope(&sim::plan::plan(&fig.topology, &lab(), &SIM_PORTS)?);
                vifgate_run(&p, fig, &programs, &mut || {
                    got = Some(LabDigest::read(&p)?);
                    Ok(())
                })?;
                let vg = got.take().unwrap_or_default();
                let p = sim::plan::plan(&fig.topology, &lab(), &SIM_PORTS)?;
                script_run(&p, &dir, &mut || {
                    got = Some(LabDigest::read(&p)?);
                    Ok(())
                })?;
                let sc = got.take().unwrap_or_default();
                let lines = vg.lines();
                let diff = vg.diff(&sc, ("vifgate", "the script"), 20);
                if diff.is_empty() {
                    println!(
                        "  checked: the script and vifgate (same scope) built the same {} namespaces ({lines} lines of links, addresses, routes, rules, sysctls, rulesets)",
                        vg.namespaces.len()
                    );
                } else {
                    println!(
                        "  DIFFERENCES between the script and vifgate (same scope), first {}:",
                        diff.len()
                    );
                    for d in diff {
                        println!("    {d}");
                    }
                }
                settle();
            }
            let mut times: [UpDown; 3] = Default::default();
            for i in 0..runs {
                let full = sim::plan::plan(&fig.topology, &lab(), &SIM_PORTS)?;
                times[0]
                    .0
                    .push(vifgate_run(&full, fig, &programs, &mut || Ok(()))?);
                settle();
                let scoped = script_scope(&sim::plan::plan(&fig.topology, &lab(), &SIM_PORTS)?);
                times[1]
                    .0
                    .push(vifgate_run(&scoped, fig, &programs, &mut || Ok(()))?);
                settle();
                let p = sim::plan::plan(&fig.topology, &lab(), &SIM_PORTS)?;
                times[2].0.push(script_run(&p, &dir, &mut || Ok(()))?);
                settle();
                let [a, b, c] = [times[0].0[i], times[1].0[i], times[2].0[i]];
                eprintln!(
                    "  {} run {}/{runs}: up/down: full {}/{}, same-scope {}/{}, script {} (links running {})/{}",
                    fig.name,
                    i + 1,
                    secs(a.up),
                    secs(a.down),
                    secs(b.up),
                    secs(b.down),
                    secs(c.up),
                    secs(c.running),
                    secs(c.down)
                );
            }
            let short = if k == 0 { "example" } else { "generated" };
            rows.push((short.to_string(), times));
        }
        Ok(rows)
    })();

    // nothing of ours may be left, whatever happened
    let mut left: Vec<String> = sim::kernel::netns::list(&prefix);
    left.extend(
        sim::apply::state::labs()
            .into_iter()
            .filter(|l| l.starts_with(&prefix))
            .map(|l| sim::layout::state_dir(&l).display().to_string()),
    );
    let _ = std::fs::remove_dir_all(&dir);
    let rows = result?;

    println!();
    println!("vifgate's up returns once every link runs; \"shell script\" is bash returning, \"script, links run\" adds the wait for that same point (not part of the script)");
    println!();
    println!("| figure | vifgate full | vifgate same-scope | shell script | script, links run | script / same-scope | script, links run / same-scope | target |");
    println!("|---|---|---|---|---|---|---|---|");
    for (name, t) in &rows {
        let [f, s, c, r] = [
            t[0].medians(false),
            t[1].medians(false),
            t[2].medians(false),
            t[2].medians(true),
        ];
        let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64().max(1e-9);
        for (j, what) in ["up", "down", "up + down"].iter().enumerate() {
            let target = match (name.as_str(), j) {
                ("example", 2) => "< 1 s",
                ("generated", 2) => "< 3 s; >= 3x",
                _ => "",
            };
            println!(
                "| {name}: {what} | {} | {} | {} | {} | {:.1}x | {:.1}x | {target} |",
                secs(f[j]),
                secs(s[j]),
                secs(c[j]),
                secs(r[j]),
                ratio(c[j], s[j]),
                ratio(r[j], s[j]),
            );
        }
    }
    if left.is_empty() {
        println!("clean: no namespace or lab state left with the prefix {prefix}");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("NOT CLEAN, left behind: {}", left.join(", "));
        Ok(ExitCode::FAILURE)
    }
}
