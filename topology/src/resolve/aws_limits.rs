//! Limits AWS sets on what a file describes, each an error at its field
//! naming the limit and the page that sets it, and the lab's own bound on
//! names: what `check` accepts, AWS would create and `sim up` can build.
//!
//! - the region's name ([`super::regions::check_region`]);
//! - a virtual private gateway's Amazon-side ASN: what `CreateVpnGateway`
//!   takes, or one of Amazon's legacy defaults, accepted with a warning;
//! - an application load balancer's subnets in two zones or more;
//! - the static routes of one route table, and the route tables of a VPC;
//! - a BGP MD5 key's length, when the file or variable it names holds one;
//! - the length of a node's, a VIF's or the VPN's name ([`MAX_NAME_LEN`]);
//! - an Auto Scaling group's, a scaling policy's or a scheduled action's
//!   name ([`MAX_SCALING_NAME_LEN`]), and a group's quotas of policies,
//!   scheduled actions and steps ([`MAX_SCALING_POLICIES`],
//!   [`MAX_SCHEDULED_ACTIONS`], [`MAX_STEP_ADJUSTMENTS`]).

use std::path::{Path, PathBuf};

use super::Resolver;
use crate::format::{Int, RawRoute, RawRouteTable, Str};

/// The `AmazonSideAsn` ranges `CreateVpnGateway` takes.
pub const VGW_ASN_RANGES: [(u32, u32); 2] = [(64_512, 65_534), (4_200_000_000, 4_294_967_294)];
/// Where [`VGW_ASN_RANGES`] come from.
pub const VGW_ASN_SOURCE: &str =
    "https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateVpnGateway.html";
/// Amazon's ASNs of virtual private gateways created before a custom
/// Amazon-side ASN could be chosen (region, ASN; `*`: every region), as
/// AWS lists them reserved for customer gateways. That page gives
/// Singapore's as 17943; 17493, which other AWS pages have given, is
/// taken too, as it is uncertain which is right.
pub const LEGACY_VGW_ASNS: &[(&str, u32)] = &[
    ("*", 7224),
    ("eu-west-1", 9059),
    ("ap-northeast-1", 10124),
    ("ap-southeast-1", 17493),
    ("ap-southeast-1", 17943),
];
/// Where [`LEGACY_VGW_ASNS`] come from.
pub const LEGACY_VGW_ASN_SOURCE: &str =
    "https://docs.aws.amazon.com/vpn/latest/s2svpn/cgw-options.html";
/// AWS quota: static (non-propagated) routes per route table.
pub const MAX_STATIC_ROUTES: usize = 50;
/// AWS quota: route tables per VPC, the main route table included.
pub const MAX_ROUTE_TABLES: usize = 200;
/// Where [`MAX_STATIC_ROUTES`] and [`MAX_ROUTE_TABLES`] come from.
pub const ROUTE_QUOTA_SOURCE: &str =
    "https://docs.aws.amazon.com/vpc/latest/userguide/amazon-vpc-limits.html#vpc-limits-route-tables";
/// Where an application load balancer's two zones come from.
pub const ALB_ZONES_SOURCE: &str =
    "https://docs.aws.amazon.com/elasticloadbalancing/latest/application/application-load-balancers.html#availability-zones";
/// What is wrong with a VIF's BGP MD5 key, if anything: AWS takes
/// [`MD5_KEY_LEN`] characters, and the lab writes the key into BIRD's and
/// FRR's configuration, which carry printable ASCII without spaces, `"`
/// or `\\` (so characters and bytes are one, and Linux's bound of 80
/// bytes is AWS's). The one rule for `check` and `sim up`.
pub fn md5_key_problem(key: &str) -> Option<String> {
    let n = key.chars().count();
    if !MD5_KEY_LEN.contains(&n) {
        return Some(format!("has {n} characters"));
    }
    if let Some(c) = key
        .chars()
        .find(|&c| !c.is_ascii_graphic() || c == '"' || c == '\\')
    {
        return Some(format!("has the character {c:?}"));
    }
    None
}

/// [`md5_key_problem`]'s rule in words.
pub fn md5_key_rule() -> String {
    format!(
        "a key of {} to {} characters, as AWS takes for a VIF's BGP authentication key ({MD5_KEY_SOURCE}), of printable ASCII without spaces, `\"` or `\\`, as the lab's BGP daemons read it",
        MD5_KEY_LEN.start(),
        MD5_KEY_LEN.end()
    )
}

/// The protocols of an Elastic Load Balancing listener (lower case), as
/// a listener's `protocol` takes them.
pub const LISTENER_PROTOCOLS: &[&str] = &["http", "https", "tcp", "tls", "udp", "tcp_udp"];

/// The lengths AWS takes for a private VIF's BGP authentication key.
pub const MD5_KEY_LEN: std::ops::RangeInclusive<usize> = 6..=80;
/// Where [`MD5_KEY_LEN`] comes from.
pub const MD5_KEY_SOURCE: &str =
    "https://docs.aws.amazon.com/directconnect/latest/APIReference/API_NewPrivateVirtualInterface.html";

/// The longest name of a node, a VIF or the VPN, in characters. The lab
/// turns a name into one ASCII character per character (`sim::plan::
/// ns_token`) and puts it into Unix socket paths under
/// `/run/vifgate/sim/LAB/` (a lab's name has up to 24 characters), which
/// the kernel bounds to 107 bytes: the longest is an FRR node's
/// `/run/vifgate/sim/LAB/frr-NAME/zserv.api`, 56 bytes around the name.
/// Namespace names (`LAB.NAME`, at most 200 bytes here) and BIRD's
/// symbols (`'NAME.export'`, at most 64) leave more room. The simulator's
/// tests check every path and symbol against this bound.
pub const MAX_NAME_LEN: usize = 51;

/// AWS: an Auto Scaling group's, a scaling policy's and a scheduled
/// action's name has 1 to 255 characters (`XmlStringMaxLen255`).
pub const MAX_SCALING_NAME_LEN: usize = 255;
/// AWS quota (not adjustable): scaling policies (target tracking and
/// step) per Auto Scaling group.
pub const MAX_SCALING_POLICIES: usize = 50;
/// AWS quota (not adjustable): scheduled actions per Auto Scaling group.
pub const MAX_SCHEDULED_ACTIONS: usize = 125;
/// AWS quota (not adjustable): step adjustments per step-scaling policy.
pub const MAX_STEP_ADJUSTMENTS: usize = 20;
/// Where [`MAX_SCALING_POLICIES`], [`MAX_SCHEDULED_ACTIONS`] and
/// [`MAX_STEP_ADJUSTMENTS`] come from.
pub const SCALING_QUOTA_SOURCE: &str =
    "https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-quotas.html";

/// Whether `CreateVpnGateway` takes `asn` ([`VGW_ASN_RANGES`]).
pub fn vgw_asn_creatable(asn: i64) -> bool {
    VGW_ASN_RANGES
        .iter()
        .any(|&(lo, hi)| (i64::from(lo)..=i64::from(hi)).contains(&asn))
}

/// Whether `asn` is Amazon's legacy default in `region` ([`LEGACY_VGW_ASNS`]).
fn legacy_vgw_asn_in(asn: u32, region: &str) -> bool {
    LEGACY_VGW_ASNS
        .iter()
        .any(|&(r, x)| x == asn && (r == "*" || r == region))
}

/// [`VGW_ASN_RANGES`] in words.
pub fn vgw_asn_ranges() -> String {
    VGW_ASN_RANGES
        .iter()
        .map(|(lo, hi)| format!("{lo}-{hi}"))
        .collect::<Vec<_>>()
        .join(" or ")
}

/// Where a VIF's `md5_key` says its key is: read by `check` here and by
/// the lab's `sim up`, one reading of the field for both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Md5KeyAt<'l> {
    /// `env:NAME`: the variable's name.
    Var(&'l str),
    /// `file:PATH`: the path, relative ones from the topology file's
    /// directory.
    File(PathBuf),
}

impl<'l> Md5KeyAt<'l> {
    /// The place `location` names (`base`: the topology file's directory),
    /// or `None` when it is neither `env:NAME` nor `file:PATH`.
    pub fn parse(location: &'l str, base: Option<&Path>) -> Option<Self> {
        if let Some(var) = location.strip_prefix("env:") {
            return Some(Md5KeyAt::Var(var));
        }
        let file = location.strip_prefix("file:")?;
        Some(Md5KeyAt::File(match base {
            Some(dir) if Path::new(file).is_relative() => dir.join(file),
            _ => PathBuf::from(file),
        }))
    }
}

impl Resolver<'_> {
    /// `[vpc] region`: named as AWS names regions.
    pub(super) fn region_name(&mut self, region: &Str) {
        if super::regions::check_region(region.get_ref()).is_err() {
            let d = self.error(
                region.span(),
                format!("`{}` is not a region name", region.get_ref()),
            );
            d.expected = Some(super::regions::REGION_EXPECTED.into());
        }
    }

    /// A VGW's Amazon-side ASN (default 64512) in `region`: in
    /// [`VGW_ASN_RANGES`], or a legacy default of the region (a warning).
    pub(super) fn vgw_asn(&mut self, asn: Option<&Int>, region: &str) -> u32 {
        const DEFAULT: u32 = 64_512;
        let Some(a) = asn else {
            return DEFAULT;
        };
        let Some(n) = self.int_in(a, 1, 4_294_967_294, "ASN") else {
            return DEFAULT;
        };
        if vgw_asn_creatable(n) {
            return n as u32;
        }
        let n = n as u32;
        if legacy_vgw_asn_in(n, region) {
            let d = self.warning(
                a.span(),
                format!("Amazon-side ASN {n} is Amazon's legacy default for a virtual private gateway in {region}"),
            );
            d.hint = Some(format!(
                "only a gateway created before custom ASNs existed has it; CreateVpnGateway takes {} today ({LEGACY_VGW_ASN_SOURCE}, {VGW_ASN_SOURCE})",
                vgw_asn_ranges()
            ));
            return n;
        }
        let d = self.error(
            a.span(),
            format!("Amazon-side ASN {n} is not one a virtual private gateway can have"),
        );
        d.expected = Some(format!(
            "a private ASN, {}, as CreateVpnGateway takes ({VGW_ASN_SOURCE})",
            vgw_asn_ranges()
        ));
        let legacy_regions: Vec<&str> = LEGACY_VGW_ASNS
            .iter()
            .filter(|(_, x)| *x == n)
            .map(|(r, _)| *r)
            .collect();
        if !legacy_regions.is_empty() {
            d.hint = Some(format!(
                "{n} is Amazon's legacy default in {}, not in {region} ({LEGACY_VGW_ASN_SOURCE})",
                legacy_regions.join(", ")
            ));
        }
        n
    }

    /// A VPN customer gateway's ASN in `region`: not one Amazon keeps
    /// there ([`LEGACY_VGW_ASNS`], reserved for customer gateways).
    pub(super) fn customer_gateway_asn(&mut self, at: &Int, asn: u32, region: &str) {
        if legacy_vgw_asn_in(asn, region) {
            let d = self.error(
                at.span(),
                format!("customer ASN {asn} is reserved by Amazon in {region}"),
            );
            d.expected = Some(format!(
                "an ASN of the office's, or a private one ({}), as a customer gateway takes ({LEGACY_VGW_ASN_SOURCE})",
                vgw_asn_ranges()
            ));
        }
    }

    /// Each of `[vpc] azs`, in full (`region` and a suffix): a zone of
    /// the region.
    pub(super) fn zone_name(&mut self, zone: &Str, full: &str, region: &str) {
        if super::regions::check_region(region).is_ok()
            && super::regions::check_zone(region, full).is_err()
        {
            let d = self.error(
                zone.span(),
                format!(
                    "`{}` is not an availability zone of {region}",
                    zone.get_ref()
                ),
            );
            d.expected = Some(format!(
                "a zone letter (`a`), or {region} and a zone letter (`{region}a`)"
            ));
        }
    }

    /// A listener's `protocol`: one of [`LISTENER_PROTOCOLS`].
    pub(super) fn listener_protocol(&mut self, p: &Str) -> bool {
        if LISTENER_PROTOCOLS.contains(&p.get_ref().as_str()) {
            return true;
        }
        let d = self.error(
            p.span(),
            format!("unknown listener protocol `{}`", p.get_ref()),
        );
        d.expected = Some(format!("one of {}", LISTENER_PROTOCOLS.join(", ")));
        false
    }

    /// An application load balancer's zones: two or more.
    pub(super) fn load_balancer_zones(&mut self, name: &Str, zones: &[String]) {
        if zones.len() < 2 {
            let d = self.error(
                name.span(),
                format!(
                    "application load balancer `{}` has subnets in {} availability zone{}",
                    name.get_ref(),
                    zones.len(),
                    if zones.len() == 1 { "" } else { "s" }
                ),
            );
            d.expected = Some(format!(
                "subnets in at least two availability zones, as AWS requires of an application load balancer ({ALB_ZONES_SOURCE})"
            ));
            d.hint = Some("a network load balancer may have one zone: `type = \"network\"`".into());
        }
    }

    /// The static routes of table `table`: at most [`MAX_STATIC_ROUTES`],
    /// an error at the first one past the quota.
    pub(super) fn static_route_quota(&mut self, table: &Str, routes: &[RawRoute]) {
        if let Some(first_over) = routes.get(MAX_STATIC_ROUTES) {
            let d = self.error(
                first_over.prefix.span(),
                format!(
                    "route table `{}` has {} static routes",
                    table.get_ref(),
                    routes.len()
                ),
            );
            d.expected = Some(format!(
                "at most {MAX_STATIC_ROUTES} static routes per route table, AWS's quota ({ROUTE_QUOTA_SOURCE})"
            ));
            d.hint = Some("summarise routes into shorter prefixes, or let the VGW propagate them (`propagate_vgw = true`)".into());
        }
    }

    /// The route tables of a VPC: at most [`MAX_ROUTE_TABLES`], the main
    /// one included (`implicit_main`: the VPC's main table is none of
    /// `tables`, so it counts one more), an error at the first one past
    /// the quota.
    pub(super) fn route_table_quota(&mut self, tables: &[RawRouteTable], implicit_main: bool) {
        let allowed = MAX_ROUTE_TABLES - usize::from(implicit_main);
        let Some(first_over) = tables.get(allowed) else {
            return;
        };
        let total = tables.len() + usize::from(implicit_main);
        let d = self.error(
            first_over.name.span(),
            format!("the VPC has {total} route tables, the main one included"),
        );
        d.expected = Some(format!(
            "at most {MAX_ROUTE_TABLES} route tables per VPC, the main one included, AWS's quota ({ROUTE_QUOTA_SOURCE})"
        ));
        d.hint = Some("subnets with the same routes can share one route table".into());
    }

    /// A VIF's BGP key, where `md5_key` says it is, when that holds one:
    /// [`md5_key_problem`]'s rule, the file read as the lab reads it
    /// ([`crate::secret_file::read_text`]: a regular file of a few
    /// kilobytes, surrounding whitespace aside).
    pub(super) fn md5_key_held(&mut self, field: &Str, at: Md5KeyAt<'_>) {
        let (key, place) = match at {
            Md5KeyAt::Var(var) => match std::env::var(var) {
                Ok(k) if !k.is_empty() => (k, format!("variable {var}")),
                _ => return,
            },
            Md5KeyAt::File(ref p) => match crate::secret_file::read_text(p) {
                Ok(k) => (k, format!("file {}", p.display())),
                Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => {
                    let d = self.error(field.span(), format!("md5_key file {}: {e}", p.display()));
                    d.expected = Some("a regular file holding the key".into());
                    return;
                }
                // missing or unreadable here: the file may be another
                // machine's, or root's
                Err(_) => return,
            },
        };
        if let Some(why) = md5_key_problem(&key) {
            let d = self.error(field.span(), format!("the BGP MD5 key in {place} {why}"));
            d.expected = Some(md5_key_rule());
        }
    }

    /// Any name of the file (`kind`: what it names): printable, without
    /// control characters (a newline or a tab), which the lab's
    /// configuration files could not carry. False (and an error) otherwise.
    pub(super) fn name_characters(&mut self, name: &Str, kind: &str) -> bool {
        let Some(c) = name.get_ref().chars().find(|c| c.is_control()) else {
            return true;
        };
        let d = self.error(
            name.span(),
            format!("{kind} name has a control character ({:?})", c),
        );
        d.expected = Some("a name of printable characters".into());
        false
    }

    /// An Auto Scaling group's, a policy's or a scheduled action's name
    /// (`kind`): printable ([`Self::name_characters`]: every line of
    /// `topology scale`, `sim status` and the lab's controller names it)
    /// and 1 to [`MAX_SCALING_NAME_LEN`] characters, as AWS takes (one
    /// error at most).
    pub(super) fn scaling_name(&mut self, name: &Str, kind: &str) {
        if !self.name_characters(name, kind) {
            return;
        }
        let len = name.get_ref().chars().count();
        if !(1..=MAX_SCALING_NAME_LEN).contains(&len) {
            let d = self.error(name.span(), format!("{kind} name has {len} characters"));
            d.expected = Some(format!(
                "1 to {MAX_SCALING_NAME_LEN} characters, as AWS takes"
            ));
        }
    }

    /// An error at the first of `spans` past `quota` (what `what` counts
    /// per `per`), naming AWS's quota.
    pub(super) fn scaling_quota(
        &mut self,
        spans: impl IntoIterator<Item = std::ops::Range<usize>>,
        quota: usize,
        what: &str,
        per: &str,
    ) {
        let spans: Vec<_> = spans.into_iter().collect();
        let Some(first_past) = spans.get(quota) else {
            return;
        };
        let d = self.error(first_past.clone(), format!("{} {what} {per}", spans.len()));
        d.expected = Some(format!(
            "at most {quota} {what} {per}, AWS's quota ({SCALING_QUOTA_SOURCE})"
        ));
    }

    /// A node's, a VIF's or the VPN's name (`what`): at most
    /// [`MAX_NAME_LEN`] characters, an error when longer.
    pub(super) fn name_length(&mut self, name: &Str, what: &str) {
        let n = name.get_ref().chars().count();
        if n > MAX_NAME_LEN {
            let d = self.error(name.span(), format!("{what} name has {n} characters"));
            d.expected = Some(format!(
                "at most {MAX_NAME_LEN}: the lab puts the name into its namespaces' names and its daemons' socket paths (107 bytes at most)"
            ));
        }
    }

    /// A node's or the VPN's name, which the lab builds on:
    /// [`Self::name_characters`], then [`Self::name_length`] (one error at
    /// most).
    pub(super) fn lab_name(&mut self, name: &Str, what: &str) {
        if self.name_characters(name, what) {
            self.name_length(name, what);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{diagnostics, load};
    use super::*;

    const VIF: &str = "\n[[direct_connect.vif]]\nname = \"vif\"\nvlan = 101\ncustomer_asn = 65010\ncustomer_address = \"169.254.100.1/30\"\namazon_address = \"169.254.100.2/30\"\ncustomer_router = \"gw\"\nadvertised_prefixes = [\"192.168.1.0/24\"]\n";

    fn key_file(name: &str, key: &str) -> std::path::PathBuf {
        use std::os::unix::fs::PermissionsExt as _;
        let dir =
            std::env::temp_dir().join(format!("vifgate-limits-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        let path = dir.join("bgp.key");
        std::fs::write(&path, format!("{key}\n")).expect("key file");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        path
    }

    #[test]
    fn an_md5_key_the_lab_cannot_carry_or_a_key_file_that_is_no_file_is_an_error() {
        // 41 characters but 82 bytes; a quote and a space end BIRD's and
        // FRR's lines: `sim up` refused them after `check` passed them
        for (name, key, bad) in [
            ("accents", "é".repeat(41), "'é'"),
            ("quote", "ab\"cdefg".to_string(), "'\"'"),
            ("space", "abc defg".to_string(), "' '"),
        ] {
            let path = key_file(name, &key);
            let d = diagnostics(&format!("{VIF}md5_key = \"file:{}\"\n", path.display()));
            std::fs::remove_dir_all(path.parent().expect("dir")).ok();
            assert_eq!(
                d,
                [format!(
                    "t.toml:10:11: error: the BGP MD5 key in file {} has the character {bad}",
                    path.display()
                )],
                "{name}"
            );
        }
        // a FIFO: check waited for a writer for ever
        let path = key_file("fifo", "unused");
        std::fs::remove_file(&path).expect("rm");
        let made = std::process::Command::new("mkfifo")
            .args(["-m", "600"])
            .arg(&path)
            .status();
        assert!(made.expect("mkfifo runs").success());
        let d = diagnostics(&format!("{VIF}md5_key = \"file:{}\"\n", path.display()));
        std::fs::remove_dir_all(path.parent().expect("dir")).ok();
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(d[0].contains("not a regular file"), "{d:?}");
    }

    #[test]
    fn an_md5_key_outside_6_to_80_characters_is_an_error_at_the_field() {
        for (name, key, ok) in [
            ("short", "s3cr3", false),
            ("six", "s3cr3t", true),
            ("eighty", &"k".repeat(80), true),
            ("long", &"k".repeat(81), false),
        ] {
            let path = key_file(name, key);
            let d = diagnostics(&format!("{VIF}md5_key = \"file:{}\"\n", path.display()));
            std::fs::remove_dir_all(path.parent().expect("dir")).ok();
            if ok {
                assert!(d.is_empty(), "{name}: {d:?}");
            } else {
                assert_eq!(
                    d,
                    [format!(
                        "t.toml:10:11: error: the BGP MD5 key in file {} has {} characters",
                        path.display(),
                        key.len()
                    )],
                    "{name}"
                );
            }
        }
        // a variable that is set is checked too; one that is not is not
        let var = format!("VIFGATE_TEST_MD5_{}", std::process::id());
        std::env::set_var(&var, "abc");
        let set = diagnostics(&format!("{VIF}md5_key = \"env:{var}\"\n"));
        std::env::remove_var(&var);
        let unset = diagnostics(&format!("{VIF}md5_key = \"env:{var}\"\n"));
        assert_eq!(
            set,
            [format!(
                "t.toml:10:11: error: the BGP MD5 key in variable {var} has 3 characters"
            )]
        );
        assert!(unset.is_empty(), "{unset:?}");
    }

    #[test]
    fn vif_and_vpn_names_are_bounded_like_node_names() {
        let long = "v".repeat(MAX_NAME_LEN + 1);
        let d = diagnostics(&VIF.replace("name = \"vif\"", &format!("name = \"{long}\"")));
        assert_eq!(d, ["t.toml:3:8: error: VIF name has 52 characters"]);
        let fits = "v".repeat(MAX_NAME_LEN);
        let d = diagnostics(&VIF.replace("name = \"vif\"", &format!("name = \"{fits}\"")));
        assert!(d.is_empty(), "{d:?}");
        // an instance of an Auto Scaling group is a node: its derived name
        // is checked at the group's host_prefix
        let prefix = "w".repeat(MAX_NAME_LEN - 2);
        let d = diagnostics(&format!(
            "\n[[vpc.auto_scaling_group]]\nname = \"web\"\nhost_prefix = \"{prefix}\"\nsubnets = [\"app-a\"]\ndesired = 1\nmax = 1\nsecurity_groups = [\"s\"]\n\n[[security_group]]\nname = \"s\"\ningress = []\n"
        ));
        assert_eq!(d, ["t.toml:4:15: error: node name has 52 characters"]);
    }

    #[test]
    fn vgw_asns_in_the_private_ranges_or_a_legacy_default() {
        let vgw = |asn: &str| {
            crate::resolve::fixture::BASE.replace(
                "vgw = { name = \"vgw\" }",
                &format!("vgw = {{ name = \"vgw\", asn = {asn} }}"),
            )
        };
        let check =
            |text: String| match super::super::resolve(&crate::SourceFile::new("t.toml", text)) {
                Ok((t, w)) => Ok((t.vpc.and_then(|v| v.vgw).map(|g| g.asn), w.0.len())),
                Err(d) => Err(d.0.iter().map(|d| d.message.clone()).collect::<Vec<_>>()),
            };
        assert_eq!(check(vgw("64512")), Ok((Some(64512), 0)));
        assert_eq!(check(vgw("65534")), Ok((Some(65534), 0)));
        assert_eq!(check(vgw("4200000000")), Ok((Some(4_200_000_000), 0)));
        assert_eq!(check(vgw("4294967294")), Ok((Some(4_294_967_294), 0)));
        for bad in ["100", "64511", "65535", "4199999999"] {
            assert!(check(vgw(bad)).is_err(), "{bad}");
        }
        // the fixture's region is ap-northeast-2: 7224 everywhere, 10124
        // only in ap-northeast-1
        assert_eq!(check(vgw("7224")), Ok((Some(7224), 1)));
        assert!(check(vgw("10124")).is_err());
        assert_eq!(
            check(vgw("10124").replace("ap-northeast-2", "ap-northeast-1")),
            Ok((Some(10124), 1))
        );
        // none given: AWS's default
        let (t, _) = load("");
        assert_eq!(t.vpc.and_then(|v| v.vgw).map(|g| g.asn), Some(64512));
    }
}
