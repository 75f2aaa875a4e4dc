//! `miss_ns`: the time of one dependent random memory access on this machine, measured in
//! the same run as the engine so that the engine's time per packet can be stated as a
//! ratio to it (a figure that holds across hosts, unlike nanoseconds).
//!
//! Method: one cache line per node in a buffer of [`BYTES`] (several times any last-level
//! cache this project runs on), linked into a single random cycle (Sattolo's shuffle), so
//! every load depends on the one before and no prefetcher can guess it; [`STEPS`] loads
//! timed, after one untimed pass over part of the cycle to fault the pages in. Pages are
//! the same kind the engine's tables get (the allocator's), so page walks are included,
//! as they are for the engine at a million flows.

use std::time::Instant;

/// Size of the chased buffer.
pub const BYTES: usize = 256 << 20;
/// Timed dependent loads.
pub const STEPS: usize = 2_000_000;

/// Words per node: one 64-byte cache line of `u64`s.
const LINE: usize = 8;

/// Nanoseconds per dependent random access over `bytes` (at least a few lines).
pub fn miss_ns(bytes: usize, steps: usize) -> f64 {
    let nodes = (bytes / (LINE * 8)).max(4);
    let mut order: Vec<u32> = (0..nodes as u32).collect();
    // Sattolo's algorithm: a uniformly random permutation that is one cycle.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in (1..nodes).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let j = (x % i as u64) as usize;
        order.swap(i, j);
    }
    let mut buf = vec![0u64; nodes * LINE];
    for i in 0..nodes {
        buf[i * LINE] = u64::from(order[i]);
    }
    drop(order);
    let chase = |buf: &[u64], n: usize| {
        let mut at = 0usize;
        for _ in 0..n {
            at = buf[at * LINE] as usize;
        }
        std::hint::black_box(at)
    };
    chase(&buf, steps.min(nodes));
    let t = Instant::now();
    chase(&buf, steps);
    t.elapsed().as_nanos() as f64 / steps.max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_chase_visits_every_node_and_takes_time() {
        // 64 nodes: the cycle returns to node 0 after exactly 64 steps.
        let ns = miss_ns(64 * 64, 1000);
        assert!(ns > 0.0 && ns.is_finite(), "{ns}");
    }
}
