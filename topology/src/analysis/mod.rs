//! Static analysis: reachability with a hop-by-hop trace (and the BGP
//! choices behind it), the host × host matrix, `[[expect]]` checks and
//! shadowed rules.

mod expect;
mod matrix;
mod reach;
mod route_choices;
mod shadow;
mod trace;

pub use expect::{check_expectations, ExpectationResult};
pub use matrix::{matrix, Matrix, MatrixCell};
pub use reach::{reach, route_target_name, Path, Reach};
pub use route_choices::{route_choices, RouteChoice};
pub use shadow::{shadowed_rules, ShadowedRule};
pub use trace::{Hop, Step};

/// The flow asked about and the answer: the model's terms, the same an
/// `[[expect]]` entry is written in.
pub use crate::model::{Service, Target, Verdict};
