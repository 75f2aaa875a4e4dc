//! What a poll loop publishes for the control plane, about twice a second: its engine's
//! counters, its reals' counters (named by [`RealKey`], never by a display string), its
//! sockets' counters and its batch-latency histogram; and the one way to merge the
//! snapshots of several loops into the director's.
//!
//! Invariants:
//! - A snapshot is a copy: taking it never holds a lock across a batch.
//! - Every loop has the same reals in the same order (they apply the same configurations);
//!   merging still matches reals by key, not by position.
//! - Active and inactive counts are director-wide (shared by every loop's engine), so a
//!   merge takes them once; traffic counters are per loop, so a merge adds them.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use xvs_engine::services::ServiceTable;
use xvs_engine::{ConnInfo, Counters, EngineStats, Forward, RealKey};

use crate::xsk::XskStats;

/// One loop's (or, merged, the director's) figures.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub stats: EngineStats,
    pub live_connections: u32,
    pub reals: Vec<RealSnapshot>,
    /// (interface, queue, counters) of every socket.
    pub sockets: Vec<(String, u32, XskStats)>,
    /// A sample of live connections.
    pub connections: Vec<ConnInfo>,
    /// Frames for another core dropped because the hand-off pool or queue was full.
    pub handoff_full: u64,
    /// Time per processed batch (pipeline and transmit), ns; cumulative, never reset.
    pub batch_ns: hdrhistogram::Histogram<u64>,
}

/// The bounds every `batch_ns` histogram has (so merging never fails): 1 ns to 10 s, two
/// significant digits; longer batches count as 10 s.
pub fn batch_histogram() -> hdrhistogram::Histogram<u64> {
    hdrhistogram::Histogram::new_with_bounds(1, 10_000_000_000, 2).expect("valid histogram bounds")
}

impl Default for Snapshot {
    fn default() -> Self {
        Snapshot {
            stats: EngineStats::default(),
            live_connections: 0,
            reals: Vec::new(),
            sockets: Vec::new(),
            connections: Vec::new(),
            handoff_full: 0,
            batch_ns: batch_histogram(),
        }
    }
}

/// One real as a loop's engine sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RealSnapshot {
    pub key: RealKey,
    pub forward: Forward,
    pub weight: u32,
    /// False once a reload removed it (its connections may still run).
    pub available: bool,
    pub counters: Counters,
    pub active: u32,
    pub inactive: u32,
}

/// The per-real part of a snapshot.
pub fn snapshot_reals(svcs: &ServiceTable) -> Vec<RealSnapshot> {
    svcs.reals
        .iter()
        .map(|r| RealSnapshot {
            key: RealKey { service: svcs[r.service].key, addr: r.addr, port: r.port, sorry: r.is_sorry },
            forward: r.forward,
            weight: r.weight,
            available: r.available,
            counters: r.stats,
            active: r.counters.active.load(Ordering::Relaxed),
            inactive: r.counters.inactive.load(Ordering::Relaxed),
        })
        .collect()
}

impl Snapshot {
    /// The director's snapshot from its loops' (one per poll core): counters add up;
    /// reals are matched by key.
    pub fn merge(parts: &[Snapshot]) -> Snapshot {
        let mut out = parts.first().cloned().unwrap_or_default();
        let mut at: HashMap<RealKey, usize> = out.reals.iter().enumerate().map(|(i, r)| (r.key, i)).collect();
        for p in parts.iter().skip(1) {
            out.stats += &p.stats;
            out.live_connections += p.live_connections;
            for q in &p.reals {
                match at.get(&q.key) {
                    Some(&i) => out.reals[i].counters += q.counters,
                    None => {
                        at.insert(q.key, out.reals.len());
                        out.reals.push(q.clone());
                    }
                }
            }
            out.sockets.extend(p.sockets.iter().cloned());
            out.connections.extend(p.connections.iter().cloned());
            out.handoff_full += p.handoff_full;
            // Same bounds everywhere (`batch_histogram`), so this cannot fail.
            let _ = out.batch_ns.add(&p.batch_ns);
        }
        out
    }

    /// Counters of each real, summed over the lines that name it (merged snapshots have
    /// one line per real; this also serves unmerged ones).
    pub fn real_counters(&self) -> HashMap<RealKey, Counters> {
        let mut m: HashMap<RealKey, Counters> = HashMap::new();
        for r in &self.reals {
            *m.entry(r.key).or_default() += r.counters;
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(last: u8, conns: u64) -> RealSnapshot {
        let service = xvs_engine::ServiceKey {
            proto: 6,
            vip: "10.0.1.100".parse().unwrap(),
            prefix_len: 32,
            port: 80,
            fwmark: 0,
        };
        RealSnapshot {
            key: RealKey { service, addr: std::net::Ipv4Addr::new(10, 0, 2, last).into(), port: 80, sorry: false },
            forward: Forward::Nat,
            weight: 1,
            available: true,
            counters: Counters { conns, ..Counters::default() },
            active: 3,
            inactive: 1,
        }
    }

    #[test]
    fn merge_adds_traffic_by_key_and_takes_shared_counts_once() {
        let a = Snapshot { reals: vec![line(11, 5), line(12, 1)], live_connections: 2, ..Snapshot::default() };
        let b = Snapshot { reals: vec![line(12, 4), line(11, 2)], live_connections: 3, ..Snapshot::default() };
        let m = Snapshot::merge(&[a, b]);
        assert_eq!(m.live_connections, 5);
        assert_eq!(m.reals.len(), 2);
        assert_eq!((m.reals[0].counters.conns, m.reals[1].counters.conns), (7, 5));
        assert_eq!((m.reals[0].active, m.reals[0].inactive), (3, 1));
        assert_eq!(m.real_counters()[&m.reals[1].key].conns, 5);
    }
}
