//! What the listener agent ([`crate::agent`]) serves, as plain values: the
//! plan lists them, the agent reads them as JSON. Pure: no I/O.

use serde::{Deserialize, Serialize};

/// The listeners of one node, in its namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListenSpec {
    /// The namespace (a name under `/run/netns`).
    pub ns: String,
    /// The node's name, sent in the TCP banner.
    pub node: String,
    /// TCP ports to listen on.
    #[serde(default)]
    pub tcp: Vec<u16>,
    /// UDP ports to echo on.
    #[serde(default)]
    pub udp: Vec<u16>,
    /// Whether the node answers ICMP echo; informational only (the
    /// namespace's kernel answers echo requests by itself).
    #[serde(default)]
    pub icmp: bool,
    /// Those of the TCP ports that answer HTTP instead of a banner: a
    /// load balancer's target port on its targets (see
    /// [`crate::agent::http`]).
    #[serde(default)]
    pub http: Vec<u16>,
    /// CPU time spent on each HTTP request (`[sim] cpu_per_request`).
    #[serde(default)]
    pub cpu_per_request: Option<std::time::Duration>,
    /// The load balancers' health-check paths: their checks (with
    /// [`crate::layout::HEALTH_CHECK_USER_AGENT`]) are answered without spending
    /// CPU (the lab checks `time_scale` times as often as AWS, which
    /// would inflate the CPU a target's load gives).
    #[serde(default)]
    pub health_paths: Vec<String>,
    /// The node's CPU accounting group, relative to the hierarchy
    /// ([`crate::kernel::cgroup::group_name`]): the threads that serve its
    /// HTTP requests run in it, so that its CPU can be read per instance.
    /// None: not accounted.
    #[serde(default)]
    pub cpu_group: Option<String>,
}

/// Everything one agent serves.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentSpec {
    /// The listeners, any number per namespace.
    pub listeners: Vec<ListenSpec>,
}
