//! The daemon's control loop: after bring-up, the one thread that changes the director.
//! It owns the signals (SIGHUP reload, SIGINT/SIGTERM stop), the ctl state and requests,
//! the health checks and their verdicts, and the periodic duties (the rate estimator's
//! tick, next hops every second, a counter line every 30 s).
//!
//! Invariants:
//! - It wakes at least every 100 ms, at once for a ctl request; duties are time-gated.
//! - Every configuration change goes through [`Plane`] (reloads, ctl edits, health), and
//!   one that fails leaves the running configuration and the ctl model as they were:
//!   a failed reload is logged, a failed edit answered with the error.
//! - A SIGHUP re-reads FILE and replaces the model (dropping ctl edits); the file is
//!   checked once (`load`, then [`Checked::new`]) before anything is sent.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use xvs::ctl::daemon::CtlState;
use xvs::engine_config::Checked;
use xvs::health::{CheckSpec, HealthEvent, Monitor, RealKey};

use super::bringup::Running;
use super::{load, log, Overrides};

/// An announcer that asked within this long follows the director (it polls every 200 ms).
const ANNOUNCER_RECENT: Duration = Duration::from_secs(3);
/// How long a stop waits for the announcer to see the drain.
const WITHDRAW_WAIT: Duration = Duration::from_secs(2);
/// How long a stop keeps forwarding after the withdrawal went out.
const WITHDRAW_GRACE: Duration = Duration::from_secs(1);

/// The health checks the model asks for, and their verdicts as they arrive.
struct Health {
    checks: Vec<CheckSpec>,
    monitor: Monitor,
    /// The running monitor's generation: events of earlier ones are stale.
    generation: u64,
    /// What each check last said, by (real, check index); a real's state is their
    /// combination (`health::combine`).
    per_check: HashMap<(RealKey, usize), (bool, xvs::health::WeightSay)>,
    tx: Sender<HealthEvent>,
    rx: Receiver<HealthEvent>,
}

pub(super) struct ControlLoop<'a> {
    running: Running,
    ctl_state: CtlState,
    health: Health,
    hup: Arc<AtomicBool>,
    term: Arc<AtomicBool>,
    path: &'a Path,
    ov: &'a Overrides,
    last_hops: Instant,
    last_log: Instant,
    /// The VRRP instances that are MASTER now (from the runtime's transitions).
    vrrp_master: Vec<String>,
    /// keepalived's notify_up/down and quorum_up/down scripts that run.
    notifier: super::notify::Notifier,
}

impl<'a> ControlLoop<'a> {
    /// Take over `running`: install the signal handlers, start the model's health checks.
    pub fn new(running: Running, path: &'a Path, ov: &'a Overrides) -> Result<Self, String> {
        let hup = Arc::new(AtomicBool::new(false));
        let term = Arc::new(AtomicBool::new(false));
        for (sig, flag) in [(SIGHUP, &hup), (SIGINT, &term), (SIGTERM, &term)] {
            signal_hook::flag::register(sig, flag.clone()).map_err(|e| format!("signal handler: {e}"))?;
        }
        let model = running.plane.checked().model().clone();
        let ctl_state = CtlState::with_rates(model.clone(), running.rates.clone());
        let (tx, rx) = mpsc::channel::<HealthEvent>();
        let checks = xvs::health::checks_of(&model);
        let (monitor, failed) = Monitor::start(checks.clone(), |_| None, tx.clone(), 1);
        log_failed_checks(&failed);
        if !checks.is_empty() {
            log(format!("health checks: {} real(s) checked", checks.len()));
        }
        let now = Instant::now();
        Ok(ControlLoop {
            running,
            ctl_state,
            health: Health { checks, monitor, generation: 1, per_check: HashMap::new(), tx, rx },
            hup,
            term,
            path,
            ov,
            last_hops: now,
            last_log: now,
            vrrp_master: Vec::new(),
            notifier: Default::default(),
        })
    }

    /// Run until SIGINT/SIGTERM (Ok) or until a poll loop dies (Err); the director, for
    /// its shutdown.
    pub fn run(mut self) -> (Running, Result<(), String>) {
        let result = self.serve();
        if result.is_ok() {
            self.withdraw_before_stop();
            self.omega();
        }
        (self.running, result)
    }

    /// keepalived's `omega`: at shutdown, each such service's `quorum_down` (when its
    /// quorum is up) and the `notify_down` of each of its reals that is up, waited for
    /// at most 5 s so a stop stays prompt.
    fn omega(&mut self) {
        let model = self.ctl_state.model.clone();
        for s in model.services.iter().filter(|s| s.omega) {
            let key = xvs::observe::key_of(s);
            if self.running.plane.quorum_is_up(&key) {
                self.notifier.start(&model, &s.quorum_down, format!("quorum_down of {key} (omega, at exit)"));
            }
            for r in &s.reals {
                let rk = xvs::observe::real_key(key, r.addr);
                if self.running.plane.health.get(&rk).is_none_or(|h| h.0) {
                    let what = format!("notify_down of real {} of {key} (omega, at exit)", rk.endpoint());
                    self.notifier.start(&model, &r.notify_down, what);
                }
            }
        }
        self.notifier.finish(Duration::from_secs(5));
    }

    /// Handle ctl requests, each answered in turn.
    fn answer(&mut self, requests: Vec<xvs::ctl::server::Pending>) {
        for p in requests {
            let r = self.ctl_state.handle(&p.request, &mut self.running.plane);
            p.answer(r);
        }
    }

    /// A stop (SIGTERM/SIGINT) of a fleet member: when an announcer follows this director
    /// and has not withdrawn already, drain, keep answering until the announcer has seen
    /// it (at most [`WITHDRAW_WAIT`]), then keep forwarding for [`WITHDRAW_GRACE`] while
    /// the routers take the route away, so the steering detaches after the traffic left.
    fn withdraw_before_stop(&mut self) {
        let now = Instant::now();
        let fleet = &self.running.plane.fleet;
        if !fleet.announcer_recent(now, ANNOUNCER_RECENT) || fleet.withdrawn() {
            return;
        }
        if !fleet.draining() {
            let frames = self.running.plane.service_frames();
            self.running.plane.fleet.begin(now, frames);
        }
        log("stopping: draining first, so the announcer withdraws the routes");
        let mut grace_from = None;
        loop {
            let requests = self.running.ctl.wait(Duration::from_millis(20));
            self.answer(requests);
            if grace_from.is_none() && self.running.plane.fleet.withdrawn() {
                grace_from = Some(Instant::now());
            }
            match grace_from {
                Some(t) if t.elapsed() >= WITHDRAW_GRACE => break,
                None if now.elapsed() >= WITHDRAW_WAIT => {
                    log("stopping: the announcer did not ask again in time; stopping anyway");
                    break;
                }
                _ => {}
            }
        }
    }

    fn serve(&mut self) -> Result<(), String> {
        while !self.term.load(Ordering::Relaxed) {
            // Wakes early for a control request; the duties below are time-gated.
            let requests = self.running.ctl.wait(Duration::from_millis(100));
            let loops = &self.running.plane.loops;
            if loops.any_finished() {
                return Err("the poll loop stopped".into());
            }
            self.running.rates.tick(|| loops.merged());
            if self.hup.swap(false, Ordering::Relaxed) {
                self.reload();
            }
            self.answer(requests);
            self.follow_checks();
            self.take_verdicts();
            self.follow_vrrp();
            self.notify_quorum();
            self.periodic();
        }
        Ok(())
    }

    /// SIGHUP: re-read FILE and make it the running model, or log why not.
    fn reload(&mut self) {
        let path = self.path.display();
        let (a4, a6) = self.running.plane.checked().addresses();
        let checked = match load(self.path, self.ov).and_then(|m| Checked::new(m, a4, a6)) {
            Ok(c) => c,
            Err(e) => return log(format!("reload of {path} rejected; the running configuration stays:\n{e}")),
        };
        if checked.model().vrrp != self.running.plane.checked().model().vrrp {
            return log(format!(
                "reload of {path} rejected; the running configuration stays: its VRRP part changed, and \
                 xvs run applies VRRP changes only at a restart"
            ));
        }
        let model = checked.model().clone();
        match self.running.plane.change(checked) {
            Ok(()) => {
                log(format!("reloaded {path}: {} service(s)", model.services.len()));
                self.ctl_state.set_model(model);
            }
            Err(e) => log(format!("reload of {path} failed; the running configuration stays: {e}")),
        }
    }

    /// The model changed (SIGHUP, ctl): check what it now says to check, keeping the
    /// states of reals that stay.
    fn follow_checks(&mut self) {
        let wanted = xvs::health::checks_of(&self.ctl_state.model);
        if wanted == self.health.checks {
            return;
        }
        // Returns at once: probes in flight end on their own, and say nothing more.
        self.health.monitor.stop();
        // A check's state carries over only to the same check (same real, place and probe).
        let same = |c: &CheckSpec| {
            self.health
                .checks
                .iter()
                .any(|o| o.key == c.key && o.index == c.index && o.kind == c.kind && o.target == c.target)
        };
        let kept: Vec<(RealKey, usize)> = wanted.iter().filter(|c| same(c)).map(|c| (c.key, c.index)).collect();
        self.health.per_check.retain(|k, _| kept.contains(k));
        let states = &mut self.running.plane.health;
        states.clear();
        for c in &wanted {
            if let Some(s) = xvs::health::combine(&c.key, &wanted, &self.health.per_check) {
                states.insert(c.key, s);
            }
        }
        let known = self.health.per_check.clone();
        self.health.generation += 1;
        let (monitor, failed) = Monitor::start(
            wanted.clone(),
            |c| known.get(&(c.key, c.index)).map(|s| s.0),
            self.health.tx.clone(),
            self.health.generation,
        );
        log_failed_checks(&failed);
        std::mem::replace(&mut self.health.monitor, monitor).retire();
        self.health.checks = wanted;
    }

    /// A real came up or went down: its keepalived notify script.
    fn notify_real(&mut self, key: &RealKey, up: bool) {
        let model = &self.ctl_state.model;
        let Some(r) = super::notify::real_of(model, key) else { return };
        let line = if up { &r.notify_up } else { &r.notify_down };
        let what = format!("notify_{} of real {} of {}", if up { "up" } else { "down" }, key.endpoint(), key.service);
        self.notifier.start(model, line, what);
    }

    /// Quorum changes of the plane's last configurations: each service's quorum script.
    fn notify_quorum(&mut self) {
        for c in std::mem::take(&mut self.running.plane.quorum_events) {
            let model = &self.ctl_state.model;
            let Some(s) = super::notify::service_of(model, &c.service) else { continue };
            let line = if c.up { &s.quorum_up } else { &s.quorum_down };
            let what = format!("quorum_{} of {}", if c.up { "up" } else { "down" }, c.service);
            self.notifier.start(model, line, what);
        }
        self.notifier.poll();
    }

    /// Take the health verdicts that arrived and run the model with them.
    fn take_verdicts(&mut self) {
        let mut changed = false;
        while let Ok(ev) = self.health.rx.try_recv() {
            if ev.generation != self.health.generation {
                continue;
            }
            let k = &ev.key;
            log(format!(
                "health: real {} of {} check #{} is {}{} ({})",
                k.endpoint(),
                k.service,
                ev.index + 1,
                if ev.up { "UP" } else { "DOWN" },
                match ev.weight {
                    xvs::health::WeightSay::Keep => String::new(),
                    xvs::health::WeightSay::Set(w) => format!(", weight {w}"),
                    xvs::health::WeightSay::Add(w) => format!(", weight {w:+}"),
                },
                ev.detail
            ));
            let before = xvs::health::combine(&ev.key, &self.health.checks, &self.health.per_check);
            self.health.per_check.insert((ev.key, ev.index), (ev.up, ev.weight));
            if let Some(s) = xvs::health::combine(&ev.key, &self.health.checks, &self.health.per_check) {
                self.running.plane.health.insert(ev.key, s);
                if before.map(|b| b.0) != Some(s.0) {
                    self.notify_real(&ev.key, s.0);
                }
            }
            changed = true;
        }
        if changed {
            if let Err(e) = self.running.plane.health_changed() {
                log(format!("health: applying the new states failed; the previous configuration stays: {e}"));
            }
            if let Some(m) = &self.running.metrics {
                m.set_health(self.running.plane.health.iter().map(|(k, (up, _))| (*k, *up)).collect());
            }
        }
    }

    /// VRRP state changes: serve the services of a MASTER instance's addresses, and no
    /// others of VRRP's.
    fn follow_vrrp(&mut self) {
        let mut changed = false;
        for t in self.running.vrrp_events.try_iter() {
            changed = true;
            self.vrrp_master.retain(|n| *n != t.instance);
            if t.to == xvs_vrrp::State::Master {
                self.vrrp_master.push(t.instance);
            }
        }
        if !changed {
            return;
        }
        let model = self.running.plane.checked().model();
        let gated = model
            .vrrp
            .instances
            .iter()
            .filter(|i| !self.vrrp_master.contains(&i.name))
            .flat_map(|i| i.virtual_ipaddress.iter().chain(&i.virtual_ipaddress_excluded).map(|a| a.addr))
            .collect();
        if let Err(e) = self.running.plane.set_gate(gated) {
            log(format!("VRRP: serving the new MASTER set failed; the previous configuration stays: {e}"));
        }
        super::sync_roles::follow(&mut self.running.plane, &self.vrrp_master);
    }

    /// Next hops every second, a counter line every 30 s; while draining, the frames
    /// that still arrive.
    fn periodic(&mut self) {
        if self.running.plane.fleet.draining() {
            let frames = self.running.plane.service_frames();
            self.running.plane.fleet.observe(Instant::now(), frames);
        }
        if self.last_hops.elapsed() >= Duration::from_secs(1) {
            self.last_hops = Instant::now();
            self.running.plane.refresh();
        }
        if self.last_log.elapsed() >= Duration::from_secs(30) {
            self.last_log = Instant::now();
            let s = self.running.plane.loops.merged();
            log(format!(
                "rx {} tx {} passed {} dropped {} connections {}",
                s.stats.rx,
                s.stats.tx,
                s.stats.passed,
                s.stats.dropped(),
                s.live_connections
            ));
        }
    }
}

/// Checks whose thread could not be started: said loudly; their reals keep their state.
fn log_failed_checks(failed: &[(xvs::health::RealKey, String)]) {
    for (k, why) in failed {
        log(format!("health: the check of real {} of {} is NOT running: {why}", k.endpoint(), k.service));
    }
}
