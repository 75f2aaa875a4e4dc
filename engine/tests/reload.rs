//! Quiescing and reloads through `Engine::apply`: a weight-0 real gets no new connections
//! while its established ones keep flowing; a real removed by a reload keeps its
//! established connections (both directions for NAT) unless `expire_nodest_conn`, in which
//! case their next packet is dropped `nodest` and the connection ends; a removed service's
//! connections run out, and its other packets are dropped (`service_removed`), not passed
//! to the kernel; a failed apply changes nothing; the sorry server takes new
//! connections when no real can.

mod common;

use std::net::{IpAddr, SocketAddr};

use common::*;
use xvs_engine::{DropReason, EngineConfig, Forward, Verdict};

const TX: Verdict = Verdict::Tx { port: 0 };

fn nat(n: u8) -> EngineConfig {
    simple(false, TCP, 80, 8080, Forward::Nat, "rr", n)
}

fn reals(n: u8) -> Vec<IpAddr> {
    (0..n).map(|i| rip(false, i)).collect()
}

fn vs() -> SocketAddr {
    sa(vip4(), 80)
}

/// Opens an established NAT connection from client `i`; returns (client, real).
fn establish(lb: &mut Lb, i: u32, t: u64) -> (SocketAddr, IpAddr) {
    let client = sa(cip(false, i), 10_000 + i as u16);
    let (v, out) = lb.send(&tcp(client, vs(), SYN), t);
    assert_eq!(v, TX);
    let r = which_real(&out, &reals(3));
    assert_eq!(lb.verdict(&reply_tcp(sa(r, 8080), client, SYN | ACK), t), TX);
    assert_eq!(lb.verdict(&tcp(client, vs(), ACK), t), TX);
    assert_eq!(lb.state(client), "ESTABLISHED");
    (client, r)
}

fn set_weight(c: &mut EngineConfig, r: IpAddr, w: u32) {
    c.services[0].reals.iter_mut().filter(|x| x.addr == r).for_each(|x| x.weight = w);
}

/// Four established connections over two NAT reals, then a reload of `nat(2)` changed by
/// `change` for the real of the first connection: (the director, its connections, that real).
fn four_then(change: impl FnOnce(&mut EngineConfig, IpAddr)) -> (Lb, Vec<(SocketAddr, IpAddr)>, IpAddr) {
    let mut lb = Lb::new(nat(2));
    let conns: Vec<_> = (0..4).map(|i| establish(&mut lb, i, 0)).collect();
    let target = conns[0].1;
    let mut c = nat(2);
    change(&mut c, target);
    lb.e.apply(c).unwrap();
    (lb, conns, target)
}

fn remove(c: &mut EngineConfig, r: IpAddr) {
    c.services[0].reals.retain(|x| x.addr != r);
}

#[test]
fn quiesced_real_gets_no_new_connections_but_keeps_old_ones() {
    let (mut lb, conns, q) = four_then(|c, q| set_weight(c, q, 0));
    for i in 10..30 {
        let (v, out) = lb.send(&tcp(sa(cip(false, i), 1), vs(), SYN), 10);
        assert_eq!(v, TX);
        assert_ne!(which_real(&out, &reals(2)), q, "new connection on a quiesced real");
    }
    for &(client, r) in &conns {
        let (v, out) = lb.send(&tcp(client, vs(), ACK | xvs_proto::tcp_flags::PSH), 20);
        assert_eq!(v, TX);
        assert_eq!(which_real(&out, &reals(2)), r, "established connection moved");
        assert_eq!(lb.verdict(&reply_tcp(sa(r, 8080), client, ACK), 21), TX);
    }
    assert_eq!(lb.counts(q), (2, 0, 0));
    // Weight back: new connections again.
    lb.e.apply(nat(2)).unwrap();
    let hits = (40..44)
        .filter(|&i| {
            let (_, out) = lb.send(&tcp(sa(cip(false, i), 1), vs(), SYN), 30);
            which_real(&out, &reals(2)) == q
        })
        .count();
    assert_eq!(hits, 2);
}

#[test]
fn removed_real_keeps_established_connections() {
    let (mut lb, conns, gone) = four_then(remove);
    for &(client, r) in &conns {
        let (v, out) = lb.send(&tcp(client, vs(), ACK), 10);
        assert_eq!(v, TX);
        assert_eq!(which_real(&out, &reals(2)), r);
        let (v, back) = lb.send(&reply_tcp(sa(r, 8080), client, ACK), 11);
        assert_eq!(v, TX);
        assert_eq!(xvs_proto::classify(&back).unwrap().src, vip4());
    }
    for i in 10..20 {
        let (_, out) = lb.send(&tcp(sa(cip(false, i), 1), vs(), SYN), 12);
        assert_ne!(which_real(&out, &reals(2)), gone);
    }
    // They still end normally and release the removed real's counters.
    for &(client, r) in conns.iter().filter(|c| c.1 == gone) {
        lb.send(&tcp(client, vs(), FIN | ACK), 20);
        lb.send(&reply_tcp(sa(r, 8080), client, FIN | ACK), 21);
    }
    assert_eq!(lb.counts(gone), (0, 2, 0));
    lb.tick_until_reaped(21 + 120_000);
    assert_eq!(lb.counts(gone), (0, 0, 0));
    // Re-adding it reuses its id (its counters and stats carry on).
    let before = lb.e.services().reals.len();
    lb.e.apply(nat(2)).unwrap();
    assert_eq!(lb.e.services().reals.len(), before);
    assert_eq!(lb.e.services().reals[lb.real_id(gone)].stats.conns, 2);
}

#[test]
fn expire_nodest_conn_drops_and_ends_them() {
    let (mut lb, conns, gone) = four_then(|c, gone| {
        remove(c, gone);
        c.expire_nodest_conn = true;
    });
    for &(client, r) in &conns {
        let v = lb.verdict(&tcp(client, vs(), ACK), 10);
        if r == gone {
            assert_eq!(v, Verdict::Drop(DropReason::NoDest));
            assert!(lb.conn(client).is_none());
            // The reply direction is gone too (not NAT traffic any more).
            assert_eq!(lb.verdict(&reply_tcp(sa(r, 8080), client, ACK), 11), Verdict::Pass);
            // A new SYN from the same endpoint is scheduled on a remaining real.
            let (v, out) = lb.send(&tcp(client, vs(), SYN), 12);
            assert_eq!(v, TX);
            assert_ne!(which_real(&out, &reals(2)), gone);
        } else {
            assert_eq!(v, TX);
        }
    }
    assert_eq!(lb.drops(DropReason::NoDest), 2);
    assert_eq!(lb.counts(gone), (0, 0, 0));
    // The drop also applies to a reply arriving first.
    let mut lb = Lb::new(nat(2));
    let (client, r) = establish(&mut lb, 0, 0);
    let mut c = nat(2);
    c.services[0].reals.retain(|x| x.addr != r);
    c.expire_nodest_conn = true;
    lb.e.apply(c).unwrap();
    assert_eq!(lb.verdict(&reply_tcp(sa(r, 8080), client, ACK), 5), Verdict::Drop(DropReason::NoDest));
    assert_eq!(lb.e.live_connections(), 0);
}

#[test]
fn quiesced_is_not_removed_for_expire_nodest_conn() {
    let mut lb = Lb::new(nat(1));
    let (client, r) = establish(&mut lb, 0, 0);
    let mut c = nat(1);
    set_weight(&mut c, r, 0);
    c.expire_nodest_conn = true;
    lb.e.apply(c).unwrap();
    assert_eq!(lb.verdict(&tcp(client, vs(), ACK), 1), TX);
    // No real can take a new connection: no_real.
    assert_eq!(lb.verdict(&tcp(sa(cip(false, 9), 1), vs(), SYN), 2), Verdict::Drop(DropReason::NoReal));
}

#[test]
fn removed_service_lets_connections_run_out() {
    let mut lb = Lb::new(nat(1));
    let (client, r) = establish(&mut lb, 0, 0);
    lb.e.apply(config(vec![])).unwrap();
    assert_eq!(lb.verdict(&tcp(client, vs(), ACK), 1), TX);
    assert_eq!(lb.verdict(&reply_tcp(sa(r, 8080), client, ACK), 2), TX);
    // A packet without a connection for the removed service is dropped, never passed to
    // the kernel (whose answer would be a reset); another port of the VIP still passes.
    assert_eq!(lb.verdict(&tcp(sa(cip(false, 5), 1), vs(), SYN), 3), Verdict::Drop(DropReason::ServiceRemoved));
    assert_eq!(lb.verdict(&tcp(sa(cip(false, 5), 1), vs(), ACK), 3), Verdict::Drop(DropReason::ServiceRemoved));
    assert_eq!(lb.verdict(&tcp(sa(cip(false, 5), 1), sa(vip4(), 81), SYN), 3), Verdict::Pass);
    // Configured again: it takes new connections.
    lb.e.apply(nat(1)).unwrap();
    assert_eq!(lb.verdict(&tcp(sa(cip(false, 6), 1), vs(), SYN), 4), TX);
}

#[test]
fn failed_apply_changes_nothing() {
    let mut lb = Lb::new(nat(2));
    let mut bad = nat(1);
    bad.services[0].scheduler = "no-such-scheduler".into();
    assert!(lb.e.apply(bad).is_err());
    let mut bad = nat(1);
    bad.services[0].reals[0].forward = Forward::Tun;
    bad.address4 = None;
    assert!(lb.e.apply(bad).is_err());
    let mut bad = nat(1);
    bad.services[0].reals.push(real(rip(true, 0), 8080, 1, Forward::Nat));
    assert!(lb.e.apply(bad).is_err());
    // Still two reals in rr.
    let got: Vec<IpAddr> = (0..4)
        .map(|i| {
            let (_, out) = lb.send(&tcp(sa(cip(false, i), 1), vs(), SYN), 0);
            which_real(&out, &reals(2))
        })
        .collect();
    assert_eq!(got, vec![reals(2)[0], reals(2)[1], reals(2)[0], reals(2)[1]]);
}

#[test]
fn forward_change_applies_to_new_connections_only() {
    let mut lb = Lb::new(simple(false, TCP, 80, 80, Forward::Dr, "rr", 1));
    let client = sa(cip(false, 0), 1);
    let (_, out) = lb.send(&tcp(client, vs(), SYN), 0);
    assert_eq!(xvs_proto::classify(&out).unwrap().dst, vip4(), "DR leaves the destination");
    lb.e.apply(simple(false, TCP, 80, 80, Forward::Tun, "rr", 1)).unwrap();
    let (_, out) = lb.send(&tcp(client, vs(), ACK), 1);
    assert_eq!(xvs_proto::classify(&out).unwrap().proto, TCP, "the old connection stays DR");
    let (_, out) = lb.send(&tcp(sa(cip(false, 1), 1), vs(), SYN), 2);
    assert_eq!(xvs_proto::classify(&out).unwrap().proto, 4, "a new one is tunnelled");
    assert_eq!(lb.conn(client).unwrap().forward, Forward::Dr);
}

#[test]
fn sorry_server_takes_over_when_no_real_can() {
    let mut c = nat(2);
    let sorry = ip("10.0.9.9");
    c.services[0].sorry_server = Some(real(sorry, 80, 1, Forward::Nat));
    let c = {
        let s = c.services.clone();
        config(s)
    };
    let mut lb = Lb::new(c.clone());
    let (_, out) = lb.send(&tcp(sa(cip(false, 0), 1), vs(), SYN), 0);
    assert_ne!(xvs_proto::classify(&out).unwrap().dst, sorry);
    let mut q = c.clone();
    for r in &mut q.services[0].reals {
        r.weight = 0;
    }
    lb.e.apply(q).unwrap();
    let (v, out) = lb.send(&tcp(sa(cip(false, 1), 1), vs(), SYN), 1);
    assert_eq!(v, TX);
    let p = xvs_proto::classify(&out).unwrap();
    assert_eq!((p.dst, p.dport), (sorry, 80));
    assert_eq!(dst_mac(&out), mac_for(sorry));
    lb.e.apply(c).unwrap();
    let (_, out) = lb.send(&tcp(sa(cip(false, 2), 1), vs(), SYN), 2);
    assert_ne!(xvs_proto::classify(&out).unwrap().dst, sorry);
}

/// keepalived removes the sorry server once the reals are back, so a persistent client
/// pinned to it goes to a real; with `sorry_server_inhibit` (kept at weight 0) it stays
/// until its template expires.
#[test]
fn sorry_templates_lapse_when_the_reals_return_unless_inhibited() {
    for inhibit in [false, true] {
        let mut c = nat(2);
        let sorry = ip("10.0.9.9");
        c.services[0].sorry_server = Some(real(sorry, 80, 1, Forward::Nat));
        c.services[0].sorry_inhibit = inhibit;
        c.services[0].persistence = 300;
        let c = config(c.services.clone());
        let mut q = c.clone();
        for r in &mut q.services[0].reals {
            r.weight = 0;
        }
        let mut lb = Lb::new(q);
        let client = cip(false, 7);
        let (_, out) = lb.send(&tcp(sa(client, 1000), vs(), SYN), 0);
        assert_eq!(xvs_proto::classify(&out).unwrap().dst, sorry, "no real: the sorry server");
        lb.e.apply(c).unwrap();
        // A new connection of the same client, its template still young.
        let (_, out) = lb.send(&tcp(sa(client, 1001), vs(), SYN), 1_000);
        let dst = xvs_proto::classify(&out).unwrap().dst;
        assert_eq!(dst == sorry, inhibit, "inhibit {inhibit}: went to {dst}");
    }
}

/// A fwmark service takes the traffic its marks cover (ports of one VIP, or a prefix),
/// before any VIP service, keeps one persistence template per client across them
/// (IPVS keys it by the mark), and DR keeps the client's port.
#[test]
fn fwmark_services_take_their_marks_traffic_with_one_template() {
    use xvs_engine::MarkRule;
    let mut c = nat(3);
    let v = vs().ip();
    let mut svc = c.services[0].clone();
    svc.vip = ip("0.0.0.0");
    svc.prefix_len = 0;
    svc.port = 0;
    svc.proto = 0;
    svc.fwmark = 1;
    svc.persistence = 300;
    svc.marks = vec![
        MarkRule { proto: 6, net: v, len: 32, lo: 80, hi: 80 },
        MarkRule { proto: 6, net: v, len: 32, lo: 443, hi: 443 },
    ];
    svc.reals = c.services[0].reals.iter().map(|r| real(r.addr, 0, 1, Forward::Dr)).collect();
    c.services = vec![svc];
    let mut lb = Lb::new(config(c.services.clone()));
    let client = cip(false, 9);
    let (v1, out) = lb.send(&tcp(sa(client, 1000), std::net::SocketAddr::new(v, 80), SYN), 0);
    assert_eq!(v1, TX);
    let first = dst_mac(&out);
    assert_eq!(xvs_proto::classify(&out).unwrap().dport, 80, "DR keeps the port");
    // The same client on the other port of the mark: the same real (one template).
    for (i, port) in [443u16, 80, 443].into_iter().enumerate() {
        let (v2, out) = lb.send(&tcp(sa(client, 1001 + i as u16), std::net::SocketAddr::new(v, port), SYN), 10);
        assert_eq!(v2, TX);
        assert_eq!(dst_mac(&out), first, "port {port}: the template of the mark");
        assert_eq!(xvs_proto::classify(&out).unwrap().dport, port);
    }
    // A port the mark does not cover has no service.
    let (v3, _) = lb.send(&tcp(sa(client, 2000), std::net::SocketAddr::new(v, 8080), SYN), 20);
    assert_ne!(v3, TX);
}
