//! Reals and services that a reload (or `ctl`) removed while they still carry connections
//! (IPVS keeps such dests in its trash).
//!
//! Invariants: the engine forwards a removed real's connections until they end; the
//! control plane keeps their NAT replies steered up and their next hops resolved until
//! the engine shows none of their connections left. A removed service's endpoint stays
//! steered (and its VIP on the device) for as long: its connections' packets reach the
//! engine, and its other packets are dropped there (`service_removed`), never handed to
//! the kernel, which would answer them with resets.

use std::net::IpAddr;

use xvs_datapath::snapshot::Snapshot;
use xvs_engine::{EngineConfig, Forward, ServiceKey};

use crate::nexthop;

/// A real as the steering maps and next hops know it: address, port, protocol, forward.
type RealKey = (IpAddr, u16, u8, Forward);

fn config_reals(cfg: &EngineConfig) -> Vec<RealKey> {
    cfg.services
        .iter()
        .flat_map(|s| {
            // A fwmark service's reals answer over each protocol its marks cover.
            let protos: Vec<u8> = if s.fwmark == 0 { vec![s.proto] } else { s.marks.iter().map(|m| m.proto).collect() };
            s.reals
                .iter()
                .chain(s.sorry_server.iter())
                .flat_map(move |r| protos.clone().into_iter().map(move |p| (r.addr, r.port, p, r.forward)))
        })
        .collect()
}

/// What the steering maps hold for a service: VIP, prefix length, port, protocol.
pub(super) type ServiceEnd = (IpAddr, u8, u16, u8);

/// Each service by its engine key, with what steers its traffic (a fwmark service's
/// destinations and ports).
fn config_services(cfg: &EngineConfig) -> Vec<(ServiceKey, Vec<ServiceEnd>)> {
    cfg.services.iter().map(|s| (s.key(), crate::steering::steered_endpoints(s))).collect()
}

/// The removed reals and services still draining.
#[derive(Clone, Debug, Default)]
pub(super) struct Draining {
    pub reals: Vec<RealKey>,
    pub services: Vec<(ServiceKey, Vec<ServiceEnd>)>,
}

impl Draining {
    /// A reload from `old` to `new`: the reals `old` had and `new` has not start
    /// draining; reals `new` has again stop.
    pub fn reload(&mut self, old: &EngineConfig, new: &EngineConfig) {
        let now = config_reals(new);
        for r in config_reals(old) {
            if !self.reals.contains(&r) {
                self.reals.push(r);
            }
        }
        self.reals.retain(|r| !now.contains(r));
        let now = config_services(new);
        for s in config_services(old) {
            if !self.services.contains(&s) {
                self.services.push(s);
            }
        }
        self.services.retain(|s| !now.contains(s));
    }

    /// Whether nothing drains.
    pub fn is_empty(&self) -> bool {
        self.reals.is_empty() && self.services.is_empty()
    }

    /// Forget the reals without connections left, going by `snap`; only entries the
    /// snapshot shows removed count (so a snapshot from before the reload forgets nothing).
    /// True when something was forgotten.
    pub fn prune(&mut self, snap: &Snapshot) -> bool {
        let before = self.reals.len();
        self.reals.retain(|&(addr, port, proto, _)| {
            let slots: Vec<_> = snap
                .reals
                .iter()
                .filter(|r| r.key.addr == addr && r.key.port == port && r.key.service.proto == proto)
                .collect();
            slots.is_empty() || slots.iter().any(|r| r.available || r.active + r.inactive > 0)
        });
        let services_before = self.services.len();
        // A service drains while one of its reals (all kept in the snapshot) is available
        // (a snapshot from before the reload) or has connections.
        self.services.retain(|(key, _)| {
            snap.reals.iter().any(|r| r.key.service == *key && (r.available || r.active + r.inactive > 0))
        });
        self.reals.len() != before || self.services.len() != services_before
    }

    /// The VIPs of the draining single-address services (they stay on the device).
    pub fn vips(&self) -> Vec<IpAddr> {
        let mut v: Vec<IpAddr> =
            self.ends().into_iter().filter(|s| s.1 == if s.0.is_ipv4() { 32 } else { 128 }).map(|s| s.0).collect();
        v.sort();
        v.dedup();
        v
    }

    /// What keeps the draining services' traffic steered.
    pub fn ends(&self) -> Vec<ServiceEnd> {
        self.services.iter().flat_map(|(_, ends)| ends.iter().copied()).collect()
    }

    pub fn nat(&self) -> Vec<(IpAddr, u16, u8)> {
        self.reals.iter().filter(|r| r.3 == Forward::Nat).map(|r| (r.0, r.1, r.2)).collect()
    }

    /// The addresses to resolve next hops for: `cfg`'s reals and the draining ones.
    pub fn with_addresses(&self, cfg: &EngineConfig) -> Vec<IpAddr> {
        let mut v = nexthop::real_addresses(cfg);
        v.extend(self.reals.iter().map(|r| r.0));
        v
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use xvs::engine_config::engine_config;
    use xvs_datapath::snapshot::snapshot_reals;
    use xvs_engine::Engine;

    use super::*;

    fn cfg(reals: &[&str]) -> EngineConfig {
        let mut text = String::from("[[service]]\nvip = \"10.0.1.100:80\"\nforward = \"nat\"\n");
        for r in reals {
            text.push_str(&format!("[[service.real]]\naddr = \"{r}\"\n"));
        }
        engine_config(&xvs_config::parse_str(&text, "test.toml").expect("config"))
    }

    /// The reals of an engine started with `first` and reloaded with `now`, with one
    /// connection on each real in `busy`.
    fn snapshot(first: &EngineConfig, now: &EngineConfig, busy: &[&str]) -> Snapshot {
        let mut engine = Engine::new(first.clone(), 0).unwrap();
        engine.apply(now.clone()).unwrap();
        let mut snap = Snapshot { reals: snapshot_reals(engine.services()), ..Snapshot::default() };
        for r in &mut snap.reals {
            if busy.contains(&SocketAddr::new(r.key.addr, r.key.port).to_string().as_str()) {
                r.inactive = 1;
            }
        }
        snap
    }

    #[test]
    fn removed_reals_drain_until_their_connections_end() {
        let a = cfg(&["10.0.2.11:8080", "10.0.2.12:8080", "10.0.2.13:8080"]);
        let b = cfg(&["10.0.2.11:8080", "10.0.2.12:8080"]);
        let mut d = Draining::default();
        d.reload(&a, &b);
        let gone: IpAddr = "10.0.2.13".parse().unwrap();
        assert_eq!(d.nat(), vec![(gone, 8080, 6)]);
        assert_eq!(d.with_addresses(&b).len(), 3, "its next hop stays resolved");
        // A snapshot from before the reload shows it available: kept.
        assert!(!d.prune(&snapshot(&a, &a, &[])));
        // Removed, with a connection: kept; without: forgotten.
        assert!(!d.prune(&snapshot(&a, &b, &["10.0.2.13:8080"])));
        assert!(d.prune(&snapshot(&a, &b, &[])));
        assert!(d.nat().is_empty());
        // Re-added by a later reload: no longer draining.
        d.reload(&a, &b);
        d.reload(&b, &a);
        assert!(d.reals.is_empty());
    }

    #[test]
    fn removed_services_drain_until_their_connections_end() {
        let a = cfg(&["10.0.2.11:8080", "10.0.2.12:8080"]);
        let none = engine_config(&xvs_config::parse_str("", "empty.toml").expect("config"));
        let mut d = Draining::default();
        d.reload(&a, &none);
        let vip: IpAddr = "10.0.1.100".parse().unwrap();
        assert_eq!(d.ends(), vec![(vip, 32, 80, 6)]);
        assert_eq!(d.vips(), vec![vip], "its VIP stays on the device");
        assert!(!d.prune(&snapshot(&a, &a, &[])), "a snapshot from before the reload keeps it");
        d.prune(&snapshot(&a, &none, &["10.0.2.12:8080"]));
        assert_eq!(d.services.len(), 1, "a connection keeps it");
        assert_eq!(d.nat().len(), 1, "and its real, not the idle one");
        assert!(d.prune(&snapshot(&a, &none, &[])));
        assert!(d.is_empty());
        // Removed and configured again: not draining.
        d.reload(&a, &none);
        d.reload(&none, &a);
        assert!(d.services.is_empty());
    }
}
