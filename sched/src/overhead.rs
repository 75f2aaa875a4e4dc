//! The one "pick the real with the least cost" scan behind lc, wlc, sed, nq, fo, ovf,
//! lblc/lblcr (their wlc choice and lblcr's set minimum and maximum), and twos' comparison.
//!
//! IPVS writes this loop once per scheduler; here it is written once. A cost is a
//! [`Ratio`] `num / den` (overhead per weight for wlc, `active + 1` per weight for sed,
//! overhead per 1 for lc, weight per 1 for fo and ovf), never divided: two costs are compared
//! by cross-multiplication, as the kernel does, in 128 bits so that no product overflows.
//!
//! Invariants:
//! - [`least`] returns the first candidate (in the order given) with the least cost: a later
//!   candidate replaces the one held only when its cost is strictly lower, so ties keep the
//!   earlier real, exactly as the kernel's `>` comparisons do. A "most" is a least of the
//!   inverse ratio: fo's and ovf's highest weight is the least `1 / weight`, lblcr's most
//!   loaded member the least `weight / overhead`.
//! - Candidates are chosen by the caller (usually [`available`]: weight > 0 and not
//!   overloaded); [`least`] itself never looks at weights or flags. [`least_per_weight`]
//!   (wlc, sed) is the one scan that checks the flags itself, as IPVS's loops do.
//! - Nothing here allocates.
//!
//! Must not: read counters other than through the cost function it is given, or know any
//! scheduler's name.

use crate::Dest;

/// `num / den`, compared by cross-multiplication (the kernel never divides).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ratio {
    pub num: u64,
    pub den: u64,
}

impl Ratio {
    #[inline]
    pub fn new(num: u64, den: u64) -> Ratio {
        Ratio { num, den }
    }

    /// `self < other`, as `self.num * other.den < other.num * self.den`.
    #[inline]
    pub fn lt(self, other: Ratio) -> bool {
        u128::from(self.num) * u128::from(other.den) < u128::from(other.num) * u128::from(self.den)
    }

    /// [`lt`](Self::lt) in 64-bit products: the same answer when neither product reaches
    /// 2^64, which holds for overheads (or any numerator below 2^41) over weights of at
    /// most [`NARROW_WEIGHT`], and for sed's `active + 1` (at most 2^32) over any `u32`
    /// weight. Wrapping, so that a caller breaking that bound gets a wrong comparison,
    /// never a panic.
    #[inline]
    pub fn lt_narrow(self, other: Ratio) -> bool {
        self.num.wrapping_mul(other.den) < other.num.wrapping_mul(self.den)
    }

    /// [`lt`](Self::lt) where both denominators are one and the same non-zero number (a
    /// service whose reals all have one weight): then the numerators order the costs, and
    /// no product is needed.
    #[inline]
    pub fn lt_same_den(self, other: Ratio) -> bool {
        self.num < other.num
    }
}

/// Whether every real of `dests` has one and the same weight, and it is not 0: then a
/// scan of costs per weight may compare the costs' numerators alone
/// ([`Ratio::lt_same_den`]; decided in `update`, not per pick).
pub(crate) fn uniform_weights(dests: &[Dest]) -> bool {
    dests.first().is_some_and(|f| f.weight > 0 && dests.iter().all(|d| d.weight == f.weight))
}

/// The largest weight for which [`Ratio::lt_narrow`] compares overheads per weight
/// exactly: an overhead is at most `(2^32 - 1) * 256 + 2^32 - 1 < 2^41` (two `u32`
/// counters), so a product of one and a weight of at most 2^22 stays below 2^63. Weights
/// the configuration accepts are far below it (ipvsadm's 0..=65535).
pub(crate) const NARROW_WEIGHT: u32 = 1 << 22;

/// Whether every weight of `dests` is at most [`NARROW_WEIGHT`], so that a scan of
/// overheads per weight may compare in 64 bits (decided in `update`, not per pick).
pub(crate) fn narrow_weights(dests: &[Dest]) -> bool {
    dests.iter().all(|d| d.weight <= NARROW_WEIGHT)
}

/// Overhead per weight: IPVS's `ip_vs_dest_conn_overhead(dest) / dest->weight` (wlc, lblc,
/// lblcr, twos).
#[inline]
pub(crate) fn overhead_per_weight(d: &Dest) -> Ratio {
    Ratio::new(d.overhead(), u64::from(d.weight))
}

/// The reals that may take a new connection (weight > 0, not overloaded), with their indexes.
#[inline]
pub(crate) fn available(dests: &[Dest]) -> impl Iterator<Item = (usize, &Dest)> {
    dests.iter().enumerate().filter(|(_, d)| d.available())
}

/// The first candidate with the least cost: a later one replaces the one held only when its
/// cost is strictly lower.
#[inline]
pub(crate) fn least<'a>(
    candidates: impl IntoIterator<Item = (usize, &'a Dest)>,
    cost: impl Fn(&Dest) -> Ratio,
) -> Option<usize> {
    least_by(candidates, cost, Ratio::lt)
}

/// [`least`], comparing costs with `lt` ([`Ratio::lt`], or [`Ratio::lt_narrow`] where the
/// caller knows every product fits in 64 bits).
#[inline]
pub(crate) fn least_by<'a>(
    candidates: impl IntoIterator<Item = (usize, &'a Dest)>,
    cost: impl Fn(&Dest) -> Ratio,
    lt: impl Fn(Ratio, Ratio) -> bool,
) -> Option<usize> {
    let mut it = candidates.into_iter();
    let (mut held, mut held_cost) = it.next().map(|(i, d)| (i, cost(d)))?;
    for (i, d) in it {
        let c = cost(d);
        if lt(c, held_cost) {
            held = i;
            held_cost = c;
        }
    }
    Some(held)
}

/// [`least_by`] over [`available`] reals for a cost per weight (`num(d) / d.weight`: wlc,
/// sed), written as IPVS's loops are: the first available real starts as the least, and
/// every later one is only checked for overload. A later weight-0 real needs no check: its
/// side of the cross-multiplication is 0, so it can never be strictly less. The same
/// choice as `least_by(available(dests), ..)`, with one test fewer per real on the
/// scheduler's hottest loop (a new connection scans every real).
#[inline]
pub(crate) fn least_per_weight(
    dests: &[Dest],
    num: impl Fn(&Dest) -> u64,
    lt: impl Fn(Ratio, Ratio) -> bool,
) -> Option<usize> {
    let first = dests.iter().position(Dest::available)?;
    let mut held = &dests[first];
    let mut held_cost = Ratio::new(num(held), u64::from(held.weight));
    for d in &dests[first + 1..] {
        if d.is_overloaded() {
            continue;
        }
        let c = Ratio::new(num(d), u64::from(d.weight));
        if lt(c, held_cost) {
            held = d;
            held_cost = c;
        }
    }
    // The index from the address: one subtraction at the end instead of a counter
    // carried through the loop.
    Some((held as *const Dest as usize - dests.as_ptr() as usize) / std::mem::size_of::<Dest>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;
    use proptest::prelude::*;

    /// The specification: the first index whose cost is minimal among all.
    fn first_least(costs: &[Ratio]) -> Option<usize> {
        (0..costs.len()).find(|&i| costs.iter().all(|&c| !c.lt(costs[i])))
    }

    proptest! {
        #[test]
        fn least_keeps_the_first_of_equals(
            pairs in prop::collection::vec((0u64..6, 0u64..5), 0..10),
        ) {
            // Denominators may be 0 (lblcr's idle members, weight per 0 overhead): a
            // numerator > 0 over 0 is above every finite cost, and all such are equal.
            let pairs: Vec<(u64, u64)> = pairs.into_iter().map(|(n, w)| if w == 0 { (n + 1, 0) } else { (n, w) }).collect();
            let d = dests(&vec![1; pairs.len()]);
            let costs: Vec<Ratio> = pairs.iter().map(|&(n, w)| Ratio::new(n, w)).collect();
            let cost = |x: &Dest| costs[d.iter().position(|y| y.key() == x.key()).unwrap()];
            prop_assert_eq!(least(d.iter().enumerate(), cost), first_least(&costs));
        }
    }

    proptest! {
        /// Within its bound (numerators below 2^41, the largest overhead; denominators up
        /// to NARROW_WEIGHT, and 0), the 64-bit comparison agrees with the 128-bit one.
        #[test]
        fn narrow_agrees_with_wide_within_its_bound(
            a in 0u64..(1 << 41), b in 0u64..(1 << 41),
            x in 0..=u64::from(NARROW_WEIGHT), y in 0..=u64::from(NARROW_WEIGHT),
        ) {
            let (p, q) = (Ratio::new(a, x), Ratio::new(b, y));
            prop_assert_eq!(p.lt_narrow(q), p.lt(q));
            prop_assert_eq!(q.lt_narrow(p), q.lt(p));
        }
    }

    proptest! {
        /// sed's costs (numerators up to 2^32, any u32 denominator) compare exactly in 64
        /// bits.
        #[test]
        fn narrow_is_exact_for_sed_costs(
            a in 1u64..=(1 << 32), b in 1u64..=(1 << 32),
            x in 0..=u64::from(u32::MAX), y in 0..=u64::from(u32::MAX),
        ) {
            let (p, q) = (Ratio::new(a, x), Ratio::new(b, y));
            prop_assert_eq!(p.lt_narrow(q), p.lt(q));
        }
    }

    proptest! {
        /// IPVS's loop shape (`least_per_weight`: overload is the only check after the
        /// first available real) picks what the filtered scan does, weight-0 and
        /// overloaded reals anywhere, for wlc's and sed's costs, in 128 and 64 bits.
        #[test]
        fn least_per_weight_is_the_filtered_scan(
            reals in prop::collection::vec((0u32..4, 0u32..6, 0u32..300, any::<bool>()), 0..12),
        ) {
            let d = dests(&reals.iter().map(|r| r.0).collect::<Vec<_>>());
            for (x, &(_, active, inactive, over)) in d.iter().zip(&reals) {
                set_conns(x, active, inactive);
                set_overloaded(x, over);
            }
            let sed = |x: &Dest| u64::from(x.active()) + 1;
            for num in [&Dest::overhead as &dyn Fn(&Dest) -> u64, &sed] {
                let want = least(available(&d), |x| Ratio::new(num(x), u64::from(x.weight)));
                prop_assert_eq!(least_per_weight(&d, num, Ratio::lt), want);
                prop_assert_eq!(least_per_weight(&d, num, Ratio::lt_narrow), want);
            }
        }
    }

    proptest! {
        /// Where every weight is one and the same (and not 0), comparing overheads alone
        /// picks what the cross-multiplied scan picks, overloaded reals anywhere.
        #[test]
        fn same_weights_compare_overheads_alone(
            weight in 1u32..70_000,
            reals in prop::collection::vec((0u32..4, 0u32..300, any::<bool>()), 1..12),
        ) {
            let d = dests(&vec![weight; reals.len()]);
            prop_assert!(uniform_weights(&d));
            for (x, &(active, inactive, over)) in d.iter().zip(&reals) {
                set_conns(x, active, inactive);
                set_overloaded(x, over);
            }
            let want = least(available(&d), overhead_per_weight);
            prop_assert_eq!(least_per_weight(&d, Dest::overhead, Ratio::lt_same_den), want);
        }
    }

    #[test]
    fn uniform_needs_one_weight_above_zero() {
        assert!(uniform_weights(&dests(&[3, 3, 3])));
        assert!(!uniform_weights(&dests(&[3, 3, 2])));
        assert!(!uniform_weights(&dests(&[0, 0])), "weight 0 takes nothing: not a cost scan");
        assert!(!uniform_weights(&dests(&[])));
    }

    #[test]
    fn narrow_at_the_extremes() {
        let most = (u64::from(u32::MAX) << 8) + u64::from(u32::MAX);
        let w = u64::from(NARROW_WEIGHT);
        for (p, q) in [
            (Ratio::new(most, w), Ratio::new(most - 1, w)),
            (Ratio::new(most, w), Ratio::new(most, w - 1)),
            (Ratio::new(most, 1), Ratio::new(1, w)),
            (Ratio::new(0, w), Ratio::new(most, w)),
            // sed: the most active connections over the largest weights
            (Ratio::new(1 << 32, u64::from(u32::MAX)), Ratio::new((1 << 32) - 1, u64::from(u32::MAX) - 1)),
        ] {
            assert_eq!(p.lt_narrow(q), p.lt(q), "{p:?} < {q:?}");
            assert_eq!(q.lt_narrow(p), q.lt(p), "{q:?} < {p:?}");
        }
    }

    #[test]
    fn cross_multiplication_does_not_overflow() {
        let big = Ratio::new(u64::MAX, u64::MAX - 1);
        let one = Ratio::new(1, 1);
        assert!(one.lt(big));
        assert!(!big.lt(one));
    }
}
