//! Removing connections: the reaper driven by the timing wheels, and the one way a
//! connection leaves the table.
//!
//! Owns: [`reap`] (bounded expiry work per call), [`remove_conn`] and [`expire_conn`].
//! Must not touch: per-real counters directly (`bind::unbind_real` does), or templates'
//! internals (`persist::template_due` decides about a due template).
//!
//! Invariant: a removed connection is out of the index (both keys), unbound from its real
//! and template, and its slot is free, in one step.

use super::bind::{unbind_real, Holder};
use super::flow::unindex_conn;
use super::persist::template_due;
use super::{verify, Ctx};
use crate::conn::FamilyTables;
use crate::family::Family;

/// Expire what is due in `t`, at most `budget` wheel steps.
pub(super) fn reap<A: Family>(t: &mut FamilyTables<A>, cx: &mut Ctx, budget: &mut u32) {
    while let Some(h) = t.conns.next_expired(budget) {
        expire_conn(t, cx, h);
    }
    while let Some(h) = t.templates.next_expired(budget) {
        template_due(t, cx, h);
    }
}

/// Remove connection `h` and count it expired.
pub(super) fn expire_conn<A: Family>(t: &mut FamilyTables<A>, cx: &mut Ctx, h: u32) {
    remove_conn(t, cx, h);
    cx.stats.conns_expired += 1;
}

/// Remove connection `h`: its index keys, its hold on its real and its template.
pub(super) fn remove_conn<A: Family>(t: &mut FamilyTables<A>, cx: &mut Ctx, h: u32) {
    let c = *t.conns.get(h);
    unindex_conn(t, cx, h, &c);
    unbind_real(cx, &mut t.templates, c.real, Holder::conn(&c));
    verify::removed(t, &c);
    t.conns.free(h);
}
