//! classify(): offsets, fields and every error, frame by frame.

mod common;

use common::{ip, sa};
use xvs_proto::build::{self, Ext, Frame};
use xvs_proto::tcp_flags::{ACK, FIN, SYN};
use xvs_proto::{classify, ClassifyError::*, Frag, PROTO_ICMP, PROTO_TCP, PROTO_UDP};

const C: &str = "198.51.100.7:40000";
const V: &str = "10.0.1.100:80";
const C6: &str = "[2001:db8:c::7]:40000";
const V6: &str = "[2001:db8:1::100]:80";

#[test]
fn plain_tcp_v4_fast_path() {
    let f = Frame::tcp(sa(C), sa(V), SYN | ACK).df(true).ttl(17).payload(b"abc").build();
    let p = classify(&f).unwrap();
    assert_eq!((p.l3, p.l4, p.vlan), (14, 34, None));
    assert_eq!((p.src, p.dst), (ip("198.51.100.7"), ip("10.0.1.100")));
    assert_eq!((p.proto, p.sport, p.dport), (PROTO_TCP, 40000, 80));
    assert_eq!((p.ttl, p.ip_len, p.df, p.tcp_flags), (17, 43, true, SYN | ACK));
    assert_eq!((p.frag, p.icmp), (None, None));
}

#[test]
fn vlan_tags_and_padding() {
    let f = Frame::udp(sa(C), sa(V)).vlan(300).vlan(4000).pad_to(80).build();
    let p = classify(&f).unwrap();
    assert_eq!((p.l3, p.l4, p.vlan, p.ip_len), (22, 42, Some(300), 28));
    let f = Frame::udp(sa(C6), sa(V6)).vlan(7).build();
    let p = classify(&f).unwrap();
    assert_eq!((p.l3, p.l4, p.vlan, p.df), (18, 58, Some(7), true));
    // Three tags: not something xvs handles.
    let mut t = Frame::udp(sa(C), sa(V)).vlan(1).vlan(2).build();
    t.splice(20..20, [0x81, 0x00, 0x00, 0x03]);
    assert_eq!(classify(&t), Err(NotIp));
}

#[test]
fn not_ip_and_truncated() {
    let mut arp = build::udp(sa(C), sa(V), b"");
    arp[12..14].copy_from_slice(&[0x08, 0x06]);
    assert_eq!(classify(&arp), Err(NotIp));
    assert_eq!(classify(&[]), Err(Truncated));
    assert_eq!(classify(&[0; 13]), Err(Truncated));
    let f = build::tcp(sa(C), sa(V), SYN, b"xyz");
    for cut in 14..f.len() {
        assert_eq!(classify(&f[..cut]), Err(Truncated), "cut at {cut}");
    }
    let f = build::udp(sa(C6), sa(V6), b"xyz");
    for cut in 14..f.len() {
        assert_eq!(classify(&f[..cut]), Err(Truncated), "cut at {cut}");
    }
}

#[test]
fn bad_ip_headers() {
    let f = build::tcp(sa(C), sa(V), SYN, b"");
    let mut g = f.clone();
    g[14] = 0x44; // IHL 4
    assert_eq!(classify(&g), Err(BadIp));
    let mut g = f.clone();
    g[14] = 0x65; // version 6 in an IPv4 ethertype
    assert_eq!(classify(&g), Err(BadIp));
    let mut g = f.clone();
    g[16..18].copy_from_slice(&19u16.to_be_bytes()); // total < IHL*4
    assert_eq!(classify(&g), Err(BadIp));
    let mut g = f.clone();
    g[16..18].copy_from_slice(&100u16.to_be_bytes()); // total > frame
    assert_eq!(classify(&g), Err(Truncated));
    let mut g = build::udp(sa(C6), sa(V6), b"");
    g[14] = 0x40;
    assert_eq!(classify(&g), Err(BadIp));
}

#[test]
fn bad_l4_headers() {
    let mut f = build::tcp(sa(C), sa(V), SYN, b"12345678");
    f[46] = 0x40; // data offset 4
    assert_eq!(classify(&f), Err(BadL4));
    f[46] = 0x80; // 32 bytes: more than the 28 bytes there
    assert_eq!(classify(&f), Err(BadL4));
    f[46] = 0x70; // 28 bytes: fits exactly
    assert_eq!(classify(&f).unwrap().l4, 34);
    // IP length that leaves a UDP header short, with the bytes there as padding.
    let mut u = build::udp(sa(C), sa(V), b"");
    u[16..18].copy_from_slice(&26u16.to_be_bytes());
    assert_eq!(classify(&u), Err(BadL4));
    let mut i = Frame::icmp(ip("10.0.0.1"), ip("10.0.0.2"), 8, 0).build();
    i[16..18].copy_from_slice(&27u16.to_be_bytes());
    assert_eq!(classify(&i), Err(BadL4));
}

#[test]
fn ipv4_options_and_fragments() {
    let f = Frame::tcp(sa(C), sa(V), FIN).ipv4_options(&[1; 12]).build();
    let p = classify(&f).unwrap();
    assert_eq!((p.l4, p.sport, p.tcp_flags), (14 + 32, 40000, FIN));
    let later =
        Frame::raw(ip("10.0.0.1"), ip("10.0.0.2"), PROTO_UDP).id(5).fragment(1480, true).payload(&[0; 30]).build();
    let p = classify(&later).unwrap();
    assert_eq!(p.frag, Some(Frag { id: 5, offset: 1480, more: true }));
    assert_eq!((p.sport, p.dport, p.l4, p.proto), (0, 0, 34, PROTO_UDP));
    let last = Frame::raw(ip("10.0.0.1"), ip("10.0.0.2"), PROTO_TCP).fragment(8, false).build();
    let p = classify(&last).unwrap();
    assert_eq!(p.frag, Some(Frag { id: 0, offset: 8, more: false }));
    // DF alone is not a fragment.
    assert_eq!(classify(&Frame::udp(sa(C), sa(V)).df(true).build()).unwrap().frag, None);
}

#[test]
fn ipv6_extension_headers() {
    let f = Frame::tcp(sa(C6), sa(V6), SYN)
        .ipv6_ext(Ext::HopByHop(vec![]))
        .ipv6_ext(Ext::Routing(vec![0; 6]))
        .ipv6_ext(Ext::DestOpts(vec![0; 20]))
        .build();
    let p = classify(&f).unwrap();
    assert_eq!((p.l4, p.proto, p.dport), (14 + 40 + 8 + 8 + 24, PROTO_TCP, 80));
    // Atomic fragment (offset 0, no MF) still reports the Fragment header.
    let f = Frame::udp(sa(C6), sa(V6)).ipv6_ext(Ext::Fragment { offset: 0, more: false, id: 0xdead_beef }).build();
    let p = classify(&f).unwrap();
    assert_eq!(p.frag, Some(Frag { id: 0xdead_beef, offset: 0, more: false }));
    assert_eq!((p.sport, p.l4), (40000, 14 + 48));
    // Eight headers are walked, nine are not.
    let mut eight = Frame::udp(sa(C6), sa(V6));
    for _ in 0..8 {
        eight = eight.ipv6_ext(Ext::DestOpts(vec![]));
    }
    assert_eq!(classify(&eight.build()).unwrap().dport, 80);
    let nine = eight.ipv6_ext(Ext::DestOpts(vec![])).build();
    assert_eq!(classify(&nine), Err(BadExtHeaders));
    // Hop-by-hop after another header; AH.
    let hbh2 = Frame::udp(sa(C6), sa(V6)).ipv6_ext(Ext::DestOpts(vec![])).ipv6_ext(Ext::HopByHop(vec![])).build();
    assert_eq!(classify(&hbh2), Err(BadExtHeaders));
    let ah = Frame::raw(ip("2001:db8::1"), ip("2001:db8::2"), 51).payload(&[0; 16]).build();
    assert_eq!(classify(&ah), Err(BadExtHeaders));
    // An extension header running past the packet.
    let mut cut = Frame::udp(sa(C6), sa(V6)).ipv6_ext(Ext::DestOpts(vec![])).build();
    cut[14 + 41] = 200;
    assert_eq!(classify(&cut), Err(Truncated));
    // Unknown upper layer: classified, no ports.
    let gre = Frame::raw(ip("2001:db8::1"), ip("2001:db8::2"), 47).payload(&[0; 8]).build();
    let p = classify(&gre).unwrap();
    assert_eq!((p.proto, p.sport, p.dport), (47, 0, 0));
}

#[test]
fn icmp_quotes() {
    let inner = Frame::udp(sa(V), sa(C)).ipv4_options(&[1, 1, 1, 1]).payload(b"data").build();
    let e = build::icmp_error(ip("10.0.9.1"), ip("10.0.1.100"), 11, 0, &inner);
    let p = classify(&e).unwrap();
    assert_eq!(p.proto, PROTO_ICMP);
    let i = p.icmp.unwrap();
    assert_eq!((i.kind, i.code), (11, 0));
    let q = i.quoted.unwrap();
    assert_eq!((q.l3, q.l4), (42, 42 + 24));
    assert_eq!((q.src, q.dst, q.proto, q.sport, q.dport), (ip("10.0.1.100"), ip("198.51.100.7"), PROTO_UDP, 80, 40000));

    let inner6 = Frame::tcp(sa(V6), sa(C6), ACK).ipv6_ext(Ext::DestOpts(vec![])).build();
    let e = build::icmp_error(ip("2001:db8::9"), ip("2001:db8:1::100"), 1, 4, &inner6);
    let q = classify(&e).unwrap().icmp.unwrap().quoted.unwrap();
    assert_eq!((q.l3, q.l4, q.sport, q.dport), (62, 62 + 48, 80, 40000));

    // Quotes that do not parse: too short, wrong family, ICMP echo (not an error).
    let short = Frame::icmp(ip("10.0.9.1"), ip("10.0.1.100"), 3, 1).payload(&inner[14..14 + 30]).build();
    assert_eq!(classify(&short).unwrap().icmp.unwrap().quoted, None);
    let wrong = Frame::icmp(ip("10.0.9.1"), ip("10.0.1.100"), 3, 1).payload(&inner6[14..]).build();
    assert_eq!(classify(&wrong).unwrap().icmp.unwrap().quoted, None);
    let echo = Frame::icmp(ip("10.0.9.1"), ip("10.0.1.100"), 8, 0).payload(&inner[14..]).build();
    assert_eq!(classify(&echo).unwrap().icmp.unwrap().quoted, None);
    let echo6 = Frame::icmp(ip("2001:db8::9"), ip("2001:db8::1"), 128, 0).build();
    assert_eq!(classify(&echo6).unwrap().icmp.unwrap().kind, 128);
}
