//! Fuzz the whole pipeline: arbitrary frames (split from the input) through an engine
//! with NAT, DR and TUN services over both families, a tiny table (eviction) and time
//! moving by the input's own bytes. Must never panic, and the verdict accounting holds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xvs_engine::{Engine, EngineConfig, Forward, FrameBuf, NeighborSpec, RealSpec, ServiceSpec, Verdict};
use xvs_sched::SchedConfig;

fn service(vip: &str, port: u16, proto: u8, sched: &str, fwd: Forward, reals: &[&str], persistence: u32) -> ServiceSpec {
    let vip: std::net::IpAddr = vip.parse().unwrap();
    ServiceSpec {
        vip,
        prefix_len: if vip.is_ipv4() { 32 } else { 128 },
        port,
        proto,
        scheduler: sched.into(),
        sched: SchedConfig::default(),
        ops: false,
        persistence,
        persistence_netmask: if vip.is_ipv4() { 24 } else { 64 },
        sorry_server: None,
        sources: Default::default(),
        reals: reals
            .iter()
            .map(|r| RealSpec {
                addr: r.parse().unwrap(),
                port: if fwd == Forward::Nat { 8080 } else { port },
                weight: 1,
                forward: fwd,
                upper_threshold: 0,
                lower_threshold: 0,
            })
            .collect(),
    }
}

fn engine() -> Engine {
    let cfg = EngineConfig {
        max_connections: 16,
        address4: Some("10.0.2.1".parse().unwrap()),
        address6: Some("2001:db8:2::1".parse().unwrap()),
        services: vec![
            service("10.0.1.100", 80, 6, "wlc", Forward::Nat, &["10.0.2.11", "10.0.2.12"], 0),
            service("10.0.1.100", 53, 17, "rr", Forward::Tun, &["10.0.2.11"], 0),
            service("10.0.1.100", 443, 6, "sh", Forward::Dr, &["10.0.2.12"], 300),
            service("2001:db8:1::100", 80, 6, "mh", Forward::Nat, &["2001:db8:2::11"], 0),
            service("2001:db8:1::100", 53, 17, "rr", Forward::Tun, &["2001:db8:2::11"], 0),
        ],
        neighbors: vec![NeighborSpec { ip: "0.0.0.0".parse().unwrap(), mac: [2, 0, 0, 0, 2, 1], default: true, port: None }, NeighborSpec {
            ip: "::".parse().unwrap(),
            mac: [2, 0, 0, 0, 6, 1],
            default: true,
            port: None,
        }],
        ..EngineConfig::default()
    };
    Engine::new(cfg, 0).unwrap()
}

fuzz_target!(|data: &[u8]| {
    let mut e = engine();
    let mut now = 0u64;
    // Frames are separated by 0xA5 bytes; each frame's first byte advances time.
    for chunk in data.split(|b| *b == 0xA5).take(64) {
        let (dt, frame) = chunk.split_first().map(|(d, f)| (*d as u64, f)).unwrap_or((0, chunk));
        now += dt * 500_000_000;
        let mut fb = [FrameBuf::from_bytes(frame)];
        let mut v = [Verdict::Pass];
        e.handle_batch(&mut fb, now, &mut v);
    }
    let s = e.stats();
    assert_eq!(s.rx, s.tx + s.passed + s.dropped());
});
