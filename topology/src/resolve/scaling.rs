//! How Auto Scaling groups scale (`health_check_type`, warm-up, cooldown,
//! `[[...target_tracking]]`, `[[...step_scaling]]`, `[[...scheduled]]`)
//! and the target-group settings of listeners (`stickiness`,
//! `deregistration_delay`, `slow_start`, `health_check`), each value
//! checked against AWS's documented range (docs/semantics.md cites the
//! pages).

use std::time::Duration;

use super::{list, Names, NodeNames, Resolver};
use crate::format::*;
use crate::model::scaling::*;
use crate::model::*;
use crate::units::{fmt_long_duration, parse_decimal, parse_long_duration, UnitError};

/// One second.
const SECOND: Duration = Duration::from_secs(1);
/// One day.
const DAY: Duration = Duration::from_secs(86_400);
/// AWS: cookie durations from 1 s to 7 days.
pub(crate) const MAX_COOKIE_DURATION: Duration = Duration::from_secs(7 * 86_400);
/// AWS: the largest deregistration delay.
pub(crate) const MAX_DEREGISTRATION_DELAY: Duration = Duration::from_secs(3600);
/// AWS: slow start from 30 s to 900 s.
pub(crate) const SLOW_START: (Duration, Duration) =
    (Duration::from_secs(30), Duration::from_secs(900));
/// AWS: the health-check interval from 5 s to 300 s.
pub(crate) const HEALTH_INTERVAL: (Duration, Duration) =
    (Duration::from_secs(5), Duration::from_secs(300));
/// AWS: the health-check timeout from 2 s to 120 s.
pub(crate) const HEALTH_TIMEOUT: (Duration, Duration) =
    (Duration::from_secs(2), Duration::from_secs(120));
/// AWS: the largest default instance warm-up.
pub(crate) const MAX_WARMUP: Duration = Duration::from_secs(3600);
/// CloudWatch: evaluation periods times the period (one minute) at most
/// one day.
const MAX_EVALUATION_PERIODS: i64 = 1440;
/// The largest group the resolver accepts (as for `desired`).
const MAX_CAPACITY: i64 = 1000;
/// The metrics a policy may name.
const METRICS: [&str; 4] = [
    "ALBRequestCountPerTarget",
    "ASGAverageCPUUtilization",
    "ASGAverageNetworkIn",
    "ASGAverageNetworkOut",
];

/// Whether `path` is what a health check may ask: a URL path and query
/// (RFC 3986's `pchar`s, `/` and `?`) starting with `/`, 1024 characters at
/// most (AWS's limit). A space, `#`, `"` or control character would end
/// the request line or the lab's HAProxy configuration line it goes in.
pub fn is_health_check_path(path: &str) -> bool {
    path.starts_with('/')
        && path.len() <= 1024
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/-._~!$&'()*+,;=:@%?".contains(&b))
}

/// Whether `name` is a cookie name (an HTTP token: RFC 6265, RFC 9110).
pub fn is_cookie_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b))
}

/// Whether `name` starts as the cookies an ALB sets (AWSALB, AWSALBAPP,
/// AWSALBTG), which `app_cookie` stickiness may not name.
pub fn is_reserved_cookie_name(name: &str) -> bool {
    ["AWSALB", "AWSALBAPP", "AWSALBTG"]
        .iter()
        .any(|p| name.starts_with(p))
}

impl Resolver<'_> {
    /// A duration written with a unit (`"300s"`, `"10m"`, `"5d"`), in
    /// whole seconds, from `lo` to `hi`.
    fn long_duration(
        &mut self,
        v: &AnyValue,
        what: &str,
        (lo, hi): (Duration, Duration),
    ) -> Option<Duration> {
        const EXPECTED: &str = "a duration in quotes: a number and a unit (s, m, h or d), like \"300s\", \"10m\", \"5d\"";
        let expected_range = || {
            format!(
                "{what} from {} to {}",
                fmt_long_duration(lo),
                fmt_long_duration(hi)
            )
        };
        let text =
            self.duration_text(v, EXPECTED, |shown| format!("did you mean \"{shown}s\"?"))?;
        match parse_long_duration(&text) {
            Ok(d) if d.subsec_nanos() != 0 => {
                let d = self.error(
                    v.span(),
                    format!("{what} {} is not a whole number of seconds", text.trim()),
                );
                d.expected = Some(expected_range());
                d.hint = Some("AWS takes these settings in whole seconds".into());
                None
            }
            Ok(d) if d >= lo && d <= hi => Some(d),
            Ok(_) | Err(UnitError::OutOfRange) => {
                let d = self.error(v.span(), format!("{what} {} is out of range", text.trim()));
                d.expected = Some(expected_range());
                None
            }
            Err(UnitError::Malformed) => {
                let d = self.error(v.span(), format!("`{text}` is not a duration"));
                d.expected = Some(EXPECTED.into());
                if parse_decimal(text.trim()).is_some() {
                    d.hint = Some(format!("did you mean \"{}s\"?", text.trim()));
                }
                None
            }
        }
    }

    /// The target-group settings of a listener's targets.
    pub(super) fn target_group(&mut self, l: &RawListener) -> TargetGroupSettings {
        let mut tg = TargetGroupSettings::default();
        if let Some(s) = &l.stickiness {
            tg.stickiness = self.stickiness(s);
        }
        if let Some(v) = &l.deregistration_delay {
            let range = (Duration::ZERO, MAX_DEREGISTRATION_DELAY);
            if let Some(d) = self.long_duration(v, "deregistration delay", range) {
                tg.deregistration_delay = d;
            }
        }
        if let Some(v) = &l.slow_start {
            let off = matches!(v.get_ref(), toml::Value::String(s) if parse_long_duration(s) == Ok(Duration::ZERO));
            if !off {
                tg.slow_start = self.long_duration(v, "slow start", SLOW_START);
                if tg.slow_start.is_none() {
                    if let Some(d) = self.diags.last_mut() {
                        d.hint = Some("\"0s\" turns slow start off".into());
                    }
                }
            }
        }
        if let Some(h) = &l.health_check {
            tg.health_check = self.health_check(h);
        }
        tg
    }

    /// `stickiness = { type, cookie_name, duration }`.
    fn stickiness(&mut self, s: &toml::Spanned<RawStickiness>) -> Option<Stickiness> {
        let raw = s.get_ref();
        let duration = match &raw.duration {
            Some(v) => self.long_duration(v, "cookie duration", (SECOND, MAX_COOKIE_DURATION))?,
            None => DAY,
        };
        match raw.kind.get_ref().as_str() {
            "lb_cookie" => {
                if let Some(c) = &raw.cookie_name {
                    let d = self.error(c.span(), "`cookie_name` is for `app_cookie` stickiness");
                    d.hint = Some("an `lb_cookie` is the load balancer's own AWSALB cookie: drop `cookie_name`, or write `type = \"app_cookie\"`".into());
                    return None;
                }
                Some(Stickiness::LbCookie { duration })
            }
            "app_cookie" => {
                let Some(c) = &raw.cookie_name else {
                    let d = self.error(s.span(), "`app_cookie` stickiness names no cookie");
                    d.expected =
                        Some("`cookie_name = \"...\"`: the application's session cookie".into());
                    return None;
                };
                let name = c.get_ref();
                if !is_cookie_name(name) {
                    let d = self.error(
                        c.span(),
                        format!("`{}` is not a cookie name", name.escape_debug()),
                    );
                    d.expected = Some(
                        "a cookie name: letters, digits and `!#$%&'*+-.^_`|~`, no spaces".into(),
                    );
                    return None;
                }
                if is_reserved_cookie_name(name) {
                    let d = self.error(
                        c.span(),
                        format!("cookie name `{name}` is reserved by the load balancer"),
                    );
                    d.expected = Some(
                        "a name that does not start with AWSALB, AWSALBAPP or AWSALBTG".into(),
                    );
                    return None;
                }
                Some(Stickiness::AppCookie {
                    cookie_name: name.clone(),
                    duration,
                })
            }
            other => {
                let d = self.error(
                    raw.kind.span(),
                    format!("unknown stickiness type `{other}`"),
                );
                d.expected = Some("`lb_cookie` or `app_cookie`".into());
                None
            }
        }
    }

    /// `health_check = { path, interval, timeout, healthy_threshold,
    /// unhealthy_threshold }`.
    fn health_check(&mut self, h: &toml::Spanned<RawHealthCheck>) -> HealthCheck {
        let raw = h.get_ref();
        let mut hc = HealthCheck::default();
        if let Some(p) = &raw.path {
            if is_health_check_path(p.get_ref()) {
                hc.path = p.get_ref().clone();
            } else {
                let d = self.error(
                    p.span(),
                    format!(
                        "health-check path `{}` is not a path",
                        p.get_ref().escape_debug()
                    ),
                );
                d.expected = Some(
                    "a URL path starting with `/`, up to 1024 characters: letters, digits, `/` and `-._~!$&'()*+,;=:@%?`, no space, `#` or `\"`".into(),
                );
            }
        }
        if let Some(v) = &raw.interval {
            if let Some(d) = self.long_duration(v, "health-check interval", HEALTH_INTERVAL) {
                hc.interval = d;
            }
        }
        let mut timeout_ok = true;
        if let Some(v) = &raw.timeout {
            match self.long_duration(v, "health-check timeout", HEALTH_TIMEOUT) {
                Some(d) => hc.timeout = d,
                None => timeout_ok = false,
            }
        }
        if timeout_ok && hc.timeout >= hc.interval {
            let span = raw
                .timeout
                .as_ref()
                .or(raw.interval.as_ref())
                .map_or(h.span(), |v| v.span());
            let d = self.error(
                span,
                format!(
                    "health-check timeout {} is not less than the interval {}",
                    fmt_long_duration(hc.timeout),
                    fmt_long_duration(hc.interval)
                ),
            );
            d.expected = Some("a timeout shorter than the interval".into());
        }
        for (v, what, out) in [
            (
                &raw.healthy_threshold,
                "healthy threshold",
                &mut hc.healthy_threshold,
            ),
            (
                &raw.unhealthy_threshold,
                "unhealthy threshold",
                &mut hc.unhealthy_threshold,
            ),
        ] {
            if let Some(n) = v.as_ref().and_then(|v| self.rep.int_in(v, 2, 10, what)) {
                *out = n as u32;
            }
        }
        hc
    }

    /// The scaling settings of every group, once load balancers and their
    /// listeners exist (`ALBRequestCountPerTarget` names one).
    pub(super) fn scaling(&mut self, v: &RawVpc, t: &mut Topology, nodes: &NodeNames) {
        for (gi, g) in v.auto_scaling_group.iter().enumerate() {
            let settings = self.group_scaling(v, g, t, nodes);
            if let Some(group) = t.auto_scaling_groups.get_mut(gi) {
                group.scaling = settings;
            }
        }
    }

    /// One group's settings.
    fn group_scaling(
        &mut self,
        v: &RawVpc,
        g: &RawAutoScalingGroup,
        t: &Topology,
        nodes: &NodeNames,
    ) -> ScalingSettings {
        let mut s = ScalingSettings {
            default_cooldown: DEFAULT_COOLDOWN,
            ..Default::default()
        };
        if let Some(h) = &g.health_check_type {
            match h.get_ref().as_str() {
                "EC2" => s.health_check_type = HealthCheckType::Ec2,
                "ELB" => s.health_check_type = HealthCheckType::Elb,
                other => {
                    let d = self.error(h.span(), format!("unknown health-check type `{other}`"));
                    d.expected = Some("`EC2` or `ELB`".into());
                }
            }
        }
        if let Some(v) = &g.health_check_grace_period {
            let range = (Duration::ZERO, DAY);
            s.health_check_grace_period = self
                .long_duration(v, "health-check grace period", range)
                .unwrap_or_default();
        }
        if let Some(v) = &g.default_instance_warmup {
            s.default_instance_warmup =
                self.long_duration(v, "instance warm-up", (Duration::ZERO, MAX_WARMUP));
        }
        if let Some(v) = &g.default_cooldown {
            if let Some(d) = self.long_duration(v, "cooldown", (Duration::ZERO, DAY)) {
                s.default_cooldown = d;
            }
        }
        let policies = (g.target_tracking.iter().map(|p| p.metric.span()))
            .chain(g.step_scaling.iter().map(|p| p.metric.span()));
        self.scaling_quota(
            policies,
            super::aws_limits::MAX_SCALING_POLICIES,
            "scaling policies",
            "per Auto Scaling group",
        );
        self.scaling_quota(
            g.scheduled.iter().map(|a| a.cron.span()),
            super::aws_limits::MAX_SCHEDULED_ACTIONS,
            "scheduled actions",
            "per Auto Scaling group",
        );
        let mut policy_names = Names::new();
        for (i, p) in g.target_tracking.iter().enumerate() {
            let name = self.policy_name(p.name.as_ref(), "target-tracking", i, &mut policy_names);
            let Some(metric) =
                self.scaling_metric(&p.metric, p.load_balancer.as_ref(), g, v, nodes, t)
            else {
                continue;
            };
            let target = *p.target.get_ref();
            if !(target > 0.0 && target.is_finite()) {
                let d = self.error(p.target.span(), format!("target {target} is not above 0"));
                d.expected = Some(format!("a target value above 0 for {}", metric.aws_name()));
                continue;
            }
            let instance_warmup = p.instance_warmup.as_ref().and_then(|w| {
                self.long_duration(w, "instance warm-up", (Duration::ZERO, MAX_WARMUP))
            });
            s.target_tracking.push(TargetTrackingPolicy {
                name,
                metric,
                target,
                disable_scale_in: p.disable_scale_in.unwrap_or(false),
                instance_warmup,
            });
        }
        for (i, p) in g.step_scaling.iter().enumerate() {
            let name = self.policy_name(p.name.as_ref(), "step-scaling", i, &mut policy_names);
            if let Some(policy) = self.step_policy(name, p, g, v, nodes, t) {
                s.step_scaling.push(policy);
            }
        }
        let sizes = t
            .auto_scaling_groups
            .iter()
            .find(|x| x.name == *g.name.get_ref())
            .map_or((0, u32::MAX), |x| (x.min, x.max));
        for (i, a) in g.scheduled.iter().enumerate() {
            let name = self.policy_name(a.name.as_ref(), "scheduled", i, &mut policy_names);
            if let Some(action) = self.scheduled_action(name, a, sizes) {
                s.scheduled.push(action);
            }
        }
        s
    }

    /// A policy's or action's name, unique in its group; `<kind>-<n>`
    /// when the file gives none.
    fn policy_name(
        &mut self,
        name: Option<&Str>,
        kind: &str,
        i: usize,
        seen: &mut Names,
    ) -> String {
        let Some(n) = name else {
            return format!("{kind}-{}", i + 1);
        };
        self.scaling_name(n, "policy");
        if seen.insert(n.get_ref().clone(), i).is_some() {
            let d = self.error(n.span(), format!("duplicate policy name `{}`", n.get_ref()));
            d.hint = Some("policies and scheduled actions of a group need unique names".into());
        }
        n.get_ref().clone()
    }

    /// A policy's metric; `ALBRequestCountPerTarget` names an application
    /// load balancer with a listener whose targets are this group.
    fn scaling_metric(
        &mut self,
        metric: &Str,
        lb: Option<&Str>,
        g: &RawAutoScalingGroup,
        v: &RawVpc,
        nodes: &NodeNames,
        t: &Topology,
    ) -> Option<ScalingMetric> {
        let m = match metric.get_ref().as_str() {
            "ASGAverageCPUUtilization" => ScalingMetric::CpuUtilization,
            "ASGAverageNetworkIn" => ScalingMetric::NetworkIn,
            "ASGAverageNetworkOut" => ScalingMetric::NetworkOut,
            "ALBRequestCountPerTarget" => {
                let Some(lb) = lb else {
                    let d = self.error(
                        metric.span(),
                        "ALBRequestCountPerTarget names no load balancer",
                    );
                    d.expected = Some("`load_balancer = \"...\"`: the application load balancer in front of the group".into());
                    return None;
                };
                let lbs: Names = nodes
                    .names
                    .iter()
                    .filter(|(_, &n)| matches!(t.nodes[n].kind, NodeKind::LoadBalancer { .. }))
                    .map(|(k, v)| (k.clone(), *v))
                    .collect();
                let id = self.lookup("load balancer", lb, &lbs)?;
                let raw = v
                    .load_balancer
                    .iter()
                    .find(|r| r.name.get_ref() == lb.get_ref())?;
                if raw
                    .lb_type
                    .as_ref()
                    .is_some_and(|t| t.get_ref() == "network")
                {
                    let d = self.error(
                        lb.span(),
                        format!("`{}` is a network load balancer", lb.get_ref()),
                    );
                    d.expected = Some("an application load balancer: ALBRequestCountPerTarget counts HTTP requests".into());
                    return None;
                }
                let serves = raw
                    .listeners
                    .iter()
                    .any(|l| l.targets.iter().any(|x| x.get_ref() == g.name.get_ref()));
                if !serves {
                    let d = self.error(
                        lb.span(),
                        format!(
                            "no listener of `{}` has the group `{}` as its target",
                            lb.get_ref(),
                            g.name.get_ref()
                        ),
                    );
                    d.hint = Some(format!(
                        "add `\"{}\"` to the `targets` of one of its listeners",
                        g.name.get_ref()
                    ));
                    return None;
                }
                return Some(ScalingMetric::AlbRequestCountPerTarget { load_balancer: id });
            }
            other => {
                let d = self.error(metric.span(), format!("unknown scaling metric `{other}`"));
                d.expected = Some(format!("one of {}", list(&METRICS)));
                d.hint = crate::diag::did_you_mean(other, METRICS.iter().copied())
                    .map(|s| format!("did you mean `{s}`?"));
                return None;
            }
        };
        if let Some(lb) = lb {
            let d = self.error(
                lb.span(),
                format!("{} names no load balancer", metric.get_ref()),
            );
            d.hint = Some("`load_balancer` is for ALBRequestCountPerTarget only: drop it".into());
            return None;
        }
        Some(m)
    }

    /// A step-scaling policy: its alarm and its steps.
    fn step_policy(
        &mut self,
        name: String,
        p: &RawStepScaling,
        g: &RawAutoScalingGroup,
        v: &RawVpc,
        nodes: &NodeNames,
        t: &Topology,
    ) -> Option<StepScalingPolicy> {
        let metric = self.scaling_metric(&p.metric, p.load_balancer.as_ref(), g, v, nodes, t);
        let comparison = match p.comparison.get_ref().as_str() {
            "GreaterThanOrEqualToThreshold" => Some(Comparison::GreaterOrEqual),
            "GreaterThanThreshold" => Some(Comparison::Greater),
            "LessThanThreshold" => Some(Comparison::Less),
            "LessThanOrEqualToThreshold" => Some(Comparison::LessOrEqual),
            other => {
                let d = self.error(p.comparison.span(), format!("unknown comparison `{other}`"));
                d.expected = Some("`GreaterThanOrEqualToThreshold`, `GreaterThanThreshold`, `LessThanThreshold` or `LessThanOrEqualToThreshold`".into());
                None
            }
        };
        let periods = match &p.evaluation_periods {
            Some(n) => self
                .rep
                .int_in(n, 1, MAX_EVALUATION_PERIODS, "evaluation periods")?,
            None => 1,
        };
        let datapoints = match &p.datapoints {
            Some(n) => self.rep.int_in(n, 1, periods, "datapoints to alarm")?,
            None => periods,
        };
        let adjustment_type = match p.adjustment_type.get_ref().as_str() {
            "ChangeInCapacity" => Some(AdjustmentType::ChangeInCapacity),
            "ExactCapacity" => Some(AdjustmentType::ExactCapacity),
            "PercentChangeInCapacity" => Some(AdjustmentType::PercentChangeInCapacity),
            other => {
                let d = self.error(
                    p.adjustment_type.span(),
                    format!("unknown adjustment type `{other}`"),
                );
                d.expected =
                    Some("`ChangeInCapacity`, `ExactCapacity` or `PercentChangeInCapacity`".into());
                None
            }
        };
        let threshold = *p.threshold.get_ref();
        if !threshold.is_finite() {
            let d = self.error(
                p.threshold.span(),
                format!("threshold {threshold} is not a number"),
            );
            d.expected = Some("a finite threshold for the alarm".into());
        }
        let steps = self.steps(p, adjustment_type)?;
        let min_adjustment_magnitude = match &p.min_adjustment_magnitude {
            None => None,
            Some(m) if adjustment_type == Some(AdjustmentType::PercentChangeInCapacity) => Some(
                self.rep
                    .int_in(m, 1, MAX_CAPACITY, "minimum adjustment magnitude")?
                    as u32,
            ),
            Some(m) => {
                let d = self.error(
                    m.span(),
                    "`min_adjustment_magnitude` is for `PercentChangeInCapacity` only",
                );
                d.hint = Some(
                    "drop it, or write `adjustment_type = \"PercentChangeInCapacity\"`".into(),
                );
                return None;
            }
        };
        let instance_warmup = p
            .instance_warmup
            .as_ref()
            .and_then(|w| self.long_duration(w, "instance warm-up", (Duration::ZERO, MAX_WARMUP)));
        Some(StepScalingPolicy {
            name,
            alarm: AlarmSpec {
                metric: metric?,
                threshold: threshold.is_finite().then_some(threshold)?,
                comparison: comparison?,
                datapoints: datapoints as u32,
                evaluation_periods: periods as u32,
            },
            adjustment_type: adjustment_type?,
            steps,
            min_adjustment_magnitude,
            instance_warmup,
        })
    }

    /// The steps of a policy, sorted, checked as AWS checks them: no gap
    /// and no overlap, one open end at most on each side, no step open on
    /// both.
    fn steps(
        &mut self,
        p: &RawStepScaling,
        kind: Option<AdjustmentType>,
    ) -> Option<Vec<StepAdjustment>> {
        if p.steps.is_empty() {
            let d = self.error(
                p.adjustment_type.span(),
                "a step-scaling policy with no steps",
            );
            d.expected = Some(
                "`steps = [{ lower = 0, adjustment = 1 }]`: bounds relative to the threshold"
                    .into(),
            );
            return None;
        }
        self.scaling_quota(
            p.steps.iter().map(|s| s.span()),
            super::aws_limits::MAX_STEP_ADJUSTMENTS,
            "step adjustments",
            "per step-scaling policy",
        );
        let mut steps = Vec::new();
        let mut ok = true;
        for s in &p.steps {
            let raw = s.get_ref();
            let lower = raw.lower.as_ref().map(|l| *l.get_ref());
            let upper = raw.upper.as_ref().map(|u| *u.get_ref());
            let adjustment = *raw.adjustment.get_ref();
            let bad = if lower.into_iter().chain(upper).any(|b| !b.is_finite()) {
                Some((
                    "a step bound that is not a number".to_string(),
                    "finite bounds; leave a bound out for an open end".to_string(),
                ))
            } else if lower.is_none() && upper.is_none() {
                Some((
                    "a step with neither bound".to_string(),
                    "a `lower` or an `upper` bound, relative to the threshold".to_string(),
                ))
            } else if let (Some(l), Some(u)) = (lower, upper) {
                (l >= u).then(|| {
                    (
                        format!("step bounds {l}..{u} are empty"),
                        "a lower bound below the upper one".to_string(),
                    )
                })
            } else {
                None
            };
            if let Some((msg, expected)) = bad {
                let d = self.error(s.span(), msg);
                d.expected = Some(expected);
                ok = false;
                continue;
            }
            let adj_ok = match kind {
                Some(AdjustmentType::ExactCapacity) => (0..=MAX_CAPACITY).contains(&adjustment),
                Some(AdjustmentType::PercentChangeInCapacity) => {
                    (-100..=10_000).contains(&adjustment)
                }
                _ => (-MAX_CAPACITY..=MAX_CAPACITY).contains(&adjustment),
            };
            if !adj_ok {
                let expected = match kind {
                    Some(AdjustmentType::ExactCapacity) => {
                        format!("a capacity from 0 to {MAX_CAPACITY}")
                    }
                    Some(AdjustmentType::PercentChangeInCapacity) => {
                        "a percentage from -100 to 10000".into()
                    }
                    _ => format!("a change from -{MAX_CAPACITY} to {MAX_CAPACITY}"),
                };
                let d = self.error(
                    raw.adjustment.span(),
                    format!("adjustment {adjustment} is out of range"),
                );
                d.expected = Some(expected);
                ok = false;
                continue;
            }
            steps.push((
                s.span(),
                StepAdjustment {
                    lower,
                    upper,
                    adjustment,
                },
            ));
        }
        if !ok {
            return None;
        }
        steps.sort_by(|a, b| {
            let key = |s: &StepAdjustment| s.lower.unwrap_or(f64::NEG_INFINITY);
            key(&a.1).total_cmp(&key(&b.1))
        });
        for w in steps.windows(2) {
            let (a, b) = (&w[0].1, &w[1].1);
            if a.upper.is_none() || a.upper != b.lower {
                let (msg, expected) = match (a.upper, b.lower) {
                    (Some(u), Some(l)) if u < l => (format!("steps leave a gap from {u} to {l}"), "steps whose bounds meet: each lower bound is the upper bound of the step below"),
                    _ => ("steps overlap".to_string(), "steps whose bounds meet without overlapping"),
                };
                let d = self.error(w[1].0.clone(), msg);
                d.expected = Some(expected.into());
                return None;
            }
        }
        Some(steps.into_iter().map(|(_, s)| s).collect())
    }

    /// A scheduled action: its cron and the sizes it sets.
    /// `sizes` are the group's min and max, which an action that sets
    /// only some of its sizes keeps.
    fn scheduled_action(
        &mut self,
        name: String,
        a: &RawScheduled,
        (group_min, group_max): (u32, u32),
    ) -> Option<ScheduledAction> {
        let recurrence = match Cron::parse(a.cron.get_ref()) {
            Ok(c) => c,
            Err(e) => {
                let d = self.error(
                    a.cron.span(),
                    format!("`{}` is not a cron expression: {e}", a.cron.get_ref()),
                );
                d.expected = Some(
                    "\"minute hour day-of-month month day-of-week\" in UTC, like \"0 9 * * *\""
                        .into(),
                );
                return None;
            }
        };
        if !recurrence.fires() {
            let d = self.warning(
                a.cron.span(),
                format!(
                    "scheduled action `{name}` never runs: `{}` names no day that any month it names has",
                    a.cron.get_ref()
                ),
            );
            d.expected =
                Some("a day of the month that its months have (February has 29 at most)".into());
        }
        let mut size = |v: &Option<Int>, what: &str| -> Result<Option<u32>, ()> {
            match v {
                None => Ok(None),
                Some(v) => self
                    .rep
                    .int_in(v, 0, MAX_CAPACITY, what)
                    .map(|n| Some(n as u32))
                    .ok_or(()),
            }
        };
        let (min, max, desired) = (
            size(&a.min, "minimum capacity").ok()?,
            size(&a.max, "maximum capacity").ok()?,
            size(&a.desired, "desired capacity").ok()?,
        );
        if min.is_none() && max.is_none() && desired.is_none() {
            let d = self.error(
                a.cron.span(),
                format!("scheduled action `{name}` changes nothing"),
            );
            d.expected = Some("`min`, `max` or `desired`, or several".into());
            return None;
        }
        let lo = min.unwrap_or(group_min);
        let hi = max.unwrap_or(group_max);
        let inverted = lo > hi || desired.is_some_and(|d| d < lo || d > hi);
        if inverted {
            let span = a
                .desired
                .as_ref()
                .or(a.min.as_ref())
                .map_or(a.cron.span(), |v| v.span());
            let shown = match desired {
                Some(d) => format!("min {lo}, desired {d}, max {hi}"),
                None => format!("min {lo}, max {hi}"),
            };
            let d = self.error(span, format!("scheduled action `{name}` leaves {shown}"));
            d.hint = Some("a size the action does not set stays the group's".into());
            d.expected = Some("min <= desired <= max".into());
            return None;
        }
        Some(ScheduledAction {
            name,
            recurrence,
            min,
            max,
            desired,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::fixture::{diagnostics, load};
    use crate::model::scaling::*;
    use crate::model::NodeKind;

    const GROUP: &str = r#"
[[vpc.load_balancer]]
name = "alb"
subnets = ["app-a", "app-c"]
ips = ["10.0.1.100", "10.0.2.100"]
listeners = [{ port = 80, targets = ["web"], target_port = 80, stickiness = { type = "app_cookie", cookie_name = "SESSIONID", duration = "5d" }, deregistration_delay = "30s", slow_start = "0s", health_check = { path = "/health", interval = "10s", timeout = "5s", healthy_threshold = 3 } }]

[[vpc.auto_scaling_group]]
name = "web"
host_prefix = "web"
subnets = ["app-a", "app-c"]
desired = 2
min = 2
max = 4
health_check_type = "ELB"
health_check_grace_period = "5m"

[[vpc.auto_scaling_group.target_tracking]]
metric = "ALBRequestCountPerTarget"
load_balancer = "alb"
target = 1800
"#;

    #[test]
    fn settings_are_read_with_aws_defaults_for_the_rest() {
        let (t, _) = load(GROUP);
        let lb = t.node_by_name("alb").expect("alb");
        let NodeKind::LoadBalancer { listeners } = &t.nodes[lb].kind else {
            panic!("not a load balancer");
        };
        let tg = &listeners[0].target_group;
        assert_eq!(
            tg.stickiness,
            Some(Stickiness::AppCookie {
                cookie_name: "SESSIONID".into(),
                duration: Duration::from_secs(5 * 86_400)
            })
        );
        assert_eq!(tg.deregistration_delay, Duration::from_secs(30));
        assert_eq!(tg.slow_start, None, "0s turns slow start off");
        assert_eq!(tg.health_check.path, "/health");
        assert_eq!(tg.health_check.interval, Duration::from_secs(10));
        assert_eq!(tg.health_check.healthy_threshold, 3);
        assert_eq!(tg.health_check.unhealthy_threshold, 2, "AWS's default");
        let g = &t.auto_scaling_groups[0];
        assert_eq!((g.min, g.desired, g.max), (2, 2, 4));
        assert_eq!(g.scaling.health_check_type, HealthCheckType::Elb);
        assert_eq!(
            g.scaling.health_check_grace_period,
            Duration::from_secs(300)
        );
        assert_eq!(g.scaling.default_cooldown, DEFAULT_COOLDOWN);
        let p = &g.scaling.target_tracking[0];
        assert_eq!(p.name, "target-tracking-1");
        assert_eq!(
            p.metric,
            ScalingMetric::AlbRequestCountPerTarget { load_balancer: lb }
        );
        assert_eq!(p.target, 1800.0);
        assert!(!p.disable_scale_in);
    }

    #[test]
    fn a_network_metric_naming_a_load_balancer_is_refused() {
        let text = GROUP.replace("\"ALBRequestCountPerTarget\"", "\"ASGAverageNetworkIn\"");
        assert_eq!(
            diagnostics(&text),
            ["t.toml:20:17: error: ASGAverageNetworkIn names no load balancer"]
        );
    }

    #[test]
    fn whole_seconds_only() {
        let text = GROUP.replace("\"30s\"", "\"1.5s\"");
        assert_eq!(
            diagnostics(&text),
            ["t.toml:6:169: error: deregistration delay 1.5s is not a whole number of seconds"]
        );
    }

    /// A newline in a policy's name wrote lines of its own into `topology
    /// scale`'s timeline (`rpt\n  99m  load FAKE`).
    #[test]
    fn policy_names_are_one_line_of_at_most_255_characters() {
        let named = |name: &str| {
            GROUP.replace(
                "target = 1800",
                &format!("target = 1800\nname = \"{name}\""),
            )
        };
        assert_eq!(
            diagnostics(&named(r"rpt\n  99m  load FAKE")),
            ["t.toml:22:8: error: policy name has a control character ('\\n')"]
        );
        let d = diagnostics(&named(&"p".repeat(256)));
        assert_eq!(d, ["t.toml:22:8: error: policy name has 256 characters"]);
        assert_eq!(
            diagnostics(&named("")),
            ["t.toml:22:8: error: policy name has 0 characters"]
        );
        assert_eq!(
            diagnostics(&named("requests per target ü")),
            Vec::<String>::new()
        );
    }

    /// A group's name went unchecked: a newline in it wrote lines of its
    /// own into `topology scale`'s timeline and `sim status`, an empty
    /// one was never recorded by the lab's controller, and AWS takes 1 to
    /// 255 characters.
    #[test]
    fn group_names_are_one_line_of_1_to_255_characters() {
        let named = |name: &str| {
            GROUP
                .replace("name = \"web\"", &format!("name = \"{name}\""))
                .replace("targets = [\"web\"]", &format!("targets = [\"{name}\"]"))
        };
        assert_eq!(
            diagnostics(&named(r"web\n  99m  load FAKE")),
            ["t.toml:9:8: error: Auto Scaling group name has a control character ('\\n')"]
        );
        assert_eq!(
            diagnostics(&named("")),
            ["t.toml:9:8: error: Auto Scaling group name has 0 characters"]
        );
        assert_eq!(
            diagnostics(&named(&"é".repeat(256))),
            ["t.toml:9:8: error: Auto Scaling group name has 256 characters"]
        );
        assert_eq!(diagnostics(&named(&"é".repeat(255))), Vec::<String>::new());
        assert_eq!(diagnostics(&named("web asg ü")), Vec::<String>::new());
    }

    /// AWS's quotas of a group's configuration (not adjustable): 50
    /// scaling policies, 125 scheduled actions, 20 steps a policy; the
    /// error is at the first one past the quota.
    #[test]
    fn aws_quotas_of_policies_scheduled_actions_and_steps() {
        let tracking = "\n[[vpc.auto_scaling_group.target_tracking]]\nmetric = \"ASGAverageCPUUtilization\"\ntarget = 50\n";
        // the group has one policy already: 49 more are fine, 50 are not
        let text = format!("{GROUP}{}", tracking.repeat(49));
        assert_eq!(diagnostics(&text), Vec::<String>::new());
        let text = format!("{GROUP}{}", tracking.repeat(50));
        let line = text.lines().count() - 1;
        assert_eq!(
            diagnostics(&text),
            [format!(
                "t.toml:{line}:10: error: 51 scaling policies per Auto Scaling group"
            )]
        );
        let scheduled = |n: usize| {
            let one = "\n[[vpc.auto_scaling_group.scheduled]]\ncron = \"0 9 * * *\"\ndesired = 3\n";
            format!("{GROUP}{}", one.repeat(n))
        };
        assert_eq!(diagnostics(&scheduled(125)), Vec::<String>::new());
        let d = diagnostics(&scheduled(126));
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(
            d[0].ends_with("error: 126 scheduled actions per Auto Scaling group"),
            "{d:?}"
        );
        let steps = |n: usize| {
            let list: Vec<String> = (0..n)
                .map(|i| {
                    let upper = if i + 1 == n {
                        String::new()
                    } else {
                        format!(", upper = {}", i + 1)
                    };
                    format!("{{ lower = {i}{upper}, adjustment = 1 }}")
                })
                .collect();
            format!(
                "{GROUP}\n[[vpc.auto_scaling_group.step_scaling]]\nmetric = \"ASGAverageCPUUtilization\"\nthreshold = 50\ncomparison = \"GreaterThanThreshold\"\nadjustment_type = \"ChangeInCapacity\"\nsteps = [{}]\n",
                list.join(", ")
            )
        };
        assert_eq!(diagnostics(&steps(20)), Vec::<String>::new());
        let d = diagnostics(&steps(21));
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(
            d[0].ends_with("error: 21 step adjustments per step-scaling policy"),
            "{d:?}"
        );
    }

    /// TOML has `nan` and `inf`: an alarm on a NaN threshold never fires
    /// (every comparison with NaN is false), and an infinite bound is no
    /// bound AWS takes.
    #[test]
    fn thresholds_and_step_bounds_are_finite() {
        let policy = |threshold: &str, steps: &str| {
            format!(
                "{GROUP}\n[[vpc.auto_scaling_group.step_scaling]]\nmetric = \"ASGAverageCPUUtilization\"\nthreshold = {threshold}\ncomparison = \"GreaterThanThreshold\"\nadjustment_type = \"ChangeInCapacity\"\nsteps = {steps}\n"
            )
        };
        let fine = "[{ lower = 0, adjustment = 1 }]";
        for t in ["nan", "inf", "-inf"] {
            let d = diagnostics(&policy(t, fine));
            assert_eq!(d.len(), 1, "{t}: {d:?}");
            assert!(
                d[0].starts_with("t.toml:25:13: error: threshold")
                    && d[0].ends_with("is not a number"),
                "{t}: {d:?}"
            );
        }
        for steps in [
            "[{ lower = nan, adjustment = 1 }]",
            "[{ lower = 0, upper = inf, adjustment = 1 }]",
        ] {
            let d = diagnostics(&policy("50", steps));
            assert_eq!(d.len(), 1, "{steps}: {d:?}");
            assert!(
                d[0].ends_with("error: a step bound that is not a number"),
                "{steps}: {d:?}"
            );
        }
        assert_eq!(diagnostics(&policy("50", fine)), Vec::<String>::new());
    }

    /// A path that would end HAProxy's `option httpchk` line (a newline,
    /// then any directive: `stats socket ... level admin`) or the request
    /// line (a space) is refused where it is written.
    #[test]
    fn a_health_check_path_is_a_url_path() {
        for (path, shown) in [
            (
                r"/h\n    stats socket /tmp/x mode 666 level admin",
                r"/h\n    stats",
            ),
            ("/a b", "/a b"),
            ("/a#b", "/a#b"),
            (r#"/a\"b"#, r#"/a\"b"#),
            ("/é", "/é"),
            ("health", "health"),
        ] {
            let text = GROUP.replace("\"/health\"", &format!("\"{path}\""));
            let d = diagnostics(&text);
            assert_eq!(d.len(), 1, "{path}: {d:?}");
            assert!(
                d[0].starts_with("t.toml:6:")
                    && d[0].contains(&format!("error: health-check path `{shown}")),
                "{path}: {d:?}"
            );
        }
        for path in ["/", "/health?full=1&x=%20", "/a/b-c_d.e~f:g@h!$'()*+,;="] {
            let text = GROUP.replace("\"/health\"", &format!("\"{path}\""));
            assert_eq!(diagnostics(&text), Vec::<String>::new(), "{path}");
        }
    }

    #[test]
    fn overlapping_and_unbounded_steps_are_refused() {
        let policy = |steps: &str| {
            format!(
                "{GROUP}\n[[vpc.auto_scaling_group.step_scaling]]\nmetric = \"ASGAverageCPUUtilization\"\nthreshold = 50\ncomparison = \"GreaterThanThreshold\"\nadjustment_type = \"ChangeInCapacity\"\nsteps = {steps}\n"
            )
        };
        let overlap = diagnostics(&policy(
            "[{ lower = 0, upper = 20, adjustment = 1 }, { lower = 10, adjustment = 2 }]",
        ));
        assert_eq!(overlap.len(), 1, "{overlap:?}");
        assert!(overlap[0].ends_with("error: steps overlap"), "{overlap:?}");
        let open = diagnostics(&policy("[{ adjustment = 1 }]"));
        assert!(
            open[0].ends_with("error: a step with neither bound"),
            "{open:?}"
        );
        let empty = diagnostics(&policy("[{ lower = 5, upper = 5, adjustment = 1 }]"));
        assert!(
            empty[0].ends_with("error: step bounds 5..5 are empty"),
            "{empty:?}"
        );
    }
}
