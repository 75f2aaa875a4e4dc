//! `xvs decap --iface IF`: attach the IP-in-IP decapsulation program (either family in either)
//! (`xdp/decap.c`) to IF on a real server, stay in the foreground, detach on SIGINT/SIGTERM.
//!
//! Invariants: the program's `local_addrs` map holds exactly this host's addresses (every
//! interface of the current network namespace), re-synced once a second, so a tunnel
//! packet is decapsulated only when its outer destination is ours; the program is attached
//! through a BPF link owned by this process, so it is detached when [`Decap`] is dropped
//! and by the kernel if the process dies without running its destructors; a failure before
//! the attach leaves the interface untouched.

use std::collections::HashSet;
use std::fmt;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aya::maps::{HashMap, MapData, PerCpuArray};
use aya::programs::{Xdp, XdpFlags};
use aya::Ebpf;
use xvs::{bpf, host};
use xvs_datapath::maps::AddrKey;

/// A command failure: the message for the operator and the exit code (1 runtime, 2 bad
/// input).
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub msg: String,
}

impl Failure {
    pub fn runtime(msg: impl Into<String>) -> Failure {
        Failure { code: 1, msg: msg.into() }
    }
    pub fn input(msg: impl Into<String>) -> Failure {
        Failure { code: 2, msg: msg.into() }
    }
    pub fn exit(&self, cmd: &str) -> ExitCode {
        eprintln!("xvs {cmd}: error: {}", self.msg);
        ExitCode::from(self.code)
    }
}

/// The XDP attach mode that was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Native,
    Generic,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Native => "native (driver)",
            Mode::Generic => "generic (SKB)",
        })
    }
}

/// The decap program, loaded and attached to one interface. Dropping it detaches it.
pub struct Decap {
    ebpf: Ebpf,
    iface: String,
    pub mode: Mode,
    known: HashSet<AddrKey>,
}

impl Decap {
    /// Loads `decap.o`, fills `local_addrs` and `gue_ports` (the UDP ports GUE comes to),
    /// attaches to `iface` (native, else generic).
    pub fn attach(iface: &str, gue_ports: &[u16]) -> Result<Decap, Failure> {
        host::ifindex(iface).map_err(|e| Failure::input(e.to_string()))?;
        if !host::is_root() {
            return Err(Failure::runtime("loading an XDP program needs root (CAP_BPF and CAP_NET_ADMIN)"));
        }
        let ebpf = Ebpf::load(bpf::DECAP_OBJ).map_err(|e| Failure::runtime(format!("loading decap.o: {e}")))?;
        let mut decap = Decap { ebpf, iface: iface.to_string(), mode: Mode::Native, known: HashSet::new() };
        decap.sync_local_addrs()?;
        {
            let mut map: HashMap<&mut MapData, u16, u8> = HashMap::try_from(
                decap.ebpf.map_mut("gue_ports").ok_or_else(|| Failure::runtime("decap.o has no gue_ports map"))?,
            )
            .map_err(|e| Failure::runtime(format!("gue_ports: {e}")))?;
            for p in gue_ports {
                // The program compares the port as it is on the wire.
                map.insert(p.to_be(), 1, 0).map_err(|e| Failure::runtime(format!("gue_ports insert: {e}")))?;
            }
        }
        let prog: &mut Xdp = decap
            .ebpf
            .program_mut(bpf::DECAP_PROG)
            .ok_or_else(|| Failure::runtime("decap.o has no xvs_decap program"))?
            .try_into()
            .map_err(|e| Failure::runtime(format!("xvs_decap: {e}")))?;
        prog.load().map_err(|e| Failure::runtime(format!("the kernel refused xvs_decap: {e}")))?;
        decap.mode = match prog.attach(iface, XdpFlags::DRV_MODE) {
            Ok(_) => Mode::Native,
            Err(native) => match prog.attach(iface, XdpFlags::SKB_MODE) {
                Ok(_) => Mode::Generic,
                Err(generic) => {
                    return Err(Failure::runtime(format!(
                        "cannot attach XDP to {iface}: native: {native}; generic: {generic} \
                         (another XDP program attached?)"
                    )))
                }
            },
        };
        Ok(decap)
    }

    /// Puts this host's addresses into `local_addrs` and removes the ones that are gone.
    pub fn sync_local_addrs(&mut self) -> Result<usize, Failure> {
        let now: HashSet<AddrKey> = host::addresses()
            .map_err(|e| Failure::runtime(format!("listing addresses: {e}")))?
            .into_iter()
            .map(|a| AddrKey::new(a.addr))
            .collect();
        if now == self.known {
            return Ok(now.len());
        }
        let mut map: HashMap<&mut MapData, AddrKey, u8> = HashMap::try_from(
            self.ebpf.map_mut("local_addrs").ok_or_else(|| Failure::runtime("decap.o has no local_addrs map"))?,
        )
        .map_err(|e| Failure::runtime(format!("local_addrs: {e}")))?;
        for key in now.difference(&self.known) {
            map.insert(key, 1, 0).map_err(|e| Failure::runtime(format!("local_addrs insert: {e}")))?;
        }
        for key in self.known.difference(&now) {
            let _ = map.remove(key);
        }
        self.known = now;
        Ok(self.known.len())
    }

    /// (decapsulated, passed), summed over CPUs.
    pub fn counters(&self) -> (u64, u64) {
        let Some(map) = self.ebpf.map("counters") else { return (0, 0) };
        let Ok(arr) = PerCpuArray::<_, u64>::try_from(map) else { return (0, 0) };
        let sum = |i: u32| arr.get(&i, 0).map(|v| v.iter().sum()).unwrap_or(0);
        (sum(bpf::DECAP_COUNTER_DECAPSULATED), sum(bpf::DECAP_COUNTER_PASSED))
    }

    pub fn iface(&self) -> &str {
        &self.iface
    }

    pub fn local_addr_count(&self) -> usize {
        self.known.len()
    }

    /// Detaches (by dropping the program and its link) and returns the final counters.
    pub fn detach(self) -> (u64, u64) {
        let counters = self.counters();
        drop(self.ebpf);
        counters
    }
}

/// A flag set by SIGINT or SIGTERM. Registered before any change is made, so a signal that
/// arrives during setup still leads to an orderly undo.
pub fn termination_flag() -> Result<Arc<AtomicBool>, Failure> {
    let flag = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&flag))
            .map_err(|e| Failure::runtime(format!("installing a signal handler: {e}")))?;
    }
    Ok(flag)
}

/// Sleeps until `flag` is set; once a second re-syncs the decap's `local_addrs`.
pub fn wait(flag: &AtomicBool, mut decap: Option<&mut Decap>) {
    let mut last = Instant::now();
    while !flag.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
        if last.elapsed() >= Duration::from_secs(1) {
            last = Instant::now();
            if let Some(d) = decap.as_deref_mut() {
                if let Err(e) = d.sync_local_addrs() {
                    eprintln!("xvs: warning: {}", e.msg);
                }
            }
        }
    }
}

pub fn run(iface: &str, gue_ports: &[u16]) -> ExitCode {
    let flag = match termination_flag() {
        Ok(f) => f,
        Err(e) => return e.exit("decap"),
    };
    let mut decap = match Decap::attach(iface, gue_ports) {
        Ok(d) => d,
        Err(e) => return e.exit("decap"),
    };
    let (dec, passed) = decap.counters();
    println!(
        "xvs decap: attached to {} in {} mode; {} local addresses; decapsulated {dec}, passed {passed}",
        decap.iface(),
        decap.mode,
        decap.local_addr_count()
    );
    wait(&flag, Some(&mut decap));
    let iface = decap.iface().to_string();
    let (dec, passed) = decap.detach();
    println!("xvs decap: detached from {iface}; decapsulated {dec}, passed {passed}");
    ExitCode::SUCCESS
}
