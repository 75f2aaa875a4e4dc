//! fo — weighted fail over (IPVS `ip_vs_fo.c`).
//!
//! Invariant: picks the first real with the highest weight among those not overloaded;
//! weight 0 is never picked.
//!
//! Deviation from the kernel: none.

use crate::{Dest, Flow, Scheduler};

#[derive(Debug, Default)]
pub struct Fo;

impl Scheduler for Fo {
    fn name(&self) -> &'static str {
        "fo"
    }

    fn update(&mut self, _dests: &[Dest]) {}

    fn schedule(&mut self, dests: &[Dest], _flow: &Flow, _now_ms: u64) -> Option<usize> {
        let mut best: Option<usize> = None;
        let mut hw = 0u32;
        for (i, d) in dests.iter().enumerate() {
            if !d.is_overloaded() && d.weight > hw {
                best = Some(i);
                hw = d.weight;
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;

    #[test]
    fn highest_weight_not_overloaded() {
        let d = dests(&[2, 5, 5, 0]);
        let mut s = Fo;
        set_conns(&d[1], 1000, 0); // load does not matter
        assert_eq!(s.schedule(&d, &any_flow(), 0), Some(1));
        set_overloaded(&d[1], true);
        assert_eq!(s.schedule(&d, &any_flow(), 0), Some(2));
        set_overloaded(&d[2], true);
        assert_eq!(s.schedule(&d, &any_flow(), 0), Some(0));
        set_overloaded(&d[0], true);
        assert_eq!(s.schedule(&d, &any_flow(), 0), None);
    }
}
