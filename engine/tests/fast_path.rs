//! The fast path changes no result: two engines on the same configuration, one with the
//! fast path (the default) and one without (`Engine::set_fast_path(false)`), are given the
//! same random traffic (NAT, DR and TUN services, IPv4 and IPv6, TCP and UDP, requests and
//! the reals' replies, every flag combination that moves IPVS's state tables, TTL 1,
//! frames over the MTU, zero UDP checksums, IPv4 options and IPv6 extension headers,
//! fragments, clock jumps past every timeout, sync master on and off, reloads that
//! shorten the TCP and UDP timeouts and lengthen them back). After every batch
//! the verdicts and every byte of every frame must be equal; at the end the engines'
//! counters, connection listings, per-real and per-service counters and the sync records
//! handed out.
//!
//! Neither do the batch loop's prefetch stages: a third engine, fast path on, runs them
//! for every batch (`Engine::set_stage_from(0)`), where the others, with fewer live
//! connections than `STAGE_FROM`, handle each frame in one pass; its results must equal
//! theirs too.
//!
//! Classifying once changes no result either: frames handled from the classes a poll loop
//! made to choose their core (`Engine::classify` + `handle_classified`), or from classes
//! another core's engine made and this one adopted (a handed frame), get what
//! `handle_batch` gives them; and the client each class names is the traffic's client.

mod common;

use std::net::SocketAddr;

use common::*;
use proptest::prelude::*;
use xvs_engine::{Classified, Engine, EngineConfig, Forward, FrameBuf, Verdict};
use xvs_proto::build::{Ext, Frame};

/// NAT on port 80 (reals on 8080), DR on 81 and TUN on 82, two reals each, TCP and UDP,
/// on an IPv4 and an IPv6 VIP.
fn cfg() -> EngineConfig {
    let mut services = Vec::new();
    for v6 in [false, true] {
        for proto in [TCP, UDP] {
            for (vport, rport, fwd) in [(80, 8080, Forward::Nat), (81, 81, Forward::Dr), (82, 82, Forward::Tun)] {
                let reals = (0..2).map(|i| real(rip(v6, i), rport, 1, fwd)).collect();
                services.push(service(vip(v6), vport, proto, "rr", reals));
            }
        }
    }
    let mut c = config(services);
    c.max_connections = 64;
    c.mtu = 1000;
    c
}

#[derive(Debug, Clone)]
enum Event {
    /// A client packet: family, client, source port choice, service (0..3), TCP or UDP,
    /// flags, TTL, payload length, DF, zero UDP checksum, IP options (an IPv6 extension
    /// header), first fragment (IPv4).
    Request {
        v6: bool,
        client: u8,
        sport: u8,
        svc: u8,
        tcp: bool,
        flags: u8,
        ttl: u8,
        len: u16,
        df: bool,
        zero: bool,
        opts: bool,
        frag: bool,
    },
    /// A reply from real `real` (its NAT port 8080) to a client.
    Reply { v6: bool, real: u8, client: u8, sport: u8, tcp: bool, flags: u8, ttl: u8, len: u16 },
    /// Later by this many milliseconds (past TCP and UDP timeouts at the top).
    Wait(u32),
    /// Sync master on or off.
    Sync(bool),
    /// A reload with short TCP and UDP timeouts (a connection's next packet moves its
    /// deadline earlier: the fast path declines it to the general path, which re-arms
    /// it), or with the usual ones again.
    Timeouts(bool),
}

const FLAGS: [u8; 8] = [SYN, SYN | ACK, ACK, ACK | 0x08, FIN | ACK, RST, RST | ACK, 0];

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        8 => (any::<bool>(), 0u8..4, 0u8..2, 0u8..3, any::<bool>(), 0usize..8, prop_oneof![Just(1u8), Just(2), Just(64)], 0u16..1100,
              any::<bool>(), any::<bool>(), prop::bool::weighted(0.05), prop::bool::weighted(0.05))
            .prop_map(|(v6, client, sport, svc, tcp, f, ttl, len, df, zero, opts, frag)| Event::Request {
                v6, client, sport, svc, tcp, flags: FLAGS[f], ttl, len, df, zero, opts, frag
            }),
        4 => (any::<bool>(), 0u8..2, 0u8..4, 0u8..2, any::<bool>(), 0usize..8, prop_oneof![Just(1u8), Just(64)], 0u16..600)
            .prop_map(|(v6, real, client, sport, tcp, f, ttl, len)| Event::Reply { v6, real, client, sport, tcp, flags: FLAGS[f], ttl, len }),
        1 => prop_oneof![0u32..2_000, Just(130_000), Just(1_000_000)].prop_map(Event::Wait),
        1 => any::<bool>().prop_map(Event::Sync),
        1 => any::<bool>().prop_map(Event::Timeouts),
    ]
}

fn client(v6: bool, i: u8, sport: u8) -> SocketAddr {
    sa(cip(v6, u32::from(i)), 40_000 + u16::from(sport))
}

fn frame(e: &Event) -> Option<Vec<u8>> {
    Some(match *e {
        Event::Request { v6, client: c, sport, svc, tcp, flags, ttl, len, df, zero, opts, frag } => {
            let (src, dst) = (client(v6, c, sport), sa(vip(v6), 80 + u16::from(svc)));
            let payload = vec![0x5a; usize::from(len)];
            let mut f = if tcp { Frame::tcp(src, dst, flags) } else { Frame::udp(src, dst) };
            f = f.payload(&payload).ttl(ttl).df(df);
            if zero && !tcp && !v6 {
                f = f.zero_udp_checksum();
            }
            if opts && v6 {
                f = f.ipv6_ext(Ext::DestOpts(vec![1, 0]));
            } else if opts {
                f = f.ipv4_options(&[1, 1, 1, 0]);
            }
            if frag && !v6 {
                f = f.fragment(0, true);
            }
            f.build()
        }
        Event::Reply { v6, real: r, client: c, sport, tcp, flags, ttl, len } => {
            let (src, dst) = (sa(rip(v6, r), 8080), client(v6, c, sport));
            let payload = vec![0xa5; usize::from(len)];
            let f = if tcp { Frame::tcp(src, dst, flags) } else { Frame::udp(src, dst) };
            f.payload(&payload).ttl(ttl).macs(DIR_MAC_IN, mac_for(src.ip())).build()
        }
        _ => return None,
    })
}

/// The configuration of [`Event::Timeouts`]: `cfg()` with short TCP and UDP timeouts, or
/// as it is.
fn timeouts_cfg(short: bool) -> EngineConfig {
    let mut c = cfg();
    if short {
        c.timeouts = xvs_engine::Timeouts::from_secs(2, 1, 1);
    }
    c
}

fn engine(fast: bool) -> Engine {
    let mut e = Engine::new(cfg(), 0).unwrap();
    e.set_fast_path(fast);
    e
}

/// An engine with the fast path that runs the prefetch stages for every batch.
fn staged_engine() -> Engine {
    let mut e = engine(true);
    e.set_stage_from(0);
    e
}

fn run(e: &mut Engine, frames: &[Vec<u8>], now_ms: u64) -> Vec<(Verdict, Vec<u8>)> {
    let mut b: Vec<FrameBuf> = frames.iter().map(|f| FrameBuf::from_bytes(f)).collect();
    let mut v = vec![Verdict::Pass; b.len()];
    e.handle_batch(&mut b, now_ms * NS_PER_MS, &mut v);
    v.into_iter().zip(b.iter().map(|f| f.data().to_vec())).collect()
}

/// How a batch reaches the engine.
#[derive(Clone, Copy)]
enum Entry<'a> {
    /// `handle_batch` on the bytes.
    Bytes,
    /// Classified by the engine itself, then `handle_classified`.
    Own,
    /// Classified by `peer` (another core's engine, other hash keys), adopted.
    Adopted(&'a Engine),
}

fn run_via(e: &mut Engine, frames: &[Vec<u8>], now_ms: u64, entry: Entry) -> Vec<(Verdict, Vec<u8>)> {
    let mut b: Vec<FrameBuf> = frames.iter().map(|f| FrameBuf::from_bytes(f)).collect();
    let mut v = vec![Verdict::Pass; b.len()];
    let mut classes = vec![Classified::EMPTY; b.len()];
    match entry {
        Entry::Bytes => e.handle_batch(&mut b, now_ms * NS_PER_MS, &mut v),
        Entry::Own => {
            for (c, f) in classes.iter_mut().zip(&b) {
                e.classify_into(f.data(), c);
            }
            e.handle_classified(&mut b, &classes, now_ms * NS_PER_MS, &mut v);
        }
        Entry::Adopted(peer) => {
            for (c, f) in classes.iter_mut().zip(&b) {
                *c = e.adopt(&peer.classify(f.data()));
            }
            e.handle_classified(&mut b, &classes, now_ms * NS_PER_MS, &mut v);
        }
    }
    v.into_iter().zip(b.iter().map(|f| f.data().to_vec())).collect()
}

/// The client address of an event's frame.
fn client_ip(e: &Event) -> Option<std::net::IpAddr> {
    match *e {
        Event::Request { v6, client: c, sport, .. } | Event::Reply { v6, client: c, sport, .. } => {
            Some(client(v6, c, sport).ip())
        }
        _ => None,
    }
}

fn sync_records(e: &mut Engine) -> Vec<String> {
    let mut out = Vec::new();
    e.poll_sync(|s| out.push(format!("{s:?}")));
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn the_fast_path_changes_no_result(events in proptest::collection::vec(event(), 1..300), cuts in proptest::collection::vec(1usize..24, 1..40)) {
        // The general path first: the others are compared with it.
        let mut engines = [engine(false), engine(true), staged_engine()];
        let mut now = 1_000u64;
        let mut pending: Vec<Vec<u8>> = Vec::new();
        let mut cut = cuts.iter().cycle();
        let mut limit = *cut.next().unwrap();
        let flush = |engines: &mut [Engine; 3], pending: &mut Vec<Vec<u8>>, now: u64| {
            if pending.is_empty() {
                return Ok(());
            }
            let [general, others @ ..] = engines;
            let want = run(general, pending, now);
            for e in others {
                prop_assert_eq!(&run(e, pending, now), &want);
            }
            pending.clear();
            Ok(())
        };
        for e in &events {
            match e {
                Event::Wait(ms) => {
                    flush(&mut engines, &mut pending, now)?;
                    now += u64::from(*ms);
                }
                Event::Sync(on) => {
                    flush(&mut engines, &mut pending, now)?;
                    let want = sync_records(&mut engines[0]);
                    for en in &mut engines[1..] {
                        prop_assert_eq!(&sync_records(en), &want);
                    }
                    for en in &mut engines {
                        en.set_sync_master(*on);
                    }
                }
                Event::Timeouts(short) => {
                    flush(&mut engines, &mut pending, now)?;
                    for en in &mut engines {
                        en.apply(timeouts_cfg(*short)).unwrap();
                    }
                }
                _ => {
                    pending.push(frame(e).unwrap());
                    if pending.len() >= limit {
                        flush(&mut engines, &mut pending, now)?;
                        limit = *cut.next().unwrap();
                    }
                }
            }
        }
        flush(&mut engines, &mut pending, now)?;
        let [general, others @ ..] = &mut engines;
        let general_sync = sync_records(general);
        for fast in others {
            prop_assert_eq!(fast.stats(), general.stats());
            prop_assert_eq!(fast.connections(), general.connections());
            prop_assert_eq!(&sync_records(fast), &general_sync);
            let (fs, gs) = (fast.services(), general.services());
            for (a, b) in fs.reals.iter().zip(gs.reals.iter()) {
                prop_assert_eq!(a.stats, b.stats);
                prop_assert_eq!(format!("{:?}", a.counters), format!("{:?}", b.counters));
            }
            for sid in 0..fs.services.len() {
                let sid = xvs_engine::ServiceId(sid as u16);
                prop_assert_eq!(fs.service_stats(sid), gs.service_stats(sid));
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 100, ..ProptestConfig::default() })]

    #[test]
    fn classifying_once_changes_no_result(events in proptest::collection::vec(event(), 1..200), cut in 1usize..24) {
        let mut engines = [engine(true), engine(true), engine(true)];
        let mut peer_cfg = cfg();
        peer_cfg.hash_seed = 0x5eed;
        let peer = Engine::new(peer_cfg, 0).unwrap();
        let mut now = 1_000u64;
        let mut pending: Vec<Vec<u8>> = Vec::new();
        for (i, e) in events.iter().enumerate() {
            if let Event::Wait(ms) = e {
                now += u64::from(*ms);
                continue;
            }
            if let Event::Sync(on) = e {
                for en in &mut engines {
                    en.set_sync_master(*on);
                }
                continue;
            }
            if let Event::Timeouts(short) = e {
                for en in &mut engines {
                    en.apply(timeouts_cfg(*short)).unwrap();
                }
                continue;
            }
            let f = frame(e).unwrap();
            let class = engines[0].classify(&f);
            prop_assert_eq!(engines[0].client_of(&class), client_ip(e));
            prop_assert_eq!(peer.client_of(&peer.classify(&f)), client_ip(e));
            pending.push(f);
            if pending.len() >= cut || i + 1 == events.len() {
                let [a, b, c] = &mut engines;
                let bytes = run_via(a, &pending, now, Entry::Bytes);
                prop_assert_eq!(&bytes, &run_via(b, &pending, now, Entry::Own));
                prop_assert_eq!(&bytes, &run_via(c, &pending, now, Entry::Adopted(&peer)));
                pending.clear();
            }
        }
        for other in &engines[1..] {
            prop_assert_eq!(engines[0].stats(), other.stats());
            prop_assert_eq!(engines[0].connections(), other.connections());
        }
    }
}

/// The fast path is taken at all: established NAT traffic moves through it with the same
/// result, and a frame it rejects (IP options) still goes through the general path.
#[test]
fn established_nat_traffic_matches_byte_for_byte() {
    let (mut fast, mut general) = (engine(true), engine(false));
    let c = client(false, 0, 0);
    let vip = sa(vip4(), 80);
    let syn = [tcp(c, vip, SYN)];
    let out = run(&mut fast, &syn, 1_000);
    assert_eq!(out, run(&mut general, &syn, 1_000));
    assert!(matches!(out[0].0, Verdict::Tx { .. }), "{out:?}");
    let real = which_real(&out[0].1, &[rip(false, 0), rip(false, 1)]);
    let mut frames =
        vec![reply_tcp(sa(real, 8080), c, SYN | ACK), tcp(c, vip, ACK), reply_tcp(sa(real, 8080), c, ACK | 0x08)];
    frames.push(Frame::tcp(c, vip, ACK).ipv4_options(&[1, 1, 1, 0]).build());
    for _ in 0..50 {
        frames.push(Frame::tcp(c, vip, ACK | 0x08).payload(b"GET / HTTP/1.0\r\n\r\n").build());
        frames.push(reply_tcp(sa(real, 8080), c, ACK | 0x08));
    }
    let a = run(&mut fast, &frames, 1_001);
    let b = run(&mut general, &frames, 1_001);
    assert_eq!(a, b);
    assert!(a.iter().all(|(v, _)| matches!(v, Verdict::Tx { .. })), "{a:?}");
    for (_, f) in &a {
        verify_checksums(f).unwrap();
    }
    assert_eq!(fast.stats(), general.stats());
}

/// A frame the fast path takes with a verdict other than `Tx` is counted as the general
/// path counts it: an established TUN request over the MTU (with the tunnel's overhead)
/// without DF is dropped (`mtu_exceeded`) by the general transmit the fast path wraps, and
/// with DF answered with an ICMP error.
#[test]
fn a_tun_request_over_the_mtu_is_counted_as_the_general_path_counts_it() {
    let (mut fast, mut general) = (engine(true), engine(false));
    let c = client(false, 1, 0);
    let vip = sa(vip4(), 82);
    let mut frames = vec![tcp(c, vip, SYN), tcp(c, vip, ACK)];
    for _ in 0..8 {
        frames.push(Frame::tcp(c, vip, ACK | 0x08).payload(b"GET / HTTP/1.0\r\n\r\n").build());
    }
    for df in [false, true, false] {
        frames.push(Frame::tcp(c, vip, ACK | 0x08).payload(&[0x5a; 990]).df(df).build());
        frames.push(Frame::tcp(c, vip, ACK | 0x08).payload(b"small").build());
    }
    let a = run(&mut fast, &frames, 1_000);
    let b = run(&mut general, &frames, 1_000);
    assert_eq!(a, b);
    let dropped = a.iter().filter(|(v, _)| matches!(v, Verdict::Drop(_))).count();
    assert_eq!(dropped, 2, "{a:?}");
    assert_eq!(fast.stats(), general.stats());
}
