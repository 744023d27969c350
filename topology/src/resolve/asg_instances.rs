//! Where an Auto Scaling group's instances go: each one's name, subnet,
//! place among the subnet's free addresses and load-balancer slot.
//!
//! The first `desired` instances are spread over the group's subnets in
//! turn, named `<host_prefix>-<zone><n>` (n counting in the zone), in
//! slots 1 to `desired`. A file (the lab's copy, which the scaling
//! controller edits) may name them instead: `instances = [{ name =
//! "web-a2", slot = 3 }]`. An instance's name fixes its place either way
//! — `<zone><n>` is the n-th of its zone, which goes to the zone's
//! subnets in turn, and takes the j-th free address of its subnet — so an
//! instance keeps its name, address and slot while others of its group
//! are launched and terminated; the places of instances not running are
//! held (no later group's instance moves into them).

use std::collections::BTreeSet;

use super::*;

/// One instance's place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Placement {
    /// Its name.
    pub name: String,
    /// Its subnet (an index of the topology's).
    pub subnet: usize,
    /// Its place among the subnet's free addresses, from 1.
    pub nth: u32,
    /// Its load-balancer slot, from 1.
    pub slot: u32,
    /// Whether an instance runs there (false: a place held for one of
    /// the zone's lower numbers that is not running).
    pub running: bool,
}

/// The names of group `g`'s instances that could run and do not: with
/// `instances` given (a lab's copy, the controller's choice), each zone's
/// numbers up to the group's `max` that are not in it. A reference to one
/// (an `[[expect]]`, a start command) is skipped with a warning rather
/// than refused: the controller may have terminated the instance a file
/// names.
pub(super) fn dormant(
    g: &RawAutoScalingGroup,
    places: &[Placement],
    zones: &[String],
    max: u32,
) -> Vec<String> {
    if g.instances.is_none() {
        return Vec::new();
    }
    let prefix = g.host_prefix.get_ref();
    let mut out = Vec::new();
    for z in zones {
        for n in 1..=max {
            let name = format!("{prefix}-{z}{n}");
            if !places.iter().any(|p| p.running && p.name == name) {
                out.push(name);
            }
        }
    }
    out
}

/// The zone suffix (`a`) of subnet `s` of `t`.
fn zone_of(t: &Topology, region: &str, s: usize) -> String {
    let az = &t.subnets[s].az;
    az.strip_prefix(region).unwrap_or(az).to_string()
}

/// Instance `n` (from 1) of zone `zone`: its subnet and place, the zone's
/// subnets (`subnets`, in the group's order) taken in turn.
fn place(zone_subnets: &[usize], n: u32) -> (usize, u32) {
    let k = zone_subnets.len().max(1) as u32;
    let i = ((n - 1) % k) as usize;
    (zone_subnets[i], (n - 1) / k + 1)
}

impl Resolver<'_> {
    /// The places of group `g`'s instances (those of the file's
    /// `instances`, else the first `desired`), then the places held for
    /// the numbers below them that are not running; `subnets` the group's
    /// (resolved, non-empty), `max` its maximum size.
    pub(super) fn asg_placements(
        &mut self,
        g: &RawAutoScalingGroup,
        t: &Topology,
        region: &str,
        subnets: &[usize],
        desired: u32,
        max: u32,
    ) -> (Vec<Placement>, Vec<String>) {
        let mut zones: Vec<String> = Vec::new();
        for &s in subnets {
            let z = zone_of(t, region, s);
            if !zones.contains(&z) {
                zones.push(z);
            }
        }
        let zone_subnets = |z: &str| -> Vec<usize> {
            let mut v: Vec<usize> = Vec::new();
            for &s in subnets {
                if zone_of(t, region, s) == z && !v.contains(&s) {
                    v.push(s);
                }
            }
            v
        };
        let prefix = g.host_prefix.get_ref();
        // (zone, n, slot) of each instance
        let mut chosen: Vec<(String, u32, u32)> = Vec::new();
        match &g.instances {
            None => {
                let mut per_zone: Vec<u32> = vec![0; zones.len()];
                for k in 0..desired as usize {
                    let z = zone_of(t, region, subnets[k % subnets.len()]);
                    let zi = zones.iter().position(|x| *x == z).unwrap_or(0);
                    per_zone[zi] += 1;
                    chosen.push((z, per_zone[zi], k as u32 + 1));
                }
            }
            Some(list) => {
                let mut names = BTreeSet::new();
                let mut slots = BTreeSet::new();
                for i in list.get_ref() {
                    let name = i.name.get_ref();
                    let parsed = name
                        .strip_prefix(prefix.as_str())
                        .and_then(|r| r.strip_prefix('-'))
                        .and_then(|r| {
                            // the longest zone that leaves a number
                            let mut best: Option<(String, u32)> = None;
                            for z in &zones {
                                let n = r.strip_prefix(z.as_str()).and_then(|n| {
                                    (!n.starts_with('0'))
                                        .then(|| n.parse::<u32>().ok())
                                        .flatten()
                                });
                                if let Some(n) = n.filter(|&n| n >= 1) {
                                    if best.as_ref().is_none_or(|(b, _)| z.len() > b.len()) {
                                        best = Some((z.clone(), n));
                                    }
                                }
                            }
                            best
                        });
                    let Some((zone, n)) = parsed else {
                        let d = self.error(
                            i.name.span(),
                            format!(
                                "`{name}` is not an instance name of Auto Scaling group `{}`",
                                g.name.get_ref()
                            ),
                        );
                        d.expected = Some(format!(
                            "`{prefix}-<zone><n>`, the zone one of the group's ({}) and n from 1",
                            zones.join(", ")
                        ));
                        continue;
                    };
                    if n > 1000 {
                        self.error(
                            i.name.span(),
                            format!("instance number {n} of `{name}` is out of range"),
                        )
                        .expected = Some("1 to 1000".into());
                        continue;
                    }
                    if !names.insert(name.clone()) {
                        self.error(i.name.span(), format!("instance `{name}` is named twice"));
                        continue;
                    }
                    let Some(slot) = self.int_in(&i.slot, 1, i64::from(max.max(1)), "slot") else {
                        continue;
                    };
                    if !slots.insert(slot) {
                        self.error(i.slot.span(), format!("slot {slot} is given twice"));
                        continue;
                    }
                    chosen.push((zone, n, slot as u32));
                }
                if list.get_ref().len() != desired as usize {
                    let d = self.error(
                        list.span(),
                        format!(
                            "Auto Scaling group `{}` has desired capacity {desired} and `instances` names {}",
                            g.name.get_ref(),
                            list.get_ref().len()
                        ),
                    );
                    d.expected = Some("as many instances as the desired capacity".into());
                }
            }
        }
        let mut out: Vec<Placement> = Vec::new();
        for (zone, n, slot) in &chosen {
            let zs = zone_subnets(zone);
            let (subnet, nth) = place(&zs, *n);
            out.push(Placement {
                name: format!("{prefix}-{zone}{n}"),
                subnet,
                nth,
                slot: *slot,
                running: true,
            });
        }
        // the places of the numbers below each zone's highest that are not
        // running, held
        for z in &zones {
            let top = (chosen.iter().filter(|(x, _, _)| x == z))
                .map(|(_, n, _)| *n)
                .max()
                .unwrap_or(0);
            let zs = zone_subnets(z);
            for n in 1..top {
                if !chosen.iter().any(|(x, m, _)| x == z && *m == n) {
                    let (subnet, nth) = place(&zs, n);
                    out.push(Placement {
                        name: format!("{prefix}-{z}{n}"),
                        subnet,
                        nth,
                        slot: 0,
                        running: false,
                    });
                }
            }
        }
        let sleeping = dormant(g, &out, &zones, max);
        (out, sleeping)
    }
}

#[cfg(test)]
mod tests {
    use crate::resolve::fixture::{diagnostics, load};

    const GROUP: &str = "\n[[vpc.auto_scaling_group]]\nname = \"web\"\nhost_prefix = \"web\"\nsubnets = [\"app-a\", \"app-c\"]\nmax = 4\n";

    fn group(extra: &str) -> String {
        format!("{GROUP}{extra}")
    }

    #[test]
    fn named_instances_keep_their_addresses_and_slots() {
        // the first three: web-a1, web-c1, web-a2 in slots 1, 2, 3
        let (t, _) = load(&group("desired = 3\n"));
        let g = &t.auto_scaling_groups[0];
        let ip = |t: &crate::model::Topology, name: &str| {
            t.nodes
                .iter()
                .find(|n| n.name == name)
                .map(|n| n.interfaces[0].ip)
        };
        let names: Vec<&str> = g
            .instances
            .iter()
            .map(|&n| t.nodes[n].name.as_str())
            .collect();
        assert_eq!(names, ["web-a1", "web-c1", "web-a2"]);
        assert_eq!(g.slots, [1, 2, 3]);
        // web-a1 terminated: web-c1 and web-a2 keep their addresses and
        // slots, and web-a1's address is held
        let (u, _) = load(&group(
            "desired = 2\ninstances = [{ name = \"web-c1\", slot = 2 }, { name = \"web-a2\", slot = 3 }]\n",
        ));
        let h = &u.auto_scaling_groups[0];
        let names: Vec<&str> = h
            .instances
            .iter()
            .map(|&n| u.nodes[n].name.as_str())
            .collect();
        assert_eq!(names, ["web-c1", "web-a2"]);
        assert_eq!(h.slots, [2, 3]);
        for n in ["web-c1", "web-a2"] {
            assert_eq!(ip(&u, n), ip(&t, n), "{n}");
        }
        assert_eq!(ip(&u, "web-a1"), None);
        // launched again: its old address
        let (w, _) = load(&group(
            "desired = 3\ninstances = [{ name = \"web-c1\", slot = 2 }, { name = \"web-a2\", slot = 3 }, { name = \"web-a1\", slot = 1 }]\n",
        ));
        assert_eq!(ip(&w, "web-a1"), ip(&t, "web-a1"));
    }

    #[test]
    fn bad_instance_lists_are_located() {
        let d = diagnostics(&group(
            "desired = 2\ninstances = [{ name = \"web-b1\", slot = 1 }, { name = \"web-a1\", slot = 5 }]\n",
        ));
        assert!(
            d.iter().any(|x| x.contains(
                ":8:23: error: `web-b1` is not an instance name of Auto Scaling group `web`"
            )),
            "{d:?}"
        );
        assert!(
            d.iter()
                .any(|x| x.contains(":8:71: error: slot 5 is out of range")),
            "{d:?}"
        );
        let d = diagnostics(&group(
            "desired = 2\ninstances = [{ name = \"web-a1\", slot = 1 }]\n",
        ));
        assert!(
            d.iter().any(|x| x.contains(":8:13: error: Auto Scaling group `web` has desired capacity 2 and `instances` names 1")),
            "{d:?}"
        );
        let d = diagnostics(&group(
            "desired = 2\ninstances = [{ name = \"web-a1\", slot = 1 }, { name = \"web-a1\", slot = 2 }]\n",
        ));
        assert!(
            d.iter()
                .any(|x| x.contains("instance `web-a1` is named twice")),
            "{d:?}"
        );
        let d = diagnostics(&group(
            "desired = 2\ninstances = [{ name = \"web-a1\", slot = 1 }, { name = \"web-c1\", slot = 1 }]\n",
        ));
        assert!(
            d.iter().any(|x| x.contains("slot 1 is given twice")),
            "{d:?}"
        );
        let d = diagnostics(&group(
            "desired = 1\ninstances = [{ name = \"web-a01\", slot = 1 }]\n",
        ));
        assert!(
            d.iter()
                .any(|x| x.contains("`web-a01` is not an instance name")),
            "{d:?}"
        );
    }

    #[test]
    fn a_reference_to_a_terminated_instance_is_skipped_with_a_warning() {
        let extra = group(
            "desired = 1\ninstances = [{ name = \"web-c1\", slot = 2 }]\n\n[[expect]]\nfrom = \"web-a1\"\nto = \"web-c1\"\nprotocol = \"icmp\"\nverdict = \"ACCEPTED\"\n",
        );
        let (t, warnings) = load(&extra);
        assert!(t.expectations.is_empty());
        assert!(
            warnings.0.iter().any(|w| w.message.contains(
                "`web-a1` is an instance of Auto Scaling group `web` that is not running: this expectation is skipped"
            )),
            "{warnings}"
        );
        // without `instances` (a user's file) it is an error as before
        let d = diagnostics(&group(
            "desired = 1\n\n[[expect]]\nfrom = \"web-c9\"\nto = \"web-a1\"\nprotocol = \"icmp\"\nverdict = \"ACCEPTED\"\n",
        ));
        assert!(
            d.iter().any(|x| x.contains("unknown node `web-c9`")),
            "{d:?}"
        );
    }
}
