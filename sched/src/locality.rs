//! The destination-address cache shared by lblc and lblcr (IPVS `ip_vs_lblc{,r}.c` tables).
//!
//! Invariants:
//! - 1024 hash buckets (`hash_32(fold(addr), 10)`), chained through a slab of entries that is
//!   allocated once, when the scheduler is built ([`CAPACITY`] entries); inserting never
//!   allocates. When the slab is full an insert fails and the caller goes on without caching,
//!   which is what the kernel does when its `GFP_ATOMIC` allocation fails.
//! - Garbage collection is the kernel's periodic timer, run lazily from the `now_ms` given to
//!   `schedule()`: the first call arms it `CHECK_EXPIRE_INTERVAL` (60 s) ahead; every pending
//!   tick is replayed with the tick's own time. A tick either (every 30th tick without
//!   over-size work) drops every entry unused for the expiration time (24 h), or, when there
//!   are more than `MAX_SIZE` (16384) entries, drops entries unused for 6 minutes, bucket by
//!   bucket from the rover, until `min((n - MAX_SIZE) * 4/3, MAX_SIZE/2)` are gone.
//! - After an idle gap longer than [`MAX_REPLAYED_TICKS`] minutes, only the last
//!   `MAX_REPLAYED_TICKS` ticks are replayed (the skipped ones only advance the full-check
//!   counter): expiry is monotone in time, so the later ticks subsume the skipped ones.

use crate::hash::{fold, hash_32};
use std::net::IpAddr;

pub(crate) const TAB_BITS: u32 = 10;
pub(crate) const TAB_SIZE: usize = 1 << TAB_BITS;
const TAB_MASK: usize = TAB_SIZE - 1;
/// The kernel's `max_size` (entries beyond which the periodic GC works).
pub(crate) const MAX_SIZE: usize = TAB_SIZE * 16;
/// Entries preallocated per table.
pub(crate) const CAPACITY: usize = MAX_SIZE * 4;
pub(crate) const CHECK_EXPIRE_INTERVAL_MS: u64 = 60 * 1000;
pub(crate) const ENTRY_TIMEOUT_MS: u64 = 6 * 60 * 1000;
/// Default of the `lblc_expiration` / `lblcr_expiration` sysctls: one day.
pub const DEFAULT_EXPIRATION_MS: u64 = 24 * 60 * 60 * 1000;
const COUNT_FOR_FULL_EXPIRATION: u64 = 30;
pub(crate) const MAX_REPLAYED_TICKS: u64 = 64;
pub(crate) const NIL: u32 = u32::MAX;

#[derive(Debug, Clone)]
pub(crate) struct Entry<P> {
    pub addr: IpAddr,
    pub lastuse: u64,
    next: u32,
    pub payload: P,
}

#[derive(Debug)]
pub(crate) struct AddrTable<P> {
    buckets: Vec<u32>,
    slab: Vec<Entry<P>>,
    free: u32,
    entries: usize,
    rover: usize,
    counter: u64,
    next_check: Option<u64>,
    expiration: u64,
}

#[inline]
fn bucket_of(addr: IpAddr) -> usize {
    hash_32(fold(addr), TAB_BITS) as usize
}

impl<P> AddrTable<P> {
    pub fn new(expiration: u64) -> Self {
        AddrTable {
            buckets: vec![NIL; TAB_SIZE],
            slab: Vec::with_capacity(CAPACITY),
            free: NIL,
            entries: 0,
            rover: 0,
            counter: 1,
            next_check: None,
            expiration,
        }
    }

    pub fn len(&self) -> usize {
        self.entries
    }

    pub fn get(&self, addr: IpAddr) -> Option<u32> {
        let mut i = self.buckets[bucket_of(addr)];
        while i != NIL {
            let e = &self.slab[i as usize];
            if e.addr == addr {
                return Some(i);
            }
            i = e.next;
        }
        None
    }

    pub fn entry(&self, i: u32) -> &Entry<P> {
        &self.slab[i as usize]
    }

    pub fn entry_mut(&mut self, i: u32) -> &mut Entry<P> {
        &mut self.slab[i as usize]
    }

    /// Add an entry for `addr` (not present) at the head of its bucket; `None` when full.
    pub fn insert(&mut self, addr: IpAddr, now: u64, payload: P) -> Option<u32> {
        let b = bucket_of(addr);
        let e = Entry { addr, lastuse: now, next: self.buckets[b], payload };
        let i = if self.free != NIL {
            let i = self.free;
            self.free = self.slab[i as usize].next;
            self.slab[i as usize] = e;
            i
        } else if self.slab.len() < CAPACITY {
            self.slab.push(e);
            (self.slab.len() - 1) as u32
        } else {
            return None;
        };
        self.buckets[b] = i;
        self.entries += 1;
        Some(i)
    }

    /// Visit every live entry's payload (slow path: remapping after `update()`).
    pub fn for_each_mut(&mut self, mut f: impl FnMut(&mut P)) {
        for b in 0..TAB_SIZE {
            let mut i = self.buckets[b];
            while i != NIL {
                let e = &mut self.slab[i as usize];
                f(&mut e.payload);
                i = e.next;
            }
        }
    }

    /// Drop the entries of bucket `b` for which `stale` holds; returns how many.
    fn sweep_bucket(&mut self, b: usize, stale: impl Fn(&Entry<P>) -> bool, free: &mut impl FnMut(&mut P)) -> usize {
        let mut removed = 0;
        let mut prev = NIL;
        let mut i = self.buckets[b];
        while i != NIL {
            let next = self.slab[i as usize].next;
            if stale(&self.slab[i as usize]) {
                free(&mut self.slab[i as usize].payload);
                if prev == NIL {
                    self.buckets[b] = next;
                } else {
                    self.slab[prev as usize].next = next;
                }
                self.slab[i as usize].next = self.free;
                self.free = i;
                self.entries -= 1;
                removed += 1;
            } else {
                prev = i;
            }
            i = next;
        }
        removed
    }

    fn full_check(&mut self, now: u64, free: &mut impl FnMut(&mut P)) {
        let exp = self.expiration;
        let mut j = self.rover;
        for _ in 0..TAB_SIZE {
            j = (j + 1) & TAB_MASK;
            self.sweep_bucket(j, |e| now >= e.lastuse.saturating_add(exp), free);
        }
        self.rover = j;
    }

    fn check_expire(&mut self, now: u64, free: &mut impl FnMut(&mut P)) {
        if self.counter % COUNT_FOR_FULL_EXPIRATION == 0 {
            self.full_check(now, free);
            self.counter = 1;
            return;
        }
        if self.entries <= MAX_SIZE {
            self.counter += 1;
            return;
        }
        let goal = ((self.entries - MAX_SIZE) * 4 / 3).min(MAX_SIZE / 2);
        let mut goal = goal as i64;
        let mut j = self.rover;
        for _ in 0..TAB_SIZE {
            j = (j + 1) & TAB_MASK;
            goal -= self.sweep_bucket(j, |e| now >= e.lastuse.saturating_add(ENTRY_TIMEOUT_MS), free) as i64;
            if goal <= 0 {
                break;
            }
        }
        self.rover = j;
    }

    /// Replay the periodic GC timer up to `now`. `free` releases a dropped entry's payload.
    pub fn run_timers(&mut self, now: u64, mut free: impl FnMut(&mut P)) {
        let next = *self.next_check.get_or_insert(now.saturating_add(CHECK_EXPIRE_INTERVAL_MS));
        if now < next {
            return;
        }
        let pending = (now - next) / CHECK_EXPIRE_INTERVAL_MS + 1;
        let mut t = next;
        if pending > MAX_REPLAYED_TICKS {
            let skip = pending - MAX_REPLAYED_TICKS;
            self.counter = (self.counter - 1 + skip) % COUNT_FOR_FULL_EXPIRATION + 1;
            t += skip * CHECK_EXPIRE_INTERVAL_MS;
        }
        while t <= now {
            self.check_expire(t, &mut free);
            t += CHECK_EXPIRE_INTERVAL_MS;
        }
        self.next_check = Some(t);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(i: u32) -> IpAddr {
        IpAddr::from((0xc000_0000u32 + i).to_be_bytes())
    }

    #[test]
    fn insert_get_reuse() {
        let mut t: AddrTable<u32> = AddrTable::new(DEFAULT_EXPIRATION_MS);
        for i in 0..3000 {
            t.insert(a(i), 0, i).unwrap();
        }
        for i in 0..3000 {
            assert_eq!(t.entry(t.get(a(i)).unwrap()).payload, i);
        }
        assert_eq!(t.len(), 3000);
        t.run_timers(0, |_| {});
        // full check at the 30th tick drops everything older than a day
        t.run_timers(DEFAULT_EXPIRATION_MS + 31 * 60_000, |_| {});
        assert_eq!(t.len(), 0);
        assert!(t.get(a(5)).is_none());
        let cap = t.slab.capacity();
        for i in 0..3000 {
            t.insert(a(i), 0, i).unwrap();
        }
        assert_eq!(t.slab.len(), 3000, "freed slots reused");
        assert_eq!(t.slab.capacity(), cap);
    }

    #[test]
    fn full_when_capacity_reached() {
        let mut t: AddrTable<()> = AddrTable::new(DEFAULT_EXPIRATION_MS);
        for i in 0..CAPACITY as u32 {
            assert!(t.insert(a(i), 0, ()).is_some());
        }
        assert!(t.insert(a(CAPACITY as u32), 0, ()).is_none());
    }
}
