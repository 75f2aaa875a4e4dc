//! Byte-exact fixtures for TUN encapsulation and director-generated "too big" errors.
//! Outer headers are written out by hand; their checksums come from etherparse.

mod common;

use common::{ip, sa, verify};
use etherparse::Ipv4HeaderSlice;
use xvs_proto::build::{self, Frame, DST_MAC, SRC_MAC};
use xvs_proto::tcp_flags::{ACK, SYN};
use xvs_proto::{classify, icmp_too_big, tun_encap, Encap, RewriteError};

const HEADROOM: usize = 64;

/// `frame` placed at HEADROOM in a buffer with 16 bytes of tail.
fn buf_with(frame: &[u8]) -> Vec<u8> {
    let mut b = vec![0xee; HEADROOM];
    b.extend_from_slice(frame);
    b.extend_from_slice(&[0xdd; 16]);
    b
}

fn v4_outer(tos: u8, total: u16, id: u16, df: bool, src: [u8; 4], dst: [u8; 4]) -> Vec<u8> {
    let mut h = vec![0x45, tos];
    h.extend_from_slice(&total.to_be_bytes());
    h.extend_from_slice(&id.to_be_bytes());
    h.extend_from_slice(&[if df { 0x40 } else { 0 }, 0, 64, 4, 0, 0]);
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    let c = Ipv4HeaderSlice::from_slice(&h).unwrap().to_header().calc_header_checksum();
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h
}

#[test]
fn tun_v4_df_and_not_df() {
    for df in [true, false] {
        let inner = Frame::tcp(sa("198.51.100.7:40000"), sa("10.0.1.100:80"), SYN)
            .df(df)
            .id(0x1234)
            .tos(0xb8)
            .vlan(12)
            .pad_to(70)
            .build();
        let p = classify(&inner).unwrap();
        let mut buf = buf_with(&inner);
        let (mut head, mut len) = (HEADROOM, inner.len());
        tun_encap(&mut buf, &mut head, &mut len, &p, ip("10.0.2.1"), ip("10.0.2.11"), Encap::Ipip).unwrap();
        assert_eq!(head, HEADROOM - 20);
        let ip_end = p.ip_end();
        let mut want = inner[..18].to_vec();
        let id = if df { 0 } else { 0x1234 };
        want.extend(v4_outer(0xb8, 20 + p.ip_len, id, df, [10, 0, 2, 1], [10, 0, 2, 11]));
        want.extend_from_slice(&inner[18..ip_end]); // padding dropped
        assert_eq!(&buf[head..head + len], &want[..]);
        let out = classify(&buf[head..head + len]).unwrap();
        assert_eq!((out.proto, out.vlan, out.src), (4, Some(12), ip("10.0.2.1")));
        verify(&buf[head..head + len]);
    }
}

#[test]
fn tun_v6() {
    let inner = Frame::udp(sa("[2001:db8:c::7]:5000"), sa("[2001:db8:1::100]:53"))
        .tos(0x2e)
        .flow_label(0xabcde)
        .payload(b"hello")
        .build();
    let p = classify(&inner).unwrap();
    let mut buf = buf_with(&inner);
    let (mut head, mut len) = (HEADROOM, inner.len());
    tun_encap(&mut buf, &mut head, &mut len, &p, ip("2001:db8:2::1"), ip("2001:db8:2::11"), Encap::Ipip).unwrap();
    let mut want = inner[..14].to_vec();
    want.extend_from_slice(&[0x62, 0xea, 0xbc, 0xde]);
    want.extend_from_slice(&p.ip_len.to_be_bytes());
    want.extend_from_slice(&[41, 64]);
    want.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    want.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x11]);
    want.extend_from_slice(&inner[14..]);
    assert_eq!((head, len), (HEADROOM - 40, want.len()));
    assert_eq!(&buf[head..head + len], &want[..]);
}

/// IPv4 in IPv6 (next header 4, the TOS as traffic class) and IPv6 in IPv4 (protocol 41,
/// the traffic class as TOS, DF set): the outer family is the real's, and the frame's
/// ethertype follows it.
#[test]
fn tun_mixed_families() {
    let v4 = Frame::tcp(sa("198.51.100.7:40000"), sa("10.0.1.100:80"), SYN).tos(0xb8).df(false).id(7).build();
    let p = classify(&v4).unwrap();
    let mut buf = buf_with(&v4);
    let (mut head, mut len) = (HEADROOM, v4.len());
    tun_encap(&mut buf, &mut head, &mut len, &p, ip("2001:db8:2::1"), ip("2001:db8:2::11"), Encap::Ipip).unwrap();
    let mut want = v4[..12].to_vec();
    want.extend_from_slice(&[0x86, 0xdd, 0x6b, 0x80, 0, 0]);
    want.extend_from_slice(&p.ip_len.to_be_bytes());
    want.extend_from_slice(&[4, 64]);
    want.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    want.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x11]);
    want.extend_from_slice(&v4[14..]);
    assert_eq!(&buf[head..head + len], &want[..], "IPv4 in IPv6");
    let out = classify(&buf[head..head + len]).unwrap();
    assert_eq!((out.proto, out.src, out.dst), (4, ip("2001:db8:2::1"), ip("2001:db8:2::11")));

    let v6 = Frame::udp(sa("[2001:db8:c::7]:5000"), sa("[2001:db8:1::100]:53")).tos(0x2e).payload(b"hi").build();
    let p = classify(&v6).unwrap();
    let mut buf = buf_with(&v6);
    let (mut head, mut len) = (HEADROOM, v6.len());
    tun_encap(&mut buf, &mut head, &mut len, &p, ip("10.0.2.1"), ip("10.0.2.11"), Encap::Ipip).unwrap();
    let mut outer = v4_outer(0x2e, 20 + p.ip_len, 0, true, [10, 0, 2, 1], [10, 0, 2, 11]);
    outer[9] = 41;
    outer[10..12].fill(0);
    let c = Ipv4HeaderSlice::from_slice(&outer).unwrap().to_header().calc_header_checksum();
    outer[10..12].copy_from_slice(&c.to_be_bytes());
    let mut want = v6[..12].to_vec();
    want.extend_from_slice(&[0x08, 0x00]);
    want.extend(outer);
    want.extend_from_slice(&v6[14..]);
    assert_eq!(&buf[head..head + len], &want[..], "IPv6 in IPv4");
    verify(&buf[head..head + len]);
}

#[test]
fn tun_errors_leave_frame_alone() {
    let inner = build::tcp(sa("198.51.100.7:1"), sa("10.0.1.100:80"), SYN, b"");
    let p = classify(&inner).unwrap();
    let mut buf = inner.clone();
    let (mut head, mut len) = (0, inner.len());
    let r = tun_encap(&mut buf, &mut head, &mut len, &p, ip("10.0.2.1"), ip("10.0.2.11"), Encap::Ipip);
    assert_eq!(r, Err(RewriteError::NoHeadroom));
    let mut buf = buf_with(&inner);
    let (mut head, mut len) = (HEADROOM, inner.len());
    let r = tun_encap(&mut buf, &mut head, &mut len, &p, ip("10.0.0.1"), ip("::2"), Encap::Ipip);
    assert_eq!(r, Err(RewriteError::FamilyMismatch));
    assert_eq!((head, len), (HEADROOM, inner.len()));
    assert_eq!(buf, buf_with(&inner));
}

/// The error `too_big` should make: ICMP "fragmentation needed" (3/4) or ICMPv6 "packet
/// too big" (2/0) from `from` back to `to` with MACs swapped, `rest` (the MTU field), the
/// VLAN tags `vlans` and the quote `quote`.
fn too_big_error(from: &str, to: &str, rest: [u8; 4], vlans: &[u16], quote: &[u8]) -> Vec<u8> {
    let (kind, code) = if ip(from).is_ipv6() { (2, 0) } else { (3, 4) };
    let f = Frame::icmp(ip(from), ip(to), kind, code).rest(rest).macs(SRC_MAC, DST_MAC);
    vlans.iter().fold(f, |f, &id| f.vlan(id)).payload(quote).build()
}

/// Runs icmp_too_big on `frame` at HEADROOM, returns the resulting frame.
fn too_big(frame: &[u8], mtu: u16) -> (Vec<u8>, usize) {
    let p = classify(frame).unwrap();
    let mut buf = buf_with(frame);
    let (mut head, mut len) = (HEADROOM, frame.len());
    icmp_too_big(&mut buf, &mut head, &mut len, &p, mtu).unwrap();
    (buf[head..head + len].to_vec(), head)
}

#[test]
fn too_big_v4_truncated_and_small() {
    let big = Frame::tcp(sa("198.51.100.7:40000"), sa("10.0.1.100:80"), ACK)
        .df(true)
        .id(99)
        .tos(4)
        .ttl(50)
        .vlan(5)
        .payload(&[0x5a; 1400]);
    let f = big.build();
    let (out, head) = too_big(&f, 1480);
    assert_eq!(head, HEADROOM); // truncated quote: no headroom used
    let want = too_big_error("10.0.1.100", "198.51.100.7", [0, 0, 0x05, 0xc8], &[5], &f[18..18 + 548]);
    assert_eq!(out, want);
    assert_eq!(out.len() - 18, 576);
    verify(&out);

    let small = Frame::udp(sa("198.51.100.7:5000"), sa("10.0.1.100:53")).payload(b"x").pad_to(60).build();
    let (out, head) = too_big(&small, 1000);
    assert_eq!(head, HEADROOM - 28);
    let want = too_big_error("10.0.1.100", "198.51.100.7", [0, 0, 0x03, 0xe8], &[], &small[14..14 + 29]);
    assert_eq!(out, want);
    let q = verify(&out).icmp.unwrap().quoted.unwrap();
    assert_eq!((q.sport, q.dport), (5000, 53));
}

#[test]
fn too_big_v4_partial_growth() {
    // ip_len 560: the quote (548) is truncated but the error (576) is 16 bytes longer.
    let f = Frame::udp(sa("198.51.100.7:5000"), sa("10.0.1.100:53")).payload(&[1; 532]).build();
    let (out, head) = too_big(&f, 1280);
    assert_eq!(head, HEADROOM - 16);
    let want = too_big_error("10.0.1.100", "198.51.100.7", [0, 0, 0x05, 0x00], &[], &f[14..14 + 548]);
    assert_eq!(out, want);
}

#[test]
fn too_big_v6_truncated_and_small() {
    let f = Frame::tcp(sa("[2001:db8:c::7]:40000"), sa("[2001:db8:1::100]:80"), ACK)
        .tos(0x10)
        .flow_label(77)
        .vlan(1)
        .vlan(2)
        .payload(&[3; 1400])
        .build();
    let (out, head) = too_big(&f, 1400);
    assert_eq!(head, HEADROOM);
    let want = too_big_error("2001:db8:1::100", "2001:db8:c::7", 1400u32.to_be_bytes(), &[1, 2], &f[22..22 + 1232]);
    assert_eq!(out, want);
    assert_eq!(out.len() - 22, 1280);
    verify(&out);

    let small = build::udp(sa("[2001:db8:c::7]:1"), sa("[2001:db8:1::100]:2"), b"hi");
    let (out, head) = too_big(&small, 1300);
    assert_eq!(head, HEADROOM - 48);
    let want = too_big_error("2001:db8:1::100", "2001:db8:c::7", 1300u32.to_be_bytes(), &[], &small[14..]);
    assert_eq!(out, want);
}

#[test]
fn too_big_needs_headroom_only_when_growing() {
    let small = build::udp(sa("198.51.100.7:1"), sa("10.0.1.100:2"), b"hi");
    let p = classify(&small).unwrap();
    let mut buf = small.clone();
    let (mut head, mut len) = (0, small.len());
    assert_eq!(icmp_too_big(&mut buf, &mut head, &mut len, &p, 1000), Err(RewriteError::NoHeadroom));
    assert_eq!(buf, small);
    let big = build::udp(sa("198.51.100.7:1"), sa("10.0.1.100:2"), &[0; 1000]);
    let p = classify(&big).unwrap();
    let mut buf = big.clone();
    let (mut head, mut len) = (0, big.len());
    icmp_too_big(&mut buf, &mut head, &mut len, &p, 1000).unwrap();
    assert_eq!((head, len), (0, 14 + 576));
    verify(&buf[..len]);
}
