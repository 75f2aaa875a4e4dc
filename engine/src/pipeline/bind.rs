//! Every per-real counter, in one place (IPVS's `ip_vs_bind_dest` / `ip_vs_unbind_dest`).
//!
//! Owns: a real's director-wide active, inactive and persistent counts and its overload
//! flag, the service's and real's `conns` counters, a template's `refs` and the engine's
//! live-connection count — changed only by [`bind_real`], [`unbind_real`] and
//! [`set_tcp_state`] (the one transition between active and inactive). Must not touch:
//! the tables' indexes or wheels, packet counters (`xmit`), or event counters such as
//! `conns_created`/`conns_expired` (their callers count those).
//!
//! Invariants:
//! - A bound connection is in exactly one of its real's active (ESTABLISHED) or inactive
//!   counts, as its `INACTIVE` flag says, from `bind_real` to `unbind_real`.
//! - A connection created through a template holds one of its `refs` for its whole life.
//! - A linked template holds one of its real's persistent count.

use std::sync::atomic::Ordering::Relaxed;

use super::Ctx;
use crate::conn::{flags, Conn, Template, NO_TEMPLATE};
use crate::family::Family;
use crate::ids::RealId;
use crate::store::Store;
use crate::tcp_state::TcpState;

/// What holds a real.
#[derive(Clone, Copy, Debug)]
pub(super) enum Holder {
    /// A connection entry (created inactive), through template handle `template` or
    /// [`NO_TEMPLATE`]; `inactive` is its `INACTIVE` flag when unbound.
    Conn { template: u32, inactive: bool },
    /// A one-packet-scheduled datagram: counted as a connection, holds nothing.
    OnePacket,
    /// A persistence template.
    Template,
}

impl Holder {
    /// The holder that connection `c` is.
    #[inline]
    pub fn conn<A>(c: &Conn<A>) -> Holder {
        Holder::Conn { template: c.template, inactive: c.is_inactive() }
    }
}

/// `holder` takes real `rid`.
#[inline]
pub(super) fn bind_real<A: Family>(cx: &mut Ctx, templates: &mut Store<Template<A>>, rid: RealId, holder: Holder) {
    let r = &mut cx.services[rid];
    match holder {
        Holder::Conn { template, .. } => {
            r.counters.inactive.fetch_add(1, Relaxed);
            r.counters.update_overload(r.upper_threshold, r.lower_threshold);
            r.stats.conns += 1;
            if template != NO_TEMPLATE {
                templates.get_mut(template).refs += 1;
            }
            cx.live += 1;
            cx.bound_since_reap = cx.bound_since_reap.saturating_add(1);
        }
        Holder::OnePacket => {
            r.stats.conns += 1;
        }
        Holder::Template => {
            r.counters.persistent.fetch_add(1, Relaxed);
        }
    }
}

/// `holder` lets go of real `rid`.
#[inline]
pub(super) fn unbind_real<A: Family>(cx: &mut Ctx, templates: &mut Store<Template<A>>, rid: RealId, holder: Holder) {
    let r = &cx.services[rid];
    match holder {
        Holder::Conn { template, inactive } => {
            let counter = if inactive { &r.counters.inactive } else { &r.counters.active };
            counter.fetch_sub(1, Relaxed);
            r.counters.update_overload(r.upper_threshold, r.lower_threshold);
            if template != NO_TEMPLATE {
                let tp = templates.get_mut(template);
                tp.refs = tp.refs.saturating_sub(1);
            }
            cx.live -= 1;
        }
        Holder::OnePacket => {}
        Holder::Template => {
            r.counters.persistent.fetch_sub(1, Relaxed);
        }
    }
}

/// Move bound connection `c` to TCP state `new`; entering or leaving ESTABLISHED moves it
/// between its real's active and inactive counts.
#[inline]
pub(super) fn set_tcp_state<A>(cx: &Ctx, c: &mut Conn<A>, new: TcpState) {
    set_state(cx, c, new as u8, new == TcpState::Established);
}

/// Move bound connection `c` to state number `new` (TCP's or SCTP's), `established` or
/// not: the one place a connection moves between its real's active and inactive counts.
#[inline]
pub(super) fn set_state<A>(cx: &Ctx, c: &mut Conn<A>, new: u8, established: bool) {
    c.state = new;
    let r = &cx.services[c.real];
    match (c.is_inactive(), established) {
        (true, true) => {
            r.counters.inactive.fetch_sub(1, Relaxed);
            r.counters.active.fetch_add(1, Relaxed);
            c.flags &= !flags::INACTIVE;
        }
        (false, false) => {
            r.counters.active.fetch_sub(1, Relaxed);
            r.counters.inactive.fetch_add(1, Relaxed);
            c.flags |= flags::INACTIVE;
        }
        _ => {}
    }
}
