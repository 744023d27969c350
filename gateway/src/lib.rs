//! vifgate's gateway: the user-space router that carries office traffic to
//! the VPC through a WireGuard tunnel standing in for the Direct Connect
//! private virtual interface.
//!
//! # Map
//!
//! A sans-IO core in a thin I/O shell, as boringtun's `noise::Tunn` and
//! quinn-proto are built:
//!
//! - **The core (no socket, no thread, no clock).** [`router::Router`]
//!   takes a packet from the TUN device or a datagram from the network, and
//!   the time, and returns what to send where; `handle_timeout(now)` and
//!   `poll_timeout()` drive its timers. It is a pipeline over small parts:
//!   [`packet`] (IPv4/TCP/UDP/ICMP parsed once, with smoltcp's wire views;
//!   ICMP errors and MSS clamping built), [`routing`] (longest prefix,
//!   priorities, liveness and failover; the BGP routes come from
//!   [`kernel_routes`], the mirror of the kernel table that the box's BGP
//!   daemon writes), [`classifier`] (security groups and
//!   a network ACL compiled to flat tables, property-tested against
//!   `topology`'s reference evaluators), [`conntrack`] (what makes security
//!   groups stateful), [`token_bucket`] (the ICMP error rate limit) and
//!   [`fair_queue`] (fq_codel for the inner packets between the TUN device
//!   and encryption: flows apart, delays short) and
//!   boringtun's `Tunn` per peer for WireGuard, behind a gate that checks
//!   MAC1 (and, under load, MAC2 or answers with a cookie) before any
//!   Diffie-Hellman (`router/handshake_gate.rs`). [`flow_log`] sums each
//!   policy verdict into AWS VPC flow log records per aggregation interval
//!   (`router/flow_log.rs` reports them).
//! - **The values.** [`config`] reads the configuration file with
//!   `file:line:col` errors; [`config_file`] is the same file as a serde
//!   value, for programs that write or edit one (the simulator);
//!   [`status`] is the status document, one type from the router to the
//!   socket to `vifgate status`; [`metrics`] renders that document as a
//!   Prometheus scrape; [`keys`] holds WireGuard keys.
//! - **The shell (I/O).** [`shell`] runs the router on a tokio runtime: the
//!   TUN device (with offloads), the UDP socket ([`udp_gso`] batches sends
//!   and receives), a timerfd for precise release times, signals (SIGHUP
//!   reloads), the status socket and, with `[bgp]`, a task that follows
//!   the kernel routing table the box's BGP daemon writes (rtnetlink);
//!   with `[metrics]`, an HTTP server on a thread of its own answers
//!   Prometheus (`shell/metrics_server.rs`); with `[flow_logs]`, the flow
//!   log writer (a file reopened on SIGHUP, or standard output).
//!   [`impair`] delays and drops the
//!   tunnel's datagrams on kernels without netem. [`privileges`] gives up
//!   root and every capability once the device and the sockets are open
//!   (`[process] user`).

pub mod classifier;
pub mod codel;
pub mod config;
pub mod config_file;
pub mod conntrack;
pub mod fair_queue;
pub mod flow_log;
pub mod impair;
pub mod kernel_routes;
pub mod keys;
pub mod metrics;
pub mod packet;
pub mod privileges;
pub mod router;
pub mod routing;
pub mod shell;
pub mod status;
pub mod status_socket;
#[cfg(any(test, feature = "testkit"))]
#[doc(hidden)]
pub mod testkit;
pub mod token_bucket;
pub mod udp_gso;
