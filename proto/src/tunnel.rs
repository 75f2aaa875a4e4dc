//! TUN forwarding: IPv4-in-IPv4 (protocol 4) and IPv6-in-IPv6 (next header 41)
//! encapsulation in place, using the buffer's headroom.
//!
//! Invariants:
//! - The inner IP packet (from `l3` to `ip_end`) is left byte for byte; Ethernet padding
//!   after it is dropped.
//! - The L2 header (Ethernet + VLAN tags) moves back by the outer header's length and is
//!   otherwise unchanged (its ethertype stays right: the outer header has the inner
//!   packet's family). The caller sets the MACs afterwards.
//! - On error nothing in `buf`, `head` or `len` has changed.

use std::net::IpAddr;

use crate::checksum::ipv4_header_checksum;
use crate::packet::{Packet, RewriteError, PROTO_IPIP, PROTO_IPV6};
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
/// Outer IPv4: TOS and DF copied from the inner header, ID 0 when DF is set else the
/// inner ID, TTL 64, protocol 4. Outer IPv6: traffic class and flow label copied, hop
/// limit 64, next header 41.
pub fn tun_encap(
    buf: &mut [u8],
    head: &mut usize,
    len: &mut usize,
    p: &Packet,
    src: IpAddr,
    dst: IpAddr,
) -> Result<(), RewriteError> {
    let (l2, ip_len) = check_in_place(buf, *head, *len, p)?;
    let need = match (p.is_v6(), src, dst) {
        (false, IpAddr::V4(_), IpAddr::V4(_)) => TUN_V4_OVERHEAD,
        (true, IpAddr::V6(_), IpAddr::V6(_)) => TUN_V6_OVERHEAD,
        _ => return Err(FamilyMismatch),
    };
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
            let df = inner_hdr[6] & 0x40 != 0;
            outer[0] = 0x45;
            outer[1] = inner_hdr[1];
            outer[2..4].copy_from_slice(&((ip_len + 20) as u16).to_be_bytes());
            if df {
                outer[4..6].fill(0);
            } else {
                outer[4..6].copy_from_slice(&inner_hdr[4..6]);
            }
            outer[6] = if df { 0x40 } else { 0 };
            outer[7] = 0;
            outer[8] = TUN_TTL;
            outer[9] = PROTO_IPIP;
            outer[10..12].fill(0);
            outer[12..16].copy_from_slice(&s.octets());
            outer[16..20].copy_from_slice(&d.octets());
            let c = ipv4_header_checksum(&outer[..20]);
            outer[10..12].copy_from_slice(&c.to_be_bytes());
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            outer[0..4].copy_from_slice(&inner_hdr[0..4]);
            outer[4..6].copy_from_slice(&(ip_len as u16).to_be_bytes());
            outer[6] = PROTO_IPV6;
            outer[7] = TUN_TTL;
            outer[8..24].copy_from_slice(&s.octets());
            outer[24..40].copy_from_slice(&d.octets());
        }
        _ => return Err(FamilyMismatch),
    }
    *head = nh;
    *len = l2 + need + ip_len;
    Ok(())
}
