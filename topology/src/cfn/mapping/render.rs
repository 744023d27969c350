//! A topology table written as a person would write the file: top-level
//! keys in the order of `docs/topology.md`, `name` first in every table,
//! `[[vpc.subnet]]`-style headers for the big arrays and inline tables for
//! rules, routes, listeners and interfaces.

use std::fmt::Write as _;

use toml::{Table, Value as Toml};

/// Sub-tables written under their own `[path]` header.
const SECTIONS: &[&str] = &["vpc", "direct_connect", "connection", "vpn", "internet"];

/// Arrays of tables written as `[[path]]` entries.
const ARRAYS: &[&str] = &[
    "site",
    "lan",
    "router",
    "gateway",
    "host",
    "subnet",
    "route_table",
    "nacl",
    "nat_gateway",
    "instance",
    "auto_scaling_group",
    "load_balancer",
    "database",
    "security_group",
    "prefix_list",
    "vif",
    "expect",
];

/// Key order; keys not listed come after, alphabetically.
const ORDER: &[&str] = &[
    "name",
    "description",
    "az",
    "from",
    "to",
    "rule",
    "action",
    "protocol",
    "ports",
    "port",
    "icmp_type",
    "icmp_code",
    "cidr",
    "cidrs",
    "sg",
    "region",
    "azs",
    "internet_gateway",
    "vgw",
    "asn",
    "host_prefix",
    "lan",
    "subnet",
    "subnets",
    "ip",
    "ips",
    "gateway",
    "public",
    "main",
    "route_table",
    "nacl",
    "propagate_vgw",
    "routes",
    "prefix",
    "via",
    "target",
    "public_ip",
    "public_ips",
    "security_groups",
    "source_dest_check",
    "desired",
    "min",
    "max",
    "engine",
    "primary",
    "standby",
    "interfaces",
    "listeners",
    "targets",
    "target_port",
    "vlan",
    "customer_asn",
    "amazon_asn",
    "customer_address",
    "amazon_address",
    "mtu",
    "md5_key",
    "customer_router",
    "customer_gateway",
    "routing",
    "advertised_prefixes",
    "prefixes",
    "state",
    "tunnel_inside_cidr",
    "location",
    "bandwidth",
    "verdict",
    "ingress",
    "egress",
    "site",
    "prefix_list",
    "vpc",
    "security_group",
    "direct_connect",
    "vpn",
    "internet",
    "expect",
];

/// Writes a table as a TOML document. `render` of a table parses back to
/// the same table.
pub fn render(t: &Table) -> String {
    let mut out = String::new();
    write_table(&mut out, "", t, false);
    out
}

fn ordered(t: &Table) -> Vec<(&String, &Toml)> {
    let mut keys: Vec<(&String, &Toml)> = t.iter().collect();
    keys.sort_by_key(|(k, _)| {
        let rank = ORDER.iter().position(|o| o == k).unwrap_or(ORDER.len());
        (rank, (*k).clone())
    });
    keys
}

fn is_section(k: &str, v: &Toml) -> bool {
    SECTIONS.contains(&k) && v.is_table()
}

fn is_array_section(k: &str, v: &Toml) -> bool {
    ARRAYS.contains(&k)
        && v.as_array()
            .is_some_and(|a| !a.is_empty() && a.iter().all(Toml::is_table))
}

/// Writes the inline keys of `t`, then its sections. `header` is the path
/// of `t`; `array` says whether `t` is an entry of an array of tables.
fn write_table(out: &mut String, header: &str, t: &Table, array: bool) {
    let keys = ordered(t);
    let inline: Vec<_> = keys
        .iter()
        .filter(|(k, v)| !is_section(k, v) && !is_array_section(k, v))
        .collect();
    let nested = keys.len() > inline.len();
    if !header.is_empty() && (array || !inline.is_empty() || !nested) {
        if !out.is_empty() {
            out.push('\n');
        }
        if array {
            let _ = writeln!(out, "[[{header}]]");
        } else {
            let _ = writeln!(out, "[{header}]");
        }
    }
    for (k, v) in &inline {
        let _ = writeln!(out, "{} = {}", key(k), value(v, true));
    }
    for (k, v) in &keys {
        let path = if header.is_empty() {
            key(k)
        } else {
            format!("{header}.{}", key(k))
        };
        if is_section(k, v) {
            if let Some(sub) = v.as_table() {
                write_table(out, &path, sub, false);
            }
        } else if is_array_section(k, v) {
            for item in v.as_array().into_iter().flatten() {
                if let Some(sub) = item.as_table() {
                    write_table(out, &path, sub, true);
                }
            }
        }
    }
}

/// A key, bare when it can be.
fn key(k: &str) -> String {
    if !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        k.to_string()
    } else {
        Toml::String(k.to_string()).to_string()
    }
}

/// A value written inline; `top` allows a multi-line array of tables.
fn value(v: &Toml, top: bool) -> String {
    match v {
        Toml::Table(t) => {
            if t.is_empty() {
                return "{}".into();
            }
            // inline tables are rules, routes, listeners: their description last
            let mut keys = ordered(t);
            keys.sort_by_key(|(k, _)| k.as_str() == "description");
            let parts: Vec<String> = keys
                .into_iter()
                .map(|(k, v)| format!("{} = {}", key(k), value(v, false)))
                .collect();
            format!("{{ {} }}", parts.join(", "))
        }
        Toml::Array(a) if top && !a.is_empty() && a.iter().all(Toml::is_table) => {
            let mut s = String::from("[\n");
            for item in a {
                let _ = writeln!(s, "  {},", value(item, false));
            }
            s.push(']');
            s
        }
        Toml::Array(a) => {
            let parts: Vec<String> = a.iter().map(|i| value(i, false)).collect();
            format!("[{}]", parts.join(", "))
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendering_parses_back_to_the_same_table() {
        let text = r#"
name = "x"
description = "quote \" and newline \n"
[[site]]
name = "hq"
[[site.lan]]
name = "lan"
cidr = "192.168.0.0/24"
[[site.router]]
name = "r"
interfaces = [{ lan = "lan", ip = "192.168.0.1" }]
[vpc]
name = "vpc"
cidr = "10.0.0.0/16"
region = "us-east-1"
azs = ["us-east-1a"]
internet_gateway = { name = "igw" }
[[vpc.subnet]]
name = "a"
az = "us-east-1a"
cidr = "10.0.0.0/24"
[[vpc.route_table]]
name = "rt"
routes = [{ prefix = "0.0.0.0/0", target = "igw" }]
[[vpc.database]]
name = "db"
primary = { name = "db-primary", subnet = "a", ip = "10.0.0.4" }
[[security_group]]
name = "sg"
ingress = []
egress = [{ protocol = "-1", cidr = "0.0.0.0/0" }]
[direct_connect.connection]
name = "dx"
[[direct_connect.vif]]
name = "vif"
vlan = 100
[internet]
ip = "198.51.100.10"
"#;
        let t: Table = text.parse().expect("test TOML");
        let out = render(&t);
        let back: Table = out.parse().expect("rendered TOML parses");
        assert_eq!(back, t, "{out}");
        assert!(out.starts_with("name = \"x\"\n"), "{out}");
        assert!(out.contains("[[vpc.subnet]]\nname = \"a\"\n"), "{out}");
        assert!(out.contains("[direct_connect.connection]"), "{out}");
        assert!(!out.contains("[direct_connect]\n"), "{out}");
    }
}
