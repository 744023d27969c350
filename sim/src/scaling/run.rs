//! `sim autoscale`: topology's scaling controller (the one `topology
//! scale` plays offline) run on a live lab, on the lab's clock. Each
//! period it reads the group's metrics ([`super::metrics`]), hands them
//! to [`Controller::handle_period`], and carries out a change of
//! capacity through `sim apply`'s machinery: the group's desired
//! capacity is changed in the lab's copy of its topology, which is
//! planned, diffed and executed under the lab's lock
//! ([`crate::apply::exec::apply`]), and recorded in the lab's state
//! ([`super::capacity::LiveCapacity`]).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use topology::model::scaling::{HealthCheckType, ScalingMetric};
use topology::model::Topology;
use topology::scaling::timeline::{datapoints, period_record, watched, LoadModel, Period};
use topology::scaling::{Activity, Controller};

use super::capacity::{desired_in, with_desired, LiveCapacity};
use super::instance_metrics::{self, average_bytes, cpu_percent, Growth, InstanceCounters};
use super::metrics::{PeriodClock, RequestCounter, Unavailable};
use super::replace::{to_replace, without_instance};
use crate::apply::exec::{self, StepRun};
use crate::apply::state::{load_state, save_state, LabState};
use crate::apply::targets::{haproxy_api, health};
use crate::apply::{ApplyError, Programs};
use crate::kernel::cgroup::{self, CpuAccounting};
use crate::layout;
use crate::render::names::haproxy_name;

/// What `sim autoscale` was asked.
#[derive(Debug, Clone)]
pub struct Options {
    /// The lab.
    pub lab: String,
    /// The group.
    pub group: String,
    /// How long to run on the wall clock; none: until stopped.
    pub duration: Option<Duration>,
}

/// What the loop tells its caller, as it happens.
#[derive(Debug)]
pub enum Event<'a> {
    /// A period was handled.
    Period(&'a Period),
    /// A metric could not be read this period (the controller saw it
    /// missing: `INSUFFICIENT_DATA`, no action).
    Unavailable {
        /// The metric's AWS name.
        metric: &'static str,
        /// Why.
        why: &'a Unavailable,
    },
    /// An instance the load balancer held unhealthy past its grace
    /// period was replaced (the ELB health-check type): terminated and
    /// launched again.
    Replaced {
        /// The instance.
        instance: String,
        /// Steps run.
        steps: usize,
        /// Wall seconds it took.
        seconds: f64,
    },
    /// A step of a capacity change was done.
    Step(&'a StepRun),
    /// The lab now runs `desired` instances of the group.
    Applied {
        /// The group's desired capacity.
        desired: u32,
        /// The instances the lab launched: those the topology names for
        /// the new capacity (its first `desired`), which on a scale-in
        /// may not be the ones the controller named (docs/sim.md).
        launched: Vec<String>,
        /// The instances the lab terminated.
        terminated: Vec<String>,
        /// Steps run.
        steps: usize,
        /// Wall seconds the apply took.
        seconds: f64,
    },
}

/// Why `sim autoscale` stopped.
#[derive(Debug, thiserror::Error)]
pub enum AutoscaleError {
    /// No such lab.
    #[error("no lab `{0}` is up")]
    NoLab(String),
    /// The lab's copy of its topology does not load.
    #[error("lab `{lab}`: its copy of its topology, {}, does not load: {why}", file.display())]
    Source {
        /// Lab.
        lab: String,
        /// The copy.
        file: PathBuf,
        /// Why.
        why: String,
    },
    /// No such group.
    #[error("lab `{lab}` has no Auto Scaling group `{group}`")]
    NoGroup {
        /// Lab.
        lab: String,
        /// The group asked.
        group: String,
    },
    /// A capacity change failed.
    #[error("changing group `{group}` to {desired}: {source}")]
    Apply {
        /// The group.
        group: String,
        /// The capacity it was going to.
        desired: u32,
        /// Why.
        source: ApplyError,
    },
    /// The lab's state could not be read or written.
    #[error("lab `{lab}`: {what}: {cause}")]
    State {
        /// Lab.
        lab: String,
        /// What was being done.
        what: &'static str,
        /// Why.
        cause: std::io::Error,
    },
}

/// What the run did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    /// Periods handled.
    pub periods: u64,
    /// Capacity changes carried out.
    pub changes: usize,
    /// Instances replaced (the ELB health-check type).
    pub replaced: usize,
    /// The group's desired capacity at the end.
    pub desired: u32,
}

/// A metric's live source.
enum Source {
    /// HAProxy's counters of the group's server slots.
    Requests {
        socket: PathBuf,
        counter: RequestCounter,
    },
    /// Each instance's CPU accounting group.
    Cpu {
        lab: String,
        acct: CpuAccounting,
        counters: InstanceCounters,
    },
    /// Each instance's interface counters, received (`NetworkIn`) or
    /// sent.
    Network {
        lab: String,
        sent: bool,
        counters: InstanceCounters,
    },
    /// No live reading in the lab.
    None(Unavailable),
}

/// A source's reading: none at the first, which sets the baseline.
enum Reading {
    /// Requests since the last reading.
    Requests(Option<u64>),
    /// A per-instance amount since the last reading, averaged over the
    /// group (bytes).
    Amount(Option<f64>),
    /// A per-instance ratio over the time since the last reading,
    /// averaged over the group (CPU %).
    Ratio(Option<f64>),
}

impl Source {
    fn of(m: ScalingMetric, t: &Topology, group: usize, lab: &str) -> Source {
        let dir = layout::state_dir(lab);
        match m {
            ScalingMetric::AlbRequestCountPerTarget { load_balancer } => {
                let g = &t.auto_scaling_groups[group];
                let slots = (1..=g.max.max(g.instances.len() as u32))
                    .map(|k| haproxy_name(&format!("{}-{k}", g.name)))
                    .collect();
                Source::Requests {
                    socket: layout::haproxy_socket(&dir, &t.nodes[load_balancer].name),
                    counter: RequestCounter::new(slots),
                }
            }
            ScalingMetric::CpuUtilization => Source::cpu(cgroup::this_machine(), lab),
            ScalingMetric::NetworkIn | ScalingMetric::NetworkOut => Source::Network {
                lab: lab.to_string(),
                sent: m == ScalingMetric::NetworkOut,
                counters: InstanceCounters::default(),
            },
        }
    }

    /// `ASGAverageCPUUtilization`'s source on `acct` (the machine's CPU
    /// accounting, or why it has none).
    fn cpu(acct: Result<&CpuAccounting, &str>, lab: &str) -> Source {
        match acct {
            Ok(acct) => Source::Cpu {
                lab: lab.to_string(),
                acct: acct.clone(),
                counters: InstanceCounters::default(),
            },
            Err(why) => Source::None(Unavailable(format!("no CPU accounting: {why}"))),
        }
    }

    /// Reads the source at `at` (wall time since the start), for the
    /// instances `in_service` (the per-instance metrics' average).
    fn read(&mut self, at: Duration, in_service: &[String]) -> Result<Reading, Unavailable> {
        let first = |g: &BTreeMap<String, Growth>| g.is_empty();
        match self {
            Source::Requests { socket, counter } => {
                let stat = haproxy_api(socket, "show stat")
                    .map_err(|e| Unavailable(format!("HAProxy's admin socket: {e}")))?;
                counter.read(&stat).map(Reading::Requests)
            }
            Source::Cpu {
                lab,
                acct,
                counters,
            } => {
                let usage = instance_metrics::cpu_usage(acct, lab, in_service);
                if usage.is_empty() {
                    return Err(Unavailable(format!(
                        "no CPU accounting group of {} can be read under {}",
                        in_service.join(", "),
                        acct.dir(&cgroup::lab_group_name(lab)).display()
                    )));
                }
                let g = counters.read(at, &usage);
                Ok(Reading::Ratio(
                    (!first(&g)).then(|| cpu_percent(&g, in_service)).flatten(),
                ))
            }
            Source::Network {
                lab,
                sent,
                counters,
            } => {
                let st = load_state(lab)
                    .map_err(|e| Unavailable(format!("the lab's state: {e}")))?
                    .ok_or_else(|| Unavailable("the lab is down".into()))?;
                let nodes: Vec<(String, String)> = (st.plan.namespaces.iter())
                    .filter_map(|n| Some((n.node.clone()?, n.name.clone())))
                    .filter(|(node, _)| in_service.contains(node))
                    .collect();
                let bytes = instance_metrics::interface_bytes(&nodes);
                if bytes.is_empty() {
                    return Err(Unavailable(format!(
                        "no interface counters of {} can be read",
                        in_service.join(", ")
                    )));
                }
                let now = (bytes.into_iter())
                    .map(|(n, (rx, tx))| (n, if *sent { tx } else { rx }))
                    .collect();
                let g = counters.read(at, &now);
                Ok(Reading::Amount(
                    (!first(&g))
                        .then(|| average_bytes(&g, in_service))
                        .flatten(),
                ))
            }
            Source::None(why) => Err(why.clone()),
        }
    }
}

/// The instances in service: the `count` of `members` launched first
/// (those launched since are warming up).
fn in_service_members(
    members: &[String],
    launched_at: &BTreeMap<String, Duration>,
    count: u32,
) -> Vec<String> {
    let mut by_age: Vec<&String> = members.iter().collect();
    by_age.sort_by_key(|m| launched_at.get(*m).copied().unwrap_or_default());
    (by_age.into_iter()).take(count as usize).cloned().collect()
}

/// Runs the controller on lab `opts.lab` until `opts.duration` is over,
/// telling `on` each period, step and apply.
pub fn run(
    opts: &Options,
    programs: &Programs,
    mut on: impl FnMut(Event<'_>),
) -> Result<Summary, AutoscaleError> {
    let lab = &opts.lab;
    let state_err = |what: &'static str| {
        move |cause| AutoscaleError::State {
            lab: lab.clone(),
            what,
            cause,
        }
    };
    let st = load_state(lab)
        .map_err(state_err("read its state"))?
        .ok_or_else(|| AutoscaleError::NoLab(lab.clone()))?;
    let dir = layout::state_dir(lab);
    let copy = dir.join("topology.toml");
    let source = |why: String| AutoscaleError::Source {
        lab: lab.clone(),
        file: copy.clone(),
        why,
    };
    let mut text = std::fs::read_to_string(&copy).map_err(|e| source(e.to_string()))?;
    let t = topology::parse(&copy, text.clone())
        .map_err(|e| source(e.to_string()))?
        .topology;
    let group = (t.auto_scaling_groups.iter())
        .position(|g| g.name == opts.group)
        .ok_or_else(|| AutoscaleError::NoGroup {
            lab: lab.clone(),
            group: opts.group.clone(),
        })?;
    let file_desired = match st.capacity.get(&opts.group) {
        Some(rec) => rec.file_desired,
        None => desired_in(&text, &opts.group).map_err(|e| source(e.to_string()))?,
    };
    let metrics = watched(&t, group);
    let mut sources: Vec<Source> = (metrics.iter())
        .map(|&m| Source::of(m, &t, group, lab))
        .collect();
    let mut c = Controller::new(&t, group, Duration::ZERO);
    let mut clock = PeriodClock::new(t.sim.time_scale);
    let mut members = members_of(&t, group);
    let settings = &t.auto_scaling_groups[group].scaling;
    let elb = settings.health_check_type == HealthCheckType::Elb;
    let grace = settings.health_check_grace_period;
    // when each instance was launched, on AWS's clock
    let mut launched_at: BTreeMap<String, Duration> = members
        .iter()
        .map(|m| (m.clone(), Duration::ZERO))
        .collect();
    let mut lab_desired = members.len() as u32;
    let mut summary = Summary {
        periods: 0,
        changes: 0,
        replaced: 0,
        desired: lab_desired,
    };
    let started = Instant::now();
    // the baseline of each counter
    for s in &mut sources {
        let _ = s.read(Duration::ZERO, &members);
    }
    loop {
        let wake = clock.next_end();
        if opts.duration.is_some_and(|d| wake > d) {
            break;
        }
        if let Some(left) = wake.checked_sub(started.elapsed()) {
            std::thread::sleep(left);
        }
        let ended = clock.ended(started.elapsed());
        let periods = (ended.end - ended.start).max(1);
        // each metric's requests over the periods that ended, shared
        // evenly among them (more than one when an apply took long)
        let mut loads: Vec<Option<f64>> = Vec::new();
        // the per-instance metrics' datapoints, each period's
        let mut averages: Vec<Option<f64>> = Vec::new();
        let before = PeriodClock::aws_time(ended.start.saturating_sub(1));
        let serving = in_service_members(&members, &launched_at, c.in_service(before));
        for (s, m) in sources.iter_mut().zip(&metrics) {
            let (load, average) = match s.read(started.elapsed(), &serving) {
                Ok(Reading::Requests(n)) => (n.map(|n| n as f64 / periods as f64), None),
                Ok(Reading::Amount(v)) => (None, v.map(|v| v / periods as f64)),
                Ok(Reading::Ratio(v)) => (None, v),
                Err(why) => {
                    on(Event::Unavailable {
                        metric: m.aws_name(),
                        why: &why,
                    });
                    (None, None)
                }
            };
            loads.push(load);
            averages.push(average);
        }
        let mut changed = false;
        let last_now = PeriodClock::aws_time(ended.end.saturating_sub(1));
        for index in ended {
            let now = PeriodClock::aws_time(index);
            let in_service = c.in_service(now);
            // the requests of the group's target group: every metric that
            // has a reading counts the same requests
            let load = loads.iter().flatten().copied().next();
            let available: Vec<ScalingMetric> = (metrics.iter().zip(&loads))
                .filter(|(_, l)| l.is_some())
                .map(|(m, _)| *m)
                .collect();
            let model = LoadModel {
                cpu_ms_per_request: None,
            };
            let (mut points, mut shown) =
                datapoints(&available, load.unwrap_or(0.0), in_service, model);
            for (m, v) in metrics.iter().zip(&averages) {
                if let Some(v) = *v {
                    points.set(*m, v);
                }
                shown.entry(m.aws_name().to_string()).or_insert(*v);
            }
            let activities = c.handle_period(now, &points);
            changed |= activities
                .iter()
                .any(|a| matches!(a, Activity::Launch { .. } | Activity::Terminate { .. }));
            let record = period_record(&c, now, index, load.unwrap_or(0.0), shown, &activities);
            on(Event::Period(&record));
            summary.periods += 1;
        }
        let desired = c.instances().len() as u32;
        if changed && desired != lab_desired {
            let applied = Instant::now();
            let new_text =
                with_desired(&text, &opts.group, desired).map_err(|e| source(e.to_string()))?;
            let (steps, now_members) =
                change_capacity(lab, &copy, &new_text, &st, programs, &opts.group, &mut on)
                    .map_err(|source| AutoscaleError::Apply {
                        group: opts.group.clone(),
                        desired,
                        source,
                    })?;
            text = new_text;
            lab_desired = desired;
            let launched = (now_members.iter())
                .filter(|n| !members.contains(n))
                .cloned()
                .collect();
            let terminated = (members.iter())
                .filter(|n| !now_members.contains(n))
                .cloned()
                .collect();
            for m in now_members.iter().filter(|m| !members.contains(m)) {
                launched_at.insert(m.clone(), last_now);
            }
            members = now_members;
            let mut now_st = load_state(lab)
                .map_err(state_err("read its state"))?
                .ok_or_else(|| AutoscaleError::NoLab(lab.clone()))?;
            now_st.capacity.insert(
                opts.group.clone(),
                LiveCapacity {
                    desired,
                    file_desired,
                },
            );
            save_state(lab, &now_st).map_err(state_err("write its state"))?;
            summary.changes += 1;
            summary.desired = desired;
            on(Event::Applied {
                desired,
                launched,
                terminated,
                steps,
                seconds: applied.elapsed().as_secs_f64(),
            });
        }
        if elb {
            for instance in unhealthy(lab, &members, &launched_at, grace, last_now) {
                let started_at = Instant::now();
                let steps = replace_instance(lab, &copy, &text, programs, &instance, &mut on)
                    .map_err(|source| AutoscaleError::Apply {
                        group: opts.group.clone(),
                        desired: lab_desired,
                        source,
                    })?;
                launched_at.insert(instance.clone(), last_now);
                summary.replaced += 1;
                on(Event::Replaced {
                    instance,
                    steps,
                    seconds: started_at.elapsed().as_secs_f64(),
                });
            }
        }
    }
    Ok(summary)
}

/// The instances of `members` the ALB's HAProxy holds `DOWN` on every
/// target, past their grace period ([`to_replace`]); none when the lab's
/// state or HAProxy cannot be read (the next period asks again).
fn unhealthy(
    lab: &str,
    members: &[String],
    launched_at: &BTreeMap<String, Duration>,
    grace: Duration,
    now: Duration,
) -> Vec<String> {
    let Ok(Some(st)) = load_state(lab) else {
        return Vec::new();
    };
    let dir = layout::state_dir(lab);
    let mut status: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for h in &st.plan.haproxy {
        for th in health(&layout::haproxy_socket(&dir, &h.node), h) {
            if members.contains(&th.instance) {
                status.entry(th.instance).or_default().push(th.status);
            }
        }
    }
    to_replace(&status, launched_at, grace, now)
}

/// Replaces `instance`: the lab's plan without it applied (deregistration,
/// then its namespace deleted), then the lab's plan again (a new
/// namespace, addresses, security groups, listener, registration); `sim
/// fail`'s record of it goes with the old namespace. The steps run.
fn replace_instance(
    lab: &str,
    copy: &std::path::Path,
    text: &str,
    programs: &Programs,
    instance: &str,
    on: &mut impl FnMut(Event<'_>),
) -> Result<usize, ApplyError> {
    let state_step = |cause: std::io::Error| ApplyError::Step {
        step: "read the lab's state".into(),
        cause,
    };
    let st = load_state(lab)
        .map_err(state_step)?
        .ok_or_else(|| state_step(std::io::Error::other("no such lab is up")))?;
    let bad = |why: String| ApplyError::Step {
        step: format!("plan the replacement of {instance}"),
        cause: std::io::Error::other(why),
    };
    let t = topology::parse(copy, text.to_string())
        .map_err(|e| bad(e.to_string()))?
        .topology;
    let plan = crate::plan::plan(&t, lab, &st.plan.tcp_ports).map_err(|e| bad(e.to_string()))?;
    let source = st.source.as_deref();
    let gone = exec::apply(
        &without_instance(&plan, instance),
        source,
        text,
        programs,
        |r| on(Event::Step(r)),
    )?;
    let back = exec::apply(&plan, source, text, programs, |r| on(Event::Step(r)))?;
    let mut now = load_state(lab)
        .map_err(state_step)?
        .ok_or_else(|| state_step(std::io::Error::other("no such lab is up")))?;
    if now.failed.remove(instance) {
        save_state(lab, &now).map_err(state_step)?;
    }
    Ok(gone.steps + back.steps)
}

/// The names of group `group`'s instances in `t`.
fn members_of(t: &Topology, group: usize) -> Vec<String> {
    (t.auto_scaling_groups[group].instances.iter())
        .map(|&n| t.nodes[n].name.clone())
        .collect()
}

/// Plans the lab from `text` and applies it (the steps of the diff from
/// its plan, under its lock); the steps run, and group `group`'s
/// instances after.
fn change_capacity(
    lab: &str,
    copy: &std::path::Path,
    text: &str,
    st: &LabState,
    programs: &Programs,
    group: &str,
    on: &mut impl FnMut(Event<'_>),
) -> Result<(usize, Vec<String>), ApplyError> {
    let bad = |why: String| ApplyError::Step {
        step: "plan the new capacity".into(),
        cause: std::io::Error::other(why),
    };
    let t = topology::parse(copy, text.to_string())
        .map_err(|e| bad(e.to_string()))?
        .topology;
    // the lab's ports and source file stay
    let plan = crate::plan::plan(&t, lab, &st.plan.tcp_ports).map_err(|e| bad(e.to_string()))?;
    let rep = exec::apply(&plan, st.source.as_deref(), text, programs, |r| {
        on(Event::Step(r))
    })?;
    let members = (t.auto_scaling_groups.iter())
        .position(|g| g.name == group)
        .map(|g| members_of(&t, g))
        .unwrap_or_default();
    Ok((rep.steps, members))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn without_cpu_accounting_the_cpu_metric_is_unavailable() {
        let why = "neither cgroup v2 with the cpu controller nor a v1 cpuacct hierarchy is mounted";
        let mut s = Source::cpu(Err(why), "lab1");
        let Err(e) = s.read(Duration::ZERO, &names(&["web-a1"])) else {
            panic!("no accounting reads nothing");
        };
        assert_eq!(
            e.to_string(),
            format!("metric unavailable: no CPU accounting: {why}")
        );
        // accounting whose hierarchy holds none of the lab's groups
        let empty = std::env::temp_dir().join(format!("vifgate-run-cpu-{}", std::process::id()));
        std::fs::create_dir_all(&empty).expect("temp dir");
        let acct = CpuAccounting {
            version: cgroup::Version::V1Cpuacct,
            mount: empty.clone(),
        };
        let mut s = Source::cpu(Ok(&acct), "lab1");
        let Err(e) = s.read(Duration::ZERO, &names(&["web-a1", "web-c1"])) else {
            panic!("no group reads nothing");
        };
        let _ = std::fs::remove_dir_all(&empty);
        assert!(
            e.to_string().starts_with(
                "metric unavailable: no CPU accounting group of web-a1, web-c1 can be read"
            ),
            "{e}"
        );
    }

    #[test]
    fn the_instances_in_service_are_the_first_launched() {
        let members = names(&["web-a1", "web-c1", "web-a2"]);
        let launched: BTreeMap<String, Duration> = [("web-a1", 0), ("web-c1", 0), ("web-a2", 420)]
            .into_iter()
            .map(|(n, s)| (n.to_string(), Duration::from_secs(s)))
            .collect();
        assert_eq!(
            in_service_members(&members, &launched, 2),
            names(&["web-a1", "web-c1"])
        );
        assert_eq!(in_service_members(&members, &launched, 3), members);
    }
}
