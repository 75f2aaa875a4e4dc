//! What an instance tracks, as keepalived tracks it: interfaces (`track_interface`, and
//! the instance's own interface unless `dont_track_primary`) and scripts (`vrrp_script`,
//! run every `interval`, OK after `rise` successes in a row, KO after `fall` failures).
//!
//! Semantics (keepalived 2.2.7): a tracked item with weight 0 puts the instance in FAULT
//! while it is down / KO; a positive weight is added to the priority while it is up / OK, a
//! negative one while it is down / KO; the result is kept within 1..=254 (an address owner
//! has no weighted tracks: the configuration reader drops them, as keepalived does).
//!
//! Invariants: a script is run by one tracker however many instances track it; a run
//! never blocks the VRRP thread (`Run::poll`); a run that outlives its `timeout` is killed
//! with its process group and counts as a failure.

use std::time::{Duration, Instant};

use crate::scripts::{Outcome, Run, Script};

/// A `vrrp_script`, ready to run.
#[derive(Clone, Debug)]
pub struct TrackedScript {
    pub name: String,
    pub script: Script,
    pub interval: Duration,
    pub timeout: Duration,
    pub rise: u32,
    pub fall: u32,
    /// Start as KO rather than OK.
    pub init_fail: bool,
}

/// What one instance tracks: (interface, weight) and (script index, weight).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tracking {
    pub interfaces: Vec<(String, i32)>,
    pub scripts: Vec<(usize, i32)>,
}

/// One script's runs and verdict.
#[derive(Debug)]
pub struct ScriptTracker {
    spec: TrackedScript,
    ok: bool,
    /// Consecutive results against the current verdict.
    streak: u32,
    next: Instant,
    run: Option<Run>,
}

impl ScriptTracker {
    pub fn new(spec: TrackedScript, now: Instant) -> ScriptTracker {
        let ok = !spec.init_fail;
        ScriptTracker { spec, ok, streak: 0, next: now, run: None }
    }

    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// Start a run when one is due, take a finished run's result; the verdict now, and
    /// whether it changed.
    pub fn poll(&mut self, now: Instant) -> (bool, bool) {
        if let Some(run) = &mut self.run {
            let Some(outcome) = run.poll() else { return (self.ok, false) };
            self.run = None;
            let good = outcome == Outcome::Exited(0);
            return (self.ok, self.record(good));
        }
        if now >= self.next {
            self.next = now + self.spec.interval;
            self.run = Some(self.spec.script.start(self.spec.timeout));
        }
        (self.ok, false)
    }

    /// One result: flips the verdict after `rise` / `fall` in a row. True when it flipped.
    fn record(&mut self, good: bool) -> bool {
        if good == self.ok {
            self.streak = 0;
            return false;
        }
        self.streak += 1;
        let needed = if good { self.spec.rise } else { self.spec.fall }.max(1);
        if self.streak >= needed {
            self.ok = good;
            self.streak = 0;
            return true;
        }
        false
    }
}

/// (FAULT, effective priority) of an instance with base priority `base` tracking `t`,
/// given which interfaces are up and which scripts are OK.
pub fn effective(
    base: u8,
    t: &Tracking,
    if_up: impl Fn(&str) -> bool,
    script_ok: impl Fn(usize) -> bool,
) -> (bool, u8) {
    let mut fault = false;
    let mut prio = i32::from(base);
    let mut apply = |up: bool, weight: i32| match weight {
        0 if !up => fault = true,
        w if w > 0 && up => prio += w,
        w if w < 0 && !up => prio += w,
        _ => {}
    };
    for (name, w) in &t.interfaces {
        apply(if_up(name), *w);
    }
    for (i, w) in &t.scripts {
        apply(script_ok(*i), *w);
    }
    let prio = if base == 255 { 255 } else { prio.clamp(1, 254) as u8 };
    (fault, prio)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scripts::ScriptPolicy;

    #[test]
    fn weights_as_keepalived_applies_them() {
        let t = Tracking { interfaces: vec![("eth1".into(), 0), ("eth2".into(), 20)], scripts: vec![(0, -30), (1, 0)] };
        let all = |_: &str| true;
        assert_eq!(effective(100, &t, all, |_| true), (false, 120));
        assert_eq!(effective(100, &t, |n| n != "eth2", |_| true), (false, 100));
        assert_eq!(effective(100, &t, all, |i| i != 0), (false, 90));
        assert!(effective(100, &t, |n| n != "eth1", |_| true).0, "weight 0 down: FAULT");
        assert!(effective(100, &t, all, |i| i != 1).0, "weight 0 KO: FAULT");
        assert_eq!(effective(250, &t, all, |_| true), (false, 254), "kept below the owner's 255");
        assert_eq!(effective(10, &t, |n| n != "eth2", |i| i != 0), (false, 1), "and above 0");
    }

    #[test]
    fn rise_and_fall() {
        let script = Script::prepare("/bin/true", &ScriptPolicy::default()).unwrap();
        let spec = |init_fail| TrackedScript {
            name: "chk".into(),
            script: script.clone(),
            interval: Duration::from_millis(1),
            timeout: Duration::from_secs(1),
            rise: 2,
            fall: 3,
            init_fail,
        };
        let mut t = ScriptTracker::new(spec(false), Instant::now());
        assert!(t.ok);
        assert!(!t.record(false) && !t.record(false) && t.record(false) && !t.ok, "KO after 3 failures");
        assert!(!t.record(true) && t.record(true) && t.ok, "OK after 2 successes");
        assert!(
            !t.record(false) && !t.record(true) && !t.record(false) && !t.record(false) && t.ok,
            "a success resets"
        );
        let mut t = ScriptTracker::new(spec(true), Instant::now());
        assert!(!t.ok, "init_fail");
        // A real run: /bin/true twice brings it up.
        let t0 = Instant::now();
        while !t.ok {
            t.poll(Instant::now());
            assert!(t0.elapsed() < Duration::from_secs(5));
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}
