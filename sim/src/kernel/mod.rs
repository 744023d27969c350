//! The kernel side of a lab: named network namespaces ([`netns`]),
//! nftables commands run in them ([`nft`]),
//! rtnetlink requests, tc qdiscs, sysctls and feature detection
//! ([`netlink`]), the wait for links to carry traffic ([`link_wait`]),
//! per-instance CPU accounting in cgroups ([`cgroup`]), an epoll whose
//! waits are exact to the nanosecond ([`epoll`]), when a socket's bytes
//! arrived ([`rx_timestamp`]), and the plain values they install: routes and policy rules ([`routing`]),
//! delay, loss and rate ([`shaping`]).

pub mod cgroup;
pub mod epoll;
pub mod link_wait;
pub mod netlink;
pub mod netns;
pub mod nft;
pub mod routing;
pub mod rx_timestamp;
pub mod shaping;
