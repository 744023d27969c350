//! BIRD 2 read back through its control socket: `birdc -s SOCKET` with
//! `show status`, `show protocols all`, `show route all` and `show bfd
//! sessions`, each parsed by a small function of its text (tested on
//! output captured from real BIRD 2.0.12 runs, `sim/tests/data/bgp_live/`).

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;

use ipnet::Ipv4Net;
use topology::bgp::Community;

use super::{DaemonState, LiveRoute, PeerState, ReadError};

/// Reads the BIRD behind a control socket.
pub fn read(socket: &Path) -> Result<DaemonState, ReadError> {
    let status = birdc(socket, "show status")?;
    let mut peers = read_peers(socket)?;
    let routes = read_routes(socket)?;
    // without a BFD protocol BIRD answers with an error line: no sessions
    let bfd = birdc(socket, "show bfd sessions").unwrap_or_default();
    let detect = parse_bfd_sessions(&bfd);
    for p in &mut peers {
        p.bfd_detect_ms = p
            .neighbor
            .and_then(|n| detect.iter().find(|(a, _)| *a == n))
            .map(|(_, ms)| *ms);
    }
    Ok(DaemonState {
        router_id: parse_router_id(&status),
        peers,
        routes,
    })
}

/// Its sessions alone (`show protocols all`), without BFD's detection
/// times: one `birdc`, for a caller that polls them.
pub fn read_peers(socket: &Path) -> Result<Vec<PeerState>, ReadError> {
    Ok(parse_protocols(&birdc(socket, "show protocols all")?))
}

/// Its table alone (`show route all`): one `birdc`.
pub fn read_routes(socket: &Path) -> Result<Vec<LiveRoute>, ReadError> {
    Ok(parse_routes(&birdc(socket, "show route all")?))
}

/// One `birdc -s SOCKET COMMAND`'s output (the lab's one BIRD client).
pub fn birdc(socket: &Path, command: &str) -> Result<String, ReadError> {
    let err = |why: String| ReadError {
        what: socket.display().to_string(),
        why,
    };
    let out = Command::new("birdc")
        .arg("-s")
        .arg(socket)
        .args(command.split(' '))
        .output()
        .map_err(|e| err(format!("birdc: {e}")))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() || text.contains("Unable to connect") {
        return Err(err(format!(
            "birdc {command}: {}{}",
            text.trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(text)
}

/// `Router ID is A.B.C.D` of `show status`.
pub fn parse_router_id(status: &str) -> Option<Ipv4Addr> {
    status
        .lines()
        .find_map(|l| l.trim().strip_prefix("Router ID is "))
        .and_then(|a| a.trim().parse().ok())
}

/// The BGP and static protocols of `show protocols all` (others, as the
/// kernel or device protocols, are left out).
pub fn parse_protocols(text: &str) -> Vec<PeerState> {
    let mut out: Vec<(String, PeerState)> = Vec::new();
    for line in text.lines() {
        if line.is_empty() || line.starts_with("BIRD ") || line.starts_with("Name ") {
            continue;
        }
        if !line.starts_with(char::is_whitespace) {
            // name proto table state since info
            let mut f = line.split_whitespace();
            let (Some(name), Some(proto)) = (f.next(), f.next()) else {
                continue;
            };
            let state = f.nth(1).unwrap_or_default();
            out.push((
                proto.to_string(),
                PeerState {
                    name: name.to_string(),
                    // a static protocol is "established" when up
                    established: proto == "Static" && state == "up",
                    ..PeerState::default()
                },
            ));
            continue;
        }
        let Some((proto, p)) = out.last_mut() else {
            continue;
        };
        if proto != "BGP" {
            continue;
        }
        let Some((key, value)) = line.trim().split_once(':') else {
            continue;
        };
        let value = value.trim();
        match key {
            "BGP state" => {
                p.established = value == "Established";
                if !p.established && p.reason.is_none() {
                    p.reason = Some(format!("BGP state {value}"));
                }
            }
            "Neighbor address" => p.neighbor = value.parse().ok(),
            "Hold timer" => p.hold_time = timer_period(value),
            "Keepalive timer" => p.keepalive = timer_period(value),
            "Last error" if !p.established => p.reason = Some(value.to_string()),
            _ => {}
        }
    }
    out.into_iter()
        .filter(|(proto, _)| proto == "BGP" || proto == "Static")
        .map(|(_, p)| p)
        .collect()
}

/// The period of a timer line, `74.991/90` → 90.
fn timer_period(value: &str) -> Option<u16> {
    value.split_once('/')?.1.trim().parse().ok()
}

/// Every route of `show route all`, in the order BIRD prints them (per
/// prefix, the primary route, marked `*`, first).
pub fn parse_routes(text: &str) -> Vec<LiveRoute> {
    let mut out: Vec<LiveRoute> = Vec::new();
    let mut prefix: Option<Ipv4Net> = None;
    for line in text.lines() {
        if let Some(attr) = line.strip_prefix('\t') {
            if let Some(r) = out.last_mut() {
                route_attribute(r, attr.trim());
            }
            continue;
        }
        if line.starts_with("Table ") || line.starts_with("BIRD ") || line.trim().is_empty() {
            continue;
        }
        if !line.starts_with(' ') {
            prefix = line.split_whitespace().next().and_then(|p| p.parse().ok());
        }
        let (Some(prefix), Some((_, rest))) = (prefix, line.split_once('[')) else {
            continue;
        };
        let Some(from) = rest.split_whitespace().next() else {
            continue;
        };
        let best = rest
            .split_once(']')
            .and_then(|(_, after)| after.split_whitespace().next())
            == Some("*");
        out.push(LiveRoute {
            prefix,
            from: from.to_string(),
            next_hop: Ipv4Addr::UNSPECIFIED,
            as_path: Vec::new(),
            communities: Vec::new(),
            local_pref: None,
            med: None,
            best,
        });
    }
    out
}

/// One tab-indented attribute line of a route.
fn route_attribute(r: &mut LiveRoute, attr: &str) {
    if let Some(via) = attr.strip_prefix("via ") {
        // the gateway; a BGP route's BGP.next_hop comes later and wins
        if r.next_hop.is_unspecified() {
            if let Some(a) = via.split_whitespace().next().and_then(|a| a.parse().ok()) {
                r.next_hop = a;
            }
        }
        return;
    }
    let Some((key, value)) = attr.split_once(':') else {
        return;
    };
    let value = value.trim();
    match key {
        "BGP.next_hop" => {
            if let Some(a) = value.split_whitespace().next().and_then(|a| a.parse().ok()) {
                r.next_hop = a;
            }
        }
        // AS sets ({...}) are not numbers and left out
        "BGP.as_path" => {
            r.as_path = value
                .split_whitespace()
                .filter_map(|a| a.parse().ok())
                .collect()
        }
        "BGP.local_pref" => r.local_pref = value.parse().ok(),
        "BGP.med" => r.med = value.parse().ok(),
        "BGP.community" => r.communities = parse_communities(value),
        _ => {}
    }
}

/// `(7224,7300) (65010,1)` → communities.
fn parse_communities(value: &str) -> Vec<Community> {
    value
        .split(')')
        .filter_map(|c| {
            let (a, b) = c.trim().trim_start_matches('(').split_once(',')?;
            Some(Community(a.trim().parse().ok()?, b.trim().parse().ok()?))
        })
        .collect()
}

/// Per neighbour address, the BFD detection time (`Timeout`, seconds, in
/// milliseconds) of the sessions `show bfd sessions` lists as up.
pub fn parse_bfd_sessions(text: &str) -> Vec<(Ipv4Addr, u32)> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let addr: Ipv4Addr = f.first()?.parse().ok()?;
            if f.get(2) != Some(&"Up") {
                return None;
            }
            let timeout: f64 = f.last()?.parse().ok()?;
            Some((addr, (timeout * 1000.0).round() as u32))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/bgp_live/");

    fn data(name: &str) -> String {
        std::fs::read_to_string(format!("{DATA}{name}")).expect("captured output")
    }

    fn net(s: &str) -> Ipv4Net {
        s.parse().expect("prefix")
    }

    #[test]
    fn router_id_of_show_status() {
        assert_eq!(
            parse_router_id(&data("bird_aws_status.txt")),
            Some(Ipv4Addr::new(169, 254, 0, 1))
        );
        assert_eq!(parse_router_id("BIRD 2.0.12 ready.\n"), None);
    }

    #[test]
    fn sessions_established_and_down_on_the_prefix_limit() {
        let peers = parse_protocols(&data("bird_aws_protocols.txt"));
        let names: Vec<&str> = peers.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            ["vpc", "dx_0", "dx_1", "vpn_bgp", "dx_2", "vpn_static"],
            "BGP and static protocols, in order"
        );
        let dx0 = &peers[1];
        assert!(dx0.established && dx0.reason.is_none());
        assert_eq!(dx0.neighbor, Some(Ipv4Addr::new(169, 254, 0, 2)));
        assert_eq!((dx0.hold_time, dx0.keepalive), (Some(90), Some(30)));
        let dx1 = &peers[2];
        assert_eq!((dx1.hold_time, dx1.keepalive), (Some(9), Some(3)));
        let vpn = &peers[3];
        assert!(!vpn.established);
        assert_eq!(
            vpn.reason.as_deref(),
            Some("Automatic shutdown: Route limit exceeded")
        );
        assert_eq!(vpn.neighbor, Some(Ipv4Addr::new(169, 254, 0, 10)));
        assert_eq!((vpn.hold_time, vpn.keepalive), (None, None));
        assert!(peers[5].established, "static protocol up");
    }

    #[test]
    fn the_other_side_of_the_limit_is_active_with_the_notification() {
        let peers = parse_protocols(&data("bird_office_protocols.txt"));
        let vpn = peers.iter().find(|p| p.name == "vpn_bgp").expect("vpn_bgp");
        assert!(!vpn.established);
        assert_eq!(
            vpn.reason.as_deref(),
            Some("Received: Maximum number of prefixes reached")
        );
    }

    #[test]
    fn routes_with_attributes_and_the_primary_marked() {
        let routes = parse_routes(&data("bird_aws_routes.txt"));
        let of =
            |p: &str| -> Vec<&LiveRoute> { routes.iter().filter(|r| r.prefix == net(p)).collect() };
        let r20 = of("192.168.20.0/24");
        assert_eq!(r20.len(), 2);
        assert!(r20[0].best && !r20[1].best);
        assert_eq!(r20[0].from, "dx_0");
        assert_eq!(r20[0].as_path, [65010, 65010, 65010]);
        assert_eq!(r20[0].communities, [Community::AWS_HIGH]);
        assert_eq!(r20[0].local_pref, Some(300));
        assert_eq!(r20[0].next_hop, Ipv4Addr::new(169, 254, 0, 2));
        assert_eq!(r20[1].from, "dx_1");
        assert_eq!(r20[1].as_path, [65010]);
        assert_eq!(r20[1].local_pref, Some(200));
        let r10 = of("192.168.10.0/24");
        let dx1 = r10.iter().find(|r| r.from == "dx_1").expect("dx_1 route");
        assert_eq!(dx1.med, Some(50));
        assert_eq!(dx1.communities, [Community::AWS_LOW, Community(65010, 1)]);
        let stat = r10
            .iter()
            .find(|r| r.from == "vpn_static")
            .expect("static route");
        assert!(!stat.best);
        assert_eq!(stat.next_hop, Ipv4Addr::new(169, 254, 0, 10));
        assert!(stat.as_path.is_empty() && stat.local_pref.is_none());
        let frr = of("192.168.30.0/24");
        assert_eq!(frr[0].from, "dx_2");
        assert_eq!((frr[0].med, frr[0].as_path.len()), (Some(0), 3));
        let vpc = of("10.0.0.0/16");
        assert_eq!((vpc[0].from.as_str(), vpc[0].best), ("vpc", true));
        assert!(vpc[0].next_hop.is_unspecified(), "blackhole");
    }

    #[test]
    fn office_table_has_the_vpc_over_both_vifs() {
        let routes = parse_routes(&data("bird_office_routes.txt"));
        let vpc: Vec<&LiveRoute> = routes
            .iter()
            .filter(|r| r.prefix == net("10.0.0.0/16"))
            .collect();
        assert_eq!(vpc.len(), 2);
        assert_eq!(
            (vpc[0].from.as_str(), vpc[0].best, vpc[0].local_pref),
            ("dx_0", true, Some(200))
        );
        assert_eq!(
            (vpc[1].from.as_str(), vpc[1].best, vpc[1].local_pref),
            ("dx_1", false, Some(100))
        );
        assert_eq!(vpc[1].as_path, [64512]);
    }

    #[test]
    fn bfd_detection_times() {
        let s = parse_bfd_sessions(&data("bird_aws_bfd.txt"));
        assert_eq!(
            s,
            [
                (Ipv4Addr::new(169, 254, 0, 14), 900),
                (Ipv4Addr::new(169, 254, 0, 2), 900)
            ]
        );
        assert!(parse_bfd_sessions("syntax error\n").is_empty());
    }

    #[test]
    fn communities_list() {
        assert_eq!(
            parse_communities("(7224,7300) (65010,1)"),
            [Community::AWS_HIGH, Community(65010, 1)]
        );
        assert!(parse_communities("").is_empty());
    }
}
