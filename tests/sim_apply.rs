//! `vifgate sim apply FILE` on live labs of the example: an edit changes
//! only what it changed (the lab then reads back as a lab built from the
//! edited file), an established TCP flow keeps flowing through a security
//! group edit and is cut by a network ACL that denies it, an advertised
//! prefix moves without resetting a BGP session (BIRD and FRR) while the
//! VPC's route tables follow, and a third web instance joins the ALB and
//! leaves it (drained) under a request loop that sees no failure. The
//! SIGKILL in the middle of an apply is in `tests/sim_stress.rs`.
//!
//! Needs root, nftables, BIRD, HAProxy and python3; runs for real under
//! `CI=true` (a missing capability fails there), skips with a message
//! elsewhere. Lab names carry the test process's pid.

mod common;

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::applied::{apply, assert_same, edit, example_text, file, up, with_sg_rule, Down};
use common::cases::Random;
use common::requests::{loop_counts, python_in, request_loop};
use common::text;

fn ready(test: &str) -> bool {
    common::can_run(test)
        && common::need_tool("nft")
        && common::need_bird()
        && common::need_tool("haproxy")
        && common::need_tool("python3")
}

/// A lab name of this run: `ap<pid>-<what>`.
fn lab_name(what: &str) -> String {
    format!("ap{}-{what}", std::process::id())
}

#[test]
fn an_applied_edit_reads_back_as_a_lab_built_from_the_edited_file() {
    if !ready("an_applied_edit_reads_back_as_a_lab_built_from_the_edited_file") {
        return;
    }
    let a = example_text();
    let edits: Vec<(&str, String)> = vec![
        ("security group rule", with_sg_rule(&a)),
        (
            "instance added",
            edit(&with_sg_rule(&a), "desired = 2", "desired = 3"),
        ),
        (
            "route target",
            edit(
                &edit(&with_sg_rule(&a), "desired = 2", "desired = 3"),
                "routes = [{ prefix = \"0.0.0.0/0\", target = \"nat-a\" }]",
                "routes = [{ prefix = \"0.0.0.0/0\", target = \"nat-c\" }]",
            ),
        ),
        // back to the example: the instance removed, the rule and route too
        ("instance, rule and route removed", a.clone()),
    ];
    let lab = lab_name("ed");
    let _down = Down(lab.clone());
    up(&file("a.toml", &a), &lab);
    for (i, (what, b)) in edits.iter().enumerate() {
        let path = file(&format!("b{i}.toml"), b);
        let o = apply(&path, &lab);
        let said = String::from_utf8_lossy(&o.stdout);
        assert!(said.contains("applied"), "{what}: {said}");
        let fresh = lab_name(&format!("f{i}"));
        let _fresh_down = Down(fresh.clone());
        up(&path, &fresh);
        assert_same(&lab, &fresh, what);
        // a second apply of the same file has nothing to do
        let again = apply(&path, &lab);
        assert!(
            String::from_utf8_lossy(&again.stdout).contains("nothing to do"),
            "{what}: {}",
            text(&again)
        );
    }
}

/// An echo server on `addr:port` in namespace `ns`.
fn echo_server(ns: &str, port: u16) -> Child {
    let code = format!(
        "import socket,threading\n\
         s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
         s.bind(('0.0.0.0',{port})); s.listen()\n\
         def serve(c):\n  while True:\n    d=c.recv(65536)\n    if not d: return\n    c.sendall(d)\n\
         while True:\n  c,_=s.accept(); threading.Thread(target=serve,args=(c,),daemon=True).start()\n"
    );
    python_in(ns, &code, &[], "start the echo server")
}

/// A client in `ns` that sends 64 bytes to `dst:port` every 2 ms for
/// `secs` seconds and reads the echoes; prints `BYTES MAXGAP_MS LAST_MS`
/// (bytes echoed, the longest time without an echo, when the last came).
fn echo_client(ns: &str, dst: &str, port: u16, secs: f64) -> Child {
    let code = format!(
        "import socket,time\n\
         c=socket.create_connection(('{dst}',{port}),timeout=3); c.settimeout(0.002)\n\
         t0=time.monotonic(); last=t0; gap=0.0; got=0\n\
         while time.monotonic()-t0<{secs}:\n\
         \x20 try: c.send(b'x'*64)\n\
         \x20 except OSError: pass\n\
         \x20 try:\n    d=c.recv(65536)\n    if d:\n      now=time.monotonic(); gap=max(gap,now-last); last=now; got+=len(d)\n\
         \x20 except (socket.timeout, BlockingIOError): pass\n\
         print(got, round(gap*1000,1), round((last-t0)*1000,1))\n"
    );
    python_in(ns, &code, &[], "start the echo client")
}

/// What the client printed: bytes echoed, longest gap, last echo (ms).
fn client_result(c: Child) -> (u64, f64, f64) {
    let o = c.wait_with_output().expect("the client ends");
    let s = String::from_utf8_lossy(&o.stdout);
    let f: Vec<&str> = s.split_whitespace().collect();
    assert!(f.len() == 3, "the client: {}", text(&o));
    (
        f[0].parse().expect("bytes"),
        f[1].parse().expect("gap"),
        f[2].parse().expect("last"),
    )
}

#[test]
fn an_established_flow_survives_a_security_group_edit_and_a_nacl_deny_cuts_it() {
    if !ready("an_established_flow_survives_a_security_group_edit_and_a_nacl_deny_cuts_it") {
        return;
    }
    // web-a1 to db-primary on 8080: allowed by db-sg and db-nacl in A
    let a = edit(
        &edit(
            &example_text(),
            "  { protocol = \"tcp\", ports = 3306, sg = \"web-sg\" },\n",
            "  { protocol = \"tcp\", ports = 3306, sg = \"web-sg\" },\n  { protocol = \"tcp\", ports = 8080, sg = \"web-sg\" },\n",
        ),
        "  { rule = 110, action = \"allow\", protocol = \"tcp\", ports = 3306, cidr = \"10.0.20.0/23\" },\n]",
        "  { rule = 110, action = \"allow\", protocol = \"tcp\", ports = 3306, cidr = \"10.0.20.0/23\" },\n  { rule = 120, action = \"allow\", protocol = \"tcp\", ports = 8080, cidr = \"10.0.10.0/23\" },\n]",
    );
    // B: another db-sg rule (the flow is still allowed)
    let b = edit(
        &a,
        "  { protocol = \"tcp\", ports = 8080, sg = \"web-sg\" },\n",
        "  { protocol = \"tcp\", ports = 8080, sg = \"web-sg\" },\n  { protocol = \"tcp\", ports = 9090, sg = \"web-sg\" },\n",
    );
    // C: the NACL denies it (stateless: at once)
    let c = edit(
        &b,
        "{ rule = 120, action = \"allow\", protocol = \"tcp\", ports = 8080",
        "{ rule = 120, action = \"deny\", protocol = \"tcp\", ports = 8080",
    );
    let lab = lab_name("fl");
    let _down = Down(lab.clone());
    up(&file("fa.toml", &a), &lab);
    let (web, db) = (format!("{lab}.web-a1"), format!("{lab}.db-primary"));
    let mut server = echo_server(&db, 8080);
    std::thread::sleep(Duration::from_millis(500));

    // an allowed edit: the flow goes on
    let client = echo_client(&web, "10.0.20.10", 8080, 3.0);
    std::thread::sleep(Duration::from_millis(1000));
    let t = Instant::now();
    let o = apply(&file("fb.toml", &b), &lab);
    let applied_ms = t.elapsed().as_secs_f64() * 1000.0;
    assert!(String::from_utf8_lossy(&o.stdout).contains("replace nft table"));
    let (bytes, gap, last) = client_result(client);
    eprintln!("SG edit ({applied_ms:.0} ms): {bytes} bytes echoed, longest gap {gap} ms, last at {last} ms");
    assert!(bytes > 10_000, "the flow carried too little: {bytes} bytes");
    assert!(
        gap < 100.0,
        "the flow stopped for {gap} ms through an allowed edit"
    );
    assert!(last > 2800.0, "the flow ended at {last} ms");

    // a deny: the flow is cut
    let client = echo_client(&web, "10.0.20.10", 8080, 3.0);
    std::thread::sleep(Duration::from_millis(1000));
    let o = apply(&file("fc.toml", &c), &lab);
    assert!(String::from_utf8_lossy(&o.stdout).contains("replace nft table"));
    let (bytes, _, last) = client_result(client);
    eprintln!("NACL deny: {bytes} bytes echoed, last at {last} ms");
    assert!(bytes > 0);
    assert!(
        last < 2500.0,
        "echoes still came at {last} ms after the deny"
    );
    let _ = server.kill();
    let _ = server.wait();
}

/// The example with the office advertising 192.168.30.0/24 instead of
/// 192.168.20.0/24 over both its sessions (Direct Connect and the VPN).
fn with_prefix_moved(text: &str) -> String {
    edit(
        &edit(
            text,
            "advertised_prefixes = [\"192.168.10.0/24\", \"192.168.20.0/24\"]",
            "advertised_prefixes = [\"192.168.10.0/24\", \"192.168.30.0/24\"]",
        ),
        "prefixes = [\"192.168.10.0/24\", \"192.168.20.0/24\"]\nlocal_preference = 100",
        "prefixes = [\"192.168.10.0/24\", \"192.168.30.0/24\"]\nlocal_preference = 100",
    )
}

/// Each BGP session of the office's daemon: (name, Established, how it
/// dates its state). BIRD: `show protocols`'s "Since" (the moment of its
/// last change, to the millisecond); FRR: `bgpTimerUpMsec` of `show bgp
/// neighbors json` (its uptime, in whole seconds).
fn office_sessions(lab: &str, frr: bool) -> Vec<(String, bool, String)> {
    let dir = sim::layout::state_dir(lab);
    if frr {
        let o = Command::new("vtysh")
            .arg("--vty_socket")
            .arg(dir.join("frr-vifgate-office"))
            .args(["-d", "bgpd", "-c", "show bgp neighbors json"])
            .output()
            .expect("run vtysh");
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
        let Some(peers) = v.as_object() else {
            return Vec::new();
        };
        return peers
            .iter()
            .map(|(k, p)| {
                (
                    k.clone(),
                    p["bgpState"] == "Established",
                    p["bgpTimerUpMsec"].to_string(),
                )
            })
            .collect();
    }
    let o = Command::new("birdc")
        .arg("-s")
        .arg(dir.join("bird-vifgate-office.ctl"))
        .args(["show", "protocols"])
        .output()
        .expect("run birdc");
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 5 && f[1] == "BGP").then(|| {
                (
                    f[0].to_string(),
                    f.get(5) == Some(&"Established"),
                    f[4].to_string(),
                )
            })
        })
        .collect()
}

/// The IPv4 routes of every table of the VPC router's namespace.
fn vpc_routes(lab: &str) -> String {
    let o = Command::new("ip")
        .args([
            "-n",
            &format!("{lab}+vpc"),
            "-4",
            "route",
            "show",
            "table",
            "all",
        ])
        .output()
        .expect("run ip");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A session of the office's daemon as [`office_sessions`] reads it.
type SessionRead = (String, bool, String);

/// A thread reading the office's sessions every 20 ms until stopped,
/// keeping each read that `fine` refuses.
struct SessionWatch {
    done: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<Vec<Vec<SessionRead>>>,
}

impl SessionWatch {
    fn start(lab: &str, frr: bool, fine: fn(&[SessionRead]) -> bool) -> Self {
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (lab, stop) = (lab.to_string(), done.clone());
        let thread = std::thread::spawn(move || {
            let mut seen = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let now = office_sessions(&lab, frr);
                if !fine(&now) {
                    seen.push(now);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            seen
        });
        SessionWatch { done, thread }
    }

    /// The reads `fine` refused.
    fn stop(self) -> Vec<Vec<SessionRead>> {
        self.done.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.join().expect("the watcher")
    }
}

/// `up(a)`, then an apply that moves the office's advertised prefix: the
/// office's sessions stay Established throughout (polled every 20 ms),
/// with their uptime kept; the VPC router's tables follow.
fn prefix_change_keeps_the_sessions(a: &str, what: &str, frr: bool) {
    let b = with_prefix_moved(a);
    let lab = lab_name(what);
    let _down = Down(lab.clone());
    up(&file(&format!("{what}-a.toml"), a), &lab);
    let before = office_sessions(&lab, frr);
    assert_eq!(before.len(), 2, "{what}: the office's sessions: {before:?}");
    assert!(before.iter().all(|s| s.1), "{what}: {before:?}");
    assert!(vpc_routes(&lab).contains("192.168.20.0/24"));
    let read_at = Instant::now();
    let watch = SessionWatch::start(&lab, frr, |now| now.len() == 2 && now.iter().all(|s| s.1));
    let o = apply(&file(&format!("{what}-b.toml"), &b), &lab);
    let said = String::from_utf8_lossy(&o.stdout).into_owned();
    let gone =
        common::leftovers::eventually(Duration::from_secs(5), Duration::from_millis(50), || {
            let r = vpc_routes(&lab);
            r.contains("192.168.30.0/24") && !r.contains("192.168.20.0/24")
        });
    std::thread::sleep(Duration::from_millis(1500));
    let not_established = watch.stop();
    assert!(
        not_established.is_empty(),
        "{what}: sessions not Established during the apply: {not_established:?}\n{said}"
    );
    let daemon = said
        .find(if frr {
            "reconfigure FRR"
        } else {
            "birdc configure"
        })
        .unwrap_or_else(|| panic!("{what}: {said}"));
    // the tunnel widened before the office advertised the new prefix and
    // narrows only after it withdrew the old one
    let widened = said.find("reconfigure gateway vgw-").expect(&said);
    let narrowed = said.find("narrow gateway vgw-").expect(&said);
    assert!(widened < daemon && daemon < narrowed, "{what}: {said}");
    eprint!("{what}: {said}");
    assert!(
        gone,
        "{what}: the VPC router's tables did not follow the change:\n{}",
        vpc_routes(&lab)
    );
    let after = office_sessions(&lab, frr);
    let elapsed_ms = read_at.elapsed().as_millis() as u64;
    eprintln!("{what}: sessions before {before:?}, after {after:?} ({elapsed_ms} ms later)");
    for ((name, _, was), (name2, up, is)) in before.iter().zip(&after) {
        assert_eq!(name, name2);
        assert!(*up, "{what}: {name} is no longer Established");
        if frr {
            // uptime in whole seconds: it grew by the time between reads
            let (was, is): (u64, u64) = (was.parse().expect("ms"), is.parse().expect("ms"));
            assert!(
                is + 1000 >= was + elapsed_ms,
                "{what}: {name}'s uptime went from {was} ms to {is} ms in {elapsed_ms} ms: the session was reset"
            );
        } else {
            assert_eq!(was, is, "{what}: {name} changed state since then: reset");
        }
    }
}

#[test]
fn an_advertised_prefix_change_keeps_birds_sessions_and_their_uptime() {
    if !ready("an_advertised_prefix_change_keeps_birds_sessions_and_their_uptime") {
        return;
    }
    prefix_change_keeps_the_sessions(&example_text(), "pb", false);
}

#[test]
fn an_advertised_prefix_change_keeps_frrs_sessions_and_their_uptime() {
    if !ready("an_advertised_prefix_change_keeps_frrs_sessions_and_their_uptime")
        || !common::need_frr()
    {
        return;
    }
    let a = edit(
        &example_text(),
        "load_balancer = \"haproxy\"",
        "bgp_daemon = { vifgate-office = \"frr\" }\nload_balancer = \"haproxy\"",
    );
    prefix_change_keeps_the_sessions(&a, "pf", true);
}

/// The two-VIF example (`examples/two-vifs.toml`) with its MD5 keys in
/// files of this run, and the same without its first VIF.
fn two_vifs_with_and_without_the_first() -> (String, String) {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/two-vifs.toml"),
    )
    .expect("the two-VIF example");
    let mut text = text;
    for (var, key) in [("DX1_BGP_MD5", "abc123"), ("DX2_BGP_MD5", "def456")] {
        let path = file(&format!("{var}.key"), &format!("{key}\n"));
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .expect("chmod 600");
        text = edit(
            &text,
            &format!("env:{var}"),
            &format!("file:{}", path.display()),
        );
    }
    let start = text
        .find("[[direct_connect.vif]]\nname = \"dx-vif-1\"")
        .expect("dx-vif-1");
    let len = text[start + 1..]
        .find("[[direct_connect.vif]]")
        .expect("dx-vif-2 after it")
        + 1;
    let without = format!("{}{}", &text[..start], &text[start + len..]);
    (text, without)
}

/// `up` of the two-VIF example without its first VIF, then an apply of
/// the whole file: the first VIF's session comes up while the second's
/// and the VPN's stay Established throughout (read every 20 ms) with
/// their uptime kept. Their links, tunnels and ports are named after them,
/// not their place in the file (`sim::layout::vif_links`): on main the
/// apply remade them and reset both sessions.
#[test]
fn a_vif_added_before_another_keeps_the_others_session_and_its_uptime() {
    if !ready("a_vif_added_before_another_keeps_the_others_session_and_its_uptime") {
        return;
    }
    let (full, without) = two_vifs_with_and_without_the_first();
    let lab = lab_name("vif");
    let _down = Down(lab.clone());
    up(&file("vif-a.toml", &without), &lab);
    let kept = ["dx.dx-vif-2", "vpn.vpn-backup"];
    let before = office_sessions(&lab, false);
    let names: Vec<&str> = before.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(names, kept, "{before:?}");
    assert!(before.iter().all(|s| s.1), "{before:?}");
    let read_at = Instant::now();
    let watch = SessionWatch::start(&lab, false, |now| {
        ["dx.dx-vif-2", "vpn.vpn-backup"]
            .iter()
            .all(|name| now.iter().any(|s| s.0 == *name && s.1))
    });
    let o = apply(&file("vif-b.toml", &full), &lab);
    let said = String::from_utf8_lossy(&o.stdout).into_owned();
    let first_up =
        common::leftovers::eventually(Duration::from_secs(30), Duration::from_millis(100), || {
            office_sessions(&lab, false)
                .iter()
                .any(|s| s.0 == "dx.dx-vif-1" && s.1)
        });
    std::thread::sleep(Duration::from_millis(1000));
    let not_established = watch.stop();
    assert!(
        not_established.is_empty(),
        "sessions not Established during the apply: {not_established:?}\n{said}"
    );
    assert!(
        first_up,
        "dx-vif-1 never came up: {:?}\n{said}",
        office_sessions(&lab, false)
    );
    // nothing of the others stopped or was made again
    for word in ["stop gateway", "delete veth"] {
        assert!(!said.contains(word), "{word}:\n{said}");
    }
    let after = office_sessions(&lab, false);
    eprintln!(
        "sessions before {before:?}, after {after:?} ({} ms later)\n{said}",
        read_at.elapsed().as_millis()
    );
    for (name, _, was) in &before {
        let is = after.iter().find(|s| s.0 == *name).expect("still there");
        assert!(is.1, "{name} is no longer Established");
        assert_eq!(*was, is.2, "{name} changed state since then: reset");
    }
}

/// The requests (HTTP/1.1: HAProxy's health checks are HTTP/1.0) the web
/// server of `node` has logged in lab `lab`.
fn served(lab: &str, node: &str) -> usize {
    common::lab::served(lab, node, " HTTP/1.1\"")
}

/// A GET of `path` from `host` port 80 in `ns` with cookie `cookie`, on
/// a socket with a small receive buffer, read slowly (64 KiB every 5 ms);
/// prints the bytes of the body read and how it ended.
fn slow_download(ns: &str, host: &str, path: &str, cookie: &str) -> Child {
    let code = "import socket,sys,time\n\
         s=socket.socket(); s.setsockopt(socket.SOL_SOCKET,socket.SO_RCVBUF,262144); s.settimeout(10)\n\
         s.connect((sys.argv[1],80))\n\
         s.sendall(('GET %s HTTP/1.1\\r\\nHost: alb\\r\\nCookie: %s\\r\\nConnection: close\\r\\n\\r\\n'%(sys.argv[2],sys.argv[3])).encode())\n\
         data=bytearray(); err='-'\n\
         try:\n\
         \x20 while True:\n\
         \x20   d=s.recv(65536)\n\
         \x20   if not d: break\n\
         \x20   data+=d; time.sleep(0.005)\n\
         except Exception as e: err=repr(e)\n\
         head,_,body=bytes(data).partition(b'\\r\\n\\r\\n')\n\
         print(len(body), err, head.split(b'\\r\\n')[0].decode())\n";
    python_in(ns, code, &[host, path, cookie], "start the download")
}

#[test]
fn a_third_web_instance_takes_requests_and_leaves_without_a_failed_one() {
    if !ready("a_third_web_instance_takes_requests_and_leaves_without_a_failed_one") {
        return;
    }
    // web-a2 serves a directory with a 32 MiB file
    let www = std::env::temp_dir().join(format!("vifgate-sim-apply-{}-www", std::process::id()));
    std::fs::create_dir_all(&www).expect("www");
    // (more than the buffers on the way hold: the kernel's and HAProxy's)
    const BIG: usize = 32 << 20;
    std::fs::write(www.join("big"), vec![b'x'; BIG]).expect("big file");
    let a = example_text();
    let b = format!(
        "{}\n[[sim.start]]\nnodes = [\"web-a2\"]\ncommand = \"python3 -m http.server 80 --bind 0.0.0.0 --directory {}\"\ntcp_ports = [80]\n",
        edit(&a, "desired = 2", "desired = 3"),
        www.display()
    );
    let lab = lab_name("asg");
    let _down = Down(lab.clone());
    up(&file("asg-a.toml", &a), &lab);
    let stop = std::env::temp_dir().join(format!("vifgate-sim-apply-{}-stop", std::process::id()));
    let _ = std::fs::remove_file(&stop);
    let internet = format!("{lab}.internet");
    let looping = request_loop(&internet, "http://203.0.113.20/", &stop);
    std::thread::sleep(Duration::from_millis(1000));

    // 2 -> 3: web-a2 is registered and takes its share
    let o = apply(&file("asg-b.toml", &b), &lab);
    let said = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(said.contains("register target web-a2"), "{said}");
    let serving =
        common::leftovers::eventually(Duration::from_secs(10), Duration::from_millis(100), || {
            served(&lab, "web-a2") >= 20
        });
    assert!(serving, "web-a2 served {} requests", served(&lab, "web-a2"));

    // 3 -> 2 with a download from web-a2 under way: drained, not cut
    let download = slow_download(&internet, "203.0.113.20", "/big", "AWSALBAPP-0=web-asg-3");
    std::thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    let o = apply(&file("asg-a2.toml", &a), &lab);
    let back_ms = t.elapsed().as_millis();
    let said = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(said.contains("deregister target web-a2"), "{said}");
    std::thread::sleep(Duration::from_millis(1000));
    std::fs::write(&stop, "").expect("stop file");
    let out = looping.wait_with_output().expect("the loop ends");
    let (ok, failed, report) = loop_counts(&out);
    let d = download.wait_with_output().expect("the download ends");
    let got = String::from_utf8_lossy(&d.stdout).into_owned();
    let _ = std::fs::remove_dir_all(&www);
    let _ = std::fs::remove_file(&stop);
    eprintln!(
        "request loop: {report}\ndownload from web-a2: {got}\n3 -> 2 applied in {back_ms} ms"
    );
    assert!(ok > 200, "too few requests: {report}");
    assert_eq!(failed, 0, "requests failed during the applies:\n{report}");
    assert_eq!(
        got.split_whitespace().next(),
        Some(BIG.to_string().as_str()),
        "the download from the deregistered web-a2 was cut: {got}"
    );
}

/// A generated topology (`topology::synth`) of a few hosts, and a random
/// one-line edit of it (its kind: the seed modulo 4): a security group
/// rule added, an instance added or
/// removed, a route added to the public route table. Returns the two
/// texts and the edit in words.
fn generated_pair(seed: u64) -> (String, String, String) {
    let hosts = 2 + (seed % 3) as usize;
    let a = topology::synth::synth_toml(topology::synth::SynthSpec {
        hosts,
        security_groups: 2,
        rules_per_group: 2,
        seed,
    });
    let mut r = Random(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15).max(1));
    // the kind of edit by turns, so that a few cases try each
    let (b, what) = match seed % 4 {
        0 => {
            let (g, port) = (r.below(2), 9000 + r.below(100));
            let anchor = format!("[[security_group]]\nname = \"sg-{g}\"\n");
            let rule = format!(
                "{anchor}[[security_group.ingress]]\nprotocol = \"tcp\"\nports = {port}\ncidr = \"10.0.{}.0/24\"\n",
                r.below(2)
            );
            (
                edit(&a, &anchor, &rule),
                format!("sg-{g}: tcp {port} allowed"),
            )
        }
        1 => {
            let z = r.below(2);
            let host = format!(
                "[[vpc.instance]]\nname = \"hx\"\nsubnet = \"s{z}\"\nip = \"10.0.{z}.{}\"\nsecurity_groups = [\"sg-{}\"]\n[internet]",
                200 + r.below(50),
                r.below(2)
            );
            (
                edit(&a, "[internet]", &host),
                format!("instance hx added in s{z}"),
            )
        }
        2 => {
            let last = format!("[[vpc.instance]]\nname = \"h{}\"\n", hosts - 1);
            let at = a.find(&last).expect("the last instance");
            let end = at + a[at + 1..].find("\n[").expect("a section after it") + 2;
            let b = format!("{}{}", &a[..at], &a[end..]);
            (b, format!("instance h{} removed", hosts - 1))
        }
        _ => {
            let prefix = format!("172.16.{}.0/24", r.below(250));
            let nat = if r.below(2) == 0 { "nat-a" } else { "nat-c" };
            let b = edit(
                &a,
                "routes = [{ prefix = \"0.0.0.0/0\", target = \"igw\" }]",
                &format!("routes = [{{ prefix = \"0.0.0.0/0\", target = \"igw\" }}, {{ prefix = \"{prefix}\", target = \"{nat}\" }}]"),
            );
            (b, format!("route {prefix} via {nat} in the public table"))
        }
    };
    (a, b, what)
}

#[test]
fn up_then_apply_reads_back_as_up_on_generated_pairs_and_sim_test_agrees() {
    let test = "up_then_apply_reads_back_as_up_on_generated_pairs_and_sim_test_agrees";
    if !ready(test) {
        return;
    }
    let started = Instant::now();
    let range = common::cases::seeds(4, 12);
    for seed in range.clone() {
        let (a, b, what) = generated_pair(seed);
        let case = format!("case {seed} ({what}; VIFGATE_PROPERTY_SEED={seed} replays it)");
        let (pa, pb) = (
            file(&format!("g{seed}-a.toml"), &a),
            file(&format!("g{seed}-b.toml"), &b),
        );
        let lab = lab_name(&format!("g{seed}"));
        let _down = Down(lab.clone());
        up(&pa, &lab);
        let o = apply(&pb, &lab);
        eprintln!("{case}:\n{}", String::from_utf8_lossy(&o.stdout));
        let fresh = lab_name(&format!("g{seed}f"));
        let fresh_down = Down(fresh.clone());
        up(&pb, &fresh);
        assert_same(&lab, &fresh, &case);
        drop(fresh_down);
        let t = common::applied::run(&[
            "sim",
            "test",
            &pb.to_string_lossy(),
            "--lab",
            &lab,
            "--reuse",
        ]);
        assert!(
            t.status.success(),
            "{case}: sim test after the apply: {}",
            text(&t)
        );
    }
    eprintln!(
        "{} generated pairs in {:.1} s",
        range.end - range.start,
        started.elapsed().as_secs_f64()
    );
}

/// A loop in `ns` connecting to `dst:port` every 5 ms until `stop`
/// exists, each connection reading the listener's banner; prints `OK
/// FAILED` and then each failure. A listener gone is refused at once; the
/// 3 s timeout leaves room for one SYN retransmission on a loaded machine.
fn connect_loop(ns: &str, dst: &str, port: u16, stop: &Path) -> Child {
    let code = "import os,socket,sys,time\n\
         dst,port,stop=sys.argv[1],int(sys.argv[2]),sys.argv[3]; ok=0; bad=[]; t0=time.monotonic()\n\
         while not os.path.exists(stop) and time.monotonic()-t0<60:\n\
         \x20 try:\n\
         \x20   c=socket.create_connection((dst,port),timeout=3)\n\
         \x20   if c.recv(100).startswith(b'vifgate '): ok+=1\n\
         \x20   else: bad.append('%.2f no banner'%(time.monotonic()-t0))\n\
         \x20   c.close()\n\
         \x20 except Exception as e: bad.append('%.2f %s'%(time.monotonic()-t0,e))\n\
         \x20 time.sleep(0.005)\n\
         print(ok,len(bad))\n\
         for b in bad[:20]: print(b)\n";
    python_in(
        ns,
        code,
        &[dst, &port.to_string(), &stop.to_string_lossy()],
        "start the connect loop",
    )
}

#[test]
fn the_probes_listeners_keep_listening_through_an_apply_that_changes_them() {
    if !ready("the_probes_listeners_keep_listening_through_an_apply_that_changes_them") {
        return;
    }
    let a = example_text();
    let b = edit(&a, "desired = 2", "desired = 3");
    let lab = lab_name("ls");
    let _down = Down(lab.clone());
    up(&file("ls-a.toml", &a), &lab);
    let stop = std::env::temp_dir().join(format!("vifgate-sim-apply-{}-ls", std::process::id()));
    let _ = std::fs::remove_file(&stop);
    // db-primary's 3306 is the listener agent's; web-sg may reach it
    let looping = connect_loop(&format!("{lab}.web-a1"), "10.0.20.10", 3306, &stop);
    std::thread::sleep(Duration::from_millis(500));
    let o = apply(&file("ls-b.toml", &b), &lab);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("start the listeners of web-a2"),
        "{}",
        text(&o)
    );
    let o = apply(&file("ls-a2.toml", &a), &lab);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("delete namespace"),
        "{}",
        text(&o)
    );
    std::thread::sleep(Duration::from_millis(300));
    std::fs::write(&stop, "").expect("stop file");
    let out = looping.wait_with_output().expect("the loop ends");
    let _ = std::fs::remove_file(&stop);
    let (ok, failed, report) = loop_counts(&out);
    eprintln!("connections to db-primary:3306 through two applies: {report}");
    assert!(ok > 50, "too few connections: {report}");
    assert_eq!(
        failed, 0,
        "the listener went away during an apply:\n{report}"
    );
}

#[test]
fn sim_up_runs_the_steps_from_nothing_each_journalled_before_it_runs() {
    if !ready("sim_up_runs_the_steps_from_nothing_each_journalled_before_it_runs") {
        return;
    }
    use sim::apply::journal::{self, Entry};
    let lab = lab_name("up");
    let _down = Down(lab.clone());
    up(&file("up.toml", &example_text()), &lab);
    let st = sim::apply::state::read_state(&lab).expect("the lab's state");
    let steps = sim::plan::diff::diff(&sim::plan::diff::empty(&lab), &st.plan);
    let entries = journal::read(&sim::layout::state_dir(&lab)).expect("the journal");
    assert_eq!(
        entries.first(),
        Some(&Entry::Begin { steps: steps.len() }),
        "`sim up` is the steps of diff(empty, plan)"
    );
    assert_eq!(entries.last(), Some(&Entry::End));
    let started: Vec<String> = (entries.iter())
        .filter_map(|e| match e {
            Entry::Start { step, .. } => Some(step.clone()),
            _ => None,
        })
        .collect();
    let want: Vec<String> = steps.iter().map(ToString::to_string).collect();
    assert_eq!(started, want);
    assert_eq!(journal::unfinished(&entries), None);
    let done = (entries.iter())
        .filter(|e| matches!(e, Entry::Done { .. }))
        .count();
    assert_eq!(done, steps.len());
}

/// `vifgate ARGS` run as user `nobody` (uid and gid 65534, no groups).
fn as_nobody(args: &[&str]) -> Output {
    Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            common::vifgate(),
        ])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run setpriv")
}

#[test]
fn a_dry_run_needs_no_root_and_the_labs_secrets_stay_roots() {
    if !ready("a_dry_run_needs_no_root_and_the_labs_secrets_stay_roots")
        || !common::need_tool("setpriv")
    {
        return;
    }
    let lab = lab_name("nr");
    let a = file("nr-a.toml", &example_text());
    let b = file("nr-b.toml", &with_sg_rule(&example_text()));
    up(&a, &lab);
    let _down = Down(lab.clone());
    let b = b.to_string_lossy();
    let dry = as_nobody(&["sim", "apply", &b, "--lab", &lab, "--dry-run"]);
    let out = text(&dry);
    assert!(dry.status.success(), "{out}");
    assert!(
        out.contains("2 steps to apply") && out.contains("replace nft table inet vifgate_sg in"),
        "{out}"
    );
    // the live apply still needs root, and changes nothing without it
    let live = as_nobody(&["sim", "apply", &b, "--lab", &lab]);
    assert!(!live.status.success(), "{}", text(&live));
    assert!(text(&live).contains("needs root"), "{}", text(&live));
    let again = as_nobody(&["sim", "apply", &b, "--lab", &lab, "--dry-run"]);
    assert!(
        text(&again).contains("2 steps to apply"),
        "{}",
        text(&again)
    );
    // `sim status` reads the lab too, and says what only root sees
    let status = as_nobody(&["sim", "status", &lab]);
    assert!(
        status.status.success()
            && text(&status).contains("lab `")
            && text(&status).contains("processes seen only by root"),
        "{}",
        text(&status)
    );
    // readable by all, except what is secret: the lock (no other user may
    // hold it), keys, MD5 key files and control sockets
    use std::os::unix::fs::{FileTypeExt as _, PermissionsExt as _};
    let dir = sim::layout::state_dir(&lab);
    let mut secrets = Vec::new();
    for e in std::fs::read_dir(&dir)
        .expect("the lab's directory")
        .flatten()
    {
        let name = e.file_name().to_string_lossy().into_owned();
        let meta = e.metadata().expect("metadata");
        let secret = name == "lock"
            || name.ends_with(".key")
            || name.starts_with("md5-")
            || meta.file_type().is_socket();
        if secret {
            let mode = meta.permissions().mode() & 0o777;
            assert_eq!(mode & 0o007, 0, "{name} has mode {mode:o}");
            secrets.push(name);
        }
    }
    for want in ["lock", "haproxy-alb.sock"] {
        assert!(
            secrets.iter().any(|s| s == want),
            "no {want} in {}: {secrets:?}",
            dir.display()
        );
    }
}

/// Lab `lab`'s state file edited by hand: `edit` on its JSON.
fn edit_state_file(lab: &str, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = sim::layout::state_dir(lab).join("state.json");
    let text = std::fs::read_to_string(&path).expect("the state file");
    let mut st: serde_json::Value = serde_json::from_str(&text).expect("its JSON");
    edit(&mut st);
    std::fs::write(&path, st.to_string()).expect("write the state file");
}

#[test]
fn a_state_directory_tampered_with_makes_apply_and_down_touch_nothing_outside_the_lab() {
    if !ready("a_state_directory_tampered_with_makes_apply_and_down_touch_nothing_outside_the_lab")
    {
        return;
    }
    let lab = lab_name("tp");
    let _down = Down(lab.clone());
    let a = file("tp.toml", &example_text());
    up(&a, &lab);
    let dir = sim::layout::state_dir(&lab);
    let b = file("tpb.toml", &with_sg_rule(&example_text()));

    // the journal replaced by a link to a file elsewhere: not written through
    let victim = file("tp-victim", "not the journal's\n");
    let journal = dir.join(sim::apply::journal::JOURNAL_FILE);
    std::fs::remove_file(&journal).expect("remove the journal");
    std::os::unix::fs::symlink(&victim, &journal).expect("link");
    let o = common::applied::run(&["sim", "apply", &b.to_string_lossy(), "--lab", &lab]);
    assert_eq!(
        std::fs::read_to_string(&victim).expect("victim"),
        "not the journal's\n",
        "the apply wrote through the link: {}",
        text(&o)
    );
    assert!(!o.status.success(), "{}", text(&o));
    std::fs::remove_file(&journal).expect("remove the link");

    // the state file edited to name another lab's namespace: `sim apply`
    // would delete it (the recorded plan has it, the new one has not)
    let other = format!("tv{}.victim", std::process::id());
    common::sh(&["ip", "netns", "add", &other]);
    let gone = sim::kernel::netns::exists(&other);
    let ns = serde_json::json!({ "name": other, "node": "victim", "role": "node" });
    edit_state_file(&lab, |st| {
        st["plan"]["namespaces"]
            .as_array_mut()
            .expect("namespaces")
            .push(ns)
    });
    let o = common::applied::run(&["sim", "apply", &a.to_string_lossy(), "--lab", &lab]);
    let still = sim::kernel::netns::exists(&other);
    let down = common::applied::run(&["sim", "down", &lab]);
    let after_down = sim::kernel::netns::exists(&other);
    common::sh(&["ip", "netns", "delete", &other]);
    assert!(gone, "the victim namespace was made");
    assert!(
        still,
        "`sim apply` deleted another lab's namespace: {}",
        text(&o)
    );
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("is not the lab's"),
        "{}",
        text(&o)
    );
    assert!(
        after_down,
        "`sim down` deleted another lab's namespace: {}",
        text(&down)
    );
    assert!(down.status.success(), "{}", text(&down));
    let left: Vec<String> = sim::layout::lab_prefixes(&lab)
        .iter()
        .flat_map(|p| sim::kernel::netns::list(p))
        .collect();
    assert!(left.is_empty(), "`sim down` left {left:?}");
}

/// The example without its `[[sim.start]]` web servers: the listener
/// agent takes their port 80 over.
fn without_start(text: &str) -> String {
    common::applied::without_web_servers(text)
}

#[test]
fn a_start_command_removed_hands_its_port_to_the_listeners_and_back() {
    if !ready("a_start_command_removed_hands_its_port_to_the_listeners_and_back") {
        return;
    }
    let a = example_text();
    let b = without_start(&a);
    let lab = lab_name("st");
    let _down = Down(lab.clone());
    let (pa, pb) = (file("st-a.toml", &a), file("st-b.toml", &b));
    up(&pa, &lab);
    // the listeners' reload must wait for the server to stop: port 80 is
    // its until then
    apply(&pb, &lab);
    let fresh = lab_name("stf");
    let _fresh_down = Down(fresh.clone());
    up(&pb, &fresh);
    assert_same(&lab, &fresh, "start command removed");
    // and back: the server binds the port the listeners held
    apply(&pa, &lab);
    let again = apply(&pa, &lab);
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("nothing to do"),
        "{}",
        text(&again)
    );
}

#[test]
fn what_sim_link_did_to_a_link_an_apply_makes_again_or_reshapes_is_forgotten_and_the_rest_kept() {
    if !ready("what_sim_link_did_to_a_link_an_apply_makes_again_or_reshapes_is_forgotten_and_the_rest_kept") {
        return;
    }
    let a = with_sg_rule(&example_text());
    let three = edit(&a, "desired = 2", "desired = 3");
    let lab = lab_name("lk");
    let _down = Down(lab.clone());
    up(&file("lk-a.toml", &a), &lab);
    apply(&file("lk-3.toml", &three), &lab);
    let ok = common::applied::ok;
    ok(&[
        "sim",
        "link",
        "--rate",
        "10mbit",
        &lab,
        "vifgate-office",
        "dx-vif",
    ]);
    ok(&["sim", "link", "--down", &lab, "web-a2", "web-a"]);
    ok(&["sim", "link", "--down", &lab, "web-a1", "web-a"]);
    let changed = || {
        let st = sim::apply::state::read_state(&lab).expect("the lab's state");
        st.changed_links()
    };
    // an edit that touches none of the links: they stay as `sim link` left them
    let b = edit(&three, "ports = 8080", "ports = 8081");
    apply(&file("lk-b.toml", &b), &lab);
    assert_eq!(changed().len(), 3, "{:?}", changed());
    // the VIF's bandwidth edited: the link is shaped as the file says now
    let faster = edit(&b, "bandwidth = \"1Gbps\"", "bandwidth = \"100Mbps\"");
    apply(&file("lk-c.toml", &faster), &lab);
    assert_eq!(
        changed(),
        ["web-a1 web-a: down", "web-a2 web-a: down"],
        "the reshaped link is still listed as `sim link` left it"
    );
    let notes = sim::apply::state::read_state(&lab)
        .expect("state")
        .link_notes
        .join("\n");
    // the VIF's link (`dx` and its hash, at both ends) as built now
    let vif: Vec<&str> = notes
        .lines()
        .filter(|l| l.contains(" dx") && l.contains(": rate "))
        .collect();
    assert!(
        vif.len() == 2 && vif.iter().all(|l| l.contains(": rate 100 Mbit/s")),
        "the link notes are those of the lab as built: {notes}"
    );
    // web-a2 removed, then added again: its link is gone, then a new one, up
    let two = edit(&faster, "desired = 3", "desired = 2");
    apply(&file("lk-d.toml", &two), &lab);
    assert_eq!(changed(), ["web-a1 web-a: down"]);
    apply(&file("lk-c.toml", &faster), &lab);
    assert_eq!(changed(), ["web-a1 web-a: down"]);
}

/// Runs vifgate with `args` while the lab's lock is held as a `sim apply`
/// at work holds it: it must wait for the lock (still running 1.5 s
/// later), then succeed once the lock is let go.
fn waits_for_the_lock(lab: &str, args: &[&str]) {
    let dir = sim::layout::state_dir(lab);
    let held = sim::apply::lock::take(lab, &dir, Duration::from_secs(5))
        .expect("lock")
        .expect("the lab");
    let mut child = Command::new(common::vifgate())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start vifgate");
    std::thread::sleep(Duration::from_millis(1500));
    let early = child.try_wait().expect("wait");
    drop(held);
    let out = child.wait_with_output().expect("vifgate ends");
    assert!(
        early.is_none(),
        "`{}` changed the lab while its lock was held: {}",
        args.join(" "),
        text(&out)
    );
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn sim_link_waits_for_the_labs_lock_so_an_apply_at_work_does_not_lose_its_record() {
    if !ready("sim_link_waits_for_the_labs_lock_so_an_apply_at_work_does_not_lose_its_record") {
        return;
    }
    let lab = lab_name("lw");
    let _down = Down(lab.clone());
    up(&file("lw.toml", &example_text()), &lab);
    waits_for_the_lock(&lab, &["sim", "link", "--down", &lab, "web-c1", "web-c"]);
    let st = sim::apply::state::read_state(&lab).expect("the lab's state");
    assert_eq!(st.changed_links(), ["web-c1 web-c: down"]);
}

/// `sim fail` reads the lab's state and writes it back whole: without the
/// lab's lock, a `sim apply` at work (`sim autoscale` scaling out) and a
/// failure at the same time lost one of the two records.
#[test]
fn sim_fail_waits_for_the_labs_lock_so_an_apply_at_work_does_not_lose_its_record() {
    if !ready("sim_fail_waits_for_the_labs_lock_so_an_apply_at_work_does_not_lose_its_record") {
        return;
    }
    let lab = lab_name("fw");
    let _down = Down(lab.clone());
    up(&file("fw.toml", &example_text()), &lab);
    waits_for_the_lock(&lab, &["sim", "fail", &lab, "web-a1"]);
    let st = sim::apply::state::read_state(&lab).expect("the lab's state");
    assert!(st.failed.contains("web-a1"), "{:?}", st.failed);
}

#[test]
fn sim_status_says_when_an_apply_was_interrupted_and_not_after_it_is_completed() {
    if !ready("sim_status_says_when_an_apply_was_interrupted_and_not_after_it_is_completed") {
        return;
    }
    let lab = lab_name("si");
    let _down = Down(lab.clone());
    let a = file("si.toml", &example_text());
    up(&a, &lab);
    // the state as an apply killed after its first record leaves it: the
    // plan it was bringing the lab to (here the same one) recorded
    edit_state_file(&lab, |st| st["applying"] = st["plan"].clone());
    let said = common::applied::ok(&["sim", "status", &lab]);
    assert!(
        String::from_utf8_lossy(&said.stdout).contains("a `sim apply` was interrupted"),
        "{}",
        text(&said)
    );
    apply(&a, &lab);
    let said = common::applied::ok(&["sim", "status", &lab]);
    assert!(
        !String::from_utf8_lossy(&said.stdout).contains("interrupted"),
        "{}",
        text(&said)
    );
}

#[test]
fn a_dry_run_on_a_lab_an_apply_was_interrupted_in_lists_what_the_apply_will_run() {
    if !ready("a_dry_run_on_a_lab_an_apply_was_interrupted_in_lists_what_the_apply_will_run") {
        return;
    }
    let lab = lab_name("dr");
    let _down = Down(lab.clone());
    let a = file("dr-a.toml", &example_text());
    up(&a, &lab);
    // killed on its way to B: the lab is between A and B
    let b = file("dr-b.toml", &with_sg_rule(&example_text()));
    let loaded = topology::load(&b).expect("B loads");
    let ports = sim::apply::state::read_state(&lab)
        .expect("state")
        .plan
        .tcp_ports;
    let plan_b = sim::plan::plan(&loaded.topology, &lab, &ports).expect("B's plan");
    edit_state_file(&lab, |st| {
        st["applying"] = serde_json::to_value(&plan_b).expect("json")
    });
    // back to A: B's rules in, then out again
    let dry = common::applied::ok(&[
        "sim",
        "apply",
        &a.to_string_lossy(),
        "--lab",
        &lab,
        "--dry-run",
    ]);
    let said = String::from_utf8_lossy(&dry.stdout);
    assert_eq!(
        said.matches("replace nft table inet vifgate_sg").count(),
        4,
        "{said}"
    );
    let live = apply(&a, &lab);
    let done = String::from_utf8_lossy(&live.stdout);
    assert!(done.contains("(4 steps)"), "{done}");
    let again = apply(&a, &lab);
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("nothing to do"),
        "{}",
        text(&again)
    );
}
