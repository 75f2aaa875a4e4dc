//! Next hops for the reals, from the kernel: the route toward each real (direct, or via a
//! gateway) and the neighbour entry of that next hop; and the default gateway's, the next
//! hop toward clients whose MAC a connection does not know (one that came by sync).
//!
//! Invariants: `[[neighbor]]` entries of the config override the kernel; a real whose
//! next hop has no usable neighbour entry gets none (its packets are `neighbor_miss`
//! drops) and a resolution is triggered by sending the kernel toward it (an empty UDP
//! datagram to the discard port, which makes the kernel resolve the next hop), so a later
//! refresh finds it. Refreshes run on the control thread, never on a poll core.
//!
//! The kernel is asked with iproute2's JSON output (`ip -j route get`, `ip -j neigh`),
//! which speaks rtnetlink for us; its `lladdr` is read with the one MAC parser,
//! `xvs_config::parse_mac`.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::process::Command;

use xvs_engine::{EngineConfig, NeighborSpec};

fn ip_json(args: &[&str]) -> Option<serde_json::Value> {
    let out = Command::new("ip").arg("-j").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

/// The kernel's neighbour table: address -> MAC, for entries that are usable.
fn neighbours() -> HashMap<IpAddr, [u8; 6]> {
    let mut out = HashMap::new();
    for fam in ["-4", "-6"] {
        let Some(serde_json::Value::Array(entries)) = ip_json(&[fam, "neigh", "show"]) else { continue };
        for e in entries {
            let (Some(dst), Some(mac)) = (e["dst"].as_str(), e["lladdr"].as_str()) else { continue };
            let states: Vec<&str> =
                e["state"].as_array().map(|a| a.iter().filter_map(|s| s.as_str()).collect()).unwrap_or_default();
            if states.iter().any(|s| *s == "FAILED" || *s == "INCOMPLETE") {
                continue;
            }
            if let (Ok(ip), Ok(mac)) = (dst.parse::<IpAddr>(), xvs_config::parse_mac(mac)) {
                out.insert(ip, mac);
            }
        }
    }
    out
}

/// The next-hop address toward `ip` (a gateway, or `ip` itself when on-link) and the
/// interface the route leaves on.
fn next_hop(ip: IpAddr) -> Option<(IpAddr, Option<String>)> {
    let serde_json::Value::Array(routes) = ip_json(&["route", "get", &ip.to_string()])? else { return None };
    let r = routes.first()?;
    let dev = r["dev"].as_str().map(str::to_string);
    match r["gateway"].as_str() {
        Some(gw) => Some((gw.parse().ok()?, dev)),
        None => Some((ip, dev)),
    }
}

/// The kernel's default gateway of each family and the interface toward it.
fn default_gateways() -> Vec<(IpAddr, Option<String>)> {
    let mut out = Vec::new();
    for fam in ["-4", "-6"] {
        let Some(serde_json::Value::Array(routes)) = ip_json(&[fam, "route", "show", "default"]) else { continue };
        let Some(r) = routes.first() else { continue };
        if let Some(Ok(gw)) = r["gateway"].as_str().map(str::parse::<IpAddr>) {
            out.push((gw, r["dev"].as_str().map(str::to_string)));
        }
    }
    out
}

fn trigger_resolution(ip: IpAddr) {
    let bind: SocketAddr = if ip.is_ipv4() { "0.0.0.0:0".parse().unwrap() } else { "[::]:0".parse().unwrap() };
    if let Ok(sock) = UdpSocket::bind(bind) {
        let _ = sock.send_to(&[], SocketAddr::new(ip, 9));
    }
}

/// The addresses of every real (and sorry server) of `cfg`.
pub fn real_addresses(cfg: &EngineConfig) -> Vec<IpAddr> {
    cfg.services.iter().flat_map(|s| s.reals.iter().chain(s.sorry_server.iter()).map(|r| r.addr)).collect()
}

/// Next hops for `reals`: the config's `[[neighbor]]` entries (`configured`) first, then
/// the kernel's, asked afresh on every call, with the port (index in `ifaces`) the route
/// leaves on. Unresolved next hops get a resolution triggered.
///
/// `configured` must be the entries of the config file only, never an earlier result:
/// those would shadow the kernel, so a MAC that changes or a neighbour that goes away
/// would never be noticed.
pub fn resolve(configured: &[NeighborSpec], reals: &[IpAddr], ifaces: &[String]) -> Vec<NeighborSpec> {
    let mut out: Vec<NeighborSpec> = configured.to_vec();
    let table = neighbours();
    let mut seen = std::collections::HashSet::new();
    for &addr in reals {
        if !seen.insert(addr) || out.iter().any(|n| n.ip == addr) {
            continue;
        }
        let Some((hop, dev)) = next_hop(addr) else { continue };
        let port = dev.and_then(|d| ifaces.iter().position(|i| *i == d)).map(|p| p as u16);
        match table.get(&hop) {
            Some(mac) => out.push(NeighborSpec { ip: addr, mac: *mac, default: false, port, clients_only: false }),
            None => trigger_resolution(hop),
        }
    }
    // The default route's next hop, for NAT replies of connections that came by sync
    // (they have no client MAC until the client's next packet), unless the config gives one.
    for (gw, dev) in default_gateways() {
        if out.iter().any(|n| n.default && n.ip.is_ipv4() == gw.is_ipv4()) {
            continue;
        }
        let port = dev.and_then(|d| ifaces.iter().position(|i| *i == d)).map(|p| p as u16);
        match table.get(&gw) {
            Some(mac) => out.push(NeighborSpec { ip: gw, mac: *mac, default: true, port, clients_only: true }),
            None => trigger_resolution(gw),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    /// The kernel's `lladdr` spelling, through the one MAC parser (`xvs_config::parse_mac`).
    #[test]
    fn macs_parse() {
        let parse = |s| xvs_config::parse_mac(s).ok();
        assert_eq!(parse("02:00:00:00:02:11"), Some([2, 0, 0, 0, 2, 0x11]));
        assert_eq!(parse("02:00:00"), None);
        assert_eq!(parse("zz:00:00:00:00:00"), None);
    }
}
