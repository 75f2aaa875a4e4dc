//! `miss_ns`: the time of one dependent random memory access on this machine, measured in
//! the same run as the engine so that the engine's time per packet can be stated as a
//! ratio to it (a figure that holds across hosts, unlike nanoseconds); and
//! `miss_parallel_ns`: the time per access when [`CHAINS`] such accesses are independent
//! of each other, so that the machine may overlap them. Their quotient is the memory-level
//! parallelism the machine gives one core: the most that prefetching a group of frames
//! can win, since a packet of a large table needs its index slot and its entry from
//! memory whatever the engine does.
//!
//! Method: one cache line per node in a buffer of [`BYTES`] (several times any last-level
//! cache this project runs on), linked into a single random cycle (a random permutation of
//! the nodes, each linked to the next: a uniformly random cyclic order), so every load
//! depends on the one before and no prefetcher can guess it. Linking the cycle writes
//! every line, so the pages are in; [`STEPS`] loads are timed, first as one chain, then as
//! [`CHAINS`] chains advanced in turn, each starting an equal share of the cycle after the
//! one before, so that no chain reaches a line another has brought in. Before each, one
//! sequential read of the whole buffer leaves in the cache the same lines for both (its
//! last addresses, at random places of the cycle), not the lines the cycle was linked or
//! walked through last, which one chain would then find at hand. Pages are the
//! allocator's, without the huge-page advice the engine's tables get (`--no-huge-pages`
//! leaves them the same), so page walks are included: a miss here costs at least what
//! one in the engine's tables does.

use std::time::Instant;

/// Size of the chased buffer.
pub const BYTES: usize = 256 << 20;
/// Timed dependent loads (of each measurement).
pub const STEPS: usize = 2_000_000;
/// Independent chains of `miss_parallel_ns`: the engine's prefetch group of frames.
pub const CHAINS: usize = 16;

/// Words per node: one 64-byte cache line of `u64`s.
const LINE: usize = 8;

/// What [`measure`] found: nanoseconds per access.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Misses {
    /// Each access depending on the one before (`miss_ns`).
    pub dependent_ns: f64,
    /// [`CHAINS`] independent chains (`miss_parallel_ns`).
    pub parallel_ns: f64,
}

/// A buffer of `nodes` lines linked into one random cycle, and the nodes in cycle order.
fn cycle(nodes: usize) -> (Vec<u64>, Vec<u32>) {
    let mut order: Vec<u32> = (0..nodes as u32).collect();
    // Fisher-Yates: a uniformly random order of the nodes.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in (1..nodes).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let j = (x % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    let mut buf = vec![0u64; nodes * LINE];
    for (i, &n) in order.iter().enumerate() {
        buf[n as usize * LINE] = u64::from(order[(i + 1) % nodes]);
    }
    (buf, order)
}

/// Advance `at.len()` chains `steps` times each, in turn; where they end.
#[inline(never)]
fn chase<const K: usize>(buf: &[u64], mut at: [usize; K], steps: usize) -> [usize; K] {
    for _ in 0..steps {
        for a in at.iter_mut() {
            *a = buf[*a * LINE] as usize;
        }
    }
    std::hint::black_box(at)
}

/// Read the first word of every line of `buf`, in address order.
#[inline(never)]
fn sweep(buf: &[u64]) {
    let sum = buf.iter().step_by(LINE).fold(0u64, |s, &w| s.wrapping_add(w));
    std::hint::black_box(sum);
}

/// Nanoseconds per access over `bytes` (at least a few lines), `steps` accesses each way.
pub fn measure(bytes: usize, steps: usize) -> Misses {
    let nodes = (bytes / (LINE * 8)).max(CHAINS);
    let (buf, order) = cycle(nodes);
    // Chain i starts i shares of the cycle after node order[0]: no chain walks into
    // another's part of it within `steps`, unless the buffer is smaller than that.
    let starts: [usize; CHAINS] = std::array::from_fn(|i| order[i * (nodes / CHAINS)] as usize);
    drop(order);
    sweep(&buf);
    let t = Instant::now();
    chase(&buf, [starts[0]], steps);
    let dependent_ns = t.elapsed().as_nanos() as f64 / steps.max(1) as f64;
    let per_chain = (steps / CHAINS).max(1);
    sweep(&buf);
    let t = Instant::now();
    chase(&buf, starts, per_chain);
    let parallel_ns = t.elapsed().as_nanos() as f64 / (per_chain * CHAINS) as f64;
    Misses { dependent_ns, parallel_ns }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nodes_form_one_cycle() {
        let nodes = 1000;
        let (buf, order) = cycle(nodes);
        let mut seen = vec![false; nodes];
        let mut at = 0usize;
        for _ in 0..nodes {
            assert!(!seen[at], "node {at} visited twice before the cycle closed");
            seen[at] = true;
            at = buf[at * LINE] as usize;
        }
        assert_eq!(at, 0, "the cycle closes after every node");
        // The order given is the cycle's.
        for w in order.windows(2) {
            assert_eq!(buf[w[0] as usize * LINE], u64::from(w[1]));
        }
    }

    #[test]
    fn a_small_chase_takes_time_both_ways() {
        let m = measure(64 * 64, 1000);
        assert!(m.dependent_ns > 0.0 && m.dependent_ns.is_finite(), "{m:?}");
        assert!(m.parallel_ns > 0.0 && m.parallel_ns.is_finite(), "{m:?}");
    }
}
