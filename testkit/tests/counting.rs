//! The counting allocator counts: installed here, it sees an allocation, a reallocation and
//! a free made inside `count_allocs`, none made outside, and none of another thread's.

use xvs_testkit::{count_allocs, CountingAlloc};

#[global_allocator]
static A: CountingAlloc = CountingAlloc;

#[test]
fn counts_this_threads_calls_only() {
    let (v, n) = count_allocs(|| {
        let mut v = vec![1u8; 100];
        v.extend_from_slice(&[2; 1000]);
        v
    });
    assert!(n >= 2, "alloc and realloc: {n}");
    let ((), n) = count_allocs(|| drop(v));
    assert_eq!(n, 1, "one free");
    let ((), n) = count_allocs(|| {
        std::thread::spawn(|| vec![0u8; 10].len()).join().unwrap();
    });
    // Spawning allocates on this thread; what the new thread allocates is not counted.
    assert!(n > 0);
    let ((), n) = count_allocs(|| ());
    assert_eq!(n, 0);
}
