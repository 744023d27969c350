//! What a running lab cannot take in place: fields whose change would make
//! every address, namespace or BGP session of the lab new (a VPC's block,
//! a subnet's zone or block, an ASN, the topology's name). An edit of one
//! is refused, at the field's place in the new file, before any step.

use std::ops::Range;

use topology::diag::{Diagnostic, Diagnostics, Severity, SourceFile};
use topology::format::RawTopology;
use topology::Topology;

/// The fields of `new` (read from `new_src`) that differ from `old` and
/// cannot change in a running lab, each an error at its place in the new
/// file saying it "needs a rebuild". Empty when the edit can be applied.
pub fn fields_needing_rebuild(old: &Topology, new: &Topology, new_src: &SourceFile) -> Diagnostics {
    // the file loaded (it gave `new`): its spans are there to read
    let raw: Option<RawTopology> = toml::from_str(new_src.text()).ok();
    let raw = raw.as_ref();
    let mut out = Vec::new();
    let mut refuse = |span: Option<Range<usize>>, what: String, was: String, now: String| {
        let d: Diagnostic = new_src
            .diagnostic(
                Severity::Error,
                span,
                format!("{what} changes from {was} to {now}: this needs a rebuild"),
            )
            .hint("a running lab cannot change this in place: `vifgate sim apply FILE --rebuild` takes it down and up again");
        out.push(d);
    };
    if old.name != new.name {
        refuse(
            raw.and_then(|r| r.name.as_ref()).map(|n| n.span()),
            "the topology's name".into(),
            format!("`{}`", old.name),
            format!("`{}`", new.name),
        );
    }
    let raw_vpc = raw.and_then(|r| r.vpc.as_ref());
    if let (Some(o), Some(n)) = (&old.vpc, &new.vpc) {
        if o.cidr != n.cidr {
            refuse(
                raw_vpc.map(|v| v.cidr.span()),
                format!("VPC {}'s CIDR", n.name),
                o.cidr.to_string(),
                n.cidr.to_string(),
            );
        }
        let (oa, na) = (o.vgw.as_ref().map(|g| g.asn), n.vgw.as_ref().map(|g| g.asn));
        if let (Some(oa), Some(na)) = (oa, na) {
            if oa != na {
                let vgw = raw_vpc.and_then(|v| v.vgw.as_ref());
                refuse(
                    vgw.and_then(|g| g.asn.as_ref().map(|a| a.span()))
                        .or(vgw.map(|g| g.name.span())),
                    "the VGW's ASN".into(),
                    oa.to_string(),
                    na.to_string(),
                );
            }
        }
    }
    for n in &new.subnets {
        let Some(o) = old.subnets.iter().find(|s| s.name == n.name) else {
            continue;
        };
        let at = raw_vpc.and_then(|v| v.subnet.iter().find(|s| *s.name.get_ref() == n.name));
        if o.az != n.az {
            refuse(
                at.map(|s| s.az.span()),
                format!("subnet {}'s availability zone", n.name),
                o.az.clone(),
                n.az.clone(),
            );
        }
        if o.cidr != n.cidr {
            refuse(
                at.map(|s| s.cidr.span()),
                format!("subnet {}'s CIDR", n.name),
                o.cidr.to_string(),
                n.cidr.to_string(),
            );
        }
    }
    let raw_vifs = raw
        .and_then(|r| r.direct_connect.as_ref())
        .map(|d| d.vif.as_slice());
    for n in &new.vifs {
        let Some(o) = old.vifs.iter().find(|v| v.name == n.name) else {
            continue;
        };
        let at = raw_vifs.and_then(|vs| vs.iter().find(|v| *v.name.get_ref() == n.name));
        if o.customer_asn != n.customer_asn {
            refuse(
                at.map(|v| v.customer_asn.span()),
                format!("VIF {}'s customer (office) ASN", n.name),
                o.customer_asn.to_string(),
                n.customer_asn.to_string(),
            );
        }
        if o.amazon_asn != n.amazon_asn {
            refuse(
                at.and_then(|v| v.amazon_asn.as_ref().map(|a| a.span()))
                    .or(at.map(|v| v.name.span())),
                format!("VIF {}'s Amazon ASN", n.name),
                o.amazon_asn.to_string(),
                n.amazon_asn.to_string(),
            );
        }
    }
    // a VPN's ASN counts on BGP at both ends: one turned static (or BGP)
    // has a session less (or more), which BIRD's reconfiguration takes
    let vpn_asns = |v: &Option<topology::model::Vpn>| v.as_ref().and_then(|v| v.customer_asn);
    if let (Some(oa), Some(na), Some(n)) = (vpn_asns(&old.vpn), vpn_asns(&new.vpn), &new.vpn) {
        if oa != na {
            let at = raw.and_then(|r| r.vpn.as_ref());
            refuse(
                at.and_then(|v| v.customer_asn.as_ref().map(|a| a.span()))
                    .or(at.map(|v| v.name.span())),
                format!("VPN {}'s customer (office) ASN", n.name),
                oa.to_string(),
                na.to_string(),
            );
        }
    }
    Diagnostics(out)
}
