//! Connection, persistence-template and fragment entries, and the per-family tables
//! that hold them.
//!
//! Invariants:
//! - A connection is indexed by its request key (protocol, client, client port, VIP,
//!   VIP port) and, for NAT, also by its reply key (protocol, real, real port, client,
//!   client port); both keys hash with the same function of "the packet as it arrives",
//!   so one hash of an incoming packet finds either direction.
//! - `Conn<u32>` is 40 bytes: IPv4 connections cost that plus 8 bytes of wheel links and
//!   the index slots (4 bytes each, at most 3/4 full).
//! - Deadlines are wheel ticks (ms) truncated to 32 bits, widened against `now`.
//! - A connection is *verified* (`trust == VERIFIED`) once something the client alone
//!   cannot fake has been seen: its real answered (NAT), it came from the sync master, or,
//!   where replies bypass the director (DR, TUN), it carried more than `verify_packets`
//!   requests. Until then `trust` counts its requests, and it is evictable.
//! - A connection holding a template handle has counted itself in the template's `refs`.
//! - A connection's forwarding method ([`Xmit`]) is bound when it is created and never
//!   changes, whatever a reload does to its real's `forward`.
//!
//! This module owns the entries' layout; the counting rules (who increments `refs` and the
//! reals' counts) live in the pipeline's `bind` module, not here.

use crate::family::Family;
use crate::ids::{RealId, ServiceId};
use crate::index::FlowIndex;
use crate::spec::Forward;
use crate::store::{widen, Expiring, Store};

pub const NO_TEMPLATE: u32 = u32::MAX;

/// How a connection's packets are transmitted, bound once when it is created (IPVS's
/// `ip_vs_bind_xmit`), kept in the low two bits of [`Conn::flags`]. The tunnel's kind
/// follows from the connection's family (IPv4-in-IPv4 or IPv6-in-IPv6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Xmit {
    Nat = 0,
    Dr = 1,
    Tun = 2,
}

impl Xmit {
    /// The transmit method for a real forwarded by `f`.
    #[inline]
    pub fn bind(f: Forward) -> Xmit {
        match f {
            Forward::Nat => Xmit::Nat,
            Forward::Dr => Xmit::Dr,
            Forward::Tun => Xmit::Tun,
        }
    }

    /// The method of IPVS's forwarding flag `fwd` (`IP_VS_CONN_F_FWD_MASK` bits); `None`
    /// for local node and bypass, which xvs does not have.
    pub fn from_ipvs(fwd: u32) -> Option<Xmit> {
        use xvs_proto::ipvs_sync::conn_flags;
        match fwd {
            conn_flags::MASQ => Some(Xmit::Nat),
            conn_flags::DROUTE => Some(Xmit::Dr),
            conn_flags::TUNNEL => Some(Xmit::Tun),
            _ => None,
        }
    }

    /// The method as configured and listed.
    pub fn forward(self) -> Forward {
        match self {
            Xmit::Nat => Forward::Nat,
            Xmit::Dr => Forward::Dr,
            Xmit::Tun => Forward::Tun,
        }
    }
}

/// Connection flag bits.
pub mod flags {
    /// The [`super::Xmit`] in the low two bits.
    pub const XMIT_MASK: u8 = 0b11;
    /// Not ESTABLISHED: counted in the real's inactive connections.
    pub const INACTIVE: u8 = 1 << 2;
    /// Indexed by its reply key too (NAT).
    pub const REPLY_KEY: u8 = 1 << 3;
    // The high nibble holds the last synced TCP state (`pipeline::sync_out`).
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct Conn<A> {
    pub cip: A,
    /// The address the client sent to (the VIP, or an address inside a prefix VIP).
    pub vip: A,
    pub deadline: u32,
    pub real: RealId,
    pub template: u32,
    pub cport: u16,
    pub vport: u16,
    pub service: ServiceId,
    pub proto: u8,
    pub state: u8,
    pub flags: u8,
    pub in_port: u8,
    /// All zeros: not known yet (a connection installed from sync).
    pub client_mac: [u8; 6],
    /// Incoming packets, counted modulo the sync period (IPVS's `in_pkts`).
    pub sync_pkts: u8,
    /// `VERIFIED`, or the requests seen while not verified yet (see [`trust`]).
    pub trust: u8,
    /// The end time last synced, in units of 2^10 ms (IPVS's `sync_endtime`).
    pub synced: u16,
}

/// Values of [`Conn::trust`] (it sits in what was padding: the entry keeps its size).
pub mod trust {
    /// Not verified yet, no request counted.
    pub const NEW: u8 = 0;
    /// Verified: never evicted to make room for another connection.
    pub const VERIFIED: u8 = u8::MAX;
}

impl<A: Copy> Expiring for Conn<A> {
    #[inline]
    fn deadline(&self, now: u64) -> u64 {
        widen(self.deadline, now)
    }
}

impl<A> Conn<A> {
    /// The transmit method bound at creation.
    #[inline]
    pub fn xmit(&self) -> Xmit {
        match self.flags & flags::XMIT_MASK {
            0 => Xmit::Nat,
            1 => Xmit::Dr,
            _ => Xmit::Tun,
        }
    }

    /// Verified (see [`trust`]): an attacker who only sends cannot make one.
    #[inline]
    pub fn is_verified(&self) -> bool {
        self.trust == trust::VERIFIED
    }

    /// Counted in its real's inactive connections (not ESTABLISHED).
    #[inline]
    pub fn is_inactive(&self) -> bool {
        self.flags & flags::INACTIVE != 0
    }
}

/// A persistence template: (service, client & netmask, destination) -> real.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Template<A> {
    pub client: A,
    pub vip: A,
    pub deadline: u32,
    pub real: RealId,
    /// Connections created through this template that are still alive.
    pub refs: u32,
    pub service: ServiceId,
    /// In the template index and counted in its real's persistent count; false once
    /// invalidated (it then waits for its connections to go).
    pub linked: bool,
}

impl<A: Copy> Expiring for Template<A> {
    #[inline]
    fn deadline(&self, now: u64) -> u64 {
        widen(self.deadline, now)
    }
}

/// Where the first fragment of a datagram went.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FragEntry<A> {
    pub src: A,
    pub dst: A,
    pub id: u32,
    pub proto: u8,
    pub valid: bool,
    /// The connection's reply direction (NAT reply fragments).
    pub reply: bool,
    pub conn: u32,
    /// The connection's client and virtual ports (with `conn`, so that a freed or reused
    /// connection slot is not mistaken for it).
    pub cport: u16,
    pub vport: u16,
    /// Expiry tick (full width: fragments live for seconds).
    pub deadline: u64,
}

/// How long the fragment table remembers a datagram's first fragment.
pub const FRAG_TIMEOUT_MS: u64 = 2_000;

/// A two-way set-associative table of recent first fragments: bounded memory and O(1)
/// without a timer, like Maglev's fragment handling. A first fragment takes the way that
/// holds its datagram already, else a free or expired way, else displaces the way that
/// expires sooner (counted: the displaced datagram's later fragments are dropped,
/// `frag_no_first`). The hash is seeded per process (`EngineConfig::hash_seed`), so an
/// attacker cannot aim at another datagram's set.
#[derive(Debug)]
pub struct FragTable<A> {
    slots: Vec<FragEntry<A>>,
    mask: usize,
}

impl<A: Family> FragTable<A> {
    pub fn new(size: usize) -> Self {
        let size = size.next_power_of_two().max(2);
        FragTable { slots: vec![FragEntry::default(); size], mask: size - 1 }
    }

    /// The first of the two ways of the set of `hash`.
    #[inline]
    fn set(&self, hash: u64) -> usize {
        hash as usize & self.mask & !1
    }

    /// Record `e` (now `now`); `true` when it displaced a live record of another datagram.
    pub fn record(&mut self, hash: u64, e: FragEntry<A>, now: u64) -> bool {
        let s = self.set(hash);
        let same = |x: &FragEntry<A>| x.valid && x.src == e.src && x.dst == e.dst && x.id == e.id && x.proto == e.proto;
        let free = |x: &FragEntry<A>| !x.valid || x.deadline <= now;
        let (a, b) = (self.slots[s], self.slots[s + 1]);
        let (way, displaced) = if same(&a) {
            (s, false)
        } else if same(&b) {
            (s + 1, false)
        } else if free(&a) {
            (s, false)
        } else if free(&b) {
            (s + 1, false)
        } else if a.deadline <= b.deadline {
            (s, true)
        } else {
            (s + 1, true)
        };
        self.slots[way] = e;
        displaced
    }

    pub fn find(&self, hash: u64, src: A, dst: A, id: u32, proto: u8, now: u64) -> Option<FragEntry<A>> {
        let s = self.set(hash);
        self.slots[s..s + 2]
            .iter()
            .copied()
            .find(|e| e.valid && e.src == src && e.dst == dst && e.id == id && e.proto == proto && e.deadline > now)
    }
}

/// Everything per address family.
#[derive(Debug)]
pub struct FamilyTables<A> {
    pub conns: Store<Conn<A>>,
    pub index: FlowIndex,
    pub templates: Store<Template<A>>,
    pub template_index: FlowIndex,
    pub frags: FragTable<A>,
    /// Live connections not verified yet: eviction looks for one only while there are.
    pub unverified: u32,
    /// Where the eviction sweep over the slab goes on (`pipeline::evict`).
    pub sweep: u32,
}

impl<A: Family> FamilyTables<A> {
    /// The memory of the connection and template tables and their indexes: (address,
    /// bytes) each.
    pub fn spans(&self) -> impl Iterator<Item = (usize, usize)> {
        let [c, cw] = self.conns.spans();
        let [t, tw] = self.templates.spans();
        [c, cw, self.index.span(), t, tw, self.template_index.span()].into_iter()
    }

    pub fn new(max_conns: u32, now_tick: u64) -> Self {
        let max_templates = (max_conns / 4).max(1024);
        FamilyTables {
            conns: Store::new(max_conns, now_tick),
            index: FlowIndex::new(max_conns as usize * 2),
            templates: Store::new(max_templates, now_tick),
            template_index: FlowIndex::new(max_templates as usize),
            frags: FragTable::new(4096),
            unverified: 0,
            sweep: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragment_sets_keep_two_datagrams_and_displace_the_sooner_expiring() {
        let mut t: FragTable<u32> = FragTable::new(16);
        let e = |id: u32, deadline: u64| FragEntry {
            src: 1,
            dst: 2,
            id,
            proto: 17,
            valid: true,
            deadline,
            ..Default::default()
        };
        let h = 6; // set 6..8
        assert!(!t.record(h, e(1, 100), 0));
        assert!(!t.record(h, e(2, 200), 0));
        assert!(t.find(h, 1, 2, 1, 17, 50).is_some() && t.find(h, 1, 2, 2, 17, 50).is_some());
        assert!(!t.record(h, e(1, 150), 10), "the same datagram refreshes its own way");
        assert!(t.record(h, e(3, 300), 20), "a third datagram displaces the sooner-expiring one");
        assert!(t.find(h, 1, 2, 1, 17, 50).is_none());
        assert!(t.find(h, 1, 2, 2, 17, 50).is_some() && t.find(h, 1, 2, 3, 17, 50).is_some());
        assert!(!t.record(h, e(4, 400), 250), "an expired way is free");
        assert!(t.find(h, 1, 2, 3, 17, 260).is_some() && t.find(h, 1, 2, 4, 17, 260).is_some());
    }

    #[test]
    fn ipv4_entry_is_compact() {
        assert_eq!(std::mem::size_of::<Conn<u32>>(), 40);
        assert!(std::mem::size_of::<Conn<u128>>() <= 64);
    }
}
