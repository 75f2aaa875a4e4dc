//! `schedule()` never allocates: every scheduler, driven through table building, cache
//! inserts, cache hits, fallbacks and lblc/lblcr garbage collection, under xvs-testkit's
//! counting global allocator.

use std::net::IpAddr;
use std::sync::atomic::Ordering;
use xvs_sched::*;
use xvs_testkit::{count_allocs, CountingAlloc};

#[global_allocator]
static A: CountingAlloc = CountingAlloc;

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
        let (hits, n) = count_allocs(|| {
            let mut hits = 0usize;
            for (k, f) in flows.iter().enumerate() {
                // time runs across GC ticks, full checks and lblcr set expiry
                let now = k as u64 * 40_000_000;
                hits += usize::from(s.schedule(&dests, f, now).is_some());
            }
            hits
        });
        assert_eq!(n, 0, "{name} allocated {n} times in schedule()");
        assert!(hits > 0, "{name} never scheduled");
    }
}
