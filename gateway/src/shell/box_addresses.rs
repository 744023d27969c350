//! The box's own IPv4 addresses, read from its interfaces (`getifaddrs`)
//! at start and every [`REFRESH`] after, for the router's forwarding
//! filter: packets from the tunnel to the gateway box itself are dropped
//! (`to_gateway_box`) unless `[forwarding] allow_to_box` names them.
//! Reading them needs no privilege.

use std::io;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use tracing::{debug, warn};

use crate::router::Router;

/// How often the addresses are read again (DHCP, an address added by
/// hand, the TUN device's own coming up).
pub(super) const REFRESH: Duration = Duration::from_secs(10);

/// Reads the addresses again when due, and hands them to the router when
/// they changed.
pub(super) struct BoxAddresses {
    next: Instant,
    last: Vec<Ipv4Addr>,
}

impl BoxAddresses {
    /// Due at once.
    pub(super) fn new(now: Instant) -> Self {
        BoxAddresses {
            next: now,
            last: Vec::new(),
        }
    }

    /// Reads the addresses if due.
    pub(super) fn poll(&mut self, router: &mut Router, now: Instant) {
        if now < self.next {
            return;
        }
        self.next = now + REFRESH;
        match read() {
            Ok(addresses) if addresses != self.last => {
                debug!(?addresses, "the box's addresses");
                router.set_box_addresses(&addresses);
                self.last = addresses;
            }
            Ok(_) => {}
            Err(e) => warn!("cannot read the box's addresses: {e}"),
        }
    }
}

/// Every IPv4 address of every interface, sorted, each once.
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
        let sa = ifa.ifa_addr;
        // SAFETY: a non-null ifa_addr points at a sockaddr whose family
        // tells its real type; AF_INET is a sockaddr_in.
        if !sa.is_null() && i32::from(unsafe { (*sa).sa_family }) == libc::AF_INET {
            let sin = unsafe { &*(sa as *const libc::sockaddr_in) };
            addresses.push(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)));
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
    #[test]
    fn loopback_is_among_the_boxs_addresses() {
        let addresses = super::read().expect("getifaddrs");
        assert!(
            addresses.contains(&std::net::Ipv4Addr::LOCALHOST),
            "{addresses:?}"
        );
    }
}
