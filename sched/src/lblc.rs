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
//! The table, the timers, the miss path and the remapping on `update()` are `locality`'s
//! `Locality`; this module is the policy on a hit ([`OneReal`]).
//!
//! Deviation from the kernel: the table holds at most `CAPACITY` (65536) entries, preallocated;
//! beyond that new destinations are scheduled but not cached (the kernel's allocation-failure
//! path). Expiry follows the kernel, lazily (see `locality`).

pub use crate::locality::DEFAULT_EXPIRATION_MS;
use crate::locality::{locality_overloaded, Locality, Policy, NIL};
use crate::wlc::wlc_pick;
use crate::Dest;
use std::net::IpAddr;

/// lblc: a `Locality` scheduler whose entries hold one real.
pub type Lblc = Locality<OneReal>;

/// lblc's policy: an entry holds one real's index (`NIL` once that real is removed).
#[derive(Debug)]
pub struct OneReal;

impl Policy for OneReal {
    const NAME: &'static str = "lblc";
    type Payload = u32;

    fn with_expiration(_expiration_ms: u64) -> Self {
        OneReal
    }

    fn remap(&mut self, p: &mut u32, map: &[u32]) {
        *p = map.get(*p as usize).copied().unwrap_or(NIL);
    }

    fn fresh(&mut self, pick: usize, _now_ms: u64) -> u32 {
        pick as u32
    }

    fn free(&mut self, _p: &mut u32) {}

    fn hit(&mut self, p: &mut u32, dests: &[Dest], _now_ms: u64) -> Option<usize> {
        let c = *p as usize;
        if dests.get(c).is_some_and(|d| d.weight > 0 && !locality_overloaded(d, dests)) {
            return Some(c);
        }
        let pick = wlc_pick(dests)?;
        *p = pick as u32;
        Some(pick)
    }
}

impl Lblc {
    /// The real cached for destination `addr`, if any (diagnostics and tests).
    pub fn cached(&self, addr: IpAddr) -> Option<usize> {
        self.payload(addr).filter(|&&d| d != NIL).map(|&d| d as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::locality::{CHECK_EXPIRE_INTERVAL_MS, ENTRY_TIMEOUT_MS, MAX_SIZE};
    use crate::testutil::*;

    #[test]
    fn destination_sticks() {
        let (mut s, d) = updated(Lblc::new(), &[1, 1, 1]);
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
        let (mut s, d) = updated(Lblc::new(), &[2, 2]);
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
        let (mut s, d) = updated(Lblc::new(), &[1, 1]);
        set_conns(&d[0], 5, 0);
        assert_eq!(s.schedule(&d, &to(1), 0), Some(1));
        let d2 = vec![d[0].clone()];
        s.update(&d2);
        assert_eq!(s.cached(to(1).dst), None);
        assert_eq!(s.schedule(&d2, &to(1), 1), Some(0));
    }

    #[test]
    fn full_expiration_after_a_day() {
        let (mut s, d) = updated(Lblc::new(), &[1]);
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
        let (mut s, d) = updated(Lblc::new(), &[1]);
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
