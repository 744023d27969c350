//! The configuration texts of a lab's daemons, rendered from the topology:
//! BIRD's ([`bird`]), FRR's ([`frr`]), the nftables rulesets ([`firewall`])
//! and HAProxy's ([`haproxy`]), with topology names written into each
//! configuration language by [`names`]. Pure: no system call; the plan
//! stores what they return.

pub mod bird;
pub mod firewall;
pub mod frr;
pub mod haproxy;
pub mod names;
pub mod nft;

#[cfg(test)]
mod tests;
