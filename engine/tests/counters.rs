//! Counters: per service and per real, connections and packets/bytes in (client -> real)
//! and out (real -> client, NAT), bytes being IP packet lengths as IPVS counts them;
//! forwarded ICMP errors count like the connection's packets, in both the real's and the
//! service's counters; and the engine-wide invariant `rx == tx + passed + dropped` over a
//! mixed batch, with drops named by reason.

mod common;

use common::*;
use xvs_engine::{Counters, DropReason, Forward, ServiceId, Verdict};
use xvs_proto::build::{self, Frame};

const TX: Verdict = Verdict::Tx { port: 0 };

fn ip_len(frame: &[u8]) -> u64 {
    xvs_proto::classify(frame).unwrap().ip_len as u64
}

#[test]
fn per_service_and_per_real_traffic() {
    let c = config(vec![
        service(vip4(), 80, TCP, "rr", vec![real(rip(false, 0), 8080, 1, Forward::Nat)]),
        service(vip4(), 53, UDP, "rr", vec![real(rip(false, 1), 53, 1, Forward::Dr)]),
    ]);
    let mut lb = Lb::new(c);
    let client = sa(cip(false, 0), 4000);
    let vs = sa(vip4(), 80);
    let rs = sa(rip(false, 0), 8080);
    let (mut bin, mut bout) = (0, 0);
    for (from_client, flags, len) in
        [(true, SYN, 0), (false, SYN | ACK, 0), (true, ACK, 0), (true, ACK, 100), (false, ACK, 1000)]
    {
        let f = if from_client {
            Frame::tcp(client, vs, flags).payload(&vec![1; len]).build()
        } else {
            Frame::tcp(rs, client, flags).macs(DIR_MAC_IN, mac_for(rs.ip())).payload(&vec![2; len]).build()
        };
        if from_client {
            bin += ip_len(&f);
        } else {
            bout += ip_len(&f);
        }
        assert_eq!(lb.verdict(&f, 0), TX);
    }
    assert_eq!((bin, bout), (40 * 3 + 100, 40 * 2 + 1000));
    let want = Counters { conns: 1, pkts_in: 3, pkts_out: 2, bytes_in: bin, bytes_out: bout };
    let svcs = lb.e.services();
    assert_eq!(svcs.service_stats(ServiceId(0)), want);
    assert_eq!(svcs.reals[lb.real_id(rs.ip())].stats, want);
    assert_eq!(svcs.service_stats(ServiceId(1)), Counters::default());

    // The UDP service, two clients, DR (nothing comes back through the director).
    for i in 1..3 {
        for k in 0..3 {
            assert_eq!(lb.verdict(&udp(sa(cip(false, i), 53), sa(vip4(), 53), &[0; 20][..10 + k]), 1), TX);
        }
    }
    let bytes = 2 * ((28 + 10) + (28 + 11) + (28 + 12));
    let want = Counters { conns: 2, pkts_in: 6, pkts_out: 0, bytes_in: bytes, bytes_out: 0 };
    let svcs = lb.e.services();
    assert_eq!(svcs.service_stats(ServiceId(1)), want);
    assert_eq!(svcs.reals[lb.real_id(rip(false, 1))].stats, want);
    assert_eq!(lb.e.stats().conns_created, 3);
}

#[test]
fn forwarded_icmp_errors_count_for_real_and_service() {
    let mut lb = Lb::new(simple(false, UDP, 53, 5353, Forward::Nat, "rr", 1));
    let client = sa(cip(false, 0), 4000);
    let rs = sa(rip(false, 0), 5353);
    let q = udp(client, sa(vip4(), 53), b"q");
    assert_eq!(lb.verdict(&q, 0), TX);
    let a = reply_udp(rs, client, b"a");
    let (_, seen) = lb.send(&a, 1);
    // From the real's side, out to the client.
    let err_out = build::icmp_error(rs.ip(), client.ip(), 3, 3, &udp(client, rs, b"q"));
    assert_eq!(lb.verdict(&err_out, 2), TX);
    // From the client, in to the real.
    let err_in = build::icmp_error(client.ip(), vip4(), 3, 3, &seen);
    assert_eq!(lb.verdict(&err_in, 3), TX);
    let want = Counters {
        conns: 1,
        pkts_in: 2,
        pkts_out: 2,
        bytes_in: ip_len(&q) + ip_len(&err_in),
        bytes_out: ip_len(&a) + ip_len(&err_out),
    };
    assert_eq!(lb.e.services().reals[0].stats, want, "real");
    assert_eq!(lb.e.services().service_stats(ServiceId(0)), want, "service");
}

#[test]
fn every_frame_gets_exactly_one_verdict() {
    let mut lb = Lb::new(simple(false, TCP, 80, 80, Forward::Tun, "rr", 2));
    let vs = sa(vip4(), 80);
    let c = |i| sa(cip(false, i), 1234);
    let mut arp = udp(c(0), vs, b"");
    arp[12..14].copy_from_slice(&[0x08, 0x06]);
    let batch: Vec<Vec<u8>> = vec![
        tcp(c(0), vs, SYN),                                             // tx
        tcp(c(0), vs, ACK),                                             // tx (same batch, found)
        tcp(c(1), vs, ACK),                                             // tcp_no_conn
        arp,                                                            // pass
        tcp(c(2), sa(vip4(), 81), SYN),                                 // pass (no service)
        tcp(c(3), vs, SYN)[..20].to_vec(),                              // truncated
        vec![],                                                         // truncated (empty)
        vec![0xff; 14],                                                 // not IP: pass
        Frame::tcp(c(4), vs, SYN).df(true).payload(&[0; 1460]).build(), // frag needed: tx
        Frame::tcp(c(5), vs, SYN).payload(&[0; 1460]).build(),          // mtu_exceeded
        udp(c(6), vs, b"x"),                                            // pass (TCP-only VIP)
    ];
    let out = lb.batch(&batch, 0);
    let v: Vec<Verdict> = out.iter().map(|x| x.0).collect();
    use DropReason::*;
    assert_eq!(
        v,
        vec![
            TX,
            TX,
            Verdict::Drop(TcpNoConn),
            Verdict::Pass,
            Verdict::Pass,
            Verdict::Drop(Truncated),
            Verdict::Drop(Truncated),
            Verdict::Pass,
            TX,
            Verdict::Drop(MtuExceeded),
            Verdict::Pass,
        ]
    );
    let s = lb.e.stats();
    assert_eq!((s.rx, s.tx, s.passed, s.dropped()), (11, 3, 4, 4));
    let by: Vec<(&str, u64)> = s.drops_by_reason().collect();
    assert_eq!(by, vec![("truncated", 2), ("tcp_no_conn", 1), ("mtu_exceeded", 1)]);
    // Many more random-ish frames: the sum stays exact (checked after every call by `Lb`).
    for k in 0..200u32 {
        let mut f = tcp(c(k % 17), vs, [SYN, ACK, FIN, RST, 0][k as usize % 5]);
        let cut = (k as usize * 7) % (f.len() + 1);
        if k % 3 == 0 {
            f.truncate(cut);
        }
        lb.verdict(&f, k as u64);
    }
    let s = lb.e.stats();
    assert_eq!(s.rx, 211);
    assert_eq!(s.rx, s.tx + s.passed + s.dropped());
}
