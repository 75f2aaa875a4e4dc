//! The director end to end, scheduling: through `xvs run` in a namespace lab, with real
//! TCP connections from the client namespace,
//! - rr and wrr (1:2:3) over 3000 connections give each real its share within 5% *of that
//!   real's own share* (rr: 1000 ± 50 each; wrr: 500 ± 25, 1000 ± 50, 1500 ± 75);
//! - sh keeps each client address on one real (ten IPv4 and four IPv6 client addresses);
//! - persistence (`persistence = 30`) keeps a client on one real across connections while
//!   rr alone would rotate;
//! - a real removed by a reload (SIGHUP), or set to weight 0, gets no new connections while
//!   its established ones finish: an idle keep-alive connection is used after the reload,
//!   and a 10 MB transfer read in two halves, across the reload, arrives byte for byte.
//!
//! Needs root, namespaces and AF_XDP: fails, never skips. Forwarding modes are in
//! `director_e2e.rs`.

mod common;

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Duration;

use common::*;

const REALS: usize = 3;
/// Connections for the share tests.
const CONNS: usize = 3000;
/// Parallel client threads.
const THREADS: usize = 6;

fn shares(test: &str, mode: LabMode, scheduler: &str, weights: &[u32]) {
    let run = Running::start(test, mode, REALS, 1, |lab| lab.config(scheduler, Some(weights), ""));
    let t = std::time::Instant::now();
    let conns = run.client(|| spread(vip_http(false), CONNS, THREADS, &[]));
    eprintln!("{test}: {CONNS} connections in {:?}", t.elapsed());
    let counts = per_real(&conns, REALS);
    assert_shares(&counts, weights, 0.05);
}

#[test]
fn rr_shares_over_3000_connections() {
    shares("e2e_rr", LabMode::Nat, "rr", &[1, 1, 1]);
}

#[test]
fn wrr_1_2_3_shares_over_3000_connections() {
    shares("e2e_wrr", LabMode::Nat, "wrr", &[1, 2, 3]);
}

#[test]
fn sh_keeps_each_client_on_one_real() {
    let run = Running::start("e2e_sh", LabMode::Nat, REALS, 1, |lab| lab.config("sh", None, ""));
    let mut srcs: Vec<IpAddr> = Vec::new();
    for k in 50..60 {
        let a = format!("10.0.0.{k}");
        must(&run.lab, "cl", &["ip", "addr", "add", &format!("{a}/24"), "dev", "c0"], Duration::from_secs(5));
        srcs.push(a.parse().unwrap());
    }
    for k in 0x50..0x54 {
        let a = format!("2001:db8::{k:x}");
        must(&run.lab, "cl", &["ip", "addr", "add", &format!("{a}/64"), "dev", "c0", "nodad"], Duration::from_secs(5));
        srcs.push(a.parse().unwrap());
    }
    let (v4, v6): (Vec<IpAddr>, Vec<IpAddr>) = srcs.iter().partition(|a| a.is_ipv4());
    let mut conns = run.client(|| spread(vip_http(false), 10 * v4.len(), THREADS, &v4));
    conns.extend(run.client(|| spread(vip_http(true), 10 * v6.len(), THREADS, &v6)));
    let by_src = reals_by_source(&conns);
    assert_eq!(by_src.len(), srcs.len(), "every client address made connections: {by_src:?}");
    for (src, reals) in &by_src {
        assert_eq!(reals.len(), 1, "sh sent client {src} to several reals: {reals:?}");
    }
    let used: BTreeSet<usize> = by_src.values().flat_map(|m| m.keys().copied()).collect();
    assert!(used.len() >= 2, "sh sent all {} clients to the same real: {by_src:?}", srcs.len());
}

#[test]
fn persistence_keeps_a_client_on_one_real() {
    let run = Running::start("e2e_persist", LabMode::Nat, REALS, 1, |lab| lab.config("rr", None, "persistence = 30"));
    let mut clients: Vec<IpAddr> = vec!["10.0.0.2".parse().unwrap()];
    for k in 50..53 {
        let a = format!("10.0.0.{k}");
        must(&run.lab, "cl", &["ip", "addr", "add", &format!("{a}/24"), "dev", "c0"], Duration::from_secs(5));
        clients.push(a.parse().unwrap());
    }
    // Interleaved (client after client), so that without persistence rr would move each
    // client's next connection to another real.
    let conns = run.client(|| {
        let mut v = Vec::new();
        for _round in 0..8 {
            for &c in &clients {
                v.push((Some(c), get(vip_http(false), "/", Some(c)).real()));
            }
        }
        v
    });
    let by_src = reals_by_source(&conns);
    for (src, reals) in &by_src {
        assert_eq!(reals.len(), 1, "persistence did not keep client {src} on one real: {reals:?}");
    }
    // Each client's first connection was scheduled by rr: four clients cover all reals.
    let used: BTreeSet<usize> = by_src.values().flat_map(|m| m.keys().copied()).collect();
    assert_eq!(used.len(), REALS, "templates were not spread by rr: {by_src:?}");
    // Persistence is per service: IPv6 too.
    let v6: Vec<usize> = run.client(|| (0..6).map(|_| get(vip_http(true), "/", None).real()).collect());
    assert!(v6.iter().all(|&r| r == v6[0]), "IPv6 client moved between reals: {v6:?}");
}

/// Real 2 loses new connections by `change` (a reload), while an idle keep-alive
/// connection and a half-read 10 MB transfer on it carry on.
fn drain(test: &str, mode: LabMode, change: impl FnOnce(&DirectorLab) -> String) {
    const GONE: usize = 2;
    let mut run = Running::start(test, mode, REALS, 1, |lab| lab.config("rr", None, ""));
    let vip = vip_http(false);
    // Connections are made in the client namespace; the sockets stay there.
    let (mut idle, mut bulk) = run.client(|| {
        // rr: of three keep-alive connections, one is on real 2.
        let mut idle = None;
        for _ in 0..REALS {
            let mut k = KeepAlive::open(vip);
            if k.request("/").real() == GONE {
                idle = Some(k);
            }
        }
        // A transfer on real 2: start three, keep the one real 2 answers, read half of it.
        let mut bulk = None;
        for _ in 0..REALS {
            let mut k = KeepAlive::open(vip);
            k.send(&format!("/bytes/{BIG}"));
            let h = k.head();
            assert_eq!((h.status, h.content_length), (200, BIG), "{h:?}");
            if h.real == Some(GONE) {
                bulk = Some(k);
            }
        }
        (idle.expect("a keep-alive connection on real 2"), bulk.expect("a transfer from real 2"))
    });
    let first = bulk.body(BIG / 2);

    let text = change(&run.lab);
    run.reload(&text);
    // Next hops change while real 2 drains (as they do on a live network): the director
    // forgets real 0's MAC, refreshes its next hops (every second), learns it again. Real
    // 2 must keep its own next hop through that.
    let r0 = real_addrs(0).0.to_string();
    must(&run.lab, "dir", &["ip", "neigh", "del", &r0, "dev", DIRECTOR_DEV], Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(2500));

    // New connections avoid real 2, and go on to the others.
    let conns = run.client(|| spread(vip, 60, 3, &[]));
    let counts = per_real(&conns, REALS);
    assert_eq!(counts[GONE], 0, "real {GONE} got new connections after the reload: {counts:?}\n{}", run.dump());
    assert!(counts[0] > 0 && counts[1] > 0, "{counts:?}");

    // The established connections on real 2 finish.
    let diag = |what: &str, e: std::io::Error| -> ! {
        let neigh = must(&run.lab, "dir", &["ip", "neigh", "show"], Duration::from_secs(5));
        panic!("{what} on real {GONE} after the reload: {e}\ndirector's neighbours:\n{neigh}{}", run.dump())
    };
    let again = idle.try_request("/").unwrap_or_else(|e| diag("the idle keep-alive connection", e));
    assert_eq!((again.head.status, again.real()), (200, GONE), "the idle connection after the reload: {again:?}");
    let mut all = first;
    all.extend(bulk.try_body(BIG - BIG / 2).unwrap_or_else(|e| diag("the second half of the transfer", e)));
    if all != pattern(BIG) {
        let at = all.iter().zip(pattern(BIG)).position(|(a, b)| *a != b).unwrap_or(0);
        panic!("the transfer across the reload differs from the pattern at byte {at}");
    }
    // And a second request on the transfer's connection still reaches real 2.
    let last = bulk.try_request("/").unwrap_or_else(|e| diag("a request after the transfer", e));
    assert_eq!(last.real(), GONE);
    run.assert_alive();
}

#[test]
fn nat_removed_real_drains() {
    drain("e2e_nat_remove", LabMode::Nat, |lab| without_real(&lab.config("rr", None, ""), 2));
}

#[test]
fn nat_weight_0_real_drains() {
    drain("e2e_nat_quiesce", LabMode::Nat, |lab| lab.config("rr", Some(&[1, 1, 0]), ""));
}

#[test]
fn dr_removed_real_drains() {
    drain("e2e_dr_remove", LabMode::Dr, |lab| without_real(&lab.config("rr", None, ""), 2));
}
