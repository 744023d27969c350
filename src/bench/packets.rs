//! The packets the gateway benchmarks feed: one TCP SYN per flow.

/// An IPv4 TCP SYN from `src:sport` to `dst:dport`, checksummed.
fn syn(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16) -> Vec<u8> {
    let mut b = vec![0u8; 40];
    b[0] = 0x45;
    b[2..4].copy_from_slice(&40u16.to_be_bytes());
    b[6] = 0x40;
    b[8] = 64;
    b[9] = 6;
    b[12..16].copy_from_slice(&src);
    b[16..20].copy_from_slice(&dst);
    let c = gateway::packet::ipv4_checksum(&b[..20]);
    b[10..12].copy_from_slice(&c.to_be_bytes());
    b[20..22].copy_from_slice(&sport.to_be_bytes());
    b[22..24].copy_from_slice(&dport.to_be_bytes());
    b[32] = 5 << 4;
    b[33] = 0x02;
    b
}

/// The SYN of flow `i`: sources, destinations and ports spread so that
/// every `i` is its own flow.
pub(super) fn flow_packet(i: usize) -> Vec<u8> {
    let i = i as u32;
    syn(
        [192, 168, (i >> 16) as u8, (i >> 8) as u8],
        [10, 0, (i & 0xff) as u8, 10],
        1024 + (i % 60000) as u16,
        443,
    )
}
