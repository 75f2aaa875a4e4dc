//! ICMP errors about tracked connections (IPVS `ip_vs_in_icmp` / `ip_vs_out_icmp`): an
//! error from the real's side about a NAT connection (port unreachable, fragmentation
//! needed from a router) goes to the client with outer source = VIP, TTL - 1, and the
//! quoted header rewritten back to what the client sent; an error from the client about a
//! reply goes to the real with the quote rewritten to the real's address; DR/TUN errors
//! from the client are forwarded like the connection's packets; anything about an
//! untracked flow passes. Expected frames are built independently and compared byte for
//! byte; every checksum is also recomputed in full.

mod common;

use std::net::{IpAddr, SocketAddr};

use common::*;
use xvs_engine::{DropReason, Forward, Verdict};
use xvs_proto::build::{self, Frame};

const TX: Verdict = Verdict::Tx { port: 0 };
const CMAC: Mac = [0x02, 0xc1, 0, 0, 0, 0x07];

/// ICMP types: (port unreachable, frag needed / packet too big) for the family.
fn unreach(v6: bool) -> (u8, u8) {
    if v6 {
        (1, 4)
    } else {
        (3, 3)
    }
}
fn too_big(v6: bool) -> (u8, u8) {
    if v6 {
        (2, 0)
    } else {
        (3, 4)
    }
}

struct Nat {
    lb: Lb,
    client: SocketAddr,
    vs: SocketAddr,
    rs: SocketAddr,
    /// What the client sent (as a Frame, so the quote can be rebuilt).
    request: Frame,
}

fn nat(v6: bool, proto: u8, payload_len: usize) -> Nat {
    let mut lb = Lb::new(simple(v6, proto, 53, 5353, Forward::Nat, "rr", 1));
    let client = sa(cip(v6, 3), 40_000);
    let vs = sa(vip(v6), 53);
    let rs = sa(rip(v6, 0), 5353);
    let payload: Vec<u8> = (0..payload_len).map(|i| i as u8).collect();
    let f = if proto == TCP { Frame::tcp(client, vs, SYN) } else { Frame::udp(client, vs) };
    let request = f.macs(DIR_MAC, CMAC).ttl(50).payload(&payload);
    assert_eq!(lb.verdict(&request.build(), 1_000), TX);
    Nat { lb, client, vs, rs, request }
}

fn with_endpoints(mut f: Frame, src: SocketAddr, dst: SocketAddr) -> Frame {
    f.src = src.ip();
    f.dst = dst.ip();
    match &mut f.l4 {
        build::L4::Tcp { sport, dport, .. } | build::L4::Udp { sport, dport } => {
            *sport = src.port();
            *dport = dst.port();
        }
        _ => unreachable!(),
    }
    f
}

fn check_sums(out: &[u8]) {
    verify_checksums(out).unwrap_or_else(|e| panic!("{e}"));
}

/// An ICMP error about the client's request (of `payload_len` bytes), of type `kind`,
/// sent to the director with `ttl` by the real itself or by a router on the way to it
/// (`router`), with the 4 bytes after the code set to `rest` where given: the client
/// gets the same error from the VIP, quoting its own request, one hop lower.
fn error_about_the_request(
    payload_len: usize,
    kind: fn(bool) -> (u8, u8),
    router: Option<fn(bool) -> IpAddr>,
    ttl: u8,
    rest: fn(bool) -> Option<[u8; 4]>,
) {
    for v6 in [false, true] {
        for proto in [TCP, UDP] {
            let mut n = nat(v6, proto, payload_len);
            // The real got client -> RIP:port (a router: on the way there).
            let from = router.map_or(n.rs.ip(), |r| r(v6));
            let got = with_endpoints(n.request.clone(), n.client, n.rs).build();
            let (t, c) = kind(v6);
            let with_rest = |f: Frame| match rest(v6) {
                Some(r) => f.rest(r),
                None => f,
            };
            let err = with_rest(build::icmp_error_frame(from, n.client.ip(), t, c, &got))
                .macs(DIR_MAC_IN, mac_for(from))
                .ttl(ttl)
                .build();
            let (v, out) = n.lb.send(&err, 1_010);
            assert_eq!(v, TX, "v6={v6} proto={proto}");
            let want = with_rest(build::icmp_error_frame(n.vs.ip(), n.client.ip(), t, c, &n.request.build()))
                .macs(CMAC, DIR_MAC_IN)
                .ttl(ttl - 1)
                .build();
            assert_eq!(out, want, "v6={v6} proto={proto}");
            check_sums(&out);
        }
    }
}

#[test]
fn error_from_the_real_goes_to_the_client_from_the_vip() {
    error_about_the_request(40, unreach, None, 64, |_| None);
}

#[test]
fn frag_needed_from_a_router_with_a_cut_quote() {
    // A big request: the error quotes only its start (576 / 1280 bytes in all).
    let router: fn(bool) -> IpAddr = |v6| if v6 { ip("2001:db8:2::fe") } else { ip("10.0.2.254") };
    let mtu: fn(bool) -> Option<[u8; 4]> = |v6| Some(if v6 { 1400u32.to_be_bytes() } else { [0, 0, 0x05, 0x78] });
    error_about_the_request(1400, too_big, Some(router), 60, mtu);
}

#[test]
fn error_from_the_client_about_a_reply_goes_to_the_real() {
    for v6 in [false, true] {
        for proto in [TCP, UDP] {
            let mut n = nat(v6, proto, 10);
            // The real answers; the client gets VIP:53 -> client with TTL 63.
            let ans = if proto == TCP { Frame::tcp(n.rs, n.client, SYN | ACK) } else { Frame::udp(n.rs, n.client) };
            let ans = ans.macs(DIR_MAC_IN, mac_for(n.rs.ip())).payload(b"answer");
            let (v, seen) = n.lb.send(&ans.build(), 1_005);
            assert_eq!(v, TX);
            let (t, c) = unreach(v6);
            let err = build::icmp_error_frame(n.client.ip(), n.vs.ip(), t, c, &seen).macs(DIR_MAC, CMAC).ttl(30);
            let (v, out) = n.lb.send(&err.build(), 1_010);
            assert_eq!(v, TX);
            // To the real, quoting what the real sent (but with the TTL the client saw).
            let quote = ans.clone().ttl(63).build();
            let want = build::icmp_error_frame(n.client.ip(), n.rs.ip(), t, c, &quote)
                .macs(mac_for(n.rs.ip()), DIR_MAC)
                .ttl(30);
            assert_eq!(out, want.build(), "v6={v6} proto={proto}");
            check_sums(&out);
        }
    }
}

#[test]
fn dr_and_tun_errors_from_the_client_follow_the_connection() {
    for fwd in [Forward::Dr, Forward::Tun] {
        let mut lb = Lb::new(simple(false, UDP, 53, 53, fwd, "rr", 1));
        let client = sa(cip(false, 1), 999);
        let vs = sa(vip4(), 53);
        let r = rip(false, 0);
        assert_eq!(lb.verdict(&udp(client, vs, b"q"), 0), TX);
        // The real answered directly from the VIP; the client complains to the VIP.
        let seen = Frame::udp(vs, client).payload(b"a").build();
        let err = build::icmp_error_frame(client.ip(), vs.ip(), 3, 3, &seen).macs(DIR_MAC, CMAC);
        let (v, out) = lb.send(&err.build(), 1);
        assert_eq!(v, TX);
        let want = match fwd {
            Forward::Dr => err.clone().macs(mac_for(r), DIR_MAC).build(),
            _ => Frame::raw(dip(false), r, 4).payload(&err.build_ip()).ttl(64).macs(mac_for(r), DIR_MAC).build(),
        };
        assert_eq!(out, want, "{fwd:?}");
        check_sums(&out);
    }
}

#[test]
fn errors_about_untracked_flows_pass() {
    let mut n = nat(false, UDP, 10);
    let other = sa(cip(false, 99), 1234);
    // About a flow with no connection (another client, another port, another protocol).
    for quoted in [
        Frame::udp(other, n.rs).build(),
        Frame::udp(n.client, sa(n.rs.ip(), 5354)).build(),
        Frame::tcp(n.client, n.rs, SYN).build(),
        Frame::icmp(n.client.ip(), n.rs.ip(), 8, 0).payload(b"ping").build(),
    ] {
        let err = build::icmp_error(n.rs.ip(), n.client.ip(), 3, 3, &quoted);
        assert_eq!(n.lb.send(&err, 1_010), (Verdict::Pass, err.clone()));
    }
    // Informational ICMP passes too.
    let echo = Frame::icmp(n.client.ip(), n.vs.ip(), 8, 0).payload(b"ping").build();
    assert_eq!(n.lb.verdict(&echo, 1_011), Verdict::Pass);
    let echo6 = Frame::icmp(cip(true, 0), vip6(), 128, 0).payload(b"ping").build();
    assert_eq!(n.lb.verdict(&echo6, 1_011), Verdict::Pass);
    // Once the connection is gone, its errors are not ours either.
    n.lb.tick(1_000 + 300_000);
    let got = with_endpoints(n.request.clone(), n.client, n.rs).build();
    let err = build::icmp_error(n.rs.ip(), n.client.ip(), 3, 3, &got);
    assert_eq!(n.lb.verdict(&err, 301_001), Verdict::Pass);
}

#[test]
fn routed_error_with_ttl_1_is_dropped() {
    let mut n = nat(false, UDP, 10);
    let got = with_endpoints(n.request.clone(), n.client, n.rs).build();
    let err = build::icmp_error_frame(n.rs.ip(), n.client.ip(), 3, 3, &got).ttl(1).build();
    assert_eq!(n.lb.verdict(&err, 1_010), Verdict::Drop(DropReason::TtlExpired));
}

#[test]
fn error_goes_out_on_the_request_port() {
    let mut lb = Lb::new(simple(false, UDP, 53, 5353, Forward::Nat, "rr", 1));
    let client = sa(cip(false, 1), 999);
    let rs = sa(rip(false, 0), 5353);
    assert_eq!(lb.send_on(&udp(client, sa(vip4(), 53), b"q"), 2, 0).0, Verdict::Tx { port: 2 });
    let err = build::icmp_error(rs.ip(), client.ip(), 3, 3, &udp(client, rs, b"q"));
    assert_eq!(lb.send_on(&err, 0, 1).0, Verdict::Tx { port: 2 });
}
