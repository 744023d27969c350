//! A running BGP daemon given its new configuration in place: BIRD by
//! `birdc configure`, FRR line by line through `vtysh`.

use std::collections::{BTreeMap, BTreeSet};

use super::daemons::write_run_dir;
use super::*;
use crate::plan::frr::FrrSpec;

/// Checks BIRD's new configuration (`bird -p`), puts it in place and has
/// the running BIRD read it (`birdc configure`).
pub(super) fn reconfigure_bird(b: &plan::bird::BirdSpec) -> io::Result<()> {
    let tmp = b.config_path.with_extension("conf.new");
    write_new(&tmp, b.config.as_bytes(), 0o644)?;
    if let Err(e) = super::check::bird(&tmp) {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    fs::rename(&tmp, &b.config_path)?;
    let out = Command::new("birdc")
        .arg("-s")
        .arg(&b.socket)
        .arg("configure")
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() || !text.contains("econfigur") {
        return Err(io::Error::other(format!(
            "birdc configure: {}{}",
            text.trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// Gives a running FRR its new configuration through `vtysh`: the lines
/// gone (`no ...`), then the lines new, each under its context (`router
/// bgp`, `address-family`); then writes the files a restart would read.
pub(super) fn reconfigure_frr(f: &FrrSpec, keys: &BTreeMap<String, String>) -> io::Result<()> {
    let cfg = f.with_keys(keys);
    let old = read_no_follow(&f.run_dir.join("bgpd.conf")).unwrap_or_default();
    let (gone, new) = config_changes(&old, &cfg.bgpd);
    let vtysh = |lines: &[(Vec<String>, String)], negate: bool| -> io::Result<String> {
        let mut cmd = Command::new("vtysh");
        cmd.arg("--vty_socket").arg(&f.run_dir).args(["-d", "bgpd"]);
        for (ctx, line) in lines {
            cmd.args(["-c", "configure terminal"]);
            for c in ctx {
                cmd.args(["-c", c]);
            }
            let line = if negate {
                format!("no {line}")
            } else {
                line.clone()
            };
            cmd.args(["-c", &line, "-c", "end"]);
        }
        let out = cmd.output()?;
        Ok(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    };
    if !gone.is_empty() {
        // a line already gone with its context is no error
        let said = vtysh(&gone, true)?;
        debug!(node = %f.node, "vtysh (removals): {said}");
    }
    if !new.is_empty() {
        let said = vtysh(&new, false)?;
        if said.contains('%') {
            return Err(io::Error::other(format!("vtysh: {}", said.trim())));
        }
    }
    write_run_dir(&f.run_dir, &cfg)
}

/// The lines of an FRR configuration each with its context (the lines
/// above it that it is indented under), and the two sets of changes from
/// `old` to `new`: the lines gone (deepest first) and the lines new.
type Contextual = (Vec<String>, String);

pub(super) fn config_changes(old: &str, new: &str) -> (Vec<Contextual>, Vec<Contextual>) {
    fn lines(text: &str) -> Vec<Contextual> {
        let mut stack: Vec<(usize, String)> = Vec::new();
        let mut out = Vec::new();
        for l in text.lines() {
            let t = l.trim();
            if t.is_empty() || t.starts_with('!') || t.starts_with("exit") {
                continue;
            }
            let depth = l.len() - l.trim_start().len();
            while stack.last().is_some_and(|(d, _)| *d >= depth) {
                stack.pop();
            }
            let ctx: Vec<String> = stack.iter().map(|(_, s)| s.clone()).collect();
            out.push((ctx, t.to_string()));
            stack.push((depth, t.to_string()));
        }
        out
    }
    let (o, n) = (lines(old), lines(new));
    let os: BTreeSet<&Contextual> = o.iter().collect();
    let ns: BTreeSet<&Contextual> = n.iter().collect();
    let mut gone: Vec<Contextual> = o.iter().filter(|l| !ns.contains(l)).cloned().collect();
    // a context removed takes its lines: only the outermost line is negated
    let removed: BTreeSet<Vec<String>> = gone
        .iter()
        .map(|(c, l)| {
            let mut p = c.clone();
            p.push(l.clone());
            p
        })
        .collect();
    gone.retain(|(c, _)| !(1..=c.len()).any(|k| removed.contains(&c[..k])));
    gone.reverse();
    let new_lines = n.iter().filter(|l| !os.contains(l)).cloned().collect();
    (gone, new_lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_frr_change_is_its_lines_under_their_contexts() {
        let old = "router bgp 65000\n bgp router-id 1.1.1.1\n !\n address-family ipv4 unicast\n  network 10.0.0.0/24\n  network 10.0.1.0/24\n exit-address-family\nexit\n!\nroute-map a permit 10\n set local-preference 200\nexit\n";
        let new = "router bgp 65000\n bgp router-id 1.1.1.1\n !\n address-family ipv4 unicast\n  network 10.0.0.0/24\n  network 10.0.2.0/24\n exit-address-family\nexit\n!\n";
        let (gone, added) = config_changes(old, new);
        let af = vec![
            "router bgp 65000".to_string(),
            "address-family ipv4 unicast".to_string(),
        ];
        assert_eq!(
            gone,
            vec![
                (Vec::new(), "route-map a permit 10".to_string()),
                (af.clone(), "network 10.0.1.0/24".to_string()),
            ]
        );
        assert_eq!(added, vec![(af, "network 10.0.2.0/24".to_string())]);
        assert_eq!(config_changes(new, new), (Vec::new(), Vec::new()));
    }
}
