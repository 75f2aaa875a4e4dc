//! Independent checks of frames: full checksum recomputation and header fields.

use std::net::IpAddr;

use xvs_proto::{classify, Packet, PROTO_ICMP, PROTO_ICMPV6, PROTO_TCP, PROTO_UDP};

/// The classification of a frame, panicking with the frame in hex when it does not parse.
pub fn parse(frame: &[u8]) -> Packet {
    classify(frame).unwrap_or_else(|e| panic!("frame does not classify ({e:?}): {}", hex(frame)))
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Check every checksum of an (unfragmented or first-fragment-free) frame by full
/// recomputation: the IPv4 header, TCP/UDP (a zero UDP/IPv4 checksum is accepted as
/// "none"), ICMP and ICMPv6. Returns a description of the first mismatch.
pub fn verify_checksums(frame: &[u8]) -> Result<(), String> {
    let p = classify(frame).map_err(|e| format!("does not classify: {e:?}"))?;
    let l3 = p.l3 as usize;
    let end = p.ip_end();
    if p.src.is_ipv4() {
        let ihl = (frame[l3] & 0x0f) as usize * 4;
        let got = u16::from_be_bytes([frame[l3 + 10], frame[l3 + 11]]);
        let want = xvs_proto::ipv4_header_checksum(&frame[l3..l3 + ihl]);
        if got != want {
            return Err(format!("IPv4 header checksum {got:#06x}, want {want:#06x}"));
        }
    }
    if p.frag.is_some() {
        return Ok(()); // L4 checksums span fragments
    }
    let seg = &frame[p.l4 as usize..end];
    let (off, proto) = match p.proto {
        PROTO_TCP => (16, PROTO_TCP),
        PROTO_UDP => (6, PROTO_UDP),
        PROTO_ICMP => (2, PROTO_ICMP),
        PROTO_ICMPV6 => (2, PROTO_ICMPV6),
        _ => return Ok(()),
    };
    if seg.len() < off + 2 {
        return Err("segment too short".into());
    }
    let got = u16::from_be_bytes([seg[off], seg[off + 1]]);
    if proto == PROTO_UDP && got == 0 && p.src.is_ipv4() {
        return Ok(());
    }
    let mut zeroed = seg.to_vec();
    zeroed[off] = 0;
    zeroed[off + 1] = 0;
    let want = match (p.src, p.dst, proto) {
        (_, _, PROTO_ICMP) => xvs_proto::icmp_checksum(seg),
        (IpAddr::V4(s), IpAddr::V4(d), _) => xvs_proto::l4_checksum_v4(s, d, proto, &zeroed),
        (IpAddr::V6(s), IpAddr::V6(d), _) => xvs_proto::l4_checksum_v6(s, d, proto, &zeroed),
        _ => return Err("mixed families".into()),
    };
    let want = if proto == PROTO_UDP && want == 0 { 0xffff } else { want };
    if got != want {
        return Err(format!("L4 ({proto}) checksum {got:#06x}, want {want:#06x}"));
    }
    Ok(())
}

/// Destination and source MACs of a frame.
pub fn macs(frame: &[u8]) -> ([u8; 6], [u8; 6]) {
    let mut d = [0u8; 6];
    let mut s = [0u8; 6];
    d.copy_from_slice(&frame[0..6]);
    s.copy_from_slice(&frame[6..12]);
    (d, s)
}
