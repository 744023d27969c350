//! Tests of the BGP fields of VIFs, the VPN and `[sim] bgp_daemon`, on
//! small files with exact line:col.

use std::time::Duration;

use crate::model::bgp::{AdvertisedPrefix, Bfd, BgpDaemon, Community};
use crate::resolve::fixture::{diagnostics, hint, load};

/// A VIF on `gw` without prefixes; what the test adds starts on line 9.
const VIF: &str = "\n[[direct_connect.vif]]\nname = \"vif\"\nvlan = 101\ncustomer_asn = 65010\ncustomer_address = \"169.254.100.1/30\"\namazon_address = \"169.254.100.2/30\"\ncustomer_router = \"gw\"\n";

/// A VPN on `gw`; what the test adds starts on line 5.
const VPN: &str = "\n[vpn]\nname = \"vpn\"\ncustomer_gateway = \"gw\"\n";

fn vif(extra: &str) -> String {
    format!("{VIF}{extra}")
}

#[test]
fn a_vif_reads_prefix_attributes_timers_bfd_and_local_preference() {
    let (t, warnings) = load(&vif(
        "advertised_prefixes = [\n  \"192.168.1.0/24\",\n  { prefix = \"192.168.0.0/16\", communities = [\"7224:7300\", \"65010:1\"], prepend = 2 },\n  \"192.168.1.0/24\",\n]\nhold_time = 30\nkeepalive = 10\nbfd = { interval = \"500ms\", multiplier = 5 }\nlocal_preference = 200\n",
    ));
    assert!(warnings.0.is_empty(), "{warnings}");
    let v = &t.vifs[0];
    let net = |s: &str| s.parse().expect("a block");
    assert_eq!(
        v.advertised,
        [
            AdvertisedPrefix {
                prefix: net("192.168.0.0/16"),
                communities: vec![Community(7224, 7300), Community(65010, 1)],
                prepend: 2,
            },
            AdvertisedPrefix::plain(net("192.168.1.0/24")),
        ]
    );
    let plain: Vec<_> = v.advertised.iter().map(|a| a.prefix).collect();
    assert_eq!(
        v.advertised_prefixes(),
        plain,
        "the same prefixes, in the same order"
    );
    assert_eq!(v.bgp.hold_time, Some(30));
    assert_eq!(v.bgp.keepalive, Some(10));
    assert_eq!(
        v.bgp.bfd,
        Some(Bfd {
            interval: Duration::from_millis(500),
            multiplier: 5
        })
    );
    assert_eq!(v.bgp.local_preference, Some(200));
}

#[test]
fn defaults_are_no_bfd_and_the_daemons_timers() {
    let (t, _) = load(&vif(
        "advertised_prefixes = [\"192.168.1.0/24\"]\nbfd = {}\n",
    ));
    let v = &t.vifs[0];
    assert_eq!(
        (v.bgp.hold_time, v.bgp.keepalive, v.bgp.local_preference),
        (None, None, None)
    );
    // an empty table asks for AWS's minimum
    assert_eq!(
        v.bgp.bfd,
        Some(Bfd {
            interval: Duration::from_millis(300),
            multiplier: 3
        })
    );
    let (t, _) = load(&vif("advertised_prefixes = [\"192.168.1.0/24\"]\n"));
    assert_eq!(t.vifs[0].bgp.bfd, None);
}

#[test]
fn a_bad_community_is_an_error_at_the_string() {
    let extra = vif(
        "advertised_prefixes = [{ prefix = \"192.168.1.0/24\", communities = [\"7224-7300\"] }]\n",
    );
    assert_eq!(
        diagnostics(&extra),
        ["t.toml:9:68: error: `7224-7300` is not a BGP community"]
    );
    let extra = vif(
        "advertised_prefixes = [{ prefix = \"192.168.1.0/24\", communities = [\"7224:73000\"] }]\n",
    );
    assert_eq!(
        diagnostics(&extra),
        ["t.toml:9:68: error: `7224:73000` is not a BGP community"]
    );
    assert!(hint(&extra).contains("16-bit"), "{}", hint(&extra));
}

#[test]
fn other_aws_communities_are_a_warning_and_two_preferences_an_error() {
    let extra = vif(
        "advertised_prefixes = [{ prefix = \"192.168.1.0/24\", communities = [\"7224:9100\"] }]\n",
    );
    assert_eq!(
        diagnostics(&extra),
        ["t.toml:9:68: warning: AWS ignores community 7224:9100 on a private VIF"]
    );
    let extra = vif(
        "advertised_prefixes = [{ prefix = \"192.168.1.0/24\", communities = [\"7224:7300\", \"7224:7100\"] }]\n",
    );
    assert_eq!(
        diagnostics(&extra),
        ["t.toml:9:81: error: a second AWS local-preference community: 7224:7300 and 7224:7100"]
    );
}

#[test]
fn prepending_over_the_limit_is_an_error() {
    let extra = vif("advertised_prefixes = [{ prefix = \"192.168.1.0/24\", prepend = 11 }]\n");
    assert_eq!(
        diagnostics(&extra),
        ["t.toml:9:63: error: AS-path prepend 11 is over the limit of 10"]
    );
    let (t, _) = load(&vif(
        "advertised_prefixes = [{ prefix = \"192.168.1.0/24\", prepend = 10 }]\n",
    ));
    assert_eq!(t.vifs[0].advertised[0].prepend, 10);
}

#[test]
fn a_prefix_listed_twice_with_other_attributes_is_an_error() {
    let extra = vif(
        "advertised_prefixes = [\n  \"192.168.1.0/24\",\n  { prefix = \"192.168.1.0/24\", prepend = 1 },\n]\n",
    );
    assert_eq!(
        diagnostics(&extra),
        ["t.toml:11:14: error: prefix 192.168.1.0/24 is listed twice with different BGP attributes"]
    );
    assert!(
        hint(&extra).starts_with("the first one is on line"),
        "{}",
        hint(&extra)
    );
}

#[test]
fn hold_times_below_three_are_errors() {
    for (hold, message) in [
        ("0", "hold time 0 is not supported by AWS"),
        ("1", "hold time 1 is below AWS's minimum of 3 seconds"),
        ("2", "hold time 2 is below AWS's minimum of 3 seconds"),
        ("65536", "hold time 65536 is out of range"),
    ] {
        assert_eq!(
            diagnostics(&vif(&format!("hold_time = {hold}\n"))),
            [format!("t.toml:9:13: error: {message}")]
        );
    }
    assert!(diagnostics(&vif("hold_time = 3\nkeepalive = 1\n")).is_empty());
}

#[test]
fn a_keepalive_must_be_less_than_the_hold_time() {
    assert_eq!(
        diagnostics(&vif("keepalive = 0\n")),
        ["t.toml:9:13: error: keepalive 0 is not supported by AWS"]
    );
    assert_eq!(
        diagnostics(&vif("hold_time = 30\nkeepalive = 30\n")),
        ["t.toml:10:13: error: keepalive 30 is not less than the hold time 30"]
    );
    // without hold_time, AWS's 90 s applies
    assert_eq!(
        diagnostics(&vif("keepalive = 90\n")),
        ["t.toml:9:13: error: keepalive 90 is not less than AWS's default hold time 90"]
    );
    // above half, BIRD warns
    assert_eq!(
        diagnostics(&vif("hold_time = 30\nkeepalive = 20\n")),
        ["t.toml:10:13: warning: keepalive 20 is more than half of the hold time 30"]
    );
    // an invalid hold time is one error, not two
    assert_eq!(
        diagnostics(&vif("hold_time = 1\nkeepalive = 5\n")),
        ["t.toml:9:13: error: hold time 1 is below AWS's minimum of 3 seconds"]
    );
}

#[test]
fn bfd_below_aws_minimum_is_an_error() {
    assert_eq!(
        diagnostics(&vif("bfd = { interval = \"100ms\", multiplier = 3 }\n")),
        ["t.toml:9:20: error: BFD interval 100ms is below AWS's minimum of 300ms"]
    );
    assert_eq!(
        diagnostics(&vif("bfd = { interval = \"300ms\", multiplier = 2 }\n")),
        ["t.toml:9:42: error: BFD multiplier 2 is below AWS's minimum of 3"]
    );
    assert_eq!(
        diagnostics(&vif("bfd = { multiplier = 256 }\n")),
        ["t.toml:9:22: error: BFD multiplier 256 is out of range"]
    );
    assert_eq!(
        diagnostics(&vif("bfd = { interval = \"61s\" }\n")),
        ["t.toml:9:20: error: BFD interval 61s is out of range"]
    );
    assert_eq!(
        diagnostics(&vif("bfd = { interval = \"300.5ms\" }\n")),
        ["t.toml:9:20: error: BFD interval 300.5ms is not a whole number of milliseconds"]
    );
    assert_eq!(
        diagnostics(&vif("bfd = { interval = 300 }\n")),
        ["t.toml:9:20: error: `300` is not a duration"]
    );
    assert_eq!(
        hint(&vif("bfd = { interval = 300 }\n")),
        "did you mean `BFD interval = \"300ms\"`?"
    );
}

#[test]
fn local_preference_is_a_32_bit_number() {
    assert_eq!(
        diagnostics(&vif("local_preference = -1\n")),
        ["t.toml:9:20: error: local preference -1 is out of range"]
    );
    assert_eq!(
        diagnostics(&vif("local_preference = 4294967296\n")),
        ["t.toml:9:20: error: local preference 4294967296 is out of range"]
    );
    assert!(diagnostics(&vif("local_preference = 4294967295\n")).is_empty());
}

#[test]
fn a_malformed_element_is_a_placed_error() {
    let got = diagnostics(&vif("advertised_prefixes = [42]\n"));
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].starts_with("t.toml:9:24: error: invalid topology file"),
        "{got:?}"
    );
    let got = diagnostics(&vif(
        "advertised_prefixes = [{ prefix = \"192.168.1.0/24\", comunities = [] }]\n",
    ));
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].contains("comunities"), "{got:?}");
}

#[test]
fn a_bgp_vpn_reads_its_asn_prefixes_and_timers() {
    let (t, warnings) = load(&format!(
        "{VPN}routing = \"bgp\"\ncustomer_asn = 65010\nprefixes = [{{ prefix = \"192.168.1.0/24\", prepend = 1 }}]\nhold_time = 30\nkeepalive = 10\nlocal_preference = 50\n"
    ));
    assert!(warnings.0.is_empty(), "{warnings}");
    let vpn = t.vpn.as_ref().expect("a VPN");
    assert_eq!(vpn.customer_asn, Some(65010));
    assert_eq!(vpn.advertised[0].prepend, 1);
    assert_eq!(vpn.prefixes(), [vpn.advertised[0].prefix]);
    assert_eq!(
        (
            vpn.bgp_settings.hold_time,
            vpn.bgp_settings.keepalive,
            vpn.bgp_settings.local_preference
        ),
        (Some(30), Some(10), Some(50))
    );
}

#[test]
fn a_bgp_vpn_needs_a_customer_asn_other_than_amazons() {
    assert_eq!(
        diagnostics(&format!("{VPN}routing = \"bgp\"\n")),
        ["t.toml:5:11: error: a BGP VPN without `customer_asn`"]
    );
    assert_eq!(
        diagnostics(&format!("{VPN}routing = \"bgp\"\ncustomer_asn = 64512\n")),
        ["t.toml:6:16: error: customer ASN 64512 equals the Amazon-side ASN"]
    );
    // a VPN's keepalive is measured against AWS's VPN hold time, 30 s
    assert_eq!(
        diagnostics(&format!(
            "{VPN}routing = \"bgp\"\ncustomer_asn = 65010\nkeepalive = 30\n"
        )),
        ["t.toml:7:13: error: keepalive 30 is not less than AWS's default hold time 30"]
    );
}

#[test]
fn bgp_fields_on_a_static_vpn_are_warnings() {
    assert_eq!(
        diagnostics(&format!(
            "{VPN}customer_asn = 65010\nhold_time = 30\nprefixes = [{{ prefix = \"192.168.1.0/24\", communities = [\"7224:7300\"] }}]\n"
        )),
        [
            "t.toml:5:16: warning: `customer_asn` does nothing on a static VPN",
            "t.toml:6:13: warning: `hold_time` does nothing on a static VPN",
            "t.toml:7:24: warning: BGP attributes of 192.168.1.0/24 do nothing on a static VPN",
        ]
    );
}

#[test]
fn bgp_daemon_names_a_node_that_ends_a_session() {
    let with_vif = vif("advertised_prefixes = [\"192.168.1.0/24\"]\n");
    let (t, _) = load(&format!(
        "{with_vif}\n[sim]\nbgp_daemon = {{ gw = \"frr\" }}\n"
    ));
    assert_eq!(
        t.sim.bgp_daemon_of(t.vifs[0].customer_router),
        BgpDaemon::Frr
    );
    assert_eq!(
        diagnostics(&format!(
            "{with_vif}\n[sim]\nbgp_daemon = {{ gww = \"frr\" }}\n"
        )),
        ["t.toml:12:16: error: unknown node `gww`"]
    );
    assert_eq!(
        diagnostics(&format!(
            "{with_vif}\n[sim]\nbgp_daemon = {{ pc = \"bird\" }}\n"
        )),
        ["t.toml:12:16: error: node `pc` ends no BGP session"]
    );
    assert_eq!(
        diagnostics(&format!(
            "{with_vif}\n[sim]\nbgp_daemon = {{ gw = \"quagga\" }}\n"
        )),
        ["t.toml:12:21: error: unknown BGP daemon `quagga`"]
    );
    // a static VPN runs no BGP
    let got = diagnostics(&format!("{VPN}\n[sim]\nbgp_daemon = {{ gw = \"frr\" }}\n"));
    assert_eq!(got, ["t.toml:7:16: error: node `gw` ends no BGP session"]);
    assert!(
        hint(&format!("{VPN}\n[sim]\nbgp_daemon = {{ gw = \"frr\" }}\n"))
            .contains("routing = \"bgp\"")
    );
}

#[test]
fn the_two_vif_example_reads_as_its_comments_say() {
    let src = crate::SourceFile::new(
        "two-vifs.toml",
        include_str!("../../../examples/two-vifs.toml").to_string(),
    );
    let (t, warnings) = crate::resolve::resolve(&src).expect("the example resolves");
    assert!(warnings.0.is_empty(), "{warnings}");
    let communities: Vec<Vec<Community>> = t
        .vifs
        .iter()
        .map(|v| v.advertised[0].communities.clone())
        .collect();
    assert_eq!(communities, [[Community::AWS_HIGH], [Community::AWS_LOW]]);
    let bfd = Some(Bfd {
        interval: Duration::from_millis(300),
        multiplier: 3,
    });
    assert!(t.vifs.iter().all(|v| v.bgp.bfd == bfd));
    let prefs: Vec<Option<u32>> = t.vifs.iter().map(|v| v.bgp.local_preference).collect();
    assert_eq!(prefs, [Some(200), Some(150)]);
    let vpn = t.vpn.as_ref().expect("a VPN");
    assert!(vpn.bgp);
    assert_eq!(vpn.customer_asn, Some(65010));
    assert_eq!(vpn.bgp_settings.local_preference, Some(100));
}
