//! `vifgate gateway` and `vifgate status`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use serde_json::Value;

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
                        eprintln!("error: {e}");
                        return Ok(ExitCode::FAILURE);
                    }
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
    let v = gateway::shell::query_status(socket).with_context(|| {
        format!(
            "no gateway answers on {} (is it running? are you root?)",
            socket.display()
        )
    })?;
    if json {
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", render(&v));
    Ok(ExitCode::SUCCESS)
}

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

fn secs(v: &Value) -> String {
    v.as_f64()
        .map(|x| format!("{x:.1}s ago"))
        .unwrap_or_else(|| "never".into())
}

/// The human form of a status document.
pub fn render(v: &Value) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    let _ = writeln!(o, "policy: {}", s(&v["policy"]));
    for p in v["peers"].as_array().into_iter().flatten() {
        let _ = writeln!(
            o,
            "\npeer {} ({})\n  endpoint: {}\n  alive: {}\n  last handshake: {}\n  last packet: {}\n  transfer: {} B received, {} B sent\n  routes in use: {}",
            s(&p["name"]),
            s(&p["public_key"]),
            s(&p["endpoint"]),
            s(&p["alive"]),
            secs(&p["last_handshake_secs"]),
            secs(&p["last_rx_secs"]),
            s(&p["rx_bytes"]),
            s(&p["tx_bytes"]),
            p["routes_in_use"]
                .as_array()
                .map(|a| a.iter().map(s).collect::<Vec<_>>().join(", "))
                .filter(|x| !x.is_empty())
                .unwrap_or_else(|| "none".into()),
        );
    }
    let _ = writeln!(
        o,
        "\nconnection tracking: {} of {} flows",
        s(&v["conntrack_flows"]),
        s(&v["conntrack_capacity"])
    );
    if let Some(d) = v["drops"].as_object() {
        let list: Vec<String> = d
            .iter()
            .filter(|(_, n)| n.as_u64() != Some(0))
            .map(|(k, n)| format!("{k} {}", s(n)))
            .collect();
        let _ = writeln!(
            o,
            "drops: {}",
            if list.is_empty() {
                "none".into()
            } else {
                list.join(", ")
            }
        );
    }
    let rules = v["rules"].as_array().cloned().unwrap_or_default();
    if !rules.is_empty() {
        let _ = writeln!(o, "\nrule hits:");
        for r in rules {
            let _ = writeln!(
                o,
                "  {} {} {} rule {}: {}",
                s(&r["kind"]),
                s(&r["name"]),
                s(&r["direction"]),
                s(&r["rule"]),
                s(&r["hits"])
            );
        }
    }
    o
}
