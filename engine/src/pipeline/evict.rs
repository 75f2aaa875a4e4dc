//! Making room in a full connection table: the oldest half-open TCP or idle UDP
//! connection of either family goes.
//!
//! Owns: the choice of the victim and counting the eviction. Must not touch: how a
//! connection is removed (`expiry::remove_conn`) or anything of a new connection.
//!
//! Invariant: an established TCP connection is never evicted; the scan is bounded
//! (`EVICT_SCAN` wheel entries per family).

use xvs_proto::PROTO_UDP;

use super::expiry::remove_conn;
use super::Ctx;
use crate::conn::FamilyTables;
use crate::family::Family;
use crate::store::Expiring;
use crate::tcp_state::TcpState;

/// How many wheel entries a full table looks at to find the oldest evictable one.
const EVICT_SCAN: usize = 1024;

/// Eviction candidates of one family's table. The capacity is shared by both families, so
/// a full table looks for the oldest candidate in both (`dyn`: only on the full path).
pub(super) trait Evict {
    /// The evictable connection with the earliest deadline among the first `EVICT_SCAN`
    /// in deadline order: half-open TCP or UDP.
    fn oldest_evictable(&self, cx: &Ctx) -> Option<(u32, u64)>;
    /// Evict connection `h`.
    fn evict(&mut self, cx: &mut Ctx, h: u32);
}

impl<A: Family> Evict for FamilyTables<A> {
    fn oldest_evictable(&self, cx: &Ctx) -> Option<(u32, u64)> {
        let now = cx.now;
        let mut best: Option<(u32, u64)> = None;
        let conns = &self.conns;
        conns.scan_oldest(EVICT_SCAN, |h| {
            let c = conns.get(h);
            let evictable = c.proto == PROTO_UDP || TcpState::from_u8(c.state).is_half_open();
            if evictable {
                let d = c.deadline(now);
                if best.is_none_or(|(_, bd)| d < bd) {
                    best = Some((h, d));
                }
            }
        });
        best
    }

    fn evict(&mut self, cx: &mut Ctx, h: u32) {
        remove_conn(self, cx, h);
        cx.stats.conns_evicted += 1;
    }
}

/// Evict the oldest half-open TCP or idle UDP connection of either family (`t` wins a
/// tie). Returns whether one was evicted.
pub(super) fn evict_one<A: Family>(t: &mut FamilyTables<A>, other: &mut dyn Evict, cx: &mut Ctx) -> bool {
    match (t.oldest_evictable(cx), other.oldest_evictable(cx)) {
        (Some((h, d)), Some((_, od))) if d <= od => t.evict(cx, h),
        (Some((h, _)), None) => t.evict(cx, h),
        (_, Some((h, _))) => other.evict(cx, h),
        (None, None) => return false,
    }
    true
}
