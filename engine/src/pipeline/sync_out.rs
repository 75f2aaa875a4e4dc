//! Deciding that a connection is synced now, and recording it (IPVS's
//! `ip_vs_sync_conn_needed` and `ip_vs_sync_conn`).
//!
//! Owns: a connection's sync fields (`sync_pkts`, `synced`, the last synced state in the
//! high nibble of `flags`) and the translation of a connection and its template into
//! IPVS's sync entry. Must not touch: connection state, timers, counters other than the
//! sync ones.
//!
//! Invariants:
//! - Only request-direction packets count (the kernel syncs from `ip_vs_in`), and only
//!   while the engine is a sync master.
//! - A TCP connection is synced only in ESTABLISHED, FIN_WAIT, CLOSE, CLOSE_WAIT or
//!   TIME_WAIT; a change to one of those but ESTABLISHED is synced at once; otherwise on
//!   the `threshold`-th packet and every `period` packets after, and with a refresh
//!   period only when the timeout moved by more than `min(refresh, max(timeout/2, 10 s))`.
//! - A synced connection's template, if it has one, is synced right after it.

use xvs_proto::ipvs_sync::{conn_flags, SyncConn};
use xvs_proto::{PROTO_SCTP, PROTO_TCP};

use super::Ctx;
use crate::conn::{flags, Conn, FamilyTables, Xmit, NO_TEMPLATE};
use crate::family::Family;
use crate::sctp_state::SctpState;
use crate::tcp_state::TcpState;

/// The last synced state lives in the high nibble of `Conn::flags`.
const SYNCED_STATE_SHIFT: u8 = 4;
/// `Conn::synced` counts in units of 2^10 ms (wrapping every ~18 h).
const SYNCED_UNIT_SHIFT: u32 = 10;

/// A request packet of connection `c` was handled (its state and deadline are set) on a
/// sync master: record it, and its template, if IPVS would sync it now. Never inlined:
/// the packet path of a director that does not sync keeps only the caller's flag test.
#[inline(never)]
pub(super) fn after_request<A: Family>(t: &FamilyTables<A>, cx: &mut Ctx, c: &mut Conn<A>) {
    let p = cx.cfg.sync;
    c.sync_pkts =
        if p.period > 0 { ((c.sync_pkts as u16 + 1) % p.period as u16) as u8 } else { c.sync_pkts.saturating_add(1) };
    if !needed(cx, c) {
        return;
    }
    record(cx, conn_entry(cx, c));
    if c.template != NO_TEMPLATE {
        let tp = *t.templates.get(c.template);
        if tp.linked {
            let svc = &cx.services[tp.service];
            let r = &cx.services[tp.real];
            let entry = SyncConn {
                protocol: svc.spec.proto,
                flags: conn_flags::TEMPLATE | fwd_flags(Xmit::bind(r.forward)) | conn_flags::INACTIVE,
                state: 0,
                cport: 0,
                vport: svc.spec.port,
                dport: r.port,
                fwmark: svc.spec.fwmark,
                timeout: seconds_left(tp.deadline, cx.now),
                caddr: tp.client.to_ip(),
                vaddr: tp.vip.to_ip(),
                daddr: r.addr,
            };
            record(cx, entry);
        }
    }
}

fn record(cx: &mut Ctx, entry: SyncConn) {
    // IPVS's sync messages hold addresses of one family: a connection tunnelled to a real
    // of the other family is not synced (counted).
    if entry.daddr.is_ipv4() != entry.caddr.is_ipv4() {
        cx.stats.sync.mixed_family += 1;
        return;
    }
    if cx.sync.push(entry) {
        cx.stats.sync.recorded += 1;
    } else {
        cx.stats.sync.out_full += 1;
    }
}

/// IPVS's decision, on `c` whose packet counter was just moved.
#[inline]
fn needed<A>(cx: &Ctx, c: &mut Conn<A>) -> bool {
    let p = cx.cfg.sync;
    let state = c.state;
    // IPVS syncs TCP and SCTP connections in (and into) these states only, at once on a
    // change to any but ESTABLISHED.
    let synced: &[u8] = match c.proto {
        PROTO_TCP => &[
            TcpState::Established as u8,
            TcpState::FinWait as u8,
            TcpState::Close as u8,
            TcpState::CloseWait as u8,
            TcpState::TimeWait as u8,
        ],
        PROTO_SCTP => &[
            SctpState::Established as u8,
            SctpState::ShutdownSent as u8,
            SctpState::ShutdownReceived as u8,
            SctpState::ShutdownAckSent as u8,
            SctpState::Closed as u8,
        ],
        _ => &[],
    };
    if !synced.is_empty() {
        if !synced.contains(&state) {
            return false;
        }
        let force = state != c.flags >> SYNCED_STATE_SHIFT;
        if force && state != synced[0] {
            return set(c);
        }
    }
    if p.refresh_period_ms > 0 {
        let timeout = (c.deadline.wrapping_sub(cx.now as u32)) as u64;
        let n = endtime(c.deadline);
        let diff = (n.wrapping_sub(c.synced) as i16).unsigned_abs() as u64;
        let min_diff = (timeout / 2).max(10_000);
        if diff << SYNCED_UNIT_SHIFT < (p.refresh_period_ms as u64).min(min_diff) {
            return false;
        }
    }
    if p.period > 0 {
        if c.sync_pkts != p.threshold {
            return false;
        }
    } else if p.refresh_period_ms == 0 && c.sync_pkts != p.threshold {
        return false;
    }
    set(c)
}

/// Remember what was synced: the state and the end time.
#[inline]
fn set<A>(c: &mut Conn<A>) -> bool {
    c.flags = (c.flags & 0x0f) | (c.state << SYNCED_STATE_SHIFT);
    c.synced = endtime(c.deadline);
    true
}

#[inline]
fn endtime(deadline: u32) -> u16 {
    (deadline >> SYNCED_UNIT_SHIFT) as u16
}

/// Connection `c` as IPVS's sync entry.
fn conn_entry<A: Family>(cx: &Ctx, c: &Conn<A>) -> SyncConn {
    let r = &cx.services[c.real];
    let mut fl = fwd_flags(c.xmit());
    if c.flags & flags::INACTIVE != 0 {
        fl |= conn_flags::INACTIVE;
    }
    SyncConn {
        protocol: c.proto,
        flags: fl,
        state: c.state as u16,
        cport: c.cport,
        vport: c.vport,
        dport: r.port_for(c.vport),
        fwmark: cx.services[r.service].spec.fwmark,
        timeout: seconds_left(c.deadline, cx.now),
        caddr: c.cip.to_ip(),
        vaddr: c.vip.to_ip(),
        daddr: r.addr,
    }
}

/// IPVS's forwarding-method flag for `x`.
pub(super) fn fwd_flags(x: Xmit) -> u32 {
    match x {
        Xmit::Nat => conn_flags::MASQ,
        Xmit::Dr => conn_flags::DROUTE,
        Xmit::Tun => conn_flags::TUNNEL,
    }
}

/// Whole seconds (rounded up) from `now` to `deadline` (a wheel tick truncated to 32 bits).
fn seconds_left(deadline: u32, now: u64) -> u32 {
    let ms = deadline.wrapping_sub(now as u32);
    // A deadline already passed reads as a huge wrap: treat it as due now.
    if ms > u32::MAX / 2 {
        return 1;
    }
    ms.div_ceil(1000).max(1)
}
