//! What `vifgate gateway --check` looks at on the box, beyond the file:
//! the state that decides whether a start with this configuration would
//! succeed here. Errors are what a start would certainly fail on (an
//! interface of that name that is no TUN device, a metrics address no
//! interface of the box has, a flow log in a directory that does not
//! exist); notes are what a start fails on while
//! something else holds it, which may be the very gateway this file
//! configures (its status socket, its port), checked before a reload.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::path::Path;

use crate::config::GatewayConfig;
use crate::status_socket::{probe, SocketPlace};

/// One finding of [`preflight`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// A start would fail: `--check` exits 1.
    pub error: bool,
    /// What was found.
    pub message: String,
}

/// Why the TUN device `name` cannot be made in this network namespace: an
/// interface of that name exists and is no TUN device (the kernel refuses
/// with EINVAL). An existing TUN device is taken over by the start, as
/// `ip tuntap add` makes them.
pub fn interface_conflict(name: &str) -> Option<String> {
    let dir = Path::new("/sys/class/net").join(name);
    (dir.exists() && !dir.join("tun_flags").exists()).then(|| {
        format!(
            "an interface `{name}` exists in this network namespace and is no TUN device: \
             the gateway cannot make its device under that name"
        )
    })
}

/// The findings for `config` on this box, now.
pub fn preflight(config: &GatewayConfig) -> Vec<Finding> {
    let mut found = Vec::new();
    let error = |message| Finding {
        error: true,
        message,
    };
    if let Some(why) = interface_conflict(&config.interface.name) {
        found.push(error(why));
    }
    if let Some(m) = config.metrics {
        match TcpListener::bind(m.listen) {
            Err(e) if e.kind() == io::ErrorKind::AddrNotAvailable => found.push(error(format!(
                "[metrics] listen {}: no interface of this box has that address",
                m.listen
            ))),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => found.push(Finding {
                error: false,
                message: format!(
                    "[metrics] listen {} is in use now: a start is refused while it is",
                    m.listen
                ),
            }),
            _ => {}
        }
    }
    if let Some(crate::config::FlowLogDestination::File(path)) =
        config.flow_logs.as_ref().map(|f| &f.destination)
    {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.is_dir() {
                found.push(error(format!(
                    "flow log destination {}: its directory {} does not exist: the gateway creates the file, not its directory",
                    path.display(),
                    dir.display()
                )));
            }
        }
    }
    let port = config.interface.listen_port;
    if port != 0 {
        if let Err(e) = UdpSocket::bind(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port))) {
            if e.kind() == io::ErrorKind::AddrInUse {
                found.push(Finding {
                    error: false,
                    message: format!(
                        "UDP port {port} is in use now: a start is refused while it is"
                    ),
                });
            }
        }
    }
    if let Ok(SocketPlace::Live) = probe(&config.status_socket) {
        found.push(Finding {
            error: false,
            message: format!(
                "a gateway answers on {} now: another start with this file is refused while it runs",
                config.status_socket.display()
            ),
        });
    }
    found
}
