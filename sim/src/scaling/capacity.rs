//! A group's capacity in a running lab, and what a later `sim apply
//! FILE` does with it.
//!
//! The scaling controller changes a group's desired capacity, and names
//! its instances (`instances = [{ name, slot }]`: those the controller
//! launched and kept, each in its load-balancer slot), in the lab's copy
//! of its topology (never the user's file) and records both in the lab's
//! state ([`LiveCapacity`]), with the desired capacity the file had
//! then. A later `sim apply FILE` does as a CloudFormation stack update
//! does: when the file's `desired` changed since, the file's value is
//! set (and its first `desired` instances); when it did not, the live
//! value and instances stay (the value clamped to the file's `min` and
//! `max`; clamped, the file's first instances).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use topology::format::{RawAutoScalingGroup, RawTopology};

/// A group's capacity as the scaling controller left it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveCapacity {
    /// Its desired capacity now.
    pub desired: u32,
    /// The desired capacity the topology file gave when the live value
    /// was set: a file with another changes it.
    pub file_desired: u32,
    /// Its instances now, oldest first (none recorded by an older
    /// vifgate: the first `desired`).
    #[serde(default)]
    pub instances: Vec<LiveInstance>,
}

/// An instance the scaling controller keeps, and its slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveInstance {
    /// Its name.
    pub name: String,
    /// Its load-balancer slot.
    pub slot: u32,
}

/// Why a topology text's capacities cannot be edited.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CapacityError {
    /// The text is not a topology in TOML.
    #[error("the lab's topology is not a TOML topology file: {0}")]
    NotToml(String),
    /// No such group.
    #[error("the topology has no Auto Scaling group `{0}`")]
    NoGroup(String),
}

fn groups(text: &str) -> Result<Vec<RawAutoScalingGroup>, CapacityError> {
    let raw: RawTopology =
        toml::from_str(text).map_err(|e| CapacityError::NotToml(e.message().to_string()))?;
    Ok(raw.vpc.map(|v| v.auto_scaling_group).unwrap_or_default())
}

/// `text` with the `desired` of each group named in `set` replaced, in
/// place, and its `instances` set where they are given (replaced, or
/// added on the line after `desired`); every other byte kept.
fn splice(
    text: &str,
    set: &BTreeMap<String, (u32, Option<&[LiveInstance]>)>,
) -> Result<String, CapacityError> {
    let mut edits: Vec<(std::ops::Range<usize>, String)> = Vec::new();
    let all = groups(text)?;
    for (name, &(n, instances)) in set {
        let g = all
            .iter()
            .find(|g| g.name.get_ref() == name)
            .ok_or_else(|| CapacityError::NoGroup(name.clone()))?;
        edits.push((g.desired.span(), n.to_string()));
        let Some(list) = instances else { continue };
        let value = format!(
            "[{}]",
            (list.iter())
                .map(|i| {
                    // a TOML string: a name may hold `"` or `\\`
                    let name = toml::Value::String(i.name.clone());
                    format!("{{ name = {name}, slot = {} }}", i.slot)
                })
                .collect::<Vec<_>>()
                .join(", ")
        );
        match &g.instances {
            Some(old) => edits.push((old.span(), value)),
            None => {
                let end = g.desired.span().end;
                let eol = text[end..].find('\n').map_or(text.len(), |i| end + i);
                edits.push((eol..eol, format!("\ninstances = {value}")));
            }
        }
    }
    edits.sort_by_key(|(r, _)| std::cmp::Reverse(r.start));
    let mut out = text.to_string();
    for (range, v) in edits {
        out.replace_range(range, &v);
    }
    Ok(out)
}

/// `text` with group `group`'s desired capacity set to `desired`.
pub fn with_desired(text: &str, group: &str, desired: u32) -> Result<String, CapacityError> {
    splice(
        text,
        &BTreeMap::from([(group.to_string(), (desired, None))]),
    )
}

/// `text` with group `group` running `instances` (as many as its desired
/// capacity).
pub fn with_instances(
    text: &str,
    group: &str,
    instances: &[LiveInstance],
) -> Result<String, CapacityError> {
    splice(
        text,
        &BTreeMap::from([(group.to_string(), (instances.len() as u32, Some(instances)))]),
    )
}

/// The desired capacity `text` gives group `group`.
pub fn desired_in(text: &str, group: &str) -> Result<u32, CapacityError> {
    groups(text)?
        .iter()
        .find(|g| g.name.get_ref() == group)
        .map(|g| (*g.desired.get_ref()).clamp(0, i64::from(u32::MAX)) as u32)
        .ok_or_else(|| CapacityError::NoGroup(group.to_string()))
}

/// What `sim apply` of a file's `text` does with the live capacities
/// `live`: the text to apply (live values kept where the file's
/// `desired` is the one they were set against) and the live capacities
/// after it. A text that is not TOML (a CloudFormation template) is
/// applied as it is, and the live values are dropped.
pub fn keep_live(
    text: &str,
    live: &BTreeMap<String, LiveCapacity>,
) -> (String, BTreeMap<String, LiveCapacity>) {
    let Ok(all) = groups(text) else {
        return (text.to_string(), BTreeMap::new());
    };
    let mut set = BTreeMap::new();
    let mut kept = BTreeMap::new();
    for g in &all {
        let Some(rec) = live.get(g.name.get_ref()) else {
            continue;
        };
        let file = *g.desired.get_ref();
        if file != i64::from(rec.file_desired) {
            continue; // the file changed it: the file's value is set
        }
        let bound = |v: &Option<topology::format::Int>| v.as_ref().map_or(file, |i| *i.get_ref());
        let (min, max) = (bound(&g.min), bound(&g.max));
        if min > max {
            continue; // the resolver reports it
        }
        let desired = i64::from(rec.desired).clamp(min, max);
        let Ok(desired) = u32::try_from(desired) else {
            continue;
        };
        // the live instances while their number is the capacity kept
        let instances = (desired == rec.desired && rec.instances.len() as u32 == desired)
            .then_some(rec.instances.as_slice());
        set.insert(g.name.get_ref().clone(), (desired, instances));
        kept.insert(
            g.name.get_ref().clone(),
            LiveCapacity {
                desired,
                file_desired: rec.file_desired,
                instances: instances.map(<[_]>::to_vec).unwrap_or_default(),
            },
        );
    }
    match splice(text, &set) {
        Ok(t) => (t, kept),
        Err(_) => (text.to_string(), BTreeMap::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "[vpc]\nname = \"v\"\ncidr = \"10.0.0.0/16\"\nregion = \"r\"\n\n\
        [[vpc.auto_scaling_group]]\nname = \"web-asg\"\nhost_prefix = \"web\"\nsubnets = [\"a\"]\n\
        desired = 2 # the event day's\nmin = 2\nmax = 4\n";

    #[test]
    fn an_instance_name_with_quotes_is_written_as_a_toml_string() {
        let names = ["we\"b-a1", "we\\b-c1"];
        let live: Vec<LiveInstance> = (names.iter().zip(1..))
            .map(|(n, slot)| LiveInstance {
                name: n.to_string(),
                slot,
            })
            .collect();
        let t = with_instances(FILE, "web-asg", &live).expect("edits");
        let raw: RawTopology = toml::from_str(&t).expect("still TOML");
        let g = &raw.vpc.expect("vpc").auto_scaling_group[0];
        let written: Vec<String> = (g.instances.as_ref().expect("instances").get_ref().iter())
            .map(|i| i.name.get_ref().clone())
            .collect();
        assert_eq!(written, names);
    }

    #[test]
    fn desired_is_edited_in_place() {
        let t = with_desired(FILE, "web-asg", 3).expect("edits");
        assert_eq!(t, FILE.replace("desired = 2 #", "desired = 3 #"));
        assert_eq!(desired_in(&t, "web-asg"), Ok(3));
        assert_eq!(
            with_desired(FILE, "db", 3),
            Err(CapacityError::NoGroup("db".into()))
        );
        assert!(matches!(
            with_desired("{", "web-asg", 3),
            Err(CapacityError::NotToml(_))
        ));
    }

    #[test]
    fn a_later_apply_keeps_the_live_value_unless_the_file_changed_desired() {
        let live = BTreeMap::from([(
            "web-asg".to_string(),
            LiveCapacity {
                desired: 4,
                file_desired: 2,
                instances: Vec::new(),
            },
        )]);
        // the file still says 2: the group stays at 4
        let (t, kept) = keep_live(FILE, &live);
        assert_eq!(desired_in(&t, "web-asg"), Ok(4));
        assert_eq!(kept, live);
        // the file now says 3: 3 is set, and no live value is left
        let edited = FILE.replace("desired = 2", "desired = 3");
        let (t, kept) = keep_live(&edited, &live);
        assert_eq!(t, edited);
        assert!(kept.is_empty());
        // the file lowered max below the live value: clamped
        let lower = FILE.replace("max = 4", "max = 3");
        let (t, kept) = keep_live(&lower, &live);
        assert_eq!(desired_in(&t, "web-asg"), Ok(3));
        assert_eq!(kept["web-asg"].desired, 3);
    }

    #[test]
    fn the_controllers_instances_are_written_and_kept_by_a_later_apply() {
        let run = |v: &[(&str, u32)]| -> Vec<LiveInstance> {
            v.iter()
                .map(|(n, s)| LiveInstance {
                    name: n.to_string(),
                    slot: *s,
                })
                .collect()
        };
        let three = run(&[("web-c1", 2), ("web-a2", 3), ("web-c2", 4)]);
        let t = with_instances(FILE, "web-asg", &three).expect("edits");
        assert_eq!(
            t,
            FILE.replace(
                "desired = 2 # the event day's\n",
                "desired = 3 # the event day's\ninstances = [{ name = \"web-c1\", slot = 2 }, { name = \"web-a2\", slot = 3 }, { name = \"web-c2\", slot = 4 }]\n"
            )
        );
        // and again: the list is replaced
        let two = run(&[("web-c1", 2), ("web-a2", 3)]);
        let u = with_instances(&t, "web-asg", &two).expect("edits");
        assert!(u.contains("desired = 2 # the event day's\ninstances = [{ name = \"web-c1\", slot = 2 }, { name = \"web-a2\", slot = 3 }]\n"), "{u}");
        // a later apply of the file (desired 2 still) keeps them
        let live = BTreeMap::from([(
            "web-asg".to_string(),
            LiveCapacity {
                desired: 3,
                file_desired: 2,
                instances: three.clone(),
            },
        )]);
        let (kept_text, kept) = keep_live(FILE, &live);
        assert_eq!(kept_text, t);
        assert_eq!(kept["web-asg"].instances, three);
        // clamped below them: the file's first instances
        let (lower, kept) = keep_live(&FILE.replace("max = 4", "max = 2"), &live);
        assert!(!lower.contains("instances"), "{lower}");
        assert!(kept["web-asg"].instances.is_empty());
    }
}
