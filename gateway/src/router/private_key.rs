//! A new private key for a running router (a reload after a key
//! rotation): the handshake gate and every peer's `Tunn` take it, the
//! sessions made under the old key end, and a handshake goes at once to
//! every peer whose endpoint is known, so that the tunnel comes back as
//! soon as the far end knows the new public key.

use std::time::Instant;

use boringtun::noise::TunnResult;

use super::{Io, Router};
use crate::keys::{PrivateKey, PublicKey};

impl Router {
    /// This end's public key (the one the far ends must list).
    pub fn public_key(&self) -> PublicKey {
        self.private.public_key()
    }

    /// Puts `key` in force if it is not the key in use; returns whether it
    /// changed. Sessions restart: each peer with an endpoint gets a
    /// handshake initiation under the new key now (boringtun retries it
    /// as for any handshake); the others when they speak first.
    /// Connection tracking, routes and counters are untouched.
    pub fn set_private_key(&mut self, key: PrivateKey, now: Instant, io: &mut impl Io) -> bool {
        if key.as_bytes() == self.private.as_bytes() {
            return false;
        }
        self.gate.rekey(&key);
        let public = key.public_key().to_x25519();
        for p in &mut self.peers {
            p.tunn.set_static_private(
                key.to_static_secret(),
                public,
                Some(self.gate.sessions_limiter()),
            );
            p.last_handshake_attempt = Some(now);
            let Some(endpoint) = p.endpoint else { continue };
            // forced: a handshake begun under the old key is replaced
            if let TunnResult::WriteToNetwork(d) =
                p.tunn.format_handshake_initiation(&mut self.buf, true)
            {
                io.send_udp(endpoint, d);
            }
        }
        self.private = key;
        true
    }
}
