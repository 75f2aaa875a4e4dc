//! mh — Maglev hashing (IPVS `ip_vs_mh.c`; Eisenbud et al., NSDI 2016, §3.4).
//!
//! Invariants:
//! - The lookup table has a prime number `M` of slots (checked by the registry) and is rebuilt
//!   in `update()` only; `schedule()` hashes and indexes it.
//! - Each real's permutation is `offset = h1(addr, port) % M`, `skip = h2(addr, port) % (M-1) + 1`,
//!   where `h1`/`h2` are SipHash-1-3 of `port + fold(addr)` under the kernel's fixed keys
//!   (`2654435761` twice, `2654446892` twice).
//! - Weights enter as turns: `turns = (last_weight / gcd) >> rshift`, or 1 if that is 0 and
//!   `last_weight != 0`, where `gcd` is the gcd of the positive last weights and `rshift` keeps
//!   `max / gcd` within 6 bits (`fls(max/gcd) - 6`, at least 0). In each round every real with
//!   turns >= 1 claims `turns` slots, each at its next free preferred position, until all `M`
//!   slots are filled; so shares follow turns up to one round of rounding.
//! - `last_weight` is the latest non-zero weight of a real (its weight when it first appears):
//!   quiescing a real (weight 0) does not rebuild its slots away; it only makes the real
//!   unavailable. A real removed from the list loses its slots.
//! - A flow hashes `h1(fold(src) + port)` where `port` is the source port with `mh-port`
//!   (TCP/UDP/SCTP) and 0 otherwise; the slot's real is returned if it has weight > 0 and is not
//!   overloaded. With `mh-fallback`, offsets `ihash, ihash+1, ...` are rehashed
//!   (`h1(offset + port + fold(src))`) up to `M` times until an available real is found (`slots::slot_or_rehash`, shared with sh).
//!
//! Deviation from the kernel: the kernel refuses more reals than table slots; here the extra
//! reals simply get no slots. The kernel fills in list order; here the reals take their
//! turns in canonical order (address, then port; `dest::canonical_order`), so directors
//! given the same reals in any order build the same table (a fleet behind ECMP).
//! Everything else (hash keys, turns) follows the kernel.

use crate::hash::{fold, hsiphash_u32};
use crate::slots::{slot_or_rehash, NONE};
use crate::{Dest, Flow, Scheduler};
use std::collections::HashMap;
use std::net::IpAddr;

const HASH1: (u64, u64) = (2_654_435_761, 2_654_435_761);
const HASH2: (u64, u64) = (2_654_446_892, 2_654_446_892);
/// IPVS's `IP_VS_MH_TAB_BITS` (half of the default `CONFIG_IP_VS_MH_TAB_INDEX`, 12).
const TAB_BITS: u32 = 6;

#[derive(Debug)]
pub struct Mh {
    size: u32,
    fallback: bool,
    port: bool,
    lookup: Vec<u32>,
    /// Latest non-zero weight per real, by key (the kernel's `dest->last_weight`).
    last_weight: HashMap<(IpAddr, u16), u32>,
}

#[inline]
fn hashkey(addr: IpAddr, port: u16, key: (u64, u64), offset: u32) -> u32 {
    let v = offset.wrapping_add(u32::from(port)).wrapping_add(fold(addr));
    hsiphash_u32(v, key.0, key.1)
}

fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Index of the highest set bit, 1-based (the kernel's `fls`); 0 for 0.
fn fls(x: u32) -> u32 {
    32 - x.leading_zeros()
}

impl Mh {
    /// `size` should be prime (the registry refuses other sizes); here a non-prime size is
    /// raised to the next prime, because a permutation over a composite size may not reach
    /// every slot and the table could never be filled.
    pub fn new(size: u32, fallback: bool, port: bool) -> Self {
        let mut size = size.max(2);
        while !crate::is_prime(size) {
            size = size.checked_add(1).unwrap_or(4_294_967_291);
        }
        Mh { size, fallback, port, lookup: vec![NONE; size as usize], last_weight: HashMap::new() }
    }

    /// The lookup table (slot -> dest index, `u32::MAX` for none). For tests and diagnostics.
    pub fn table(&self) -> &[u32] {
        &self.lookup
    }

    fn populate(&mut self, dests: &[Dest], lw: &[u32]) {
        let m = self.size;
        self.lookup.clear();
        self.lookup.resize(m as usize, NONE);
        let g = lw.iter().copied().filter(|&w| w > 0).fold(0, gcd);
        if g < 1 {
            return;
        }
        let maxw = lw.iter().copied().max().unwrap_or(0);
        let rshift = fls(maxw / g).saturating_sub(TAB_BITS);
        struct Setup {
            skip: u32,
            perm: u32,
            turns: u32,
        }
        // In canonical order (the kernel's is the list's): directors given the same reals
        // in any order fill the same table.
        let order = crate::dest::canonical_order(dests);
        let mut setup: Vec<Setup> = order
            .iter()
            .map(|&k| (&dests[k], lw[k]))
            .map(|(d, w)| {
                let offset = hashkey(d.addr, d.port, HASH1, 0) % m;
                let skip = hashkey(d.addr, d.port, HASH2, 0) % (m - 1) + 1;
                let t = (w / g) >> rshift;
                Setup { skip, perm: offset, turns: if t > 0 { t } else { u32::from(w != 0) } }
            })
            .collect();
        let mut taken = vec![false; m as usize];
        let mut n = 0u32;
        loop {
            let mut i = 0;
            let mut dt_count = 0;
            while i < setup.len() {
                let ds = &mut setup[i];
                if ds.turns < 1 {
                    i += 1;
                    continue;
                }
                while taken[ds.perm as usize] {
                    ds.perm += ds.skip;
                    if ds.perm >= m {
                        ds.perm -= m;
                    }
                }
                taken[ds.perm as usize] = true;
                self.lookup[ds.perm as usize] = order[i] as u32;
                n += 1;
                if n == m {
                    return;
                }
                dt_count += 1;
                if dt_count >= ds.turns {
                    dt_count = 0;
                    i += 1;
                }
            }
        }
    }
}

impl Scheduler for Mh {
    fn name(&self) -> &'static str {
        "mh"
    }

    fn update(&mut self, dests: &[Dest]) {
        let mut last = HashMap::with_capacity(dests.len());
        let lw: Vec<u32> = dests
            .iter()
            .map(|d| {
                let w = match self.last_weight.get(&d.key()) {
                    Some(&prev) if d.weight == 0 => prev,
                    _ => d.weight,
                };
                last.insert(d.key(), w);
                w
            })
            .collect();
        self.last_weight = last;
        self.populate(dests, &lw);
    }

    fn schedule(&mut self, dests: &[Dest], flow: &Flow, _now_ms: u64) -> Option<usize> {
        let m = self.size;
        let port = flow.hash_port(self.port);
        let rehash = |offset| (hashkey(flow.src, port, HASH1, offset) % m) as usize;
        slot_or_rehash(&self.lookup, dests, rehash(0), self.fallback, rehash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;

    fn many(weights: impl Iterator<Item = u32>) -> Vec<Dest> {
        weights
            .enumerate()
            .map(|(i, w)| Dest::new(IpAddr::from([10, 1, (i / 200) as u8, (i % 200) as u8 + 1]), 80, w))
            .collect()
    }

    #[test]
    fn shares_follow_weights() {
        let d = many((0..100).map(|i| i % 5 + 1));
        let mut s = Mh::new(65537, false, false);
        s.update(&d);
        let mut count = vec![0u32; d.len()];
        for &i in s.table() {
            count[i as usize] += 1;
        }
        let total: u32 = d.iter().map(|d| d.weight).sum();
        for (c, d) in count.iter().zip(&d) {
            let want = 65537.0 * f64::from(d.weight) / f64::from(total);
            let err = (f64::from(*c) - want).abs() / want;
            assert!(err < 0.01, "weight {} got {c}, want {want:.1}", d.weight);
        }
    }

    #[test]
    fn removal_moves_little() {
        let d = many((0..100).map(|_| 1));
        let mut s = Mh::new(65537, false, true);
        s.update(&d);
        let keys: Vec<_> = (0..200_000u32).map(flow_from).collect();
        let before: Vec<_> = keys.iter().map(|f| d[s.schedule(&d, f, 0).unwrap()].key()).collect();
        let gone = d[37].key();
        let d2: Vec<_> = d.iter().filter(|x| x.key() != gone).cloned().collect();
        s.update(&d2);
        let (mut others, mut others_moved) = (0u32, 0u32);
        for (f, b) in keys.iter().zip(&before) {
            let a = d2[s.schedule(&d2, f, 0).unwrap()].key();
            if *b == gone {
                assert_ne!(a, gone);
            } else {
                others += 1;
                others_moved += u32::from(a != *b);
            }
        }
        let frac = f64::from(others_moved) / f64::from(others);
        assert!(frac < 0.02, "moved {frac:.4}");
    }

    #[test]
    fn quiesce_keeps_slots_and_fallback() {
        let d = many([1, 1, 1].into_iter());
        let mut s = Mh::new(251, false, false);
        s.update(&d);
        let t0 = s.table().to_vec();
        let mut d2 = d.clone();
        d2[1].weight = 0;
        s.update(&d2);
        assert_eq!(s.table(), &t0[..], "weight 0 keeps last_weight's slots");
        let mut fb = Mh::new(251, true, false);
        fb.update(&d);
        fb.update(&d2);
        let mut nones = 0;
        for i in 0..2000 {
            let f = flow_from(i);
            match s.schedule(&d2, &f, 0) {
                Some(x) => {
                    assert_ne!(x, 1);
                    assert_eq!(fb.schedule(&d2, &f, 0), Some(x));
                }
                None => {
                    nones += 1;
                    let y = fb.schedule(&d2, &f, 0).unwrap();
                    assert_ne!(y, 1);
                }
            }
        }
        assert!(nones > 300);
        // all quiesced: none at all
        let z: Vec<_> = d2
            .iter()
            .cloned()
            .map(|mut x| {
                x.weight = 0;
                x
            })
            .collect();
        fb.update(&z);
        assert_eq!(fb.schedule(&z, &flow_from(3), 0), None);
        // fresh reals with weight 0 get no slots
        let mut fresh = Mh::new(251, true, false);
        fresh.update(&z);
        assert!(fresh.table().iter().all(|&x| x == NONE));
        assert_eq!(fresh.schedule(&z, &flow_from(3), 0), None);
    }

    #[test]
    fn large_weights_shift() {
        // weights 1 and 100: max/gcd = 100, fls = 7, rshift 1 -> turns 1 and 50
        let d = many([1, 100].into_iter());
        let mut s = Mh::new(509, false, false);
        s.update(&d);
        let a = s.table().iter().filter(|&&x| x == 0).count();
        assert!((9..=11).contains(&a), "{a}");
    }

    #[test]
    fn non_prime_size_is_raised() {
        let mut s = Mh::new(250, false, false);
        assert_eq!(s.table().len(), 251);
        let d = many([1, 2].into_iter());
        s.update(&d);
        assert!(s.table().iter().all(|&x| x < 2));
    }

    #[test]
    fn source_sticks() {
        let d = many((0..10).map(|i| i % 3 + 1));
        let mut s = Mh::new(4093, false, false);
        s.update(&d);
        for i in 0..500 {
            let f = flow_from(i);
            let a = s.schedule(&d, &f, 0);
            let mut g = f;
            g.sport ^= 0x5555;
            assert_eq!(s.schedule(&d, &g, 0), a);
        }
    }
}
