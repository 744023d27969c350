//! Batched UDP sends with Linux segmentation offload (`UDP_SEGMENT`, Linux
//! 4.18+): datagrams of one size to one destination leave in a single
//! `sendmsg`, as one large buffer the kernel cuts into datagrams late in the
//! stack. Per-datagram system calls and stack traversals, not crypto, are
//! what a user-space tunnel pays for (the profile in BENCHMARKS.md).
//!
//! I/O shell only: the router still hands over one datagram at a time.

use std::io;
use std::net::{SocketAddr, SocketAddrV4};
use std::os::fd::RawFd;

/// `UDP_SEGMENT` socket option / control message (linux/udp.h).
const UDP_SEGMENT: libc::c_int = 103;
/// `UDP_GRO` socket option / control message (linux/udp.h, Linux 5.0+).
const UDP_GRO: libc::c_int = 104;
/// Most segments in one send (the kernel's UDP_MAX_SEGMENTS is 64 or 128).
const MAX_SEGMENTS: usize = 64;
/// Most bytes in one send (an IP packet's payload).
const MAX_BYTES: usize = 65_000;

/// Datagrams waiting to be sent, in order.
pub struct UdpBatch {
    buf: Vec<u8>,
    segs: Vec<(SocketAddr, usize, usize)>,
    gso: bool,
    /// Datagrams the kernel refused.
    pub failed: u64,
    /// System calls made (for benchmarks and tests).
    pub syscalls: u64,
}

impl Default for UdpBatch {
    fn default() -> Self {
        Self::new(true)
    }
}

impl UdpBatch {
    /// An empty batch; `gso` false sends one datagram per call.
    pub fn new(gso: bool) -> Self {
        UdpBatch {
            buf: Vec::with_capacity(MAX_BYTES * 2),
            segs: Vec::with_capacity(MAX_SEGMENTS * 2),
            gso,
            failed: 0,
            syscalls: 0,
        }
    }

    /// Queues a datagram (copied).
    pub fn push(&mut self, to: SocketAddr, datagram: &[u8]) {
        let start = self.buf.len();
        self.buf.extend_from_slice(datagram);
        self.segs.push((to, start, datagram.len()));
    }

    /// Queues a datagram (copied), first sending what is queued on `fd`
    /// when the datagram would not fit in the same send ([`MAX_SEGMENTS`]
    /// datagrams, [`MAX_BYTES`] bytes). A batch of TUN reads under a bulk
    /// stream makes megabytes of datagrams: sent as they fill a send, the
    /// first leaves after one send's worth of encryption instead of after
    /// all of it, each send is as full as before, and the buffers stay
    /// within their first allocation.
    pub fn push_sending_full(&mut self, fd: RawFd, to: SocketAddr, datagram: &[u8]) {
        if self.segs.len() >= MAX_SEGMENTS || self.buf.len() + datagram.len() > MAX_BYTES {
            self.flush(fd);
        }
        self.push(to, datagram);
    }

    /// Whether anything waits.
    pub fn is_empty(&self) -> bool {
        self.segs.is_empty()
    }

    /// Sends everything queued on `fd`, coalescing runs of equal-size
    /// datagrams to one destination (the last of a run may be shorter).
    /// Falls back to one datagram per call, for good, when the kernel
    /// refuses segmentation offload.
    pub fn flush(&mut self, fd: RawFd) {
        let mut i = 0;
        while i < self.segs.len() {
            let (to, start, size) = self.segs[i];
            let mut j = i + 1;
            let mut bytes = size;
            if self.gso {
                while j < self.segs.len()
                    && j - i < MAX_SEGMENTS
                    && self.segs[j].0 == to
                    && self.segs[j].2 <= size
                    && bytes + self.segs[j].2 <= MAX_BYTES
                {
                    bytes += self.segs[j].2;
                    j += 1;
                    if self.segs[j - 1].2 < size {
                        break; // a shorter datagram ends a run
                    }
                }
            }
            let data = &self.buf[start..start + bytes];
            let gso_size = (j - i > 1).then_some(size as u16);
            match send(fd, to, data, gso_size) {
                Ok(()) => self.syscalls += 1,
                Err(e)
                    if gso_size.is_some()
                        && matches!(
                            e.raw_os_error(),
                            Some(libc::EIO) | Some(libc::EINVAL) | Some(libc::ENOPROTOOPT)
                        ) =>
                {
                    tracing::info!(
                        "UDP segmentation offload refused ({e}): sending one datagram per call"
                    );
                    self.gso = false;
                    for k in i..j {
                        let (to, s, n) = self.segs[k];
                        self.syscalls += 1;
                        if send(fd, to, &self.buf[s..s + n], None).is_err() {
                            self.failed += 1;
                        }
                    }
                }
                Err(_) => {
                    self.syscalls += 1;
                    self.failed += (j - i) as u64;
                }
            }
            i = j;
        }
        self.buf.clear();
        self.segs.clear();
    }
}

fn sockaddr(to: SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: to.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*to.ip()).to_be(),
        },
        sin_zero: [0; 8],
    }
}

/// One `sendmsg`, with a `UDP_SEGMENT` control message when `gso_size` is
/// given. Non-blocking: a full socket buffer is an error (the datagrams are
/// dropped, as a router drops on a full queue).
fn send(fd: RawFd, to: SocketAddr, data: &[u8], gso_size: Option<u16>) -> io::Result<()> {
    let SocketAddr::V4(to) = to else {
        return Err(io::Error::from_raw_os_error(libc::EAFNOSUPPORT));
    };
    let mut addr = sockaddr(to);
    let mut iov = libc::iovec {
        iov_base: data.as_ptr() as *mut libc::c_void,
        iov_len: data.len(),
    };
    // room for one cmsg carrying a u16, aligned
    let mut control = [0u64; 4];
    // SAFETY: msghdr is plain data; every pointer in it points at a local
    // that outlives the call, with the lengths given.
    let rc = unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_name = (&mut addr as *mut libc::sockaddr_in).cast();
        msg.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        if let Some(size) = gso_size {
            let space = libc::CMSG_SPACE(std::mem::size_of::<u16>() as u32) as usize;
            msg.msg_control = control.as_mut_ptr().cast();
            msg.msg_controllen = space;
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            (*cmsg).cmsg_level = libc::SOL_UDP;
            (*cmsg).cmsg_type = UDP_SEGMENT;
            (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<u16>() as u32) as usize;
            std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<u16>(), size);
        }
        libc::sendmsg(fd, &msg, 0)
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Asks the kernel to coalesce received datagrams of one flow (`UDP_GRO`):
/// one `recvmsg` then returns several, each `segment` bytes but the last.
/// Returns whether the kernel accepted.
pub fn enable_gro(fd: RawFd) -> bool {
    set_flag(fd, libc::SOL_UDP, UDP_GRO)
}

/// Turns on an integer socket option; whether the kernel took it.
fn set_flag(fd: RawFd, level: libc::c_int, option: libc::c_int) -> bool {
    let on: libc::c_int = 1;
    // SAFETY: fd is a valid socket; the option value is a plain int.
    unsafe {
        libc::setsockopt(
            fd,
            level,
            option,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        ) == 0
    }
}

/// Asks the kernel to stamp each received datagram with its arrival time
/// (`SO_TIMESTAMPNS`, the wall clock), read by [`recv_stamped`].
pub fn enable_timestamps(fd: RawFd) -> bool {
    set_flag(fd, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS)
}

/// How long the datagram of a [`recv_stamped`] waited in the socket's
/// receive queue: the wall clock now minus its arrival stamp (zero if the
/// clock stepped back).
pub fn waited(arrived: std::time::Duration) -> std::time::Duration {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .saturating_sub(arrived)
}

/// One `recvmsg` (non-blocking): bytes read, the sender, and the segment
/// size when the kernel coalesced several datagrams (`UDP_GRO`).
pub fn recv(fd: RawFd, buf: &mut [u8]) -> io::Result<(usize, SocketAddr, Option<usize>)> {
    recv_stamped(fd, buf).map(|(n, from, segment, _)| (n, from, segment))
}

/// [`recv`], with the arrival time (since the Unix epoch) when the socket
/// has [`enable_timestamps`].
pub fn recv_stamped(
    fd: RawFd,
    buf: &mut [u8],
) -> io::Result<(
    usize,
    SocketAddr,
    Option<usize>,
    Option<std::time::Duration>,
)> {
    let mut addr: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut control = [0u64; 8];
    // SAFETY: every pointer in msghdr points at a local that outlives the
    // call, with the lengths given; the control buffer is 8-byte aligned.
    let (n, msg) = unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_name = (&mut addr as *mut libc::sockaddr_in).cast();
        msg.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&control);
        let n = libc::recvmsg(fd, &mut msg, libc::MSG_DONTWAIT);
        (n, msg)
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    if addr.sin_family != libc::AF_INET as libc::sa_family_t {
        return Err(io::Error::from_raw_os_error(libc::EAFNOSUPPORT));
    }
    let from = SocketAddr::V4(SocketAddrV4::new(
        u32::from_be(addr.sin_addr.s_addr).into(),
        u16::from_be(addr.sin_port),
    ));
    let mut segment = None;
    let mut arrived = None;
    // SAFETY: the kernel filled `control` up to msg_controllen; the CMSG
    // macros stay within it.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_UDP && (*c).cmsg_type == UDP_GRO {
                let size = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<u16>());
                segment = Some(size as usize);
            }
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_TIMESTAMPNS {
                let t = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<libc::timespec>());
                arrived = Some(std::time::Duration::new(
                    u64::try_from(t.tv_sec).unwrap_or(0),
                    u32::try_from(t.tv_nsec).unwrap_or(0),
                ));
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Ok((n as usize, from, segment, arrived))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;

    fn pair() -> (UdpSocket, UdpSocket) {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        b.set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .unwrap();
        (a, b)
    }

    fn receive_all(b: &UdpSocket, n: usize) -> Vec<Vec<u8>> {
        let mut out = vec![];
        let mut buf = [0u8; 2048];
        for _ in 0..n {
            let (len, _) = b.recv_from(&mut buf).unwrap();
            out.push(buf[..len].to_vec());
        }
        out
    }

    #[test]
    fn a_stamped_socket_tells_when_each_datagram_arrived() {
        let (a, b) = pair();
        let to = b.local_addr().unwrap();
        let mut buf = [0u8; 2048];
        // without timestamps: none
        a.send_to(b"one", to).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let (n, _, _, arrived) = recv_stamped(b.as_raw_fd(), &mut buf).unwrap();
        assert_eq!((n, arrived), (3, None));
        assert!(enable_timestamps(b.as_raw_fd()));
        // the kernel turns its receive stamps on from a work queue, a
        // moment after the first socket asks (before that, a datagram is
        // stamped when it is read)
        std::thread::sleep(std::time::Duration::from_millis(200));
        a.send_to(b"two", to).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let (n, _, _, arrived) = recv_stamped(b.as_raw_fd(), &mut buf).unwrap();
        assert_eq!(n, 3);
        let waited = waited(arrived.expect("a stamp"));
        // it waited the 20 ms in the queue (and not hours: the same clock)
        assert!(
            waited >= std::time::Duration::from_millis(19)
                && waited < std::time::Duration::from_secs(5),
            "{waited:?}"
        );
    }

    #[test]
    fn a_run_of_equal_datagrams_arrives_as_separate_datagrams() {
        let (a, b) = pair();
        let to = b.local_addr().unwrap();
        let mut batch = UdpBatch::new(true);
        let sent: Vec<Vec<u8>> = (0..10u8)
            .map(|k| vec![k; 1000])
            .chain([vec![99u8; 300]])
            .collect();
        for d in &sent {
            batch.push(to, d);
        }
        batch.flush(a.as_raw_fd());
        assert_eq!(batch.failed, 0);
        assert_eq!(
            receive_all(&b, sent.len()),
            sent,
            "same datagrams, same order"
        );
        // with offload: one call for the run (or one per datagram where the
        // kernel refused it)
        assert!(
            batch.syscalls == 1 || batch.syscalls == 11,
            "{}",
            batch.syscalls
        );
    }

    /// Under a bulk stream the shell queues thousands of datagrams between
    /// two flushes: each send's worth leaves as soon as it is queued (the
    /// first datagram does not wait for the last), and the batch never
    /// grows past its first allocation.
    #[test]
    fn a_full_batch_is_sent_before_more_is_queued() {
        let (a, b) = pair();
        b.set_nonblocking(true).unwrap();
        let to = b.local_addr().unwrap();
        let mut batch = UdpBatch::new(true);
        let (buf_cap, segs_cap) = (batch.buf.capacity(), batch.segs.capacity());
        let datagram = [7u8; 1452];
        // what one send carries: the next datagram sends them, in one call
        let per_send = (MAX_BYTES / datagram.len()).min(MAX_SEGMENTS);
        for k in 0..=per_send {
            let mut buf = [0u8; 2048];
            assert!(
                b.recv_from(&mut buf).is_err(),
                "nothing leaves before a send's worth ({k} queued)"
            );
            batch.push_sending_full(a.as_raw_fd(), to, &datagram);
        }
        assert!(batch.syscalls == 1 || batch.syscalls == per_send as u64);
        assert_eq!(batch.segs.len(), 1, "the datagram that did not fit waits");
        std::thread::sleep(std::time::Duration::from_millis(20));
        b.set_nonblocking(false).unwrap();
        assert_eq!(
            receive_all(&b, per_send),
            vec![datagram.to_vec(); per_send],
            "the full batch left without a flush"
        );
        // a long burst (64-byte datagrams: the segment limit) stays within
        // the batch's first allocation
        for _ in 0..10 * MAX_SEGMENTS {
            batch.push_sending_full(a.as_raw_fd(), to, &[1u8; 64]);
        }
        assert!(batch.segs.len() <= MAX_SEGMENTS, "{}", batch.segs.len());
        assert_eq!(
            (batch.buf.capacity(), batch.segs.capacity()),
            (buf_cap, segs_cap)
        );
        assert_eq!(batch.failed, 0);
    }

    #[test]
    fn different_sizes_and_destinations_split_runs() {
        let (a, b) = pair();
        let c = UdpSocket::bind("127.0.0.1:0").unwrap();
        c.set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .unwrap();
        let mut batch = UdpBatch::new(true);
        batch.push(b.local_addr().unwrap(), &[1; 500]);
        batch.push(c.local_addr().unwrap(), &[2; 500]);
        batch.push(b.local_addr().unwrap(), &[3; 200]);
        batch.push(b.local_addr().unwrap(), &[4; 600]);
        batch.flush(a.as_raw_fd());
        assert_eq!(
            receive_all(&b, 3),
            vec![vec![1; 500], vec![3; 200], vec![4; 600]]
        );
        assert_eq!(receive_all(&c, 1), vec![vec![2; 500]]);
        assert!(batch.is_empty());
    }

    #[test]
    fn gro_receive_gives_back_each_datagram() {
        let (a, b) = pair();
        let gro = enable_gro(b.as_raw_fd());
        let mut batch = UdpBatch::new(true);
        let sent: Vec<Vec<u8>> = (0..8u8)
            .map(|k| vec![k; 1200])
            .chain([vec![77u8; 100]])
            .collect();
        for d in &sent {
            batch.push(b.local_addr().unwrap(), d);
        }
        batch.flush(a.as_raw_fd());
        std::thread::sleep(std::time::Duration::from_millis(50));
        let mut got = vec![];
        let mut buf = vec![0u8; 65_536];
        while got.len() < sent.len() {
            let (n, from, seg) = match recv(b.as_raw_fd(), &mut buf) {
                Ok(x) => x,
                Err(e) => panic!("after {} datagrams: {e} (gro {gro})", got.len()),
            };
            assert_eq!(from, a.local_addr().unwrap());
            let seg = seg.unwrap_or(n);
            got.extend(buf[..n].chunks(seg).map(|c| c.to_vec()));
        }
        assert_eq!(got, sent);
    }

    #[test]
    fn without_offload_each_datagram_is_one_call() {
        let (a, b) = pair();
        let mut batch = UdpBatch::new(false);
        for k in 0..5u8 {
            batch.push(b.local_addr().unwrap(), &[k; 100]);
        }
        batch.flush(a.as_raw_fd());
        assert_eq!(batch.syscalls, 5);
        assert_eq!(receive_all(&b, 5).len(), 5);
    }
}
