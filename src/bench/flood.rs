//! `vifgate bench flood-gen`: floods a WireGuard UDP port with one kind of
//! unwanted datagram at a fixed rate, for bench/flood.sh (which measures
//! what the flood costs vifgate and wireguard-go).
//!
//! The kinds ([`FloodKind`]): handshake initiations of random bytes, the
//! same with a valid MAC1 for the gateway's public key (what anyone who
//! knows the public key can send: only a Diffie-Hellman, or a cookie,
//! rejects them), garbage of random sizes and types, and data messages for
//! receiver indexes nobody handed out. Pacing: every millisecond the
//! datagrams due by then are sent; the achieved rate is reported, as one
//! JSON line on standard output.

use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use blake2::digest::consts::U16;
use blake2::digest::{FixedOutput as _, KeyInit as _, Update as _};
use blake2::{Blake2s256, Blake2sMac, Digest};
use clap::ValueEnum;
use gateway::keys::PublicKey;

use super::packets::Rng;

/// The size of a WireGuard handshake initiation.
const INITIATION_LEN: usize = 148;
/// Where an initiation's MAC1 starts: it covers the bytes before it.
const MAC1_OFFSET: usize = 116;
/// WireGuard's label for the MAC1 key: HASH("mac1----" || public key).
const LABEL_MAC1: &[u8; 8] = b"mac1----";
/// The smallest data message: a 16-byte header and a 16-byte tag (a keepalive).
const DATA_MIN_LEN: usize = 32;
/// The largest data message of a 1420-byte tunnel MTU.
const DATA_MAX_LEN: usize = 1420 + DATA_MIN_LEN;
/// The largest garbage datagram.
const GARBAGE_MAX_LEN: usize = 1500;
/// How often the sender wakes up to send what is due.
const TICK: Duration = Duration::from_millis(1);

/// What a flood sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FloodKind {
    /// Handshake initiations (type 1, 148 bytes) of random bytes.
    RandomInit,
    /// Handshake initiations with a valid MAC1 for the target's public
    /// key, random otherwise (MAC2 zero, as without a cookie).
    Mac1Init,
    /// Datagrams of random sizes (1-1500 bytes); half of them start with a
    /// WireGuard type (1-4), the rest with random bytes.
    Garbage,
    /// Data messages (type 4, 32-1452 bytes) with random receiver indexes.
    UnknownData,
}

impl FloodKind {
    /// The kind's command-line name.
    fn name(self) -> String {
        self.to_possible_value()
            .map(|v| v.get_name().to_owned())
            .unwrap_or_default()
    }
}

/// The key of a responder's MAC1: HASH("mac1----" || its public key).
fn mac1_key(public: &PublicKey) -> [u8; 32] {
    let mut h = <Blake2s256 as Digest>::new();
    Digest::update(&mut h, LABEL_MAC1);
    Digest::update(&mut h, public.as_bytes());
    h.finalize().into()
}

/// A handshake initiation of random bytes: the type and reserved bytes
/// right, everything else (sender index, ephemeral key, encrypted static
/// and timestamp, MACs) random.
fn random_initiation(rng: &mut Rng, buf: &mut Vec<u8>) {
    buf.resize(INITIATION_LEN, 0);
    rng.fill(buf);
    buf[..4].copy_from_slice(&[1, 0, 0, 0]);
}

/// A random initiation with a valid MAC1 (BLAKE2s-MAC-16 keyed with
/// `mac1_key` over the first 116 bytes) and MAC2 zero.
fn mac1_initiation(rng: &mut Rng, mac1_key: &[u8; 32], buf: &mut Vec<u8>) {
    random_initiation(rng, buf);
    let mut mac = Blake2sMac::<U16>::new_from_slice(mac1_key).expect("a 32-byte key fits BLAKE2s");
    mac.update(&buf[..MAC1_OFFSET]);
    let mac1: [u8; 16] = mac.finalize_fixed().into();
    buf[MAC1_OFFSET..MAC1_OFFSET + 16].copy_from_slice(&mac1);
    buf[MAC1_OFFSET + 16..].fill(0);
}

/// Garbage: 1-1500 random bytes; half the time the first four look like a
/// WireGuard message type (1-4, reserved bytes zero).
fn garbage(rng: &mut Rng, buf: &mut Vec<u8>) {
    let len = rng.range(1, GARBAGE_MAX_LEN);
    buf.resize(len, 0);
    rng.fill(buf);
    if rng.next_u64() & 1 == 0 {
        let t = [rng.range(1, 4) as u8, 0, 0, 0];
        let n = len.min(4);
        buf[..n].copy_from_slice(&t[..n]);
    }
}

/// A data message (type 4) for a random receiver index, of 32-1452 bytes
/// (random counter and ciphertext).
fn unknown_data(rng: &mut Rng, buf: &mut Vec<u8>) {
    let len = rng.range(DATA_MIN_LEN, DATA_MAX_LEN);
    buf.resize(len, 0);
    rng.fill(buf);
    buf[..4].copy_from_slice(&[4, 0, 0, 0]);
}

/// A flood kind with what it needs to build its datagrams.
enum Recipe {
    RandomInit,
    Mac1Init { mac1_key: [u8; 32] },
    Garbage,
    UnknownData,
}

/// Builds the datagrams of one kind of flood.
struct Builder {
    recipe: Recipe,
    rng: Rng,
}

impl Builder {
    fn new(kind: FloodKind, seed: u64, public_key: Option<&PublicKey>) -> Result<Self> {
        let recipe = match kind {
            FloodKind::RandomInit => Recipe::RandomInit,
            FloodKind::Mac1Init => match public_key {
                Some(key) => Recipe::Mac1Init {
                    mac1_key: mac1_key(key),
                },
                None => bail!("--kind mac1-init needs --public-key"),
            },
            FloodKind::Garbage => Recipe::Garbage,
            FloodKind::UnknownData => Recipe::UnknownData,
        };
        Ok(Self {
            recipe,
            rng: Rng(seed),
        })
    }

    /// The next datagram, into `buf`.
    fn next(&mut self, buf: &mut Vec<u8>) {
        let rng = &mut self.rng;
        match &self.recipe {
            Recipe::RandomInit => random_initiation(rng, buf),
            Recipe::Mac1Init { mac1_key } => mac1_initiation(rng, mac1_key, buf),
            Recipe::Garbage => garbage(rng, buf),
            Recipe::UnknownData => unknown_data(rng, buf),
        }
    }
}

/// What came back to the flooding socket, by WireGuard message type.
#[derive(Default)]
struct Replies {
    handshake_responses: u64,
    cookie_replies: u64,
    other: u64,
}

impl Replies {
    /// Reads every datagram waiting on the (non-blocking) socket.
    fn drain(&mut self, socket: &UdpSocket, buf: &mut [u8]) {
        while let Ok(n) = socket.recv(buf) {
            match buf[..n].first() {
                Some(2) if n == 92 => self.handshake_responses += 1,
                Some(3) if n == 64 => self.cookie_replies += 1,
                _ => self.other += 1,
            }
        }
    }
}

/// The flood's parameters (`vifgate bench flood-gen`'s arguments).
#[derive(clap::Args)]
pub struct FloodSpec {
    /// The gateway's UDP address.
    #[arg(long)]
    pub target: SocketAddr,
    /// What to send.
    #[arg(long, value_enum)]
    pub kind: FloodKind,
    /// Datagrams per second.
    #[arg(long, default_value_t = 20_000)]
    pub rate: u32,
    /// Seconds.
    #[arg(long, default_value_t = 5.0)]
    pub secs: f64,
    /// The gateway's public key (base64), for `--kind mac1-init`.
    #[arg(long)]
    pub public_key: Option<String>,
    /// Seed of the random bytes.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The local address to send from.
    #[arg(long, default_value = "0.0.0.0:0")]
    pub bind: SocketAddr,
}

/// Sends the flood, then prints one JSON line: datagrams sent, send
/// errors, the rate asked and achieved, and the replies received.
pub(super) fn run(spec: FloodSpec) -> Result<ExitCode> {
    if spec.rate == 0 || !spec.secs.is_finite() || spec.secs <= 0.0 {
        bail!("--rate and --secs must be positive");
    }
    let public_key = spec
        .public_key
        .as_deref()
        .map(|k| k.trim().parse::<PublicKey>())
        .transpose()
        .context("--public-key is not a WireGuard public key")?;
    let mut builder = Builder::new(spec.kind, spec.seed, public_key.as_ref())?;
    let socket =
        UdpSocket::bind(spec.bind).with_context(|| format!("cannot bind {}", spec.bind))?;
    socket
        .connect(spec.target)
        .with_context(|| format!("cannot connect to {}", spec.target))?;
    socket.set_nonblocking(true)?;

    let total = (f64::from(spec.rate) * spec.secs).round() as u64;
    let (mut attempts, mut sent, mut would_block, mut errors) = (0u64, 0u64, 0u64, 0u64);
    let mut replies = Replies::default();
    let (mut buf, mut rbuf) = (Vec::with_capacity(GARBAGE_MAX_LEN), vec![0u8; 2048]);
    let start = Instant::now();
    let mut next_tick = start;
    while attempts < total {
        let due = ((start.elapsed().as_secs_f64() * f64::from(spec.rate)) as u64 + 1).min(total);
        while attempts < due {
            builder.next(&mut buf);
            attempts += 1;
            match socket.send(&buf) {
                Ok(_) => sent += 1,
                Err(e) if e.kind() == ErrorKind::WouldBlock => would_block += 1,
                // ECONNREFUSED from an ICMP port unreachable, ENOBUFS, ...
                Err(e) => {
                    errors += 1;
                    tracing::debug!("send: {e}");
                }
            }
        }
        replies.drain(&socket, &mut rbuf);
        next_tick += TICK;
        let now = Instant::now();
        if next_tick > now {
            std::thread::sleep(next_tick - now);
        } else {
            next_tick = now;
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    // replies to the last datagrams
    std::thread::sleep(Duration::from_millis(100));
    replies.drain(&socket, &mut rbuf);
    println!(
        "{}",
        serde_json::json!({
            "kind": spec.kind.name(),
            "target": spec.target.to_string(),
            "rate_asked": spec.rate,
            "secs": (elapsed * 1000.0).round() / 1000.0,
            "sent": sent,
            "send_would_block": would_block,
            "send_errors": errors,
            "rate_achieved": (sent as f64 / elapsed).round(),
            "replies": {
                "handshake_response": replies.handshake_responses,
                "cookie_reply": replies.cookie_replies,
                "other": replies.other,
            },
        })
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use boringtun::noise::errors::WireGuardError;
    use boringtun::noise::rate_limiter::RateLimiter;
    use boringtun::noise::{Packet, Tunn, TunnResult};
    use gateway::keys::PrivateKey;

    fn responder() -> (PublicKey, RateLimiter) {
        let public = PrivateKey::from_bytes([7; 32]).public_key();
        // a high limit: never under load, so only MAC1 is checked
        let limiter = RateLimiter::new(&public.to_x25519(), 1_000_000);
        (public, limiter)
    }

    fn is_initiation(verdict: &Result<Packet<'_>, TunnResult<'_>>) -> bool {
        matches!(verdict, Ok(Packet::HandshakeInit(_)))
    }

    fn is_invalid_mac(verdict: &Result<Packet<'_>, TunnResult<'_>>) -> bool {
        matches!(verdict, Err(TunnResult::Err(WireGuardError::InvalidMac)))
    }

    #[test]
    fn a_valid_mac1_initiation_passes_boringtuns_mac1_check() {
        let (public, limiter) = responder();
        let mut b = Builder::new(FloodKind::Mac1Init, 1, Some(&public)).unwrap();
        let (mut buf, mut out) = (Vec::new(), [0u8; 256]);
        for _ in 0..50 {
            b.next(&mut buf);
            assert_eq!(buf.len(), INITIATION_LEN);
            let verdict = limiter.verify_packet(None, &buf, &mut out);
            assert!(is_initiation(&verdict), "MAC1 refused");
        }
    }

    #[test]
    fn a_valid_mac1_for_another_key_is_refused() {
        let (_, limiter) = responder();
        let other = PrivateKey::from_bytes([8; 32]).public_key();
        let mut b = Builder::new(FloodKind::Mac1Init, 1, Some(&other)).unwrap();
        let (mut buf, mut out) = (Vec::new(), [0u8; 256]);
        b.next(&mut buf);
        assert!(is_invalid_mac(&limiter.verify_packet(None, &buf, &mut out)));
    }

    #[test]
    fn a_random_initiation_parses_but_fails_mac1() {
        let (_, limiter) = responder();
        let mut b = Builder::new(FloodKind::RandomInit, 2, None).unwrap();
        let (mut buf, mut out) = (Vec::new(), [0u8; 256]);
        for _ in 0..50 {
            b.next(&mut buf);
            assert!(matches!(
                Tunn::parse_incoming_packet(&buf),
                Ok(Packet::HandshakeInit(_))
            ));
            assert!(is_invalid_mac(&limiter.verify_packet(None, &buf, &mut out)));
        }
    }

    #[test]
    fn mac1_init_needs_a_public_key() {
        assert!(Builder::new(FloodKind::Mac1Init, 1, None).is_err());
    }

    #[test]
    fn unknown_data_parses_as_data_messages_of_varied_sizes() {
        let mut b = Builder::new(FloodKind::UnknownData, 3, None).unwrap();
        let mut buf = Vec::new();
        let mut sizes = std::collections::BTreeSet::new();
        for _ in 0..200 {
            b.next(&mut buf);
            assert!((DATA_MIN_LEN..=DATA_MAX_LEN).contains(&buf.len()));
            assert!(matches!(
                Tunn::parse_incoming_packet(&buf),
                Ok(Packet::PacketData(_))
            ));
            sizes.insert(buf.len());
        }
        assert!(sizes.len() > 100, "sizes barely vary: {}", sizes.len());
    }

    #[test]
    fn garbage_varies_in_size_and_type() {
        let mut b = Builder::new(FloodKind::Garbage, 4, None).unwrap();
        let mut buf = Vec::new();
        let (mut typed, mut untyped, mut sizes) = (0, 0, std::collections::BTreeSet::new());
        for _ in 0..1000 {
            b.next(&mut buf);
            assert!((1..=GARBAGE_MAX_LEN).contains(&buf.len()));
            sizes.insert(buf.len());
            if buf.len() >= 4 && (1..=4).contains(&buf[0]) && buf[1..4] == [0, 0, 0] {
                typed += 1;
            } else {
                untyped += 1;
            }
        }
        assert!(
            typed > 300 && untyped > 300,
            "typed {typed}, untyped {untyped}"
        );
        assert!(sizes.len() > 400, "sizes barely vary: {}", sizes.len());
    }
}
