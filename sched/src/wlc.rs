//! wlc — weighted least connection (IPVS `ip_vs_wlc.c`).
//!
//! Invariant: the first real with weight > 0 that is not overloaded starts as the least; each
//! later non-overloaded real replaces it when `loh * w_d > doh * w_least` (overhead divided by
//! weight, compared by cross-multiplication; ties keep the earlier real). A weight-0 real can
//! never win (its left side is 0).
//!
//! The scan is `overhead::least` (cost: overhead per weight); lblc and lblcr take the same
//! choice through `wlc_pick`.
//!
//! Deviation from the kernel: none (products computed in 128 bits, no overflow).

use crate::overhead::{available, least, overhead_per_weight};
use crate::Dest;

stateless_scheduler!(Wlc, "wlc", wlc_pick);

/// The kernel's weighted-least-connection loop, shared by wlc, lblc and lblcr.
pub(crate) fn wlc_pick(dests: &[Dest]) -> Option<usize> {
    least(available(dests), overhead_per_weight)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;

    #[test]
    fn overhead_per_weight() {
        assert_picks(
            &mut Wlc,
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
    fn zero_weight_never_and_none() {
        assert_picks(&mut Wlc, &[0, 1], &[(&[Conns(1, 100, 100)], Some(1))]);
        assert_picks(&mut Wlc, &[0, 0], &[(&[], None)]);
        // a later weight-0 real with 0 overhead does not win
        assert_picks(&mut Wlc, &[2, 0], &[(&[Conns(0, 5, 0)], Some(0))]);
    }
}
