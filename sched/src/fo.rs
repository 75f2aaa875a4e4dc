//! fo — weighted fail over (IPVS `ip_vs_fo.c`).
//!
//! Invariant: picks the first real with the highest weight among those not overloaded;
//! weight 0 is never picked.
//!
//! The scan is `overhead::least` (cost: 1 per weight, so the highest weight is the least).
//!
//! Deviation from the kernel: none.

use crate::overhead::{available, least, Ratio};
use crate::Dest;

stateless_scheduler!(Fo, "fo", pick);

/// The first available real with the highest weight (the least `1 / weight`).
pub(crate) fn pick(dests: &[Dest]) -> Option<usize> {
    least(available(dests), |d| Ratio::new(1, u64::from(d.weight)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;

    #[test]
    fn highest_weight_not_overloaded() {
        assert_picks(
            &mut Fo,
            &[2, 5, 5, 0],
            &[
                (&[Conns(1, 1000, 0)], Some(1)), // load does not matter
                (&[Overloaded(1, true)], Some(2)),
                (&[Overloaded(2, true)], Some(0)),
                (&[Overloaded(0, true)], None),
            ],
        );
    }
}
