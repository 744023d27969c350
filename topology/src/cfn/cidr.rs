//! `Fn::Cidr` as AWS computes it.
//!
//! `!Cidr [block, count, cidrBits]` splits `block` into `count` consecutive
//! subnets starting at the block's first address. `cidrBits` is the number
//! of HOST bits of each subnet, not its prefix length: 8 gives /24 subnets
//! for IPv4, 64 gives /64 subnets for IPv6.

use std::net::{Ipv4Addr, Ipv6Addr};

/// The subnets `Fn::Cidr` gives for `block` (IPv4 or IPv6, written as a
/// network address with its prefix length), `count` (1 to 256) and
/// `cidr_bits` (host bits of each subnet).
///
/// Errors (as text) when the block does not parse or has host bits set,
/// when `count` is out of range, when `cidr_bits` leaves a subnet larger
/// than the block, or when `count` subnets do not fit in the block.
pub fn cidr(block: &str, count: u32, cidr_bits: u32) -> Result<Vec<String>, String> {
    let block = block.trim();
    let (addr, len) = block
        .split_once('/')
        .ok_or_else(|| format!("`{block}` is not a CIDR block (no prefix length)"))?;
    let prefix: u32 = len
        .parse()
        .map_err(|_| format!("`{block}` has an invalid prefix length `{len}`"))?;
    let (base, width, v6) = if let Ok(a) = addr.parse::<Ipv4Addr>() {
        (u128::from(u32::from(a)), 32u32, false)
    } else if let Ok(a) = addr.parse::<Ipv6Addr>() {
        (u128::from(a), 128u32, true)
    } else {
        return Err(format!("`{addr}` is not an IPv4 or IPv6 address"));
    };
    if prefix > width {
        return Err(format!(
            "`{block}`: prefix length {prefix} is longer than {width}"
        ));
    }
    let host_bits = width - prefix;
    let host_mask = if host_bits >= 128 {
        u128::MAX
    } else {
        (1u128 << host_bits) - 1
    };
    if base & host_mask != 0 {
        return Err(format!(
            "`{block}` has host bits set; Fn::Cidr needs the network address"
        ));
    }
    if !(1..=256).contains(&count) {
        return Err(format!("count {count} is out of range (1 to 256)"));
    }
    if cidr_bits > host_bits {
        return Err(format!(
            "cidrBits {cidr_bits} is too large for `{block}`: a subnet would be larger than the block (at most {host_bits})"
        ));
    }
    // How many subnets of 2^cidr_bits addresses fit in the block.
    let room_bits = host_bits - cidr_bits;
    if room_bits < 9 && u128::from(count) > (1u128 << room_bits) {
        return Err(format!(
            "`{block}` is too small for {count} subnets of /{}: only {} fit",
            width - cidr_bits,
            1u128 << room_bits
        ));
    }
    let sub_prefix = width - cidr_bits;
    let mut out = Vec::with_capacity(count as usize);
    for i in 0..u128::from(count) {
        // cidr_bits == 128 only with a /0 block and count 1: i is 0.
        let offset = if cidr_bits >= 128 { 0 } else { i << cidr_bits };
        let net = base + offset;
        let text = if v6 {
            format!("{}/{sub_prefix}", Ipv6Addr::from(net))
        } else {
            // The block is IPv4, so net fits in 32 bits.
            format!("{}/{sub_prefix}", Ipv4Addr::from(net as u32))
        };
        out.push(text);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::cidr;

    #[test]
    fn aws_example_27s_from_a_24() {
        // AWS docs: !Cidr ["192.168.0.0/24", 6, 5]
        assert_eq!(
            cidr("192.168.0.0/24", 6, 5).unwrap(),
            [
                "192.168.0.0/27",
                "192.168.0.32/27",
                "192.168.0.64/27",
                "192.168.0.96/27",
                "192.168.0.128/27",
                "192.168.0.160/27"
            ]
        );
    }

    #[test]
    fn aws_example_24s_from_a_16() {
        // AWS docs: !Cidr [10.0.0.0/16, 6, 8]
        assert_eq!(
            cidr("10.0.0.0/16", 6, 8).unwrap(),
            [
                "10.0.0.0/24",
                "10.0.1.0/24",
                "10.0.2.0/24",
                "10.0.3.0/24",
                "10.0.4.0/24",
                "10.0.5.0/24"
            ]
        );
    }

    #[test]
    fn ipv6_64s() {
        assert_eq!(
            cidr("2001:db8:1234:1a00::/56", 4, 64).unwrap(),
            [
                "2001:db8:1234:1a00::/64",
                "2001:db8:1234:1a01::/64",
                "2001:db8:1234:1a02::/64",
                "2001:db8:1234:1a03::/64"
            ]
        );
    }

    #[test]
    fn whole_block_and_single_hosts() {
        assert_eq!(cidr("10.0.0.0/24", 1, 8).unwrap(), ["10.0.0.0/24"]);
        assert_eq!(
            cidr("10.0.0.0/30", 4, 0).unwrap(),
            ["10.0.0.0/32", "10.0.0.1/32", "10.0.0.2/32", "10.0.0.3/32"]
        );
        assert_eq!(cidr("0.0.0.0/0", 1, 32).unwrap(), ["0.0.0.0/0"]);
        assert_eq!(cidr("::/0", 1, 128).unwrap(), ["::/0"]);
    }

    #[test]
    fn full_count_fits_exactly() {
        let all = cidr("10.0.0.0/16", 256, 8).unwrap();
        assert_eq!(all.len(), 256);
        assert_eq!(all[255], "10.0.255.0/24");
    }

    #[test]
    fn errors() {
        // too small: 8 x /27 is a /24, not 9
        assert!(cidr("192.168.0.0/24", 9, 5)
            .unwrap_err()
            .contains("too small"));
        // cidrBits larger than the block's host bits
        assert!(cidr("10.0.0.0/24", 1, 9).unwrap_err().contains("too large"));
        assert!(cidr("10.0.0.0/16", 0, 8).unwrap_err().contains("count"));
        assert!(cidr("10.0.0.0/16", 257, 8).unwrap_err().contains("count"));
        assert!(cidr("10.0.0.1/16", 2, 8).unwrap_err().contains("host bits"));
        assert!(cidr("10.0.0.0", 2, 8).is_err());
        assert!(cidr("10.0.0.0/33", 2, 8).is_err());
        assert!(cidr("nonsense/8", 2, 8).is_err());
        assert!(cidr("10.0.0.0/x", 2, 8).is_err());
        assert!(cidr("10.0.0.0/16", 2, u32::MAX).is_err());
    }
}
