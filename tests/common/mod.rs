//! Helpers for the root crate's integration tests. The namespace lab is
//! the simulator's [`sim::ops::lab::TestNet`] (namespaces, veth pairs and
//! processes with a per-run prefix, removed on drop), re-exported here as
//! `Lab`; what is here needs the vifgate binary under test.
#![allow(dead_code, unused_imports)]

use std::path::{Path, PathBuf};

pub use sim::ops::lab::{can_run, need_tool, sh, TestNet as Lab};

pub mod applied;
pub mod browser;
pub mod cases;
pub mod fixture;
pub mod lab;
pub mod leftovers;
pub mod requests;
pub mod scaling;
pub mod state_root;

/// A finished command's exit status and output, for assertion messages.
pub fn text(o: &std::process::Output) -> String {
    format!(
        "status {}\n--- stdout\n{}--- stderr\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The vifgate binary under test.
pub fn vifgate() -> &'static str {
    env!("CARGO_BIN_EXE_vifgate")
}

/// A new private key written to `dir/name` with mode 600; its public key.
pub fn keypair(dir: &Path, name: &str) -> (PathBuf, String) {
    use std::os::unix::fs::PermissionsExt;
    let o = sh(&[vifgate(), "genkey"]);
    let private = String::from_utf8_lossy(&o.stdout).trim().to_string();
    let path = dir.join(name);
    std::fs::write(&path, format!("{private}\n")).expect("key file");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let key: gateway::keys::PrivateKey = private.parse().expect("a key");
    (path, key.public_key().to_base64())
}

/// Whether BIRD and its client are installed (see [`need_tool`]).
pub fn need_bird() -> bool {
    need_tool("bird") && need_tool("birdc")
}

/// Whether FRR's daemons (those a lab starts) and `vtysh` are installed.
pub fn need_frr() -> bool {
    need_tool("vtysh")
        && ["zebra", "bfdd", "bgpd"]
            .iter()
            .all(|d| need_tool(&format!("{}/{d}", sim::render::frr::FRR_DAEMONS)))
}

/// Writes `NAME.conf` in the lab's directory and starts BIRD in the
/// foreground in `ns` with it, its own control socket `NAME.ctl` and pid
/// file (never the system's); waits for the socket, which it returns. The
/// lab kills BIRD when dropped.
pub fn start_bird(lab: &mut Lab, name: &str, ns: &str, config: &str) -> PathBuf {
    let conf = lab.dir.join(format!("{name}.conf"));
    std::fs::write(&conf, config).expect("bird.conf");
    let socket = lab.dir.join(format!("{name}.ctl"));
    let pid = lab.dir.join(format!("{name}.pid"));
    let (c, s, p) = (
        conf.display().to_string(),
        socket.display().to_string(),
        pid.display().to_string(),
    );
    lab.spawn(name, ns, &["bird", "-f", "-c", &c, "-s", &s, "-P", &p], &[]);
    assert!(
        lab.wait_for(std::time::Duration::from_secs(5), || socket.exists()),
        "{name} did not start: {}",
        lab.log(name)
    );
    socket
}

pub use fixture::{fixture, fixtures};

/// The directory of the CloudFormation fixtures (`tests/fixtures/cfn/`:
/// third-party templates kept in the repository, with their `SOURCES.md`
/// and licence), once each of `names` in it is there; `None` when one is
/// absent outside CI, where the test returns (see [`fixture`]).
pub fn cfn_fixture_dir(names: &[&str]) -> Option<PathBuf> {
    let dir = cfn_fixtures();
    for name in names {
        fixture(dir.join(name))?;
    }
    Some(dir)
}

/// The directory of the CloudFormation fixtures, unchecked: prefer
/// [`cfn_fixture_dir`], which fails under CI when a template is missing.
pub fn cfn_fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cfn")
}
