//! An instance's configuration ([`InstanceConfig`], keepalived's `vrrp_instance`) and its
//! normalization as keepalived 2.2.7 completes an instance (`vrrp_complete_instance`).
//!
//! Invariants:
//! - [`InstanceConfig::normalize`] is the one place where keepalived's silent fix-ups are
//!   applied; each is reported as an [`Adjustment`] (keepalived logs them as configuration
//!   errors and carries on). What keepalived refuses outright is a [`ConfigError`].
//! - After normalization: vrid and priority are non-zero; every address, the primary
//!   address and every unicast peer are of one family; the interval is in range for the
//!   version (v2 whole seconds below 256 s, v3 1..=4095 cs); authentication is set only
//!   for VRRPv2 outside strict mode; an address owner (255) has no `nopreempt`; an
//!   initial MASTER has neither `nopreempt` nor `preempt_delay`.

use std::net::IpAddr;

use crate::wire;

/// VRRP version (keepalived's `vrrp_version`; its default is 2, IPv6 instances 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Version {
    V2,
    V3,
}

impl Version {
    /// The version nibble on the wire.
    pub fn number(self) -> u8 {
        match self {
            Version::V2 => 2,
            Version::V3 => 3,
        }
    }
}

/// keepalived's `state`: the state the instance asks to start in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum InitialState {
    Backup,
    Master,
}

/// One VRRP instance, as keepalived's `vrrp_instance` describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceConfig {
    pub name: String,
    pub vrid: u8,
    pub version: Version,
    /// 1..=255; 255 = address owner.
    pub priority: u8,
    /// Centiseconds (v2: whole seconds × 100).
    pub advert_int_cs: u16,
    pub preempt: bool,
    pub preempt_delay_ms: u32,
    pub initial: InitialState,
    /// VRRPv2 PASS (RFC 2338), zero-padded; ignored under v3 and under strict.
    pub auth_pass: Option<[u8; 8]>,
    /// `virtual_ipaddress`: one family per instance.
    pub addresses: Vec<IpAddr>,
    /// The address adverts are sent from (`unicast_src_ip` or the interface's).
    pub primary: IpAddr,
    /// Empty: multicast 224.0.0.18 / ff02::12.
    pub unicast_peers: Vec<IpAddr>,
    /// `vrrp_strict`.
    pub strict: bool,
    /// `vrrp_skip_check_adv_addr`.
    pub skip_check_adv_addr: bool,
}

/// A configuration keepalived refuses (the instance does not start).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("({0}) VRID must be between 1 and 255")]
    Vrid(String),
    #[error("({0}) priority must be between 1 and 255")]
    Priority(String),
    #[error("({0}) No VIP specified; at least one is required")]
    NoAddresses(String),
    #[error("({0}) {1} is not of the instance's address family")]
    MixedFamilies(String, IpAddr),
    #[error("({0}) Unicast peers are not supported in strict mode")]
    UnicastInStrict(String),
}

/// A setting keepalived changes (with a logged warning) while completing an instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Adjustment {
    /// IPv6 with VRRPv2 under `vrrp_strict`: version 3 is used.
    V2OverIpv6InStrict,
    /// `state MASTER` without priority 255 (or `state BACKUP` with it) under strict: the
    /// state follows the priority.
    StrictStateFollowsPriority(InitialState),
    /// Authentication under `vrrp_strict` is ignored.
    AuthInStrict,
    /// Authentication under VRRPv3 is ignored.
    AuthInV3,
    /// An empty password (first byte 0) disables authentication.
    AuthEmpty,
    /// PASS over IPv6 is not carried (VRRPv2 over IPv6 has no auth data).
    AuthOverIpv6,
    /// `nopreempt` with priority 255 is reset.
    NopreemptWithOwner,
    /// `nopreempt` with `state MASTER` is reset.
    NopreemptWithMaster,
    /// `preempt_delay` with `state MASTER` is reset.
    PreemptDelayWithMaster,
    /// `preempt_delay` under strict is reset.
    PreemptDelayInStrict,
    /// `preempt_delay` with `nopreempt` is reset.
    PreemptDelayWithNopreempt,
    /// An interval of 0 becomes the default 1 s.
    IntervalDefault,
    /// The interval was out of range or not of the version's unit: now this (cs).
    IntervalAdjusted(u16),
    /// More addresses than one advert holds (1500-byte MTU): only the first N are
    /// advertised (keepalived moves the rest to `virtual_ipaddress_excluded`).
    AddressesNotAdvertised(usize),
}

impl std::fmt::Display for Adjustment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Adjustment::V2OverIpv6InStrict => write!(f, "cannot use IPv6 with VRRP version 2; setting version 3"),
            Adjustment::StrictStateFollowsPriority(s) => {
                write!(f, "State MASTER must match being address owner; state set to {s:?}")
            }
            Adjustment::AuthInStrict => write!(f, "Strict mode does not support authentication. Ignoring."),
            Adjustment::AuthInV3 => write!(f, "VRRP version 3 does not support authentication. Ignoring."),
            Adjustment::AuthEmpty => write!(f, "Authentication specified but no password given. Ignoring"),
            Adjustment::AuthOverIpv6 => write!(f, "PASS authentication is not carried over IPv6. Ignoring"),
            Adjustment::NopreemptWithOwner => write!(f, "nopreempt is incompatible with priority 255. resetting"),
            Adjustment::NopreemptWithMaster => {
                write!(f, "Warning - nopreempt will not work with initial state MASTER - clearing")
            }
            Adjustment::PreemptDelayWithMaster => {
                write!(f, "Warning - preempt delay will not work with initial state MASTER - clearing")
            }
            Adjustment::PreemptDelayInStrict => write!(f, "preempt_delay is incompatible with strict mode - resetting"),
            Adjustment::PreemptDelayWithNopreempt => {
                write!(f, "preempt_delay is incompatible with nopreempt mode - resetting")
            }
            Adjustment::IntervalDefault => write!(f, "advertisement interval 0; using 1s"),
            Adjustment::IntervalAdjusted(cs) => {
                write!(f, "advertisement interval set to {}.{:02}s", cs / 100, cs % 100)
            }
            Adjustment::AddressesNotAdvertised(n) => {
                write!(f, "Number of VIPs exceeds the space available in packet; only the first {n} are advertised")
            }
        }
    }
}

/// The most addresses one advert of `version` carries over an Ethernet MTU of 1500, as
/// keepalived computes it (capped at 255, the width of the count).
pub fn max_addresses(version: Version, v6: bool) -> usize {
    let (ip, addr) = if v6 { (40, 16) } else { (20, 4) };
    let auth = if !v6 && version == Version::V2 { wire::AUTH_LEN } else { 0 };
    ((1500 - 14 - ip - wire::HEADER_LEN - auth) / addr).min(255)
}

impl InstanceConfig {
    /// Whether the instance speaks IPv6 (its primary address's family).
    pub fn is_ipv6(&self) -> bool {
        self.primary.is_ipv6()
    }

    /// Applies keepalived's completion rules (see the module doc), returning what changed.
    pub fn normalize(&mut self) -> Result<Vec<Adjustment>, ConfigError> {
        let name = || self.name.clone();
        if self.vrid == 0 {
            return Err(ConfigError::Vrid(name()));
        }
        if self.priority == 0 {
            return Err(ConfigError::Priority(name()));
        }
        let v6 = self.is_ipv6();
        if let Some(a) = self.addresses.iter().chain(&self.unicast_peers).find(|a| a.is_ipv6() != v6) {
            return Err(ConfigError::MixedFamilies(name(), *a));
        }
        if self.strict && !self.unicast_peers.is_empty() {
            return Err(ConfigError::UnicastInStrict(name()));
        }
        let mut adj = Vec::new();
        if v6 && self.version == Version::V2 && self.strict {
            self.version = Version::V3;
            adj.push(Adjustment::V2OverIpv6InStrict);
        }
        if self.addresses.is_empty() && (self.version == Version::V3 || self.strict) {
            return Err(ConfigError::NoAddresses(name()));
        }
        let owner = self.priority == 255;
        if self.strict && (self.initial == InitialState::Master) != owner {
            self.initial = if owner { InitialState::Master } else { InitialState::Backup };
            adj.push(Adjustment::StrictStateFollowsPriority(self.initial));
        }
        self.normalize_auth(v6, &mut adj);
        self.normalize_preempt(&mut adj);
        self.normalize_interval(&mut adj);
        let max = max_addresses(self.version, v6);
        if self.addresses.len() > max {
            adj.push(Adjustment::AddressesNotAdvertised(max));
        }
        Ok(adj)
    }

    fn normalize_auth(&mut self, v6: bool, adj: &mut Vec<Adjustment>) {
        let Some(pass) = self.auth_pass else { return };
        let why = if self.strict {
            Adjustment::AuthInStrict
        } else if self.version == Version::V3 {
            Adjustment::AuthInV3
        } else if pass[0] == 0 {
            Adjustment::AuthEmpty
        } else if v6 {
            Adjustment::AuthOverIpv6
        } else {
            return;
        };
        self.auth_pass = None;
        adj.push(why);
    }

    fn normalize_preempt(&mut self, adj: &mut Vec<Adjustment>) {
        if self.priority == 255 && !self.preempt {
            self.preempt = true;
            adj.push(Adjustment::NopreemptWithOwner);
        }
        if self.initial == InitialState::Master {
            if !self.preempt {
                self.preempt = true;
                adj.push(Adjustment::NopreemptWithMaster);
            }
            if self.preempt_delay_ms != 0 {
                self.preempt_delay_ms = 0;
                adj.push(Adjustment::PreemptDelayWithMaster);
            }
        }
        if self.preempt_delay_ms != 0 && self.strict {
            self.preempt_delay_ms = 0;
            adj.push(Adjustment::PreemptDelayInStrict);
        }
        if self.preempt_delay_ms != 0 && !self.preempt {
            self.preempt_delay_ms = 0;
            adj.push(Adjustment::PreemptDelayWithNopreempt);
        }
    }

    fn normalize_interval(&mut self, adj: &mut Vec<Adjustment>) {
        let cs = self.advert_int_cs;
        if cs == 0 {
            self.advert_int_cs = 100;
            adj.push(Adjustment::IntervalDefault);
            return;
        }
        let fixed = match self.version {
            Version::V2 if cs >= 25600 => 25500,
            // Rounded to the nearest second, half up, at least 1 s (keepalived's rounding).
            Version::V2 if !cs.is_multiple_of(100) => ((cs + 50) / 100 * 100).clamp(100, 25500),
            Version::V3 if cs > 4095 => 4095,
            _ => cs,
        };
        if fixed != cs {
            self.advert_int_cs = fixed;
            adj.push(Adjustment::IntervalAdjusted(fixed));
        }
    }
}
