//! nq — never queue (IPVS `ip_vs_nq.c`).
//!
//! Invariant: walking the list, the first real with weight > 0, not overloaded and no active
//! connection (`active == 0`) is taken at once; otherwise the result is sed's choice
//! (`(active + 1) / weight`, cross-multiplied; ties keep the earlier real).
//!
//! Deviation from the kernel: none (128-bit products).

use crate::sed::sed_overhead;
use crate::{Dest, Flow, Scheduler};

#[derive(Debug, Default)]
pub struct Nq;

impl Scheduler for Nq {
    fn name(&self) -> &'static str {
        "nq"
    }

    fn update(&mut self, _dests: &[Dest]) {}

    fn schedule(&mut self, dests: &[Dest], _flow: &Flow, _now_ms: u64) -> Option<usize> {
        let mut least: Option<(usize, u64)> = None;
        for (i, d) in dests.iter().enumerate() {
            if !d.available() {
                continue;
            }
            if d.active() == 0 {
                return Some(i);
            }
            let doh = sed_overhead(d);
            let better = match least {
                None => true,
                Some((l, loh)) => {
                    u128::from(loh) * u128::from(d.weight) > u128::from(doh) * u128::from(dests[l].weight)
                }
            };
            if better {
                least = Some((i, doh));
            }
        }
        least.map(|(i, _)| i)
    }
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
