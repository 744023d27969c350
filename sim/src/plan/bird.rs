//! The lab's BIRD processes: where each runs, its configuration (rendered
//! by [`crate::render::bird`]), its files and what `sim up` waits for.

use std::path::{Path, PathBuf};

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};
use topology::bgp::BgpDaemon;
use topology::model::{NodeId, Topology};

use crate::bgp::sessions::SessionSpec;
use crate::render::bird::{
    learned_prefixes, office, sessions, vgw, vpc, Md5Spec, Session, Tunnels,
};

/// One BIRD process of the lab.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BirdSpec {
    /// Namespace it runs in.
    pub ns: String,
    /// Short name, for files (`vgw`, `vpc`, an office node's).
    pub name: String,
    /// What it plays.
    pub what: String,
    /// The configuration.
    pub config: String,
    /// Where `sim up` writes the configuration.
    pub config_path: PathBuf,
    /// Its control socket (`birdc -s`).
    pub socket: PathBuf,
    /// Its log (stdout and stderr).
    pub log: PathBuf,
    /// The BGP protocols the analysis expects Established: `sim up` waits
    /// for them.
    pub established: Vec<String>,
    /// Prefixes the analysis expects in its table once they are: `sim up`
    /// waits for them too (the VGW's and the VPC router's: what the VGW
    /// learns; an office's: the VPC's CIDR).
    #[serde(default)]
    pub routes: Vec<Ipv4Net>,
    /// The office-to-AWS sessions it runs, by name: it reads their MD5
    /// key files when it starts or is reconfigured.
    #[serde(default)]
    pub sessions: Vec<String>,
}

impl BirdSpec {
    /// The command line `sim up` starts it with (in the foreground).
    pub fn command(&self) -> Vec<String> {
        vec![
            "bird".into(),
            "-f".into(),
            "-c".into(),
            self.config_path.display().to_string(),
            "-s".into(),
            self.socket.display().to_string(),
            "-P".into(),
            self.socket.with_extension("pid").display().to_string(),
        ]
    }
}

/// What a lab's BIRDs are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BirdPlan {
    /// The processes.
    pub daemons: Vec<BirdSpec>,
    /// The sessions' MD5 keys.
    pub md5: Vec<Md5Spec>,
}

/// The BIRDs of a lab `lab` whose state directory is `dir`, for the
/// topology's sessions `specs` ([`crate::bgp::sessions::sessions`]): none
/// without a VGW (no VIF, no VPN); otherwise the VGW's, the VPC's when a
/// route table propagates, and one per office node ending a session
/// (unless the file plays it with another daemon).
pub fn plan(
    t: &Topology,
    lab: &str,
    dir: &Path,
    node_ns: &[String],
    tunnels: &Tunnels,
    specs: &[SessionSpec],
) -> BirdPlan {
    let mut out = BirdPlan::default();
    let has_vgw = t.vpc.as_ref().is_some_and(|v| v.vgw.is_some())
        && (!tunnels.vif_tun.is_empty() || tunnels.vpn_tun.is_some());
    if !has_vgw {
        return out;
    }
    let sessions = sessions(specs, tunnels, dir);
    let file = |name: &str, ext: &str| dir.join(format!("bird-{name}.{ext}"));
    let spec = |ns: String,
                name: String,
                what: String,
                config: String,
                established,
                routes,
                runs: &[&Session]| BirdSpec {
        ns,
        routes,
        config_path: file(&name, "conf"),
        socket: crate::bgp::names::bird_socket(dir, &name),
        log: file(&name, "log"),
        name,
        what,
        config,
        established,
        sessions: runs.iter().map(|s| s.spec.name.clone()).collect(),
    };
    let all: Vec<&Session> = sessions.iter().collect();
    // the office nodes the lab plays with BIRD
    let mut office_nodes: Vec<NodeId> = sessions.iter().map(|s| s.spec.office).collect();
    office_nodes.sort_unstable();
    office_nodes.dedup();
    office_nodes.retain(|&n| t.sim.bgp_daemon_of(n) == BgpDaemon::Bird);
    let propagate = vpc::propagating_tables(t);
    let vgw_cfg = vgw::config(t, &sessions, tunnels, !propagate.is_empty());
    // every office node runs BIRD or FRR: the VGW waits for all its sessions
    let mut vgw_up: Vec<String> = sessions
        .iter()
        .filter(|s| s.spec.expected_up)
        .map(|s| s.spec.protocol())
        .collect();
    if !propagate.is_empty() {
        vgw_up.push(vgw::VPC_PROTOCOL.into());
    }
    let learned = learned_prefixes(t);
    out.daemons.push(spec(
        crate::layout::vgw_ns(lab),
        "vgw".into(),
        "AWS's side: the VGW's sessions with the office".into(),
        vgw_cfg,
        vgw_up,
        learned.clone(),
        &all,
    ));
    if !propagate.is_empty() {
        out.daemons.push(spec(
            crate::layout::vpc_ns(lab),
            "vpc".into(),
            "the VPC router: the VGW's routes into the propagating route tables".into(),
            vpc::config(t, &propagate),
            vec![vpc::VGW_PROTOCOL.into()],
            learned,
            &[],
        ));
    }
    for &node in &office_nodes {
        let mine: Vec<&Session> = sessions.iter().filter(|s| s.spec.office == node).collect();
        let name = crate::layout::ns_token(&t.nodes[node].name);
        let vpc_cidr: Vec<Ipv4Net> = t
            .vpc
            .as_ref()
            .filter(|_| mine.iter().any(|s| s.spec.expected_up))
            .map(|v| v.cidr)
            .into_iter()
            .collect();
        out.daemons.push(spec(
            node_ns[node].clone(),
            name,
            format!("office node {}", t.nodes[node].name),
            office::config(t, node, &mine),
            mine.iter()
                .filter(|s| s.spec.expected_up)
                .map(|s| s.spec.protocol())
                .collect(),
            vpc_cidr,
            &mine,
        ));
    }
    for s in &sessions {
        out.md5.push(Md5Spec {
            session: s.spec.name.clone(),
            location: s.spec.md5_key.clone(),
            key_file: s.key_file.clone(),
        });
    }
    out
}
