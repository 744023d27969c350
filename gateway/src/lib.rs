//! vifgate's gateway: the user-space router that carries office traffic to
//! the VPC through a WireGuard tunnel standing in for the Direct Connect
//! private virtual interface.
//!
//! The packet path is sans-IO ([`router::Router`]): packets and the time go
//! in, what to send where comes out. The TUN device, the UDP socket and the
//! timers live in a thin tokio shell around it.

pub mod classifier;
pub mod config;
pub mod config_file;
pub mod conntrack;
pub mod impair;
pub mod keys;
pub mod packet;
pub mod router;
pub mod routing;
pub mod shell;
pub mod status;
pub mod token_bucket;
pub mod udp_gso;
