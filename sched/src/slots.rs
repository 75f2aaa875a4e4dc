//! The lookup tables of the hashing schedulers (dh, sh, mh): slot -> real index, built in
//! `update()`, read in `schedule()`.
//!
//! Invariants:
//! - A slot holds an index into the dest list of the last `update()`, or [`NONE`] (an empty
//!   table: no reals, or, for mh, no real with a weight).
//! - [`slot`] returns a slot's real only when it exists in the slice given and is available
//!   (weight > 0, not overloaded); an index past the end counts as unavailable.
//! - [`slot_or_rehash`] is the kernel's sh/mh fallback: if the first slot's real is
//!   unavailable (and the slot is not empty), offsets `ihash, ihash + 1, ...` (mod the table
//!   size) are rehashed, each once, until an available real is found; an empty slot ends the
//!   walk.
//!
//! Must not: know how a table is filled or how a flow is hashed (that stays in each
//! scheduler's module); allocate.

use crate::dest::available_at;
use crate::Dest;

/// An empty slot.
pub(crate) const NONE: u32 = u32::MAX;

/// The real in slot `at`, if it is available.
#[inline]
pub(crate) fn slot(slots: &[u32], dests: &[Dest], at: usize) -> Option<usize> {
    let i = slots[at] as usize;
    available_at(dests, i).then_some(i)
}

/// The real in slot `ihash` if available; otherwise, with `fallback`, the first available
/// real of the slots `rehash(offset)` for `offset` = `ihash`, `ihash + 1`, ... (mod the table
/// size), stopping at an empty slot.
#[inline]
pub(crate) fn slot_or_rehash(
    slots: &[u32],
    dests: &[Dest],
    ihash: usize,
    fallback: bool,
    rehash: impl Fn(u32) -> usize,
) -> Option<usize> {
    if let Some(i) = slot(slots, dests, ihash) {
        return Some(i);
    }
    if !fallback || slots[ihash] == NONE {
        return None;
    }
    let n = slots.len() as u64;
    for offset in 0..n {
        let roffset = ((offset + ihash as u64) % n) as u32;
        let i = slots[rehash(roffset)];
        if i == NONE {
            break;
        }
        if available_at(dests, i as usize) {
            return Some(i as usize);
        }
    }
    None
}
