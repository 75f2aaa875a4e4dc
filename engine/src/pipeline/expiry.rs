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
//! Memory: a mass expiry is a run of cache misses (each connection's entry and index
//! slots, and the entries of the cluster members a backward shift rehashes). The reaper
//! works in groups of [`AHEAD`] due connections, one group ahead: it hashes the next
//! group's keys (starting their index loads) and hints the clusters of this group (whose
//! slots were loaded one group earlier, starting the neighbours' entry loads) before it
//! removes this group, so each load has a group's work to arrive in. The key hashes are
//! kept for the removal, not computed twice; a connection the wheel re-armed instead of
//! handing back shifts the ones after it, which are then hashed again.

use super::bind::{unbind_real, Holder};
use super::flow::{conn_key_hashes, unindex_conn};
use super::persist::template_due;
use super::{verify, Ctx};
use crate::conn::FamilyTables;
use crate::family::Family;

/// Due connections per group of the reaper's pipeline: the next group's index slots are
/// loaded while this one is removed.
const AHEAD: usize = 8;

/// Expire what is due in `t`, at most `budget` wheel steps.
///
/// A software pipeline over groups of [`AHEAD`] due connections: the next group's keys
/// are hashed and their index slots loaded while this group's clusters are hinted and
/// its connections removed, so a slot has a whole group's work to arrive in.
pub(super) fn reap<A: Family>(t: &mut FamilyTables<A>, cx: &mut Ctx, budget: &mut u32) {
    if t.conns.has_due() {
        reap_conns(t, cx, budget);
    }
    while let Some(h) = t.templates.next_expired(budget) {
        template_due(t, cx, h);
    }
}

/// The connections of [`reap`] (only called with some due: the look-ahead's buffers are
/// not worth setting up for none, the common case of most batches).
fn reap_conns<A: Family>(t: &mut FamilyTables<A>, cx: &mut Ctx, budget: &mut u32) {
    let mut peeked = [0u32; 2 * AHEAD];
    // The due connections looked at, and their key hashes; the first `ready` carried
    // over from the last group's look.
    let mut ahead = [0u32; 2 * AHEAD];
    let mut hashes = [(0u64, 0u64); 2 * AHEAD];
    let mut ready = 0;
    'conns: loop {
        let n = t.conns.peek_due(&mut peeked[..(*budget as usize).min(2 * AHEAD)]);
        if n == 0 {
            break;
        }
        for (j, &h) in peeked[..n].iter().enumerate() {
            // The wheel offers them in the order it showed them, unless one was re-armed.
            if j >= ready || ahead[j] != h {
                ahead[j] = h;
                hashes[j] = prefetch_keys(t, cx, h);
            }
        }
        let m = n.min(AHEAD);
        for (&h, &k) in ahead[..m].iter().zip(hashes.iter()) {
            hint_clusters(t, h, k);
        }
        for i in 0..m {
            match t.conns.next_expired(budget) {
                // The wheel hands back what it showed, in order, but for an entry whose
                // deadline moved (re-armed, not expired): then the next one is another.
                Some(h) if h == ahead[i] => remove_hashed(t, cx, h, hashes[i]),
                Some(h) => remove_conn(t, cx, h),
                None => break 'conns,
            }
            cx.stats.conns_expired += 1;
        }
        // The next group becomes this one (a whole group's copy: no call to memmove).
        ready = n - m;
        if ready > 0 {
            ahead.copy_within(AHEAD.., 0);
            hashes.copy_within(AHEAD.., 0);
        }
    }
}

/// Hint the entries a removal of `h` (key hashes `k`) will rehash.
fn hint_clusters<A: Family>(t: &FamilyTables<A>, h: u32, k: (u64, u64)) {
    t.index.hint_cluster(k.0, h, false, |o| t.conns.prefetch(o));
    if k.1 != 0 {
        t.index.hint_cluster(k.1, h, true, |o| t.conns.prefetch(o));
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
    // The neighbours the backward shifts will rehash: loaded together, not one by one.
    hint_clusters(t, h, k);
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
