//! Property tests: rewrites keep every checksum equal to a full recomputation; tunnel
//! encapsulation leaves the inner packet alone; nothing panics on any input.

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use common::verify;
use proptest::prelude::*;
use xvs_proto::build::{self, Ext, Frame};
use xvs_proto::{
    classify, decrement_ttl, icmp_too_big, ipv4_header_checksum, nat_icmp, nat_reply, nat_request, set_macs, tun_encap,
    Encap, Frag, Packet, RewriteError, PROTO_TCP, PROTO_UDP,
};

fn addr(v6: bool) -> impl Strategy<Value = IpAddr> {
    if v6 {
        any::<[u8; 16]>().prop_map(|a| IpAddr::V6(Ipv6Addr::from(a))).boxed()
    } else {
        any::<[u8; 4]>().prop_map(|a| IpAddr::V4(Ipv4Addr::from(a))).boxed()
    }
}

/// A random valid TCP/UDP frame (either family, VLAN tags, IPv4 options, IPv6 extension
/// headers, zero UDP/IPv4 checksum, padding) plus a second address/port of its family.
#[derive(Debug, Clone)]
struct Case {
    frame: Frame,
    other: (IpAddr, u16),
}

fn case() -> impl Strategy<Value = Case> {
    any::<bool>().prop_flat_map(|v6| {
        (
            addr(v6),
            addr(v6),
            addr(v6),
            any::<(u16, u16, u16)>(),
            any::<bool>(),
            any::<u8>(),
            2u8..=255,
            prop::collection::vec(any::<u8>(), 0..80),
            (0usize..=2, any::<bool>(), 0usize..=3, 0usize..4, 0usize..80),
        )
            .prop_map(
                move |(s, d, o, (sp, dp, op), tcp, flags, ttl, payload, (tags, zero, ext, opts, pad))| {
                    let (s, d) = (SocketAddr::new(s, sp), SocketAddr::new(d, dp));
                    let mut f = if tcp { Frame::tcp(s, d, flags) } else { Frame::udp(s, d) };
                    f = f.ttl(ttl).payload(&payload).pad_to(pad);
                    for t in 0..tags {
                        f = f.vlan(t as u16 + 1);
                    }
                    if !v6 {
                        f = f.ipv4_options(&vec![1; opts * 4]);
                        if zero && !tcp {
                            f = f.zero_udp_checksum();
                        }
                    } else {
                        for _ in 0..ext {
                            f = f.ipv6_ext(Ext::DestOpts(vec![1, 0]));
                        }
                    }
                    Case { frame: f, other: (o, op) }
                },
            )
    })
}

fn udp_zero(p: &Packet, f: &[u8]) -> bool {
    let l4 = usize::from(p.l4);
    p.proto == PROTO_UDP && !p.is_v6() && f[l4 + 6] == 0 && f[l4 + 7] == 0
}

/// `c`'s frame rewritten by `nat` (`nat_request`, `nat_reply`) to `c.other`: both frames
/// verify, and a zero UDP/IPv4 checksum stays zero. Returns the packet before and after.
fn nat_verified(
    c: &Case,
    nat: fn(&mut [u8], &Packet, IpAddr, u16) -> Result<(), RewriteError>,
) -> Result<(Packet, Packet), TestCaseError> {
    let mut f = c.frame.build();
    let p = verify(&f);
    let zero = udp_zero(&p, &f);
    nat(&mut f, &p, c.other.0, c.other.1).unwrap();
    let q = verify(&f);
    prop_assert_eq!(udp_zero(&q, &f), zero);
    Ok((p, q))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// The same for IPv6 without extension headers: the packet equals classify's (general
    /// path), and the raw rewrites write the general ones' bytes (hop limit, UDP checksum
    /// 0 recomputed as IPv6 requires).
    #[test]
    fn fast6_rewrites_equal_the_general_ones(
        (s, d, other) in any::<([u8; 16], [u8; 16], [u8; 16])>(),
        (sp, dp, op) in any::<(u16, u16, u16)>(),
        (tcp, flags, ttl, zero) in any::<(bool, u8, u8, bool)>(),
        payload in prop::collection::vec(any::<u8>(), 0..80),
        pad in 0usize..120,
    ) {
        use xvs_proto::fast::FastAddr;
        let (s, d) = (SocketAddr::from((s, sp)), SocketAddr::from((d, dp)));
        let mut frame = if tcp { Frame::tcp(s, d, flags) } else { Frame::udp(s, d) };
        frame = frame.ttl(ttl).payload(&payload).pad_to(pad);
        let mut f = frame.build();
        if zero && !tcp {
            // A zero UDP checksum (invalid over IPv6, but it may arrive).
            f[60] = 0;
            f[61] = 0;
        }
        let v = xvs_proto::fast::parse_v6(&f).expect("the common case");
        prop_assert_eq!(classify(&f).unwrap(), v.packet());
        let other6 = u128::from_be_bytes(other);
        let ip = IpAddr::V6(Ipv6Addr::from(other));
        let (mut a, mut b) = (f.clone(), f.clone());
        u128::nat_request(&mut a, &v, other6, op);
        nat_request(&mut b, &v.packet(), ip, op).unwrap();
        prop_assert_eq!(&a, &b);
        let (mut a, mut b) = (f.clone(), f);
        u128::nat_reply(&mut a, &v, other6, op);
        nat_reply(&mut b, &v.packet(), ip, op).unwrap();
        prop_assert_eq!(a, b);
    }

    /// The raw IPv4 fast path writes exactly the bytes of the general rewrites, for every
    /// frame it accepts (and accepts exactly what classify's fast path takes).
    #[test]
    fn fast4_rewrites_equal_the_general_ones(
        (s, d, other) in any::<([u8; 4], [u8; 4], [u8; 4])>(),
        (sp, dp, op) in any::<(u16, u16, u16)>(),
        (tcp, flags, ttl, zero, df) in any::<(bool, u8, u8, bool, bool)>(),
        payload in prop::collection::vec(any::<u8>(), 0..80),
        pad in 0usize..80,
    ) {
        let (s, d) = (SocketAddr::from((s, sp)), SocketAddr::from((d, dp)));
        let mut frame = if tcp { Frame::tcp(s, d, flags) } else { Frame::udp(s, d) };
        frame = frame.ttl(ttl).df(df).payload(&payload).pad_to(pad);
        if zero && !tcp {
            frame = frame.zero_udp_checksum();
        }
        let f = frame.build();
        let v = xvs_proto::fast::parse_v4(&f).expect("the common case");
        prop_assert_eq!(classify(&f).unwrap(), v.packet());
        let c = Case { frame, other: (IpAddr::V4(Ipv4Addr::from(other)), op) };
        let other = Ipv4Addr::from(other);
        let (mut a, mut b) = (f.clone(), f.clone());
        xvs_proto::fast::nat4_request(&mut a, &v, u32::from(other), c.other.1);
        nat_request(&mut b, &v.packet(), c.other.0, c.other.1).unwrap();
        prop_assert_eq!(&a, &b);
        let (mut a, mut b) = (f.clone(), f);
        xvs_proto::fast::nat4_reply(&mut a, &v, u32::from(other), c.other.1);
        nat_reply(&mut b, &v.packet(), c.other.0, c.other.1).unwrap();
        prop_assert_eq!(a, b);
    }

    #[test]
    fn nat_request_keeps_checksums(c in case()) {
        let (p, q) = nat_verified(&c, nat_request)?;
        prop_assert_eq!((q.dst, q.dport, q.src, q.sport, q.ttl), (c.other.0, c.other.1, p.src, p.sport, p.ttl));
    }

    #[test]
    fn nat_reply_keeps_checksums(c in case()) {
        let (p, q) = nat_verified(&c, nat_reply)?;
        prop_assert_eq!((q.src, q.sport, q.dst, q.dport, q.ttl), (c.other.0, c.other.1, p.dst, p.dport, p.ttl - 1));
    }

    #[test]
    fn fragments_keep_checksums(c in case(), chunk in 24usize..64) {
        prop_assume!(!c.frame.src.is_ipv6());
        let mut whole = Vec::new();
        for mut f in build::fragments_v4(&c.frame, chunk) {
            let p = verify(&f);
            nat_request(&mut f, &p, c.other.0, c.other.1).unwrap();
            let q = verify(&f);
            if q.frag.is_some_and(|fr: Frag| fr.offset != 0) {
                prop_assert_eq!((q.sport, q.dport), (0, 0));
            }
            whole.push(f);
        }
        // Reassembled, the transport checksum is right for the new addresses.
        let mut dgram = c.frame.clone();
        dgram.dst = c.other.0;
        let want = build::fragments_v4(&{
            let mut d = dgram;
            match &mut d.l4 {
                build::L4::Tcp { dport, .. } | build::L4::Udp { dport, .. } => *dport = c.other.1,
                _ => {}
            }
            d
        }, chunk);
        prop_assert_eq!(whole, want);
    }

    #[test]
    fn nat_icmp_keeps_checksums(
        c in case(),
        router in any::<[u8; 16]>(),
        cut in 0usize..200,
        dec in any::<bool>(),
        which in 0u8..4,
    ) {
        let inner = c.frame.build();
        let ip_pkt = build::ip_packet(&inner).to_vec();
        let pi = classify(&inner).unwrap();
        let min = usize::from(pi.l4 - pi.l3) + 8;
        let quote = &ip_pkt[..ip_pkt.len().min(min + cut)];
        let v6 = pi.is_v6();
        let router = if v6 { IpAddr::V6(router.into()) } else { IpAddr::V4(Ipv4Addr::new(router[0], router[1], router[2], router[3])) };
        let mut f = Frame::icmp(router, pi.src, if v6 { 1 } else { 3 }, 3).ttl(9).payload(quote).build();
        let p = verify(&f);
        prop_assert!(p.icmp.unwrap().quoted.is_some());
        let o = c.other;
        let (os, od, is, id) = match which {
            0 => (None, Some(o.0), Some(o), None),
            1 => (Some(o.0), None, None, Some(o)),
            2 => (Some(o.0), Some(o.0), Some(o), Some(o)),
            _ => (None, None, None, None),
        };
        nat_icmp(&mut f, &p, os, od, is, id, dec).unwrap();
        let q = verify(&f);
        let qq = q.icmp.unwrap().quoted.unwrap();
        if let Some((a, port)) = is { prop_assert_eq!((qq.src, qq.sport), (a, port)); }
        if let Some((a, port)) = id { prop_assert_eq!((qq.dst, qq.dport), (a, port)); }
        prop_assert_eq!(q.ttl, if dec { 8 } else { 9 });
        // A zero quoted UDP/IPv4 checksum stays zero.
        if pi.proto == PROTO_UDP && !v6 && quote.len() >= min {
            let at = usize::from(qq.l4) + 6;
            let before = udp_zero(&pi, &inner);
            prop_assert_eq!(f[at] == 0 && f[at + 1] == 0, before);
        }
    }

    #[test]
    fn tun_encap_outer_right_inner_unchanged(c in case(), s in any::<[u8; 16]>(), d in any::<[u8; 16]>()) {
        let frame = c.frame.build();
        let p = classify(&frame).unwrap();
        let (src, dst) = if p.is_v6() {
            (IpAddr::V6(s.into()), IpAddr::V6(d.into()))
        } else {
            (IpAddr::V4(Ipv4Addr::new(s[0], s[1], s[2], s[3])), IpAddr::V4(Ipv4Addr::new(d[0], d[1], d[2], d[3])))
        };
        let mut buf = vec![0u8; 64];
        buf.extend_from_slice(&frame);
        let (mut head, mut len) = (64, frame.len());
        tun_encap(&mut buf, &mut head, &mut len, &p, src, dst, Encap::Ipip).unwrap();
        let out = &buf[head..head + len];
        let l3 = usize::from(p.l3);
        let need = if p.is_v6() { 40 } else { 20 };
        prop_assert_eq!(&out[..l3], &frame[..l3]);
        prop_assert_eq!(&out[l3 + need..], &frame[l3..p.ip_end()]);
        let o = classify(out).unwrap();
        prop_assert_eq!((o.src, o.dst, o.ttl), (src, dst, 64));
        prop_assert_eq!(usize::from(o.ip_len), need + usize::from(p.ip_len));
        if !p.is_v6() {
            let h = &out[l3..l3 + 20];
            prop_assert_eq!(u16::from_be_bytes([h[10], h[11]]), ipv4_header_checksum(h));
            prop_assert_eq!(o.proto, 4);
        } else {
            prop_assert_eq!(o.proto, 41);
        }
    }

    #[test]
    fn icmp_too_big_valid(c in case(), mtu in any::<u16>()) {
        let frame = c.frame.build();
        let p = classify(&frame).unwrap();
        let mut buf = vec![0u8; 64];
        buf.extend_from_slice(&frame);
        let (mut head, mut len) = (64, frame.len());
        icmp_too_big(&mut buf, &mut head, &mut len, &p, mtu).unwrap();
        let out = &buf[head..head + len];
        let e = verify(out);
        prop_assert_eq!((e.src, e.dst), (p.dst, p.src));
        let max = if p.is_v6() { 1280 } else { 576 };
        prop_assert!(usize::from(e.ip_len) <= max);
        let q = e.icmp.unwrap().quoted.unwrap();
        prop_assert_eq!((q.src, q.dst, q.sport, q.dport), (p.src, p.dst, p.sport, p.dport));
    }

    /// etherparse (the oracle) agrees on addresses, protocol, ports and payload offset.
    #[test]
    fn classify_agrees_with_etherparse(c in case()) {
        let f = c.frame.build();
        let p = classify(&f).unwrap();
        let e = etherparse::SlicedPacket::from_ethernet(&f).unwrap();
        let (src, dst, ttl) = match e.net.unwrap() {
            etherparse::NetSlice::Ipv4(i) => (IpAddr::V4(i.header().source_addr()), IpAddr::V4(i.header().destination_addr()), i.header().ttl()),
            etherparse::NetSlice::Ipv6(i) => (IpAddr::V6(i.header().source_addr()), IpAddr::V6(i.header().destination_addr()), i.header().hop_limit()),
        };
        prop_assert_eq!((p.src, p.dst, p.ttl), (src, dst, ttl));
        let base = f.as_ptr() as usize;
        match e.transport.unwrap() {
            etherparse::TransportSlice::Tcp(t) => {
                prop_assert_eq!((p.proto, p.sport, p.dport, p.tcp_flags), (PROTO_TCP, t.source_port(), t.destination_port(), t.slice()[13]));
                prop_assert_eq!(usize::from(p.l4), t.slice().as_ptr() as usize - base);
            }
            etherparse::TransportSlice::Udp(u) => {
                prop_assert_eq!((p.proto, p.sport, p.dport), (PROTO_UDP, u.source_port(), u.destination_port()));
                prop_assert_eq!(usize::from(p.l4), u.slice().as_ptr() as usize - base);
            }
            other => prop_assert!(false, "unexpected {:?}", other),
        }
    }

    #[test]
    fn classify_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = classify(&bytes);
    }

    #[test]
    fn mangled_frames_never_panic(
        c in case(),
        cut in any::<prop::sample::Index>(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        icmp in any::<bool>(),
        o in any::<(u16, [u8; 16])>(),
    ) {
        let mut f = c.frame.build();
        if icmp {
            let router = if c.frame.src.is_ipv6() { IpAddr::V6(o.1.into()) } else { IpAddr::V4(Ipv4Addr::new(o.1[0], 0, 0, 1)) };
            f = build::icmp_error(router, c.frame.src, if c.frame.src.is_ipv6() { 1 } else { 3 }, 0, &f);
        }
        for (i, x) in &flips {
            let i = i.index(f.len());
            f[i] ^= x;
        }
        f.truncate(cut.index(f.len() + 1));
        if let Ok(p) = classify(&f) {
            exercise(&f, &p, c.other);
        }
    }

    /// Rewrites with a Packet that does not match the frame at all must not panic.
    #[test]
    fn rewrites_with_wrong_packet_never_panic(
        c in case(),
        bytes in prop::collection::vec(any::<u8>(), 0..120),
        l3 in 0u16..80, l4 in 0u16..160, ip_len in any::<u16>(),
        qoff in any::<(u16, u16)>(), frag in any::<Option<(u16, bool)>>(),
        proto in prop::sample::select(vec![PROTO_TCP, PROTO_UDP, 1, 58, 47]),
    ) {
        let src = c.frame.src;
        let p = Packet {
            l3, l4, vlan: None, src, dst: src, proto, ttl: 1, ip_len, df: false,
            frag: frag.map(|(offset, more)| Frag { id: 0, offset, more }),
            sport: 1, dport: 2, tcp_flags: 0,
            icmp: Some(xvs_proto::Icmp { kind: 3, code: 0, quoted: Some(xvs_proto::Quoted {
                l3: qoff.0, l4: qoff.1, src, dst: src, proto, sport: 0, dport: 0,
            })}),
        };
        exercise(&bytes, &p, c.other);
        let mut framed = c.frame.build();
        framed.extend_from_slice(&bytes);
        exercise(&framed, &p, c.other);
    }
}

/// Runs every rewrite on copies of `f` (with and without headroom); only panics matter.
fn exercise(f: &[u8], p: &Packet, other: (IpAddr, u16)) {
    let v4 = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
    for a in [other.0, v4, v6] {
        let _ = nat_request(&mut f.to_vec(), p, a, other.1);
        let _ = nat_reply(&mut f.to_vec(), p, a, other.1);
        let _ = nat_icmp(&mut f.to_vec(), p, Some(a), Some(a), Some((a, 1)), Some((a, 2)), true);
        for room in [0usize, 16, 64] {
            let mut buf = vec![0u8; room];
            buf.extend_from_slice(f);
            let (mut head, mut len) = (room, f.len());
            let _ = tun_encap(&mut buf, &mut head, &mut len, p, a, a, Encap::Ipip);
            let (mut head, mut len) = (room, f.len());
            let _ = icmp_too_big(&mut buf, &mut head, &mut len, p, 1280);
            let (mut head, mut len) = (room + 1, f.len());
            let _ = tun_encap(&mut buf, &mut head, &mut len, p, a, a, Encap::Ipip);
            let _ = icmp_too_big(&mut buf, &mut head, &mut len, p, 1280);
        }
    }
    let mut g = f.to_vec();
    decrement_ttl(&mut g, p);
    set_macs(&mut g, [1; 6], [2; 6]);
}
