//! The gateway's configuration file as a plain value, for programs that
//! write or edit one (the simulator): [`GatewayConfigFile`] serialises to
//! the TOML that [`crate::config::load`] reads, and reads such a file back,
//! so that nothing assembles TOML by hand and every name is escaped.
//!
//! Values have their file spelling: durations as `"250us"`, the loss as
//! `"1%"`, addresses and endpoints as text. The checks and the
//! `file:line:col` messages stay with [`crate::config`], which reads the
//! same format; an inline policy's groups and ACLs (the topology format)
//! are carried here as TOML tables, unchecked.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

/// A whole configuration file (`docs/gateway.md`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfigFile {
    /// `[interface]`.
    pub interface: InterfaceFile,
    /// `[[peer]]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub peer: Vec<PeerFile>,
    /// `[[route]]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub route: Vec<RouteFile>,
    /// `[bgp]`: the kernel routing table the gateway follows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bgp: Option<BgpFile>,
    /// `[liveness]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liveness: Option<LivenessFile>,
    /// `[policy]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<PolicyFile>,
    /// `[conntrack]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conntrack: Option<ConntrackFile>,
    /// `[status]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<StatusFile>,
    /// `[impair]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impair: Option<ImpairFile>,
    /// `[process]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<ProcessFile>,
    /// `[metrics]`: the Prometheus endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<MetricsFile>,
    /// `[flow_logs]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_logs: Option<FlowLogsFile>,
    /// `[forwarding]`: where packets from the tunnel may go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forwarding: Option<ForwardingFile>,
}

/// `[forwarding]`: the office's routes and the box's addresses the far
/// end may reach.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardingFile {
    /// The prefixes behind this gateway; absent: any not routed back into
    /// the tunnel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destinations: Option<Vec<Ipv4Net>>,
    /// Addresses of the box itself the far end may open flows to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_to_box: Vec<Ipv4Net>,
}

/// `[metrics]`: where the gateway serves `GET /metrics`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsFile {
    /// Address and port (`127.0.0.1:9586` when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
}

/// `[flow_logs]`: VPC flow log records from the gateway.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowLogsFile {
    /// A file path, or `-` for standard output.
    pub destination: String,
    /// AWS's custom format (`${version} ${srcaddr} ...`); absent: the
    /// version 2 default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// Seconds: 60 (the default) or 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aggregation_interval: Option<u64>,
    /// Most flows held per interval (the rest is one SKIPDATA record).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_flows: Option<u64>,
    /// `account-id` (default `-`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// `interface-id` (default: the gateway's interface name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface_id: Option<String>,
}

/// `[process]`: the unprivileged account the gateway becomes after
/// start-up, and its packet thread's real-time priority.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessFile {
    /// The user's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The group's name; the user's primary group when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// The packet thread's `SCHED_FIFO` priority (1 to 99).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realtime_priority: Option<u8>,
}

/// `[interface]`: the TUN device and the tunnel's own end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InterfaceFile {
    /// TUN device name.
    pub name: String,
    /// Address and prefix on the TUN device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Ipv4Net>,
    /// Tunnel MTU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u16>,
    /// UDP listen port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen_port: Option<u16>,
    /// Private key file.
    pub private_key_file: PathBuf,
    /// The TUN device's transmit queue, in packets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tx_queue_length: Option<u32>,
}

/// `[[peer]]`: a WireGuard peer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerFile {
    /// Its name.
    pub name: String,
    /// Its public key (base64).
    pub public_key: String,
    /// Where to send to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<SocketAddr>,
    /// Inner source blocks it may send from.
    #[serde(default)]
    pub allowed_ips: Vec<Ipv4Net>,
    /// Keepalive interval in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistent_keepalive: Option<u16>,
    /// Pre-shared key file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preshared_key_file: Option<PathBuf>,
}

/// `[[route]]`: a prefix routed to a peer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteFile {
    /// The prefix.
    pub prefix: Ipv4Net,
    /// The peer's name.
    pub peer: String,
    /// Lower wins among live peers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u32>,
}

/// `[bgp]`: routes learned by the box's BGP daemon, read from the kernel
/// routing table it writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BgpFile {
    /// The kernel routing table's number (BIRD's `kernel table N`).
    pub kernel_table: u32,
}

/// `[liveness]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LivenessFile {
    /// Seconds of silence after which a peer is dead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_after: Option<u64>,
}

/// `[policy]`: a node of a topology file, or inline groups and ACLs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyFile {
    /// The topology file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topology: Option<PathBuf>,
    /// The node of that topology this gateway plays.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// The inline groups applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_groups: Option<Vec<String>>,
    /// The inline network ACL applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nacl: Option<String>,
    /// `[[policy.security_group]]`, in the topology format.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_group: Vec<toml::Table>,
    /// `[[policy.prefix_list]]`, in the topology format.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prefix_list: Vec<toml::Table>,
    /// `[[policy.network_acl]]`, in the topology format.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub network_acl: Vec<toml::Table>,
}

/// `[conntrack]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConntrackFile {
    /// Most flows tracked at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_flows: Option<u64>,
    /// Idle timeout of an established TCP flow, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_established_timeout: Option<u64>,
    /// What happens to a new flow when the table is full: `early_drop`
    /// (the default) or `refuse`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when_full: Option<String>,
    /// Most flows opened from the LAN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lan_max_flows: Option<u64>,
    /// Most flows opened from the tunnel, all peers together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tunnel_max_flows: Option<u64>,
    /// Most flows opened by any one peer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_max_flows: Option<u64>,
}

/// `[status]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusFile {
    /// The unix socket `vifgate status` asks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub socket: Option<PathBuf>,
}

/// `[impair]`: delay, jitter and loss of the datagrams sent to peers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImpairFile {
    /// Mean one-way delay (`"2ms"`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "duration_text"
    )]
    pub delay: Option<Duration>,
    /// Jitter around the delay.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "duration_text"
    )]
    pub jitter: Option<Duration>,
    /// Loss, percent (`"1%"`).
    #[serde(
        default,
        rename = "loss",
        skip_serializing_if = "Option::is_none",
        with = "percent_text"
    )]
    pub loss_percent: Option<f64>,
    /// Seed of the loss and jitter draws.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Most datagrams held at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<usize>,
}

/// A duration as the file writes it (`"250us"`).
mod duration_text {
    use std::time::Duration;

    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    use topology::units::{fmt_duration, parse_duration};

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&fmt_duration(*d)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let Some(text) = Option::<String>::deserialize(d)? else {
            return Ok(None);
        };
        parse_duration(&text)
            .map(Some)
            .map_err(|_| D::Error::custom(format!("`{text}` is not a duration")))
    }
}

/// A percentage as the file writes it (`"1%"`).
mod percent_text {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(p: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
        match p {
            Some(p) => s.serialize_str(&format!("{p}%")),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        let Some(text) = Option::<String>::deserialize(d)? else {
            return Ok(None);
        };
        topology::units::parse_percent(&text)
            .map(Some)
            .map_err(|_| D::Error::custom(format!("`{text}` is not a percentage")))
    }
}

/// Why a configuration file could not be read or written as a value.
#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    /// The file could not be read or written.
    #[error("{path}: {cause}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error (in the message already, so not a `source()`: a
        /// chain printed whole says it once).
        cause: std::io::Error,
    },
    /// The file is not in the format.
    #[error("{path}: {cause}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The error (in the message already, so not a `source()`: a
        /// chain printed whole says it once).
        cause: toml::de::Error,
    },
    /// The value has no TOML form.
    #[error("cannot write the gateway configuration: {0}")]
    Serialize(toml::ser::Error),
}

impl GatewayConfigFile {
    /// The TOML text, after a `# comment` line per line of `header`.
    pub fn to_toml(&self, header: &str) -> Result<String, ConfigFileError> {
        let mut out: String = header.lines().map(|l| format!("# {l}\n")).collect();
        out.push_str(&toml::to_string(self).map_err(ConfigFileError::Serialize)?);
        Ok(out)
    }

    /// Reads a file.
    pub fn read(path: &std::path::Path) -> Result<Self, ConfigFileError> {
        let text = topology::diag::read_input_text(path).map_err(|cause| ConfigFileError::Io {
            path: path.to_path_buf(),
            cause,
        })?;
        toml::from_str(&text).map_err(|cause| ConfigFileError::Parse {
            path: path.to_path_buf(),
            cause,
        })
    }

    /// Writes it to `path` (through a temporary file beside it, renamed
    /// over it, so that a reload never reads half a file). The temporary
    /// file is new (named after this process, created exclusively: no
    /// file of that name is overwritten) and removed if the rename fails.
    pub fn write(&self, path: &std::path::Path, header: &str) -> Result<(), ConfigFileError> {
        use std::io::Write as _;
        let io = |cause| ConfigFileError::Io {
            path: path.to_path_buf(),
            cause,
        };
        let text = self.to_toml(header)?;
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(format!(".{}.tmp", std::process::id()));
        let tmp = PathBuf::from(tmp);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(io)?;
        // from here the temporary file is this call's own
        let renamed = file
            .write_all(text.as_bytes())
            .and_then(|()| std::fs::rename(&tmp, path));
        if renamed.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        renamed.map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=";

    fn example() -> GatewayConfigFile {
        GatewayConfigFile {
            interface: InterfaceFile {
                name: "vg0".into(),
                address: Some("192.168.255.1/30".parse().unwrap()),
                mtu: Some(1420),
                listen_port: Some(51820),
                private_key_file: "/etc/vifgate/office.key".into(),
                tx_queue_length: Some(64),
            },
            peer: vec![PeerFile {
                name: "aws \"east\" \\ 1".into(),
                public_key: KEY.into(),
                endpoint: Some("192.0.2.2:51820".parse().unwrap()),
                allowed_ips: vec!["10.0.0.0/16".parse().unwrap()],
                persistent_keepalive: Some(1),
                preshared_key_file: None,
            }],
            route: vec![RouteFile {
                prefix: "10.0.0.0/16".parse().unwrap(),
                peer: "aws \"east\" \\ 1".into(),
                priority: Some(10),
            }],
            bgp: Some(BgpFile { kernel_table: 100 }),
            liveness: Some(LivenessFile {
                dead_after: Some(3),
            }),
            policy: None,
            conntrack: Some(ConntrackFile {
                max_flows: Some(1000),
                tcp_established_timeout: None,
                when_full: None,
                lan_max_flows: None,
                tunnel_max_flows: Some(400),
                peer_max_flows: Some(200),
            }),
            status: Some(StatusFile {
                socket: Some("/run/vifgate/sim/yh/office.sock".into()),
            }),
            impair: Some(ImpairFile {
                delay: Some(Duration::from_micros(250)),
                jitter: Some(Duration::from_micros(1500)),
                loss_percent: Some(0.5),
                seed: Some(7),
                queue: None,
            }),
            process: Some(ProcessFile {
                user: Some("nobody".into()),
                group: None,
                realtime_priority: Some(10),
            }),
            metrics: Some(MetricsFile {
                listen: Some("127.0.0.1:9586".parse().unwrap()),
            }),
            flow_logs: Some(FlowLogsFile {
                destination: "/var/log/vifgate/flows.log".into(),
                format: Some("${version} ${srcaddr} ${flow-direction}".into()),
                aggregation_interval: Some(10),
                max_flows: Some(500),
                account_id: Some("123456789010".into()),
                interface_id: None,
            }),
            forwarding: Some(ForwardingFile {
                destinations: Some(vec!["192.168.10.0/24".parse().unwrap()]),
                allow_to_box: vec!["169.254.100.1/32".parse().unwrap()],
            }),
        }
    }

    #[test]
    fn round_trips_through_toml() {
        let f = example();
        let text = f.to_toml("generated\nfor a test").unwrap();
        assert!(
            text.starts_with("# generated\n# for a test\n[interface]\n"),
            "{text}"
        );
        assert!(text.contains("delay = \"250us\""), "{text}");
        assert!(text.contains("loss = \"0.5%\""), "{text}");
        assert!(text.contains("[bgp]\nkernel_table = 100\n"), "{text}");
        let back: GatewayConfigFile = toml::from_str(&text).unwrap();
        assert_eq!(back, f);
    }

    #[test]
    fn writing_replaces_the_file_and_no_other() {
        let dir = std::env::temp_dir().join(format!("vifgate-cfgwrite-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("gw.toml");
        std::fs::write(&path, "old").unwrap();
        // a file that a fixed temporary name (`gw.toml.tmp`) would clobber
        std::fs::write(dir.join("gw.toml.tmp"), "someone's").unwrap();
        example().write(&path, "").unwrap();
        assert_eq!(
            GatewayConfigFile::read(&path).unwrap(),
            example(),
            "replaced"
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("gw.toml.tmp")).unwrap(),
            "someone's"
        );
        let mut left: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["gw.toml", "gw.toml.tmp"], "no temporary file left");
        // into a directory that is gone: an error, nothing left behind
        let gone = dir.join("gone").join("gw.toml");
        assert!(example().write(&gone, "").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn what_it_writes_the_gateway_reads() {
        let text = example().to_toml("").unwrap();
        let c = match crate::config::parse("gw.toml", text.clone()) {
            Ok(c) => c,
            Err(d) => panic!("{d}\n{text}"),
        };
        assert_eq!(c.peers[0].name, "aws \"east\" \\ 1", "escaped, read back");
        assert_eq!(c.routes[0].peer, 0);
        assert_eq!(c.bgp.map(|b| b.kernel_table), Some(100));
        assert_eq!(
            (c.conntrack.limits.tunnel, c.conntrack.limits.peer),
            (400, 200)
        );
        assert_eq!(
            c.forwarding.destinations,
            Some(vec!["192.168.10.0/24".parse().unwrap()])
        );
        assert_eq!(
            c.metrics.map(|m| m.listen),
            Some("127.0.0.1:9586".parse().unwrap())
        );
        let flow_logs = c.flow_logs.as_ref().expect("[flow_logs]");
        assert_eq!(flow_logs.aggregator.interval.as_secs(), 10);
        assert_eq!(flow_logs.identity.interface_id, "vg0");
        assert_eq!(c.dead_after, Duration::from_secs(3));
        assert_eq!(c.conntrack.max_flows, 1000);
        assert_eq!(c.realtime_priority, Some(10));
        let i = c.impair.expect("[impair]");
        assert_eq!(i.delay, Duration::from_micros(250));
        assert_eq!(i.jitter, Duration::from_micros(1500));
        assert!((i.loss - 0.005).abs() < 1e-12, "{}", i.loss);
    }

    #[test]
    fn reads_an_inline_policy_and_writes_it_back() {
        let text = format!(
            "[interface]\nname = \"vg0\"\nprivate_key_file = \"k\"\n[[peer]]\nname = \"aws\"\npublic_key = \"{KEY}\"\nallowed_ips = [\"10.0.0.0/16\"]\n[policy]\nsecurity_groups = [\"edge\"]\n[[policy.security_group]]\nname = \"edge\"\ningress = [{{ protocol = \"icmp\", icmp_type = 8, icmp_code = -1, cidr = \"10.0.0.0/16\" }}]\n"
        );
        let f: GatewayConfigFile = toml::from_str(&text).unwrap();
        let again = f.to_toml("").unwrap();
        let back: GatewayConfigFile = toml::from_str(&again).unwrap();
        assert_eq!(back, f);
        let c = crate::config::parse("gw.toml", again).unwrap();
        assert!(c.policy.enforce);
        assert_eq!(c.policy.groups[0].name, "edge");
    }

    #[test]
    fn reads_the_full_examples_of_the_docs() {
        let docs = include_str!("../../docs/gateway.md");
        let examples: Vec<&str> = docs
            .split("```toml\n")
            .skip(1)
            .filter_map(|b| b.split("```").next())
            .filter(|b| b.contains("[interface]"))
            .collect();
        assert!(examples.len() >= 2, "the office and the AWS end");
        for text in examples {
            let f: GatewayConfigFile = match toml::from_str(text) {
                Ok(f) => f,
                Err(e) => panic!("{e}\n{text}"),
            };
            let back: GatewayConfigFile = toml::from_str(&f.to_toml("").unwrap()).unwrap();
            assert_eq!(back, f);
        }
    }

    #[test]
    fn the_documented_bgp_example_follows_table_100() {
        let docs = include_str!("../../docs/gateway.md");
        let example = docs
            .split("```toml\n")
            .filter_map(|b| b.split("```").next())
            .find(|b| b.contains("[bgp]") && b.contains("[interface]"))
            .expect("docs/gateway.md has a configuration with [bgp]");
        let c = match crate::config::parse("office.toml", example.to_string()) {
            Ok(c) => c,
            Err(d) => panic!("{d}\n{example}"),
        };
        assert_eq!(c.bgp.map(|b| b.kernel_table), Some(100));
        assert!(c.routes.is_empty(), "the routes come from table 100");
        assert_eq!(
            c.peers[0].endpoint,
            Some("169.254.100.2:51820".parse().unwrap()),
            "the BGP neighbour, the routes' next hop"
        );
    }

    #[test]
    fn refuses_what_is_not_the_format() {
        let bad =
            "[interface]\nname = \"vg0\"\nprivate_key_file = \"k\"\n[impair]\ndelay = \"soon\"\n";
        let e = toml::from_str::<GatewayConfigFile>(bad).unwrap_err();
        assert!(e.to_string().contains("`soon` is not a duration"), "{e}");
        let unknown = "[interface]\nname = \"vg0\"\nprivate_key_file = \"k\"\nspeed = 1\n";
        assert!(toml::from_str::<GatewayConfigFile>(unknown).is_err());
    }
}
