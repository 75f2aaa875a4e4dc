//! The common case in raw form: an untagged Ethernet frame carrying IPv4 without options
//! or IPv6 without extension headers, not a fragment, TCP or UDP. [`parse_v4`] /
//! [`parse_v6`] read it once into a [`Flow`] of plain integers; [`FastAddr::nat_request`] /
//! [`FastAddr::nat_reply`] rewrite it at fixed offsets.
//!
//! Invariants:
//! - A frame a parser accepts classifies ([`crate::classify`]) to exactly its
//!   [`FastAddr::packet`]: [`parse_v4`] is classify's own fast path (one definition of the
//!   IPv4 case); [`parse_v6`]'s packets are compared with classify's general IPv6 path by
//!   the property tests.
//! - For a frame a parser accepted (and nothing changed since), the rewrites write the
//!   same bytes as [`crate::nat_request`] / [`crate::nat_reply`] given its packet: the same
//!   RFC 1624 differences over the same words, a UDP/IPv4 "no checksum" (0) left alone and
//!   a computed 0 written as 0xffff, the IPv6 hop limit decremented without a checksum.
//!   They never panic: a frame shorter than the offsets (possible only if the caller broke
//!   the first rule) is left untouched.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::classify::ETH_HLEN;
use crate::packet::{Packet, PROTO_TCP, PROTO_UDP};

/// Offsets in an IPv4 frame (untagged Ethernet, 20-byte IPv4 header).
const TTL_PROTO: usize = 22;
const IP_CSUM: usize = 24;
const SRC: usize = 26;
const DST: usize = 30;
const L4: usize = 34;
const TCP_CSUM: usize = L4 + 16;
const UDP_CSUM: usize = L4 + 6;

/// The header fields of a common-case frame, as integers (addresses and ports in host
/// order): `A` is `u32` for IPv4, `u128` for IPv6.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flow<A> {
    pub src: A,
    pub dst: A,
    pub sport: u16,
    pub dport: u16,
    pub proto: u8,
    /// The TCP flags byte (0 for UDP).
    pub tcp_flags: u8,
    /// TTL / hop limit.
    pub ttl: u8,
    /// IPv4's DF bit (true for IPv6).
    pub df: bool,
    /// The IP packet's length: IPv4's total length, IPv6's 40 + payload length.
    pub ip_len: u16,
}

/// An IPv4 common-case frame's fields.
pub type V4Flow = Flow<u32>;
/// An IPv6 common-case frame's fields.
pub type V6Flow = Flow<u128>;

/// What the two families' common cases share: the packet classify gives, and the NAT
/// rewrites.
pub trait FastAddr: Copy + Sized {
    /// The packet [`crate::classify`] gives for the frame of `v`.
    fn packet(v: &Flow<Self>) -> Packet;
    /// NAT of a request (client -> VIP:vport becomes client -> `dst`:`dport`), as
    /// [`crate::nat_request`].
    fn nat_request(f: &mut [u8], v: &Flow<Self>, dst: Self, dport: u16);
    /// NAT of a reply (RIP:rport -> client becomes `src`:`sport` -> client, TTL / hop
    /// limit down by one; the caller has dropped 1 and below), as [`crate::nat_reply`].
    fn nat_reply(f: &mut [u8], v: &Flow<Self>, src: Self, sport: u16);
}

/// The common case's fields, or `None` for anything else (tagged, IPv6, options,
/// fragments, other protocols, a header or length that does not fit the frame): then the
/// general classification decides.
#[inline(always)]
pub fn parse_v4(f: &[u8]) -> Option<V4Flow> {
    let h: &[u8; 42] = f.get(..42)?.try_into().ok()?;
    // Ethertype 0x0800 and version 4 with a 20-byte header, in one load and one compare
    // (the word as it lies in memory, the TOS byte masked off).
    if u32::from_le_bytes([h[12], h[13], h[14], h[15]]) & 0x00ff_ffff != 0x0045_0008 {
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
    let tcp_flags = match proto {
        PROTO_TCP => {
            // 20 bytes of TCP header within the IP packet, data offset sane.
            let t: &[u8; 2] = f.get(46..48)?.try_into().ok()?;
            let doff = usize::from(t[0] >> 4) * 4;
            if doff < 20 || 20 + doff > ip_len as usize {
                return None;
            }
            t[1]
        }
        PROTO_UDP => 0,
        _ => return None,
    };
    Some(V4Flow {
        src: u32::from_be_bytes([h[26], h[27], h[28], h[29]]),
        dst: u32::from_be_bytes([h[30], h[31], h[32], h[33]]),
        sport: u16::from_be_bytes([h[34], h[35]]),
        dport: u16::from_be_bytes([h[36], h[37]]),
        proto,
        tcp_flags,
        ttl: h[22],
        df: frag & 0x4000 != 0,
        ip_len,
    })
}

impl<A: FastAddr> Flow<A> {
    /// The packet [`crate::classify`] gives for the frame.
    #[inline]
    pub fn packet(&self) -> Packet {
        A::packet(self)
    }
}

/// The packet of common-case fields `v` whose transport header is at `l4`.
#[inline]
fn packet_of<A>(v: &Flow<A>, src: IpAddr, dst: IpAddr, l4: usize) -> Packet {
    Packet {
        l3: ETH_HLEN as u16,
        l4: l4 as u16,
        vlan: None,
        src,
        dst,
        proto: v.proto,
        ttl: v.ttl,
        ip_len: v.ip_len,
        df: v.df,
        frag: None,
        sport: v.sport,
        dport: v.dport,
        tcp_flags: v.tcp_flags,
        icmp: None,
    }
}

impl FastAddr for u32 {
    #[inline]
    fn packet(v: &V4Flow) -> Packet {
        packet_of(v, IpAddr::V4(Ipv4Addr::from(v.src)), IpAddr::V4(Ipv4Addr::from(v.dst)), L4)
    }
    #[inline(always)]
    fn nat_request(f: &mut [u8], v: &V4Flow, dst: u32, dport: u16) {
        nat4_request(f, v, dst, dport);
    }
    #[inline(always)]
    fn nat_reply(f: &mut [u8], v: &V4Flow, src: u32, sport: u16) {
        nat4_reply(f, v, src, sport);
    }
}

/// The 16-bit word at `at` as it lies in memory (native order).
#[inline(always)]
fn ld16<const N: usize>(h: &[u8; N], at: usize) -> u16 {
    u16::from_ne_bytes([h[at], h[at + 1]])
}

#[inline(always)]
fn st16<const N: usize>(h: &mut [u8; N], at: usize, v: u16) {
    [h[at], h[at + 1]] = v.to_ne_bytes();
}

/// `!fold(sum)`: the ones'-complement sum `sum` (of 16-bit words, in any wider
/// accumulation) folded to 16 bits with end-around carry, complemented.
#[inline(always)]
fn fold_not(sum: u64) -> u16 {
    !crate::checksum::fold(sum)
}

/// The rewrite of a frame head `h` of `N` bytes holding the transport checksum at `CSUM`
/// (UDP when `CSUM` is UDP's): the address at `at` and the port at `port_at` replaced, the
/// TTL decremented when `ttl`, and both checksums updated (RFC 1624 equation 3). Constant
/// sizes and offsets, so no bounds check is left once inlined.
///
/// Why it sums words as they lie in memory: a ones'-complement sum over the bytes read in
/// the other byte order is the byte-swapped sum (RFC 1071, 2.B), so reading, summing and
/// storing in native order gives the same bytes as the big-endian arithmetic of
/// `crate::rewrite`, without a byte swap per word. A 32-bit address counts as its two
/// 16-bit halves once folded (2^16 = 1 modulo 2^16 - 1), and every term is non-negative,
/// so a sum is 0 only when every word is, as with 16-bit terms.
#[inline(always)]
fn rewrite<const N: usize, const CSUM: usize>(
    h: &mut [u8; N],
    at: usize,
    addr: u32,
    port_at: usize,
    port: u16,
    ttl: bool,
) {
    let old = u32::from_ne_bytes([h[at], h[at + 1], h[at + 2], h[at + 3]]);
    let new = u32::from_ne_bytes(addr.to_be_bytes());
    let mut ip = u64::from(!old) + u64::from(new);
    [h[at], h[at + 1], h[at + 2], h[at + 3]] = addr.to_be_bytes();
    let new_port = u16::from_ne_bytes(port.to_be_bytes());
    let l4 = ip + u64::from(!ld16(h, port_at)) + u64::from(new_port);
    st16(h, port_at, new_port);
    if ttl {
        // The TTL is the first byte of its word: 1 less is 0x0100 less in big-endian.
        let old = rd16(h, TTL_PROTO);
        let new = if old >> 8 == 0 { old } else { old - 0x100 };
        ip += u64::from(!u16::from_ne_bytes(old.to_be_bytes())) + u64::from(u16::from_ne_bytes(new.to_be_bytes()));
        wr16(h, TTL_PROTO, new);
    }
    let c = ld16(h, IP_CSUM);
    st16(h, IP_CSUM, fold_not(u64::from(!c) + ip));
    let c = ld16(h, CSUM);
    if CSUM == UDP_CSUM {
        // UDP over IPv4 may carry no checksum (0); a computed 0 is sent as 0xffff.
        if c != 0 {
            let n = fold_not(u64::from(!c) + l4);
            st16(h, CSUM, if n == 0 { 0xffff } else { n });
        }
    } else {
        st16(h, CSUM, fold_not(u64::from(!c) + l4));
    }
}

#[inline(always)]
fn rd16<const N: usize>(h: &[u8; N], at: usize) -> u16 {
    u16::from_be_bytes([h[at], h[at + 1]])
}

#[inline(always)]
fn wr16<const N: usize>(h: &mut [u8; N], at: usize, v: u16) {
    [h[at], h[at + 1]] = v.to_be_bytes();
}

/// [`rewrite`] for the frame's protocol: TCP frames hold at least 54 bytes, UDP ones 42.
#[inline(always)]
fn rewrite_frame(f: &mut [u8], v: &V4Flow, at: usize, addr: u32, port_at: usize, port: u16, ttl: bool) {
    if v.proto == PROTO_TCP {
        if let Some(h) = f.get_mut(..54).and_then(|h| <&mut [u8; 54]>::try_from(h).ok()) {
            rewrite::<54, TCP_CSUM>(h, at, addr, port_at, port, ttl);
        }
    } else if let Some(h) = f.get_mut(..42).and_then(|h| <&mut [u8; 42]>::try_from(h).ok()) {
        rewrite::<42, UDP_CSUM>(h, at, addr, port_at, port, ttl);
    }
}

/// NAT of a request (client -> VIP:vport becomes client -> `dst`:`dport`), as
/// [`crate::nat_request`].
#[inline(always)]
pub fn nat4_request(f: &mut [u8], v: &V4Flow, dst: u32, dport: u16) {
    rewrite_frame(f, v, DST, dst, L4 + 2, dport, false);
}

/// NAT of a reply (RIP:rport -> client becomes `src`:`sport` -> client, TTL down by one;
/// the caller has dropped TTL <= 1), as [`crate::nat_reply`].
#[inline(always)]
pub fn nat4_reply(f: &mut [u8], v: &V4Flow, src: u32, sport: u16) {
    rewrite_frame(f, v, SRC, src, L4, sport, true);
}

/// Offsets in an IPv6 frame (untagged Ethernet, no extension header).
const HOP_LIMIT6: usize = 21;
const SRC6: usize = 22;
const DST6: usize = 38;
const L4_6: usize = 54;
const TCP_CSUM6: usize = L4_6 + 16;
const UDP_CSUM6: usize = L4_6 + 6;

/// The IPv6 common case's fields (no extension header: TCP or UDP right after the fixed
/// header), or `None` for anything else.
#[inline(always)]
pub fn parse_v6(f: &[u8]) -> Option<V6Flow> {
    let h: &[u8; 62] = f.get(..62)?.try_into().ok()?;
    if h[12] != 0x86 || h[13] != 0xdd || h[14] >> 4 != 6 {
        return None;
    }
    let ip_len = 40 + u32::from(u16::from_be_bytes([h[18], h[19]]));
    if ETH_HLEN + ip_len as usize > f.len() || ip_len > u32::from(u16::MAX) {
        return None;
    }
    let ip_len = ip_len as u16;
    let proto = h[20];
    let tcp_flags = match proto {
        PROTO_TCP => {
            // 20 bytes of TCP header within the IP packet, data offset sane.
            let t: &[u8; 2] = f.get(66..68)?.try_into().ok()?;
            let doff = usize::from(t[0] >> 4) * 4;
            if doff < 20 || 40 + doff > ip_len as usize {
                return None;
            }
            t[1]
        }
        PROTO_UDP if ip_len >= 48 => 0,
        _ => return None,
    };
    let addr = |at: usize| u128::from_be_bytes(h[at..at + 16].try_into().unwrap_or([0; 16]));
    Some(V6Flow {
        src: addr(SRC6),
        dst: addr(DST6),
        sport: u16::from_be_bytes([h[54], h[55]]),
        dport: u16::from_be_bytes([h[56], h[57]]),
        proto,
        tcp_flags,
        ttl: h[HOP_LIMIT6],
        df: true,
        ip_len,
    })
}

/// [`rewrite`] for IPv6: the address at `at` (16 bytes, `old` as the parser read it)
/// replaced by `addr`, the port at `port_at` replaced, the hop limit decremented when
/// `hop`, the transport checksum updated (IPv6 has no header checksum; a UDP checksum is
/// never left 0 over IPv6).
///
/// The addresses enter the sum as 64-bit halves of the integers the parser already holds,
/// not as eight 16-bit words loaded and swapped each: a half is congruent to the sum of
/// its big-endian words modulo 2^16 - 1 (2^16 = 1), and zero only when every word is, so
/// the folded sum is the same as summing the words (as [`rewrite`] argues for IPv4's
/// 32-bit terms).
#[inline(always)]
fn rewrite6<const N: usize, const CSUM: usize>(
    h: &mut [u8; N],
    at: usize,
    old: u128,
    addr: u128,
    port_at: usize,
    port: u16,
    hop: bool,
) {
    let halves = |x: u128| u128::from(x as u64) + (x >> 64);
    let diff = halves(!old) + halves(addr) + u128::from(!rd16(h, port_at)) + u128::from(port);
    h[at..at + 16].copy_from_slice(&addr.to_be_bytes());
    wr16(h, port_at, port);
    if hop {
        h[HOP_LIMIT6] = h[HOP_LIMIT6].saturating_sub(1);
    }
    let n = !crate::checksum::fold128(u128::from(!rd16(h, CSUM)) + diff);
    wr16(h, CSUM, if CSUM == UDP_CSUM6 && n == 0 { 0xffff } else { n });
}

/// [`rewrite6`] for the frame's protocol: TCP frames hold at least 74 bytes, UDP ones 62.
/// The address at `at` (`SRC6` or `DST6`) is the parsed `v.src` or `v.dst`.
#[inline(always)]
fn rewrite6_frame(f: &mut [u8], v: &V6Flow, at: usize, addr: u128, port_at: usize, port: u16, hop: bool) {
    let old = if at == SRC6 { v.src } else { v.dst };
    if v.proto == PROTO_TCP {
        if let Some(h) = f.get_mut(..74).and_then(|h| <&mut [u8; 74]>::try_from(h).ok()) {
            rewrite6::<74, TCP_CSUM6>(h, at, old, addr, port_at, port, hop);
        }
    } else if let Some(h) = f.get_mut(..62).and_then(|h| <&mut [u8; 62]>::try_from(h).ok()) {
        rewrite6::<62, UDP_CSUM6>(h, at, old, addr, port_at, port, hop);
    }
}

impl FastAddr for u128 {
    #[inline]
    fn packet(v: &V6Flow) -> Packet {
        packet_of(v, IpAddr::V6(Ipv6Addr::from(v.src)), IpAddr::V6(Ipv6Addr::from(v.dst)), L4_6)
    }
    #[inline(always)]
    fn nat_request(f: &mut [u8], v: &V6Flow, dst: u128, dport: u16) {
        rewrite6_frame(f, v, DST6, dst, L4_6 + 2, dport, false);
    }
    #[inline(always)]
    fn nat_reply(f: &mut [u8], v: &V6Flow, src: u128, sport: u16) {
        rewrite6_frame(f, v, SRC6, src, L4_6, sport, true);
    }
}

/// The NAT rewrite of a classified packet `p` of frame `f` when it is the common case (an
/// untagged IPv4 packet without options or IPv6 without extension headers, not a
/// fragment, TCP or UDP, `to` of its family): `true` when done, `false` (nothing written)
/// for any other packet.
///
/// The caller knows that the frame holds the packet and its whole transport header:
/// [`crate::nat_request`] / [`crate::nat_reply`] check it first; a frame that
/// [`parse_v4`] / [`parse_v6`] accepted, unchanged since and with `p` its
/// [`FastAddr::packet`], was checked by the parser (the same bounds) and needs no second
/// check. Given a frame that does not hold `p`, it writes wrong bytes but never panics.
#[inline]
pub fn nat_common_case(f: &mut [u8], p: &Packet, to: IpAddr, port: u16, reply: bool) -> bool {
    if p.l3 != ETH_HLEN as u16 || p.vlan.is_some() || p.frag.is_some() || !matches!(p.proto, PROTO_TCP | PROTO_UDP) {
        return false;
    }
    fn flow<A>(p: &Packet, src: A, dst: A) -> Flow<A> {
        let (sport, dport, proto, tcp_flags, ttl, df, ip_len) =
            (p.sport, p.dport, p.proto, p.tcp_flags, p.ttl, p.df, p.ip_len);
        Flow { src, dst, sport, dport, proto, tcp_flags, ttl, df, ip_len }
    }
    match (p.src, p.dst, to) {
        (IpAddr::V4(s), IpAddr::V4(d), IpAddr::V4(to)) if p.l4 == L4 as u16 => {
            let v = flow(p, u32::from(s), u32::from(d));
            if reply {
                nat4_reply(f, &v, u32::from(to), port);
            } else {
                nat4_request(f, &v, u32::from(to), port);
            }
            true
        }
        (IpAddr::V6(s), IpAddr::V6(d), IpAddr::V6(to)) if p.l4 == L4_6 as u16 => {
            let v = flow(p, u128::from(s), u128::from(d));
            if reply {
                u128::nat_reply(f, &v, u128::from(to), port);
            } else {
                u128::nat_request(f, &v, u128::from(to), port);
            }
            true
        }
        _ => false,
    }
}
