//! Frame classification: Ethernet II (+ up to two VLAN tags) / IPv4 or IPv6 / TCP, UDP,
//! ICMP, ICMPv6, into a [`Packet`].
//!
//! Invariants:
//! - Never panics, never allocates: every read goes through a bounds-checked helper.
//! - On `Ok(p)`: `p.l3 + 20 (v4) / 40 (v6) <= p.l4 <= p.ip_end() <= frame.len()`; for TCP
//!   (not a non-first fragment) the whole TCP header (data offset included) lies before
//!   `ip_end`, for UDP, ICMP and ICMPv6 at least 8 bytes do; a quoted header in
//!   `p.icmp` has `q.l3 < q.l4` and `q.l4 + 8 <= p.ip_end()`.
//! - `ip_len` is what the IP header says (IPv4 total length, IPv6 40 + payload length);
//!   bytes after `ip_end()` are Ethernet padding and are ignored.
//! - Checksums are not verified.
//!
//! Structure: a hand-checked fast path for the common case (untagged Ethernet, IPv4
//! without options, not a fragment, TCP or UDP) that falls back to the general path for
//! anything else. The general path is written by hand rather than with etherparse's
//! `SlicedPacket` because xvs needs semantics `SlicedPacket` does not have (an IPv6
//! Fragment header with offset 0 and no MF still marks a fragment; the chain is not
//! walked past the Fragment header of a non-first fragment; at most 8 extension headers;
//! a UDP length field is not checked) and because it runs once per packet. etherparse is
//! the test oracle: the property tests compare both on frames it builds.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::packet::{ClassifyError, Frag, Icmp, Packet, Quoted, PROTO_ICMP, PROTO_ICMPV6, PROTO_TCP, PROTO_UDP};

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
fn u8_at(f: &[u8], o: usize) -> Option<u8> {
    f.get(o).copied()
}

#[inline]
fn u16_at(f: &[u8], o: usize) -> Option<u16> {
    let b = f.get(o..o.checked_add(2)?)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

#[inline]
fn v4_at(f: &[u8], o: usize) -> Option<Ipv4Addr> {
    let b: [u8; 4] = f.get(o..o.checked_add(4)?)?.try_into().ok()?;
    Some(Ipv4Addr::from(b))
}

#[inline]
fn v6_at(f: &[u8], o: usize) -> Option<Ipv6Addr> {
    let b: [u8; 16] = f.get(o..o.checked_add(16)?)?.try_into().ok()?;
    Some(Ipv6Addr::from(b))
}

/// Classifies one Ethernet frame. See the module documentation for what is checked.
#[inline]
pub fn classify(frame: &[u8]) -> Result<Packet, ClassifyError> {
    match fast_v4(frame) {
        Some(p) => Ok(p),
        None => general(frame),
    }
}

/// Untagged IPv4 without options, not fragmented, TCP or UDP with a sane header.
/// `None` means "let the general path decide" (it may still succeed or give the error).
#[inline(always)]
fn fast_v4(f: &[u8]) -> Option<Packet> {
    let h: &[u8; 42] = f.get(..42)?.try_into().ok()?;
    if h[12] != 0x08 || h[13] != 0x00 || h[14] != 0x45 {
        return None;
    }
    let ip_len = u16::from_be_bytes([h[16], h[17]]);
    if ip_len < 28 || ETH_HLEN + ip_len as usize > f.len() {
        return None;
    }
    let frag = u16::from_be_bytes([h[20], h[21]]);
    if frag & 0x3fff != 0 {
        return None;
    }
    let proto = h[23];
    let sport = u16::from_be_bytes([h[34], h[35]]);
    let dport = u16::from_be_bytes([h[36], h[37]]);
    let tcp_flags = match proto {
        PROTO_TCP => {
            // 20 bytes of TCP header within the IP packet, data offset sane.
            let doff = usize::from(*f.get(46)? >> 4) * 4;
            if doff < 20 || 20 + doff > ip_len as usize {
                return None;
            }
            *f.get(47)?
        }
        PROTO_UDP => 0,
        _ => return None,
    };
    Some(Packet {
        l3: 14,
        l4: 34,
        vlan: None,
        src: IpAddr::V4(Ipv4Addr::new(h[26], h[27], h[28], h[29])),
        dst: IpAddr::V4(Ipv4Addr::new(h[30], h[31], h[32], h[33])),
        proto,
        ttl: h[22],
        ip_len,
        df: frag & 0x4000 != 0,
        frag: None,
        sport,
        dport,
        tcp_flags,
        icmp: None,
    })
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
    let mut et = u16_at(f, 12).ok_or(Truncated)?;
    let mut l3 = ETH_HLEN;
    let mut vlan = None;
    for _ in 0..2 {
        if !is_vlan(et) {
            break;
        }
        let tci = u16_at(f, l3).ok_or(Truncated)?;
        et = u16_at(f, l3 + 2).ok_or(Truncated)?;
        vlan.get_or_insert(tci & 0x0fff);
        l3 += 4;
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
    let (l4, end) = (n.l4, n.end);
    let room = end - l4;
    match n.proto {
        PROTO_TCP => {
            if room < 20 {
                return Err(BadL4);
            }
            let doff = usize::from(u8_at(f, l4 + 12).ok_or(BadL4)? >> 4) * 4;
            if doff < 20 || doff > room {
                return Err(BadL4);
            }
            p.sport = u16_at(f, l4).ok_or(BadL4)?;
            p.dport = u16_at(f, l4 + 2).ok_or(BadL4)?;
            p.tcp_flags = u8_at(f, l4 + 13).ok_or(BadL4)?;
        }
        PROTO_UDP => {
            if room < 8 {
                return Err(BadL4);
            }
            p.sport = u16_at(f, l4).ok_or(BadL4)?;
            p.dport = u16_at(f, l4 + 2).ok_or(BadL4)?;
        }
        PROTO_ICMP | PROTO_ICMPV6 if (n.proto == PROTO_ICMPV6) == p.is_v6() => {
            if room < 8 {
                return Err(BadL4);
            }
            let kind = u8_at(f, l4).ok_or(BadL4)?;
            let code = u8_at(f, l4 + 1).ok_or(BadL4)?;
            let v6 = p.is_v6();
            let is_error = if v6 { (1..=4).contains(&kind) } else { matches!(kind, 3 | 4 | 11 | 12) };
            let quoted = if is_error { quoted(f.get(..end).ok_or(BadL4)?, l4 + 8, v6) } else { None };
            p.icmp = Some(Icmp { kind, code, quoted });
        }
        _ => {}
    }
    Ok(p)
}

/// Parses an IPv4 header at `l3`. `lax` (for quoted headers): the total length is not
/// checked and the packet is taken to end where `f` ends.
fn ip_v4(f: &[u8], l3: usize, lax: bool) -> Result<L3, ClassifyError> {
    use ClassifyError::*;
    let b0 = u8_at(f, l3).ok_or(Truncated)?;
    if b0 >> 4 != 4 {
        return Err(BadIp);
    }
    let ihl = usize::from(b0 & 0x0f) * 4;
    if ihl < 20 {
        return Err(BadIp);
    }
    if f.len() < l3 + ihl {
        return Err(Truncated);
    }
    let total = usize::from(u16_at(f, l3 + 2).ok_or(Truncated)?);
    let end = if lax {
        f.len()
    } else {
        if total < ihl {
            return Err(BadIp);
        }
        if l3 + total > f.len() {
            return Err(Truncated);
        }
        l3 + total
    };
    let id = u16_at(f, l3 + 4).ok_or(Truncated)?;
    let fo = u16_at(f, l3 + 6).ok_or(Truncated)?;
    let more = fo & 0x2000 != 0;
    let offset = (fo & 0x1fff) << 3;
    Ok(L3 {
        l4: l3 + ihl,
        end,
        src: IpAddr::V4(v4_at(f, l3 + 12).ok_or(Truncated)?),
        dst: IpAddr::V4(v4_at(f, l3 + 16).ok_or(Truncated)?),
        proto: u8_at(f, l3 + 9).ok_or(Truncated)?,
        ttl: u8_at(f, l3 + 8).ok_or(Truncated)?,
        df: fo & 0x4000 != 0,
        frag: (more || offset != 0).then_some(Frag { id: u32::from(id), offset, more }),
    })
}

/// Parses an IPv6 header and its extension headers at `l3`. `lax` as for [`ip_v4`].
fn ip_v6(f: &[u8], l3: usize, lax: bool) -> Result<L3, ClassifyError> {
    use ClassifyError::*;
    let b0 = u8_at(f, l3).ok_or(Truncated)?;
    if b0 >> 4 != 6 {
        return Err(BadIp);
    }
    if f.len() < l3 + 40 {
        return Err(Truncated);
    }
    let plen = usize::from(u16_at(f, l3 + 4).ok_or(Truncated)?);
    let end = if lax {
        f.len()
    } else {
        if 40 + plen > usize::from(u16::MAX) {
            // Not representable in `Packet::ip_len`; no real frame is this large.
            return Err(BadIp);
        }
        if l3 + 40 + plen > f.len() {
            return Err(Truncated);
        }
        l3 + 40 + plen
    };
    let mut next = u8_at(f, l3 + 6).ok_or(Truncated)?;
    let mut off = l3 + 40;
    let mut frag = None;
    let mut count = 0;
    loop {
        match next {
            IPV6_HOP_BY_HOP | IPV6_ROUTING | IPV6_DEST_OPTS => {
                if next == IPV6_HOP_BY_HOP && count != 0 {
                    return Err(BadExtHeaders);
                }
                if off + 2 > end {
                    return Err(Truncated);
                }
                let len = (usize::from(u8_at(f, off + 1).ok_or(Truncated)?) + 1) * 8;
                if off + len > end {
                    return Err(Truncated);
                }
                next = u8_at(f, off).ok_or(Truncated)?;
                off += len;
            }
            IPV6_FRAGMENT => {
                if off + 8 > end {
                    return Err(Truncated);
                }
                let fo = u16_at(f, off + 2).ok_or(Truncated)?;
                let id = f.get(off + 4..off + 8).ok_or(Truncated)?;
                let fr = Frag {
                    id: u32::from_be_bytes([id[0], id[1], id[2], id[3]]),
                    offset: fo & 0xfff8,
                    more: fo & 1 != 0,
                };
                next = u8_at(f, off).ok_or(Truncated)?;
                off += 8;
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
        src: IpAddr::V6(v6_at(f, l3 + 8).ok_or(Truncated)?),
        dst: IpAddr::V6(v6_at(f, l3 + 24).ok_or(Truncated)?),
        proto: next,
        ttl: u8_at(f, l3 + 7).ok_or(Truncated)?,
        df: true,
        frag,
    })
}

/// Parses the IP header an ICMP error quotes at `at`, `f` ending where the ICMP message
/// ends. Only TCP and UDP quotes with their first 8 bytes present (and not a non-first
/// fragment) give a [`Quoted`].
fn quoted(f: &[u8], at: usize, v6: bool) -> Option<Quoted> {
    let n = if v6 { ip_v6(f, at, true).ok()? } else { ip_v4(f, at, true).ok()? };
    if matches!(n.frag, Some(fr) if !fr.is_first()) {
        return None;
    }
    if n.proto != PROTO_TCP && n.proto != PROTO_UDP {
        return None;
    }
    if n.l4 + 8 > f.len() {
        return None;
    }
    Some(Quoted {
        l3: u16::try_from(at).ok()?,
        l4: u16::try_from(n.l4).ok()?,
        src: n.src,
        dst: n.dst,
        proto: n.proto,
        sport: u16_at(f, n.l4)?,
        dport: u16_at(f, n.l4 + 2)?,
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
