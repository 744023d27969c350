//! How an imported Auto Scaling group scales and how its target group
//! treats it: the group's health-check and warm-up properties,
//! `AWS::AutoScaling::ScalingPolicy` (target tracking on a predefined
//! metric; step scaling with the `AWS::CloudWatch::Alarm` that runs it),
//! `AWS::AutoScaling::ScheduledAction`, and the `TargetGroupAttributes`
//! and health-check properties of `AWS::ElasticLoadBalancingV2::TargetGroup`.
//! A value outside AWS's range is left out with a warning.

use std::collections::HashMap;
use std::time::Duration;

use toml::{Table, Value as Toml};

use super::values::{self, boolean, int, ref_id, string};
use super::Mapper;
use crate::cfn::{Resource, Value};
use crate::resolve::scaling::{
    is_cookie_name, is_health_check_path, is_reserved_cookie_name, HEALTH_INTERVAL, HEALTH_TIMEOUT,
    MAX_COOKIE_DURATION, MAX_DEREGISTRATION_DELAY, MAX_WARMUP, SLOW_START,
};
use crate::units::fmt_long_duration;

/// A finite number, written as a number or a string (`.nan`, `"inf"`
/// are none: an alarm on a NaN threshold never fires).
fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Num(n) => Some(*n),
        Value::Str(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|n: &f64| n.is_finite())
}

/// Whether `label` is the `ResourceLabel` of `ALBRequestCountPerTarget`:
/// `app/LOAD-BALANCER/ID/targetgroup/TARGET-GROUP/ID`, the load balancer's
/// and the target group's full names joined by `/`.
fn is_resource_label(label: &str) -> bool {
    let parts: Vec<&str> = label.split('/').collect();
    parts.len() == 6
        && parts[0] == "app"
        && parts[3] == "targetgroup"
        && parts.iter().all(|p| !p.is_empty())
}

/// A count of seconds as the format writes durations.
fn seconds(n: i64) -> Toml {
    Toml::String(fmt_long_duration(Duration::from_secs(n.unsigned_abs())))
}

/// Whether `n` seconds lie within `lo..=hi`.
fn within(n: i64, (lo, hi): (Duration, Duration)) -> bool {
    n >= 0 && (lo..=hi).contains(&Duration::from_secs(n as u64))
}

impl Mapper<'_> {
    /// A duration property in whole seconds, checked against its range;
    /// out of range is left out with a warning.
    fn seconds_in(
        &mut self,
        r: &Resource,
        key: &str,
        v: Option<&Value>,
        range: (Duration, Duration),
    ) -> Option<Toml> {
        let n = v.and_then(int)?;
        if within(n, range) {
            Some(seconds(n))
        } else {
            let msg = format!(
                "{key} {n} is outside AWS's range ({} to {}): left out",
                fmt_long_duration(range.0),
                fmt_long_duration(range.1)
            );
            self.warn(r, msg);
            None
        }
    }

    /// A policy's `EstimatedInstanceWarmup` as its `instance_warmup`.
    fn policy_warmup(&mut self, r: &Resource, t: &mut Table) {
        let warmup = values::prop(&r.props, "EstimatedInstanceWarmup");
        let range = (Duration::ZERO, MAX_WARMUP);
        if let Some(w) = self.seconds_in(r, "EstimatedInstanceWarmup", warmup, range) {
            t.insert("instance_warmup".into(), w);
        }
    }

    /// The group's `HealthCheckType`, `HealthCheckGracePeriod`,
    /// `DefaultInstanceWarmup` and `Cooldown`, as keys of its table.
    pub(super) fn group_scaling_keys(&mut self, r: &Resource, t: &mut Table) {
        let p = &r.props;
        match values::prop(p, "HealthCheckType")
            .and_then(string)
            .as_deref()
        {
            None => {}
            Some(k @ ("EC2" | "ELB")) => {
                t.insert("health_check_type".into(), Toml::String(k.into()));
            }
            Some(other) => self.warn(
                r,
                format!("HealthCheckType {other} is not EC2 or ELB: left out"),
            ),
        }
        let day = (Duration::ZERO, Duration::from_secs(86_400));
        for (key, field, range) in [
            ("HealthCheckGracePeriod", "health_check_grace_period", day),
            (
                "DefaultInstanceWarmup",
                "default_instance_warmup",
                (Duration::ZERO, MAX_WARMUP),
            ),
            ("Cooldown", "default_cooldown", day),
        ] {
            if let Some(v) = self.seconds_in(r, key, values::prop(p, key), range) {
                t.insert(field.into(), v);
            }
        }
    }

    /// A target group's settings, as keys of its listener's table.
    pub(super) fn target_group_keys(&mut self, g: &Resource) -> Table {
        let p = &g.props;
        let mut t = Table::new();
        let attrs: HashMap<String, String> = values::list(p.get("TargetGroupAttributes"))
            .into_iter()
            .filter_map(|a| {
                Some((
                    values::prop(a, "Key").and_then(string)?,
                    values::prop(a, "Value").and_then(string)?,
                ))
            })
            .collect();
        let attr = |k: &str| attrs.get(k).map(|v| Value::Str(v.clone()));
        if attr("stickiness.enabled").as_ref().and_then(boolean) == Some(true) {
            let kind = attrs
                .get("stickiness.type")
                .map_or("lb_cookie", String::as_str)
                .to_string();
            let mut s = Table::new();
            let cookie_range = (Duration::from_secs(1), MAX_COOKIE_DURATION);
            match kind.as_str() {
                "lb_cookie" | "app_cookie" => {
                    let key = format!("stickiness.{kind}.duration_seconds");
                    let duration = self.seconds_in(g, &key, attr(&key).as_ref(), cookie_range);
                    let name = attrs.get("stickiness.app_cookie.cookie_name").cloned();
                    let bad_name = name
                        .as_deref()
                        .filter(|n| !is_cookie_name(n) || is_reserved_cookie_name(n));
                    if kind == "app_cookie" && name.is_none() {
                        self.warn(g, "app_cookie stickiness without stickiness.app_cookie.cookie_name: left out");
                    } else if let (true, Some(n)) = (kind == "app_cookie", bad_name) {
                        let msg = format!("stickiness.app_cookie.cookie_name `{}` is not a cookie name AWS takes (a token, not starting AWSALB): stickiness left out", n.escape_debug());
                        self.warn(g, msg);
                    } else {
                        s.insert("type".into(), Toml::String(kind.clone()));
                        if kind == "app_cookie" {
                            s.insert("cookie_name".into(), Toml::String(name.unwrap_or_default()));
                        }
                        if let Some(d) = duration {
                            s.insert("duration".into(), d);
                        }
                        t.insert("stickiness".into(), Toml::Table(s));
                    }
                }
                other => self.warn(
                    g,
                    format!("stickiness.type {other} is not one an ALB has: left out"),
                ),
            }
        }
        let key = "deregistration_delay.timeout_seconds";
        if let Some(d) = self.seconds_in(
            g,
            key,
            attr(key).as_ref(),
            (Duration::ZERO, MAX_DEREGISTRATION_DELAY),
        ) {
            t.insert("deregistration_delay".into(), d);
        }
        let key = "slow_start.duration_seconds";
        if attr(key).as_ref().and_then(int) != Some(0) {
            if let Some(d) = self.seconds_in(g, key, attr(key).as_ref(), SLOW_START) {
                t.insert("slow_start".into(), d);
            }
        }
        let mut h = Table::new();
        if let Some(path) = values::prop(p, "HealthCheckPath").and_then(string) {
            if is_health_check_path(&path) {
                h.insert("path".into(), Toml::String(path));
            } else {
                let msg = format!(
                    "HealthCheckPath `{}` is not a URL path: left out",
                    path.escape_debug()
                );
                self.warn(g, msg);
            }
        }
        for (key, field, range) in [
            ("HealthCheckIntervalSeconds", "interval", HEALTH_INTERVAL),
            ("HealthCheckTimeoutSeconds", "timeout", HEALTH_TIMEOUT),
        ] {
            if let Some(v) = self.seconds_in(g, key, values::prop(p, key), range) {
                h.insert(field.into(), v);
            }
        }
        for (key, field) in [
            ("HealthyThresholdCount", "healthy_threshold"),
            ("UnhealthyThresholdCount", "unhealthy_threshold"),
        ] {
            match values::prop(p, key).and_then(int) {
                Some(n) if (2..=10).contains(&n) => {
                    h.insert(field.into(), Toml::Integer(n));
                }
                Some(n) => self.warn(
                    g,
                    format!("{key} {n} is outside AWS's range (2 to 10): left out"),
                ),
                None => {}
            }
        }
        if !h.is_empty() {
            t.insert("health_check".into(), Toml::Table(h));
        }
        t
    }

    /// Scaling policies and scheduled actions, into their groups' tables
    /// (after the listeners: `ALBRequestCountPerTarget` names the load
    /// balancer whose listener serves the group).
    pub(super) fn scaling(&mut self) {
        for r in self.of_kind("AWS::AutoScaling::ScalingPolicy") {
            self.consumed.insert(r.id.clone());
            let Some(gi) = self.group_of(r) else { continue };
            let kind = values::prop(&r.props, "PolicyType")
                .and_then(string)
                .unwrap_or_else(|| "SimpleScaling".into());
            let (key, table) = match kind.as_str() {
                "TargetTrackingScaling" => ("target_tracking", self.target_tracking(r, gi)),
                "StepScaling" => ("step_scaling", self.step_scaling(r, gi)),
                other => {
                    self.warn(r, format!("{other} policies are not modeled: ignored"));
                    continue;
                }
            };
            if let Some(mut t) = table {
                t.insert("name".into(), Toml::String(super::names::kebab(&r.id)));
                push(&mut self.asgs[gi].1, key, t);
            }
        }
        for r in self.of_kind("AWS::AutoScaling::ScheduledAction") {
            self.consumed.insert(r.id.clone());
            let Some(gi) = self.group_of(r) else { continue };
            if let Some(t) = self.scheduled(r) {
                push(&mut self.asgs[gi].1, "scheduled", t);
            }
        }
    }

    /// The imported group a policy or action names (`AutoScalingGroupName`).
    fn group_of(&mut self, r: &Resource) -> Option<usize> {
        let g = values::prop(&r.props, "AutoScalingGroupName");
        let found = g
            .and_then(ref_id)
            .and_then(|id| self.asgs.iter().position(|(gid, _)| gid == id));
        if found.is_none() {
            let msg = format!(
                "AutoScalingGroupName {} is not an imported Auto Scaling group: ignored",
                g.unwrap_or(&Value::Null)
            );
            self.warn(r, msg);
        }
        found
    }

    /// The load balancer whose listeners serve group `gi`, by name.
    fn load_balancer_of(&mut self, r: &Resource, gi: usize) -> Option<String> {
        let group = self.asgs[gi]
            .1
            .get("name")
            .and_then(Toml::as_str)
            .unwrap_or_default()
            .to_string();
        let serving: Vec<String> = self
            .lbs
            .iter()
            .filter(|(_, lb)| {
                lb.get("listeners")
                    .and_then(Toml::as_array)
                    .is_some_and(|ls| {
                        ls.iter().any(|l| {
                            l.get("targets").and_then(Toml::as_array).is_some_and(|ts| {
                                ts.iter().any(|t| t.as_str() == Some(group.as_str()))
                            })
                        })
                    })
            })
            .filter_map(|(_, lb)| lb.get("name").and_then(Toml::as_str).map(String::from))
            .collect();
        match serving.as_slice() {
            [one] => Some(one.clone()),
            [] => {
                self.warn(r, format!("no imported load balancer serves `{group}`: its request-count metric has no load balancer, ignored"));
                None
            }
            _ => {
                self.warn(
                    r,
                    format!(
                        "several load balancers serve `{group}` ({}): ignored",
                        serving.join(", ")
                    ),
                );
                None
            }
        }
    }

    /// A metric by its predefined name, with its load balancer.
    fn metric_keys(&mut self, r: &Resource, gi: usize, name: &str, t: &mut Table) -> Option<()> {
        match name {
            "ALBRequestCountPerTarget" => {
                let lb = self.load_balancer_of(r, gi)?;
                t.insert("load_balancer".into(), Toml::String(lb));
            }
            "ASGAverageCPUUtilization" | "ASGAverageNetworkIn" | "ASGAverageNetworkOut" => {}
            other => {
                self.warn(r, format!("metric {other} is not modeled: ignored"));
                return None;
            }
        }
        t.insert("metric".into(), Toml::String(name.into()));
        Some(())
    }

    /// A target-tracking policy on a predefined metric.
    fn target_tracking(&mut self, r: &Resource, gi: usize) -> Option<Table> {
        let c = values::prop(&r.props, "TargetTrackingConfiguration")?;
        let Some(metric) = values::prop(c, "PredefinedMetricSpecification")
            .and_then(|m| values::prop(m, "PredefinedMetricType"))
            .and_then(string)
        else {
            self.warn(r, "a customized metric is not modeled: ignored");
            return None;
        };
        let mut t = Table::new();
        self.metric_keys(r, gi, &metric, &mut t)?;
        if metric == "ALBRequestCountPerTarget" {
            let label = values::prop(c, "PredefinedMetricSpecification")
                .and_then(|m| values::prop(m, "ResourceLabel"));
            match label {
                None => self.warn(r, "ALBRequestCountPerTarget without a ResourceLabel, which AWS requires: the load balancer serving the group is used"),
                Some(Value::Str(l)) if !is_resource_label(l) => {
                    let msg = format!("ResourceLabel `{}` is not app/LOAD-BALANCER/ID/targetgroup/TARGET-GROUP/ID: the load balancer serving the group is used", l.escape_debug());
                    self.warn(r, msg);
                }
                // full names joined from attributes known at deployment
                Some(_) => {}
            }
        }
        let Some(target) = values::prop(c, "TargetValue")
            .and_then(number)
            .filter(|v| *v > 0.0)
        else {
            self.warn(r, "no TargetValue above 0: ignored");
            return None;
        };
        t.insert("target".into(), Toml::Float(target));
        if values::prop(c, "DisableScaleIn").and_then(boolean) == Some(true) {
            t.insert("disable_scale_in".into(), Toml::Boolean(true));
        }
        self.policy_warmup(r, &mut t);
        Some(t)
    }

    /// A step-scaling policy with the alarm whose actions name it.
    fn step_scaling(&mut self, r: &Resource, gi: usize) -> Option<Table> {
        let p = &r.props;
        let alarm = self
            .of_kind("AWS::CloudWatch::Alarm")
            .into_iter()
            .find(|a| {
                values::list(a.props.get("AlarmActions"))
                    .iter()
                    .any(|x| ref_id(x) == Some(r.id.as_str()))
            });
        let Some(alarm) = alarm else {
            self.warn(
                r,
                "no AWS::CloudWatch::Alarm of this template runs it: ignored",
            );
            return None;
        };
        self.consumed.insert(alarm.id.clone());
        let a = &alarm.props;
        let namespace = values::prop(a, "Namespace")
            .and_then(string)
            .unwrap_or_default();
        let metric_name = values::prop(a, "MetricName")
            .and_then(string)
            .unwrap_or_default();
        let metric = match (namespace.as_str(), metric_name.as_str()) {
            ("AWS/EC2", "CPUUtilization") => "ASGAverageCPUUtilization",
            ("AWS/EC2", "NetworkIn") => "ASGAverageNetworkIn",
            ("AWS/EC2", "NetworkOut") => "ASGAverageNetworkOut",
            ("AWS/ApplicationELB", "RequestCountPerTarget") => "ALBRequestCountPerTarget",
            (ns, m) => {
                self.warn(
                    r,
                    format!(
                        "its alarm {} watches {ns} {m}, which is not modeled: ignored",
                        alarm.id
                    ),
                );
                return None;
            }
        };
        if values::prop(a, "Period")
            .and_then(int)
            .is_some_and(|s| s != 60)
        {
            self.warn(
                r,
                format!(
                    "its alarm {} has a Period other than 60 s: ignored",
                    alarm.id
                ),
            );
            return None;
        }
        let mut t = Table::new();
        self.metric_keys(r, gi, metric, &mut t)?;
        let (Some(threshold), Some(comparison)) = (
            values::prop(a, "Threshold").and_then(number),
            values::prop(a, "ComparisonOperator").and_then(string),
        ) else {
            self.warn(
                r,
                format!(
                    "its alarm {} has no Threshold or ComparisonOperator: ignored",
                    alarm.id
                ),
            );
            return None;
        };
        t.insert("threshold".into(), Toml::Float(threshold));
        t.insert("comparison".into(), Toml::String(comparison));
        copy_props(
            a,
            &mut t,
            &[
                ("EvaluationPeriods", "evaluation_periods"),
                ("DatapointsToAlarm", "datapoints"),
            ],
            integer,
        );
        let kind = values::prop(p, "AdjustmentType")
            .and_then(string)
            .unwrap_or_default();
        t.insert("adjustment_type".into(), Toml::String(kind));
        let steps: Vec<Toml> = values::list(p.get("StepAdjustments"))
            .into_iter()
            .map(|s| {
                let mut st = Table::new();
                copy_props(
                    s,
                    &mut st,
                    &[
                        ("MetricIntervalLowerBound", "lower"),
                        ("MetricIntervalUpperBound", "upper"),
                    ],
                    float,
                );
                let adj = values::prop(s, "ScalingAdjustment")
                    .and_then(int)
                    .unwrap_or(0);
                st.insert("adjustment".into(), Toml::Integer(adj));
                Toml::Table(st)
            })
            .collect();
        t.insert("steps".into(), Toml::Array(steps));
        if let Some(m) = values::prop(p, "MinAdjustmentMagnitude").and_then(int) {
            t.insert("min_adjustment_magnitude".into(), Toml::Integer(m));
        }
        self.policy_warmup(r, &mut t);
        Some(t)
    }

    /// A scheduled action with a recurrence in UTC.
    fn scheduled(&mut self, r: &Resource) -> Option<Table> {
        let p = &r.props;
        let Some(cron) = values::prop(p, "Recurrence").and_then(string) else {
            self.warn(
                r,
                "a one-time action (no Recurrence) is not modeled: ignored",
            );
            return None;
        };
        if let Some(tz) = values::prop(p, "TimeZone")
            .and_then(string)
            .filter(|z| !matches!(z.as_str(), "UTC" | "Etc/UTC"))
        {
            self.warn(
                r,
                format!("TimeZone {tz}: only UTC recurrences are modeled, ignored"),
            );
            return None;
        }
        let mut t = Table::new();
        t.insert("name".into(), Toml::String(super::names::kebab(&r.id)));
        t.insert("cron".into(), Toml::String(cron));
        copy_props(
            p,
            &mut t,
            &[
                ("MinSize", "min"),
                ("MaxSize", "max"),
                ("DesiredCapacity", "desired"),
            ],
            integer,
        );
        Some(t)
    }
}

/// Copies the properties `pairs` names (CloudFormation key, topology key)
/// from `from` into `to`, each read by `read` when given.
fn copy_props(
    from: &Value,
    to: &mut Table,
    pairs: &[(&str, &str)],
    read: fn(&Value) -> Option<Toml>,
) {
    for (key, field) in pairs {
        if let Some(v) = values::prop(from, key).and_then(read) {
            to.insert((*field).into(), v);
        }
    }
}

/// An integer property as TOML.
fn integer(v: &Value) -> Option<Toml> {
    int(v).map(Toml::Integer)
}

/// A number property as TOML.
fn float(v: &Value) -> Option<Toml> {
    number(v).map(Toml::Float)
}

/// Appends a table to the array `key` of `t`.
fn push(t: &mut Table, key: &str, item: Table) {
    if let Some(list) = t
        .entry(key)
        .or_insert_with(|| Toml::Array(Vec::new()))
        .as_array_mut()
    {
        list.push(Toml::Table(item));
    }
}
