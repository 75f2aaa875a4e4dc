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
use xvs::health::RealKey;
use xvs_datapath::poll::{Control, Snapshot};
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
    /// The health of the checked reals: models are applied with it (a down real removed,
    /// or at weight 0 with inhibit_on_failure), so an edit never brings a failed real back.
    pub health: &'a HealthStates,
}

/// Each checked real's state: (up, a dynamic script's weight).
pub(super) type HealthStates = HashMap<RealKey, (bool, Option<u32>)>;

/// The engine configuration of `model` as health has it.
pub(super) fn effective_engine(model: &xvs_config::Config, health: &HealthStates) -> EngineConfig {
    engine_config(&xvs::health::effective(model, health))
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
        // The model as written must be valid for the engine; what runs is it with health.
        let mut check = engine_config(model);
        check.address4 = check.address4.or(self.ecfg.address4);
        check.address6 = check.address6.or(self.ecfg.address6);
        ServiceTable::default().apply(&check).map_err(|e| e.to_string())?;
        let mut new = effective_engine(model, self.health);
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
        Some(health_by_service(self.health))
    }
}

/// Health states keyed as the ctl listings look them up.
pub(super) fn health_by_service(h: &HealthStates) -> HashMap<(SvcId, SocketAddr), bool> {
    h.iter()
        .map(|(k, (up, _))| {
            let protocol = if k.proto == 6 { xvs_config::Protocol::Tcp } else { xvs_config::Protocol::Udp };
            let id = SvcId { protocol, vip: xvs_config::Vip::single(k.vip, k.vport) };
            ((id, SocketAddr::new(k.addr, k.port)), *up)
        })
        .collect()
}
