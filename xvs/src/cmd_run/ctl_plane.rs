//! The daemon's side of a configuration change, shared by SIGHUP reloads and `xvs ctl`
//! edits: [`Plane`] borrows the running pieces (engine config, next hops, draining reals,
//! VIPs, poll loops, steering maps) for the length of one change.
//!
//! Invariants:
//! - A new engine configuration gets the daemon-owned fields carried over (the tunnel
//!   source addresses found at start, the ports' MACs) and its next hops resolved, then
//!   goes to every poll loop *before* the steering maps steer new services up, so their
//!   first packets find the engine ready (the order the SIGHUP path always had).
//! - [`Director::apply`] checks a model against the engine's own rules (a fresh service
//!   table) before anything is sent, so a refused edit changes nothing.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use xvs::ctl::args::SvcId;
use xvs::ctl::daemon::Director;
use xvs::engine_config::engine_config;
use xvs_engine::poll::{Control, Snapshot};
use xvs_engine::services::ServiceTable;
use xvs_engine::{ConnInfo, EngineConfig, NeighborSpec};

use super::{local_addresses, log, nexthop, Draining, Loops, Steering, VipGuard};

pub(super) struct Plane<'a> {
    pub ecfg: &'a mut EngineConfig,
    pub configured: &'a mut Vec<NeighborSpec>,
    pub draining: &'a mut Draining,
    pub ifaces: &'a [String],
    pub vips: &'a mut Option<VipGuard>,
    pub loops: &'a Loops,
    pub steering: &'a mut Steering,
}

impl Plane<'_> {
    /// Replace the running engine configuration with `new` (see the module invariants).
    pub fn apply_engine(&mut self, mut new: EngineConfig) {
        new.address4 = new.address4.or(self.ecfg.address4);
        new.address6 = new.address6.or(self.ecfg.address6);
        new.port_macs = self.ecfg.port_macs.clone();
        self.draining.reload(self.ecfg, &new);
        let new_configured = new.neighbors.clone();
        new.neighbors = nexthop::resolve(&new_configured, &self.draining.with_addresses(&new), self.ifaces);
        if let Some(g) = self.vips.as_mut() {
            if let Err(e) = g.sync(&new) {
                log(format!("reload: {e}"));
            }
        }
        self.loops.send(Control::Apply(Box::new(new.clone())));
        std::thread::sleep(Duration::from_millis(20));
        if let Err(e) = self.steering.sync(&new, &local_addresses(), &self.draining.nat()) {
            log(format!("reload: steering maps: {e}"));
        }
        *self.ecfg = new;
        *self.configured = new_configured;
    }
}

impl Director for Plane<'_> {
    fn apply(&mut self, model: &xvs_config::Config) -> Result<(), String> {
        let mut new = engine_config(model);
        new.address4 = new.address4.or(self.ecfg.address4);
        new.address6 = new.address6.or(self.ecfg.address6);
        ServiceTable::default().apply(&new).map_err(|e| e.to_string())?;
        self.apply_engine(new);
        log(format!("ctl: applied an edit: {} service(s)", model.services.len()));
        Ok(())
    }

    fn snapshot(&self) -> Snapshot {
        self.loops.merged()
    }

    fn connections(&self) -> Vec<ConnInfo> {
        let (tx, rx) = mpsc::channel();
        self.loops.send(Control::Connections(tx));
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut out = Vec::new();
        for _ in 0..self.loops.controls.len() {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(v) => out.extend(v),
                Err(_) => break,
            }
        }
        out
    }

    fn health(&self) -> Option<HashMap<(SvcId, SocketAddr), bool>> {
        None
    }
}
