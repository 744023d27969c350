//! `vifgate sim flowlogs` on the example: AWS's VPC Flow Log records of
//! the lab's probes on the ENIs they cross, ACCEPT and REJECT (security
//! group and network ACL), in the default format and in a custom one.

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::common::lab::{example_lab, ready};
use crate::common::vifgate;
use sim::ops::lab::Lab;
use topology::analysis::Service;

/// A node's interfaces in the example: (ENI name, private address,
/// public address).
fn enis_of(lab: &Lab, node: &str) -> Vec<(String, std::net::Ipv4Addr, Option<std::net::Ipv4Addr>)> {
    let n = lab
        .topology()
        .nodes
        .iter()
        .find(|n| n.name == node)
        .unwrap_or_else(|| panic!("no node {node}"));
    n.interfaces
        .iter()
        .map(|i| (i.name.clone(), i.ip, i.public_ip))
        .collect()
}

/// `vifgate sim flowlogs LAB --follow` with 1 s intervals and `extra`
/// arguments, started: the child and its standard error, its first line
/// (printed once the counters are loaded) read.
fn start_flowlogs(
    lab: &Lab,
    extra: &[&str],
) -> (
    std::process::Child,
    std::io::BufReader<std::process::ChildStderr>,
    String,
) {
    let mut child = Command::new(vifgate())
        .args([
            "sim",
            "flowlogs",
            lab.name(),
            "--follow",
            "--interval-ms",
            "1000",
        ])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run vifgate sim flowlogs");
    // the counters are loaded once it says so
    let mut stderr = std::io::BufReader::new(child.stderr.take().expect("stderr"));
    let mut first = String::new();
    std::io::BufRead::read_line(&mut stderr, &mut first).expect("read stderr");
    assert!(first.starts_with("flow logs of lab"), "{first}");
    (child, stderr, first)
}

/// SIGINT to a `start_flowlogs` child (it closes the last interval,
/// prints it and removes its tables); its output.
fn stop_flowlogs(child: std::process::Child) -> Output {
    // SAFETY: kill on our own child's pid.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGINT);
    }
    child.wait_with_output().expect("wait for flowlogs")
}

/// `vifgate sim flowlogs` on the example: a probe the bastion's security
/// group denies (internet -> bastion tcp/22) is a REJECT record on the
/// bastion's ENI; accepted ones are ACCEPT records (office-pc -> bastion
/// tcp/22 on the bastion's ENI; alb -> web-a1 tcp/80 on both ENIs, the
/// load balancer's and web-a1's); one the database subnet's network ACL
/// denies (office-pc -> db-primary tcp/3306) is a REJECT on the
/// database's ENI; the capture's table is gone afterwards.
#[test]
fn flow_logs_record_rejected_and_accepted_probes_on_their_enis() {
    if !ready("flow_logs_record_rejected_and_accepted_probes_on_their_enis") {
        return;
    }
    let lab = example_lab();
    let (child, mut stderr, first) = start_flowlogs(&lab, &[]);

    let bastion = enis_of(&lab, "bastion");
    let (bastion_eni, bastion_ip, bastion_public) = bastion[0].clone();
    let public = bastion_public.expect("the example's bastion has a public address");
    let internet_ip = enis_of(&lab, "internet")[0].1;
    let office_ip = enis_of(&lab, "office-pc")[0].1;
    let web_a1 = enis_of(&lab, "web-a1");
    let alb_enis: Vec<String> = enis_of(&lab, "alb").into_iter().map(|e| e.0).collect();
    let denied = lab
        .probe("internet", &public.to_string(), Service::Tcp(22))
        .expect("probe");
    assert_ne!(denied.outcome, sim::probe::Outcome::Reply, "{denied:?}");
    assert!(lab.reaches("office-pc", "bastion", Service::Tcp(22)));
    assert!(lab.reaches("alb", "web-a1", Service::Tcp(80)));
    // the database subnet's network ACL admits MySQL from the web subnets only
    assert!(!lab.reaches("office-pc", "db-primary", Service::Tcp(3306)));
    std::thread::sleep(Duration::from_millis(200));
    let out = stop_flowlogs(child);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).expect("read stderr");
    assert!(out.status.success(), "{first}{rest}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let records: Vec<Vec<&str>> = stdout.lines().map(|l| l.split(' ').collect()).collect();
    for r in &records {
        assert_eq!(r.len(), 14, "not a v2 default record: {r:?}");
        assert_eq!(r[0], "2");
    }
    let has = |eni: &str, src: &str, dst: &str, dport: &str, action: &str| {
        records.iter().any(|r| {
            r[2] == eni
                && r[3] == src
                && r[4] == dst
                && r[6] == dport
                && r[7] == "6"
                && r[12] == action
        })
    };
    let (internet_s, bastion_s, office_s) = (
        internet_ip.to_string(),
        bastion_ip.to_string(),
        office_ip.to_string(),
    );
    assert!(
        has(&bastion_eni, &internet_s, &bastion_s, "22", "REJECT"),
        "no REJECT of internet -> bastion:22 on {bastion_eni}:\n{stdout}"
    );
    assert!(
        !has(&bastion_eni, &internet_s, &bastion_s, "22", "ACCEPT"),
        "{stdout}"
    );
    assert!(
        has(&bastion_eni, &office_s, &bastion_s, "22", "ACCEPT"),
        "no ACCEPT of office-pc -> bastion:22 on {bastion_eni}:\n{stdout}"
    );
    let (db_eni, db_ip, _) = enis_of(&lab, "db-primary")[0].clone();
    assert!(
        has(&db_eni, &office_s, &db_ip.to_string(), "3306", "REJECT"),
        "no REJECT (network ACL) of office-pc -> db-primary:3306 on {db_eni}:\n{stdout}"
    );
    // alb -> web-a1:80, the same flow (source port included) ACCEPT on
    // web-a1's ENI and on one of the load balancer's
    let (web_eni, web_ip, _) = web_a1[0].clone();
    let web_s = web_ip.to_string();
    let both_ends = records.iter().any(|w| {
        w[2] == web_eni
            && w[4] == web_s
            && w[6] == "80"
            && w[12] == "ACCEPT"
            && records.iter().any(|a| {
                alb_enis.iter().any(|e| e == a[2]) && a[3..8] == w[3..8] && a[12] == "ACCEPT"
            })
    });
    assert!(
        both_ends,
        "no alb -> web-a1:80 ACCEPT on both {alb_enis:?} and {web_eni}:\n{stdout}"
    );
    // the lab is as it was: only its own table left in the bastion
    let tables = lab
        .exec("bastion", &["nft", "list", "tables"])
        .expect("nft");
    let tables = String::from_utf8_lossy(&tables.stdout);
    assert!(!tables.contains("vifgate_flowlog"), "{tables}");
    assert!(tables.contains("vifgate_sg"), "{tables}");
    lab.down().expect("down");
}

/// `vifgate sim flowlogs --format` with AWS's custom format: version 5
/// (the highest of the fields), the office's SSH session to the bastion
/// `ingress` on the bastion's ENI and its replies `egress`, `tcp-flags`
/// written `-` (the lab's counters see no flags).
#[test]
fn flow_logs_write_a_custom_format_with_flow_direction() {
    if !ready("flow_logs_write_a_custom_format_with_flow_direction") {
        return;
    }
    let lab = example_lab();
    let format = "${version} ${interface-id} ${srcaddr} ${dstaddr} ${dstport} ${action} ${flow-direction} ${tcp-flags}";
    let (child, _stderr, first) = start_flowlogs(&lab, &["--format", format]);
    let (bastion_eni, bastion_ip, _) = enis_of(&lab, "bastion")[0].clone();
    let office_ip = enis_of(&lab, "office-pc")[0].1;
    assert!(lab.reaches("office-pc", "bastion", Service::Tcp(22)));
    std::thread::sleep(Duration::from_millis(200));
    let out = stop_flowlogs(child);
    assert!(out.status.success(), "{first}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    for line in stdout.lines() {
        assert_eq!(line.split(' ').count(), 8, "{line}");
        assert!(line.starts_with("5 "), "{line}");
    }
    let request = format!("5 {bastion_eni} {office_ip} {bastion_ip} 22 ACCEPT ingress -");
    assert!(
        stdout.lines().any(|l| l == request),
        "no `{request}`:\n{stdout}"
    );
    let reply = format!("5 {bastion_eni} {bastion_ip} {office_ip} ");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with(&reply) && l.ends_with(" ACCEPT egress -")),
        "no reply `{reply}... ACCEPT egress -`:\n{stdout}"
    );
    lab.down().expect("down");
}
