//! Two independent BGP implementations on one Direct Connect session, in
//! real namespaces over a veth pair with MD5 and TTL 1: BIRD playing AWS
//! (a config in the lab's style, inline) against FRR playing the office
//! (configured by `sim::render::frr` from the topology), then against BIRD.
//! The session must come up; each side's table, read back by
//! `sim::bgp::live`, must carry what the other sent (read as `vifgate sim bgp` reads a lab): the office's two
//! prefixes with 7224:7300 and the prepend on AWS's side, the VPC's block
//! with the office's local preference on the office's side, in kernel
//! table 100.
//!
//! Needs root, `bird`/`birdc` and FRR (`vtysh`, /usr/lib/frr); skips
//! without them, fails under `CI=true`.

mod common;

use std::net::Ipv4Addr;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{can_run, need_tool, start_bird, Lab};
use sim::bgp::live::{bird, frr, DaemonState};
use sim::render;
use sim::render::frr::FrrOptions;
use topology::bgp::{BgpReport, SessionState};
use topology::model::bgp::Community;
use topology::model::Topology;

const MD5: &str = "interop-md5";
const KERNEL_TABLE: u32 = 100;
/// Generous: FRR connects as soon as it starts.
const ESTABLISH_WITHIN: Duration = Duration::from_secs(30);

/// The example with its VIF advertising two prefixes with 7224:7300, the
/// second prepended twice, the office preferring what it learns over it at
/// 250, and BFD at AWS's minimum, 300 ms x 3.
fn topology() -> Topology {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/yeohaengjigi.toml");
    let example = std::fs::read_to_string(path).expect("the example");
    // one session: the VIF (the VPN cut out), its prefixes with
    // communities and a prepend, the office's local preference 250
    let (vpn, internet) = (
        example.find("[vpn]").expect("[vpn]"),
        example.find("[internet]").expect("[internet]"),
    );
    let text = format!("{}{}", &example[..vpn], &example[internet..])
        .replace(
            r#"advertised_prefixes = ["192.168.10.0/24", "192.168.20.0/24"]"#,
            r#"advertised_prefixes = [
  { prefix = "192.168.10.0/24", communities = ["7224:7300"] },
  { prefix = "192.168.20.0/24", communities = ["7224:7300"], prepend = 2 },
]"#,
        )
        .replace("local_preference = 200", "local_preference = 250");
    let t = topology::parse("interop.toml", text)
        .expect("the interop topology loads")
        .topology;
    let v = &t.vifs[0];
    assert_eq!(v.bgp.local_preference, Some(250));
    assert!(v.bgp.bfd.is_some() && t.vpn.is_none());
    assert_eq!(
        v.advertised.iter().map(|a| a.prepend).collect::<Vec<_>>(),
        [0, 2]
    );
    t
}

/// AWS's side as the lab configures it (the VGW's router id, the same on
/// every session): one session for VIF 0 with BFD,
/// communities to local preference, the VPC's block exported.
fn aws_bird_config(t: &Topology) -> String {
    let v = &t.vifs[0];
    format!(
        r#"router id {rid};
log stderr all;
protocol device {{}}
protocol bfd {{ interface "*" {{ min rx interval 300 ms; min tx interval 300 ms; multiplier 3; }}; }}
protocol static vpc {{ ipv4; route 10.0.0.0/16 blackhole; }}
filter aws_in {{
  if (7224,7100) ~ bgp_community then bgp_local_pref = 100;
  else if (7224,7300) ~ bgp_community then bgp_local_pref = 300;
  else bgp_local_pref = 200;
  accept;
}}
protocol bgp dx_0 {{
  local {amazon} as {amazon_asn};
  neighbor {office} as {office_asn};
  direct;
  password "{MD5}";
  hold time 90; keepalive time 30;
  bfd on;
  ipv4 {{ preference 200; import limit 100 action disable; import filter aws_in; export where proto = "vpc"; }};
}}
"#,
        rid = topology::bgp::VGW_ROUTER_ID,
        amazon = v.amazon_address.addr(),
        office = v.customer_address.addr(),
        amazon_asn = v.amazon_asn,
        office_asn = v.customer_asn,
    )
}

/// The office's side in BIRD: the same policy as the FRR config.
fn office_bird_config(t: &Topology) -> String {
    let v = &t.vifs[0];
    let node = v.customer_router;
    format!(
        r#"router id {rid};
log stderr all;
protocol device {{}}
protocol bfd {{ interface "*" {{ min rx interval 300 ms; min tx interval 300 ms; multiplier 3; }}; }}
protocol static adv {{ ipv4; route 192.168.10.0/24 blackhole; route 192.168.20.0/24 blackhole; }}
protocol bgp dx_0 {{
  local {office} as {office_asn};
  neighbor {amazon} as {amazon_asn};
  direct;
  password "{MD5}";
  hold time 90; keepalive time 30;
  bfd on;
  ipv4 {{
    import filter {{ bgp_local_pref = 250; accept; }};
    export filter {{
      if proto != "adv" then reject;
      bgp_community.add((7224,7300));
      if net = 192.168.20.0/24 then {{ bgp_path.prepend({office_asn}); bgp_path.prepend({office_asn}); }}
      accept;
    }};
  }};
}}
protocol kernel {{ ipv4 {{ export where source = RTS_BGP; }}; kernel table {KERNEL_TABLE}; }}
"#,
        rid = topology::bgp::office_router_id(t, node),
        office = v.customer_address.addr(),
        amazon = v.amazon_address.addr(),
        amazon_asn = v.amazon_asn,
        office_asn = v.customer_asn,
    )
}

fn ready(test: &str) -> bool {
    can_run(test) && common::need_bird() && common::need_frr()
}

/// Two namespaces on the VIF's link; AWS's BIRD started in `aws`. Returns
/// its control socket.
fn aws_side(lab: &mut Lab, t: &Topology) -> std::path::PathBuf {
    let v = &t.vifs[0];
    lab.add_ns("aws");
    lab.add_ns("office");
    lab.link(
        "aws",
        &v.amazon_address.to_string(),
        "office",
        &v.customer_address.to_string(),
    );
    start_bird(lab, "bird-aws", "aws", &aws_bird_config(t))
}

/// Whether AWS's BIRD (its control socket) has its `dx_0` Established.
fn dx_0_established(sock: &Path) -> bool {
    bird::read(sock)
        .map(|d| d.peers.iter().any(|p| p.name == "dx_0" && p.established))
        .unwrap_or(false)
}

/// Polls AWS's BIRD until its `dx_0` is Established; how long it took.
fn wait_established(lab: &Lab, sock: &Path, office_log: &str) -> Duration {
    let start = Instant::now();
    let up = lab.wait_for(ESTABLISH_WITHIN, || dx_0_established(sock));
    assert!(
        up,
        "dx_0 not Established within {ESTABLISH_WITHIN:?}: {:?}\n--- aws\n{}\n--- office\n{office_log}",
        bird::read(sock).map(|d| d.peers),
        lab.log("bird-aws"),
    );
    start.elapsed()
}

/// Reads both daemons until each has the other's routes (bounded).
fn read_both(
    lab: &Lab,
    aws: &dyn Fn() -> DaemonState,
    office: &dyn Fn() -> DaemonState,
) -> (DaemonState, DaemonState) {
    let mut got = (aws(), office());
    lab.wait_for(Duration::from_secs(10), || {
        got = (aws(), office());
        got.0.routes.iter().filter(|r| r.from == "dx_0").count() == 2
            && got
                .1
                .routes
                .iter()
                .any(|r| r.prefix.to_string() == "10.0.0.0/16")
            && got.0.peers.iter().any(|p| p.bfd_detect_ms.is_some())
    });
    got
}

/// The report of every daemon whose socket or run directory is in the
/// test's directory, named as in a lab's state directory (`bird-*.ctl`,
/// `frr-*/`): what `vifgate sim bgp` reads.
fn lab_report(lab: &Lab, t: &Topology) -> BgpReport {
    let live = sim::bgp::live::lab::read_dir(&lab.dir, t).expect("read the daemons");
    assert!(live.unreadable.is_empty(), "{:?}", live.unreadable);
    assert_eq!(live.daemons, 2);
    live.report
}

/// What both implementations must agree on, through the report.
fn check_report(r: &BgpReport, lab: &Lab) {
    assert_eq!(r.sessions.len(), 1, "{r:#?}");
    assert_eq!(r.sessions[0].state, SessionState::Established);
    assert_eq!((r.sessions[0].hold_time, r.sessions[0].keepalive), (90, 30));
    assert_eq!(r.sessions[0].bfd_detect_ms, Some(900), "BFD 300 ms x 3 up");
    let vgw = r.speakers.iter().find(|s| s.name == "vgw").expect("vgw");
    let of = |p: &str| {
        vgw.received
            .iter()
            .find(|x| x.prefix.to_string() == p)
            .unwrap_or_else(|| panic!("{p} not received by AWS: {vgw:#?}"))
    };
    let a = of("192.168.10.0/24");
    assert_eq!(a.as_path, [65010]);
    assert_eq!(a.communities, [Community::AWS_HIGH]);
    assert_eq!((a.local_pref, a.best), (300, true));
    assert_eq!(a.session, "dx-vif");
    let b = of("192.168.20.0/24");
    assert_eq!(b.as_path, [65010, 65010, 65010], "two prepends + the ASN");
    assert_eq!(b.communities, [Community::AWS_HIGH]);
    assert_eq!(vgw.received.len(), 2, "nothing else: {vgw:#?}");
    let office = r
        .speakers
        .iter()
        .find(|s| s.name == "vifgate-office")
        .expect("office speaker");
    let vpc = office
        .received
        .iter()
        .find(|x| x.prefix.to_string() == "10.0.0.0/16")
        .unwrap_or_else(|| panic!("the VPC not received by the office: {office:#?}"));
    assert_eq!(
        (vpc.local_pref, vpc.best, vpc.as_path.as_slice()),
        (250, true, [64512].as_slice())
    );
    assert_eq!(vpc.next_hop, Ipv4Addr::new(169, 254, 100, 2));
    assert_eq!(office.advertised.len(), 2, "{office:#?}");
    let table = lab.exec(
        "office",
        &["ip", "route", "show", "table", &KERNEL_TABLE.to_string()],
    );
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(
        table.contains("10.0.0.0/16 ") && table.contains("via 169.254.100.2"),
        "kernel table {KERNEL_TABLE}: {table}"
    );
}

/// FRR playing the office in namespace `office`, its MD5 password
/// `password`; its run directory (named as in a lab's state directory) and
/// configuration.
fn start_frr(
    lab: &mut Lab,
    t: &Topology,
    password: &str,
) -> (std::path::PathBuf, render::frr::FrrConfig) {
    let node = t.vifs[0].customer_router;
    let opts = FrrOptions {
        kernel_table: KERNEL_TABLE,
    };
    let mut cfg = render::frr::config(t, node, &sim::bgp::sessions::sessions(t), &opts);
    // the key after the configuration, as `sim up` gives it (FrrSpec::with_keys)
    let vif = &t.vifs[0];
    cfg.bgpd.push_str(&render::frr::password_block(
        vif.customer_asn,
        &[(vif.amazon_address.addr(), password.into())],
    ));
    // private, as a lab's state directory is: the run directory must still
    // be reachable by the `frr` user
    std::fs::set_permissions(&lab.dir, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let run = lab.dir.join("frr-office");
    sim::apply::daemons::write_run_dir(&run, &cfg).expect("FRR run dir");
    for d in render::frr::daemon_commands(&run, &cfg) {
        let argv: Vec<&str> = d.argv.iter().map(String::as_str).collect();
        lab.spawn(d.name, "office", &argv, &[]);
        if d.name == "zebra" {
            let zserv = render::frr::zserv_socket(&run);
            assert!(
                lab.wait_for(Duration::from_secs(5), || zserv.exists()),
                "zebra did not start: {}",
                lab.log("zebra")
            );
        }
    }
    (run, cfg)
}

#[test]
fn frr_office_against_bird_aws() {
    if !ready("frr_office_against_bird_aws") {
        return;
    }
    let t = topology();
    let mut lab = Lab::with_tag("vbf");
    let aws = aws_side(&mut lab, &t);
    let (run, cfg) = start_frr(&mut lab, &t, MD5);
    let log =
        || std::fs::read_to_string(run.join("bgpd.log")).unwrap_or_default() + &lab.log("bgpd");
    let took = wait_established(&lab, &aws, &log());
    println!(
        "BIRD (AWS) <-> FRR (office): dx_0 Established {:.2} s after bgpd started",
        took.as_secs_f64()
    );
    // BFD attached now that the session is up (see sim::render::frr)
    let up = sim::apply::daemons::arm_bfd_once_established(&run, &cfg, Duration::from_secs(5))
        .expect("arm BFD");
    assert!(up, "FRR's side of the session is Established too");
    let (_, o) = read_both(
        &lab,
        &|| bird::read(&aws).expect("read AWS's BIRD"),
        &|| frr::read(&run).expect("read FRR"),
    );
    let frr_peer = o
        .peers
        .iter()
        .find(|p| p.name == "dx.dx-vif")
        .expect("FRR dx.dx-vif");
    assert!(frr_peer.established, "{frr_peer:?}");
    let live = lab_report(&lab, &t);
    check_report(&live, &lab);
    // what `sim test` does with it: a prediction that differs is reported
    let mut predicted = live.clone();
    for r in &mut predicted.speakers[1].received {
        r.local_pref = 100;
    }
    let diff = sim::bgp::live::lab::compare_dir(&lab.dir, &t, &predicted).expect("compare");
    assert!(
        diff.len() == 2 && diff.iter().all(|l| l.contains("local-pref")),
        "{diff:?}"
    );
    assert!(sim::bgp::live::lab::compare_dir(&lab.dir, &t, &live)
        .expect("compare")
        .is_empty());
}

#[test]
fn bird_office_against_bird_aws() {
    if !ready("bird_office_against_bird_aws") {
        return;
    }
    let t = topology();
    let mut lab = Lab::with_tag("vbb");
    let aws = aws_side(&mut lab, &t);
    let office = start_bird(&mut lab, "bird-office", "office", &office_bird_config(&t));
    let took = wait_established(&lab, &aws, &lab.log("bird-office"));
    println!(
        "BIRD (AWS) <-> BIRD (office): dx_0 Established {:.2} s after the office started",
        took.as_secs_f64()
    );
    read_both(
        &lab,
        &|| bird::read(&aws).expect("read AWS's BIRD"),
        &|| bird::read(&office).expect("read the office's BIRD"),
    );
    check_report(&lab_report(&lab, &t), &lab);
}

#[test]
fn a_wrong_md5_key_keeps_the_session_down() {
    if !ready("a_wrong_md5_key_keeps_the_session_down") {
        return;
    }
    let t = topology();
    let mut lab = Lab::with_tag("vbm");
    let aws = aws_side(&mut lab, &t);
    let (run, _) = start_frr(&mut lab, &t, "not-the-key");
    // FRR connects within about a second when the keys match (above)
    let up = lab.wait_for(Duration::from_secs(4), || dx_0_established(&aws));
    assert!(!up, "the session came up with different MD5 keys");
    let frr = frr::read(&run).expect("read FRR");
    let p = frr
        .peers
        .iter()
        .find(|p| p.name == "dx.dx-vif")
        .expect("FRR dx.dx-vif");
    assert!(!p.established && p.reason.is_some(), "{p:?}");
}

/// Runs `vifgate ARGS` in `dir`, the key of the example's VIF in its
/// environment.
fn vifgate_in(dir: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(common::vifgate())
        .args(args)
        .current_dir(dir)
        .env("DX_BGP_MD5", MD5)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("vifgate {args:?}: {e}"))
}

/// Removes the lab when the test ends, also when it fails.
struct LabDown(String);

impl Drop for LabDown {
    fn drop(&mut self) {
        let _ = vifgate_in(Path::new("/"), &["sim", "down", &self.0]);
    }
}

#[test]
fn sim_bgp_reads_a_running_lab_from_anywhere() {
    if !can_run("sim_bgp_reads_a_running_lab_from_anywhere")
        || !need_tool("nft")
        || !need_tool("birdc")
    {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lab = format!("lb{}", std::process::id());
    let up = vifgate_in(
        root,
        &["sim", "up", "examples/yeohaengjigi.toml", "--lab", &lab],
    );
    let _down = LabDown(lab.clone());
    assert!(up.status.success(), "{}", common::text(&up));
    // from another directory than the one the (relative) file was named in
    let o = vifgate_in(Path::new("/"), &["sim", "bgp", &lab, "--json"]);
    assert!(o.status.success(), "{}", common::text(&o));
    let r: BgpReport = serde_json::from_slice(&o.stdout).expect("a BGP report");
    // the example runs BGP on its VIF and on its VPN
    let names: Vec<&str> = r.sessions.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["dx-vif", "vpn-backup"], "{r:#?}");
    for s in &r.sessions {
        assert_eq!(s.state, SessionState::Established, "{r:#?}");
    }
    let human = vifgate_in(Path::new("/"), &["sim", "bgp", &lab]);
    assert!(human.status.success(), "{}", common::text(&human));
    assert!(String::from_utf8_lossy(&human.stdout).starts_with("sessions:\n"));
}
