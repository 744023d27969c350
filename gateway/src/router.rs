//! The sans-IO core: packets and the time go in, what to send where comes
//! out through [`Io`]. No socket, no thread, no clock of its own.
//!
//! From the LAN (the TUN device): parse, route (longest prefix among live
//! peers), network ACL outbound, connection tracking or security groups
//! egress, PMTU (frag-needed for DF packets over the tunnel MTU), MSS clamp,
//! WireGuard encapsulation. From the network (UDP): WireGuard's
//! denial-of-service gate (`router/handshake_gate.rs`: MAC1, then under
//! load MAC2 or a cookie reply, all before any Diffie-Hellman), the peer by
//! handshake key or receiver index, decapsulation, the inner source checked
//! against the peer's allowed prefixes, network ACL inbound, connection
//! tracking or security groups ingress, MSS clamp, to the TUN.
//!
//! # Time
//!
//! Every method that needs the time takes it (`now`); nothing here reads a
//! clock, so tests drive the router's own timers by hand: liveness
//! (`dead_after`, hence failover), the knocks on dead peers' doors
//! ([`Router::handle_timeout`]), the frag-needed token bucket and
//! connection-tracking expiry.
//!
//! boringtun is the exception: [`Tunn`] reads `Instant::now()` itself for
//! its own timers (keepalives, rekeys, handshake retransmission and expiry
//! in `update_timers`) and the handshake's TAI64N timestamp, and the
//! seconds since the last handshake shown in [`Status`] come from it. Its
//! cookie rate limiter, too, has its own clock: the load window of
//! `handshake_gate` is a second of boringtun's clock, which
//! `handle_timeout` (every tick) only asks to end. Tests on a hand-driven
//! clock therefore see WireGuard sessions that never age: a session
//! outlives any jump of the router's clock, and boringtun retransmits
//! nothing on its own.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use boringtun::noise::{Packet as WgPacket, Tunn, TunnResult};
use ipnet::Ipv4Net;
use topology::nacl::NaclAction;
use topology::security_group::Direction;

use crate::classifier::{NaclClassifier, RuleRef, SgClassifier};
use crate::config::{GatewayConfig, PolicyConfig};
use crate::conntrack::{ConnTrack, Opener, Refused, Side, Timeouts, Verdict as CtVerdict};
use crate::kernel_routes::{BgpRoute, BgpRoutes, NextHopOwner, RouteEvent};
use crate::keys::{PrivateKey, PublicKey};
use crate::packet::{clamp_tcp_mss, icmp_frag_needed, parse_ipv4, Ipv4Meta};
use crate::routing::{PeerId, Route, RoutingTable};
use crate::status::{
    BgpRouteStatus, BgpStatus, DropCounts, Drops, FlowLogStatus, HandshakeCounts, PeerStatus,
    RouteStatus, RuleHits, RuleKind, Status,
};
use crate::token_bucket::TokenBucket;
use forwarding::{Forbidden, ForwardFilter};
use fragments::FragmentVerdicts;
use handshake_gate::{HandshakeGate, Verdict};
use topology::route_table::FastMap;

mod flow_log;
mod forwarding;
mod fragments;
mod handshake_gate;
mod private_key;

pub use handshake_gate::{HANDSHAKE_RATE_LIMIT, PER_SOURCE_BURST, PER_SOURCE_RATE};

/// Largest datagram or packet handled (a 64 KiB IP packet plus WireGuard's
/// 32 bytes of overhead, with room to spare).
pub const BUFFER_SIZE: usize = 65_536 + 256;
/// How often the timers want to run (boringtun expects ~250 ms).
pub const TICK: Duration = Duration::from_millis(250);
/// Retry a handshake toward a dead peer this often.
const REHANDSHAKE: Duration = Duration::from_secs(5);

/// Where the core's output goes. The shell implements it over the TUN
/// device and the UDP socket; tests collect into vectors.
pub trait Io {
    /// A packet for the TUN device (toward the LAN).
    fn send_tun(&mut self, packet: &[u8]);
    /// A datagram for the UDP socket.
    fn send_udp(&mut self, to: SocketAddr, datagram: &[u8]);
}

/// One peer and its WireGuard session.
pub struct Peer {
    /// Its name.
    pub name: String,
    /// Its key.
    pub public_key: PublicKey,
    /// Current endpoint (configured, or learned from its packets).
    pub endpoint: Option<SocketAddr>,
    /// Inner sources it may use.
    pub allowed_ips: Vec<Ipv4Net>,
    tunn: Tunn,
    index: u32,
    /// Last authenticated packet from it.
    pub last_rx: Option<Instant>,
    last_handshake_attempt: Option<Instant>,
    /// Inner bytes received from it.
    pub rx_bytes: u64,
    /// Inner bytes sent to it.
    pub tx_bytes: u64,
    /// Inner packets received from it.
    pub rx_packets: u64,
    /// Inner packets sent to it.
    pub tx_packets: u64,
    keepalive: Option<u16>,
    preshared: Option<[u8; 32]>,
}

impl Peer {
    fn alive(&self, now: Instant, dead_after: Duration) -> bool {
        self.last_rx
            .is_some_and(|t| now.saturating_duration_since(t) < dead_after)
    }
}

/// The compiled policy and its hit counters.
struct Policy {
    sg: Option<SgClassifier>,
    nacl: Option<NaclClassifier>,
    sg_hits: FastMap<(Direction, RuleRef), u64>,
    /// Counted for every packet: a multiply hash, not SipHash.
    nacl_hits: FastMap<(Direction, Option<u16>), u64>,
    config: PolicyConfig,
}

impl Policy {
    fn compile(config: &PolicyConfig) -> Self {
        Policy {
            sg: config
                .enforce
                .then(|| SgClassifier::compile(&config.applied, &config.groups, &config.members)),
            nacl: config.nacl.as_ref().map(NaclClassifier::compile),
            sg_hits: FastMap::default(),
            nacl_hits: FastMap::default(),
            config: config.clone(),
        }
    }
}

/// The gateway's packet path.
pub struct Router {
    private: PrivateKey,
    peers: Vec<Peer>,
    by_key: HashMap<[u8; 32], PeerId>,
    by_index: HashMap<u32, PeerId>,
    /// Static and BGP routes, for lookups.
    routes: RoutingTable,
    /// The configuration's routes.
    static_routes: Vec<Route>,
    /// The kernel table followed for BGP routes (`[bgp] kernel_table`).
    bgp_table: Option<u32>,
    /// Its mirror.
    bgp: BgpRoutes,
    /// The mirror's routes mapped to peers (for the status).
    bgp_routes: Vec<BgpRoute>,
    /// What each peer owns of the next hops.
    next_hop_owners: Vec<NextHopOwner>,
    policy: Policy,
    /// Where packets from the tunnel may go.
    forwarding: ForwardFilter,
    conntrack: ConnTrack,
    /// The verdicts of admitted first fragments, for their later fragments.
    fragments: FragmentVerdicts,
    gate: HandshakeGate,
    tunnel_mtu: u16,
    dead_after: Duration,
    frag_needed: TokenBucket,
    tun_address: Option<Ipv4Net>,
    drops: Drops,
    buf: Box<[u8]>,
    reply: Box<[u8]>,
    next_tick: Instant,
    next_index: u32,
    /// VPC flow logs, when the shell started them.
    flow_log: Option<crate::flow_log::FlowAggregator>,
    /// What the flow log's earlier aggregators (before a restart) could
    /// not record.
    flow_log_skipped_earlier: FlowLogStatus,
}

/// Why the router could not be built.
#[derive(Debug, thiserror::Error)]
pub enum RouterError {
    /// A key file could not be read.
    #[error(transparent)]
    Key(#[from] crate::keys::KeyError),
}

impl Router {
    /// Builds the router from a checked configuration. Reads the key files.
    pub fn new(config: &GatewayConfig, now: Instant) -> Result<Self, RouterError> {
        let private = crate::keys::read_private_key_file(&config.interface.private_key_file)?;
        Self::with_key(config, private, now)
    }

    /// Builds the router with a private key at hand (tests).
    pub fn with_key(
        config: &GatewayConfig,
        private: PrivateKey,
        now: Instant,
    ) -> Result<Self, RouterError> {
        let gate = HandshakeGate::new(&private);
        let mut r = Router {
            private,
            peers: Vec::new(),
            by_key: HashMap::new(),
            by_index: HashMap::new(),
            routes: RoutingTable::new(config.routes.clone()),
            static_routes: config.routes.clone(),
            bgp_table: config.bgp.map(|b| b.kernel_table),
            bgp: BgpRoutes::new(),
            bgp_routes: Vec::new(),
            next_hop_owners: NextHopOwner::of_peers(&config.peers),
            policy: Policy::compile(&config.policy),
            forwarding: ForwardFilter::new(
                &config.forwarding,
                config.interface.address.map(|a| a.addr()),
            ),
            conntrack: conntrack(config),
            fragments: FragmentVerdicts::new(fragments::DEFAULT_CAPACITY),
            gate,
            tunnel_mtu: config.interface.mtu,
            dead_after: config.dead_after,
            frag_needed: TokenBucket::new(100, 20),
            tun_address: config.interface.address,
            drops: Drops::default(),
            buf: vec![0u8; BUFFER_SIZE].into_boxed_slice(),
            reply: vec![0u8; 1500].into_boxed_slice(),
            next_tick: now,
            next_index: 1,
            flow_log: None,
            flow_log_skipped_earlier: FlowLogStatus::default(),
        };
        for p in &config.peers {
            let preshared = match &p.preshared_key_file {
                Some(f) => Some(*crate::keys::read_preshared_key_file(f)?.as_bytes()),
                None => None,
            };
            r.add_peer(p, preshared);
        }
        Ok(r)
    }

    fn add_peer(&mut self, p: &crate::config::PeerConfig, preshared: Option<[u8; 32]>) {
        let index = self.next_index;
        self.next_index += 1;
        let tunn = Tunn::new(
            self.private.to_static_secret(),
            p.public_key.to_x25519(),
            preshared,
            p.persistent_keepalive,
            index, // boringtun puts it in the top 24 bits of its session indices
            Some(self.gate.sessions_limiter()),
        );
        let id = self.peers.len();
        self.by_key.insert(*p.public_key.as_bytes(), id);
        self.by_index.insert(index, id);
        self.peers.push(Peer {
            name: p.name.clone(),
            public_key: p.public_key,
            endpoint: p.endpoint,
            allowed_ips: p.allowed_ips.clone(),
            tunn,
            index,
            last_rx: None,
            last_handshake_attempt: None,
            rx_bytes: 0,
            tx_bytes: 0,
            rx_packets: 0,
            tx_packets: 0,
            keepalive: p.persistent_keepalive,
            preshared,
        });
    }

    /// Applies a new configuration without dropping live sessions or
    /// tracked connections: peers with an unchanged key (and pre-shared
    /// key and keepalive) keep their session; routes, policy and timeouts
    /// are replaced; removed peers go.
    pub fn reload(&mut self, config: &GatewayConfig) -> Result<(), RouterError> {
        // everything that can fail first: a refused reload changes nothing
        let mut preshared_keys = Vec::with_capacity(config.peers.len());
        for p in &config.peers {
            preshared_keys.push(match &p.preshared_key_file {
                Some(f) => Some(*crate::keys::read_preshared_key_file(f)?.as_bytes()),
                None => None,
            });
        }
        let old_keys: Vec<[u8; 32]> = self
            .peers
            .iter()
            .map(|p| *p.public_key.as_bytes())
            .collect();
        let mut old: HashMap<[u8; 32], Peer> = self
            .peers
            .drain(..)
            .map(|p| (*p.public_key.as_bytes(), p))
            .collect();
        self.by_key.clear();
        self.by_index.clear();
        for (p, preshared) in config.peers.iter().zip(preshared_keys) {
            match old.remove(p.public_key.as_bytes()) {
                Some(mut kept)
                    if kept.preshared == preshared && kept.keepalive == p.persistent_keepalive =>
                {
                    kept.name = p.name.clone();
                    kept.allowed_ips = p.allowed_ips.clone();
                    if p.endpoint.is_some() {
                        kept.endpoint = p.endpoint;
                    }
                    let id = self.peers.len();
                    self.by_key.insert(*kept.public_key.as_bytes(), id);
                    self.by_index.insert(kept.index, id);
                    self.peers.push(kept);
                }
                _ => self.add_peer(p, preshared),
            }
        }
        // the flows a peer opened stay its own under its new position
        let by_key = &self.by_key;
        self.conntrack
            .renumber_peers(|old| old_keys.get(old).and_then(|k| by_key.get(k).copied()));
        self.static_routes = config.routes.clone();
        self.next_hop_owners = NextHopOwner::of_peers(&config.peers);
        let table = config.bgp.map(|b| b.kernel_table);
        if table != self.bgp_table {
            // another table (or none): its routes come with the shell's dump
            self.bgp_table = table;
            self.bgp = BgpRoutes::new();
        }
        self.rebuild_routes();
        self.policy = Policy::compile(&config.policy);
        self.forwarding = self.forwarding.reconfigured(
            &config.forwarding,
            config.interface.address.map(|a| a.addr()),
        );
        self.conntrack.set_timeouts(timeouts(config));
        self.conntrack.set_when_full(config.conntrack.when_full);
        self.conntrack.set_limits(config.conntrack.limits);
        self.tunnel_mtu = config.interface.mtu;
        self.dead_after = config.dead_after;
        Ok(())
    }

    /// What the kernel said about the followed table (`[bgp]
    /// kernel_table`), as the shell read it: the routes are rebuilt once
    /// for the whole batch. Without `[bgp]` the events are ignored.
    pub fn handle_route_events(&mut self, events: impl IntoIterator<Item = RouteEvent>) {
        if self.bgp_table.is_none() {
            return;
        }
        let mut changed = false;
        for e in events {
            changed |= self.bgp.apply(e);
        }
        if changed {
            self.rebuild_routes();
        }
    }

    /// The routing table anew: the static routes, then the BGP routes
    /// whose next hop is a peer's.
    fn rebuild_routes(&mut self) {
        self.bgp_routes = self.bgp.resolve(&self.next_hop_owners);
        let mut all = self.static_routes.clone();
        all.extend(self.bgp_routes.iter().filter_map(BgpRoute::route));
        self.routes = RoutingTable::new(all);
    }

    /// The box's own addresses, as the shell read them from its
    /// interfaces: packets from the tunnel to them are dropped
    /// (`to_gateway_box`) unless `[forwarding] allow_to_box` names them.
    /// Whether they changed.
    pub fn set_box_addresses(&mut self, addresses: &[std::net::Ipv4Addr]) -> bool {
        self.forwarding.set_box_addresses(addresses)
    }

    /// When the timers next want to run.
    pub fn poll_timeout(&self) -> Instant {
        self.next_tick
    }

    /// The peers.
    pub fn peers(&self) -> &[Peer] {
        &self.peers
    }

    /// Drop counters.
    pub fn drops(&self) -> Drops {
        let limits = self.conntrack.limit_drops();
        Drops {
            conntrack_early_drop: self.conntrack.early_drops(),
            conntrack_lan_limit: limits.lan,
            conntrack_tunnel_limit: limits.tunnel,
            conntrack_peer_limit: limits.peer,
            ..self.drops
        }
    }

    /// What handshake initiations cost: Diffie-Hellmans spent, cookie
    /// replies sent.
    pub fn handshake_counts(&self) -> HandshakeCounts {
        self.gate.counts()
    }

    /// Whether a peer is alive for routing.
    pub fn is_alive(&self, peer: PeerId, now: Instant) -> bool {
        self.peers[peer].alive(now, self.dead_after)
    }

    /// The peer traffic to `dst` goes to now.
    pub fn route_for(&self, dst: std::net::Ipv4Addr, now: Instant) -> Option<PeerId> {
        self.chosen_route(dst, now).map(|r| r.peer)
    }

    /// The route traffic to `dst` takes now.
    fn chosen_route(&self, dst: std::net::Ipv4Addr, now: Instant) -> Option<&Route> {
        let (peers, dead_after) = (&self.peers, self.dead_after);
        self.routes.lookup(dst, |p| peers[p].alive(now, dead_after))
    }

    /// A packet from the LAN side (read from the TUN device).
    pub fn handle_tun(&mut self, now: Instant, packet: &mut [u8], io: &mut impl Io) {
        let meta = match parse_ipv4(packet) {
            Ok(m) => m,
            Err(crate::packet::PacketError::NotIpv4) => {
                self.drops.not_ipv4 += 1;
                return;
            }
            Err(_) => {
                self.drops.malformed += 1;
                return;
            }
        };
        let packet = &mut packet[..meta.total_len];
        let Some(peer) = self.route_for(meta.dst, now) else {
            self.drops.no_route += 1;
            return;
        };
        if self.peers[peer].endpoint.is_none() {
            self.drops.no_endpoint += 1;
            return;
        }
        if !self.admit(now, Opener::Lan, &meta) {
            return;
        }
        if meta.total_len > self.tunnel_mtu as usize && meta.dont_fragment {
            self.drops.too_big += 1;
            let from = self.tun_address.map(|a| a.addr()).unwrap_or(meta.dst);
            if self.frag_needed.allow(now) {
                if let Some(n) = icmp_frag_needed(packet, self.tunnel_mtu, from, &mut self.reply) {
                    io.send_tun(&self.reply[..n]);
                }
            }
            return;
        }
        clamp_tcp_mss(packet, self.tunnel_mtu.saturating_sub(40));
        let p = &mut self.peers[peer];
        let Some(endpoint) = p.endpoint else {
            self.drops.no_endpoint += 1;
            return;
        };
        match p.tunn.encapsulate(packet, &mut self.buf) {
            TunnResult::WriteToNetwork(d) => {
                p.tx_bytes += packet.len() as u64;
                p.tx_packets += 1;
                io.send_udp(endpoint, d);
            }
            TunnResult::Done => {
                // queued until the handshake completes
                p.tx_bytes += packet.len() as u64;
                p.tx_packets += 1;
            }
            TunnResult::Err(_) => self.drops.wireguard += 1,
            _ => {}
        }
    }

    /// A datagram from the network (read from the UDP socket).
    pub fn handle_udp(
        &mut self,
        now: Instant,
        from: SocketAddr,
        datagram: &[u8],
        io: &mut impl Io,
    ) {
        // WireGuard's order: parse, MAC1, load (cookie reply or MAC2), and
        // only then a Diffie-Hellman to find an initiation's sender
        let packet = match self.gate.verify(now, from, datagram, &mut self.reply) {
            Verdict::Pass(p) => p,
            Verdict::CookieReply(cookie) => {
                io.send_udp(from, cookie);
                return;
            }
            Verdict::BadMac1 => {
                self.drops.bad_mac1 += 1;
                return;
            }
            Verdict::SourceRate => {
                self.drops.source_rate += 1;
                return;
            }
            Verdict::NotWireGuard => {
                self.drops.not_wireguard += 1;
                return;
            }
        };
        let peer = match packet {
            WgPacket::HandshakeInit(ref h) => {
                let peer = self
                    .gate
                    .initiator_key(h)
                    .and_then(|key| self.by_key.get(&key).copied());
                if peer.is_none() {
                    tracing::debug!(%from, "handshake initiation from no known peer");
                    self.drops.unknown_key += 1;
                    return;
                }
                peer
            }
            WgPacket::HandshakeResponse(ref h) => {
                self.by_index.get(&(h.receiver_idx >> 8)).copied()
            }
            WgPacket::PacketCookieReply(ref c) => {
                self.by_index.get(&(c.receiver_idx >> 8)).copied()
            }
            WgPacket::PacketData(ref d) => self.by_index.get(&(d.receiver_idx >> 8)).copied(),
        };
        let Some(peer) = peer else {
            self.drops.unknown_index += 1;
            return;
        };
        let mut first = true;
        loop {
            let input: &[u8] = if first { datagram } else { &[] };
            let src = first.then_some(from.ip());
            first = false;
            let p = &mut self.peers[peer];
            match p.tunn.decapsulate(src, input, &mut self.buf) {
                TunnResult::Done => {
                    p.last_rx = Some(now);
                    p.endpoint = Some(from);
                    break;
                }
                TunnResult::Err(e) => {
                    tracing::debug!(peer = %p.name, %from, "decapsulate: {e:?}");
                    self.drops.wireguard += 1;
                    break;
                }
                TunnResult::WriteToNetwork(d) => {
                    // a handshake response to a valid initiation, or queued
                    // packets sent after a completed handshake: both prove
                    // the peer (the session's limiter never sends cookie
                    // replies: the gate did that already)
                    p.last_rx = Some(now);
                    p.endpoint = Some(from);
                    io.send_udp(from, d);
                    continue;
                }
                TunnResult::WriteToTunnelV4(inner, src_ip) => {
                    p.last_rx = Some(now);
                    p.endpoint = Some(from);
                    let len = inner.len();
                    if !p.allowed_ips.iter().any(|n| n.contains(&src_ip)) {
                        self.drops.allowed_ips += 1;
                        break;
                    }
                    p.rx_bytes += len as u64;
                    p.rx_packets += 1;
                    let inner = &mut self.buf[..len];
                    let meta = match parse_ipv4(inner) {
                        Ok(m) => m,
                        Err(_) => {
                            self.drops.malformed += 1;
                            break;
                        }
                    };
                    if let Err(why) = self.forwarding.check(meta.dst, &self.routes) {
                        match why {
                            Forbidden::OutsideDestinations => self.drops.outside_destinations += 1,
                            Forbidden::Hairpin => self.drops.hairpin += 1,
                        }
                        break;
                    }
                    if self.admit(now, Opener::Peer(peer), &meta) {
                        let pkt = &mut self.buf[..meta.total_len];
                        clamp_tcp_mss(pkt, self.tunnel_mtu.saturating_sub(40));
                        io.send_tun(pkt);
                    }
                    break;
                }
                TunnResult::WriteToTunnelV6(..) => {
                    self.drops.malformed += 1;
                    break;
                }
            }
        }
    }

    /// Runs the timers: WireGuard's (keepalives, rekeys, retransmissions),
    /// the end of the cookie rate limiter's load window (once a second of
    /// boringtun's clock has passed: see `router/handshake_gate.rs`),
    /// handshakes toward dead peers, conntrack expiry.
    pub fn handle_timeout(&mut self, now: Instant, io: &mut impl Io) {
        if now < self.next_tick {
            return;
        }
        self.next_tick = now + TICK;
        self.gate.reset_window(now);
        for p in &mut self.peers {
            match p.tunn.update_timers(&mut self.buf) {
                TunnResult::WriteToNetwork(d) => {
                    if let Some(e) = p.endpoint {
                        io.send_udp(e, d);
                    }
                }
                TunnResult::Err(_) | TunnResult::Done => {}
                _ => {}
            }
            // keep knocking on a dead peer's door, so that its routes come
            // back as soon as it does
            let dead = !p.alive(now, self.dead_after);
            let due = p
                .last_handshake_attempt
                .is_none_or(|t| now.saturating_duration_since(t) >= REHANDSHAKE);
            if dead && due {
                if let Some(e) = p.endpoint {
                    p.last_handshake_attempt = Some(now);
                    if let TunnResult::WriteToNetwork(d) =
                        p.tunn.format_handshake_initiation(&mut self.buf, false)
                    {
                        io.send_udp(e, d);
                    }
                }
            }
        }
        self.conntrack.expire(now);
    }

    /// A snapshot for `vifgate status`.
    pub fn status(&self, now: Instant) -> Status {
        let mut peers: Vec<PeerStatus> = self
            .peers
            .iter()
            .map(|p| {
                let (hs, ..) = p.tunn.stats();
                PeerStatus {
                    name: p.name.clone(),
                    public_key: p.public_key.to_base64(),
                    endpoint: p.endpoint.map(|e| e.to_string()),
                    last_handshake_secs: hs.map(|d| d.as_secs_f64()),
                    last_rx_secs: p
                        .last_rx
                        .map(|t| now.saturating_duration_since(t).as_secs_f64()),
                    alive: p.alive(now, self.dead_after),
                    rx_bytes: p.rx_bytes,
                    tx_bytes: p.tx_bytes,
                    rx_packets: p.rx_packets,
                    tx_packets: p.tx_packets,
                    routes_in_use: vec![],
                }
            })
            .collect();
        let mut routes = Vec::with_capacity(self.routes.routes().len());
        for r in self.routes.routes() {
            let chosen = self.chosen_route(r.prefix.network(), now);
            let in_use = chosen.is_some_and(|c| c == r);
            if chosen.map(|c| c.peer) == Some(r.peer) {
                let s = r.prefix.to_string();
                if !peers[r.peer].routes_in_use.contains(&s) {
                    peers[r.peer].routes_in_use.push(s);
                }
            }
            routes.push(RouteStatus {
                prefix: r.prefix.to_string(),
                peer: peers[r.peer].name.clone(),
                source: r.source.to_string(),
                priority: r.priority,
                in_use,
            });
        }
        let cfg = &self.policy.config;
        let mut rules: Vec<RuleHits> = self
            .policy
            .sg_hits
            .iter()
            .map(|((dir, r), hits)| RuleHits {
                kind: RuleKind::SecurityGroup,
                name: cfg
                    .applied
                    .get(r.group as usize)
                    .and_then(|&g| cfg.groups.get(g))
                    .map(|g| g.name.clone())
                    .unwrap_or_default(),
                direction: *dir,
                rule: (r.rule as usize + 1).to_string(),
                hits: *hits,
            })
            .collect();
        rules.extend(self.policy.nacl_hits.iter().map(|((dir, n), hits)| {
            RuleHits {
                kind: RuleKind::NetworkAcl,
                name: cfg
                    .nacl
                    .as_ref()
                    .map(|n| n.name.clone())
                    .unwrap_or_default(),
                direction: *dir,
                rule: n.map(|n| n.to_string()).unwrap_or_else(|| "*".into()),
                hits: *hits,
            }
        }));
        rules.sort_by(|a, b| {
            let key = |r: &RuleHits| {
                (
                    r.kind.as_str(),
                    r.name.clone(),
                    r.direction == Direction::Egress,
                    r.rule.len(),
                    r.rule.clone(),
                )
            };
            key(a).cmp(&key(b))
        });
        Status {
            peers,
            rules,
            conntrack_flows: self.conntrack.len(),
            conntrack_capacity: self.conntrack.capacity(),
            drops: DropCounts {
                router: Drops {
                    conntrack_full: self.conntrack.drops_full(),
                    ..self.drops()
                },
                shell: Default::default(),
            },
            handshakes: self.gate.counts(),
            policy: cfg.origin.clone(),
            impair: None,
            reload: None,
            bgp: self.bgp_table.map(|kernel_table| BgpStatus {
                kernel_table,
                routes: self
                    .bgp_routes
                    .iter()
                    .map(|r| BgpRouteStatus {
                        prefix: r.prefix.to_string(),
                        next_hop: r.next_hop.to_string(),
                        metric: r.metric,
                        peer: r
                            .peer
                            .and_then(|p| self.peers.get(p))
                            .map(|p| p.name.clone()),
                    })
                    .collect(),
            }),
            routes,
            flow_log: self.flow_log_status(),
            queue: None,
        }
    }
}

/// The connection table of a configuration.
fn conntrack(config: &GatewayConfig) -> ConnTrack {
    let mut table = ConnTrack::new(config.conntrack.max_flows, timeouts(config));
    table.set_when_full(config.conntrack.when_full);
    table.set_limits(config.conntrack.limits);
    table
}

fn timeouts(config: &GatewayConfig) -> Timeouts {
    Timeouts {
        tcp_established: config.conntrack.tcp_established,
        ..Timeouts::default()
    }
}

impl Router {
    /// The policy's verdict on a packet opened by `opener` (the LAN, or a
    /// peer through the tunnel), written to the flow log. A non-first
    /// fragment has no transport header for the rules to read: it takes the
    /// verdict of its datagram's first fragment ([`FragmentVerdicts`]), and
    /// is dropped (`orphan_fragment`) when that was not admitted. Every other
    /// packet is judged by [`Self::admit_by_rules`]; an admitted first
    /// fragment admits the rest of its datagram.
    fn admit(&mut self, now: Instant, opener: Opener, meta: &Ipv4Meta) -> bool {
        let side = opener.side();
        let admitted = if self.policy.nacl.is_none() && self.policy.sg.is_none() {
            true
        } else if meta.is_fragment {
            // RFC 1858 §4: a TCP fragment at offset 8 can only overwrite the
            // header its first fragment was judged by.
            let overlapping = meta.proto == topology::traffic::proto::TCP
                && meta.fragment_offset == TCP_OVERLAP_OFFSET;
            let admitted = !overlapping && self.fragments.admits(now, side, meta);
            if !admitted {
                self.drops.orphan_fragment += 1;
            }
            admitted
        } else {
            let admitted = self.admit_by_rules(now, opener, meta);
            if admitted {
                self.fragments.admitted(now, side, meta);
            }
            admitted
        };
        flow_log::log_verdict(&mut self.flow_log, now, side, meta, admitted);
        admitted
    }

    /// Network ACL (stateless, every packet), then connection tracking,
    /// then security groups for a new flow, opened by `opener`. From the
    /// tunnel is ingress, and a packet of no tracked flow to the gateway box
    /// itself is refused there (`to_gateway_box`) unless `[forwarding]
    /// allow_to_box` names the address. ICMP errors are judged by the rules
    /// like any packet: as AWS documents, a security group passes Path MTU
    /// Discovery's "fragmentation needed" only when a rule allows it
    /// (`docs/gateway.md`, "ICMP errors").
    fn admit_by_rules(&mut self, now: Instant, opener: Opener, meta: &Ipv4Meta) -> bool {
        let side = opener.side();
        let dir = match side {
            Side::Tunnel => Direction::Ingress,
            Side::Lan => Direction::Egress,
        };
        let acl_packet = meta.acl_packet();
        if let Some(nacl) = &self.policy.nacl {
            let (rule, action) = nacl.evaluate(dir, &acl_packet);
            *self.policy.nacl_hits.entry((dir, rule)).or_default() += 1;
            if action == NaclAction::Deny {
                self.drops.nacl += 1;
                return false;
            }
        }
        let Some(sg) = &self.policy.sg else {
            return true;
        };
        match self.conntrack.lookup(now, side, meta) {
            CtVerdict::Original | CtVerdict::Reply => return true,
            CtVerdict::New => {}
        }
        if side == Side::Tunnel && self.forwarding.forbids_box(meta.dst) {
            self.drops.to_gateway_box += 1;
            return false;
        }
        match sg.evaluate(dir, &acl_packet) {
            Some(rule) => {
                *self.policy.sg_hits.entry((dir, rule)).or_default() += 1;
                match self.conntrack.open(now, opener, meta) {
                    Ok(()) => true,
                    Err(Refused::Full) => {
                        self.drops.conntrack_full += 1;
                        false
                    }
                    // counted by the table (`Router::drops`)
                    Err(Refused::LanLimit | Refused::TunnelLimit | Refused::PeerLimit) => false,
                }
            }
            None => {
                self.drops.security_group += 1;
                false
            }
        }
    }
}

/// The offset (bytes) of a TCP fragment that would overlap the TCP header of
/// its first fragment (RFC 1858 §4: "offset 1", in 8-byte units).
const TCP_OVERLAP_OFFSET: u16 = 8;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::tcp_flags;
    use crate::packet::tests::{ipv4, tcp_header};
    use crate::testkit::{addr, config, office_config, vpc_config, Collect, Wire};
    use crate::testkit::{AWS, BACKUP, OFFICE};
    use std::net::Ipv4Addr;

    mod bgp;
    mod flow_log;
    mod fragments;
    mod handshake_flood;
    mod limits;
    mod private_key;

    /// Three gateways on one virtual clock: the office (LAN
    /// 192.168.10.0/24), AWS (VPC 10.0.0.0/16, the primary) and its backup.
    /// Datagrams travel between them at once; `down` holds the endpoints
    /// whose datagrams (either way) are lost.
    struct Lab {
        office: Router,
        aws: Router,
        backup: Router,
        keys: [PrivateKey; 3],
        /// The clock: every call into a router is at this instant, moved
        /// by hand with [`Lab::advance`].
        now: Instant,
        down: Vec<SocketAddr>,
    }

    /// What each gateway wrote to its TUN device.
    #[derive(Default)]
    struct Tuns {
        office: Vec<Vec<u8>>,
        aws: Vec<Vec<u8>>,
        backup: Vec<Vec<u8>>,
    }

    /// A VPC-side gateway (AWS or its backup) whose one peer is the office.
    fn vpc_side(name: &str, office: &PublicKey) -> GatewayConfig {
        config(&vpc_config(name, office, ""))
    }

    /// The lab, `policy` applied at the office, its clock at an arbitrary
    /// instant (the only clock read in these tests).
    fn lab(policy: &str) -> Lab {
        let keys = [
            PrivateKey::generate().unwrap(),
            PrivateKey::generate().unwrap(),
            PrivateKey::generate().unwrap(),
        ];
        let office = config(&office_config(
            &keys[1].public_key(),
            &keys[2].public_key(),
            None,
            policy,
        ));
        let office_key = keys[0].public_key();
        let now = Instant::now();
        Lab {
            office: Router::with_key(&office, keys[0].clone(), now).unwrap(),
            aws: Router::with_key(&vpc_side("aws", &office_key), keys[1].clone(), now).unwrap(),
            backup: Router::with_key(&vpc_side("backup", &office_key), keys[2].clone(), now)
                .unwrap(),
            keys,
            now,
            down: vec![],
        }
    }

    impl Lab {
        /// Moves the clock forward.
        fn advance(&mut self, by: Duration) {
            self.now += by;
        }

        /// Sends a packet from the office LAN and shuttles datagrams both
        /// ways until the network is quiet; what each side wrote to its TUN.
        fn office_sends(&mut self, packet: &[u8]) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
            let mut out = Collect::default();
            let now = self.now;
            self.office.handle_tun(now, &mut packet.to_vec(), &mut out);
            let tuns = self.deliver(addr(OFFICE), out);
            (tuns.office, tuns.aws)
        }

        fn aws_sends(&mut self, packet: &[u8]) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
            let mut out = Collect::default();
            let now = self.now;
            self.aws.handle_tun(now, &mut packet.to_vec(), &mut out);
            let tuns = self.deliver(addr(AWS), out);
            (tuns.office, tuns.aws)
        }

        /// Runs the office's timers now and delivers what they send.
        fn office_timers(&mut self) -> Tuns {
            let mut out = Collect::default();
            let now = self.now;
            self.office.handle_timeout(now, &mut out);
            self.deliver(addr(OFFICE), out)
        }

        /// Delivers what the gateway at `from` sent, and the answers, until
        /// the network is quiet (or 10 rounds).
        fn deliver(&mut self, from: SocketAddr, out: Collect) -> Tuns {
            let mut tuns = Tuns::default();
            tuns_of(&mut tuns, from).extend(out.tun);
            let mut wire = Wire::new(vec![
                (addr(OFFICE), &mut self.office),
                (addr(AWS), &mut self.aws),
                (addr(BACKUP), &mut self.backup),
            ]);
            for (at, packet) in wire.deliver(self.now, from, out.udp, 10, &self.down) {
                tuns_of(&mut tuns, at).push(packet);
            }
            tuns
        }
    }

    fn tuns_of(tuns: &mut Tuns, endpoint: SocketAddr) -> &mut Vec<Vec<u8>> {
        match endpoint {
            e if e == addr(OFFICE) => &mut tuns.office,
            e if e == addr(AWS) => &mut tuns.aws,
            _ => &mut tuns.backup,
        }
    }

    fn ping(src: [u8; 4], dst: [u8; 4], ty: u8) -> Vec<u8> {
        ipv4(src, dst, 1, false, &[ty, 0, 0, 0, 0, 7, 0, 1])
    }

    fn tcp(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, flags: u8) -> Vec<u8> {
        ipv4(src, dst, 6, true, &tcp_header(sport, dport, flags))
    }

    /// A SYN from an office host to a VPC host's HTTPS port.
    fn office_syn() -> Vec<u8> {
        tcp(
            [192, 168, 10, 10],
            [10, 0, 10, 10],
            40000,
            443,
            tcp_flags::SYN,
        )
    }

    /// The VPC host's SYN-ACK, the reply to [`office_syn`].
    fn vpc_syn_ack() -> Vec<u8> {
        tcp(
            [10, 0, 10, 10],
            [192, 168, 10, 10],
            443,
            40000,
            tcp_flags::SYN | tcp_flags::ACK,
        )
    }

    /// A SYN from the VPC host to an office host's SSH port: a new flow
    /// from the VPC side.
    fn vpc_ssh_syn() -> Vec<u8> {
        tcp(
            [10, 0, 10, 10],
            [192, 168, 10, 10],
            50000,
            22,
            tcp_flags::SYN,
        )
    }

    const EDGE: &str = r#"
[policy]
security_groups = ["edge"]
[[policy.security_group]]
name = "edge"
ingress = [{ protocol = "icmp", icmp_type = 8, icmp_code = -1, cidr = "10.0.0.0/16" }]
"#;

    #[test]
    fn a_ping_crosses_the_tunnel_after_the_handshake() {
        let mut lab = lab("");
        let p = ping([192, 168, 10, 10], [10, 0, 10, 10], 8);
        let (_, at_aws) = lab.office_sends(&p);
        assert_eq!(
            at_aws,
            vec![p.clone()],
            "the queued packet arrives once the handshake completes"
        );
        let (_, at_aws) = lab.office_sends(&p);
        assert_eq!(at_aws, vec![p]);
        assert!(lab.office.peers()[0].tx_bytes > 0);
        assert!(lab.aws.peers()[0].rx_bytes > 0);
        // two pings sent, two received
        assert_eq!(lab.office.peers()[0].tx_packets, 2);
        assert_eq!(lab.aws.peers()[0].rx_packets, 2);
        assert!(lab.office.is_alive(0, lab.now));
    }

    #[test]
    fn security_groups_are_stateful_at_the_office() {
        let mut lab = lab(EDGE);
        // office-initiated TCP goes out (egress allows all) ...
        let (_, at_aws) = lab.office_sends(&office_syn());
        assert_eq!(at_aws.len(), 1);
        // ... and its reply comes in although no ingress rule allows tcp
        let (at_office, _) = lab.aws_sends(&vpc_syn_ack());
        assert_eq!(at_office.len(), 1, "the reply of a tracked flow passes");
        // a VPC-initiated TCP flow is dropped and counted
        let new = vpc_ssh_syn();
        let (at_office, _) = lab.aws_sends(&new);
        assert!(at_office.is_empty());
        assert_eq!(lab.office.drops().security_group, 1);
        // a ping from the VPC is allowed by the rule, and counted on it
        let (at_office, _) = lab.aws_sends(&ping([10, 0, 10, 10], [192, 168, 10, 10], 8));
        assert_eq!(at_office.len(), 1);
        let status = lab.office.status(lab.now);
        let hit = status
            .rules
            .iter()
            .find(|r| r.name == "edge" && r.direction == Direction::Ingress)
            .unwrap();
        assert_eq!((hit.rule.as_str(), hit.hits), ("1", 1));
    }

    #[test]
    fn a_nacl_deny_beats_a_security_group_allow() {
        let policy = EDGE.replace(
            "security_groups = [\"edge\"]\n",
            "security_groups = [\"edge\"]\nnacl = \"edge-acl\"\n",
        ) + r#"
[[policy.network_acl]]
name = "edge-acl"
ingress = [
  { rule = 10, action = "deny", protocol = "icmp", icmp_type = -1, icmp_code = -1, cidr = "10.0.99.0/24" },
  { rule = 100, action = "allow", protocol = -1, cidr = "0.0.0.0/0" },
]
egress = [{ rule = 100, action = "allow", protocol = -1, cidr = "0.0.0.0/0" }]
"#;
        let mut lab = lab(&policy);
        let (at_office, _) = lab.aws_sends(&ping([10, 0, 99, 5], [192, 168, 10, 10], 8));
        assert!(
            at_office.is_empty(),
            "the security group allows ICMP from 10.0.0.0/16, the NACL denies 10.0.99.0/24 first"
        );
        assert_eq!(lab.office.drops().nacl, 1);
        let (at_office, _) = lab.aws_sends(&ping([10, 0, 10, 5], [192, 168, 10, 10], 8));
        assert_eq!(at_office.len(), 1);
    }

    #[test]
    fn inner_sources_outside_allowed_ips_are_dropped_and_counted() {
        let mut lab = lab("");
        // the office's allowed_ips for aws are 10.0.0.0/16
        let (at_office, _) = lab.aws_sends(&ping([172, 16, 0, 1], [192, 168, 10, 10], 8));
        assert!(at_office.is_empty());
        assert_eq!(lab.office.drops().allowed_ips, 1);
    }

    #[test]
    fn df_packets_over_the_tunnel_mtu_get_frag_needed() {
        let mut lab = lab("");
        let big = ipv4(
            [192, 168, 10, 10],
            [10, 0, 10, 10],
            17,
            true,
            &vec![0u8; 1500],
        );
        let mut out = Collect::default();
        lab.office.handle_tun(lab.now, &mut big.clone(), &mut out);
        assert!(out.udp.is_empty());
        assert_eq!(out.tun.len(), 1);
        let reply = parse_ipv4(&out.tun[0]).unwrap();
        assert_eq!(
            reply.l4,
            topology::traffic::L4::Icmp {
                icmp_type: 3,
                code: 4
            }
        );
        assert_eq!(reply.dst, Ipv4Addr::new(192, 168, 10, 10));
        assert_eq!(u16::from_be_bytes([out.tun[0][26], out.tun[0][27]]), 1420);
        assert_eq!(lab.office.drops().too_big, 1);
    }

    #[test]
    fn syns_crossing_the_tunnel_get_their_mss_clamped() {
        let mut lab = lab("");
        let mut syn = tcp(
            [192, 168, 10, 10],
            [10, 0, 10, 10],
            40000,
            443,
            tcp_flags::SYN,
        );
        // add an MSS option of 1460
        syn[32] = 6 << 4;
        syn.splice(40..40, [2u8, 4, 0x05, 0xb4]);
        let total = syn.len() as u16;
        syn[2..4].copy_from_slice(&total.to_be_bytes());
        let mut ip = smoltcp::wire::Ipv4Packet::new_unchecked(&mut syn[..]);
        ip.fill_checksum();
        let (_, at_aws) = lab.office_sends(&syn);
        let mss = u16::from_be_bytes([at_aws[0][42], at_aws[0][43]]);
        assert_eq!(mss, 1380, "tunnel MTU 1420 - 40");
    }

    #[test]
    fn traffic_moves_to_the_backup_when_the_primary_dies_and_back_when_it_returns() {
        let mut lab = lab("");
        let dst = Ipv4Addr::new(10, 0, 10, 10);
        // nothing heard from anyone yet: the best route, to wake it up
        assert_eq!(lab.office.route_for(dst, lab.now), Some(0));
        lab.office_sends(&ping([192, 168, 10, 10], [10, 0, 10, 10], 8));
        assert_eq!(lab.office.route_for(dst, lab.now), Some(0));
        // the primary falls silent for longer than dead_after (3 s) while
        // the backup is heard from
        let later = lab.now + Duration::from_secs(4);
        lab.office.peers[1].last_rx = Some(later);
        assert!(!lab.office.is_alive(0, later));
        assert_eq!(lab.office.route_for(dst, later), Some(1));
        // the primary speaks again
        lab.office.peers[0].last_rx = Some(later);
        assert_eq!(lab.office.route_for(dst, later), Some(0));
        let _ = &lab.keys;
    }

    #[test]
    fn the_timers_knock_on_silent_peers_doors_and_routes_fail_over_and_back() {
        let mut lab = lab("");
        let dst = Ipv4Addr::new(10, 0, 10, 10);
        let ping_out = ping([192, 168, 10, 10], [10, 0, 10, 10], 8);
        // t0: a ping brings the primary's tunnel up
        let (_, at_aws) = lab.office_sends(&ping_out);
        assert_eq!(at_aws.len(), 1);
        // t0 + 2 s, the primary's link down: the timers knock on the door
        // of the backup, never heard from (dead), which answers; the
        // primary, heard 2 s ago, keeps the routes
        lab.down.push(addr(AWS));
        lab.advance(Duration::from_secs(2));
        lab.office_timers();
        assert!(lab.office.is_alive(0, lab.now));
        assert!(lab.office.is_alive(1, lab.now));
        assert_eq!(lab.office.route_for(dst, lab.now), Some(0));
        // t0 + 4 s: the primary has been silent for more than dead_after
        // (3 s): the timers send it a handshake initiation (lost), and the
        // backup takes its routes
        lab.advance(Duration::from_secs(2));
        let mut out = Collect::default();
        let now = lab.now;
        lab.office.handle_timeout(now, &mut out);
        let initiations: Vec<SocketAddr> = out
            .udp
            .iter()
            .filter(|(_, d)| d.first() == Some(&1))
            .map(|(to, _)| *to)
            .collect();
        assert_eq!(initiations, [addr(AWS)]);
        assert_eq!(lab.office.poll_timeout(), now + TICK);
        lab.deliver(addr(OFFICE), out);
        assert!(!lab.office.is_alive(0, lab.now));
        assert!(lab.office.is_alive(1, lab.now));
        assert_eq!(lab.office.route_for(dst, lab.now), Some(1));
        let status = lab.office.status(lab.now);
        assert_eq!(status.peers[0].routes_in_use, Vec::<String>::new());
        assert_eq!(status.peers[1].routes_in_use, ["10.0.0.0/16"]);
        // the same in the route list: the backup's route in use, the
        // primary's not
        let in_use: Vec<(&str, &str, bool)> = status
            .routes
            .iter()
            .map(|r| (r.peer.as_str(), r.source.as_str(), r.in_use))
            .collect();
        assert_eq!(
            in_use,
            [("aws", "static", false), ("backup", "static", true)]
        );
        // before the next tick the timers do nothing, however much is due
        let mut early = Collect::default();
        lab.office.handle_timeout(now + TICK / 2, &mut early);
        assert!(early.udp.is_empty());
        // traffic goes to the backup now
        let mut out = Collect::default();
        lab.office.handle_tun(now, &mut ping_out.clone(), &mut out);
        assert_eq!(out.udp.len(), 1);
        assert_eq!(out.udp[0].0, addr(BACKUP));
        let tuns = lab.deliver(addr(OFFICE), out);
        assert_eq!(tuns.backup, vec![ping_out.clone()]);
        // the primary's link comes back and it speaks (on its session,
        // which never ended): its routes return to it
        lab.down.clear();
        lab.advance(Duration::from_secs(1));
        let (at_office, _) = lab.aws_sends(&ping([10, 0, 10, 10], [192, 168, 10, 10], 0));
        assert_eq!(at_office.len(), 1);
        assert!(lab.office.is_alive(0, lab.now));
        assert_eq!(lab.office.route_for(dst, lab.now), Some(0));
        let (_, at_aws) = lab.office_sends(&ping_out);
        assert_eq!(at_aws, vec![ping_out]);
    }

    #[test]
    fn the_timers_expire_tracked_flows_on_the_injected_clock() {
        let mut lab = lab(EDGE);
        lab.office_sends(&office_syn());
        assert_eq!(lab.office.status(lab.now).conntrack_flows, 1);
        // a minute later the half-open flow is still tracked ...
        lab.advance(Duration::from_secs(60));
        lab.office_timers();
        assert_eq!(lab.office.status(lab.now).conntrack_flows, 1);
        // ... five days later it is long gone, in no time at all
        lab.advance(Duration::from_secs(5 * 24 * 3600));
        lab.office_timers();
        assert_eq!(lab.office.status(lab.now).conntrack_flows, 0);
    }

    /// SYNs from office port 40000 up, to a VPC host, one at a time.
    fn office_syns(lab: &mut Lab, count: u16) -> usize {
        (0..count)
            .map(|n| {
                let syn = tcp(
                    [192, 168, 10, 10],
                    [10, 0, 10, 10],
                    40000 + n,
                    443,
                    tcp_flags::SYN,
                );
                lab.office_sends(&syn).1.len()
            })
            .sum()
    }

    #[test]
    fn a_full_table_evicts_half_open_flows_unless_told_to_refuse() {
        let mut evicting = lab(&format!("{EDGE}[conntrack]\nmax_flows = 2\n"));
        assert_eq!(office_syns(&mut evicting, 5), 5, "every SYN passes");
        let status = evicting.office.status(evicting.now);
        assert_eq!(status.conntrack_flows, 2);
        assert_eq!(status.drops.router.conntrack_early_drop, 3);
        assert_eq!(status.drops.router.conntrack_full, 0);
        assert_eq!(evicting.office.drops().conntrack_early_drop, 3);
        let json = serde_json::to_value(&status).unwrap();
        assert_eq!(json["drops"]["conntrack_early_drop"], 3);

        let mut refusing = lab(&format!(
            "{EDGE}[conntrack]\nmax_flows = 2\nwhen_full = \"refuse\"\n"
        ));
        assert_eq!(office_syns(&mut refusing, 5), 2, "the table's two");
        let drops = refusing.office.status(refusing.now).drops.router;
        assert_eq!((drops.conntrack_full, drops.conntrack_early_drop), (3, 0));
    }

    #[test]
    fn a_refused_reload_changes_nothing() {
        let mut lab = lab("");
        lab.office_sends(&ping([192, 168, 10, 10], [10, 0, 10, 10], 8));
        let new = config(&format!(
            "[interface]\nname = \"vg0\"\nprivate_key_file = \"k\"\n[[peer]]\nname = \"aws\"\npublic_key = \"{}\"\nallowed_ips = [\"10.0.0.0/16\"]\npreshared_key_file = \"/nonexistent/psk\"\n",
            lab.keys[1].public_key()
        ));
        assert!(lab.office.reload(&new).is_err());
        assert_eq!(lab.office.peers().len(), 2, "the old peers stay");
        let (_, at_aws) = lab.office_sends(&ping([192, 168, 10, 10], [10, 0, 10, 10], 8));
        assert_eq!(at_aws.len(), 1, "and keep working");
    }

    #[test]
    fn reload_keeps_sessions_and_tracked_flows() {
        let mut lab = lab(EDGE);
        lab.office_sends(&office_syn());
        assert_eq!(lab.office.status(lab.now).conntrack_flows, 1);
        let cfg = lab.office.policy.config.clone();
        let mut new = config(&format!(
            "[interface]\nname = \"vg0\"\nprivate_key_file = \"k\"\n[[peer]]\nname = \"aws\"\npublic_key = \"{}\"\nendpoint = \"{AWS}\"\nallowed_ips = [\"10.0.0.0/16\"]\n[[route]]\nprefix = \"10.0.0.0/16\"\npeer = \"aws\"\n",
            lab.keys[1].public_key()
        ));
        new.policy = cfg;
        lab.office.reload(&new).unwrap();
        assert_eq!(
            lab.office.status(lab.now).conntrack_flows,
            1,
            "tracked flows survive"
        );
        // the session survives: data goes out at once, no new handshake
        let mut out = Collect::default();
        lab.office.handle_tun(
            lab.now,
            &mut ping([192, 168, 10, 10], [10, 0, 10, 10], 8),
            &mut out,
        );
        assert_eq!(out.udp.len(), 1);
        assert_eq!(
            out.udp[0].1[0], 4,
            "a data packet (type 4), not a handshake initiation (type 1)"
        );
    }
}
