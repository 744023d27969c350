//! The office side of the sessions: the BIRD of an office node ending a
//! VIF or a BGP VPN (the gateway box, in the example).
//!
//! - router id [`topology::bgp::office_router_id`];
//! - a static protocol holding every prefix it advertises (never exported
//!   to the kernel);
//! - per session: an eBGP protocol to the Amazon address
//!   (`direct`, MD5 from the key file, the file's timers, BFD when the VIF
//!   has it) whose export filter picks the session's prefixes, adds their
//!   communities and
//!   prepends the office ASN `prepend` extra times, and whose import
//!   filter sets the session's local preference;
//! - the best routes into kernel table [`super::OFFICE_KERNEL_TABLE`],
//!   which the office gateway follows (`[bgp] kernel_table`).

use std::fmt::Write as _;

use topology::bgp::config::DEFAULT_LOCAL_PREF;
use topology::model::{NodeId, Topology};

use super::text;
use super::Session;
use crate::bgp::names::symbol;

/// The static protocol holding the prefixes the node advertises.
pub const PREFIXES_PROTOCOL: &str = "vifgate_prefixes";

/// The office node's configuration for its sessions.
pub fn config(t: &Topology, node: NodeId, sessions: &[&Session]) -> String {
    let mut s = text::header(
        &format!("office node {}", t.nodes[node].name),
        topology::bgp::office_router_id(t, node),
    );
    let bfd: Vec<(Vec<String>, topology::bgp::Bfd)> = sessions
        .iter()
        .filter_map(|x| {
            x.bfd().map(|b| {
                (
                    vec![x.office_ifname(), format!("{}.*", x.office_ifname())],
                    b,
                )
            })
        })
        .collect();
    s.push_str(&text::bfd_protocol(&bfd));
    // every prefix the node advertises, in one static protocol: BGP
    // exports the best route of a prefix only, so each session's filter
    // picks its own prefixes from this one
    let mut all: Vec<ipnet::Ipv4Net> = sessions
        .iter()
        .flat_map(|x| x.spec.advertised.iter().map(|p| p.prefix))
        .collect();
    all.sort_unstable();
    all.dedup();
    let _ = write!(
        s,
        "\n# what the office advertises (never written to the kernel)\nprotocol static {PREFIXES_PROTOCOL} {{\n    ipv4;\n"
    );
    for p in &all {
        let _ = writeln!(s, "    route {p} unreachable;");
    }
    s.push_str("}\n");
    for x in sessions {
        // export: the session's prefixes with their attributes
        let _ = write!(
            s,
            "\n# what {} advertises, with its communities and prepends\nfilter {} {{\n    if proto != \"{PREFIXES_PROTOCOL}\" then reject;\n",
            x.spec.name,
            symbol(&format!("{}.export", x.spec.name))
        );
        let mine: Vec<String> = x
            .spec
            .advertised
            .iter()
            .map(|p| p.prefix.to_string())
            .collect();
        if mine.is_empty() {
            s.push_str("    reject;\n");
        } else {
            let _ = writeln!(s, "    if net !~ [ {} ] then reject;", mine.join(", "));
        }
        for p in &x.spec.advertised {
            if p.communities.is_empty() && p.prepend == 0 {
                continue;
            }
            let _ = write!(s, "    if net = {} then {{", p.prefix);
            for c in &p.communities {
                let _ = write!(s, " bgp_community.add(({},{}));", c.0, c.1);
            }
            for _ in 0..p.prepend {
                let _ = write!(s, " bgp_path.prepend({});", x.spec.office_asn);
            }
            s.push_str(" }\n");
        }
        s.push_str("    accept;\n}\n");
        let _ = write!(
            s,
            "\n# {}\nprotocol bgp {} {{\n",
            x.spec.name,
            symbol(&x.spec.name)
        );
        if x.spec.configured_down {
            s.push_str("    disabled;\n");
        }
        let _ = write!(
            s,
            "    local {} as {};\n    neighbor {} as {};\n    direct;\n",
            x.spec.office_address, x.spec.office_asn, x.spec.amazon_address, x.spec.amazon_asn
        );
        s.push_str(&text::password_include(&x.key_file));
        s.push_str(&text::timers(
            x.spec.settings.hold_time,
            x.spec.settings.keepalive,
        ));
        s.push_str(text::LAB_RETRY);
        if x.bfd().is_some() {
            s.push_str("    bfd on;\n");
        }
        let _ = write!(
            s,
            "    ipv4 {{\n        import filter {{ bgp_local_pref = {}; accept; }};\n        export filter {};\n    }};\n}}\n",
            x.spec.settings.local_preference.unwrap_or(DEFAULT_LOCAL_PREF),
            symbol(&format!("{}.export", x.spec.name))
        );
    }
    let _ = write!(
        s,
        "\n# the best routes, for the office gateway (`[bgp] kernel_table = {table}`)\nprotocol kernel vifgate_kernel {{\n    ipv4 {{ import none; export where source = RTS_BGP; }};\n    kernel table {table};\n    learn off;\n}}\n",
        table = super::OFFICE_KERNEL_TABLE
    );
    s
}
