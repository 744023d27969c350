//! The scaling controller on a live lab: topology's
//! [`Controller`] (the one `topology scale` plays offline) run for
//! each group on the lab's clock, by the lab's own controller process
//! ([`super::service`]) or in the foreground (`sim autoscale` of a lab
//! with `[sim] autoscale = false`). Each period it reads each group's
//! metrics ([`super::metrics`]), hands them to
//! [`Controller::handle_period`], and carries out a change of capacity
//! through `sim apply`'s machinery: under the lab's lock
//! ([`exec::apply_edit`]) the group's desired capacity is set in the
//! lab's copy of its topology *as it is then* (an apply made meanwhile
//! is kept), which is planned, diffed and executed, and recorded in the
//! lab's state ([`super::capacity::LiveCapacity`]). After any apply that
//! is not its own (the lab's fingerprint changed) it reads the lab's
//! topology again: a group whose definition changed gets a new
//! controller (its alarms start afresh), a group no longer there is
//! dropped, a new one is taken up.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use topology::model::scaling::{HealthCheckType, ScalingMetric};
use topology::model::Topology;
use topology::scaling::timeline::{datapoints, period_record, watched, LoadModel, Period};
use topology::scaling::{Activity, Controller};

use super::capacity::{desired_in, with_instances, LiveCapacity, LiveInstance};
use super::instance_metrics::{self, average_bytes, cpu_percent, Growth, InstanceCounters};
use super::metrics::{PeriodClock, RequestCounter, Unavailable};
use super::replace::{to_replace, without_instance};
use crate::apply::exec::{self, Edit, StepRun};
use crate::apply::state::{load_state, LabState};
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
    /// period was replaced (the ELB health-check type): a new instance
    /// launched first and it terminated, or, at the group's maximum, it
    /// terminated and launched again in place.
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
        /// The instances the lab launched: those the controller named.
        launched: Vec<String>,
        /// The instances the lab terminated: those the controller chose
        /// ([`Controller::to_terminate`]).
        terminated: Vec<String>,
        /// Steps run.
        steps: usize,
        /// Wall seconds the apply took.
        seconds: f64,
    },
    /// The lab's topology changed by another apply and was read again.
    Reloaded {
        /// Whether the group's controller started afresh (its
        /// definition changed).
        renewed: bool,
    },
    /// A change failed; the controller goes on (the lab's controller) and
    /// tries again the next period.
    Failed(&'a AutoscaleError),
}

impl Event<'_> {
    /// The event as one JSON record: a period as `topology scale --json`
    /// prints it, the others under their kind's key.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::json;
        match self {
            Event::Period(p) => serde_json::to_value(p).unwrap_or_default(),
            Event::Unavailable { metric, why } => {
                json!({ "unavailable": metric, "why": why.to_string() })
            }
            Event::Step(s) => serde_json::to_value(s).unwrap_or_default(),
            Event::Replaced {
                instance,
                steps,
                seconds,
            } => json!({
                "replaced": { "instance": instance, "steps": steps, "seconds": seconds } }),
            Event::Applied {
                desired,
                launched,
                terminated,
                steps,
                seconds,
            } => json!({
                "applied": { "desired": desired, "launched": launched, "terminated": terminated, "steps": steps, "seconds": seconds } }),
            Event::Reloaded { renewed } => json!({ "reloaded": { "renewed": renewed } }),
            Event::Failed(e) => json!({ "failed": e.to_string() }),
        }
    }
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
    /// instances `in_service` (the per-instance metrics' average), in
    /// their `namespaces` (the lab's plan, read once a period).
    fn read(
        &mut self,
        at: Duration,
        in_service: &[String],
        namespaces: &BTreeMap<String, String>,
    ) -> Result<Reading, Unavailable> {
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
            Source::Network { sent, counters } => {
                let nodes: Vec<(String, String)> = (in_service.iter())
                    .filter_map(|n| Some((n.clone(), namespaces.get(n)?.clone())))
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

/// Each node's namespace in the lab's plan: where the per-instance
/// metrics read their instances' counters (the lab's state is read once
/// a period, by the loop).
fn node_namespaces(plan: &crate::plan::Plan) -> BTreeMap<String, String> {
    (plan.namespaces.iter())
        .filter_map(|n| Some((n.node.clone()?, n.name.clone())))
        .collect()
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

/// The lab's clock as a run reads it: the wall time since the run began
/// (per-instance ratios are over wall time) and AWS's time now (an
/// instance launched or replaced is in service when its apply ends,
/// which may be periods after the one it began in).
struct LabNow<'a> {
    clock: &'a PeriodClock,
    started: Instant,
}

impl LabNow<'_> {
    /// The wall time since the run began.
    fn wall(&self) -> Duration {
        self.started.elapsed()
    }

    /// AWS's time now.
    fn aws(&self) -> Duration {
        self.clock.aws_time_at(self.wall())
    }
}

/// Which groups a run drives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Groups {
    /// One group, by name (the foreground `sim autoscale`).
    One(String),
    /// Those the lab's plan gives its controller
    /// ([`crate::plan::Plan::autoscaling`]), as it changes.
    Lab,
}

/// Runs the controller on lab `opts.lab` until `opts.duration` is over,
/// telling `on` each period, step and apply; the first error ends it.
pub fn run(
    opts: &Options,
    programs: &Programs,
    mut on: impl FnMut(Event<'_>),
) -> Result<Summary, AutoscaleError> {
    let sums = drive(
        &opts.lab,
        &Groups::One(opts.group.clone()),
        opts.duration,
        false,
        programs,
        |_, e| on(e),
    )?;
    Ok(sums.get(&opts.group).cloned().unwrap_or(Summary {
        periods: 0,
        changes: 0,
        replaced: 0,
        desired: 0,
    }))
}

/// Runs the controllers of `groups` on lab `lab` until `duration` is
/// over (none: until the lab is gone), telling `on` each group's events.
/// With `keep_going` a failed change is told (`Event::Failed`) and tried
/// again the next period; without, it ends the run. Each group's summary.
pub fn drive(
    lab: &str,
    groups: &Groups,
    duration: Option<Duration>,
    keep_going: bool,
    programs: &Programs,
    mut on: impl FnMut(&str, Event<'_>),
) -> Result<BTreeMap<String, Summary>, AutoscaleError> {
    let state_err = |what: &'static str| {
        move |cause| AutoscaleError::State {
            lab: lab.to_string(),
            what,
            cause,
        }
    };
    let st = load_state(lab)
        .map_err(state_err("read its state"))?
        .ok_or_else(|| AutoscaleError::NoLab(lab.to_string()))?;
    let dir = layout::state_dir(lab);
    let (t, _) = lab_topology(lab, &dir)?;
    if let Groups::One(g) = groups {
        if !t.auto_scaling_groups.iter().any(|x| x.name == *g) {
            return Err(AutoscaleError::NoGroup {
                lab: lab.to_string(),
                group: g.clone(),
            });
        }
    }
    let mut clock = PeriodClock::new(t.sim.time_scale);
    let mut runs: BTreeMap<String, GroupRun> = BTreeMap::new();
    let mut sums: BTreeMap<String, Summary> = BTreeMap::new();
    let started = Instant::now();
    reload(
        &mut runs,
        groups,
        (&t, &node_namespaces(&st.plan)),
        lab,
        (Duration::ZERO, Duration::ZERO),
        &mut |_, _| {},
    );
    let mut seen = st.built_from.clone();
    loop {
        let wake = clock.next_end();
        if duration.is_some_and(|d| wake > d) {
            break;
        }
        if let Some(left) = wake.checked_sub(started.elapsed()) {
            std::thread::sleep(left);
        }
        let ended = clock.ended(started.elapsed());
        let Some(st) = load_state(lab).map_err(state_err("read its state"))? else {
            break; // the lab is gone
        };
        let namespaces = node_namespaces(&st.plan);
        if st.built_from != seen {
            seen = st.built_from.clone();
            let now = PeriodClock::aws_time(ended.start);
            match lab_topology(lab, &dir) {
                Ok((t, _)) => reload(
                    &mut runs,
                    groups,
                    (&t, &namespaces),
                    lab,
                    (now, started.elapsed()),
                    &mut on,
                ),
                Err(e) if keep_going => on("", Event::Failed(&e)),
                Err(e) => return Err(e),
            }
        }
        for (name, r) in runs.iter_mut() {
            let sum = sums.entry(name.clone()).or_insert(Summary {
                periods: 0,
                changes: 0,
                replaced: 0,
                desired: r.lab_desired,
            });
            let mut tell = |e: Event<'_>| on(name, e);
            r.follow_zones(&st.impaired_zones);
            let now = LabNow {
                clock: &clock,
                started,
            };
            match r.period(
                lab,
                (ended.clone(), &now, &namespaces),
                programs,
                &mut seen,
                sum,
                &mut tell,
            ) {
                Ok(()) => {}
                Err(e) if keep_going => tell(Event::Failed(&e)),
                Err(e) => return Err(e),
            }
            sum.desired = r.lab_desired;
        }
    }
    Ok(sums)
}

/// The lab's copy of its topology, loaded, and its text.
fn lab_topology(lab: &str, dir: &Path) -> Result<(Topology, String), AutoscaleError> {
    let copy = dir.join("topology.toml");
    let source = |why: String| AutoscaleError::Source {
        lab: lab.to_string(),
        file: copy.clone(),
        why,
    };
    let text = crate::apply::state::read_no_follow(&copy).map_err(|e| source(e.to_string()))?;
    let t = topology::parse(&copy, text.clone())
        .map_err(|e| source(e.to_string()))?
        .topology;
    Ok((t, text))
}

/// `runs` brought to topology `t`: a group whose definition is the same
/// keeps its controller, one whose definition changed gets a new one, a
/// group no longer driven goes.
fn reload(
    runs: &mut BTreeMap<String, GroupRun>,
    groups: &Groups,
    (t, namespaces): (&Topology, &BTreeMap<String, String>),
    lab: &str,
    (now, wall): (Duration, Duration),
    on: &mut impl FnMut(&str, Event<'_>),
) {
    let wanted: Vec<String> = match groups {
        Groups::One(g) => vec![g.clone()],
        Groups::Lab => crate::plan::autoscaled(t),
    };
    runs.retain(|name, _| wanted.contains(name));
    for name in wanted {
        let Some(gi) = t.auto_scaling_groups.iter().position(|g| g.name == name) else {
            runs.remove(&name);
            continue;
        };
        let key = definition(t, gi);
        let existed = runs.contains_key(&name);
        if runs.get(&name).is_some_and(|r| r.definition == key) {
            if existed {
                on(&name, Event::Reloaded { renewed: false });
            }
            continue;
        }
        runs.insert(
            name.clone(),
            GroupRun::new(t, gi, lab, (now, wall), namespaces),
        );
        if existed {
            on(&name, Event::Reloaded { renewed: true });
        }
    }
}

/// What makes a group's controller: its instances, sizes, zones and
/// scaling settings, and the lab's clock.
fn definition(t: &Topology, group: usize) -> String {
    let g = &t.auto_scaling_groups[group];
    let zones: Vec<&str> = g
        .subnets
        .iter()
        .map(|&s| t.subnets[s].az.as_str())
        .collect();
    format!(
        "{:?} {} {} {} {zones:?} {:?} {}",
        members_of(t, group),
        g.desired,
        g.min,
        g.max,
        g.scaling,
        t.sim.time_scale
    )
}

/// One group under its controller.
struct GroupRun {
    name: String,
    definition: String,
    controller: Controller,
    metrics: Vec<ScalingMetric>,
    sources: Vec<Source>,
    members: Vec<String>,
    /// When each instance was launched, on AWS's clock.
    launched_at: BTreeMap<String, Duration>,
    lab_desired: u32,
    /// Its maximum capacity (the most instances a change may run).
    max: u32,
    elb: bool,
    grace: Duration,
    /// The zones its controller was told are impaired.
    impaired: BTreeSet<String>,
    /// The instances the lab launched not yet seen healthy.
    rising: BTreeSet<String>,
}

impl GroupRun {
    /// Group `group` of `t` (lab `lab`'s topology), its instances in
    /// service since `now` on AWS's clock; each metric's counter read
    /// once for its baseline, at `wall` since the run began (instances in
    /// their `namespaces`).
    fn new(
        t: &Topology,
        group: usize,
        lab: &str,
        (now, wall): (Duration, Duration),
        namespaces: &BTreeMap<String, String>,
    ) -> GroupRun {
        let g = &t.auto_scaling_groups[group];
        let metrics = watched(t, group);
        let mut sources: Vec<Source> = (metrics.iter())
            .map(|&m| Source::of(m, t, group, lab))
            .collect();
        let members = members_of(t, group);
        for s in &mut sources {
            let _ = s.read(wall, &members, namespaces);
        }
        GroupRun {
            name: g.name.clone(),
            definition: definition(t, group),
            controller: Controller::new(t, group, now),
            metrics,
            sources,
            launched_at: members.iter().map(|m| (m.clone(), now)).collect(),
            lab_desired: members.len() as u32,
            max: g.max,
            members,
            elb: g.scaling.health_check_type == HealthCheckType::Elb,
            grace: g.scaling.health_check_grace_period,
            impaired: BTreeSet::new(),
            rising: BTreeSet::new(),
        }
    }

    /// Tells the controller of the zones the lab's state records impaired
    /// (`sim fail --zone`) since the last period, and of those restored.
    fn follow_zones(&mut self, impaired: &BTreeSet<String>) {
        for z in impaired.difference(&self.impaired) {
            self.controller.impair_zone(z);
        }
        for z in self.impaired.difference(impaired) {
            self.controller.restore_zone(z);
        }
        self.impaired = impaired.clone();
    }

    /// The periods `ended`: the metrics read, the controller told, a
    /// change of capacity carried out, unhealthy instances replaced
    /// (`seen`: the lab's fingerprint last read, see [`apply_ours`];
    /// `clock`: the lab's clock; `namespaces`: its instances', as the
    /// loop read the lab's state this period).
    fn period(
        &mut self,
        lab: &str,
        (ended, clock, namespaces): (Range<u64>, &LabNow<'_>, &BTreeMap<String, String>),
        programs: &Programs,
        seen: &mut Option<String>,
        summary: &mut Summary,
        on: &mut impl FnMut(Event<'_>),
    ) -> Result<(), AutoscaleError> {
        let periods = (ended.end - ended.start).max(1);
        // each metric's requests over the periods that ended, shared
        // evenly among them (more than one when an apply took long)
        let mut loads: Vec<Option<f64>> = Vec::new();
        // the per-instance metrics' datapoints, each period's
        let mut averages: Vec<Option<f64>> = Vec::new();
        let before = PeriodClock::aws_time(ended.start.saturating_sub(1));
        let serving = in_service_members(
            &self.members,
            &self.launched_at,
            self.controller.in_service(before),
        );
        for (s, m) in self.sources.iter_mut().zip(&self.metrics) {
            let (load, average) = match s.read(clock.wall(), &serving, namespaces) {
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
        let last_now = PeriodClock::aws_time(ended.end.saturating_sub(1));
        for index in ended {
            let now = PeriodClock::aws_time(index);
            let c = &mut self.controller;
            let in_service = c.in_service(now);
            // the requests of the group's target group: every metric that
            // has a reading counts the same requests
            let load = loads.iter().flatten().copied().next();
            let available: Vec<ScalingMetric> = (self.metrics.iter().zip(&loads))
                .filter(|(_, l)| l.is_some())
                .map(|(m, _)| *m)
                .collect();
            let model = LoadModel {
                cpu_ms_per_request: None,
            };
            let (mut points, mut shown) =
                datapoints(&available, load.unwrap_or(0.0), in_service, model);
            for (m, v) in self.metrics.iter().zip(&averages) {
                if let Some(v) = *v {
                    points.set(*m, v);
                }
                shown.entry(m.aws_name().to_string()).or_insert(*v);
            }
            let activities = c.handle_period(now, &points);
            let record = period_record(c, now, index, load.unwrap_or(0.0), shown, &activities);
            on(Event::Period(&record));
            summary.periods += 1;
        }
        let wanted = self.wanted();
        let mut names: Vec<&str> = wanted.iter().map(|i| i.name.as_str()).collect();
        let mut running: Vec<&str> = self.members.iter().map(String::as_str).collect();
        names.sort_unstable();
        running.sort_unstable();
        if names != running && !self.waits(lab, &names, last_now) {
            self.change_capacity(lab, &wanted, clock, programs, seen, on)?;
            summary.changes += 1;
        }
        if self.elb {
            self.replace_unhealthy(lab, (last_now, clock), programs, seen, summary, on)?;
        }
        Ok(())
    }

    /// Whether the change to the instances `names` waits this period
    /// ([`waits_for_rising`]): it terminates one while an instance the lab
    /// launched, which stays, is not yet healthy. Those seen healthy are
    /// no longer rising.
    fn waits(&mut self, lab: &str, names: &[&str], now: Duration) -> bool {
        self.rising.retain(|r| names.contains(&r.as_str()));
        let terminates = (self.members.iter()).any(|m| !names.contains(&m.as_str()));
        if !terminates || self.rising.is_empty() {
            return false;
        }
        let rising: Vec<String> = self.rising.iter().cloned().collect();
        let status = target_status(lab, &rising);
        let waits = waits_for_rising(&self.rising, &status, (&self.launched_at, self.grace, now));
        if !waits {
            self.rising.clear();
        }
        waits
    }

    /// The instances the controller keeps, each in its slot: the lab runs
    /// exactly these.
    fn wanted(&self) -> Vec<LiveInstance> {
        (self.controller.instances().iter())
            .map(|i| LiveInstance {
                name: i.name.clone(),
                slot: i.slot,
            })
            .collect()
    }

    /// The instances the ALB holds unhealthy past their grace period,
    /// replaced where the controller says ([`Controller::replace_unhealthy`]):
    /// by changes of capacity that launch the controller's new instance
    /// (another name and slot, in its zone or, impaired, another) and
    /// then terminate the unhealthy one ([`GroupRun::launch_then_terminate`]);
    /// in place (a new namespace of the same name, zone and slot) when the
    /// group's maximum leaves no slot to spare.
    fn replace_unhealthy(
        &mut self,
        lab: &str,
        (now, clock): (Duration, &LabNow<'_>),
        programs: &Programs,
        seen: &mut Option<String>,
        summary: &mut Summary,
        on: &mut impl FnMut(Event<'_>),
    ) -> Result<(), AutoscaleError> {
        let started_at = Instant::now();
        let mut replaced = |instance: String, steps: usize, on: &mut dyn FnMut(Event<'_>)| {
            summary.replaced += 1;
            on(Event::Replaced {
                instance,
                steps,
                seconds: started_at.elapsed().as_secs_f64(),
            });
        };
        // the unhealthy instances the controller replaces by new ones
        let mut launch_first: Vec<LiveInstance> = Vec::new();
        for instance in unhealthy(lab, &self.members, &self.launched_at, self.grace, now) {
            let before = self.wanted();
            let activities = self.controller.replace_unhealthy(now, &instance);
            if !in_place(&before, &self.wanted(), &activities, &instance) {
                launch_first.extend(before.into_iter().filter(|i| i.name == instance));
                continue;
            }
            let steps = replace_instance(lab, programs, seen, &instance, on)
                .map_err(|e| self.apply_error(self.lab_desired, e))?;
            // its grace period runs from the end of the replacement
            // (whose deregistration alone may drain for the
            // deregistration delay): the new instance, still rising,
            // is not replaced again
            self.launched_at.insert(instance.clone(), clock.aws());
            replaced(instance, steps, on);
        }
        if launch_first.is_empty() {
            return Ok(());
        }
        let (steps, changes) =
            self.launch_then_terminate(lab, &launch_first, clock, programs, seen, on)?;
        summary.changes += changes;
        for instance in launch_first {
            replaced(instance.name, steps, on);
        }
        Ok(())
    }

    /// An apply of the group's change to `desired` instances that failed.
    fn apply_error(&self, desired: u32, source: ApplyError) -> AutoscaleError {
        AutoscaleError::Apply {
            group: self.name.clone(),
            desired,
            source,
        }
    }

    /// The controller's instances, reached from the lab's by launching
    /// first: its new instances join while those they replace
    /// (`replaced`, `DOWN`: no request goes to them) stay, then those are
    /// terminated, so that their deregistration delay, which their hung
    /// requests fill, does not hold back the launch (Auto Scaling
    /// launches the replacement while the unhealthy instance terminates,
    /// "View the reason for health check failures",
    /// docs.aws.amazon.com/autoscaling/ec2/userguide/replace-unhealthy-instance.html).
    /// In one change when both would pass the group's maximum. The steps
    /// run and the changes of capacity made.
    fn launch_then_terminate(
        &mut self,
        lab: &str,
        replaced: &[LiveInstance],
        clock: &LabNow<'_>,
        programs: &Programs,
        seen: &mut Option<String>,
        on: &mut impl FnMut(Event<'_>),
    ) -> Result<(usize, usize), AutoscaleError> {
        let wanted = self.wanted();
        let mut both = wanted.clone();
        both.extend(
            (replaced.iter())
                .filter(|r| wanted.iter().all(|w| w.name != r.name && w.slot != r.slot))
                .cloned(),
        );
        let (mut steps, mut changes) = (0, 0);
        if both.len() > wanted.len() && both.len() as u32 <= self.max {
            steps += self.change_capacity(lab, &both, clock, programs, seen, on)?;
            changes += 1;
        }
        steps += self.change_capacity(lab, &wanted, clock, programs, seen, on)?;
        Ok((steps, changes + 1))
    }

    /// Sets the group's instances (and so its desired capacity) in the
    /// lab's topology as it is under the lab's lock, and applies it: the
    /// steps run. An instance it terminates is no longer recorded failed
    /// (`sim fail`'s record goes with its namespace).
    fn change_capacity(
        &mut self,
        lab: &str,
        instances: &[LiveInstance],
        clock: &LabNow<'_>,
        programs: &Programs,
        seen: &mut Option<String>,
        on: &mut impl FnMut(Event<'_>),
    ) -> Result<usize, AutoscaleError> {
        let applied = Instant::now();
        let group = self.name.clone();
        let desired = instances.len() as u32;
        let leaving: Vec<String> = (self.members.iter())
            .filter(|m| instances.iter().all(|i| i.name != **m))
            .cloned()
            .collect();
        let mut after: Option<Vec<String>> = None;
        let rep = apply_ours(
            lab,
            programs,
            seen,
            |r| on(Event::Step(r)),
            |st, copy| {
                let text = with_instances(copy, &group, instances).map_err(|e| e.to_string())?;
                let file_desired = match st.capacity.get(&group) {
                    Some(rec) => rec.file_desired,
                    None => desired_in(copy, &group).map_err(|e| e.to_string())?,
                };
                let (t, plan) = plan_copy(lab, st, &text)?;
                after = (t.auto_scaling_groups.iter())
                    .position(|g| g.name == group)
                    .map(|g| members_of(&t, g));
                let mut capacity = st.capacity.clone();
                capacity.insert(
                    group.clone(),
                    LiveCapacity {
                        desired,
                        file_desired,
                        instances: instances.to_vec(),
                    },
                );
                Ok(Edit {
                    plan,
                    text,
                    source: st.source.clone(),
                    capacity: Some(capacity),
                    restored: leaving,
                })
            },
        )
        .map_err(|e| self.apply_error(desired, e))?;
        let now_members = after.unwrap_or_default();
        let launched: Vec<String> = (now_members.iter())
            .filter(|n| !self.members.contains(n))
            .cloned()
            .collect();
        let terminated = (self.members.iter())
            .filter(|n| !now_members.contains(n))
            .cloned()
            .collect();
        let in_service_at = clock.aws();
        for m in &launched {
            self.launched_at.insert(m.clone(), in_service_at);
            self.rising.insert(m.clone());
        }
        self.members = now_members;
        self.lab_desired = desired;
        on(Event::Applied {
            desired,
            launched,
            terminated,
            steps: rep.steps,
            seconds: applied.elapsed().as_secs_f64(),
        });
        Ok(rep.steps)
    }
}

/// Whether the controller's replacement of `instance` (`activities`,
/// its instances `before` and `after` it) is one the lab makes in place:
/// a new instance of the same name in the same slot (the group's maximum
/// left no other slot, and its zone, in the name, is not impaired). Else
/// the lab launches the new instance first ([`GroupRun::launch_then_terminate`]).
fn in_place(
    before: &[LiveInstance],
    after: &[LiveInstance],
    activities: &[Activity],
    instance: &str,
) -> bool {
    let slot = |v: &[LiveInstance]| v.iter().find(|i| i.name == instance).map(|i| i.slot);
    let relaunched = (activities.iter())
        .any(|a| matches!(a, Activity::Launch { instance: n, .. } if n == instance));
    relaunched && slot(before).is_some() && slot(before) == slot(after)
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
    to_replace(&target_status(lab, members), launched_at, grace, now)
}

/// The status of each target of `members` at the lab's load balancers
/// (HAProxy's: `UP`, `DOWN 1/2`, ...); none when the lab's state cannot
/// be read.
fn target_status(lab: &str, members: &[String]) -> BTreeMap<String, Vec<String>> {
    let mut status: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let Ok(Some(st)) = load_state(lab) else {
        return status;
    };
    let dir = layout::state_dir(lab);
    for h in &st.plan.haproxy {
        for th in health(&layout::haproxy_socket(&dir, &h.node), h) {
            if members.contains(&th.instance) {
                status.entry(th.instance).or_default().push(th.status);
            }
        }
    }
    status
}

/// Whether a change that terminates instances waits: an instance the lab
/// launched (`rising`, launched at `launched_at`) that stays is not yet
/// `UP` on every target (`status`), within its grace period at `now`.
/// AZRebalance launches before it terminates so that the capacity never
/// falls below the desired one; the lab's instance takes requests only
/// once its health checks pass.
fn waits_for_rising(
    rising: &BTreeSet<String>,
    status: &BTreeMap<String, Vec<String>>,
    (launched_at, grace, now): (&BTreeMap<String, Duration>, Duration, Duration),
) -> bool {
    rising.iter().any(|r| {
        let up = status
            .get(r)
            .is_some_and(|s| !s.is_empty() && s.iter().all(|x| x.starts_with("UP")));
        let launched = launched_at.get(r).copied().unwrap_or_default();
        !up && now < launched + grace
    })
}

/// Replaces `instance`: the lab's plan without it applied (deregistration,
/// then its namespace deleted), then the lab's plan again (a new
/// namespace, addresses, security groups, listener, registration); `sim
/// fail`'s record of it goes with the old namespace. Each half plans
/// from the lab's topology as it is under the lab's lock. The steps run.
fn replace_instance(
    lab: &str,
    programs: &Programs,
    seen: &mut Option<String>,
    instance: &str,
    on: &mut impl FnMut(Event<'_>),
) -> Result<usize, ApplyError> {
    let planned = |st: &LabState, copy: &str| -> Result<crate::plan::Plan, String> {
        plan_copy(lab, st, copy)
            .map(|(_, plan)| plan)
            .map_err(|e| format!("plan the replacement of {instance}: {e}"))
    };
    let mut steps = 0;
    // without it, then with it again (no longer failed)
    for (without, restored) in [(true, Vec::new()), (false, vec![instance.to_string()])] {
        let rep = apply_ours(
            lab,
            programs,
            seen,
            |r| on(Event::Step(r)),
            |st, copy| {
                let plan = planned(st, copy)?;
                Ok(Edit {
                    plan: match without {
                        true => without_instance(&plan, instance),
                        false => plan,
                    },
                    text: copy.to_string(),
                    source: st.source.clone(),
                    capacity: None,
                    restored,
                })
            },
        )?;
        steps += rep.steps;
    }
    Ok(steps)
}

/// The topology `text` (the lab's copy, edited) as lab `lab` would run
/// it, with the ports the lab's state `st` probes: the topology and its
/// plan, what each of the controller's changes applies.
fn plan_copy(
    lab: &str,
    st: &LabState,
    text: &str,
) -> Result<(Topology, crate::plan::Plan), String> {
    let path = layout::state_dir(lab).join("topology.toml");
    let t = topology::parse(&path, text.to_string())
        .map_err(|e| e.to_string())?
        .topology;
    let plan = crate::plan::plan(&t, lab, &st.plan.tcp_ports).map_err(|e| e.to_string())?;
    Ok((t, plan))
}

/// [`exec::apply_edit`] of one of the controller's changes. `seen` is
/// the lab's fingerprint as the controller last read its topology: when
/// the lab still had it as the change began, nobody else applied
/// meanwhile and `seen` follows the change (the controller's own apply is
/// not one to read the topology again for); else it is left behind, and
/// the next period reads the topology again.
fn apply_ours(
    lab: &str,
    programs: &Programs,
    seen: &mut Option<String>,
    on_step: impl FnMut(&StepRun),
    edit: impl FnOnce(&LabState, &str) -> Result<Edit, String>,
) -> Result<exec::ApplyReport, ApplyError> {
    let mut ours: Option<String> = None;
    let was = seen.clone();
    let rep = exec::apply_edit(lab, programs, on_step, |st, copy| {
        let e = edit(st, copy)?;
        if st.built_from == was {
            ours = Some(crate::apply::fingerprint::fingerprint(&e.plan, &e.text));
        }
        Ok(e)
    })?;
    if let Some(fp) = ours {
        *seen = Some(fp);
    }
    Ok(rep)
}

/// The names of group `group`'s instances in `t`.
fn members_of(t: &Topology, group: usize) -> Vec<String> {
    (t.auto_scaling_groups[group].instances.iter())
        .map(|&n| t.nodes[n].name.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use topology::scaling::Datapoints;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn without_cpu_accounting_the_cpu_metric_is_unavailable() {
        let why = "neither cgroup v2 with the cpu controller nor a v1 cpuacct hierarchy is mounted";
        let mut s = Source::cpu(Err(why), "lab1");
        let Err(e) = s.read(Duration::ZERO, &names(&["web-a1"]), &BTreeMap::new()) else {
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
        let Err(e) = s.read(
            Duration::ZERO,
            &names(&["web-a1", "web-c1"]),
            &BTreeMap::new(),
        ) else {
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

    /// The example's group under a run, its controller's instances.
    fn example_run() -> (GroupRun, impl Fn(&GroupRun) -> Vec<String>) {
        let t = crate::example();
        let gi = (t.auto_scaling_groups.iter())
            .position(|g| g.name == "web-asg")
            .expect("web-asg");
        let run = GroupRun::new(
            &t,
            gi,
            "zone-unit",
            (Duration::ZERO, Duration::ZERO),
            &BTreeMap::new(),
        );
        let names = |r: &GroupRun| {
            let mut v: Vec<String> = r.wanted().into_iter().map(|i| i.name).collect();
            v.sort();
            v
        };
        (run, names)
    }

    /// The controller's replacement of `instance` at `now`: whether the
    /// lab makes it in place.
    fn replaced_in_place(r: &mut GroupRun, now: Duration, instance: &str) -> bool {
        let before = r.wanted();
        let activities = r.controller.replace_unhealthy(now, instance);
        in_place(&before, &r.wanted(), &activities, instance)
    }

    #[test]
    fn an_unhealthy_instance_is_replaced_launch_first_while_a_slot_is_spare() {
        let (mut r, names) = example_run();
        let now = Duration::from_secs(600);
        assert!(!replaced_in_place(&mut r, now, "web-a1"));
        assert_eq!(names(&r), ["web-a2", "web-c1"]);
    }

    #[test]
    fn a_zone_the_state_impairs_moves_replacements_and_its_restore_rebalances() {
        let (mut r, names) = example_run();
        let minute = Duration::from_secs(60);
        let mut now = 10 * minute;
        r.follow_zones(&BTreeSet::from(["a".to_string()]));
        // web-a1 failed with its zone: its replacement goes to zone c,
        // which the lab makes as a change of its instances
        assert!(!replaced_in_place(&mut r, now, "web-a1"));
        assert_eq!(names(&r), ["web-c1", "web-c2"]);
        // no rebalancing while the zone is impaired
        now += minute;
        assert!(r
            .controller
            .handle_period(now, &Datapoints::new())
            .is_empty());
        // restored: a launch in zone a first, then, once it is in service
        // (5 minutes' warm-up), a termination in zone c
        r.follow_zones(&BTreeSet::new());
        let mut seen = Vec::new();
        for _ in 0..8 {
            now += minute;
            let activities = r.controller.handle_period(now, &Datapoints::new());
            seen.extend(activities.iter().map(|a| a.to_string()));
            assert!(r.wanted().len() >= 2, "{seen:?}");
        }
        assert!(seen[0].starts_with("launch web-a1 in zone a"), "{seen:?}");
        assert!(seen[1].starts_with("terminate web-c"), "{seen:?}");
        assert_eq!(seen.len(), 2, "{seen:?}");
        let zones: BTreeSet<String> = (r.controller.instances().iter())
            .map(|i| i.zone.clone())
            .collect();
        assert_eq!(zones, BTreeSet::from(["a".into(), "c".into()]));
        // following the same state again changes nothing
        r.follow_zones(&BTreeSet::new());
        assert_eq!(names(&r).len(), 2);
    }

    #[test]
    fn a_termination_waits_for_a_launched_instance_to_pass_its_checks_within_its_grace() {
        let rising = BTreeSet::from(["web-a1".to_string()]);
        let launched: BTreeMap<String, Duration> =
            BTreeMap::from([("web-a1".to_string(), Duration::from_secs(600))]);
        let grace = Duration::from_secs(300);
        let status = |s: &[&str]| BTreeMap::from([("web-a1".to_string(), names(s))]);
        let at = |secs| (&launched, grace, Duration::from_secs(secs));
        assert!(waits_for_rising(&rising, &status(&["DOWN 1/5"]), at(660)));
        assert!(waits_for_rising(
            &rising,
            &status(&["UP", "DOWN 4/5"]),
            at(660)
        ));
        assert!(waits_for_rising(&rising, &BTreeMap::new(), at(660)));
        assert!(!waits_for_rising(&rising, &status(&["UP", "UP"]), at(660)));
        // past its grace period it waits no more (it is replaced instead)
        assert!(!waits_for_rising(&rising, &status(&["DOWN"]), at(900)));
        assert!(!waits_for_rising(
            &BTreeSet::new(),
            &status(&["DOWN"]),
            at(660)
        ));
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
