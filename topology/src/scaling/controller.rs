//! The scaling controller of one Auto Scaling group: each one-minute
//! period it takes the metrics' datapoints and the time, and gives the
//! scaling activities, as Amazon EC2 Auto Scaling would. No clock and no
//! I/O of its own: whoever owns time calls [`Controller::handle_period`].
//!
//! The caller plays CloudWatch: it aggregates each metric over the
//! instances in service ([`Controller::in_service`]), leaving warming ones
//! out, as AWS does for instances in their warm-up.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use super::adjustment::{adjusted_capacity, step_for, target_tracking_capacity};
use super::alarm::{Alarm, AlarmState};
use crate::model::scaling::*;
use crate::model::Topology;

/// The low alarm of target tracking fires below this share of the target
/// (docs/semantics.md says why).
pub const LOW_ALARM_SHARE: f64 = 0.9;
/// Target tracking's high alarm: 3 of 3 one-minute datapoints.
pub const HIGH_ALARM_DATAPOINTS: u32 = 3;
/// Target tracking's low alarm: 15 of 15 one-minute datapoints.
pub const LOW_ALARM_DATAPOINTS: u32 = 15;

/// One period's datapoints, each metric aggregated over the instances in
/// service; a metric without one is missing this period.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Datapoints(BTreeMap<ScalingMetric, f64>);

impl Datapoints {
    /// No datapoint.
    pub fn new() -> Self {
        Datapoints::default()
    }

    /// Sets a metric's datapoint.
    pub fn set(&mut self, metric: ScalingMetric, value: f64) -> &mut Self {
        self.0.insert(metric, value);
        self
    }

    /// A metric's datapoint.
    pub fn get(&self, metric: ScalingMetric) -> Option<f64> {
        self.0.get(&metric).copied()
    }
}

/// An instance of the group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    /// Its name, `<host_prefix>-<zone><n>` like the topology's.
    pub name: String,
    /// Its zone's short name (`a`).
    pub zone: String,
    /// When it was launched.
    pub launched: Duration,
    /// When its warm-up ends.
    pub warm_at: Duration,
    /// Its server slot at the load balancers (from 1), kept while it
    /// runs.
    pub slot: u32,
}

impl Instance {
    /// Whether it is still warming up at `now`.
    pub fn warming(&self, now: Duration) -> bool {
        now < self.warm_at
    }
}

/// What the group did in a period.
#[derive(Debug, Clone, PartialEq)]
pub enum Activity {
    /// An instance was launched.
    Launch {
        /// The new instance.
        instance: String,
        /// Its zone.
        zone: String,
        /// Why, as the activity's cause.
        cause: String,
    },
    /// An instance was terminated.
    Terminate {
        /// The instance.
        instance: String,
        /// Its zone.
        zone: String,
        /// Why.
        cause: String,
    },
    /// A scheduled action changed the sizes.
    Scheduled {
        /// The action.
        action: String,
        /// Min, desired and max after it.
        min: u32,
        /// Desired capacity after it.
        desired: u32,
        /// Max after it.
        max: u32,
    },
}

impl fmt::Display for Activity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Activity::Launch {
                instance,
                zone,
                cause,
            } => {
                write!(f, "launch {instance} in zone {zone}: {cause}")
            }
            Activity::Terminate {
                instance,
                zone,
                cause,
            } => {
                write!(f, "terminate {instance} in zone {zone}: {cause}")
            }
            Activity::Scheduled {
                action,
                min,
                desired,
                max,
            } => write!(
                f,
                "scheduled action {action}: min {min}, desired {desired}, max {max}"
            ),
        }
    }
}

/// A policy's alarm and its state after the last period.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmReport {
    /// The policy.
    pub policy: String,
    /// `high`, `low` (target tracking) or `alarm` (step scaling).
    pub alarm: &'static str,
    /// Its threshold.
    pub threshold: f64,
    /// Its state.
    pub state: AlarmState,
}

/// A target-tracking policy with its two alarms.
#[derive(Debug, Clone)]
struct TrackingState {
    policy: TargetTrackingPolicy,
    high: Alarm,
    low: Alarm,
}

/// A step-scaling policy with its alarm.
#[derive(Debug, Clone)]
struct StepState {
    policy: StepScalingPolicy,
    alarm: Alarm,
}

/// What one policy wants this period.
struct Proposal {
    capacity: u32,
    cause: String,
    warmup: Option<Duration>,
}

/// The controller of one group.
#[derive(Debug, Clone)]
pub struct Controller {
    group: String,
    host_prefix: String,
    zones: Vec<String>,
    min: u32,
    max: u32,
    desired: u32,
    settings: ScalingSettings,
    tracking: Vec<TrackingState>,
    steps: Vec<StepState>,
    instances: Vec<Instance>,
    last_scheduled_minute: Option<u64>,
    /// Zones where launches fail (an impaired Availability Zone).
    impaired: std::collections::BTreeSet<String>,
    /// An unhealthy instance terminating while its replacement launches
    /// ([`Controller::replace_unhealthy`]): a launch takes neither its
    /// name nor its slot.
    terminating: Option<Instance>,
}

impl Controller {
    /// The controller of group `group` of `t`, its instances in service
    /// since `now`.
    ///
    /// # Panics
    ///
    /// When `group` is not an index of `t.auto_scaling_groups`.
    pub fn new(t: &Topology, group: usize, now: Duration) -> Self {
        let g = &t.auto_scaling_groups[group];
        let region = t.vpc.as_ref().map(|v| v.region.as_str()).unwrap_or("");
        let short = |az: &str| az.strip_prefix(region).unwrap_or(az).to_string();
        let mut zones: Vec<String> = Vec::new();
        for &s in &g.subnets {
            let z = short(&t.subnets[s].az);
            if !zones.contains(&z) {
                zones.push(z);
            }
        }
        let instances = (g.instances.iter().zip(&g.slots))
            .map(|(&n, &slot)| {
                let node = &t.nodes[n];
                let zone = node
                    .interfaces
                    .first()
                    .and_then(|i| match i.attachment {
                        crate::model::Attachment::Subnet(s) => Some(short(&t.subnets[s].az)),
                        _ => None,
                    })
                    .unwrap_or_default();
                Instance {
                    name: node.name.clone(),
                    zone,
                    launched: now,
                    warm_at: now,
                    slot,
                }
            })
            .collect();
        let s = &g.scaling;
        let tracking = s
            .target_tracking
            .iter()
            .map(|p| TrackingState {
                policy: p.clone(),
                high: Alarm::new(
                    p.target,
                    Comparison::Greater,
                    HIGH_ALARM_DATAPOINTS,
                    HIGH_ALARM_DATAPOINTS,
                ),
                low: Alarm::new(
                    p.target * LOW_ALARM_SHARE,
                    Comparison::Less,
                    LOW_ALARM_DATAPOINTS,
                    LOW_ALARM_DATAPOINTS,
                ),
            })
            .collect();
        let steps = s
            .step_scaling
            .iter()
            .map(|p| StepState {
                policy: p.clone(),
                alarm: Alarm::new(
                    p.alarm.threshold,
                    p.alarm.comparison,
                    p.alarm.datapoints,
                    p.alarm.evaluation_periods,
                ),
            })
            .collect();
        Controller {
            group: g.name.clone(),
            host_prefix: g.host_prefix.clone(),
            zones,
            min: g.min,
            max: g.max,
            desired: g.desired,
            settings: s.clone(),
            tracking,
            steps,
            instances,
            last_scheduled_minute: None,
            impaired: Default::default(),
            terminating: None,
        }
    }

    /// The group's name.
    pub fn group(&self) -> &str {
        &self.group
    }

    /// Its instances, oldest first.
    pub fn instances(&self) -> &[Instance] {
        &self.instances
    }

    /// How many instances are in service (warmed up) at `now`.
    pub fn in_service(&self, now: Duration) -> u32 {
        self.instances.iter().filter(|i| !i.warming(now)).count() as u32
    }

    /// How many instances are warming up at `now`.
    pub fn warming(&self, now: Duration) -> u32 {
        self.instances.iter().filter(|i| i.warming(now)).count() as u32
    }

    /// Minimum, desired and maximum capacity.
    pub fn sizes(&self) -> (u32, u32, u32) {
        (self.min, self.desired, self.max)
    }

    /// Every policy's alarms, in the file's order.
    pub fn alarms(&self) -> Vec<AlarmReport> {
        let mut out = Vec::new();
        for t in &self.tracking {
            for (alarm, a) in [("high", &t.high), ("low", &t.low)] {
                out.push(AlarmReport {
                    policy: t.policy.name.clone(),
                    alarm,
                    threshold: a.threshold(),
                    state: a.state(),
                });
            }
        }
        for s in &self.steps {
            out.push(AlarmReport {
                policy: s.policy.name.clone(),
                alarm: "alarm",
                threshold: s.alarm.threshold(),
                state: s.alarm.state(),
            });
        }
        out
    }

    /// One period: scheduled actions due in the minute of `now`, then the
    /// policies on `datapoints`, then launches and terminations to reach
    /// the new desired capacity.
    pub fn handle_period(&mut self, now: Duration, datapoints: &Datapoints) -> Vec<Activity> {
        let mut activities = Vec::new();
        self.run_scheduled(now, &mut activities);
        let current = self.instances.len() as u32;
        let in_service = self.in_service(now);
        let warming = current - in_service;
        let desired = self.desired;
        let mut proposals: Vec<Proposal> = Vec::new();
        for t in &mut self.tracking {
            let p = &t.policy;
            let value = datapoints.get(p.metric);
            let high = t.high.observe(value);
            let low = t.low.observe(value);
            // a hold keeps the desired capacity (the instances may be
            // one more while AZRebalance launches before it terminates)
            let hold = Proposal {
                capacity: desired,
                cause: format!("policy {} holds", p.name),
                warmup: None,
            };
            let proposal = match (high, low, value) {
                // the high alarm scales out only: over the instances in
                // service, it may ask fewer than warming ones make
                (AlarmState::Alarm, _, Some(m)) => Some(Proposal {
                    capacity: target_tracking_capacity(in_service, m, p.target).max(current),
                    cause: format!(
                        "policy {}: {} {} above target {}",
                        p.name,
                        p.metric.aws_name(),
                        round2(m),
                        p.target
                    ),
                    warmup: p.instance_warmup,
                }),
                _ if p.disable_scale_in => None,
                (_, AlarmState::Alarm, Some(_)) if warming > 0 => Some(hold),
                (_, AlarmState::Alarm, Some(m)) => Some(Proposal {
                    capacity: target_tracking_capacity(in_service, m, p.target),
                    cause: format!(
                        "policy {}: {} {} below {} for {} minutes",
                        p.name,
                        p.metric.aws_name(),
                        round2(m),
                        round2(p.target * LOW_ALARM_SHARE),
                        LOW_ALARM_DATAPOINTS
                    ),
                    warmup: p.instance_warmup,
                }),
                _ => Some(hold),
            };
            proposals.extend(proposal);
        }
        for s in &mut self.steps {
            let p = &s.policy;
            let value = datapoints.get(p.alarm.metric);
            if s.alarm.observe(value) != AlarmState::Alarm {
                continue;
            }
            let Some(m) = value else { continue };
            let Some(step) = step_for(&p.steps, m - p.alarm.threshold) else {
                continue;
            };
            let out = adjusted_capacity(
                in_service,
                p.adjustment_type,
                step.adjustment,
                p.min_adjustment_magnitude,
            );
            let capacity = if out > current {
                out
            } else if warming > 0 {
                desired
            } else {
                adjusted_capacity(
                    desired,
                    p.adjustment_type,
                    step.adjustment,
                    p.min_adjustment_magnitude,
                )
            };
            proposals.push(Proposal {
                capacity,
                cause: format!(
                    "policy {}: {} {} against threshold {}",
                    p.name,
                    p.alarm.metric.aws_name(),
                    round2(m),
                    p.alarm.threshold
                ),
                warmup: p.instance_warmup,
            });
        }
        // the largest capacity wins: out if any policy says out, in only
        // if every policy with an opinion says in
        if let Some(best) = proposals.into_iter().max_by_key(|p| p.capacity) {
            let new = best.capacity.clamp(self.min, self.max);
            if new != self.desired {
                let cause = format!("{}, desired capacity {} -> {new}", best.cause, self.desired);
                self.desired = new;
                let warmup = best
                    .warmup
                    .or(self.settings.default_instance_warmup)
                    .unwrap_or(self.settings.default_cooldown);
                self.reconcile(now, warmup, &cause, &mut activities);
            }
        }
        self.rebalance(now, &mut activities);
        activities
    }

    /// Zone `zone` is impaired: launches there fail, and Auto Scaling
    /// tries them in the group's other zones ("Amazon EC2 Auto Scaling
    /// benefits for application architecture", section "Instance
    /// distribution": "if the launch fails in one Availability Zone, it
    /// tries another";
    /// docs.aws.amazon.com/autoscaling/ec2/userguide/auto-scaling-benefits.html).
    /// No rebalancing while a zone is impaired.
    pub fn impair_zone(&mut self, zone: &str) {
        self.impaired.insert(zone.to_string());
    }

    /// Zone `zone` launches again; the next periods rebalance the group
    /// ([`Controller::handle_period`]).
    pub fn restore_zone(&mut self, zone: &str) {
        self.impaired.remove(zone);
    }

    /// The instance `name` is unhealthy past its grace period (the ELB
    /// health-check type): it is terminated and a new instance launched
    /// in its place, in the zone with the fewest of the zones not
    /// impaired ("Health checks for instances in an Auto Scaling group":
    /// an unhealthy instance is terminated and replaced). The launch does
    /// not wait for the termination ("View the reason for health check
    /// failures", docs.aws.amazon.com/autoscaling/ec2/userguide/replace-unhealthy-instance.html:
    /// while the instance is terminating, another activity launches the
    /// new one), so the replacement takes neither the unhealthy
    /// instance's name nor its slot while the group's maximum leaves a
    /// slot (`web-a2` in slot 3 for `web-a1` in slot 1): the lab registers
    /// it before the other drains. Without a slot to spare it is the
    /// unhealthy instance's (the lab replaces it in place).
    pub fn replace_unhealthy(&mut self, now: Duration, name: &str) -> Vec<Activity> {
        let mut activities = Vec::new();
        let Some(i) = self.instances.iter().position(|x| x.name == name) else {
            return activities;
        };
        let gone = self.instances.remove(i);
        let spare =
            (1..=self.max).any(|s| s != gone.slot && self.instances.iter().all(|x| x.slot != s));
        self.terminating = spare.then(|| gone.clone());
        let cause = format!("instance {name} failed its health checks (ELB): replaced");
        activities.push(Activity::Terminate {
            instance: gone.name,
            zone: gone.zone,
            cause: cause.clone(),
        });
        let warmup = self.settings.default_instance_warmup.unwrap_or_default();
        self.reconcile(now, warmup, &cause, &mut activities);
        self.terminating = None;
        activities
    }

    /// AZRebalance ("Rebalancing activities" on the page
    /// docs.aws.amazon.com/autoscaling/ec2/userguide/auto-scaling-benefits.html):
    /// with no zone impaired and the zones more than one instance apart,
    /// an instance is launched in the zone with the fewest first (the
    /// group may go above its desired capacity, and above its maximum by
    /// 10 % or one instance, while it rebalances), and once it is in
    /// service one is terminated in the zone with the most: the capacity
    /// never falls below the desired one.
    fn rebalance(&mut self, now: Duration, activities: &mut Vec<Activity>) {
        if !self.impaired.is_empty() || self.zones.len() < 2 {
            return;
        }
        let n = self.instances.len() as u32;
        if n > self.desired {
            if self.instances.iter().any(|i| i.warming(now)) {
                return; // the launched one is not in service yet
            }
            let Some(i) = self.to_terminate(now) else {
                return;
            };
            let gone = self.instances.remove(i);
            activities.push(Activity::Terminate {
                instance: gone.name,
                zone: gone.zone.clone(),
                cause: format!("AZRebalance: zone {} has the most instances", gone.zone),
            });
            return;
        }
        let counts = self.per_zone();
        let (Some(&most), Some(&fewest)) = (counts.iter().max(), counts.iter().min()) else {
            return;
        };
        let headroom = self.max + (self.max / 10).max(1);
        if n < self.desired || most - fewest <= 1 || n >= headroom {
            return;
        }
        let cause = format!(
            "AZRebalance: the zones have {} instances",
            (self.zones.iter().zip(&counts))
                .map(|(z, c)| format!("{c} in {z}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let warmup = self.settings.default_instance_warmup.unwrap_or_default();
        self.launch(now, warmup, &cause, activities);
    }

    /// Scheduled actions whose cron matches the minute of `now`, once per
    /// minute.
    fn run_scheduled(&mut self, now: Duration, activities: &mut Vec<Activity>) {
        let minute = now.as_secs() / 60;
        if self.last_scheduled_minute == Some(minute) {
            return;
        }
        self.last_scheduled_minute = Some(minute);
        let due: Vec<ScheduledAction> = self
            .settings
            .scheduled
            .iter()
            .filter(|a| a.recurrence.matches(now.as_secs()))
            .cloned()
            .collect();
        for a in due {
            self.min = a.min.unwrap_or(self.min);
            self.max = a.max.unwrap_or(self.max).max(self.min);
            self.desired = a.desired.unwrap_or(self.desired).clamp(self.min, self.max);
            activities.push(Activity::Scheduled {
                action: a.name.clone(),
                min: self.min,
                desired: self.desired,
                max: self.max,
            });
            let cause = format!(
                "scheduled action {}, desired capacity {}",
                a.name, self.desired
            );
            let warmup = self.settings.default_instance_warmup.unwrap_or_default();
            self.reconcile(now, warmup, &cause, activities);
        }
    }

    /// Launches or terminates instances until there are `desired`: a new
    /// one goes to the zone with the fewest (the first on a tie), named
    /// with the zone's lowest number no instance has and put in the lowest
    /// free slot; scale-in terminates [`Controller::to_terminate`]'s
    /// choice.
    fn reconcile(
        &mut self,
        now: Duration,
        warmup: Duration,
        cause: &str,
        activities: &mut Vec<Activity>,
    ) {
        while (self.instances.len() as u32) < self.desired {
            if !self.launch(now, warmup, cause, activities) {
                break;
            }
        }
        while self.instances.len() as u32 > self.desired {
            let Some(i) = self.to_terminate(now) else {
                break;
            };
            let gone = self.instances.remove(i);
            activities.push(Activity::Terminate {
                instance: gone.name,
                zone: gone.zone,
                cause: cause.to_string(),
            });
        }
    }

    /// Launches one instance in the zone with the fewest of those not
    /// impaired (the first on a tie); false when every zone is impaired.
    fn launch(
        &mut self,
        now: Duration,
        warmup: Duration,
        cause: &str,
        activities: &mut Vec<Activity>,
    ) -> bool {
        {
            let counts = self.per_zone();
            let Some(z) = (0..self.zones.len())
                .filter(|&z| !self.impaired.contains(&self.zones[z]))
                .min_by_key(|&z| counts[z])
            else {
                return false;
            };
            let zone = self.zones[z].clone();
            let held = || self.instances.iter().chain(&self.terminating);
            let taken = |name: &str| held().any(|i| i.name == name);
            let name = (1..)
                .map(|n| format!("{}-{zone}{n}", self.host_prefix))
                .find(|name| !taken(name))
                .unwrap_or_default();
            let slot = (1..).find(|s| held().all(|i| i.slot != *s)).unwrap_or(1);
            activities.push(Activity::Launch {
                instance: name.clone(),
                zone: zone.clone(),
                cause: cause.to_string(),
            });
            self.instances.push(Instance {
                name,
                zone,
                launched: now,
                warm_at: now + warmup,
                slot,
            });
        }
        true
    }

    /// The instance scale-in terminates at `now`, by AWS's default
    /// termination policy ("Configure termination policies for Amazon
    /// EC2 Auto Scaling", section "How the default termination policy
    /// works",
    /// docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-termination-policies.html),
    /// as far as the lab can model it:
    ///
    /// 1. the zones with the most instances (zone balance comes first;
    ///    with the zones balanced, all of them) — modelled; no instance is
    ///    protected from scale-in (the model has no scale-in protection);
    /// 2. instances with an outdated configuration (launched from a launch
    ///    configuration, another launch template, or its oldest version),
    ///    and the On-Demand/Spot allocation strategy of mixed-instances
    ///    groups — *not* modelled: a group here has one launch template
    ///    of one version and one purchase option, so no instance is
    ///    outdated and the step chooses none;
    /// 3. the instance closest to the next billing hour (the most time
    ///    into its current hour since launch) — modelled on the
    ///    controller's clock;
    /// 4. of those equally close, one at random — made deterministic: the
    ///    one launched first (the first in the group's order), so that a
    ///    test and a lab decide alike.
    ///
    /// Instances the group holds unhealthy are not chosen here: they are
    /// replaced on their own (the ELB health-check type).
    pub fn to_terminate(&self, now: Duration) -> Option<usize> {
        const HOUR: u64 = 3600;
        let counts = self.per_zone();
        let most = counts.iter().copied().max().unwrap_or(0);
        let in_crowded = |x: &Instance| {
            (self.zones.iter().position(|z| *z == x.zone)).is_none_or(|z| counts[z] == most)
        };
        let into_hour = |x: &Instance| now.saturating_sub(x.launched).as_secs() % HOUR;
        (self.instances.iter().enumerate())
            .filter(|(_, x)| in_crowded(x))
            // the most time into its hour; the first on a tie
            .max_by_key(|(i, x)| (into_hour(x), std::cmp::Reverse(*i)))
            .map(|(i, _)| i)
    }

    /// Instances per zone, in the zones' order.
    fn per_zone(&self) -> Vec<u32> {
        self.zones
            .iter()
            .map(|z| self.instances.iter().filter(|i| i.zone == *z).count() as u32)
            .collect()
    }
}

/// A metric value for a message: two decimals at most.
fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}
