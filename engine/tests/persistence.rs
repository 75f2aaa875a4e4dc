//! Persistence (ipvsadm -p / -M): a template per (client & netmask, service) pins new
//! connections to one real whatever the scheduler would say; it expires `persistence`
//! seconds after the last new connection through it, but not while a connection still
//! uses it (rechecked every 60 s, as IPVS does); a quiesced real keeps its persistent
//! clients unless `expire_quiescent_template`; a removed real loses them; a port-0
//! service pins every port of a client to one real.

mod common;

use std::net::IpAddr;

use common::*;
use xvs_engine::{EngineConfig, Forward, Verdict};

const TX: Verdict = Verdict::Tx { port: 0 };
const P: u64 = 300_000; // persistence, ms

fn cfg(n: u8) -> EngineConfig {
    let mut c = simple(false, TCP, 80, 80, Forward::Dr, "rr", n);
    c.services[0].persistence = (P / 1000) as u32;
    c.services[0].persistence_netmask = 24;
    c
}

fn reals(n: u8) -> Vec<IpAddr> {
    (0..n).map(|i| rip(false, i)).collect()
}

/// A SYN from client `i`, source port `port`; returns the real it went to.
fn syn(lb: &mut Lb, i: u32, port: u16, t: u64) -> IpAddr {
    let (v, out) = lb.send(&tcp(sa(cip(false, i), port), sa(vip4(), 80), SYN), t);
    assert_eq!(v, TX);
    which_real(&out, &reals(3))
}

#[test]
fn same_client_and_same_netmask_stick_to_one_real() {
    let mut lb = Lb::new(cfg(3));
    let first = syn(&mut lb, 0, 1000, 0);
    // Many connections from the same client and from others in its /24.
    for k in 0..60u32 {
        let client = k % 5; // 192.0.2.1 ..= 192.0.2.5
        assert_eq!(syn(&mut lb, client, 2000 + k as u16, k as u64), first, "connection {k}");
    }
    assert_eq!(lb.e.live_templates(), 1);
    assert_eq!(lb.e.stats().templates_created, 1);
    assert_eq!(lb.counts(first), (0, 61, 1));
    // Another /24 gets the next real from rr, and sticks too.
    let other = syn(&mut lb, 250, 1000, 100); // 192.0.3.1
    assert_ne!(other, first);
    for k in 0..10u16 {
        assert_eq!(syn(&mut lb, 251, 3000 + k, 101), other);
    }
    assert_eq!(lb.e.live_templates(), 2);
}

#[test]
fn template_expires_persistence_after_the_last_new_connection() {
    let mut lb = Lb::new(cfg(3));
    let r = syn(&mut lb, 0, 1000, 0);
    // A second connection at 100 s restarts the timer.
    assert_eq!(syn(&mut lb, 1, 1001, 100_000), r);
    // Both SYN_RECV connections are gone after 60 s; only the template is left.
    lb.tick(170_000);
    assert_eq!(lb.e.live_connections(), 0);
    assert_eq!(lb.e.live_templates(), 1);
    lb.tick(100_000 + P - 1);
    assert_eq!(lb.e.live_templates(), 1, "template gone before its timeout");
    assert_eq!(lb.counts(r).2, 1);
    lb.tick(100_000 + P);
    assert_eq!(lb.e.live_templates(), 0, "template still there at its timeout");
    assert_eq!(lb.counts(r).2, 0);
    assert_eq!(lb.e.stats().templates_expired, 1);
    // The client is scheduled afresh (rr moves on).
    assert_ne!(syn(&mut lb, 0, 1002, 100_000 + P + 1), r);
}

#[test]
fn template_outlives_its_timeout_while_a_connection_uses_it() {
    let mut lb = Lb::new(cfg(3));
    let client = sa(cip(false, 0), 1000);
    let vs = sa(vip4(), 80);
    let r = syn(&mut lb, 0, 1000, 0);
    lb.send(&tcp(client, vs, ACK), 1); // ESTABLISHED: 900 s
                                       // At P the template is due but used: rechecked at P + 60 s, P + 120 s, ...
    lb.tick(P + 1);
    assert_eq!(lb.e.live_templates(), 1);
    // A connection from the same /24 still goes to the same real after the timeout.
    assert_eq!(syn(&mut lb, 3, 1000, P + 30_000), r);
    lb.tick(P + 30_000 + 60_001); // the second connection (SYN_RECV) is gone
    assert_eq!(lb.e.live_connections(), 1);
    // The first connection closes at 500 s (RST: CLOSE, 10 s), gone at 510 s.
    lb.send(&tcp(client, vs, RST), 500_000);
    lb.tick(510_000);
    assert_eq!(lb.e.live_connections(), 0);
    // The template was last renewed at P + 30 s: due at 2P + 30 s = 630 s (no user left),
    // and it only expires then, not at a recheck before.
    lb.tick(2 * P + 30_000 - 1);
    assert_eq!(lb.e.live_templates(), 1);
    lb.tick(2 * P + 30_000);
    assert_eq!(lb.e.live_templates(), 0);
}

#[test]
fn used_template_is_rechecked_every_60_seconds() {
    let mut lb = Lb::new(cfg(3));
    let client = sa(cip(false, 0), 1000);
    let vs = sa(vip4(), 80);
    syn(&mut lb, 0, 1000, 0);
    lb.send(&tcp(client, vs, ACK), 1);
    // Due at P with a user: rechecked at P + 60, P + 120, P + 180, P + 240 s.
    lb.send(&tcp(client, vs, RST), P + 150_000); // CLOSE: gone at P + 160 s
    lb.tick(P + 160_000);
    assert_eq!(lb.e.live_connections(), 0);
    lb.tick(P + 180_000 - 1);
    assert_eq!(lb.e.live_templates(), 1, "template gone between rechecks");
    lb.tick(P + 180_000);
    assert_eq!(lb.e.live_templates(), 0, "template kept past the recheck after its last user");
}

fn with_weight(mut c: EngineConfig, real: IpAddr, w: u32) -> EngineConfig {
    for r in &mut c.services[0].reals {
        if r.addr == real {
            r.weight = w;
        }
    }
    c
}

#[test]
fn quiesced_real_keeps_its_persistent_clients() {
    let mut lb = Lb::new(cfg(2));
    let r = syn(&mut lb, 0, 1000, 0);
    lb.e.apply(with_weight(cfg(2), r, 0)).unwrap();
    for k in 0..5 {
        assert_eq!(syn(&mut lb, 0, 1001 + k, 10 + k as u64), r, "persistent client moved off a quiesced real");
    }
    // A new client never lands on the quiesced real.
    for k in 0..5 {
        assert_ne!(syn(&mut lb, 300 + k, 1000, 20), r);
    }
}

#[test]
fn expire_quiescent_template_moves_them() {
    let mut lb = Lb::new(cfg(2));
    let r = syn(&mut lb, 0, 1000, 0);
    assert_eq!(lb.counts(r).2, 1);
    let mut c = with_weight(cfg(2), r, 0);
    c.expire_quiescent_template = true;
    lb.e.apply(c).unwrap();
    let moved = syn(&mut lb, 0, 1001, 10);
    assert_ne!(moved, r);
    assert_eq!(syn(&mut lb, 1, 1002, 11), moved, "the new template pins the /24 again");
    assert_eq!(lb.counts(r).2, 0);
    assert_eq!(lb.counts(moved).2, 1);
    // The old template is freed once its connection is gone (SYN_RECV: 60 s, then the
    // 60 s recheck at the latest).
    lb.tick(200_000);
    assert_eq!(lb.e.live_templates(), 1);
}

#[test]
fn removed_real_loses_its_persistent_clients() {
    let mut lb = Lb::new(cfg(2));
    let r = syn(&mut lb, 0, 1000, 0);
    let mut c = cfg(2);
    c.services[0].reals.retain(|x| x.addr != r);
    lb.e.apply(c).unwrap();
    assert_ne!(syn(&mut lb, 0, 1001, 10), r);
}

#[test]
fn port_zero_service_pins_every_port() {
    let mut c =
        config(vec![service(vip4(), 0, TCP, "rr", (0..3).map(|i| real(rip(false, i), 0, 1, Forward::Nat)).collect())]);
    c.services[0].persistence = 600;
    let mut lb = Lb::new(c);
    let client = cip(false, 0);
    let mut first = None;
    for (k, port) in [80u16, 443, 8080, 22, 25, 53, 65535, 1].into_iter().enumerate() {
        let (v, out) = lb.send(&tcp(sa(client, 40000 + k as u16), sa(vip4(), port), SYN), k as u64);
        assert_eq!(v, TX, "port {port}");
        let r = which_real(&out, &reals(3));
        assert_eq!(*first.get_or_insert(r), r, "port {port}");
        // NAT to a port-0 real keeps the destination port.
        let p = xvs_proto::classify(&out).unwrap();
        assert_eq!((p.dst, p.dport), (r, port));
        // And the reply comes back from VIP:port.
        let (v, back) = lb.send(&reply_tcp(sa(r, port), sa(client, 40000 + k as u16), SYN | ACK), k as u64);
        assert_eq!(v, TX);
        let p = xvs_proto::classify(&back).unwrap();
        assert_eq!((p.src, p.sport), (vip4(), port));
    }
    assert_eq!(lb.e.live_templates(), 1);
    // Another client is scheduled to another real for all its ports.
    let (_, out) = lb.send(&tcp(sa(cip(false, 1), 1), sa(vip4(), 443), SYN), 100);
    let other = which_real(&out, &reals(3));
    assert_ne!(other, first.unwrap());
    let (_, out) = lb.send(&tcp(sa(cip(false, 1), 2), sa(vip4(), 8443), SYN), 101);
    assert_eq!(which_real(&out, &reals(3)), other);
}

#[test]
fn ipv6_netmask_groups_a_prefix() {
    let mut c = simple(true, UDP, 53, 53, Forward::Dr, "rr", 3);
    c.services[0].persistence = 60;
    c.services[0].persistence_netmask = 64;
    let mut lb = Lb::new(c);
    let rs: Vec<IpAddr> = (0..3).map(|i| rip(true, i)).collect();
    let mut first = None;
    for k in 0..20u32 {
        let client = sa(cip(true, k * 7919), 5000 + k as u16); // all in 2001:db8:c::/64
        let (v, out) = lb.send(&udp(client, sa(vip6(), 53), b"q"), k as u64);
        assert_eq!(v, TX);
        let r = which_real(&out, &rs);
        assert_eq!(*first.get_or_insert(r), r);
    }
    let outside = sa(ip("2001:db8:d::1"), 5000);
    let (_, out) = lb.send(&udp(outside, sa(vip6(), 53), b"q"), 100);
    assert_ne!(which_real(&out, &rs), first.unwrap());
}
