//! An engine's limits are checked before anything changes (issue "Hardening", item 6):
//! service ids are never reused, so the services an engine can have had over its life are
//! bounded; a reload past the bound fails whole and the running services stay.

mod common;

use std::net::{IpAddr, Ipv4Addr};

use common::*;
use xvs_engine::services::MAX_SERVICES;
use xvs_engine::{EngineConfig, Forward, Verdict};

/// `n` services on VIPs 10.<base>.x.y port 80, one real each.
fn services(base: u8, n: usize) -> EngineConfig {
    let svcs = (0..n)
        .map(|i| {
            let vip = IpAddr::V4(Ipv4Addr::new(10, base, (i >> 8) as u8, i as u8));
            service(vip, 80, TCP, "rr", vec![real(rip(false, 0), 80, 1, Forward::Dr)])
        })
        .collect();
    config(svcs)
}

#[test]
fn a_reload_past_the_services_an_engine_can_have_had_fails_whole() {
    let mut lb = Lb::new(services(1, 40_000));
    let first: IpAddr = "10.1.0.0".parse().unwrap();
    let e = lb.e.apply(services(2, 30_000)).unwrap_err().to_string();
    assert!(e.contains(&format!("at most {MAX_SERVICES}")), "{e}");
    // Nothing changed: the first configuration still serves.
    assert_eq!(lb.e.services().services.len(), 40_000);
    let v = lb.verdict(&tcp(sa(cip(false, 0), 1000), sa(first, 80), SYN), 1);
    assert_eq!(v, Verdict::Tx { port: 0 });
    // Within the bound, a reload that replaces them all is taken.
    lb.e.apply(services(3, 25_000)).unwrap();
    assert_eq!(lb.e.services().services.len(), 65_000);
}
