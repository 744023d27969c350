//! `vifgate sim apply FILE` on live labs of the example: an edit changes
//! only what it changed (the lab then reads back as a lab built from the
//! edited file), an established TCP flow keeps flowing through a security
//! group edit and is cut by a network ACL that denies it, and an apply
//! killed with SIGKILL is completed by the next `sim apply` or removed
//! whole by `sim down`.
//!
//! Needs root, nftables, BIRD, HAProxy and python3; runs for real under
//! `CI=true` (a missing capability fails there), skips with a message
//! elsewhere. Lab names carry the test process's pid.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::leftovers::assert_gone;
use common::text;
use sim::apply::state::read_state;
use sim::ops::inspect::LabDigest;

fn ready(test: &str) -> bool {
    common::can_run(test)
        && common::need_tool("nft")
        && common::need_bird()
        && common::need_tool("haproxy")
        && common::need_tool("python3")
}

fn example_text() -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/yeohaengjigi.toml");
    std::fs::read_to_string(p).expect("the example")
}

/// A lab name of this run: `ap<pid>-<what>`.
fn lab_name(what: &str) -> String {
    format!("ap{}-{what}", std::process::id())
}

/// `text` with `from` replaced by `to` (which must be there).
fn edit(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "the example has no `{from}`");
    text.replacen(from, to, 1)
}

/// A file of this run holding `text`.
fn file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vifgate-sim-apply-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p
}

fn vifgate(args: &[&str]) -> Output {
    Command::new(common::vifgate())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run vifgate")
}

fn ok(args: &[&str]) -> Output {
    let o = vifgate(args);
    assert!(
        o.status.success(),
        "vifgate {}: {}",
        args.join(" "),
        text(&o)
    );
    o
}

fn up(path: &Path, lab: &str) {
    ok(&["sim", "up", &path.to_string_lossy(), "--lab", lab]);
}

fn apply(path: &Path, lab: &str) -> Output {
    ok(&["sim", "apply", &path.to_string_lossy(), "--lab", lab])
}

/// Takes the lab down when dropped (also after a failed assertion).
struct Down(String);

impl Drop for Down {
    fn drop(&mut self) {
        let _ = vifgate(&["sim", "down", &self.0]);
    }
}

/// The lab as read back from the kernel.
fn digest(lab: &str) -> LabDigest {
    let st = read_state(lab).expect("the lab's state");
    LabDigest::read(&st.plan).expect("read the lab back")
}

fn assert_same(applied: &str, fresh: &str, what: &str) {
    let (a, b) = (digest(applied), digest(fresh));
    let d = a.diff(&b, ("applied", "built"), 40);
    assert!(
        d.is_empty(),
        "{what}: the lab applied differs from one built:\n{}",
        d.join("\n")
    );
}

/// The example with one more security group rule (web-sg: tcp 8080 from
/// the bastion).
fn with_sg_rule(text: &str) -> String {
    edit(
        text,
        "  { protocol = \"tcp\", ports = 22, sg = \"bastion-sg\" },\n",
        "  { protocol = \"tcp\", ports = 22, sg = \"bastion-sg\" },\n  { protocol = \"tcp\", ports = 8080, sg = \"bastion-sg\" },\n",
    )
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
    Command::new("ip")
        .args(["netns", "exec", ns, "python3", "-c", &code])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the echo server")
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
    Command::new("ip")
        .args(["netns", "exec", ns, "python3", "-c", &code])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the echo client")
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

/// `vifgate sim apply FILE --lab LAB`, started.
fn start_apply(path: &Path, lab: &str) -> Child {
    Command::new(common::vifgate())
        .args(["sim", "apply", &path.to_string_lossy(), "--lab", lab])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start vifgate sim apply")
}

#[test]
fn an_apply_killed_in_the_middle_is_completed_by_the_next_or_removed_by_down() {
    if !ready("an_apply_killed_in_the_middle_is_completed_by_the_next_or_removed_by_down") {
        return;
    }
    let a = example_text();
    let b = edit(&with_sg_rule(&a), "desired = 2", "desired = 3");
    let (pa, pb) = (file("ka.toml", &a), file("kb.toml", &b));
    let fresh = lab_name("kf");
    let _fresh_down = Down(fresh.clone());
    up(&pb, &fresh);
    for (round, delay_ms) in [40u64, 150, 400].into_iter().enumerate() {
        let lab = lab_name(&format!("k{round}"));
        let down = Down(lab.clone());
        up(&pa, &lab);
        let mut child = start_apply(&pb, &lab);
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        if round % 2 == 0 {
            // the next apply completes it
            let o = apply(&pb, &lab);
            eprintln!(
                "killed after {delay_ms} ms, then:\n{}",
                String::from_utf8_lossy(&o.stdout)
            );
            assert!(read_state(&lab).expect("state").applying.is_none());
            assert_same(
                &lab,
                &fresh,
                &format!("killed after {delay_ms} ms, applied again"),
            );
        }
        drop(down);
        assert_gone(
            &lab,
            &format!("after an apply killed after {delay_ms} ms, and sim down"),
        );
    }
}
