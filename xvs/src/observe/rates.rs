//! The director's one rate estimator, shared: the control loop feeds it (once per 2 s
//! tick, from the merged snapshot), `xvs ctl` listings and the metrics endpoint read it.
//!
//! Invariants: one feeder, any number of readers; a reader holds the lock only to copy
//! or render, never across a batch (the poll loops never touch it). The clock is read
//! here, in the binary, not in the pure estimator.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use xvs_datapath::snapshot::Snapshot;

use super::estimator::DirectorRates;

#[derive(Clone, Debug)]
pub struct SharedRates {
    inner: Arc<Mutex<DirectorRates>>,
    origin: Instant,
}

impl Default for SharedRates {
    fn default() -> Self {
        SharedRates { inner: Arc::new(Mutex::new(DirectorRates::new())), origin: Instant::now() }
    }
}

impl SharedRates {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feed the estimator when its 2 s tick is due (`snapshot` is only called then).
    pub fn tick(&self, snapshot: impl FnOnce() -> Snapshot) {
        let now = self.origin.elapsed().as_millis() as u64;
        let mut rates = self.read();
        if rates.due(now) {
            rates.sample(now, &snapshot());
        }
    }

    /// The estimator, locked for reading.
    pub fn read(&self) -> MutexGuard<'_, DirectorRates> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}
