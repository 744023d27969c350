//! The BGP fields of a VIF or a VPN: the advertised prefixes with their
//! communities and prepending, the timers, BFD and the office's local
//! preference, each checked against AWS's limits and what BIRD and FRR
//! accept.

use std::ops::Range;
use std::time::Duration;

use ipnet::Ipv4Net;
use toml::Spanned;

use super::Resolver;
use crate::format::{AnyValue, Int, RawBfd, RawPrefix, RawVpn, Str};
use crate::model::bgp::{AdvertisedPrefix, Bfd, BgpSettings, Community};
use crate::model::bgp::{
    AWS_VPN_HOLD_TIME, MAX_BFD_INTERVAL, MAX_BFD_MULTIPLIER, MAX_PREPEND, MIN_BFD_INTERVAL,
    MIN_BFD_MULTIPLIER, MIN_HOLD_TIME,
};
use crate::units::fmt_duration;

/// The 16-bit ASN under which AWS reads communities.
const AWS_COMMUNITY_ASN: u16 = 7224;

/// The local-preference communities AWS reads on a private VIF.
const AWS_LOCAL_PREF: [Community; 3] = [
    Community::AWS_LOW,
    Community::AWS_MEDIUM,
    Community::AWS_HIGH,
];

/// One element of a prefix list, read, with its place in the file.
pub(super) struct PlacedPrefix {
    /// The prefix and its attributes.
    pub prefix: AdvertisedPrefix,
    /// Where the element is written.
    pub span: Range<usize>,
    /// Whether it is written as a table (with attributes), not a string.
    pub with_attributes: bool,
}

/// The BGP session fields of a VIF or VPN, as written.
pub(super) struct RawSession<'r> {
    /// `hold_time`.
    pub hold_time: Option<&'r Int>,
    /// `keepalive`.
    pub keepalive: Option<&'r Int>,
    /// `bfd` (VIFs only).
    pub bfd: Option<&'r Spanned<RawBfd>>,
    /// `local_preference`.
    pub local_preference: Option<&'r Int>,
    /// AWS's hold time on this kind of session (what applies when the
    /// file gives none).
    pub aws_hold_time: u16,
}

impl Resolver<'_> {
    /// The elements of `advertised_prefixes` or `prefixes`, in file order,
    /// each valid one with its attributes (repeats kept: see
    /// [`Self::distinct_prefixes`]). `session` names the kind of session
    /// in messages (`a private VIF`, `a VPN`).
    pub(super) fn prefix_entries(
        &mut self,
        list: &[Spanned<RawPrefix>],
        session: &str,
    ) -> Vec<PlacedPrefix> {
        let mut out = Vec::new();
        for entry in list {
            let placed = match entry.get_ref() {
                RawPrefix::Plain(text) => {
                    let s = Str::new(entry.span(), text.clone());
                    self.cidr(&s).map(|p| PlacedPrefix {
                        prefix: AdvertisedPrefix::plain(p),
                        span: entry.span(),
                        with_attributes: false,
                    })
                }
                RawPrefix::WithAttributes(a) => {
                    let prefix = self.cidr(&a.prefix);
                    let communities = self.communities(&a.communities, session);
                    let prepend = match &a.prepend {
                        Some(n) => self.prepend(n),
                        None => Some(0),
                    };
                    match (prefix, communities, prepend) {
                        (Some(prefix), Some(communities), Some(prepend)) => Some(PlacedPrefix {
                            prefix: AdvertisedPrefix {
                                prefix,
                                communities,
                                prepend,
                            },
                            span: a.prefix.span(),
                            with_attributes: true,
                        }),
                        _ => None,
                    }
                }
            };
            out.extend(placed);
        }
        out
    }

    /// Each prefix once, sorted, with its attributes: BGP advertises a
    /// prefix once, so one listed again with other attributes is an error.
    pub(super) fn distinct_prefixes(&mut self, entries: &[PlacedPrefix]) -> Vec<AdvertisedPrefix> {
        let mut first: std::collections::BTreeMap<Ipv4Net, &PlacedPrefix> = Default::default();
        for e in entries {
            match first.get(&e.prefix.prefix) {
                None => {
                    first.insert(e.prefix.prefix, e);
                }
                Some(f) if f.prefix == e.prefix => {}
                Some(f) => {
                    let line = self.src.line_col(f.span.start).0;
                    let d = self.error(
                        e.span.clone(),
                        format!(
                            "prefix {} is listed twice with different BGP attributes",
                            e.prefix.prefix
                        ),
                    );
                    d.hint = Some(format!(
                        "the first one is on line {line}; BGP advertises a prefix once, with one set of communities and one prepend: merge the two"
                    ));
                }
            }
        }
        first.into_values().map(|e| e.prefix.clone()).collect()
    }

    /// A list of communities, sorted, each once; `None` when one is not a
    /// community.
    fn communities(&mut self, list: &[Str], session: &str) -> Option<Vec<Community>> {
        let mut out: Vec<Community> = Vec::new();
        let mut ok = true;
        let mut local_pref: Option<Community> = None;
        for s in list {
            let Some(c) = self.community(s) else {
                ok = false;
                continue;
            };
            if out.contains(&c) {
                let d = self.warning(s.span(), format!("community {c} is listed twice"));
                d.hint = Some("remove the second mention".into());
                continue;
            }
            if AWS_LOCAL_PREF.contains(&c) {
                if let Some(other) = local_pref {
                    let d = self.error(
                        s.span(),
                        format!("a second AWS local-preference community: {other} and {c}"),
                    );
                    d.expected =
                        Some("at most one of 7224:7100, 7224:7200 and 7224:7300 per prefix".into());
                    d.hint = Some(
                        "AWS does not say which of the two it would apply: keep the one you mean"
                            .into(),
                    );
                    ok = false;
                }
                local_pref = Some(c);
            } else if c.0 == AWS_COMMUNITY_ASN {
                let d = self.warning(s.span(), format!("AWS ignores community {c} on {session}"));
                d.hint = Some(
                    "AWS reads the local-preference communities 7224:7100 (low), 7224:7200 (medium) and 7224:7300 (high) here; the 7224:9xxx scope communities are for public VIFs"
                        .into(),
                );
            }
            out.push(c);
        }
        out.sort_unstable();
        ok.then_some(out)
    }

    /// `"ASN:VALUE"`, two numbers from 0 to 65535.
    fn community(&mut self, s: &Str) -> Option<Community> {
        let text = s.get_ref();
        if let Ok(c) = text.parse::<Community>() {
            return Some(c);
        }
        let d = self.error(s.span(), format!("`{text}` is not a BGP community"));
        d.expected = Some("`ASN:VALUE`, two numbers from 0 to 65535, like \"7224:7300\"".into());
        let numbers: Vec<&str> = text.trim().split(':').collect();
        d.hint = Some(
            if numbers.len() == 2
                && numbers
                    .iter()
                    .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            {
                "a standard community (RFC 1997) holds two 16-bit numbers; large communities are not supported".into()
            } else if numbers.len() == 3 {
                "large communities (`A:B:C`) are not supported; write a standard community `A:B`"
                    .into()
            } else {
                "AWS's local-preference communities are \"7224:7100\" (low), \"7224:7200\" (medium) and \"7224:7300\" (high)".into()
            },
        );
        None
    }

    /// Extra copies of the office's ASN, 0 to [`MAX_PREPEND`].
    fn prepend(&mut self, n: &Int) -> Option<u8> {
        let v = *n.get_ref();
        if (0..=i64::from(MAX_PREPEND)).contains(&v) {
            return Some(v as u8);
        }
        let d = if v > 0 {
            self.error(
                n.span(),
                format!("AS-path prepend {v} is over the limit of {MAX_PREPEND}"),
            )
        } else {
            self.error(n.span(), format!("AS-path prepend {v} is out of range"))
        };
        d.expected = Some(format!(
            "0 to {MAX_PREPEND} extra copies of the office's ASN"
        ));
        d.hint = Some(
            "AWS compares AS-path length after local preference, and only among VIFs to the same Region: one or two copies already make a path the longest (the limit is FRR's, for `set as-path prepend last-as`)"
                .into(),
        );
        None
    }

    /// The timers, BFD and local preference of one session.
    pub(super) fn bgp_settings(&mut self, raw: &RawSession<'_>) -> BgpSettings {
        let hold_time = raw.hold_time.and_then(|h| self.hold_time(h));
        let keepalive = raw.keepalive.and_then(|k| {
            let hold = match (hold_time, raw.hold_time) {
                (Some(h), _) => Some((h, false)),
                // an invalid hold time was reported already
                (None, Some(_)) => None,
                (None, None) => Some((raw.aws_hold_time, true)),
            };
            self.keepalive(k, hold)
        });
        let bfd = raw.bfd.and_then(|b| self.bfd(b.get_ref()));
        let local_preference = raw
            .local_preference
            .and_then(|l| self.int_in(l, 0, i64::from(u32::MAX), "local preference"))
            .map(|l| l as u32);
        BgpSettings {
            hold_time,
            keepalive,
            bfd,
            local_preference,
        }
    }

    /// A hold time AWS accepts: 3 to 65535 seconds (0 is not supported).
    fn hold_time(&mut self, h: &Int) -> Option<u16> {
        let v = *h.get_ref();
        if (i64::from(MIN_HOLD_TIME)..=i64::from(u16::MAX)).contains(&v) {
            return Some(v as u16);
        }
        let (msg, hint) = match v {
            0 => (
                "hold time 0 is not supported by AWS".to_string(),
                "0 would turn keepalives off, which AWS does not accept; leave `hold_time` out for AWS's 90 s",
            ),
            1 | 2 => (
                format!("hold time {v} is below AWS's minimum of {MIN_HOLD_TIME} seconds"),
                "the lower of the two peers' hold times applies; BGP needs at least 3 s",
            ),
            _ => (
                format!("hold time {v} is out of range"),
                "the hold time is a 16-bit number of seconds in the BGP OPEN message",
            ),
        };
        let d = self.error(h.span(), msg);
        d.expected = Some(format!("a hold time from {MIN_HOLD_TIME} to 65535 seconds"));
        d.hint = Some(hint.into());
        None
    }

    /// A keepalive from 1 second to less than the hold time (`hold`, and
    /// whether it is AWS's default); above half of it is a warning, as
    /// BIRD gives.
    fn keepalive(&mut self, k: &Int, hold: Option<(u16, bool)>) -> Option<u16> {
        let v = *k.get_ref();
        let below = hold.map_or(String::new(), |(h, _)| format!(" below {h}"));
        if !(1..=i64::from(u16::MAX)).contains(&v) {
            let d = self.error(
                k.span(),
                if v == 0 {
                    "keepalive 0 is not supported by AWS".to_string()
                } else {
                    format!("keepalive {v} is out of range")
                },
            );
            d.expected = Some(format!("a keepalive in seconds, from 1 and{below}"));
            d.hint = Some(
                "keepalives hold the session up; AWS's minimum is 1 s, its default 30 s on a VIF and 10 s on a VPN"
                    .into(),
            );
            return None;
        }
        let Some((hold, default)) = hold else {
            return Some(v as u16);
        };
        let which = if default {
            format!("AWS's default hold time {hold}")
        } else {
            format!("the hold time {hold}")
        };
        if v >= i64::from(hold) {
            let d = self.error(k.span(), format!("keepalive {v} is not less than {which}"));
            d.expected = Some(format!("a keepalive from 1 to {}", hold - 1));
            d.hint = Some(format!(
                "the session would expire between two keepalives; leave `keepalive` out for a third of the hold time ({})",
                hold / 3
            ));
            return None;
        }
        if 2 * v > i64::from(hold) {
            let d = self.warning(
                k.span(),
                format!("keepalive {v} is more than half of {which}"),
            );
            d.hint = Some(format!(
                "one lost keepalive would bring the session near expiry (BIRD warns too); a third of the hold time ({}) is usual",
                (hold / 3).max(1)
            ));
        }
        Some(v as u16)
    }

    /// `bfd = { interval, multiplier }`: AWS's minimum is 300 ms x 3.
    fn bfd(&mut self, b: &RawBfd) -> Option<Bfd> {
        let interval = match &b.interval {
            Some(v) => self.bfd_interval(v),
            None => Some(MIN_BFD_INTERVAL),
        };
        let multiplier = match &b.multiplier {
            Some(m) => self.bfd_multiplier(m),
            None => Some(MIN_BFD_MULTIPLIER),
        };
        Some(Bfd {
            interval: interval?,
            multiplier: multiplier?,
        })
    }

    /// A BFD interval from 300 ms to [`MAX_BFD_INTERVAL`], whole
    /// milliseconds.
    fn bfd_interval(&mut self, v: &AnyValue) -> Option<Duration> {
        let interval = self.duration(v, "BFD interval", MAX_BFD_INTERVAL)?;
        let expected = format!(
            "a BFD interval from {} to {}, in whole milliseconds",
            fmt_duration(MIN_BFD_INTERVAL),
            fmt_duration(MAX_BFD_INTERVAL)
        );
        if interval < MIN_BFD_INTERVAL {
            let d = self.error(
                v.span(),
                format!(
                    "BFD interval {} is below AWS's minimum of {}",
                    fmt_duration(interval),
                    fmt_duration(MIN_BFD_INTERVAL)
                ),
            );
            d.expected = Some(expected);
            d.hint = Some(
                "AWS runs BFD at 300 ms x 3 at the fastest: a failure is seen within 900 ms".into(),
            );
            return None;
        }
        if interval.subsec_nanos() % 1_000_000 != 0 {
            let d = self.error(
                v.span(),
                format!(
                    "BFD interval {} is not a whole number of milliseconds",
                    fmt_duration(interval)
                ),
            );
            d.expected = Some(expected);
            d.hint = Some("FRR takes BFD intervals in milliseconds".into());
            return None;
        }
        Some(interval)
    }

    /// A BFD multiplier from 3 to 255.
    fn bfd_multiplier(&mut self, m: &Int) -> Option<u8> {
        let v = *m.get_ref();
        if (i64::from(MIN_BFD_MULTIPLIER)..=i64::from(MAX_BFD_MULTIPLIER)).contains(&v) {
            return Some(v as u8);
        }
        let d = if (0..i64::from(MIN_BFD_MULTIPLIER)).contains(&v) {
            self.error(
                m.span(),
                format!("BFD multiplier {v} is below AWS's minimum of {MIN_BFD_MULTIPLIER}"),
            )
        } else {
            self.error(m.span(), format!("BFD multiplier {v} is out of range"))
        };
        d.expected = Some(format!(
            "a multiplier from {MIN_BFD_MULTIPLIER} to {MAX_BFD_MULTIPLIER}"
        ));
        d.hint = Some(
            "the session is declared down after this many intervals without a BFD packet".into(),
        );
        None
    }
}

impl Resolver<'_> {
    /// A VPN's BGP fields: the office's ASN (required with BGP, and not
    /// the Amazon side's) and the session's settings; on a static VPN
    /// each BGP field is a warning, as it does nothing.
    pub(super) fn vpn_session(
        &mut self,
        v: &RawVpn,
        bgp: bool,
        entries: &[PlacedPrefix],
        amazon_asn: u32,
    ) -> (Option<u32>, BgpSettings) {
        if !bgp {
            let fields = [
                ("customer_asn", &v.customer_asn),
                ("hold_time", &v.hold_time),
                ("keepalive", &v.keepalive),
                ("local_preference", &v.local_preference),
            ];
            for (name, field) in fields {
                if let Some(f) = field {
                    let d =
                        self.warning(f.span(), format!("`{name}` does nothing on a static VPN"));
                    d.hint = Some("set `routing = \"bgp\"`, or remove it".into());
                }
            }
            for e in entries.iter().filter(|e| e.with_attributes) {
                let d = self.warning(
                    e.span.clone(),
                    format!(
                        "BGP attributes of {} do nothing on a static VPN",
                        e.prefix.prefix
                    ),
                );
                d.hint = Some(
                    "a static VPN's prefixes are static routes on the VGW: set `routing = \"bgp\"`, or write the prefix alone".into(),
                );
            }
            return (None, BgpSettings::default());
        }
        let customer_asn = match &v.customer_asn {
            Some(a) => self
                .int_in(a, 1, 4_294_967_294, "ASN")
                .map(|n| n as u32)
                .filter(|&n| {
                    if n == amazon_asn {
                        let d = self.error(
                            a.span(),
                            format!("customer ASN {n} equals the Amazon-side ASN"),
                        );
                        d.hint = Some("eBGP needs two different ASNs".into());
                    }
                    n != amazon_asn
                }),
            None => {
                let span = v.routing.as_ref().map_or(v.name.span(), |r| r.span());
                let d = self.error(span, "a BGP VPN without `customer_asn`");
                d.expected =
                    Some("`customer_asn = 65010`: the office's ASN, from 1 to 4294967294".into());
                d.hint = Some(
                    "AWS asks for the customer gateway's ASN when the VPN uses dynamic routing"
                        .into(),
                );
                None
            }
        };
        let settings = self.bgp_settings(&RawSession {
            hold_time: v.hold_time.as_ref(),
            keepalive: v.keepalive.as_ref(),
            bfd: None,
            local_preference: v.local_preference.as_ref(),
            aws_hold_time: AWS_VPN_HOLD_TIME,
        });
        (customer_asn, settings)
    }
}
