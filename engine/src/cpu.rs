//! The CPU instructions the engine asks for by name, which safe Rust cannot: cache prefetch
//! hints, and the compare of eight index slots at once. Neither changes what the engine
//! computes: on targets without them, a hint compiles to nothing and the compare is done
//! a slot at a time, with the same result.
//!
//! Invariants:
//! - A hint may be given for any address, in or out of bounds: a prefetch never faults, so
//!   an address outside any allocation costs at most a wasted load. Callers hint element
//!   `i` of a slice as `slice.as_ptr().wrapping_add(i)`, without a bounds check (which on
//!   the packet path cost more than the hint: 6 to 8 instructions per packet).
//! - The compare reads only the array it is given (by value: no pointer is dereferenced
//!   here), with SSE2 instructions, which every x86-64 CPU has (the `cfg` requires it).

/// Ask the CPU to start loading the cache line at `p`, which may point anywhere.
#[inline(always)]
pub fn prefetch(p: *const impl Sized) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetch is a hint; it does not dereference in the Rust sense and cannot
    // fault, whatever the address.
    unsafe {
        core::arch::x86_64::_mm_prefetch(p as *const i8, core::arch::x86_64::_MM_HINT_T0);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// For eight `u32`s: bit k is set when `g[k] & mask == want`, and bit 8 + k when
/// `g[k] == 0`.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline(always)]
pub fn match_and_empty(g: &[u32; 8], mask: u32, want: u32) -> u32 {
    use core::arch::x86_64::*;
    // SAFETY: these intrinsics are unsafe only for the target feature they need, SSE2,
    // which the `cfg` above requires to be enabled for the whole build; they take values,
    // not pointers.
    unsafe {
        let lo = _mm_set_epi32(g[3] as i32, g[2] as i32, g[1] as i32, g[0] as i32);
        let hi = _mm_set_epi32(g[7] as i32, g[6] as i32, g[5] as i32, g[4] as i32);
        let mask = _mm_set1_epi32(mask as i32);
        let want = _mm_set1_epi32(want as i32);
        let zero = _mm_setzero_si128();
        // Each compare gives 0 or -1 a lane; the saturating packs keep that, down to bytes.
        let matched = _mm_packs_epi32(
            _mm_cmpeq_epi32(_mm_and_si128(lo, mask), want),
            _mm_cmpeq_epi32(_mm_and_si128(hi, mask), want),
        );
        let empty = _mm_packs_epi32(_mm_cmpeq_epi32(lo, zero), _mm_cmpeq_epi32(hi, zero));
        _mm_movemask_epi8(_mm_packs_epi16(matched, empty)) as u32
    }
}

/// [`match_and_empty`] without SSE2: the same bits, a slot at a time.
#[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
#[inline(always)]
pub fn match_and_empty(g: &[u32; 8], mask: u32, want: u32) -> u32 {
    match_and_empty_scalar(g, mask, want)
}

/// [`match_and_empty`] a slot at a time: the definition, and the reference its tests
/// compare with.
#[cfg_attr(all(target_arch = "x86_64", target_feature = "sse2"), allow(dead_code))]
#[inline(always)]
fn match_and_empty_scalar(g: &[u32; 8], mask: u32, want: u32) -> u32 {
    let mut bits = 0u32;
    for (k, &v) in g.iter().enumerate() {
        bits |= ((v & mask == want) as u32) << k | ((v == 0) as u32) << (8 + k);
    }
    bits
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vector compare gives the scalar definition's bits, for slots that are empty,
    /// match, differ only outside the mask, or differ inside it, in every lane.
    #[test]
    fn the_vector_compare_is_the_scalar_one() {
        let mask = 0xfe00_0000;
        let values = [0, 0x0200_0001, 0x0300_0005, 0x0400_0001, 0xfe00_0000, 0xffff_ffff, 1, 0x0000_0000];
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let g: [u32; 8] = std::array::from_fn(|k| values[(x >> (3 * k)) as usize % values.len()]);
            for want in [0, 0x0200_0000, 0x0400_0000, 0xfe00_0000] {
                assert_eq!(match_and_empty(&g, mask, want), match_and_empty_scalar(&g, mask, want), "{g:x?} {want:x}");
            }
        }
    }
}
