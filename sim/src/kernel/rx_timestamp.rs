//! When bytes arrived, from the kernel: with `SO_TIMESTAMPNS` set on a
//! socket, each `recvmsg` says when the last packet it read from was
//! received (`CLOCK_REALTIME`, stamped as the packet entered the
//! namespace's stack), however long it then waited to be read. `sim load`
//! reads answers when it wakes for its next send, not when each one
//! comes, and still counts each answer's latency to its arrival.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::RawFd;
use std::time::Duration;

/// Makes `fd`'s reads say when their bytes arrived ([`recv`]).
pub fn enable(fd: RawFd) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: `on` is a c_int alive for the call, its size given.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Reads from `fd` into `buf`: the bytes read and, when the kernel
/// stamped them ([`enable`]), when the last packet they came from
/// arrived, as time since the Unix epoch.
pub fn recv(fd: RawFd, buf: &mut [u8]) -> io::Result<(usize, Option<Duration>)> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // room for one timestamp message, aligned as a cmsghdr
    let mut control = [0u64; 8];
    // SAFETY: a zeroed msghdr is valid (no name, no iovec yet).
    let mut msg: libc::msghdr = unsafe { MaybeUninit::zeroed().assume_init() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: `msg` points at `iov` (over `buf`) and `control`, all alive
    // and of the sizes given, for the call.
    let n = unsafe { libc::recvmsg(fd, &mut msg, 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut stamp = None;
    // SAFETY: the CMSG_* walk stays within `msg_controllen` bytes of
    // `control`, which the kernel filled; the timestamp is read unaligned.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_TIMESTAMPNS {
                let ts: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                if ts.tv_sec > 0 {
                    stamp = Some(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32));
                }
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Ok((n as usize, stamp))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;
    use std::net::{TcpListener, TcpStream};
    use std::os::fd::AsRawFd as _;
    use std::time::{SystemTime, UNIX_EPOCH};

    #[test]
    fn a_read_says_when_its_bytes_arrived_not_when_they_were_read() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let client = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let (mut server, _) = listener.accept().expect("accept");
        enable(client.as_raw_fd()).expect("SO_TIMESTAMPNS");
        // the kernel turns stamping on from a work queue, soon after
        std::thread::sleep(Duration::from_millis(100));
        let since_epoch = || SystemTime::now().duration_since(UNIX_EPOCH).expect("clock");
        let before = since_epoch();
        server.write_all(b"answer").expect("write");
        std::thread::sleep(Duration::from_millis(200));
        let read_at = since_epoch();
        let mut buf = [0u8; 64];
        let (n, stamp) = recv(client.as_raw_fd(), &mut buf).expect("recv");
        assert_eq!(&buf[..n], b"answer");
        let stamp = stamp.expect("a timestamp");
        assert!(stamp >= before, "{stamp:?} {before:?}");
        // it came right away, and was read 200 ms later
        assert!(
            stamp + Duration::from_millis(150) < read_at,
            "{stamp:?} {read_at:?}"
        );
    }
}
