//! Hash flooding (README "Defences"): the hash seed is an input of the engine, and keys
//! an attacker computed to collide cost a bounded lookup: past the probe bound they are
//! refused (`hash_probe_limit`) while other flows go on as before.

mod common;

use std::net::SocketAddr;

use common::*;
use xvs_engine::{DropReason, Engine, Forward, Verdict, MAX_PROBE};

const TX: Verdict = Verdict::Tx { port: 0 };

fn vip80() -> SocketAddr {
    sa(vip4(), 80)
}

/// The first `n` clients whose keys' home slot is `slot`, searched in order.
fn colliding(e: &Engine, slot: usize, n: usize) -> Vec<SocketAddr> {
    (0u32..)
        .map(|i| sa(cip(false, i / 50_000), 1024 + (i % 50_000) as u16))
        .filter(|c| e.flow_home_slot(TCP, *c, vip80()) == Some(slot))
        .take(n)
        .collect()
}

#[test]
fn colliding_keys_are_refused_past_the_bound_and_others_go_on() {
    let mut cfg = simple(false, TCP, 80, 80, Forward::Dr, "rr", 2);
    cfg.max_connections = 4096;
    let mut lb = Lb::new(cfg);
    let bad = colliding(&lb.e, 5, MAX_PROBE + 50);
    let mut admitted = 0;
    for c in &bad {
        if lb.verdict(&tcp(*c, vip80(), SYN), 0) == TX {
            admitted += 1;
        }
    }
    assert!(admitted <= MAX_PROBE, "{admitted} colliding keys admitted");
    assert!(admitted >= MAX_PROBE - 8, "the window before the bound is used: {admitted}");
    assert_eq!(lb.drops(DropReason::HashProbeLimit), (bad.len() - admitted) as u64);
    // Every admitted one is found again (its ACK is forwarded).
    for c in bad.iter().take(admitted) {
        assert_eq!(lb.verdict(&tcp(*c, vip80(), ACK), 1), TX);
    }
    // Flows elsewhere in the index are not affected.
    for i in 0..500u32 {
        let c = sa(cip(false, 900_000 + i), 2000);
        if lb.e.flow_home_slot(TCP, c, vip80()).is_some_and(|s| s.abs_diff(5) > 2 * MAX_PROBE) {
            assert_eq!(lb.verdict(&tcp(c, vip80(), SYN), 2), TX);
        }
    }
    // Expiry of everything leaves an empty, working table.
    lb.tick(10_000_000);
    while lb.e.expiry_pending() {
        lb.tick(10_000_000);
    }
    assert_eq!(lb.e.live_connections(), 0);
    assert_eq!(lb.verdict(&tcp(bad[MAX_PROBE + 10], vip80(), SYN), 10_000_001), TX);
}

#[test]
fn the_seed_decides_where_keys_land() {
    let with_seed = |seed: u64| {
        let mut cfg = simple(false, TCP, 80, 80, Forward::Dr, "rr", 1);
        cfg.hash_seed = seed;
        Engine::new(cfg, 0).unwrap()
    };
    let (a, a2, b) = (with_seed(1), with_seed(1), with_seed(2));
    let clients: Vec<SocketAddr> = (0..200).map(|i| sa(cip(false, i), 4000)).collect();
    let homes = |e: &Engine| clients.iter().map(|c| e.flow_home_slot(TCP, *c, vip80())).collect::<Vec<_>>();
    assert_eq!(homes(&a), homes(&a2), "one seed, one layout: replay repeats");
    let same = homes(&a).iter().zip(homes(&b)).filter(|(x, y)| **x == *y).count();
    assert!(same < 5, "another seed, another layout ({same} of 200 alike)");
    // A reload does not change the seed (the index would be lost).
    let mut r = with_seed(1);
    let mut cfg = r.config().clone();
    cfg.hash_seed = 2;
    r.apply(cfg).unwrap();
    assert_eq!(homes(&r), homes(&a));
}
