//! Auto Scaling in a running lab: topology's controller
//! ([`topology::scaling::Controller`], the one `topology scale` plays
//! offline) on live metrics and the lab's clock.
//!
//! - `metrics.rs`: periods on the lab's clock, and
//!   `ALBRequestCountPerTarget` from HAProxy's per-server counters
//!   (sans-IO);
//! - `instance_metrics.rs`: `ASGAverageCPUUtilization` from each
//!   instance's CPU accounting group, `ASGAverageNetworkIn`/`Out` from
//!   its interface counters, averaged over the group;
//! - `capacity.rs`: a group's desired capacity in the lab's copy of its
//!   topology and its state, and what a later `sim apply FILE` does with
//!   it;
//! - `replace.rs`: the ELB health-check type, which instances to replace
//!   and the plan without one;
//! - `run.rs`: the loop of every group's controller, on the lab's clock;
//! - `service.rs`: the lab's own controller process, its records and
//!   what `sim status` says of them.

pub mod capacity;
pub mod instance_metrics;
pub mod metrics;
pub mod replace;
pub mod run;
pub mod service;
