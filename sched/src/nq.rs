//! nq — never queue (IPVS `ip_vs_nq.c`).
//!
//! Invariant: walking the list, the first real with weight > 0, not overloaded and no active
//! connection (`active == 0`) is taken at once; otherwise the result is sed's choice
//! (`(active + 1) / weight`, cross-multiplied; ties keep the earlier real).
//!
//! Deviation from the kernel: none (sed's 64-bit products, which cannot overflow).

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
        assert_picks(
            &mut Nq,
            &[10, 1, 1],
            &[
                // C idle (inactive does not matter) beats A's better sed score
                (&[Conns(0, 1, 0), Conns(1, 5, 0), Conns(2, 0, 50)], Some(2)),
                // nobody idle: sed. A (1+1)/10, B 6/1, C (1+1)/1
                (&[Conns(2, 1, 0)], Some(0)),
                // tie: A (9+1)/10 = 1 vs C (0+1)/1... C idle wins regardless; make C busy: 2/1
                (&[Conns(0, 19, 0)], Some(0)), // A 20/10 = 2, C 2/1 = 2: tie keeps A
            ],
        );
        // an idle but quiesced real is not taken
        assert_picks(&mut Nq, &[0, 1], &[(&[Conns(1, 3, 0)], Some(1)), (&[Overloaded(1, true)], None)]);
    }
}
