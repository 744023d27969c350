//! The box's own IPv4 addresses, read from its interfaces (`getifaddrs`)
//! at start and every [`REFRESH`] after, for the router's forwarding
//! filter: packets from the tunnel to the gateway box itself are dropped
//! (`to_gateway_box`) unless `[forwarding] allow_to_box` names them.
//! Besides each interface address, its subnet's broadcast address, which
//! the kernel also delivers to the box's own sockets (the `broadcast` route
//! it adds to its local table for every prefix shorter than /31).
//! Reading them needs no privilege.

use std::io;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use tracing::{debug, warn};

use crate::router::Router;

/// How often the addresses are read again (DHCP, an address added by
/// hand, the TUN device's own coming up).
pub(super) const REFRESH: Duration = Duration::from_secs(10);

/// Reads the addresses again when due, and hands them to the router (which
/// keeps them, and tells whether they changed).
pub(super) struct BoxAddresses {
    next: Instant,
}

impl BoxAddresses {
    /// Due at once.
    pub(super) fn new(now: Instant) -> Self {
        BoxAddresses { next: now }
    }

    /// Reads the addresses if due.
    pub(super) fn poll(&mut self, router: &mut Router, now: Instant) {
        if now < self.next {
            return;
        }
        self.next = now + REFRESH;
        match read() {
            Ok(addresses) => {
                if router.set_box_addresses(&addresses) {
                    debug!(?addresses, "the box's addresses");
                }
            }
            Err(e) => warn!("cannot read the box's addresses: {e}"),
        }
    }
}

/// The addresses at which the kernel delivers to the box itself for an
/// interface address `address` with netmask `netmask`: the address, and
/// for a prefix shorter than /31 the subnet's broadcast address (the
/// kernel's `fib_add_ifaddr` adds a local `broadcast` route for it).
fn delivered_locally(address: Ipv4Addr, netmask: Ipv4Addr) -> Vec<Ipv4Addr> {
    let mask = u32::from(netmask);
    let mut own = vec![address];
    if mask.count_ones() < 31 {
        own.push(Ipv4Addr::from(u32::from(address) | !mask));
    }
    own
}

/// Reads the IPv4 address in `sa`, a socket address of any family.
///
/// # Safety
/// `sa` is null or points at a socket address whose family tells its type.
unsafe fn ipv4_of(sa: *const libc::sockaddr) -> Option<Ipv4Addr> {
    // SAFETY: by the caller, a non-null `sa` is a sockaddr whose family
    // tells its real type; AF_INET is a sockaddr_in.
    unsafe {
        if sa.is_null() || i32::from((*sa).sa_family) != libc::AF_INET {
            return None;
        }
        let sin = &*(sa as *const libc::sockaddr_in);
        Some(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)))
    }
}

/// Every IPv4 address of every interface, and each one's broadcast
/// address ([`delivered_locally`]), sorted, each once.
fn read() -> io::Result<Vec<Ipv4Addr>> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we free below.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut addresses = Vec::new();
    let mut at = head;
    while !at.is_null() {
        // SAFETY: `at` is a node of the list getifaddrs returned.
        let ifa = unsafe { &*at };
        // SAFETY: getifaddrs fills ifa_addr and ifa_netmask with null or
        // socket addresses of the family they name.
        if let Some(address) = unsafe { ipv4_of(ifa.ifa_addr) } {
            let netmask = unsafe { ipv4_of(ifa.ifa_netmask) }.unwrap_or(Ipv4Addr::BROADCAST);
            addresses.extend(delivered_locally(address, netmask));
        }
        at = ifa.ifa_next;
    }
    // SAFETY: the list getifaddrs returned, freed once.
    unsafe { libc::freeifaddrs(head) };
    addresses.sort();
    addresses.dedup();
    Ok(addresses)
}

#[cfg(test)]
mod tests {
    use super::delivered_locally;
    use std::net::Ipv4Addr;

    #[test]
    fn a_subnets_broadcast_address_is_the_boxs_own() {
        let a = |s: &str| s.parse::<Ipv4Addr>().expect("an address");
        assert_eq!(
            delivered_locally(a("192.168.10.1"), a("255.255.255.0")),
            [a("192.168.10.1"), a("192.168.10.255")]
        );
        assert_eq!(
            delivered_locally(a("169.254.100.1"), a("255.255.255.252")),
            [a("169.254.100.1"), a("169.254.100.3")]
        );
        // /31 (RFC 3021) and /32: no broadcast address
        assert_eq!(
            delivered_locally(a("10.9.9.0"), a("255.255.255.254")),
            [a("10.9.9.0")]
        );
        assert_eq!(
            delivered_locally(a("10.9.9.9"), a("255.255.255.255")),
            [a("10.9.9.9")]
        );
    }

    #[test]
    fn loopback_and_its_broadcast_are_among_the_boxs_addresses() {
        let addresses = super::read().expect("getifaddrs");
        assert!(addresses.contains(&Ipv4Addr::LOCALHOST), "{addresses:?}");
        // lo's 127.0.0.1/8: the kernel delivers 127.255.255.255 to the box
        assert!(
            addresses.contains(&Ipv4Addr::new(127, 255, 255, 255)),
            "{addresses:?}"
        );
    }
}
