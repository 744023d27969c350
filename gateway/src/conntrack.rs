//! Connection tracking: what makes security groups stateful.
//!
//! A flow admitted by the rules is [`ConnTrack::insert`]ed; afterwards
//! [`ConnTrack::lookup`] recognises its packets in both directions, so that
//! replies pass whatever the rules of the other direction say, as AWS does.
//! An ICMP query (echo, timestamp, information, address mask) is a flow
//! of its own, keyed by its identifier: only the matching reply type passes
//! as its reply. ICMP errors are no flow and are never "related" to one: as
//! on AWS, where a security group blocks Path MTU Discovery unless a rule
//! allows ICMP type 3 code 4, the rules decide every error (see
//! `docs/gateway.md`, "ICMP errors").
//!
//! Timeouts follow AWS ([`Timeouts::default`]): TCP established 5 days,
//! UDP 30 s (180 s once seen both ways), other protocols and ICMP 600 s, plus
//! short timeouts for TCP handshakes (120 s) and closed connections (10 s).
//!
//! # Layout
//!
//! Sans-IO and allocation-free after [`ConnTrack::new`]:
//!
//! - the flows live in a dense array (`Vec<Flow>`, 32 bytes each, preallocated
//!   to the capacity); removal moves the last flow into the hole;
//! - an open-addressing index (linear probing, 8-byte slots holding a 32-bit
//!   hash and the flow's position, load factor at most 2/3) finds them.
//!   Deletion shifts the following slots back instead of leaving tombstones,
//!   so the index never needs rehashing or growing;
//! - the hash is a seeded folded multiply (two 64×64→128-bit products); the
//!   seed comes from the standard library's per-process random keys, so that
//!   nobody outside can aim packets at one probe chain;
//! - times are whole seconds since the first `now` seen, as `u32`. A flow is
//!   removed when more than its timeout has passed (in whole seconds) since
//!   its last packet: never before its timeout, at most one second after;
//! - [`ConnTrack::expire`] sweeps the array a bounded batch at a time, and
//!   keeps a lower bound of all deadlines so that it does no work at all
//!   until something can have expired ([`ConnTrack::next_expiry`]).
//!
//! - the evictable flows (see [`WhenFull::EarlyDrop`]) are also on a
//!   doubly linked list per opener (`shares.rs`) through a parallel array
//!   of links (8 bytes a flow), least recently seen first, so that a full
//!   table finds the one to evict in O(openers).
//!
//! 52 to 64 bytes per flow in all ([`ConnTrack::approx_bytes_per_flow`]).
//!
//! # When the table is full
//!
//! Expired flows are swept out first. If it is still full, the default
//! policy, [`WhenFull::EarlyDrop`], evicts the least recently seen
//! evictable flow of the new flow's side (else of anyone): a half-open TCP
//! flow (a handshake not completed, a connection picked up mid-stream and
//! not yet answered, or one already closed), or any UDP, ICMP or other
//! flow, as Linux's conntrack `early_drop` evicts unassured entries: a SYN
//! or echo flood then recycles its own entries and new legitimate
//! connections still get in. Established TCP connections are never
//! evicted; when nothing is evictable, the new flow is refused
//! ([`Refused::Full`]). [`WhenFull::Refuse`] always refuses (the behaviour
//! before early drop).
//!
//! Before the capacity, each opener's share ([`Limits`], `shares.rs`):
//! the LAN, the tunnel as a whole and each peer hold at most their limit
//! of flows, so that a flood from the tunnel cannot starve the flows the
//! office opens.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::BuildHasher;
use std::mem::size_of;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use topology::traffic::{proto, L4};

use crate::packet::{tcp_flags, Ipv4Meta};

mod shares;
use shares::Owner;
pub use shares::{LimitDrops, Limits, Opener, Refused};

/// Where a packet comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The office network (the TUN device).
    Lan,
    /// The WireGuard tunnel (the VPC side).
    Tunnel,
}

impl Side {
    /// The other side.
    pub fn other(self) -> Side {
        match self {
            Side::Lan => Side::Tunnel,
            Side::Tunnel => Side::Lan,
        }
    }
}

/// Idle timeouts: how long a flow lives after its last packet.
///
/// Durations are rounded up to whole seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// An established TCP connection (AWS: 432000 s, configurable 60-432000).
    pub tcp_established: Duration,
    /// A TCP connection being opened (SYN sent or received) or closed (one
    /// FIN seen), or picked up in the middle and not yet seen both ways.
    pub tcp_transitory: Duration,
    /// A TCP connection after a RST or FINs from both ends.
    pub tcp_closed: Duration,
    /// A UDP flow seen in one direction only.
    pub udp: Duration,
    /// A UDP flow seen in both directions (a "stream").
    pub udp_stream: Duration,
    /// Every other protocol, ICMP included.
    pub other: Duration,
}

impl Timeouts {
    /// The shortest established-TCP timeout AWS accepts.
    pub const TCP_ESTABLISHED_MIN: Duration = Duration::from_secs(60);
    /// The longest (and default) established-TCP timeout AWS accepts.
    pub const TCP_ESTABLISHED_MAX: Duration = Duration::from_secs(432_000);
}

impl Default for Timeouts {
    /// The AWS values.
    fn default() -> Self {
        Timeouts {
            tcp_established: Timeouts::TCP_ESTABLISHED_MAX,
            tcp_transitory: Duration::from_secs(120),
            tcp_closed: Duration::from_secs(10),
            udp: Duration::from_secs(30),
            udp_stream: Duration::from_secs(180),
            other: Duration::from_secs(600),
        }
    }
}

/// What the table knows about a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A packet of a tracked flow, in the direction of its first packet.
    Original,
    /// A packet of a tracked flow, in the reply direction.
    Reply,
    /// Not part of a live tracked flow: the rules decide.
    New,
}

/// The table is full of live flows; the new flow was not tracked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("connection tracking table full")]
pub struct Full;

/// The state of a tracked flow, for observation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowState {
    /// TCP: the initiator's SYN was seen.
    TcpSynSent,
    /// TCP: the SYN-ACK was seen.
    TcpSynReceived,
    /// TCP: picked up after its handshake, not yet seen both ways.
    TcpUnconfirmed,
    /// TCP: handshake complete, or seen both ways.
    TcpEstablished,
    /// TCP: a FIN from one end.
    TcpClosing,
    /// TCP: a RST, or FINs from both ends.
    TcpClosed,
    /// Not TCP: seen in the original direction only.
    OneWay,
    /// Not TCP: seen in both directions.
    BothWays,
}

/// A tracked flow, as [`ConnTrack::flow`] reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowInfo {
    /// The side its first packet came from.
    pub initiator: Side,
    /// Its state.
    pub state: FlowState,
    /// Packets seen in the original direction (wrapping).
    pub packets_original: u32,
    /// Packets seen in the reply direction (wrapping).
    pub packets_reply: u32,
    /// The idle timeout of its current state.
    pub timeout: Duration,
}

/// What [`ConnTrack::insert`] does when the table is full of live flows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum WhenFull {
    /// Evict the least recently seen half-open TCP flow (SYN sent, SYN-ACK
    /// seen, picked up mid-stream and unanswered, or closed) to make room;
    /// refuse the new flow only when there is none. Counted in
    /// [`ConnTrack::early_drops`].
    #[default]
    EarlyDrop,
    /// Refuse the new flow; no live flow is ever evicted.
    Refuse,
}

impl WhenFull {
    /// The name in the configuration file (`[conntrack] when_full`).
    pub fn as_str(self) -> &'static str {
        match self {
            WhenFull::EarlyDrop => "early_drop",
            WhenFull::Refuse => "refuse",
        }
    }

    /// The policy of a configuration-file name.
    pub fn from_name(name: &str) -> Option<WhenFull> {
        match name {
            "early_drop" => Some(WhenFull::EarlyDrop),
            "refuse" => Some(WhenFull::Refuse),
            _ => None,
        }
    }
}

/// The largest capacity (flows) a table can have.
pub const MAX_CAPACITY: usize = 1 << 30;

/// How many flows one [`ConnTrack::expire`] call looks at, at most.
pub const EXPIRE_BATCH: usize = 4096;

/// The table of tracked flows. See the [module documentation](self).
pub struct ConnTrack {
    /// The flows, densely packed; `flows.len() <= capacity`.
    flows: Vec<Flow>,
    /// The eviction lists' links, one per flow (`links.len() ==
    /// flows.len()`); meaningful for the evictable flows only.
    links: Vec<Link>,
    /// Each opener's flows and eviction list (`shares.rs`): 0 the LAN, 1
    /// the untold tunnel peer, 2 + n peer n.
    owners: Vec<Owner>,
    /// The most flows each opener and side may hold.
    limits: Limits,
    /// New flows refused at a limit.
    limit_drops: LimitDrops,
    /// What to do when full.
    when_full: WhenFull,
    /// The index: a power-of-two number of slots, more than `capacity`, so
    /// that every probe sequence meets an empty slot.
    slots: Box<[Slot]>,
    /// `slots.len() - 1`.
    mask: usize,
    /// Most flows tracked at once.
    capacity: usize,
    /// Hash seeds.
    seeds: [u64; 3],
    /// The timeouts as configured.
    timeouts: Timeouts,
    /// The same, in whole seconds.
    secs: TimeoutSecs,
    /// Time zero of the `u32` second counts (the first `now` seen).
    base: Option<Instant>,
    /// A lower bound of all flows' deadlines: nothing has expired while
    /// `now <= due`. `u32::MAX` when the table is empty.
    due: u32,
    /// Whether a sweep is in progress.
    sweeping: bool,
    /// The smallest deadline seen by the sweep in progress.
    pass_min: u32,
    /// The next flow the sweep looks at.
    cursor: usize,
    /// New flows refused because the table was full.
    drops_full: u64,
    /// Half-open flows evicted to make room for a new one.
    early_drops: u64,
}

impl fmt::Debug for ConnTrack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnTrack")
            .field("len", &self.flows.len())
            .field("capacity", &self.capacity)
            .field("timeouts", &self.timeouts)
            .field("when_full", &self.when_full)
            .field("drops_full", &self.drops_full)
            .field("early_drops", &self.early_drops)
            .finish_non_exhaustive()
    }
}

impl ConnTrack {
    /// A table for at most `capacity` flows (clamped to [`MAX_CAPACITY`]),
    /// all its memory allocated now.
    pub fn new(capacity: usize, timeouts: Timeouts) -> Self {
        let capacity = capacity.min(MAX_CAPACITY);
        let slots = (capacity + capacity / 2).max(8).next_power_of_two();
        let random = RandomState::new();
        ConnTrack {
            flows: Vec::with_capacity(capacity),
            links: Vec::with_capacity(capacity),
            owners: vec![Owner::EMPTY; 2],
            limits: Limits::none(capacity),
            limit_drops: LimitDrops::default(),
            when_full: WhenFull::default(),
            slots: vec![Slot::EMPTY; slots].into_boxed_slice(),
            mask: slots - 1,
            capacity,
            seeds: [1u64, 2, 3].map(|i| random.hash_one(i) | 1),
            timeouts,
            secs: TimeoutSecs::new(&timeouts),
            base: None,
            due: u32::MAX,
            sweeping: false,
            pass_min: u32::MAX,
            cursor: 0,
            drops_full: 0,
            early_drops: 0,
        }
    }

    /// Sets what [`Self::insert`] does when the table is full (default
    /// [`WhenFull::EarlyDrop`]). Takes effect at the next insertion.
    pub fn set_when_full(&mut self, when_full: WhenFull) {
        self.when_full = when_full;
    }

    /// What [`Self::insert`] does when the table is full.
    pub fn when_full(&self) -> WhenFull {
        self.when_full
    }

    /// Finds the live flow of a packet coming from `side`: `Original` or
    /// `Reply` when the packet belongs to it (and then updates the flow's
    /// state, last-seen time and packet counters), `New` otherwise.
    ///
    /// Also `New`: an expired flow (removed on the way), a packet whose
    /// addresses belong to a flow but which comes from the wrong side
    /// (spoofed, or hairpinned), a SYN reopening a closed TCP connection (the
    /// old flow is removed; the rules decide on the new one), a non-first
    /// fragment (it has no ports), ICMP that is no query or reply (errors
    /// included).
    pub fn lookup(&mut self, now: Instant, side: Side, meta: &Ipv4Meta) -> Verdict {
        let Some((key, from_a)) = packet_flow(meta) else {
            return Verdict::New;
        };
        let now = self.seconds(now);
        let tag = self.hash(&key);
        let Some((pos, index)) = self.find(&key, tag) else {
            return Verdict::New;
        };
        let secs = self.secs;
        let flow = &mut self.flows[index];
        let was_evictable = flow.evictable();
        let reopening = flow.tcp == Some(TcpPhase::Closed)
            && meta.tcp_flags & (tcp_flags::SYN | tcp_flags::ACK | tcp_flags::RST)
                == tcp_flags::SYN;
        if flow.expired(now, &secs) || reopening {
            self.remove(pos, index);
            return Verdict::New;
        }
        let original = flow.is_original(from_a);
        let expected = if original {
            flow.initiator()
        } else {
            flow.initiator().other()
        };
        if side != expected {
            return Verdict::New;
        }
        flow.on_packet(now, original, meta.tcp_flags);
        let deadline = flow.deadline(&secs);
        let evictable = flow.evictable();
        self.note_deadline(deadline);
        if was_evictable {
            self.unlink(index);
        }
        if evictable {
            self.push_back(index);
        }
        if original {
            Verdict::Original
        } else {
            Verdict::Reply
        }
    }

    /// Tracks a new flow from `side`, as [`Self::open`] with the side's
    /// opener (a tunnel flow counts for no particular peer); any refusal
    /// is `Full`.
    pub fn insert(&mut self, now: Instant, side: Side, meta: &Ipv4Meta) -> Result<(), Full> {
        let opener = match side {
            Side::Lan => Opener::Lan,
            Side::Tunnel => Opener::Tunnel,
        };
        self.open(now, opener, meta).map_err(|_| Full)
    }

    /// Tracks a new flow, admitted by the rules, from its first packet.
    ///
    /// First the opener's limits ([`Limits`]): when the opener, or the
    /// tunnel as a whole, holds its limit, expired flows are removed; then
    /// [`WhenFull::EarlyDrop`] evicts the least recently seen evictable
    /// flow of that opener (of the tunnel's peers, at the tunnel's limit);
    /// with none, the flow is refused ([`Refused::LanLimit`],
    /// [`Refused::TunnelLimit`], [`Refused::PeerLimit`], counted in
    /// [`Self::limit_drops`]). Then the capacity: when the table is full,
    /// expired flows are removed, and early drop evicts the least recently
    /// seen evictable flow of the new flow's side, else of anyone; with none, or under
    /// [`WhenFull::Refuse`], [`Refused::Full`] (counted in
    /// [`Self::drops_full`]). Evictable: a half-open TCP flow, and every
    /// UDP, ICMP or other flow; established TCP connections never are.
    /// Evictions are counted in [`Self::early_drops`].
    ///
    /// Returns `Ok(())` without tracking anything for packets that cannot
    /// open a flow (non-first fragment, ICMP that is no query, a query's
    /// reply, TCP RST) and when the flow is already tracked (it is left as
    /// it is).
    pub fn open(&mut self, now: Instant, opener: Opener, meta: &Ipv4Meta) -> Result<(), Refused> {
        let side = opener.side();
        let Some((key, from_a)) = packet_flow(meta) else {
            return Ok(());
        };
        if key.query != 0 && !from_a {
            // a reply opens nothing
            return Ok(());
        }
        let tcp = if key.proto == proto::TCP {
            match TcpPhase::first(meta.tcp_flags) {
                Some(phase) => Some(phase),
                None => return Ok(()),
            }
        } else {
            None
        };
        let now = self.seconds(now);
        let tag = self.hash(&key);
        if let Some((pos, index)) = self.find(&key, tag) {
            if !self.flows[index].expired(now, &self.secs) {
                return Ok(());
            }
            self.remove(pos, index);
        }
        let owner = self.owner_slot(opener);
        self.room_within_limits(now, owner)?;
        if self.flows.len() >= self.capacity {
            self.evict_expired(now);
            if self.flows.len() >= self.capacity && !self.early_drop(owner) {
                self.drops_full += 1;
                return Err(Refused::Full);
            }
        }
        let mut flags = 0;
        if side == Side::Tunnel {
            flags |= INIT_TUNNEL;
        }
        if !from_a {
            flags |= INIT_FROM_B;
        }
        if tcp.is_some() && meta.tcp_flags & tcp_flags::FIN != 0 {
            flags |= FIN_ORIGINAL;
        }
        let flow = Flow {
            key,
            last_seen: now,
            packets: [1, 0],
            tcp,
            flags,
            owner,
        };
        let index = self.flows.len();
        self.flows.push(flow);
        self.links.push(Link::UNLINKED);
        self.insert_slot(tag, index);
        self.owners[usize::from(owner)].flows += 1;
        self.note_deadline(flow.deadline(&self.secs));
        if flow.evictable() {
            self.push_back(index);
        }
        Ok(())
    }

    /// Removes timed-out flows, looking at no more than [`EXPIRE_BATCH`]
    /// flows per call, and returns how many were removed. Does nothing until
    /// [`Self::next_expiry`]; call again at once while it is not later than
    /// `now` (a sweep of a large table takes several calls).
    pub fn expire(&mut self, now: Instant) -> usize {
        let now = self.seconds(now);
        if now <= self.due {
            return 0;
        }
        self.sweep(now, EXPIRE_BATCH)
    }

    /// When [`Self::expire`] next has work: no flow expires before this
    /// (though none may expire then either). `None` when the table is empty.
    pub fn next_expiry(&self) -> Option<Instant> {
        if self.flows.is_empty() {
            return None;
        }
        let base = self.base?;
        base.checked_add(Duration::from_secs(u64::from(self.due) + 1))
    }

    /// The live information of the flow a packet belongs to, if tracked.
    pub fn flow(&self, now: Instant, meta: &Ipv4Meta) -> Option<FlowInfo> {
        let (key, _) = packet_flow(meta)?;
        let now = seconds_since(self.base?, now);
        let (_, index) = self.find(&key, self.hash(&key))?;
        let flow = &self.flows[index];
        if flow.expired(now, &self.secs) {
            return None;
        }
        let fins = flow.flags & (FIN_ORIGINAL | FIN_REPLY) != 0;
        let state = match flow.tcp {
            Some(TcpPhase::SynSent) => FlowState::TcpSynSent,
            Some(TcpPhase::SynReceived) => FlowState::TcpSynReceived,
            Some(TcpPhase::Closed) => FlowState::TcpClosed,
            Some(_) if fins => FlowState::TcpClosing,
            Some(TcpPhase::Unconfirmed) => FlowState::TcpUnconfirmed,
            Some(TcpPhase::Established) => FlowState::TcpEstablished,
            None if flow.flags & SEEN_REPLY != 0 => FlowState::BothWays,
            None => FlowState::OneWay,
        };
        Some(FlowInfo {
            initiator: flow.initiator(),
            state,
            packets_original: flow.packets[0],
            packets_reply: flow.packets[1],
            timeout: Duration::from_secs(u64::from(self.secs.get(flow.class()))),
        })
    }

    /// The number of flows tracked (expired ones included until removed).
    pub fn len(&self) -> usize {
        self.flows.len()
    }

    /// Whether no flow is tracked.
    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }

    /// The most flows tracked at once.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// New flows refused because the table was full.
    pub fn drops_full(&self) -> u64 {
        self.drops_full
    }

    /// Evictable flows (half-open TCP, UDP, ICMP, other) evicted to make
    /// room for new ones ([`WhenFull::EarlyDrop`]).
    pub fn early_drops(&self) -> u64 {
        self.early_drops
    }

    /// The timeouts in use.
    pub fn timeouts(&self) -> &Timeouts {
        &self.timeouts
    }

    /// Replaces the timeouts (configuration reload). Tracked flows stay; the
    /// new values apply to them at once, measured from their last packet.
    pub fn set_timeouts(&mut self, timeouts: Timeouts) {
        self.timeouts = timeouts;
        self.secs = TimeoutSecs::new(&timeouts);
        // Deadlines may have moved earlier: start a fresh sweep.
        self.due = 0;
        self.sweeping = false;
        self.cursor = 0;
    }

    /// All the memory the table holds, in bytes (allocated by [`Self::new`]).
    pub fn memory_bytes(&self) -> usize {
        size_of::<Self>()
            + self.slots.len() * size_of::<Slot>()
            + self.flows.capacity() * size_of::<Flow>()
            + self.links.capacity() * size_of::<Link>()
    }

    /// Memory per flow when the table is full: [`Self::memory_bytes`]
    /// divided by the capacity, rounded up. The flow record is 32 bytes, its
    /// link on the half-open list 8, and the index adds 8 bytes per slot at
    /// a load factor between 1/3 and 2/3.
    pub fn approx_bytes_per_flow(&self) -> usize {
        self.memory_bytes().div_ceil(self.capacity.max(1))
    }

    /// Whole seconds since the base time, which the first call sets.
    fn seconds(&mut self, now: Instant) -> u32 {
        seconds_since(*self.base.get_or_insert(now), now)
    }

    /// Records a flow's new deadline in the lower bounds.
    fn note_deadline(&mut self, deadline: u32) {
        self.due = self.due.min(deadline);
        if self.sweeping {
            self.pass_min = self.pass_min.min(deadline);
        }
    }

    /// A full sweep, when something can have expired.
    fn evict_expired(&mut self, now: u32) -> usize {
        if now <= self.due {
            return 0;
        }
        self.sweeping = false;
        self.cursor = 0;
        self.sweep(now, usize::MAX)
    }

    /// Looks at up to `budget` flows from the cursor on, removing the
    /// expired ones. At the end of the array the pass is complete and its
    /// smallest deadline becomes the new lower bound.
    fn sweep(&mut self, now: u32, mut budget: usize) -> usize {
        if !self.sweeping {
            self.sweeping = true;
            self.pass_min = u32::MAX;
            self.cursor = 0;
        }
        let mut removed = 0;
        loop {
            if self.cursor >= self.flows.len() {
                self.due = self.pass_min;
                self.sweeping = false;
                self.cursor = 0;
                return removed;
            }
            if budget == 0 {
                return removed;
            }
            budget -= 1;
            let flow = &self.flows[self.cursor];
            let deadline = flow.deadline(&self.secs);
            if now > deadline {
                let pos = self.slot_of(self.hash(&flow.key), self.cursor);
                // The last flow moves to the cursor: look at it next.
                self.remove(pos, self.cursor);
                removed += 1;
            } else {
                self.pass_min = self.pass_min.min(deadline);
                self.cursor += 1;
            }
        }
    }

    /// The 32-bit hash of a key: the index slot's tag and home position.
    fn hash(&self, key: &FlowKey) -> u32 {
        let addrs = (u64::from(key.a_addr) << 32) | u64::from(key.b_addr);
        let rest = (u64::from(key.a_port) << 48)
            | (u64::from(key.b_port) << 32)
            | (u64::from(key.proto) << 8)
            | u64::from(key.query);
        let h = fold_mul(addrs ^ self.seeds[0], rest ^ self.seeds[1]);
        let h = fold_mul(h, self.seeds[2]);
        (h ^ (h >> 32)) as u32
    }

    /// The slot position and flow index of a key.
    fn find(&self, key: &FlowKey, tag: u32) -> Option<(usize, usize)> {
        let mut pos = tag as usize & self.mask;
        loop {
            let slot = self.slots[pos];
            if slot.is_empty() {
                return None;
            }
            let index = slot.index as usize;
            if slot.tag == tag && self.flows[index].key == *key {
                return Some((pos, index));
            }
            pos = (pos + 1) & self.mask;
        }
    }

    /// The slot position of the flow at `index`, whose hash is `tag`.
    fn slot_of(&self, tag: u32, index: usize) -> usize {
        let mut pos = tag as usize & self.mask;
        while self.slots[pos].index as usize != index {
            pos = (pos + 1) & self.mask;
        }
        pos
    }

    /// Puts a flow in the index.
    fn insert_slot(&mut self, tag: u32, index: usize) {
        let mut pos = tag as usize & self.mask;
        while !self.slots[pos].is_empty() {
            pos = (pos + 1) & self.mask;
        }
        self.slots[pos] = Slot {
            tag,
            index: index as u32,
        };
    }

    /// Removes the flow at `index`, whose slot is at `pos`.
    fn remove(&mut self, pos: usize, index: usize) {
        // Backward-shift deletion: pull the following slots of the probe run
        // into the hole when that does not put them before their home.
        let mask = self.mask;
        let mut hole = pos;
        let mut next = (pos + 1) & mask;
        loop {
            let slot = self.slots[next];
            if slot.is_empty() {
                break;
            }
            let home = slot.tag as usize & mask;
            if next.wrapping_sub(home) & mask >= next.wrapping_sub(hole) & mask {
                self.slots[hole] = slot;
                hole = next;
            }
            next = (next + 1) & mask;
        }
        self.slots[hole] = Slot::EMPTY;
        if self.flows[index].evictable() {
            self.unlink(index);
        }
        self.owners[usize::from(self.flows[index].owner)].flows -= 1;

        // Fill the hole in the array with the last flow.
        let last = self.flows.len() - 1;
        if index != last {
            let moved = self.flows[last];
            let pos = self.slot_of(self.hash(&moved.key), last);
            self.slots[pos].index = index as u32;
            if index < self.cursor {
                // Moved behind the sweep: it will not be looked at this pass.
                self.pass_min = self.pass_min.min(moved.deadline(&self.secs));
            }
            if moved.evictable() {
                self.relink(last, index);
            }
        }
        self.flows.swap_remove(index);
        self.links.swap_remove(index);
    }

    /// Checks the table's invariants (tests).
    #[cfg(test)]
    fn check(&self) {
        assert!(self.flows.len() <= self.capacity);
        assert!(self.slots.len() > self.capacity);
        let used = self.slots.iter().filter(|s| !s.is_empty()).count();
        assert_eq!(used, self.flows.len());
        for (i, flow) in self.flows.iter().enumerate() {
            let tag = self.hash(&flow.key);
            assert_eq!(self.find(&flow.key, tag), Some((self.slot_of(tag, i), i)));
            assert!(
                flow.deadline(&self.secs) >= self.due,
                "due is a lower bound"
            );
        }
        // The owners' lists hold exactly the evictable flows, each once on
        // its owner's list, links consistent both ways, least recently
        // seen first; the owners' counts are their flows.
        assert_eq!(self.links.len(), self.flows.len());
        let mut seen = vec![false; self.flows.len()];
        for (o, owner) in self.owners.iter().enumerate() {
            let (mut prev, mut at) = (NIL, owner.head);
            while at != NIL {
                let i = at as usize;
                assert!(!seen[i], "a cycle in an eviction list");
                seen[i] = true;
                assert!(self.flows[i].evictable());
                assert_eq!(usize::from(self.flows[i].owner), o);
                assert_eq!(self.links[i].prev, prev);
                (prev, at) = (at, self.links[i].next);
            }
            assert_eq!(owner.tail, prev);
            let held = self
                .flows
                .iter()
                .filter(|f| usize::from(f.owner) == o)
                .count();
            assert_eq!(owner.flows, held, "owner {o}'s count");
        }
        let tunnel = self.flows.iter().filter(|f| f.owner != shares::LAN).count();
        assert_eq!(self.tunnel_flows(), tunnel);
        for (i, flow) in self.flows.iter().enumerate() {
            assert_eq!(seen[i], flow.evictable(), "flow {i} on a list");
        }
    }

    /// The half-open TCP flows, least recently seen first (tests).
    #[cfg(test)]
    fn half_open_order(&self) -> Vec<FlowKey> {
        let mut flows = Vec::new();
        for owner in &self.owners {
            let mut at = owner.head;
            while at != NIL {
                let flow = &self.flows[at as usize];
                if flow.tcp.is_some() {
                    flows.push((flow.last_seen, flow.key));
                }
                at = self.links[at as usize].next;
            }
        }
        flows.sort_by_key(|&(seen, _)| seen);
        flows.into_iter().map(|(_, key)| key).collect()
    }
}

/// Flow flags.
const INIT_TUNNEL: u8 = 1;
/// The initiator is end `b` of the key.
const INIT_FROM_B: u8 = 1 << 1;
/// A packet was seen in the reply direction.
const SEEN_REPLY: u8 = 1 << 2;
/// TCP: FIN seen in the original direction.
const FIN_ORIGINAL: u8 = 1 << 3;
/// TCP: FIN seen in the reply direction.
const FIN_REPLY: u8 = 1 << 4;

/// A flow's identity: its protocol and two ends. For TCP, UDP and other
/// protocols `a` is the smaller (address, port) end; for an ICMP query
/// (echo, timestamp, information, address mask) `a` is the end sending
/// requests, the ports are the query's identifier and `query` is the
/// request's type (0 for every other flow).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FlowKey {
    a_addr: u32,
    b_addr: u32,
    a_port: u16,
    b_port: u16,
    proto: u8,
    query: u8,
}

impl FlowKey {
    /// The key of a packet from `src` to `dst`, and whether `src` is end `a`.
    fn between(proto: u8, src: (u32, u16), dst: (u32, u16)) -> (FlowKey, bool) {
        let from_a = src <= dst;
        let (a, b) = if from_a { (src, dst) } else { (dst, src) };
        let key = FlowKey {
            a_addr: a.0,
            b_addr: b.0,
            a_port: a.1,
            b_port: b.1,
            proto,
            query: 0,
        };
        (key, from_a)
    }
}

/// The TCP states the table distinguishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TcpPhase {
    SynSent,
    SynReceived,
    Unconfirmed,
    Established,
    Closed,
}

impl TcpPhase {
    /// The state after a flow's first packet; `None` for a RST.
    fn first(flags: u8) -> Option<TcpPhase> {
        if flags & tcp_flags::RST != 0 {
            None
        } else if flags & (tcp_flags::SYN | tcp_flags::ACK) == tcp_flags::SYN {
            Some(TcpPhase::SynSent)
        } else {
            Some(TcpPhase::Unconfirmed)
        }
    }

    /// The state after a packet (FINs are handled apart).
    fn next(self, original: bool, flags: u8) -> TcpPhase {
        let syn = flags & tcp_flags::SYN != 0;
        let ack = flags & tcp_flags::ACK != 0;
        if flags & tcp_flags::RST != 0 {
            return TcpPhase::Closed;
        }
        match self {
            TcpPhase::SynSent if !original && syn && ack => TcpPhase::SynReceived,
            TcpPhase::SynReceived if original && ack && !syn => TcpPhase::Established,
            TcpPhase::Unconfirmed if !original && !syn => TcpPhase::Established,
            phase => phase,
        }
    }
}

/// A tracked flow: 32 bytes.
#[derive(Debug, Clone, Copy)]
struct Flow {
    key: FlowKey,
    /// Seconds since the base time.
    last_seen: u32,
    /// Packets in the original and the reply direction.
    packets: [u32; 2],
    /// `None` for protocols other than TCP.
    tcp: Option<TcpPhase>,
    /// `INIT_*`, `SEEN_REPLY`, `FIN_*`.
    flags: u8,
    /// Its opener's slot in the owners (`shares.rs`).
    owner: u16,
}

const _: () = assert!(size_of::<Flow>() == 32);

impl Flow {
    fn initiator(&self) -> Side {
        if self.flags & INIT_TUNNEL != 0 {
            Side::Tunnel
        } else {
            Side::Lan
        }
    }

    /// Whether a packet from end `a` (`from_a`) goes the original way.
    fn is_original(&self, from_a: bool) -> bool {
        from_a != (self.flags & INIT_FROM_B != 0)
    }

    fn class(&self) -> TimeoutClass {
        match self.tcp {
            Some(TcpPhase::Closed) => TimeoutClass::TcpClosed,
            Some(TcpPhase::Established) if self.flags & (FIN_ORIGINAL | FIN_REPLY) == 0 => {
                TimeoutClass::TcpEstablished
            }
            Some(_) => TimeoutClass::TcpTransitory,
            None if self.key.proto == proto::UDP && self.flags & SEEN_REPLY != 0 => {
                TimeoutClass::UdpStream
            }
            None if self.key.proto == proto::UDP => TimeoutClass::Udp,
            None => TimeoutClass::Other,
        }
    }

    /// Whether early drop may evict it: a TCP flow whose handshake has not
    /// completed (SYN sent, SYN-ACK seen), picked up mid-stream and not yet
    /// answered, or closed; and every flow of another protocol (UDP, ICMP,
    /// ...), which has no handshake that tells a live flow from an idle one.
    fn evictable(&self) -> bool {
        matches!(
            self.tcp,
            None | Some(
                TcpPhase::SynSent
                    | TcpPhase::SynReceived
                    | TcpPhase::Unconfirmed
                    | TcpPhase::Closed
            )
        )
    }

    /// The last second at which the flow is alive.
    fn deadline(&self, secs: &TimeoutSecs) -> u32 {
        self.last_seen.saturating_add(secs.get(self.class()))
    }

    fn expired(&self, now: u32, secs: &TimeoutSecs) -> bool {
        now > self.deadline(secs)
    }

    fn on_packet(&mut self, now: u32, original: bool, flags: u8) {
        self.last_seen = self.last_seen.max(now);
        let direction = usize::from(!original);
        self.packets[direction] = self.packets[direction].wrapping_add(1);
        if !original {
            self.flags |= SEEN_REPLY;
        }
        if let Some(phase) = self.tcp {
            let mut phase = phase.next(original, flags);
            if flags & tcp_flags::FIN != 0 {
                self.flags |= if original { FIN_ORIGINAL } else { FIN_REPLY };
                if self.flags & (FIN_ORIGINAL | FIN_REPLY) == FIN_ORIGINAL | FIN_REPLY {
                    phase = TcpPhase::Closed;
                }
            }
            self.tcp = Some(phase);
        }
    }
}

/// No flow: the end of the half-open list.
const NIL: u32 = u32::MAX;

/// A flow's neighbours on the half-open list.
#[derive(Debug, Clone, Copy)]
struct Link {
    /// The flow seen before it, or [`NIL`].
    prev: u32,
    /// The flow seen after it, or [`NIL`].
    next: u32,
}

impl Link {
    const UNLINKED: Link = Link {
        prev: NIL,
        next: NIL,
    };
}

/// A slot of the index.
#[derive(Debug, Clone, Copy)]
struct Slot {
    /// The hash of the flow's key.
    tag: u32,
    /// The flow's position in the array, or `u32::MAX` for an empty slot.
    index: u32,
}

impl Slot {
    const EMPTY: Slot = Slot {
        tag: 0,
        index: u32::MAX,
    };

    fn is_empty(self) -> bool {
        self.index == u32::MAX
    }
}

#[derive(Debug, Clone, Copy)]
enum TimeoutClass {
    TcpEstablished,
    TcpTransitory,
    TcpClosed,
    Udp,
    UdpStream,
    Other,
}

/// The timeouts in whole seconds, rounded up, by [`TimeoutClass`].
#[derive(Debug, Clone, Copy)]
struct TimeoutSecs([u32; 6]);

impl TimeoutSecs {
    fn new(t: &Timeouts) -> Self {
        let secs = |d: Duration| {
            let s = d.as_secs() + u64::from(d.subsec_nanos() > 0);
            u32::try_from(s).unwrap_or(u32::MAX)
        };
        TimeoutSecs([
            secs(t.tcp_established),
            secs(t.tcp_transitory),
            secs(t.tcp_closed),
            secs(t.udp),
            secs(t.udp_stream),
            secs(t.other),
        ])
    }

    fn get(&self, class: TimeoutClass) -> u32 {
        self.0[class as usize]
    }
}

/// Whole seconds from `base` to `now` (0 if `now` is earlier).
fn seconds_since(base: Instant, now: Instant) -> u32 {
    u32::try_from(now.saturating_duration_since(base).as_secs()).unwrap_or(u32::MAX)
}

/// The folded 128-bit product of two words.
fn fold_mul(x: u64, y: u64) -> u64 {
    let product = u128::from(x) * u128::from(y);
    (product as u64) ^ ((product >> 64) as u64)
}

/// The flow of a packet and whether it goes from end `a`; `None` when it
/// has none (non-first fragment, ICMP other than a query or its reply).
fn packet_flow(meta: &Ipv4Meta) -> Option<(FlowKey, bool)> {
    if meta.is_fragment {
        return None;
    }
    flow_of(meta.src, meta.dst, meta.l4, meta.icmp_id)
}

fn flow_of(src: Ipv4Addr, dst: Ipv4Addr, l4: L4, icmp_id: Option<u16>) -> Option<(FlowKey, bool)> {
    let (src, dst) = (u32::from(src), u32::from(dst));
    let flow = match l4 {
        L4::Tcp { src_port, dst_port } => {
            FlowKey::between(proto::TCP, (src, src_port), (dst, dst_port))
        }
        L4::Udp { src_port, dst_port } => {
            FlowKey::between(proto::UDP, (src, src_port), (dst, dst_port))
        }
        // A query and its reply, keyed by the query and its identifier, as
        // Linux's conntrack does: only the reply type matching the request
        // is a reply. Any other ICMP type (errors included) is no flow.
        L4::Icmp { icmp_type, .. } => {
            let (query, request) = crate::packet::icmp_query(icmp_type)?;
            let id = icmp_id?;
            let (requester, responder) = if request { (src, dst) } else { (dst, src) };
            let key = FlowKey {
                a_addr: requester,
                b_addr: responder,
                a_port: id,
                b_port: id,
                proto: proto::ICMP,
                query,
            };
            (key, request)
        }
        L4::Other(p) => FlowKey::between(p, (src, 0), (dst, 0)),
    };
    Some(flow)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::packet::parse_ipv4;
    use crate::packet::tcp_flags::{ACK, FIN, RST, SYN};
    use crate::packet::tests::{ipv4, tcp_header};
    use proptest::prelude::*;

    mod shares;

    const LAN: [u8; 4] = [192, 168, 1, 10];
    const VPC: [u8; 4] = [10, 0, 1, 20];
    const DAY: u64 = 86_400;

    fn at(t0: Instant, secs: u64) -> Instant {
        t0 + Duration::from_secs(secs)
    }

    fn meta(bytes: &[u8]) -> Ipv4Meta {
        parse_ipv4(bytes).expect("test packet parses")
    }

    fn tcp_bytes(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16, flags: u8) -> Vec<u8> {
        ipv4(src, dst, 6, true, &tcp_header(sport, dport, flags))
    }

    fn tcp(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16, flags: u8) -> Ipv4Meta {
        meta(&tcp_bytes(src, sport, dst, dport, flags))
    }

    fn udp_bytes(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16) -> Vec<u8> {
        let mut h = vec![0u8; 8];
        h[0..2].copy_from_slice(&sport.to_be_bytes());
        h[2..4].copy_from_slice(&dport.to_be_bytes());
        h[4..6].copy_from_slice(&8u16.to_be_bytes());
        ipv4(src, dst, 17, false, &h)
    }

    fn udp(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16) -> Ipv4Meta {
        meta(&udp_bytes(src, sport, dst, dport))
    }

    /// An ICMP message from `src` to `dst`: type, code, the 4 bytes after
    /// the checksum, a body.
    pub(crate) fn icmp_bytes(
        src: [u8; 4],
        dst: [u8; 4],
        icmp_type: u8,
        code: u8,
        rest: [u8; 4],
        body: &[u8],
    ) -> Vec<u8> {
        let mut m = vec![icmp_type, code, 0, 0];
        m.extend_from_slice(&rest);
        m.extend_from_slice(body);
        ipv4(src, dst, 1, false, &m)
    }

    fn echo(src: [u8; 4], dst: [u8; 4], icmp_type: u8, id: u16) -> Ipv4Meta {
        let [hi, lo] = id.to_be_bytes();
        meta(&icmp_bytes(src, dst, icmp_type, 0, [hi, lo, 0, 1], b"ping"))
    }

    /// An ICMP error from `from` to `to` quoting `packet` (its IP header
    /// and 8 more bytes).
    fn icmp_error(from: [u8; 4], to: [u8; 4], icmp_type: u8, code: u8, packet: &[u8]) -> Vec<u8> {
        let mtu = 1380u16.to_be_bytes();
        let quoted = &packet[..packet.len().min(28)];
        icmp_bytes(from, to, icmp_type, code, [0, 0, mtu[0], mtu[1]], quoted)
    }

    fn gre(src: [u8; 4], dst: [u8; 4]) -> Ipv4Meta {
        meta(&ipv4(src, dst, 47, false, &[0; 8]))
    }

    /// A LAN host's TCP connection to the VPC, through its handshake.
    fn handshake(ct: &mut ConnTrack, now: Instant, sport: u16) {
        let syn = tcp(LAN, sport, VPC, 443, SYN);
        assert_eq!(ct.lookup(now, Side::Lan, &syn), Verdict::New);
        ct.insert(now, Side::Lan, &syn).expect("room");
        let syn_ack = tcp(VPC, 443, LAN, sport, SYN | ACK);
        assert_eq!(ct.lookup(now, Side::Tunnel, &syn_ack), Verdict::Reply);
        let ack = tcp(LAN, sport, VPC, 443, ACK);
        assert_eq!(ct.lookup(now, Side::Lan, &ack), Verdict::Original);
        ct.check();
    }

    fn state(ct: &ConnTrack, now: Instant, meta: &Ipv4Meta) -> Option<FlowState> {
        ct.flow(now, meta).map(|f| f.state)
    }

    #[test]
    fn tcp_flow_from_the_lan_and_its_reply() {
        let t0 = Instant::now();
        let mut ct = ConnTrack::new(16, Timeouts::default());
        let syn = tcp(LAN, 40000, VPC, 443, SYN);
        let syn_ack = tcp(VPC, 443, LAN, 40000, SYN | ACK);
        // Before insert nothing is known, from either side.
        assert_eq!(ct.lookup(t0, Side::Tunnel, &syn_ack), Verdict::New);
        assert_eq!(ct.lookup(t0, Side::Lan, &syn_ack), Verdict::New);
        assert_eq!(ct.lookup(t0, Side::Lan, &syn), Verdict::New);
        assert!(ct.is_empty());

        ct.insert(t0, Side::Lan, &syn).unwrap();
        assert_eq!(ct.len(), 1);
        assert_eq!(state(&ct, t0, &syn), Some(FlowState::TcpSynSent));
        assert_eq!(ct.lookup(t0, Side::Tunnel, &syn_ack), Verdict::Reply);
        assert_eq!(state(&ct, t0, &syn), Some(FlowState::TcpSynReceived));
        let ack = tcp(LAN, 40000, VPC, 443, ACK);
        assert_eq!(ct.lookup(t0, Side::Lan, &ack), Verdict::Original);
        let info = ct.flow(t0, &ack).unwrap();
        assert_eq!(info.state, FlowState::TcpEstablished);
        assert_eq!(info.initiator, Side::Lan);
        assert_eq!((info.packets_original, info.packets_reply), (2, 1));
        assert_eq!(info.timeout, Duration::from_secs(432_000));

        // The right addresses from the wrong side are not the flow.
        assert_eq!(ct.lookup(t0, Side::Lan, &syn_ack), Verdict::New);
        assert_eq!(ct.lookup(t0, Side::Tunnel, &ack), Verdict::New);
        // Nor other ports.
        let other = tcp(VPC, 443, LAN, 40001, ACK);
        assert_eq!(ct.lookup(t0, Side::Tunnel, &other), Verdict::New);
        // Inserting it again leaves it as it is.
        ct.insert(t0, Side::Tunnel, &syn_ack).unwrap();
        assert_eq!(ct.len(), 1);
        assert_eq!(ct.flow(t0, &ack).unwrap().initiator, Side::Lan);
        ct.check();
    }

    #[test]
    fn tcp_flow_from_the_tunnel() {
        let t0 = Instant::now();
        let mut ct = ConnTrack::new(16, Timeouts::default());
        let syn = tcp(VPC, 51000, LAN, 22, SYN);
        ct.insert(t0, Side::Tunnel, &syn).unwrap();
        let syn_ack = tcp(LAN, 22, VPC, 51000, SYN | ACK);
        assert_eq!(ct.lookup(t0, Side::Lan, &syn_ack), Verdict::Reply);
        assert_eq!(
            ct.lookup(t0, Side::Tunnel, &tcp(VPC, 51000, LAN, 22, ACK)),
            Verdict::Original
        );
        assert_eq!(ct.flow(t0, &syn).unwrap().initiator, Side::Tunnel);
        assert_eq!(state(&ct, t0, &syn), Some(FlowState::TcpEstablished));
    }

    #[test]
    fn established_tcp_lives_five_days_idle() {
        let t0 = Instant::now();
        let mut ct = ConnTrack::new(16, Timeouts::default());
        handshake(&mut ct, t0, 40000);
        let data = tcp(VPC, 443, LAN, 40000, ACK);
        assert_eq!(
            ct.lookup(at(t0, 4 * DAY), Side::Tunnel, &data),
            Verdict::Reply
        );
        // Idle 5 days since then: still there, one second more: gone.
        let last = 4 * DAY;
        assert_eq!(ct.expire(at(t0, last + 5 * DAY)), 0);
        assert!(ct.flow(at(t0, last + 5 * DAY), &data).is_some());
        assert_eq!(
            ct.lookup(at(t0, last + 5 * DAY + 1), Side::Tunnel, &data),
            Verdict::New
        );
        assert!(ct.is_empty());
    }

    #[test]
    fn unfinished_handshake_uses_the_transitory_timeout() {
        let t0 = Instant::now();
        let mut ct = ConnTrack::new(16, Timeouts::default());
        let syn = tcp(LAN, 40000, VPC, 443, SYN);
        ct.insert(t0, Side::Lan, &syn).unwrap();
        assert_eq!(ct.flow(t0, &syn).unwrap().timeout, Duration::from_secs(120));
        assert!(ct.flow(at(t0, 120), &syn).is_some());
        assert_eq!(ct.expire(at(t0, 121)), 1);
        // SYN-ACK seen, final ACK never: still transitory.
        ct.insert(at(t0, 200), Side::Lan, &syn).unwrap();
        let syn_ack = tcp(VPC, 443, LAN, 40000, SYN | ACK);
        assert_eq!(
            ct.lookup(at(t0, 200), Side::Tunnel, &syn_ack),
            Verdict::Reply
        );
        assert_eq!(ct.lookup(at(t0, 321), Side::Tunnel, &syn_ack), Verdict::New);
    }

    #[test]
    fn midstream_tcp_is_established_once_seen_both_ways() {
        let t0 = Instant::now();
        let mut ct = ConnTrack::new(16, Timeouts::default());
        let data = tcp(LAN, 40000, VPC, 443, ACK);
        ct.insert(t0, Side::Lan, &data).unwrap();
        assert_eq!(state(&ct, t0, &data), Some(FlowState::TcpUnconfirmed));
        assert_eq!(
            ct.flow(t0, &data).unwrap().timeout,
            Duration::from_secs(120)
        );
        let reply = tcp(VPC, 443, LAN, 40000, ACK);
        assert_eq!(ct.lookup(t0, Side::Tunnel, &reply), Verdict::Reply);
        assert_eq!(state(&ct, t0, &data), Some(FlowState::TcpEstablished));
        // A lone RST opens nothing.
        ct.insert(t0, Side::Lan, &tcp(LAN, 40001, VPC, 443, RST))
            .unwrap();
        assert_eq!(ct.len(), 1);
    }

    #[test]
    fn rst_and_fins_shorten_the_timeout() {
        let t0 = Instant::now();
        let mut ct = ConnTrack::new(16, Timeouts::default());
        // RST from the server.
        handshake(&mut ct, t0, 40000);
        let rst = tcp(VPC, 443, LAN, 40000, RST | ACK);
        assert_eq!(ct.lookup(t0, Side::Tunnel, &rst), Verdict::Reply);
        assert_eq!(state(&ct, t0, &rst), Some(FlowState::TcpClosed));
        assert!(ct.flow(at(t0, 10), &rst).is_some());
        assert!(ct.flow(at(t0, 11), &rst).is_none());

        // FIN from one end: closing (transitory), then from the other: closed.
        handshake(&mut ct, t0, 40001);
        let fin = tcp(LAN, 40001, VPC, 443, FIN | ACK);
        assert_eq!(ct.lookup(t0, Side::Lan, &fin), Verdict::Original);
        assert_eq!(state(&ct, t0, &fin), Some(FlowState::TcpClosing));
        assert_eq!(ct.flow(t0, &fin).unwrap().timeout, Duration::from_secs(120));
        let fin_back = tcp(VPC, 443, LAN, 40001, FIN | ACK);
        assert_eq!(
            ct.lookup(at(t0, 100), Side::Tunnel, &fin_back),
            Verdict::Reply
        );
        assert_eq!(state(&ct, at(t0, 100), &fin), Some(FlowState::TcpClosed));
        let last_ack = tcp(LAN, 40001, VPC, 443, ACK);
        assert_eq!(
            ct.lookup(at(t0, 100), Side::Lan, &last_ack),
            Verdict::Original
        );
        assert_eq!(ct.lookup(at(t0, 111), Side::Lan, &last_ack), Verdict::New);
    }

    #[test]
    fn a_syn_reopens_a_closed_connection_as_new() {
        let t0 = Instant::now();
        let mut ct = ConnTrack::new(16, Timeouts::default());
        handshake(&mut ct, t0, 40000);
        let rst = tcp(LAN, 40000, VPC, 443, RST);
        assert_eq!(ct.lookup(t0, Side::Lan, &rst), Verdict::Original);
        let syn = tcp(LAN, 40000, VPC, 443, SYN);
        assert_eq!(ct.lookup(at(t0, 1), Side::Lan, &syn), Verdict::New);
        assert!(ct.is_empty());
        ct.insert(at(t0, 1), Side::Lan, &syn).unwrap();
        assert_eq!(state(&ct, at(t0, 1), &syn), Some(FlowState::TcpSynSent));
    }

    #[test]
    fn tcp_established_timeout_is_configurable() {
        let t0 = Instant::now();
        let timeouts = Timeouts {
            tcp_established: Timeouts::TCP_ESTABLISHED_MIN,
            ..Timeouts::default()
        };
        let mut ct = ConnTrack::new(16, timeouts);
        handshake(&mut ct, t0, 40000);
        let data = tcp(LAN, 40000, VPC, 443, ACK);
        assert!(ct.flow(at(t0, 60), &data).is_some());
        assert_eq!(ct.lookup(at(t0, 61), Side::Lan, &data), Verdict::New);
    }

    #[test]
    fn udp_one_way_30_s_both_ways_180_s() {
        let t0 = Instant::now();
        let mut ct = ConnTrack::new(16, Timeouts::default());
        let query = udp(LAN, 53000, VPC, 53);
        ct.insert(t0, Side::Lan, &query).unwrap();
        assert_eq!(state(&ct, t0, &query), Some(FlowState::OneWay));
        assert_eq!(ct.lookup(at(t0, 20), Side::Lan, &query), Verdict::Original);
        assert!(ct.flow(at(t0, 50), &query).is_some());
        assert_eq!(ct.lookup(at(t0, 51), Side::Lan, &query), Verdict::New);

        ct.insert(t0, Side::Lan, &query).unwrap();
        let answer = udp(VPC, 53, LAN, 53000);
        assert_eq!(ct.lookup(at(t0, 1), Side::Tunnel, &answer), Verdict::Reply);
        assert_eq!(state(&ct, t0, &query), Some(FlowState::BothWays));
        assert!(ct.flow(at(t0, 181), &query).is_some());
        assert_eq!(ct.expire(at(t0, 182)), 1);
        assert!(ct.is_empty());
    }

    #[test]
    fn icmp_and_other_protocols_live_600_s() {
        let t0 = Instant::now();
        let mut ct = ConnTrack::new(16, Timeouts::default());
        let ping = echo(LAN, VPC, 8, 7);
        let tunnel = gre(VPC, LAN);
        ct.insert(t0, Side::Lan, &ping).unwrap();
        ct.insert(t0, Side::Tunnel, &tunnel).unwrap();
        assert_eq!(ct.lookup(t0, Side::Lan, &gre(LAN, VPC)), Verdict::Reply);
        assert!(ct.flow(at(t0, 600), &ping).is_some());
        assert!(ct.flow(at(t0, 600), &tunnel).is_some());
        assert_eq!(ct.expire(at(t0, 601)), 2);
        assert!(ct.is_empty());
    }

    #[test]
    fn icmp_echo_is_matched_by_its_id() {
        let t0 = Instant::now();
        let mut ct = ConnTrack::new(16, Timeouts::default());
        ct.insert(t0, Side::Lan, &echo(LAN, VPC, 8, 7)).unwrap();
        assert_eq!(
            ct.lookup(t0, Side::Tunnel, &echo(VPC, LAN, 0, 7)),
            Verdict::Reply
        );
        assert_eq!(
            ct.lookup(t0, Side::Lan, &echo(LAN, VPC, 8, 7)),
            Verdict::Original
        );
        // Another id, or the VPC host pinging with the same id: other flows.
        assert_eq!(
            ct.lookup(t0, Side::Tunnel, &echo(VPC, LAN, 0, 8)),
            Verdict::New
        );
        assert_eq!(
            ct.lookup(t0, Side::Tunnel, &echo(VPC, LAN, 8, 7)),
            Verdict::New
        );
        // An echo reply opens nothing.
        ct.insert(t0, Side::Tunnel, &echo(VPC, LAN, 0, 9)).unwrap();
        assert_eq!(ct.len(), 1);
        // Pinging oneself works too.
        ct.insert(t0, Side::Lan, &echo(LAN, LAN, 8, 1)).unwrap();
        assert_eq!(
            ct.lookup(t0, Side::Lan, &echo(LAN, LAN, 8, 1)),
            Verdict::Original
        );
        ct.check();
    }

    #[test]
    fn icmp_errors_about_tracked_flows_are_no_flow_and_open_none() {
        // AWS: a security group blocks Path MTU Discovery unless a rule
        // allows ICMP type 3 code 4. An error is never part of a flow.
        let t0 = Instant::now();
        let mut ct = ConnTrack::new(16, Timeouts::default());
        handshake(&mut ct, t0, 40000);
        let big = tcp_bytes(LAN, 40000, VPC, 443, ACK);
        for (icmp_type, code) in [(3, 4), (3, 1), (4, 0), (5, 1), (11, 0), (12, 0)] {
            let err = icmp_error([10, 0, 0, 1], LAN, icmp_type, code, &big);
            let m = meta(&err);
            assert_eq!(ct.lookup(t0, Side::Tunnel, &m), Verdict::New);
            ct.insert(t0, Side::Tunnel, &m).unwrap();
            assert_eq!(ct.len(), 1, "type {icmp_type} opened a flow");
        }
    }

    #[test]
    fn icmp_queries_pass_only_their_own_reply_type() {
        // Issue 19, item 16: one timestamp request from the LAN let the
        // tunnel send any ICMP type back for 600 s.
        let t0 = Instant::now();
        let mut ct = ConnTrack::new(16, Timeouts::default());
        let query = |src, dst, icmp_type, id: u16| {
            let [hi, lo] = id.to_be_bytes();
            meta(&icmp_bytes(
                src,
                dst,
                icmp_type,
                0,
                [hi, lo, 0, 1],
                &[0; 12],
            ))
        };
        ct.insert(t0, Side::Lan, &query(LAN, VPC, 13, 7)).unwrap();
        for icmp_type in (0u8..=255).filter(|t| ![3, 4, 5, 11, 12].contains(t)) {
            let verdict = ct.lookup(at(t0, 1), Side::Tunnel, &query(VPC, LAN, icmp_type, 7));
            let expected = if icmp_type == 14 {
                Verdict::Reply
            } else {
                Verdict::New
            };
            assert_eq!(verdict, expected, "type {icmp_type}");
        }
        // Another identifier is another query.
        assert_eq!(
            ct.lookup(t0, Side::Tunnel, &query(VPC, LAN, 14, 8)),
            Verdict::New
        );
        // Each query its own reply, and replies open nothing.
        for (request, reply) in [(8, 0), (15, 16), (17, 18)] {
            ct.insert(t0, Side::Lan, &query(LAN, VPC, request, 9))
                .unwrap();
            assert_eq!(
                ct.lookup(t0, Side::Tunnel, &query(VPC, LAN, reply, 9)),
                Verdict::Reply
            );
            assert_eq!(
                ct.lookup(t0, Side::Tunnel, &query(VPC, LAN, 14, 9)),
                Verdict::New
            );
            let len = ct.len();
            ct.insert(t0, Side::Tunnel, &query(VPC, LAN, reply, 10))
                .unwrap();
            assert_eq!(ct.len(), len);
        }
        // Types that are no query (router advertisement, 9) track nothing.
        ct.insert(t0, Side::Lan, &query(LAN, VPC, 9, 1)).unwrap();
        assert_eq!(ct.len(), 4);
        ct.check();
    }

    #[test]
    fn non_first_fragments_are_new() {
        let t0 = Instant::now();
        let mut ct = ConnTrack::new(16, Timeouts::default());
        let first = udp(LAN, 5000, VPC, 5001);
        ct.insert(t0, Side::Lan, &first).unwrap();
        let fragment = Ipv4Meta {
            is_fragment: true,
            l4: L4::Other(17),
            ..first
        };
        assert_eq!(ct.lookup(t0, Side::Lan, &fragment), Verdict::New);
        ct.insert(t0, Side::Lan, &fragment).unwrap();
        assert_eq!(ct.len(), 1);
    }

    #[test]
    fn a_full_table_refuses_new_flows_and_keeps_the_old() {
        let t0 = Instant::now();
        let mut ct = ConnTrack::new(4, Timeouts::default());
        ct.set_when_full(WhenFull::Refuse);
        for port in 0..4 {
            ct.insert(t0, Side::Lan, &udp(LAN, 1000 + port, VPC, 53))
                .unwrap();
        }
        assert_eq!(
            ct.insert(t0, Side::Lan, &udp(LAN, 2000, VPC, 53)),
            Err(Full)
        );
        assert_eq!(
            ct.insert(at(t0, 1), Side::Tunnel, &gre(VPC, LAN)),
            Err(Full)
        );
        assert_eq!(ct.drops_full(), 2);
        assert_eq!(ct.len(), 4);
        for port in 0..4 {
            let reply = udp(VPC, 53, LAN, 1000 + port);
            assert_eq!(ct.lookup(at(t0, 2), Side::Tunnel, &reply), Verdict::Reply);
        }
        // A flow already there is no new flow.
        assert_eq!(
            ct.insert(at(t0, 2), Side::Lan, &udp(LAN, 1000, VPC, 53)),
            Ok(())
        );
        assert_eq!(ct.drops_full(), 2);
        ct.check();
    }

    #[test]
    fn expired_flows_make_room_but_live_ones_are_never_evicted() {
        let t0 = Instant::now();
        let mut ct = ConnTrack::new(2, Timeouts::default());
        ct.set_when_full(WhenFull::Refuse);
        handshake(&mut ct, t0, 40000);
        ct.insert(t0, Side::Lan, &udp(LAN, 1000, VPC, 53)).unwrap();
        assert_eq!(
            ct.insert(at(t0, 30), Side::Lan, &udp(LAN, 1001, VPC, 53)),
            Err(Full)
        );
        // The one-way UDP flow has expired at 31 s: its slot is reused.
        ct.insert(at(t0, 31), Side::Lan, &udp(LAN, 1001, VPC, 53))
            .unwrap();
        assert_eq!(ct.len(), 2);
        // Days later the established connection still holds its place.
        ct.insert(at(t0, DAY), Side::Lan, &udp(LAN, 1002, VPC, 53))
            .unwrap();
        assert_eq!(
            ct.insert(at(t0, DAY), Side::Lan, &udp(LAN, 1003, VPC, 53)),
            Err(Full)
        );
        let data = tcp(VPC, 443, LAN, 40000, ACK);
        assert_eq!(ct.lookup(at(t0, DAY), Side::Tunnel, &data), Verdict::Reply);
        assert_eq!(ct.drops_full(), 2);
        ct.check();
    }

    /// A spoofed SYN from behind the tunnel, from `10.0.HI.LO:port`.
    fn spoofed_syn(n: u16) -> Ipv4Meta {
        let [hi, lo] = n.to_be_bytes();
        tcp([10, 0, hi, lo], 1024 + n, LAN, 22, SYN)
    }

    fn key_of(m: &Ipv4Meta) -> FlowKey {
        packet_flow(m).expect("a flow").0
    }

    #[test]
    fn a_full_table_of_half_open_flows_evicts_the_least_recently_seen() {
        let t0 = Instant::now();
        let mut ct = ConnTrack::new(4, Timeouts::default());
        assert_eq!(ct.when_full(), WhenFull::EarlyDrop);
        let syns: Vec<Ipv4Meta> = (0..4).map(spoofed_syn).collect();
        for (i, syn) in syns.iter().enumerate() {
            ct.insert(at(t0, i as u64), Side::Tunnel, syn).unwrap();
        }
        // SYN 0 is retransmitted: now SYN 1 is the least recently seen.
        assert_eq!(
            ct.lookup(at(t0, 4), Side::Tunnel, &syns[0]),
            Verdict::Original
        );
        assert_eq!(ct.half_open_order(), [1, 2, 3, 0].map(|i| key_of(&syns[i])));
        let new = spoofed_syn(4);
        assert_eq!(ct.insert(at(t0, 5), Side::Tunnel, &new), Ok(()));
        assert_eq!(ct.len(), 4);
        assert_eq!(ct.early_drops(), 1);
        assert_eq!(ct.drops_full(), 0);
        assert_eq!(ct.flow(at(t0, 5), &syns[1]), None);
        for i in [0, 2, 3] {
            assert!(ct.flow(at(t0, 5), &syns[i]).is_some(), "SYN {i} kept");
        }
        assert_eq!(state(&ct, at(t0, 5), &new), Some(FlowState::TcpSynSent));
        // The next one goes next.
        ct.insert(at(t0, 6), Side::Tunnel, &spoofed_syn(5)).unwrap();
        assert_eq!(ct.flow(at(t0, 6), &syns[2]), None);
        assert_eq!(ct.early_drops(), 2);
        ct.check();
    }

    #[test]
    fn the_half_open_list_follows_the_tcp_state() {
        let t0 = Instant::now();
        let mut ct = ConnTrack::new(16, Timeouts::default());
        let syn = tcp(LAN, 40000, VPC, 443, SYN);
        let other = tcp(LAN, 40001, VPC, 443, SYN);
        ct.insert(t0, Side::Lan, &syn).unwrap();
        ct.insert(t0, Side::Lan, &other).unwrap();
        // A UDP flow is never on the list.
        ct.insert(t0, Side::Lan, &udp(LAN, 1000, VPC, 53)).unwrap();
        assert_eq!(ct.half_open_order(), [key_of(&syn), key_of(&other)]);
        // The SYN-ACK refreshes it: still half-open, now the most recent.
        let syn_ack = tcp(VPC, 443, LAN, 40000, SYN | ACK);
        assert_eq!(ct.lookup(t0, Side::Tunnel, &syn_ack), Verdict::Reply);
        assert_eq!(ct.half_open_order(), [key_of(&other), key_of(&syn)]);
        // The ACK completes the handshake: off the list.
        let ack = tcp(LAN, 40000, VPC, 443, ACK);
        assert_eq!(ct.lookup(t0, Side::Lan, &ack), Verdict::Original);
        assert_eq!(ct.half_open_order(), [key_of(&other)]);
        // One FIN: closing, still not evictable (half-closed data flows).
        let fin = tcp(LAN, 40000, VPC, 443, FIN | ACK);
        assert_eq!(ct.lookup(t0, Side::Lan, &fin), Verdict::Original);
        assert_eq!(ct.half_open_order(), [key_of(&other)]);
        // FINs both ways: closed, evictable again.
        let fin_back = tcp(VPC, 443, LAN, 40000, FIN | ACK);
        assert_eq!(ct.lookup(t0, Side::Tunnel, &fin_back), Verdict::Reply);
        assert_eq!(ct.half_open_order(), [key_of(&other), key_of(&syn)]);
        // A midstream pickup is half-open until answered.
        let mid = tcp(LAN, 40002, VPC, 443, ACK);
        ct.insert(t0, Side::Lan, &mid).unwrap();
        assert_eq!(ct.half_open_order().last(), Some(&key_of(&mid)));
        let mid_back = tcp(VPC, 443, LAN, 40002, ACK);
        assert_eq!(ct.lookup(t0, Side::Tunnel, &mid_back), Verdict::Reply);
        assert_eq!(ct.half_open_order(), [key_of(&other), key_of(&syn)]);
        // Expiry takes them off too.
        assert_eq!(ct.expire(at(t0, 121)), 3, "two TCP, one UDP");
        assert_eq!(ct.half_open_order(), []);
        ct.check();
    }

    #[test]
    fn established_flows_are_never_evicted() {
        let t0 = Instant::now();
        let mut ct = ConnTrack::new(4, Timeouts::default());
        handshake(&mut ct, t0, 40000);
        handshake(&mut ct, t0, 40001);
        ct.insert(t0, Side::Tunnel, &spoofed_syn(0)).unwrap();
        ct.insert(t0, Side::Lan, &udp(LAN, 1000, VPC, 53)).unwrap();
        // A flood: every new SYN takes the one half-open place.
        for n in 1..1000 {
            let now = at(t0, u64::from(n) / 100);
            assert_eq!(ct.insert(now, Side::Tunnel, &spoofed_syn(n)), Ok(()));
            assert_eq!(ct.len(), 4);
        }
        assert_eq!(ct.early_drops(), 999);
        assert_eq!(ct.drops_full(), 0);
        let now = at(t0, 10);
        for sport in [40000, 40001] {
            let data = tcp(VPC, 443, LAN, sport, ACK);
            assert_eq!(ct.lookup(now, Side::Tunnel, &data), Verdict::Reply);
        }
        let dns = udp(VPC, 53, LAN, 1000);
        assert_eq!(ct.lookup(now, Side::Tunnel, &dns), Verdict::Reply);
        // A legitimate connection opened during the flood completes.
        handshake(&mut ct, now, 40002);
        assert_eq!(
            state(&ct, now, &tcp(LAN, 40002, VPC, 443, ACK)),
            Some(FlowState::TcpEstablished)
        );
        // It made its room by evicting the LAN's own idle DNS flow (a full
        // table evicts from the new flow's side first); the flood goes on
        // recycling its own half-open entry.
        assert_eq!(ct.lookup(now, Side::Tunnel, &dns), Verdict::New);
        assert_eq!(ct.insert(now, Side::Tunnel, &spoofed_syn(2000)), Ok(()));
        assert_eq!(ct.early_drops(), 1001);
        for sport in [40000, 40001, 40002] {
            let data = tcp(VPC, 443, LAN, sport, ACK);
            assert_eq!(ct.lookup(now, Side::Tunnel, &data), Verdict::Reply);
        }
        assert_eq!(ct.drops_full(), 0);
        ct.check();
    }

    #[test]
    fn a_full_table_of_established_flows_refuses_and_counts() {
        let t0 = Instant::now();
        let mut ct = ConnTrack::new(3, Timeouts::default());
        for sport in 40000..40003 {
            handshake(&mut ct, t0, sport);
        }
        for n in 0..10 {
            assert_eq!(
                ct.insert(at(t0, 1), Side::Tunnel, &spoofed_syn(n)),
                Err(Full)
            );
        }
        assert_eq!(ct.drops_full(), 10);
        assert_eq!(ct.early_drops(), 0);
        assert_eq!(ct.len(), 3);
        for sport in 40000..40003 {
            let data = tcp(VPC, 443, LAN, sport, ACK);
            assert_eq!(ct.lookup(at(t0, 2), Side::Tunnel, &data), Verdict::Reply);
        }
        ct.check();
    }

    #[test]
    fn the_refuse_policy_never_evicts() {
        let t0 = Instant::now();
        let mut ct = ConnTrack::new(2, Timeouts::default());
        ct.set_when_full(WhenFull::Refuse);
        ct.insert(t0, Side::Tunnel, &spoofed_syn(0)).unwrap();
        ct.insert(t0, Side::Tunnel, &spoofed_syn(1)).unwrap();
        assert_eq!(
            ct.insert(at(t0, 1), Side::Tunnel, &spoofed_syn(2)),
            Err(Full)
        );
        assert_eq!((ct.drops_full(), ct.early_drops()), (1, 0));
        // Until the handshakes time out (120 s).
        assert_eq!(
            ct.insert(at(t0, 121), Side::Tunnel, &spoofed_syn(2)),
            Ok(())
        );
        ct.check();
    }

    #[test]
    fn when_full_names() {
        for w in [WhenFull::EarlyDrop, WhenFull::Refuse] {
            assert_eq!(WhenFull::from_name(w.as_str()), Some(w));
        }
        assert_eq!(WhenFull::from_name("evict"), None);
    }

    #[test]
    fn expire_and_next_expiry() {
        let t0 = Instant::now();
        let mut ct = ConnTrack::new(16, Timeouts::default());
        assert_eq!(ct.next_expiry(), None);
        handshake(&mut ct, t0, 40000);
        ct.insert(t0, Side::Lan, &udp(LAN, 1000, VPC, 53)).unwrap();
        let next = ct.next_expiry().unwrap();
        assert!(next <= at(t0, 31), "{:?}", next - t0);
        assert_eq!(ct.expire(at(t0, 30)), 0);
        assert_eq!(ct.expire(at(t0, 31)), 1);
        assert_eq!(ct.len(), 1);
        // After a full pass the bound is the established flow's deadline.
        assert_eq!(ct.next_expiry(), Some(at(t0, 432_001)));
        assert_eq!(ct.expire(at(t0, 432_000)), 0);
        assert_eq!(ct.expire(at(t0, 432_001)), 1);
        assert_eq!(ct.next_expiry(), None);
    }

    #[test]
    fn expire_bounds_its_work_per_call() {
        let t0 = Instant::now();
        let flows = 3 * EXPIRE_BATCH + 10;
        let mut ct = ConnTrack::new(flows, Timeouts::default());
        for i in 0..flows {
            let port = 1024 + i as u16;
            ct.insert(t0, Side::Lan, &udp(LAN, port, VPC, 53)).unwrap();
        }
        // Refresh a few so that they survive.
        for port in 1024..1034 {
            ct.lookup(at(t0, 20), Side::Lan, &udp(LAN, port, VPC, 53));
        }
        let now = at(t0, 40);
        let mut calls = 0;
        let mut removed = 0;
        while ct.next_expiry().is_some_and(|t| t <= now) {
            let n = ct.expire(now);
            assert!(n <= EXPIRE_BATCH);
            removed += n;
            calls += 1;
            assert!(calls < 100);
        }
        assert_eq!(removed, flows - 10);
        assert_eq!(ct.len(), 10);
        assert!(calls >= 4);
        assert_eq!(ct.next_expiry(), Some(at(t0, 51)));
        ct.check();
    }

    #[test]
    fn set_timeouts_keeps_the_flows() {
        let t0 = Instant::now();
        let mut ct = ConnTrack::new(16, Timeouts::default());
        handshake(&mut ct, t0, 40000);
        ct.insert(t0, Side::Lan, &echo(LAN, VPC, 8, 3)).unwrap();
        ct.set_timeouts(Timeouts {
            tcp_established: Duration::from_secs(60),
            ..Timeouts::default()
        });
        assert_eq!(ct.len(), 2);
        assert_eq!(ct.timeouts().tcp_established, Duration::from_secs(60));
        let data = tcp(VPC, 443, LAN, 40000, ACK);
        assert_eq!(ct.lookup(at(t0, 10), Side::Tunnel, &data), Verdict::Reply);
        assert_eq!(
            ct.lookup(at(t0, 10), Side::Tunnel, &echo(VPC, LAN, 0, 3)),
            Verdict::Reply
        );
        // The new timeout applies to the flow already there.
        assert_eq!(ct.expire(at(t0, 71)), 1);
        assert_eq!(ct.len(), 1);
        ct.check();
    }

    #[test]
    fn timeouts_round_up_to_whole_seconds() {
        let t0 = Instant::now();
        let timeouts = Timeouts {
            udp: Duration::from_millis(1500),
            ..Timeouts::default()
        };
        let mut ct = ConnTrack::new(4, timeouts);
        let m = udp(LAN, 1, VPC, 2);
        ct.insert(t0, Side::Lan, &m).unwrap();
        assert_eq!(ct.flow(t0, &m).unwrap().timeout, Duration::from_secs(2));
        assert!(ct.flow(at(t0, 2), &m).is_some());
        assert!(ct.flow(at(t0, 3), &m).is_none());
    }

    #[test]
    fn zero_capacity_tracks_nothing() {
        let t0 = Instant::now();
        let mut ct = ConnTrack::new(0, Timeouts::default());
        assert_eq!(ct.insert(t0, Side::Lan, &udp(LAN, 1, VPC, 2)), Err(Full));
        assert_eq!(ct.drops_full(), 1);
        assert!(ct.is_empty());
        assert_eq!(ct.capacity(), 0);
    }

    #[test]
    fn memory_per_flow_of_100_000_flows() {
        let t0 = Instant::now();
        let flows = 100_000;
        let mut ct = ConnTrack::new(flows, Timeouts::default());
        let before = ct.memory_bytes();
        for i in 0..flows as u32 {
            let host = (i / 50_000) as u8;
            let port = (i % 50_000) as u16 + 1024;
            ct.insert(t0, Side::Lan, &udp([192, 168, 2, host], port, VPC, 53))
                .unwrap();
        }
        assert_eq!(ct.len(), flows);
        assert_eq!(ct.memory_bytes(), before, "nothing allocated after new()");
        println!(
            "conntrack: {} flows, {} bytes, {} bytes per flow",
            ct.len(),
            ct.memory_bytes(),
            ct.approx_bytes_per_flow()
        );
        assert!(ct.approx_bytes_per_flow() <= 160);
        ct.check();
    }

    /// A packet for the property test.
    #[derive(Debug, Clone)]
    struct Spec {
        kind: u8,
        src: u8,
        dst: u8,
        sport: u16,
        dport: u16,
        flags: u8,
    }

    impl Spec {
        fn bytes(&self) -> Vec<u8> {
            let (src, dst) = ([10, 0, 0, self.src], [10, 0, 0, self.dst]);
            match self.kind {
                0 => tcp_bytes(src, self.sport, dst, self.dport, self.flags),
                1 => udp_bytes(src, self.sport, dst, self.dport),
                2 | 3 => {
                    let t = if self.kind == 2 { 8 } else { 0 };
                    let [hi, lo] = self.sport.to_be_bytes();
                    icmp_bytes(src, dst, t, 0, [hi, lo, 0, 0], b"")
                }
                4 => ipv4(src, dst, 47, false, &[0; 4]),
                _ => icmp_bytes(src, dst, self.flags, 0, [0; 4], b""),
            }
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Lookup(Spec, bool),
        Insert(Spec, bool),
        IcmpError(Spec, u8, bool, usize),
        Expire,
        Advance(u64),
        SetTimeouts(u64),
    }

    fn spec() -> impl Strategy<Value = Spec> {
        (0u8..6, 0u8..4, 0u8..4, 0u16..3, 0u16..3, any::<u8>()).prop_map(
            |(kind, src, dst, sport, dport, flags)| Spec {
                kind,
                src,
                dst,
                sport,
                dport,
                flags: flags & 0x1f,
            },
        )
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (spec(), any::<bool>()).prop_map(|(s, t)| Op::Lookup(s, t)),
            4 => (spec(), any::<bool>()).prop_map(|(s, t)| Op::Insert(s, t)),
            1 => (spec(), 0u8..4, any::<bool>(), 0usize..60)
                .prop_map(|(s, to, t, cut)| Op::IcmpError(s, to, t, cut)),
            1 => Just(Op::Expire),
            2 => (0u64..200).prop_map(Op::Advance),
            1 => (0u64..500_000).prop_map(Op::Advance),
            1 => (60u64..432_000).prop_map(Op::SetTimeouts),
        ]
    }

    fn side(tunnel: bool) -> Side {
        if tunnel {
            Side::Tunnel
        } else {
            Side::Lan
        }
    }

    /// A step of the SYN-flood property test: a TCP segment of one of a
    /// few connections (`conn`), from its initiator or its responder.
    #[derive(Debug, Clone)]
    enum TcpStep {
        Segment { conn: u8, reply: bool, flags: u8 },
        Advance(u64),
    }

    fn tcp_step() -> impl Strategy<Value = TcpStep> {
        let flags = prop_oneof![
            Just(SYN),
            Just(SYN | ACK),
            Just(ACK),
            Just(FIN | ACK),
            Just(RST),
        ];
        prop_oneof![
            8 => (0u8..24, any::<bool>(), flags)
                .prop_map(|(conn, reply, flags)| TcpStep::Segment { conn, reply, flags }),
            1 => (0u64..150).prop_map(TcpStep::Advance),
        ]
    }

    proptest! {
        #[test]
        fn random_packets_never_break_the_table(
            capacity in 0usize..12,
            ops in proptest::collection::vec(op(), 0..300),
        ) {
            let t0 = Instant::now();
            let mut now = t0;
            let mut ct = ConnTrack::new(capacity, Timeouts::default());
            for op in ops {
                match op {
                    Op::Lookup(s, t) => {
                        ct.lookup(now, side(t), &meta(&s.bytes()));
                    }
                    Op::Insert(s, t) => {
                        let m = meta(&s.bytes());
                        let known = ct.flow(now, &m).is_some();
                        let drops = ct.drops_full();
                        match ct.insert(now, side(t), &m) {
                            Ok(()) => {
                                prop_assert_eq!(ct.drops_full(), drops);
                                if !known && ct.flow(now, &m).is_some() {
                                    prop_assert_eq!(ct.lookup(now, side(t), &m), Verdict::Original);
                                }
                            }
                            Err(Full) => {
                                prop_assert_eq!(ct.drops_full(), drops + 1);
                                prop_assert_eq!(ct.len(), ct.capacity());
                            }
                        }
                    }
                    Op::IcmpError(s, to, t, cut) => {
                        // An error about any flow is no flow of its own.
                        let quoted = s.bytes();
                        let mut err = icmp_error([10, 0, 0, 9], [10, 0, 0, to], 3, 4, &quoted);
                        err.truncate(err.len().min(20 + cut));
                        if let Ok(m) = parse_ipv4(&err) {
                            let len = ct.len();
                            prop_assert_eq!(ct.lookup(now, side(t), &m), Verdict::New);
                            prop_assert!(ct.insert(now, side(t), &m).is_ok());
                            prop_assert!(ct.len() <= len);
                        }
                    }
                    Op::Expire => {
                        ct.expire(now);
                    }
                    Op::Advance(secs) => now += Duration::from_secs(secs),
                    Op::SetTimeouts(secs) => ct.set_timeouts(Timeouts {
                        tcp_established: Duration::from_secs(secs),
                        ..Timeouts::default()
                    }),
                }
                prop_assert!(ct.len() <= ct.capacity());
                ct.check();
            }
            // Everything is gone after the longest timeout.
            let end = now + Duration::from_secs(432_001);
            while ct.next_expiry().is_some_and(|t| t <= end) {
                ct.expire(end);
            }
            prop_assert!(ct.is_empty());
        }
        #[test]
        fn syn_floods_evict_only_half_open_flows(
            capacity in 1usize..10,
            refuse in any::<bool>(),
            steps in proptest::collection::vec(tcp_step(), 0..400),
        ) {
            let t0 = Instant::now();
            let mut now = t0;
            let mut ct = ConnTrack::new(capacity, Timeouts::default());
            if refuse {
                ct.set_when_full(WhenFull::Refuse);
            }
            // Connection `c`: 10.0.0.c:1000+c (the tunnel) to LAN:22.
            let segment = |conn: u8, reply: bool, flags: u8| {
                let (peer, port) = ([10, 0, 0, conn], 1000 + u16::from(conn));
                if reply {
                    tcp(LAN, 22, peer, port, flags)
                } else {
                    tcp(peer, port, LAN, 22, flags)
                }
            };
            for step in steps {
                match step {
                    TcpStep::Advance(secs) => now += Duration::from_secs(secs),
                    TcpStep::Segment { conn, reply, flags } => {
                        let m = segment(conn, reply, flags);
                        let side = if reply { Side::Lan } else { Side::Tunnel };
                        if ct.lookup(now, side, &m) != Verdict::New || reply {
                            continue;
                        }
                        // A new flow from the tunnel, as the router inserts it;
                        // every established connection must survive it.
                        let kept: Vec<Ipv4Meta> = (0..24)
                            .map(|c| segment(c, false, ACK))
                            .filter(|m| {
                                ct.flow(now, m)
                                    .is_some_and(|f| f.state == FlowState::TcpEstablished)
                            })
                            .collect();
                        let half_open_before = ct.half_open_order().len();
                        let (full, early) = (ct.drops_full(), ct.early_drops());
                        let result = ct.insert(now, side, &m);
                        for k in &kept {
                            prop_assert!(ct.flow(now, k).is_some(), "evicted {:?}", k);
                        }
                        match result {
                            Err(Full) => {
                                prop_assert_eq!(ct.drops_full(), full + 1);
                                prop_assert_eq!(ct.len(), capacity);
                                if !refuse {
                                    // Refused only with nothing to evict.
                                    prop_assert_eq!(half_open_before, 0);
                                }
                            }
                            Ok(()) => {
                                prop_assert_eq!(ct.drops_full(), full);
                                if refuse {
                                    prop_assert_eq!(ct.early_drops(), 0);
                                }
                            }
                        }
                        prop_assert!(ct.early_drops() <= early + 1);
                    }
                }
                prop_assert!(ct.len() <= capacity);
                ct.check();
            }
        }
    }
}
