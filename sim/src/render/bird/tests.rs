//! The generated configurations, for the example and a BGP variant of it;
//! each one parsed by BIRD itself (`bird -p`) where it is installed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use topology::bgp::{AdvertisedPrefix, Bfd, Community};
use topology::model::Topology;

use super::*;
use crate::example;
use crate::plan::bird::{plan, BirdPlan, BirdSpec};

/// The example with BFD 300 ms x 3 on the VIF, communities and a prepend
/// on its prefixes, and the VPN switched to BGP.
pub(crate) fn bgp_example() -> Topology {
    let mut t = example();
    t.vifs[0].bgp.bfd = Some(Bfd {
        interval: Duration::from_millis(300),
        multiplier: 3,
    });
    t.vifs[0].advertised[1] = AdvertisedPrefix {
        prefix: t.vifs[0].advertised[1].prefix,
        communities: vec![Community::AWS_HIGH],
        prepend: 2,
    };
    let vpn = t.vpn.as_mut().expect("the example has a VPN");
    vpn.bgp = true;
    vpn.customer_asn = Some(65010);
    vpn.bgp_settings.local_preference = Some(50);
    t
}

fn plan_of(t: &Topology, dir: &Path) -> BirdPlan {
    let p = crate::plan::plan(t, "yh", &[22]).expect("plan");
    let node_ns: Vec<String> = t
        .nodes
        .iter()
        .map(|n| p.node_ns(&n.name).expect("ns").to_string())
        .collect();
    let tunnels = Tunnels::named(t);
    plan(
        t,
        "yh",
        dir,
        &node_ns,
        &tunnels,
        &crate::bgp::sessions::sessions(t),
    )
}

fn daemon<'p>(p: &'p BirdPlan, name: &str) -> &'p BirdSpec {
    p.daemons
        .iter()
        .find(|d| d.name == name)
        .unwrap_or_else(|| panic!("a BIRD named {name}: {p:?}"))
}

/// Parses each configuration with `bird -p` (key files written first);
/// skipped where BIRD is not installed, failing under CI.
fn bird_parses(p: &BirdPlan, dir: &Path) {
    if !crate::ops::lab::need_tool("bird") {
        return;
    }
    std::fs::create_dir_all(dir).expect("dir");
    for m in &p.md5 {
        crate::apply::md5::write_key_file(&m.key_file, "k3y-md5").expect("key file");
    }
    for d in &p.daemons {
        let path = dir.join(format!("{}.conf", d.name));
        std::fs::write(&path, &d.config).expect("write");
        let out = Command::new("bird")
            .arg("-p")
            .arg("-c")
            .arg(&path)
            .output()
            .expect("bird runs");
        assert!(
            out.status.success(),
            "{}: {}\n{}",
            d.name,
            String::from_utf8_lossy(&out.stderr),
            d.config
        );
    }
}

fn scratch(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("vifgate-bird-{name}-{}", std::process::id()))
}

#[test]
fn the_example_runs_three_birds_with_aws_rules() {
    let dir = scratch("example");
    let t = crate::example_static_vpn();
    let p = plan_of(&t, &dir);
    let names: Vec<&str> = p.daemons.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["vgw", "vpc", "vifgate-office"]);
    let vgw = daemon(&p, "vgw");
    assert_eq!(vgw.ns, "yh+vgw");
    let c = &vgw.config;
    assert!(c.contains("router id 169.254.255.2;"), "{c}");
    assert!(c.contains("protocol bgp 'dx.dx-vif' {\n    local 169.254.100.2 as 64512;\n    neighbor 169.254.100.1 as 65010;\n    direct;"), "{c}");
    assert!(c.contains("hold time 90;\n    keepalive time 30;"), "{c}");
    assert!(c.contains("preference 200;"));
    assert!(c.contains("import limit 100 action disable;"));
    assert!(c.contains(&format!(
        "include \"{}\";",
        dir.join("md5-dx-vif.conf").display()
    )));
    assert!(!c.contains("bfd"), "no BFD unless the VIF asks: {c}");
    // the static VPN: static routes into its tunnel at preference 150
    let tunnels = Tunnels::named(&t);
    let (vif_tun, vpn_tun) = (&tunnels.vif_tun[0], tunnels.vpn_tun.as_ref().expect("VPN"));
    assert!(c.contains(&format!("protocol static 'vpn.vpn-backup' {{\n    ipv4 {{ preference 150; }};\n    route 192.168.10.0/24 via \"{vpn_tun}\";")), "{c}");
    // each source out of its own tunnel
    assert!(c.contains(&format!(
        "if proto = \"dx.dx-vif\" then {{ ifname = \"{vif_tun}\"; accept; }}"
    )));
    assert!(c.contains(&format!(
        "if proto = \"vpn.vpn-backup\" then {{ ifname = \"{vpn_tun}\"; accept; }}"
    )));
    // communities to local preference
    assert!(c.contains("if (7224,7300) ~ bgp_community then bgp_local_pref = 300;"));
    assert!(c.contains("else bgp_local_pref = 200;"));
    // the VPC's CIDR advertised
    assert!(c.contains("route 10.0.0.0/16 via 169.254.255.1;"));
    assert_eq!(vgw.established, ["dx.dx-vif", vgw::VPC_PROTOCOL]);
    // the office: its prefixes, the session, kernel table 100
    let office = daemon(&p, "vifgate-office");
    assert_eq!(office.ns, "yh.vifgate-office");
    let c = &office.config;
    assert!(c.contains("protocol bgp 'dx.dx-vif' {\n    local 169.254.100.1 as 65010;\n    neighbor 169.254.100.2 as 64512;"), "{c}");
    assert!(c.contains("route 192.168.10.0/24 unreachable;"));
    // the example's local_preference = 200 on its VIF
    assert!(c.contains("import filter { bgp_local_pref = 200; accept; }"));
    assert!(c.contains("kernel table 100;"));
    assert_eq!(office.established, ["dx.dx-vif"]);
    // both ends read one key file
    assert_eq!(p.md5.len(), 1);
    assert_eq!(p.md5[0].location.as_deref(), Some("env:DX_BGP_MD5"));
    // the VPC: one kernel protocol per propagating table, above static
    let vpc = daemon(&p, "vpc");
    let tables = vpc::propagating_tables(&t);
    assert!(!tables.is_empty());
    for (i, _) in &tables {
        assert!(
            vpc.config
                .contains(&format!("kernel table {i};\n    metric 100;")),
            "{}",
            vpc.config
        );
    }
    assert_eq!(vpc.config.matches("protocol kernel").count(), tables.len());
    bird_parses(&p, &dir);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bfd_communities_prepends_and_a_bgp_vpn() {
    let dir = scratch("variant");
    let t = bgp_example();
    let p = plan_of(&t, &dir);
    let vgw = daemon(&p, "vgw");
    let c = &vgw.config;
    assert!(c.contains("protocol bfd vifgate_bfd {\n    interface \"*\" { min rx interval 300 ms; min tx interval 300 ms;"), "{c}");
    assert!(c.contains("    bfd on;\n"));
    // the VPN session: AWS's VPN timers, preference 100, no BFD
    let vpn = c
        .split("protocol bgp 'vpn.vpn-backup'")
        .nth(1)
        .expect("VPN session");
    let vpn = vpn.split("\n}\n").next().expect("block");
    assert!(
        vpn.contains("local 169.254.10.1 as 64512;\n    neighbor 169.254.10.2 as 65010;"),
        "{vpn}"
    );
    assert!(vpn.contains("hold time 30;\n    keepalive time 10;"));
    assert!(vpn.contains("preference 100;"));
    assert!(!vpn.contains("bfd"));
    assert!(!c.contains("protocol static 'vpn.vpn-backup'"));
    assert_eq!(
        vgw.established,
        ["dx.dx-vif", "vpn.vpn-backup", vgw::VPC_PROTOCOL]
    );
    let office = daemon(&p, "vifgate-office");
    let c = &office.config;
    let link = &Tunnels::named(&t).vif_link[0];
    assert!(
        c.contains(&format!(
            "interface \"{link}\", \"{link}.*\" {{ min rx interval 300 ms;"
        )),
        "{c}"
    );
    assert!(c.contains("if net = 192.168.20.0/24 then { bgp_community.add((7224,7300)); bgp_path.prepend(65010); bgp_path.prepend(65010); }"), "{c}");
    assert!(c.contains("import filter { bgp_local_pref = 50; accept; }"));
    assert_eq!(office.established, ["dx.dx-vif", "vpn.vpn-backup"]);
    assert_eq!(p.md5.len(), 2);
    bird_parses(&p, &dir);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn no_vgw_no_bird_and_frr_nodes_are_left_to_frr() {
    let mut t = example();
    t.vifs.clear();
    t.vpn = None;
    assert!(plan_of(&t, &scratch("none")).daemons.is_empty());
    let mut t = example();
    let office = t.vifs[0].customer_router;
    t.sim
        .bgp_daemons
        .insert(office, topology::bgp::BgpDaemon::Frr);
    let p = plan_of(&t, &scratch("frr"));
    assert!(p.daemons.iter().all(|d| d.name != "vifgate-office"));
    // the VGW still has the sessions, and waits for them: FRR (planned
    // by crate::plan::frr) is at their other end
    let vgw = daemon(&p, "vgw");
    assert!(vgw.config.contains("protocol bgp 'dx.dx-vif'"));
    assert_eq!(
        vgw.established,
        ["dx.dx-vif", "vpn.vpn-backup", vgw::VPC_PROTOCOL]
    );
}

#[test]
fn sessions_wrap_the_topologys_with_their_tunnels_and_key_files() {
    let t = bgp_example();
    let dir = Path::new("/state");
    let tunnels = Tunnels {
        vif_link: vec!["dxlink".into()],
        vif_tun: vec!["vgvif".into()],
        vpn_tun: Some("vgvpn".into()),
    };
    let specs = crate::bgp::sessions::sessions(&t);
    let s = sessions(&specs, &tunnels, dir);
    assert_eq!(s.len(), 2);
    for (x, spec) in s.iter().zip(&specs) {
        assert_eq!((x.spec.role, &x.spec.name), (spec.role, &spec.name));
    }
    assert_eq!(
        (s[0].office_ifname.as_str(), s[0].vgw_tun.as_str()),
        ("dxlink", "vgvif")
    );
    assert_eq!(
        (s[1].office_ifname.as_str(), s[1].vgw_tun.as_str()),
        (crate::layout::VPN_LINK, "vgvpn")
    );
    assert_eq!(s[1].key_file, dir.join("md5-vpn-backup.conf"));
    assert_eq!((s[0].aws_timers(), s[1].aws_timers()), ((90, 30), (30, 10)));
    assert!(s[0].bfd().is_some() && s[1].bfd().is_none());
    // no tunnel, no session; a static VPN is no session either
    let no_vpn = Tunnels {
        vpn_tun: None,
        ..tunnels.clone()
    };
    assert_eq!(sessions(&specs, &no_vpn, dir).len(), 1);
    let static_vpn = crate::bgp::sessions::sessions(&crate::example_static_vpn());
    assert_eq!(sessions(&static_vpn, &tunnels, dir).len(), 1);
}
