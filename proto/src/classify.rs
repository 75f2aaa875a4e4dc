//! Frame classification: Ethernet II (+ up to two VLAN tags) / IPv4 or IPv6 / TCP, UDP,
//! ICMP, ICMPv6, into a [`Packet`].
//!
//! Invariants:
//! - Never panics, never allocates: every read goes through a bounds-checked helper or an
//!   etherparse slice type that checked its length first.
//! - On `Ok(p)`: `p.l3 + 20 (v4) / 40 (v6) <= p.l4 <= p.ip_end() <= frame.len()`; for TCP
//!   (not a non-first fragment) the whole TCP header (data offset included) lies before
//!   `ip_end`, for UDP, ICMP and ICMPv6 at least 8 bytes do; a quoted header in
//!   `p.icmp` has `q.l3 < q.l4` and `q.l4 + 8 <= p.ip_end()`.
//! - `ip_len` is what the IP header says (IPv4 total length, IPv6 40 + payload length);
//!   bytes after `ip_end()` are Ethernet padding and are ignored.
//! - Checksums are not verified.
//!
//! Structure: a hand-checked fast path for the common case (untagged Ethernet, IPv4
//! without options, not a fragment, TCP or UDP; `fast::parse_v4`), which answers "not
//! mine" rather than an error on anything else and falls back to the general path. It
//! stays hand-written: it is the per-packet hot path and reads fixed offsets from one
//! 42-byte array.
//!
//! The general path parses every header with an etherparse 0.16 per-header slice type
//! (each checks its own length and, where it has one, its version / length field), while
//! the walk from header to header, the limits and the mapping to [`ClassifyError`] are
//! xvs's own:
//! - Ethernet II: `Ethernet2HeaderSlice`. Each of up to two tags (802.1Q, 802.1ad, 0x9100):
//!   `SingleVlanHeaderSlice`; the outermost VLAN id is kept, a third tag is "not IP".
//!   (`DoubleVlanHeaderSlice` needs exactly two tags; xvs takes zero to two.)
//! - IPv4: `Ipv4HeaderSlice` (version, IHL >= 5, header with its options present); the
//!   total length via `payload_len` (less than the header: `BadIp`); identification,
//!   DF / MF, fragment offset, TTL, protocol and addresses from its getters.
//! - IPv6: `Ipv6HeaderSlice`. The extension headers are walked by xvs's own loop (at most
//!   [`MAX_EXT_HEADERS`]; hop-by-hop only first; AH, mobility, HIP, shim6 and the
//!   experimental numbers refused; nothing walked past the Fragment header of a non-first
//!   fragment; any Fragment header, even offset 0 without MF, marks a fragment), which
//!   etherparse's `Ipv6ExtensionsSlice` / `SlicedPacket` do not implement. Each header is
//!   an `Ipv6RawExtHeaderSlice` (hop-by-hop, routing, destination options) or an
//!   `Ipv6FragmentHeaderSlice` (its length, next header and identification).
//! - TCP: `TcpHeaderSlice` (20 bytes, data offset >= 5, options within the IP packet).
//!   UDP: `UdpHeaderSlice` (8 bytes; like xvs it does not check the UDP length field).
//!   ICMPv6: `Icmpv6Slice` (8 bytes). A quoted UDP header: `UdpHeaderSlice`.
//!
//! Left hand-written, because etherparse 0.16 would change behaviour:
//! - The IPv6 Fragment header's offset and M flag: `Ipv6FragmentHeaderSlice` reads them
//!   from the wrong bits (the offset's low 5 bits from byte 3 bits 4..0, M from bit 7;
//!   fixed upstream in etherparse 0.20, PR #151), so they are read from bytes 2..4 of its
//!   slice as RFC 8200 lays them out (offset = word & 0xfff8 in bytes, M = bit 0). Its
//!   `is_fragmenting_payload` is not used either (same bug, and see the rule above).
//! - The order of IPv4 / IPv6 header errors: etherparse checks the 20 / 40-byte minimum
//!   before the version (and IHL); xvs reports a bad first byte as `BadIp` even when the
//!   frame also ends early, so etherparse's length error is re-examined on that byte.
//! - The IP length against the frame (`Truncated`, Ethernet padding ignored) and the lax
//!   mode for quoted headers (length fields ignored): the header slices do not look past
//!   the header.
//! - ICMPv4 type and code: `Icmpv4Slice::from_slice` rejects a timestamp or timestamp
//!   reply (types 13 / 14, code 0) that is not exactly 20 bytes; xvs takes any ICMP
//!   message of at least 8 bytes.
//! - A quoted TCP header's ports: an ICMPv4 error need only quote its first 8 bytes
//!   (RFC 792), `TcpHeaderSlice` wants the whole header.
//! - The TCP flags byte: `TcpHeaderSlice` exposes the flags one bit at a time, so the byte
//!   (offset 13) is read from its slice.
//!
//! etherparse's `SlicedPacket` stays the test oracle: the property tests compare both on
//! frames it builds.

use std::net::IpAddr;

use etherparse::{
    Ethernet2HeaderSlice, Icmpv6Slice, Ipv4HeaderSlice, Ipv6FragmentHeaderSlice, Ipv6Header, Ipv6HeaderSlice,
    Ipv6RawExtHeaderSlice, SingleVlanHeader, SingleVlanHeaderSlice, TcpHeaderSlice, UdpHeaderSlice,
};

use crate::packet::{
    sctp_chunk, ClassifyError, Frag, Icmp, Packet, Quoted, PROTO_ICMP, PROTO_ICMPV6, PROTO_SCTP, PROTO_TCP, PROTO_UDP,
};

/// Ethertypes.
pub const ETH_P_IPV4: u16 = 0x0800;
pub const ETH_P_IPV6: u16 = 0x86dd;
pub const ETH_P_8021Q: u16 = 0x8100;
pub const ETH_P_8021AD: u16 = 0x88a8;
pub const ETH_P_QINQ: u16 = 0x9100;

/// Length of an Ethernet II header without tags.
pub const ETH_HLEN: usize = 14;

/// The most IPv6 extension headers [`classify`] walks before giving up.
pub const MAX_EXT_HEADERS: usize = 8;

const IPV6_HOP_BY_HOP: u8 = 0;
const IPV6_ROUTING: u8 = 43;
const IPV6_FRAGMENT: u8 = 44;
const IPV6_DEST_OPTS: u8 = 60;
/// Extension headers xvs does not walk (AH, mobility, HIP, shim6, experimental).
const IPV6_UNWALKED: [u8; 6] = [51, 135, 139, 140, 253, 254];

#[inline]
fn u16_at(f: &[u8], o: usize) -> Option<u16> {
    let b = f.get(o..o.checked_add(2)?)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

/// Classifies one Ethernet frame. See the module documentation for what is checked.
#[inline]
pub fn classify(frame: &[u8]) -> Result<Packet, ClassifyError> {
    match fast_v4(frame) {
        Some(p) => Ok(p),
        None => general(frame),
    }
}

/// Untagged IPv4 without options, not fragmented, TCP or UDP with a sane header
/// ([`crate::fast::parse_v4`], the one definition of that case). `None` means "let the
/// general path decide" (it may still succeed or give the error).
#[inline(always)]
fn fast_v4(f: &[u8]) -> Option<Packet> {
    crate::fast::parse_v4(f).map(|v| v.packet())
}

fn is_vlan(et: u16) -> bool {
    et == ETH_P_8021Q || et == ETH_P_8021AD || et == ETH_P_QINQ
}

/// The network layer as parsed by [`ip_v4`] / [`ip_v6`].
struct L3 {
    l4: usize,
    end: usize,
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    ttl: u8,
    df: bool,
    frag: Option<Frag>,
}

fn general(f: &[u8]) -> Result<Packet, ClassifyError> {
    use ClassifyError::*;
    let mut et = Ethernet2HeaderSlice::from_slice(f).map_err(|_| Truncated)?.ether_type().0;
    let mut l3 = ETH_HLEN;
    let mut vlan = None;
    for _ in 0..2 {
        if !is_vlan(et) {
            break;
        }
        let tag = SingleVlanHeaderSlice::from_slice(f.get(l3..).ok_or(Truncated)?).map_err(|_| Truncated)?;
        et = tag.ether_type().0;
        vlan.get_or_insert(tag.vlan_identifier().value());
        l3 += SingleVlanHeader::LEN;
    }
    let n = match et {
        ETH_P_IPV4 => ip_v4(f, l3, false)?,
        ETH_P_IPV6 => ip_v6(f, l3, false)?,
        _ => return Err(NotIp),
    };
    let mut p = Packet {
        l3: l3 as u16,
        l4: u16::try_from(n.l4).map_err(|_| BadIp)?,
        vlan,
        src: n.src,
        dst: n.dst,
        proto: n.proto,
        ttl: n.ttl,
        ip_len: (n.end - l3) as u16,
        df: n.df,
        frag: n.frag,
        sport: 0,
        dport: 0,
        tcp_flags: 0,
        icmp: None,
    };
    if matches!(n.frag, Some(fr) if !fr.is_first()) {
        return Ok(p);
    }
    // The transport layer: from `l4` to the end of the IP packet (padding excluded).
    let seg = f.get(n.l4..n.end).ok_or(BadL4)?;
    let v6 = p.is_v6();
    match n.proto {
        PROTO_TCP => {
            let t = TcpHeaderSlice::from_slice(seg).map_err(|_| BadL4)?;
            p.sport = t.source_port();
            p.dport = t.destination_port();
            p.tcp_flags = t.slice().get(13).copied().ok_or(BadL4)?;
        }
        PROTO_UDP => {
            let u = UdpHeaderSlice::from_slice(seg).map_err(|_| BadL4)?;
            p.sport = u.source_port();
            p.dport = u.destination_port();
        }
        PROTO_SCTP => {
            // The common header (ports, verification tag, CRC32c) and a first chunk header.
            let [s0, s1, d0, d1, ..] = *seg else { return Err(BadL4) };
            p.sport = u16::from_be_bytes([s0, s1]);
            p.dport = u16::from_be_bytes([d0, d1]);
            p.tcp_flags = sctp_state_chunk(seg).ok_or(BadL4)?;
        }
        PROTO_ICMP | PROTO_ICMPV6 if (n.proto == PROTO_ICMPV6) == v6 => {
            let (kind, code) = if v6 {
                let m = Icmpv6Slice::from_slice(seg).map_err(|_| BadL4)?;
                (m.type_u8(), m.code_u8())
            } else {
                // Not `Icmpv4Slice`: see the module documentation (timestamp lengths).
                match seg {
                    [kind, code, _, _, _, _, _, _, ..] => (*kind, *code),
                    _ => return Err(BadL4),
                }
            };
            let is_error = if v6 { (1..=4).contains(&kind) } else { matches!(kind, 3 | 4 | 11 | 12) };
            let quoted = if is_error { quoted(f.get(..n.end).ok_or(BadL4)?, n.l4 + 8, v6) } else { None };
            p.icmp = Some(Icmp { kind, code, quoted });
        }
        _ => {}
    }
    Ok(p)
}

/// Maps etherparse's length error for an IP header: `BadIp` if the bytes there (`s`) start
/// with a first byte `bad` rejects (etherparse checks the minimum length before it looks at
/// that byte, xvs the other way round), `Truncated` otherwise.
fn short_ip_header(s: &[u8], bad: impl Fn(u8) -> bool) -> ClassifyError {
    match s.first() {
        Some(&b) if bad(b) => ClassifyError::BadIp,
        _ => ClassifyError::Truncated,
    }
}

/// Parses an IPv4 header at `l3`. `lax` (for quoted headers): the total length is not
/// checked and the packet is taken to end where `f` ends.
fn ip_v4(f: &[u8], l3: usize, lax: bool) -> Result<L3, ClassifyError> {
    use etherparse::err::ipv4::HeaderSliceError;
    use ClassifyError::*;
    let s = f.get(l3..).ok_or(Truncated)?;
    let h = Ipv4HeaderSlice::from_slice(s).map_err(|e| match e {
        HeaderSliceError::Content(_) => BadIp,
        HeaderSliceError::Len(_) => short_ip_header(s, |b| b >> 4 != 4 || b & 0x0f < 5),
    })?;
    let l4 = l3 + h.slice().len();
    let end = if lax {
        f.len()
    } else {
        // Err: total length less than the header.
        let end = l4 + usize::from(h.payload_len().map_err(|_| BadIp)?);
        if end > f.len() {
            return Err(Truncated);
        }
        end
    };
    Ok(L3 {
        l4,
        end,
        src: IpAddr::V4(h.source_addr()),
        dst: IpAddr::V4(h.destination_addr()),
        proto: h.protocol().0,
        ttl: h.ttl(),
        df: h.dont_fragment(),
        frag: h.is_fragmenting_payload().then_some(Frag {
            id: u32::from(h.identification()),
            offset: h.fragments_offset().byte_offset(),
            more: h.more_fragments(),
        }),
    })
}

/// Parses an IPv6 header and its extension headers at `l3`. `lax` as for [`ip_v4`].
fn ip_v6(f: &[u8], l3: usize, lax: bool) -> Result<L3, ClassifyError> {
    use etherparse::err::ipv6::HeaderSliceError;
    use ClassifyError::*;
    let s = f.get(l3..).ok_or(Truncated)?;
    let h = Ipv6HeaderSlice::from_slice(s).map_err(|e| match e {
        HeaderSliceError::Content(_) => BadIp,
        HeaderSliceError::Len(_) => short_ip_header(s, |b| b >> 4 != 6),
    })?;
    let plen = usize::from(h.payload_length());
    let end = if lax {
        f.len()
    } else {
        if Ipv6Header::LEN + plen > usize::from(u16::MAX) {
            // Not representable in `Packet::ip_len`; no real frame is this large.
            return Err(BadIp);
        }
        if l3 + Ipv6Header::LEN + plen > f.len() {
            return Err(Truncated);
        }
        l3 + Ipv6Header::LEN + plen
    };
    let mut next = h.next_header().0;
    let mut off = l3 + Ipv6Header::LEN;
    let mut frag = None;
    let mut count = 0;
    loop {
        match next {
            IPV6_HOP_BY_HOP | IPV6_ROUTING | IPV6_DEST_OPTS => {
                if next == IPV6_HOP_BY_HOP && count != 0 {
                    return Err(BadExtHeaders);
                }
                let x = Ipv6RawExtHeaderSlice::from_slice(f.get(off..end).ok_or(Truncated)?).map_err(|_| Truncated)?;
                next = x.next_header().0;
                off += x.slice().len();
            }
            IPV6_FRAGMENT => {
                let x =
                    Ipv6FragmentHeaderSlice::from_slice(f.get(off..end).ok_or(Truncated)?).map_err(|_| Truncated)?;
                // Offset and M by hand (RFC 8200 layout): etherparse 0.16 misreads them.
                let fo = u16_at(x.slice(), 2).ok_or(Truncated)?;
                let fr = Frag { id: x.identification(), offset: fo & 0xfff8, more: fo & 1 != 0 };
                next = x.next_header().0;
                off += x.slice().len();
                frag = Some(fr);
                if !fr.is_first() {
                    // The rest is a piece of the fragmentable part: not headers.
                    break;
                }
            }
            n if IPV6_UNWALKED.contains(&n) => return Err(BadExtHeaders),
            _ => break,
        }
        count += 1;
        if count > MAX_EXT_HEADERS {
            return Err(BadExtHeaders);
        }
    }
    Ok(L3 {
        l4: off,
        end,
        src: IpAddr::V6(h.source_addr()),
        dst: IpAddr::V6(h.destination_addr()),
        proto: next,
        ttl: h.hop_limit(),
        df: true,
        frag,
    })
}

/// The chunk of SCTP packet `seg` (common header first) that decides the association's
/// state: the first chunk's type, or ABORT when an ABORT follows a first COOKIE ECHO or
/// COOKIE ACK (RFC 9260 3.3.7: control chunks may be bundled before an ABORT). `None`
/// without a whole common header and first chunk header.
fn sctp_state_chunk(seg: &[u8]) -> Option<u8> {
    let chunk = seg.get(12..16)?;
    let kind = chunk[0];
    if kind == sctp_chunk::COOKIE_ECHO || kind == sctp_chunk::COOKIE_ACK {
        let len = usize::from(u16::from_be_bytes([chunk[2], chunk[3]]));
        if len >= 4 && seg.get(12 + len.next_multiple_of(4)) == Some(&sctp_chunk::ABORT) {
            return Some(sctp_chunk::ABORT);
        }
    }
    Some(kind)
}

/// Parses the IP header an ICMP error quotes at `at`, `f` ending where the ICMP message
/// ends. Only TCP and UDP quotes with their first 8 bytes present (and not a non-first
/// fragment) give a [`Quoted`].
fn quoted(f: &[u8], at: usize, v6: bool) -> Option<Quoted> {
    let n = if v6 { ip_v6(f, at, true).ok()? } else { ip_v4(f, at, true).ok()? };
    if matches!(n.frag, Some(fr) if !fr.is_first()) {
        return None;
    }
    let seg = f.get(n.l4..)?;
    let (sport, dport) = match n.proto {
        PROTO_UDP => {
            let u = UdpHeaderSlice::from_slice(seg).ok()?;
            (u.source_port(), u.destination_port())
        }
        // Only the first 8 bytes are sure to be quoted: not `TcpHeaderSlice`.
        PROTO_TCP | PROTO_SCTP => match seg {
            [s0, s1, d0, d1, _, _, _, _, ..] => (u16::from_be_bytes([*s0, *s1]), u16::from_be_bytes([*d0, *d1])),
            _ => return None,
        },
        _ => return None,
    };
    Some(Quoted {
        l3: u16::try_from(at).ok()?,
        l4: u16::try_from(n.l4).ok()?,
        src: n.src,
        dst: n.dst,
        proto: n.proto,
        sport,
        dport,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::Frame;
    use proptest::prelude::*;

    proptest! {
        /// Whenever the fast path answers, the general path gives the same answer.
        #[test]
        fn fast_path_agrees_with_general(
            tcp in any::<bool>(),
            ports in any::<(u16, u16)>(),
            payload in prop::collection::vec(any::<u8>(), 0..40),
            flips in prop::collection::vec((0usize..80, any::<u8>()), 0..3),
            pad in 0usize..80,
        ) {
            let (s, d) = (
                std::net::SocketAddr::from(([10, 0, 0, 1], ports.0)),
                std::net::SocketAddr::from(([10, 0, 0, 2], ports.1)),
            );
            let fr = if tcp { Frame::tcp(s, d, 0x12) } else { Frame::udp(s, d) };
            let mut f = fr.payload(&payload).pad_to(pad).build();
            for (i, x) in flips {
                if let Some(b) = f.get_mut(i) {
                    *b ^= x;
                }
            }
            if let Some(p) = fast_v4(&f) {
                prop_assert_eq!(general(&f), Ok(p));
            }
        }
    }

    #[test]
    fn fast_path_taken_for_plain_frames() {
        let s = std::net::SocketAddr::from(([10, 0, 0, 1], 1));
        let d = std::net::SocketAddr::from(([10, 0, 0, 2], 2));
        assert!(fast_v4(&Frame::tcp(s, d, 2).build()).is_some());
        assert!(fast_v4(&Frame::udp(s, d).pad_to(60).build()).is_some());
        assert!(fast_v4(&Frame::udp(s, d).vlan(1).build()).is_none());
        assert!(fast_v4(&Frame::udp(s, d).ipv4_options(&[1; 4]).build()).is_none());
    }
}
