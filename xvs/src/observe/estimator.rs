//! IPVS's rate estimator: connections, packets and bytes per second per service and per
//! real, as `ipvsadm -Ln --rate` shows them (CPS, InPPS, OutPPS, InBPS, OutBPS).
//!
//! Semantics (those of the kernel's `net/netfilter/ipvs/ip_vs_est.c`, reimplemented):
//! every [`INTERVAL_MS`] (2 s) the cumulative counters are sampled; the increment since the
//! last sample becomes a per-second rate, scaled by 2^10 for CPS/PPS and by 2^5 for BPS
//! (so `increment << 9` and `increment << 4` over 2 s), and each average moves a quarter
//! of the way to it: `avg += (rate - avg) >> 2` (an arithmetic shift, so it rounds toward
//! minus infinity, as the kernel's signed `long` shift does). Reading decodes as the
//! kernel does: `(avg + 0x1FF) >> 10` and `(avg + 0xF) >> 5`. "BPS" is bytes per second.
//!
//! Invariants and choices:
//! - Time is the caller's (`now_ms`); nothing here reads a clock. Ticks lie on a 2 s grid
//!   from the first [`Estimator::sample`]; a call between ticks changes nothing.
//! - Missed ticks: a sample `k` intervals after the previous one (say 6 s: `k = 3`) runs
//!   `k` EWMA steps, each with the mean rate of the gap (`increment / k`), as the kernel's
//!   timer would have seen uniform traffic. At most [`MAX_STEPS`] steps run: with a
//!   constant input the average reaches its fixed point within that many steps from any
//!   start, so the result is the same as running all `k`.
//! - Counter resets: when any counter of a key is below its last value (a new engine, a
//!   real removed and added again), the counters are taken to have restarted from zero
//!   within the interval: the increment is the new value (the convention of Prometheus'
//!   `rate()`); no negative rate and no spike of `u64` wrap-around ever comes out.
//! - Keys seen at the first sample are baselined there (earlier traffic is not a rate);
//!   a key that appears later counts from zero, like a new dest's estimator in the kernel
//!   (its counters start at zero). A key absent at a tick is forgotten.
//! - Averages never go negative (every input rate is `>= 0`); all arithmetic saturates.
//! - [`DirectorRates`] gives a service the sum of its reals' increments, so its counters
//!   never go backwards when a real is removed (IPVS keeps per-service counters likewise).

use std::collections::{HashMap, HashSet};
use std::hash::Hash;

use xvs_datapath::snapshot::Snapshot;
use xvs_engine::{Counters, RealKey, ServiceKey};

/// The estimator's period: the kernel's `2*HZ`.
pub const INTERVAL_MS: u64 = 2000;

/// The most EWMA steps one sample runs after a gap (see the module doc).
pub const MAX_STEPS: u64 = 192;

/// Decoded rates, per second, as `ipvsadm -Ln --rate` prints them (serialized with its
/// column names: `cps`, `inpps`, `outpps`, `inbps`, `outbps`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Rates {
    pub cps: u64,
    #[serde(rename = "inpps")]
    pub in_pps: u64,
    #[serde(rename = "outpps")]
    pub out_pps: u64,
    /// Bytes per second.
    #[serde(rename = "inbps")]
    pub in_bps: u64,
    /// Bytes per second.
    #[serde(rename = "outbps")]
    pub out_bps: u64,
}

/// One estimator (the kernel's `struct ip_vs_estimator`): the counters at the last tick and
/// the scaled averages (CPS/PPS scaled by 2^10, BPS by 2^5).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ewma {
    pub last: Counters,
    pub cps: i64,
    pub in_pps: i64,
    pub out_pps: i64,
    pub in_bps: i64,
    pub out_bps: i64,
}

/// `increment` per 2 s, as a per-second rate scaled by 2^(shift+1), spread over `k` steps.
fn scaled_rate(increment: u64, shift: u32, k: u64) -> i64 {
    let r = (u128::from(increment) << shift) / u128::from(k.max(1));
    r.min(i64::MAX as u128) as i64
}

fn ewma(avg: &mut i64, rate: i64) {
    *avg = avg.saturating_add(rate.saturating_sub(*avg) >> 2);
}

fn decode(avg: i64, round: i64, shift: u32) -> u64 {
    (avg.max(0).saturating_add(round) >> shift) as u64
}

impl Ewma {
    /// An estimator whose counters stand at `start`, all rates zero.
    pub fn new(start: Counters) -> Ewma {
        Ewma { last: start, ..Ewma::default() }
    }

    /// Take `now` (cumulative counters) after `k >= 1` intervals: `min(k, MAX_STEPS)` steps
    /// with the gap's mean rate. A counter below its last value counts from zero.
    pub fn update(&mut self, now: Counters, k: u64) {
        let d = increment(Some(&self.last), &now);
        self.last = now;
        let k = k.max(1);
        let (cps, ipps, opps) =
            (scaled_rate(d.conns, 9, k), scaled_rate(d.pkts_in, 9, k), scaled_rate(d.pkts_out, 9, k));
        let (ibps, obps) = (scaled_rate(d.bytes_in, 4, k), scaled_rate(d.bytes_out, 4, k));
        for _ in 0..k.min(MAX_STEPS) {
            ewma(&mut self.cps, cps);
            ewma(&mut self.in_pps, ipps);
            ewma(&mut self.out_pps, opps);
            ewma(&mut self.in_bps, ibps);
            ewma(&mut self.out_bps, obps);
        }
    }

    /// The rates decoded as the kernel's `ip_vs_read_estimator` does.
    pub fn rates(&self) -> Rates {
        Rates {
            cps: decode(self.cps, 0x1FF, 10),
            in_pps: decode(self.in_pps, 0x1FF, 10),
            out_pps: decode(self.out_pps, 0x1FF, 10),
            in_bps: decode(self.in_bps, 0xF, 5),
            out_bps: decode(self.out_bps, 0xF, 5),
        }
    }
}

/// Estimators for a set of keys, fed with cumulative counters.
#[derive(Clone, Debug)]
pub struct Estimator<K> {
    entries: HashMap<K, Ewma>,
    /// The next tick on the 2 s grid; `None` before the first sample.
    next_tick_ms: Option<u64>,
}

impl<K> Default for Estimator<K> {
    fn default() -> Self {
        Estimator { entries: HashMap::new(), next_tick_ms: None }
    }
}

impl<K: Eq + Hash> Estimator<K> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether a [`sample`](Self::sample) at `now_ms` would do anything (the first one
    /// always does: it sets the baseline).
    pub fn due(&self, now_ms: u64) -> bool {
        match self.next_tick_ms {
            None => true,
            Some(t) => now_ms >= t,
        }
    }

    /// Whether the first sample (the baseline) was taken.
    pub fn started(&self) -> bool {
        self.next_tick_ms.is_some()
    }

    /// Feed the cumulative counters of every key at `now_ms`. Returns how many 2 s
    /// intervals this sample closed (0: none is due and nothing changed, also for the first
    /// sample, which only sets the baseline).
    pub fn sample<I: IntoIterator<Item = (K, Counters)>>(&mut self, now_ms: u64, counters: I) -> u64 {
        let Some(next) = self.next_tick_ms else {
            self.next_tick_ms = Some(now_ms.saturating_add(INTERVAL_MS));
            self.entries = counters.into_iter().map(|(k, c)| (k, Ewma::new(c))).collect();
            return 0;
        };
        if now_ms < next {
            return 0;
        }
        let k = 1 + (now_ms - next) / INTERVAL_MS;
        self.next_tick_ms = Some(next.saturating_add(k.saturating_mul(INTERVAL_MS)));
        let mut old = std::mem::take(&mut self.entries);
        for (key, c) in counters {
            // A key new since the last tick starts from zero counters.
            let mut e = old.remove(&key).unwrap_or_default();
            e.update(c, k);
            self.entries.insert(key, e);
        }
        k
    }

    /// The decoded rates of `key`, if it was in the last sample.
    pub fn rates(&self, key: &K) -> Option<Rates> {
        self.entries.get(key).map(Ewma::rates)
    }

    /// The raw estimator of `key`.
    pub fn get(&self, key: &K) -> Option<&Ewma> {
        self.entries.get(key)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&K, Rates)> {
        self.entries.iter().map(|(k, e)| (k, e.rates()))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// What a rate belongs to: a service or one real of a service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RateKey {
    Service(ServiceKey),
    Real(RealKey),
}

/// The director's estimators: one per real (from the snapshot's per-real counters) and
/// one per service, fed with the running sum of its reals' increments (so removing a real
/// does not make the service's counters go backwards).
#[derive(Clone, Debug, Default)]
pub struct DirectorRates {
    est: Estimator<RateKey>,
    /// Each real's counters at the last tick.
    reals_last: HashMap<RealKey, Counters>,
    /// Per service: the sum of its reals' increments since the first sample.
    totals: HashMap<ServiceKey, Counters>,
}

/// `now - last`, or `now` when any counter went backwards (a reset).
fn increment(last: Option<&Counters>, now: &Counters) -> Counters {
    match last {
        Some(l) if !now.restarted_since(l) => now.since(l),
        _ => *now,
    }
}

impl DirectorRates {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn due(&self, now_ms: u64) -> bool {
        self.est.due(now_ms)
    }

    /// Feed a snapshot at `now_ms`; see [`Estimator::sample`]. Lines naming the same real
    /// (several loops' lines, a draining real added again) are summed.
    pub fn sample(&mut self, now_ms: u64, snap: &Snapshot) -> u64 {
        if !self.est.due(now_ms) {
            return 0;
        }
        let lines = snap.real_counters();
        let first = !self.est.started();
        let mut last = std::mem::take(&mut self.reals_last);
        let mut services: HashSet<ServiceKey> = HashSet::new();
        for (key, c) in &lines {
            let inc = if first { Counters::default() } else { increment(last.remove(key).as_ref(), c) };
            *self.totals.entry(key.service).or_default() += inc;
            self.reals_last.insert(*key, *c);
            services.insert(key.service);
        }
        self.totals.retain(|s, _| services.contains(s));
        let items: Vec<(RateKey, Counters)> = lines
            .iter()
            .map(|(k, c)| (RateKey::Real(*k), *c))
            .chain(self.totals.iter().map(|(s, c)| (RateKey::Service(*s), *c)))
            .collect();
        self.est.sample(now_ms, items)
    }

    pub fn real(&self, real: &RealKey) -> Option<Rates> {
        self.est.rates(&RateKey::Real(*real))
    }

    pub fn service(&self, service: &ServiceKey) -> Option<Rates> {
        self.est.rates(&RateKey::Service(*service))
    }

    /// Every service's running totals (cumulative, never decreasing while it exists).
    pub fn service_totals(&self) -> impl Iterator<Item = (&ServiceKey, &Counters)> {
        self.totals.iter()
    }

    pub fn estimator(&self) -> &Estimator<RateKey> {
        &self.est
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xvs_datapath::snapshot::RealSnapshot;

    fn pkts(n: u64) -> Counters {
        Counters { pkts_in: n, ..Counters::default() }
    }

    /// Constant 1000 packets/s: 2000 per 2 s sample.
    fn feed_constant(e: &mut Estimator<u8>, samples: u64) -> Vec<u64> {
        e.sample(0, [(0, pkts(0))]);
        (1..=samples)
            .map(|i| {
                assert_eq!(e.sample(i * INTERVAL_MS, [(0, pkts(2000 * i))]), 1);
                e.rates(&0).unwrap().in_pps
            })
            .collect()
    }

    #[test]
    fn constant_rate_converges_like_the_kernel() {
        let mut e = Estimator::new();
        let got = feed_constant(&mut e, 20);
        // By hand: rate = 2000 << 9 = 1_024_000; avg: 256000, 448000, 592000, 700000,
        // 781000, 841750, 887312, ... decoded (avg + 511) >> 10.
        assert_eq!(
            got,
            [250, 437, 578, 684, 763, 822, 867, 900, 925, 944, 958, 968, 976, 982, 987, 990, 992, 994, 996, 997]
        );
        assert_eq!(e.get(&0).unwrap().in_pps, 1_020_751);
        // 99 % of the rate after 16 samples (32 s), as W = 1/4 gives.
        assert!(got[14] < 990 && got[15] >= 990);
    }

    #[test]
    fn a_step_down_decays_by_a_quarter_per_sample() {
        let mut e = Estimator::new();
        feed_constant(&mut e, 20);
        let total = 2000 * 20;
        let got: Vec<(u64, i64)> = (21..=28)
            .map(|i| {
                e.sample(i * INTERVAL_MS, [(0, pkts(total))]);
                (e.rates(&0).unwrap().in_pps, e.get(&0).unwrap().in_pps)
            })
            .collect();
        assert_eq!(
            got,
            [
                (748, 765_563),
                (561, 574_172),
                (421, 430_629),
                (315, 322_971),
                (237, 242_228),
                (177, 181_671),
                (133, 136_253),
                (100, 102_189)
            ]
        );
        // And down to exactly zero eventually (the shift rounds toward minus infinity).
        for i in 29..100 {
            e.sample(i * INTERVAL_MS, [(0, pkts(total))]);
        }
        assert_eq!(e.get(&0).unwrap().in_pps, 0);
        assert_eq!(e.rates(&0).unwrap(), Rates::default());
    }

    #[test]
    fn all_five_rates_with_their_scales() {
        let mut e = Estimator::new();
        let at = |i: u64| Counters {
            conns: 200 * i,
            pkts_in: 2000 * i,
            pkts_out: 4000 * i,
            bytes_in: 3_000_000 * i,
            bytes_out: 6_000_000 * i,
        };
        e.sample(0, [(0u8, at(0))]);
        let mut got = Vec::new();
        for i in 1..=4 {
            e.sample(i * INTERVAL_MS, [(0, at(i))]);
            got.push(e.rates(&0).unwrap());
        }
        // bps: rate = 3e6 << 4 = 48e6; avg 12e6, 21e6, 27.75e6, 32812500; (avg + 15) >> 5.
        assert_eq!(got[0], Rates { cps: 25, in_pps: 250, out_pps: 500, in_bps: 375_000, out_bps: 750_000 });
        assert_eq!(got[3].in_bps, 1_025_391);
        assert_eq!(got[3].out_bps, 2_050_781);
        assert_eq!(got[3].in_pps, 684);
        assert_eq!(got[3].cps, 68);
    }

    #[test]
    fn calls_between_ticks_change_nothing() {
        let mut e = Estimator::new();
        assert!(e.due(0));
        assert_eq!(e.sample(0, [(0u8, pkts(0))]), 0);
        assert!(!e.due(1999));
        assert_eq!(e.sample(1999, [(0, pkts(5000))]), 0);
        assert_eq!(e.rates(&0), Some(Rates::default()));
        assert_eq!(e.sample(2100, [(0, pkts(2000))]), 1);
        assert_eq!(e.rates(&0).unwrap().in_pps, 250);
        // The grid stays at multiples of 2 s from the start: next tick at 4000.
        assert!(!e.due(3999));
        assert!(e.due(4000));
    }

    #[test]
    fn a_gap_counts_as_several_intervals() {
        // One sample 6 s later with 6000 packets = three samples of 2000 each.
        let mut a = Estimator::new();
        a.sample(0, [(0u8, pkts(0))]);
        assert_eq!(a.sample(6000, [(0, pkts(6000))]), 3);
        let mut b = Estimator::new();
        b.sample(0, [(0u8, pkts(0))]);
        for i in 1..=3 {
            b.sample(i * 2000, [(0, pkts(2000 * i))]);
        }
        assert_eq!(a.get(&0), b.get(&0));
        assert_eq!(a.rates(&0).unwrap().in_pps, 578);
        // 7.9 s is still three intervals; the next tick is at 8 s.
        let mut c = Estimator::new();
        c.sample(0, [(0u8, pkts(0))]);
        assert_eq!(c.sample(7900, [(0, pkts(6000))]), 3);
        assert!(c.due(8000) && !c.due(7999));
    }

    #[test]
    fn a_very_long_gap_ends_at_the_fixed_point() {
        let mut e = Estimator::new();
        feed_constant(&mut e, 200);
        let steady = *e.get(&0).unwrap();
        let base = 2000 * 200;
        // 10_000 intervals later, the same rate all along: capped steps, same fixed point.
        let now = 200 * INTERVAL_MS + 10_000 * INTERVAL_MS;
        assert_eq!(e.sample(now, [(0, pkts(base + 2000 * 10_000))]), 10_000);
        assert_eq!(e.get(&0).unwrap().in_pps, steady.in_pps);
        // From zero to a huge rate in one long gap: still no overflow, within 3 of the rate.
        let mut f = Estimator::new();
        f.sample(0, [(0u8, pkts(0))]);
        f.sample(1_000 * INTERVAL_MS, [(0, pkts(u64::MAX / 2))]);
        let want = (((u64::MAX / 2) as u128) << 9) / 1000;
        let got = f.get(&0).unwrap().in_pps as u128;
        assert!(got <= want && want - got <= 3, "{got} vs {want}");
    }

    #[test]
    fn a_counter_reset_counts_from_zero() {
        let mut e = Estimator::new();
        feed_constant(&mut e, 20);
        let before = *e.get(&0).unwrap();
        // A new engine: the counters restart; 2000 packets since then.
        e.sample(21 * INTERVAL_MS, [(0, pkts(2000))]);
        let after = *e.get(&0).unwrap();
        assert_eq!(after.last, pkts(2000));
        // Same as a regular 2000-packet interval: the average keeps converging.
        let mut want = before;
        ewma(&mut want.in_pps, 2000 << 9);
        assert_eq!(after.in_pps, want.in_pps);
        // A reset to a smaller value with nothing after it: rate 0 for that step, never
        // negative, never a wrap-around spike.
        e.sample(22 * INTERVAL_MS, [(0, pkts(0))]);
        let r = e.rates(&0).unwrap();
        assert!(r.in_pps < 1000, "{r:?}");
        assert!(e.get(&0).unwrap().in_pps >= 0);
    }

    #[test]
    fn keys_come_and_go() {
        let mut e = Estimator::new();
        // Key 1 has history at the first sample: baselined, not a rate.
        e.sample(0, [(1u8, pkts(1_000_000))]);
        e.sample(2000, [(1, pkts(1_000_000)), (2, pkts(2000))]);
        assert_eq!(e.rates(&1).unwrap().in_pps, 0);
        // Key 2 appeared after the start: counts from zero, like a new dest.
        assert_eq!(e.rates(&2).unwrap().in_pps, 250);
        // Gone at a tick: forgotten.
        e.sample(4000, [(2, pkts(4000))]);
        assert_eq!(e.rates(&1), None);
        assert_eq!(e.len(), 1);
    }

    fn real(last: u8, c: Counters) -> RealSnapshot {
        RealSnapshot {
            key: RealKey { service: SVC, addr: std::net::Ipv4Addr::new(10, 0, 2, last).into(), port: 80, sorry: false },
            forward: xvs_engine::Forward::Nat,
            weight: 1,
            available: true,
            counters: c,
            active: 0,
            inactive: 0,
        }
    }

    const SVC: ServiceKey = ServiceKey {
        proto: 6,
        vip: std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 1, 100)),
        prefix_len: 32,
        port: 80,
        fwmark: 0,
    };

    #[test]
    fn services_sum_their_reals_and_survive_a_removal() {
        let s = SVC;
        let (a, b) = (real(11, pkts(0)).key, real(12, pkts(0)).key);
        let mut d = DirectorRates::new();
        let snap = |i: u64, with_b: bool| {
            let mut v = vec![real(11, pkts(2000 * i))];
            if with_b {
                v.push(real(12, pkts(4000 * i)));
            }
            Snapshot { reals: v, ..Snapshot::default() }
        };
        d.sample(0, &snap(0, true));
        for i in 1..=3 {
            d.sample(i * INTERVAL_MS, &snap(i, true));
        }
        assert_eq!(d.real(&a).unwrap().in_pps, 578);
        assert_eq!(d.real(&b).unwrap().in_pps, 1156);
        // 3000 packets/s in all: 1_536_000 << ... avg after 3 steps = 0.578125 * 3072000.
        assert_eq!(d.estimator().get(&RateKey::Service(s)).unwrap().in_pps, 1_776_000);
        assert_eq!(d.service(&s).unwrap().in_pps, 1734);
        // Real b removed: the service's totals keep growing by a's increments only, no
        // reset of the service.
        d.sample(4 * INTERVAL_MS, &snap(4, false));
        assert_eq!(d.real(&b), None);
        let totals: Vec<_> = d.service_totals().collect();
        assert_eq!(totals, [(&s, &pkts(3 * 6000 + 2000))]);
        // 1_776_000 + (1_024_000 - 1_776_000) >> 2 = 1_588_000.
        assert_eq!(d.estimator().get(&RateKey::Service(s)).unwrap().in_pps, 1_588_000);
    }
}
