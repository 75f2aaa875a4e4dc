//! An open-addressing hash index from flow keys to entry handles.
//!
//! Invariants:
//! - One `u32` per slot: 0 = empty; otherwise bits 0..24 hold `handle + 1`, bit 24 the
//!   direction (which of an entry's keys this is), bits 25..32 a 7-bit tag taken from the
//!   top of the key's hash. The tag lets a probe skip most non-matching slots without
//!   touching the entry, so a lookup costs one index cache line and one entry cache line.
//! - Linear probing; the table is sized for at most 3/4 load at full capacity, so probe
//!   sequences stay short. Every key sits within [`MAX_PROBE`] slots of its home slot:
//!   `insert` refuses a key that would not, so a lookup never looks at more than
//!   `MAX_PROBE` slots, whatever keys an attacker chooses (hash flooding; the hash's
//!   seed is secret too, see `EngineConfig::hash_seed`). Deletion shifts later members of
//!   the cluster back (no tombstones), which needs each displaced key's home slot: the
//!   caller recomputes it from the entry (`rehash`).
//! - A probe looks at its first [`SCALAR_PROBE`] slots one at a time, then at the rest
//!   eight at a time ([`GROUP`]); either way it visits the same slots in the same order,
//!   stops at the same empty slot and offers `eq` the same candidates (the tests compare
//!   it with a probe of one slot at a time).
//! - Memory is allocated zeroed: pages are touched only as slots are used.

/// Most slots a key may sit from its home slot, and so the longest lookup. Random keys at
/// the most load the index is sized for (3/4) go past 128 about once in 10^5 inserts;
/// such a key is refused like one for a full table, and counted.
pub const MAX_PROBE: usize = 128;

/// Largest handle the index can store (24 bits, minus the empty encoding).
pub const MAX_HANDLES: u32 = (1 << 24) - 1;

const HANDLE_MASK: u32 = (1 << 24) - 1;
const DIR_BIT: u32 = 1 << 24;
const TAG_MASK: u32 = !(HANDLE_MASK | DIR_BIT);

/// Slots looked at together when a probe goes past its key's home slot: a group's eight
/// slots are compared with the tag and with empty in a handful of vector instructions, so
/// a probe that runs long (hash flooding, or a crowded region) costs one or two
/// instructions a slot instead of about ten (`xvs-bench flood --rounds 1` under callgrind,
/// the engine's share: 972 million instructions before, 740 million after, for about 25
/// million slots looked at by the colliding flows). Groups are aligned: the index has a power-of-two
/// number of slots, at least `2 * MAX_PROBE`, so none wraps.
const GROUP: usize = 8;
/// Slots a lookup looks at one at a time before it goes on by groups.
const SCALAR_PROBE: usize = 3;
/// A group's slots as mask bits.
const ALL: u32 = (1 << GROUP) - 1;

/// The slots as groups, exactly `mask / GROUP + 1` of them, and that mask of a group
/// number: a group number masked by it is provably in bounds.
#[inline(always)]
fn groups(slots: &[u32], mask: usize) -> (&[[u32; GROUP]], usize) {
    let gmask = mask / GROUP;
    (&slots.as_chunks::<GROUP>().0[..=gmask], gmask)
}

/// The groups that the `left` slots from slot `start` on touch: the first one's number,
/// how many, which slots of the first one are among them and which of the last one.
#[inline(always)]
fn window(start: usize, left: usize) -> (usize, usize, u32, u32) {
    let skip = start % GROUP;
    let end = skip + left;
    let tail = end % GROUP;
    let last = if tail == 0 { ALL } else { (1 << tail) - 1 };
    (start / GROUP, end.div_ceil(GROUP), (ALL << skip) & ALL, last)
}

/// The key with tag `tag` for which `eq` holds among the `left` slots from slot `start`
/// on, stopping at an empty slot: a probe, a group of slots at a time (see [`GROUP`]).
#[inline(always)]
fn find_from(
    slots: &[u32],
    mask: usize,
    start: usize,
    left: usize,
    tag: u32,
    mut eq: impl FnMut(u32, bool) -> bool,
) -> Option<(u32, bool)> {
    let (groups, gmask) = groups(slots, mask);
    let (first, n, mut looked, last) = window(start, left);
    for k in 1..=n {
        if k == n {
            looked &= last;
        }
        let g = &groups[(first + k - 1) & gmask];
        let m = crate::cpu::match_and_empty(g, TAG_MASK, tag);
        let empty = (m >> GROUP) & looked;
        // The slots looked at before the first empty one (all of them, when none is).
        let mut cand = m & looked & empty.wrapping_sub(1) & !empty;
        while cand != 0 {
            let v = g[cand.trailing_zeros() as usize];
            let (h, dir) = decode(v);
            if eq(h, dir) {
                return Some((h, dir));
            }
            cand &= cand - 1;
        }
        if empty != 0 {
            return None;
        }
        looked = ALL;
    }
    None
}

/// The first empty slot among the `left` slots from slot `start` on.
#[inline(always)]
fn empty_from(slots: &[u32], mask: usize, start: usize, left: usize) -> Option<usize> {
    let (groups, gmask) = groups(slots, mask);
    let (first, n, mut looked, last) = window(start, left);
    for k in 1..=n {
        if k == n {
            looked &= last;
        }
        let gi = (first + k - 1) & gmask;
        // Mask 0 and want 1: no slot "matches"; only the empty half is used.
        let empty = (crate::cpu::match_and_empty(&groups[gi], 0, 1) >> GROUP) & looked;
        if empty != 0 {
            return Some(gi * GROUP + empty.trailing_zeros() as usize);
        }
        looked = ALL;
    }
    None
}

#[derive(Debug)]
pub struct FlowIndex {
    slots: Vec<u32>,
    mask: usize,
}

#[inline]
fn tag_of(hash: u64) -> u32 {
    ((hash >> 57) as u32) << 25
}

#[inline]
fn encode(hash: u64, handle: u32, dir: bool) -> u32 {
    tag_of(hash) | if dir { DIR_BIT } else { 0 } | (handle + 1)
}

/// The handle and direction an occupied slot's value holds ([`encode`]'s inverse but the tag).
#[inline(always)]
fn decode(v: u32) -> (u32, bool) {
    ((v & HANDLE_MASK) - 1, v & DIR_BIT != 0)
}

impl FlowIndex {
    /// An index for up to `max_keys` keys.
    pub fn new(max_keys: usize) -> Self {
        // At least 2 * MAX_PROBE slots, so a probe window never wraps onto itself.
        let want = (max_keys.max(8) * 4).div_ceil(3).max(2 * MAX_PROBE);
        let size = want.next_power_of_two();
        FlowIndex { slots: vec![0u32; size], mask: size - 1 }
    }

    /// The slots' memory: (address, bytes).
    pub fn span(&self) -> (usize, usize) {
        (self.slots.as_ptr() as usize, self.slots.len() * std::mem::size_of::<u32>())
    }

    /// Keys stored, counted by looking at every slot: for checks, not for the packet path.
    pub fn occupied(&self) -> usize {
        self.slots.iter().filter(|&&v| v != 0).count()
    }

    /// Slots minus one: a hash's home slot is `hash & mask`.
    pub fn mask(&self) -> usize {
        self.mask
    }

    /// The slots as a slice of exactly `mask + 1`, and the mask: an index masked by it is
    /// provably in bounds, so a loop over a cluster carries no bounds check per slot (one
    /// check here instead). Only where loops run long (removal): for a lookup, which
    /// mostly looks at one slot, the check here costs what it saves.
    #[inline(always)]
    fn view(&self) -> (&[u32], usize) {
        (&self.slots[..=self.mask], self.mask)
    }

    /// [`view`](Self::view), to write.
    #[inline(always)]
    fn view_mut(&mut self) -> (&mut [u32], usize) {
        (&mut self.slots[..=self.mask], self.mask)
    }

    /// Hint the CPU to load the home slot of `hash`.
    #[inline]
    pub fn prefetch(&self, hash: u64) {
        let i = hash as usize & self.mask;
        // No bounds check: `i` is in bounds, and a hint faults never anyway.
        crate::cpu::prefetch(self.slots.as_ptr().wrapping_add(i));
    }

    /// The handle in the first slot of the probe sequence whose tag matches, without
    /// looking at any entry: what to prefetch before the real lookup.
    #[inline]
    pub fn first_candidate(&self, hash: u64) -> Option<u32> {
        let tag = tag_of(hash);
        let mut i = hash as usize & self.mask;
        for _ in 0..8 {
            let v = self.slots[i];
            if v == 0 {
                return None;
            }
            if v & TAG_MASK == tag {
                return Some((v & HANDLE_MASK) - 1);
            }
            i = (i + 1) & self.mask;
        }
        None
    }

    /// Find the key with this hash for which `eq(handle, dir)` holds. Inlined into its
    /// callers (the packet path's lookups), where the match closure inlines with it.
    #[inline(always)]
    pub fn find(&self, hash: u64, eq: impl FnMut(u32, bool) -> bool) -> Option<(u32, bool)> {
        self.lookup().find(hash, eq)
    }

    /// The slots to look keys up in, borrowed: a caller that looks up many keys in a row
    /// (the fast path's run of frames) holds the slots' base and mask in locals.
    #[inline(always)]
    pub fn lookup(&self) -> Lookup<'_> {
        Lookup { slots: &self.slots, mask: self.mask }
    }

    /// The free slot a key with this hash would take, if it is among the first
    /// `SCALAR_PROBE` from its home.
    #[inline(always)]
    fn free_slot_near(&self, hash: u64) -> Option<usize> {
        let mut i = hash as usize & self.mask;
        for _ in 0..SCALAR_PROBE {
            if self.slots[i] == 0 {
                return Some(i);
            }
            i = (i + 1) & self.mask;
        }
        None
    }

    /// The free slot a key with this hash would take past the first `SCALAR_PROBE`, if
    /// one is within `MAX_PROBE`. Out of line: an insert mostly finds its slot among the
    /// first few, and the callers keep their inlining and their frames small so.
    #[cold]
    #[inline(never)]
    fn free_slot_far(&self, hash: u64) -> Option<usize> {
        let start = (hash as usize & self.mask) + SCALAR_PROBE;
        empty_from(&self.slots, self.mask, start, MAX_PROBE - SCALAR_PROBE)
    }

    /// Whether a key with this hash would be taken now.
    #[inline]
    pub fn has_room(&self, hash: u64) -> bool {
        self.free_slot_near(hash).is_some() || self.free_slot_far(hash).is_some()
    }

    /// Insert a key; `false` (nothing changed) when no slot within `MAX_PROBE` of its home
    /// is free. The caller has checked it is not present and that the index is not over
    /// capacity (the table's `max_keys`).
    #[must_use]
    #[inline]
    pub fn insert(&mut self, hash: u64, handle: u32, dir: bool) -> bool {
        debug_assert!(handle < MAX_HANDLES);
        match self.free_slot_near(hash) {
            Some(i) => {
                self.slots[i] = encode(hash, handle, dir);
                true
            }
            None => self.insert_far(hash, handle, dir),
        }
    }

    /// [`insert`](Self::insert) past the first `SCALAR_PROBE` slots.
    #[cold]
    #[inline(never)]
    fn insert_far(&mut self, hash: u64, handle: u32, dir: bool) -> bool {
        match self.free_slot_far(hash) {
            Some(i) => {
                self.slots[i] = encode(hash, handle, dir);
                true
            }
            None => false,
        }
    }

    /// Before [`remove`](Self::remove): call `hint` with every handle after the key's slot
    /// up to the cluster's end, the entries whose home slots the removal will need, so
    /// their loads overlap instead of coming one after another.
    #[inline]
    pub fn hint_cluster(&self, hash: u64, handle: u32, dir: bool, hint: impl Fn(u32)) {
        let (slots, mask) = self.view();
        let want = encode(hash, handle, dir);
        let mut i = hash as usize & mask;
        let mut found = false;
        for _ in 0..2 * MAX_PROBE {
            let v = slots[i];
            if v == 0 {
                return;
            }
            if found {
                hint((v & HANDLE_MASK) - 1);
            }
            found |= v == want;
            i = (i + 1) & mask;
        }
    }

    /// Remove the key `(handle, dir)` whose hash is `hash`. `rehash(handle, dir)` must
    /// return the hash of any other stored key. Returns whether it was found.
    ///
    /// Both loops are bounded whatever the slots hold: the key is looked for within
    /// `MAX_PROBE` slots of its home (where `insert` put it, and a shift only moves a key
    /// nearer its home), and the shift stops after one turn of the index. A bug elsewhere
    /// that left stale keys behind until no slot is empty then costs refused inserts, not
    /// a core spinning forever.
    pub fn remove(&mut self, hash: u64, handle: u32, dir: bool, mut rehash: impl FnMut(u32, bool) -> u64) -> bool {
        let (slots, mask) = self.view_mut();
        let want = encode(hash, handle, dir);
        let mut i = hash as usize & mask;
        // One past the last slot the key may sit in (the index has more than MAX_PROBE).
        let end = (i + MAX_PROBE) & mask;
        loop {
            let v = slots[i];
            if v == want {
                break;
            }
            i = (i + 1) & mask;
            if v == 0 || i == end {
                return false;
            }
        }
        // Backward-shift deletion: pull later cluster members into the hole when their
        // home slot is not between the hole and their position.
        let mut hole = i;
        let mut j = i;
        loop {
            j = (j + 1) & mask;
            let v = slots[j];
            if v == 0 || j == i {
                break;
            }
            let (h, dir) = decode(v);
            let home = rehash(h, dir) as usize & mask;
            let dist_home_to_j = j.wrapping_sub(home) & mask;
            let dist_hole_to_j = j.wrapping_sub(hole) & mask;
            if dist_home_to_j >= dist_hole_to_j {
                slots[hole] = v;
                hole = j;
            }
        }
        slots[hole] = 0;
        true
    }
}

/// A [`FlowIndex`]'s slots, borrowed for lookups only.
#[derive(Clone, Copy)]
pub struct Lookup<'a> {
    slots: &'a [u32],
    mask: usize,
}

impl Lookup<'_> {
    /// Find the key with this hash for which `eq(handle, dir)` holds, looking at no more
    /// than [`MAX_PROBE`] slots.
    #[inline(always)]
    pub fn find(&self, hash: u64, mut eq: impl FnMut(u32, bool) -> bool) -> Option<(u32, bool)> {
        let tag = tag_of(hash);
        let home = hash as usize & self.mask;
        // The first slots one at a time: where a key mostly is, at the load the index is
        // sized for, and cheaper so than a group's setup.
        let mut i = home;
        for _ in 0..SCALAR_PROBE {
            let v = self.slots[i];
            if v == 0 {
                return None;
            }
            if v & TAG_MASK == tag {
                let (h, dir) = decode(v);
                if eq(h, dir) {
                    return Some((h, dir));
                }
            }
            i = (i + 1) & self.mask;
        }
        find_from(self.slots, self.mask, home + SCALAR_PROBE, MAX_PROBE - SCALAR_PROBE, tag, eq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn h(k: u64) -> u64 {
        // a poor hash on purpose, to make long clusters
        (k % 7).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (k << 60)
    }

    #[test]
    fn insert_find_remove_against_a_model() {
        let mut idx = FlowIndex::new(1000);
        let mut model: HashMap<u32, u64> = HashMap::new();
        let mut x: u64 = 12345;
        for step in 0..20_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let handle = (x % 900) as u32;
            let key = handle as u64 * 31;
            if let std::collections::hash_map::Entry::Vacant(e) = model.entry(handle) {
                // The poor hash makes clusters past the probe bound: a refused key
                // must leave the index as it was (the lookups below check it).
                if step % 3 != 0 && idx.insert(h(key), handle, false) {
                    e.insert(key);
                }
            } else if step % 2 == 0 {
                assert!(idx.remove(h(key), handle, false, |hh, _| h(hh as u64 * 31)));
                model.remove(&handle);
            }
            for (&hd, &k) in model.iter().take(5) {
                assert_eq!(idx.find(h(k), |c, _| c == hd), Some((hd, false)));
            }
        }
        for (&hd, &k) in &model {
            assert_eq!(idx.find(h(k), |c, _| c == hd), Some((hd, false)));
        }
        // An absent key: no stored handle's key equals it (an `eq` that accepts any handle
        // would also accept an unrelated key whose 7-bit tag happens to collide).
        assert_eq!(idx.find(h(999_999), |c, _| model.get(&c) == Some(&999_999)), None);
    }

    /// An index with no empty slot (which only a bug elsewhere could make: the table
    /// caps live keys at 3/4 of the slots) still answers: removing an absent key and
    /// removing a present one both end, and every other key stays found.
    #[test]
    fn removal_from_a_full_index_ends() {
        let mut idx = FlowIndex::new(8);
        let n = idx.mask() as u32 + 1;
        for k in 0..n {
            assert!(idx.insert(k as u64, k, false));
        }
        assert!(!idx.insert(n as u64, n, false), "no slot is free");
        assert!(!idx.remove(5, n + 1, false, |o, _| o as u64), "an absent key is not found");
        assert!(idx.remove(5, 5, false, |o, _| o as u64));
        assert_eq!(idx.find(5, |c, _| c == 5), None);
        for k in (0..n).filter(|&k| k != 5) {
            assert_eq!(idx.find(k as u64, |c, _| c == k), Some((k, false)), "key {k}");
        }
        // The freed slot is the one a key homed there takes again.
        assert!(idx.insert(5, 5, false));
        assert_eq!(idx.find(5, |c, _| c == 5), Some((5, false)));
    }

    #[test]
    fn two_directions_of_one_handle() {
        let mut idx = FlowIndex::new(16);
        assert!(idx.insert(10, 3, false));
        assert!(idx.insert(10, 3, true));
        assert_eq!(idx.find(10, |_, d| d), Some((3, true)));
        assert_eq!(idx.find(10, |_, d| !d), Some((3, false)));
        assert!(idx.remove(10, 3, false, |_, _| 10));
        assert_eq!(idx.find(10, |_, d| !d), None);
        assert_eq!(idx.find(10, |_, d| d), Some((3, true)));
    }
}

#[cfg(test)]
mod bound_tests {
    use super::*;

    /// Keys that all share one home slot: the first `MAX_PROBE` are taken, the rest
    /// refused; every lookup, hit or miss, ends within `MAX_PROBE` slots; removing one
    /// makes room for exactly one more.
    #[test]
    fn colliding_keys_are_bounded() {
        let mut idx = FlowIndex::new(4096);
        let home = 77u64;
        let hash = |k: u32| home | ((k as u64 % 128) << 57);
        let mut taken = Vec::new();
        for k in 0..1000u32 {
            if idx.insert(hash(k), k, false) {
                taken.push(k);
            }
        }
        assert_eq!(taken.len(), MAX_PROBE);
        assert!(!idx.has_room(home));
        let mut looked = 0;
        assert_eq!(
            idx.find(hash(5000), |_, _| {
                looked += 1;
                false
            }),
            None
        );
        assert!(looked <= MAX_PROBE);
        for &k in &taken {
            assert_eq!(idx.find(hash(k), |c, _| c == k), Some((k, false)));
        }
        assert!(idx.remove(hash(taken[3]), taken[3], false, |c, _| hash(c)));
        assert!(idx.has_room(home));
        assert!(idx.insert(hash(2000), 2000, false));
        assert!(!idx.insert(hash(2001), 2001, false));
    }

    #[test]
    fn the_cluster_hint_names_exactly_the_keys_after_the_removed_one() {
        let mut idx = FlowIndex::new(64);
        // Five keys with one home slot, then a gap, then one more: a cluster of five.
        for handle in 0..5 {
            assert!(idx.insert(7, handle, false));
        }
        assert!(idx.insert(20, 9, false));
        let hinted = std::cell::RefCell::new(Vec::new());
        idx.hint_cluster(7, 1, false, |h| hinted.borrow_mut().push(h));
        assert_eq!(hinted.take(), [2, 3, 4]);
        idx.hint_cluster(7, 4, false, |h| hinted.borrow_mut().push(h));
        assert!(hinted.take().is_empty(), "the last of the cluster has no one after it");
        idx.hint_cluster(7, 42, false, |h| hinted.borrow_mut().push(h));
        assert!(hinted.take().is_empty(), "a key that is not there hints nothing");
    }
}

#[cfg(test)]
mod group_tests {
    use super::*;

    /// A probe one slot at a time, as the index did before groups: the reference. Returns
    /// what it found and the slots whose handles it offered to `eq`, in order.
    fn reference_find(idx: &FlowIndex, hash: u64, eq: impl Fn(u32) -> bool) -> (Option<u32>, Vec<usize>) {
        let (slots, mask) = idx.view();
        let (tag, mut i, mut offered) = (tag_of(hash), hash as usize & mask, Vec::new());
        for _ in 0..MAX_PROBE {
            let v = slots[i];
            if v == 0 {
                break;
            }
            if v & TAG_MASK == tag {
                offered.push(i);
                if eq((v & HANDLE_MASK) - 1) {
                    return (Some((v & HANDLE_MASK) - 1), offered);
                }
            }
            i = (i + 1) & mask;
        }
        (None, offered)
    }

    /// The reference's free slot: the first empty one within `MAX_PROBE` of the home.
    fn reference_free_slot(idx: &FlowIndex, hash: u64) -> Option<usize> {
        let (slots, mask) = idx.view();
        (0..MAX_PROBE).map(|d| (hash as usize + d) & mask).find(|&i| slots[i] == 0)
    }

    /// The slots `find` offered to `eq`, found through the handles it was given (each
    /// handle is stored once in these tests).
    fn find_offered(idx: &FlowIndex, hash: u64, eq: impl Fn(u32) -> bool) -> (Option<u32>, Vec<usize>) {
        let (slots, _) = idx.view();
        let mut offered = Vec::new();
        let found = idx.find(hash, |handle, _| {
            offered.push(slots.iter().position(|&v| v != 0 && (v & HANDLE_MASK) - 1 == handle).unwrap());
            eq(handle)
        });
        (found.map(|(handle, _)| handle), offered)
    }

    /// The handles `find` offers to `eq` for `hash`, in order, when none matches.
    fn handles_offered(idx: &FlowIndex, hash: u64) -> Vec<u32> {
        let mut offered = Vec::new();
        let found = idx.find(hash, |handle, _| {
            offered.push(handle);
            false
        });
        assert_eq!(found, None);
        offered
    }

    /// Random inserts and removals whose homes crowd a few regions (some at the index's
    /// end, so windows wrap past the last slot) and whose tags are mostly alike: every
    /// lookup, hit or miss, offers `eq` the reference's slots in the reference's order and
    /// finds what it finds, and every insert takes the reference's free slot.
    #[test]
    fn probing_by_groups_is_probing_one_slot_at_a_time() {
        let mut idx = FlowIndex::new(600);
        let size = idx.mask() as u64 + 1;
        // Homes in four regions of 40 slots (one ending at the last slot), tags among 3.
        let hash_of = |k: u64| {
            let region = [3, 200, 517, size - 40][(k % 4) as usize];
            (region + (k / 4) % 40) | ((k % 3) << 57)
        };
        let mut live: Vec<u64> = Vec::new();
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for step in 0..30_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if x % 5 < 3 || live.is_empty() {
                let k = step + 1_000;
                let want = reference_free_slot(&idx, hash_of(k));
                let took = idx.insert(hash_of(k), k as u32, false);
                assert_eq!(took, want.is_some(), "step {step}");
                if let Some(i) = want {
                    assert_eq!(idx.view().0[i] & HANDLE_MASK, k as u32 + 1, "step {step}: the reference's slot");
                    live.push(k);
                }
            } else {
                let k = live.swap_remove((x >> 8) as usize % live.len());
                assert!(idx.remove(hash_of(k), k as u32, false, |o, _| hash_of(o as u64)));
            }
            if live.is_empty() {
                continue;
            }
            // A present key, and an absent one that shares a present key's home and tag.
            let present = live[(x >> 16) as usize % live.len()];
            let absent = step + 1_000_000;
            for (k, hash) in [(present, hash_of(present)), (absent, hash_of(present))] {
                let eq = |handle: u32| handle as u64 == k;
                assert_eq!(find_offered(&idx, hash, eq), reference_find(&idx, hash, eq), "step {step} key {k}");
            }
        }
    }

    /// Keys of one home and tag fill exactly the `MAX_PROBE` slots from their home, for a
    /// home at each place in a group and at the index's end; a key just past the window,
    /// with the same tag, is never offered to a lookup of that home.
    #[test]
    fn the_window_ends_where_the_bound_says_at_every_alignment() {
        for home in (64..72).chain([248, 250, 255]) {
            let mut idx = FlowIndex::new(8);
            let mask = idx.mask() as u64;
            let same_tag = 5u64 << 57;
            let past = (home + MAX_PROBE as u64) & mask;
            assert!(idx.insert(past | same_tag, 999, false));
            let mut taken = 0;
            for k in 0..2 * MAX_PROBE as u32 {
                taken += idx.insert(home | same_tag, k, false) as u32;
            }
            assert_eq!(taken as usize, MAX_PROBE, "home {home}");
            let offered = handles_offered(&idx, home | same_tag);
            assert_eq!(offered.len(), MAX_PROBE, "home {home}");
            assert!(!offered.contains(&999), "home {home}: the key past the window");
            assert_eq!(idx.find(past | same_tag, |handle, _| handle == 999), Some((999, false)));
        }
    }

    /// A lookup stops at the first empty slot, even with a key of its tag after it.
    #[test]
    fn a_probe_stops_at_the_first_empty_slot() {
        let mut idx = FlowIndex::new(64);
        for handle in 0..6 {
            assert!(idx.insert(10, handle, false));
        }
        // Slot 16 stays empty; slot 17 holds a key of the same tag.
        assert!(idx.insert(17, 50, false));
        assert_eq!(handles_offered(&idx, 10), [0, 1, 2, 3, 4, 5]);
    }
}
