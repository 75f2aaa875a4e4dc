//! twos — power of two choices (IPVS `ip_vs_twos.c`).
//!
//! Invariants: with `T` = the sum of the weights of reals that have weight > 0 and are not
//! overloaded, two random numbers `r1, r2` are drawn in `0..=T` (`% (T + 1)`, as the kernel);
//! walking those reals in order and subtracting each weight, choice *k* is the first real at
//! which `r_k` drops to <= 0. The second choice wins when it is less loaded by weight:
//! `w2 * overhead1 > w1 * overhead2` (overhead = `active * 256 + inactive`); otherwise the
//! first (`overhead::Ratio`'s comparison). The random numbers come from a SplitMix64 generator seeded with
//! [`crate::SchedConfig::seed`], so the same seed and the same inputs give the same choices.
//!
//! Deviation from the kernel: the PRNG (deterministic SplitMix64 instead of `prandom_u32`);
//! the weight arithmetic is 64-bit.

use crate::overhead::{overhead_per_weight, Ratio};
use crate::{Dest, Flow, Scheduler};

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, full-period, good enough to pick reals.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }
}

#[derive(Debug)]
pub struct Twos {
    rng: SplitMix64,
}

impl Twos {
    pub fn new(seed: u64) -> Self {
        Twos { rng: SplitMix64::new(seed) }
    }
}

/// Total weight of the candidates (weight > 0, not overloaded).
fn total_weight(dests: &[Dest]) -> u64 {
    dests.iter().filter(|d| d.available()).map(|d| u64::from(d.weight)).sum()
}

/// The deterministic part of twos: given the two random weights (each in `0..=total`),
/// return the chosen real.
pub(crate) fn choose(dests: &[Dest], mut r1: i128, mut r2: i128) -> Option<usize> {
    let mut c1: Option<(usize, Ratio)> = None;
    let mut c2: Option<(usize, Ratio)> = None;
    let mut last = None;
    for (i, d) in dests.iter().enumerate() {
        if !d.available() {
            continue;
        }
        last = Some(i);
        let w = i128::from(d.weight);
        r1 -= w;
        r2 -= w;
        if r1 <= 0 && c1.is_none() {
            c1 = Some((i, overhead_per_weight(d)));
        }
        if r2 <= 0 && c2.is_none() {
            c2 = Some((i, overhead_per_weight(d)));
        }
        if c1.is_some() && c2.is_some() {
            break;
        }
    }
    match (c1, c2) {
        (Some((i1, c1)), Some((i2, c2))) => Some(if c2.lt(c1) { i2 } else { i1 }),
        (Some((i1, ..)), None) => Some(i1),
        // Unreachable with r in 0..=total; the kernel then keeps the last available real.
        (None, Some((i2, ..))) => Some(i2),
        (None, None) => last,
    }
}

impl Scheduler for Twos {
    fn name(&self) -> &'static str {
        "twos"
    }

    fn update(&mut self, _dests: &[Dest]) {}

    fn schedule(&mut self, dests: &[Dest], _flow: &Flow, _now_ms: u64) -> Option<usize> {
        let total = total_weight(dests);
        if total == 0 {
            return None;
        }
        let m = total + 1;
        let r1 = u64::from(self.rng.next_u32()) % m;
        let r2 = u64::from(self.rng.next_u32()) % m;
        choose(dests, i128::from(r1), i128::from(r2))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;

    #[test]
    fn deterministic_for_a_seed() {
        let d = dests(&[1, 2, 3, 4]);
        let run = |seed| {
            let mut s = Twos::new(seed);
            (0..200).map(|_| s.schedule(&d, &any_flow(), 0).unwrap()).collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }

    #[test]
    fn prefers_less_loaded_of_two() {
        let d = dests(&[1, 1, 1]);
        set_conns(&d[0], 10, 0);
        set_conns(&d[2], 1, 0);
        // total 3; r = 0 or 1 -> A, 2 -> B, 3 -> C
        assert_eq!(choose(&d, 0, 2), Some(1));
        assert_eq!(choose(&d, 2, 0), Some(1));
        assert_eq!(choose(&d, 3, 0), Some(2));
        assert_eq!(choose(&d, 0, 3), Some(2));
        assert_eq!(choose(&d, 1, 1), Some(0)); // same pick twice
                                               // weighted: B has twice the weight, so 2x the load ties (first choice kept)
        let d = dests(&[1, 2]);
        set_conns(&d[0], 1, 0);
        set_conns(&d[1], 2, 0);
        assert_eq!(choose(&d, 0, 3), Some(0));
        assert_eq!(choose(&d, 3, 0), Some(1));
        set_conns(&d[1], 3, 0);
        assert_eq!(choose(&d, 3, 0), Some(0));
    }

    #[test]
    fn load_shifts_share() {
        let d = dests(&[1, 1]);
        set_conns(&d[0], 100, 0);
        let mut s = Twos::new(1);
        let n = 9000;
        let b = (0..n).filter(|_| s.schedule(&d, &any_flow(), 0) == Some(1)).count();
        // P(A) = P(both picks A) = (2/3)^2 = 4/9: B gets about 5/9
        assert!((b as f64 / n as f64 - 5.0 / 9.0).abs() < 0.03, "{b}");
    }

    #[test]
    fn weight_zero_and_overloaded() {
        let d = dests(&[0, 3, 0]);
        let mut s = Twos::new(0);
        for _ in 0..100 {
            assert_eq!(s.schedule(&d, &any_flow(), 0), Some(1));
        }
        set_overloaded(&d[1], true);
        assert_eq!(s.schedule(&d, &any_flow(), 0), None);
    }
}
