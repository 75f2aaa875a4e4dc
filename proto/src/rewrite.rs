//! In-place NAT rewrites of a classified frame: MACs, addresses, ports, TTL, with
//! incremental checksum updates (RFC 1624, as IPVS's `ip_vs_check_diff*`).
//!
//! Invariants:
//! - Every function takes the whole frame (from the Ethernet header) and the [`Packet`]
//!   [`crate::classify`] returned for it. Nothing panics even when the two disagree: each
//!   read and write is bounds-checked and a disagreement is `Err(Mismatch)` (the frame may
//!   then be partly rewritten; the engine drops it).
//! - Only the named fields and the checksums covering them change; a checksum is updated,
//!   never recomputed, so a bad checksum stays bad.
//! - A UDP/IPv4 checksum of 0 ("none") stays 0; an updated UDP checksum that comes out
//!   as 0 is written as `0xffff`.
//! - Non-first fragments carry no transport header: only the IP header changes. A first
//!   fragment's transport checksum is updated incrementally like any other.

use std::net::IpAddr;

use crate::checksum::CsumDiff;
use crate::packet::{Mac, Packet, RewriteError, PROTO_ICMPV6, PROTO_SCTP, PROTO_TCP, PROTO_UDP};

use RewriteError::{FamilyMismatch, Mismatch};

#[inline]
pub(crate) fn rd16(f: &[u8], o: usize) -> Result<u16, RewriteError> {
    let b = f.get(o..o + 2).ok_or(Mismatch)?;
    Ok(u16::from_be_bytes([b[0], b[1]]))
}

#[inline]
pub(crate) fn wr16(f: &mut [u8], o: usize, v: u16) -> Result<(), RewriteError> {
    f.get_mut(o..o + 2).ok_or(Mismatch)?.copy_from_slice(&v.to_be_bytes());
    Ok(())
}

/// Checks that `frame` still holds the IP packet `p` describes.
#[inline]
pub(crate) fn check(frame: &[u8], p: &Packet) -> Result<(), RewriteError> {
    let l3 = usize::from(p.l3);
    let (ver, hlen) = if p.is_v6() { (6, 40) } else { (4, 20) };
    if p.src.is_ipv6() != p.dst.is_ipv6()
        || frame.len() < p.ip_end()
        || usize::from(p.ip_len) < hlen
        || usize::from(p.l4) < l3 + hlen
        || usize::from(p.l4) > p.ip_end()
        || frame.get(l3).map(|b| b >> 4) != Some(ver)
    {
        return Err(Mismatch);
    }
    Ok(())
}

/// Checks that the frame `buf[head..head + len]` still holds the IP packet `p` describes
/// (as [`check`]); returns the lengths of its L2 header and of its IP packet.
#[inline]
pub(crate) fn check_in_place(buf: &[u8], head: usize, len: usize, p: &Packet) -> Result<(usize, usize), RewriteError> {
    let frame = buf.get(head..head.checked_add(len).ok_or(Mismatch)?).ok_or(Mismatch)?;
    check(frame, p)?;
    Ok((usize::from(p.l3), usize::from(p.ip_len)))
}

#[inline]
fn same_family(a: IpAddr, b: IpAddr) -> bool {
    a.is_ipv6() == b.is_ipv6()
}

/// Writes `new` (same family as the address there) at `at`, recording the change.
#[inline]
pub(crate) fn set_addr(f: &mut [u8], at: usize, new: IpAddr, d: &mut CsumDiff) -> Result<(), RewriteError> {
    match new {
        IpAddr::V4(a) => swap_bytes(f, at, &a.octets(), d),
        IpAddr::V6(a) => swap_bytes(f, at, &a.octets(), d),
    }
}

/// Writes the `N` bytes of `new` at `at`, recording the change. `N` is a constant (4 or
/// 16), so the copy and the checksum words unroll wherever this is inlined, instead of a
/// `memcpy` call and a loop over a slice of unknown length.
#[inline(always)]
fn swap_bytes<const N: usize>(f: &mut [u8], at: usize, new: &[u8; N], d: &mut CsumDiff) -> Result<(), RewriteError> {
    let slot: &mut [u8; N] = f.get_mut(at..at + N).and_then(|s| s.try_into().ok()).ok_or(Mismatch)?;
    let mut i = 0;
    while i + 1 < N {
        d.add16(u16::from_be_bytes([slot[i], slot[i + 1]]), u16::from_be_bytes([new[i], new[i + 1]]));
        i += 2;
    }
    *slot = *new;
    Ok(())
}

/// Writes a port at `at`, recording the change.
#[inline]
pub(crate) fn set_port(f: &mut [u8], at: usize, new: u16, d: &mut CsumDiff) -> Result<(), RewriteError> {
    let old = rd16(f, at)?;
    d.add16(old, new);
    wr16(f, at, new)
}

/// Applies `d` to the transport checksum of a `proto` header at `l4` (TCP, UDP, ICMPv6;
/// others have no pseudo-header and are left alone). `limit`: the field is only touched
/// when it lies before it (quoted headers may be cut short).
#[inline]
pub(crate) fn update_l4_csum(
    f: &mut [u8],
    proto: u8,
    v6: bool,
    l4: usize,
    limit: usize,
    d: CsumDiff,
) -> Result<(), RewriteError> {
    let at = match proto {
        PROTO_TCP => l4 + 16,
        PROTO_UDP => l4 + 6,
        PROTO_ICMPV6 if v6 => l4 + 2,
        _ => return Ok(()),
    };
    if at + 2 > limit {
        return Ok(());
    }
    let c = rd16(f, at)?;
    if proto == PROTO_UDP && !v6 && c == 0 {
        return Ok(());
    }
    let mut n = d.apply(c);
    if proto == PROTO_UDP && n == 0 {
        n = 0xffff;
    }
    wr16(f, at, n)
}

/// Decrements the TTL / hop limit at `l3` (saturating at 0), recording the IPv4 change.
#[inline]
pub(crate) fn dec_ttl_at(f: &mut [u8], l3: usize, v6: bool, d: &mut CsumDiff) -> Result<(), RewriteError> {
    if v6 {
        let h = f.get_mut(l3 + 7).ok_or(Mismatch)?;
        *h = h.saturating_sub(1);
    } else {
        let old = rd16(f, l3 + 8)?;
        let new = if old >> 8 == 0 { old } else { old - 0x100 };
        d.add16(old, new);
        wr16(f, l3 + 8, new)?;
    }
    Ok(())
}

/// Applies `d` to the IPv4 header checksum at `l3` (no-op for IPv6).
#[inline]
pub(crate) fn update_ip_csum(f: &mut [u8], l3: usize, v6: bool, d: CsumDiff) -> Result<(), RewriteError> {
    if v6 {
        return Ok(());
    }
    let c = rd16(f, l3 + 10)?;
    wr16(f, l3 + 10, d.apply(c))
}

/// Minimum transport header length xvs rewrites for `proto`.
#[inline]
fn l4_min(proto: u8) -> usize {
    match proto {
        PROTO_TCP => 20,
        PROTO_SCTP => 12,
        _ => 8,
    }
}

/// Recomputes the CRC32c of the SCTP packet `f[l4..end]` (stored little-endian, as RFC
/// 9260 appendix A's reference code and the kernel store it). The CRC covers the whole
/// packet, so a fragment, which has only part of it, cannot be rewritten.
fn sctp_crc(f: &mut [u8], l4: usize, end: usize) -> Result<(), RewriteError> {
    let seg = f.get_mut(l4..end).ok_or(Mismatch)?;
    if seg.len() < 12 {
        return Err(Mismatch);
    }
    seg[8..12].fill(0);
    let crc = crc32c::crc32c(seg);
    seg[8..12].copy_from_slice(&crc.to_le_bytes());
    Ok(())
}

/// True when the packet carries its transport header (not a non-first fragment).
#[inline]
fn has_l4(p: &Packet) -> bool {
    !matches!(p.frag, Some(fr) if !fr.is_first())
}

/// Sets the destination and source MACs. A frame shorter than 12 bytes is left alone.
#[inline]
pub fn set_macs(frame: &mut [u8], dst: Mac, src: Mac) {
    if let Some(h) = frame.get_mut(..12) {
        h[..6].copy_from_slice(&dst);
        h[6..].copy_from_slice(&src);
    }
}

/// The shared body of [`nat_request`] and [`nat_reply`]: `reply` rewrites the source
/// (address and port) and decrements the TTL, otherwise the destination.
fn nat(f: &mut [u8], p: &Packet, new_ip: IpAddr, new_port: u16, reply: bool) -> Result<(), RewriteError> {
    check(f, p)?;
    if !same_family(new_ip, p.src) {
        return Err(FamilyMismatch);
    }
    if has_l4(p) && usize::from(p.l4) + l4_min(p.proto) > p.ip_end() || p.proto == PROTO_SCTP && p.frag.is_some() {
        return Err(Mismatch);
    }
    // The frame holds the packet and its whole transport header: the common case (no
    // tag, options, extension headers or fragment; TCP or UDP) takes the fixed-offset
    // rewrite, which writes the same bytes (`crate::fast`, tested against `nat_general`).
    if crate::fast::nat_common_case(f, p, new_ip, new_port, reply) {
        return Ok(());
    }
    nat_general(f, p, new_ip, new_port, reply)
}

/// [`nat`] for any packet, word by word at the packet's offsets.
fn nat_general(f: &mut [u8], p: &Packet, new_ip: IpAddr, new_port: u16, reply: bool) -> Result<(), RewriteError> {
    let l3 = usize::from(p.l3);
    let l4 = usize::from(p.l4);
    let v6 = p.is_v6();
    let addr_at = match (v6, reply) {
        (false, true) => l3 + 12,
        (false, false) => l3 + 16,
        (true, true) => l3 + 8,
        (true, false) => l3 + 24,
    };
    let mut addr = CsumDiff::default();
    set_addr(f, addr_at, new_ip, &mut addr)?;
    let mut ip = addr;
    if reply {
        dec_ttl_at(f, l3, v6, &mut ip)?;
    }
    update_ip_csum(f, l3, v6, ip)?;
    if has_l4(p) {
        let mut l4d = addr;
        if matches!(p.proto, PROTO_TCP | PROTO_UDP | PROTO_SCTP) {
            set_port(f, l4 + if reply { 0 } else { 2 }, new_port, &mut l4d)?;
        }
        if p.proto == PROTO_SCTP {
            sctp_crc(f, l4, p.ip_end())?;
        } else {
            update_l4_csum(f, p.proto, v6, l4, p.ip_end(), l4d)?;
        }
    }
    Ok(())
}

/// NAT of a request: client -> VIP:vport becomes client -> `new_dst`:`new_dport`.
/// TTL unchanged. Ports change only for TCP, UDP and SCTP (whose CRC32c is recomputed;
/// other protocols: the address only, with the ICMPv6 checksum updated for its
/// pseudo-header).
pub fn nat_request(frame: &mut [u8], p: &Packet, new_dst: IpAddr, new_dport: u16) -> Result<(), RewriteError> {
    nat(frame, p, new_dst, new_dport, false)
}

/// NAT of a reply: RIP:rport -> client becomes `new_src`:`new_sport` -> client, and the
/// TTL / hop limit goes down by one (saturating at 0; the caller drops TTL <= 1 first).
pub fn nat_reply(frame: &mut [u8], p: &Packet, new_src: IpAddr, new_sport: u16) -> Result<(), RewriteError> {
    nat(frame, p, new_src, new_sport, true)
}

/// Decrements the TTL (IPv4, with the header checksum) or hop limit (IPv6), saturating
/// at 0. Does nothing when `frame` does not match `p`.
pub fn decrement_ttl(frame: &mut [u8], p: &Packet) {
    if check(frame, p).is_err() {
        return;
    }
    let l3 = usize::from(p.l3);
    let mut d = CsumDiff::default();
    if dec_ttl_at(frame, l3, p.is_v6(), &mut d).is_ok() {
        let _ = update_ip_csum(frame, l3, p.is_v6(), d);
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use proptest::prelude::*;

    use super::*;
    use crate::build::Frame;
    use crate::classify;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

        /// The common case's fixed-offset rewrite writes exactly what the general one
        /// writes, requests and replies, both families, TCP and UDP, zero UDP checksums,
        /// TTL 0 and 1, Ethernet padding.
        #[test]
        fn the_common_case_rewrites_as_the_general_one(
            v6 in any::<bool>(),
            (s, d, o) in any::<([u8; 16], [u8; 16], [u8; 16])>(),
            (sp, dp, op) in any::<(u16, u16, u16)>(),
            (tcp, flags, ttl, zero, reply) in any::<(bool, u8, u8, bool, bool)>(),
            payload in prop::collection::vec(any::<u8>(), 0..64),
            pad in 0usize..100,
        ) {
            let ip = |b: [u8; 16]| if v6 { IpAddr::from(b) } else { IpAddr::from([b[0], b[1], b[2], b[3]]) };
            let (src, dst) = (SocketAddr::new(ip(s), sp), SocketAddr::new(ip(d), dp));
            let mut fr = if tcp { Frame::tcp(src, dst, flags) } else { Frame::udp(src, dst) };
            fr = fr.ttl(ttl).payload(&payload).pad_to(pad);
            if zero && !tcp && !v6 {
                fr = fr.zero_udp_checksum();
            }
            let f = fr.build();
            let p = classify(&f).unwrap();
            let (mut a, mut b) = (f.clone(), f);
            prop_assert!(crate::fast::nat_common_case(&mut a, &p, ip(o), op, reply));
            nat_general(&mut b, &p, ip(o), op, reply).unwrap();
            prop_assert_eq!(a, b);
        }
    }

    proptest! {
        /// The same where ones'-complement arithmetic has its edge cases: addresses, ports
        /// and payloads made of 0x0000, 0xffff and their neighbours (a sum's +0 and -0),
        /// so that the IPv6 rewrite's 64-bit halves of addresses meet all-zero and
        /// all-ones words, and checksums come out at 0 and 0xffff.
        #[test]
        fn the_common_case_rewrites_as_the_general_one_at_the_edges(
            v6 in any::<bool>(),
            words in prop::collection::vec(prop::sample::select(vec![0u16, 1, 0xfffe, 0xffff]), 27),
            (tcp, reply) in any::<(bool, bool)>(),
            payload in prop::collection::vec(prop::sample::select(vec![0u8, 1, 0xfe, 0xff]), 0..8),
        ) {
            let ip = |w: &[u16]| {
                let mut b = [0u8; 16];
                for (i, x) in w.iter().enumerate() {
                    b[2 * i..2 * i + 2].copy_from_slice(&x.to_be_bytes());
                }
                if v6 { IpAddr::from(b) } else { IpAddr::from([b[0], b[1], b[2], b[3]]) }
            };
            let (src, dst) = (SocketAddr::new(ip(&words[..8]), words[24]), SocketAddr::new(ip(&words[8..16]), words[25]));
            let fr = if tcp { Frame::tcp(src, dst, 0x10) } else { Frame::udp(src, dst) };
            let f = fr.payload(&payload).build();
            let p = classify(&f).unwrap();
            let (mut a, mut b) = (f.clone(), f);
            let (to, port) = (ip(&words[16..24]), words[26]);
            prop_assert!(crate::fast::nat_common_case(&mut a, &p, to, port, reply));
            nat_general(&mut b, &p, to, port, reply).unwrap();
            prop_assert_eq!(a, b);
        }
    }

    /// Anything else is not the common case: tags, options, extension headers, fragments,
    /// other protocols keep the general rewrite.
    #[test]
    fn other_packets_are_not_the_common_case() {
        let (c4, v4) = (SocketAddr::from(([192, 0, 2, 1], 1000)), SocketAddr::from(([10, 0, 1, 100], 80)));
        let (c6, v6) = ("[2001:db8::1]:1000".parse().unwrap(), "[2001:db8::100]:80".parse().unwrap());
        let to4 = IpAddr::from([10, 0, 2, 11]);
        let to6: IpAddr = "2001:db8:2::11".parse().unwrap();
        for (fr, to) in [
            (Frame::tcp(c4, v4, 0x10).vlan(7), to4),
            (Frame::tcp(c4, v4, 0x10).ipv4_options(&[1, 1, 1, 0]), to4),
            (Frame::udp(c4, v4).fragment(0, true), to4),
            (Frame::tcp(c6, v6, 0x10).ipv6_ext(crate::build::Ext::DestOpts(vec![1, 0])), to6),
            (Frame::tcp(c4, v4, 0x10), to6),
        ] {
            let mut f = fr.build();
            let p = classify(&f).unwrap();
            assert!(!crate::fast::nat_common_case(&mut f, &p, to, 8080, false), "{p:?}");
        }
    }
}
