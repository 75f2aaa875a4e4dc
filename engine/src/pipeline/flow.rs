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
    #[inline]
    pub fn hash(&self, h: &ahash::RandomState) -> u64 {
        h.hash_one((self.src, self.dst, (self.sport as u32) << 16 | self.dport as u32, self.proto)) | 1
    }

    /// The key of the opposite direction (what an ICMP error's quote, reversed, is).
    #[inline]
    pub fn reversed(&self) -> Self {
        FlowKey { proto: self.proto, src: self.dst, sport: self.dport, dst: self.src, dport: self.sport }
    }
}

/// The hash of a persistence template's key.
#[inline]
pub(super) fn template_hash<A: Family>(h: &ahash::RandomState, service: ServiceId, client: A, vip: A) -> u64 {
    h.hash_one((client, vip, service.0, 0xffu8))
}

/// The hash of a fragmented datagram's key.
#[inline]
pub(super) fn frag_hash<A: Family>(h: &ahash::RandomState, src: A, dst: A, id: u32, proto: u8) -> u64 {
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

/// Whether stored key `(c, reply)` is the packet key `k`.
#[inline]
fn conn_matches<A: Family>(cx: &Ctx, c: &Conn<A>, reply: bool, k: &FlowKey<A>) -> bool {
    if c.proto != k.proto {
        return false;
    }
    if !reply {
        c.cip == k.src && c.cport == k.sport && c.vip == k.dst && c.vport == k.dport
    } else {
        let r = &cx.services[c.real];
        c.cip == k.dst && c.cport == k.dport && r.port_for(c.vport) == k.sport && A::from_ip(r.addr) == Some(k.src)
    }
}

/// The connection whose request or reply key is `k` (hashing to `h`), and which of the two
/// it matched (`true`: the reply key).
#[inline(always)]
pub(super) fn find_conn<A: Family>(t: &FamilyTables<A>, cx: &Ctx, h: u64, k: &FlowKey<A>) -> Option<(u32, bool)> {
    let conns = &t.conns;
    t.index.find(h, |o, reply| conn_matches(cx, conns.get(o), reply, k))
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

/// Remove both index keys of connection `h` (`c`).
pub(super) fn unindex_conn<A: Family>(t: &mut FamilyTables<A>, cx: &Ctx, h: u32, c: &Conn<A>) {
    let FamilyTables { conns, index, .. } = t;
    let rehash = |o: u32, reply: bool| conn_key_hash(cx, conns.get(o), reply);
    index.remove(conn_key_hash(cx, c, false), h, false, rehash);
    if c.flags & flags::REPLY_KEY != 0 {
        index.remove(conn_key_hash(cx, c, true), h, true, rehash);
    }
}
