//! Bring-up: everything `xvs run` sets up before its control loop runs, in one value,
//! [`Running`], that owns it all and undoes it on drop.
//!
//! Order: the control socket and the metrics address first (so a busy one fails before
//! anything else is touched), bpffs, what an earlier run on the same control socket left
//! (`watchdog::reconcile`) and this run's watchdog, the VIPs on `vip_device` (with
//! `manage_vips`), the steering program's maps, then per interface: XDP attached (the
//! link pinned), an AF_XDP socket bound to every queue and put in the XSKMAP; next hops
//! from the kernel; one poll loop per poll core; the metrics thread; VRRP.
//!
//! Invariant: whatever bring-up did is undone on every exit path after it. On failure the
//! pieces made so far are dropped in reverse order of making; a [`Running`] drops its
//! fields in declaration order: the loops stop and are joined (their sockets close with
//! them), the XDP program is detached and its maps freed, the VIPs this process added are
//! removed, the control socket file is removed, and last the watchdog is told of the
//! clean stop (it exits quietly). The steering links are pinned (`watchdog`): should the
//! process die instead, the program stays attached, dropping what it steers, and the
//! watchdog removes VRRP's addresses.

use std::collections::HashSet;
use std::net::{IpAddr, TcpListener};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use xvs::ctl::server::Server;
use xvs::engine_config::{Checked, HealthStates};
use xvs::observe::rates::SharedRates;
use xvs_datapath::handoff::Mesh;
use xvs_datapath::poll::PollMode;
use xvs_datapath::xsk::{BindMode, XskConfig, XskPort};
use xvs_engine::services::SharedCounters;
use xvs_engine::{Engine, EngineConfig};

use super::ctl_plane::{gate, KernelSide, Plane};
use super::draining::Draining;
use super::log;
use super::loops::Loops;
use super::system::{interface_mac, local_addresses, rx_queues};
use super::vips::VipGuard;
use crate::nexthop;
use crate::run_metrics::RunMetrics;
use crate::steering::{Drained, Steering, XdpMode};
use crate::watchdog::{Ledger, Watchdog};
use xvs::vrrp::runtime::{AddressHook, Transition, VrrpRuntime};

/// The steering maps and the VIPs: the kernel side of the running configuration.
pub(super) struct Kernel {
    /// Detached (dropped) before the VIPs are removed.
    pub steering: Steering,
    pub vips: Option<VipGuard>,
}

impl KernelSide for Kernel {
    fn sync_vips(&mut self, cfg: &EngineConfig, draining: &Draining) -> Result<(Vec<IpAddr>, Vec<IpAddr>), String> {
        self.vips.as_mut().map_or(Ok((Vec::new(), Vec::new())), |g| g.sync(cfg, &draining.vips()))
    }

    fn steer(&mut self, cfg: &EngineConfig, draining: &Draining) -> Result<(), String> {
        let (nat, ends) = (draining.nat(), draining.ends());
        self.steering.sync(cfg, &local_addresses(), &Drained { nat: &nat, services: &ends })
    }
}

/// The running director. Dropping it undoes bring-up (module invariant: field order).
pub(super) struct Running {
    /// VRRP: stopped first, so a MASTER resigns (priority 0) and gives its addresses
    /// back while the datapath still runs.
    pub vrrp: Option<VrrpRuntime>,
    /// VRRP's state changes, for the control loop.
    pub vrrp_events: Receiver<Transition>,
    /// The poll loops, then the kernel side, with the configuration they run.
    pub plane: Plane<Kernel>,
    /// The metrics endpoint (its thread ends with the process).
    pub metrics: Option<RunMetrics>,
    /// The director's rate estimator: the control loop feeds it, ctl and metrics read it.
    pub rates: SharedRates,
    /// The control socket `xvs ctl` talks to.
    pub ctl: Server,
    /// Last: told of the clean stop once everything above is undone.
    #[expect(dead_code, reason = "a guard: dropping it is the clean stop")]
    pub watchdog: Watchdog,
}

impl Running {
    /// Stop in order, logging the final counters.
    pub fn shutdown(mut self) {
        log("stopping");
        if let Some(v) = self.vrrp.take() {
            log(format!("VRRP: resigning {} instance(s) (priority 0 adverts, addresses given back)", v.status().len()));
            drop(v);
        }
        let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
        let s = self.plane.loops.stop();
        let (redirected, passed, nosock) = self.plane.kernel.steering.counters();
        drop(self);
        log(format!(
            "stopped: rx {} tx {} dropped {}; XDP redirected {redirected}, passed {passed}, no socket {nosock}",
            s.stats.rx,
            s.stats.tx,
            s.stats.dropped()
        ));
    }
}

/// Bring the director up on `ifaces` with `checked` (see the module doc).
pub(super) fn bring_up(checked: Checked, ifaces: Vec<String>) -> Result<Running, String> {
    let d = &checked.model().director;
    let ctl = xvs::ctl::server::listen(&d.control_socket)?;
    let metrics_listener = d.metrics.map(crate::run_metrics::bind).transpose()?;
    match xvs::bpf::ensure_bpffs() {
        Ok(true) => log(format!("mounted bpffs at {}", xvs::bpf::BPFFS)),
        Ok(false) => {}
        Err(e) => return Err(format!("bpffs: {e}")),
    }
    // What an earlier run on this control socket left, then this run's watchdog, before
    // anything is added (see `watchdog`).
    let stale = crate::watchdog::reconcile(&d.control_socket);
    let ledger = Ledger::create(crate::watchdog::state_path(&d.control_socket))?;
    let watchdog = Watchdog::start(&ledger)?;
    // Services of VRRP addresses are served only while their instance is MASTER: none yet.
    let vrrp_addrs = xvs::vrrp::spec::owned_addresses(&checked.model().vrrp);
    let gated: HashSet<IpAddr> = vrrp_addrs.iter().copied().collect();
    let vrrp_specs = xvs::vrrp::spec::specs(&checked.model().vrrp)?;
    let vrrp_scripts = xvs::vrrp::spec::scripts(&checked.model().vrrp)?;
    let vrrp_groups = xvs::vrrp::spec::groups(&checked.model().vrrp)?;
    // keepalived's start: a service below quorum + hysteresis starts with quorum lost.
    let mut quorum = xvs::health::quorum::QuorumStates::default();
    let mut ecfg = gate(checked.engine_with_quorum(&HealthStates::new(), &mut quorum).0, &gated);
    let vips = add_vips(&checked.model().director, &ecfg, vrrp_addrs, ledger.hook())?;
    // Our own MAC on each port: the source of frames leaving there.
    ecfg.port_macs = ifaces.iter().map(|i| interface_mac(i)).collect::<Result<_, _>>()?;
    let mut steering = Steering::load(crate::watchdog::pin_dir(&checked.model().director.control_socket))?;
    if stale {
        // An unpinned link of the earlier run is released by the kernel a moment later.
        steering.settle_until = Some(Instant::now() + Duration::from_secs(2));
    }
    steering.sync(&ecfg, &local_addresses(), &Drained::default())?;
    let cores = poll_cores(d.cores.clone(), &ifaces);
    let ports = open_sockets(&mut steering, &ifaces, &cores, xdp_mode(d.xdp_mode))?;
    // The model's [[neighbor]] entries; `ecfg.neighbors` holds them plus the kernel's.
    let configured = std::mem::take(&mut ecfg.neighbors);
    ecfg.neighbors = nexthop::resolve(&configured, &nexthop::real_addresses(&ecfg), &ifaces);
    let poll_mode = poll_mode(d.poll);
    let loops = start_loops(&ecfg, &cores, ports, poll_mode)?;
    log(format!(
        "running: {} service(s) on {} interface(s), {} poll core(s) {:?}, poll {}",
        ecfg.services.len(),
        ifaces.len(),
        cores.len(),
        cores,
        if poll_mode == PollMode::Busy { "busy" } else { "adaptive" }
    ));
    // systemd (Type=notify): the datapath is up. Outside systemd this does nothing.
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);
    let capacity = u64::from(ecfg.max_connections) * cores.len() as u64;
    let rates = SharedRates::new();
    let metrics = start_metrics(metrics_listener, &steering, &loops, capacity, &rates)?;
    let kernel = Kernel { steering, vips };
    let all_cores = core_affinity::get_core_ids().map_or(1, |c| c.len());
    if !vrrp_specs.is_empty() && poll_mode == PollMode::Busy && cores.len() >= all_cores {
        log("warning: VRRP with poll = \"busy\" on every core: busy poll loops can starve VRRP's timers; \
             use poll = \"adaptive\" or leave a core free of poll loops (cores)");
    }
    let mut plane = Plane::new(loops, kernel, checked, ecfg, configured, ifaces).with_gate(gated).with_quorum(quorum);
    if let Some(m) = &metrics {
        m.set_sync(plane.sync.counters.clone(), plane.loops.sync.clone());
    }
    let (tx, vrrp_events) = std::sync::mpsc::channel();
    let vrrp = if vrrp_specs.is_empty() {
        None
    } else {
        let n = vrrp_specs.len();
        let rt = VrrpRuntime::start_with(vrrp_specs, vrrp_scripts, vrrp_groups, tx, Some(ledger.hook()))?;
        // The listings and the metrics read its status.
        plane.vrrp = rt.reader();
        if let Some(m) = &metrics {
            m.set_vrrp(rt.reader());
        }
        log(format!("VRRP: {n} instance(s) started as BACKUP"));
        Some(rt)
    };
    super::sync_roles::follow(&mut plane, &[]);
    Ok(Running { vrrp, vrrp_events, plane, metrics, rates, ctl, watchdog })
}

fn xdp_mode(m: xvs_config::XdpMode) -> XdpMode {
    match m {
        xvs_config::XdpMode::Auto => XdpMode::Auto,
        xvs_config::XdpMode::Native => XdpMode::Native,
        xvs_config::XdpMode::Generic => XdpMode::Generic,
    }
}

fn poll_mode(m: xvs_config::PollMode) -> PollMode {
    match m {
        xvs_config::PollMode::Busy => PollMode::Busy,
        xvs_config::PollMode::Adaptive => PollMode::Adaptive,
    }
}

/// With `manage_vips`: a guard holding the VIPs of `ecfg` added to `vip_device`, each
/// recorded through `hook` in the state file.
fn add_vips(
    d: &xvs_config::Director,
    ecfg: &EngineConfig,
    vrrp: Vec<IpAddr>,
    hook: AddressHook,
) -> Result<Option<VipGuard>, String> {
    if !d.manage_vips {
        return Ok(None);
    }
    let mut g = VipGuard::new(&d.vip_device, vrrp, Some(hook))?;
    let (added, _) = g.sync(ecfg, &[])?;
    if !added.is_empty() {
        log(format!("added VIPs to {}: {added:?}", d.vip_device));
    }
    Ok(Some(g))
}

/// Poll cores: the configured ones (default: all), at most as many as the smallest
/// interface has queues, since each core needs a socket on every interface.
fn poll_cores(configured: Option<Vec<usize>>, ifaces: &[String]) -> Vec<usize> {
    let all: Vec<usize> = core_affinity::get_core_ids().unwrap_or_default().into_iter().map(|c| c.id).collect();
    let mut cores = configured.unwrap_or(all);
    if cores.is_empty() {
        cores.push(0);
    }
    let min_queues = ifaces.iter().map(|i| rx_queues(i)).min().unwrap_or(1) as usize;
    if cores.len() > min_queues {
        log(format!(
            "{} poll cores asked for but the interfaces have {min_queues} queue(s): using {min_queues}",
            cores.len()
        ));
        cores.truncate(min_queues);
    }
    cores
}

/// Attach XDP to every interface and bind a socket to each of its queues, in the
/// XSKMAP; the sockets of each poll core (queue `q` goes to core `q % cores`).
fn open_sockets(
    steering: &mut Steering,
    ifaces: &[String],
    cores: &[usize],
    mode: XdpMode,
) -> Result<Vec<Vec<XskPort>>, String> {
    let mut ports: Vec<Vec<XskPort>> = cores.iter().map(|_| Vec::new()).collect();
    for (slot, ifname) in ifaces.iter().enumerate() {
        let got = steering.attach(ifname, slot as u32, mode)?;
        for q in 0..rx_queues(ifname) {
            let mut xc = XskConfig::new(ifname, q, slot as u16);
            xc.bind = BindMode::Auto;
            let port = XskPort::open(&xc).map_err(|e| e.to_string())?;
            steering.set_socket(slot as u32, q, &port)?;
            let k = q as usize % cores.len();
            log(format!(
                "{ifname} queue {q}: XDP {got} mode, AF_XDP {} mode, poll core {}",
                if port.zero_copy { "zero-copy" } else { "copy" },
                cores[k]
            ));
            ports[k].push(port);
        }
    }
    Ok(ports)
}

/// One poll loop per core, each with an engine running `ecfg` over its sockets.
fn start_loops(
    ecfg: &EngineConfig,
    cores: &[usize],
    ports: Vec<Vec<XskPort>>,
    mode: PollMode,
) -> Result<Loops, String> {
    let origin = Instant::now();
    let shared = SharedCounters::default();
    // A secret per process (README "Defences"): colliding flows cannot be computed offline.
    let mut ecfg = ecfg.clone();
    ecfg.hash_seed = getrandom::u64().map_err(|e| format!("drawing the hash seed from the OS: {e}"))?;
    let mesh = Mesh::new(cores.len());
    let mut loops = Loops::new(cores.len());
    for (k, (&core, ports)) in cores.iter().zip(ports).enumerate() {
        let engine = Engine::with_shared_counters(ecfg.clone(), 0, shared.clone()).map_err(|e| e.to_string())?;
        advise_tables(k, &engine);
        loops.spawn_poll(core, engine, ports, mode, origin, mesh.endpoint(k))?;
    }
    Ok(loops)
}

/// Huge pages for poll core `k`'s engine tables (before they are touched), and a line
/// saying what was asked and what the kernel does with it.
fn advise_tables(k: usize, engine: &Engine) {
    let mode = xvs::sys::huge_pages_mode().unwrap_or_else(|| "absent".into());
    match xvs::sys::advise_huge_pages(&engine.table_spans()) {
        Ok(n) if k == 0 => log(format!(
            "tables: {} MiB per poll core advised for huge pages (transparent huge pages: {mode})",
            n >> 20
        )),
        Ok(_) => {}
        Err(e) => log(format!("tables: on small pages: huge pages refused ({e}; transparent huge pages: {mode})")),
    }
}

fn start_metrics(
    listener: Option<TcpListener>,
    steering: &Steering,
    loops: &Loops,
    capacity: u64,
    rates: &SharedRates,
) -> Result<Option<RunMetrics>, String> {
    let Some(l) = listener else { return Ok(None) };
    log(format!("metrics: http://{}/metrics", l.local_addr().map_err(|e| e.to_string())?));
    let modes = steering.attached.iter().map(|(i, m)| (i.clone(), m.to_string())).collect();
    Ok(Some(RunMetrics::start(l, loops.snapshots.clone(), modes, capacity, rates.clone())?))
}
