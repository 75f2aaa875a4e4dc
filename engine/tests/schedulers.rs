//! Schedulers as the pipeline drives them: the order of reals over new connections (wrr
//! 4,3,2 -> A A B A B C A B C), one-packet scheduling for UDP (every datagram scheduled
//! on its own, no connection entry), the engine's active/inactive counts feeding wlc,
//! upper thresholds (ipvsadm -x) marking a real overloaded and clearing it as its
//! connections go, and sh pinning a client.

mod common;

use std::net::IpAddr;

use common::*;
use xvs_engine::{EngineConfig, Forward, Verdict};

const TX: Verdict = Verdict::Tx { port: 0 };

fn reals(n: u8) -> Vec<IpAddr> {
    (0..n).map(|i| rip(false, i)).collect()
}

fn weighted(sched: &str, weights: &[u32], proto: u8) -> EngineConfig {
    let rs = weights.iter().enumerate().map(|(i, &w)| real(rip(false, i as u8), 80, w, Forward::Dr)).collect();
    config(vec![service(vip4(), 80, proto, sched, rs)])
}

/// `n` new TCP connections from distinct clients; the reals they went to.
fn new_conns(lb: &mut Lb, from: u32, n: u32, t: u64) -> Vec<IpAddr> {
    (from..from + n)
        .map(|i| {
            let (v, out) = lb.send(&tcp(sa(cip(false, i), 1000), sa(vip4(), 80), SYN), t);
            assert_eq!(v, TX);
            which_real(&out, &reals(4))
        })
        .collect()
}

#[test]
fn wrr_4_3_2() {
    let mut lb = Lb::new(weighted("wrr", &[4, 3, 2], TCP));
    let (a, b, c) = (rip(false, 0), rip(false, 1), rip(false, 2));
    let want = vec![a, a, b, a, b, c, a, b, c];
    assert_eq!(new_conns(&mut lb, 0, 9, 0), want);
    // And the cycle repeats.
    assert_eq!(new_conns(&mut lb, 100, 9, 1), want);
    // Packets of existing connections do not advance it.
    for i in 0..9 {
        lb.send(&tcp(sa(cip(false, i), 1000), sa(vip4(), 80), ACK), 2);
    }
    assert_eq!(new_conns(&mut lb, 200, 9, 3), want);
}

#[test]
fn ops_schedules_every_datagram() {
    let mut c = weighted("rr", &[1, 1, 1], UDP);
    c.services[0].ops = true;
    let mut lb = Lb::new(c);
    let client = sa(cip(false, 0), 5000);
    let got: Vec<IpAddr> = (0..6)
        .map(|k| {
            let (v, out) = lb.send(&udp(client, sa(vip4(), 80), b"x"), k);
            assert_eq!(v, TX);
            which_real(&out, &reals(3))
        })
        .collect();
    let r = reals(3);
    assert_eq!(got, vec![r[0], r[1], r[2], r[0], r[1], r[2]]);
    assert_eq!(lb.e.live_connections(), 0);
    assert_eq!(lb.e.stats().ops_scheduled, 6);
    assert_eq!(lb.e.stats().conns_created, 0);
    assert_eq!(lb.e.services().service_stats(xvs_engine::ServiceId(0)).conns, 6);
    for x in &r {
        assert_eq!(lb.counts(*x), (0, 0, 0));
        assert_eq!(lb.e.services().reals[lb.real_id(*x)].stats.conns, 2);
    }
}

#[test]
fn ops_nat_replies_pass() {
    // No connection entry, so a reply is not recognised (as IPVS: ops is for UDP services
    // whose replies need no state, e.g. DR / TUN DNS).
    let mut c = simple(false, UDP, 53, 5353, Forward::Nat, "rr", 1);
    c.services[0].ops = true;
    let mut lb = Lb::new(c);
    let client = sa(cip(false, 0), 5000);
    let (v, out) = lb.send(&udp(client, sa(vip4(), 53), b"x"), 0);
    assert_eq!(v, TX);
    assert_eq!(xvs_proto::classify(&out).unwrap().dport, 5353);
    assert_eq!(lb.verdict(&reply_udp(sa(rip(false, 0), 5353), client, b"y"), 1), Verdict::Pass);
}

#[test]
fn wlc_sees_the_engines_counts() {
    let mut lb = Lb::new(weighted("wlc", &[1, 1], TCP));
    let (a, b) = (rip(false, 0), rip(false, 1));
    assert_eq!(new_conns(&mut lb, 0, 1, 0), vec![a]);
    lb.send(&tcp(sa(cip(false, 0), 1000), sa(vip4(), 80), ACK), 1);
    assert_eq!(lb.counts(a), (1, 0, 0));
    // a: 1 active = overhead 256; b's inactive ones cost 1 each.
    assert_eq!(new_conns(&mut lb, 1, 5, 2), vec![b; 5]);
    // The established one closes: a is inactive now (overhead 1) and b has 5.
    lb.send(&tcp(sa(cip(false, 0), 1000), sa(vip4(), 80), RST), 3);
    assert_eq!(lb.counts(a), (0, 1, 0));
    assert_eq!(new_conns(&mut lb, 10, 1, 4), vec![a]);
}

#[test]
fn upper_threshold_overloads_and_recovers() {
    let mut c = weighted("rr", &[1, 1], TCP);
    c.services[0].reals[0].upper_threshold = 2;
    let mut lb = Lb::new(c);
    let (a, b) = (rip(false, 0), rip(false, 1));
    // a, b, a (a now has 2: overloaded), b, b, ...
    assert_eq!(new_conns(&mut lb, 0, 6, 0), vec![a, b, a, b, b, b]);
    // SYN_RECV lasts 60 s; once a's connections are gone it is back (below 3/4 of 2).
    lb.tick_until_reaped(60_000);
    assert_eq!(lb.e.live_connections(), 0);
    let got = new_conns(&mut lb, 100, 2, 60_001);
    assert!(got.contains(&a), "{got:?}");
}

#[test]
fn sh_pins_a_client_address() {
    let mut lb = Lb::new(weighted("sh", &[1, 1, 1], TCP));
    for i in 0..10 {
        let client = cip(false, i);
        let first = {
            let (_, out) = lb.send(&tcp(sa(client, 1000), sa(vip4(), 80), SYN), 0);
            which_real(&out, &reals(3))
        };
        for port in 1001..1006 {
            let (_, out) = lb.send(&tcp(sa(client, port), sa(vip4(), 80), SYN), 0);
            assert_eq!(which_real(&out, &reals(3)), first);
        }
    }
}
