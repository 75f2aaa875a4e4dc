//! `xvs run -c FILE`: the director daemon.
//!
//! Start-up: validate the config, mount bpffs if needed, add the VIPs to `vip_device`
//! (when `manage_vips`), load and attach the steering program to every interface, bind an
//! AF_XDP socket to every queue of every interface, learn the reals' next hops from the
//! kernel, and start the poll loop. SIGHUP re-reads FILE: an invalid file is reported and
//! changes nothing; a valid one replaces services, reals and timeouts atomically while
//! established connections keep their reals (a removed real stays in the steering maps and
//! the next-hop refresh until the engine shows none of its connections left: `Draining`).
//! Next hops are asked of the kernel again every second. SIGINT/SIGTERM stop the loop,
//! detach the program, and remove the VIPs this process added.
//!
//! `[director] metrics = ADDR` serves `GET /metrics` (Prometheus text) on ADDR from a
//! thread of its own, see `run_metrics`; the main loop feeds its rate estimator.
//!
//! `control_socket` serves `xvs ctl` (see `xvs::ctl`): the main loop wakes for each request
//! and handles it between its other duties; an edit goes through the same path as a
//! SIGHUP reload (`ctl_plane::Plane::apply_engine`), and a SIGHUP drops ctl edits.
//!
//! `--stats-file PATH` (hidden; for `xvs demo` until the control socket lands) writes the
//! poll loop's snapshot as JSON to PATH once a second (write to PATH.tmp, then rename, so a
//! reader never sees half a file).
//!
//! Invariant: whatever start-up did is undone on every exit path after it (a `Guard`
//! owns each piece), so a failed start leaves no program, map or address behind.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use xvs::engine_config::engine_config;
use xvs::health::HealthEvent;
use xvs::host;
use xvs_datapath::xsk::{BindMode, XskConfig, XskPort};
use xvs_datapath::handoff::Mesh;
use xvs_datapath::poll::{self, Control, PollMode, Snapshot};
use xvs_engine::services::SharedCounters;
use xvs_engine::{Engine, EngineConfig, Forward, NeighborSpec};

use crate::nexthop;
use crate::steering::{Steering, XdpMode};
use xvs_datapath::maps::MAX_QUEUES;

mod ctl_plane;

fn log(msg: impl AsRef<str>) {
    eprintln!("xvs: {}", msg.as_ref());
}

/// VIPs this process added, removed again on drop.
struct VipGuard {
    dev_index: u32,
    added: Vec<IpAddr>,
}

impl Drop for VipGuard {
    fn drop(&mut self) {
        for vip in &self.added {
            let len = if vip.is_ipv4() { 32 } else { 128 };
            if let Err(e) = host::del_address(self.dev_index, *vip, len) {
                log(format!("removing VIP {vip}: {e}"));
            }
        }
    }
}

impl VipGuard {
    /// Add the single-address VIPs of `cfg` that the device does not have yet.
    fn sync(&mut self, cfg: &EngineConfig) -> Result<(), String> {
        let have: Vec<IpAddr> = host::addresses_of(self.dev_index)
            .map_err(|e| format!("reading addresses: {e}"))?
            .iter()
            .map(|a| a.addr)
            .collect();
        for s in &cfg.services {
            let full = if s.vip.is_ipv4() { 32 } else { 128 };
            if s.prefix_len != full || have.contains(&s.vip) || self.added.contains(&s.vip) {
                continue;
            }
            host::add_address(self.dev_index, s.vip, full).map_err(|e| format!("adding VIP {}: {e}", s.vip))?;
            self.added.push(s.vip);
        }
        Ok(())
    }
}

/// The running poll loops: their threads, control channels and snapshots.
#[derive(Default)]
struct Loops {
    threads: Vec<std::thread::JoinHandle<()>>,
    controls: Vec<mpsc::Sender<Control>>,
    snapshots: Vec<Arc<Mutex<Snapshot>>>,
}

impl Loops {
    fn send(&self, msg: Control) {
        for c in &self.controls {
            let _ = c.send(msg.clone());
        }
    }

    fn merged(&self) -> Snapshot {
        let parts: Vec<Snapshot> =
            self.snapshots.iter().map(|s| s.lock().map(|g| g.clone()).unwrap_or_default()).collect();
        Snapshot::merge(&parts)
    }

    /// Wait for every loop to stop (the caller set the stop flag); the final snapshot.
    fn join(&mut self) -> Snapshot {
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        self.merged()
    }
}

/// A real as the steering maps and next hops know it: address, port, protocol, forward.
type RealKey = (IpAddr, u16, u8, Forward);

fn config_reals(cfg: &EngineConfig) -> Vec<RealKey> {
    cfg.services
        .iter()
        .flat_map(|s| s.reals.iter().chain(s.sorry_server.iter()).map(move |r| (r.addr, r.port, s.proto, r.forward)))
        .collect()
}

/// Reals that a reload removed while they still carry connections (IPVS keeps such dests
/// in its trash). The engine forwards their connections until they end; the control plane
/// must keep their NAT replies steered up and their next hops resolved until the engine
/// shows none of their connections left.
#[derive(Default)]
struct Draining {
    reals: Vec<RealKey>,
}

impl Draining {
    /// A reload from `old` to `new`: the reals `old` had and `new` has not start
    /// draining; reals `new` has again stop.
    fn reload(&mut self, old: &EngineConfig, new: &EngineConfig) {
        let now = config_reals(new);
        for r in config_reals(old) {
            if !self.reals.contains(&r) {
                self.reals.push(r);
            }
        }
        self.reals.retain(|r| !now.contains(r));
    }

    /// Forget the reals without connections left, going by `snap`; only entries the
    /// snapshot shows removed count (so a snapshot from before the reload forgets nothing).
    /// True when something was forgotten.
    fn prune(&mut self, snap: &Snapshot) -> bool {
        let before = self.reals.len();
        self.reals.retain(|&(addr, port, proto, _)| {
            let slots: Vec<_> =
                snap.reals.iter().filter(|r| r.addr == addr && r.port == port && r.proto == proto).collect();
            slots.is_empty() || slots.iter().any(|r| r.available || r.active + r.inactive > 0)
        });
        self.reals.len() != before
    }

    fn nat(&self) -> Vec<(IpAddr, u16, u8)> {
        self.reals.iter().filter(|r| r.3 == Forward::Nat).map(|r| (r.0, r.1, r.2)).collect()
    }

    /// The addresses to resolve next hops for: `cfg`'s reals and the draining ones.
    fn with_addresses(&self, cfg: &EngineConfig) -> Vec<IpAddr> {
        let mut v = nexthop::real_addresses(cfg);
        v.extend(self.reals.iter().map(|r| r.0));
        v
    }
}

/// Health states labelled as the snapshot labels services and reals (for metrics).
fn health_labels(h: &ctl_plane::HealthStates) -> Vec<(String, String, bool)> {
    let ep = |a: IpAddr, p: u16| if a.is_ipv6() { format!("[{a}]:{p}") } else { format!("{a}:{p}") };
    h.iter()
        .map(|(k, (up, _))| {
            let proto = if k.proto == 6 { "TCP" } else { "UDP" };
            (format!("{proto} {}", ep(k.vip, k.vport)), ep(k.addr, k.port), *up)
        })
        .collect()
}

fn interfaces(cfg: &xvs_config::Config) -> Result<Vec<String>, String> {
    if let Some(list) = &cfg.director.interfaces {
        return Ok(list.clone());
    }
    let mut out = Vec::new();
    let dir = std::fs::read_dir("/sys/class/net").map_err(|e| format!("/sys/class/net: {e}"))?;
    for e in dir.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if name == "lo" {
            continue;
        }
        let up = std::fs::read_to_string(e.path().join("operstate")).map(|s| s.trim() == "up").unwrap_or(false);
        if up {
            out.push(name);
        }
    }
    out.sort();
    if out.is_empty() {
        return Err("no interface is up (set [director] interfaces)".into());
    }
    Ok(out)
}

fn interface_mac(ifname: &str) -> Result<[u8; 6], String> {
    let text = std::fs::read_to_string(format!("/sys/class/net/{ifname}/address"))
        .map_err(|e| format!("interface {ifname}: {e}"))?;
    let mut mac = [0u8; 6];
    let mut parts = text.trim().split(':');
    for b in &mut mac {
        *b = parts
            .next()
            .and_then(|p| u8::from_str_radix(p, 16).ok())
            .ok_or_else(|| format!("interface {ifname}: bad MAC {text:?}"))?;
    }
    Ok(mac)
}

fn rx_queues(ifname: &str) -> u32 {
    std::fs::read_dir(format!("/sys/class/net/{ifname}/queues"))
        .map(|d| d.flatten().filter(|e| e.file_name().to_string_lossy().starts_with("rx-")).count() as u32)
        .unwrap_or(1)
        .clamp(1, MAX_QUEUES)
}

fn local_addresses() -> Vec<IpAddr> {
    host::addresses().map(|v| v.into_iter().map(|a| a.addr).collect()).unwrap_or_default()
}

/// Settings given on the command line, which win over the file's `[director]` (a
/// keepalived.conf or ipvsadm-save file has no place for them).
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub control_socket: Option<std::path::PathBuf>,
    pub poll: Option<xvs_config::PollMode>,
}

/// Read and check FILE (any of the three formats), print its warnings, apply `ov`.
fn load(path: &Path, ov: &Overrides) -> Result<(xvs_config::Config, EngineConfig), String> {
    let (mut cfg, warnings) = xvs_config::load_with_warnings(path).map_err(|e| e.to_string())?;
    for w in &warnings {
        log(w.to_string());
    }
    if let Some(p) = &ov.control_socket {
        cfg.director.control_socket = p.clone();
    }
    if let Some(m) = ov.poll {
        cfg.director.poll = m;
    }
    let ecfg = engine_config(&cfg);
    // The engine's own rules, on a small table; the tunnel source is defaulted from an
    // interface later, so its absence is not an error here.
    let mut probe = ecfg.clone();
    probe.address4 = probe.address4.or(Some(std::net::Ipv4Addr::UNSPECIFIED));
    probe.address6 = probe.address6.or(Some(std::net::Ipv6Addr::UNSPECIFIED));
    probe.max_connections = probe.max_connections.min(1024);
    Engine::new(probe, 0).map_err(|e| format!("{}: error: {e}", path.display()))?;
    Ok((cfg, ecfg))
}

pub fn run(path: &Path, stats_file: Option<&Path>, ov: Overrides) -> ExitCode {
    if !host::is_root() {
        eprintln!("xvs run: error: needs root (CAP_NET_ADMIN, CAP_BPF, CAP_SYS_ADMIN for bpffs)");
        return ExitCode::from(1);
    }
    let (cfg, ecfg) = match load(path, &ov) {
        Ok(c) => c,
        Err(e) => {
            eprint!("{e}");
            if !e.ends_with('\n') {
                eprintln!();
            }
            return ExitCode::from(2);
        }
    };
    match start(path, cfg, ecfg, stats_file, &ov) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xvs run: error: {e}");
            ExitCode::from(1)
        }
    }
}

fn start(
    path: &Path,
    cfg: xvs_config::Config,
    mut ecfg: EngineConfig,
    stats_file: Option<&Path>,
    ov: &Overrides,
) -> Result<(), String> {
    let d = &cfg.director;
    let ctl = xvs::ctl::server::listen(&d.control_socket)?;
    let metrics_listener = d.metrics.map(crate::run_metrics::bind).transpose()?;
    match xvs::bpf::ensure_bpffs() {
        Ok(true) => log(format!("mounted bpffs at {}", xvs::bpf::BPFFS)),
        Ok(false) => {}
        Err(e) => return Err(format!("bpffs: {e}")),
    }
    let ifaces = interfaces(&cfg)?;
    let mode = match d.xdp_mode {
        xvs_config::XdpMode::Auto => XdpMode::Auto,
        xvs_config::XdpMode::Native => XdpMode::Native,
        xvs_config::XdpMode::Generic => XdpMode::Generic,
    };
    let poll_mode = match d.poll {
        xvs_config::PollMode::Busy => PollMode::Busy,
        xvs_config::PollMode::Adaptive => PollMode::Adaptive,
    };

    let mut vips = None;
    if d.manage_vips {
        let index = host::ifindex(&d.vip_device).map_err(|e| format!("vip_device {}: {e}", d.vip_device))?;
        let mut g = VipGuard { dev_index: index, added: Vec::new() };
        g.sync(&ecfg)?;
        if !g.added.is_empty() {
            log(format!("added VIPs to {}: {:?}", d.vip_device, g.added));
        }
        vips = Some(g);
    }

    // The tunnel source defaults to the first interface's primary address.
    if ecfg.address4.is_none() || ecfg.address6.is_none() {
        if let Ok(index) = host::ifindex(&ifaces[0]) {
            for a in host::addresses_of(index).unwrap_or_default() {
                match a.addr {
                    IpAddr::V4(v4) if ecfg.address4.is_none() => ecfg.address4 = Some(v4),
                    IpAddr::V6(v6) if ecfg.address6.is_none() && !v6.is_unicast_link_local() => {
                        ecfg.address6 = Some(v6)
                    }
                    _ => {}
                }
            }
        }
    }

    // Our own MAC on each port: the source of frames leaving there.
    ecfg.port_macs = ifaces.iter().map(|i| interface_mac(i)).collect::<Result<_, _>>()?;

    let mut steering = Steering::load()?;
    steering.sync(&ecfg, &local_addresses(), &[])?;
    let mut draining = Draining::default();

    // Poll cores: the configured ones (default: all), at most as many as the smallest
    // interface has queues, since each core needs a socket on every interface.
    let all_cores: Vec<usize> = core_affinity::get_core_ids().unwrap_or_default().into_iter().map(|c| c.id).collect();
    let mut cores = d.cores.clone().unwrap_or(all_cores);
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
    let mut ports: Vec<Vec<XskPort>> = (0..cores.len()).map(|_| Vec::new()).collect();
    for (slot, ifname) in ifaces.iter().enumerate() {
        let got = steering.attach(ifname, slot as u32, mode)?;
        let queues = rx_queues(ifname);
        for q in 0..queues {
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

    // The config file's [[neighbor]] entries; `ecfg.neighbors` holds them plus the kernel's.
    let mut configured: Vec<NeighborSpec> = ecfg.neighbors.clone();
    ecfg.neighbors = nexthop::resolve(&configured, &nexthop::real_addresses(&ecfg), &ifaces);
    let stop = Arc::new(AtomicBool::new(false));
    let origin = Instant::now();
    let shared = SharedCounters::default();
    let mesh = Mesh::new(cores.len());
    let mut loops = Loops::default();
    for (k, (core, ports)) in cores.iter().copied().zip(ports).enumerate() {
        let engine = Engine::with_shared_counters(ecfg.clone(), 0, shared.clone()).map_err(|e| e.to_string())?;
        let stop = stop.clone();
        let snapshot = Arc::new(Mutex::new(Snapshot::default()));
        let (ctl_tx, ctl_rx) = mpsc::channel::<Control>();
        let mut handoff = mesh.endpoint(k);
        let snap = snapshot.clone();
        let thread = std::thread::Builder::new()
            .name(format!("xvs-poll-{core}"))
            .spawn(move || {
                if !core_affinity::set_for_current(core_affinity::CoreId { id: core }) {
                    log(format!("could not pin a poll loop to core {core}"));
                }
                let mut engine = engine;
                let mut ports = ports;
                poll::run(&mut engine, &mut ports, poll_mode, &stop, &ctl_rx, &snap, origin, &mut handoff);
                drop(ports);
            })
            .map_err(|e| format!("starting a poll loop: {e}"))?;
        loops.threads.push(thread);
        loops.controls.push(ctl_tx);
        loops.snapshots.push(snapshot);
    }
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

    let metrics = match metrics_listener {
        Some(l) => {
            log(format!("metrics: http://{}/metrics", l.local_addr().map_err(|e| e.to_string())?));
            let modes = steering.attached.iter().map(|(i, m)| (i.clone(), m.to_string())).collect();
            let capacity = u64::from(ecfg.max_connections) * cores.len() as u64;
            Some(crate::run_metrics::RunMetrics::start(l, loops.snapshots.clone(), modes, capacity)?)
        }
        None => None,
    };

    let hup = Arc::new(AtomicBool::new(false));
    let term = Arc::new(AtomicBool::new(false));
    for (sig, flag) in [(SIGHUP, &hup), (SIGINT, &term), (SIGTERM, &term)] {
        signal_hook::flag::register(sig, flag.clone()).map_err(|e| format!("signal handler: {e}"))?;
    }
    let mut last_hops = Instant::now();
    let mut last_log = Instant::now();
    let mut last_stats = Instant::now();
    let mut ctl_state = xvs::ctl::daemon::CtlState::new(cfg.clone());
    // Health checks: a monitor for the current model's checks, its events, each checked
    // real's state.
    let (health_tx, health_rx) = mpsc::channel::<HealthEvent>();
    let mut health: ctl_plane::HealthStates = HashMap::new();
    let mut checks = xvs::health::checks_of(&ctl_state.model);
    let mut monitor = xvs::health::Monitor::start(checks.clone(), |_| true, health_tx.clone());
    if !checks.is_empty() {
        log(format!("health checks: {} real(s) checked", checks.len()));
    }
    // The running pieces a configuration change needs (SIGHUP and `xvs ctl` alike).
    macro_rules! plane {
        () => {
            ctl_plane::Plane {
                ecfg: &mut ecfg,
                configured: &mut configured,
                draining: &mut draining,
                ifaces: &ifaces,
                vips: &mut vips,
                loops: &loops,
                steering: &mut steering,
                health: &health,
            }
        };
    }
    while !term.load(Ordering::Relaxed) {
        // Wakes early for a control request; the duties below are time-gated.
        let requests = ctl.wait(Duration::from_millis(100));
        if loops.threads.iter().any(|t| t.is_finished()) {
            return Err("the poll loop stopped".into());
        }
        if let Some(m) = &metrics {
            m.tick(|| loops.merged());
        }
        if hup.swap(false, Ordering::Relaxed) {
            match load(path, ov) {
                Err(e) => log(format!("reload of {} rejected; the running configuration stays:\n{e}", path.display())),
                Ok((model, _)) => {
                    let new = ctl_plane::effective_engine(&model, &health);
                    let n = new.services.len();
                    plane!().apply_engine(new);
                    ctl_state.set_model(model);
                    log(format!("reloaded {}: {n} service(s)", path.display()));
                }
            }
        }
        ctl_state.tick(|| loops.merged());
        for p in requests {
            let r = ctl_state.handle(&p.request, &mut plane!());
            p.answer(r);
        }
        // The model changed (SIGHUP, ctl): check what it now says to check, keeping the
        // states of reals that stay.
        let wanted = xvs::health::checks_of(&ctl_state.model);
        if wanted != checks {
            monitor.stop();
            let keys: Vec<_> = wanted.iter().map(|c| c.key.clone()).collect();
            health.retain(|k, _| keys.contains(k));
            let known = health.clone();
            monitor =
                xvs::health::Monitor::start(wanted.clone(), |k| known.get(k).is_none_or(|s| s.0), health_tx.clone());
            checks = wanted;
        }
        let mut changed = false;
        while let Ok(ev) = health_rx.try_recv() {
            let k = &ev.key;
            log(format!(
                "health: real {} of {} {}:{} is {}{} ({})",
                SocketAddr::new(k.addr, k.port),
                if k.proto == 6 { "TCP" } else { "UDP" },
                k.vip,
                k.vport,
                if ev.up { "UP" } else { "DOWN" },
                ev.weight.map(|w| format!(", weight {w}")).unwrap_or_default(),
                ev.detail
            ));
            health.insert(ev.key, (ev.up, ev.weight));
            changed = true;
        }
        if changed {
            let model = ctl_state.model.clone();
            plane!().apply_engine(ctl_plane::effective_engine(&model, &health));
            if let Some(m) = &metrics {
                m.set_health(health_labels(&health));
            }
        }
        if last_hops.elapsed() >= Duration::from_secs(1) {
            last_hops = Instant::now();
            if !draining.reals.is_empty() && draining.prune(&loops.merged()) {
                if let Err(e) = steering.sync(&ecfg, &local_addresses(), &draining.nat()) {
                    log(format!("steering maps: {e}"));
                }
            }
            let hops = nexthop::resolve(&configured, &draining.with_addresses(&ecfg), &ifaces);
            if hops != ecfg.neighbors {
                ecfg.neighbors = hops.clone();
                loops.send(Control::Neighbors(hops));
            }
        }
        if let Some(p) = stats_file.filter(|_| last_stats.elapsed() >= Duration::from_secs(1)) {
            last_stats = Instant::now();
            let json = snapshot_json(&loops.merged());
            let tmp = p.with_extension("tmp");
            if let Err(e) = std::fs::write(&tmp, json.to_string()).and_then(|()| std::fs::rename(&tmp, p)) {
                log(format!("--stats-file {}: {e}", p.display()));
            }
        }
        if last_log.elapsed() >= Duration::from_secs(30) {
            last_log = Instant::now();
            {
                let s = loops.merged();
                for e in &s.apply_errors {
                    log(format!("reload failed in the engine: {e}"));
                }
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
    log("stopping");
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
    stop.store(true, Ordering::Relaxed);
    let merged_final = loops.join();
    let (redirected, passed, nosock) = steering.counters();
    drop(steering);
    drop(vips);
    {
        let s = merged_final;
        log(format!(
            "stopped: rx {} tx {} dropped {}; XDP redirected {redirected}, passed {passed}, no socket {nosock}",
            s.stats.rx,
            s.stats.tx,
            s.stats.dropped()
        ));
    }
    Ok(())
}

/// The snapshot as JSON for `--stats-file`.
fn snapshot_json(s: &Snapshot) -> serde_json::Value {
    let drops: serde_json::Map<String, serde_json::Value> =
        s.stats.drops_by_reason().map(|(k, v)| (k.to_string(), v.into())).collect();
    let reals: Vec<serde_json::Value> = s
        .reals
        .iter()
        .map(|r| {
            serde_json::json!({
                "service": r.service, "real": r.real, "forward": r.forward, "weight": r.weight,
                "conns": r.counters.conns, "pkts_in": r.counters.pkts_in, "pkts_out": r.counters.pkts_out,
                "bytes_in": r.counters.bytes_in, "bytes_out": r.counters.bytes_out,
                "active": r.active, "inactive": r.inactive,
            })
        })
        .collect();
    serde_json::json!({
        "rx": s.stats.rx, "tx": s.stats.tx, "passed": s.stats.passed, "dropped": s.stats.dropped(),
        "drops": drops, "conns_created": s.stats.conns_created, "conns_expired": s.stats.conns_expired,
        "live_connections": s.live_connections, "reals": reals,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(reals: &[&str]) -> EngineConfig {
        let mut text = String::from("[[service]]\nvip = \"10.0.1.100:80\"\nforward = \"nat\"\n");
        for r in reals {
            text.push_str(&format!("[[service.real]]\naddr = \"{r}\"\n"));
        }
        engine_config(&xvs_config::parse_str(&text, "test.toml").expect("config"))
    }

    /// The reals of an engine started with `first` and reloaded with `now`, with one
    /// connection on each real in `busy`.
    fn snapshot(first: &EngineConfig, now: &EngineConfig, busy: &[&str]) -> Snapshot {
        let mut engine = Engine::new(first.clone(), 0).unwrap();
        engine.apply(now.clone()).unwrap();
        let mut snap = Snapshot { reals: poll::snapshot_reals(engine.services()), ..Snapshot::default() };
        for r in &mut snap.reals {
            if busy.contains(&r.real.as_str()) {
                r.inactive = 1;
            }
        }
        snap
    }

    #[test]
    fn removed_reals_drain_until_their_connections_end() {
        let a = cfg(&["10.0.2.11:8080", "10.0.2.12:8080", "10.0.2.13:8080"]);
        let b = cfg(&["10.0.2.11:8080", "10.0.2.12:8080"]);
        let mut d = Draining::default();
        d.reload(&a, &b);
        let gone: IpAddr = "10.0.2.13".parse().unwrap();
        assert_eq!(d.nat(), vec![(gone, 8080, 6)]);
        assert_eq!(d.with_addresses(&b).len(), 3, "its next hop stays resolved");
        // A snapshot from before the reload shows it available: kept.
        assert!(!d.prune(&snapshot(&a, &a, &[])));
        // Removed, with a connection: kept; without: forgotten.
        assert!(!d.prune(&snapshot(&a, &b, &["10.0.2.13:8080"])));
        assert!(d.prune(&snapshot(&a, &b, &[])));
        assert!(d.nat().is_empty());
        // Re-added by a later reload: no longer draining.
        d.reload(&a, &b);
        d.reload(&b, &a);
        assert!(d.reals.is_empty());
    }
}
