//! Listing connections for people and tests (`xvs ctl -c`, `xvs demo`): slow path.
//!
//! Owns: [`ConnInfo`], [`ListCursor`] and reading the tables into them. Must not touch:
//! anything (it only reads).
//!
//! Invariant: a page ([`collect_from`]) reads at most its `max` entries plus the free
//! slots between them, so a poll loop can serve a listing of millions a page at a time
//! between batches. Pages are read at different moments: a connection made or gone
//! meanwhile may be missed or listed twice, as with `ipvsadm -Lc` reading /proc in parts.

use std::net::IpAddr;

use xvs_proto::{PROTO_SCTP, PROTO_TCP};

use super::Ctx;
use crate::conn::{Conn, FamilyTables};
use crate::family::Family;
use crate::spec::Forward;
use crate::store::Expiring;
use crate::tcp_state::TcpState;

/// A connection as listed by `xvs ctl -c` and the tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnInfo {
    pub proto: u8,
    pub client: IpAddr,
    pub cport: u16,
    pub vip: IpAddr,
    pub vport: u16,
    pub real: IpAddr,
    pub rport: u16,
    pub state: &'static str,
    pub expires_ms: u64,
    pub forward: Forward,
    /// Verified (README "Defences"): never evicted for another connection.
    pub verified: bool,
}

/// Where the next page of a paged listing starts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ListCursor {
    pub(super) v6: bool,
    pub(super) handle: u32,
}

fn info<A: Family>(cx: &Ctx, c: &Conn<A>) -> ConnInfo {
    let r = &cx.services[c.real];
    let state = match c.proto {
        PROTO_TCP => TcpState::from_u8(c.state).name(),
        PROTO_SCTP => crate::sctp_state::SctpState::from_u8(c.state).name(),
        _ => "UDP",
    };
    ConnInfo {
        proto: c.proto,
        client: c.cip.to_ip(),
        cport: c.cport,
        vip: c.vip.to_ip(),
        vport: c.vport,
        real: r.addr,
        rport: r.port_for(c.vport),
        state,
        expires_ms: c.deadline(cx.now).saturating_sub(cx.now),
        forward: c.xmit().forward(),
        verified: c.is_verified(),
    }
}

/// Append `t`'s live connections to `out` until it holds `max`.
pub(super) fn collect<A: Family>(t: &FamilyTables<A>, cx: &Ctx, max: usize, out: &mut Vec<ConnInfo>) {
    for (_, c) in t.conns.iter_live() {
        if out.len() >= max {
            return;
        }
        out.push(info(cx, c));
    }
}

/// Append `t`'s live connections from slot `from` on until `out` holds `max`: the slot
/// to go on from, or `None` when `t` has no more.
pub(super) fn collect_from<A: Family>(
    t: &FamilyTables<A>,
    cx: &Ctx,
    from: u32,
    max: usize,
    out: &mut Vec<ConnInfo>,
) -> Option<u32> {
    for h in from..t.conns.slots() {
        if out.len() >= max {
            return Some(h);
        }
        if t.conns.is_live(h) {
            out.push(info(cx, t.conns.get(h)));
        }
    }
    None
}
