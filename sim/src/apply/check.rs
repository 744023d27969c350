//! A configuration checked by its own daemon before the lab starts it
//! (`bird -p -c FILE`, `haproxy -c -f FILE`), so that a file the daemon
//! refuses is reported at once, in the daemon's words, instead of as a
//! control socket that never answers.

use std::ffi::OsStr;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::plan::Plan;

/// Every program the daemons of `plan` are started or driven with
/// (`bird`, `haproxy`, `vtysh` and FRR's daemons), each found on `PATH`
/// (or at its path), before anything is built: a missing one is an error
/// naming it and what needs it, where starting it would fail later and
/// say less ("No such file or directory", or a BGP wait that ends after
/// its 10 s).
pub fn installed(plan: &Plan) -> io::Result<()> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    match missing(plan, &path) {
        None => Ok(()),
        Some((program, who)) => Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "`{program}` is not installed (not found on PATH): {who} needs it; `./scripts/test.sh` installs the lab's daemons on Debian"
            ),
        )),
    }
}

/// The first program of `plan` that `path` (a `PATH` value) does not
/// hold, with what needs it.
fn missing(plan: &Plan, path: &OsStr) -> Option<(String, String)> {
    let mut needed: Vec<(String, String)> = Vec::new();
    for b in &plan.bird.daemons {
        needed.extend(
            b.command()
                .into_iter()
                .next()
                .map(|p| (p, format!("BIRD {}", b.name))),
        );
    }
    for h in &plan.haproxy {
        needed.push(("haproxy".into(), format!("the load balancer {}", h.node)));
    }
    for f in &plan.frr {
        let who = format!("FRR of {}", f.node);
        needed.push(("vtysh".into(), who.clone()));
        for c in f.commands() {
            needed.extend(c.argv.into_iter().next().map(|p| (p, who.clone())));
        }
    }
    needed
        .into_iter()
        .find(|(program, _)| find_program(program, path).is_none())
}

/// Where `program` is: itself when it names a path, else the first
/// executable file of that name in the directories of `path`.
fn find_program(program: &str, path: &OsStr) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &Path| {
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        let p = PathBuf::from(program);
        return executable(&p).then_some(p);
    }
    std::env::split_paths(path)
        .map(|d| d.join(program))
        .find(|p| executable(p))
}

/// The BIRD configuration at `path`, parsed by `bird -p`.
pub fn bird(path: &Path) -> io::Result<()> {
    run(Command::new("bird").arg("-p").arg("-c").arg(path))
}

/// The HAProxy configuration at `path`, checked by `haproxy -c -q`.
pub fn haproxy(path: &Path) -> io::Result<()> {
    run(Command::new("haproxy")
        .arg("-c")
        .arg("-q")
        .arg("-f")
        .arg(path))
}

/// Runs a checker: its refusal as an error holding its last meaningful
/// line ([`last_meaningful_line`]).
fn run(cmd: &mut Command) -> io::Result<()> {
    let out = cmd.output()?;
    if out.status.success() {
        return Ok(());
    }
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Err(io::Error::other(format!(
        "{} refused the configuration: {}",
        cmd.get_program().to_string_lossy(),
        last_meaningful_line(&text).unwrap_or("(no output)")
    )))
}

/// HAProxy's closing lines, which only sum up the alert above them.
const SUMMARIES: [&str; 2] = [
    "Fatal errors found",
    "Some protocols failed to start their listeners",
];

/// The last line of a daemon's output that says something: not blank,
/// not one of HAProxy's closing summaries ([`SUMMARIES`]: `Fatal errors
/// found in configuration.`, `Some protocols failed to start their
/// listeners! Exiting.`).
pub fn last_meaningful_line(text: &str) -> Option<&str> {
    text.lines()
        .map(str::trim)
        .rev()
        .find(|l| !l.is_empty() && !SUMMARIES.iter().any(|s| l.contains(s)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_daemons_line_is_kept() {
        let t = "[ALERT] parsing [x.cfg:3] : unknown keyword 'bakend'\n[ALERT] Fatal errors found in configuration.\n\n";
        assert_eq!(
            last_meaningful_line(t),
            Some("[ALERT] parsing [x.cfg:3] : unknown keyword 'bakend'")
        );
        assert_eq!(last_meaningful_line("\n \n"), None);
        // a port taken: the bind's alert, not the summary after it
        let t = "[NOTICE]   (7) : path to executable is /usr/sbin/haproxy\n\
                 [ALERT]    (7) : Binding [h.cfg:9] for frontend f80: cannot bind socket (Address already in use) for [0.0.0.0:80]\n\
                 [ALERT]    (7) : [haproxy.main()] Some protocols failed to start their listeners! Exiting.\n";
        assert_eq!(
            last_meaningful_line(t),
            Some("[ALERT]    (7) : Binding [h.cfg:9] for frontend f80: cannot bind socket (Address already in use) for [0.0.0.0:80]")
        );
    }

    #[test]
    fn a_program_missing_from_path_is_named_with_what_needs_it() {
        use std::os::unix::fs::PermissionsExt;
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../examples/yeohaengjigi.toml"
        ))
        .expect("the example");
        let t = topology::parse("example.toml", text)
            .expect("the example loads")
            .topology;
        let plan = crate::plan::plan(&t, "chk", &[22, 80]).expect("plan");
        let bin = std::env::temp_dir().join(format!("vifgate-check-bin-{}", std::process::id()));
        std::fs::create_dir_all(&bin).expect("bin dir");
        let put = |name: &str, mode: u32| {
            let p = bin.join(name);
            std::fs::write(&p, "#!/bin/sh\n").expect("write");
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).expect("chmod");
        };
        let empty = std::ffi::OsString::new();
        let got = missing(&plan, &empty);
        // a file of that name that cannot run is not the program
        put("bird", 0o644);
        let not_executable = missing(&plan, bin.as_os_str());
        put("bird", 0o755);
        let no_haproxy = missing(&plan, bin.as_os_str());
        put("haproxy", 0o755);
        let none = missing(&plan, bin.as_os_str());
        let _ = std::fs::remove_dir_all(&bin);
        assert_eq!(got, Some(("bird".into(), "BIRD vgw".into())));
        assert_eq!(not_executable, got);
        assert_eq!(
            no_haproxy,
            Some(("haproxy".into(), "the load balancer alb".into()))
        );
        assert_eq!(none, None);
    }

    #[test]
    fn a_config_bird_refuses_is_an_error_with_its_line() {
        if !crate::ops::lab::need_tool("bird") {
            return;
        }
        let path = std::env::temp_dir().join(format!("vifgate-check-{}.conf", std::process::id()));
        std::fs::write(&path, "router id 1.1.1.1;\nprotocol device filter { }\n").expect("write");
        let e = bird(&path).expect_err("a keyword as a name");
        let _ = std::fs::remove_file(&path);
        assert!(e.to_string().contains(":2:"), "{e}");
        assert!(
            e.to_string()
                .starts_with("bird refused the configuration: bird: "),
            "{e}"
        );
    }
}
