//! `schedule()` never allocates: every scheduler, driven through table building, cache
//! inserts, cache hits, fallbacks and lblc/lblcr garbage collection, under a counting global
//! allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use xvs_sched::*;

struct Counting;

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<usize> = const { Cell::new(0) };
}

fn note() {
    let _ = ARMED.try_with(|a| {
        if a.get() {
            let _ = COUNT.try_with(|c| c.set(c.get() + 1));
        }
    });
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        note();
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        note();
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        note();
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static A: Counting = Counting;

#[test]
fn schedule_does_not_allocate() {
    let dests: Vec<Dest> = (0..7u8)
        .map(|i| {
            let d = Dest::new(IpAddr::from([10, 0, 2, i + 1]), 80, u32::from(i % 4));
            d.counters.active.store(u32::from(i), Ordering::Relaxed);
            d.counters.overloaded.store(i == 5, Ordering::Relaxed);
            d
        })
        .collect();
    let flows: Vec<Flow> = (0..3000u32)
        .map(|i| Flow {
            proto: 6,
            src: IpAddr::from((0x0b00_0000 + i * 7).to_be_bytes()),
            sport: (i % 50000) as u16,
            dst: IpAddr::from((0xcb00_0000 + i % 700).to_be_bytes()),
            dport: 80,
        })
        .collect();
    for name in SCHEDULER_NAMES {
        let flags = SchedFlags {
            sh_fallback: name == "sh",
            sh_port: name == "sh",
            mh_fallback: name == "mh",
            mh_port: name == "mh",
        };
        let cfg = SchedConfig { flags, mh_table_size: 4093, seed: 3 };
        let mut s = new_scheduler(name, &cfg).unwrap();
        s.update(&dests);
        COUNT.with(|c| c.set(0));
        ARMED.with(|a| a.set(true));
        let mut hits = 0usize;
        for (k, f) in flows.iter().enumerate() {
            // time runs across GC ticks, full checks and lblcr set expiry
            let now = k as u64 * 40_000_000;
            hits += usize::from(s.schedule(&dests, f, now).is_some());
        }
        ARMED.with(|a| a.set(false));
        let n = COUNT.with(|c| c.get());
        assert_eq!(n, 0, "{name} allocated {n} times in schedule()");
        assert!(hits > 0, "{name} never scheduled");
    }
}
