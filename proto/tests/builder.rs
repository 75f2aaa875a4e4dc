//! The builders agree byte for byte with etherparse's PacketBuilder (an independent
//! implementation of lengths and checksums), and their frames verify.

mod common;

use std::fmt::Debug;
use std::net::{Ipv4Addr, Ipv6Addr};

use common::{ip, sa, verify};
use etherparse::{Ethernet2Header, PacketBuilder, PacketBuilderStep, VlanId};
use xvs_proto::build::{self, Ext, Frame, DST_MAC, SRC_MAC};
use xvs_proto::{classify, tcp_flags, PROTO_UDP};

/// etherparse's builder from the Ethernet header the frame builders use.
fn eth() -> PacketBuilderStep<Ethernet2Header> {
    PacketBuilder::ethernet2(SRC_MAC, DST_MAC)
}

fn v4(s: &str) -> [u8; 4] {
    s.parse::<Ipv4Addr>().unwrap().octets()
}

fn v6(s: &str) -> [u8; 16] {
    s.parse::<Ipv6Addr>().unwrap().octets()
}

/// `frame` builds byte for byte what etherparse writes with `write` (a PacketBuilder
/// chain from `ethernet2(SRC_MAC, DST_MAC)` and its final `write`); returns the frame.
#[track_caller]
fn same_as_etherparse<E: Debug>(frame: Frame, write: impl FnOnce(&mut Vec<u8>) -> Result<(), E>) -> Vec<u8> {
    let mut want = Vec::new();
    write(&mut want).unwrap();
    let got = frame.build();
    assert_eq!(got, want);
    got
}

#[test]
fn tcp_v4_matches_etherparse() {
    let got = same_as_etherparse(
        Frame::tcp(sa("198.51.100.7:40000"), sa("10.0.1.100:80"), tcp_flags::SYN).df(true).payload(b"hello"),
        |w| eth().ipv4(v4("198.51.100.7"), v4("10.0.1.100"), 64).tcp(40000, 80, 1, 65535).syn().write(w, b"hello"),
    );
    verify(&got);
}

#[test]
fn udp_v6_vlan_matches_etherparse() {
    let got = same_as_etherparse(
        Frame::udp(sa("[2001:db8:c::7]:5353"), sa("[2001:db8:1::100]:53")).vlan(7).ttl(9).payload(b"query!"),
        |w| {
            eth()
                .single_vlan(VlanId::try_new(7).unwrap())
                .ipv6(v6("2001:db8:c::7"), v6("2001:db8:1::100"), 9)
                .udp(5353, 53)
                .write(w, b"query!")
        },
    );
    verify(&got);
}

#[test]
fn udp_v4_and_icmp_match_etherparse() {
    same_as_etherparse(
        Frame::udp(sa("10.0.2.11:8080"), sa("198.51.100.7:40000")).df(true).ttl(3).payload(&[1, 2, 3]),
        |w| eth().ipv4(v4("10.0.2.11"), v4("198.51.100.7"), 3).udp(8080, 40000).write(w, &[1, 2, 3]),
    );
    same_as_etherparse(
        Frame::icmp(ip("10.0.9.1"), ip("10.0.1.100"), 3, 4).df(true).rest([0, 0, 5, 0xdc]).payload(&[0x45, 0, 0, 0]),
        |w| {
            eth()
                .ipv4(v4("10.0.9.1"), v4("10.0.1.100"), 64)
                .icmpv4_raw(3, 4, [0, 0, 5, 0xdc])
                .write(w, &[0x45, 0, 0, 0])
        },
    );
    same_as_etherparse(
        Frame::icmp(ip("2001:db8::1"), ip("2001:db8::2"), 2, 0).rest([0, 0, 5, 0xdc]).payload(&[0x60, 0, 0, 0]),
        |w| {
            eth()
                .ipv6(v6("2001:db8::1"), v6("2001:db8::2"), 64)
                .icmpv6_raw(2, 0, [0, 0, 5, 0xdc])
                .write(w, &[0x60, 0, 0, 0])
        },
    );
}

#[test]
fn options_exts_and_padding_verify() {
    let f = Frame::tcp(sa("198.51.100.7:1"), sa("10.0.1.100:80"), tcp_flags::ACK)
        .ipv4_options(&[1, 1, 1, 1, 1, 1, 1, 0])
        .vlan(1)
        .vlan(2)
        .pad_to(90)
        .build();
    let p = verify(&f);
    assert_eq!((p.l3, p.l4, p.vlan), (22, 22 + 28, Some(1)));
    assert_eq!(f.len(), 90);

    let f = Frame::udp(sa("[2001:db8::1]:1"), sa("[2001:db8::2]:2"))
        .ipv6_ext(Ext::HopByHop(vec![1, 4, 0, 0, 0, 0]))
        .ipv6_ext(Ext::Routing(vec![0; 14]))
        .ipv6_ext(Ext::DestOpts(vec![]))
        .payload(b"x")
        .build();
    let p = verify(&f);
    assert_eq!(p.l4, 14 + 40 + 8 + 16 + 8);
    assert_eq!((p.sport, p.dport, p.proto), (1, 2, PROTO_UDP));
    // etherparse agrees on where the UDP header is.
    let e = etherparse::SlicedPacket::from_ethernet(&f).unwrap();
    match e.transport {
        Some(etherparse::TransportSlice::Udp(u)) => assert_eq!(u.payload(), b"x"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn fragments_v4_split_and_verify() {
    let f = Frame::udp(sa("198.51.100.7:5000"), sa("10.0.1.100:53")).id(77).payload(&[9; 100]);
    let frags = build::fragments_v4(&f, 50);
    assert_eq!(frags.len(), 3); // 108 bytes of UDP in 48 + 48 + 12
    let ps: Vec<_> = frags.iter().map(|x| verify(x)).collect();
    assert_eq!(ps[0].frag.unwrap().offset, 0);
    assert!(ps[0].frag.unwrap().more);
    assert_eq!(ps[0].sport, 5000);
    assert_eq!(ps[1].frag.unwrap().offset, 48);
    assert_eq!((ps[1].sport, ps[1].dport, ps[1].l4), (0, 0, 34));
    assert_eq!(ps[2].frag.unwrap().offset, 96);
    assert!(!ps[2].frag.unwrap().more);
    assert!(ps.iter().all(|p| p.frag.unwrap().id == 77));
    // Reassembled payload checksums right over the whole datagram.
    let whole = f.build();
    let mut seg = Vec::new();
    for x in &frags {
        seg.extend_from_slice(&x[34..]);
    }
    assert_eq!(seg, whole[34..]);
}

#[test]
fn icmp_error_quotes_ip_packet_truncated() {
    let inner = build::udp(sa("10.0.1.100:53"), sa("198.51.100.7:5000"), &[7; 1000]);
    let e = build::icmp_error(ip("10.0.9.1"), ip("10.0.1.100"), 3, 3, &inner);
    assert_eq!(e.len(), 14 + 576);
    assert_eq!(&e[14 + 28..], &inner[14..14 + 548]);
    let p = verify(&e);
    let q = p.icmp.unwrap().quoted.unwrap();
    assert_eq!((q.sport, q.dport), (53, 5000));
    assert_eq!(classify(&e).unwrap().icmp.unwrap().kind, 3);
}
