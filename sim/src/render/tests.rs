//! Across the languages: a name that reaches a comment stays in it.

use std::path::Path;

use topology::model::NodeKind;

use crate::render::bird::{self, Tunnels};

/// `check` refuses a name with a control character, but a topology built
/// in code (a test, `topology::synth`, an importer) reaches the renderers
/// without it: a newline in a name written into a `#` comment would start
/// a line of configuration of its own.
#[test]
fn a_name_with_a_newline_stays_in_its_comment() {
    let mut t = crate::example();
    t.vifs[0].name = "dx\nprotocol bgp evil {".into();
    t.security_groups[0].name = "sg\nchain evil {".into();
    let tunnels = Tunnels::named(&t);
    let sessions = bird::sessions(
        &crate::bgp::sessions::sessions(&t),
        &tunnels,
        Path::new("/run/x"),
    );
    let vgw = bird::vgw::config(&t, &sessions, &tunnels, true);
    let office: Vec<&bird::Session> = sessions.iter().collect();
    let office = bird::office::config(&t, t.vifs[0].customer_router, &office);
    let nft = crate::render::firewall::security_groups(&t, &[0], false);
    let alb = t.nodes.iter().find(|n| n.name == "alb").expect("alb");
    let NodeKind::LoadBalancer { listeners } = &alb.kind else {
        panic!("alb is a load balancer");
    };
    let haproxy = crate::render::haproxy::haproxy_value(
        &t,
        "alb\nlisten evil",
        listeners,
        crate::render::haproxy::HaproxyPaths {
            stats: Path::new("/run/x/h.sock"),
            target_map: Path::new("/run/x/h.map"),
        },
    )
    .to_string();
    for (what, text) in [
        ("the VGW's BIRD", &vgw),
        ("the office's BIRD", &office),
        ("nft", &nft),
        ("HAProxy", &haproxy),
    ] {
        let evil: Vec<&str> = text
            .lines()
            .filter(|l| {
                ["protocol bgp evil", "chain evil", "listen evil"]
                    .iter()
                    .any(|e| l.trim_start().starts_with(e))
            })
            .collect();
        assert!(evil.is_empty(), "{what}: {evil:?} in\n{text}");
    }
}
