//! The configurations of a lab's daemons, built from the topology as
//! typed values and written to text in one place per language: BIRD's
//! ([`bird`], its language in [`bird::conf`]), FRR's ([`frr`], in
//! [`frr::conf`]), the nftables rulesets ([`firewall`] builds [`nft`]
//! tables) and HAProxy's ([`haproxy`]). Each language's `Display` writes
//! every topology name through [`names`]. Pure: no system call; the plan
//! stores the rendered texts.

pub mod bird;
pub mod firewall;
pub mod frr;
pub mod haproxy;
pub mod names;
pub mod nft;

#[cfg(test)]
mod tests;
