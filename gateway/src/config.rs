//! The gateway's configuration file (TOML, `docs/gateway.md`): the
//! interface, the peers, the routes, the ACL policy (inline, or a node of a
//! topology file), connection tracking, liveness, and the impairment of
//! the tunnel's own datagrams (`[impair]`). Every mistake is reported with
//! its `file:line:col`, like the topology's. Programs that write or edit
//! such a file build it as a value: [`crate::config_file`].

use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::Ipv4Net;
use serde::Deserialize;
use toml::Spanned;
use topology::diag::{Diagnostics, Reporter, Severity, SourceFile};
use topology::format::{RawNacl, RawPrefixList, RawSecurityGroup};
use topology::nacl::NetworkAcl;
use topology::security_group::{SecurityGroup, SgId};
use topology::units::fmt_duration;

use crate::conntrack::{Limits, WhenFull};
use crate::impair::{ImpairConfig, DEFAULT_QUEUE, MAX_QUEUE};
use crate::keys::PublicKey;
use crate::privileges::{LookupError, RunAs};
use crate::routing::{Route, RouteSource};
use crate::status_socket::{file_kind, MAX_SOCKET_PATH};

mod interface_name;
pub use interface_name::{interface_name_problem, MAX_INTERFACE_NAME};
mod metrics;
pub use metrics::{MetricsConfig, DEFAULT_LISTEN};
mod conntrack_limits;
mod flow_logs;
mod forwarding;
mod policy_node;
mod queue;
mod restart;
pub use flow_logs::{
    FlowLogConfig, FlowLogDestination, DEFAULT_MAX_FLOWS as DEFAULT_FLOW_LOG_MAX_FLOWS,
};
pub use forwarding::ForwardingConfig;
pub use restart::{NeedsRestart, RestartNeeded};

type Str = Spanned<String>;
type Int = Spanned<i64>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    interface: RawInterface,
    #[serde(default)]
    peer: Vec<RawPeer>,
    #[serde(default)]
    route: Vec<RawRoute>,
    bgp: Option<RawBgp>,
    policy: Option<RawPolicy>,
    conntrack: Option<RawConntrack>,
    liveness: Option<RawLiveness>,
    status: Option<RawStatus>,
    impair: Option<RawImpair>,
    process: Option<RawProcess>,
    metrics: Option<metrics::RawMetrics>,
    flow_logs: Option<flow_logs::RawFlowLogs>,
    forwarding: Option<forwarding::RawForwarding>,
    queue: Option<queue::RawQueue>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInterface {
    name: Str,
    address: Option<Str>,
    mtu: Option<Int>,
    listen_port: Option<Int>,
    private_key_file: Str,
    tx_queue_length: Option<Int>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPeer {
    name: Str,
    public_key: Str,
    endpoint: Option<Str>,
    #[serde(default)]
    allowed_ips: Vec<Str>,
    persistent_keepalive: Option<Int>,
    preshared_key_file: Option<Str>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    prefix: Str,
    peer: Str,
    priority: Option<Int>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBgp {
    kernel_table: Int,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    topology: Option<Str>,
    node: Option<Str>,
    security_groups: Option<Vec<Str>>,
    nacl: Option<Str>,
    #[serde(default)]
    security_group: Vec<RawSecurityGroup>,
    #[serde(default)]
    prefix_list: Vec<RawPrefixList>,
    #[serde(default, rename = "network_acl")]
    nacls: Vec<RawNacl>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConntrack {
    max_flows: Option<Int>,
    tcp_established_timeout: Option<Int>,
    when_full: Option<Str>,
    lan_max_flows: Option<Int>,
    tunnel_max_flows: Option<Int>,
    peer_max_flows: Option<Int>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLiveness {
    dead_after: Option<Int>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStatus {
    socket: Option<Str>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProcess {
    user: Option<Str>,
    group: Option<Str>,
    realtime_priority: Option<Int>,
}

/// Any TOML value, so that a number where a string is expected gets a
/// message of ours (with a hint) rather than serde's.
type AnyValue = Spanned<toml::Value>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawImpair {
    delay: Option<AnyValue>,
    jitter: Option<AnyValue>,
    loss: Option<AnyValue>,
    seed: Option<Int>,
    queue: Option<Int>,
}

/// The TUN interface and the tunnel's own end.
#[derive(Debug, Clone)]
pub struct InterfaceConfig {
    /// TUN device name.
    pub name: String,
    /// Address and prefix on the TUN device, if any.
    pub address: Option<Ipv4Net>,
    /// Tunnel MTU (inner packets).
    pub mtu: u16,
    /// UDP listen port.
    pub listen_port: u16,
    /// Private key file (mode 600).
    pub private_key_file: PathBuf,
    /// The TUN device's transmit queue (`txqueuelen`): packets the kernel
    /// holds for the gateway to read, each up to 64 KiB with offloads.
    pub tx_queue_length: u32,
}

/// The TUN device's transmit queue by default: the kernel's own (500).
/// A shorter one bounds what a bulk stream keeps there in front of other
/// flows, but the kernel's tun driver drops at a full queue (whole 64 KiB
/// super-packets) and TCP retransmits; with the loop's bounded turns the
/// latency gain was within the noise (BENCHMARKS.md, "Latency", third
/// pass), so the default is the kernel's.
pub const DEFAULT_TX_QUEUE_LENGTH: u32 = 500;

/// A WireGuard peer.
#[derive(Debug, Clone)]
pub struct PeerConfig {
    /// Its name (for routes, status and logs).
    pub name: String,
    /// Its public key.
    pub public_key: PublicKey,
    /// Where to send to; learned from its packets when absent.
    pub endpoint: Option<SocketAddr>,
    /// Inner source addresses it may send from.
    pub allowed_ips: Vec<Ipv4Net>,
    /// Keepalive interval in seconds.
    pub persistent_keepalive: Option<u16>,
    /// Pre-shared key file (mode 600).
    pub preshared_key_file: Option<PathBuf>,
}

/// The ACL policy the gateway enforces: security groups (stateful) and a
/// network ACL (stateless). Traffic from the tunnel into the LAN is
/// ingress; from the LAN into the tunnel, egress.
#[derive(Debug, Clone, Default)]
pub struct PolicyConfig {
    /// Every group the policy knows.
    pub groups: Vec<SecurityGroup>,
    /// The groups applied, in order (indices into `groups`). Empty with
    /// `enforce` false means no filtering.
    pub applied: Vec<SgId>,
    /// The network ACL, if any.
    pub nacl: Option<NetworkAcl>,
    /// Whether security groups are enforced at all.
    pub enforce: bool,
    /// Members of groups and prefix lists, for the classifier.
    pub members: PolicyMembers,
    /// Where it came from, for logs.
    pub origin: String,
}

/// What group references and prefix lists expand to.
#[derive(Debug, Clone, Default)]
pub struct PolicyMembers {
    /// Per group, its members' private addresses.
    pub members: Vec<Vec<Ipv4Addr>>,
    /// Per prefix list, its blocks.
    pub prefix_lists: Vec<Vec<Ipv4Net>>,
}

impl crate::classifier::Members for PolicyMembers {
    fn members(&self, sg: SgId) -> &[Ipv4Addr] {
        self.members.get(sg).map(Vec::as_slice).unwrap_or(&[])
    }
    fn prefix_list(&self, id: usize) -> &[Ipv4Net] {
        self.prefix_lists.get(id).map(Vec::as_slice).unwrap_or(&[])
    }
}

/// `[bgp]`: the gateway follows a kernel routing table that the box's BGP
/// daemon writes, and routes its prefixes as [`RouteSource::Bgp`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BgpConfig {
    /// The table's number: 1 to 252 or above 255 (not `unspec`, `default`,
    /// `main` or `local`).
    pub kernel_table: u32,
}

/// Connection tracking settings.
#[derive(Debug, Clone, Copy)]
pub struct ConntrackConfig {
    /// Most flows tracked at once; new flows are dropped past it.
    pub max_flows: usize,
    /// Idle timeout of an established TCP flow (AWS: 432000 s, 60-432000).
    pub tcp_established: Duration,
    /// What happens to a new flow when the table is full.
    pub when_full: WhenFull,
    /// The most flows the LAN, the tunnel and each peer may hold.
    pub limits: Limits,
}

/// The whole configuration.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// The file it came from.
    pub path: PathBuf,
    /// The interface.
    pub interface: InterfaceConfig,
    /// The peers.
    pub peers: Vec<PeerConfig>,
    /// Routes, peers by index.
    pub routes: Vec<Route>,
    /// The kernel routing table followed for BGP routes (`[bgp]`), if any.
    pub bgp: Option<BgpConfig>,
    /// ACL policy.
    pub policy: PolicyConfig,
    /// Connection tracking.
    pub conntrack: ConntrackConfig,
    /// A peer that sent nothing authenticated for this long is dead and its
    /// routes yield to backups (default: WireGuard's reject time, 180 s).
    pub dead_after: Duration,
    /// Unix socket for `vifgate status`.
    pub status_socket: PathBuf,
    /// Delay, jitter and loss applied to the outer datagrams sent to peers
    /// (`[impair]`); `None` without the table.
    pub impair: Option<ImpairConfig>,
    /// The unprivileged account the gateway becomes after start-up
    /// (`[process] user`, `group`); `None`: it keeps the one it started as.
    pub run_as: Option<RunAs>,
    /// The packet thread's `SCHED_FIFO` priority (`[process]
    /// realtime_priority`, 1 to 99); `None`: the normal policy.
    pub realtime_priority: Option<u8>,
    /// The Prometheus endpoint (`[metrics]`); `None`: off.
    pub metrics: Option<MetricsConfig>,
    /// VPC flow logs (`[flow_logs]`); `None` without the table.
    pub flow_logs: Option<FlowLogConfig>,
    /// Where packets from the tunnel may go (`[forwarding]`).
    pub forwarding: ForwardingConfig,
    /// The fair queue between the TUN device and encryption (`[queue]`).
    pub queue: crate::fair_queue::QueueConfig,
    /// Warnings raised while reading it.
    pub warnings: Diagnostics,
}

/// Reads and checks a configuration file.
pub fn load(path: impl AsRef<Path>) -> Result<GatewayConfig, Diagnostics> {
    let src = topology::diag::read_source(path.as_ref())?;
    check(&src)
}

/// Checks a configuration given as text; `path` names it in messages and
/// anchors relative paths.
pub fn parse(path: impl AsRef<Path>, text: String) -> Result<GatewayConfig, Diagnostics> {
    check(&SourceFile::new(path.as_ref(), text))
}

fn check(src: &SourceFile) -> Result<GatewayConfig, Diagnostics> {
    let path = src.name();
    let raw: RawConfig = match toml::from_str(src.text()) {
        Ok(r) => r,
        Err(e) => {
            let d = src
                .diagnostic(
                    Severity::Error,
                    e.span(),
                    format!(
                        "invalid gateway config: {}",
                        topology::diag::in_file_words(
                            e.message().trim(),
                            e.span().and_then(|r| src.text().get(r))
                        )
                    ),
                )
                .hint("see docs/gateway.md for the format");
            return Err(Diagnostics(vec![d]));
        }
    };
    let mut c = Checker {
        rep: Reporter::new(src),
        base: path.parent().map(Path::to_path_buf).unwrap_or_default(),
    };
    let config = c.config(raw, path);
    let diags = c.rep.finish();
    match config {
        Some(mut cfg) if !diags.has_errors() => {
            cfg.warnings = diags;
            Ok(cfg)
        }
        _ => Err(diags),
    }
}

/// A [`Reporter`] (diagnostics and the value checks shared with the
/// topology format) plus where relative paths start.
struct Checker<'a> {
    rep: Reporter<'a>,
    base: PathBuf,
}

impl<'a> std::ops::Deref for Checker<'a> {
    type Target = Reporter<'a>;
    fn deref(&self) -> &Reporter<'a> {
        &self.rep
    }
}

impl std::ops::DerefMut for Checker<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.rep
    }
}

impl Checker<'_> {
    /// A count of things (flows, packets, bytes) within `lo..=hi`, if the
    /// key is there: [`Checker::int_in`]'s check and message.
    fn count_in(&mut self, v: Option<&Int>, lo: usize, hi: usize, what: &str) -> Option<usize> {
        let bound = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        let n = self.int_in(v?, bound(lo), bound(hi), what)?;
        usize::try_from(n).ok()
    }

    /// The path a string of the file names, relative ones from the
    /// configuration's directory. An empty string (the directory itself)
    /// or one holding a NUL byte (which no system call takes) is an error
    /// at its place, and gives an empty path no later check looks at.
    fn path(&mut self, s: &Str) -> PathBuf {
        let text = s.get_ref();
        let problem = if text.is_empty() {
            Some("an empty path".to_string())
        } else if text.contains('\0') {
            Some(format!(
                "`{}` holds a NUL byte, which no file name can",
                text.escape_debug()
            ))
        } else {
            None
        };
        if let Some(problem) = problem {
            let d = self.error(s.span(), problem);
            d.expected = Some(
                "a file path, absolute or relative to the configuration file's directory".into(),
            );
            return PathBuf::new();
        }
        self.resolved(s)
    }

    /// The path a string of the file names, unchecked: for a path that
    /// [`Self::path`] checks at another place.
    fn resolved(&self, s: &Str) -> PathBuf {
        let p = PathBuf::from(s.get_ref());
        if p.is_absolute() {
            p
        } else {
            self.base.join(p)
        }
    }

    fn config(&mut self, raw: RawConfig, path: &Path) -> Option<GatewayConfig> {
        let i = &raw.interface;
        let name = i.name.get_ref().clone();
        if let Some(why) = interface_name_problem(&name) {
            let d = self.error(
                i.name.span(),
                format!(
                    "`{}` is not a usable interface name: {why}",
                    name.escape_debug()
                ),
            );
            d.expected = Some(format!(
                "1 to {MAX_INTERFACE_NAME} bytes, not `.` or `..`, no `/`, `:` or whitespace (the kernel's rule)"
            ));
        }
        let address = i.address.as_ref().and_then(|a| {
            let net = self.interface_cidr(a)?;
            if net.addr().is_unspecified() {
                // `ip addr add 0.0.0.0/N` succeeds and sets nothing
                let d = self.error(
                    a.span(),
                    format!("{net} is no address for the device: the kernel would set none"),
                );
                d.expected = Some("this end's address on the tunnel, like 169.254.100.1/30".into());
                d.hint = Some("leave `address` out for a device without an address".into());
                return None;
            }
            Some(net)
        });
        let mtu = i
            .mtu
            .as_ref()
            .and_then(|m| self.int_in(m, 576, 9001, "MTU"))
            .unwrap_or(1420) as u16;
        let listen_port = i
            .listen_port
            .as_ref()
            .and_then(|p| self.int_in(p, 0, 65535, "port"))
            .unwrap_or(51820) as u16;
        let tx_queue_length = i
            .tx_queue_length
            .as_ref()
            .and_then(|q| self.int_in(q, 1, 10_000, "tx_queue_length"))
            .map_or(DEFAULT_TX_QUEUE_LENGTH, |q| q as u32);
        let interface = InterfaceConfig {
            name,
            address,
            mtu,
            listen_port,
            private_key_file: self.path(&i.private_key_file),
            tx_queue_length,
        };

        let mut peers = Vec::new();
        for p in &raw.peer {
            if peers
                .iter()
                .any(|x: &PeerConfig| &x.name == p.name.get_ref())
            {
                let d = self.error(
                    p.name.span(),
                    format!("duplicate peer name `{}`", p.name.get_ref()),
                );
                d.hint = Some("peer names must be unique".into());
                continue;
            }
            let key = match p.public_key.get_ref().trim().parse::<PublicKey>() {
                Ok(k) => Some(k),
                Err(e) => {
                    let d = self.error(p.public_key.span(), format!("bad public key: {e}"));
                    d.expected =
                        Some("a WireGuard key: 44 characters of base64 (`vifgate pubkey`)".into());
                    None
                }
            };
            if let Some(k) = &key {
                if peers.iter().any(|x: &PeerConfig| &x.public_key == k) {
                    let d = self.error(p.public_key.span(), "two peers with the same public key");
                    d.hint = Some("each peer is one WireGuard key".into());
                }
            }
            let endpoint =
                p.endpoint
                    .as_ref()
                    .and_then(|e| match e.get_ref().parse::<SocketAddr>() {
                        Ok(SocketAddr::V6(_)) => {
                            let d = self
                                .error(e.span(), format!("`{}` is an IPv6 endpoint", e.get_ref()));
                            d.expected =
                                Some("an IPv4 endpoint: the gateway's socket is IPv4 only".into());
                            None
                        }
                        Ok(a) if a.port() == 0 || a.ip().is_unspecified() => {
                            // sendto() refuses port 0; 0.0.0.0 is this box
                            let d = self.error(
                                e.span(),
                                format!(
                                    "`{}` is no endpoint a datagram can be sent to",
                                    e.get_ref()
                                ),
                            );
                            d.expected =
                                Some("the peer's address and port, like 192.0.2.1:51820".into());
                            None
                        }
                        Ok(a) => Some(a),
                        Err(_) => {
                            let d = self.error(
                                e.span(),
                                format!("`{}` is not an address:port", e.get_ref()),
                            );
                            d.expected = Some("an endpoint like 192.0.2.1:51820".into());
                            None
                        }
                    });
            let allowed_ips: Vec<Ipv4Net> =
                p.allowed_ips.iter().filter_map(|a| self.cidr(a)).collect();
            if p.allowed_ips.is_empty() {
                let d = self.warning(
                    p.name.span(),
                    format!(
                        "peer `{}` has no allowed_ips: every packet from it is dropped",
                        p.name.get_ref()
                    ),
                );
                d.hint = Some("list the inner source blocks it may send from".into());
            }
            let keepalive = p
                .persistent_keepalive
                .as_ref()
                .and_then(|k| self.int_in(k, 0, 65535, "persistent keepalive"))
                .filter(|&k| k > 0)
                .map(|k| k as u16);
            if let Some(k) = key {
                peers.push(PeerConfig {
                    name: p.name.get_ref().clone(),
                    public_key: k,
                    endpoint,
                    allowed_ips,
                    persistent_keepalive: keepalive,
                    preshared_key_file: p.preshared_key_file.as_ref().map(|f| self.path(f)),
                });
            }
        }

        // every [[peer]] name, those with errors too
        let mut declared: Vec<&str> = Vec::new();
        for p in &raw.peer {
            if !declared.contains(&p.name.get_ref().as_str()) {
                declared.push(p.name.get_ref());
            }
        }
        let mut routes = Vec::new();
        for r in &raw.route {
            let prefix = self.cidr(&r.prefix);
            let peer = match peers.iter().position(|p| &p.name == r.peer.get_ref()) {
                Some(i) => Some(i),
                // a peer with errors of its own: those say what is wrong
                None if declared.contains(&r.peer.get_ref().as_str()) => None,
                None => {
                    let hint =
                        topology::diag::did_you_mean(r.peer.get_ref(), declared.iter().copied());
                    let d = self.error(
                        r.peer.span(),
                        format!("unknown peer `{}`", r.peer.get_ref()),
                    );
                    d.expected = Some(if declared.is_empty() {
                        "the name of a [[peer]]; the file has none".into()
                    } else {
                        format!("the name of a [[peer]]: {}", declared.join(", "))
                    });
                    d.hint = hint.map(|h| format!("did you mean `{h}`?"));
                    None
                }
            };
            let priority = r
                .priority
                .as_ref()
                .and_then(|p| self.int_in(p, 0, u32::MAX as i64, "priority"))
                .unwrap_or(100) as u32;
            if let (Some(prefix), Some(peer)) = (prefix, peer) {
                if routes
                    .iter()
                    .any(|x: &Route| x.prefix == prefix && x.peer == peer)
                {
                    let d = self.error(
                        r.prefix.span(),
                        format!("two routes for {prefix} to peer `{}`", r.peer.get_ref()),
                    );
                    d.hint =
                        Some("one route per prefix and peer; use priorities between peers".into());
                    continue;
                }
                routes.push(Route {
                    prefix,
                    peer,
                    priority,
                    source: RouteSource::Static,
                });
            }
        }

        let bgp = raw.bgp.as_ref().and_then(|b| self.bgp(b));

        let topology_file = raw
            .policy
            .as_ref()
            .and_then(|p| p.topology.as_ref())
            .map(|t| self.resolved(t));
        let policy = match raw.policy {
            None => PolicyConfig {
                origin: "none: no filtering".into(),
                ..Default::default()
            },
            Some(p) => self.policy(p)?,
        };

        let ct = raw.conntrack.as_ref();
        let max_flows = ct
            .and_then(|c| c.max_flows.as_ref())
            .and_then(|m| self.int_in(m, 1, 100_000_000, "max_flows"))
            .unwrap_or(1 << 20) as usize;
        let tcp_established = ct
            .and_then(|c| c.tcp_established_timeout.as_ref())
            .and_then(|m| self.int_in(m, 60, 432_000, "tcp_established_timeout"))
            .unwrap_or(432_000) as u64;
        let when_full = match ct.and_then(|c| c.when_full.as_ref()) {
            None => WhenFull::default(),
            Some(w) => WhenFull::from_name(w.get_ref()).unwrap_or_else(|| {
                let d = self.error(w.span(), format!("unknown when_full `{}`", w.get_ref()));
                d.expected = Some("`early_drop` or `refuse`".into());
                WhenFull::default()
            }),
        };
        let limits = self.conntrack_limits(ct, max_flows);
        let dead_after = raw
            .liveness
            .as_ref()
            .and_then(|l| l.dead_after.as_ref())
            .and_then(|d| self.int_in(d, 1, 3600, "dead_after"))
            .unwrap_or(180) as u64;
        let socket_key = raw.status.as_ref().and_then(|s| s.socket.as_ref());
        let status_socket = socket_key
            .map(|s| self.path(s))
            .unwrap_or_else(|| PathBuf::from(format!("/run/vifgate/{}.sock", interface.name)));
        // the default path comes from the name: its place is the name's
        let socket_span = socket_key.map_or_else(|| i.name.span(), |s| s.span());
        self.status_socket(&status_socket, socket_span);
        let impair = raw.impair.as_ref().map(|r| self.impair(r));
        let run_as = raw.process.as_ref().and_then(|p| self.process(p));
        let realtime_priority = raw
            .process
            .as_ref()
            .and_then(|p| p.realtime_priority.as_ref())
            .and_then(|v| self.int_in(v, 1, 99, "realtime_priority"))
            .and_then(|v| u8::try_from(v).ok());
        let metrics = raw.metrics.as_ref().and_then(|m| self.metrics(m));
        // what the gateway reads or makes: no flow log is written into them
        let mut own_files: Vec<(&str, PathBuf)> = vec![
            ("the configuration file", path.to_path_buf()),
            ("the private key file", interface.private_key_file.clone()),
            ("the status socket", status_socket.clone()),
        ];
        if let Some(t) = &topology_file {
            own_files.push(("the topology file", t.clone()));
        }
        for p in &peers {
            if let Some(f) = &p.preshared_key_file {
                own_files.push(("a pre-shared key file", f.clone()));
            }
        }
        let flow_logs = raw
            .flow_logs
            .as_ref()
            .and_then(|f| self.flow_logs(f, &interface.name, &own_files));

        let peer_names: Vec<&str> = peers.iter().map(|p| p.name.as_str()).collect();
        let forwarding = self.forwarding(raw.forwarding.as_ref(), &raw.route, &routes, &peer_names);
        let queue = self.queue(raw.queue.as_ref());

        Some(GatewayConfig {
            path: path.to_path_buf(),
            interface,
            peers,
            routes,
            bgp,
            policy,
            conntrack: ConntrackConfig {
                max_flows,
                tcp_established: Duration::from_secs(tcp_established),
                when_full,
                limits,
            },
            dead_after: Duration::from_secs(dead_after),
            status_socket,
            impair,
            run_as,
            realtime_priority,
            metrics,
            flow_logs,
            forwarding,
            queue,
            warnings: Diagnostics::default(),
        })
    }

    /// The status socket's path: one a socket can be bound at, where no
    /// file of another kind is (the gateway would refuse to start:
    /// [`crate::status_socket`]). Whether a gateway answers there is the
    /// state of the box, not of the file: `--check` and the start look.
    fn status_socket(&mut self, path: &Path, span: std::ops::Range<usize>) {
        let len = path.as_os_str().len();
        if len > MAX_SOCKET_PATH {
            let d = self.error(
                span,
                format!(
                    "status socket path {} is {len} bytes long: a unix socket path has at most {MAX_SOCKET_PATH}",
                    path.display()
                ),
            );
            d.hint = Some("a shorter [status] socket, such as /run/vifgate/NAME.sock".into());
            return;
        }
        if let Ok(m) = std::fs::symlink_metadata(path) {
            if !m.file_type().is_socket() {
                let d = self.error(
                    span,
                    format!(
                        "status socket {} is {}, not a socket: the gateway would refuse to replace it",
                        path.display(),
                        file_kind(m.file_type())
                    ),
                );
                d.hint = Some("give [status] socket a path of its own".into());
            }
        }
    }

    /// `[bgp]`: a table of the box's own, not one the kernel reserves:
    /// those hold the box's own routes (connected networks, its default
    /// route, local addresses), which are no BGP routes of the gateway.
    fn bgp(&mut self, b: &RawBgp) -> Option<BgpConfig> {
        let t = &b.kernel_table;
        let reserved = match *t.get_ref() {
            0 => Some("0 is no table: the kernel reads it as `unspec`, every table"),
            253 => Some("253 is the kernel's `default` table"),
            254 => Some("254 is `main`, the box's own routing table: its connected networks and default route would become BGP routes"),
            255 => Some("255 is `local`, the kernel's table of the box's own addresses"),
            _ => None,
        };
        if let Some(why) = reserved {
            let d = self.error(t.span(), format!("kernel_table {why}"));
            d.expected = Some(
                "a table of its own that only the BGP daemon writes: 1 to 252, or above 255".into(),
            );
            d.hint = Some(
                "kernel_table = 100, with `kernel table 100` in BIRD's kernel protocol".into(),
            );
            return None;
        }
        let n = self.int_in(t, 1, i64::from(u32::MAX), "kernel_table")?;
        Some(BgpConfig {
            kernel_table: n as u32,
        })
    }

    /// `[process]`: the account to become after start-up, looked up now
    /// so that a typo is a diagnostic, not a failed start.
    fn process(&mut self, p: &RawProcess) -> Option<RunAs> {
        let Some(user) = &p.user else {
            if let Some(g) = &p.group {
                let d = self.error(g.span(), "`group` needs `user`: the account to run as");
                d.expected = Some("user = \"vifgate\" (an unprivileged system user)".into());
            }
            return None;
        };
        match RunAs::lookup(
            user.get_ref(),
            p.group.as_ref().map(|g| g.get_ref().as_str()),
        ) {
            Ok(r) => Some(r),
            Err(e) => {
                let span = match (&e, &p.group) {
                    (LookupError::NoGroup(_), Some(g)) => g.span(),
                    (LookupError::Io { name, .. }, Some(g)) if name == g.get_ref() => g.span(),
                    _ => user.span(),
                };
                let d = self.error(span, e.to_string());
                d.hint = Some(match e {
                    LookupError::NoGroup(_) => "create it (groupadd --system NAME), or leave `group` out for the user's own".into(),
                    LookupError::Root(_) => "name an unprivileged user, or leave [process] out to stay root".into(),
                    _ => "create it: useradd --system --no-create-home --shell /usr/sbin/nologin vifgate".into(),
                });
                None
            }
        }
    }

    /// `[impair]`: every field is optional; what is absent or wrong is
    /// zero (wrong values are errors, so the result is then discarded).
    fn impair(&mut self, r: &RawImpair) -> ImpairConfig {
        let delay = r
            .delay
            .as_ref()
            .and_then(|d| self.duration(d, "delay", MAX_IMPAIR_DELAY))
            .unwrap_or_default();
        let jitter = r
            .jitter
            .as_ref()
            .and_then(|j| self.duration(j, "jitter", MAX_IMPAIR_DELAY))
            .unwrap_or_default();
        if let Some(j) = &r.jitter {
            if jitter > delay {
                let d = self.warning(
                    j.span(),
                    format!(
                        "jitter {} is more than delay {}: delays that would fall below zero are zero",
                        fmt_duration(jitter),
                        fmt_duration(delay)
                    ),
                );
                d.hint = Some("datagrams with a zero delay are sent at once".into());
            }
        }
        let loss = r
            .loss
            .as_ref()
            .and_then(|l| self.percentage(l, "loss").map(|p| p / 100.0))
            .unwrap_or(0.0);
        let seed = r
            .seed
            .as_ref()
            .and_then(|s| self.int_in(s, 0, i64::MAX, "seed"))
            .map(|s| s as u64);
        let queue = r
            .queue
            .as_ref()
            .and_then(|q| self.int_in(q, 1, MAX_QUEUE as i64, "queue"))
            .map(|q| q as usize)
            .unwrap_or(DEFAULT_QUEUE);
        ImpairConfig {
            delay,
            jitter,
            loss,
            seed,
            queue,
        }
    }

    fn policy(&mut self, p: RawPolicy) -> Option<PolicyConfig> {
        match (&p.topology, &p.node) {
            (Some(file), Some(node)) => {
                let inline = !p.security_group.is_empty()
                    || !p.nacls.is_empty()
                    || !p.prefix_list.is_empty()
                    || p.security_groups.is_some()
                    || p.nacl.is_some();
                if inline {
                    let d = self.error(
                        file.span(),
                        "a policy is either a topology node or inline, not both",
                    );
                    d.hint = Some("remove `topology`/`node`, or the inline groups".into());
                    return None;
                }
                let path = self.path(file);
                if path.as_os_str().is_empty() {
                    return None;
                }
                let loaded = match topology::load(&path) {
                    Ok(l) => l,
                    Err(diags) => {
                        let first = diags
                            .errors()
                            .next()
                            .map(|d| d.headline())
                            .unwrap_or_default();
                        let d = self.error(
                            file.span(),
                            format!("topology `{}` does not load: {first}", path.display()),
                        );
                        d.hint = Some(format!("run `vifgate topology check {}`", path.display()));
                        return None;
                    }
                };
                let t = loaded.topology;
                let playable: Vec<&str> = t
                    .nodes
                    .iter()
                    .filter(|n| policy_node::can_play(n))
                    .map(|n| n.name.as_str())
                    .collect();
                let expected = if playable.is_empty() {
                    "a gateway or an instance of the topology; it has none".to_string()
                } else {
                    format!(
                        "a gateway or an instance of the topology: {}",
                        playable.join(", ")
                    )
                };
                let found = t.node_by_name(node.get_ref());
                let Some(id) = found.filter(|&id| policy_node::can_play(&t.nodes[id])) else {
                    let hint = found
                        .is_none()
                        .then(|| {
                            topology::diag::did_you_mean(node.get_ref(), playable.iter().copied())
                        })
                        .flatten();
                    let d = match found {
                        Some(id) => self.error(
                            node.span(),
                            format!(
                                "node `{}` is {}: the gateway plays a gateway or an instance, whose security groups it applies",
                                node.get_ref(),
                                policy_node::kind_words(&t.nodes[id].kind)
                            ),
                        ),
                        None => self.error(
                            node.span(),
                            format!("topology has no node `{}`", node.get_ref()),
                        ),
                    };
                    d.expected = Some(expected);
                    d.hint = match hint {
                        Some(h) => Some(format!("did you mean `{h}`?")),
                        None if found.is_some() => Some(
                            "name the [[site.gateway]] or instance this box is; without [policy] nothing is filtered".into(),
                        ),
                        None => None,
                    };
                    return None;
                };
                let n = &t.nodes[id];
                let nacl = n.interfaces.iter().find_map(|i| match i.attachment {
                    topology::model::Attachment::Subnet(s) => {
                        Some(t.nacls[t.subnets[s].nacl].clone())
                    }
                    _ => None,
                });
                let members = PolicyMembers {
                    members: (0..t.security_groups.len())
                        .map(|g| t.members_of(g).to_vec())
                        .collect(),
                    prefix_lists: t.prefix_lists.iter().map(|p| p.cidrs.clone()).collect(),
                };
                Some(PolicyConfig {
                    applied: n.security_groups.clone(),
                    groups: t.security_groups.clone(),
                    nacl,
                    enforce: true,
                    members,
                    origin: format!("node `{}` of {}", n.name, path.display()),
                })
            }
            (Some(file), None) => {
                let d = self.error(
                    file.span(),
                    "`topology` needs `node`: the node this gateway plays",
                );
                d.expected = Some(
                    "node = \"vifgate-office\" (a gateway or instance of the topology)".into(),
                );
                None
            }
            (None, Some(node)) => {
                let d = self.error(
                    node.span(),
                    "`node` needs `topology`: the file the node is in",
                );
                d.expected = Some("topology = \"path/to/topology.toml\"".into());
                None
            }
            (None, None) => {
                let (standalone, diags) = topology::resolve::resolve_policy(
                    self.src,
                    &p.security_group,
                    &p.prefix_list,
                    &p.nacls,
                );
                self.diags.extend(diags.0);
                let mut applied = Vec::new();
                let enforce = p.security_groups.is_some();
                for g in p.security_groups.iter().flatten() {
                    match standalone.group(g.get_ref()) {
                        Some(i) => applied.push(i),
                        None => {
                            let names: Vec<&str> = standalone
                                .security_groups
                                .iter()
                                .map(|g| g.name.as_str())
                                .collect();
                            let d = self.error(
                                g.span(),
                                format!("unknown security group `{}`", g.get_ref()),
                            );
                            d.expected = Some(format!(
                                "the name of a [[policy.security_group]]: {}",
                                names.join(", ")
                            ));
                        }
                    }
                }
                if !enforce && !standalone.security_groups.is_empty() {
                    let first = &p.security_group[0].name;
                    let d = self.warning(first.span(), "groups are defined but none is applied");
                    d.hint = Some("list them in `security_groups = [...]` under [policy]".into());
                }
                for g in &standalone.security_groups {
                    for r in g.ingress.iter().chain(&g.egress) {
                        if let topology::security_group::Peer::SecurityGroup(_) = r.peer {
                            if let Some(raw) = p
                                .security_group
                                .iter()
                                .find(|x| x.name.get_ref() == &g.name)
                            {
                                let d = self.warning(raw.name.span(), format!("group `{}` has a group peer: an inline policy has no members, so it matches nothing", g.name));
                                d.hint =
                                    Some("use a CIDR, or point [policy] at a topology node".into());
                            }
                            break;
                        }
                    }
                }
                let nacl = match &p.nacl {
                    None => None,
                    Some(n) => match standalone.nacl(n.get_ref()) {
                        Some(i) => Some(standalone.nacls[i].clone()),
                        None => {
                            let d = self
                                .error(n.span(), format!("unknown network ACL `{}`", n.get_ref()));
                            d.expected = Some("the name of a [[policy.network_acl]]".into());
                            None
                        }
                    },
                };
                let members = PolicyMembers {
                    members: vec![vec![]; standalone.security_groups.len()],
                    prefix_lists: standalone
                        .prefix_lists
                        .iter()
                        .map(|p| p.cidrs.clone())
                        .collect(),
                };
                Some(PolicyConfig {
                    groups: standalone.security_groups,
                    applied,
                    nacl,
                    enforce,
                    members,
                    origin: "inline".into(),
                })
            }
        }
    }
}

/// Longest `delay` or `jitter` accepted.
pub const MAX_IMPAIR_DELAY: Duration = Duration::from_secs(10);

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=";

    /// An `[interface]` table and nothing else: the start of a file.
    pub(super) const INTERFACE: &str = "[interface]\nname = \"vg0\"\nprivate_key_file = \"k\"\n";

    /// `text` checked as `gw.toml`: `pick` of the configuration, or the
    /// errors' headlines.
    pub(super) fn checked<T>(
        text: String,
        pick: impl FnOnce(GatewayConfig) -> T,
    ) -> Result<T, Vec<String>> {
        parse("gw.toml", text)
            .map(pick)
            .map_err(|d| d.0.iter().map(|d| d.headline()).collect())
    }

    /// The headlines of a configuration's warnings.
    pub(super) fn warnings(c: &GatewayConfig) -> Vec<String> {
        c.warnings.0.iter().map(|d| d.headline()).collect()
    }

    /// The headlines of the errors of `text`, or of its warnings.
    fn headlines(text: &str) -> Vec<String> {
        match checked(text.to_string(), |c| warnings(&c)) {
            Ok(h) | Err(h) => h,
        }
    }

    pub(super) fn base(rest: &str) -> String {
        format!("[interface]\nname = \"vg0\"\nprivate_key_file = \"k\"\n[[peer]]\nname = \"aws\"\npublic_key = \"{KEY}\"\nallowed_ips = [\"10.0.0.0/16\"]\n{rest}")
    }

    #[test]
    fn the_tun_devices_queue_length_is_checked_at_its_place() {
        let with = |q: &str| {
            base("").replace(
                "name = \"vg0\"",
                &format!("name = \"vg0\"\ntx_queue_length = {q}"),
            )
        };
        let c = parse("gw.toml", with("64")).unwrap();
        assert_eq!(c.interface.tx_queue_length, 64);
        assert_eq!(
            headlines(&with("0")),
            ["gw.toml:3:19: error: tx_queue_length 0 is out of range"]
        );
        assert_eq!(
            headlines(&with("10001")),
            ["gw.toml:3:19: error: tx_queue_length 10001 is out of range"]
        );
        assert_eq!(headlines(&with("\"16\"")).len(), 1, "a string is no length");
    }

    #[test]
    fn a_good_config_gets_defaults() {
        let c = parse(
            "/etc/vifgate/gw.toml",
            base("[[route]]\nprefix = \"10.0.0.0/16\"\npeer = \"aws\"\n"),
        )
        .unwrap();
        assert_eq!(c.interface.mtu, 1420);
        assert_eq!(c.interface.listen_port, 51820);
        assert_eq!(c.interface.tx_queue_length, DEFAULT_TX_QUEUE_LENGTH);
        assert_eq!(
            c.interface.private_key_file,
            PathBuf::from("/etc/vifgate/k")
        );
        assert_eq!(c.routes[0].priority, 100);
        assert_eq!(c.dead_after, Duration::from_secs(180));
        assert_eq!(c.conntrack.tcp_established, Duration::from_secs(432_000));
        assert_eq!(c.status_socket, PathBuf::from("/run/vifgate/vg0.sock"));
        assert!(!c.policy.enforce);
    }

    /// A path no system call takes (empty: the directory itself; a NUL
    /// byte) is refused at its place, as `--check` says, instead of
    /// passing the check and failing the start (status socket, flow log)
    /// or failing without a place (key files).
    #[test]
    fn an_empty_path_or_one_with_a_nul_byte_is_an_error_at_its_place() {
        let key = "[interface]\nname = \"vg0\"\nprivate_key_file = ";
        assert_eq!(
            headlines(&format!("{key}\"\"\n")),
            ["gw.toml:3:20: error: an empty path"]
        );
        assert_eq!(
            headlines(&format!("{key}\"k\\u0000x\"\n")),
            ["gw.toml:3:20: error: `k\\0x` holds a NUL byte, which no file name can"]
        );
        for (table, line) in [
            ("[status]\nsocket = \"", "gw.toml:9:10"),
            ("[flow_logs]\ndestination = \"", "gw.toml:9:15"),
            ("[policy]\nnode = \"x\"\ntopology = \"", "gw.toml:10:12"),
        ] {
            assert_eq!(
                headlines(&base(&format!("{table}a\\u0000b\"\n"))),
                [format!(
                    "{line}: error: `a\\0b` holds a NUL byte, which no file name can"
                )],
                "{table}"
            );
        }
        assert_eq!(
            headlines(&base("[status]\nsocket = \"\"\n")),
            ["gw.toml:9:10: error: an empty path"]
        );
        assert_eq!(
            headlines(&base("preshared_key_file = \"\"\n")),
            ["gw.toml:8:22: error: an empty path"]
        );
    }

    #[test]
    fn every_mistake_has_its_place() {
        assert_eq!(
            headlines("[interface\nname = 1"),
            ["gw.toml:1:11: error: invalid gateway config: unclosed table, expected `]`"]
        );
        assert_eq!(
            headlines(&base(
                "[[route]]\nprefix = \"10.0.0.0/16\"\npeer = \"awss\"\n"
            )),
            ["gw.toml:10:8: error: unknown peer `awss`"]
        );
        assert_eq!(
            headlines(&base(
                "[[route]]\nprefix = \"10.0.0.1/16\"\npeer = \"aws\"\n"
            )),
            ["gw.toml:9:10: error: `10.0.0.1/16` has host bits set"]
        );
        let bad_key = headlines("[interface]\nname = \"vg0\"\nprivate_key_file = \"k\"\n[[peer]]\nname = \"x\"\npublic_key = \"abc\"\nallowed_ips = []\n");
        assert_eq!(bad_key.len(), 2, "{bad_key:?}");
        assert_eq!(
            bad_key[0],
            "gw.toml:5:8: warning: peer `x` has no allowed_ips: every packet from it is dropped"
        );
        assert!(
            bad_key[1].starts_with("gw.toml:6:14: error: bad public key:"),
            "{bad_key:?}"
        );
        assert_eq!(
            headlines(&base("endpoint = \"nowhere\"\n")),
            ["gw.toml:8:12: error: `nowhere` is not an address:port"]
        );
        for unsendable in ["192.0.2.1:0", "0.0.0.0:51820"] {
            assert_eq!(
                headlines(&base(&format!("endpoint = \"{unsendable}\"\n"))),
                [format!(
                    "gw.toml:8:12: error: `{unsendable}` is no endpoint a datagram can be sent to"
                )]
            );
        }
        assert_eq!(
            headlines(&base("[liveness]\ndead_after = 0\n")),
            ["gw.toml:9:14: error: dead_after 0 is out of range"]
        );
        assert_eq!(
            headlines(&base("[policy]\ntopology = \"t.toml\"\n")),
            ["gw.toml:9:12: error: `topology` needs `node`: the node this gateway plays"]
        );
        assert_eq!(
            headlines(&base("[policy]\nsecurity_groups = [\"edge\"]\n")),
            ["gw.toml:9:20: error: unknown security group `edge`"]
        );
    }

    #[test]
    fn interface_names_follow_the_kernel_rule() {
        let named = |name: &str| {
            headlines(&format!(
                "[interface]\nname = \"{name}\"\nprivate_key_file = \"k\"\n"
            ))
        };
        assert_eq!(
            named("."),
            ["gw.toml:2:8: error: `.` is not a usable interface name: `.` names a directory in /sys/class/net"]
        );
        assert_eq!(
            named("a:b"),
            ["gw.toml:2:8: error: `a:b` is not a usable interface name: it contains `:`"]
        );
        assert_eq!(
            named("a\\tb"),
            ["gw.toml:2:8: error: `a\\tb` is not a usable interface name: it contains the control character '\\t'"]
        );
        assert_eq!(
            named("vifgate-office-1"),
            ["gw.toml:2:8: error: `vifgate-office-1` is not a usable interface name: it is 16 bytes long, more than 15"]
        );
        assert!(named("x.y").is_empty());
        assert_eq!(
            headlines("[interface]\nname = \"vg0\"\naddress = \"0.0.0.0/30\"\nprivate_key_file = \"k\"\n"),
            ["gw.toml:3:11: error: 0.0.0.0/30 is no address for the device: the kernel would set none"]
        );
        let all = parse(
            "gw.toml",
            "[interface]\nname = \"..\"\nprivate_key_file = \"k\"\n".into(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            all.contains("expected: 1 to 15 bytes, not `.` or `..`, no `/`, `:` or whitespace"),
            "{all}"
        );
    }

    #[test]
    fn a_bad_public_key_is_one_error_not_two() {
        let text =
            base("[[route]]\nprefix = \"10.0.0.0/16\"\npeer = \"aws\"\n").replace(KEY, "not-a-key");
        let h = headlines(&text);
        assert_eq!(h.len(), 1, "{h:?}");
        assert!(
            h[0].starts_with("gw.toml:6:14: error: bad public key:"),
            "{h:?}"
        );
        // a route to no peer at all says the file has none
        let all = parse(
            "gw.toml",
            "[interface]\nname = \"vg0\"\nprivate_key_file = \"k\"\n[[route]]\nprefix = \"10.0.0.0/16\"\npeer = \"aws\"\n".into(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            all.contains("expected: the name of a [[peer]]; the file has none"),
            "{all}"
        );
    }

    #[test]
    fn the_status_socket_is_no_file_of_another_kind_and_fits_a_socket_address() {
        let dir = std::env::temp_dir().join(format!("vifgate-cfg-sock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("office.key"), "x").unwrap();
        let at = |socket: &str| {
            let text = base(&format!("[status]\nsocket = \"{socket}\"\n"));
            match parse(dir.join("gw.toml"), text) {
                Ok(c) => c.warnings.0.iter().map(|d| d.headline()).collect(),
                Err(d) => d.0.iter().map(|d| d.headline()).collect::<Vec<_>>(),
            }
        };
        let key = dir.join("office.key");
        assert_eq!(
            at("office.key"),
            [format!(
                "{}:9:10: error: status socket {} is a regular file, not a socket: the gateway would refuse to replace it",
                dir.join("gw.toml").display(),
                key.display()
            )]
        );
        assert_eq!(
            at("."),
            [format!(
                "{}:9:10: error: status socket {}/. is a directory, not a socket: the gateway would refuse to replace it",
                dir.join("gw.toml").display(),
                dir.display()
            )]
        );
        assert!(at("gw.sock").is_empty());
        let long = format!("/run/{}.sock", "s".repeat(100));
        assert_eq!(
            at(&long),
            [format!(
                "{}:9:10: error: status socket path {long} is 110 bytes long: a unix socket path has at most 107",
                dir.join("gw.toml").display()
            )]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bgp_names_a_kernel_table_of_its_own() {
        assert!(parse("gw.toml", base("")).unwrap().bgp.is_none());
        let c = parse("gw.toml", base("[bgp]\nkernel_table = 100\n")).unwrap();
        assert_eq!(c.bgp, Some(BgpConfig { kernel_table: 100 }));
        let c = parse("gw.toml", base("[bgp]\nkernel_table = 1000\n")).unwrap();
        assert_eq!(c.bgp.map(|b| b.kernel_table), Some(1000));
        let one = |rest: &str| headlines(&base(&format!("[bgp]\n{rest}\n")));
        assert_eq!(
            one("kernel_table = 0"),
            ["gw.toml:9:16: error: kernel_table 0 is no table: the kernel reads it as `unspec`, every table"]
        );
        assert_eq!(
            one("kernel_table = 253"),
            ["gw.toml:9:16: error: kernel_table 253 is the kernel's `default` table"]
        );
        assert_eq!(
            one("kernel_table = 254"),
            ["gw.toml:9:16: error: kernel_table 254 is `main`, the box's own routing table: its connected networks and default route would become BGP routes"]
        );
        assert_eq!(
            one("kernel_table = 255"),
            ["gw.toml:9:16: error: kernel_table 255 is `local`, the kernel's table of the box's own addresses"]
        );
        assert_eq!(
            one("kernel_table = -1"),
            ["gw.toml:9:16: error: kernel_table -1 is out of range"]
        );
        assert_eq!(
            one("kernel_table = 4294967296"),
            ["gw.toml:9:16: error: kernel_table 4294967296 is out of range"]
        );
        let all = parse("gw.toml", base("[bgp]\nkernel_table = 254\n"))
            .unwrap_err()
            .to_string();
        assert!(
            all.contains(
                "hint: kernel_table = 100, with `kernel table 100` in BIRD's kernel protocol"
            ),
            "{all}"
        );
        let h = one("");
        assert_eq!(h.len(), 1);
        assert!(
            h[0].starts_with(
                "gw.toml:8:1: error: invalid gateway config: missing field `kernel_table`"
            ),
            "{h:?}"
        );
        let h = one("table = 100");
        assert!(
            h[0].starts_with("gw.toml:9:1: error: invalid gateway config: unknown field `table`"),
            "{h:?}"
        );
    }

    #[test]
    fn process_names_an_unprivileged_account() {
        assert!(parse("gw.toml", base("")).unwrap().run_as.is_none());
        let c = parse("gw.toml", base("[process]\nuser = \"nobody\"\n")).unwrap();
        let r = c.run_as.expect("[process] user");
        assert_eq!((r.user.as_str(), r.uid), ("nobody", 65534));
        let c = parse(
            "gw.toml",
            base("[process]\nuser = \"nobody\"\ngroup = \"root\"\n"),
        )
        .unwrap();
        assert_eq!(c.run_as.expect("user and group").gid, 0);
        let one = |rest: &str| headlines(&base(&format!("[process]\n{rest}\n")));
        assert_eq!(
            one("user = \"no-such-user-vifgate\""),
            ["gw.toml:9:8: error: no user `no-such-user-vifgate` on this system"]
        );
        assert_eq!(
            one("user = \"nobody\"\ngroup = \"no-such-group-vifgate\""),
            ["gw.toml:10:9: error: no group `no-such-group-vifgate` on this system"]
        );
        assert_eq!(
            one("user = \"root\""),
            ["gw.toml:9:8: error: user `root` is root (uid 0): the gateway would keep every privilege"]
        );
        assert_eq!(
            one("group = \"nogroup\""),
            ["gw.toml:9:9: error: `group` needs `user`: the account to run as"]
        );
        let d = parse("gw.toml", base("[process]\nuser = \"vifgate-no-such\"\n")).unwrap_err();
        assert!(d.to_string().contains("useradd --system"), "{d}");
    }

    #[test]
    fn process_realtime_priority_is_a_fifo_priority() {
        assert_eq!(parse("gw.toml", base("")).unwrap().realtime_priority, None);
        let c = parse("gw.toml", base("[process]\nrealtime_priority = 10\n")).unwrap();
        assert_eq!(c.realtime_priority, Some(10));
        let one = |rest: &str| headlines(&base(&format!("[process]\n{rest}\n")));
        assert_eq!(
            one("realtime_priority = 0"),
            ["gw.toml:9:21: error: realtime_priority 0 is out of range"]
        );
        assert_eq!(
            one("realtime_priority = 100"),
            ["gw.toml:9:21: error: realtime_priority 100 is out of range"]
        );
        assert_eq!(one("realtime_priority = \"high\"").len(), 1);
    }

    #[test]
    fn impair_reads_durations_percentages_and_defaults() {
        let c = parse("gw.toml", base("")).unwrap();
        assert!(c.impair.is_none(), "no [impair], no impairment");
        let c = parse("gw.toml", base("[impair]\n")).unwrap();
        let i = c.impair.expect("an empty [impair]");
        assert!(i.is_noop());
        assert_eq!(i.queue, DEFAULT_QUEUE);
        assert_eq!(i.seed, None);
        let c = parse(
            "gw.toml",
            base("[impair]\ndelay = \"2ms\"\njitter = \"0.5ms\"\nloss = \"1%\"\nseed = 7\nqueue = 100\n"),
        )
        .unwrap();
        let i = c.impair.expect("[impair]");
        assert_eq!(i.delay, Duration::from_millis(2));
        assert_eq!(i.jitter, Duration::from_micros(500));
        assert!((i.loss - 0.01).abs() < 1e-12, "{}", i.loss);
        assert_eq!(i.seed, Some(7));
        assert_eq!(i.queue, 100);
        assert!(c.warnings.0.is_empty());
        let c = parse(
            "gw.toml",
            base("[impair]\ndelay = \"250us\"\nloss = \"100%\"\n"),
        )
        .unwrap();
        let i = c.impair.expect("[impair]");
        assert_eq!(i.delay, Duration::from_micros(250));
        assert_eq!(i.loss, 1.0);
    }

    #[test]
    fn bad_impair_values_have_their_place() {
        let one = |rest: &str| headlines(&base(&format!("[impair]\n{rest}\n")));
        assert_eq!(
            one("delay = \"2x\""),
            ["gw.toml:9:9: error: `2x` is not a duration"]
        );
        assert_eq!(
            one("delay = 2"),
            ["gw.toml:9:9: error: `2` is not a duration"]
        );
        assert_eq!(
            one("delay = \"11s\""),
            ["gw.toml:9:9: error: delay 11s is out of range"]
        );
        assert_eq!(
            one("jitter = \"-1ms\""),
            ["gw.toml:9:10: error: jitter -1ms is out of range"]
        );
        assert_eq!(
            one("loss = \"150%\""),
            ["gw.toml:9:8: error: loss 150% is out of range"]
        );
        assert_eq!(
            one("loss = 0.01"),
            ["gw.toml:9:8: error: `0.01` is not a percentage"]
        );
        assert_eq!(
            one("loss = \"1\""),
            ["gw.toml:9:8: error: `1` is not a percentage"]
        );
        assert_eq!(
            one("seed = -1"),
            ["gw.toml:9:8: error: seed -1 is out of range"]
        );
        assert_eq!(
            one("queue = 0"),
            ["gw.toml:9:9: error: queue 0 is out of range"]
        );
        let h = one("delay_ms = 2");
        assert_eq!(h.len(), 1);
        assert!(
            h[0].starts_with(
                "gw.toml:9:1: error: invalid gateway config: unknown field `delay_ms`"
            ),
            "{h:?}"
        );
        // every mistake at once
        assert_eq!(
            one("delay = \"2 seconds\"\njitter = \"1m\"\nloss = \"-5%\"\nqueue = 2000000"),
            [
                "gw.toml:9:9: error: `2 seconds` is not a duration",
                "gw.toml:10:10: error: `1m` is not a duration",
                "gw.toml:11:8: error: loss -5% is out of range",
                "gw.toml:12:9: error: queue 2000000 is out of range",
            ]
        );
        // a jitter larger than the delay is only a warning
        assert_eq!(
            one("delay = \"1ms\"\njitter = \"2ms\""),
            ["gw.toml:10:10: warning: jitter 2ms is more than delay 1ms: delays that would fall below zero are zero"]
        );
    }

    #[test]
    fn conntrack_when_full_defaults_to_early_drop() {
        let c = parse("gw.toml", base("")).unwrap();
        assert_eq!(c.conntrack.when_full, WhenFull::EarlyDrop);
        let c = parse("gw.toml", base("[conntrack]\nwhen_full = \"refuse\"\n")).unwrap();
        assert_eq!(c.conntrack.when_full, WhenFull::Refuse);
        let text = base("[conntrack]\nwhen_full = \"evict\"\n");
        let all = parse("gw.toml", text).unwrap_err().to_string();
        assert!(
            all.contains("gw.toml:9:13: error: unknown when_full `evict`"),
            "{all}"
        );
        assert!(all.contains("expected: `early_drop` or `refuse`"), "{all}");
    }

    #[test]
    fn impair_messages_say_what_was_expected() {
        let text = base("[impair]\ndelay = 2\nloss = 0.01\n");
        let d = parse("gw.toml", text).unwrap_err();
        let all = d.to_string();
        assert!(all.contains("did you mean `delay = \"2ms\"`?"), "{all}");
        assert!(all.contains("or \"1%\" for a probability of 0.01"), "{all}");
        assert!(all.contains("expected: a percentage in quotes"), "{all}");
    }

    #[test]
    fn inline_policy_uses_the_topology_rule_format_and_its_errors() {
        let text = base("[policy]\nsecurity_groups = [\"edge\"]\n[[policy.security_group]]\nname = \"edge\"\ningress = [{ protocol = \"icmp\", icmp_type = -1, icmp_code = 3, cidr = \"10.0.0.0/16\" }]\n");
        assert_eq!(
            headlines(&text),
            ["gw.toml:12:61: error: ICMP type -1 (all types) with a specific code"]
        );
    }

    #[test]
    fn a_policy_can_be_a_node_of_the_bundled_topology() {
        let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/yeohaengjigi.toml");
        let c = parse(
            "gw.toml",
            base(&format!(
                "[policy]\ntopology = \"{example}\"\nnode = \"vifgate-office\"\n"
            )),
        )
        .unwrap();
        assert!(c.policy.enforce);
        assert_eq!(c.policy.applied.len(), 1);
        assert_eq!(c.policy.groups[c.policy.applied[0]].name, "office-edge-sg");
        let bad = base(&format!(
            "[policy]\ntopology = \"{example}\"\nnode = \"vifgate-ofice\"\n"
        ));
        let h = headlines(&bad);
        assert_eq!(h.len(), 1);
        assert!(
            h[0].starts_with("gw.toml:10:8: error: topology has no node `vifgate-ofice`"),
            "{h:?}"
        );
    }

    #[test]
    fn a_policy_node_is_a_gateway_or_an_instance() {
        let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/yeohaengjigi.toml");
        let playing = |node: &str| {
            parse(
                "gw.toml",
                base(&format!(
                    "[policy]\ntopology = \"{example}\"\nnode = \"{node}\"\n"
                )),
            )
        };
        let bastion = playing("bastion").unwrap();
        assert_eq!(
            bastion.policy.groups[bastion.policy.applied[0]].name,
            "bastion-sg"
        );
        for (node, kind) in [
            ("office-pc", "an office host"),
            ("office-router", "an office router ([[site.router]])"),
            ("nat-a", "a NAT gateway"),
            ("internet", "the internet"),
            ("alb", "a load balancer"),
        ] {
            let d = playing(node).unwrap_err();
            let h: Vec<String> = d.0.iter().map(|d| d.headline()).collect();
            assert_eq!(
                h,
                [format!("gw.toml:10:8: error: node `{node}` is {kind}: the gateway plays a gateway or an instance, whose security groups it applies")]
            );
            let all = d.to_string();
            assert!(
                all.contains(
                    "expected: a gateway or an instance of the topology: vifgate-office, bastion"
                ),
                "{all}"
            );
            assert!(
                all.contains("hint: name the [[site.gateway]] or instance this box is; without [policy] nothing is filtered"),
                "{all}"
            );
        }
    }
}
