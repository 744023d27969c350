//! The hybrid links: Direct Connect (connection and private VIFs), the
//! VPN, and the routes the VGW propagates into the VPC's tables.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::aws_limits::Md5KeyAt;
use super::bgp::{PlacedPrefix, RawSession};
use super::{NodeNames, Resolver, MAX_BANDWIDTH_BPS, MAX_LINK_DELAY, MIN_BANDWIDTH_BPS};
use crate::format::*;
use crate::model::bgp::{AWS_DX_HOLD_TIME, MAX_VIF_PREFIXES};
use crate::model::*;
use crate::route_table::{Route, RouteOrigin, RouteTable, RouteTarget};
use crate::secret_file;
use crate::units::{fmt_duration, parse_rate, rate_suggestion};

impl Resolver<'_> {
    /// `[direct_connect]`: the connection and its private VIFs.
    pub(super) fn direct_connect(
        &mut self,
        raw: &RawTopology,
        t: &mut Topology,
        nodes: &NodeNames,
    ) {
        let Some(dx) = &raw.direct_connect else {
            return;
        };
        t.dx_connection = dx.connection.as_ref().map(|c| self.dx_connection(c));
        let _ = self.names("VIF", dx.vif.iter().map(|v| &v.name));
        for v in &dx.vif {
            self.name_length(&v.name, "VIF");
        }
        let vif_names: Vec<&Str> = dx.vif.iter().map(|v| &v.name).collect();
        self.one_identifier_each(&vif_names, "VIF", "BGP session name in BIRD and FRR", |n| {
            crate::lab_names::session_name(crate::bgp::SessionKind::DirectConnect, n)
        });
        let mut vlans: HashMap<i64, String> = HashMap::new();
        for v in &dx.vif {
            self.vif(v, t, nodes, &mut vlans);
        }
    }

    /// `[[direct_connect.vif]]`: a private VIF ended by an office router
    /// or gateway, which learns the VPC's block over it while BGP is up.
    fn vif(
        &mut self,
        v: &RawVif,
        t: &mut Topology,
        nodes: &NodeNames,
        vlans: &mut HashMap<i64, String>,
    ) {
        let vlan = self.vif_vlan(v, vlans);
        let (customer_asn, amazon_asn) = self.vif_asns(v, t);
        let (cust, amzn) = self.vif_peers(v);
        let mtu = self.vif_mtu(v);
        self.vif_md5_key(v);
        let entries = self.prefix_entries(&v.advertised_prefixes, "a private VIF");
        let configured_down = self.vif_state(v, &entries);
        let advertised = self.distinct_prefixes(&entries);
        let bgp = self.bgp_settings(&RawSession {
            hold_time: v.hold_time.as_ref(),
            keepalive: v.keepalive.as_ref(),
            bfd: v.bfd.as_ref(),
            local_preference: v.local_preference.as_ref(),
            aws_hold_time: AWS_DX_HOLD_TIME,
        });
        let router = self.lookup(
            "office gateway or router",
            &v.customer_router,
            &nodes.office,
        );
        let (
            Some(vlan),
            Some(customer_asn),
            Some(amazon_asn),
            Some(cust),
            Some(amzn),
            Some(mtu),
            Some(router),
        ) = (vlan, customer_asn, amazon_asn, cust, amzn, mtu, router)
        else {
            return;
        };
        let id = t.vifs.len();
        t.nodes[router].interfaces.push(Interface {
            name: v.name.get_ref().clone(),
            attachment: Attachment::Vif(id),
            ip: cust.addr(),
            public_ip: None,
        });
        t.vifs.push(Vif {
            name: v.name.get_ref().clone(),
            vlan: vlan as u16,
            customer_asn: customer_asn as u32,
            amazon_asn,
            customer_address: cust,
            amazon_address: amzn,
            mtu,
            md5_key: v.md5_key.as_ref().map(|k| k.get_ref().clone()),
            customer_router: router,
            advertised,
            bgp,
            configured_down,
            // the session's state is the analysis's: `bgp::install`
            bgp_up: false,
            down_reason: None,
        });
    }

    /// The VIF's VLAN id, unique on the connection.
    fn vif_vlan(&mut self, v: &RawVif, vlans: &mut HashMap<i64, String>) -> Option<i64> {
        let vlan = self.int_in(&v.vlan, 1, 4094, "VLAN id");
        if let Some(vl) = vlan {
            if let Some(other) = vlans.insert(vl, v.name.get_ref().clone()) {
                let d = self.error(
                    v.vlan.span(),
                    format!("VLAN {vl} is already used by VIF `{other}`"),
                );
                d.hint = Some("VLAN ids are unique per connection".into());
            }
        }
        vlan
    }

    /// The customer ASN and the Amazon-side one (the VGW's unless given,
    /// and then equal to it); the VIF needs the VPC's VGW.
    fn vif_asns(&mut self, v: &RawVif, t: &Topology) -> (Option<i64>, Option<u32>) {
        let customer_asn = self.int_in(&v.customer_asn, 1, 4_294_967_294, "ASN");
        let vgw_asn = t.vpc.as_ref().and_then(|p| p.vgw.as_ref()).map(|g| g.asn);
        match (&v.vgw, t.vpc.as_ref().and_then(|p| p.vgw.as_ref())) {
            (Some(name), Some(g)) if name.get_ref() != &g.name => {
                let d = self.error(
                    name.span(),
                    format!("unknown virtual private gateway `{}`", name.get_ref()),
                );
                d.expected = Some(format!("the VPC's VGW `{}`", g.name));
            }
            (_, None) => {
                let d = self.error(
                    v.name.span(),
                    format!(
                        "VIF `{}` has no virtual private gateway to attach to",
                        v.name.get_ref()
                    ),
                );
                d.hint = Some("add `[vpc.vgw]`".into());
            }
            _ => {}
        }
        let amazon_asn = match &v.amazon_asn {
            Some(a) => {
                let n = self.int_in(a, 1, 4_294_967_294, "ASN");
                if let (Some(n), Some(g)) = (n, vgw_asn) {
                    if n as u32 != g {
                        let d = self.error(
                            a.span(),
                            format!("Amazon-side ASN {n} differs from the VGW's ASN {g}"),
                        );
                        d.hint = Some("the Amazon-side ASN of a private VIF is the VGW's".into());
                    }
                }
                n.map(|n| n as u32)
            }
            None => vgw_asn,
        };
        if let (Some(c), Some(a)) = (customer_asn, amazon_asn) {
            if c as u32 == a {
                let d = self.error(
                    v.customer_asn.span(),
                    format!("customer ASN {c} equals the Amazon-side ASN"),
                );
                d.hint = Some("eBGP needs two different ASNs".into());
            }
        }
        (customer_asn, amazon_asn)
    }

    /// The two peer addresses: link-local or private, the two ends of one
    /// subnet, usable addresses of a /30.
    fn vif_peers(&mut self, v: &RawVif) -> (Option<Ipv4Net>, Option<Ipv4Net>) {
        let cust = self.interface_cidr(&v.customer_address);
        let amzn = self.interface_cidr(&v.amazon_address);
        for (addr, raw) in [(cust, &v.customer_address), (amzn, &v.amazon_address)] {
            let Some(addr) = addr else { continue };
            let link_local: Ipv4Net = "169.254.0.0/16".parse().expect("a valid block");
            if !(link_local.contains(&addr.addr()) || addr.addr().is_private()) {
                let d = self.error(
                    raw.span(),
                    format!(
                        "peer address {} is neither link-local nor private",
                        addr.addr()
                    ),
                );
                d.expected = Some(
                    "a /30 from 169.254.0.0/16 (as AWS assigns) or from RFC 1918 space".into(),
                );
            }
        }
        if let (Some(c), Some(a)) = (cust, amzn) {
            if c.prefix_len() != a.prefix_len() || c.trunc() != a.trunc() || c.addr() == a.addr() {
                let d = self.error(
                    v.amazon_address.span(),
                    format!("peer addresses {c} and {a} are not two ends of one subnet"),
                );
                d.expected = Some(
                    "two addresses of the same /30, e.g. 169.254.100.1/30 and 169.254.100.2/30"
                        .into(),
                );
            } else if c.prefix_len() != 30 && c.prefix_len() != 31 {
                let d = self.warning(
                    v.customer_address.span(),
                    format!("peer subnet /{} is not the /30 AWS assigns", c.prefix_len()),
                );
                d.hint =
                    Some("AWS uses a /30 from 169.254.0.0/16 or from your RFC 1918 space".into());
            } else if c.prefix_len() == 30 {
                for (addr, raw) in [(c, &v.customer_address), (a, &v.amazon_address)] {
                    let which = if addr.addr() == addr.network() {
                        "network"
                    } else if addr.addr() == addr.broadcast() {
                        "broadcast"
                    } else {
                        continue;
                    };
                    let d = self.error(
                        raw.span(),
                        format!(
                            "peer address {} is the {which} address of {}",
                            addr.addr(),
                            addr.trunc()
                        ),
                    );
                    d.expected = Some(format!(
                        "one of the two usable addresses {} and {}",
                        Ipv4Addr::from(u32::from(addr.network()) + 1),
                        Ipv4Addr::from(u32::from(addr.network()) + 2)
                    ));
                }
            }
        }
        (cust, amzn)
    }

    /// The MTU a private VIF offers: 1500 (the default) or 9001.
    fn vif_mtu(&mut self, v: &RawVif) -> Option<u16> {
        let mtu = match &v.mtu {
            None => Some(1500),
            Some(m) => match *m.get_ref() {
                1500 | 9001 => Some(*m.get_ref() as u16),
                other => {
                    let d = self.error(
                        m.span(),
                        format!("MTU {other} is not offered on a private VIF"),
                    );
                    d.expected = Some("1500 or 9001".into());
                    None
                }
            },
        };
        mtu
    }

    /// The BGP key's place (`env:` or `file:`), never the key itself; a
    /// key file that exists must be private to its owner (relative paths
    /// start at the topology file's directory).
    fn vif_md5_key(&mut self, v: &RawVif) {
        if let Some(k) = &v.md5_key {
            let s = k.get_ref();
            let at = match Md5KeyAt::parse(s, self.src.name().parent()) {
                Some(at) if s.len() >= 5 => at,
                _ => {
                    let d = self.error(k.span(), "md5_key must say where the key is, not hold it");
                    d.expected = Some("`env:VARIABLE` or `file:PATH`".into());
                    return;
                }
            };
            if let Md5KeyAt::File(path) = &at {
                if let Some(mode) = secret_file::exposed_mode(path) {
                    let d = self.error(
                        k.span(),
                        format!(
                            "md5_key file {} is readable or writable by group or others (mode {mode:04o})",
                            path.display()
                        ),
                    );
                    d.hint = Some(secret_file::fix(path));
                    return;
                }
            }
            self.md5_key_held(k, at);
        }
    }

    /// Whether the file configures the VIF down, with a warning past
    /// [`MAX_VIF_PREFIXES`] distinct prefixes (where the session goes Idle).
    fn vif_state(&mut self, v: &RawVif, entries: &[PlacedPrefix]) -> bool {
        let mut configured_down = false;
        if let Some(s) = &v.state {
            match s.get_ref().as_str() {
                "up" => {}
                "down" => configured_down = true,
                other => {
                    let d = self.error(s.span(), format!("unknown state `{other}`"));
                    d.expected = Some("`up` or `down`".into());
                }
            }
        }
        // BGP advertises each prefix once, however often it is listed
        let mut seen = std::collections::HashSet::new();
        let mut over = None;
        for entry in entries {
            if seen.insert(entry.prefix.prefix) && seen.len() == MAX_VIF_PREFIXES + 1 {
                over = Some(entry.span.clone());
            }
        }
        if let Some(span) = over {
            let d = self.warning(span, format!("VIF `{}` advertises {} prefixes; over {MAX_VIF_PREFIXES} the BGP session goes Idle and no route is exchanged", v.name.get_ref(), seen.len()));
            d.hint = Some(
                "summarise the office prefixes (a default route, or fewer, shorter blocks)".into(),
            );
        }
        configured_down
    }

    /// `[direct_connect.connection]`: the link attributes the simulator
    /// emulates are checked here; the analysis does not use them.
    pub(super) fn dx_connection(&mut self, c: &RawDxConnection) -> DxConnection {
        let (bandwidth, bandwidth_bps) = match &c.bandwidth {
            Some(b) => match self.rate(b, "bandwidth") {
                Some((text, bps)) => (Some(text), Some(bps)),
                None => (b.get_ref().as_str().map(str::to_string), None),
            },
            None => (None, None),
        };
        let latency = c
            .latency
            .as_ref()
            .and_then(|l| self.duration(l, "latency", MAX_LINK_DELAY));
        let jitter = c
            .jitter
            .as_ref()
            .and_then(|j| self.duration(j, "jitter", MAX_LINK_DELAY));
        if let (Some(j), Some(raw_j)) = (jitter, &c.jitter) {
            let l = latency.unwrap_or_default();
            // an invalid latency was reported already: compare with nothing
            if j > l && (latency.is_some() || c.latency.is_none()) {
                let d = self.warning(
                    raw_j.span(),
                    format!(
                        "jitter {} is more than latency {}: delays that would fall below zero are zero",
                        fmt_duration(j),
                        fmt_duration(l)
                    ),
                );
                d.hint = Some(format!(
                    "each packet is delayed by latency ± jitter; set `latency` to at least {} or lower `jitter`",
                    fmt_duration(j)
                ));
            }
        }
        let loss_percent = c.loss.as_ref().and_then(|l| self.percentage(l, "loss"));
        DxConnection {
            name: c.name.get_ref().clone(),
            location: c.location.clone(),
            bandwidth,
            bandwidth_bps,
            latency,
            jitter,
            loss_percent,
        }
    }

    /// A rate in a string (`"1Gbps"`, `"500 Mbps"`, `"1.5Gbps"`): the text
    /// as written and bits per second, from [`MIN_BANDWIDTH_BPS`] to
    /// [`MAX_BANDWIDTH_BPS`].
    pub(super) fn rate(&mut self, v: &AnyValue, what: &str) -> Option<(String, u64)> {
        const EXPECTED: &str = "a rate in quotes: a number and a unit (bps, Kbps, Mbps, Gbps or bit, kbit, mbit, gbit, in any case), like \"1Gbps\", \"500Mbps\", \"100mbit\"";
        let text = match v.get_ref() {
            toml::Value::String(s) => s.clone(),
            other => {
                let shown = other.to_string();
                let d = self.error(v.span(), format!("`{shown}` is not a rate"));
                d.expected = Some(EXPECTED.into());
                d.hint = Some(
                    if matches!(other, toml::Value::Integer(_) | toml::Value::Float(_)) {
                        format!("a rate has a unit, in a string: did you mean `{what} = \"{shown}Mbps\"`?")
                    } else {
                        "write a number and a unit in a string, like \"1Gbps\"".into()
                    },
                );
                return None;
            }
        };
        let rate = match parse_rate(&text) {
            Ok(rate) => rate,
            Err(_) => {
                // a bare k/m/g gets the file's form suggested
                let d = self.error(v.span(), format!("`{text}` is not a rate"));
                d.expected = Some(EXPECTED.into());
                d.hint = Some(match rate_suggestion(&text) {
                    Some(meant) => format!("did you mean \"{meant}\"?"),
                    None => "write a number, then a unit (bps, Kbps, Mbps, Gbps or bit, kbit, mbit, gbit): \"10Gbps\", \"50Mbps\""
                        .into(),
                });
                return None;
            }
        };
        match rate.bps() {
            Ok(bps) if (MIN_BANDWIDTH_BPS..=MAX_BANDWIDTH_BPS).contains(&bps) => Some((text, bps)),
            _ => {
                let d = self.error(v.span(), format!("{what} {} is out of range", text.trim()));
                d.expected = Some(format!("{what} from 1Kbps to 1000Gbps"));
                None
            }
        }
    }

    /// `[vpn]`: the Site-to-Site VPN to the VGW, ended by an office router
    /// or gateway, which learns the VPC's block over it while it is up.
    pub(super) fn vpn(&mut self, raw: &RawTopology, t: &mut Topology, nodes: &NodeNames) {
        let Some(v) = &raw.vpn else { return };
        self.lab_name(&v.name, "VPN");
        let router = self.lookup(
            "office gateway or router",
            &v.customer_gateway,
            &nodes.office,
        );
        if t.vpc.as_ref().and_then(|p| p.vgw.as_ref()).is_none() {
            let d = self.error(
                v.name.span(),
                format!(
                    "VPN `{}` has no virtual private gateway to attach to",
                    v.name.get_ref()
                ),
            );
            d.hint = Some("add `[vpc.vgw]`".into());
        }
        let bgp = match v.routing.as_ref().map(|r| r.get_ref().as_str()) {
            None | Some("static") => false,
            Some("bgp") => true,
            Some(other) => {
                let span = v
                    .routing
                    .as_ref()
                    .map(|r| r.span())
                    .unwrap_or(v.name.span());
                let d = self.error(span, format!("unknown VPN routing `{other}`"));
                d.expected = Some("`static` or `bgp`".into());
                false
            }
        };
        let up = match v.state.as_ref().map(|s| s.get_ref().as_str()) {
            None | Some("up") => true,
            Some("down") => false,
            Some(other) => {
                let span = v.state.as_ref().map(|r| r.span()).unwrap_or(v.name.span());
                let d = self.error(span, format!("unknown state `{other}`"));
                d.expected = Some("`up` or `down`".into());
                true
            }
        };
        let inside = match &v.tunnel_inside_cidr {
            Some(s) => self.cidr(s).filter(|n| {
                let ok = n.prefix_len() == 30
                    && "169.254.0.0/16"
                        .parse::<Ipv4Net>()
                        .is_ok_and(|ll| ll.contains(n));
                if !ok {
                    let d = self.error(
                        s.span(),
                        format!("tunnel inside block {n} is not a /30 of 169.254.0.0/16"),
                    );
                    d.expected = Some("a /30 from 169.254.0.0/16, e.g. 169.254.10.0/30".into());
                }
                ok
            }),
            None => "169.254.10.0/30".parse().ok(),
        };
        let amazon_asn = t
            .vpc
            .as_ref()
            .and_then(|p| p.vgw.as_ref())
            .map(|g| g.asn)
            .unwrap_or(64512);
        let entries = self.prefix_entries(&v.prefixes, "a VPN");
        let advertised = self.distinct_prefixes(&entries);
        let (customer_asn, bgp_settings) = self.vpn_session(v, bgp, &entries, amazon_asn);
        if let (Some(asn), Some(at), Some(vpc)) = (customer_asn, &v.customer_asn, &t.vpc) {
            self.customer_gateway_asn(at, asn, &vpc.region);
        }
        let (Some(inside), Some(router)) = (inside, router) else {
            return;
        };
        let ip = Ipv4Addr::from(u32::from(inside.network()) + 2);
        t.nodes[router].interfaces.push(Interface {
            name: v.name.get_ref().clone(),
            attachment: Attachment::Vpn,
            ip,
            public_ip: None,
        });
        t.vpn = Some(Vpn {
            name: v.name.get_ref().clone(),
            customer_gateway: router,
            bgp,
            advertised,
            up,
            inside_cidr: inside,
            amazon_address: Ipv4Addr::from(u32::from(inside.network()) + 1),
            customer_address: ip,
            customer_asn,
            amazon_asn,
            bgp_settings,
        });
    }

    /// The VGW's best routes (learned over the VIFs and the VPN, chosen by
    /// [`crate::bgp`]) and their propagation into the route tables that
    /// ask for it, up to [`MAX_VIF_PREFIXES`].
    pub(super) fn propagate(&mut self, raw: &RawTopology, t: &mut Topology) {
        // the VGW's best route of each prefix (crate::bgp::install)
        let learned = t.vgw_routes();
        let Some(vpc) = &t.vpc else { return };
        let mut distinct: Vec<Ipv4Net> = learned.iter().map(|(p, _)| *p).collect();
        distinct.sort_unstable();
        distinct.dedup();
        if distinct.len() > MAX_VIF_PREFIXES && t.route_tables.iter().any(|r| r.propagate) {
            if let Some(v) = &raw.vpc {
                let d = self.warning(v.name.span(), format!("{} distinct routes would propagate; a VPC route table takes at most {MAX_VIF_PREFIXES}", distinct.len()));
                d.hint = Some(
                    "summarise the office prefixes; routes past the quota are not installed".into(),
                );
            }
        }
        let vgw_name = vpc.vgw.as_ref().map(|g| g.name.clone());
        for i in 0..t.route_tables.len() {
            if !t.route_tables[i].propagate {
                continue;
            }
            if vgw_name.is_none() {
                if let Some(raw_rt) = raw.vpc.as_ref().and_then(|v| v.route_table.get(i)) {
                    let d = self.error(
                        raw_rt.name.span(),
                        format!(
                            "route table `{}` propagates from a VGW, but the VPC has none",
                            raw_rt.name.get_ref()
                        ),
                    );
                    d.hint = Some("add `[vpc.vgw]` or remove `propagate_vgw`".into());
                }
                continue;
            }
            let rt = &t.route_tables[i];
            let mut routes = rt.routes.clone();
            for prefix in distinct.iter().take(MAX_VIF_PREFIXES) {
                if !routes
                    .iter()
                    .any(|r| r.prefix == *prefix && r.origin == RouteOrigin::Propagated)
                {
                    routes.push(Route {
                        prefix: *prefix,
                        target: RouteTarget::Vgw,
                        origin: RouteOrigin::Propagated,
                    });
                }
            }
            t.route_tables[i] = RouteTable::new(rt.name.clone(), true, routes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{diagnostics, hint, load};
    use crate::model::{Attachment, NextHop};

    const VIF: &str = "\n[[direct_connect.vif]]\nname = \"vif\"\nvlan = 101\ncustomer_asn = 65010\ncustomer_address = \"169.254.100.1/30\"\namazon_address = \"169.254.100.2/30\"\ncustomer_router = \"gw\"\nadvertised_prefixes = [\"192.168.1.0/24\", \"192.168.1.0/24\"]\n";

    #[test]
    fn a_vif_gives_its_router_an_interface_and_the_vpc_route() {
        let (t, _) = load(VIF);
        let vif = &t.vifs[0];
        assert_eq!((vif.vlan, vif.amazon_asn, vif.mtu), (101, 64512, 1500));
        assert_eq!(
            vif.advertised_prefixes().len(),
            1,
            "listed twice, advertised once"
        );
        assert!(vif.bgp_up);
        let gw = &t.nodes[vif.customer_router];
        assert!(gw
            .interfaces
            .iter()
            .any(|i| i.attachment == Attachment::Vif(0)));
        assert!(gw.routes.iter().any(|r| r.next_hop == NextHop::Vif(0)));
        // the VGW learned the office LAN
        let pc = "192.168.1.10".parse().expect("an address");
        assert_eq!(
            t.vgw_table.lookup(pc).map(|(p, _)| p.to_string()),
            Some("192.168.1.0/24".into())
        );
    }

    /// A scratch directory for key files.
    fn scratch(name: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("vifgate-topology-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        dir
    }

    fn write_with_mode(path: &std::path::Path, mode: u32) {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::write(path, "s3cret\n").expect("key file");
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }

    #[test]
    fn an_md5_key_file_others_can_read_is_an_error_at_the_field() {
        let dir = scratch("md5");
        let key = dir.join("bgp.key");
        write_with_mode(&key, 0o644);
        let text = format!("{VIF}md5_key = \"file:{}\"\n", key.display());
        let exposed = diagnostics(&text);
        let rendered = super::super::resolve(&crate::SourceFile::new(
            "t.toml",
            format!("{}{text}", super::super::fixture::BASE),
        ))
        .expect_err("refused")
        .to_string();
        write_with_mode(&key, 0o600);
        let private = diagnostics(&text);
        // a relative path starts at the topology file's directory
        let relative = crate::parse(
            dir.join("t.toml"),
            format!(
                "{}{VIF}md5_key = \"file:bgp.key\"\n",
                super::super::fixture::BASE
            ),
        )
        .map(|_| ());
        write_with_mode(&key, 0o640);
        let relative_exposed = crate::parse(
            dir.join("t.toml"),
            format!(
                "{}{VIF}md5_key = \"file:bgp.key\"\n",
                super::super::fixture::BASE
            ),
        )
        .map(|_| ());
        std::fs::remove_dir_all(&dir).ok();

        assert_eq!(
            exposed,
            [format!(
                "t.toml:10:11: error: md5_key file {} is readable or writable by group or others (mode 0644)",
                key.display()
            )]
        );
        assert!(
            rendered.contains(&format!("chmod 600 {}", key.display())),
            "{rendered}"
        );
        assert!(private.is_empty(), "{private:?}");
        assert!(relative.is_ok(), "{relative:?}");
        let d = relative_exposed.expect_err("group-readable");
        assert!(d.to_string().contains("(mode 0640)"), "{d}");
        // a file that is not here (it may live on the router) is not checked
        assert!(diagnostics(&format!("{VIF}md5_key = \"file:/nonexistent/bgp.key\"\n")).is_empty());
    }

    #[test]
    fn peers_not_in_one_subnet_are_an_error() {
        let extra = VIF.replace("169.254.100.2/30", "169.254.101.2/30");
        assert_eq!(
            diagnostics(&extra),
            ["t.toml:7:18: error: peer addresses 169.254.100.1/30 and 169.254.101.2/30 are not two ends of one subnet"]
        );
    }

    #[test]
    fn a_bare_unit_letter_suggests_the_aws_form() {
        let extra = "\n[direct_connect.connection]\nname = \"dx\"\nbandwidth = \"100m\"\n";
        assert_eq!(
            diagnostics(extra),
            ["t.toml:4:13: error: `100m` is not a rate"]
        );
        assert_eq!(hint(extra), "did you mean \"100Mbps\"?");
        let (t, _) =
            load("\n[direct_connect.connection]\nname = \"dx\"\nbandwidth = \"100mbit/s\"\n");
        let dx = t.dx_connection.expect("a connection");
        assert_eq!(dx.bandwidth_bps, Some(100_000_000));
        let (t, _) =
            load("\n[direct_connect.connection]\nname = \"dx\"\nbandwidth = \"1.5 Gbps\"\n");
        let dx = t.dx_connection.expect("a connection");
        assert_eq!(dx.bandwidth_bps, Some(1_500_000_000));
    }

    #[test]
    fn an_unknown_vpn_routing_is_an_error() {
        let extra = "\n[vpn]\nname = \"vpn\"\ncustomer_gateway = \"gw\"\nrouting = \"ospf\"\n";
        assert_eq!(
            diagnostics(extra),
            ["t.toml:5:11: error: unknown VPN routing `ospf`"]
        );
    }
}
