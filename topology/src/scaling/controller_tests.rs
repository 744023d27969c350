//! The controller on a hand-driven clock: AWS's worked examples, each
//! test naming the page it comes from, and the rules of
//! docs/semantics.md ("Auto Scaling").

use std::time::Duration;

use super::{Activity, AlarmState, Controller, Datapoints};
use crate::diag::SourceFile;
use crate::model::scaling::ScalingMetric;
use crate::model::{NodeKind, Topology};

const MINUTE: Duration = Duration::from_secs(60);
/// 2026-12-24 00:00 UTC.
const EVENT_DAY: Duration = Duration::from_secs(1_798_070_400);

/// A two-zone VPC with an ALB in front of group `web-asg`, whose sizes
/// and policies are `group` (TOML keys and sub-tables of the group).
fn topology(group: &str) -> Topology {
    let text = format!(
        r#"name = "scaling"
[vpc]
name = "vpc"
cidr = "10.0.0.0/16"
region = "ap-northeast-2"
azs = ["a", "c"]

[[vpc.subnet]]
name = "pub-a"
az = "a"
cidr = "10.0.0.0/24"

[[vpc.subnet]]
name = "pub-c"
az = "c"
cidr = "10.0.1.0/24"

[[vpc.subnet]]
name = "web-a"
az = "a"
cidr = "10.0.10.0/24"

[[vpc.subnet]]
name = "web-c"
az = "c"
cidr = "10.0.11.0/24"

[[vpc.load_balancer]]
name = "alb"
subnets = ["pub-a", "pub-c"]
ips = ["10.0.0.20", "10.0.1.20"]
listeners = [{{ port = 80, targets = ["web-asg"], target_port = 80 }}]

[[vpc.auto_scaling_group]]
name = "web-asg"
host_prefix = "web"
subnets = ["web-a", "web-c"]
{group}
"#
    );
    crate::resolve::resolve(&SourceFile::new("scaling.toml", text))
        .unwrap_or_else(|d| panic!("does not resolve:\n{d}"))
        .0
}

/// The ALB's request-count metric in `t`.
fn requests(t: &Topology) -> ScalingMetric {
    let lb = t
        .nodes
        .iter()
        .position(|n| matches!(n.kind, NodeKind::LoadBalancer { .. }))
        .expect("the ALB");
    ScalingMetric::AlbRequestCountPerTarget { load_balancer: lb }
}

/// One datapoint of `metric`.
fn point(metric: ScalingMetric, value: f64) -> Datapoints {
    let mut d = Datapoints::new();
    d.set(metric, value);
    d
}

/// Runs `minutes` periods from `*now` with the same datapoints; gives the
/// activities, the clock moved on.
fn run(c: &mut Controller, now: &mut Duration, minutes: u32, d: &Datapoints) -> Vec<Activity> {
    let mut all = Vec::new();
    for _ in 0..minutes {
        all.extend(c.handle_period(*now, d));
        *now += MINUTE;
    }
    all
}

fn names(c: &Controller) -> Vec<&str> {
    c.instances().iter().map(|i| i.name.as_str()).collect()
}

fn launches(a: &[Activity]) -> Vec<&str> {
    a.iter()
        .filter_map(|a| match a {
            Activity::Launch { instance, .. } => Some(instance.as_str()),
            _ => None,
        })
        .collect()
}

fn terminations(a: &[Activity]) -> Vec<&str> {
    a.iter()
        .filter_map(|a| match a {
            Activity::Terminate { instance, .. } => Some(instance.as_str()),
            _ => None,
        })
        .collect()
}

const EVENT_GROUP: &str = r#"desired = 2
min = 2
max = 4

[[vpc.auto_scaling_group.target_tracking]]
name = "requests"
metric = "ALBRequestCountPerTarget"
load_balancer = "alb"
target = 1800
instance_warmup = "5m"
"#;

/// Target tracking, "Target tracking scaling policies for Amazon EC2 Auto
/// Scaling" (docs.aws.amazon.com/autoscaling/ec2/userguide/as-scaling-target-tracking.html):
/// capacity in proportion to the metric, ceil(2 × 3520 / 1800) = 4, after
/// the high alarm's 3 of 3 datapoints; back in after the low alarm's 15
/// of 15, oldest first from the zone with the most.
#[test]
fn target_tracking_event_day_goes_2_4_2() {
    let t = topology(EVENT_GROUP);
    let m = requests(&t);
    let mut c = Controller::new(&t, 0, EVENT_DAY);
    let mut now = EVENT_DAY;
    assert!(run(&mut c, &mut now, 10, &point(m, 1000.0)).is_empty());
    // 352 %: 7040 a minute over 2 targets
    let first_two = run(&mut c, &mut now, 2, &point(m, 3520.0));
    assert!(first_two.is_empty(), "2 of 3 datapoints: {first_two:?}");
    let third = run(&mut c, &mut now, 1, &point(m, 3520.0));
    assert_eq!(launches(&third), ["web-a2", "web-c2"]);
    assert_eq!(c.sizes(), (2, 4, 4));
    assert_eq!((c.in_service(now), c.warming(now)), (2, 2));
    // 1760 a target: below 1800, above the low alarm's 1620: holds
    assert!(run(&mut c, &mut now, 30, &point(m, 1760.0)).is_empty());
    assert_eq!(c.in_service(now), 4);
    // the event ends: 500 a target
    let fourteen = run(&mut c, &mut now, 14, &point(m, 500.0));
    assert!(fourteen.is_empty(), "14 of 15 datapoints: {fourteen:?}");
    let fifteenth = run(&mut c, &mut now, 1, &point(m, 500.0));
    assert_eq!(terminations(&fifteenth), ["web-a1", "web-c1"]);
    assert_eq!(names(&c), ["web-a2", "web-c2"]);
    assert_eq!(c.sizes(), (2, 2, 4));
}

/// Step scaling, "Step and simple scaling policies", section "Step
/// adjustments" (docs.aws.amazon.com/autoscaling/ec2/userguide/as-scaling-simple-step.html):
/// threshold 50, capacity 10; 60 adds 10 % (1) to 11; after the warm-up
/// 70 adds 30 % of 11 (3.3, rounded down to 3) to 14; 40 removes 10 % of
/// 14 (1.4, 1) to 13; 30 removes 30 % of 13 (3.9, 3) to 10.
#[test]
fn step_scaling_user_guide_example() {
    let t = topology(
        r#"desired = 10
min = 0
max = 20
default_instance_warmup = "5m"

[[vpc.auto_scaling_group.step_scaling]]
name = "out"
metric = "ASGAverageCPUUtilization"
threshold = 50
comparison = "GreaterThanOrEqualToThreshold"
adjustment_type = "PercentChangeInCapacity"
steps = [
  { lower = 0, upper = 10, adjustment = 0 },
  { lower = 10, upper = 20, adjustment = 10 },
  { lower = 20, adjustment = 30 },
]

[[vpc.auto_scaling_group.step_scaling]]
name = "in"
metric = "ASGAverageCPUUtilization"
threshold = 50
comparison = "LessThanOrEqualToThreshold"
adjustment_type = "PercentChangeInCapacity"
steps = [
  { lower = -10, upper = 0, adjustment = 0 },
  { lower = -20, upper = -10, adjustment = -10 },
  { upper = -20, adjustment = -30 },
]
"#,
    );
    let cpu = ScalingMetric::CpuUtilization;
    let mut c = Controller::new(&t, 0, EVENT_DAY);
    let mut now = EVENT_DAY;
    let desired = |c: &Controller| c.sizes().1;
    assert_eq!(
        launches(&run(&mut c, &mut now, 1, &point(cpu, 60.0))).len(),
        1
    );
    assert_eq!(desired(&c), 11);
    // while the new instance warms, 60 again adds nothing more
    assert!(run(&mut c, &mut now, 4, &point(cpu, 60.0)).is_empty());
    assert!(run(&mut c, &mut now, 1, &point(cpu, 55.0)).is_empty());
    assert_eq!(c.warming(now), 0);
    assert_eq!(
        launches(&run(&mut c, &mut now, 1, &point(cpu, 70.0))).len(),
        3
    );
    assert_eq!(desired(&c), 14);
    run(&mut c, &mut now, 5, &point(cpu, 50.0));
    assert_eq!(c.warming(now), 0);
    assert_eq!(
        terminations(&run(&mut c, &mut now, 1, &point(cpu, 40.0))).len(),
        1
    );
    assert_eq!(desired(&c), 13);
    assert_eq!(
        terminations(&run(&mut c, &mut now, 1, &point(cpu, 30.0))).len(),
        3
    );
    assert_eq!(desired(&c), 10);
}

/// Scale-in waits for the instances in their warm-up: "Set the default
/// instance warmup for an Auto Scaling group"
/// (docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-default-instance-warmup.html).
#[test]
fn scale_in_waits_for_warming_instances() {
    let t = topology(&EVENT_GROUP.replace("\"5m\"", "\"30m\""));
    let m = requests(&t);
    let mut c = Controller::new(&t, 0, EVENT_DAY);
    let mut now = EVENT_DAY;
    run(&mut c, &mut now, 3, &point(m, 3520.0));
    assert_eq!(c.warming(now), 2);
    // low for 20 minutes: the low alarm is in ALARM, but two instances
    // still warm up until minute 32
    let during = run(&mut c, &mut now, 20, &point(m, 500.0));
    assert!(during.is_empty(), "{during:?}");
    assert!(c
        .alarms()
        .iter()
        .any(|a| a.alarm == "low" && a.state == AlarmState::Alarm));
    let after = run(&mut c, &mut now, 10, &point(m, 500.0));
    assert_eq!(terminations(&after).len(), 2);
}

/// With several policies the group scales out when any says so and in
/// only when all do: "Use multiple scaling policies"
/// (docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-multiple-policies.html).
#[test]
fn several_policies_out_if_any_in_only_if_all() {
    let t = topology(&format!(
        "{EVENT_GROUP}\n[[vpc.auto_scaling_group.target_tracking]]\nname = \"cpu\"\nmetric = \"ASGAverageCPUUtilization\"\ntarget = 50\n"
    ));
    let (req, cpu) = (requests(&t), ScalingMetric::CpuUtilization);
    let both = |r: f64, p: f64| {
        let mut d = Datapoints::new();
        d.set(req, r).set(cpu, p);
        d
    };
    let mut c = Controller::new(&t, 0, EVENT_DAY);
    let mut now = EVENT_DAY;
    // requests are fine, CPU is at 75 %: ceil(2 × 75 / 50) = 3
    let out = run(&mut c, &mut now, 3, &both(1000.0, 75.0));
    assert_eq!(launches(&out), ["web-a2"]);
    run(&mut c, &mut now, 5, &both(1000.0, 50.0));
    // requests say in (500 < 1620), CPU holds at 50 %: no scale-in
    assert!(run(&mut c, &mut now, 30, &both(500.0, 50.0)).is_empty());
    // both say in
    let gone = run(&mut c, &mut now, 15, &both(500.0, 10.0));
    assert_eq!(terminations(&gone), ["web-a1"]);
}

/// A missing metric leaves the alarms in INSUFFICIENT_DATA, and nothing
/// happens.
#[test]
fn insufficient_data_does_nothing() {
    let t = topology(EVENT_GROUP);
    let mut c = Controller::new(&t, 0, EVENT_DAY);
    let mut now = EVENT_DAY;
    assert!(run(&mut c, &mut now, 30, &Datapoints::new()).is_empty());
    assert!(c
        .alarms()
        .iter()
        .all(|a| a.state == AlarmState::InsufficientData));
    assert_eq!(c.sizes(), (2, 2, 4));
}

/// `disable_scale_in`: the policy only adds.
#[test]
fn disabled_scale_in_never_removes() {
    let t = topology(&format!("{EVENT_GROUP}disable_scale_in = true\n"));
    let m = requests(&t);
    let mut c = Controller::new(&t, 0, EVENT_DAY);
    let mut now = EVENT_DAY;
    run(&mut c, &mut now, 3, &point(m, 3520.0));
    assert!(run(&mut c, &mut now, 60, &point(m, 100.0)).is_empty());
    assert_eq!(c.instances().len(), 4);
}

/// The default cooldown is for simple scaling: a step policy acts on
/// consecutive periods ("Scaling cooldowns for Amazon EC2 Auto Scaling",
/// docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-scaling-cooldowns.html).
#[test]
fn cooldown_does_not_hold_step_scaling() {
    let t = topology(
        r#"desired = 2
min = 2
max = 6
default_cooldown = "10m"
default_instance_warmup = "0s"

[[vpc.auto_scaling_group.step_scaling]]
metric = "ASGAverageNetworkIn"
threshold = 1000000
comparison = "GreaterThanThreshold"
adjustment_type = "ChangeInCapacity"
steps = [{ lower = 0, adjustment = 1 }]
"#,
    );
    let net = ScalingMetric::NetworkIn;
    let mut c = Controller::new(&t, 0, EVENT_DAY);
    let mut now = EVENT_DAY;
    let a = run(&mut c, &mut now, 3, &point(net, 2e6));
    assert_eq!(launches(&a), ["web-a2", "web-c2", "web-a3"]);
}

/// A scheduled action fires in its minute, once, and the group follows
/// its new sizes; new instances go to the zone with the fewest.
#[test]
fn scheduled_action_sets_sizes_at_its_minute() {
    let t = topology(
        r#"desired = 2
min = 2
max = 4

[[vpc.auto_scaling_group.scheduled]]
name = "event-morning"
cron = "0 9 24 12 *"
min = 3
desired = 3
"#,
    );
    let mut c = Controller::new(&t, 0, EVENT_DAY);
    let mut now = EVENT_DAY;
    assert!(run(&mut c, &mut now, 9 * 60, &Datapoints::new()).is_empty());
    let at_nine = run(&mut c, &mut now, 1, &Datapoints::new());
    assert_eq!(launches(&at_nine), ["web-a2"]);
    assert!(matches!(
        at_nine[0],
        Activity::Scheduled {
            min: 3,
            desired: 3,
            max: 4,
            ..
        }
    ));
    // calling twice in the same minute does not run it again
    assert!(c.handle_period(now - MINUTE, &Datapoints::new()).is_empty());
    assert!(run(&mut c, &mut now, 60, &Datapoints::new()).is_empty());
}

/// Zones: a new instance goes to the zone with the fewest, scale-in takes
/// the oldest instance of the zone with the most ("Configure termination
/// policies for Amazon EC2 Auto Scaling",
/// docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-termination-policies.html).
#[test]
fn zones_stay_balanced_both_ways() {
    let t = topology(
        r#"desired = 3
min = 1
max = 6
default_instance_warmup = "0s"

[[vpc.auto_scaling_group.step_scaling]]
name = "exact"
metric = "ASGAverageCPUUtilization"
threshold = 0
comparison = "GreaterThanOrEqualToThreshold"
adjustment_type = "ExactCapacity"
steps = [{ lower = 0, upper = 10, adjustment = 4 }, { lower = 10, upper = 20, adjustment = 1 }, { lower = 20, adjustment = 6 }]
"#,
    );
    let cpu = ScalingMetric::CpuUtilization;
    let mut c = Controller::new(&t, 0, EVENT_DAY);
    let mut now = EVENT_DAY;
    assert_eq!(names(&c), ["web-a1", "web-c1", "web-a2"]);
    // 3 -> 4: zone c has fewer
    assert_eq!(
        launches(&run(&mut c, &mut now, 1, &point(cpu, 5.0))),
        ["web-c2"]
    );
    // 4 -> 6: a then c (a first on a tie)
    assert_eq!(
        launches(&run(&mut c, &mut now, 1, &point(cpu, 25.0))),
        ["web-a3", "web-c3"]
    );
    // 6 -> 1: always from the zone with the most, oldest first
    let gone = run(&mut c, &mut now, 1, &point(cpu, 15.0));
    assert_eq!(
        terminations(&gone),
        ["web-a1", "web-c1", "web-a2", "web-c2", "web-a3"]
    );
    assert_eq!(names(&c), ["web-c3"]);
}

/// A high alarm only ever adds capacity: while new instances warm up, the
/// metric over the two in service can still be above the target and yet
/// give fewer than the group has; AWS then keeps the capacity ("Target
/// tracking scaling policies": the high alarm is the scale-out alarm,
/// and scale-in waits for the warm-up). Found live by `sim autoscale`,
/// which went 2 -> 3 -> 4 -> 3 -> 4 under a steady load.
#[test]
fn a_high_alarm_during_warm_up_never_removes_an_instance() {
    let t = topology(EVENT_GROUP);
    let m = requests(&t);
    let mut c = Controller::new(&t, 0, EVENT_DAY);
    let mut now = EVENT_DAY;
    // 4000 a target: ceil(2 x 4000 / 1800) = 5, clamped to 4
    let out = run(&mut c, &mut now, 3, &point(m, 4000.0));
    assert_eq!(launches(&out), ["web-a2", "web-c2"]);
    assert_eq!((c.in_service(now), c.warming(now)), (2, 2));
    // 2000 a target, still above 1800 over the 2 in service: ceil(2 x
    // 2000 / 1800) = 3, fewer than the 4 the group has
    let held = run(&mut c, &mut now, 2, &point(m, 2000.0));
    assert!(terminations(&held).is_empty(), "{held:?}");
    assert_eq!(c.sizes(), (2, 4, 4));
}

/// A group whose capacity CPU sets exactly: 2 below 10, 3 from 10 to
/// 20, 4 from 20; no warm-up.
const EXACT_GROUP: &str = r#"desired = 2
min = 1
max = 4
default_instance_warmup = "0s"

[[vpc.auto_scaling_group.step_scaling]]
name = "exact"
metric = "ASGAverageCPUUtilization"
threshold = 0
comparison = "GreaterThanOrEqualToThreshold"
adjustment_type = "ExactCapacity"
steps = [{ lower = 0, upper = 10, adjustment = 2 }, { lower = 10, upper = 20, adjustment = 3 }, { lower = 20, adjustment = 4 }]
"#;

fn slots(c: &Controller) -> Vec<(&str, u32)> {
    c.instances()
        .iter()
        .map(|i| (i.name.as_str(), i.slot))
        .collect()
}

/// The default termination policy, "Configure termination policies for
/// Amazon EC2 Auto Scaling", section "How the default termination policy
/// works" (docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-termination-policies.html):
/// the zone with the most instances first, all zones when they are
/// balanced; then the instance closest to the next billing hour, which
/// is not the oldest once an instance has run past an hour.
#[test]
fn scale_in_terminates_the_instance_closest_to_its_next_billing_hour() {
    let t = topology(EXACT_GROUP);
    let cpu = ScalingMetric::CpuUtilization;
    let mut c = Controller::new(&t, 0, EVENT_DAY);
    let mut now = EVENT_DAY;
    // web-a1 and web-c1 from the start; at 50 minutes 2 -> 4
    assert!(run(&mut c, &mut now, 50, &point(cpu, 5.0)).is_empty());
    let out = run(&mut c, &mut now, 1, &point(cpu, 25.0));
    assert_eq!(launches(&out), ["web-a2", "web-c2"]);
    // at 70 minutes: web-a1 and web-c1 are 10 minutes into their second
    // hour, web-a2 and web-c2 20 minutes into their first: 4 -> 2
    // terminates the newer ones, not the oldest
    assert!(run(&mut c, &mut now, 19, &point(cpu, 25.0)).is_empty());
    let gone = run(&mut c, &mut now, 1, &point(cpu, 5.0));
    assert_eq!(terminations(&gone), ["web-a2", "web-c2"]);
    assert_eq!(names(&c), ["web-a1", "web-c1"]);
    // the choice at any time, without a change: balanced zones, the one
    // most into its hour, the first on a tie
    assert_eq!(c.to_terminate(now), Some(0));
}

/// A zone with more instances loses one first, whatever their ages
/// (same page: "If Availability Zones are balanced, it applies the
/// termination policy across all zones"; zone balance comes first).
#[test]
fn the_crowded_zone_loses_an_instance_first() {
    let t = topology(
        r#"desired = 3
min = 1
max = 4
default_instance_warmup = "0s"
"#,
    );
    let c = Controller::new(&t, 0, EVENT_DAY);
    // web-a1, web-c1, web-a2: zone a has two
    assert_eq!(names(&c), ["web-a1", "web-c1", "web-a2"]);
    let i = c.to_terminate(EVENT_DAY + 30 * MINUTE).expect("one");
    assert_eq!(c.instances()[i].zone, "a");
    assert_eq!(c.instances()[i].name, "web-a1");
}

/// A launch takes its zone's lowest free number and the lowest free
/// slot, so that the lab's instances keep their names and load-balancer
/// slots while others come and go.
#[test]
fn a_launch_takes_the_lowest_free_name_and_slot() {
    let t = topology(EXACT_GROUP);
    let cpu = ScalingMetric::CpuUtilization;
    let mut c = Controller::new(&t, 0, EVENT_DAY);
    let mut now = EVENT_DAY;
    let out = run(&mut c, &mut now, 1, &point(cpu, 25.0));
    assert_eq!(launches(&out), ["web-a2", "web-c2"]);
    assert_eq!(
        slots(&c),
        [("web-a1", 1), ("web-c1", 2), ("web-a2", 3), ("web-c2", 4)]
    );
    // 4 -> 3 ten minutes later: all ten minutes into their hour but the
    // new ones; balanced zones, the first most into its hour: web-a1
    assert!(run(&mut c, &mut now, 9, &point(cpu, 25.0)).is_empty());
    let gone = run(&mut c, &mut now, 1, &point(cpu, 15.0));
    assert_eq!(terminations(&gone), ["web-a1"]);
    assert_eq!(slots(&c), [("web-c1", 2), ("web-a2", 3), ("web-c2", 4)]);
    // 3 -> 4: zone a has fewer; web-a1 is free again, and slot 1
    let back = run(&mut c, &mut now, 1, &point(cpu, 25.0));
    assert_eq!(launches(&back), ["web-a1"]);
    assert_eq!(
        slots(&c),
        [("web-c1", 2), ("web-a2", 3), ("web-c2", 4), ("web-a1", 1)]
    );
}

fn spread(c: &Controller) -> (usize, usize) {
    let a = c.instances().iter().filter(|i| i.zone == "a").count();
    (a, c.instances().len() - a)
}

/// A failed zone: its instances replaced in the other zone, as a launch
/// that fails in one zone is tried in another ("Amazon EC2 Auto Scaling
/// benefits for application architecture", "Instance distribution",
/// docs.aws.amazon.com/autoscaling/ec2/userguide/auto-scaling-benefits.html);
/// once it is restored, AZRebalance launches in it first and terminates in
/// the crowded zone after, never below the desired capacity ("Rebalancing
/// activities", same page).
#[test]
fn a_failed_zone_moves_the_group_and_a_restored_one_is_rebalanced() {
    let t = topology(
        r#"desired = 4
min = 2
max = 4
default_instance_warmup = "2m"
"#,
    );
    let mut c = Controller::new(&t, 0, EVENT_DAY);
    let mut now = EVENT_DAY;
    assert_eq!(spread(&c), (2, 2));
    c.impair_zone("a");
    for gone in ["web-a1", "web-a2"] {
        let out = c.replace_unhealthy(now, gone);
        assert_eq!(terminations(&out), [gone]);
        assert_eq!(launches(&out).len(), 1, "{out:?}");
        assert!(launches(&out)[0].starts_with("web-c"), "{out:?}");
    }
    assert_eq!(spread(&c), (0, 4));
    assert_eq!(names(&c), ["web-c1", "web-c2", "web-c3", "web-c4"]);
    // impaired: no rebalancing
    assert!(run(&mut c, &mut now, 10, &Datapoints::new()).is_empty());
    c.restore_zone("a");
    let mut lowest = u32::MAX;
    let mut all = Vec::new();
    for _ in 0..30 {
        all.extend(run(&mut c, &mut now, 1, &Datapoints::new()));
        lowest = lowest.min(c.in_service(now));
    }
    assert_eq!(spread(&c), (2, 2), "{all:?}");
    assert_eq!(launches(&all), ["web-a1", "web-a2"]);
    assert_eq!(terminations(&all).len(), 2);
    assert!(terminations(&all).iter().all(|n| n.starts_with("web-c")));
    // launch first, terminate after: never fewer in service than desired
    assert!(lowest >= 4, "{lowest}");
    let first_launch = all
        .iter()
        .position(|a| matches!(a, Activity::Launch { .. }));
    let first_term = all
        .iter()
        .position(|a| matches!(a, Activity::Terminate { .. }));
    assert!(first_launch < first_term, "{all:?}");
    // balanced: nothing more
    assert!(run(&mut c, &mut now, 10, &Datapoints::new()).is_empty());
}

/// A policy that holds keeps the desired capacity, not the instance
/// count: the instance AZRebalance launches above the desired capacity
/// is terminated again once in service (on the event day's group, whose
/// maximum leaves room for it, a hold at the count made it desired).
#[test]
fn a_holding_policy_keeps_the_desired_capacity_while_the_group_rebalances() {
    let t = topology(EVENT_GROUP);
    let mut c = Controller::new(&t, 0, EVENT_DAY);
    let mut now = EVENT_DAY;
    c.impair_zone("a");
    let out = c.replace_unhealthy(now, "web-a1");
    assert_eq!(launches(&out), ["web-c2"]);
    c.restore_zone("a");
    let d = Datapoints::new();
    let all = run(&mut c, &mut now, 10, &d);
    assert_eq!(launches(&all), ["web-a1"], "{all:?}");
    assert_eq!(terminations(&all).len(), 1, "{all:?}");
    assert_eq!(spread(&c), (1, 1), "{all:?}");
    assert_eq!(c.sizes().1, 2, "{all:?}");
}

/// A replacement launches while the unhealthy instance terminates: it
/// takes neither its name nor its slot while the maximum leaves a slot
/// (the lab registers it before the other drains); without one, both are
/// the replaced instance's (in place).
#[test]
fn a_replacement_takes_a_name_and_slot_of_its_own() {
    let slot =
        |c: &Controller, n: &str| (c.instances().iter()).find(|i| i.name == n).map(|i| i.slot);
    let t = topology("desired = 2\nmin = 2\nmax = 4\n");
    let mut c = Controller::new(&t, 0, EVENT_DAY);
    assert_eq!(slot(&c, "web-a1"), Some(1));
    let out = c.replace_unhealthy(EVENT_DAY, "web-a1");
    assert_eq!(launches(&out), ["web-a2"]);
    assert_eq!(slot(&c, "web-a2"), Some(3), "slot 1 still web-a1's");
    c.impair_zone("a");
    c.replace_unhealthy(EVENT_DAY, "web-a2");
    assert_eq!(names(&c), ["web-c1", "web-c2"]);
    assert_eq!(slot(&c, "web-c2"), Some(1), "slot 3 still web-a2's");
    // at the maximum, no slot to spare: the replaced one's name and slot
    let t = topology("desired = 2\nmin = 2\nmax = 2\n");
    let mut c = Controller::new(&t, 0, EVENT_DAY);
    let out = c.replace_unhealthy(EVENT_DAY, "web-a1");
    assert_eq!(launches(&out), ["web-a1"]);
    assert_eq!(slot(&c, "web-a1"), Some(1));
}

/// Every zone impaired: nothing can launch, and the group waits.
#[test]
fn with_every_zone_impaired_nothing_launches() {
    let t = topology("desired = 2\nmin = 1\nmax = 4\n");
    let mut c = Controller::new(&t, 0, EVENT_DAY);
    c.impair_zone("a");
    c.impair_zone("c");
    let out = c.replace_unhealthy(EVENT_DAY, "web-a1");
    assert_eq!(terminations(&out), ["web-a1"]);
    assert!(launches(&out).is_empty());
    assert_eq!(names(&c), ["web-c1"]);
}
