//! Shared test helpers: addresses and a full checksum verifier.
#![allow(dead_code)]

use std::net::{IpAddr, SocketAddr};

use xvs_proto::{
    classify, icmp_checksum, ipv4_header_checksum, l4_checksum_v4, l4_checksum_v6, Packet, PROTO_ICMP, PROTO_ICMPV6,
    PROTO_TCP, PROTO_UDP,
};

pub fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn rd16(f: &[u8], o: usize) -> u16 {
    u16::from_be_bytes([f[o], f[o + 1]])
}

/// The stored and the recomputed transport checksum of the segment at `l4..end` (or
/// `None` when the protocol has none xvs knows).
fn l4_pair(f: &[u8], src: IpAddr, dst: IpAddr, proto: u8, l4: usize, end: usize) -> Option<(u16, u16)> {
    let seg = &f[l4..end];
    let at = match proto {
        PROTO_TCP => 16,
        PROTO_UDP => 6,
        PROTO_ICMPV6 | PROTO_ICMP => 2,
        _ => return None,
    };
    let stored = rd16(seg, at);
    let full = match (src, dst) {
        (_, _) if proto == PROTO_ICMP => icmp_checksum(seg),
        (IpAddr::V4(s), IpAddr::V4(d)) => l4_checksum_v4(s, d, proto, seg),
        (IpAddr::V6(s), IpAddr::V6(d)) => l4_checksum_v6(s, d, proto, seg),
        _ => panic!("mixed families"),
    };
    Some((stored, full))
}

/// Asserts that every checksum in `frame` equals a full recomputation: the IPv4 header,
/// the transport (unless a fragment), and for ICMP errors the quoted IPv4 header and the
/// quoted transport checksum when the quote holds the whole quoted packet. A UDP/IPv4
/// checksum of 0 is accepted. Returns the classification.
pub fn verify(frame: &[u8]) -> Packet {
    let p = classify(frame).expect("frame classifies");
    let l3 = usize::from(p.l3);
    let l4 = usize::from(p.l4);
    if !p.is_v6() {
        let h = &frame[l3..l4];
        assert_eq!(rd16(h, 10), ipv4_header_checksum(h), "IPv4 header checksum");
    }
    if p.frag.is_none() {
        if let Some((stored, full)) = l4_pair(frame, p.src, p.dst, p.proto, l4, p.ip_end()) {
            if !(p.proto == PROTO_UDP && !p.is_v6() && stored == 0) {
                assert_eq!(stored, full, "transport checksum (proto {})", p.proto);
            }
        }
    }
    if let Some(q) = p.icmp.and_then(|i| i.quoted) {
        let (ql3, ql4) = (usize::from(q.l3), usize::from(q.l4));
        if !q.src.is_ipv6() {
            let h = &frame[ql3..ql4];
            assert_eq!(rd16(h, 10), ipv4_header_checksum(h), "quoted IPv4 header checksum");
        }
        let qlen =
            if q.src.is_ipv6() { 40 + usize::from(rd16(frame, ql3 + 4)) } else { usize::from(rd16(frame, ql3 + 2)) };
        if ql3 + qlen == p.ip_end() {
            let (stored, full) = l4_pair(frame, q.src, q.dst, q.proto, ql4, p.ip_end()).unwrap();
            if !(q.proto == PROTO_UDP && !q.src.is_ipv6() && stored == 0) {
                assert_eq!(stored, full, "quoted transport checksum");
            }
        }
    }
    p
}
