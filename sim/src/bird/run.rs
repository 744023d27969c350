//! The running BIRDs, as `sim up` needs them: which of their protocols are
//! Established (a minimal reading of `birdc show protocols`), and a
//! bounded wait until every session the analysis expects is.

use std::io;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use super::BirdSpec;

/// How long `sim up` waits for the sessions.
pub const ESTABLISHED_WITHIN: Duration = Duration::from_secs(10);

/// `birdc -s SOCKET CMD...`: its output, or why it failed.
pub fn birdc(socket: &Path, args: &[&str]) -> io::Result<String> {
    let out = Command::new("birdc")
        .arg("-s")
        .arg(socket)
        .args(args)
        .output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "birdc {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The protocols `show protocols` lists as Established (BGP's state in
/// the Info column).
pub fn established(show_protocols: &str) -> Vec<String> {
    show_protocols
        .lines()
        .filter(|l| {
            let mut f = l.split_whitespace();
            // name proto table state since info...
            f.nth(1) == Some("BGP") && l.split_whitespace().skip(4).any(|w| w == "Established")
        })
        .filter_map(|l| l.split_whitespace().next().map(String::from))
        .collect()
}

/// Waits until every daemon's `established` protocols are Established, at
/// most `timeout`; how long it took, or which were not (with their line of
/// `show protocols`).
pub fn wait_established(daemons: &[BirdSpec], timeout: Duration) -> Result<Duration, String> {
    let start = Instant::now();
    loop {
        let mut missing = Vec::new();
        for d in daemons {
            let shown = birdc(&d.socket, &["show", "protocols"]);
            let up = shown.as_deref().map(established).unwrap_or_default();
            for p in &d.established {
                if !up.contains(p) {
                    let line = shown
                        .as_deref()
                        .ok()
                        .and_then(|s| {
                            s.lines()
                                .find(|l| l.split_whitespace().next() == Some(p.as_str()))
                        })
                        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
                        .unwrap_or_else(|| match &shown {
                            Ok(_) => "not listed".into(),
                            Err(e) => e.to_string(),
                        });
                    missing.push(format!("{} {p}: {line}", d.name));
                }
            }
        }
        if missing.is_empty() {
            return Ok(start.elapsed());
        }
        if start.elapsed() >= timeout {
            return Err(missing.join("; "));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The prefixes `show route` lists (the first column of its route lines).
pub fn routed_prefixes(show_route: &str) -> Vec<String> {
    show_route
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| w.contains('/') && w.parse::<ipnet::Ipv4Net>().is_ok())
        .map(String::from)
        .collect()
}

/// Waits until every daemon's table holds its expected `routes`, at most
/// `timeout`; how long it took, or which were missing.
pub fn wait_routes(daemons: &[BirdSpec], timeout: Duration) -> Result<Duration, String> {
    let start = Instant::now();
    loop {
        let mut missing = Vec::new();
        for d in daemons.iter().filter(|d| !d.routes.is_empty()) {
            let shown = birdc(&d.socket, &["show", "route"])
                .map(|s| routed_prefixes(&s))
                .unwrap_or_default();
            for p in &d.routes {
                if !shown.contains(&p.to_string()) {
                    missing.push(format!("{} {p}", d.name));
                }
            }
        }
        if missing.is_empty() {
            return Ok(start.elapsed());
        }
        if start.elapsed() >= timeout {
            return Err(format!("routes not learned: {}", missing.join(", ")));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn established_reads_the_info_column_of_bgp_protocols() {
        let out = "BIRD 2.0.12 ready.\n\
Name       Proto      Table      State  Since         Info\n\
vifgate_device Device --- up 22:50:01.123\n\
dx-vif     BGP        ---        up     22:50:03.456  Established\n\
vpn-backup BGP        ---        start  22:50:03.456  Active        Socket: Connection refused\n\
vifgate_kernel Kernel master4 up 22:50:01.123\n";
        assert_eq!(established(out), vec!["dx-vif".to_string()]);
    }

    #[test]
    fn routed_prefixes_are_the_route_lines_first_column() {
        let out = "BIRD 2.0.12 ready.\nTable master4:\n192.168.10.0/24      unicast [dx-vif 22:50:03.456] * (200) [AS65010i]\n\tvia 169.254.100.1 on dx0\n                     unicast [vpn-backup 22:50:03.456] (150)\n10.0.0.0/16          unicast [vifgate_vpc_cidr 22:50:01.123] * (200)\n";
        assert_eq!(
            routed_prefixes(out),
            vec!["192.168.10.0/24".to_string(), "10.0.0.0/16".into()]
        );
    }
}
