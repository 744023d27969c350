//! The office nodes a lab plays with FRR (`[sim] bgp_daemon = { NODE =
//! "frr" }`) instead of BIRD: what `sim plan` shows and `sim up` starts
//! for each. The configuration is [`crate::render::frr`]'s, written into the
//! node's run directory in the lab's state directory
//! ([`crate::bgp::names::frr_run_dir`]); the MD5 keys are not in the plan
//! (`sim up` appends them, [`crate::render::frr::password_block`]).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};
use topology::bgp::BgpDaemon;
use topology::model::Topology;

use crate::bgp::names::{frr_run_dir, protocol_name};
use crate::bgp::sessions::{office_nodes, SessionSpec};
use crate::render;
use crate::render::frr::{DaemonCommand, FrrConfig, FrrOptions};

/// One office node's FRR.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrrSpec {
    /// The namespace it runs in.
    pub ns: String,
    /// The office node.
    pub node: String,
    /// Its run directory: configurations, vty sockets, pid files, logs.
    pub run_dir: PathBuf,
    /// The configuration, without the MD5 keys.
    pub config: FrrConfig,
    /// The node's ASN (of its `router bgp`).
    pub asn: u32,
    /// Per session (every BGP session of the node, each with an MD5 key):
    /// the session (VIF or VPN name, as in the plan's MD5 key files) and
    /// its neighbour's address.
    pub md5: Vec<(String, Ipv4Addr)>,
    /// The sessions (neighbour descriptions) the analysis expects
    /// Established: `sim up` waits for them.
    pub established: Vec<String>,
    /// Of those, the sessions that run BFD: `sim up` waits for BFD up on
    /// them, once it has armed it.
    #[serde(default)]
    pub bfd: Vec<String>,
    /// The prefixes the analysis expects learned (the VPC's CIDR).
    pub routes: Vec<Ipv4Net>,
}

impl FrrSpec {
    /// Its daemons, in start order (zebra, bfdd with BFD, bgpd).
    pub fn commands(&self) -> Vec<DaemonCommand> {
        render::frr::daemon_commands(&self.run_dir, &self.config)
    }

    /// The configuration with the sessions' MD5 keys (by session name)
    /// appended to `bgpd.conf`; a session without a key runs without MD5.
    pub fn with_keys(&self, keys: &BTreeMap<String, String>) -> FrrConfig {
        let passwords: Vec<(Ipv4Addr, String)> = self
            .md5
            .iter()
            .filter_map(|(s, a)| keys.get(s).map(|k| (*a, k.clone())))
            .collect();
        let mut c = self.config.clone();
        c.bgpd
            .push_str(&render::frr::password_block(self.asn, &passwords));
        c
    }
}

/// The FRRs of a lab whose state directory is `dir`, for the topology's
/// sessions `specs` ([`crate::bgp::sessions::sessions`]): one per office
/// node ending a BGP session that the file plays with FRR, its best routes
/// into `kernel_table` (the office gateway's).
pub fn plan(
    t: &Topology,
    dir: &Path,
    node_ns: &[String],
    kernel_table: u32,
    specs: &[SessionSpec],
) -> Vec<FrrSpec> {
    let opts = FrrOptions { kernel_table };
    office_nodes(specs)
        .into_iter()
        .filter(|&n| t.sim.bgp_daemon_of(n) == BgpDaemon::Frr)
        .filter_map(|n| {
            let mine: Vec<_> = specs
                .iter()
                .filter(|s| s.is_bgp() && s.office == n)
                .collect();
            let up: Vec<_> = mine.iter().filter(|s| s.expected_up).collect();
            Some(FrrSpec {
                ns: node_ns.get(n)?.clone(),
                node: t.nodes[n].name.clone(),
                run_dir: frr_run_dir(dir, &crate::layout::ns_token(&t.nodes[n].name)),
                config: render::frr::config(t, n, specs, &opts),
                asn: mine.first()?.office_asn,
                md5: mine
                    .iter()
                    .map(|s| (s.name.clone(), s.amazon_address))
                    .collect(),
                established: up.iter().map(|s| protocol_name(&s.name)).collect(),
                bfd: up
                    .iter()
                    .filter(|s| s.settings.bfd.is_some())
                    .map(|s| protocol_name(&s.name))
                    .collect(),
                routes: t
                    .vpc
                    .as_ref()
                    .filter(|_| !up.is_empty())
                    .map(|v| v.cidr)
                    .into_iter()
                    .collect(),
            })
        })
        .collect()
}

/// A topology file's `text` with `bgp_daemon = { NODE = "frr" }` added to
/// its `[sim]` table (or a `[sim]` table with it, should it have none):
/// the file's office node `node` played by FRR, for tests and benchmarks.
pub fn with_frr_office(text: &str, node: &str) -> String {
    let line = format!("bgp_daemon = {{ {node} = \"frr\" }}\n");
    let table = "\n[sim]\n";
    match text.find(table) {
        Some(at) => {
            let end = at + table.len();
            format!("{}{line}{}", &text[..end], &text[end..])
        }
        None => format!("{text}{table}{line}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_goes_into_the_sim_table_or_a_new_one() {
        assert_eq!(
            with_frr_office("a = 1\n\n[sim]\nx = 2\n", "o"),
            "a = 1\n\n[sim]\nbgp_daemon = { o = \"frr\" }\nx = 2\n"
        );
        assert_eq!(
            with_frr_office("a = 1\n", "o"),
            "a = 1\n\n[sim]\nbgp_daemon = { o = \"frr\" }\n"
        );
    }
}
