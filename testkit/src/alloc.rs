//! A counting global allocator, for the tests that show a hot path allocates nothing.
//!
//! A test binary installs it with
//! `#[global_allocator] static A: xvs_testkit::CountingAlloc = xvs_testkit::CountingAlloc;`
//! and wraps the code under watch in [`count_allocs`].
//!
//! Invariants:
//! - Every call (alloc, alloc_zeroed, realloc, dealloc) is forwarded to the system allocator
//!   unchanged; while the calling thread is inside [`count_allocs`], each also counts one.
//! - Counting is per thread: other threads of the test harness do not disturb a count.
//! - [`count_allocs`] first checks that the allocator is installed (a count of 0 from an
//!   allocator that is not in use would prove nothing).
//!
//! This module is the named test-only exemption of the workspace's unsafe policy: the
//! `GlobalAlloc` trait is unsafe to implement; every method only forwards its arguments.

#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// The counting allocator (see the module doc).
#[derive(Debug, Clone, Copy, Default)]
pub struct CountingAlloc;

thread_local! {
    static WATCHING: Cell<bool> = const { Cell::new(false) };
    static CALLS: Cell<u64> = const { Cell::new(0) };
}

fn note() {
    // `try_with`: the allocator may run while thread-locals are being torn down.
    let _ = WATCHING.try_with(|w| {
        if w.get() {
            let _ = CALLS.try_with(|c| c.set(c.get() + 1));
        }
    });
}

// SAFETY: every method forwards its arguments unchanged to `System`, which upholds the
// `GlobalAlloc` contract; `note` neither allocates nor unwinds.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        note();
        // SAFETY: the caller's contract for `alloc` is passed on as is.
        unsafe { System.alloc(l) }
    }

    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        note();
        // SAFETY: as `alloc`.
        unsafe { System.alloc_zeroed(l) }
    }

    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        note();
        // SAFETY: `p` came from this allocator, that is from `System`, with layout `l`.
        unsafe { System.realloc(p, l, n) }
    }

    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        note();
        // SAFETY: `p` came from this allocator, that is from `System`, with layout `l`.
        unsafe { System.dealloc(p, l) }
    }
}

/// Runs `f` and returns its result with the number of allocator calls (allocations,
/// reallocations and frees) it made on this thread. Panics unless [`CountingAlloc`] is the
/// global allocator.
pub fn count_allocs<R>(f: impl FnOnce() -> R) -> (R, u64) {
    let (_, probe) = watch(|| std::hint::black_box(Box::new(0u64)));
    assert!(probe > 0, "CountingAlloc is not the global allocator of this test binary");
    watch(f)
}

fn watch<R>(f: impl FnOnce() -> R) -> (R, u64) {
    CALLS.with(|c| c.set(0));
    WATCHING.with(|w| w.set(true));
    let r = f();
    WATCHING.with(|w| w.set(false));
    (r, CALLS.with(|c| c.get()))
}
