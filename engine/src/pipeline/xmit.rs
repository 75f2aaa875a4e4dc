//! Transmit: rewrite a packet of a connection for its bound method and address it to the
//! next hop (IPVS's `ip_vs_xmit.c`).
//!
//! Owns: per method toward the real (NAT: addresses and ports; DR: MACs only; TUN: the
//! one tunnel encapsulation), the reply path toward the client (NAT), the egress-MTU check
//! with its ICMP answer, the next-hop and source MACs, and the per-real (so per-service)
//! packet and byte counters. Must not touch: connection state, timers or tables, or the
//! connection counters (`bind`).
//!
//! Invariants:
//! - The method is the connection's (bound at creation, `conn::Xmit`), never re-decided
//!   from the real's current configuration.
//! - Bytes are counted as the IP length of the packet as it arrived (before a tunnel
//!   header), as IPVS counts them.

use std::net::IpAddr;

use xvs_proto::{self as proto, Mac, RewriteError};

use super::{Ctx, Pkt};
use crate::conn::{Conn, Xmit};
use crate::family::Family;
use crate::port::Verdict;
use crate::ratelimit::TokenBucket;
use crate::services::RealSlot;
use crate::spec::EngineConfig;
use crate::stats::{DropReason, EngineStats};

/// A packet from the client toward connection `c`'s real.
#[inline(always)]
pub(super) fn request<A: Family>(cx: &mut Ctx, pkt: &mut Pkt, c: &Conn<A>) -> Verdict {
    request_by(cx, pkt, c, c.xmit())
}

/// [`request`] by `xmit`, which is `c`'s method.
#[inline(always)]
pub(super) fn request_by<A: Family>(cx: &mut Ctx, pkt: &mut Pkt, c: &Conn<A>, xmit: Xmit) -> Verdict {
    let Ctx { cfg, stats, icmp, now, services, .. } = cx;
    let out = Out { cfg, stats, icmp, now: *now };
    request_to(out, pkt, &mut services.reals[c.real.index()], c.vport, xmit)
}

/// What a transmit toward a real needs of the engine's state, borrowed in parts (the fast
/// path holds the reals apart).
pub(super) struct Out<'a> {
    pub cfg: &'a EngineConfig,
    pub stats: &'a mut EngineStats,
    pub icmp: &'a mut TokenBucket,
    pub now: u64,
}

/// A packet from the client to virtual port `vport`, toward real `r` by `xmit` (its
/// connection's method): a caller that knows the method passes it as a constant, and the
/// other methods' code is left out of its own (the fast path's tunnel requests).
#[inline(always)]
pub(super) fn request_to(o: Out, pkt: &mut Pkt, r: &mut RealSlot, vport: u16, xmit: Xmit) -> Verdict {
    let Some(mac) = r.mac else {
        return Verdict::Drop(DropReason::NeighborMiss);
    };
    let (addr, out) = (r.addr, r.egress.unwrap_or(pkt.in_port));
    // The outer header is of the real's family, whatever the client's.
    let overhead = if xmit == Xmit::Tun { r.tunnel.overhead(addr.is_ipv6()) as u32 } else { 0 };
    if let Some(v) = over_mtu(o.cfg, o.stats, o.icmp, o.now, pkt, overhead) {
        return v;
    }
    let res = match xmit {
        Xmit::Nat => nat(pkt, addr, r.port_for(vport), false),
        Xmit::Dr => Ok(()),
        Xmit::Tun => tun_encap(o.cfg, pkt, addr, r.tunnel),
    };
    if let Err(d) = res {
        return Verdict::Drop(d);
    }
    to_real(o.cfg, pkt, r, mac, out)
}

/// Address the rewritten frame to next hop `mac` out of port `out` and count it as a
/// packet in of real `r` (so of its service).
#[inline(always)]
pub(super) fn to_real(cfg: &EngineConfig, pkt: &mut Pkt, r: &mut RealSlot, mac: Mac, out: u16) -> Verdict {
    let src = src_mac(cfg, out, pkt.own_mac());
    proto::set_macs(pkt.frame(), mac, src);
    r.stats.add_packet(true, pkt.p.ip_len as u64);
    Verdict::Tx { port: out }
}

/// A reply from connection `c`'s real toward its client (NAT): the director routes it, so
/// it loses one TTL / hop.
#[inline(always)]
pub(super) fn reply<A: Family>(cx: &mut Ctx, pkt: &mut Pkt, c: &Conn<A>) -> Verdict {
    if pkt.p.ttl <= 1 {
        return Verdict::Drop(DropReason::TtlExpired);
    }
    if let Err(d) = nat(pkt, c.vip.to_ip(), c.vport, true) {
        return Verdict::Drop(d);
    }
    to_client(cx, pkt, c)
}

/// NAT of a request (`to`:`port` the new destination) or a reply (the new source). A
/// frame the fast parser accepted (`Pkt::parsed`: a handshake, a connection's first
/// packet, anything the fast path declined) takes the fixed-offset rewrite at once: the
/// parser checked what `proto::nat_*` would check again, about 80 instructions.
#[inline(always)]
fn nat(pkt: &mut Pkt, to: IpAddr, port: u16, reply: bool) -> Result<(), DropReason> {
    let parsed = pkt.parsed;
    let (frame, p) = pkt.frame_and_packet();
    if parsed && proto::fast::nat_common_case(frame, p, to, port, reply) {
        return Ok(());
    }
    let done = if reply { proto::nat_reply(frame, p, to, port) } else { proto::nat_request(frame, p, to, port) };
    done.map_err(rewrite_drop)
}

/// The one tunnel encapsulation: an outer header from the director's address of `dst`'s
/// family to `dst`, whatever the inner packet's family, then `encap`'s.
#[inline]
pub(super) fn tun_encap(cfg: &EngineConfig, pkt: &mut Pkt, dst: IpAddr, encap: proto::Encap) -> Result<(), DropReason> {
    let src = match dst {
        IpAddr::V4(_) => cfg.address4.map(IpAddr::V4),
        IpAddr::V6(_) => cfg.address6.map(IpAddr::V6),
    };
    let Some(src) = src else {
        return Err(DropReason::NoTunnelSource);
    };
    proto::tun_encap(pkt.buf, pkt.head, pkt.len, pkt.p, src, dst, encap).map_err(rewrite_drop)
}

/// Address the rewritten frame back to `c`'s client (the MAC and port its request came
/// from) and count it as a packet out of `c`'s service and real.
#[inline(always)]
pub(super) fn to_client<A: Family>(cx: &mut Ctx, pkt: &mut Pkt, c: &Conn<A>) -> Verdict {
    let (mac, out) = if c.client_mac != [0; 6] {
        (c.client_mac, c.in_port as u16)
    } else {
        // Installed from sync and no packet from the client yet: route toward it.
        match crate::services::client_hop(&cx.cfg.neighbors, c.cip.to_ip()) {
            Some(n) => (n.mac, n.port.unwrap_or(pkt.in_port)),
            None => return Verdict::Drop(DropReason::NeighborMiss),
        }
    };
    let src = src_mac(&cx.cfg, out, pkt.own_mac());
    proto::set_macs(pkt.frame(), mac, src);
    // In its real's counters (its service's are their sum: `ServiceTable::service_stats`).
    cx.services.reals[c.real.index()].stats.add_packet(false, pkt.p.ip_len as u64);
    Verdict::Tx { port: out }
}

/// `None` when the packet, with `overhead` more bytes, fits the egress MTU. Else what
/// becomes of it: with DF set (always for IPv6), an ICMP "fragmentation needed" / "packet
/// too big" back where it came from, within the ICMP rate limit (else a drop,
/// `icmp_rate_limited`); without DF a drop (xvs does not fragment).
#[inline(always)]
fn over_mtu(
    cfg: &EngineConfig,
    stats: &mut EngineStats,
    icmp: &mut TokenBucket,
    now: u64,
    pkt: &mut Pkt,
    overhead: u32,
) -> Option<Verdict> {
    let mtu = cfg.mtu as u32;
    if pkt.p.ip_len as u32 + overhead <= mtu {
        return None;
    }
    if !(pkt.p.df || pkt.p.is_v6()) {
        return Some(Verdict::Drop(DropReason::MtuExceeded));
    }
    if !icmp.take(now) {
        return Some(Verdict::Drop(DropReason::IcmpRateLimited));
    }
    let inner_mtu = (mtu.saturating_sub(overhead)) as u16;
    Some(match proto::icmp_too_big(pkt.buf, pkt.head, pkt.len, pkt.p, inner_mtu) {
        Ok(()) => {
            stats.icmp_too_big_sent += 1;
            Verdict::Tx { port: pkt.in_port }
        }
        Err(e) => Verdict::Drop(rewrite_drop(e)),
    })
}

/// The director's MAC on `port`, or `arrived` (the arriving frame's destination MAC)
/// when port MACs are not configured.
#[inline]
pub(super) fn src_mac(cfg: &EngineConfig, port: u16, arrived: Mac) -> Mac {
    // Without configured port MACs (replay, tests) the arriving frame's destination
    // is the best knowledge of our own address.
    cfg.port_macs.get(port as usize).copied().unwrap_or(arrived)
}

pub(super) fn rewrite_drop(e: RewriteError) -> DropReason {
    match e {
        RewriteError::NoHeadroom => DropReason::NoHeadroom,
        RewriteError::FamilyMismatch => DropReason::FamilyMismatch,
        RewriteError::Mismatch => DropReason::RewriteMismatch,
    }
}
