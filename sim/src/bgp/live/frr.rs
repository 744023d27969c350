//! FRR's bgpd read back through its vty socket: `vtysh --vty_socket DIR -d
//! bgpd -c '... json'` with `show bgp summary json` (router ID), `show bgp
//! neighbors json` (sessions) and `show bgp ipv4 unicast json detail` (the
//! table with communities), read as JSON (tested on output captured from
//! FRR 8.4.4, `sim/tests/data/bgp_live/`).

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;

use serde_json::Value;
use topology::bgp::Community;

use super::{DaemonState, LiveRoute, PeerState, ReadError};

/// Reads the bgpd whose vty socket is in `run_dir`.
pub fn read(run_dir: &Path) -> Result<DaemonState, ReadError> {
    let summary = vtysh(run_dir, "show bgp summary json")?;
    let peers = read_peers(run_dir)?;
    let routes = read_routes(run_dir, &peers)?;
    Ok(DaemonState {
        router_id: parse_router_id(&summary),
        peers,
        routes,
    })
}

/// Its sessions alone, with their BFD (`show bgp neighbors json`): one
/// `vtysh`, for a caller that polls them.
pub fn read_peers(run_dir: &Path) -> Result<Vec<PeerState>, ReadError> {
    Ok(parse_neighbors(&vtysh(run_dir, "show bgp neighbors json")?))
}

/// Its table alone (`show bgp ipv4 unicast json detail`), each route
/// named after the one of `peers` it came from (by address when none):
/// one `vtysh`.
pub fn read_routes(run_dir: &Path, peers: &[PeerState]) -> Result<Vec<LiveRoute>, ReadError> {
    Ok(parse_routes(
        &vtysh(run_dir, "show bgp ipv4 unicast json detail")?,
        peers,
    ))
}

/// One `vtysh` command's JSON.
fn vtysh(run_dir: &Path, command: &str) -> Result<Value, ReadError> {
    let err = |why: String| ReadError {
        what: run_dir.display().to_string(),
        why,
    };
    let out = Command::new("vtysh")
        .arg("--vty_socket")
        .arg(run_dir)
        .args(["-d", "bgpd", "-c", command])
        .output()
        .map_err(|e| err(format!("vtysh: {e}")))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(err(format!(
            "vtysh -c '{command}': {}{}",
            text.trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    serde_json::from_str(&text).map_err(|e| err(format!("vtysh -c '{command}': {e}: {text}")))
}

/// `ipv4Unicast.routerId` of `show bgp summary json`.
pub fn parse_router_id(summary: &Value) -> Option<Ipv4Addr> {
    summary["ipv4Unicast"]["routerId"].as_str()?.parse().ok()
}

/// The neighbours of `show bgp neighbors json`, named by their
/// description (the session name the config gives them), else by address.
pub fn parse_neighbors(neighbors: &Value) -> Vec<PeerState> {
    let Some(map) = neighbors.as_object() else {
        return Vec::new();
    };
    map.iter()
        .filter_map(|(addr, n)| {
            let neighbor: Ipv4Addr = addr.parse().ok()?;
            let state = n["bgpState"].as_str().unwrap_or("unknown");
            let established = state == "Established";
            let secs = |key: &str| n[key].as_u64().and_then(|ms| u16::try_from(ms / 1000).ok());
            // as BIRD's reader: a detection time only for a BFD session up
            let bfd = &n["peerBfdInfo"];
            let bfd_detect_ms = match (
                bfd["detectMultiplier"].as_u64(),
                bfd["rxMinInterval"].as_u64(),
                bfd["status"].as_str(),
            ) {
                (Some(m), Some(rx), Some("Up")) => u32::try_from(m * rx).ok(),
                _ => None,
            };
            let reason = (!established).then(|| match n["lastResetDueTo"].as_str() {
                Some(why) => format!("BGP state {state}, last reset: {why}"),
                None => format!("BGP state {state}"),
            });
            Some(PeerState {
                name: n["nbrDesc"]
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| addr.clone()),
                neighbor: Some(neighbor),
                established,
                reason,
                hold_time: established.then(|| secs("bgpTimerHoldTimeMsecs")).flatten(),
                keepalive: established
                    .then(|| secs("bgpTimerKeepAliveIntervalMsecs"))
                    .flatten(),
                bfd_detect_ms,
            })
        })
        .collect()
}

/// The routes learned from neighbours in `show bgp ipv4 unicast json
/// detail` (the daemon's own, `local`, are left out), each named by the
/// neighbour it came from as [`parse_neighbors`] names it.
pub fn parse_routes(table: &Value, peers: &[PeerState]) -> Vec<LiveRoute> {
    let default_pref = table["defaultLocPrf"].as_u64();
    let Some(routes) = table["routes"].as_object() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (prefix, paths) in routes {
        let (Ok(prefix), Some(paths)) = (prefix.parse(), paths.as_array()) else {
            continue;
        };
        // the first element is the prefix's header, the paths follow
        for p in paths.iter().filter(|p| p.get("aspath").is_some()) {
            if p["local"].as_bool() == Some(true) {
                continue;
            }
            let Some(peer) = p["peer"]["peerId"]
                .as_str()
                .and_then(|a| a.parse::<Ipv4Addr>().ok())
            else {
                continue;
            };
            let from = peers
                .iter()
                .find(|n| n.neighbor == Some(peer))
                .map(|n| n.name.clone())
                .unwrap_or_else(|| peer.to_string());
            let as_path = p["aspath"]["segments"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|s| s["type"].as_str() == Some("as-sequence"))
                .flat_map(|s| s["list"].as_array().into_iter().flatten())
                .filter_map(|a| a.as_u64().and_then(|a| u32::try_from(a).ok()))
                .collect();
            let communities = p["community"]["list"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| parse_community(c.as_str()?))
                .collect();
            out.push(LiveRoute {
                prefix,
                from,
                next_hop: p["nexthops"][0]["ip"]
                    .as_str()
                    .and_then(|a| a.parse().ok())
                    .unwrap_or(peer),
                as_path,
                communities,
                local_pref: p["locPrf"]
                    .as_u64()
                    .or(default_pref)
                    .and_then(|l| u32::try_from(l).ok()),
                med: p["metric"].as_u64().and_then(|m| u32::try_from(m).ok()),
                best: p["bestpath"]["overall"].as_bool() == Some(true),
            });
        }
    }
    out
}

/// `7224:7300` → a community (well-known names such as `no-export` are
/// left out).
fn parse_community(s: &str) -> Option<Community> {
    let (a, b) = s.split_once(':')?;
    Some(Community(a.parse().ok()?, b.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/bgp_live/");

    fn data(name: &str) -> Value {
        let text = std::fs::read_to_string(format!("{DATA}{name}")).expect("captured output");
        serde_json::from_str(&text).expect("json")
    }

    #[test]
    fn router_id_of_the_summary() {
        assert_eq!(
            parse_router_id(&data("frr_summary.json")),
            Some(Ipv4Addr::new(192, 168, 30, 1))
        );
        assert_eq!(parse_router_id(&Value::Null), None);
    }

    #[test]
    fn an_established_neighbour_with_timers_and_bfd() {
        let peers = parse_neighbors(&data("frr_neighbors.json"));
        assert_eq!(peers.len(), 1);
        let p = &peers[0];
        assert_eq!(p.name, "dx_2");
        assert_eq!(p.neighbor, Some(Ipv4Addr::new(169, 254, 0, 13)));
        assert!(p.established && p.reason.is_none());
        assert_eq!((p.hold_time, p.keepalive), (Some(90), Some(30)));
        assert_eq!(p.bfd_detect_ms, Some(900));
    }

    #[test]
    fn an_idle_neighbour_says_why() {
        let peers = parse_neighbors(&data("frr_neighbors_down.json"));
        let p = &peers[0];
        assert!(!p.established);
        assert_eq!(
            p.reason.as_deref(),
            Some("BGP state Idle, last reset: BFD down received")
        );
        assert_eq!(p.hold_time, None);
        assert_eq!(p.bfd_detect_ms, None, "its BFD session is down");
    }

    #[test]
    fn received_routes_with_local_preference_and_communities() {
        let peers = parse_neighbors(&data("frr_neighbors.json"));
        let routes = parse_routes(&data("frr_routes_detail.json"), &peers);
        assert_eq!(routes.len(), 1, "own networks are left out: {routes:?}");
        let r = &routes[0];
        assert_eq!(
            r.prefix,
            "10.0.0.0/16".parse::<ipnet::Ipv4Net>().expect("net")
        );
        assert_eq!(r.from, "dx_2");
        assert_eq!(r.next_hop, Ipv4Addr::new(169, 254, 0, 13));
        assert_eq!(r.as_path, [64512]);
        assert_eq!(r.communities, [Community(64512, 42)]);
        assert_eq!((r.local_pref, r.med, r.best), (Some(250), Some(10), true));
    }

    #[test]
    fn routes_of_an_unknown_neighbour_are_named_by_address() {
        let routes = parse_routes(&data("frr_routes_detail.json"), &[]);
        assert_eq!(routes[0].from, "169.254.0.13");
    }
}
