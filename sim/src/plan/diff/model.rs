//! A pure model of a lab, for the tests: a [`Plan`]-shaped set of objects
//! that steps are applied to, checking before each step that what it needs
//! exists (and that what it adds does not), and taking away with a
//! namespace or an interface what the kernel takes with it.

use std::collections::BTreeSet;

use crate::plan::Plan;

use super::{sockets, Step};

/// `start` with `steps` applied in order; `target` is the plan the steps
/// lead to, for the prerequisites that depend on it (a process that
/// serves comes after its namespace's firewall). The error names the
/// first step whose prerequisite is missing.
pub(crate) fn apply(start: &Plan, steps: &[Step], target: &Plan) -> Result<Plan, String> {
    let mut w = start.clone();
    in_places_of(&mut w, start, target);
    // the daemons still holding an MD5 key that has changed since they
    // read it: (namespace, name)
    let mut stale_keys: BTreeSet<(String, String)> = BTreeSet::new();
    for (i, s) in steps.iter().enumerate() {
        let at = |e: String| format!("step {i} `{s}`: {e}");
        port_free(&w, s).map_err(at)?;
        track_md5_readers(&w, s, &mut stale_keys);
        step(&mut w, s, target).map_err(at)?;
    }
    let running = |(ns, name): &(String, String)| {
        w.bird
            .daemons
            .iter()
            .any(|b| &b.ns == ns && &b.name == name)
            || w.frr.iter().any(|f| &f.ns == ns && &f.node == name)
    };
    if let Some((ns, name)) = stale_keys.iter().find(|d| running(d)) {
        return Err(format!(
            "the BGP daemon {name} in {ns} still holds an MD5 key that changed"
        ));
    }
    Ok(w)
}

/// `w`'s gateways (of plan `start`) with each peer's far gateway at its
/// place in `target` (`usize::MAX` where `target` has none), as the
/// steps' gateways have theirs: a peer is its far gateway by name, and
/// the places of a plan's gateways are the plan's.
fn in_places_of(w: &mut Plan, start: &Plan, target: &Plan) {
    for g in &mut w.gateways {
        for peer in &mut g.peers {
            peer.gateway = (start.gateways.get(peer.gateway))
                .and_then(|far| target.gateways.iter().position(|t| t.name == far.name))
                .unwrap_or(usize::MAX);
        }
    }
}

/// Before a step that starts a process: no running process of `w` holds
/// a port it binds.
fn port_free(w: &Plan, s: &Step) -> Result<(), String> {
    let held = sockets::bound(w);
    match sockets::binds(s).into_iter().find(|x| held.contains(x)) {
        Some(x) => Err(format!(
            "{} port {} in {} is held by a process still running",
            if x.udp { "UDP" } else { "TCP" },
            x.port,
            x.ns
        )),
        None => Ok(()),
    }
}

/// A BGP daemon reads its MD5 keys when it starts or is reconfigured: a
/// key written anew makes the daemons that read it stale until then.
fn track_md5_readers(w: &Plan, s: &Step, stale: &mut BTreeSet<(String, String)>) {
    match s {
        Step::InstallMd5Key { key }
            if w.bird
                .md5
                .iter()
                .any(|k| k.session == key.session && k != key) =>
        {
            for b in &w.bird.daemons {
                if super::bird_reads(b, key) {
                    stale.insert((b.ns.clone(), b.name.clone()));
                }
            }
            for f in &w.frr {
                if super::frr_reads(f, key) {
                    stale.insert((f.ns.clone(), f.node.clone()));
                }
            }
        }
        Step::StartBird { bird: b } | Step::ReconfigureBird { bird: b } => {
            stale.remove(&(b.ns.clone(), b.name.clone()));
        }
        Step::StartFrr { frr: f } | Step::ReconfigureFrr { frr: f } => {
            stale.remove(&(f.ns.clone(), f.node.clone()));
        }
        _ => {}
    }
}

/// `p` with every list in one order (and each HAProxy's targets sorted),
/// to compare two plans as sets of objects.
pub(crate) fn normalised(p: &Plan) -> Plan {
    fn sort<T: serde::Serialize>(v: &mut [T]) {
        v.sort_by_cached_key(|x| serde_json::to_string(x).unwrap_or_default());
    }
    let mut p = p.clone();
    sort(&mut p.namespaces);
    for b in &mut p.bridges {
        b.ports.sort();
    }
    sort(&mut p.bridges);
    sort(&mut p.links);
    sort(&mut p.addresses);
    // a route's `why` explains it; the kernel has no such thing
    for r in p.routes.iter_mut().chain(p.tunnel_routes.iter_mut()) {
        r.why.clear();
    }
    sort(&mut p.routes);
    sort(&mut p.tunnel_routes);
    sort(&mut p.rules);
    sort(&mut p.sysctls);
    sort(&mut p.firewalls);
    sort(&mut p.gateways);
    sort(&mut p.shaping);
    sort(&mut p.listeners);
    sort(&mut p.starts);
    // the targets are a set; the text follows from them and the rest
    for h in &mut p.haproxy {
        h.targets.sort();
        h.config.clear();
    }
    sort(&mut p.haproxy);
    sort(&mut p.bird.daemons);
    sort(&mut p.bird.md5);
    sort(&mut p.frr);
    p
}

fn has_ns(w: &Plan, ns: &str) -> Result<(), String> {
    if w.namespaces.iter().any(|n| n.name == ns) {
        Ok(())
    } else {
        Err(format!("namespace {ns} does not exist"))
    }
}

/// Whether interface `name` exists in `ns`: a veth end, a bridge, a
/// gateway's TUN device, the loopback.
fn has_ifc(w: &Plan, ns: &str, name: &str) -> bool {
    name == "lo"
        || w.links
            .iter()
            .any(|l| (l.a.ns == ns && l.a.ifname == name) || (l.b.ns == ns && l.b.ifname == name))
        || w.bridges.iter().any(|b| b.ns == ns && b.name == name)
        || w.gateways.iter().any(|g| g.ns == ns && g.tun == name)
}

fn need_ifc(w: &Plan, ns: &str, name: &str) -> Result<(), String> {
    has_ns(w, ns)?;
    if has_ifc(w, ns, name) {
        Ok(())
    } else {
        Err(format!("interface {name} does not exist in {ns}"))
    }
}

fn free_ifc(w: &Plan, ns: &str, name: &str) -> Result<(), String> {
    has_ns(w, ns)?;
    if has_ifc(w, ns, name) {
        Err(format!("interface {name} already exists in {ns}"))
    } else {
        Ok(())
    }
}

/// Adds `x` to `v`, refusing one with the same key.
fn insert<T, K: PartialEq>(v: &mut Vec<T>, x: T, key: impl Fn(&T) -> K) -> Result<(), String> {
    if v.iter().any(|y| key(y) == key(&x)) {
        return Err("it exists already".into());
    }
    v.push(x);
    Ok(())
}

/// Removes the one element under `k`, refusing when there is none.
fn take<T, K: PartialEq>(v: &mut Vec<T>, k: K, key: impl Fn(&T) -> K) -> Result<(), String> {
    let before = v.len();
    v.retain(|y| key(y) != k);
    if v.len() == before {
        return Err("it does not exist".into());
    }
    Ok(())
}

/// Replaces the element under `key(&x)`, refusing when there is none.
fn put<T, K: PartialEq>(v: &mut Vec<T>, x: T, key: impl Fn(&T) -> K) -> Result<(), String> {
    take(v, key(&x), &key)?;
    v.push(x);
    Ok(())
}

/// What the kernel takes with an interface.
fn drop_ifc(w: &mut Plan, ns: &str, name: &str) {
    let on = |n: &str, i: &str| n == ns && i == name;
    w.addresses.retain(|a| !on(&a.ns, &a.ifname));
    let through = |r: &crate::plan::RouteSpec| r.dev.as_deref().is_some_and(|d| on(&r.ns, d));
    w.routes.retain(|r| !through(r));
    w.tunnel_routes.retain(|r| !through(r));
    w.shaping.retain(|s| !on(&s.ns, &s.ifname));
    for b in &mut w.bridges {
        if b.ns == ns {
            b.ports.retain(|p| p != name);
        }
    }
}

/// Before a process that serves in `ns`: its firewall, if it will have one.
fn filtered(w: &Plan, ns: &str, target: &Plan) -> Result<(), String> {
    has_ns(w, ns)?;
    let wants = target.firewalls.iter().any(|f| f.ns == ns);
    if wants && !w.firewalls.iter().any(|f| f.ns == ns) {
        return Err(format!("the firewall of {ns} is not loaded"));
    }
    Ok(())
}

/// Before a BGP daemon in `ns`: the MD5 keys, and the TUN devices of the
/// gateways of its namespace.
fn bgp_ready(w: &Plan, ns: &str, target: &Plan) -> Result<(), String> {
    has_ns(w, ns)?;
    for k in &target.bird.md5 {
        if !w.bird.md5.contains(k) {
            return Err(format!("the MD5 key of {} is not written", k.session));
        }
    }
    for g in target.gateways.iter().filter(|g| g.ns == ns) {
        if !has_ifc(w, ns, &g.tun) {
            return Err(format!("gateway {}'s TUN {} does not exist", g.name, g.tun));
        }
    }
    Ok(())
}

fn step(w: &mut Plan, s: &Step, target: &Plan) -> Result<(), String> {
    use Step::*;
    match s {
        CreateNamespace { namespace } => {
            insert(&mut w.namespaces, namespace.clone(), |n| n.name.clone())?
        }
        DeleteNamespace { ns } => {
            take(&mut w.namespaces, ns.clone(), |n| n.name.clone())?;
            let ns = ns.as_str();
            w.sysctls.retain(|x| x.ns != ns);
            w.bridges.retain(|x| x.ns != ns);
            let gone: Vec<(String, String)> = w
                .links
                .iter()
                .filter(|l| l.a.ns == ns || l.b.ns == ns)
                .flat_map(|l| {
                    [
                        (l.a.ns.clone(), l.a.ifname.clone()),
                        (l.b.ns.clone(), l.b.ifname.clone()),
                    ]
                })
                .collect();
            for (n, i) in &gone {
                drop_ifc(w, n, i);
            }
            w.links.retain(|l| l.a.ns != ns && l.b.ns != ns);
            w.addresses.retain(|x| x.ns != ns);
            w.routes.retain(|x| x.ns != ns);
            w.tunnel_routes.retain(|x| x.ns != ns);
            w.rules.retain(|x| x.ns != ns);
            w.shaping.retain(|x| x.ns != ns);
            w.firewalls.retain(|x| x.ns != ns);
            w.gateways.retain(|x| x.ns != ns);
            w.listeners.retain(|x| x.ns != ns);
            w.starts.retain(|x| x.ns != ns);
            w.haproxy.retain(|x| x.ns != ns);
            w.bird.daemons.retain(|x| x.ns != ns);
            w.frr.retain(|x| x.ns != ns);
        }
        SetSysctl { sysctl } => {
            has_ns(w, &sysctl.ns)?;
            w.sysctls
                .retain(|x| !(x.ns == sysctl.ns && x.key == sysctl.key));
            w.sysctls.push(sysctl.clone());
        }
        ResetSysctl { ns, key } => take(&mut w.sysctls, (ns.clone(), key.clone()), |x| {
            (x.ns.clone(), x.key.clone())
        })?,
        AddBridge { bridge } => {
            free_ifc(w, &bridge.ns, &bridge.name)?;
            w.bridges.push(bridge.clone());
        }
        DeleteBridge { ns, name } => {
            take(&mut w.bridges, (ns.clone(), name.clone()), |b| {
                (b.ns.clone(), b.name.clone())
            })?;
            drop_ifc(w, ns, name);
        }
        AttachPort { ns, bridge, port } => {
            need_ifc(w, ns, port)?;
            let b = w
                .bridges
                .iter_mut()
                .find(|b| &b.ns == ns && &b.name == bridge)
                .ok_or("no such bridge")?;
            if b.ports.contains(port) {
                return Err("attached already".into());
            }
            b.ports.push(port.clone());
        }
        DetachPort { ns, bridge, port } => {
            let b = w
                .bridges
                .iter_mut()
                .find(|b| &b.ns == ns && &b.name == bridge)
                .ok_or("no such bridge")?;
            take(&mut b.ports, port.clone(), Clone::clone)?;
        }
        AddVeth { link } => {
            free_ifc(w, &link.a.ns, &link.a.ifname)?;
            free_ifc(w, &link.b.ns, &link.b.ifname)?;
            w.links.push(link.clone());
        }
        DeleteVeth { a, b } => {
            take(&mut w.links, (a.clone(), b.clone()), |l| {
                (l.a.clone(), l.b.clone())
            })?;
            drop_ifc(w, &a.ns, &a.ifname);
            drop_ifc(w, &b.ns, &b.ifname);
        }
        AddAddress { address } => {
            need_ifc(w, &address.ns, &address.ifname)?;
            insert(&mut w.addresses, address.clone(), Clone::clone)?;
        }
        DeleteAddress { address } => take(&mut w.addresses, address.clone(), Clone::clone)?,
        AddRoute { route, tunnel } | ReplaceRoute { route, tunnel } => {
            match &route.dev {
                Some(dev) => need_ifc(w, &route.ns, dev)?,
                None => has_ns(w, &route.ns)?,
            }
            let list = if *tunnel {
                &mut w.tunnel_routes
            } else {
                &mut w.routes
            };
            let key = |r: &crate::plan::RouteSpec| (r.ns.clone(), r.table, r.dst, r.metric);
            if matches!(s, AddRoute { .. }) {
                insert(list, route.clone(), key)?;
            } else {
                // `ip route replace` adds a route that is not there
                list.retain(|r| key(r) != key(route));
                list.push(route.clone());
            }
        }
        DeleteRoute { route, tunnel } => {
            let list = if *tunnel {
                &mut w.tunnel_routes
            } else {
                &mut w.routes
            };
            take(list, route.clone(), Clone::clone)?;
        }
        AddRule { rule } | ReplaceRule { rule } => {
            has_ns(w, &rule.ns)?;
            let key = |r: &crate::plan::RuleSpec| (r.ns.clone(), r.iif.clone(), r.priority);
            if matches!(s, AddRule { .. }) {
                insert(&mut w.rules, rule.clone(), key)?;
            } else {
                w.rules.retain(|r| key(r) != key(rule));
                w.rules.push(rule.clone());
            }
        }
        DeleteRule { rule } => take(&mut w.rules, rule.clone(), Clone::clone)?,
        SetShaping { shaping } => {
            need_ifc(w, &shaping.ns, &shaping.ifname)?;
            w.shaping
                .retain(|x| !(x.ns == shaping.ns && x.ifname == shaping.ifname));
            w.shaping.push(shaping.clone());
        }
        ClearShaping { ns, ifname } => take(&mut w.shaping, (ns.clone(), ifname.clone()), |x| {
            (x.ns.clone(), x.ifname.clone())
        })?,
        LoadFirewall { firewall, .. } => {
            has_ns(w, &firewall.ns)?;
            let key = |f: &crate::plan::FirewallSpec| (f.ns.clone(), super::tables(&f.ruleset));
            w.firewalls.retain(|f| key(f) != key(firewall));
            w.firewalls.push(firewall.clone());
        }
        DeleteFirewall { ns, tables } => {
            take(&mut w.firewalls, (ns.clone(), tables.clone()), |f| {
                (f.ns.clone(), super::tables(&f.ruleset))
            })?
        }
        InstallMd5Key { key } => {
            w.bird.md5.retain(|k| k.session != key.session);
            w.bird.md5.push(key.clone());
        }
        RemoveMd5Key { key } => take(&mut w.bird.md5, key.clone(), Clone::clone)?,
        StartGateway { gateway } => {
            free_ifc(w, &gateway.ns, &gateway.tun)?;
            insert(&mut w.gateways, gateway.clone(), |g| g.name.clone())?;
        }
        ReconfigureGateway { gateway } | NarrowGateway { gateway } => {
            put(&mut w.gateways, gateway.clone(), |g| g.name.clone())?
        }
        StopGateway { ns, name } => {
            let tun = w
                .gateways
                .iter()
                .find(|g| &g.name == name && &g.ns == ns)
                .map(|g| g.tun.clone())
                .ok_or("no such gateway")?;
            w.gateways.retain(|g| &g.name != name);
            drop_ifc(w, ns, &tun);
        }
        StartBird { bird } => {
            bgp_ready(w, &bird.ns, target)?;
            insert(&mut w.bird.daemons, bird.clone(), |b| {
                (b.ns.clone(), b.name.clone())
            })?;
        }
        ReconfigureBird { bird } => put(&mut w.bird.daemons, bird.clone(), |b| {
            (b.ns.clone(), b.name.clone())
        })?,
        StopBird { ns, name } => take(&mut w.bird.daemons, (ns.clone(), name.clone()), |b| {
            (b.ns.clone(), b.name.clone())
        })?,
        StartFrr { frr } => {
            bgp_ready(w, &frr.ns, target)?;
            insert(&mut w.frr, frr.clone(), |f| f.ns.clone())?;
        }
        ReconfigureFrr { frr } => put(&mut w.frr, frr.clone(), |f| f.ns.clone())?,
        StopFrr { ns, .. } => take(&mut w.frr, ns.clone(), |f| f.ns.clone())?,
        StartCommand { start } => {
            filtered(w, &start.ns, target)?;
            w.starts.push(start.clone());
        }
        StopCommand { start } => {
            let at = w
                .starts
                .iter()
                .position(|x| x == start)
                .ok_or("not running")?;
            w.starts.remove(at);
        }
        StartListener { listener } => {
            filtered(w, &listener.ns, target)?;
            insert(&mut w.listeners, listener.clone(), |l| l.ns.clone())?;
        }
        StopListener { ns, .. } => take(&mut w.listeners, ns.clone(), |l| l.ns.clone())?,
        StartHaproxy { haproxy } => {
            filtered(w, &haproxy.ns, target)?;
            insert(&mut w.haproxy, haproxy.clone(), |h| h.ns.clone())?;
        }
        ReloadHaproxy { haproxy } => put(&mut w.haproxy, haproxy.clone(), |h| h.ns.clone())?,
        StopHaproxy { ns, .. } => take(&mut w.haproxy, ns.clone(), |h| h.ns.clone())?,
        RegisterTarget { ns, target: t, .. } => {
            let h = w
                .haproxy
                .iter_mut()
                .find(|h| &h.ns == ns)
                .ok_or("no HAProxy")?;
            insert(&mut h.targets, t.clone(), Clone::clone).map_err(|_| "registered already")?;
        }
        DeregisterTarget { ns, target: t, .. } => {
            let h = w
                .haproxy
                .iter_mut()
                .find(|h| &h.ns == ns)
                .ok_or("no HAProxy")?;
            take(&mut h.targets, t.clone(), Clone::clone).map_err(|_| "not registered")?;
        }
    }
    Ok(())
}
