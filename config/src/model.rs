//! The configuration model: plain data shared by every reader (xvs TOML,
//! keepalived.conf, ipvsadm-save) and by the `xvs` binary.
//!
//! Invariants:
//! - A `Config` returned by [`crate::load`] / [`crate::parse_toml`] has passed
//!   [`crate::validate`]: every value is in range and every cross-field rule holds.
//! - Every default is resolved: there is no "unset" apart from the `Option` fields,
//!   whose `None` has a documented meaning (e.g. `cores: None` = all cores).
//! - `Real::forward` is resolved (the per-real override or the service's `forward`),
//!   and `Real::addr` always carries a port (the service port when the file omitted it).
//! - Types here do no I/O and no parsing; syntax helpers live in `syntax.rs`.
//! - The VRRP part is in [`vrrp`] (`model/vrrp.rs`), re-exported here.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;

/// Default `control_socket`.
pub const DEFAULT_CONTROL_SOCKET: &str = "/run/xvs.sock";
/// Default `max_connections`.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 2_000_000;
/// Default `verify_packets` (IPVS's `drop_entry` spares connections past 8 packets).
pub const DEFAULT_VERIFY_PACKETS: u8 = 8;
/// Default `mh_table_size` (IPVS uses 4093).
pub const DEFAULT_MH_TABLE_SIZE: u32 = 65537;
/// Default scheduler (ipvsadm's default).
pub const DEFAULT_SCHEDULER: &str = "wlc";
/// Allowed range of every timeout, seconds.
pub const TIMEOUT_RANGE: std::ops::RangeInclusive<u32> = 1..=2_000_000;
/// Allowed range of `mtu`.
pub const MTU_RANGE: std::ops::RangeInclusive<u16> = 576..=9216;
/// Largest real weight IPVS accepts.
pub const MAX_WEIGHT: u32 = 65535;

/// The whole configuration of one director.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Config {
    pub director: Director,
    pub timeouts: Timeouts,
    pub services: Vec<Service>,
    pub neighbors: Vec<Neighbor>,
    /// VRRP instances, sync groups, scripts and their global settings (empty: none).
    pub vrrp: Vrrp,
    /// Connection sync (`[sync]`, keepalived's `lvs_sync_daemon`).
    pub sync: Sync,
    /// What each firewall mark stands for (`[[fwmark]]`; see [`fwmark`]).
    pub fwmarks: Vec<Fwmark>,
}

/// `[director]`: process-wide settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Director {
    /// Poll-loop cores; `None` = all.
    pub cores: Option<Vec<usize>>,
    /// AF_XDP ports; `None` = every non-loopback interface that is up.
    pub interfaces: Option<Vec<String>>,
    pub xdp_mode: XdpMode,
    pub poll: PollMode,
    pub control_socket: PathBuf,
    /// Prometheus text endpoint; `None` = off.
    pub metrics: Option<SocketAddr>,
    pub max_connections: u32,
    pub manage_vips: bool,
    pub vip_device: String,
    /// DIP (tunnel source); `None` = the egress interface's primary address.
    pub address: Option<Ipv4Addr>,
    pub address6: Option<Ipv6Addr>,
    /// Egress MTU; `None` = the interface's.
    pub mtu: Option<u16>,
    pub expire_nodest_conn: bool,
    pub expire_quiescent_template: bool,
    /// A DR/TUN connection is verified after more than this many requests (README
    /// "Defences").
    pub verify_packets: u8,
    pub seed: u64,
}

impl Default for Director {
    fn default() -> Self {
        Director {
            cores: None,
            interfaces: None,
            xdp_mode: XdpMode::Auto,
            poll: PollMode::Busy,
            control_socket: PathBuf::from(DEFAULT_CONTROL_SOCKET),
            metrics: None,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            manage_vips: true,
            vip_device: "lo".to_string(),
            address: None,
            address6: None,
            mtu: None,
            expire_nodest_conn: false,
            expire_quiescent_template: false,
            verify_packets: DEFAULT_VERIFY_PACKETS,
            seed: 0,
        }
    }
}

/// `[timeouts]`, seconds (ipvsadm --set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeouts {
    pub tcp: u32,
    pub tcp_fin: u32,
    pub udp: u32,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts { tcp: 900, tcp_fin: 120, udp: 300 }
    }
}

/// Declares a keyword enum with its config spelling.
macro_rules! keyword_enum {
    ($(#[$m:meta])* $name:ident { $($var:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($var),+ }

        impl $name {
            /// Every accepted spelling, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($s),+];

            /// The config spelling.
            pub fn name(self) -> &'static str {
                match self { $($name::$var => $s),+ }
            }

            /// Parses the config spelling (exact, lower case).
            pub fn from_name(s: &str) -> Option<Self> {
                match s { $($s => Some($name::$var),)+ _ => None }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

keyword_enum!(
    /// How the XDP steering program is attached.
    XdpMode { Auto = "auto", Native = "native", Generic = "generic" }
);
keyword_enum!(
    /// Poll-loop behaviour when rings are empty.
    PollMode { Busy = "busy", Adaptive = "adaptive" }
);
keyword_enum!(
    /// Service protocol.
    Protocol { Tcp = "tcp", Udp = "udp", Sctp = "sctp" }
);
keyword_enum!(
    /// Forwarding method (ipvsadm -m / -g / -i).
    Forward { Nat = "nat", Dr = "dr", Tun = "tun" }
);
/// A virtual address: one address (`prefix_len` 32 / 128) or a prefix, plus a port
/// (0 = every port).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Vip {
    pub addr: IpAddr,
    pub prefix_len: u8,
    pub port: u16,
}

impl Vip {
    /// A single-address VIP.
    pub fn single(addr: IpAddr, port: u16) -> Vip {
        Vip { addr, prefix_len: full_prefix(addr), port }
    }

    /// True when this VIP is a prefix rather than one address.
    pub fn is_prefix(&self) -> bool {
        self.prefix_len != full_prefix(self.addr)
    }
}

/// 32 for IPv4, 128 for IPv6.
pub fn full_prefix(addr: IpAddr) -> u8 {
    match addr {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

impl fmt::Display for Vip {
    /// The config syntax: `10.0.1.100:80`, `[2001:db8::1]:80`, `203.0.113.0/24:80`,
    /// `[2001:db8::/64]:80`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let prefix = if self.is_prefix() { format!("/{}", self.prefix_len) } else { String::new() };
        match self.addr {
            IpAddr::V4(a) => write!(f, "{a}{prefix}:{}", self.port),
            IpAddr::V6(a) => write!(f, "[{a}{prefix}]:{}", self.port),
        }
    }
}

/// ipvsadm -b flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SchedulerFlags {
    pub sh_fallback: bool,
    pub sh_port: bool,
    pub mh_fallback: bool,
    pub mh_port: bool,
}

impl SchedulerFlags {
    /// Every flag name, as ipvsadm spells it.
    pub const NAMES: [&'static str; 4] = ["sh-fallback", "sh-port", "mh-fallback", "mh-port"];

    /// Sets the flag called `name`; false when the name is unknown.
    pub fn set(&mut self, name: &str) -> bool {
        match name {
            "sh-fallback" => self.sh_fallback = true,
            "sh-port" => self.sh_port = true,
            "mh-fallback" => self.mh_fallback = true,
            "mh-port" => self.mh_port = true,
            _ => return false,
        }
        true
    }

    /// The names of the flags that are set, in `NAMES` order.
    pub fn names(&self) -> Vec<&'static str> {
        let on = [self.sh_fallback, self.sh_port, self.mh_fallback, self.mh_port];
        Self::NAMES.iter().zip(on).filter(|(_, on)| *on).map(|(n, _)| *n).collect()
    }

    /// True if any sh-* flag is set.
    pub fn any_sh(&self) -> bool {
        self.sh_fallback || self.sh_port
    }

    /// True if any mh-* flag is set.
    pub fn any_mh(&self) -> bool {
        self.mh_fallback || self.mh_port
    }
}

/// `[[service]]`: one virtual service (protocol, VIP, port).
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub vip: Vip,
    pub protocol: Protocol,
    /// One of [`xvs_sched::SCHEDULER_NAMES`].
    pub scheduler: String,
    pub scheduler_flags: SchedulerFlags,
    /// Maglev table size; prime.
    pub mh_table_size: u32,
    /// One-packet scheduling (UDP only).
    pub ops: bool,
    /// Persistence timeout, seconds; 0 = off.
    pub persistence: u32,
    /// Client prefix length grouped by a persistence template.
    pub persistence_netmask: u8,
    /// The default forwarding method of the reals.
    pub forward: Forward,
    /// The default tunnel of its TUN reals (and of a tunnelled sorry server).
    pub tunnel: Tunnel,
    /// Seconds between health checks.
    pub delay_loop: u32,
    pub sorry_server: Option<SocketAddr>,
    /// The sorry server's forwarding method (keepalived `sorry_server_lvs_method`);
    /// `None`: the service's `forward`.
    pub sorry_forward: Option<Forward>,
    /// Persistent clients stay on the sorry server after the reals come back, until their
    /// template expires (keepalived `sorry_server_inhibit`: the sorry server is kept at
    /// weight 0 instead of removed).
    pub sorry_inhibit: bool,
    /// keepalived `alpha`: every real starts as down until its first check passes.
    pub alpha: bool,
    /// keepalived `quorum`: the minimum total weight of live reals for the service to
    /// be up (below it the sorry server, if any, takes over); at least 1.
    pub quorum: u32,
    /// keepalived `hysteresis`: weight units of tolerance around `quorum` (a flap damper).
    pub hysteresis: u32,
    /// Run when the service gains / loses its quorum (keepalived `quorum_up`,
    /// `quorum_down`); empty: nothing.
    pub quorum_up: Option<NotifyScript>,
    pub quorum_down: Option<NotifyScript>,
    /// At shutdown, run `quorum_down` if the quorum is up and each up real's
    /// `notify_down` (keepalived `omega`).
    pub omega: bool,
    /// Sources that may start connections (empty: all); checked on the packet path.
    pub allow: Vec<SourcePrefix>,
    /// Sources that may not, whatever `allow` says.
    pub deny: Vec<SourcePrefix>,
    pub reals: Vec<Real>,
    /// A firewall-mark service (keepalived `virtual_server fwmark N`, ipvsadm `-f N`): it
    /// takes the traffic of the `[[fwmark]]` entries of this mark; `vip` and `protocol`
    /// then mean nothing (see [`fwmark`]).
    pub fwmark: Option<u32>,
}

/// A source prefix of `allow`/`deny`: a network address (host bits zero) and its length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SourcePrefix {
    pub addr: IpAddr,
    pub len: u8,
}

impl fmt::Display for SourcePrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// Most prefixes in one `allow` or `deny` list (each is looked at per new connection).
pub const MAX_SOURCE_PREFIXES: usize = 1024;

impl Service {
    /// A service with every default applied and no reals.
    pub fn new(vip: Vip, protocol: Protocol) -> Service {
        Service {
            vip,
            protocol,
            scheduler: DEFAULT_SCHEDULER.to_string(),
            scheduler_flags: SchedulerFlags::default(),
            mh_table_size: DEFAULT_MH_TABLE_SIZE,
            ops: false,
            persistence: 0,
            persistence_netmask: full_prefix(vip.addr),
            forward: Forward::Dr,
            tunnel: Tunnel::default(),
            delay_loop: 6,
            sorry_server: None,
            sorry_forward: None,
            sorry_inhibit: false,
            alpha: false,
            quorum: 1,
            hysteresis: 0,
            quorum_up: None,
            quorum_down: None,
            omega: false,
            allow: Vec::new(),
            deny: Vec::new(),
            reals: Vec::new(),
            fwmark: None,
        }
    }
}

/// `[[service.real]]`: one real server of a service.
#[derive(Debug, Clone, PartialEq)]
pub struct Real {
    pub addr: SocketAddr,
    /// 0 = quiesced; at most [`MAX_WEIGHT`].
    pub weight: u32,
    /// Resolved forwarding method.
    pub forward: Forward,
    /// Resolved tunnel (the real's, else the service's); meaningful with `Tun`.
    pub tunnel: Tunnel,
    /// 0 = no limit.
    pub upper_threshold: u32,
    pub lower_threshold: u32,
    pub inhibit_on_failure: bool,
    /// Health checks: all must pass for the real to be up (keepalived's rule).
    pub checks: Vec<Check>,
    /// Run when its checks bring it up / take it down (keepalived `notify_up`,
    /// `notify_down`); empty: nothing.
    pub notify_up: Option<NotifyScript>,
    pub notify_down: Option<NotifyScript>,
}

impl Real {
    /// A real with every default applied.
    pub fn new(addr: SocketAddr, forward: Forward) -> Real {
        Real {
            addr,
            weight: 1,
            forward,
            tunnel: Tunnel::default(),
            upper_threshold: 0,
            lower_threshold: 0,
            inhibit_on_failure: false,
            checks: Vec::new(),
            notify_up: None,
            notify_down: None,
        }
    }
}

/// `[[neighbor]]`: a static next hop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Neighbor {
    pub ip: IpAddr,
    pub mac: [u8; 6],
    /// The gateway for any address without its own entry.
    pub default: bool,
}

/// Formats a MAC as `02:00:00:00:02:11`.
pub fn format_mac(mac: &[u8; 6]) -> String {
    mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

mod check;
pub mod fwmark;
mod sync;
mod tunnel;
mod vrrp;
pub use check::*;
pub use fwmark::{fwmark_vip, parse_port_range, Fwmark};
pub use sync::*;
pub use tunnel::{Tunnel, TunnelCsum, TunnelType};
pub use vrrp::*;
