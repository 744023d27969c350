//! VPC flow logs from the gateway, in AWS's record format.
//!
//! Sans-IO like the router: [`aggregator::FlowAggregator`] is told each
//! packet's verdict ([`record::Observation`]: ACCEPT or REJECT as the
//! policy decided, direction, 5-tuple, bytes, TCP flags) and the time, and
//! at the end of each aggregation interval (60 s or 10 s, AWS's two
//! choices) hands back [`record::FlowRecord`]s; [`format::Format`] turns
//! them into lines, AWS's version 2 default format or a custom
//! `${field} ...` string. Writing the lines (to a file reopened on SIGHUP,
//! or to standard output) is the shell's business (`shell/flow_log_writer.rs`).

pub mod aggregator;
pub mod format;
pub mod record;

pub use aggregator::{AggregatorConfig, FlowAggregator};
pub use format::{Field, Format, FormatError, Identity, DEFAULT_FORMAT};
pub use record::{Action, FiveTuple, FlowDirection, FlowKey, FlowRecord, LogStatus, Observation};
