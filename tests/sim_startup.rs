//! A daemon of the lab that refuses its configuration stops `sim up` at
//! once with the daemon's own line: checked before it starts (`bird -p`),
//! or, when it exits during start-up all the same, seen exiting. On main
//! both waited for BGP sessions and said only that BIRD's control socket
//! refused connections.
//!
//! Needs root, nftables and BIRD; runs for real under `CI=true`.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use common::text;

/// A line BIRD refuses: a keyword as a protocol's name.
const BROKEN: &str = "protocol static filter { ipv4; }";

/// A `bird` for `PATH` that runs the real one (`$REAL_BIRD`) on a copy of
/// the configuration it is given with [`BROKEN`] appended: when started
/// as the daemon (`-f`) only, or for `-p` too (`both`).
fn broken_bird(dir: &Path, both: bool) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).expect("bin dir");
    let when = if both { "*" } else { "*\" -f \"*" };
    let script = format!(
        "#!/bin/sh\n\
         case \" $* \" in\n  {when})\n    \
         for a; do case \"$a\" in *.conf) conf=\"$a\";; esac; done\n    \
         cp \"$conf\" \"$conf.broken\" && echo '{BROKEN}' >> \"$conf.broken\"\n    \
         for a; do shift; if [ \"$a\" = \"$conf\" ]; then set -- \"$@\" \"$conf.broken\"; else set -- \"$@\" \"$a\"; fi; done\n    \
         exec \"$REAL_BIRD\" \"$@\";;\nesac\nexec \"$REAL_BIRD\" \"$@\"\n"
    );
    let path = dir.join("bird");
    std::fs::write(&path, script).expect("the broken bird");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

fn real_bird() -> String {
    let o = Command::new("sh")
        .args(["-c", "command -v bird"])
        .output()
        .expect("sh");
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// `vifgate sim up` of the example as lab `lab`, with the broken `bird`
/// of `bin` first on `PATH` and the extra environment `env`; its output,
/// after `sim down`.
fn sim_up_with(
    bin: &Path,
    lab: &str,
    env: &[(&str, &str)],
) -> (std::process::Output, std::time::Duration) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let started = Instant::now();
    let out = Command::new(common::vifgate())
        .args(["sim", "up", "examples/yeohaengjigi.toml", "--lab", lab])
        .current_dir(root)
        .env("PATH", path)
        .env("REAL_BIRD", real_bird())
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("vifgate runs");
    let took = started.elapsed();
    let _ = Command::new(common::vifgate())
        .args(["sim", "down", lab])
        .stdin(Stdio::null())
        .output();
    (out, took)
}

#[test]
fn a_bird_config_bird_refuses_stops_sim_up_at_once_with_birds_line() {
    if !(common::can_run("a_bird_config_bird_refuses_stops_sim_up_at_once_with_birds_line")
        && common::need_tool("nft")
        && common::need_bird())
    {
        return;
    }
    let base = std::env::temp_dir().join(format!("vifgate-startup-{}", std::process::id()));
    for (both, said) in [
        // the check before the start
        (true, "bird refused the configuration: bird: "),
        // the start itself
        (false, "exited during start-up: bird: "),
    ] {
        let bin = base.join(if both { "check" } else { "start" });
        broken_bird(&bin, both);
        let lab = format!("su{}{}", std::process::id() % 100_000, u8::from(both));
        let (out, took) = sim_up_with(&bin, &lab, &[]);
        let o = text(&out);
        eprintln!("sim up with a broken BIRD (-p too: {both}) failed after {took:?}");
        assert!(!out.status.success(), "{o}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(said), "{o}");
        // BIRD's own words: the file, line and column of the line it refused
        assert!(stderr.contains(".conf.broken:"), "{o}");
        assert!(stderr.contains("syntax error"), "{o}");
        assert!(!stderr.contains("not Established"), "{o}");
    }
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn a_gateway_that_exits_during_start_up_stops_sim_up_with_its_line() {
    if !(common::can_run("a_gateway_that_exits_during_start_up_stops_sim_up_with_its_line")
        && common::need_tool("nft"))
    {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("vifgate-startup-gw-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    // the gateway the lab starts (`VIFGATE_BIN`) refuses to start; the
    // rest of what the lab runs of vifgate is the real one
    let fake = dir.join("vifgate");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\nif [ \"$1\" = gateway ]; then echo 'starting'; echo 'error: {{config}}:3:1: no such key' >&2; exit 1; fi\nexec {} \"$@\"\n",
            common::vifgate()
        ),
    )
    .expect("the fake gateway");
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let lab = format!("sg{}", std::process::id() % 100_000);
    let (out, took) = sim_up_with(&dir, &lab, &[("VIFGATE_BIN", &fake.to_string_lossy())]);
    eprintln!("sim up with a gateway that exits failed after {took:?}");
    let _ = std::fs::remove_dir_all(&dir);
    let o = text(&out);
    assert!(!out.status.success(), "{o}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("exited during start-up: error: {config}:3:1: no such key"),
        "{o}"
    );
}

/// A directory of links to every program of `PATH` but `hidden`: a
/// machine where `hidden` is not installed.
fn path_without(dir: &Path, hidden: &str) -> String {
    std::fs::create_dir_all(dir).expect("bin dir");
    let path = std::env::var_os("PATH").unwrap_or_default();
    for d in std::env::split_paths(&path) {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let name = entry.file_name();
            let link = dir.join(&name);
            if name != hidden && !link.exists() {
                let _ = std::os::unix::fs::symlink(entry.path(), link);
            }
        }
    }
    dir.display().to_string()
}

#[test]
fn a_daemon_missing_stops_sim_up_before_it_builds_naming_the_program() {
    if !(common::can_run("a_daemon_missing_stops_sim_up_before_it_builds_naming_the_program")
        && common::need_tool("nft")
        && common::need_bird())
    {
        return;
    }
    let base = std::env::temp_dir().join(format!("vifgate-startup-missing-{}", std::process::id()));
    for (hidden, needs) in [("bird", "BIRD vgw"), ("haproxy", "the load balancer alb")] {
        let path = path_without(&base.join(hidden), hidden);
        let lab = format!("sm{}{}", std::process::id() % 100_000, &hidden[..1]);
        let started = Instant::now();
        let out = Command::new(common::vifgate())
            .args(["sim", "up", "examples/yeohaengjigi.toml", "--lab", &lab])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("PATH", &path)
            .stdin(Stdio::null())
            .output()
            .expect("vifgate runs");
        let took = started.elapsed();
        common::leftovers::assert_gone(&lab, "after a sim up without its daemon");
        let o = text(&out);
        assert!(!out.status.success(), "{o}");
        // on main: "check BIRD vgw's configuration: No such file or
        // directory", or HAProxy's, after the namespaces were made
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!(
                "`{hidden}` is not installed (not found on PATH): {needs} needs it"
            )),
            "{o}"
        );
        assert!(took < std::time::Duration::from_secs(5), "{took:?}: {o}");
    }
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn a_rebuild_that_fails_says_the_lab_is_down_now() {
    if !(common::can_run("a_rebuild_that_fails_says_the_lab_is_down_now")
        && common::need_tool("nft")
        && common::need_bird())
    {
        return;
    }
    let bin = std::env::temp_dir().join(format!("vifgate-startup-rebuild-{}", std::process::id()));
    broken_bird(&bin, true);
    let lab = format!("sr{}", std::process::id() % 100_000);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let vifgate = |args: &[&str], path: Option<String>| {
        let mut c = Command::new(common::vifgate());
        c.args(args)
            .current_dir(root)
            .env("REAL_BIRD", real_bird())
            .stdin(Stdio::null());
        if let Some(p) = path {
            c.env("PATH", p);
        }
        c.output().expect("vifgate runs")
    };
    let up = vifgate(
        &["sim", "up", "examples/yeohaengjigi.toml", "--lab", &lab],
        None,
    );
    assert!(up.status.success(), "{}", text(&up));
    // the rebuild's BIRD refuses its configuration
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = vifgate(
        &[
            "sim",
            "apply",
            "examples/yeohaengjigi.toml",
            "--lab",
            &lab,
            "--rebuild",
        ],
        Some(path),
    );
    let _ = vifgate(&["sim", "down", &lab], None);
    let _ = std::fs::remove_dir_all(&bin);
    let o = text(&out);
    assert!(!out.status.success(), "{o}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    // on main: only BIRD's refusal, as if the lab were as it was
    assert!(
        stderr.contains(&format!("lab `{lab}` was taken down to be rebuilt from examples/yeohaengjigi.toml, and building it again failed: it is down now")),
        "{o}"
    );
    assert!(stderr.contains("bird refused the configuration"), "{o}");
}
