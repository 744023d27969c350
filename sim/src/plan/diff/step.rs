//! One step of bringing a lab from one plan to another: a named value that
//! says what it does, on which namespace or object, with the data to do it.

use std::fmt;

use serde::Serialize;

use crate::agent::spec::ListenSpec;
use crate::plan::bird::BirdSpec;
use crate::plan::frr::FrrSpec;
use crate::plan::{
    AddrSpec, BridgeSpec, End, FirewallSpec, GatewaySpec, HaproxySpec, NsSpec, RouteSpec, RuleSpec,
    ShapeSpec, SysctlSpec, VethSpec,
};
use crate::plan::{StartSpec, Target};
use crate::render::bird::Md5Spec;

/// One step of an apply. Steps that add come in dependency order; steps
/// that remove come in the reverse order (see [`super::diff`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// Create a network namespace.
    CreateNamespace { namespace: NsSpec },
    /// Delete a network namespace, and with it everything in it.
    DeleteNamespace { ns: String },
    /// Set a sysctl in a namespace.
    SetSysctl { sysctl: SysctlSpec },
    /// Put a sysctl back to the namespace's default.
    ResetSysctl { ns: String, key: String },
    /// Create a bridge (its ports are attached by [`Step::AttachPort`]).
    AddBridge { bridge: BridgeSpec },
    /// Delete a bridge.
    DeleteBridge { ns: String, name: String },
    /// Enslave an interface to a bridge.
    AttachPort {
        ns: String,
        bridge: String,
        port: String,
    },
    /// Release an interface from a bridge.
    DetachPort {
        ns: String,
        bridge: String,
        port: String,
    },
    /// Create a veth pair with its ends in two namespaces.
    AddVeth { link: VethSpec },
    /// Delete a veth pair.
    DeleteVeth { a: End, b: End },
    /// Add an address to an interface.
    AddAddress { address: AddrSpec },
    /// Remove an address from an interface.
    DeleteAddress { address: AddrSpec },
    /// Add a route (`tunnel`: through a gateway's TUN device).
    AddRoute { route: RouteSpec, tunnel: bool },
    /// Replace a route in place, or add it (`ip route replace`).
    ReplaceRoute { route: RouteSpec, tunnel: bool },
    /// Delete a route.
    DeleteRoute { route: RouteSpec, tunnel: bool },
    /// Add a policy rule.
    AddRule { rule: RuleSpec },
    /// Point a policy rule at another table (added if missing).
    ReplaceRule { rule: RuleSpec },
    /// Delete a policy rule.
    DeleteRule { rule: RuleSpec },
    /// Set an interface's shaping (`tc ... replace`).
    SetShaping { shaping: ShapeSpec },
    /// Remove an interface's shaping.
    ClearShaping { ns: String, ifname: String },
    /// Load a firewall's tables, replacing them atomically if they exist:
    /// one `nft -f` transaction ([`Step::nft_script`]). `change` says what
    /// changed in a replacement; `None` for a new firewall.
    LoadFirewall {
        firewall: FirewallSpec,
        change: Option<String>,
    },
    /// Delete a firewall's tables.
    DeleteFirewall { ns: String, tables: Vec<String> },
    /// Write a BGP session's MD5 key file.
    InstallMd5Key { key: Md5Spec },
    /// Remove a BGP session's MD5 key file.
    RemoveMd5Key { key: Md5Spec },
    /// Start a vifgate gateway process (it makes its TUN device).
    StartGateway { gateway: GatewaySpec },
    /// Write a gateway's configuration and send it SIGHUP.
    ReconfigureGateway { gateway: GatewaySpec },
    /// A gateway's reconfiguration that narrows what its peers are
    /// allowed (a prefix or a peer gone): the same as
    /// [`Step::ReconfigureGateway`], but after the BGP daemons have
    /// withdrawn the routes into it, so that no packet still routed to
    /// the tunnel is dropped by it.
    NarrowGateway { gateway: GatewaySpec },
    /// Stop a gateway process.
    StopGateway { ns: String, name: String },
    /// Start a BIRD.
    StartBird { bird: BirdSpec },
    /// Write a BIRD's configuration and run `birdc configure` (which
    /// reads the MD5 key files it includes again).
    ReconfigureBird { bird: BirdSpec },
    /// Stop a BIRD.
    StopBird { ns: String, name: String },
    /// Start an office node's FRR.
    StartFrr { frr: FrrSpec },
    /// Load an FRR's new configuration through `vtysh`, its sessions' MD5
    /// keys read again from their files.
    ReconfigureFrr { frr: FrrSpec },
    /// Stop an FRR.
    StopFrr { ns: String, node: String },
    /// Run a `[[sim.start]]` command.
    StartCommand { start: StartSpec },
    /// Stop a `[[sim.start]]` command.
    StopCommand { start: StartSpec },
    /// Start a node's listeners.
    StartListener { listener: ListenSpec },
    /// Stop a node's listeners.
    StopListener { ns: String, node: String },
    /// Start HAProxy for a load balancer.
    StartHaproxy { haproxy: HaproxySpec },
    /// Write HAProxy's configuration and reload it (established
    /// connections are kept by the old process until they end).
    ReloadHaproxy { haproxy: HaproxySpec },
    /// Stop a load balancer's HAProxy.
    StopHaproxy { ns: String, node: String },
    /// Add a target to a load balancer's backend (HAProxy's runtime API).
    RegisterTarget {
        ns: String,
        node: String,
        target: Target,
    },
    /// Remove a target from a load balancer's backend, letting its
    /// requests in flight complete for at most `delay` (the target
    /// group's deregistration delay, on the lab's clock).
    DeregisterTarget {
        ns: String,
        node: String,
        target: Target,
        delay: std::time::Duration,
    },
}

/// Where a step falls in the order of building a lab: what a step needs has
/// a smaller phase. Removals run in the reverse order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Phase {
    Namespace,
    Sysctl,
    Bridge,
    Veth,
    Port,
    Address,
    Route,
    Rule,
    Shaping,
    Firewall,
    Gateway,
    TunnelRoute,
    Md5Key,
    Bird,
    Frr,
    GatewayNarrow,
    Command,
    Listener,
    Haproxy,
    Target,
}

impl Step {
    /// The step's phase.
    pub(crate) fn phase(&self) -> Phase {
        use Step::*;
        match self {
            CreateNamespace { .. } | DeleteNamespace { .. } => Phase::Namespace,
            SetSysctl { .. } | ResetSysctl { .. } => Phase::Sysctl,
            AddBridge { .. } | DeleteBridge { .. } => Phase::Bridge,
            AddVeth { .. } | DeleteVeth { .. } => Phase::Veth,
            AttachPort { .. } | DetachPort { .. } => Phase::Port,
            AddAddress { .. } | DeleteAddress { .. } => Phase::Address,
            AddRoute { tunnel, .. } | ReplaceRoute { tunnel, .. } | DeleteRoute { tunnel, .. } => {
                if *tunnel {
                    Phase::TunnelRoute
                } else {
                    Phase::Route
                }
            }
            AddRule { .. } | ReplaceRule { .. } | DeleteRule { .. } => Phase::Rule,
            SetShaping { .. } | ClearShaping { .. } => Phase::Shaping,
            LoadFirewall { .. } | DeleteFirewall { .. } => Phase::Firewall,
            InstallMd5Key { .. } | RemoveMd5Key { .. } => Phase::Md5Key,
            StartGateway { .. } | ReconfigureGateway { .. } | StopGateway { .. } => Phase::Gateway,
            NarrowGateway { .. } => Phase::GatewayNarrow,
            StartBird { .. } | ReconfigureBird { .. } | StopBird { .. } => Phase::Bird,
            StartFrr { .. } | ReconfigureFrr { .. } | StopFrr { .. } => Phase::Frr,
            StartCommand { .. } | StopCommand { .. } => Phase::Command,
            StartListener { .. } | StopListener { .. } => Phase::Listener,
            StartHaproxy { .. } | ReloadHaproxy { .. } | StopHaproxy { .. } => Phase::Haproxy,
            RegisterTarget { .. } | DeregisterTarget { .. } => Phase::Target,
        }
    }

    /// The `nft -f` input of a [`Step::LoadFirewall`]: each table declared,
    /// deleted and defined again in one transaction, so the kernel swaps
    /// the old rules for the new at once (no moment without a filter;
    /// conntrack's entries live outside the table and are kept).
    pub fn nft_script(&self) -> Option<String> {
        let Step::LoadFirewall { firewall, .. } = self else {
            return None;
        };
        let mut s = String::new();
        for t in tables(&firewall.ruleset) {
            s.push_str(&format!("table {t}\ndelete table {t}\n"));
        }
        s.push_str(&firewall.ruleset);
        Some(s)
    }
}

/// The tables a ruleset defines (`inet vifgate_sg`), in its order.
pub fn tables(ruleset: &str) -> Vec<String> {
    ruleset
        .lines()
        .filter_map(|l| l.strip_prefix("table "))
        .map(|rest| rest.trim_end_matches('{').trim().to_string())
        .collect()
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Step::*;
        match self {
            CreateNamespace { namespace } => write!(f, "create namespace {}", namespace.name),
            DeleteNamespace { ns } => write!(f, "delete namespace {ns} (and all in it)"),
            SetSysctl { sysctl: s } => write!(f, "set sysctl {}={} in {}", s.key, s.value, s.ns),
            ResetSysctl { ns, key } => write!(f, "reset sysctl {key} in {ns}"),
            AddBridge { bridge: b } => write!(f, "add bridge {} in {} ({})", b.name, b.ns, b.what),
            DeleteBridge { ns, name } => write!(f, "delete bridge {name} in {ns}"),
            AttachPort { ns, bridge, port } => {
                write!(f, "attach {port} to bridge {bridge} in {ns}")
            }
            DetachPort { ns, bridge, port } => {
                write!(f, "detach {port} from bridge {bridge} in {ns}")
            }
            AddVeth { link: l } => write!(
                f,
                "add veth {}/{} <-> {}/{} ({} {})",
                l.a.ns, l.a.ifname, l.b.ns, l.b.ifname, l.joins.0, l.joins.1
            ),
            DeleteVeth { a, b } => {
                write!(
                    f,
                    "delete veth {}/{} <-> {}/{}",
                    a.ns, a.ifname, b.ns, b.ifname
                )
            }
            AddAddress { address: a } => {
                write!(f, "add address {} on {} in {}", a.addr, a.ifname, a.ns)
            }
            DeleteAddress { address: a } => {
                write!(f, "delete address {} on {} in {}", a.addr, a.ifname, a.ns)
            }
            AddRoute { route, .. } => write!(f, "add route {}", RouteWords(route)),
            ReplaceRoute { route, .. } => write!(f, "replace route {}", RouteWords(route)),
            DeleteRoute { route, .. } => write!(f, "delete route {}", RouteWords(route)),
            AddRule { rule: r } => write!(
                f,
                "add rule iif {} lookup {} priority {} in {}",
                r.iif, r.table, r.priority, r.ns
            ),
            ReplaceRule { rule: r } => write!(
                f,
                "replace rule iif {} priority {} in {}: lookup {}",
                r.iif, r.priority, r.ns, r.table
            ),
            DeleteRule { rule: r } => write!(
                f,
                "delete rule iif {} priority {} in {}",
                r.iif, r.priority, r.ns
            ),
            SetShaping { shaping: s } => {
                write!(f, "shape {} in {}: {}", s.ifname, s.ns, s.shaping)
            }
            ClearShaping { ns, ifname } => write!(f, "clear the shaping of {ifname} in {ns}"),
            LoadFirewall {
                firewall: fw,
                change,
            } => {
                let tables = tables(&fw.ruleset).join(", ");
                match change {
                    Some(c) => write!(
                        f,
                        "replace nft table {tables} in {} ({}; {c})",
                        fw.ns, fw.what
                    ),
                    None => write!(f, "load nft table {tables} in {} ({})", fw.ns, fw.what),
                }
            }
            DeleteFirewall { ns, tables } => {
                write!(f, "delete nft table {} in {ns}", tables.join(", "))
            }
            InstallMd5Key { key } => write!(
                f,
                "write the MD5 key of session {} to {}",
                key.session,
                key.key_file.display()
            ),
            RemoveMd5Key { key } => write!(
                f,
                "remove the MD5 key of session {} ({})",
                key.session,
                key.key_file.display()
            ),
            StartGateway { gateway: g } => {
                write!(f, "start gateway {} in {} (TUN {})", g.name, g.ns, g.tun)
            }
            ReconfigureGateway { gateway: g } => {
                write!(
                    f,
                    "reconfigure gateway {} in {} (write its configuration; SIGHUP)",
                    g.name, g.ns
                )
            }
            NarrowGateway { gateway: g } => {
                write!(
                    f,
                    "narrow gateway {} in {} to what its peers are now allowed, once BGP withdrew the rest (write its configuration; SIGHUP)",
                    g.name, g.ns
                )
            }
            StopGateway { ns, name } => write!(f, "stop gateway {name} in {ns}"),
            StartBird { bird: b } => write!(f, "start BIRD {} in {} ({})", b.name, b.ns, b.what),
            ReconfigureBird { bird: b } => write!(
                f,
                "reconfigure BIRD {} in {} (write {}; birdc configure)",
                b.name,
                b.ns,
                b.config_path.display()
            ),
            StopBird { ns, name } => write!(f, "stop BIRD {name} in {ns}"),
            StartFrr { frr } => write!(f, "start FRR of {} in {}", frr.node, frr.ns),
            ReconfigureFrr { frr } => {
                write!(f, "reconfigure FRR of {} in {} (vtysh)", frr.node, frr.ns)
            }
            StopFrr { ns, node } => write!(f, "stop FRR of {node} in {ns}"),
            StartCommand { start: s } => write!(f, "start `{}` in {}", s.command, s.node),
            StopCommand { start: s } => write!(f, "stop `{}` in {}", s.command, s.node),
            StartListener { listener: l } => write!(
                f,
                "start the listeners of {} in {} (tcp {:?}, udp {:?})",
                l.node, l.ns, l.tcp, l.udp
            ),
            StopListener { ns, node } => write!(f, "stop the listeners of {node} in {ns}"),
            StartHaproxy { haproxy: h } => write!(f, "start HAProxy of {} in {}", h.node, h.ns),
            ReloadHaproxy { haproxy: h } => {
                write!(
                    f,
                    "reload HAProxy of {} in {} (new configuration)",
                    h.node, h.ns
                )
            }
            StopHaproxy { ns, node } => write!(f, "stop HAProxy of {node} in {ns}"),
            RegisterTarget {
                node, target: t, ..
            } => write!(
                f,
                "register target {} {} in slot {} of backend {} of {node}",
                t.instance, t.address, t.server, t.backend
            ),
            DeregisterTarget {
                node,
                target: t,
                delay,
                ..
            } => write!(
                f,
                "deregister target {} {} from slot {} of backend {} of {node} (draining at most {}ms)",
                t.instance,
                t.address,
                t.server,
                t.backend,
                delay.as_millis()
            ),
        }
    }
}

/// A route as one phrase: `10.0.0.0/16 via 10.0.1.1 dev eth0 table 1000
/// metric 10 in NS`.
struct RouteWords<'a>(&'a RouteSpec);

impl fmt::Display for RouteWords<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.0;
        write!(f, "{}", r.dst)?;
        if let Some(via) = r.via {
            write!(f, " via {via}")?;
        }
        if let Some(dev) = &r.dev {
            write!(f, " dev {dev}")?;
        }
        write!(f, " table {} metric {} in {}", r.table, r.metric, r.ns)?;
        if !r.why.is_empty() {
            write!(f, " ({})", r.why)?;
        }
        Ok(())
    }
}
