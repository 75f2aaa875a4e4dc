//! The destination-address cache shared by lblc and lblcr (IPVS `ip_vs_lblc{,r}.c` tables),
//! and the part of those two schedulers that the kernel writes twice: [`Locality`].
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
//! - [`Locality`] is a whole scheduler around the table: `schedule()` replays the timers,
//!   then on a hit sets the entry's last use to now and lets its [`Policy`] choose (lblc: one
//!   cached real, lblcr: a set); on a miss takes the wlc choice (`None` when there is none)
//!   and caches it as a new entry (not cached when the table is full). `update()` re-finds
//!   the reals of every entry by address and port, through the policy's `remap`.
//!
//! Must not: decide anything on a hit (that is the policy's, in `lblc` / `lblcr`).

use crate::dest::index_map;
use crate::hash::{fold, hash_32};
use crate::wlc::wlc_pick;
use crate::{Dest, Flow, Scheduler};
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

/// What lblc and lblcr keep per destination address, and how they choose on a hit.
pub trait Policy: std::fmt::Debug + Send {
    /// The ipvsadm name.
    const NAME: &'static str;
    /// What an entry holds.
    type Payload: Copy + std::fmt::Debug + Send;
    fn with_expiration(expiration_ms: u64) -> Self;
    /// After `update()`: `map[old index]` is a real's new index, or `NIL` when it is gone.
    fn remap(&mut self, p: &mut Self::Payload, map: &[u32]);
    /// The payload of a new entry whose first real is `pick`.
    fn fresh(&mut self, pick: usize, now_ms: u64) -> Self::Payload;
    /// Release what a dropped (or never inserted) entry holds.
    fn free(&mut self, p: &mut Self::Payload);
    /// A hit (the entry's last use is already `now_ms`): the real to take, if any.
    fn hit(&mut self, p: &mut Self::Payload, dests: &[Dest], now_ms: u64) -> Option<usize>;
}

/// lblc/lblcr's `is_overloaded`: more active connections than weight while some real is below
/// half of its weight.
pub(crate) fn locality_overloaded(d: &Dest, dests: &[Dest]) -> bool {
    d.active() > d.weight && dests.iter().any(|m| u64::from(m.active()) * 2 < u64::from(m.weight))
}

/// A locality-based scheduler: the address table, the reals' keys of the last `update()`, and
/// the policy (see the module doc).
#[derive(Debug)]
pub struct Locality<P: Policy> {
    table: AddrTable<P::Payload>,
    keys: Vec<(IpAddr, u16)>,
    pub(crate) policy: P,
}

impl<P: Policy> Default for Locality<P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<P: Policy> Locality<P> {
    /// With the default expiration (a day).
    pub fn new() -> Self {
        Self::with_expiration(DEFAULT_EXPIRATION_MS)
    }

    /// With a non-default `lblc_expiration` / `lblcr_expiration` (milliseconds).
    pub fn with_expiration(expiration_ms: u64) -> Self {
        Locality { table: AddrTable::new(expiration_ms), keys: Vec::new(), policy: P::with_expiration(expiration_ms) }
    }

    /// Number of cached destination addresses.
    pub fn entries(&self) -> usize {
        self.table.len()
    }

    /// The payload cached for destination `addr`, if any.
    pub(crate) fn payload(&self, addr: IpAddr) -> Option<&P::Payload> {
        Some(&self.table.entry(self.table.get(addr)?).payload)
    }
}

impl<P: Policy> Scheduler for Locality<P> {
    fn name(&self) -> &'static str {
        P::NAME
    }

    fn update(&mut self, dests: &[Dest]) {
        let map = index_map(&self.keys, dests);
        let policy = &mut self.policy;
        self.table.for_each_mut(|p| policy.remap(p, &map));
        self.keys = dests.iter().map(Dest::key).collect();
    }

    fn schedule(&mut self, dests: &[Dest], flow: &Flow, now_ms: u64) -> Option<usize> {
        let policy = &mut self.policy;
        self.table.run_timers(now_ms, |p| policy.free(p));
        let addr = flow.dst;
        if let Some(e) = self.table.get(addr) {
            let en = self.table.entry_mut(e);
            en.lastuse = now_ms;
            return self.policy.hit(&mut en.payload, dests, now_ms);
        }
        let pick = wlc_pick(dests)?;
        let mut fresh = self.policy.fresh(pick, now_ms);
        if self.table.insert(addr, now_ms, fresh).is_none() {
            self.policy.free(&mut fresh);
        }
        Some(pick)
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
