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
//! The table, the timers, the miss path and the remapping on `update()` are `locality`'s
//! `Locality`; this module is the policy on a hit and the sets' storage ([`Replicas`]).
//!
//! Deviation from the kernel: entry and set-member storage is preallocated (`CAPACITY`
//! entries, twice as many members); when it runs out, a new entry or member is not recorded
//! (the kernel's allocation-failure path). Removed reals leave their sets at `update()`.

pub use crate::locality::DEFAULT_EXPIRATION_MS;
use crate::locality::{locality_overloaded, Locality, Policy, CAPACITY, NIL};
use crate::overhead::{least, overhead_per_weight, Ratio};
use crate::wlc::wlc_pick;
use crate::Dest;
use std::net::IpAddr;

const POOL_CAPACITY: usize = CAPACITY * 2;

/// An entry's set of reals: a chain in the [`Replicas`] pool, newest first.
#[derive(Debug, Clone, Copy)]
pub struct DestSet {
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

/// The set's members that are still in `dests`, with their indexes.
fn members<'a>(pool: &'a Pool, set: &DestSet, dests: &'a [Dest]) -> impl Iterator<Item = (usize, &'a Dest)> {
    pool.iter(set).filter_map(|i| dests.get(i as usize).map(|d| (i as usize, d)))
}

/// `ip_vs_dest_set_min`: weighted least-connection member (weight > 0, not flagged).
fn set_min(pool: &Pool, set: &DestSet, dests: &[Dest]) -> Option<usize> {
    least(members(pool, set, dests).filter(|(_, d)| d.available()), overhead_per_weight)
}

/// `ip_vs_dest_set_max`: weighted most-loaded member with weight > 0 (flagged or not): the
/// first with the least `weight / overhead` (the kernel's `moh * w < doh * w_most`, as is).
fn set_max(pool: &Pool, set: &DestSet, dests: &[Dest]) -> Option<usize> {
    let weighted = members(pool, set, dests).filter(|(_, d)| d.weight > 0);
    least(weighted, |d| Ratio::new(u64::from(d.weight), d.overhead()))
}

/// lblcr: a `Locality` scheduler whose entries hold a set of reals.
pub type Lblcr = Locality<Replicas>;

/// lblcr's policy: the pool of set members, and the expiration after which an unmodified set
/// loses its most loaded member.
#[derive(Debug)]
pub struct Replicas {
    pool: Pool,
    expiration: u64,
}

impl Policy for Replicas {
    const NAME: &'static str = "lblcr";
    type Payload = DestSet;

    fn with_expiration(expiration_ms: u64) -> Self {
        Replicas { pool: Pool::new(), expiration: expiration_ms }
    }

    fn remap(&mut self, set: &mut DestSet, map: &[u32]) {
        let pool = &mut self.pool;
        pool.remove_where(set, |d| map.get(d as usize).copied().unwrap_or(NIL) == NIL, false);
        let mut i = set.head;
        while i != NIL {
            let e = &mut pool.elems[i as usize];
            e.dest = map[e.dest as usize];
            i = e.next;
        }
    }

    fn fresh(&mut self, pick: usize, now_ms: u64) -> DestSet {
        let mut set = DestSet { head: NIL, size: 0, lastmod: now_ms };
        self.pool.insert(&mut set, pick as u32, false, now_ms);
        set
    }

    fn free(&mut self, set: &mut DestSet) {
        self.pool.erase_all(set);
    }

    fn hit(&mut self, set: &mut DestSet, dests: &[Dest], now_ms: u64) -> Option<usize> {
        let pool = &mut self.pool;
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
        Some(pick)
    }
}

impl Lblcr {
    /// The set cached for destination `addr`, newest first (diagnostics and tests).
    pub fn dest_set(&self, addr: IpAddr) -> Option<Vec<usize>> {
        let set = self.payload(addr)?;
        Some(self.policy.pool.iter(set).map(|d| d as usize).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;

    #[test]
    fn destination_sticks_then_replicates() {
        let (mut s, d) = updated(Lblcr::new(), &[2, 2, 2]);
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
        let (mut s, d) = updated(Lblcr::new(), &[2, 2]);
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
        let (mut s, d) = updated(Lblcr::new(), &[1, 1]);
        for i in 0..100 {
            s.schedule(&d, &to(i), 0);
        }
        assert_eq!(s.entries(), 100);
        s.schedule(&d, &to(1000), DEFAULT_EXPIRATION_MS + 31 * MIN);
        assert_eq!(s.entries(), 1);
        let used = s.policy.pool.elems.len();
        for i in 0..99 {
            s.schedule(&d, &to(i), DEFAULT_EXPIRATION_MS + 32 * MIN);
        }
        assert_eq!(s.policy.pool.elems.len(), used, "freed members are reused");
    }

    #[test]
    fn removed_members_leave_sets() {
        let (mut s, d) = updated(Lblcr::new(), &[1, 1]);
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
