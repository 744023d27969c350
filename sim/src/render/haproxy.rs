//! HAProxy playing each load balancer (`[sim] load_balancer =
//! "haproxy"`) as an ALB's target groups do: one frontend per listener,
//! round robin over the listener's targets, the target group's health
//! check (scaled by `[sim] time_scale`), slow start and AWS's stickiness
//! cookies (`AWSALB`, `AWSALBAPP-0`, with an expiry that slides), a
//! response header naming the target that answered, and an admin stats
//! socket: `sim apply` registers and deregisters targets through it
//! (HAProxy's runtime API), and a reload takes the listening sockets over
//! through it (`-x`), so that no connection is refused meanwhile.
//!
//! An Auto Scaling group's instances sit in server *slots*, one per
//! possible member up to the group's `max` (HAProxy 2.6 cannot add a
//! server with a cookie at run time): a slot not in service is declared
//! `disabled` at [`PLACEHOLDER`], and registering an instance gives the
//! slot its address.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::time::Duration;

use topology::model::scaling::Stickiness;
use topology::model::{Listener, NodeKind, SimSettings, Topology};

use crate::render::names::{
    comment, haproxy_expr_arg, haproxy_name, haproxy_sample_arg, haproxy_string,
};

/// The address of a server slot no instance is in.
pub const PLACEHOLDER: Ipv4Addr = Ipv4Addr::UNSPECIFIED;

/// The response header naming the instance that answered (read by
/// `vifgate sim load`).
pub const TARGET_HEADER: &str = "X-Vifgate-Target";

/// The cookie of `lb_cookie` stickiness, as an ALB names it.
pub const LB_COOKIE: &str = "AWSALB";

/// The cookie of `app_cookie` stickiness, as an ALB names it.
pub const APP_COOKIE: &str = "AWSALBAPP-0";

/// One load balancer's HAProxy configuration, as a value: rendered to
/// text by its [`fmt::Display`], the one place that writes HAProxy's
/// language (every topology name through [`crate::render::names`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HaproxyConfig {
    /// The load balancer's node name (in the first comment).
    pub node: String,
    /// The `global` section.
    pub global: Global,
    /// The `defaults` section.
    pub defaults: Defaults,
    /// The map file from server names to the instances in them (see
    /// [`HaproxyConfig::target_map`]): what [`TARGET_HEADER`] says.
    pub target_map: PathBuf,
    /// One frontend and its backend per listener, in the file's order.
    pub listeners: Vec<ListenerProxies>,
}

/// HAProxy's `global` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Global {
    /// `maxconn`.
    pub maxconn: u32,
    /// The admin stats socket (`level admin expose-fd listeners`): the
    /// runtime API `sim apply` uses and a reload takes sockets over from.
    pub stats_socket: PathBuf,
}

/// HAProxy's `defaults` section (`mode http`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Defaults {
    /// `timeout connect`, in seconds.
    pub connect_s: u32,
    /// `timeout client`, in seconds.
    pub client_s: u32,
    /// `timeout server`, in seconds.
    pub server_s: u32,
}

/// A listener: its frontend on the port and the backend it sends to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerProxies {
    /// The listener's protocol as the file has it (`http`, `https`), in a
    /// comment: TLS is not terminated in the lab.
    pub protocol: String,
    /// The frontend.
    pub frontend: Frontend,
    /// The backend.
    pub backend: Backend,
}

/// A `frontend` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frontend {
    /// Its name (`l` and the port).
    pub name: String,
    /// The address it binds.
    pub bind: (Ipv4Addr, u16),
    /// The backend's name.
    pub default_backend: String,
}

/// A `backend` section: the target group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    /// Its name (`b` and the port).
    pub name: String,
    /// `balance`.
    pub balance: Balance,
    /// Sticky sessions, when on.
    pub sticky: Option<StickyCookie>,
    /// The health check, on the lab's clock.
    pub check: Check,
    /// `slowstart` of every server, on the lab's clock.
    pub slow_start: Option<Duration>,
    /// How long a deregistered target drains, on the lab's clock (not
    /// HAProxy's: `sim apply` waits it).
    pub deregistration_delay: Duration,
    /// The servers: fixed targets and slots.
    pub servers: Vec<Server>,
}

/// A backend's balancing algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Balance {
    /// `roundrobin`, as an ALB's default.
    RoundRobin,
}

/// An ALB's stickiness cookie. Its value is the server's name; it is set
/// by `http-response` rules (HAProxy's `cookie` reads it, in passive
/// mode), so that its `Expires` is now plus the duration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StickyCookie {
    /// [`LB_COOKIE`] on every response: the expiry slides with each
    /// request.
    Lb {
        /// Lifetime (real time: not scaled).
        duration: Duration,
    },
    /// [`APP_COOKIE`], set on a response that sets the application's
    /// cookie, and on one from another target than the request's cookie
    /// named (the client is pinned anew).
    App {
        /// The application's cookie.
        cookie_name: String,
        /// Lifetime (real time: not scaled).
        duration: Duration,
    },
}

impl StickyCookie {
    /// The cookie's name.
    pub fn name(&self) -> &'static str {
        match self {
            StickyCookie::Lb { .. } => LB_COOKIE,
            StickyCookie::App { .. } => APP_COOKIE,
        }
    }

    fn duration(&self) -> Duration {
        match self {
            StickyCookie::Lb { duration } | StickyCookie::App { duration, .. } => *duration,
        }
    }
}

/// A target group's HTTP health check: `option httpchk`, the backend's
/// `timeout connect` and `timeout check`, and each server's `inter`,
/// `rise` and `fall`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// The path asked (`GET PATH`).
    pub path: String,
    /// Time between checks.
    pub interval: Duration,
    /// Time without an answer that fails a check: HAProxy's check
    /// connects within min(`timeout connect`, `inter`), then waits
    /// `timeout check` for the answer; the backend's `timeout connect`
    /// is this too (a request's connection to a target that drops every
    /// packet fails as soon, and HAProxy retries it).
    pub timeout: Duration,
    /// Passing checks that make a target healthy.
    pub rise: u32,
    /// Failing checks that make it unhealthy.
    pub fall: u32,
}

/// A `server` line: a fixed target, or a slot of an Auto Scaling group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    /// Its name as the topology would write it (a node's, or
    /// `<group>-<n>` for a slot), written by [`haproxy_name`].
    pub name: String,
    /// The target port.
    pub port: u16,
    /// The instance in it; none for an empty slot (`disabled`, at
    /// [`PLACEHOLDER`]).
    pub member: Option<Member>,
}

/// The instance a server sends to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Its node name.
    pub node: String,
    /// Its address.
    pub addr: Ipv4Addr,
}

/// A load balancer's target: one `server` of a HAProxy backend.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct Target {
    /// The backend (`b80`).
    pub backend: String,
    /// The server's name, as HAProxy's configuration and runtime API
    /// have it (through [`crate::render::names::haproxy_name`]): the
    /// instance's, or its Auto Scaling group's slot's (`web-asg-3`).
    pub server: String,
    /// The instance in it.
    pub instance: String,
    /// Its address and port.
    pub address: std::net::SocketAddrV4,
}

/// Whole milliseconds, at least one (HAProxy's timers take no zero).
fn ms(d: Duration) -> u128 {
    d.as_millis().max(1)
}

impl HaproxyConfig {
    /// The servers in service, in the file's order.
    pub fn in_service(&self) -> Vec<Target> {
        let mut out = Vec::new();
        for l in &self.listeners {
            for s in &l.backend.servers {
                if let Some(m) = &s.member {
                    out.push(Target {
                        backend: l.backend.name.clone(),
                        server: haproxy_name(&s.name),
                        instance: m.node.clone(),
                        address: SocketAddrV4::new(m.addr, s.port),
                    });
                }
            }
        }
        out
    }

    /// The same configuration with every server out of service: what
    /// stays when only registrations change.
    pub fn without_members(&self) -> HaproxyConfig {
        let mut c = self.clone();
        for l in &mut c.listeners {
            for s in &mut l.backend.servers {
                s.member = None;
            }
        }
        c
    }

    /// The map file's text: `SERVER INSTANCE` per server in service.
    pub fn target_map(&self) -> String {
        target_map(&self.in_service())
    }
}

/// The map file's text of servers in service: `SERVER INSTANCE` a line.
pub fn target_map(in_service: &[Target]) -> String {
    in_service
        .iter()
        .map(|t| format!("{} {}\n", t.server, haproxy_name(&t.instance)))
        .collect()
}

impl fmt::Display for HaproxyConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (g, d) = (&self.global, &self.defaults);
        writeln!(
            f,
            "# generated by `vifgate sim up`: load balancer {}",
            comment(&self.node)
        )?;
        writeln!(f, "global\n    maxconn {}", g.maxconn)?;
        writeln!(
            f,
            "    stats socket {} mode 600 level admin expose-fd listeners",
            haproxy_string(&g.stats_socket.to_string_lossy())
        )?;
        writeln!(f, "defaults\n    mode http")?;
        writeln!(f, "    timeout connect {}s", d.connect_s)?;
        writeln!(f, "    timeout client {}s", d.client_s)?;
        writeln!(f, "    timeout server {}s", d.server_s)?;
        writeln!(f, "    option dontlognull")?;
        for l in &self.listeners {
            let (fe, be) = (&l.frontend, &l.backend);
            writeln!(
                f,
                "\n# listener {} {} (TLS is not terminated in the lab: plain HTTP on this port)",
                comment(&l.protocol),
                fe.bind.1
            )?;
            writeln!(f, "frontend {}", fe.name)?;
            writeln!(f, "    bind {}:{}", fe.bind.0, fe.bind.1)?;
            writeln!(f, "    default_backend {}", fe.default_backend)?;
            writeln!(f, "backend {}", be.name)?;
            writeln!(
                f,
                "    # deregistration delay {}ms: `sim apply` drains a deregistered target that long",
                be.deregistration_delay.as_millis()
            )?;
            let balance = match be.balance {
                Balance::RoundRobin => "roundrobin",
            };
            writeln!(f, "    balance {balance}")?;
            let c = &be.check;
            writeln!(f, "    option httpchk GET {}", haproxy_string(&c.path))?;
            writeln!(
                f,
                "    http-check send hdr User-Agent {}",
                crate::layout::HEALTH_CHECK_USER_AGENT
            )?;
            // a check's connection has min(`timeout connect`, `inter`)
            // and its answer `timeout check`: both the target group's
            // timeout, so that a target that drops every packet fails a
            // check after it, as on AWS
            writeln!(f, "    timeout connect {}ms", ms(c.timeout))?;
            writeln!(f, "    timeout check {}ms", ms(c.timeout))?;
            if let Some(sticky) = &be.sticky {
                let (name, secs) = (sticky.name(), sticky.duration().as_secs());
                // passive: HAProxy reads the cookie, the rules below set it
                writeln!(f, "    cookie {name}")?;
                let set = format!(
                    "http-response add-header Set-Cookie \"{name}=%[srv_name]; Expires=%[date({secs}),http_date]; Path=/\""
                );
                match sticky {
                    StickyCookie::Lb { .. } => writeln!(f, "    {set}")?,
                    StickyCookie::App { cookie_name, .. } => {
                        writeln!(f, "    http-request set-var(txn.pinned) req.cook({name})")?;
                        writeln!(f, "    http-response set-var(txn.server) srv_name")?;
                        writeln!(
                            f,
                            "    acl repinned var(txn.pinned) -m found\n    acl same_server var(txn.pinned),strcmp(txn.server) eq 0"
                        )?;
                        writeln!(
                            f,
                            "    {set} if {{ res.cook({}) -m found }} || repinned !same_server",
                            haproxy_sample_arg(cookie_name)
                        )?;
                    }
                }
            }
            // the map's path is an argument of `map()` in a log-format
            // word: escaped for the one, quoted for the other
            let map = haproxy_expr_arg(&self.target_map.to_string_lossy());
            writeln!(
                f,
                "    http-response set-header {TARGET_HEADER} {}",
                haproxy_string(&format!("%[srv_name,map({map},-)]"))
            )?;
            for s in &be.servers {
                let name = haproxy_name(&s.name);
                let (addr, disabled) = match &s.member {
                    Some(m) => (m.addr, ""),
                    None => (PLACEHOLDER, " disabled"),
                };
                write!(
                    f,
                    "    server {name} {addr}:{}{disabled} check inter {}ms rise {} fall {}",
                    s.port,
                    ms(c.interval),
                    c.rise,
                    c.fall
                )?;
                if let Some(d) = be.slow_start {
                    write!(f, " slowstart {}ms", ms(d))?;
                }
                if be.sticky.is_some() {
                    write!(f, " cookie {name}")?;
                }
                writeln!(f)?;
            }
        }
        Ok(())
    }
}

/// Where `sim up` puts a load balancer's files: its runtime API socket and
/// its target map.
#[derive(Debug, Clone, Copy)]
pub struct HaproxyPaths<'a> {
    /// The admin stats socket (a path without `"` or `\\`: the lab's
    /// state directory is checked for them before anything is made).
    pub stats: &'a Path,
    /// The map from servers to instances.
    pub target_map: &'a Path,
}

/// The configuration of load balancer `node` with its `listeners`: one
/// frontend per listener, round robin over the listener's targets (each
/// by its first interface): an instance of an Auto Scaling group in its
/// group's slot, any other target in a server of its own.
pub fn haproxy_value(
    t: &Topology,
    node: &str,
    listeners: &[Listener],
    paths: HaproxyPaths<'_>,
) -> HaproxyConfig {
    HaproxyConfig {
        node: node.to_string(),
        global: Global {
            maxconn: 4096,
            stats_socket: paths.stats.to_path_buf(),
        },
        defaults: Defaults {
            connect_s: 2,
            client_s: 30,
            server_s: 30,
        },
        target_map: paths.target_map.to_path_buf(),
        listeners: listeners
            .iter()
            .map(|l| ListenerProxies {
                protocol: l.protocol.clone(),
                frontend: Frontend {
                    name: format!("l{}", l.port),
                    bind: (Ipv4Addr::UNSPECIFIED, l.port),
                    default_backend: backend_name(l.port),
                },
                backend: backend(t, l),
            })
            .collect(),
    }
}

/// The backend of the listener on `port`: its name in `show stat`.
pub fn backend_name(port: u16) -> String {
    format!("b{port}")
}

/// A listener's target group as a backend, its times on the lab's clock.
fn backend(t: &Topology, l: &Listener) -> Backend {
    let tg = &l.target_group;
    let sim: &SimSettings = &t.sim;
    let hc = &tg.health_check;
    Backend {
        name: backend_name(l.port),
        balance: Balance::RoundRobin,
        sticky: tg.stickiness.as_ref().map(|s| match s {
            Stickiness::LbCookie { duration } => StickyCookie::Lb {
                duration: *duration,
            },
            Stickiness::AppCookie {
                cookie_name,
                duration,
            } => StickyCookie::App {
                cookie_name: cookie_name.clone(),
                duration: *duration,
            },
        }),
        check: Check {
            path: hc.path.clone(),
            interval: sim.lab_time(hc.interval),
            timeout: sim.lab_time(hc.timeout),
            rise: hc.healthy_threshold,
            fall: hc.unhealthy_threshold,
        },
        slow_start: tg.slow_start.map(|d| sim.lab_time(d)),
        deregistration_delay: sim.lab_time(tg.deregistration_delay),
        servers: servers(t, l),
    }
}

/// A listener's servers: each group with an instance among the targets
/// gets `max` slots (`<group>-1` ...), each instance in its slot (the
/// model's [`topology::model::AutoScalingGroup::slots`]: an instance
/// keeps its slot when the group grows or shrinks); every other target a
/// server named after it.
fn servers(t: &Topology, l: &Listener) -> Vec<Server> {
    let member = |id: usize| {
        let n = &t.nodes[id];
        n.interfaces.first().map(|ifc| Member {
            node: n.name.clone(),
            addr: ifc.ip,
        })
    };
    let mut out = Vec::new();
    let mut groups_done = Vec::new();
    for &target in &l.targets {
        match t.nodes[target].kind {
            NodeKind::AsgInstance { group } => {
                if groups_done.contains(&group) {
                    continue;
                }
                groups_done.push(group);
                let g = &t.auto_scaling_groups[group];
                let top = g.slots.iter().copied().max().unwrap_or(0);
                let slots = g.max.max(top).max(g.instances.len() as u32);
                for k in 1..=slots {
                    let id = (g.instances.iter().zip(&g.slots))
                        .find(|(_, &s)| s == k)
                        .map(|(&id, _)| id);
                    out.push(Server {
                        name: format!("{}-{k}", g.name),
                        port: l.target_port,
                        member: id.filter(|id| l.targets.contains(id)).and_then(member),
                    });
                }
            }
            _ => {
                if let Some(m) = member(target) {
                    out.push(Server {
                        name: m.node.clone(),
                        port: l.target_port,
                        member: Some(m),
                    });
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use topology::model::NodeKind;

    fn example_alb(t: &Topology) -> HaproxyConfig {
        let alb = t.nodes.iter().find(|n| n.name == "alb").expect("alb");
        let NodeKind::LoadBalancer { listeners } = &alb.kind else {
            panic!("alb is a load balancer");
        };
        haproxy_value(
            t,
            "alb",
            listeners,
            HaproxyPaths {
                stats: Path::new("/run/l/haproxy-alb.sock"),
                target_map: Path::new("/run/l/haproxy-alb.map"),
            },
        )
    }

    #[test]
    fn the_example_alb_has_a_slot_per_possible_member_of_its_group() {
        let t = crate::example();
        let c = example_alb(&t).to_string();
        assert!(c.contains("frontend l80\n    bind 0.0.0.0:80"), "{c}");
        assert!(c.contains("frontend l443"));
        // the target group's defaults (30 s, 5 s, 5, 2) at 60 AWS seconds
        // per lab second
        assert!(
            c.contains("    option httpchk GET \"/\"\n    http-check send hdr User-Agent ELB-HealthChecker/2.0\n    timeout connect 83ms\n    timeout check 83ms\n"),
            "{c}"
        );
        assert!(
            c.contains("    server web-asg-1 10.0.10.4:80 check inter 500ms rise 5 fall 2 cookie web-asg-1\n"),
            "{c}"
        );
        assert!(c.contains("    server web-asg-2 10.0.11.4:80 check"), "{c}");
        // max = 4: two empty slots
        assert!(
            c.contains("    server web-asg-4 0.0.0.0:80 disabled check inter 500ms rise 5 fall 2 cookie web-asg-4\n"),
            "{c}"
        );
        assert!(!c.contains("web-asg-5"), "{c}");
        // the application's SESSIONID cookie, followed by AWSALBAPP-0
        // for 5 days
        assert!(c.contains("    cookie AWSALBAPP-0\n"), "{c}");
        assert!(
            c.contains("Expires=%[date(432000),http_date]; Path=/\" if { res.cook(\"SESSIONID\") -m found } || repinned !same_server\n"),
            "{c}"
        );
        assert!(c.contains(
            "    http-response set-header X-Vifgate-Target \"%[srv_name,map('/run/l/haproxy-alb.map',-)]\"\n"
        ));
    }

    #[test]
    fn members_are_the_targets_in_service_and_the_rest_stays_without_them() {
        let t = crate::example();
        let c = example_alb(&t);
        let ins = c.in_service();
        let names: Vec<(&str, &str, String)> = ins
            .iter()
            .map(|x| {
                (
                    x.backend.as_str(),
                    x.instance.as_str(),
                    x.address.to_string(),
                )
            })
            .collect();
        assert_eq!(
            names,
            [
                ("b80", "web-a1", "10.0.10.4:80".to_string()),
                ("b80", "web-c1", "10.0.11.4:80".to_string()),
                ("b443", "web-a1", "10.0.10.4:80".to_string()),
                ("b443", "web-c1", "10.0.11.4:80".to_string()),
            ]
        );
        assert_eq!(
            c.target_map(),
            "web-asg-1 web-a1\nweb-asg-2 web-c1\nweb-asg-1 web-a1\nweb-asg-2 web-c1\n"
        );
        let rest = c.without_members();
        assert!(rest.in_service().is_empty());
        assert!(rest
            .to_string()
            .contains("server web-asg-1 0.0.0.0:80 disabled check"));
        // a group grown to 3: the same configuration without members, one
        // more target, in the third slot
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/yeohaengjigi.toml");
        let text = std::fs::read_to_string(path).expect("the example");
        let text = text.replace("desired = 2\nmin = 2", "desired = 3\nmin = 2");
        let grown = topology::parse("grown.toml", text).expect("loads").topology;
        let g = example_alb(&grown);
        assert_eq!(g.without_members(), rest);
        let new: Vec<_> = g
            .in_service()
            .into_iter()
            .filter(|x| !ins.contains(x))
            .map(|x| (x.server, x.instance))
            .collect();
        assert_eq!(
            new,
            [
                ("web-asg-3".to_string(), "web-a2".to_string()),
                ("web-asg-3".to_string(), "web-a2".to_string())
            ]
        );
    }

    fn one_listener(sticky: Option<StickyCookie>, member: Option<Member>) -> HaproxyConfig {
        HaproxyConfig {
            node: "backend".into(),
            global: Global {
                maxconn: 10,
                stats_socket: "/run/l/s.sock".into(),
            },
            defaults: Defaults {
                connect_s: 1,
                client_s: 2,
                server_s: 3,
            },
            target_map: "/run/l/t.map".into(),
            listeners: vec![ListenerProxies {
                protocol: "http".into(),
                frontend: Frontend {
                    name: "l8080".into(),
                    bind: (Ipv4Addr::UNSPECIFIED, 8080),
                    default_backend: "b8080".into(),
                },
                backend: Backend {
                    name: "b8080".into(),
                    balance: Balance::RoundRobin,
                    sticky,
                    check: Check {
                        path: "/health".into(),
                        interval: Duration::from_millis(250),
                        timeout: Duration::from_millis(100),
                        rise: 3,
                        fall: 2,
                    },
                    slow_start: Some(Duration::from_secs(2)),
                    deregistration_delay: Duration::from_secs(5),
                    servers: vec![Server {
                        name: "web a1".into(),
                        port: 80,
                        member,
                    }],
                },
            }],
        }
    }

    #[test]
    fn a_configuration_renders_as_haproxy_reads_it() {
        let c = one_listener(
            Some(StickyCookie::Lb {
                duration: Duration::from_secs(86400),
            }),
            Some(Member {
                node: "web a1".into(),
                addr: Ipv4Addr::new(10, 0, 10, 4),
            }),
        );
        assert_eq!(
            c.to_string(),
            "# generated by `vifgate sim up`: load balancer backend
global
    maxconn 10
    stats socket \"/run/l/s.sock\" mode 600 level admin expose-fd listeners
defaults
    mode http
    timeout connect 1s
    timeout client 2s
    timeout server 3s
    option dontlognull

# listener http 8080 (TLS is not terminated in the lab: plain HTTP on this port)
frontend l8080
    bind 0.0.0.0:8080
    default_backend b8080
backend b8080
    # deregistration delay 5000ms: `sim apply` drains a deregistered target that long
    balance roundrobin
    option httpchk GET \"/health\"
    http-check send hdr User-Agent ELB-HealthChecker/2.0
    timeout connect 100ms
    timeout check 100ms
    cookie AWSALB
    http-response add-header Set-Cookie \"AWSALB=%[srv_name]; Expires=%[date(86400),http_date]; Path=/\"
    http-response set-header X-Vifgate-Target \"%[srv_name,map('/run/l/t.map',-)]\"
    server web:20a1 10.0.10.4:80 check inter 250ms rise 3 fall 2 slowstart 2000ms cookie web:20a1
"
        );
        assert_eq!(c.target_map(), "web:20a1 web:20a1\n");
    }

    #[test]
    fn haproxy_opens_a_target_map_whose_path_has_spaces_quotes_and_commas() {
        let c = one_listener(None, None);
        let dir = std::env::temp_dir().join(format!(
            "vifgate map, (x) [y] 'q' $HOME\\z {}",
            std::process::id()
        ));
        let map = dir.join("t.map");
        let c = HaproxyConfig {
            target_map: map.clone(),
            ..c
        };
        let text = c.to_string();
        // in single quotes (each `'` as `'\''`) in a quoted word (`$` as
        // `\$`, `\` as `\\`: `'\\''`)
        assert!(
            text.contains(r#",map('/"#)
                && text.contains(r#"map, (x) [y] '\\''q'\\'' \$HOME\\z "#)
                && text.contains(r#"/t.map',-)]""#),
            "{text}"
        );
        if !crate::ops::lab::need_tool("haproxy") {
            return;
        }
        // HAProxy opens the map as it reads the file: a path it misread
        // is a file it cannot open (the stats socket elsewhere, its
        // address cannot hold a `,`)
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(&map, "web:20a1 web:20a1\n").expect("map");
        let text = text.replace(
            "stats socket \"/run/l/s.sock\"",
            &format!("stats socket \"{}/s.sock\"", std::env::temp_dir().display()),
        );
        let cfg = dir.join("haproxy.cfg");
        std::fs::write(&cfg, &text).expect("config");
        let out = std::process::Command::new("haproxy")
            .arg("-c")
            .arg("-f")
            .arg(&cfg)
            .output()
            .expect("haproxy runs");
        let _ = std::fs::remove_dir_all(&dir);
        assert!(
            out.status.success(),
            "{}{}\n{text}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    fn an_app_cookie_follows_the_applications_and_an_empty_slot_is_disabled() {
        let c = one_listener(
            Some(StickyCookie::App {
                cookie_name: "SESSIONID".into(),
                duration: Duration::from_secs(60),
            }),
            None,
        )
        .to_string();
        assert!(c.contains(
            "    cookie AWSALBAPP-0
    http-request set-var(txn.pinned) req.cook(AWSALBAPP-0)
    http-response set-var(txn.server) srv_name
    acl repinned var(txn.pinned) -m found
    acl same_server var(txn.pinned),strcmp(txn.server) eq 0
    http-response add-header Set-Cookie \"AWSALBAPP-0=%[srv_name]; Expires=%[date(60),http_date]; Path=/\" if { res.cook(\"SESSIONID\") -m found } || repinned !same_server
"
        ), "{c}");
        assert!(
            c.contains("    server web:20a1 0.0.0.0:80 disabled check"),
            "{c}"
        );
        // the application's cookie is read by its own name, which may hold
        // any of a cookie name's characters (Express's `connect.sid`)
        for (name, arg) in [
            ("connect.sid", r#""connect.sid""#),
            ("it's$x#1", r#""it\\'s\$x#1""#),
        ] {
            let c = one_listener(
                Some(StickyCookie::App {
                    cookie_name: name.into(),
                    duration: Duration::from_secs(60),
                }),
                None,
            )
            .to_string();
            assert!(
                c.contains(&format!("if {{ res.cook({arg}) -m found }}")),
                "{name}: {c}"
            );
        }
        // no stickiness: no cookie at all
        let c = one_listener(None, None).to_string();
        assert!(!c.contains("cookie"), "{c}");
    }
}
