//! sh — source hashing (IPVS `ip_vs_sh.c`).
//!
//! Invariants: a 256-bucket table, built in `update()`, walks the reals cyclically in
//! canonical order (address, then port; `dest::canonical_order`) and
//! gives each real `max(weight, 1)` consecutive buckets before moving on (a weight-0 real still
//! holds one bucket per round, as in the kernel; it is then unavailable). A flow's bucket is
//! `(offset + hash_32(port + fold(src), 8)) & 255` with offset 0, where `port` is the source
//! port with `sh-port` (TCP/UDP/SCTP only) and 0 otherwise. The bucket's real is returned if it
//! has weight > 0 and is not overloaded. Without `sh-fallback` an unavailable real gives
//! `None`; with it, offsets `ihash, ihash+1, ...` (mod 256) are tried in turn, which visits
//! every bucket once, and the first available real is returned.
//!
//! The lookup and fallback are `slots::slot_or_rehash`, shared with mh.
//!
//! Deviation from the kernel: the kernel walks the reals in list order, so two directors
//! with the same reals listed differently build different tables; here the order is
//! canonical, so they agree (a fleet behind ECMP). Everything else follows the kernel.

use crate::dh::{TAB_BITS, TAB_SIZE};
use crate::hash::{fold, hash_32};
use crate::slots::{slot_or_rehash, NONE};
use crate::{Dest, Flow, Scheduler};

#[derive(Debug)]
pub struct Sh {
    buckets: [u32; TAB_SIZE],
    fallback: bool,
    port: bool,
}

impl Sh {
    pub fn new(fallback: bool, port: bool) -> Self {
        Sh { buckets: [NONE; TAB_SIZE], fallback, port }
    }

    #[inline]
    fn hashkey(key: u32, offset: u32) -> usize {
        (offset.wrapping_add(hash_32(key, TAB_BITS)) as usize) & (TAB_SIZE - 1)
    }
}

impl Scheduler for Sh {
    fn name(&self) -> &'static str {
        "sh"
    }

    fn update(&mut self, dests: &[Dest]) {
        let n = dests.len();
        if n == 0 {
            self.buckets = [NONE; TAB_SIZE];
            return;
        }
        let order = crate::dest::canonical_order(dests);
        let (mut p, mut count) = (0usize, 0u32);
        for b in self.buckets.iter_mut() {
            *b = order[p] as u32;
            count += 1;
            if count >= dests[order[p]].weight {
                p = (p + 1) % n;
                count = 0;
            }
        }
    }

    fn schedule(&mut self, dests: &[Dest], flow: &Flow, _now_ms: u64) -> Option<usize> {
        let key = u32::from(flow.hash_port(self.port)).wrapping_add(fold(flow.src));
        slot_or_rehash(&self.buckets, dests, Self::hashkey(key, 0), self.fallback, |r| Self::hashkey(key, r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;

    #[test]
    fn table_repeats_by_weight() {
        let (mut s, _) = updated(Sh::new(false, false), &[1, 2, 3]);
        assert_eq!(&s.buckets[..7], &[0, 1, 1, 2, 2, 2, 0]);
        let d = dests(&[0, 2]);
        s.update(&d);
        assert_eq!(&s.buckets[..4], &[0, 1, 1, 0]);
    }

    #[test]
    fn source_sticks_and_weight_proportional() {
        let (mut s, d) = updated(Sh::new(false, false), &[1, 2, 5]);
        let n = 80_000u32;
        let mut count = [0f64; 3];
        for i in 0..n {
            let f = flow_from(i);
            let a = s.schedule(&d, &f, 0).unwrap();
            let mut g = f;
            g.sport = g.sport.wrapping_add(7);
            g.dst = std::net::IpAddr::from([10, 9, 9, 9]);
            assert_eq!(s.schedule(&d, &g, 0), Some(a), "source port / dst do not matter");
            count[a] += 1.0;
        }
        for (c, w) in count.iter().zip([1.0, 2.0, 5.0]) {
            let want = f64::from(n) * w / 8.0;
            assert!((c - want).abs() / want < 0.06, "{count:?}");
        }
    }

    #[test]
    fn port_flag_spreads_one_source() {
        let (mut s, d) = updated(Sh::new(false, true), &[1, 1, 1, 1]);
        let mut seen = [false; 4];
        for p in 0..200u16 {
            let f = flow([192, 0, 2, 1], 1000 + p, [10, 0, 1, 100]);
            seen[s.schedule(&d, &f, 0).unwrap()] = true;
        }
        assert_eq!(seen, [true; 4]);
        // ICMP has no port: all the same
        let mut f = flow([192, 0, 2, 1], 1000, [10, 0, 1, 100]);
        f.proto = 1;
        let a = s.schedule(&d, &f, 0);
        f.sport = 2000;
        assert_eq!(s.schedule(&d, &f, 0), a);
    }

    #[test]
    fn fallback() {
        let d = dests(&[1, 1, 1]);
        let mut plain = Sh::new(false, false);
        let mut fb = Sh::new(true, false);
        plain.update(&d);
        fb.update(&d);
        set_overloaded(&d[1], true);
        let mut moved = 0;
        for i in 0..3000 {
            let f = flow_from(i);
            let a = plain.schedule(&d, &f, 0);
            let b = fb.schedule(&d, &f, 0).unwrap();
            assert_ne!(b, 1);
            match a {
                Some(x) => assert_eq!(x, b, "available reals keep their sources"),
                None => moved += 1,
            }
        }
        assert!(moved > 500);
        set_overloaded(&d[0], true);
        set_overloaded(&d[2], true);
        assert_eq!(fb.schedule(&d, &flow_from(1), 0), None);
        let z = dests(&[0, 0]);
        fb.update(&z);
        assert_eq!(fb.schedule(&z, &flow_from(1), 0), None);
    }
}
