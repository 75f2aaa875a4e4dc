//! Connection sync: keepalived's `global_defs { lvs_sync_daemon ... }` and the TOML
//! `[sync]` table, which also holds IPVS's sync sysctls (`sync_threshold`,
//! `sync_refresh_period`).
//!
//! Invariants (for a validated `Config`):
//! - `daemon.instance`, when set, names a VRRP instance of the same config; the sync role
//!   follows it (MASTER sends, any other state receives). Without an instance the daemon
//!   sends and receives at once (IPVS allows both roles, and an active-active fleet needs
//!   them).
//! - `daemon.syncid` is resolved: the configured one, else the instance's VRID (as
//!   keepalived does), else 0 (a receiver with sync id 0 accepts any).
//! - `threshold < period` unless `period` is 0 (the kernel's sysctl rule).

use std::net::{IpAddr, Ipv4Addr};

/// IPVS's sync port.
pub const DEFAULT_SYNC_PORT: u16 = 8848;
/// IPVS's sync group.
pub const DEFAULT_SYNC_GROUP: IpAddr = IpAddr::V4(Ipv4Addr::new(224, 0, 0, 81));
/// IPVS's multicast TTL for sync messages.
pub const DEFAULT_SYNC_TTL: u8 = 1;

/// The sync daemon (keepalived's `lvs_sync_daemon`, ipvsadm's `--start-daemon`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncDaemon {
    /// The interface sync messages are sent and received on (`--mcast-interface`).
    pub interface: String,
    /// The VRRP instance whose state gives the role; `None`: both roles.
    pub instance: Option<String>,
    /// `id` / `--syncid` (0..=255), resolved (see the module invariants).
    pub syncid: u8,
    /// `maxlen` / `--sync-maxlen`: the largest message; `None`: the interface's MTU less
    /// the IP and UDP headers (1472 on a 1500-byte link), as IPVS computes it.
    pub maxlen: Option<u16>,
    /// `port` / `--mcast-port`.
    pub port: u16,
    /// `ttl` / `--mcast-ttl`.
    pub ttl: u8,
    /// `group` / `--mcast-group`.
    pub group: IpAddr,
}

impl SyncDaemon {
    /// A daemon on `interface` with IPVS's defaults.
    pub fn on(interface: &str) -> SyncDaemon {
        SyncDaemon {
            interface: interface.to_string(),
            instance: None,
            syncid: 0,
            maxlen: None,
            port: DEFAULT_SYNC_PORT,
            ttl: DEFAULT_SYNC_TTL,
            group: DEFAULT_SYNC_GROUP,
        }
    }
}

/// `[sync]`: the daemon (if any) and IPVS's sync sysctls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sync {
    pub daemon: Option<SyncDaemon>,
    /// `sync_threshold = [threshold, period]` (net.ipv4.vs.sync_threshold).
    pub threshold: u8,
    pub period: u8,
    /// `sync_refresh_period`, seconds (net.ipv4.vs.sync_refresh_period); 0: off.
    pub refresh_period: u32,
}

impl Default for Sync {
    fn default() -> Self {
        Sync { daemon: None, threshold: 3, period: 50, refresh_period: 0 }
    }
}
