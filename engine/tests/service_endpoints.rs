//! The endpoint sets behind `ServiceTable::is_service` (asked of every frame with several
//! poll cores, to tell a frame's client) answer what the full lookup answers, for every
//! shape of service: exact and port-0 services of both families, and with prefix and
//! fwmark services beside them (where it defers to the lookup).

mod common;

use std::net::IpAddr;

use common::*;
use proptest::prelude::*;
use xvs_engine::{Engine, Forward, MarkRule};

/// Addresses services and probes are drawn from: four IPv4, four IPv6.
fn addr(i: u8) -> IpAddr {
    let i = i % 8;
    if i < 4 {
        IpAddr::from([10, 0, 0, i])
    } else {
        IpAddr::from([0x2001, 0xdb8, 0, 0, 0, 0, 0, u16::from(i)])
    }
}

const PORTS: [u16; 3] = [0, 80, 443];

proptest! {
    #[test]
    fn is_service_agrees_with_the_lookup(
        services in prop::collection::vec((0u8..8, 0usize..3, any::<bool>()), 1..8),
        extra in 0u8..3,
        probes in prop::collection::vec((0u8..8, 0usize..3, any::<bool>(), 0u16..3), 1..40),
    ) {
        let mut specs = Vec::new();
        for &(a, p, tcp) in &services {
            let (vip, port, proto) = (addr(a), PORTS[p], if tcp { TCP } else { UDP });
            if specs.iter().any(|s: &xvs_engine::ServiceSpec| s.vip == vip && s.port == port && s.proto == proto) {
                continue;
            }
            let r = real(if vip.is_ipv4() { rip(false, 0) } else { rip(true, 0) }, port, 1, Forward::Dr);
            specs.push(service(vip, port, proto, "rr", vec![r]));
        }
        if extra == 1 {
            // A prefix VIP: 10.0.0.0/30 port 443.
            let mut s = service(IpAddr::from([10, 0, 0, 0]), 443, TCP, "rr", vec![real(rip(false, 1), 443, 1, Forward::Dr)]);
            s.prefix_len = 30;
            specs.push(s);
        } else if extra == 2 {
            // An fwmark service covering 10.0.0.2 ports 80-81.
            let mut s = service(IpAddr::from([0, 0, 0, 0]), 0, TCP, "rr", vec![real(rip(false, 1), 0, 1, Forward::Dr)]);
            s.fwmark = 7;
            s.marks = vec![MarkRule { proto: TCP, net: addr(2), len: 32, lo: 80, hi: 81 }];
            specs.push(s);
        }
        let engine = Engine::new(config(specs), 0);
        prop_assume!(engine.is_ok());
        let engine = engine.unwrap();
        let svcs = engine.services();
        for &(a, p, tcp, port) in &probes {
            let (dst, proto, dport) = (addr(a), if tcp { TCP } else { UDP }, PORTS[p] + port);
            let want = svcs.lookup(proto, dst, dport).is_some();
            let got = match dst {
                IpAddr::V4(v) => svcs.is_service(proto, u32::from(v), dport),
                IpAddr::V6(v) => svcs.is_service(proto, u128::from(v), dport),
            };
            prop_assert_eq!(got, want, "{:?} {}:{}", proto, dst, dport);
        }
    }
}
