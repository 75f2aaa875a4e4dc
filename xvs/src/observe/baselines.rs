//! `ipvsadm -Z`: zeroing the counters a listing shows without touching the engines'
//! (which only grow, and which the rate estimator and the metrics read as they are).
//!
//! Invariant: a baseline is the real's cumulative counters at the moment of `-Z`; a
//! listing shows `counters - baseline`, floored at zero per counter (a real whose counters
//! restarted, say after a removal and re-adding, counts from zero rather than going
//! negative).

use std::collections::HashMap;

use xvs_datapath::snapshot::Snapshot;
use xvs_engine::{Counters, RealKey, ServiceKey};

#[derive(Clone, Debug, Default)]
pub struct ZeroBaselines {
    at_zero: HashMap<RealKey, Counters>,
}

impl ZeroBaselines {
    /// `-Z` (`only`: `-Z -t/-u SERVICE`): the counters of `snap` become the zero.
    pub fn zero(&mut self, snap: &Snapshot, only: Option<ServiceKey>) {
        let now = snap.real_counters();
        self.at_zero.extend(now.into_iter().filter(|(k, _)| only.is_none_or(|s| k.service == s)));
    }

    /// The counters of `real` since its last `-Z`.
    pub fn since_zero(&self, real: &RealKey, c: &Counters) -> Counters {
        self.at_zero.get(real).map_or(*c, |b| c.since(b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xvs_datapath::snapshot::RealSnapshot;

    #[test]
    fn zero_one_service_or_all() {
        let svc = |port| ServiceKey { proto: 6, vip: "10.0.1.100".parse().unwrap(), prefix_len: 32, port, fwmark: 0 };
        let key = |port| RealKey { service: svc(port), addr: "10.0.2.11".parse().unwrap(), port: 80, sorry: false };
        let line = |port, conns| RealSnapshot {
            key: key(port),
            forward: xvs_engine::Forward::Nat,
            weight: 1,
            available: true,
            counters: Counters { conns, ..Counters::default() },
            active: 0,
            inactive: 0,
        };
        let snap = Snapshot { reals: vec![line(80, 5), line(443, 7)], ..Snapshot::default() };
        let mut z = ZeroBaselines::default();
        z.zero(&snap, Some(svc(80)));
        let c = |conns| Counters { conns, ..Counters::default() };
        assert_eq!(z.since_zero(&key(80), &c(9)).conns, 4);
        assert_eq!(z.since_zero(&key(443), &c(9)).conns, 9);
        z.zero(&snap, None);
        assert_eq!(z.since_zero(&key(443), &c(9)).conns, 2);
        // Below the baseline (counters restarted): from zero, never negative.
        assert_eq!(z.since_zero(&key(443), &c(3)).conns, 0);
    }
}
