//! `vifgate gateway` and `vifgate status`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result};

/// `vifgate gateway --config FILE [--check]`: runs in the foreground.
pub fn gateway(config: &Path, check: bool) -> Result<ExitCode> {
    if check {
        return match gateway::config::load(config) {
            Ok(c) => {
                for w in &c.warnings.0 {
                    eprint!("{w}");
                }
                let keys = std::iter::once(
                    gateway::keys::read_private_key_file(&c.interface.private_key_file).map(|_| ()),
                )
                .chain(
                    c.peers
                        .iter()
                        .filter_map(|p| p.preshared_key_file.as_ref())
                        .map(|f| gateway::keys::read_preshared_key_file(f).map(|_| ())),
                );
                for k in keys {
                    if let Err(e) = k {
                        // with its cause, as a start and a reload say it
                        eprintln!("error: {:#}", anyhow::Error::new(e));
                        return Ok(ExitCode::FAILURE);
                    }
                }
                // the state of the box, not of the file
                let mut failed = false;
                for f in gateway::shell::preflight(&c) {
                    failed |= f.error;
                    let kind = if f.error { "error" } else { "note" };
                    eprintln!("{kind}: {}", f.message);
                }
                if failed {
                    return Ok(ExitCode::FAILURE);
                }
                println!(
                    "{}: valid ({} peers, {} routes, policy: {})",
                    config.display(),
                    c.peers.len(),
                    c.routes.len(),
                    c.policy.origin
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(d) => {
                eprint!("{d}");
                Ok(ExitCode::FAILURE)
            }
        };
    }
    match gateway::shell::run(config) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(gateway::shell::ShellError::Config(d)) => {
            eprint!("{d}");
            Ok(ExitCode::FAILURE)
        }
        Err(e) => Err(e.into()),
    }
}

/// The socket of a gateway: given, or derived from the interface name.
/// With neither, the one gateway running (the only socket in
/// /run/vifgate), else `vifgate0`.
pub fn socket_path(socket: Option<PathBuf>, interface: Option<String>) -> PathBuf {
    if let Some(s) = socket {
        return s;
    }
    if let Some(i) = interface {
        return PathBuf::from(format!("/run/vifgate/{i}.sock"));
    }
    let running: Vec<PathBuf> = std::fs::read_dir("/run/vifgate")
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "sock"))
                .collect()
        })
        .unwrap_or_default();
    match running.as_slice() {
        [one] => one.clone(),
        _ => PathBuf::from("/run/vifgate/vifgate0.sock"),
    }
}

/// `vifgate status`: asks a running gateway.
pub fn status(socket: &Path, json: bool) -> Result<ExitCode> {
    let status = gateway::shell::query_status(socket).with_context(|| {
        format!(
            "no gateway answers on {} (is it running? are you root?)",
            socket.display()
        )
    })?;
    if json {
        // through a JSON value, whose objects keep their keys in name
        // order, as this output always had them
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::to_value(&status)?)?
        );
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", status.render());
    Ok(ExitCode::SUCCESS)
}
