//! Cache prefetch hints. They never change behaviour; on targets without a prefetch
//! instruction they compile to nothing.
//!
//! Invariant: a hint may be given for any address, in or out of bounds: a prefetch never
//! faults, so an address outside any allocation costs at most a wasted load. Callers hint
//! element `i` of a slice as `slice.as_ptr().wrapping_add(i)`, without a bounds check
//! (which on the packet path cost more than the hint: 6 to 8 instructions per packet).

/// Ask the CPU to start loading the cache line at `p`, which may point anywhere.
#[inline(always)]
pub fn read_ptr<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetch is a hint; it does not dereference in the Rust sense and cannot
    // fault, whatever the address.
    unsafe {
        core::arch::x86_64::_mm_prefetch(p as *const i8, core::arch::x86_64::_MM_HINT_T0);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}
