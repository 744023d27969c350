//! The netlink layer's tests: error texts, and every request carried out
//! in namespaces made for the test (root needed).

use super::*;
use crate::ops::lab::{root_or_skip, TestNet};
use std::process::Command;
use std::time::Duration;

#[test]
fn errors_read_like_ip() {
    let e = NetlinkError::Kernel {
        what: "add address 10.0.0.1/24 to s3".into(),
        ns: "vx-vpc".into(),
        errno: libc::EEXIST,
    };
    assert_eq!(
        e.to_string(),
        "add address 10.0.0.1/24 to s3 in ns vx-vpc: File exists"
    );
    assert_eq!(io::Error::from(e).kind(), io::ErrorKind::AlreadyExists);
    let r = Route {
        dst: "10.1.0.0/16".parse().unwrap(),
        via: Some(Ipv4Addr::new(10, 0, 0, 2)),
        dev: Some("s3".into()),
        table: 100,
        metric: 5,
        kind: RouteKind::Unicast,
    };
    assert_eq!(
        r.to_string(),
        "10.1.0.0/16 via 10.0.0.2 dev s3 table 100 metric 5"
    );
}

// ---- in namespaces: root needed --------------------------------------

fn root() -> bool {
    root_or_skip("the netlink namespace tests")
}

/// `count` empty namespaces `0`, `1`, ... made for one test, deleted when
/// it ends, even on panic.
fn lab(count: usize) -> TestNet {
    let mut net = TestNet::with_tag("vsnl");
    for i in 0..count {
        net.add_bare_ns(&i.to_string());
    }
    net
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Runs a command inside `ns`; its stdout, or a panic with its stderr.
fn run_in(ns: &Netns, program: &str, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(program);
    cmd.args(args);
    ns.command(&mut cmd).expect("set namespace");
    cmd.output().expect("spawn")
}

fn stdout_in(ns: &Netns, program: &str, args: &[&str]) -> String {
    let out = run_in(ns, program, args);
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The test links all start with `nlt`: none may show up in the
/// namespace the tests run in (the root one).
fn assert_root_untouched() {
    let ours: Vec<String> = std::fs::read_dir("/sys/class/net")
        .expect("/sys/class/net")
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.starts_with("nlt") || n.starts_with("vgprobe"))
        .collect();
    assert!(
        ours.is_empty(),
        "links leaked into the root namespace: {ours:?}"
    );
}

#[test]
fn veth_addresses_and_ping() {
    if !root() {
        return;
    }
    let lab = lab(2);
    let (a, b) = (lab.open("0"), lab.open("1"));
    runtime().block_on(async {
        let na = Netlink::open(&a).expect("open a");
        let nb = Netlink::open(&b).expect("open b");
        na.veth("nlta", "nltb", &b).await.expect("veth");
        assert_eq!(na.link_names().await.unwrap(), ["lo", "nlta"]);
        assert_eq!(nb.link_names().await.unwrap(), ["lo", "nltb"]);
        na.add_address("nlta", "10.213.0.1/30".parse().unwrap())
            .await
            .unwrap();
        nb.add_address("nltb", "10.213.0.2/30".parse().unwrap())
            .await
            .unwrap();
        for (nl, link) in [(&na, "nlta"), (&nb, "nltb")] {
            nl.set_up("lo").await.unwrap();
            nl.set_mtu(link, 1400).await.unwrap();
            nl.set_up(link).await.unwrap();
        }
        // a second identical address: the kernel's EEXIST, with context
        let e = na
            .add_address("nlta", "10.213.0.1/30".parse().unwrap())
            .await
            .unwrap_err();
        assert_eq!(e.errno(), Some(libc::EEXIST));
        assert_eq!(
            e.to_string(),
            format!(
                "add address 10.213.0.1/30 to nlta in ns {}: File exists",
                lab.ns("0")
            )
        );
        let e = na.set_up("nltnope").await.unwrap_err();
        assert_eq!(e.errno(), Some(libc::ENODEV), "{e}");
    });
    let shown = stdout_in(&a, "ip", &["-o", "link", "show", "nlta"]);
    assert!(
        shown.contains("mtu 1400") && shown.contains(",UP"),
        "{shown}"
    );
    let ping = run_in(&a, "ping", &["-c", "1", "-W", "5", "10.213.0.2"]);
    assert!(
        ping.status.success(),
        "ping: {}{}",
        String::from_utf8_lossy(&ping.stdout),
        String::from_utf8_lossy(&ping.stderr)
    );
    assert_root_untouched();
}

#[test]
fn stable_macs_are_unicast_local_and_per_link() {
    let m = stable_mac("lab.web-a1", "eth0");
    assert_eq!(m, stable_mac("lab.web-a1", "eth0"));
    assert_eq!(m[0] & 0x03, 0x02, "{m:x?}: locally administered unicast");
    assert_ne!(m, stable_mac("lab.web-a2", "eth0"));
    assert_ne!(m, stable_mac("lab.web-a1", "eth1"));
    assert_ne!(stable_mac("ab", "c"), stable_mac("a", "bc"));
}

/// A link made again (an instance launched again in a new namespace,
/// its address the same) is reached at once by a neighbour that knew the
/// address: a new random MAC left the neighbour's entry of the old one
/// `REACHABLE`, and the new link unreachable for up to 30 s.
#[test]
fn a_link_made_again_is_reached_at_once() {
    if !root() {
        return;
    }
    let lab = lab(3);
    let (hub, host, other) = (lab.open("0"), lab.open("1"), lab.open("2"));
    let make = || {
        runtime().block_on(async {
            let n = Netlink::open(&hub).expect("open");
            n.veth("nltr1", "nlti1", &host).await.expect("veth");
            n.set_master("nltr1", "nltrbr").await.expect("enslave");
            n.set_up("nltr1").await.unwrap();
            let h = Netlink::open(&host).expect("open host");
            h.add_address("nlti1", "10.215.0.2/24".parse().unwrap())
                .await
                .unwrap();
            h.set_up("nlti1").await.unwrap();
        })
    };
    runtime().block_on(async {
        let n = Netlink::open(&hub).expect("open");
        n.bridge("nltrbr").await.expect("bridge");
        n.add_address("nltrbr", "10.215.0.1/24".parse().unwrap())
            .await
            .unwrap();
        n.set_up("nltrbr").await.unwrap();
        // another port, which stays (as a subnet's other instances do):
        // the bridge keeps its carrier, and so its neighbours
        n.veth("nltr2", "nlti2", &other).await.expect("veth");
        n.set_master("nltr2", "nltrbr").await.expect("enslave");
        n.set_up("nltr2").await.unwrap();
        Netlink::open(&other)
            .expect("open other")
            .set_up("nlti2")
            .await
            .unwrap();
    });
    // the bridge's address its own: one taken from the port that goes
    // would change, and the kernel flush the bridge's neighbours with it
    stdout_in(
        &hub,
        "ip",
        &["link", "set", "nltrbr", "address", "02:00:00:00:02:15"],
    );
    let ping = || run_in(&hub, "ping", &["-c", "1", "-W", "1", "10.215.0.2"]);
    make();
    assert!(ping().status.success(), "the first link answers");
    runtime().block_on(async {
        let n = Netlink::open(&hub).expect("open");
        n.del_link("nltr1").await.expect("delete");
    });
    make();
    let again = ping();
    assert!(
        again.status.success(),
        "the link made again is not reached: {}",
        stdout_in(&hub, "ip", &["neigh", "show", "10.215.0.2"])
    );
    assert_root_untouched();
}

#[test]
fn bridge_with_two_ports() {
    if !root() {
        return;
    }
    let lab = lab(3);
    let (hub, h1, h2) = (lab.open("0"), lab.open("1"), lab.open("2"));
    runtime().block_on(async {
        let n = Netlink::open(&hub).expect("open");
        n.bridge("nltbr").await.expect("bridge");
        n.veth("nltp1", "nlth1", &h1).await.expect("veth 1");
        n.veth("nltp2", "nlth2", &h2).await.expect("veth 2");
        for l in ["nltp1", "nltp2"] {
            n.set_master(l, "nltbr").await.expect("enslave");
            n.set_up(l).await.unwrap();
        }
        n.set_up("nltbr").await.unwrap();
        for (ns, link, addr) in [
            (&h1, "nlth1", "10.214.0.1/24"),
            (&h2, "nlth2", "10.214.0.2/24"),
        ] {
            let h = Netlink::open(ns).expect("open host");
            h.add_address(link, addr.parse().unwrap()).await.unwrap();
            h.set_up(link).await.unwrap();
        }
        let e = n.set_master("nltp1", "nltnobr").await.unwrap_err();
        assert_eq!(e.errno(), Some(libc::ENODEV));
    });
    for port in ["nltp1", "nltp2"] {
        let shown = stdout_in(&hub, "ip", &["-o", "link", "show", port]);
        assert!(shown.contains("master nltbr"), "{shown}");
    }
    let ping = run_in(&h1, "ping", &["-c", "1", "-W", "5", "10.214.0.2"]);
    assert!(
        ping.status.success(),
        "{}",
        String::from_utf8_lossy(&ping.stdout)
    );
    assert_root_untouched();
}

#[test]
fn a_port_an_address_and_a_rule_removed_as_ip_removes_them() {
    if !root() {
        return;
    }
    let lab = lab(2);
    let (hub, h1) = (lab.open("0"), lab.open("1"));
    runtime().block_on(async {
        let n = Netlink::open(&hub).expect("open");
        n.bridge("nltbr").await.expect("bridge");
        n.veth("nltp1", "nlth1", &h1).await.expect("veth");
        n.set_master("nltp1", "nltbr").await.expect("enslave");
        n.add_address("nltp1", "10.215.0.1/24".parse().unwrap())
            .await
            .unwrap();
        let rule = Rule {
            iif: Some("nltp1".into()),
            table: 1001,
            priority: 100,
        };
        n.add_rule(&rule).await.unwrap();
        n.set_nomaster("nltp1").await.expect("release");
        n.del_address("nltp1", "10.215.0.1/24".parse().unwrap())
            .await
            .expect("delete address");
        // whatever table it looks up
        n.del_rule("nltp1", 100).await.expect("delete rule");
        let e = n
            .del_address("nltp1", "10.215.0.1/24".parse().unwrap())
            .await
            .unwrap_err();
        assert_eq!(e.errno(), Some(libc::EADDRNOTAVAIL), "{e}");
        let e = n.del_rule("nltp1", 100).await.unwrap_err();
        assert_eq!(e.errno(), Some(libc::ENOENT), "{e}");
    });
    let shown = stdout_in(&hub, "ip", &["-o", "link", "show", "nltp1"]);
    assert!(!shown.contains("master"), "{shown}");
    let addrs = stdout_in(&hub, "ip", &["-o", "-4", "addr", "show", "nltp1"]);
    assert!(addrs.trim().is_empty(), "{addrs}");
    let rules = stdout_in(&hub, "ip", &["-4", "rule", "show"]);
    assert!(!rules.contains("nltp1"), "{rules}");
    assert_root_untouched();
}

#[test]
fn the_bgp_routes_through_a_link_are_read_from_every_table() {
    if !root() {
        return;
    }
    let lab = lab(2);
    let (a, b) = (lab.open("0"), lab.open("1"));
    runtime().block_on(async {
        let n = Netlink::open(&a).expect("open");
        n.veth("nltg", "nltg1", &b).await.expect("veth");
        n.veth("nlto", "nlto1", &b).await.expect("veth");
        n.set_up("nltg").await.expect("up");
        n.set_up("nlto").await.expect("up");
        for (dst, proto, dev, table) in [
            ("10.71.0.0/16", "bird", "nltg", "main"),
            ("10.72.0.0/24", "bgp", "nltg", "1001"),
            ("10.73.0.0/16", "static", "nltg", "main"),
            ("10.74.0.0/16", "bird", "nlto", "main"),
        ] {
            let args = [
                "route", "add", dst, "dev", dev, "proto", proto, "table", table,
            ];
            stdout_in(&a, "ip", &args);
        }
        let mut got = n.bgp_routes_through("nltg").await.expect("listed");
        got.sort();
        let want: Vec<Ipv4Net> = vec![
            "10.71.0.0/16".parse().unwrap(),
            "10.72.0.0/24".parse().unwrap(),
        ];
        assert_eq!(got, want);
        let e = n.bgp_routes_through("nltnone").await.unwrap_err();
        assert_eq!(e.errno(), Some(libc::ENODEV), "{e}");
    });
    assert_root_untouched();
}

#[test]
fn routes_rules_and_blackholes() {
    if !root() {
        return;
    }
    let lab = lab(2);
    let (a, b) = (lab.open("0"), lab.open("1"));
    let table_route = Route {
        dst: "10.99.0.0/16".parse().unwrap(),
        via: Some(Ipv4Addr::new(10, 215, 0, 2)),
        dev: None,
        table: 100,
        metric: 10,
        kind: RouteKind::Unicast,
    };
    let dev_route = Route {
        dst: "10.98.0.0/16".parse().unwrap(),
        via: None,
        dev: Some("nlta".into()),
        table: 1000,
        metric: 0,
        kind: RouteKind::Unicast,
    };
    let blackhole = Route {
        dst: "10.97.0.0/16".parse().unwrap(),
        via: None,
        dev: None,
        table: MAIN_TABLE,
        metric: 0,
        kind: RouteKind::Blackhole,
    };
    let unreachable = Route {
        dst: "10.96.0.0/16".parse().unwrap(),
        kind: RouteKind::Unreachable,
        ..blackhole.clone()
    };
    runtime().block_on(async {
        let n = Netlink::open(&a).expect("open");
        n.veth("nlta", "nltb", &b).await.expect("veth");
        n.add_address("nlta", "10.215.0.1/30".parse().unwrap())
            .await
            .unwrap();
        n.set_up("nlta").await.unwrap();
        n.add_route(&table_route).await.expect("route via");
        n.add_route(&dev_route).await.expect("route dev");
        n.add_route(&blackhole).await.expect("blackhole");
        n.add_route(&unreachable).await.expect("unreachable");
        let e = n.add_route(&blackhole).await.unwrap_err();
        assert_eq!(e.errno(), Some(libc::EEXIST), "{e}");
        n.add_rule(&Rule {
            iif: Some("nlta".into()),
            table: 100,
            priority: 1000,
        })
        .await
        .expect("rule");
        n.add_rule(&Rule {
            iif: None,
            table: 1000,
            priority: 1001,
        })
        .await
        .expect("rule");
        let bad = Route {
            via: None,
            dev: None,
            ..table_route.clone()
        };
        assert!(matches!(
            n.add_route(&bad).await,
            Err(NetlinkError::Invalid { .. })
        ));
    });
    let t100 = stdout_in(&a, "ip", &["route", "show", "table", "100"]);
    assert!(
        t100.contains("10.99.0.0/16 via 10.215.0.2 dev nlta"),
        "{t100}"
    );
    assert!(t100.contains("metric 10"), "{t100}");
    let t1000 = stdout_in(&a, "ip", &["route", "show", "table", "1000"]);
    assert!(
        t1000.contains("10.98.0.0/16 dev nlta") && t1000.contains("scope link"),
        "{t1000}"
    );
    let main = stdout_in(&a, "ip", &["route", "show"]);
    assert!(main.contains("blackhole 10.97.0.0/16"), "{main}");
    assert!(main.contains("unreachable 10.96.0.0/16"), "{main}");
    let rules = stdout_in(&a, "ip", &["rule", "show"]);
    assert!(
        rules.contains("1000:\tfrom all iif nlta lookup 100"),
        "{rules}"
    );
    assert!(rules.contains("1001:\tfrom all lookup 1000"), "{rules}");

    runtime().block_on(async {
        let n = Netlink::open(&a).expect("open");
        n.del_route(&table_route).await.expect("delete route");
        n.del_route(&blackhole).await.expect("delete blackhole");
        let e = n.del_route(&blackhole).await.unwrap_err();
        assert_eq!(e.errno(), Some(libc::ESRCH), "{e}");
    });
    let t100 = stdout_in(&a, "ip", &["route", "show", "table", "100"]);
    assert!(!t100.contains("10.99.0.0/16"), "{t100}");
    assert!(!stdout_in(&a, "ip", &["route", "show"]).contains("10.97.0.0"));
    assert_root_untouched();
}

#[test]
fn sysctl_is_per_namespace() {
    if !root() {
        return;
    }
    let lab = lab(1);
    let ns = lab.open("0");
    let key = "net/ipv4/ip_forward";
    let host = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    assert_eq!(
        read_sysctl(&ns, key).unwrap(),
        "0",
        "a new namespace forwards nothing"
    );
    sysctl(&ns, key, "1").expect("write");
    assert_eq!(read_sysctl(&ns, key).unwrap(), "1");
    sysctl(&ns, "net.ipv4.conf.all.rp_filter", "2").expect("dotted key");
    assert_eq!(
        read_sysctl(&ns, "net/ipv4/conf/all/rp_filter").unwrap(),
        "2"
    );
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap(),
        host,
        "the host's value must not change"
    );
    let e = sysctl(&ns, "net/ipv4/no_such_knob", "1").unwrap_err();
    assert!(e.to_string().contains(&lab.ns("0")), "{e}");
    assert_eq!(
        sysctl(&ns, "kernel/hostname", "x").unwrap_err().kind(),
        io::ErrorKind::InvalidInput
    );
}

#[test]
fn shape_with_tbf() {
    if !root() {
        return;
    }
    let lab = lab(3);
    let (a, b, scratch) = (lab.open("0"), lab.open("1"), lab.open("2"));
    let rt = runtime();
    let features = rt.block_on(detect_features(&scratch));
    assert!(features.tbf, "{features:?}");
    let n = rt.block_on(async {
        let n = Netlink::open(&a).expect("open");
        n.veth("nlta", "nltb", &b).await.expect("veth");
        n.set_up("nlta").await.unwrap();
        n
    });
    let show = || stdout_in(&a, "tc", &["qdisc", "show", "dev", "nlta"]);

    let rate = |bps| Shaping {
        rate_bps: Some(bps),
        ..Shaping::default()
    };
    let r = rt
        .block_on(n.shape("nlta", &rate(10_000_000), &features))
        .expect("shape");
    assert_eq!(r.rate, Mechanism::Tbf);
    assert!(r.complete());
    let q = show();
    assert!(
        q.contains("qdisc tbf 5ade: root") && q.contains("rate 10Mbit"),
        "{q}"
    );
    assert!(q.contains("burst 5000b"), "{q}");

    // again: replaced, not stacked
    rt.block_on(n.shape("nlta", &rate(20_000_000), &features))
        .expect("reshape");
    let q = show();
    assert!(
        q.contains("rate 20Mbit") && q.matches("tbf").count() == 1,
        "{q}"
    );

    // delay on a kernel without netem: reported, rate still applied
    let mixed = Shaping {
        rate_bps: Some(5_000_000),
        delay: Some(Duration::from_millis(10)),
        loss_percent: Some(1.0),
        ..Shaping::default()
    };
    let r = rt
        .block_on(n.shape("nlta", &mixed, &features))
        .expect("mixed");
    if features.netem {
        assert_eq!(r.delay, Mechanism::Netem);
        assert!(show().contains("netem"));
    } else {
        assert_eq!(
            r,
            ShapingReport {
                rate: Mechanism::Tbf,
                delay: Mechanism::Unsupported,
                jitter: Mechanism::NotRequested,
                loss: Mechanism::Unsupported,
            }
        );
        assert!(show().contains("rate 5Mbit"), "{}", show());
    }

    // nothing requested: cleared
    let r = rt
        .block_on(n.shape("nlta", &Shaping::default(), &features))
        .expect("clear");
    assert_eq!(r.rate, Mechanism::NotRequested);
    let q = show();
    assert!(!q.contains("tbf") && !q.contains("netem"), "{q}");
    let e = rt
        .block_on(n.shape("nltnope", &rate(1_000_000), &features))
        .unwrap_err();
    assert_eq!(e.errno(), Some(libc::ENODEV));
    drop(n);
    assert_root_untouched();
}

/// Whether iproute2 can do the same thing in a scratch namespace: the
/// independent answer detect_features is checked against.
fn iproute2_can(ns: &Netns, program: &str, args: &[&str]) -> bool {
    run_in(ns, program, args).status.success()
}

#[test]
fn detect_features_here() {
    if !root() {
        return;
    }
    let lab = lab(2);
    let scratch = lab.open("0");
    let f = runtime().block_on(detect_features(&scratch));
    eprintln!("kernel features: {f:?}");
    // what the simulator relies on
    assert!(f.tbf && f.htb && f.vxlan, "{f:?}");
    // nothing left behind in the scratch namespace
    let left = runtime()
        .block_on(async { Netlink::open(&scratch).unwrap().link_names().await })
        .unwrap();
    assert_eq!(left, ["lo"]);
    // the optional ones agree with iproute2
    let other = lab.open("1");
    assert!(iproute2_can(
        &other,
        "ip",
        &["link", "add", "nltv0", "type", "veth", "peer", "name", "nltv1"]
    ));
    let expect = KernelFeatures {
        netem: iproute2_can(
            &other,
            "tc",
            &[
                "qdisc", "add", "dev", "nltv0", "root", "netem", "delay", "1ms",
            ],
        ),
        tbf: true,
        htb: true,
        vlan: iproute2_can(
            &other,
            "ip",
            &[
                "link", "add", "nltvl", "link", "nltv0", "type", "vlan", "id", "7",
            ],
        ),
        dummy: iproute2_can(&other, "ip", &["link", "add", "nltdm", "type", "dummy"]),
        wireguard: iproute2_can(&other, "ip", &["link", "add", "nltwg", "type", "wireguard"]),
        vxlan: true,
    };
    assert_eq!(f, expect);
    // vlan() says clearly what is missing
    if !f.vlan {
        let e = runtime()
            .block_on(async {
                let n = Netlink::open(&other).unwrap();
                n.vlan("nltv0.7", "nltv0", 7).await
            })
            .unwrap_err();
        assert!(matches!(e, NetlinkError::Unsupported { .. }), "{e}");
        assert!(e.to_string().contains("802.1Q"), "{e}");
        eprintln!("{e}");
    }
    assert_root_untouched();
}
