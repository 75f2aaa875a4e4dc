//! The independent checksum verifier: every checksum of a frame, recomputed in full from its
//! bytes (RFC 1071 sums written here, and a header walk of its own; nothing of xvs-proto).
//!
//! What it checks, by full recomputation:
//! - the IPv4 header checksum;
//! - TCP and UDP (a UDP/IPv4 checksum of 0 is accepted as "none"; a computed UDP checksum
//!   of 0 is sent as 0xffff), ICMP and ICMPv6 (with the IPv6 pseudo-header);
//! - for an ICMP error (v4 types 3, 4, 5, 11, 12; v6 types 1 to 4): the quoted IPv4 header's
//!   checksum, and, when the quote holds the whole quoted packet, everything in it;
//! - the inner packet of IPv4-in-IPv4 (4) and IPv6-in-IPv6 (41), in full.
//!
//! What it walks: Ethernet II with up to any number of 802.1Q / 802.1ad / 0x9100 tags;
//! IPv4 options; IPv6 hop-by-hop, routing, destination-options and fragment headers. The
//! IP length fields decide where a packet ends (Ethernet padding is ignored).
//!
//! What it does not check: transport checksums of fragments (offset != 0 or more
//! fragments follow: the segment spans fragments); protocols other than the above (GRE and
//! the like pass); the UDP length field.
//!
//! Every failure is an `Err` naming the checksum, the value found and the value
//! recomputed; a frame too short for what its headers say is an `Err`, never a panic.

/// Ones' complement sum of `data` as 16-bit big-endian words (an odd byte is padded).
fn sum16(data: &[u8]) -> u32 {
    data.chunks(2).fold(0u32, |s, c| {
        let w = u32::from(c[0]) << 8 | u32::from(c.get(1).copied().unwrap_or(0));
        s.wrapping_add(w)
    })
}

fn finish(mut s: u32) -> u16 {
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// The checksum over `data` with its 16-bit field at `at` taken as zero, plus `extra`.
fn csum_with(data: &[u8], at: usize, extra: u32) -> u16 {
    let field = sum16(&data[at..at + 2]);
    // Subtracting the field from the full sum equals summing with the field zeroed: the
    // sum is computed in 32 bits without folding, so no borrow can occur.
    finish(sum16(data).wrapping_sub(field).wrapping_add(extra))
}

/// The pseudo-header sum (IPv4: RFC 793/768; IPv6: RFC 8200 section 8.1).
fn pseudo(src: &[u8], dst: &[u8], proto: u8, len: usize) -> u32 {
    sum16(src) + sum16(dst) + u32::from(proto) + (len as u32 & 0xffff) + (len as u32 >> 16)
}

fn rd16(b: &[u8], o: usize) -> Result<u16, String> {
    match b.get(o..o + 2) {
        Some(w) => Ok(u16::from_be_bytes([w[0], w[1]])),
        None => Err(format!("truncated: no 16-bit field at offset {o} of {} bytes", b.len())),
    }
}

fn check(what: &str, got: u16, want: u16) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what} checksum {got:#06x}, recomputed {want:#06x}"))
    }
}

/// Verifies every checksum of an Ethernet frame (see the module doc).
pub fn verify_checksums(frame: &[u8]) -> Result<(), String> {
    let mut at = 12;
    let mut et = rd16(frame, at)?;
    while matches!(et, 0x8100 | 0x88a8 | 0x9100) {
        at += 4;
        et = rd16(frame, at)?;
    }
    let pkt = &frame[at + 2..];
    match et {
        0x0800 => verify_ip(pkt, false),
        0x86dd => verify_ip(pkt, true),
        _ => Err(format!("ethertype {et:#06x} is not IP")),
    }
}

/// An IP packet's header walked to its transport: (header length, total length, protocol,
/// source, destination, whether it is a fragment other than a whole one).
struct Ip<'a> {
    hl: usize,
    total: usize,
    proto: u8,
    src: &'a [u8],
    dst: &'a [u8],
    fragment: bool,
}

fn walk_v4(pkt: &[u8]) -> Result<Ip<'_>, String> {
    if pkt.len() < 20 || pkt[0] >> 4 != 4 {
        return Err("not an IPv4 header".into());
    }
    let hl = usize::from(pkt[0] & 0xf) * 4;
    let total = usize::from(rd16(pkt, 2)?);
    if hl < 20 || total < hl || total > pkt.len() {
        return Err(format!("IPv4 lengths: header {hl}, total {total}, {} bytes present", pkt.len()));
    }
    check("IPv4 header", rd16(pkt, 10)?, csum_with(&pkt[..hl], 10, 0))?;
    let flags_off = rd16(pkt, 6)?;
    let fragment = flags_off & 0x3fff != 0; // MF or an offset
    Ok(Ip { hl, total, proto: pkt[9], src: &pkt[12..16], dst: &pkt[16..20], fragment })
}

fn walk_v6(pkt: &[u8]) -> Result<Ip<'_>, String> {
    if pkt.len() < 40 || pkt[0] >> 4 != 6 {
        return Err("not an IPv6 header".into());
    }
    let total = 40 + usize::from(rd16(pkt, 4)?);
    if total > pkt.len() {
        return Err(format!("IPv6 payload length: {total} bytes, {} present", pkt.len()));
    }
    let (mut hl, mut next, mut fragment) = (40, pkt[6], false);
    loop {
        match next {
            0 | 43 | 60 => {
                let ext = pkt.get(hl..hl + 2).ok_or("truncated IPv6 extension header")?;
                next = ext[0];
                hl += (usize::from(ext[1]) + 1) * 8;
            }
            44 => {
                let ext = pkt.get(hl..hl + 8).ok_or("truncated IPv6 fragment header")?;
                next = ext[0];
                fragment = u16::from_be_bytes([ext[2], ext[3]]) & 0xfff9 != 0; // offset or M
                hl += 8;
            }
            _ => break,
        }
        if hl > total {
            return Err("IPv6 extension headers run past the packet".into());
        }
    }
    Ok(Ip { hl, total, proto: next, src: &pkt[8..24], dst: &pkt[24..40], fragment })
}

/// Verifies every checksum of the IP packet `pkt` (IPv6 when `v6`); bytes after its length
/// are ignored.
pub fn verify_ip(pkt: &[u8], v6: bool) -> Result<(), String> {
    let ip = if v6 { walk_v6(pkt)? } else { walk_v4(pkt)? };
    if ip.fragment {
        return Ok(());
    }
    let seg = &pkt[ip.hl..ip.total];
    let short = |n: usize| {
        if seg.len() < n {
            Err(format!("protocol {} segment of {} bytes, shorter than {n}", ip.proto, seg.len()))
        } else {
            Ok(())
        }
    };
    match ip.proto {
        6 | 17 => {
            let at = if ip.proto == 6 { 16 } else { 6 };
            short(at + 2)?;
            let got = rd16(seg, at)?;
            if ip.proto == 17 && !v6 && got == 0 {
                return Ok(());
            }
            let mut want = csum_with(seg, at, pseudo(ip.src, ip.dst, ip.proto, seg.len()));
            if ip.proto == 17 && want == 0 {
                want = 0xffff;
            }
            check(&format!("L4 ({})", ip.proto), got, want)
        }
        1 if !v6 => {
            short(8)?;
            check("ICMP", rd16(seg, 2)?, csum_with(seg, 2, 0))?;
            if matches!(seg[0], 3 | 4 | 5 | 11 | 12) {
                verify_quote(&seg[8..], false)?;
            }
            Ok(())
        }
        58 if v6 => {
            short(8)?;
            check("ICMPv6", rd16(seg, 2)?, csum_with(seg, 2, pseudo(ip.src, ip.dst, 58, seg.len())))?;
            if (1..=4).contains(&seg[0]) {
                verify_quote(&seg[8..], true)?;
            }
            Ok(())
        }
        4 => verify_ip(seg, false).map_err(|e| format!("inner IPv4 packet: {e}")),
        41 => verify_ip(seg, true).map_err(|e| format!("inner IPv6 packet: {e}")),
        _ => Ok(()),
    }
}

/// The packet quoted by an ICMP error: an IPv4 quote's header checksum; and, when the quote
/// holds the whole quoted packet, every checksum in it. A quote of another family or too
/// short for its header is not judged (an ICMPv6 error may quote a truncated packet).
fn verify_quote(q: &[u8], v6: bool) -> Result<(), String> {
    let quoted_v4 = q.len() >= 20 && q[0] >> 4 == 4;
    let quoted_v6 = q.len() >= 40 && q[0] >> 4 == 6;
    if quoted_v4 && !v6 {
        let hl = usize::from(q[0] & 0xf) * 4;
        if hl < 20 || hl > q.len() {
            return Err(format!("quoted IPv4 header length {hl} in a quote of {} bytes", q.len()));
        }
        check("quoted IPv4 header", rd16(q, 10)?, csum_with(&q[..hl], 10, 0))?;
        if usize::from(rd16(q, 2)?) == q.len() {
            verify_ip(q, false).map_err(|e| format!("quoted packet: {e}"))?;
        }
    } else if quoted_v6 && v6 && 40 + usize::from(rd16(q, 4)?) == q.len() {
        verify_ip(q, true).map_err(|e| format!("quoted packet: {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A UDP/IPv4 datagram 192.0.2.1:1024 -> 198.51.100.2:53, payload "abcd", its checksums
    /// filled in with this module's sums (which `rfc1071_sum` checks against the RFC).
    fn udp4() -> Vec<u8> {
        let mut f = vec![0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00];
        let ip = [
            0x45, 0, 0, 32, 0, 1, 0x40, 0, 64, 17, 0, 0, 192, 0, 2, 1, 198, 51, 100, 2, // IPv4
            0x04, 0x00, 0, 53, 0, 12, 0, 0, b'a', b'b', b'c', b'd', // UDP
        ];
        f.extend_from_slice(&ip);
        let h = csum_with(&f[14..34], 10, 0);
        f[24..26].copy_from_slice(&h.to_be_bytes());
        let u = csum_with(&f[34..46], 6, pseudo(&f[26..30], &f[30..34], 17, 12));
        f[40..42].copy_from_slice(&u.to_be_bytes());
        f
    }

    #[test]
    fn rfc1071_sum() {
        // RFC 1071 section 3's example: the sum of 0001 f203 f4f5 f6f7 is 0xddf2 (folded),
        // so its checksum is !0xddf2.
        assert_eq!(finish(sum16(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7])), !0xddf2);
        // A header with its checksum in place sums to 0xffff (checksum 0).
        let f = udp4();
        assert_eq!(finish(sum16(&f[14..34])), 0);
    }

    #[test]
    fn good_frame_passes_and_every_flipped_bit_fails() {
        let f = udp4();
        assert_eq!(verify_checksums(&f), Ok(()));
        // Padding after the IP packet is ignored.
        let mut padded = f.clone();
        padded.extend_from_slice(&[0; 14]);
        assert_eq!(verify_checksums(&padded), Ok(()));
        // Any bit flipped in the IP packet is caught (a checksum, or a length that no
        // longer fits).
        for byte in 14..f.len() {
            for bit in 0..8 {
                let mut g = f.clone();
                g[byte] ^= 1 << bit;
                assert!(verify_checksums(&g).is_err(), "byte {byte} bit {bit}");
            }
        }
    }

    #[test]
    fn zero_udp4_checksum_is_none_and_vlan_tags_are_walked() {
        let mut f = udp4();
        f[40..42].copy_from_slice(&[0, 0]);
        assert_eq!(verify_checksums(&f), Ok(()));
        let mut tagged = f[..12].to_vec();
        tagged.extend_from_slice(&[0x88, 0xa8, 0, 5, 0x81, 0x00, 0, 7]);
        tagged.extend_from_slice(&f[12..]);
        assert_eq!(verify_checksums(&tagged), Ok(()));
        let last = tagged.len() - 1;
        tagged[last] ^= 1;
        assert_eq!(verify_checksums(&tagged), Ok(()), "no UDP checksum: payload not covered");
    }

    #[test]
    fn malformed_is_an_error_not_a_panic() {
        let f = udp4();
        for n in 0..f.len() {
            let _ = verify_checksums(&f[..n]);
        }
        assert!(verify_checksums(&f[..30]).is_err());
        let mut arp = f.clone();
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert!(verify_checksums(&arp).is_err());
    }
}
