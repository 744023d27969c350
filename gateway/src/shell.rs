//! The I/O shell around the [`Router`]: a TUN device, a UDP socket, timers
//! and signals on a single-threaded tokio runtime. It moves bytes and
//! sleeps; every decision is the router's.
//!
//! Reads are drained in batches after each wake-up (up to [`BATCH`]
//! packets per source), buffers are allocated once, SIGINT/SIGTERM stop
//! cleanly, SIGHUP reloads the configuration without dropping sessions or
//! tracked connections, and a root-only unix socket answers `vifgate status`.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use tokio::io::{AsyncWriteExt, Interest};
use tokio::net::{UdpSocket, UnixListener};
use tokio::signal::unix::{signal, SignalKind};
use tokio_tun::Tun;
use tracing::{info, warn};

use crate::config::{self, GatewayConfig};
use crate::router::{Io, Router, BUFFER_SIZE};
use crate::udp_gso::{self, UdpBatch};

/// Packets read from one source before the loop looks at the others.
pub const BATCH: usize = 64;
/// Socket buffer size asked for (the kernel caps it at its rmem/wmem max).
const SOCKET_BUFFER: libc::c_int = 8 << 20;

/// Why the gateway stopped.
#[derive(Debug, thiserror::Error)]
pub enum ShellError {
    /// The configuration is invalid.
    #[error("{0}")]
    Config(topology::Diagnostics),
    /// The router could not start.
    #[error(transparent)]
    Router(#[from] crate::router::RouterError),
    /// An I/O error while setting up.
    #[error("{what}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        #[source]
        source: io::Error,
    },
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> ShellError {
    let what = what.into();
    move |source| ShellError::Io { what, source }
}

struct Output<'a> {
    tun: &'a Tun,
    udp: &'a UdpSocket,
    batch: UdpBatch,
    dropped: u64,
}

impl Output<'_> {
    /// Sends the datagrams the last batch of packets produced.
    fn flush(&mut self) {
        if !self.batch.is_empty() {
            self.batch.flush(self.udp.as_raw_fd());
        }
    }
}

impl Io for Output<'_> {
    fn send_tun(&mut self, packet: &[u8]) {
        if self.tun.try_send(packet).is_err() {
            self.dropped += 1;
        }
    }

    fn send_udp(&mut self, to: SocketAddr, datagram: &[u8]) {
        self.batch.push(to, datagram);
    }
}

/// Runs the gateway in the foreground until SIGINT or SIGTERM.
pub fn run(config_path: &Path) -> Result<(), ShellError> {
    let config = config::load(config_path).map_err(ShellError::Config)?;
    for w in &config.warnings.0 {
        warn!("{}", w.headline());
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(io_err("cannot start the runtime"))?;
    rt.block_on(serve(config_path.to_path_buf(), config))
}

fn set_buffers(udp: &UdpSocket) {
    let fd = udp.as_raw_fd();
    for opt in [libc::SO_RCVBUF, libc::SO_SNDBUF] {
        // SAFETY: fd is a valid socket for the lifetime of `udp`; the
        // option value is a plain int.
        let rc = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                opt,
                (&SOCKET_BUFFER as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            warn!(
                "cannot enlarge the UDP socket buffer: {}",
                io::Error::last_os_error()
            );
        }
    }
}

fn open_tun(config: &GatewayConfig) -> Result<Tun, ShellError> {
    let i = &config.interface;
    let mut b = Tun::builder().name(&i.name).mtu(i.mtu as i32).up();
    if let Some(a) = i.address {
        b = b.address(a.addr()).netmask(a.netmask());
    }
    let mut tuns = b.build().map_err(|e| ShellError::Io {
        what: format!("cannot create TUN device `{}` (root, /dev/net/tun)", i.name),
        source: io::Error::other(e.to_string()),
    })?;
    tuns.pop().ok_or_else(|| ShellError::Io {
        what: "no TUN queue".into(),
        source: io::Error::other("empty"),
    })
}

fn status_listener(path: &Path) -> Result<UnixListener, ShellError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io_err(format!("cannot create {}", dir.display())))?;
    }
    // a stale socket from a killed run
    let _ = std::fs::remove_file(path);
    let l = UnixListener::bind(path).map_err(io_err(format!("cannot bind {}", path.display())))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(io_err(format!("cannot chmod {}", path.display())))?;
    Ok(l)
}

struct RemoveOnDrop(PathBuf);
impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

async fn serve(config_path: PathBuf, config: GatewayConfig) -> Result<(), ShellError> {
    let mut router = Router::new(&config, Instant::now())?;
    let tun = open_tun(&config)?;
    let udp = UdpSocket::bind(SocketAddr::from((
        Ipv4Addr::UNSPECIFIED,
        config.interface.listen_port,
    )))
    .await
    .map_err(io_err(format!(
        "cannot bind UDP port {}",
        config.interface.listen_port
    )))?;
    set_buffers(&udp);
    if std::env::var_os("VIFGATE_NO_GSO").is_none() && !udp_gso::enable_gro(udp.as_raw_fd()) {
        info!("UDP receive offload (GRO) unavailable: one datagram per read");
    }
    let status = status_listener(&config.status_socket)?;
    let _cleanup = RemoveOnDrop(config.status_socket.clone());
    let mut sigint = signal(SignalKind::interrupt()).map_err(io_err("signal"))?;
    let mut sigterm = signal(SignalKind::terminate()).map_err(io_err("signal"))?;
    let mut sighup = signal(SignalKind::hangup()).map_err(io_err("signal"))?;
    info!(
        interface = %config.interface.name,
        port = udp.local_addr().map(|a| a.port()).unwrap_or(0),
        peers = config.peers.len(),
        policy = %config.policy.origin,
        "gateway up"
    );

    let mut tun_buf = vec![0u8; BUFFER_SIZE];
    let mut udp_buf = vec![0u8; BUFFER_SIZE];
    let mut out = Output {
        tun: &tun,
        udp: &udp,
        batch: UdpBatch::new(std::env::var_os("VIFGATE_NO_GSO").is_none()),
        dropped: 0,
    };
    loop {
        let deadline = tokio::time::Instant::from_std(router.poll_timeout());
        tokio::select! {
            r = tun.recv(&mut tun_buf) => {
                let mut n = r.map_err(io_err("TUN read"))?;
                for _ in 0..BATCH {
                    router.handle_tun(Instant::now(), &mut tun_buf[..n], &mut out);
                    match tun.try_recv(&mut tun_buf) {
                        Ok(m) => n = m,
                        Err(_) => break,
                    }
                }
                out.flush();
            }
            r = udp.readable() => {
                if let Err(e) = r { warn!("UDP read: {e}"); continue; }
                // datagrams one call at a time, or several at once when the
                // kernel coalesced them (UDP GRO); each to the router
                for _ in 0..BATCH {
                    let got = udp.try_io(Interest::READABLE, || udp_gso::recv(udp.as_raw_fd(), &mut udp_buf));
                    let (n, from, segment) = match got {
                        Ok(x) => x,
                        Err(_) => break,
                    };
                    let segment = segment.filter(|&s| s > 0).unwrap_or(n.max(1));
                    for datagram in udp_buf[..n].chunks(segment) {
                        router.handle_udp(Instant::now(), from, datagram, &mut out);
                    }
                }
                out.flush();
            }
            _ = tokio::time::sleep_until(deadline) => {
                router.handle_timeout(Instant::now(), &mut out);
                out.flush();
            }
            c = status.accept() => {
                if let Ok((mut stream, _)) = c {
                    let mut s = serde_json::to_value(router.status(Instant::now())).unwrap_or_default();
                    // what the shell itself could not hand to the kernel
                    if let Some(d) = s.get_mut("drops").and_then(|d| d.as_object_mut()) {
                        d.insert("tun_write".into(), out.dropped.into());
                        d.insert("udp_send".into(), out.batch.failed.into());
                    }
                    let body = serde_json::to_vec(&s).unwrap_or_default();
                    let _ = stream.write_all(&body).await;
                }
            }
            _ = sighup.recv() => {
                match config::load(&config_path) {
                    Ok(c) => match router.reload(&c) {
                        Ok(()) => info!("configuration reloaded"),
                        Err(e) => warn!("reload refused: {e}"),
                    },
                    Err(d) => warn!("reload refused, the configuration has errors:\n{d}"),
                }
            }
            _ = sigint.recv() => { info!("SIGINT: stopping"); break; }
            _ = sigterm.recv() => { info!("SIGTERM: stopping"); break; }
        }
    }
    Ok(())
}

/// Reads the status of a running gateway from its socket.
pub fn query_status(socket: &Path) -> io::Result<serde_json::Value> {
    use std::io::Read;
    let mut s = std::os::unix::net::UnixStream::connect(socket)?;
    let mut body = Vec::new();
    s.read_to_end(&mut body)?;
    serde_json::from_slice(&body).map_err(io::Error::other)
}
