//! vifgate's simulator: a topology materialised as Linux network
//! namespaces, veth links, bridges, kernel firewalls and vifgate gateways;
//! probed with real packets and compared with the static analysis.
//!
//! # Map
//!
//! Plan, then apply, as containerlab does. Pure layers (no system call,
//! tested without root) feed an I/O layer:
//!
//! - **The plan (pure).** [`plan`] turns a [`topology::Topology`] into
//!   namespaces, links, addresses, routes, rules, sysctls, rulesets and
//!   processes; [`plan_view`] prints it (`vifgate sim plan`). Its values
//!   come from small pure modules: [`routing`] (routes, policy rules),
//!   [`shaping`] (delay, jitter, loss, rate and the kernel features they
//!   need), [`firewall`] (nftables rulesets for security groups, network
//!   ACLs and NAT), [`agent_spec`] (what the listeners serve); the gateways'
//!   configurations are [`gateway::config`] values; [`bird`] writes the
//!   BIRD configurations (AWS's side, the VPC router's propagation, the
//!   office side), [`frr_config`] an office node's FRR configuration
//!   ([`frr_plan`]: the nodes the file gives to FRR), with
//!   the session names of [`bgp_names`]. [`script`] writes a
//!   plan as the equivalent `ip`/`nft` shell script, for benchmarks.
//! - **The kernel (I/O).** [`netns`] (named namespaces, in-process),
//!   [`netlink`] (rtnetlink requests, tc qdisc encodings, feature
//!   detection), [`apply`] (a plan carried out, recorded in a state
//!   directory so that `down` can undo it after any crash), [`lab_lock`]
//!   (the state directory as the lab name's lock), [`process`] (the lab's
//!   processes by pid and start time, signalled through pidfds), [`services`]
//!   (`[[sim.start]]` commands, HAProxy as the load balancer), [`agent`] (the
//!   listener process), [`link`] (`sim link`; a VIF or VPN cut silently
//!   with [`link_cut`]), [`status`] and [`inspect`] (a running lab read
//!   back), [`bgp_wait`] (the BGP daemons' sessions awaited Established),
//!   [`bgp_live`] (the lab's BGP daemons read back: `vifgate sim bgp`).
//! - **Traffic.** [`probe`] (real ICMP, TCP and UDP from inside a
//!   namespace) and [`compare`] (live results against the static matrix and
//!   the `[[expect]]` entries; the lab's BGP against the prediction with
//!   [`bgp_check`]); [`failover`] (a link cut and restored
//!   under a probe loop, timed); VPC flow logs of the lab's ENIs
//!   ([`flowlog_capture`], `vifgate sim flowlogs`) counted by
//!   [`flowlog`]'s nftables table, attributed by [`flowlog_enis`] and
//!   written as [`flow_record`]s (the gateway's records and formats,
//!   `gateway::flow_log`, with the ENI).
//! - **Tests.** [`lab::Lab`] brings a whole topology up for an integration
//!   test; [`lab::TestNet`] is the small helper for hand-made namespaces,
//!   veth pairs and processes (per-run names, cleanup on drop, skip or fail
//!   without root).

pub mod agent;
pub mod agent_spec;
pub mod apply;
pub mod bgp_check;
pub mod bgp_live;
pub mod bgp_names;
pub mod bgp_sessions;
pub mod bgp_wait;
pub mod bird;
pub mod compare;
pub mod failover;
pub mod firewall;
pub mod flow_record;
pub mod flowlog;
pub mod flowlog_capture;
pub mod flowlog_enis;
pub mod frr_config;
pub mod frr_plan;
pub mod inspect;
pub mod lab;
pub mod lab_fingerprint;
pub mod lab_lock;
pub mod link;
pub mod link_cut;
pub mod netlink;
pub mod netns;
pub mod plan;
#[cfg(test)]
mod plan_tests;
pub mod plan_view;
pub mod probe;
pub mod process;
pub mod render;
pub mod report_html;
pub mod routing;
pub mod script;
pub mod services;
pub mod shaping;
pub mod startup;
pub mod status;

/// The bundled example, for unit tests.
#[cfg(test)]
pub(crate) fn example() -> topology::Topology {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/yeohaengjigi.toml");
    topology::load(path).expect("example loads").topology
}

/// The bundled example with a static VPN and no BFD (its VIF's session
/// alone), for unit tests written for that design.
#[cfg(test)]
pub(crate) fn example_static_vpn() -> topology::Topology {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/yeohaengjigi.toml");
    let text = std::fs::read_to_string(path).expect("the example");
    let variant = failover::Variant {
        bfd: false,
        hold_time: None,
        bgp_vpn: false,
    };
    let text = variant.toml(&text).expect("the example is TOML");
    topology::parse("static-vpn.toml", text)
        .expect("the variant loads")
        .topology
}
