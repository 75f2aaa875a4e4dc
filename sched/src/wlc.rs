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
        let d = dests(&[1, 3, 2]);
        let mut s = Wlc;
        // A: 256/1, B: 3*256/3 = 256 (tie: A stays), C: 600/2 = 300
        set_conns(&d[0], 1, 0);
        set_conns(&d[1], 3, 0);
        set_conns(&d[2], 2, 88);
        assert_eq!(s.schedule(&d, &any_flow(), 0), Some(0));
        set_conns(&d[1], 3, 2); // 770/3 = 256.67 > 256
        assert_eq!(s.schedule(&d, &any_flow(), 0), Some(0));
        set_conns(&d[0], 1, 1); // 257 > 256.67
        assert_eq!(s.schedule(&d, &any_flow(), 0), Some(1));
        set_conns(&d[2], 2, 0); // 512/2 = 256 < 256.67
        assert_eq!(s.schedule(&d, &any_flow(), 0), Some(2));
        set_overloaded(&d[2], true);
        assert_eq!(s.schedule(&d, &any_flow(), 0), Some(1));
    }

    #[test]
    fn zero_weight_never_and_none() {
        let d = dests(&[0, 1]);
        set_conns(&d[1], 100, 100);
        assert_eq!(Wlc.schedule(&d, &any_flow(), 0), Some(1));
        let d = dests(&[0, 0]);
        assert_eq!(Wlc.schedule(&d, &any_flow(), 0), None);
        // a later weight-0 real with 0 overhead does not win
        let d = dests(&[2, 0]);
        set_conns(&d[0], 5, 0);
        assert_eq!(Wlc.schedule(&d, &any_flow(), 0), Some(0));
    }
}
