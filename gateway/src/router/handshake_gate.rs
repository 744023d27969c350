//! The door in front of the Diffie-Hellman: WireGuard's denial-of-service
//! protection, in the order the protocol specifies and boringtun's own
//! device code follows (`boringtun::device`, its UDP handler).
//!
//! Every datagram from the network passes [`HandshakeGate::verify`] before
//! anything else looks at it:
//!
//! 1. it must parse as a WireGuard message (type and size) — garbage costs
//!    a few byte reads;
//! 2. a handshake message (initiation or response) must carry the MAC1 for
//!    this gateway's public key — a forged one costs one BLAKE2s;
//! 3. under load (more than [`HANDSHAKE_RATE_LIMIT`] handshake messages
//!    passed MAC1 in the current window) it must also carry a valid MAC2,
//!    which only a sender that received a cookie reply at its source
//!    address can compute; without one, the sender gets that cookie reply
//!    and the message goes no further;
//! 4. a handshake message that carries a MAC2 (its sender holds a cookie,
//!    so it receives at its source address) passes at most
//!    [`PER_SOURCE_RATE`] a second (bursts of [`PER_SOURCE_BURST`]) per
//!    source address, as wireguard-go and Linux limit them: boringtun's
//!    limiter stops forged sources, this stops a real one that fetched a
//!    cookie from spending a Diffie-Hellman per datagram. Its clock is the
//!    router's `now`.
//!
//! Only then may the router spend a Diffie-Hellman on an initiation
//! ([`HandshakeGate::initiator_key`], which counts them).
//!
//! # The load window and its clock
//!
//! The load count lives in boringtun's [`RateLimiter`], which reads its own
//! clock: [`HandshakeGate::reset_window`] (called by the router's
//! `handle_timeout`, every tick) zeroes the count only once a second of
//! *boringtun's* clock has passed since the last reset, whatever the
//! router's `now` says. Without those calls the window never ends. Its
//! cookie secret changes every 128 s of the same clock.
//!
//! # Why the sessions get a second limiter
//!
//! boringtun hands a verified packet to a peer's session only inside its
//! own crate (`Tunn::handle_verified_packet` is not public), so
//! `Tunn::decapsulate` verifies every datagram again. Were the sessions
//! given the gate's limiter, each handshake would count twice toward the
//! load and a message the gate let through could be refused by the
//! session. They share [`HandshakeGate::sessions_limiter`] instead: the same
//! MAC1 key, a limit never reached, so the session's check is MAC1 only
//! (one more BLAKE2s, for messages that already passed) and the gate alone
//! decides about load and cookies.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use boringtun::noise::errors::WireGuardError;
use boringtun::noise::handshake::parse_handshake_anon;
use boringtun::noise::rate_limiter::RateLimiter;
use boringtun::noise::{HandshakeInit, Packet, TunnResult};
use boringtun::x25519;

use crate::keys::PrivateKey;
use crate::status::HandshakeCounts;
use crate::token_bucket::TokenBucket;

/// Handshake messages per window (a second of boringtun's clock) that pass
/// on MAC1 alone; beyond it, MAC2 (a cookie) is required. boringtun's
/// device uses the same value.
pub const HANDSHAKE_RATE_LIMIT: u64 = 100;

/// Handshake messages carrying a MAC2 allowed per second from one source
/// address (wireguard-go's and Linux's value).
pub const PER_SOURCE_RATE: u32 = 20;
/// The burst of [`PER_SOURCE_RATE`].
pub const PER_SOURCE_BURST: u32 = 5;
/// Most source addresses tracked at once; beyond, a new source's MAC2
/// messages wait until [`HandshakeGate::reset_window`] forgets idle ones.
const MAX_SOURCES: usize = 1 << 16;
/// A source silent this long is forgotten (its bucket would be full).
const SOURCE_IDLE: Duration = Duration::from_secs(1);

/// What the gate decided about a datagram.
pub(super) enum Verdict<'a, 'b> {
    /// Parsed and, for a handshake message, authenticated enough to go on.
    Pass(Packet<'a>),
    /// Under load without a valid MAC2: send this cookie reply to the
    /// datagram's source, and nothing else.
    CookieReply(&'b [u8]),
    /// A handshake message with the wrong MAC1.
    BadMac1,
    /// A handshake message with a MAC2, over its source's rate.
    SourceRate,
    /// No WireGuard message.
    NotWireGuard,
}

/// The gateway's key pair and the rate limiter in front of it.
pub(super) struct HandshakeGate {
    secret: x25519::StaticSecret,
    /// The gateway's public key, computed once.
    public: x25519::PublicKey,
    limiter: RateLimiter,
    sessions: Arc<RateLimiter>,
    /// Per source address: the bucket for its MAC2 messages, and when it
    /// last sent one.
    sources: HashMap<IpAddr, (TokenBucket, Instant)>,
    counts: HandshakeCounts,
}

impl HandshakeGate {
    /// The gate for the gateway with this private key.
    pub(super) fn new(private: &PrivateKey) -> Self {
        let public = private.public_key().to_x25519();
        HandshakeGate {
            secret: private.to_static_secret(),
            limiter: RateLimiter::new(&public, HANDSHAKE_RATE_LIMIT),
            sessions: Arc::new(RateLimiter::new(&public, u64::MAX)),
            public,
            sources: HashMap::new(),
            counts: HandshakeCounts::default(),
        }
    }

    /// The limiter to give every peer's `Tunn` (MAC1 only; see the module
    /// documentation).
    pub(super) fn sessions_limiter(&self) -> Arc<RateLimiter> {
        self.sessions.clone()
    }

    /// Checks a datagram from `from` at `now`: parse, MAC1, load, MAC2,
    /// the source's rate. A cookie reply is written into `reply` (64 bytes
    /// are enough).
    pub(super) fn verify<'a, 'b>(
        &mut self,
        now: Instant,
        from: SocketAddr,
        datagram: &'a [u8],
        reply: &'b mut [u8],
    ) -> Verdict<'a, 'b> {
        match self.limiter.verify_packet(Some(from.ip()), datagram, reply) {
            Ok(packet) => {
                let handshake = matches!(
                    packet,
                    Packet::HandshakeInit(_) | Packet::HandshakeResponse(_)
                );
                if handshake && has_mac2(datagram) && !self.source_allows(now, from.ip()) {
                    return Verdict::SourceRate;
                }
                Verdict::Pass(packet)
            }
            Err(TunnResult::WriteToNetwork(cookie)) => {
                self.counts.cookie_replies += 1;
                Verdict::CookieReply(cookie)
            }
            Err(TunnResult::Err(WireGuardError::InvalidMac)) => Verdict::BadMac1,
            Err(_) => Verdict::NotWireGuard,
        }
    }

    /// The static public key of an initiation's sender: a Diffie-Hellman
    /// and a decryption, counted. Call only with an initiation that
    /// [`HandshakeGate::verify`] passed. `None` if it does not decrypt.
    pub(super) fn initiator_key(&mut self, init: &HandshakeInit) -> Option<[u8; 32]> {
        self.counts.initiations_processed += 1;
        parse_handshake_anon(&self.secret, &self.public, init)
            .ok()
            .map(|half| half.peer_static_public)
    }

    /// Whether `source` may send one more MAC2 message at `now`.
    fn source_allows(&mut self, now: Instant, source: IpAddr) -> bool {
        if self.sources.len() >= MAX_SOURCES && !self.sources.contains_key(&source) {
            return false;
        }
        let (bucket, last) = self
            .sources
            .entry(source)
            .or_insert_with(|| (TokenBucket::new(PER_SOURCE_RATE, PER_SOURCE_BURST), now));
        *last = now;
        bucket.allow(now)
    }

    /// Ends the load window if a second of boringtun's clock has passed
    /// since it began (see the module documentation), and forgets the
    /// sources silent for a second of the router's clock.
    pub(super) fn reset_window(&mut self, now: Instant) {
        self.limiter.reset_count();
        self.sources
            .retain(|_, (_, last)| now.saturating_duration_since(*last) < SOURCE_IDLE);
    }

    /// The counters.
    pub(super) fn counts(&self) -> HandshakeCounts {
        self.counts
    }

    /// The gate for a new private key (a key rotation): a new MAC1 key
    /// and limiters; the counters and the sources' buckets are kept.
    pub(super) fn rekey(&mut self, private: &PrivateKey) {
        let fresh = HandshakeGate::new(private);
        self.secret = fresh.secret;
        self.public = fresh.public;
        self.limiter = fresh.limiter;
        self.sessions = fresh.sessions;
    }
}

/// Whether a handshake message carries a MAC2 (its last 16 bytes are not
/// all zero): its sender holds a cookie.
fn has_mac2(datagram: &[u8]) -> bool {
    datagram.len() >= 16 && datagram[datagram.len() - 16..] != [0u8; 16]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silent_sources_are_forgotten_at_the_next_window() {
        let mut gate = HandshakeGate::new(&PrivateKey::generate().unwrap());
        let t0 = Instant::now();
        for last in 1..=3u8 {
            assert!(gate.source_allows(t0, IpAddr::from([192, 0, 2, last])));
        }
        gate.reset_window(t0 + Duration::from_millis(500));
        assert_eq!(gate.sources.len(), 3, "heard from within a second");
        assert!(gate.source_allows(t0 + SOURCE_IDLE, IpAddr::from([192, 0, 2, 1])));
        gate.reset_window(t0 + SOURCE_IDLE + Duration::from_millis(1));
        assert_eq!(
            gate.sources.keys().copied().collect::<Vec<_>>(),
            [IpAddr::from([192, 0, 2, 1])],
            "only the one that spoke again is kept"
        );
    }
}
