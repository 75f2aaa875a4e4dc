//! VRRP's timer arithmetic, in microseconds, exactly as keepalived 2.2.7 computes it
//! (`VRRP_TIMER_SKEW`, `VRRP_MS_DOWN_TIMER`; its timer unit is the microsecond).
//!
//! - VRRPv2 (RFC 3768 §6.1): Skew_Time = (256 − Priority) / 256 seconds, independent of the
//!   interval; keepalived uses (256 − Priority) × 3906 µs (1 s / 256, truncated).
//! - VRRPv3 (RFC 5798 §6.1): Skew_Time = ((256 − Priority) × Master_Adver_Interval) / 256,
//!   with the interval in centiseconds: (256 − Priority) × interval_cs × 625 / 16 µs,
//!   integer division last.
//! - Master_Down_Interval = 3 × Master_Adver_Interval + Skew_Time (both versions).
//!
//! Invariants: pure functions, no overflow for any `u8` priority and `u16` interval.

use crate::config::Version;

/// Microseconds in a centisecond.
pub const US_PER_CS: u64 = 10_000;

/// Adverts missed before the master is declared down (keepalived's `down_timer_adverts`
/// default, which strict mode forces).
pub const DOWN_TIMER_ADVERTS: u64 = 3;

/// Skew_Time for a router of `priority`, the master advertising every `master_int_cs`.
pub fn skew_us(version: Version, priority: u8, master_int_cs: u16) -> u64 {
    let units = 256 - u64::from(priority);
    match version {
        Version::V2 => units * (1_000_000 / 256),
        Version::V3 => units * u64::from(master_int_cs) * 625 / 16,
    }
}

/// Master_Down_Interval for a router of `priority`, the master advertising every
/// `master_int_cs`.
pub fn master_down_us(version: Version, priority: u8, master_int_cs: u16) -> u64 {
    DOWN_TIMER_ADVERTS * u64::from(master_int_cs) * US_PER_CS + skew_us(version, priority, master_int_cs)
}
