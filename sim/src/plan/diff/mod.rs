//! What it takes to bring a lab from one plan to another, as a list of
//! [`Step`]s. Pure: two [`Plan`]s in, steps out; `sim apply --dry-run`
//! prints them, and `diff(&empty, p)` is how a lab `p` is built.
//!
//! Objects are matched by what identifies them in Linux: a namespace by
//! its name, a link by its two ends, an address by (namespace, interface,
//! address), a route by (namespace, table, destination, metric), a rule by
//! (namespace, input interface, priority), a firewall by its namespace and
//! tables, a process by its namespace and name. An object that changed is
//! replaced in place where Linux can do that (`ip route replace`, an
//! atomic `nft -f`, `birdc configure`, `vtysh`, HAProxy's reload and
//! runtime API, the gateway's SIGHUP), removed and added again otherwise;
//! what stands on a removed namespace or interface is added again after
//! it. A BGP daemon whose MD5 key changed is reconfigured, as it reads its
//! keys only then.
//!
//! Order: steps that remove an object to make it again come first (in
//! reverse dependency order), with the removals that free an interface
//! name, a port ([`sockets`]) or a load balancer's server slot that an addition takes, then every addition and replacement in
//! dependency order (namespaces before links, links
//! before addresses, addresses before routes, firewalls before the
//! processes that serve), then the removals of what is gone, in reverse
//! dependency order, and last the firewalls that only narrow (their
//! rules name no address they did not, and drop some: an instance
//! terminated leaves the security groups that named it only once it is
//! deregistered and its namespace gone, so that what it still serves
//! while it drains keeps its way to the database). What stands in a
//! namespace that is deleted is not removed one by one: the namespace
//! takes it with it.

use std::collections::{BTreeMap, BTreeSet};

use crate::plan::Plan;

pub mod rebuild;
mod sockets;
mod step;

#[cfg(test)]
mod model;
#[cfg(test)]
mod tests;

pub use crate::plan::Target;
#[cfg(test)]
pub(crate) use step::Phase;
pub use step::Step;

/// A lab of nothing: what [`diff`] builds a lab from, and removes one to.
pub fn empty(lab: &str) -> Plan {
    Plan {
        lab: lab.into(),
        ..Plan::default()
    }
}

/// The steps that bring a lab built from `old` to `new`.
pub fn diff(old: &Plan, new: &Plan) -> Vec<Step> {
    let mut d = Differ::new(old, new);
    d.namespaces();
    d.sysctls();
    d.bridges();
    d.veths();
    d.ports();
    d.addresses();
    d.routes(&old.routes, &new.routes, false);
    d.rules();
    d.shaping();
    d.firewalls();
    d.gateways();
    d.routes(&old.tunnel_routes, &new.tunnel_routes, true);
    d.md5_keys();
    d.birds();
    d.frrs();
    d.md5_readers();
    d.commands();
    d.listeners();
    d.haproxies();
    d.finish()
}

/// An object of one plan, of the other, or of both (under one key).
enum Pair<'a, T> {
    Old(&'a T),
    New(&'a T),
    Both(&'a T, &'a T),
}

/// An object's place in the old and the new plan.
type Slots<'a, T> = (Option<&'a T>, Option<&'a T>);

/// The objects of two lists matched by `key`; a key found twice in one
/// list is told apart by its rank.
fn pair_up<'a, T, K: Ord>(old: &'a [T], new: &'a [T], key: impl Fn(&T) -> K) -> Vec<Pair<'a, T>> {
    let mut m: BTreeMap<(K, usize), Slots<'a, T>> = BTreeMap::new();
    for (list, is_old) in [(old, true), (new, false)] {
        let mut seen: BTreeMap<K, usize> = BTreeMap::new();
        for x in list {
            let rank = seen.entry(key(x)).or_default();
            let slot = m.entry((key(x), *rank)).or_default();
            *rank += 1;
            if is_old {
                slot.0 = Some(x);
            } else {
                slot.1 = Some(x);
            }
        }
    }
    m.into_values()
        .filter_map(|p| match p {
            (Some(o), Some(n)) => Some(Pair::Both(o, n)),
            (Some(o), None) => Some(Pair::Old(o)),
            (None, Some(n)) => Some(Pair::New(n)),
            (None, None) => None,
        })
        .collect()
}

/// What a changed object takes.
enum Edit {
    /// A step that changes it in place.
    InPlace(Box<Step>),
    /// Its removal and its addition again.
    Remake,
    /// Nothing: what changed is not the kernel's (an explanation).
    Keep,
}

impl Edit {
    fn in_place(step: Step) -> Edit {
        Edit::InPlace(Box::new(step))
    }
}

/// [`Edit::InPlace`] when `step` is given, else [`Edit::Remake`].
fn in_place_or_remake(step: Option<Step>) -> Edit {
    step.map_or(Edit::Remake, |s| Edit::InPlace(Box::new(s)))
}

/// An interface: (namespace, name).
type Ifc = (String, String);

fn ifc(ns: &str, name: &str) -> Ifc {
    (ns.to_string(), name.to_string())
}

/// The diff under way: the steps so far in their three groups, and what
/// the removals take with them.
struct Differ<'a> {
    old: &'a Plan,
    new: &'a Plan,
    /// Removals of objects made again (they come first).
    unmake: Vec<Step>,
    /// Additions and replacements.
    make: Vec<Step>,
    /// Removals of what is gone for good (they come after the
    /// additions).
    remove: Vec<Step>,
    /// Firewalls loaded again that only narrow (last of all).
    narrow: Vec<Step>,
    /// Namespaces deleted (gone, or made again).
    ns_dead: BTreeSet<String>,
    /// Interfaces removed (gone, or made again), beside those of
    /// `ns_dead`: veth ends, bridges, gateways' TUN devices.
    if_dead: BTreeSet<Ifc>,
}

impl<'a> Differ<'a> {
    fn new(old: &'a Plan, new: &'a Plan) -> Self {
        Differ {
            old,
            new,
            unmake: Vec::new(),
            make: Vec::new(),
            remove: Vec::new(),
            narrow: Vec::new(),
            ns_dead: BTreeSet::new(),
            if_dead: BTreeSet::new(),
        }
    }

    /// The steps in order: see the module's documentation.
    fn finish(mut self) -> Vec<Step> {
        // a removal that frees an interface name or a port something new
        // takes must come before that, not after
        let taken = self.names_taken();
        let bound: BTreeSet<sockets::Socket> = self.make.iter().flat_map(sockets::binds).collect();
        // a load balancer's server slot an instance leaves and another
        // takes (a replacement in another zone) is left first
        let slots: BTreeSet<(&str, &str, &str)> = self.make.iter().filter_map(slot_of).collect();
        let (early, late): (Vec<Step>, Vec<Step>) =
            std::mem::take(&mut self.remove).into_iter().partition(|s| {
                self.names_freed(s).iter().any(|i| taken.contains(i))
                    || sockets::frees(s, self.old)
                        .iter()
                        .any(|x| bound.contains(x))
                    || slot_of(s).is_some_and(|x| slots.contains(&x))
            });
        self.unmake.extend(early);
        self.remove = late;
        // stable sorts: within a phase, the plan's order
        self.unmake.sort_by_key(|s| std::cmp::Reverse(s.phase()));
        self.make.sort_by_key(Step::phase);
        self.remove.sort_by_key(|s| std::cmp::Reverse(s.phase()));
        let mut out = self.unmake;
        out.append(&mut self.make);
        out.append(&mut self.remove);
        out.append(&mut self.narrow);
        out
    }

    /// The interface names the steps that add make: veth ends, bridges,
    /// TUN devices of gateways started.
    fn names_taken(&self) -> BTreeSet<Ifc> {
        let mut out = BTreeSet::new();
        for s in &self.make {
            match s {
                Step::AddVeth { link: l } => {
                    out.insert(ifc(&l.a.ns, &l.a.ifname));
                    out.insert(ifc(&l.b.ns, &l.b.ifname));
                }
                Step::AddBridge { bridge: b } => {
                    out.insert(ifc(&b.ns, &b.name));
                }
                Step::StartGateway { gateway: g } => {
                    out.insert(ifc(&g.ns, &g.tun));
                }
                _ => {}
            }
        }
        out
    }

    /// The interface names a removal frees (a namespace frees the far
    /// ends of its links too).
    fn names_freed(&self, s: &Step) -> Vec<Ifc> {
        let old = self.old;
        match s {
            Step::DeleteVeth { a, b } => vec![ifc(&a.ns, &a.ifname), ifc(&b.ns, &b.ifname)],
            Step::DeleteBridge { ns, name } => vec![ifc(ns, name)],
            Step::StopGateway { ns, name } => old
                .gateways
                .iter()
                .filter(|g| &g.name == name)
                .map(|g| ifc(ns, &g.tun))
                .collect(),
            Step::DeleteNamespace { ns } => old
                .links
                .iter()
                .filter(|l| &l.a.ns == ns || &l.b.ns == ns)
                .flat_map(|l| [ifc(&l.a.ns, &l.a.ifname), ifc(&l.b.ns, &l.b.ifname)])
                .collect(),
            _ => Vec::new(),
        }
    }

    fn ns_gone(&self, ns: &str) -> bool {
        self.ns_dead.contains(ns)
    }

    fn if_gone(&self, ns: &str, name: &str) -> bool {
        self.ns_gone(ns) || self.if_dead.contains(&ifc(ns, name))
    }

    /// The usual course for an object under `key`: added when new; removed
    /// when gone (unless what it stands on takes it: `gone`); when changed,
    /// replaced in place by `replace` if it can be (`Some`), else removed
    /// and added again; added again when what it stands on was removed.
    fn each<T: PartialEq, K: Ord>(
        &mut self,
        (old, new): (&[T], &[T]),
        key: impl Fn(&T) -> K,
        gone: impl Fn(&Self, &T) -> bool,
        add: impl Fn(&T) -> Step,
        replace: impl Fn(&T, &T) -> Edit,
        del: impl Fn(&T) -> Step,
    ) {
        for p in pair_up(old, new, key) {
            match p {
                Pair::New(n) => self.make.push(add(n)),
                Pair::Old(o) => {
                    if !gone(self, o) {
                        self.remove.push(del(o));
                    }
                }
                Pair::Both(o, n) => {
                    if gone(self, o) {
                        // what it stood on may go only at the end: a step
                        // that works whether it is there or not
                        match replace(o, n) {
                            Edit::InPlace(s) => self.make.push(*s),
                            Edit::Remake | Edit::Keep => self.make.push(add(n)),
                        }
                    } else if o != n {
                        match replace(o, n) {
                            Edit::InPlace(s) => self.make.push(*s),
                            Edit::Remake => {
                                self.unmake.push(del(o));
                                self.make.push(add(n));
                            }
                            Edit::Keep => {}
                        }
                    }
                }
            }
        }
    }

    fn namespaces(&mut self) {
        for p in pair_up(&self.old.namespaces, &self.new.namespaces, |n| {
            n.name.clone()
        }) {
            let del = |name: &str| Step::DeleteNamespace {
                ns: name.to_string(),
            };
            match p {
                Pair::New(n) => self.make.push(Step::CreateNamespace {
                    namespace: n.clone(),
                }),
                Pair::Old(o) => {
                    self.ns_dead.insert(o.name.clone());
                    self.remove.push(del(&o.name));
                }
                Pair::Both(o, n) if o != n => {
                    self.ns_dead.insert(o.name.clone());
                    self.unmake.push(del(&o.name));
                    self.make.push(Step::CreateNamespace {
                        namespace: n.clone(),
                    });
                }
                Pair::Both(..) => {}
            }
        }
    }

    fn sysctls(&mut self) {
        self.each(
            (&self.old.sysctls, &self.new.sysctls),
            |s| (s.ns.clone(), s.key.clone()),
            |d, s| d.ns_gone(&s.ns),
            |s| Step::SetSysctl { sysctl: s.clone() },
            |_, n| Edit::in_place(Step::SetSysctl { sysctl: n.clone() }),
            |s| Step::ResetSysctl {
                ns: s.ns.clone(),
                key: s.key.clone(),
            },
        );
    }

    /// [`Differ::each`] for objects that are interfaces (`ifcs`: the
    /// names they hold), never changed in place: those removed or made
    /// again (a link taken by its namespace too) are marked dead first,
    /// so that what stands on them follows.
    fn each_interface<'b, T: PartialEq, K: Ord>(
        &mut self,
        (old, new): (&'b [T], &'b [T]),
        key: impl Fn(&T) -> K,
        gone: impl Fn(&Self, &T) -> bool,
        ifcs: impl Fn(&T) -> Vec<Ifc>,
        add: impl Fn(&T) -> Step,
        del: impl Fn(&T) -> Step,
    ) {
        for p in pair_up(old, new, &key) {
            match p {
                Pair::Old(o) => self.if_dead.extend(ifcs(o)),
                Pair::Both(o, n) if o != n || gone(self, o) => self.if_dead.extend(ifcs(o)),
                _ => {}
            }
        }
        self.each((old, new), key, gone, add, |_, _| Edit::Remake, del);
    }

    /// Bridges without their ports ([`Differ::ports`]).
    fn bridges(&mut self) {
        let bare = |p: &Plan| -> Vec<crate::plan::BridgeSpec> {
            p.bridges
                .iter()
                .map(|b| crate::plan::BridgeSpec {
                    ports: Vec::new(),
                    ..b.clone()
                })
                .collect()
        };
        let (old, new) = (bare(self.old), bare(self.new));
        self.each_interface(
            (&old, &new),
            |b| ifc(&b.ns, &b.name),
            |d, b| d.ns_gone(&b.ns),
            |b| vec![ifc(&b.ns, &b.name)],
            |b| Step::AddBridge { bridge: b.clone() },
            |b| Step::DeleteBridge {
                ns: b.ns.clone(),
                name: b.name.clone(),
            },
        );
    }

    fn veths(&mut self) {
        let ends =
            |l: &crate::plan::VethSpec| [ifc(&l.a.ns, &l.a.ifname), ifc(&l.b.ns, &l.b.ifname)];
        self.each_interface(
            (&self.old.links, &self.new.links),
            |l| ends(l),
            |d, l| d.ns_gone(&l.a.ns) || d.ns_gone(&l.b.ns),
            |l| ends(l).to_vec(),
            |l| Step::AddVeth { link: l.clone() },
            |l| Step::DeleteVeth {
                a: l.a.clone(),
                b: l.b.clone(),
            },
        );
    }

    fn ports(&mut self) {
        let ports = |p: &Plan| -> Vec<(String, String, String)> {
            p.bridges
                .iter()
                .flat_map(|b| {
                    b.ports
                        .iter()
                        .map(|port| (b.ns.clone(), b.name.clone(), port.clone()))
                })
                .collect()
        };
        let (old, new) = (ports(self.old), ports(self.new));
        // the lists are local: steps own their data, so borrowing ends here
        let mut make = Vec::new();
        let mut remove = Vec::new();
        for p in pair_up(&old, &new, Clone::clone) {
            let step = |(ns, bridge, port): &(String, String, String), attach: bool| {
                let (ns, bridge, port) = (ns.clone(), bridge.clone(), port.clone());
                if attach {
                    Step::AttachPort { ns, bridge, port }
                } else {
                    Step::DetachPort { ns, bridge, port }
                }
            };
            let gone =
                |x: &(String, String, String)| self.if_gone(&x.0, &x.1) || self.if_gone(&x.0, &x.2);
            match p {
                Pair::New(n) => make.push(step(n, true)),
                Pair::Old(o) if !gone(o) => remove.push(step(o, false)),
                Pair::Old(_) => {}
                Pair::Both(o, n) if gone(o) => make.push(step(n, true)),
                Pair::Both(..) => {}
            }
        }
        self.make.extend(make);
        self.remove.extend(remove);
    }

    fn addresses(&mut self) {
        self.each(
            (&self.old.addresses, &self.new.addresses),
            |a| (a.ns.clone(), a.ifname.clone(), a.addr),
            |d, a| d.if_gone(&a.ns, &a.ifname),
            |a| Step::AddAddress { address: a.clone() },
            |_, _| Edit::Remake,
            |a| Step::DeleteAddress { address: a.clone() },
        );
    }

    fn routes(
        &mut self,
        old: &'a [crate::plan::RouteSpec],
        new: &'a [crate::plan::RouteSpec],
        tunnel: bool,
    ) {
        self.each(
            (old, new),
            |r| (r.ns.clone(), r.table, r.dst, r.metric),
            |d, r| match &r.dev {
                Some(dev) => d.if_gone(&r.ns, dev),
                None => d.ns_gone(&r.ns),
            },
            |r| Step::AddRoute {
                route: r.clone(),
                tunnel,
            },
            |o, n| {
                // `why` is the plan's explanation, not the kernel's
                let same = crate::plan::RouteSpec {
                    why: n.why.clone(),
                    ..o.clone()
                } == *n;
                if same {
                    Edit::Keep
                } else {
                    Edit::in_place(Step::ReplaceRoute {
                        route: n.clone(),
                        tunnel,
                    })
                }
            },
            |r| Step::DeleteRoute {
                route: r.clone(),
                tunnel,
            },
        );
    }

    fn rules(&mut self) {
        self.each(
            (&self.old.rules, &self.new.rules),
            |r| (r.ns.clone(), r.iif.clone(), r.priority),
            |d, r| d.ns_gone(&r.ns),
            |r| Step::AddRule { rule: r.clone() },
            |_, n| Edit::in_place(Step::ReplaceRule { rule: n.clone() }),
            |r| Step::DeleteRule { rule: r.clone() },
        );
    }

    fn shaping(&mut self) {
        self.each(
            (&self.old.shaping, &self.new.shaping),
            |s| ifc(&s.ns, &s.ifname),
            |d, s| d.if_gone(&s.ns, &s.ifname),
            |s| Step::SetShaping { shaping: s.clone() },
            |_, n| Edit::in_place(Step::SetShaping { shaping: n.clone() }),
            |s| Step::ClearShaping {
                ns: s.ns.clone(),
                ifname: s.ifname.clone(),
            },
        );
    }

    fn firewalls(&mut self) {
        self.each(
            (&self.old.firewalls, &self.new.firewalls),
            |f| (f.ns.clone(), f.tables.clone()),
            |d, f| d.ns_gone(&f.ns),
            |f| Step::LoadFirewall {
                firewall: f.clone(),
                change: None,
            },
            |o, n| {
                Edit::in_place(Step::LoadFirewall {
                    firewall: n.clone(),
                    change: Some(lines_changed(&o.ruleset, &n.ruleset)),
                })
            },
            |f| Step::DeleteFirewall {
                ns: f.ns.clone(),
                tables: f.tables.clone(),
            },
        );
        // a firewall loaded again that only narrows goes last
        let old = &self.old.firewalls;
        let (narrow, make): (Vec<Step>, Vec<Step>) =
            std::mem::take(&mut self.make).into_iter().partition(|s| {
                let Step::LoadFirewall {
                    firewall: n,
                    change: Some(_),
                } = s
                else {
                    return false;
                };
                (old.iter())
                    .find(|o| o.ns == n.ns && o.tables == n.tables)
                    .is_some_and(|o| only_narrows(&o.ruleset, &n.ruleset))
            });
        self.make = make;
        self.narrow = narrow;
    }

    fn gateways(&mut self) {
        // a gateway stopped takes its TUN device, and the routes through it
        let (old, new) = (self.old, self.new);
        for p in pair_up(&old.gateways, &new.gateways, |g| g.name.clone()) {
            let stopped = match p {
                Pair::Old(o) => Some(o),
                Pair::Both(o, n) if !reloadable(o, n) => Some(o),
                _ => None,
            };
            if let Some(o) = stopped.filter(|o| !self.ns_gone(&o.ns)) {
                self.if_dead.insert(ifc(&o.ns, &o.tun));
            }
        }
        let compared = |p: &'a Plan| -> Vec<ComparedGateway<'a>> {
            p.gateways
                .iter()
                .map(|g| ComparedGateway::of(p, g))
                .collect()
        };
        self.each(
            (&compared(old), &compared(new)),
            |g| g.spec.name.clone(),
            |d, g| d.ns_gone(&g.spec.ns),
            |g| Step::StartGateway {
                gateway: g.spec.clone(),
            },
            |o, n| {
                in_place_or_remake(
                    reloadable(o.spec, n.spec).then(|| Step::ReconfigureGateway {
                        gateway: n.spec.clone(),
                    }),
                )
            },
            |g| Step::StopGateway {
                ns: g.spec.ns.clone(),
                name: g.spec.name.clone(),
            },
        );
        self.narrow_after_bgp();
    }

    /// A gateway reloaded with less allowed (a prefix or a peer gone)
    /// narrows only once the BGP daemons have withdrawn the routes into
    /// it ([`Step::NarrowGateway`]); one allowed more (a prefix added)
    /// widens before they advertise. An edit that does both widens to
    /// the union first and narrows after.
    fn narrow_after_bgp(&mut self) {
        let (old, new) = (self.old, self.new);
        let mut narrowings = Vec::new();
        for s in &mut self.make {
            let Step::ReconfigureGateway { gateway: n } = s else {
                continue;
            };
            let Some(o) = old.gateways.iter().find(|o| o.name == n.name) else {
                continue;
            };
            let (was, is) = (allowance(old, o), allowance(new, n));
            if was.is_subset(&is) {
                continue;
            }
            let narrowed = Step::NarrowGateway { gateway: n.clone() };
            if is.is_subset(&was) {
                *s = narrowed;
            } else {
                *n = widened(old, o, new, n);
                narrowings.push(narrowed);
            }
        }
        self.make.extend(narrowings);
    }

    fn md5_keys(&mut self) {
        self.each(
            (&self.old.bird.md5, &self.new.bird.md5),
            |k| k.session.clone(),
            |_, _| false,
            |k| Step::InstallMd5Key { key: k.clone() },
            |_, n| Edit::in_place(Step::InstallMd5Key { key: n.clone() }),
            |k| Step::RemoveMd5Key { key: k.clone() },
        );
    }

    fn birds(&mut self) {
        self.each(
            (&self.old.bird.daemons, &self.new.bird.daemons),
            |b| (b.ns.clone(), b.name.clone()),
            |d, b| d.ns_gone(&b.ns),
            |b| Step::StartBird { bird: b.clone() },
            |o, n| {
                // the same process, files and socket: only what it says
                let same_daemon = o.config_path == n.config_path
                    && o.socket == n.socket
                    && o.log == n.log
                    && o.what == n.what;
                in_place_or_remake(same_daemon.then(|| Step::ReconfigureBird { bird: n.clone() }))
            },
            |b| Step::StopBird {
                ns: b.ns.clone(),
                name: b.name.clone(),
            },
        );
    }

    fn frrs(&mut self) {
        self.each(
            (&self.old.frr, &self.new.frr),
            |f| f.ns.clone(),
            |d, f| d.ns_gone(&f.ns),
            |f| Step::StartFrr { frr: f.clone() },
            |o, n| {
                // an ASN change resets every session: refused as a rebuild
                // before any diff (`rebuild`); here it restarts bgpd
                let same_daemons = o.run_dir == n.run_dir
                    && o.node == n.node
                    && o.asn == n.asn
                    && o.commands() == n.commands();
                in_place_or_remake(same_daemons.then(|| Step::ReconfigureFrr { frr: n.clone() }))
            },
            |f| Step::StopFrr {
                ns: f.ns.clone(),
                node: f.node.clone(),
            },
        );
    }

    /// A BGP daemon reads its MD5 key files when it starts or is
    /// reconfigured: one whose key changed (and that is not started or
    /// reconfigured already) is reconfigured, so that it takes the new key
    /// (BGP then opens the session again, as a key change does).
    fn md5_readers(&mut self) {
        let changed: Vec<&crate::render::bird::Md5Spec> = self
            .new
            .bird
            .md5
            .iter()
            .filter(|n| {
                self.old
                    .bird
                    .md5
                    .iter()
                    .any(|o| o.session == n.session && o != *n)
            })
            .collect();
        if changed.is_empty() {
            return;
        }
        let stepped = |make: &[Step], ns: &str, name: &str| {
            make.iter().any(|s| match s {
                Step::StartBird { bird: b } | Step::ReconfigureBird { bird: b } => {
                    b.ns == ns && b.name == name
                }
                Step::StartFrr { frr: f } | Step::ReconfigureFrr { frr: f } => {
                    f.ns == ns && f.node == name
                }
                _ => false,
            })
        };
        for b in &self.new.bird.daemons {
            if changed.iter().any(|k| bird_reads(b, k)) && !stepped(&self.make, &b.ns, &b.name) {
                self.make.push(Step::ReconfigureBird { bird: b.clone() });
            }
        }
        for f in &self.new.frr {
            if changed.iter().any(|k| frr_reads(f, k)) && !stepped(&self.make, &f.ns, &f.node) {
                self.make.push(Step::ReconfigureFrr { frr: f.clone() });
            }
        }
    }

    fn commands(&mut self) {
        self.each(
            (&self.old.starts, &self.new.starts),
            |s| (s.ns.clone(), s.command.clone()),
            |d, s| d.ns_gone(&s.ns),
            |s| Step::StartCommand { start: s.clone() },
            |_, _| Edit::Remake,
            |s| Step::StopCommand { start: s.clone() },
        );
    }

    fn listeners(&mut self) {
        self.each(
            (&self.old.listeners, &self.new.listeners),
            |l| l.ns.clone(),
            |d, l| d.ns_gone(&l.ns),
            |l| Step::StartListener {
                listener: l.clone(),
            },
            |_, _| Edit::Remake,
            |l| Step::StopListener {
                ns: l.ns.clone(),
                node: l.node.clone(),
            },
        );
    }

    fn haproxies(&mut self) {
        let (old, new) = (self.old, self.new);
        for p in pair_up(&old.haproxy, &new.haproxy, |h| h.ns.clone()) {
            match p {
                Pair::Both(o, n) if o != n && !self.ns_gone(&o.ns) => {
                    let only_targets = o.config_without_targets == n.config_without_targets
                        && o.ports == n.ports
                        && o.node == n.node;
                    if only_targets {
                        let step = |t: &Target, register: bool| {
                            let (ns, node, target) = (n.ns.clone(), n.node.clone(), t.clone());
                            if register {
                                Step::RegisterTarget { ns, node, target }
                            } else {
                                let delay = o.deregistration_delays.get(&t.backend);
                                let delay = delay.copied().unwrap_or_default();
                                Step::DeregisterTarget {
                                    ns,
                                    node,
                                    target,
                                    delay,
                                }
                            }
                        };
                        let (o_targets, n_targets): (BTreeSet<&Target>, BTreeSet<&Target>) =
                            (o.targets.iter().collect(), n.targets.iter().collect());
                        for t in n_targets.difference(&o_targets) {
                            self.make.push(step(t, true));
                        }
                        for t in o_targets.difference(&n_targets) {
                            self.remove.push(step(t, false));
                        }
                    } else {
                        self.make.push(Step::ReloadHaproxy { haproxy: n.clone() });
                    }
                }
                Pair::Both(o, n) if self.ns_gone(&o.ns) => {
                    self.make.push(Step::StartHaproxy { haproxy: n.clone() })
                }
                Pair::Both(..) => {}
                Pair::New(n) => self.make.push(Step::StartHaproxy { haproxy: n.clone() }),
                Pair::Old(o) => {
                    if !self.ns_gone(&o.ns) {
                        self.remove.push(Step::StopHaproxy {
                            ns: o.ns.clone(),
                            node: o.node.clone(),
                        });
                    }
                }
            }
        }
    }
}

/// Whether BIRD `b` reads MD5 key `k`: it runs that session.
pub(crate) fn bird_reads(
    b: &crate::plan::bird::BirdSpec,
    k: &crate::render::bird::Md5Spec,
) -> bool {
    b.sessions.contains(&k.session)
}

/// Whether FRR `f` reads MD5 key `k`: it has a session of that name.
pub(crate) fn frr_reads(f: &crate::plan::frr::FrrSpec, k: &crate::render::bird::Md5Spec) -> bool {
    f.md5.iter().any(|(session, _)| *session == k.session)
}

/// A gateway as the diff compares it: each peer's far gateway by name and
/// port, not by its place in [`Plan::gateways`] (what
/// [`crate::plan::GatewayPeer::gateway`] is). A gateway inserted before
/// others moves their places, which is no change of theirs; a far
/// gateway's new port is one of this gateway's configuration.
struct ComparedGateway<'p> {
    spec: &'p crate::plan::GatewaySpec,
    far: Vec<Option<(&'p str, u16)>>,
}

impl<'p> ComparedGateway<'p> {
    fn of(p: &'p Plan, g: &'p crate::plan::GatewaySpec) -> Self {
        let far = (g.peers.iter())
            .map(|peer| {
                p.gateways
                    .get(peer.gateway)
                    .map(|f| (f.name.as_str(), f.port))
            })
            .collect();
        ComparedGateway { spec: g, far }
    }

    /// Its spec with every peer's place left out.
    fn placeless(&self) -> crate::plan::GatewaySpec {
        let mut g = self.spec.clone();
        for peer in &mut g.peers {
            peer.gateway = 0;
        }
        g
    }
}

impl PartialEq for ComparedGateway<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.far == other.far && self.placeless() == other.placeless()
    }
}

/// Whether a gateway's SIGHUP takes `n` in place of `o`: the same process
/// with the same TUN device, MTU and port (what `gateway::config`'s
/// `needs_restart` would refuse); peers and policy reload.
fn reloadable(o: &crate::plan::GatewaySpec, n: &crate::plan::GatewaySpec) -> bool {
    o.ns == n.ns && o.name == n.name && o.tun == n.tun && o.mtu == n.mtu && o.port == n.port
}

/// What a gateway's peers may send and receive: (peer's gateway, prefix).
fn allowance(p: &Plan, g: &crate::plan::GatewaySpec) -> BTreeSet<(String, ipnet::Ipv4Net)> {
    g.peers
        .iter()
        .flat_map(|peer| {
            let far = p.gateways.get(peer.gateway).map(|f| f.name.clone());
            peer.allowed
                .iter()
                .map(move |&a| (far.clone().unwrap_or_else(|| peer.name.clone()), a))
        })
        .collect()
}

/// Gateway `n` allowed what it was (`o`) and what it is to be: each peer
/// its prefixes of both, and the peers `n` drops kept while their far
/// gateway is still in the new plan (their routes go once BGP withdrew
/// them, with [`Step::NarrowGateway`]).
fn widened(
    old: &Plan,
    o: &crate::plan::GatewaySpec,
    new: &Plan,
    n: &crate::plan::GatewaySpec,
) -> crate::plan::GatewaySpec {
    let far = |p: &Plan, peer: &crate::plan::GatewayPeer| {
        p.gateways.get(peer.gateway).map(|g| g.name.clone())
    };
    let mut w = n.clone();
    for was in &o.peers {
        let Some(name) = far(old, was) else {
            continue;
        };
        match w
            .peers
            .iter_mut()
            .find(|p| far(new, p).as_ref() == Some(&name))
        {
            Some(is) => {
                for a in &was.allowed {
                    if !is.allowed.contains(a) {
                        is.allowed.push(*a);
                    }
                }
            }
            None => {
                if let Some(k) = new.gateways.iter().position(|g| g.name == name) {
                    w.peers.push(crate::plan::GatewayPeer {
                        gateway: k,
                        ..was.clone()
                    });
                }
            }
        }
    }
    w
}

/// What changed between two rulesets, per section (the group's comment
/// line, or the chain, above the lines): `bastion-sg ingress: 1 line
/// added`, or a NACL's `rule 120 added`.
/// Whether ruleset `new` only narrows `old`: it names no IPv4 address or
/// prefix `old` does not, and `old` names one it does not (an instance
/// gone from a security group's members).
fn only_narrows(old: &str, new: &str) -> bool {
    fn addresses(ruleset: &str) -> BTreeSet<&str> {
        ruleset
            .split(|c: char| !(c.is_ascii_digit() || c == '.' || c == '/'))
            .filter(|w| {
                let ip = w.split('/').next().unwrap_or("");
                ip.parse::<std::net::Ipv4Addr>().is_ok()
            })
            .collect()
    }
    let (o, n) = (addresses(old), addresses(new));
    n.is_subset(&o) && o.len() > n.len()
}

fn lines_changed(old: &str, new: &str) -> String {
    fn counted(ruleset: &str) -> BTreeMap<(String, String), i64> {
        let mut m = BTreeMap::new();
        let mut section = String::new();
        for l in ruleset.lines().map(str::trim) {
            if let Some(c) = l.strip_prefix("# ") {
                section = c.to_string();
            } else if let Some(c) = l.strip_prefix("chain ") {
                section = format!("chain {}", c.trim_end_matches('{').trim());
            }
            *m.entry((section.clone(), l.to_string())).or_default() += 1;
        }
        m
    }
    let (o, n) = (counted(old), counted(new));
    // per section: lines added, lines removed, the one comment named
    let mut per: BTreeMap<&str, (i64, i64, Vec<&str>)> = BTreeMap::new();
    for ((section, line), &k) in &n {
        let more = k - o
            .get(&(section.clone(), line.clone()))
            .copied()
            .unwrap_or(0);
        if more > 0 {
            let e = per.entry(section).or_default();
            e.0 += more;
            e.2.push(line);
        }
    }
    for ((section, line), &k) in &o {
        let fewer = k - n
            .get(&(section.clone(), line.clone()))
            .copied()
            .unwrap_or(0);
        if fewer > 0 {
            let e = per.entry(section).or_default();
            e.1 += fewer;
            e.2.push(line);
        }
    }
    let named = |l: &str| -> Option<String> {
        let c = l.split("comment \"").nth(1)?.trim_end_matches('"');
        Some(c.to_string())
    };
    let plural = |k: i64| if k == 1 { "line" } else { "lines" };
    let parts: Vec<String> = per
        .into_iter()
        .map(|(section, (added, removed, lines))| {
            let names: BTreeSet<Option<String>> = lines.iter().map(|l| named(l)).collect();
            let what = match (
                names.into_iter().collect::<Vec<_>>().as_slice(),
                added,
                removed,
            ) {
                ([Some(c)], 1, 0) => format!("{c} added"),
                ([Some(c)], 0, 1) => format!("{c} removed"),
                ([Some(c)], 1, 1) => format!("{c} changed"),
                (_, a, 0) => format!("{a} {} added", plural(a)),
                (_, 0, r) => format!("{r} {} removed", plural(r)),
                (_, a, r) => format!("{a} {} added, {r} removed", plural(a)),
            };
            if section.is_empty() {
                what
            } else {
                format!("{section}: {what}")
            }
        })
        .collect();
    parts.join("; ")
}

/// The load balancer's server slot a target step registers or
/// deregisters: its node, backend and server.
fn slot_of(s: &Step) -> Option<(&str, &str, &str)> {
    match s {
        Step::RegisterTarget { node, target, .. } | Step::DeregisterTarget { node, target, .. } => {
            Some((
                node.as_str(),
                target.backend.as_str(),
                target.server.as_str(),
            ))
        }
        _ => None,
    }
}
