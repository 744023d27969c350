//! Security groups with their rules (inline and standalone), prefix lists,
//! and network ACL entries.

use toml::{Table, Value as Toml};

use super::names::{kebab, Ns};
use super::values::{self, int, present, ref_id, string};
use super::vpc::cidr_of;
use super::{Mapper, SecurityGroup};
use crate::cfn::{Resource, Value};

/// The AWS quota of rules per direction of a security group.
const SG_RULE_QUOTA: usize = 60;

/// Which way a security-group rule goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dir {
    Ingress,
    Egress,
}

impl Dir {
    fn word(self) -> &'static str {
        match self {
            Dir::Ingress => "ingress",
            Dir::Egress => "egress",
        }
    }

    /// The peer properties CloudFormation accepts, in this direction.
    fn peers(self) -> &'static [&'static str] {
        match self {
            Dir::Ingress => &[
                "CidrIp",
                "CidrIpv6",
                "SourcePrefixListId",
                "SourceSecurityGroupId",
                "SourceSecurityGroupName",
            ],
            Dir::Egress => &[
                "CidrIp",
                "CidrIpv6",
                "DestinationPrefixListId",
                "DestinationSecurityGroupId",
            ],
        }
    }
}

/// A protocol as the topology writes it: names for the usual numbers,
/// `"-1"` for all; `Err` for what is not a protocol.
fn protocol(v: &Value) -> Result<Toml, String> {
    let text = string(v).ok_or_else(|| format!("protocol {v}"))?;
    let lower = text.trim().to_ascii_lowercase();
    Ok(match lower.as_str() {
        "-1" | "all" => Toml::String("-1".into()),
        "tcp" | "6" => Toml::String("tcp".into()),
        "udp" | "17" => Toml::String("udp".into()),
        "icmp" | "1" => Toml::String("icmp".into()),
        "icmpv6" | "58" => Toml::String("icmpv6".into()),
        n => match n.parse::<u8>() {
            Ok(p) => Toml::Integer(i64::from(p)),
            Err(_) => return Err(format!("protocol `{text}` is not a protocol")),
        },
    })
}

/// A port range as the topology writes it.
fn ports(from: i64, to: i64) -> Result<Toml, String> {
    if from == -1 {
        return Ok(Toml::String("all".into()));
    }
    if !(0..=65535).contains(&from) || !(0..=65535).contains(&to) || from > to {
        return Err(format!("port range {from}-{to} is not a range of ports"));
    }
    Ok(if from == to {
        Toml::Integer(from)
    } else {
        Toml::String(format!("{from}-{to}"))
    })
}

/// The rule that the default network ACL starts with, each way.
pub(super) fn allow_all_nacl_rule() -> Table {
    let mut t = Table::new();
    t.insert("rule".into(), Toml::Integer(100));
    t.insert("action".into(), Toml::String("allow".into()));
    t.insert("protocol".into(), Toml::String("-1".into()));
    t.insert("cidr".into(), Toml::String("0.0.0.0/0".into()));
    t
}

/// The allow-all egress rule a new security group starts with.
fn allow_all_egress_rule() -> Table {
    let mut t = Table::new();
    t.insert("protocol".into(), Toml::String("-1".into()));
    t.insert("cidr".into(), Toml::String("0.0.0.0/0".into()));
    t
}

/// A rule without its description, to find duplicates.
fn without_description(t: &Table) -> Table {
    let mut t = t.clone();
    t.remove("description");
    t
}

impl Mapper<'_> {
    /// `AWS::EC2::PrefixList` resources (IPv4 entries).
    pub(super) fn prefix_lists(&mut self) {
        for r in self.of_kind("AWS::EC2::PrefixList") {
            if let Some(f) = values::prop(&r.props, "AddressFamily").and_then(string) {
                if f != "IPv4" {
                    self.warn(
                        r,
                        format!("address family {f}: IPv6 is not modeled, skipped"),
                    );
                    continue;
                }
            }
            let mut cidrs = Vec::new();
            for e in values::list(r.props.get("Entries")) {
                match cidr_of(e.get("Cidr"), "entry Cidr") {
                    Ok((c, note)) => {
                        if let Some(n) = note {
                            self.warn(r, n);
                        }
                        cidrs.push(c.to_string());
                    }
                    Err(e) => self.warn(r, format!("{e}: entry skipped")),
                }
            }
            let name = self.names.claim(Ns::PrefixList, &kebab(&r.id));
            self.prefix_lists.push((r.id.clone(), name, cidrs));
        }
    }

    /// Security groups and their inline rules (names first: rules name
    /// other groups).
    pub(super) fn security_groups(&mut self) {
        let groups = self.of_kind("AWS::EC2::SecurityGroup");
        for r in &groups {
            if r.props.get("VpcId").is_none() && self.vpc_id.is_some() {
                self.warn(
                    r,
                    "no VpcId: AWS creates the group in the account's default VPC; taken to be in the imported VPC",
                );
            } else if !self.in_vpc(r) {
                continue;
            }
            let name = self.names.claim(Ns::SecurityGroup, &kebab(&r.id));
            let description = values::prop(&r.props, "GroupDescription").and_then(string);
            self.sgs.push((
                r.id.clone(),
                SecurityGroup {
                    name,
                    description,
                    ..SecurityGroup::default()
                },
            ));
        }
        for r in groups {
            let Some(gi) = self.sgs.iter().position(|(id, _)| *id == r.id) else {
                continue;
            };
            for (key, dir) in [
                ("SecurityGroupIngress", Dir::Ingress),
                ("SecurityGroupEgress", Dir::Egress),
            ] {
                let rules = values::list(r.props.get(key));
                if dir == Dir::Egress && !rules.is_empty() {
                    self.sgs[gi].1.egress_given = true;
                }
                for (k, rule) in rules.into_iter().enumerate() {
                    let what = format!("{} rule {}", dir.word(), k + 1);
                    if let Some(t) = self.sg_rule(r, rule, dir, &what) {
                        self.add_rule(r, gi, dir, t);
                    }
                }
            }
        }
    }

    /// Standalone `SecurityGroupIngress` / `SecurityGroupEgress`: rules
    /// added to their `GroupId`.
    pub(super) fn security_group_rules(&mut self) {
        for (kind, dir) in [
            ("AWS::EC2::SecurityGroupIngress", Dir::Ingress),
            ("AWS::EC2::SecurityGroupEgress", Dir::Egress),
        ] {
            for r in self.of_kind(kind) {
                let group = values::prop(&r.props, "GroupId")
                    .or_else(|| values::prop(&r.props, "GroupName"));
                if group.is_some_and(|g| self.group_name(g).as_deref() == Some("default")) {
                    self.declare_default_group();
                }
                let gi = group.and_then(|g| {
                    if self.group_name(g).as_deref() == Some("default") {
                        return self.sgs.iter().position(|(_, sg)| sg.name == "default");
                    }
                    let id = values::ref_or_attr(g, "GroupId")?;
                    self.sgs.iter().position(|(sid, _)| sid == id)
                });
                let Some(gi) = gi else {
                    let msg = match group {
                        Some(g) => format!("group {g} is not an imported security group: skipped"),
                        None => "no GroupId: skipped".to_string(),
                    };
                    self.warn(r, msg);
                    continue;
                };
                if dir == Dir::Egress {
                    self.keep_default_egress(r, gi);
                }
                let what = format!("{} rule", dir.word());
                if let Some(t) = self.sg_rule(r, &r.props, dir, &what) {
                    self.add_rule(r, gi, dir, t);
                }
            }
        }
    }

    /// A standalone egress rule on a group without inline egress rules:
    /// the group keeps the allow-all egress rule it got at creation (written
    /// out beside the added rules), which makes the added rule pointless; a
    /// warning says so.
    fn keep_default_egress(&mut self, r: &Resource, gi: usize) {
        let g = &mut self.sgs[gi].1;
        if !g.egress_given {
            g.egress_given = true;
            g.default_egress_kept = true;
            g.egress.push(allow_all_egress_rule());
        }
        if !g.default_egress_kept {
            return;
        }
        let msg = if g.name == "default" {
            "this egress rule changes nothing: the VPC's default group keeps its allow-all egress rule beside the rules added to it (a template cannot give it inline rules); to restrict egress (as the author probably meant), use a group of the template with an inline SecurityGroupEgress".to_string()
        } else {
            format!(
                "this egress rule changes nothing: {0} has no inline SecurityGroupEgress, so it keeps its default allow-all egress rule beside the rules added to it; to restrict egress (as the author probably meant), give {0} an inline SecurityGroupEgress, e.g. IpProtocol -1 to CidrIp 127.0.0.1/32, as AWS suggests to remove the default rule",
                g.name
            )
        };
        self.warn(r, msg);
    }

    /// Declares the VPC's `default` group as AWS creates it (all traffic
    /// from its members in, everything out), to add rules to it.
    fn declare_default_group(&mut self) {
        if self.sgs.iter().any(|(_, g)| g.name == "default") {
            return;
        }
        let mut members = Table::new();
        members.insert("protocol".into(), Toml::String("-1".into()));
        members.insert("sg".into(), Toml::String("default".into()));
        let key = format!(
            "{}.DefaultSecurityGroup",
            self.vpc_id.clone().unwrap_or_default()
        );
        self.sgs.push((
            key,
            SecurityGroup {
                name: "default".into(),
                description: Some("the VPC's default group".into()),
                ingress: vec![members],
                ..SecurityGroup::default()
            },
        ));
    }

    /// Adds a mapped rule to a group unless it repeats one or is over the
    /// quota.
    fn add_rule(&mut self, r: &Resource, gi: usize, dir: Dir, rule: Table) {
        let g = &mut self.sgs[gi].1;
        let name = g.name.clone();
        let list = match dir {
            Dir::Ingress => &mut g.ingress,
            Dir::Egress => &mut g.egress,
        };
        let plain = without_description(&rule);
        let msg = if list.iter().any(|x| without_description(x) == plain) {
            Some(format!(
                "the same {} rule is already on {name}: kept once",
                dir.word()
            ))
        } else if list.len() >= SG_RULE_QUOTA {
            Some(format!(
                "{name} already has {SG_RULE_QUOTA} {} rules, the AWS quota: skipped",
                dir.word()
            ))
        } else {
            list.push(rule);
            None
        };
        if let Some(msg) = msg {
            self.warn(r, msg);
        }
    }

    /// One security-group rule; `None` (with a warning) when it cannot be
    /// mapped. `what` says which rule, for messages.
    pub(super) fn sg_rule(
        &mut self,
        r: &Resource,
        rule: &Value,
        dir: Dir,
        what: &str,
    ) -> Option<Table> {
        match self.try_sg_rule(rule, dir) {
            Ok((t, notes)) => {
                for n in notes {
                    self.warn(r, format!("{what}: {n}"));
                }
                Some(t)
            }
            Err(e) => {
                self.warn(r, format!("{what}: {e}: skipped"));
                None
            }
        }
    }

    fn try_sg_rule(&self, rule: &Value, dir: Dir) -> Result<(Table, Vec<String>), String> {
        let mut notes = Vec::new();
        let mut t = Table::new();
        let proto_v = values::prop(rule, "IpProtocol").ok_or("no IpProtocol")?;
        let proto = protocol(proto_v)?;
        let from = values::prop(rule, "FromPort").map(|v| int(v).ok_or(format!("FromPort {v}")));
        let to = values::prop(rule, "ToPort").map(|v| int(v).ok_or(format!("ToPort {v}")));
        let from = from.transpose()?;
        let to = to.transpose()?;
        t.insert("protocol".into(), proto.clone());
        match proto.as_str() {
            Some("tcp") | Some("udp") => {
                let (Some(f), Some(l)) = (from.or(to), to.or(from)) else {
                    return Err(format!(
                        "{} rule without FromPort and ToPort",
                        proto_text(&proto)
                    ));
                };
                t.insert("ports".into(), ports(f, l)?);
            }
            Some("icmp") => {
                let ty = from.unwrap_or(-1);
                let code = to.unwrap_or(-1);
                icmp_fields(&mut t, ty, code, &mut notes)?;
            }
            Some("icmpv6") if from.unwrap_or(-1) != -1 || to.unwrap_or(-1) != -1 => {
                notes.push("ICMPv6 types are not modeled: all ICMPv6 is allowed".into());
            }
            _ => {}
        }
        let given: Vec<&str> = dir
            .peers()
            .iter()
            .copied()
            .filter(|k| values::prop(rule, k).is_some())
            .collect();
        match given.as_slice() {
            [] => {
                return Err(format!(
                    "names no peer ({}); CloudFormation creates no rule then",
                    dir.peers().join(", ")
                ))
            }
            [one] => {
                let v = values::prop(rule, one).ok_or("no peer")?;
                match *one {
                    "CidrIp" => {
                        let (c, note) = cidr_of(Some(v), "CidrIp")?;
                        notes.extend(note);
                        t.insert("cidr".into(), Toml::String(c.to_string()));
                    }
                    "CidrIpv6" => return Err("an IPv6 peer (IPv6 is not modeled)".into()),
                    "SourcePrefixListId" | "DestinationPrefixListId" => {
                        let name = ref_id(v)
                            .and_then(|id| self.prefix_lists.iter().find(|(pid, _, _)| pid == id))
                            .map(|(_, n, _)| n.clone())
                            .ok_or_else(|| {
                                format!("prefix list {v} is not a prefix list of this template (an AWS-managed list?)")
                            })?;
                        t.insert("prefix_list".into(), Toml::String(name));
                    }
                    _ => {
                        let name = self.group_name(v).ok_or_else(|| {
                            format!("{one} {v} is not a security group of this template")
                        })?;
                        t.insert("sg".into(), Toml::String(name));
                    }
                }
            }
            many => {
                return Err(format!(
                    "names more than one peer ({}); CloudFormation refuses it",
                    many.join(", ")
                ))
            }
        }
        if let Some(d) = values::prop(rule, "Description").and_then(string) {
            t.insert("description".into(), Toml::String(d));
        }
        Ok((t, notes))
    }

    /// One `AWS::EC2::NetworkAclEntry`: whether it is outbound, and the rule.
    pub(super) fn nacl_entry(&mut self, r: &Resource) -> Option<(bool, Table)> {
        match try_nacl_entry(&r.props) {
            Ok((egress, t, notes)) => {
                for n in notes {
                    self.warn(r, n);
                }
                Some((egress, t))
            }
            Err(e) => {
                self.warn(r, format!("{e}: skipped"));
                None
            }
        }
    }
}

/// A protocol for messages.
fn proto_text(p: &Toml) -> String {
    match p {
        Toml::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn try_nacl_entry(p: &Value) -> Result<(bool, Table, Vec<String>), String> {
    let mut notes = Vec::new();
    let mut t = Table::new();
    let number = values::prop(p, "RuleNumber").ok_or("no RuleNumber")?;
    let number = int(number)
        .filter(|n| (1..=32766).contains(n))
        .ok_or_else(|| format!("rule number {number} is not from 1 to 32766"))?;
    t.insert("rule".into(), Toml::Integer(number));
    let action = values::prop(p, "RuleAction")
        .and_then(string)
        .ok_or("no RuleAction")?
        .to_ascii_lowercase();
    if action != "allow" && action != "deny" {
        return Err(format!("RuleAction `{action}` is neither allow nor deny"));
    }
    t.insert("action".into(), Toml::String(action));
    let egress = match p.get("Egress").filter(|v| present(v)) {
        None => false,
        Some(v) => values::boolean(v).ok_or_else(|| format!("Egress {v} is not a boolean"))?,
    };
    let proto = protocol(values::prop(p, "Protocol").ok_or("no Protocol")?)?;
    t.insert("protocol".into(), proto.clone());
    match proto.as_str() {
        Some("tcp") | Some("udp") => {
            let range = values::prop(p, "PortRange")
                .ok_or_else(|| format!("a {} entry without PortRange", proto_text(&proto)))?;
            let from = values::prop(range, "From").and_then(int);
            let to = values::prop(range, "To").and_then(int);
            let (Some(f), Some(l)) = (from.or(to), to.or(from)) else {
                return Err("PortRange without From and To".into());
            };
            t.insert("ports".into(), ports(f, l)?);
        }
        Some("icmp") => {
            let icmp = values::prop(p, "Icmp").ok_or("an ICMP entry without Icmp {Code, Type}")?;
            let ty = values::prop(icmp, "Type").and_then(int).unwrap_or(-1);
            let code = values::prop(icmp, "Code").and_then(int).unwrap_or(-1);
            icmp_fields(&mut t, ty, code, &mut notes)?;
        }
        _ => {}
    }
    if values::prop(p, "Ipv6CidrBlock").is_some() {
        return Err("an IPv6 entry (IPv6 is not modeled)".into());
    }
    let (c, note) = cidr_of(p.get("CidrBlock"), "CidrBlock")?;
    notes.extend(note);
    t.insert("cidr".into(), Toml::String(c.to_string()));
    Ok((egress, t, notes))
}

/// ICMP type and code as the topology writes them (`-1`, all, is the key
/// left out). A code with all types is not valid AWS: all codes are used,
/// with a note.
fn icmp_fields(
    t: &mut toml::Table,
    ty: i64,
    code: i64,
    notes: &mut Vec<String>,
) -> Result<(), String> {
    if !(-1..=255).contains(&ty) || !(-1..=255).contains(&code) {
        return Err(format!("ICMP type {ty} code {code} out of range"));
    }
    let code = if ty == -1 && code != -1 {
        notes.push(format!(
            "ICMP code {code} with all types (-1) is not valid: all codes are used"
        ));
        -1
    } else {
        code
    };
    if ty != -1 {
        t.insert("icmp_type".into(), Toml::Integer(ty));
    }
    if code != -1 {
        t.insert("icmp_code".into(), Toml::Integer(code));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocols_and_ports_read_as_the_topology_writes_them() {
        assert_eq!(
            protocol(&Value::Str("6".into())),
            Ok(Toml::String("tcp".into()))
        );
        assert_eq!(protocol(&Value::Num(-1.0)), Ok(Toml::String("-1".into())));
        assert_eq!(protocol(&Value::Str("47".into())), Ok(Toml::Integer(47)));
        assert!(protocol(&Value::Str("gre".into())).is_err());
        assert_eq!(ports(22, 22), Ok(Toml::Integer(22)));
        assert_eq!(ports(0, 65535), Ok(Toml::String("0-65535".into())));
        assert_eq!(ports(-1, -1), Ok(Toml::String("all".into())));
        assert!(ports(80, 22).is_err());
    }
}
