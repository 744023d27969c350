//! The packets the gateway benchmarks feed and the SYN flood sends: TCP
//! SYNs, checksummed; the floods' pseudo-random generator; and what the
//! router-core benchmarks share: their router's configuration and the
//! [`Sink`] it sends into.

/// Writes a 20-byte IPv4 header at the start of `b` (zeroed beforehand):
/// `total_len` bytes in all, Don't Fragment `df`, TTL 64, protocol `proto`,
/// from `src` to `dst`, checksummed.
pub(super) fn write_ipv4_header(
    b: &mut [u8],
    total_len: u16,
    df: bool,
    proto: u8,
    src: [u8; 4],
    dst: [u8; 4],
) {
    b[0] = 0x45;
    b[2..4].copy_from_slice(&total_len.to_be_bytes());
    if df {
        b[6] = 0x40;
    }
    b[8] = 64; // TTL
    b[9] = proto;
    b[12..16].copy_from_slice(&src);
    b[16..20].copy_from_slice(&dst);
    let c = gateway::packet::ipv4_checksum(&b[..20]);
    b[10..12].copy_from_slice(&c.to_be_bytes());
}

/// Writes an IPv4 TCP SYN from `src:sport` to `dst:dport` with sequence
/// number `seq` into `b`, IP and TCP checksums included.
pub(super) fn write_syn(
    b: &mut [u8; 40],
    src: [u8; 4],
    dst: [u8; 4],
    sport: u16,
    dport: u16,
    seq: u32,
) {
    b.fill(0);
    write_ipv4_header(b, 40, true, 6, src, dst);
    b[20..22].copy_from_slice(&sport.to_be_bytes());
    b[22..24].copy_from_slice(&dport.to_be_bytes());
    b[24..28].copy_from_slice(&seq.to_be_bytes());
    b[32] = 5 << 4; // data offset: 20 bytes
    b[33] = 0x02; // SYN
    b[34..36].copy_from_slice(&64240u16.to_be_bytes()); // window
                                                        // The TCP checksum covers a pseudo-header and the segment.
    let mut pseudo = [0u8; 32];
    pseudo[0..8].copy_from_slice(&b[12..20]);
    pseudo[9] = 6;
    pseudo[10..12].copy_from_slice(&20u16.to_be_bytes());
    pseudo[12..].copy_from_slice(&b[20..]);
    let c = gateway::packet::ipv4_checksum(&pseudo);
    b[36..38].copy_from_slice(&c.to_be_bytes());
}

/// The SYN of flow `i`: sources, destinations and ports spread so that
/// every `i` is its own flow.
pub(super) fn flow_packet(i: usize) -> Vec<u8> {
    let i = i as u32;
    let mut b = [0u8; 40];
    write_syn(
        &mut b,
        [192, 168, (i >> 16) as u8, (i >> 8) as u8],
        [10, 0, (i & 0xff) as u8, 10],
        1024 + (i % 60000) as u16,
        443,
        0,
    );
    b.to_vec()
}

/// The configuration of the router-core benchmarks: one peer `aws`
/// (public key `peer`) carrying 10.0.0.0/8, a connection table of
/// `max_flows`, then `rest` (the policy, the flow log).
pub(super) fn router_config(
    peer: &str,
    max_flows: usize,
    rest: &str,
) -> anyhow::Result<gateway::config::GatewayConfig> {
    let text = format!(
        "[interface]\nname = \"vg0\"\nprivate_key_file = \"k\"\n[[peer]]\nname = \"aws\"\npublic_key = \"{peer}\"\nendpoint = \"192.0.2.2:51820\"\nallowed_ips = [\"10.0.0.0/8\"]\n[[route]]\nprefix = \"10.0.0.0/8\"\npeer = \"aws\"\n[conntrack]\nmax_flows = {max_flows}\n{rest}"
    );
    gateway::config::parse("bench.toml", text).map_err(|d| anyhow::anyhow!("{d}"))
}

/// Counts what the router sends instead of sending it.
pub(super) struct Sink(pub(super) usize);

impl gateway::router::Io for Sink {
    fn send_tun(&mut self, _: &[u8]) {
        self.0 += 1;
    }
    fn send_udp(&mut self, _: std::net::SocketAddr, _: &[u8]) {
        self.0 += 1;
    }
}

/// A small fast pseudo-random generator (SplitMix64) for the floods'
/// addresses, ports and bytes: they need speed, not secrecy.
pub(super) struct Rng(pub(super) u64);

impl Rng {
    pub(super) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `lo..=hi`.
    pub(super) fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next_u64() % (hi - lo + 1) as u64) as usize
    }

    pub(super) fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let r = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&r[..chunk.len()]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gateway::packet::{ipv4_checksum, parse_ipv4, tcp_flags};
    use std::net::Ipv4Addr;
    use topology::traffic::L4;

    #[test]
    fn the_syn_parses_with_good_checksums() {
        let mut b = [0u8; 40];
        write_syn(&mut b, [192, 168, 7, 9], [10, 0, 0, 1], 40000, 8080, 7);
        let meta = parse_ipv4(&b).unwrap();
        assert_eq!(meta.src, Ipv4Addr::new(192, 168, 7, 9));
        assert_eq!(meta.dst, Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(meta.tcp_flags, tcp_flags::SYN);
        assert_eq!(
            meta.l4,
            L4::Tcp {
                src_port: 40000,
                dst_port: 8080
            }
        );
        assert_eq!(ipv4_checksum(&b[..20]), 0, "IP header checksum");
        let mut pseudo = Vec::from(&b[12..20]);
        pseudo.extend_from_slice(&[0, 6, 0, 20]);
        pseudo.extend_from_slice(&b[20..]);
        assert_eq!(ipv4_checksum(&pseudo), 0, "TCP checksum");
    }
}
