//! Fragments: a datagram's later fragments follow its first to the same connection (a
//! fragment table with expiry, as Maglev does; no reassembly).
//!
//! Owns: recording where a first fragment went and routing a later fragment by that
//! record. Must not touch: connections (it only reads them) or the rewrite.
//!
//! Invariants:
//! - The record table has fixed size and 2 s records (`FragTable`); a record displaced by
//!   another datagram's is counted (`frags_displaced`).
//! - A later fragment is forwarded only while the connection its first fragment went
//!   through is still that connection (live, not past its deadline, same ports and
//!   addresses); otherwise it is dropped and counted (`frag_no_first`), or passed to the
//!   kernel when it is not for a service at all.

use std::net::IpAddr;

use xvs_proto::{Frag, Packet};

use super::flow::frag_hash;
use super::forward::forward;
use super::{Ctx, Pkt};
use crate::conn::{Conn, FamilyTables, FragEntry, FRAG_TIMEOUT_MS};
use crate::family::Family;
use crate::port::Verdict;
use crate::stats::DropReason;
use crate::store::Expiring;

/// A fragment `fr` that is not the first of its datagram, `src -> dst`.
pub(super) fn later_fragment<A: Family>(
    t: &mut FamilyTables<A>,
    cx: &mut Ctx,
    pkt: &mut Pkt,
    src: A,
    dst: A,
    fr: Frag,
) -> Verdict {
    let p = pkt.p;
    let fh = frag_hash(&cx.hasher, src, dst, fr.id, p.proto);
    let Some(e) = t.frags.find(fh, src, dst, fr.id, p.proto, cx.now) else {
        // Not ours at all (no service) goes to the kernel; ours without a first
        // fragment is dropped and counted.
        return if cx.services.lookup(p.proto, p.dst, 0).is_some()
            || cx.services.is_real_endpoint(p.src)
            || any_service_addr(cx, p.proto, p.dst)
        {
            Verdict::Drop(DropReason::FragNoFirst)
        } else {
            Verdict::Pass
        };
    };
    // The connection must still be the one the first fragment went through: live
    // (its slot may have been freed or reused since), not past its deadline, and
    // with the same ports.
    let live = t.conns.is_live(e.conn) && {
        let c = t.conns.get(e.conn);
        c.deadline(cx.now) > cx.now
            && c.proto == p.proto
            && c.cport == e.cport
            && c.vport == e.vport
            && if e.reply { c.cip == dst } else { c.cip == src && c.vip == dst }
    };
    if !live {
        return Verdict::Drop(DropReason::FragNoFirst);
    }
    forward(t, cx, pkt, e.conn, e.reply, false)
}

/// Whether `addr` is the address of any service of `proto` (for strays without ports).
fn any_service_addr(cx: &Ctx, proto: u8, addr: IpAddr) -> bool {
    cx.services.services.iter().any(|s| {
        s.live
            && if s.spec.fwmark != 0 {
                s.spec.marks.iter().any(|m| m.proto == proto && crate::family::mask_ip(addr, m.len) == m.net)
            } else {
                s.spec.proto == proto && s.spec.vip == addr
            }
    })
}

/// The first fragment `p` (datagram `id`) of connection `ch` (`c`) was transmitted:
/// remember where its datagram goes.
pub(super) fn remember_first<A: Family>(
    t: &mut FamilyTables<A>,
    cx: &mut Ctx,
    p: &Packet,
    id: u32,
    ch: u32,
    reply: bool,
    c: &Conn<A>,
) {
    let (Some(src), Some(dst)) = (A::from_ip(p.src), A::from_ip(p.dst)) else {
        return;
    };
    let fh = frag_hash(&cx.hasher, src, dst, id, p.proto);
    let e = FragEntry {
        src,
        dst,
        id,
        proto: p.proto,
        valid: true,
        reply,
        conn: ch,
        cport: c.cport,
        vport: c.vport,
        deadline: cx.now + FRAG_TIMEOUT_MS,
    };
    if t.frags.record(fh, e, cx.now) {
        cx.stats.frags_displaced += 1;
    }
}
