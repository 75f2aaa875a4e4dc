//! Reals as the schedulers see them.
//!
//! Invariants:
//! - [`Dest`] is an immutable snapshot of configuration (address, weight, thresholds); only its
//!   [`DestCounters`] change while it is in use, and those are shared by every poll core.
//! - A real's identity across `update()` calls is its `(addr, port)` pair ([`Dest::key`]);
//!   schedulers that carry state across updates (rr's cursor, lblc/lblcr caches, mh's
//!   last non-zero weight) re-find reals by that key, never by index.
//! - `overloaded` follows IPVS's `IP_VS_DEST_F_OVERLOAD` rules (see
//!   [`DestCounters::update_overload`]); all counter accesses are `Relaxed` (they are
//!   statistics, as the kernel's `atomic_t` reads are).

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;

/// Live per-real counters shared by every poll core (director-wide state).
#[derive(Debug, Default)]
pub struct DestCounters {
    /// ESTABLISHED connections (IPVS activeconns).
    pub active: AtomicU32,
    /// Connections in other states (IPVS inactconns).
    pub inactive: AtomicU32,
    /// Persistence templates pointing here (IPVS persistconns).
    pub persistent: AtomicU32,
    /// IPVS `IP_VS_DEST_F_OVERLOAD`, maintained by [`DestCounters::update_overload`].
    pub overloaded: AtomicBool,
}

impl DestCounters {
    /// IPVS rules (`ip_vs_bind_dest` / `ip_vs_unbind_dest`): with `upper > 0`, overloaded once
    /// `active + inactive >= upper`; cleared when the total drops below `lower` (or below 3/4
    /// of `upper` when `lower == 0`; at once when both are 0). Between the two the flag keeps
    /// its value (hysteresis). Called by the engine after changing counts.
    pub fn update_overload(&self, upper: u32, lower: u32) {
        let total = self.total();
        if upper != 0 && total >= u64::from(upper) {
            self.overloaded.store(true, Ordering::Relaxed);
            return;
        }
        let clear = if lower != 0 {
            total < u64::from(lower)
        } else if upper != 0 {
            total * 4 < u64::from(upper) * 3
        } else {
            true
        };
        if clear {
            self.overloaded.store(false, Ordering::Relaxed);
        }
    }

    /// `active + inactive` (IPVS `ip_vs_dest_totalconns`).
    pub fn total(&self) -> u64 {
        u64::from(self.active.load(Ordering::Relaxed)) + u64::from(self.inactive.load(Ordering::Relaxed))
    }
}

/// One real server as the scheduler sees it (a snapshot; a weight change builds a new slice and
/// calls update()).
#[derive(Debug, Clone)]
pub struct Dest {
    pub addr: IpAddr,
    pub port: u16,
    /// 0 = quiesced: never picked for new connections.
    pub weight: u32,
    pub upper_threshold: u32,
    pub lower_threshold: u32,
    pub counters: Arc<DestCounters>,
}

/// The indexes of `dests` in canonical order: by address (IPv4 before IPv6), then port.
/// The hash schedulers (sh, dh, mh) build their tables in this order instead of the list's
/// (IPVS's), so that directors given the same reals in any order, after any history of
/// edits, build the same table and pick the same real for every flow (an ECMP fleet).
pub(crate) fn canonical_order(dests: &[Dest]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..dests.len()).collect();
    order.sort_by_key(|&i| (dests[i].addr, dests[i].port));
    order
}

impl Dest {
    /// A dest with no thresholds and fresh counters.
    pub fn new(addr: IpAddr, port: u16, weight: u32) -> Self {
        Dest { addr, port, weight, upper_threshold: 0, lower_threshold: 0, counters: Arc::new(DestCounters::default()) }
    }

    /// Identity of the real across updates.
    pub fn key(&self) -> (IpAddr, u16) {
        (self.addr, self.port)
    }

    /// `IP_VS_DEST_F_OVERLOAD`.
    #[inline]
    pub fn is_overloaded(&self) -> bool {
        self.counters.overloaded.load(Ordering::Relaxed)
    }

    #[inline]
    pub fn active(&self) -> u32 {
        self.counters.active.load(Ordering::Relaxed)
    }

    #[inline]
    pub fn inactive(&self) -> u32 {
        self.counters.inactive.load(Ordering::Relaxed)
    }

    /// IPVS `ip_vs_dest_conn_overhead`: `active * 256 + inactive`.
    #[inline]
    pub fn overhead(&self) -> u64 {
        (u64::from(self.active()) << 8) + u64::from(self.inactive())
    }

    /// Weight > 0 and not overloaded: may take a new connection.
    #[inline]
    pub fn available(&self) -> bool {
        self.weight > 0 && !self.is_overloaded()
    }
}

/// Index `i` of `dests`, if it exists and is available.
#[inline]
pub(crate) fn available_at(dests: &[Dest], i: usize) -> bool {
    dests.get(i).is_some_and(Dest::available)
}

/// Re-find a cursor (an index into the previous dest list, whose keys are `old`) in the new
/// list. If its real is gone, the cursor moves to the nearest earlier real that survived (as
/// IPVS moves rr's cursor to the previous list entry on deletion), or to the list head (`None`).
pub(crate) fn remap_cursor(cursor: Option<usize>, old: &[(IpAddr, u16)], new: &[Dest]) -> Option<usize> {
    let c = cursor?;
    let c = c.min(old.len().checked_sub(1)?);
    (0..=c).rev().find_map(|i| new.iter().position(|d| d.key() == old[i]))
}

/// For every old index, its index in `new` (by key), or `u32::MAX` when it is gone.
pub(crate) fn index_map(old: &[(IpAddr, u16)], new: &[Dest]) -> Vec<u32> {
    let pos: std::collections::HashMap<(IpAddr, u16), u32> =
        new.iter().enumerate().map(|(i, d)| (d.key(), i as u32)).collect();
    old.iter().map(|k| pos.get(k).copied().unwrap_or(u32::MAX)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(c: &DestCounters, a: u32, i: u32) {
        c.active.store(a, Ordering::Relaxed);
        c.inactive.store(i, Ordering::Relaxed);
    }

    #[test]
    fn overload_upper_lower() {
        let c = DestCounters::default();
        set(&c, 5, 4);
        c.update_overload(10, 5);
        assert!(!c.overloaded.load(Ordering::Relaxed));
        set(&c, 6, 4); // 10 >= upper
        c.update_overload(10, 5);
        assert!(c.overloaded.load(Ordering::Relaxed));
        set(&c, 3, 3); // 6: between lower and upper, stays set
        c.update_overload(10, 5);
        assert!(c.overloaded.load(Ordering::Relaxed));
        set(&c, 3, 2); // 5: not below lower
        c.update_overload(10, 5);
        assert!(c.overloaded.load(Ordering::Relaxed));
        set(&c, 2, 2); // 4 < lower
        c.update_overload(10, 5);
        assert!(!c.overloaded.load(Ordering::Relaxed));
    }

    #[test]
    fn overload_lower_zero_uses_three_quarters() {
        let c = DestCounters::default();
        set(&c, 8, 0);
        c.update_overload(8, 0);
        assert!(c.overloaded.load(Ordering::Relaxed));
        set(&c, 6, 0); // 6*4 = 24 == 8*3: not below 3/4
        c.update_overload(8, 0);
        assert!(c.overloaded.load(Ordering::Relaxed));
        set(&c, 5, 0);
        c.update_overload(8, 0);
        assert!(!c.overloaded.load(Ordering::Relaxed));
    }

    #[test]
    fn overload_no_thresholds_clears() {
        let c = DestCounters::default();
        c.overloaded.store(true, Ordering::Relaxed);
        set(&c, 1000, 1000);
        c.update_overload(0, 0);
        assert!(!c.overloaded.load(Ordering::Relaxed));
        // lower alone never sets
        c.update_overload(0, 5);
        assert!(!c.overloaded.load(Ordering::Relaxed));
    }

    #[test]
    fn cursor_remap() {
        let mk = |n: u8| Dest::new(IpAddr::from([10, 0, 0, n]), 80, 1);
        let old: Vec<_> = [1, 2, 3, 4].map(mk).iter().map(Dest::key).collect();
        let new = [mk(1), mk(2), mk(4)];
        assert_eq!(remap_cursor(Some(3), &old, &new), Some(2));
        assert_eq!(remap_cursor(Some(2), &old, &new), Some(1));
        assert_eq!(remap_cursor(None, &old, &new), None);
        assert_eq!(remap_cursor(Some(0), &old, &new[1..]), None);
    }
}
