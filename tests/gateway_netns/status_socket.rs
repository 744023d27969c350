//! The status socket's path on the disk, with real gateways: a file of
//! another kind is refused and kept, another gateway's live socket is
//! refused and keeps answering, a stale one is replaced. And reloads:
//! settings only a restart applies are refused by name, a new private key
//! is put in force with a new handshake.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::common::{keypair, text, vifgate, Lab};
use super::{reload, start_gateway, status, topology, vifgate_pair};

/// A gateway with one peer and its status socket at `socket`.
fn lone_config(lab: &Lab, file: &str, tun: &str, port: u16, socket: &Path) -> PathBuf {
    let (key, _) = keypair(&lab.dir, file);
    let (_, peer) = keypair(&lab.dir, &format!("{file}-peer"));
    let text = format!(
        "[interface]\nname = \"{tun}\"\nlisten_port = {port}\nprivate_key_file = \"{}\"\n[[peer]]\nname = \"{file}-peer\"\npublic_key = \"{peer}\"\nallowed_ips = [\"10.9.0.0/16\"]\n[status]\nsocket = \"{}\"\n",
        key.display(),
        socket.display()
    );
    let path = lab.dir.join(format!("{file}.toml"));
    std::fs::write(&path, text).expect("config");
    path
}

/// The names of the peers of the gateway answering on `socket`.
fn peers_on(socket: &Path) -> Option<Vec<String>> {
    let o = std::process::Command::new(vifgate())
        .args(["status", "--json", "--socket"])
        .arg(socket)
        .output()
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).ok()?;
    Some(
        v["peers"]
            .as_array()?
            .iter()
            .filter_map(|p| p["name"].as_str().map(String::from))
            .collect(),
    )
}

fn run_gateway(lab: &Lab, ns: &str, config: &Path, check: bool) -> std::process::Output {
    let mut args = vec![
        vifgate(),
        "gateway",
        "--config",
        config.to_str().expect("utf-8"),
    ];
    if check {
        args.push("--check");
    }
    lab.exec(ns, &args)
}

#[test]
fn the_status_socket_refuses_files_and_live_sockets_and_replaces_stale_ones() {
    if !super::common::can_run(
        "the_status_socket_refuses_files_and_live_sockets_and_replaces_stale_ones",
    ) {
        return;
    }
    let mut lab = Lab::new();
    lab.add_ns("a");
    lab.add_ns("b");
    let shared = lab.dir.join("a.sock");
    let a = lone_config(&lab, "a", "vga", 51820, &shared);
    start_gateway(&mut lab, "a", "a", &a, "vga", "10.9.0.0/16");
    assert!(
        lab.wait_for(Duration::from_secs(5), || peers_on(&shared).is_some()),
        "{}",
        lab.log("a")
    );

    // a regular file, the key file of a typo: refused, kept
    let victim = lab.dir.join("victim.key");
    std::fs::write(&victim, "keep me\n").expect("victim");
    let b = lone_config(&lab, "b", "vgb", 51820, &victim);
    let check = run_gateway(&lab, "b", &b, true);
    assert_eq!(check.status.code(), Some(1), "{}", text(&check));
    let err = String::from_utf8_lossy(&check.stderr);
    assert!(
        err.contains(&format!(
            "b.toml:10:10: error: status socket {} is a regular file, not a socket: the gateway would refuse to replace it",
            victim.display()
        )),
        "{err}"
    );
    let start = run_gateway(&lab, "b", &b, false);
    assert_eq!(start.status.code(), Some(1), "{}", text(&start));
    assert_eq!(
        std::fs::read_to_string(&victim).expect("victim kept"),
        "keep me\n"
    );

    // the live socket of gateway a: --check notes it, a start is refused,
    // and a keeps answering
    let b = lone_config(&lab, "b", "vgb", 51820, &shared);
    let check = run_gateway(&lab, "b", &b, true);
    assert!(check.status.success(), "{}", text(&check));
    assert!(
        String::from_utf8_lossy(&check.stderr).contains(&format!(
            "note: a gateway answers on {} now: another start with this file is refused while it runs",
            shared.display()
        )),
        "{}",
        text(&check)
    );
    let start = run_gateway(&lab, "b", &b, false);
    assert_eq!(start.status.code(), Some(2), "{}", text(&start));
    assert!(
        String::from_utf8_lossy(&start.stderr).contains(&format!(
            "a process answers on {} (another gateway?): stop it first",
            shared.display()
        )),
        "{}",
        text(&start)
    );
    assert!(
        !lab.exec("b", &["ip", "link", "show", "vgb"])
            .status
            .success(),
        "no TUN device left behind"
    );
    assert_eq!(peers_on(&shared), Some(vec!["a-peer".to_string()]));

    // a killed a leaves a stale socket: b replaces it, and removes it at stop
    lab.kill("a");
    assert!(shared.exists(), "SIGKILL leaves the socket");
    assert_eq!(peers_on(&shared), None);
    start_gateway(&mut lab, "b", "b", &b, "vgb", "10.9.0.0/16");
    assert!(
        lab.wait_for(Duration::from_secs(5), || peers_on(&shared)
            == Some(vec!["b-peer".to_string()])),
        "{}",
        lab.log("b")
    );
    assert!(lab.log("b").contains("replacing a stale status socket"));
    lab.stop("b");
    assert!(!shared.exists(), "removed at stop");
}

#[test]
fn a_reload_refuses_restart_settings_by_name_and_rotates_the_private_key() {
    if !super::common::can_run(
        "a_reload_refuses_restart_settings_by_name_and_rotates_the_private_key",
    ) {
        return;
    }
    let mut lab = Lab::new();
    topology(&mut lab);
    let pair = vifgate_pair(&mut lab, "");
    assert!(lab.ping("lan1", "10.0.10.10", 2));
    let good = std::fs::read_to_string(&pair.gw1).expect("config");

    // a new port and interface name: refused, each named
    let moved = good
        .replace("listen_port = 51820", "listen_port = 51821")
        .replace("name = \"vg1\"", "name = \"vg9\"");
    std::fs::write(&pair.gw1, moved).expect("config");
    lab.signal("gw1", libc::SIGHUP);
    assert!(
        lab.wait_for(Duration::from_secs(5), || status(&lab, "gw1")["reload"]
            ["refused"]
            == 1),
        "{}",
        lab.log("gw1")
    );
    let why = status(&lab, "gw1")["reload"]["last_error"].clone();
    assert_eq!(
        why,
        "settings changed that only a restart applies: [interface] name (`vg1` -> `vg9`), [interface] listen_port (51820 -> 51821); the running configuration stays",
    );
    assert!(lab.ping("lan1", "10.0.10.10", 1), "the running one stays");

    // a new private key: the far end learns the new public key, then the
    // office reloads with the new key file
    let (k3, p3) = keypair(&lab.dir, "k3");
    let far = std::fs::read_to_string(&pair.gw2).expect("config");
    let office_public = far
        .lines()
        .find_map(|l| l.strip_prefix("public_key = \""))
        .and_then(|l| l.strip_suffix('"'))
        .expect("the office's public key")
        .to_string();
    std::fs::write(&pair.gw2, far.replace(&office_public, &p3)).expect("config");
    reload(&lab, "gw2", 1);
    let rotated = good.replace(
        &good
            .lines()
            .find(|l| l.starts_with("private_key_file"))
            .expect("key line")
            .to_string(),
        &format!("private_key_file = \"{}\"", k3.display()),
    );
    std::fs::write(&pair.gw1, rotated).expect("config");
    reload(&lab, "gw1", 1);
    assert!(
        lab.log("gw1").contains(&format!(
            "private key changed: every session restarts under it public_key={p3}"
        )),
        "{}",
        lab.log("gw1")
    );
    assert!(
        lab.ping("lan1", "10.0.10.10", 3),
        "the tunnel is back under the new key:\n{}\n{}",
        lab.log("gw1"),
        lab.log("gw2")
    );
}

#[test]
fn check_fails_where_a_start_would_fail_on_this_box() {
    if !super::common::can_run("check_fails_where_a_start_would_fail_on_this_box") {
        return;
    }
    let mut lab = Lab::new();
    lab.add_ns("c");
    lab.add_ns("d");
    let (veth, _) = lab.link("c", "172.31.0.1/30", "d", "172.31.0.2/30");
    // an interface of the gateway's name that is no TUN device
    let socket = lab.dir.join("c.sock");
    let c = lone_config(&lab, "c", &veth, 51820, &socket);
    let expected = format!(
        "an interface `{veth}` exists in this network namespace and is no TUN device: the gateway cannot make its device under that name"
    );
    let check = run_gateway(&lab, "c", &c, true);
    assert_eq!(check.status.code(), Some(1), "{}", text(&check));
    assert!(
        String::from_utf8_lossy(&check.stderr).contains(&format!("error: {expected}")),
        "{}",
        text(&check)
    );
    let start = run_gateway(&lab, "c", &c, false);
    assert_eq!(start.status.code(), Some(2), "{}", text(&start));
    assert!(
        String::from_utf8_lossy(&start.stderr).contains(&expected),
        "{}",
        text(&start)
    );
    assert!(!socket.exists(), "the refused start left no socket");
    // a metrics address no interface here has
    let text_of = std::fs::read_to_string(&c).expect("config");
    std::fs::write(
        &c,
        text_of.replace(&format!("\"{veth}\""), "\"vgc\"")
            + "[metrics]\nlisten = \"192.0.2.77:9586\"\n",
    )
    .expect("config");
    let check = run_gateway(&lab, "c", &c, true);
    assert_eq!(check.status.code(), Some(1), "{}", text(&check));
    assert!(
        String::from_utf8_lossy(&check.stderr).contains(
            "error: [metrics] listen 192.0.2.77:9586: no interface of this box has that address"
        ),
        "{}",
        text(&check)
    );
    let start = run_gateway(&lab, "c", &c, false);
    assert_eq!(start.status.code(), Some(2), "{}", text(&start));
    // a flow log in a directory that does not exist
    let missing = lab.dir.join("no-such-dir").join("flows.log");
    std::fs::write(
        &c,
        text_of.replace(&format!("\"{veth}\""), "\"vgc\"")
            + &format!("[flow_logs]\ndestination = \"{}\"\n", missing.display()),
    )
    .expect("config");
    let check = run_gateway(&lab, "c", &c, true);
    assert_eq!(check.status.code(), Some(1), "{}", text(&check));
    assert!(
        String::from_utf8_lossy(&check.stderr).contains(&format!(
            "error: flow log destination {}: its directory {} does not exist",
            missing.display(),
            lab.dir.join("no-such-dir").display()
        )),
        "{}",
        text(&check)
    );
    let start = run_gateway(&lab, "c", &c, false);
    assert_eq!(start.status.code(), Some(2), "{}", text(&start));
}

/// A client that connects to the status socket and reads nothing (a
/// `vifgate status` stopped with ^Z) does not stall the gateway: with a
/// document larger than the socket's buffer (5000 routes, about 800 KB),
/// the loop used to wait on that client, and every other status query —
/// and every packet — with it.
#[test]
fn a_status_client_that_reads_nothing_does_not_stall_the_gateway() {
    if !super::common::can_run("a_status_client_that_reads_nothing_does_not_stall_the_gateway") {
        return;
    }
    let mut lab = Lab::new();
    lab.add_ns("a");
    let socket = lab.dir.join("a.sock");
    let config = lone_config(&lab, "a", "vga", 51820, &socket);
    let mut text = std::fs::read_to_string(&config).expect("config");
    for i in 0..5000u32 {
        text += &format!(
            "[[route]]\nprefix = \"10.9.{}.{}/32\"\npeer = \"a-peer\"\n",
            i / 250,
            i % 250
        );
    }
    std::fs::write(&config, text).expect("config");
    start_gateway(&mut lab, "a", "a", &config, "vga", "10.9.0.0/16");
    assert!(
        lab.wait_for(Duration::from_secs(5), || peers_on(&socket).is_some()),
        "{}",
        lab.log("a")
    );
    let silent = std::os::unix::net::UnixStream::connect(&socket).expect("connect");
    std::thread::sleep(Duration::from_millis(200));
    let asked = gateway::shell::query_status(&socket);
    drop(silent);
    assert!(
        asked.is_ok(),
        "the gateway stalled on a client that reads nothing: {:?}",
        asked.err()
    );
}
