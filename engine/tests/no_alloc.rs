//! No heap allocation on the packet path (DESIGN.md principle 5). xvs-testkit's counting
//! global allocator (per thread) watches `Engine::handle_batch` only; frames are built and loaded
//! outside the window. After building the engine and one warm-up pass of the same
//! workload, many batches of new and established flows of every forwarding method (NAT
//! both ways, DR, TUN, IPv4 and IPv6), with time moving forward (expiry of connections
//! and persistence templates), a full table (eviction), persistence, one-packet
//! scheduling, fragments, ICMP errors and generated "fragmentation needed" errors must
//! cause zero allocations.

mod common;

use common::*;
use xvs_engine::{EngineConfig, Forward, FrameBuf, Timeouts, Verdict};
use xvs_proto::build::{self, Frame};
use xvs_testkit::{count_allocs, CountingAlloc};

#[global_allocator]
static A: CountingAlloc = CountingAlloc;

const NAT4: u16 = 80; // NAT TCP v4, wlc
const DR4: u16 = 81; // DR TCP v4, rr, 3 reals
const TUN4: u16 = 53; // TUN UDP v4, mh
const PERS4: u16 = 443; // DR TCP v4, persistence 30 s, /24
const OPS4: u16 = 54; // DR UDP v4, ops, wrr
const NAT6: u16 = 80; // NAT UDP v6, sh
const TUN6: u16 = 81; // TUN TCP v6, lc

fn cfg() -> EngineConfig {
    let r4 = |i, port, fwd| real(rip(false, i), port, 1 + i as u32, fwd);
    let r6 = |i, port, fwd| real(rip(true, i), port, 1, fwd);
    let mut pers = service(vip4(), PERS4, TCP, "rr", (0..3).map(|i| r4(i, PERS4, Forward::Dr)).collect());
    pers.persistence = 30;
    pers.persistence_netmask = 24;
    let mut ops = service(vip4(), OPS4, UDP, "wrr", (0..3).map(|i| r4(i, OPS4, Forward::Dr)).collect());
    ops.ops = true;
    let mut mh = service(vip4(), TUN4, UDP, "mh", (0..3).map(|i| r4(i, TUN4, Forward::Tun)).collect());
    mh.sched.mh_table_size = 251;
    let mut c = config(vec![
        service(vip4(), NAT4, TCP, "wlc", vec![r4(0, 8080, Forward::Nat)]),
        service(vip4(), DR4, TCP, "rr", (0..3).map(|i| r4(i, DR4, Forward::Dr)).collect()),
        mh,
        pers,
        ops,
        service(vip6(), NAT6, UDP, "sh", vec![r6(0, 8080, Forward::Nat)]),
        service(vip6(), TUN6, TCP, "lc", (0..2).map(|i| r6(i, TUN6, Forward::Tun)).collect()),
    ]);
    c.max_connections = 96;
    c.mtu = 1000;
    c.timeouts = Timeouts::from_secs(45, 10, 15);
    c
}

/// The frames of round `r` (built here, outside the counted window).
fn round(r: u32) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let port = |k: u32| 10_000 + ((r * 16 + k) % 50_000) as u16;
    let prev = |k: u32| 10_000 + (((r.max(1) - 1) * 16 + k) % 50_000) as u16;
    for k in 0..4 {
        let c4 = cip(false, k + (r % 7) * 300);
        let c6 = cip(true, k + (r % 7) * 300);
        // New flows of every kind.
        out.push(tcp(sa(c4, port(k)), sa(vip4(), NAT4), SYN));
        out.push(tcp(sa(c4, port(k)), sa(vip4(), DR4), SYN));
        out.push(udp(sa(c4, port(k)), sa(vip4(), TUN4), b"dns?"));
        out.push(tcp(sa(c4, port(k)), sa(vip4(), PERS4), SYN));
        out.push(udp(sa(c4, port(k)), sa(vip4(), OPS4), b"ops"));
        out.push(udp(sa(c6, port(k)), sa(vip6(), NAT6), b"v6"));
        out.push(tcp(sa(c6, port(k)), sa(vip6(), TUN6), SYN));
        // Established traffic of the previous round's flows, both ways for NAT.
        out.push(tcp(sa(c4, prev(k)), sa(vip4(), DR4), ACK));
        out.push(tcp(sa(c4, prev(k)), sa(vip4(), NAT4), ACK));
        out.push(reply_tcp(sa(rip(false, 0), 8080), sa(c4, prev(k)), ACK));
        out.push(reply_udp(sa(rip(true, 0), 8080), sa(c6, prev(k)), b"v6!"));
        out.push(tcp(sa(c6, prev(k)), sa(vip6(), TUN6), ACK | FIN));
    }
    let c4 = cip(false, (r % 7) * 300);
    // A too-big DF segment on a tunnelled flow (frag needed), and one without DF (dropped).
    out.push(Frame::udp(sa(c4, port(0)), sa(vip4(), TUN4)).df(true).payload(&[1; 1200]).build());
    out.push(Frame::udp(sa(c4, port(0)), sa(vip4(), TUN4)).payload(&[1; 1200]).build());
    // Fragments of a datagram, and a later fragment with no first.
    let d = Frame::udp(sa(c4, port(5)), sa(vip4(), TUN4)).id(r as u16).payload(&[3; 300]);
    out.extend(build::fragments_v4(&d, 128));
    out.push(build::fragments_v4(&d.clone().id(r as u16 ^ 0x8000), 128)[1].clone());
    // ICMP errors both ways on a NAT connection, and one about nothing.
    let nat_req = tcp(sa(c4, prev(0)), sa(rip(false, 0), 8080), ACK);
    out.push(build::icmp_error(rip(false, 0), c4, 3, 3, &nat_req));
    let seen = Frame::tcp(sa(vip4(), NAT4), sa(c4, prev(0)), ACK).ttl(63).build();
    out.push(build::icmp_error(c4, vip4(), 3, 3, &seen));
    out.push(build::icmp_error(rip(false, 2), c4, 3, 3, &udp(sa(c4, 1), sa(rip(false, 2), 9), b"")));
    // Strays: no connection, not ours, garbage.
    out.push(tcp(sa(c4, 1), sa(vip4(), DR4), ACK));
    out.push(tcp(sa(c4, 1), sa(ip("10.9.9.9"), 80), SYN));
    out.push(vec![0xff; 30]);
    out
}

struct Rig {
    lb: Lb,
    bufs: Vec<FrameBuf>,
    verdicts: Vec<Verdict>,
}

impl Rig {
    /// Runs round `r` at `t_ms`, split into batches of 64; returns the allocations made by
    /// `handle_batch`.
    fn run(&mut self, r: u32, t_ms: u64) -> u64 {
        let frames = round(r);
        let mut total = 0;
        for chunk in frames.chunks(64) {
            let n = chunk.len();
            for (b, f) in self.bufs.iter_mut().zip(chunk) {
                b.load(f);
            }
            let (bufs, verdicts) = (&mut self.bufs[..n], &mut self.verdicts[..n]);
            let e = &mut self.lb.e;
            let ((), a) = count_allocs(|| e.handle_batch(bufs, t_ms * NS_PER_MS, verdicts));
            total += a;
        }
        self.lb.check_totals();
        total
    }
}

/// With at most 96 live connections, `handle_batch` takes each frame in one pass.
#[test]
fn process_does_not_allocate() {
    no_allocations(xvs_engine::STAGE_FROM);
}

/// The batch loop with its prefetch stages (the loop of large tables).
#[test]
fn process_with_prefetch_stages_does_not_allocate() {
    no_allocations(0);
}

/// The workload below, on an engine that runs the prefetch stages from `stage_from` live
/// connections on.
fn no_allocations(stage_from: u32) {
    let mut rig = Rig { lb: Lb::new(cfg()), bufs: vec![FrameBuf::default(); 64], verdicts: vec![Verdict::Pass; 64] };
    rig.lb.e.set_stage_from(stage_from);
    // Warm-up: the same workload once over a long span of time (every path, every expiry).
    let mut t = 1_000;
    for r in 0..40 {
        rig.run(r, t);
        t += if r % 20 == 19 { 600_000 } else { 7_000 };
    }
    let before = rig.lb.e.stats().clone();
    let (tb, ta) = (before.templates_expired, before.templates_created);
    assert!(before.conns_evicted > 0 && before.conns_expired > 0 && tb > 0 && ta > 0, "warm-up: {before:?}");

    // Counted: many more rounds, time moving forward (sometimes by a lot).
    let mut allocs = Vec::new();
    for r in 40..400 {
        t += if r % 50 == 0 { 600_000 } else { 7_000 };
        let a = rig.run(r, t);
        if a > 0 {
            allocs.push((r, a));
        }
    }
    let s = rig.lb.e.stats();
    assert_eq!(allocs, vec![], "allocations during process (round, count)");
    // The counted part did exercise every path.
    assert!(s.conns_created > before.conns_created);
    assert!(s.conns_expired > before.conns_expired);
    assert!(s.conns_evicted > before.conns_evicted);
    assert!(s.templates_created > before.templates_created);
    assert!(s.templates_expired > before.templates_expired);
    assert!(s.ops_scheduled > before.ops_scheduled);
    assert!(s.icmp_too_big_sent > before.icmp_too_big_sent);
    assert!(s.tx > before.tx && s.passed > before.passed && s.dropped() > before.dropped());
}

/// The counter itself works (so a zero above means something).
#[test]
fn the_counter_counts() {
    let (v, a) = count_allocs(|| vec![1u8; 100]);
    assert_eq!(v.len(), 100);
    assert!(a >= 1);
    drop(v);
}
