//! Byte-exact fixtures for every rewrite: {input frame, rewrite, expected frame}, the
//! expected frame built independently with the rewritten values (so its checksums are
//! full computations, cross-checked against etherparse in `builder.rs`).

mod common;

use std::net::IpAddr;

use common::{ip, sa, verify};
use xvs_proto::build::{self, Ext, Frame};
use xvs_proto::tcp_flags::{ACK, SYN};
use xvs_proto::{classify, decrement_ttl, nat_icmp, nat_reply, nat_request, set_macs, Packet, RewriteError, PROTO_UDP};

const CIP: &str = "198.51.100.7:40000";
const VIP: &str = "10.0.1.100:80";
const RIP: &str = "10.0.2.11:8080";
const CIP6: &str = "[2001:db8:c::7]:40000";
const VIP6: &str = "[2001:db8:1::100]:80";
const RIP6: &str = "[2001:db8:2::11]:8080";

/// A NAT rewrite of one side of the packet to an address and port (`nat_request`,
/// `nat_reply`).
type Nat = fn(&mut [u8], &Packet, IpAddr, u16) -> Result<(), RewriteError>;

/// nat(input, to) == expected, byte for byte.
fn rewrites(nat: Nat, input: Frame, expected: Frame, to: &str) {
    let mut f = input.build();
    let p = classify(&f).unwrap();
    let to = sa(to);
    nat(&mut f, &p, to.ip(), to.port()).unwrap();
    assert_eq!(f, expected.build());
    verify(&f);
}

/// nat_request(input) == expected, byte for byte.
fn request(input: Frame, expected: Frame, rip: &str) {
    rewrites(nat_request, input, expected, rip);
}

/// nat_reply(input) == expected, byte for byte.
fn reply(input: Frame, expected: Frame, vip: &str) {
    rewrites(nat_reply, input, expected, vip);
}

#[test]
fn request_tcp_v4() {
    let mk = |d: &str| Frame::tcp(sa(CIP), sa(d), SYN).df(true).id(3).payload(b"GET /");
    request(mk(VIP), mk(RIP), RIP);
}

#[test]
fn request_udp_v4_and_zero_checksum() {
    let mk = |d: &str| Frame::udp(sa(CIP), sa(d)).payload(b"q");
    request(mk(VIP), mk(RIP), RIP);
    request(mk(VIP).zero_udp_checksum(), mk(RIP).zero_udp_checksum(), RIP);
}

#[test]
fn request_tcp_udp_v6() {
    let t = |d: &str| Frame::tcp(sa(CIP6), sa(d), ACK).payload(&[1; 33]);
    request(t(VIP6), t(RIP6), RIP6);
    let u = |d: &str| Frame::udp(sa(CIP6), sa(d)).payload(&[2; 7]);
    request(u(VIP6), u(RIP6), RIP6);
}

#[test]
fn request_vlan_tagged_and_padded() {
    let mk = |d: &str| Frame::tcp(sa(CIP), sa(d), SYN).vlan(100).vlan(200).pad_to(64);
    request(mk(VIP), mk(RIP), RIP);
}

#[test]
fn request_ipv4_options() {
    let opts = [0x94, 0x04, 0, 0, 1, 1, 1, 0]; // router alert, NOPs, EOL
    let mk = |d: &str| Frame::udp(sa(CIP), sa(d)).ipv4_options(&opts).payload(b"abc");
    request(mk(VIP), mk(RIP), RIP);
}

#[test]
fn request_ipv6_ext_headers() {
    let mk = |d: &str| {
        Frame::udp(sa(CIP6), sa(d))
            .ipv6_ext(Ext::HopByHop(vec![1, 4, 0, 0, 0, 0]))
            .ipv6_ext(Ext::DestOpts(vec![1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]))
            .payload(b"hello")
    };
    request(mk(VIP6), mk(RIP6), RIP6);
}

#[test]
fn reply_tcp_v4_decrements_ttl() {
    let mk = |s: &str, ttl| Frame::tcp(sa(s), sa(CIP), SYN | ACK).df(true).ttl(ttl).payload(b"ok");
    reply(mk(RIP, 64), mk(VIP, 63), VIP);
    // Saturating at 0 (the engine drops those before; nothing underflows).
    reply(mk(RIP, 0), mk(VIP, 0), VIP);
}

#[test]
fn reply_udp_v6_and_v4_zero_checksum() {
    let u6 = |s: &str, t| Frame::udp(sa(s), sa(CIP6)).ttl(t).payload(b"resp");
    reply(u6(RIP6, 2), u6(VIP6, 1), VIP6);
    let u4 = |s: &str, t| Frame::udp(sa(s), sa(CIP)).ttl(t).zero_udp_checksum().vlan(3);
    reply(u4(RIP, 10), u4(VIP, 9), VIP);
}

#[test]
fn fragments_v4_first_and_later() {
    let mk = |d: &str| Frame::udp(sa(CIP), sa(d)).id(0x4242).payload(&[5; 100]);
    let ins = build::fragments_v4(&mk(VIP), 40);
    let outs = build::fragments_v4(&mk(RIP), 40);
    assert_eq!(ins.len(), 3);
    let r = sa(RIP);
    for (mut i, o) in ins.into_iter().zip(outs) {
        let p = classify(&i).unwrap();
        nat_request(&mut i, &p, r.ip(), r.port()).unwrap();
        assert_eq!(i, o);
        verify(&i);
    }
}

#[test]
fn fragments_v6_first_and_later() {
    let first = |d: &str| {
        Frame::udp(sa(CIP6), sa(d)).ipv6_ext(Ext::Fragment { offset: 0, more: true, id: 9 }).payload(&[1; 16])
    };
    request(first(VIP6), first(RIP6), RIP6);
    let later = |d: &str| {
        Frame::raw(sa(CIP6).ip(), sa(d).ip(), PROTO_UDP)
            .ipv6_ext(Ext::Fragment { offset: 24, more: false, id: 9 })
            .payload(&[1; 20])
    };
    let p = classify(&later(VIP6).build()).unwrap();
    assert_eq!((p.sport, p.dport, p.proto), (0, 0, PROTO_UDP));
    request(later(VIP6), later(RIP6), RIP6);
}

#[test]
fn family_mismatch_and_stale_packet() {
    let mut f = build::tcp(sa(CIP), sa(VIP), SYN, b"");
    let p = classify(&f).unwrap();
    assert_eq!(nat_request(&mut f, &p, ip("2001:db8::1"), 1), Err(RewriteError::FamilyMismatch));
    let mut short = f[..30].to_vec();
    assert_eq!(nat_request(&mut short, &p, ip("10.0.0.1"), 1), Err(RewriteError::Mismatch));
    assert_eq!(nat_reply(&mut short, &p, ip("10.0.0.1"), 1), Err(RewriteError::Mismatch));
}

#[test]
fn macs_and_ttl() {
    let mut f = build::tcp(sa(CIP), sa(VIP), SYN, b"x");
    let before = f.clone();
    set_macs(&mut f, [1, 2, 3, 4, 5, 6], [7, 8, 9, 10, 11, 12]);
    assert_eq!(&f[..12], &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    assert_eq!(&f[12..], &before[12..]); // DR: the IP packet byte for byte
    let p = classify(&f).unwrap();
    decrement_ttl(&mut f, &p);
    let want =
        Frame::tcp(sa(CIP), sa(VIP), SYN).ttl(63).payload(b"x").macs([1, 2, 3, 4, 5, 6], [7, 8, 9, 10, 11, 12]).build();
    assert_eq!(f, want);
    let mut tiny = [0u8; 5];
    set_macs(&mut tiny, [1; 6], [2; 6]);
    assert_eq!(tiny, [0; 5]);
}

// ---- ICMP errors quoting a connection ----

/// An error from a router toward the VIP, quoting the NATed reply VIP:vport -> client:
/// outer dst VIP -> RIP, quoted src VIP:vport -> RIP:rport.
#[test]
fn icmp_to_vip_v4_tcp() {
    let router = ip("10.0.9.1");
    let q = |s: &str| build::tcp(sa(s), sa(CIP), SYN | ACK, b"data");
    let mut f = build::icmp_error(router, sa(VIP).ip(), 3, 1, &q(VIP));
    let want = build::icmp_error(router, sa(RIP).ip(), 3, 1, &q(RIP));
    let p = verify(&f);
    let r = sa(RIP);
    nat_icmp(&mut f, &p, None, Some(r.ip()), Some((r.ip(), r.port())), None, false).unwrap();
    assert_eq!(f, want);
    verify(&f);
}

/// An ICMP error from `rip` to the client about a NATed request, `mk(outer source, quoted
/// destination, TTL)` with TTL `ttl`: rewritten (routed), it is `mk(vip, vip, ttl - 1)`.
fn icmp_from_real(mk: impl Fn(&str, &str, u8) -> Vec<u8>, rip: &str, vip: &str, ttl: u8) {
    let mut f = mk(rip, rip, ttl);
    let p = verify(&f);
    let v = sa(vip);
    nat_icmp(&mut f, &p, Some(v.ip()), None, None, Some((v.ip(), v.port())), true).unwrap();
    assert_eq!(f, mk(vip, vip, ttl - 1));
    verify(&f);
}

/// Port unreachable from the real server to the client about a NATed request:
/// outer src RIP -> VIP, quoted dst RIP:rport -> VIP:vport, TTL decremented (routed).
#[test]
fn icmp_from_real_v6_udp_dec_ttl() {
    let q = |d: &str| build::udp(sa(CIP6), sa(d), b"query");
    let mk = |s: &str, d: &str, ttl| build::icmp_error_frame(sa(s).ip(), sa(CIP6).ip(), 1, 4, &q(d)).ttl(ttl).build();
    icmp_from_real(mk, RIP6, VIP6, 64);
}

/// Same direction on IPv4 with a quote cut after 8 bytes of UDP (old routers), zero
/// quoted UDP checksum, VLAN-tagged, and a quote with IPv4 options.
#[test]
fn icmp_from_real_v4_truncated_quotes() {
    for (zero, opts) in [(false, &[][..]), (true, &[1, 1, 1, 0][..])] {
        let q = |d: &str| {
            let mut fr = Frame::udp(sa(CIP), sa(d)).ipv4_options(opts).payload(&[3; 40]);
            if zero {
                fr = fr.zero_udp_checksum();
            }
            let full = fr.build_ip();
            full[..20 + opts.len() + 8].to_vec()
        };
        let mk =
            |s: &str, d: &str, ttl| Frame::icmp(sa(s).ip(), sa(CIP).ip(), 3, 3).vlan(9).ttl(ttl).payload(&q(d)).build();
        icmp_from_real(mk, RIP, VIP, 30);
    }
}

#[test]
fn icmp_without_quote_is_mismatch() {
    let mut f = Frame::icmp(ip("10.0.0.1"), ip("10.0.0.2"), 8, 0).build();
    let p = classify(&f).unwrap();
    assert!(p.icmp.unwrap().quoted.is_none());
    assert_eq!(nat_icmp(&mut f, &p, None, None, None, None, false), Err(RewriteError::Mismatch));
    let mut g = build::icmp_error(ip("10.0.0.1"), ip("10.0.0.2"), 3, 1, &build::tcp(sa(VIP), sa(CIP), 0, b""));
    let p = classify(&g).unwrap();
    assert_eq!(nat_icmp(&mut g, &p, Some(ip("::1")), None, None, None, false), Err(RewriteError::FamilyMismatch));
}
