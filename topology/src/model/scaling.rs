//! What a file says about how an Auto Scaling group changes its size
//! (policies, scheduled actions, health checks, warm-up) and how its load
//! balancer's target group treats the instances (stickiness, draining,
//! slow start, health checks). The behaviour they drive lives in
//! [`crate::scaling`].

use std::time::Duration;

use super::NodeId;

/// `health_check_type`: which failed checks make the group replace an
/// instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HealthCheckType {
    /// EC2 status checks only (AWS's default).
    #[default]
    Ec2,
    /// EC2 status checks and the load balancer's health checks.
    Elb,
}

/// A metric a policy tracks or an alarm watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ScalingMetric {
    /// Requests per minute to the group's target group behind a load
    /// balancer, divided by the targets in service.
    AlbRequestCountPerTarget {
        /// The load balancer.
        load_balancer: NodeId,
    },
    /// Average CPU of the group's instances, in percent.
    CpuUtilization,
    /// Average bytes received per instance per minute.
    NetworkIn,
    /// Average bytes sent per instance per minute.
    NetworkOut,
}

impl ScalingMetric {
    /// AWS's name of the predefined metric.
    pub fn aws_name(&self) -> &'static str {
        match self {
            ScalingMetric::AlbRequestCountPerTarget { .. } => "ALBRequestCountPerTarget",
            ScalingMetric::CpuUtilization => "ASGAverageCPUUtilization",
            ScalingMetric::NetworkIn => "ASGAverageNetworkIn",
            ScalingMetric::NetworkOut => "ASGAverageNetworkOut",
        }
    }
}

/// `[[vpc.auto_scaling_group.target_tracking]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetTrackingPolicy {
    /// Its name.
    pub name: String,
    /// The tracked metric.
    pub metric: ScalingMetric,
    /// The value to keep the metric at (above 0).
    pub target: f64,
    /// Whether the policy never removes instances.
    pub disable_scale_in: bool,
    /// How long a new instance is left out of the metric; the group's
    /// `default_instance_warmup`, else its `default_cooldown`, when unset.
    pub instance_warmup: Option<Duration>,
}

/// How an alarm compares its metric with its threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    /// `GreaterThanOrEqualToThreshold`.
    GreaterOrEqual,
    /// `GreaterThanThreshold`.
    Greater,
    /// `LessThanThreshold`.
    Less,
    /// `LessThanOrEqualToThreshold`.
    LessOrEqual,
}

impl Comparison {
    /// Whether `value` breaches `threshold`.
    pub fn breaches(self, value: f64, threshold: f64) -> bool {
        match self {
            Comparison::GreaterOrEqual => value >= threshold,
            Comparison::Greater => value > threshold,
            Comparison::Less => value < threshold,
            Comparison::LessOrEqual => value <= threshold,
        }
    }

    /// AWS's name.
    pub fn aws_name(self) -> &'static str {
        match self {
            Comparison::GreaterOrEqual => "GreaterThanOrEqualToThreshold",
            Comparison::Greater => "GreaterThanThreshold",
            Comparison::Less => "LessThanThreshold",
            Comparison::LessOrEqual => "LessThanOrEqualToThreshold",
        }
    }
}

/// A CloudWatch alarm on one-minute datapoints: it goes to ALARM when
/// `datapoints` of the last `evaluation_periods` breach.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmSpec {
    /// The metric.
    pub metric: ScalingMetric,
    /// The threshold.
    pub threshold: f64,
    /// How the metric is compared with it.
    pub comparison: Comparison,
    /// Breaching datapoints needed (1..=`evaluation_periods`).
    pub datapoints: u32,
    /// Datapoints looked at.
    pub evaluation_periods: u32,
}

/// How a step's adjustment changes the capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdjustmentType {
    /// Adds the adjustment (negative removes).
    ChangeInCapacity,
    /// Sets the capacity to the adjustment.
    ExactCapacity,
    /// Adds the adjustment in percent of the capacity.
    PercentChangeInCapacity,
}

/// One step: the metric minus the threshold within `lower..upper` (the
/// bound on the threshold's side is inclusive) gives `adjustment`.
#[derive(Debug, Clone, PartialEq)]
pub struct StepAdjustment {
    /// Lower bound relative to the threshold; none is minus infinity.
    pub lower: Option<f64>,
    /// Upper bound relative to the threshold; none is plus infinity.
    pub upper: Option<f64>,
    /// The adjustment.
    pub adjustment: i64,
}

/// `[[vpc.auto_scaling_group.step_scaling]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct StepScalingPolicy {
    /// Its name.
    pub name: String,
    /// The alarm that runs it.
    pub alarm: AlarmSpec,
    /// How adjustments apply.
    pub adjustment_type: AdjustmentType,
    /// The steps, sorted by lower bound, without gap or overlap.
    pub steps: Vec<StepAdjustment>,
    /// The smallest change with `PercentChangeInCapacity`.
    pub min_adjustment_magnitude: Option<u32>,
    /// How long a new instance is left out of the metric.
    pub instance_warmup: Option<Duration>,
}

/// A cron expression in UTC (minute hour day-of-month month day-of-week),
/// each field a set of the values it matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    /// The expression as written.
    pub text: String,
    /// Minutes 0-59, bit per minute.
    pub minutes: u64,
    /// Hours 0-23.
    pub hours: u32,
    /// Days of the month 1-31 (bit 0 unused).
    pub days: u32,
    /// Months 1-12 (bit 0 unused).
    pub months: u16,
    /// Days of the week 0-6, Sunday 0.
    pub weekdays: u8,
    /// Whether the day-of-month field is `*`.
    pub any_day: bool,
    /// Whether the day-of-week field is `*`.
    pub any_weekday: bool,
}

/// `[[vpc.auto_scaling_group.scheduled]]`: at each time its cron matches,
/// the group takes the sizes it gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduledAction {
    /// Its name.
    pub name: String,
    /// When, in UTC.
    pub recurrence: Cron,
    /// New minimum.
    pub min: Option<u32>,
    /// New maximum.
    pub max: Option<u32>,
    /// New desired capacity.
    pub desired: Option<u32>,
}

/// How a group scales: its health checks, warm-up, cooldown and policies.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ScalingSettings {
    /// Which checks replace an instance.
    pub health_check_type: HealthCheckType,
    /// How long after launch failed checks are ignored (default 0 s, as
    /// the API and CloudFormation have it).
    pub health_check_grace_period: Duration,
    /// Warm-up of new instances for every policy that sets none.
    pub default_instance_warmup: Option<Duration>,
    /// The simple-scaling cooldown (default 300 s); no other policy waits
    /// for it.
    pub default_cooldown: Duration,
    /// Target-tracking policies.
    pub target_tracking: Vec<TargetTrackingPolicy>,
    /// Step-scaling policies.
    pub step_scaling: Vec<StepScalingPolicy>,
    /// Scheduled actions.
    pub scheduled: Vec<ScheduledAction>,
}

/// AWS's default cooldown.
pub const DEFAULT_COOLDOWN: Duration = Duration::from_secs(300);

/// `stickiness` of a target group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stickiness {
    /// The load balancer's own `AWSALB` cookie, kept `duration`.
    LbCookie {
        /// Lifetime of the cookie (1 s to 7 days).
        duration: Duration,
    },
    /// `AWSALBAPP-0`, following the application's cookie `cookie_name`.
    AppCookie {
        /// The application's cookie.
        cookie_name: String,
        /// How long a client stays on its target (1 s to 7 days).
        duration: Duration,
    },
}

/// A target group's health check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    /// HTTP path asked.
    pub path: String,
    /// Time between checks (5-300 s).
    pub interval: Duration,
    /// Time without an answer that fails a check (2-120 s, less than the
    /// interval).
    pub timeout: Duration,
    /// Passing checks in a row that make a target healthy (2-10).
    pub healthy_threshold: u32,
    /// Failing checks in a row that make it unhealthy (2-10).
    pub unhealthy_threshold: u32,
}

impl Default for HealthCheck {
    /// An ALB's defaults for an HTTP instance target group.
    fn default() -> Self {
        HealthCheck {
            path: "/".into(),
            interval: Duration::from_secs(30),
            timeout: Duration::from_secs(5),
            healthy_threshold: 5,
            unhealthy_threshold: 2,
        }
    }
}

/// The target-group settings of a listener's targets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetGroupSettings {
    /// Sticky sessions, when on.
    pub stickiness: Option<Stickiness>,
    /// How long a deregistered target drains (0-3600 s, default 300 s).
    pub deregistration_delay: Duration,
    /// Ramp-up of a new target's share (30-900 s), when on.
    pub slow_start: Option<Duration>,
    /// The health check.
    pub health_check: HealthCheck,
}

impl Default for TargetGroupSettings {
    fn default() -> Self {
        TargetGroupSettings {
            stickiness: None,
            deregistration_delay: Duration::from_secs(300),
            slow_start: None,
            health_check: HealthCheck::default(),
        }
    }
}
