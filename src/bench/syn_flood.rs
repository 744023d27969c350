//! `vifgate bench syn-flood`: a TCP SYN flood from spoofed sources, for
//! measuring the gateway's connection tracking under attack
//! (`bench/synflood.sh`). A raw IPv4 socket (`IPPROTO_RAW`, so the header
//! is ours) sends SYNs to one address and port, from random addresses of a
//! prefix and random ports, paced to a rate; root (or CAP_NET_RAW) only.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use gateway::packet::ipv4_checksum;

/// An IPv4 prefix, `a.b.c.d/len`, as the flood's source addresses.
#[derive(Debug, Clone, Copy)]
pub struct SourcePrefix {
    /// The first address.
    base: u32,
    /// The host bits.
    host_mask: u32,
}

impl std::str::FromStr for SourcePrefix {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, len) = s
            .split_once('/')
            .ok_or_else(|| format!("`{s}` is not a prefix (a.b.c.d/len)"))?;
        let addr: Ipv4Addr = addr.parse().map_err(|e| format!("`{addr}`: {e}"))?;
        let len: u32 = len
            .parse()
            .ok()
            .filter(|l| *l <= 32)
            .ok_or_else(|| format!("`{len}` is not a prefix length (0 to 32)"))?;
        let host_mask = u32::MAX.checked_shr(len).unwrap_or(0);
        Ok(SourcePrefix {
            base: u32::from(addr) & !host_mask,
            host_mask,
        })
    }
}

/// xorshift64*: the spoofed addresses and ports need no better.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// Writes a 40-byte IPv4 + TCP SYN from `src:sport` to `dst` into `buf`.
fn syn(buf: &mut [u8; 40], src: Ipv4Addr, sport: u16, dst: SocketAddrV4, seq: u32) {
    buf.fill(0);
    let (ip, tcp) = buf.split_at_mut(20);
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&40u16.to_be_bytes());
    ip[6] = 0x40; // DF
    ip[8] = 64; // TTL
    ip[9] = 6; // TCP
    ip[12..16].copy_from_slice(&src.octets());
    ip[16..20].copy_from_slice(&dst.ip().octets());
    let ip_sum = ipv4_checksum(ip);
    ip[10..12].copy_from_slice(&ip_sum.to_be_bytes());
    tcp[0..2].copy_from_slice(&sport.to_be_bytes());
    tcp[2..4].copy_from_slice(&dst.port().to_be_bytes());
    tcp[4..8].copy_from_slice(&seq.to_be_bytes());
    tcp[12] = 5 << 4; // data offset: 20 bytes
    tcp[13] = 0x02; // SYN
    tcp[14..16].copy_from_slice(&64240u16.to_be_bytes());
    // The checksum over the pseudo-header and the segment.
    let mut pseudo = [0u8; 32];
    pseudo[0..4].copy_from_slice(&src.octets());
    pseudo[4..8].copy_from_slice(&dst.ip().octets());
    pseudo[9] = 6;
    pseudo[10..12].copy_from_slice(&20u16.to_be_bytes());
    pseudo[12..].copy_from_slice(tcp);
    let tcp_sum = ipv4_checksum(&pseudo);
    tcp[16..18].copy_from_slice(&tcp_sum.to_be_bytes());
}

/// A raw IPv4 socket whose packets carry their own header.
fn raw_socket() -> Result<OwnedFd> {
    // SAFETY: socket(2) has no memory arguments; the result is checked.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_RAW) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error()).context("raw socket (needs root)");
    }
    // SAFETY: `fd` was just opened and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Sends one packet; the error, if any.
fn send(fd: &OwnedFd, packet: &[u8], dst: &libc::sockaddr_in) -> Option<std::io::Error> {
    // SAFETY: `packet` and `dst` are valid for the lengths given.
    let sent = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            packet.as_ptr().cast(),
            packet.len(),
            0,
            (dst as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    (sent < 0).then(std::io::Error::last_os_error)
}

/// Floods `to` with `rate` SYNs a second for `secs` seconds, from random
/// addresses of `from` and random ports above 1023.
pub(super) fn run(to: SocketAddrV4, from: SourcePrefix, rate: u64, secs: f64) -> Result<ExitCode> {
    if rate == 0 || !(secs > 0.0) {
        bail!("--rate and --secs must be positive");
    }
    let fd = raw_socket()?;
    let dst = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from(*to.ip()).to_be(),
        },
        sin_zero: [0; 8],
    };
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
        ^ u64::from(std::process::id());
    let mut rng = Rng(seed | 1);
    let duration = Duration::from_secs_f64(secs);
    let (mut sent, mut failed) = (0u64, 0u64);
    let mut last_error = None;
    let mut packet = [0u8; 40];
    let start = Instant::now();
    loop {
        let elapsed = start.elapsed();
        if elapsed >= duration {
            break;
        }
        // Catch up with the schedule, then sleep a little.
        let due = (elapsed.as_secs_f64() * rate as f64) as u64;
        while sent + failed < due {
            let r = rng.next();
            let src = Ipv4Addr::from(from.base | (r as u32 & from.host_mask));
            let sport = 1024 + ((r >> 32) as u16 % (65535 - 1024));
            syn(&mut packet, src, sport, to, (r >> 16) as u32);
            match send(&fd, &packet, &dst) {
                None => sent += 1,
                Some(e) => {
                    failed += 1;
                    last_error = Some(e);
                }
            }
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    let took = start.elapsed().as_secs_f64();
    println!(
        "syn-flood: sent {sent} SYNs to {to} in {took:.1} s ({:.0}/s), {failed} failed{}",
        sent as f64 / took,
        last_error
            .map(|e| format!(" (last: {e})"))
            .unwrap_or_default()
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gateway::packet::{parse_ipv4, tcp_flags};
    use topology::traffic::L4;

    #[test]
    fn the_syn_parses_with_good_checksums() {
        let mut buf = [0u8; 40];
        let to = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 8080);
        syn(&mut buf, Ipv4Addr::new(192, 168, 7, 9), 40000, to, 7);
        let meta = parse_ipv4(&buf).unwrap();
        assert_eq!(meta.src, Ipv4Addr::new(192, 168, 7, 9));
        assert_eq!(meta.dst, *to.ip());
        assert_eq!(meta.tcp_flags, tcp_flags::SYN);
        assert_eq!(
            meta.l4,
            L4::Tcp {
                src_port: 40000,
                dst_port: 8080
            }
        );
        assert_eq!(ipv4_checksum(&buf[..20]), 0, "IP header checksum");
        let mut pseudo = Vec::from(&buf[12..20]);
        pseudo.extend_from_slice(&[0, 6, 0, 20]);
        pseudo.extend_from_slice(&buf[20..]);
        assert_eq!(ipv4_checksum(&pseudo), 0, "TCP checksum");
    }

    #[test]
    fn source_prefixes_keep_their_network_bits() {
        let p: SourcePrefix = "10.0.200.7/17".parse().unwrap();
        assert_eq!(Ipv4Addr::from(p.base), Ipv4Addr::new(10, 0, 128, 0));
        assert_eq!(p.host_mask, 0x7fff);
        let all: SourcePrefix = "1.2.3.4/0".parse().unwrap();
        assert_eq!((all.base, all.host_mask), (0, u32::MAX));
        assert!("10.0.0.0".parse::<SourcePrefix>().is_err());
        assert!("10.0.0.0/33".parse::<SourcePrefix>().is_err());
    }
}
