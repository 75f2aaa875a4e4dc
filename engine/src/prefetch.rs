//! Cache prefetch hints. They never change behaviour; on targets without a prefetch
//! instruction they compile to nothing.

/// Ask the CPU to start loading the cache line holding `*p`.
#[inline(always)]
pub fn read<T>(p: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetch is a hint; it does not dereference in the Rust sense and cannot fault.
    unsafe {
        core::arch::x86_64::_mm_prefetch(p as *const T as *const i8, core::arch::x86_64::_MM_HINT_T0);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}
