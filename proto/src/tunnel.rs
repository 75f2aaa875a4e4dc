//! TUN forwarding: IP-in-IP encapsulation in place, using the buffer's headroom. The
//! outer header is of the real's family, the inner packet of the client's: IPv4-in-IPv4
//! and IPv6-in-IPv4 (protocol 4 / 41 in an IPv4 header), IPv4-in-IPv6 and IPv6-in-IPv6
//! (next header 4 / 41), as IPVS's tunnels of either family.
//!
//! Invariants:
//! - The inner IP packet (from `l3` to `ip_end`) is left byte for byte; Ethernet padding
//!   after it is dropped.
//! - The L2 header (Ethernet + VLAN tags) moves back by the outer header's length and is
//!   otherwise unchanged but for its last ethertype, which becomes the outer family's.
//!   The caller sets the MACs afterwards.
//! - On error nothing in `buf`, `head` or `len` has changed.

use std::net::IpAddr;

use crate::checksum::ipv4_header_checksum;
use crate::packet::{Packet, RewriteError, PROTO_IPIP, PROTO_IPV6};

/// Ethertypes of the outer header.
const ETH_P_IP: [u8; 2] = [0x08, 0x00];
const ETH_P_IPV6: [u8; 2] = [0x86, 0xdd];
use crate::rewrite::check_in_place;

use RewriteError::{FamilyMismatch, Mismatch};

/// Outer header length for IPv4-in-IPv4.
pub const TUN_V4_OVERHEAD: usize = 20;
/// Outer header length for IPv6-in-IPv6.
pub const TUN_V6_OVERHEAD: usize = 40;
/// TTL / hop limit of the outer header.
pub const TUN_TTL: u8 = 64;

/// Encapsulates the frame `buf[*head..*head + *len]` (classified as `p`) in an outer IP
/// header from `src` to `dst`, moving `*head` back and growing `*len`.
///
/// Outer IPv4: TOS (an IPv6 packet's traffic class) and DF copied from the inner header
/// (an inner IPv6 packet sets DF: it is never fragmented on the way), ID 0 when DF is set
/// else the inner ID, TTL 64, protocol 4 (IPv4 inside) or 41 (IPv6 inside). Outer IPv6:
/// traffic class and flow label copied (an inner IPv4 packet's TOS as the traffic class,
/// flow label 0), hop limit 64, next header 4 or 41.
pub fn tun_encap(
    buf: &mut [u8],
    head: &mut usize,
    len: &mut usize,
    p: &Packet,
    src: IpAddr,
    dst: IpAddr,
) -> Result<(), RewriteError> {
    let (l2, ip_len) = check_in_place(buf, *head, *len, p)?;
    let need = match (src, dst) {
        (IpAddr::V4(_), IpAddr::V4(_)) => TUN_V4_OVERHEAD,
        (IpAddr::V6(_), IpAddr::V6(_)) => TUN_V6_OVERHEAD,
        _ => return Err(FamilyMismatch),
    };
    let inner_v6 = p.is_v6();
    let next = if inner_v6 { PROTO_IPV6 } else { PROTO_IPIP };
    if need == TUN_V4_OVERHEAD && ip_len + need > usize::from(u16::MAX) {
        // The outer total length would not fit 16 bits.
        return Err(Mismatch);
    }
    let h = crate::headroom::ensure(buf, head, len, need)?;
    let inner = h + l2;
    let nh = h - need;
    buf.copy_within(h..inner, nh);
    let (inner_hdr, outer) = {
        let (a, b) = buf.split_at_mut(inner);
        (b, &mut a[nh + l2..])
    };
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let df = inner_v6 || inner_hdr[6] & 0x40 != 0;
            outer[0] = 0x45;
            outer[1] = if inner_v6 { inner_hdr[0] << 4 | inner_hdr[1] >> 4 } else { inner_hdr[1] };
            outer[2..4].copy_from_slice(&((ip_len + 20) as u16).to_be_bytes());
            if df {
                outer[4..6].fill(0);
            } else {
                outer[4..6].copy_from_slice(&inner_hdr[4..6]);
            }
            outer[6] = if df { 0x40 } else { 0 };
            outer[7] = 0;
            outer[8] = TUN_TTL;
            outer[9] = next;
            outer[10..12].fill(0);
            outer[12..16].copy_from_slice(&s.octets());
            outer[16..20].copy_from_slice(&d.octets());
            let c = ipv4_header_checksum(&outer[..20]);
            outer[10..12].copy_from_slice(&c.to_be_bytes());
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            if inner_v6 {
                outer[0..4].copy_from_slice(&inner_hdr[0..4]);
            } else {
                let tos = inner_hdr[1];
                outer[0..4].copy_from_slice(&[0x60 | tos >> 4, tos << 4, 0, 0]);
            }
            outer[4..6].copy_from_slice(&(ip_len as u16).to_be_bytes());
            outer[6] = next;
            outer[7] = TUN_TTL;
            outer[8..24].copy_from_slice(&s.octets());
            outer[24..40].copy_from_slice(&d.octets());
        }
        _ => return Err(FamilyMismatch),
    }
    // The frame's (last) ethertype names the outer family now.
    buf[nh + l2 - 2..nh + l2].copy_from_slice(if need == TUN_V4_OVERHEAD { &ETH_P_IP } else { &ETH_P_IPV6 });
    *head = nh;
    *len = l2 + need + ip_len;
    Ok(())
}
