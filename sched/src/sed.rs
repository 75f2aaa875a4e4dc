//! sed — shortest expected delay (IPVS `ip_vs_sed.c`).
//!
//! Invariant: like wlc with overhead `active + 1` (inactive connections do not count): the
//! first available real starts as the least and a later non-overloaded real replaces it when
//! `(a_l + 1) * w_d > (a_d + 1) * w_l`; ties keep the earlier real; weight 0 never wins.
//!
//! Deviation from the kernel: none (128-bit products).

use crate::{Dest, Flow, Scheduler};

#[derive(Debug, Default)]
pub struct Sed;

pub(crate) fn sed_overhead(d: &Dest) -> u64 {
    u64::from(d.active()) + 1
}

impl Scheduler for Sed {
    fn name(&self) -> &'static str {
        "sed"
    }

    fn update(&mut self, _dests: &[Dest]) {}

    fn schedule(&mut self, dests: &[Dest], _flow: &Flow, _now_ms: u64) -> Option<usize> {
        let mut it = dests.iter().enumerate();
        let (mut least, mut loh) =
            it.by_ref().find_map(|(i, d)| (!d.is_overloaded() && d.weight > 0).then(|| (i, sed_overhead(d))))?;
        for (i, d) in it {
            if d.is_overloaded() {
                continue;
            }
            let doh = sed_overhead(d);
            if u128::from(loh) * u128::from(d.weight) > u128::from(doh) * u128::from(dests[least].weight) {
                least = i;
                loh = doh;
            }
        }
        Some(least)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;

    #[test]
    fn expected_delay() {
        let d = dests(&[1, 2, 0]);
        let mut s = Sed;
        // idle: A (0+1)/1 = 1, B (0+1)/2 = 0.5 -> B
        assert_eq!(s.schedule(&d, &any_flow(), 0), Some(1));
        // A 1/1, B (1+1)/2 = 1: tie keeps A
        set_conns(&d[1], 1, 0);
        assert_eq!(s.schedule(&d, &any_flow(), 0), Some(0));
        // inactive does not count
        set_conns(&d[0], 0, 1000);
        assert_eq!(s.schedule(&d, &any_flow(), 0), Some(0));
        set_conns(&d[0], 1, 0); // A 2/1 > B 1
        assert_eq!(s.schedule(&d, &any_flow(), 0), Some(1));
        set_overloaded(&d[1], true);
        assert_eq!(s.schedule(&d, &any_flow(), 0), Some(0));
        set_overloaded(&d[0], true);
        assert_eq!(s.schedule(&d, &any_flow(), 0), None);
    }
}
