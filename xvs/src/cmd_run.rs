//! `xvs run -c FILE`: the director daemon.
//!
//! Start-up: validate the config, mount bpffs if needed, add the VIPs to `vip_device`
//! (when `manage_vips`), load and attach the steering program to every interface, bind an
//! AF_XDP socket to every queue of every interface, learn the reals' next hops from the
//! kernel, and start the poll loop. SIGHUP re-reads FILE: an invalid file is reported and
//! changes nothing; a valid one replaces services, reals and timeouts atomically while
//! established connections keep their reals. SIGINT/SIGTERM stop the loop, detach the
//! program, and remove the VIPs this process added.
//!
//! Invariant: whatever start-up did is undone on every exit path after it (a `Guard`
//! owns each piece), so a failed start leaves no program, map or address behind.

use std::net::IpAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use xvs::engine_config::engine_config;
use xvs::host;
use xvs_engine::afxdp::{BindMode, XskConfig, XskPort};
use xvs_engine::poll::{self, Control, PollMode, Snapshot};
use xvs_engine::{Engine, EngineConfig};

use crate::nexthop;
use crate::steering::{Steering, XdpMode, MAX_QUEUES};

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

fn rx_queues(ifname: &str) -> u32 {
    std::fs::read_dir(format!("/sys/class/net/{ifname}/queues"))
        .map(|d| d.flatten().filter(|e| e.file_name().to_string_lossy().starts_with("rx-")).count() as u32)
        .unwrap_or(1)
        .clamp(1, MAX_QUEUES)
}

fn local_addresses() -> Vec<IpAddr> {
    host::addresses().map(|v| v.into_iter().map(|a| a.addr).collect()).unwrap_or_default()
}

fn load(path: &Path) -> Result<(xvs_config::Config, EngineConfig), String> {
    let cfg = xvs_config::load(path).map_err(|e| e.to_string())?;
    let ecfg = engine_config(&cfg);
    Engine::new(ecfg.clone(), 0).map_err(|e| format!("{}: error: {e}", path.display()))?;
    Ok((cfg, ecfg))
}

pub fn run(path: &Path) -> ExitCode {
    if !host::is_root() {
        eprintln!("xvs run: error: needs root (CAP_NET_ADMIN, CAP_BPF, CAP_SYS_ADMIN for bpffs)");
        return ExitCode::from(1);
    }
    let (cfg, ecfg) = match load(path) {
        Ok(c) => c,
        Err(e) => {
            eprint!("{e}");
            if !e.ends_with('\n') {
                eprintln!();
            }
            return ExitCode::from(2);
        }
    };
    match start(path, cfg, ecfg) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xvs run: error: {e}");
            ExitCode::from(1)
        }
    }
}

fn start(path: &Path, cfg: xvs_config::Config, mut ecfg: EngineConfig) -> Result<(), String> {
    let d = &cfg.director;
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

    let mut steering = Steering::load()?;
    steering.sync(&ecfg, &local_addresses())?;
    let mut ports = Vec::new();
    for (slot, ifname) in ifaces.iter().enumerate() {
        let got = steering.attach(ifname, slot as u32, mode)?;
        let queues = rx_queues(ifname);
        for q in 0..queues {
            let mut xc = XskConfig::new(ifname, q, slot as u16);
            xc.bind = BindMode::Auto;
            let port = XskPort::open(&xc).map_err(|e| e.to_string())?;
            steering.set_socket(slot as u32, q, port.fd())?;
            log(format!(
                "{ifname} queue {q}: XDP {got} mode, AF_XDP {} mode",
                if port.zero_copy { "zero-copy" } else { "copy" }
            ));
            ports.push(port);
        }
    }

    ecfg.neighbors = nexthop::resolve(&ecfg);
    let engine = Engine::new(ecfg.clone(), 0).map_err(|e| e.to_string())?;
    let cores = d.cores.clone().unwrap_or_default();
    if cores.len() > 1 {
        log(format!(
            "{} cores configured: this version runs one poll loop (core {}) over every queue",
            cores.len(),
            cores[0]
        ));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let snapshot = Arc::new(Mutex::new(Snapshot::default()));
    let (ctl_tx, ctl_rx) = mpsc::channel::<Control>();
    let origin = Instant::now();
    let poll_thread = {
        let stop = stop.clone();
        let snapshot = snapshot.clone();
        let core = cores.first().copied();
        std::thread::Builder::new()
            .name("xvs-poll".into())
            .spawn(move || {
                if let Some(c) = core {
                    if !core_affinity::set_for_current(core_affinity::CoreId { id: c }) {
                        log(format!("could not pin the poll loop to core {c}"));
                    }
                }
                let mut engine = engine;
                let mut ports = ports;
                poll::run(&mut engine, &mut ports, poll_mode, &stop, &ctl_rx, &snapshot, origin);
                drop(ports);
            })
            .map_err(|e| format!("starting the poll loop: {e}"))?
    };
    log(format!(
        "running: {} service(s) on {} interface(s), poll {}",
        ecfg.services.len(),
        ifaces.len(),
        if poll_mode == PollMode::Busy { "busy" } else { "adaptive" }
    ));

    let hup = Arc::new(AtomicBool::new(false));
    let term = Arc::new(AtomicBool::new(false));
    for (sig, flag) in [(SIGHUP, &hup), (SIGINT, &term), (SIGTERM, &term)] {
        signal_hook::flag::register(sig, flag.clone()).map_err(|e| format!("signal handler: {e}"))?;
    }
    let mut last_hops = Instant::now();
    let mut last_log = Instant::now();
    while !term.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
        if poll_thread.is_finished() {
            return Err("the poll loop stopped".into());
        }
        if hup.swap(false, Ordering::Relaxed) {
            match load(path) {
                Err(e) => log(format!("reload of {} rejected; the running configuration stays:\n{e}", path.display())),
                Ok((_, mut new)) => {
                    new.address4 = new.address4.or(ecfg.address4);
                    new.address6 = new.address6.or(ecfg.address6);
                    new.neighbors = nexthop::resolve(&new);
                    if let Some(g) = vips.as_mut() {
                        if let Err(e) = g.sync(&new) {
                            log(format!("reload: {e}"));
                        }
                    }
                    // New services' traffic must find the engine ready: apply first, then
                    // steer it up.
                    let _ = ctl_tx.send(Control::Apply(Box::new(new.clone())));
                    std::thread::sleep(Duration::from_millis(20));
                    if let Err(e) = steering.sync(&new, &local_addresses()) {
                        log(format!("reload: steering maps: {e}"));
                    }
                    log(format!("reloaded {}: {} service(s)", path.display(), new.services.len()));
                    ecfg = new;
                }
            }
        }
        if last_hops.elapsed() >= Duration::from_secs(1) {
            last_hops = Instant::now();
            let hops = nexthop::resolve(&ecfg);
            if hops != ecfg.neighbors {
                ecfg.neighbors = hops.clone();
                let _ = ctl_tx.send(Control::Neighbors(hops));
            }
        }
        if last_log.elapsed() >= Duration::from_secs(30) {
            last_log = Instant::now();
            if let Ok(s) = snapshot.lock() {
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
    stop.store(true, Ordering::Relaxed);
    let _ = poll_thread.join();
    let (redirected, passed, nosock) = steering.counters();
    drop(steering);
    drop(vips);
    if let Ok(s) = snapshot.lock() {
        log(format!(
            "stopped: rx {} tx {} dropped {}; XDP redirected {redirected}, passed {passed}, no socket {nosock}",
            s.stats.rx,
            s.stats.tx,
            s.stats.dropped()
        ));
    }
    Ok(())
}
