//! A lab's state directory and its state file: what `up` made (the plan,
//! the processes it started) and how far it got, read back by `down`,
//! `status` and every operation on a running lab.

use super::*;
use crate::plan::diff::Step;

/// The state directory of a lab, for a valid lab name only: a name such as
/// `..`, `/tmp/x` or `a/../../b` is refused (`InvalidInput`, with the rule
/// `sim up` applies), so that no path outside the state root is ever
/// read, written or removed.
pub fn checked_state_dir(lab: &str) -> io::Result<PathBuf> {
    if !layout::valid_lab_name(lab) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            plan::PlanError::LabName(lab.into()),
        ));
    }
    Ok(layout::state_dir(lab))
}

/// Refuses a state directory that is not a directory of its own: a
/// symbolic link (to anywhere), a file. `Ok(false)` when there is nothing
/// there.
pub(super) fn own_directory(dir: &Path) -> io::Result<bool> {
    match fs::symlink_metadata(dir) {
        Ok(m) if m.file_type().is_dir() => Ok(true),
        Ok(_) => Err(io::Error::other(format!(
            "{} is not a directory vifgate made (a symbolic link or a file): \
             nothing of it is touched; look at it and remove it by hand",
            dir.display()
        ))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io::Error::new(
            e.kind(),
            format!("cannot look at {}: {e}", dir.display()),
        )),
    }
}

/// Refuses a state directory that holds files but no lab: neither the
/// lock file every `sim up` makes first nor a state file (an older
/// layout). A directory of the state root's that vifgate did not make
/// (`VIFGATE_STATE_ROOT` pointed at a directory of other things) is left
/// alone; an empty one (a `sim up` killed as it claimed the name) is a
/// lab's.
pub(super) fn holds_a_lab(dir: &Path) -> io::Result<()> {
    let mut entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(io::Error::new(
                e.kind(),
                format!("cannot look into {}: {e}", dir.display()),
            ))
        }
    };
    let empty = entries.next().is_none();
    let marked = [lock::LOCK_FILE, STATE_FILE]
        .iter()
        .any(|f| fs::symlink_metadata(dir.join(f)).is_ok_and(|m| m.is_file()));
    if empty || marked {
        return Ok(());
    }
    Err(io::Error::other(format!(
        "{} holds no lab (neither a lock file nor {STATE_FILE}): it is no directory vifgate made, \
         so nothing of it is touched; is {STATE_ROOT_VAR} the state root you meant?",
        dir.display()
    )))
}

/// The name of a lab's state file in its state directory.
pub(super) const STATE_FILE: &str = "state.json";

/// How far `sim up` got with a lab. Stored in the state file as
/// `"building"` or `"up"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BuildStatus {
    /// `sim up` is running, or died before the last step: `down` removes it.
    Building,
    /// Every step is done.
    Up,
}

impl BuildStatus {
    /// The word the state file and `sim status` use.
    pub fn as_str(self) -> &'static str {
        match self {
            BuildStatus::Building => "building",
            BuildStatus::Up => "up",
        }
    }
}

impl std::fmt::Display for BuildStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The format of the state file this vifgate writes. 1: the plan keeps,
/// beside the text of each configuration, the values `sim apply` compares
/// (a firewall's tables, a load balancer's targets, the sessions a BIRD
/// runs); a state file without a format is older.
pub const STATE_FORMAT: u32 = 1;

/// What `sim up` recorded about a lab.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LabState {
    /// The state file's format ([`STATE_FORMAT`] when written by this
    /// vifgate; 0 when an older one wrote it).
    #[serde(default)]
    pub format: u32,
    /// The plan it was built from.
    pub plan: Plan,
    /// The topology file, when it came from one.
    pub source: Option<PathBuf>,
    /// `building` until every step is done, then `up`.
    pub status: BuildStatus,
    /// How links got their attributes: shaping mechanisms, VLANs.
    pub link_notes: Vec<String>,
    /// Kernel features found.
    pub features: KernelFeatures,
    /// Seconds `up` took.
    pub seconds: f64,
    /// What `sim link` set on links since, by `A B`: only where it differs
    /// from what `up` set (a link shaped back is no longer listed).
    #[serde(default)]
    pub links: BTreeMap<String, Shaping>,
    /// The links `sim link --down` took down (or cut) and no `--up` has
    /// brought back, by `A B`.
    #[serde(default)]
    pub links_down: std::collections::BTreeSet<String>,
    /// The instances `sim fail` failed and nothing has brought back.
    #[serde(default)]
    pub failed: std::collections::BTreeSet<String>,
    /// The zones (short names, `a`) `sim fail --zone` failed and nothing
    /// has brought back: the lab's controller launches in none of them.
    #[serde(default)]
    pub impaired_zones: std::collections::BTreeSet<String>,
    /// Every process `up` started (gateways, start commands, HAProxy, the
    /// listeners), with its start time, recorded as soon as it ran: `down`
    /// ends them, `sim link` signals the gateways.
    #[serde(default)]
    pub processes: Vec<ProcessRecord>,
    /// Seconds from the BIRDs' start until every expected BGP session was
    /// Established (none without BGP).
    #[serde(default)]
    pub bgp_established_seconds: Option<f64>,
    /// What it was built from ([`fingerprint::fingerprint`] of the plan
    /// and the topology text); none in the state of an older vifgate.
    #[serde(default)]
    pub built_from: Option<String>,
    /// The plan a `sim apply` is bringing the lab to, recorded before its
    /// first step and cleared after its last (when it becomes
    /// [`LabState::plan`]): a lab with one was interrupted in the middle,
    /// and the next `sim apply` completes it.
    #[serde(default)]
    pub applying: Option<Plan>,
    /// Auto Scaling groups whose capacity `sim autoscale` changed, by
    /// name ([`crate::scaling::capacity`]).
    #[serde(default)]
    pub capacity: BTreeMap<String, crate::scaling::capacity::LiveCapacity>,
}

impl LabState {
    /// Refuses to bring lab `lab` to another plan when an older vifgate
    /// wrote its state: its plan lacks what a diff compares. `sim down`
    /// and `--rebuild` do not need it.
    pub fn appliable(&self, lab: &str) -> Result<(), String> {
        if self.format >= STATE_FORMAT {
            return Ok(());
        }
        Err(format!(
            "lab `{lab}` was built by an older vifgate, whose state lacks what `sim apply` compares \
             (firewall tables, load balancer targets, BGP sessions as values): rebuild it once \
             with `vifgate sim apply FILE --lab {lab} --rebuild` (or `sim down` and `sim up`)"
        ))
    }

    /// The links `sim link` changed since the lab was built and left
    /// changed, each as `A B: what` (taken down, or shaped): a lab so
    /// changed is not the one its topology describes.
    pub fn changed_links(&self) -> Vec<String> {
        let down = self.links_down.iter().map(|k| format!("{k}: down"));
        let shaped = self.links.iter().map(|(k, s)| format!("{k}: {s}"));
        down.chain(shaped).collect()
    }

    /// The recorded process of the gateway named `name`
    /// ([`GatewaySpec::name`]).
    pub fn gateway_process(&self, name: &str) -> Option<&ProcessRecord> {
        let what = gateway_what(name);
        self.processes.iter().find(|p| p.what == what)
    }
}

/// The key of link `l` in [`LabState::links`] and [`LabState::links_down`]:
/// `A B`, the two things it joins.
pub fn link_key(l: &plan::VethSpec) -> String {
    format!("{} {}", l.joins.0, l.joins.1)
}

/// Drops what `sim link` recorded of the links that `steps` (bringing
/// the lab to `to`) made again, shaped, or removed: the kernel now has
/// them as `to` says, so `sim status` and `sim test --reuse` must not
/// take them for cut or reshaped. A link the steps left alone keeps what
/// `sim link` did to it.
pub(super) fn forget_link_changes(state: &mut LabState, steps: &[Step], to: &Plan) {
    let mut touched: std::collections::BTreeSet<(&str, &str)> = Default::default();
    for s in steps {
        match s {
            Step::AddVeth { link } => {
                touched.insert((&link.a.ns, &link.a.ifname));
                touched.insert((&link.b.ns, &link.b.ifname));
            }
            Step::SetShaping { shaping } => {
                touched.insert((&shaping.ns, &shaping.ifname));
            }
            Step::ClearShaping { ns, ifname } => {
                touched.insert((ns, ifname));
            }
            _ => {}
        }
    }
    let kept: std::collections::BTreeSet<String> = (to.links.iter())
        .filter(|l| {
            !touched.contains(&(l.a.ns.as_str(), l.a.ifname.as_str()))
                && !touched.contains(&(l.b.ns.as_str(), l.b.ifname.as_str()))
        })
        .map(link_key)
        .collect();
    state.links.retain(|k, _| kept.contains(k));
    state.links_down.retain(|k| kept.contains(k));
}

/// How a gateway's process is named in [`LabState::processes`].
pub(super) fn gateway_what(name: &str) -> String {
    format!("gateway {name}")
}

/// Reads a lab's state, if the lab exists (and the name is a lab name,
/// the file readable and whole: [`load_state`] says which it is not).
pub fn read_state(lab: &str) -> Option<LabState> {
    load_state(lab).ok().flatten()
}

/// Reads a lab's state: `Ok(None)` when it has no state file; an error for
/// a name that is not a lab name, a state directory that is not one, a
/// file that cannot be read (`PermissionDenied` without root) or parsed.
pub fn load_state(lab: &str) -> io::Result<Option<LabState>> {
    let dir = checked_state_dir(lab)?;
    if !own_directory(&dir)? {
        return Ok(None);
    }
    read_state_in(&dir)
}

/// The state file in `dir`, if there is one.
pub(super) fn read_state_in(dir: &Path) -> io::Result<Option<LabState>> {
    let path = dir.join(STATE_FILE);
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(io::Error::new(
                e.kind(),
                format!("cannot read {}: {e}", path.display()),
            ))
        }
    };
    let invalid = |why: String| io::Error::new(io::ErrorKind::InvalidData, why);
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| invalid(format!("{}: {e}", path.display())))?;
    within_the_lab(dir, &v).map_err(|why| {
        invalid(format!(
            "{}: {why}: the file was changed by hand, so nothing it names is touched \
             (`vifgate sim down` still removes what carries the lab's prefixes)",
            path.display()
        ))
    })?;
    serde_json::from_value(v)
        .map(Some)
        .map_err(|e| invalid(format!("{}: {e}", path.display())))
}

/// The keys of a plan's JSON form whose values are files of the lab
/// (configurations, control sockets, logs, MD5 key files, FRR's run
/// directories): all in its state directory.
const PLAN_PATH_KEYS: [&str; 6] = [
    "config_path",
    "socket",
    "log",
    "key_file",
    "run_dir",
    "stats_socket",
];

/// Refuses a state file (its JSON form `v`, in the state directory
/// `dir`) whose plans reach outside the lab: another lab's name, a
/// namespace without the lab's prefixes, a file outside `dir`. `sim
/// apply` deletes what the recorded plan has and the new one has not,
/// and `sim down` all of it, so a state file edited to name another
/// lab's namespace or `/etc/...` would have them delete it.
fn within_the_lab(dir: &Path, v: &serde_json::Value) -> Result<(), String> {
    let lab = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let prefixes = layout::lab_prefixes(lab);
    let plans = [&v["plan"], &v["applying"]];
    for plan in plans.into_iter().filter(|p| !p.is_null()) {
        if plan["lab"].as_str() != Some(lab) {
            return Err(format!("its plan is lab {}'s, not `{lab}`'s", plan["lab"]));
        }
        let mut names = std::collections::BTreeSet::new();
        names_under(plan, &["ns"], &mut names);
        if let Some(all) = plan["namespaces"].as_array() {
            names.extend(
                all.iter()
                    .filter_map(|n| n["name"].as_str())
                    .map(String::from),
            );
        }
        if let Some(n) = names
            .iter()
            .find(|n| !prefixes.iter().any(|p| n.starts_with(p.as_str())) || n.contains('/'))
        {
            return Err(format!(
                "namespace `{n}` is not the lab's (its names begin with `{}` or `{}`)",
                prefixes[0], prefixes[1]
            ));
        }
        let mut paths = std::collections::BTreeSet::new();
        names_under(plan, &PLAN_PATH_KEYS, &mut paths);
        if let Some(p) = paths.iter().find(|p| {
            let p = Path::new(p);
            !p.starts_with(dir) || p.components().any(|c| c == std::path::Component::ParentDir)
        }) {
            return Err(format!(
                "file {p} is outside the lab's directory {}",
                dir.display()
            ));
        }
    }
    Ok(())
}

/// Adds to `out` every string under one of `keys` anywhere in `v`.
pub(super) fn names_under(
    v: &serde_json::Value,
    keys: &[&str],
    out: &mut std::collections::BTreeSet<String>,
) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                match x {
                    serde_json::Value::String(s) if keys.contains(&k.as_str()) => {
                        out.insert(s.clone());
                    }
                    _ => names_under(x, keys, out),
                }
            }
        }
        serde_json::Value::Array(items) => {
            for x in items {
                names_under(x, keys, out);
            }
        }
        _ => {}
    }
}

/// Writes a lab's state back (after `sim link`).
pub fn save_state(lab: &str, state: &LabState) -> io::Result<()> {
    write_state(&checked_state_dir(lab)?, state)
}

pub(super) fn write_state(dir: &Path, state: &LabState) -> io::Result<()> {
    let tmp = dir.join(format!("{STATE_FILE}.tmp"));
    let body = serde_json::to_vec_pretty(state).map_err(io::Error::other)?;
    write_new(&tmp, &body, 0o644)?;
    fs::rename(tmp, dir.join(STATE_FILE))
}

/// Writes `bytes` to the lab's file `path` as a new file of mode `mode`,
/// and returns it open: what was there is removed first (a file, or a
/// symbolic link put in its place) and the file is created with
/// `O_EXCL`, so nothing is ever written through a link to a file
/// elsewhere (FRR's run directories are the `frr` user's: a link there
/// must not have root write, chmod or chown `/etc/...`).
pub(crate) fn write_new(path: &Path, bytes: &[u8], mode: u32) -> io::Result<fs::File> {
    use std::io::Write as _;
    let with_path = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", path.display()));
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(with_path(e)),
        _ => {}
    }
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(with_path)?;
    f.write_all(bytes).map_err(with_path)?;
    Ok(f)
}

/// Reads the lab's file `path`, refusing a symbolic link (`O_NOFOLLOW`).
pub(crate) fn read_no_follow(path: &Path) -> io::Result<String> {
    use std::io::Read as _;
    let mut text = String::new();
    fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?
        .read_to_string(&mut text)?;
    Ok(text)
}

/// Labs with a state directory, sorted.
pub fn labs() -> Vec<String> {
    let mut out: Vec<String> = fs::read_dir(layout::state_root())
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| layout::valid_lab_name(n))
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example's plan for lab `yh`, as its state file holds it.
    fn recorded() -> (PathBuf, serde_json::Value) {
        let p = plan::plan(&crate::example(), "yh", &[22]).expect("plan");
        let v = serde_json::json!({ "plan": p, "applying": p });
        (layout::state_dir("yh"), v)
    }

    #[test]
    fn a_state_file_as_written_is_within_its_lab() {
        let (dir, v) = recorded();
        assert_eq!(within_the_lab(&dir, &v), Ok(()));
        // every file of the plan is under a key that is checked
        let mut strings = std::collections::BTreeSet::new();
        collect_strings(&v["plan"], &mut strings);
        let root = dir.to_string_lossy();
        let under_dir: std::collections::BTreeSet<String> = strings
            .into_iter()
            .filter(|s| s.starts_with(&*root))
            .collect();
        let mut checked = std::collections::BTreeSet::new();
        names_under(&v["plan"], &PLAN_PATH_KEYS, &mut checked);
        let unchecked: Vec<_> = under_dir.difference(&checked).collect();
        assert!(
            unchecked.is_empty(),
            "files of the plan not checked: {unchecked:?}"
        );
    }

    fn collect_strings(v: &serde_json::Value, out: &mut std::collections::BTreeSet<String>) {
        match v {
            serde_json::Value::String(s) => {
                out.insert(s.clone());
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| collect_strings(x, out)),
            serde_json::Value::Object(m) => m.values().for_each(|x| collect_strings(x, out)),
            _ => {}
        }
    }

    #[test]
    fn a_state_file_naming_another_labs_namespace_or_a_file_elsewhere_is_refused() {
        let (dir, v) = recorded();
        let refused = |edit: &dyn Fn(&mut serde_json::Value), what: &str| {
            let mut t = v.clone();
            edit(&mut t);
            let e = within_the_lab(&dir, &t).expect_err(what);
            assert!(e.contains(what), "{e}");
        };
        refused(
            &|t| t["plan"]["namespaces"][0]["name"] = "other.bastion".into(),
            "namespace `other.bastion` is not the lab's",
        );
        refused(
            &|t| t["applying"]["firewalls"][0]["ns"] = "yh2.web-a1".into(),
            "namespace `yh2.web-a1` is not the lab's",
        );
        refused(
            &|t| t["plan"]["links"][0]["a"]["ns"] = "yh./../x".into(),
            "namespace `yh./../x` is not the lab's",
        );
        refused(&|t| t["plan"]["lab"] = "other".into(), "lab \"other\"'s");
        refused(
            &|t| t["plan"]["bird"]["md5"][0]["key_file"] = "/etc/shadow".into(),
            "file /etc/shadow is outside",
        );
        let up = format!("{}/../../etc/passwd", dir.display());
        refused(
            &|t| t["plan"]["bird"]["daemons"][0]["log"] = up.clone().into(),
            "/../../etc/passwd is outside",
        );
    }
}
