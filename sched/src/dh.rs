//! dh — destination hashing (IPVS `ip_vs_dh.c`).
//!
//! Invariants: a 256-bucket table, built in `update()`, assigns the reals round robin in
//! canonical order (address, then port; `dest::canonical_order`) to the buckets (each real once per round, whatever its weight; empty list = empty
//! buckets). A flow's bucket is `hash_32(fold(dst), 8)` (the kernel's golden-ratio hash of the
//! destination address); the bucket's real is returned if it has weight > 0 and is not
//! overloaded, otherwise `None` (no fallback, as in the kernel). Weights matter only as 0.
//!
//! The lookup is `slots::slot`, shared with sh and mh.
//!
//! Deviation from the kernel: the kernel assigns in list order; the canonical order makes
//! directors with the same reals listed differently agree (a fleet behind ECMP).

use crate::hash::{fold, hash_32};
use crate::slots::{slot, NONE};
use crate::{Dest, Flow, Scheduler};

/// dh's and sh's table: 256 slots.
pub(crate) const TAB_BITS: u32 = 8;
pub(crate) const TAB_SIZE: usize = 1 << TAB_BITS;

#[derive(Debug)]
pub struct Dh {
    buckets: [u32; TAB_SIZE],
}

impl Default for Dh {
    fn default() -> Self {
        Dh { buckets: [NONE; TAB_SIZE] }
    }
}

impl Scheduler for Dh {
    fn name(&self) -> &'static str {
        "dh"
    }

    fn update(&mut self, dests: &[Dest]) {
        let order = crate::dest::canonical_order(dests);
        let n = order.len();
        for (i, b) in self.buckets.iter_mut().enumerate() {
            *b = if n == 0 { NONE } else { order[i % n] as u32 };
        }
    }

    fn schedule(&mut self, dests: &[Dest], flow: &Flow, _now_ms: u64) -> Option<usize> {
        slot(&self.buckets, dests, hash_32(fold(flow.dst), TAB_BITS) as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;

    #[test]
    fn destination_sticks_and_weights_ignored() {
        let (mut s, d) = updated(Dh::default(), &[1, 10, 100]);
        let mut count = [0usize; 3];
        for i in 0..3000u32 {
            let dst = (0xcb00_7100u32 + i).to_be_bytes();
            let f1 = flow([192, 0, 2, 1], 1000, dst);
            let f2 = flow([198, 51, 100, (i % 250) as u8], 2000, dst);
            let a = s.schedule(&d, &f1, 0).unwrap();
            assert_eq!(s.schedule(&d, &f2, 0), Some(a), "same destination, same real");
            count[a] += 1;
        }
        // weights 1:10:100 do not matter: roughly a third each
        for c in count {
            assert!((800..1200).contains(&c), "{count:?}");
        }
    }

    #[test]
    fn unavailable_gives_none() {
        let (mut s, d) = updated(Dh::default(), &[1, 0]);
        let mut seen = [false; 2];
        for i in 0..100u32 {
            let f = flow([1, 1, 1, 1], 1, (0x0a00_0000 + i).to_be_bytes());
            let b = hash_32(fold(f.dst), TAB_BITS) as usize;
            let r = s.schedule(&d, &f, 0);
            if b % 2 == 0 {
                assert_eq!(r, Some(0));
                seen[0] = true;
            } else {
                assert_eq!(r, None);
                seen[1] = true;
            }
        }
        assert!(seen[0] && seen[1]);
        s.update(&[]);
        assert_eq!(s.schedule(&[], &any_flow(), 0), None);
    }
}
