//! The `TCA_OPTIONS` of the `tbf`, `htb` and `netem` qdiscs, encoded byte
//! for byte as iproute2's `tc` encodes them (netlink-packet-route has no
//! typed options for them), and the sizes `tc` would choose (burst, queue
//! limits, loss scaling). Pure byte work, tested against captures of `tc`.

use rtnetlink::packet_core::DefaultNla;
use rtnetlink::packet_route::tc::{TcAttribute, TcHandle, TcMessage};

const TCA_OPTIONS: u16 = 2;
const TCA_TBF_PARMS: u16 = 1;
const TCA_TBF_RATE64: u16 = 4;
const TCA_TBF_BURST: u16 = 6;
const TCA_HTB_INIT: u16 = 2;
const TCA_NETEM_RATE: u16 = 6;
const TCA_NETEM_RATE64: u16 = 8;
const TCA_NETEM_LATENCY64: u16 = 10;
const TCA_NETEM_JITTER64: u16 = 11;
const TC_LINKLAYER_ETHERNET: u8 = 1;
/// The kernel's packet scheduler clock: one tick is 64 ns (PSCHED_SHIFT).
const PSCHED_SHIFT: u32 = 6;
/// A loss percentage as netem's fraction of `u32::MAX` (as `tc` rounds it).
pub(super) fn loss_scaled(percent: f64) -> u32 {
    (percent / 100.0 * f64::from(u32::MAX)).round() as u32
}

/// Netem's queue, in packets: 10 000, or twice the bandwidth-delay product
/// in 1500-byte packets when that is more.
pub(super) fn netem_limit(rate_bytes: Option<u64>, delay_ns: u64) -> u32 {
    let bdp = rate_bytes
        .map(|r| (u128::from(r) * u128::from(delay_ns) / 1_000_000_000 / 1500 * 2) as u64)
        .unwrap_or(0);
    u32::try_from(bdp.max(10_000)).unwrap_or(u32::MAX)
}

/// Token bucket size: 4 ms worth of the rate, at least two full frames.
pub(super) fn tbf_burst(rate_bytes: u64, mtu: u32) -> u32 {
    let frames = 2 * (u64::from(mtu) + 14);
    u32::try_from((rate_bytes / 250).max(frames)).unwrap_or(u32::MAX)
}

/// Queue size in bytes: the burst plus 50 ms worth of the rate.
pub(super) fn tbf_limit(rate_bytes: u64, burst: u32) -> u32 {
    u32::try_from(u64::from(burst) + rate_bytes / 20).unwrap_or(u32::MAX)
}

/// Nanoseconds as packet scheduler ticks (saturating).
fn ns_to_ticks(ns: u64) -> u32 {
    u32::try_from(ns >> PSCHED_SHIFT).unwrap_or(u32::MAX)
}

/// One netlink attribute, padded to 4 bytes.
fn nla(kind: u16, value: &[u8]) -> Vec<u8> {
    let len = 4 + value.len();
    let mut out = Vec::with_capacity((len + 3) & !3);
    out.extend_from_slice(&(len as u16).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(value);
    out.resize((len + 3) & !3, 0);
    out
}

/// `TCA_OPTIONS` of a tbf: `tc_tbf_qopt` with an Ethernet link layer (so
/// the kernel needs no rate table), the burst in bytes, and the 64-bit
/// rate when the rate does not fit 32 bits.
pub(super) fn tbf_options(rate_bytes: u64, burst: u32, limit: u32) -> Vec<u8> {
    let rate32 = u32::try_from(rate_bytes).unwrap_or(u32::MAX);
    let buffer_ns = u128::from(burst) * 1_000_000_000 / u128::from(rate_bytes.max(1));
    let buffer = ns_to_ticks(u64::try_from(buffer_ns).unwrap_or(u64::MAX));
    let mut parms = Vec::with_capacity(36);
    // struct tc_ratespec rate
    parms.push(0); // cell_log
    parms.push(TC_LINKLAYER_ETHERNET);
    parms.extend_from_slice(&0u16.to_ne_bytes()); // overhead
    parms.extend_from_slice(&0i16.to_ne_bytes()); // cell_align
    parms.extend_from_slice(&0u16.to_ne_bytes()); // mpu
    parms.extend_from_slice(&rate32.to_ne_bytes());
    parms.extend_from_slice(&[0; 12]); // peakrate: none
    parms.extend_from_slice(&limit.to_ne_bytes());
    parms.extend_from_slice(&buffer.to_ne_bytes());
    parms.extend_from_slice(&0u32.to_ne_bytes()); // mtu (for peakrate)
    let mut out = nla(TCA_TBF_PARMS, &parms);
    out.extend(nla(TCA_TBF_BURST, &burst.to_ne_bytes()));
    if rate_bytes > u64::from(u32::MAX) {
        out.extend(nla(TCA_TBF_RATE64, &rate_bytes.to_ne_bytes()));
    }
    out
}

/// `TCA_OPTIONS` of an htb with no default class (`tc_htb_glob`).
pub(super) fn htb_options() -> Vec<u8> {
    let mut glob = Vec::with_capacity(20);
    for v in [3u32 /* version */, 10 /* r2q */, 0, 0, 0] {
        glob.extend_from_slice(&v.to_ne_bytes());
    }
    nla(TCA_HTB_INIT, &glob)
}

#[derive(Debug, Clone, PartialEq)]
/// The values of a netem qdisc, as its options carry them.
pub(super) struct NetemParams {
    /// Added delay.
    pub(super) latency_ns: u64,
    /// Delay variation.
    pub(super) jitter_ns: u64,
    /// Loss probability scaled to `u32::MAX`.
    pub(super) loss: u32,
    /// Queue length in packets.
    pub(super) limit: u32,
    /// Rate limit in bytes a second.
    pub(super) rate_bytes: Option<u64>,
}

impl Default for NetemParams {
    fn default() -> Self {
        NetemParams {
            latency_ns: 0,
            jitter_ns: 0,
            loss: 0,
            limit: 1000,
            rate_bytes: None,
        }
    }
}

/// `TCA_OPTIONS` of a netem: a bare `tc_netem_qopt` followed by attributes
/// (netem's options are not an attribute list), as `tc` sends them.
pub(super) fn netem_options(p: &NetemParams) -> Vec<u8> {
    let latency = ns_to_ticks(p.latency_ns);
    let jitter = ns_to_ticks(p.jitter_ns);
    let mut out = Vec::with_capacity(64);
    // struct tc_netem_qopt: latency, limit, loss, gap, duplicate, jitter
    for v in [latency, p.limit, p.loss, 0, 0, jitter] {
        out.extend_from_slice(&v.to_ne_bytes());
    }
    if latency == u32::MAX {
        let ns = i64::try_from(p.latency_ns).unwrap_or(i64::MAX);
        out.extend(nla(TCA_NETEM_LATENCY64, &ns.to_ne_bytes()));
    }
    if jitter == u32::MAX {
        let ns = i64::try_from(p.jitter_ns).unwrap_or(i64::MAX);
        out.extend(nla(TCA_NETEM_JITTER64, &ns.to_ne_bytes()));
    }
    if let Some(rate) = p.rate_bytes {
        let rate32 = u32::try_from(rate).unwrap_or(u32::MAX);
        if rate32 == u32::MAX {
            out.extend(nla(TCA_NETEM_RATE64, &rate.to_ne_bytes()));
        }
        // struct tc_netem_rate: rate, packet_overhead, cell_size, cell_overhead
        let mut r = Vec::with_capacity(16);
        r.extend_from_slice(&rate32.to_ne_bytes());
        r.extend_from_slice(&[0; 12]);
        out.extend(nla(TCA_NETEM_RATE, &r));
    }
    out
}

/// A root qdisc of `kind` with the given handle and `TCA_OPTIONS` on the
/// link with this index.
pub(super) fn qdisc_message(
    index: u32,
    handle: TcHandle,
    kind: &str,
    options: Vec<u8>,
) -> TcMessage {
    let mut m = TcMessage::with_index(index as i32);
    m.header.parent = TcHandle::ROOT;
    m.header.handle = handle;
    m.attributes.push(TcAttribute::Kind(kind.to_string()));
    m.attributes
        .push(TcAttribute::Other(DefaultNla::new(TCA_OPTIONS, options)));
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes `tc qdisc replace dev X root netem delay 10ms 2ms loss 1.5%
    /// rate 1mbit` (iproute2 6.1) puts in TCA_OPTIONS, captured with strace.
    #[cfg(target_endian = "little")]
    #[test]
    fn netem_options_match_tc() {
        let tc: &[u8] = b"\x5a\x62\x02\x00\xe8\x03\x00\x00\x3d\x0a\xd7\x03\x00\x00\x00\x00\
            \x00\x00\x00\x00\x12\x7a\x00\x00\x14\x00\x06\x00\x48\xe8\x01\x00\
            \x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00";
        let p = NetemParams {
            latency_ns: 10_000_000,
            jitter_ns: 2_000_000,
            loss: loss_scaled(1.5),
            limit: 1000,
            rate_bytes: Some(1_000_000 / 8),
        };
        assert_eq!(netem_options(&p), tc);
        // 8gbit: 1e9 bytes/s still fits the 32-bit rate
        let p = NetemParams {
            rate_bytes: Some(8_000_000_000 / 8),
            ..p
        };
        assert_eq!(&netem_options(&p)[28..32], b"\x00\xca\x9a\x3b");
    }

    #[test]
    fn netem_long_delays_and_fast_rates_use_64_bit_attributes() {
        let p = NetemParams {
            latency_ns: 600_000_000_000, // 600 s: more ticks than 32 bits hold
            rate_bytes: Some(10_000_000_000),
            ..NetemParams::default()
        };
        let o = netem_options(&p);
        assert_eq!(u32::from_ne_bytes(o[0..4].try_into().unwrap()), u32::MAX);
        let kinds: Vec<u16> = attrs(&o[24..]).into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            kinds,
            [TCA_NETEM_LATENCY64, TCA_NETEM_RATE64, TCA_NETEM_RATE]
        );
    }

    fn attrs(mut b: &[u8]) -> Vec<(u16, Vec<u8>)> {
        let mut out = Vec::new();
        while b.len() >= 4 {
            let len = u16::from_ne_bytes([b[0], b[1]]) as usize;
            let kind = u16::from_ne_bytes([b[2], b[3]]);
            out.push((kind, b[4..len].to_vec()));
            b = &b[((len + 3) & !3).min(b.len())..];
        }
        out
    }

    #[test]
    fn tbf_options_layout() {
        let o = tbf_options(1_250_000, 10_000, 72_500);
        let a = attrs(&o);
        assert_eq!(a.len(), 2);
        assert_eq!(a[0].0, TCA_TBF_PARMS);
        let parms = &a[0].1;
        assert_eq!(parms.len(), 36);
        assert_eq!(parms[1], TC_LINKLAYER_ETHERNET);
        assert_eq!(
            u32::from_ne_bytes(parms[8..12].try_into().unwrap()),
            1_250_000
        );
        assert_eq!(
            u32::from_ne_bytes(parms[24..28].try_into().unwrap()),
            72_500
        );
        // 10 000 bytes at 1.25 MB/s: 8 ms, in 64 ns ticks
        assert_eq!(
            u32::from_ne_bytes(parms[28..32].try_into().unwrap()),
            125_000
        );
        assert_eq!(a[1], (TCA_TBF_BURST, 10_000u32.to_ne_bytes().to_vec()));
        // 40 Gbit/s needs the 64-bit rate
        let a = attrs(&tbf_options(5_000_000_000, 20_000_000, 270_000_000));
        assert_eq!(
            a[2],
            (TCA_TBF_RATE64, 5_000_000_000u64.to_ne_bytes().to_vec())
        );
    }

    #[test]
    fn tbf_sizing() {
        // 10 Mbit/s on a 1500-byte link: two frames beat 4 ms (5 000 bytes)
        assert_eq!(tbf_burst(1_250_000, 1500), 5_000);
        assert_eq!(tbf_burst(125_000, 1500), 3_028);
        assert_eq!(tbf_limit(125_000, 3_028), 3_028 + 6_250);
        assert_eq!(tbf_burst(u64::MAX, 1500), u32::MAX);
    }

    #[test]
    fn loss_is_scaled_like_tc() {
        assert_eq!(loss_scaled(1.5), 0x03d7_0a3d);
        assert_eq!(loss_scaled(100.0), u32::MAX);
        assert_eq!(loss_scaled(0.0), 0);
    }

    #[test]
    fn netem_queue_covers_the_bandwidth_delay_product() {
        assert_eq!(netem_limit(None, 1_000_000_000), 10_000);
        // 1 GB/s for 100 ms: 100 MB, 66 666 packets, twice that
        assert_eq!(netem_limit(Some(1_000_000_000), 100_000_000), 133_332);
    }
}
