//! `vifgate bench flow-log`: what VPC flow logs cost per packet. The same
//! packets through the router core with the flow log off and on (the
//! aggregator per packet, the records rendered and appended to a real
//! file at each interval's end, as the shell does), interleaved in one
//! run; and a flood of distinct flows past the interval's bound.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Result;

use super::median;
use super::packets::{flow_packet, router_config, Sink};

/// The router's configuration: one group allowing tcp/443 out (tracked,
/// so only a flow's first packet meets the rules) and a flow log to `log`.
fn config(
    peer: &str,
    flows: usize,
    max_flows: usize,
    log: &std::path::Path,
) -> Result<gateway::config::GatewayConfig> {
    router_config(
        peer,
        flows + 16,
        &format!(
            "[policy]\nsecurity_groups = [\"out\"]\n[[policy.security_group]]\nname = \"out\"\negress = [{{ protocol = \"tcp\", ports = 443, cidr = \"0.0.0.0/0\" }}]\n[flow_logs]\ndestination = \"{}\"\naggregation_interval = 10\nmax_flows = {max_flows}\n",
            log.display()
        ),
    )
}

/// One pass: `packets` packets cycling over `flows` flows, on a hand clock
/// spanning `intervals` aggregation intervals; with the flow log, the
/// records of each closed interval written to the file. Time and records.
fn pass(
    config: &gateway::config::GatewayConfig,
    packets: &mut [Vec<u8>],
    total: usize,
    intervals: u32,
    flow_log: bool,
) -> Result<(Duration, usize)> {
    use gateway::flow_log::FlowAggregator;
    use gateway::keys::PrivateKey;
    use gateway::router::Router;
    use gateway::shell::FlowLogWriter;
    let t0 = Instant::now();
    let mut router = Router::with_key(config, PrivateKey::generate()?, t0)?;
    let fl = config
        .flow_logs
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("no [flow_logs]"))?;
    let mut writer = None;
    if flow_log {
        let unix = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
        router.start_flow_log(FlowAggregator::new(fl.aggregator, t0, unix));
        writer = Some(FlowLogWriter::open(fl)?);
    }
    let span = fl.aggregator.interval * intervals;
    let step = span / total as u32;
    let mut sink = Sink(0);
    let mut written = 0;
    let start = Instant::now();
    let mut now = t0;
    for i in 0..total {
        let n = packets.len();
        router.handle_tun(now, &mut packets[i % n], &mut sink);
        now += step;
        // the shell's loop: poll when the interval's end has passed
        if let Some(w) = &mut writer {
            if router.flow_log_deadline().is_some_and(|d| now >= d) {
                let records = router.poll_flow_records(now);
                written += records.len();
                w.write(&records)?;
            }
        }
    }
    Ok((start.elapsed(), written))
}

/// Off and on, interleaved, three runs each; the medians.
fn compare(
    label: &str,
    config: &gateway::config::GatewayConfig,
    packets: &mut [Vec<u8>],
    total: usize,
    intervals: u32,
) -> Result<()> {
    let (mut off, mut on) = (Vec::new(), Vec::new());
    let mut records = 0;
    for _ in 0..3 {
        off.push(pass(config, packets, total, intervals, false)?.0);
        let (t, r) = pass(config, packets, total, intervals, true)?;
        on.push(t);
        records = r;
    }
    let (off, on) = (median(off), median(on));
    let ns = |d: Duration| d.as_secs_f64() * 1e9 / total as f64;
    println!(
        "  {label}: off {:.0} ns/packet, on {:.0} ns/packet, on/off {:.3} (+{:.0} ns/packet); {records} records written",
        ns(off),
        ns(on),
        on.as_secs_f64() / off.as_secs_f64(),
        ns(on) - ns(off)
    );
    Ok(())
}

/// `packets` packets over `flows` flows, then a flood of distinct flows.
pub(super) fn run(packets: usize, flows: usize) -> Result<ExitCode> {
    use gateway::keys::PrivateKey;
    let peer = PrivateKey::generate()?.public_key().to_base64();
    let dir = std::env::temp_dir().join(format!("vifgate-bench-flowlog-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let log = dir.join("flows.log");
    println!(
        "flow log benchmark: {packets} packets from the LAN through the router core (NACL-less, conntrack, one security group, encapsulation queue), 10 s intervals on a hand clock, records appended to {}",
        log.display()
    );
    let flows = flows.max(1);
    let mut established: Vec<Vec<u8>> = (0..flows).map(flow_packet).collect();
    compare(
        &format!("{flows} flows, 10 intervals"),
        &config(&peer, flows, 100_000, &log)?,
        &mut established,
        packets,
        10,
    )?;
    // every packet a new flow: the interval's table fills (10,000) and the
    // rest is one SKIPDATA record per interval
    let mut flood: Vec<Vec<u8>> = (0..packets).map(flow_packet).collect();
    compare(
        &format!("{packets} distinct flows (max_flows 10000), 2 intervals"),
        &config(&peer, packets, 10_000, &log)?,
        &mut flood,
        packets,
        2,
    )?;
    let size = std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
    println!("  file written: {size} bytes in all runs");
    let _ = std::fs::remove_dir_all(&dir);
    Ok(ExitCode::SUCCESS)
}
