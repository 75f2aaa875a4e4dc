//! The egress MTU check (`EngineConfig::mtu`): a packet that would not fit after
//! encapsulation (TUN adds 20 / 40 bytes) gets an ICMP "fragmentation needed" (IPv4, DF
//! set) or ICMPv6 "packet too big" back to the client from the VIP, quoting as much of it
//! as fits in 576 / 1280 bytes, with the next-hop MTU reduced by the tunnel overhead; an
//! IPv4 packet without DF is dropped `mtu_exceeded` (xvs does not fragment). Expected
//! frames are built independently with `xvs_proto::build`.

mod common;

use std::net::SocketAddr;

use common::*;
use xvs_engine::{DropReason, EngineConfig, Forward, Verdict};
use xvs_proto::build::{self, Frame};

const CMAC: Mac = [0x02, 0xc1, 0, 0, 0, 0x09];

fn cfg(v6: bool, fwd: Forward, mtu: u16) -> EngineConfig {
    let mut c = simple(v6, TCP, 80, 80, fwd, "rr", 1);
    c.mtu = mtu;
    c
}

fn client(v6: bool) -> SocketAddr {
    sa(cip(v6, 5), 45_000)
}

/// An established-connection data segment of exactly `ip_len` bytes of IP packet.
fn segment(v6: bool, ip_len: usize, df: bool) -> Frame {
    let hdr = if v6 { 40 + 20 } else { 20 + 20 };
    let payload = vec![0x5a; ip_len - hdr];
    Frame::tcp(client(v6), sa(vip(v6), 80), ACK).df(df).macs(DIR_MAC, CMAC).payload(&payload)
}

fn open(lb: &mut Lb, v6: bool) {
    let syn = Frame::tcp(client(v6), sa(vip(v6), 80), SYN).macs(DIR_MAC, CMAC).build();
    assert!(matches!(lb.verdict(&syn, 0), Verdict::Tx { .. }));
}

/// `out` is the ICMP error `(type, code)` the VIP sends the client about `big`, with
/// `rest` after the code (the MTU), `len` bytes in all with the Ethernet header, checksums
/// right.
fn assert_too_big(out: &[u8], v6: bool, big: &Frame, (t, c): (u8, u8), rest: [u8; 4], len: usize) {
    let vip = if v6 { vip6() } else { vip4() };
    let want = build::icmp_error_frame(vip, client(v6).ip(), t, c, &big.build())
        .rest(rest)
        .macs(CMAC, DIR_MAC)
        .ttl(64)
        .build();
    assert_eq!(out, want);
    assert_eq!(out.len(), len);
    verify_checksums(out).unwrap();
}

#[test]
fn tun_ipv4_df_gets_frag_needed_1480() {
    let mut lb = Lb::new(cfg(false, Forward::Tun, 1500));
    open(&mut lb, false);
    let big = segment(false, 1500, true);
    let (v, out) = lb.send_on(&big.build(), 4, 1);
    assert_eq!(v, Verdict::Tx { port: 4 }, "back out of the port it came in on");
    assert_too_big(&out, false, &big, (3, 4), [0, 0, 0x05, 0xc8], 14 + 576);
    assert_eq!(lb.e.stats().icmp_too_big_sent, 1);
    // 1480 bytes fit in 1500 with the outer header.
    let (v, out) = lb.send(&segment(false, 1480, true).build(), 2);
    assert_eq!(v, Verdict::Tx { port: 0 });
    assert_eq!(out.len(), 14 + 1500);
    // The connection is still there and unaffected.
    assert_eq!(lb.state(client(false)), "ESTABLISHED");
}

#[test]
fn tun_ipv4_without_df_is_dropped() {
    let mut lb = Lb::new(cfg(false, Forward::Tun, 1500));
    open(&mut lb, false);
    assert_eq!(lb.verdict(&segment(false, 1500, false).build(), 1), Verdict::Drop(DropReason::MtuExceeded));
    assert_eq!(lb.verdict(&segment(false, 1481, false).build(), 1), Verdict::Drop(DropReason::MtuExceeded));
    assert!(matches!(lb.verdict(&segment(false, 1480, false).build(), 1), Verdict::Tx { .. }));
    assert_eq!(lb.e.stats().icmp_too_big_sent, 0);
}

#[test]
fn tun_ipv6_gets_packet_too_big_1460() {
    let mut lb = Lb::new(cfg(true, Forward::Tun, 1500));
    open(&mut lb, true);
    let big = segment(true, 1500, false);
    let (v, out) = lb.send(&big.build(), 1);
    assert_eq!(v, Verdict::Tx { port: 0 });
    assert_too_big(&out, true, &big, (2, 0), 1460u32.to_be_bytes(), 14 + 1280);
    let (v, out) = lb.send(&segment(true, 1460, false).build(), 2);
    assert_eq!(v, Verdict::Tx { port: 0 });
    assert_eq!(out.len(), 14 + 1500);
}

#[test]
fn nat_and_dr_have_no_overhead() {
    for fwd in [Forward::Nat, Forward::Dr] {
        for v6 in [false, true] {
            let mut lb = Lb::new(cfg(v6, fwd, 1500));
            open(&mut lb, v6);
            assert!(matches!(lb.verdict(&segment(v6, 1500, true).build(), 1), Verdict::Tx { .. }));
            assert_eq!(lb.e.stats().icmp_too_big_sent, 0);
        }
    }
    // A smaller configured MTU applies to them too, without the tunnel's reduction.
    let mut lb = Lb::new(cfg(false, Forward::Dr, 1400));
    open(&mut lb, false);
    let big = segment(false, 1500, true);
    let (_, out) = lb.send(&big.build(), 1);
    let want = build::icmp_error_frame(vip4(), client(false).ip(), 3, 4, &big.build())
        .rest([0, 0, 0x05, 0x78])
        .macs(CMAC, DIR_MAC)
        .build();
    assert_eq!(out, want);
}

#[test]
fn small_packet_error_quotes_it_whole_and_keeps_the_vlan() {
    let mut lb = Lb::new(cfg(false, Forward::Tun, 100));
    open_small(&mut lb);
    let pkt = Frame::udp(client(false), sa(vip4(), 80)).df(true).vlan(12).macs(DIR_MAC, CMAC).payload(&[7; 80]);
    let (v, out) = lb.send(&pkt.build(), 1);
    assert_eq!(v, Verdict::Tx { port: 0 });
    let want = build::icmp_error_frame(vip4(), client(false).ip(), 3, 4, &pkt.build())
        .rest([0, 0, 0, 80])
        .vlan(12)
        .macs(CMAC, DIR_MAC)
        .build();
    assert_eq!(out, want);
}

fn open_small(lb: &mut Lb) {
    let mut c = simple(false, UDP, 80, 80, Forward::Tun, "rr", 1);
    c.mtu = 100;
    lb.e.apply(c).unwrap();
}

/// A flood of oversize packets cannot make the director a reflector: the kernel's ICMP
/// limits (a burst of 50, then 1000 a second) bound the "fragmentation needed" answers;
/// the rest are dropped and counted.
#[test]
fn too_big_answers_are_rate_limited_as_the_kernels_icmp() {
    let mut lb = Lb::new(cfg(false, Forward::Tun, 1500));
    open(&mut lb, false);
    let big = segment(false, 1500, true).build();
    let sent = (0..200).filter(|_| matches!(lb.verdict(&big, 10), Verdict::Tx { .. })).count();
    assert_eq!(sent, 50, "the burst");
    assert_eq!(lb.drops(DropReason::IcmpRateLimited), 150);
    // 20 ms later: 20 more.
    let sent = (0..100).filter(|_| matches!(lb.verdict(&big, 30), Verdict::Tx { .. })).count();
    assert_eq!(sent, 20);
    assert_eq!(lb.e.stats().icmp_too_big_sent, 70);
}

/// A tunnel to a real of the other family (IPVS's mixed-family TUN): an IPv4 client's
/// packet goes out in an IPv6 header (next header 4) and its room shrinks by 40 bytes; an
/// IPv6 client's in an IPv4 header (protocol 41), by 20.
#[test]
fn tun_across_families_uses_the_outer_familys_overhead() {
    for v6 in [false, true] {
        let reals = vec![real(rip(!v6, 0), 80, 1, Forward::Tun)];
        let mut c = config(vec![service(vip(v6), 80, TCP, "rr", reals)]);
        c.mtu = 1500;
        let mut lb = Lb::new(c);
        open(&mut lb, v6);
        let room = if v6 { 1480 } else { 1460 };
        let (v, out) = lb.send(&segment(v6, room, true).build(), 1);
        assert_eq!(v, Verdict::Tx { port: 0 });
        assert_eq!(out.len(), 14 + 1500);
        let outer = xvs_proto::classify(&out).unwrap();
        assert_eq!((outer.src, outer.dst, outer.proto), (dip(!v6), rip(!v6, 0), if v6 { 41 } else { 4 }));
        assert_eq!(dst_mac(&out), mac_for(rip(!v6, 0)));
        let (_, out) = lb.send(&segment(v6, room + 1, true).build(), 2);
        assert_eq!(xvs_proto::classify(&out).unwrap().dst, client(v6).ip(), "too big: back to the client");
    }
}
