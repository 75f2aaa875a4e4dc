//! Installing what a sync master sent (IPVS's `ip_vs_proc_conn`).
//!
//! Owns: matching a sync entry to a service and real, creating, refreshing or replacing
//! the connection or template it describes. Must not touch: per-real counters directly
//! (`bind`), templates' internals (`persist`), how a connection leaves (`expiry`).
//!
//! Invariants (the kernel's):
//! - An entry for a connection that exists with another real replaces it, unless the
//!   entry is inactive (the expiry notice of the replaced one): then it is ignored.
//! - A connection for a real this director does not have is installed unbound: it
//!   forwards to the synced address by the synced method, and binds to the real if a
//!   reload configures it (same service, address and port).
//! - A synced connection has no client MAC yet (`client_mac` all zeros): NAT replies find
//!   the client's next hop by route until the client's next packet teaches it.
//! - Timeouts count from now: the entry's seconds, or the state's own timeout when 0.

use xvs_proto::ipvs_sync::{conn_flags, SyncConn};
use xvs_proto::{PROTO_SCTP, PROTO_TCP, PROTO_UDP};

use super::bind::{bind_real, set_state, Holder};
use super::evict::{evict_one, Evict};
use super::expiry::expire_conn;
use super::flow::{conn_key, find_conn, index_conn, FlowKey};
use super::persist::synced_template;
use super::{verify, Ctx};
use crate::conn::{flags, trust, Conn, FamilyTables, Xmit, NO_TEMPLATE};
use crate::family::Family;
use crate::ids::{RealId, ServiceId};
use crate::sctp_state::{SctpState, NUM_SCTP_STATES};
use crate::services::next_hop;
use crate::store::Expiring;
use crate::sync::SyncOutcome;
use crate::tcp_state::{TcpState, NUM_TCP_STATES};

/// Longest timeout taken from an entry: the wheel's deadlines are 32-bit milliseconds.
const MAX_TIMEOUT_S: u64 = 24 * 3600;

/// Install entry `s`, whose addresses are of family `A`.
pub(super) fn install<A: Family>(
    t: &mut FamilyTables<A>,
    other: &mut dyn Evict,
    cx: &mut Ctx,
    s: &SyncConn,
) -> SyncOutcome {
    let (Some(cip), Some(vip), true) =
        (A::from_ip(s.caddr), A::from_ip(s.vaddr), s.daddr.is_ipv4() == s.caddr.is_ipv4())
    else {
        return SyncOutcome::Unsupported;
    };
    // A marked connection names its service by the mark, as IPVS's sync does.
    let sid = if s.fwmark != 0 {
        cx.services.by_mark(s.fwmark, s.caddr.is_ipv6())
    } else {
        cx.services.lookup(s.protocol, s.vaddr, s.vport)
    };
    let Some(sid) = sid else {
        return SyncOutcome::NoService;
    };
    if s.is_template() {
        return template(t, cx, s, sid, cip, vip);
    }
    let state = match (s.protocol, s.state) {
        (PROTO_TCP, st) if (st as usize) < NUM_TCP_STATES => {
            SyncedState { number: st as u8, established: st as u8 == TcpState::Established as u8 }
        }
        (PROTO_SCTP, st) if (st as usize) < NUM_SCTP_STATES => {
            SyncedState { number: st as u8, established: st as u8 == SctpState::Established as u8 }
        }
        (PROTO_UDP, 0) => SyncedState { number: 0, established: false },
        _ => return SyncOutcome::Unsupported,
    };
    let key = FlowKey { proto: s.protocol, src: cip, sport: s.cport, dst: vip, dport: s.vport };
    let h = key.hash(&cx.hasher);
    let deadline = cx.now + timeout_ms(cx, s, state);
    if let Some((ch, false)) = find_conn(t, cx, h, &key) {
        let c = *t.conns.get(ch);
        let r = &cx.services[c.real];
        if r.addr == s.daddr && r.port_for(c.vport) == s.dport {
            refresh(t, cx, ch, state, deadline);
            return SyncOutcome::Updated;
        }
        if s.flags & conn_flags::INACTIVE != 0 {
            return SyncOutcome::Stale;
        }
        expire_conn(t, cx, ch);
    }
    let Some((rid, bound)) = real_for(cx, sid, s) else {
        return SyncOutcome::Unsupported;
    };
    let outcome = create(t, other, cx, Created { key, h, sid, rid, state, deadline });
    match outcome {
        SyncOutcome::Installed if !bound => SyncOutcome::Unbound,
        o => o,
    }
}

/// A synced connection's state: its number (TCP's or SCTP's, as IPVS numbers them) and
/// whether it is ESTABLISHED (an active connection of its real).
#[derive(Clone, Copy)]
struct SyncedState {
    number: u8,
    established: bool,
}

/// Milliseconds entry `s` (in `state`) lives from now.
fn timeout_ms(cx: &Ctx, s: &SyncConn, state: SyncedState) -> u64 {
    let n = usize::from(state.number);
    match s.timeout {
        0 if s.protocol == PROTO_TCP => cx.cfg.timeouts.tcp[n] as u64,
        0 if s.protocol == PROTO_SCTP => cx.cfg.timeouts.sctp[n] as u64,
        0 => cx.cfg.timeouts.udp as u64,
        secs => (secs as u64).min(MAX_TIMEOUT_S) * 1000,
    }
}

/// An existing connection `ch` with the same real: take the synced state and timeout.
fn refresh<A: Family>(t: &mut FamilyTables<A>, cx: &mut Ctx, ch: u32, state: SyncedState, deadline: u64) {
    let mut c = *t.conns.get(ch);
    if c.proto != PROTO_UDP && c.state != state.number {
        set_state(cx, &mut c, state.number, state.established);
    }
    // The master's word counts as verification (README "Defences").
    verify::verify(t, cx, &mut c);
    let earlier = deadline < c.deadline(cx.now);
    c.deadline = deadline as u32;
    c.sync_pkts = cx.cfg.sync.threshold;
    *t.conns.get_mut(ch) = c;
    if earlier {
        t.conns.rearm(ch);
    }
}

/// The real of service `sid` that entry `s` names, and whether it is one this director
/// has configured; else a new unbound one for it. `None`: a forwarding method xvs does not
/// have (local node, bypass).
fn real_for(cx: &mut Ctx, sid: ServiceId, s: &SyncConn) -> Option<(RealId, bool)> {
    let forward = match Xmit::from_ipvs(s.flags & conn_flags::FWD_MASK)? {
        Xmit::Nat => crate::spec::Forward::Nat,
        Xmit::Dr => crate::spec::Forward::Dr,
        Xmit::Tun => crate::spec::Forward::Tun,
    };
    if let Some(rid) = cx.services.real_of(sid, s.daddr, s.vport, s.dport) {
        return Some((rid, cx.services[rid].available));
    }
    let hop = next_hop(&cx.cfg.neighbors, s.daddr).copied();
    Some((cx.services.add_unbound_real(sid, s.daddr, s.dport, forward, hop), false))
}

/// A connection to create from a sync entry.
struct Created<A> {
    key: FlowKey<A>,
    h: u64,
    sid: ServiceId,
    rid: RealId,
    state: SyncedState,
    deadline: u64,
}

/// Put the connection in the table and bind it, as `new_conn` does for a first packet.
fn create<A: Family>(t: &mut FamilyTables<A>, other: &mut dyn Evict, cx: &mut Ctx, n: Created<A>) -> SyncOutcome {
    if cx.live >= cx.cfg.max_connections && !evict_one(t, other, cx) {
        return SyncOutcome::TableFull;
    }
    let r = &cx.services[n.rid];
    let mut c = Conn {
        cip: n.key.src,
        vip: n.key.dst,
        deadline: n.deadline as u32,
        real: n.rid,
        template: NO_TEMPLATE,
        cport: n.key.sport,
        vport: n.key.dport,
        service: n.sid,
        proto: n.key.proto,
        state: TcpState::None as u8,
        flags: Xmit::bind(r.forward) as u8 | flags::INACTIVE,
        in_port: 0,
        client_mac: [0; 6],
        sync_pkts: cx.cfg.sync.threshold,
        trust: trust::VERIFIED,
        synced: 0,
    };
    let reply_hash = if c.xmit() == Xmit::Nat {
        c.flags |= flags::REPLY_KEY;
        let rk = conn_key(cx, &c, true);
        let rh = rk.hash(&cx.hasher);
        if find_conn(t, cx, rh, &rk).is_some() {
            return SyncOutcome::NatClash;
        }
        Some(rh)
    } else {
        None
    };
    let Some(ch) = t.conns.alloc(c) else {
        return SyncOutcome::TableFull;
    };
    if !index_conn(t, cx, ch, n.h, reply_hash) {
        t.conns.free(ch);
        return SyncOutcome::TableFull;
    }
    verify::admitted(t, &c);
    bind_real(cx, &mut t.templates, n.rid, Holder::conn(&c));
    if n.state.established {
        set_state(cx, &mut c, n.state.number, true);
    } else {
        c.state = n.state.number;
    }
    *t.conns.get_mut(ch) = c;
    SyncOutcome::Installed
}

/// A persistence template of service `sid`.
fn template<A: Family>(
    t: &mut FamilyTables<A>,
    cx: &mut Ctx,
    s: &SyncConn,
    sid: ServiceId,
    cip: A,
    vip: A,
) -> SyncOutcome {
    if cx.services[sid].spec.persistence == 0 {
        return SyncOutcome::NoService;
    }
    // A fwmark template covers the mark (IPVS sends the mark as its address).
    let vip = if cx.services[sid].spec.fwmark != 0 { A::default() } else { vip };
    let Some((rid, bound)) = real_for(cx, sid, s) else {
        return SyncOutcome::Unsupported;
    };
    let secs =
        if s.timeout == 0 { cx.services[sid].spec.persistence as u64 } else { (s.timeout as u64).min(MAX_TIMEOUT_S) };
    match synced_template(t, cx, sid, cip, vip, rid, cx.now + secs * 1000) {
        None => SyncOutcome::TableFull,
        Some(false) => SyncOutcome::Updated,
        Some(true) if bound => SyncOutcome::Installed,
        Some(true) => SyncOutcome::Unbound,
    }
}
