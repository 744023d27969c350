//! Who owns the table's room: each flow belongs to its opener — the LAN,
//! or one peer of the tunnel — and each opener, and each side, holds at
//! most its share of the table ([`Limits`]), so that a flood from the
//! tunnel cannot take the room of the flows the office opens (issue 19,
//! item 17). AWS tracks connections per network interface, not in one
//! table shared by everyone: a peer here plays the part of an interface.
//!
//! Every opener has its own list of evictable flows (half-open TCP, and
//! every UDP, ICMP or other flow), least recently seen first, threaded
//! through the table's `links`. An opener at its limit makes room by
//! evicting the oldest of its own flows (or, at the tunnel's limit, the
//! oldest of the tunnel's); a full table evicts the oldest evictable flow
//! of the new flow's side, else of anyone. Established TCP connections are
//! never evicted.

use super::{ConnTrack, Link, Side, WhenFull, NIL};

/// Who opens a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opener {
    /// The office network (the TUN device).
    Lan,
    /// The tunnel, the peer not told (tests, tools): counted as a peer of
    /// its own.
    Tunnel,
    /// The tunnel, from this peer (its position in the configuration).
    Peer(usize),
}

impl Opener {
    /// The side its flows come from.
    pub fn side(self) -> Side {
        match self {
            Opener::Lan => Side::Lan,
            Opener::Tunnel | Opener::Peer(_) => Side::Tunnel,
        }
    }

    /// The owner slot: 0 the LAN, 1 the untold tunnel peer, 2 + n peer n.
    pub(super) fn owner(self) -> u16 {
        match self {
            Opener::Lan => LAN,
            Opener::Tunnel => 1,
            Opener::Peer(n) => u16::try_from(n.saturating_add(2)).unwrap_or(u16::MAX),
        }
    }
}

/// The owner slot of the LAN.
pub(super) const LAN: u16 = 0;

/// The most flows each opener and each side may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Flows opened from the LAN.
    pub lan: usize,
    /// Flows opened from the tunnel, all peers together.
    pub tunnel: usize,
    /// Flows opened by any one peer.
    pub peer: usize,
}

impl Limits {
    /// No limit beyond the capacity: what [`ConnTrack::new`] starts with.
    pub fn none(capacity: usize) -> Self {
        Limits {
            lan: capacity,
            tunnel: capacity,
            peer: capacity,
        }
    }

    /// The gateway's defaults for a table of `capacity` flows
    /// (`[conntrack]`): the LAN may fill it, the tunnel half of it, and one
    /// peer as much as the whole tunnel. The LAN thus always keeps at least
    /// half the table.
    pub fn shared(capacity: usize) -> Self {
        let tunnel = capacity.div_ceil(2);
        Limits {
            lan: capacity,
            tunnel,
            peer: tunnel,
        }
    }
}

/// Why [`ConnTrack::open`] refused a new flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The table is full of flows none of which can be evicted.
    #[error("connection tracking table full")]
    Full,
    /// The LAN holds its limit of flows, none of them evictable.
    #[error("the LAN's share of the connection table is used up")]
    LanLimit,
    /// The tunnel holds its limit of flows, none of them evictable.
    #[error("the tunnel's share of the connection table is used up")]
    TunnelLimit,
    /// The peer holds its limit of flows, none of them evictable.
    #[error("the peer's share of the connection table is used up")]
    PeerLimit,
}

/// New flows refused because an opener or a side held its limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LimitDrops {
    /// [`Refused::LanLimit`].
    pub lan: u64,
    /// [`Refused::TunnelLimit`].
    pub tunnel: u64,
    /// [`Refused::PeerLimit`].
    pub peer: u64,
}

/// One opener's flows: how many, and its evictable ones in order.
#[derive(Debug, Clone, Copy)]
pub(super) struct Owner {
    /// Its least recently seen evictable flow, or [`NIL`].
    pub(super) head: u32,
    /// Its most recently seen evictable flow, or [`NIL`].
    pub(super) tail: u32,
    /// All its flows, evictable or not.
    pub(super) flows: usize,
}

impl Owner {
    pub(super) const EMPTY: Owner = Owner {
        head: NIL,
        tail: NIL,
        flows: 0,
    };
}

/// Which owners an eviction may take from.
#[derive(Debug, Clone, Copy)]
enum Scope {
    One(u16),
    Tunnel,
    Everyone,
}

impl ConnTrack {
    /// Sets the limits (configuration reload). Flows already over a new
    /// limit stay; new ones wait for room.
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// The limits in use.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// New flows refused because an opener or a side held its limit.
    pub fn limit_drops(&self) -> LimitDrops {
        self.limit_drops
    }

    /// The flows an opener holds.
    pub fn flows_of(&self, opener: Opener) -> usize {
        self.owners
            .get(usize::from(opener.owner()))
            .map_or(0, |o| o.flows)
    }

    /// The flows opened from the tunnel, all peers together.
    pub fn tunnel_flows(&self) -> usize {
        self.flows.len() - self.owners[usize::from(LAN)].flows
    }

    /// The peers were renumbered (a reload): `map` gives each old peer
    /// position its new one, or `None` for a peer that is gone, whose flows
    /// then count for the untold tunnel peer. Looks at every flow when
    /// anything moved.
    pub fn renumber_peers(&mut self, map: impl Fn(usize) -> Option<usize>) {
        let old = std::mem::take(&mut self.owners);
        let mut moved = vec![0u16; old.len()];
        let mut identity = true;
        for (slot, target) in moved.iter_mut().enumerate() {
            *target = match slot {
                0 | 1 => slot as u16,
                _ => map(slot - 2).map_or(1, |n| Opener::Peer(n).owner()),
            };
            identity &= usize::from(*target) == slot;
        }
        let len = moved
            .iter()
            .copied()
            .max()
            .map_or(2, |m| usize::from(m) + 1);
        self.owners = vec![Owner::EMPTY; len.max(2)];
        for (slot, owner) in old.into_iter().enumerate() {
            self.adopt(moved[slot], owner);
        }
        if !identity {
            for flow in &mut self.flows {
                flow.owner = moved[usize::from(flow.owner)];
            }
        }
    }

    /// Appends an owner's flows and list to the slot `to`.
    fn adopt(&mut self, to: u16, from: Owner) {
        let to = usize::from(to);
        self.owners[to].flows += from.flows;
        if from.head == NIL {
            return;
        }
        match self.owners[to].tail {
            NIL => self.owners[to].head = from.head,
            tail => {
                self.links[tail as usize].next = from.head;
                self.links[from.head as usize].prev = tail;
            }
        }
        self.owners[to].tail = from.tail;
    }

    /// The owner slot of an opener, made if new.
    pub(super) fn owner_slot(&mut self, opener: Opener) -> u16 {
        let owner = opener.owner();
        let need = usize::from(owner) + 1;
        if self.owners.len() < need {
            self.owners.resize(need, Owner::EMPTY);
        }
        owner
    }

    /// Makes room for a new flow of `owner` within its limits: expired
    /// flows first, then (under early drop) the oldest evictable flow the
    /// limit allows. `Err` when the owner stays at a limit.
    pub(super) fn room_within_limits(&mut self, now: u32, owner: u16) -> Result<(), Refused> {
        // A limit as large as the table is none: the capacity decides.
        let reached = |scope, limit| self.held(scope) >= limit && limit < self.capacity;
        let (refused, scope, limit) = if owner == LAN {
            (Refused::LanLimit, Scope::One(LAN), self.limits.lan)
        } else if reached(Scope::One(owner), self.limits.peer) {
            (Refused::PeerLimit, Scope::One(owner), self.limits.peer)
        } else {
            (Refused::TunnelLimit, Scope::Tunnel, self.limits.tunnel)
        };
        if !reached(scope, limit) {
            return Ok(());
        }
        self.evict_expired(now);
        if self.held(scope) < limit || self.evict_oldest(scope) {
            return Ok(());
        }
        *match refused {
            Refused::LanLimit => &mut self.limit_drops.lan,
            Refused::PeerLimit => &mut self.limit_drops.peer,
            _ => &mut self.limit_drops.tunnel,
        } += 1;
        Err(refused)
    }

    /// The flows the owners of `scope` hold.
    fn held(&self, scope: Scope) -> usize {
        match scope {
            Scope::One(o) => self.owners[usize::from(o)].flows,
            Scope::Tunnel => self.tunnel_flows(),
            Scope::Everyone => self.flows.len(),
        }
    }

    /// Under [`WhenFull::EarlyDrop`], evicts the least recently seen
    /// evictable flow of the new flow's side (so that a flood recycles its
    /// own entries), else of anyone; whether there was one.
    pub(super) fn early_drop(&mut self, owner: u16) -> bool {
        let side = if owner == LAN {
            Scope::One(LAN)
        } else {
            Scope::Tunnel
        };
        self.evict_oldest(side) || self.evict_oldest(Scope::Everyone)
    }

    /// Under [`WhenFull::EarlyDrop`], evicts the least recently seen
    /// evictable flow among the owners of `scope`; whether there was one.
    fn evict_oldest(&mut self, scope: Scope) -> bool {
        if self.when_full != WhenFull::EarlyDrop {
            return false;
        }
        let owners = match scope {
            Scope::One(o) => usize::from(o)..usize::from(o) + 1,
            Scope::Tunnel => 1..self.owners.len(),
            Scope::Everyone => 0..self.owners.len(),
        };
        let oldest = self.owners[owners]
            .iter()
            .map(|o| o.head)
            .filter(|&h| h != NIL)
            .min_by_key(|&h| self.flows[h as usize].last_seen);
        let Some(index) = oldest else {
            return false;
        };
        let index = index as usize;
        let pos = self.slot_of(self.hash(&self.flows[index].key), index);
        self.remove(pos, index);
        self.early_drops += 1;
        true
    }

    /// Appends the flow at `index` to its owner's list (the most recently
    /// seen end).
    pub(super) fn push_back(&mut self, index: usize) {
        let i = index as u32;
        let owner = &mut self.owners[usize::from(self.flows[index].owner)];
        self.links[index] = Link {
            prev: owner.tail,
            next: NIL,
        };
        match owner.tail {
            NIL => owner.head = i,
            tail => self.links[tail as usize].next = i,
        }
        owner.tail = i;
    }

    /// Takes the flow at `index` off its owner's list.
    pub(super) fn unlink(&mut self, index: usize) {
        let Link { prev, next } = self.links[index];
        self.point_neighbours(index, next, prev);
        self.links[index] = Link::UNLINKED;
    }

    /// The flow at `from` moves to `to` (the array's hole filled): its
    /// neighbours on its list point at its new place.
    pub(super) fn relink(&mut self, from: usize, to: usize) {
        self.point_neighbours(from, to as u32, to as u32);
    }

    /// Points the list neighbours of the flow at `index` elsewhere: the one
    /// before it (or the head) at `forward`, the one after it (or the
    /// tail) at `back`.
    fn point_neighbours(&mut self, index: usize, forward: u32, back: u32) {
        let Link { prev, next } = self.links[index];
        let owner = &mut self.owners[usize::from(self.flows[index].owner)];
        match prev {
            NIL => owner.head = forward,
            p => self.links[p as usize].next = forward,
        }
        match next {
            NIL => owner.tail = back,
            n => self.links[n as usize].prev = back,
        }
    }
}
