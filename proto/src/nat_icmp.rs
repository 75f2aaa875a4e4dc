//! NAT of an ICMP / ICMPv6 error that quotes a tracked connection.
//!
//! Invariants (in addition to those of [`crate::rewrite`]):
//! - Outer addresses change with an incremental IPv4 header checksum update; the quoted
//!   IP header's addresses and the quoted TCP/UDP ports change with an incremental update
//!   of the quoted IPv4 header checksum and of the quoted TCP/UDP checksum when that field
//!   lies inside the quote (a quoted UDP/IPv4 checksum of 0 stays 0).
//! - The ICMP checksum is then recomputed over the whole ICMP message, as IPVS does
//!   (ICMPv6: with the pseudo-header of the rewritten outer addresses), because the
//!   quote may be cut anywhere.

use std::net::IpAddr;

use crate::checksum::{icmp_checksum, l4_checksum_v6, CsumDiff};
use crate::packet::{Packet, RewriteError, PROTO_ICMPV6};
use crate::rewrite::{check, dec_ttl_at, set_addr, set_port, update_ip_csum, update_l4_csum, wr16};

use RewriteError::{FamilyMismatch, Mismatch};

/// Rewrites an ICMP error `p` (which must carry a parsed quote) in place: the outer
/// source / destination when given, the quoted source / destination address and port when
/// given, the TTL when `dec_ttl` (the director routes the error), and every checksum.
pub fn nat_icmp(
    frame: &mut [u8],
    p: &Packet,
    outer_src: Option<IpAddr>,
    outer_dst: Option<IpAddr>,
    inner_src: Option<(IpAddr, u16)>,
    inner_dst: Option<(IpAddr, u16)>,
    dec_ttl: bool,
) -> Result<(), RewriteError> {
    check(frame, p)?;
    let v6 = p.is_v6();
    let fam_ok = |a: IpAddr| a.is_ipv6() == v6;
    let addrs = [outer_src, outer_dst, inner_src.map(|x| x.0), inner_dst.map(|x| x.0)];
    if !addrs.iter().flatten().all(|&a| fam_ok(a)) {
        return Err(FamilyMismatch);
    }
    let q = p.icmp.and_then(|i| i.quoted).ok_or(Mismatch)?;
    let (l3, l4, end) = (usize::from(p.l3), usize::from(p.l4), p.ip_end());
    let (ql3, ql4) = (usize::from(q.l3), usize::from(q.l4));
    if q.src.is_ipv6() != v6 || l4 + 8 > end || ql3 < l4 + 8 || ql4 < ql3 + if v6 { 40 } else { 20 } || ql4 + 8 > end {
        return Err(Mismatch);
    }
    let (src_at, dst_at) = if v6 { (8, 24) } else { (12, 16) };

    // Outer header.
    let mut ip = CsumDiff::default();
    if let Some(a) = outer_src {
        set_addr(frame, l3 + src_at, a, &mut ip)?;
    }
    if let Some(a) = outer_dst {
        set_addr(frame, l3 + dst_at, a, &mut ip)?;
    }
    if dec_ttl {
        dec_ttl_at(frame, l3, v6, &mut ip)?;
    }
    update_ip_csum(frame, l3, v6, ip)?;

    // Quoted header.
    let mut qip = CsumDiff::default();
    let mut ports = CsumDiff::default();
    if let Some((a, port)) = inner_src {
        set_addr(frame, ql3 + src_at, a, &mut qip)?;
        set_port(frame, ql4, port, &mut ports)?;
    }
    if let Some((a, port)) = inner_dst {
        set_addr(frame, ql3 + dst_at, a, &mut qip)?;
        set_port(frame, ql4 + 2, port, &mut ports)?;
    }
    update_ip_csum(frame, ql3, v6, qip)?;
    let mut ql4d = qip;
    ql4d.merge(ports);
    update_l4_csum(frame, q.proto, v6, ql4, end, ql4d)?;

    // ICMP checksum over the whole message.
    let msg = frame.get(l4..end).ok_or(Mismatch)?;
    let c = if v6 {
        let s = frame.get(l3 + 8..l3 + 24).ok_or(Mismatch)?;
        let d = frame.get(l3 + 24..l3 + 40).ok_or(Mismatch)?;
        let s: [u8; 16] = s.try_into().map_err(|_| Mismatch)?;
        let d: [u8; 16] = d.try_into().map_err(|_| Mismatch)?;
        l4_checksum_v6(s.into(), d.into(), PROTO_ICMPV6, msg)
    } else {
        icmp_checksum(msg)
    };
    wr16(frame, l4 + 2, c)
}
