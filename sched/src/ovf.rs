//! ovf — overflow connection (IPVS `ip_vs_ovf.c`).
//!
//! Invariant: picks the first real with the highest weight among those with weight > 0, not
//! overloaded and `active <= weight` (the kernel skips a real only when `active > weight`, so a
//! real takes new connections until its active count exceeds its weight). Returns `None` when
//! every such real is full, even if others have weight > 0.
//!
//! Deviation from the kernel: none.

use crate::{Dest, Flow, Scheduler};

#[derive(Debug, Default)]
pub struct Ovf;

impl Scheduler for Ovf {
    fn name(&self) -> &'static str {
        "ovf"
    }

    fn update(&mut self, _dests: &[Dest]) {}

    fn schedule(&mut self, dests: &[Dest], _flow: &Flow, _now_ms: u64) -> Option<usize> {
        let mut best: Option<(usize, u32)> = None;
        for (i, d) in dests.iter().enumerate() {
            let w = d.weight;
            if d.is_overloaded() || d.active() > w || w == 0 {
                continue;
            }
            if !matches!(best, Some((_, hw)) if w <= hw) {
                best = Some((i, w));
            }
        }
        best.map(|(i, _)| i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;

    #[test]
    fn overflows_in_weight_order() {
        let d = dests(&[2, 3, 0]);
        let mut s = Ovf;
        assert_eq!(s.schedule(&d, &any_flow(), 0), Some(1));
        set_conns(&d[1], 3, 0); // active == weight: still taken
        assert_eq!(s.schedule(&d, &any_flow(), 0), Some(1));
        set_conns(&d[1], 4, 0);
        assert_eq!(s.schedule(&d, &any_flow(), 0), Some(0));
        set_conns(&d[0], 3, 0);
        assert_eq!(s.schedule(&d, &any_flow(), 0), None);
        set_conns(&d[0], 0, 0);
        set_overloaded(&d[0], true);
        assert_eq!(s.schedule(&d, &any_flow(), 0), None);
    }
}
