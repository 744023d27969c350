//! vifgate's simulator: a topology materialised as Linux network
//! namespaces, veth links, bridges, kernel firewalls and vifgate gateways;
//! probed with real packets and compared with the static analysis.
//!
//! # Map
//!
//! Plan, then apply, as containerlab does. One folder per layer; each
//! imports only the layers listed before it (the `layers` test checks it):
//!
//! - [`layout`]: where things are in a lab (lab and namespace names, the
//!   state directory, the fixed addresses of the lab's own links).
//!   [`kernel`]: named namespaces, rtnetlink, tc qdiscs, sysctls, feature
//!   detection, and the plain values they install (routes, shaping).
//!   [`render::names`] (pure): how a topology name is written in each
//!   configuration language, for the session names and the renderers.
//! - [`bgp::names`] and [`bgp::sessions`] (pure): the BGP sessions the lab's
//!   daemons run, a view over `topology::bgp`'s, and their names.
//! - [`render`] (pure): the configuration texts — BIRD (AWS's side, the VPC
//!   router, the office), FRR, the nftables rulesets, HAProxy.
//! - [`plan`] (pure, tested without root): a [`topology::Topology`] turned
//!   into namespaces, links, addresses, routes, rules, sysctls, rulesets and
//!   processes, one module per part of the lab (what the listener agent
//!   serves is [`agent::spec`], plain values); [`plan::view`] prints it
//!   (`vifgate sim plan`). The plan holds the rendered texts, so it calls
//!   [`render`]; the renderers never see the plan. [`plan::diff`] compares
//!   two plans as the ordered steps that take a lab from one to the other
//!   (`vifgate sim apply --dry-run`), and refuses the edits a running lab
//!   cannot take in place ([`plan::diff::rebuild`]).
//! - [`apply`]: a plan carried out and recorded in a state directory so
//!   that `down` can undo it after any crash (state, lock, processes,
//!   daemons, MD5 key files, gateway configurations, each configuration
//!   checked by its daemon first, a daemon that exits during start-up
//!   reported at once, the fingerprint `sim test --reuse` compares), using
//!   [`agent`] (the listener process) and [`probe`] (real ICMP, TCP and UDP
//!   from inside a namespace), which stand on [`kernel`] alone, and
//!   [`bgp::wait`].
//! - The operations on a running lab: [`ops`] (`sim link`, failover timing,
//!   status, inspect, the live results against the analysis and their HTML
//!   report, a plan as a shell script, [`ops::lab::Lab`] for integration
//!   tests, and the test that every daemon accepts every reserved word as a
//!   name), [`bgp::live`] and [`bgp::check`] (the lab's BGP read back and
//!   compared with the prediction), [`flowlogs`] (VPC flow logs of the
//!   lab's ENIs, attributed through the plan), [`load`] (`sim load`, an
//!   open-loop HTTP load generator aimed at a lab's load balancer).
//!
//! Dependency direction: layout, kernel, render::names → bgp names and
//! sessions → render → plan → apply → ops (`layers.rs` holds the table).

pub mod agent;
pub mod apply;
pub mod bgp;
pub mod flowlogs;
pub mod haproxy_stat;
pub mod kernel;
#[cfg(test)]
mod layers;
pub mod layout;
pub mod load;
pub mod ops;
pub mod plan;
pub mod probe;
pub mod render;
pub mod scaling;

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
    let variant = ops::failover::Variant {
        bfd: false,
        hold_time: None,
        bgp_vpn: false,
    };
    let text = variant.toml(&text).expect("the example is TOML");
    topology::parse("static-vpn.toml", text)
        .expect("the variant loads")
        .topology
}
