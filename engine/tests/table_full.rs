//! Table pressure (`max_connections`, IPv4 and IPv6 together): when the table is full a
//! new flow evicts the unverified entry with the earliest deadline (here DR, where a
//! connection is verified after more than 8 requests), counted in `conns_evicted`; with
//! only verified entries the new flow is dropped `conn_table_full` while they go on;
//! eviction works across address families; persistence references stay balanced through
//! refusals. Attacks on this are in `spoofing.rs`.

mod common;

use std::net::{IpAddr, SocketAddr};

use common::*;
use xvs_engine::{DropReason, EngineConfig, Forward, Verdict};

const TX: Verdict = Verdict::Tx { port: 0 };
const FULL: Verdict = Verdict::Drop(DropReason::ConnTableFull);

fn cfg(max: u32) -> EngineConfig {
    let mut c = config(vec![
        service(vip4(), 80, TCP, "rr", vec![real(rip(false, 0), 80, 1, Forward::Dr)]),
        service(vip4(), 53, UDP, "rr", vec![real(rip(false, 0), 53, 1, Forward::Dr)]),
        service(vip6(), 80, TCP, "rr", vec![real(rip(true, 0), 80, 1, Forward::Dr)]),
        service(vip6(), 53, UDP, "rr", vec![real(rip(true, 0), 53, 1, Forward::Dr)]),
    ]);
    c.max_connections = max;
    c
}

fn client(v6: bool, i: u32) -> SocketAddr {
    sa(cip(v6, i), 20_000 + i as u16)
}

fn syn(lb: &mut Lb, v6: bool, i: u32, t: u64) -> Verdict {
    lb.verdict(&tcp(client(v6, i), sa(vip(v6), 80), SYN), t)
}

fn ack(lb: &mut Lb, v6: bool, i: u32, t: u64) -> Verdict {
    lb.verdict(&tcp(client(v6, i), sa(vip(v6), 80), ACK), t)
}

fn dgram(lb: &mut Lb, v6: bool, i: u32, t: u64) -> Verdict {
    lb.verdict(&udp(client(v6, i), sa(vip(v6), 53), b"q"), t)
}

/// An established, verified DR connection: a SYN and 8 ACKs (more than 8 requests).
fn established(lb: &mut Lb, v6: bool, i: u32, t: u64) {
    assert_eq!(syn(lb, v6, i, t), TX);
    for _ in 0..8 {
        assert_eq!(ack(lb, v6, i, t), TX);
    }
}

/// A table of 8 with `n` established IPv4 connections, made at time 0.
fn with_established(n: u32) -> Lb {
    let mut lb = Lb::new(cfg(8));
    for i in 0..n {
        established(&mut lb, false, i, 0);
    }
    lb
}

fn live(lb: &Lb, c: SocketAddr) -> bool {
    lb.conn(c).is_some()
}

#[test]
fn full_table_evicts_the_oldest_half_open() {
    let mut lb = Lb::new(cfg(8));
    for i in 0..4 {
        established(&mut lb, false, i, i as u64);
    }
    for i in 4..8 {
        assert_eq!(syn(&mut lb, false, i, 10 + i as u64), TX);
    }
    assert_eq!(lb.e.live_connections(), 8);
    for (n, i) in (8..12).enumerate() {
        assert_eq!(syn(&mut lb, false, i, 100), TX, "new flow {i}");
        assert_eq!(lb.e.stats().conns_evicted, n as u64 + 1);
        // The oldest half-open one went: 4, then 5, 6, 7.
        assert!(!live(&lb, client(false, 4 + n as u32)));
        assert!(live(&lb, client(false, i)));
        assert_eq!(lb.e.live_connections(), 8);
    }
    // Established ones are untouched and keep flowing.
    for i in 0..4 {
        assert!(live(&lb, client(false, i)));
        assert_eq!(ack(&mut lb, false, i, 200), TX);
    }
    // Counters: 4 established, 4 half-open on the one real.
    assert_eq!(lb.counts(rip(false, 0)), (4, 4, 0));
}

#[test]
fn full_table_evicts_the_least_recently_used_unverified_udp() {
    let mut lb = with_established(6);
    assert_eq!(dgram(&mut lb, false, 100, 5), TX);
    assert_eq!(dgram(&mut lb, false, 101, 6), TX);
    assert_eq!(dgram(&mut lb, false, 100, 30), TX); // 100 refreshed: 101 is now the oldest
    assert_eq!(dgram(&mut lb, false, 102, 40), TX);
    assert!(live(&lb, client(false, 100)));
    assert!(!live(&lb, client(false, 101)));
    assert!(live(&lb, client(false, 102)));
    assert_eq!(lb.e.stats().conns_evicted, 1);
}

#[test]
fn only_verified_entries_refuse_the_new_flow() {
    let mut lb = with_established(8);
    assert_eq!(syn(&mut lb, false, 50, 10), FULL);
    assert_eq!(dgram(&mut lb, false, 51, 10), FULL);
    assert_eq!(syn(&mut lb, true, 52, 10), FULL);
    assert_eq!(lb.drops(DropReason::ConnTableFull), 3);
    assert_eq!(lb.e.stats().conns_evicted, 0);
    assert_eq!(lb.e.live_connections(), 8);
    assert_eq!(lb.counts(rip(false, 0)), (8, 0, 0));
    for i in 0..8 {
        assert_eq!(ack(&mut lb, false, i, 11), TX, "established flow {i}");
    }
    // One closes (RST: CLOSE 10 s): a closed connection makes room at once.
    lb.verdict(&tcp(client(false, 0), sa(vip4(), 80), RST), 20);
    assert_eq!(syn(&mut lb, false, 50, 21), TX, "CLOSE is evictable");
    assert!(!live(&lb, client(false, 0)));
    assert_eq!(lb.e.stats().conns_evicted, 1);
    // Services and reals counted no connection for the refused flows.
    assert_eq!(lb.e.services().service_stats(xvs_engine::ServiceId(0)).conns, 9);
}

#[test]
fn eviction_works_across_families() {
    // The table holds IPv4 and IPv6 together: a new IPv4 flow may evict an IPv6 half-open
    // entry and the reverse.
    let mut lb = Lb::new(cfg(8));
    for i in 0..8 {
        assert_eq!(syn(&mut lb, true, i, i as u64), TX);
    }
    assert_eq!(syn(&mut lb, false, 0, 100), TX, "an IPv4 SYN on a table full of IPv6 half-open entries");
    assert!(!live(&lb, client(true, 0)));
    assert_eq!(lb.e.live_connections(), 8);
    for i in 1..8 {
        established(&mut lb, false, i, 200 + i as u64);
    }
    // Each new IPv4 flow evicted an IPv6 half-open entry: now 7 IPv4 established and one
    // IPv4 half-open (client 0).
    assert_eq!(lb.e.live_connections(), 8);
    assert_eq!(dgram(&mut lb, true, 9, 300), TX, "an IPv6 flow evicts the IPv4 half-open one");
    assert!(!live(&lb, client(false, 0)));
    assert_eq!(lb.e.stats().conns_evicted, 9);
    assert_eq!(lb.e.connections().iter().filter(|c| c.client.is_ipv6()).count(), 1);
}

#[test]
fn refused_flows_do_not_leak_template_references() {
    let mut c = cfg(4);
    c.services[0].persistence = 100;
    c.services[0].persistence_netmask = 24; // every client shares one template
    let mut lb = Lb::new(c);
    for i in 0..4 {
        established(&mut lb, false, i, 0);
    }
    for k in 0..10 {
        assert_eq!(syn(&mut lb, false, 10 + k, 1), FULL);
    }
    assert_eq!(lb.e.live_templates(), 1);
    // Close all four (RST: CLOSE, 10 s). The template was last renewed at t = 1 ms (a
    // refused flow still renews it: as in IPVS, the template is found before the
    // connection is made); with no user left it goes at 1 ms + 100 s.
    for i in 0..4 {
        lb.verdict(&tcp(client(false, i), sa(vip4(), 80), RST), 50_000);
    }
    lb.tick(60_000);
    assert_eq!(lb.e.live_connections(), 0);
    lb.tick(100_000);
    assert_eq!(lb.e.live_templates(), 1);
    lb.tick(100_001);
    assert_eq!(lb.e.live_templates(), 0, "a refused flow leaked a template reference");
    assert_eq!(lb.counts(rip(false, 0)), (0, 0, 0));
}

#[test]
fn eviction_of_a_nat_entry_frees_its_reply_key() {
    let mut c = simple(false, UDP, 53, 5353, Forward::Nat, "rr", 1);
    c.max_connections = 2;
    let mut lb = Lb::new(c);
    let a = sa(cip(false, 0), 1);
    let b = sa(cip(false, 1), 1);
    let d = sa(cip(false, 2), 1);
    let rs = sa(rip(false, 0), 5353);
    let v = sa(vip4(), 53);
    assert_eq!(lb.verdict(&udp(a, v, b"1"), 0), TX);
    assert_eq!(lb.verdict(&udp(b, v, b"2"), 1), TX);
    assert_eq!(lb.verdict(&udp(d, v, b"3"), 2), TX);
    assert_eq!(lb.e.stats().conns_evicted, 1);
    // a's reply is not NAT traffic any more; b's and d's are.
    assert_eq!(lb.verdict(&reply_udp(rs, a, b"x"), 3), Verdict::Pass);
    assert_eq!(lb.verdict(&reply_udp(rs, b, b"x"), 3), TX);
    assert_eq!(lb.verdict(&reply_udp(rs, d, b"x"), 3), TX);
    let _: IpAddr = rs.ip();
}
