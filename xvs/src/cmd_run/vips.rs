//! The VIPs `xvs run` adds to `vip_device` (`manage_vips`), so the kernel answers ARP/ND
//! for them.
//!
//! Invariant: only addresses this process added are removed again, on drop; a VIP the
//! device had before start is left alone.

use std::net::IpAddr;

use xvs::host;
use xvs_engine::EngineConfig;

use super::log;

/// VIPs this process added, removed again on drop.
pub(super) struct VipGuard {
    dev_index: u32,
    added: Vec<IpAddr>,
    /// Addresses a VRRP instance owns (on its interface, while MASTER): never added here.
    vrrp: Vec<IpAddr>,
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
    /// A guard for `device`, with nothing added yet.
    pub fn new(device: &str, vrrp: Vec<IpAddr>) -> Result<VipGuard, String> {
        let dev_index = host::ifindex(device).map_err(|e| format!("vip_device {device}: {e}"))?;
        Ok(VipGuard { dev_index, added: Vec::new(), vrrp })
    }

    /// Add the single-address VIPs of `cfg` that the device does not have yet; the ones
    /// added, for the log.
    pub fn sync(&mut self, cfg: &EngineConfig) -> Result<Vec<IpAddr>, String> {
        let have: Vec<IpAddr> = host::addresses_of(self.dev_index)
            .map_err(|e| format!("reading addresses: {e}"))?
            .iter()
            .map(|a| a.addr)
            .collect();
        let mut now = Vec::new();
        for s in &cfg.services {
            let full = if s.vip.is_ipv4() { 32 } else { 128 };
            let taken = have.contains(&s.vip) || self.added.contains(&s.vip) || self.vrrp.contains(&s.vip);
            if s.prefix_len != full || taken {
                continue;
            }
            host::add_address(self.dev_index, s.vip, full).map_err(|e| format!("adding VIP {}: {e}", s.vip))?;
            self.added.push(s.vip);
            now.push(s.vip);
        }
        Ok(now)
    }
}
