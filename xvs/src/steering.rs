//! The director's XDP steering program (`xdp/steer.c`): loading, attaching, and keeping
//! its maps equal to the configuration.
//!
//! Invariants:
//! - After `sync(cfg, local, draining)`, the maps hold exactly: every service endpoint
//!   (`vips`, or `vip_prefixes` for prefix VIPs; a fwmark service's destinations and
//!   ports, every port of them for a range wider than 256), every VIP address
//!   (`vip_addrs`), every
//!   NAT real's endpoint and address (`reals`, `real_addrs`), also of the removed services
//!   and NAT reals still draining connections, and the host's own addresses
//!   (`local_addrs`); a removed service's entries go once it has drained, and only then
//!   does the kernel get its traffic back (before, it would reset the connections).
//! - Keys use the C layout: 16-byte addresses (IPv4 as `::ffff:a.b.c.d`), ports in network
//!   byte order.
//! - Steered frames with no AF_XDP socket for their queue are dropped by the program,
//!   never passed (see `xdp/steer.c`), and its XDP links are pinned in bpffs under the
//!   pin directory of the control socket (`watchdog::pin_dir`), one file per interface:
//!   after a crash the program stays attached, dropping, until the next `xvs run`
//!   removes the pins. Dropping [`Steering`] (a clean stop) removes the pins and closes
//!   the links, which detaches the program from every interface.

use std::collections::HashSet;
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use aya::maps::lpm_trie::{Key as LpmKey, LpmTrie};
use aya::maps::{HashMap, MapData, XskMap};
use aya::programs::links::{FdLink, PinnedLink};
use aya::programs::{Xdp, XdpFlags};
use aya::{Ebpf, Pod};
use xvs_datapath::maps::{prefix_key, xsk_index, AddrKey, Endpoint, PrefixData};
use xvs_datapath::xsk::XskPort;
use xvs_engine::{EngineConfig, Forward};

use xvs::bpf;

/// What drains (see `cmd_run::draining`): NAT reals (address, port, protocol) and
/// services (VIP, prefix length, port, protocol).
#[derive(Clone, Copy, Debug, Default)]
pub struct Drained<'a> {
    pub nat: &'a [(IpAddr, u16, u8)],
    pub services: &'a [(IpAddr, u8, u16, u8)],
}

/// The XDP attach mode asked for and obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XdpMode {
    Auto,
    Native,
    Generic,
}

pub struct Steering {
    /// The links, pinned (closed and unpinned before the object is dropped).
    pins: Vec<PinnedLink>,
    /// The directory the links are pinned in (exists).
    pin_dir: PathBuf,
    /// Until when a failed attach is tried again: an earlier run's link that was just
    /// unpinned is released by the kernel a moment later.
    pub settle_until: Option<Instant>,
    ebpf: Ebpf,
    /// (interface, obtained mode)
    pub attached: Vec<(String, &'static str)>,
}

impl Drop for Steering {
    /// A clean stop: unpin and close every link, which detaches the program.
    fn drop(&mut self) {
        for p in self.pins.drain(..) {
            if let Err(e) = p.unpin() {
                eprintln!("xvs: unpinning the steering program: {e}");
            }
        }
        let _ = std::fs::remove_dir(&self.pin_dir);
    }
}

fn map_err(what: &str, e: impl std::fmt::Display) -> String {
    format!("{what}: {e}")
}

impl Steering {
    /// Load the program; its links will be pinned in `pin_dir` (made if missing; it
    /// must be on bpffs).
    pub fn load(pin_dir: PathBuf) -> Result<Steering, String> {
        std::fs::create_dir_all(&pin_dir).map_err(|e| map_err(&format!("pin directory {}", pin_dir.display()), e))?;
        let ebpf = Ebpf::load(bpf::STEER_OBJ).map_err(|e| map_err("loading the steering program", e))?;
        Ok(Steering { pins: Vec::new(), pin_dir, settle_until: None, ebpf, attached: Vec::new() })
    }

    /// Attach to `ifname` (slot `slot` in the XSKMAP layout) in the asked mode.
    pub fn attach(&mut self, ifname: &str, slot: u32, mode: XdpMode) -> Result<&'static str, String> {
        let index = xvs::host::ifindex(ifname).map_err(|e| map_err(&format!("interface {ifname}"), e))?;
        {
            let mut slots: HashMap<&mut MapData, u32, u32> =
                HashMap::try_from(self.ebpf.map_mut("ifslots").ok_or("map ifslots missing")?)
                    .map_err(|e| map_err("ifslots", e))?;
            slots.insert(index, slot, 0).map_err(|e| map_err("ifslots", e))?;
        }
        let prog: &mut Xdp = self
            .ebpf
            .program_mut("xvs_steer")
            .ok_or("program xvs_steer missing")?
            .try_into()
            .map_err(|e| map_err("xvs_steer", e))?;
        if prog.fd().is_err() {
            prog.load().map_err(|e| map_err("loading xvs_steer into the kernel", e))?;
        }
        let tries: &[(XdpFlags, &'static str)] = match mode {
            XdpMode::Native => &[(XdpFlags::DRV_MODE, "native")],
            XdpMode::Generic => &[(XdpFlags::SKB_MODE, "generic")],
            XdpMode::Auto => &[(XdpFlags::DRV_MODE, "native"), (XdpFlags::SKB_MODE, "generic")],
        };
        let mut last = String::new();
        loop {
            for (flags, name) in tries {
                match prog.attach(ifname, *flags) {
                    Ok(id) => {
                        let link = prog.take_link(id).map_err(|e| map_err("xvs_steer link", e))?;
                        let path = self.pin_dir.join(crate::watchdog::pin_name(ifname));
                        let fd = FdLink::try_from(link).map_err(|e| map_err("xvs_steer link (no bpf_link)", e))?;
                        let pinned = fd.pin(&path).map_err(|e| map_err(&format!("pinning {}", path.display()), e))?;
                        self.pins.push(pinned);
                        self.attached.push((ifname.to_string(), name));
                        return Ok(name);
                    }
                    Err(e) => last = format!("{e}"),
                }
            }
            if self.settle_until.is_none_or(|t| Instant::now() >= t) {
                return Err(format!(
                    "attaching XDP to {ifname}: {last} (a program of an earlier xvs run on another control socket \
                     may still be pinned under {})",
                    crate::watchdog::PIN_ROOT
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Put an AF_XDP socket in the XSKMAP for (slot, queue).
    /// (The map holds its own reference to the socket: the kernel keeps it valid.)
    pub fn set_socket(&mut self, slot: u32, queue: u32, port: &XskPort) -> Result<(), String> {
        let mut xsks: XskMap<&mut MapData> =
            XskMap::try_from(self.ebpf.map_mut("xsks").ok_or("map xsks missing")?).map_err(|e| map_err("xsks", e))?;
        xsks.set(xsk_index(slot, queue), port.as_raw_fd(), 0).map_err(|e| map_err("xsks", e))
    }

    /// Make the maps match `cfg`, the host's addresses `local`, and what drains: NAT reals
    /// (address, port, protocol) and services (VIP, prefix length, port, protocol) that a
    /// reload removed but whose connections still run, so their packets must still come
    /// up (the engine forwards them until they end).
    pub fn sync(&mut self, cfg: &EngineConfig, local: &[IpAddr], draining: &Drained<'_>) -> Result<(), String> {
        let mut vips = HashSet::new();
        let mut prefixes = HashSet::new();
        let mut vip_addrs = HashSet::new();
        let mut reals = HashSet::new();
        let mut real_addrs = HashSet::new();
        let services = cfg.services.iter().flat_map(|s| steered_endpoints(s).into_iter());
        for (vip, prefix_len, port, proto) in services.chain(draining.services.iter().copied()) {
            let full = if vip.is_ipv4() { 32 } else { 128 };
            if prefix_len == full {
                vips.insert(Endpoint::new(vip, port, proto));
                vip_addrs.insert(AddrKey::new(vip));
            } else {
                let k = prefix_key(proto, port, vip, prefix_len);
                prefixes.insert((k.prefix_len(), k.data()));
            }
        }
        for s in &cfg.services {
            // A fwmark service's replies come back over each protocol its marks cover.
            let protos: Vec<u8> = if s.fwmark == 0 { vec![s.proto] } else { s.marks.iter().map(|m| m.proto).collect() };
            for r in s.reals.iter().chain(s.sorry_server.iter()) {
                if r.forward == Forward::Nat {
                    for &proto in &protos {
                        reals.insert(Endpoint::new(r.addr, r.port, proto));
                    }
                    real_addrs.insert(AddrKey::new(r.addr));
                }
            }
        }
        for &(addr, port, proto) in draining.nat {
            reals.insert(Endpoint::new(addr, port, proto));
            real_addrs.insert(AddrKey::new(addr));
        }
        let local: HashSet<AddrKey> = local.iter().map(|a| AddrKey::new(*a)).collect();
        sync_hash(&mut self.ebpf, "vips", &vips)?;
        sync_hash(&mut self.ebpf, "vip_addrs", &vip_addrs)?;
        sync_hash(&mut self.ebpf, "reals", &reals)?;
        sync_hash(&mut self.ebpf, "real_addrs", &real_addrs)?;
        sync_hash(&mut self.ebpf, "local_addrs", &local)?;
        let mut trie: LpmTrie<&mut MapData, PrefixData, u8> =
            LpmTrie::try_from(self.ebpf.map_mut("vip_prefixes").ok_or("map vip_prefixes missing")?)
                .map_err(|e| map_err("vip_prefixes", e))?;
        let old: Vec<LpmKey<PrefixData>> = trie.keys().filter_map(Result::ok).collect();
        for k in old {
            let _ = trie.remove(&k);
        }
        for (bits, data) in prefixes {
            trie.insert(&LpmKey::new(bits, data), 1, 0).map_err(|e| map_err("vip_prefixes", e))?;
        }
        Ok(())
    }

    /// The program's counters: (redirected, passed, steered but dropped: no socket for the queue).
    pub fn counters(&self) -> (u64, u64, u64) {
        let Some(map) = self.ebpf.map("counters") else { return (0, 0, 0) };
        let Ok(arr) = aya::maps::PerCpuArray::<&MapData, u64>::try_from(map) else { return (0, 0, 0) };
        let get = |i: u32| arr.get(&i, 0).map(|v| v.iter().sum()).unwrap_or(0);
        (get(0), get(1), get(2))
    }
}

/// Widest port range of a fwmark rule steered port by port; a wider one steers every port
/// of its destinations (the engine drops, counted, what no service takes).
const MAX_STEERED_RANGE: u32 = 256;

/// The (address, prefix length, port, protocol) entries that bring service `s`'s traffic
/// up: its VIP, or each rule of a fwmark service.
pub fn steered_endpoints(s: &xvs_engine::ServiceSpec) -> Vec<(IpAddr, u8, u16, u8)> {
    if s.fwmark == 0 {
        return vec![(s.vip, s.prefix_len, s.port, s.proto)];
    }
    let mut out = Vec::new();
    for m in &s.marks {
        if u32::from(m.hi - m.lo) < MAX_STEERED_RANGE {
            out.extend((m.lo..=m.hi).map(|p| (m.net, m.len, p, m.proto)));
        } else {
            out.push((m.net, m.len, 0, m.proto));
        }
    }
    out
}

fn sync_hash<K: Pod + Eq + std::hash::Hash>(ebpf: &mut Ebpf, name: &str, want: &HashSet<K>) -> Result<(), String> {
    let mut map: HashMap<&mut MapData, K, u8> =
        HashMap::try_from(ebpf.map_mut(name).ok_or_else(|| format!("map {name} missing"))?)
            .map_err(|e| map_err(name, e))?;
    let have: Vec<K> = map.keys().filter_map(Result::ok).collect();
    for k in have {
        if !want.contains(&k) {
            let _ = map.remove(&k);
        }
    }
    for k in want {
        map.insert(k, 1, 0).map_err(|e| map_err(name, e))?;
    }
    Ok(())
}
