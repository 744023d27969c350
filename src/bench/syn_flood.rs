//! `vifgate bench syn-flood`: a TCP SYN flood (or, with `--echo`, an ICMP
//! echo request flood) from spoofed sources, for measuring the gateway's
//! connection tracking under attack (`bench/synflood.sh`). A raw IPv4
//! socket (`IPPROTO_RAW`, so the header is ours) sends SYNs to one address
//! and port, from random addresses of a prefix and random ports (echo
//! requests with random identifiers), paced to a rate; root (or
//! CAP_NET_RAW) only.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};

use super::packets::{write_ipv4_header, write_syn, Rng};

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

/// An ICMP echo request (28 bytes) from `src` to `dst` with identifier
/// `id`.
fn write_echo(b: &mut [u8; 40], src: [u8; 4], dst: [u8; 4], id: u16) -> usize {
    b.fill(0);
    write_ipv4_header(b, 28, false, 1, src, dst);
    b[20] = 8; // echo request
    b[24..26].copy_from_slice(&id.to_be_bytes());
    b[26..28].copy_from_slice(&1u16.to_be_bytes()); // sequence
    let c = gateway::packet::ipv4_checksum(&b[20..28]);
    b[22..24].copy_from_slice(&c.to_be_bytes());
    28
}

/// Floods `to` with `rate` SYNs a second for `secs` seconds, from random
/// addresses of `from` and random ports above 1023; with `echo`, ICMP echo
/// requests with random identifiers instead.
pub(super) fn run(
    to: SocketAddrV4,
    from: SourcePrefix,
    rate: u64,
    secs: f64,
    echo: bool,
) -> Result<ExitCode> {
    if rate == 0 || secs.is_nan() || secs <= 0.0 {
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
            let r = rng.next_u64();
            let src = Ipv4Addr::from(from.base | (r as u32 & from.host_mask));
            let sport = 1024 + ((r >> 32) as u16 % (65535 - 1024));
            let seq = (r >> 16) as u32;
            let len = if echo {
                write_echo(&mut packet, src.octets(), to.ip().octets(), sport)
            } else {
                write_syn(
                    &mut packet,
                    src.octets(),
                    to.ip().octets(),
                    sport,
                    to.port(),
                    seq,
                );
                packet.len()
            };
            match send(&fd, &packet[..len], &dst) {
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
    let what = if echo { "echo requests" } else { "SYNs" };
    println!(
        "syn-flood: sent {sent} {what} to {to} in {took:.1} s ({:.0}/s), {failed} failed{}",
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

    #[test]
    fn an_echo_request_parses_as_one() {
        let mut b = [0u8; 40];
        let len = write_echo(&mut b, [10, 0, 1, 2], [192, 168, 0, 1], 4242);
        let meta = gateway::packet::parse_ipv4(&b[..len]).unwrap();
        assert_eq!(meta.total_len, 28);
        assert_eq!(meta.icmp_id, Some(4242));
        assert!(matches!(
            meta.l4,
            topology::traffic::L4::Icmp { icmp_type: 8, .. }
        ));
        // Both checksums add up.
        assert_eq!(gateway::packet::ipv4_checksum(&b[..20]), 0);
        assert_eq!(gateway::packet::ipv4_checksum(&b[20..28]), 0);
    }
}
