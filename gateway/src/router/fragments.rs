//! The verdicts of first fragments, for the rest of their datagrams.
//!
//! Only a datagram's first fragment carries the transport header, so only it
//! can be judged by the rules (ports, ICMP type) and by connection tracking.
//! Its verdict is the verdict of the whole datagram: when it is admitted, its
//! datagram's key — side, source, destination, protocol and IP
//! identification — is remembered here, and the later fragments with that key
//! pass for [`FRAGMENT_TIMEOUT`]. A non-first fragment whose first fragment
//! was not admitted (denied, never seen, arrived later, forgotten) is dropped.
//!
//! Bounded: at most `capacity` datagrams per side, each for at most
//! [`FRAGMENT_TIMEOUT`]; when a side is full, its oldest datagram is
//! forgotten. Each side has its own share, so that a flood of fragments from
//! the tunnel cannot push out the datagrams the LAN sends. Sans-IO: the time
//! is an argument; all memory is allocated by [`FragmentVerdicts::new`].

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use crate::conntrack::Side;
use crate::packet::Ipv4Meta;

/// How long the later fragments of an admitted first fragment pass: Linux's
/// reassembly timeout (`net.ipv4.ipfrag_time`, 30 s), the longest a receiver
/// waits for the rest of a datagram.
pub const FRAGMENT_TIMEOUT: Duration = Duration::from_secs(30);

/// Datagrams remembered per side by default.
pub const DEFAULT_CAPACITY: usize = 4096;

/// A fragmented datagram: who sent it to whom, its protocol and IP
/// identification (RFC 791: the four name one datagram).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct DatagramKey {
    src: u32,
    dst: u32,
    proto: u8,
    ip_id: u16,
}

impl DatagramKey {
    fn of(meta: &Ipv4Meta) -> Self {
        DatagramKey {
            src: u32::from(meta.src),
            dst: u32::from(meta.dst),
            proto: meta.proto,
            ip_id: meta.ip_id,
        }
    }
}

/// The admitted datagrams of one side, oldest first.
#[derive(Debug)]
struct SideTable {
    deadlines: HashMap<DatagramKey, Instant>,
    order: VecDeque<DatagramKey>,
    capacity: usize,
}

impl SideTable {
    fn new(capacity: usize) -> Self {
        SideTable {
            deadlines: HashMap::with_capacity(capacity),
            order: VecDeque::with_capacity(capacity),
            capacity,
        }
    }

    fn admit(&mut self, now: Instant, key: DatagramKey) {
        if self.capacity == 0 {
            return;
        }
        let deadline = now + FRAGMENT_TIMEOUT;
        if let Some(d) = self.deadlines.get_mut(&key) {
            *d = deadline;
            return;
        }
        self.forget_expired(now);
        if self.order.len() >= self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.deadlines.remove(&oldest);
            }
        }
        self.order.push_back(key);
        self.deadlines.insert(key, deadline);
    }

    fn admits(&mut self, now: Instant, key: &DatagramKey) -> bool {
        match self.deadlines.get(key) {
            Some(&deadline) if now <= deadline => true,
            Some(_) => {
                self.forget_expired(now);
                false
            }
            None => false,
        }
    }

    /// Forgets the expired datagrams at the front of the queue (a refreshed
    /// one may hide expired ones behind it for at most its new timeout).
    fn forget_expired(&mut self, now: Instant) {
        while let Some(oldest) = self.order.front() {
            match self.deadlines.get(oldest) {
                Some(&deadline) if now <= deadline => break,
                _ => {
                    if let Some(key) = self.order.pop_front() {
                        self.deadlines.remove(&key);
                    }
                }
            }
        }
    }
}

/// The first fragments admitted, per side. See the [module documentation](self).
#[derive(Debug)]
pub struct FragmentVerdicts {
    lan: SideTable,
    tunnel: SideTable,
}

impl FragmentVerdicts {
    /// Remembers at most `capacity_per_side` datagrams from each side.
    pub fn new(capacity_per_side: usize) -> Self {
        FragmentVerdicts {
            lan: SideTable::new(capacity_per_side),
            tunnel: SideTable::new(capacity_per_side),
        }
    }

    fn side(&mut self, side: Side) -> &mut SideTable {
        match side {
            Side::Lan => &mut self.lan,
            Side::Tunnel => &mut self.tunnel,
        }
    }

    /// Records that the policy admitted `first`, a first fragment from
    /// `side` (anything else is ignored).
    pub fn admitted(&mut self, now: Instant, side: Side, first: &Ipv4Meta) {
        if first.is_first_fragment() {
            self.side(side).admit(now, DatagramKey::of(first));
        }
    }

    /// Whether `fragment`, a non-first fragment from `side`, belongs to a
    /// datagram whose first fragment was admitted less than
    /// [`FRAGMENT_TIMEOUT`] ago.
    pub fn admits(&mut self, now: Instant, side: Side, fragment: &Ipv4Meta) -> bool {
        fragment.is_fragment && self.side(side).admits(now, &DatagramKey::of(fragment))
    }

    /// Datagrams remembered, both sides.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lan.order.len() + self.tunnel.order.len()
    }

    /// Whether no datagram is remembered.
    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::parse_ipv4;
    use crate::packet::tests::ipv4;

    /// A fragment of datagram `id` from `src` at `offset` (bytes, a multiple
    /// of 8), with More Fragments `more`.
    fn fragment(src: [u8; 4], id: u16, offset: u16, more: bool) -> Ipv4Meta {
        let mut b = ipv4(src, [192, 168, 10, 10], 17, false, &[0; 16]);
        b[4..6].copy_from_slice(&id.to_be_bytes());
        let flags = (offset / 8) | if more { 0x2000 } else { 0 };
        b[6..8].copy_from_slice(&flags.to_be_bytes());
        let mut p = smoltcp::wire::Ipv4Packet::new_unchecked(&mut b[..]);
        p.fill_checksum();
        parse_ipv4(&b).expect("a fragment parses")
    }

    const VPC: [u8; 4] = [10, 0, 10, 10];

    #[test]
    fn later_fragments_pass_after_an_admitted_first_for_30_s() {
        let t0 = Instant::now();
        let mut v = FragmentVerdicts::new(8);
        let (first, middle, last) = (
            fragment(VPC, 7, 0, true),
            fragment(VPC, 7, 1480, true),
            fragment(VPC, 7, 2960, false),
        );
        assert!(first.is_first_fragment() && !middle.is_first_fragment());
        assert!(
            !v.admits(t0, Side::Tunnel, &middle),
            "no first fragment yet"
        );
        v.admitted(t0, Side::Tunnel, &first);
        assert!(v.admits(t0, Side::Tunnel, &middle));
        assert!(v.admits(t0 + FRAGMENT_TIMEOUT, Side::Tunnel, &last));
        assert!(!v.admits(
            t0 + FRAGMENT_TIMEOUT + Duration::from_millis(1),
            Side::Tunnel,
            &last
        ));
        assert!(v.is_empty(), "expired datagrams are forgotten");
    }

    #[test]
    fn another_datagram_source_or_side_does_not_pass() {
        let t0 = Instant::now();
        let mut v = FragmentVerdicts::new(8);
        v.admitted(t0, Side::Tunnel, &fragment(VPC, 7, 0, true));
        assert!(!v.admits(t0, Side::Tunnel, &fragment(VPC, 8, 1480, false)));
        assert!(!v.admits(t0, Side::Tunnel, &fragment([10, 0, 10, 11], 7, 1480, false)));
        assert!(!v.admits(t0, Side::Lan, &fragment(VPC, 7, 1480, false)));
        // A whole datagram, or a first fragment, is not "a later fragment".
        assert!(!v.admits(t0, Side::Tunnel, &fragment(VPC, 7, 0, true)));
        // A whole datagram admitted records nothing.
        v.admitted(t0, Side::Tunnel, &fragment(VPC, 9, 0, false));
        assert_eq!(v.len(), 1);
    }

    #[test]
    fn each_side_keeps_its_capacity_and_forgets_its_oldest() {
        let t0 = Instant::now();
        let mut v = FragmentVerdicts::new(3);
        v.admitted(t0, Side::Lan, &fragment([192, 168, 10, 10], 1, 0, true));
        for id in 0..100 {
            v.admitted(t0, Side::Tunnel, &fragment(VPC, id, 0, true));
        }
        assert_eq!(v.len(), 4);
        assert!(v.admits(t0, Side::Tunnel, &fragment(VPC, 99, 8, false)));
        assert!(!v.admits(t0, Side::Tunnel, &fragment(VPC, 96, 8, false)));
        assert!(
            v.admits(t0, Side::Lan, &fragment([192, 168, 10, 10], 1, 8, false)),
            "the tunnel's flood leaves the LAN's datagrams alone"
        );
        let mut none = FragmentVerdicts::new(0);
        none.admitted(t0, Side::Lan, &fragment(VPC, 1, 0, true));
        assert!(none.is_empty());
    }
}
