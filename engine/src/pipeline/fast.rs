//! The fast path: a packet of an established, verified connection whose only effect on
//! the connection is its timer, forwarded from the raw header (`xvs_proto::fast`: IPv4
//! without options or IPv6 without extension headers, TCP or UDP) with integer addresses
//! and fixed offsets (NAT, DR; a TUN request is wrapped by the general transmit, `xmit`,
//! after the same connection work).
//!
//! Owns: deciding that a common-case packet changes nothing but the timer, and doing that
//! packet's work. Must not touch: anything the general path would change in other cases
//! (states, counts of active connections, verification, sync, fragments, ICMP).
//!
//! Invariant: a packet it takes leaves the frame, the verdict, the connection and every
//! counter exactly as the general path (`input` -> `forward` -> `xmit`) would; for any
//! other packet it returns `None` having changed nothing, and the general path takes the
//! packet (from the same classification and hash). The engine's tests run both paths on
//! the same traffic and compare (`tests/fast_path.rs`).

use xvs_proto::fast::{FastAddr, Flow};
use xvs_proto::{tcp_flags, PROTO_TCP};

use super::flow::{find_conn, FlowKey};
use super::{xmit, Ctx, Pkt};
use crate::conn::{Conn, FamilyTables, Xmit};
use crate::family::Family;
use crate::port::{PacketBuf, Verdict};
use crate::stats::DropReason;
use crate::store::Expiring;
use crate::tcp_state::TcpState;

/// The flow key of a common-case packet.
#[inline(always)]
pub(super) fn key<A: Copy>(v: &Flow<A>) -> FlowKey<A> {
    FlowKey { proto: v.proto, src: v.src, sport: v.sport, dst: v.dst, dport: v.dport }
}

/// What the fast path did with a packet.
pub(super) enum Fast {
    /// Forwarded, with this verdict.
    Done(Verdict),
    /// Declined, nothing changed; what its lookup found (the connection's handle and
    /// whether the packet is its reply, or `None`: no connection has the packet's key), so
    /// that the general path does not look again.
    Declined(Option<(u32, bool)>),
}

/// Forward common-case packet `v` (frame `f`, flow hash `hash`) if it only re-arms its
/// connection's timer. The frame's parts and port are read only once the packet is taken
/// (fewer values kept across the lookup).
#[inline(always)]
pub(super) fn forward<F: PacketBuf, A: Family + FastAddr>(
    t: &mut FamilyTables<A>,
    cx: &mut Ctx,
    f: &mut F,
    v: &Flow<A>,
    hash: u64,
) -> Fast {
    let Some((ch, reply)) = find_conn(t, cx, hash, &key(v)) else {
        return Fast::Declined(None);
    };
    match decide(t, cx, f, v, ch, reply) {
        Some(verdict) => Fast::Done(verdict),
        None => Fast::Declined(Some((ch, reply))),
    }
}

/// [`forward`] for connection `ch` (`reply`: the packet is its reply): `None` (nothing
/// changed) when the general path must take the packet.
#[inline(always)]
fn decide<F: PacketBuf, A: Family + FastAddr>(
    t: &mut FamilyTables<A>,
    cx: &mut Ctx,
    f: &mut F,
    v: &Flow<A>,
    ch: u32,
    reply: bool,
) -> Option<Verdict> {
    let c = t.conns.get(ch);
    let now = cx.now;
    let old_deadline = c.deadline(now);
    // Expired, unverified, or with a TCP state change (a SYN reusing a closing
    // connection's ports is one): the general path's work.
    if old_deadline <= now || !c.is_verified() {
        return None;
    }
    // The real, borrowed once for its fields and, at the end, its counters.
    let r = &mut cx.services.reals[c.real.index()];
    if !r.available && cx.cfg.expire_nodest_conn {
        return None;
    }
    let timeout = if c.proto == PROTO_TCP {
        // ESTABLISHED with ACK and no SYN, FIN or RST stays ESTABLISHED in each of IPVS's
        // tables (`tcp_state::tests`); any other state or flags may move.
        if c.state != TcpState::Established as u8
            || v.tcp_flags & (tcp_flags::SYN | tcp_flags::FIN | tcp_flags::RST | tcp_flags::ACK) != tcp_flags::ACK
        {
            return None;
        }
        cx.cfg.timeouts.tcp[c.state as usize]
    } else {
        cx.cfg.timeouts.udp
    };
    let xm = c.xmit();
    // Where the packet goes, and its NAT (DR and TUN have none): the new source of a
    // reply, the new destination of a request.
    let (mac, out, nat) = if reply {
        // A NAT reply, back to the client it came from.
        if xm != Xmit::Nat || v.ttl <= 1 || c.client_mac == [0; 6] {
            return None;
        }
        (c.client_mac, c.in_port as u16, Some((c.vip, c.vport)))
    } else {
        // Toward the real: a sync master records requests, a synced connection learns its
        // client's next hop, a too-big one is answered: all general. (A TUN request is
        // wrapped by the general transmit below, which checks the MTU with the tunnel's
        // overhead itself.)
        let mac = r.mac?;
        if cx.sync.master || c.client_mac == [0; 6] || xm != Xmit::Tun && u32::from(v.ip_len) > u32::from(cx.cfg.mtu) {
            return None;
        }
        // The real's address must be of the packet's family, else the general path drops
        // the packet.
        let nat = if xm == Xmit::Nat { Some((A::from_ip(r.addr)?, r.port_for(c.vport))) } else { None };
        (mac, r.egress.unwrap_or_else(|| f.port()), nat)
    };

    // Committed: from here on, what the general path does for this packet.
    let new_deadline = now + u64::from(timeout);
    t.conns.get_mut(ch).deadline = new_deadline as u32;
    if new_deadline < old_deadline {
        t.conns.rearm(ch);
    }
    if xm == Xmit::Tun {
        let c = *t.conns.get(ch);
        let in_port = f.port();
        let (buf, head, len) = f.parts();
        return Some(tun_request(cx, Pkt { buf, head, len, p: v.packet(), in_port, parsed: true }, &c));
    }
    // From the frame's start to the buffer's end: the rewrites and the MACs touch only
    // the fixed-size headers, which the classification found within the frame (its end
    // needs no second check). The classification read the frame here: it cannot fail.
    let (buf, head, _) = f.parts();
    let Some(f) = buf.get_mut(*head..) else {
        return Some(Verdict::Drop(DropReason::RewriteMismatch));
    };
    if let Some((addr, port)) = nat {
        if reply {
            A::nat_reply(f, v, addr, port);
        } else {
            A::nat_request(f, v, addr, port);
        }
    }
    // The MACs as `set_macs` writes them, the arriving destination read in the same
    // 12 bytes (one bounds check for both).
    if let Some(h) = f.first_chunk_mut::<12>() {
        let arrived = [h[0], h[1], h[2], h[3], h[4], h[5]];
        let src = xmit::src_mac(&cx.cfg, out, arrived);
        h[..6].copy_from_slice(&mac);
        h[6..].copy_from_slice(&src);
    }
    // As `xmit::count`, through the real already borrowed.
    r.stats.add_packet(!reply, u64::from(v.ip_len));
    Some(Verdict::Tx { port: out })
}

/// A TUN request, wrapped by the general transmit (out of line: it is not the lean case).
#[inline(never)]
fn tun_request<A: Family>(cx: &mut Ctx, mut pkt: Pkt, c: &Conn<A>) -> Verdict {
    xmit::request_by(cx, &mut pkt, c, Xmit::Tun)
}
