//! The lab of `xvs-bench veth`: `xvs_lab::director` (client `cl`, one-armed director
//! `dir` on `d0`, reals `r0..` on one bridge, wired for NAT) tuned so that the director's
//! core does the director's work and the rest stays off it:
//!
//! - the sink (`crate::sink`) sits on the director's switch port `p1`, where everything
//!   the director transmits arrives: UDP from the director's MAC is counted and dropped
//!   there, one veth hop after the director, instead of after a bridge hop and another
//!   veth pair on each real (the reals stay, for their addresses and MACs); `p1`'s NAPI
//!   runs threaded, pinned to the generator's core at real-time priority, so the sink
//!   costs the director's core only the veth transmit and is never starved by the
//!   generator's spinning;
//! - the director's veth `d0` receives through threaded NAPI (GRO on, so the kernel
//!   forwarder gets NAPI too), its thread pinned to the director's core at real-time
//!   priority: the director's receive (XDP and the AF_XDP copy, or the kernel's whole
//!   forwarding path) runs on the director's core with a softirq's precedence over the
//!   poll loop, as a NIC's interrupt bound to that core would. The bridge hop before it
//!   runs on the generator's core, in the generator's `sendto`;
//! - the bridge has a static FDB entry for every host, so nothing is flooded; the director
//!   has permanent neighbour entries for the reals (no ARP during a run, no
//!   `neighbor_miss`);
//! - ICMP redirects are off in the director's namespace (the kernel forwards out of the
//!   interface it received on, and would otherwise consider one per packet).
//!
//! Invariant: everything lives in the lab's namespaces and goes with it, also on an error
//! or a panic (the lab's `Drop`); the sink is detached when [`BenchLab`] drops.

use std::path::PathBuf;

use xvs_lab::director::{real_addrs, DirectorLab, LabMode, DIRECTOR_DEV};

use crate::sink::Sinks;

/// The client's interface.
pub const CLIENT_DEV: &str = "c0";
/// Every real's interface.
pub const REAL_DEV: &str = "e0";
/// The director's port on the switch, where the sink counts what the director sends.
pub const SINK_DEV: &str = "p1";

/// The lab, its MACs and its sinks.
#[derive(Debug)]
pub struct BenchLab {
    // Declared first: dropped (detached) before the namespaces go.
    pub sinks: Sinks,
    pub lab: DirectorLab,
    pub dir_mac: [u8; 6],
    pub client_mac: [u8; 6],
    pub real_macs: Vec<[u8; 6]>,
}

/// Kernel threads `napi/DEV-N` (threaded NAPI of a device called `dev`, in any namespace).
fn napi_threads(dev: &str) -> Vec<i32> {
    let prefix = format!("napi/{dev}-");
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()))
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim_end().starts_with(&prefix))
        })
        .collect()
}

/// Make `dev`'s NAPI threaded and pin its new thread(s) to `core` at real-time priority.
fn threaded_napi(l: &xvs_lab::Lab, ns: &str, dev: &str, core: usize) -> Result<(), String> {
    let before = napi_threads(dev);
    l.run(ns, &["sh", "-c", &format!("echo 1 > /sys/class/net/{dev}/threaded")]);
    let mut new = Vec::new();
    for _ in 0..50 {
        new = napi_threads(dev).into_iter().filter(|p| !before.contains(p)).collect();
        if !new.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    if new.is_empty() {
        return Err(format!("no NAPI thread appeared for {dev} in {ns} (threaded NAPI on veth)"));
    }
    for pid in new {
        pin_realtime(pid, core)?;
    }
    Ok(())
}

/// Pin thread `pid` to `core` and give it SCHED_FIFO priority 50 (a softirq's precedence).
fn pin_realtime(pid: i32, core: usize) -> Result<(), String> {
    // SAFETY: plain syscalls on a zeroed cpu_set_t and a sched_param we own.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(core, &mut set);
        if libc::sched_setaffinity(pid, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(format!("pinning thread {pid} to core {core}: {}", std::io::Error::last_os_error()));
        }
        let param = libc::sched_param { sched_priority: 50 };
        if libc::sched_setscheduler(pid, libc::SCHED_FIFO, &param) != 0 {
            return Err(format!("SCHED_FIFO for thread {pid}: {}", std::io::Error::last_os_error()));
        }
    }
    Ok(())
}

pub fn mac_str(m: &[u8; 6]) -> String {
    m.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

fn panic_text(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default()
}

impl BenchLab {
    /// Build the lab with `reals` reals; the client's frames are handled on `dir_core`,
    /// the sink on `gen_core`.
    pub fn new(reals: usize, dir_core: usize, gen_core: usize) -> Result<BenchLab, String> {
        // The lab panics (after cleaning up) when it cannot be built: turn that into an error.
        let lab = std::panic::catch_unwind(|| DirectorLab::new("veth_bench", LabMode::Nat, reals, 1))
            .map_err(|p| format!("building the lab: {}", panic_text(p)))?;
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| Self::tune(lab, dir_core, gen_core)))
            .map_err(|p| format!("setting up the lab: {}", panic_text(p)))?
    }

    fn tune(mut lab: DirectorLab, dir_core: usize, gen_core: usize) -> Result<BenchLab, String> {
        for key in ["net.ipv4.conf.all.send_redirects", &format!("net.ipv4.conf.{DIRECTOR_DEV}.send_redirects")] {
            lab.lab.sysctl("dir", key, "0");
        }
        let l = &lab.lab;
        let dir_mac = l.mac("dir", DIRECTOR_DEV);
        let client_mac = l.mac("cl", CLIENT_DEV);
        let real_ns: Vec<String> = (0..lab.reals).map(|i| format!("r{i}")).collect();
        let real_macs: Vec<[u8; 6]> = real_ns.iter().map(|ns| l.mac(ns, REAL_DEV)).collect();
        // Switch ports: p0 the client, p1 the director, p2.. the reals (director_lab's order).
        let hosts = std::iter::once(client_mac).chain(std::iter::once(dir_mac)).chain(real_macs.iter().copied());
        for (i, mac) in hosts.enumerate() {
            let port = format!("p{i}");
            l.run("sw", &["bridge", "fdb", "replace", &mac_str(&mac), "dev", &port, "master", "static"]);
        }
        for (i, mac) in real_macs.iter().enumerate() {
            let ip = real_addrs(i).0.to_string();
            l.run(
                "dir",
                &["ip", "neigh", "replace", &ip, "lladdr", &mac_str(mac), "dev", DIRECTOR_DEV, "nud", "permanent"],
            );
        }
        let sinks = Sinks::attach(l, &["sw".to_string()], SINK_DEV, dir_mac)?;
        l.run("dir", &["ethtool", "-K", DIRECTOR_DEV, "gro", "on"]);
        threaded_napi(l, "sw", SINK_DEV, gen_core)?;
        threaded_napi(l, "dir", DIRECTOR_DEV, dir_core)?;
        Ok(BenchLab { sinks, lab, dir_mac, client_mac, real_macs })
    }

    /// `/run/netns/NAME` of the namespace `short`.
    pub fn netns_path(&self, short: &str) -> PathBuf {
        PathBuf::from("/run/netns").join(self.lab.lab.name(short))
    }
}
