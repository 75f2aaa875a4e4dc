//! The daemon's metrics endpoint (`[director] metrics = "ADDR"`): `GET /metrics` on ADDR,
//! served by [`xvs::metrics::serve`] on a thread of its own, answering with the exposition
//! of the poll loops' current merged snapshot and the rates of the director's one
//! estimator (`xvs::observe::rates::SharedRates`, fed by the control loop), and the VRRP
//! runtime's status once it runs.
//!
//! Invariants: the listener is bound before the poll loops start, so a busy address fails
//! the start-up; a scrape only locks each loop's snapshot long enough to clone it and the
//! estimator long enough to render, never across a batch.

use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};

use xvs::metrics::{render, serve, Exposition};
use xvs::observe::rates::SharedRates;
use xvs::sync::daemon::SyncCounters;
use xvs::vrrp::runtime::StatusReader;
use xvs_datapath::snapshot::Snapshot;
use xvs_datapath::sync_link::SyncLink;
use xvs_engine::RealKey;

/// (real, up) of every checked real.
type HealthKeys = Vec<(RealKey, bool)>;

/// The running endpoint and the estimator it reads.
pub struct RunMetrics {
    /// (real, up) of every checked real.
    health: Arc<Mutex<Option<HealthKeys>>>,
    /// The VRRP runtime's status, once it runs (VRRP starts after the metrics).
    vrrp: Arc<Mutex<Option<StatusReader>>>,
    /// The sync daemons' counters and the loops' sync queues.
    sync: SyncSource,
}

type SyncSource = Arc<Mutex<Option<(Arc<SyncCounters>, Arc<SyncLink>)>>>;

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
        rates: SharedRates,
    ) -> Result<RunMetrics, String> {
        let health: Arc<Mutex<Option<HealthKeys>>> = Arc::new(Mutex::new(None));
        let h = health.clone();
        let vrrp: Arc<Mutex<Option<StatusReader>>> = Arc::new(Mutex::new(None));
        let v = vrrp.clone();
        let sync: SyncSource = Arc::new(Mutex::new(None));
        let sy = sync.clone();
        std::thread::Builder::new()
            .name("xvs-metrics".into())
            .spawn(move || {
                serve(listener, || {
                    let snap = merged(&snapshots);
                    let rates = rates.read();
                    let health = h.lock().unwrap_or_else(|p| p.into_inner()).clone();
                    let vrrp = v.lock().unwrap_or_else(|p| p.into_inner()).as_ref().map(StatusReader::read);
                    let sync = sy.lock().unwrap_or_else(|p| p.into_inner()).as_ref().map(|(c, l)| c.view(l));
                    render(&Exposition {
                        rates: Some(&rates),
                        health: health.as_deref(),
                        xdp_modes: &xdp_modes,
                        conn_capacity: Some(capacity),
                        vrrp: vrrp.as_deref(),
                        sync,
                        ..Exposition::new(&snap)
                    })
                })
            })
            .map_err(|e| format!("starting the metrics thread: {e}"))?;
        Ok(RunMetrics { health, vrrp, sync })
    }

    /// The VRRP runtime's status, for the `xvs_vrrp_*` families.
    pub fn set_vrrp(&self, reader: StatusReader) {
        *self.vrrp.lock().unwrap_or_else(|p| p.into_inner()) = Some(reader);
    }

    /// The sync counters, for the `xvs_sync_*` families.
    pub fn set_sync(&self, counters: Arc<SyncCounters>, link: Arc<SyncLink>) {
        *self.sync.lock().unwrap_or_else(|p| p.into_inner()) = Some((counters, link));
    }

    /// The checked reals' health, for `xvs_real_up`.
    pub fn set_health(&self, states: HealthKeys) {
        *self.health.lock().unwrap_or_else(|p| p.into_inner()) = Some(states);
    }
}
