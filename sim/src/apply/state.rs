//! A lab's state directory and its state file: what `up` made (the plan,
//! the processes it started) and how far it got, read back by `down`,
//! `status` and every operation on a running lab.

use super::*;

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
    serde_json::from_str(&text).map(Some).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: {e}", path.display()),
        )
    })
}

/// Writes a lab's state back (after `sim link`).
pub fn save_state(lab: &str, state: &LabState) -> io::Result<()> {
    write_state(&checked_state_dir(lab)?, state)
}

pub(super) fn write_state(dir: &Path, state: &LabState) -> io::Result<()> {
    let tmp = dir.join(format!("{STATE_FILE}.tmp"));
    let body = serde_json::to_vec_pretty(state).map_err(io::Error::other)?;
    fs::write(&tmp, body)?;
    fs::rename(tmp, dir.join(STATE_FILE))
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
