//! The daemon's side of a configuration change, shared by SIGHUP reloads, `xvs ctl` edits
//! and health changes: [`Plane`] owns the poll loops and the kernel side (steering maps,
//! VIPs) together with the configuration they run, and changes them in one order.
//!
//! Invariants:
//! - A new engine configuration gets the daemon-owned fields carried over (the ports'
//!   MACs; the tunnel sources travel in [`Checked`]) and its next hops resolved, then goes
//!   to every poll loop, and the plane waits until every loop acknowledged it (the
//!   barrier, `Loops::apply`) *before* VIPs are added and the steering maps steer new
//!   services up, so their first packets find the engine ready. A removed service leaves
//!   the engine first, then the maps (same order), so the kernel gets its traffic back
//!   only once no loop forwards it any more.
//! - A configuration a loop refuses fails the change that caused it (the reload, the ctl
//!   edit) with the engine's message; the loops run the previous configuration again
//!   and nothing else (draining, next hops, VIPs, maps, model) changed.
//! - Models arrive checked ([`Checked::new`], in [`Director::apply`] for ctl edits, in the
//!   control loop for reloads): the plane judges no rule itself.
//! - The health of the checked reals lives here: models are applied with it (a down real
//!   removed, or at weight 0 with inhibit_on_failure), so an edit never brings a failed
//!   real back.
//! - Dropping a plane stops the loops first, then undoes the kernel side (field order).

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};

use xvs::ctl::args::Command;
use xvs::ctl::args::SvcId;
use xvs::ctl::daemon::Director;
use xvs::engine_config::{Checked, HealthStates};
use xvs::health::quorum::QuorumStates;
use xvs::sync::daemon::{Role, Settings, SyncDaemons};
use xvs::vrrp::runtime::{InstanceStatus, StatusReader};
use xvs_datapath::poll::Control;
use xvs_datapath::snapshot::Snapshot;
use xvs_engine::{ConnInfo, EngineConfig, NeighborSpec};

use xvs::fleet::drain::Drain;
use xvs::fleet::{readiness, AnnounceState, FleetRequest};

use super::draining::Draining;
use super::log;
use super::loops::Loops;
use crate::nexthop;

/// The kernel side of a configuration (VIPs on `vip_device`, the steering maps); a trait
/// so the plane's order of changes can be tested without BPF.
pub(super) trait KernelSide {
    /// Add the VIPs of `cfg` the device lacks and remove the ones this run added that
    /// neither `cfg` nor `draining` needs: (added, removed).
    fn sync_vips(&mut self, cfg: &EngineConfig, draining: &Draining) -> Result<(Vec<IpAddr>, Vec<IpAddr>), String>;
    /// Make the steering maps steer `cfg`, and what drains (NAT reals' replies, removed
    /// services' endpoints).
    fn steer(&mut self, cfg: &EngineConfig, draining: &Draining) -> Result<(), String>;
}

pub(super) struct Plane<K: KernelSide> {
    /// Stopped and joined first on drop.
    pub loops: Loops,
    pub kernel: K,
    /// The running model.
    checked: Checked,
    /// What the loops run: `checked` with health, next hops and the ports' MACs.
    running: EngineConfig,
    /// The model's own `[[neighbor]]` entries (`running.neighbors` adds the kernel's).
    configured: Vec<NeighborSpec>,
    draining: Draining,
    ifaces: Vec<String>,
    pub health: HealthStates,
    /// keepalived's quorum state of each service (`health::quorum`).
    quorum: QuorumStates,
    /// Quorum changes not yet taken by the control loop (its quorum scripts).
    pub quorum_events: Vec<xvs::health::quorum::QuorumChange>,
    /// VIPs of VRRP instances that are not MASTER: their services are not served.
    gated: HashSet<IpAddr>,
    /// The VRRP runtime's status, for the listings (empty without VRRP).
    pub vrrp: StatusReader,
    /// The connection-sync daemons (stopped on drop, before the loops).
    pub sync: SyncDaemons,
    /// `xvs ctl --drain` and the announcer's polls (`xvs::fleet`).
    pub fleet: Drain,
}

impl<K: KernelSide> Plane<K> {
    /// The plane of a director whose loops already run `running` (made from `checked`
    /// with no health verdicts yet, its next hops resolved from `configured`).
    pub fn new(
        loops: Loops,
        kernel: K,
        checked: Checked,
        running: EngineConfig,
        configured: Vec<NeighborSpec>,
        ifaces: Vec<String>,
    ) -> Self {
        let health = HealthStates::new();
        let gated = HashSet::new();
        let (draining, vrrp) = (Draining::default(), StatusReader::default());
        let sync = SyncDaemons::new(loops.sync.clone());
        let quorum = QuorumStates::default();
        let quorum_events = Vec::new();
        Plane {
            loops,
            kernel,
            checked,
            running,
            configured,
            draining,
            ifaces,
            health,
            quorum,
            quorum_events,
            gated,
            vrrp,
            sync,
            fleet: Drain::default(),
        }
    }

    /// The service frames the loops have seen (received, not handed to the kernel).
    pub fn service_frames(&self) -> u64 {
        let s = self.loops.merged().stats;
        s.rx.saturating_sub(s.passed)
    }

    /// The VIPs whose services `running` already has on standby (VRRP instances not
    /// MASTER).
    pub fn with_gate(mut self, gated: HashSet<IpAddr>) -> Self {
        self.gated = gated;
        self
    }

    /// The quorum states `running` was made with.
    /// Whether service `key` has its quorum.
    pub fn quorum_is_up(&self, key: &xvs_engine::ServiceKey) -> bool {
        self.quorum.is_up(key)
    }

    pub fn with_quorum(mut self, quorum: QuorumStates) -> Self {
        self.quorum = quorum;
        self
    }

    pub fn checked(&self) -> &Checked {
        &self.checked
    }

    /// What the loops should run for `checked` (the running one when `None`): health and
    /// quorum applied (quorum changes logged), VRRP's gate on.
    fn wanted(&mut self, checked: Option<&Checked>) -> EngineConfig {
        let checked = checked.unwrap_or(&self.checked);
        let (cfg, changes) = checked.engine_with_quorum(&self.health, &mut self.quorum);
        for c in &changes {
            let (what, cmp) = if c.up { ("gained", ">=") } else { ("lost", "<") };
            log(format!("quorum {what} for {}: live weight {} {cmp} {}", c.service, c.weight, c.threshold));
        }
        self.quorum_events.extend(changes);
        gate(cfg, &self.gated)
    }

    /// Make `checked` the running model (see the module invariants).
    pub fn change(&mut self, checked: Checked) -> Result<(), String> {
        let cfg = self.wanted(Some(&checked));
        self.install(cfg)?;
        self.checked = checked;
        Ok(())
    }

    /// The health states changed: run the model with them.
    pub fn health_changed(&mut self) -> Result<(), String> {
        let cfg = self.wanted(None);
        self.install(cfg)
    }

    /// VRRP changed which instances are MASTER: serve the services of `gated` VIPs no
    /// longer, the others again.
    pub fn set_gate(&mut self, gated: HashSet<IpAddr>) -> Result<(), String> {
        if gated == self.gated {
            return Ok(());
        }
        let before = std::mem::replace(&mut self.gated, gated);
        let cfg = self.wanted(None);
        let r = self.install(cfg);
        if r.is_err() {
            self.gated = before;
        }
        r
    }

    /// Replace the loops' configuration with `new`, then the kernel side.
    fn install(&mut self, mut new: EngineConfig) -> Result<(), String> {
        new.port_macs = self.running.port_macs.clone();
        let mut draining = self.draining.clone();
        draining.reload(&self.running, &new);
        let configured = std::mem::take(&mut new.neighbors);
        new.neighbors = nexthop::resolve(&configured, &draining.with_addresses(&new), &self.ifaces);
        self.loops.apply(&new, &self.running)?;
        sync_kernel(&mut self.kernel, &new, &draining, "reload");
        (self.running, self.configured, self.draining) = (new, configured, draining);
        Ok(())
    }

    /// Once a second: forget drained reals and services (and steer without them, their
    /// VIPs gone), and ask the kernel for the next hops again, sending them to the loops
    /// when they changed.
    pub fn refresh(&mut self) {
        if !self.draining.is_empty() && self.draining.prune(&self.loops.merged()) {
            sync_kernel(&mut self.kernel, &self.running, &self.draining, "drained");
        }
        let hops = nexthop::resolve(&self.configured, &self.draining.with_addresses(&self.running), &self.ifaces);
        if hops != self.running.neighbors {
            self.running.neighbors = hops.clone();
            self.loops.send(Control::Neighbors(hops));
        }
    }
}

/// VIPs, then steering, for `cfg` and `draining` (`what`: for the log).
fn sync_kernel<K: KernelSide>(kernel: &mut K, cfg: &EngineConfig, draining: &Draining, what: &str) {
    match kernel.sync_vips(cfg, draining) {
        Ok((added, removed)) => {
            if !added.is_empty() {
                log(format!("added VIPs: {added:?}"));
            }
            if !removed.is_empty() {
                log(format!("removed VIPs: {removed:?}"));
            }
        }
        Err(e) => log(format!("{what}: {e}")),
    }
    if let Err(e) = kernel.steer(cfg, draining) {
        log(format!("{what}: steering maps: {e}"));
    }
}

impl<K: KernelSide> Director for Plane<K> {
    fn apply(&mut self, model: &xvs_config::Config) -> Result<(), String> {
        let (a4, a6) = self.checked.addresses();
        self.change(Checked::new(model.clone(), a4, a6)?)?;
        log(format!("ctl: applied an edit: {} service(s)", model.services.len()));
        Ok(())
    }

    fn snapshot(&self) -> Snapshot {
        self.loops.merged()
    }

    fn connections(&self) -> Vec<ConnInfo> {
        self.loops.connections()
    }

    fn health(&self) -> Option<HashMap<(SvcId, SocketAddr), bool>> {
        Some(health_by_service(&self.health))
    }

    fn vrrp(&self) -> Vec<InstanceStatus> {
        self.vrrp.read()
    }

    fn sync_daemon(&mut self, cmd: &Command) -> Result<(), String> {
        match cmd {
            Command::StartDaemon(o) => {
                let s = Settings::from(o);
                self.sync.start(o.role.into(), &s)?;
                log(format!("ctl: {}", s.describe(o.role.into())));
            }
            Command::StopDaemon(r) => {
                let role = Role::from(*r);
                self.sync.stop(role)?;
                log(format!("ctl: {} sync daemon stopped", role.name()));
            }
            _ => {}
        }
        Ok(())
    }

    fn sync_status(&self) -> Vec<String> {
        self.sync.status().iter().map(|(r, s)| s.describe(*r)).collect()
    }

    fn draining(&self) -> bool {
        self.fleet.draining()
    }

    fn fleet(&mut self, req: FleetRequest) -> Result<String, String> {
        let now = std::time::Instant::now();
        let json = match req {
            FleetRequest::Announce => {
                let was_withdrawn = self.fleet.withdrawn();
                self.fleet.handle_announce_poll(now);
                if self.fleet.draining() && !was_withdrawn {
                    log("fleet: an announcer saw the drain: its routes are withdrawn");
                }
                let draining = self.fleet.draining();
                let state = AnnounceState { draining, vips: readiness::vip_states(&self.running, draining) };
                serde_json::to_string(&state)
            }
            drain => {
                // One snapshot for the frame count and the connections.
                let snap = self.loops.merged();
                let frames = snap.stats.rx.saturating_sub(snap.stats.passed);
                let draining = self.fleet.draining();
                if drain == FleetRequest::Drain && !draining {
                    self.fleet.begin(now, frames);
                    log("fleet: draining (ctl --drain): routes withdrawn, forwarding what still arrives");
                } else if drain == FleetRequest::Undrain && draining {
                    self.fleet.end();
                    log("fleet: drain ended (ctl --undrain): ready VIPs are announced again");
                }
                self.fleet.observe(now, frames);
                serde_json::to_string(&self.fleet.status(now, u64::from(snap.live_connections)))
            }
        };
        json.map_err(|e| e.to_string())
    }
}

/// Health states keyed as the ctl listings look them up.
/// `cfg` with the services whose VIP is in `gated` (a VRRP instance that owns it is not
/// MASTER) on standby: steered and known to the engines (synced and established
/// connections go on), but taking no new connection. Steering them all the time leaves
/// no moment in which a new MASTER's kernel sees their traffic before the steering maps
/// catch up (it would reset the VIP's connections and forward NAT replies untranslated).
pub(super) fn gate(mut cfg: EngineConfig, gated: &HashSet<IpAddr>) -> EngineConfig {
    cfg.standby = cfg
        .services
        .iter()
        .flat_map(|s| std::iter::once(s.vip).chain(s.marks.iter().map(|m| m.net)))
        .filter(|v| gated.contains(v))
        .collect();
    cfg
}

pub(super) fn health_by_service(h: &HealthStates) -> HashMap<(SvcId, SocketAddr), bool> {
    h.iter()
        .map(|(k, (up, _))| {
            let s = &k.service;
            let id = if s.fwmark != 0 {
                SvcId::mark(s.fwmark, s.vip.is_ipv6())
            } else {
                let protocol = if s.proto == 6 { xvs_config::Protocol::Tcp } else { xvs_config::Protocol::Udp };
                SvcId::at(protocol, xvs_config::Vip { addr: s.vip, prefix_len: s.prefix_len, port: s.port })
            };
            ((id, SocketAddr::new(k.addr, k.port)), *up)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::mpsc::{Receiver, RecvTimeoutError};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use xvs::ctl::daemon::CtlState;
    use xvs::ctl::{Request, Response};
    use xvs_datapath::poll::{handle_control, Ack};
    use xvs_engine::Engine;

    use super::super::loops::Body;
    use super::*;

    /// How many services each loop's engine runs, as it last said.
    type Counts = Vec<Arc<Mutex<usize>>>;

    /// The kernel side, recording what each loop ran when the maps were changed.
    struct FakeKernel {
        loops: Counts,
        steered: Vec<(usize, Vec<usize>)>,
    }

    impl KernelSide for FakeKernel {
        fn sync_vips(&mut self, _: &EngineConfig, _: &Draining) -> Result<(Vec<IpAddr>, Vec<IpAddr>), String> {
            Ok((Vec::new(), Vec::new()))
        }

        fn steer(&mut self, cfg: &EngineConfig, _: &Draining) -> Result<(), String> {
            let ran = self.loops.iter().map(|c| *c.lock().unwrap()).collect();
            self.steered.push((cfg.services.len(), ran));
            Ok(())
        }
    }

    /// A poll loop without sockets: an engine taking control messages as the poll loop
    /// does (`handle_control`), reporting its service count; with `refuse`, every
    /// configuration is refused with that message (as an engine out of service ids is).
    fn fake_loop(mut engine: Engine, refuse: Option<&'static str>, count: Arc<Mutex<usize>>) -> Body {
        Box::new(move |stop: &AtomicBool, control: &Receiver<Control>, _| {
            while !stop.load(Ordering::Relaxed) {
                match control.recv_timeout(Duration::from_millis(10)) {
                    Ok(Control::Apply { epoch, ack, .. }) if refuse.is_some() => {
                        let _ = ack.send(Ack { epoch, result: Err(refuse.unwrap_or_default().to_string()) });
                    }
                    // The count is set before the plane hears the acknowledgement.
                    Ok(Control::Apply { config, epoch, ack }) => {
                        let (tx, rx) = std::sync::mpsc::channel();
                        handle_control(&mut engine, Control::Apply { config, epoch, ack: tx });
                        *count.lock().unwrap() = engine.config().services.len();
                        let _ = ack.send(rx.recv().unwrap());
                    }
                    Ok(msg) => handle_control(&mut engine, msg),
                    Err(RecvTimeoutError::Timeout) => continue,
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            }
        })
    }

    /// A plane with one service and two fake loops (the second refusing with `refuse`),
    /// and the ctl state over its model.
    fn director(refuse: Option<&'static str>) -> (Plane<FakeKernel>, CtlState, Counts) {
        let text = "[[service]]\nvip = \"10.0.1.100:80\"\n[[service.real]]\naddr = \"10.0.2.11:80\"\n\
                    [[neighbor]]\nip = \"10.0.2.11\"\nmac = \"02:00:00:00:02:11\"\n";
        let checked = Checked::new(xvs_config::parse_str(text, "test.toml").unwrap(), None, None).unwrap();
        let mut running = checked.engine(&HealthStates::new());
        let configured = running.neighbors.clone();
        running.neighbors = nexthop::resolve(&configured, &[], &[]);
        let counts: Counts = (0..2).map(|_| Arc::new(Mutex::new(1))).collect();
        let mut loops = Loops::default();
        for (i, refuse) in [None, refuse].into_iter().enumerate() {
            let engine = Engine::new(running.clone(), 0).unwrap();
            loops.spawn(format!("fake-loop-{i}"), fake_loop(engine, refuse, counts[i].clone())).unwrap();
        }
        let kernel = FakeKernel { loops: counts.clone(), steered: Vec::new() };
        let ctl = CtlState::new(checked.model().clone());
        (Plane::new(loops, kernel, checked, running, configured, Vec::new()), ctl, counts)
    }

    fn ctl(state: &mut CtlState, plane: &mut Plane<FakeKernel>, args: &str) -> Response {
        let req = Request { args: args.split(' ').map(String::from).collect(), input: None, fleet: None };
        state.handle(&req, plane)
    }

    #[test]
    fn an_edit_reaches_every_loop_before_the_maps() {
        let (mut plane, mut state, counts) = director(None);
        let r = ctl(&mut state, &mut plane, "-A -t 10.0.1.101:80 -s rr");
        assert_eq!(r.exit, 0, "{r:?}");
        assert_eq!(plane.kernel.steered, vec![(2, vec![2, 2])], "both loops ran it when the maps changed");
        assert_eq!(state.model.services.len(), 2);
        assert!(counts.iter().all(|c| *c.lock().unwrap() == 2));
    }

    #[test]
    fn an_apply_error_fails_the_ctl_edit_at_once_and_the_old_configuration_stays() {
        let refusal = "more than 65535 services over the engine's life";
        let (mut plane, mut state, counts) = director(Some(refusal));
        let before = state.model.clone();
        let t = Instant::now();
        let r = ctl(&mut state, &mut plane, "-A -t 10.0.1.101:80 -s rr");
        assert!(t.elapsed() < Duration::from_secs(1), "answered at once, not after a timeout");
        assert_eq!(r.exit, 1, "{r:?}");
        assert!(r.stderr.starts_with("-A -t 10.0.1.101:80 -s rr: "), "{r:?}");
        assert!(r.stderr.contains(refusal), "{r:?}");
        assert_eq!(state.model, before, "the ctl model is unchanged");
        assert!(plane.kernel.steered.is_empty(), "the maps were not touched");
        assert_eq!(plane.running.services.len(), 1);
        // The loop that took the edit was given the old configuration back.
        assert_eq!(*counts[0].lock().unwrap(), 1);
        assert_eq!(*counts[1].lock().unwrap(), 1);
    }
}
