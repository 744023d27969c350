//! Thin, checked wrappers over the socket calls the probes and the agent
//! make through libc: each returns an `io::Result` with errno on failure.

use std::io;
use std::mem;
use std::net::Ipv4Addr;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::ptr;

use super::IcmpError;

/// `rc` as a result, with errno on failure.
pub(crate) fn cvt(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// `n` as a result, with errno on failure.
fn cvt_size(n: libc::ssize_t) -> io::Result<usize> {
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// A non-blocking, close-on-exec IPv4 socket.
pub(crate) fn socket(ty: libc::c_int, proto: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: plain syscall.
    let fd = cvt(unsafe {
        libc::socket(
            libc::AF_INET,
            ty | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            proto,
        )
    })?;
    // SAFETY: a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// setsockopt with an int value.
pub(crate) fn set_int(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    val: libc::c_int,
) -> io::Result<()> {
    // SAFETY: the value outlives the call; its size is given.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&val as *const libc::c_int).cast(),
            mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// The pending error of a socket (SO_ERROR), which it clears.
pub(crate) fn so_error(fd: RawFd) -> io::Result<i32> {
    let mut val: libc::c_int = 0;
    let mut len = mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: val and len are valid for writing.
    cvt(unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            (&mut val as *mut libc::c_int).cast(),
            &mut len,
        )
    })?;
    Ok(val)
}

/// A sockaddr_in for an address and port.
pub(crate) fn sockaddr(ip: Ipv4Addr, port: u16) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(ip).to_be(),
        },
        sin_zero: [0; 8],
    }
}

/// The address and port of a sockaddr_in.
pub(crate) fn from_sockaddr(sa: &libc::sockaddr_in) -> (Ipv4Addr, u16) {
    (
        Ipv4Addr::from(u32::from_be(sa.sin_addr.s_addr)),
        u16::from_be(sa.sin_port),
    )
}

const SA_LEN: libc::socklen_t = mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;

/// connect(2); a non-blocking TCP socket fails with EINPROGRESS.
pub(crate) fn connect(fd: RawFd, ip: Ipv4Addr, port: u16) -> io::Result<()> {
    let sa = sockaddr(ip, port);
    // SAFETY: sa lives across the call; its size is given.
    cvt(unsafe { libc::connect(fd, (&sa as *const libc::sockaddr_in).cast(), SA_LEN) }).map(drop)
}

/// bind(2).
pub(crate) fn bind(fd: RawFd, ip: Ipv4Addr, port: u16) -> io::Result<()> {
    let sa = sockaddr(ip, port);
    // SAFETY: as in connect.
    cvt(unsafe { libc::bind(fd, (&sa as *const libc::sockaddr_in).cast(), SA_LEN) }).map(drop)
}

/// send(2), never raising SIGPIPE.
pub(crate) fn send(fd: RawFd, data: &[u8]) -> io::Result<usize> {
    // SAFETY: data is valid for reading for its length.
    cvt_size(unsafe {
        libc::send(
            fd,
            data.as_ptr().cast(),
            data.len(),
            libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
        )
    })
}

/// sendto(2).
pub(crate) fn send_to(fd: RawFd, data: &[u8], ip: Ipv4Addr, port: u16) -> io::Result<usize> {
    let sa = sockaddr(ip, port);
    // SAFETY: data and sa are valid for the call.
    cvt_size(unsafe {
        libc::sendto(
            fd,
            data.as_ptr().cast(),
            data.len(),
            libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
            (&sa as *const libc::sockaddr_in).cast(),
            SA_LEN,
        )
    })
}

/// recv(2), non-blocking.
pub(crate) fn recv(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: buf is valid for writing for its length.
    cvt_size(unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) })
}

/// poll(2).
pub(crate) fn poll(fds: &mut [libc::pollfd], timeout_ms: i32) -> io::Result<usize> {
    // SAFETY: fds is valid for reading and writing for its length.
    cvt(unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) })
        .map(|n| n as usize)
}

/// A close-on-exec, non-blocking pipe: (read end, write end).
pub(crate) fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [-1 as libc::c_int; 2];
    // SAFETY: fds has room for two descriptors.
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) })?;
    // SAFETY: two fresh descriptors that nothing else owns.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Fills `buf` from the kernel's random source (or, should that fail,
/// from the clock).
pub(crate) fn random_bytes(buf: &mut [u8]) {
    // SAFETY: buf is valid for writing for its length.
    let n = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), libc::GRND_NONBLOCK) };
    if n == buf.len() as isize {
        return;
    }
    let mut x = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
        ^ u64::from(std::process::id()).rotate_left(32)
        ^ (buf.as_ptr() as u64);
    for b in buf.iter_mut() {
        // xorshift64*
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        *b = (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8;
    }
}

/// Drains the socket's error queue (IP_RECVERR) and returns the last
/// ICMP error in it.
pub(crate) fn read_errqueue(fd: RawFd) -> Option<IcmpError> {
    let ee_len = mem::size_of::<libc::sock_extended_err>();
    let mut found = None;
    for _ in 0..16 {
        let mut data = [0u8; 64];
        let mut ctrl = [0u64; 64];
        let mut iov = libc::iovec {
            iov_base: data.as_mut_ptr().cast(),
            iov_len: data.len(),
        };
        // SAFETY: an all-zero msghdr is a valid empty one.
        let mut msg: libc::msghdr = unsafe { mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = ctrl.as_mut_ptr().cast();
        msg.msg_controllen = mem::size_of_val(&ctrl);
        // SAFETY: msg points at buffers that live across the call.
        let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT) };
        if n < 0 {
            break;
        }
        // SAFETY: msg was filled by the kernel; the CMSG macros stay
        // within msg_controllen.
        let mut c = unsafe { libc::CMSG_FIRSTHDR(&msg) };
        while !c.is_null() {
            // SAFETY: c is a valid header inside ctrl.
            let h = unsafe { &*c };
            // SAFETY: pure arithmetic.
            let full =
                unsafe { libc::CMSG_LEN((ee_len + mem::size_of::<libc::sockaddr_in>()) as u32) }
                    as usize;
            if h.cmsg_level == libc::IPPROTO_IP
                && h.cmsg_type == libc::IP_RECVERR
                && h.cmsg_len >= full
            {
                // SAFETY: the length check above: the data holds a
                // sock_extended_err and the offender's address.
                let (ee, off) = unsafe {
                    let d = libc::CMSG_DATA(c);
                    (
                        ptr::read_unaligned(d.cast::<libc::sock_extended_err>()),
                        ptr::read_unaligned(d.add(ee_len).cast::<libc::sockaddr_in>()),
                    )
                };
                if ee.ee_origin == libc::SO_EE_ORIGIN_ICMP {
                    found = Some(IcmpError {
                        from: (off.sin_family == libc::AF_INET as libc::sa_family_t)
                            .then(|| from_sockaddr(&off).0),
                        icmp_type: ee.ee_type,
                        code: ee.ee_code,
                    });
                }
            }
            // SAFETY: as above.
            c = unsafe { libc::CMSG_NXTHDR(&msg, c) };
        }
    }
    found
}
