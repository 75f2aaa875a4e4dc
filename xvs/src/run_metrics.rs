//! The daemon's metrics endpoint (`[director] metrics = "ADDR"`): `GET /metrics` on ADDR,
//! served by [`xvs::metrics::serve`] on a thread of its own, answering with the exposition
//! of the poll loops' current merged snapshot and the rates of IPVS's estimator.
//!
//! Invariants: the listener is bound before the poll loops start, so a busy address fails
//! the start-up; a scrape only locks each loop's snapshot long enough to clone it and the
//! estimator long enough to render, never across a batch; the estimator is fed by the
//! main loop (`tick`), every 2 s, on the same grid the kernel's timer would keep.

use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use xvs::metrics::{render, serve, Exposition};
use xvs::observe::estimator::DirectorRates;
use xvs_datapath::poll::Snapshot;

/// (service label, real label, up) of every checked real.
type HealthLabels = Vec<(String, String, bool)>;

/// The running endpoint and the estimator it reads.
pub struct RunMetrics {
    rates: Arc<Mutex<DirectorRates>>,
    /// (service label, real label, up) of every checked real, as the snapshot labels them.
    health: Arc<Mutex<Option<HealthLabels>>>,
    origin: Instant,
}

/// Bind the metrics address (before anything else runs, so a busy address fails early).
pub fn bind(addr: SocketAddr) -> Result<TcpListener, String> {
    TcpListener::bind(addr).map_err(|e| format!("metrics address {addr}: {e}"))
}

fn merged(snapshots: &[Arc<Mutex<Snapshot>>]) -> Snapshot {
    let parts: Vec<Snapshot> = snapshots.iter().map(|s| s.lock().map(|g| g.clone()).unwrap_or_default()).collect();
    Snapshot::merge(&parts)
}

impl RunMetrics {
    /// Serve `listener` on a new thread. `xdp_modes`: (interface, mode) as attached;
    /// `capacity`: the connection tables' capacity, all poll cores together.
    pub fn start(
        listener: TcpListener,
        snapshots: Vec<Arc<Mutex<Snapshot>>>,
        xdp_modes: Vec<(String, String)>,
        capacity: u64,
    ) -> Result<RunMetrics, String> {
        let rates = Arc::new(Mutex::new(DirectorRates::new()));
        let r = rates.clone();
        let health: Arc<Mutex<Option<HealthLabels>>> = Arc::new(Mutex::new(None));
        let h = health.clone();
        std::thread::Builder::new()
            .name("xvs-metrics".into())
            .spawn(move || {
                serve(listener, || {
                    let snap = merged(&snapshots);
                    let rates = r.lock().unwrap_or_else(|p| p.into_inner());
                    let health = h.lock().unwrap_or_else(|p| p.into_inner()).clone();
                    render(&Exposition {
                        rates: Some(&rates),
                        health: health.as_deref(),
                        xdp_modes: &xdp_modes,
                        conn_capacity: Some(capacity),
                        ..Exposition::new(&snap)
                    })
                })
            })
            .map_err(|e| format!("starting the metrics thread: {e}"))?;
        Ok(RunMetrics { rates, health, origin: Instant::now() })
    }

    /// The checked reals' health, for `xvs_real_up`.
    pub fn set_health(&self, states: Vec<(String, String, bool)>) {
        *self.health.lock().unwrap_or_else(|p| p.into_inner()) = Some(states);
    }

    /// Feed the estimator when its 2 s tick is due (`merged` is only called then).
    pub fn tick(&self, merged: impl FnOnce() -> Snapshot) {
        let now = self.origin.elapsed().as_millis() as u64;
        let mut rates = self.rates.lock().unwrap_or_else(|p| p.into_inner());
        if rates.due(now) {
            rates.sample(now, &merged().reals);
        }
    }
}
