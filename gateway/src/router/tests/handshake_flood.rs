//! Floods at the gateway's UDP port, on the hand-driven clock: what forged
//! initiations, garbage and data for unknown indexes cost (Diffie-Hellmans
//! counted by the router), cookie replies under load and a real boringtun
//! initiator that answers them, and `handle_timeout` ending the load window.

use super::*;
use boringtun::noise::Tunn;
use rand_core::{OsRng, RngCore as _};

/// The AWS-side gateway, whose one peer is the office, and the office's
/// own end of the tunnel: a bare boringtun session, as a real initiator.
struct Door {
    gateway: Router,
    gateway_key: PublicKey,
    office: Tunn,
    now: Instant,
}

fn door() -> Door {
    let office_key = PrivateKey::generate().unwrap();
    let aws_key = PrivateKey::generate().unwrap();
    let gateway_key = aws_key.public_key();
    let now = Instant::now();
    let gateway =
        Router::with_key(&vpc_side("aws", &office_key.public_key()), aws_key, now).unwrap();
    let office = Tunn::new(
        office_key.to_static_secret(),
        gateway_key.to_x25519(),
        None,
        None,
        7,
        None,
    );
    Door {
        gateway,
        gateway_key,
        office,
        now,
    }
}

/// A fresh handshake initiation from `tunn` (what its timers would resend).
fn initiation(tunn: &mut Tunn) -> Vec<u8> {
    let mut buf = vec![0u8; 256];
    match tunn.format_handshake_initiation(&mut buf, true) {
        TunnResult::WriteToNetwork(d) => d.to_vec(),
        _ => panic!("boringtun wrote no handshake initiation"),
    }
}

fn random_bytes(len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    OsRng.fill_bytes(&mut v);
    v
}

impl Door {
    /// A fresh initiation from the office (with MAC2 once it holds a
    /// cookie).
    fn office_initiation(&mut self) -> Vec<u8> {
        initiation(&mut self.office)
    }

    /// An initiation from the office at the gateway; what it sent back
    /// (the office does not see it).
    fn office_initiates(&mut self) -> Collect {
        let init = self.office_initiation();
        self.send(addr(OFFICE), &init)
    }

    /// An initiation from the office, and the exchange that follows (see
    /// [`Door::office_exchange`]).
    fn office_handshakes(&mut self) -> (Vec<Vec<u8>>, Vec<u8>) {
        let init = self.office_initiation();
        self.office_exchange(&init)
    }

    /// One datagram at the gateway; what it sent and wrote.
    fn send(&mut self, from: SocketAddr, datagram: &[u8]) -> Collect {
        let mut out = Collect::default();
        self.gateway.handle_udp(self.now, from, datagram, &mut out);
        out
    }

    /// A datagram from the office to the gateway; the office takes every
    /// answer in turn (and the gateway the office's answers to those),
    /// until both are quiet. What the gateway wrote to its TUN, and the
    /// message types of its answers.
    fn office_exchange(&mut self, datagram: &[u8]) -> (Vec<Vec<u8>>, Vec<u8>) {
        let mut tun = vec![];
        let mut answers = vec![];
        let mut flight = vec![datagram.to_vec()];
        let mut buf = vec![0u8; BUFFER_SIZE];
        for _ in 0..10 {
            let Some(d) = flight.pop() else { break };
            let out = self.send(addr(OFFICE), &d);
            tun.extend(out.tun);
            for (to, answer) in out.udp {
                assert_eq!(to, addr(OFFICE), "answers go to the sender");
                answers.push(message_type(&answer));
                let mut first = true;
                loop {
                    let input: &[u8] = if first { &answer } else { &[] };
                    first = false;
                    match self.office.decapsulate(None, input, &mut buf) {
                        TunnResult::WriteToNetwork(d) => flight.push(d.to_vec()),
                        _ => break,
                    }
                }
            }
        }
        (tun, answers)
    }

    /// A ping from the office's LAN through its session: true when the
    /// gateway writes it to its TUN (the handshake completed).
    fn office_ping_arrives(&mut self) -> bool {
        let p = ping([192, 168, 10, 10], [10, 0, 10, 10], 8);
        let mut buf = vec![0u8; BUFFER_SIZE];
        let data = match self.office.encapsulate(&p, &mut buf) {
            TunnResult::WriteToNetwork(d) => d.to_vec(),
            _ => return false,
        };
        self.office_exchange(&data).0 == vec![p]
    }

    /// The handshake completed: the office's ping arrives, and the
    /// gateway holds the office alive.
    fn office_is_through(&mut self) -> bool {
        self.office_ping_arrives() && self.gateway.is_alive(0, self.now)
    }

    /// Puts the gateway under load: as many valid-MAC1 initiations (from
    /// strangers: keys the gateway does not know) as the limiter lets
    /// through on MAC1 alone. Each of them costs the gateway a DH.
    fn load(&mut self) {
        let stranger = PrivateKey::generate().unwrap();
        let mut t = Tunn::new(
            stranger.to_static_secret(),
            self.gateway_key.to_x25519(),
            None,
            None,
            9,
            None,
        );
        for i in 0..HANDSHAKE_RATE_LIMIT {
            let from = SocketAddr::from(([198, 51, 100, (i % 250) as u8 + 1], 40_000));
            let out = self.send(from, &initiation(&mut t));
            assert!(out.udp.is_empty() && out.tun.is_empty());
        }
        let counts = self.gateway.handshake_counts();
        assert_eq!(counts.initiations_processed, HANDSHAKE_RATE_LIMIT);
        assert_eq!(counts.cookie_replies, 0, "not under load yet");
        assert_eq!(self.gateway.drops().unknown_key, HANDSHAKE_RATE_LIMIT);
    }
}

/// The message type of a WireGuard datagram.
fn message_type(d: &[u8]) -> u8 {
    d[0]
}

#[test]
fn forged_handshakes_with_random_bytes_cost_no_diffie_hellman() {
    let mut door = door();
    let from = addr("203.0.113.9:9999");
    for i in 0..1000 {
        // an initiation's (type 1, 148 bytes) or a response's (type 2, 92
        // bytes) shape, random inside: MAC1 cannot match
        let (ty, len) = if i % 2 == 0 { (1, 148) } else { (2, 92) };
        let mut forged = random_bytes(len);
        forged[..4].copy_from_slice(&[ty, 0, 0, 0]);
        let out = door.send(from, &forged);
        assert!(out.udp.is_empty() && out.tun.is_empty(), "no answer");
    }
    assert_eq!(
        door.gateway.handshake_counts(),
        HandshakeCounts::default(),
        "no DH spent, no cookie sent"
    );
    let drops = door.gateway.drops();
    assert_eq!(drops.bad_mac1, 1000);
    assert_eq!(drops.unknown_key + drops.wireguard, 0);
    let status = door.gateway.status(door.now);
    assert_eq!(status.drops.router.bad_mac1, 1000);
    assert_eq!(status.handshakes.initiations_processed, 0);
    // the office still gets in
    let (_, answers) = door.office_handshakes();
    assert_eq!(answers, [2], "a handshake response");
    assert!(door.office_ping_arrives());
}

#[test]
fn garbage_and_data_for_unknown_indexes_are_counted_and_cost_no_diffie_hellman() {
    let mut door = door();
    let from = addr("203.0.113.9:9999");
    let mut rng = [0u8; 1];
    for i in 0..500usize {
        OsRng.fill_bytes(&mut rng);
        let mut garbage = random_bytes(rng[0] as usize);
        match (i % 2, garbage.first_mut()) {
            // no such message type
            (0, Some(t)) => *t |= 0x80,
            // a known type in a size it never has
            (_, Some(_)) => {
                let ty = (i % 3) as u8 + 1;
                let len = [148, 92, 64][ty as usize - 1] + 1;
                garbage = random_bytes(len);
                garbage[..4].copy_from_slice(&[ty, 0, 0, 0]);
            }
            (_, None) => {}
        }
        door.send(from, &garbage);
    }
    for _ in 0..500 {
        let mut data = random_bytes(32 + 64);
        data[..4].copy_from_slice(&[4, 0, 0, 0]);
        // receiver indexes whose top 24 bits name no peer (peers are 1, 2 ...)
        data[7] |= 0x80;
        let out = door.send(from, &data);
        assert!(out.udp.is_empty() && out.tun.is_empty());
    }
    let drops = door.gateway.drops();
    assert_eq!(drops.not_wireguard, 500);
    assert_eq!(drops.unknown_index, 500);
    assert_eq!(drops.bad_mac1 + drops.unknown_key + drops.wireguard, 0);
    assert_eq!(door.gateway.handshake_counts(), HandshakeCounts::default());
}

#[test]
fn not_under_load_a_known_peer_handshakes_without_cookies() {
    let mut door = door();
    let (_, answers) = door.office_handshakes();
    assert_eq!(answers, [2], "a handshake response");
    assert_eq!(
        door.gateway.handshake_counts(),
        HandshakeCounts {
            initiations_processed: 1,
            cookie_replies: 0
        }
    );
    assert!(door.office_is_through());
}

#[test]
fn under_load_the_sender_gets_a_cookie_reply_and_its_retry_with_mac2_gets_in() {
    let mut door = door();
    door.load();
    let dh_before = door.gateway.handshake_counts().initiations_processed;

    // a valid initiation without MAC2: a cookie reply to its source, no DH
    let out = door.office_initiates();
    assert!(out.tun.is_empty());
    assert_eq!(out.udp.len(), 1);
    let (to, cookie) = &out.udp[0];
    assert_eq!(*to, addr(OFFICE), "the cookie goes to the sender's address");
    assert_eq!(
        (message_type(cookie), cookie.len()),
        (3, 64),
        "a cookie reply"
    );
    let counts = door.gateway.handshake_counts();
    assert_eq!(counts.cookie_replies, 1);
    assert_eq!(counts.initiations_processed, dh_before, "no DH spent");
    assert!(!door.gateway.is_alive(0, door.now));

    // the office's session takes the cookie, and its retry carries MAC2
    let mut buf = vec![0u8; BUFFER_SIZE];
    assert!(matches!(
        door.office.decapsulate(None, cookie, &mut buf),
        TunnResult::Done
    ));
    let retry = door.office_initiation();
    assert_ne!(&retry[retry.len() - 16..], &[0u8; 16], "MAC2 is set");
    let (_, answers) = door.office_exchange(&retry);
    assert_eq!(answers, [2], "a handshake response, still under load");
    let counts = door.gateway.handshake_counts();
    assert_eq!(counts.initiations_processed, dh_before + 1);
    assert_eq!(counts.cookie_replies, 1, "no second cookie");

    // the handshake completed: data flows
    assert!(door.office_is_through());
}

#[test]
fn handle_timeout_ends_the_load_window() {
    let mut door = door();
    door.load();
    let out = door.office_initiates();
    assert_eq!(message_type(&out.udp[0].1), 3, "under load: a cookie reply");

    // the window is a second of boringtun's clock (the limiter reads its
    // own): let one pass for real
    std::thread::sleep(Duration::from_millis(1100));
    let out = door.office_initiates();
    assert_eq!(
        message_type(&out.udp[0].1),
        3,
        "the window does not end by itself"
    );

    // the router's timers end it
    door.now += TICK;
    let now = door.now;
    door.gateway.handle_timeout(now, &mut Collect::default());
    let dh_before = door.gateway.handshake_counts().initiations_processed;
    let out = door.office_initiates();
    assert_eq!(out.udp.len(), 1);
    assert_eq!(
        message_type(&out.udp[0].1),
        2,
        "a handshake response, without a cookie"
    );
    let counts = door.gateway.handshake_counts();
    assert_eq!(counts.cookie_replies, 2);
    assert_eq!(counts.initiations_processed, dh_before + 1);
}

#[test]
fn a_source_holding_a_cookie_gets_at_most_its_rate_of_diffie_hellmans() {
    let mut door = door();
    door.load();
    let cookie = door.office_initiates().udp.remove(0).1;
    let mut buf = vec![0u8; BUFFER_SIZE];
    assert!(matches!(
        door.office.decapsulate(None, &cookie, &mut buf),
        TunnResult::Done
    ));
    let dh_before = door.gateway.handshake_counts().initiations_processed;

    // a burst of initiations with a valid MAC2, all at one instant
    let burst = PER_SOURCE_BURST as u64;
    for _ in 0..burst + 3 {
        door.office_initiates();
    }
    assert_eq!(
        door.gateway.handshake_counts().initiations_processed,
        dh_before + burst
    );
    assert_eq!(door.gateway.drops().source_rate, 3);

    // the router's clock refills the source's bucket
    door.now += Duration::from_secs(1);
    door.office_initiates();
    assert_eq!(
        door.gateway.handshake_counts().initiations_processed,
        dh_before + burst + 1
    );
    assert_eq!(door.gateway.drops().source_rate, 3);
}
