//! `xvs-sched`: the fourteen IPVS schedulers behind one trait, with no I/O and no clock.
//!
//! Shape (DESIGN.md, Principles 4): like the kernel's `struct ip_vs_scheduler`, every scheduler
//! has a slow path, [`Scheduler::update`], called whenever the set of reals or their weights
//! change (tables for `sh`, `dh` and `mh` are built there), and a hot path,
//! [`Scheduler::schedule`], which only indexes prepared state.
//!
//! Invariants shared by every scheduler in this crate:
//! - `schedule()` never allocates and never panics, even if it is given a slice that does not
//!   match the last `update()` (out-of-range table entries are treated as unavailable);
//! - `schedule()` never returns a real whose weight is 0 (quiesced), and returns `None` only
//!   where the kernel's scheduler of the same name returns `NULL`;
//! - the clock is the `now_ms` argument; nothing here reads time or randomness from the OS
//!   (`twos` uses a PRNG seeded from [`SchedConfig::seed`]);
//! - hashes are fixed functions (the kernel's golden-ratio `hash_32`, and SipHash-1-3 with the
//!   kernel's fixed `mh` keys), so the same input gives the same real on every run.
//!
//! Each module's own `//!` doc states where it differs from the kernel (normally: nowhere but
//! in representation).
//!
//! No `unsafe` code (`forbid`).

#![forbid(unsafe_code)]

/// Declares a scheduler that keeps no state (`update()` does nothing): the unit struct `$ty`,
/// ipvsadm name `$name`, whose `schedule()` is `$pick(dests)`. lc, wlc, sed, nq, fo and ovf
/// are such schedulers; each module keeps its rule in its `pick` function and its doc.
macro_rules! stateless_scheduler {
    ($ty:ident, $name:literal, $pick:path) => {
        #[derive(Debug, Default)]
        pub struct $ty;

        impl $crate::Scheduler for $ty {
            fn name(&self) -> &'static str {
                $name
            }

            fn update(&mut self, _dests: &[$crate::Dest]) {}

            fn schedule(&mut self, dests: &[$crate::Dest], _flow: &$crate::Flow, _now_ms: u64) -> Option<usize> {
                $pick(dests)
            }
        }
    };
}

pub mod dest;
pub mod flow;
mod hash;
mod locality;
mod overhead;
pub mod registry;
mod slots;

pub mod dh;
pub mod fo;
pub mod lblc;
pub mod lblcr;
pub mod lc;
pub mod mh;
pub mod nq;
pub mod ovf;
pub mod rr;
pub mod sed;
pub mod sh;
pub mod twos;
pub mod wlc;
pub mod wrr;

#[cfg(test)]
mod testutil;

pub use dest::{Dest, DestCounters};
pub use flow::Flow;
pub use registry::{is_prime, new_scheduler, SchedError, SCHEDULER_NAMES};

/// Scheduler flags, ipvsadm `-b` (`sh-fallback`, `sh-port`, `mh-fallback`, `mh-port`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SchedFlags {
    pub sh_fallback: bool,
    pub sh_port: bool,
    pub mh_fallback: bool,
    pub mh_port: bool,
}

/// Per-service scheduler configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchedConfig {
    pub flags: SchedFlags,
    /// Size of the Maglev lookup table; must be prime (IPVS default 4093, xvs default 65537).
    pub mh_table_size: u32,
    /// Seed for randomized schedulers (`twos`), so that replay is deterministic.
    pub seed: u64,
}

/// xvs's default Maglev table size.
pub const DEFAULT_MH_TABLE_SIZE: u32 = 65537;

impl Default for SchedConfig {
    fn default() -> Self {
        SchedConfig { flags: SchedFlags::default(), mh_table_size: DEFAULT_MH_TABLE_SIZE, seed: 0 }
    }
}

/// One IPVS scheduling algorithm bound to one service.
pub trait Scheduler: Send + std::fmt::Debug {
    /// The ipvsadm name (`rr`, `wlc`, ...).
    fn name(&self) -> &'static str;
    /// Slow path: the set of dests or their weights changed. Rebuild tables here.
    fn update(&mut self, dests: &[Dest]);
    /// Hot path: pick a dest index into `dests` (the same slice last given to update) for a new
    /// flow, or None when no dest is available (all weight 0 / overloaded / empty).
    /// `now_ms` is a monotonic clock in milliseconds passed in by the caller (lblc/lblcr
    /// expiry); never read the clock.
    fn schedule(&mut self, dests: &[Dest], flow: &Flow, now_ms: u64) -> Option<usize>;
}
