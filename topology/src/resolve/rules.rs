//! Security-group and network-ACL rules: the traffic they match, their
//! peers, the groups of an interface, and the AWS quotas on them.

use std::collections::HashMap;
use std::ops::Range;

use super::{Names, Resolver, MAX_NACL_RULES, MAX_SGS_PER_INTERFACE, MAX_SG_RULES};
use crate::format::*;
use crate::model::*;
use crate::nacl::{NaclAction, NaclRule};
use crate::security_group::{Peer, SecurityGroup, SgRule};
use crate::traffic::{parse_port_range, parse_protocol, proto, IcmpMatch, PortRange, Traffic};

impl Resolver<'_> {
    /// `[[security_group]]`: names first, rules once every name is known;
    /// with a VPC, its default group (made when the file does not define
    /// one). Gives the group names and the default group's index.
    pub(super) fn security_groups(
        &mut self,
        raw: &RawTopology,
        t: &mut Topology,
        pl_names: &Names,
    ) -> (Names, usize) {
        let mut sg_names = self.names("security group", raw.security_group.iter().map(|g| &g.name));
        if raw.vpc.is_some() && !sg_names.contains_key("default") {
            sg_names.insert("default".into(), raw.security_group.len());
        }
        for g in &raw.security_group {
            let ingress = self.sg_rules(&g.ingress, &sg_names, pl_names);
            let egress = match &g.egress {
                None => vec![SecurityGroup::allow_all_egress()],
                Some(rules) => self.sg_rules(rules.get_ref(), &sg_names, pl_names),
            };
            for (dir, n) in [("inbound", ingress.len()), ("outbound", egress.len())] {
                if n > MAX_SG_RULES {
                    let d = self.error(
                        g.name.span(),
                        format!(
                            "security group `{}` has {n} {dir} rules, over the AWS quota of {MAX_SG_RULES}",
                            g.name.get_ref()
                        ),
                    );
                    d.hint = Some("merge rules, or use a prefix list or a group reference".into());
                }
            }
            t.security_groups.push(SecurityGroup {
                name: g.name.get_ref().clone(),
                description: g.description.clone(),
                ingress,
                egress,
            });
        }
        let default_sg = if raw.vpc.is_some() {
            let id = sg_names["default"];
            if id == t.security_groups.len() {
                // the VPC's default group: all in from its members, all out
                t.security_groups.push(SecurityGroup {
                    name: "default".into(),
                    description: Some("VPC default security group".into()),
                    ingress: vec![SgRule {
                        traffic: Traffic::All,
                        peer: Peer::SecurityGroup(id),
                        description: Some("all from members of the default group".into()),
                    }],
                    egress: vec![SecurityGroup::allow_all_egress()],
                });
            }
            id
        } else {
            0
        };
        (sg_names, default_sg)
    }

    /// A group's rules in one direction: each with one peer (a block, a
    /// group or a prefix list) and the traffic it allows.
    pub(super) fn sg_rules(
        &mut self,
        rules: &[RawSgRule],
        sgs: &Names,
        pls: &Names,
    ) -> Vec<SgRule> {
        let mut out = Vec::new();
        for r in rules {
            let traffic = self.traffic(
                &r.protocol,
                r.ports.as_ref(),
                r.icmp_type.as_ref(),
                r.icmp_code.as_ref(),
            );
            let peers = [r.cidr.is_some(), r.sg.is_some(), r.prefix_list.is_some()]
                .iter()
                .filter(|x| **x)
                .count();
            if peers == 0 {
                let d = self.error(r.protocol.span(), "security-group rule has no peer");
                d.expected = Some("exactly one of `cidr`, `sg`, `prefix_list`".into());
                d.hint =
                    Some("CloudFormation silently skips such a rule; say who is allowed".into());
                continue;
            }
            if peers > 1 {
                let given: Vec<(&str, &Str)> = [
                    ("cidr", &r.cidr),
                    ("sg", &r.sg),
                    ("prefix_list", &r.prefix_list),
                ]
                .into_iter()
                .filter_map(|(k, v)| v.as_ref().map(|v| (k, v)))
                .collect();
                let names: Vec<&str> = given.iter().map(|(k, _)| *k).collect();
                let second = given[1].1.span();
                let d = self.error(
                    second,
                    format!(
                        "security-group rule has more than one peer: {}",
                        names.join(" and ")
                    ),
                );
                d.expected = Some("exactly one of `cidr`, `sg`, `prefix_list`".into());
                d.hint = Some("write one rule per peer".into());
                continue;
            }
            let peer = if let Some(c) = &r.cidr {
                self.cidr(c).map(Peer::Cidr)
            } else if let Some(g) = &r.sg {
                self.lookup("security group", g, sgs)
                    .map(Peer::SecurityGroup)
            } else if let Some(p) = &r.prefix_list {
                self.lookup("prefix list", p, pls).map(Peer::PrefixList)
            } else {
                None
            };
            if let (Some(traffic), Some(peer)) = (traffic, peer) {
                out.push(SgRule {
                    traffic,
                    peer,
                    description: r.description.clone(),
                });
            }
        }
        out
    }

    /// The traffic a rule matches: protocol, ports or ICMP type and code,
    /// with the AWS rules for which fields go with which protocol.
    pub(super) fn traffic(
        &mut self,
        protocol: &toml::Spanned<NumOrStr>,
        ports: Option<&toml::Spanned<NumOrStr>>,
        icmp_type: Option<&Int>,
        icmp_code: Option<&Int>,
    ) -> Option<Traffic> {
        let text = protocol.get_ref().as_text();
        let p = match parse_protocol(&text) {
            Some(p) => p,
            None => {
                let d = self.error(protocol.span(), format!("unknown protocol `{text}`"));
                d.expected = Some("tcp, udp, icmp, icmpv6, -1 (all) or a number 0-255".into());
                return None;
            }
        };
        let port_range = match ports {
            None => None,
            Some(s) => {
                let text = s.get_ref().as_text();
                match parse_port_range(&text) {
                    Some(r) => Some(r),
                    None => {
                        let too_big = text
                            .split('-')
                            .any(|p| p.trim().parse::<u64>().is_ok_and(|n| n > 65535));
                        let msg = if too_big {
                            format!("port `{text}` is out of range")
                        } else {
                            format!("`{text}` is not a port range")
                        };
                        let d = self.error(s.span(), msg);
                        d.expected =
                            Some("a port 0-65535 like 443, or a range like \"1024-65535\"".into());
                        return None;
                    }
                }
            }
        };
        match p {
            Some(proto::TCP) | Some(proto::UDP) => {
                if let Some(field) = icmp_type.or(icmp_code) {
                    let d = self.error(
                        field.span(),
                        format!("{text} rule has an ICMP type or code"),
                    );
                    d.hint = Some("ICMP fields go with protocol icmp".into());
                    return None;
                }
                let Some(r) = port_range else {
                    let name = if p == Some(proto::TCP) { "tcp" } else { "udp" };
                    let d = self.error(protocol.span(), format!("{name} rule has no ports"));
                    d.expected = Some(
                        "`ports = 80` or `ports = \"1024-65535\"` or `ports = \"all\"`".into(),
                    );
                    return None;
                };
                Some(if p == Some(proto::TCP) {
                    Traffic::Tcp(r)
                } else {
                    Traffic::Udp(r)
                })
            }
            Some(proto::ICMP) => {
                if let Some(s) = ports {
                    let d = self.error(s.span(), "icmp rule has ports");
                    d.expected = Some("`icmp_type` and `icmp_code` (-1 = all)".into());
                    return None;
                }
                let ty = match icmp_type {
                    None => None,
                    Some(v) => {
                        let n = self.int_in(v, -1, 255, "ICMP type")?;
                        (n >= 0).then_some(n as u8)
                    }
                };
                let code = match icmp_code {
                    None => None,
                    Some(v) => {
                        let n = self.int_in(v, -1, 255, "ICMP code")?;
                        (n >= 0).then_some(n as u8)
                    }
                };
                if ty.is_none() && code.is_some() {
                    let span = icmp_code.map(|c| c.span()).unwrap_or(protocol.span());
                    let d = self.error(span, "ICMP type -1 (all types) with a specific code");
                    d.expected = Some("icmp_code = -1 when icmp_type is -1".into());
                    d.hint = Some("AWS requires code -1 when the type is -1".into());
                    return None;
                }
                Some(Traffic::Icmp(IcmpMatch {
                    icmp_type: ty,
                    code,
                }))
            }
            other => {
                if let Some(field) = icmp_type.or(icmp_code) {
                    let d = self.error(
                        field.span(),
                        format!("protocol {text} rule has an ICMP type or code"),
                    );
                    d.hint = Some(
                        "ICMP fields go with protocol icmp; protocol -1 already matches all ICMP"
                            .into(),
                    );
                    return None;
                }
                if let Some(s) = ports {
                    if parse_port_range(&s.get_ref().as_text()) != Some(PortRange::ALL) {
                        let d = self
                            .warning(s.span(), format!("ports are ignored for protocol {text}"));
                        d.hint = Some(
                            "AWS opens all ports for protocols other than tcp, udp and icmp".into(),
                        );
                    }
                }
                Some(match other {
                    None => Traffic::All,
                    Some(n) => Traffic::Proto(n),
                })
            }
        }
    }

    /// The security groups of an interface: the VPC's default group when
    /// the key is absent, each group once, at most
    /// [`MAX_SGS_PER_INTERFACE`].
    pub(super) fn sg_list(
        &mut self,
        list: Option<&Vec<Str>>,
        sgs: &Names,
        default_sg: usize,
        span: Range<usize>,
    ) -> Vec<usize> {
        let Some(list) = list else {
            return vec![default_sg];
        };
        if list.is_empty() {
            let d = self.error(span.clone(), "an interface with no security group");
            d.expected =
                Some("at least one group; omit the key to get the VPC's default group".into());
        }
        let mut out = Vec::new();
        let mut sixth = None;
        for s in list {
            if let Some(i) = self.lookup("security group", s, sgs) {
                if out.len() == MAX_SGS_PER_INTERFACE && !out.contains(&i) && sixth.is_none() {
                    sixth = Some(s.span());
                }
                if out.contains(&i) {
                    let d = self.warning(
                        s.span(),
                        format!("security group `{}` is listed twice", s.get_ref()),
                    );
                    d.hint = Some("remove the second mention".into());
                } else {
                    out.push(i);
                }
            }
        }
        if out.len() > MAX_SGS_PER_INTERFACE {
            let d = self.error(
                sixth.unwrap_or(span),
                format!("{} security groups on one interface, over the AWS quota of {MAX_SGS_PER_INTERFACE}", out.len()),
            );
            d.hint = Some("merge groups; the quota can be raised to 16 on request".into());
        }
        out
    }

    /// A network ACL's rules in one direction, by rule number (unique),
    /// at most [`MAX_NACL_RULES`].
    pub(super) fn nacl_rules(
        &mut self,
        rules: &[RawNaclRule],
        dir: &str,
        acl: &RawNacl,
    ) -> Vec<NaclRule> {
        let mut out: Vec<NaclRule> = Vec::new();
        let mut numbers: HashMap<i64, usize> = HashMap::new();
        for r in rules {
            let Some(number) = self.int_in(&r.rule, 1, 32766, "rule number") else {
                continue;
            };
            if let Some(line) = numbers.get(&number) {
                let d = self.error(
                    r.rule.span(),
                    format!(
                        "duplicate {dir} rule number {number} in network ACL `{}`",
                        acl.name.get_ref()
                    ),
                );
                d.hint = Some(format!(
                    "rule {number} is already on line {line}; numbers are unique per direction"
                ));
                continue;
            }
            numbers.insert(number, self.src.line_col(r.rule.span().start).0);
            let action = match r.action.get_ref().to_ascii_lowercase().as_str() {
                "allow" => Some(NaclAction::Allow),
                "deny" => Some(NaclAction::Deny),
                other => {
                    let d = self.error(r.action.span(), format!("unknown action `{other}`"));
                    d.expected = Some("`allow` or `deny`".into());
                    None
                }
            };
            let traffic = self.traffic(
                &r.protocol,
                r.ports.as_ref(),
                r.icmp_type.as_ref(),
                r.icmp_code.as_ref(),
            );
            let cidr = self.cidr(&r.cidr);
            if let (Some(action), Some(traffic), Some(cidr)) = (action, traffic, cidr) {
                out.push(NaclRule {
                    number: number as u16,
                    action,
                    traffic,
                    cidr,
                });
            }
        }
        if out.len() > MAX_NACL_RULES {
            let d = self.error(
                acl.name.span(),
                format!(
                    "network ACL `{}` has {} {dir} rules, over the AWS quota of {MAX_NACL_RULES}",
                    acl.name.get_ref(),
                    out.len()
                ),
            );
            d.hint =
                Some("merge rules; the quota can be raised to 40 at a cost in performance".into());
        }
        out.sort_by_key(|r| r.number);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{diagnostics, hint, load};
    use crate::nacl::NaclAction;
    use crate::security_group::Peer;
    use crate::traffic::{PortRange, Traffic};

    #[test]
    fn rules_resolve_their_traffic_and_peers() {
        let (t, _) = load(
            "\n[[security_group]]\nname = \"web\"\ningress = [{ protocol = \"tcp\", ports = \"1024-2047\", sg = \"web\" }]\n\n[[vpc.nacl]]\nname = \"acl\"\ningress = [\n  { rule = 200, action = \"deny\", protocol = \"icmp\", cidr = \"0.0.0.0/0\" },\n  { rule = 100, action = \"allow\", protocol = \"-1\", cidr = \"10.0.0.0/8\" },\n]\n",
        );
        let web = &t.security_groups[0];
        assert_eq!(
            web.ingress[0].traffic,
            Traffic::Tcp(PortRange {
                from: 1024,
                to: 2047
            })
        );
        assert_eq!(web.ingress[0].peer, Peer::SecurityGroup(0));
        assert_eq!(web.egress.len(), 1, "egress omitted: allow all");
        let acl = &t.nacls[0];
        let numbers: Vec<u16> = acl.ingress.iter().map(|r| r.number).collect();
        assert_eq!(numbers, [100, 200]);
        assert_eq!(acl.ingress[1].action, NaclAction::Deny);
    }

    #[test]
    fn a_rule_without_a_peer_is_an_error() {
        let extra = "\n[[security_group]]\nname = \"web\"\ningress = [{ protocol = \"tcp\", ports = 80 }]\n";
        assert_eq!(
            diagnostics(extra),
            ["t.toml:4:25: error: security-group rule has no peer"]
        );
    }

    #[test]
    fn a_duplicate_acl_rule_number_is_an_error() {
        let extra = "\n[[vpc.nacl]]\nname = \"acl\"\negress = [\n  { rule = 100, action = \"allow\", protocol = \"-1\", cidr = \"0.0.0.0/0\" },\n  { rule = 100, action = \"deny\", protocol = \"-1\", cidr = \"0.0.0.0/0\" },\n]\n";
        assert_eq!(
            diagnostics(extra),
            ["t.toml:6:12: error: duplicate outbound rule number 100 in network ACL `acl`"]
        );
        assert!(hint(extra).starts_with("rule 100 is already on line"));
    }

    #[test]
    fn a_udp_rule_with_an_icmp_type_is_an_error() {
        let extra = "\n[[security_group]]\nname = \"dns\"\ningress = [{ protocol = \"udp\", ports = 53, icmp_type = 3, cidr = \"0.0.0.0/0\" }]\n";
        assert_eq!(
            diagnostics(extra),
            ["t.toml:4:56: error: udp rule has an ICMP type or code"]
        );
    }
}
