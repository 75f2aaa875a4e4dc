//! lc — least connection (IPVS `ip_vs_lc.c`).
//!
//! Invariant: picks, among reals with weight > 0 that are not overloaded, the first one with
//! the smallest overhead `active * 256 + inactive` (weights are otherwise ignored).
//!
//! The scan is `overhead::least` (cost: overhead per 1).
//!
//! Deviation from the kernel: none (overhead computed in 64 bits).

use crate::overhead::{available, least, Ratio};
use crate::Dest;

stateless_scheduler!(Lc, "lc", pick);

/// The first available real with the least overhead (weights otherwise ignored).
pub(crate) fn pick(dests: &[Dest]) -> Option<usize> {
    least(available(dests), |d| Ratio::new(d.overhead(), 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;

    #[test]
    fn least_overhead() {
        let d = assert_picks(
            &mut Lc,
            &[1, 5, 1, 0],
            &[
                // overheads 256, 300, 255
                (&[Conns(0, 1, 0), Conns(1, 0, 300), Conns(2, 0, 255)], Some(2)),
                (&[Conns(2, 1, 0)], Some(0)), // tie with 0 at 256: first wins
                (&[Overloaded(0, true)], Some(2)),
                // weight 0 (real 3, overhead 0) is never picked even when idle
                (&[Overloaded(1, true), Overloaded(2, true)], None),
            ],
        );
        assert_eq!(d[3].overhead(), 0);
    }
}
