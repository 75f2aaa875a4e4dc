//! Making room in a full connection table: an unverified connection (or one that has
//! closed) of either family goes; a verified one never does.
//!
//! Owns: the choice of the victim and counting the eviction. Must not touch: how a
//! connection is removed (`expiry::remove_conn`), what verifies a connection (`verify`),
//! or anything of a new connection.
//!
//! Invariants:
//! - Evictable: not verified (README "Defences"), or TCP in CLOSE or TIME_WAIT. A verified
//!   connection that is alive is never displaced, whatever arrives.
//! - Bounded work per new connection: first the `EVICT_SCAN` earliest deadlines (the
//!   connection that would expire first goes), then, while unverified connections exist
//!   but none was among those, `EVICT_SWEEP` slots of a sweep over the slab that goes on
//!   where the last one stopped: an attacker's entries with long timeouts behind a wall of
//!   verified ones are found in a bounded number of steps, never a whole-table walk.

use xvs_proto::{PROTO_SCTP, PROTO_TCP};

use super::expiry::remove_conn;
use super::Ctx;
use crate::conn::{Conn, FamilyTables};
use crate::family::Family;
use crate::store::Expiring;
use crate::tcp_state::TcpState;

/// How many wheel entries a full table looks at to find the earliest evictable one.
const EVICT_SCAN: usize = 1024;
/// How many slab slots one step of the sweep looks at.
const EVICT_SWEEP: u32 = 4096;

/// Whether `c` may make room for another connection.
#[inline]
fn evictable<A>(c: &Conn<A>) -> bool {
    !c.is_verified()
        || (c.proto == PROTO_TCP && matches!(TcpState::from_u8(c.state), TcpState::Close | TcpState::TimeWait))
        || (c.proto == PROTO_SCTP && crate::sctp_state::SctpState::from_u8(c.state).is_closed())
}

/// Eviction candidates of one family's table. The capacity is shared by both families, so
/// a full table looks for a candidate in both (`dyn`: only on the full path).
pub(super) trait Evict {
    /// The evictable connection with the earliest deadline among the first `EVICT_SCAN`
    /// in deadline order.
    fn earliest_evictable(&self, cx: &Ctx) -> Option<(u32, u64)>;
    /// One bounded step of the sweep: an unverified connection, if the step finds one.
    fn sweep_unverified(&mut self) -> Option<u32>;
    /// Evict connection `h`.
    fn evict(&mut self, cx: &mut Ctx, h: u32);
}

impl<A: Family> Evict for FamilyTables<A> {
    fn earliest_evictable(&self, cx: &Ctx) -> Option<(u32, u64)> {
        let now = cx.now;
        let mut best: Option<(u32, u64)> = None;
        let conns = &self.conns;
        conns.scan_oldest(EVICT_SCAN, |h| {
            let c = conns.get(h);
            if evictable(c) {
                let d = c.deadline(now);
                if best.is_none_or(|(_, bd)| d < bd) {
                    best = Some((h, d));
                }
            }
        });
        best
    }

    fn sweep_unverified(&mut self) -> Option<u32> {
        let slots = self.conns.slots();
        if self.unverified == 0 || slots == 0 {
            return None;
        }
        for _ in 0..EVICT_SWEEP.min(slots) {
            let h = self.sweep % slots;
            self.sweep = (h + 1) % slots;
            if self.conns.is_live(h) && !self.conns.get(h).is_verified() {
                return Some(h);
            }
        }
        None
    }

    fn evict(&mut self, cx: &mut Ctx, h: u32) {
        remove_conn(self, cx, h);
        cx.stats.conns_evicted += 1;
    }
}

/// Evict one evictable connection of either family (`t` wins a tie of deadlines).
/// Returns whether one was evicted.
pub(super) fn evict_one<A: Family>(t: &mut FamilyTables<A>, other: &mut dyn Evict, cx: &mut Ctx) -> bool {
    match (t.earliest_evictable(cx), other.earliest_evictable(cx)) {
        (Some((h, d)), Some((_, od))) if d <= od => t.evict(cx, h),
        (Some((h, _)), None) => t.evict(cx, h),
        (_, Some((h, _))) => other.evict(cx, h),
        (None, None) => {
            if let Some(h) = t.sweep_unverified() {
                t.evict(cx, h);
            } else if let Some(h) = other.sweep_unverified() {
                other.evict(cx, h);
            } else {
                return false;
            }
        }
    }
    true
}
