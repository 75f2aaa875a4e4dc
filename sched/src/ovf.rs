//! ovf — overflow connection (IPVS `ip_vs_ovf.c`).
//!
//! Invariant: picks the first real with the highest weight among those with weight > 0, not
//! overloaded and `active <= weight` (the kernel skips a real only when `active > weight`, so a
//! real takes new connections until its active count exceeds its weight). Returns `None` when
//! every such real is full, even if others have weight > 0.
//!
//! The scan is `overhead::least` (cost: 1 per weight) over the reals that are not full.
//!
//! Deviation from the kernel: none.

use crate::overhead::{available, least, Ratio};
use crate::Dest;

stateless_scheduler!(Ovf, "ovf", pick);

/// The first real with the highest weight (the least `1 / weight`) among the available ones
/// with `active <= weight`.
pub(crate) fn pick(dests: &[Dest]) -> Option<usize> {
    let open = available(dests).filter(|(_, d)| d.active() <= d.weight);
    least(open, |d| Ratio::new(1, u64::from(d.weight)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;

    #[test]
    fn overflows_in_weight_order() {
        assert_picks(
            &mut Ovf,
            &[2, 3, 0],
            &[
                (&[], Some(1)),
                (&[Conns(1, 3, 0)], Some(1)), // active == weight: still taken
                (&[Conns(1, 4, 0)], Some(0)),
                (&[Conns(0, 3, 0)], None),
                (&[Conns(0, 0, 0), Overloaded(0, true)], None),
            ],
        );
    }
}
