//! `vifgate bench acl`: the gateway's ACL classifier, 10 vs 10,000
//! security-group rules and a 20-rule network ACL, through the router core.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::Result;

use super::median;
use super::packets::{flow_packet, router_config, Sink};

/// A policy with `rules` ingress and egress rules in one group, none
/// matching the benchmark's traffic but the last (a /0 on tcp/443): on
/// random ports, or all on tcp/443 with other blocks (the hard case for a
/// classifier that buckets by port); and a 20-rule NACL.
fn policy_text(rules: usize, same_port: bool) -> String {
    let mut t = String::from("[policy]\nsecurity_groups = [\"big\"]\nnacl = \"acl\"\n[[policy.security_group]]\nname = \"big\"\n");
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for dir in ["ingress", "egress"] {
        for _ in 0..rules.saturating_sub(1) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let port = if same_port {
                443
            } else {
                2000 + (x % 30000) as u16
            };
            t += &format!(
                "[[policy.security_group.{dir}]]\nprotocol = \"tcp\"\nports = {port}\ncidr = \"172.{}.{}.0/24\"\n",
                16 + (x >> 20) % 16,
                (x >> 28) % 256
            );
        }
        t += &format!("[[policy.security_group.{dir}]]\nprotocol = \"tcp\"\nports = 443\ncidr = \"0.0.0.0/0\"\n");
    }
    t += "[[policy.network_acl]]\nname = \"acl\"\n";
    for dir in ["ingress", "egress"] {
        for k in 0..19 {
            t += &format!(
                "[[policy.network_acl.{dir}]]\nrule = {}\naction = \"deny\"\nprotocol = \"udp\"\nports = {}\ncidr = \"0.0.0.0/0\"\n",
                10 + k * 10,
                5000 + k
            );
        }
        t += &format!("[[policy.network_acl.{dir}]]\nrule = 1000\naction = \"allow\"\nprotocol = -1\ncidr = \"0.0.0.0/0\"\n");
    }
    t
}

/// `packets` new flows through the router, for four policies.
pub(super) fn run(packets: usize) -> Result<ExitCode> {
    use gateway::keys::PrivateKey;
    let peer = PrivateKey::generate()?.public_key();
    let mut results = Vec::new();
    println!("ACL benchmark: {packets} new TCP flows from the LAN through the router core (NACL, conntrack miss, security groups, conntrack insert, encapsulation)");
    for (rules, same_port) in [
        (10usize, false),
        (10_000, false),
        (10, true),
        (10_000, true),
    ] {
        let config = router_config(
            &peer.to_base64(),
            packets + 16,
            &policy_text(rules, same_port),
        )?;
        // median of three runs, each with a fresh router and fresh flows
        let mut runs = Vec::new();
        let mut router =
            gateway::router::Router::with_key(&config, PrivateKey::generate()?, Instant::now())?;
        for _ in 0..3 {
            router = gateway::router::Router::with_key(
                &config,
                PrivateKey::generate()?,
                Instant::now(),
            )?;
            let mut flows: Vec<Vec<u8>> = (0..packets).map(flow_packet).collect();
            let mut sink = Sink(0);
            // no session yet: after the ACLs, boringtun queues the packet
            // (or drops it when its queue is full) and asks for a
            // handshake, so the figure is the ACL path, not the crypto
            let start = Instant::now();
            for p in &mut flows {
                router.handle_tun(Instant::now(), p, &mut sink);
            }
            runs.push(start.elapsed());
        }
        let took = median(runs);
        let drops = router.drops();
        let rate = packets as f64 / took.as_secs_f64();
        println!(
            "  {rules:>6} rules per direction ({}): {:.0} new flows/s ({:.0} ns each), {} flows tracked, drops: sg {} nacl {}",
            if same_port { "all on tcp/443" } else { "random ports" },
            rate,
            took.as_secs_f64() * 1e9 / packets as f64,
            router.status(Instant::now()).conntrack_flows,
            drops.security_group,
            drops.nacl
        );
        results.push(rate);
    }
    println!(
        "  ratio 10,000 rules / 10 rules: {:.3} on random ports, {:.3} all on one port (target >= 0.95)",
        results[1] / results[0],
        results[3] / results[2]
    );
    Ok(ExitCode::SUCCESS)
}
