//! A packet for a service that no connection claims: may it start one, which real takes
//! it, and the new connection entry.
//!
//! Owns: the TCP start rule (a SYN, or mid-stream where the service resumes), scheduling
//! (with the sorry server as fallback), one-packet scheduling, the NAT reply-key clash
//! check, and inserting the entry with its forwarding method bound (`Xmit::bind`). Must
//! not touch: per-real counters (`bind`), templates' internals (`persist`), the rewrite
//! (`xmit`), or what an existing connection does (`forward`).
//!
//! Invariants:
//! - Nothing is left behind when a new connection fails (table full, NAT clash):
//!   it binds its real only once its entry is in the table.
//! - A new connection is unverified (`verify`); in a table full of verified ones it is
//!   refused, or forwarded without an entry where the service maps flows stably and
//!   replies bypass the director (DR/TUN with sh, dh or mh).

use xvs_proto::{sctp_chunk, tcp_flags, Packet, PROTO_SCTP, PROTO_TCP, PROTO_UDP};
use xvs_sched::Flow;

use super::bind::{bind_real, Holder};
use super::evict::{evict_one, Evict};
use super::flow::{conn_key, find_conn, index_conn, FlowKey};
use super::forward::forward;
use super::persist::persistent_real;
use super::{verify, xmit, Ctx, Pkt};
use crate::conn::{flags, trust, Conn, FamilyTables, Xmit, NO_TEMPLATE};
use crate::family::Family;
use crate::ids::{RealId, ServiceId};
use crate::port::Verdict;
use crate::stats::DropReason;
use crate::tcp_state::TcpState;

/// A new connection of service `sid` for the packet `pkt` with key `key` (hashing to `h`).
/// `other`: the other family's tables, which share the connection capacity (eviction).
pub(super) fn new_connection<A: Family>(
    t: &mut FamilyTables<A>,
    other: &mut dyn Evict,
    cx: &mut Ctx,
    pkt: &mut Pkt,
    sid: ServiceId,
    key: FlowKey<A>,
    h: u64,
) -> Verdict {
    let p = pkt.p;
    let sources = &cx.services[sid].spec.sources;
    if !sources.is_empty() && !sources.admits(p.src) {
        return Verdict::Drop(DropReason::SourceDenied);
    }
    if p.proto == PROTO_TCP && !tcp_may_start(cx, sid, p) {
        return Verdict::Drop(DropReason::TcpNoConn);
    }
    // IPVS schedules an SCTP association on its INIT only (sloppy_sctp off).
    if p.proto == PROTO_SCTP && (p.tcp_flags != sctp_chunk::INIT || p.frag.is_some_and(|f| !f.is_first())) {
        return Verdict::Drop(DropReason::SctpNoConn);
    }
    if cx.services[sid].standby {
        return Verdict::Drop(DropReason::Standby);
    }
    let flow = Flow { proto: p.proto, src: p.src, sport: p.sport, dst: p.dst, dport: p.dport };
    let picked = if cx.services[sid].spec.persistence > 0 {
        persistent_real(t, cx, sid, &key, &flow)
    } else {
        schedule(cx, sid, &flow).map(|rid| (rid, NO_TEMPLATE))
    };
    let Some((rid, template)) = picked else {
        return Verdict::Drop(DropReason::NoReal);
    };
    let c = Conn {
        cip: key.src,
        vip: key.dst,
        deadline: 0,
        real: rid,
        template,
        cport: p.sport,
        vport: p.dport,
        service: sid,
        proto: p.proto,
        state: TcpState::None as u8,
        flags: Xmit::bind(cx.services[rid].forward) as u8 | flags::INACTIVE,
        in_port: pkt.in_port as u8,
        client_mac: pkt.peer_mac(),
        sync_pkts: 0,
        trust: trust::NEW,
        synced: 0,
    };
    if p.proto == PROTO_UDP && cx.services[sid].spec.ops {
        // One-packet scheduling: no connection entry, counted as a connection.
        cx.stats.ops_scheduled += 1;
        bind_real(cx, &mut t.templates, rid, Holder::OnePacket);
        return xmit::request(cx, pkt, &c);
    }
    // Room in the table: evict an unverified (or closed) entry if full.
    if cx.live >= cx.cfg.max_connections && !evict_one(t, other, cx) {
        if cx.services[sid].resumes_mid_stream && c.xmit() != Xmit::Nat {
            // Full of verified connections: a hash scheduler sends the flow to the same
            // real with or without an entry (Katran's answer), and replies bypass us.
            cx.stats.stateless_forwarded += 1;
            return xmit::request(cx, pkt, &c);
        }
        return Verdict::Drop(DropReason::ConnTableFull);
    }
    insert(t, cx, pkt, c, h)
}

/// Whether TCP segment `p` may start a connection of service `sid`: a SYN may. A
/// mid-connection segment with no connection (after a restart, or a flow that expired)
/// may where the scheduler maps the flow to the real it had, so the connection is picked
/// up from its ACKs (IPVS's sloppy_tcp, applied only where it is safe); with any other
/// scheduler it would land on a stranger.
#[inline]
fn tcp_may_start(cx: &Ctx, sid: ServiceId, p: &Packet) -> bool {
    if p.tcp_flags & (tcp_flags::SYN | tcp_flags::ACK | tcp_flags::RST) == tcp_flags::SYN {
        return true;
    }
    p.tcp_flags & tcp_flags::RST == 0 && p.tcp_flags & tcp_flags::ACK != 0 && cx.services[sid].resumes_mid_stream
}

/// Ask the service's scheduler for a real; fall back to the sorry server.
pub(super) fn schedule(cx: &mut Ctx, sid: ServiceId, flow: &Flow) -> Option<RealId> {
    let now = cx.now;
    let svc = &mut cx.services[sid];
    match svc.scheduler.schedule(&svc.dests, flow, now) {
        Some(i) => svc.dest_ids.get(i).copied(),
        None => {
            let sorry = svc.sorry;
            sorry.filter(|&s| cx.services[s].available)
        }
    }
}

/// Put connection `c` (request key hash `h`) in the table, bind its real and forward
/// its first packet. NAT also indexes the reply key, which must be free.
fn insert<A: Family>(t: &mut FamilyTables<A>, cx: &mut Ctx, pkt: &mut Pkt, mut c: Conn<A>, h: u64) -> Verdict {
    let reply_hash = if c.xmit() == Xmit::Nat {
        c.flags |= flags::REPLY_KEY;
        let rk = conn_key(cx, &c, true);
        let rh = rk.hash(&cx.hasher);
        if find_conn(t, cx, rh, &rk).is_some() {
            return Verdict::Drop(DropReason::NatClash);
        }
        Some(rh)
    } else {
        None
    };
    // Deadline for now; `forward` sets the state's timeout right away.
    c.deadline = (cx.now + 1000) as u32;
    let Some(ch) = t.conns.alloc(c) else {
        return Verdict::Drop(DropReason::ConnTableFull);
    };
    if !index_conn(t, cx, ch, h, reply_hash) {
        t.conns.free(ch);
        return Verdict::Drop(DropReason::HashProbeLimit);
    }
    verify::admitted(t, &c);
    cx.stats.conns_created += 1;
    bind_real(cx, &mut t.templates, c.real, Holder::conn(&c));
    forward(t, cx, pkt, ch, false, true)
}
