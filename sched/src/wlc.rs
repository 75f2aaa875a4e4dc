//! wlc — weighted least connection (IPVS `ip_vs_wlc.c`).
//!
//! Invariant: the first real with weight > 0 that is not overloaded starts as the least; each
//! later non-overloaded real replaces it when `loh * w_d > doh * w_least` (overhead divided by
//! weight, compared by cross-multiplication; ties keep the earlier real). A weight-0 real can
//! never win (its left side is 0).
//!
//! The scan is `overhead::least_per_weight` (cost: overhead per weight); lblc and lblcr
//! take the same choice through `wlc_pick`.
//!
//! Deviation from the kernel: none (products computed in 128 bits, no overflow; in 64 bits
//! where the weights keep them below 2^64).

use crate::overhead::{least_per_weight, narrow_weights, uniform_weights, Ratio};
use crate::{Dest, Flow, Scheduler};

/// wlc. Its only state: how the last `update`'s weights let the scan compare costs, each
/// exactly as the 128-bit cross-multiplication would.
#[derive(Debug, Default)]
pub struct Wlc {
    compare: Compare,
}

/// How overheads per weight are compared, from the weights alone (decided in `update`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Compare {
    /// Every real has one weight above 0 (a pool of equal servers, keepalived's default
    /// weight 1): overheads alone, no products, about a quarter fewer instructions per
    /// real.
    SameWeight,
    /// Every weight is at most `overhead::NARROW_WEIGHT`, which every weight the
    /// configuration accepts is: 64-bit products, about a fifth fewer than 128-bit.
    Narrow,
    /// 128-bit products.
    #[default]
    Wide,
}

impl Scheduler for Wlc {
    fn name(&self) -> &'static str {
        "wlc"
    }

    fn update(&mut self, dests: &[Dest]) {
        self.compare = if uniform_weights(dests) {
            Compare::SameWeight
        } else if narrow_weights(dests) {
            Compare::Narrow
        } else {
            Compare::Wide
        };
    }

    fn schedule(&mut self, dests: &[Dest], _flow: &Flow, _now_ms: u64) -> Option<usize> {
        match self.compare {
            Compare::SameWeight => least_per_weight(dests, Dest::overhead, Ratio::lt_same_den),
            Compare::Narrow => least_per_weight(dests, Dest::overhead, Ratio::lt_narrow),
            Compare::Wide => wlc_pick(dests),
        }
    }
}

/// The kernel's weighted-least-connection loop, shared by wlc, lblc and lblcr.
pub(crate) fn wlc_pick(dests: &[Dest]) -> Option<usize> {
    least_per_weight(dests, Dest::overhead, Ratio::lt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;

    #[test]
    fn overhead_per_weight() {
        assert_picks(
            &mut Wlc::default(),
            &[1, 3, 2],
            &[
                // A: 256/1, B: 3*256/3 = 256 (tie: A stays), C: 600/2 = 300
                (&[Conns(0, 1, 0), Conns(1, 3, 0), Conns(2, 2, 88)], Some(0)),
                (&[Conns(1, 3, 2)], Some(0)), // 770/3 = 256.67 > 256
                (&[Conns(0, 1, 1)], Some(1)), // 257 > 256.67
                (&[Conns(2, 2, 0)], Some(2)), // 512/2 = 256 < 256.67
                (&[Overloaded(2, true)], Some(1)),
            ],
        );
    }

    #[test]
    fn weights_beyond_the_narrow_bound_compare_exactly() {
        // Products near 2^72: in 64 bits these would wrap and pick real 0.
        assert_picks(
            &mut Wlc::default(),
            &[901_449_565, 2_643_190_188],
            &[(&[Conns(0, 3_636_105_207, 1_546_567_510), Conns(1, 2_701_313_668, 2_704_974_391)], Some(1))],
        );
    }

    #[test]
    fn equal_weights_pick_the_least_overhead_and_follow_a_weight_change() {
        let (mut s, d) = updated(Wlc::default(), &[2, 2, 2]);
        let f = flow_from(1);
        set_conns(&d[0], 1, 0); // 256
        set_conns(&d[1], 0, 300); // 300
        set_conns(&d[2], 1, 0); // 256: a tie keeps real 0
        assert_eq!(s.schedule(&d, &f, 0), Some(0));
        set_conns(&d[0], 1, 45); // 301
        assert_eq!(s.schedule(&d, &f, 0), Some(2));
        set_overloaded(&d[2], true);
        assert_eq!(s.schedule(&d, &f, 0), Some(1));
        // Real 1 quiesced (weight 0): no longer one weight, and it must not win on its
        // lower overhead.
        let mut d2 = d.clone();
        d2[1].weight = 0;
        s.update(&d2);
        assert_eq!(s.schedule(&d2, &f, 0), Some(0));
    }

    #[test]
    fn zero_weight_never_and_none() {
        assert_picks(&mut Wlc::default(), &[0, 1], &[(&[Conns(1, 100, 100)], Some(1))]);
        assert_picks(&mut Wlc::default(), &[0, 0], &[(&[], None)]);
        // a later weight-0 real with 0 overhead does not win
        assert_picks(&mut Wlc::default(), &[2, 0], &[(&[Conns(0, 5, 0)], Some(0))]);
    }
}
