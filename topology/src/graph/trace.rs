//! A traced flow drawn on the topology: the request and reply paths of
//! [`reach`](crate::analysis::reach) laid over [`to_dot`](super::to_dot).
//!
//! Accepted hops and the edges between them are green; the hop where the
//! flow stops is red and carries the deciding rule as its label. The
//! request is drawn solid, the reply dashed. Hops that are not nodes of the
//! drawing get one: the VPC router (where route tables and network ACLs
//! decide), and a VIF or VPN only when the flow stops there.

use std::fmt::Write as _;

use super::id;
use crate::analysis::{Hop, Reach, Verdict};
use crate::model::{Attachment, Topology};

/// Colour of accepted hops and edges.
pub const ACCEPTED_COLOUR: &str = "#2f855a";
/// Colour of the hop where the flow stops, and the edge into it.
pub const DROPPED_COLOUR: &str = "#e53e3e";
/// The drawing's id of the VPC router, added when a trace crosses it.
pub const VPC_ROUTER_ID: &str = "trace:vpc-router";

/// The hop name the walker gives the VPC's router.
const VPC_ROUTER_HOP: &str = "vpc-router";
/// Characters per line of a drop label.
const WRAP: usize = 48;

/// One hop placed on the drawing.
struct Point<'a> {
    /// The drawing's node id (unquoted).
    node: String,
    /// Whether the trace adds this node (it is not in the plain drawing).
    added: bool,
    hop: &'a Hop,
}

/// The topology as DOT with `r`'s deciding path drawn on it.
pub fn to_dot_with_trace(t: &Topology, r: &Reach) -> String {
    let base = super::to_dot(t);
    let body = base.trim_end();
    let mut o = body.strip_suffix('}').unwrap_or(body).to_string();

    let dropped = r.verdict != Verdict::Accepted;
    let request = place(t, &r.hops, dropped && r.reply_hops.is_empty());
    let reply = place(t, &r.reply_hops, dropped);
    let paths = if r.paths.len() > 1 {
        format!(" (deciding path of {})", r.paths.len())
    } else {
        String::new()
    };
    let mut title = format!(
        "{}\n{} -> {} {}: {}{paths}\nrequest solid, reply dashed; green passed, red stopped",
        t.name, r.from, r.to, r.service, r.verdict
    );
    if let (true, Some(why), true) = (dropped, &r.reason, request.is_empty()) {
        let _ = write!(title, "\n{}", wrap(why));
    }
    let _ = writeln!(o, "  // trace");
    let _ = writeln!(o, "  graph [label={}, forcelabels=true];", text(&title));

    for p in request.iter().chain(reply.iter()).filter(|p| p.added) {
        let (open, close) = if p.node == VPC_ROUTER_ID {
            ("  subgraph cluster_vpc { ", " }")
        } else {
            ("  ", "")
        };
        let label = if p.node == VPC_ROUTER_ID {
            "VPC\nrouter"
        } else {
            p.hop.node.as_str()
        };
        let _ = writeln!(
            o,
            "{open}{} [shape=circle, fontsize=9, label={}];{close}",
            id(&p.node),
            text(label)
        );
    }
    for p in request.iter().chain(reply.iter()) {
        let _ = writeln!(
            o,
            "  {} [color=\"{ACCEPTED_COLOUR}\", penwidth=2.5, tooltip={}];",
            id(&p.node),
            text(&tooltip(p.hop))
        );
    }
    edges(&mut o, &request, "solid", dropped && reply.is_empty());
    edges(&mut o, &reply, "dashed", dropped);

    let stop = if reply.is_empty() {
        request.last()
    } else {
        reply.last()
    };
    if let (true, Some(stop)) = (dropped, stop) {
        let why = r.reason.as_deref().unwrap_or("dropped");
        let _ = writeln!(
            o,
            "  {} [color=\"{DROPPED_COLOUR}\", fontcolor=\"{DROPPED_COLOUR}\", style=filled, fillcolor=\"#fed7d7\", penwidth=3, xlabel={}];",
            id(&stop.node),
            text(&format!("DROPPED\n{}", wrap(why)))
        );
    }
    o.push_str("}\n");
    o
}

/// Draws consecutive points as edges; the last one red when `stops`.
fn edges(o: &mut String, points: &[Point<'_>], style: &str, stops: bool) {
    for (k, pair) in points.windows(2).enumerate() {
        let last = k + 2 == points.len();
        let colour = if last && stops {
            DROPPED_COLOUR
        } else {
            ACCEPTED_COLOUR
        };
        let _ = writeln!(
            o,
            "  {} -> {} [color=\"{colour}\", style={style}, penwidth=2.5, dir=forward, constraint=false, tooltip={}];",
            id(&pair[0].node),
            id(&pair[1].node),
            text(&tooltip(pair[1].hop))
        );
    }
}

/// Places hops on the drawing: a node of the drawing, the VPC router, or a
/// link (VIF, VPN) — drawn only when the flow stops there (`stops` and the
/// last hop). Consecutive hops on one drawn node merge.
fn place<'a>(t: &Topology, hops: &'a [Hop], stops: bool) -> Vec<Point<'a>> {
    let mut out: Vec<Point<'a>> = Vec::new();
    for (k, hop) in hops.iter().enumerate() {
        let last = k + 1 == hops.len();
        let (node, added) = match drawn_node(t, hop) {
            Some(n) => (n, false),
            None if hop.node == VPC_ROUTER_HOP => (VPC_ROUTER_ID.to_string(), true),
            None if last && stops => (format!("trace:{}", hop.node), true),
            None => continue,
        };
        if out.last().is_some_and(|p| p.node == node) {
            if let Some(p) = out.last_mut() {
                p.hop = hop;
            }
            continue;
        }
        out.push(Point { node, added, hop });
    }
    out
}

/// The id [`to_dot`](super::to_dot) gives the node a hop is at, if any.
fn drawn_node(t: &Topology, hop: &Hop) -> Option<String> {
    if let Some(n) = t.node_by_name(&hop.node) {
        let node = &t.nodes[n];
        if node.interfaces.len() > 1 {
            // a node in a subnet with several interfaces is drawn once per
            // interface; the hop names the interface by `name address`
            let address = hop
                .interface
                .as_deref()
                .and_then(|i| i.rsplit(' ').next())
                .and_then(|a| a.parse().ok());
            let in_subnet =
                |k: &usize| matches!(node.interfaces[*k].attachment, Attachment::Subnet(_));
            let by_address = (0..node.interfaces.len())
                .filter(in_subnet)
                .find(|&k| Some(node.interfaces[k].ip) == address);
            let any = (0..node.interfaces.len()).find(in_subnet);
            if let Some(k) = by_address.or(any) {
                return Some(format!("{}#{k}", node.name));
            }
        }
        return Some(node.name.clone());
    }
    let vpc = t.vpc.as_ref()?;
    let gateways = [
        vpc.internet_gateway.as_deref(),
        vpc.vgw.as_ref().map(|g| g.name.as_str()),
    ];
    gateways
        .into_iter()
        .flatten()
        .find(|g| *g == hop.node)
        .map(str::to_string)
}

/// What happened at a hop, one step a line.
fn tooltip(hop: &Hop) -> String {
    let mut s = hop.node.clone();
    if let Some(i) = &hop.interface {
        let _ = write!(s, " [{i}]");
    }
    for step in &hop.steps {
        let _ = write!(s, "\n{step}");
    }
    s
}

/// A quoted DOT string with its line breaks as `\\n`, so each statement
/// of the overlay stays on one line.
fn text(s: &str) -> String {
    id(s).replace('\n', "\\n")
}

/// Breaks a long line at spaces, about [`WRAP`] characters a line.
fn wrap(text: &str) -> String {
    let mut out = String::new();
    let mut line = 0;
    for word in text.split(' ') {
        if line > 0 && line + word.len() > WRAP {
            out.push('\n');
            line = 0;
        } else if line > 0 {
            out.push(' ');
            line += 1;
        }
        out.push_str(word);
        line += word.len();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{reach, Service, Target};

    const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/yeohaengjigi.toml");

    fn traced(from: &str, to: &str, service: Service) -> (Reach, String) {
        let t = crate::load(EXAMPLE).expect("the example loads").topology;
        let f = t.node_by_name(from).expect("source");
        let d = t.node_by_name(to).expect("destination");
        let r = reach(&t, f, Target::Node(d), service);
        let dot = to_dot_with_trace(&t, &r);
        (r, dot)
    }

    /// The statement lines the trace added (after the plain drawing).
    fn overlay(dot: &str) -> Vec<&str> {
        let start = dot.find("// trace").expect("a trace section");
        dot[start..].lines().collect()
    }

    fn edge<'a>(lines: &[&'a str], from: &str, to: &str) -> Option<&'a str> {
        let head = format!("\"{from}\" -> \"{to}\" [");
        lines
            .iter()
            .copied()
            .find(|l| l.trim_start().starts_with(&head))
    }

    #[test]
    fn a_security_group_drop_is_red_and_names_the_rule() {
        let (r, dot) = traced("internet", "bastion", Service::Tcp(22));
        assert_eq!(r.verdict, Verdict::Denied);
        let lines = overlay(&dot);
        // internet -> igw -> VPC router -> bastion, the last edge red
        let first = edge(&lines, "internet", "igw").expect("internet -> igw");
        assert!(first.contains(ACCEPTED_COLOUR) && first.contains("style=solid"));
        let second = edge(&lines, "igw", VPC_ROUTER_ID).expect("igw -> router");
        assert!(second.contains(ACCEPTED_COLOUR), "{second}");
        let last = edge(&lines, VPC_ROUTER_ID, "bastion").expect("router -> bastion");
        assert!(last.contains(DROPPED_COLOUR), "{last}");
        let drop = lines
            .iter()
            .find(|l| l.trim_start().starts_with("\"bastion\" [") && l.contains("xlabel"))
            .expect("the drop node");
        assert!(drop.contains(DROPPED_COLOUR), "{drop}");
        assert!(drop.contains("bastion-sg"), "the group is named: {drop}");
        assert!(drop.contains("no rule allows tcp"), "{drop}");
        assert!(drop.contains("198.51.100.10"), "the source: {drop}");
        // the request stopped: no reply edges, and the router sits in the VPC
        assert!(
            !dot.contains("style=dashed, penwidth=2.5"),
            "no reply drawn"
        );
        assert!(dot.contains(&format!("subgraph cluster_vpc {{ \"{VPC_ROUTER_ID}\"")));
        assert_eq!(dot.matches('{').count(), dot.matches('}').count());
    }

    #[test]
    fn an_accepted_flow_draws_both_ways_in_green_the_reply_dashed() {
        let (r, dot) = traced("office-pc", "alb", Service::Tcp(443));
        assert_eq!(r.verdict, Verdict::Accepted);
        let lines = overlay(&dot);
        assert!(!dot.contains(DROPPED_COLOUR), "nothing is red");
        assert!(!dot.contains("xlabel"), "no drop label");
        // request office-pc -> office-router -> vifgate-office -> vgw (the
        // VIF between them is an edge of the drawing, not a node)
        let req = edge(&lines, "office-pc", "office-router").expect("first request edge");
        assert!(req.contains("style=solid") && req.contains(ACCEPTED_COLOUR));
        assert!(edge(&lines, "vifgate-office", "vgw").is_some(), "{dot}");
        assert!(!dot.contains("\"trace:dx-vif\""), "the VIF is not a node");
        // the load balancer's interface in public-a is drawn as alb#k
        let into_alb = lines
            .iter()
            .find(|l| l.contains(&format!("\"{VPC_ROUTER_ID}\" -> \"alb#")))
            .expect("request into the load balancer");
        assert!(into_alb.contains("style=solid"));
        // reply: dashed, back to the office PC
        let back = edge(&lines, "office-router", "office-pc").expect("last reply edge");
        assert!(back.contains("style=dashed") && back.contains(ACCEPTED_COLOUR));
        assert!(dot.contains("ACCEPTED"), "the verdict is in the title");
    }

    #[test]
    fn a_drop_at_the_gateway_policy_names_it() {
        let (r, dot) = traced("web-a1", "visa-db", Service::Tcp(5432));
        assert_ne!(r.verdict, Verdict::Accepted);
        let lines = overlay(&dot);
        let last = edge(&lines, "vgw", "vifgate-office").expect("vgw -> office box");
        assert!(last.contains(DROPPED_COLOUR), "{last}");
        let drop = lines
            .iter()
            .find(|l| l.trim_start().starts_with("\"vifgate-office\" [") && l.contains("xlabel"))
            .expect("drop node");
        assert!(drop.contains("office-edge-sg"), "{drop}");
    }

    /// The overlay line that marks the drop.
    fn drop_line<'a>(lines: &[&'a str]) -> &'a str {
        lines
            .iter()
            .copied()
            .find(|l| l.contains("xlabel"))
            .expect("a drop node")
    }

    #[test]
    fn a_network_acl_drop_is_at_the_vpc_router_with_its_rule() {
        let (r, dot) = traced("office-pc", "db-primary", Service::Tcp(3306));
        assert_eq!(r.verdict, Verdict::Denied);
        let lines = overlay(&dot);
        let drop = drop_line(&lines);
        assert!(
            drop.trim_start()
                .starts_with(&format!("\"{VPC_ROUTER_ID}\" [")),
            "{drop}"
        );
        assert!(
            drop.contains("network ACL db-nacl of subnet db-a ingress rule *"),
            "{drop}"
        );
        assert!(edge(&lines, "vgw", VPC_ROUTER_ID).is_some_and(|e| e.contains(DROPPED_COLOUR)));
    }

    #[test]
    fn a_missing_route_is_named_at_the_router() {
        let (r, dot) = traced("db-primary", "internet", Service::Tcp(443));
        assert_eq!(r.verdict, Verdict::NoRoute);
        let drop = drop_line(&overlay(&dot));
        assert!(drop.contains("route table db-rt has no route"), "{drop}");
        assert!(dot.contains("db-primary -> internet tcp/443: NO_ROUTE"));
    }

    #[test]
    fn a_flow_with_no_hop_says_why_in_the_title() {
        let (r, dot) = traced("internet", "web-a1", Service::Tcp(80));
        assert!(r.hops.is_empty());
        let lines = overlay(&dot);
        assert!(!lines
            .iter()
            .any(|l| l.contains("xlabel") || l.contains(" -> \"")));
        let title = lines
            .iter()
            .find(|l| l.contains("graph [label="))
            .expect("title");
        assert!(title.contains("web-a1 has no public address"), "{title}");
    }

    #[test]
    fn a_reply_drop_is_red_on_the_dashed_path() {
        // a NAT gateway takes no new connection: the request arrives, its
        // reply is dropped back at the NAT gateway
        let (r, dot) = traced("nat-a", "alb", Service::Tcp(80));
        assert_eq!(r.verdict, Verdict::Denied);
        assert!(!r.reply_hops.is_empty());
        let lines = overlay(&dot);
        let into_alb = lines
            .iter()
            .find(|l| l.contains(&format!("\"{VPC_ROUTER_ID}\" -> \"alb#")))
            .expect("the request into the load balancer");
        assert!(into_alb.contains(ACCEPTED_COLOUR) && into_alb.contains("style=solid"));
        let back = edge(&lines, VPC_ROUTER_ID, "nat-a").expect("the reply's last edge");
        assert!(
            back.contains(DROPPED_COLOUR) && back.contains("style=dashed"),
            "{back}"
        );
        let drop = drop_line(&lines);
        assert!(drop.trim_start().starts_with("\"nat-a\" ["), "{drop}");
        assert!(
            drop.contains("reply: NAT gateway nat-a accepts no new"),
            "{drop}"
        );
    }

    #[test]
    fn wrap_breaks_at_spaces() {
        let long = "word ".repeat(30);
        let w = wrap(long.trim());
        assert!(w.lines().count() > 2);
        assert!(w.lines().all(|l| l.len() <= WRAP + 4), "{w}");
        assert_eq!(w.replace('\n', " "), long.trim());
    }
}
