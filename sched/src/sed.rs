//! sed — shortest expected delay (IPVS `ip_vs_sed.c`).
//!
//! Invariant: like wlc with overhead `active + 1` (inactive connections do not count): the
//! first available real starts as the least and a later non-overloaded real replaces it when
//! `(a_l + 1) * w_d > (a_d + 1) * w_l`; ties keep the earlier real; weight 0 never wins.
//!
//! The scan is `overhead::least_per_weight` (cost: `active + 1` per weight).
//!
//! Deviation from the kernel: none (64-bit products that cannot overflow).

use crate::overhead::{least_per_weight, Ratio};
use crate::Dest;

stateless_scheduler!(Sed, "sed", sed_pick);

/// sed's overhead: `active + 1` (its cost is that per weight).
fn sed_overhead(d: &Dest) -> u64 {
    u64::from(d.active()) + 1
}

/// The first available real with the least expected delay (shared with nq). Compared in
/// 64 bits, exactly whatever the weights: `active + 1` is at most 2^32 and a weight below
/// 2^32, so no product reaches 2^64.
pub(crate) fn sed_pick(dests: &[Dest]) -> Option<usize> {
    least_per_weight(dests, sed_overhead, Ratio::lt_narrow)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;

    #[test]
    fn expected_delay() {
        assert_picks(
            &mut Sed,
            &[1, 2, 0],
            &[
                // idle: A (0+1)/1 = 1, B (0+1)/2 = 0.5 -> B
                (&[], Some(1)),
                // A 1/1, B (1+1)/2 = 1: tie keeps A
                (&[Conns(1, 1, 0)], Some(0)),
                // inactive does not count
                (&[Conns(0, 0, 1000)], Some(0)),
                (&[Conns(0, 1, 0)], Some(1)), // A 2/1 > B 1
                (&[Overloaded(1, true)], Some(0)),
                (&[Overloaded(0, true)], None),
            ],
        );
    }
}
