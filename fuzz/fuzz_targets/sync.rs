//! The IPVS sync message reader: a datagram is taken whole or dropped with a reason; every
//! entry of a taken one is a connection or a skip; what is taken installs into an engine
//! without breaking its accounting.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xvs_engine::{Engine, EngineConfig, Forward, RealSpec, ServiceSpec};
use xvs_proto::ipvs_sync::{SyncEntry, SyncMessage};

fn engine() -> Engine {
    let svc = |vip: &str, port, proto, persistence| ServiceSpec {
        vip: vip.parse().unwrap(),
        prefix_len: if vip.contains(':') { 128 } else { 32 },
        port,
        proto,
        scheduler: "wrr".into(),
        sched: Default::default(),
        ops: false,
        persistence,
        persistence_netmask: if vip.contains(':') { 128 } else { 32 },
        sorry_server: None,
        sorry_inhibit: false,
        fwmark: 0,
        marks: Vec::new(),
        reals: vec![RealSpec {
            addr: if vip.contains(':') { "2001:db8:2::11".parse().unwrap() } else { "10.0.2.11".parse().unwrap() },
            port,
            weight: 1,
            forward: Forward::Dr,
            upper_threshold: 0,
            lower_threshold: 0,
            tunnel: Default::default(),
        }],
        sources: Default::default(),
    };
    let cfg = EngineConfig {
        max_connections: 64,
        services: vec![svc("10.0.1.100", 80, 6, 0), svc("10.0.1.100", 53, 17, 300), svc("2001:db8:1::100", 80, 6, 0)],
        ..EngineConfig::default()
    };
    Engine::new(cfg, 0).unwrap()
}

fuzz_target!(|data: &[u8]| {
    let Some((&syncid, msg)) = data.split_first() else { return };
    match SyncMessage::parse(msg, syncid) {
        Ok(m) => {
            let mut e = engine();
            for (i, entry) in m.entries().enumerate() {
                if let SyncEntry::Conn(c) = entry {
                    e.handle_sync(&c, i as u64 * 1_000_000);
                }
            }
            assert_eq!(e.live_connections() as usize, e.connections().len());
        }
        Err(err) => {
            let _ = err.reason();
        }
    }
});
