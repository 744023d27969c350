//! The office gateway's Prometheus endpoint (`[metrics] listen`) scraped
//! by a real Prometheus server (Debian's `prometheus`) started in the
//! gateway's namespace, with a data directory and configuration of the
//! test's own; the test reads the tunnel's byte counter back through
//! Prometheus's HTTP API before and after a ping and checks it moved; then
//! a reload moves the endpoint to another port. A flow log that holds one
//! flow an interval counts the packets it could not record, and the
//! scrape carries the count, across the reload that restarts the log.
//!
//! ```text
//!  lan1 ── gw1 (vifgate :9586, Prometheus :9090 scraping it every 1 s) ══ gw2 ── lan2
//! ```

use super::*;
use common::text;

/// Where the office gateway serves its metrics, inside gw1.
const METRICS: &str = "127.0.0.1:9586";
/// Where Prometheus answers, inside gw1.
const PROMETHEUS: &str = "127.0.0.1:9090";
/// The series the test follows.
const SENT: &str = r#"vifgate_peer_sent_bytes_total{peer="aws"}"#;
/// The flow log's packets not recorded.
const SKIPPED: &str = "vifgate_flow_log_skipped_packets_total";

/// Starts Prometheus in `ns`, scraping `target` every second.
fn start_prometheus(lab: &mut Lab, ns: &str, target: &str) {
    let config = lab.dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
             scrape_configs:\n  - job_name: vifgate\n    static_configs:\n      - targets: ['{target}']\n"
        ),
    )
    .expect("prometheus.yml");
    let data = lab.dir.join("prometheus-data");
    let args = [
        "prometheus".to_string(),
        format!("--config.file={}", config.display()),
        format!("--storage.tsdb.path={}", data.display()),
        format!("--web.listen-address={PROMETHEUS}"),
        "--log.level=warn".to_string(),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    lab.spawn("prometheus", ns, &args, &[]);
}

/// The value of an instant query through Prometheus's HTTP API
/// (`/api/v1/query`); `None` while it has no sample (or is not up).
fn query(lab: &Lab, ns: &str, promql: &str) -> Option<f64> {
    let o = lab.exec(
        ns,
        &[
            "curl",
            "-sf",
            "--max-time",
            "2",
            "-G",
            &format!("http://{PROMETHEUS}/api/v1/query"),
            "--data-urlencode",
            &format!("query={promql}"),
        ],
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).ok()?;
    assert_eq!(v["status"], "success", "{v}");
    v["data"]["result"][0]["value"][1].as_str()?.parse().ok()
}

#[test]
fn prometheus_scrapes_the_gateway_and_sees_the_tunnel_bytes_move() {
    if !can_run("prometheus_scrapes_the_gateway_and_sees_the_tunnel_bytes_move")
        || !need_tool("prometheus")
        || !need_tool("curl")
    {
        return;
    }
    let mut lab = Lab::new();
    topology(&mut lab);
    let flows = lab.dir.join("flows.log");
    let pair = vifgate_pair_with(
        &mut lab,
        &format!(
            "[metrics]\nlisten = \"{METRICS}\"\n\
             [flow_logs]\ndestination = \"{}\"\naggregation_interval = 10\nmax_flows = 1\n",
            flows.display()
        ),
        "",
    );
    start_prometheus(&mut lab, "gw1", METRICS);
    // Prometheus starts, scrapes the gateway and stores a first sample:
    // before any traffic, the counter is 0
    let mut before = None;
    let scraped = lab.wait_for(Duration::from_secs(15), || {
        before = query(&lab, "gw1", SENT);
        before.is_some()
    });
    assert!(
        scraped,
        "Prometheus never stored {SENT}:\n--- prometheus\n{}\n--- gw1\n{}",
        lab.log("prometheus"),
        lab.log("gw1")
    );
    let before = before.unwrap_or_default();
    assert_eq!(
        query(&lab, "gw1", r#"up{job="vifgate"}"#),
        Some(1.0),
        "the scrape target is up"
    );
    // five 1000-byte pings: at least 5 × 1028 inner bytes into the tunnel
    let o = lab.exec(
        "lan1",
        &[
            "ping",
            "-c",
            "5",
            "-i",
            "0.2",
            "-s",
            "1000",
            "-W",
            "2",
            "10.0.10.10",
        ],
    );
    assert!(o.status.success(), "ping through the tunnel: {}", text(&o));
    let mut after = before;
    let moved = lab.wait_for(Duration::from_secs(8), || {
        after = query(&lab, "gw1", SENT).unwrap_or(before);
        after >= before + 5.0 * 1028.0
    });
    // what the gateway itself counts (its status socket) bounds it
    let counted = status(&lab, "gw1")["peers"][0]["tx_bytes"]
        .as_f64()
        .unwrap_or_default();
    eprintln!("{SENT}: {before} before the ping, {after} after; the gateway counts {counted}");
    assert!(
        moved,
        "{SENT} went from {before} to {after}, not by the 5 pings' 5140 bytes"
    );
    assert!(after <= counted, "{after} scraped > {counted} counted");
    // the flow log holds one flow an interval: of the pings' two (the
    // requests out, the replies in) the other's packets are not recorded,
    // and counted
    let doc = status(&lab, "gw1");
    let skipped = doc["flow_log"]["skipped_packets"].as_u64().unwrap_or(0);
    assert!(skipped >= 1, "no packet skipped: {doc}");
    assert_eq!(
        doc["flow_log"]["skipped_bytes"].as_u64(),
        Some(skipped * 1028),
        "the pings' 1028-byte packets only: {doc}"
    );
    let mut scraped = None;
    let seen = lab.wait_for(Duration::from_secs(8), || {
        scraped = query(&lab, "gw1", SKIPPED);
        scraped == Some(skipped as f64)
    });
    eprintln!("{SKIPPED}: {scraped:?} scraped; the gateway counts {skipped}");
    assert!(seen, "{SKIPPED} scraped {scraped:?}, counted {skipped}");
    // and a wrong path is no metrics page
    let o = lab.exec(
        "gw1",
        &[
            "curl",
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &format!("http://{METRICS}/"),
        ],
    );
    assert_eq!(String::from_utf8_lossy(&o.stdout), "404");

    // a reload moves the endpoint: the new port answers, counting the
    // reload; the old one is closed. It restarts the flow log too (a new
    // max_flows): its count carries on
    let moved_to = "127.0.0.1:9587";
    let config = std::fs::read_to_string(&pair.gw1).expect("config");
    let config = config
        .replace(METRICS, moved_to)
        .replace("max_flows = 1\n", "max_flows = 2\n");
    std::fs::write(&pair.gw1, config).expect("config");
    reload(&lab, "gw1", 1);
    let scrape = |addr: &str| {
        let o = lab.exec(
            "gw1",
            &[
                "curl",
                "-sf",
                "--max-time",
                "2",
                &format!("http://{addr}/metrics"),
            ],
        );
        o.status
            .success()
            .then(|| String::from_utf8_lossy(&o.stdout).to_string())
    };
    let page =
        scrape(moved_to).unwrap_or_else(|| panic!("nothing on {moved_to}:\n{}", lab.log("gw1")));
    assert!(
        page.contains("vifgate_config_reloads_total{result=\"ok\"} 1\n"),
        "{page}"
    );
    assert!(page.contains(&format!("\n{SKIPPED} {skipped}\n")), "{page}");
    assert_eq!(scrape(METRICS), None, "{METRICS} still answers");
}
