//! Test support, shared by the router's unit tests and the fuzz targets
//! (`fuzz/src/targets.rs`, which enables the `testkit` feature): the office
//! and VPC gateways' configurations on fixed endpoints, an [`Io`] that
//! keeps what a router sends, and a [`Wire`] that hands each datagram to
//! the router it is addressed to, on the caller's clock.
//!
//! Not part of the gateway's interface: compiled for the crate's own tests
//! and with the `testkit` feature only.

use std::net::SocketAddr;
use std::time::Instant;

use crate::config::GatewayConfig;
use crate::keys::PublicKey;
use crate::router::{Io, Router};

/// The office gateway's endpoint.
pub const OFFICE: &str = "192.0.2.1:51820";
/// The AWS gateway's endpoint (the primary).
pub const AWS: &str = "192.0.2.2:51820";
/// The AWS backup gateway's endpoint.
pub const BACKUP: &str = "192.0.2.3:51820";

/// One of the constant endpoints as an address.
pub fn addr(s: &str) -> SocketAddr {
    match s.parse() {
        Ok(a) => a,
        Err(e) => panic!("{s:?} is no address: {e}"),
    }
}

/// A configuration from its text; panics with the diagnostics if it has
/// errors (a test's own configuration).
pub fn config(text: &str) -> GatewayConfig {
    match crate::config::parse("test.toml", text.to_string()) {
        Ok(c) => c,
        Err(d) => panic!("{d}"),
    }
}

/// The office gateway (LAN 192.168.10.0/24, tunnel address
/// 192.168.255.1/30, MTU 1420): two peers for the VPC 10.0.0.0/16, `aws`
/// (route priority 10, `aws_keepalive` seconds of persistent keepalive if
/// any) and `backup` (priority 20), dead after 3 s; `extra` appended (a
/// `[policy]`, a `[conntrack]` ...).
pub fn office_config(
    aws: &PublicKey,
    backup: &PublicKey,
    aws_keepalive: Option<u16>,
    extra: &str,
) -> String {
    let keepalive = aws_keepalive
        .map(|s| format!("persistent_keepalive = {s}\n"))
        .unwrap_or_default();
    format!(
        r#"
[interface]
name = "vg0"
address = "192.168.255.1/30"
mtu = 1420
private_key_file = "office.key"
[[peer]]
name = "aws"
public_key = "{aws}"
endpoint = "{AWS}"
allowed_ips = ["10.0.0.0/16"]
{keepalive}[[peer]]
name = "backup"
public_key = "{backup}"
endpoint = "{BACKUP}"
allowed_ips = ["10.0.0.0/16"]
[[route]]
prefix = "10.0.0.0/16"
peer = "aws"
priority = 10
[[route]]
prefix = "10.0.0.0/16"
peer = "backup"
priority = 20
[liveness]
dead_after = 3
{extra}
"#
    )
}

/// A VPC-side gateway (AWS or its backup, its key file `NAME.key`) whose
/// one peer is the office, carrying 192.168.10.0/24; `extra` appended.
pub fn vpc_config(name: &str, office: &PublicKey, extra: &str) -> String {
    format!(
        r#"
[interface]
name = "vg0"
private_key_file = "{name}.key"
[[peer]]
name = "office"
public_key = "{office}"
endpoint = "{OFFICE}"
allowed_ips = ["192.168.10.0/24"]
[[route]]
prefix = "192.168.10.0/24"
peer = "office"
{extra}
"#
    )
}

/// What a router sent: packets to its TUN device, datagrams to the
/// network.
#[derive(Debug, Default)]
pub struct Collect {
    /// Packets written to the TUN device, in order.
    pub tun: Vec<Vec<u8>>,
    /// Datagrams sent, with their destination, in order.
    pub udp: Vec<(SocketAddr, Vec<u8>)>,
}

impl Io for Collect {
    fn send_tun(&mut self, packet: &[u8]) {
        self.tun.push(packet.to_vec());
    }
    fn send_udp(&mut self, to: SocketAddr, datagram: &[u8]) {
        self.udp.push((to, datagram.to_vec()));
    }
}

/// Routers on one network, each at its endpoint: a datagram arrives at
/// once, or is lost when no router is at its destination.
pub struct Wire<'a> {
    routers: Vec<(SocketAddr, &'a mut Router)>,
}

impl<'a> Wire<'a> {
    /// The routers, by endpoint.
    pub fn new(routers: Vec<(SocketAddr, &'a mut Router)>) -> Self {
        Wire { routers }
    }

    /// Delivers the datagrams `udp` that the router at `from` sent, and
    /// the answers to them, round by round until the network is quiet or
    /// `rounds` rounds have passed; a datagram from or to an endpoint in
    /// `down` is lost. What the routers wrote to their TUN devices on the
    /// way, each with the endpoint of the router that wrote it.
    pub fn deliver(
        &mut self,
        now: Instant,
        from: SocketAddr,
        udp: Vec<(SocketAddr, Vec<u8>)>,
        rounds: usize,
        down: &[SocketAddr],
    ) -> Vec<(SocketAddr, Vec<u8>)> {
        let mut tun = Vec::new();
        let mut flight: Vec<(SocketAddr, SocketAddr, Vec<u8>)> =
            udp.into_iter().map(|(to, d)| (from, to, d)).collect();
        for _ in 0..rounds {
            if flight.is_empty() {
                break;
            }
            let mut next = Vec::new();
            for (from, to, d) in flight.drain(..) {
                if down.contains(&from) || down.contains(&to) {
                    continue;
                }
                let Some((_, router)) = self.routers.iter_mut().find(|(at, _)| *at == to) else {
                    continue;
                };
                let mut out = Collect::default();
                router.handle_udp(now, from, &d, &mut out);
                tun.extend(out.tun.into_iter().map(|p| (to, p)));
                next.extend(out.udp.into_iter().map(|(dst, d)| (to, dst, d)));
            }
            flight = next;
        }
        tun
    }
}
