//! VPC flow logs from the office gateway: ACCEPT records for a ping and a
//! TCP connection the policy allows, REJECT for one it denies, and a
//! logrotate-style rotation (rename, then SIGHUP) mid-run that loses no
//! record.
//!
//! ```text
//!  lan1 192.168.10.10 ── gw1 (vifgate, [flow_logs]) ══ gw2 ── lan2 10.0.10.10
//! ```

use super::*;

/// One record of the default format, split into its 14 fields.
fn records(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .map(|l| l.split(' ').map(str::to_string).collect::<Vec<_>>())
        .inspect(|f| assert_eq!(f.len(), 14, "not a version 2 record: {f:?}"))
        .collect()
}

/// Packets of the OK records matching `src dst dstport protocol action`.
fn packets(
    records: &[Vec<String>],
    src: &str,
    dst: &str,
    dport: &str,
    proto: &str,
    action: &str,
) -> u64 {
    records
        .iter()
        .filter(|r| {
            r[3] == src
                && r[4] == dst
                && r[6] == dport
                && r[7] == proto
                && r[12] == action
                && r[13] == "OK"
        })
        .map(|r| r[8].parse::<u64>().unwrap_or(0))
        .sum()
}

#[test]
fn flow_log_records_accept_and_reject_and_survive_rotation() {
    if !can_run("flow_log_records_accept_and_reject_and_survive_rotation") || !need_tool("python3")
    {
        return;
    }
    let mut lab = Lab::new();
    topology(&mut lab);
    let log = lab.dir.join("flows.log");
    let rotated = lab.dir.join("flows.log.1");
    // from the VPC: ping only; the office's own connections go out
    let extra = format!(
        r#"
[policy]
security_groups = ["edge"]
[[policy.security_group]]
name = "edge"
ingress = [{{ protocol = "icmp", icmp_type = 8, icmp_code = -1, cidr = "10.0.0.0/16" }}]
[flow_logs]
destination = "{}"
aggregation_interval = 10
account_id = "123456789010"
interface_id = "eni-0office"
"#,
        log.display()
    );
    vifgate_pair(&mut lab, &extra);
    // allowed: 3 pings from the VPC, a TCP connection from the office
    assert!(lab.ping("lan2", "192.168.10.10", 3), "{}", lab.log("gw1"));
    start_sink(&mut lab, "sink2", "lan2", 5001);
    assert_eq!(
        tcp_transfer(&lab, "lan1", "10.0.10.10", 5001, 20_000),
        Some(20_000)
    );
    // denied: a TCP connection from the VPC
    start_sink(&mut lab, "sink1", "lan1", 5002);
    assert_eq!(tcp_transfer(&lab, "lan2", "192.168.10.10", 5002, 100), None);

    // the interval ends (10 s on the clock): its records are in the file
    let written = lab.wait_for(Duration::from_secs(15), || {
        std::fs::read_to_string(&log).is_ok_and(|t| t.contains(" REJECT OK"))
    });
    assert!(
        written,
        "no records: {:?}\n{}",
        std::fs::read_to_string(&log),
        lab.log("gw1")
    );
    // logrotate: rename, then SIGHUP; then more pings, into the new file
    std::fs::rename(&log, &rotated).expect("rename");
    reload(&lab, "gw1", 1);
    assert!(lab.ping("lan2", "192.168.10.10", 2));
    // a stop writes the open interval
    lab.stop("gw1");
    let old = std::fs::read_to_string(&rotated).expect("rotated file");
    let new = std::fs::read_to_string(&log).unwrap_or_default();
    let (old_r, new_r) = (records(&old), records(&new));
    let all: Vec<Vec<String>> = old_r.iter().chain(&new_r).cloned().collect();
    let summary = format!("--- rotated\n{old}--- new\n{new}");
    println!("flow log records:\n{summary}");
    for r in &all {
        assert_eq!(
            (r[0].as_str(), r[1].as_str(), r[2].as_str()),
            ("2", "123456789010", "eni-0office"),
            "{summary}"
        );
        assert!(r[10] <= r[11], "start after end: {summary}");
    }
    // ping: echo requests in (ACCEPT) and the replies out, none lost by the rotation
    assert_eq!(
        packets(&all, "10.0.10.10", "192.168.10.10", "0", "1", "ACCEPT"),
        5,
        "{summary}"
    );
    assert_eq!(
        packets(&new_r, "10.0.10.10", "192.168.10.10", "0", "1", "ACCEPT"),
        2,
        "{summary}"
    );
    assert_eq!(
        packets(&all, "192.168.10.10", "10.0.10.10", "0", "1", "ACCEPT"),
        5,
        "{summary}"
    );
    // the office's TCP connection: both directions ACCEPT, 20 kB and more
    let out = all
        .iter()
        .find(|r| r[3] == "192.168.10.10" && r[6] == "5001" && r[12] == "ACCEPT");
    let out = out.unwrap_or_else(|| panic!("no ACCEPT record to port 5001: {summary}"));
    assert!(out[9].parse::<u64>().unwrap_or(0) > 20_000, "{summary}");
    assert!(
        all.iter()
            .any(|r| r[3] == "10.0.10.10" && r[5] == "5001" && r[12] == "ACCEPT"),
        "{summary}"
    );
    // the VPC's TCP connection: REJECT (SYN and its retransmissions)
    assert!(
        packets(&all, "10.0.10.10", "192.168.10.10", "5002", "6", "REJECT") >= 1,
        "{summary}"
    );
    assert_eq!(
        packets(&all, "10.0.10.10", "192.168.10.10", "5002", "6", "ACCEPT"),
        0,
        "{summary}"
    );
}
