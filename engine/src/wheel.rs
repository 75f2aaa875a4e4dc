//! A hierarchical timing wheel over `u32` entry handles, with lazy re-arming.
//!
//! Invariants:
//! - Time is counted in ticks of one millisecond (`u64`, never wraps in practice).
//! - Each handle is on at most one list (a slot of some level, or the due list);
//!   lists are circular and doubly linked through `links`, with one sentinel node per
//!   list stored after the entry nodes, so unlinking needs no knowledge of the list.
//! - An entry armed for tick `d` while the wheel is at `cur` sits at level `k`, the
//!   highest 6-bit group in which `d` and `cur` differ, slot `(d >> 6k) & 63`. The slot
//!   is spliced onto the due list when the wheel reaches the start of that slot's range,
//!   which is never after `d`. Entries may therefore come out early (when they sat on a
//!   coarse level, or when their owner moved the real deadline later without re-arming);
//!   the owner checks the real deadline and re-arms. Each re-arm lands on a strictly finer
//!   level or a later slot, so an entry is re-armed at most `LEVELS` times per deadline.
//! - `advance` is O(LEVELS x 64) whatever the number of entries: it only splices lists.
//!   The per-entry work happens in `pop_due`, which the caller bounds per batch.
//! - `arm`, `cancel` and `pop_due` are O(1).

const BITS: u32 = 6;
const SLOTS: usize = 1 << BITS;
const LEVELS: usize = 7; // 42 bits of milliseconds: ~139 years
const NIL: u32 = u32::MAX;
const SENTINELS: u32 = (LEVELS * SLOTS + 1) as u32;
const DUE: u32 = (LEVELS * SLOTS) as u32;

#[derive(Clone, Copy, Debug)]
struct Link {
    prev: u32,
    next: u32,
}

/// The wheel. Handles are dense small integers (slab indices); node `SENTINELS + h`
/// holds handle `h`'s links, and link memory grows only as higher handles are armed.
#[derive(Debug)]
pub struct Wheel {
    links: Vec<Link>,
    cur: u64,
    /// One bit per non-empty slot, per level.
    occupied: [u64; LEVELS],
}

impl Wheel {
    /// A wheel for up to `capacity` handles, starting at tick `now`. The link array is
    /// reserved up front (no reallocation on the packet path) but touched only as handles
    /// are first armed, so memory follows the number of live entries.
    pub fn new(capacity: u32, now: u64) -> Self {
        let mut links = Vec::with_capacity(SENTINELS as usize + capacity as usize);
        for s in 0..SENTINELS {
            links.push(Link { prev: s, next: s });
        }
        Wheel { links, cur: now, occupied: [0; LEVELS] }
    }

    /// The reserved memory of the links: (address, bytes).
    pub fn span(&self) -> (usize, usize) {
        (self.links.as_ptr() as usize, self.links.capacity() * std::mem::size_of::<Link>())
    }

    /// The tick the wheel has advanced to.
    pub fn now(&self) -> u64 {
        self.cur
    }

    fn sentinel(&self, level: usize, slot: usize) -> u32 {
        (level * SLOTS + slot) as u32
    }

    fn due_sentinel(&self) -> u32 {
        DUE
    }

    fn node(h: u32) -> u32 {
        SENTINELS + h
    }

    /// Whether `h` is currently armed.
    pub fn is_armed(&self, h: u32) -> bool {
        self.links.get(Self::node(h) as usize).is_some_and(|l| l.next != NIL)
    }

    fn push_back(&mut self, list: u32, h: u32) {
        let tail = self.links[list as usize].prev;
        self.links[h as usize] = Link { prev: tail, next: list };
        self.links[tail as usize].next = h;
        self.links[list as usize].prev = h;
    }

    fn unlink(&mut self, h: u32) {
        let Link { prev, next } = self.links[h as usize];
        if next == NIL {
            return;
        }
        self.links[prev as usize].next = next;
        self.links[next as usize].prev = prev;
        self.links[h as usize] = Link { prev: NIL, next: NIL };
    }

    /// Arm (or re-arm) `h` to come due at tick `deadline`.
    pub fn arm(&mut self, h: u32, deadline: u64) {
        let h = Self::node(h);
        while self.links.len() <= h as usize {
            self.links.push(Link { prev: NIL, next: NIL });
        }
        self.unlink(h);
        if deadline <= self.cur {
            let due = self.due_sentinel();
            self.push_back(due, h);
            return;
        }
        let diff = deadline ^ self.cur;
        let high_bit = 63 - diff.leading_zeros();
        let level = ((high_bit / BITS) as usize).min(LEVELS - 1);
        let slot = ((deadline >> (BITS as usize * level)) as usize) & (SLOTS - 1);
        let s = self.sentinel(level, slot);
        self.push_back(s, h);
        self.occupied[level] |= 1 << slot;
    }

    /// Thread `h`, which is not armed, onto a list of the caller's (the store's free list),
    /// before `next` (`u32::MAX`: the list's end). A handle's links are unused while it
    /// is not armed, so that list needs no memory of its own; arming `h` takes it off.
    /// `h` must have been armed once (its links exist).
    pub fn park(&mut self, h: u32, next: u32) {
        debug_assert!(!self.is_armed(h));
        self.links[Self::node(h) as usize].prev = next;
    }

    /// The handle after `h` on the list [`park`](Self::park) threaded it onto.
    pub fn parked_next(&self, h: u32) -> u32 {
        self.links[Self::node(h) as usize].prev
    }

    /// Disarm `h` (no-op when it is not armed).
    pub fn cancel(&mut self, h: u32) {
        let h = Self::node(h);
        if (h as usize) < self.links.len() {
            self.unlink(h);
        }
    }

    /// Splice the whole list at sentinel `src` onto the end of the due list.
    fn splice_to_due(&mut self, src: u32) {
        let first = self.links[src as usize].next;
        if first == src {
            return;
        }
        let last = self.links[src as usize].prev;
        let due = self.due_sentinel();
        let tail = self.links[due as usize].prev;
        self.links[tail as usize].next = first;
        self.links[first as usize].prev = tail;
        self.links[last as usize].next = due;
        self.links[due as usize].prev = last;
        self.links[src as usize] = Link { prev: src, next: src };
    }

    /// Move the wheel to tick `now`, moving every slot whose range has started onto the
    /// due list. Cost is bounded by the number of levels and slots, not entries.
    pub fn advance(&mut self, now: u64) {
        if now <= self.cur {
            return;
        }
        let old = self.cur;
        self.cur = now;
        for level in 0..LEVELS {
            let shift = BITS as usize * level;
            let from = old >> shift;
            let to = now >> shift;
            if from == to {
                break; // coarser levels cannot have moved either
            }
            let steps = to - from;
            let mut mask = if steps >= SLOTS as u64 {
                u64::MAX
            } else {
                // slots from+1 ..= to (mod 64)
                let mut m = 0u64;
                for i in 1..=steps {
                    m |= 1 << ((from + i) as usize & (SLOTS - 1));
                }
                m
            };
            mask &= self.occupied[level];
            while mask != 0 {
                let slot = mask.trailing_zeros() as usize;
                mask &= mask - 1;
                let s = self.sentinel(level, slot);
                self.splice_to_due(s);
                self.occupied[level] &= !(1 << slot);
            }
        }
    }

    /// Take the next handle off the due list. The caller checks its real deadline: expire
    /// it, or `arm` it again.
    pub fn pop_due(&mut self) -> Option<u32> {
        let due = self.due_sentinel();
        let first = self.links[due as usize].next;
        if first == due {
            return None;
        }
        self.unlink(first);
        Some(first - SENTINELS)
    }

    /// The first handles on the due list, without taking them: as many as fit in `out`
    /// (or are due); how many. For looking ahead: their loads can start early.
    pub fn peek_due(&self, out: &mut [u32]) -> usize {
        let due = self.due_sentinel();
        let mut node = self.links[due as usize].next;
        let mut n = 0;
        while n < out.len() && node != due {
            out[n] = node - SENTINELS;
            n += 1;
            node = self.links[node as usize].next;
        }
        n
    }

    /// Whether anything is waiting on the due list.
    pub fn has_due(&self) -> bool {
        let due = self.due_sentinel();
        self.links[due as usize].next != due
    }

    /// Visit armed handles roughly in deadline order (due list first, then each level's
    /// slots from the current position), at most `limit` of them. Used to find eviction
    /// candidates when the table is full.
    pub fn scan_in_order(&self, limit: usize, mut visit: impl FnMut(u32)) {
        let mut seen = 0;
        let walk = |wheel: &Wheel, s: u32, seen: &mut usize, visit: &mut dyn FnMut(u32)| {
            let mut h = wheel.links[s as usize].next;
            while h != s && *seen < limit {
                visit(h - SENTINELS);
                *seen += 1;
                h = wheel.links[h as usize].next;
            }
        };
        walk(self, self.due_sentinel(), &mut seen, &mut visit);
        for level in 0..LEVELS {
            let start = ((self.cur >> (BITS as usize * level)) as usize) & (SLOTS - 1);
            for i in 1..=SLOTS {
                if seen >= limit {
                    return;
                }
                let slot = (start + i) & (SLOTS - 1);
                if self.occupied[level] & (1 << slot) != 0 {
                    walk(self, self.sentinel(level, slot), &mut seen, &mut visit);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Drive the wheel tick by tick, re-arming early pops, and record when each handle expires.
    fn run(wheel: &mut Wheel, deadlines: &[u64], until: u64, step: u64) -> Vec<(u32, u64)> {
        let mut out = Vec::new();
        let mut t = wheel.now();
        while t < until {
            t += step;
            wheel.advance(t);
            while let Some(h) = wheel.pop_due() {
                let d = deadlines[h as usize];
                if d <= t {
                    out.push((h, t));
                } else {
                    wheel.arm(h, d);
                }
            }
        }
        out
    }

    /// A wheel with handle `h` armed at `deadlines[h]`, driven to `until` in `step`s: when
    /// each handle expired (every handle must have).
    fn expire_all(deadlines: &[u64], until: u64, step: u64) -> Vec<(u32, u64)> {
        let mut w = Wheel::new(deadlines.len() as u32, 0);
        for (h, d) in deadlines.iter().enumerate() {
            w.arm(h as u32, *d);
        }
        let out = run(&mut w, deadlines, until, step);
        assert_eq!(out.len(), deadlines.len());
        out
    }

    #[test]
    fn expires_exactly_at_deadline_on_every_level() {
        let deadlines: Vec<u64> = vec![1, 63, 64, 65, 4095, 4096, 300_000, 900_000, 5_000_000];
        for (h, t) in expire_all(&deadlines, 5_000_001, 1) {
            assert_eq!(t, deadlines[h as usize], "handle {h}");
        }
    }

    #[test]
    fn large_jumps_never_lose_or_delay_entries() {
        let deadlines: Vec<u64> = (0..2000).map(|i| 1 + i * 997 % 1_000_000).collect();
        for (h, t) in expire_all(&deadlines, 1_100_000, 777) {
            let d = deadlines[h as usize];
            assert!(t >= d && t < d + 777, "handle {h}: deadline {d}, expired at {t}");
        }
    }

    #[test]
    fn peek_shows_what_pop_will_take_in_order() {
        let mut w = Wheel::new(16, 0);
        for (h, d) in [(3u32, 5u64), (7, 5), (1, 5), (9, 900)] {
            w.arm(h, d);
        }
        w.advance(10);
        let mut out = [0u32; 8];
        let n = w.peek_due(&mut out);
        let mut popped = Vec::new();
        while let Some(h) = w.pop_due() {
            popped.push(h);
        }
        assert_eq!(&out[..n], &popped[..], "peek and pop agree");
        assert_eq!(n, 3, "the entry due at 900 is not on the due list yet");
        let mut short = [0u32; 2];
        w.arm(4, 11);
        w.arm(5, 11);
        w.arm(6, 11);
        w.advance(12);
        assert_eq!(w.peek_due(&mut short), 2, "no more than fit");
        assert_eq!(w.peek_due(&mut []), 0);
    }

    #[test]
    fn cancel_and_rearm() {
        let mut w = Wheel::new(4, 1000);
        w.arm(0, 1010);
        w.arm(1, 1010);
        w.cancel(0);
        assert!(!w.is_armed(0));
        w.arm(1, 5000); // re-arm later
        w.advance(1010);
        assert_eq!(w.pop_due(), None);
        w.advance(5000);
        assert_eq!(w.pop_due(), Some(1));
        w.arm(2, 10); // in the past: due at once
        assert_eq!(w.pop_due(), Some(2));
    }

    #[test]
    fn scan_visits_earliest_first() {
        let mut w = Wheel::new(3, 0);
        w.arm(0, 900_000);
        w.arm(1, 60_000);
        w.arm(2, 10);
        let mut seen = Vec::new();
        w.scan_in_order(10, |h| seen.push(h));
        assert_eq!(seen, vec![2, 1, 0]);
    }
}
