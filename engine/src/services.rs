//! The live service set: services, their reals with stable ids, the schedulers, and the
//! lookup from a packet's (protocol, destination, port) to a service.
//!
//! Invariants:
//! - Real ids are indices into `reals` and are never reused: a connection keeps its real
//!   id across reloads; a real removed by a reload stays (unavailable) so its established
//!   connections keep forwarding (IPVS keeps removed dests in its trash for the same reason).
//! - Service ids are indices into `services`; a service removed by a reload stays, with no
//!   reals to schedule and out of the lookup, so its connections run out.
//! - Lookup order: the traffic of fwmark services (IPVS looks for a marked packet's
//!   service first), then exact (protocol, address, port), then (protocol, address,
//!   port 0), then prefix VIPs by decreasing prefix length, first with the port, then
//!   port 0.
//! - Schedulers see only available reals with their current weights; `update` runs here,
//!   on the slow path, never per packet.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use xvs_proto::Mac;
use xvs_sched::{new_scheduler, Dest, DestCounters, Scheduler};

use crate::endpoints::Endpoints;
use crate::family::{mask_ip, Family};
use crate::ids::{RealId, RealKey, ServiceId, ServiceKey};
use crate::spec::{EngineConfig, Forward, MarkRule, NeighborSpec, RealSpec, ServiceSpec};
use crate::stats::Counters;
use crate::EngineError;

/// Services an engine can have had over its life (ids are `u16` and never reused).
pub const MAX_SERVICES: usize = u16::MAX as usize;

#[derive(Debug)]
pub struct RealSlot {
    pub addr: IpAddr,
    pub port: u16,
    pub forward: Forward,
    /// How a TUN real's packets are wrapped (see [`RealSpec::tunnel`]).
    pub tunnel: xvs_proto::Encap,
    pub weight: u32,
    pub upper_threshold: u32,
    pub lower_threshold: u32,
    /// Director-wide active/inactive/persistent counts, shared with the scheduler.
    pub counters: Arc<DestCounters>,
    pub stats: Counters,
    /// Next-hop MAC toward this real (its own, or the default gateway's).
    pub mac: Option<Mac>,
    /// The port toward this real (`None`: the port the packet arrived on).
    pub egress: Option<u16>,
    /// False once removed by a reload.
    pub available: bool,
    pub service: ServiceId,
    pub is_sorry: bool,
}

impl RealSlot {
    /// The port to send to: a port-0 real keeps the client's destination port.
    #[inline]
    pub fn port_for(&self, vport: u16) -> u16 {
        if self.port == 0 {
            vport
        } else {
            self.port
        }
    }
}

#[derive(Debug)]
pub struct ServiceSlot {
    pub spec: ServiceSpec,
    pub key: ServiceKey,
    /// Real ids of the scheduler's dests, in the same order as `dests`.
    pub dest_ids: Vec<RealId>,
    pub dests: Vec<Dest>,
    /// Every real id of the service, available or not.
    pub real_ids: Vec<RealId>,
    pub sorry: Option<RealId>,
    pub scheduler: Box<dyn Scheduler>,
    /// A TCP segment other than a SYN may start a connection (IPVS's sloppy_tcp, where it
    /// is safe): the scheduler maps a flow to the same real every time (sh, dh, mh) and
    /// there is no persistence. Decided when the service is applied, not per packet.
    pub resumes_mid_stream: bool,
    pub live: bool,
    /// Takes no new connection (`EngineConfig::standby`).
    pub standby: bool,
}

#[derive(Debug, Default)]
pub struct ServiceTable {
    pub services: Vec<ServiceSlot>,
    pub reals: Vec<RealSlot>,
    /// Per-real counters shared with the engines of the other poll cores, so that
    /// lc/wlc/sed/nq/ovf/twos and the thresholds see director-wide counts.
    pub shared: SharedCounters,
    /// Single-address services by (proto, address, port), per family.
    exact_v4: Endpoints<u32>,
    exact_v6: Endpoints<u128>,
    /// (proto, network, prefix_len, port, service), longest prefix first.
    prefixes: Vec<(u8, IpAddr, u8, u16, ServiceId)>,
    /// The traffic of fwmark services, in configuration order (the first that covers a
    /// packet takes it).
    marked: Vec<(MarkRule, ServiceId)>,
    /// Every service ever applied, by key (so a reload finds its slot in O(1)).
    by_key: HashMap<ServiceKey, ServiceId>,
    /// Every real ever made, by (service, address, port, sorry).
    real_by_key: HashMap<(ServiceId, IpAddr, u16, bool), RealId>,
}

/// The per-real counters of a whole director, by [`RealKey`]:
/// every poll core's engine takes its reals' counters from here (on the slow path), so a
/// real's active and inactive counts are the director's, not one core's.
#[derive(Clone, Debug, Default)]
pub struct SharedCounters(Arc<std::sync::Mutex<HashMap<RealKey, Arc<DestCounters>>>>);

impl SharedCounters {
    fn get(&self, key: RealKey) -> Arc<DestCounters> {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        m.entry(key).or_default().clone()
    }
}

/// The next hop toward real `ip`: its own entry, else a configured default gateway of its
/// family (never a clients-only one).
pub fn next_hop(neighbors: &[NeighborSpec], ip: IpAddr) -> Option<&NeighborSpec> {
    let real = neighbors.iter().filter(|n| !n.clients_only);
    real.clone().find(|n| n.ip == ip).or_else(|| real.clone().find(|n| n.default && n.ip.is_ipv4() == ip.is_ipv4()))
}

/// The next hop toward client `ip`: its own entry, else a default one (the kernel's
/// default gateway included).
pub fn client_hop(neighbors: &[NeighborSpec], ip: IpAddr) -> Option<&NeighborSpec> {
    neighbors
        .iter()
        .find(|n| n.ip == ip)
        .or_else(|| neighbors.iter().find(|n| n.default && n.ip.is_ipv4() == ip.is_ipv4()))
}

/// What `apply` checks before it changes anything: every scheduler builds (returned, in
/// the order of `cfg.services`), reals are of their service's family, and a tunnel real
/// has a director address of its family for the outer header.
fn check(cfg: &EngineConfig) -> Result<Vec<Box<dyn Scheduler>>, EngineError> {
    let mut schedulers = Vec::with_capacity(cfg.services.len());
    for s in &cfg.services {
        let sched = new_scheduler(&s.scheduler, &s.sched)
            .map_err(|e| EngineError::Scheduler { service: format!("{}:{}", s.vip, s.port), source: e })?;
        schedulers.push(sched);
    }
    for s in &cfg.services {
        for r in s.reals.iter().chain(s.sorry_server.iter()) {
            // A tunnel carries either family in either (IPVS's mixed-family TUN).
            if r.addr.is_ipv4() != s.vip.is_ipv4() && r.forward != Forward::Tun {
                return Err(EngineError::Invalid(format!(
                    "service {}:{}: real {} is of the other address family",
                    s.vip, s.port, r.addr
                )));
            }
            let have_source = if r.addr.is_ipv4() { cfg.address4.is_some() } else { cfg.address6.is_some() };
            if r.forward == Forward::Tun && !have_source {
                return Err(EngineError::Invalid(format!(
                    "service {}:{}: real {} uses tun, which needs the director's own address \
                     for the outer header: set [director] address{}",
                    s.vip,
                    s.port,
                    r.addr,
                    if r.addr.is_ipv4() { "" } else { "6" }
                )));
            }
        }
    }
    Ok(schedulers)
}

/// Whether scheduler `name` maps a flow to the same real every time it is asked (a
/// consistent hash of the flow), so a connection can be picked up mid-stream.
fn maps_flows_stably(name: &str) -> bool {
    matches!(name, "sh" | "dh" | "mh")
}

fn host_len(ip: IpAddr) -> u8 {
    if ip.is_ipv4() {
        32
    } else {
        128
    }
}

/// `table[ServiceId]` and `table[RealId]`: the slots by their typed ids.
macro_rules! index_by_id {
    ($id:ty => $field:ident: $slot:ty) => {
        impl std::ops::Index<$id> for ServiceTable {
            type Output = $slot;
            #[inline]
            fn index(&self, id: $id) -> &$slot {
                &self.$field[id.index()]
            }
        }
        impl std::ops::IndexMut<$id> for ServiceTable {
            #[inline]
            fn index_mut(&mut self, id: $id) -> &mut $slot {
                &mut self.$field[id.index()]
            }
        }
    };
}
index_by_id!(ServiceId => services: ServiceSlot);
index_by_id!(RealId => reals: RealSlot);

impl ServiceTable {
    /// An empty table whose reals take their counters from `shared`.
    pub fn with_shared(shared: SharedCounters) -> ServiceTable {
        ServiceTable { shared, ..ServiceTable::default() }
    }

    /// The service for a packet to `dst:dport` over `proto`.
    #[inline]
    pub fn lookup(&self, proto: u8, dst: IpAddr, dport: u16) -> Option<ServiceId> {
        // IPVS looks for a marked packet's fwmark service first.
        if !self.marked.is_empty() {
            if let Some(&(_, s)) = self.marked.iter().find(|(m, _)| m.covers(proto, dst, dport)) {
                return Some(s);
            }
        }
        if let Some(s) = self.exact(proto, dst, dport).or_else(|| self.exact(proto, dst, 0)) {
            return Some(s);
        }
        if self.prefixes.is_empty() {
            return None;
        }
        for &(p, net, len, port, svc) in &self.prefixes {
            if p == proto && (port == dport || port == 0) && net.is_ipv4() == dst.is_ipv4() && mask_ip(dst, len) == net
            {
                return Some(svc);
            }
        }
        None
    }

    /// `lookup(proto, dst, dport).is_some()` for `dst` of family `A`, at a fraction of its
    /// cost when every service is a plain address (no fwmark or prefix service): with
    /// several poll cores it is asked of every frame, to tell the client's end
    /// (`Engine::client_of`).
    #[inline]
    pub fn is_service<A: Family>(&self, proto: u8, dst: A, dport: u16) -> bool {
        if !self.marked.is_empty() || !self.prefixes.is_empty() {
            return self.lookup(proto, dst.to_ip(), dport).is_some();
        }
        let (lo, hi) = dst.words();
        if A::WIDE {
            let a = u128::from(hi) << 64 | u128::from(lo);
            self.exact_v6.get(proto, a, dport).or_else(|| self.exact_v6.get(proto, a, 0)).is_some()
        } else {
            let a = lo as u32;
            self.exact_v4.get(proto, a, dport).or_else(|| self.exact_v4.get(proto, a, 0)).is_some()
        }
    }

    /// The single-address service at exactly `proto`, `dst`, `port`.
    #[inline]
    fn exact(&self, proto: u8, dst: IpAddr, port: u16) -> Option<ServiceId> {
        match dst {
            IpAddr::V4(a) => self.exact_v4.get(proto, u32::from(a), port),
            IpAddr::V6(a) => self.exact_v6.get(proto, u128::from(a), port),
        }
    }

    /// Whether `dst:dport` of `proto` is (or is covered by a port-0 service at) the
    /// endpoint of a single-address service that is configured no longer. Its traffic is
    /// steered here only while its connections drain (the control plane's `draining`):
    /// packets without a connection are dropped then, never handed to the kernel, whose
    /// answer would be a reset.
    pub fn is_retired(&self, proto: u8, dst: IpAddr, dport: u16) -> bool {
        let full = if dst.is_ipv4() { 32 } else { 128 };
        [dport, 0].iter().any(|&port| {
            self.by_key
                .get(&ServiceKey { proto, vip: dst, prefix_len: full, port, fwmark: 0 })
                .is_some_and(|&sid| !self.services[sid.index()].live)
        })
    }

    /// The live fwmark service of `mark` and family (sync: IPVS names a marked
    /// connection's service by its mark).
    pub fn by_mark(&self, mark: u32, v6: bool) -> Option<ServiceId> {
        let key = ServiceKey {
            proto: 0,
            vip: if v6 {
                IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)
            } else {
                IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)
            },
            prefix_len: 0,
            port: 0,
            fwmark: mark,
        };
        self.by_key.get(&key).copied().filter(|s| self.services[s.index()].live)
    }

    /// Whether `addr` is the address of a live single-address service.
    pub fn is_vip_addr(&self, addr: IpAddr) -> bool {
        self.services.iter().any(|s| s.live && s.spec.vip == addr)
    }

    /// Whether some service lists `addr:port` as a real (slow path: classifying strays).
    pub fn is_real_endpoint(&self, addr: IpAddr) -> bool {
        self.reals.iter().any(|r| r.available && r.addr == addr)
    }

    /// Replace the live configuration with `cfg`, keeping ids (and so established
    /// connections, counters and scheduler state) of services and reals that stay.
    pub fn apply(&mut self, cfg: &EngineConfig) -> Result<(), EngineError> {
        // Build everything that can fail first, so an error leaves the table as it was.
        let schedulers = check(cfg)?;
        let new = cfg.services.iter().filter(|s| !self.by_key.contains_key(&s.key())).count();
        if self.services.len() + new > MAX_SERVICES {
            return Err(EngineError::Invalid(format!(
                "{} services over the engine's life (every service ever configured keeps its id), at most {MAX_SERVICES}: restart xvs to start afresh",
                self.services.len() + new
            )));
        }
        for svc in &mut self.services {
            svc.live = false;
        }
        for r in &mut self.reals {
            r.available = false;
        }
        let mut exact = Vec::new();
        let mut prefixes = Vec::new();
        let mut marked = Vec::new();
        for (spec, sched) in cfg.services.iter().zip(schedulers) {
            let id = self.apply_service(spec, sched, &cfg.neighbors)?;
            if spec.fwmark != 0 {
                // Standby while the director does not hold the addresses it covers.
                self[id].standby = spec.marks.iter().any(|m| cfg.standby.contains(&m.net));
                marked.extend(spec.marks.iter().map(|m| (*m, id)));
                continue;
            }
            self[id].standby = cfg.standby.contains(&spec.vip);
            if spec.prefix_len == host_len(spec.vip) {
                exact.push(((spec.proto, spec.vip, spec.port), id));
            } else {
                prefixes.push((spec.proto, mask_ip(spec.vip, spec.prefix_len), spec.prefix_len, spec.port, id));
            }
        }
        prefixes.sort_by(|a, b| b.2.cmp(&a.2).then(b.3.cmp(&a.3)));
        self.exact_v4 = Endpoints::new(
            exact.iter().filter_map(|&((proto, a, port), id)| Some(((proto, u32::from_ip(a)?, port), id))),
        );
        self.exact_v6 = Endpoints::new(
            exact.iter().filter_map(|&((proto, a, port), id)| Some(((proto, u128::from_ip(a)?, port), id))),
        );
        self.prefixes = prefixes;
        self.marked = marked;
        for sid in 0..self.services.len() {
            self.rebuild_dests(ServiceId(sid as u16));
        }
        Ok(())
    }

    /// Make `spec` live: its slot (kept if the service exists, else new, with `sched`),
    /// its reals and sorry server, its scheduler (rebuilt if its kind or options changed).
    fn apply_service(
        &mut self,
        spec: &ServiceSpec,
        sched: Box<dyn Scheduler>,
        neighbors: &[NeighborSpec],
    ) -> Result<ServiceId, EngineError> {
        let key = spec.key();
        let sid = match self.by_key.get(&key) {
            Some(i) => i.index(),
            None => {
                self.by_key.insert(key, ServiceId(self.services.len() as u16));
                self.services.push(ServiceSlot {
                    spec: spec.clone(),
                    key,
                    dest_ids: Vec::new(),
                    dests: Vec::new(),
                    real_ids: Vec::new(),
                    sorry: None,
                    scheduler: sched,
                    resumes_mid_stream: false,
                    live: true,
                    standby: false,
                });
                self.services.len() - 1
            }
        };
        let id = ServiceId(sid as u16);
        let neighbor = |ip: IpAddr| next_hop(neighbors, ip).copied();
        let mut real_ids = Vec::with_capacity(spec.reals.len());
        for r in &spec.reals {
            real_ids.push(self.upsert_real(id, r, false, neighbor(r.addr)));
        }
        let sorry = spec.sorry_server.as_ref().map(|r| self.upsert_real(id, r, true, neighbor(r.addr)));
        let svc = &mut self[id];
        let sched_changed = svc.spec.scheduler != spec.scheduler || svc.spec.sched != spec.sched;
        if sched_changed {
            svc.scheduler = new_scheduler(&spec.scheduler, &spec.sched).expect("checked above");
        }
        svc.spec = spec.clone();
        svc.resumes_mid_stream = spec.persistence == 0 && maps_flows_stably(&spec.scheduler);
        svc.live = true;
        svc.sorry = sorry;
        for rid in &real_ids {
            if !svc.real_ids.contains(rid) {
                svc.real_ids.push(*rid);
            }
        }
        svc.dest_ids = real_ids;
        Ok(id)
    }

    /// Service `sid`'s counters: the sum of its reals' (its sorry server, reals a reload
    /// removed and reals installed by sync included). Every packet and connection is
    /// counted once, in the real it went to, and a real slot belongs to one service for
    /// the engine's life, so a service needs no copy of its own updated per packet (as
    /// `xvs ctl` and the metrics already add a service's figures up from its reals).
    pub fn service_stats(&self, sid: ServiceId) -> Counters {
        let mut sum = Counters::default();
        for r in self.reals.iter().filter(|r| r.service == sid) {
            sum += r.stats;
        }
        sum
    }

    /// New next hops (from the kernel's neighbour table): only the reals' MACs change.
    pub fn set_neighbors(&mut self, neighbors: &[NeighborSpec]) {
        for r in &mut self.reals {
            let hop = next_hop(neighbors, r.addr);
            r.mac = hop.map(|n| n.mac);
            r.egress = hop.and_then(|n| n.port);
        }
    }

    /// The real of service `sid` (configured or not, not the sorry server) that a
    /// connection to `vport` reaches at `addr`:`dport` (slow path: sync).
    pub fn real_of(&self, sid: ServiceId, addr: IpAddr, vport: u16, dport: u16) -> Option<RealId> {
        let matches = |r: &RealSlot| r.service == sid && !r.is_sorry && r.addr == addr && r.port_for(vport) == dport;
        let svc = &self[sid];
        if let Some(&rid) = svc.real_ids.iter().find(|&&rid| matches(&self[rid])) {
            return Some(rid);
        }
        [dport, 0]
            .iter()
            .find_map(|&p| self.real_by_key.get(&(sid, addr, p, false)).copied())
            .filter(|&r| matches(&self[r]))
    }

    /// A real of service `sid` this director does not have, for connections a sync master
    /// sent (IPVS installs them without a dest): unavailable to the scheduler, not listed
    /// with the service, forwarding by `forward` to `addr`:`port`. A reload that
    /// configures the same real makes it a normal one.
    pub fn add_unbound_real(
        &mut self,
        sid: ServiceId,
        addr: IpAddr,
        port: u16,
        forward: Forward,
        hop: Option<NeighborSpec>,
    ) -> RealId {
        self.reals.push(RealSlot {
            addr,
            port,
            forward,
            // IPVS's sync does not carry the tunnel type: IPIP until a reload configures it.
            tunnel: xvs_proto::Encap::Ipip,
            weight: 0,
            upper_threshold: 0,
            lower_threshold: 0,
            counters: self.shared.get(RealKey { service: self[sid].key, addr, port, sorry: false }),
            stats: Counters::default(),
            mac: hop.map(|n| n.mac),
            egress: hop.and_then(|n| n.port),
            available: false,
            service: sid,
            is_sorry: false,
        });
        let rid = RealId((self.reals.len() - 1) as u32);
        self.real_by_key.insert((sid, addr, port, false), rid);
        rid
    }

    fn upsert_real(&mut self, service: ServiceId, r: &RealSpec, is_sorry: bool, hop: Option<NeighborSpec>) -> RealId {
        let mac = hop.map(|n| n.mac);
        let egress = hop.and_then(|n| n.port);
        let key = (service, r.addr, r.port, is_sorry);
        let id = match self.real_by_key.get(&key) {
            Some(i) => i.index(),
            None => {
                self.real_by_key.insert(key, RealId(self.reals.len() as u32));
                self.reals.push(RealSlot {
                    addr: r.addr,
                    port: r.port,
                    forward: r.forward,
                    tunnel: r.tunnel,
                    weight: r.weight,
                    upper_threshold: r.upper_threshold,
                    lower_threshold: r.lower_threshold,
                    counters: self.shared.get(RealKey {
                        service: self[service].key,
                        addr: r.addr,
                        port: r.port,
                        sorry: is_sorry,
                    }),
                    stats: Counters::default(),
                    mac,
                    egress,
                    available: true,
                    service,
                    is_sorry,
                });
                self.reals.len() - 1
            }
        };
        let slot = &mut self.reals[id];
        slot.forward = r.forward;
        slot.tunnel = r.tunnel;
        slot.weight = r.weight;
        slot.upper_threshold = r.upper_threshold;
        slot.lower_threshold = r.lower_threshold;
        slot.mac = mac;
        slot.egress = egress;
        slot.available = true;
        RealId(id as u32)
    }

    /// Rebuild a service's scheduler view from its available reals (slow path).
    pub fn rebuild_dests(&mut self, sid: ServiceId) {
        let svc = &mut self.services[sid.index()];
        if !svc.live {
            svc.dest_ids.clear();
        }
        svc.dest_ids.retain(|&id| self.reals[id.index()].available);
        svc.dests = svc
            .dest_ids
            .iter()
            .map(|&id| {
                let r = &self.reals[id.index()];
                Dest {
                    addr: r.addr,
                    port: r.port,
                    weight: r.weight,
                    upper_threshold: r.upper_threshold,
                    lower_threshold: r.lower_threshold,
                    counters: r.counters.clone(),
                }
            })
            .collect();
        svc.scheduler.update(&svc.dests);
    }
}
