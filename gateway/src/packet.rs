//! IPv4 packets as the pipeline sees them: parsed once at the edge into a
//! small plain value ([`Ipv4Meta`]), with lengths checked once so that
//! nothing after can index out of bounds. Built on `smoltcp::wire`.

use std::net::Ipv4Addr;

use smoltcp::wire::{IpProtocol, Ipv4Packet};
use topology::traffic::{Packet, L4};

/// Why a packet could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// Shorter than its headers say.
    #[error("truncated packet")]
    Truncated,
    /// Not IPv4.
    #[error("not an IPv4 packet")]
    NotIpv4,
    /// A bad IPv4 header (length fields, options).
    #[error("malformed IPv4 header")]
    Malformed,
}

/// TCP flags, as in the header.
pub mod tcp_flags {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// ACK.
    pub const ACK: u8 = 0x10;
}

/// What the pipeline needs to know about an IPv4 packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Meta {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// IP protocol number.
    pub proto: u8,
    /// IPv4 header length in bytes.
    pub header_len: usize,
    /// Total length from the header (never more than the buffer).
    pub total_len: usize,
    /// The Don't Fragment bit.
    pub dont_fragment: bool,
    /// Whether this is a non-first fragment (no transport header).
    pub is_fragment: bool,
    /// Ports, ICMP type/code, or the protocol number.
    pub l4: L4,
    /// TCP flags (0 for other protocols).
    pub tcp_flags: u8,
    /// ICMP echo identifier (echo request/reply only).
    pub icmp_id: Option<u16>,
}

impl Ipv4Meta {
    /// The ACL view of the packet.
    pub fn acl_packet(&self) -> Packet {
        Packet {
            src: self.src,
            dst: self.dst,
            l4: self.l4,
        }
    }
}

/// Parses an IPv4 packet. The transport header is read when it is there
/// (first fragment, long enough); a non-first fragment has `L4::Other`.
pub fn parse_ipv4(buf: &[u8]) -> Result<Ipv4Meta, PacketError> {
    if buf.first().map(|b| b >> 4) != Some(4) {
        return Err(if buf.is_empty() {
            PacketError::Truncated
        } else {
            PacketError::NotIpv4
        });
    }
    let ip = Ipv4Packet::new_checked(buf).map_err(|_| PacketError::Malformed)?;
    let header_len = ip.header_len() as usize;
    let total_len = ip.total_len() as usize;
    let proto: u8 = ip.next_header().into();
    let is_fragment = ip.frag_offset() != 0;
    let payload = &buf[header_len..total_len];
    let mut tcp_flags = 0;
    let mut icmp_id = None;
    let l4 = if is_fragment {
        L4::Other(proto)
    } else {
        match IpProtocol::from(proto) {
            IpProtocol::Tcp if payload.len() >= 20 => {
                tcp_flags = payload[13];
                L4::Tcp {
                    src_port: u16::from_be_bytes([payload[0], payload[1]]),
                    dst_port: u16::from_be_bytes([payload[2], payload[3]]),
                }
            }
            IpProtocol::Udp if payload.len() >= 8 => L4::Udp {
                src_port: u16::from_be_bytes([payload[0], payload[1]]),
                dst_port: u16::from_be_bytes([payload[2], payload[3]]),
            },
            IpProtocol::Icmp if payload.len() >= 8 => {
                let (icmp_type, code) = (payload[0], payload[1]);
                if icmp_type == 0 || icmp_type == 8 {
                    icmp_id = Some(u16::from_be_bytes([payload[4], payload[5]]));
                }
                L4::Icmp { icmp_type, code }
            }
            IpProtocol::Tcp | IpProtocol::Udp | IpProtocol::Icmp => {
                return Err(PacketError::Truncated)
            }
            _ => L4::Other(proto),
        }
    };
    Ok(Ipv4Meta {
        src: ip.src_addr(),
        dst: ip.dst_addr(),
        proto,
        header_len,
        total_len,
        dont_fragment: ip.dont_frag(),
        is_fragment,
        l4,
        tcp_flags,
        icmp_id,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds an IPv4 packet with a valid header checksum.
    pub(crate) fn ipv4(src: [u8; 4], dst: [u8; 4], proto: u8, df: bool, payload: &[u8]) -> Vec<u8> {
        let mut b = vec![0u8; 20 + payload.len()];
        b[0] = 0x45;
        let total = b.len() as u16;
        b[2..4].copy_from_slice(&total.to_be_bytes());
        if df {
            b[6] = 0x40;
        }
        b[8] = 64;
        b[9] = proto;
        b[12..16].copy_from_slice(&src);
        b[16..20].copy_from_slice(&dst);
        b[20..].copy_from_slice(payload);
        let mut p = Ipv4Packet::new_unchecked(&mut b[..]);
        p.fill_checksum();
        b
    }

    pub(crate) fn tcp_header(sport: u16, dport: u16, flags: u8) -> Vec<u8> {
        let mut t = vec![0u8; 20];
        t[0..2].copy_from_slice(&sport.to_be_bytes());
        t[2..4].copy_from_slice(&dport.to_be_bytes());
        t[12] = 5 << 4;
        t[13] = flags;
        t
    }

    #[test]
    fn parses_tcp() {
        let p = ipv4(
            [10, 0, 0, 1],
            [10, 0, 0, 2],
            6,
            true,
            &tcp_header(40000, 443, tcp_flags::SYN),
        );
        let m = parse_ipv4(&p).unwrap();
        assert_eq!(m.src, Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(
            m.l4,
            L4::Tcp {
                src_port: 40000,
                dst_port: 443
            }
        );
        assert_eq!(m.tcp_flags, tcp_flags::SYN);
        assert!(m.dont_fragment);
        assert_eq!(m.total_len, 40);
    }

    #[test]
    fn parses_icmp_echo_with_its_id() {
        let mut icmp = vec![8u8, 0, 0, 0, 0x12, 0x34, 0, 1];
        icmp.extend_from_slice(b"ping");
        let p = ipv4([10, 0, 0, 1], [10, 0, 0, 2], 1, false, &icmp);
        let m = parse_ipv4(&p).unwrap();
        assert_eq!(
            m.l4,
            L4::Icmp {
                icmp_type: 8,
                code: 0
            }
        );
        assert_eq!(m.icmp_id, Some(0x1234));
    }

    #[test]
    fn rejects_garbage_without_panicking() {
        assert_eq!(parse_ipv4(&[]), Err(PacketError::Truncated));
        assert_eq!(parse_ipv4(&[0x60; 40]), Err(PacketError::NotIpv4));
        assert_eq!(parse_ipv4(&[0x45, 0, 0, 10]), Err(PacketError::Malformed));
        // tcp header cut short
        let p = ipv4([1, 1, 1, 1], [2, 2, 2, 2], 6, false, &[0; 10]);
        assert_eq!(parse_ipv4(&p), Err(PacketError::Truncated));
    }

    proptest::proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80)) {
            let _ = parse_ipv4(&bytes);
        }
    }
}
