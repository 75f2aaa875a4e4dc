//! The VRRP part of the model: keepalived's `vrrp_instance`, `vrrp_sync_group`,
//! `vrrp_script` and the VRRP settings of `global_defs`, as keepalived 2.2.7 reads them.
//!
//! Invariants (for a validated `Config`):
//! - Every value is resolved the way keepalived 2.2.7 completes an instance
//!   (`vrrp_complete_instance`): `version` is the instance's own, or 3 for an IPv6
//!   instance, or the global `vrrp_version`; `strict`, `skip_check_adv_addr` and the
//!   `garp_master_*` values are the instance's, or the global ones; `state` and
//!   `priority` default from each other (`state MASTER` alone means priority 255,
//!   priority 255 alone means MASTER, else BACKUP and 100); `accept` defaults to
//!   "priority 255 or not strict".
//! - What keepalived would fix up and warn about is already fixed (a keepalived.conf is
//!   resolved with warnings; an xvs TOML that needs a fix-up is refused), so the values
//!   here are exactly what keepalived would run: e.g. no authentication under VRRPv3 or
//!   strict mode, an `advert_int` in whole seconds under VRRPv2 and in centiseconds
//!   under VRRPv3, `state` MASTER under strict mode only at priority 255.
//! - `virtual_ipaddress` holds addresses of one family (the instance's); the excluded
//!   ones may mix families.
//! - Script lines (`script`, `notify_*`) are kept as written, one line each: the runner
//!   splits them as keepalived does (white space, quotes, `\` escapes).

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use super::full_prefix;

/// keepalived's default `vrrp_version`.
pub const DEFAULT_VRRP_VERSION: u8 = 2;
/// keepalived's default priority (RFC 2338 5.3.4), and the address owner's.
pub const DEFAULT_PRIORITY: u8 = 100;
pub const OWNER_PRIORITY: u8 = 255;
/// keepalived's default `advert_int`, 1 s.
pub const DEFAULT_ADVERT_INT: Duration = Duration::from_secs(1);
/// keepalived's `garp_master_delay`, `garp_master_repeat` and `garp_master_refresh`
/// defaults (`VRRP_GARP_DELAY`, `VRRP_GARP_REP`, `VRRP_GARP_REFRESH`).
pub const DEFAULT_GARP_MASTER_DELAY: u32 = 5;
pub const DEFAULT_GARP_MASTER_REPEAT: u32 = 5;
pub const DEFAULT_GARP_MASTER_REFRESH: u32 = 0;
/// Longest `auth_pass` keepalived uses; it truncates longer ones (RFC 2338 5.3.10).
pub const AUTH_PASS_MAX: usize = 8;
/// Longest interface name or address label (IFNAMSIZ - 1).
pub const IFNAME_MAX: usize = 15;
/// Range of a tracked interface's or script's weight.
pub const TRACK_WEIGHT_RANGE: std::ops::RangeInclusive<i32> = -253..=253;

keyword_enum!(
    /// An instance's initial state (keepalived's `state MASTER|BACKUP`).
    VrrpState { Master = "master", Backup = "backup" }
);
keyword_enum!(
    /// VRRPv2 authentication; keepalived's `auth_type PASS` (AH is refused).
    AuthType { Pass = "pass" }
);

/// Everything VRRP in one configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Vrrp {
    pub instances: Vec<VrrpInstance>,
    pub sync_groups: Vec<SyncGroup>,
    pub scripts: Vec<VrrpScript>,
    /// `global_defs vrrp_version`: the version of instances that set none (IPv6 ones run 3).
    pub version: u8,
    /// `global_defs router_id`: keepalived names the machine with it in emails and SNMP.
    pub router_id: Option<String>,
    /// `global_defs vrrp_strict`: the default of every instance's `strict`.
    pub strict: bool,
    /// `global_defs vrrp_skip_check_adv_addr`: the default of every instance's.
    pub skip_check_adv_addr: bool,
    /// `global_defs vrrp_garp_interval`: the gap between gratuitous ARPs on an interface.
    pub garp_interval: Duration,
    /// `global_defs vrrp_gna_interval`: the gap between unsolicited NAs on an interface.
    pub gna_interval: Duration,
    /// `global_defs script_user`: who scripts run as; `None`: keepalived's default (the
    /// `keepalived_script` user if it exists, else root).
    pub script_user: Option<RunAs>,
    /// `global_defs enable_script_security`.
    pub enable_script_security: bool,
}

impl Default for Vrrp {
    fn default() -> Self {
        Vrrp {
            instances: Vec::new(),
            sync_groups: Vec::new(),
            scripts: Vec::new(),
            version: DEFAULT_VRRP_VERSION,
            router_id: None,
            strict: false,
            skip_check_adv_addr: false,
            garp_interval: Duration::ZERO,
            gna_interval: Duration::ZERO,
            script_user: None,
            enable_script_security: false,
        }
    }
}

impl Vrrp {
    /// The instance called `name`.
    pub fn instance(&self, name: &str) -> Option<&VrrpInstance> {
        self.instances.iter().find(|i| i.name == name)
    }

    /// The script called `name`.
    pub fn script(&self, name: &str) -> Option<&VrrpScript> {
        self.scripts.iter().find(|s| s.name == name)
    }

    /// The sync group `instance` belongs to, if any.
    pub fn sync_group_of(&self, instance: &str) -> Option<&SyncGroup> {
        self.sync_groups.iter().find(|g| g.group.iter().any(|m| m == instance))
    }
}

/// A user and, optionally, a group to run a script as (`USER [GROUP]`; the group
/// defaults to the user's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunAs {
    pub user: String,
    pub group: Option<String>,
}

impl fmt::Display for RunAs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.group {
            Some(g) => write!(f, "{} {g}", self.user),
            None => f.write_str(&self.user),
        }
    }
}

/// A notify script: the line to run and who runs it (`None`: `script_user`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyScript {
    pub script: String,
    pub user: Option<RunAs>,
}

/// The notify scripts of an instance or a sync group. `notify` runs on every
/// transition, after the specific one, with keepalived's four extra arguments
/// (`GROUP|INSTANCE`, the name, the new state, the priority).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Notifies {
    pub master: Option<NotifyScript>,
    pub backup: Option<NotifyScript>,
    pub fault: Option<NotifyScript>,
    /// Run when VRRP stops.
    pub stop: Option<NotifyScript>,
    pub notify: Option<NotifyScript>,
}

impl Notifies {
    /// The keywords, as keepalived and the xvs TOML spell them, in print order.
    pub const KEYS: [&'static str; 5] = ["notify_master", "notify_backup", "notify_fault", "notify_stop", "notify"];

    /// The script of `key` (one of [`Notifies::KEYS`]).
    pub fn slot(&mut self, key: &str) -> Option<&mut Option<NotifyScript>> {
        Some(match key {
            "notify_master" => &mut self.master,
            "notify_backup" => &mut self.backup,
            "notify_fault" => &mut self.fault,
            "notify_stop" => &mut self.stop,
            "notify" => &mut self.notify,
            _ => return None,
        })
    }

    /// (key, script) for every script that is set, in [`Notifies::KEYS`] order.
    pub fn set(&self) -> Vec<(&'static str, &NotifyScript)> {
        let all = [&self.master, &self.backup, &self.fault, &self.stop, &self.notify];
        Self::KEYS.iter().zip(all).filter_map(|(k, s)| s.as_ref().map(|s| (*k, s))).collect()
    }
}

/// `authentication { auth_type PASS auth_pass ... }` (VRRPv2 only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Auth {
    pub kind: AuthType,
    /// At most [`AUTH_PASS_MAX`] characters, as keepalived sends it.
    pub pass: String,
}

/// One `virtual_ipaddress` entry: `ADDR[/LEN] [dev IF] [label LABEL]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualAddress {
    pub addr: IpAddr,
    /// 32 / 128 when the file gives none, as keepalived does.
    pub prefix_len: u8,
    /// The interface it is added to; `None`: the instance's.
    pub dev: Option<String>,
    pub label: Option<String>,
}

impl VirtualAddress {
    /// `addr` alone (/32 or /128, on the instance's interface).
    pub fn single(addr: IpAddr) -> VirtualAddress {
        VirtualAddress { addr, prefix_len: full_prefix(addr), dev: None, label: None }
    }
}

impl fmt::Display for VirtualAddress {
    /// keepalived's syntax with the prefix always written: `10.0.1.100/24 dev eth0 label eth0:1`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)?;
        if let Some(d) = &self.dev {
            write!(f, " dev {d}")?;
        }
        if let Some(l) = &self.label {
            write!(f, " label {l}")?;
        }
        Ok(())
    }
}

/// One `track_interface` entry: the instance goes to FAULT when it is down (weight 0),
/// or its priority moves by `weight` (added while up when positive, subtracted while down
/// when negative).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackInterface {
    pub name: String,
    pub weight: i32,
}

impl fmt::Display for TrackInterface {
    /// keepalived's syntax: `eth1` or `eth1 weight -20`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if self.weight != 0 {
            write!(f, " weight {}", self.weight)?;
        }
        Ok(())
    }
}

/// One `track_script` entry; `weight: None` = the script's own weight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackScript {
    pub name: String,
    pub weight: Option<i32>,
}

impl fmt::Display for TrackScript {
    /// keepalived's syntax: `chk_web` or `chk_web weight 20`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some(w) = self.weight {
            write!(f, " weight {w}")?;
        }
        Ok(())
    }
}

/// `vrrp_instance NAME { ... }` / `[[vrrp]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct VrrpInstance {
    pub name: String,
    pub state: VrrpState,
    /// `None` only for a unicast instance with `unicast_src_ip`, as keepalived allows.
    pub interface: Option<String>,
    /// 1..=255; 0 = not given (an error).
    pub virtual_router_id: u8,
    /// 1..=255; 255 = address owner.
    pub priority: u8,
    /// Whole seconds under VRRPv2 (1..=255), centiseconds under VRRPv3 (0.01..=40.95).
    pub advert_int: Duration,
    /// 2 or 3.
    pub version: u8,
    /// keepalived's `strict_mode` (default: `vrrp_strict`).
    pub strict: bool,
    pub skip_check_adv_addr: bool,
    /// Accept mode: whether a MASTER that is not the address owner takes packets for the
    /// virtual addresses (keepalived's `accept` / `no_accept`).
    pub accept: bool,
    pub authentication: Option<Auth>,
    pub virtual_ipaddress: Vec<VirtualAddress>,
    pub virtual_ipaddress_excluded: Vec<VirtualAddress>,
    pub nopreempt: bool,
    /// 0..=1000 s.
    pub preempt_delay: Duration,
    /// Do not go to FAULT when the instance's own interface goes down.
    pub dont_track_primary: bool,
    /// The adverts' source address (keepalived's `unicast_src_ip` or `mcast_src_ip`,
    /// one setting); `None` = the interface's primary address.
    pub unicast_src_ip: Option<IpAddr>,
    /// Empty = multicast (224.0.0.18 / ff02::12).
    pub unicast_peer: Vec<IpAddr>,
    pub track_interface: Vec<TrackInterface>,
    pub track_script: Vec<TrackScript>,
    pub notify: Notifies,
    /// Seconds until the second burst of gratuitous ARPs after becoming MASTER (0 = none).
    pub garp_master_delay: u32,
    /// Gratuitous ARPs per burst.
    pub garp_master_repeat: u32,
    /// Seconds between refresh bursts while MASTER (0 = none).
    pub garp_master_refresh: u32,
}

impl VrrpInstance {
    /// An instance with keepalived's defaults and no addresses.
    pub fn new(name: impl Into<String>) -> VrrpInstance {
        VrrpInstance {
            name: name.into(),
            state: VrrpState::Backup,
            interface: None,
            virtual_router_id: 0,
            priority: DEFAULT_PRIORITY,
            advert_int: DEFAULT_ADVERT_INT,
            version: DEFAULT_VRRP_VERSION,
            strict: false,
            skip_check_adv_addr: false,
            accept: true,
            authentication: None,
            virtual_ipaddress: Vec::new(),
            virtual_ipaddress_excluded: Vec::new(),
            nopreempt: false,
            preempt_delay: Duration::ZERO,
            dont_track_primary: false,
            unicast_src_ip: None,
            unicast_peer: Vec::new(),
            track_interface: Vec::new(),
            track_script: Vec::new(),
            notify: Notifies::default(),
            garp_master_delay: DEFAULT_GARP_MASTER_DELAY,
            garp_master_repeat: DEFAULT_GARP_MASTER_REPEAT,
            garp_master_refresh: DEFAULT_GARP_MASTER_REFRESH,
        }
    }

    /// Whether the instance is IPv6: its first virtual address is (or, with none, its
    /// source address or first peer is), as keepalived decides.
    pub fn is_ipv6(&self) -> bool {
        let first = self.virtual_ipaddress.first().map(|a| a.addr);
        first.or(self.unicast_src_ip).or(self.unicast_peer.first().copied()).is_some_and(|a| a.is_ipv6())
    }

    /// Whether adverts go to unicast peers rather than the multicast group.
    pub fn is_unicast(&self) -> bool {
        !self.unicast_peer.is_empty()
    }

    /// Whether it is the address owner (priority 255).
    pub fn is_owner(&self) -> bool {
        self.priority == OWNER_PRIORITY
    }
}

/// Which of an instance's values the file gave, for the defaults that depend on others.
#[derive(Debug, Clone, Copy, Default)]
pub struct Given {
    pub state: bool,
    pub priority: bool,
    pub version: bool,
    pub strict: bool,
    pub skip_check_adv_addr: bool,
    pub accept: bool,
    pub garp_master_delay: bool,
    pub garp_master_repeat: bool,
    pub garp_master_refresh: bool,
}

/// The instance defaults `global_defs` sets (keepalived's `vrrp_garp_master_*` too).
#[derive(Debug, Clone, Copy)]
pub struct InstanceDefaults {
    pub version: u8,
    pub strict: bool,
    pub skip_check_adv_addr: bool,
    pub garp_master_delay: u32,
    pub garp_master_repeat: u32,
    pub garp_master_refresh: u32,
}

impl InstanceDefaults {
    /// The defaults a `Vrrp`'s global settings give (keepalived's for the rest).
    pub fn of(v: &Vrrp) -> InstanceDefaults {
        InstanceDefaults {
            version: v.version,
            strict: v.strict,
            skip_check_adv_addr: v.skip_check_adv_addr,
            garp_master_delay: DEFAULT_GARP_MASTER_DELAY,
            garp_master_repeat: DEFAULT_GARP_MASTER_REPEAT,
            garp_master_refresh: DEFAULT_GARP_MASTER_REFRESH,
        }
    }
}

impl VrrpInstance {
    /// Fills what the file left unset as keepalived 2.2.7 does (`vrrp_complete_instance`):
    /// priority from the state (MASTER: 255) and the state from the priority (255:
    /// MASTER); the version from the family, then the global one; the global defaults;
    /// accept mode from ownership and strictness.
    pub fn fill_defaults(&mut self, given: Given, d: &InstanceDefaults) {
        if !given.priority {
            self.priority =
                if given.state && self.state == VrrpState::Master { OWNER_PRIORITY } else { DEFAULT_PRIORITY };
        }
        if !given.state {
            self.state = if self.is_owner() { VrrpState::Master } else { VrrpState::Backup };
        }
        if !given.version {
            self.version = if self.is_ipv6() { 3 } else { d.version };
        }
        if !given.strict {
            self.strict = d.strict;
        }
        if !given.skip_check_adv_addr {
            self.skip_check_adv_addr = d.skip_check_adv_addr;
        }
        if !given.accept {
            self.accept = self.is_owner() || !self.strict;
        }
        if !given.garp_master_delay {
            self.garp_master_delay = d.garp_master_delay;
        }
        if !given.garp_master_repeat {
            self.garp_master_repeat = d.garp_master_repeat;
        }
        if !given.garp_master_refresh {
            self.garp_master_refresh = d.garp_master_refresh;
        }
    }
}

/// `vrrp_sync_group NAME { group { ... } }` / `[[vrrp_sync_group]]`: instances that
/// change state together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncGroup {
    pub name: String,
    /// Instance names.
    pub group: Vec<String>,
    pub notify: Notifies,
}

/// `vrrp_script NAME { ... }` / `[[vrrp_script]]`: a check whose result instances track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VrrpScript {
    pub name: String,
    /// The line to run.
    pub script: String,
    /// Seconds between runs (keepalived's default 1).
    pub interval: u32,
    /// Seconds a run may take (keepalived's default: the interval).
    pub timeout: u32,
    /// -253..=253; 0 = a failure is a FAULT, not a priority change.
    pub weight: i32,
    /// Successes in a row for OK, failures in a row for KO (keepalived's default 1).
    pub rise: u32,
    pub fall: u32,
    /// `None`: `script_user`.
    pub user: Option<RunAs>,
    /// Start as failed rather than OK.
    pub init_fail: bool,
}

impl VrrpScript {
    /// A script with keepalived's defaults.
    pub fn new(name: impl Into<String>, script: impl Into<String>) -> VrrpScript {
        VrrpScript {
            name: name.into(),
            script: script.into(),
            interval: 1,
            timeout: 1,
            weight: 0,
            rise: 1,
            fall: 1,
            user: None,
            init_fail: false,
        }
    }
}

/// Seconds with up to six decimals, for printing durations (`1`, `0.25`, `0.000001`).
pub fn format_seconds(d: Duration) -> String {
    let micros = d.as_micros();
    let (whole, frac) = (micros / 1_000_000, micros % 1_000_000);
    if frac == 0 {
        return whole.to_string();
    }
    let frac = format!("{frac:06}");
    format!("{whole}.{}", frac.trim_end_matches('0'))
}
