//! keepalived's quorum for a virtual server: the total weight of its live reals must be
//! at least `quorum`; `hysteresis` damps flapping (lost below `quorum - hysteresis`,
//! gained again at `quorum + hysteresis`). Losing quorum with a sorry server takes every
//! real out of the pool and puts the sorry server in (keepalived's `perform_quorum_state`);
//! without one it changes nothing but the logged state, as in keepalived.
//!
//! Invariant: a service's state changes only through [`QuorumStates::update`], from the
//! configuration with health applied (`effective`); one seen for the first time starts
//! up when its live weight is at least `quorum + hysteresis`, as keepalived's start does.

use std::collections::HashMap;

use xvs_config::Config;
use xvs_engine::ServiceKey;

/// Each service's quorum state (up or lost).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QuorumStates(HashMap<ServiceKey, bool>);

/// A quorum state change, for the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuorumChange {
    pub service: ServiceKey,
    pub up: bool,
    pub weight: u64,
    pub threshold: u64,
}

impl QuorumStates {
    /// Follow `cfg` (health applied): the services whose state changed. Services no
    /// longer configured are forgotten.
    pub fn update(&mut self, cfg: &Config) -> Vec<QuorumChange> {
        let mut changes = Vec::new();
        let mut seen = HashMap::new();
        for s in &cfg.services {
            let key = crate::observe::key_of(s);
            let weight: u64 = s.reals.iter().map(|r| u64::from(r.weight)).sum();
            let (q, h) = (u64::from(s.quorum), u64::from(s.hysteresis));
            let up = match self.0.get(&key) {
                None => weight >= q + h,
                Some(true) => !(weight == 0 || weight < q.saturating_sub(h)),
                Some(false) => weight >= q + h,
            };
            if self.0.get(&key).is_some_and(|&was| was != up) {
                let threshold = if up { q + h } else { q.saturating_sub(h) };
                changes.push(QuorumChange { service: key, up, weight, threshold });
            }
            seen.insert(key, up);
        }
        self.0 = seen;
        changes
    }

    /// Whether service `key` has its quorum (one never seen has).
    pub fn is_up(&self, key: &ServiceKey) -> bool {
        self.0.get(key) != Some(&false)
    }

    /// Apply the states to `cfg`: a service whose quorum is lost and that has a sorry
    /// server keeps no real, so the sorry server takes its new connections.
    pub fn apply(&self, cfg: &mut Config) {
        for s in &mut cfg.services {
            let key = crate::observe::key_of(s);
            if s.sorry_server.is_some() && self.0.get(&key) == Some(&false) {
                s.reals.clear();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(weights: &[u32], sorry: bool) -> Config {
        let mut t = String::from("[[service]]\nvip = \"10.0.1.100:80\"\nquorum = 4\nhysteresis = 1\n");
        if sorry {
            t.push_str("sorry_server = \"10.0.9.9:80\"\n");
        }
        for (i, w) in weights.iter().enumerate() {
            t.push_str(&format!("[[service.real]]\naddr = \"10.0.2.{}:80\"\nweight = {w}\n", 11 + i));
        }
        xvs_config::parse_toml(&t, "q.toml").unwrap()
    }

    /// quorum 4, hysteresis 1: lost below 3, gained at 5; with a sorry server the pool
    /// is the sorry server alone while lost.
    #[test]
    fn hysteresis_damps_and_the_sorry_server_takes_over() {
        let mut q = QuorumStates::default();
        assert!(q.update(&cfg(&[2, 2, 2], true)).is_empty(), "starts up: 6 >= 5");
        assert!(q.update(&cfg(&[2, 1], true)).is_empty(), "3 is not below 3: still up");
        let lost = q.update(&cfg(&[2], true));
        assert_eq!(lost.len(), 1);
        assert!(!lost[0].up && lost[0].weight == 2 && lost[0].threshold == 3);
        let mut c = cfg(&[2], true);
        q.apply(&mut c);
        assert!(c.services[0].reals.is_empty(), "the sorry server takes over");
        assert!(q.update(&cfg(&[2, 2], true)).is_empty(), "4 is not 5 yet: still lost");
        let gained = q.update(&cfg(&[2, 2, 1], true));
        assert!(gained.len() == 1 && gained[0].up);
        let mut c = cfg(&[2, 2, 1], true);
        q.apply(&mut c);
        assert_eq!(c.services[0].reals.len(), 3);
        // Without a sorry server, losing quorum changes nothing in the pool.
        let mut q = QuorumStates::default();
        q.update(&cfg(&[2, 2, 2], false));
        assert_eq!(q.update(&cfg(&[1], false)).len(), 1);
        let mut c = cfg(&[1], false);
        q.apply(&mut c);
        assert_eq!(c.services[0].reals.len(), 1);
        // Starting below quorum + hysteresis starts lost.
        let mut q = QuorumStates::default();
        q.update(&cfg(&[2, 2], true));
        let mut c = cfg(&[2, 2], true);
        q.apply(&mut c);
        assert!(c.services[0].reals.is_empty());
    }
}
