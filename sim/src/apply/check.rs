//! A configuration checked by its own daemon before the lab starts it
//! (`bird -p -c FILE`, `haproxy -c -f FILE`), so that a file the daemon
//! refuses is reported at once, in the daemon's words, instead of as a
//! control socket that never answers.

use std::io;
use std::path::Path;
use std::process::Command;

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

/// The last line of a daemon's output that says something: not blank,
/// not HAProxy's closing `Fatal errors found in configuration.`.
pub fn last_meaningful_line(text: &str) -> Option<&str> {
    text.lines()
        .map(str::trim)
        .rev()
        .find(|l| !l.is_empty() && !l.contains("Fatal errors found"))
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
