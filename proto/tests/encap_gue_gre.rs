//! GUE and GRE encapsulation (IPVS's `--tun-type gue|gre`), byte for byte: the expected
//! frames are written out by hand, their checksums computed by etherparse and by hand, and
//! the frames are decoded by an independent decoder, tshark (the `tshark` of the setup):
//! its IP, UDP and GRE dissectors check every checksum and length, and the inner packet
//! under GRE and under the GUE header is dissected as the client's.

mod common;

use common::{ip, sa, verify};
use etherparse::{Ipv4HeaderSlice, UdpHeader};
use xvs_proto::build::Frame;
use xvs_proto::tcp_flags::SYN;
use xvs_proto::{classify, gue_source_port, tun_encap, Encap};

const HEADROOM: usize = 96;

fn encap(frame: &[u8], src: &str, dst: &str, e: Encap) -> Vec<u8> {
    let p = classify(frame).unwrap();
    let mut buf = vec![0xee; HEADROOM];
    buf.extend_from_slice(frame);
    let (mut head, mut len) = (HEADROOM, frame.len());
    tun_encap(&mut buf, &mut head, &mut len, &p, ip(src), ip(dst), e).unwrap();
    buf[head..head + len].to_vec()
}

fn v4_outer(total: u16, proto: u8) -> Vec<u8> {
    let mut h = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, proto, 0, 0, 10, 0, 2, 1, 10, 0, 2, 11];
    h[2..4].copy_from_slice(&total.to_be_bytes());
    let c = Ipv4HeaderSlice::from_slice(&h).unwrap().to_header().calc_header_checksum();
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h
}

/// An RFC 1071 checksum, written here again so the GRE checksum is not checked with the
/// code that made it.
fn rfc1071(data: &[u8]) -> u16 {
    let mut s: u32 = data.chunks(2).map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))).sum();
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

fn client_syn() -> Vec<u8> {
    Frame::tcp(sa("198.51.100.7:40000"), sa("10.0.1.100:80"), SYN).df(true).build()
}

#[test]
fn gue_over_ipv4_without_and_with_checksum() {
    let inner = client_syn();
    let p = classify(&inner).unwrap();
    let ip_len = p.ip_len as usize;
    for csum in [false, true] {
        let out = encap(&inner, "10.0.2.1", "10.0.2.11", Encap::Gue { port: 6080, csum });
        let mut want = inner[..14].to_vec();
        want.extend(v4_outer((20 + 12 + ip_len) as u16, 17));
        let sport = gue_source_port(&p);
        assert!(sport >= 49152, "{sport}");
        let mut udp = Vec::new();
        udp.extend_from_slice(&sport.to_be_bytes());
        udp.extend_from_slice(&6080u16.to_be_bytes());
        udp.extend_from_slice(&((12 + ip_len) as u16).to_be_bytes());
        udp.extend_from_slice(&[0, 0]);
        let mut payload = vec![0, 4, 0, 0]; // GUE: variant 0, protocol 4 (IPv4), no flags
        payload.extend_from_slice(&inner[14..14 + ip_len]);
        if csum {
            let outer = Ipv4HeaderSlice::from_slice(&want[14..34]).unwrap().to_header();
            let h = UdpHeader { source_port: sport, destination_port: 6080, length: (12 + ip_len) as u16, checksum: 0 };
            let c = h.calc_checksum_ipv4(&outer, &payload).unwrap();
            udp[6..8].copy_from_slice(&c.to_be_bytes());
        }
        want.extend(udp);
        want.extend(payload);
        assert_eq!(out, want, "csum {csum}");
        verify(&out);
        // The same flow, the same source port (ECMP keeps it on one path).
        assert_eq!(encap(&inner, "10.0.2.1", "10.0.2.11", Encap::Gue { port: 6080, csum })[34..36], out[34..36]);
    }
}

#[test]
fn gre_without_and_with_checksum() {
    let inner = client_syn();
    let ip_len = classify(&inner).unwrap().ip_len as usize;
    for csum in [false, true] {
        let out = encap(&inner, "10.0.2.1", "10.0.2.11", Encap::Gre { csum });
        let gre_len = if csum { 8 } else { 4 };
        let mut want = inner[..14].to_vec();
        want.extend(v4_outer((20 + gre_len + ip_len) as u16, 47));
        let mut gre = vec![if csum { 0x80 } else { 0 }, 0, 0x08, 0x00];
        if csum {
            gre.extend_from_slice(&[0, 0, 0, 0]);
            let mut covered = gre.clone();
            covered.extend_from_slice(&inner[14..14 + ip_len]);
            gre[4..6].copy_from_slice(&rfc1071(&covered).to_be_bytes());
        }
        want.extend(gre);
        want.extend_from_slice(&inner[14..14 + ip_len]);
        assert_eq!(out, want, "csum {csum}");
    }
    // IPv6 inside IPv6, GRE protocol type 0x86dd.
    let v6 = Frame::udp(sa("[2001:db8:c::7]:5000"), sa("[2001:db8:1::100]:53")).payload(b"q").build();
    let out = encap(&v6, "2001:db8:2::1", "2001:db8:2::11", Encap::Gre { csum: false });
    assert_eq!((out[20], &out[54..58]), (47, &[0, 0, 0x86, 0xdd][..]));
}

/// tshark's fields of `frames` with IP, UDP and TCP checksums checked (`|` between them).
fn tshark(name: &str, frames: &[Vec<u8>], fields: &[&str], extra: &[&str]) -> Vec<String> {
    let mut args =
        vec!["-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE"];
    args.extend_from_slice(extra);
    xvs_testkit::tshark::fields(name, frames, &args, fields)
}

#[test]
fn tshark_decodes_gre_and_checks_every_checksum() {
    let inner = client_syn();
    let frames: Vec<Vec<u8>> =
        [false, true].iter().map(|&csum| encap(&inner, "10.0.2.1", "10.0.2.11", Encap::Gre { csum })).collect();
    let lines = tshark(
        "gre",
        &frames,
        &[
            "ip.src",
            "ip.dst",
            "ip.checksum.status",
            "gre.proto",
            "gre.checksum.status",
            "tcp.srcport",
            "tcp.dstport",
            "tcp.checksum.status",
        ],
        &[],
    );
    // Outer, then inner addresses (tshark lists both, comma separated); status 1 = good.
    assert_eq!(
        lines,
        [
            "10.0.2.1,198.51.100.7|10.0.2.11,10.0.1.100|1,1|0x0800||40000|80|1",
            "10.0.2.1,198.51.100.7|10.0.2.11,10.0.1.100|1,1|0x0800|1|40000|80|1"
        ],
        "without, then with the GRE checksum"
    );
}

#[test]
fn tshark_checks_gue_and_decodes_what_it_carries() {
    let inner = client_syn();
    let frames: Vec<Vec<u8>> = [false, true]
        .iter()
        .map(|&csum| encap(&inner, "10.0.2.1", "10.0.2.11", Encap::Gue { port: 6080, csum }))
        .collect();
    // tshark has no GUE dissector: it checks the outer IP and UDP, and shows the payload.
    let lines = tshark(
        "gue",
        &frames,
        &["ip.proto", "ip.checksum.status", "udp.dstport", "udp.length", "udp.checksum.status", "data.data"],
        &[],
    );
    let ip_len = classify(&inner).unwrap().ip_len as usize;
    let payload: String = [0u8, 4, 0, 0].iter().chain(&inner[14..14 + ip_len]).map(|b| format!("{b:02x}")).collect();
    // Checksum status 1 = good, 3 = not present (a UDP/IPv4 checksum of 0).
    assert_eq!(lines[0], format!("17|1|6080|{}|3|{payload}", 8 + 4 + ip_len), "{lines:?}");
    assert_eq!(lines[1], format!("17|1|6080|{}|1|{payload}", 8 + 4 + ip_len), "{lines:?}");
    // What the GUE header carries is the client's packet, as tshark reads it.
    let mut unwrapped = frames[1][..14].to_vec();
    unwrapped.extend_from_slice(&frames[1][14 + 20 + 12..]);
    let lines = tshark("gue-inner", &[unwrapped], &["ip.src", "ip.dst", "tcp.dstport", "tcp.checksum.status"], &[]);
    assert_eq!(lines, ["198.51.100.7|10.0.1.100|80|1"]);
}
