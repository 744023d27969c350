//! Small generated topologies for comparing the analysis with a lab: each
//! seed gives an office joined to a VPC over a Direct Connect VIF or a
//! static Site-to-Site VPN (ending on a plain router or on a gateway box
//! with security groups), NAT gateways behind network ACLs of several
//! widths, routes more specific than the local route through a firewall
//! instance, random security groups, and names with dashes, non-ASCII
//! letters or many characters. Small enough for a lab of a few seconds;
//! written as TOML, so they go through the parser like a user's file.

use std::fmt::Write as _;

use crate::synth::Rng;

/// The names a case gives its nodes, in one of several styles.
struct Names {
    edge: String,
    pc: String,
    app: String,
    db: String,
    bastion: String,
    firewall: String,
    nat: String,
    tunnel: String,
}

fn names(r: &mut Rng) -> Names {
    let style = r.below(4);
    let name = |plain: &str| -> String {
        match style {
            0 => plain.to_string(),
            1 => format!("{plain}-tier-01"),
            2 => format!("{plain}-여행지기-é"),
            // as long as `check` takes (less the `-2` of a second
            // instance's name): the bound the lab's names must fit
            _ => {
                let long = format!("{plain}-{}", "long-name-".repeat(6));
                long[..crate::resolve::aws_limits::MAX_NAME_LEN - 2].to_string()
            }
        }
    };
    Names {
        edge: name("edge"),
        pc: name("pc"),
        app: name("app"),
        db: name("db"),
        bastion: name("bastion"),
        firewall: name("firewall"),
        nat: name("nat"),
        tunnel: match style {
            0 => ["vif", "vpn", "primary", "dx"][r.below(4) as usize].to_string(),
            _ => name("link"),
        },
    }
}

/// Where a rule lets traffic in from.
fn peer(r: &mut Rng) -> &'static str {
    [
        "cidr = \"192.168.10.0/24\"",
        "cidr = \"10.0.0.0/16\"",
        "cidr = \"0.0.0.0/0\"",
        "cidr = \"10.0.1.0/24\"",
        "cidr = \"10.0.3.0/24\"",
    ][r.below(5) as usize]
}

/// Up to four ingress rules on TCP 22, 80, 443 or ICMP echo.
fn ingress_rules(r: &mut Rng) -> String {
    let mut rules = Vec::new();
    for _ in 0..r.below(5) {
        let what = match r.below(4) {
            0 => "protocol = \"tcp\", ports = 22".to_string(),
            1 => "protocol = \"tcp\", ports = 80".to_string(),
            2 => "protocol = \"tcp\", ports = 443".to_string(),
            _ => "protocol = \"icmp\", icmp_type = 8, icmp_code = -1".to_string(),
        };
        rules.push(format!("  {{ {what}, {} }},", peer(r)));
    }
    rules.join("\n")
}

/// The public subnet's ACL: none, or one admitting the replies from the
/// internet to a range of ports (the NAT gateway's 1024-65535, Linux's,
/// IANA's, or none at all).
fn public_acl(r: &mut Rng) -> Option<String> {
    let replies = match r.below(5) {
        0 => return None,
        1 => "1024-65535",
        2 => "32768-60999",
        3 => "49152-65535",
        _ => "",
    };
    let mut s = String::from("[[vpc.nacl]]\nname = \"public-acl\"\ningress = [\n  { rule = 100, action = \"allow\", protocol = \"all\", cidr = \"10.0.0.0/16\" },\n  { rule = 110, action = \"allow\", protocol = \"tcp\", ports = 22, cidr = \"0.0.0.0/0\" },\n");
    if !replies.is_empty() {
        let _ = writeln!(
            s,
            "  {{ rule = 200, action = \"allow\", protocol = \"tcp\", ports = \"{replies}\", cidr = \"0.0.0.0/0\" }},"
        );
    }
    s.push_str("]\negress = [{ rule = 100, action = \"allow\", protocol = \"all\", cidr = \"0.0.0.0/0\" }]\n");
    Some(s)
}

/// The topology of case `seed`, as TOML.
pub fn lab_case_toml(seed: u64) -> String {
    let mut r = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let n = names(&mut r);
    let gateway_box = r.below(2) == 0;
    let vif = r.below(2) == 0;
    let internet = r.below(4) != 0;
    let middlebox = r.below(2) == 0;
    let mut o = String::new();
    let _ = writeln!(o, "name = \"case-{seed}\"\n");

    // the office: one LAN, a host, and the tunnel's end
    o.push_str("[[site]]\nname = \"office\"\n\n[[site.lan]]\nname = \"staff\"\ncidr = \"192.168.10.0/24\"\n\n");
    if gateway_box {
        let _ = writeln!(o, "[[site.gateway]]\nname = \"{}\"\ninterfaces = [{{ lan = \"staff\", ip = \"192.168.10.1\" }}]\nsecurity_groups = [\"edge-sg\"]\n", n.edge);
    } else {
        let _ = writeln!(o, "[[site.router]]\nname = \"{}\"\ninterfaces = [{{ lan = \"staff\", ip = \"192.168.10.1\" }}]\n", n.edge);
    }
    let _ = writeln!(
        o,
        "[[site.host]]\nname = \"{}\"\nlan = \"staff\"\nip = \"192.168.10.10\"\n",
        n.pc
    );

    // the VPC
    o.push_str("[vpc]\nname = \"vpc\"\ncidr = \"10.0.0.0/16\"\nregion = \"ap-northeast-2\"\nazs = [\"a\"]\nvgw = { name = \"vgw\", asn = 64512 }\n");
    if internet {
        o.push_str("internet_gateway = { name = \"igw\" }\n");
    }
    o.push('\n');
    let acl = if internet { public_acl(&mut r) } else { None };
    if internet {
        let nacl = if acl.is_some() {
            "nacl = \"public-acl\"\n"
        } else {
            ""
        };
        let _ = writeln!(o, "[[vpc.subnet]]\nname = \"public\"\naz = \"a\"\ncidr = \"10.0.0.0/24\"\npublic = true\nroute_table = \"public-rt\"\n{nacl}");
        o.push_str("[[vpc.route_table]]\nname = \"public-rt\"\npropagate_vgw = true\nroutes = [{ prefix = \"0.0.0.0/0\", target = \"igw\" }]\n\n");
    }
    o.push_str("[[vpc.subnet]]\nname = \"app\"\naz = \"a\"\ncidr = \"10.0.1.0/24\"\nroute_table = \"app-rt\"\n\n");
    o.push_str("[[vpc.subnet]]\nname = \"data\"\naz = \"a\"\ncidr = \"10.0.2.0/24\"\nroute_table = \"data-rt\"\n\n");
    let mut app_routes = Vec::new();
    if internet {
        app_routes.push(format!(
            "{{ prefix = \"0.0.0.0/0\", target = \"{}\" }}",
            n.nat
        ));
    }
    let mut data_routes = Vec::new();
    if middlebox {
        // both ways through the firewall (AWS does not support asymmetric
        // routing through a middlebox), now and then the app subnet's own
        // block too, which traffic within the subnet never takes
        let route =
            |prefix: &str| format!("{{ prefix = \"{prefix}\", target = \"{}\" }}", n.firewall);
        app_routes.push(route("10.0.2.0/24"));
        data_routes.push(route("10.0.1.0/24"));
        if r.below(2) == 0 {
            app_routes.push(route("10.0.1.0/24"));
        }
        o.push_str("[[vpc.subnet]]\nname = \"inspection\"\naz = \"a\"\ncidr = \"10.0.3.0/24\"\nroute_table = \"inspection-rt\"\n\n");
        o.push_str("[[vpc.route_table]]\nname = \"inspection-rt\"\npropagate_vgw = true\n\n");
    }
    let _ = writeln!(
        o,
        "[[vpc.route_table]]\nname = \"app-rt\"\npropagate_vgw = true\nroutes = [{}]\n",
        app_routes.join(", ")
    );
    let _ = writeln!(
        o,
        "[[vpc.route_table]]\nname = \"data-rt\"\npropagate_vgw = true\nroutes = [{}]\n",
        data_routes.join(", ")
    );
    if let Some(acl) = acl {
        o.push_str(&acl);
        o.push('\n');
    }
    if internet {
        let _ = writeln!(o, "[[vpc.nat_gateway]]\nname = \"{}\"\nsubnet = \"public\"\nip = \"10.0.0.5\"\npublic_ip = \"203.0.113.5\"\n", n.nat);
        let _ = writeln!(o, "[[vpc.instance]]\nname = \"{}\"\nsubnet = \"public\"\nip = \"10.0.0.10\"\npublic_ip = \"203.0.113.10\"\nsecurity_groups = [\"bastion-sg\"]\n", n.bastion);
        o.push_str("[internet]\nname = \"internet\"\nip = \"198.51.100.10\"\n\n");
    }
    let _ = writeln!(o, "[[vpc.instance]]\nname = \"{}\"\nsubnet = \"app\"\nip = \"10.0.1.10\"\nsecurity_groups = [\"app-sg\"]\n", n.app);
    let _ = writeln!(o, "[[vpc.instance]]\nname = \"{}-2\"\nsubnet = \"app\"\nip = \"10.0.1.11\"\nsecurity_groups = [\"db-sg\"]\n", n.app);
    let _ = writeln!(o, "[[vpc.instance]]\nname = \"{}\"\nsubnet = \"data\"\nip = \"10.0.2.10\"\nsecurity_groups = [\"db-sg\"]\n", n.db);
    if middlebox {
        let _ = writeln!(o, "[[vpc.instance]]\nname = \"{}\"\nsubnet = \"inspection\"\nip = \"10.0.3.10\"\nsource_dest_check = false\nsecurity_groups = [\"firewall-sg\"]\n", n.firewall);
    }

    // security groups
    for g in ["bastion-sg", "app-sg", "db-sg", "firewall-sg", "edge-sg"] {
        let rules = ingress_rules(&mut r);
        let _ = writeln!(
            o,
            "[[security_group]]\nname = \"{g}\"\ningress = [\n{rules}\n]\n"
        );
    }

    // the tunnel
    if vif {
        let _ = writeln!(o, "[[direct_connect.vif]]\nname = \"{}\"\nvlan = 101\ncustomer_asn = 65010\namazon_asn = 64512\ncustomer_address = \"169.254.100.1/30\"\namazon_address = \"169.254.100.2/30\"\ncustomer_router = \"{}\"\nvgw = \"vgw\"\nadvertised_prefixes = [\"192.168.10.0/24\"]\n", n.tunnel, n.edge);
    } else {
        let _ = writeln!(o, "[vpn]\nname = \"{}\"\ncustomer_gateway = \"{}\"\nrouting = \"static\"\nprefixes = [\"192.168.10.0/24\"]\n", n.tunnel, n.edge);
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn most_cases_are_accepted_and_the_seed_decides_the_text() {
        assert_eq!(lab_case_toml(7), lab_case_toml(7));
        assert_ne!(lab_case_toml(7), lab_case_toml(8));
        let mut valid = 0;
        for seed in 0..200 {
            let text = lab_case_toml(seed);
            match crate::parse("case.toml", text.clone()) {
                Ok(l) if !l.warnings.has_errors() => valid += 1,
                Ok(l) => panic!("case {seed}:\n{}\n{text}", l.warnings),
                Err(d) => panic!("case {seed}:\n{d}\n{text}"),
            }
        }
        assert_eq!(valid, 200);
    }
}
