//! Helpers for the unit tests (the trait and types come along, for modules whose own code
//! does not import them).

pub(crate) use crate::{Dest, Flow, Scheduler};
use std::net::IpAddr;
use std::sync::atomic::Ordering;

pub(crate) fn dest(n: u8, weight: u32) -> Dest {
    Dest::new(IpAddr::from([10, 0, 2, n]), 80, weight)
}

pub(crate) fn dests(weights: &[u32]) -> Vec<Dest> {
    weights.iter().enumerate().map(|(i, &w)| dest(i as u8 + 1, w)).collect()
}

/// Scheduler `s` after it has seen reals of these `weights` (`dests`), and the reals.
pub(crate) fn updated<S: Scheduler>(mut s: S, weights: &[u32]) -> (S, Vec<Dest>) {
    let d = dests(weights);
    s.update(&d);
    (s, d)
}

pub(crate) fn set_conns(d: &Dest, active: u32, inactive: u32) {
    d.counters.active.store(active, Ordering::Relaxed);
    d.counters.inactive.store(inactive, Ordering::Relaxed);
}

pub(crate) fn set_overloaded(d: &Dest, o: bool) {
    d.counters.overloaded.store(o, Ordering::Relaxed);
}

pub(crate) use self::Load::{Conns, Overloaded};

/// A change of one real's load, by index: its (active, inactive) connections, or its
/// overloaded (upper threshold) flag.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Load {
    Conns(usize, u32, u32),
    Overloaded(usize, bool),
}

/// Reals of these `weights`, seen by `s`, then `steps` in order: each sets its loads and
/// asserts the real `s` picks next for any flow (`None`: no real). Returns the reals.
#[track_caller]
pub(crate) fn assert_picks(s: &mut impl Scheduler, weights: &[u32], steps: &[(&[Load], Option<usize>)]) -> Vec<Dest> {
    let d = dests(weights);
    s.update(&d);
    for (k, (loads, want)) in steps.iter().enumerate() {
        for &load in *loads {
            match load {
                Load::Conns(i, active, inactive) => set_conns(&d[i], active, inactive),
                Load::Overloaded(i, o) => set_overloaded(&d[i], o),
            }
        }
        assert_eq!(s.schedule(&d, &any_flow(), 0), *want, "step {k} ({loads:?}), weights {weights:?}");
    }
    d
}

pub(crate) fn flow(src: [u8; 4], sport: u16, dst: [u8; 4]) -> Flow {
    Flow { proto: 6, src: IpAddr::from(src), sport, dst: IpAddr::from(dst), dport: 80 }
}

pub(crate) fn any_flow() -> Flow {
    flow([192, 0, 2, 1], 40000, [10, 0, 1, 100])
}

/// `k` picks in a row for the same flow (the round-robin schedulers' sequences).
pub(crate) fn run(s: &mut impl Scheduler, d: &[Dest], k: usize) -> Vec<Option<usize>> {
    (0..k).map(|_| s.schedule(d, &any_flow(), 0)).collect()
}

/// A flow from a source address derived from `i`.
pub(crate) fn flow_from(i: u32) -> Flow {
    let s = 0x0b00_0000u32.wrapping_add(i);
    flow(s.to_be_bytes(), 1024 + (i % 60000) as u16, [10, 0, 1, 100])
}

/// A minute in milliseconds (lblc/lblcr expiry).
pub(crate) const MIN: u64 = 60_000;

/// A flow to destination `0xcb007100 + dst` (lblc/lblcr cache keys).
pub(crate) fn to(dst: u32) -> Flow {
    flow([192, 0, 2, 1], 1234, (0xcb00_7100 + dst).to_be_bytes())
}
