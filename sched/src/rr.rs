//! rr — round robin (IPVS `ip_vs_rr.c`).
//!
//! Invariants: a cursor names the last real picked (or the list head). Scheduling walks from
//! the real after the cursor to the end, then from the start up to and including the cursor,
//! and takes the first real that has weight > 0 and is not overloaded; the cursor moves to it.
//! Reals skipped do not reset the cursor. `update()` keeps the cursor on the same real (by
//! address and port); if that real was removed, the cursor moves to the nearest earlier real
//! that remains (the kernel's `ip_vs_rr_del_dest`), or to the head.
//!
//! Deviation from the kernel: none in behaviour.

use crate::dest::remap_cursor;
use crate::{Dest, Flow, Scheduler};
use std::net::IpAddr;

#[derive(Debug, Default)]
pub struct Rr {
    cursor: Option<usize>,
    keys: Vec<(IpAddr, u16)>,
}

impl Scheduler for Rr {
    fn name(&self) -> &'static str {
        "rr"
    }

    fn update(&mut self, dests: &[Dest]) {
        self.cursor = remap_cursor(self.cursor, &self.keys, dests);
        self.keys = dests.iter().map(Dest::key).collect();
    }

    fn schedule(&mut self, dests: &[Dest], _flow: &Flow, _now_ms: u64) -> Option<usize> {
        let n = dests.len();
        let (start, wrap_end) = match self.cursor {
            Some(c) if c < n => (c + 1, c + 1),
            _ => (0, 0),
        };
        let hit = (start..n).chain(0..wrap_end).find(|&i| dests[i].available())?;
        self.cursor = Some(hit);
        Some(hit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;

    #[test]
    fn cycles_and_skips() {
        let (mut s, d) = updated(Rr::default(), &[1, 0, 5, 1]);
        assert_eq!(run(&mut s, &d, 6), [0, 2, 3, 0, 2, 3].map(Some).to_vec());
        set_overloaded(&d[2], true);
        assert_eq!(run(&mut s, &d, 3), [0, 3, 0].map(Some).to_vec());
        set_overloaded(&d[2], false);
        assert_eq!(s.schedule(&d, &any_flow(), 0), Some(2));
        assert_eq!(s.schedule(&d, &any_flow(), 0), Some(3));
    }

    #[test]
    fn none_when_all_zero_or_overloaded() {
        let (mut s, d) = updated(Rr::default(), &[0, 0]);
        assert_eq!(s.schedule(&d, &any_flow(), 0), None);
        let d = dests(&[1, 1]);
        s.update(&d);
        set_overloaded(&d[0], true);
        set_overloaded(&d[1], true);
        assert_eq!(s.schedule(&d, &any_flow(), 0), None);
        s.update(&[]);
        assert_eq!(s.schedule(&[], &any_flow(), 0), None);
    }

    #[test]
    fn cursor_survives_update() {
        let (mut s, d) = updated(Rr::default(), &[1, 1, 1, 1]);
        assert_eq!(run(&mut s, &d, 3), [0, 1, 2].map(Some).to_vec());
        // remove the cursor's real (index 2): cursor moves to index 1, next is old index 3
        let d2 = vec![d[0].clone(), d[1].clone(), d[3].clone()];
        s.update(&d2);
        assert_eq!(s.schedule(&d2, &any_flow(), 0), Some(2));
    }
}
