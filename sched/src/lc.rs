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
        let d = dests(&[1, 5, 1, 0]);
        let mut s = Lc;
        s.update(&d);
        set_conns(&d[0], 1, 0); // 256
        set_conns(&d[1], 0, 300); // 300
        set_conns(&d[2], 0, 255); // 255
        assert_eq!(s.schedule(&d, &any_flow(), 0), Some(2));
        set_conns(&d[2], 1, 0); // tie with 0 at 256: first wins
        assert_eq!(s.schedule(&d, &any_flow(), 0), Some(0));
        set_overloaded(&d[0], true);
        assert_eq!(s.schedule(&d, &any_flow(), 0), Some(2));
        // weight 0 is never picked even when idle
        assert_eq!(d[3].overhead(), 0);
        set_overloaded(&d[1], true);
        set_overloaded(&d[2], true);
        assert_eq!(s.schedule(&d, &any_flow(), 0), None);
    }
}
