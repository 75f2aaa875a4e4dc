//! wrr — weighted round robin (IPVS `ip_vs_wrr.c`).
//!
//! Invariants: `di` is the gcd of the positive weights (1 if none), `mw` the maximum weight
//! minus `di - 1` (so that the last pass is for weight >= 1), `cw` the current weight in
//! `1..=mw` (or 0 before the first update). A pass walks the list after the cursor and takes the
//! first real that is not overloaded and whose weight >= `cw`; at the end of the list `cw`
//! drops by `di`, wrapping to `mw`. With weights 4,3,2 this yields A A B A B C A B C.
//! `update()` moves the cursor to the head and keeps `cw` as the kernel's
//! `ip_vs_wrr_dest_changed` does (reset to `mw` if above it or 0, else rounded to the
//! new `di` grid plus 1).
//!
//! Deviation from the kernel: none in behaviour; arithmetic is 64-bit.

use crate::{Dest, Flow, Scheduler};

#[derive(Debug, Default)]
pub struct Wrr {
    /// Current dest (index), or the list head.
    cl: Option<usize>,
    cw: i64,
    mw: i64,
    di: i64,
}

fn gcd(mut a: i64, mut b: i64) -> i64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

impl Scheduler for Wrr {
    fn name(&self) -> &'static str {
        "wrr"
    }

    fn update(&mut self, dests: &[Dest]) {
        let g = dests.iter().map(|d| i64::from(d.weight)).filter(|&w| w > 0).fold(0, gcd);
        let max = dests.iter().map(|d| i64::from(d.weight)).max().unwrap_or(0);
        self.cl = None;
        self.di = if g > 0 { g } else { 1 };
        self.mw = max - (self.di - 1);
        if self.cw > self.mw || self.cw == 0 {
            self.cw = self.mw;
        } else if self.di > 1 {
            self.cw = (self.cw / self.di) * self.di + 1;
        }
    }

    fn schedule(&mut self, dests: &[Dest], _flow: &Flow, _now_ms: u64) -> Option<usize> {
        let n = dests.len();
        let mut dest = self.cl.filter(|&c| c < n);
        if self.mw <= 0 {
            self.cl = dest;
            return None;
        }
        let last = dest;
        let mut stop: Option<usize> = None;
        let mut last_pass = false;
        let mut restarted = false;
        loop {
            for (i, d) in dests.iter().enumerate().skip(dest.map_or(0, |c| c + 1)) {
                if !d.is_overloaded() && i64::from(d.weight) >= self.cw {
                    self.cl = Some(i);
                    return Some(i);
                }
                if stop == Some(i) {
                    self.cl = Some(i);
                    return None;
                }
            }
            dest = None;
            self.cw -= self.di;
            if self.cw <= 0 {
                self.cw = self.mw;
                if last_pass || last.is_none() {
                    self.cl = None;
                    return None;
                }
                restarted = true;
            }
            last_pass = self.cw <= self.di;
            if last_pass && restarted && last.is_some() {
                stop = last;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;

    #[test]
    fn weights_4_3_2() {
        let (mut s, d) = updated(Wrr::default(), &[4, 3, 2]);
        let one = [0, 0, 1, 0, 1, 2, 0, 1, 2].map(Some);
        let mut want = one.to_vec();
        want.extend(one);
        assert_eq!(run(&mut s, &d, 18), want);
    }

    #[test]
    fn gcd_steps() {
        let (mut s, d) = updated(Wrr::default(), &[4, 2]);
        assert_eq!(run(&mut s, &d, 6), [0, 0, 1, 0, 0, 1].map(Some).to_vec());
    }

    #[test]
    fn skips_zero_and_overloaded_and_none() {
        let (mut s, d) = updated(Wrr::default(), &[3, 0, 1]);
        let r = run(&mut s, &d, 8);
        assert!(!r.contains(&Some(1)));
        assert_eq!(r.iter().filter(|x| **x == Some(0)).count(), 6);
        set_overloaded(&d[0], true);
        assert_eq!(run(&mut s, &d, 3), [2, 2, 2].map(Some).to_vec());
        set_overloaded(&d[2], true);
        assert_eq!(s.schedule(&d, &any_flow(), 0), None);
        let z = dests(&[0, 0, 0]);
        s.update(&z);
        assert_eq!(s.schedule(&z, &any_flow(), 0), None);
        s.update(&[]);
        assert_eq!(s.schedule(&[], &any_flow(), 0), None);
    }

    #[test]
    fn restarts_after_weight_change() {
        let (mut s, d) = updated(Wrr::default(), &[4, 3, 2]);
        run(&mut s, &d, 4);
        let d2 = dests(&[1, 1]);
        s.update(&d2);
        assert_eq!(run(&mut s, &d2, 4), [0, 1, 0, 1].map(Some).to_vec());
    }
}
