//! Removing connections: the reaper driven by the timing wheels, and the one way a
//! connection leaves the table.
//!
//! Owns: [`reap`] (bounded expiry work per call), [`remove_conn`] and [`expire_conn`].
//! Must not touch: per-real counters directly (`bind::unbind_real` does), or templates'
//! internals (`persist::template_due` decides about a due template).
//!
//! Invariant: a removed connection is out of the index (both keys), unbound from its real
//! and template, and its slot is free, in one step.
//!
//! Memory: a mass expiry is a run of cache misses (each connection's index slots, and the
//! entries of the cluster members a backward shift rehashes). The reaper looks [`AHEAD`]
//! due connections ahead and starts their index loads together, and `unindex_conn` starts
//! the cluster's entry loads before the shift, so the misses overlap. The key hashes the
//! look ahead computes are kept for the removal, not computed twice.

use super::bind::{unbind_real, Holder};
use super::flow::{conn_key_hashes, unindex_conn};
use super::persist::template_due;
use super::{verify, Ctx};
use crate::conn::FamilyTables;
use crate::family::Family;

/// How many due connections the reaper looks ahead at: their index slots are loaded
/// together while the ones before them are removed.
const AHEAD: usize = 8;

/// Expire what is due in `t`, at most `budget` wheel steps.
pub(super) fn reap<A: Family>(t: &mut FamilyTables<A>, cx: &mut Ctx, budget: &mut u32) {
    let mut ahead = [0u32; AHEAD];
    let mut hashes = [(0u64, 0u64); AHEAD];
    'conns: loop {
        let n = t.conns.peek_due(&mut ahead[..(*budget as usize).min(AHEAD)]);
        if n == 0 {
            break;
        }
        for (&h, k) in ahead[..n].iter().zip(hashes.iter_mut()) {
            *k = prefetch_keys(t, cx, h);
        }
        for i in 0..n {
            match t.conns.next_expired(budget) {
                // The wheel hands back what it showed, in order, but for an entry whose
                // deadline moved (re-armed, not expired): then the next one is another.
                Some(h) if h == ahead[i] => remove_hashed(t, cx, h, hashes[i]),
                Some(h) => remove_conn(t, cx, h),
                None => break 'conns,
            }
            cx.stats.conns_expired += 1;
        }
    }
    while let Some(h) = t.templates.next_expired(budget) {
        template_due(t, cx, h);
    }
}

/// Start loading the index slots of connection `h`'s keys; their hashes
/// (`conn_key_hashes`).
fn prefetch_keys<A: Family>(t: &FamilyTables<A>, cx: &Ctx, h: u32) -> (u64, u64) {
    let k = conn_key_hashes(cx, t.conns.get(h));
    t.index.prefetch(k.0);
    if k.1 != 0 {
        t.index.prefetch(k.1);
    }
    k
}

/// Remove connection `h` and count it expired.
pub(super) fn expire_conn<A: Family>(t: &mut FamilyTables<A>, cx: &mut Ctx, h: u32) {
    remove_conn(t, cx, h);
    cx.stats.conns_expired += 1;
}

/// Remove connection `h`: its index keys, its hold on its real and its template.
pub(super) fn remove_conn<A: Family>(t: &mut FamilyTables<A>, cx: &mut Ctx, h: u32) {
    let k = conn_key_hashes(cx, t.conns.get(h));
    remove_hashed(t, cx, h, k);
}

/// [`remove_conn`] of a connection whose key hashes (`conn_key_hashes`) are `k`.
fn remove_hashed<A: Family>(t: &mut FamilyTables<A>, cx: &mut Ctx, h: u32, k: (u64, u64)) {
    let c = *t.conns.get(h);
    debug_assert_eq!(k, conn_key_hashes(cx, &c), "connection {h}'s keys changed since they were hashed");
    unindex_conn(t, cx, h, k);
    unbind_real(cx, &mut t.templates, c.real, Holder::conn(&c));
    verify::removed(t, &c);
    t.conns.free(h);
}
