//! nq — never queue (IPVS `ip_vs_nq.c`).
//!
//! Invariant: walking the list, the first real with weight > 0, not overloaded and no active
//! connection (`active == 0`) is taken at once; otherwise the result is sed's choice
//! (`(active + 1) / weight`, cross-multiplied; ties keep the earlier real).
//!
//! Deviation from the kernel: none (128-bit products).

use crate::sed::sed_pick;
use crate::Dest;

stateless_scheduler!(Nq, "nq", pick);

/// The first idle available real, else sed's choice. (The kernel does both in one walk; the
/// first idle real ends that walk whatever came before it, so the result is the same.)
pub(crate) fn pick(dests: &[Dest]) -> Option<usize> {
    dests.iter().position(|d| d.available() && d.active() == 0).or_else(|| sed_pick(dests))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;

    #[test]
    fn idle_first_then_sed() {
        let d = dests(&[10, 1, 1]);
        let mut s = Nq;
        set_conns(&d[0], 1, 0);
        set_conns(&d[1], 5, 0);
        // C idle (inactive does not matter) beats A's better sed score
        set_conns(&d[2], 0, 50);
        assert_eq!(s.schedule(&d, &any_flow(), 0), Some(2));
        // nobody idle: sed. A (1+1)/10, B 6/1, C (1+1)/1
        set_conns(&d[2], 1, 0);
        assert_eq!(s.schedule(&d, &any_flow(), 0), Some(0));
        // tie: A (9+1)/10 = 1 vs C (0+1)/1... C idle wins regardless; make C busy: 2/1
        set_conns(&d[0], 19, 0); // A 20/10 = 2, C 2/1 = 2: tie keeps A
        assert_eq!(s.schedule(&d, &any_flow(), 0), Some(0));
        // an idle but quiesced real is not taken
        let d = dests(&[0, 1]);
        set_conns(&d[1], 3, 0);
        assert_eq!(s.schedule(&d, &any_flow(), 0), Some(1));
        set_overloaded(&d[1], true);
        assert_eq!(s.schedule(&d, &any_flow(), 0), None);
    }
}
