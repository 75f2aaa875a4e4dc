//! The VIPs `xvs run` adds to `vip_device` (`manage_vips`), so the kernel answers ARP/ND
//! for them.
//!
//! Invariants:
//! - Only addresses this process added are ever removed; a VIP the device had before
//!   start (or a VRRP instance owns) is left alone.
//! - After `sync(cfg, keep)` the device holds exactly the single-address VIPs of `cfg` and
//!   `keep` (removed services still draining) among the addresses this process added: a
//!   reload or `ctl` edit that removes a service's last VIP takes the VIP away once the
//!   service has drained.
//! - Every address added or removed is recorded in the run's state file (`hook`), so a run
//!   that dies by SIGKILL or abort leaves nothing: its watchdog, or the next run's
//!   reconciliation, removes what the file lists (`watchdog`).

use std::net::IpAddr;

use xvs::host;
use xvs::vrrp::runtime::{AddressChange, AddressHook};
use xvs_engine::EngineConfig;

use super::log;

/// VIPs this process added, removed again on drop.
pub(super) struct VipGuard {
    dev_index: u32,
    added: Vec<IpAddr>,
    /// Addresses a VRRP instance owns (on its interface, while MASTER): never added here.
    vrrp: Vec<IpAddr>,
    /// The state file's record of what this run added.
    hook: Option<AddressHook>,
}

impl Drop for VipGuard {
    fn drop(&mut self) {
        for vip in std::mem::take(&mut self.added) {
            if let Err(e) = self.remove(vip) {
                log(format!("removing VIP {vip}: {e}"));
            }
        }
    }
}

fn full_len(a: IpAddr) -> u8 {
    if a.is_ipv4() {
        32
    } else {
        128
    }
}

impl VipGuard {
    /// A guard for `device`, with nothing added yet; `hook` is told of every change.
    pub fn new(device: &str, vrrp: Vec<IpAddr>, hook: Option<AddressHook>) -> Result<VipGuard, String> {
        let dev_index = host::ifindex(device).map_err(|e| format!("vip_device {device}: {e}"))?;
        Ok(VipGuard { dev_index, added: Vec::new(), vrrp, hook })
    }

    fn tell(&self, c: AddressChange) {
        if let Some(h) = &self.hook {
            h(c);
        }
    }

    fn remove(&self, vip: IpAddr) -> Result<(), String> {
        let prefix_len = full_len(vip);
        host::del_address(self.dev_index, vip, prefix_len).map_err(|e| e.to_string())?;
        self.tell(AddressChange::Removed { ifindex: self.dev_index, addr: vip, prefix_len });
        Ok(())
    }

    /// Add the single-address VIPs of `cfg` that the device does not have yet, and remove
    /// the ones this process added that neither `cfg` nor `keep` has any more: (added,
    /// removed), for the log.
    pub fn sync(&mut self, cfg: &EngineConfig, keep: &[IpAddr]) -> Result<(Vec<IpAddr>, Vec<IpAddr>), String> {
        let have: Vec<IpAddr> = host::addresses_of(self.dev_index)
            .map_err(|e| format!("reading addresses: {e}"))?
            .iter()
            .map(|a| a.addr)
            .collect();
        let own = service_addresses(cfg);
        let wanted: Vec<IpAddr> = own.iter().copied().chain(keep.iter().copied()).collect();
        let mut added = Vec::new();
        for &vip in &wanted {
            let taken = have.contains(&vip) || self.added.contains(&vip) || self.vrrp.contains(&vip);
            if taken || !own.contains(&vip) {
                continue;
            }
            let prefix_len = full_len(vip);
            // Recorded before it exists: a death right after still has it in the file.
            self.tell(AddressChange::Added { ifindex: self.dev_index, addr: vip, prefix_len });
            host::add_address(self.dev_index, vip, prefix_len).map_err(|e| format!("adding VIP {vip}: {e}"))?;
            self.added.push(vip);
            added.push(vip);
        }
        let mut removed = Vec::new();
        for vip in self.added.clone() {
            if !wanted.contains(&vip) {
                self.remove(vip).map_err(|e| format!("removing VIP {vip}: {e}"))?;
                self.added.retain(|a| *a != vip);
                removed.push(vip);
            }
        }
        Ok((added, removed))
    }
}

/// The single addresses services answer on: each one-address VIP, and each one-address
/// destination of a fwmark service (a prefix is routed to the director, not owned).
fn service_addresses(cfg: &EngineConfig) -> Vec<IpAddr> {
    let mut out = Vec::new();
    for s in &cfg.services {
        if s.fwmark != 0 {
            out.extend(s.marks.iter().filter(|m| m.len == full_len(m.net)).map(|m| m.net));
        } else if s.prefix_len == full_len(s.vip) {
            out.push(s.vip);
        }
    }
    out.sort();
    out.dedup();
    out
}
