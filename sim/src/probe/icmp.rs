//! The ICMP the probes send and read, through smoltcp's wire views: echo
//! requests built, and what a raw ICMP socket hands back (an IPv4 packet
//! holding an echo reply, or an error quoting one of our echo requests)
//! parsed once into a small [`Seen`].

use std::net::Ipv4Addr;

use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{Icmpv4Message, Icmpv4Packet, Icmpv4Repr, IpProtocol, Ipv4Packet};

use super::IcmpError;

/// The payload of every echo request.
const ECHO_DATA: &[u8] = b"vifgate probe echo......";

/// An ICMP echo request with this identifier and sequence number.
pub(super) fn echo_request(id: u16, seq: u16) -> Vec<u8> {
    let repr = Icmpv4Repr::EchoRequest {
        ident: id,
        seq_no: seq,
        data: ECHO_DATA,
    };
    let mut buf = vec![0; repr.buffer_len()];
    repr.emit(
        &mut Icmpv4Packet::new_unchecked(&mut buf[..]),
        &ChecksumCapabilities::default(),
    );
    buf
}

/// An ICMP packet about one of our echo requests.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Seen {
    /// The packet's sender.
    pub(super) src: Ipv4Addr,
    /// The echo identifier.
    pub(super) id: u16,
    /// The echo sequence number.
    pub(super) seq: u16,
    /// For an error: the type, code and sender.
    pub(super) error: Option<IcmpError>,
    /// For an error: the destination of the echo request it quotes.
    pub(super) inner_dst: Ipv4Addr,
}

/// A view of the IPv4 header at the start of `b`, when `b` holds a whole
/// one (version 4, a header length of at least 20 bytes). The total length
/// field is not checked: the datagram an ICMP error quotes may be cut
/// short, and nothing past the header's end is read through the view.
fn ipv4_header(b: &[u8]) -> Option<Ipv4Packet<&[u8]>> {
    if b.len() < 20 {
        return None;
    }
    let ip = Ipv4Packet::new_unchecked(b);
    let ihl = usize::from(ip.header_len());
    (ip.version() == 4 && ihl >= 20 && b.len() >= ihl).then_some(ip)
}

/// Parses an IPv4 packet from a raw ICMP socket: an echo reply, or a
/// destination unreachable / time exceeded quoting an echo request.
pub(super) fn parse_icmp(pkt: &[u8]) -> Option<Seen> {
    let ip = ipv4_header(pkt)?;
    if ip.next_header() != IpProtocol::Icmp {
        return None;
    }
    let src = ip.src_addr();
    let icmp = Icmpv4Packet::new_checked(&pkt[usize::from(ip.header_len())..]).ok()?;
    match icmp.msg_type() {
        Icmpv4Message::EchoReply => Some(Seen {
            src,
            id: icmp.echo_ident(),
            seq: icmp.echo_seq_no(),
            error: None,
            inner_dst: src,
        }),
        Icmpv4Message::DstUnreachable | Icmpv4Message::TimeExceeded => {
            // both have an 8-byte header, then the quoted datagram
            let quoted = icmp.data();
            let inner = ipv4_header(quoted)?;
            if inner.next_header() != IpProtocol::Icmp {
                return None;
            }
            let echo =
                Icmpv4Packet::new_checked(&quoted[usize::from(inner.header_len())..]).ok()?;
            if echo.msg_type() != Icmpv4Message::EchoRequest {
                return None;
            }
            Some(Seen {
                src,
                id: echo.echo_ident(),
                seq: echo.echo_seq_no(),
                error: Some(IcmpError {
                    from: Some(src),
                    icmp_type: icmp.msg_type().into(),
                    code: icmp.msg_code(),
                }),
                inner_dst: inner.dst_addr(),
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::Outcome;
    use gateway::packet::ipv4_checksum as checksum;

    #[test]
    fn echo_request_checksums_to_zero() {
        let p = echo_request(0x1234, 7);
        assert_eq!(checksum(&p), 0);
        assert_eq!(&p[4..8], &[0x12, 0x34, 0, 7]);
    }

    #[test]
    fn parses_reply_and_quoted_error() {
        let mut ip = vec![
            0x45u8, 0, 0, 0, 0, 0, 0, 0, 64, 1, 0, 0, 10, 0, 0, 2, 10, 0, 0, 1,
        ];
        let mut reply = ip.clone();
        reply.extend_from_slice(&[0, 0, 0, 0, 0x12, 0x34, 0, 9]);
        let seen = parse_icmp(&reply).expect("reply");
        assert_eq!(
            (seen.src, seen.id, seen.seq, seen.error),
            (Ipv4Addr::new(10, 0, 0, 2), 0x1234, 9, None)
        );
        // host unreachable from 10.0.0.254 quoting 10.0.0.1 → 10.9.9.9
        ip[12..16].copy_from_slice(&[10, 0, 0, 254]);
        let mut err = ip.clone();
        err.extend_from_slice(&[3, 1, 0, 0, 0, 0, 0, 0]);
        let mut inner = vec![
            0x45u8, 0, 0, 0, 0, 0, 0, 0, 64, 1, 0, 0, 10, 0, 0, 1, 10, 9, 9, 9,
        ];
        inner.extend_from_slice(&echo_request(0x1234, 9)[..8]);
        err.extend_from_slice(&inner);
        let seen = parse_icmp(&err).expect("error");
        assert_eq!(seen.inner_dst, Ipv4Addr::new(10, 9, 9, 9));
        let icmp = seen.error.expect("icmp");
        assert_eq!((icmp.icmp_type, icmp.code), (3, 1));
        assert_eq!(icmp.outcome(), Outcome::Unreachable);
        assert!(
            parse_icmp(&err[..30]).is_none(),
            "a truncated packet is ignored"
        );
    }
}
