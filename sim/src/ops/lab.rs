//! [`Lab`]: a topology brought up for a test, and torn down when the value
//! is dropped (also when the test panics).
//!
//! ```no_run
//! use sim::ops::lab::Lab;
//! use topology::analysis::Service;
//!
//! let lab = Lab::from_file("examples/yeohaengjigi.toml").expect("lab up");
//! assert!(lab.reaches("office-pc", "bastion", Service::Tcp(22)));
//! let out = lab.exec("web-a1", &["ip", "route"]).expect("ran");
//! assert!(out.status.success());
//! // dropped here: processes ended, namespaces deleted
//! ```
//!
//! For tests that wire a few namespaces by hand rather than a topology:
//! [`TestNet`] (in `lab/test_net.rs`), with [`can_run`], [`root_or_skip`],
//! [`need_tool`] and [`sh`].

use std::io;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use topology::analysis::Service;
use topology::Topology;

use crate::apply::{self, ApplyError, Programs, UpReport};
use crate::kernel::netns::Netns;
use crate::layout;
use crate::ops::compare::{self, Report, TestOptions};
use crate::ops::link::{self, LinkChange};
use crate::plan::{self, Plan, PlanError};
use crate::probe::{self, Outcome, Probe, ProbeKind, ProbeOptions, ProbeResult};

mod test_net;

pub use test_net::{can_run, need_tool, root_or_skip, sh, TestNet};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Why a lab could not be used.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// The topology has errors.
    #[error("the topology has errors:\n{0}")]
    Topology(topology::Diagnostics),
    /// It cannot be planned.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// It could not be built.
    #[error(transparent)]
    Apply(#[from] ApplyError),
    /// A lab, node or link that does not exist, or an I/O error.
    #[error("{0}")]
    Other(String),
}

impl From<io::Error> for LabError {
    fn from(e: io::Error) -> Self {
        LabError::Other(e.to_string())
    }
}

/// How to build a lab.
#[derive(Debug, Clone)]
pub struct LabOptions {
    /// Lab name; default: unique per process and call (`t<pid>x<n>`), so
    /// tests run in parallel.
    pub name: Option<String>,
    /// TCP ports every endpoint listens on.
    pub ports: Vec<u16>,
    /// The vifgate binary for gateways and listeners; default: the
    /// `VIFGATE_BIN` variable, else the running executable.
    pub vifgate: Option<PathBuf>,
}

impl Default for LabOptions {
    fn default() -> Self {
        LabOptions {
            name: None,
            ports: vec![22, 80, 443, 3306],
            vifgate: None,
        }
    }
}

/// A running lab, removed on drop.
#[derive(Debug)]
pub struct Lab {
    name: String,
    plan: Plan,
    topology: Topology,
    up: UpReport,
    removed: bool,
}

impl Lab {
    /// Builds a lab from a topology file, with default options.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Lab, LabError> {
        Lab::from_file_with(path, &LabOptions::default())
    }

    /// Builds a lab from a topology file.
    pub fn from_file_with(path: impl AsRef<Path>, opts: &LabOptions) -> Result<Lab, LabError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| LabError::Other(format!("cannot read {}: {e}", path.display())))?;
        Lab::build(path, text, opts, Some(path))
    }

    /// Builds a lab from topology text (`name` is used in error messages).
    pub fn from_toml(name: &str, text: &str, opts: &LabOptions) -> Result<Lab, LabError> {
        Lab::build(Path::new(name), text.to_string(), opts, None)
    }

    fn build(
        name: &Path,
        text: String,
        opts: &LabOptions,
        source: Option<&Path>,
    ) -> Result<Lab, LabError> {
        let loaded = topology::parse(name, text.clone()).map_err(LabError::Topology)?;
        let lab = opts.name.clone().unwrap_or_else(|| {
            format!(
                "t{}x{}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            )
        });
        let p = plan::plan(&loaded.topology, &lab, &opts.ports)?;
        let programs = match &opts.vifgate {
            Some(v) => Programs { vifgate: v.clone() },
            None => Programs::current()?,
        };
        let up = apply::up(&p, source, &text, &programs)?;
        Ok(Lab {
            name: lab,
            plan: p,
            topology: loaded.topology,
            up,
            removed: false,
        })
    }

    /// Its name (the prefix of its namespaces).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The plan it was built from.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The topology.
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// What `up` reported (time taken, shaping).
    pub fn up_report(&self) -> &UpReport {
        &self.up
    }

    /// The namespace of a node (or `vpc`, `vgw`, `lan`).
    pub fn ns(&self, node: &str) -> Result<String, LabError> {
        node_ns(&self.plan, node)
    }

    /// Runs a command in a node and waits for it.
    pub fn exec(&self, node: &str, args: &[&str]) -> Result<Output, LabError> {
        let mut cmd = command_in(&self.plan, node, args)?;
        Ok(cmd.stdin(Stdio::null()).output()?)
    }

    /// Starts a process in a node; it runs until the lab is removed.
    pub fn spawn(&self, node: &str, args: &[&str]) -> Result<u32, LabError> {
        let mut cmd = command_in(&self.plan, node, args)?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        // reaped by nobody: `down` ends it, the kernel reaps it when the
        // test process exits
        Ok(child.id())
    }

    /// Probes `to` (a node, by its first address, or an address) from a
    /// node.
    pub fn probe(&self, from: &str, to: &str, service: Service) -> Result<ProbeResult, LabError> {
        let ns = self.ns(from)?;
        let dst = self.address(to)?;
        let kind = match service {
            Service::Tcp(p) => ProbeKind::Tcp(p),
            Service::Udp(p) => ProbeKind::Udp(p),
            Service::IcmpEcho => ProbeKind::IcmpEcho,
            Service::Proto(p) => {
                return Err(LabError::Other(format!("cannot probe IP protocol {p}")))
            }
        };
        let r = probe::run_probes_with(
            &[Probe { ns, dst, kind }],
            &compare::default_probe_options(),
        );
        r.into_iter()
            .next()
            .ok_or_else(|| LabError::Other("no probe result".into()))
    }

    /// Whether live traffic from `from` gets its answer from `to`.
    pub fn reaches(&self, from: &str, to: &str, service: Service) -> bool {
        self.probe(from, to, service)
            .map(|r| r.outcome == Outcome::Reply)
            .unwrap_or(false)
    }

    /// An address: a node's first address, or the text itself.
    pub fn address(&self, to: &str) -> Result<Ipv4Addr, LabError> {
        if let Ok(a) = to.parse() {
            return Ok(a);
        }
        let id = self
            .topology
            .node_by_name(to)
            .ok_or_else(|| LabError::Other(format!("no node `{to}`")))?;
        self.topology.nodes[id]
            .interfaces
            .first()
            .map(|i| i.public_ip.filter(|_| false).unwrap_or(i.ip))
            .ok_or_else(|| LabError::Other(format!("node `{to}` has no address")))
    }

    /// Changes a link between two things (see `vifgate sim link`).
    pub fn link(&self, a: &str, b: &str, change: &LinkChange) -> Result<String, LabError> {
        link::change(&self.name, a, b, change).map_err(|e| LabError::Other(e.to_string()))
    }

    /// Probes the static matrix and the expectations, as `sim test` does.
    pub fn test(&self, max_cells: usize, probe: ProbeOptions) -> Report {
        let opts = TestOptions {
            services: plan::services(&self.topology, &[22, 80, 443, 3306]),
            max_cells,
            probe,
        };
        compare::run(&self.topology, &self.plan, &opts)
    }

    /// Removes the lab now (drop does it too, ignoring errors).
    pub fn down(mut self) -> io::Result<apply::DownReport> {
        self.removed = true;
        apply::down(&self.name)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if !self.removed {
            if let Err(e) = apply::down(&self.name) {
                eprintln!("lab {}: teardown: {e}", self.name);
            }
        }
    }
}

/// The namespace of a node of a planned lab, or of `vpc`, `vgw`, `lan`.
pub fn node_ns(p: &Plan, node: &str) -> Result<String, LabError> {
    if let Some(ns) = p.node_ns(node) {
        return Ok(ns.to_string());
    }
    let infra = match node {
        "vpc" => layout::vpc_ns(&p.lab),
        "vgw" => layout::vgw_ns(&p.lab),
        "lan" => layout::lan_ns(&p.lab),
        _ => String::new(),
    };
    if !infra.is_empty() && p.namespaces.iter().any(|n| n.name == infra) {
        return Ok(infra);
    }
    let mut names: Vec<&str> = p
        .namespaces
        .iter()
        .filter_map(|n| n.node.as_deref())
        .collect();
    names.sort();
    Err(LabError::Other(format!(
        "lab `{}` has no node `{node}` (nodes: {}; and vpc, vgw, lan)",
        p.lab,
        names.join(", ")
    )))
}

fn command_in(p: &Plan, node: &str, args: &[impl AsRef<str>]) -> Result<Command, LabError> {
    let ns = node_ns(p, node)?;
    let (prog, rest) = args
        .split_first()
        .ok_or_else(|| LabError::Other("no command given".into()))?;
    let mut cmd = Command::new(prog.as_ref());
    cmd.args(rest.iter().map(|a| a.as_ref()));
    Netns::open(&ns)?.command(&mut cmd)?;
    Ok(cmd)
}

/// `vifgate sim exec`: runs a command in a node of a running lab, with the
/// caller's terminal; its exit code.
pub fn exec_in(lab: &str, node: &str, args: &[String]) -> Result<u8, LabError> {
    let st =
        apply::state::read_state(lab).ok_or_else(|| LabError::Other(format!("no lab `{lab}`")))?;
    let mut cmd = command_in(&st.plan, node, args)?;
    let status = cmd
        .status()
        .map_err(|e| LabError::Other(format!("cannot run `{}`: {e}", args.join(" "))))?;
    Ok(status.code().map(|c| c.clamp(0, 255) as u8).unwrap_or(1))
}
