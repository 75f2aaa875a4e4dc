//! The common case in raw form: an untagged Ethernet frame carrying IPv4 without options,
//! not a fragment, TCP or UDP. [`parse_v4`] reads it once into a [`V4Flow`] of plain
//! integers; [`nat4_request`] / [`nat4_reply`] rewrite it at fixed offsets.
//!
//! Invariants:
//! - [`parse_v4`] is the one definition of the common case: [`crate::classify`] takes its
//!   `Some` as its own fast path ([`V4Flow::packet`]), so a frame this module accepts
//!   classifies to exactly that packet.
//! - For a frame [`parse_v4`] accepted (and nothing changed since), the rewrites write the
//!   same bytes as [`crate::nat_request`] / [`crate::nat_reply`] given its packet: the same
//!   RFC 1624 differences over the same words, UDP's "no checksum" (0) left alone and a
//!   computed 0 written as 0xffff. They never panic: a frame shorter than the offsets
//!   (possible only if the caller broke the first rule) is left untouched.

use std::net::{IpAddr, Ipv4Addr};

use crate::checksum::CsumDiff;
use crate::classify::ETH_HLEN;
use crate::packet::{Packet, PROTO_TCP, PROTO_UDP};

/// Offsets in the frame (untagged Ethernet, 20-byte IPv4 header).
const TTL_PROTO: usize = 22;
const IP_CSUM: usize = 24;
const SRC: usize = 26;
const DST: usize = 30;
const L4: usize = 34;
const TCP_CSUM: usize = L4 + 16;
const UDP_CSUM: usize = L4 + 6;

/// The header fields of a common-case frame, as integers (addresses and ports in host
/// order).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct V4Flow {
    pub src: u32,
    pub dst: u32,
    pub sport: u16,
    pub dport: u16,
    pub proto: u8,
    /// The TCP flags byte (0 for UDP).
    pub tcp_flags: u8,
    pub ttl: u8,
    pub df: bool,
    /// The IPv4 total length.
    pub ip_len: u16,
}

/// The common case's fields, or `None` for anything else (tagged, IPv6, options,
/// fragments, other protocols, a header or length that does not fit the frame): then the
/// general classification decides.
#[inline(always)]
pub fn parse_v4(f: &[u8]) -> Option<V4Flow> {
    let h: &[u8; 42] = f.get(..42)?.try_into().ok()?;
    // Ethertype 0x0800 and version 4 with a 20-byte header, in one compare.
    if u32::from_be_bytes([0, h[12], h[13], h[14]]) != 0x0008_0045 {
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

impl V4Flow {
    /// The packet [`crate::classify`] gives for the frame.
    #[inline]
    pub fn packet(&self) -> Packet {
        Packet {
            l3: ETH_HLEN as u16,
            l4: L4 as u16,
            vlan: None,
            src: IpAddr::V4(Ipv4Addr::from(self.src)),
            dst: IpAddr::V4(Ipv4Addr::from(self.dst)),
            proto: self.proto,
            ttl: self.ttl,
            ip_len: self.ip_len,
            df: self.df,
            frag: None,
            sport: self.sport,
            dport: self.dport,
            tcp_flags: self.tcp_flags,
            icmp: None,
        }
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

/// The rewrite of a frame head `h` of `N` bytes holding the transport checksum at `CSUM`
/// (UDP when `CSUM` is UDP's): the address at `at` and the port at `port_at` replaced, the
/// TTL decremented when `ttl`, and both checksums updated. Constant sizes and offsets, so
/// no bounds check is left once inlined.
#[inline(always)]
fn rewrite<const N: usize, const CSUM: usize>(
    h: &mut [u8; N],
    at: usize,
    addr: u32,
    port_at: usize,
    port: u16,
    ttl: bool,
) {
    let mut ip = CsumDiff::default();
    let old = u32::from_be_bytes([h[at], h[at + 1], h[at + 2], h[at + 3]]);
    ip.add16((old >> 16) as u16, (addr >> 16) as u16);
    ip.add16(old as u16, addr as u16);
    [h[at], h[at + 1], h[at + 2], h[at + 3]] = addr.to_be_bytes();
    let mut l4 = ip;
    l4.add16(rd16(h, port_at), port);
    wr16(h, port_at, port);
    if ttl {
        let old = rd16(h, TTL_PROTO);
        let new = if old >> 8 == 0 { old } else { old - 0x100 };
        ip.add16(old, new);
        wr16(h, TTL_PROTO, new);
    }
    let c = rd16(h, IP_CSUM);
    wr16(h, IP_CSUM, ip.apply(c));
    let c = rd16(h, CSUM);
    if CSUM == UDP_CSUM {
        // UDP over IPv4 may carry no checksum (0); a computed 0 is sent as 0xffff.
        if c != 0 {
            let n = l4.apply(c);
            wr16(h, CSUM, if n == 0 { 0xffff } else { n });
        }
    } else {
        wr16(h, CSUM, l4.apply(c));
    }
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
#[inline]
pub fn nat4_request(f: &mut [u8], v: &V4Flow, dst: u32, dport: u16) {
    rewrite_frame(f, v, DST, dst, L4 + 2, dport, false);
}

/// NAT of a reply (RIP:rport -> client becomes `src`:`sport` -> client, TTL down by one;
/// the caller has dropped TTL <= 1), as [`crate::nat_reply`].
#[inline]
pub fn nat4_reply(f: &mut [u8], v: &V4Flow, src: u32, sport: u16) {
    rewrite_frame(f, v, SRC, src, L4, sport, true);
}
