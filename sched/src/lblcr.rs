//! lblcr — locality-based least connection with replication (IPVS `ip_vs_lblcr.c`).
//!
//! Invariants:
//! - A cache maps a flow's destination address to an ordered *set* of reals (newest first) and
//!   the set's last-modified time; GC of whole entries is the same as lblc's (see `locality`).
//! - On a hit (last use = now): `n` = the set's weighted-least-connection real among those with
//!   weight > 0 and not flagged overloaded. If the set has more than one real and was not
//!   modified for the expiration time (24 h), its weighted-most-loaded real is removed (set
//!   modified now). If `n` exists and is not "overloaded" in lblc's sense (`active > weight`
//!   while some real has `2 * active < weight`), `n` is returned. Otherwise the service-wide wlc
//!   choice is returned and added to the set (if not already in it; modified now).
//! - On a miss the wlc choice is returned and cached as a one-real set.
//! - `update()` re-finds set members by address and port and drops members whose real was
//!   removed (the kernel keeps them, unavailable, until they are erased; they can never be
//!   chosen either way).
//!
//! Deviation from the kernel: entry and set-member storage is preallocated (`CAPACITY`
//! entries, twice as many members); when it runs out, a new entry or member is not recorded
//! (the kernel's allocation-failure path). Removed reals leave their sets at `update()`.

use crate::dest::index_map;
use crate::lblc::locality_overloaded;
pub use crate::locality::DEFAULT_EXPIRATION_MS;
use crate::locality::{AddrTable, CAPACITY, NIL};
use crate::wlc::wlc_pick;
use crate::{Dest, Flow, Scheduler};
use std::net::IpAddr;

const POOL_CAPACITY: usize = CAPACITY * 2;

#[derive(Debug, Clone, Copy)]
struct DestSet {
    head: u32,
    size: u32,
    lastmod: u64,
}

#[derive(Debug, Clone, Copy)]
struct Elem {
    dest: u32,
    next: u32,
}

/// Preallocated storage for set members, chained per set.
#[derive(Debug)]
struct Pool {
    elems: Vec<Elem>,
    free: u32,
}

impl Pool {
    fn new() -> Self {
        Pool { elems: Vec::with_capacity(POOL_CAPACITY), free: NIL }
    }

    fn alloc(&mut self, e: Elem) -> Option<u32> {
        if self.free != NIL {
            let i = self.free;
            self.free = self.elems[i as usize].next;
            self.elems[i as usize] = e;
            Some(i)
        } else if self.elems.len() < POOL_CAPACITY {
            self.elems.push(e);
            Some((self.elems.len() - 1) as u32)
        } else {
            None
        }
    }

    fn release(&mut self, i: u32) {
        self.elems[i as usize].next = self.free;
        self.free = i;
    }

    fn iter(&self, set: &DestSet) -> SetIter<'_> {
        SetIter { pool: self, i: set.head }
    }

    fn contains(&self, set: &DestSet, dest: u32) -> bool {
        self.iter(set).any(|d| d == dest)
    }

    /// `ip_vs_dest_set_insert`: add at the head (unless `check` finds it present).
    fn insert(&mut self, set: &mut DestSet, dest: u32, check: bool, now: u64) {
        if check && self.contains(set, dest) {
            return;
        }
        if let Some(i) = self.alloc(Elem { dest, next: set.head }) {
            set.head = i;
            set.size += 1;
            set.lastmod = now;
        }
    }

    /// Remove the members for which `f` holds; returns how many.
    fn remove_where(&mut self, set: &mut DestSet, mut f: impl FnMut(u32) -> bool, once: bool) -> u32 {
        let mut removed = 0;
        let mut prev = NIL;
        let mut i = set.head;
        while i != NIL {
            let Elem { dest, next } = self.elems[i as usize];
            if f(dest) {
                if prev == NIL {
                    set.head = next;
                } else {
                    self.elems[prev as usize].next = next;
                }
                self.release(i);
                set.size -= 1;
                removed += 1;
                if once {
                    break;
                }
            } else {
                prev = i;
            }
            i = next;
        }
        removed
    }

    fn erase_all(&mut self, set: &mut DestSet) {
        self.remove_where(set, |_| true, false);
    }
}

struct SetIter<'a> {
    pool: &'a Pool,
    i: u32,
}

impl Iterator for SetIter<'_> {
    type Item = u32;
    fn next(&mut self) -> Option<u32> {
        if self.i == NIL {
            return None;
        }
        let e = self.pool.elems[self.i as usize];
        self.i = e.next;
        Some(e.dest)
    }
}

/// `ip_vs_dest_set_min`: weighted least-connection member (weight > 0, not flagged).
fn set_min(pool: &Pool, set: &DestSet, dests: &[Dest]) -> Option<usize> {
    let mut it = pool.iter(set).filter_map(|i| dests.get(i as usize).map(|d| (i as usize, d)));
    let (mut least, mut loh) =
        it.by_ref().find_map(|(i, d)| (!d.is_overloaded() && d.weight > 0).then(|| (i, d.overhead())))?;
    for (i, d) in it {
        if d.is_overloaded() {
            continue;
        }
        let doh = d.overhead();
        if u128::from(loh) * u128::from(d.weight) > u128::from(doh) * u128::from(dests[least].weight) {
            least = i;
            loh = doh;
        }
    }
    Some(least)
}

/// `ip_vs_dest_set_max`: weighted most-loaded member with weight > 0.
fn set_max(pool: &Pool, set: &DestSet, dests: &[Dest]) -> Option<usize> {
    let mut it = pool.iter(set).filter_map(|i| dests.get(i as usize).map(|d| (i as usize, d)));
    let (mut most, mut moh) = it.by_ref().find_map(|(i, d)| (d.weight > 0).then(|| (i, d.overhead())))?;
    for (i, d) in it {
        let doh = d.overhead();
        if d.weight > 0 && u128::from(moh) * u128::from(d.weight) < u128::from(doh) * u128::from(dests[most].weight) {
            most = i;
            moh = doh;
        }
    }
    Some(most)
}

#[derive(Debug)]
pub struct Lblcr {
    table: AddrTable<DestSet>,
    pool: Pool,
    keys: Vec<(IpAddr, u16)>,
    expiration: u64,
}

impl Default for Lblcr {
    fn default() -> Self {
        Self::new()
    }
}

impl Lblcr {
    pub fn new() -> Self {
        Self::with_expiration(DEFAULT_EXPIRATION_MS)
    }

    /// With a non-default `lblcr_expiration` (milliseconds).
    pub fn with_expiration(expiration_ms: u64) -> Self {
        Lblcr { table: AddrTable::new(expiration_ms), pool: Pool::new(), keys: Vec::new(), expiration: expiration_ms }
    }

    /// Number of cached destination addresses.
    pub fn entries(&self) -> usize {
        self.table.len()
    }

    /// The set cached for destination `addr`, newest first (diagnostics and tests).
    pub fn dest_set(&self, addr: IpAddr) -> Option<Vec<usize>> {
        let i = self.table.get(addr)?;
        let set = self.table.entry(i).payload;
        Some(self.pool.iter(&set).map(|d| d as usize).collect())
    }
}

impl Scheduler for Lblcr {
    fn name(&self) -> &'static str {
        "lblcr"
    }

    fn update(&mut self, dests: &[Dest]) {
        let map = index_map(&self.keys, dests);
        let pool = &mut self.pool;
        self.table.for_each_mut(|set| {
            pool.remove_where(set, |d| map.get(d as usize).copied().unwrap_or(NIL) == NIL, false);
            let mut i = set.head;
            while i != NIL {
                let e = &mut pool.elems[i as usize];
                e.dest = map[e.dest as usize];
                i = e.next;
            }
        });
        self.keys = dests.iter().map(Dest::key).collect();
    }

    fn schedule(&mut self, dests: &[Dest], flow: &Flow, now_ms: u64) -> Option<usize> {
        let pool = &mut self.pool;
        self.table.run_timers(now_ms, |set| pool.erase_all(set));
        let addr = flow.dst;
        if let Some(e) = self.table.get(addr) {
            let en = self.table.entry_mut(e);
            en.lastuse = now_ms;
            let set = &mut en.payload;
            let dest = set_min(pool, set, dests);
            if set.size > 1 && now_ms > set.lastmod.saturating_add(self.expiration) {
                if let Some(m) = set_max(pool, set, dests) {
                    if pool.remove_where(set, |d| d as usize == m, true) > 0 {
                        set.lastmod = now_ms;
                    }
                }
            }
            if let Some(n) = dest {
                if !locality_overloaded(&dests[n], dests) {
                    return Some(n);
                }
            }
            let pick = wlc_pick(dests)?;
            pool.insert(set, pick as u32, true, now_ms);
            return Some(pick);
        }
        let pick = wlc_pick(dests)?;
        let mut set = DestSet { head: NIL, size: 0, lastmod: now_ms };
        pool.insert(&mut set, pick as u32, false, now_ms);
        if self.table.insert(addr, now_ms, set).is_none() {
            pool.erase_all(&mut set);
        }
        Some(pick)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;

    const MIN: u64 = 60_000;

    fn to(dst: u32) -> Flow {
        flow([192, 0, 2, 1], 1234, (0xcb00_7100 + dst).to_be_bytes())
    }

    #[test]
    fn destination_sticks_then_replicates() {
        let d = dests(&[2, 2, 2]);
        let mut s = Lblcr::new();
        s.update(&d);
        assert_eq!(s.schedule(&d, &to(1), 0), Some(0));
        set_conns(&d[0], 0, 10); // inactive load changes wlc, not the cache
        assert_eq!(s.schedule(&d, &to(1), 1), Some(0));
        // A overloaded in lblcr's sense (3 > 2, and B has 0*2 < 2): add the wlc choice
        set_conns(&d[0], 3, 0);
        assert_eq!(s.schedule(&d, &to(1), 2), Some(1));
        assert_eq!(s.dest_set(to(1).dst), Some(vec![1, 0]));
        // now the set's least loaded member is used
        set_conns(&d[1], 1, 0);
        assert_eq!(s.schedule(&d, &to(1), 3), Some(1));
        // flagged overloaded members are skipped inside the set
        set_overloaded(&d[1], true);
        set_conns(&d[0], 0, 0);
        assert_eq!(s.schedule(&d, &to(1), 4), Some(0));
        assert_eq!(s.entries(), 1);
    }

    #[test]
    fn set_shrinks_after_expiration() {
        let d = dests(&[2, 2]);
        let mut s = Lblcr::new();
        s.update(&d);
        s.schedule(&d, &to(1), 0);
        set_conns(&d[0], 3, 0);
        assert_eq!(s.schedule(&d, &to(1), 1000), Some(1));
        assert_eq!(s.dest_set(to(1).dst).unwrap().len(), 2);
        set_conns(&d[0], 0, 0);
        set_conns(&d[1], 2, 0);
        // keep using it: before lastmod + 24 h the set stays
        let mut t = 1000;
        while t + 30 * MIN <= 1000 + DEFAULT_EXPIRATION_MS {
            t += 30 * MIN;
            assert_eq!(s.schedule(&d, &to(1), t), Some(0));
        }
        assert_eq!(s.dest_set(to(1).dst).unwrap().len(), 2);
        // after: the most loaded member (B) is dropped
        assert_eq!(s.schedule(&d, &to(1), 1001 + DEFAULT_EXPIRATION_MS), Some(0));
        assert_eq!(s.dest_set(to(1).dst), Some(vec![0]));
    }

    #[test]
    fn entries_expire_and_members_are_freed() {
        let d = dests(&[1, 1]);
        let mut s = Lblcr::new();
        s.update(&d);
        for i in 0..100 {
            s.schedule(&d, &to(i), 0);
        }
        assert_eq!(s.entries(), 100);
        s.schedule(&d, &to(1000), DEFAULT_EXPIRATION_MS + 31 * MIN);
        assert_eq!(s.entries(), 1);
        let used = s.pool.elems.len();
        for i in 0..99 {
            s.schedule(&d, &to(i), DEFAULT_EXPIRATION_MS + 32 * MIN);
        }
        assert_eq!(s.pool.elems.len(), used, "freed members are reused");
    }

    #[test]
    fn removed_members_leave_sets() {
        let d = dests(&[1, 1]);
        let mut s = Lblcr::new();
        s.update(&d);
        assert_eq!(s.schedule(&d, &to(1), 0), Some(0));
        let d2 = vec![d[1].clone()];
        s.update(&d2);
        assert_eq!(s.dest_set(to(1).dst), Some(vec![]));
        assert_eq!(s.schedule(&d2, &to(1), 1), Some(0));
        assert_eq!(s.dest_set(to(1).dst), Some(vec![0]));
        let z = dests(&[0]);
        s.update(&z);
        assert_eq!(s.schedule(&z, &to(1), 2), None);
    }
}
