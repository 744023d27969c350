//! The reference semantics of Amazon EC2 Auto Scaling, sans-IO, like the
//! security-group evaluator: [`Controller`] takes each one-minute
//! period's datapoints and the time and returns the scaling activities.
//!
//! - `alarm.rs`: CloudWatch alarms (M of N datapoints, INSUFFICIENT_DATA);
//! - `adjustment.rs`: target tracking's formula, step choice, adjustment
//!   types and the rounding of percentages;
//! - `controller.rs`: policies together, warm-up, scheduled actions,
//!   zones;
//! - `cron.rs`: the cron expressions of scheduled actions;
//! - `timeline.rs`: a load profile played through the controller.
//!
//! docs/semantics.md states each rule with the AWS page it comes from.

pub mod adjustment;
pub mod alarm;
pub mod controller;
pub mod cron;
pub mod timeline;

pub use alarm::AlarmState;
pub use controller::{Activity, AlarmReport, Controller, Datapoints, Instance};

#[cfg(test)]
mod controller_tests;
