//! TUN forwarding: IP-in-IP, GUE and GRE encapsulation in place, using the buffer's
//! headroom, as IPVS's tunnel types (`--tun-type ipip|gue|gre`). The outer IP header is of
//! the real's family, the inner packet of the client's (IPVS's mixed-family tunnels):
//! - IPIP: outer IP with protocol / next header 4 (IPv4 inside) or 41 (IPv6 inside);
//! - GUE (draft-ietf-intarea-gue, variant 0): outer IP, UDP to the tunnel port from a
//!   source port hashed from the inner flow (49152..=65535, so ECMP spreads flows), a
//!   4-byte GUE header whose protocol is 4 or 41; the UDP checksum is 0 over IPv4 unless
//!   asked for (`csum`), and always computed over IPv6;
//! - GRE (RFC 2784): outer IP with protocol 47, a GRE header whose protocol type is the
//!   inner ethertype, with the optional checksum when asked for (`csum`).
//!
//! Invariants:
//! - The inner IP packet (from `l3` to `ip_end`) is left byte for byte; Ethernet padding
//!   after it is dropped.
//! - The L2 header (Ethernet + VLAN tags) moves back by the outer headers' length and is
//!   otherwise unchanged but for its last ethertype, which becomes the outer family's.
//!   The caller sets the MACs afterwards.
//! - On error nothing in `buf`, `head` or `len` has changed.

use std::net::IpAddr;

use crate::checksum::{fold, ipv4_header_checksum, sum};
use crate::packet::{Packet, RewriteError, PROTO_IPIP, PROTO_IPV6, PROTO_UDP};
use crate::rewrite::check_in_place;

use RewriteError::{FamilyMismatch, Mismatch};

/// Ethertypes of the outer header (and GRE's protocol types).
const ETH_P_IP: [u8; 2] = [0x08, 0x00];
const ETH_P_IPV6: [u8; 2] = [0x86, 0xdd];
/// IP protocol number of GRE.
pub const PROTO_GRE: u8 = 47;
/// GRE's checksum-present flag (first byte).
const GRE_C: u8 = 0x80;

/// Outer IPv4 header length.
pub const TUN_V4_OVERHEAD: usize = 20;
/// Outer IPv6 header length.
pub const TUN_V6_OVERHEAD: usize = 40;
/// TTL / hop limit of the outer header.
pub const TUN_TTL: u8 = 64;
/// UDP + GUE header length.
pub const GUE_OVERHEAD: usize = 8 + 4;

/// How a tunnelled packet is wrapped after its outer IP header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Encap {
    /// Nothing more: IP in IP.
    #[default]
    Ipip,
    /// UDP to `port` and a GUE header; `csum`: compute the UDP checksum over IPv4 too.
    Gue { port: u16, csum: bool },
    /// A GRE header; `csum`: with its checksum.
    Gre { csum: bool },
}

impl Encap {
    /// Bytes the encapsulation adds after the outer IP header.
    pub fn extra(self) -> usize {
        match self {
            Encap::Ipip => 0,
            Encap::Gue { .. } => GUE_OVERHEAD,
            Encap::Gre { csum } => 4 + if csum { 4 } else { 0 },
        }
    }

    /// Bytes the whole encapsulation adds toward a real of family `v6`.
    pub fn overhead(self, v6: bool) -> usize {
        (if v6 { TUN_V6_OVERHEAD } else { TUN_V4_OVERHEAD }) + self.extra()
    }
}

/// The GUE source port of a flow: a hash of the inner addresses and ports in 49152..=65535
/// (a packet's flow always gets the same one).
pub fn gue_source_port(p: &Packet) -> u16 {
    let mut h: u32 = 0x9e37_79b9;
    let mut mix = |v: u32| h = (h ^ v).wrapping_mul(0x0100_0193).rotate_left(13);
    for a in [p.src, p.dst] {
        match a {
            IpAddr::V4(a) => mix(u32::from(a)),
            IpAddr::V6(a) => a.octets().chunks(4).for_each(|c| mix(u32::from_be_bytes([c[0], c[1], c[2], c[3]]))),
        }
    }
    mix(u32::from(p.sport) << 16 | u32::from(p.dport));
    mix(u32::from(p.proto));
    49152 | (h ^ h >> 16) as u16 & 0x3fff
}

/// Encapsulates the frame `buf[*head..*head + *len]` (classified as `p`) in an outer IP
/// header from `src` to `dst` and `encap`'s headers, moving `*head` back and growing
/// `*len`.
///
/// Outer IPv4: TOS (an IPv6 packet's traffic class) and DF copied from the inner header
/// (an inner IPv6 packet sets DF: it is never fragmented on the way), ID 0 when DF is set
/// else the inner ID, TTL 64. Outer IPv6: traffic class and flow label copied (an inner
/// IPv4 packet's TOS as the traffic class, flow label 0), hop limit 64.
pub fn tun_encap(
    buf: &mut [u8],
    head: &mut usize,
    len: &mut usize,
    p: &Packet,
    src: IpAddr,
    dst: IpAddr,
    encap: Encap,
) -> Result<(), RewriteError> {
    let (l2, ip_len) = check_in_place(buf, *head, *len, p)?;
    let ip_hdr = match (src, dst) {
        (IpAddr::V4(_), IpAddr::V4(_)) => TUN_V4_OVERHEAD,
        (IpAddr::V6(_), IpAddr::V6(_)) => TUN_V6_OVERHEAD,
        _ => return Err(FamilyMismatch),
    };
    let extra = encap.extra();
    let need = ip_hdr + extra;
    if ip_len + need > usize::from(u16::MAX) + if ip_hdr == TUN_V6_OVERHEAD { 40 } else { 0 } {
        // The outer length field would not fit 16 bits.
        return Err(Mismatch);
    }
    let inner_v6 = p.is_v6();
    let next = match encap {
        Encap::Ipip if inner_v6 => PROTO_IPV6,
        Encap::Ipip => PROTO_IPIP,
        Encap::Gue { .. } => PROTO_UDP,
        Encap::Gre { .. } => PROTO_GRE,
    };
    let h = crate::headroom::ensure(buf, head, len, need)?;
    let inner = h + l2;
    let nh = h - need;
    buf.copy_within(h..inner, nh);
    let (front, inner_pkt) = buf.split_at_mut(inner);
    let outer = &mut front[nh + l2..];
    let (ip, tail) = outer.split_at_mut(ip_hdr);
    outer_ip(ip, &inner_pkt[..ip_len], inner_v6, next, src, dst, extra + ip_len);
    encap_header(tail, &inner_pkt[..ip_len], inner_v6, encap, p, (src, dst));
    // The frame's (last) ethertype names the outer family now.
    front[nh + l2 - 2..nh + l2].copy_from_slice(if ip_hdr == TUN_V4_OVERHEAD { &ETH_P_IP } else { &ETH_P_IPV6 });
    *head = nh;
    *len = l2 + need + ip_len;
    Ok(())
}

/// Writes the outer IP header `ip` (20 or 40 bytes) carrying `payload_len` bytes of
/// protocol `next`, its fields taken from the inner header `inner` as documented above.
fn outer_ip(ip: &mut [u8], inner: &[u8], inner_v6: bool, next: u8, src: IpAddr, dst: IpAddr, payload_len: usize) {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let df = inner_v6 || inner[6] & 0x40 != 0;
            ip[0] = 0x45;
            ip[1] = if inner_v6 { inner[0] << 4 | inner[1] >> 4 } else { inner[1] };
            ip[2..4].copy_from_slice(&((payload_len + 20) as u16).to_be_bytes());
            if df {
                ip[4..6].fill(0);
            } else {
                ip[4..6].copy_from_slice(&inner[4..6]);
            }
            ip[6] = if df { 0x40 } else { 0 };
            ip[7] = 0;
            ip[8] = TUN_TTL;
            ip[9] = next;
            ip[10..12].fill(0);
            ip[12..16].copy_from_slice(&s.octets());
            ip[16..20].copy_from_slice(&d.octets());
            let c = ipv4_header_checksum(&ip[..20]);
            ip[10..12].copy_from_slice(&c.to_be_bytes());
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            if inner_v6 {
                ip[0..4].copy_from_slice(&inner[0..4]);
            } else {
                let tos = inner[1];
                ip[0..4].copy_from_slice(&[0x60 | tos >> 4, tos << 4, 0, 0]);
            }
            ip[4..6].copy_from_slice(&(payload_len as u16).to_be_bytes());
            ip[6] = next;
            ip[7] = TUN_TTL;
            ip[8..24].copy_from_slice(&s.octets());
            ip[24..40].copy_from_slice(&d.octets());
        }
        // tun_encap checked the families.
        _ => {}
    }
}

/// Writes the headers between the outer IP header and the inner packet `inner`.
fn encap_header(hdr: &mut [u8], inner: &[u8], inner_v6: bool, encap: Encap, p: &Packet, (src, dst): (IpAddr, IpAddr)) {
    match encap {
        Encap::Ipip => {}
        Encap::Gue { port, csum } => {
            let udp_len = (GUE_OVERHEAD + inner.len()) as u16;
            hdr[0..2].copy_from_slice(&gue_source_port(p).to_be_bytes());
            hdr[2..4].copy_from_slice(&port.to_be_bytes());
            hdr[4..6].copy_from_slice(&udp_len.to_be_bytes());
            hdr[6..8].fill(0);
            // GUE variant 0: version 0, C 0, no extension fields; protocol; no flags.
            hdr[8..12].copy_from_slice(&[0, if inner_v6 { PROTO_IPV6 } else { PROTO_IPIP }, 0, 0]);
            if csum || dst.is_ipv6() {
                let c = udp_checksum(src, dst, &hdr[..GUE_OVERHEAD], inner);
                hdr[6..8].copy_from_slice(&c.to_be_bytes());
            }
        }
        Encap::Gre { csum } => {
            hdr[0] = if csum { GRE_C } else { 0 };
            hdr[1] = 0;
            hdr[2..4].copy_from_slice(if inner_v6 { &ETH_P_IPV6 } else { &ETH_P_IP });
            if csum {
                hdr[4..8].fill(0);
                let c = fold(sum(&hdr[..8]) + sum(inner));
                hdr[4..6].copy_from_slice(&(!c).to_be_bytes());
            }
        }
    }
}

/// The UDP checksum of a datagram whose header (and GUE header) is `hdr`, followed by
/// `payload`, from `src` to `dst` (0 is sent as 0xffff).
fn udp_checksum(src: IpAddr, dst: IpAddr, hdr: &[u8], payload: &[u8]) -> u16 {
    let len = (hdr.len() + payload.len()) as u32;
    let pseudo = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => sum(&s.octets()) + sum(&d.octets()) + u64::from(PROTO_UDP) + u64::from(len),
        (IpAddr::V6(s), IpAddr::V6(d)) => sum(&s.octets()) + sum(&d.octets()) + u64::from(PROTO_UDP) + u64::from(len),
        _ => 0,
    };
    let c = !fold(pseudo + sum(hdr) + sum(payload));
    if c == 0 {
        0xffff
    } else {
        c
    }
}
