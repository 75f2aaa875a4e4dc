//! lblc — locality-based least connection (IPVS `ip_vs_lblc.c`).
//!
//! Invariants:
//! - A cache maps a flow's destination address to one real (see `locality` for its
//!   preallocated table and the kernel's garbage collection, replayed from `now_ms`).
//! - On a hit the entry's last use becomes `now`. The cached real is returned if it has
//!   weight > 0 and is not "overloaded" in lblc's own sense: `active > weight` while some real
//!   has `2 * active < weight`. As in the kernel, the `IP_VS_DEST_F_OVERLOAD` flag (upper
//!   threshold) is *not* checked on a hit, so a cached real above its upper threshold keeps its
//!   destinations.
//! - Otherwise (miss, or unusable hit) the wlc choice is taken (skipping flagged-overloaded and
//!   weight-0 reals) and cached (replacing the old real, last use = now). No wlc choice: `None`,
//!   and the entry is left as it was.
//! - `update()` re-finds cached reals by address and port; entries whose real was removed stay
//!   (they count for GC) but never hit, as the kernel's entries pointing at a removed real.
//!
//! Deviation from the kernel: the table holds at most `CAPACITY` (65536) entries, preallocated;
//! beyond that new destinations are scheduled but not cached (the kernel's allocation-failure
//! path). Expiry follows the kernel, lazily (see `locality`).

use crate::dest::index_map;
pub use crate::locality::DEFAULT_EXPIRATION_MS;
use crate::locality::{AddrTable, NIL};
use crate::wlc::wlc_pick;
use crate::{Dest, Flow, Scheduler};
use std::net::IpAddr;

#[derive(Debug)]
pub struct Lblc {
    table: AddrTable<u32>,
    keys: Vec<(IpAddr, u16)>,
}

impl Default for Lblc {
    fn default() -> Self {
        Self::new()
    }
}

/// lblc/lblcr's `is_overloaded`: more active connections than weight while some real is below
/// half of its weight.
pub(crate) fn locality_overloaded(d: &Dest, dests: &[Dest]) -> bool {
    d.active() > d.weight && dests.iter().any(|m| u64::from(m.active()) * 2 < u64::from(m.weight))
}

impl Lblc {
    pub fn new() -> Self {
        Self::with_expiration(DEFAULT_EXPIRATION_MS)
    }

    /// With a non-default `lblc_expiration` (milliseconds).
    pub fn with_expiration(expiration_ms: u64) -> Self {
        Lblc { table: AddrTable::new(expiration_ms), keys: Vec::new() }
    }

    /// Number of cached destination addresses.
    pub fn entries(&self) -> usize {
        self.table.len()
    }

    /// The real cached for destination `addr`, if any (diagnostics and tests).
    pub fn cached(&self, addr: IpAddr) -> Option<usize> {
        let i = self.table.get(addr)?;
        let d = self.table.entry(i).payload;
        (d != NIL).then_some(d as usize)
    }
}

impl Scheduler for Lblc {
    fn name(&self) -> &'static str {
        "lblc"
    }

    fn update(&mut self, dests: &[Dest]) {
        let map = index_map(&self.keys, dests);
        self.table.for_each_mut(|p| {
            *p = map.get(*p as usize).copied().unwrap_or(NIL);
        });
        self.keys = dests.iter().map(Dest::key).collect();
    }

    fn schedule(&mut self, dests: &[Dest], flow: &Flow, now_ms: u64) -> Option<usize> {
        self.table.run_timers(now_ms, |_| {});
        let addr = flow.dst;
        if let Some(e) = self.table.get(addr) {
            let en = self.table.entry_mut(e);
            en.lastuse = now_ms;
            let c = en.payload as usize;
            if let Some(d) = dests.get(c) {
                if d.weight > 0 && !locality_overloaded(d, dests) {
                    return Some(c);
                }
            }
            let pick = wlc_pick(dests)?;
            if pick != c {
                en.payload = pick as u32;
                en.lastuse = now_ms;
            }
            return Some(pick);
        }
        let pick = wlc_pick(dests)?;
        let _ = self.table.insert(addr, now_ms, pick as u32);
        Some(pick)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::locality::{CHECK_EXPIRE_INTERVAL_MS, ENTRY_TIMEOUT_MS, MAX_SIZE};
    use crate::testutil::*;

    const MIN: u64 = 60_000;

    fn to(dst: u32) -> Flow {
        flow([192, 0, 2, 1], 1234, (0xcb00_7100 + dst).to_be_bytes())
    }

    #[test]
    fn destination_sticks() {
        let d = dests(&[1, 1, 1]);
        let mut s = Lblc::new();
        s.update(&d);
        let a = s.schedule(&d, &to(1), 0).unwrap();
        // load elsewhere changes wlc's choice, but the cache holds
        set_conns(&d[a], 0, 100);
        for t in 1..10 {
            assert_eq!(s.schedule(&d, &to(1), t), Some(a));
        }
        // a new destination goes to the least loaded
        let b = s.schedule(&d, &to(2), 10).unwrap();
        assert_ne!(a, b);
        assert_eq!(s.entries(), 2);
    }

    #[test]
    fn reschedules_when_overloaded_or_quiesced() {
        let d = dests(&[2, 2]);
        let mut s = Lblc::new();
        s.update(&d);
        assert_eq!(s.schedule(&d, &to(1), 0), Some(0));
        // active 3 > weight 2 and B has 2*0 < 2: move to B
        set_conns(&d[0], 3, 0);
        assert_eq!(s.schedule(&d, &to(1), 1), Some(1));
        assert_eq!(s.cached(to(1).dst), Some(1));
        // upper-threshold flag does not move a cached destination (kernel behaviour)
        set_overloaded(&d[1], true);
        assert_eq!(s.schedule(&d, &to(1), 2), Some(1));
        // quiesced: moves
        let mut d2 = d.clone();
        d2[1].weight = 0;
        s.update(&d2);
        assert_eq!(s.schedule(&d2, &to(1), 3), Some(0));
        // nothing left: None, entry kept
        d2[0].weight = 0;
        s.update(&d2);
        assert_eq!(s.schedule(&d2, &to(1), 4), None);
        assert_eq!(s.entries(), 1);
    }

    #[test]
    fn removed_real_entry_rescheduled() {
        let d = dests(&[1, 1]);
        let mut s = Lblc::new();
        s.update(&d);
        set_conns(&d[0], 5, 0);
        assert_eq!(s.schedule(&d, &to(1), 0), Some(1));
        let d2 = vec![d[0].clone()];
        s.update(&d2);
        assert_eq!(s.cached(to(1).dst), None);
        assert_eq!(s.schedule(&d2, &to(1), 1), Some(0));
    }

    #[test]
    fn full_expiration_after_a_day() {
        let d = dests(&[1]);
        let mut s = Lblc::new();
        s.update(&d);
        s.schedule(&d, &to(1), 0);
        s.schedule(&d, &to(2), 0);
        // keep to(2) in use every hour
        let mut t = 0;
        while t + 60 * MIN < DEFAULT_EXPIRATION_MS {
            t += 60 * MIN;
            s.schedule(&d, &to(2), t);
        }
        assert_eq!(s.entries(), 2, "not a full day unused yet");
        // the full check runs every 30 ticks: by 24 h + 30 min to(1) is gone
        s.schedule(&d, &to(2), DEFAULT_EXPIRATION_MS + 31 * MIN);
        assert_eq!(s.entries(), 1);
        assert!(s.cached(to(1).dst).is_none());
        assert!(s.cached(to(2).dst).is_some());
        // a long idle gap: everything goes
        s.schedule(&d, &to(3), 10 * DEFAULT_EXPIRATION_MS);
        assert_eq!(s.entries(), 1);
    }

    #[test]
    fn oversize_gc_drops_stale_entries() {
        let d = dests(&[1]);
        let mut s = Lblc::new();
        s.update(&d);
        let n = MAX_SIZE as u32 + 300;
        for i in 0..n {
            s.schedule(&d, &to(i), 0);
        }
        assert_eq!(s.entries(), n as usize);
        // before 6 minutes nothing is stale enough
        s.schedule(&d, &to(0), ENTRY_TIMEOUT_MS - 1);
        assert_eq!(s.entries(), n as usize);
        // the tick at 6 min: goal = 300 * 4/3 = 400 stale entries (whole buckets)
        s.schedule(&d, &to(0), ENTRY_TIMEOUT_MS + CHECK_EXPIRE_INTERVAL_MS / 2);
        let left = s.entries();
        assert!(left <= n as usize - 400 && left > n as usize - 600, "{left}");
        assert!(s.cached(to(0).dst).is_some(), "recently used entry stays");
    }
}
