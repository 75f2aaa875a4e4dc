//! IPv4 fragments (DESIGN.md, Maglev-style): every fragment of a datagram to a VIP goes
//! to the real chosen for its first fragment, rewritten like it (NAT: later fragments get
//! the IP header rewrite only; the first fragment's transport checksum still covers the
//! whole datagram); NAT reply fragments come back from the VIP; a later fragment whose
//! first fragment was not seen (or is too old, or whose connection is gone) is dropped
//! `frag_no_first`; fragments not for a service pass.

mod common;

use std::net::{IpAddr, SocketAddr};

use common::*;
use xvs_engine::{DropReason, EngineConfig, Forward, Verdict};
use xvs_proto::build::{fragments_v4, Frame};

const TX: Verdict = Verdict::Tx { port: 0 };
const NOFIRST: Verdict = Verdict::Drop(DropReason::FragNoFirst);
const CMAC: Mac = [0x02, 0xc1, 0, 0, 0, 0x0a];

fn reals() -> Vec<IpAddr> {
    (0..3).map(|i| rip(false, i)).collect()
}

fn dr() -> EngineConfig {
    simple(false, UDP, 53, 53, Forward::Dr, "rr", 3)
}

/// The four 64-byte fragments of a 200-byte datagram with IP id `id` from client `n`,
/// port 7000, to the UDP service.
fn fragments_of_client(n: u32, id: u16) -> Vec<Vec<u8>> {
    fragments_v4(&datagram(sa(cip(false, n), 7000), id, 200), 64)
}

/// Sends fragment `i` of `frags` at `t0 + i` ms: each is transmitted as `want[i]`.
fn forwards_each_as(lb: &mut Lb, frags: &[Vec<u8>], t0: u64, want: &[Vec<u8>], what: &str) {
    for (i, f) in frags.iter().enumerate() {
        let (v, out) = lb.send(f, t0 + i as u64);
        assert_eq!(v, TX);
        assert_eq!(out, want[i], "{what} {i}");
    }
}

/// Offers fragment `i` of `g` at `t` ms, in order, for each `(i, t, verdict)` step.
fn assert_verdicts(lb: &mut Lb, g: &[Vec<u8>], steps: &[(usize, u64, Verdict)]) {
    for &(i, t, want) in steps {
        assert_eq!(lb.verdict(&g[i], t), want, "fragment {i} at {t} ms");
    }
}

fn datagram(client: SocketAddr, id: u16, len: usize) -> Frame {
    let payload: Vec<u8> = (0..len).map(|i| (i * 7 + id as usize) as u8).collect();
    Frame::udp(client, sa(vip4(), 53)).id(id).macs(DIR_MAC, CMAC).payload(&payload)
}

#[test]
fn all_fragments_follow_the_first() {
    let mut lb = Lb::new(dr());
    let client = cip(false, 1);
    let grams: Vec<Vec<Vec<u8>>> =
        (0..6).map(|k| fragments_v4(&datagram(sa(client, 7000 + k), 100 + k, 200), 64)).collect();
    assert!(grams.iter().all(|g| g.len() == 4));
    // All first fragments, then the rest interleaved across datagrams.
    let mut chosen = Vec::new();
    for g in &grams {
        let (v, out) = lb.send(&g[0], 0);
        assert_eq!(v, TX);
        chosen.push(which_real(&out, &reals()));
    }
    assert_eq!(chosen[..3].iter().collect::<std::collections::HashSet<_>>().len(), 3, "rr spreads datagrams");
    for piece in 1..4 {
        for (k, g) in grams.iter().enumerate().rev() {
            let (v, out) = lb.send(&g[piece], 1);
            assert_eq!(v, TX);
            assert_eq!(which_real(&out, &reals()), chosen[k], "datagram {k} fragment {piece}");
            // DR: the IP packet is untouched.
            assert_eq!(out[12..], g[piece][12..]);
        }
    }
    // Per real: 8 fragments (2 datagrams) each, counted as packets in.
    for r in reals() {
        assert_eq!(lb.e.services().reals[lb.real_id(r)].stats.pkts_in, 8);
    }
}

#[test]
fn nat_fragments_rewrite_like_the_datagram() {
    let mut lb = Lb::new(simple(false, UDP, 53, 5353, Forward::Nat, "rr", 1));
    let client = sa(cip(false, 2), 6000);
    let r = rip(false, 0);
    let rs = sa(r, 5353);
    let d = datagram(client, 0x4242, 300);
    let mut want = d.clone();
    want.dst = r;
    want.l4 = xvs_proto::build::L4::Udp { sport: client.port(), dport: 5353 };
    let want = fragments_v4(&want.macs(mac_for(r), DIR_MAC), 128);
    forwards_each_as(&mut lb, &fragments_v4(&d, 128), 0, &want, "fragment");
    // The reply, fragmented by the real: from VIP:53, TTL - 1, every fragment.
    let ans = Frame::udp(rs, client).id(0x77).macs(DIR_MAC_IN, mac_for(r)).payload(&[9u8; 250]);
    let mut back = ans.clone().macs(CMAC, DIR_MAC_IN).ttl(63);
    back.src = vip4();
    back.l4 = xvs_proto::build::L4::Udp { sport: 53, dport: client.port() };
    let back = fragments_v4(&back, 96);
    forwards_each_as(&mut lb, &fragments_v4(&ans, 96), 10, &back, "reply fragment");
}

#[test]
fn later_fragment_first_is_dropped() {
    let mut lb = Lb::new(dr());
    let g = fragments_of_client(3, 9);
    assert_verdicts(&mut lb, &g, &[(2, 0, NOFIRST), (1, 0, NOFIRST)]);
    assert_eq!(lb.drops(DropReason::FragNoFirst), 2);
    assert_eq!(lb.e.live_connections(), 0);
    // Then the first and the rest: the first creates the connection, the rest follow.
    assert_verdicts(&mut lb, &g, &[(0, 1, TX), (3, 1, TX)]);
    // Not for a service: the kernel's.
    let stray = Frame::udp(sa(cip(false, 3), 7000), sa(ip("10.9.9.9"), 53)).id(5).payload(&[0; 200]);
    let g = fragments_v4(&stray, 64);
    assert_eq!(lb.verdict(&g[1], 2), Verdict::Pass);
}

#[test]
fn first_fragment_is_remembered_for_two_seconds() {
    let mut lb = Lb::new(dr());
    let g = fragments_of_client(4, 11);
    assert_verdicts(&mut lb, &g, &[(0, 1_000, TX), (1, 2_999, TX), (2, 3_000, NOFIRST)]);
}

#[test]
fn fragment_of_an_expired_connection_is_dropped() {
    // The connection (UDP, 1 s) is gone before the fragment entry (2 s) is.
    let mut c = dr();
    c.timeouts.udp = 1_000;
    let mut lb = Lb::new(c);
    let g = fragments_of_client(5, 12);
    assert_eq!(lb.verdict(&g[0], 0), TX);
    // Another flow keeps the table non-empty.
    assert_eq!(lb.verdict(&udp(sa(cip(false, 50), 1), sa(vip4(), 53), b"x"), 900), TX);
    lb.tick(1_000);
    assert_eq!(lb.e.live_connections(), 1);
    assert_eq!(lb.verdict(&g[1], 1_500), NOFIRST);
    assert_eq!(lb.e.live_connections(), 1);
    // The table is still sound: new flows come and go.
    for k in 0..5u16 {
        assert_eq!(lb.verdict(&udp(sa(cip(false, 5), 8000 + k), sa(vip4(), 53), b"x"), 2_000), TX);
    }
    lb.tick(10_000);
    assert_eq!(lb.e.live_connections(), 0);
    assert_eq!(lb.e.connections().len(), 0);
    for r in reals() {
        assert_eq!(lb.counts(r), (0, 0, 0));
    }
}

#[test]
fn fragment_of_an_evicted_connection_is_not_misdelivered() {
    // Table of one: datagram A's connection is evicted by a new flow from the same client
    // (reusing the slot); A's later fragments must not follow the new connection.
    let mut c = dr();
    c.max_connections = 1;
    let mut lb = Lb::new(c);
    let client = cip(false, 6);
    let a = fragments_v4(&datagram(sa(client, 7000), 13, 200), 64);
    let (v, out) = lb.send(&a[0], 0);
    assert_eq!(v, TX);
    let ra = which_real(&out, &reals());
    let (v, out) = lb.send(&udp(sa(client, 7001), sa(vip4(), 53), b"b"), 1);
    assert_eq!(v, TX);
    assert_ne!(which_real(&out, &reals()), ra);
    assert_eq!(lb.e.stats().conns_evicted, 1);
    assert_eq!(lb.verdict(&a[1], 2), NOFIRST);
}
