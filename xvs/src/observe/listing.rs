//! The JSON listing of `xvs ctl -L --json` (and `-L -c --json`): one serde type, written by
//! the daemon and read back by `xvs top`, `xvs demo` and the tests.
//!
//! Invariants:
//! - Field names are the public contract (they are what scripts read): fields are only
//!   ever added, never renamed or removed. Every field a reader may miss (an older daemon)
//!   has a default, so a new reader accepts an old listing.
//! - Counters carry ipvsadm's column names (`conns`, `inpkts`, ...), rates the names of
//!   `ipvsadm --rate` (`cps`, `inpps`, ...).
//! - A real's identity in a listing is its service and address; no reader parses a label.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use xvs_engine::Counters;

use super::estimator::Rates;

/// The whole `-L --json` answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Listing {
    /// IPVS's version as ipvsadm shows it.
    pub version: String,
    /// IPVS's connection-table size as ipvsadm shows it.
    pub size: u32,
    pub timeouts: TimeoutsListing,
    pub services: Vec<ServiceListing>,
    /// The daemon's own figures (the daemon adds them; absent from an older daemon's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub director: Option<DirectorListing>,
    /// The VRRP instances `xvs run` runs, in configuration order (absent when none runs).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub vrrp: Vec<VrrpListing>,
}

/// `ipvsadm -L --timeout`'s three figures, seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TimeoutsListing {
    pub tcp: u32,
    pub tcpfin: u32,
    pub udp: u32,
}

/// One service.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServiceListing {
    /// `tcp` or `udp`.
    pub protocol: String,
    /// The VIP as configured: `10.0.1.100:80`, `[2001:db8::1]:80`, `203.0.113.0/24:80`.
    pub vip: String,
    pub address: Option<IpAddr>,
    pub prefix_len: u8,
    pub port: u16,
    pub scheduler: String,
    pub flags: Vec<String>,
    pub persistence: u32,
    pub netmask: u8,
    pub ops: bool,
    /// A firewall-mark service's mark (then `address` is the family's unspecified one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fwmark: Option<u32>,
    pub stats: Counters,
    pub rates: Rates,
    pub reals: Vec<RealListing>,
    /// Reals out of the service after a failed health check (IPVS would not list them).
    pub failed_reals: Vec<RealListing>,
}

/// A real's health-check verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    Up,
    Down,
}

impl Health {
    pub fn from_up(up: bool) -> Health {
        if up {
            Health::Up
        } else {
            Health::Down
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            Health::Up => "up",
            Health::Down => "down",
        }
    }
}

/// One real of a service.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RealListing {
    /// `addr:port` (IPv6 in brackets).
    pub address: String,
    /// `nat`, `dr` or `tun`.
    pub forward: String,
    pub weight: u32,
    pub upper_threshold: u32,
    pub lower_threshold: u32,
    pub active: u32,
    pub inactive: u32,
    pub persistent: u32,
    pub stats: Counters,
    pub rates: Rates,
    /// `None` (null): not checked.
    pub health: Option<Health>,
}

/// What the daemon says of itself.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DirectorListing {
    pub version: String,
    pub uptime_s: u64,
    pub live_connections: u64,
    /// Frames received and transmitted by the poll loops.
    pub rx: u64,
    pub tx: u64,
    /// Frames handed to the kernel (not for a service).
    pub passed: u64,
    /// Connections created since start.
    pub conns_created: u64,
    /// Frames dropped, all reasons.
    pub drops: u64,
    /// Frames dropped, by reason (only reasons seen).
    pub drops_by_reason: std::collections::BTreeMap<String, u64>,
    pub health_checks: bool,
    /// `xvs ctl --drain` is in effect: the announcer withdraws every VIP.
    pub draining: bool,
}

/// The `-L -c --json` answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConnectionsListing {
    pub connections: Vec<ConnectionListing>,
}

/// One connection.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConnectionListing {
    pub protocol: String,
    pub state: String,
    pub expires_ms: u64,
    pub client: String,
    #[serde(rename = "virtual")]
    pub vip: String,
    pub destination: String,
    pub forward: String,
    /// Verified (README "Defences"): never evicted to make room.
    pub verified: bool,
}

/// One VRRP instance (`-L --json`'s `vrrp` array, `--vrrp --json`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VrrpListing {
    pub name: String,
    /// keepalived's name of the state: `INIT`, `BACKUP`, `MASTER`, `FAULT`.
    pub state: String,
    /// The effective priority (the configured one changed by tracking, if any).
    pub priority: u8,
    /// The master as the instance knows it (itself when MASTER); `null`: none known.
    pub master: Option<IpAddr>,
    /// `null` before its first state change.
    pub last_transition: Option<TransitionListing>,
    pub interface: String,
    pub vrid: u8,
    pub virtual_addresses: Vec<IpAddr>,
    /// State changes since the start (the startup one included).
    pub transitions: u64,
    pub adverts_sent: u64,
    /// Adverts that passed every check.
    pub adverts_received: u64,
    pub priority_zero_sent: u64,
    pub priority_zero_received: u64,
    /// Adverts dropped, by reason (every reason, zeros included).
    pub rejected: std::collections::BTreeMap<String, u64>,
}

/// When and why an instance last changed state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TransitionListing {
    pub seconds_ago: u64,
    /// e.g. `master down timer expired`, `higher priority advert seen`, `startup`.
    pub cause: String,
}
