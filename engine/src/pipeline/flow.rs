//! Flow keys and the lookup of a packet's connection.
//!
//! Owns: the flow key of a packet and of a stored connection (request and NAT reply
//! direction), the hashes of flow, template and fragment keys, and the match of a packet
//! key against a stored connection. Must not touch: any table (it only reads them) or any
//! counter.
//!
//! Invariant: a connection's request key and its reply key hash with the same function as
//! a packet's key as it arrives, so one hash of an incoming packet finds either direction.

use xvs_proto::Packet;

use super::Ctx;
use crate::conn::{flags, Conn, FamilyTables};
use crate::family::Family;
use crate::ids::ServiceId;
use crate::index::Lookup;
use crate::services::RealSlot;

/// A flow as it arrives: protocol, source and destination endpoints.
#[derive(Clone, Copy, Debug)]
pub(super) struct FlowKey<A> {
    pub proto: u8,
    pub src: A,
    pub sport: u16,
    pub dst: A,
    pub dport: u16,
}

impl<A: Family> FlowKey<A> {
    /// The key of packet `p`, whose addresses are `src` and `dst` in family `A`.
    #[inline]
    pub fn new(p: &Packet, src: A, dst: A) -> Self {
        FlowKey { proto: p.proto, src, sport: p.sport, dst, dport: p.dport }
    }

    /// The hash of the key, with its low bit set so that 0 can mean "not computed".
    #[inline(always)]
    pub fn hash(&self, h: &Hasher) -> u64 {
        h.flow(self.src, self.dst, (self.sport as u32) << 16 | self.dport as u32, self.proto) | 1
    }

    /// The key of the opposite direction (what an ICMP error's quote, reversed, is).
    #[inline]
    pub fn reversed(&self) -> Self {
        FlowKey { proto: self.proto, src: self.dst, sport: self.dport, dst: self.src, dport: self.sport }
    }
}

/// The engine's keyed hashes, from four secret keys (`EngineConfig::hash_seed`). Flow keys,
/// hashed for every packet, use folded multiplies of their words with the keys (the
/// construction of ahash's fallback hasher, without its generic `Hasher` plumbing: half
/// the instructions); templates and fragments use ahash itself under the same keys.
#[derive(Debug, Clone)]
pub struct Hasher {
    keys: [u64; 4],
    state: ahash::RandomState,
}

/// The 128-bit product of `a` and `b`, its halves folded together.
#[inline(always)]
fn fold_mul(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

impl Hasher {
    /// A hasher under `keys`, which must be random 64-bit values (the engine spreads its
    /// seed into them with splitmix64): a multiply by a small key would mix nothing.
    pub fn new(keys: [u64; 4]) -> Hasher {
        Hasher { keys, state: ahash::RandomState::with_seeds(keys[0], keys[1], keys[2], keys[3]) }
    }

    /// A flow key's hash: every word of both addresses, the ports and the protocol go
    /// through a keyed multiply, and a last one mixes the high bits (the index's tag) with
    /// the low ones (its home slot).
    #[inline(always)]
    pub fn flow<A: Family>(&self, src: A, dst: A, ports: u32, proto: u8) -> u64 {
        let k = &self.keys;
        let (s0, s1) = src.words();
        let (d0, d1) = dst.words();
        let mut h = fold_mul(s0 ^ k[0], d0 ^ k[1]);
        if A::WIDE {
            h ^= fold_mul(s1 ^ k[2], d1 ^ k[3]);
        }
        let tail = u64::from(ports) << 8 | u64::from(proto);
        fold_mul(h ^ tail ^ k[2], k[3] | 1)
    }

    #[inline]
    fn hash_one<T: std::hash::Hash>(&self, x: T) -> u64 {
        self.state.hash_one(x)
    }
}

/// The hash of a persistence template's key.
#[inline]
pub(super) fn template_hash<A: Family>(h: &Hasher, service: ServiceId, client: A, vip: A) -> u64 {
    h.hash_one((client, vip, service.0, 0xffu8))
}

/// The hash of a fragmented datagram's key.
#[inline]
pub(super) fn frag_hash<A: Family>(h: &Hasher, src: A, dst: A, id: u32, proto: u8) -> u64 {
    h.hash_one((src, dst, id, proto, 0xfeu8))
}

/// The stored key of connection `c` in direction `reply` (NAT replies come from the real).
#[inline]
pub(super) fn conn_key<A: Family>(cx: &Ctx, c: &Conn<A>, reply: bool) -> FlowKey<A> {
    if reply {
        let r = &cx.services[c.real];
        let rip = A::from_ip(r.addr).unwrap_or_default();
        FlowKey { proto: c.proto, src: rip, sport: r.port_for(c.vport), dst: c.cip, dport: c.cport }
    } else {
        FlowKey { proto: c.proto, src: c.cip, sport: c.cport, dst: c.vip, dport: c.vport }
    }
}

/// The hash of a stored key of connection `c` in direction `reply`.
#[inline]
pub(super) fn conn_key_hash<A: Family>(cx: &Ctx, c: &Conn<A>, reply: bool) -> u64 {
    conn_key(cx, c, reply).hash(&cx.hasher)
}

/// Whether stored key `(c, reply)` is the packet key `k` (`reals`: the engine's, by id).
#[inline(always)]
fn conn_matches<A: Family>(reals: &[RealSlot], c: &Conn<A>, reply: bool, k: &FlowKey<A>) -> bool {
    if c.proto != k.proto {
        return false;
    }
    if !reply {
        // Each pair as one word: the client and virtual addresses lie side by side in
        // the entry, and so do the two ports.
        let ports = |a: u16, b: u16| u32::from(a) | u32::from(b) << 16;
        A::pair_eq((c.cip, c.vip), (k.src, k.dst)) && ports(c.cport, c.vport) == ports(k.sport, k.dport)
    } else {
        let r = &reals[c.real.index()];
        c.cip == k.dst && c.cport == k.dport && r.port_for(c.vport) == k.sport && A::from_ip(r.addr) == Some(k.src)
    }
}

/// The connection whose request or reply key is `k` (hashing to `h`), and which of the two
/// it matched (`true`: the reply key).
#[inline(always)]
pub(super) fn find_conn<A: Family>(t: &FamilyTables<A>, cx: &Ctx, h: u64, k: &FlowKey<A>) -> Option<(u32, bool)> {
    find_in(t.index.lookup(), t.conns.entries(), &cx.services.reals, h, k)
}

/// [`find_conn`] in tables borrowed apart (the fast path's lane): the index slots, the
/// connection entries and the reals.
#[inline(always)]
pub(super) fn find_in<A: Family>(
    index: Lookup,
    conns: &[Conn<A>],
    reals: &[RealSlot],
    h: u64,
    k: &FlowKey<A>,
) -> Option<(u32, bool)> {
    index.find(h, |o, reply| conns.get(o as usize).is_some_and(|c| conn_matches(reals, c, reply, k)))
}

/// Index connection `ch` by its request key (hash `h`) and, for NAT, its reply key (hash
/// `rh`). `false`: a key found no slot within the probe bound, and nothing is indexed.
pub(super) fn index_conn<A: Family>(t: &mut FamilyTables<A>, cx: &Ctx, ch: u32, h: u64, rh: Option<u64>) -> bool {
    if !t.index.insert(h, ch, false) {
        return false;
    }
    if let Some(rh) = rh {
        if !t.index.insert(rh, ch, true) {
            let FamilyTables { conns, index, .. } = t;
            index.remove(h, ch, false, |o, reply| conn_key_hash(cx, conns.get(o), reply));
            return false;
        }
    }
    true
}

/// The hashes of connection `c`'s index keys: its request key's, and its reply key's (0:
/// it has none; a key's hash is never 0).
#[inline]
pub(super) fn conn_key_hashes<A: Family>(cx: &Ctx, c: &Conn<A>) -> (u64, u64) {
    let reply = c.flags & flags::REPLY_KEY != 0;
    (conn_key_hash(cx, c, false), if reply { conn_key_hash(cx, c, true) } else { 0 })
}

/// Remove both index keys of connection `h` (`c`), whose hashes are `hashes` (what
/// [`conn_key_hashes`] gives for it: the reaper computed them already, to prefetch).
/// The caller hints the clusters first (`expiry`), early enough for the loads to arrive.
pub(super) fn unindex_conn<A: Family>(
    t: &mut FamilyTables<A>,
    cx: &Ctx,
    h: u32,
    (request_hash, reply_hash): (u64, u64),
) {
    let FamilyTables { conns, index, .. } = t;
    let reply = reply_hash != 0;
    let rehash = |o: u32, reply: bool| conn_key_hash(cx, conns.get(o), reply);
    // A key not found is a bug (wrong hashes, or a key lost earlier): it would stay in the
    // index, taking a slot, until the index is full.
    let found = index.remove(request_hash, h, false, rehash);
    debug_assert!(found, "connection {h}'s request key is not in the index");
    if reply {
        let found = index.remove(reply_hash, h, true, rehash);
        debug_assert!(found, "connection {h}'s reply key is not in the index");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sequential clients and ports (what a load generator or a NAT'ed client farm sends)
    /// spread over the index's home slots and its tags like random keys, and every word
    /// of an IPv6 address counts.
    #[test]
    fn flow_hashes_spread_sequential_keys() {
        // The keys of seed 0 (replay, tests, the bench); `xvs run` draws its own.
        let h =
            Hasher::new([0x243f_6a88_85a3_08d3, 0x1319_8a2e_0370_7344, 0xa409_3822_299f_31d0, 0x082e_fa98_ec4e_6c89]);
        let mut homes = vec![0u32; 1 << 12];
        let mut tags = [0u32; 128];
        for client in 0..256u32 {
            for port in 0..1024u32 {
                let x = h.flow(0x0a00_0000 | client, 0x0a01_0064, (40_000 + port) << 16 | 80, 6);
                homes[(x & 0xfff) as usize] += 1;
                tags[(x >> 57) as usize] += 1;
            }
        }
        // 2^18 keys over 2^12 slots: 64 each on average; random keys stay within ~2x.
        let (lo, hi) = (homes.iter().min().unwrap(), homes.iter().max().unwrap());
        assert!(*lo >= 25 && *hi <= 120, "home slots {lo}..{hi}");
        let (lo, hi) = (tags.iter().min().unwrap(), tags.iter().max().unwrap());
        assert!(*lo >= 1700 && *hi <= 2400, "tags {lo}..{hi}");
        let a: u128 = 0x2001_0db8_0000_0000_0000_0000_0000_0001;
        let b = a ^ 1 << 100;
        assert_ne!(h.flow(a, a, 80, 6), h.flow(b, a, 80, 6));
        assert_ne!(h.flow(a, a, 80, 6), h.flow(a, b, 80, 6));
        assert_ne!(h.flow(a, b, 80, 6), h.flow(b, a, 80, 6), "direction matters");
        assert_ne!(h.flow(1u32, 2, 80, 6), h.flow(1u32, 2, 80, 17), "protocol matters");
    }
}
