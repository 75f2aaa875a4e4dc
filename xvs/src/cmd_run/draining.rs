//! Reals that a reload removed while they still carry connections (IPVS keeps such dests
//! in its trash).
//!
//! Invariant: the engine forwards a removed real's connections until they end; the
//! control plane keeps their NAT replies steered up and their next hops resolved until
//! the engine shows none of their connections left.

use std::net::IpAddr;

use xvs_datapath::snapshot::Snapshot;
use xvs_engine::{EngineConfig, Forward};

use crate::nexthop;

/// A real as the steering maps and next hops know it: address, port, protocol, forward.
type RealKey = (IpAddr, u16, u8, Forward);

fn config_reals(cfg: &EngineConfig) -> Vec<RealKey> {
    cfg.services
        .iter()
        .flat_map(|s| s.reals.iter().chain(s.sorry_server.iter()).map(move |r| (r.addr, r.port, s.proto, r.forward)))
        .collect()
}

/// The removed reals still draining.
#[derive(Clone, Debug, Default)]
pub(super) struct Draining {
    pub reals: Vec<RealKey>,
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
        self.reals.len() != before
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
}
