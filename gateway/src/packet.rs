//! IPv4 packets as the pipeline sees them: parsed once at the edge into a
//! small plain value ([`Ipv4Meta`]), with lengths checked once so that
//! nothing after can index out of bounds. Built on `smoltcp::wire`.

use std::net::Ipv4Addr;

use smoltcp::wire::{Icmpv4Packet, IpProtocol, Ipv4Packet, TcpPacket, UdpPacket};
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
    /// The IP identification: with the addresses and protocol, it names the
    /// datagram a fragment belongs to.
    pub ip_id: u16,
    /// The More Fragments bit: set on every fragment but the last.
    pub more_fragments: bool,
    /// The fragment offset, in bytes (0 for a whole datagram and a first
    /// fragment).
    pub fragment_offset: u16,
    /// Ports, ICMP type/code, or the protocol number.
    pub l4: L4,
    /// TCP flags (0 for other protocols).
    pub tcp_flags: u8,
    /// The identifier of an ICMP query or its reply (echo, timestamp,
    /// information, address mask: types 0, 8 and 13 to 18); `None` for every
    /// other ICMP type and protocol.
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

    /// Whether this is the first fragment of a fragmented datagram (offset
    /// 0, More Fragments set): it carries the transport header, and its
    /// verdict is the one of every later fragment of its datagram.
    pub fn is_first_fragment(&self) -> bool {
        !self.is_fragment && self.more_fragments
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
    let (l4, tcp_flags, icmp_id) = if is_fragment {
        (L4::Other(proto), 0, None)
    } else {
        let needed = match IpProtocol::from(proto) {
            IpProtocol::Tcp => TCP_MIN_HEADER_LEN,
            IpProtocol::Udp | IpProtocol::Icmp => TRANSPORT_PREFIX_LEN,
            _ => 0,
        };
        if payload.len() < needed {
            return Err(PacketError::Truncated);
        }
        transport(proto, payload)
    };
    Ok(Ipv4Meta {
        src: ip.src_addr(),
        dst: ip.dst_addr(),
        proto,
        header_len,
        total_len,
        dont_fragment: ip.dont_frag(),
        is_fragment,
        ip_id: ip.ident(),
        more_fragments: ip.more_frags(),
        fragment_offset: ip.frag_offset(),
        l4,
        tcp_flags,
        icmp_id,
    })
}

/// The first bytes of a transport header every error must quote (RFC 792):
/// enough for ports, or an ICMP type, code and echo identifier.
const TRANSPORT_PREFIX_LEN: usize = 8;

/// Parses the packet an ICMP error quotes: its IPv4 header (lengths
/// checked) and at least the first 8 bytes of what followed, the rest of
/// it usually cut off. `total_len` is what was quoted (at most what its
/// header says); TCP flags are read when quoted (0 otherwise). `None` for
/// anything shorter or not IPv4.
pub fn parse_quoted_ipv4(quoted: &[u8]) -> Option<Ipv4Meta> {
    if quoted.len() < IPV4_HEADER_LEN {
        return None;
    }
    let ip = Ipv4Packet::new_unchecked(quoted);
    let header_len = usize::from(ip.header_len());
    if ip.version() != 4 || header_len < IPV4_HEADER_LEN {
        return None;
    }
    let payload = quoted.get(header_len..)?;
    if payload.len() < TRANSPORT_PREFIX_LEN {
        return None;
    }
    let proto: u8 = ip.next_header().into();
    let is_fragment = ip.frag_offset() != 0;
    let (l4, tcp_flags, icmp_id) = if is_fragment {
        (L4::Other(proto), 0, None)
    } else {
        transport(proto, payload)
    };
    Some(Ipv4Meta {
        src: ip.src_addr(),
        dst: ip.dst_addr(),
        proto,
        header_len,
        total_len: quoted.len().min(usize::from(ip.total_len())),
        dont_fragment: ip.dont_frag(),
        is_fragment,
        ip_id: ip.ident(),
        more_fragments: ip.more_frags(),
        fragment_offset: ip.frag_offset(),
        l4,
        tcp_flags,
        icmp_id,
    })
}

/// Ports, or ICMP type and code, from the start of a transport header of
/// at least [`TRANSPORT_PREFIX_LEN`] bytes; with the TCP flags (when the
/// header reaches them) and an ICMP query's (or its reply's) identifier.
fn transport(proto: u8, l4: &[u8]) -> (L4, u8, Option<u16>) {
    match IpProtocol::from(proto) {
        IpProtocol::Tcp => {
            let tcp = TcpPacket::new_unchecked(l4);
            let flags = l4.get(TCP_FLAGS_OFFSET).copied().unwrap_or(0);
            let ports = L4::Tcp {
                src_port: tcp.src_port(),
                dst_port: tcp.dst_port(),
            };
            (ports, flags, None)
        }
        IpProtocol::Udp => {
            let udp = UdpPacket::new_unchecked(l4);
            let ports = L4::Udp {
                src_port: udp.src_port(),
                dst_port: udp.dst_port(),
            };
            (ports, 0, None)
        }
        IpProtocol::Icmp => {
            let icmp = Icmpv4Packet::new_unchecked(l4);
            let icmp_type = u8::from(icmp.msg_type());
            let id = icmp_query(icmp_type).map(|_| icmp.echo_ident());
            let l4 = L4::Icmp {
                icmp_type,
                code: icmp.msg_code(),
            };
            (l4, 0, id)
        }
        _ => (L4::Other(proto), 0, None),
    }
}

/// The RFC 1071 Internet checksum of `data`: the one's complement of the
/// one's complement sum of its 16-bit big-endian words (an odd last byte is
/// padded with zero). Ready to store in an IPv4 or ICMPv4 header whose
/// checksum field is zero in `data`; over a header with a correct checksum
/// it returns 0.
pub fn ipv4_checksum(data: &[u8]) -> u16 {
    !fold_ones_complement(ones_complement_sum(data))
}

/// The one's complement sum of `data`'s 16-bit big-endian words, not yet
/// folded to 16 bits.
fn ones_complement_sum(data: &[u8]) -> u32 {
    let mut words = data.chunks_exact(2);
    let mut sum: u32 = 0;
    for word in &mut words {
        sum += u32::from(u16::from_be_bytes([word[0], word[1]]));
        // Fold now and then so that no buffer length can overflow `sum`.
        if sum > 0xffff_0000 {
            sum = u32::from(fold_ones_complement(sum));
        }
    }
    if let [last] = words.remainder() {
        sum += u32::from(u16::from_be_bytes([*last, 0]));
    }
    sum
}

/// Folds the carries of a one's complement sum back into 16 bits.
fn fold_ones_complement(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    // The loop leaves `sum <= 0xffff`.
    sum as u16
}

/// Updates an Internet checksum after one 16-bit word it covers changed
/// from `old` to `new` (RFC 1624, eqn. 3: `HC' = ~(~HC + ~m + m')`).
pub fn checksum_adjust(checksum: u16, old: u16, new: u16) -> u16 {
    let sum = u32::from(!checksum) + u32::from(!old) + u32::from(new);
    !fold_ones_complement(sum)
}

/// TCP option kinds used here (RFC 9293).
mod tcp_option {
    /// End of option list.
    pub const EOL: u8 = 0;
    /// No-operation (padding).
    pub const NOP: u8 = 1;
    /// Maximum segment size.
    pub const MSS: u8 = 2;
    /// The length of an MSS option.
    pub const MSS_LEN: usize = 4;
}

/// One TCP option: its kind and where its bytes are in the option area.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TcpOption {
    kind: u8,
    /// Offset of the kind byte within the option area.
    offset: usize,
    /// Length including the kind (and length) byte.
    len: usize,
}

/// The TCP option list is malformed: an option runs past the header, or
/// its length is below 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct MalformedOptions;

/// Reads the TCP option starting at `offset` in an option area (the bytes
/// between the fixed TCP header and the data offset). `None` at the end of
/// the area or at EOL; an error if the option's length is below 2 or runs
/// past the area. Never reads outside `area`.
fn tcp_option_at(area: &[u8], offset: usize) -> Option<Result<TcpOption, MalformedOptions>> {
    let kind = *area.get(offset)?;
    let len = match kind {
        tcp_option::EOL => return None,
        tcp_option::NOP => 1,
        _ => match area.get(offset + 1) {
            Some(&len) if len >= 2 && offset + usize::from(len) <= area.len() => usize::from(len),
            _ => return Some(Err(MalformedOptions)),
        },
    };
    Some(Ok(TcpOption { kind, offset, len }))
}

/// Walks a TCP option area without allocating: the options up to EOL or
/// the end of the area, or up to and including the first malformed one.
struct TcpOptions<'a> {
    area: &'a [u8],
    /// Where the next option starts; `None` once the walk is over.
    next: Option<usize>,
}

impl<'a> TcpOptions<'a> {
    fn new(area: &'a [u8]) -> Self {
        TcpOptions {
            area,
            next: Some(0),
        }
    }
}

impl Iterator for TcpOptions<'_> {
    type Item = Result<TcpOption, MalformedOptions>;

    fn next(&mut self) -> Option<Self::Item> {
        let option = tcp_option_at(self.area, self.next?);
        self.next = match option {
            Some(Ok(o)) => Some(o.offset + o.len),
            _ => None,
        };
        option
    }
}

/// Offset of the checksum within the TCP header.
const TCP_CHECKSUM_OFFSET: usize = 16;
/// Length of the TCP header without options.
const TCP_MIN_HEADER_LEN: usize = 20;
/// Offset of the flags byte (FIN, SYN, RST, PSH, ACK, URG) in a TCP header.
const TCP_FLAGS_OFFSET: usize = 13;
/// The ICMPv4 queries and the type of their reply, (request, reply): echo
/// (RFC 792), timestamp (RFC 792), information (RFC 792), address mask
/// (RFC 950). Each carries an identifier at bytes 4-5 of its header.
pub const ICMP_QUERIES: [(u8, u8); 4] = [(8, 0), (13, 14), (15, 16), (17, 18)];

/// The query an ICMP type belongs to: the request's type, and whether this
/// type is the request (`true`) or its reply (`false`). `None` for every
/// type that is neither.
pub fn icmp_query(icmp_type: u8) -> Option<(u8, bool)> {
    ICMP_QUERIES.iter().find_map(|&(request, reply)| {
        if icmp_type == request {
            Some((request, true))
        } else if icmp_type == reply {
            Some((request, false))
        } else {
            None
        }
    })
}

/// Clamps the MSS option of a TCP SYN (with or without ACK) to `max_mss`, so
/// that neither end sends segments that would not fit the tunnel.
///
/// Acts only on a well-formed IPv4 packet carrying the first (or only)
/// fragment of a TCP segment with SYN set, whose option list parses and
/// whose MSS option(s) have length 4. Every MSS option above `max_mss` is
/// rewritten to `max_mss` and the TCP checksum is updated incrementally
/// (RFC 1624), so a wrong checksum stays wrong. A SYN without an MSS option
/// is left alone (no option is inserted), as is anything malformed.
/// Returns whether the packet changed.
pub fn clamp_tcp_mss(packet: &mut [u8], max_mss: u16) -> bool {
    let Ok(meta) = parse_ipv4(packet) else {
        return false;
    };
    if meta.proto != u8::from(IpProtocol::Tcp)
        || meta.is_fragment
        || meta.tcp_flags & tcp_flags::SYN == 0
    {
        return false;
    }
    let Some(segment) = packet.get_mut(meta.header_len..meta.total_len) else {
        return false;
    };
    let Some(&offset_byte) = segment.get(12) else {
        return false;
    };
    let data_offset = usize::from(offset_byte >> 4) * 4;
    if data_offset < TCP_MIN_HEADER_LEN || data_offset > segment.len() {
        return false;
    }
    let options_valid = TcpOptions::new(&segment[TCP_MIN_HEADER_LEN..data_offset]).all(|option| {
        matches!(option, Ok(o) if o.kind != tcp_option::MSS || o.len == tcp_option::MSS_LEN)
    });
    if !options_valid {
        return false;
    }

    let mut checksum = u16::from_be_bytes([
        segment[TCP_CHECKSUM_OFFSET],
        segment[TCP_CHECKSUM_OFFSET + 1],
    ]);
    let mut changed = false;
    // Walk the (now known good) options again, rewriting as we go.
    let mut next = 0;
    while let Some(Ok(option)) = tcp_option_at(&segment[TCP_MIN_HEADER_LEN..data_offset], next) {
        next = option.offset + option.len;
        if option.kind != tcp_option::MSS {
            continue;
        }
        // Offset of the MSS value within the TCP segment.
        let at = TCP_MIN_HEADER_LEN + option.offset + 2;
        let old = u16::from_be_bytes([segment[at], segment[at + 1]]);
        if old <= max_mss {
            continue;
        }
        segment[at..at + 2].copy_from_slice(&max_mss.to_be_bytes());
        // A value at an odd offset straddles two checksum words; its
        // contribution to the one's complement sum is then its byte swap.
        let (old_word, new_word) = if at & 1 == 0 {
            (old, max_mss)
        } else {
            (old.swap_bytes(), max_mss.swap_bytes())
        };
        checksum = checksum_adjust(checksum, old_word, new_word);
        changed = true;
    }
    if changed {
        segment[TCP_CHECKSUM_OFFSET..TCP_CHECKSUM_OFFSET + 2]
            .copy_from_slice(&checksum.to_be_bytes());
    }
    changed
}

/// ICMPv4 types that are errors (RFC 792, RFC 1122 §3.2.2): destination
/// unreachable, source quench, redirect, time exceeded, parameter problem.
const ICMP_ERROR_TYPES: [u8; 5] = [3, 4, 5, 11, 12];
/// ICMPv4 destination unreachable.
const ICMP_DEST_UNREACHABLE: u8 = 3;
/// Destination unreachable code: fragmentation needed and DF set.
const ICMP_CODE_FRAG_NEEDED: u8 = 4;
/// Length of the ICMPv4 header (type, code, checksum, 4 more bytes).
const ICMP_HEADER_LEN: usize = 8;
/// How much of the original's payload an ICMP error quotes (RFC 792).
const ICMP_QUOTED_PAYLOAD_LEN: usize = 8;
/// Length of the IPv4 header written here (no options).
const IPV4_HEADER_LEN: usize = 20;
/// TTL of the ICMP errors sent from here.
const ICMP_TTL: u8 = 64;

/// Writes into `out` an ICMPv4 "destination unreachable: fragmentation
/// needed and DF set" (type 3 code 4) from `from` to the source of
/// `original`, carrying `next_hop_mtu` (RFC 1191) and quoting the original's
/// IP header and the first 8 bytes of its payload (RFC 792). Returns the
/// length written.
///
/// Returns `None`, writing nothing, when `out` is too small, `original`
/// does not parse, or no ICMP error may be sent about it (RFC 1122
/// §3.2.2): it is itself an ICMP error, it is a non-first fragment, its
/// source is 0.0.0.0, multicast or broadcast, or its destination is
/// multicast or broadcast.
pub fn icmp_frag_needed(
    original: &[u8],
    next_hop_mtu: u16,
    from: Ipv4Addr,
    out: &mut [u8],
) -> Option<usize> {
    let meta = parse_ipv4(original).ok()?;
    if meta.is_fragment
        || meta.src.is_unspecified()
        || meta.src.is_multicast()
        || meta.src.is_broadcast()
        || meta.dst.is_multicast()
        || meta.dst.is_broadcast()
    {
        return None;
    }
    if let L4::Icmp { icmp_type, .. } = meta.l4 {
        if ICMP_ERROR_TYPES.contains(&icmp_type) {
            return None;
        }
    }
    let payload_len = meta.total_len - meta.header_len;
    let quoted = original.get(..meta.header_len + payload_len.min(ICMP_QUOTED_PAYLOAD_LEN))?;
    let icmp_len = ICMP_HEADER_LEN + quoted.len();
    let total_len = IPV4_HEADER_LEN + icmp_len;
    let out = out.get_mut(..total_len)?;
    // At most 20 + 8 + 60 + 8 bytes.
    let total_len_field = u16::try_from(total_len).ok()?;

    let (ip, icmp) = out.split_at_mut(IPV4_HEADER_LEN);
    ip.fill(0);
    ip[0] = 0x45; // version 4, header length 5 words
    ip[2..4].copy_from_slice(&total_len_field.to_be_bytes());
    ip[8] = ICMP_TTL;
    ip[9] = u8::from(IpProtocol::Icmp);
    ip[12..16].copy_from_slice(&from.octets());
    ip[16..20].copy_from_slice(&meta.src.octets());
    let ip_checksum = ipv4_checksum(ip);
    ip[10..12].copy_from_slice(&ip_checksum.to_be_bytes());

    icmp[..ICMP_HEADER_LEN].fill(0);
    icmp[0] = ICMP_DEST_UNREACHABLE;
    icmp[1] = ICMP_CODE_FRAG_NEEDED;
    icmp[6..8].copy_from_slice(&next_hop_mtu.to_be_bytes());
    icmp[ICMP_HEADER_LEN..].copy_from_slice(quoted);
    let icmp_checksum = ipv4_checksum(icmp);
    icmp[2..4].copy_from_slice(&icmp_checksum.to_be_bytes());
    Some(total_len)
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
            // an error says what is wrong; a parsed packet's lengths are
            // within the buffer, and what it quotes of itself reads the same
            match parse_ipv4(&bytes) {
                Err(e) => match bytes.first().map(|b| b >> 4) {
                    None => proptest::prop_assert_eq!(e, PacketError::Truncated),
                    Some(4) => proptest::prop_assert_ne!(e, PacketError::NotIpv4),
                    Some(_) => proptest::prop_assert_eq!(e, PacketError::NotIpv4),
                },
                Ok(m) => {
                    proptest::prop_assert!(m.header_len >= IPV4_HEADER_LEN);
                    proptest::prop_assert!(m.header_len <= m.total_len && m.total_len <= bytes.len());
                    if m.total_len - m.header_len >= TRANSPORT_PREFIX_LEN {
                        let q = parse_quoted_ipv4(&bytes[..m.total_len]);
                        proptest::prop_assert!(q.is_some(), "a whole packet quotes");
                        let q = q.unwrap();
                        proptest::prop_assert_eq!((q.src, q.dst, q.proto, q.l4), (m.src, m.dst, m.proto, m.l4));
                    }
                }
            }
            if let Some(q) = parse_quoted_ipv4(&bytes) {
                proptest::prop_assert!(q.header_len >= IPV4_HEADER_LEN);
                proptest::prop_assert!(q.header_len + TRANSPORT_PREFIX_LEN <= bytes.len());
                proptest::prop_assert!(q.total_len <= bytes.len());
            }
        }
    }

    #[test]
    fn parses_what_an_icmp_error_quotes() {
        // the IP header and the first 8 bytes of a 40-byte TCP SYN
        let syn = ipv4(
            [1, 1, 1, 1],
            [2, 2, 2, 2],
            6,
            true,
            &tcp_header(40000, 443, 0x02),
        );
        let quoted = parse_quoted_ipv4(&syn[..28]).unwrap();
        assert_eq!(
            quoted.l4,
            L4::Tcp {
                src_port: 40000,
                dst_port: 443
            }
        );
        assert_eq!(
            (quoted.src, quoted.dst),
            (Ipv4Addr::new(1, 1, 1, 1), Ipv4Addr::new(2, 2, 2, 2))
        );
        assert_eq!(
            (quoted.total_len, quoted.tcp_flags),
            (28, 0),
            "flags not quoted"
        );
        // quoted whole, it reads as the packet itself
        assert_eq!(parse_quoted_ipv4(&syn), parse_ipv4(&syn).ok());
        // an echo request keeps its identifier
        let echo = ipv4(
            [1, 1, 1, 1],
            [2, 2, 2, 2],
            1,
            false,
            &[8, 0, 0, 0, 0, 7, 0, 1],
        );
        assert_eq!(parse_quoted_ipv4(&echo).unwrap().icmp_id, Some(7));
        // less than 8 bytes after the header, or not IPv4: nothing
        assert_eq!(parse_quoted_ipv4(&syn[..27]), None);
        assert_eq!(parse_quoted_ipv4(&[0x65; 28]), None);
        assert_eq!(
            parse_quoted_ipv4(&[0x44; 28]),
            None,
            "a header under 20 bytes"
        );
        // a non-first fragment has no ports
        let mut frag = syn.clone();
        frag[7] = 10;
        let f = parse_quoted_ipv4(&frag[..28]).unwrap();
        assert!(f.is_fragment);
        assert_eq!(f.l4, L4::Other(6));
    }

    // ---- MSS clamping ----

    use smoltcp::wire::{Icmpv4Message, Icmpv4Packet, IpAddress, TcpPacket};

    const SRC: [u8; 4] = [10, 0, 0, 1];
    const DST: [u8; 4] = [10, 0, 0, 2];

    /// A TCP/IPv4 packet with the given flags and option bytes (padded with
    /// EOL to a multiple of 4), a few payload bytes, and a valid TCP
    /// checksum (filled by smoltcp).
    fn tcp_packet(flags: u8, options: &[u8]) -> Vec<u8> {
        let mut seg = tcp_header(40000, 443, flags);
        seg.extend_from_slice(options);
        while seg.len() & 3 != 0 {
            seg.push(tcp_option::EOL);
        }
        seg[12] = ((seg.len() / 4) as u8) << 4;
        seg.extend_from_slice(b"xyz");
        TcpPacket::new_unchecked(&mut seg[..]).fill_checksum(
            &IpAddress::from(Ipv4Addr::from(SRC)),
            &IpAddress::from(Ipv4Addr::from(DST)),
        );
        let p = ipv4(SRC, DST, 6, true, &seg);
        assert!(tcp_checksum_verifies(&p));
        p
    }

    /// The TCP segment of a packet built by [`tcp_packet`].
    fn segment(p: &[u8]) -> &[u8] {
        &p[20..]
    }

    /// The TCP checksum checked by smoltcp.
    fn smoltcp_verifies(p: &[u8]) -> bool {
        let ip = Ipv4Packet::new_checked(p).unwrap();
        TcpPacket::new_checked(ip.payload())
            .unwrap()
            .verify_checksum(
                &IpAddress::from(ip.src_addr()),
                &IpAddress::from(ip.dst_addr()),
            )
    }

    /// The TCP checksum checked by a naive recomputation that shares no
    /// code with the module: pseudo-header plus segment, 16-bit big-endian
    /// words summed in a u64, folded, must come to 0xffff.
    fn recomputed_verifies(p: &[u8]) -> bool {
        let seg = segment(p);
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&p[12..20]);
        bytes.extend_from_slice(&[0, 6]);
        bytes.extend_from_slice(&(seg.len() as u16).to_be_bytes());
        bytes.extend_from_slice(seg);
        if bytes.len() % 2 == 1 {
            bytes.push(0);
        }
        let mut sum: u64 = bytes
            .chunks(2)
            .map(|w| u64::from(w[0]) << 8 | u64::from(w[1]))
            .sum();
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        sum == 0xffff
    }

    fn tcp_checksum_verifies(p: &[u8]) -> bool {
        smoltcp_verifies(p) && recomputed_verifies(p)
    }

    /// The MSS values found in the packet's (well-formed) options.
    fn mss_values(p: &[u8]) -> Vec<u16> {
        let seg = segment(p);
        let area = &seg[20..usize::from(seg[12] >> 4) * 4];
        TcpOptions::new(area)
            .map(Result::unwrap)
            .filter(|o| o.kind == tcp_option::MSS)
            .map(|o| u16::from_be_bytes([area[o.offset + 2], area[o.offset + 3]]))
            .collect()
    }

    fn mss(value: u16) -> [u8; 4] {
        let [hi, lo] = value.to_be_bytes();
        [tcp_option::MSS, 4, hi, lo]
    }

    #[test]
    fn clamps_mss_of_a_syn_and_keeps_the_checksum_valid() {
        let mut p = tcp_packet(tcp_flags::SYN, &mss(1460));
        assert!(clamp_tcp_mss(&mut p, 1380));
        assert_eq!(mss_values(&p), [1380]);
        assert!(smoltcp_verifies(&p));
        assert!(recomputed_verifies(&p));
    }

    #[test]
    fn clamps_mss_of_a_syn_ack() {
        let mut p = tcp_packet(tcp_flags::SYN | tcp_flags::ACK, &mss(65495));
        assert!(clamp_tcp_mss(&mut p, 1380));
        assert_eq!(mss_values(&p), [1380]);
        assert!(tcp_checksum_verifies(&p));
    }

    #[test]
    fn clamps_mss_at_an_odd_offset_among_other_options() {
        // NOP, then MSS at an odd offset, then window scale, SACK-permitted,
        // timestamps: a typical Linux SYN, shuffled.
        let mut options = vec![tcp_option::NOP];
        options.extend_from_slice(&mss(8960));
        options.extend_from_slice(&[3, 3, 7, 4, 2]);
        options.extend_from_slice(&[8, 10, 1, 2, 3, 4, 0, 0, 0, 0]);
        let mut p = tcp_packet(tcp_flags::SYN, &options);
        let before = p.clone();
        assert!(clamp_tcp_mss(&mut p, 1400));
        assert_eq!(mss_values(&p), [1400]);
        assert!(tcp_checksum_verifies(&p));
        // Only the MSS value and the checksum changed.
        let changed: Vec<usize> = (0..p.len()).filter(|&i| p[i] != before[i]).collect();
        assert!(
            changed.iter().all(|&i| [36, 37, 43, 44].contains(&i)),
            "{changed:?}"
        );
    }

    #[test]
    fn clamps_every_oversized_mss_option() {
        let mut options = mss(9000).to_vec();
        options.push(tcp_option::NOP);
        options.extend_from_slice(&mss(1200));
        options.extend_from_slice(&mss(1500));
        let mut p = tcp_packet(tcp_flags::SYN, &options);
        assert!(clamp_tcp_mss(&mut p, 1300));
        assert_eq!(mss_values(&p), [1300, 1200, 1300]);
        assert!(tcp_checksum_verifies(&p));
    }

    #[test]
    fn leaves_a_small_enough_mss_alone() {
        for value in [536, 1380] {
            let mut p = tcp_packet(tcp_flags::SYN, &mss(value));
            let before = p.clone();
            assert!(!clamp_tcp_mss(&mut p, 1380));
            assert_eq!(p, before);
        }
    }

    #[test]
    fn leaves_non_syn_segments_alone() {
        for flags in [
            tcp_flags::ACK,
            tcp_flags::FIN | tcp_flags::ACK,
            tcp_flags::RST,
            0,
        ] {
            let mut p = tcp_packet(flags, &mss(1460));
            let before = p.clone();
            assert!(!clamp_tcp_mss(&mut p, 1380));
            assert_eq!(p, before);
        }
    }

    #[test]
    fn does_not_insert_an_mss_option() {
        for options in [&[][..], &[1, 1, 3, 3, 7][..], &[4, 2][..]] {
            let mut p = tcp_packet(tcp_flags::SYN, options);
            let before = p.clone();
            assert!(!clamp_tcp_mss(&mut p, 1380));
            assert_eq!(p, before);
        }
    }

    #[test]
    fn ignores_options_after_eol() {
        let mut options = vec![tcp_option::NOP, tcp_option::EOL];
        options.extend_from_slice(&mss(1460));
        let mut p = tcp_packet(tcp_flags::SYN, &options);
        let before = p.clone();
        assert!(!clamp_tcp_mss(&mut p, 1380));
        assert_eq!(p, before);
    }

    #[test]
    fn leaves_malformed_options_alone() {
        let big = mss(1460);
        let cases: Vec<Vec<u8>> = vec![
            // MSS option running past the header (length says 4, 3 left).
            vec![1, 2, 4, 5],
            // Kind byte with no length byte.
            vec![1, 1, 1, 2],
            // Zero-length option before a good MSS (would loop forever).
            [&[8, 0][..], &big, &[1, 1]].concat(),
            // Length 1 option before a good MSS.
            [&[8, 1][..], &big, &[1, 1]].concat(),
            // Good MSS, then an option whose length overruns the header.
            [&big[..], &[3, 9, 1, 1]].concat(),
            // MSS option of the wrong length.
            vec![2, 3, 5, 1],
            vec![2, 6, 5, 0xb4, 0, 0, 1, 1],
        ];
        for options in cases {
            let mut p = tcp_packet(tcp_flags::SYN, &options);
            let before = p.clone();
            assert!(!clamp_tcp_mss(&mut p, 1380), "{options:?}");
            assert_eq!(p, before);
        }
    }

    #[test]
    fn leaves_a_bad_data_offset_alone() {
        let good = tcp_packet(tcp_flags::SYN, &mss(1460));
        // Data offset below 5 words, and past the end of the segment.
        for offset in [4u8, 15] {
            let mut p = good.clone();
            p[20 + 12] = offset << 4;
            let before = p.clone();
            assert!(!clamp_tcp_mss(&mut p, 1380));
            assert_eq!(p, before);
        }
    }

    #[test]
    fn leaves_other_protocols_fragments_and_garbage_alone() {
        // UDP with bytes that would look like a SYN with MSS.
        let good = tcp_packet(tcp_flags::SYN, &mss(1460));
        let mut udp = good.clone();
        udp[9] = 17;
        let before = udp.clone();
        assert!(!clamp_tcp_mss(&mut udp, 1380));
        assert_eq!(udp, before);
        // A non-first fragment.
        let mut frag = good.clone();
        frag[7] = 1;
        let before = frag.clone();
        assert!(!clamp_tcp_mss(&mut frag, 1380));
        assert_eq!(frag, before);
        // Truncated: the IP total length cuts into the options.
        let mut cut = good.clone();
        cut[2..4].copy_from_slice(&42u16.to_be_bytes());
        let before = cut.clone();
        assert!(!clamp_tcp_mss(&mut cut, 1380));
        assert_eq!(cut, before);
        assert!(!clamp_tcp_mss(&mut [], 1380));
        assert!(!clamp_tcp_mss(&mut [0x45; 3], 1380));
    }

    #[test]
    fn checksum_adjust_matches_a_full_recomputation() {
        let mut header = [
            0x45u8, 0, 0, 60, 0x1c, 0x46, 0x40, 0, 0x40, 6, 0, 0, 172, 16, 10, 99, 172, 16, 10, 12,
        ];
        let sum = ipv4_checksum(&header);
        header[10..12].copy_from_slice(&sum.to_be_bytes());
        assert!(Ipv4Packet::new_unchecked(&header[..]).verify_checksum());
        assert_eq!(ipv4_checksum(&header), 0);
        // Decrement the TTL (word 4: TTL, protocol).
        let old = u16::from_be_bytes([header[8], header[9]]);
        header[8] -= 1;
        let new = u16::from_be_bytes([header[8], header[9]]);
        let adjusted = checksum_adjust(sum, old, new);
        header[10..12].fill(0);
        assert_eq!(adjusted, ipv4_checksum(&header));
    }

    proptest::proptest! {
        #[test]
        fn random_tcp_options_never_panic_and_keep_the_checksum_valid(
            options in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..=40),
            mss_at in proptest::option::of(0usize..=36),
            flags in proptest::prelude::any::<u8>(),
            max_mss in proptest::prelude::any::<u16>(),
        ) {
            let mut options = options;
            // Often plant a well-formed MSS option so that changes happen.
            if let Some(at) = mss_at {
                if at + 4 <= options.len() {
                    options[at..at + 4].copy_from_slice(&[2, 4, 0xff, 0xf0]);
                }
            }
            let mut p = tcp_packet(flags, &options);
            let before = p.clone();
            if clamp_tcp_mss(&mut p, max_mss) {
                proptest::prop_assert!(smoltcp_verifies(&p));
                proptest::prop_assert!(recomputed_verifies(&p));
                proptest::prop_assert!(flags & tcp_flags::SYN != 0);
                proptest::prop_assert!(mss_values(&p).iter().all(|&v| v <= max_mss));
                proptest::prop_assert_eq!(p.len(), before.len());
            } else {
                proptest::prop_assert_eq!(p, before);
            }
        }

        #[test]
        fn well_formed_options_are_clamped_at_any_alignment(
            pieces in proptest::collection::vec(0usize..5, 0..8),
            mss_value in proptest::prelude::any::<u16>(),
            syn_ack in proptest::prelude::any::<bool>(),
            max_mss in proptest::prelude::any::<u16>(),
        ) {
            // NOP, MSS, window scale, SACK permitted, timestamps.
            let mut options = Vec::new();
            for piece in pieces {
                let bytes: &[u8] = match piece {
                    0 => &[1],
                    1 => &mss(mss_value),
                    2 => &[3, 3, 7],
                    3 => &[4, 2],
                    _ => &[8, 10, 1, 2, 3, 4, 5, 6, 7, 8],
                };
                if options.len() + bytes.len() <= 40 {
                    options.extend_from_slice(bytes);
                }
            }
            let flags = if syn_ack { tcp_flags::SYN | tcp_flags::ACK } else { tcp_flags::SYN };
            let mut p = tcp_packet(flags, &options);
            let had = mss_values(&p);
            let changed = clamp_tcp_mss(&mut p, max_mss);
            proptest::prop_assert_eq!(changed, had.iter().any(|&v| v > max_mss));
            let expected: Vec<u16> = had.iter().map(|&v| v.min(max_mss)).collect();
            proptest::prop_assert_eq!(mss_values(&p), expected);
            proptest::prop_assert!(smoltcp_verifies(&p));
            proptest::prop_assert!(recomputed_verifies(&p));
        }

        #[test]
        fn clamp_never_panics_on_random_bytes(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..120),
            max_mss in proptest::prelude::any::<u16>(),
        ) {
            // it changes only a parsed TCP SYN, which still parses the
            // same and is clamped after; anything else is left alone
            let mut clamped = bytes.clone();
            if clamp_tcp_mss(&mut clamped, max_mss) {
                let before = parse_ipv4(&bytes);
                proptest::prop_assert!(before.is_ok());
                let before = before.unwrap();
                proptest::prop_assert!(before.tcp_flags & tcp_flags::SYN != 0);
                proptest::prop_assert_eq!(parse_ipv4(&clamped), Ok(before));
                proptest::prop_assert_eq!(clamped.len(), bytes.len());
                proptest::prop_assert!(!clamp_tcp_mss(&mut clamped, max_mss), "twice is once");
            } else {
                proptest::prop_assert_eq!(clamped, bytes);
            }
        }

        #[test]
        fn frag_needed_never_panics_on_random_bytes(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..120),
            out_len in 0usize..128,
        ) {
            let mut out = [0u8; 128];
            if let Some(n) = icmp_frag_needed(&bytes, 1400, Ipv4Addr::new(192, 0, 2, 1), &mut out[..out_len]) {
                proptest::prop_assert!(n <= out_len);
                let ip = Ipv4Packet::new_checked(&out[..n]).unwrap();
                proptest::prop_assert!(ip.verify_checksum());
                proptest::prop_assert!(Icmpv4Packet::new_checked(ip.payload()).unwrap().verify_checksum());
            } else {
                proptest::prop_assert!(out.iter().all(|&b| b == 0), "nothing written");
            }
        }
    }

    // ---- ICMP fragmentation needed ----

    const GATEWAY: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

    /// A DF TCP packet with 100 bytes of data.
    fn big_tcp_packet() -> Vec<u8> {
        let mut seg = tcp_header(40000, 443, tcp_flags::ACK);
        seg.extend((0..100).map(|i| i as u8));
        ipv4(SRC, DST, 6, true, &seg)
    }

    #[test]
    fn frag_needed_is_well_formed() {
        let original = big_tcp_packet();
        let mut out = [0xaau8; 128];
        let n = icmp_frag_needed(&original, 1380, GATEWAY, &mut out).unwrap();
        assert_eq!(n, 20 + 8 + 20 + 8);

        let ip = Ipv4Packet::new_checked(&out[..n]).unwrap();
        assert!(ip.verify_checksum());
        assert_eq!(ip.version(), 4);
        assert_eq!(ip.header_len(), 20);
        assert_eq!(usize::from(ip.total_len()), n);
        assert_eq!(ip.hop_limit(), 64);
        assert_eq!(ip.next_header(), IpProtocol::Icmp);
        assert_eq!(ip.src_addr(), GATEWAY);
        assert_eq!(ip.dst_addr(), Ipv4Addr::from(SRC));
        assert_eq!(ip.frag_offset(), 0);
        assert!(!ip.more_frags());

        let icmp = Icmpv4Packet::new_checked(ip.payload()).unwrap();
        assert!(icmp.verify_checksum());
        assert_eq!(icmp.msg_type(), Icmpv4Message::DstUnreachable);
        assert_eq!(icmp.msg_code(), 4);
        let raw = ip.payload();
        assert_eq!(&raw[4..6], &[0, 0], "unused field");
        assert_eq!(u16::from_be_bytes([raw[6], raw[7]]), 1380);
        assert_eq!(icmp.data(), &original[..28]);

        // Our own parser reads it back as an ICMP error, not an echo.
        let meta = parse_ipv4(&out[..n]).unwrap();
        assert_eq!(
            meta.l4,
            L4::Icmp {
                icmp_type: 3,
                code: 4
            }
        );
        assert_eq!(meta.icmp_id, None);
    }

    #[test]
    fn frag_needed_quotes_ip_options_and_a_short_payload() {
        // IHL 6 (one options word of NOPs), 4 bytes of payload, and 6
        // bytes of trailing junk past the total length that must not be
        // quoted.
        let mut original = vec![0u8; 24];
        original[0] = 0x46;
        original[2..4].copy_from_slice(&28u16.to_be_bytes());
        original[6] = 0x40;
        original[8] = 64;
        original[9] = 47; // GRE: no transport header to parse
        original[12..16].copy_from_slice(&SRC);
        original[16..20].copy_from_slice(&DST);
        original[20..24].fill(1);
        original.extend_from_slice(&[9, 8, 7, 6]);
        Ipv4Packet::new_unchecked(&mut original[..]).fill_checksum();
        original.extend_from_slice(&[0xee; 6]);

        let mut out = [0u8; 128];
        let n = icmp_frag_needed(&original, 576, GATEWAY, &mut out).unwrap();
        assert_eq!(n, 20 + 8 + 24 + 4);
        let ip = Ipv4Packet::new_checked(&out[..n]).unwrap();
        assert!(ip.verify_checksum());
        let icmp = Icmpv4Packet::new_checked(ip.payload()).unwrap();
        assert!(icmp.verify_checksum());
        assert_eq!(icmp.data(), &original[..28]);
        assert_eq!(&ip.payload()[6..8], &576u16.to_be_bytes());
    }

    #[test]
    fn frag_needed_answers_icmp_queries_but_not_icmp_errors() {
        let echo = ipv4(SRC, DST, 1, true, &[8, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0]);
        let mut out = [0u8; 128];
        assert!(icmp_frag_needed(&echo, 1380, GATEWAY, &mut out).is_some());
        for icmp_type in [3u8, 4, 5, 11, 12] {
            let error = ipv4(
                SRC,
                DST,
                1,
                true,
                &[icmp_type, 0, 0, 0, 0, 0, 0, 0, 0x45, 0, 0, 0],
            );
            assert_eq!(
                icmp_frag_needed(&error, 1380, GATEWAY, &mut out),
                None,
                "type {icmp_type}"
            );
        }
    }

    #[test]
    fn frag_needed_needs_room() {
        let original = big_tcp_packet();
        let mut out = [0u8; 56];
        assert_eq!(
            icmp_frag_needed(&original, 1380, GATEWAY, &mut out[..55]),
            None
        );
        assert_eq!(out, [0u8; 56], "nothing written");
        assert_eq!(
            icmp_frag_needed(&original, 1380, GATEWAY, &mut out),
            Some(56)
        );
        assert_eq!(icmp_frag_needed(&original, 1380, GATEWAY, &mut []), None);
    }

    #[test]
    fn frag_needed_refuses_unparsable_and_unanswerable_originals() {
        let mut out = [0u8; 128];
        assert_eq!(icmp_frag_needed(&[], 1380, GATEWAY, &mut out), None);
        assert_eq!(icmp_frag_needed(&[0x45; 10], 1380, GATEWAY, &mut out), None);
        let seg = tcp_header(1, 2, tcp_flags::ACK);
        for (src, dst) in [
            ([0, 0, 0, 0], DST),
            ([224, 0, 0, 5], DST),
            ([255, 255, 255, 255], DST),
            (SRC, [239, 1, 2, 3]),
            (SRC, [255, 255, 255, 255]),
        ] {
            let p = ipv4(src, dst, 6, true, &seg);
            assert_eq!(
                icmp_frag_needed(&p, 1380, GATEWAY, &mut out),
                None,
                "{src:?} -> {dst:?}"
            );
        }
        // A non-first fragment.
        let mut frag = ipv4(SRC, DST, 6, true, &seg);
        frag[7] = 10;
        Ipv4Packet::new_unchecked(&mut frag[..]).fill_checksum();
        assert_eq!(icmp_frag_needed(&frag, 1380, GATEWAY, &mut out), None);
    }
}
