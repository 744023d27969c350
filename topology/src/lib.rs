//! vifgate's network model: office sites, an AWS VPC and the Direct Connect
//! private virtual interface between them; the TOML format with precise
//! errors; the AWS semantics (security groups, network ACLs, route tables)
//! as reference evaluators; and the static reachability analysis. No I/O
//! beyond reading the file it is given (and the permission bits of a BGP
//! MD5 key file it names, [`secret_file`]).
//!
//! # Map
//!
//! A file flows through three layers, each importing only from below:
//!
//! 1. **Reading.** [`format`](mod@format) is the file as written (serde types that keep
//!    every value's position); [`units`] reads rates, durations and
//!    percentages the same way for every crate; [`diag`] turns a position
//!    into `file:line:col` with what was expected and a hint.
//! 2. **Resolving.** [`resolve`] checks names, addresses and AWS quotas and
//!    builds the [`model`] (one file per part of the file: office, VPC,
//!    compute, hybrid, rules, sim). The model, with what the file says
//!    about BGP ([`model::bgp`]) and about intended flows
//!    ([`model::expect`]), imports none of the layers above it
//!    (`tests/layers.rs` checks it). [`cfn`] is the other way in: a
//!    CloudFormation template, or several stacks whose exports resolve
//!    each other's imports, evaluated and mapped to the same TOML.
//! 3. **Semantics and analysis.** [`traffic`] (what a rule matches),
//!    [`security_group`], [`nacl`] and [`route_table`] are the reference
//!    evaluators of AWS's behaviour, and [`scaling`] the reference
//!    controller of Auto Scaling; [`bgp`] predicts the BGP sessions and
//!    each side's best paths, which the VGW's and the office's routes come
//!    from; [`analysis`] walks flows through them
//!    (`reach` with its trace, the `matrix`, `[[expect]]`, shadowed rules);
//!    [`graph`] draws the model. [`synth`] generates large topologies for
//!    benchmarks and tests.
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
