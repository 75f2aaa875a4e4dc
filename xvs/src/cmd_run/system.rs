//! What the daemon reads about the host: the interfaces to attach to, their MACs, queues
//! and addresses.
//!
//! Invariant: reads only (sysfs and netlink queries); nothing here changes the host.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use xvs::host;
use xvs_datapath::maps::MAX_QUEUES;

/// `[director] interfaces`, or every non-loopback interface that is up.
pub(super) fn interfaces(cfg: &xvs_config::Config) -> Result<Vec<String>, String> {
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

/// The tunnel sources a model without `[director] address`/`address6` gets: the primary
/// addresses of `ifname` (the first interface), link-local IPv6 excepted.
pub(super) fn tunnel_sources(ifname: &str) -> (Option<Ipv4Addr>, Option<Ipv6Addr>) {
    let (mut v4, mut v6) = (None, None);
    if let Ok(index) = host::ifindex(ifname) {
        for a in host::addresses_of(index).unwrap_or_default() {
            match a.addr {
                IpAddr::V4(a) if v4.is_none() => v4 = Some(a),
                IpAddr::V6(a) if v6.is_none() && !a.is_unicast_link_local() => v6 = Some(a),
                _ => {}
            }
        }
    }
    (v4, v6)
}

pub(super) fn interface_mac(ifname: &str) -> Result<[u8; 6], String> {
    let text = std::fs::read_to_string(format!("/sys/class/net/{ifname}/address"))
        .map_err(|e| format!("interface {ifname}: {e}"))?;
    xvs_config::parse_mac(text.trim()).map_err(|_| format!("interface {ifname}: bad MAC {text:?}"))
}

pub(super) fn rx_queues(ifname: &str) -> u32 {
    std::fs::read_dir(format!("/sys/class/net/{ifname}/queues"))
        .map(|d| d.flatten().filter(|e| e.file_name().to_string_lossy().starts_with("rx-")).count() as u32)
        .unwrap_or(1)
        .clamp(1, MAX_QUEUES)
}

/// Every address of the host (the steering maps pass traffic to them to the kernel).
pub(super) fn local_addresses() -> Vec<IpAddr> {
    host::addresses().map(|v| v.into_iter().map(|a| a.addr).collect()).unwrap_or_default()
}
