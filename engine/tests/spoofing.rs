//! Spoofed flows cannot lock the table (README "Defences"): entries an attacker can make
//! by sending alone (a SYN and an ACK, a bare ACK for a hash scheduler, DR/TUN requests
//! below the verification count, a SYN the real answers with a SYN-ACK) are unverified
//! and make room for new flows; verified ones (in NAT the real sent more than a SYN-ACK or
//! RST, more than 8 requests in DR/TUN, synced) are never displaced; a table full of
//! verified DR entries still forwards hash-scheduled flows.

mod common;

use std::net::SocketAddr;

use common::*;
use xvs_engine::{DropReason, EngineConfig, Forward, Verdict};

const TX: Verdict = Verdict::Tx { port: 0 };
const FULL: Verdict = Verdict::Drop(DropReason::ConnTableFull);

fn client(i: u32) -> SocketAddr {
    sa(cip(false, i), 10_000 + (i % 50_000) as u16)
}

fn vip80() -> SocketAddr {
    sa(vip4(), 80)
}

fn capped(mut c: EngineConfig, max: u32) -> EngineConfig {
    c.max_connections = max;
    c
}

/// A spoofed SYN then a spoofed ACK from client `i`: ESTABLISHED, never answered.
fn spoofed_pair(lb: &mut Lb, i: u32, t: u64) {
    assert_eq!(lb.verdict(&tcp(client(i), vip80(), SYN), t), TX);
    assert_eq!(lb.verdict(&tcp(client(i), vip80(), ACK), t), TX);
}

/// The case that was reported: eight spoofed pairs locked out a real SYN 600 s later.
#[test]
fn spoofed_pairs_do_not_lock_out_a_later_syn() {
    for fwd in [Forward::Dr, Forward::Nat, Forward::Tun] {
        let mut lb = Lb::new(capped(simple(false, TCP, 80, 80, fwd, "rr", 1), 8));
        for i in 0..8 {
            spoofed_pair(&mut lb, i, 0);
            assert_eq!(lb.state(client(i)), "ESTABLISHED");
            assert!(!lb.conn(client(i)).unwrap().verified);
        }
        assert_eq!(lb.verdict(&tcp(client(100), vip80(), SYN), 600_000), TX, "{fwd:?}");
        assert_eq!(lb.e.stats().conns_evicted, 1);
        assert_eq!(lb.drops(DropReason::ConnTableFull), 0);
    }
}

/// NAT: a connection whose real answered is never evicted, whatever a flood does; the
/// flood's entries take each other's place.
#[test]
fn nat_flood_never_displaces_an_answered_connection() {
    let mut lb = Lb::new(capped(simple(false, TCP, 80, 8080, Forward::Nat, "rr", 1), 8));
    let real = sa(rip(false, 0), 8080);
    for i in 0..4 {
        assert_eq!(lb.verdict(&tcp(client(i), vip80(), SYN), 0), TX);
        assert_eq!(lb.verdict(&reply_tcp(real, client(i), SYN | ACK), 1), TX);
        assert!(!lb.conn(client(i)).unwrap().verified, "a SYN-ACK answers any SYN, spoofed too");
        assert_eq!(lb.verdict(&tcp(client(i), vip80(), ACK), 2), TX);
        assert_eq!(lb.verdict(&reply_tcp(real, client(i), ACK), 3), TX);
        assert!(lb.conn(client(i)).unwrap().verified, "the real took the client's ACK");
    }
    assert_eq!(lb.e.stats().conns_verified, 4);
    for i in 1000..3000 {
        spoofed_pair(&mut lb, i, 10 + i as u64);
    }
    assert_eq!(lb.drops(DropReason::ConnTableFull), 0);
    assert_eq!(lb.e.live_connections(), 8);
    for i in 0..4 {
        assert_eq!(lb.state(client(i)), "ESTABLISHED", "answered connection {i}");
        assert_eq!(lb.verdict(&tcp(client(i), vip80(), ACK), 5_000), TX);
    }
    // A new real client still gets in, and once answered it stays too.
    assert_eq!(lb.verdict(&tcp(client(5), vip80(), SYN), 6_000), TX);
    assert_eq!(lb.verdict(&reply_tcp(real, client(5), SYN | ACK), 6_001), TX);
    assert_eq!(lb.verdict(&tcp(client(5), vip80(), ACK), 6_002), TX);
    assert_eq!(lb.verdict(&reply_tcp(real, client(5), ACK), 6_003), TX);
    for i in 3000..3100 {
        spoofed_pair(&mut lb, i, 7_000);
    }
    assert!(lb.conn(client(5)).unwrap().verified);
}

/// A real's RST to a spoofed mid-stream ACK, or its SYN-ACK to a spoofed SYN, proves
/// nothing: the entry stays unverified.
#[test]
fn a_reset_from_the_real_does_not_verify() {
    let mut lb = Lb::new(simple(false, TCP, 80, 80, Forward::Nat, "mh", 2));
    assert_eq!(lb.verdict(&tcp(client(1), vip80(), ACK), 0), TX, "mh picks up mid-stream");
    let c = lb.conn(client(1)).unwrap();
    assert!(!c.verified);
    let real = sa(c.real, 80);
    assert_eq!(lb.verdict(&reply_tcp(real, client(1), RST), 1), TX);
    assert!(!lb.conn(client(1)).unwrap().verified);
    assert_eq!(lb.verdict(&reply_tcp(real, client(1), SYN | ACK), 1), TX);
    assert!(!lb.conn(client(1)).unwrap().verified);
    assert_eq!(lb.verdict(&reply_tcp(real, client(1), ACK), 2), TX);
    assert!(lb.conn(client(1)).unwrap().verified);
}

/// DR: more than 8 requests verify; a table full of verified entries refuses rr flows
/// and forwards mh flows without an entry, to the real mh picks with an entry.
#[test]
fn dr_verification_and_stateless_forwarding_when_full() {
    for sched in ["rr", "mh"] {
        let mut lb = Lb::new(capped(simple(false, TCP, 80, 80, Forward::Dr, sched, 3), 4));
        for i in 0..4 {
            assert_eq!(lb.verdict(&tcp(client(i), vip80(), SYN), 0), TX);
            for k in 0..8 {
                assert!(!lb.conn(client(i)).unwrap().verified, "after {} requests", k + 1);
                assert_eq!(lb.verdict(&tcp(client(i), vip80(), ACK), 1), TX);
            }
            assert!(lb.conn(client(i)).unwrap().verified, "9 requests verify");
        }
        let late = lb.send(&tcp(client(50), vip80(), SYN), 10);
        if sched == "rr" {
            assert_eq!(late.0, FULL);
            assert_eq!(lb.e.stats().stateless_forwarded, 0);
        } else {
            assert_eq!(late.0, TX);
            assert_eq!(lb.verdict(&tcp(client(50), vip80(), ACK), 11), TX, "mid-stream, still no room");
            assert_eq!(lb.e.stats().stateless_forwarded, 2);
            assert!(lb.conn(client(50)).is_none());
            // The same real as with an entry: a fresh engine with room picks it too.
            let mut fresh = Lb::new(simple(false, TCP, 80, 80, Forward::Dr, "mh", 3));
            let with_entry = fresh.send(&tcp(client(50), vip80(), SYN), 0).1;
            assert_eq!(dst_mac(&late.1), dst_mac(&with_entry));
        }
        assert_eq!(lb.e.live_connections(), 4);
        assert_eq!(lb.e.stats().conns_evicted, 0);
    }
}

/// Unverified entries with long timeouts behind more than a scan's worth of verified
/// entries with earlier deadlines are still found (the sweep), in bounded steps.
#[test]
fn unverified_entries_behind_many_verified_ones_are_found() {
    let mut lb = Lb::new(capped(simple(false, UDP, 53, 53, Forward::Nat, "rr", 1), 3000));
    let real = sa(rip(false, 0), 53);
    let v = sa(vip4(), 53);
    // 2000 answered flows (deadline 300 s), then 1000 one-way flows (deadline 400 s).
    for i in 0..2000 {
        assert_eq!(lb.verdict(&udp(client(i), v, b"q"), 0), TX);
        assert_eq!(lb.verdict(&reply_udp(real, client(i), b"a"), 0), TX);
    }
    for i in 2000..3000 {
        assert_eq!(lb.verdict(&udp(client(i), v, b"q"), 100_000), TX);
    }
    assert_eq!(lb.e.live_connections(), 3000);
    for i in 3000..4500 {
        assert_eq!(lb.verdict(&udp(client(i), v, b"q"), 150_000), TX, "new flow {i}");
    }
    assert_eq!(lb.e.stats().conns_evicted, 1500);
    assert_eq!(lb.drops(DropReason::ConnTableFull), 0);
    let verified = lb.e.connections().iter().filter(|c| c.verified).count();
    assert_eq!(verified, 2000, "no answered flow was evicted");
}

/// Entries installed from the sync master count as verified.
#[test]
fn synced_connections_are_verified() {
    use xvs_proto::ipvs_sync::{conn_flags, SyncConn};
    let mut lb = Lb::new(capped(simple(false, TCP, 80, 80, Forward::Dr, "rr", 1), 2));
    for i in 0..2 {
        let s = SyncConn {
            protocol: TCP,
            flags: conn_flags::DROUTE,
            state: 1,
            cport: client(i).port(),
            vport: 80,
            dport: 80,
            fwmark: 0,
            timeout: 900,
            caddr: client(i).ip(),
            vaddr: vip4(),
            daddr: rip(false, 0),
        };
        lb.e.handle_sync(&s, 0);
        assert!(lb.conn(client(i)).unwrap().verified);
    }
    assert_eq!(lb.verdict(&tcp(client(9), vip80(), SYN), 1), FULL);
}
