//! What the engine is configured with: plain data built by the control plane (from the
//! config crate's model) and handed to [`crate::Engine::apply`].
//!
//! Invariants: the control plane has validated these (families match, ports only remapped
//! for NAT, prime mh table sizes); the engine re-checks only what would make it misbehave
//! and reports it as an [`crate::EngineError`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub use xvs_proto::Mac;
pub use xvs_sched::{SchedConfig, SchedFlags};

use crate::tcp_state::Timeouts;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Forward {
    Nat,
    Dr,
    Tun,
}

impl Forward {
    pub fn name(self) -> &'static str {
        match self {
            Forward::Nat => "Masq",
            Forward::Dr => "Route",
            Forward::Tun => "Tunnel",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct RealSpec {
    pub addr: IpAddr,
    /// 0 on a port-0 service: the client's destination port is kept.
    pub port: u16,
    pub weight: u32,
    pub forward: Forward,
    pub upper_threshold: u32,
    pub lower_threshold: u32,
    /// With `Forward::Tun`: what wraps the packet after the outer IP header (IPIP, GUE,
    /// GRE); ignored otherwise.
    pub tunnel: xvs_proto::Encap,
}

impl RealSpec {
    /// A real of weight 1, without thresholds, tunnelled (with `Tun`) by IPIP.
    pub fn new(addr: IpAddr, port: u16, forward: Forward) -> RealSpec {
        RealSpec {
            addr,
            port,
            weight: 1,
            forward,
            upper_threshold: 0,
            lower_threshold: 0,
            tunnel: xvs_proto::Encap::Ipip,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ServiceSpec {
    pub vip: IpAddr,
    /// 32 / 128 for a single address; shorter for a prefix VIP.
    pub prefix_len: u8,
    /// 0 = every port (persistent services only).
    pub port: u16,
    /// IP protocol number: 6 or 17.
    pub proto: u8,
    pub scheduler: String,
    pub sched: SchedConfig,
    /// One-packet scheduling (UDP).
    pub ops: bool,
    /// Persistence timeout in seconds; 0 = off.
    pub persistence: u32,
    pub persistence_netmask: u8,
    pub sorry_server: Option<RealSpec>,
    /// Persistence templates to the sorry server stay valid once the reals are back
    /// (keepalived `sorry_server_inhibit`); without it they lapse then, as IPVS drops them
    /// when keepalived removes the sorry server.
    pub sorry_inhibit: bool,
    pub reals: Vec<RealSpec>,
    /// Who may start connections (`allow`/`deny`).
    pub sources: crate::filter::SourceFilter,
    /// A firewall-mark service (0: none): it takes the traffic `marks` cover, and `vip`
    /// is the unspecified address of its family, `prefix_len` and `port` 0.
    pub fwmark: u32,
    pub marks: Vec<MarkRule>,
}

impl ServiceSpec {
    /// A service of `proto` at `vip:port` (a single address) scheduled by `scheduler`
    /// over `reals`: no persistence, no sorry server, no source filter.
    pub fn new(vip: IpAddr, port: u16, proto: u8, scheduler: &str, reals: Vec<RealSpec>) -> ServiceSpec {
        let host = if vip.is_ipv4() { 32 } else { 128 };
        ServiceSpec {
            vip,
            prefix_len: host,
            port,
            proto,
            scheduler: scheduler.into(),
            sched: Default::default(),
            ops: false,
            persistence: 0,
            persistence_netmask: host,
            sorry_server: None,
            sorry_inhibit: false,
            fwmark: 0,
            marks: Vec::new(),
            reals,
            sources: Default::default(),
        }
    }
}

/// Traffic of a fwmark service: `proto` to `net/len`, destination ports `lo..=hi`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MarkRule {
    pub proto: u8,
    pub net: IpAddr,
    pub len: u8,
    pub lo: u16,
    pub hi: u16,
}

impl MarkRule {
    /// Whether a packet of `proto` to `dst:dport` is covered.
    #[inline]
    pub fn covers(&self, proto: u8, dst: IpAddr, dport: u16) -> bool {
        self.proto == proto
            && (self.lo..=self.hi).contains(&dport)
            && dst.is_ipv4() == self.net.is_ipv4()
            && crate::family::mask_ip(dst, self.len) == self.net
    }
}

impl ServiceSpec {
    /// The service's key (see [`crate::ids::ServiceKey`]).
    pub fn key(&self) -> crate::ids::ServiceKey {
        crate::ids::ServiceKey {
            proto: self.proto,
            vip: self.vip,
            prefix_len: self.prefix_len,
            port: self.port,
            fwmark: self.fwmark,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NeighborSpec {
    pub ip: IpAddr,
    pub mac: Mac,
    pub default: bool,
    /// The port (interface) packets toward `ip` leave on; `None`: the port the packet
    /// arrived on (a one-armed director, or replay).
    pub port: Option<u16>,
    /// A next hop toward clients only, never a real's (the kernel's default gateway: a
    /// real without a neighbour entry of its own is a `neighbor_miss`, not the router's).
    pub clients_only: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct EngineConfig {
    /// Connection table capacity (IPv4 and IPv6 together), preallocated.
    pub max_connections: u32,
    pub timeouts: Timeouts,
    pub expire_nodest_conn: bool,
    pub expire_quiescent_template: bool,
    /// A DR/TUN connection is verified after more than this many requests (README
    /// "Defences"; IPVS's `drop_entry` uses 8).
    pub verify_packets: u8,
    /// Egress MTU for the "fragmentation needed" / "packet too big" check.
    pub mtu: u16,
    /// Tunnel source addresses (the DIP).
    pub address4: Option<Ipv4Addr>,
    pub address6: Option<Ipv6Addr>,
    /// Expiry steps (wheel pops) every batch may take, beyond one per connection bound
    /// since the previous batch (creation and expiry keep pace): what drains a backlog,
    /// such as a mass expiry, a few connections per batch while traffic flows (an idle
    /// poll loop reaps with it too, as often as it polls, and does not sleep while a
    /// backlog waits).
    ///
    /// Default 4: a batch of 64 established NAT packets while a million connections
    /// expire then takes about 1.3 times the mean of the others (8: 1.6; `xvs-bench ratios
    /// --only expiry`), and the million drain in about 1.3 s of full load.
    pub expiry_budget: u32,
    pub services: Vec<ServiceSpec>,
    pub neighbors: Vec<NeighborSpec>,
    /// The director's own MAC on each port (index = port number). Where a port's MAC is
    /// not known, frames leaving on the port they arrived on take the arriving frame's
    /// destination MAC as their source.
    pub port_macs: Vec<Mac>,
    /// When connections are synced (IPVS's sync sysctls).
    pub sync: crate::sync::SyncParams,
    /// The seed of the flow, template and fragment hashes: read once, when the engine is
    /// made (a reload keeps the engine's). `xvs run` draws it from the OS per process, so
    /// nobody can compute colliding keys offline; replay, tests and the bench keep the
    /// default, so their output and instruction counts repeat.
    pub hash_seed: u64,
    /// VIPs on standby: their services take no new connection (dropped, `standby`) while
    /// their connections, synced ones included, go on (a VRRP BACKUP's).
    pub standby: Vec<IpAddr>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            max_connections: 2_000_000,
            timeouts: Timeouts::default(),
            expire_nodest_conn: false,
            expire_quiescent_template: false,
            verify_packets: 8,
            mtu: 1500,
            address4: None,
            address6: None,
            expiry_budget: 4,
            services: Vec::new(),
            neighbors: Vec::new(),
            port_macs: Vec::new(),
            sync: crate::sync::SyncParams::default(),
            standby: Vec::new(),
            hash_seed: 0,
        }
    }
}
