//! The step executor: a list of [`Step`]s ([`crate::plan::diff::diff`])
//! carried out on a lab — `sim up` (the steps from nothing), `sim apply`
//! (from the lab's plan to the edited one), `sim down` (to nothing).
//!
//! Every step is idempotent — a namespace that exists, an address already
//! there (EEXIST), a route (`replace`), a firewall (one `nft -f`
//! transaction that declares, deletes and defines its tables again), a
//! process (the recorded one still running) are taken as done — so an
//! apply interrupted anywhere is completed by running its steps again.
//!
//! Each step is written to the lab's [`journal`](super::journal) (synced)
//! before it runs and marked done after; consecutive additions of one kind
//! to the kernel are written, run and marked as one batch (one sync each
//! way), so building 200 hosts takes a few dozen syncs, not thousands. A process is recorded in the
//! state file as soon as it runs ([`super::record`]), so `sim down` finds
//! it even if the apply is killed a moment later.
//!
//! Some steps finish together, once the steps of their kind are all done:
//! the wait for the ports of start commands and HAProxy, the listener
//! agent (restarted once with the new plan's listeners), and, at the end,
//! the wait for the BGP sessions the new plan expects.

use std::collections::{BTreeMap, BTreeSet};

use super::agent::{reload_agent, start_agent};
use super::daemons::{arm_bfd, bgp_logs, bgp_note, start_bird, start_frr};
use super::journal::{Entry, Journal};
use super::process::{end_processes, session_of};
use super::reconfigure::{reconfigure_bird, reconfigure_frr};
use super::targets;
use super::*;
use crate::agent::spec::ListenSpec;
use crate::plan::diff::Step;
use gateways::GatewayKeys;

/// How long a gateway that narrows waits for BGP to withdraw the routes
/// into it ([`Step::NarrowGateway`]).
const WITHDRAWN_WITHIN: Duration = Duration::from_secs(3);

/// One step run: its number (from 1), what it was, how long it took.
#[derive(Debug, Clone, Serialize)]
pub struct StepRun {
    /// Its number in the list, from 1.
    pub n: usize,
    /// The step, in words.
    pub step: String,
    /// Milliseconds it took.
    pub ms: f64,
}

/// A lab under change: its state directory and state, the plan it is
/// brought to, one open handle and one netlink connection per namespace.
pub struct Executor<'a> {
    dir: PathBuf,
    state: &'a mut LabState,
    target: &'a Plan,
    programs: &'a Programs,
    rt: tokio::runtime::Runtime,
    handles: BTreeMap<String, Netns>,
    nl: BTreeMap<String, Netlink>,
    journal: Journal,
    /// Ports to wait for before a step of another kind runs.
    ports: Vec<ReadyCheck>,
    /// Whether the listeners changed (the agent is restarted once).
    listeners_changed: bool,
    /// The listeners the agent is to serve as the steps run so far left
    /// them: the recorded plan's, with those of each namespace whose
    /// listeners were stopped taken out and those started put in. A
    /// reload in the middle of a run serves these, not the target's: a
    /// port a start command still holds until a later step stops it is
    /// not bound before that.
    listening: Vec<ListenSpec>,
    /// Whether a namespace the agent listens in was deleted: the agent
    /// holds its sockets from its own namespace, so the deletion does not
    /// take them (they would keep the namespace alive); it is restarted
    /// at the end of the run.
    agent_stale: bool,
    /// Whether a BGP daemon was started or reconfigured.
    bgp_touched: bool,
    /// FRRs started, whose BFD is armed once their sessions are up.
    frr_started: Vec<String>,
    /// The load balancers whose HAProxy was reloaded in this run.
    haproxy_reloaded: BTreeSet<String>,
    /// Whether the run builds the lab (`sim up`): the kernel's features
    /// are detected in its first namespace, and what links, keys and BGP
    /// became is written in the link notes.
    building: bool,
    /// Whether the kernel's features were detected in this run.
    features_detected: bool,
    /// Gateways (by name) that impair their tunnel's datagrams, and how: a
    /// tunnel link's delay, jitter and loss where the kernel has no netem.
    impaired: BTreeMap<String, Shaping>,
    /// The ends of the links added in this run (namespace, interface),
    /// awaited running before the run ends.
    links_added: Vec<(String, String)>,
    /// When the first BGP daemon of this run started.
    bgp_started: Option<Instant>,
}

impl<'a> Executor<'a> {
    /// Opens the lab in `dir` for bringing it to `target`: a handle and a
    /// netlink connection for each of its namespaces that exist.
    pub fn open(
        dir: &Path,
        state: &'a mut LabState,
        target: &'a Plan,
        programs: &'a Programs,
    ) -> Result<Executor<'a>, ApplyError> {
        let journal = Journal::open(dir).map_err(step("open the journal"))?;
        let listening = state.plan.listeners.clone();
        let ex = Executor {
            dir: dir.to_path_buf(),
            state,
            target,
            programs,
            rt: runtime()?,
            handles: BTreeMap::new(),
            nl: BTreeMap::new(),
            journal,
            ports: Vec::new(),
            listeners_changed: false,
            listening,
            agent_stale: false,
            bgp_touched: false,
            frr_started: Vec::new(),
            haproxy_reloaded: BTreeSet::new(),
            building: false,
            features_detected: false,
            impaired: BTreeMap::new(),
            links_added: Vec::new(),
            bgp_started: None,
        };
        Ok(ex)
    }

    /// The executor of `sim up`: it detects the kernel's features in the
    /// first namespace it creates, and notes how links got their
    /// attributes, where MD5 keys came from and when BGP came up.
    pub fn building(mut self) -> Self {
        self.building = true;
        self.listening.clear();
        self
    }

    /// Opens the namespaces that `steps` name and that exist, once each
    /// (a lab of hundreds of namespaces is not opened whole for an edit
    /// of one).
    fn attach_named(&mut self, steps: &[Step]) -> Result<(), ApplyError> {
        for n in namespaces_opened(steps) {
            if !self.handles.contains_key(&n) && netns::exists(&n) {
                self.attach(&n)?;
            }
        }
        Ok(())
    }

    /// Opens namespace `ns` (a handle, a netlink connection, `lo` up).
    fn attach(&mut self, ns: &str) -> Result<(), ApplyError> {
        let h = Netns::open(ns).map_err(step(format!("open namespace {ns}")))?;
        let c = self.rt.block_on(async {
            let c = Netlink::open(&h).map_err(step(format!("netlink in {ns}")))?;
            c.set_up("lo")
                .await
                .map_err(nl_step(format!("lo up in {ns}")))?;
            Ok::<Netlink, ApplyError>(c)
        })?;
        self.handles.insert(ns.to_string(), h);
        self.nl.insert(ns.to_string(), c);
        Ok(())
    }

    fn netns(&self, ns: &str) -> Result<&Netns, ApplyError> {
        self.handles.get(ns).ok_or_else(|| ApplyError::Step {
            step: format!("namespace {ns}"),
            cause: io::Error::other("it does not exist"),
        })
    }

    fn conn(&self, ns: &str) -> Result<Netlink, ApplyError> {
        self.nl.get(ns).cloned().ok_or_else(|| ApplyError::Step {
            step: format!("namespace {ns}"),
            cause: io::Error::other("it does not exist"),
        })
    }

    /// Runs `steps` in order, each journalled before it runs;
    /// `on_step` is told of each once done. Then waits for what the new
    /// plan expects running (ports, listeners, BGP sessions).
    pub fn run(
        &mut self,
        steps: &[Step],
        mut on_step: impl FnMut(&StepRun),
    ) -> Result<(), ApplyError> {
        let journal_err = |e| step("write the journal")(e);
        if !self.building {
            // a lab being built has no namespace yet: each is opened as
            // it is made
            self.attach_named(steps)?;
        }
        self.journal
            .write(&Entry::Begin { steps: steps.len() })
            .map_err(journal_err)?;
        let mut i = 0;
        while i < steps.len() {
            // consecutive additions of one kind run as a batch, journalled
            // with one sync: firewall loads together (one nft each, in
            // parallel), sysctls one thread hop per namespace
            let batch = batch_len(&steps[i..]);
            if i > 0 && steps[i - 1].phase() != steps[i].phase() {
                self.settle_phase()?;
            }
            let started = Instant::now();
            self.journal
                .start(i + 1, &steps[i..i + batch])
                .map_err(journal_err)?;
            self.run_batch(&steps[i..i + batch])?;
            let ms = started.elapsed().as_secs_f64() * 1000.0 / batch as f64;
            let done: Vec<Entry> = (i + 1..=i + batch).map(|n| Entry::Done { n, ms }).collect();
            self.journal.write_all(&done).map_err(journal_err)?;
            for (k, s) in steps[i..i + batch].iter().enumerate() {
                let n = i + k + 1;
                on_step(&StepRun {
                    n,
                    step: s.to_string(),
                    ms,
                });
            }
            i += batch;
        }
        self.settle_phase()?;
        if self.agent_stale {
            self.restart_agent()?;
        }
        self.wait_links_running()?;
        self.settle_bgp()?;
        self.settle_controller()?;
        self.journal.write(&Entry::End).map_err(journal_err)
    }

    /// The lab's scaling controller ([`crate::scaling::service`]) brought
    /// to the target plan: started in the lab's home namespace, and
    /// recorded, when the plan has groups for it and none runs (one that
    /// died is started again); stopped when the plan has none. A running
    /// one reads the lab's topology again by itself once an apply changed
    /// it.
    fn settle_controller(&mut self) -> Result<(), ApplyError> {
        let what = layout::CONTROLLER_PROCESS;
        if self.target.autoscaling.is_empty() {
            if self.state.processes.iter().any(|p| p.what == what) {
                return self.stop(what);
            }
            return Ok(());
        }
        if self.running(what) {
            return Ok(());
        }
        self.state.processes.retain(|p| p.what != what);
        let home = (self.target.namespaces.first())
            .map(|n| n.name.clone())
            .unwrap_or_default();
        let ns = Netns::open(&home).map_err(step(format!("open namespace {home}")))?;
        let pid = spawn_daemon(
            &ns,
            &self.programs.vifgate,
            &["sim", "controller", "--lab", &self.target.lab],
            &layout::controller_log(&self.dir),
        )
        .map_err(step("start the scaling controller"))?;
        record(&self.dir, self.state, pid, what)
    }

    /// What waits for the end of a run of steps of one kind: the ports of
    /// what was started, the listener agent.
    fn settle_phase(&mut self) -> Result<(), ApplyError> {
        if !self.ports.is_empty() {
            wait_until_listening(&std::mem::take(&mut self.ports))?;
        }
        if std::mem::take(&mut self.listeners_changed) {
            self.restart_agent()?;
        }
        Ok(())
    }

    /// Runs a batch of steps of one kind ([`batch_len`]).
    fn run_batch(&mut self, batch: &[Step]) -> Result<(), ApplyError> {
        match batch {
            [Step::LoadFirewall { .. }, _, ..] => self.load_firewalls(batch),
            [Step::SetSysctl { .. }, ..] => self.set_sysctls(batch),
            [Step::DeleteNamespace { .. }, ..] => {
                let names: Vec<&str> = (batch.iter())
                    .filter_map(|s| match s {
                        Step::DeleteNamespace { ns } => Some(ns.as_str()),
                        _ => None,
                    })
                    .collect();
                self.delete_namespaces(&names)
            }
            _ => batch.iter().try_for_each(|s| self.one(s)),
        }
    }

    /// The sysctls of `steps`, one thread hop into each namespace.
    fn set_sysctls(&mut self, steps: &[Step]) -> Result<(), ApplyError> {
        let mut by_ns: BTreeMap<&str, Vec<(String, String)>> = BTreeMap::new();
        for s in steps {
            if let Step::SetSysctl { sysctl: s } = s {
                by_ns
                    .entry(&s.ns)
                    .or_default()
                    .push((s.key.clone(), s.value.clone()));
            }
        }
        for (ns, list) in by_ns {
            netlink::sysctls(self.netns(ns)?, &list).map_err(step(format!("sysctls in {ns}")))?;
        }
        Ok(())
    }

    /// Waits (5 s at most) until every end of the links this run added
    /// runs: the lab is handed over once every new link carries traffic.
    fn wait_links_running(&mut self) -> Result<(), ApplyError> {
        let mut ends: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (ns, ifname) in std::mem::take(&mut self.links_added) {
            ends.entry(ns).or_default().push(ifname);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        for (ns, names) in &ends {
            let Ok(c) = self.conn(ns) else {
                continue;
            };
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            let left = deadline.saturating_duration_since(Instant::now());
            if !self
                .rt
                .block_on(crate::kernel::link_wait::wait_running(&c, &names, left))
            {
                debug!(ns, "links not all running after 5 s");
            }
        }
        Ok(())
    }

    /// Runs one step.
    fn one(&mut self, s: &Step) -> Result<(), ApplyError> {
        let what = s.to_string();
        match s {
            Step::CreateNamespace { namespace } => {
                if !netns::exists(&namespace.name) {
                    netns::create(&namespace.name).map_err(step(what))?;
                }
                self.attach(&namespace.name)?;
                if self.building && !self.features_detected {
                    // once, in the first namespace made
                    let h = self.netns(&namespace.name)?;
                    self.state.features = self.rt.block_on(netlink::detect_features(h));
                    self.features_detected = true;
                }
                Ok(())
            }
            Step::DeleteNamespace { ns } => self.delete_namespaces(&[ns]),
            Step::SetSysctl { sysctl: s } => {
                netlink::sysctl(self.netns(&s.ns)?, &s.key, &s.value).map_err(step(what))
            }
            Step::ResetSysctl { ns, key } => {
                let value = netlink::default_sysctl(key).map_err(step(what.clone()))?;
                netlink::sysctl(self.netns(ns)?, key, &value).map_err(step(what))
            }
            Step::AddBridge { bridge: b } => {
                let c = self.conn(&b.ns)?;
                self.rt.block_on(async {
                    if !has_link(&c, &b.name).await? {
                        c.bridge(&b.name).await.map_err(nl_step(&what))?;
                    }
                    c.set_up(&b.name).await.map_err(nl_step(&what))
                })
            }
            Step::DeleteBridge { ns, name } => self.delete_link(ns, name, &what),
            Step::AttachPort { ns, bridge, port } => {
                let c = self.conn(ns)?;
                self.rt
                    .block_on(c.set_master(port, bridge))
                    .map_err(nl_step(what))
            }
            Step::DetachPort { ns, port, .. } => {
                let c = self.conn(ns)?;
                self.rt
                    .block_on(c.set_nomaster(port))
                    .map_err(nl_step(what))
            }
            Step::AddVeth { link: l } => self.add_veth(l, &what),
            Step::DeleteVeth { a, .. } => self.delete_link(&a.ns, &a.ifname, &what),
            Step::AddAddress { address: a } => {
                let c = self.conn(&a.ns)?;
                let ifname = self.tagged(&a.ns, &a.ifname);
                self.rt.block_on(async {
                    match c.add_address(&ifname, a.addr).await {
                        Err(e) if e.errno() == Some(libc::EEXIST) => Ok(()),
                        r => r.map_err(nl_step(&what)),
                    }
                })
            }
            Step::DeleteAddress { address: a } => {
                let ifname = self.tagged(&a.ns, &a.ifname);
                let c = self.conn(&a.ns)?;
                self.rt.block_on(async {
                    match c.del_address(&ifname, a.addr).await {
                        Err(e) if matches!(e.errno(), Some(libc::EADDRNOTAVAIL | libc::ENODEV)) => {
                            Ok(())
                        }
                        r => r.map_err(nl_step(&what)),
                    }
                })
            }
            Step::AddRoute { route, .. } | Step::ReplaceRoute { route, .. } => {
                let c = self.conn(&route.ns)?;
                self.rt
                    .block_on(c.replace_route(&route.route()))
                    .map_err(nl_step(what))
            }
            Step::DeleteRoute { route, .. } => {
                let c = self.conn(&route.ns)?;
                self.rt.block_on(async {
                    match c.del_route(&route.route()).await {
                        Err(e) if matches!(e.errno(), Some(libc::ESRCH | libc::ENODEV)) => Ok(()),
                        r => r.map_err(nl_step(&what)),
                    }
                })
            }
            Step::AddRule { rule: r } | Step::ReplaceRule { rule: r } => {
                let c = self.conn(&r.ns)?;
                if matches!(s, Step::ReplaceRule { .. }) {
                    self.rt
                        .block_on(del_rule(&c, &r.iif, r.priority))
                        .map_err(nl_step(what.clone()))?;
                }
                let rule = Rule {
                    iif: Some(r.iif.clone()),
                    table: r.table,
                    priority: r.priority,
                };
                self.rt.block_on(async {
                    match c.add_rule(&rule).await {
                        Err(e) if e.errno() == Some(libc::EEXIST) => Ok(()),
                        r => r.map_err(nl_step(&what)),
                    }
                })
            }
            Step::DeleteRule { rule: r } => {
                let c = self.conn(&r.ns)?;
                self.rt
                    .block_on(del_rule(&c, &r.iif, r.priority))
                    .map_err(nl_step(what))
            }
            Step::SetShaping { shaping: s } => self.set_shaping(s, &what),
            Step::ClearShaping { ns, ifname } => {
                self.forget_shaping_note(ns, ifname);
                self.shape(ns, ifname, &Shaping::default(), &what)
            }
            Step::LoadFirewall { .. } => self.load_firewalls(std::slice::from_ref(s)),
            Step::DeleteFirewall { ns, tables } => {
                let script: String = tables
                    .iter()
                    .map(|t| format!("table {t}\ndelete table {t}\n"))
                    .collect();
                netns::nft(ns, &["-f", "-"], Some(&script))
                    .map(drop)
                    .map_err(step(what))
            }
            Step::InstallMd5Key { key } => {
                let base = self.state.source.as_deref().and_then(Path::parent);
                let k = md5::resolve(key, base, |v| std::env::var(v).ok(), md5::random_key)
                    .map_err(|e| step(what.clone())(io::Error::other(e)))?;
                md5::write_key_file(&key.key_file, &k.key).map_err(step(what))?;
                if self.building {
                    self.state.link_notes.push(k.note);
                }
                Ok(())
            }
            Step::RemoveMd5Key { key } => match fs::remove_file(&key.key_file) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(step(what)(e)),
                _ => Ok(()),
            },
            Step::StartGateway { gateway } => self.start_gateway(gateway),
            Step::ReconfigureGateway { gateway: g } => {
                self.write_gateway_config(g)?;
                self.signal(&gateway_what(&g.name), libc::SIGHUP, &what)
            }
            Step::NarrowGateway { gateway: g } => {
                self.wait_withdrawn(g);
                self.write_gateway_config(g)?;
                self.signal(&gateway_what(&g.name), libc::SIGHUP, &what)
            }
            Step::StopGateway { name, .. } => self.stop(&gateway_what(name)),
            Step::StartBird { bird: b } => {
                self.bgp_touched = true;
                self.bgp_started.get_or_insert_with(Instant::now);
                if self.running(&format!("BIRD {}", b.name)) {
                    return Ok(());
                }
                let ns = self.handles.get(&b.ns).ok_or_else(|| ApplyError::Step {
                    step: what,
                    cause: io::Error::other(format!("namespace {} does not exist", b.ns)),
                })?;
                start_bird(b, ns, &self.dir, self.state)
            }
            Step::ReconfigureBird { bird: b } => {
                self.bgp_touched = true;
                reconfigure_bird(b).map_err(step(what))
            }
            Step::StopBird { name, .. } => self.stop(&format!("BIRD {name}")),
            Step::StartFrr { frr } => {
                self.bgp_touched = true;
                self.bgp_started.get_or_insert_with(Instant::now);
                if self.running(&frr_what("bgpd", &frr.node)) {
                    return Ok(());
                }
                let keys = self.md5_keys();
                let dir = self.dir.clone();
                let ns = Netns::open(&frr.ns).map_err(step(what))?;
                start_frr(frr, &keys, &ns, &dir, self.state)?;
                self.frr_started.push(frr.node.clone());
                Ok(())
            }
            Step::ReconfigureFrr { frr } => {
                self.bgp_touched = true;
                let keys = self.md5_keys();
                reconfigure_frr(frr, &keys).map_err(step(what))
            }
            Step::StopFrr { node, .. } => {
                for d in ["bgpd", "bfdd", "zebra"] {
                    self.stop(&frr_what(d, node))?;
                }
                Ok(())
            }
            Step::StartCommand { start: st } => {
                let recorded = start_what(st);
                let i = (self.target.starts.iter())
                    .position(|t| t == st)
                    .unwrap_or(self.target.starts.len());
                let log = start_log(&self.dir, st, i);
                // running: its `sh`, or what it left in its session
                let running = (self.state.processes.iter())
                    .find(|p| {
                        p.what == recorded && (p.is_running() || process::session_alive(p.pid))
                    })
                    .map(|p| p.pid);
                let sid = match running {
                    Some(pid) => pid,
                    None => {
                        let pid = spawn_daemon(
                            self.netns(&st.ns)?,
                            Path::new("/bin/sh"),
                            &["-c", &st.command],
                            &log,
                        )
                        .map_err(step(what.clone()))?;
                        record(&self.dir, self.state, pid, recorded)?;
                        pid
                    }
                };
                for &p in &st.tcp_ports {
                    // `sh -c` may end once its command went to the
                    // background: its session is watched
                    let watch = Watch::Session(sid);
                    self.ports
                        .push((st.ns.clone(), what.clone(), p, log.clone(), watch));
                }
                Ok(())
            }
            Step::StopCommand { start } => self.stop(&start_what(start)),
            Step::StartListener { listener } => {
                self.listening.retain(|l| l.ns != listener.ns);
                self.listening.push(listener.clone());
                self.listeners_changed = true;
                Ok(())
            }
            Step::StopListener { ns, .. } => {
                self.listening.retain(|l| &l.ns != ns);
                self.listeners_changed = true;
                Ok(())
            }
            Step::StartHaproxy { haproxy: h } => self.start_haproxy(h, &what),
            Step::ReloadHaproxy { haproxy: h } => self.reload_haproxy(h, &what),
            Step::StopHaproxy { node, .. } => self.stop(&haproxy_what(node)),
            Step::RegisterTarget { node, target, .. } => {
                let (sock, map) = self.haproxy_runtime(node);
                let put = targets::register(&sock, &map, target).map_err(step(what.as_str()))?;
                if put == targets::Registered::NoSlot {
                    // a target with no slot: the new configuration is
                    // loaded by a seamless reload, once for this run
                    if !self.haproxy_reloaded.insert(node.clone()) {
                        return Ok(());
                    }
                    return match self.target.haproxy.iter().find(|h| &h.node == node) {
                        Some(h) => self.reload_haproxy(&h.clone(), &what),
                        None => Err(step(what)(io::Error::other("no such load balancer"))),
                    };
                }
                self.write_haproxy_config(node)
            }
            Step::DeregisterTarget {
                node,
                target,
                delay,
                ..
            } => {
                let (sock, _) = self.haproxy_runtime(node);
                targets::deregister(&sock, target, *delay).map_err(step(what))?;
                self.write_haproxy_config(node)
            }
        }
    }

    /// The name of `ifname`'s VLAN sub-interface when its link is tagged
    /// and the kernel tags (as `sim up` made it), else `ifname`.
    fn tagged(&self, ns: &str, ifname: &str) -> String {
        let vlan = self
            .target
            .links
            .iter()
            .chain(&self.state.plan.links)
            .find(|l| {
                [&l.a, &l.b]
                    .iter()
                    .any(|e| e.ns == ns && e.ifname == ifname)
            })
            .and_then(|l| l.vlan);
        match vlan {
            Some(v) if self.state.features.vlan => format!("{ifname}.{v}"),
            _ => ifname.to_string(),
        }
    }

    fn add_veth(&mut self, l: &plan::VethSpec, what: &str) -> Result<(), ApplyError> {
        let vlan = l.vlan.filter(|_| self.state.features.vlan);
        if self.building {
            if let Some(v) = l.vlan {
                self.state.link_notes.push(match vlan {
                    Some(_) => format!(
                        "{} {}: 802.1Q VLAN {v} ({}.{v} at both ends)",
                        l.joins.0, l.joins.1, l.a.ifname
                    ),
                    None => format!(
                        "{} {}: VLAN {v} untagged (this kernel has no 8021q)",
                        l.joins.0, l.joins.1
                    ),
                });
            }
        }
        for end in [&l.a, &l.b] {
            self.links_added.push((end.ns.clone(), end.ifname.clone()));
        }
        let (a, b) = (self.conn(&l.a.ns)?, self.conn(&l.b.ns)?);
        let peer_ns = self.netns(&l.b.ns)?;
        self.rt.block_on(async {
            if !has_link(&a, &l.a.ifname).await? {
                a.veth(&l.a.ifname, &l.b.ifname, peer_ns)
                    .await
                    .map_err(nl_step(what))?;
            }
            for (c, end) in [(&a, &l.a), (&b, &l.b)] {
                if let Some(mtu) = l.mtu {
                    c.set_mtu(&end.ifname, mtu).await.map_err(nl_step(what))?;
                }
                if let Some(v) = vlan {
                    let sub = format!("{}.{v}", end.ifname);
                    if !has_link(c, &sub).await? {
                        c.vlan(&sub, &end.ifname, v).await.map_err(nl_step(what))?;
                    }
                    c.set_up(&sub).await.map_err(nl_step(what))?;
                }
                c.set_up(&end.ifname).await.map_err(nl_step(what))?;
            }
            Ok(())
        })
    }

    fn delete_link(&mut self, ns: &str, name: &str, what: &str) -> Result<(), ApplyError> {
        let Ok(c) = self.conn(ns) else {
            return Ok(());
        };
        self.rt.block_on(async {
            if has_link(&c, name).await? {
                c.del_link(name).await.map_err(nl_step(what))?;
            }
            Ok(())
        })
    }

    fn shape(&mut self, ns: &str, ifname: &str, s: &Shaping, what: &str) -> Result<(), ApplyError> {
        let c = self.conn(ns)?;
        let features = self.state.features;
        self.rt
            .block_on(c.shape(ifname, s, &features))
            .map(drop)
            .map_err(nl_step(what))
    }

    /// Shapes an interface as `s` says; what the kernel cannot do (no
    /// netem) on a tunnel's link goes to the gateways at its ends
    /// ([`Executor::write_gateway_config`]). `sim up` notes how.
    fn set_shaping(&mut self, s: &plan::ShapeSpec, what: &str) -> Result<(), ApplyError> {
        let c = self.conn(&s.ns)?;
        let features = self.state.features;
        let rep = self
            .rt
            .block_on(c.shape(&s.ifname, &s.shaping, &features))
            .map_err(nl_step(what))?;
        let missing = [rep.delay, rep.jitter, rep.loss].contains(&Mechanism::Unsupported);
        let link = self.target.links.iter().find(|l| {
            [&l.a, &l.b]
                .iter()
                .any(|e| e.ns == s.ns && e.ifname == s.ifname)
        });
        let mut unsupported = "nothing: this kernel has no netem";
        if let (true, Some(l)) = (missing, link) {
            if matches!(l.kind, plan::LinkKind::DirectConnect | plan::LinkKind::Vpn) {
                for g in plan::tunnel_gateways(self.target, l) {
                    let Some(g) = self.target.gateways.get(g) else {
                        continue;
                    };
                    let impair = Shaping {
                        rate_bps: None,
                        ..s.shaping.clone()
                    };
                    self.impaired.insert(g.name.clone(), impair);
                }
                unsupported = "the vifgate gateways at both ends (no netem in this kernel)";
            }
        }
        // the note of a link shaped again (`sim apply`) is replaced
        self.forget_shaping_note(&s.ns, &s.ifname);
        let how = describe(&rep, unsupported);
        (self.state.link_notes).push(format!("{} {}: {} ({})", s.ns, s.ifname, s.shaping, how));
        Ok(())
    }

    /// Drops the link note of interface `ifname` in `ns` ([`Self::set_shaping`]'s).
    fn forget_shaping_note(&mut self, ns: &str, ifname: &str) {
        let prefix = format!("{ns} {ifname}: ");
        self.state.link_notes.retain(|n| !n.starts_with(&prefix));
    }

    /// Each firewall's tables replaced in one `nft -f` transaction, all
    /// namespaces' at once.
    fn load_firewalls(&mut self, steps: &[Step]) -> Result<(), ApplyError> {
        let scripts: Vec<(String, String, String)> = steps
            .iter()
            .filter_map(|s| match s {
                Step::LoadFirewall { firewall, .. } => Some((
                    firewall.ns.clone(),
                    s.nft_script().unwrap_or_default(),
                    s.to_string(),
                )),
                _ => None,
            })
            .collect();
        let runs: Vec<(&str, &[&str], Option<&str>)> = scripts
            .iter()
            .map(|(ns, script, _)| (ns.as_str(), &["-f", "-"][..], Some(script.as_str())))
            .collect();
        for ((_, _, what), loaded) in scripts.iter().zip(netns::nft_each(&runs)) {
            loaded.map_err(step(what.clone()))?;
        }
        Ok(())
    }

    /// Namespaces deleted with whatever runs in them: their recorded
    /// processes, and any other found in them. Their processes are ended
    /// together and the state file written once, so that `sim down` of
    /// 200 hosts is not 200 rounds of both.
    fn delete_namespaces(&mut self, names: &[&str]) -> Result<(), ApplyError> {
        let mut ids: Vec<(u64, u64)> = Vec::new();
        let mut pids: Vec<u32> = Vec::new();
        let mut there: Vec<&str> = Vec::new();
        for &ns in names {
            if self.state.plan.listeners.iter().any(|l| l.ns == ns) {
                self.agent_stale = true;
            }
            self.listening.retain(|l| l.ns != ns);
            self.handles.remove(ns);
            let conn = self.nl.remove(ns);
            let Ok(meta) = fs::metadata(netns::path(ns)) else {
                continue;
            };
            // its links first: the kernel frees a deleted namespace's links
            // (the far ends of its veths) only later, from a work queue, and
            // a name freed so may be taken again by this run. Not when the
            // lab goes whole (`sim down`): nothing is made again, a veth's
            // deletion waits for the kernel (tens of ms each), and no
            // connection is opened into a namespace about to go
            if !self.target.namespaces.is_empty() {
                self.delete_links(ns, conn);
            }
            ids.push((meta.dev(), meta.ino()));
            pids.extend(
                pids_in(ns)
                    .into_iter()
                    .filter_map(|p| u32::try_from(p).ok()),
            );
            there.push(ns);
        }
        if there.is_empty() {
            return Ok(());
        }
        let inside = |pid: u32| ids.iter().any(|&id| process::in_namespace(pid, id));
        let (ended, kept): (Vec<ProcessRecord>, Vec<ProcessRecord>) =
            std::mem::take(&mut self.state.processes)
                .into_iter()
                .partition(|p| p.is_running() && inside(p.pid));
        self.state.processes = kept;
        pids.extend(ended.iter().map(|p| p.pid));
        pids.sort_unstable();
        pids.dedup();
        end_processes(&pids, inside);
        write_state(&self.dir, self.state).map_err(step("write the state file"))?;
        for ns in there {
            netns::delete(ns).map_err(step(format!("delete namespace {ns}")))?;
        }
        Ok(())
    }

    /// Deletes the links of namespace `ns` but its loopback, through
    /// `conn` when it is open, else through a connection opened for it.
    fn delete_links(&self, ns: &str, conn: Option<Netlink>) {
        self.rt.block_on(async {
            let opened = match conn {
                Some(c) => Ok(c),
                None => Netns::open(ns).and_then(|h| Netlink::open(&h)),
            };
            let Ok(c) = opened else {
                return;
            };
            for name in c.link_names().await.unwrap_or_default() {
                if name != "lo" {
                    let _ = c.del_link(&name).await;
                }
            }
        });
    }

    /// Whether the process recorded as `what` still runs.
    fn running(&self, what: &str) -> bool {
        self.state
            .processes
            .iter()
            .any(|p| p.what == what && p.is_running())
    }

    fn signal(&self, what: &str, signal: libc::c_int, step_text: &str) -> Result<(), ApplyError> {
        let p = (self.state.processes.iter())
            .find(|p| p.what == what && p.is_running())
            .ok_or_else(|| ApplyError::Step {
                step: step_text.to_string(),
                cause: io::Error::other(format!("{what} is not running")),
            })?;
        p.signal(signal).map(drop).map_err(step(step_text))
    }

    /// Ends the process recorded as `what` (SIGTERM, SIGKILL after 2 s)
    /// with the processes of its session, and forgets it.
    fn stop(&mut self, what: &str) -> Result<(), ApplyError> {
        let (gone, kept): (Vec<ProcessRecord>, Vec<ProcessRecord>) =
            std::mem::take(&mut self.state.processes)
                .into_iter()
                .partition(|p| p.what == what);
        self.state.processes = kept;
        for p in gone.iter().filter(|p| p.is_running()) {
            let mut pids = session_of(p.pid);
            pids.push(p.pid);
            let start = p.start_time;
            let leader = p.pid;
            end_processes(&pids, |pid| {
                pid != leader || process::start_time(pid).is_ok_and(|t| t == start)
            });
        }
        write_state(&self.dir, self.state).map_err(step("write the state file"))
    }

    /// The gateways' keys, in the target plan's order: each read from its
    /// key file, made (and written) for a gateway that has none.
    fn gateway_keys(&self) -> Result<GatewayKeys, ApplyError> {
        let mut keys = GatewayKeys {
            private: Vec::new(),
            public: Vec::new(),
        };
        for g in &self.target.gateways {
            let path = self.dir.join(format!("{}.key", g.name));
            let what = format!("the key of gateway {}", g.name);
            let private: gateway::keys::PrivateKey = match fs::read(&path) {
                Ok(bytes) => gateway::keys::parse_key_text(&bytes)
                    .map_err(|e| step(what.clone())(io::Error::other(e.to_string())))?,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    let k = gateway::keys::PrivateKey::generate()
                        .map_err(|e| step(what.clone())(io::Error::other(e.to_string())))?;
                    write_private_key(&path, &k.to_base64()).map_err(step(what.clone()))?;
                    k
                }
                Err(e) => return Err(step(what)(e)),
            };
            keys.public.push(private.public_key().to_base64());
            keys.private.push(private.to_base64());
        }
        Ok(keys)
    }

    /// Waits (at most [`WITHDRAWN_WITHIN`]) until no route a BGP daemon
    /// wrote in gateway `g`'s namespace leads a prefix `g` no longer
    /// allows into its TUN device: the BGP daemons' reconfiguration, just
    /// before, withdraws them in a few milliseconds. Past the wait the
    /// gateway narrows all the same (said in the log).
    fn wait_withdrawn(&self, g: &GatewaySpec) {
        let Some(was) = self.state.plan.gateways.iter().find(|o| o.name == g.name) else {
            return;
        };
        let gone: BTreeSet<ipnet::Ipv4Net> = was
            .peers
            .iter()
            .flat_map(|p| &p.allowed)
            .filter(|a| !g.peers.iter().any(|p| p.allowed.contains(a)))
            .copied()
            .collect();
        if gone.is_empty() {
            return;
        }
        let Ok(c) = self.conn(&g.ns) else {
            return;
        };
        let deadline = Instant::now() + WITHDRAWN_WITHIN;
        loop {
            // a TUN device gone has no routes left
            let routes = self.rt.block_on(c.bgp_routes_through(&g.tun));
            let left = routes.is_ok_and(|r| r.iter().any(|dst| gone.contains(dst)));
            if !left {
                return;
            }
            if Instant::now() >= deadline {
                tracing::warn!(gateway = %g.name, "BGP still routes a withdrawn prefix into it after {} ms: narrowing it all the same", WITHDRAWN_WITHIN.as_millis());
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Writes gateway `g`'s configuration for the target plan, with the
    /// impairment this run's shaping gave it (a link's delay without
    /// netem), else the one it had.
    fn write_gateway_config(&self, g: &GatewaySpec) -> Result<PathBuf, ApplyError> {
        let keys = self.gateway_keys()?;
        let key_path = self.dir.join(format!("{}.key", g.name));
        let topo = self.dir.join("topology.toml");
        let path = self.dir.join(format!("{}.toml", g.name));
        let mut conf = gateway_config(self.target, g, &keys, &key_path, &self.dir, &topo);
        conf.impair = match self.impaired.get(&g.name) {
            Some(s) => Some(gateways::impair_file(s)),
            None => GatewayConfigFile::read(&path).ok().and_then(|c| c.impair),
        };
        conf.write(&path, &config_header(&self.target.lab))
            .map_err(|e| step(format!("configure gateway {}", g.name))(io::Error::other(e)))?;
        Ok(path)
    }

    fn start_gateway(&mut self, g: &GatewaySpec) -> Result<(), ApplyError> {
        let what = gateway_what(&g.name);
        if !self.running(&what) {
            let path = self.write_gateway_config(g)?;
            let pid = spawn_daemon(
                self.netns(&g.ns)?,
                &self.programs.vifgate,
                &["gateway", "--config", &path.to_string_lossy()],
                &self.dir.join(format!("{}.log", g.name)),
            )
            .map_err(step(format!("start gateway {}", g.name)))?;
            record(&self.dir, self.state, pid, what.clone())?;
        }
        let c = self.conn(&g.ns)?;
        let log = self.dir.join(format!("{}.log", g.name));
        let pid = (self.state.processes.iter())
            .find(|p| p.what == what)
            .map(|p| p.pid)
            .unwrap_or(0);
        self.rt.block_on(async {
            let deadline = Instant::now() + Duration::from_secs(10);
            while !has_link(&c, &g.tun).await? {
                let step = || format!("gateway {} in {}", g.name, g.ns);
                if let Some(cause) = super::startup::exited(pid, &[&log]) {
                    return Err(ApplyError::Step {
                        step: step(),
                        cause,
                    });
                }
                if Instant::now() > deadline {
                    let log = fs::read_to_string(&log).unwrap_or_default();
                    return Err(ApplyError::Step {
                        step: step(),
                        cause: io::Error::other(format!(
                            "its TUN device {} did not appear within 10 s; its log:\n{log}",
                            g.tun
                        )),
                    });
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            c.set_up(&g.tun)
                .await
                .map_err(nl_step(format!("{} up", g.tun)))
        })
    }

    /// The MD5 keys of the target plan's sessions, as their key files
    /// hold them.
    fn md5_keys(&self) -> BTreeMap<String, String> {
        (self.target.bird.md5.iter())
            .filter_map(|m| {
                let text = fs::read_to_string(&m.key_file).ok()?;
                Some((m.session.clone(), md5::key_of_file(&text)?))
            })
            .collect()
    }

    fn haproxy_files(&self, node: &str) -> (PathBuf, PathBuf) {
        let token = layout::ns_token(node);
        (
            self.dir.join(format!("haproxy-{token}.cfg")),
            self.dir.join(format!("haproxy-{token}.log")),
        )
    }

    /// Writes the target plan's HAProxy configuration of `node` (what a
    /// restart would read).
    fn write_haproxy_config(&self, node: &str) -> Result<(), ApplyError> {
        let Some(h) = self.target.haproxy.iter().find(|h| h.node == node) else {
            return Ok(());
        };
        self.write_haproxy_files(h)
    }

    /// Writes `h`'s configuration and its target map, what HAProxy reads.
    fn write_haproxy_files(&self, h: &plan::HaproxySpec) -> Result<(), ApplyError> {
        let (cfg, _) = self.haproxy_files(&h.node);
        write_new(&cfg, h.config.as_bytes(), 0o644)
            .map(drop)
            .map_err(step(format!("write {}", cfg.display())))?;
        let map = layout::haproxy_target_map(&self.dir, &h.node);
        let text = crate::render::haproxy::target_map(&h.targets);
        write_new(&map, text.as_bytes(), 0o644)
            .map(drop)
            .map_err(step(format!("write {}", map.display())))
    }

    /// The runtime API socket and the target map of load balancer `node`.
    fn haproxy_runtime(&self, node: &str) -> (PathBuf, PathBuf) {
        (
            layout::haproxy_socket(&self.dir, node),
            layout::haproxy_target_map(&self.dir, node),
        )
    }

    fn start_haproxy(&mut self, h: &plan::HaproxySpec, what: &str) -> Result<(), ApplyError> {
        let recorded = haproxy_what(&h.node);
        let (cfg, log) = self.haproxy_files(&h.node);
        let mut started = None;
        if !self.running(&recorded) {
            self.write_haproxy_files(h)?;
            super::check::haproxy(&cfg).map_err(step(what))?;
            let pid = spawn_daemon(
                self.netns(&h.ns)?,
                Path::new("haproxy"),
                &["-f", &cfg.to_string_lossy(), "-db"],
                &log,
            )
            .map_err(step(what))?;
            record(&self.dir, self.state, pid, recorded)?;
            started = Some(pid);
        }
        for &port in &h.ports {
            self.ports.push((
                h.ns.clone(),
                what.to_string(),
                port,
                log.clone(),
                started.map_or(Watch::Nothing, Watch::Daemon),
            ));
        }
        Ok(())
    }

    /// A new HAProxy with the new configuration takes over from the old:
    /// it receives the old one's listening sockets through the runtime
    /// API (`-x`: no connection is refused meanwhile), then the old one
    /// stops (`-sf`) once its connections have ended.
    fn reload_haproxy(&mut self, h: &plan::HaproxySpec, what: &str) -> Result<(), ApplyError> {
        let recorded = haproxy_what(&h.node);
        let old = (self.state.processes.iter())
            .find(|p| p.what == recorded && p.is_running())
            .map(|p| p.pid);
        let Some(old) = old else {
            return self.start_haproxy(h, what);
        };
        let (cfg, log) = self.haproxy_files(&h.node);
        self.write_haproxy_files(h)?;
        super::check::haproxy(&cfg).map_err(step(what))?;
        let reload_log = log.with_extension(format!("{old}.log"));
        let pid = spawn_daemon(
            self.netns(&h.ns)?,
            Path::new("haproxy"),
            &[
                "-f",
                &cfg.to_string_lossy(),
                "-db",
                "-x",
                &layout::haproxy_socket(&self.dir, &h.node).to_string_lossy(),
                "-sf",
                &old.to_string(),
            ],
            &reload_log,
        )
        .map_err(step(what))?;
        record(&self.dir, self.state, pid, recorded.clone())?;
        // the old record goes once the new one is recorded; `down` still
        // finds the old process in the namespace until it ends
        self.state
            .processes
            .retain(|p| !(p.what == recorded && p.pid == old));
        write_state(&self.dir, self.state).map_err(step("write the state file"))?;
        for &port in &h.ports {
            self.ports.push((
                h.ns.clone(),
                what.to_string(),
                port,
                reload_log.clone(),
                Watch::Daemon(pid),
            ));
        }
        Ok(())
    }

    /// The listener agent brought to the target plan's listeners: the
    /// running one told to read its spec again (SIGHUP: the listeners
    /// still wanted never stop), else one started (or it is stopped, if
    /// the plan has none).
    fn restart_agent(&mut self) -> Result<(), ApplyError> {
        self.agent_stale = false;
        // in the target plan's order, as `sim up` writes them
        let place = |l: &ListenSpec| {
            (self.target.listeners.iter())
                .position(|t| t.ns == l.ns)
                .unwrap_or(usize::MAX)
        };
        let mut listening = self.listening.clone();
        listening.sort_by_key(place);
        if listening.is_empty() {
            return self.stop("listeners");
        }
        let agent = (self.state.processes.iter())
            .find(|p| p.what == "listeners" && p.is_running())
            .map(|p| p.pid);
        if let Some(pid) = agent {
            match reload_agent(&self.dir, pid, &listening) {
                Ok(()) => return Ok(()),
                Err(e) => tracing::warn!("the listener agent did not reload ({e}): restarted"),
            }
        }
        self.stop("listeners")?;
        let home = (self.target.namespaces.first())
            .map(|n| n.name.clone())
            .unwrap_or_default();
        let ns = Netns::open(&home).map_err(step(format!("open namespace {home}")))?;
        start_agent(
            &self.dir,
            &ns,
            &self.programs.vifgate,
            &listening,
            self.state,
        )
    }

    /// After the last step: when a BGP daemon was started or
    /// reconfigured, waits until every session the new plan expects is
    /// Established and its routes learned; arms the BFD of FRRs started.
    fn settle_bgp(&mut self) -> Result<(), ApplyError> {
        if !self.bgp_touched {
            return Ok(());
        }
        let awaited = bgp_awaited(self.target);
        let within = bgp::wait::ESTABLISHED_WITHIN;
        let started = Instant::now();
        let since = self.bgp_started.unwrap_or(started);
        bgp::wait::wait_established(&awaited, within).map_err(|missing| ApplyError::Step {
            step: "BGP sessions".into(),
            cause: io::Error::other(format!(
                "not Established within {} s: {missing}; the logs:{}",
                within.as_secs(),
                bgp_logs(self.target)
            )),
        })?;
        let established = since.elapsed();
        // FRR's BFD, now that its sessions are up (see crate::render::frr;
        // a session the analysis expects down, configured down, was not
        // waited for: its BFD is armed all the same)
        for f in self
            .target
            .frr
            .iter()
            .filter(|f| self.frr_started.contains(&f.node))
        {
            arm_bfd(&f.run_dir, &f.config).map_err(step(format!("BFD of FRR {}", f.node)))?;
        }
        if !self.frr_started.is_empty() {
            let left = within.saturating_sub(started.elapsed());
            bgp::wait::wait_bfd(&awaited, left).map_err(|missing| ApplyError::Step {
                step: "BFD sessions".into(),
                cause: io::Error::other(format!(
                    "not up: {missing}; the logs:{}",
                    bgp_logs(self.target)
                )),
            })?;
        }
        let left = within.saturating_sub(started.elapsed());
        bgp::wait::wait_routes(&awaited, left).map_err(|missing| ApplyError::Step {
            step: "BGP routes".into(),
            cause: io::Error::other(format!("{missing}; the logs:{}", bgp_logs(self.target))),
        })?;
        if self.building {
            self.state.bgp_established_seconds = Some(established.as_secs_f64());
            let note = bgp_note(self.target, established, since.elapsed());
            self.state.link_notes.push(note);
        }
        Ok(())
    }
}

/// What [`apply`] did.
#[derive(Debug, Clone, Serialize)]
pub struct ApplyReport {
    /// The lab.
    pub lab: String,
    /// Steps run (those of an interrupted apply completed first included).
    pub steps: usize,
    /// Seconds it took, from taking the lab's lock to the last wait.
    pub seconds: f64,
    /// The step an interrupted apply left under way, which this one ran
    /// again, when there was one.
    pub resumed: Option<String>,
}

/// Brings the running lab `new.lab` to plan `new` (from `topology_text`,
/// read from `source`), under the lab's lock: the steps of
/// [`diff`](crate::plan::diff::diff) from the plan it was built or last
/// applied to, each journalled and told to `on_step` once done. An apply
/// that was interrupted (the state records the plan it was bringing the
/// lab to) is completed first.
///
/// The state records `new` as the plan under way before the first step,
/// and as the lab's plan after the last; on an error the lab stays between
/// the two, which the next `sim apply` completes and `sim down` removes.
pub fn apply(
    new: &Plan,
    source: Option<&Path>,
    topology_text: &str,
    programs: &Programs,
    on_step: impl FnMut(&StepRun),
) -> Result<ApplyReport, ApplyError> {
    apply_edit(&new.lab, programs, on_step, |_, _| {
        Ok(Edit {
            plan: new.clone(),
            text: topology_text.to_string(),
            source: source.map(Path::to_path_buf),
            capacity: None,
            restored: Vec::new(),
        })
    })
}

/// What [`apply_edit`] brings a lab to.
#[derive(Debug, Clone)]
pub struct Edit {
    /// The plan.
    pub plan: Plan,
    /// The topology text it comes from (the lab's copy after).
    pub text: String,
    /// The file it was read from, if any.
    pub source: Option<PathBuf>,
    /// The groups' live capacities after it, when it sets them
    /// ([`LabState::capacity`]).
    pub capacity: Option<BTreeMap<String, crate::scaling::capacity::LiveCapacity>>,
    /// Instances `sim fail` failed that it brings back (a replacement
    /// launched them anew): no longer recorded as failed after it.
    pub restored: Vec<String>,
}

/// [`apply`] of what `edit` makes of the lab's state and its copy of its
/// topology as they are once the lab's lock is held: a change made from
/// the lab's topology (the scaling controller's new capacity, a `sim
/// apply FILE` that keeps the live capacities) sees every apply made
/// before it, and none is lost between the read and the write. `edit`'s
/// error is the apply's (nothing is changed).
pub fn apply_edit(
    lab: &str,
    programs: &Programs,
    mut on_step: impl FnMut(&StepRun),
    edit: impl FnOnce(&LabState, &str) -> Result<Edit, String>,
) -> Result<ApplyReport, ApplyError> {
    let started = Instant::now();
    let dir = checked_state_dir(lab).map_err(step("name the lab"))?;
    let no_lab = || ApplyError::Step {
        step: format!("apply to lab `{lab}`"),
        cause: io::Error::new(io::ErrorKind::NotFound, "no such lab is up"),
    };
    let lock = lock::take(lab, &dir, DOWN_WAITS_AT_MOST)?.ok_or_else(no_lab)?;
    let mut state = read_state_in(&dir)
        .map_err(step("read the state file"))?
        .ok_or_else(no_lab)?;
    state
        .appliable(lab)
        .map_err(|why| step("read the state file")(io::Error::other(why)))?;
    let copy = dir.join("topology.toml");
    let copy_text = match read_no_follow(&copy) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(step("read the topology copy")(e)),
    };
    let Edit {
        plan: new,
        text: topology_text,
        source,
        capacity,
        restored,
    } = edit(&state, &copy_text).map_err(|why| step("plan the change")(io::Error::other(why)))?;
    if new.lab != lab {
        return Err(step("plan the change")(io::Error::other(format!(
            "the plan is lab `{}`'s, not `{lab}`'s",
            new.lab
        ))));
    }
    paths_fit(&new, &dir).map_err(step("place the lab's files"))?;
    let resumed = journal::read(&dir)
        .ok()
        .and_then(|j| journal::unfinished(&j))
        .map(|(_, s)| s);
    let runs = runs(&state, &new);
    // the gateways read their policy from the copy (on start and SIGHUP)
    write_new(&copy, topology_text.as_bytes(), 0o644).map_err(step("write the topology copy"))?;
    let mut total = 0;
    let last = runs.len().saturating_sub(1);
    for (i, (from, to)) in runs.iter().enumerate() {
        let steps = crate::plan::diff::diff(from, to);
        state.applying = Some(to.clone());
        write_state(&dir, &state).map_err(step("write the state file"))?;
        let mut ex = Executor::open(&dir, &mut state, to, programs)?;
        ex.run(&steps, |r| {
            on_step(&StepRun {
                n: total + r.n,
                ..r.clone()
            })
        })?;
        total += steps.len();
        super::state::forget_link_changes(&mut state, &steps, to);
        state.plan = to.clone();
        state.applying = None;
        if i == last {
            state.source = source.clone();
            state.built_from = Some(fingerprint::fingerprint(&new, &topology_text));
            if let Some(c) = &capacity {
                state.capacity = c.clone();
            }
            for r in &restored {
                state.failed.remove(r);
            }
        }
        write_state(&dir, &state).map_err(step("write the state file"))?;
    }
    drop(lock);
    Ok(ApplyReport {
        lab: lab.to_string(),
        steps: total,
        seconds: started.elapsed().as_secs_f64(),
        resumed,
    })
}

/// The runs of steps that bring a lab in `state` to plan `new`, each from
/// one plan to another: an interrupted apply's first (its steps again,
/// those done no-ops, to the plan it was bringing the lab to), then on to
/// `new`. What [`apply`] runs, and what `sim apply --dry-run` prints.
pub fn runs(state: &LabState, new: &Plan) -> Vec<(Plan, Plan)> {
    let mut runs: Vec<(Plan, Plan)> = Vec::new();
    let mut from = state.plan.clone();
    if let Some(under_way) = state.applying.clone() {
        runs.push((from, under_way.clone()));
        from = under_way;
    }
    if runs.last().is_none_or(|(_, to)| to != new) {
        runs.push((from, new.clone()));
    }
    runs
}

/// How many of `steps`, from the first, run as one batch journalled with
/// one sync: consecutive additions of one kind to the kernel (namespaces,
/// sysctls, bridges, veths, ports, addresses, routes, rules, firewall
/// loads), and deletions of namespaces (`sim down`). 200 hosts are then a few dozen syncs, not thousands.
fn batch_len(steps: &[Step]) -> usize {
    let Some(first) = steps.first() else {
        return 0;
    };
    let batches = |s: &Step| {
        matches!(
            s,
            Step::CreateNamespace { .. }
                | Step::DeleteNamespace { .. }
                | Step::SetSysctl { .. }
                | Step::AddBridge { .. }
                | Step::AddVeth { .. }
                | Step::AttachPort { .. }
                | Step::AddAddress { .. }
                | Step::AddRoute { .. }
                | Step::ReplaceRoute { .. }
                | Step::AddRule { .. }
                | Step::LoadFirewall { .. }
        )
    };
    if !batches(first) {
        return 1;
    }
    let kind = std::mem::discriminant(first);
    steps
        .iter()
        .take_while(|s| std::mem::discriminant(*s) == kind && s.phase() == first.phase())
        .count()
}

impl Step {
    /// Whether running the step takes a handle on, or a netlink
    /// connection into, the namespaces it names: not a namespace's
    /// deletion (it opens one only for the links it deletes first, in an
    /// apply), a firewall's (`nft` runs in its namespace by name), a key
    /// file's, the listener agent's, a reconfiguration through a daemon's
    /// socket or a signal, a deregistration through HAProxy's runtime API.
    fn uses_namespace_handle(&self) -> bool {
        !matches!(
            self,
            Step::DeleteNamespace { .. }
                | Step::LoadFirewall { .. }
                | Step::DeleteFirewall { .. }
                | Step::InstallMd5Key { .. }
                | Step::RemoveMd5Key { .. }
                | Step::StartListener { .. }
                | Step::StopListener { .. }
                | Step::ReconfigureGateway { .. }
                | Step::ReconfigureBird { .. }
                | Step::ReconfigureFrr { .. }
                | Step::DeregisterTarget { .. }
        )
    }
}

/// The namespaces that running `steps` takes a handle on or a netlink
/// connection into ([`Step::uses_namespace_handle`]).
fn namespaces_opened(steps: &[Step]) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for s in steps.iter().filter(|s| s.uses_namespace_handle()) {
        // a step's JSON form cannot fail: its maps have string keys
        if let Ok(v) = serde_json::to_value(s) {
            namespaces_named(&v, &mut names);
        }
    }
    names
}

/// Adds to `out` every namespace a step names: the strings under the key
/// `ns` anywhere in its JSON form.
fn namespaces_named(v: &serde_json::Value, out: &mut BTreeSet<String>) {
    super::state::names_under(v, &["ns"], out);
}

/// The BGP daemons of `plan`, as [`bgp::wait`] awaits them.
pub(super) fn bgp_awaited(plan: &Plan) -> Vec<bgp::wait::Awaited> {
    (plan.bird.daemons.iter().map(|d| bgp::wait::Awaited {
        name: d.name.clone(),
        control: bgp::wait::Control::Bird(d.socket.clone()),
        established: d.established.clone(),
        bfd: Vec::new(),
        routes: d.routes.clone(),
    }))
    .chain(plan.frr.iter().map(|f| bgp::wait::Awaited {
        name: format!("FRR {}", f.node),
        control: bgp::wait::Control::Frr(f.run_dir.clone()),
        established: f.established.clone(),
        bfd: f.bfd.clone(),
        routes: f.routes.clone(),
    }))
    .collect()
}

/// The log of the `i`th start command of a plan.
pub(super) fn start_log(dir: &Path, st: &plan::StartSpec, i: usize) -> PathBuf {
    dir.join(format!("start-{}-{i}.log", layout::ns_token(&st.node)))
}

/// How a start command's process is named in [`LabState::processes`].
pub(super) fn start_what(st: &plan::StartSpec) -> String {
    format!("start `{}` in {}", st.command, st.node)
}

/// How a load balancer's HAProxy is named in [`LabState::processes`].
pub(super) fn haproxy_what(node: &str) -> String {
    format!("HAProxy of {node}")
}

/// How one of an FRR node's daemons is named in [`LabState::processes`].
pub(super) fn frr_what(daemon: &str, node: &str) -> String {
    format!("FRR {daemon} of {node}")
}

/// Whether namespace `c` has a link called `name`.
async fn has_link(c: &Netlink, name: &str) -> Result<bool, ApplyError> {
    let names = c
        .link_names()
        .await
        .map_err(nl_step(format!("list the links of {}", c.ns_name())))?;
    Ok(names.iter().any(|n| n == name))
}

/// Deletes the rule for `iif` at `priority`, if there is one.
async fn del_rule(c: &Netlink, iif: &str, priority: u32) -> Result<(), netlink::NetlinkError> {
    match c.del_rule(iif, priority).await {
        Err(e) if e.errno() == Some(libc::ENOENT) => Ok(()),
        r => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_names_the_namespaces_of_both_ends() {
        let p = crate::plan::plan(&crate::example(), "nm", &[22]).expect("plan");
        let mut names = BTreeSet::new();
        let veth = Step::AddVeth {
            link: p.links[0].clone(),
        };
        namespaces_named(&serde_json::to_value(&veth).expect("json"), &mut names);
        let want: BTreeSet<String> = [p.links[0].a.ns.clone(), p.links[0].b.ns.clone()].into();
        assert_eq!(names, want);
    }

    #[test]
    fn taking_a_lab_down_opens_no_namespace_it_deletes() {
        let p = crate::plan::plan(&crate::example(), "dn", &[22]).expect("plan");
        let down = crate::plan::diff::diff(&p, &crate::plan::diff::empty("dn"));
        assert!(down
            .iter()
            .any(|s| matches!(s, Step::DeleteNamespace { .. })));
        assert_eq!(namespaces_opened(&down), BTreeSet::new());
        // a gateway narrowed reads its routes through netlink
        let g = p.gateways[0].clone();
        let narrow = [Step::NarrowGateway { gateway: g.clone() }];
        assert_eq!(namespaces_opened(&narrow), [g.ns].into());
    }

    #[test]
    fn building_a_lab_journals_its_kernel_steps_in_batches() {
        let p = crate::plan::plan(&crate::example(), "bt", &[22]).expect("plan");
        let steps = crate::plan::diff::diff(&crate::plan::diff::empty("bt"), &p);
        // every namespace in one batch, then every sysctl in one
        assert_eq!(batch_len(&steps), p.namespaces.len());
        assert_eq!(batch_len(&steps[p.namespaces.len()..]), p.sysctls.len());
        let mut batches = Vec::new();
        let mut i = 0;
        while i < steps.len() {
            let n = batch_len(&steps[i..]);
            assert!(n >= 1);
            batches.push(&steps[i..i + n]);
            i += n;
        }
        for b in &batches {
            let kind = std::mem::discriminant(&b[0]);
            assert!(b.iter().all(|s| std::mem::discriminant(s) == kind));
        }
        // a process is never batched: each is journalled before it starts
        for b in batches.iter().filter(|b| b.len() > 1) {
            assert!(
                b[0].phase() <= crate::plan::diff::Phase::Firewall,
                "{}",
                b[0]
            );
        }
        assert!(
            batches.len() * 3 < steps.len(),
            "{} batches for {} steps",
            batches.len(),
            steps.len()
        );
    }
}
