//! `vifgate bench bgp-failover`: the lab's BGP timed on the example with
//! its VPN on BGP — how long after BIRD starts every session is
//! Established, and how long after a silent cut of the Direct Connect link
//! the VGW routes the office over the VPN and traffic answers again, with
//! BFD 300 ms x 3 and with the hold timer alone, and with BFD when the
//! office box is played by FRR instead of BIRD. Each run builds its own
//! lab (root).

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use sim::ops::failover::{self, FailoverRun, FailoverSpec, Variant};
use sim::ops::lab::{Lab, LabOptions};
use sim::probe::ProbeKind;

use super::median;

/// One setting's figures over its runs.
struct Figures {
    up: Vec<Duration>,
    runs: Vec<FailoverRun>,
}

fn secs(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64())
}

/// Median (min-max) of a figure, in seconds.
fn spread(v: Vec<Duration>) -> String {
    let (lo, hi) = (
        v.iter().min().copied().unwrap_or_default(),
        v.iter().max().copied().unwrap_or_default(),
    );
    format!("{} ({}-{})", secs(median(v)), secs(lo), secs(hi))
}

/// `runs` labs of the example set up as `variant` says, the office box
/// played by FRR when `frr_office`.
fn measure(example: &Path, variant: Variant, frr_office: bool, runs: usize) -> Result<Figures> {
    let text =
        std::fs::read_to_string(example).with_context(|| format!("read {}", example.display()))?;
    let mut text = variant
        .toml(&text)
        .map_err(|e| anyhow::anyhow!("{}: {e}", example.display()))?;
    if frr_office {
        text = sim::plan::frr::with_frr_office(&text, "vifgate-office");
    }
    let opts = LabOptions {
        vifgate: Some(std::env::current_exe()?),
        ..LabOptions::default()
    };
    let mut f = Figures {
        up: Vec::new(),
        runs: Vec::new(),
    };
    let timeout = Duration::from_secs(variant.hold_time.map_or(20, |h| u64::from(h) + 20));
    for _ in 0..runs {
        let lab = Lab::from_toml(&example.display().to_string(), &text, &opts)
            .map_err(|e| anyhow::anyhow!("lab up: {e}"))?;
        let up = lab
            .up_report()
            .bgp_established_seconds
            .context("no BGP session in the lab")?;
        f.up.push(Duration::from_secs_f64(up));
        let run = failover::measure(
            &lab,
            &FailoverSpec {
                office_node: "vifgate-office".into(),
                link: "dx-vif".into(),
                from: "office-pc".into(),
                to: "bastion".into(),
                kind: ProbeKind::Tcp(22),
                office_addr: "192.168.10.10".parse()?,
                timeout,
            },
        )
        .map_err(|e| anyhow::anyhow!("failover: {e}"))?;
        f.runs.push(run);
        lab.down()?;
    }
    Ok(f)
}

/// `vifgate bench bgp-failover`.
pub(super) fn run(example: &Path, runs: usize, hold_time: u16) -> Result<ExitCode> {
    // SAFETY: no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        anyhow::bail!("`vifgate bench bgp-failover` needs root (network namespaces)");
    }
    let runs = runs.max(1);
    println!(
        "the example (its VPN on BGP unless said), DX cut silently and restored; {runs} run(s) each, median (min-max) in seconds"
    );
    println!(
        "| setting | sessions Established after BIRD start | VGW route on the VPN after the cut | office-pc -> bastion tcp/22 answers after the cut | VGW route back on DX after the restore |"
    );
    println!("|---|---|---|---|---|");
    let bfd = Variant {
        bfd: true,
        hold_time: None,
        bgp_vpn: true,
    };
    for (name, variant, frr_office) in [
        ("BFD 300 ms x 3".to_string(), bfd, false),
        (
            format!("hold timer {hold_time} s, no BFD"),
            Variant {
                bfd: false,
                hold_time: Some(hold_time),
                bgp_vpn: true,
            },
            false,
        ),
        ("BFD 300 ms x 3, FRR office".to_string(), bfd, true),
        (
            "BFD 300 ms x 3, static VPN".to_string(),
            Variant {
                bgp_vpn: false,
                ..bfd
            },
            false,
        ),
    ] {
        let f = measure(example, variant, frr_office, runs)?;
        println!(
            "| {name} | {} | {} | {} | {} |",
            spread(f.up),
            spread(f.runs.iter().map(|r| r.vgw_route_moved).collect()),
            spread(f.runs.iter().map(|r| r.traffic_back).collect()),
            spread(f.runs.iter().map(|r| r.vgw_route_back).collect()),
        );
    }
    Ok(ExitCode::SUCCESS)
}
