//! Generated topologies for benchmarks: many hosts, many security groups
//! with many rules. Deterministic for a given seed, and written as TOML so
//! that they go through the same parser as a user's file.

use std::fmt::Write as _;

/// Size of a generated topology.
#[derive(Debug, Clone, Copy)]
pub struct SynthSpec {
    /// VPC instances.
    pub hosts: usize,
    /// Security groups.
    pub security_groups: usize,
    /// Ingress rules per group.
    pub rules_per_group: usize,
    /// Seed of the pseudo-random choices.
    pub seed: u64,
}

/// A xorshift64* pseudo-random generator: the same seed, the same
/// choices.
pub(crate) struct Rng(pub(crate) u64);
impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// A number below `n` (0 when `n` is 0).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// A VPC of two AZs with public and private subnets (50 hosts each), NAT
/// gateways, a VIF to an office of a few hosts, `security_groups` groups of
/// `rules_per_group` ingress rules mixing ports, blocks and group
/// references, and 20-rule network ACLs on half the subnets.
pub fn synth_toml(spec: SynthSpec) -> String {
    let mut r = Rng(spec.seed | 1);
    let mut o = String::new();
    let per_subnet = 50usize;
    let subnets = spec.hosts.div_ceil(per_subnet).max(2);
    let _ = writeln!(o, "name = \"synthetic-{}-hosts\"\n", spec.hosts);
    o.push_str("[[site]]\nname = \"office\"\n");
    o.push_str("[[site.lan]]\nname = \"staff\"\ncidr = \"192.168.10.0/24\"\n");
    o.push_str("[[site.lan]]\nname = \"transit\"\ncidr = \"192.168.0.0/29\"\n");
    o.push_str("[[site.router]]\nname = \"office-router\"\ninterfaces = [{ lan = \"staff\", ip = \"192.168.10.1\" }, { lan = \"transit\", ip = \"192.168.0.1\" }]\nroutes = [{ prefix = \"10.0.0.0/8\", via = \"192.168.0.2\" }]\n");
    o.push_str("[[site.gateway]]\nname = \"gw\"\ninterfaces = [{ lan = \"transit\", ip = \"192.168.0.2\" }]\nroutes = [{ prefix = \"192.168.0.0/16\", via = \"192.168.0.1\" }]\nsecurity_groups = [\"sg-0\"]\n");
    for i in 0..5 {
        let _ = writeln!(
            o,
            "[[site.host]]\nname = \"office-{i}\"\nlan = \"staff\"\nip = \"192.168.10.{}\"",
            10 + i
        );
    }
    o.push_str("\n[vpc]\nname = \"vpc\"\ncidr = \"10.0.0.0/16\"\nregion = \"ap-northeast-2\"\nazs = [\"a\", \"c\"]\n");
    o.push_str("internet_gateway = { name = \"igw\" }\nvgw = { name = \"vgw\" }\n");
    o.push_str("[[vpc.route_table]]\nname = \"public\"\npropagate_vgw = true\nroutes = [{ prefix = \"0.0.0.0/0\", target = \"igw\" }]\n");
    for az in ["a", "c"] {
        let _ = writeln!(o, "[[vpc.route_table]]\nname = \"private-{az}\"\npropagate_vgw = true\nroutes = [{{ prefix = \"0.0.0.0/0\", target = \"nat-{az}\" }}]");
    }
    // a 20-rule ACL per direction
    o.push_str("[[vpc.nacl]]\nname = \"strict\"\n");
    for dir in ["ingress", "egress"] {
        for k in 0..19u32 {
            let port = [22, 80, 443, 3306, 5432, 8080][k as usize % 6];
            let action = if k % 7 == 3 { "deny" } else { "allow" };
            let _ = writeln!(o, "[[vpc.nacl.{dir}]]\nrule = {}\naction = \"{action}\"\nprotocol = \"tcp\"\nports = {port}\ncidr = \"10.0.{}.0/23\"", 10 + k * 10, (k * 2) % 20);
        }
        let _ = writeln!(o, "[[vpc.nacl.{dir}]]\nrule = 1000\naction = \"allow\"\nprotocol = -1\ncidr = \"0.0.0.0/0\"");
    }
    for s in 0..subnets {
        let az = if s % 2 == 0 { "a" } else { "c" };
        let public = s < 2;
        let rt = if public {
            "public".to_string()
        } else {
            format!("private-{az}")
        };
        let nacl = if s % 2 == 1 {
            "nacl = \"strict\"\n"
        } else {
            ""
        };
        let _ = writeln!(o, "[[vpc.subnet]]\nname = \"s{s}\"\naz = \"{az}\"\ncidr = \"10.0.{s}.0/24\"\npublic = {public}\nroute_table = \"{rt}\"\n{nacl}");
    }
    for (k, az) in ["a", "c"].iter().enumerate() {
        let _ = writeln!(o, "[[vpc.nat_gateway]]\nname = \"nat-{az}\"\nsubnet = \"s{k}\"\nip = \"10.0.{k}.4\"\npublic_ip = \"3.34.0.{}\"", 10 + k);
    }
    let ports = [22u16, 80, 443, 3306, 5432, 8080, 8443, 6379, 9000, 25];
    for g in 0..spec.security_groups {
        let _ = writeln!(o, "[[security_group]]\nname = \"sg-{g}\"");
        for _ in 0..spec.rules_per_group {
            let port = ports[r.below(ports.len() as u64) as usize];
            let peer = match r.below(4) {
                0 => format!("sg = \"sg-{}\"", r.below(spec.security_groups as u64)),
                1 => "cidr = \"192.168.0.0/16\"".to_string(),
                2 => format!("cidr = \"10.0.{}.0/24\"", r.below(subnets as u64)),
                _ => format!(
                    "cidr = \"10.0.{}.{}/32\"",
                    r.below(subnets as u64),
                    4 + r.below(200)
                ),
            };
            let _ = writeln!(
                o,
                "[[security_group.ingress]]\nprotocol = \"tcp\"\nports = {port}\n{peer}"
            );
        }
    }
    for h in 0..spec.hosts {
        let s = h % subnets;
        let slot = h / subnets;
        let n_sg = 1 + r.below(3) as usize;
        let mut sgs: Vec<String> = Vec::new();
        for _ in 0..n_sg {
            let g = format!("\"sg-{}\"", r.below(spec.security_groups as u64));
            if !sgs.contains(&g) {
                sgs.push(g);
            }
        }
        let public = if s < 2 {
            format!("public_ip = \"3.35.{}.{}\"\n", s, 10 + slot)
        } else {
            String::new()
        };
        let _ = writeln!(o, "[[vpc.instance]]\nname = \"h{h}\"\nsubnet = \"s{s}\"\nip = \"10.0.{s}.{}\"\n{public}security_groups = [{}]", 10 + slot, sgs.join(", "));
    }
    o.push_str("[internet]\nip = \"198.51.100.10\"\n");
    o.push_str("[[direct_connect.vif]]\nname = \"vif\"\nvlan = 101\ncustomer_asn = 65010\ncustomer_address = \"169.254.100.1/30\"\namazon_address = \"169.254.100.2/30\"\ncustomer_router = \"gw\"\nadvertised_prefixes = [\"192.168.10.0/24\"]\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_topology_is_valid() {
        let text = synth_toml(SynthSpec {
            hosts: 120,
            security_groups: 10,
            rules_per_group: 60,
            seed: 7,
        });
        let loaded = crate::parse("synth.toml", text).expect("a generated topology must be valid");
        let t = &loaded.topology;
        assert_eq!(
            t.nodes
                .iter()
                .filter(|n| n.kind == crate::model::NodeKind::Instance)
                .count(),
            120
        );
        assert!(t
            .security_groups
            .iter()
            .filter(|g| g.name.starts_with("sg-"))
            .all(|g| g.ingress.len() == 60));
    }
}
