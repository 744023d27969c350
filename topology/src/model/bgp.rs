//! What a topology file says about BGP: per-prefix attributes of what the
//! office advertises, timers, BFD, the office side's preference for what
//! it learns, and which daemon plays the office side in the lab, with the
//! AWS limits they are checked against. Plain values of the model, filled
//! by the resolver; what the sessions do with them (their states, each
//! side's table and best paths) is derived from the model by the `bgp`
//! module, which imports this one and never the other way round.

use std::fmt;
use std::time::Duration;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

/// AWS limit: prefixes a customer may advertise on a private VIF (over
/// it, the session goes Idle); also the most routes that propagate into a
/// VPC route table.
pub const MAX_VIF_PREFIXES: usize = 100;
/// AWS's hold time on a Direct Connect BGP session, in seconds (the lower of
/// the two peers' values is used).
pub const AWS_DX_HOLD_TIME: u16 = 90;
/// AWS's keepalive on a Direct Connect BGP session, in seconds.
pub const AWS_DX_KEEPALIVE: u16 = 30;
/// AWS's hold time on a Site-to-Site VPN tunnel's BGP session, in seconds.
pub const AWS_VPN_HOLD_TIME: u16 = 30;
/// AWS's keepalive on a Site-to-Site VPN tunnel's BGP session, in seconds.
pub const AWS_VPN_KEEPALIVE: u16 = 10;
/// The lowest hold time AWS accepts (0 is not supported).
pub const MIN_HOLD_TIME: u16 = 3;
/// AWS's lowest BFD interval.
pub const MIN_BFD_INTERVAL: Duration = Duration::from_millis(300);
/// AWS's lowest BFD multiplier.
pub const MIN_BFD_MULTIPLIER: u8 = 3;
/// The local preference a route gets on the office side when the file
/// does not say (BIRD's and FRR's default).
pub const DEFAULT_LOCAL_PREF: u32 = 100;
/// The most extra copies of its ASN the office may prepend. AWS documents
/// no limit; this is FRR's (`set as-path prepend last-as (1-10)`), and
/// far more than it takes to make a path the longest.
pub const MAX_PREPEND: u8 = 10;
/// The longest BFD interval a file may ask for (FRR's upper bound; BIRD
/// has none below it).
pub const MAX_BFD_INTERVAL: Duration = Duration::from_secs(60);
/// The largest BFD multiplier (RFC 5880's Detect Mult is one byte).
pub const MAX_BFD_MULTIPLIER: u8 = 255;

/// A standard BGP community `ASN:VALUE` (RFC 1997).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Community(pub u16, pub u16);

impl Community {
    /// 7224:7100, AWS's low local preference.
    pub const AWS_LOW: Community = Community(7224, 7100);
    /// 7224:7200, AWS's medium local preference (the default).
    pub const AWS_MEDIUM: Community = Community(7224, 7200);
    /// 7224:7300, AWS's high local preference.
    pub const AWS_HIGH: Community = Community(7224, 7300);
}

impl std::str::FromStr for Community {
    type Err = ();

    /// `ASN:VALUE`, both from 0 to 65535, in decimal.
    fn from_str(s: &str) -> Result<Self, ()> {
        let (asn, value) = s.trim().split_once(':').ok_or(())?;
        let number = |n: &str| {
            if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
                return Err(());
            }
            n.parse::<u16>().map_err(|_| ())
        };
        Ok(Community(number(asn)?, number(value)?))
    }
}

impl fmt::Display for Community {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.0, self.1)
    }
}

/// One prefix the office advertises, with its BGP attributes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdvertisedPrefix {
    /// The block.
    pub prefix: Ipv4Net,
    /// Communities attached (AWS reads 7224:7100/7200/7300).
    pub communities: Vec<Community>,
    /// How many extra times the office prepends its own ASN (0: none).
    pub prepend: u8,
}

impl AdvertisedPrefix {
    /// A prefix without communities or prepending.
    pub fn plain(prefix: Ipv4Net) -> Self {
        AdvertisedPrefix {
            prefix,
            communities: Vec::new(),
            prepend: 0,
        }
    }
}

/// Bidirectional Forwarding Detection on a session, as the office side
/// configures it (AWS runs it with at least 300 ms x 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bfd {
    /// Transmit and receive interval asked for.
    pub interval: Duration,
    /// Packets missed before the session is declared down.
    pub multiplier: u8,
}

/// What the office side's BGP session is configured with (one per VIF,
/// one for a VPN with `routing = "bgp"`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BgpSettings {
    /// The office's hold time, in seconds (the lower of the two peers'
    /// values is negotiated). `None`: the daemon's default (the AWS value).
    pub hold_time: Option<u16>,
    /// The office's keepalive, in seconds. `None`: a third of the hold time.
    pub keepalive: Option<u16>,
    /// BFD, when the office runs it.
    pub bfd: Option<Bfd>,
    /// Local preference the office gives the routes it learns over this
    /// session (higher wins). `None`: [`DEFAULT_LOCAL_PREF`].
    pub local_preference: Option<u32>,
}

/// The BGP daemon that plays an office node in the lab (`[sim]
/// bgp_daemon`); AWS's side is always BIRD.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BgpDaemon {
    /// BIRD 2 (Debian `bird2`).
    #[default]
    Bird,
    /// FRRouting's bgpd (Debian `frr`).
    Frr,
}
