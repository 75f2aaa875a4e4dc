//! A slab of fixed-size entries with a free list and a timing wheel: the storage under
//! the connection and template tables.
//!
//! Invariants:
//! - Capacity is fixed at construction; the slab and the wheel reserve it up front, so
//!   no allocation happens on the packet path.
//! - The free list is threaded through the wheel's links of the free handles (unused
//!   while a handle is not armed): freeing touches no memory that its handle's arming
//!   had not touched. A vector of free handles would grow into pages never touched
//!   before, and a mass expiry then took a page fault every few hundred batches.
//! - A handle is live from `alloc` to `free`; every live handle is armed on the wheel.
//! - Each entry carries its own real deadline; the wheel may hand a handle back early
//!   (see `wheel`), and `Store::next_expired` re-arms those until they are really due.

use crate::wheel::Wheel;

/// No handle: the free list's end.
const NONE: u32 = u32::MAX;

/// What the store needs of an entry: its deadline in wheel ticks (milliseconds).
/// Entries keep only the low 32 bits (see [`widen`]); `now` lets them widen it back.
pub trait Expiring: Copy {
    fn deadline(&self, now: u64) -> u64;
}

/// Rebuild a full tick from its low 32 bits, assuming it lies within ±24 days of `now`
/// (timeouts are validated far below that).
#[inline]
pub fn widen(low: u32, now: u64) -> u64 {
    now.wrapping_add_signed(low.wrapping_sub(now as u32) as i32 as i64)
}

#[derive(Debug)]
pub struct Store<E> {
    entries: Vec<E>,
    /// The most recently freed handle, the head of the free list ([`NONE`]: empty).
    free: u32,
    wheel: Wheel,
    live: u32,
    cap: u32,
}

impl<E: Expiring> Store<E> {
    pub fn new(cap: u32, now_tick: u64) -> Self {
        Store { entries: Vec::with_capacity(cap as usize), free: NONE, wheel: Wheel::new(cap, now_tick), live: 0, cap }
    }

    pub fn live(&self) -> u32 {
        self.live
    }

    /// The reserved memory of the entries and of the wheel's links: (address, bytes) each.
    pub fn spans(&self) -> [(usize, usize); 2] {
        [(self.entries.as_ptr() as usize, self.entries.capacity() * std::mem::size_of::<E>()), self.wheel.span()]
    }

    /// Store `e` and arm it for its deadline; `None` when full.
    #[inline]
    pub fn alloc(&mut self, e: E) -> Option<u32> {
        let h = if self.free != NONE {
            let h = self.free;
            self.free = self.wheel.parked_next(h);
            self.entries[h as usize] = e;
            h
        } else if (self.entries.len() as u32) < self.cap {
            self.entries.push(e);
            self.entries.len() as u32 - 1
        } else {
            return None;
        };
        self.live += 1;
        let d = e.deadline(self.wheel.now());
        self.wheel.arm(h, d);
        Some(h)
    }

    /// Release a live handle.
    pub fn free(&mut self, h: u32) {
        self.wheel.cancel(h);
        self.wheel.park(h, self.free);
        self.free = h;
        self.live -= 1;
    }

    /// Slots handed out so far (live or free): handles are below this.
    #[inline]
    pub fn slots(&self) -> u32 {
        self.entries.len() as u32
    }

    /// Whether `h` is a live handle (allocated and not freed since).
    #[inline]
    pub fn is_live(&self, h: u32) -> bool {
        (h as usize) < self.entries.len() && self.wheel.is_armed(h)
    }

    #[inline]
    pub fn get(&self, h: u32) -> &E {
        &self.entries[h as usize]
    }

    #[inline]
    pub fn get_mut(&mut self, h: u32) -> &mut E {
        &mut self.entries[h as usize]
    }

    /// The entries (live or free), to read: a handle from the index is in bounds.
    #[inline(always)]
    pub fn entries(&self) -> &[E] {
        &self.entries
    }

    /// The entries (live or free), to read and write in place: for the fast path, which
    /// changes a live entry's deadline only to a later one (the wheel needs no change).
    #[inline(always)]
    pub fn entries_mut(&mut self) -> &mut [E] {
        &mut self.entries
    }

    /// Hint the CPU to load entry `h`: both cache lines when it lies across two (an IPv4
    /// connection is 40 bytes, so half of them do), else the second hint names the line
    /// the first one did (one instruction for nothing). An entry of at most 64 bytes
    /// spans at most two lines, so its first and last bytes name them all.
    #[inline]
    pub fn prefetch(&self, h: u32) {
        const { assert!(std::mem::size_of::<E>() <= 64, "an entry of more than two cache lines") };
        // No bounds check: a hint at a handle past the end faults never.
        let first = self.entries.as_ptr().wrapping_add(h as usize);
        crate::cpu::prefetch(first);
        crate::cpu::prefetch((first as *const u8).wrapping_add(std::mem::size_of::<E>() - 1));
    }

    /// Re-arm a live entry whose deadline moved earlier (moving it later needs nothing:
    /// the wheel hands it back early and it is re-armed then).
    pub fn rearm(&mut self, h: u32) {
        let d = self.entries[h as usize].deadline(self.wheel.now());
        self.wheel.arm(h, d);
    }

    /// Advance the clock.
    pub fn advance(&mut self, now_tick: u64) {
        self.wheel.advance(now_tick);
    }

    /// The next entry whose deadline has passed, if any; at most `budget` wheel pops are
    /// spent (entries found not yet due are re-armed and count against the budget).
    /// The returned handle is still live: the caller frees it (or re-arms it).
    pub fn next_expired(&mut self, budget: &mut u32) -> Option<u32> {
        let now = self.wheel.now();
        while *budget > 0 {
            let h = self.wheel.pop_due()?;
            *budget -= 1;
            let d = self.entries[h as usize].deadline(now);
            if d <= now {
                return Some(h);
            }
            self.wheel.arm(h, d);
        }
        None
    }

    /// The next handles the wheel will offer [`next_expired`](Self::next_expired) (due or
    /// not), without taking them; how many fit in `out`.
    pub fn peek_due(&self, out: &mut [u32]) -> usize {
        self.wheel.peek_due(out)
    }

    /// Whether expiry work is pending.
    pub fn has_due(&self) -> bool {
        self.wheel.has_due()
    }

    /// Visit up to `limit` live handles roughly in deadline order.
    pub fn scan_oldest(&self, limit: usize, visit: impl FnMut(u32)) {
        self.wheel.scan_in_order(limit, visit);
    }

    /// Iterate over live entries (slow path: listing, tests).
    pub fn iter_live(&self) -> impl Iterator<Item = (u32, &E)> {
        self.entries.iter().enumerate().filter(|(h, _)| self.wheel.is_armed(*h as u32)).map(|(h, e)| (h as u32, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy)]
    struct E(u64);
    impl Expiring for E {
        fn deadline(&self, _now: u64) -> u64 {
            self.0
        }
    }

    #[test]
    fn liveness_follows_alloc_and_free() {
        let mut s: Store<E> = Store::new(2, 0);
        assert!(!s.is_live(0));
        let a = s.alloc(E(10)).unwrap();
        let b = s.alloc(E(20)).unwrap();
        assert!(s.alloc(E(30)).is_none(), "full");
        assert!(s.is_live(a) && s.is_live(b));
        s.free(a);
        assert!(!s.is_live(a), "a freed slot is not live even though its entry is still stored");
        assert!(s.is_live(b));
        let c = s.alloc(E(5)).unwrap();
        assert_eq!(c, a, "slots are reused");
        assert!(s.is_live(c));
        assert!(!s.is_live(99));
    }

    #[test]
    fn expiry_pops_only_due_entries_within_budget() {
        let mut s: Store<E> = Store::new(8, 0);
        for d in [5, 100, 7, 3] {
            s.alloc(E(d)).unwrap();
        }
        s.advance(7);
        let mut budget = 10;
        let mut got = Vec::new();
        while let Some(h) = s.next_expired(&mut budget) {
            got.push(s.get(h).0);
            s.free(h);
        }
        got.sort();
        assert_eq!(got, vec![3, 5, 7]);
        assert_eq!(s.live(), 1);
        // A budget of 0 does nothing.
        s.advance(200);
        let mut zero = 0;
        assert!(s.next_expired(&mut zero).is_none());
        assert!(s.has_due());
    }

    /// Freed handles come back before any new slot, each once, while the freed and live
    /// ones keep their wheel: a full store, half freed in a scattered order and refilled,
    /// is full again with the same handles, and expires exactly its live entries.
    #[test]
    fn the_free_list_hands_each_freed_handle_back_once() {
        let cap = 64u32;
        let mut s: Store<E> = Store::new(cap, 0);
        for h in 0..cap {
            assert_eq!(s.alloc(E(1_000 + h as u64)), Some(h));
        }
        let freed: Vec<u32> = (0..cap).map(|k| (k * 37) % cap).filter(|h| h % 2 == 1).collect();
        for &h in &freed {
            s.free(h);
        }
        assert_eq!(s.live(), cap / 2);
        let mut again: Vec<u32> = (0..freed.len()).map(|_| s.alloc(E(10)).unwrap()).collect();
        assert!(s.alloc(E(10)).is_none(), "full again: no new slot was taken");
        again.sort();
        let mut want = freed.clone();
        want.sort();
        assert_eq!(again, want);
        s.advance(500);
        let mut budget = u32::MAX;
        let mut expired = Vec::new();
        while let Some(h) = s.next_expired(&mut budget) {
            expired.push(h);
            s.free(h);
        }
        expired.sort();
        assert_eq!(expired, want, "the refilled handles are the ones due");
        assert_eq!(s.live(), cap / 2);
    }
}
