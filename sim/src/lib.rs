//! vifgate's simulator: a topology materialised as Linux network
//! namespaces, veth links, bridges, kernel firewalls and vifgate gateways;
//! probed with real packets and compared with the static analysis.
//!
//! Layers, each small: [`netns`] (create, enter, delete namespaces),
//! `netlink` (links, addresses, routes, rules through rtnetlink), `plan`
//! (a topology turned into a list of things to create; pure, tested without
//! root; [`plan_view`] prints it for `sim plan`), `apply` (the plan carried
//! out, recorded in a state file so that `down` can undo it after any
//! crash), `probe` (real traffic from inside a
//! namespace), [`inspect`] (a built lab read back, to compare two builds),
//! and [`Lab`] for integration tests.

pub mod agent;
pub mod agent_spec;
pub mod apply;
pub mod compare;
pub mod firewall;
pub mod inspect;
pub mod lab;
pub mod link;
pub mod netlink;
pub mod netns;
pub mod plan;
#[cfg(test)]
mod plan_tests;
pub mod plan_view;
pub mod probe;
pub mod routing;
pub mod script;
pub mod services;
pub mod shaping;
pub mod status;

/// The bundled example, for unit tests.
#[cfg(test)]
pub(crate) fn example() -> topology::Topology {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/yeohaengjigi.toml");
    topology::load(path).expect("example loads").topology
}
