//! `[sim]`: the simulator's settings, load balancer mode, start commands
//! and the BGP daemon of each office node.

use std::collections::{BTreeMap, HashMap};

use super::{NodeNames, Resolver};
use crate::diag::did_you_mean;
use crate::format::*;
use crate::model::bgp::BgpDaemon;
use crate::model::*;
/// What serves a port of a node in the lab.
#[derive(Clone, Copy)]
enum Server {
    /// The start command on this line.
    Start(usize),
    /// A load balancer's HAProxy, on a listener's port.
    Haproxy,
}

impl Resolver<'_> {
    /// `[sim]`: read by the simulator only. Start commands name nodes, so
    /// this runs once every node (Auto Scaling instances included) exists.
    pub(super) fn sim(&mut self, raw: &RawSim, t: &Topology, nodes: &NodeNames) -> SimSettings {
        let load_balancer = match &raw.load_balancer {
            None => LoadBalancerMode::default(),
            Some(m) => match m.get_ref().as_str() {
                "listener" => LoadBalancerMode::Listener,
                "haproxy" => LoadBalancerMode::Haproxy,
                other => {
                    let modes = [LoadBalancerMode::Listener, LoadBalancerMode::Haproxy]
                        .map(LoadBalancerMode::as_str);
                    let d = self.error(m.span(), format!("unknown load balancer mode `{other}`"));
                    d.expected = Some("`listener` (the default) or `haproxy`".into());
                    d.hint = did_you_mean(&other.to_ascii_lowercase(), modes)
                        .map(|s| format!("did you mean `{s}`?"));
                    LoadBalancerMode::default()
                }
            },
        };
        let mut start = Vec::new();
        // (node, protocol, port) -> what serves it: a start command (its
        // line) or, with `load_balancer = "haproxy"`, a load balancer's
        // HAProxy on each listener's port
        let mut served: HashMap<(NodeId, &str, u16), Server> = HashMap::new();
        if load_balancer == LoadBalancerMode::Haproxy {
            for (id, n) in t.nodes.iter().enumerate() {
                if let NodeKind::LoadBalancer { listeners } = &n.kind {
                    for l in listeners {
                        served.insert((id, "TCP", l.port), Server::Haproxy);
                    }
                }
            }
        }
        for entry in &raw.start {
            let line = self.src.line_col(entry.span().start).0;
            let e = entry.get_ref();
            let names: Vec<&Str> = match (&e.node, &e.nodes) {
                (Some(_), Some(list)) => {
                    let d = self.error(list.span(), "a start command with both `node` and `nodes`");
                    d.expected = Some("either `node = \"NAME\"` or `nodes = [...]`".into());
                    d.hint = Some("put every node in `nodes`".into());
                    continue;
                }
                (None, None) => {
                    let d = self.error(e.command.span(), "a start command with no node");
                    d.expected = Some(
                        "`node = \"NAME\"` or `nodes = [\"NAME\", ...]`: where the command runs"
                            .into(),
                    );
                    continue;
                }
                (Some(n), None) => vec![n],
                (None, Some(list)) => {
                    if list.get_ref().is_empty() {
                        let d = self.error(list.span(), "a start command with no node");
                        d.expected = Some("one node name or more in `nodes`".into());
                        d.hint = Some("name the nodes, or remove the entry".into());
                        continue;
                    }
                    list.get_ref().iter().collect()
                }
            };
            let mut ids: Vec<NodeId> = Vec::new();
            let mut ok = true;
            for n in names {
                if self.dormant_skipped(n, nodes, "start command's node") {
                    continue;
                }
                match self.lookup("node", n, &nodes.names) {
                    Some(id) if ids.contains(&id) => {
                        let d = self
                            .warning(n.span(), format!("node `{}` is listed twice", n.get_ref()));
                        d.hint = Some("remove the second mention; the command runs once".into());
                    }
                    Some(id) => ids.push(id),
                    None => ok = false,
                }
            }
            if e.command.get_ref().trim().is_empty() {
                let d = self.error(e.command.span(), "empty start command");
                d.expected = Some(
                    "a shell command, run with `sh -c` in each node, like \"python3 -m http.server 80\""
                        .into(),
                );
                ok = false;
            }
            let mut ports = |r: &mut Self, list: &[Int], proto: &'static str| -> Vec<u16> {
                let mut out: Vec<u16> = Vec::new();
                for p in list {
                    let Some(port) = r.int_in(p, 1, 65535, "port").map(|p| p as u16) else {
                        ok = false;
                        continue;
                    };
                    if out.contains(&port) {
                        let d = r.warning(p.span(), format!("{proto} port {port} is listed twice"));
                        d.hint = Some("remove the second mention".into());
                        continue;
                    }
                    out.push(port);
                    for &id in &ids {
                        if let Some(&by) = served.get(&(id, proto, port)) {
                            let (by, hint) = match by {
                                Server::Start(first) => (
                                    format!("the start command on line {first}"),
                                    "one port of a node can be bound by one command only; drop it from one of the two",
                                ),
                                Server::Haproxy => (
                                    "its HAProxy (`load_balancer = \"haproxy\"`), a listener's port".into(),
                                    "HAProxy binds each listener's port on the load balancer: serve another port, or run the command on a target",
                                ),
                            };
                            let d = r.error(
                                p.span(),
                                format!(
                                    "{proto} port {port} of node `{}` is already served by {by}",
                                    t.nodes[id].name
                                ),
                            );
                            d.hint = Some(hint.into());
                            ok = false;
                        } else {
                            served.insert((id, proto, port), Server::Start(line));
                        }
                    }
                }
                out
            };
            let tcp_ports = ports(self, &e.tcp_ports, "TCP");
            let udp_ports = ports(self, &e.udp_ports, "UDP");
            // a command whose every node is a terminated instance runs nowhere
            if ok && !ids.is_empty() {
                start.push(StartCommand {
                    nodes: ids,
                    command: e.command.get_ref().clone(),
                    tcp_ports,
                    udp_ports,
                    line,
                });
            }
        }
        let time_scale = raw.time_scale.as_ref().map_or(DEFAULT_TIME_SCALE, |v| {
            self.int_in(v, 1, MAX_TIME_SCALE.into(), "time scale")
                .map_or(DEFAULT_TIME_SCALE, |n| n as u32)
        });
        let cpu_per_request = raw.cpu_per_request.as_ref().and_then(|v| {
            self.duration(v, "CPU per request", MAX_CPU_PER_REQUEST)
                .filter(|d| !d.is_zero())
        });
        SimSettings {
            load_balancer,
            start,
            bgp_daemons: self.bgp_daemons(&raw.bgp_daemon, t, nodes),
            time_scale,
            cpu_per_request,
            autoscale: raw.autoscale.unwrap_or(true),
        }
    }

    /// `bgp_daemon = { NODE = "bird" | "frr" }`: each node must be an
    /// office router or gateway that ends a VIF or a BGP VPN.
    fn bgp_daemons(
        &mut self,
        raw: &BTreeMap<Str, Str>,
        t: &Topology,
        nodes: &NodeNames,
    ) -> BTreeMap<NodeId, BgpDaemon> {
        let mut speakers: Vec<NodeId> = t.vifs.iter().map(|v| v.customer_router).collect();
        speakers.extend(t.vpn.iter().filter(|v| v.bgp).map(|v| v.customer_gateway));
        speakers.sort_unstable();
        speakers.dedup();
        let mut out = BTreeMap::new();
        for (node, daemon) in raw {
            let daemon = match daemon.get_ref().as_str() {
                "bird" => Some(BgpDaemon::Bird),
                "frr" => Some(BgpDaemon::Frr),
                other => {
                    let d = self.error(daemon.span(), format!("unknown BGP daemon `{other}`"));
                    d.expected = Some("`bird` (the default) or `frr`".into());
                    d.hint = did_you_mean(&other.to_ascii_lowercase(), ["bird", "frr"])
                        .map(|s| format!("did you mean `{s}`?"));
                    None
                }
            };
            let Some(id) = self.lookup("node", node, &nodes.names) else {
                continue;
            };
            if !speakers.contains(&id) {
                let names: Vec<String> = speakers
                    .iter()
                    .map(|&s| format!("`{}`", t.nodes[s].name))
                    .collect();
                let d = self.error(
                    node.span(),
                    format!("node `{}` ends no BGP session", node.get_ref()),
                );
                d.expected = Some(if names.is_empty() {
                    "an office router or gateway that ends a VIF or a BGP VPN, but none does".into()
                } else {
                    format!(
                        "an office router or gateway that ends a VIF or a BGP VPN: {}",
                        names.join(", ")
                    )
                });
                d.hint = Some(
                    if t.vpn
                        .as_ref()
                        .is_some_and(|v| !v.bgp && v.customer_gateway == id)
                    {
                        "its VPN has static routing: set `routing = \"bgp\"` there".into()
                    } else {
                        "only the office end of a VIF or a BGP VPN runs a BGP daemon".into()
                    },
                );
                continue;
            }
            if let Some(daemon) = daemon {
                out.insert(id, daemon);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{diagnostics, hint, load};
    use crate::model::LoadBalancerMode;

    #[test]
    fn start_commands_name_their_nodes_and_ports() {
        let (t, _) = load(
            "\n[sim]\nload_balancer = \"haproxy\"\n\n[[sim.start]]\nnodes = [\"pc\", \"gw\"]\ncommand = \"python3 -m http.server 80\"\ntcp_ports = [80]\n",
        );
        assert_eq!(t.sim.load_balancer, LoadBalancerMode::Haproxy);
        let s = &t.sim.start[0];
        assert_eq!(s.nodes.len(), 2);
        assert_eq!(s.tcp_ports, [80]);
    }

    #[test]
    fn a_port_served_twice_is_an_error() {
        let extra = "\n[[sim.start]]\nnode = \"pc\"\ncommand = \"a\"\ntcp_ports = [80]\n\n[[sim.start]]\nnode = \"pc\"\ncommand = \"b\"\ntcp_ports = [80]\n";
        let got = diagnostics(extra);
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(
            got[0].starts_with("t.toml:10:14: error: TCP port 80 of node `pc` is already served by the start command on line"),
            "{got:?}"
        );
    }

    #[test]
    fn a_port_haproxy_binds_on_its_load_balancer_is_not_a_start_commands() {
        let lb = "\n[[security_group]]\nname = \"s\"\n\n[[vpc.instance]]\nname = \"web\"\nsubnet = \"app-a\"\nip = \"10.0.1.10\"\nsecurity_groups = [\"s\"]\n\n[[vpc.load_balancer]]\nname = \"lb\"\nsubnets = [\"app-a\", \"app-c\"]\nips = [\"10.0.1.20\", \"10.0.2.20\"]\nsecurity_groups = [\"s\"]\nlisteners = [{ port = 80, protocol = \"http\", targets = [\"web\"], target_port = 80 }]\n";
        let start = "\n[[sim.start]]\nnode = \"lb\"\ncommand = \"python3 -m http.server 80\"\ntcp_ports = [80]\n";
        let got = diagnostics(&format!(
            "{lb}\n[sim]\nload_balancer = \"haproxy\"\n{start}"
        ));
        assert_eq!(
            got,
            ["t.toml:24:14: error: TCP port 80 of node `lb` is already served by its HAProxy (`load_balancer = \"haproxy\"`), a listener's port"]
        );
        // played by the lab's listeners, which stay off a start command's
        // ports, the load balancer's port is the command's
        assert_eq!(diagnostics(&format!("{lb}{start}")), Vec::<String>::new());
    }

    #[test]
    fn an_unknown_load_balancer_mode_suggests_the_nearest() {
        let extra = "\n[sim]\nload_balancer = \"HAProxy\"\n";
        assert_eq!(
            diagnostics(extra),
            ["t.toml:3:17: error: unknown load balancer mode `HAProxy`"]
        );
        assert_eq!(hint(extra), "did you mean `haproxy`?");
    }

    #[test]
    fn time_scale_and_cpu_per_request_are_read_and_range_checked() {
        let (t, _) = load("\n[sim]\ntime_scale = 600\ncpu_per_request = \"20ms\"\n");
        assert_eq!(t.sim.time_scale, 600);
        assert_eq!(
            t.sim.cpu_per_request,
            Some(std::time::Duration::from_millis(20))
        );
        assert_eq!(
            t.sim.lab_time(std::time::Duration::from_secs(300)),
            std::time::Duration::from_millis(500)
        );
        let (t, _) = load("\n[sim]\n");
        assert_eq!(t.sim.time_scale, crate::model::DEFAULT_TIME_SCALE);
        assert_eq!(t.sim.cpu_per_request, None);
        assert_eq!(
            diagnostics("\n[sim]\ntime_scale = 0\n"),
            ["t.toml:3:14: error: time scale 0 is out of range"]
        );
        assert_eq!(
            diagnostics("\n[sim]\ntime_scale = 3601\n"),
            ["t.toml:3:14: error: time scale 3601 is out of range"]
        );
        assert_eq!(
            diagnostics("\n[sim]\ncpu_per_request = \"2s\"\n"),
            ["t.toml:3:19: error: CPU per request 2s is out of range"]
        );
        assert_eq!(
            diagnostics("\n[sim]\ncpu_per_request = 20\n"),
            ["t.toml:3:19: error: `20` is not a duration"]
        );
    }

    #[test]
    fn autoscale_is_a_boolean_on_by_default() {
        assert!(load("\n[sim]\n").0.sim.autoscale);
        assert!(!load("\n[sim]\nautoscale = false\n").0.sim.autoscale);
        let d = diagnostics("\n[sim]\nautoscale = \"no\"\n");
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(d[0].starts_with("t.toml:3:13: error: "), "{d:?}");
    }
}
