//! vifgate's network model: office sites, an AWS VPC and the Direct Connect
//! private virtual interface between them; the TOML format with precise
//! errors; the AWS semantics (security groups, network ACLs, route tables)
//! as reference evaluators; and the static reachability analysis. No I/O
//! beyond reading the file it is given (and the permission bits of a BGP
//! MD5 key file it names, [`secret_file`]).
//!
//! # Map
//!
//! A file flows up through these layers; each imports only from the
//! layers before it (`tests/layers.rs` checks the model, [`bgp`],
//! [`analysis`], [`resolve`] and [`cfn`]):
//!
//! 1. **Reading.** [`format`](mod@format) is the file as written (serde
//!    types that keep every value's position); [`units`] reads rates,
//!    durations and percentages the same way for every crate; [`diag`]
//!    turns a position into `file:line:col` with what was expected and a
//!    hint; [`secret_file`] is the one rule for key files' permissions.
//! 2. **AWS's semantics.** [`traffic`] (what a rule matches),
//!    [`security_group`], [`nacl`] and [`route_table`]: the reference
//!    evaluators of AWS's behaviour, whose values the model holds.
//! 3. **The model.** [`model`] is the resolved [`Topology`]: what the file
//!    says, with what it says about BGP ([`model::bgp`]) and about intended
//!    flows ([`model::expect`]). It imports nothing derived from it.
//! 4. **What BGP derives from it.** [`bgp`] predicts the sessions, their
//!    states and each side's best paths (the BGP report), and installs the
//!    resulting routes of the VGW and the office into the model.
//! 5. **Resolving.** [`resolve`] checks names, addresses and AWS's quotas
//!    and limits ([`resolve::aws_limits`], [`resolve::regions`]) and builds
//!    the model from the file, one file per part of it (office, VPC,
//!    compute, hybrid, BGP fields, the hybrid links' addresses, route
//!    destinations, rules, sim); it calls [`bgp`] last, for the routes.
//!    [`load`] and [`parse`] are its entry points.
//! 6. **Analysis and the other ways in.** [`analysis`] walks flows through
//!    the evaluators and the routes (`reach` with its trace and the BGP
//!    choices behind it, the `matrix`, `[[expect]]`, shadowed rules);
//!    [`graph`] draws the model and a traced flow. [`cfn`] is the other way
//!    in: a CloudFormation template, or several stacks whose exports resolve
//!    each other's imports, evaluated and mapped to the same TOML.
//!    [`scaling`] is the reference controller of Auto Scaling (sans-IO:
//!    each period's datapoints and the time in, scaling activities out;
//!    `vifgate topology scale`). [`synth`] generates large topologies for benchmarks and [`synth_lab`]
//!    small ones for comparing the analysis with a lab, both written as
//!    TOML and read like a user's file.
//!
//! The gateway's classifier and the simulator's firewalls are faster or
//! kernel forms of the same evaluators, and are tested against them.
//!
//! ```no_run
//! let loaded = topology::load("examples/yeohaengjigi.toml").unwrap();
//! let t = &loaded.topology;
//! let from = t.node_by_name("web-a1").unwrap();
//! let to = t.node_by_name("db-primary").unwrap();
//! let r = topology::analysis::reach(t, from, topology::analysis::Target::Node(to),
//!     topology::analysis::Service::Tcp(3306));
//! println!("{}", r.verdict);
//! ```

pub mod analysis;
pub mod bgp;
pub mod cfn;
pub mod diag;
pub mod format;
pub mod graph;
pub mod lab_names;
pub mod model;
pub mod nacl;
pub mod resolve;
pub mod route_table;
pub mod scaling;
pub mod secret_file;
pub mod security_group;
pub mod synth;
pub mod synth_lab;
pub mod traffic;
pub mod units;

use std::path::Path;

pub use diag::{Diagnostic, Diagnostics, Reporter, Severity, SourceFile};
pub use model::Topology;

/// A topology read from a file, with the warnings it raised.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The checked topology.
    pub topology: Topology,
    /// Warnings (never errors).
    pub warnings: Diagnostics,
}

/// Reads and checks a topology file.
pub fn load(path: impl AsRef<Path>) -> Result<Loaded, Diagnostics> {
    let src = diag::read_source(path.as_ref())?;
    let (topology, warnings) = resolve::resolve(&src)?;
    Ok(Loaded { topology, warnings })
}

/// Checks a topology given as text; `name` is used in messages.
pub fn parse(name: impl AsRef<Path>, text: String) -> Result<Loaded, Diagnostics> {
    let src = SourceFile::new(name, text);
    let (topology, warnings) = resolve::resolve(&src)?;
    Ok(Loaded { topology, warnings })
}
