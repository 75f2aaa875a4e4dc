//! The advertisement's bytes: encode and decode for VRRPv2 (with PASS) and VRRPv3 over IPv4
//! and IPv6, byte for byte against adverts captured from keepalived 2.2.7 (its multicast
//! adverts on a veth, read with a raw socket), with every checksum recomputed by the test's
//! own RFC 1071 sum; decode's errors; and properties (decode never panics; encode → decode
//! round-trips; any one flipped bit is refused).

mod common;

use std::net::IpAddr;

use common::{expected_checksum, ip, pass, unhex};
use proptest::prelude::*;
use xvs_vrrp::wire::{self, decode, Advert, Header};
use xvs_vrrp::{Reject, Version};

fn advert(version: Version, priority: u8, adver_int: u16, addresses: &[&str]) -> Advert {
    Advert {
        version,
        vrid: 51,
        priority,
        auth_type: 0,
        adver_int,
        addresses: addresses.iter().map(|a| ip(a)).collect(),
        auth_data: [0; 8],
        checksum: 0,
    }
}

/// Encodes `a`, compares with `want` (hex), checks the checksum independently and decodes
/// it back.
fn exact(a: &Advert, src: &str, dst: &str, want: &str) {
    let (src, dst) = (ip(src), ip(dst));
    let bytes = a.encode(src, dst);
    assert_eq!(bytes, unhex(want), "encoded {a:?}");
    let csum = u16::from_be_bytes([bytes[6], bytes[7]]);
    assert_eq!(csum, expected_checksum(&bytes, src, dst), "checksum");
    let back = decode(&bytes, src, dst).expect("decodes");
    assert_eq!(back, Advert { checksum: csum, ..a.clone() });
}

/// [`exact`] for `a` at each of `wants`' priorities: (priority, hex).
fn exact_at_priorities(mut a: Advert, src: &str, dst: &str, wants: &[(u8, &str)]) {
    for &(priority, want) in wants {
        a.priority = priority;
        exact(&a, src, dst, want);
    }
}

#[test]
fn v2_pass_ipv4_is_keepalived_byte_for_byte() {
    // keepalived: vrrp_instance VI_1 { virtual_router_id 51 priority 100 advert_int 1
    // authentication { auth_type PASS auth_pass 1111 } virtual_ipaddress { 10.99.0.50 } }
    // on 10.99.0.1; its shutdown advert, and priority 255.
    let mut a = advert(Version::V2, 100, 1, &["10.99.0.50"]);
    a.auth_type = wire::AUTH_PASS;
    a.auth_data = pass("1111");
    let wants = [
        (100, "21 33 64 01 01 01 0c d3 0a 63 00 32 31 31 31 31 00 00 00 00"),
        (0, "21 33 00 01 01 01 70 d3 0a 63 00 32 31 31 31 31 00 00 00 00"),
        (255, "21 33 ff 01 01 01 71 d2 0a 63 00 32 31 31 31 31 00 00 00 00"),
    ];
    exact_at_priorities(a, "10.99.0.1", "224.0.0.18", &wants);
}

#[test]
fn v3_ipv4_is_keepalived_byte_for_byte() {
    // vrrp_version 3, priority 255, advert_int 0.1, two VIPs; and its shutdown advert.
    let a = advert(Version::V3, 255, 10, &["10.99.0.50", "10.99.0.51"]);
    let wants = [
        (255, "31 33 ff 02 00 0a cf 9d 0a 63 00 32 0a 63 00 33"),
        (0, "31 33 00 02 00 0a ce 9e 0a 63 00 32 0a 63 00 33"),
    ];
    exact_at_priorities(a, "10.99.0.1", "224.0.0.18", &wants);
}

#[test]
fn v3_ipv6_is_keepalived_byte_for_byte() {
    // virtual_router_id 52, priority 255, advert_int 1, from fe80::1, VIPs fe80::50 and
    // 2001:db8::50 (the kernel filled keepalived's checksum: IPV6_CHECKSUM).
    let mut a = advert(Version::V3, 255, 100, &["fe80::50", "2001:db8::50"]);
    a.vrid = 52;
    let vips = "fe80 0000 0000 0000 0000 0000 0000 0050 2001 0db8 0000 0000 0000 0000 0000 0050";
    let (master, shutdown) = (format!("31 34 ff 02 00 64 a4 5b {vips}"), format!("31 34 00 02 00 64 a3 5c {vips}"));
    exact_at_priorities(a, "fe80::1", "ff02::12", &[(255, &master), (0, &shutdown)]);
}

#[test]
fn v2_without_auth_carries_eight_zero_bytes() {
    let a = advert(Version::V2, 150, 3, &["192.168.20.50", "192.168.20.51"]);
    let bytes = a.encode(ip("192.168.20.1"), ip("224.0.0.18"));
    assert_eq!(&bytes[..6], &[0x21, 51, 150, 2, 0, 3]);
    assert_eq!(&bytes[8..16], &[192, 168, 20, 50, 192, 168, 20, 51]);
    assert_eq!(&bytes[16..], &[0; 8]);
    assert_eq!(
        u16::from_be_bytes([bytes[6], bytes[7]]),
        expected_checksum(&bytes, ip("192.168.20.1"), ip("224.0.0.18"))
    );
}

#[test]
fn v3_unicast_checksum_covers_the_peer_address() {
    let a = advert(Version::V3, 100, 100, &["192.168.20.50"]);
    let src = ip("192.168.20.1");
    let (to_peer, to_group) = (a.encode(src, ip("192.168.20.2")), a.encode(src, ip("224.0.0.18")));
    assert_eq!(u16::from_be_bytes([to_peer[6], to_peer[7]]), expected_checksum(&to_peer, src, ip("192.168.20.2")));
    assert_ne!(to_peer[6..8], to_group[6..8]);
    assert_eq!(decode(&to_peer, src, ip("192.168.20.3")), Err(Reject::BadChecksum), "another peer's copy");
}

#[test]
fn v2_over_ipv6_sums_the_pseudo_header_and_has_no_auth_data() {
    let a = advert(Version::V2, 100, 1, &["2001:db8::50"]);
    let (src, dst) = (ip("fe80::1"), ip("ff02::12"));
    let bytes = a.encode(src, dst);
    assert_eq!(bytes.len(), 8 + 16);
    assert_eq!(u16::from_be_bytes([bytes[6], bytes[7]]), expected_checksum(&bytes, src, dst));
    assert_eq!(decode(&bytes, src, dst).map(|d| d.addresses), Ok(vec![ip("2001:db8::50")]));
}

#[test]
fn v3_interval_is_twelve_bits_and_reserved_bits_are_read() {
    let mut a = advert(Version::V3, 100, 4095, &["10.0.0.50"]);
    a.auth_type = 0x0a; // the reserved nibble
    let bytes = a.encode(ip("10.0.0.1"), ip("224.0.0.18"));
    assert_eq!(&bytes[4..6], &[0xaf, 0xff]);
    let h = Header::parse(&bytes).expect("header");
    assert_eq!((h.auth_type, h.adver_int, h.interval_cs()), (0x0a, 4095, 4095));
    assert_eq!(decode(&bytes, ip("10.0.0.1"), ip("224.0.0.18")).map(|d| d.interval_cs()), Ok(4095));
}

#[test]
fn decode_refuses_what_is_malformed() {
    let (src, dst) = (ip("10.0.0.1"), ip("224.0.0.18"));
    let good = advert(Version::V3, 100, 100, &["10.0.0.50"]).encode(src, dst);
    assert_eq!(decode(&good[..7], src, dst), Err(Reject::Truncated));
    assert_eq!(decode(&good[..11], src, dst), Err(Reject::Truncated));
    let mut long = good.clone();
    long.push(0);
    assert_eq!(decode(&long, src, dst), Err(Reject::BadLength));
    let mut v = good.clone();
    v[0] = 0x41;
    assert_eq!(decode(&v, src, dst), Err(Reject::BadVersion));
    let mut t = good.clone();
    t[0] = 0x32;
    assert_eq!(decode(&t, src, dst), Err(Reject::BadType));
    let mut c = good.clone();
    c[7] ^= 1;
    assert_eq!(decode(&c, src, dst), Err(Reject::BadChecksum));
    assert_eq!(decode(&good, src, ip("ff02::12")), Err(Reject::WrongFamily));
    assert_eq!(decode(&good, src, dst).map(|a| a.priority), Ok(100));
}

fn family_addr(v6: bool) -> impl Strategy<Value = IpAddr> {
    if v6 {
        any::<[u8; 16]>().prop_map(IpAddr::from).boxed()
    } else {
        any::<[u8; 4]>().prop_map(IpAddr::from).boxed()
    }
}

/// An advert as decode returns it: v3's reserved bits are 4 bits, its interval 12; auth
/// data only for v2 over IPv4.
fn canonical_advert(v6: bool) -> impl Strategy<Value = (Advert, IpAddr, IpAddr)> {
    (
        any::<bool>(),
        any::<(u8, u8, u8, u16)>(),
        any::<[u8; 8]>(),
        proptest::collection::vec(family_addr(v6), 0..12),
        family_addr(v6),
        family_addr(v6),
    )
        .prop_map(move |(v3, (vrid, priority, auth, int), data, addresses, src, dst)| {
            let version = if v3 { Version::V3 } else { Version::V2 };
            let (auth_type, adver_int) = if v3 { (auth & 0x0f, int & 0x0fff) } else { (auth, int & 0xff) };
            let auth_data = if !v3 && !v6 { data } else { [0; 8] };
            (Advert { version, vrid, priority, auth_type, adver_int, addresses, auth_data, checksum: 0 }, src, dst)
        })
}

proptest! {
    #[test]
    fn decode_never_panics(msg in proptest::collection::vec(any::<u8>(), 0..200), v6 in any::<bool>(),
                           s in any::<[u8; 16]>(), d in any::<[u8; 16]>(), cross in any::<bool>()) {
        let addr = |b: [u8; 16], six: bool| if six { IpAddr::from(b) } else { IpAddr::from([b[0], b[1], b[2], b[3]]) };
        let _ = decode(&msg, addr(s, v6), addr(d, v6 != cross));
        let _ = Header::parse(&msg);
        let _ = wire::checksum_ok(&msg, addr(s, v6), addr(d, v6));
    }

    #[test]
    fn header_shaped_input_never_panics(mut msg in proptest::collection::vec(any::<u8>(), 8..120), v in 0u8..16, count in any::<u8>()) {
        msg[0] = (v << 4) | 1;
        msg[3] = count;
        let _ = decode(&msg, ip("10.0.0.1"), ip("224.0.0.18"));
        let _ = decode(&msg, ip("fe80::1"), ip("ff02::12"));
    }

    #[test]
    fn encode_then_decode_round_trips((a, src, dst) in any::<bool>().prop_flat_map(canonical_advert)) {
        let bytes = a.encode(src, dst);
        prop_assert_eq!(u16::from_be_bytes([bytes[6], bytes[7]]), expected_checksum(&bytes, src, dst));
        let back = decode(&bytes, src, dst).expect("decodes");
        prop_assert_eq!(back.checksum, u16::from_be_bytes([bytes[6], bytes[7]]));
        prop_assert_eq!(back, Advert { checksum: u16::from_be_bytes([bytes[6], bytes[7]]), ..a });
    }

    #[test]
    fn any_flipped_bit_is_refused((a, src, dst) in any::<bool>().prop_flat_map(canonical_advert), bit in any::<prop::sample::Index>()) {
        let mut bytes = a.encode(src, dst);
        let b = bit.index(bytes.len() * 8);
        bytes[b / 8] ^= 1 << (b % 8);
        prop_assert!(decode(&bytes, src, dst).is_err(), "bit {} flipped and accepted", b);
    }
}
