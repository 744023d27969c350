//! FRR (8.4, Debian `frr`) as an office node's BGP daemon: its
//! configuration from the topology, and how to start its daemons so that
//! several run on one machine, each in its own namespace and run
//! directory.
//!
//! What the configuration says, per session the node ends (see
//! [`crate::bgp::sessions`]):
//!
//! - `router bgp` with the office's ASN and `bgp router-id`
//!   [`office_router_id`]; `bgp bestpath compare-routerid` so that FRR
//!   breaks the last ties as BIRD (and the analysis) do; `no bgp network
//!   import-check`, so the advertised prefixes need no route of their own.
//! - One neighbour per session, described by its session name (the VIF's
//!   or VPN's, [`crate::bgp::names::protocol_name`]: how `vifgate sim bgp`
//!   finds it), with the
//!   office's timers and BFD (a `bfdd` profile with the file's interval and
//!   multiplier, attached once the session is up: below). A directly connected eBGP neighbour: FRR sends with TTL
//!   1, as BIRD's `direct` and AWS do (no `ttl-security`: BIRD's side does
//!   not run GTSM, and its TTL-1 packets would be refused).
//! - `bgp route-map delay-timer 0`: the route-maps apply at once (FRR
//!   waits 5 s by default, and nothing passes them meanwhile: in the lab
//!   the office's prefixes reached the VGW 4 s after the sessions came up);
//!   `coalesce-time 100`: a session's first updates leave after 100 ms, not
//!   a second or more (after `clear bgp *` in the lab: 2.4 s, 0.3 s with
//!   it).
//! - `maximum-paths 1`: one best path, as BIRD keeps (FRR would otherwise
//!   install equal eBGP paths, a VIF and the VPN, side by side).
//! - `network` for each prefix; per neighbour an outbound route-map that
//!   lets out only that session's prefixes, each with its communities and
//!   `prepend` extra copies of the ASN; an inbound route-map that sets the
//!   session's local preference and `set table N`.
//!
//! FRR 8.4 has no `table` command for zebra any more (`% Unknown command:
//! table 100`) and this kernel has no VRF devices; the inbound route-map's
//! `set table N` is what puts BGP's routes into kernel table N (zebra then
//! installs them there, not in main): the table the office gateway follows
//! (`[bgp] kernel_table`).
//!
//! BFD is not in `bgpd.conf`: FRR 8.4's bgpd registers a single-hop BFD
//! session before it is connected without a source address or interface,
//! and replaces it with one that has them as the session comes up; the
//! peer sees BFD go up and then down at once, and BIRD (AWS's side) closes
//! the new session with "BFD session down" and waits its error delay (60
//! s) before trying again. Attached once the session is Established
//! ([`crate::apply::daemons::arm_bfd`] with [`FrrConfig::bfd_arming`]), bgpd registers it whole,
//! once, and keeps it over later reconnections (checked by hand: a `birdc
//! restart` of the session comes back Established without a BFD flap).

pub mod conf;

use std::path::{Path, PathBuf};

use topology::bgp::office_router_id;
use topology::model::{NodeId, Topology};

use crate::bgp::sessions::SessionSpec;
use conf::{
    BfdArming, BfdProfile, BfddConf, BgpdConf, Neighbor, PasswordBlock, RouteMapEntry, RouteMapSet,
    RouterBgp, SessionName, SessionPolicy, ZebraConf,
};

/// Where Debian installs FRR's daemons.
pub const FRR_DAEMONS: &str = "/usr/lib/frr";

/// What the configuration needs beyond the topology.
#[derive(Debug, Clone, Default)]
pub struct FrrOptions {
    /// The kernel table BGP's best routes go into (the gateway's `[bgp]
    /// kernel_table`; not 254, main).
    pub kernel_table: u32,
}

/// One office node's FRR configuration files, as text: what the plan
/// stores ([`FrrSections::text`] of [`sections`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FrrConfig {
    /// `zebra.conf`.
    pub zebra: String,
    /// `bgpd.conf`.
    pub bgpd: String,
    /// `bfdd.conf`, when a session runs BFD (`bfdd` must then run).
    pub bfdd: Option<String>,
    /// The `vtysh -c` commands that turn BFD on for the sessions that run
    /// it, to give bgpd once those sessions are Established ([`crate::apply::daemons::arm_bfd`];
    /// see the module doc for why not in `bgpd.conf`). Empty without BFD.
    pub bfd_arming: Vec<String>,
}

/// One office node's FRR configuration, as values (see [`conf`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrrSections {
    /// `zebra.conf`.
    pub zebra: ZebraConf,
    /// `bgpd.conf`.
    pub bgpd: BgpdConf,
    /// `bfdd.conf`, when a session runs BFD.
    pub bfdd: Option<BfddConf>,
    /// The commands that arm BFD once the sessions are up.
    pub bfd_arming: BfdArming,
}

impl FrrSections {
    /// The files' texts and the arming commands.
    pub fn text(&self) -> FrrConfig {
        FrrConfig {
            zebra: self.zebra.to_string(),
            bgpd: self.bgpd.to_string(),
            bfdd: self.bfdd.as_ref().map(|b| b.to_string()),
            bfd_arming: self.bfd_arming.commands(),
        }
    }
}

/// A session's name, as FRR's words take it.
fn session_name(s: &SessionSpec) -> SessionName {
    SessionName {
        kind: s.kind(),
        name: s.name.clone(),
    }
}

/// The configuration of office node `node` (see [`sections`]), as text.
pub fn config(
    t: &Topology,
    node: NodeId,
    sessions: &[SessionSpec],
    opts: &FrrOptions,
) -> FrrConfig {
    sections(t, node, sessions, opts).text()
}

/// The configuration of office node `node`: its sessions' neighbours,
/// policies and BFD profiles (see the module doc), of the topology's
/// sessions `sessions` ([`crate::bgp::sessions::sessions`]).
pub fn sections(
    t: &Topology,
    node: NodeId,
    sessions: &[SessionSpec],
    opts: &FrrOptions,
) -> FrrSections {
    let mine: Vec<&SessionSpec> = sessions
        .iter()
        .filter(|s| s.is_bgp() && s.office == node)
        .collect();
    let node_name = t.nodes[node].name.clone();
    let asn = mine.first().map(|s| s.office_asn).unwrap_or_default();
    let mut networks: Vec<_> = mine
        .iter()
        .flat_map(|s| s.advertised.iter().map(|a| a.prefix))
        .collect();
    networks.sort();
    networks.dedup();
    let router = RouterBgp {
        asn,
        router_id: office_router_id(t, node),
        // a new session's first updates after 100 ms, not FRR's 1 s and
        // more (its subgroup coalescing): routes flow about as soon as
        // with BIRD
        coalesce_ms: 100,
        neighbors: mine.iter().map(|s| neighbor(s, asn)).collect(),
        // one best path, as BIRD: FRR would otherwise spread over equal
        // eBGP paths (a VIF and the VPN with the same local preference)
        maximum_paths: 1,
        networks,
    };
    let bfd: Vec<&SessionSpec> = mine
        .iter()
        .copied()
        .filter(|s| s.settings.bfd.is_some())
        .collect();
    FrrSections {
        zebra: ZebraConf {
            node: node_name.clone(),
        },
        bgpd: BgpdConf {
            node: node_name.clone(),
            // route-maps in force at once, not after FRR's 5 s delay
            // timer (until then nothing learned or advertised passes them)
            route_map_delay: 0,
            router,
            policies: mine
                .iter()
                .map(|s| policies(s, opts.kernel_table))
                .collect(),
        },
        bfdd: (!bfd.is_empty()).then(|| BfddConf {
            node: node_name,
            profiles: bfd
                .iter()
                .filter_map(|s| {
                    let b = s.settings.bfd?;
                    Some(BfdProfile {
                        session: session_name(s),
                        multiplier: b.multiplier,
                        interval_ms: b.interval.as_millis(),
                    })
                })
                .collect(),
        }),
        bfd_arming: BfdArming {
            asn,
            neighbors: bfd
                .iter()
                .map(|s| (s.amazon_address, session_name(s)))
                .collect(),
        },
    }
}

/// The MD5 passwords of the neighbours, as a block `sim up` appends to
/// `bgpd.conf` (mode 600) once it has the keys: the only way a key reaches
/// FRR, never in the plan, the state file or a command line: `router bgp ASN` again, one `neighbor
/// A password KEY` per `(A, KEY)`. Empty without passwords.
pub fn password_block(asn: u32, passwords: &[(std::net::Ipv4Addr, String)]) -> String {
    PasswordBlock {
        asn,
        passwords: passwords.to_vec(),
    }
    .to_string()
}

/// A session's neighbour.
fn neighbor(s: &SessionSpec, asn: u32) -> Neighbor {
    let name = session_name(s);
    Neighbor {
        addr: s.amazon_address,
        remote_as: s.amazon_asn,
        shutdown: s.configured_down,
        local_as: (s.office_asn != asn).then_some(s.office_asn),
        timers: (s.keepalive(), s.hold_time()),
        route_maps: (name.word("_in"), name.word("_out")),
        session: name,
    }
}

/// A session's route-maps: out, its prefixes with their attributes;
/// in, local preference and kernel table.
fn policies(s: &SessionSpec, table: u32) -> SessionPolicy {
    let name = session_name(s);
    let mut route_maps: Vec<RouteMapEntry> = s
        .advertised
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let mut sets = Vec::new();
            if !a.communities.is_empty() {
                sets.push(RouteMapSet::Community(a.communities.clone()));
            }
            if a.prepend > 0 {
                sets.push(RouteMapSet::Prepend(vec![
                    s.office_asn;
                    usize::from(a.prepend)
                ]));
            }
            RouteMapEntry {
                name: name.word("_out"),
                permit: true,
                seq: 10 * (i as u32 + 1),
                match_prefix_list: Some(name.word(format!("_{i}"))),
                sets,
            }
        })
        .collect();
    // the rest (what was learned from AWS) is not sent back
    route_maps.push(RouteMapEntry {
        name: name.word("_out"),
        permit: false,
        seq: 65535,
        match_prefix_list: None,
        sets: Vec::new(),
    });
    route_maps.push(RouteMapEntry {
        name: name.word("_in"),
        permit: true,
        seq: 10,
        match_prefix_list: None,
        sets: vec![
            RouteMapSet::LocalPreference(
                s.settings
                    .local_preference
                    .unwrap_or(topology::bgp::config::DEFAULT_LOCAL_PREF),
            ),
            RouteMapSet::Table(table),
        ],
    });
    SessionPolicy {
        prefix_lists: s
            .advertised
            .iter()
            .enumerate()
            .map(|(i, a)| (name.word(format!("_{i}")), a.prefix))
            .collect(),
        route_maps,
    }
}

/// One FRR daemon to start: its program and arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonCommand {
    /// `zebra`, `bfdd` or `bgpd`.
    pub name: &'static str,
    /// The program and its arguments.
    pub argv: Vec<String>,
}

/// The daemons of a node whose files are in `run_dir`, in start order:
/// zebra (start the others once [`zserv_socket`] exists), bfdd when the
/// configuration has BFD, bgpd. Each has its own config, pid file and
/// vty socket in `run_dir` (and bfdd its control socket), shares zebra's
/// socket there, and has no TCP vty (`-P 0`), so that several nodes run
/// on one machine; they log to
/// `run_dir/NAME.log`. They drop root for the `frr` user: see
/// [`crate::apply::daemons::write_run_dir`].
pub fn daemon_commands(run_dir: &Path, cfg: &FrrConfig) -> Vec<DaemonCommand> {
    let mut names = vec!["zebra"];
    if cfg.bfdd.is_some() {
        names.push("bfdd");
    }
    names.push("bgpd");
    let d = |f: &str| run_dir.join(f).display().to_string();
    names
        .into_iter()
        .map(|name| {
            let mut argv = vec![
                format!("{FRR_DAEMONS}/{name}"),
                "-f".into(),
                d(&format!("{name}.conf")),
                "-i".into(),
                d(&format!("{name}.pid")),
                "-z".into(),
                zserv_socket(run_dir).display().to_string(),
                "--vty_socket".into(),
                run_dir.display().to_string(),
                "-P".into(),
                "0".into(),
                "--log".into(),
                format!("file:{}", d(&format!("{name}.log"))),
            ];
            if name == "bfdd" {
                // its control socket defaults to /var/run/frr/bfdd.sock,
                // shared by every bfdd of the machine
                argv.extend(["--bfdctl".into(), d("bfdd.sock")]);
            }
            DaemonCommand { name, argv }
        })
        .collect()
}

/// Zebra's socket in a run directory.
pub fn zserv_socket(run_dir: &Path) -> PathBuf {
    run_dir.join("zserv.api")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use topology::bgp::{AdvertisedPrefix, Bfd, Community};

    fn example_with_bgp() -> (Topology, NodeId) {
        let mut t = crate::example();
        let v = &mut t.vifs[0];
        v.advertised = vec![
            AdvertisedPrefix::plain("192.168.10.0/24".parse().expect("net")),
            AdvertisedPrefix {
                prefix: "192.168.20.0/24".parse().expect("net"),
                communities: vec![Community::AWS_HIGH, Community(65010, 7)],
                prepend: 2,
            },
        ];
        v.bgp.local_preference = Some(250);
        v.bgp.hold_time = Some(9);
        v.bgp.bfd = Some(Bfd {
            interval: Duration::from_millis(300),
            multiplier: 3,
        });
        let node = v.customer_router;
        (t, node)
    }

    #[test]
    fn a_vif_session_with_attributes_bfd_and_the_kernel_table() {
        let (t, node) = example_with_bgp();
        let opts = FrrOptions { kernel_table: 100 };
        let mut c = config(&t, node, &crate::bgp::sessions::sessions(&t), &opts);
        // the key comes after the plan, as `sim up` appends it
        let amazon = t.vifs[0].amazon_address.addr();
        c.bgpd
            .push_str(&password_block(65010, &[(amazon, "s3cret".into())]));
        let b = &c.bgpd;
        for line in [
            "router bgp 65010",
            " bgp router-id 192.168.0.2",
            " bgp bestpath compare-routerid",
            " no bgp network import-check",
            " neighbor 169.254.100.2 remote-as 64512",
            " neighbor 169.254.100.2 description dx.dx-vif",
            " neighbor 169.254.100.2 password s3cret",
            " neighbor 169.254.100.2 timers 3 9",
            "  maximum-paths 1",
            "  network 192.168.10.0/24",
            "  network 192.168.20.0/24",
            "  neighbor 169.254.100.2 route-map dx.dx-vif_out out",
            "ip prefix-list dx.dx-vif_1 seq 5 permit 192.168.20.0/24",
            " set community 7224:7300 65010:7",
            " set as-path prepend 65010 65010",
            "route-map dx.dx-vif_out deny 65535",
            " set local-preference 250",
            " set table 100",
        ] {
            assert!(b.lines().any(|l| l == line), "missing `{line}` in\n{b}");
        }
        assert!(!b.contains("ttl-security") && !b.contains("multihop"));
        let cmds = daemon_commands(Path::new("/run/x/frr-o"), &c);
        let bfdd_cmd = cmds.iter().find(|d| d.name == "bfdd").expect("bfdd runs");
        assert!(
            bfdd_cmd
                .argv
                .ends_with(&["--bfdctl".into(), "/run/x/frr-o/bfdd.sock".into()]),
            "{bfdd_cmd:?}"
        );
        assert!(!b.contains(" bfd"), "BFD armed later, not in bgpd.conf");
        assert_eq!(
            c.bfd_arming,
            [
                "configure terminal",
                "router bgp 65010",
                "neighbor 169.254.100.2 bfd",
                "neighbor 169.254.100.2 bfd profile dx.dx-vif",
                "end"
            ]
        );
        let bfdd = c.bfdd.expect("bfdd");
        assert!(
            bfdd.contains(" profile dx.dx-vif\n  detect-multiplier 3\n  receive-interval 300\n")
        );
    }

    #[test]
    fn the_plain_prefix_gets_no_attributes() {
        let (t, node) = example_with_bgp();
        let c = config(
            &t,
            node,
            &crate::bgp::sessions::sessions(&t),
            &FrrOptions::default(),
        );
        let plain = c
            .bgpd
            .split("route-map dx.dx-vif_out permit 10\n")
            .nth(1)
            .and_then(|r| r.split("exit\n").next())
            .expect("first out entry");
        assert_eq!(plain, " match ip address prefix-list dx.dx-vif_0\n");
        assert!(!c.bgpd.contains("password"), "no key, no MD5");
    }

    #[test]
    fn a_vif_configured_down_is_kept_shut() {
        let mut t = crate::example();
        // as the resolver and the analysis record `state = "down"`
        t.vifs[0].configured_down = true;
        t.vifs[0].bgp_up = false;
        t.vifs[0].down_reason = Some(topology::bgp::sessions::CONFIGURED_DOWN.into());
        let node = t.vifs[0].customer_router;
        let c = config(
            &t,
            node,
            &crate::bgp::sessions::sessions(&t),
            &FrrOptions::default(),
        );
        assert!(
            c.bgpd.contains(" neighbor 169.254.100.2 shutdown\n"),
            "{}",
            c.bgpd
        );
        assert!(
            !c.bgpd.contains(" neighbor 169.254.10.1 shutdown"),
            "the VPN's is up"
        );
    }

    #[test]
    fn without_bfd_no_bfdd_and_defaults_apply() {
        let t = crate::example_static_vpn();
        let node = t.vifs[0].customer_router;
        let c = config(
            &t,
            node,
            &crate::bgp::sessions::sessions(&t),
            &FrrOptions::default(),
        );
        assert!(c.bfdd.is_none() && c.bfd_arming.is_empty() && !c.bgpd.contains(" bfd"));
        assert!(c.bgpd.contains(" neighbor 169.254.100.2 timers 30 90\n"));
        // the example's local_preference = 200 on its VIF
        assert!(c.bgpd.contains(" set local-preference 200\n"));
        let cmds = daemon_commands(Path::new("/run/x/frr-o"), &c);
        let names: Vec<&str> = cmds.iter().map(|c| c.name).collect();
        assert_eq!(names, ["zebra", "bgpd"]);
        assert_eq!(cmds[1].argv[0], "/usr/lib/frr/bgpd");
        assert!(cmds[1]
            .argv
            .windows(2)
            .any(|w| w[0] == "-z" && w[1] == "/run/x/frr-o/zserv.api"));
    }
}
